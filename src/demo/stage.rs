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

use crate::error::{Error, Result};
use crate::lock;
use crate::log::{Direction, LogLine, Stage as LogStage};
use crate::settings::TRACKER_ID;
use std::collections::HashMap;
use std::net::SocketAddr;
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

/// One logged line and the thread that logged it.
struct Logged {
    line: LogLine,
    thread: ThreadId,
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
}

/// The demo's one output stream (see the top of this file).
pub struct Stage {
    state: Mutex<State>,
    /// Signalled at every line, for [`Stage::wait_for`].
    logged: Condvar,
}

impl Default for Stage {
    fn default() -> Stage {
        Stage {
            state: Mutex::new(State {
                mode: Mode::Live,
                scene: Vec::new(),
                held: 0,
                sessions: HashMap::new(),
                muted: false,
            }),
            logged: Condvar::new(),
        }
    }
}

impl Stage {
    /// Prints a line of narration: `demo: text`.
    pub fn say(&self, text: &str) {
        self.print(&format!("demo: {text}"));
    }

    /// Prints a line as it is (a heading, a blank line), after any lines
    /// the scene holds: narration always comes after what it is about.
    pub fn print(&self, text: &str) {
        let mut state = lock(&self.state);
        release_held(&mut state);
        println!("{text}");
    }

    /// Ends the scene (printing what it held) and starts the next one.
    pub fn begin(&self, mode: Mode) {
        let mut state = lock(&self.state);
        release_held(&mut state);
        state.scene.clear();
        state.mode = mode;
    }

    /// From now on, the nodes' lines are not shown: after a failure, the
    /// demo stops every node, and its farewells would only blur the
    /// narration that said what failed.
    pub fn mute(&self) {
        let mut state = lock(&self.state);
        release_held(&mut state);
        state.muted = true;
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

impl LogStage for Stage {
    fn line(&self, line: LogLine) {
        let thread = thread::current().id();
        let mut state = lock(&self.state);
        if line.node == TRACKER_ID {
            if let Some(peer) = line.other_end.as_deref().filter(|name| is_id(name)) {
                state.sessions.insert(thread, peer.to_string());
            }
        }
        // The sent half of a protocol line: its arrival is shown instead.
        if line.direction == Some(Direction::Sent) || state.muted {
            return;
        }
        match state.mode {
            Mode::Live => println!("{}", line.text),
            Mode::ByPeer { .. } => state.held += 1,
        }
        state.scene.push(Logged { line, thread });
        self.logged.notify_all();
    }
}

/// Prints the lines the scene holds, grouped by the peer they are about.
fn release_held(state: &mut State) {
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
        println!("{}", logged.line.text);
    }
    state.held = 0;
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

/// Whether a trace names the other end by its id (else it is an ip:port).
fn is_id(name: &str) -> bool {
    name.parse::<SocketAddr>().is_err()
}
