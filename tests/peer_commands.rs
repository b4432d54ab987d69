//! Black-box tests of the direct peer commands: the real `peer`
//! binary, on free loopback ports, with temporary served folders.
//!
//! Covered, on the wire (raw TCP to `peer --serve`): LIST (every file, and
//! `FILES:` alone for an empty folder), ranged DOWNLOAD (start, middle,
//! clipped end, past the end), UPLOAD (whole file, refused for an existing
//! name, a concurrent upload, a path, a size over the limit; a cut-off upload
//! leaves nothing), PING.
//!
//! And in the peer shell: `list` (own files and other peers', alias
//! `#FILELIST`), `upload` (`#UPLOAD`), `fetch` (`#DOWNLOAD`, also with a peer
//! that dies mid-way), `publish`, `info`, `ping`, and that a peer announces
//! what it downloaded, fetched or published.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use p2p_share::peer::server::MAX_UPLOAD_SIZE;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Sends one request to a peer and returns everything it sends back before
/// closing the connection.
fn peer_reply(addr: &str, request: &str) -> Vec<u8> {
    let mut client = Client::connect(addr);
    client.send_line(request);
    client.read_to_end()
}

/// The records of a `FILES:` line, each split into its trimmed fields. Also
/// checks the line is written the way the protocol writes records:
/// `FILES: <a, b> <c, d>` (or `FILES:` alone).
fn parse_files(line: &str) -> Vec<Vec<String>> {
    let rest = line
        .strip_prefix("FILES:")
        .unwrap_or_else(|| panic!("expected a FILES: line, got {line:?}"));
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let inside = rest
            .strip_prefix('<')
            .unwrap_or_else(|| panic!("a record must start with '<' in {line:?}"));
        let end = inside
            .find('>')
            .unwrap_or_else(|| panic!("a record has no '>' in {line:?}"));
        records.push(
            inside[..end]
                .split(',')
                .map(|f| f.trim().to_string())
                .collect(),
        );
        rest = inside[end + 1..].trim_start();
    }
    let canonical = if records.is_empty() {
        "FILES:".to_string()
    } else {
        let written: Vec<String> = records
            .iter()
            .map(|r| format!("<{}>", r.join(", ")))
            .collect();
        format!("FILES: {}", written.join(" "))
    };
    assert_eq!(
        line, canonical,
        "records are written <field, field> separated by one space"
    );
    records
}

/// The expected body of `FILE: ` for a ranged download of `content`.
fn range_of(content: &[u8], first: usize, count: usize) -> &[u8] {
    let start = first * 100;
    let end = ((first + count) * 100).min(content.len());
    &content[start..end]
}

/// The reply must be one `ERROR: ` line, then the close.
fn assert_error_reply(reply: &[u8], request: &str) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    assert!(
        text.starts_with("ERROR: ") && text.ends_with('\n') && text.matches('\n').count() == 1,
        "{request:?}: expected one ERROR: line, got {text:?}"
    );
    text.trim_end().to_string()
}

/// A tracker and a serving `peer1` over `files` (and a second id, `peer2`,
/// in the settings, never started).
struct Served {
    net: Net,
    _tracker: Node,
    _peer: Node,
}

fn serve(test: &str, files: &[(&str, &[u8])]) -> Served {
    let net = Net::new(test, &["peer1", "peer2"]);
    for (name, bytes) in files {
        net.put("peer1", name, bytes);
    }
    let tracker = net.start_tracker(&[]);
    let peer = net.start_peer("peer1", true, &[]);
    Served {
        net,
        _tracker: tracker,
        _peer: peer,
    }
}

/// Opens an upload: sends `UPLOAD: name, type, size` and returns the client
/// and the one-line answer.
fn open_upload(addr: &str, name: &str, file_type: &str, size: u64) -> (Client, String) {
    let mut client = Client::connect(addr);
    let answer = client.request(&format!("UPLOAD: {name}, {file_type}, {size}"));
    (client, answer)
}

/// Sends `FILE: ` and the bytes in 100-byte pieces, and returns the answer.
fn send_body(client: &mut Client, bytes: &[u8]) -> String {
    client.send_raw(b"FILE: ");
    for chunk in bytes.chunks(100) {
        client.send_raw(chunk);
    }
    client.expect_line()
}

// ---------------------------------------------------------------------------
// LIST
// ---------------------------------------------------------------------------

#[test]
fn list_answers_every_file_not_only_five() {
    let net = Net::new("wire_list", &["peer1"]);
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("a.txt", "txt", text_bytes(10)),
        ("b.bin", "bin", pattern_bytes(777)),
        ("c.jpg", "jpg", pattern_bytes(1)),
        ("d.md", "md", text_bytes(250)),
        ("e.txt", "txt", Vec::new()),
        ("f.dat", "dat", pattern_bytes(100)),
        ("README", "none", text_bytes(33)),
    ];
    let mut expected = BTreeSet::new();
    let port = net.port("peer1");
    for (i, (name, file_type, bytes)) in files.iter().enumerate() {
        let path = net.put("peer1", name, bytes);
        let date = set_file_date(&path, 2026, 1 + i as i64, 10 + i as i64);
        expected.insert(vec![
            name.to_string(),
            file_type.to_string(),
            bytes.len().to_string(),
            date,
            "127.0.0.1".to_string(),
            port.to_string(),
        ]);
    }
    net.put("peer1", ".hidden.txt", b"private");
    let _tracker = net.start_tracker(&[]);
    let _peer = net.start_peer("peer1", true, &[]);

    let reply = peer_reply(&net.addr("peer1"), "LIST");
    let text = String::from_utf8(reply).expect("a text reply");
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "LIST is answered with one line, then the close: {text:?}"
    );
    let records = parse_files(text.trim_end());
    assert_eq!(records.len(), 7, "all 7 files, not only five: {text:?}");
    let got: BTreeSet<Vec<String>> = records.into_iter().collect();
    assert_eq!(got, expected);
}

#[test]
fn list_of_an_empty_folder_is_files_alone() {
    let net = Net::new("wire_list_empty", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let _peer = net.start_peer("peer1", true, &[]);
    let reply = peer_reply(&net.addr("peer1"), "LIST");
    assert_eq!(String::from_utf8_lossy(&reply), "FILES:\n");
}

// ---------------------------------------------------------------------------
// Ranged DOWNLOAD
// ---------------------------------------------------------------------------

#[test]
fn ranged_download_at_the_start_middle_and_clipped_end() {
    let content = pattern_bytes(777);
    let served = serve("wire_ranged", &[("big.bin", &content)]);
    let addr = served.net.addr("peer1");
    // (first chunk, count)
    for (first, count) in [(0, 3), (0, 1), (3, 5), (2, 2), (5, 3), (5, 100), (7, 1)] {
        let request = format!("DOWNLOAD: big.bin, bin, 777, {first}, {count}");
        let reply = peer_reply(&addr, &request);
        assert_file_reply(&reply, range_of(&content, first, count), &request);
    }
    // The example: chunks 3 to 7 are bytes 300 .. 800.
    let long = pattern_bytes(1000);
    fs::write(served.net.dir("peer1").join("long.bin"), &long).unwrap();
    let request = "DOWNLOAD: long.bin, bin, 1000, 3, 5";
    assert_file_reply(&peer_reply(&addr, request), &long[300..800], request);
    // Without a range: the whole file, as in the core protocol.
    let request = "DOWNLOAD: big.bin, bin, 777";
    assert_file_reply(&peer_reply(&addr, request), &content, request);
}

#[test]
fn ranged_download_past_the_end_is_an_error() {
    let content = pattern_bytes(777);
    let served = serve("wire_ranged_past", &[("big.bin", &content)]);
    let addr = served.net.addr("peer1");
    for request in [
        "DOWNLOAD: big.bin, bin, 777, 8, 1",
        "DOWNLOAD: big.bin, bin, 777, 100, 5",
        "DOWNLOAD: big.bin, bin, 777, 18446744073709551615, 1",
    ] {
        assert_error_reply(&peer_reply(&addr, request), request);
    }
    // Still serving after the errors.
    let request = "DOWNLOAD: big.bin, bin, 777, 7, 1";
    assert_file_reply(&peer_reply(&addr, request), &content[700..], request);
}

// ---------------------------------------------------------------------------
// UPLOAD
// ---------------------------------------------------------------------------

#[test]
fn upload_puts_the_whole_file_in_the_folder() {
    let served = serve("wire_upload", &[("own.txt", b"own")]);
    let net = &served.net;
    let content = pattern_bytes(1234);
    let (mut client, ready) = open_upload(&net.addr("peer1"), "notes.txt", "txt", 1234);
    assert_eq!(ready, "READY");
    assert_eq!(send_body(&mut client, &content), "DONE");
    // DONE comes only once the file is whole and in place.
    let path = net.dir("peer1").join("notes.txt");
    assert_eq!(fs::read(&path).expect("the uploaded file"), content);
    assert_eq!(all_entries(&net.dir("peer1")), ["notes.txt", "own.txt"]);
    // The uploaded file is served like any other.
    let request = "DOWNLOAD: notes.txt, txt, 1234, 12, 1";
    assert_file_reply(
        &peer_reply(&net.addr("peer1"), request),
        &content[1200..],
        request,
    );
}

#[test]
fn upload_of_a_name_already_served_is_refused() {
    let served = serve("wire_upload_exists", &[("taken.txt", b"original")]);
    let net = &served.net;
    let (mut client, answer) = open_upload(&net.addr("peer1"), "taken.txt", "txt", 5);
    assert_eq!(answer, "ERROR: already serving taken.txt");
    assert_eq!(
        client.read_line(),
        None,
        "the peer closes after the refusal"
    );
    assert_eq!(
        fs::read(net.dir("peer1").join("taken.txt")).unwrap(),
        b"original",
        "an upload never replaces a file"
    );
    assert_eq!(all_entries(&net.dir("peer1")), ["taken.txt"]);
}

#[test]
fn concurrent_upload_of_one_name_is_refused() {
    let served = serve("wire_upload_concurrent", &[("own.txt", b"own")]);
    let net = &served.net;
    let addr = net.addr("peer1");
    let content = pattern_bytes(300);
    let (mut first, ready) = open_upload(&addr, "same.bin", "bin", 300);
    assert_eq!(ready, "READY");
    // While the first upload is open, a second one of the same name:
    let (mut second, answer) = open_upload(&addr, "same.bin", "bin", 300);
    assert_eq!(answer, "ERROR: currently receiving same.bin");
    assert_eq!(second.read_line(), None);
    // The first one still completes.
    assert_eq!(send_body(&mut first, &content), "DONE");
    assert_eq!(
        fs::read(net.dir("peer1").join("same.bin")).unwrap(),
        content
    );
    // And now the name is taken.
    let (_third, answer) = open_upload(&addr, "same.bin", "bin", 300);
    assert_eq!(answer, "ERROR: already serving same.bin");
    assert_eq!(all_entries(&net.dir("peer1")), ["own.txt", "same.bin"]);
}

#[test]
fn upload_of_a_path_is_refused() {
    let served = serve("wire_upload_path", &[("own.txt", b"own")]);
    let net = &served.net;
    let addr = net.addr("peer1");
    let outside = net.tmp.join("x.txt");
    for request in [
        "UPLOAD: ../x.txt, txt, 5",
        "UPLOAD: a/x.txt, txt, 5",
        &format!("UPLOAD: {}, txt, 5", outside.display()),
        "UPLOAD: ..\\x.txt, txt, 5",
        "UPLOAD: .x.txt, txt, 5",
    ] {
        let reply = peer_reply(&addr, request);
        assert_error_reply(&reply, request);
    }
    assert!(!outside.exists(), "nothing written outside the folder");
    assert_eq!(all_entries(&net.dir("peer1")), ["own.txt"]);
}

#[test]
fn upload_over_the_size_limit_is_refused_before_a_byte_is_written() {
    let served = serve("wire_upload_limit", &[("own.txt", b"own")]);
    let net = &served.net;
    let addr = net.addr("peer1");
    for size in [
        (MAX_UPLOAD_SIZE + 1).to_string(),
        "1000000000000000000".to_string(),
        "18446744073709551615".to_string(),
        "99999999999999999999999".to_string(), // not even a u64
    ] {
        let request = format!("UPLOAD: huge.bin, bin, {size}");
        let reply = peer_reply(&addr, &request);
        assert_error_reply(&reply, &request);
        assert_eq!(
            all_entries(&net.dir("peer1")),
            ["own.txt"],
            "{request}: refused before anything is created"
        );
    }
    // The limit itself is allowed (READY); hanging up then leaves nothing.
    let (client, ready) = open_upload(&addr, "huge.bin", "bin", MAX_UPLOAD_SIZE);
    assert_eq!(ready, "READY", "an upload of exactly the limit is accepted");
    drop(client);
    wait_folder_is(&net.dir("peer1"), &["own.txt"]);
}

#[test]
fn a_cut_off_upload_leaves_nothing_behind() {
    let served = serve("wire_upload_cut", &[("own.txt", b"own")]);
    let net = &served.net;
    let addr = net.addr("peer1");
    let content = pattern_bytes(5000);
    let (mut client, ready) = open_upload(&addr, "cut.bin", "bin", 5000);
    assert_eq!(ready, "READY");
    client.send_raw(b"FILE: ");
    client.send_raw(&content[..2500]);
    drop(client);
    // Not the file, not a hidden temporary file: nothing.
    wait_folder_is(&net.dir("peer1"), &["own.txt"]);
    // The name is free again: a whole upload of it now works.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (mut client, answer) = open_upload(&addr, "cut.bin", "bin", 5000);
        if answer == "READY" {
            assert_eq!(send_body(&mut client, &content), "DONE");
            break;
        }
        assert_eq!(answer, "ERROR: currently receiving cut.bin");
        assert!(
            Instant::now() < deadline,
            "the cut-off upload kept its name reserved"
        );
        thread::sleep(POLL_INTERVAL);
    }
    assert_eq!(fs::read(net.dir("peer1").join("cut.bin")).unwrap(), content);
    assert_eq!(all_entries(&net.dir("peer1")), ["cut.bin", "own.txt"]);
}

#[test]
fn a_short_upload_gets_an_error_and_leaves_nothing_behind() {
    let served = serve("wire_upload_short", &[("own.txt", b"own")]);
    let net = &served.net;
    let addr = net.addr("peer1");
    // Half the bytes, then the uploader stops sending but still listens.
    let (mut client, ready) = open_upload(&addr, "short.bin", "bin", 1000);
    assert_eq!(ready, "READY");
    client.send_raw(b"FILE: ");
    client.send_raw(&pattern_bytes(500));
    client.shutdown_write();
    let answer = client.expect_line();
    assert!(
        answer.starts_with("ERROR: "),
        "a short upload is answered ERROR:, got {answer:?}"
    );
    wait_folder_is(&net.dir("peer1"), &["own.txt"]);
    // Something other than FILE: after READY: nothing is kept either.
    let (mut client, ready) = open_upload(&addr, "short.bin", "bin", 1000);
    assert_eq!(ready, "READY");
    client.send_line("PING");
    client.shutdown_write();
    let rest = String::from_utf8_lossy(&client.read_to_end()).into_owned();
    assert!(
        rest.is_empty() || rest.starts_with("ERROR: "),
        "no DONE for an upload without FILE:, got {rest:?}"
    );
    wait_folder_is(&net.dir("peer1"), &["own.txt"]);
}

#[test]
fn ping_answers_pong() {
    let served = serve("wire_ping", &[("own.txt", b"own")]);
    let reply = peer_reply(&served.net.addr("peer1"), "PING");
    assert_eq!(String::from_utf8_lossy(&reply), "PONG\n");
}

// ---------------------------------------------------------------------------
// The shell
// ---------------------------------------------------------------------------

/// A tracker; `peer1` and `peer3` serving their files; `peer2` with a shell;
/// `peer4` listed in the settings but never started. Everybody joined.
struct ShellNet {
    net: Net,
    _tracker: Node,
    peer1: Node,
    peer3: Node,
    shell: Node,
    probe: Probe,
}

fn shell_net(test: &str, peer1: &[(&str, &[u8])], peer3: &[(&str, &[u8])]) -> ShellNet {
    let net = Net::new(test, &["peer1", "peer2", "peer3", "peer4"]);
    for (name, bytes) in peer1 {
        net.put("peer1", name, bytes);
    }
    for (name, bytes) in peer3 {
        net.put("peer3", name, bytes);
    }
    net.put("peer2", "own2.txt", b"peer2's own file");
    let tracker = net.start_tracker(&[]);
    let p1 = net.start_peer("peer1", true, &[]);
    let p3 = net.start_peer("peer3", true, &[]);
    let shell = net.start_peer("peer2", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at(peer1[0].0, net.port("peer1"));
    probe.wait_found_at(peer3[0].0, net.port("peer3"));
    probe.wait_found_at("own2.txt", net.port("peer2"));
    ShellNet {
        net,
        _tracker: tracker,
        peer1: p1,
        peer3: p3,
        shell,
        probe,
    }
}

#[test]
fn shell_list_shows_own_files() {
    let mut s = shell_net(
        "shell_list_own",
        &[("one.txt", b"1")],
        &[("three.txt", b"3")],
    );
    s.net.put("peer2", "second.bin", &pattern_bytes(321));
    let out = run(&mut s.shell, "list");
    find_line(&out, "a header with 2 files", |l| l.contains("2 file(s)"));
    find_line(&out, "own2.txt with its size", |l| {
        l.contains("own2.txt") && l.contains("16 bytes")
    });
    find_line(&out, "second.bin with its size", |l| {
        l.contains("second.bin") && l.contains("321 bytes")
    });
    assert!(
        !out.iter()
            .any(|l| l.contains("one.txt") || l.contains("three.txt")),
        "`list` alone shows only this peer's files:\n{}",
        out.join("\n")
    );
}

/// The lines of the block that starts with the line starting `header`.
fn block<'a>(out: &'a [String], header: &str) -> &'a [String] {
    let start = out
        .iter()
        .position(|l| l.starts_with(header))
        .unwrap_or_else(|| panic!("no block {header:?} in:\n{}", out.join("\n")));
    let len = out[start + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .count();
    &out[start..start + 1 + len]
}

#[test]
fn shell_list_of_peers_gives_one_block_per_peer() {
    let mut s = shell_net(
        "shell_list_peers",
        &[("one-a.txt", b"1a"), ("one-b.bin", &pattern_bytes(150))],
        &[("three.txt", b"333")],
    );
    let out = run(&mut s.shell, "list peer1 peer3");
    let one = block(&out, "peer1:");
    assert!(one[0].contains("2 file(s)"), "{one:?}");
    assert_eq!(one.len(), 3, "a header and one line per file: {one:?}");
    find_line(one, "one-a.txt in peer1's block", |l| {
        l.contains("one-a.txt") && l.contains("2 bytes")
    });
    find_line(one, "one-b.bin in peer1's block", |l| {
        l.contains("one-b.bin") && l.contains("150 bytes")
    });
    let three = block(&out, "peer3:");
    assert!(three[0].contains("1 file(s)"), "{three:?}");
    assert_eq!(three.len(), 2, "{three:?}");
    assert!(three[1].contains("three.txt"), "{three:?}");

    // The source system's spelling.
    let out = run(&mut s.shell, "#FILELIST peer1");
    let one = block(&out, "peer1:");
    assert_eq!(one.len(), 3, "{one:?}");
    assert!(!out.iter().any(|l| l.starts_with("peer3")));

    // By address, and a peer that is down gets its own error line.
    let addr3 = s.net.addr("peer3");
    let out = run(&mut s.shell, &format!("list {addr3} peer4"));
    let three = block(&out, &format!("{addr3}:"));
    assert!(three[1].contains("three.txt"), "{three:?}");
    find_line(&out, "an error line for peer4", |l| {
        l.starts_with("peer4:") && l.contains("error")
    });
}

#[test]
fn shell_upload_to_two_peers() {
    let mut s = shell_net("shell_upload", &[("one.txt", b"1")], &[("three.txt", b"3")]);
    let content = pattern_bytes(2345);
    s.net.put("peer2", "up.bin", &content);
    let out = run(&mut s.shell, "upload up.bin peer1 peer3");
    let results: Vec<&String> = out
        .iter()
        .filter(|l| l.starts_with("peer1:") || l.starts_with("peer3:"))
        .collect();
    assert_eq!(
        results.len(),
        2,
        "one result line per peer:\n{}",
        out.join("\n")
    );
    find_line(&out, "peer1's result", |l| l == "peer1: uploaded up.bin");
    find_line(&out, "peer3's result", |l| l == "peer3: uploaded up.bin");
    for id in ["peer1", "peer3"] {
        let got = fs::read(s.net.dir(id).join("up.bin")).expect("the uploaded file");
        assert!(got == content, "{id}'s copy differs");
    }

    // The alias, with a text file.
    let text = text_bytes(432);
    s.net.put("peer2", "up.txt", &text);
    let out = run(&mut s.shell, "#UPLOAD up.txt peer1 peer3");
    find_line(&out, "peer1's result", |l| l == "peer1: uploaded up.txt");
    find_line(&out, "peer3's result", |l| l == "peer3: uploaded up.txt");
    for id in ["peer1", "peer3"] {
        assert_eq!(fs::read(s.net.dir(id).join("up.txt")).unwrap(), text);
    }

    // Again: both refuse, each on its own line, and keep their copy.
    let out = run(&mut s.shell, "upload up.bin peer1 peer3");
    for id in ["peer1", "peer3"] {
        find_line(&out, &format!("{id}'s refusal"), |l| {
            l.starts_with(&format!("{id}: error")) && l.contains("already serving up.bin")
        });
        assert!(fs::read(s.net.dir(id).join("up.bin")).unwrap() == content);
        assert_eq!(visible_files(&s.net.dir(id)).len(), 3);
    }
}

#[test]
fn shell_fetch_from_two_peers_at_once() {
    let big = pattern_bytes(2550); // 26 chunks, the last one 50 bytes
    let other = text_bytes(1999);
    let mut s = shell_net(
        "shell_fetch",
        &[("big.bin", &big), ("other.txt", &other)],
        &[("big.bin", &big), ("other.txt", &other)],
    );
    let (port1, port3) = (s.net.port("peer1"), s.net.port("peer3"));
    let out = run(&mut s.shell, "fetch big.bin peer1 peer3");
    find_line(&out, "a line saying big.bin was fetched", |l| {
        l.contains("fetched big.bin") && l.contains("2550 bytes")
    });
    find_line(&out, "peer1 with its chunk count", |l| {
        l.contains(&format!("peer1 (127.0.0.1:{port1})")) && l.contains("sent 13 chunk(s)")
    });
    find_line(&out, "peer3 with its chunk count", |l| {
        l.contains(&format!("peer3 (127.0.0.1:{port3})")) && l.contains("sent 13 chunk(s)")
    });
    let got = fs::read(s.net.dir("peer2").join("big.bin")).expect("the fetched file");
    assert!(got == big, "the fetched file differs from the original");
    // Both really sent a part of it.
    s.peer1.wait_for_log("peer1 logging a ranged send", |l| {
        l.contains("sending big.bin, bytes")
    });
    s.peer3.wait_for_log("peer3 logging a ranged send", |l| {
        l.contains("sending big.bin, bytes")
    });
    // peer2 now serves what it fetched: the tracker lists it as a holder.
    s.probe.wait_found_at("big.bin", s.net.port("peer2"));

    // The source system's spelling.
    let out = run(&mut s.shell, "#DOWNLOAD other.txt peer3 peer1");
    find_line(&out, "a line saying other.txt was fetched", |l| {
        l.contains("fetched other.txt") && l.contains("1999 bytes")
    });
    find_line(&out, "peer1 with 10 chunks", |l| {
        l.contains("peer1 (") && l.contains("sent 10 chunk(s)")
    });
    find_line(&out, "peer3 with 10 chunks", |l| {
        l.contains("peer3 (") && l.contains("sent 10 chunk(s)")
    });
    assert_eq!(
        fs::read(s.net.dir("peer2").join("other.txt")).unwrap(),
        other
    );
    s.probe.wait_found_at("other.txt", s.net.port("peer2"));
    // Nothing else in the folder: no temporary file left.
    wait_folder_is(&s.net.dir("peer2"), &["big.bin", "other.txt", "own2.txt"]);

    // A file that exists already is never fetched over.
    let out = run(&mut s.shell, "fetch big.bin peer1 peer3");
    find_line(&out, "an error", |l| l.starts_with("error:"));
    assert!(fs::read(s.net.dir("peer2").join("big.bin")).unwrap() == big);
}

#[test]
fn shell_download_makes_the_peer_a_holder() {
    let content = text_bytes(777);
    let mut s = shell_net(
        "shell_download_announce",
        &[("shared.txt", &content)],
        &[("three.txt", b"3")],
    );
    let out = run(&mut s.shell, "download shared.txt");
    find_line(&out, "a line saying it was downloaded", |l| {
        l.contains("downloaded shared.txt")
    });
    assert_eq!(
        fs::read(s.net.dir("peer2").join("shared.txt")).unwrap(),
        content
    );
    s.probe.wait_found_at("shared.txt", s.net.port("peer2"));
    // Still a holder of its own file too, and peer1 still listed.
    s.probe.wait_found_at("own2.txt", s.net.port("peer2"));
    s.probe.wait_found_at("shared.txt", s.net.port("peer1"));
}

#[test]
fn shell_publish_copies_into_the_folder_and_announces() {
    let mut s = shell_net(
        "shell_publish",
        &[("one.txt", b"1")],
        &[("three.txt", b"3")],
    );
    let outside = s.net.tmp.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let content = pattern_bytes(1500);
    let source = outside.join("poster.png");
    fs::write(&source, &content).unwrap();
    let dir2 = s.net.dir("peer2");

    let out = run(&mut s.shell, &format!("publish {}", source.display()));
    find_line(&out, "a line saying it was published", |l| {
        l.contains("published") && l.contains("poster.png")
    });
    assert_eq!(fs::read(dir2.join("poster.png")).unwrap(), content);
    assert_eq!(fs::read(&source).unwrap(), content, "the original stays");
    let fields = s.probe.wait_found_at("poster.png", s.net.port("peer2"));
    assert_eq!(fields[0], "png");
    assert_eq!(fields[1], "1500");

    // Under another name.
    let out = run(
        &mut s.shell,
        &format!("publish {} renamed.bin", source.display()),
    );
    find_line(&out, "a line saying it was published", |l| {
        l.contains("published") && l.contains("renamed.bin")
    });
    assert_eq!(fs::read(dir2.join("renamed.bin")).unwrap(), content);
    let fields = s.probe.wait_found_at("renamed.bin", s.net.port("peer2"));
    assert_eq!(fields[0], "bin");

    // Never over an existing file, even when the source changed.
    fs::write(&source, b"a different poster").unwrap();
    let out = run(&mut s.shell, &format!("publish {}", source.display()));
    find_line(&out, "an error naming the file", |l| {
        l.starts_with("error:") && l.contains("poster.png")
    });
    assert_eq!(fs::read(dir2.join("poster.png")).unwrap(), content);
    // A missing source is an error too.
    let missing = outside.join("missing.txt");
    let out = run(&mut s.shell, &format!("publish {}", missing.display()));
    find_line(&out, "an error", |l| l.starts_with("error:"));
    wait_folder_is(&dir2, &["own2.txt", "poster.png", "renamed.bin"]);
}

#[test]
fn shell_info_lists_the_peers_online() {
    let mut s = shell_net(
        "shell_info",
        &[("one-a.txt", b"1"), ("one-b.txt", b"11")],
        &[("three.txt", b"3")],
    );
    let out = run(&mut s.shell, "info");
    // peer1, peer2, peer3 and the test's probe.
    find_line(&out, "the number of peers online", |l| {
        l.contains("4 peer(s) online")
    });
    find_line(&out, "peer1 with its files", |l| {
        l.contains("peer1 (") && l.contains("one-a.txt") && l.contains("one-b.txt")
    });
    find_line(&out, "peer2 with its file", |l| {
        l.contains("peer2 (") && l.contains("own2.txt")
    });
    find_line(&out, "peer3 with its file", |l| {
        l.contains("peer3 (") && l.contains("three.txt")
    });
    assert!(
        !out.iter().any(|l| l.contains("peer4")),
        "peer4 is not online"
    );
}

#[test]
fn shell_ping_a_peer() {
    let mut s = shell_net("shell_ping", &[("one.txt", b"1")], &[("three.txt", b"3")]);
    let out = run(&mut s.shell, "ping peer1");
    let line = find_line(&out, "a PONG line", |l| l.starts_with("PONG from peer1"));
    assert!(line.contains(" ms"), "{line}");
    let addr3 = s.net.addr("peer3");
    let out = run(&mut s.shell, &format!("ping {addr3}"));
    find_line(&out, "a PONG line", |l| l.starts_with("PONG from"));
    let out = run(&mut s.shell, "ping peer4");
    find_line(&out, "peer4 unreachable", |l| {
        l.contains("peer4") && l.contains("unreachable")
    });
}

// ---------------------------------------------------------------------------
// fetch with a peer that dies mid-way
// ---------------------------------------------------------------------------

/// A fake peer: answers LIST with one record, and any DOWNLOAD with
/// `FILE: ` and only part of the range asked for, then closes.
struct FakePeer {
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    fn start(port: u16, files_line: String, content: Vec<u8>) -> FakePeer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the fake peer");
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let request = answer(stream, &files_line, &content);
                            requests.lock().unwrap().push(request);
                        }
                        Err(_) => thread::sleep(POLL_INTERVAL),
                    }
                }
            })
        };
        FakePeer {
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The fake peer's answer to one connection; returns the request line.
fn answer(stream: TcpStream, files_line: &str, content: &[u8]) -> String {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    let _ = reader.read_line(&mut request);
    let request = request.trim_end().to_string();
    let mut stream = reader.into_inner();
    if request == "LIST" {
        let _ = stream.write_all(format!("{files_line}\n").as_bytes());
    } else if let Some(rest) = request.strip_prefix("DOWNLOAD:") {
        let fields: Vec<usize> = rest
            .split(',')
            .skip(3)
            .filter_map(|f| f.trim().parse().ok())
            .collect();
        let (first, count) = match fields.as_slice() {
            [first, count] => (*first, *count),
            _ => (0, content.len().div_ceil(100)),
        };
        if first * 100 >= content.len() {
            let _ = stream.write_all(b"ERROR: past the end\n");
            return request;
        }
        let range = range_of(content, first, count);
        // Half of the range and 50 bytes more, never all of it.
        let part = (range.len() / 2 + 50).min(range.len() - 1);
        let _ = stream.write_all(b"FILE: ");
        let _ = stream.write_all(&range[..part]);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    request
}

#[test]
fn fetch_completes_from_the_other_peer_when_one_dies_midway() {
    let net = Net::new("shell_fetch_dies", &["peer1", "peer2", "fake"]);
    let content = pattern_bytes(2000); // 20 chunks
    let path = net.put("peer1", "big.bin", &content);
    let date = set_file_date(&path, 2026, 3, 4);
    net.put("peer2", "own2.txt", b"own");
    let fake_port = net.port("fake");
    let fake = FakePeer::start(
        fake_port,
        format!(
            "FILES: {}",
            file_record("big.bin", "bin", 2000, &date, fake_port)
        ),
        content.clone(),
    );
    let _tracker = net.start_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    let mut shell = net.start_peer("peer2", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("own2.txt", net.port("peer2"));

    // The fake peer comes first, so it gets chunks 0 to 9 and sends 550 bytes.
    let out = run(&mut shell, "fetch big.bin fake peer1");
    find_line(&out, "a line saying big.bin was fetched", |l| {
        l.contains("fetched big.bin") && l.contains("2000 bytes")
    });
    let got = fs::read(net.dir("peer2").join("big.bin")).expect("the fetched file");
    assert!(got == content, "the fetched file differs from the original");
    wait_folder_is(&net.dir("peer2"), &["big.bin", "own2.txt"]);

    let fake_name = format!("fake (127.0.0.1:{fake_port})");
    find_line(&out, "the failure of the fake peer", |l| {
        l.contains(&fake_name) && !l.contains(" sent ") && l.contains("stopped sending")
    });
    let counts: Vec<u64> = out
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once(" sent ")?;
            rest.strip_suffix(" chunk(s)")?.parse().ok()
        })
        .collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        20,
        "the chunk counts add up to the file:\n{}",
        out.join("\n")
    );
    find_line(&out, "the fake peer's 5 whole chunks", |l| {
        l.contains(&fake_name) && l.contains("sent 5 chunk(s)")
    });
    find_line(&out, "peer1's 15 chunks", |l| {
        l.contains("peer1 (") && l.contains("sent 15 chunk(s)")
    });
    let requests = fake.requests();
    assert!(
        requests.iter().any(|r| r == "LIST"),
        "the fetch asks for LIST first: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r == "DOWNLOAD: big.bin, bin, 2000, 0, 10"),
        "a ranged DOWNLOAD of the first half: {requests:?}"
    );
    probe.wait_found_at("big.bin", net.port("peer2"));
}
