//! Black-box tests of the tracker: the real `tracker` binary on a
//! free loopback port, spoken to by fake peers over raw TCP.
//!
//! Covered: HELLO/HI, joining, SEARCH found / not found / several holders,
//! exact and case-sensitive names, ERROR after acceptance, BYE, a connection
//! closed without BYE, a rejoin replacing records, every kind of refused
//! join, input before HELLO, CRLF framing, `--trace`, and whole log lines
//! while eight peers search at once.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;

/// A tracker of its own for one test.
fn tracker(test: &str) -> (Net, Node) {
    let net = Net::new(test, &[]);
    let node = net.start_tracker(&[]);
    (net, node)
}

#[test]
fn hello_gets_hi() {
    let (net, _tracker) = tracker("hello_gets_hi");
    let mut client = Client::connect(&net.tracker_addr());
    assert_eq!(client.request("HELLO"), "HI");
}

#[test]
fn join_then_search_finds_the_file() {
    let (net, _tracker) = tracker("join_search_found");
    let port = free_port();
    let records = format!(
        "{} {}",
        file_record("notes.txt", "txt", 1234, "21/11/26", port),
        file_record("cat.jpg", "jpg", 48213, "02/10/26", port)
    );
    let mut peer = join_tracker(&net.tracker_addr(), &records);

    // The joined peer itself can search...
    assert_eq!(
        peer.search("notes.txt"),
        format!("FOUND: {}", location_record("txt", 1234, "21/11/26", port))
    );
    // ...and so can another peer.
    let mut other = net.probe();
    assert_eq!(
        other.search("cat.jpg"),
        format!("FOUND: {}", location_record("jpg", 48213, "02/10/26", port))
    );
    assert_eq!(
        other.search("notes.txt"),
        format!("FOUND: {}", location_record("txt", 1234, "21/11/26", port))
    );
}

#[test]
fn search_for_an_unknown_name_is_not_found() {
    let (net, _tracker) = tracker("search_not_found");
    let mut probe = net.probe();
    assert_eq!(probe.search("nobody-has-this.txt"), "NOT FOUND");
}

#[test]
fn search_is_exact_and_case_sensitive() {
    let (net, _tracker) = tracker("search_exact");
    let port = free_port();
    let mut peer = join_tracker(
        &net.tracker_addr(),
        &file_record("notes.txt", "txt", 10, "21/11/26", port),
    );
    assert!(peer.search("notes.txt").starts_with("FOUND: "));
    assert_eq!(peer.search("Notes.txt"), "NOT FOUND");
    assert_eq!(peer.search("notes"), "NOT FOUND");
    assert_eq!(peer.search("notes.txt.bak"), "NOT FOUND");
}

#[test]
fn search_lists_every_holder() {
    let (net, _tracker) = tracker("search_every_holder");
    let (port_a, port_b) = (free_port(), free_port());
    let _a = join_tracker(
        &net.tracker_addr(),
        &file_record("shared.bin", "bin", 500, "21/11/26", port_a),
    );
    let _b = join_tracker(
        &net.tracker_addr(),
        &file_record("shared.bin", "bin", 500, "19/11/26", port_b),
    );
    let mut probe = net.probe();
    probe.wait_found_at("shared.bin", port_a);
    probe.wait_found_at("shared.bin", port_b);
    let answer = probe.search("shared.bin");
    let mut records = parse_found(&answer).expect("a FOUND answer");
    records.sort();
    let mut expected = vec![
        vec!["bin", "500", "21/11/26", "127.0.0.1", &port_a.to_string()]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
        vec!["bin", "500", "19/11/26", "127.0.0.1", &port_b.to_string()]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
    ];
    expected.sort();
    assert_eq!(records, expected, "answer was {answer:?}");
}

#[test]
fn five_records_are_accepted() {
    let (net, _tracker) = tracker("five_records");
    let port = free_port();
    let records: Vec<String> = (1..=5)
        .map(|i| file_record(&format!("f{i}.txt"), "txt", i, "01/02/26", port))
        .collect();
    let mut peer = join_tracker(&net.tracker_addr(), &records.join(" "));
    for i in 1..=5 {
        assert_eq!(
            peer.search(&format!("f{i}.txt")),
            format!("FOUND: {}", location_record("txt", i, "01/02/26", port))
        );
    }
}

#[test]
fn records_line_accepts_any_spacing() {
    let (net, _tracker) = tracker("records_spacing");
    let port = free_port();
    // No space after the commas, spaces around the fields, a tab between
    // records, and no separator at all between two records.
    let records = format!(
        "<a.txt,txt,10,01/02/26,127.0.0.1,{port}>\t< b.txt ,  txt , 20 , 02/02/26 , 127.0.0.1 , {port} ><c, none, 0, 03/02/26, 127.0.0.1, {port}>"
    );
    let mut peer = join_tracker(&net.tracker_addr(), &records);
    assert_eq!(
        peer.search("a.txt"),
        format!("FOUND: {}", location_record("txt", 10, "01/02/26", port))
    );
    assert_eq!(
        peer.search("b.txt"),
        format!("FOUND: {}", location_record("txt", 20, "02/02/26", port))
    );
    assert_eq!(
        peer.search("c"),
        format!("FOUND: {}", location_record("none", 0, "03/02/26", port))
    );
}

#[test]
fn crlf_line_endings_are_accepted() {
    let (net, _tracker) = tracker("crlf");
    let port = free_port();
    let mut client = Client::connect(&net.tracker_addr());
    client.send_raw(b"HELLO\r\n");
    assert_eq!(client.expect_line(), "HI");
    client.send_raw(format!("{}\r\n", file_record("w.txt", "txt", 7, "05/05/26", port)).as_bytes());
    client.send_raw(b"SEARCH: w.txt\r\n");
    assert_eq!(
        client.expect_line(),
        format!("FOUND: {}", location_record("txt", 7, "05/05/26", port))
    );
}

#[test]
fn unknown_line_after_acceptance_gets_error_and_the_session_goes_on() {
    let (net, _tracker) = tracker("error_after_accept");
    let port = free_port();
    let mut peer = join_tracker(
        &net.tracker_addr(),
        &file_record("keep.txt", "txt", 3, "21/11/26", port),
    );
    let answer = peer.request("FLY: to the moon");
    assert!(answer.starts_with("ERROR:"), "got {answer:?}");
    let answer = peer.request("garbage without a colon");
    assert!(answer.starts_with("ERROR:"), "got {answer:?}");
    // The session is still there, records and all.
    assert!(peer.search("keep.txt").starts_with("FOUND: "));
    assert_eq!(peer.search("other.txt"), "NOT FOUND");
}

#[test]
fn bye_closes_without_reply_and_drops_the_records() {
    let (net, _tracker) = tracker("bye");
    let port = free_port();
    let mut peer = join_tracker(
        &net.tracker_addr(),
        &format!(
            "{} {}",
            file_record("leaving.txt", "txt", 5, "21/11/26", port),
            file_record("leaving2.txt", "txt", 6, "21/11/26", port)
        ),
    );
    let mut probe = net.probe();
    probe.wait_found_at("leaving.txt", port);
    peer.send_line("BYE");
    peer.expect_closed_silently("after BYE");
    probe.wait_not_found("leaving.txt");
    probe.wait_not_found("leaving2.txt");
}

#[test]
fn bye_drops_only_that_peers_records() {
    let (net, _tracker) = tracker("bye_only_that_peer");
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = join_tracker(
        &net.tracker_addr(),
        &file_record("both.txt", "txt", 5, "21/11/26", port_a),
    );
    let _b = join_tracker(
        &net.tracker_addr(),
        &file_record("both.txt", "txt", 5, "21/11/26", port_b),
    );
    let mut probe = net.probe();
    probe.wait_found_at("both.txt", port_a);
    probe.wait_found_at("both.txt", port_b);
    a.send_line("BYE");
    a.expect_closed_silently("after BYE");
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let answer = probe.search("both.txt");
        let records = parse_found(&answer).expect("b still holds the file");
        let ports: Vec<String> = records.iter().map(|r| r[4].clone()).collect();
        if ports == vec![port_b.to_string()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a's record was not dropped: {answer:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[test]
fn a_connection_closed_without_bye_is_forgotten() {
    let (net, _tracker) = tracker("closed_without_bye");
    let port = free_port();
    let peer = join_tracker(
        &net.tracker_addr(),
        &file_record("crashy.txt", "txt", 9, "21/11/26", port),
    );
    let mut probe = net.probe();
    probe.wait_found_at("crashy.txt", port);
    drop(peer); // the "crash": the connection ends without BYE
    probe.wait_not_found("crashy.txt");
}

#[test]
fn a_rejoin_from_the_same_address_replaces_the_records() {
    let (net, _tracker) = tracker("rejoin_replaces");
    let port = free_port();
    let _first = join_tracker(
        &net.tracker_addr(),
        &file_record("old.txt", "txt", 1, "21/11/26", port),
    );
    let mut probe = net.probe();
    probe.wait_found_at("old.txt", port);
    let mut second = join_tracker(
        &net.tracker_addr(),
        &file_record("new.txt", "txt", 2, "22/11/26", port),
    );
    assert_eq!(
        second.search("new.txt"),
        format!("FOUND: {}", location_record("txt", 2, "22/11/26", port))
    );
    assert_eq!(second.search("old.txt"), "NOT FOUND");
    assert_eq!(probe.search("old.txt"), "NOT FOUND");
}

// --- refused joins ----------------------------------------------------------

/// Joins with `records` and checks the tracker refuses: nothing sent, the
/// connection closed, no record of that line searchable afterwards, and the
/// tracker still serving others.
fn assert_refused(net: &Net, probe: &mut Probe, records: &str, names: &[&str]) {
    let mut client = join_tracker(&net.tracker_addr(), records);
    client.expect_closed_silently(&format!("records line {records:?}"));
    for name in names {
        assert_eq!(
            probe.search(name),
            "NOT FOUND",
            "a refused join must leave no record ({records:?})"
        );
    }
}

#[test]
fn refused_join_with_no_records() {
    let (net, _tracker) = tracker("refused_empty");
    let mut probe = net.probe();
    assert_refused(&net, &mut probe, "", &[]);
    assert_refused(&net, &mut probe, "   ", &[]);
}

#[test]
fn refused_join_with_six_records() {
    let (net, _tracker) = tracker("refused_six");
    let mut probe = net.probe();
    let port = free_port();
    let records: Vec<String> = (1..=6)
        .map(|i| file_record(&format!("six{i}.txt"), "txt", i, "01/02/26", port))
        .collect();
    assert_refused(
        &net,
        &mut probe,
        &records.join(" "),
        &["six1.txt", "six5.txt", "six6.txt"],
    );
}

#[test]
fn refused_join_with_a_bad_size() {
    let (net, _tracker) = tracker("refused_bad_size");
    let mut probe = net.probe();
    let port = free_port();
    let good = file_record("good.txt", "txt", 3, "01/02/26", port);
    for size in ["abc", "-1", "12x", "", "1.5"] {
        let bad = format!("<bad.txt, txt, {size}, 01/02/26, 127.0.0.1, {port}>");
        assert_refused(&net, &mut probe, &bad, &["bad.txt"]);
        // One bad record spoils the whole line.
        assert_refused(
            &net,
            &mut probe,
            &format!("{good} {bad}"),
            &["good.txt", "bad.txt"],
        );
    }
}

#[test]
fn refused_join_with_a_bad_port() {
    let (net, _tracker) = tracker("refused_bad_port");
    let mut probe = net.probe();
    for port in ["0", "70000", "65536", "-1", "http", ""] {
        let bad = format!("<port.txt, txt, 1, 01/02/26, 127.0.0.1, {port}>");
        assert_refused(&net, &mut probe, &bad, &["port.txt"]);
    }
}

#[test]
fn refused_join_with_a_bad_date() {
    let (net, _tracker) = tracker("refused_bad_date");
    let mut probe = net.probe();
    let port = free_port();
    for date in [
        "32/01/26",
        "00/01/26",
        "01/13/26",
        "01/00/26",
        "aa/bb/cc",
        "2026-01-01",
        "",
    ] {
        let bad = format!("<date.txt, txt, 1, {date}, 127.0.0.1, {port}>");
        assert_refused(&net, &mut probe, &bad, &["date.txt"]);
    }
}

#[test]
fn refused_join_with_a_bad_address() {
    let (net, _tracker) = tracker("refused_bad_address");
    let mut probe = net.probe();
    let port = free_port();
    for ip in ["999.0.0.1", "not-an-ip", "127.0.0", ""] {
        let bad = format!("<addr.txt, txt, 1, 01/02/26, {ip}, {port}>");
        assert_refused(&net, &mut probe, &bad, &["addr.txt"]);
    }
}

#[test]
fn refused_join_speaking_for_another_address() {
    let (net, _tracker) = tracker("refused_spoofed_address");
    let mut probe = net.probe();
    let port = free_port();
    // 192.0.2.7 (TEST-NET-1) is not where this connection comes from.
    let bad = format!("<spoof.txt, txt, 1, 01/02/26, 192.0.2.7, {port}>");
    assert_refused(&net, &mut probe, &bad, &["spoof.txt"]);
}

#[test]
fn refused_join_with_malformed_records() {
    let (net, _tracker) = tracker("refused_malformed");
    let mut probe = net.probe();
    let port = free_port();
    let cases = [
        // five fields: the port is missing
        "<m.txt, txt, 1, 01/02/26, 127.0.0.1>".to_string(),
        // seven fields
        format!("<m.txt, txt, 1, 01/02/26, 127.0.0.1, {port}, extra>"),
        // record never closed
        format!("<m.txt, txt, 1, 01/02/26, 127.0.0.1, {port}"),
        // no brackets at all
        format!("m.txt, txt, 1, 01/02/26, 127.0.0.1, {port}"),
        // text outside the records
        format!("hello <m.txt, txt, 1, 01/02/26, 127.0.0.1, {port}>"),
        // empty name
        format!("<, txt, 1, 01/02/26, 127.0.0.1, {port}>"),
    ];
    for records in &cases {
        assert_refused(&net, &mut probe, records, &["m.txt"]);
    }
}

#[test]
fn nothing_is_answered_before_hello() {
    let (net, _tracker) = tracker("before_hello");
    for first in ["SEARCH: notes.txt", "hello", "BYE", "", "HI"] {
        let mut client = Client::connect(&net.tracker_addr());
        client.send_line(first);
        client.expect_closed_silently(&format!("first line {first:?}"));
    }
    // The tracker is still fine.
    let mut probe = net.probe();
    assert_eq!(probe.search("notes.txt"), "NOT FOUND");
}

#[test]
fn search_before_the_records_line_is_refused() {
    let (net, _tracker) = tracker("search_before_records");
    let mut probe = net.probe();
    // "SEARCH: x" where the records line should be is a malformed records
    // line: refused, nothing sent.
    assert_refused(&net, &mut probe, "SEARCH: probe", &[]);
}

#[test]
fn trace_prints_the_protocol_lines_with_the_peer_address() {
    let net = Net::new("tracker_trace", &[]);
    let mut tracker = net.start_tracker(&["--trace"]);
    let port = free_port();
    let mut peer = join_tracker(
        &net.tracker_addr(),
        &file_record("traced.txt", "txt", 4, "21/11/26", port),
    );
    assert_eq!(peer.search("untraced.txt"), "NOT FOUND");
    let who = peer.local.clone();

    let hello = tracker.wait_for_log("a trace line of HELLO", |l| {
        l.contains("HELLO") && l.contains(&who)
    });
    let hi = tracker.wait_for_log("a trace line of HI", |l| {
        l.contains(&who) && l.split_whitespace().any(|w| w == "HI")
    });
    // Once joined, the peer is called by the address it serves on (by its
    // id, when the settings file lists that address), not by the passing
    // port of its connection.
    let serves_on = format!("127.0.0.1:{port}");
    tracker.wait_for_log("a trace line of the SEARCH", |l| {
        l.contains("SEARCH: untraced.txt") && l.contains(&serves_on)
    });
    tracker.wait_for_log("a trace line of NOT FOUND", |l| {
        l.contains("NOT FOUND") && l.contains(&serves_on)
    });
    // HELLO is received and HI is sent: the two directions must differ.
    let arrow = |l: &str| {
        if l.contains("->") {
            "->"
        } else if l.contains("<-") {
            "<-"
        } else {
            ""
        }
    };
    assert!(!arrow(&hello).is_empty(), "no direction in {hello:?}");
    assert!(!arrow(&hi).is_empty(), "no direction in {hi:?}");
    assert_ne!(
        arrow(&hello),
        arrow(&hi),
        "sent and received lines must show different directions: {hello:?} / {hi:?}"
    );
}

/// Eight peers search at once, with `--trace`: every line of the tracker's
/// log comes out whole (one node's name in it, never two lines run into
/// one), and none is lost. The log writes each line with one system call
/// and takes no lock, so this is what keeps the threads' lines apart.
#[test]
fn eight_peers_searching_at_once_leave_every_log_line_whole() {
    const PEERS: usize = 8;
    const SEARCHES: usize = 150;
    let net = Net::new("tracker_log_whole", &[]);
    let mut tracker = net.start_tracker(&["--trace"]);
    let addr = net.tracker_addr();
    std::thread::scope(|scope| {
        for number in 0..PEERS {
            let addr = &addr;
            scope.spawn(move || {
                let name = format!("shared-{number}.txt");
                let record = file_record(&name, "txt", 4, "21/11/26", free_port());
                let mut peer = join_tracker(addr, &record);
                for _ in 0..SEARCHES {
                    assert!(peer.search(&name).starts_with("FOUND: "));
                }
                peer.send_line("BYE");
            });
        }
    });
    let whole = |line: &String| line.matches("tracker] ").count() == 1;
    // Until every peer's leave is logged, or a line shows the fault.
    wait_until("every peer's leave in the tracker's log", || {
        let lines = tracker.stderr_lines();
        let leaves = lines.iter().filter(|l| l.contains("] leave ")).count();
        leaves == PEERS || !lines.iter().all(whole)
    });
    let lines = tracker.stderr_lines();
    if let Some(broken) = lines.iter().find(|line| !whole(line)) {
        panic!("not one whole log line: {broken:?}");
    }
    let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("] search \"shared-"), PEERS * SEARCHES);
    assert_eq!(count("<- SEARCH: shared-"), PEERS * SEARCHES);
    assert_eq!(count("-> FOUND: <txt, 4,"), PEERS * SEARCHES);
    tracker.kill();
}
