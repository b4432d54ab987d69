//! The demo's vanishing holder: a peer that joins the tracker with one
//! file, and, asked for it, sends the first part and is gone. It shows a
//! download cut off part-way, and resumed from another holder.
//!
//! It lives outside the settings file, on a free port, and uses the same
//! message types as every node, but not the log: it is the other side,
//! seen through the tracker's and the peer's traces. It answers nothing
//! but DOWNLOAD: any other request just gets the connection closed.

use crate::error::{Error, Result};
use crate::wire::messages::{PeerRequest, TrackerReply, TrackerRequest, Wire};
use crate::wire::protocol::{FileRecord, Location, FILE_HEADER};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accept loop looks whether it must stop.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// How long the vanisher waits for a line.
const LINE_WAIT: Duration = Duration::from_secs(5);

/// The vanishing holder, joined to the tracker until it leaves.
pub struct Vanisher {
    session: BufReader<TcpStream>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Vanisher {
    /// Joins the tracker at `tracker` with `name` as the copy `copy` (the
    /// same type, size and date), and serves the first `cut` bytes of
    /// `bytes` to each DOWNLOAD.
    pub fn join(
        tracker: SocketAddr,
        name: &str,
        copy: &Location,
        bytes: &'static [u8],
        cut: usize,
    ) -> Result<Vanisher> {
        let io = |e| Error::io("the vanishing holder", e);
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
        say(&mut session, &TrackerRequest::Records(vec![record]))?;
        // PONG after the records: the tracker has accepted the join.
        say(&mut session, &TrackerRequest::Ping)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let sent = &bytes[..cut.min(bytes.len())];
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, sent);
                    }
                    Err(_) => thread::sleep(ACCEPT_POLL),
                }
            }
        });
        Ok(Vanisher {
            session,
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the tracker with BYE and stops serving.
    pub fn leave(mut self) -> Result<()> {
        let bye = format!("{}\n", TrackerRequest::Bye.format());
        let sent = self.session.get_mut().write_all(bye.as_bytes());
        sent.map_err(|e| Error::io("the vanishing holder's BYE", e))
    }
}

impl Drop for Vanisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends one line of the session; HELLO and PING wait for their answer.
fn say(session: &mut BufReader<TcpStream>, message: &TrackerRequest) -> Result<()> {
    let io = |e| Error::io("the vanishing holder's session", e);
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
            "the tracker answered the vanishing holder {answer:?}, not {}",
            expected.format()
        ))),
    }
}

/// One connection: DOWNLOAD gets `FILE: ` and the first bytes, then the
/// close; anything else just the close.
fn answer(stream: TcpStream, sent: &[u8]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(LINE_WAIT))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut stream = reader.into_inner();
    if let Ok(PeerRequest::Download(_)) = PeerRequest::parse(&line) {
        stream.write_all(FILE_HEADER.as_bytes())?;
        stream.write_all(sent)?;
        stream.flush()?;
    }
    Ok(())
}
