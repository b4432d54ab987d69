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
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

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

/// PINGs a peer and returns the round-trip time of PING and PONG (not
/// counting the time to connect).
pub fn ping(addr: SocketAddr, log: &Log) -> Result<Duration> {
    let mut connection = Connection::connect(addr, log)?;
    let start = Instant::now();
    match connection.request(&PeerRequest::Ping)? {
        PeerReply::Pong => Ok(start.elapsed()),
        other => Err(Error::unexpected("PONG", &other)),
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
    use super::in_parallel;
    use crate::error::Error;

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
