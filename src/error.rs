//! The one error type of the library.
//!
//! Every fallible function returns [`Result<T>`], so `?` works everywhere.
//! Each variant's message says what happened and, where the user can do
//! something about it, what to do. A network error ends the one connection
//! it happened on; the servers log it and go on.
//!
//! Why an enum and not a string: the code that meets an error sometimes
//! has to tell one kind from another (a time-out is a moment to check on a
//! silent peer; a line of another conversation gets its own answer; a peer
//! that already has a file is told so in the protocol's words), and a
//! `match` on a variant says that plainly where comparing strings would
//! break at the first rewording. An I/O error keeps the system's own error
//! as its [`source`](std::error::Error::source), for whoever wants the
//! details. The pure parsers of the protocol say why a line is wrong with
//! [`ParseError`], which becomes [`Error::Protocol`] at the socket.

use crate::wire::messages::Wire;
use crate::wire::protocol::{Invalid, ParseError};
use crate::wire::text::{quoted, within_bounds};
use std::fmt;
use std::io;
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

/// The longest [`Error::Other`] text shown whole: such a text is ours, but
/// it may quote what another node sent.
const OTHER_MAX: usize = 600;

#[derive(Debug)]
pub enum Error {
    /// The command line was wrong; the text says how.
    Usage(String),
    /// A line of the settings file is wrong.
    Settings {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// A file or socket operation failed; `context` says which one.
    Io { context: String, source: io::Error },
    /// The other end sent a line that is not a valid message.
    Protocol(ParseError),
    /// The other end sent a valid message, but not one that fits here.
    Unexpected { expected: &'static str, got: String },
    /// The other end answered `ERROR: reason`; shown as `refused: reason`.
    Remote(String),
    /// A line was longer than the reader accepts.
    LineTooLong { limit: usize },
    /// The other end closed the connection before it should have.
    Closed,
    /// A file of this name is in the served folder already: nothing that
    /// arrives ever replaces it.
    AlreadyServing(String),
    /// A file of this name is arriving right now (a second transfer of it
    /// would race with the first).
    CurrentlyReceiving(String),
    /// A peer was asked for a file it does not serve as described.
    NotServed { name: String, why: String },
    /// A request for the tracker while this peer is not joined; the text
    /// says why and what to do.
    NotJoined(String),
    // The peer's own kinds, so that code and the web page can tell who
    // failed: the user (a bad name, a conflict), nobody (an unknown name or
    // peer), or the other side.
    /// A name that cannot be a shared file's name; `reason` says which rule
    /// it breaks. The user's mistake.
    BadName { name: String, reason: String },
    /// Nobody has what was asked for: a file nobody shares, a holder that
    /// is not among the holders, a file that is not in our folder, a word
    /// that names no peer. The text says which.
    Unknown(String),
    /// The request conflicts with the rules or with the state of things
    /// (six files to announce, a file only this peer shares). The user may
    /// ask for something else.
    Conflict(String),
    /// The other side failed: it did not answer in time, stopped sending,
    /// sent more than the file, or every holder that was tried failed. The
    /// request itself was fine.
    OtherSide(String),
    /// A thread of ours panicked (a bug); its work is lost, the rest goes on.
    Panicked(String),
    /// Anything else, said in words (a file that exists already, ...).
    Other(String),
}

impl Error {
    /// Wraps an I/O error with a few words on what we were doing.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The other end sent `got`, a valid message, where `expected` was due.
    pub fn unexpected(expected: &'static str, got: &impl Wire) -> Error {
        Error::Unexpected {
            expected,
            got: got.format(),
        }
    }

    /// The one mapping of a name that breaks a rule of [`check_name`](crate::wire::protocol::check_name).
    pub fn bad_name(name: &str, reason: Invalid) -> Error {
        Error::BadName {
            name: name.to_string(),
            reason: reason.0,
        }
    }

    /// True when the error is a time-out of a socket read or write.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io { source, .. } if is_io_timeout(source))
    }
}

/// True when a socket call gave up because its time-out passed (Unix says
/// "would block", Windows "timed out").
pub(crate) fn is_io_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(text) => write!(f, "{text} (try --help)"),
            Error::Settings { file, line, reason } => {
                write!(f, "{}, line {line}: {reason}", file.display())
            }
            // The system's words for a time-out ("Resource temporarily
            // unavailable (os error 11)") do not say what happened; our own
            // time-outs already say it ("no progress for 30 s").
            Error::Io { context, source }
                if self.is_timeout() && source.raw_os_error().is_some() =>
            {
                write!(
                    f,
                    "{context}: the other end did not answer in time (the system says: {source})"
                )
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Protocol(error) => write!(f, "protocol error: {error}"),
            Error::Unexpected { expected, got } => {
                write!(f, "expected {expected}, got {}", quoted(got.as_bytes()))
            }
            // Another node's words: escaped where they are not plain text,
            // and cut after a few hundred bytes (a reply line may be 16 MiB).
            Error::Remote(reason) => write!(f, "refused: {}", within_bounds(reason)),
            Error::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Error::Closed => write!(f, "the connection was closed by the other side"),
            Error::AlreadyServing(name) => write!(f, "already serving {name}"),
            Error::CurrentlyReceiving(name) => write!(f, "currently receiving {name}"),
            Error::NotServed { name, why } => write!(f, "{name} is not served here ({why})"),
            Error::NotJoined(why) => write!(f, "{why}"),
            Error::BadName { name, reason } => write!(
                f,
                "{} cannot be a shared file's name: {reason}",
                quoted(name.as_bytes())
            ),
            Error::Unknown(text)
            | Error::Conflict(text)
            | Error::OtherSide(text)
            | Error::Other(text) => write!(f, "{}", crate::wire::text::within(text, OTHER_MAX)),
            Error::Panicked(what) => write!(
                f,
                "{what} panicked (a bug in this program); the rest goes on"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Protocol(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ParseError> for Error {
    fn from(error: ParseError) -> Error {
        Error::Protocol(error)
    }
}
