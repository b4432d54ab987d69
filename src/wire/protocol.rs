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
use crate::wire::sha256::{self, Digest};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

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

/// The longest file name (in bytes) the protocol accepts, as most file
/// systems do.
pub const MAX_NAME_LEN: usize = 255;

/// The type given to a file whose name has no extension (`README`).
pub const NO_EXTENSION_TYPE: &str = "none";

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
            Message::Records(records) => join_records(records),
            Message::Search(name) => format!("SEARCH: {name}"),
            Message::Found(locations) => format!("FOUND: {}", join_records(locations)),
            Message::NotFound => "NOT FOUND".to_string(),
            Message::Bye => "BYE".to_string(),
            Message::Error(reason) => format!("ERROR: {reason}"),
            Message::Download(request) => format_ranged("DOWNLOAD", request),
            Message::List => "LIST".to_string(),
            // "FILES:" alone when the list is empty, with no trailing space.
            Message::Files(records) if records.is_empty() => "FILES:".to_string(),
            Message::Files(records) => format!("FILES: {}", join_records(records)),
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
    // Quote only the start of the line: it may be long, and it goes back to
    // the sender in an ERROR reply.
    let word: String = first.chars().take(20).collect();
    ParseError::UnknownCommand(word)
}

fn bad(command: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::BadArgument {
        command,
        reason: reason.into(),
    }
}

/// Checks that `name` can be shared: it can be written inside a record, and
/// it names a file directly in the served folder, never a path.
///
/// The same rule serves the peer that lists its folder, the tracker that
/// reads records and the peer that answers `DOWNLOAD`/`UPLOAD`, so a name
/// that passes here is safe to join to the served folder's path.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid("the name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Invalid(format!(
            "the name is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    // Any kind of space, not only ' ': readers trim every kind of white
    // space around a field, and the name must read back the same.
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(Invalid("the name starts or ends with a space".into()));
    }
    if name
        .chars()
        .any(|c| matches!(c, '<' | '>' | ',') || c.is_control())
    {
        return Err(Invalid(
            "the name holds '<', '>', ',' or a control character".into(),
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(Invalid("the name holds a path separator".into()));
    }
    // This also refuses "." and "..", and keeps temporary files private.
    if name.starts_with('.') {
        return Err(Invalid(
            "the name starts with '.' (hidden files are not shared)".into(),
        ));
    }
    Ok(())
}

/// The type field for a file name: its extension without the dot, or
/// [`NO_EXTENSION_TYPE`] when it has none, or one that cannot stand in a
/// record (`notes. txt` would be read back as `txt`).
pub fn type_of(name: &str) -> String {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(extension) if check_file_type(extension).is_ok() => extension.to_string(),
        _ => NO_EXTENSION_TYPE.to_string(),
    }
}

/// A type field follows the rules of a name (it must survive being written
/// in a record and read back), and may not be empty.
fn check_file_type(file_type: &str) -> Result<(), Invalid> {
    if file_type.is_empty() || file_type.len() > MAX_NAME_LEN {
        return Err(Invalid("the type is empty or too long".into()));
    }
    if file_type.starts_with(char::is_whitespace) || file_type.ends_with(char::is_whitespace) {
        return Err(Invalid("the type starts or ends with a space".into()));
    }
    if file_type
        .chars()
        .any(|c| matches!(c, '<' | '>' | ',') || c.is_control())
    {
        return Err(Invalid(
            "the type holds '<', '>', ',' or a control character".into(),
        ));
    }
    Ok(())
}

/// Splits `a, b, c` into trimmed fields.
fn split_fields(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).collect()
}

/// A decimal number made of digits only (`u64::from_str` would also take
/// `+5`). `what` names the field in the error: a number too large to hold is
/// told apart from one that is not a number at all.
fn parse_number(what: &str, text: &str) -> Result<u64, Invalid> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid(format!("{what} {text:?} is not a number")));
    }
    text.parse().map_err(|_| {
        Invalid(format!(
            "{what} {text:?} is too large (at most {})",
            u64::MAX
        ))
    })
}

fn parse_port(text: &str) -> Result<u16, Invalid> {
    match parse_number("port", text).map(u16::try_from) {
        Ok(Ok(port)) if port >= 1 => Ok(port),
        _ => Err(Invalid(format!(
            "port {text:?} is not a number from 1 to 65535"
        ))),
    }
}

fn parse_spec(
    command: &'static str,
    name: &str,
    file_type: &str,
    size: &str,
) -> Result<FileSpec, ParseError> {
    check_name(name).map_err(|reason| bad(command, reason))?;
    check_file_type(file_type).map_err(|reason| bad(command, reason))?;
    let size = parse_number("size", size).map_err(|reason| bad(command, reason))?;
    Ok(FileSpec {
        name: name.to_string(),
        file_type: file_type.to_string(),
        size,
    })
}

/// The fields of a `DOWNLOAD` or a `HASH` request: a file, and maybe a
/// range of its chunks. `command` names the keyword in errors.
fn parse_ranged(command: &'static str, rest: &str) -> Result<DownloadRequest, ParseError> {
    let fields = split_fields(rest);
    let (name, file_type, size, range) = match fields.as_slice() {
        [name, file_type, size] => (name, file_type, size, None),
        [name, file_type, size, first, count] => (name, file_type, size, Some((first, count))),
        _ => {
            return Err(bad(
                command,
                "expected `name, type, size` or `name, type, size, first, count`",
            ))
        }
    };
    let file = parse_spec(command, name, file_type, size)?;
    let range = match range {
        None => None,
        Some((first, count)) => {
            let first =
                parse_number("first chunk", first).map_err(|reason| bad(command, reason))?;
            let count =
                parse_number("chunk count", count).map_err(|reason| bad(command, reason))?;
            if count == 0 {
                return Err(bad(command, "chunk count is 0"));
            }
            Some(ChunkRange { first, count })
        }
    };
    Ok(DownloadRequest { file, range })
}

/// `DOWNLOAD: name, type, size [, first, count]`, or the same with `HASH`.
fn format_ranged(keyword: &str, request: &DownloadRequest) -> String {
    let file = &request.file;
    let spec = format!(
        "{keyword}: {}, {}, {}",
        file.name, file.file_type, file.size
    );
    match request.range {
        None => spec,
        Some(range) => format!("{spec}, {}, {}", range.first, range.count),
    }
}

/// `HASH:` is a request when it names a file, and an answer when it holds
/// one field: 64 hex digits. No file field can be 64 hex digits alone,
/// because a request has 3 or 5 fields.
fn parse_hash(rest: &str) -> Result<Message, ParseError> {
    if !rest.contains(',') {
        return match sha256::from_hex(rest) {
            Some(digest) => Ok(Message::Hashed(digest)),
            None => Err(bad(
                "HASH",
                "expected 64 hex digits, or `name, type, size [, first, count]`",
            )),
        };
    }
    Ok(Message::Hash(parse_ranged("HASH", rest)?))
}

/// `FIND: word ...`: one word at least, separated by white space.
fn parse_find(rest: &str) -> Result<Message, ParseError> {
    let words: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        return Err(bad("FIND", "no words: write `FIND: word ...`"));
    }
    Ok(Message::Find(words))
}

/// Parses a list of records, `<...> <...>`, each with `parse_one`. Any white
/// space (or none) may stand between records; nothing else may.
fn parse_records<T>(
    text: &str,
    parse_one: fn(&[&str]) -> Result<T, Invalid>,
) -> Result<Vec<T>, ParseError> {
    let mut records = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(inside) = rest.strip_prefix('<') else {
            return Err(ParseError::BadRecord(
                "expected '<' to start a record".into(),
            ));
        };
        let Some((body, after)) = inside.split_once('>') else {
            return Err(ParseError::BadRecord("a record has no closing '>'".into()));
        };
        let fields = split_fields(body);
        records.push(parse_one(&fields).map_err(|Invalid(reason)| ParseError::BadRecord(reason))?);
        rest = after.trim_start();
    }
    Ok(records)
}

fn parse_file_record(fields: &[&str]) -> Result<FileRecord, Invalid> {
    let [name, file_type, size, date, ip, port] = fields else {
        return Err(Invalid(format!(
            "expected 6 fields <name, type, size, DD/MM/YY, ip, port>, got {}",
            fields.len()
        )));
    };
    check_name(name)?;
    let location = parse_location(&[file_type, size, date, ip, port])?;
    Ok(FileRecord {
        name: name.to_string(),
        file_type: location.file_type,
        size: location.size,
        modified: location.modified,
        ip: location.ip,
        port: location.port,
    })
}

fn parse_location(fields: &[&str]) -> Result<Location, Invalid> {
    let [file_type, size, date, ip, port] = fields else {
        return Err(Invalid(format!(
            "expected 5 fields <type, size, DD/MM/YY, ip, port>, got {}",
            fields.len()
        )));
    };
    check_file_type(file_type)?;
    Ok(Location {
        file_type: file_type.to_string(),
        size: parse_number("size", size)?,
        modified: Date::parse(date)
            .ok_or_else(|| Invalid(format!("date {date:?} is not a real DD/MM/YY day")))?,
        ip: ip
            .parse()
            .map_err(|_| Invalid(format!("address {ip:?} is not an IP address")))?,
        port: parse_port(port)?,
    })
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

/// Records separated by one space, as the protocol writes them.
fn join_records<T: fmt::Display>(records: &[T]) -> String {
    records
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn record(name: &str, port: u16) -> FileRecord {
        FileRecord {
            name: name.to_string(),
            file_type: type_of(name),
            size: 1234,
            modified: Date::new(21, 11, 26).unwrap(),
            ip: "127.0.0.1".parse().unwrap(),
            port,
        }
    }

    pub(crate) fn every_kind_of_message() -> Vec<Message> {
        let file = FileSpec {
            name: "my notes.txt".into(),
            file_type: "txt".into(),
            size: 1234,
        };
        vec![
            Message::Hello,
            Message::Hi,
            Message::Records(vec![record("notes.txt", 5001), record("cat.jpg", 5001)]),
            Message::Search("notes.txt".into()),
            Message::Found(vec![
                record("a.txt", 5001).location(),
                record("a.txt", 5002).location(),
            ]),
            Message::NotFound,
            Message::Bye,
            Message::Error("no such file".into()),
            Message::Download(DownloadRequest {
                file: file.clone(),
                range: None,
            }),
            Message::Download(DownloadRequest {
                file: file.clone(),
                range: Some(ChunkRange { first: 3, count: 5 }),
            }),
            Message::List,
            Message::Files(vec![]),
            Message::Files(vec![record("README", 5003)]),
            Message::Upload(file),
            Message::Ready,
            Message::Done,
            Message::Ping,
            Message::Pong,
            Message::Hash(DownloadRequest {
                file: record("notes.txt", 1).spec(),
                range: None,
            }),
            Message::Hash(DownloadRequest {
                file: record("notes.txt", 1).spec(),
                range: Some(ChunkRange { first: 0, count: 7 }),
            }),
            Message::Hashed(sha256::digest(b"abc")),
            Message::Find(vec!["notes".into(), "TXT".into()]),
        ]
    }

    #[test]
    fn hash_and_find_are_written_as_the_protocol_section_says() {
        let request = DownloadRequest {
            file: record("a b.txt", 1).spec(),
            range: Some(ChunkRange { first: 2, count: 3 }),
        };
        assert_eq!(
            Message::Hash(request).format(),
            "HASH: a b.txt, txt, 1234, 2, 3"
        );
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            Message::parse(&format!("HASH: {}", abc.to_uppercase())),
            Ok(Message::Hashed(sha256::digest(b"abc")))
        );
        assert_eq!(
            Message::Hashed(sha256::digest(b"abc")).format(),
            format!("HASH: {abc}")
        );
        assert_eq!(
            Message::parse("FIND:  Notes   txt "),
            Ok(Message::Find(vec!["Notes".into(), "txt".into()]))
        );
        for (line, words) in [
            ("HASH: abc", "expected 64 hex digits"),
            ("HASH: a.txt, txt", "expected `name, type, size`"),
            ("HASH: a.txt, txt, 5, 1, 0", "bad HASH: chunk count is 0"),
            ("HASH a.txt, txt, 5", "a colon must follow HASH"),
            ("FIND:   ", "no words"),
            ("FIND notes", "a colon must follow FIND"),
        ] {
            let error = Message::parse(line).unwrap_err().to_string();
            assert!(error.contains(words), "{line:?}: {error}");
        }
    }

    #[test]
    fn every_message_round_trips() {
        for message in every_kind_of_message() {
            let line = message.format();
            assert_eq!(Message::parse(&line), Ok(message.clone()), "line {line:?}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn lines_are_written_exactly_as_the_protocol_says() {
        let records = Message::Records(vec![record("notes.txt", 5001), record("cat.jpg", 5001)]);
        assert_eq!(
            records.format(),
            "<notes.txt, txt, 1234, 21/11/26, 127.0.0.1, 5001> <cat.jpg, jpg, 1234, 21/11/26, 127.0.0.1, 5001>"
        );
        let found = Message::Found(vec![record("x.txt", 5002).location()]);
        assert_eq!(
            found.format(),
            "FOUND: <txt, 1234, 21/11/26, 127.0.0.1, 5002>"
        );
        assert_eq!(Message::Files(vec![]).format(), "FILES:");
        assert_eq!(
            Message::Search("a b.txt".into()).format(),
            "SEARCH: a b.txt"
        );
    }

    #[test]
    fn a_known_keyword_written_wrong_says_what_is_wrong() {
        for (line, words) in [
            ("SEARCH notes.txt", "a colon must follow SEARCH"),
            ("DOWNLOAD a.txt, txt, 5", "a colon must follow DOWNLOAD"),
            ("LIST extra", "LIST stands alone on its line"),
            ("BYE now", "BYE stands alone on its line"),
            ("NOT FOUND at all", "NOT FOUND stands alone"),
            ("HIGHWAY", "unknown command \"HIGHWAY\""),
            (
                "DOWNLOAD: a.txt, txt, 99999999999999999999",
                "size \"99999999999999999999\" is too large",
            ),
            ("DOWNLOAD: a.txt, txt, 5x", "size \"5x\" is not a number"),
        ] {
            let error = Message::parse(line).unwrap_err().to_string();
            assert!(error.contains(words), "{line:?}: {error}");
        }
    }

    #[test]
    fn readers_are_lenient_about_spaces() {
        let tight = "<a.txt,txt,5,01/01/26,127.0.0.1,5001><b,none,0,02/02/26,::1,9>";
        let Ok(Message::Records(records)) = Message::parse(tight) else {
            panic!("should parse")
        };
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].ip, "::1".parse::<IpAddr>().unwrap());
        let loose = "  <  a.txt , txt , 5 , 01/01/26 , 127.0.0.1 , 5001 >\t <b, none, 0, 02/02/26, ::1, 9>  \r";
        assert_eq!(Message::parse(loose), Ok(Message::Records(records)));
        assert_eq!(
            Message::parse("SEARCH:notes.txt"),
            Ok(Message::Search("notes.txt".into()))
        );
        assert_eq!(Message::parse("HELLO\r"), Ok(Message::Hello));
    }

    #[test]
    fn types_come_from_the_extension() {
        assert_eq!(type_of("notes.txt"), "txt");
        assert_eq!(type_of("archive.tar.gz"), "gz");
        assert_eq!(type_of("README"), "none");
        assert_eq!(type_of("odd."), "none");
        assert_eq!(type_of("holiday.old copy"), "old copy");
        assert_eq!(type_of("spaced. txt"), "none");
    }

    #[test]
    fn names_that_cannot_be_shared_are_refused() {
        for bad in [
            "",
            " a",
            "a ",
            "a<b",
            "a>b",
            "a,b",
            "a\tb",
            "a\u{7f}b",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".",
            "..",
            ".hidden",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        for good in [
            "notes.txt",
            "my notes.txt",
            "ünïcode.txt",
            "README",
            "a.b.c",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn every_kind_of_bad_line_is_an_error() {
        let bad_lines = [
            "",
            "   ",
            "HELLO THERE",
            "hello",
            "WHAT",
            "SEARCH:",
            "SEARCH: ../etc/passwd",
            "FOUND:",
            "FOUND: nonsense",
            "DOWNLOAD:",
            "DOWNLOAD: a.txt, txt",
            "DOWNLOAD: a.txt, txt, x",
            "DOWNLOAD: a.txt, txt, -1",
            "DOWNLOAD: a.txt, txt, +1",
            "DOWNLOAD: a.txt, txt, 99999999999999999999999",
            "DOWNLOAD: a.txt, txt, 5, 1",
            "DOWNLOAD: a.txt, txt, 5, 1, 0",
            "DOWNLOAD: a.txt, txt, 5, x, 1",
            "DOWNLOAD: a/b.txt, txt, 5",
            "DOWNLOAD: a.txt, , 5",
            "UPLOAD: a.txt, txt",
            "UPLOAD: ../a.txt, txt, 5",
            "FILES: <a.txt>",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1>",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001, extra>",
            "<a.txt, txt, five, 01/01/26, 127.0.0.1, 5001>",
            "<a.txt, txt, 5, 32/01/26, 127.0.0.1, 5001>",
            "<a.txt, txt, 5, 01/01/26, 999.0.0.1, 5001>",
            "<a.txt, txt, 5, 01/01/26, localhost, 5001>",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 0>",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 65536>",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001",
            "<a.txt, txt, 5, 01/01/26, 127.0.0.1, 5001> junk",
            "<, txt, 5, 01/01/26, 127.0.0.1, 5001>",
        ];
        for line in bad_lines {
            assert!(Message::parse(line).is_err(), "{line:?} should not parse");
        }
    }

    #[test]
    fn errors_say_what_was_wrong() {
        let error = Message::parse("<a.txt, txt, 5, 01/01/26, 127.0.0.1, 0>").unwrap_err();
        assert!(error.to_string().contains("port"), "{error}");
        let error = Message::parse("FETCH: x").unwrap_err();
        assert_eq!(error.to_string(), "unknown command \"FETCH:\"");
    }

    #[test]
    fn chunk_ranges_cover_the_right_bytes() {
        let range = |first, count| ChunkRange { first, count };
        assert_eq!(range(0, 1).byte_range(1234), Some((0, 100)));
        assert_eq!(range(3, 5).byte_range(1234), Some((300, 500)));
        assert_eq!(
            range(10, 5).byte_range(1234),
            Some((1000, 234)),
            "clipped at the end"
        );
        assert_eq!(range(12, 1).byte_range(1234), Some((1200, 34)));
        assert_eq!(range(13, 1).byte_range(1234), None, "past the end");
        assert_eq!(range(0, 1).byte_range(0), None);
        assert_eq!(
            range(u64::MAX, u64::MAX).byte_range(u64::MAX),
            None,
            "no overflow"
        );
        assert_eq!(range(1, u64::MAX).byte_range(1000), Some((100, 900)));
    }

    #[test]
    fn huge_sizes_parse_as_numbers_not_allocations() {
        let line = "DOWNLOAD: a.txt, txt, 1000000000000000000";
        let Ok(Message::Download(request)) = Message::parse(line) else {
            panic!("should parse")
        };
        assert_eq!(request.file.size, 1_000_000_000_000_000_000);
    }
}
