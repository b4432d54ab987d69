//! The session thread's side of [`super::TrackerLink`]: the state machine
//! itself (see the diagram in `mod.rs`). It owns the connection to the
//! tracker and is the only code that writes to it; everything that happens
//! reaches it as an [`Event`].

use super::*;

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
pub(super) struct Session {
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
    /// A session that will try to join at once.
    pub(super) fn new(
        config: LinkConfig,
        own_events: Sender<Event>,
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
            lost: false,
            ever_joined: false,
            last_said: None,
            last_note: None,
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
