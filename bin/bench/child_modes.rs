//! The child processes, on their own side: what this program does when
//! the benchmark starts it in a hidden mode, as its tracker, a serving
//! peer, the downloader or the echo server. Each mode runs the library
//! code the real binaries run, so that the figures are those of the real
//! tracker and peer.

use super::lab_link::{time_both, AS_LINK_TESTER};
use super::proc::status_kib;
use super::search::echo_lines;
use super::{local_addr, quiet_log, FILE_NAME, LOOPBACK_ANY_PORT};
use p2p_share::error::{Error, Result};
use p2p_share::log::Log;
use p2p_share::peer::client;
use p2p_share::peer::folder::SharedFolder;
use p2p_share::peer::server::PEER_MAX_CONNECTIONS;
use p2p_share::peer::{Peer, PeerConfig};
use p2p_share::server::listen;
use p2p_share::settings::{Settings, TRACKER_ID};
use p2p_share::tracker::liveness::DEFAULT_HEARTBEAT;
use p2p_share::tracker::{Tracker, TrackerConfig};
use p2p_share::wire::protocol::{type_of, FileSpec};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;

/// A child process writes the lines meant for the benchmark to its
/// standard error, starting with this; its other lines there (an error)
/// are passed on to ours. Its standard output, its log, goes to a file.
pub(super) const REPORT_PREFIX: &str = "bench-report: ";

/// The hidden modes: this program started by itself as a tracker, a peer,
/// a downloader or an echo server.
pub(super) const AS_TRACKER: &str = "--as-tracker";
pub(super) const AS_PEER: &str = "--as-peer";
pub(super) const AS_DOWNLOADER: &str = "--as-downloader";
pub(super) const AS_ECHO: &str = "--as-echo";

/// The id of a serving peer in the settings it builds for itself.
const PEER_ID: &str = "bench-peer";

/// Whether the command line asks for a hidden mode; `args.rs` checks this
/// before it reads any option, since the modes' words are not options.
pub(super) fn is_child_mode(args: &[String]) -> bool {
    matches!(
        args.first().map(String::as_str),
        Some(AS_TRACKER | AS_PEER | AS_DOWNLOADER | AS_ECHO | AS_LINK_TESTER)
    )
}

/// Runs a hidden mode: what the benchmark's child processes do.
pub(super) fn run_child(args: &[String]) -> Result<()> {
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
        [mode, serving, size, client] if mode == AS_LINK_TESTER => {
            let size = size
                .parse()
                .map_err(|_| Error::Usage(format!("{mode}: bad size {size:?}")))?;
            test_link(Path::new(serving), size, Path::new(client))
        }
        _ => Err(Error::Usage(format!(
            "the benchmark's hidden modes are `{AS_TRACKER}`, `{AS_ECHO}`, `{AS_PEER} TRACKER DIR` \
             `{AS_DOWNLOADER} PEER NAME SIZE DIR` and `{AS_LINK_TESTER} DIR SIZE CLIENT_DIR`"
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
    let (_tracker, addr) = start_tracker()?;
    report(&format!("address {addr}"));
    wait_for_end_of_input();
    Ok(())
}

/// A tracker on a free loopback port, logging to standard output, which is
/// a file (see `ChildProcess::spawn`).
fn start_tracker() -> Result<(Tracker, SocketAddr)> {
    let listener = listen(LOOPBACK_ANY_PORT, "the benchmark")?;
    let addr = local_addr(&listener)?;
    let settings = settings_for(&[(TRACKER_ID, addr)])?;
    let log = Log::new(TRACKER_ID, false).on_stdout();
    let tracker = Tracker::start(listener, TrackerConfig::new(settings, log))?;
    Ok((tracker, addr))
}

/// `--as-echo`: the baseline for `search`, a bare echo server on a free
/// port, a thread per connection. It runs in a process of its own, as the
/// tracker does, so that both round trips cross between two processes.
fn serve_as_echo() -> Result<()> {
    let listener = listen(LOOPBACK_ANY_PORT, "the benchmark")?;
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
    let (peer, addr) = start_peer(tracker, dir)?;
    report(&format!("address {addr}"));
    wait_for_end_of_input();
    peer.quit();
    Ok(())
}

/// A peer on a free loopback port, serving `dir` and joined to `tracker`.
fn start_peer(tracker: SocketAddr, dir: &Path) -> Result<(Peer, SocketAddr)> {
    let listener = listen(LOOPBACK_ANY_PORT, "the benchmark")?;
    let addr = local_addr(&listener)?;
    let config = PeerConfig {
        id: PEER_ID.to_string(),
        settings: settings_for(&[(TRACKER_ID, tracker), (PEER_ID, addr)])?,
        dir: dir.to_path_buf(),
        max_connections: PEER_MAX_CONNECTIONS,
        heartbeat: Some(DEFAULT_HEARTBEAT),
        log: Log::new(PEER_ID, false).on_stdout(),
    };
    Ok((Peer::start_on(listener, config)?, addr))
}

/// `--as-link-tester DIR SIZE CLIENT_DIR`, inside the shaped namespace: a
/// tracker, a peer serving DIR, and the plain and verified downloads of
/// its file into CLIENT_DIR; reports `plain MIB/S` and `verified MIB/S`.
fn test_link(serving: &Path, size: u64, client_dir: &Path) -> Result<()> {
    let (_tracker, tracker_addr) = start_tracker()?;
    let (peer, addr) = start_peer(tracker_addr, serving)?;
    let (client, _) = SharedFolder::open(client_dir)?;
    let (plain, verified) = time_both(&client, addr, &serving.join(FILE_NAME), size)?;
    report(&format!("plain {plain:.1}"));
    report(&format!("verified {verified:.1}"));
    peer.quit();
    Ok(())
}

/// `--as-downloader PEER NAME SIZE DIR`: downloads one file into DIR as a
/// peer's `download` does, then reports its own peak memory.
fn download_as_child(from: SocketAddr, name: &str, size: u64, dir: &Path) -> Result<()> {
    let (folder, _) = SharedFolder::open(dir)?;
    let file = FileSpec {
        name: name.to_string(),
        file_type: type_of(name),
        size,
    };
    client::download_file(&folder, from, &file, &quiet_log(), &mut |_| {})?;
    report(&format!(
        "peak-kib {}",
        status_kib(std::process::id(), "VmHWM")?
    ));
    Ok(())
}
