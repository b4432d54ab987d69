//! The socket under a connection: shared by its reading and writing
//! halves, closed from another thread, and written with a time limit on
//! progress rather than on each system call.

use super::lines::no_progress;
use crate::error::is_io_timeout;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one blocked `send` may wait before [`TimedWriter`] looks at the
/// clock. The operating system restarts a socket's write time-out on every
/// call, and a call that sent a few bytes counts as a success, so a single
/// time-out of [`STALL_TIMEOUT`] could let a write hang for several times
/// that. Waiting in short slices instead, and counting time since the last
/// byte taken, bounds a stalled write to `STALL_TIMEOUT` plus one slice.
pub(super) const WRITE_WAIT_SLICE: Duration = Duration::from_secs(1);

/// One socket, shared by the reading and writing halves of a connection
/// (and by whoever may need to close it from another thread).
///
/// Why not `TcpStream::try_clone`? Each clone is one more open file
/// descriptor, and a process may only have so many (20000 here): a tracker
/// with ten thousand peers joined would run out. Sharing the one socket
/// through an `Arc` costs nothing of the kind. `&TcpStream` can read and
/// write, so the halves need no `&mut` on the socket itself.
#[derive(Debug, Clone)]
pub(super) struct SharedSocket(pub(super) Arc<TcpStream>);

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
pub struct Closer(pub(super) SharedSocket);

impl Closer {
    /// A closer for a socket served without a [`Connection`](super::Connection) on it (the web
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
pub(super) struct TimedWriter {
    pub(super) socket: SharedSocket,
    pub(super) stall: Duration,
    pub(super) failed: bool,
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
