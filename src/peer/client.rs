//! How a peer asks other peers: the client side of [`crate::peer::server`].
//!
//! Each function opens one connection, sends one request, reads the answer
//! and lets the connection close. An `ERROR:` answer becomes
//! [`Error::Remote`], so callers see the other peer's reason.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::folder::SharedFolder;
use crate::wire::connection::{Connection, FileOrMessage, IO_BUFFER_SIZE};
use crate::wire::messages::{PeerReply, PeerRequest};
use crate::wire::protocol::{DownloadRequest, FileRecord, FileSpec};
use crate::wire::sha256::{to_hex, Digest, Sha256};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a download waits, after the last byte, for the seeder to close
/// the connection as the protocol says. Our seeders close at once.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Downloads what `request` asks for from the peer at `addr` into `sink`.
/// `progress` hears the byte count after every chunk. Returns the number of
/// bytes received (the whole file, or the range, clipped at its end).
pub fn download_to(
    addr: SocketAddr,
    request: &DownloadRequest,
    sink: &mut impl Write,
    log: &Log,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    // We work out the length ourselves, with the same rule as the sender:
    // the reply has no length field, the request fixes it.
    let (_, len) = request
        .byte_range()
        .ok_or_else(|| Error::Conflict("the range starts past the end of the file".into()))?;
    let mut connection = Connection::connect(addr, log)?;
    connection.send(&PeerRequest::Download(request.clone()))?;
    match connection.receive_file_or(connection.reply_wait())? {
        FileOrMessage::File => {
            connection.pace_chunks(log.chunk_pause());
            connection.receive_file(sink, len, progress)?;
            connection.expect_end_of_body(CLOSE_WAIT)?;
        }
        FileOrMessage::Message(PeerReply::Error(reason)) => return Err(Error::Remote(reason)),
        FileOrMessage::Message(other) => {
            return Err(Error::unexpected("FILE: and the file's bytes", &other))
        }
    }
    Ok(len)
}

/// Downloads a whole file into `folder` from the peer at `addr`: into a
/// temporary file first, named only once every byte is in and the size
/// matches. On any failure nothing is left behind, and an existing file is
/// never replaced. (A peer's own download reserves the name before it
/// searches, and may try several holders: see [`crate::peer::Peer::download`].)
pub fn download_file(
    folder: &SharedFolder,
    addr: SocketAddr,
    file: &FileSpec,
    log: &Log,
    progress: &mut dyn FnMut(u64),
) -> Result<PathBuf> {
    let request = DownloadRequest {
        file: file.clone(),
        range: None,
    };
    let incoming = folder.arriving(&file.name)?;
    let mut sink = incoming.writer()?;
    download_to(addr, &request, &mut sink, log, progress)?;
    incoming.finish_from(sink, file.size)
}

/// Whether bytes we received are the bytes their holder has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The holder's SHA-256 of them and ours agree.
    Verified(Digest),
    /// The holder gave no hash (a core-only peer answers `HASH` with
    /// `ERROR:`), so the bytes are kept unchecked. Says why.
    Unverified(String),
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Verified(digest) => write!(f, "verified: sha256 {}", to_hex(digest)),
            Verification::Unverified(why) => write!(f, "unverified: {why}"),
        }
    }
}

/// How many bytes the hashing thread of [`Hashing`] gets at a time.
const HASH_BATCH: usize = IO_BUFFER_SIZE;

/// How many batches may wait for the hashing thread. Beyond that the
/// writer waits: memory stays bounded when the disk or the network is
/// faster than SHA-256.
const HASH_BATCHES_AHEAD: usize = 4;

/// A writer that passes every byte on to `inner` and hashes it, so that a
/// download is checked as it is written, with no second read of the file.
/// The hashing runs in a thread of its own: SHA-256 is slower than
/// loopback, and the receiving thread must not wait for it.
pub struct Hashing<W: Write> {
    inner: W,
    batch: Vec<u8>,
    to_hasher: SyncSender<Vec<u8>>,
    hasher: JoinHandle<Digest>,
}

impl<W: Write> Hashing<W> {
    /// Starts the hashing thread. Dropped without [`Hashing::finish`], the
    /// thread ends by itself once it has hashed what it was given.
    pub fn new(inner: W) -> Result<Hashing<W>> {
        let (to_hasher, batches) = mpsc::sync_channel::<Vec<u8>>(HASH_BATCHES_AHEAD);
        let hasher = thread::Builder::new()
            .spawn(move || {
                let mut sha = Sha256::new();
                for batch in batches {
                    sha.update(&batch);
                }
                sha.finish()
            })
            .map_err(|e| Error::io("starting the hashing thread", e))?;
        Ok(Hashing {
            inner,
            batch: Vec::with_capacity(HASH_BATCH),
            to_hasher,
            hasher,
        })
    }

    /// Hashes bytes that are on disk already, without writing them (the
    /// chunks a resumed download kept).
    pub fn absorb(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= HASH_BATCH {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Hands the batch to the hashing thread.
    fn send_batch(&mut self) -> io::Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(HASH_BATCH));
        self.to_hasher
            .send(batch)
            .map_err(|_| io::Error::other("the hashing thread stopped"))
    }

    /// The inner writer, and the SHA-256 of every byte written.
    pub fn finish(mut self) -> Result<(W, Digest)> {
        self.send_batch()
            .map_err(|e| Error::io("hashing the received bytes", e))?;
        let Hashing {
            inner,
            to_hasher,
            hasher,
            ..
        } = self;
        drop(to_hasher); // the end of the bytes: the thread finishes
        let digest = hasher
            .join()
            .map_err(|_| Error::Panicked("the hashing thread".into()))?;
        Ok((inner, digest))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // Only the bytes the inner writer took are hashed.
        let taken = self.inner.write(bytes)?;
        self.batch.extend_from_slice(&bytes[..taken]);
        if self.batch.len() >= HASH_BATCH {
            self.send_batch()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Asks the peer at `addr` for the SHA-256 of the bytes `request` names
/// (`HASH`). An `ERROR:` answer is [`Error::Remote`].
pub fn hash(addr: SocketAddr, request: &DownloadRequest, log: &Log) -> Result<Digest> {
    let mut connection = Connection::connect(addr, log)?;
    match connection.request(&PeerRequest::Hash(request.clone()))? {
        PeerReply::Hash(digest) => Ok(digest),
        PeerReply::Error(reason) => Err(Error::Remote(reason)),
        other => Err(Error::unexpected("HASH: and 64 hex digits", &other)),
    }
}

/// [`hash`] in a thread of its own, started now: the holder hashes its
/// file while it sends it, so the two do not add up. The answer comes on
/// the channel. If nobody waits for it any more (the download failed),
/// the thread ends alone, at the latest when its wait for the answer does.
pub fn hash_in_background(
    addr: SocketAddr,
    request: &DownloadRequest,
    log: &Log,
) -> Result<mpsc::Receiver<Result<Digest>>> {
    let (answer, answered) = mpsc::channel();
    let (request, log) = (request.clone(), log.clone());
    thread::Builder::new()
        .spawn(move || {
            let _ = answer.send(hash(addr, &request, &log));
        })
        .map_err(|e| Error::io("starting a thread", e))?;
    Ok(answered)
}

/// Checks bytes we received from `who`, whose SHA-256 is `received`,
/// against the hash `who` gave for them (`said`, its answer to `HASH`).
/// Different hashes are an error that names `who`: its bytes are not its
/// file. A holder that gave no hash leaves the bytes unverified.
pub fn verify(who: &str, said: Result<Digest>, received: &Digest) -> Result<Verification> {
    match said {
        Ok(said) if said == *received => Ok(Verification::Verified(said)),
        // Said in few words, to fit a terminal's line: the bytes' SHA-256
        // is not the one it gave, which is on its HASH line (`--trace`).
        Ok(_) => Err(Error::OtherSide(format!(
            "{who} sent bytes that are not its file; nothing is kept"
        ))),
        Err(Error::Remote(reason)) => Ok(Verification::Unverified(format!(
            "{who} does not answer HASH (it said: {reason})"
        ))),
        Err(error) => Ok(Verification::Unverified(format!(
            "{who} gave no hash: {error}"
        ))),
    }
}

/// Asks a peer for the list of every file it serves.
pub fn list(addr: SocketAddr, log: &Log) -> Result<Vec<FileRecord>> {
    let mut connection = Connection::connect(addr, log)?;
    match connection.request(&PeerRequest::List)? {
        PeerReply::Files(records) => Ok(records),
        PeerReply::Error(reason) => Err(Error::Remote(reason)),
        other => Err(Error::unexpected("FILES:", &other)),
    }
}

/// Sends the file `file` of our folder to the peer at `addr`.
/// `progress` hears the bytes sent so far.
pub fn upload(
    addr: SocketAddr,
    folder: &SharedFolder,
    file: &FileSpec,
    log: &Log,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    // Open the file before asking, so that a file we cannot send never
    // makes the other peer reserve its name.
    let source = folder.open_to_send(file)?;
    let mut connection = Connection::connect(addr, log)?;
    match connection.request(&PeerRequest::Upload(file.clone()))? {
        PeerReply::Ready => {}
        PeerReply::Error(reason) => return Err(Error::Remote(reason)),
        other => return Err(Error::unexpected("READY", &other)),
    }
    connection.pace_chunks(log.chunk_pause());
    connection.send_file(
        &mut BufReader::with_capacity(IO_BUFFER_SIZE, source),
        file.size,
        progress,
    )?;
    match connection
        .receive(connection.reply_wait())?
        .ok_or(Error::Closed)?
    {
        PeerReply::Done => Ok(()),
        PeerReply::Error(reason) => Err(Error::Remote(reason)),
        other => Err(Error::unexpected("DONE", &other)),
    }
}

/// Runs `work` on every item at once, a thread each, and returns the
/// results in the order of `items`: asking three peers takes as long as the
/// slowest one, not the sum. A thread that cannot be started (out of
/// resources) is an error for that item only.
pub fn in_parallel<I: Sync, T: Send>(
    items: &[I],
    work: impl Fn(&I) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    thread::scope(|scope| {
        let work = &work;
        let jobs: Vec<_> = items
            .iter()
            .map(|item| thread::Builder::new().spawn_scoped(scope, move || work(item)))
            .collect();
        jobs.into_iter()
            .map(|job| match job {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::Panicked("a request thread".into()))),
                Err(error) => Err(Error::io("starting a thread", error)),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::{in_parallel, Hashing};
    use crate::error::Error;
    use crate::wire::sha256::digest;
    use std::io::Write;

    #[test]
    fn the_hashing_writer_passes_every_byte_on_and_hashes_them_all() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let mut writer = Hashing::new(Vec::new()).unwrap();
        writer.write_all(&bytes[..7]).unwrap();
        for piece in bytes[7..].chunks(100) {
            writer.write_all(piece).unwrap();
        }
        let (written, hashed) = writer.finish().unwrap();
        assert_eq!(written, bytes);
        assert_eq!(hashed, digest(&bytes));
        let (_, empty) = Hashing::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(empty, digest(b""));
    }

    #[test]
    fn a_request_thread_that_panics_is_an_error_for_its_item_only() {
        let results = in_parallel(&[1, 2, 3], |&n| {
            if n == 2 {
                panic!("a bug in one request");
            }
            Ok(n * 10)
        });
        assert!(matches!(results[0], Ok(10)));
        assert!(matches!(results[1], Err(Error::Panicked(_))));
        assert!(matches!(results[2], Ok(30)));
    }
}
