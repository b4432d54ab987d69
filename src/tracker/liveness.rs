//! How the tracker tells a peer whose machine vanished from a peer that is
//! only quiet.
//!
//! TCP alone cannot tell. A peer that quits or crashes closes its socket,
//! and its operating system tells the tracker (end-of-file). But a machine
//! that loses power, or whose cable is pulled, sends nothing at all: its
//! session just goes silent, and would stay listed for ever. Yet the core
//! protocol allows a joined peer to be silent for hours, so silence alone
//! proves nothing either. The rules, for one session:
//!
//! - Every line the peer sends is a sign of life.
//! - A peer that sends `PING` (a heartbeat: ours do when idle) keeps an
//!   interval: the longest gap between two of its lines since its first
//!   `PING`. The tracker judges it by that interval, so a peer whose
//!   `--heartbeat` differs from the tracker's is judged by its own.
//! - A peer that never sent `PING` (a core-protocol client) is judged by
//!   the tracker's own `--heartbeat`.
//! - After two intervals of silence the tracker *probes*: it opens a TCP
//!   connection to the address the peer announced (where it must serve
//!   downloads) and closes it again at once. If that connection is made
//!   within one interval, the machine is up: the silence starts again. If
//!   not, the peer is forgotten. So a vanished machine is forgotten within
//!   three intervals of its last sign of life, and a quiet, live one never.
//!
//! [`Liveness`] holds these rules as plain data, with no I/O and no clock of
//! its own (every call is given the time), so they are unit-tested alone.
//!
//! The numbers: an interval is never less than 1 s. The probe waits one
//! interval for its connection, but 1 s at least and 10 s at most. A
//! forgotten peer is logged as `leave peer1 (...): forgotten: no sign of life
//! ...`. With the default `--heartbeat` of 30 s, a vanished machine is
//! forgotten within 90 s. The protocol checker does not check this (it takes
//! minutes); its made-up peers listen on the ports they announce, so a
//! tracker that probes them finds them alive.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The default `--heartbeat` of both programs: how long a peer's tracker
/// session may be idle before the peer sends `PING`, and the interval by
/// which the tracker judges a session that keeps none of its own.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// The shortest and longest time a probe may wait for its connection. A
/// probe that waits one interval keeps "forgotten within three intervals";
/// these bounds keep it sensible for intervals of a second or an hour.
const PROBE_WAIT_MIN: Duration = Duration::from_secs(1);
const PROBE_WAIT_MAX: Duration = Duration::from_secs(10);

/// One session's signs of life, and what they allow.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// The tracker's own `--heartbeat`, for sessions that keep none.
    default_interval: Duration,
    last_heard: Instant,
    /// Set once the peer has sent `PING`: from then on it keeps an interval.
    heartbeats: bool,
    /// The longest gap seen between two lines since the first `PING`.
    kept_interval: Option<Duration>,
}

/// What to do when a session has been silent up to [`Liveness::probe_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not silent long enough yet: read on (the moment came early).
    Wait,
    /// Silent for two intervals: probe, waiting at most this long.
    Probe(Duration),
}

impl Liveness {
    /// A session that was just accepted, at `now`.
    pub fn new(default_interval: Duration, now: Instant) -> Liveness {
        Liveness {
            default_interval,
            last_heard: now,
            heartbeats: false,
            kept_interval: None,
        }
    }

    /// The peer sent a line at `now`; `ping` when it was `PING`.
    pub fn heard(&mut self, now: Instant, ping: bool) {
        if self.heartbeats {
            let gap = now.saturating_duration_since(self.last_heard);
            self.kept_interval = Some(self.kept_interval.map_or(gap, |kept| kept.max(gap)));
        }
        self.heartbeats |= ping;
        self.last_heard = now;
    }

    /// A probe reached the peer's machine at `now`: it is alive.
    pub fn probed_alive(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// The interval this session is judged by: the one it keeps, or, until
    /// it has shown one, the tracker's. Never below a second, so that a
    /// burst of quick lines cannot make the tracker impatient.
    pub fn interval(&self) -> Duration {
        self.kept_interval
            .unwrap_or(self.default_interval)
            .max(PROBE_WAIT_MIN)
    }

    /// When the session will have been silent for two intervals.
    pub fn probe_at(&self) -> Instant {
        self.last_heard + 2 * self.interval()
    }

    /// Called when a read woke up without a line at `now`.
    pub fn on_silence(&self, now: Instant) -> Verdict {
        if now < self.probe_at() {
            Verdict::Wait
        } else {
            Verdict::Probe(self.interval().clamp(PROBE_WAIT_MIN, PROBE_WAIT_MAX))
        }
    }

    /// How long the peer has been silent at `now`.
    pub fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_heard)
    }
}

/// Whether a TCP connection to `addr` can be made within `wait`: the
/// machine is up and something listens there. Nothing is sent; the
/// connection is closed at once (a peer sees a visitor that said nothing).
pub fn probe(addr: SocketAddr, wait: Duration) -> bool {
    TcpStream::connect_timeout(&addr, wait).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{probe, Liveness, Verdict, PROBE_WAIT_MAX};
    use std::time::{Duration, Instant};

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_quiet_core_client_is_probed_after_two_of_the_trackers_intervals() {
        let start = Instant::now();
        let live = Liveness::new(30 * SECOND, start);
        assert_eq!(live.on_silence(start + 59 * SECOND), Verdict::Wait);
        assert_eq!(
            live.on_silence(start + 60 * SECOND),
            Verdict::Probe(PROBE_WAIT_MAX),
            "30 s intervals wait 10 s at most for a probe"
        );
    }

    #[test]
    fn a_probe_that_answers_starts_the_silence_again() {
        let start = Instant::now();
        let mut live = Liveness::new(SECOND, start);
        assert!(matches!(
            live.on_silence(start + 2 * SECOND),
            Verdict::Probe(_)
        ));
        live.probed_alive(start + 3 * SECOND);
        assert_eq!(live.on_silence(start + 4 * SECOND), Verdict::Wait);
        assert_eq!(live.probe_at(), start + 5 * SECOND);
    }

    #[test]
    fn a_heartbeating_peer_is_judged_by_its_own_interval() {
        let start = Instant::now();
        // The tracker says 30 s; the peer pings right after joining, then
        // every 2 s.
        let mut live = Liveness::new(30 * SECOND, start);
        live.heard(start, true);
        assert_eq!(live.interval(), 30 * SECOND, "no gap seen yet");
        live.heard(start + 2 * SECOND, true);
        assert_eq!(live.interval(), 2 * SECOND);
        assert_eq!(live.probe_at(), start + 6 * SECOND);
        assert_eq!(
            live.on_silence(start + 6 * SECOND),
            Verdict::Probe(2 * SECOND),
            "forgotten within 3 x 2 s of the last PING"
        );
    }

    #[test]
    fn a_peer_slower_than_the_tracker_is_never_judged_too_soon() {
        let start = Instant::now();
        // The tracker says 1 s; the peer pings every 60 s.
        let mut live = Liveness::new(SECOND, start);
        live.heard(start, true);
        live.heard(start + 60 * SECOND, true);
        assert_eq!(live.interval(), 60 * SECOND);
        assert_eq!(live.on_silence(start + 179 * SECOND), Verdict::Wait);
    }

    #[test]
    fn the_interval_is_the_longest_gap_and_never_below_a_second() {
        let start = Instant::now();
        let mut live = Liveness::new(30 * SECOND, start);
        live.heard(start, true);
        live.heard(start + Duration::from_millis(5), false);
        assert_eq!(live.interval(), SECOND, "a burst does not shrink it");
        live.heard(start + 4 * SECOND, false);
        live.heard(start + 5 * SECOND, true);
        assert_eq!(live.interval(), 4 * SECOND - Duration::from_millis(5));
    }

    #[test]
    fn lines_before_the_first_ping_keep_no_interval() {
        let start = Instant::now();
        let mut live = Liveness::new(30 * SECOND, start);
        live.heard(start + 100 * SECOND, false);
        live.heard(start + 101 * SECOND, false);
        assert_eq!(live.interval(), 30 * SECOND);
        assert_eq!(live.silent_for(start + 103 * SECOND), 2 * SECOND);
    }

    #[test]
    fn a_probe_finds_a_listener_and_misses_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(probe(addr, SECOND));
        drop(listener);
        assert!(!probe(addr, SECOND));
    }
}
