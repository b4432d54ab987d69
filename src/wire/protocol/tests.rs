//! The tests of the protocol's parse and format.

use super::{ChunkRange, DownloadRequest, FileRecord, FileSpec, Message};
use crate::wire::date::Date;
use crate::wire::names::type_of;
use crate::wire::sha256;
use std::net::IpAddr;

fn record(name: &str, port: u16) -> FileRecord {
    FileRecord {
        name: name.to_string(),
        file_type: type_of(name),
        size: 1234,
        modified: Date::new(21, 11, 26).unwrap(),
        ip: "127.0.0.1".parse().unwrap(),
        port,
    }
}

pub(crate) fn every_kind_of_message() -> Vec<Message> {
    let file = FileSpec {
        name: "my notes.txt".into(),
        file_type: "txt".into(),
        size: 1234,
    };
    vec![
        Message::Hello,
        Message::Hi,
        Message::Records(vec![record("notes.txt", 5001), record("cat.jpg", 5001)]),
        Message::Search("notes.txt".into()),
        Message::Found(vec![
            record("a.txt", 5001).location(),
            record("a.txt", 5002).location(),
        ]),
        Message::NotFound,
        Message::Bye,
        Message::Error("no such file".into()),
        Message::Download(DownloadRequest {
            file: file.clone(),
            range: None,
        }),
        Message::Download(DownloadRequest {
            file: file.clone(),
            range: Some(ChunkRange { first: 3, count: 5 }),
        }),
        Message::List,
        Message::Files(vec![]),
        Message::Files(vec![record("README", 5003)]),
        Message::Upload(file),
        Message::Ready,
        Message::Done,
        Message::Ping,
        Message::Pong,
        Message::Hash(DownloadRequest {
            file: record("notes.txt", 1).spec(),
            range: None,
        }),
        Message::Hash(DownloadRequest {
            file: record("notes.txt", 1).spec(),
            range: Some(ChunkRange { first: 0, count: 7 }),
        }),
        Message::Hashed(sha256::digest(b"abc")),
        Message::Find(vec!["notes".into(), "TXT".into()]),
    ]
}

#[test]
fn hash_and_find_are_written_as_the_protocol_section_says() {
    let request = DownloadRequest {
        file: record("a b.txt", 1).spec(),
        range: Some(ChunkRange { first: 2, count: 3 }),
    };
    assert_eq!(
        Message::Hash(request).format(),
        "HASH: a b.txt, txt, 1234, 2, 3"
    );
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(
        Message::parse(&format!("HASH: {}", abc.to_uppercase())),
        Ok(Message::Hashed(sha256::digest(b"abc")))
    );
    assert_eq!(
        Message::Hashed(sha256::digest(b"abc")).format(),
        format!("HASH: {abc}")
    );
    assert_eq!(
        Message::parse("FIND:  Notes   txt "),
        Ok(Message::Find(vec!["Notes".into(), "txt".into()]))
    );
    for (line, words) in [
        ("HASH: abc", "expected 64 hex digits"),
        ("HASH: a.txt, txt", "expected `name, type, size`"),
        ("HASH: a.txt, txt, 5, 1, 0", "bad HASH: chunk count is 0"),
        ("HASH a.txt, txt, 5", "a colon must follow HASH"),
        ("FIND:   ", "no words"),
        ("FIND notes", "a colon must follow FIND"),
    ] {
        let error = Message::parse(line).unwrap_err().to_string();
        assert!(error.contains(words), "{line:?}: {error}");
    }
}

#[test]
fn every_message_round_trips() {
    for message in every_kind_of_message() {
        let line = message.format();
        assert_eq!(Message::parse(&line), Ok(message.clone()), "line {line:?}");
        assert!(!line.contains('\n'));
    }
}

#[test]
fn lines_are_written_exactly_as_the_protocol_says() {
    let records = Message::Records(vec![record("notes.txt", 5001), record("cat.jpg", 5001)]);
    assert_eq!(
        records.format(),
        "<notes.txt, txt, 1234, 21/11/26, 127.0.0.1, 5001> <cat.jpg, jpg, 1234, 21/11/26, 127.0.0.1, 5001>"
    );
    let found = Message::Found(vec![record("x.txt", 5002).location()]);
    assert_eq!(
        found.format(),
        "FOUND: <txt, 1234, 21/11/26, 127.0.0.1, 5002>"
    );
    assert_eq!(Message::Files(vec![]).format(), "FILES:");
    assert_eq!(
        Message::Search("a b.txt".into()).format(),
        "SEARCH: a b.txt"
    );
}

#[test]
fn a_known_keyword_written_wrong_says_what_is_wrong() {
    for (line, words) in [
        ("SEARCH notes.txt", "a colon must follow SEARCH"),
        ("DOWNLOAD a.txt, txt, 5", "a colon must follow DOWNLOAD"),
        ("LIST extra", "LIST stands alone on its line"),
        ("BYE now", "BYE stands alone on its line"),
        ("NOT FOUND at all", "NOT FOUND stands alone"),
        ("HIGHWAY", "unknown command \"HIGHWAY\""),
        // Keywords in the wrong case: the hint says they are upper case.
        (
            "download: a.txt, txt, 5",
            "keywords are upper case: write `DOWNLOAD: ...`",
        ),
        (
            "Search: notes.txt",
            "keywords are upper case: write `SEARCH: ...`",
        ),
        ("hello", "keywords are upper case: write `HELLO`"),
        ("not found", "keywords are upper case: write `NOT FOUND`"),
        ("highway", "unknown command \"highway\""),
        (
            "DOWNLOAD: a.txt, txt, 99999999999999999999",
            "size \"99999999999999999999\" is too large",
        ),
        ("DOWNLOAD: a.txt, txt, 5x", "size \"5x\" is not a number"),
    ] {
        let error = Message::parse(line).unwrap_err().to_string();
        assert!(error.contains(words), "{line:?}: {error}");
    }
}

#[test]
fn readers_are_lenient_about_spaces() {
    let tight = "<a.txt,txt,5,01/01/26,127.0.0.1,5001><b,none,0,02/02/26,::1,9>";
    let Ok(Message::Records(records)) = Message::parse(tight) else {
        panic!("should parse")
    };
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].ip, "::1".parse::<IpAddr>().unwrap());
    let loose =
        "  <  a.txt , txt , 5 , 01/01/26 , 127.0.0.1 , 5001 >\t <b, none, 0, 02/02/26, ::1, 9>  \r";
    assert_eq!(Message::parse(loose), Ok(Message::Records(records)));
    assert_eq!(
        Message::parse("SEARCH:notes.txt"),
        Ok(Message::Search("notes.txt".into()))
    );
    assert_eq!(Message::parse("HELLO\r"), Ok(Message::Hello));
}

#[test]
fn every_kind_of_bad_line_is_an_error() {
    let bad_lines = [
        "",
        "   ",
        "HELLO THERE",
        "hello",
        "WHAT",
        "SEARCH:",
        "SEARCH: ../etc/passwd",
        "FOUND:",
        "FOUND: nonsense",
        "DOWNLOAD:",
        "DOWNLOAD: a.txt, txt",
        "DOWNLOAD: a.txt, txt, x",
        "DOWNLOAD: a.txt, txt, -1",
        "DOWNLOAD: a.txt, txt, +1",
        "DOWNLOAD: a.txt, txt, 99999999999999999999999",
        "DOWNLOAD: a.txt, txt, 5, 1",
        "DOWNLOAD: a.txt, txt, 5, 1, 0",
        "DOWNLOAD: a.txt, txt, 5, x, 1",
        "DOWNLOAD: a/b.txt, txt, 5",
        "DOWNLOAD: a.txt, , 5",
        "UPLOAD: a.txt, txt",
        "UPLOAD: ../a.txt, txt, 5",
        "FILES: <a.txt>",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1>",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001, extra>",
        "<a.txt, txt, five, 01/01/26, 127.0.0.1, 5001>",
        "<a.txt, txt, 5, 32/01/26, 127.0.0.1, 5001>",
        "<a.txt, txt, 5, 01/01/26, 999.0.0.1, 5001>",
        "<a.txt, txt, 5, 01/01/26, localhost, 5001>",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 0>",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 65536>",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001",
        "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001> junk",
        "<, txt, 5, 01/01/26, 127.0.0.1, 5001>",
    ];
    for line in bad_lines {
        assert!(Message::parse(line).is_err(), "{line:?} should not parse");
    }
}

#[test]
fn errors_say_what_was_wrong() {
    let error = Message::parse("<a.txt, txt, 5, 01/01/26, 127.0.0.1, 0>").unwrap_err();
    assert!(error.to_string().contains("port"), "{error}");
    let error = Message::parse("FETCH: x").unwrap_err();
    assert_eq!(error.to_string(), "unknown command \"FETCH:\"");
}

#[test]
fn chunk_ranges_cover_the_right_bytes() {
    let range = |first, count| ChunkRange { first, count };
    assert_eq!(range(0, 1).byte_range(1234), Some((0, 100)));
    assert_eq!(range(3, 5).byte_range(1234), Some((300, 500)));
    assert_eq!(
        range(10, 5).byte_range(1234),
        Some((1000, 234)),
        "clipped at the end"
    );
    assert_eq!(range(12, 1).byte_range(1234), Some((1200, 34)));
    assert_eq!(range(13, 1).byte_range(1234), None, "past the end");
    assert_eq!(range(0, 1).byte_range(0), None);
    assert_eq!(
        range(u64::MAX, u64::MAX).byte_range(u64::MAX),
        None,
        "no overflow"
    );
    assert_eq!(range(1, u64::MAX).byte_range(1000), Some((100, 900)));
}

#[test]
fn huge_sizes_parse_as_numbers_not_allocations() {
    let line = "DOWNLOAD: a.txt, txt, 1000000000000000000";
    let Ok(Message::Download(request)) = Message::parse(line) else {
        panic!("should parse")
    };
    assert_eq!(request.file.size, 1_000_000_000_000_000_000);
}
