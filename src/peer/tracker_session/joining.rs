//! How a join starts (the folder scanned, a connection's thread started)
//! and how it ends: accepted, with or without `PONG`; refused; or failed
//! before the records went out. Each outcome says once, in plain words,
//! what the peer concluded, and sets the pause before the next try.

use super::connector::Opening;
use super::session::{quoted, Attempt, CloseOnDrop, Live, Pending, Phase, Session, Waiting};
use super::{Event, REFUSED_RETRY_PAUSE};
use crate::error::Error;
use crate::wire::connection::Connection;
use crate::wire::protocol::{FileRecord, MAX_RECORDS_PER_JOIN};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// How the peer says it will try again, in every notice of a failed join.
const TRYING_AGAIN: &str = "trying again by itself, less and less often (up to once a minute)";

impl Session {
    /// Scans the folder and starts a connection's thread to open a session:
    /// HELLO, HI, records, PING.
    pub(super) fn try_to_join(&mut self) {
        let scanned = self.status.state().requested;
        let Some(records) = self.records_to_announce() else {
            self.settle(scanned);
            self.phase = Phase::Waiting { until: None };
            return;
        };
        let attempt = Attempt {
            scanned,
            names: records.iter().map(|r| r.name.clone()).collect(),
            started: Instant::now(),
            seen_as: None,
            reason: None,
        };
        let number = self.next_connection;
        self.next_connection += 1;
        let opening = Opening {
            tracker: self.config.tracker,
            log: self.config.log.clone(),
            records,
            ping: self.config.heartbeat.is_some(),
            number,
            events: self.own_events.clone(),
        };
        self.phase = Phase::Connecting(Pending {
            number,
            closer: CloseOnDrop(None),
            attempt,
        });
        if let Err(error) = opening.start() {
            self.failed(number, &error);
        }
    }

    /// The session is open: its records (and PING) went out.
    pub(super) fn greeted(
        &mut self,
        connection: u64,
        writer: Box<Connection>,
        seen_as: Option<IpAddr>,
    ) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let pending = match phase {
            Phase::Connecting(pending) if pending.number == connection => pending,
            other => {
                self.phase = other;
                writer.shutdown(); // a try given up already
                return;
            }
        };
        let Pending {
            closer, attempt, ..
        } = pending;
        // The connection now belongs to `live`, which closes it when done.
        closer.disarm();
        let now = Instant::now();
        let mut waiting = VecDeque::new();
        if self.config.heartbeat.is_some() {
            waiting.push_back(Waiting {
                sent_at: now,
                ping: true,
                reply: None,
            });
        }
        let live = Live {
            number: connection,
            writer: *writer,
            waiting,
            last_activity: now,
            last_heard: now,
            heartbeat: self.config.heartbeat,
        };
        let attempt = Attempt {
            started: now,
            seen_as,
            ..attempt
        };
        self.phase = Phase::Joining(live, attempt);
    }

    /// The try on `connection` failed before its records went out.
    pub(super) fn failed(&mut self, connection: u64, error: &Error) {
        let scanned = match &self.phase {
            Phase::Connecting(pending) if pending.number == connection => pending.attempt.scanned,
            _ => return,
        };
        self.phase = Phase::Waiting { until: None };
        self.settle(scanned);
        let tracker = self.config.tracker;
        self.why_not_joined = format!(
            "not joined to the tracker at {tracker}: the last try failed ({}); it tries again by itself",
            quoted(&error.to_string())
        );
        let text = format!(
            "notice: cannot join the tracker at {tracker}: {}; {TRYING_AGAIN}",
            quoted(&error.to_string())
        );
        match &mut self.lost {
            // The notice of the loss said already that it tries again.
            Some(lost) if !lost.tried => {
                lost.tried = true;
                self.last_said = Some(text);
            }
            _ => self.say_once(text),
        }
        self.retry_later();
    }

    /// The tracker took our records: it answered our PING (`pong`), or
    /// kept the connection open for the settle wait.
    pub(super) fn accepted(&mut self, pong: bool) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let Phase::Joining(mut live, attempt) = phase else {
            self.phase = phase;
            return;
        };
        if !pong {
            // Its PING will not be answered: no heartbeats on this session.
            live.waiting.clear();
            live.heartbeat = None;
        }
        self.say_joined(&attempt, pong);
        self.lost = None;
        self.last_said = None;
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

    /// One line for the join, and once, what the peer concluded about a
    /// tracker that does not answer PING.
    fn say_joined(&mut self, attempt: &Attempt, pong: bool) {
        let tracker = self.config.tracker;
        let start = match &self.lost {
            Some(_) => format!("notice: rejoined the tracker at {tracker} sharing "),
            None => format!("joined the tracker at {tracker} sharing "),
        };
        // `[12:00:00 peer1] ` comes before it.
        let used = "[12:00:00 ] ".len() + self.config.log.label().len() + start.len();
        let names = names_within(&attempt.names, LINE_WIDTH.saturating_sub(used));
        let mut text = format!("{start}{names}");
        let no_ping = !pong && self.config.heartbeat.is_some();
        if no_ping && !self.said_no_ping {
            let answer = match &attempt.reason {
                Some(reason) => format!("it answers PING with {reason}"),
                None => "it does not answer PING".to_string(),
            };
            text = format!(
                "{text}; {answer}, so no heartbeats: a lost tracker is noticed at the next request"
            );
        }
        self.said_no_ping = no_ping;
        self.config.log.event(&text);
    }

    /// The tracker closed the connection before accepting us.
    pub(super) fn refused(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { until: None });
        let Phase::Joining(live, attempt) = phase else {
            self.phase = phase;
            return;
        };
        drop(live);
        let tracker = self.config.tracker;
        let why = match &attempt.reason {
            Some(reason) => format!("it said: {reason}"),
            None => self.likely_causes(attempt.seen_as),
        };
        self.why_not_joined = format!("not joined: refused by the tracker at {tracker} ({why})");
        self.say_once(format!(
            "refused by the tracker at {tracker}: {why}; {TRYING_AGAIN}"
        ));
        self.settle(attempt.scanned);
        self.pause = self.pause.max(REFUSED_RETRY_PAUSE);
        self.retry_later();
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
        self.note_left_out(&shared, &chosen);
        let own_addr = self.config.own_addr;
        Some(
            chosen
                .iter()
                .filter_map(|name| scan.files.iter().find(|file| &file.name == name))
                .map(|file| file.record(own_addr))
                .collect(),
        )
    }

    /// Notes the shared files a join leaves out of its five, once per
    /// change.
    fn note_left_out(&mut self, shared: &[String], chosen: &[String]) {
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
    }
}

/// The width a log line keeps to where it can: a class reads the terminal
/// on one screen, without lines that wrap.
const LINE_WIDTH: usize = 100;

/// The names of `names`, as many as fit in `room` columns, then how many
/// more (`a.txt, b.txt and 3 more`): `list` in the shell names them all.
pub(super) fn names_within(names: &[String], room: usize) -> String {
    let all = names.join(", ");
    if all.chars().count() <= room {
        return all;
    }
    for shown in (1..names.len()).rev() {
        let text = format!(
            "{} and {} more",
            names[..shown].join(", "),
            names.len() - shown
        );
        if text.chars().count() <= room {
            return text;
        }
    }
    format!("{} files", names.len())
}
