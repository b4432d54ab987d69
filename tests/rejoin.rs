//! Black-box tests of the notices and the rejoin: when the
//! tracker goes away, a peer says so at once (naming the tracker), keeps
//! serving, answers `search` with "not joined", and joins a restarted
//! tracker on the same port by itself, with no user input.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant};

/// How soon a peer must print its notice after the tracker went away
/// (the README says "at once"; we poll for up to this long).
const NOTICE_WITHIN: Duration = Duration::from_secs(5);
/// How soon a peer must have rejoined a restarted tracker (its pause
/// between tries is capped at a few seconds).
const REJOIN_WITHIN: Duration = Duration::from_secs(10);

/// Waits until a stdout line printed after the first `from` lines satisfies
/// `pred`, for at most `within`; returns the line and how long it took.
fn wait_new_line(
    node: &mut Node,
    from: usize,
    within: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let lines = node.stderr_lines();
        if let Some(line) = lines.iter().skip(from).find(|l| pred(l)) {
            return (line.clone(), start.elapsed());
        }
        if start.elapsed() >= within {
            panic!(
                "{} did not print {what} within {within:?}; it printed:\n{}\n--- stderr ---\n{}",
                node.name,
                lines.join("\n"),
                node.stderr_lines().join("\n")
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn is_lost_notice(line: &str, tracker: &str) -> bool {
    line.to_lowercase().contains("notice") && line.contains(tracker)
}

fn is_rejoined_notice(line: &str, tracker: &str) -> bool {
    line.to_lowercase().contains("notice") && line.contains("rejoined") && line.contains(tracker)
}

#[test]
fn a_peer_notices_a_killed_tracker_and_rejoins_a_restarted_one() {
    let net = Net::new("rejoin_killed", &["peer1"]);
    let content = pattern_bytes(456);
    net.put("peer1", "kept.bin", &content);
    net.put("peer1", "notes.txt", b"some notes");
    let tracker_addr = net.tracker_addr();
    let mut tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", false, &[]);
    let port = net.port("peer1");
    let mut probe = net.probe();
    probe.wait_found_at("kept.bin", port);
    drop(probe);

    // The tracker crashes; the user types nothing.
    let from = peer.stderr_lines().len();
    tracker.kill();
    let (notice, took) = wait_new_line(
        &mut peer,
        from,
        NOTICE_WITHIN,
        "a notice naming the tracker",
        |l| is_lost_notice(l, &tracker_addr),
    );
    eprintln!("notice after {took:?}: {notice}");

    // `search` says the peer is not joined.
    let out = run(&mut peer, "search kept.bin");
    assert!(
        out.iter()
            .any(|l| l.starts_with("error") && l.contains("not joined")),
        "search while the tracker is down must say the peer is not joined:\n{}",
        out.join("\n")
    );

    // It keeps serving its files to other peers.
    let mut client = Client::connect(&net.addr("peer1"));
    client.send_line("DOWNLOAD: kept.bin, bin, 456");
    let reply = client.read_to_end();
    assert!(
        reply.starts_with(b"FILE: ") && reply[6..] == content[..],
        "the peer still serves while the tracker is down"
    );

    // The tracker comes back on the same port: the peer rejoins by itself.
    let from = peer.stderr_lines().len();
    let _tracker = net.start_tracker(&[]);
    let (line, took) = wait_new_line(&mut peer, from, REJOIN_WITHIN, "a rejoined notice", |l| {
        is_rejoined_notice(l, &tracker_addr)
    });
    eprintln!("rejoined after {took:?}: {line}");
    let mut probe = net.probe();
    probe.wait_found_at("kept.bin", port);
    probe.wait_found_at("notes.txt", port);

    // And its shell searches again.
    let out = run(&mut peer, "search notes.txt");
    assert!(
        out.iter()
            .any(|l| l.starts_with("1.") && l.contains(&port.to_string())),
        "search works again after the rejoin:\n{}",
        out.join("\n")
    );
}

#[test]
fn serving_peers_rejoin_after_every_tracker_restart() {
    let net = Net::new("rejoin_serving", &["peer1", "peer2"]);
    net.put("peer1", "one.txt", b"peer one");
    net.put("peer2", "two.txt", b"peer two");
    let tracker_addr = net.tracker_addr();
    let mut tracker = net.start_tracker(&[]);
    let mut peers = [
        net.start_peer("peer1", true, &[]),
        net.start_peer("peer2", true, &[]),
    ];
    let mut probe = net.probe();
    probe.wait_found_at("one.txt", net.port("peer1"));
    probe.wait_found_at("two.txt", net.port("peer2"));
    drop(probe);

    // Twice: the second time right after the rejoin, while the peers'
    // pause between tries may have grown.
    for round in 1..=2 {
        let from: Vec<usize> = peers.iter().map(|p| p.stderr_lines().len()).collect();
        tracker.kill();
        for (peer, from) in peers.iter_mut().zip(&from) {
            wait_new_line(
                peer,
                *from,
                NOTICE_WITHIN,
                &format!("a notice naming the tracker (round {round})"),
                |l| is_lost_notice(l, &tracker_addr),
            );
        }
        tracker = net.start_tracker(&[]);
        for (peer, from) in peers.iter_mut().zip(&from) {
            wait_new_line(
                peer,
                *from,
                REJOIN_WITHIN,
                &format!("a rejoined notice (round {round})"),
                |l| is_rejoined_notice(l, &tracker_addr),
            );
        }
        let mut probe = net.probe();
        probe.wait_found_at("one.txt", net.port("peer1"));
        probe.wait_found_at("two.txt", net.port("peer2"));
        // The new tracker knows both by id.
        for id in ["peer1", "peer2"] {
            let joined = format!("join {id} (");
            tracker.wait_for_log(&format!("{id} joining the new tracker"), |l| {
                l.contains(&joined)
            });
        }
    }
}

#[test]
fn a_tracker_that_quits_and_comes_back_is_rejoined() {
    let net = Net::new("rejoin_quit", &["peer1"]);
    net.put("peer1", "stay.txt", b"stay");
    let tracker_addr = net.tracker_addr();
    let mut tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", true, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("stay.txt", net.port("peer1"));
    drop(probe);

    let from = peer.stderr_lines().len();
    tracker.send_line("quit");
    assert!(tracker.wait_exit().success(), "quit exits 0");
    wait_new_line(
        &mut peer,
        from,
        NOTICE_WITHIN,
        "a notice naming the tracker",
        |l| is_lost_notice(l, &tracker_addr),
    );
    let _tracker = net.start_tracker(&[]);
    wait_new_line(&mut peer, from, REJOIN_WITHIN, "a rejoined notice", |l| {
        is_rejoined_notice(l, &tracker_addr)
    });
    net.probe().wait_found_at("stay.txt", net.port("peer1"));
}

#[test]
fn a_peer_started_before_its_tracker_joins_when_it_comes_up() {
    let net = Net::new("rejoin_late_tracker", &["peer1"]);
    net.put("peer1", "early.txt", b"early bird");
    let tracker_addr = net.tracker_addr();
    let mut peer = net.start_peer("peer1", false, &[]);
    // Not joined: the shell says so, and the peer serves anyway.
    let out = run(&mut peer, "search early.txt");
    assert!(
        out.iter()
            .any(|l| l.starts_with("error") && l.contains("not joined")),
        "{}",
        out.join("\n")
    );
    let mut client = Client::connect(&net.addr("peer1"));
    assert_eq!(client.request("PING"), "PONG");

    let _tracker = net.start_tracker(&[]);
    net.probe().wait_found_at("early.txt", net.port("peer1"));
    let out = run(&mut peer, "search early.txt");
    assert!(
        out.iter().any(|l| l.starts_with("1.")),
        "{}",
        out.join("\n")
    );
    // The peer's log named the tracker it could not reach.
    assert!(
        peer.stderr_lines()
            .iter()
            .any(|l| is_lost_notice(l, &tracker_addr)),
        "a notice naming the tracker it could not join"
    );
}

#[test]
fn a_stopped_tracker_makes_a_peer_print_one_line_per_event() {
    let net = Net::new("rejoin_one_line_each", &["peer1"]);
    net.put("peer1", "once.txt", b"said once");
    let tracker_addr = net.tracker_addr();
    let mut tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", false, &[]);
    net.probe().wait_found_at("once.txt", net.port("peer1"));
    let from = peer.stderr_lines().len();
    tracker.kill();
    wait_new_line(
        &mut peer,
        from,
        NOTICE_WITHIN,
        "the notice of the loss",
        |l| is_lost_notice(l, &tracker_addr),
    );
    // A try to rejoin fails while the tracker is down: `search` says so.
    wait_for("a failed try to rejoin", || {
        let out = run(&mut peer, "search once.txt");
        match out.iter().any(|l| l.contains("the last try failed")) {
            true => Ok(()),
            false => Err(format!("search printed {out:?}")),
        }
    });
    let _tracker = net.start_tracker(&[]);
    wait_new_line(&mut peer, from, REJOIN_WITHIN, "a rejoined notice", |l| {
        is_rejoined_notice(l, &tracker_addr)
    });
    // Losing it, trying again, being back: one line for the loss (it says
    // the peer tries again), none for the failed try, one for the rejoin.
    let log = peer.stderr_lines()[from..].to_vec();
    assert_eq!(log.len(), 2, "one line per event:\n{}", log.join("\n"));
    assert!(is_lost_notice(&log[0], &tracker_addr), "{}", log[0]);
    assert!(log[0].contains("rejoining by itself"), "{}", log[0]);
    assert!(is_rejoined_notice(&log[1], &tracker_addr), "{}", log[1]);
    assert!(log[1].contains("sharing once.txt"), "{}", log[1]);
}
