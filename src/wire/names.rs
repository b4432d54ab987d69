//! The rules for file names and types: the one check every name passes
//! before it is shared, searched, sent, received or joined to a path.
//!
//! A name must survive being written in a record and read back, must name
//! a file directly in the served folder (never a path), and must not look
//! like another name: characters that are invisible, that turn the text
//! around them right to left, or that look like `/` are refused, each with
//! its reason.
//!
//! The names never shared, and refused in every message and from every user:
//! - a name that cannot be written in a record: it holds `<`, `>`, `,`, a
//!   control character, or starts or ends with a space (the peer prints a
//!   warning naming the file);
//! - names starting with `.` (hidden files, and our temporary files) and
//!   names with a path (`/`, `\`);
//! - a name with a character that turns the text around it right to left
//!   (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F), an invisible one
//!   (U+200B–U+200D, U+2060, U+FEFF, and the other Unicode "format"
//!   characters, such as the soft hyphen U+00AD), or a lookalike of `/` or
//!   `\` (the fullwidth solidus `／`, the division slash `∕`, the fraction
//!   slash `⁄`, ...).
//!
//! The reason names the character: `the name holds U+202E, a character that
//! changes the direction of the text around it: a name must look like what it
//! is`. The same check serves a `SEARCH:`, a record, a `DOWNLOAD:`, an
//! `UPLOAD:` and every name a user types.

use crate::wire::protocol::Invalid;
use crate::wire::text::is_format;
use std::path::Path;

/// The longest file name (in bytes) the protocol accepts, as most file
/// systems do.
pub const MAX_NAME_LEN: usize = 255;

/// The type given to a file whose name has no extension (`README`).
pub const NO_EXTENSION_TYPE: &str = "none";

/// Characters that look like `/` or `\` in most fonts: `a／b` would read
/// as a path to whoever sees the name, though it is none.
const SLASH_LOOKALIKES: [char; 9] = [
    '\u{2044}', // fraction slash
    '\u{2215}', // division slash
    '\u{2216}', // set minus
    '\u{2571}', // box drawings light diagonal
    '\u{29F8}', // big solidus
    '\u{29F9}', // big reverse solidus
    '\u{FE68}', // small reverse solidus
    '\u{FF0F}', // fullwidth solidus
    '\u{FF3C}', // fullwidth reverse solidus
];

/// Checks that `name` can be shared: it can be written inside a record, it
/// names a file directly in the served folder, never a path, and it does
/// not pass for another name.
///
/// The same rule serves the peer that lists its folder, the tracker that
/// reads records and the peer that answers `DOWNLOAD`/`UPLOAD`, so a name
/// that passes here is safe to join to the served folder's path.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid("the name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Invalid(format!(
            "the name is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    // Any kind of space, not only ' ': readers trim every kind of white
    // space around a field, and the name must read back the same.
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(Invalid("the name starts or ends with a space".into()));
    }
    if name
        .chars()
        .any(|c| matches!(c, '<' | '>' | ',') || c.is_control())
    {
        return Err(Invalid(
            "the name holds '<', '>', ',' or a control character".into(),
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(Invalid("the name holds a path separator".into()));
    }
    check_deception(name)?;
    // This also refuses "." and "..", and keeps temporary files private.
    if name.starts_with('.') {
        return Err(Invalid(
            "the name starts with '.' (hidden files are not shared)".into(),
        ));
    }
    Ok(())
}

/// Refuses the characters that make a name look like another one.
fn check_deception(name: &str) -> Result<(), Invalid> {
    for c in name.chars() {
        let code = c as u32;
        let why = match c {
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => {
                "a character that changes the direction of the text around it"
            }
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {
                "an invisible (zero-width) character"
            }
            c if is_format(c) => "an invisible formatting character",
            c if SLASH_LOOKALIKES.contains(&c) => "a character that looks like '/' or '\\'",
            _ => continue,
        };
        return Err(Invalid(format!(
            "the name holds U+{code:04X}, {why}: a name must look like what it is"
        )));
    }
    Ok(())
}

/// The type field for a file name: its extension without the dot, or
/// [`NO_EXTENSION_TYPE`] when it has none, or one that cannot stand in a
/// record (`notes. txt` would be read back as `txt`).
pub fn type_of(name: &str) -> String {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(extension) if check_file_type(extension).is_ok() => extension.to_string(),
        _ => NO_EXTENSION_TYPE.to_string(),
    }
}

/// A type field follows the rules of a name (it must survive being written
/// in a record and read back), and may not be empty.
pub(crate) fn check_file_type(file_type: &str) -> Result<(), Invalid> {
    if file_type.is_empty() || file_type.len() > MAX_NAME_LEN {
        return Err(Invalid("the type is empty or too long".into()));
    }
    if file_type.starts_with(char::is_whitespace) || file_type.ends_with(char::is_whitespace) {
        return Err(Invalid("the type starts or ends with a space".into()));
    }
    if file_type
        .chars()
        .any(|c| matches!(c, '<' | '>' | ',') || c.is_control())
    {
        return Err(Invalid(
            "the type holds '<', '>', ',' or a control character".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_name, type_of, MAX_NAME_LEN};

    #[test]
    fn types_come_from_the_extension() {
        assert_eq!(type_of("notes.txt"), "txt");
        assert_eq!(type_of("archive.tar.gz"), "gz");
        assert_eq!(type_of("README"), "none");
        assert_eq!(type_of("odd."), "none");
        assert_eq!(type_of("holiday.old copy"), "old copy");
        assert_eq!(type_of("spaced. txt"), "none");
    }

    #[test]
    fn names_that_cannot_be_shared_are_refused() {
        for bad in [
            "",
            " a",
            "a ",
            "a<b",
            "a>b",
            "a,b",
            "a\tb",
            "a\u{7f}b",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".",
            "..",
            ".hidden",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        for good in [
            "notes.txt",
            "my notes.txt",
            "ünïcode.txt",
            "README",
            "a.b.c",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn names_that_pass_for_other_names_are_refused_with_the_reason() {
        let cases = [
            ("evil\u{202E}txt.exe", "direction"),
            ("a\u{2067}b.txt", "direction"),
            ("zero\u{200B}width.txt", "zero-width"),
            ("\u{FEFF}bom.txt", "zero-width"),
            ("join\u{2060}er.txt", "zero-width"),
            ("soft\u{00AD}hyphen.txt", "formatting"),
            ("tag\u{E0041}.txt", "formatting"),
            ("a\u{FF0F}b.txt", "looks like '/'"),
            ("a\u{2215}b.txt", "looks like '/'"),
            ("a\u{FF3C}b.txt", "looks like '/'"),
        ];
        for (name, why) in cases {
            let reason = check_name(name).unwrap_err().0;
            assert!(reason.contains(why), "{name:?}: {reason}");
            assert!(reason.contains("U+"), "{name:?}: {reason}");
        }
        // Letters of other scripts and emoji are names like any other.
        for good in ["Ünïcode.txt", "日本語.txt", "ملف.txt", "🙂.png"] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }
}
