//! Who hears the lines a connection sends and receives (`--trace`).
//!
//! A [`Connection`](crate::wire::connection::Connection) tells a
//! [`Tracer`] about every line that crosses the wire. The wire knows
//! nothing of how a trace is printed: the program's log implements the
//! trait ([`crate::log::Log`]), a test may implement it too, and
//! [`NoTrace`] hears nothing. When nobody listens, [`Tracer::tracing`]
//! says so, and the connection formats nothing at all.
//!
//! Each line comes with the place in our code that sent or received it (a
//! [`Location`] that `#[track_caller]` captures at the call of the
//! connection's `send` or `receive`), so that `--trace=code` and the web
//! page can lead from a line to the function that wrote it. Capturing it
//! costs a pointer passed along; it is looked at only when somebody
//! listens.

use std::net::SocketAddr;
use std::panic::Location;

/// Which way a traced line went, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Hears the protocol lines of a connection.
pub trait Tracer: Send + Sync {
    /// Whether anybody listens. A connection asks before it builds a line
    /// to trace, so that tracing costs nothing when it is off.
    fn tracing(&self) -> bool;

    /// One line that crossed the wire, to or from `other_end` (an id when
    /// known, else an address). `text` is already escaped and cut.
    fn line(&self, other_end: &str, direction: Direction, text: &str);

    /// The same line, with the place in our code that sent it or read it
    /// (`src/tracker/mod.rs:429`). A tracer that has no use for it hears
    /// [`Tracer::line`].
    fn line_at(
        &self,
        other_end: &str,
        direction: Direction,
        text: &str,
        at: &'static Location<'static>,
    ) {
        let _ = at;
        self.line(other_end, direction, text);
    }

    /// What to call the node at `addr` in trace lines.
    fn name_of(&self, addr: SocketAddr) -> String {
        addr.to_string()
    }
}

/// A tracer that hears nothing: for a connection nobody traces.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTrace;

impl Tracer for NoTrace {
    fn tracing(&self) -> bool {
        false
    }

    fn line(&self, _other_end: &str, _direction: Direction, _text: &str) {}
}
