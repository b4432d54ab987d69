//! Fakes of student programs: small std TCP servers that behave like the
//! trackers and seeders groups of students have written, each with exactly
//! its named fault and everything else right, so that the checker can be
//! tested against them, and our peer pointed at them.
//!
//! Trackers ([`StudentTracker`]):
//! - `bare_hello`: answers only a bare `HELLO` (it compares the bytes of
//!   one read with "HELLO"), writes `HI` and `NOT FOUND` without their line
//!   end, and writes the fields of a FOUND record without spaces;
//! - `closes_unread`: closes every connection without reading it;
//! - `one_record_pool`: takes one record a join, answers neither PING nor
//!   a line it does not understand, and serves sessions from a pool of 4
//!   threads, where a session closed without BYE keeps its thread for ever
//!   (after 4 such sessions, it answers nobody).
//!
//! Seeders ([`StudentSeeder`]), serving one file, core protocol only:
//! - `HalfClose`: reads a request up to the end of the stream, so it
//!   answers only a requester that half-closes;
//! - `NewlineAndText`: writes `FILE: \n`, then the file re-encoded as
//!   UTF-8 text (each byte of 0x80 and up as 2 bytes);
//! - `IgnoresRange`: answers a ranged DOWNLOAD with the whole file.

use p2p_share::wire::protocol::{type_of, FileRecord, Location, Message, ParseError};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// How long a fake waits for a line: long enough for any check, short
/// enough that no thread of a fake outlives the test by much.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// The longest line a fake reads.
const MAX_LINE: u64 = 64 * 1024;

/// How often an idle pool thread looks whether the server has stopped.
const POOL_WAKE: Duration = Duration::from_millis(100);

/// The pool of the tracker that leaks crashed sessions.
pub const POOL_SIZE: usize = 4;

/// Whether a server has stopped, and a way to wait for it.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    fn is_set(&self) -> bool {
        *lock(&self.stopped)
    }

    fn set(&self) {
        *lock(&self.stopped) = true;
        self.changed.notify_all();
    }

    /// Blocks until the server stops: a leaked session's thread.
    fn wait(&self) {
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            stopped = self
                .changed
                .wait(stopped)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Locks a mutex; one that a panicking thread left is still used (a fake
/// must answer the checker whatever happened to another session).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A listening fake, stopped when dropped: connections go to `serve`, on a
/// thread each, or on a fixed pool of threads.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<Stop>,
}

impl Server {
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        Server::with_stop(Arc::default(), None, serve)
    }

    /// A server whose `stop` its sessions can wait on, served by a pool of
    /// threads when `pool` says how many.
    fn with_stop(
        stop: Arc<Stop>,
        pool: Option<usize>,
        serve: impl Fn(TcpStream) + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a student fake");
        let addr = listener.local_addr().expect("the fake's address");
        let serve = Arc::new(serve);
        let (queue, waiting) = mpsc::channel::<TcpStream>();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..pool.unwrap_or(0) {
            let (serve, waiting, stop) =
                (Arc::clone(&serve), Arc::clone(&waiting), Arc::clone(&stop));
            thread::spawn(move || pool_thread(&waiting, &stop, &*serve));
        }
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.is_set() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(READ_LIMIT));
                let _ = stream.set_write_timeout(Some(READ_LIMIT));
                if pool.is_some() {
                    let _ = queue.send(stream);
                } else {
                    let serve = Arc::clone(&serve);
                    thread::spawn(move || serve(stream));
                }
            }
        });
        Server { addr, stop }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

/// One thread of a pool: serves the waiting connections one at a time.
fn pool_thread(waiting: &Mutex<Receiver<TcpStream>>, stop: &Stop, serve: &dyn Fn(TcpStream)) {
    while !stop.is_set() {
        let next = lock(waiting).recv_timeout(POOL_WAKE);
        match next {
            Ok(stream) => serve(stream),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.set();
        let _ = TcpStream::connect(self.addr);
    }
}

/// One line without its line end (and `\r`), or `None` at the end of the
/// connection (or its time limit).
pub fn read_line(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match reader.take(MAX_LINE).read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Some(line)
        }
    }
}

// ---------------------------------------------------------------------------
// Trackers
// ---------------------------------------------------------------------------

/// The faults of a student tracker; all off, it keeps the core protocol
/// (and answers `ERROR:` to LIST and PING: it has no extensions).
#[derive(Clone, Copy, Default)]
struct Faults {
    bare_hello: bool,
    one_record: bool,
    ignores_unknown: bool,
    leaks_crashed: bool,
}

/// The joined sessions: each one's id and records.
type Index = Mutex<Vec<(usize, Vec<FileRecord>)>>;

/// A fake student tracker (see the module's list).
pub struct StudentTracker {
    pub server: Server,
    /// Sessions that ended without BYE after their join.
    crashed: Arc<AtomicUsize>,
}

impl StudentTracker {
    pub fn bare_hello() -> StudentTracker {
        StudentTracker::start(Faults {
            bare_hello: true,
            ..Faults::default()
        })
    }

    pub fn closes_unread() -> StudentTracker {
        StudentTracker {
            server: Server::start(drop),
            crashed: Arc::default(),
        }
    }

    pub fn one_record_pool() -> StudentTracker {
        StudentTracker::start(Faults {
            one_record: true,
            ignores_unknown: true,
            leaks_crashed: true,
            ..Faults::default()
        })
    }

    fn start(faults: Faults) -> StudentTracker {
        let index: Arc<Index> = Arc::default();
        let crashed = Arc::new(AtomicUsize::new(0));
        let sessions = AtomicUsize::new(1);
        let counted = Arc::clone(&crashed);
        let stop = Arc::new(Stop::default());
        let stopped = Arc::clone(&stop);
        let pool = faults.leaks_crashed.then_some(POOL_SIZE);
        let server = Server::with_stop(stop, pool, move |stream| {
            let id = sessions.fetch_add(1, Ordering::SeqCst);
            let session = Session {
                faults,
                index: &index,
                id,
            };
            if session.serve(stream) == Ended::Crashed {
                counted.fetch_add(1, Ordering::SeqCst);
                if faults.leaks_crashed {
                    // The leak: this thread never serves anyone again.
                    stopped.wait();
                }
            }
        });
        StudentTracker { server, crashed }
    }

    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// How many joined sessions ended without BYE so far.
    pub fn crashed(&self) -> usize {
        self.crashed.load(Ordering::SeqCst)
    }
}

/// How a session ended.
#[derive(PartialEq, Eq)]
enum Ended {
    /// Refused, or left with BYE.
    Done,
    /// Joined, then closed without BYE.
    Crashed,
}

struct Session<'a> {
    faults: Faults,
    index: &'a Index,
    id: usize,
}

impl Session<'_> {
    fn serve(&self, stream: TcpStream) -> Ended {
        let Ok(mut out) = stream.try_clone() else {
            return Ended::Done;
        };
        let mut reader = BufReader::new(stream);
        if !self.greeted(&mut reader, &mut out) {
            return Ended::Done;
        }
        let Some(records) = read_line(&mut reader).and_then(|line| self.records(&line)) else {
            return Ended::Done;
        };
        {
            // A rejoin from the same ip:port replaces the earlier records.
            let mut index = lock(self.index);
            let addr = records[0].addr();
            index.retain(|(_, old)| old.first().map(FileRecord::addr) != Some(addr));
            index.push((self.id, records));
        }
        let ended = self.requests(&mut reader, &mut out);
        lock(self.index).retain(|(id, _)| *id != self.id);
        ended
    }

    /// HELLO and HI; the bare-HELLO fault takes one read for the message.
    fn greeted(&self, reader: &mut BufReader<TcpStream>, out: &mut TcpStream) -> bool {
        if self.faults.bare_hello {
            let mut buf = [0u8; 1024];
            let hello = matches!(reader.get_mut().read(&mut buf), Ok(n) if &buf[..n] == b"HELLO");
            return hello && out.write_all(b"HI").is_ok();
        }
        read_line(reader).as_deref() == Some(b"HELLO") && out.write_all(b"HI\n").is_ok()
    }

    /// The records of an acceptable records line.
    fn records(&self, line: &[u8]) -> Option<Vec<FileRecord>> {
        let most = if self.faults.one_record { 1 } else { 5 };
        match Message::parse_bytes(line) {
            Ok(Message::Records(records)) if (1..=most).contains(&records.len()) => Some(records),
            _ => None,
        }
    }

    /// The joined session's requests, up to BYE or the close.
    fn requests(&self, reader: &mut BufReader<TcpStream>, out: &mut TcpStream) -> Ended {
        loop {
            let Some(line) = read_line(reader) else {
                return Ended::Crashed;
            };
            let reply = match Message::parse_bytes(&line) {
                Ok(Message::Bye) => return Ended::Done,
                Ok(Message::Search(name)) => self.search(&name),
                _ if self.faults.ignores_unknown => continue,
                Ok(Message::List | Message::Ping) => {
                    "ERROR: this tracker has no extensions\n".into()
                }
                Err(ParseError::Empty) | Ok(_) | Err(_) => "ERROR: not understood\n".into(),
            };
            if out.write_all(reply.as_bytes()).is_err() {
                return Ended::Crashed;
            }
        }
    }

    fn search(&self, name: &str) -> String {
        let found: Vec<Location> = lock(self.index)
            .iter()
            .flat_map(|(_, records)| records)
            .filter(|r| r.name == name)
            .map(FileRecord::location)
            .collect();
        match (found.is_empty(), self.faults.bare_hello) {
            (true, true) => "NOT FOUND".into(),
            (true, false) => "NOT FOUND\n".into(),
            (false, true) => format!("{}\n", found_without_spaces(&found)),
            (false, false) => format!("{}\n", Message::Found(found).format()),
        }
    }
}

/// A FOUND line whose fields are separated by a comma alone.
pub fn found_without_spaces(found: &[Location]) -> String {
    let records: Vec<String> = found
        .iter()
        .map(|l| {
            let (file_type, size, date, ip, port) =
                (&l.file_type, l.size, l.modified, l.ip, l.port);
            format!("<{file_type},{size},{date},{ip},{port}>")
        })
        .collect();
    format!("FOUND: {}", records.join(" "))
}

// ---------------------------------------------------------------------------
// Seeders
// ---------------------------------------------------------------------------

/// The fault of a student seeder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeederFault {
    HalfClose,
    NewlineAndText,
    IgnoresRange,
}

/// A fake student seeder serving one file, `name` with `bytes`.
pub struct StudentSeeder {
    pub server: Server,
}

impl StudentSeeder {
    pub fn start(fault: SeederFault, name: &str, bytes: Vec<u8>) -> StudentSeeder {
        let name = name.to_string();
        let server = Server::start(move |stream| seed(stream, fault, &name, &bytes));
        StudentSeeder { server }
    }

    pub fn addr(&self) -> String {
        self.server.addr()
    }
}

fn seed(stream: TcpStream, fault: SeederFault, name: &str, bytes: &[u8]) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let line = match fault {
        SeederFault::HalfClose => {
            // Reads "everything the client sent": up to the end of the stream.
            let mut all = Vec::new();
            if reader
                .by_ref()
                .take(MAX_LINE)
                .read_to_end(&mut all)
                .is_err()
            {
                return;
            }
            let first = all.split(|&b| b == b'\n').next().unwrap_or_default();
            first.strip_suffix(b"\r").unwrap_or(first).to_vec()
        }
        _ => match read_line(&mut reader) {
            Some(line) => line,
            None => return,
        },
    };
    let reply = match Message::parse_bytes(&line) {
        Ok(Message::Download(request)) => {
            let file = &request.file;
            let known = file.name == name && file.file_type == type_of(name);
            match (known && file.size == bytes.len() as u64, request.range) {
                (false, _) => b"ERROR: no such file (name, type and size)\n".to_vec(),
                (true, Some(_)) if fault != SeederFault::IgnoresRange => {
                    b"ERROR: no ranged downloads here\n".to_vec()
                }
                (true, _) => file_reply(fault, bytes),
            }
        }
        Ok(_) => b"ERROR: this peer has no extensions\n".to_vec(),
        Err(error) => format!("ERROR: {error}\n").into_bytes(),
    };
    let _ = out.write_all(&reply);
}

/// `FILE: ` and the bytes, as this seeder writes them.
fn file_reply(fault: SeederFault, bytes: &[u8]) -> Vec<u8> {
    if fault != SeederFault::NewlineAndText {
        return [b"FILE: ", bytes].concat();
    }
    // The file read as text, one character a byte, and written as UTF-8.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    [b"FILE: \n", text.as_bytes()].concat()
}
