//! Fakes that play one side of the protocol against the real programs: a
//! fake peer joined to the tracker (a [`Probe`], to SEARCH while the real
//! programs run), the records such a peer announces, and a fake seeder
//! that answers a downloading peer with whatever bytes a test chooses, and
//! a tracker that keeps only the core protocol (and PING).

use super::client::{Client, READ_TIMEOUT};
use super::net::free_port;
use super::waiting::{poll, wait_for, TIMEOUT};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// A file record as a peer announces it, from 127.0.0.1.
pub fn file_record(name: &str, file_type: &str, size: u64, date: &str, port: u16) -> String {
    format!("<{name}, {file_type}, {size}, {date}, 127.0.0.1, {port}>")
}

/// The location record the tracker answers for a file record.
pub fn location_record(file_type: &str, size: u64, date: &str, port: u16) -> String {
    format!("<{file_type}, {size}, {date}, 127.0.0.1, {port}>")
}

/// Connects to the tracker as a fake peer: HELLO, expects HI, sends the
/// records line. Whether the join was accepted is for the caller to check
/// (the tracker answers nothing either way).
pub fn join_tracker(tracker: &str, records: &str) -> Client {
    let mut client = Client::connect(tracker);
    client.send_line("HELLO");
    let hi = client.expect_line();
    assert_eq!(hi, "HI", "the tracker must answer HELLO with HI");
    client.send_line(records);
    client
}

/// The location records of a `FOUND:` line, each split into its trimmed
/// fields; `None` when the line is not a `FOUND:` answer.
pub fn parse_found(line: &str) -> Option<Vec<Vec<String>>> {
    let rest = line.strip_prefix("FOUND:")?;
    let mut records = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>')? + start;
        let fields = rest[start + 1..end]
            .split(',')
            .map(|f| f.trim().to_string())
            .collect();
        records.push(fields);
        rest = &rest[end + 1..];
    }
    Some(records)
}

/// A fake peer joined to the tracker with one record of its own, used to
/// SEARCH the tracker while the real programs run.
pub struct Probe {
    pub client: Client,
    /// The port announced in the probe's own record (nothing listens there).
    pub port: u16,
}

impl Probe {
    pub fn join(tracker: &str) -> Probe {
        let port = free_port();
        let name = format!("probe-{port}");
        let record = file_record(&name, "none", 1, "01/01/26", port);
        let mut client = join_tracker(tracker, &record);
        let answer = client.search(&name);
        assert_eq!(
            answer,
            format!("FOUND: {}", location_record("none", 1, "01/01/26", port)),
            "the probe's own join must be accepted"
        );
        Probe { client, port }
    }

    pub fn search(&mut self, name: &str) -> String {
        self.client.search(name)
    }

    /// Polls until searching `name` lists a holder on `port`; returns that
    /// location record's fields.
    pub fn wait_found_at(&mut self, name: &str, port: u16) -> Vec<String> {
        let awaited = format!("the tracker to list {name:?} at port {port}");
        wait_for(&awaited, || {
            let answer = self.search(name);
            parse_found(&answer)
                .and_then(|records| {
                    records
                        .into_iter()
                        .find(|fields| fields.get(4) == Some(&port.to_string()))
                })
                .ok_or_else(|| format!("last answer: {answer:?}"))
        })
    }

    /// Polls until searching `name` answers `NOT FOUND`.
    pub fn wait_not_found(&mut self, name: &str) {
        wait_for(&format!("the tracker to forget {name:?}"), || {
            let answer = self.search(name);
            if answer == "NOT FOUND" {
                Ok(())
            } else {
                Err(format!("last answer: {answer:?}"))
            }
        })
    }
}

/// Listens on a free loopback port, accepts one connection (within the
/// timeout), reads the request line, sends `reply` and closes. The thread
/// returns the request line, or `None` if nobody came.
pub fn fake_seeder(reply: Vec<u8>) -> (u16, JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake seeder");
    let port = listener.local_addr().expect("local address").port();
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let handle = thread::spawn(move || {
        let (stream, _) = poll(TIMEOUT, || listener.accept().map_err(|e| e.to_string())).ok()?;
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        reader.read_line(&mut request).ok()?;
        let mut stream = reader.into_inner();
        let _ = stream.write_all(&reply);
        let _ = stream.flush();
        Some(request.trim_end().to_string())
    });
    (port, handle)
}

/// A tracker that keeps only the core protocol and PING, for one session:
/// HI to HELLO, PONG to PING, the records taken without a word, and
/// `ERROR: unknown command` for every extension (FIND, LIST...). The
/// session must come within [`TIMEOUT`]; the thread ends with it.
pub fn core_only_tracker(addr: &str) -> JoinHandle<()> {
    let listener = TcpListener::bind(addr).expect("bind the core-only tracker");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    thread::spawn(move || {
        // Polled with a deadline, so that a peer that never comes cannot
        // hang the test.
        let Ok((stream, _)) = poll(TIMEOUT, || listener.accept().map_err(|e| e.to_string())) else {
            return;
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            let answer = match line.trim_end() {
                "HELLO" => "HI",
                "PING" => "PONG",
                "BYE" => return,
                request if request.starts_with('<') => "",
                _ => "ERROR: unknown command",
            };
            if !answer.is_empty() && writeln!(reader.get_mut(), "{answer}").is_err() {
                return;
            }
            line.clear();
        }
    })
}

/// A fake server on a free loopback port: every connection that comes goes
/// to `serve`, one after the other, in one thread, until the server is
/// dropped (the thread is then joined).
pub struct FakeServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(mut serve: impl FnMut(TcpStream) + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake server");
        let port = listener.local_addr().expect("its address").port();
        // Not blocking, so that the thread sees the stop.
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream),
                    Err(_) => thread::park_timeout(super::waiting::POLL_INTERVAL),
                }
            }
        });
        FakeServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
