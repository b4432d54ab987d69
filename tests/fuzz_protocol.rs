//! Fuzz tests of the pure parsers (promise 3 of the README's guarantees: "no crash on any
//! input"): `Message::parse`, `Message::parse_bytes`, `Message::format`,
//! `Settings::parse`, `Date::parse` and `ChunkRange::byte_range`.
//!
//! Every input comes from a small seeded generator (xorshift64*, std only;
//! `Rng` in `tests/common/mod.rs`), so a failure can be replayed exactly:
//!
//! ```text
//! P2P_FUZZ_SEED=12345 cargo test --test fuzz_protocol     # another seed (decimal or 0x hex)
//! P2P_FUZZ_CASES=200000 cargo test --test fuzz_protocol   # more cases per test
//! ```
//!
//! Each test prints its seed, and every failure message names the seed and
//! the exact input. The default seed is fixed, so CI runs the same cases
//! every time.
//!
//! What is checked, for every input:
//! - no parser panics;
//! - a line that parses formats back to a line that parses to an equal
//!   message (and formatting again gives the same text);
//! - a line without a line break formats to a line without one, and every
//!   parse error's text fits on one line (servers send it as `ERROR: ...`).

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::{fuzz_seed, Rng, PROTOCOL_WORDS};
use p2p_share::settings::Settings;
use p2p_share::wire::date::Date;
use p2p_share::wire::messages::{PeerReply, PeerRequest, TrackerReply, TrackerRequest, Wire};
use p2p_share::wire::protocol::{
    check_name, type_of, ChunkRange, DownloadRequest, FileRecord, FileSpec, Location, Message,
    CHUNK_SIZE, MAX_NAME_LEN,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

// ---------------------------------------------------------------------------
// The run: seed and cases
// ---------------------------------------------------------------------------

/// Cases per test when `P2P_FUZZ_CASES` is not set: about two seconds for
/// the whole file in a debug build.
const DEFAULT_CASES: usize = 50_000;

/// Cases per test: `P2P_FUZZ_CASES`.
fn cases() -> usize {
    match std::env::var("P2P_FUZZ_CASES") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("P2P_FUZZ_CASES={text:?} is not a number")),
        Err(_) => DEFAULT_CASES,
    }
}

/// Each test gets its own stream, derived from the run's seed and the
/// test's name, and says which seed to replay it with.
fn start(test: &str) -> (Rng, u64, usize) {
    let seed = fuzz_seed();
    let cases = cases();
    println!(
        "{test}: seed {seed} (0x{seed:x}), {cases} cases; replay with P2P_FUZZ_SEED={seed} cargo test --test fuzz_protocol {test}"
    );
    let salt = test
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (Rng::new(seed ^ salt), seed, cases)
}

// ---------------------------------------------------------------------------
// Pieces of the protocol, valid and not
// ---------------------------------------------------------------------------

/// Keywords typed wrong, beside the protocol's own.
const MISTYPED_KEYWORDS: &[&str] = &["hello", "SEARCH", "DOWNLOAD :", "NOT", "FOUND"];

const PUNCTUATION: &[&str] = &[
    "<", ">", ",", ", ", " ", "  ", ":", ": ", "\r", "\t", "/", ".", "..", "\0", "\n", "\u{a0}",
    "\u{2028}", "\u{7f}", "\u{feff}", "\\", "#", "%", "-", "+",
];

const NAMES: &[&str] = &[
    "a.txt",
    "notes.txt",
    "my notes.txt",
    "cat.jpg",
    "README",
    "big.bin",
    "archive.tar.gz",
    "odd.",
    "ünïcode.txt",
    "..",
    ".",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "a\\b",
    ".hidden",
    ".p2p-partial-1-2",
    " lead.txt",
    "trail.txt ",
    "a<b",
    "a>b",
    "a,b",
    "x:y",
];

const KINDS: &[&str] = &["txt", "jpg", "bin", "none", "gz", "", "t xt", "TXT"];

const IPS: &[&str] = &[
    "127.0.0.1",
    "10.1.2.3",
    "0.0.0.0",
    "255.255.255.255",
    "::1",
    "::",
    "::ffff:1.2.3.4",
    "fe80::1",
    "fe80::1%eth0",
    "999.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "localhost",
    "01.02.03.04",
    "[::1]",
];

/// A token a fuzzer would try in a number field.
fn number_text(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "-1".into(),
        1 => "+1".into(),
        2 => "99999999999999999999999".into(),
        3 => "18446744073709551616".into(),
        4 => "0x10".into(),
        5 => format!("{:0width$}", rng.number(), width = rng.range(1, 25)),
        _ => rng.number().to_string(),
    }
}

/// A date, usually well formed, sometimes not a real day.
fn date_text(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "31/02/26".into(),
        1 => "00/00/00".into(),
        2 => "1/1/26".into(),
        3 => "29/02/24".into(),
        _ => format!(
            "{:02}/{:02}/{:02}",
            rng.range(0, 32),
            rng.range(0, 13),
            rng.range(0, 99)
        ),
    }
}

/// The protocol's keywords, then the mistyped ones, always in this order,
/// so that a seed gives the same soups.
fn keywords() -> Vec<&'static str> {
    [&PROTOCOL_WORDS[..], MISTYPED_KEYWORDS].concat()
}

/// A token soup: protocol pieces in random order.
fn token_soup(rng: &mut Rng) -> String {
    let mut line = String::new();
    for _ in 0..rng.range(1, 25) {
        match rng.below(9) {
            0 | 1 => line.push_str(rng.pick(&keywords())),
            2 | 3 => line.push_str(rng.pick(PUNCTUATION)),
            4 => line.push_str(rng.pick(NAMES)),
            5 => line.push_str(rng.pick(KINDS)),
            6 => line.push_str(&number_text(rng)),
            7 => line.push_str(&date_text(rng)),
            _ => line.push_str(rng.pick(IPS)),
        }
        if rng.one_in(3) {
            line.push_str(if rng.one_in(2) { " " } else { ", " });
        }
    }
    if rng.one_in(20) {
        // Now and then, a field much longer than any limit.
        line.push_str(&"x".repeat(rng.range(256, 5000)));
    }
    line
}

/// Random bytes: anything at all, or printable text with some specials.
fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => rng.below(8),
        1 | 2 => rng.below(80),
        _ => rng.below(600),
    };
    let text_only = rng.one_in(2);
    (0..len)
        .map(|_| {
            if text_only {
                rng.pick(b" <>,:./0123456789ABCDEFGHILNOPRSTUWYabcdefghijklmnopqrstuvwxyz\r\t")
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Valid messages, built as values
// ---------------------------------------------------------------------------

/// A name that passes `check_name`, so that it fits in any message.
fn valid_name(rng: &mut Rng) -> String {
    const CHARS: &[char] = &[
        'a', 'b', 'z', 'A', 'Z', '0', '9', '.', '-', '_', ' ', ':', 'é', 'ü', '猫', '#', '%', '(',
        ')',
    ];
    loop {
        let name: String = if rng.one_in(50) {
            "n".repeat(MAX_NAME_LEN)
        } else {
            (0..rng.range(1, 20)).map(|_| rng.pick(CHARS)).collect()
        };
        if check_name(&name).is_ok() {
            return name;
        }
    }
}

/// A type field: the name's own, or any word that may stand in a record
/// (spaces inside are allowed, at the ends not).
fn valid_kind(rng: &mut Rng, name: &str) -> String {
    const CHARS: &[char] = &['a', 'q', 'x', '0', '7', 'J', '.', '_', 'ß', ' ', '猫'];
    if rng.one_in(2) {
        return type_of(name);
    }
    loop {
        let file_type: String = (0..rng.range(1, 8)).map(|_| rng.pick(CHARS)).collect();
        if kind_fits_a_record(&file_type) {
            return file_type;
        }
    }
}

/// The protocol's rule for a type field (as `check_file_type` in the library):
/// not empty, at most 255 bytes, no white space at either end, and no '<',
/// '>', ',' or control character.
fn kind_fits_a_record(file_type: &str) -> bool {
    !file_type.is_empty()
        && file_type.len() <= MAX_NAME_LEN
        && !file_type.starts_with(char::is_whitespace)
        && !file_type.ends_with(char::is_whitespace)
        && !file_type
            .chars()
            .any(|c| matches!(c, '<' | '>' | ',') || c.is_control())
}

fn valid_date(rng: &mut Rng) -> Date {
    loop {
        let day = rng.range(1, 31) as u8;
        let month = rng.range(1, 12) as u8;
        let year = rng.range(0, 99) as u8;
        if let Some(date) = Date::new(day, month, year) {
            return date;
        }
    }
}

fn valid_ip(rng: &mut Rng) -> IpAddr {
    match rng.below(4) {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        1 => IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
        2 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V6(Ipv6Addr::from(
            (u128::from(rng.next()) << 64) | u128::from(rng.next()),
        )),
    }
}

fn valid_port(rng: &mut Rng) -> u16 {
    rng.range(1, 65535) as u16
}

fn valid_spec(rng: &mut Rng) -> FileSpec {
    let name = valid_name(rng);
    FileSpec {
        file_type: valid_kind(rng, &name),
        size: rng.number(),
        name,
    }
}

fn valid_record(rng: &mut Rng) -> FileRecord {
    let spec = valid_spec(rng);
    FileRecord {
        name: spec.name,
        file_type: spec.file_type,
        size: spec.size,
        modified: valid_date(rng),
        ip: valid_ip(rng),
        port: valid_port(rng),
    }
}

fn valid_location(rng: &mut Rng) -> Location {
    valid_record(rng).location()
}

/// Any valid message, as a value. (Empty `Records` and `Found` lists are
/// not messages: the first formats to an empty line, the second is
/// `NOT FOUND`.)
fn valid_message(rng: &mut Rng) -> Message {
    match rng.below(17) {
        0 => Message::Hello,
        1 => Message::Hi,
        2 => Message::Records((0..rng.range(1, 7)).map(|_| valid_record(rng)).collect()),
        3 => Message::Search(valid_name(rng)),
        4 => Message::Found((0..rng.range(1, 7)).map(|_| valid_location(rng)).collect()),
        5 => Message::NotFound,
        6 => Message::Bye,
        7 => {
            let reason = token_soup(rng).replace(['\n', '\r'], " ");
            Message::Error(reason.trim().to_string())
        }
        8 | 9 => Message::Download(DownloadRequest {
            file: valid_spec(rng),
            range: if rng.one_in(2) {
                None
            } else {
                Some(ChunkRange {
                    first: rng.number(),
                    count: rng.number().max(1),
                })
            },
        }),
        10 => Message::List,
        11 => Message::Files((0..rng.range(0, 7)).map(|_| valid_record(rng)).collect()),
        12 => Message::Upload(valid_spec(rng)),
        13 => Message::Ready,
        14 => Message::Done,
        15 => Message::Ping,
        _ => Message::Pong,
    }
}

/// A valid line with a few random edits: bytes deleted, inserted,
/// replaced, repeated; line ends and tokens dropped in.
fn mutate(rng: &mut Rng, line: &str) -> Vec<u8> {
    let mut bytes = line.as_bytes().to_vec();
    for _ in 0..rng.range(1, 4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(8) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.range(1, 8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = token_soup(rng);
                bytes.splice(at..at, token.bytes().take(rng.range(1, 12)));
            }
            2 if at < bytes.len() => bytes[at] = rng.next() as u8,
            3 if at < bytes.len() => {
                let end = (at + rng.range(1, 10)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => bytes.insert(at, rng.pick(b"\r\n\t <>,:")),
            5 => bytes.truncate(at),
            6 if at < bytes.len() => bytes[at] = bytes[at].to_ascii_lowercase(),
            _ => {
                let piece = rng.pick(PUNCTUATION).as_bytes();
                bytes.splice(at..at, piece.iter().copied());
            }
        }
    }
    bytes
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

/// Runs `f`, turning a panic into an error that names the input.
fn no_panic<T>(what: &str, input: &dyn std::fmt::Debug, f: impl FnOnce() -> T) -> T {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => panic!("{what} panicked on input {input:?}"),
    }
}

/// Parses `bytes` both ways and checks every property; returns whether it
/// parsed.
fn check_line(bytes: &[u8], seed: u64, case: usize) -> bool {
    let context = || {
        format!(
            "(seed {seed}, case {case}) input {:?}",
            String::from_utf8_lossy(bytes)
        )
    };
    let from_bytes = no_panic("Message::parse_bytes", &bytes, || {
        Message::parse_bytes(bytes)
    });
    let Ok(text) = std::str::from_utf8(bytes) else {
        assert!(
            from_bytes.is_err(),
            "{}: bytes that are not UTF-8 parsed as {from_bytes:?}",
            context()
        );
        return false;
    };
    let parsed = no_panic("Message::parse", &text, || Message::parse(text));
    assert_eq!(
        parsed,
        from_bytes,
        "{}: parse and parse_bytes disagree",
        context()
    );
    let message = match parsed {
        Ok(message) => message,
        Err(error) => {
            let reason = no_panic("ParseError's Display", &text, || error.to_string());
            assert!(
                !reason.contains(['\n', '\r']),
                "{}: the error {reason:?} does not fit on one ERROR: line",
                context()
            );
            return false;
        }
    };
    check_round_trip(&message, !text.contains('\n'), &context);
    check_conversations(text, &message, &context);
    true
}

/// Each conversation's type reads a line as the grammar does: the same
/// message when it belongs to that conversation, a refusal when not, and at
/// least one conversation takes every message.
fn check_conversations(text: &str, message: &Message, context: &dyn Fn() -> String) {
    fn read<M: Wire>(text: &str) -> Option<String> {
        no_panic("a conversation's parse", &text, || M::parse(text))
            .ok()
            .map(|message| message.format())
    }
    let readings = [
        read::<TrackerRequest>(text),
        read::<TrackerReply>(text),
        read::<PeerRequest>(text),
        read::<PeerReply>(text),
    ];
    let line = message.format();
    assert!(
        readings.iter().any(Option::is_some),
        "{}: no conversation takes {line:?}",
        context()
    );
    for reading in readings.into_iter().flatten() {
        assert_eq!(
            reading,
            line,
            "{}: a conversation reads it otherwise",
            context()
        );
    }
}

/// `format` gives a line that parses to the same message, and is stable.
fn check_round_trip(message: &Message, single_line: bool, context: &dyn Fn() -> String) {
    let line = no_panic("Message::format", message, || message.format());
    if single_line {
        assert!(
            !line.contains('\n'),
            "{}: {message:?} formats to more than one line: {line:?}",
            context()
        );
    }
    let again = no_panic("Message::parse", &line, || Message::parse(&line));
    assert_eq!(
        again.as_ref(),
        Ok(message),
        "{}: {message:?} formats to {line:?}, which does not parse back to it",
        context()
    );
    assert_eq!(
        message.format(),
        line,
        "{}: format is not stable",
        context()
    );
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn random_bytes_never_panic_and_what_parses_round_trips() {
    let (mut rng, seed, cases) = start("random_bytes_never_panic_and_what_parses_round_trips");
    for case in 0..cases {
        let bytes = random_bytes(&mut rng);
        check_line(&bytes, seed, case);
    }
}

#[test]
fn token_soups_never_panic_and_what_parses_round_trips() {
    let (mut rng, seed, cases) = start("token_soups_never_panic_and_what_parses_round_trips");
    let mut parsed = 0;
    for case in 0..cases {
        let soup = token_soup(&mut rng);
        if check_line(soup.as_bytes(), seed, case) {
            parsed += 1;
        }
    }
    println!("{parsed} of {cases} soups parsed as messages");
    // The soups are built from protocol words, so some must hit: otherwise
    // this test would only ever see the error paths.
    assert!(
        cases < 1000 || parsed > 0,
        "no token soup parsed: the generator is too far off"
    );
}

#[test]
fn valid_messages_round_trip_and_their_mutations_never_panic() {
    let (mut rng, seed, cases) = start("valid_messages_round_trip_and_their_mutations_never_panic");
    let mut mutants_parsed = 0;
    for case in 0..cases {
        let message = valid_message(&mut rng);
        let context = || format!("(seed {seed}, case {case}) generated {message:?}");
        check_round_trip(&message, true, &context);
        let line = message.format();
        let mutant = mutate(&mut rng, &line);
        if check_line(&mutant, seed, case) {
            mutants_parsed += 1;
        }
        // Surrounding white space and a trailing \r are allowed.
        let padded = format!("  {line}\t\r");
        assert_eq!(
            Message::parse(&padded).as_ref(),
            Ok(&message),
            "{}: padding changed the meaning",
            context()
        );
    }
    println!("{mutants_parsed} of {cases} mutated lines still parsed");
}

/// The fuzz test's host-name lookup: every name is unknown. Random words
/// are often shaped like host names, and asking the network about tens of
/// thousands of them would take minutes; the parser's handling of a lookup
/// has unit tests of its own.
fn no_lookups(name: &str) -> std::io::Result<Vec<IpAddr>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no lookups in the fuzz test ({name})"),
    ))
}

#[test]
fn settings_files_of_random_text_never_panic_and_round_trip() {
    let (mut rng, seed, cases) = start("settings_files_of_random_text_never_panic_and_round_trip");
    const IDS: &[&str] = &["tracker", "peer1", "peer2", "p#3", "x", "tracker"];
    const PORTS: &[&str] = &["1", "5000", "65535", "0", "65536", "-1", "+80", "abc", ""];
    const GAPS: &[&str] = &[" ", "\t", "   ", "\u{a0}", "\u{3000}", "\r", ""];
    let path = Path::new("fuzz_settings.txt");
    let mut accepted = 0;
    for case in 0..cases / 4 {
        let text = if rng.one_in(4) {
            String::from_utf8_lossy(&random_bytes(&mut rng)).into_owned()
        } else {
            let mut text = String::new();
            for _ in 0..rng.range(0, 6) {
                match rng.below(10) {
                    0 => text.push_str("# a comment"),
                    1 => {}
                    2 => text.push_str(&token_soup(&mut rng).replace('\n', " ")),
                    _ => {
                        for field in [
                            rng.pick(IDS).to_string(),
                            rng.pick(IPS).to_string(),
                            rng.pick(PORTS).to_string(),
                        ] {
                            if !rng.one_in(15) {
                                text.push_str(&field);
                            }
                            text.push_str(rng.pick(GAPS));
                            text.push(' ');
                        }
                        if rng.one_in(4) {
                            text.push_str("# trailing comment");
                        }
                    }
                }
                text.push_str(if rng.one_in(5) { "\r\n" } else { "\n" });
            }
            text
        };
        let context = || format!("(seed {seed}, case {case}) settings text {text:?}");
        let parsed = no_panic("Settings::parse", &text, || {
            Settings::parse_with(path, &text, &no_lookups)
        });
        match parsed {
            Ok(settings) => {
                accepted += 1;
                // What was accepted, written back one node a line, reads the same.
                let mut written = String::new();
                for node in &settings.nodes {
                    assert!(
                        !node.id.is_empty() && !node.id.contains(char::is_whitespace),
                        "{}: id {:?} cannot be written back",
                        context(),
                        node.id
                    );
                    assert!(node.addr.port() >= 1, "{}: port 0 accepted", context());
                    written.push_str(&format!(
                        "{} {} {}\n",
                        node.id,
                        node.addr.ip(),
                        node.addr.port()
                    ));
                }
                let again = Settings::parse_with(path, &written, &no_lookups)
                    .unwrap_or_else(|e| panic!("{}: written back as {written:?}: {e}", context()));
                // The same nodes; only their line numbers may differ.
                let nodes = |s: &Settings| -> Vec<_> {
                    s.nodes.iter().map(|n| (n.id.clone(), n.addr)).collect()
                };
                assert_eq!(nodes(&again), nodes(&settings), "{}", context());
            }
            Err(error) => {
                let text_of_error = error.to_string();
                assert!(
                    text_of_error.starts_with("fuzz_settings.txt, line "),
                    "{}: the error does not name the file and line: {text_of_error:?}",
                    context()
                );
            }
        }
    }
    println!("{accepted} of {} settings texts accepted", cases / 4);
}

#[test]
fn dates_and_chunk_ranges_never_panic_or_overflow() {
    let (mut rng, seed, cases) = start("dates_and_chunk_ranges_never_panic_or_overflow");
    for case in 0..cases {
        let text = if rng.one_in(2) {
            date_text(&mut rng)
        } else {
            token_soup(&mut rng)
        };
        if let Some(date) = no_panic("Date::parse", &text, || Date::parse(&text)) {
            assert_eq!(
                Date::parse(&date.to_string()),
                Some(date),
                "(seed {seed}, case {case}) {text:?} parsed, but its formatted date does not"
            );
        }
        let range = ChunkRange {
            first: rng.number(),
            count: rng.number(),
        };
        let size = rng.number();
        let bytes = no_panic("ChunkRange::byte_range", &(range, size), || {
            range.byte_range(size)
        });
        if let Some((offset, len)) = bytes {
            assert!(
                offset.checked_add(len).is_some_and(|end| end <= size)
                    && offset == range.first * CHUNK_SIZE as u64,
                "(seed {seed}, case {case}) {range:?} of a {size}-byte file gave ({offset}, {len})"
            );
        }
    }
}

/// A peer announces each shared file with the type `type_of(name)`. Every
/// name the peer shares (one that passes `check_name`) must therefore give a
/// record, a `DOWNLOAD:` and an `UPLOAD:` line that parse: otherwise one
/// oddly named file makes the tracker refuse the peer's whole join, and the
/// file can never be downloaded.
#[test]
fn every_shareable_name_gives_lines_that_parse() {
    let (mut rng, seed, cases) = start("every_shareable_name_gives_lines_that_parse");
    let mut names: Vec<String> = (0..cases / 10).map(|_| valid_name(&mut rng)).collect();
    // The simplest such names, so the failure message is easy to read.
    names.insert(0, "holiday.old copy".to_string());
    let mut unparseable = Vec::new();
    for name in &names {
        let record = FileRecord {
            name: name.clone(),
            file_type: type_of(name),
            size: 5,
            modified: Date::new(1, 1, 26).expect("a real day"),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5001,
        };
        let spec = record.spec();
        for message in [
            Message::Records(vec![record.clone()]),
            Message::Download(DownloadRequest {
                file: spec.clone(),
                range: None,
            }),
            Message::Upload(spec),
        ] {
            let line = message.format();
            if Message::parse(&line).as_ref() != Ok(&message) {
                unparseable.push(line);
            }
        }
    }
    assert!(
        unparseable.is_empty(),
        "(seed {seed}) {} line(s) built from shareable names do not parse, e.g. {:?}",
        unparseable.len(),
        &unparseable[..unparseable.len().min(3)]
    );
}
