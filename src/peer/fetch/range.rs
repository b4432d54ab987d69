//! The range threads of a fetch: each sends one ranged `DOWNLOAD` and
//! writes what comes back at the range's offset in the shared temporary
//! file, hashing the bytes as they come, and reports to the coordinating
//! loop of [`super::fetch`] when it ends, however it ends.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client::{self, Hashing};
use crate::wire::connection::IO_BUFFER_SIZE;
use crate::wire::protocol::{ChunkRange, DownloadRequest, FileSpec, CHUNK_SIZE};
use crate::wire::sha256::Digest;
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::thread;

/// What a range thread reports when it ends.
pub(super) struct RangeReport {
    pub(super) peer: SocketAddr,
    pub(super) range: ChunkRange,
    /// Whole chunks written, from the start of the range.
    pub(super) chunks_done: u64,
    /// The hash of the range's bytes, when they all came.
    pub(super) outcome: std::result::Result<Digest, RangeError>,
}

pub(super) enum RangeError {
    /// The peer failed: another may take over the rest.
    Peer(Error),
    /// Our own disk failed: the whole fetch fails.
    Local(Error),
}

/// What every range thread reads: the file, where it goes, the log, and
/// the count of bytes received. Every range thread adds the bytes it
/// receives there; the coordinating loop reads it to report progress. (A
/// chunk sent again by a second peer after a failure counts twice; the
/// report is capped at the size.)
pub(super) struct Shared<'a> {
    pub(super) file: &'a FileSpec,
    pub(super) path: &'a Path,
    pub(super) log: &'a Log,
    pub(super) received: AtomicU64,
}

/// The range threads started so far. Dropped, however the loop ended, it
/// joins them all: a thread that panicked is handled here (its reporter
/// has said so already), so it does not make the whole scope panic.
pub(super) struct Started<'scope>(pub(super) Vec<thread::ScopedJoinHandle<'scope, ()>>);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        for thread in self.0.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Starts the thread that downloads `range` from `peer`.
pub(super) fn start<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    shared: &'scope Shared<'scope>,
    sender: &Sender<RangeReport>,
    peer: SocketAddr,
    range: ChunkRange,
) -> Result<thread::ScopedJoinHandle<'scope, ()>> {
    let reporter = Reporter::new(sender.clone(), peer, range);
    thread::Builder::new()
        .spawn_scoped(scope, move || {
            let report = download_range(peer, range, shared);
            reporter.send(report);
        })
        .map_err(|e| Error::io("starting a download thread", e))
}

/// Sends a range thread's report when the thread ends, whatever ends it.
/// A thread that panics still reports (its range failed, nothing of it
/// counts), so the loop that waits for it hands the range to another peer
/// instead of waiting for ever.
pub(super) struct Reporter {
    sender: Sender<RangeReport>,
    peer: SocketAddr,
    range: ChunkRange,
    sent: bool,
}

impl Reporter {
    fn new(sender: Sender<RangeReport>, peer: SocketAddr, range: ChunkRange) -> Reporter {
        Reporter {
            sender,
            peer,
            range,
            sent: false,
        }
    }

    /// The thread's own report, when its work ended normally.
    fn send(mut self, report: RangeReport) {
        self.sent = self.sender.send(report).is_ok();
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        let panicked = Error::Panicked(format!("the thread downloading from {}", self.peer));
        let _ = self.sender.send(RangeReport {
            peer: self.peer,
            range: self.range,
            chunks_done: 0,
            outcome: Err(RangeError::Peer(panicked)),
        });
    }
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

/// One thread's work: download `range` from `peer` into the file, at the
/// range's offset.
fn download_range(peer: SocketAddr, range: ChunkRange, shared: &Shared) -> RangeReport {
    let mut bytes_received = 0;
    let outcome = write_range(peer, range, shared, &mut bytes_received);
    let chunks_done = match outcome {
        Ok(_) => range.count,
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
/// bytes received in `bytes_received` as they come. Returns the hash of
/// the bytes received.
fn write_range(
    peer: SocketAddr,
    range: ChunkRange,
    shared: &Shared,
    bytes_received: &mut u64,
) -> std::result::Result<Digest, RangeError> {
    let path = shared.path;
    let local = |e| RangeError::Local(Error::io(format!("writing {}", path.display()), e));
    // Each thread opens the file itself, so each has its own position.
    let mut target = OpenOptions::new().write(true).open(path).map_err(local)?;
    target
        .seek(SeekFrom::Start(range.first * CHUNK_SIZE as u64))
        .map_err(local)?;
    let buffered = BufWriter::with_capacity(IO_BUFFER_SIZE, target);
    let mut sink = Hashing::new(buffered).map_err(RangeError::Local)?;
    let request = DownloadRequest {
        file: shared.file.clone(),
        range: Some(range),
    };
    let result = client::download_to(peer, &request, &mut sink, shared.log, &mut |bytes| {
        shared
            .received
            .fetch_add(bytes - *bytes_received, Ordering::Relaxed);
        *bytes_received = bytes;
    });
    // Flush what arrived even when the peer failed half-way: those chunks
    // are kept, and another peer only sends the rest.
    sink.flush().map_err(local)?;
    result.map_err(RangeError::Peer)?;
    let (_, received) = sink.finish().map_err(RangeError::Local)?;
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::{split, RangeError, RangeReport, Reporter};
    use crate::wire::protocol::ChunkRange;
    use crate::Error;
    use std::net::SocketAddr;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_range_thread_that_panics_still_reports() {
        let (sender, reports) = mpsc::channel();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let range = ChunkRange { first: 3, count: 4 };
        let thread = thread::spawn(move || {
            let _reporter = Reporter::new(sender, peer, range);
            panic!("a bug in the range's work");
        });
        assert!(thread.join().is_err(), "the work panicked");
        let report = reports.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((report.peer, report.range), (peer, range));
        assert_eq!(report.chunks_done, 0);
        assert!(matches!(
            report.outcome,
            Err(RangeError::Peer(Error::Panicked(_)))
        ));
    }

    #[test]
    fn a_range_thread_that_ends_reports_once() {
        let (sender, reports) = mpsc::channel();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let range = ChunkRange { first: 0, count: 2 };
        Reporter::new(sender, peer, range).send(RangeReport {
            peer,
            range,
            chunks_done: 2,
            outcome: Ok([0; 32]),
        });
        let report = reports.recv().unwrap();
        assert!(report.outcome.is_ok() && report.chunks_done == 2);
        assert!(reports.recv().is_err(), "no second report from the drop");
    }

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
