//! Tests of the tracker session: the state machine against a scripted
//! fake tracker on loopback. Each test plays the tracker's side by hand,
//! line by line, with a short heartbeat so that the time rules show in a
//! fraction of a second.

use super::{LinkConfig, Running, Status, TrackerLink, MAX_RETRY_PAUSE};
use crate::log::Log;
use crate::peer::announce::Pins;
use crate::peer::folder::SharedFolder;
use crate::temp_dir::TempDir;
use crate::wire::messages::{TrackerReply, TrackerRequest};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BEAT: Duration = Duration::from_millis(300);

/// How long the fake tracker waits for a line.
const READ_WAIT: Duration = Duration::from_secs(10);

/// The tracker's end of one session.
struct FakeSession {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl FakeSession {
    fn accept(listener: &TcpListener) -> FakeSession {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(READ_WAIT)).unwrap();
        FakeSession {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// HELLO, HI, records: returns the records line.
    fn greet(&mut self) -> String {
        assert_eq!(self.line(), "HELLO");
        self.send("HI");
        self.line()
    }

    /// A whole accepted join: returns the records line.
    fn accept_join(&mut self) -> String {
        let records = self.greet();
        assert_eq!(self.line(), "PING", "a PING follows the records");
        self.send("PONG");
        records
    }
}

struct Setup {
    listener: TcpListener,
    folder_dir: TempDir,
}

fn setup(files: &[&str]) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let folder_dir = TempDir::new("link-test").unwrap();
    for name in files {
        std::fs::write(folder_dir.path().join(name), b"data").unwrap();
    }
    Setup {
        listener,
        folder_dir,
    }
}

/// Starts the link in a thread (its start waits for the first join)
/// while the test plays the tracker.
fn start(setup: &Setup) -> thread::JoinHandle<TrackerLink> {
    let config = LinkConfig {
        tracker: setup.listener.local_addr().unwrap(),
        folder: SharedFolder::open(setup.folder_dir.path()).unwrap().0,
        pins: Pins::default(),
        own_addr: "127.0.0.1:9".parse().unwrap(),
        settings_file: "test_settings.txt".into(),
        heartbeat: Some(BEAT),
        log: Log::new("test", false),
    };
    thread::spawn(move || TrackerLink::start(config).unwrap())
}

fn search(name: &str) -> TrackerRequest {
    TrackerRequest::Search(name.into())
}

#[test]
fn joined_only_once_the_tracker_answers_the_ping() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    assert!(tracker.greet().contains("a.txt"));
    assert_eq!(tracker.line(), "PING");
    assert!(!starting.is_finished(), "not settled before PONG");
    tracker.send("PONG");
    let link = starting.join().unwrap();
    assert!(link.is_joined());
}

#[test]
fn an_idle_session_sends_heartbeats_and_requests_get_their_replies() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.accept_join();
    let link = starting.join().unwrap();
    // Idle: a PING after about one heartbeat, again and again.
    for _ in 0..2 {
        let before = Instant::now();
        assert_eq!(tracker.line(), "PING");
        assert!(before.elapsed() < 3 * BEAT);
        tracker.send("PONG");
    }
    let asking = thread::spawn(move || {
        let reply = link.request(&search("a.txt"));
        (link, reply)
    });
    assert_eq!(tracker.line(), "SEARCH: a.txt");
    tracker.send("NOT FOUND");
    let (link, reply) = asking.join().unwrap();
    assert_eq!(reply.unwrap(), TrackerReply::NotFound);
    assert!(link.is_joined());
}

#[test]
fn a_late_reply_is_dropped_not_handed_to_the_next_request() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.accept_join();
    let link = Arc::new(starting.join().unwrap());
    let first = {
        let link = Arc::clone(&link);
        thread::spawn(move || link.request(&search("first.txt")))
    };
    assert_eq!(tracker.line(), "SEARCH: first.txt");
    // The asker gives up after two heartbeats; the tracker is lost
    // only after three. Answer in between.
    let gave_up = first.join().unwrap();
    assert!(gave_up.is_err(), "{gave_up:?}");
    tracker.send("FOUND: <txt, 4, 01/01/26, 10.0.0.1, 1>");
    let second = {
        let link = Arc::clone(&link);
        thread::spawn(move || link.request(&search("second.txt")))
    };
    assert_eq!(tracker.line(), "SEARCH: second.txt");
    tracker.send("NOT FOUND");
    assert_eq!(second.join().unwrap().unwrap(), TrackerReply::NotFound);
}

#[test]
fn no_answer_for_three_heartbeats_is_a_lost_tracker_and_it_rejoins() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.accept_join();
    // Its PONG was the tracker's last word: its machine "loses power"
    // now, and reads on but answers nothing.
    let silent_since = Instant::now();
    let link = starting.join().unwrap();
    assert_eq!(tracker.line(), "PING", "an idle session's heartbeat");
    let mut again = FakeSession::accept(&setup.listener);
    let waited = silent_since.elapsed();
    assert!(
        waited >= 3 * BEAT && waited < 3 * BEAT + MAX_RETRY_PAUSE,
        "rejoined after {waited:?}"
    );
    assert!(!link.is_joined());
    again.accept_join();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !link.is_joined() {
        assert!(Instant::now() < deadline, "joined again");
        thread::sleep(Duration::from_millis(10));
    }
    drop(tracker);
}

#[test]
fn a_refused_peer_says_why_and_does_not_count_as_joined() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.greet();
    assert_eq!(tracker.line(), "PING");
    tracker
        .send("ERROR: refused: records announce 127.0.0.1 but the connection comes from 10.0.0.2");
    drop(tracker);
    let link = starting.join().unwrap();
    assert!(!link.is_joined());
    let error = link.request(&search("a.txt")).unwrap_err().to_string();
    assert!(
        error.contains("refused") && error.contains("10.0.0.2"),
        "{error}"
    );
}

#[test]
fn a_reannounce_during_a_join_is_followed_by_another_join() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.accept_join();
    let link = Arc::new(starting.join().unwrap());
    // A file arrives: the link leaves and joins again...
    std::fs::write(setup.folder_dir.path().join("b.txt"), b"data").unwrap();
    let first = {
        let link = Arc::clone(&link);
        thread::spawn(move || link.reannounce())
    };
    assert_eq!(tracker.line(), "BYE");
    // As a tracker does after BYE: close, so the link joins again at once.
    drop(tracker);
    let mut second = FakeSession::accept(&setup.listener);
    let records = second.greet();
    assert!(records.contains("b.txt"), "{records}");
    assert_eq!(second.line(), "PING");
    // ...and while that join waits for PONG, another file arrives.
    std::fs::write(setup.folder_dir.path().join("c.txt"), b"data").unwrap();
    let again = {
        let link = Arc::clone(&link);
        thread::spawn(move || link.reannounce())
    };
    // Wait until the second re-announce has been asked for.
    let deadline = Instant::now() + Duration::from_secs(5);
    while link.status.state().requested < 3 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(5));
    }
    second.send("PONG");
    first.join().unwrap();
    // The join in progress scanned before c.txt: another one follows.
    assert_eq!(second.line(), "BYE");
    drop(second);
    let mut third = FakeSession::accept(&setup.listener);
    let records = third.greet();
    assert!(records.contains("c.txt"), "{records}");
    assert_eq!(third.line(), "PING");
    third.send("PONG");
    again.join().unwrap();
    assert!(link.is_joined());
}

#[test]
fn a_join_still_open_without_pong_is_taken_and_gets_no_heartbeats() {
    let setup = setup(&["a.txt"]);
    let starting = start(&setup);
    let mut tracker = FakeSession::accept(&setup.listener);
    tracker.greet();
    // A core-only tracker: it ignores the PING, and keeps the session.
    assert_eq!(tracker.line(), "PING");
    let link = starting.join().unwrap();
    assert!(link.is_joined(), "taken once the short wait is over");
    // Three heartbeats of silence bring no PING.
    tracker.writer.set_read_timeout(Some(3 * BEAT)).unwrap();
    let mut line = String::new();
    let read = tracker.reader.read_line(&mut line);
    assert!(read.is_err(), "no heartbeat, but {read:?}: {line:?}");
    tracker.writer.set_read_timeout(Some(READ_WAIT)).unwrap();
    let asking = thread::spawn(move || {
        let reply = link.request(&search("a.txt"));
        (link, reply)
    });
    assert_eq!(tracker.line(), "SEARCH: a.txt");
    // A late PONG to the join's PING answers no request: it is dropped.
    tracker.send("PONG");
    tracker.send("NOT FOUND");
    let (link, reply) = asking.join().unwrap();
    assert_eq!(reply.unwrap(), TrackerReply::NotFound);
    assert!(link.is_joined());
}

#[test]
fn a_session_thread_that_panics_still_says_stopped_and_wakes_its_waiters() {
    let status = Arc::new(Status {
        state: Mutex::default(),
        changed: Condvar::new(),
    });
    let first = status.ask();
    status.update(|state| state.joined = true);
    let running = Running(Arc::clone(&status));
    let session = thread::spawn(move || {
        let _running = running;
        panic!("a bug in the session thread (this panic is the test)");
    });
    // Whoever waits for the join is woken by the release, long before
    // its own wait is over.
    let waiting_since = Instant::now();
    status.wait_settled(first, Duration::from_secs(30));
    assert!(waiting_since.elapsed() < Duration::from_secs(5));
    assert!(session.join().is_err(), "the thread panicked");
    let state = status.state();
    assert!(state.stopped && !state.joined);
}

#[test]
fn a_join_line_names_the_files_that_fit_and_counts_the_rest() {
    use super::joining::names_within;
    let names: Vec<String> = ["data.bin", "syllabus.txt", "notes.txt", "poem.txt"]
        .map(String::from)
        .to_vec();
    let all = "data.bin, syllabus.txt, notes.txt, poem.txt";
    assert_eq!(names_within(&names, 80), all);
    assert_eq!(names_within(&names, all.len()), all);
    assert_eq!(
        names_within(&names, 42),
        "data.bin, syllabus.txt and 2 more"
    );
    assert_eq!(names_within(&names, 20), "data.bin and 3 more");
    assert_eq!(names_within(&names, 5), "4 files");
}
