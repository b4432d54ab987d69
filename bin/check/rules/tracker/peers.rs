//! The simulated peers: a greeting that works with this tracker, joins
//! that are accepted, and a goodbye on the way out.
//!
//! Only `hello-hi` judges the greeting, and only `join` the records line.
//! Every other rule needs them just to get to its own thing, so here they
//! are done the way that works with this tracker: a bare `HELLO` if only
//! that is answered, a HI with or without its line end, one record a join
//! if more are refused. When even that fails, the rule is not judged.

use super::{Greeting, Tracker, QUIET_PERIOD};
use crate::probe::{Probe, Reply, Transcript};
use crate::rules::Miss;
use p2p_share::wire::protocol::{FileRecord, Message};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long to wait for the line end after a greeting that came without
/// one.
const GREETING_GRACE: Duration = Duration::from_millis(20);

/// How long a join is watched for a refusal (the tracker closes at once)
/// before it counts as accepted. A refusal over loopback or a lab network
/// comes within a millisecond or two; a refusal that comes later is still
/// seen, as a close, by the first request of the session.
const REFUSAL_WAIT: Duration = Duration::from_millis(30);

/// What a rule that needs a HI says when no HI came at all.
pub const NEEDS_HI: &str = "needs a HI to HELLO (see hello-hi)";

/// What `hello-first` and `silent-before-join` need: a HI to a whole
/// `HELLO\n` line. A tracker that closes every connection would pass them.
pub const NEEDS_HI_LINE: &str = "needs a HI to \"HELLO\\n\" (see hello-hi)";

/// What a rule that needs an accepted join says when none was.
pub const NEEDS_JOIN: &str = "needs an accepted join (see join)";

/// A port on this machine that accepts connections and closes them at once:
/// where a simulated peer says it serves downloads. Closed when dropped.
pub struct ServedPort {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl ServedPort {
    /// Listens on the address `probe`'s connection comes from, on a port
    /// the system picks.
    pub fn open(probe: &Probe) -> Result<ServedPort, String> {
        let ip = probe.local_addr()?.ip();
        let listener = TcpListener::bind((ip, 0))
            .map_err(|e| format!("the checker cannot listen on {ip}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the checker cannot read its listening address: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            for connection in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                // Accepting is the sign of life; the connection closes here.
                drop(connection);
            }
        });
        Ok(ServedPort { addr, stop })
    }
}

impl Drop for ServedPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the thread blocked in `accept`, so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A simulated peer that has sent its records: its connection, the port
/// it announced, and its records. It says BYE when dropped, unless the
/// rule left or crashed on purpose.
pub struct Joined {
    pub probe: Probe,
    /// Kept open for as long as the peer lives (`None`: another peer's).
    _port: Option<ServedPort>,
    pub records: Vec<FileRecord>,
    /// How many SEARCHes this session answered.
    pub answered: u32,
    /// How often the peer joined again because FT had closed its session.
    pub rejoins: u32,
    leaves: bool,
}

impl Joined {
    /// Closes the connection without BYE, as a crashed peer does.
    pub fn crash(mut self) {
        self.leaves = false;
        self.probe.close();
    }

    /// The rule sent BYE itself.
    pub fn left(&mut self) {
        self.leaves = false;
    }

    /// Joins again on a new connection, with the same records: after FT
    /// closed the session on its own, so that the rule can go on.
    pub fn again(&mut self, tracker: &Tracker) -> Result<(), Miss> {
        let name = self.probe.name().to_string();
        let mut probe = connect(tracker, self.probe.transcript(), &name)?;
        send_records(tracker, &mut probe, &self.records)?;
        self.probe = probe;
        self.answered = 0;
        self.rejoins += 1;
        Ok(())
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        if self.leaves {
            self.probe.send_quietly(b"BYE\n");
        }
    }
}

pub fn connect(tracker: &Tracker, t: &Transcript, name: &str) -> Result<Probe, String> {
    Probe::connect(tracker.addr, name, tracker.limit, t)
}

/// A record of this run for a file called `what`, announced at `port`.
pub fn record(tracker: &Tracker, port: &ServedPort, what: &str) -> FileRecord {
    named_record(tracker, port, &tracker.unique_name(what))
}

/// A record for the file `name`, announced at `port`.
pub fn named_record(tracker: &Tracker, port: &ServedPort, name: &str) -> FileRecord {
    FileRecord {
        name: name.to_string(),
        file_type: p2p_share::wire::protocol::type_of(name),
        // Sizes differ from record to record, so a mixed-up record shows.
        size: 1000 + u64::from(tracker.names.get()),
        modified: tracker.today,
        ip: port.addr.ip(),
        port: port.addr.port(),
    }
}

/// Finds out how the tracker answers a greeting: `HELLO\n` on the first
/// connection, then, when no HI came, a bare `HELLO` on the second.
/// Remembered for the rules after.
pub fn probe_greeting(tracker: &Tracker, t: &Transcript, names: [&str; 2]) -> Greeting {
    let greeting = try_greeting(tracker, t, names[0], b"HELLO\n")
        .map(|ended| Greeting::Line { ended })
        .or_else(|| {
            try_greeting(tracker, t, names[1], b"HELLO").map(|ended| Greeting::Bare { ended })
        })
        .unwrap_or(Greeting::Unanswered);
    tracker.greeting.set(Some(greeting));
    greeting
}

/// How the tracker answers a greeting: as found out before, or now.
pub fn greeting(tracker: &Tracker, t: &Transcript) -> Greeting {
    match tracker.greeting.get() {
        Some(greeting) => greeting,
        None => probe_greeting(tracker, t, ["G", "G2"]),
    }
}

/// Sends `hello` on a new connection: `Some(true)` when `HI\n` came,
/// `Some(false)` when `HI` came without its line end, `None` without a HI.
fn try_greeting(tracker: &Tracker, t: &Transcript, name: &str, hello: &[u8]) -> Option<bool> {
    let mut probe = connect(tracker, t, name).ok()?;
    probe.send(hello).ok()?;
    read_hi(&mut probe)
}

/// Reads a HI: `Some(ended)`, or `None` when something else came.
pub fn read_hi(probe: &mut Probe) -> Option<bool> {
    match probe.read_word("HI", GREETING_GRACE) {
        Reply::Line(line) if line == "HI" => Some(true),
        Reply::Unfinished(bytes, _) if bytes == b"HI" => Some(false),
        _ => None,
    }
}

/// Greets the tracker the way it answers, and reads its HI.
pub fn greet(tracker: &Tracker, probe: &mut Probe) -> Result<(), Miss> {
    let hello: &[u8] = match greeting(tracker, probe.transcript()) {
        Greeting::Line { .. } => b"HELLO\n",
        Greeting::Bare { .. } => b"HELLO",
        Greeting::Unanswered => return Err(Miss::NotJudged(NEEDS_HI.into())),
    };
    probe.send(hello)?;
    match read_hi(probe) {
        Some(_) => Ok(()),
        None => Err(Miss::NotJudged(format!(
            "{NEEDS_HI}: no HI came to {}, though FT answered the first greetings of this run: \
             it answers new sessions no more (do sessions that ended still hold its threads?)",
            probe.name()
        ))),
    }
}

/// The greeting and the records line. Whether the join was accepted is
/// for the caller to find out.
pub fn send_records(
    tracker: &Tracker,
    probe: &mut Probe,
    records: &[FileRecord],
) -> Result<(), Miss> {
    greet(tracker, probe)?;
    Ok(probe.send_line(&Message::Records(records.to_vec()).format())?)
}

/// A new peer that has sent a records line of `count` files, accepted or
/// not (for the `join` rule, which judges that).
pub fn join_raw(
    tracker: &Tracker,
    t: &Transcript,
    name: &str,
    count: usize,
) -> Result<Joined, Miss> {
    let names: Vec<String> = (1..=count)
        .map(|i| tracker.unique_name(&format!("file{i}.txt")))
        .collect();
    let mut probe = connect(tracker, t, name)?;
    let port = ServedPort::open(&probe)?;
    let records: Vec<FileRecord> = names
        .iter()
        .map(|file| named_record(tracker, &port, file))
        .collect();
    send_records(tracker, &mut probe, &records)?;
    Ok(joined_peer(probe, Some(port), records))
}

/// A peer with these records on this connection, which leaves with BYE.
pub fn joined_peer(probe: Probe, port: Option<ServedPort>, records: Vec<FileRecord>) -> Joined {
    Joined {
        probe,
        _port: port,
        records,
        answered: 0,
        rejoins: 0,
        leaves: true,
    }
}

/// A new peer, joined with `count` files (see [`joined_with`]).
pub fn joined(tracker: &Tracker, t: &Transcript, name: &str, count: usize) -> Result<Joined, Miss> {
    let names: Vec<String> = (1..=count)
        .map(|i| tracker.unique_name(&format!("file{i}.txt")))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    joined_with(tracker, t, name, &names)
}

/// A new peer, joined with files of these names, and accepted. When FT
/// refuses several records on one line, the peer joins again with the
/// last one alone, so that the rule can judge its own thing (`join` judges
/// that fault); when FT refuses even that, the rule is not judged.
pub fn joined_with(
    tracker: &Tracker,
    t: &Transcript,
    name: &str,
    files: &[&str],
) -> Result<Joined, Miss> {
    let mut probe = connect(tracker, t, name)?;
    let port = ServedPort::open(&probe)?;
    let mut records: Vec<FileRecord> = files
        .iter()
        .map(|file| named_record(tracker, &port, file))
        .collect();
    send_records(tracker, &mut probe, &records)?;
    // Several records: a refusal must be seen here, where the rule can
    // still go on with one; so, unless such a join was accepted before, it
    // is given the time `join` gives it.
    let wait = match records.len() > 1 && !tracker.accepted_several.get() {
        true => QUIET_PERIOD,
        false => REFUSAL_WAIT,
    };
    if records.len() > 1 && probe.closes_within(wait) {
        t.note(format!(
            "FT closed {name}'s connection after a records line of {} records; {name} joins again with one (see join)",
            records.len()
        ));
        records.drain(..records.len() - 1);
        probe = connect(tracker, t, name)?;
        send_records(tracker, &mut probe, &records)?;
    }
    if probe.closes_within(REFUSAL_WAIT) {
        return Err(Miss::NotJudged(format!(
            "{NEEDS_JOIN}: FT closed {name}'s connection after its records line"
        )));
    }
    tracker.accepted.set(true);
    if records.len() > 1 {
        tracker.accepted_several.set(true);
    }
    Ok(joined_peer(probe, Some(port), records))
}

/// For the rules a tracker that refuses every join would pass (the
/// refusals): a good join of one record must be accepted first. Known once
/// any join of the run was; tried on connection `J` otherwise.
pub fn needs_accepted_join(tracker: &Tracker, t: &Transcript) -> Result<(), Miss> {
    if tracker.accepted.get() {
        return Ok(());
    }
    match joined(tracker, t, "J", 1) {
        Ok(_) => Ok(()),
        Err(Miss::NotJudged(why)) if why.starts_with(NEEDS_JOIN) => Err(Miss::NotJudged(format!(
            "{NEEDS_JOIN}: a tracker that refuses every join would pass it"
        ))),
        Err(other) => Err(other),
    }
}
