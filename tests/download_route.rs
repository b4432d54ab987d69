//! Black-box tests of one `download` as a user meets it: where the holders
//! come from (the tracker, or the LIST fallback to the peers of the
//! settings file), what a failed fallback says, and what each "waiting
//! for ..." line names.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Files that come before `f.txt` in name order: a peer sharing them and
/// `f.txt` announces these five, and serves `f.txt` only.
const FIRST_FIVE: [&str; 5] = ["a1.txt", "a2.txt", "a3.txt", "a4.txt", "a5.txt"];

#[test]
fn our_own_out_of_date_record_does_not_block_a_download() {
    let net = Net::new("route_stale_own", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    // peer2 serves f.txt but does not announce it (it is its sixth file).
    for name in FIRST_FIVE {
        net.put("peer2", name, b"first five");
    }
    net.put("peer2", "f.txt", b"the real f");
    let _peer2 = net.start_peer("peer2", true, &[]);
    // peer1 announces f.txt, then it is deleted by hand: the tracker still
    // lists peer1, and only peer1, for it.
    net.put("peer1", "keep.txt", b"keep");
    net.put("peer1", "f.txt", b"old f");
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("f.txt", net.port("peer1"));
    let answer = probe.search("f.txt");
    let holders = parse_found(&answer).expect("a FOUND answer");
    assert_eq!(holders.len(), 1, "only peer1 is listed: {answer}");
    std::fs::remove_file(net.dir("peer1").join("f.txt")).expect("delete");

    let out = run(&mut peer1, "download f.txt");
    find_line(&out, "f.txt downloaded from peer2", |l| {
        l.starts_with("downloaded f.txt") && l.contains("peer2")
    });
    assert_eq!(
        std::fs::read(net.dir("peer1").join("f.txt")).expect("f.txt"),
        b"the real f"
    );
    peer1.wait_for_log("why the settings file's peers were asked", |l| {
        l.contains("the tracker lists only this peer") && l.contains("1 serve it")
    });
}

#[test]
fn a_failed_list_fallback_says_what_each_peer_answered() {
    // No tracker, peer2 not running, peer3 running without the file.
    let net = Net::new("route_fallback_fails", &["peer1", "peer2", "peer3"]);
    net.put("peer1", "own.txt", b"own");
    net.put("peer3", "other.txt", b"other");
    let _peer3 = net.start_peer("peer3", true, &[]);
    let mut peer1 = net.start_peer("peer1", false, &[]);
    for command in ["download x.txt", "fetch x.txt"] {
        let out = run(&mut peer1, command);
        let line = find_line(&out, &format!("the error of {command:?}"), |l| {
            l.starts_with("error:")
        });
        for words in [
            "nobody shares x.txt",
            "could not ask the tracker",
            "not joined",
            "peer2",
            "peer3 does not serve it",
        ] {
            assert!(line.contains(words), "{command:?}: {words:?} in {line:?}");
        }
    }
}

#[test]
fn a_fetch_from_peers_that_fail_says_what_each_answered() {
    let net = Net::new("route_fetch_fails", &["peer1", "peer2", "peer3"]);
    let _tracker = net.start_tracker(&[]);
    net.put("peer1", "own.txt", b"own");
    net.put("peer3", "other.txt", b"other");
    let _peer3 = net.start_peer("peer3", true, &[]);
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let out = run(&mut peer1, "fetch x.txt peer2 peer3");
    let line = find_line(&out, "the error", |l| l.starts_with("error:"));
    assert!(line.contains("none of the peers has x.txt"), "{line}");
    assert!(line.contains(&net.addr("peer2")), "peer2's failure: {line}");
    assert!(
        line.contains(&format!("{}: does not have x.txt", net.addr("peer3"))),
        "{line}"
    );
}

/// How long the slow seeder keeps the downloader waiting for its reply:
/// past the shell's two seconds, well under the 30 s it gives up after.
const SEEDER_PAUSE: Duration = Duration::from_secs(3);

/// A seeder that reads the request, then says nothing for
/// [`SEEDER_PAUSE`], then answers `FILE:` and the bytes: right, but slow.
fn slow_seeder(content: &'static [u8]) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind slow seeder");
    let port = listener.local_addr().expect("local address").port();
    let handle = thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        let mut reader = BufReader::new(stream);
        let _ = reader.read_line(&mut String::new());
        let paused = Instant::now();
        while paused.elapsed() < SEEDER_PAUSE {
            thread::park_timeout(SEEDER_PAUSE - paused.elapsed());
        }
        let mut stream = reader.into_inner();
        let _ = stream.write_all(&[b"FILE: ".as_slice(), content].concat());
    });
    (port, handle)
}

#[test]
fn the_waiting_line_names_the_seeder_whose_reply_is_awaited() {
    let net = Net::new("route_waiting", &["peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content: &'static [u8] = b"slow but right";
    let (port, seeder) = slow_seeder(content);
    let record = file_record("slow.txt", "txt", content.len() as u64, "01/01/26", port);
    let _join = join_tracker(&net.tracker_addr(), &record);
    net.put("peer2", "own.txt", b"own");
    let mut peer = net.start_peer("peer2", false, &[]);
    peer.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer, "download slow.txt");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded slow.txt")
    });
    let waiting: Vec<String> = peer
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("waiting for"))
        .collect();
    let expected = format!("waiting for 127.0.0.1:{port}'s reply to DOWNLOAD");
    assert!(
        waiting.iter().any(|l| l.starts_with(&expected)),
        "{expected:?} in {waiting:?}"
    );
    assert!(
        !waiting.iter().any(|l| l.contains("holders")),
        "no line names the holders while one seeder is awaited: {waiting:?}"
    );
    seeder.join().expect("seeder");
}

/// How long the slow tracker keeps a rejoining peer waiting for `HI`.
const TRACKER_PAUSE: Duration = Duration::from_secs(3);

/// How long the slow tracker's sessions wait for the peer's next line.
const TRACKER_READ_LIMIT: Duration = Duration::from_secs(30);

/// Accepts one connection within the helpers' time-out, as a line reader.
fn accept_one(listener: &TcpListener) -> Option<BufReader<std::net::TcpStream>> {
    let (stream, _) = poll(TIMEOUT, || listener.accept().map_err(|e| e.to_string())).ok()?;
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(TRACKER_READ_LIMIT)).ok()?;
    Some(BufReader::new(stream))
}

/// One tracker session, answered by the core rules (and PONG): HI to
/// HELLO, FOUND with `found` to every SEARCH, until BYE or the close.
/// With `pause_hi`, the HI comes only after [`TRACKER_PAUSE`].
fn tracker_session(mut reader: BufReader<std::net::TcpStream>, found: &str, pause_hi: bool) {
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        let answer = match line.trim_end() {
            "HELLO" if pause_hi => {
                let paused = Instant::now();
                while paused.elapsed() < TRACKER_PAUSE {
                    thread::park_timeout(TRACKER_PAUSE - paused.elapsed());
                }
                "HI".to_string()
            }
            "HELLO" => "HI".to_string(),
            "PING" => "PONG".to_string(),
            "BYE" => return,
            request if request.starts_with("SEARCH:") => found.to_string(),
            _ => String::new(), // the records line gets no answer
        };
        if !answer.is_empty() && writeln!(reader.get_mut(), "{answer}").is_err() {
            return;
        }
        line.clear();
    }
}

#[test]
fn a_slow_reannounce_after_a_download_is_said_not_silent() {
    let net = Net::new("route_slow_announce", &["peer2"]);
    let content = text_bytes(300);
    let mut reply = b"FILE: ".to_vec();
    reply.extend(&content);
    let (seeder_port, seeder) = fake_seeder(reply);
    let found = format!(
        "FOUND: {}",
        location_record("txt", content.len() as u64, "01/01/26", seeder_port)
    );
    let listener = TcpListener::bind(net.tracker_addr()).expect("bind the slow tracker");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let tracker = thread::spawn(move || {
        // The first join is answered at once; the join that announces
        // the new file waits for its HI.
        for pause_hi in [false, true] {
            let Some(session) = accept_one(&listener) else {
                return;
            };
            tracker_session(session, &found, pause_hi);
        }
    });
    net.put("peer2", "own.txt", b"own");
    let mut peer = net.start_peer("peer2", false, &[]);
    peer.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer, "download new.txt");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded new.txt")
    });
    find_line(
        &peer.stderr_lines(),
        "a line that says the shell waits for the re-announce",
        |l| l.starts_with("waiting for the tracker to take the new list of files"),
    );
    assert!(seeder.join().expect("seeder").is_some());
    drop(peer);
    tracker.join().expect("the slow tracker");
}
