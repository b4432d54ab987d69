//! A peer's session with the tracker, kept up by a thread of its own.
//!
//! Why a thread: the tracker connection is long-lived, and the peer must
//! notice at once when it ends (the tracker stopped or crashed), even while
//! the user is not typing. So one thread always sits in a read on that
//! socket. The replies it reads go to whoever sent the request, through a
//! channel; an end-of-file makes it print a notice and start rejoining,
//! with a growing pause between tries, until the tracker is back.
//!
//! ```text
//!            join ──> joined ──(connection ends)──> notice, pause ──> join ...
//! ```
//!
//! To announce a changed file list, the peer leaves (`BYE`) and joins again
//! with the new list: the core protocol needs no extra message for it.

use crate::connection::{Connection, Wait, MAX_REPLY_LINE, STALL_TIMEOUT};
use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::protocol::{FileRecord, Message, MAX_RECORDS_PER_JOIN};
use crate::shared_folder::SharedFolder;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The first pause before trying to rejoin; it doubles after each failed
/// try, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two tries to rejoin the tracker.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(4);

/// The tracker refuses a join by closing the connection without a word. A
/// session that ends this soon after joining counts as refused, and the
/// pause before the next try keeps growing.
const REFUSED_WITHIN: Duration = Duration::from_secs(1);

/// How long starting the link, or re-announcing, waits for the join to
/// be tried before going on anyway.
const JOIN_WAIT: Duration = Duration::from_secs(10);

/// The peer's side of its tracker session.
pub struct TrackerLink {
    shared: Arc<Shared>,
    /// Replies read by the link thread. The lock also makes requests take
    /// turns, so that each reply goes to the request it answers.
    replies: Mutex<Receiver<Result<Message>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the link thread and the peer's other threads share.
struct Shared {
    tracker: SocketAddr,
    folder: SharedFolder,
    /// The address this peer serves on, which its records announce.
    announce: SocketAddr,
    log: Log,
    state: Mutex<LinkState>,
    /// Signalled whenever `state` changes.
    changed: Condvar,
}

#[derive(Default)]
struct LinkState {
    /// A writing handle on the tracker connection while joined.
    writer: Option<Connection>,
    /// How many joins have been tried, for those waiting on a try.
    attempts: u64,
    /// Set to leave and join again at once, quietly, with a new file list.
    rejoin_now: bool,
    /// Set when the peer is shutting down: the thread ends.
    stopping: bool,
}

impl TrackerLink {
    /// Starts the link thread and waits (a few seconds at most) for the
    /// first try to join.
    pub fn start(
        tracker: SocketAddr,
        folder: SharedFolder,
        announce: SocketAddr,
        log: Log,
    ) -> Result<TrackerLink> {
        let shared = Arc::new(Shared {
            tracker,
            folder,
            announce,
            log,
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let (reply_sender, replies) = mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("{} tracker link", shared.log.label()))
                .spawn(move || shared.run(&reply_sender))
                .map_err(|e| Error::io("starting the tracker link thread", e))?
        };
        let link = TrackerLink {
            shared,
            replies: Mutex::new(replies),
            thread: Mutex::new(Some(thread)),
        };
        link.shared.wait_for_attempt(0);
        Ok(link)
    }

    /// The tracker's address.
    pub fn tracker(&self) -> SocketAddr {
        self.shared.tracker
    }

    /// Whether the peer is joined to the tracker right now.
    pub fn is_joined(&self) -> bool {
        self.shared.state().writer.is_some()
    }

    /// Sends a request to the tracker and waits for its reply.
    pub fn request(&self, message: &Message) -> Result<Message> {
        let replies = lock(&self.replies);
        // Drop a late reply to an earlier request that gave up waiting.
        while replies.try_recv().is_ok() {}
        {
            let mut state = self.shared.state();
            let Some(writer) = state.writer.as_mut() else {
                return Err(Error::Other(format!(
                    "not joined to the tracker at {} (it will rejoin by itself when the tracker is back)",
                    self.shared.tracker
                )));
            };
            writer.send(message)?;
        }
        match replies.recv_timeout(STALL_TIMEOUT) {
            Ok(reply) => reply,
            Err(_) => Err(Error::Other(format!(
                "the tracker at {} did not answer",
                self.shared.tracker
            ))),
        }
    }

    /// Announces a changed file list: BYE, then join again at once with the
    /// folder's files as they are now. Waits for that join to be tried.
    pub fn reannounce(&self) {
        let mut state = self.shared.state();
        let attempts = state.attempts;
        state.rejoin_now = true;
        if let Some(writer) = state.writer.as_mut() {
            let _ = writer.send(&Message::Bye);
            writer.shutdown();
        }
        self.shared.changed.notify_all();
        drop(state);
        self.shared.wait_for_attempt(attempts);
    }

    /// Leaves the tracker with BYE and stops the link thread.
    pub fn leave(&self) {
        self.stop(true);
    }

    /// Drops the tracker connection without BYE, as a crash would, and
    /// stops the link thread. The demo uses it to show the tracker
    /// forgetting a crashed peer.
    pub fn crash(&self) {
        self.stop(false);
    }

    fn stop(&self, say_bye: bool) {
        {
            let mut state = self.shared.state();
            state.stopping = true;
            if let Some(writer) = state.writer.as_mut() {
                if say_bye {
                    let _ = writer.send(&Message::Bye);
                }
                writer.shutdown();
            }
            self.shared.changed.notify_all();
        }
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TrackerLink {
    fn drop(&mut self) {
        self.stop(true);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        lock(&self.state)
    }

    /// The link thread: join, read replies until the connection ends,
    /// then (unless stopping) tell the user and join again.
    fn run(&self, replies: &Sender<Result<Message>>) {
        let mut pause = FIRST_RETRY_PAUSE;
        let mut lost = false; // no join has worked since the last notice
        let mut ever_joined = false;
        while !self.state().stopping {
            let Some(records) = self.records_to_announce() else {
                self.finish_attempt(None);
                self.pause(None);
                continue;
            };
            let reader = match self.join(records) {
                Ok(reader) => reader,
                Err(error) => {
                    if !lost {
                        self.log.event(&format!(
                            "notice: cannot join the tracker at {}: {error}; trying again by itself",
                            self.tracker
                        ));
                        lost = true;
                    }
                    self.finish_attempt(None);
                    self.pause(Some(pause));
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                    continue;
                }
            };
            if lost && ever_joined {
                self.log
                    .event(&format!("notice: rejoined the tracker at {}", self.tracker));
            }
            lost = false;
            ever_joined = true;
            let joined_at = Instant::now();
            self.finish_attempt(Some(reader.second_handle()));
            self.read_replies(reader, replies);
            // The session is over: why?
            let quiet = {
                let mut state = self.state();
                state.writer = None;
                if state.stopping {
                    return;
                }
                std::mem::take(&mut state.rejoin_now)
            };
            // Wake a request still waiting for its reply.
            let _ = replies.send(Err(Error::Closed));
            if quiet {
                continue; // re-announcing: join again at once
            }
            self.log.event(&format!(
                "notice: lost the connection to the tracker at {}; still serving files; rejoining by itself",
                self.tracker
            ));
            lost = true;
            // After a session that lasted, the pauses start again from the
            // shortest. One that ended at once may have been refused (the
            // tracker closes a refused join without a word): then the pause
            // keeps growing, instead of hammering the tracker.
            if joined_at.elapsed() >= REFUSED_WITHIN {
                pause = FIRST_RETRY_PAUSE;
            }
            self.pause(Some(pause));
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }

    /// HELLO, HI, and our records.
    fn join(&self, records: Vec<FileRecord>) -> Result<Connection> {
        let mut connection = Connection::connect(self.tracker, &self.log)?;
        match connection.request(&Message::Hello)? {
            Message::Hi => {}
            other => {
                return Err(Error::Unexpected {
                    expected: "HI",
                    got: other.format(),
                })
            }
        }
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        connection.send(&Message::Records(records))?;
        self.log.event(&format!(
            "joined the tracker at {} sharing {}",
            self.tracker,
            names.join(", ")
        ));
        Ok(connection)
    }

    /// Passes every line the tracker sends to the waiting request, until
    /// the connection ends.
    fn read_replies(&self, mut reader: Connection, replies: &Sender<Result<Message>>) {
        loop {
            let reply = match reader.receive(MAX_REPLY_LINE, Wait::Forever) {
                Ok(Some(message)) => Ok(message),
                Ok(None) => return,
                // A line we cannot read is the requester's error; the
                // session itself goes on.
                Err(error @ Error::Protocol(_)) => Err(error),
                Err(_) => return,
            };
            let _ = replies.send(reply);
        }
    }

    /// The first five shared files, in name order, as records; `None` when
    /// the folder shares nothing (the tracker would refuse us). Warns about
    /// files that cannot be shared or do not fit in the five.
    fn records_to_announce(&self) -> Option<Vec<FileRecord>> {
        let scan = match self.folder.scan() {
            Ok(scan) => scan,
            Err(error) => {
                self.log.event(&format!("warning: {error}"));
                return None;
            }
        };
        for (name, reason) in &scan.skipped {
            self.log
                .event(&format!("warning: not sharing {name:?}: {reason}"));
        }
        if scan.files.is_empty() {
            self.log.event(&format!(
                "not joining the tracker: {} shares no file (the tracker accepts peers that share 1 to {})",
                self.folder.dir().display(),
                MAX_RECORDS_PER_JOIN
            ));
            return None;
        }
        if scan.files.len() > MAX_RECORDS_PER_JOIN {
            let left_out: Vec<&str> = scan.files[MAX_RECORDS_PER_JOIN..]
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            self.log.event(&format!(
                "note: sharing {} files, but a join announces {MAX_RECORDS_PER_JOIN}; not announced: {}",
                scan.files.len(),
                left_out.join(", ")
            ));
        }
        Some(
            scan.files
                .iter()
                .take(MAX_RECORDS_PER_JOIN)
                .map(|file| file.record(self.announce))
                .collect(),
        )
    }

    /// Records that a join was tried (and its writer, when it worked).
    fn finish_attempt(&self, writer: Option<Connection>) {
        let mut state = self.state();
        state.writer = writer;
        state.attempts += 1;
        self.changed.notify_all();
    }

    /// Waits until a join has been tried since `attempts` tries were counted,
    /// or [`JOIN_WAIT`] has passed.
    fn wait_for_attempt(&self, attempts: u64) {
        let deadline = Instant::now() + JOIN_WAIT;
        let mut state = self.state();
        while state.attempts == attempts && !state.stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Sleeps for `pause` (for ever with `None`), but wakes at once to stop
    /// or to re-announce.
    fn pause(&self, pause: Option<Duration>) {
        let deadline = pause.map(|pause| Instant::now() + pause);
        let mut state = self.state();
        while !state.stopping && !state.rejoin_now {
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .map(|(s, _)| s)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
            };
        }
        state.rejoin_now = false;
    }
}
