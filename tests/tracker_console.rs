//! Black-box tests of the tracker's operator console and of `LIST` to the
//! tracker: the real `tracker` and `peer` binaries on free
//! loopback ports, commands written to the tracker's standard input.
//!
//! Covered: `list`, `files`, `discover` (by id and by ip:port), `ping` (a
//! peer that is up and one that is down), `help`, `quit` (exit 0, sessions
//! closed, peers notified), the tracker serving on when its standard input
//! ends, `LIST` from an accepted peer answered with every record, and a
//! mistyped command told the nearest one.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::collections::BTreeSet;

/// The lines of `lines` that are console output, not time-stamped log lines.
fn console_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with('['))
        .cloned()
        .collect()
}

/// A tracker; `peer1` (two files) and `peer2` (one file, one in common with
/// peer1) serving and joined; `peer3` in the settings but never started.
struct Joined {
    net: Net,
    tracker: Node,
    peer1: Node,
    peer2: Node,
    dates: Vec<String>,
}

fn joined(test: &str) -> Joined {
    let net = Net::new(test, &["peer1", "peer2", "peer3"]);
    let a = net.put("peer1", "alpha.txt", &text_bytes(120));
    let c1 = net.put("peer1", "common.bin", &pattern_bytes(345));
    let c2 = net.put("peer2", "common.bin", &pattern_bytes(345));
    let dates = vec![
        set_file_date(&a, 2026, 2, 3),
        set_file_date(&c1, 2025, 12, 31),
        set_file_date(&c2, 2026, 7, 8),
    ];
    let mut tracker = net.start_tracker(&[]);
    let peer1 = net.start_peer("peer1", true, &[]);
    let peer2 = net.start_peer("peer2", true, &[]);
    for id in ["peer1", "peer2"] {
        let joined = format!("join {id} (");
        tracker.wait_for_log(&format!("{id} joining"), |l| l.contains(&joined));
    }
    Joined {
        net,
        tracker,
        peer1,
        peer2,
        dates,
    }
}

#[test]
fn console_list_shows_peers_with_id_address_and_file_count() {
    let mut j = joined("console_list");
    let out = console_lines(&run(&mut j.tracker, "list"));
    let (addr1, addr2) = (j.net.addr("peer1"), j.net.addr("peer2"));
    find_line(&out, "the number of peers online", |l| {
        l.contains("2 peer(s) online")
    });
    let one = find_line(&out, "peer1's line", |l| l.contains("peer1"));
    let words: Vec<&str> = one.split_whitespace().collect();
    assert_eq!(
        words,
        ["peer1", addr1.as_str(), "2", "file(s)", "announced"],
        "{one:?}"
    );
    let two = find_line(&out, "peer2's line", |l| l.contains("peer2"));
    let words: Vec<&str> = two.split_whitespace().collect();
    assert_eq!(
        words,
        ["peer2", addr2.as_str(), "1", "file(s)", "announced"],
        "{two:?}"
    );
    assert!(!out.iter().any(|l| l.contains("peer3")), "peer3 is down");

    // A joined peer that is not in the settings file has no id.
    let mut probe = j.net.probe();
    probe.wait_found_at(&format!("probe-{}", probe.port), probe.port);
    let out = console_lines(&run(&mut j.tracker, "list"));
    find_line(&out, "3 peers", |l| l.contains("3 peer(s) online"));
    find_line(&out, "the probe's line", |l| {
        l.contains(&format!("127.0.0.1:{}", probe.port)) && l.contains("1 file(s)")
    });
}

#[test]
fn console_files_shows_every_file_and_where_it_is() {
    let mut j = joined("console_files");
    let out = console_lines(&run(&mut j.tracker, "files"));
    let (addr1, addr2) = (j.net.addr("peer1"), j.net.addr("peer2"));
    find_line(&out, "the number of files", |l| l.contains("2 file(s)"));
    find_line(&out, "alpha.txt at peer1", |l| {
        l.contains("alpha.txt") && l.contains(&addr1) && !l.contains(&addr2)
    });
    find_line(&out, "common.bin at both peers", |l| {
        l.contains("common.bin") && l.contains(&addr1) && l.contains(&addr2)
    });
}

#[test]
fn console_discover_by_id_and_by_address() {
    let mut j = joined("console_discover");
    let out = console_lines(&run(&mut j.tracker, "discover peer1"));
    find_line(&out, "peer1's header", |l| {
        l.contains("peer1") && l.contains("2 file(s)")
    });
    let alpha = find_line(&out, "alpha.txt", |l| l.contains("alpha.txt"));
    assert!(
        alpha.contains("txt") && alpha.contains("120") && alpha.contains(&j.dates[0]),
        "type, size and date of alpha.txt: {alpha:?}"
    );
    let common = find_line(&out, "common.bin", |l| l.contains("common.bin"));
    assert!(
        common.contains("345") && common.contains(&j.dates[1]),
        "{common:?}"
    );

    let addr2 = j.net.addr("peer2");
    let out = console_lines(&run(&mut j.tracker, &format!("discover {addr2}")));
    find_line(&out, "peer2's header", |l| {
        l.contains(&addr2) && l.contains("1 file(s)")
    });
    let common = find_line(&out, "common.bin", |l| l.contains("common.bin"));
    assert!(common.contains(&j.dates[2]), "peer2's own date: {common:?}");
    assert!(!out.iter().any(|l| l.contains("alpha.txt")));

    // A peer that is not joined, and one that does not exist.
    let out = console_lines(&run(&mut j.tracker, "discover peer3"));
    find_line(&out, "peer3 not joined", |l| {
        l.contains("peer3") && l.contains("not joined")
    });
    let out = console_lines(&run(&mut j.tracker, "discover nobody"));
    find_line(&out, "an error", |l| l.starts_with("error"));
}

#[test]
fn console_ping_times_a_peer_or_says_unreachable() {
    let mut j = joined("console_ping");
    let out = console_lines(&run(&mut j.tracker, "ping peer1"));
    let line = find_line(&out, "a PONG line", |l| l.contains("PONG from peer1"));
    let time = line
        .split_once(" in ")
        .and_then(|(_, rest)| rest.strip_suffix(" ms"))
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("a time in ms: {line:?}"));
    assert!((0.0..5000.0).contains(&time), "{line:?}");

    let addr2 = j.net.addr("peer2");
    let out = console_lines(&run(&mut j.tracker, &format!("ping {addr2}")));
    find_line(&out, "a PONG line", |l| {
        l.contains("PONG from") && l.contains(&addr2)
    });

    let out = console_lines(&run(&mut j.tracker, "ping peer3"));
    find_line(&out, "peer3 unreachable", |l| {
        l.contains("peer3") && l.contains("unreachable")
    });
}

#[test]
fn console_help_names_every_command() {
    let mut j = joined("console_help");
    let out = console_lines(&run(&mut j.tracker, "help"));
    for command in ["list", "files", "discover", "ping", "quit", "help"] {
        find_line(&out, &format!("`{command}` in the help"), |l| {
            l.trim_start().starts_with(command)
        });
    }
    // A command it does not know is answered, and the console goes on.
    let out = console_lines(&run(&mut j.tracker, "dance"));
    find_line(&out, "an error", |l| l.starts_with("error"));
    let out = console_lines(&run(&mut j.tracker, "list"));
    find_line(&out, "the list", |l| l.contains("2 peer(s) online"));
}

#[test]
fn console_quit_exits_0_and_closes_every_session() {
    let mut j = joined("console_quit");
    let mut probe = j.net.probe();
    let tracker_addr = j.net.tracker_addr();
    j.tracker.send_line("quit");
    let status = j.tracker.wait_exit();
    assert!(status.success(), "quit exits 0, got {status}");
    // The probe's session was closed.
    assert_eq!(probe.client.read_line(), None, "the session is closed");
    // The peers were notified by the closed connection.
    j.peer1.wait_for_log("a notice naming the tracker", |l| {
        l.contains("notice") && l.contains(&tracker_addr)
    });
    j.peer2.wait_for_log("a notice naming the tracker", |l| {
        l.contains("notice") && l.contains(&tracker_addr)
    });
}

#[test]
fn tracker_serves_on_when_its_stdin_ends() {
    let mut j = joined("console_stdin_closed");
    j.tracker.close_stdin();
    j.tracker
        .wait_for_log("the tracker saying its input ended", |l| {
            l.contains("standard input ended")
        });
    assert!(
        j.tracker.try_exit_status().is_none(),
        "the tracker must not exit when its standard input ends"
    );
    let mut probe = j.net.probe();
    let found = probe.wait_found_at("alpha.txt", j.net.port("peer1"));
    assert_eq!(found[1], "120");
    probe.wait_found_at("common.bin", j.net.port("peer2"));
    // A new peer can still join and be found.
    j.net.put("peer3", "late.txt", b"late");
    let _peer3 = j.net.start_peer("peer3", true, &[]);
    probe.wait_found_at("late.txt", j.net.port("peer3"));
    assert!(j.tracker.try_exit_status().is_none());
}

#[test]
fn list_to_the_tracker_answers_every_record() {
    let net = Net::new("tracker_list_message", &["peer1"]);
    net.put("peer1", "real.txt", b"real file");
    let path = net.dir("peer1").join("real.txt");
    let real_date = set_file_date(&path, 2026, 5, 6);
    let mut tracker = net.start_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    tracker.wait_for_log("peer1 joining", |l| l.contains("join peer1 ("));

    let (pa, pb) = (free_port(), free_port());
    let a_records = [
        file_record("a1.txt", "txt", 11, "01/02/26", pa),
        file_record("a2.bin", "bin", 22, "03/04/26", pa),
        file_record("a3", "none", 33, "05/06/26", pa),
    ];
    let b_records = [
        file_record("b1.jpg", "jpg", 44, "07/08/26", pb),
        file_record("a1.txt", "txt", 55, "09/10/26", pb),
    ];
    let mut a = join_tracker(&net.tracker_addr(), &a_records.join(" "));
    let mut b = join_tracker(&net.tracker_addr(), &b_records.join(" "));
    // Wait until both joins are in.
    for (client, name) in [(&mut a, "b1.jpg"), (&mut b, "a3")] {
        wait_until(&format!("{name} to be found"), || {
            client.search(name).starts_with("FOUND:")
        });
    }
    let mut expected: BTreeSet<String> = a_records.iter().chain(&b_records).cloned().collect();
    expected.insert(file_record(
        "real.txt",
        "txt",
        9,
        &real_date,
        net.port("peer1"),
    ));

    for client in [&mut a, &mut b] {
        let answer = client.request("LIST");
        let rest = answer
            .strip_prefix("FILES: ")
            .unwrap_or_else(|| panic!("expected FILES: , got {answer:?}"));
        let got: BTreeSet<String> = rest
            .split_inclusive('>')
            .map(|r| r.trim().to_string())
            .collect();
        assert_eq!(got, expected, "every record, each once: {answer:?}");
        assert_eq!(rest.matches('<').count(), 6, "{answer:?}");
    }
    // The session goes on after LIST.
    assert!(a.search("real.txt").starts_with("FOUND:"));

    // LIST before joining gets nothing: the tracker closes without a word.
    let mut stranger = Client::connect(&net.tracker_addr());
    stranger.send_line("LIST");
    stranger.expect_closed_silently("LIST before HELLO");
}

#[test]
fn console_commands_ignore_case_and_check_their_arguments() {
    let mut j = joined("console_case_args");
    let out = console_lines(&run(&mut j.tracker, "LIST"));
    find_line(&out, "the list, typed in capitals", |l| {
        l.contains("2 peer(s) online")
    });
    let out = console_lines(&run(&mut j.tracker, "list extra"));
    find_line(&out, "an argument error", |l| {
        l.contains("list takes no arguments")
    });
    let out = console_lines(&run(&mut j.tracker, "quit now"));
    find_line(&out, "an argument error, not a quit", |l| {
        l.contains("quit takes no arguments")
    });
    let out = console_lines(&run(&mut j.tracker, "fiels"));
    find_line(&out, "a typo told the nearest command", |l| {
        l.contains("unknown command \"fiels\": did you mean files?")
    });
    let out = console_lines(&run(&mut j.tracker, "ping tracker"));
    find_line(&out, "a word on pinging itself", |l| {
        l.contains("is this tracker")
    });
}
