//! Black-box tests of the tracker's liveness rules and of how it treats
//! joins, on loopback: the real `tracker` binary, spoken to by fake peers
//! over raw TCP.
//!
//! A peer's machine that vanishes sends nothing, so on loopback we play it
//! with a fake peer that just goes silent and whose announced port has
//! nothing listening (a machine that is gone answers no connection
//! either). The same rules are checked between real hosts in
//! `tests/multi_host.rs`.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A fake peer whose announced port really listens, as a live peer's does:
/// the tracker's probe finds it there.
struct LivePeer {
    client: Client,
    port: u16,
    _listener: TcpListener,
}

impl LivePeer {
    fn join(tracker: &str, name: &str) -> LivePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port to announce");
        let port = listener.local_addr().expect("local address").port();
        let client = join_tracker(tracker, &file_record(name, "txt", 5, "01/01/26", port));
        LivePeer {
            client,
            port,
            _listener: listener,
        }
    }
}

/// Polls `search` until it answers NOT FOUND; returns how long it took.
fn time_until_forgotten(searcher: &mut Client, name: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if searcher.search(name) == "NOT FOUND" {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{name} still listed after {within:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[test]
fn the_tracker_answers_ping_with_pong() {
    let net = Net::new("liveness_pong", &[]);
    let _tracker = net.start_tracker(&[]);
    let mut peer = join_tracker(
        &net.tracker_addr(),
        &file_record("a.txt", "txt", 1, "01/01/26", free_port()),
    );
    assert_eq!(peer.request("PING"), "PONG");
    assert_eq!(peer.request("PING"), "PONG");
}

#[test]
fn a_silent_peer_whose_port_is_dead_is_forgotten_and_a_live_one_kept() {
    let net = Net::new("liveness_silent", &[]);
    let tracker = net.tracker_addr();
    let _tracker = net.start_tracker(&["--heartbeat", "1"]);
    // Both say nothing after joining (a core-protocol client may do so for
    // hours). One announces a port where nothing listens.
    let _gone = join_tracker(
        &tracker,
        &file_record("gone.txt", "txt", 5, "01/01/26", free_port()),
    );
    let live = LivePeer::join(&tracker, "quiet.txt");
    let mut searcher = LivePeer::join(&tracker, "searcher.txt").client;
    assert!(searcher.search("gone.txt").starts_with("FOUND:"));
    // Heartbeat 1 s: probed after 2 s of silence, forgotten within 3 s.
    let took = time_until_forgotten(&mut searcher, "gone.txt", Duration::from_secs(8));
    eprintln!("the vanished peer was forgotten after {took:?}");
    // The quiet one has been silent as long, and was probed too: kept.
    let answer = searcher.search("quiet.txt");
    assert!(
        answer.contains(&format!(", {}>", live.port)),
        "a quiet peer whose port answers must stay listed: {answer:?}"
    );
}

#[test]
fn a_heartbeating_peer_is_judged_by_its_own_interval() {
    let net = Net::new("liveness_own_interval", &[]);
    let tracker = net.tracker_addr();
    // The tracker's own interval is long: only the peer's can explain a
    // quick verdict.
    let _tracker = net.start_tracker(&["--heartbeat", "60"]);
    let mut pinger = join_tracker(
        &tracker,
        &file_record("pinger.txt", "txt", 5, "01/01/26", free_port()),
    );
    for _ in 0..3 {
        assert_eq!(pinger.request("PING"), "PONG");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(pinger.request("PING"), "PONG");
    // Its machine vanishes: no more PINGs, nothing at its port.
    let mut searcher = LivePeer::join(&tracker, "searcher.txt").client;
    let took = time_until_forgotten(&mut searcher, "pinger.txt", Duration::from_secs(8));
    eprintln!("forgotten {took:?} after its last PING (it kept 0.5 s)");
    drop(pinger);
}

#[test]
fn a_rejoin_from_the_same_address_closes_the_old_session_at_once() {
    let net = Net::new("liveness_rejoin_closes", &[]);
    let tracker_addr = net.tracker_addr();
    let mut tracker = net.start_tracker(&[]);
    let port = free_port();
    let mut old = join_tracker(
        &tracker_addr,
        &file_record("old.txt", "txt", 5, "01/01/26", port),
    );
    assert_eq!(old.request("PING"), "PONG", "the first session is accepted");
    let mut new = join_tracker(
        &tracker_addr,
        &file_record("new.txt", "txt", 5, "01/01/26", port),
    );
    assert_eq!(new.search("old.txt"), "NOT FOUND");
    assert!(new.search("new.txt").starts_with("FOUND:"));
    old.expect_closed_silently("the older session of a peer that joined again");
    tracker.wait_for_log("the log saying the old session was closed", |l| {
        l.contains("older session closed")
    });
}

#[test]
fn a_refused_peer_hears_nothing_unless_the_tracker_explains() {
    let net = Net::new("liveness_explain", &[]);
    let tracker = net.tracker_addr();
    let _plain = net.start_tracker(&[]);
    // Six records: more than a peer may announce.
    let port = free_port();
    let six: Vec<String> = (0..6)
        .map(|i| file_record(&format!("f{i}.txt"), "txt", 1, "01/01/26", port))
        .collect();
    let mut refused = join_tracker(&tracker, &six.join(" "));
    refused.expect_closed_silently("a refused join without --explain");
    drop(_plain);

    let net = Net::new("liveness_explain_on", &[]);
    let _explaining = net.start_tracker(&["--explain"]);
    let mut refused = join_tracker(&net.tracker_addr(), &six.join(" "));
    let line = refused.expect_line();
    assert!(
        line.starts_with("ERROR: refused: 6 records"),
        "one ERROR: line says why: {line:?}"
    );
    assert_eq!(refused.read_line(), None, "then the close");
}

#[test]
fn a_tracker_on_every_address_accepts_ipv4_peers() {
    // The tracker listens on `::` (every address, IPv6 and IPv4, where the
    // system allows both); its peers reach it at 127.0.0.1 and announce
    // 127.0.0.1, which it sees as ::ffff:127.0.0.1.
    let net = Net::new("liveness_any_address", &["peer1"]);
    let any = net.tmp.join("tracker_settings.txt");
    std::fs::write(&any, format!("tracker :: {}\n", net.tracker_port)).expect("settings");
    let _tracker = net.start_tracker(&["--settings", &path_arg(&any)]);
    net.put("peer1", "shared.txt", b"shared over IPv4");
    let mut peer = net.start_peer("peer1", true, &[]);
    peer.wait_for_log("the peer's join confirmed", |l| {
        l.contains("joined the tracker")
    });
    net.probe().wait_found_at("shared.txt", net.port("peer1"));
}
