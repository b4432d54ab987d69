//! One TCP connection, with the framing of the protocol on top of it.
//!
//! This is the only code that reads from or writes to a socket. It knows:
//! - lines: a message is one line ending in `\n`; a reader never buffers more
//!   than a given limit, so a peer that sends an endless line cannot make us
//!   allocate endless memory;
//! - file bodies: `FILE: ` followed by exactly as many raw bytes as the
//!   request said, moved in [`CHUNK_SIZE`] chunks;
//! - time limits: how long a read or write may wait before we give up, and
//!   what "no progress" means for each side of a transfer;
//! - `--trace`: every line sent and received is printed here, so the trace
//!   shows exactly what crossed the wire.
//!
//! The tracker, the peer server and the peer's client code all talk through
//! a [`Connection`], so none of them builds or parses raw bytes itself.

use crate::error::{is_io_timeout, Error, Result};
use crate::log::{Direction, Log};
use crate::wire::messages::Wire;
use crate::wire::protocol::{ParseError, CHUNK_SIZE, FILE_HEADER};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
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

/// How long one blocked `send` may wait before [`TimedWriter`] looks at the
/// clock. The operating system restarts a socket's write time-out on every
/// call, and a call that sent a few bytes counts as a success, so a single
/// time-out of [`STALL_TIMEOUT`] could let a write hang for several times
/// that. Waiting in short slices instead, and counting time since the last
/// byte taken, bounds a stalled write to `STALL_TIMEOUT` plus one slice.
const WRITE_WAIT_SLICE: Duration = Duration::from_secs(1);

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

/// Parses a line as it came off the wire: it must be UTF-8 text.
fn parse_line<M: Wire>(line: &[u8]) -> Result<M> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    Ok(M::parse(text)?)
}

/// One socket, shared by the reading and writing halves of a connection
/// (and by whoever may need to close it from another thread).
///
/// Why not `TcpStream::try_clone`? Each clone is one more open file
/// descriptor, and a process may only have so many (20000 here): a tracker
/// with ten thousand peers joined would run out. Sharing the one socket
/// through an `Arc` costs nothing of the kind. `&TcpStream` can read and
/// write, so the halves need no `&mut` on the socket itself.
#[derive(Debug, Clone)]
struct SharedSocket(Arc<TcpStream>);

impl Read for SharedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

/// A handle that closes a connection's socket from another thread: the
/// servers keep one per live connection, to close them all when stopping.
#[derive(Debug, Clone)]
pub struct Closer(SharedSocket);

impl Closer {
    /// A closer for a socket served without a [`Connection`] on it (the web
    /// page's HTTP streams share theirs through an `Arc` the same way).
    pub fn for_socket(socket: Arc<TcpStream>) -> Closer {
        Closer(SharedSocket(socket))
    }

    /// Closes both directions now; a thread blocked reading the socket
    /// wakes up with end-of-file.
    pub fn close(&self) {
        let SharedSocket(stream) = &self.0;
        // Closing a socket that is already closed is not worth reporting.
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// The writing side of a connection, timed as a whole rather than per
/// system call: a write fails once nothing at all has been taken from us for
/// `stall`, however the operating system splits it into calls.
///
/// Once a write has failed, every later write fails at once without
/// touching the socket. That matters when the connection is dropped: a
/// `BufWriter` flushes what it still holds when dropped, and flushing into a
/// connection that has just stalled would block for another whole stall.
#[derive(Debug)]
struct TimedWriter {
    socket: SharedSocket,
    stall: Duration,
    failed: bool,
}

impl Write for TimedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "an earlier write on this connection failed",
            ));
        }
        // Each `write` that returns Ok took at least one byte: progress.
        // So the time without progress counts from the start of this call.
        let waiting_since = Instant::now();
        loop {
            match self.socket.write(buf) {
                Ok(written) => return Ok(written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // One slice of WRITE_WAIT_SLICE passed without a byte taken.
                Err(e) if is_io_timeout(&e) && waiting_since.elapsed() < self.stall => {}
                Err(e) => {
                    self.failed = true;
                    return Err(if is_io_timeout(&e) {
                        no_progress(self.stall)
                    } else {
                        e
                    });
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // A socket holds nothing back in the program; `write` has sent it all.
        Ok(())
    }
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
    log: Log,
    /// The start of a line whose end has not arrived yet. It lives here, not
    /// in a local variable of the read, so that a read that times out
    /// between two bytes of a line (the tracker wakes up now and then to
    /// check that a peer is alive) loses nothing: the next read goes on.
    partial_line: Vec<u8>,
    /// The read time-out set on the socket now, so we only change it when
    /// it changes (each change is a system call).
    read_timeout: Option<Duration>,
    /// How long a transfer or a reply may make no progress:
    /// [`STALL_TIMEOUT`], shorter only in this file's tests.
    stall: Duration,
    /// Which side of the conversation we are on: it fixes how long a line
    /// we read may be.
    role: Role,
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
    pub fn connect(addr: SocketAddr, log: &Log) -> Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        Connection::connected(stream, log)
    }

    /// The client side of a socket connected some other way, with buffers
    /// of [`IO_BUFFER_SIZE`].
    pub fn connected(stream: TcpStream, log: &Log) -> Result<Connection> {
        Connection::wrap(stream, Role::Client, log, IO_BUFFER_SIZE)
    }

    /// The server side of a socket that `accept` gave us, with read and
    /// write buffers of `buffer_size` bytes. Small buffers cost less
    /// memory; large ones fewer system calls. (The read buffer is zeroed
    /// when first used, so its whole size counts, even for a connection
    /// that reads one line.)
    pub fn accepted(stream: TcpStream, log: &Log, buffer_size: usize) -> Result<Connection> {
        Connection::wrap(stream, Role::Server, log, buffer_size)
    }

    fn wrap(stream: TcpStream, role: Role, log: &Log, buffer_size: usize) -> Result<Connection> {
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
        Ok(Connection::over(socket, role, other_end, log, buffer_size))
    }

    /// A connection with fresh buffers over `socket`.
    fn over(
        socket: SharedSocket,
        role: Role,
        other_end: SocketAddr,
        log: &Log,
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
            other_name: log.name_of(other_end),
            log: log.clone(),
            partial_line: Vec::new(),
            read_timeout: None,
            stall: STALL_TIMEOUT,
            role,
        }
    }

    /// Makes the stall time-out shorter, so the tests of this file can
    /// prove the stall rules in seconds rather than minutes.
    #[cfg(test)]
    fn set_stall_timeout(&mut self, stall: Duration) {
        self.stall = stall;
        self.writer.get_mut().stall = stall;
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
            &self.log,
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
    pub fn send(&mut self, message: &impl Wire) -> Result<()> {
        let line = message.format();
        self.log.trace(&self.other_name, Direction::Sent, &line);
        let context = || format!("sending {} to {}", message.keyword(), self.other_end);
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(context(), e))?;
        self.writer
            .write_all(b"\n")
            .map_err(|e| Error::io(context(), e))?;
        self.writer.flush().map_err(|e| Error::io(context(), e))
    }

    /// Reads one message. `Ok(None)` means the other end closed the
    /// connection cleanly, between two lines. A line that is not a valid
    /// message is `Err(Error::Protocol(..))`; the line has been consumed, so
    /// the caller may answer `ERROR:` and read on.
    ///
    /// `limit` bounds the line's length; `deadline`, when given, is the
    /// latest moment the whole line must have arrived by.
    pub fn receive<M: Wire>(&mut self, wait: Wait) -> Result<Option<M>> {
        let limit = self.role.line_limit();
        let Some(line) = self.read_line(limit, wait)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&line);
        self.log.trace(&self.other_name, Direction::Received, &text);
        parse_line(&line).map(Some)
    }

    /// Sends a request and reads its one-line reply, which is owed:
    /// end-of-file is an error, and the other end has [`STALL_TIMEOUT`] to
    /// answer.
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
    pub fn receive_file_or<M: Wire>(&mut self, wait: Wait) -> Result<FileOrMessage<M>> {
        let limit = self.role.line_limit();
        // `FILE: ` has no line ending, so we look at the bytes one at a time
        // until they either spell the header or end a line. The bytes come
        // out of the read buffer, so this costs no extra system calls.
        let mut line = Vec::new();
        loop {
            self.set_timeout_for(wait)?;
            let byte = match self.reader.fill_buf() {
                Ok([]) => return Err(Error::Closed),
                Ok(available) => available[0],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e, wait)),
            };
            self.reader.consume(1);
            match split_line(line.len(), &[byte], limit) {
                Split::TooLong => return Err(Error::LineTooLong { limit }),
                Split::NeedMore { .. } => line.push(byte),
                Split::Line { .. } => {
                    let line = without_cr(line);
                    self.log.trace(
                        &self.other_name,
                        Direction::Received,
                        &String::from_utf8_lossy(&line),
                    );
                    return Ok(FileOrMessage::Message(parse_line(&line)?));
                }
            }
            if line == FILE_HEADER.as_bytes() {
                return Ok(FileOrMessage::File);
            }
        }
    }

    /// Sends `FILE: ` and then exactly `len` bytes from `source`, in
    /// [`CHUNK_SIZE`] chunks. `source` should itself be buffered (a
    /// `BufReader` over the file) for the same reason the socket is.
    ///
    /// `progress` hears the byte count handed to the system so far, after
    /// each chunk.
    pub fn send_file(
        &mut self,
        source: &mut impl Read,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.log
            .trace(&self.other_name, Direction::Sent, &body_trace(len));
        let sending = |e| Error::io(format!("sending the file to {}", self.other_end), e);
        self.writer
            .write_all(FILE_HEADER.as_bytes())
            .map_err(sending)?;
        let mut chunk = [0u8; CHUNK_SIZE];
        let mut sent: u64 = 0;
        while sent < len {
            let size = chunk_len(len - sent);
            source.read_exact(&mut chunk[..size]).map_err(|e| {
                Error::io(
                    "reading the file to send (did it change while being sent?)",
                    e,
                )
            })?;
            // `demo --slow` only: send each chunk on its own, after a
            // pause, so a class can watch chunks from two peers take turns.
            if let Some(pause) = self.log.chunk_pause() {
                self.writer.flush().map_err(sending)?;
                std::thread::sleep(pause);
            }
            // Into the 64 KiB buffer, not straight onto the wire: the buffer
            // turns hundreds of chunks into one system call.
            self.writer.write_all(&chunk[..size]).map_err(sending)?;
            sent += size as u64;
            progress(sent);
        }
        self.writer.flush().map_err(sending)
    }

    /// Reads exactly `len` bytes of a file body (after [`FileOrMessage::File`])
    /// into `sink`, in [`CHUNK_SIZE`] chunks, calling `progress` with the
    /// byte count so far after each chunk.
    pub fn receive_file(
        &mut self,
        sink: &mut impl Write,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.log
            .trace(&self.other_name, Direction::Received, &body_trace(len));
        // A read returns as soon as any byte arrives, so a read time-out of
        // `stall` is exactly "no progress for `stall`".
        let wait = Wait::NoProgressFor(self.stall);
        self.set_read_timeout(Some(self.stall))?;
        let mut chunk = [0u8; CHUNK_SIZE];
        let mut received: u64 = 0;
        while received < len {
            let size = chunk_len(len - received);
            // Fill the chunk read by read, counting every byte, so that a
            // sender cut off mid-chunk is reported to the byte.
            let mut filled = 0;
            while filled < size {
                match self.reader.read(&mut chunk[filled..size]) {
                    Ok(0) => {
                        return Err(Error::Other(format!(
                            "{} stopped sending after {} of {len} bytes",
                            self.other_name,
                            received + filled as u64
                        )))
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(Error::io(
                            format!("receiving the file from {}", self.other_name),
                            plain_timeout(e, wait),
                        ))
                    }
                }
            }
            sink.write_all(&chunk[..size])
                .map_err(|e| Error::io("writing the received file", e))?;
            received += size as u64;
            // `demo --slow` only (see `Log::paced`): show each chunk arrive.
            if self.log.chunk_pause().is_some() {
                let number = received.div_ceil(CHUNK_SIZE as u64);
                let of = len.div_ceil(CHUNK_SIZE as u64);
                let text = format!("chunk {number} of {of} ({size} bytes)");
                self.log.trace(&self.other_name, Direction::Received, &text);
            }
            progress(received);
        }
        Ok(())
    }

    /// After a file body: the sender must close now. Waits up to `wait` for
    /// the close; a byte more than announced is an error (the sender and we
    /// disagree on where the file ends, so what we have may be shifted: a
    /// stray line end before the bytes does exactly that). A sender that
    /// keeps the connection open without sending is let be.
    pub fn expect_end_of_body(&mut self, wait: Duration) -> Result<()> {
        self.set_read_timeout(Some(wait))?;
        let mut probe = [0u8; 1];
        match self.reader.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(Error::Other(format!(
                "{} sent more bytes than the file's size it was asked for; \
                 the copy may be shifted, so it is not kept",
                self.other_name
            ))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            // Reset after the whole body: what we have is whole.
            Err(_) => Ok(()),
        }
    }

    /// Reads up to and without the next `\n` (and a `\r` before it), never
    /// holding more than `limit` bytes. A read that fails (a time-out) keeps
    /// the part of the line it has read for the next call.
    fn read_line(&mut self, limit: usize, wait: Wait) -> Result<Option<Vec<u8>>> {
        loop {
            self.set_timeout_for(wait)?;
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e, wait)),
            };
            if available.is_empty() {
                // End of file between lines: the other end is done. In the
                // middle of one: many clients send their last line without
                // `\n` and then close their side (`shutdown(SHUT_WR)`) to
                // say so; the line is complete, and it gets its answer.
                if self.partial_line.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(without_cr(std::mem::take(&mut self.partial_line))));
            }
            match split_line(self.partial_line.len(), available, limit) {
                Split::TooLong => return Err(Error::LineTooLong { limit }),
                Split::NeedMore { take } => {
                    self.partial_line.extend_from_slice(&available[..take]);
                    self.reader.consume(take);
                }
                Split::Line { take } => {
                    self.partial_line.extend_from_slice(&available[..take]);
                    // Consume the `\n` too, but do not keep it.
                    self.reader.consume(take + 1);
                    return Ok(Some(without_cr(std::mem::take(&mut self.partial_line))));
                }
            }
        }
    }

    /// Before a read that may block: set the socket's time-out for `wait`.
    /// Bytes already in the buffer need no wait, so nothing is changed then.
    fn set_timeout_for(&mut self, wait: Wait) -> Result<()> {
        if !self.reader.buffer().is_empty() {
            return Ok(());
        }
        let timeout = match wait {
            Wait::Forever => None,
            Wait::NoProgressFor(timeout) => Some(timeout),
            Wait::Until(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::io(
                        format!("waiting for {}", self.other_end),
                        time_is_up(),
                    ));
                }
                Some(left)
            }
        };
        self.set_read_timeout(timeout)
    }

    /// A failed read as an error that says what happened, in plain words
    /// when the other end was too slow.
    fn read_error(&self, error: io::Error, wait: Wait) -> Error {
        Error::io(
            format!("reading from {}", self.other_end),
            plain_timeout(error, wait),
        )
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        if self.read_timeout != timeout {
            let SharedSocket(stream) = self.reader.get_ref();
            stream
                .set_read_timeout(timeout)
                .map_err(|e| Error::io("setting a time-out", e))?;
            self.read_timeout = timeout;
        }
        Ok(())
    }
}

/// The error of a transfer or reply that made no progress for `stall`:
/// "no progress for 30 s", where the system would say "Resource temporarily
/// unavailable".
fn no_progress(stall: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no progress for {}", seconds(stall)),
    )
}

/// The error of a request that did not arrive by its deadline.
fn time_is_up() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "it did not arrive within the time allowed",
    )
}

/// A read error, with a socket time-out replaced by what it means for `wait`.
fn plain_timeout(error: io::Error, wait: Wait) -> io::Error {
    if !is_io_timeout(&error) {
        return error;
    }
    match wait {
        Wait::NoProgressFor(stall) => no_progress(stall),
        Wait::Until(_) => time_is_up(),
        // No time-out is set then; should the system time out anyway, its
        // own words are all we have.
        Wait::Forever => error,
    }
}

/// `30 s`, or `0.5 s` for a duration that is not whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// What the next bytes hold, for a reader that has `held` bytes of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The line ends after `take` more bytes; the `\n` follows them.
    Line { take: usize },
    /// No `\n` yet: keep all `take` bytes and read more.
    NeedMore { take: usize },
    /// The line is longer than the limit: stop reading it.
    TooLong,
}

/// Splits a line out of `available`, the bytes that came in, for a reader
/// that already holds `held` bytes of the line and takes `limit` bytes at
/// most (the `\n` not counted). This is the rule that keeps a sender of an
/// endless line from making us allocate endless memory, so it is a pure
/// function, tested alone; every line read of [`Connection`] goes through
/// it.
pub fn split_line(held: usize, available: &[u8], limit: usize) -> Split {
    let newline = available.iter().position(|&b| b == b'\n');
    let take = newline.unwrap_or(available.len());
    if held.saturating_add(take) > limit {
        Split::TooLong
    } else if newline.is_some() {
        Split::Line { take }
    } else {
        Split::NeedMore { take }
    }
}

/// A line without the `\r` of a `\r\n` ending.
fn without_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

/// How many bytes the next chunk holds when `left` bytes remain.
fn chunk_len(left: u64) -> usize {
    // `min` with CHUNK_SIZE first, so the cast can never truncate.
    left.min(CHUNK_SIZE as u64) as usize
}

/// What `--trace` shows for a file body (the bytes themselves would flood
/// the terminal).
fn body_trace(len: u64) -> String {
    let chunks = len.div_ceil(CHUNK_SIZE as u64);
    format!("{FILE_HEADER}({len} bytes in {chunks} chunks of {CHUNK_SIZE})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::messages::PeerReply;
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::mpsc;
    use std::thread;

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
        let log = Log::new("test", false);
        let mut ours = Connection::connect(listener.local_addr().unwrap(), &log).unwrap();
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
}
