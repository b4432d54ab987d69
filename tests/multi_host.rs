//! The system across machines: a tracker and peers on separate hosts of a
//! small simulated lab (see `tests/common/netns.rs`: one network namespace
//! per machine, all plugged into one switch), running the real binaries.
//!
//! Every other test file runs everything on 127.0.0.1, where the tracker
//! sees each peer come from the address it announces, nothing is ever
//! unplugged and a connection always ends with a word from the kernel.
//! Here each machine has its own addresses, and the tests do what happens
//! in a real lab: IPv6, a tracker listening on every address, host names,
//! a peer started on the wrong machine, a machine with two addresses, a pulled cable, a tracker machine that
//! loses power, a receiver that vanishes in the middle of an upload, and a
//! tracker that answers late.
//!
//! The lab: the tracker is 10.77.0.1 (fd00:77::1), peerN is 10.77.0.(N+1)
//! (fd00:77::(N+1)); the tracker listens on port 5000, peerN on 500N. Each
//! machine has its own ports, so the ports are fixed, and every test builds
//! its own lab, so the addresses are the same in every test.
//!
//! Needs root and the `ip` command: without them each test prints one line
//! saying why it did not run, and passes.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::netns::{wait_line_after, Lab, DEVICE};
use common::*;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `--heartbeat` of the tests about liveness, in seconds: short, so
/// that a vanished machine is noticed within seconds.
const HEARTBEAT: u64 = 1;

/// The longest pause between two tries of a peer to rejoin its tracker
/// (`MAX_RETRY_PAUSE` in `src/peer/tracker_session/mod.rs`).
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// Time allowed on top of every bound we check: starting processes and
/// polling every 20 ms on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

/// How long a transfer may make no progress before it is abandoned
/// (`STALL_TIMEOUT`), and the bound the sender must keep.
const STALL_ABANDONED_WITHIN: Duration = Duration::from_secs(35);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------
// The lab's machines and its settings file
// ---------------------------------------------------------------------------

/// The number of a machine: 1 for the tracker, N + 1 for peerN.
fn host_number(id: &str) -> u16 {
    match id.strip_prefix("peer").and_then(|n| n.parse::<u16>().ok()) {
        Some(n) => n + 1,
        None if id == "tracker" => 1,
        None => panic!("no machine {id:?} in the lab"),
    }
}

fn ipv4(id: &str) -> String {
    format!("10.77.0.{}", host_number(id))
}

fn ipv6(id: &str) -> String {
    format!("fd00:77::{}", host_number(id))
}

/// The port a machine's program listens on: 5000 for the tracker, 500N
/// for peerN.
fn port(id: &str) -> u16 {
    4999 + host_number(id)
}

/// `ip:port` as a program prints it (IPv6 in brackets).
fn addr(ip: &str, id: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{}", port(id))
    } else {
        format!("{ip}:{}", port(id))
    }
}

/// A lab with these machines (see [`add_machine`]); `None` (after one line
/// saying why) when no lab can be built here.
fn build_lab(test: &str, hosts: &[&str]) -> Option<Lab> {
    let mut lab = Lab::new(test)?;
    for host in hosts {
        add_machine(&mut lab, host);
    }
    Some(lab)
}

/// Adds machine `host` to the lab, with its IPv4 and its IPv6 address.
fn add_machine(lab: &mut Lab, host: &str) {
    lab.add_host(
        host,
        &[&format!("{}/24", ipv4(host)), &format!("{}/64", ipv6(host))],
    );
}

/// Writes a settings file as a teacher would for the whole lab: one line
/// per machine, `id address port`, the address given by `address`.
fn write_settings(
    lab: &Lab,
    file: &str,
    hosts: &[&str],
    address: impl Fn(&str) -> String,
) -> PathBuf {
    let mut text = String::from("# The lab: one line per machine, with that machine's address.\n");
    for id in hosts {
        text.push_str(&format!("{id} {} {}\n", address(id), port(id)));
    }
    let path = lab.path(file);
    fs::write(&path, text).expect("write the settings file");
    path
}

/// Puts a file in a peer's served folder; returns its path.
fn share(lab: &Lab, id: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = lab.path(id);
    fs::create_dir_all(&dir).expect("create the served folder");
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write a shared file");
    path
}

// ---------------------------------------------------------------------------
// The programs, each on its machine
// ---------------------------------------------------------------------------

/// Starts the tracker on its machine and waits until it listens.
fn start_tracker(lab: &Lab, settings: &Path, extra: &[&str]) -> Node {
    let mut args = vec!["--settings".to_string(), path_arg(settings)];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut tracker = lab.spawn("tracker", "tracker", TRACKER_BIN, &args);
    tracker.wait_for_log("the tracker listening", |l| l.contains("listening on"));
    tracker
}

/// Starts peer `id` on its own machine, serving `<lab>/<id>`, and waits
/// until it serves. (Whether it joined is for the test to check.)
fn start_peer(lab: &Lab, id: &str, settings: &Path, extra: &[&str]) -> Node {
    let dir = lab.path(id);
    fs::create_dir_all(&dir).expect("create the served folder");
    let mut args = vec![
        id.to_string(),
        "--settings".into(),
        path_arg(settings),
        "--dir".into(),
        path_arg(&dir),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut peer = lab.spawn(id, id, PEER_BIN, &args);
    peer.wait_for_log("the peer serving", |l| l.contains("serving "));
    peer
}

/// Waits for a peer's first "joined the tracker" line.
fn wait_joined(peer: &mut Node) -> String {
    peer.wait_for_log("its join confirmed", |l| {
        l.contains("joined the tracker at")
    })
}

/// `search NAME` in a peer's shell: the lines it printed.
fn search(peer: &mut Node, name: &str) -> Vec<String> {
    run(peer, &format!("search {name}"))
}

/// Asserts that no line `node` printed so far (results or log) contains
/// `text`.
fn assert_never_printed(node: &Node, text: &str, why: &str) {
    let lines = node.all_lines();
    assert!(
        !lines.iter().any(|l| l.contains(text)),
        "{why}; {} printed:\n{}",
        node.name,
        lines.join("\n")
    );
}

/// Asserts that the file at `copy` holds exactly `original`'s bytes.
fn assert_same_file(copy: &Path, original: &[u8]) {
    let got = fs::read(copy).unwrap_or_else(|e| panic!("read {}: {e}", copy.display()));
    assert_eq!(got.len(), original.len(), "{}: size", copy.display());
    assert!(got == original, "{}: the bytes differ", copy.display());
}

// ---------------------------------------------------------------------------
// The core protocol across machines, and the addresses a lab has
// ---------------------------------------------------------------------------

#[test]
fn peers_on_separate_machines_join_search_download_and_fetch() {
    let hosts = ["tracker", "peer1", "peer2", "peer3"];
    let Some(lab) = build_lab("multi_host_core", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    let notes = text_bytes(5000);
    let lecture = pattern_bytes(250_000);
    share(&lab, "peer1", "notes.txt", &notes);
    share(&lab, "peer1", "lecture.bin", &lecture);
    share(&lab, "peer3", "lecture.bin", &lecture);
    share(&lab, "peer2", "own.txt", b"peer2 has a file of its own");

    let mut tracker = start_tracker(&lab, &settings, &[]);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &["--serve"]);
    let mut peer3 = start_peer(&lab, "peer3", &settings, &["--serve"]);
    let mut peer2 = start_peer(&lab, "peer2", &settings, &[]);
    for peer in [&mut peer1, &mut peer2, &mut peer3] {
        wait_joined(peer);
    }
    // The tracker saw each peer come from its own machine's address.
    for id in ["peer1", "peer2", "peer3"] {
        let joined = format!("join {id} ({})", addr(&ipv4(id), id));
        tracker.wait_for_log(&joined, |l| l.contains(&joined));
    }

    let found = search(&mut peer2, "notes.txt");
    let peer1_at = format!("peer1 ({})", addr(&ipv4("peer1"), "peer1"));
    find_line(&found, "peer1 as the holder", |l| {
        l.starts_with("1. ") && l.contains(&peer1_at) && l.contains("5000 bytes")
    });

    let downloaded = run(&mut peer2, "download notes.txt");
    find_line(&downloaded, "the download from peer1", |l| {
        l.starts_with("downloaded notes.txt (5000 bytes)") && l.contains(&peer1_at)
    });
    assert_same_file(&lab.path("peer2").join("notes.txt"), &notes);

    // One file from two machines at once: each sends part of the chunks.
    let fetched = run(&mut peer2, "fetch lecture.bin peer1 peer3");
    find_line(&fetched, "the fetch finished", |l| {
        l.starts_with("fetched lecture.bin (250000 bytes)")
    });
    for id in ["peer1", "peer3"] {
        let sender = format!("{id} ({}) sent ", addr(&ipv4(id), id));
        let line = find_line(&fetched, &format!("chunks from {id}"), |l| {
            l.contains(&sender)
        });
        assert!(!line.contains(" sent 0 "), "{id} sent nothing: {line}");
    }
    assert_same_file(&lab.path("peer2").join("lecture.bin"), &lecture);
}

/// A tracker and two peers whose settings name IPv6 addresses, written by
/// `address`: peer2 finds and downloads peer1's file.
fn ipv6_lab(test: &str, address: impl Fn(&str) -> String) {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(lab) = build_lab(test, &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, address);
    let content = all_byte_values();
    share(&lab, "peer1", "bytes.bin", &content);
    share(&lab, "peer2", "own.txt", b"peer2's file");
    let _tracker = start_tracker(&lab, &settings, &[]);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &["--serve"]);
    let mut peer2 = start_peer(&lab, "peer2", &settings, &[]);
    let tracker_at = addr(&ipv6("tracker"), "tracker");
    for peer in [&mut peer1, &mut peer2] {
        let joined = wait_joined(peer);
        assert!(joined.contains(&tracker_at), "joined over IPv6: {joined}");
    }
    let peer1_at = addr(&ipv6("peer1"), "peer1");
    let found = search(&mut peer2, "bytes.bin");
    find_line(&found, "peer1's IPv6 address", |l| l.contains(&peer1_at));
    let downloaded = run(&mut peer2, "download bytes.bin");
    find_line(&downloaded, "the download over IPv6", |l| {
        l.starts_with("downloaded bytes.bin") && l.contains(&peer1_at)
    });
    assert_same_file(&lab.path("peer2").join("bytes.bin"), &content);
}

#[test]
fn ipv6_addresses_in_the_settings_file() {
    ipv6_lab("multi_host_ipv6", ipv6);
}

#[test]
fn bracketed_ipv6_addresses_in_the_settings_file() {
    ipv6_lab("multi_host_ipv6_brackets", |id| format!("[{}]", ipv6(id)));
}

#[test]
fn a_tracker_listening_on_every_address_accepts_ipv4_peers() {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(lab) = build_lab("multi_host_any_address", &hosts) else {
        return;
    };
    // The tracker's machine listens on `::`, every address (IPv6 and, on
    // Linux, IPv4 too). It sees an IPv4 peer as ::ffff:10.77.0.2, and must
    // take that for the 10.77.0.2 the peer announces.
    let tracker_settings = lab.path("tracker_settings.txt");
    fs::write(
        &tracker_settings,
        format!("tracker :: {}\n", port("tracker")),
    )
    .expect("write the tracker's settings");
    // The peers' file names the tracker's real address.
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    share(&lab, "peer1", "shared.txt", b"shared over IPv4");
    share(&lab, "peer2", "own.txt", b"peer2's file");
    let _tracker = start_tracker(&lab, &tracker_settings, &[]);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &["--serve"]);
    let mut peer2 = start_peer(&lab, "peer2", &settings, &[]);
    wait_joined(&mut peer1);
    wait_joined(&mut peer2);
    // The records carry the IPv4 address, not the mapped IPv6 form.
    let found = search(&mut peer2, "shared.txt");
    let at = addr(&ipv4("peer1"), "peer1");
    find_line(&found, "peer1 at its IPv4 address", |l| l.contains(&at));
}

#[test]
fn host_names_in_the_settings_file() {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(lab) = build_lab("multi_host_names", &hosts) else {
        return;
    };
    // The lab's names, as its DNS or each machine's /etc/hosts has them.
    let name = |id: &str| format!("lab-{id}.p2p-test");
    let mut hosts_file = String::from("127.0.0.1 localhost\n");
    for id in hosts {
        hosts_file.push_str(&format!("{} {}\n", ipv4(id), name(id)));
    }
    for id in hosts {
        lab.write_hosts_file(id, &hosts_file);
    }
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, name);
    share(&lab, "peer1", "named.txt", b"found by name");
    share(&lab, "peer2", "own.txt", b"peer2's file");
    let mut tracker = start_tracker(&lab, &settings, &[]);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &["--serve"]);
    let mut peer2 = start_peer(&lab, "peer2", &settings, &[]);
    wait_joined(&mut peer1);
    wait_joined(&mut peer2);
    // Names are resolved once, at start: records always carry an IP.
    let at = addr(&ipv4("peer1"), "peer1");
    tracker.wait_for_log("peer1's join at its IP", |l| {
        l.contains("join peer1") && l.contains(&at)
    });
    let found = search(&mut peer2, "named.txt");
    find_line(&found, "peer1 at its IP", |l| l.contains(&at));
}

#[test]
fn a_peer_started_on_the_wrong_machine_names_the_missing_address() {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(lab) = build_lab("multi_host_wrong_machine", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    share(&lab, "peer1", "own.txt", b"peer1's file");
    // A student starts peer1 on peer2's machine: peer1's line names an
    // address this machine does not have, so it cannot listen there.
    let args = [
        "peer1".to_string(),
        "--settings".into(),
        path_arg(&settings),
        "--dir".into(),
        path_arg(&lab.path("peer1")),
        "--serve".into(),
    ];
    let mut peer = lab.spawn("peer2", "peer1 on peer2's machine", PEER_BIN, &args);
    assert!(!peer.wait_exit().success(), "it must stop with an error");
    let missing = format!("this machine has no address {}", ipv4("peer1"));
    let stderr = peer.stderr_lines().join("\n");
    assert!(
        stderr.contains(&missing),
        "the error names the address it lacks ({missing:?}):\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// A refused peer is told so
// ---------------------------------------------------------------------------

/// Starts peer2, whose settings line names its machine's second address;
/// returns the line where it says it was refused and the tracker's log
/// line of the refusal, after checking that the peer never said "joined".
fn refused_peer(lab: &Lab, settings: &Path, tracker: &mut Node) -> (String, String) {
    let mut peer2 = start_peer(lab, "peer2", settings, &["--serve"]);
    let refused = peer2.wait_for_log("that it was refused", |l| l.contains("refused"));
    let logged = tracker.wait_for_log("the refusal in the tracker's log", |l| {
        l.contains("] refused ")
    });
    assert_never_printed(
        &peer2,
        "joined the tracker",
        "a refused peer must not say it joined",
    );
    (refused, logged)
}

#[test]
fn a_peer_announcing_another_address_of_its_machine_is_told_it_was_refused() {
    let Some(mut lab) = build_lab("multi_host_two_addresses", &["tracker"]) else {
        return;
    };
    // peer2's machine has two addresses; the teacher wrote the second one
    // in the settings file. The peer can serve on it, but its connection
    // to the tracker leaves from the first (the system picks the source
    // address, and std cannot choose it), so the tracker sees a peer
    // announcing an address that is not the one it comes from.
    let first = ipv4("peer2");
    let second = "10.77.0.103";
    lab.add_host("peer2", &[&format!("{first}/24"), &format!("{second}/24")]);
    let settings = write_settings(&lab, "lab_settings.txt", &["tracker", "peer2"], |id| {
        if id == "peer2" {
            second.to_string()
        } else {
            ipv4(id)
        }
    });
    share(&lab, "peer2", "own.txt", b"peer2's file");

    // A tracker that keeps the core protocol's silence: the peer can only
    // guess, and names both addresses.
    let mut tracker = start_tracker(&lab, &settings, &[]);
    let (refused, _) = refused_peer(&lab, &settings, &mut tracker);
    assert!(
        refused.contains(&first) && refused.contains(second),
        "the refusal names both addresses: {refused}"
    );
    drop(tracker);

    // With --explain the tracker says why, and the peer prints it.
    let mut tracker = start_tracker(&lab, &settings, &["--explain"]);
    let (refused, logged) = refused_peer(&lab, &settings, &mut tracker);
    // The log line is `[time tracker] refused IP:PORT: REASON`.
    let reason = logged
        .split_once("] refused ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(_, reason)| reason)
        .unwrap_or_else(|| panic!("a reason in the log line: {logged}"));
    assert!(
        refused.contains(reason),
        "the peer prints the reason the tracker gave ({reason:?}): {refused}"
    );
}

// ---------------------------------------------------------------------------
// Machines that vanish without a word
// ---------------------------------------------------------------------------

#[test]
fn a_pulled_cable_is_forgotten_within_three_heartbeats_and_a_rebooted_peer_replaces_its_session() {
    let hosts = ["tracker", "peer1", "peer2", "peer3"];
    let Some(lab) = build_lab("multi_host_cable", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    let beat = HEARTBEAT.to_string();
    let heartbeat = ["--heartbeat", beat.as_str()];
    share(&lab, "peer1", "own.txt", b"peer1's file");
    share(
        &lab,
        "peer2",
        "cable.txt",
        b"on the machine whose cable is pulled",
    );
    let mut tracker = start_tracker(&lab, &settings, &heartbeat);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &heartbeat);
    let serve_args = ["--serve", "--heartbeat", beat.as_str()];
    let mut peer2 = start_peer(&lab, "peer2", &settings, &serve_args);
    // peer3 speaks only the core protocol (no heartbeat): silent after its
    // join, for as long as it likes. Its machine stays up, so the tracker's
    // checks (a connection to its port) find it, and it must stay listed.
    share(&lab, "peer3", "quiet.txt", b"on a quiet machine");
    let mut peer3 = start_peer(&lab, "peer3", &settings, &["--serve", "--heartbeat", "0"]);
    for peer in [&mut peer1, &mut peer2, &mut peer3] {
        wait_joined(peer);
    }
    let peer2_at = addr(&ipv4("peer2"), "peer2");
    let found = search(&mut peer1, "cable.txt");
    find_line(&found, "peer2 as the holder", |l| l.contains(&peer2_at));

    // Pull peer2's cable: nothing at all reaches the tracker any more. Its
    // last sign of life (a heartbeat) was at most a heartbeat ago, and the
    // tracker forgets it within three heartbeats of it.
    let from = tracker.stderr_lines().len();
    lab.cable("peer2", false);
    let pulled = Instant::now();
    let within = 3 * secs(HEARTBEAT) + SLACK;
    let (leave, seen) = wait_line_after(
        &mut tracker,
        Node::stderr_lines,
        from,
        within,
        "peer2 forgotten",
        |l| l.contains("] leave peer2"),
    );
    eprintln!("cable pulled: forgotten after {:?}: {leave}", seen - pulled);
    let found = search(&mut peer1, "cable.txt");
    find_line(&found, "cable.txt no longer found", |l| {
        l.starts_with("not found")
    });

    // Plug it back in: peer2 finds it lost the tracker and rejoins by
    // itself (it pauses at most MAX_RETRY_PAUSE between tries).
    let from = peer2.stderr_lines().len();
    lab.cable("peer2", true);
    let within = 3 * secs(HEARTBEAT) + MAX_RETRY_PAUSE + SLACK;
    wait_line_after(
        &mut peer2,
        Node::stderr_lines,
        from,
        within,
        "its rejoin",
        |l| l.contains("rejoined the tracker"),
    );
    let found = search(&mut peer1, "cable.txt");
    find_line(&found, "peer2 listed again", |l| l.contains(&peer2_at));

    // Now peer2's machine reboots while unplugged: the peer dies without a
    // word reaching the tracker, and starts again, from the same address
    // and port, with other files, before the tracker forgot it. The
    // tracker must close the dead session at once and replace its records.
    let from = tracker.stderr_lines().len();
    lab.cable("peer2", false);
    peer2.kill();
    fs::remove_file(lab.path("peer2").join("cable.txt")).expect("remove a file");
    share(&lab, "peer2", "after-reboot.txt", b"a new file");
    lab.cable("peer2", true);
    let _peer2 = start_peer(&lab, "peer2", &settings, &serve_args);
    let (join, _) = wait_line_after(
        &mut tracker,
        Node::stderr_lines,
        from,
        secs(5),
        "peer2's new join",
        |l| l.contains("] join peer2"),
    );
    assert!(
        join.contains("older session closed"),
        "the tracker closes the rebooted peer's old session at once: {join}\n{}",
        tracker.stderr_lines()[from..].join("\n")
    );
    let found = search(&mut peer1, "after-reboot.txt");
    find_line(&found, "peer2's new file", |l| l.contains(&peer2_at));
    let found = search(&mut peer1, "cable.txt");
    find_line(&found, "the old records gone", |l| {
        l.starts_with("not found")
    });

    // The quiet peer has said nothing since before the cable was pulled:
    // longer than peer2 took to be forgotten. It was checked, and kept.
    let found = search(&mut peer1, "quiet.txt");
    let peer3_at = addr(&ipv4("peer3"), "peer3");
    find_line(&found, "the quiet peer still listed", |l| {
        l.contains(&peer3_at)
    });
    assert_never_printed(
        &tracker,
        "leave peer3",
        "a quiet peer on a live machine is kept",
    );
}

#[test]
fn idle_peers_rejoin_a_tracker_whose_machine_lost_power() {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(mut lab) = build_lab("multi_host_power_cut", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    let beat = HEARTBEAT.to_string();
    let heartbeat = ["--heartbeat", beat.as_str()];
    share(&lab, "peer1", "one.txt", b"peer1's file");
    share(&lab, "peer2", "two.txt", b"peer2's file");
    let mut tracker = start_tracker(&lab, &settings, &heartbeat);
    // Nobody types anything into these peers until the end.
    let mut peer1 = start_peer(&lab, "peer1", &settings, &heartbeat);
    let mut peer2 = start_peer(&lab, "peer2", &settings, &["--serve", "--heartbeat", &beat]);
    wait_joined(&mut peer1);
    wait_joined(&mut peer2);

    // The power cut: the tracker's cable dies first, so that not even the
    // kernel's closing of its connections reaches the peers, then the
    // machine is gone. The peers only notice by their heartbeats: the next
    // one leaves at most a heartbeat after the last answer, and the
    // tracker is given up three heartbeats after that.
    let from = [peer1.stderr_lines().len(), peer2.stderr_lines().len()];
    let cut = Instant::now();
    lab.power_off("tracker");
    tracker.kill();
    let within = 4 * secs(HEARTBEAT) + SLACK;
    for (peer, from) in [&mut peer1, &mut peer2].into_iter().zip(from) {
        let (_, seen) = wait_line_after(
            peer,
            Node::stderr_lines,
            from,
            within,
            "that it lost the tracker",
            |l| l.contains("notice: lost the connection to the tracker"),
        );
        eprintln!("power cut: {} noticed after {:?}", peer.name, seen - cut);
    }

    // The machine stays off until peer1 has tried to join it and failed
    // (its `search` says so; a failed try after the notice of the loss
    // prints nothing new): the peers are trying when it comes back.
    wait_for_within(secs(10) + SLACK, "peer1's failed try to rejoin", || {
        let out = search(&mut peer1, "two.txt");
        match out.iter().any(|l| l.contains("the last try failed")) {
            true => Ok(()),
            false => Err(format!("search printed {out:?}")),
        }
    });

    // The machine comes back, empty, and the tracker starts again.
    let from = [peer1.stderr_lines().len(), peer2.stderr_lines().len()];
    add_machine(&mut lab, "tracker");
    let _tracker = start_tracker(&lab, &settings, &heartbeat);
    let restarted = Instant::now();
    let within = MAX_RETRY_PAUSE + SLACK;
    for (peer, from) in [&mut peer1, &mut peer2].into_iter().zip(from) {
        let (_, seen) = wait_line_after(
            peer,
            Node::stderr_lines,
            from,
            within,
            "that it rejoined",
            |l| l.contains("notice: rejoined the tracker"),
        );
        eprintln!(
            "power cut: {} rejoined {:?} after the tracker restarted",
            peer.name,
            seen - restarted
        );
    }
    let found = search(&mut peer1, "two.txt");
    let at = addr(&ipv4("peer2"), "peer2");
    find_line(&found, "peer2 in the new tracker's index", |l| {
        l.contains(&at)
    });
}

/// The slowest test of the file (about 33 s: the stall time-out is 30 s);
/// the others run beside it, so the whole file takes about 40 s.
#[test]
fn a_stalled_upload_is_abandoned_by_the_sender_within_35_s() {
    let hosts = ["tracker", "peer1", "peer2"];
    let Some(lab) = build_lab("multi_host_stalled_upload", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    // A slow line out of peer1's machine (2.5 MB/s), so that the upload is
    // still going when the receiver's cable is pulled. Without the `tbf`
    // queue, a bigger file gives the same time.
    let throttled = lab
        .run_in(
            "peer1",
            "tc",
            &[
                "qdisc", "add", "dev", DEVICE, "root", "tbf", "rate", "20mbit", "burst", "32kb",
                "latency", "100ms",
            ],
        )
        .map_err(|e| eprintln!("no slow line ({e}): a bigger file instead"))
        .is_ok();
    let size = if throttled { 8 << 20 } else { 512 << 20 };
    share(&lab, "peer1", "big.bin", &pattern_bytes(size));
    share(&lab, "peer2", "own.txt", b"peer2's file");
    let _tracker = start_tracker(&lab, &settings, &[]);
    let mut peer1 = start_peer(&lab, "peer1", &settings, &[]);
    let _peer2 = start_peer(&lab, "peer2", &settings, &["--serve"]);

    let from = peer1.stdout_lines().len();
    peer1.send_line("upload big.bin peer2");
    // Once the receiver has part of the file, its machine vanishes.
    let partial_grew = || {
        fs::read_dir(lab.path("peer2"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".p2p-partial")
                    && entry.metadata().is_ok_and(|m| m.len() >= 256 << 10)
            })
    };
    wait_until("peer2 receiving part of big.bin", partial_grew);
    lab.cable("peer2", false);
    let pulled = Instant::now();
    let (failed, seen) = wait_line_after(
        &mut peer1,
        Node::stdout_lines,
        from,
        STALL_ABANDONED_WITHIN + secs(10),
        "the upload's failure",
        |l| l.starts_with("peer2: "),
    );
    let took = seen - pulled;
    eprintln!("stalled upload: the sender gave up after {took:?}: {failed}");
    assert!(failed.contains("error"), "the upload must fail: {failed}");
    assert!(
        took <= STALL_ABANDONED_WITHIN,
        "the sender must give up within {STALL_ABANDONED_WITHIN:?} of the stall, took {took:?}: {failed}"
    );
}

// ---------------------------------------------------------------------------
// A late reply from the tracker
// ---------------------------------------------------------------------------

/// Set for the copy of this test program that plays the fake tracker: the
/// address it listens on.
const FAKE_TRACKER_ENV: &str = "P2P_LAB_FAKE_TRACKER";

/// Not a check: the fake tracker of the next test. That test runs this
/// test program again, inside the tracker's machine, with only this test
/// selected and `P2P_LAB_FAKE_TRACKER` set. Run any other way, it does
/// nothing.
///
/// It speaks the tracker's side of the protocol for one peer, and answers
/// at once, in order, except the first SEARCH: that answer is held back
/// until the peer sends its next SEARCH (so the peer's first request has
/// surely given up by then), and then sent first, as a slow tracker's late
/// reply would arrive. The answer to search number N is a file of
/// N * 111 bytes, so the peer's output shows which answer it printed.
#[test]
fn fake_tracker_for_the_late_reply_test() {
    let Ok(listen_on) = std::env::var(FAKE_TRACKER_ENV) else {
        return;
    };
    let listener = TcpListener::bind(&listen_on).expect("fake tracker: bind");
    println!("fake tracker listening on {listen_on}");
    let (stream, _) = listener.accept().expect("fake tracker: accept");
    let mut out = stream.try_clone().expect("fake tracker: clone the socket");
    let mut searches = 0;
    let mut held: Option<Vec<String>> = None;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        println!("fake tracker <- {line}");
        let reply = match line.as_str() {
            "HELLO" => "HI".to_string(),
            "PING" => "PONG".to_string(),
            "BYE" => break,
            line if line.starts_with("SEARCH: ") => {
                searches += 1;
                let holder = format!("{}, {}", ipv4("peer2"), port("peer2"));
                let answer = format!("FOUND: <txt, {}, 01/01/26, {holder}>", searches * 111);
                if searches == 1 {
                    held = Some(Vec::new());
                } else if let Some(late) = held.take() {
                    // The next request is here: the late replies go first.
                    for reply in late {
                        println!("fake tracker -> {reply} (late)");
                        writeln!(out, "{reply}").expect("fake tracker: send");
                    }
                }
                answer
            }
            // The records line: accepted without a word.
            _ => continue,
        };
        match held.as_mut() {
            Some(late) => late.push(reply),
            None => {
                println!("fake tracker -> {reply}");
                writeln!(out, "{reply}").expect("fake tracker: send");
            }
        }
    }
}

#[test]
fn a_late_tracker_reply_does_not_answer_the_next_request() {
    let hosts = ["tracker", "peer1"];
    let Some(lab) = build_lab("multi_host_late_reply", &hosts) else {
        return;
    };
    let settings = write_settings(&lab, "lab_settings.txt", &hosts, ipv4);
    share(&lab, "peer1", "own.txt", b"peer1's file");
    // This test program, again, in the tracker's machine: the fake tracker.
    let this_program = std::env::current_exe().expect("the test program's path");
    let fake = vec![
        format!("{FAKE_TRACKER_ENV}={}", addr(&ipv4("tracker"), "tracker")),
        path_arg(&this_program),
        "fake_tracker_for_the_late_reply_test".into(),
        "--exact".into(),
        "--nocapture".into(),
    ];
    let mut tracker = lab.spawn("tracker", "fake tracker", "env", &fake);
    tracker.wait_for_output("the fake tracker listening", |l| {
        l.contains("fake tracker listening")
    });
    // A request waits two heartbeats for its reply; the tracker is given
    // up after three. 2 s: the late reply comes after 4 s, well before 6.
    let mut peer1 = start_peer(&lab, "peer1", &settings, &["--heartbeat", "2"]);
    wait_joined(&mut peer1);

    let first = search(&mut peer1, "first.txt");
    find_line(&first, "the first search giving up", |l| {
        l.contains("error")
    });
    let second = search(&mut peer1, "second.txt");
    assert!(
        second.iter().any(|l| l.contains("222 bytes")) && !second.iter().any(|l| l.contains("111")),
        "the second search must print its own answer (222 bytes), not the first one's \
         (111 bytes):\n{}",
        second.join("\n")
    );
    let third = search(&mut peer1, "third.txt");
    find_line(&third, "the third answer (333 bytes)", |l| {
        l.contains("333 bytes")
    });
    assert_never_printed(&peer1, "notice: lost", "a late reply is not a lost tracker");
    // The first answer did reach the peer: the fake tracker sent it.
    tracker.wait_for_output("the late reply sent", |l| l.contains("(late)"));
}
