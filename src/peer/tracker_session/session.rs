//! The session thread's side of [`super::TrackerLink`]: the state machine
//! itself (see the diagram in `mod.rs`). It owns the connection to the
//! tracker once it is open, and is the only code that writes to it then;
//! everything that happens reaches it as an [`Event`]. How a join starts
//! and ends is in `joining.rs`.

use super::connector::News;
use super::{
    reply_wait, Event, LinkConfig, Status, FIRST_RETRY_PAUSE, JOIN_SETTLE_WAIT, LEAVE_WAIT,
    MAX_RETRY_PAUSE, STEADY_SESSION,
};
use crate::error::{Error, Result};
use crate::wire::connection::{Closer, Connection};
use crate::wire::messages::{TrackerReply, TrackerRequest, Wire};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a session is lost when the tracker closed it.
const CLOSED: &str = "the connection was closed";

/// Where the session is (see the diagram at the top).
pub(super) enum Phase {
    /// No connection. Try to join at `until`; `None` waits for a
    /// re-announce (the folder had nothing to share).
    Waiting { until: Option<Instant> },
    /// A connection's thread is opening the session.
    Connecting(Pending),
    /// Records (and `PING`) sent; waiting for `PONG`, the close, or
    /// [`JOIN_SETTLE_WAIT`] to pass.
    Joining(Live, Attempt),
    /// Accepted.
    Joined(Live, Attempt),
    /// `BYE` sent to re-announce; waiting until `until` at most for the
    /// tracker to close this connection, then joining again.
    Leaving(Live, Instant),
}

/// A session being opened by its connection's thread.
pub(super) struct Pending {
    pub number: u64,
    /// Ends the connection, once there is one.
    pub closer: CloseOnDrop,
    pub attempt: Attempt,
}

/// The closer of a connection that is still opening. A try given up
/// before it opened (the peer stops, say) is closed when this is dropped,
/// so its thread stops waiting for the tracker.
pub(super) struct CloseOnDrop(pub Option<Closer>);

impl CloseOnDrop {
    /// The session is open: from now on its [`Live`] closes it.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(closer) = &self.0 {
            closer.close();
        }
    }
}

/// One open connection to the tracker, as the session thread holds it.
pub(super) struct Live {
    /// Tells this connection's events from those of an older one.
    pub number: u64,
    /// The writing half; the connection's thread reads the other.
    pub writer: Connection,
    /// Requests sent and not yet answered, oldest first.
    pub waiting: VecDeque<Waiting>,
    /// When the last line went out or came in.
    pub last_activity: Instant,
    /// When the tracker last said anything: its last sign of life.
    pub last_heard: Instant,
    /// This session's heartbeat: `--heartbeat`, or `None` when the
    /// tracker does not answer `PING`.
    pub heartbeat: Option<Duration>,
}

/// However a session ends, its socket is closed: the tracker hears of it,
/// and the connection's thread stops reading.
impl Drop for Live {
    fn drop(&mut self) {
        self.writer.shutdown();
    }
}

/// A loss of the tracker that no join has ended yet.
pub(super) struct Lost {
    /// Whether a try failed since: the notice already says the peer tries
    /// again, so the first failure is nothing new.
    pub tried: bool,
}

/// A request sent to the tracker, waiting for its reply.
pub(super) struct Waiting {
    pub sent_at: Instant,
    /// Our own `PING`: only a `PONG` answers it.
    pub ping: bool,
    /// Who wants the reply; `None` for our own `PING`s.
    pub reply: Option<Sender<Result<TrackerReply>>>,
}

/// What one join announced, and what it learnt.
pub(super) struct Attempt {
    /// The announcement number its folder scan answers.
    pub scanned: u64,
    pub names: Vec<String>,
    /// When the records went out (when the try began, before that).
    pub started: Instant,
    /// Where the tracker sees our connection come from.
    pub seen_as: Option<IpAddr>,
    /// What the tracker said while we were joining, quoted.
    pub reason: Option<String>,
}

/// The session thread's state.
pub(super) struct Session {
    pub config: LinkConfig,
    /// Our own inbox's sender, handed to each connection's thread. The
    /// session thread itself never sends on it: the queue may be full.
    pub own_events: SyncSender<Event>,
    pub status: Arc<Status>,
    pub phase: Phase,
    pub next_connection: u64,
    /// The pause before the next try after a failure.
    pub pause: Duration,
    /// The tracker was lost and no join worked since.
    pub lost: Option<Lost>,
    /// The last warning printed about joining, so that a try that fails the
    /// same way again does not print it again.
    pub last_said: Option<String>,
    /// The last note about files left out of the five, printed once per
    /// change, not at every join.
    pub last_note: Option<String>,
    /// Whether the last join found a tracker that does not answer `PING`:
    /// the peer says so once, not at every join.
    pub said_no_ping: bool,
    /// What a request gets while not joined.
    pub why_not_joined: String,
}

impl Session {
    /// A session that will try to join at once.
    pub(super) fn new(
        config: LinkConfig,
        own_events: SyncSender<Event>,
        status: Arc<Status>,
    ) -> Session {
        let tracker = config.tracker;
        Session {
            own_events,
            status,
            phase: Phase::Waiting {
                until: Some(Instant::now()),
            },
            next_connection: 0,
            pause: FIRST_RETRY_PAUSE,
            lost: None,
            last_said: None,
            last_note: None,
            said_no_ping: false,
            why_not_joined: format!("not joined to the tracker at {tracker} yet"),
            config,
        }
    }

    /// The peer's name, for the thread's name.
    pub(super) fn label(&self) -> &str {
        self.config.log.label()
    }

    /// The session thread: wait for the next event or the next deadline,
    /// and react, until told to stop.
    pub(super) fn run(mut self, inbox: &Receiver<Event>) {
        loop {
            self.publish_why();
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

    /// Publishes `why_not_joined` for the peer's page, when it changed.
    fn publish_why(&self) {
        if self.status.state().why_not_joined != self.why_not_joined {
            let why = self.why_not_joined.clone();
            self.status.update(|state| state.why_not_joined = why);
        }
    }

    /// When the session must act if no event comes first.
    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Waiting { until } => *until,
            Phase::Connecting(_) => None,
            Phase::Joining(_, attempt) => Some(attempt.started + self.settle_wait()),
            Phase::Leaving(_, until) => Some(*until),
            Phase::Joined(live, _) => match (live.waiting.front(), live.heartbeat) {
                // Something is unanswered: give up on the tracker when it
                // has been silent for three heartbeats (an idle session's
                // PING goes out after one of them), and a request has had
                // two at least.
                (Some(oldest), Some(beat)) => {
                    Some((live.last_heard + 3 * beat).max(oldest.sent_at + 2 * beat))
                }
                // No heartbeats: when its asker gives up on a request.
                (Some(oldest), None) => Some(oldest.sent_at + reply_wait(self.config.heartbeat)),
                // All answered: PING when idle for one.
                (None, Some(beat)) => Some(live.last_activity + beat),
                (None, None) => None,
            },
        }
    }

    /// How long a join waits for `PONG` or a refusal's close.
    pub(super) fn settle_wait(&self) -> Duration {
        self.config
            .heartbeat
            .map_or(JOIN_SETTLE_WAIT, |beat| beat.min(JOIN_SETTLE_WAIT))
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        match &mut self.phase {
            Phase::Waiting { .. } => self.try_to_join(),
            Phase::Connecting(_) => {}
            Phase::Leaving(..) => self.rejoin_after_leaving(),
            // Still open: the records were taken, with no PONG.
            Phase::Joining(..) => self.accepted(false),
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

    pub(super) fn on_event(&mut self, event: Event) {
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
                Phase::Connecting(_) | Phase::Joining(..) | Phase::Leaving(..) => {}
            },
            Event::From { connection, news } => self.on_news(connection, news),
            Event::Stop { .. } => {}
        }
    }

    /// News from the thread of connection `connection`.
    fn on_news(&mut self, connection: u64, news: News) {
        match news {
            News::Connected { closer } => self.connected(connection, closer),
            News::Greeted { writer, seen_as } => self.greeted(connection, writer, seen_as),
            News::Failed { error } => self.failed(connection, &error),
            News::Line { line } => self.on_line(connection, line),
            News::Closed => match &self.phase {
                Phase::Joining(live, _) if live.number == connection => self.refused(),
                Phase::Joined(live, _) if live.number == connection => self.lose(CLOSED),
                Phase::Leaving(live, _) if live.number == connection => self.rejoin_after_leaving(),
                // An older connection's reader, ending after we left it.
                _ => {}
            },
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
                    self.accepted(true);
                }
                Ok(TrackerReply::Error(reason)) => attempt.reason = Some(quoted(&reason)),
                // Only the keyword: the line itself may be megabytes long.
                Ok(other) => attempt.reason = Some(format!("a {} line", other.keyword())),
                Err(error) => attempt.reason = Some(quoted(&error.to_string())),
            },
            Phase::Joined(live, _) | Phase::Leaving(live, _) if live.number == connection => {
                live.last_activity = Instant::now();
                live.last_heard = live.last_activity;
                let answers = match (live.waiting.front(), &line) {
                    // A late PONG (to the PING of a join that was taken
                    // without one) answers no request.
                    (Some(oldest), Ok(TrackerReply::Pong)) => oldest.ping,
                    (Some(_), _) => true,
                    // A line nobody waits for is dropped.
                    (None, _) => false,
                };
                // The oldest request gets it. If its asker gave up, the
                // reply goes nowhere: it is never handed to a newer request.
                if answers {
                    if let Some(Waiting {
                        reply: Some(reply), ..
                    }) = live.waiting.pop_front()
                    {
                        let _ = reply.send(line);
                    }
                }
            }
            _ => {}
        }
    }

    /// The connection's thread has connected.
    fn connected(&mut self, connection: u64, closer: Closer) {
        match &mut self.phase {
            Phase::Connecting(pending) if pending.number == connection => {
                pending.closer = CloseOnDrop(Some(closer))
            }
            // A try given up already.
            _ => closer.close(),
        }
    }

    /// The tracker is gone (or unreachable): tell the user, then rejoin.
    pub(super) fn lose(&mut self, reason: &str) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let mut steady = false;
        if let Phase::Joining(mut live, attempt) | Phase::Joined(mut live, attempt) = phase {
            close(&mut live, &format!("lost the tracker: {reason}"));
            self.settle(attempt.scanned);
            steady = attempt.started.elapsed() >= STEADY_SESSION;
        }
        self.status.update(|state| state.joined = false);
        let tracker = self.config.tracker;
        self.why_not_joined = format!(
            "not joined to the tracker at {tracker} (it will rejoin by itself when the tracker is back)"
        );
        // A closed connection needs no reason besides "lost the connection";
        // without it, the notice fits a terminal's line.
        let why = if reason == CLOSED {
            String::new()
        } else {
            format!(" ({reason})")
        };
        let text = format!(
            "notice: lost the connection to the tracker at {tracker}{why}; rejoining by itself"
        );
        self.config.log.event(&text);
        self.lost = Some(Lost { tried: false });
        self.last_said = None;
        if steady {
            self.pause = FIRST_RETRY_PAUSE;
        }
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

    /// Leaves: BYE (unless playing a crash, or said already), then close.
    /// The status says "stopped" once the thread has ended (see
    /// `Running`).
    fn stop(&mut self, say_bye: bool) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        match phase {
            Phase::Joining(mut live, _) | Phase::Joined(mut live, _) => {
                if say_bye {
                    let _ = live.writer.send(&TrackerRequest::Bye);
                }
                close(&mut live, "the peer is stopping");
            }
            Phase::Leaving(mut live, _) => close(&mut live, "the peer is stopping"),
            // Dropping it closes a connection that is still opening.
            Phase::Connecting(pending) => drop(pending),
            Phase::Waiting { .. } => {}
        }
    }

    /// Waits the current pause, then tries again; the pause doubles.
    pub(super) fn retry_later(&mut self) {
        self.wait_then_join(Some(self.pause));
        self.pause = (self.pause * 2).min(MAX_RETRY_PAUSE);
    }

    pub(super) fn wait_then_join(&mut self, after: Option<Duration>) {
        if let Phase::Joined(..) = self.phase {
            self.status.update(|state| state.joined = false);
        }
        self.phase = Phase::Waiting {
            until: after.map(|pause| Instant::now() + pause),
        };
    }

    /// Announcement `scanned` is settled: wake whoever waits for it.
    pub(super) fn settle(&self, scanned: u64) {
        self.status
            .update(|state| state.settled = state.settled.max(scanned));
    }

    /// Prints `text` unless it is what was printed last.
    pub(super) fn say_once(&mut self, text: String) {
        if self.last_said.as_ref() != Some(&text) {
            self.config.log.event(&text);
            self.last_said = Some(text);
        }
    }
}

/// The most characters of another node's words that the session keeps or
/// prints: enough for any reason a tracker gives, not a flood.
const QUOTE_LIMIT: usize = 200;

/// `text`, cut to [`QUOTE_LIMIT`] characters, saying how much was cut.
pub(super) fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… and {} more bytes", &text[..end], text.len() - end),
    }
}

/// Sends `message` on the session and queues who waits for its reply.
pub(super) fn send(
    live: &mut Live,
    message: &TrackerRequest,
    reply: Option<Sender<Result<TrackerReply>>>,
) -> Result<()> {
    live.writer.send(message)?;
    let now = Instant::now();
    live.last_activity = now;
    live.waiting.push_back(Waiting {
        sent_at: now,
        ping: matches!(message, TrackerRequest::Ping),
        reply,
    });
    Ok(())
}

/// Closes the connection (its reader thread then ends) and answers every
/// request still waiting with `why`.
pub(super) fn close(live: &mut Live, why: &str) {
    live.writer.shutdown();
    for waiting in live.waiting.drain(..) {
        if let Some(reply) = waiting.reply {
            let to = live.writer.other_end();
            let _ = reply.send(Err(Error::OtherSide(format!("no answer from {to}: {why}"))));
        }
    }
}
