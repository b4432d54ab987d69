//! What the programs print about themselves: events and protocol traces.
//!
//! Every node (the tracker, each peer) owns a [`Log`] with its name on it.
//! In the demo four nodes share one terminal, so each line says whose it is.
//! Printing goes through `println!`, which locks standard output for the
//! whole line, so lines from different threads never mix mid-line.

use crate::date::clock_time;
use std::net::SocketAddr;
use std::sync::Arc;

/// The longest protocol line `--trace` prints whole; longer ones (a `FILES:`
/// list of thousands of records) are cut, with their length said.
const TRACE_LINE_MAX: usize = 600;

/// A node's name and whether it traces the protocol. Cheap to clone: every
/// connection of the node holds one.
#[derive(Debug, Clone)]
pub struct Log {
    label: Arc<str>,
    trace: bool,
}

/// Which way a traced line went, seen from this node.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Sent,
    Received,
}

impl Log {
    pub fn new(label: &str, trace: bool) -> Log {
        Log {
            label: label.into(),
            trace,
        }
    }

    /// The node's name, e.g. `tracker` or `peer1`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A time-stamped event: a join, a search, a refusal, a notice.
    pub fn event(&self, text: &str) {
        println!("[{} {}] {text}", clock_time(), self.label);
    }

    /// One protocol line, printed only with `--trace`:
    /// `[peer1] 127.0.0.1:5000 -> HELLO` (sent to) or `... <- HI` (received from).
    pub fn trace(&self, other_end: SocketAddr, direction: Direction, text: &str) {
        if !self.trace {
            return;
        }
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        if text.len() <= TRACE_LINE_MAX {
            println!("[{}] {other_end} {arrow} {text}", self.label);
        } else {
            let mut cut = TRACE_LINE_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let shown = &text[..cut];
            println!(
                "[{}] {other_end} {arrow} {shown}... ({} bytes)",
                self.label,
                text.len()
            );
        }
    }
}
