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

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::folder::SharedFolder;
use crate::wire::connection::{
    Connection, FileOrMessage, Wait, IO_BUFFER_SIZE, REQUEST_TIMEOUT, STALL_TIMEOUT,
};
use crate::wire::messages::{PeerReply, PeerRequest};
use crate::wire::protocol::{DownloadRequest, FileSpec, Message, ParseError};
use std::io::{BufReader, Seek, SeekFrom};
use std::net::SocketAddr;
use std::time::Instant;

/// A peer's default cap on connections (`--max-connections`): 50 idle
/// connections and 50 parallel downloads fit under it at once.
pub const PEER_MAX_CONNECTIONS: usize = 128;

/// The largest file a peer accepts by `UPLOAD` (1 GiB). A bigger one is
/// refused before a single byte is written.
pub const MAX_UPLOAD_SIZE: u64 = 1 << 30;

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
        let request = match connection.receive(Wait::Until(Instant::now() + REQUEST_TIMEOUT)) {
            Ok(Some(request)) => request,
            Ok(None) => return, // connected and left without a word
            Err(Error::Protocol(ParseError::OtherConversation { keyword, .. })) => {
                let _ = connection.send(&PeerReply::Error(format!(
                    "a peer takes DOWNLOAD, LIST, UPLOAD or PING, not {keyword}"
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
        connection.send(&PeerReply::Ready)?;
        // After READY only `FILE: ` is right; any other line (of any
        // conversation) is shown in the error.
        match connection.receive_file_or::<Message>(Wait::NoProgressFor(STALL_TIMEOUT))? {
            FileOrMessage::File => {}
            FileOrMessage::Message(other) => {
                let error = Error::unexpected("FILE: after READY", &other);
                connection.send(&PeerReply::Error(error.to_string()))?;
                return Err(error);
            }
        }
        connection.pace_chunks(self.log.chunk_pause());
        let received = incoming.fill(file.size, |sink| {
            connection.receive_file(sink, file.size, &mut |_| {})
        });
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
