//! Downloading one file from several peers at once (`fetch FILE PEER ...`).
//!
//! 1. Ask every named peer for its `LIST`, in parallel: who really has the
//!    file, and how big is it?
//! 2. Ask every holder for the `HASH` of the whole file, in parallel. The
//!    holders whose hash differs from the rest are left out (and named).
//! 3. Split the file's 100-byte chunks into one contiguous range per holder.
//!    If an earlier fetch or download of this copy failed part-way, its
//!    partial file (see [`Partials`]) is the start instead: only the
//!    chunks it misses are split among the holders, and the log says which.
//! 4. One thread per range sends a ranged `DOWNLOAD` and writes what comes
//!    back at the range's offset in one shared temporary file, hashing the
//!    bytes as they come.
//! 5. When a peer fails, the chunks it did not deliver become a new range,
//!    handed to a peer that has finished its own.
//! 6. Once every range is in, each is checked against another holder's
//!    `HASH` of that same range (all asked at once, the answers taken in
//!    file order: the checks do not slow the transfers, and they are said
//!    in the same order on every run). A range whose bytes differ is
//!    fetched again from another holder (step 4), and the peer that sent
//!    it gets no more ranges.
//! 7. Check that every byte arrived and give the file its name. When every
//!    range was vouched for by another holder of the agreed file, the
//!    file is that file; otherwise (a range that broke off, a kept partial
//!    file, no holder that answers `HASH`) it is read once more and its
//!    whole hash checked: its ranges arrive out of order, so no single
//!    hash can follow them.
//! 8. If chunks are still missing and no holder is left to send them, the
//!    fetch fails, and the chunks that came are kept, hidden, for the next
//!    fetch or download of the file.
//!
//! The coordinating loop (steps 5 and 6) runs in the calling thread and is the one
//! place that decides who downloads what, so no lock is needed.

mod range;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client::{self, Verification};
use crate::peer::folder::{hash_part, Incoming};
use crate::peer::resume::{self, Partials};
use crate::wire::protocol::{ChunkRange, DownloadRequest, FileSpec, Location, CHUNK_SIZE};
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
    let (file, copies) = ask_lists(&name, peers, log, &mut plan.failures)?;
    let mut holders: Vec<SocketAddr> = copies.iter().map(Location::addr).collect();
    let whole = agree_on_hash(&file, &mut holders, log, &mut plan);
    plan.chunks_by_peer = holders.iter().map(|&peer| (peer, 0)).collect();
    let copies: Vec<&Location> = copies
        .iter()
        .filter(|copy| holders.contains(&copy.addr()))
        .collect();
    let partials = Partials::of(incoming.folder_dir());
    let (work, on_disk) = work(&partials, &incoming, &file, &copies, log, &mut plan);
    let shared = Shared {
        file: &file,
        path: incoming.temp_path(),
        log,
        received: AtomicU64::new(on_disk),
    };
    thread::scope(|scope| plan.run(scope, &shared, &holders, work, progress))?;
    if !plan.pending.is_empty() {
        return Err(give_up(
            &partials,
            &incoming,
            &file,
            copies.first(),
            &plan,
            log,
        ));
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

/// The ranges to fetch, and how many bytes are on disk already. With a
/// partial file of one of the holders' `copies` kept by an earlier try, it
/// becomes the temporary file, and the ranges are the chunks it misses
/// (they are vouched for by no range hash: the whole file is checked at
/// the end). Otherwise, the whole file in one range per holder.
fn work(
    partials: &Partials,
    incoming: &Incoming,
    file: &FileSpec,
    copies: &[&Location],
    log: &Log,
    plan: &mut Plan,
) -> (Vec<ChunkRange>, u64) {
    let total = file.size.div_ceil(CHUNK_SIZE as u64);
    let found = partials.find(&file.name, copies);
    let Some(found) = found.filter(|found| partials.take(found, incoming.temp_path()).is_ok())
    else {
        return (
            split(total, copies.len()).into_iter().flatten().collect(),
            0,
        );
    };
    let gaps = resume::missing(&found.have, total);
    let on_disk = file.size - gaps.iter().map(|gap| bytes_of(gap, file.size)).sum::<u64>();
    let name = &file.name;
    match gaps.as_slice() {
        [last] if last.first + last.count == total => log.event(&format!(
            "resuming {name} at byte {on_disk} of {}",
            file.size
        )),
        _ => log.event(&format!(
            "resuming {name}: {} of its {total} are missing, the rest is on disk",
            resume::describe(&gaps)
        )),
    }
    plan.unvouched = true;
    (spread(gaps, copies.len()), on_disk)
}

/// How many bytes of a file of `size` the chunks of `run` hold.
fn bytes_of(run: &ChunkRange, size: u64) -> u64 {
    run.byte_range(size).map_or(0, |(_, len)| len)
}

/// `gaps` cut into at least `parts` ranges where they can be (the largest
/// is halved, again and again), so that every holder gets one; in file
/// order.
fn spread(mut gaps: Vec<ChunkRange>, parts: usize) -> Vec<ChunkRange> {
    while gaps.len() < parts {
        let Some(largest) = (0..gaps.len()).max_by_key(|&at| (gaps[at].count, usize::MAX - at))
        else {
            break;
        };
        let ChunkRange { first, count } = gaps[largest];
        if count < 2 {
            break;
        }
        gaps[largest].count = count / 2;
        gaps.insert(
            largest + 1,
            ChunkRange {
                first: first + count / 2,
                count: count - count / 2,
            },
        );
    }
    gaps
}

/// The fetch ends with chunks that no holder is left to send: keeps those
/// that came as a partial file of `copy`, the first holder's (hidden,
/// never served), and says so. Returns the error that ends the fetch.
fn give_up(
    partials: &Partials,
    incoming: &Incoming,
    file: &FileSpec,
    copy: Option<&&Location>,
    plan: &Plan,
    log: &Log,
) -> Error {
    let total = file.size.div_ceil(CHUNK_SIZE as u64);
    let mut left: Vec<ChunkRange> = plan.pending.iter().copied().collect();
    left.sort_by_key(|run| run.first);
    let have = resume::missing(&left, total);
    let name = &file.name;
    let gaps = resume::describe(&left);
    if let (Some(copy), false) = (copy, have.is_empty()) {
        let kept = match have.as_slice() {
            [only] if only.first == 0 => format!("the first {} bytes", bytes_of(only, file.size)),
            _ => format!(
                "{} of the {total} chunks",
                have.iter().map(|run| run.count).sum::<u64>()
            ),
        };
        match partials.keep(incoming.temp_path(), name, copy, &have) {
            Ok(()) => log.event(&format!(
                "kept {kept} of {name} (hidden, not served) to resume it later"
            )),
            Err(error) => log.event(&format!("{error}")),
        }
    }
    Error::OtherSide(format!(
        "fetch of {name} failed: no peer left to send {gaps}"
    ))
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
    /// Starts one range of `work` per holder, in order, then hands the
    /// ranges left and each failed peer's rest to
    /// a free peer, until every range thread has reported; then checks the
    /// ranges, and fetches the bad ones again, until all are good.
    fn run<'scope>(
        &mut self,
        scope: &'scope thread::Scope<'scope, '_>,
        shared: &'scope Shared<'scope>,
        holders: &[SocketAddr],
        work: Vec<ChunkRange>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let (sender, reports) = mpsc::channel::<RangeReport>();
        let mut threads = Started(Vec::new());
        let mut work = work.into_iter();
        for &peer in holders {
            match work.next() {
                Some(range) => threads.0.push(start(scope, shared, &sender, peer, range)?),
                None => self.idle.push(peer), // more peers than ranges
            }
        }
        // More ranges than peers (the holes of a resumed fetch): the rest
        // go to the first peers that finish.
        self.pending.extend(work);
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
        // Two short lines, to fit a terminal's width.
        let (bad, vouching) = (log.name_of(peer), log.name_of(checker));
        log.event(&format!(
            "fetch: {bad} sent bad bytes for chunks {} to {}",
            range.first,
            range.first + range.count - 1
        ));
        log.event(&format!(
            "fetch: {vouching}'s HASH of those chunks differs; they come again from another holder"
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
) -> Result<(FileSpec, Vec<Location>)> {
    let lists = client::in_parallel(peers, |&peer| client::list(peer, log));
    let mut file: Option<FileSpec> = None;
    let mut holders = Vec::new();
    for (&peer, list) in peers.iter().zip(lists) {
        let found = match list {
            Ok(records) => records.into_iter().find(|record| record.name == name),
            Err(error) => {
                failures.push((peer, error.to_string()));
                continue;
            }
        };
        let Some(record) = found else {
            failures.push((peer, format!("does not have {name}")));
            continue;
        };
        // The copy as listed, at the address it was asked at.
        let copy = Location {
            ip: peer.ip(),
            port: peer.port(),
            ..record.location()
        };
        match &file {
            None => {
                file = Some(record.spec());
                holders.push(copy);
            }
            Some(first) if record.spec() == *first => holders.push(copy),
            Some(_) => failures.push((peer, format!("has another {name} ({} bytes)", record.size))),
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

#[cfg(test)]
mod tests {
    use super::spread;
    use crate::wire::protocol::ChunkRange;

    fn run(first: u64, count: u64) -> ChunkRange {
        ChunkRange { first, count }
    }

    #[test]
    fn gaps_are_spread_over_the_holders_largest_first_in_file_order() {
        assert_eq!(spread(vec![run(0, 10)], 2), [run(0, 5), run(5, 5)]);
        assert_eq!(
            spread(vec![run(2, 3), run(10, 8)], 3),
            [run(2, 3), run(10, 4), run(14, 4)]
        );
        assert_eq!(
            spread(vec![run(4, 1)], 3),
            [run(4, 1)],
            "one chunk stays whole"
        );
        assert_eq!(
            spread(vec![run(0, 3), run(5, 3)], 1),
            [run(0, 3), run(5, 3)]
        );
    }
}
