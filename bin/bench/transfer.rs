//! Steps 1 and 2 of the benchmark, `transfer` and `fetch`: how fast the
//! peer code moves a file, from one peer and from several at once. Each is
//! measured beside a raw `std::io::copy` over loopback, the fastest std
//! moves a file, so that the ratio shows what the protocol costs and not
//! how fast this machine's disk happens to be.

use super::workspace::{check_same, open, remove, Workspace};
use super::{figure, file_spec, joined, local_addr, quiet_log, FILE_NAME, LOOPBACK_ANY_PORT, MIB};
use p2p_share::error::{Error, Result};
use p2p_share::peer::client;
use p2p_share::peer::fetch;
use p2p_share::peer::folder::SharedFolder;
use p2p_share::wire::connection::{CONNECT_TIMEOUT, IO_BUFFER_SIZE};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// Each transfer is measured this many times and the best time counts: the
/// rest of the machine (the disk writing back the previous round, other
/// programs) can only ever slow a round down.
const TRANSFER_ROUNDS: usize = 3;

// ---------------------------------------------------------------------------
// 1. transfer
// ---------------------------------------------------------------------------

/// Both transfer speeds, in MiB/s.
pub(super) struct TransferFigures {
    pub(super) raw: f64,
    pub(super) peer: f64,
}

/// The raw copy and the DOWNLOAD take turns, [`TRANSFER_ROUNDS`] times
/// each, so that anything else going on slows both alike; the best round
/// of each counts.
pub(super) fn measure_transfer(
    workspace: &Workspace,
    source: &Path,
    size: u64,
    client: &SharedFolder,
    peer: SocketAddr,
) -> Result<TransferFigures> {
    let raw_target = workspace.root.join("raw-copy");
    let file = file_spec(size);
    let (mut raw, mut download) = (Duration::MAX, Duration::MAX);
    for _ in 0..TRANSFER_ROUNDS {
        raw = raw.min(raw_copy(source, &raw_target, size)?);
        remove(&raw_target)?;

        let start = Instant::now();
        let path = client::download_file(client, peer, &file, &quiet_log(), &mut |_| {})?;
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

fn bind_loopback() -> Result<TcpListener> {
    TcpListener::bind(LOOPBACK_ANY_PORT).map_err(|e| Error::io("binding a loopback port", e))
}

pub(super) fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

// ---------------------------------------------------------------------------
// 2. fetch
// ---------------------------------------------------------------------------

/// Fetches the file from every peer at once, the best of
/// [`TRANSFER_ROUNDS`]; returns the ratio to `raw`.
pub(super) fn measure_fetch(
    source: &Path,
    size: u64,
    client: &SharedFolder,
    peers: &[SocketAddr],
    raw: f64,
) -> Result<f64> {
    let mut best = Duration::MAX;
    for _ in 0..TRANSFER_ROUNDS {
        let start = Instant::now();
        let report = fetch::fetch(
            client.arriving(FILE_NAME)?,
            peers,
            &quiet_log(),
            &mut |_, _| {},
        )?;
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
