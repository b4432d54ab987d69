//! What our tracker and peer say about a student's program that gets the
//! framing wrong: each fake here makes exactly one such mistake and does
//! everything else right, and the test reads what our program logged.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

/// Longer than the tracker's 10 s for a first line, for the one test that
/// waits for it.
const LONGER_THAN_A_REQUEST_TIME: Duration = Duration::from_secs(20);

/// A line of the node's log that satisfies `pred`, waited for up to `limit`.
fn log_line(node: &Node, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_for_within(limit, what, || {
        node.stderr_lines()
            .into_iter()
            .find(|l| pred(l))
            .ok_or_else(|| format!("log so far:\n{}", node.stderr_lines().join("\n")))
    })
}

#[test]
fn a_first_line_without_its_line_end_is_quoted_when_time_runs_out() {
    let net = Net::new("student_no_line_end", &[]);
    let tracker = net.start_tracker(&[]);
    let mut client = Client::connect(&net.tracker_addr());
    // `SEARCH:` first is wrong too, but the tracker never sees a whole line.
    client.send_raw(b"SEARCH: logo.png");
    let line = log_line(
        &tracker,
        LONGER_THAN_A_REQUEST_TIME,
        "the quoted line",
        |l| l.contains("with no line end"),
    );
    assert!(
        line.contains(
            r#"got "SEARCH: logo.png" with no line end, then nothing for 10 s: every message ends with \n"#
        ),
        "{line}"
    );
}

#[test]
fn bytes_that_are_not_text_are_traced_escaped() {
    let net = Net::new("student_not_text", &[]);
    let tracker = net.start_tracker(&["--trace"]);
    let mut client = Client::connect(&net.tracker_addr());
    // What a Java program sends when it writes an object instead of a line.
    client.send_raw(b"\xac\xed\x00\x05t\x00\x05HELLO\n");
    let line = log_line(&tracker, TIMEOUT, "the escaped trace", |l| {
        l.contains("<- ")
    });
    assert!(
        line.ends_with(r#"<- "\xac\xed\x00\x05t\x00\x05HELLO""#),
        "{line}"
    );
}

#[test]
fn an_answer_into_a_closed_connection_is_logged_as_not_sent() {
    let net = Net::new("student_closed", &[]);
    let tracker = net.start_tracker(&["--trace"]);
    let record = file_record("a.txt", "txt", 1, "01/01/24", free_port());
    let mut client = join_tracker(&net.tracker_addr(), &record);
    client.send_raw(b"SEARCH: logo.png");
    // A program that closes right after its request, before the answer.
    drop(client);
    let received = log_line(&tracker, TIMEOUT, "the request's trace", |l| {
        l.contains("<- SEARCH: logo.png")
    });
    assert!(
        received.ends_with(
            r"(with no line end, then the other end closed its side: every message ends with \n)"
        ),
        "{received}"
    );
    log_line(&tracker, TIMEOUT, "the failed answer", |l| {
        l.contains(
            "-> (failed: the line above was not sent: the other end had closed the connection",
        )
    });
}

/// A peer joined to a real tracker, on which a fake seeder at
/// `seeder_port` announces `f.txt` of `size` bytes.
fn downloader(test: &str, seeder_port: u16, size: u64) -> (Net, Node, Node, Client) {
    let net = Net::new(test, &["peer1"]);
    let tracker = net.start_tracker(&[]);
    let record = file_record("f.txt", "txt", size, "01/01/24", seeder_port);
    let announcer = join_tracker(&net.tracker_addr(), &record);
    net.put("peer1", "shared.txt", b"a file to announce");
    let peer = net.start_peer("peer1", false, &["--trace"]);
    (net, tracker, peer, announcer)
}

#[test]
fn a_body_that_breaks_off_is_traced_with_what_came() {
    let mut reply = b"FILE: ".to_vec();
    reply.extend_from_slice(&[b'x'; 10]);
    let (port, _seeder) = fake_seeder(reply);
    let (_net, _tracker, mut peer, _announcer) = downloader("student_short", port, 300);
    let lines = run(&mut peer, "download f.txt");
    find_line(&lines, "the failed download", |l| l.starts_with("error"));
    log_line(&peer, TIMEOUT, "the body's trace", |l| {
        l.contains("<- FILE: (10 of 300 bytes: ")
    });
}

#[test]
fn bytes_after_a_body_are_counted() {
    let mut reply = b"FILE: ".to_vec();
    reply.extend_from_slice(&[b'x'; 307]);
    let (port, _seeder) = fake_seeder(reply);
    let (_net, _tracker, mut peer, _announcer) = downloader("student_long", port, 300);
    let lines = run(&mut peer, "download f.txt");
    find_line(&lines, "the refused copy", |l| {
        l.starts_with("error") && l.contains("(7 too many)")
    });
    log_line(&peer, TIMEOUT, "the extra bytes' trace", |l| {
        l.contains("<- (then 7 bytes more than the file's size)")
    });
    let _ = std::io::stdout().flush();
}
