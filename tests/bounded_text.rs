//! Every text that comes from another node is bounded where our peer keeps
//! or prints it. A reply line may be 16 MiB long, so a hostile seeder or
//! tracker can send a 15 MB `ERROR:` line, or a 15 MB reply our peer did
//! not expect. The peer must quote only the start of such a line, say how
//! much it cut, and stay small in memory, with `--web` (whose page keeps a
//! backlog of log lines) and without.

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
use std::time::Duration;

/// How long the long lines are: a little under the 16 MiB a reply may be.
const LONG: usize = 15_000_000;

/// The most resident memory the peer may reach, in kB (64 MiB).
const MEMORY_MAX_KB: u64 = 64 * 1024;

/// The longest line the peer may print: a few hundred characters of a
/// quote, plus the words around it.
const PRINTED_LINE_MAX: usize = 600;

/// How many times the hostile seeder is asked.
const DOWNLOADS: usize = 5;

/// A line of `prefix` and then `LONG` letters, with its line end.
fn long_line(prefix: &str) -> Vec<u8> {
    let mut line = prefix.as_bytes().to_vec();
    line.resize(prefix.len() + LONG, b'x');
    line.push(b'\n');
    line
}

/// A server on a port that answers every connection with `answer`, in a
/// thread of its own, until dropped.
struct Hostile {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Listens on `port` (0: a free one) and returns the server and its port.
    fn start(port: u16, answer: fn(TcpStream)) -> (Hostile, u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the hostile server");
        let port = listener.local_addr().expect("local address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        thread::spawn(move || answer(stream));
                    }
                    Err(_) => thread::sleep(POLL_INTERVAL),
                }
            }
        });
        let server = Hostile {
            stop,
            thread: Some(thread),
        };
        (server, port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one line of `stream` and answers it with `reply`.
fn answer_one(stream: TcpStream, reply: &[u8]) -> Option<TcpStream> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut stream = reader.into_inner();
    stream.write_all(reply).ok()?;
    Some(stream)
}

/// A seeder whose every answer is one 15 MB `ERROR:` line.
fn seeder_refuses_at_length(stream: TcpStream) {
    answer_one(stream, &long_line("ERROR: "));
}

/// A tracker that answers HELLO with one 15 MB `ERROR:` line.
fn tracker_refuses_at_length(stream: TcpStream) {
    answer_one(stream, &long_line("ERROR: "));
}

/// A tracker that answers HELLO with a 15 MB line that is no message.
fn tracker_answers_nonsense(stream: TcpStream) {
    answer_one(stream, &long_line("NONSENSE "));
}

/// A tracker that says HI, takes the records, then sends 15 MB lines
/// nobody asked for: an `ERROR:` and a line that is no message.
fn tracker_chatters_at_length(stream: TcpStream) {
    let Some(stream) = answer_one(stream, b"HI\n") else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut records = String::new();
    if reader.read_line(&mut records).is_err() {
        return;
    }
    let mut stream = reader.into_inner();
    let _ = stream.write_all(&long_line("ERROR: "));
    let _ = stream.write_all(&long_line("NONSENSE "));
    // Stay open: the peer must go on reading.
    let _ = stream.read_line_and_wait();
}

/// Waits for the other end to close, reading whatever comes.
trait Drain {
    fn read_line_and_wait(self) -> std::io::Result<()>;
}

impl Drain for TcpStream {
    fn read_line_and_wait(self) -> std::io::Result<()> {
        let mut reader = BufReader::new(self);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            line.clear();
        }
        Ok(())
    }
}

/// Checks the two bounds on a running peer: its peak memory, and the
/// longest line it printed. Returns the peak in kB, for the message.
fn assert_bounded(peer: &Node, what: &str) -> u64 {
    let peak = memory_kb(peer.pid(), "VmHWM");
    let longest = peer
        .all_lines()
        .into_iter()
        .max_by_key(String::len)
        .unwrap_or_default();
    println!(
        "{what}: peak {peak} kB, longest line {} bytes",
        longest.len()
    );
    assert!(
        peak < MEMORY_MAX_KB,
        "{what}: the peer reached {peak} kB resident"
    );
    assert!(
        longest.len() <= PRINTED_LINE_MAX,
        "{what}: the peer printed a line of {} bytes: {}...",
        longest.len(),
        &longest[..200.min(longest.len())]
    );
    peak
}

/// Downloads from the hostile seeder `DOWNLOADS` times; each fails with a
/// quote of the seeder's reason that says how much was cut.
fn downloads_from_a_seeder_that_refuses_at_length(web: bool) {
    let net = Net::new(&format!("bounded_seeder_{web}"), &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let (_seeder, seeder_port) = Hostile::start(0, seeder_refuses_at_length);
    let record = file_record("big.txt", "txt", 10, "01/01/24", seeder_port);
    let _announcer = join_tracker(&net.tracker_addr(), &record);
    let web_port = free_port().to_string();
    let extra: &[&str] = if web { &["--web", &web_port] } else { &[] };
    net.put("peer1", "shared.txt", b"a file to announce");
    let mut peer = net.start_peer("peer1", false, extra);
    for _ in 0..DOWNLOADS {
        let lines = run(&mut peer, "download big.txt");
        find_line(&lines, "the seeder's refusal, cut", |l| {
            l.contains("more bytes") && l.len() <= PRINTED_LINE_MAX
        });
    }
    assert_bounded(&peer, &format!("a seeder's 15 MB ERROR: (web: {web})"));
}

#[test]
fn a_seeders_long_error_is_quoted_in_part() {
    downloads_from_a_seeder_that_refuses_at_length(false);
}

#[test]
fn a_seeders_long_error_is_quoted_in_part_with_the_web_page() {
    downloads_from_a_seeder_that_refuses_at_length(true);
}

/// A peer whose tracker is `answer`: waits until the peer has said, with
/// a quote cut short, what came, and checks the bounds.
fn joins_a_tracker_that(answer: fn(TcpStream), what: &str, web: bool) {
    let net = Net::new(&format!("bounded_tracker_{web}"), &["peer1"]);
    let (_tracker, _) = Hostile::start(net.tracker_port, answer);
    net.put("peer1", "shared.txt", b"a file to announce");
    let web_port = free_port().to_string();
    let mut extra = vec!["--heartbeat", "0"];
    if web {
        extra.extend(["--web", &web_port]);
    }
    let mut peer = net.start_peer("peer1", true, &extra);
    peer.wait_for_log(&format!("the tracker's {what}, quoted"), |l| {
        // What the peer says about the line: a quote cut short, a protocol
        // error, or, for lines it ignores, the lost connection at the end.
        ["more bytes", "NONSENSE", "lost the connection"]
            .iter()
            .any(|words| l.contains(words))
            || l.len() > PRINTED_LINE_MAX
    });
    assert_bounded(&peer, &format!("a tracker's {what} (web: {web})"));
}

#[test]
fn a_trackers_long_error_during_a_join_is_quoted_in_part() {
    joins_a_tracker_that(tracker_refuses_at_length, "15 MB ERROR:", false);
}

#[test]
fn a_trackers_long_error_during_a_join_is_quoted_in_part_with_the_web_page() {
    joins_a_tracker_that(tracker_refuses_at_length, "15 MB ERROR:", true);
}

#[test]
fn a_trackers_long_reply_that_is_no_message_is_quoted_in_part() {
    joins_a_tracker_that(tracker_answers_nonsense, "15 MB nonsense", false);
}

#[test]
fn a_trackers_long_unexpected_lines_are_quoted_in_part_with_the_web_page() {
    joins_a_tracker_that(tracker_chatters_at_length, "15 MB lines after HI", true);
}
