//! A peer's session with the tracker: one thread, one state machine.
//!
//! The session has five states, and everything that happens to it is an
//! event that moves it from one to another:
//!
//! ```text
//!          (time to try)                    PONG, or still open after 2 s
//!  Waiting ─────────────> Connecting ──────> Joining ──────────────> Joined
//!     ^                   (its own thread:      │                      │
//!     │                   connect, HELLO, HI,   │ closed               │ idle for a heartbeat: PING
//!     │                   records, PING)        v                      │
//!     ├── pause, then try again ──── failed, or refused                │ no answer in time,
//!     │                                                                │ or the connection closed:
//!     ├─────────────────────────────────────────────────────────── lost (notice)
//!     │                                                                │
//!     │                                                                │ re-announce: BYE
//!     │          the tracker closed it (or 2 s passed)                 v
//!     └───────────────────────────────────────────────────────────── Leaving
//! ```
//!
//! - **Connecting.** A thread of its own connects, says `HELLO`, reads
//!   `HI` and sends the records and `PING`, then stays on as the reader of
//!   that connection. The session thread only hears how it went, so a
//!   tracker that never answers holds up no request and no `quit`.
//! - **Joining.** After its records the peer sends `PING`. The tracker
//!   answers only peers it accepted, so `PONG` proves we are in. A tracker
//!   that refuses closes the connection, at once (the core protocol gives
//!   no reason; a tracker run with `--explain` sends one `ERROR:` line
//!   first). A tracker that keeps only the core protocol does not answer
//!   `PING` at all (or answers `ERROR:`): when the connection stays open
//!   for `JOIN_SETTLE_WAIT` (2 s), the records were taken, and the peer says
//!   once that this tracker gets no heartbeats (`joined the tracker at
//!   127.0.0.1:5000 sharing notes.txt; it does not answer PING, so no
//!   heartbeats: a lost tracker is noticed at the next request`), and
//!   sends no `PING` on that session. The wait is shorter with a shorter
//!   `--heartbeat`; `--heartbeat 0` sends no `PING` at all and judges the
//!   join by the same wait. (Tests:
//!   `a_core_only_tracker_that_ignores_ping_is_joined_and_finds_files` in
//!   `tests/student_trackers.rs`, and
//!   `a_join_still_open_without_pong_is_taken_and_gets_no_heartbeats`.)
//! - **Joined.** Requests (`SEARCH`, `LIST`) go out, and their replies come
//!   back in the same order, so each reply is handed to the oldest request
//!   still waiting. A request whose asker gave up stays in that queue: its
//!   late reply is dropped there, never handed to the next request. A line
//!   that answers nothing is dropped too.
//! - **Heartbeat.** A session idle for `--heartbeat` seconds sends `PING`;
//!   if anything sent stays unanswered for three heartbeats, the tracker's
//!   machine is taken for gone (a power cut sends no end-of-file), and the
//!   peer rejoins by itself. Without heartbeats, a request unanswered for
//!   as long as its asker waits means the same. A request waits at most
//!   `min(30 s, 2 x --heartbeat)` for its reply.
//! - **Trying again.** Every way back to the tracker waits first, longer
//!   after each failed try, up to [`MAX_RETRY_PAUSE`]. Only a session that
//!   stayed up for `STEADY_SESSION` (a minute) starts the pauses from the
//!   shortest again, so a tracker that refuses or drops us at once is not
//!   hammered.
//!   A try that fails the same way as the last prints nothing new.
//!   The pauses: `FIRST_RETRY_PAUSE` (0.25 s), doubling after each
//!   failed try up to a minute, and [`REFUSED_RETRY_PAUSE`] (10 s) at
//!   least after a refusal. (Tests, in `tests/student_trackers.rs`:
//!   `a_refused_or_dropped_peer_backs_off_with_and_without_heartbeats`, 3
//!   connections in 30 s when refused, 7 when every connection is closed at
//!   once or dropped right after the join.)
//! - **Re-announce.** To announce a changed folder the peer leaves (`BYE`)
//!   and joins again with the files as they are *when the join starts*: the
//!   core protocol needs no extra message for it. It joins again once the
//!   tracker has closed the old session, so the two never overlap. A
//!   re-announce asked for while a join is under way is not lost: that
//!   join's scan may predate the new file, so another join follows it.
//!
//! The files: this one holds the peer's handle ([`TrackerLink`]) and what
//! the session publishes (`Status`); `session.rs` the state machine;
//! `joining.rs` how a join starts and how it ends; `connector.rs` the
//! thread of each connection; `tests.rs` the tests against a scripted
//! tracker.
//!
//! Why one thread that owns everything: the state lives in one place and is
//! changed by one thread, in the order events happened, and no lock is ever
//! held around the socket. The session thread is the only writer of the
//! tracker connection once it is open. A small thread per connection reads
//! its lines and passes them on as events, because std has no way to wait
//! on a socket and a channel at once. Everyone else (the shell asking
//! `SEARCH`, an upload asking for a re-announce) sends an event on the same
//! channel. The channel holds `EVENT_QUEUE` (8) events at most: a tracker
//! that sends faster than the session reacts is slowed down by TCP itself,
//! and the peer's memory does not grow with what it sends.

mod connector;
mod joining;
mod session;

use session::Session;

use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::peer::announce::Pins;
use crate::peer::folder::SharedFolder;
use crate::wire::connection::STALL_TIMEOUT;
use crate::wire::messages::{TrackerReply, TrackerRequest};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The first pause before trying to join again; it doubles after each
/// failed try, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two tries to join the tracker. A lab's
/// tracker that is down for a lesson costs it one try a minute.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// The shortest pause after the tracker refused us. Trying again helps only
/// once somebody fixed something (the settings file, the folder), so there
/// is no hurry, and the refusal is printed once, not at every try.
pub const REFUSED_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// A session that stayed joined this long worked: when it is lost, the
/// pauses start again from the shortest. A shorter one counts as a failed
/// try, so a tracker that takes us and drops us at once is tried less and
/// less often.
const STEADY_SESSION: Duration = MAX_RETRY_PAUSE;

/// How long starting the link waits for the first join to be settled
/// before the shell starts anyway. A tracker that takes longer (it never
/// answers, say) must not keep the user from typing, or from `quit`.
const START_WAIT: Duration = Duration::from_secs(5);

/// How long a re-announce waits for its join to be settled (accepted,
/// refused or failed) before going on anyway.
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// How long a new connection may take to answer `HELLO` with `HI`: a
/// tracker answers at once, and a `HELLO` it did not understand is never
/// answered.
const GREETING_WAIT: Duration = Duration::from_secs(10);

/// How long a join waits for `PONG`, or for the close of a refusal. A
/// tracker refuses at once, as soon as it has read the records, and one
/// that answers `PING` answers as fast. A connection still open after
/// this long took our records, from a tracker that does not answer `PING`.
/// (Shorter with a shorter `--heartbeat`.)
const JOIN_SETTLE_WAIT: Duration = Duration::from_secs(2);

/// After the `BYE` of a re-announce, how long the peer waits for the
/// tracker to close the old session (it does at once) before joining again
/// anyway. Waiting means the tracker has dropped the old records before
/// the new `HELLO` arrives: its log reads "leave", then "join", never an
/// overlap of two sessions.
const LEAVE_WAIT: Duration = Duration::from_secs(2);

/// The most events waiting for the session thread. A reader thread that
/// finds the queue full waits, and stops reading its socket meanwhile, so a
/// tracker that floods us is held back by TCP. Each event may hold one
/// reply of up to a 16 MiB line, so the queue is short.
const EVENT_QUEUE: usize = 8;

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
    /// speaks only the core protocol). Either way a join counts as
    /// accepted when the tracker has not closed it within a short wait.
    pub heartbeat: Option<Duration>,
    pub log: Log,
}

/// How long a request waits for its reply: two heartbeats, and at most
/// [`STALL_TIMEOUT`].
fn reply_wait(heartbeat: Option<Duration>) -> Duration {
    heartbeat.map_or(STALL_TIMEOUT, |beat| (2 * beat).min(STALL_TIMEOUT))
}

/// The peer's handle on its tracker session.
pub struct TrackerLink {
    tracker: SocketAddr,
    events: SyncSender<Event>,
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
    /// Something from the thread of connection `connection`.
    From {
        connection: u64,
        news: connector::News,
    },
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
    /// Why the session is not joined (the words a request gets then),
    /// for the peer's page; stale while `joined`.
    why_not_joined: String,
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

    /// Waits until announcement `number` is settled, or `wait` passed.
    fn wait_settled(&self, number: u64, wait: Duration) {
        let deadline = Instant::now() + wait;
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

/// Held by the session thread while it runs: however the thread ends, a
/// panic included, the status says "stopped, not joined", and everyone
/// waiting for a join is woken instead of waiting for ever.
struct Running(Arc<Status>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.update(|state| {
            state.joined = false;
            state.stopped = true;
        });
    }
}

/// Why a session in `state` is not joined, or `None` when it is.
fn why_not_joined(state: &Published) -> Option<String> {
    if state.joined {
        None
    } else if state.stopped {
        Some("not joined: this peer has stopped its session with the tracker".to_string())
    } else if state.why_not_joined.is_empty() {
        // The session thread has not published its first words yet.
        Some("not joined to the tracker yet".to_string())
    } else {
        Some(state.why_not_joined.clone())
    }
}

impl TrackerLink {
    /// Starts the session thread and waits (a few seconds at most) for the
    /// first join to be settled.
    pub fn start(config: LinkConfig) -> Result<TrackerLink> {
        let (events, inbox) = mpsc::sync_channel(EVENT_QUEUE);
        let status = Arc::new(Status {
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let first = status.ask();
        let reply_wait = reply_wait(config.heartbeat);
        let tracker = config.tracker;
        let session = Session::new(config, events.clone(), Arc::clone(&status));
        let running = Running(Arc::clone(&status));
        let thread = thread::Builder::new()
            .name(format!("{} tracker session", session.label()))
            .spawn(move || {
                let _running = running;
                session.run(&inbox);
            })
            .map_err(|e| Error::io("starting the tracker session thread", e))?;
        status.wait_settled(first, START_WAIT);
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

    /// Why this peer is not joined now, as a request would be told (`None`
    /// when it is joined).
    pub fn why_not_joined(&self) -> Option<String> {
        why_not_joined(&self.status.state())
    }

    /// Waits until [`TrackerLink::why_not_joined`] differs from `seen`, or
    /// `wait` passed; returns it.
    pub fn wait_why_not_joined(&self, seen: Option<&str>, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut state = self.status.state();
        loop {
            let now = why_not_joined(&state);
            let left = deadline.saturating_duration_since(Instant::now());
            if now.as_deref() != seen || left.is_zero() {
                return now;
            }
            state = self
                .status
                .changed
                .wait_timeout(state, left)
                .map(|(state, _)| state)
                .unwrap_or_else(|e| e.into_inner().0);
        }
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
            Err(RecvTimeoutError::Timeout) => Err(Error::OtherSide(format!(
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
            self.status.wait_settled(number, JOIN_WAIT);
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
        // Taken out first: the lock is not held while the thread ends.
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
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
