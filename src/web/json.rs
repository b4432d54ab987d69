//! Writing JSON, the format the pages' scripts read: just enough of it.
//!
//! Every value the pages get is built with `format!` and these helpers;
//! the one thing that needs care is a string, which must be quoted and
//! escaped so that no file name can break the document.

use std::fmt::Write;

/// `text` as a JSON string, quotes included.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and `<` so that no text can close a
            // <script> element should the JSON ever be put in one.
            c if (c as u32) < 0x20 || c == '<' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of the already-written `items`.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// A JSON array of strings.
pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    array(items.into_iter().map(string))
}

#[cfg(test)]
mod tests {
    use super::{array, string, strings};

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a \"b\" \\ c\n"), r#""a \"b\" \\ c\n""#);
        assert_eq!(string("</script>\u{1}"), r#""\u003c/script>\u0001""#);
        assert_eq!(strings(["x", "y"]), r#"["x","y"]"#);
        assert_eq!(array(Vec::new()), "[]");
    }
}
