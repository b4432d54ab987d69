//! Downloading one file from several peers at once (`fetch FILE PEER ...`).
//!
//! 1. Ask every named peer for its `LIST`, in parallel: who really has the
//!    file, and how big is it?
//! 2. Split the file's 100-byte chunks into one contiguous range per holder.
//! 3. One thread per range sends a ranged `DOWNLOAD` and writes what comes
//!    back at the range's offset in one shared temporary file.
//! 4. When a peer fails, the chunks it did not deliver become a new range,
//!    handed to a peer that has finished its own.
//! 5. Check that every byte arrived, and give the file its name.
//!
//! The coordinating loop (step 4) runs in the calling thread and is the one
//! place that decides who downloads what, so no lock is needed.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client;
use crate::peer::folder::SharedFolder;
use crate::wire::connection::IO_BUFFER_SIZE;
use crate::wire::protocol::{ChunkRange, DownloadRequest, FileSpec, CHUNK_SIZE};
use std::collections::{BTreeMap, VecDeque};
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What a fetch did.
#[derive(Debug)]
pub struct FetchReport {
    pub path: PathBuf,
    pub size: u64,
    /// How many chunks each peer delivered.
    pub chunks_by_peer: BTreeMap<SocketAddr, u64>,
    /// Peers that did not take part or failed on the way, and why.
    pub failures: Vec<(SocketAddr, String)>,
}

/// What a range thread reports when it ends.
struct RangeReport {
    peer: SocketAddr,
    range: ChunkRange,
    /// Whole chunks written, from the start of the range.
    chunks_done: u64,
    outcome: std::result::Result<(), RangeError>,
}

enum RangeError {
    /// The peer failed: another may take over the rest.
    Peer(Error),
    /// Our own disk failed: the whole fetch fails.
    Local(Error),
}

/// How often the coordinating loop reports progress while the range
/// threads work.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Fetches `name` from `peers` into `folder`. `progress` hears the bytes
/// received so far (by all peers together) and the file's size.
pub fn fetch(
    folder: &SharedFolder,
    name: &str,
    peers: &[SocketAddr],
    log: &Log,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<FetchReport> {
    let mut failures = Vec::new();
    let (file, holders) = find_holders(name, peers, log, &mut failures)?;
    let incoming = folder.arriving(name)?;
    let total_chunks = file.size.div_ceil(CHUNK_SIZE as u64);
    let mut chunks_by_peer: BTreeMap<SocketAddr, u64> =
        holders.iter().map(|&peer| (peer, 0)).collect();

    let mut idle: Vec<SocketAddr> = Vec::new();
    let mut pending: VecDeque<ChunkRange> = VecDeque::new();
    // Every range thread adds the bytes it receives here; the loop below
    // reads it to report progress. (A chunk sent again by a second peer
    // after a failure counts twice; the report is capped at the size.)
    let received = AtomicU64::new(0);
    thread::scope(|scope| -> Result<()> {
        let (report_sender, reports) = mpsc::channel::<RangeReport>();
        let start = |peer: SocketAddr, range: ChunkRange| -> Result<()> {
            let (sender, file, path) = (report_sender.clone(), &file, incoming.temp_path());
            let received = &received;
            thread::Builder::new()
                .spawn_scoped(scope, move || {
                    let report = download_range(peer, file, range, path, log, received);
                    let _ = sender.send(report);
                })
                .map(drop)
                .map_err(|e| Error::io("starting a download thread", e))
        };
        let mut running = 0;
        for (peer, range) in holders.iter().zip(split(total_chunks, holders.len())) {
            match range {
                Some(range) => {
                    start(*peer, range)?;
                    running += 1;
                }
                None => idle.push(*peer), // more peers than chunks
            }
        }
        while running > 0 {
            let report = match reports.recv_timeout(PROGRESS_EVERY) {
                Ok(report) => report,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let so_far = received.load(Ordering::Relaxed).min(file.size);
                    progress(so_far, file.size);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            running -= 1;
            *chunks_by_peer.entry(report.peer).or_default() += report.chunks_done;
            match report.outcome {
                Ok(()) => idle.push(report.peer),
                Err(RangeError::Local(error)) => return Err(error),
                Err(RangeError::Peer(error)) => {
                    log.event(&format!(
                        "fetch: {} failed: {error}; another peer takes over",
                        report.peer
                    ));
                    failures.push((report.peer, error.to_string()));
                    let rest = ChunkRange {
                        first: report.range.first + report.chunks_done,
                        count: report.range.count - report.chunks_done,
                    };
                    pending.push_back(rest);
                }
            }
            // Hand every waiting range to a peer that is free.
            while !pending.is_empty() && !idle.is_empty() {
                if let (Some(range), Some(peer)) = (pending.pop_front(), idle.pop()) {
                    start(peer, range)?;
                    running += 1;
                }
            }
        }
        Ok(())
    })?;
    if let Some(range) = pending.front() {
        return Err(Error::Other(format!(
            "fetch of {name} failed: no peer left to send chunks {} to {}",
            range.first,
            range.first + range.count - 1
        )));
    }
    progress(file.size, file.size);
    let path = incoming.finish(file.size)?;
    chunks_by_peer.retain(|_, chunks| *chunks > 0);
    Ok(FetchReport {
        path,
        size: file.size,
        chunks_by_peer,
        failures,
    })
}

/// Asks every peer for its list, in parallel, and keeps those that have
/// `name` (with the same type and size as the first one that has it).
fn find_holders(
    name: &str,
    peers: &[SocketAddr],
    log: &Log,
    failures: &mut Vec<(SocketAddr, String)>,
) -> Result<(FileSpec, Vec<SocketAddr>)> {
    let lists = client::in_parallel(peers, |&peer| client::list(peer, log));
    let mut file: Option<FileSpec> = None;
    let mut holders = Vec::new();
    for (&peer, list) in peers.iter().zip(lists) {
        let found = match list {
            Ok(records) => records
                .into_iter()
                .find(|record| record.name == name)
                .map(|record| record.spec()),
            Err(error) => {
                failures.push((peer, error.to_string()));
                continue;
            }
        };
        match (found, &file) {
            (None, _) => failures.push((peer, format!("does not have {name}"))),
            (Some(found), None) => {
                file = Some(found);
                holders.push(peer);
            }
            (Some(found), Some(first)) if found == *first => holders.push(peer),
            (Some(found), Some(_)) => {
                failures.push((peer, format!("has another {name} ({} bytes)", found.size)))
            }
        }
    }
    let file = file.ok_or_else(|| Error::Other(format!("none of the peers has {name}")))?;
    Ok((file, holders))
}

/// Splits `total` chunks into `parts` contiguous ranges, as even as can be
/// (`None` for a part that gets no chunk).
pub fn split(total: u64, parts: usize) -> Vec<Option<ChunkRange>> {
    let parts_u64 = parts.max(1) as u64;
    let (base, extra) = (total / parts_u64, total % parts_u64);
    let mut first = 0;
    (0..parts_u64)
        .map(|part| {
            let count = base + u64::from(part < extra);
            let range = (count > 0).then_some(ChunkRange { first, count });
            first += count;
            range
        })
        .take(parts)
        .collect()
}

/// One thread's work: download `range` from `peer` into the file at `path`,
/// at the range's offset.
fn download_range(
    peer: SocketAddr,
    file: &FileSpec,
    range: ChunkRange,
    path: &Path,
    log: &Log,
    received_by_all: &AtomicU64,
) -> RangeReport {
    let mut bytes_received = 0;
    let outcome = write_range(
        peer,
        file,
        range,
        path,
        log,
        &mut bytes_received,
        received_by_all,
    );
    let chunks_done = match outcome {
        Ok(()) => range.count,
        // Whatever arrived is on disk: only whole chunks count as done.
        Err(_) => bytes_received / CHUNK_SIZE as u64,
    };
    RangeReport {
        peer,
        range,
        chunks_done,
        outcome,
    }
}

/// Opens the file, seeks to the range and downloads into it, counting the
/// bytes received in `bytes_received` as they come.
fn write_range(
    peer: SocketAddr,
    file: &FileSpec,
    range: ChunkRange,
    path: &Path,
    log: &Log,
    bytes_received: &mut u64,
    received_by_all: &AtomicU64,
) -> std::result::Result<(), RangeError> {
    let local = |e| RangeError::Local(Error::io(format!("writing {}", path.display()), e));
    // Each thread opens the file itself, so each has its own position.
    let mut target = OpenOptions::new().write(true).open(path).map_err(local)?;
    target
        .seek(SeekFrom::Start(range.first * CHUNK_SIZE as u64))
        .map_err(local)?;
    let mut sink = BufWriter::with_capacity(IO_BUFFER_SIZE, target);
    let request = DownloadRequest {
        file: file.clone(),
        range: Some(range),
    };
    let result = client::download_to(peer, &request, &mut sink, log, &mut |bytes| {
        received_by_all.fetch_add(bytes - *bytes_received, Ordering::Relaxed);
        *bytes_received = bytes;
    });
    // Flush what arrived even when the peer failed half-way: those chunks
    // are kept, and another peer only sends the rest.
    sink.flush().map_err(local)?;
    result.map(drop).map_err(RangeError::Peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_chunk_once() {
        for total in [0, 1, 2, 3, 10, 13, 1000] {
            for parts in 1..=5 {
                let ranges = split(total, parts);
                assert_eq!(ranges.len(), parts);
                let mut next = 0;
                for range in ranges.into_iter().flatten() {
                    assert_eq!(range.first, next);
                    assert!(range.count > 0);
                    next += range.count;
                }
                assert_eq!(next, total, "total {total}, parts {parts}");
            }
        }
    }

    #[test]
    fn splits_are_even() {
        let counts: Vec<u64> = split(10, 3).into_iter().map(|r| r.unwrap().count).collect();
        assert_eq!(counts, [4, 3, 3]);
        assert_eq!(split(1, 3)[1], None);
    }
}
