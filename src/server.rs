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
//!   connection, never the server.

use crate::connection::{Closer, Connection};
use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::protocol::Message;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
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

/// How long [`Server::stop`] waits for connection threads to finish.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What a server does with one connection, in that connection's thread.
pub type Handler = Arc<dyn Fn(Connection) + Send + Sync>;

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
    closers: Mutex<HashMap<u64, Closer>>,
    next_id: AtomicU64,
    one_ended: Condvar,
}

/// Proof that a connection is counted as live; dropping it (when the
/// connection's thread ends, or could not start) un-counts it.
struct Ticket {
    live: Arc<LiveConnections>,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.live.closers).remove(&self.id);
        self.live.one_ended.notify_all();
    }
}

impl LiveConnections {
    /// Counts a new connection, unless `max` are live already.
    fn admit(self: &Arc<Self>, connection: &Connection, max: usize) -> Option<Ticket> {
        let mut closers = lock(&self.closers);
        if closers.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        closers.insert(id, connection.closer());
        Some(Ticket {
            live: Arc::clone(self),
            id,
        })
    }
}

impl Server {
    /// Serves `listener` in a background thread: every accepted connection
    /// runs `handler` in a thread of its own, within `limits`.
    pub fn start(
        listener: TcpListener,
        limits: Limits,
        log: Log,
        handler: Handler,
    ) -> Result<Server> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listening address", e))?;
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
        lock(&self.live.closers).len()
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
        let mut closers = lock(&self.live.closers);
        for closer in closers.values() {
            closer.close();
        }
        let deadline = Instant::now() + STOP_WAIT;
        while !closers.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            closers = match self.live.one_ended.wait_timeout(closers, left) {
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
    /// [`Connection::with_buffers`]).
    pub buffer_size: usize,
    /// The stack of each connection thread.
    pub stack_size: usize,
}

impl Limits {
    /// `max_connections` connections with buffers of `buffer_size` bytes,
    /// each thread with a [`CONNECTION_STACK_SIZE`] stack.
    pub fn new(max_connections: usize, buffer_size: usize) -> Limits {
        Limits {
            max_connections,
            buffer_size,
            stack_size: CONNECTION_STACK_SIZE,
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    limits: Limits,
    log: &Log,
    handler: &Handler,
    stopping: &AtomicBool,
    live: &Arc<LiveConnections>,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                log.event(&format!("could not accept a connection: {error}"));
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

fn serve_one(
    stream: TcpStream,
    limits: Limits,
    log: &Log,
    handler: &Handler,
    live: &Arc<LiveConnections>,
) -> Result<()> {
    let mut connection = Connection::with_buffers(stream, log, limits.buffer_size)?;
    let Some(ticket) = live.admit(&connection, limits.max_connections) else {
        log.event(&format!(
            "refused {}: busy ({} connections)",
            connection.other_end(),
            limits.max_connections
        ));
        // A fresh socket's send buffer is empty, so this cannot block.
        return connection.send(&Message::Error("busy".into()));
    };
    let handler = Arc::clone(handler);
    let other_end = connection.other_end();
    let started = thread::Builder::new()
        .name(format!("{} {other_end}", log.label()))
        .stack_size(limits.stack_size)
        .spawn(move || {
            handler(connection);
            drop(ticket);
        });
    // If the thread could not start, the closure, and with it the connection
    // and its ticket, has been dropped: the socket is closed and un-counted.
    started
        .map(drop)
        .map_err(|e| Error::io(format!("starting a thread for {other_end}"), e))
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
/// port is taken.
pub fn listen(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (is another tracker or peer running on that port? stop it, or change the port in the settings file)"
        } else {
            ""
        };
        Error::Other(format!("cannot listen on {addr}: {e}{hint}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn listener() -> TcpListener {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()
    }

    fn echo_pong() -> Handler {
        Arc::new(|mut connection: Connection| {
            let _ = connection.send(&Message::Pong);
        })
    }

    /// Reads until the server closes the connection; returns what it sent.
    fn read_all(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn each_connection_is_served_and_stop_ends_everything() {
        let mut server = Server::start(
            listener(),
            Limits::new(4, 1024),
            Log::new("test", false),
            echo_pong(),
        )
        .unwrap();
        assert_eq!(read_all(server.local_addr()), "PONG\n");
        server.stop();
        assert_eq!(server.connection_count(), 0);
        assert!(
            TcpStream::connect(server.local_addr()).is_err(),
            "no longer listening"
        );
    }

    #[test]
    fn a_thread_that_cannot_start_costs_one_connection_not_the_server() {
        // No machine has 64 TiB for a stack: every spawn fails.
        let limits = Limits {
            buffer_size: 1024,
            max_connections: 4,
            stack_size: 1 << 46,
        };
        let server =
            Server::start(listener(), limits, Log::new("test", false), echo_pong()).unwrap();
        for _ in 0..3 {
            assert_eq!(
                read_all(server.local_addr()),
                "",
                "closed without an answer"
            );
        }
        assert_eq!(
            server.connection_count(),
            0,
            "the failed connections are not counted"
        );
    }
}
