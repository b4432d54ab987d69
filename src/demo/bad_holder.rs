//! The demo's bad holders: a peer that joins the tracker with one file
//! and gets one thing wrong when asked for it ([`Fault`]). One vanishes
//! part-way through a download, to show it resumed from another holder;
//! one lies in one chunk, to show a fetch's range hash catch it.
//!
//! It lives outside the settings file, on a free port, and uses the same
//! message types as every node, but not the log: it is the other side,
//! seen through the tracker's and the peer's traces.

use crate::error::{Error, Result};
use crate::wire::messages::{PeerReply, PeerRequest, TrackerReply, TrackerRequest, Wire};
use crate::wire::protocol::{DownloadRequest, FileRecord, Location, CHUNK_SIZE, FILE_HEADER};
use crate::wire::sha256;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accept loop looks whether it must stop.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// How long the bad holder waits for a line.
const LINE_WAIT: Duration = Duration::from_secs(5);

/// What a bad holder gets wrong.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Sends this many bytes of what DOWNLOAD asks for, then closes, as a
    /// holder that vanished. It answers nothing else (a HASH just gets the
    /// close).
    VanishAfter(usize),
    /// Sends what DOWNLOAD asks for (the whole file or a range) with the
    /// first byte of this chunk wrong, when it is among them; answers HASH
    /// (whole or ranged) and LIST truthfully.
    LiesInChunk(usize),
}

/// A bad holder, joined to the tracker until it leaves.
pub struct BadHolder {
    addr: SocketAddr,
    session: BufReader<TcpStream>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BadHolder {
    /// Joins the tracker at `tracker` with `name` as the copy `copy` (the
    /// same type, size and date), and serves `bytes` with `fault`.
    pub fn join(
        tracker: SocketAddr,
        name: &str,
        copy: &Location,
        bytes: &'static [u8],
        fault: Fault,
    ) -> Result<BadHolder> {
        let io = |e| Error::io("the bad holder", e);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let record = FileRecord {
            name: name.to_string(),
            file_type: copy.file_type.clone(),
            size: copy.size,
            modified: copy.modified,
            ip: addr.ip(),
            port: addr.port(),
        };
        let stream = TcpStream::connect(tracker).map_err(io)?;
        stream.set_read_timeout(Some(LINE_WAIT)).map_err(io)?;
        let mut session = BufReader::new(stream);
        say(&mut session, &TrackerRequest::Hello)?;
        say(&mut session, &TrackerRequest::Records(vec![record.clone()]))?;
        // PONG after the records: the tracker has accepted the join.
        say(&mut session, &TrackerRequest::Ping)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let listed = record;
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, (&listed, bytes), fault);
                    }
                    Err(_) => thread::sleep(ACCEPT_POLL),
                }
            }
        });
        Ok(BadHolder {
            addr,
            session,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it serves its file.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Leaves the tracker with BYE and stops serving.
    pub fn leave(mut self) -> Result<()> {
        let bye = format!("{}\n", TrackerRequest::Bye.format());
        let sent = self.session.get_mut().write_all(bye.as_bytes());
        sent.map_err(|e| Error::io("the bad holder's BYE", e))
    }
}

impl Drop for BadHolder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends one line of the session; HELLO and PING wait for their answer.
fn say(session: &mut BufReader<TcpStream>, message: &TrackerRequest) -> Result<()> {
    let io = |e| Error::io("the bad holder's session", e);
    let line = format!("{}\n", message.format());
    session.get_mut().write_all(line.as_bytes()).map_err(io)?;
    let expected = match message {
        TrackerRequest::Hello => TrackerReply::Hi,
        TrackerRequest::Ping => TrackerReply::Pong,
        _ => return Ok(()),
    };
    let mut answer = String::new();
    session.read_line(&mut answer).map_err(io)?;
    match TrackerReply::parse(&answer) {
        Ok(reply) if reply == expected => Ok(()),
        _ => Err(Error::Other(format!(
            "the tracker answered the bad holder {answer:?}, not {}",
            expected.format()
        ))),
    }
}

/// One connection: a DOWNLOAD gets `FILE: ` and the bytes asked for, as
/// `fault` has them; from the liar, a HASH gets the true hash of the bytes
/// asked for, and LIST the one record; anything else just the close.
fn answer(
    stream: TcpStream,
    (record, bytes): (&FileRecord, &[u8]),
    fault: Fault,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(LINE_WAIT))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut stream = reader.into_inner();
    let asked = |request: &DownloadRequest| {
        let (start, len) = request.byte_range().unwrap_or_default();
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        (
            start,
            &bytes[start..bytes.len().min(start.saturating_add(len))],
        )
    };
    let reply = match (PeerRequest::parse(&line), fault) {
        (Ok(PeerRequest::Download(request)), Fault::VanishAfter(cut)) => {
            let (_, sent) = asked(&request);
            stream.write_all(FILE_HEADER.as_bytes())?;
            stream.write_all(&sent[..cut.min(sent.len())])?;
            None
        }
        (Ok(PeerRequest::Download(request)), Fault::LiesInChunk(chunk)) => {
            let (start, sent) = asked(&request);
            let mut sent = sent.to_vec();
            let wrong = (chunk * CHUNK_SIZE).checked_sub(start);
            if let Some(byte) = wrong.and_then(|at| sent.get_mut(at)) {
                *byte ^= 0xff;
            }
            stream.write_all(FILE_HEADER.as_bytes())?;
            stream.write_all(&sent)?;
            None
        }
        (Ok(PeerRequest::Hash(request)), Fault::LiesInChunk(_)) => {
            Some(PeerReply::Hash(sha256::digest(asked(&request).1)))
        }
        (Ok(PeerRequest::List), Fault::LiesInChunk(_)) => {
            Some(PeerReply::Files(vec![record.clone()]))
        }
        _ => None,
    };
    if let Some(reply) = reply {
        writeln!(stream, "{}", reply.format())?;
    }
    stream.flush()
}
