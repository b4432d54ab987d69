//! The README's hand-typed recipes, run as printed: a student who follows
//! them must get what the README says.
//!
//! The `nc` recipe joins the tracker by hand. The tracker checks on a
//! silent session by connecting to the port it announced (see
//! `src/tracker/liveness.rs`), so what listens there must survive being
//! connected to: `nc -lk` does, `nc -l` exits after the first check. The
//! tracker runs with `--heartbeat 1` so that the checks of a 10-minute
//! pause (one every 60 s with the default 30 s) come every 2 s instead;
//! the pause below covers several of them. Machines without `nc` print one
//! line and pass (CI installs it).

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// The tracker's `--heartbeat` in these tests: a check of a silent session
/// every 2 x 1 s.
const HEARTBEAT: &str = "1";

/// How long the person pauses: several of the tracker's checks.
const PAUSE: Duration = Duration::from_secs(8);

/// The line the tracker logs when it forgets a silent session.
const FORGOTTEN: &str = "forgotten: no sign of life";

fn nc_is_installed() -> bool {
    let found = Command::new("nc").arg("-h").output().is_ok();
    if !found {
        println!("nc (netcat) is not installed: the README's nc recipe was not run");
    }
    found
}

/// Whether something listens on `port`, seen in the kernel's tables, not
/// by connecting: a plain `nc -l` would take that connection and exit.
fn is_listening(port: u16) -> bool {
    let listen = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().any(|row| {
                let fields: Vec<&str> = row.split_whitespace().collect();
                // local address, remote address, state (0A is LISTEN)
                fields.len() > 3
                    && format!("{} ", fields[1]).ends_with(&listen)
                    && fields[3] == "0A"
            })
        })
    })
}

/// The recipe up to the pause: something listening on the announced port
/// (`nc LISTEN PORT`), then `nc 127.0.0.1 TRACKER` with `HELLO` and one
/// record typed, then `PING` and, a second later, another line (the case in
/// which the tracker judges the session by its own pace of 1 s).
fn join_by_hand(net: &Net, listen: &str) -> (Node, Node, u16) {
    let port = free_port();
    let listener = Node::spawn(
        "listener",
        "nc",
        &[listen.to_string(), port.to_string()],
        net.tmp.path(),
    );
    wait_until("nc to listen", || is_listening(port));
    let tracker_port = net.tracker_port.to_string();
    let mut hand = Node::spawn(
        "hand",
        "nc",
        &["127.0.0.1".to_string(), tracker_port],
        net.tmp.path(),
    );
    hand.send_line("HELLO");
    hand.wait_for_output("HI", |line| line == "HI");
    hand.send_line(&format!("<x.txt, txt, 1, 01/01/26, 127.0.0.1, {port}>"));
    hand.send_line("PING");
    hand.wait_for_output("PONG", |line| line == "PONG");
    // A person types the next line about a second later.
    let typed_at = Instant::now() + Duration::from_secs(1);
    wait_until("a second to pass", || Instant::now() >= typed_at);
    hand.send_line("SEARCH: x.txt");
    hand.wait_for_output("FOUND", |line| line.starts_with("FOUND:"));
    (listener, hand, port)
}

#[test]
fn a_session_typed_by_hand_with_nc_lk_stays_joined_through_a_pause() {
    if !nc_is_installed() {
        return;
    }
    let net = Net::new("readme_nc_lk", &["peer1"]);
    let mut tracker = net.start_tracker(&["--heartbeat", HEARTBEAT]);
    let (_listener, mut hand, port) = join_by_hand(&net, "-lk");
    // The pause: the tracker checks the session several times, and never
    // forgets it.
    let end = Instant::now() + PAUSE;
    while Instant::now() < end {
        let log = tracker.stderr_lines();
        assert!(
            !log.iter().any(|line| line.contains(FORGOTTEN)),
            "forgotten during the pause:\n{}",
            log.join("\n")
        );
        thread::sleep(POLL_INTERVAL);
    }
    hand.send_line("SEARCH: x.txt");
    let found = wait_for("a second FOUND after the pause", || {
        let lines = hand.stdout_lines();
        match lines.iter().filter(|l| l.starts_with("FOUND:")).nth(1) {
            Some(line) => Ok(line.clone()),
            None => Err(lines.join("\n")),
        }
    });
    assert!(found.contains(&port.to_string()), "{found}");
    tracker.kill();
}

// The reason the README says `nc -lk`: a plain `nc -l` exits after the
// tracker's first check, and the next check forgets the session.
#[test]
fn a_session_whose_listener_is_plain_nc_l_is_forgotten() {
    if !nc_is_installed() {
        return;
    }
    let net = Net::new("readme_nc_l", &["peer1"]);
    let mut tracker = net.start_tracker(&["--heartbeat", HEARTBEAT]);
    let (_listener, _hand, _port) = join_by_hand(&net, "-l");
    let line = wait_for_within(
        PAUSE + Duration::from_secs(5),
        "the session forgotten",
        || {
            let log = tracker.stderr_lines();
            log.iter()
                .find(|line| line.contains(FORGOTTEN))
                .cloned()
                .ok_or_else(|| log.join("\n"))
        },
    );
    assert!(line.contains("nothing answers at"), "{line}");
    tracker.kill();
}
