//! The tests of a connection's time limits and line rule.

use super::lines::{about, without_cr};
use super::socket::WRITE_WAIT_SLICE;
use super::{split_line, Connection, FileOrMessage, Split, Wait};
use crate::error::Error;
use crate::wire::messages::{PeerReply, TrackerReply, TrackerRequest};
use crate::wire::protocol::FILE_HEADER;
use crate::wire::trace::{Direction, NoTrace, Tracer};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Short enough for a test, and longer than one [`WRITE_WAIT_SLICE`].
const TEST_STALL: Duration = Duration::from_secs(2);

/// Far more than the kernel buffers of a loopback connection hold (a
/// few MiB each way), so a sender whose receiver does not read blocks.
const BIG: u64 = 64 * 1024 * 1024;

#[test]
fn the_line_splitter_finds_lines_and_bounds_them() {
    // A whole line, with more bytes behind it.
    assert_eq!(split_line(0, b"HELLO\nHI", 10), Split::Line { take: 5 });
    // A line's start: keep it, read more.
    assert_eq!(split_line(0, b"HEL", 10), Split::NeedMore { take: 3 });
    // Its end, after 3 bytes held.
    assert_eq!(split_line(3, b"LO\n", 10), Split::Line { take: 2 });
    // The limit counts what is held and what comes, not the `\n`.
    assert_eq!(split_line(0, b"0123456789\n", 10), Split::Line { take: 10 });
    assert_eq!(split_line(0, b"0123456789A\n", 10), Split::TooLong);
    assert_eq!(split_line(8, b"abc", 10), Split::TooLong);
    assert_eq!(split_line(7, b"abc", 10), Split::NeedMore { take: 3 });
    // An empty line, and nothing at all.
    assert_eq!(split_line(0, b"\n", 10), Split::Line { take: 0 });
    assert_eq!(split_line(0, b"", 10), Split::NeedMore { take: 0 });
    // A limit of 0 takes only empty lines; a huge `held` never overflows.
    assert_eq!(split_line(0, b"x", 0), Split::TooLong);
    assert_eq!(split_line(usize::MAX, b"x", 10), Split::TooLong);
}

#[test]
fn a_line_ending_keeps_no_carriage_return() {
    assert_eq!(without_cr(b"HI\r".to_vec()), b"HI");
    assert_eq!(without_cr(b"HI".to_vec()), b"HI");
    assert_eq!(without_cr(b"\r\r".to_vec()), b"\r");
}

/// A connected pair: our `Connection` (with the short stall) and the
/// other end's raw socket.
fn pair() -> (Connection, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut ours = Connection::connect(listener.local_addr().unwrap(), &NoTrace).unwrap();
    ours.set_stall_timeout(TEST_STALL);
    let (theirs, _) = listener.accept().unwrap();
    (ours, theirs)
}

/// A source of bytes that notes when it was last read: the sender reads
/// it only while the socket takes bytes, so that is the moment of the
/// sender's last progress (give or take one wait slice).
struct Clocked {
    last_read: Instant,
}

impl Read for Clocked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.last_read = Instant::now();
        buf.fill(7);
        Ok(buf.len())
    }
}

#[test]
fn a_sender_whose_receiver_stops_reading_gives_up_after_the_stall_time() {
    let (mut sender, receiver) = pair();
    let mut source = Clocked {
        last_read: Instant::now(),
    };
    let error = sender.send_file(&mut source, BIG, &mut |_| {}).unwrap_err();
    // The kernel may go on taking a few bytes for a second or two after
    // the receiver stops (its buffers grow); the stall counts from the
    // last of them.
    let stalled_for = source.last_read.elapsed();
    assert!(
        stalled_for >= TEST_STALL
            && stalled_for <= TEST_STALL + 2 * WRITE_WAIT_SLICE + Duration::from_secs(1),
        "gave up {stalled_for:?} after its last progress; the stall time is {TEST_STALL:?}"
    );
    let message = error.to_string();
    assert!(message.contains("no progress for 2 s"), "{message}");
    // Dropping the connection must not flush the 64 KiB still buffered
    // into the stalled socket (that would block for another stall).
    let start = Instant::now();
    drop(sender);
    assert!(
        start.elapsed() < WRITE_WAIT_SLICE,
        "dropping the failed connection took {:?}",
        start.elapsed()
    );
    drop(receiver);
}

#[test]
fn a_slow_receiver_that_keeps_reading_is_not_abandoned() {
    let (mut sender, receiver) = pair();
    // The receiver pauses three times for less than the stall time; the
    // sender, its buffers full, waits each time. The whole transfer
    // takes longer than the stall time, and must still succeed.
    let pause = TEST_STALL * 3 / 4;
    let reading = thread::spawn(move || {
        let mut receiver = receiver;
        let mut total = 0u64;
        for _ in 0..3 {
            thread::sleep(pause);
            total += io::copy(&mut (&mut receiver).take(4 << 20), &mut io::sink()).unwrap();
        }
        total + io::copy(&mut receiver, &mut io::sink()).unwrap()
    });
    let start = Instant::now();
    sender
        .send_file(&mut io::repeat(7).take(BIG), BIG, &mut |_| {})
        .unwrap();
    drop(sender);
    assert!(start.elapsed() > TEST_STALL, "took {:?}", start.elapsed());
    let received = reading.join().unwrap();
    assert_eq!(received, BIG + FILE_HEADER.len() as u64);
}

#[test]
fn a_receiver_whose_sender_stops_sending_gives_up_after_the_stall_time() {
    let (mut receiver, mut sender) = pair();
    sender.write_all(b"FILE: 0123456789").unwrap();
    assert!(matches!(
        receiver
            .receive_file_or::<PeerReply>(receiver.reply_wait())
            .unwrap(),
        FileOrMessage::File
    ));
    let (progress_tx, progress_rx) = mpsc::channel();
    let start = Instant::now();
    let error = receiver
        .receive_file(&mut io::sink(), 1000, &mut |n| {
            let _ = progress_tx.send(n);
        })
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= TEST_STALL && took <= TEST_STALL + Duration::from_secs(2),
        "gave up after {took:?}"
    );
    assert_eq!(progress_rx.try_iter().last(), None, "no whole chunk came");
    let message = error.to_string();
    assert!(message.contains("no progress for 2 s"), "{message}");
    drop(sender);
}

#[test]
fn a_time_out_in_the_systems_words_gets_a_plain_sentence_first() {
    let (_ours, theirs) = pair();
    theirs
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let os_error = (&theirs).read(&mut [0u8; 1]).unwrap_err();
    let error = Error::io("reading from somewhere", os_error);
    assert!(error.is_timeout());
    let message = error.to_string();
    assert!(
        message.starts_with("reading from somewhere: the other end did not answer in time"),
        "{message}"
    );
}

/// A tracer that keeps every line it hears, for a test to look at.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Tracer for Recorder {
    fn tracing(&self) -> bool {
        true
    }

    fn line(&self, _other_end: &str, direction: Direction, text: &str) {
        let arrow = if direction == Direction::Sent {
            "->"
        } else {
            "<-"
        };
        self.0.lock().unwrap().push(format!("{arrow} {text}"));
    }
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A connected pair whose lines `recorder` hears, as a server would
/// read requests.
fn traced_pair(recorder: &Recorder) -> (Connection, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let theirs = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut ours = Connection::accepted(stream, recorder, 4096).unwrap();
    ours.set_stall_timeout(TEST_STALL);
    (ours, theirs)
}

#[test]
fn a_line_without_its_end_is_quoted_when_time_is_up() {
    let (mut ours, mut theirs) = traced_pair(&Recorder::default());
    theirs.write_all(b"SEARCH: logo.png").unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    let error = ours
        .receive::<TrackerRequest>(Wait::Until(deadline))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(r#"got "SEARCH: logo.png" with no line end, then nothing for"#)
            && message.ends_with(r"every message ends with \n"),
        "{message}"
    );
    assert!(error.is_timeout(), "still a time-out to the caller");
}

#[test]
fn a_line_without_its_end_before_a_close_is_answered_and_traced_as_such() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"SEARCH: logo.png").unwrap();
    theirs.shutdown(std::net::Shutdown::Write).unwrap();
    let request = ours.receive::<TrackerRequest>(Wait::Forever).unwrap();
    assert_eq!(request, Some(TrackerRequest::Search("logo.png".into())));
    let lines = recorder.lines();
    assert!(
        lines[0].starts_with("<- SEARCH: logo.png (with no line end, then the other end closed"),
        "{lines:?}"
    );
}

#[test]
fn bytes_that_are_not_text_are_traced_escaped() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"\xac\xed\x00\x05 HELLO\n").unwrap();
    assert!(ours.receive::<TrackerRequest>(Wait::Forever).is_err());
    assert_eq!(recorder.lines(), [r#"<- "\xac\xed\x00\x05 HELLO""#]);
}

#[test]
fn a_body_trace_says_what_really_came() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"FILE: 0123456789").unwrap();
    theirs.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = ours.receive_file_or::<PeerReply>(Wait::Forever).unwrap();
    assert!(matches!(reply, FileOrMessage::File));
    assert!(ours
        .receive_file(&mut io::sink(), 300, &mut |_| {})
        .is_err());
    let lines = recorder.lines();
    assert!(
        lines[0].starts_with("<- FILE: (10 of 300 bytes: "),
        "{lines:?}"
    );
}

#[test]
fn bytes_after_a_body_are_counted() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"FILE: 0123456789extra").unwrap();
    theirs.shutdown(std::net::Shutdown::Write).unwrap();
    ours.receive_file_or::<PeerReply>(Wait::Forever).unwrap();
    ours.receive_file(&mut io::sink(), 10, &mut |_| {}).unwrap();
    let error = ours.expect_end_of_body(Duration::from_secs(2)).unwrap_err();
    assert!(error.to_string().contains("(5 too many)"), "{error}");
    let lines = recorder.lines();
    assert_eq!(
        lines[0],
        format!("<- {FILE_HEADER}(10 bytes in 1 chunks of 100)")
    );
    assert_eq!(lines[1], "<- (then 5 bytes more than the file's size)");
}

#[test]
fn a_send_into_a_closed_connection_is_traced_as_failed() {
    let recorder = Recorder::default();
    let (mut ours, theirs) = traced_pair(&recorder);
    drop(theirs);
    // The first line may still be taken by the system; the reset that
    // answers it makes a later one fail.
    let failed = (0..50).find_map(|_| {
        thread::sleep(Duration::from_millis(10));
        ours.send(&PeerReply::Ready).err()
    });
    assert!(matches!(failed, Some(Error::Io { .. })), "{failed:?}");
    let lines = recorder.lines();
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("-> (failed: the line above was not sent"),
        "{lines:?}"
    );
}

#[test]
fn an_answer_to_a_line_without_its_end_after_a_whole_close_is_traced_as_failed() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"SEARCH: logo.png").unwrap();
    drop(theirs);
    let request = ours.receive::<TrackerRequest>(Wait::Forever).unwrap();
    assert_eq!(request, Some(TrackerRequest::Search("logo.png".into())));
    let error = ours
        .send(&crate::wire::messages::TrackerReply::NotFound)
        .unwrap_err();
    assert!(
        error.to_string().contains("had closed the connection"),
        "{error}"
    );
    let lines = recorder.lines();
    assert_eq!(lines[1], "-> NOT FOUND", "{lines:?}");
    assert!(
        lines[2].starts_with("-> (failed: the line above was not sent"),
        "{lines:?}"
    );
}

#[test]
fn an_answer_to_a_line_without_its_end_after_a_half_close_goes_out() {
    let recorder = Recorder::default();
    let (mut ours, mut theirs) = traced_pair(&recorder);
    theirs.write_all(b"SEARCH: logo.png").unwrap();
    theirs.shutdown(std::net::Shutdown::Write).unwrap();
    ours.receive::<TrackerRequest>(Wait::Forever).unwrap();
    ours.send(&crate::wire::messages::TrackerReply::NotFound)
        .unwrap();
    drop(ours);
    let mut answer = String::new();
    theirs.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "NOT FOUND\n");
    assert_eq!(recorder.lines().len(), 2, "{:?}", recorder.lines());
}

#[test]
fn a_measured_wait_is_said_as_a_person_would() {
    assert_eq!(about(Duration::from_millis(10_003)), "10 s");
    assert_eq!(about(Duration::from_millis(9_600)), "10 s");
    assert_eq!(about(Duration::from_millis(300)), "0.3 s");
}

/// Sends `text` one byte every `every` from a thread of its own, while the
/// test reads; stops at the first failed write.
fn trickle(mut theirs: TcpStream, text: &'static [u8], every: Duration) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for byte in text {
            if theirs.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(every);
        }
    })
}

// A reply or request whose bytes trickle in, each well within the stall
// time, still has to end in time: the wait is for the whole line, not for
// each byte. Every kind of wait holds it, also "for ever".
#[test]
fn a_line_that_trickles_in_is_given_up_once_its_time_is_up() {
    for wait in [Wait::NoProgressFor(TEST_STALL), Wait::Forever] {
        let (mut ours, theirs) = pair();
        let sender = trickle(
            theirs,
            b"NOT FOUND, as slowly as it can",
            Duration::from_millis(400),
        );
        let start = Instant::now();
        let error = ours.receive::<PeerReply>(wait).unwrap_err();
        let took = start.elapsed();
        assert!(
            took >= TEST_STALL && took <= TEST_STALL + Duration::from_secs(1),
            "{wait:?}: gave up after {took:?}"
        );
        let message = error.to_string();
        assert!(message.contains("has not ended"), "{message}");
        assert!(
            !error.is_timeout(),
            "a reader that wakes on time-outs stops"
        );
        drop(ours);
        sender.join().unwrap();
    }
}

// The same for the answer to a request that may be a file.
#[test]
fn a_reply_that_may_be_a_file_and_trickles_in_is_given_up_too() {
    let (mut ours, theirs) = pair();
    let sender = trickle(theirs, b"ERROR: slowly, slowly", Duration::from_millis(400));
    let start = Instant::now();
    let error = ours
        .receive_file_or::<PeerReply>(ours.reply_wait())
        .unwrap_err();
    assert!(start.elapsed() <= TEST_STALL + Duration::from_secs(1));
    assert!(error.to_string().contains("has not ended"), "{error}");
    drop(ours);
    sender.join().unwrap();
}

// A line that comes whole, or in a few quick pieces, is not affected.
#[test]
fn a_line_in_quick_pieces_is_read_as_usual() {
    let (mut ours, theirs) = pair();
    let sender = trickle(theirs, b"NOT FOUND\n", Duration::from_millis(20));
    let reply = ours.receive::<TrackerReply>(ours.reply_wait()).unwrap();
    assert_eq!(reply, Some(TrackerReply::NotFound));
    sender.join().unwrap();
}
