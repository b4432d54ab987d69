//! Black-box tests of what a new student meets first: hand-typed protocol
//! lines, clients written by others, shell scripts and their output.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;

/// Sends `bytes` as they are, closes our sending side, and reads all the
/// server says until it closes.
fn send_and_half_close(addr: &str, bytes: &[u8]) -> String {
    let mut stream = connect_raw(addr);
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("read timeout");
    stream.write_all(bytes).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn a_last_line_without_newline_before_a_half_close_gets_its_answer() {
    let net = Net::new("first_unterminated", &["peer1"]);
    net.put("peer1", "a.txt", b"hello");
    let _tracker = net.start_tracker(&[]);
    let _peer = net.start_peer("peer1", true, &[]);
    assert_eq!(send_and_half_close(&net.tracker_addr(), b"HELLO"), "HI\n");
    assert_eq!(send_and_half_close(&net.addr("peer1"), b"PING"), "PONG\n");
    assert_eq!(
        send_and_half_close(&net.addr("peer1"), b"DOWNLOAD: a.txt, txt, 5\r"),
        "FILE: hello"
    );
}

#[test]
fn a_known_command_typed_wrong_by_hand_is_named() {
    let net = Net::new("first_by_hand", &["peer1"]);
    net.put("peer1", "a.txt", b"hello");
    let _tracker = net.start_tracker(&[]);
    let _peer = net.start_peer("peer1", true, &[]);
    let mut session = join_tracker(
        &net.tracker_addr(),
        &file_record("b.txt", "txt", 1, "01/01/26", free_port()),
    );
    for (line, words) in [
        ("SEARCH notes.txt", "a colon must follow SEARCH"),
        ("LIST extra", "LIST stands alone"),
        ("HELLO", "already joined"),
    ] {
        let reply = session.request(line);
        assert!(
            reply.starts_with("ERROR: ") && reply.contains(words),
            "{line:?} got {reply:?}"
        );
    }
    let mut client = Client::connect(&net.addr("peer1"));
    let reply = client.request("DOWNLOAD: a.txt, txt, 99999999999999999999");
    assert!(reply.contains("too large"), "{reply:?}");
}

/// A file to put in a served folder: its name and bytes.
type File<'a> = (&'a str, &'a [u8]);

/// A network with the tracker and `ids` running as shells (commands on a
/// pipe), each sharing the files given; waits until each has joined.
fn shells(test: &str, ids: &[(&str, &[File])]) -> (Net, Node, Vec<Node>) {
    let names: Vec<&str> = ids.iter().map(|(id, _)| *id).collect();
    let net = Net::new(test, &names);
    let tracker = net.start_tracker(&[]);
    let mut nodes = Vec::new();
    for (id, files) in ids {
        for (name, bytes) in *files {
            net.put(id, name, bytes);
        }
        let mut node = net.start_peer(id, false, &[]);
        if !files.is_empty() {
            node.wait_for_log("its join confirmed", |l| l.contains("joined the tracker"));
        }
        nodes.push(node);
    }
    (net, tracker, nodes)
}

#[test]
fn a_downloader_refuses_a_seeder_that_sends_more_than_it_announced() {
    let net = Net::new("first_extra_bytes", &["peer2"]);
    let _tracker = net.start_tracker(&[]);
    // A seeder written by someone else: a line end before the bytes, so
    // one byte more than the size in all.
    let mut reply = b"FILE: \n".to_vec();
    reply.extend(text_bytes(500));
    let (port, seeder) = fake_seeder(reply);
    let _join = join_tracker(
        &net.tracker_addr(),
        &file_record("shifted.txt", "txt", 500, "01/01/26", port),
    );
    net.put("peer2", "own.txt", b"own");
    let mut peer = net.start_peer("peer2", false, &[]);
    peer.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer, "download shifted.txt");
    find_line(&out, "an error naming the extra bytes", |l| {
        l.starts_with("error") && l.contains("more bytes than the file's size")
    });
    assert!(seeder.join().expect("seeder").is_some());
    assert_eq!(visible_files(&net.dir("peer2")), vec!["own.txt"]);
}

#[test]
fn an_upload_cut_off_mid_chunk_is_counted_to_the_byte() {
    let net = Net::new("first_cut_upload", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    net.put("peer1", "own.txt", b"own");
    let mut peer = net.start_peer("peer1", true, &[]);
    let mut client = Client::connect(&net.addr("peer1"));
    assert_eq!(client.request("UPLOAD: cut.bin, bin, 500"), "READY");
    let mut body = b"FILE: ".to_vec();
    body.extend(pattern_bytes(150));
    client.send_raw(&body);
    client.shutdown_write();
    let _ = client.read_to_end();
    peer.wait_for_log("the cut-off counted in bytes", |l| {
        l.contains("stopped sending after 150 of 500 bytes")
    });
}

#[test]
fn a_piped_script_exits_1_when_a_command_failed_and_stdout_holds_only_results() {
    let (net, _tracker, mut nodes) = shells(
        "first_script",
        &[
            ("peer1", &[("a.txt", b"alpha")]),
            ("peer2", &[("b.txt", b"beta")]),
        ],
    );
    let mut peer2 = nodes.pop().expect("peer2");
    peer2.send_line("download a.txt");
    peer2.send_line("download no-such-file.txt");
    peer2.close_stdin();
    assert_eq!(
        peer2.wait_exit().code(),
        Some(1),
        "a failed command: exit 1"
    );
    let stdout = peer2.stdout_lines();
    find_line(&stdout, "the download's result", |l| {
        l.starts_with("downloaded a.txt")
    });
    find_line(&stdout, "the failure", |l| {
        l.starts_with("error") && l.contains("no-such-file.txt")
    });
    assert!(
        !stdout.iter().any(|l| l.starts_with('[')),
        "log lines go to standard error:\n{}",
        stdout.join("\n")
    );
    find_line(&peer2.stderr_lines(), "the log on stderr", |l| {
        l.contains("joined the tracker")
    });
    assert_eq!(
        std::fs::read(net.dir("peer2").join("a.txt")).unwrap(),
        b"alpha"
    );

    // A script where everything works exits 0.
    let mut peer1 = nodes.pop().expect("peer1");
    peer1.send_line("list");
    peer1.close_stdin();
    assert_eq!(peer1.wait_exit().code(), Some(0));
}

#[test]
fn a_seventh_file_downloaded_is_announced_and_found() {
    let files: Vec<(String, Vec<u8>)> = (1..=6)
        .map(|i| (format!("f{i}.txt"), format!("file {i}").into_bytes()))
        .collect();
    let own: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let (net, _tracker, mut nodes) = shells(
        "first_seventh",
        &[("peer1", &[("z-new.txt", b"newest")]), ("peer2", &own)],
    );
    let mut peer2 = nodes.pop().expect("peer2");
    // peer2 serves six files and announces five: f6.txt is served only.
    let out = run(&mut peer2, "list");
    find_line(&out, "f6.txt marked served only", |l| {
        l.contains("f6.txt") && l.contains("served only")
    });
    find_line(&out, "f1.txt marked announced", |l| {
        l.contains("f1.txt") && l.contains("(announced)")
    });
    // A seventh arrives: it is announced, and found by a search.
    let out = run(&mut peer2, "download z-new.txt");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded z-new.txt")
    });
    peer2.wait_for_log("which file it pushed out", |l| {
        l.contains("announcing z-new.txt") && l.contains("no longer announced")
    });
    let mut probe = net.probe();
    probe.wait_found_at("z-new.txt", net.port("peer2"));
    // A file the tracker does not list is still downloaded from its peer.
    let mut peer1 = nodes.pop().expect("peer1");
    let out = run(&mut peer1, "download f6.txt");
    find_line(&out, "f6.txt downloaded from peer2", |l| {
        l.starts_with("downloaded f6.txt") && l.contains("peer2")
    });
    // And the user may choose the five.
    let out = run(&mut peer2, "announce f6.txt");
    find_line(&out, "the new five", |l| {
        l.starts_with("announced to the tracker: f6.txt")
    });
    probe.wait_found_at("f6.txt", net.port("peer2"));
}

#[test]
fn a_peer_sharing_nothing_is_told_why_it_cannot_search() {
    let (_net, _tracker, mut nodes) = shells("first_nothing", &[("peer1", &[])]);
    let mut peer = nodes.pop().expect("peer1");
    let out = run(&mut peer, "search a.txt");
    find_line(&out, "the protocol's rule and the fix", |l| {
        l.starts_with("error")
            && l.contains("does not accept a peer that shares nothing")
            && l.contains("publish")
    });
}

#[test]
fn shell_messages_name_the_cause_and_the_fix() {
    let (_net, _tracker, mut nodes) = shells("first_messages", &[("peer1", &[("a.txt", b"a")])]);
    let mut peer = nodes.pop().expect("peer1");
    for (command, words) in [
        ("fetch my file.txt peer1", "write the name in double quotes"),
        ("ping 127.0.0.1:99999", "is not a number from 1 to 65535"),
        ("info extra", "info takes no arguments"),
        ("INSC", "joining the tracker"),
        ("VIDEOS", "when it joins"),
        ("ping tracker", "PONG from tracker"),
        (
            "serch notes.txt",
            "unknown command \"serch\": did you mean search?",
        ),
    ] {
        let out = run(&mut peer, command);
        find_line(&out, &format!("the answer to {command:?}"), |l| {
            l.contains(words)
        });
    }
}

#[test]
fn fetch_without_peers_takes_every_holder_and_shows_progress() {
    let big = pattern_bytes(5000);
    let (net, _tracker, mut nodes) = shells(
        "first_fetch_all",
        &[
            ("peer1", &[("big.bin", &big)]),
            ("peer3", &[("big.bin", &big)]),
            ("peer2", &[("own.txt", b"own")]),
        ],
    );
    let mut peer2 = nodes.pop().expect("peer2");
    let out = run(&mut peer2, "fetch big.bin");
    find_line(&out, "the progress line", |l| {
        l.starts_with("fetching big.bin:") && l.ends_with("100%")
    });
    find_line(&out, "the result", |l| {
        l.starts_with("fetched big.bin (5000 bytes)")
    });
    find_line(&out, "peer1's share", |l| {
        l.contains("peer1 (") && l.contains(") sent 25 chunk(s)")
    });
    find_line(&out, "peer3's share", |l| {
        l.contains("peer3 (") && l.contains(") sent 25 chunk(s)")
    });
    assert_eq!(
        std::fs::read(net.dir("peer2").join("big.bin")).unwrap(),
        big
    );
}

#[test]
fn upload_shows_a_progress_line() {
    let big = pattern_bytes(3000);
    let (_net, _tracker, mut nodes) = shells(
        "first_upload_progress",
        &[
            ("peer1", &[("own1.txt", b"1")]),
            ("peer2", &[("big.bin", &big)]),
        ],
    );
    let mut peer2 = nodes.pop().expect("peer2");
    let out = run(&mut peer2, "upload big.bin peer1");
    find_line(&out, "the progress line", |l| {
        l.starts_with("uploading big.bin:") && l.ends_with("100%")
    });
    find_line(&out, "the result", |l| l == "peer1: uploaded big.bin");
}

#[test]
fn a_file_deleted_by_hand_stops_being_announced() {
    let (net, _tracker, mut nodes) = shells(
        "first_deleted",
        &[(
            "peer1",
            &[
                ("keep.txt", b"keep"),
                ("gone.txt", b"gone"),
                ("late.txt", b"late"),
            ],
        )],
    );
    let mut peer1 = nodes.pop().expect("peer1");
    let mut probe = net.probe();
    probe.wait_found_at("gone.txt", net.port("peer1"));
    // Deleted behind the peer's back; somebody asks for it: the peer says
    // it is not served, and stops announcing it.
    std::fs::remove_file(net.dir("peer1").join("gone.txt")).expect("delete");
    let mut client = Client::connect(&net.addr("peer1"));
    let reply = client.request("DOWNLOAD: gone.txt, txt, 4");
    assert!(reply.starts_with("ERROR: "), "{reply}");
    probe.wait_not_found("gone.txt");
    // Deleted again, and only `list` looks: the same.
    std::fs::remove_file(net.dir("peer1").join("late.txt")).expect("delete");
    let out = run(&mut peer1, "list");
    assert!(!out.iter().any(|l| l.contains("late.txt")), "{out:?}");
    probe.wait_not_found("late.txt");
    probe.wait_found_at("keep.txt", net.port("peer1"));
}
