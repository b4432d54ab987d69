//! Step 4 of the benchmark, `search`: SEARCH round trips to the tracker,
//! beside round trips to a bare echo server. The echo is as fast as a
//! one-line request and its reply can go between two processes, so the
//! ratio shows what the tracker itself adds to a SEARCH.

use super::child_modes::AS_ECHO;
use super::children::ChildProcess;
use super::proc::cpu_time;
use super::sessions::session_file_name;
use super::workspace::Workspace;
use super::{figure, joined};
use p2p_share::error::{Error, Result};
use p2p_share::wire::connection::{CONNECT_TIMEOUT, STALL_TIMEOUT};
use p2p_share::wire::protocol::{Message, MAX_RECORDS_PER_JOIN};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// The one-connection search makes this fraction (1/4) of the round trips:
/// one at a time, they take longer.
const ONE_CONNECTION_SHARE: usize = 4;

/// SEARCHes go to the fake peers in this stride (a prime), so that they
/// spread over the whole index instead of asking for the same names.
const SEARCH_STRIDE: usize = 7_919;

/// SEARCH p50 over echo p50, over
/// [`SEARCH_CONNECTIONS`](super::SEARCH_CONNECTIONS) and over one; and
/// the processor time the tracker takes for a SEARCH over the echo
/// server's for an echo, over as many connections.
pub(super) struct SearchRatios {
    pub(super) eight_connections: f64,
    pub(super) one_connection: f64,
    pub(super) server_cpu: f64,
}

/// SEARCH round trips over the searchers, then echo round trips as the
/// baseline; returns the ratios of their p50s. The same is then measured
/// over one connection, which shows the time a single round trip takes.
/// Over the eight connections the processor time of each server is
/// measured too (from `/proc`): the p50s depend much on where the system
/// runs each thread, the processor time less.
pub(super) fn measure_search(
    workspace: &Workspace,
    tracker: &ChildProcess,
    searchers: &[TcpStream],
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

    let tracker_cpu = cpu_time(tracker.pid())?;
    let search = search_round_trips(searchers, searches, joined)?;
    let tracker_cpu = cpu_time(tracker.pid())?.saturating_sub(tracker_cpu);
    let echo_cpu = cpu_time(echo_server.pid())?;
    let echo = echo_round_trips(echo_addr, searchers.len(), searches, &line)?;
    let echo_cpu = cpu_time(echo_server.pid())?.saturating_sub(echo_cpu);
    let eight_connections = print_latencies("", &search, &echo);
    let server_cpu = print_cpu(tracker_cpu, echo_cpu, searches);

    let one_connection = searches / ONE_CONNECTION_SHARE;
    let search = search_round_trips(&searchers[..1], one_connection, joined)?;
    let echo = echo_round_trips(echo_addr, 1, one_connection, &line)?;
    let one_connection = print_latencies("_1conn", &search, &echo);
    Ok(SearchRatios {
        eight_connections,
        one_connection,
        server_cpu,
    })
}

/// Prints the processor time each server took per round trip, and their
/// ratio; returns it.
fn print_cpu(tracker: Duration, echo: Duration, round_trips: usize) -> f64 {
    let per_trip = |total: Duration| total / u32::try_from(round_trips.max(1)).unwrap_or(u32::MAX);
    figure("search_tracker_cpu", micros(per_trip(tracker)), "µs/search");
    figure("echo_server_cpu", micros(per_trip(echo)), "µs/echo");
    let ratio = tracker.as_secs_f64() / echo.as_secs_f64().max(f64::MIN_POSITIVE);
    figure("search_cpu_vs_echo", format!("{ratio:.2}"), "x");
    ratio
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
    searchers: &[TcpStream],
    searches: usize,
    joined: usize,
) -> Result<Vec<Duration>> {
    let count = searchers.len();
    thread::scope(|scope| {
        let workers = searchers
            .iter()
            .enumerate()
            .map(|(index, stream)| {
                let share = share_of(searches, count, index);
                scope.spawn(move || search_many(stream, index * share, share, joined))
            })
            .collect();
        collect_latencies(workers)
    })
}

/// `count` SEARCHes, numbered from `first`: each asks for one file of one
/// fake peer, so each is answered with a one-holder FOUND. The loop is the
/// echo client's (one write, one read up to the line end), so that the
/// ratio of the two measures the servers, not the clients.
fn search_many(
    stream: &TcpStream,
    first: usize,
    count: usize,
    joined: usize,
) -> Result<Vec<Duration>> {
    nodelay(stream)?;
    stream
        .set_read_timeout(Some(STALL_TIMEOUT))
        .map_err(|e| Error::io("setting a time-out", e))?;
    let mut reader = BufReader::new(stream);
    let mut reply = Vec::new();
    let mut times = Vec::with_capacity(count);
    for number in first..first + count {
        let peer = 1 + number.wrapping_mul(SEARCH_STRIDE) % joined;
        let name = session_file_name(peer, number % MAX_RECORDS_PER_JOIN);
        let request = format!("{}\n", Message::Search(name).format());
        let start = Instant::now();
        let mut writer = stream;
        writer
            .write_all(request.as_bytes())
            .map_err(|e| Error::io("sending SEARCH", e))?;
        reply.clear();
        reader
            .read_until(b'\n', &mut reply)
            .map_err(|e| Error::io("reading the reply to SEARCH", e))?;
        times.push(start.elapsed());
        check_one_holder(&reply)?;
    }
    Ok(times)
}

/// The reply must be a FOUND with one holder, as each fake peer's file has.
/// A look at the bytes, as cheap as the echo client's comparison: the
/// parser's own tests prove that such a line reads as one record.
fn check_one_holder(reply: &[u8]) -> Result<()> {
    let records = reply.iter().filter(|&&byte| byte == b'<').count();
    if reply.starts_with(b"FOUND: ") && reply.ends_with(b">\n") && records == 1 {
        return Ok(());
    }
    Err(Error::Unexpected {
        expected: "FOUND: with one holder",
        got: String::from_utf8_lossy(reply).into_owned(),
    })
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
pub(super) fn echo_lines(stream: TcpStream) {
    if nodelay(&stream).is_err() {
        return;
    }
    super::for_each_line(&stream, |line| (&stream).write_all(line).is_ok());
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

#[cfg(test)]
mod tests {
    use super::{percentile, share_of};
    use std::time::Duration;

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
}
