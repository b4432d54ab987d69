//! Step 3 of the benchmark, `sessions`: thousands of fake peers joined to
//! one tracker at once, to see that the tracker holds them all, and in how
//! much memory. The fake peers stay joined for step 4, so that its
//! SEARCHes go through a full index, and the first few send them.

use super::children::ChildProcess;
use super::proc::{open_fd_count, open_file_limits, raise_open_file_limit, status_kib};
use super::{figure, quiet_log, SEARCH_CONNECTIONS, TRACKER_GOAL_SESSIONS};
use p2p_share::error::{Error, Result};
use p2p_share::open_files::{connections_that_fit, open_file_limit};
use p2p_share::wire::connection::{Connection, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use p2p_share::wire::date::Date;
use p2p_share::wire::protocol::{type_of, FileRecord, Message, MAX_RECORDS_PER_JOIN};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Every file a fake peer announces starts with this, so that the tracker's
/// `LIST` tells fake peers from the real ones.
const SESSION_FILE_PREFIX: &str = "bench-session-";

/// How long all the joins together may take before we stop opening more.
const JOIN_TIME_LIMIT: Duration = Duration::from_secs(120);

/// How long the tracker may take to show every joined session in its `LIST`.
const JOIN_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two `LIST`s while waiting for the joins to show.
const JOIN_POLL_PAUSE: Duration = Duration::from_millis(20);

/// Descriptors a process needs besides its sessions (files, listeners,
/// pipes), when raising the limit: plenty, as raising costs nothing.
const FD_HEADROOM: u64 = 1_024;

/// Descriptors this process holds besides its sessions (the pipes to its
/// children, the files it measures with, the echo connections), when the
/// limit cannot be raised and the sessions must fit under it.
const OWN_FILES_BESIDES_SESSIONS: u64 = 64;

/// Tracker connections that are not fake peers: the serving peers' own
/// sessions, and a few to spare.
const TRACKER_OTHER_CONNECTIONS: usize = 16;

/// The fake peers joined to the tracker.
pub(super) struct Sessions {
    /// The first few sessions, wrapped as connections: they send the SEARCHes.
    pub(super) searchers: Vec<TcpStream>,
    /// Every other session, as a bare socket that just stays open.
    pub(super) streams: Vec<TcpStream>,
    /// The tracker's memory with all of them joined.
    pub(super) tracker: TrackerMemory,
}

/// The tracker's memory, and how many sessions it held.
pub(super) struct TrackerMemory {
    pub(super) wanted: usize,
    pub(super) joined: usize,
    /// Resident with every session joined, and before the first (MiB).
    pub(super) joined_mib: f64,
    pub(super) idle_mib: f64,
}

impl TrackerMemory {
    /// What [`TRACKER_GOAL_SESSIONS`] sessions would take, at the memory
    /// each session took in this run.
    pub(super) fn at_goal_mib(&self) -> f64 {
        let per_session = (self.joined_mib - self.idle_mib) / self.joined.max(1) as f64;
        self.idle_mib + per_session * TRACKER_GOAL_SESSIONS as f64
    }
}

/// Joins `wanted` fake peers to the tracker, one after another, and
/// measures the time it takes and the tracker's memory.
pub(super) fn join_sessions(
    tracker: &ChildProcess,
    addr: SocketAddr,
    wanted: usize,
) -> Result<Sessions> {
    let fit = sessions_that_fit(tracker.pid(), wanted)?;
    let idle_kib = status_kib(tracker.pid(), "VmRSS")?;
    let idle_fds = open_fd_count(tracker.pid())?;

    let start = Instant::now();
    let mut streams = open_sessions(addr, fit);
    let opened = streams.len();
    // The searchers are sessions like the others. They stay bare streams:
    // the search step reads their replies with the same loop as the echo
    // client's, so that only the server differs between the two.
    let rest = streams.split_off(opened.min(SEARCH_CONNECTIONS));
    let searchers = streams;
    let joined = match searchers.first() {
        Some(stream) => wait_until_joined(stream, opened)?,
        None => 0,
    };
    let elapsed = start.elapsed();
    if joined < opened {
        return Err(Error::Other(format!(
            "only {joined} of the {opened} sessions opened show in the tracker's LIST"
        )));
    }

    let tracker_memory = TrackerMemory {
        wanted,
        joined,
        joined_mib: status_kib(tracker.pid(), "VmRSS")? as f64 / 1024.0,
        idle_mib: idle_kib as f64 / 1024.0,
    };
    print_session_figures(tracker.pid(), &tracker_memory, elapsed, idle_fds)?;
    Ok(Sessions {
        searchers,
        streams: rest,
        tracker: tracker_memory,
    })
}

/// Raises this process's open-file limit to what a run of `sessions`
/// sessions needs, or says why it could not. Call it before starting the
/// tracker: each session takes a descriptor here and one in the tracker,
/// which inherits the limit, and sizes its cap to it when it starts.
pub(super) fn raise_open_file_limit_for(sessions: usize) {
    let wanted = sessions as u64 + FD_HEADROOM;
    if let Err(reason) = raise_open_file_limit(std::process::id(), wanted) {
        println!("note: could not raise the open-file limit to {wanted}: {reason}");
    }
}

/// How many of `wanted` sessions fit under the open-file limits: the
/// tracker's cap, which it lowered at start to fit its limit (by the rule of
/// [`connections_that_fit`]), and ours, with a socket per session. Says so
/// when that is fewer than `wanted`.
fn sessions_that_fit(tracker: u32, wanted: usize) -> Result<usize> {
    let (tracker_limit, _) = open_file_limits(tracker)?;
    let tracker_fit =
        connections_that_fit(tracker_limit, 1).saturating_sub(TRACKER_OTHER_CONNECTIONS);
    let own_limit = open_file_limit().unwrap_or(u64::MAX);
    let own_fit =
        usize::try_from(own_limit.saturating_sub(OWN_FILES_BESIDES_SESSIONS)).unwrap_or(usize::MAX);
    let fit = wanted.min(tracker_fit).min(own_fit);
    if fit < wanted {
        println!(
            "note: {fit} of the {wanted} sessions fit under the open-file limits \
             (the tracker's {tracker_limit}, ours {own_limit}; raise `ulimit -n` for more)"
        );
    }
    Ok(fit)
}

/// Opens up to `wanted` sessions, within [`JOIN_TIME_LIMIT`]. The first
/// that fails ends the loop: the tracker (or this process) is out of
/// something, and the run goes on with those that joined.
fn open_sessions(tracker: SocketAddr, wanted: usize) -> Vec<TcpStream> {
    let deadline = Instant::now() + JOIN_TIME_LIMIT;
    let mut streams = Vec::with_capacity(wanted);
    for number in 1..=wanted {
        if Instant::now() > deadline {
            println!("note: stopped joining after {JOIN_TIME_LIMIT:?}");
            break;
        }
        match join_fake_peer(tracker, number) {
            Ok(stream) => streams.push(stream),
            Err(error) => {
                println!(
                    "note: session {number} could not join ({error}); going on with the {} that did",
                    streams.len()
                );
                break;
            }
        }
    }
    streams
}

fn print_session_figures(
    tracker: u32,
    memory: &TrackerMemory,
    elapsed: Duration,
    idle_fds: usize,
) -> Result<()> {
    let joined = memory.joined;
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    figure("sessions", joined, "joined");
    figure("sessions_join_time", format!("{seconds:.2}"), "s");
    let rate = joined as f64 / seconds;
    figure("sessions_join_rate", format!("{rate:.0}"), "joins/s");
    let rss = memory.joined_mib;
    figure("sessions_tracker_rss", format!("{rss:.1}"), "MiB");
    let hwm = status_kib(tracker, "VmHWM")? as f64 / 1024.0;
    figure("sessions_tracker_hwm", format!("{hwm:.1}"), "MiB");
    let kib = (rss - memory.idle_mib) * 1024.0 / joined.max(1) as f64;
    figure("sessions_tracker_per_session", format!("{kib:.1}"), "KiB");
    let fds = open_fd_count(tracker)?.saturating_sub(idle_fds) as f64 / joined.max(1) as f64;
    figure("sessions_tracker_fds", format!("{fds:.1}"), "fds/session");
    Ok(())
}

/// One fake peer: HELLO, HI, then its five records, as a real peer joins.
/// A bare socket and not a [`Connection`]: the fake peer only writes its
/// join and then holds the socket, and ten thousand of them need no
/// buffers of their own.
fn join_fake_peer(tracker: SocketAddr, number: usize) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&tracker, CONNECT_TIMEOUT)
        .map_err(|e| Error::io(format!("connecting to the tracker at {tracker}"), e))?;
    let setup = |stream: &TcpStream| {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))
    };
    setup(&stream).map_err(|e| Error::io("setting up a session socket", e))?;
    send_line(&stream, &Message::Hello)?;
    // The tracker sends nothing after HI until we ask, so this reader
    // cannot swallow anything we need later.
    let mut reply = Vec::new();
    BufReader::new(&stream)
        .read_until(b'\n', &mut reply)
        .map_err(|e| Error::io("waiting for HI", e))?;
    if reply.is_empty() {
        return Err(Error::Closed);
    }
    match Message::parse_bytes(&reply)? {
        Message::Hi => {}
        other => {
            return Err(Error::Unexpected {
                expected: "HI",
                got: other.format(),
            })
        }
    }
    send_line(&stream, &Message::Records(session_records(number)?))?;
    Ok(stream)
}

/// Sends one message as one line, in one write.
fn send_line(mut stream: &TcpStream, message: &Message) -> Result<()> {
    let line = format!("{}\n", message.format());
    stream
        .write_all(line.as_bytes())
        .map_err(|e| Error::io(format!("sending {}", message.keyword()), e))
}

/// The records of fake peer `number`: five files, served (in theory) at
/// 127.0.0.1 and a port of its own, so that no peer replaces another.
fn session_records(number: usize) -> Result<Vec<FileRecord>> {
    let port = u16::try_from(number)
        .ok()
        .filter(|&port| port >= 1)
        .ok_or_else(|| Error::Other(format!("fake peer {number} has no port number")))?;
    let today = Date::from_system_time(SystemTime::now());
    let records = (0..MAX_RECORDS_PER_JOIN)
        .map(|index| {
            let name = session_file_name(number, index);
            FileRecord {
                file_type: type_of(&name),
                name,
                size: 1_000 + index as u64,
                modified: today,
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
            }
        })
        .collect();
    Ok(records)
}

pub(super) fn session_file_name(number: usize, index: usize) -> String {
    format!("{SESSION_FILE_PREFIX}{number}-{index}.dat")
}

/// Asks for the tracker's `LIST` until `wanted` fake peers show in it (each
/// session's records are taken in by that session's thread, so the last
/// joins may still be on their way), or the time is up.
fn wait_until_joined(stream: &TcpStream, wanted: usize) -> Result<usize> {
    // A `Connection` on a second handle of the stream gives the LISTs the
    // protocol's framing; it reads nothing beyond each reply.
    let stream = stream
        .try_clone()
        .map_err(|e| Error::io("opening a second handle of a session", e))?;
    let mut connection = Connection::connected(stream, &quiet_log())?;
    let deadline = Instant::now() + JOIN_CONFIRM_TIMEOUT;
    loop {
        let joined = count_joined(&mut connection)?;
        if joined >= wanted || Instant::now() > deadline {
            return Ok(joined);
        }
        thread::sleep(JOIN_POLL_PAUSE);
    }
}

/// How many fake peers the tracker's `LIST` shows.
fn count_joined(connection: &mut Connection) -> Result<usize> {
    match connection.request(&Message::List)? {
        Message::Files(records) => Ok(records
            .iter()
            .filter(|record| record.name.starts_with(SESSION_FILE_PREFIX))
            .map(|record| record.port)
            .collect::<HashSet<u16>>()
            .len()),
        other => Err(Error::Unexpected {
            expected: "FILES:",
            got: other.format(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::session_records;
    use p2p_share::wire::connection::MAX_REQUEST_LINE;
    use p2p_share::wire::protocol::Message;

    #[test]
    fn session_records_are_a_valid_join() {
        let records = session_records(65_535).unwrap();
        let line = Message::Records(records.clone()).format();
        assert!(line.len() < MAX_REQUEST_LINE);
        assert_eq!(Message::parse(&line).unwrap(), Message::Records(records));
        assert!(session_records(0).is_err());
        assert!(session_records(65_536).is_err());
    }
}
