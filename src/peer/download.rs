//! One download, from the shell's command to the bytes on disk: the
//! route the module docs of [`crate::peer`] follow, function by function.
//! Also the multi-peer [`Peer::fetch`], which finds its holders the same
//! way.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::client::{self, Hashing, Verification};
use crate::peer::fetch::{self, FetchReport};
use crate::peer::folder::{cut_to, Incoming};
use crate::peer::resume::Partials;
use crate::peer::Peer;
use crate::settings::TRACKER_ID;
use crate::wire::connection::IO_BUFFER_SIZE;
use crate::wire::messages::{TrackerReply, TrackerRequest};
use crate::wire::protocol::{
    check_name, ChunkRange, DownloadRequest, FileSpec, Location, CHUNK_SIZE,
};
use crate::wire::sha256::Digest;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// What a download tells the one who waits for it (the shell prints it).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A new wait begins, for what this names: "peer1's reply to DOWNLOAD".
    Awaiting(&'a str),
    /// The bytes so far, and the file's size.
    Bytes(u64, u64),
    /// The file is on disk; the tracker is taking the new list of files,
    /// which may take a few seconds (see
    /// [`TrackerLink::reannounce`](crate::peer::tracker_session::TrackerLink::reannounce)).
    Announcing,
}

/// Which holder a download takes.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The first that is not this peer, then the next on failure.
    FirstOther,
    /// Number N (1-based) of the holders found.
    Number(usize),
    /// The one at this address.
    At(SocketAddr),
}

/// Whether the file is in this peer's own folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Here {
    Yes,
    /// The route reserved the name, so the file is not here.
    No,
}

/// What the LIST fallback found.
#[derive(Debug, Default)]
struct Asked {
    /// The peers that serve the file.
    holders: Vec<Location>,
    /// Why each other peer is not a holder, in words.
    misses: Vec<String>,
}

/// How long a download waits, after its last byte, for the holder's
/// answer to HASH, at least. The holder hashes while it sends, so one that
/// answers is nearly done by then; one that keeps only the core protocol
/// and says nothing must not hold the download for long.
const HASH_ANSWER_WAIT: Duration = Duration::from_secs(5);

/// The slowest hashing a holder is given time for, in bytes a second, on
/// top of [`HASH_ANSWER_WAIT`]: a big file takes a while to hash.
const HASH_MIN_RATE: u64 = 20 * 1024 * 1024;

/// The holder's answer to HASH for a file of `size` bytes, once the bytes
/// are in: it has [`HASH_ANSWER_WAIT`] and the time to hash `size` bytes
/// at [`HASH_MIN_RATE`].
fn await_hash(answer: &Receiver<Result<Digest>>, size: u64) -> Result<Digest> {
    let wait = HASH_ANSWER_WAIT + Duration::from_secs(size / HASH_MIN_RATE);
    match answer.recv_timeout(wait) {
        Ok(said) => said,
        Err(RecvTimeoutError::Timeout) => Err(Error::OtherSide(format!(
            "no answer to HASH {} s after the last byte",
            wait.as_secs()
        ))),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
    }
}

/// Whether two holders' records are of the same copy of a file: the same
/// type, size and date (a partial file of one is finished from the other).
fn same_copy(a: &Location, b: &Location) -> bool {
    (&a.file_type, a.size, a.modified) == (&b.file_type, b.size, b.modified)
}

/// Opens the temporary file to go on at byte `have`: what is before is cut
/// to `have` bytes and hashed, and writing goes on from there.
fn reopen(path: &Path, have: u64) -> Result<Hashing<BufWriter<File>>> {
    let opening = |e| Error::io(format!("opening {}", path.display()), e);
    let mut file = OpenOptions::new().write(true).open(path).map_err(opening)?;
    cut_to(&file, have).map_err(opening)?;
    file.seek(SeekFrom::Start(have)).map_err(opening)?;
    let mut sink = Hashing::new(BufWriter::with_capacity(IO_BUFFER_SIZE, file))?;
    let mut before = File::open(path).map_err(opening)?.take(have);
    let mut buffer = vec![0u8; IO_BUFFER_SIZE];
    loop {
        match before.read(&mut buffer) {
            Ok(0) => return Ok(sink),
            Ok(n) => sink.absorb(&buffer[..n]).map_err(opening)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(opening(e)),
        }
    }
}

/// The request for the bytes from `have` on: the whole file when there
/// are none yet, else a ranged DOWNLOAD of the missing chunks (and a log
/// line that says so).
fn rest_of(whole: &DownloadRequest, have: u64, who: &str, log: &Log) -> DownloadRequest {
    if have == 0 {
        return whole.clone();
    }
    let size = whole.file.size;
    let name = &whole.file.name;
    log.event(&format!(
        "resuming {name} at byte {have} of {size}, from {who}"
    ));
    let chunk = CHUNK_SIZE as u64;
    DownloadRequest {
        file: whole.file.clone(),
        range: Some(ChunkRange {
            first: have / chunk,
            count: (size - have).div_ceil(chunk),
        }),
    }
}

/// A download that worked: where the file is and who sent it.
#[derive(Debug)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    pub from: SocketAddr,
    /// Whether the holder's hash of the file agrees with ours.
    pub verification: Verification,
}

impl Peer {
    /// Downloads `name` into the served folder, from holder number `choice`
    /// (1-based) of the holders found, or else from the first holder that
    /// is not this peer, trying the next on failure; then announces it.
    /// The holders are those of [`Peer::find_holders`]. `progress` hears
    /// each wait as it begins and the bytes so far. The module's docs
    /// follow this function to the disk.
    pub fn download(
        &self,
        name: &str,
        choice: Option<usize>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Downloaded> {
        let pick = match choice {
            Some(number) => Pick::Number(number),
            None => Pick::FirstOther,
        };
        self.download_picked(name, pick, progress)
    }

    /// Downloads `name` into the served folder from the holder at `from`,
    /// which must be one of the holders [`Peer::find_holders`] finds (the
    /// web page's "download from this peer").
    pub fn download_from(
        &self,
        name: &str,
        from: SocketAddr,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Downloaded> {
        self.download_picked(name, Pick::At(from), &mut |step| {
            if let Progress::Bytes(done, total) = step {
                progress(done, total)
            }
        })
    }

    /// The one download route: reserve the name, find the holders, pick,
    /// download from the first that sends the file whole, announce it.
    fn download_picked(
        &self,
        name: &str,
        pick: Pick,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Downloaded> {
        // The one check of the name: a name we may receive, not taken, not
        // arriving now. It stays reserved until the file is in or given up.
        let incoming = self.folder.arriving(name)?;
        let holders = self.holders(name, Here::No, progress)?;
        let candidates = self.pick(name, &holders, pick)?;
        let downloaded = self.download_from_first(incoming, candidates, progress)?;
        progress(Progress::Announcing);
        self.arrived(name);
        Ok(downloaded)
    }

    /// The holders a download may use, as `pick` says.
    fn pick<'h>(
        &self,
        name: &str,
        holders: &'h [Location],
        pick: Pick,
    ) -> Result<Vec<&'h Location>> {
        let chosen = match pick {
            Pick::FirstOther => {
                return Ok(holders.iter().filter(|l| l.addr() != self.addr).collect())
            }
            Pick::Number(number) => number.checked_sub(1).and_then(|index| holders.get(index)),
            Pick::At(from) => holders.iter().find(|holder| holder.addr() == from),
        };
        let wanted = match pick {
            Pick::Number(number) => format!("there is no holder {number}"),
            Pick::At(from) => format!("{} is not among them", self.describe(from)),
            Pick::FirstOther => String::new(),
        };
        let chosen = chosen.ok_or_else(|| {
            Error::Unknown(format!(
                "{} peer(s) have {name} now: {wanted}",
                holders.len()
            ))
        })?;
        Ok(vec![chosen])
    }

    /// Downloads into `incoming` from the first of `candidates` that sends
    /// the file whole, trying the next on failure, and names the file. A
    /// try goes on from the chunks that are on disk already (kept by an
    /// earlier download, or sent by the holder that failed just before),
    /// when they are of the same copy. If every try fails, the chunks that
    /// arrived are kept for the next download (see [`Partials`]).
    fn download_from_first(
        &self,
        incoming: Incoming,
        mut candidates: Vec<&Location>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Downloaded> {
        let partials = Partials::of(self.folder.dir());
        let mut kept = self.adopt_partial(&partials, &incoming, &mut candidates);
        let mut last_error = Error::Conflict("only this peer shares the file".into());
        for location in candidates {
            let from = location.addr();
            let have = match &kept {
                Some((copy, len)) if same_copy(copy, location) => *len,
                _ => 0,
            };
            let waiting = format!("{}'s reply to DOWNLOAD", self.describe(from));
            progress(Progress::Awaiting(&waiting));
            match self.download_rest_or_all(&incoming, location, have, progress) {
                Ok((sink, verification)) => {
                    let path = incoming.finish_from(sink, location.size)?;
                    let size = location.size;
                    return Ok(Downloaded {
                        path,
                        size,
                        from,
                        verification,
                    });
                }
                Err((error, on_disk)) => {
                    let at = self.describe(from);
                    let error_text = error.to_string();
                    // Most errors name the holder already: say it once, so
                    // the line fits a terminal.
                    let text = if error_text.contains(&at) {
                        format!("download failed: {error_text}")
                    } else {
                        format!("download from {at} failed: {error_text}")
                    };
                    self.log.event(&text);
                    kept = (on_disk > 0).then(|| (location.clone(), on_disk));
                    last_error = error;
                }
            }
        }
        if let Some((copy, len)) = kept {
            let name = incoming.name();
            let have = [ChunkRange {
                first: 0,
                count: len / CHUNK_SIZE as u64,
            }];
            match partials.keep(incoming.temp_path(), name, &copy, &have) {
                Ok(()) => self.log.event(&format!(
                    "kept the first {len} bytes of {name} (hidden, not served) to resume it later"
                )),
                Err(error) => self.log.event(&format!("{error}")),
            }
        }
        Err(last_error)
    }

    /// Takes the kept partial file of one of the candidates' copies, if
    /// any, as the temporary file, and puts the candidates of that copy
    /// first. Returns that copy and how many bytes are on disk: the whole
    /// chunks before the first missing one (a download fills the file in
    /// order, so the chunks of a fetch after a hole come again).
    fn adopt_partial(
        &self,
        partials: &Partials,
        incoming: &Incoming,
        candidates: &mut [&Location],
    ) -> Option<(Location, u64)> {
        let found = partials.find(incoming.name(), candidates)?;
        let copy = candidates[found.copy].clone();
        // A stable sort: the holders of the copy first, in their order.
        candidates.sort_by_key(|candidate| !same_copy(candidate, &copy));
        let from_start = found.have.first().filter(|run| run.first == 0);
        let whole_chunks = from_start.map_or(0, |run| run.count * CHUNK_SIZE as u64);
        if whole_chunks == 0 || whole_chunks >= copy.size {
            let _ = partials.take(&found, incoming.temp_path());
            return None;
        }
        partials.take(&found, incoming.temp_path()).ok()?;
        Some((copy, whole_chunks))
    }

    /// [`Peer::download_rest`], and, if the holder refuses the ranged
    /// DOWNLOAD of a resume (a core-only peer answers it `ERROR:`), the
    /// whole file from it, from byte 0.
    fn download_rest_or_all(
        &self,
        incoming: &Incoming,
        holder: &Location,
        have: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> std::result::Result<(BufWriter<File>, Verification), (Error, u64)> {
        match self.download_rest(incoming, holder, have, progress) {
            Err((Error::Remote(reason), _)) if have > 0 => {
                let who = self.describe(holder.addr());
                self.log.event(&format!(
                    "{who} refused a ranged DOWNLOAD ({reason}): {} from byte 0",
                    incoming.name()
                ));
                self.download_rest(incoming, holder, 0, progress)
            }
            other => other,
        }
    }

    /// One try: the file from one holder into the temporary file, hashed
    /// as it is written, from byte `have` on (a ranged DOWNLOAD; the bytes
    /// before are on disk already, and are hashed first). Then the
    /// holder's own hash of the whole file (`HASH`). Returns the writer,
    /// whose last bytes the caller writes out, and whether the hashes
    /// agree. On failure: the error, and how many bytes on disk are worth
    /// keeping (none when the bytes are not the holder's file).
    fn download_rest(
        &self,
        incoming: &Incoming,
        holder: &Location,
        have: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> std::result::Result<(BufWriter<File>, Verification), (Error, u64)> {
        let whole = DownloadRequest {
            file: FileSpec {
                name: incoming.name().to_string(),
                file_type: holder.file_type.clone(),
                size: holder.size,
            },
            range: None,
        };
        let mut sink = reopen(incoming.temp_path(), have).map_err(|e| (e, 0))?;
        let who = self.describe(holder.addr());
        let request = rest_of(&whole, have, &who, &self.log);
        let mut asked = None;
        let mut done_here = 0;
        let mut bytes = |done| {
            // HASH goes once the file has begun to come: the holder hashes
            // while it sends, and a holder that takes one connection at a
            // time has taken the DOWNLOAD first.
            if asked.is_none() {
                asked = Some(client::hash_in_background(holder.addr(), &whole, &self.log));
            }
            done_here = done;
            progress(Progress::Bytes(have + done, holder.size))
        };
        let received =
            client::download_to(holder.addr(), &request, &mut sink, &self.log, &mut bytes);
        if let Err(error) = received {
            // Whole chunks only reach the sink: what it holds can be kept.
            let on_disk = sink.flush().map(|()| have + done_here).unwrap_or(0);
            return Err((error, on_disk));
        }
        progress(Progress::Awaiting(&format!("{who}'s answer to HASH")));
        let said = match asked {
            Some(answer) => answer.and_then(|answer| await_hash(&answer, holder.size)),
            // An empty file: no byte ever came.
            None => client::hash(holder.addr(), &whole, &self.log),
        };
        let (sink, received) = sink.finish().map_err(|e| (e, 0))?;
        let verification = client::verify(&who, said, &received).map_err(|e| (e, 0))?;
        Ok((sink, verification))
    }

    /// Who has `name`: the tracker's holders (SEARCH), or, when it lists
    /// nobody but this peer or cannot be asked, the peers of the settings
    /// file that serve it (the LIST fallback).
    pub fn find_holders(&self, name: &str) -> Result<Vec<Location>> {
        check_name(name).map_err(|reason| Error::bad_name(name, reason))?;
        let here = if self.folder.contains(name) {
            Here::Yes
        } else {
            Here::No
        };
        self.holders(name, here, &mut |_| {})
    }

    /// [`Peer::find_holders`] for a name already checked. `here` says
    /// whether the file is in our own folder: if it is not, a record of
    /// ours for it is out of date (the tracker has not heard yet).
    fn holders(
        &self,
        name: &str,
        here: Here,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Location>> {
        progress(Progress::Awaiting("the tracker's answer to SEARCH"));
        let listed = self.ask_tracker(name);
        let why = match &listed {
            Ok(holders) if holders.iter().any(|l| l.addr() != self.addr) => return listed,
            Ok(holders) if holders.is_empty() => {
                "the tracker lists nobody (a peer announces only five files)".to_string()
            }
            Ok(_) if here == Here::Yes => return listed,
            Ok(_) => "the tracker lists only this peer (an out-of-date record)".to_string(),
            Err(error) => format!("could not ask the tracker: {error}"),
        };
        progress(Progress::Awaiting(
            "the other peers of the settings file to answer LIST",
        ));
        let asked = self.ask_settings_peers(name);
        if asked.holders.is_empty() {
            return Err(Error::Unknown(format!(
                "nobody shares {name}: {why}, and no peer of {} serves it ({})",
                self.settings.path.display(),
                asked.misses.join("; ")
            )));
        }
        self.log.event(&format!(
            "{name}: {why}; asked the peers of the settings file: {} serve it",
            asked.holders.len()
        ));
        Ok(asked.holders)
    }

    /// SEARCH for a name already checked.
    pub(super) fn ask_tracker(&self, name: &str) -> Result<Vec<Location>> {
        match self
            .link
            .request(&TrackerRequest::Search(name.to_string()))?
        {
            TrackerReply::Found(locations) => Ok(locations),
            TrackerReply::NotFound => Ok(Vec::new()),
            TrackerReply::Error(reason) => Err(Error::Remote(reason)),
            other => Err(Error::unexpected("FOUND or NOT FOUND", &other)),
        }
    }

    /// The LIST fallback: asks every other peer of the settings file for
    /// its list, in parallel, and keeps those that serve `name`. A peer
    /// announces five files at most, so this is how any file a peer serves
    /// can be had. Each peer that does not serve it says why.
    fn ask_settings_peers(&self, name: &str) -> Asked {
        let others: Vec<String> = self
            .settings
            .nodes
            .iter()
            .filter(|node| node.addr != self.addr && node.id != TRACKER_ID)
            .map(|node| node.id.clone())
            .collect();
        let mut asked = Asked::default();
        if others.is_empty() {
            asked.misses.push("it names no other peer".into());
        }
        for (id, listed) in self.list_peers(&others) {
            match listed.map(|records| records.into_iter().find(|r| r.name == name)) {
                Ok(Some(record)) => asked.holders.push(record.location()),
                Ok(None) => asked.misses.push(format!("{id} does not serve it")),
                Err(error) => asked.misses.push(format!("{id}: {error}")),
            }
        }
        asked
    }

    /// Fetches `name` from all of `peers` at once, then announces it. With
    /// no peers, from every holder [`Peer::find_holders`] finds. It goes on
    /// from the chunks an earlier fetch or download kept, and keeps those
    /// that came if it fails (see [`crate::peer::fetch`]).
    /// `progress` hears the bytes so far (the web page's transfers).
    pub fn fetch(
        &self,
        name: &str,
        peers: &[String],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<FetchReport> {
        self.fetch_watched(name, peers, &mut |step| {
            if let Progress::Bytes(done, total) = step {
                progress(done, total)
            }
        })
    }

    /// [`Peer::fetch`], telling `progress` each wait as it begins too (the
    /// shell's `fetch`).
    pub fn fetch_watched(
        &self,
        name: &str,
        peers: &[String],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<FetchReport> {
        let mut addrs = peers
            .iter()
            .map(|peer| self.settings.resolve(peer))
            .collect::<Result<Vec<_>>>()?;
        // The one check of the name, as for a download.
        let incoming = self.folder.arriving(name)?;
        if addrs.is_empty() {
            // The holders always include another peer than this one.
            addrs = self
                .holders(name, Here::No, progress)?
                .iter()
                .map(Location::addr)
                .filter(|addr| *addr != self.addr)
                .collect();
        }
        let asked: Vec<String> = addrs.iter().map(|addr| self.describe(*addr)).collect();
        let waiting = format!(
            "the LIST answers of {}, then their chunks",
            asked.join(", ")
        );
        progress(Progress::Awaiting(&waiting));
        let mut bytes = |done, total| progress(Progress::Bytes(done, total));
        let report = fetch::fetch(incoming, &addrs, &self.log, &mut bytes)?;
        progress(Progress::Announcing);
        self.arrived(name);
        Ok(report)
    }
}
