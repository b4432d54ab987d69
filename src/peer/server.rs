//! How a peer answers other peers: one request per connection.
//!
//! ```text
//! A -> B  DOWNLOAD: name, type, size [, first, count]   B -> A  FILE: <bytes>   (or ERROR: reason)
//! A -> B  LIST                                          B -> A  FILES: <...> ...
//! A -> B  UPLOAD: name, type, size                      B -> A  READY  (or ERROR: reason)
//! A -> B  FILE: <bytes>                                 B -> A  DONE   (or ERROR: reason)
//! A -> B  PING                                          B -> A  PONG
//! ```
//!
//! After the answer, B closes the connection. Every refusal is an `ERROR:`
//! line that says why, then the close.
//!
//! An upload holds a connection slot and a temporary file while it lasts,
//! so it must not last for ever: from READY on, it has
//! [`upload_time_limit`] in all, a whole-transfer deadline that grows with
//! the size (10 s, plus a second for every 64 KiB: an average of at least
//! 64 KiB/s). A sender that trickles a byte now and then, under the 30 s
//! no-progress limit, is cut off at its deadline and its file removed.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::folder::{Incoming, SharedFolder};
use crate::wire::connection::{
    Closer, Connection, FileOrMessage, Wait, IO_BUFFER_SIZE, REQUEST_TIMEOUT, STALL_TIMEOUT,
};
use crate::wire::messages::{PeerReply, PeerRequest};
use crate::wire::protocol::{DownloadRequest, FileSpec, Message, ParseError};
use std::io::{BufReader, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A peer's default cap on connections (`--max-connections`): 50 idle
/// connections and 50 parallel downloads fit under it at once.
pub const PEER_MAX_CONNECTIONS: usize = 128;

/// The largest file a peer accepts by `UPLOAD` (1 GiB). A bigger one is
/// refused before a single byte is written.
pub const MAX_UPLOAD_SIZE: u64 = 1 << 30;

/// Every upload has at least this long, however small.
pub const UPLOAD_BASE_TIME: Duration = Duration::from_secs(10);

/// The slowest average rate an upload may keep, in bytes a second: far
/// below any network of a lab, far above a trickle meant to hold a slot.
pub const UPLOAD_MIN_RATE: u64 = 64 * 1024;

/// The stack of an upload's deadline thread, which only waits.
const DEADLINE_STACK_SIZE: usize = 64 * 1024;

/// How long an upload of `size` bytes may take from READY to its last
/// byte: [`UPLOAD_BASE_TIME`], plus a second for every [`UPLOAD_MIN_RATE`]
/// bytes (a 1 GiB file gets about 4.5 hours).
pub fn upload_time_limit(size: u64) -> Duration {
    UPLOAD_BASE_TIME + Duration::from_secs(size.div_ceil(UPLOAD_MIN_RATE))
}

/// Closes a connection when its time is up, unless dropped first. A read
/// blocked on the socket then wakes with end-of-file. A thread of its own
/// waits for the moment: the reads of a transfer only know how long to
/// wait for the next byte, not for the whole.
pub struct Deadline {
    /// Dropping it wakes the waiting thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Deadline {
    /// Closes `closer`'s connection in `limit` from now.
    pub fn start(closer: Closer, limit: Duration) -> Result<Deadline> {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let fire = Arc::clone(&fired);
        let thread = thread::Builder::new()
            .name("upload deadline".into())
            .stack_size(DEADLINE_STACK_SIZE)
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(limit) {
                    fire.store(true, Ordering::SeqCst);
                    closer.close();
                }
            })
            .map_err(|e| Error::io("starting an upload's deadline thread", e))?;
        Ok(Deadline {
            stop: Some(stop),
            fired,
            thread: Some(thread),
        })
    }

    /// Stops the deadline; returns whether the time was up first (then
    /// the connection was closed).
    pub fn finish(mut self) -> bool {
        self.stop_waiting();
        self.fired.load(Ordering::SeqCst)
    }

    fn stop_waiting(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.stop_waiting();
    }
}

/// What every connection thread of a peer server needs.
pub struct PeerService {
    pub folder: SharedFolder,
    /// The address this peer announces; `LIST` records carry it.
    pub addr: SocketAddr,
    pub log: Log,
    /// Called with the name of each file that arrived by upload, so the
    /// peer can announce it to the tracker.
    pub on_new_file: Box<dyn Fn(&str) + Send + Sync>,
    /// Called with the name of a file someone asked for that is not in the
    /// folder (deleted by hand, say), so the peer can stop announcing it.
    pub on_missing_file: Box<dyn Fn(&str) + Send + Sync>,
}

impl PeerService {
    /// Serves one connection: read one request, answer it, close.
    pub fn handle(&self, mut connection: Connection) {
        let from = connection.other_end();
        connection.set_other_name(&self.log.name_of_incoming(from));
        let request = match connection.receive(Wait::Until(Instant::now() + REQUEST_TIMEOUT)) {
            Ok(Some(request)) => request,
            Ok(None) => return, // connected and left without a word
            Err(Error::Protocol(ParseError::OtherConversation { keyword, .. })) => {
                let _ = connection.send(&PeerReply::Error(format!(
                    "a peer takes DOWNLOAD, HASH, LIST, UPLOAD or PING, not {keyword}"
                )));
                return;
            }
            Err(error @ (Error::Protocol(_) | Error::LineTooLong { .. })) => {
                let _ = connection.send(&PeerReply::Error(error.to_string()));
                return;
            }
            Err(error) => {
                self.log.event(&format!("closed {from}: {error}"));
                return;
            }
        };
        let result = match request {
            PeerRequest::Download(request) => self.send_download(&mut connection, &request),
            PeerRequest::List => self.send_list(&mut connection),
            PeerRequest::Upload(file) => self.receive_upload(&mut connection, &file),
            PeerRequest::Ping => connection.send(&PeerReply::Pong),
            PeerRequest::Hash(request) => self.send_hash(&mut connection, &request),
        };
        if let Err(error) = result {
            self.log
                .event(&format!("request from {from} failed: {error}"));
        }
    }

    fn send_download(&self, connection: &mut Connection, request: &DownloadRequest) -> Result<()> {
        let file = match self.folder.open_to_send(&request.file) {
            Ok(file) => file,
            Err(error) => {
                let sent = connection.send(&PeerReply::Error(error.to_string()));
                if !self.folder.contains(&request.file.name) {
                    (self.on_missing_file)(&request.file.name);
                }
                return sent;
            }
        };
        let Some((offset, len)) = request.byte_range() else {
            return connection.send(&PeerReply::Error(
                "the range starts past the end of the file".into(),
            ));
        };
        // The file is read through a buffer too: 100-byte reads straight
        // from the disk would each be a system call.
        let mut source = BufReader::with_capacity(IO_BUFFER_SIZE, file);
        source
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seeking in the file", e))?;
        // Said before the bytes go: said after, it would race with what the
        // downloader prints once it has them (a failure is logged anyway).
        let name = &request.file.name;
        let to = connection.other_end();
        self.log.event(&format!(
            "sending {name}, bytes {offset}..{}, to {to}",
            offset + len
        ));
        connection.pace_chunks(self.log.chunk_pause());
        connection.send_file(&mut source, len, &mut |_| {})
    }

    /// HASH: the SHA-256 of the bytes a DOWNLOAD of the same fields would
    /// send, or why there are none.
    fn send_hash(&self, connection: &mut Connection, request: &DownloadRequest) -> Result<()> {
        match self.folder.hash_of(request) {
            Ok(digest) => connection.send(&PeerReply::Hash(digest)),
            Err(error) => connection.send(&PeerReply::Error(error.to_string())),
        }
    }

    fn send_list(&self, connection: &mut Connection) -> Result<()> {
        let scan = self.folder.scan()?;
        let records = scan
            .files
            .iter()
            .map(|file| file.record(self.addr))
            .collect();
        connection.send(&PeerReply::Files(records))
    }

    /// UPLOAD: check everything before saying READY, then take exactly the
    /// announced bytes into a temporary file, and name it only when whole.
    fn receive_upload(&self, connection: &mut Connection, file: &FileSpec) -> Result<()> {
        let refuse = |connection: &mut Connection, reason: String| {
            connection.send(&PeerReply::Error(reason))
        };
        if file.size > MAX_UPLOAD_SIZE {
            let reason = format!(
                "{} bytes is over the upload limit of {MAX_UPLOAD_SIZE} bytes",
                file.size
            );
            return refuse(connection, reason);
        }
        if let Err(reason) = file.check_type() {
            return refuse(connection, reason.into());
        }
        // Reserves the name: a second upload of it now gets "currently receiving".
        let incoming = match self.folder.arriving(&file.name) {
            Ok(incoming) => incoming,
            Err(error) => return refuse(connection, error.to_string()),
        };
        let limit = upload_time_limit(file.size);
        let deadline = Deadline::start(connection.closer(), limit)?;
        connection.send(&PeerReply::Ready)?;
        connection.pace_chunks(self.log.chunk_pause());
        let received = receive_body(connection, file, incoming);
        if deadline.finish() && received.is_err() {
            return Err(Error::OtherSide(format!(
                "the upload of {} was cut off: {} bytes may take {} s at most \
                 (an average of {} KiB/s); its partial file is removed",
                file.name,
                file.size,
                limit.as_secs(),
                UPLOAD_MIN_RATE / 1024
            )));
        }
        match received {
            Ok(_) => {
                self.log.event(&format!(
                    "received {} ({} bytes) from {}",
                    file.name,
                    file.size,
                    connection.other_end()
                ));
                // Announce first, DONE after: when the uploader hears DONE,
                // the tracker lists the file here already. And an uploader
                // that vanished right after its last byte cannot stop the
                // announcement of a file that is whole and in place.
                (self.on_new_file)(&file.name);
                connection.send(&PeerReply::Done)
            }
            Err(error) => {
                // The uploader may be gone; if not, it learns why.
                let _ = connection.send(&PeerReply::Error(error.to_string()));
                Err(error)
            }
        }
    }
}

/// After READY: `FILE: ` and exactly the announced bytes, into `incoming`.
/// Only `FILE: ` is right here; any other line (of any conversation) is
/// answered with an error that shows it.
fn receive_body(
    connection: &mut Connection,
    file: &FileSpec,
    incoming: Incoming,
) -> Result<PathBuf> {
    match connection.receive_file_or::<Message>(Wait::NoProgressFor(STALL_TIMEOUT))? {
        FileOrMessage::File => {}
        FileOrMessage::Message(other) => {
            let error = Error::unexpected("FILE: after READY", &other);
            connection.send(&PeerReply::Error(error.to_string()))?;
            return Err(error);
        }
    }
    incoming.fill(file.size, |sink| {
        connection.receive_file(sink, file.size, &mut |_| {})
    })
}

#[cfg(test)]
mod tests {
    use super::{upload_time_limit, Deadline, MAX_UPLOAD_SIZE, UPLOAD_BASE_TIME};
    use crate::wire::connection::Closer;
    use std::io::Read;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn an_upload_may_take_longer_the_larger_it_is() {
        assert_eq!(upload_time_limit(0), UPLOAD_BASE_TIME);
        assert_eq!(
            upload_time_limit(1),
            UPLOAD_BASE_TIME + Duration::from_secs(1)
        );
        let gib = upload_time_limit(MAX_UPLOAD_SIZE);
        assert_eq!(gib, UPLOAD_BASE_TIME + Duration::from_secs(16_384));
    }

    fn pair() -> (TcpStream, Arc<TcpStream>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, Arc::new(listener.accept().unwrap().0))
    }

    #[test]
    fn a_deadline_closes_a_read_that_trickles_and_one_stopped_in_time_does_not() {
        let (client, ours) = pair();
        let deadline = Deadline::start(
            Closer::for_socket(Arc::clone(&ours)),
            Duration::from_millis(300),
        )
        .unwrap();
        let started = Instant::now();
        let mut byte = [0u8; 1];
        // Blocks until the deadline closes our end.
        assert_eq!((&*ours).read(&mut byte).unwrap(), 0);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(deadline.finish(), "it fired");
        drop(client);

        let (client, ours) = pair();
        let deadline = Deadline::start(
            Closer::for_socket(Arc::clone(&ours)),
            Duration::from_secs(60),
        )
        .unwrap();
        let started = Instant::now();
        assert!(!deadline.finish(), "stopped before its time");
        assert!(started.elapsed() < Duration::from_secs(5), "and at once");
        ours.set_nonblocking(true).unwrap();
        let open = (&*ours).read(&mut byte).unwrap_err().kind();
        assert_eq!(
            open,
            std::io::ErrorKind::WouldBlock,
            "the connection is left open"
        );
        drop(client);
    }
}
