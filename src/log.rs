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
//! Each line is printed with one system call, so lines from different
//! threads never mix mid-line, and with no lock held, neither ours nor the
//! standard library's (see `log/terminal.rs`). A progress line on standard
//! output (`downloading x: 10% 20% ...`) is printed in pieces, though: a
//! log line that comes in the middle first ends the progress line, which
//! then goes on, with its label again, on a line of its own.
//!
//! Another node's words reach the log in events and traces: both are cut
//! to a bounded length here, so a 15 MB line from a hostile node becomes a
//! few hundred characters and `… and 14,999,800 more bytes`.
//!
//! Besides the terminal, a log can have *subscribers* ([`Log::subscribe`]):
//! the web page receives every event line, and every protocol line even
//! without `--trace`, as a [`LiveLine`]. A log nobody subscribes to checks
//! one flag and does no more work than before.
//!
//! `--trace=code` ([`Log::naming_code`]) ends each protocol line with the
//! function and the `file:line` of ours that sent or read it:
//! `[tracker] peer1 -> FOUND: <...>  (tracker::serve_requests,
//! src/tracker/mod.rs:429)`. The place comes with every line anyway (see
//! [`crate::wire::trace`]); a subscriber gets it in [`LiveLine::at`].

mod terminal;

pub use crate::wire::trace::Direction;
pub use terminal::{
    end_partial_line, print_line, print_line_on, print_partial, say, waiting_at, write_whole,
    Stream,
};

use crate::lock;
use crate::settings::Settings;
use crate::wire::connection::TRACE_MAX;
use crate::wire::date::clock_time;
use crate::wire::text;
use crate::wire::trace::Tracer;
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest protocol line `--trace` prints whole; longer ones (a `FILES:`
/// list of thousands of records) are cut, saying how much.
const TRACE_LINE_MAX: usize = TRACE_MAX;

/// What a connection that came to a peer is called in its trace when its
/// address does not say which node it is (see [`Log::name_of_incoming`]).
pub const INCOMING: &str = "incoming";

/// The longest event a log prints whole. An event quotes another node's
/// words at most [`text::QUOTE_MAX`] bytes long; this bound catches any
/// line that would quote more, so that no log line, and no line of the
/// web page's backlog, grows with what another node sends.
pub const EVENT_MAX: usize = 1000;

/// A node's name and whether it traces the protocol. Cheap to clone: every
/// connection of the node holds one.
#[derive(Clone)]
pub struct Log {
    label: Arc<str>,
    trace: bool,
    /// `--trace=code`: each traced line names the code that sent or read it.
    code: bool,
    /// The settings file, to call the other end of a connection by its id.
    names: Option<Arc<Settings>>,
    /// Print on standard output instead of standard error (the demo).
    on_stdout: bool,
    /// Hand every line to this instead of printing it (the demo, which
    /// decides what to show and in which order; see [`LineSink`]).
    stage: Option<Arc<dyn LineSink>>,
    /// `demo --slow`: the pause a sender makes before each chunk of a
    /// file, so that a class can watch chunks arrive (see [`Log::paced`]).
    chunk_pause: Option<Duration>,
    /// Who else hears every line live (the web page); shared by all clones
    /// of this log.
    subscribers: Arc<Subscribers>,
}

/// Takes a node's log lines instead of a terminal. The demo has one: it
/// prints each scene's lines in an order that is the same on every run.
pub trait LineSink: Send + Sync {
    fn line(&self, line: LogLine);
}

/// One line as a [`LineSink`] receives it.
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
    /// What the line says without its `[time node]` or `[node] other <-`
    /// prefix: the event's words, or the protocol line (for a page, which
    /// shows the prefix's parts in its own way).
    pub message: String,
    /// For a traced line: where in our code it was sent or read.
    pub at: Option<&'static Location<'static>>,
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

/// One line of a node's log, as a subscriber hears it live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLine {
    /// The node's name (`tracker`, `peer1`).
    pub node: String,
    /// The clock time it happened, `HH:MM:SS`.
    pub time: String,
    pub kind: LineKind,
    /// The event's words, or the protocol line (cut as `--trace` cuts it).
    pub text: String,
    /// For a protocol line: where in our code it was sent or read, when
    /// known (the web page's panel shows that function).
    pub at: Option<&'static Location<'static>>,
}

/// What a [`LiveLine`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// An event: a join, a search, a refusal, a notice.
    Event,
    /// A protocol line that crossed the wire, to or from `other_end` (an
    /// id when known, else an address).
    Trace {
        other_end: String,
        direction: Direction,
    },
}

/// A subscriber: hears each line, and answers `false` once it wants no
/// more (its receiving end is gone), which removes it.
type Sink = Box<dyn FnMut(&LiveLine) -> bool + Send>;

/// The subscribers of one log and its clones.
#[derive(Default)]
struct Subscribers {
    /// Whether there is any: read on every line, so that a log without
    /// subscribers never takes the lock or builds a [`LiveLine`].
    any: AtomicBool,
    sinks: Mutex<Vec<Sink>>,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} subscriber(s)", lock(&self.sinks).len())
    }
}

impl Subscribers {
    /// Hands `line` to every subscriber, dropping those that are gone.
    fn publish(&self, line: impl FnOnce() -> LiveLine) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let line = line();
        let mut sinks = lock(&self.sinks);
        sinks.retain_mut(|sink| sink(&line));
        self.any.store(!sinks.is_empty(), Ordering::Relaxed);
    }
}

impl Log {
    /// A log that prints on standard error.
    pub fn new(label: &str, trace: bool) -> Log {
        Log {
            label: label.into(),
            trace,
            code: false,
            names: None,
            on_stdout: false,
            stage: None,
            chunk_pause: None,
            subscribers: Arc::default(),
        }
    }

    /// The same log, ending each traced line it prints with the function
    /// and `file:line` of ours that sent or read it (`--trace=code`).
    pub fn naming_code(mut self, on: bool) -> Log {
        self.code = on;
        self
    }

    /// The same log, handing its lines to `stage` instead of printing them.
    pub fn on_stage(mut self, stage: Arc<dyn LineSink>) -> Log {
        self.stage = Some(stage);
        self
    }

    /// The same log, for `demo --slow` only: the node's transfers are
    /// paced with `pause` (the peer hands it to each transfer's connection,
    /// [`crate::wire::connection::Connection::pace_chunks`]), so that
    /// chunks from two senders visibly take turns. Nothing else sets it:
    /// real transfers never wait.
    pub fn paced(mut self, pause: Duration) -> Log {
        self.chunk_pause = Some(pause);
        self
    }

    /// The pause before each chunk sent, set by [`Log::paced`].
    pub fn chunk_pause(&self) -> Option<Duration> {
        self.chunk_pause
    }

    /// Adds a subscriber: from now on `sink` hears every event and every
    /// protocol line of this log and its clones (protocol lines also
    /// without `--trace`), in the thread that logs them, so it must be
    /// quick (a channel send is). It is dropped the first time it returns
    /// `false`, e.g. when the receiver of its channel is gone:
    ///
    /// ```text
    /// let (lines, receiver) = std::sync::mpsc::channel();
    /// log.subscribe(move |line| lines.send(line.clone()).is_ok());
    /// ```
    pub fn subscribe(&self, sink: impl FnMut(&LiveLine) -> bool + Send + 'static) {
        let mut sinks = lock(&self.subscribers.sinks);
        sinks.push(Box::new(sink));
        self.subscribers.any.store(true, Ordering::Relaxed);
    }

    /// Whether anybody hears protocol lines: `--trace` or a subscriber.
    fn traced(&self) -> bool {
        self.trace || self.subscribers.any.load(Ordering::Relaxed)
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

    /// What to call the other end of a connection that came to this node.
    /// It comes from a passing port, so only its IP address can say who it
    /// is: the id of the one node of the settings file there, other than
    /// this node. Otherwise `incoming ip:port`: one name, so that every
    /// other connection that comes in reads alike, with its port to tell
    /// them apart.
    pub fn name_of_incoming(&self, addr: SocketAddr) -> String {
        let only = self
            .names
            .as_ref()
            .and_then(|names| names.only_id_at(addr.ip()));
        match only {
            Some(id) if id != &*self.label => id.to_string(),
            _ => format!("{INCOMING} {addr}"),
        }
    }

    /// A time-stamped event: a join, a search, a refusal, a notice. An
    /// event that quotes another node says at most [`EVENT_MAX`] bytes.
    pub fn event(&self, text: &str) {
        let text = text::within(text, EVENT_MAX);
        let time = clock_time();
        let line = format!("[{time} {}] {text}", self.label);
        self.print(None, None, line, &text, None);
        self.subscribers.publish(|| LiveLine {
            node: self.label.to_string(),
            time,
            kind: LineKind::Event,
            text: text.into_owned(),
            at: None,
        });
    }

    /// One protocol line, printed only with `--trace`:
    /// `[peer1] tracker -> HELLO` (sent to) or `... <- HI` (received from).
    /// `other_end` is the id of the other node when it is known, else its
    /// address. The line is escaped and cut here (a connection's lines
    /// come as a [`Tracer`]'s, already escaped and cut).
    #[track_caller]
    pub fn trace(&self, other_end: &str, direction: Direction, text: &str) {
        if self.traced() {
            let shown = text::within(text, TRACE_LINE_MAX);
            self.trace_shown(other_end, direction, shown, Location::caller());
        }
    }

    /// Prints and publishes a protocol line that is safe to show, sent or
    /// read `at` that place of our code.
    fn trace_shown(
        &self,
        other_end: &str,
        direction: Direction,
        shown: Cow<'_, str>,
        at: &'static Location<'static>,
    ) {
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        if self.trace {
            let mut line = format!("[{}] {other_end} {arrow} {shown}", self.label);
            if self.code {
                line = format!("{line}  ({})", crate::source::describe(at));
            }
            self.print(Some(direction), Some(other_end), line, &shown, Some(at));
        }
        self.subscribers.publish(|| LiveLine {
            node: self.label.to_string(),
            time: clock_time(),
            kind: LineKind::Trace {
                other_end: other_end.to_string(),
                direction,
            },
            text: shown.into_owned(),
            at: Some(at),
        });
    }

    /// Prints one whole line (or hands it to the stage), first ending a
    /// progress line it would land in.
    fn print(
        &self,
        direction: Option<Direction>,
        other_end: Option<&str>,
        line: String,
        message: &str,
        at: Option<&'static Location<'static>>,
    ) {
        if let Some(stage) = &self.stage {
            stage.line(LogLine {
                node: self.label.to_string(),
                direction,
                other_end: other_end.map(str::to_string),
                text: line,
                message: message.to_string(),
                at,
            });
            return;
        }
        let stream = if self.on_stdout {
            Stream::Out
        } else {
            Stream::Err
        };
        print_line_on(stream, &line);
    }
}

/// The log is what hears a connection's lines.
impl Tracer for Log {
    fn tracing(&self) -> bool {
        self.traced()
    }

    #[track_caller]
    fn line(&self, other_end: &str, direction: Direction, text: &str) {
        self.trace_shown(
            other_end,
            direction,
            Cow::Borrowed(text),
            Location::caller(),
        );
    }

    fn line_at(
        &self,
        other_end: &str,
        direction: Direction,
        text: &str,
        at: &'static Location<'static>,
    ) {
        self.trace_shown(other_end, direction, Cow::Borrowed(text), at);
    }

    fn name_of(&self, addr: SocketAddr) -> String {
        Log::name_of(self, addr)
    }
}

#[cfg(test)]
mod tests {
    use super::{Direction, LineKind, Log};
    use std::sync::mpsc;

    #[test]
    fn a_subscriber_hears_events_and_protocol_lines_even_without_trace() {
        let log = Log::new("peer1", false);
        let (lines, received) = mpsc::channel();
        log.clone()
            .subscribe(move |line| lines.send(line.clone()).is_ok());
        log.event("joined");
        log.trace("tracker", Direction::Sent, "HELLO");
        let event = received.try_recv().unwrap();
        assert_eq!(
            (event.node.as_str(), event.kind, event.text.as_str()),
            ("peer1", LineKind::Event, "joined")
        );
        let trace = received.try_recv().unwrap();
        assert_eq!(
            trace.kind,
            LineKind::Trace {
                other_end: "tracker".into(),
                direction: Direction::Sent
            }
        );
        assert_eq!(trace.text, "HELLO");
    }

    #[test]
    fn an_incoming_connection_is_named_by_the_one_node_at_its_address() {
        let text = "tracker 10.0.0.1 5000\npeer1 10.0.0.2 5001\npeer2 10.0.0.3 5002\n\
                    peer3 10.0.0.3 5003\n";
        let path = std::path::Path::new("peer_settings.txt");
        let settings = crate::settings::Settings::parse(path, text).unwrap();
        let log = Log::new("peer1", true).with_names(&settings);
        let from = |addr: &str| log.name_of_incoming(addr.parse().unwrap());
        assert_eq!(from("10.0.0.1:40000"), "tracker", "its liveness probe");
        assert_eq!(
            from("10.0.0.3:40001"),
            "incoming 10.0.0.3:40001",
            "two peers there"
        );
        assert_eq!(
            from("10.0.0.9:40002"),
            "incoming 10.0.0.9:40002",
            "nobody listed"
        );
        assert_eq!(
            from("10.0.0.2:40003"),
            "incoming 10.0.0.2:40003",
            "not this peer itself"
        );
        let unnamed = Log::new("peer1", true);
        assert_eq!(
            unnamed.name_of_incoming("10.0.0.1:40004".parse().unwrap()),
            "incoming 10.0.0.1:40004"
        );
    }

    #[test]
    fn a_subscriber_whose_receiver_is_gone_is_dropped() {
        let log = Log::new("peer1", false);
        let (lines, received) = mpsc::channel();
        log.subscribe(move |line| lines.send(line.clone()).is_ok());
        assert!(log.traced());
        drop(received);
        log.event("nobody hears this");
        assert!(!log.traced(), "the last subscriber left: back to no work");
    }
}
