//! A peer's session with the tracker: one thread, one state machine.
//!
//! The session has four states, and everything that happens to it is an
//! event that moves it from one to another:
//!
//! ```text
//!            (time to try)                          PONG
//!  Waiting ───────────────> connect, HELLO, HI, ──> Joining ──────> Joined
//!     ^                     records, PING              │              │
//!     │                                                │ closed       │ idle for a heartbeat: PING
//!     │  pause, then try again                         v              │
//!     ├──────────────────────────────────────────── refused           │ no answer for 3 heartbeats,
//!     │                                                               │ or the connection closed:
//!     ├───────────────────────────────────────────────────────────── lost (notice)
//!     │                                                               │
//!     │                                                               │ re-announce: BYE
//!     │          the tracker closed it (or 2 s passed)                v
//!     └──────────────────────────────────────────────────────────── Leaving
//! ```
//!
//! - **Joining.** After its records the peer sends `PING`. The tracker
//!   answers only peers it accepted, so `PONG` proves we are in; a close
//!   means we were refused (the core protocol gives no reason; a tracker
//!   run with `--explain` sends one `ERROR:` line first).
//! - **Joined.** Requests (`SEARCH`, `LIST`) go out, and their replies come
//!   back in the same order, so each reply is handed to the oldest request
//!   still waiting. A request whose asker gave up stays in that queue: its
//!   late reply is dropped there, never handed to the next request.
//! - **Heartbeat.** A session idle for `--heartbeat` seconds sends `PING`;
//!   if anything sent stays unanswered for three heartbeats, the tracker's
//!   machine is taken for gone (a power cut sends no end-of-file), and the
//!   peer rejoins by itself.
//! - **Re-announce.** To announce a changed folder the peer leaves (`BYE`)
//!   and joins again with the files as they are *when the join starts*: the
//!   core protocol needs no extra message for it. It joins again once the
//!   tracker has closed the old session, so the two never overlap. A
//!   re-announce asked for while a join is under way is not lost: that
//!   join's scan may predate the new file, so another join follows it.
//!
//! The files: this one holds the peer's handle ([`TrackerLink`]) and what
//! the session publishes (`Status`); `session.rs` the state machine;
//! `tests.rs` its tests against a scripted tracker.
//!
//! Why one thread that owns everything: the state lives in one place and is
//! changed by one thread, in the order events happened, and no lock is ever
//! held around the socket. The session thread is the only writer of the
//! tracker connection. A small reader thread per connection only reads
//! lines and passes them on as events, because std has no way to wait on a
//! socket and a channel at once. Everyone else (the shell asking `SEARCH`,
//! an upload asking for a re-announce) sends an event on the same channel.

mod session;

use session::Session;

use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::peer::announce::Pins;
use crate::peer::folder::SharedFolder;
use crate::wire::connection::{Connection, Wait, STALL_TIMEOUT};
use crate::wire::messages::{TrackerReply, TrackerRequest, Wire};
use crate::wire::protocol::{FileRecord, MAX_RECORDS_PER_JOIN};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The first pause before trying to rejoin a lost tracker; it doubles
/// after each failed try, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two tries to rejoin a lost tracker.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(4);

/// The pause after the tracker refused us. Trying again helps only once
/// somebody fixed something (the settings file, the folder), so there is no
/// hurry, and the refusal is printed once, not at every try.
pub const REFUSED_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// How long starting the link, or a re-announce, waits for its join to be
/// settled (accepted, refused or failed) before going on anyway. Connecting
/// alone may take [`crate::wire::connection::CONNECT_TIMEOUT`].
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// How long a join waits for `PONG` without a heartbeat interval to go by.
const JOIN_CONFIRM_WAIT: Duration = STALL_TIMEOUT;

/// After the `BYE` of a re-announce, how long the peer waits for the
/// tracker to close the old session (it does at once) before joining again
/// anyway. Waiting means the tracker has dropped the old records before
/// the new `HELLO` arrives: its log reads "leave", then "join", never an
/// overlap of two sessions.
const LEAVE_WAIT: Duration = Duration::from_secs(2);

/// How a peer's tracker session is set up.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The tracker's address.
    pub tracker: SocketAddr,
    /// The folder whose files are announced.
    pub folder: SharedFolder,
    /// Which of them go first among the five a join may announce.
    pub pins: Pins,
    /// The address this peer serves on, which its records announce.
    pub own_addr: SocketAddr,
    /// The settings file, named when the tracker refuses our address.
    pub settings_file: PathBuf,
    /// Idle time before a `PING`; `None` sends none (for a tracker that
    /// speaks only the core protocol), and then a join counts as accepted
    /// as soon as the records are sent.
    pub heartbeat: Option<Duration>,
    pub log: Log,
}

/// The peer's handle on its tracker session.
pub struct TrackerLink {
    tracker: SocketAddr,
    events: Sender<Event>,
    status: Arc<Status>,
    /// How long a request waits for its reply.
    reply_wait: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Everything the session thread reacts to.
enum Event {
    /// Send this to the tracker and hand its reply to `reply`.
    Request {
        message: TrackerRequest,
        reply: Sender<Result<TrackerReply>>,
    },
    /// The folder changed: announce it (the number is in [`Status`]).
    Reannounce,
    /// The reader thread of connection `connection` read a line.
    Line {
        connection: u64,
        line: Result<TrackerReply>,
    },
    /// The reader thread of connection `connection` saw it end.
    Closed { connection: u64 },
    /// Leave (with `BYE` or, to play a crash, without) and end the thread.
    Stop { say_bye: bool },
}

/// What the session thread publishes for the peer's other threads.
struct Status {
    state: Mutex<Published>,
    /// Signalled whenever `state` changes.
    changed: Condvar,
}

#[derive(Default)]
struct Published {
    joined: bool,
    /// The names announced by the session that is joined now.
    announced: Vec<String>,
    /// Announcements asked for so far (starting the link is the first).
    requested: u64,
    /// The highest request whose join has been settled: accepted, refused
    /// or failed, with a folder scan made after that request was asked.
    settled: u64,
    stopped: bool,
}

impl Status {
    fn state(&self) -> MutexGuard<'_, Published> {
        lock(&self.state)
    }

    /// Counts one more announcement asked for; returns its number.
    fn ask(&self) -> u64 {
        let mut state = self.state();
        state.requested += 1;
        state.requested
    }

    /// Waits until announcement `number` is settled, or `JOIN_WAIT` passed.
    fn wait_settled(&self, number: u64) {
        let deadline = Instant::now() + JOIN_WAIT;
        let mut state = self.state();
        while state.settled < number && !state.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(state, _)| state)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn update(&self, change: impl FnOnce(&mut Published)) {
        change(&mut self.state());
        self.changed.notify_all();
    }
}

impl TrackerLink {
    /// Starts the session thread and waits (a few seconds at most) for the
    /// first join to be settled.
    pub fn start(config: LinkConfig) -> Result<TrackerLink> {
        let (events, inbox) = mpsc::channel();
        let status = Arc::new(Status {
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let first = status.ask();
        let reply_wait = config
            .heartbeat
            .map_or(STALL_TIMEOUT, |beat| (2 * beat).min(STALL_TIMEOUT));
        let tracker = config.tracker;
        let session = Session::new(config, events.clone(), Arc::clone(&status));
        let thread = thread::Builder::new()
            .name(format!("{} tracker session", session.label()))
            .spawn(move || session.run(&inbox))
            .map_err(|e| Error::io("starting the tracker session thread", e))?;
        status.wait_settled(first);
        Ok(TrackerLink {
            tracker,
            events,
            status,
            reply_wait,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The tracker's address.
    pub fn tracker(&self) -> SocketAddr {
        self.tracker
    }

    /// Whether the tracker has accepted this peer and the session is up.
    pub fn is_joined(&self) -> bool {
        self.status.state().joined
    }

    /// The names the tracker holds for this peer now (none when not joined).
    pub fn announced(&self) -> Vec<String> {
        let state = self.status.state();
        if state.joined {
            state.announced.clone()
        } else {
            Vec::new()
        }
    }

    /// The names the last accepted join announced, joined now or not (a
    /// re-announce may be under way: its own scan may predate a change).
    pub fn last_announced(&self) -> Vec<String> {
        self.status.state().announced.clone()
    }

    /// Sends a request to the tracker and waits for its own reply.
    pub fn request(&self, message: &TrackerRequest) -> Result<TrackerReply> {
        let (reply, answer) = mpsc::channel();
        let request = Event::Request {
            message: message.clone(),
            reply,
        };
        self.events.send(request).map_err(|_| self.stopped())?;
        match answer.recv_timeout(self.reply_wait) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(Error::Other(format!(
                "the tracker at {} did not answer within {} s (its late answer will be dropped)",
                self.tracker,
                self.reply_wait.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(self.stopped()),
        }
    }

    /// Announces the folder as it is now: BYE, then join again. Waits (a
    /// few seconds at most) until a join that scanned the folder after this
    /// call is settled.
    pub fn reannounce(&self) {
        let number = self.status.ask();
        if self.events.send(Event::Reannounce).is_ok() {
            self.status.wait_settled(number);
        }
    }

    /// Leaves the tracker with BYE and stops the session thread.
    pub fn leave(&self) {
        self.stop(true);
    }

    /// Drops the tracker connection without BYE, as a crash would, and
    /// stops the session thread. The demo uses it to show the tracker
    /// forgetting a crashed peer.
    pub fn crash(&self) {
        self.stop(false);
    }

    fn stop(&self, say_bye: bool) {
        let _ = self.events.send(Event::Stop { say_bye });
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }

    fn stopped(&self) -> Error {
        Error::Other(format!(
            "the session with the tracker at {} has ended (the peer is stopping)",
            self.tracker
        ))
    }
}

impl Drop for TrackerLink {
    fn drop(&mut self) {
        self.stop(true);
    }
}

#[cfg(test)]
mod tests;
