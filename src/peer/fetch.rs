//! Downloading one file from several peers at once (`fetch FILE PEER ...`).
//!
//! 1. Ask every named peer for its `LIST`, in parallel: who really has the
//!    file, and how big is it?
//! 2. Ask every holder for the `HASH` of the whole file, in parallel. The
//!    holders whose hash differs from the rest are left out (and named).
//! 3. Split the file's 100-byte chunks into one contiguous range per holder.
//! 4. One thread per range sends a ranged `DOWNLOAD` and writes what comes
//!    back at the range's offset in one shared temporary file, hashing the
//!    bytes as they come.
//! 5. When a peer fails, the chunks it did not deliver become a new range,
//!    handed to a peer that has finished its own.
//! 6. Once every range is in, each is checked, one after the other,
//!    against another holder's `HASH` of that same range. A range whose
//!    bytes differ is fetched again from another holder (step 4), and the
//!    peer that sent it gets no more ranges. (One after the other, at the
//!    end: the checks do not slow the transfers, and they come in the same
//!    order on every run.)
//! 7. Check that every byte arrived and that the whole file has the hash
//!    the holders agree on (one more read of the file: its ranges arrive
//!    out of order, so no single hash can follow them), and give the file
//!    its name.
//!
//! The coordinating loop (steps 5 and 6) runs in the calling thread and is the one
//! place that decides who downloads what, so no lock is needed.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client::{self, Hashing, Verification};
use crate::peer::folder::{hash_part, Incoming};
use crate::wire::connection::IO_BUFFER_SIZE;
use crate::wire::protocol::{ChunkRange, DownloadRequest, FileSpec, CHUNK_SIZE};
use crate::wire::sha256::{to_hex, Digest};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
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
    /// Whether the whole file has the hash its holders agree on.
    pub verification: Verification,
}

/// What a range thread reports when it ends.
struct RangeReport {
    peer: SocketAddr,
    range: ChunkRange,
    /// Whole chunks written, from the start of the range.
    chunks_done: u64,
    /// The hash of the range's bytes, when they all came.
    outcome: std::result::Result<Digest, RangeError>,
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

/// Fetches the file `incoming` awaits from `peers`. `progress` hears the
/// bytes received so far (by all peers together) and the file's size.
pub fn fetch(
    incoming: Incoming,
    peers: &[SocketAddr],
    log: &Log,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<FetchReport> {
    let name = incoming.name().to_string();
    let mut plan = Plan::default();
    let (file, mut holders) = ask_lists(&name, peers, log, &mut plan.failures)?;
    let whole = agree_on_hash(&file, &mut holders, log, &mut plan);
    plan.chunks_by_peer = holders.iter().map(|&peer| (peer, 0)).collect();
    let shared = Shared {
        file: &file,
        path: incoming.temp_path(),
        log,
        received: AtomicU64::new(0),
    };
    thread::scope(|scope| plan.run(scope, &shared, &holders, progress))?;
    if let Some(range) = plan.pending.front() {
        return Err(Error::OtherSide(format!(
            "fetch of {name} failed: no peer left to send chunks {} to {}",
            range.first,
            range.first + range.count - 1
        )));
    }
    progress(file.size, file.size);
    let verification = check_whole(incoming.temp_path(), &file, whole)?;
    let path = incoming.finish(file.size)?;
    plan.chunks_by_peer.retain(|_, chunks| *chunks > 0);
    Ok(FetchReport {
        path,
        size: file.size,
        chunks_by_peer: plan.chunks_by_peer,
        failures: plan.failures,
        verification,
    })
}

/// Asks every holder for the hash of the whole file, in parallel. The hash
/// most of them give is the file's; those that give another are left out
/// of `holders` (and named in the failures). Those that give none stay:
/// their ranges are checked against the others. `plan.checkers` gets the
/// holders whose hash agrees. `None` when no holder gives a hash.
fn agree_on_hash(
    file: &FileSpec,
    holders: &mut Vec<SocketAddr>,
    log: &Log,
    plan: &mut Plan,
) -> Option<Digest> {
    let whole = DownloadRequest {
        file: file.clone(),
        range: None,
    };
    let answers = client::in_parallel(holders, |&peer| client::hash(peer, &whole, log));
    let said: Vec<(SocketAddr, Digest)> = holders
        .iter()
        .zip(answers)
        .filter_map(|(&peer, answer)| answer.ok().map(|digest| (peer, digest)))
        .collect();
    let count = |digest: &Digest| said.iter().filter(|(_, d)| d == digest).count();
    // The most common hash; of two as common, the first given.
    let agreed = said.iter().map(|(_, digest)| *digest).fold(
        None,
        |best: Option<Digest>, digest| match best {
            Some(best) if count(&best) >= count(&digest) => Some(best),
            _ => Some(digest),
        },
    )?;
    for (peer, digest) in &said {
        if *digest == agreed {
            plan.checkers.push(*peer);
            continue;
        }
        let why = format!(
            "left out: its hash of {} is {}, but {} other holder(s) say {}",
            file.name,
            to_hex(digest),
            count(&agreed),
            to_hex(&agreed)
        );
        log.event(&format!("fetch: {peer} {why}"));
        plan.failures.push((*peer, why));
        holders.retain(|holder| holder != peer);
    }
    Some(agreed)
}

/// The last check: the whole file has the hash its holders agree on.
fn check_whole(path: &Path, file: &FileSpec, agreed: Option<Digest>) -> Result<Verification> {
    let Some(agreed) = agreed else {
        return Ok(Verification::Unverified(
            "no holder answers HASH (a core-only peer answers ERROR:)".into(),
        ));
    };
    let opened =
        File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let got = hash_part(opened, 0, file.size, &file.name)?;
    if got != agreed {
        return Err(Error::OtherSide(format!(
            "the fetched {} has the SHA-256 {}, not the {} its holders agree on: nothing is kept",
            file.name,
            to_hex(&got),
            to_hex(&agreed)
        )));
    }
    Ok(Verification::Verified(agreed))
}

/// What every range thread reads: the file, where it goes, the log, and
/// the count of bytes received. Every range thread adds the bytes it
/// receives there; the coordinating loop reads it to report progress. (A
/// chunk sent again by a second peer after a failure counts twice; the
/// report is capped at the size.)
struct Shared<'a> {
    file: &'a FileSpec,
    path: &'a Path,
    log: &'a Log,
    received: AtomicU64,
}

/// The coordinating loop's own state: who is free, what is left to do.
#[derive(Default)]
struct Plan {
    chunks_by_peer: BTreeMap<SocketAddr, u64>,
    failures: Vec<(SocketAddr, String)>,
    /// Peers that finished their range (or got none): free to take over.
    idle: Vec<SocketAddr>,
    /// Ranges a failed peer left, waiting for a free peer.
    pending: VecDeque<ChunkRange>,
    running: usize,
    /// Holders whose hash of the whole file is the agreed one: they vouch
    /// for the ranges others send. One that sends bad bytes is taken out.
    checkers: Vec<SocketAddr>,
    /// Ranges that came whole and are not checked yet: who sent them, and
    /// the hash of their bytes.
    unchecked: Vec<(SocketAddr, ChunkRange, Digest)>,
}

impl Plan {
    /// Starts one range per holder, then hands each failed peer's rest to
    /// a free peer, until every range thread has reported; then checks the
    /// ranges, and fetches the bad ones again, until all are good.
    fn run<'scope>(
        &mut self,
        scope: &'scope thread::Scope<'scope, '_>,
        shared: &'scope Shared<'scope>,
        holders: &[SocketAddr],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let (sender, reports) = mpsc::channel::<RangeReport>();
        let mut threads = Started(Vec::new());
        let total_chunks = shared.file.size.div_ceil(CHUNK_SIZE as u64);
        for (peer, range) in holders.iter().zip(split(total_chunks, holders.len())) {
            match range {
                Some(range) => threads.0.push(start(scope, shared, &sender, *peer, range)?),
                None => self.idle.push(*peer), // more peers than chunks
            }
        }
        self.running = threads.0.len();
        loop {
            while self.running > 0 {
                let report = match reports.recv_timeout(PROGRESS_EVERY) {
                    Ok(report) => report,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let so_far = shared.received.load(Ordering::Relaxed);
                        progress(so_far.min(shared.file.size), shared.file.size);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                self.take(report, shared.log)?;
                self.hand_out(scope, shared, &sender, &mut threads)?;
            }
            if !self.pending.is_empty() || !self.check_ranges(shared) {
                return Ok(());
            }
            self.hand_out(scope, shared, &sender, &mut threads)?;
            if self.running == 0 {
                return Ok(()); // bad ranges and no peer left: the caller says so
            }
        }
    }

    /// Hands every waiting range to a peer that is free.
    fn hand_out<'scope>(
        &mut self,
        scope: &'scope thread::Scope<'scope, '_>,
        shared: &'scope Shared<'scope>,
        sender: &Sender<RangeReport>,
        threads: &mut Started<'scope>,
    ) -> Result<()> {
        while let (Some(&range), Some(&peer)) = (self.pending.front(), self.idle.last()) {
            self.pending.pop_front();
            self.idle.pop();
            threads.0.push(start(scope, shared, sender, peer, range)?);
            self.running += 1;
        }
        Ok(())
    }

    /// Checks each range not checked yet, in file order, against another
    /// holder's hash of it. A bad range goes back to the waiting ranges,
    /// and its sender is out. Returns whether any range was bad. A checker
    /// that cannot be asked leaves the range to the check of the whole
    /// file.
    fn check_ranges(&mut self, shared: &Shared) -> bool {
        let mut unchecked = std::mem::take(&mut self.unchecked);
        unchecked.sort_by_key(|(_, range, _)| range.first);
        let mut any_bad = false;
        for (peer, range, received) in unchecked {
            let Some(checker) = self.checker_for(peer) else {
                continue;
            };
            let request = DownloadRequest {
                file: shared.file.clone(),
                range: Some(range),
            };
            match client::hash(checker, &request, shared.log) {
                Ok(said) if said != received => {
                    self.bad_range(peer, range, checker, shared.log);
                    any_bad = true;
                }
                _ => {}
            }
        }
        any_bad
    }

    /// `peer` sent bad bytes for `range`: it gets no more ranges and
    /// vouches for none, and the range is fetched again.
    fn bad_range(&mut self, peer: SocketAddr, range: ChunkRange, checker: SocketAddr, log: &Log) {
        let why = format!(
            "sent bad bytes for chunks {} to {} (their SHA-256 differs from {checker}'s)",
            range.first,
            range.first + range.count - 1
        );
        log.event(&format!(
            "fetch: {peer} {why}: the range is fetched again from another holder"
        ));
        self.failures.push((peer, why));
        self.checkers.retain(|other| *other != peer);
        self.idle.retain(|other| *other != peer);
        if let Some(chunks) = self.chunks_by_peer.get_mut(&peer) {
            *chunks = chunks.saturating_sub(range.count);
        }
        self.pending.push_back(range);
    }

    /// Who checks a range that `peer` sends: another holder whose hash
    /// agrees, or else `peer` itself (that still catches a framing fault).
    fn checker_for(&self, peer: SocketAddr) -> Option<SocketAddr> {
        let other = self.checkers.iter().find(|checker| **checker != peer);
        other.or(self.checkers.first()).copied()
    }

    /// One range thread ended: count its chunks, and queue what it left.
    fn take(&mut self, report: RangeReport, log: &Log) -> Result<()> {
        self.running -= 1;
        *self.chunks_by_peer.entry(report.peer).or_default() += report.chunks_done;
        match report.outcome {
            Ok(received) => {
                self.idle.push(report.peer);
                self.unchecked.push((report.peer, report.range, received));
            }
            Err(RangeError::Local(error)) => return Err(error),
            Err(RangeError::Peer(error)) => {
                log.event(&format!(
                    "fetch: {} failed: {error}; another peer takes over",
                    report.peer
                ));
                self.failures.push((report.peer, error.to_string()));
                self.pending.push_back(ChunkRange {
                    first: report.range.first + report.chunks_done,
                    count: report.range.count - report.chunks_done,
                });
            }
        }
        Ok(())
    }
}

/// The range threads started so far. Dropped, however the loop ended, it
/// joins them all: a thread that panicked is handled here (its reporter
/// has said so already), so it does not make the whole scope panic.
struct Started<'scope>(Vec<thread::ScopedJoinHandle<'scope, ()>>);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        for thread in self.0.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Starts the thread that downloads `range` from `peer`.
fn start<'scope>(
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
struct Reporter {
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

/// Asks every peer for its list, in parallel, and keeps those that have
/// `name` (with the same type and size as the first one that has it).
fn ask_lists(
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
    let file = file.ok_or_else(|| {
        let why: Vec<String> = failures
            .iter()
            .map(|(peer, why)| format!("{peer}: {why}"))
            .collect();
        Error::Unknown(format!("none of the peers has {name} ({})", why.join("; ")))
    })?;
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
    use super::*;

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
