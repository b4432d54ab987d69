//! A TCP server that gives every connection a thread of its own.
//!
//! Both the tracker and the peers serve this way. A thread per connection is
//! the simplest design there is: each connection's code reads top to bottom,
//! blocking on its socket, and the operating system switches between them.
//! Its costs are kept in check here:
//! - a cap on live connections: one more gets `ERROR: busy` and is closed,
//!   and nobody already connected notices;
//! - a small stack per thread ([`CONNECTION_STACK_SIZE`]), so ten thousand
//!   idle tracker sessions fit in little memory;
//! - a thread that cannot be started (out of resources) costs that one
//!   connection, never the server;
//! - the cap fits under the process's open-file limit (see
//!   [`crate::open_files`]): a server whose cap is too high for it lowers
//!   the cap at start and says so, so that the connection one too many gets
//!   `ERROR: busy` rather than a failing `accept`.
//!
//! Why not the fixed pool of worker threads of the Rust book's web server?
//! A web request is over in milliseconds, so a few workers take turns
//! serving thousands of them. A tracker session is not: a joined peer keeps
//! its connection, and the thread reading it, for hours. With a pool of N
//! threads, peer N + 1 would wait in the queue, unserved, until somebody
//! left, with no word of why. A thread per connection serves every peer at
//! once; the cap puts a bound on them instead.
//!
//! - one source address has a share of the cap, a quarter
//!   ([`SHARE_DIVISOR`]): it may use more while nobody else needs the room,
//!   but when the server is full, a connection from an address below its
//!   share takes the place of the newest connection of the address that
//!   holds the most (that one is closed). So one machine that opens
//!   connections and sends nothing, or trickles, cannot keep the others
//!   out; and a lab on one machine, where every program connects from
//!   127.0.0.1, still has the whole cap;
//! - on the web page, where every user of the machine comes from 127.0.0.1,
//!   a connection that has not yet sent its whole request is the first to
//!   make room: when the page is full, the oldest of them is closed for a
//!   newcomer (see [`Accepted::settled`]). Connections that never send a
//!   request cannot keep the page's owner out.
//!
//! Why `ERROR: busy` past the cap, and not just a close or a queue: the
//! connection that does not fit is told why in one line (the protocol's
//! own `ERROR:`), so a user or a program sees "busy", not a hang or a
//! connection that vanished, and everyone already served goes on as before.
//!
//! The same machinery serves the web page (HTTP, see `crate::web`): what a
//! server makes of an accepted socket, and how it turns away the one too
//! many, is the [`Accepted`] trait. Our protocol's [`Connection`] is one
//! (it answers `ERROR: busy`); the web page's HTTP stream is another (it
//! answers `503`).

use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::open_files::{connections_that_fit, open_file_limit};
use crate::wire::connection::{Closer, Connection};
use crate::wire::protocol::Message;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The stack of each connection thread. Our handlers never recurse and keep
/// their buffers on the heap; 128 KiB is several times what they use. (The
/// default, 2 MiB, is only reserved address space, but ten thousand of them
/// add up.)
pub const CONNECTION_STACK_SIZE: usize = 128 * 1024;

/// When `accept` itself fails (say, out of file descriptors), we wait this
/// long before trying again instead of spinning on the error.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A failing `accept` is logged at most once in this long. Out of open
/// files, it fails again at every try, 20 times a second; one line a second,
/// with a count of the failures not shown, says as much and leaves the log
/// readable.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The error number of "Too many open files" (EMFILE), the same on Linux,
/// macOS and the BSDs; std has no error kind for it.
#[cfg(unix)]
const TOO_MANY_OPEN_FILES: i32 = 24;

/// One source address's share of the cap is the cap divided by this (a
/// quarter; at least one connection). See the module's notes.
pub const SHARE_DIVISOR: usize = 4;

/// How long [`Server::stop`] waits for connection threads to finish.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What a server does with one connection, in that connection's thread.
pub type Handler = Arc<dyn Fn(Connection) + Send + Sync>;

/// What a server makes of an accepted socket before its handler gets it:
/// a protocol [`Connection`], or the web page's HTTP stream.
pub trait Accepted: Sized + Send + 'static {
    /// Wraps a socket that `accept` gave us.
    fn accept(stream: TcpStream, log: &Log, buffer_size: usize) -> Result<Self>;
    /// A handle to close it from another thread when the server stops.
    fn closer(&self) -> Closer;
    fn other_end(&self) -> SocketAddr;
    /// For a connection that may be closed to make room as long as it has
    /// not sent its whole request: the flag it sets once it has. `None`
    /// (the default): never closed for that.
    fn settled(&self) -> Option<Arc<AtomicBool>> {
        None
    }
    /// Tells a connection over the cap that the server is busy, in its own
    /// language. A fresh socket's send buffer is empty, so a short answer
    /// cannot block.
    fn refuse_busy(self) -> Result<()>;
}

impl Accepted for Connection {
    fn accept(stream: TcpStream, log: &Log, buffer_size: usize) -> Result<Connection> {
        Connection::accepted(stream, log, buffer_size)
    }

    fn closer(&self) -> Closer {
        Connection::closer(self)
    }

    fn other_end(&self) -> SocketAddr {
        Connection::other_end(self)
    }

    fn refuse_busy(mut self) -> Result<()> {
        self.send(&Message::Error("busy".into()))
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    live: Arc<LiveConnections>,
}

/// The connections being served now, so that we can count them against the
/// cap and close them all when the server stops.
#[derive(Default)]
struct LiveConnections {
    live: Mutex<Live>,
    next_id: AtomicU64,
    one_ended: Condvar,
}

/// Each live connection, and how many each source address holds.
#[derive(Default)]
struct Live {
    closers: HashMap<u64, Entry>,
    per_source: HashMap<IpAddr, usize>,
}

/// One live connection.
struct Entry {
    source: IpAddr,
    closer: Closer,
    /// See [`Accepted::settled`].
    settled: Option<Arc<AtomicBool>>,
}

impl Live {
    fn len(&self) -> usize {
        self.closers.len()
    }

    fn insert(&mut self, id: u64, entry: Entry) {
        *self.per_source.entry(entry.source).or_default() += 1;
        self.closers.insert(id, entry);
    }

    /// Un-counts connection `id`, if it is still counted; returns it.
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.closers.remove(&id)?;
        if let Some(count) = self.per_source.get_mut(&entry.source) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&entry.source);
            }
        }
        Some(entry)
    }

    /// The newest connection from `source`.
    fn newest_from(&self, source: IpAddr) -> Option<u64> {
        let from_source = self.closers.iter().filter(|(_, e)| e.source == source);
        from_source.map(|(id, _)| *id).max()
    }

    /// The oldest connection that may make room and has not sent its
    /// request yet.
    fn oldest_unsettled(&self) -> Option<u64> {
        let unsettled = self.closers.iter().filter(|(_, entry)| {
            entry
                .settled
                .as_ref()
                .is_some_and(|settled| !settled.load(Ordering::SeqCst))
        });
        unsettled.map(|(id, _)| *id).min()
    }
}

/// Proof that a connection is counted as live; dropping it (when the
/// connection's thread ends, or could not start) un-counts it.
struct Admission {
    live: Arc<LiveConnections>,
    id: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        lock(&self.live.live).remove(self.id);
        self.live.one_ended.notify_all();
    }
}

/// Whether a new connection fits (see [`room_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// There is a free slot.
    Free,
    /// The server is full, but this address holds more than its share and
    /// the newcomer's less: its newest connection makes room.
    TakeFrom(IpAddr),
    /// Full, and the newcomer's address has its share already.
    Busy,
}

/// The share rule: whether a connection from `source` fits among
/// `per_source` (how many each address holds, `total` in all) under `max`.
fn room_for(per_source: &HashMap<IpAddr, usize>, total: usize, max: usize, source: IpAddr) -> Room {
    if total < max {
        return Room::Free;
    }
    let share = (max / SHARE_DIVISOR).max(1);
    let holds = |ip: &IpAddr| per_source.get(ip).copied().unwrap_or(0);
    if holds(&source) >= share {
        return Room::Busy;
    }
    match per_source.iter().max_by_key(|(_, count)| **count) {
        Some((hog, count)) if *count > share => Room::TakeFrom(*hog),
        _ => Room::Busy,
    }
}

/// What [`LiveConnections::admit`] decided.
enum Admitted {
    /// In, and whose connection made room, if one had to.
    In(Admission, MadeRoom),
    Busy,
}

/// Whose connection was closed to let a newcomer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MadeRoom {
    /// Nobody's: there was a free slot.
    Nobody,
    /// The newest one of this address, which held more than its share.
    OverShare(IpAddr),
    /// The oldest one that had not sent its request, from this address.
    Unsent(IpAddr),
}

impl LiveConnections {
    /// Counts a new connection, if it fits under `max`, making room by the
    /// rules of the module's notes.
    fn admit(self: &Arc<Self>, connection: &impl Accepted, max: usize) -> Admitted {
        let source = connection.other_end().ip().to_canonical();
        let mut live = lock(&self.live);
        let unsent = match live.len() >= max {
            true => live.oldest_unsettled(),
            false => None,
        };
        let (made_room, evicted) = match unsent.and_then(|id| live.remove(id)) {
            Some(entry) => (MadeRoom::Unsent(entry.source), Some(entry)),
            None => match room_for(&live.per_source, live.len(), max, source) {
                Room::Free => (MadeRoom::Nobody, None),
                Room::Busy => return Admitted::Busy,
                // Un-counted now, so that the cap holds.
                Room::TakeFrom(hog) => {
                    let newest = live.newest_from(hog);
                    (
                        MadeRoom::OverShare(hog),
                        newest.and_then(|id| live.remove(id)),
                    )
                }
            },
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (closer, settled) = (connection.closer(), connection.settled());
        live.insert(
            id,
            Entry {
                source,
                closer,
                settled,
            },
        );
        drop(live);
        // Its thread sees the closed socket and ends as if the other side
        // had left.
        if let Some(entry) = evicted {
            entry.closer.close();
        }
        let admission = Admission {
            live: Arc::clone(self),
            id,
        };
        Admitted::In(admission, made_room)
    }
}

impl Server {
    /// Serves `listener` in a background thread: every accepted connection
    /// runs `handler` in a thread of its own, within `limits`.
    ///
    /// If `limits.max_connections` does not fit under the process's
    /// open-file limit, the server takes as many as fit, and logs one line
    /// saying so.
    ///
    /// `C` is what the handler is given: a [`Connection`] for our protocol.
    pub fn start<C: Accepted>(
        listener: TcpListener,
        limits: Limits,
        log: Log,
        handler: Arc<dyn Fn(C) + Send + Sync>,
    ) -> Result<Server> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listening address", e))?;
        let limits = fit_to_open_files(limits, open_file_limit(), &log);
        let stopping = Arc::new(AtomicBool::new(false));
        let live = Arc::new(LiveConnections::default());
        let accept_thread = {
            let (stopping, live) = (Arc::clone(&stopping), Arc::clone(&live));
            thread::Builder::new()
                .name(format!("{} accept", log.label()))
                .spawn(move || accept_loop(listener, limits, &log, &handler, &stopping, &live))
                .map_err(|e| Error::io("starting the accept thread", e))?
        };
        Ok(Server {
            local_addr,
            stopping,
            accept_thread: Some(accept_thread),
            live,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many connections are being served now.
    pub fn connection_count(&self) -> usize {
        lock(&self.live.live).len()
    }

    /// Stops accepting, closes every live connection and waits (a few
    /// seconds at most) for their threads to finish. Calling it again does
    /// nothing.
    pub fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // `accept` blocks and std has no way to interrupt it, so we wake it
        // with a connection of our own; it sees `stopping` and returns.
        let _ = TcpStream::connect_timeout(&reachable(self.local_addr), Duration::from_secs(1));
        let _ = accept_thread.join();
        // Closing a socket wakes its thread blocked in a read with
        // end-of-file, and the thread ends as if the other side had left.
        let mut live = lock(&self.live.live);
        for entry in live.closers.values() {
            entry.closer.close();
        }
        let deadline = Instant::now() + STOP_WAIT;
        while live.len() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            live = match self.live.one_ended.wait_timeout(live, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How much a server may take on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; one more gets `ERROR: busy`.
    pub max_connections: usize,
    /// The size of each connection's read and write buffers (see
    /// [`Connection::accepted`]).
    pub buffer_size: usize,
    /// The stack of each connection thread.
    pub stack_size: usize,
    /// How many open files one connection holds: its socket, plus any file
    /// it reads or writes while it lasts (a peer sending or receiving a
    /// file holds 2). The cap is lowered until this many per connection fit
    /// under the process's open-file limit.
    pub files_per_connection: usize,
}

impl Limits {
    /// `max_connections` connections with buffers of `buffer_size` bytes,
    /// each thread with a [`CONNECTION_STACK_SIZE`] stack, each connection
    /// counted as one open file (its socket).
    pub fn new(max_connections: usize, buffer_size: usize) -> Limits {
        Limits {
            max_connections,
            buffer_size,
            stack_size: CONNECTION_STACK_SIZE,
            files_per_connection: 1,
        }
    }
}

/// `limits`, with the cap lowered to what fits under `open_file_limit`
/// (when it is known), and one log line when it was lowered.
fn fit_to_open_files(limits: Limits, open_file_limit: Option<u64>, log: &Log) -> Limits {
    let Some(open_file_limit) = open_file_limit else {
        return limits;
    };
    let fit = connections_that_fit(open_file_limit, limits.files_per_connection);
    if limits.max_connections <= fit {
        return limits;
    }
    // Short, to fit a terminal's line: the cap, the one asked for, why,
    // and the command that raises the limit.
    log.event(&format!(
        "serving at most {fit} connections, not {}: open-file limit {open_file_limit} (`ulimit -n`)",
        limits.max_connections
    ));
    Limits {
        max_connections: fit,
        ..limits
    }
}

/// Lets a line that may repeat fast through at most once per `interval`,
/// and counts the ones it holds back.
struct Throttle {
    interval: Duration,
    last_shown: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last_shown: None,
            held_back: 0,
        }
    }

    /// Whether the line may be shown at `now`; if so, how many were held
    /// back since the last one shown.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_shown
            .is_none_or(|last| now.duration_since(last) >= self.interval);
        if !due {
            self.held_back += 1;
            return None;
        }
        self.last_shown = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// The log line for a failed `accept`, with what to do when the process is
/// out of open files, and how many failures were not logged before it.
fn accept_failure(error: &std::io::Error, held_back: u64) -> String {
    #[cfg(unix)]
    let hint = if error.raw_os_error() == Some(TOO_MANY_OPEN_FILES) {
        ": out of open files; the connection waits until one is closed \
         (lower --max-connections, or raise the limit with `ulimit -n`)"
    } else {
        ""
    };
    #[cfg(not(unix))]
    let hint = "";
    let held_back = match held_back {
        0 => String::new(),
        n => format!(" ({n} more failure(s) since the last line)"),
    };
    format!("could not accept a connection: {error}{hint}{held_back}")
}

fn accept_loop<C: Accepted>(
    listener: TcpListener,
    limits: Limits,
    log: &Log,
    handler: &Arc<dyn Fn(C) + Send + Sync>,
    stopping: &AtomicBool,
    live: &Arc<LiveConnections>,
) {
    let mut accept_errors = Throttle::new(ACCEPT_ERROR_LOG_INTERVAL);
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                if let Some(held_back) = accept_errors.allow(Instant::now()) {
                    log.event(&accept_failure(&error, held_back));
                }
                thread::sleep(ACCEPT_RETRY_PAUSE);
                continue;
            }
        };
        // One connection's trouble is logged and forgotten; the loop goes on.
        if let Err(error) = serve_one(stream, limits, log, handler, live) {
            log.event(&format!("dropped a connection: {error}"));
        }
    }
}

fn serve_one<C: Accepted>(
    stream: TcpStream,
    limits: Limits,
    log: &Log,
    handler: &Arc<dyn Fn(C) + Send + Sync>,
    live: &Arc<LiveConnections>,
) -> Result<()> {
    let connection = C::accept(stream, log, limits.buffer_size)?;
    let max = limits.max_connections;
    let admission = match live.admit(&connection, max) {
        Admitted::In(admission, made_room) => {
            if let Some(line) = made_room_line(made_room, connection.other_end(), max) {
                log.event(&line);
            }
            admission
        }
        Admitted::Busy => {
            log.event(&format!(
                "refused {}: busy ({max} connections)",
                connection.other_end()
            ));
            return connection.refuse_busy();
        }
    };
    let handler = Arc::clone(handler);
    let other_end = connection.other_end();
    let started = thread::Builder::new()
        .name(format!("{} {other_end}", log.label()))
        .stack_size(limits.stack_size)
        .spawn(move || {
            handler(connection);
            drop(admission);
        });
    // If the thread could not start, the closure, and with it the connection
    // and its admission, has been dropped: the socket is closed and un-counted.
    // Not `Error::io`: the system says "try again" (EAGAIN) when it has no
    // room for a thread, which a socket's read would mean as a time-out.
    started.map(drop).map_err(|e| {
        Error::Other(format!(
            "cannot start a thread for {other_end}: the system has no room for one ({e}); the connection is closed"
        ))
    })
}

/// The log line that says whose connection was closed to let `newcomer`
/// in, if one was.
fn made_room_line(made_room: MadeRoom, newcomer: SocketAddr, max: usize) -> Option<String> {
    match made_room {
        MadeRoom::Nobody => None,
        MadeRoom::OverShare(hog) => Some(format!(
            "closed the newest connection from {hog} to make room for {newcomer}: \
             {hog} held more than its share ({} of {max} connections)",
            (max / SHARE_DIVISOR).max(1)
        )),
        MadeRoom::Unsent(from) => Some(format!(
            "closed the oldest connection that had sent no request yet (from {from}) \
             to make room for {newcomer}: all {max} connections were taken"
        )),
    }
}

/// An address we can connect to in order to reach a listener: a listener on
/// "any address" (0.0.0.0 or ::) is reached through loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => (Ipv4Addr::LOCALHOST, v4.port()).into(),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => (Ipv6Addr::LOCALHOST, v6.port()).into(),
        other => other,
    }
}

/// Binds a listening socket, with an error that says what to do when the
/// port is taken or the address is not this machine's. `written_at` says
/// where the address comes from (`peer_settings.txt, line 3`), so that the
/// user knows what to fix.
pub fn listen(addr: SocketAddr, written_at: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                " (is another tracker or peer running on that port? stop it, or change the port in {written_at})"
            ),
            // A lab's settings file lists every machine: a program started
            // on the wrong machine, or a line with a stale address, ends here.
            std::io::ErrorKind::AddrNotAvailable => format!(
                ": this machine has no address {}: run the program on the machine that has it, \
                 or fix that address in {written_at}",
                addr.ip()
            ),
            _ => String::new(),
        };
        Error::Other(format!("cannot listen on {addr}: {e}{hint}"))
    })
}

#[cfg(test)]
mod tests;
