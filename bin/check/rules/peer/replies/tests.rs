//! The judgment of replies, byte for byte.

use super::{judge_error, judge_file};
use crate::probe::{End, Received};
use std::time::Duration;

fn got(bytes: &[u8], end: End) -> Received {
    Received {
        bytes: bytes.to_vec(),
        end,
    }
}

const OPEN: End = End::Open(Duration::from_millis(100));

/// Each reply, ending so, is judged wrong, and the reason says `why`.
fn assert_refused(cases: &[(&[u8], End, &str)], judge: impl Fn(&Received) -> Result<(), String>) {
    for &(reply, end, why) in cases {
        let judged = judge(&got(reply, end));
        assert!(
            judged.as_ref().is_err_and(|e| e.contains(why)),
            "{reply:?}: {judged:?}"
        );
    }
}

#[test]
fn a_file_reply_is_judged_byte_for_byte() {
    let file = b"hello world";
    assert_eq!(
        judge_file(&got(b"FILE: hello world", End::Closed), file),
        Ok(())
    );
    let wrong = [
        (&b"FILE:hello world"[..], End::Closed, "one space"),
        (b"FILE: \nhello world", End::Closed, "came between"),
        (b"FILE: \r\nhello world", End::Closed, "came between"),
        (b"FILE: hello worl", End::Closed, "1 byte short"),
        (b"FILE: hello world!", End::Closed, "1 byte too many"),
        (b"FILE: hello world", OPEN, "must close"),
        (b"FILE: jello world", End::Closed, "byte 0"),
        (b"ERROR: no\n", End::Closed, "answered \"ERROR: no\""),
        (b"", End::Closed, "nothing came"),
        (b"FILE: \n", End::Closed, "then 0 of the file's 11 bytes"),
        (b"FILE: \nhello world", End::Closed, "then the whole file"),
    ];
    assert_refused(&wrong, |received| judge_file(received, file));
}

#[test]
fn an_error_reply_is_one_line_then_the_close() {
    assert_eq!(judge_error(&got(b"ERROR: no\n", End::Closed)), Ok(()));
    assert_eq!(judge_error(&got(b"ERROR: no\r\n", End::Reset)), Ok(()));
    let wrong = [
        (&b""[..], End::Closed, "without a word"),
        (b"", OPEN, "no answer"),
        (b"ERROR: no", End::Closed, "no line end"),
        (b"ERROR: no\n", OPEN, "must close"),
        (b"ERROR: no\nFILE: x", End::Closed, "after the ERROR: line"),
        (b"FILE: x", End::Closed, "sent FILE:"),
        (b"NO\n", End::Closed, "expected ERROR:"),
    ];
    assert_refused(&wrong, judge_error);
}

#[test]
fn bytes_re_encoded_as_text_are_named() {
    let file = [b'a', 0xe9, 0x80, b'z'];
    let latin1 = [&b"FILE: "[..], "a\u{e9}\u{80}z".as_bytes()].concat();
    let why = judge_file(&got(&latin1, End::Closed), &file).unwrap_err();
    assert!(
        why.contains("re-encoded") && why.contains("2 bytes"),
        "{why}"
    );
    let after_newline = [&b"FILE: \n"[..], "a\u{e9}\u{80}z".as_bytes()].concat();
    let why = judge_file(&got(&after_newline, End::Closed), &file).unwrap_err();
    assert!(
        why.contains("came between") && why.contains("re-encoded"),
        "{why}"
    );
    let lossy = [&b"FILE: "[..], String::from_utf8_lossy(&file).as_bytes()].concat();
    let why = judge_file(&got(&lossy, End::Closed), &file).unwrap_err();
    assert!(why.contains("U+FFFD"), "{why}");
}
