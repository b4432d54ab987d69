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

mod range;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client::{self, Verification};
use crate::peer::folder::{hash_part, Incoming};
use crate::wire::protocol::{ChunkRange, DownloadRequest, FileSpec, CHUNK_SIZE};
use crate::wire::sha256::{to_hex, Digest};
use range::{start, RangeError, RangeReport, Shared, Started};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

pub use range::split;

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
    // Every range vouched for by another holder of the agreed file: the
    // whole is that file, with no second read of it.
    let verification = match whole {
        Some(agreed) if !plan.unvouched => Verification::Verified(agreed),
        _ => check_whole(incoming.temp_path(), &file, whole)?,
    };
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
    /// Some bytes of the file were not vouched for by another holder whose
    /// hash of the whole file agrees (a range with no such checker, a
    /// failed check, a range that broke off, or a holder that lied): then
    /// the whole file is read again and checked at the end.
    unvouched: bool,
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
        let wanted = unchecked.len();
        let checks: Vec<(SocketAddr, ChunkRange, Digest, SocketAddr)> = unchecked
            .into_iter()
            .filter_map(|(peer, range, received)| {
                Some((peer, range, received, self.checker_for(peer)?))
            })
            .collect();
        // The checkers hash their ranges at the same time: asked one after
        // the other, the check would take as long as hashing the whole
        // file on one core.
        let answers = client::in_parallel(&checks, |(_, range, _, checker)| {
            let request = DownloadRequest {
                file: shared.file.clone(),
                range: Some(*range),
            };
            client::hash(*checker, &request, shared.log)
        });
        let mut any_bad = false;
        self.unvouched |= checks.len() < wanted;
        for ((peer, range, received, checker), said) in checks.into_iter().zip(answers) {
            match said {
                Ok(said) if said != received => {
                    self.bad_range(peer, range, checker, shared.log);
                    any_bad = true;
                }
                Ok(_) if checker != peer => {}
                _ => self.unvouched = true,
            }
        }
        self.unvouched |= any_bad;
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
                // The chunks it did send are checked by no range hash.
                self.unvouched |= report.chunks_done > 0;
                self.pending.push_back(ChunkRange {
                    first: report.range.first + report.chunks_done,
                    count: report.range.count - report.chunks_done,
                });
            }
        }
        Ok(())
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
