//! How the demo shows what its four nodes log: one stream, in an order
//! that is the same on every run, so that a printed handout matches.
//!
//! The tracker and the peers log from many threads at once. Printed as
//! they come, their lines would change order from run to run: a peer
//! prints that it sent its records while the tracker prints that it
//! received them. So every node's [`Log`](crate::log::Log) hands its lines
//! to the demo's [`Stage`], which:
//!
//! - shows each protocol line once, where it *arrives*
//!   (`[tracker] peer1 <- PING`). The receiver prints it before it reacts,
//!   and its reaction is what the next line shows, so a scene whose steps
//!   run one after the other prints in one order only. (The sent half of
//!   each line is the same text; it is left out.)
//! - holds the lines of a scene whose steps run at the same time (two
//!   peers sending chunks, three peers noticing the tracker is gone), and
//!   prints them when the scene is over, grouped by the peer each line is
//!   about, in a fixed order of peers. Within a group the lines keep the
//!   order they happened in.
//! - lets the demo wait for a line ("until the tracker has logged the
//!   join"), so that each step is over before the next starts.
//! - tells a second audience, the web page of `demo --web`, everything it
//!   prints, in the same order, as [`Shown`] items: the page draws each
//!   protocol line as one arrow from its sender (see [`senders`]) and
//!   each scene as a band across the diagram.
//! - paces the show if asked: a pause after each protocol line it shows,
//!   so that a class can follow the arrows one by one.
//!
//! [`senders`]: super::senders

use super::senders::{is_id, Senders};
use crate::error::{Error, Result};
use crate::lock;
use crate::log::{Direction, LineSink, LogLine};
use crate::settings::TRACKER_ID;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// How long the demo waits for a line it expects (a join, a leave) before
/// it says the step failed, instead of hanging.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// How a scene's lines are shown.
#[derive(Debug, Clone)]
pub enum Mode {
    /// As they are logged: for scenes whose steps run one after another.
    Live,
    /// Held until the scene ends, then grouped by the peer they are about,
    /// in the order of `peers`: for scenes whose steps run at the same time.
    ByPeer {
        peers: Vec<String>,
        /// Within a group, the tracker's lines first. For a scene where
        /// both ends log at the same moment (the tracker closing a session
        /// while the peer notices it closed), when nothing else orders them.
        tracker_first: bool,
    },
}

/// What the stage shows, for an audience besides the terminal (the web
/// page): the items the terminal prints, in its order, with what the
/// terminal's text leaves to the reader spelt out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown<'a> {
    /// `==== Act 1: the core protocol ====`
    Act(&'a str),
    /// `-- 5. peer2 downloads notes.txt`
    Scene { number: usize, title: &'a str },
    /// `demo: ...`
    Narration(&'a str),
    /// A node's own log line, `text` without its `[time node]` prefix.
    Event { node: &'a str, text: &'a str },
    /// A protocol line, shown where it arrived: `from` sent it to `to`.
    /// `from` is a passing ip:port while the sender is not known.
    Message {
        from: &'a str,
        to: &'a str,
        text: &'a str,
        /// Where our code sent it (or, when that is not known, read it).
        code: Option<(&'static Location<'static>, Direction)>,
    },
    /// The lines shown from `address`, a passing port, were sent by `node`.
    Revealed { address: &'a str, node: &'a str },
}

/// Hears every [`Shown`] item, while the stage holds its lock: so in
/// order, and it must be quick.
pub type Audience = Box<dyn Fn(Shown) + Send + Sync>;

/// One logged line, the thread that logged it, and for a protocol line
/// who sent it as known when it arrived.
struct Logged {
    line: LogLine,
    thread: ThreadId,
    sender: Option<String>,
}

struct State {
    mode: Mode,
    /// Every line shown or held since the scene began, oldest first.
    scene: Vec<Logged>,
    /// How many lines of `scene` are held, not printed yet (the last ones).
    held: usize,
    /// Which peer each tracker session thread serves, learnt from its
    /// lines that name the peer (the tracker names a peer once it joined).
    sessions: HashMap<ThreadId, String>,
    /// After a failure: the nodes' lines are no longer shown.
    muted: bool,
    /// Who sent the protocol lines that arrive from passing ports.
    senders: Senders,
    /// Where our code sent each line, by sender and text, for the page's
    /// panel (a line is shown where it arrives).
    sent_at: SentAt,
}

/// Where each node's code last sent each text.
type SentAt = HashMap<(String, String), &'static Location<'static>>;

/// The most places [`SentAt`] keeps; past it, it starts again (a line
/// arrives right after it was sent, so only the latest matter).
const SENT_AT_MAX: usize = 1024;

/// The demo's one output stream (see the top of this file).
pub struct Stage {
    state: Mutex<State>,
    /// Signalled at every line, for [`Stage::wait_for`].
    logged: Condvar,
    /// The pause after each protocol line shown.
    pace: Duration,
    /// Who else is shown everything (the web page), if anybody.
    audience: Option<Audience>,
}

impl Default for Stage {
    fn default() -> Stage {
        Stage::new(Duration::ZERO, None)
    }
}

impl Stage {
    /// A stage that pauses `pace` after each protocol line it shows, and
    /// shows everything to `audience` too.
    pub fn new(pace: Duration, audience: Option<Audience>) -> Stage {
        Stage {
            state: Mutex::new(State {
                mode: Mode::Live,
                scene: Vec::new(),
                held: 0,
                sessions: HashMap::new(),
                muted: false,
                senders: Senders::default(),
                sent_at: SentAt::new(),
            }),
            logged: Condvar::new(),
            pace,
            audience,
        }
    }

    /// Prints a line of narration: `demo: text`.
    pub fn say(&self, text: &str) {
        self.print(&format!("demo: {text}"), Shown::Narration(text));
    }

    /// Prints an act's heading, after a blank line.
    pub fn act(&self, title: &str) {
        self.print(&format!("\n==== {title} ===="), Shown::Act(title));
    }

    /// Prints a scene's heading.
    pub fn scene(&self, number: usize, title: &str) {
        self.print(
            &format!("-- {number}. {title}"),
            Shown::Scene { number, title },
        );
    }

    /// Prints `text` (and shows `shown` to the audience) after any lines
    /// the scene holds: narration always comes after what it is about.
    fn print(&self, text: &str, shown: Shown) {
        let mut state = lock(&self.state);
        self.release_held(&mut state);
        crate::say!("{text}");
        self.tell(shown);
    }

    /// Ends the scene (printing what it held) and starts the next one.
    pub fn begin(&self, mode: Mode) {
        let mut state = lock(&self.state);
        self.release_held(&mut state);
        state.scene.clear();
        state.mode = mode;
    }

    /// From now on, the nodes' lines are not shown: after a failure, the
    /// demo stops every node, and its farewells would only blur the
    /// narration that said what failed.
    pub fn mute(&self) {
        let mut state = lock(&self.state);
        self.release_held(&mut state);
        state.muted = true;
    }

    fn tell(&self, shown: Shown) {
        if let Some(audience) = &self.audience {
            audience(shown);
        }
    }

    /// Prints a node's line, tells the audience, and paces a protocol line.
    fn show(&self, logged: &Logged, senders: &Senders, sent_at: &SentAt) {
        let line = &logged.line;
        crate::say!("{}", line.text);
        match (&logged.sender, &line.other_end) {
            (Some(sender), Some(other_end)) => {
                // Held lines: the sender may have been revealed since.
                let from = if is_id(sender) {
                    sender.clone()
                } else {
                    senders.name(&line.node, other_end)
                };
                let sent = sent_at.get(&(from.clone(), line.message.clone()));
                let code = match (sent, line.at) {
                    (Some(at), _) => Some((*at, Direction::Sent)),
                    (None, read) => read.map(|at| (at, Direction::Received)),
                };
                self.tell(Shown::Message {
                    from: &from,
                    to: &line.node,
                    text: &line.message,
                    code,
                });
                // Under the stage's lock, on purpose: the node that logged
                // this waits before it reacts, and every other node waits
                // to log, so the lines come one by one, in the same order.
                if !self.pace.is_zero() {
                    thread::sleep(self.pace);
                }
            }
            _ => self.tell(Shown::Event {
                node: &line.node,
                text: &line.message,
            }),
        }
    }

    /// Prints the lines the scene holds, grouped by the peer they are about.
    fn release_held(&self, state: &mut State) {
        let Mode::ByPeer {
            peers,
            tracker_first,
        } = &state.mode
        else {
            return;
        };
        let start = state.scene.len() - state.held;
        let mut held: Vec<&Logged> = state.scene[start..].iter().collect();
        // A stable sort: within a group, the lines keep their order.
        held.sort_by_key(|logged| {
            let peer = about(logged, &state.sessions);
            let group = peers
                .iter()
                .position(|id| Some(id.as_str()) == peer)
                .unwrap_or(peers.len());
            let after_tracker = *tracker_first && logged.line.node != TRACKER_ID;
            (group, after_tracker)
        });
        for logged in held {
            self.show(logged, &state.senders, &state.sent_at);
        }
        state.held = 0;
    }

    /// Waits until `count` lines of this scene logged by `node` contain
    /// `text`, or fails after [`WAIT_LIMIT`] saying it waited for `what`.
    pub fn wait_for(&self, node: &str, text: &str, count: usize, what: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut state = lock(&self.state);
        loop {
            let seen = state
                .scene
                .iter()
                .filter(|logged| logged.line.node == node && logged.line.text.contains(text))
                .count();
            if seen >= count {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Other(format!(
                    "gave up after {} s waiting for {what}",
                    WAIT_LIMIT.as_secs()
                )));
            }
            state = match self.logged.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl LineSink for Stage {
    fn line(&self, line: LogLine) {
        let thread = thread::current().id();
        let mut state = lock(&self.state);
        if line.node == TRACKER_ID {
            if let Some(peer) = line.other_end.as_deref().filter(|name| is_id(name)) {
                state.sessions.insert(thread, peer.to_string());
            }
        }
        let other_end = line.other_end.as_deref().unwrap_or_default();
        // The sent half of a protocol line: its arrival is shown instead;
        // it only tells who sent what.
        if line.direction == Some(Direction::Sent) {
            state.senders.sent(&line.node, other_end, &line.message);
            if let Some(at) = line.at {
                if state.sent_at.len() >= SENT_AT_MAX {
                    state.sent_at.clear();
                }
                let key = (line.node.clone(), line.message.clone());
                state.sent_at.insert(key, at);
            }
            return;
        }
        if state.muted {
            return;
        }
        let sender = (line.direction == Some(Direction::Received)).then(|| {
            let sender = state.senders.received(&line.node, other_end, &line.message);
            if let Some(address) = &sender.revealed {
                self.tell(Shown::Revealed {
                    address,
                    node: &sender.name,
                });
            }
            sender.name
        });
        let logged = Logged {
            line,
            thread,
            sender,
        };
        match state.mode {
            Mode::Live => self.show(&logged, &state.senders, &state.sent_at),
            Mode::ByPeer { .. } => state.held += 1,
        }
        state.scene.push(logged);
        self.logged.notify_all();
    }
}

/// The peer a line is about: for the tracker, the peer its session serves;
/// for a peer's line about another peer (`[peer2] peer1 <- FILE: ...`),
/// that peer; otherwise the peer that logged it.
fn about<'a>(logged: &'a Logged, sessions: &'a HashMap<ThreadId, String>) -> Option<&'a str> {
    let line = &logged.line;
    if line.node == TRACKER_ID {
        return sessions.get(&logged.thread).map(String::as_str);
    }
    match line.other_end.as_deref() {
        Some(other) if is_id(other) && other != TRACKER_ID => Some(other),
        _ => Some(&line.node),
    }
}
