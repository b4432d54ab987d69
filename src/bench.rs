//! The benchmark: how fast the real tracker and peer code is, measured in
//! the same run beside what the machine itself can do (issue 5).
//!
//! `cargo run --release --bin bench -- [--size MIB] [--peers N] [--sessions N] [--quick]`
//!
//! Every figure is printed as one line, `name: value unit`, and the last
//! line is a summary that names each ratio and its goal:
//! 1. `transfer`: a raw `std::io::copy` over loopback, and one whole-file
//!    DOWNLOAD through the real peer server and client code, both to disk
//!    (each the best of three rounds);
//! 2. `fetch`: the same file from several peers at once (ranged DOWNLOADs);
//! 3. `sessions`: thousands of fake peers joined to one tracker at once,
//!    and the tracker's resident memory;
//! 4. `search`: SEARCH round trips beside a bare one-line echo;
//! 5. `memory`: the peak memory of a peer serving, and of one downloading.
//!
//! The tracker and the peers run as separate processes: copies of this very
//! program started in a hidden mode (`--as-tracker`, `--as-peer`,
//! `--as-downloader`), each running the library code the real binaries run.
//! Separate processes let us read each one's memory from `/proc/PID/status`
//! (so the benchmark needs Linux), give each its own open-file limit, and
//! keep their log lines out of the figures.
//!
//! Everything happens on free loopback ports, in a temporary folder that is
//! removed at the end, also when a step fails.

use crate::cli::Args;
use crate::connection::{
    Connection, CONNECT_TIMEOUT, IO_BUFFER_SIZE, REQUEST_TIMEOUT, STALL_TIMEOUT,
};
use crate::date::Date;
use crate::error::{Error, Result};
use crate::fetch;
use crate::log::Log;
use crate::peer::{Peer, PeerConfig};
use crate::peer_client;
use crate::peer_server::PEER_MAX_CONNECTIONS;
use crate::protocol::{type_of, FileRecord, FileSpec, Message, MAX_RECORDS_PER_JOIN};
use crate::server::listen;
use crate::settings::{Settings, TRACKER_ID};
use crate::shared_folder::SharedFolder;
use crate::tracker::{Tracker, TRACKER_MAX_CONNECTIONS};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle, ScopedJoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// What is measured, and the goals of issue 5
// ---------------------------------------------------------------------------

/// The size of the generated file in a full run, in MiB.
pub const DEFAULT_SIZE_MIB: u64 = 1024;
/// How many peers serve the file to `fetch`.
pub const DEFAULT_PEERS: u64 = 3;
/// How many fake peers join the tracker at once in a full run.
pub const DEFAULT_SESSIONS: u64 = 10_000;
/// How many SEARCH round trips (and as many echo round trips) a full run makes.
pub const DEFAULT_SEARCHES: usize = 100_000;

/// `--quick`: the same steps, small enough to run in seconds in a debug
/// build (the `cargo test` of the benchmark uses it).
pub const QUICK_SIZE_MIB: u64 = 8;
pub const QUICK_SESSIONS: u64 = 300;
pub const QUICK_SEARCHES: usize = 2_000;

/// The round trips are spread over this many connections, one thread each.
pub const SEARCH_CONNECTIONS: usize = 8;

/// The one-connection search makes this fraction (1/4) of the round trips:
/// one at a time, they take longer.
const ONE_CONNECTION_SHARE: usize = 4;

/// Goal: one DOWNLOAD moves at least this share of the raw baseline.
pub const TRANSFER_GOAL: f64 = 0.5;
/// Goal: a fetch from several peers moves at least this share of the raw baseline.
pub const FETCH_GOAL: f64 = 0.8;
/// Goal: the SEARCH p50 is at most this many times the echo p50.
pub const SEARCH_GOAL: f64 = 1.5;
/// Goal: the tracker holds this many sessions ...
pub const TRACKER_GOAL_SESSIONS: usize = 10_000;
/// ... in less than this much resident memory (MiB).
pub const TRACKER_GOAL_MIB: f64 = 256.0;
/// Goal: a peer serving or downloading the file peaks below this (MiB).
pub const PEER_GOAL_MIB: f64 = 16.0;

/// The options the benchmark takes (for `cli::parse`).
pub const OPTIONS: [&str; 4] = ["--size", "--peers", "--sessions", "--quick"];

/// The benchmark's usage text.
pub const USAGE: &str = "\
usage: bench [--size MIB] [--peers N] [--sessions N] [--quick]

  --size MIB       the size of the file to transfer (default: 1024)
  --peers N        how many peers serve the file to `fetch` (default: 3)
  --sessions N     how many peers join the tracker at once, at most 65535
                   (default: 10000)
  --quick          all of it small (8 MiB, 300 sessions, 2000 searches)

Build it with --release for real figures. Linux only (it reads /proc).
";

// ---------------------------------------------------------------------------
// Names and limits of the benchmark itself
// ---------------------------------------------------------------------------

/// Each transfer is measured this many times and the best time counts: the
/// rest of the machine (the disk writing back the previous round, other
/// programs) can only ever slow a round down.
const TRANSFER_ROUNDS: usize = 3;

/// The generated file. A whole number of MiB is rarely a whole number of
/// 100-byte chunks (1 GiB is not), so its last chunk is a short one, as in
/// real files.
const FILE_NAME: &str = "bench-file.bin";

/// The file is generated (and compared) in pieces of this size, so that a
/// 1 GiB file is never held in memory.
const PIECE_SIZE: usize = 64 * 1024;

const MIB: u64 = 1024 * 1024;

/// The generated bytes come from this seed: any fixed value will do, the
/// bytes only need to be different from each other so that a misplaced
/// chunk shows up in the comparison.
const FILE_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// Every file a fake peer announces starts with this, so that the tracker's
/// `LIST` tells fake peers from the real ones.
const SESSION_FILE_PREFIX: &str = "bench-session-";

/// SEARCHes go to the fake peers in this stride (a prime), so that they
/// spread over the whole index instead of asking for the same names.
const SEARCH_STRIDE: usize = 7_919;

/// How long all the joins together may take before we stop opening more.
const JOIN_TIME_LIMIT: Duration = Duration::from_secs(120);

/// How long the tracker may take to show every joined session in its `LIST`.
const JOIN_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two `LIST`s while waiting for the joins to show.
const JOIN_POLL_PAUSE: Duration = Duration::from_millis(20);

/// The tracker keeps one descriptor per session (the figure
/// `sessions_tracker_fds` shows it).
const TRACKER_FDS_PER_SESSION: u64 = 1;

/// Descriptors a process needs besides its sessions (files, listeners, pipes).
const FD_HEADROOM: u64 = 1_024;

/// A child process writes the lines meant for the benchmark to its
/// standard error, starting with this; its other lines there (an error)
/// are passed on to ours. Its standard output, its log, goes to a file.
const REPORT_PREFIX: &str = "bench-report: ";

/// How long a child process may take to start and say where it listens.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the downloading child may take for the whole file.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a child process gets to end by itself before it is killed.
const CHILD_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Pause between two looks at whether a child process has ended.
const CHILD_POLL_PAUSE: Duration = Duration::from_millis(10);

/// The hidden modes: this program started by itself as a tracker, a peer
/// or a downloader.
const AS_TRACKER: &str = "--as-tracker";
const AS_PEER: &str = "--as-peer";
const AS_DOWNLOADER: &str = "--as-downloader";
const AS_ECHO: &str = "--as-echo";

/// The id of a serving peer in the settings it builds for itself.
const PEER_ID: &str = "bench-peer";

/// Any free port on loopback.
const LOOPBACK_ANY_PORT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// The size of the generated file, in MiB.
    pub size_mib: u64,
    /// How many peers serve the file to `fetch`.
    pub peers: usize,
    /// How many fake peers join the tracker at once.
    pub sessions: usize,
    /// How many SEARCH round trips, and as many echo round trips.
    pub searches: usize,
}

impl Options {
    /// The options from the command line; `--quick` changes the defaults,
    /// and an explicit option still wins over it.
    pub fn from_args(args: &Args) -> Result<Options> {
        let (size, sessions, searches) = if args.quick {
            (QUICK_SIZE_MIB, QUICK_SESSIONS, QUICK_SEARCHES)
        } else {
            (DEFAULT_SIZE_MIB, DEFAULT_SESSIONS, DEFAULT_SEARCHES)
        };
        let sessions = to_usize("--sessions", args.number("--sessions", sessions))?;
        // Each fake peer announces a port of its own, 1 to 65535.
        if sessions > usize::from(u16::MAX) {
            return Err(Error::Usage(format!(
                "--sessions is at most {} (one port number per peer)",
                u16::MAX
            )));
        }
        Ok(Options {
            size_mib: args.number("--size", size),
            peers: to_usize("--peers", args.number("--peers", DEFAULT_PEERS))?,
            sessions,
            searches,
        })
    }
}

fn to_usize(option: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| Error::Usage(format!("{option} {n} is too large")))
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// Runs every measurement and prints the figures and the summary.
pub fn run(options: &Options) -> Result<()> {
    // Declared first, so it is dropped last: the child processes (declared
    // below) are gone before their folders are removed.
    let workspace = Workspace::create()?;
    println!(
        "note: {} MiB file, {} serving peer(s), {} sessions, {} searches, in {}",
        options.size_mib,
        options.peers,
        options.sessions,
        options.searches,
        workspace.root.display()
    );
    let first_dir = workspace.new_folder("peer1")?;
    let source = first_dir.join(FILE_NAME);
    let size = generate_file(&source, options.size_mib)?;

    let tracker_log = workspace.root.join("tracker.log");
    let tracker = ChildProcess::spawn("tracker", vec![AS_TRACKER.into()], &tracker_log)?;
    let tracker_addr = tracker.address()?;
    let peers = start_peers(&workspace, first_dir, &source, tracker_addr, options.peers)?;
    let peer_addrs: Vec<SocketAddr> = peers.iter().map(|(_, addr)| *addr).collect();
    let (first_peer, first_addr) = peers
        .first()
        .ok_or_else(|| Error::Usage("--peers must be at least 1".into()))?;
    let (client, _) = SharedFolder::open(&workspace.new_folder("client")?)?;

    let transfer = measure_transfer(&workspace, &source, size, &client, *first_addr)?;
    let fetch = measure_fetch(&source, size, &client, &peer_addrs, transfer.raw)?;
    let mut sessions = join_sessions(&tracker, tracker_addr, options.sessions)?;
    let joined = sessions.tracker.joined;
    let search = measure_search(
        &workspace,
        &mut sessions.searchers,
        options.searches,
        joined,
    )?;
    // Every session ends here, as a peer that leaves: the tracker sees each
    // connection close.
    drop(sessions.streams);
    drop(sessions.searchers);
    let memory = measure_memory(&workspace, &source, size, first_peer, *first_addr)?;

    let summary = Summary {
        transfer: transfer.peer / transfer.raw,
        fetch,
        search,
        tracker: sessions.tracker,
        memory,
    };
    println!("summary: {summary}");
    Ok(())
}

/// Prints one figure line: `name: value unit`.
fn figure(name: &str, value: impl Display, unit: &str) {
    println!("{name}: {value} {unit}");
}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

// ---------------------------------------------------------------------------
// 1. transfer
// ---------------------------------------------------------------------------

/// Both transfer speeds, in MiB/s.
struct TransferFigures {
    raw: f64,
    peer: f64,
}

/// The raw copy and the DOWNLOAD take turns, [`TRANSFER_ROUNDS`] times
/// each, so that anything else going on slows both alike; the best round
/// of each counts.
fn measure_transfer(
    workspace: &Workspace,
    source: &Path,
    size: u64,
    client: &SharedFolder,
    peer: SocketAddr,
) -> Result<TransferFigures> {
    let raw_target = workspace.root.join("raw-copy");
    let file = FileSpec {
        name: FILE_NAME.to_string(),
        kind: type_of(FILE_NAME),
        size,
    };
    let (mut raw, mut download) = (Duration::MAX, Duration::MAX);
    for _ in 0..TRANSFER_ROUNDS {
        raw = raw.min(raw_copy(source, &raw_target, size)?);
        remove(&raw_target)?;

        let start = Instant::now();
        let path =
            peer_client::download_into_folder(client, peer, &file, &quiet_log(), &mut |_| {})?;
        download = download.min(start.elapsed());
        check_same(source, &path)?;
        remove(&path)?;
    }
    let (raw, speed) = (mib_per_s(size, raw), mib_per_s(size, download));
    figure("transfer_raw", format!("{raw:.1}"), "MiB/s");
    figure("transfer", format!("{speed:.1}"), "MiB/s");
    figure("transfer_vs_raw", format!("{:.2}", speed / raw), "x");
    Ok(TransferFigures { raw, peer: speed })
}

/// The baseline: the file copied over a plain loopback socket from this
/// thread to another, which writes it to disk. No protocol, no chunks:
/// `std::io::copy` at both ends, which is as fast as std moves a file.
fn raw_copy(source: &Path, target: &Path, size: u64) -> Result<Duration> {
    let listener = bind_loopback()?;
    let addr = local_addr(&listener)?;
    let start = Instant::now();
    // Connect before the receiving thread exists: the connection waits in
    // the listen queue, so that if connecting fails, no thread waits for
    // a connection that never comes.
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| Error::io("connecting for the raw copy", e))?;
    let received = thread::scope(|scope| {
        let receiver = scope.spawn(|| receive_raw(&listener, target));
        let sent = send_raw(stream, source);
        let received = joined(receiver.join());
        sent.and(received)
    })?;
    let elapsed = start.elapsed();
    if received != size {
        return Err(Error::Other(format!(
            "the raw copy received {received} of {size} bytes"
        )));
    }
    Ok(elapsed)
}

fn send_raw(mut stream: TcpStream, source: &Path) -> Result<u64> {
    let mut file = open(source)?;
    // Dropping `stream` at the end closes it: the receiver sees end-of-file.
    io::copy(&mut file, &mut stream).map_err(|e| Error::io("sending the raw copy", e))
}

fn receive_raw(listener: &TcpListener, target: &Path) -> Result<u64> {
    let (mut stream, _) = listener
        .accept()
        .map_err(|e| Error::io("accepting the raw copy", e))?;
    let writing = |e| Error::io(format!("writing {}", target.display()), e);
    // Through a buffer of the size the peer code uses: `io::copy` then reads
    // the socket straight into it, in pieces that size instead of its own
    // 8 KiB, so the baseline is not handicapped against the peer code.
    let mut file = BufWriter::with_capacity(IO_BUFFER_SIZE, File::create(target).map_err(writing)?);
    let received = io::copy(&mut stream, &mut file).map_err(writing)?;
    file.flush().map_err(writing)?;
    Ok(received)
}

// ---------------------------------------------------------------------------
// 2. fetch
// ---------------------------------------------------------------------------

/// Fetches the file from every peer at once, the best of
/// [`TRANSFER_ROUNDS`]; returns the ratio to `raw`.
fn measure_fetch(
    source: &Path,
    size: u64,
    client: &SharedFolder,
    peers: &[SocketAddr],
    raw: f64,
) -> Result<f64> {
    let mut best = Duration::MAX;
    for _ in 0..TRANSFER_ROUNDS {
        let start = Instant::now();
        let report = fetch::fetch(client, FILE_NAME, peers, &quiet_log())?;
        best = best.min(start.elapsed());
        for (peer, reason) in &report.failures {
            println!("note: fetch: {peer} failed: {reason}");
        }
        check_same(source, &report.path)?;
        remove(&report.path)?;
    }
    let speed = mib_per_s(size, best);
    figure("fetch", format!("{speed:.1}"), "MiB/s");
    figure("fetch_vs_raw", format!("{:.2}", speed / raw), "x");
    Ok(speed / raw)
}

// ---------------------------------------------------------------------------
// 3. sessions
// ---------------------------------------------------------------------------

/// The fake peers joined to the tracker.
struct Sessions {
    /// The first few sessions, wrapped as connections: they send the SEARCHes.
    searchers: Vec<Connection>,
    /// Every other session, as a bare socket that just stays open.
    streams: Vec<TcpStream>,
    /// The tracker's memory with all of them joined.
    tracker: TrackerMemory,
}

/// Joins `wanted` fake peers to the tracker, one after another, and
/// measures the time it takes and the tracker's memory.
fn join_sessions(tracker: &ChildProcess, addr: SocketAddr, wanted: usize) -> Result<Sessions> {
    raise_limits(tracker.pid(), wanted);
    let idle_kib = status_kib(tracker.pid(), "VmRSS")?;
    let idle_fds = open_fd_count(tracker.pid())?;

    let start = Instant::now();
    let mut streams = open_sessions(addr, wanted);
    let opened = streams.len();
    // The searchers are sessions like the others; wrapping them in a
    // `Connection` gives them the protocol's framing for their requests.
    let log = quiet_log();
    let rest = streams.split_off(opened.min(SEARCH_CONNECTIONS));
    let mut searchers = streams
        .into_iter()
        .map(|stream| Connection::new(stream, &log))
        .collect::<Result<Vec<_>>>()?;
    let joined = match searchers.first_mut() {
        Some(connection) => wait_until_joined(connection, opened)?,
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

/// Raises the open-file limits a run of `sessions` sessions needs, or says
/// why it could not: each session takes a descriptor here and one in the
/// tracker.
fn raise_limits(tracker: u32, sessions: usize) {
    let tracker_fds = TRACKER_FDS_PER_SESSION * sessions as u64 + FD_HEADROOM;
    if let Err(reason) = raise_open_file_limit(tracker, tracker_fds) {
        println!("note: could not raise the tracker's open-file limit to {tracker_fds}: {reason}");
    }
    let own_fds = sessions as u64 + FD_HEADROOM;
    if let Err(reason) = raise_open_file_limit(std::process::id(), own_fds) {
        println!("note: could not raise the benchmark's open-file limit to {own_fds}: {reason}");
    }
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
/// A bare socket and not a [`Connection`]: a connection keeps two
/// descriptors (one to read, one to write), and ten thousand sessions must
/// fit under this process's open-file limit.
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
                kind: type_of(&name),
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

fn session_file_name(number: usize, index: usize) -> String {
    format!("{SESSION_FILE_PREFIX}{number}-{index}.dat")
}

/// Asks for the tracker's `LIST` until `wanted` fake peers show in it (each
/// session's records are taken in by that session's thread, so the last
/// joins may still be on their way), or the time is up.
fn wait_until_joined(connection: &mut Connection, wanted: usize) -> Result<usize> {
    let deadline = Instant::now() + JOIN_CONFIRM_TIMEOUT;
    loop {
        let joined = count_joined(connection)?;
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

/// Lets process `pid` open `wanted` files. std has no call for it, so we
/// ask the `prlimit` tool (util-linux); raising the hard limit needs root.
fn raise_open_file_limit(pid: u32, wanted: u64) -> std::result::Result<(), String> {
    let path = format!("/proc/{pid}/limits");
    let limits = fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let (soft, hard) =
        parse_open_file_limit(&limits).ok_or_else(|| format!("no open-file limit in {path}"))?;
    if soft >= wanted {
        return Ok(());
    }
    let output = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={wanted}:{}", hard.max(wanted)))
        .output()
        .map_err(|e| format!("running prlimit: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "prlimit: {} (the limit stays at {soft})",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The soft and hard open-file limits from the text of `/proc/PID/limits`.
fn parse_open_file_limit(limits: &str) -> Option<(u64, u64)> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..]
        .split_whitespace()
        .map(|value| match value {
            "unlimited" => Some(u64::MAX),
            number => number.parse().ok(),
        });
    Some((values.next()??, values.next()??))
}

// ---------------------------------------------------------------------------
// 4. search
// ---------------------------------------------------------------------------

/// SEARCH round trips over the searchers, then echo round trips as the
/// baseline; returns the ratios of their p50s. The same is then measured
/// over one connection: with eight connections on a small machine, both
/// sides queue for the CPU and the ratio compares the CPU each round trip
/// costs; with one, it compares the time a single round trip takes.
fn measure_search(
    workspace: &Workspace,
    searchers: &mut [Connection],
    searches: usize,
    joined: usize,
) -> Result<SearchRatios> {
    if searchers.is_empty() {
        return Err(Error::Other(
            "no session joined, so nothing can search".into(),
        ));
    }
    let line = Message::Search(session_file_name(1, 0)).format();
    let echo_log = workspace.root.join("echo.log");
    let echo_server = ChildProcess::spawn("echo", vec![AS_ECHO.into()], &echo_log)?;
    let echo_addr = echo_server.address()?;

    let search = search_round_trips(searchers, searches, joined)?;
    let echo = echo_round_trips(echo_addr, searchers.len(), searches, &line)?;
    let eight_connections = print_latencies("", &search, &echo);

    let one_connection = searches / ONE_CONNECTION_SHARE;
    let search = search_round_trips(&mut searchers[..1], one_connection, joined)?;
    let echo = echo_round_trips(echo_addr, 1, one_connection, &line)?;
    let one_connection = print_latencies("_1conn", &search, &echo);
    Ok(SearchRatios {
        eight_connections,
        one_connection,
    })
}

/// Prints p50 and p99 of both, and the ratio of the p50s; returns it.
fn print_latencies(suffix: &str, search: &[Duration], echo: &[Duration]) -> f64 {
    let (search_p50, echo_p50) = (percentile(search, 50), percentile(echo, 50));
    figure(&format!("search{suffix}_p50"), micros(search_p50), "µs");
    figure(
        &format!("search{suffix}_p99"),
        micros(percentile(search, 99)),
        "µs",
    );
    figure(&format!("echo{suffix}_p50"), micros(echo_p50), "µs");
    figure(
        &format!("echo{suffix}_p99"),
        micros(percentile(echo, 99)),
        "µs",
    );
    let ratio = search_p50.as_secs_f64() / echo_p50.as_secs_f64().max(f64::MIN_POSITIVE);
    figure(
        &format!("search{suffix}_vs_echo"),
        format!("{ratio:.2}"),
        "x",
    );
    ratio
}

/// Each searcher, in a thread of its own, sends its share of the SEARCHes
/// for files the fake peers announced. Returns every round trip's time,
/// sorted.
fn search_round_trips(
    searchers: &mut [Connection],
    searches: usize,
    joined: usize,
) -> Result<Vec<Duration>> {
    let count = searchers.len();
    thread::scope(|scope| {
        let workers = searchers
            .iter_mut()
            .enumerate()
            .map(|(index, connection)| {
                let share = share_of(searches, count, index);
                scope.spawn(move || search_many(connection, index * share, share, joined))
            })
            .collect();
        collect_latencies(workers)
    })
}

/// `count` SEARCHes, numbered from `first`: each asks for one file of one
/// fake peer, so each is answered with a one-holder FOUND.
fn search_many(
    connection: &mut Connection,
    first: usize,
    count: usize,
    joined: usize,
) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(count);
    for number in first..first + count {
        let peer = 1 + number.wrapping_mul(SEARCH_STRIDE) % joined;
        let request = Message::Search(session_file_name(peer, number % MAX_RECORDS_PER_JOIN));
        let start = Instant::now();
        let reply = connection.request(&request)?;
        times.push(start.elapsed());
        if !matches!(&reply, Message::Found(holders) if holders.len() == 1) {
            return Err(Error::Unexpected {
                expected: "FOUND: with one holder",
                got: reply.format(),
            });
        }
    }
    Ok(times)
}

/// The baseline: the same number of round trips of a one-line `line` over
/// as many connections, to the bare echo server at `addr` (a thread per
/// connection, `TCP_NODELAY` on the client side, each reply in one write).
/// Returns every round trip's time, sorted.
fn echo_round_trips(
    addr: SocketAddr,
    connections: usize,
    round_trips: usize,
    line: &str,
) -> Result<Vec<Duration>> {
    let clients = (0..connections)
        .map(|_| {
            let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                .map_err(|e| Error::io("connecting to the echo server", e))?;
            nodelay(&stream)?;
            Ok(stream)
        })
        .collect::<Result<Vec<_>>>()?;
    let request = format!("{line}\n");
    thread::scope(|scope| {
        // Each client moves into its thread and is closed when the thread
        // ends, successful or not: its echo thread then sees end-of-file.
        let workers = clients
            .into_iter()
            .enumerate()
            .map(|(index, client)| {
                let share = share_of(round_trips, connections, index);
                let request = request.as_str();
                scope.spawn(move || echo_many(client, share, request))
            })
            .collect();
        collect_latencies(workers)
    })
}

/// The echo server's side of one connection: each line back as it came.
fn echo_lines(stream: TcpStream) {
    if nodelay(&stream).is_err() {
        return;
    }
    let mut reader = BufReader::new(&stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if (&stream).write_all(&line).is_err() {
            return;
        }
    }
}

/// The echo client's side: `count` round trips of `request`.
fn echo_many(stream: TcpStream, count: usize, request: &str) -> Result<Vec<Duration>> {
    stream
        .set_read_timeout(Some(STALL_TIMEOUT))
        .map_err(|e| Error::io("setting a time-out", e))?;
    let mut reader = BufReader::new(&stream);
    let mut reply = Vec::new();
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        (&stream)
            .write_all(request.as_bytes())
            .map_err(|e| Error::io("sending to the echo server", e))?;
        reply.clear();
        reader
            .read_until(b'\n', &mut reply)
            .map_err(|e| Error::io("reading the echo", e))?;
        times.push(start.elapsed());
        if reply != request.as_bytes() {
            return Err(Error::Other(
                "the echo server sent back something else".into(),
            ));
        }
    }
    Ok(times)
}

fn nodelay(stream: &TcpStream) -> Result<()> {
    stream
        .set_nodelay(true)
        .map_err(|e| Error::io("setting TCP_NODELAY", e))
}

/// How many of `total` round trips connection `index` of `parts` makes.
fn share_of(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// Waits for every worker and puts their times together, sorted.
fn collect_latencies(
    workers: Vec<ScopedJoinHandle<'_, Result<Vec<Duration>>>>,
) -> Result<Vec<Duration>> {
    let mut all = Vec::new();
    // Every worker is waited for before any error is returned.
    let results: Vec<_> = workers
        .into_iter()
        .map(|worker| joined(worker.join()))
        .collect();
    for result in results {
        all.extend(result?);
    }
    all.sort_unstable();
    Ok(all)
}

/// The time under which `percent` per cent of the `sorted` times fall
/// (the nearest-rank percentile); zero for no times at all.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn micros(time: Duration) -> String {
    format!("{:.1}", time.as_secs_f64() * 1e6)
}

// ---------------------------------------------------------------------------
// 5. memory
// ---------------------------------------------------------------------------

/// Peak memory (MiB) of a peer process serving, and of one downloading.
struct MemoryFigures {
    serving: f64,
    downloading: f64,
}

/// A downloader process fetches the whole file from the first peer; then
/// both peaks are read. The serving peer's peak covers every transfer it
/// served in this run.
fn measure_memory(
    workspace: &Workspace,
    source: &Path,
    size: u64,
    peer: &ChildProcess,
    peer_addr: SocketAddr,
) -> Result<MemoryFigures> {
    let dir = workspace.new_folder("downloader")?;
    let downloader = ChildProcess::spawn(
        "downloader",
        vec![
            AS_DOWNLOADER.into(),
            peer_addr.to_string().into(),
            FILE_NAME.into(),
            size.to_string().into(),
            dir.clone().into(),
        ],
        &workspace.root.join("downloader.log"),
    )?;
    let report = downloader.next_report(DOWNLOAD_TIMEOUT)?;
    let downloading_kib = report
        .strip_prefix("peak-kib ")
        .and_then(|kib| kib.parse::<u64>().ok())
        .ok_or_else(|| Error::Other(format!("the downloader reported {report:?}")))?;
    drop(downloader);
    let path = dir.join(FILE_NAME);
    check_same(source, &path)?;
    remove(&path)?;
    let serving = status_kib(peer.pid(), "VmHWM")? as f64 / 1024.0;
    let downloading = downloading_kib as f64 / 1024.0;
    figure("memory_peer_serving", format!("{serving:.1}"), "MiB");
    figure(
        "memory_peer_downloading",
        format!("{downloading:.1}"),
        "MiB",
    );
    Ok(MemoryFigures {
        serving,
        downloading,
    })
}

/// A `kB` figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {path} (the benchmark needs Linux)"), e))?;
    parse_status_kib(&status, field).ok_or_else(|| Error::Other(format!("no {field} in {path}")))
}

/// The value of `field` in the text of `/proc/PID/status`: `VmHWM:  1234 kB`.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// How many files (sockets included) process `pid` has open.
fn open_fd_count(pid: u32) -> Result<usize> {
    let path = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&path).map_err(|e| Error::io(format!("reading {path}"), e))?;
    Ok(entries.count())
}

// ---------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------

/// Every ratio and peak, beside its goal.
struct Summary {
    transfer: f64,
    fetch: f64,
    search: SearchRatios,
    tracker: TrackerMemory,
    memory: MemoryFigures,
}

/// SEARCH p50 over echo p50, over [`SEARCH_CONNECTIONS`] and over one.
struct SearchRatios {
    eight_connections: f64,
    one_connection: f64,
}

/// The tracker's memory, and how many sessions it held.
struct TrackerMemory {
    wanted: usize,
    joined: usize,
    /// Resident with every session joined, and before the first (MiB).
    joined_mib: f64,
    idle_mib: f64,
}

impl TrackerMemory {
    /// What [`TRACKER_GOAL_SESSIONS`] sessions would take, at the memory
    /// each session took in this run.
    fn at_goal_mib(&self) -> f64 {
        let per_session = (self.joined_mib - self.idle_mib) / self.joined.max(1) as f64;
        self.idle_mib + per_session * TRACKER_GOAL_SESSIONS as f64
    }
}

impl Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        write!(
            f,
            "transfer/raw {:.2} (goal >= {TRANSFER_GOAL}: {}); ",
            self.transfer,
            verdict(self.transfer >= TRANSFER_GOAL)
        )?;
        write!(
            f,
            "fetch/raw {:.2} (goal >= {FETCH_GOAL}: {}); ",
            self.fetch,
            verdict(self.fetch >= FETCH_GOAL)
        )?;
        write!(
            f,
            "search p50/echo p50 {:.2} (goal <= {SEARCH_GOAL}: {}; over one connection {:.2}); ",
            self.search.eight_connections,
            verdict(self.search.eight_connections <= SEARCH_GOAL),
            self.search.one_connection
        )?;
        let tracker = &self.tracker;
        write!(
            f,
            "tracker {:.1} MiB with {} sessions (goal < {TRACKER_GOAL_MIB} MiB with {TRACKER_GOAL_SESSIONS}: ",
            tracker.joined_mib, tracker.joined
        )?;
        // The goal is for ten thousand sessions: a run that asked for fewer
        // is not judged, one that asked for them and got fewer has missed.
        if tracker.joined >= TRACKER_GOAL_SESSIONS {
            write!(f, "{}); ", verdict(tracker.joined_mib < TRACKER_GOAL_MIB))?;
        } else if tracker.wanted >= TRACKER_GOAL_SESSIONS {
            write!(
                f,
                "MISSED, only {} of {} joined; {:.0} MiB at {TRACKER_GOAL_SESSIONS} by the memory per session); ",
                tracker.joined,
                tracker.wanted,
                tracker.at_goal_mib()
            )?;
        } else {
            write!(f, "not judged below {TRACKER_GOAL_SESSIONS} sessions); ")?;
        }
        let peak = self.memory.serving.max(self.memory.downloading);
        write!(
            f,
            "peer peak {:.1} MiB serving, {:.1} MiB downloading (goal < {PEER_GOAL_MIB} MiB: {})",
            self.memory.serving,
            self.memory.downloading,
            verdict(peak < PEER_GOAL_MIB)
        )
    }
}

// ---------------------------------------------------------------------------
// The temporary folder and the generated file
// ---------------------------------------------------------------------------

/// The benchmark's temporary folder. Dropping it removes it and everything
/// in it, so a failed run leaves nothing behind either.
struct Workspace {
    root: PathBuf,
}

impl Workspace {
    fn create() -> Result<Workspace> {
        // The process id and the clock make the name unique, even beside a
        // folder a killed run left behind.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or(0);
        let root =
            std::env::temp_dir().join(format!("p2p-share-bench-{}-{nanos}", std::process::id()));
        fs::create_dir(&root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        Ok(Workspace { root })
    }

    fn new_folder(&self, name: &str) -> Result<PathBuf> {
        let path = self.root.join(name);
        fs::create_dir(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(path)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Nothing more can be done if this fails; the folder is in the
        // system's temporary folder, which is cleaned in time.
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Writes `size_mib` MiB of pseudo-random bytes to `path`, one piece at a
/// time. Returns the size in bytes.
fn generate_file(path: &Path, size_mib: u64) -> Result<u64> {
    let writing = |e| Error::io(format!("writing {}", path.display()), e);
    let mut file = File::create(path).map_err(writing)?;
    let mut piece = vec![0u8; PIECE_SIZE];
    let mut state = FILE_SEED;
    for _ in 0..size_mib * (MIB / PIECE_SIZE as u64) {
        for word in piece.chunks_exact_mut(8) {
            // xorshift64: cheap, and never the same eight bytes twice in a row.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&piece).map_err(writing)?;
    }
    Ok(size_mib * MIB)
}

/// Checks that `copy` holds exactly the bytes of `original`, piece by piece.
fn check_same(original: &Path, copy: &Path) -> Result<()> {
    let (mut a, mut b) = (open(original)?, open(copy)?);
    let length = |file: &File, path: &Path| {
        file.metadata()
            .map(|meta| meta.len())
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))
    };
    let (len_a, len_b) = (length(&a, original)?, length(&b, copy)?);
    if len_a != len_b {
        return Err(Error::Other(format!(
            "{} has {len_b} bytes, not {len_a}",
            copy.display()
        )));
    }
    let (mut piece_a, mut piece_b) = (vec![0u8; PIECE_SIZE], vec![0u8; PIECE_SIZE]);
    let mut left = len_a;
    while left > 0 {
        let size = left.min(PIECE_SIZE as u64) as usize;
        a.read_exact(&mut piece_a[..size])
            .map_err(|e| Error::io(format!("reading {}", original.display()), e))?;
        b.read_exact(&mut piece_b[..size])
            .map_err(|e| Error::io(format!("reading {}", copy.display()), e))?;
        if piece_a[..size] != piece_b[..size] {
            return Err(Error::Other(format!(
                "{} differs from the original near byte {}",
                copy.display(),
                len_a - left
            )));
        }
        left -= size as u64;
    }
    Ok(())
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))
}

/// Removes a received file, so the next step can receive it again (and a
/// 1 GiB run never holds more than two copies on disk).
fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
}

fn bind_loopback() -> Result<TcpListener> {
    TcpListener::bind(LOOPBACK_ANY_PORT).map_err(|e| Error::io("binding a loopback port", e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::io("reading the listening address", e))
}

/// The client code logs nothing without `--trace`; the benchmark traces
/// nothing, so its output holds only figures.
fn quiet_log() -> Log {
    Log::new("bench", false)
}

/// A thread's result; a thread that panicked is an error like any other.
fn joined<T>(result: std::thread::Result<Result<T>>) -> Result<T> {
    result.unwrap_or_else(|_| Err(Error::Other("a benchmark thread failed".into())))
}

// ---------------------------------------------------------------------------
// The serving peers
// ---------------------------------------------------------------------------

/// Starts `count` peer processes, each serving the file from a folder of
/// its own: the first serves `source` in `first_dir`, the others hard links
/// to it (or copies, where links cannot be made).
fn start_peers(
    workspace: &Workspace,
    first_dir: PathBuf,
    source: &Path,
    tracker: SocketAddr,
    count: usize,
) -> Result<Vec<(ChildProcess, SocketAddr)>> {
    let mut peers = Vec::with_capacity(count);
    for number in 1..=count {
        let dir = if number == 1 {
            first_dir.clone()
        } else {
            let dir = workspace.new_folder(&format!("peer{number}"))?;
            let copy = dir.join(FILE_NAME);
            if fs::hard_link(source, &copy).is_err() {
                fs::copy(source, &copy)
                    .map_err(|e| Error::io(format!("copying the file to {}", dir.display()), e))?;
            }
            dir
        };
        let args = vec![AS_PEER.into(), tracker.to_string().into(), dir.into()];
        let log = workspace.root.join(format!("peer{number}.log"));
        let peer = ChildProcess::spawn("peer", args, &log)?;
        let addr = peer.address()?;
        peers.push((peer, addr));
    }
    Ok(peers)
}

// ---------------------------------------------------------------------------
// Child processes: this program in a hidden mode
// ---------------------------------------------------------------------------

/// A copy of this program running in a hidden mode. Dropping it ends it:
/// its standard input is closed (it ends by itself), and after a short
/// wait it is killed.
struct ChildProcess {
    role: &'static str,
    child: Child,
    /// The lines it wrote after [`REPORT_PREFIX`], in order.
    reports: Receiver<String>,
    /// Reads its standard error for the reports.
    reader: Option<JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts this program with `args`, its log going to the file `log`.
    /// A file and not a pipe to us: the tracker logs every search, and a
    /// pipe would make each log line wake one of our threads, which would
    /// compete with the SEARCHes for the processor and slow them down.
    fn spawn(role: &'static str, args: Vec<OsString>, log: &Path) -> Result<ChildProcess> {
        let program = std::env::current_exe()
            .map_err(|e| Error::io("finding the benchmark's own program", e))?;
        let log =
            File::create(log).map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("starting the {role} process"), e))?;
        let stderr = child.stderr.take();
        let (sender, reports) = mpsc::channel();
        // From here on, dropping `process` ends the child.
        let mut process = ChildProcess {
            role,
            child,
            reports,
            reader: None,
        };
        let stderr = stderr.ok_or_else(|| Error::Other(format!("no output from the {role}")))?;
        let reader = thread::Builder::new()
            .name(format!("bench {role} reports"))
            .spawn(move || read_reports(stderr, &sender))
            .map_err(|e| Error::io("starting a thread", e))?;
        process.reader = Some(reader);
        Ok(process)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report line, waiting at most `timeout`.
    fn next_report(&self, timeout: Duration) -> Result<String> {
        self.reports
            .recv_timeout(timeout)
            .map_err(|error| match error {
                RecvTimeoutError::Timeout => Error::Other(format!(
                    "the {} process said nothing for {timeout:?}",
                    self.role
                )),
                RecvTimeoutError::Disconnected => Error::Other(format!(
                    "the {} process ended early (its error, if any, is above)",
                    self.role
                )),
            })
    }

    /// Where the child listens, from its first report.
    fn address(&self) -> Result<SocketAddr> {
        let report = self.next_report(CHILD_START_TIMEOUT)?;
        report
            .strip_prefix("address ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| Error::Other(format!("the {} reported {report:?}", self.role)))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + CHILD_EXIT_WAIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(CHILD_POLL_PAUSE);
        }
        // Our own child, by its id: killing one that has ended does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its output ends with it, and so does the reading thread.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Reads a child's standard error to its end: the report lines go to
/// `reports`, any other line (an error) to our own standard error.
fn read_reports(stderr: ChildStderr, reports: &Sender<String>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        match text.trim_end().strip_prefix(REPORT_PREFIX) {
            // Nobody listening any more is not an error: keep reading.
            Some(report) => drop(reports.send(report.to_string())),
            None => eprint!("{text}"),
        }
    }
}

/// Whether the command line asks for a hidden mode; check this before
/// `cli::parse`, which does not know them.
pub fn is_child_mode(args: &[String]) -> bool {
    matches!(
        args.first().map(String::as_str),
        Some(AS_TRACKER | AS_PEER | AS_DOWNLOADER | AS_ECHO)
    )
}

/// Runs a hidden mode: what the benchmark's child processes do.
pub fn run_child(args: &[String]) -> Result<()> {
    match args {
        [mode] if mode == AS_TRACKER => serve_as_tracker(),
        [mode] if mode == AS_ECHO => serve_as_echo(),
        [mode, tracker, dir] if mode == AS_PEER => {
            serve_as_peer(parse_addr(tracker)?, Path::new(dir))
        }
        [mode, peer, name, size, dir] if mode == AS_DOWNLOADER => {
            let size = size
                .parse()
                .map_err(|_| Error::Usage(format!("{mode}: bad size {size:?}")))?;
            download_as_child(parse_addr(peer)?, name, size, Path::new(dir))
        }
        _ => Err(Error::Usage(format!(
            "the benchmark's hidden modes are `{AS_TRACKER}`, `{AS_ECHO}`, `{AS_PEER} TRACKER DIR` \
             and `{AS_DOWNLOADER} PEER NAME SIZE DIR`"
        ))),
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr> {
    text.parse()
        .map_err(|_| Error::Usage(format!("{text:?} is not an ip:port address")))
}

/// Tells the benchmark something (see [`REPORT_PREFIX`]).
fn report(text: &str) {
    eprintln!("{REPORT_PREFIX}{text}");
}

/// A child ends when its standard input does: the benchmark closes it, or
/// the benchmark died, and either way nothing is left running.
fn wait_for_end_of_input() {
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
}

/// Settings made up on the spot, one `id ip port` line a node.
fn settings_for(nodes: &[(&str, SocketAddr)]) -> Result<Settings> {
    let text: String = nodes
        .iter()
        .map(|(id, addr)| format!("{id} {} {}\n", addr.ip(), addr.port()))
        .collect();
    Settings::parse(Path::new("(settings made by the benchmark)"), &text)
}

/// `--as-tracker`: the tracker, as the `tracker` binary runs it, on a
/// free port.
fn serve_as_tracker() -> Result<()> {
    let listener = listen(LOOPBACK_ANY_PORT)?;
    let addr = local_addr(&listener)?;
    let settings = settings_for(&[(TRACKER_ID, addr)])?;
    let log = Log::new(TRACKER_ID, false);
    let _tracker = Tracker::start(listener, settings, TRACKER_MAX_CONNECTIONS, log)?;
    report(&format!("address {addr}"));
    wait_for_end_of_input();
    Ok(())
}

/// `--as-echo`: the baseline for `search`, a bare echo server on a free
/// port, a thread per connection. It runs in a process of its own, as the
/// tracker does, so that both round trips cross between two processes.
fn serve_as_echo() -> Result<()> {
    let listener = listen(LOOPBACK_ANY_PORT)?;
    report(&format!("address {}", local_addr(&listener)?));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || echo_lines(stream));
        }
    });
    wait_for_end_of_input();
    Ok(())
}

/// `--as-peer TRACKER DIR`: a peer, as the `peer --serve` binary runs it,
/// on a free port, serving DIR and joined to TRACKER.
fn serve_as_peer(tracker: SocketAddr, dir: &Path) -> Result<()> {
    let listener = listen(LOOPBACK_ANY_PORT)?;
    let addr = local_addr(&listener)?;
    let config = PeerConfig {
        id: PEER_ID.to_string(),
        settings: settings_for(&[(TRACKER_ID, tracker), (PEER_ID, addr)])?,
        dir: dir.to_path_buf(),
        max_connections: PEER_MAX_CONNECTIONS,
        log: Log::new(PEER_ID, false),
    };
    let peer = Peer::start_on(listener, config)?;
    report(&format!("address {addr}"));
    wait_for_end_of_input();
    peer.quit();
    Ok(())
}

/// `--as-downloader PEER NAME SIZE DIR`: downloads one file into DIR as a
/// peer's `download` does, then reports its own peak memory.
fn download_as_child(from: SocketAddr, name: &str, size: u64, dir: &Path) -> Result<()> {
    let (folder, _) = SharedFolder::open(dir)?;
    let file = FileSpec {
        name: name.to_string(),
        kind: type_of(name),
        size,
    };
    peer_client::download_into_folder(&folder, from, &file, &quiet_log(), &mut |_| {})?;
    report(&format!(
        "peak-kib {}",
        status_kib(std::process::id(), "VmHWM")?
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::MAX_REQUEST_LINE;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&times, 50), Duration::from_micros(50));
        assert_eq!(percentile(&times, 99), Duration::from_micros(99));
        assert_eq!(percentile(&times[..1], 99), Duration::from_micros(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn shares_add_up() {
        for total in [0, 1, 7, 8, 2_000, 100_001] {
            let sum: usize = (0..8).map(|index| share_of(total, 8, index)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn session_records_are_a_valid_join() {
        let records = session_records(65_535).unwrap();
        let line = Message::Records(records.clone()).format();
        assert!(line.len() < MAX_REQUEST_LINE);
        assert_eq!(Message::parse(&line).unwrap(), Message::Records(records));
        assert!(session_records(0).is_err());
        assert!(session_records(65_536).is_err());
    }

    #[test]
    fn reads_proc_figures() {
        let status = "Name:\tbench\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let limits =
            "Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                40000                files\n";
        assert_eq!(parse_open_file_limit(limits), Some((20_000, 40_000)));
    }

    #[test]
    fn quick_changes_the_defaults_and_options_win() {
        let args = |words: &[&str]| {
            crate::cli::parse(words.iter().map(|w| w.to_string()), &OPTIONS).unwrap()
        };
        let quick = Options::from_args(&args(&["--quick", "--sessions", "20"])).unwrap();
        assert_eq!(
            (quick.size_mib, quick.sessions, quick.searches),
            (QUICK_SIZE_MIB, 20, QUICK_SEARCHES)
        );
        assert!(Options::from_args(&args(&["--sessions", "70000"])).is_err());
    }
}
