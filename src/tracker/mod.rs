//! The file tracker (FT): who shares which file.
//!
//! Each peer keeps one long-lived connection to the tracker, served by a
//! thread of its own (see [`crate::server`]). The session goes:
//!
//! ```text
//! peer -> FT  HELLO
//! FT -> peer  HI
//! peer -> FT  <name, type, size, DD/MM/YY, ip, port> ...   (1 to 5 records)
//! peer -> FT  SEARCH: name        FT -> peer  FOUND: <...> ...  or  NOT FOUND
//! peer -> FT  FIND: words         FT -> peer  FILES: <...> ...  or  NOT FOUND  (extension)
//! peer -> FT  LIST                FT -> peer  FILES: <...> ...  (extension)
//! peer -> FT  PING                FT -> peer  PONG                (extension: heartbeat)
//! peer -> FT  BYE                 (FT forgets the peer and closes)
//! ```
//!
//! Until a peer is accepted the tracker says nothing but `HI`: a bad first
//! line or a bad records line just closes the connection (with `--explain`,
//! after one `ERROR: <reason>` line). The peer's records live exactly as
//! long as its session: when the connection ends, with `BYE` or without (a
//! crash), they are dropped at once; when the peer's machine vanishes
//! without a word, [`liveness`] finds out.
//!
//! Read its files in this order: [`Index`] (who shares what, pure data),
//! this file (one session per peer), [`liveness`] (telling a vanished
//! machine from a quiet one), then [`console`] (the operator's commands).

pub mod console;
mod index;
pub mod liveness;

pub use index::Index;

use crate::error::{Error, Result};
use crate::lock;
use crate::log::Log;
use crate::server::{Handler, Limits, Server};
use crate::settings::Settings;
use crate::wire::connection::{Closer, Connection, Wait, REQUEST_TIMEOUT};
use crate::wire::messages::{TrackerReply, TrackerRequest, Wire};
use crate::wire::protocol::{FileRecord, Location, ParseError, MAX_RECORDS_PER_JOIN};
use liveness::{Liveness, Verdict};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tracker's default cap on connections (`--max-connections`): room
/// for ten thousand joined peers and the odd visitor.
pub const TRACKER_MAX_CONNECTIONS: usize = 12_000;

/// The read and write buffers of a tracker session. A session only reads
/// request lines and writes its replies (a longer one skips the buffer), so
/// a small buffer does: a line longer than the buffer is read in pieces,
/// still bounded by [`MAX_REQUEST_LINE`](crate::wire::connection::MAX_REQUEST_LINE). Ten thousand sessions with the
/// peers' 64 KiB buffers would cost over a gigabyte. Measured with 10000
/// sessions: 4 KiB buffers cost 27.2 KiB a session (a 4 KiB buffer plus the
/// allocator's header spans a second memory page), 2 KiB ones 23.2 KiB.
pub const SESSION_BUFFER_SIZE: usize = 2 * 1024;

/// How a tracker is started.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// Names the peers in logs and the console, and gives the addresses a
    /// peer on this machine may announce.
    pub settings: Settings,
    pub max_connections: usize,
    /// `--heartbeat`: the interval by which a session that keeps none of its
    /// own is judged (see [`crate::tracker::liveness`]); `None` never forgets a
    /// silent session.
    pub heartbeat: Option<Duration>,
    /// `--explain`: tell a refused peer why, in one `ERROR:` line, before
    /// closing (the core protocol says nothing).
    pub explain: bool,
    pub log: Log,
}

impl TrackerConfig {
    /// The defaults of the `tracker` binary: [`TRACKER_MAX_CONNECTIONS`],
    /// a heartbeat of [`crate::tracker::liveness::DEFAULT_HEARTBEAT`], no `--explain`.
    pub fn new(settings: Settings, log: Log) -> TrackerConfig {
        TrackerConfig {
            settings,
            max_connections: TRACKER_MAX_CONNECTIONS,
            heartbeat: Some(crate::tracker::liveness::DEFAULT_HEARTBEAT),
            explain: false,
            log,
        }
    }
}

/// What the tracker's threads share.
struct TrackerState {
    index: Mutex<Index>,
    /// A handle on each accepted session's socket, by session number, so
    /// that a peer joining again from the same address closes its old
    /// session at once.
    sessions: Mutex<HashMap<u64, Closer>>,
    settings: Settings,
    heartbeat: Option<Duration>,
    explain: bool,
    log: Log,
    next_session: AtomicU64,
    /// Set when the tracker closes every session itself (`quit`), so that
    /// the log does not blame the peers.
    stopping: AtomicBool,
}

/// A running tracker. Dropping it (or [`Tracker::stop`]) closes every session.
pub struct Tracker {
    server: Server,
    state: Arc<TrackerState>,
}

impl Tracker {
    /// Serves peers on `listener` until stopped.
    pub fn start(listener: TcpListener, config: TrackerConfig) -> Result<Tracker> {
        let TrackerConfig {
            settings,
            max_connections,
            heartbeat,
            explain,
            log,
        } = config;
        let state = Arc::new(TrackerState {
            index: Mutex::default(),
            sessions: Mutex::default(),
            settings,
            heartbeat,
            explain,
            log: log.clone(),
            next_session: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
        });
        let handler: Handler = {
            let state = Arc::clone(&state);
            Arc::new(move |connection| serve_session(&state, connection))
        };
        let limits = Limits::new(max_connections, SESSION_BUFFER_SIZE);
        let server = Server::start(listener, limits, log, handler)?;
        Ok(Tracker { server, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn log(&self) -> &Log {
        &self.state.log
    }

    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    /// Every joined peer and its records.
    pub fn peers(&self) -> Vec<(SocketAddr, Vec<FileRecord>)> {
        lock(&self.state.index).peers()
    }

    /// The console's `find WORD ...`: what FIND would answer, one record a
    /// line, or why there is none.
    pub fn find_text(&self, words: &[&str]) -> String {
        let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        let found = lock(&self.state.index).find(&words);
        if found.is_empty() {
            return format!("not found: no announced name holds {}", words.join(" and "));
        }
        let lines: Vec<String> = found.iter().map(|record| format!("  {record}")).collect();
        format!("{} record(s):\n{}", found.len(), lines.join("\n"))
    }

    /// Closes every session and stops listening.
    pub fn stop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.server.stop();
    }
}

/// Why the tracker ends a session on its own: a join it refused, or a
/// silent peer it forgot. The words go to the log (and, with `--explain`,
/// to the refused peer).
struct Reason(String);

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One peer's whole session, in its own thread.
fn serve_session(state: &TrackerState, mut connection: Connection) {
    let from = connection.other_end();
    let (addr, records) = match accept(state, &mut connection) {
        Ok(joined) => joined,
        Err(reason) => {
            // The protocol says a refused peer gets no answer: we just close.
            // A teacher may ask for the reason to be sent (`--explain`).
            if state.explain {
                let _ = connection.send(&TrackerReply::Error(format!("refused: {reason}")));
            }
            state.log.event(&format!("refused {from}: {reason}"));
            return;
        }
    };
    let session = state.next_session.fetch_add(1, Ordering::Relaxed);
    let count = records.len();
    // From now on the trace calls the peer by its id, not by the passing
    // port its connection happens to come from.
    connection.set_other_name(&state.log.name_of(addr));
    let (member, replaced) = Member::join(state, addr, session, records, connection.closer());
    let again = match replaced {
        Some(old) => {
            // The same peer is back (it restarted, or its machine came back
            // after a power cut): its old session is dead or about to be.
            // Close it now rather than wait for it to find out.
            if let Some(closer) = lock(&state.sessions).get(&old) {
                closer.close();
            }
            " (rejoined: its older session closed, its records replaced)"
        }
        None => "",
    };
    state.log.event(&format!(
        "join {}: {count} file(s){again}",
        state.settings.describe(addr)
    ));

    let mut how = serve_requests(state, &mut connection, addr);
    if state.stopping.load(Ordering::SeqCst) {
        how = "closed by the tracker, which is stopping".into();
    }
    // BYE or not, the peer is gone: its records go now.
    let note = if member.leave() {
        ""
    } else {
        " (its records were already replaced by a newer session)"
    };
    state.log.event(&format!(
        "leave {}: {how}{note}",
        state.settings.describe(addr)
    ));
}

/// A joined peer's place in the tracker: its records in the index, and a
/// handle on its session's socket. Its records live exactly as long as its
/// session: dropped, whatever ended the session (BYE, a close, or a panic
/// in its thread), the member takes both out again, so that a session that
/// panicked does not stay in every later `FOUND:`.
struct Member<'a> {
    state: &'a TrackerState,
    addr: SocketAddr,
    session: u64,
    /// Set once the records are out, by [`Member::leave`] or the drop.
    left: bool,
}

impl<'a> Member<'a> {
    /// Puts the records of session `session` in the index. Returns the
    /// member, and the session whose records it replaced, if any.
    fn join(
        state: &'a TrackerState,
        addr: SocketAddr,
        session: u64,
        records: Vec<FileRecord>,
        closer: Closer,
    ) -> (Member<'a>, Option<u64>) {
        lock(&state.sessions).insert(session, closer);
        let replaced = lock(&state.index).join(addr, session, records);
        let member = Member {
            state,
            addr,
            session,
            left: false,
        };
        (member, replaced)
    }

    /// The session ended: takes its records out. False when a newer
    /// session of the same peer had replaced them already.
    fn leave(mut self) -> bool {
        self.take_out()
    }

    fn take_out(&mut self) -> bool {
        self.left = true;
        lock(&self.state.sessions).remove(&self.session);
        let dropped = lock(&self.state.index).leave(self.addr, self.session);
        dropped.is_some()
    }
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        if !self.left {
            self.take_out();
        }
    }
}

/// HELLO, HI and the records line, within [`REQUEST_TIMEOUT`]. Returns the
/// address the peer serves on and its records, or why it was refused.
fn accept(
    state: &TrackerState,
    connection: &mut Connection,
) -> std::result::Result<(SocketAddr, Vec<FileRecord>), Reason> {
    let deadline = Wait::Until(Instant::now() + REQUEST_TIMEOUT);
    match connection.receive::<TrackerRequest>(deadline) {
        Ok(Some(TrackerRequest::Hello)) => {}
        Ok(Some(other)) => {
            return Err(Reason(format!(
                "first line was {}, not HELLO",
                other.keyword()
            )))
        }
        Err(Error::Protocol(ParseError::OtherConversation { keyword, .. })) => {
            return Err(Reason(format!("first line was {keyword}, not HELLO")))
        }
        Ok(None) => return Err(Reason("closed before HELLO".into())),
        Err(error) => return Err(Reason(format!("no HELLO: {error}"))),
    }
    connection
        .send(&TrackerReply::Hi)
        .map_err(|e| Reason(e.to_string()))?;
    let records = match connection.receive::<TrackerRequest>(deadline) {
        Ok(Some(TrackerRequest::Records(records))) => records,
        Ok(Some(other)) => {
            return Err(Reason(format!(
                "sent {} instead of file records",
                other.keyword()
            )))
        }
        Err(Error::Protocol(ParseError::OtherConversation { keyword, .. })) => {
            return Err(Reason(format!("sent {keyword} instead of file records")))
        }
        Ok(None) => return Err(Reason("closed before sending file records".into())),
        Err(error) => return Err(Reason(format!("bad file records: {error}"))),
    };
    // A tracker listening on `::` (every address, IPv6 and IPv4) sees an
    // IPv4 peer as `::ffff:10.77.0.2`; the peer announced `10.77.0.2`.
    let from = connection.other_end().ip().to_canonical();
    check_records(&records, from, &state.settings)?;
    let first = &records[0];
    Ok((first.addr(), records))
}

/// The rules for a records line beyond its grammar: how many, and who may
/// announce what.
fn check_records(
    records: &[FileRecord],
    from: IpAddr,
    settings: &Settings,
) -> std::result::Result<(), Reason> {
    if records.is_empty() || records.len() > MAX_RECORDS_PER_JOIN {
        return Err(Reason(format!(
            "{} records (a peer shares 1 to {MAX_RECORDS_PER_JOIN})",
            records.len()
        )));
    }
    let first = &records[0];
    if records
        .iter()
        .any(|r| (r.ip, r.port) != (first.ip, first.port))
    {
        return Err(Reason(
            "records name more than one ip:port (a peer speaks only for itself)".into(),
        ));
    }
    // A peer may only announce its own address. A peer on this machine
    // (connecting over loopback) may also announce loopback or an address
    // from the settings file, which is how the shipped walkthrough runs.
    let own = first.ip == from;
    let local = from.is_loopback() && (first.ip.is_loopback() || settings.lists_ip(first.ip));
    if !own && !local {
        return Err(Reason(format!(
            "records announce {} but the connection comes from {from}",
            first.ip
        )));
    }
    Ok(())
}

/// Answers an accepted peer until it leaves. Returns how it left.
///
/// The read wakes up now and then (when [`Liveness`] says the session has
/// been silent long enough to check on it), so a peer whose machine
/// vanished without a word is forgotten too.
fn serve_requests(state: &TrackerState, connection: &mut Connection, addr: SocketAddr) -> String {
    let mut liveness = state
        .heartbeat
        .map(|interval| Liveness::new(interval, Instant::now()));
    loop {
        // Without a heartbeat, no time limit: a joined peer may stay idle
        // for hours. With one, wake up after each interval of silence to
        // see whether it needs a probe. (The same wait each time, so the
        // socket's time-out is set once, not per request.)
        let wait = match &liveness {
            Some(live) => Wait::NoProgressFor(live.interval()),
            None => Wait::Forever,
        };
        let received = connection.receive::<TrackerRequest>(wait);
        if let (Some(live), Ok(Some(message))) = (liveness.as_mut(), &received) {
            live.heard(Instant::now(), *message == TrackerRequest::Ping);
        }
        let reply = match received {
            Ok(None) => return "connection closed without BYE".into(),
            Ok(Some(TrackerRequest::Bye)) => return "BYE".into(),
            Ok(Some(TrackerRequest::Search(name))) => search(state, &name, addr),
            Ok(Some(TrackerRequest::Find(words))) => find(state, &words, addr),
            Ok(Some(TrackerRequest::List)) => TrackerReply::Files(lock(&state.index).all_records()),
            Ok(Some(TrackerRequest::Ping)) => TrackerReply::Pong,
            Ok(Some(TrackerRequest::Hello)) => TrackerReply::Error(
                "already joined: HELLO opens a session, and this one is open (send BYE to leave)"
                    .into(),
            ),
            Ok(Some(TrackerRequest::Records(_))) => not_taken("records"),
            Err(Error::Protocol(ParseError::OtherConversation { keyword, .. })) => {
                not_taken(keyword)
            }
            // A line we cannot parse is answered, and the session goes on.
            Err(Error::Protocol(error)) => TrackerReply::Error(error.to_string()),
            Err(error @ Error::LineTooLong { .. }) => {
                let _ = connection.send(&TrackerReply::Error(error.to_string()));
                return format!("connection closed by the tracker: {error}");
            }
            Err(error) if error.is_timeout() => match &mut liveness {
                Some(live) => match check_on(live, addr) {
                    Ok(()) => continue,
                    Err(Reason(how)) => return how,
                },
                None => return format!("connection lost: {error}"),
            },
            Err(error) => return format!("connection lost: {error}"),
        };
        // The index lock was released above: we never hold it while
        // writing to a socket, which may block on a slow peer.
        if let Err(error) = connection.send(&reply) {
            return format!("connection lost: {error}");
        }
    }
}

/// A silent session's read woke up: probe the peer's machine if the
/// silence has lasted two intervals. `Err` says why the peer is forgotten.
fn check_on(live: &mut Liveness, addr: SocketAddr) -> std::result::Result<(), Reason> {
    let Verdict::Probe(wait) = live.on_silence(Instant::now()) else {
        return Ok(());
    };
    if liveness::probe(addr, wait) {
        live.probed_alive(Instant::now());
        return Ok(());
    }
    Err(Reason(format!(
        "forgotten: no sign of life for {} s (its heartbeat interval is {} s) and nothing answers at {addr}",
        live.silent_for(Instant::now()).as_secs(),
        live.interval().as_secs()
    )))
}

/// The answer to a line a joined peer may not send.
fn not_taken(keyword: &str) -> TrackerReply {
    TrackerReply::Error(format!(
        "the tracker does not take {keyword} (it takes SEARCH, FIND, LIST, PING, BYE)"
    ))
}

/// FIND: the records whose names hold every word, in any case.
fn find(state: &TrackerState, words: &[String], from: SocketAddr) -> TrackerReply {
    let found = lock(&state.index).find(words);
    let who = state.settings.describe(from);
    let words = words.join(" ");
    state.log.event(&format!(
        "find {words:?} by {who}: {} record(s)",
        found.len()
    ));
    if found.is_empty() {
        TrackerReply::NotFound
    } else {
        TrackerReply::Files(found)
    }
}

fn search(state: &TrackerState, name: &str, from: SocketAddr) -> TrackerReply {
    let found = lock(&state.index).search(name).map(<[Location]>::to_vec);
    let who = state.settings.describe(from);
    match found {
        Some(locations) => {
            state.log.event(&format!(
                "search {name:?} by {who}: {} holder(s)",
                locations.len()
            ));
            TrackerReply::Found(locations)
        }
        None => {
            state
                .log
                .event(&format!("search {name:?} by {who}: not found"));
            TrackerReply::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_records, Member, Settings, TrackerState};
    use crate::lock;
    use crate::wire::connection::Closer;
    use std::net::{IpAddr, SocketAddr, TcpListener};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::sync::{Arc, Mutex};

    use super::index::tests::record;
    use crate::log::Log;
    use std::net::TcpStream;
    use std::thread;

    /// The state of a tracker that serves nobody, for the guards' tests.
    fn state() -> TrackerState {
        let settings = Settings::parse(Path::new("s"), "tracker 127.0.0.1 1\n").unwrap();
        TrackerState {
            index: Mutex::default(),
            sessions: Mutex::default(),
            settings,
            heartbeat: None,
            explain: false,
            log: Log::new("test", false),
            next_session: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
        }
    }

    /// A closer on a real loopback socket (nothing is sent on it).
    fn closer() -> Closer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Closer::for_socket(Arc::new(stream))
    }

    #[test]
    fn a_session_that_panics_leaves_no_record_behind() {
        let state = state();
        let addr: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let records = vec![record("kept.txt", "127.0.0.1", 5001)];
        let joined = thread::scope(|scope| {
            scope
                .spawn(|| {
                    let (_member, _) = Member::join(&state, addr, 7, records, closer());
                    assert!(lock(&state.index).search("kept.txt").is_some());
                    panic!("a bug in the session's work");
                })
                .join()
        });
        assert!(joined.is_err(), "the session panicked");
        assert!(lock(&state.index).search("kept.txt").is_none());
        assert!(lock(&state.index).peers().is_empty());
        assert!(lock(&state.sessions).is_empty());
    }

    #[test]
    fn a_session_that_leaves_says_whether_its_records_were_still_there() {
        let state = state();
        let addr: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let (old, _) = Member::join(
            &state,
            addr,
            1,
            vec![record("a.txt", "127.0.0.1", 5001)],
            closer(),
        );
        let (new, replaced) = Member::join(
            &state,
            addr,
            2,
            vec![record("b.txt", "127.0.0.1", 5001)],
            closer(),
        );
        assert_eq!(replaced, Some(1));
        assert!(!old.leave(), "the newer session had replaced them");
        assert!(lock(&state.index).search("b.txt").is_some());
        assert!(new.leave());
        assert!(lock(&state.index).peers().is_empty());
    }

    #[test]
    fn records_are_checked_for_count_and_origin() {
        let settings =
            Settings::parse(Path::new("s"), "tracker 127.0.0.1 1\npeer1 10.0.0.5 2\n").unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let lan: IpAddr = "10.0.0.7".parse().unwrap();
        let one = [record("a.txt", "127.0.0.1", 5)];
        assert!(check_records(&one, loopback, &settings).is_ok());
        assert!(check_records(&[], loopback, &settings).is_err());
        assert!(check_records(&vec![one[0].clone(); 6], loopback, &settings).is_err());
        let mixed = [
            record("a.txt", "127.0.0.1", 5),
            record("b.txt", "127.0.0.1", 6),
        ];
        assert!(check_records(&mixed, loopback, &settings).is_err());
        assert!(check_records(&[record("a.txt", "10.0.0.7", 5)], lan, &settings).is_ok());
        assert!(check_records(&[record("a.txt", "10.0.0.8", 5)], lan, &settings).is_err());
        assert!(check_records(&[record("a.txt", "127.0.0.1", 5)], lan, &settings).is_err());
        assert!(check_records(&[record("a.txt", "10.0.0.5", 5)], loopback, &settings).is_ok());
        assert!(check_records(&[record("a.txt", "10.0.0.9", 5)], loopback, &settings).is_err());
    }
}
