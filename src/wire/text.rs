//! Text that came from another node, made safe to show: escaped and cut.
//!
//! Whatever another node sends may end up in a log line, an error the user
//! reads, or the web page. Two things can go wrong there:
//! - bytes that are not text (a Java program's serialized object, `\xac\xed
//!   \x00\x05`), or characters that change how a terminal shows the rest
//!   (escape sequences, right-to-left overrides), would garble the line or
//!   hide what really came;
//! - a reply line may be 16 MiB long, and keeping or printing all of it
//!   costs memory and floods the terminal.
//!
//! So every such text is shown through [`shown`] (a line as it is, when it
//! is plain text, else in quotes with escapes) or [`quoted`] (always in
//! quotes), and both keep at most [`QUOTE_MAX`] bytes of it, saying how
//! much more there was: `… and 14,999,800 more bytes`. These are pure
//! functions, tested here.
//!
//! # What the programs say about a line that breaks the protocol's rules
//!
//! The log and `--trace` tell a student what their program really sent:
//! - a line that never gets its `\n` is quoted when time runs out:
//!   `refused 127.0.0.1:40768: no HELLO: reading from 127.0.0.1:40768: got
//!   "SEARCH: logo.png" with no line end, then nothing for 10 s: every
//!   message ends with \n`. One answered after a close says so in its trace
//!   (`<- SEARCH: logo.png (with no line end, then the other end closed its
//!   side: ...)`). If the sender had closed the whole connection, not only
//!   its side, the answer is traced as not sent (`-> (failed: the line above
//!   was not sent: ...)`);
//! - bytes that are not text, and characters that would change how a
//!   terminal shows the rest (escape sequences, a right-to-left override),
//!   are shown escaped, in quotes: `<- "\xac\xed\x00\x05t\x00\x05HELLO"`;
//! - a file body's trace comes after the body and says what came:
//!   `<- FILE: (986 bytes in 10 chunks of 100)`, or `<- FILE: (10 of 300
//!   bytes: ...)` when it broke off, and `(then 7 bytes more than the file's
//!   size)` when it ran over;
//! - another node's words are quoted at most 300 bytes long wherever they
//!   are printed or kept (errors, log lines, the web page's backlog and event
//!   stream), followed by how much was cut: `refused: xxxx… and 14,999,700
//!   more bytes`. A trace line shows at most 600 bytes of a line, an event at
//!   most 1000.

use std::borrow::Cow;
use std::fmt::Write;

/// The most bytes of another node's text that a message quotes: enough to
/// recognise a line, short enough to keep a log line on a screen.
pub const QUOTE_MAX: usize = 300;

/// Whether `c` is shown as it is. Control characters, and the invisible
/// format characters (a right-to-left override, a zero-width space) that
/// change how the characters around them are shown, are escaped instead.
fn is_plain(c: char) -> bool {
    !c.is_control() && !is_format(c)
}

/// The invisible characters that change how text around them looks: the
/// Unicode "format" characters a name may not hold either (see
/// [`crate::wire::names`]).
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}'
    )
}

/// A line from the wire as a log shows it: as it is when it is plain text
/// and short, else in quotes with escapes, and cut after [`QUOTE_MAX`]
/// bytes.
pub fn shown(bytes: &[u8]) -> Cow<'_, str> {
    shown_within(bytes, QUOTE_MAX)
}

/// [`shown`] with a limit of `max` bytes (a trace line keeps more).
pub fn shown_within(bytes: &[u8], max: usize) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= max && text.chars().all(is_plain) => Cow::Borrowed(text),
        _ => Cow::Owned(quoted_within(bytes, max)),
    }
}

/// Bytes from the wire in double quotes, escaped as Rust writes them
/// (`"\xac\xed\x00\x05"`, `"\u{202e}"`), cut after [`QUOTE_MAX`] bytes.
pub fn quoted(bytes: &[u8]) -> String {
    quoted_within(bytes, QUOTE_MAX)
}

/// [`quoted`] with a limit of `max` bytes.
pub fn quoted_within(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max) + 2);
    out.push('"');
    // How many bytes of the input the quote shows. The limit counts what
    // is written, escapes included: `\x00` takes four bytes of it.
    let mut shown = 0;
    'quote: for piece in bytes.utf8_chunks() {
        for c in piece.valid().chars() {
            if out.len() > max {
                break 'quote;
            }
            escape_char(&mut out, c);
            shown += c.len_utf8();
        }
        for byte in piece.invalid() {
            if out.len() > max {
                break 'quote;
            }
            let _ = write!(out, "\\x{byte:02x}");
            shown += 1;
        }
    }
    out.push('"');
    out.push_str(&cut_note(bytes.len() - shown));
    out
}

/// Writes `c` into `out`, escaped unless it is plain.
fn escape_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_plain(c) => out.push(c),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Another node's text, as part of one of our messages: escaped where it
/// is not plain, and cut after [`QUOTE_MAX`] bytes. Unlike [`shown`], plain
/// text gets no quotes, so `refused: no such file` reads as before.
pub fn within_bounds(text: &str) -> Cow<'_, str> {
    within(text, QUOTE_MAX)
}

/// [`within_bounds`] with a limit of `max` bytes.
pub fn within(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max && text.chars().all(is_plain) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max) + 40);
    let mut shown = 0;
    for c in text.chars() {
        if out.len() >= max {
            break;
        }
        match c {
            // No quotes around this text: these need no escape.
            '\\' | '"' => out.push(c),
            c => escape_char(&mut out, c),
        }
        shown += c.len_utf8();
    }
    out.push_str(&cut_note(text.len() - shown));
    Cow::Owned(out)
}

/// ` … and 14,999,800 more bytes`, or nothing when nothing was cut.
fn cut_note(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => "… and 1 more byte".to_string(),
        more => format!("… and {} more bytes", thousands(more)),
    }
}

/// `14999800` as `14,999,800`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{quoted, quoted_within, shown, thousands, within, within_bounds, QUOTE_MAX};
    use std::borrow::Cow;

    #[test]
    fn plain_text_is_shown_as_it_is() {
        assert_eq!(shown(b"SEARCH: logo.png"), "SEARCH: logo.png");
        assert_eq!(
            shown("FOUND: <txt, 3, 01/01/24, 127.0.0.1, 9>".as_bytes()),
            "FOUND: <txt, 3, 01/01/24, 127.0.0.1, 9>"
        );
        assert_eq!(shown("café \\ ok".as_bytes()), "café \\ ok");
        assert!(matches!(shown(b"HI"), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_that_are_not_text_are_escaped_in_quotes() {
        assert_eq!(shown(b"\xac\xed\x00\x05"), r#""\xac\xed\x00\x05""#);
        assert_eq!(shown(b"\x1b[31mred"), r#""\x1b[31mred""#);
        assert_eq!(shown(b"a\tb\r"), r#""a\tb\r""#);
        assert_eq!(
            shown("evil\u{202e}txt.exe".as_bytes()),
            r#""evil\u{202e}txt.exe""#
        );
        assert_eq!(quoted(b"say \"hi\" \\"), r#""say \"hi\" \\""#);
    }

    #[test]
    fn long_texts_are_cut_and_say_how_much() {
        let long = vec![b'x'; 15_000_000];
        let shown = shown(&long);
        assert!(shown.len() < QUOTE_MAX + 40, "{}", shown.len());
        assert!(shown.ends_with("\"… and 14,999,700 more bytes"), "{shown}");
        let text = "é".repeat(QUOTE_MAX);
        let within = within_bounds(&text);
        assert!(within.starts_with("éé"));
        assert!(within.ends_with(&format!("… and {} more bytes", thousands(QUOTE_MAX))));
        assert_eq!(within_bounds("no such file"), "no such file");
        assert_eq!(within_bounds("a\x07b"), "a\\x07b");
    }

    #[test]
    fn the_limit_counts_the_escapes() {
        assert_eq!(
            quoted_within(b"\0\0\0\0", 8),
            r#""\x00\x00"… and 2 more bytes"#
        );
        assert_eq!(within("a\x07b\x07c", 5), r"a\x07… and 3 more bytes");
        assert_eq!(within(r#"say "x" \ "#, 100), r#"say "x" \ "#);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(14_999_800), "14,999,800");
    }
}
