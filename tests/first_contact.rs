//! Black-box tests of what a new student meets first: hand-typed protocol
//! lines, clients written by others, shell scripts and their output.

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
