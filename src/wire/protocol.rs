//! The wire protocol as types: every line a tracker or peer can send.
//!
//! This module only turns text into [`Message`] values ([`Message::parse`])
//! and values back into text ([`Message::format`]). It does no I/O at all, so
//! every rule of the protocol can be unit-tested without a socket, and the
//! rest of the program never builds a protocol line by hand.
//!
//! A message is one line of UTF-8 text; the line ending (`\n`, or `\r\n`) is
//! the job of [`crate::wire::connection`], which also handles the one thing that is
//! not a line: the raw file bytes that follow [`FILE_HEADER`].

use crate::wire::date::Date;
pub use crate::wire::names::{check_name, type_of, MAX_NAME_LEN, NO_EXTENSION_TYPE};
use crate::wire::sha256::{self, Digest};
use fields::{
    format_ranged, parse_file_record, parse_find, parse_hash, parse_location, parse_ranged,
    parse_records, parse_spec, split_fields,
};
use std::fmt::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// Written right before the raw bytes of a file (or of a range of it).
/// It has no line ending: the bytes follow at once, and the reader knows how
/// many to expect from the request.
pub const FILE_HEADER: &str = "FILE: ";

/// Files travel in chunks of this many bytes: read 100 bytes, send 100
/// bytes. The number comes from the peer-settings system, and ranged
/// `DOWNLOAD`s count in these chunks. It does not make transfers slow: see
/// [`crate::wire::connection::IO_BUFFER_SIZE`].
pub const CHUNK_SIZE: usize = 100;

/// The most records one peer may announce when it joins the tracker.
pub const MAX_RECORDS_PER_JOIN: usize = 5;

/// The most records one `FIND` answer carries (extension): a one-letter
/// word matches nearly everything, and the answer is one line.
pub const MAX_FIND_RECORDS: usize = 50;

/// One message of the protocol. The comments give the line as it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `HELLO`: a peer opens its session with the tracker.
    Hello,
    /// `HI`: the tracker's answer to `HELLO`.
    Hi,
    /// `<name, type, size, DD/MM/YY, ip, port> <...>`: the files a peer shares.
    Records(Vec<FileRecord>),
    /// `SEARCH: name`: who has this file?
    Search(String),
    /// `FOUND: <type, size, DD/MM/YY, ip, port> <...>`: these peers have it.
    Found(Vec<Location>),
    /// `NOT FOUND`: nobody has it.
    NotFound,
    /// `BYE`: a peer leaves the tracker.
    Bye,
    /// `ERROR: reason`: a request could not be served.
    Error(String),
    /// `DOWNLOAD: name, type, size` or, ranged, `DOWNLOAD: name, type, size, first, count`.
    Download(DownloadRequest),
    /// `LIST` (extension): which files do you have?
    List,
    /// `FILES: <name, type, size, DD/MM/YY, ip, port> ...` (extension): the answer to `LIST`.
    Files(Vec<FileRecord>),
    /// `UPLOAD: name, type, size` (extension): may I send you this file?
    Upload(FileSpec),
    /// `READY` (extension): yes, send it (as `FILE: ` and the bytes).
    Ready,
    /// `DONE` (extension): the uploaded file is whole and in place.
    Done,
    /// `PING` (extension): are you there?
    Ping,
    /// `PONG` (extension): yes.
    Pong,
    /// `HASH: name, type, size` or `HASH: name, type, size, first, count`
    /// (extension): the SHA-256 of the file, or of the same range a ranged
    /// `DOWNLOAD` would send.
    Hash(DownloadRequest),
    /// `HASH: <64 hex digits>` (extension): the answer to a `HASH` request.
    Hashed(Digest),
    /// `FIND: word ...` (extension): which announced files have every word
    /// in their name (any case)? Answered `FILES:` or `NOT FOUND`.
    Find(Vec<String>),
}

/// Which file a `DOWNLOAD` or `UPLOAD` is about: the three fields that must
/// all match before a peer sends or accepts a single byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileSpec {
    pub name: String,
    /// The protocol's *type* field: the name's extension (`txt`), or
    /// `none` (`type` itself is a Rust keyword).
    pub file_type: String,
    pub size: u64,
}

/// A `DOWNLOAD` request: the whole file, or a range of its 100-byte chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    pub file: FileSpec,
    pub range: Option<ChunkRange>,
}

/// A run of chunks: `count` chunks starting with chunk number `first`
/// (chunk `i` holds bytes `i * 100 .. (i + 1) * 100` of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub first: u64,
    pub count: u64,
}

impl Location {
    /// Where this copy is served.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl ChunkRange {
    /// The bytes this range covers in a file of `file_size` bytes, as
    /// `(offset, length)`: clipped at the end of the file. `None` when the
    /// range starts at or past the end (there is nothing to send).
    pub fn byte_range(&self, file_size: u64) -> Option<(u64, u64)> {
        let chunk = CHUNK_SIZE as u64;
        let start = self
            .first
            .checked_mul(chunk)
            .filter(|&start| start < file_size)?;
        let end = self
            .first
            .saturating_add(self.count)
            .saturating_mul(chunk)
            .min(file_size);
        Some((start, end - start))
    }
}

impl FileSpec {
    /// The rule that a file's type is the one its name gives
    /// ([`type_of`]): checked before a peer sends or accepts a byte.
    pub fn check_type(&self) -> Result<(), Invalid> {
        let by_name = type_of(&self.name);
        if by_name == self.file_type {
            Ok(())
        } else {
            Err(Invalid(format!(
                "the type of {} is {by_name}, not {}",
                self.name, self.file_type
            )))
        }
    }
}

impl DownloadRequest {
    /// The bytes this request asks for, as `(offset, length)`; `None` for
    /// a range past the end of the file.
    pub fn byte_range(&self) -> Option<(u64, u64)> {
        match self.range {
            None => Some((0, self.file.size)),
            Some(range) => range.byte_range(self.file.size),
        }
    }
}

/// What a peer tells the tracker about one of its files (6 fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub name: String,
    pub file_type: String,
    pub size: u64,
    pub modified: Date,
    pub ip: IpAddr,
    pub port: u16,
}

/// Where a file can be downloaded, as the tracker answers a search (5 fields:
/// the name is the search key, so it is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file_type: String,
    pub size: u64,
    pub modified: Date,
    pub ip: IpAddr,
    pub port: u16,
}

impl FileRecord {
    /// Where this file is served.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The record without its name, as it goes into a `FOUND:` line.
    pub fn location(&self) -> Location {
        Location {
            file_type: self.file_type.clone(),
            size: self.size,
            modified: self.modified,
            ip: self.ip,
            port: self.port,
        }
    }

    /// The record as a listing shows it (a peer's `list`, the tracker's
    /// `discover`): `  notes.txt  txt, 986 bytes, 22/11/26`.
    pub fn listing_line(&self) -> String {
        format!(
            "  {}  {}, {} bytes, {}",
            self.name, self.file_type, self.size, self.modified
        )
    }

    /// The fields a `DOWNLOAD` of this file must carry.
    pub fn spec(&self) -> FileSpec {
        FileSpec {
            name: self.name.clone(),
            file_type: self.file_type.clone(),
            size: self.size,
        }
    }
}

/// Why a line is not a valid message. Each variant says what was wrong, so
/// that an `ERROR:` reply can tell the sender how to fix its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line is empty (or only white space).
    Empty,
    /// The line is not valid UTF-8 text.
    NotText,
    /// The line starts with no keyword we know.
    UnknownCommand(String),
    /// A keyword we know, with something wrong after it.
    BadArgument {
        command: &'static str,
        reason: String,
    },
    /// A `<...>` record that is not well formed.
    BadRecord(String),
    /// A valid line, of another conversation than the receiver's (a
    /// `READY` sent to the tracker): see [`crate::wire::messages`].
    OtherConversation {
        keyword: &'static str,
        /// Who got it: "the tracker", "a peer".
        receiver: &'static str,
        /// The keywords the receiver takes.
        takes: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty line"),
            ParseError::NotText => write!(f, "the line is not UTF-8 text"),
            ParseError::UnknownCommand(word) => write!(f, "unknown command {word:?}"),
            ParseError::BadArgument { command, reason } => write!(f, "bad {command}: {reason}"),
            ParseError::BadRecord(reason) => write!(f, "bad record: {reason}"),
            ParseError::OtherConversation {
                keyword,
                receiver,
                takes,
            } => write!(f, "{receiver} does not take {keyword} (it takes {takes})"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why one field breaks a rule of the protocol (a name with a `/`, a size
/// that is not a number, ...), in words that can go into an `ERROR:` reply
/// or a warning. [`ParseError`] carries it for a whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Invalid> for String {
    fn from(Invalid(reason): Invalid) -> String {
        reason
    }
}

impl Message {
    /// Parses one line as it came off the wire: it must be UTF-8 text.
    pub fn parse_bytes(line: &[u8]) -> Result<Message, ParseError> {
        let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
        Message::parse(text)
    }

    /// Parses one line (without its line ending). Never panics, whatever the
    /// input: every problem is a [`ParseError`].
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let line = line.trim();
        // Keywords that stand alone on their line.
        let bare = match line {
            "" => return Err(ParseError::Empty),
            "HELLO" => Some(Message::Hello),
            "HI" => Some(Message::Hi),
            "NOT FOUND" => Some(Message::NotFound),
            "BYE" => Some(Message::Bye),
            "LIST" => Some(Message::List),
            "READY" => Some(Message::Ready),
            "DONE" => Some(Message::Done),
            "PING" => Some(Message::Ping),
            "PONG" => Some(Message::Pong),
            _ => None,
        };
        if let Some(message) = bare {
            return Ok(message);
        }
        if line.starts_with('<') {
            return Ok(Message::Records(parse_records(line, parse_file_record)?));
        }
        // Everything else is `KEYWORD: arguments`.
        let Some((keyword, rest)) = line.split_once(':') else {
            return Err(unknown(line));
        };
        let rest = rest.trim();
        match keyword {
            "SEARCH" => {
                check_name(rest).map_err(|reason| bad("SEARCH", reason))?;
                Ok(Message::Search(rest.to_string()))
            }
            "FOUND" => {
                let locations = parse_records(rest, parse_location)?;
                if locations.is_empty() {
                    return Err(bad("FOUND", "no records (that is NOT FOUND)"));
                }
                Ok(Message::Found(locations))
            }
            "ERROR" => Ok(Message::Error(rest.to_string())),
            "DOWNLOAD" => Ok(Message::Download(parse_ranged("DOWNLOAD", rest)?)),
            "HASH" => parse_hash(rest),
            "FIND" => parse_find(rest),
            "FILES" => Ok(Message::Files(parse_records(rest, parse_file_record)?)),
            "UPLOAD" => {
                let fields = split_fields(rest);
                match fields.as_slice() {
                    [name, file_type, size] => Ok(Message::Upload(parse_spec(
                        "UPLOAD", name, file_type, size,
                    )?)),
                    _ => Err(bad("UPLOAD", "expected `name, type, size`")),
                }
            }
            _ => Err(unknown(line)),
        }
    }

    /// The line for this message, without the line ending.
    pub fn format(&self) -> String {
        match self {
            Message::Hello => "HELLO".to_string(),
            Message::Hi => "HI".to_string(),
            Message::Records(records) => with_records("", records),
            Message::Search(name) => format!("SEARCH: {name}"),
            Message::Found(locations) => with_records("FOUND: ", locations),
            Message::NotFound => "NOT FOUND".to_string(),
            Message::Bye => "BYE".to_string(),
            Message::Error(reason) => format!("ERROR: {reason}"),
            Message::Download(request) => format_ranged("DOWNLOAD", request),
            Message::List => "LIST".to_string(),
            // "FILES:" alone when the list is empty, with no trailing space.
            Message::Files(records) if records.is_empty() => "FILES:".to_string(),
            Message::Files(records) => with_records("FILES: ", records),
            Message::Upload(file) => {
                format!("UPLOAD: {}, {}, {}", file.name, file.file_type, file.size)
            }
            Message::Ready => "READY".to_string(),
            Message::Done => "DONE".to_string(),
            Message::Ping => "PING".to_string(),
            Message::Pong => "PONG".to_string(),
            Message::Hash(request) => format_ranged("HASH", request),
            Message::Hashed(digest) => format!("HASH: {}", sha256::to_hex(digest)),
            Message::Find(words) => format!("FIND: {}", words.join(" ")),
        }
    }

    /// The keyword of this message, for log lines and error replies.
    pub fn keyword(&self) -> &'static str {
        match self {
            Message::Hello => "HELLO",
            Message::Hi => "HI",
            Message::Records(_) => "records",
            Message::Search(_) => "SEARCH",
            Message::Found(_) => "FOUND",
            Message::NotFound => "NOT FOUND",
            Message::Bye => "BYE",
            Message::Error(_) => "ERROR",
            Message::Download(_) => "DOWNLOAD",
            Message::List => "LIST",
            Message::Files(_) => "FILES",
            Message::Upload(_) => "UPLOAD",
            Message::Ready => "READY",
            Message::Done => "DONE",
            Message::Ping => "PING",
            Message::Pong => "PONG",
            Message::Hash(_) | Message::Hashed(_) => "HASH",
            Message::Find(_) => "FIND",
        }
    }
}

/// The keywords that stand alone on their line.
const BARE_KEYWORDS: [&str; 9] = [
    "HELLO",
    "HI",
    "NOT FOUND",
    "BYE",
    "LIST",
    "READY",
    "DONE",
    "PING",
    "PONG",
];

/// The keywords followed by a colon and their arguments.
const COLON_KEYWORDS: [&str; 8] = [
    "SEARCH", "FOUND", "ERROR", "DOWNLOAD", "FILES", "UPLOAD", "HASH", "FIND",
];

/// The error for a line that is no message. A known keyword written
/// slightly wrong (`SEARCH notes.txt`, `LIST extra`) says what is wrong
/// with it, not just "unknown": that is the mistake people make by hand.
fn unknown(line: &str) -> ParseError {
    let first = line.split_whitespace().next().unwrap_or("");
    if let Some(keyword) = COLON_KEYWORDS.iter().find(|k| **k == first) {
        return bad(
            keyword,
            format!("a colon must follow {keyword}: write `{keyword}: ...`"),
        );
    }
    let bare = |keyword: &&&str| match keyword.split_once(' ') {
        // `NOT FOUND` is two words.
        Some(_) => line.starts_with(**keyword),
        None => first == **keyword,
    };
    if let Some(keyword) = BARE_KEYWORDS.iter().find(bare) {
        return bad(
            keyword,
            format!("{keyword} stands alone on its line: it takes no argument"),
        );
    }
    if let Some(error) = wrong_case(line, first) {
        return error;
    }
    // Quote only the start of the line: it may be long, and it goes back to
    // the sender in an ERROR reply.
    let word: String = first.chars().take(20).collect();
    ParseError::UnknownCommand(word)
}

/// A known keyword written in lower or mixed case (`download: x`,
/// `Search: x`, `hello`): keywords are upper case, and the hint says how
/// the line starts instead.
fn wrong_case(line: &str, first: &str) -> Option<ParseError> {
    let upper = first.trim_end_matches(':').to_ascii_uppercase();
    if upper == first.trim_end_matches(':') {
        return None;
    }
    if let Some(keyword) = COLON_KEYWORDS.iter().find(|k| **k == upper) {
        let hint = format!("keywords are upper case: write `{keyword}: ...`");
        return Some(bad(keyword, hint));
    }
    let line = line.to_ascii_uppercase();
    let keyword = BARE_KEYWORDS.iter().find(|k| match k.split_once(' ') {
        Some(_) => line.starts_with(**k),
        None => **k == upper,
    })?;
    let hint = format!("keywords are upper case: write `{keyword}`");
    Some(bad(keyword, hint))
}

fn bad(command: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::BadArgument {
        command,
        reason: reason.into(),
    }
}

impl fmt::Display for FileRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}, {}, {}, {}, {}, {}>",
            self.name, self.file_type, self.size, self.modified, self.ip, self.port
        )
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}, {}, {}, {}, {}>",
            self.file_type, self.size, self.modified, self.ip, self.port
        )
    }
}

/// A record's usual length on the wire, to size a line once.
const RECORD_LENGTH_GUESS: usize = 64;

/// `start`, then the records separated by one space, as the protocol
/// writes them. All of it goes into one string, with no string per record:
/// the tracker builds a `FOUND:` line for every SEARCH.
fn with_records<T: fmt::Display>(start: &str, records: &[T]) -> String {
    let mut line = String::with_capacity(start.len() + records.len() * RECORD_LENGTH_GUESS);
    line.push_str(start);
    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            line.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(line, "{record}");
    }
    line
}

mod fields;
#[cfg(test)]
pub(crate) mod tests;
