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
//! Why one thread that owns everything: the state lives in one place and is
//! changed by one thread, in the order events happened, and no lock is ever
//! held around the socket. The session thread is the only writer of the
//! tracker connection. A small reader thread per connection only reads
//! lines and passes them on as events, because std has no way to wait on a
//! socket and a channel at once. Everyone else (the shell asking `SEARCH`,
//! an upload asking for a re-announce) sends an event on the same channel.

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
        let session = Session {
            own_events: events.clone(),
            status: Arc::clone(&status),
            phase: Phase::Waiting {
                until: Some(Instant::now()),
            },
            next_connection: 0,
            pause: FIRST_RETRY_PAUSE,
            lost: false,
            ever_joined: false,
            last_said: None,
            last_note: None,
            why_not_joined: format!("not joined to the tracker at {tracker} yet"),
            config,
        };
        let thread = thread::Builder::new()
            .name(format!("{} tracker session", session.config.log.label()))
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

/// Where the session is (see the diagram at the top).
enum Phase {
    /// No connection. Try to join at `until`; `None` waits for a
    /// re-announce (the folder had nothing to share).
    Waiting { until: Option<Instant> },
    /// Records and `PING` sent; waiting for `PONG` or the close.
    Joining(Live, Attempt),
    /// Accepted.
    Joined(Live, Attempt),
    /// `BYE` sent to re-announce; waiting until `until` at most for the
    /// tracker to close this connection, then joining again.
    Leaving(Live, Instant),
}

/// One connection to the tracker, as the session thread holds it.
struct Live {
    /// Tells this connection's events from those of an older one.
    number: u64,
    /// The writing half; the reader thread has the other.
    writer: Connection,
    /// Requests sent and not yet answered, oldest first.
    waiting: VecDeque<Waiting>,
    /// When the last line went out or came in.
    last_activity: Instant,
    /// When the tracker last said anything: its last sign of life.
    last_heard: Instant,
}

/// A request sent to the tracker, waiting for its reply.
struct Waiting {
    sent_at: Instant,
    /// Who wants the reply; `None` for our own heartbeat `PING`s.
    reply: Option<Sender<Result<TrackerReply>>>,
}

/// What one join announced, and what it learnt.
struct Attempt {
    /// The announcement number its folder scan answers.
    scanned: u64,
    names: Vec<String>,
    started: Instant,
    /// Where the tracker sees our connection come from.
    seen_as: Option<IpAddr>,
    /// An `ERROR:` line the tracker sent while we were joining.
    reason: Option<String>,
}

/// The session thread's state.
struct Session {
    config: LinkConfig,
    /// Our own inbox's sender, handed to each reader thread.
    own_events: Sender<Event>,
    status: Arc<Status>,
    phase: Phase,
    next_connection: u64,
    /// The pause before the next try after a failure.
    pause: Duration,
    /// A notice of the loss was printed and no join worked since.
    lost: bool,
    ever_joined: bool,
    /// The last warning printed about joining, so that a try that fails the
    /// same way again does not print it again.
    last_said: Option<String>,
    /// The last note about files left out of the five, printed once per
    /// change, not at every join.
    last_note: Option<String>,
    /// What a request gets while not joined.
    why_not_joined: String,
}

impl Session {
    /// The session thread: wait for the next event or the next deadline,
    /// and react, until told to stop.
    fn run(mut self, inbox: &Receiver<Event>) {
        loop {
            let event = match self.next_deadline() {
                None => inbox.recv().ok(),
                Some(deadline) => {
                    match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => {
                            self.on_deadline();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            match event {
                Some(Event::Stop { say_bye }) => return self.stop(say_bye),
                // Nobody can send us anything any more: the peer is gone.
                None => return self.stop(true),
                Some(event) => self.on_event(event),
            }
        }
    }

    /// When the session must act if no event comes first.
    fn next_deadline(&self) -> Option<Instant> {
        let beat = self.config.heartbeat;
        match &self.phase {
            Phase::Waiting { until } => *until,
            Phase::Joining(_, attempt) => {
                let wait = beat.map_or(JOIN_CONFIRM_WAIT, |beat| 3 * beat);
                Some(attempt.started + wait)
            }
            Phase::Leaving(_, until) => Some(*until),
            Phase::Joined(live, _) => {
                let beat = beat?;
                Some(match live.waiting.front() {
                    // Something is unanswered: give up on the tracker when
                    // it has been silent for three heartbeats (an idle
                    // session's PING goes out after one of them), and a
                    // request has had two at least.
                    Some(oldest) => (live.last_heard + 3 * beat).max(oldest.sent_at + 2 * beat),
                    // All answered: PING when idle for one.
                    None => live.last_activity + beat,
                })
            }
        }
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        match &mut self.phase {
            Phase::Waiting { .. } => self.try_to_join(),
            Phase::Leaving(..) => self.rejoin_after_leaving(),
            Phase::Joining(_, attempt) => {
                let waited = now.duration_since(attempt.started).as_secs();
                self.lose(&format!("it did not confirm our join within {waited} s"));
            }
            Phase::Joined(live, _) => match live.waiting.front() {
                Some(_) => {
                    let silent = now.duration_since(live.last_heard).as_secs();
                    self.lose(&format!("no answer for {silent} s"));
                }
                None => {
                    if let Err(error) = send(live, &TrackerRequest::Ping, None) {
                        self.lose(&error.to_string());
                    }
                }
            },
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Request { message, reply } => match &mut self.phase {
                Phase::Joined(live, _) => {
                    if let Err(error) = send(live, &message, Some(reply)) {
                        self.lose(&error.to_string());
                    }
                }
                _ => {
                    let _ = reply.send(Err(Error::NotJoined(self.why_not_joined.clone())));
                }
            },
            Event::Reannounce => match &mut self.phase {
                Phase::Joined(..) => self.leave_to_reannounce(),
                Phase::Waiting { .. } => self.wait_then_join(Some(Duration::ZERO)),
                // The join under way announces the folder as it was; once
                // it is settled, `settle` sees the newer request. A leave
                // under way is followed by a join that scans the folder then.
                Phase::Joining(..) | Phase::Leaving(..) => {}
            },
            Event::Line { connection, line } => self.on_line(connection, line),
            Event::Closed { connection } => match &self.phase {
                Phase::Joining(live, _) if live.number == connection => self.refused(),
                Phase::Joined(live, _) if live.number == connection => {
                    self.lose("the connection was closed")
                }
                Phase::Leaving(live, _) if live.number == connection => self.rejoin_after_leaving(),
                // An older connection's reader, ending after we left it.
                _ => {}
            },
            Event::Stop { .. } => {}
        }
    }

    /// A line from the tracker.
    fn on_line(&mut self, connection: u64, line: Result<TrackerReply>) {
        match &mut self.phase {
            Phase::Joining(live, attempt) if live.number == connection => match line {
                Ok(TrackerReply::Pong) => {
                    // It answers the PING that followed our records.
                    live.waiting.pop_front();
                    live.last_activity = Instant::now();
                    live.last_heard = live.last_activity;
                    self.accepted();
                }
                Ok(TrackerReply::Error(reason)) => attempt.reason = Some(reason),
                Ok(other) => attempt.reason = Some(format!("it sent {:?}", other.format())),
                Err(error) => attempt.reason = Some(error.to_string()),
            },
            Phase::Joined(live, _) | Phase::Leaving(live, _) if live.number == connection => {
                live.last_activity = Instant::now();
                live.last_heard = live.last_activity;
                // The oldest request gets it. If its asker gave up, the
                // reply goes nowhere: it is never handed to a newer request.
                if let Some(Waiting {
                    reply: Some(reply), ..
                }) = live.waiting.pop_front()
                {
                    let _ = reply.send(line);
                }
            }
            _ => {}
        }
    }

    /// Scans the folder and opens a session: HELLO, HI, records, PING.
    fn try_to_join(&mut self) {
        let scanned = self.status.state().requested;
        let Some(records) = self.records_to_announce() else {
            self.settle(scanned);
            self.phase = Phase::Waiting { until: None };
            return;
        };
        let names = records.iter().map(|r| r.name.clone()).collect();
        match self.open_session(records) {
            Ok((live, seen_as)) => {
                let attempt = Attempt {
                    scanned,
                    names,
                    started: Instant::now(),
                    seen_as,
                    reason: None,
                };
                self.phase = Phase::Joining(live, attempt);
                if self.config.heartbeat.is_none() {
                    // No PING, so no confirmation: take it as accepted.
                    self.accepted();
                }
            }
            Err(error) => {
                self.settle(scanned);
                self.why_not_joined = format!(
                    "not joined to the tracker at {} (it will rejoin by itself when the tracker is back)",
                    self.config.tracker
                );
                self.say_once(format!(
                    "notice: cannot join the tracker at {}: {error}; trying again by itself",
                    self.config.tracker
                ));
                self.lost = true;
                self.retry_later();
            }
        }
    }

    /// Connects, says HELLO, reads HI, sends the records (and PING), and
    /// starts the reader thread. Returns the connection and the address
    /// the tracker sees us come from.
    fn open_session(&mut self, records: Vec<FileRecord>) -> Result<(Live, Option<IpAddr>)> {
        let mut connection = Connection::connect(self.config.tracker, &self.config.log)?;
        match connection.request(&TrackerRequest::Hello)? {
            TrackerReply::Hi => {}
            TrackerReply::Error(reason) => return Err(Error::Remote(reason)),
            other => return Err(Error::unexpected("HI", &other)),
        }
        let seen_as = connection.local_addr().ok().map(|a| a.ip().to_canonical());
        let mut writer = connection.writing_half();
        writer.send(&TrackerRequest::Records(records))?;
        let mut live = Live {
            number: self.next_connection,
            writer,
            waiting: VecDeque::new(),
            last_activity: Instant::now(),
            last_heard: Instant::now(),
        };
        self.next_connection += 1;
        if self.config.heartbeat.is_some() {
            // The tracker answers PING only once it accepted our records.
            send(&mut live, &TrackerRequest::Ping, None)?;
        }
        start_reader(connection, live.number, self.own_events.clone())?;
        Ok((live, seen_as))
    }

    /// The tracker answered our PING: we are in.
    fn accepted(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let Phase::Joining(live, attempt) = phase else {
            self.phase = phase;
            return;
        };
        let tracker = self.config.tracker;
        let log = &self.config.log;
        log.event(&format!(
            "joined the tracker at {tracker} sharing {}",
            attempt.names.join(", ")
        ));
        if self.lost && self.ever_joined {
            log.event(&format!("notice: rejoined the tracker at {tracker}"));
        }
        self.lost = false;
        self.ever_joined = true;
        self.last_said = None;
        self.pause = FIRST_RETRY_PAUSE;
        let scanned = attempt.scanned;
        let announced = attempt.names.clone();
        self.phase = Phase::Joined(live, attempt);
        self.status.update(|state| {
            state.joined = true;
            state.announced = announced;
        });
        self.settle(scanned);
        // A re-announce asked for during the join: its file may be newer
        // than the scan we just announced.
        if self.status.state().requested > scanned {
            self.on_event(Event::Reannounce);
        }
    }

    /// The tracker closed the connection before accepting us.
    fn refused(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let Phase::Joining(mut live, attempt) = phase else {
            self.phase = phase;
            return;
        };
        close(&mut live, "refused by the tracker");
        let tracker = self.config.tracker;
        let why = match &attempt.reason {
            Some(reason) => format!("it said: {reason}"),
            None => self.likely_causes(attempt.seen_as),
        };
        self.why_not_joined = format!("not joined: refused by the tracker at {tracker} ({why})");
        self.say_once(format!(
            "refused by the tracker at {tracker}: {why}; trying again every {} s",
            REFUSED_RETRY_PAUSE.as_secs()
        ));
        self.settle(attempt.scanned);
        self.wait_then_join(Some(REFUSED_RETRY_PAUSE));
    }

    /// Why a tracker that gave no reason may have refused us.
    fn likely_causes(&self, seen_as: Option<IpAddr>) -> String {
        let announced = self.config.own_addr.ip();
        let address = match seen_as {
            Some(seen) if seen != announced && !(seen.is_loopback() && announced.is_loopback()) => {
                format!(
                    "it sees this peer's connection come from {seen}, but our records announce \
                     {announced} (the address of this peer's line in {}): run this peer on the \
                     machine that has {announced}, or fix that line",
                    self.config.settings_file.display()
                )
            }
            _ => format!("our records announce {announced}, which it may not accept"),
        };
        format!(
            "it closed the connection without a word; likely causes: {address}; \
             a record it cannot read (run the tracker with --explain to be told why)"
        )
    }

    /// The tracker is gone (or unreachable): tell the user, then rejoin.
    fn lose(&mut self, reason: &str) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        if let Phase::Joining(mut live, attempt) | Phase::Joined(mut live, attempt) = phase {
            close(&mut live, &format!("lost the tracker: {reason}"));
            self.settle(attempt.scanned);
        }
        self.status.update(|state| state.joined = false);
        let tracker = self.config.tracker;
        self.why_not_joined = format!(
            "not joined to the tracker at {tracker} (it will rejoin by itself when the tracker is back)"
        );
        self.config.log.event(&format!(
            "notice: lost the connection to the tracker at {tracker} ({reason}); \
             still serving files; rejoining by itself"
        ));
        self.lost = true;
        self.last_said = None;
        // A session that was up starts the pauses again from the shortest.
        self.pause = FIRST_RETRY_PAUSE;
        self.retry_later();
    }

    /// Re-announce, first half: BYE, then wait for the tracker to close
    /// the session (see [`LEAVE_WAIT`]).
    fn leave_to_reannounce(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let Phase::Joined(mut live, _) = phase else {
            self.phase = phase;
            return;
        };
        self.status.update(|state| state.joined = false);
        self.why_not_joined = format!(
            "not joined for a moment: leaving and joining the tracker at {} again \
             to announce a changed folder (try again)",
            self.config.tracker
        );
        match live.writer.send(&TrackerRequest::Bye) {
            Ok(()) => self.phase = Phase::Leaving(live, Instant::now() + LEAVE_WAIT),
            // The tracker is gone already: nothing to wait for.
            Err(error) => {
                close(
                    &mut live,
                    &format!("left to announce a changed folder: {error}"),
                );
                self.wait_then_join(Some(Duration::ZERO));
            }
        }
    }

    /// Re-announce, second half: the tracker closed the old session (or
    /// did not within [`LEAVE_WAIT`]); join again now.
    fn rejoin_after_leaving(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        if let Phase::Leaving(mut live, _) = phase {
            close(&mut live, "left to announce a changed folder");
        }
        self.wait_then_join(Some(Duration::ZERO));
    }

    /// Leaves: BYE (unless playing a crash, or said already), close, and
    /// wake everyone.
    fn stop(&mut self, say_bye: bool) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        if let Phase::Joining(mut live, _) | Phase::Joined(mut live, _) = phase {
            if say_bye {
                let _ = live.writer.send(&TrackerRequest::Bye);
            }
            close(&mut live, "the peer is stopping");
        } else if let Phase::Leaving(mut live, _) = phase {
            close(&mut live, "the peer is stopping");
        }
        self.status.update(|state| {
            state.joined = false;
            state.stopped = true;
        });
    }

    /// Waits the current pause, then tries again; the pause doubles.
    fn retry_later(&mut self) {
        self.wait_then_join(Some(self.pause));
        self.pause = (self.pause * 2).min(MAX_RETRY_PAUSE);
    }

    fn wait_then_join(&mut self, after: Option<Duration>) {
        if let Phase::Joined(..) = self.phase {
            self.status.update(|state| state.joined = false);
        }
        self.phase = Phase::Waiting {
            until: after.map(|pause| Instant::now() + pause),
        };
    }

    /// Announcement `scanned` is settled: wake whoever waits for it.
    fn settle(&self, scanned: u64) {
        self.status
            .update(|state| state.settled = state.settled.max(scanned));
    }

    /// Prints `text` unless it is what was printed last.
    fn say_once(&mut self, text: String) {
        if self.last_said.as_ref() != Some(&text) {
            self.config.log.event(&text);
            self.last_said = Some(text);
        }
    }

    /// The five (at most) shared files to announce, as records: the pinned
    /// ones first, then in name order (see [`crate::peer::announce`]); `None` when
    /// the folder shares nothing (the tracker would refuse us). Warns about
    /// files that cannot be shared, and notes those left out of the five.
    fn records_to_announce(&mut self) -> Option<Vec<FileRecord>> {
        let folder = &self.config.folder;
        let scan = match folder.scan() {
            Ok(scan) => scan,
            Err(error) => {
                self.say_once(format!("warning: {error}"));
                return None;
            }
        };
        for (name, reason) in &scan.skipped {
            self.config
                .log
                .event(&format!("warning: not sharing {name:?}: {reason}"));
        }
        if scan.files.is_empty() {
            self.why_not_joined = format!(
                "not joined: {} shares no file, and the protocol does not accept a peer that \
                 shares nothing (a join carries 1 to {MAX_RECORDS_PER_JOIN} records): `publish` \
                 a file, or put one in that folder",
                folder.dir().display()
            );
            let text = format!(
                "not joining the tracker: {} shares no file (the tracker accepts peers that share 1 to {})",
                folder.dir().display(),
                MAX_RECORDS_PER_JOIN
            );
            self.say_once(text);
            return None;
        }
        let shared: Vec<String> = scan.files.iter().map(|f| f.name.clone()).collect();
        let chosen = self.config.pins.announced(&shared);
        let left_out: Vec<&str> = shared
            .iter()
            .filter(|name| !chosen.contains(name))
            .map(String::as_str)
            .collect();
        let note = (!left_out.is_empty()).then(|| {
            format!(
                "note: serving {} files, but a join announces {MAX_RECORDS_PER_JOIN}; \
                 not announced to the tracker (still served to peers that ask): {}",
                shared.len(),
                left_out.join(", ")
            )
        });
        if note != self.last_note {
            if let Some(note) = &note {
                self.config.log.event(note);
            }
            self.last_note = note;
        }
        let own_addr = self.config.own_addr;
        Some(
            chosen
                .iter()
                .filter_map(|name| scan.files.iter().find(|file| &file.name == name))
                .map(|file| file.record(own_addr))
                .collect(),
        )
    }
}

/// Sends `message` on the session and queues who waits for its reply.
fn send(
    live: &mut Live,
    message: &TrackerRequest,
    reply: Option<Sender<Result<TrackerReply>>>,
) -> Result<()> {
    live.writer.send(message)?;
    let now = Instant::now();
    live.last_activity = now;
    live.waiting.push_back(Waiting {
        sent_at: now,
        reply,
    });
    Ok(())
}

/// Closes the connection (its reader thread then ends) and answers every
/// request still waiting with `why`.
fn close(live: &mut Live, why: &str) {
    live.writer.shutdown();
    for waiting in live.waiting.drain(..) {
        if let Some(reply) = waiting.reply {
            let to = live.writer.other_end();
            let _ = reply.send(Err(Error::Other(format!("no answer from {to}: {why}"))));
        }
    }
}

/// Starts the thread that reads the tracker's lines on `connection` and
/// passes them to the session as events, until the connection ends.
fn start_reader(mut connection: Connection, number: u64, events: Sender<Event>) -> Result<()> {
    thread::Builder::new()
        .name("tracker session reader".into())
        .spawn(move || loop {
            let event = match connection.receive(Wait::Forever) {
                Ok(Some(message)) => Event::Line {
                    connection: number,
                    line: Ok(message),
                },
                // A line we cannot read answers a request with an error;
                // the session itself goes on.
                Err(error @ Error::Protocol(_)) => Event::Line {
                    connection: number,
                    line: Err(error),
                },
                Ok(None) | Err(_) => {
                    let _ = events.send(Event::Closed { connection: number });
                    return;
                }
            };
            if events.send(event).is_err() {
                return; // the session has ended
            }
        })
        .map(drop)
        .map_err(|e| Error::io("starting the tracker reader thread", e))
}

#[cfg(test)]
mod tests;
