//! One TCP connection, with the framing of the protocol on top of it.
//!
//! This is the only code that reads from or writes to a socket. It knows:
//! - lines: a message is one line ending in `\n`; a reader never buffers more
//!   than a given limit, so a peer that sends an endless line cannot make us
//!   allocate endless memory;
//! - file bodies: `FILE: ` followed by exactly as many raw bytes as the
//!   request said, moved in [`CHUNK_SIZE`](crate::wire::protocol::CHUNK_SIZE) chunks;
//! - time limits: how long a read or write may wait before we give up, and
//!   what "no progress" means for each side of a transfer;
//! - `--trace`: every line sent and received is printed here, so the trace
//!   shows exactly what crossed the wire.
//!
//! The tracker, the peer server and the peer's client code all talk through
//! a [`Connection`], so none of them builds or parses raw bytes itself.

mod body;
mod lines;
mod socket;
#[cfg(test)]
mod tests;

pub use lines::{split_line, Split, LINE_MIN_RATE};
pub use socket::Closer;

use crate::error::is_io_timeout;
use crate::error::{Error, Result};
use crate::wire::messages::{PeerReply, PeerRequest, Wire};
use crate::wire::protocol::{ParseError, FILE_HEADER};
use crate::wire::text;
use crate::wire::trace::{Direction, Tracer};
use lines::{about, line_time_left, line_too_slow, plain_timeout, time_is_up, without_cr};
use socket::{SharedSocket, TimedWriter, WRITE_WAIT_SLICE};
use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The size of the buffers between the 100-byte chunks and the operating
/// system. Without them every chunk would be one `read` or `write` system
/// call, and a system call costs far more than copying 100 bytes; with them,
/// about 650 chunks go out in one call.
pub const IO_BUFFER_SIZE: usize = 64 * 1024;

/// The longest request line a server reads: a `DOWNLOAD:`, or a join with
/// five records of 255-byte names, fits many times over.
pub const MAX_REQUEST_LINE: usize = 4 * 1024;

/// The longest reply line a client reads: the tracker's `FILES:` list for ten
/// thousand peers with five files each is about 3 MiB.
pub const MAX_REPLY_LINE: usize = 16 * 1024 * 1024;

/// A request (a peer's first line, a joining peer's HELLO and records) must
/// arrive within this time of connecting, or the connection is closed: a
/// client that connects and says nothing must not hold a thread for ever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A transfer, or a reply we wait for, that makes no progress for this long
/// is abandoned, by the sending side as well as the receiving side. For a
/// reader, progress is any byte arriving; for a writer, any byte the
/// operating system takes from us (see `TimedWriter` below).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to another node may take. 10 s, not less: a machine
/// that has just rebooted (or whose network cable was just plugged back in)
/// can take several seconds before it answers for its address again, and
/// a lab starts its tracker and peers right after booting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest line a trace shows whole; a longer one (a `FILES:` list of
/// thousands of records) is cut, saying how much.
pub const TRACE_MAX: usize = 600;

/// What the trace of a line without its line end adds, when the other end
/// closed its side right after it.
const NO_LINE_END_THEN_CLOSED: &str =
    "(with no line end, then the other end closed its side: every message ends with \\n)";

/// How long an answer to a line without its line end, sent after the
/// other end closed, waits for the reset that says the whole connection
/// was closed: a reset over loopback takes well under a millisecond.
const RESET_WAIT: Duration = Duration::from_millis(20);

/// How long a read may wait for the other end.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// As long as it takes: a joined peer may be idle for hours.
    Forever,
    /// Until this moment, however the bytes trickle in: a request must
    /// arrive within [`REQUEST_TIMEOUT`] of connecting, even one byte at a
    /// time.
    Until(Instant),
    /// Each read may wait this long: a slow sender is fine as long as it
    /// keeps sending. Replies and file bodies are read this way.
    NoProgressFor(Duration),
}

/// What came back after a request that may be answered with a file.
#[derive(Debug)]
pub enum FileOrMessage<M> {
    /// `FILE: ` arrived: the raw bytes follow, to be read with
    /// [`Connection::receive_file`].
    File,
    /// A line arrived instead (usually `ERROR: ...`).
    Message(M),
}

/// PINGs the peer at `addr` and returns the time from PING to PONG (not
/// counting the time to connect): the tracker's console and a peer's shell
/// both ask this.
pub fn ping_peer(addr: SocketAddr, tracer: &(impl Tracer + Clone + 'static)) -> Result<Duration> {
    let mut connection = Connection::connect(addr, tracer)?;
    let start = Instant::now();
    match connection.request(&PeerRequest::Ping)? {
        PeerReply::Pong => Ok(start.elapsed()),
        other => Err(Error::unexpected("PONG", &other)),
    }
}

/// Parses a line as it came off the wire: it must be UTF-8 text.
fn parse_line<M: Wire>(line: &[u8]) -> Result<M> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    Ok(M::parse(text)?)
}

/// A TCP connection that speaks the protocol.
pub struct Connection {
    /// Reads go through a buffer so that lines can be split out of whatever
    /// the socket delivers, and so that 100-byte chunks are copied out of one
    /// large read instead of costing one system call each.
    reader: BufReader<SharedSocket>,
    /// Writes are gathered and sent with `flush`: a whole line goes out in
    /// one write (one TCP segment), and 100-byte chunks in large batches.
    writer: BufWriter<TimedWriter>,
    other_end: SocketAddr,
    /// What `--trace` calls the other end: its id when known, else its
    /// address.
    other_name: String,
    /// Who hears the lines that cross this connection (`--trace`).
    tracer: Arc<dyn Tracer>,
    /// The start of a line whose end has not arrived yet. It lives here, not
    /// in a local variable of the read, so that a read that times out
    /// between two bytes of a line (the tracker wakes up now and then to
    /// check that a peer is alive) loses nothing: the next read goes on.
    partial_line: Vec<u8>,
    /// When the first byte of the line being read arrived: a line must end
    /// in time however its bytes trickle (see [`LINE_MIN_RATE`]).
    line_began: Option<Instant>,
    /// When the last byte of a line arrived: a line that never ends is
    /// reported with how long nothing came after it.
    last_byte_at: Instant,
    /// The last line read had no line end: the other end closed its side
    /// right after it.
    unterminated: bool,
    /// The read time-out set on the socket now, so we only change it when
    /// it changes (each change is a system call).
    read_timeout: Option<Duration>,
    /// How long a transfer or a reply may make no progress:
    /// [`STALL_TIMEOUT`], shorter only in this file's tests.
    stall: Duration,
    /// Which side of the conversation we are on: it fixes how long a line
    /// we read may be.
    role: Role,
    /// `demo --slow` only: the pause before each chunk of a file sent, and
    /// a trace line for each chunk received (see [`Connection::pace_chunks`]).
    chunk_pause: Option<Duration>,
    /// Where in our code the send or receive under way was called: every
    /// public method that traces is `#[track_caller]` and sets it first.
    at: &'static Location<'static>,
}

/// Which side of a conversation a connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We accepted it: we read requests, short lines
    /// ([`MAX_REQUEST_LINE`]), from anyone who connects.
    Server,
    /// We connected: we read replies, which may be long
    /// ([`MAX_REPLY_LINE`]: the tracker's `FILES:` list), from the node we
    /// chose to ask.
    Client,
}

impl Role {
    /// The longest line a connection on this side reads.
    pub fn line_limit(self) -> usize {
        match self {
            Role::Server => MAX_REQUEST_LINE,
            Role::Client => MAX_REPLY_LINE,
        }
    }
}

impl Connection {
    /// Connects to another node: the client side.
    /// `tracer` hears every line (a [`crate::log::Log`], usually).
    pub fn connect(
        addr: SocketAddr,
        tracer: &(impl Tracer + Clone + 'static),
    ) -> Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        Connection::connected(stream, tracer)
    }

    /// The client side of a socket connected some other way, with buffers
    /// of [`IO_BUFFER_SIZE`].
    pub fn connected(
        stream: TcpStream,
        tracer: &(impl Tracer + Clone + 'static),
    ) -> Result<Connection> {
        Connection::wrap(
            stream,
            Role::Client,
            Arc::new(tracer.clone()),
            IO_BUFFER_SIZE,
        )
    }

    /// The server side of a socket that `accept` gave us, with read and
    /// write buffers of `buffer_size` bytes. Small buffers cost less
    /// memory; large ones fewer system calls. (The read buffer is zeroed
    /// when first used, so its whole size counts, even for a connection
    /// that reads one line.)
    pub fn accepted(
        stream: TcpStream,
        tracer: &(impl Tracer + Clone + 'static),
        buffer_size: usize,
    ) -> Result<Connection> {
        Connection::wrap(stream, Role::Server, Arc::new(tracer.clone()), buffer_size)
    }

    fn wrap(
        stream: TcpStream,
        role: Role,
        tracer: Arc<dyn Tracer>,
        buffer_size: usize,
    ) -> Result<Connection> {
        let other_end = stream
            .peer_addr()
            .map_err(|e| Error::io("reading the peer address", e))?;
        let setup = |stream: &TcpStream| -> io::Result<()> {
            // Send each line at once instead of waiting to batch it with the
            // next (Nagle's algorithm): our lines are requests and replies,
            // and waiting for a batch that never comes costs milliseconds.
            stream.set_nodelay(true)?;
            // A blocked write wakes up this often to check how long it has
            // been without progress (see TimedWriter): a write to an end
            // that stopped reading fails instead of blocking for ever.
            stream.set_write_timeout(Some(WRITE_WAIT_SLICE))
        };
        setup(&stream).map_err(|e| Error::io("setting up the socket", e))?;
        let socket = SharedSocket(Arc::new(stream));
        Ok(Connection::over(
            socket,
            role,
            other_end,
            tracer,
            buffer_size,
        ))
    }

    /// A connection with fresh buffers over `socket`.
    fn over(
        socket: SharedSocket,
        role: Role,
        other_end: SocketAddr,
        tracer: Arc<dyn Tracer>,
        buffer_size: usize,
    ) -> Connection {
        let writer = TimedWriter {
            socket: socket.clone(),
            stall: STALL_TIMEOUT,
            failed: false,
        };
        Connection {
            reader: BufReader::with_capacity(buffer_size, socket),
            writer: BufWriter::with_capacity(buffer_size, writer),
            other_end,
            other_name: tracer.name_of(other_end),
            tracer,
            partial_line: Vec::new(),
            line_began: None,
            last_byte_at: Instant::now(),
            unterminated: false,
            read_timeout: None,
            stall: STALL_TIMEOUT,
            role,
            chunk_pause: None,
            at: Location::caller(),
        }
    }

    /// Makes the stall time-out shorter, so the tests of this file can
    /// prove the stall rules in seconds rather than minutes.
    #[cfg(test)]
    fn set_stall_timeout(&mut self, stall: Duration) {
        self.stall = stall;
        self.writer.get_mut().stall = stall;
    }

    /// Paces the file bodies of this connection, for `demo --slow` only: a
    /// body sent pauses `pause` before each chunk, and each chunk received
    /// is traced, so that chunks from two senders visibly take turns.
    /// `None`, as for every real transfer, never waits.
    pub fn pace_chunks(&mut self, pause: Option<Duration>) {
        self.chunk_pause = pause;
    }

    /// The address of the other end.
    pub fn other_end(&self) -> SocketAddr {
        self.other_end
    }

    /// Calls the other end `name` in `--trace` lines from now on (the
    /// tracker does, once a peer has joined and its id is known).
    pub fn set_other_name(&mut self, name: &str) {
        self.other_name = name.to_string();
    }

    /// This end's address: the one the other end sees our connection come
    /// from (which, on a machine with several addresses, the operating
    /// system chose, not us).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        let SharedSocket(stream) = self.reader.get_ref();
        stream
            .local_addr()
            .map_err(|e| Error::io("reading our own address", e))
    }

    /// A second connection on the same socket, with buffers of its own, for
    /// a thread that only writes while another only reads (the peer's
    /// tracker session does that). Reading from both would split the
    /// incoming bytes between two buffers: do not.
    pub fn writing_half(&self) -> Connection {
        let buffer_size = self.writer.capacity();
        Connection::over(
            self.reader.get_ref().clone(),
            self.role,
            self.other_end,
            Arc::clone(&self.tracer),
            buffer_size,
        )
    }

    /// A handle that can close the socket from another thread.
    pub fn closer(&self) -> Closer {
        Closer(self.reader.get_ref().clone())
    }

    /// Closes both directions now; a thread blocked reading this socket
    /// wakes up with end-of-file.
    pub fn shutdown(&self) {
        self.closer().close();
    }

    /// Sends one message as one line, in one write.
    #[track_caller]
    pub fn send(&mut self, message: &impl Wire) -> Result<()> {
        self.at = Location::caller();
        let line = message.format();
        self.trace(Direction::Sent, || {
            text::shown_within(line.as_bytes(), TRACE_MAX)
        });
        let sent = self
            .writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.write_all(b"\n"))
            .and_then(|()| self.writer.flush());
        let sent = sent.and_then(|()| self.still_open_after_close());
        sent.map_err(|e| {
            // The line was traced before it went out, so that the other end's
            // trace of it never comes first; say that it did not go out.
            self.trace(Direction::Sent, || {
                format!("(failed: the line above was not sent: {e})").into()
            });
            Error::io(
                format!("sending {} to {}", message.keyword(), self.other_end),
                e,
            )
        })
    }

    /// After answering a line that the other end sent without its line
    /// end and then closed its side: whether it closed only that side (it
    /// waits for our answer) or the whole connection (our answer went
    /// nowhere). The system takes our bytes either way; a closed
    /// connection answers them with a reset, which a look at the socket
    /// then shows. On loopback the reset is there at once; across a
    /// network it may come later, and the answer then looks sent.
    fn still_open_after_close(&self) -> io::Result<()> {
        if !self.unterminated {
            return Ok(());
        }
        let SharedSocket(stream) = self.reader.get_ref();
        let since = Instant::now();
        // A read would only see the close that came first; the socket's
        // pending error shows the reset.
        while since.elapsed() < RESET_WAIT {
            if let Ok(Some(e)) = stream.take_error() {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "the other end had closed the connection, not only its side of it ({e})"
                    ),
                ));
            }
            std::thread::sleep(RESET_WAIT / 10);
        }
        Ok(())
    }

    /// Tells the tracer about a line, building the text only when somebody
    /// listens.
    fn trace<'a>(&self, direction: Direction, text: impl FnOnce() -> Cow<'a, str>) {
        if self.tracer.tracing() {
            self.tracer
                .line_at(&self.other_name, direction, &text(), self.at);
        }
    }

    /// Reads one message. `Ok(None)` means the other end closed the
    /// connection cleanly, between two lines. A line that is not a valid
    /// message is `Err(Error::Protocol(..))`; the line has been consumed, so
    /// the caller may answer `ERROR:` and read on. The line may be at most
    /// [`Role::line_limit`] bytes long; `wait` says how long it may take.
    #[track_caller]
    pub fn receive<M: Wire>(&mut self, wait: Wait) -> Result<Option<M>> {
        self.at = Location::caller();
        let limit = self.role.line_limit();
        let Some(line) = self.read_line(limit, wait)? else {
            return Ok(None);
        };
        self.trace_received(&line);
        parse_line(&line).map(Some)
    }

    /// Traces a line that arrived, escaped and cut, and says so when it had
    /// no line end.
    fn trace_received(&self, line: &[u8]) {
        self.trace(Direction::Received, || {
            let shown = text::shown_within(line, TRACE_MAX);
            if self.unterminated {
                format!("{shown} {NO_LINE_END_THEN_CLOSED}").into()
            } else {
                shown
            }
        });
    }

    /// Sends a request and reads its one-line reply, which is owed:
    /// end-of-file is an error, and the other end has [`STALL_TIMEOUT`] to
    /// answer.
    #[track_caller]
    pub fn request<R: Wire>(&mut self, message: &impl Wire) -> Result<R> {
        self.send(message)?;
        self.receive(self.reply_wait())?.ok_or(Error::Closed)
    }

    /// How long a reply may take: [`STALL_TIMEOUT`] without progress. (The
    /// same wait every time, not a deadline, which differs on every call,
    /// so the socket's time-out is set once, not per request.)
    pub fn reply_wait(&self) -> Wait {
        Wait::NoProgressFor(self.stall)
    }

    /// Reads the answer to a request that may be answered with a file:
    /// either the `FILE: ` header (the bytes follow), or one line.
    #[track_caller]
    pub fn receive_file_or<M: Wire>(&mut self, wait: Wait) -> Result<FileOrMessage<M>> {
        self.at = Location::caller();
        let limit = self.role.line_limit();
        // `FILE: ` has no line ending, so we look at the bytes one at a time
        // until they either spell the header or end a line. The bytes come
        // out of the read buffer, so this costs no extra system calls.
        let mut line = Vec::new();
        self.line_began = None;
        loop {
            if let Err(e) = self.set_timeout_for(wait, line.len()) {
                return Err(self.read_error(e, wait, &line));
            }
            let byte = match self.reader.fill_buf() {
                Ok([]) => return Err(self.closed_after(&line)),
                Ok(available) => available[0],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e, wait, &line)),
            };
            self.reader.consume(1);
            self.last_byte_at = Instant::now();
            self.line_began.get_or_insert(self.last_byte_at);
            match split_line(line.len(), &[byte], limit) {
                Split::TooLong => return Err(Error::LineTooLong { limit }),
                Split::NeedMore { .. } => line.push(byte),
                Split::Line { .. } => {
                    self.line_began = None;
                    let line = without_cr(line);
                    self.unterminated = false;
                    self.trace_received(&line);
                    return Ok(FileOrMessage::Message(parse_line(&line)?));
                }
            }
            if line == FILE_HEADER.as_bytes() {
                return Ok(FileOrMessage::File);
            }
        }
    }

    /// The error of a reply that was owed when the other end closed: plain
    /// [`Error::Closed`], or the start of a line it sent without its end.
    fn closed_after(&self, partial: &[u8]) -> Error {
        if partial.is_empty() {
            return Error::Closed;
        }
        let what = format!(
            "got {} with no line end, then the connection closed: every message ends with \\n",
            text::quoted(partial)
        );
        Error::io(
            format!("reading from {}", self.other_end),
            io::Error::new(io::ErrorKind::UnexpectedEof, what),
        )
    }

    /// Reads up to and without the next `\n` (and a `\r` before it), never
    /// holding more than `limit` bytes. A read that fails (a time-out) keeps
    /// the part of the line it has read for the next call.
    fn read_line(&mut self, limit: usize, wait: Wait) -> Result<Option<Vec<u8>>> {
        self.unterminated = false;
        loop {
            if let Err(e) = self.set_timeout_for(wait, self.partial_line.len()) {
                return Err(self.read_error(e, wait, &self.partial_line));
            }
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e, wait, &self.partial_line)),
            };
            if available.is_empty() {
                // End of file between lines: the other end is done. In the
                // middle of one: many clients send their last line without
                // `\n` and then close their side (`shutdown(SHUT_WR)`) to
                // say so; the line is complete, and it gets its answer (its
                // trace says that it had no line end).
                self.line_began = None;
                if self.partial_line.is_empty() {
                    return Ok(None);
                }
                self.unterminated = true;
                return Ok(Some(without_cr(std::mem::take(&mut self.partial_line))));
            }
            self.last_byte_at = Instant::now();
            match split_line(self.partial_line.len(), available, limit) {
                Split::TooLong => return Err(Error::LineTooLong { limit }),
                Split::NeedMore { take } => {
                    if take > 0 {
                        self.line_began.get_or_insert(self.last_byte_at);
                    }
                    self.partial_line.extend_from_slice(&available[..take]);
                    self.reader.consume(take);
                }
                Split::Line { take } => {
                    self.line_began = None;
                    self.partial_line.extend_from_slice(&available[..take]);
                    // Consume the `\n` too, but do not keep it.
                    self.reader.consume(take + 1);
                    return Ok(Some(without_cr(std::mem::take(&mut self.partial_line))));
                }
            }
        }
    }

    /// Before a read that may block: set the socket's time-out for `wait`,
    /// and for the time left to a line begun, of which `held` bytes came.
    /// Bytes already in the buffer need no wait, so nothing is changed then.
    fn set_timeout_for(&mut self, wait: Wait, held: usize) -> io::Result<()> {
        if !self.reader.buffer().is_empty() {
            return Ok(());
        }
        let mut timeout = match wait {
            Wait::Forever => None,
            Wait::NoProgressFor(timeout) => Some(timeout),
            Wait::Until(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(time_is_up());
                }
                Some(left)
            }
        };
        if let Some(began) = self.line_began {
            let left = line_time_left(began, held, self.stall, Instant::now())
                .ok_or_else(|| line_too_slow(held, began, self.stall))?;
            timeout = Some(timeout.map_or(left, |wait| wait.min(left)));
        }
        self.apply_read_timeout(timeout)
    }

    /// A failed read as an error that says what happened, in plain words
    /// when the other end was too slow. When a line had begun, the error
    /// quotes it: a line without its `\n` is the commonest mistake of a
    /// program written by hand.
    fn read_error(&self, error: io::Error, wait: Wait, partial: &[u8]) -> Error {
        // A read cut short because the line's time was up says so.
        let error = match self.line_began {
            Some(began)
                if is_io_timeout(&error)
                    && line_time_left(began, partial.len(), self.stall, Instant::now())
                        .is_none() =>
            {
                line_too_slow(partial.len(), began, self.stall)
            }
            _ => error,
        };
        let error = plain_timeout(error, wait);
        let error = if is_io_timeout(&error) && !partial.is_empty() {
            let what = format!(
                "got {} with no line end, then nothing for {}: every message ends with \\n",
                text::quoted(partial),
                about(self.last_byte_at.elapsed())
            );
            io::Error::new(error.kind(), what)
        } else {
            error
        };
        Error::io(format!("reading from {}", self.other_end), error)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.apply_read_timeout(timeout)
            .map_err(|e| Error::io("setting a time-out", e))
    }

    /// Sets the socket's read time-out, only when it changes (each change
    /// is a system call).
    fn apply_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.read_timeout != timeout {
            let SharedSocket(stream) = self.reader.get_ref();
            stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }
}
