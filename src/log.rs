//! What the programs print about themselves: events and protocol traces.
//!
//! Every node (the tracker, each peer) owns a [`Log`] with its name on it.
//! In the demo four nodes share one terminal, so each line says whose it is.
//!
//! Where lines go: a program's *results* (what a shell command found, the
//! console's tables) go to standard output; its *log* (events, notices,
//! `--trace`) goes to standard error. In a terminal both show, interleaved;
//! but `peer peer2 < script > results.txt` keeps the results apart. The
//! demo, whose log is the show, prints it on standard output instead.
//!
//! Each line is printed with one call that locks its stream for the whole
//! line, so lines from different threads never mix mid-line. A progress
//! line on standard output (`downloading x: 10% 20% ...`) is printed in
//! pieces, though: [`print_partial`] and the log share a lock, and a log
//! line that comes in the middle first ends the progress line, which then
//! goes on, with its label again, on a line of its own.

use crate::lock;
use crate::settings::Settings;
use crate::wire::date::clock_time;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest protocol line `--trace` prints whole; longer ones (a `FILES:`
/// list of thousands of records) are cut, with their length said.
const TRACE_LINE_MAX: usize = 600;

/// A node's name and whether it traces the protocol. Cheap to clone: every
/// connection of the node holds one.
#[derive(Clone)]
pub struct Log {
    label: Arc<str>,
    trace: bool,
    /// The settings file, to call the other end of a connection by its id.
    names: Option<Arc<Settings>>,
    /// Print on standard output instead of standard error (the demo).
    on_stdout: bool,
    /// Hand every line to this instead of printing it (the demo, which
    /// decides what to show and in which order; see [`Stage`]).
    stage: Option<Arc<dyn Stage>>,
    /// `demo --slow`: the pause a sender makes before each chunk of a
    /// file, so that a class can watch chunks arrive (see [`Log::paced`]).
    chunk_pause: Option<Duration>,
}

/// Takes a node's log lines instead of a terminal. The demo has one: it
/// prints each scene's lines in an order that is the same on every run.
pub trait Stage: Send + Sync {
    fn line(&self, line: LogLine);
}

/// One line as a [`Stage`] receives it.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The node that logged it: `tracker`, `peer1`...
    pub node: String,
    /// `None` for an event; which way a traced protocol line went.
    pub direction: Option<Direction>,
    /// For a traced line: the other end, by id when known, else ip:port.
    pub other_end: Option<String>,
    /// The whole line, as it would have been printed.
    pub text: String,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("label", &self.label)
            .field("trace", &self.trace)
            .field("on_stdout", &self.on_stdout)
            .field("on_stage", &self.stage.is_some())
            .field("chunk_pause", &self.chunk_pause)
            .finish()
    }
}

/// Which way a traced line went, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// A progress line being printed on standard output, piece by piece.
struct PartialLine {
    /// What the line started with, to start it again after an interruption.
    label: String,
    /// A log line ended it: the next piece starts a new line with `label`.
    interrupted: bool,
}

/// The one progress line of the process, if one is being printed.
static PARTIAL_LINE: Mutex<Option<PartialLine>> = Mutex::new(None);

/// Prints `piece` on the progress line that starts with `label`, starting
/// that line first if needed.
pub fn print_partial(label: &str, piece: &str) {
    let mut partial = lock(&PARTIAL_LINE);
    let mut out = std::io::stdout().lock();
    let start = match partial.as_ref() {
        Some(line) => line.interrupted || line.label != label,
        None => true,
    };
    if start {
        let _ = write!(out, "{label}");
    }
    let _ = write!(out, "{piece}");
    let _ = out.flush();
    *partial = Some(PartialLine {
        label: label.to_string(),
        interrupted: false,
    });
}

/// Prints a whole line on standard error (a note of the shell's), first
/// ending a progress line it would land in.
pub fn print_line(text: &str) {
    let mut partial = lock(&PARTIAL_LINE);
    interrupt(&mut partial);
    eprintln!("{text}");
}

/// Ends the progress line for a line printed in its middle; the progress
/// goes on, on a line of its own.
fn interrupt(partial: &mut Option<PartialLine>) {
    if let Some(open) = partial.as_mut() {
        if !open.interrupted {
            println!();
            open.interrupted = true;
        }
    }
}

/// Ends the progress line, if one is open.
pub fn end_partial_line() {
    let mut partial = lock(&PARTIAL_LINE);
    if let Some(line) = partial.take() {
        if !line.interrupted {
            println!();
        }
    }
}

impl Log {
    /// A log that prints on standard error.
    pub fn new(label: &str, trace: bool) -> Log {
        Log {
            label: label.into(),
            trace,
            names: None,
            on_stdout: false,
            stage: None,
            chunk_pause: None,
        }
    }

    /// The same log, handing its lines to `stage` instead of printing them.
    pub fn on_stage(mut self, stage: Arc<dyn Stage>) -> Log {
        self.stage = Some(stage);
        self
    }

    /// The same log, for `demo --slow` only: a connection of this node
    /// pauses `pause` before each chunk of a file it sends, and traces each
    /// chunk it receives, so that chunks from two senders visibly take
    /// turns. Nothing else sets it: real transfers never wait.
    pub fn paced(mut self, pause: Duration) -> Log {
        self.chunk_pause = Some(pause);
        self
    }

    /// The pause before each chunk sent, set by [`Log::paced`].
    pub fn chunk_pause(&self) -> Option<Duration> {
        self.chunk_pause
    }

    /// The same log, calling the other ends of connections by their ids in
    /// `settings` where it lists their address.
    pub fn with_names(mut self, settings: &Settings) -> Log {
        self.names = Some(Arc::new(settings.clone()));
        self
    }

    /// The same log, printing on standard output (for the demo, whose log
    /// and narration must stay in one stream, in order).
    pub fn on_stdout(mut self) -> Log {
        self.on_stdout = true;
        self
    }

    /// The node's name, e.g. `tracker` or `peer1`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What to call the node at `addr`: its id in the settings file, or the
    /// address itself.
    pub fn name_of(&self, addr: SocketAddr) -> String {
        self.names
            .as_ref()
            .and_then(|settings| settings.id_of(addr))
            .map_or_else(|| addr.to_string(), str::to_string)
    }

    /// A time-stamped event: a join, a search, a refusal, a notice.
    pub fn event(&self, text: &str) {
        let line = format!("[{} {}] {text}", clock_time(), self.label);
        self.print(None, None, line);
    }

    /// One protocol line, printed only with `--trace`:
    /// `[peer1] tracker -> HELLO` (sent to) or `... <- HI` (received from).
    /// `other_end` is the id of the other node when it is known, else its
    /// address.
    pub fn trace(&self, other_end: &str, direction: Direction, text: &str) {
        if !self.trace {
            return;
        }
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        let line = if text.len() <= TRACE_LINE_MAX {
            format!("[{}] {other_end} {arrow} {text}", self.label)
        } else {
            let mut cut = TRACE_LINE_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let shown = &text[..cut];
            format!(
                "[{}] {other_end} {arrow} {shown}... ({} bytes)",
                self.label,
                text.len()
            )
        };
        self.print(Some(direction), Some(other_end), line);
    }

    /// Prints one whole line (or hands it to the stage), first ending a
    /// progress line it would land in.
    fn print(&self, direction: Option<Direction>, other_end: Option<&str>, line: String) {
        if let Some(stage) = &self.stage {
            stage.line(LogLine {
                node: self.label.to_string(),
                direction,
                other_end: other_end.map(str::to_string),
                text: line,
            });
            return;
        }
        let mut partial = lock(&PARTIAL_LINE);
        interrupt(&mut partial);
        if self.on_stdout {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
}
