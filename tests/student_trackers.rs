//! Black-box tests of our peer against trackers written the way students
//! write them: each fake is a small std TCP server on the port the peer's
//! settings file names for the tracker, with one fault of a real student
//! tracker, and everything else right. For each: what our peer does with
//! default flags (joins and finds a file, or backs off and says why), and
//! with `--heartbeat 0`.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the back-off test counts a peer's connections. No option
/// shortens the pauses, so the test takes this long.
const COUNT_FOR: Duration = Duration::from_secs(30);

/// The worker threads of the core-only tracker.
const POOL: usize = 4;

/// Counts the connections a fake accepted.
type Count = Arc<AtomicUsize>;

/// Accepts connections for ever, counts them, and hands each to `serve`
/// in a thread of its own.
fn serve_all(listener: TcpListener, serve: fn(TcpStream)) -> Count {
    let count = Count::default();
    let counter = Arc::clone(&count);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || serve(stream));
        }
    });
    count
}

/// The one record of a join line, as a location record, with its name;
/// `None` unless the line holds exactly one record.
fn one_record(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let inner = line.strip_prefix('<')?.strip_suffix('>')?;
    if inner.contains('<') {
        return None;
    }
    let (name, rest) = inner.split_once(',')?;
    Some((name.trim().to_string(), format!("<{}>", rest.trim())))
}

/// The records every session of the core-only tracker shares.
type Index = Arc<Mutex<HashMap<String, String>>>;

/// A tracker that keeps the core rules: lines ending in `\n`, HI, an exact
/// `FOUND:` for one holder. Its faults: it takes one record a line (a join
/// of two records is refused: closed), it ignores `PING` and every line it
/// does not know, and a session that ends without `BYE` keeps its worker
/// for ever, out of a pool of [`POOL`].
fn core_only_tracker(listener: TcpListener) -> Count {
    let count = Count::default();
    let (queue, work) = mpsc::channel::<TcpStream>();
    let work = Arc::new(Mutex::new(work));
    let index = Index::default();
    for _ in 0..POOL {
        let (work, index) = (Arc::clone(&work), Arc::clone(&index));
        thread::spawn(move || core_worker(&work, &index));
    }
    let counter = Arc::clone(&count);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            if queue.send(stream).is_err() {
                return;
            }
        }
    });
    count
}

fn core_worker(work: &Mutex<Receiver<TcpStream>>, index: &Index) {
    loop {
        let stream = match work.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(stream) => stream,
            Err(_) => return,
        };
        if !core_session(stream, index) {
            // Ended without BYE: this worker is lost, as in the student's
            // tracker (its thread spins on the closed socket).
            loop {
                thread::park();
            }
        }
    }
}

/// One session; true when it ended with BYE or a refusal.
fn core_session(stream: TcpStream, index: &Index) -> bool {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut lines = BufReader::new(stream).lines();
    let mut next = || lines.next().and_then(|line| line.ok());
    if next().as_deref() != Some("HELLO") || writer.write_all(b"HI\n").is_err() {
        return true;
    }
    let Some((name, location)) = next().as_deref().and_then(one_record) else {
        return true; // refused: closed without a word
    };
    index
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.clone(), location);
    while let Some(line) = next() {
        if line == "BYE" {
            index
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&name);
            return true;
        }
        if let Some(wanted) = line.strip_prefix("SEARCH: ") {
            let found = index
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(wanted)
                .cloned();
            let answer = match found {
                Some(location) => format!("FOUND: {location}\n"),
                None => "NOT FOUND\n".to_string(),
            };
            let _ = writer.write_all(answer.as_bytes());
        }
        // PING and anything else: ignored.
    }
    false
}

/// A tracker that compares each whole read with `HELLO`: `HELLO\n` is never
/// answered. (A bare `HELLO` would get `HI` without `\n`.)
fn bare_hello_session(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        if &buf[..n] == b"HELLO" {
            let _ = stream.write_all(b"HI");
        }
    }
}

/// A tracker that closes every connection at once, unread.
fn closing_session(stream: TcpStream) {
    drop(stream);
}

/// A test network with `files` in peer1's folder, and `fake` on the
/// tracker's port.
fn network(name: &str, files: &[&str], fake: impl FnOnce(TcpListener) -> Count) -> (Net, Count) {
    // The port was free when it was picked; another test run on the same
    // machine may take it meanwhile, so a network whose port went is made
    // anew, a few times at most.
    let (net, listener) = (0..5)
        .find_map(|_| {
            let net = Net::new(name, &["peer1", "peer2"]);
            let listener = TcpListener::bind(("127.0.0.1", net.tracker_port)).ok()?;
            Some((net, listener))
        })
        .expect("bind the fake on a free port");
    for file in files {
        net.put("peer1", file, format!("the file {file}").as_bytes());
    }
    let count = fake(listener);
    (net, count)
}

#[test]
fn a_core_only_tracker_that_ignores_ping_is_joined_and_finds_files() {
    let (net, _count) = network("core_only_joined", &["a.txt"], core_only_tracker);
    net.put("peer2", "b.txt", b"peer2's file");
    // peer1 sends no PING at all; peer2 has the default flags.
    let mut peer1 = net.start_peer("peer1", true, &["--heartbeat", "0"]);
    let mut peer2 = net.start_peer("peer2", false, &[]);
    let line = peer2.wait_for_log("its join, and what it concluded", |l| {
        l.contains("joined the tracker")
    });
    assert!(
        line.contains("does not answer PING, so no heartbeats"),
        "the peer says once why it sends no heartbeats: {line}"
    );
    let line = peer1.wait_for_log("its join", |l| l.contains("joined the tracker"));
    assert!(!line.contains("PING"), "it was told to send none: {line}");
    let out = run(&mut peer2, "search a.txt");
    let port = net.port("peer1").to_string();
    find_line(&out, "peer1 as the holder of a.txt", |l| {
        l.starts_with("1.") && l.contains(&port)
    });
    let said = peer2
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("PING"))
        .count();
    assert_eq!(said, 1, "said once:\n{}", peer2.stderr_lines().join("\n"));
}

#[test]
fn a_tracker_that_never_answers_a_hello_line_is_not_joined_and_the_peer_says_why() {
    let (net, _count) = network("bare_hello", &["a.txt"], |l| {
        serve_all(l, bare_hello_session)
    });
    let peer = net.start_peer("peer1", true, &[]);
    // The greeting waits 10 s for HI, longer than a wait of the helpers.
    let line = wait_for_within(Duration::from_secs(20), "why it cannot join", || {
        let log = peer.stderr_lines();
        log.iter()
            .find(|l| l.contains("cannot join"))
            .cloned()
            .ok_or_else(|| log.join("\n"))
    });
    println!("{line}");
    assert!(
        line.contains("did not answer HELLO with HI") && line.contains("trying again"),
        "{line}"
    );
}

/// The connections each peer opened in [`COUNT_FOR`], and its log.
fn count_tries(peers: &mut [(Node, Count)]) -> Vec<(usize, Vec<String>)> {
    let start = Instant::now();
    while start.elapsed() < COUNT_FOR {
        thread::sleep(POLL_INTERVAL);
    }
    peers
        .iter_mut()
        .map(|(peer, count)| (count.load(Ordering::SeqCst), peer.stderr_lines()))
        .collect()
}

/// A back-off case.
struct Case {
    name: &'static str,
    fake: fn(TcpListener) -> Count,
    flags: &'static [&'static str],
    /// The words of the line the peer prints about it.
    says: &'static str,
    /// The most connections it may open in [`COUNT_FOR`].
    most: usize,
    /// Whether that line comes once only (a join that works is news).
    once: bool,
}

/// A tracker that accepts the join (it answers the PING), then closes the
/// session at once.
fn dropping_session(stream: TcpStream) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut lines = BufReader::new(stream).lines();
    let mut next = || lines.next().and_then(|line| line.ok());
    if next().as_deref() == Some("HELLO") && writer.write_all(b"HI\n").is_ok() {
        let _records = next();
        if next().as_deref() == Some("PING") {
            let _ = writer.write_all(b"PONG\n");
        }
    }
}

#[test]
fn a_refused_or_dropped_peer_backs_off_with_and_without_heartbeats() {
    // Refused: the core-only tracker refuses a join of two records (it
    // takes one a line): tries at 0, 10 and 30 s. Closed unread, or
    // dropped right after the join: pauses of 0.25 s, doubling, so 7
    // tries in 30 s. Without back-off: hundreds.
    let refused = |name, flags| Case {
        name,
        fake: core_only_tracker,
        flags,
        says: "refused by the tracker",
        most: 4,
        once: true,
    };
    let closed = |name, flags| Case {
        name,
        fake: |l| serve_all(l, closing_session),
        flags,
        says: "cannot join",
        most: 9,
        once: true,
    };
    let cases = [
        refused("refused", &[]),
        refused("refused_hb0", &["--heartbeat", "0"]),
        closed("closed", &[]),
        closed("closed_hb0", &["--heartbeat", "0"]),
        Case {
            name: "dropped",
            fake: |l| serve_all(l, dropping_session),
            flags: &[],
            says: "lost the connection",
            most: 9,
            once: false,
        },
    ];
    let mut nets = Vec::new();
    let mut peers = Vec::new();
    for case in &cases {
        let (net, count) = network(case.name, &["a.txt", "b.txt"], case.fake);
        peers.push((net.start_peer("peer1", true, case.flags), count));
        nets.push(net);
    }
    let counted = count_tries(&mut peers);
    for (case, (tries, log)) in cases.iter().zip(counted) {
        let name = case.name;
        println!("{name}: {tries} connections in {COUNT_FOR:?}");
        let log = log.join("\n");
        assert!(
            (2..=case.most).contains(&tries),
            "{name}: {tries} connections in {COUNT_FOR:?}:\n{log}"
        );
        let told = log.lines().filter(|l| l.contains(case.says)).count();
        if case.once {
            assert_eq!(told, 1, "{name}: said once why, not at every try:\n{log}");
            assert!(!log.contains("joined"), "{name}: never joined:\n{log}");
        } else {
            assert!(told >= 1, "{name}: said why:\n{log}");
        }
    }
}
