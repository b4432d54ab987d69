//! Who sends what: one message type per conversation.
//!
//! The protocol has two conversations, each with two directions:
//!
//! | type | sent by | to | lines |
//! |---|---|---|---|
//! | [`TrackerRequest`] | a peer | the tracker | `HELLO`, records, `SEARCH:`, `FIND:`, `LIST`, `PING`, `BYE` |
//! | [`TrackerReply`] | the tracker | a peer | `HI`, `FOUND:`, `NOT FOUND`, `FILES:`, `PONG`, `ERROR:` |
//! | [`PeerRequest`] | a peer | another peer | `DOWNLOAD:`, `HASH:`, `LIST`, `UPLOAD:`, `PING` |
//! | [`PeerReply`] | that peer | the asking peer | `FILES:`, `HASH:`, `READY`, `DONE`, `PONG`, `ERROR:` |
//!
//! (`FILE: ` and a file's bytes are not a line: [`crate::wire::connection`]
//! handles them.) With one type per direction, a receiver matches only the
//! lines it can get, and the compiler checks that it answers each one: the
//! tracker cannot be handed a `READY`, and a peer's server has no arm for
//! `HI`. A line that belongs to another conversation is a [`ParseError`]
//! that says who takes it.
//!
//! The grammar of a line (keywords, records, fields) is written once, in
//! [`Message`]; each type here parses a line with it and keeps the
//! messages of its own conversation. Tools that must read any line at all,
//! whoever sent it (the protocol checker), use [`Message`] directly.

use super::protocol::{DownloadRequest, FileRecord, FileSpec, Location, Message, ParseError};
use super::sha256::Digest;

/// A message type of one conversation: parsed from a line and written
/// back as one through [`Message`], which knows the grammar.
pub trait Wire: Sized {
    /// Parses one line (without its line ending); a line of another
    /// conversation is an error.
    fn parse(line: &str) -> Result<Self, ParseError>;

    /// The same message as a [`Message`] (of any conversation).
    fn message(&self) -> Message;

    /// The line for this message, without the line ending.
    fn format(&self) -> String {
        self.message().format()
    }

    /// The keyword, for log lines and error replies.
    fn keyword(&self) -> &'static str {
        self.message().keyword()
    }
}

/// Any line of the protocol, whoever sends it: the servers' `ERROR: busy`
/// (sent before anyone knows what the connection is for) and tools that
/// read every line use it.
impl Wire for Message {
    fn parse(line: &str) -> Result<Message, ParseError> {
        Message::parse(line)
    }

    fn message(&self) -> Message {
        self.clone()
    }
}

/// The error for a line of another conversation.
fn elsewhere(other: Message, receiver: &'static str, takes: &'static str) -> ParseError {
    ParseError::OtherConversation {
        keyword: other.keyword(),
        receiver,
        takes,
    }
}

/// What a peer sends the tracker on its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerRequest {
    /// `HELLO`: opens the session.
    Hello,
    /// `<name, type, size, DD/MM/YY, ip, port> ...`: the files it shares.
    Records(Vec<FileRecord>),
    /// `SEARCH: name`: who has this file?
    Search(String),
    /// `LIST` (extension): every record the tracker holds.
    List,
    /// `PING` (extension): the heartbeat.
    Ping,
    /// `BYE`: the peer leaves.
    Bye,
    /// `FIND: word ...` (extension): every announced file whose name holds
    /// each word, in any case. Answered `FILES:` or `NOT FOUND`.
    Find(Vec<String>),
}

impl Wire for TrackerRequest {
    fn parse(line: &str) -> Result<TrackerRequest, ParseError> {
        match Message::parse(line)? {
            Message::Hello => Ok(TrackerRequest::Hello),
            Message::Records(records) => Ok(TrackerRequest::Records(records)),
            Message::Search(name) => Ok(TrackerRequest::Search(name)),
            Message::List => Ok(TrackerRequest::List),
            Message::Ping => Ok(TrackerRequest::Ping),
            Message::Bye => Ok(TrackerRequest::Bye),
            Message::Find(words) => Ok(TrackerRequest::Find(words)),
            other => Err(elsewhere(
                other,
                "the tracker",
                "HELLO, records, SEARCH, FIND, LIST, PING, BYE",
            )),
        }
    }

    fn message(&self) -> Message {
        match self {
            TrackerRequest::Hello => Message::Hello,
            TrackerRequest::Records(records) => Message::Records(records.clone()),
            TrackerRequest::Search(name) => Message::Search(name.clone()),
            TrackerRequest::List => Message::List,
            TrackerRequest::Ping => Message::Ping,
            TrackerRequest::Bye => Message::Bye,
            TrackerRequest::Find(words) => Message::Find(words.clone()),
        }
    }
}

/// What the tracker answers a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerReply {
    /// `HI`: the answer to `HELLO`.
    Hi,
    /// `FOUND: <type, size, DD/MM/YY, ip, port> ...`: these peers have it.
    Found(Vec<Location>),
    /// `NOT FOUND`: nobody has it.
    NotFound,
    /// `FILES: <...> ...` (extension): the answer to `LIST`.
    Files(Vec<FileRecord>),
    /// `PONG` (extension): the answer to `PING`.
    Pong,
    /// `ERROR: reason`: a line the tracker could not serve (or, with
    /// `--explain`, why it refused a join).
    Error(String),
}

impl Wire for TrackerReply {
    fn parse(line: &str) -> Result<TrackerReply, ParseError> {
        match Message::parse(line)? {
            Message::Hi => Ok(TrackerReply::Hi),
            Message::Found(locations) => Ok(TrackerReply::Found(locations)),
            Message::NotFound => Ok(TrackerReply::NotFound),
            Message::Files(records) => Ok(TrackerReply::Files(records)),
            Message::Pong => Ok(TrackerReply::Pong),
            Message::Error(reason) => Ok(TrackerReply::Error(reason)),
            other => Err(elsewhere(
                other,
                "a peer asking the tracker",
                "HI, FOUND, NOT FOUND, FILES, PONG, ERROR",
            )),
        }
    }

    fn message(&self) -> Message {
        match self {
            TrackerReply::Hi => Message::Hi,
            TrackerReply::Found(locations) => Message::Found(locations.clone()),
            TrackerReply::NotFound => Message::NotFound,
            TrackerReply::Files(records) => Message::Files(records.clone()),
            TrackerReply::Pong => Message::Pong,
            TrackerReply::Error(reason) => Message::Error(reason.clone()),
        }
    }
}

/// What a peer asks another peer, one request per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRequest {
    /// `DOWNLOAD: name, type, size [, first, count]`.
    Download(DownloadRequest),
    /// `LIST` (extension): which files do you serve?
    List,
    /// `UPLOAD: name, type, size` (extension): may I send you this file?
    Upload(FileSpec),
    /// `PING` (extension): are you there?
    Ping,
    /// `HASH: name, type, size [, first, count]` (extension): the SHA-256
    /// of the file, or of the range a ranged `DOWNLOAD` would send.
    Hash(DownloadRequest),
}

impl Wire for PeerRequest {
    fn parse(line: &str) -> Result<PeerRequest, ParseError> {
        match Message::parse(line)? {
            Message::Download(request) => Ok(PeerRequest::Download(request)),
            Message::List => Ok(PeerRequest::List),
            Message::Upload(file) => Ok(PeerRequest::Upload(file)),
            Message::Ping => Ok(PeerRequest::Ping),
            Message::Hash(request) => Ok(PeerRequest::Hash(request)),
            other => Err(elsewhere(
                other,
                "a peer",
                "DOWNLOAD, HASH, LIST, UPLOAD or PING",
            )),
        }
    }

    fn message(&self) -> Message {
        match self {
            PeerRequest::Download(request) => Message::Download(request.clone()),
            PeerRequest::List => Message::List,
            PeerRequest::Upload(file) => Message::Upload(file.clone()),
            PeerRequest::Ping => Message::Ping,
            PeerRequest::Hash(request) => Message::Hash(request.clone()),
        }
    }
}

/// What a peer answers (besides `FILE: ` and a file's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerReply {
    /// `FILES: <...> ...` (extension): the answer to `LIST`.
    Files(Vec<FileRecord>),
    /// `READY` (extension): send the file you offered.
    Ready,
    /// `DONE` (extension): the uploaded file is whole and in place.
    Done,
    /// `PONG` (extension): the answer to `PING`.
    Pong,
    /// `ERROR: reason`: the request was refused, and why.
    Error(String),
    /// `HASH: <64 hex digits>` (extension): the answer to `HASH`.
    Hash(Digest),
}

impl Wire for PeerReply {
    fn parse(line: &str) -> Result<PeerReply, ParseError> {
        match Message::parse(line)? {
            Message::Files(records) => Ok(PeerReply::Files(records)),
            Message::Ready => Ok(PeerReply::Ready),
            Message::Done => Ok(PeerReply::Done),
            Message::Pong => Ok(PeerReply::Pong),
            Message::Error(reason) => Ok(PeerReply::Error(reason)),
            Message::Hashed(digest) => Ok(PeerReply::Hash(digest)),
            other => Err(elsewhere(
                other,
                "a peer asking a peer",
                "FILES, HASH, READY, DONE, PONG, ERROR",
            )),
        }
    }

    fn message(&self) -> Message {
        match self {
            PeerReply::Files(records) => Message::Files(records.clone()),
            PeerReply::Ready => Message::Ready,
            PeerReply::Done => Message::Done,
            PeerReply::Pong => Message::Pong,
            PeerReply::Error(reason) => Message::Error(reason.clone()),
            PeerReply::Hash(digest) => Message::Hashed(*digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PeerReply, PeerRequest, TrackerReply, TrackerRequest, Wire};
    use crate::wire::protocol::tests::every_kind_of_message;

    /// Every message of the protocol belongs to at least one conversation,
    /// and reads back the same through it; lines of other conversations
    /// are refused, naming what the receiver takes.
    #[test]
    fn every_message_belongs_to_a_conversation_and_round_trips() {
        for message in every_kind_of_message() {
            let line = message.format();
            let readings = [
                TrackerRequest::parse(&line).map(|m| m.format()),
                TrackerReply::parse(&line).map(|m| m.format()),
                PeerRequest::parse(&line).map(|m| m.format()),
                PeerReply::parse(&line).map(|m| m.format()),
            ];
            let taken: Vec<&String> = readings.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert!(!taken.is_empty(), "{line:?} belongs to no conversation");
            assert!(taken.iter().all(|back| **back == line), "{line:?}");
        }
    }

    #[test]
    fn a_line_of_another_conversation_says_who_takes_what() {
        let error = TrackerRequest::parse("READY").unwrap_err().to_string();
        assert_eq!(
            error,
            "the tracker does not take READY (it takes HELLO, records, SEARCH, FIND, LIST, PING, BYE)"
        );
        let error = PeerRequest::parse("HELLO").unwrap_err().to_string();
        assert!(
            error.contains("it takes DOWNLOAD, HASH, LIST, UPLOAD or PING"),
            "{error}"
        );
        assert_eq!(TrackerRequest::parse("PING"), Ok(TrackerRequest::Ping));
        assert_eq!(PeerReply::parse("DONE"), Ok(PeerReply::Done));
        assert_eq!(TrackerReply::parse("NOT FOUND"), Ok(TrackerReply::NotFound));
        assert_eq!(TrackerRequest::parse("BYE").unwrap().keyword(), "BYE");
    }
}
