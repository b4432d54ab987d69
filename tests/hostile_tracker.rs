//! Black-box tests of a peer against trackers written to misbehave: one
//! that floods the peer with long lines, and one that accepts and never
//! answers `HELLO`. Each fake is a small std TCP server on the port the
//! peer's settings file names for the tracker. It misbehaves in the one
//! named way and does everything else right.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::memory_kb;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long each flood lasts: over loopback a peer that kept what it reads
/// would pass the memory limit in well under a second, and a peer that
/// rejoins after each flooded session has time for several.
const FLOOD_FOR: Duration = Duration::from_secs(10);
/// The most resident memory a flooded peer may reach.
const MEMORY_LIMIT_KB: u64 = 64 * 1024;
/// About how long each flooding line is.
const FLOOD_LINE_BYTES: usize = 1024 * 1024;

/// One valid `FOUND:` line of about [`FLOOD_LINE_BYTES`].
fn flood_line() -> Vec<u8> {
    let record = "<txt, 4, 01/01/26, 127.0.0.1, 5001> ";
    let mut line = b"FOUND: ".to_vec();
    while line.len() < FLOOD_LINE_BYTES {
        line.extend_from_slice(record.as_bytes());
    }
    line.push(b'\n');
    line
}

/// The tracker's end of one connection, read line by line.
struct Session {
    reader: BufReader<TcpStream>,
}

impl Session {
    fn accept(listener: &TcpListener) -> Option<Session> {
        let (stream, _) = listener.accept().ok()?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
        // A flood write that blocks this long means the peer stopped
        // reading: the flood ends there, and the test's checks say why.
        stream.set_write_timeout(Some(READ_TIMEOUT)).ok()?;
        Some(Session {
            reader: BufReader::new(stream),
        })
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim_end().to_string()),
            _ => None,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        self.reader.get_mut().write_all(bytes).is_ok()
    }

    /// HELLO, HI and the records line, as a correct tracker does.
    fn greet(&mut self) -> Option<()> {
        (self.line()? == "HELLO").then_some(())?;
        self.send(b"HI\n").then_some(())?;
        self.line().map(drop)
    }

    /// What a correct tracker does after the join: PONG to PING, NOT
    /// FOUND to SEARCH, until BYE or the close.
    fn serve_correctly(&mut self) {
        while let Some(line) = self.line() {
            let answer: &[u8] = match line.as_str() {
                "PING" => b"PONG\n",
                "BYE" => return,
                _ => b"NOT FOUND\n",
            };
            if !self.send(answer) {
                return;
            }
        }
    }
}

/// A tracker that floods the first session with `FOUND:` lines for
/// [`FLOOD_FOR`], before its `PONG` (`answer_ping` false: the peer is still
/// joining) or after it (true: joined), then closes it and serves every
/// later session correctly.
fn flooding_tracker(listener: TcpListener, answer_ping: bool) -> JoinHandle<()> {
    thread::spawn(move || {
        if let Some(mut flooded) = Session::accept(&listener) {
            let joined = flooded.greet().is_some()
                && (!answer_ping || flooded.line().as_deref() == Some("PING"))
                && (!answer_ping || flooded.send(b"PONG\n"));
            let line = flood_line();
            let until = Instant::now() + FLOOD_FOR;
            while joined && Instant::now() < until && flooded.send(&line) {}
        }
        while let Some(mut session) = Session::accept(&listener) {
            if session.greet().is_some() {
                session.serve_correctly();
            }
        }
    })
}

/// A peer of its own test network whose tracker is `fake`.
fn peer_with_fake_tracker(
    name: &str,
    fake: impl FnOnce(TcpListener) -> JoinHandle<()>,
) -> (Net, Node) {
    let net = Net::new(name, &["peer1"]);
    net.put("peer1", "mine.txt", b"my file");
    let listener = TcpListener::bind(("127.0.0.1", net.tracker_port)).expect("bind the fake");
    // The fake's thread ends when the test ends; nothing waits for it.
    drop(fake(listener));
    let peer = net.start_peer("peer1", false, &[]);
    (net, peer)
}

#[test]
fn a_flooding_tracker_grows_neither_a_joining_nor_a_joined_peer() {
    let (_joining_net, mut joining) =
        peer_with_fake_tracker("flood_joining", |l| flooding_tracker(l, false));
    let (_joined_net, mut joined) =
        peer_with_fake_tracker("flood_joined", |l| flooding_tracker(l, true));
    let start = Instant::now();
    let mut peaks = [0u64; 2];
    while start.elapsed() < FLOOD_FOR {
        for (peak, peer) in peaks.iter_mut().zip([&joining, &joined]) {
            *peak = (*peak).max(memory_kb(peer.pid(), "VmRSS"));
        }
        thread::sleep(Duration::from_millis(200));
    }
    // Both figures are printed before either is judged.
    let highs = [&joining, &joined].map(|peer| memory_kb(peer.pid(), "VmHWM"));
    for ((high, peak), what) in highs.iter().zip(peaks).zip(["joining", "joined"]) {
        println!("flooded while {what}: peak resident memory {high} kB (sampled peak {peak} kB)");
    }
    for ((high, peer), what) in highs
        .iter()
        .zip([&mut joining, &mut joined])
        .zip(["joining", "joined"])
    {
        assert!(
            *high < MEMORY_LIMIT_KB,
            "a peer flooded while {what} reached {high} kB"
        );
        // The flood is over and the fake closed that session: the peer
        // joins again, and its shell gets the tracker's answers.
        wait_for(
            &format!("the peer flooded while {what} to search again"),
            || {
                let out = run(peer, "search nobody.txt");
                match out.iter().any(|l| l.contains("not found")) {
                    true => Ok(()),
                    false => Err(format!("search printed {out:?}")),
                }
            },
        );
        let longest = peer.all_lines().iter().map(String::len).max();
        println!("flooded while {what}: the longest line it printed has {longest:?} bytes");
    }
}

/// A tracker that accepts every connection, reads `HELLO` and never
/// answers; `greeted` is set once a `HELLO` has come.
fn mute_tracker(listener: TcpListener, greeted: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut held = Vec::new();
        while let Some(mut session) = Session::accept(&listener) {
            if session.line().as_deref() == Some("HELLO") {
                greeted.store(true, Ordering::SeqCst);
            }
            // Kept open and unanswered.
            held.push(session);
        }
    })
}

/// How soon `quit` must end the peer, whatever the tracker does.
const QUIT_WITHIN: Duration = Duration::from_secs(2);

/// Types `quit` into the peer's shell and asserts that it has exited
/// within `limit`. (Its exit status is 1 after `run`: the marker it types
/// is an unknown command.)
fn quit_within(peer: &mut Node, limit: Duration, when: &str) {
    let typed = Instant::now();
    peer.send_line("quit");
    peer.wait_exit();
    let took = typed.elapsed();
    println!("quit took {took:?} {when}");
    assert!(took < limit, "quit took {took:?} {when}");
}

#[test]
fn quit_returns_at_once_while_the_tracker_never_answers_hello() {
    let greeted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&greeted);
    let (_net, mut peer) = peer_with_fake_tracker("mute_tracker", |l| mute_tracker(l, flag));
    // The shell is up (it answers a command) while the greeting still
    // waits for its HI.
    run(&mut peer, "help");
    assert!(greeted.load(Ordering::SeqCst), "the peer said HELLO");
    quit_within(
        &mut peer,
        QUIT_WITHIN,
        "during a greeting that gets no answer",
    );
}

/// Fills `listener`'s queue of connections waiting to be accepted, so that
/// the next connection's SYN is dropped and its connect stalls (as on a
/// network that loses packets). Returns the connections that fill it.
fn fill_accept_queue(listener: &TcpListener) -> Vec<TcpStream> {
    let addr = listener.local_addr().expect("local address");
    let mut queued = Vec::new();
    // std asks for a queue of 128; the kernel takes one more.
    while queued.len() < 1000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => queued.push(stream),
            Err(_) => return queued,
        }
    }
    panic!("the accept queue of {addr} never filled");
}

#[test]
fn quit_returns_at_once_while_connecting_to_the_tracker_stalls() {
    let net = Net::new("stalled_connect", &["peer1"]);
    net.put("peer1", "mine.txt", b"my file");
    let listener = TcpListener::bind(("127.0.0.1", net.tracker_port)).expect("bind the fake");
    let queued = fill_accept_queue(&listener);
    println!("{} connections fill the accept queue", queued.len());
    let mut peer = net.start_peer("peer1", false, &[]);
    // The shell is up while the connect still waits (it may take 10 s).
    run(&mut peer, "help");
    let log = peer.stderr_lines().join("\n");
    assert!(
        !log.contains("join"),
        "the connect is still under way, neither failed nor done:\n{log}"
    );
    quit_within(&mut peer, QUIT_WITHIN, "during a connect that stalls");
    drop(queued);
}
