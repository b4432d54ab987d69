//! The thread of one connection to the tracker. It opens the session
//! (connect, `HELLO`, `HI`, the records, `PING`), which can take seconds
//! when the tracker is slow or mute, so the session thread never waits
//! for it. Then it stays on as the connection's reader: it passes each
//! line to the session thread as an event, until the connection ends.

use super::{Event, GREETING_WAIT};
use crate::error::{Error, Result};
use crate::log::Log;
use crate::wire::connection::{Closer, Connection, Wait};
use crate::wire::messages::{TrackerReply, TrackerRequest};
use crate::wire::protocol::FileRecord;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::SyncSender;
use std::thread;
use std::time::Instant;

/// What a connection's thread tells the session thread, in this order:
/// `Connected`, then `Greeted` or `Failed`; after `Greeted`, any number of
/// `Line`s, then `Closed`.
pub(super) enum News {
    /// Connected: `closer` ends the connection from the session thread
    /// (a `quit` while the tracker has not answered yet).
    Connected { closer: Closer },
    /// `HI` came, and the records (and `PING`) went out. From now on the
    /// session thread is the only writer.
    Greeted {
        /// Boxed: a connection is large, and every event would be as large.
        writer: Box<Connection>,
        /// Where the tracker sees our connection come from.
        seen_as: Option<IpAddr>,
    },
    /// The session could not be opened.
    Failed { error: Error },
    /// The tracker sent a line.
    Line { line: Result<TrackerReply> },
    /// The connection has ended.
    Closed,
}

/// One try to open a session with the tracker.
pub(super) struct Opening {
    pub tracker: SocketAddr,
    pub log: Log,
    pub records: Vec<FileRecord>,
    /// Whether a `PING` follows the records.
    pub ping: bool,
    /// Tells this connection's events from those of an older one.
    pub number: u64,
    pub events: SyncSender<Event>,
}

impl Opening {
    /// Starts the connection's thread.
    pub fn start(self) -> Result<()> {
        thread::Builder::new()
            .name("tracker connection".into())
            .spawn(move || self.run())
            .map(drop)
            .map_err(|e| Error::io("starting the tracker connection thread", e))
    }

    fn run(self) {
        match self.open() {
            Ok(Some(connection)) => self.read_lines(connection),
            // The session has ended: nobody to tell.
            Ok(None) => {}
            Err(error) => {
                self.tell(News::Failed { error });
            }
        }
    }

    /// Passes `news` on; false once the session thread has ended.
    fn tell(&self, news: News) -> bool {
        let event = Event::From {
            connection: self.number,
            news,
        };
        self.events.send(event).is_ok()
    }

    /// Connects, says HELLO, reads HI, sends the records (and PING).
    /// Returns the connection to read from, or `None` when the session
    /// thread has ended meanwhile.
    fn open(&self) -> Result<Option<Connection>> {
        let mut connection = Connection::connect(self.tracker, &self.log)?;
        if !self.tell(News::Connected {
            closer: connection.closer(),
        }) {
            return Ok(None);
        }
        connection
            .send(&TrackerRequest::Hello)
            .map_err(greeting_error)?;
        let deadline = Instant::now() + GREETING_WAIT;
        match connection.receive(Wait::Until(deadline)) {
            Ok(Some(TrackerReply::Hi)) => {}
            Ok(Some(TrackerReply::Error(reason))) => return Err(Error::Remote(reason)),
            Ok(Some(other)) => return Err(Error::unexpected("HI", &other)),
            Ok(None) => return Err(greeting_error(Error::Closed)),
            Err(error) => return Err(greeting_error(error)),
        }
        let seen_as = connection.local_addr().ok().map(|a| a.ip().to_canonical());
        let mut writer = connection.writing_half();
        writer.send(&TrackerRequest::Records(self.records.clone()))?;
        if self.ping {
            // The tracker answers PING only once it accepted our records.
            writer.send(&TrackerRequest::Ping)?;
        }
        Ok(self
            .tell(News::Greeted {
                writer: Box::new(writer),
                seen_as,
            })
            .then_some(connection))
    }

    /// Reads the tracker's lines and passes them on, until the connection
    /// or the session ends. Waiting for room in the session's queue is what
    /// holds back a tracker that sends faster than the session reacts.
    fn read_lines(&self, mut connection: Connection) {
        loop {
            let line = match connection.receive(Wait::Forever) {
                Ok(Some(message)) => Ok(message),
                // A line we cannot read answers a request with an error;
                // the session itself goes on.
                Err(error @ Error::Protocol(_)) => Err(error),
                Ok(None) | Err(_) => {
                    self.tell(News::Closed);
                    return;
                }
            };
            if !self.tell(News::Line { line }) {
                return; // the session has ended
            }
        }
    }
}

/// What a failed greeting says: the same words however the system tells
/// a close (end of file, a reset, a broken pipe), so that a tracker that
/// closes at every try is reported once.
fn greeting_error(error: Error) -> Error {
    let closed = match &error {
        Error::Closed => true,
        Error::Io { source, .. } => matches!(
            source.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    };
    if closed {
        Error::OtherSide("it closed the connection without answering HELLO".into())
    } else if error.is_timeout() {
        Error::OtherSide(format!(
            "it did not answer HELLO with HI within {} s",
            GREETING_WAIT.as_secs()
        ))
    } else {
        error
    }
}
