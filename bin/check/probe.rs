//! A raw connection to the program under test, and the transcript of what
//! crossed it.
//!
//! The checker talks to programs that may be wrong in any way: written in
//! another language, half finished, or hostile. So it does not use the
//! project's own `Connection` (which trusts the protocol's framing), but
//! reads bytes itself, and every read is bounded twice: in bytes (no line,
//! no reply, may grow past a limit) and in time (every read has a deadline).
//! Nothing here panics on what the other side sends.
//!
//! Everything sent and received is written to a [`Transcript`], with line
//! ends made visible (`"HI\n"`), so that a failed rule can show exactly
//! which bytes broke it.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The longest line the checker reads before giving up on it. Far longer
/// than any reply a class's tracker or peer gives (a `FILES:` line for a few
/// hundred peers), and small enough that an endless line costs little.
pub const MAX_LINE: usize = 1024 * 1024;

/// How many bytes of a message the transcript shows; the rest is counted.
pub const SHOW_LIMIT: usize = 200;

/// How much a reply read "up to the close" may hold beyond what was
/// expected, so that extra bytes after a file are seen and counted, but a
/// server sending for ever is not read for ever.
pub const EXTRA_LIMIT: usize = 64 * 1024;

/// Bytes read in one system call.
const READ_CHUNK: usize = 8 * 1024;

/// A file body may take longer than one time limit: this is the slowest
/// transfer rate (bytes a second) the checker waits for, on top of the limit.
pub const MIN_TRANSFER_RATE: u64 = 1024 * 1024;

/// What was sent and received during one rule, line by line, on every
/// connection the rule opened. Cloning gives another handle to the same
/// transcript.
#[derive(Clone, Default)]
pub struct Transcript {
    lines: Rc<RefCell<Vec<String>>>,
    /// While muted, nothing is written (repeated polls are summed up by
    /// their caller instead).
    muted: Rc<Cell<bool>>,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Adds one line (unless muted).
    pub fn note(&self, line: String) {
        if !self.muted.get() {
            self.lines.borrow_mut().push(line);
        }
    }

    /// Ends a muted run of repeated requests (a poll until the answer is
    /// right, or time is up): one line says how many there were, and the
    /// last reply, instead of a line for each.
    pub fn unmute_after_polling(&self, asked: usize, started: Instant, last: &str) {
        self.mute(false);
        if asked > 1 {
            self.note(format!(
                "B asked {asked} times in {}; the last reply: {}",
                seconds(started.elapsed()),
                show(last.as_bytes())
            ));
        }
    }

    /// Stops or restarts writing lines.
    pub fn mute(&self, muted: bool) {
        self.muted.set(muted);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }
}

/// How a read ended, when it did not end with what it was waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The other side closed the connection (end of file).
    Closed,
    /// The other side reset the connection (it closed with our bytes unread).
    Reset,
    /// The time limit passed with the connection still open.
    Open(Duration),
    /// More bytes came than the checker reads.
    TooMuch,
}

impl End {
    /// The connection is gone, one way or the other.
    pub fn is_closed(self) -> bool {
        matches!(self, End::Closed | End::Reset)
    }

    fn describe(self) -> String {
        match self {
            End::Closed => "then the close".into(),
            End::Reset => "then the connection was reset".into(),
            End::Open(waited) => format!(
                "then nothing more for {} (the connection stayed open)",
                seconds(waited)
            ),
            End::TooMuch => "and more (the checker stopped reading)".into(),
        }
    }
}

/// The answer to "read one line".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A whole line, without its `\n` and without a `\r` before it.
    Line(String),
    /// No whole line: these bytes (maybe none) came, then the read ended.
    Unfinished(Vec<u8>, End),
}

/// Everything that came on a connection up to its close (or a limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub end: End,
}

/// One TCP connection to the program under test, named by a letter in the
/// transcript ("A sent ...", "B got ...") so that a rule with several
/// connections reads clearly.
pub struct Probe {
    stream: TcpStream,
    name: String,
    /// Bytes read from the socket and not yet handed out.
    pending: Vec<u8>,
    /// Each read waits at most this long.
    limit: Duration,
    transcript: Transcript,
}

impl Probe {
    /// Connects to `addr` within `limit`.
    pub fn connect(
        addr: SocketAddr,
        name: &str,
        limit: Duration,
        transcript: &Transcript,
    ) -> Result<Probe, String> {
        let stream = TcpStream::connect_timeout(&addr, limit).map_err(|error| {
            transcript.note(format!("{name} could not connect to {addr}: {error}"));
            "no connection, so nothing could be checked".to_string()
        })?;
        // A write to a server that stopped reading must fail, not block;
        // and each line should leave at once, not wait for the next.
        let _ = stream.set_write_timeout(Some(limit));
        let _ = stream.set_nodelay(true);
        Ok(Probe {
            stream,
            name: name.to_string(),
            pending: Vec::new(),
            limit,
            transcript: transcript.clone(),
        })
    }

    /// Our own address on this connection: the address the other side sees
    /// us come from (over loopback, a loopback address).
    pub fn local_addr(&self) -> Result<SocketAddr, String> {
        self.stream
            .local_addr()
            .map_err(|e| format!("{}: cannot read its own address: {e}", self.name))
    }

    /// The name the transcript calls this connection by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transcript this connection writes to.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The time limit of each read.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Sends bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.transcript
            .note(format!("{} sent {}", self.name, show(bytes)));
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|error| {
                self.transcript
                    .note(format!("{} could not send: {error}", self.name));
                "the connection broke while the checker was sending".to_string()
            })
    }

    /// Sends one line: `text` and `\n`.
    pub fn send_line(&mut self, text: &str) -> Result<(), String> {
        self.send(format!("{text}\n").as_bytes())
    }

    /// Closes the connection as a crashed program would: no goodbye.
    pub fn close(&mut self) {
        self.transcript
            .note(format!("{} closed its connection", self.name));
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Closes the sending side only (a half-close): the other side reads
    /// the end of the stream, and can still answer.
    pub fn shut_write(&mut self) {
        self.transcript
            .note(format!("{} closed its sending side", self.name));
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends bytes without writing them to the transcript, and without
    /// caring whether they arrive: a goodbye on the way out.
    pub fn send_quietly(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Whether the other side closes the connection (or resets it) within
    /// `wait`. Bytes that come meanwhile are kept for the next read; the
    /// transcript is not written (the caller says what it concluded).
    pub fn closes_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut bytes = std::mem::take(&mut self.pending);
        let closed = loop {
            match self.fill(&mut bytes, deadline) {
                Filled::Bytes if bytes.len() <= MAX_LINE => {}
                Filled::Closed | Filled::Reset => break true,
                Filled::Bytes | Filled::TimedOut => break false,
            }
        };
        self.pending = bytes;
        closed
    }

    /// Reads one line within the time limit, never holding more than
    /// [`MAX_LINE`] bytes.
    pub fn read_line(&mut self) -> Reply {
        self.read_line_until(Instant::now() + self.limit, None)
    }

    /// Reads one line, and takes a reply that came without its line end
    /// too: once some bytes have come, and then nothing more for `grace`,
    /// they are the reply (`Unfinished`, ending `Open(grace)`). For the
    /// replies whose end the checker can tell without the `\n`, so that a
    /// missing line end costs one rule, not every rule after it.
    pub fn read_reply(&mut self, grace: Duration) -> Reply {
        self.read_line_until(Instant::now() + self.limit, Some(grace))
    }

    /// [`Probe::read_line`], with the time limit ending at `deadline`.
    fn read_line_until(&mut self, deadline: Instant, grace: Option<Duration>) -> Reply {
        let (reply, raw) = self.line_until(deadline, grace);
        let what = match &reply {
            // Shown as it came: with its line end (and a `\r`, if any).
            Reply::Line(_) => show(&raw),
            Reply::Unfinished(bytes, End::TooMuch) => format!(
                "a line longer than {} KiB, starting {} (the checker stopped reading)",
                MAX_LINE / 1024,
                show(&bytes[..bytes.len().min(SHOW_LIMIT)])
            ),
            Reply::Unfinished(bytes, end) => describe_received(bytes, *end),
        };
        self.transcript.note(format!("{} got {what}", self.name));
        reply
    }

    /// Reads a greeting such as `HI`: the bytes of `word`, then its line
    /// end if it came with them or comes within `grace`. `Line` when the
    /// line end came; `Unfinished` holding exactly `word` when it did not;
    /// anything else is read as a line, as [`Probe::read_line`] does.
    pub fn read_word(&mut self, word: &str, grace: Duration) -> Reply {
        let deadline = Instant::now() + self.limit;
        let mut bytes = std::mem::take(&mut self.pending);
        while bytes.len() < word.len() && !bytes.contains(&b'\n') {
            if !matches!(self.fill(&mut bytes, deadline), Filled::Bytes) {
                break;
            }
        }
        let Some(rest) = bytes.strip_prefix(word.as_bytes()) else {
            // Not the greeting: read it as a line, within the same limit.
            self.pending = bytes;
            return self.read_line_until(deadline, None);
        };
        let mut rest = rest.to_vec();
        if rest.is_empty() {
            let _ = self.fill(&mut rest, Instant::now() + grace);
        }
        let line_end = [&b"\r\n"[..], b"\n"]
            .into_iter()
            .find(|end| rest.starts_with(end));
        let Some(line_end) = line_end else {
            if !rest.is_empty() {
                // "HI" and more on the same line (or a lone `\r` so far):
                // read it as a line.
                self.pending = [word.as_bytes(), &rest].concat();
                return self.read_line_until(deadline, None);
            }
            self.transcript.note(format!(
                "{} got {} (no line end)",
                self.name,
                show(word.as_bytes())
            ));
            return Reply::Unfinished(word.as_bytes().to_vec(), End::Open(grace));
        };
        self.pending = rest.split_off(line_end.len());
        self.transcript.note(format!(
            "{} got {}",
            self.name,
            show(&[word.as_bytes(), line_end].concat())
        ));
        Reply::Line(word.to_string())
    }

    /// Reads everything up to the close, `max` bytes, or `wait` from now,
    /// whichever comes first.
    pub fn read_to_close(&mut self, max: usize, wait: Duration) -> Received {
        let deadline = Instant::now() + wait;
        let mut bytes = std::mem::take(&mut self.pending);
        let end = loop {
            if bytes.len() > max {
                bytes.truncate(max);
                break End::TooMuch;
            }
            match self.fill(&mut bytes, deadline) {
                Filled::Bytes => {}
                Filled::Closed => break End::Closed,
                Filled::Reset => break End::Reset,
                Filled::TimedOut => break End::Open(wait),
            }
        };
        self.transcript.note(format!(
            "{} got {}",
            self.name,
            describe_received(&bytes, end)
        ));
        Received { bytes, end }
    }

    /// Reads one line by `deadline` (or, with a `grace`, bytes without a
    /// line end followed by that long a silence). Returns it, and the bytes
    /// it was made of as they came (with the line end), for the transcript.
    fn line_until(&mut self, deadline: Instant, grace: Option<Duration>) -> (Reply, Vec<u8>) {
        let mut bytes = std::mem::take(&mut self.pending);
        // Bytes already searched for a `\n`: each byte is looked at once.
        let mut searched = 0;
        loop {
            if let Some(at) = bytes[searched..].iter().position(|&b| b == b'\n') {
                let line_end = searched + at + 1;
                self.pending = bytes.split_off(line_end);
                let raw = bytes.clone();
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                let line = String::from_utf8_lossy(&bytes).into_owned();
                return (Reply::Line(line), raw);
            }
            searched = bytes.len();
            if bytes.len() > MAX_LINE {
                return (Reply::Unfinished(bytes, End::TooMuch), Vec::new());
            }
            let quiet = grace.filter(|_| !bytes.is_empty());
            let until = match quiet {
                Some(grace) => deadline.min(Instant::now() + grace),
                None => deadline,
            };
            let end = match self.fill(&mut bytes, until) {
                Filled::Bytes => continue,
                Filled::Closed => End::Closed,
                Filled::Reset => End::Reset,
                Filled::TimedOut => End::Open(quiet.unwrap_or(self.limit)),
            };
            return (Reply::Unfinished(bytes, end), Vec::new());
        }
    }

    /// One read from the socket into `bytes`, waiting at most until
    /// `deadline`. Past the deadline it still takes what has already
    /// arrived (a close, too), but waits no more.
    fn fill(&mut self, bytes: &mut Vec<u8>, deadline: Instant) -> Filled {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let read = if left.is_zero() {
                self.read_ready(&mut chunk)
            } else {
                // A read time-out of zero would mean "wait for ever": the
                // shortest we set is one millisecond.
                let _ = self
                    .stream
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))));
                self.stream.read(&mut chunk)
            };
            match read {
                Ok(0) => return Filled::Closed,
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    return Filled::Bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Time is up only once the deadline has passed; an
                    // early wake-up waits again for what is left.
                    if left.is_zero() {
                        return Filled::TimedOut;
                    }
                }
                Err(_) => return Filled::Reset,
            }
        }
    }

    /// Reads what has already arrived, without waiting.
    fn read_ready(&mut self, chunk: &mut [u8]) -> io::Result<usize> {
        self.stream.set_nonblocking(true)?;
        let read = self.stream.read(chunk);
        self.stream.set_nonblocking(false)?;
        read
    }
}

/// What one read from the socket gave.
enum Filled {
    Bytes,
    Closed,
    Reset,
    TimedOut,
}

/// Bytes as the transcript shows them: in double quotes, with line ends
/// and other invisible bytes escaped (`\n`, `\r`, `\t`, `\x00`), cut after
/// [`SHOW_LIMIT`] bytes with the rest counted.
pub fn show(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(SHOW_LIMIT)];
    let mut text = String::from("\"");
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                '"' => text.push_str("\\\""),
                '\\' => text.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(text, "\\u{{{:x}}}", u32::from(c));
                }
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text.push('"');
    if bytes.len() > shown.len() {
        let _ = write!(text, " and {} more bytes", bytes.len() - shown.len());
    }
    text
}

/// Bytes that may be a file reply: `"FILE: " then 987 bytes` rather than
/// the bytes themselves; anything else as [`show`] writes it.
pub fn describe(bytes: &[u8]) -> String {
    for header in [&b"FILE: "[..], b"FILE:"] {
        if let Some(body) = bytes.strip_prefix(header) {
            return format!("{} then {}", show(header), count(body.len(), "byte"));
        }
    }
    show(bytes)
}

/// What came before a read ended, and how it ended.
fn describe_received(bytes: &[u8], end: End) -> String {
    if bytes.is_empty() {
        return match end {
            End::Open(waited) => format!(
                "nothing for {} (the connection stayed open)",
                seconds(waited)
            ),
            End::Closed => "nothing, then the close".into(),
            End::Reset => "nothing, then the connection was reset".into(),
            End::TooMuch => "nothing".into(),
        };
    }
    format!("{}, {}", describe(bytes), end.describe())
}

/// "1 byte", "987 bytes".
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A duration as people read it: "250 ms", "5.0 s".
pub fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::{describe, describe_received, seconds, show, End, SHOW_LIMIT};
    use std::time::Duration;

    #[test]
    fn line_ends_and_odd_bytes_are_visible() {
        assert_eq!(show(b"HI\n"), r#""HI\n""#);
        assert_eq!(show(b"HI\r\n"), r#""HI\r\n""#);
        assert_eq!(show(b"a\tb\x00\xff\"\\"), r#""a\tb\u{0}\xff\"\\""#);
        assert_eq!(show("é".as_bytes()), "\"é\"");
        let long = vec![b'x'; SHOW_LIMIT + 5];
        assert!(show(&long).ends_with("\" and 5 more bytes"));
    }

    #[test]
    fn file_replies_are_counted_not_shown() {
        let mut reply = b"FILE: ".to_vec();
        reply.extend_from_slice(&[0u8; 987]);
        assert_eq!(describe(&reply), r#""FILE: " then 987 bytes"#);
        assert_eq!(describe(b"FILE:x"), r#""FILE:" then 1 byte"#);
        assert_eq!(describe(b"ERROR: no\n"), r#""ERROR: no\n""#);
    }

    #[test]
    fn every_way_a_read_ends_is_said() {
        let open = End::Open(Duration::from_millis(300));
        assert_eq!(
            describe_received(b"", open),
            "nothing for 300 ms (the connection stayed open)"
        );
        assert_eq!(
            describe_received(b"HI", End::Closed),
            r#""HI", then the close"#
        );
        assert_eq!(seconds(Duration::from_millis(5000)), "5.0 s");
    }
}
