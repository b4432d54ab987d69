//! A peer's rules: how it answers other peers, one request per connection.
//!
//! The checker needs one file the peer serves, and its bytes, to know what a
//! correct `FILE: ` reply holds: `--file PATH` is a local copy of it. Its
//! name, type (the extension, or `none`) and size come from that copy.

use super::{reply_line, written_exactly, Checked, Miss, Rule, Stage};
use crate::probe::{
    count, show, Probe, Received, Reply, Transcript, EXTRA_LIMIT, MAX_LINE, MIN_TRANSFER_RATE,
};
use p2p_share::wire::protocol::{type_of, ChunkRange, Message, CHUNK_SIZE};
use std::path::Path;
use std::time::Duration;

/// The largest `--file` the checker takes: it holds the whole file in
/// memory to compare it byte for byte.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// The size of the file the checker uploads: three chunks, the last one
/// short, so chunking is exercised.
const UPLOAD_SIZE: usize = 250;

/// The peer under test, and the file it serves.
pub struct Peer {
    pub addr: std::net::SocketAddr,
    /// The time limit of each probe.
    pub limit: Duration,
    pub file: LocalFile,
    /// Makes the name of the uploaded file unique to this run.
    tag: String,
}

impl Peer {
    pub fn new(addr: std::net::SocketAddr, limit: Duration, file: LocalFile, tag: String) -> Peer {
        Peer {
            addr,
            limit,
            file,
            tag,
        }
    }

    /// How long a file body of `len` bytes may take to arrive: the time
    /// limit, plus time for a slow transfer of a big file.
    fn body_wait(&self, len: usize) -> Duration {
        self.limit + Duration::from_secs(len as u64 / MIN_TRANSFER_RATE)
    }
}

/// The local copy of a file the peer serves.
pub struct LocalFile {
    pub name: String,
    pub file_type: String,
    pub bytes: Vec<u8>,
}

impl LocalFile {
    /// Reads `--file PATH`.
    pub fn read(path: &Path) -> Result<LocalFile, String> {
        let shown = path.display();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| format!("--file {shown}: not a file name the protocol can carry"))?
            .to_string();
        p2p_share::wire::protocol::check_name(&name)
            .map_err(|why| format!("--file {shown}: a peer cannot serve this name: {why}"))?;
        let size = std::fs::metadata(path)
            .map_err(|e| format!("--file {shown}: {e}"))?
            .len();
        if size == 0 || size > MAX_FILE_SIZE {
            return Err(format!(
                "--file {shown}: {size} bytes; choose a file of 1 byte to {} MiB",
                MAX_FILE_SIZE / 1024 / 1024
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("--file {shown}: {e}"))?;
        Ok(LocalFile {
            file_type: type_of(&name),
            name,
            bytes,
        })
    }

    fn size(&self) -> usize {
        self.bytes.len()
    }

    /// `name, type, size` as a request carries them.
    fn fields(&self) -> String {
        format!("{}, {}, {}", self.name, self.file_type, self.size())
    }
}

/// The stages of the peer check.
pub const STAGES: [Stage; 2] = [
    Stage {
        number: 1,
        title: "download (DOWNLOAD, FILE:, ERROR:)",
    },
    Stage {
        number: 2,
        title: "extensions (LIST, ranged DOWNLOAD, UPLOAD, PING)",
    },
];

/// Every rule of a peer, stage by stage.
pub const RULES: [Rule<Peer>; 9] = [
    Rule {
        stage: 1,
        name: "download",
        words: "DOWNLOAD: name, type, size gets FILE: and exactly the file's bytes, then B closes",
        extension: false,
        check: download,
    },
    Rule {
        stage: 1,
        name: "wrong-size",
        words: "a DOWNLOAD with the wrong size gets ERROR: <reason> and the close, no file bytes",
        extension: false,
        check: wrong_size,
    },
    Rule {
        stage: 1,
        name: "unknown-name",
        words: "a DOWNLOAD of a file B does not serve gets ERROR: <reason> and the close",
        extension: false,
        check: unknown_name,
    },
    Rule {
        stage: 1,
        name: "path-name",
        words: "a name with a path in it (../x, /etc/passwd, a/b) is never served: ERROR: and the close",
        extension: false,
        check: path_name,
    },
    Rule {
        stage: 1,
        name: "garbage",
        words: "a request B cannot parse gets ERROR: <reason> and the close",
        extension: false,
        check: garbage,
    },
    Rule {
        stage: 2,
        name: "list",
        words: "LIST is answered FILES: with a record for every file B serves",
        extension: true,
        check: list,
    },
    Rule {
        stage: 2,
        name: "ranged-download",
        words: "DOWNLOAD: name, type, size, first, count gets FILE: and those 100-byte chunks (past the end: ERROR:)",
        extension: true,
        check: ranged_download,
    },
    Rule {
        stage: 2,
        name: "upload",
        words: "UPLOAD gets READY, FILE: and the bytes get DONE, then B serves the file; a name B serves: ERROR:",
        extension: true,
        check: upload,
    },
    Rule {
        stage: 2,
        name: "ping",
        words: "PING is answered PONG",
        extension: true,
        check: ping,
    },
];

// ---------------------------------------------------------------------------
// Stage 1: download
// ---------------------------------------------------------------------------

fn download(peer: &Peer, t: &Transcript) -> Checked {
    let file = &peer.file;
    expect_file(
        peer,
        t,
        "A",
        &format!("DOWNLOAD: {}", file.fields()),
        &file.bytes,
    )?;
    Ok(())
}

fn wrong_size(peer: &Peer, t: &Transcript) -> Checked {
    let file = &peer.file;
    let request = format!(
        "DOWNLOAD: {}, {}, {}",
        file.name,
        file.file_type,
        file.size() + 1
    );
    expect_error(peer, t, "A", request.as_bytes())
}

fn unknown_name(peer: &Peer, t: &Transcript) -> Checked {
    let name = format!("chk-{}-nobody-serves-this.txt", peer.tag);
    expect_error(
        peer,
        t,
        "A",
        format!("DOWNLOAD: {name}, txt, 10").as_bytes(),
    )
}

fn path_name(peer: &Peer, t: &Transcript) -> Checked {
    let file = &peer.file;
    // The README's three, then two that lead to the very file the peer
    // serves, so that a peer that follows paths is caught whatever its
    // folder holds.
    let requests = [
        "DOWNLOAD: ../x, none, 1".to_string(),
        "DOWNLOAD: /etc/passwd, none, 1".to_string(),
        "DOWNLOAD: a/b, none, 1".to_string(),
        format!("DOWNLOAD: ./{}", file.fields()),
        format!("DOWNLOAD: sub/../{}", file.fields()),
    ];
    for (request, name) in requests.iter().zip(["A", "B", "C", "D", "E"]) {
        expect_error(peer, t, name, request.as_bytes())?;
    }
    Ok(())
}

fn garbage(peer: &Peer, t: &Transcript) -> Checked {
    let name = &peer.file.name;
    let requests: [Vec<u8>; 3] = [
        format!("GIVE ME {name}").into_bytes(),
        format!("DOWNLOAD: {name}").into_bytes(),
        // Not even text: the start of a TLS greeting, as a lost web browser sends.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ];
    for (request, name) in requests.iter().zip(["A", "B", "C"]) {
        expect_error(peer, t, name, request)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Stage 2: extensions
// ---------------------------------------------------------------------------

fn list(peer: &Peer, t: &Transcript) -> Checked {
    let mut a = connect(peer, t, "A")?;
    a.send_line("LIST")?;
    let line = reply_line(&mut a, "FILES:")?;
    let Ok(Message::Files(records)) = Message::parse(&line) else {
        return Err(format!("expected FILES: and file records, got {line:?}").into());
    };
    let file = &peer.file;
    let Some(record) = records.iter().find(|r| r.name == file.name) else {
        return Err(format!("FILES: has no record for {}", file.name).into());
    };
    if record.file_type != file.file_type || record.size != file.size() as u64 {
        return Err(format!(
            "the record of {} says type {} and size {}, not {} and {}",
            file.name,
            record.file_type,
            record.size,
            file.file_type,
            file.size()
        )
        .into());
    }
    written_exactly(&line)
}

fn ranged_download(peer: &Peer, t: &Transcript) -> Checked {
    let file = &peer.file;
    let size = file.size() as u64;
    let chunks = size.div_ceil(CHUNK_SIZE as u64);
    // The first chunk; two from the middle; the last one asked with a
    // count that runs past the end (the reply is clipped).
    let mut ranges = vec![ChunkRange { first: 0, count: 1 }];
    if chunks >= 3 {
        ranges.push(ChunkRange { first: 1, count: 2 });
    }
    if chunks >= 2 {
        ranges.push(ChunkRange {
            first: chunks - 1,
            count: 3,
        });
    }
    for (i, (range, name)) in ranges.iter().zip(["A", "B", "C"]).enumerate() {
        let Some((offset, len)) = range.byte_range(size) else {
            continue;
        };
        let expected = &file.bytes[offset as usize..(offset + len) as usize];
        let request = format!(
            "DOWNLOAD: {}, {}, {}",
            file.fields(),
            range.first,
            range.count
        );
        match expect_file(peer, t, name, &request, expected) {
            // Only the very first ranged request refused means the peer
            // does not offer them; a later refusal is a broken rule.
            Err(Miss::NotOffered(why)) if i > 0 => return Err(Miss::Broken(why)),
            other => other?,
        }
    }
    let past_end = format!("DOWNLOAD: {}, {chunks}, 1", file.fields());
    expect_error(peer, t, "D", past_end.as_bytes())
}

fn upload(peer: &Peer, t: &Transcript) -> Checked {
    let name = format!("chk-{}-upload.txt", peer.tag);
    let content: Vec<u8> = format!("Uploaded by the protocol checker as {name}.\n")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(UPLOAD_SIZE)
        .collect();
    let fields = format!("{name}, {}, {UPLOAD_SIZE}", type_of(&name));

    let mut a = connect(peer, t, "A")?;
    a.send_line(&format!("UPLOAD: {fields}"))?;
    match reply_line(&mut a, "READY")?.as_str() {
        "READY" => {}
        other => return Err(format!("expected READY, got {other:?}").into()),
    }
    a.send(&[b"FILE: ".as_slice(), &content].concat())?;
    match a.read_line() {
        Reply::Line(line) if line == "DONE" => {}
        Reply::Line(line) => return Err(format!("expected DONE, got {line:?}").into()),
        Reply::Unfinished(..) => return Err("no DONE line came".to_string().into()),
    }
    drop(a);
    expect_file(peer, t, "B", &format!("DOWNLOAD: {fields}"), &content).map_err(|miss| {
        let (Miss::Broken(why) | Miss::NotOffered(why)) = miss;
        format!("{why} (a DOWNLOAD of the file uploaded just before)")
    })?;

    // A file is never overwritten: an UPLOAD of a name B serves is refused.
    let mut c = connect(peer, t, "C")?;
    c.send_line(&format!("UPLOAD: {}", peer.file.fields()))?;
    match c.read_line() {
        Reply::Line(line) if line.starts_with("ERROR:") => Ok(()),
        Reply::Line(line) if line == "READY" => Err(format!(
            "READY to an UPLOAD of {}, which B serves already: it must answer ERROR:",
            peer.file.name
        )
        .into()),
        Reply::Line(line) => Err(format!("expected ERROR:, got {line:?}").into()),
        Reply::Unfinished(..) => Err("no ERROR: line came".to_string().into()),
    }
}

fn ping(peer: &Peer, t: &Transcript) -> Checked {
    let mut a = connect(peer, t, "A")?;
    a.send_line("PING")?;
    match reply_line(&mut a, "PONG")?.as_str() {
        "PONG" => Ok(()),
        other => Err(format!("expected PONG, got {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------
// Requests and replies
// ---------------------------------------------------------------------------

fn connect(peer: &Peer, t: &Transcript, name: &str) -> Result<Probe, String> {
    Probe::connect(peer.addr, name, peer.limit, t)
}

/// Sends `request` on a new connection and expects `FILE: `, exactly
/// `expected`, and the close.
fn expect_file(peer: &Peer, t: &Transcript, name: &str, request: &str, expected: &[u8]) -> Checked {
    let mut a = connect(peer, t, name)?;
    a.send_line(request)?;
    let most = b"FILE: ".len() + expected.len() + EXTRA_LIMIT;
    let received = a.read_to_close(most, peer.body_wait(expected.len()));
    judge_file(&received, expected).map_err(|why| match received.bytes.starts_with(b"ERROR") {
        // For an extension request, ERROR: may mean "not offered": the
        // caller decides.
        true => Miss::NotOffered(why),
        false => Miss::Broken(why),
    })
}

/// Sends `request` (and a line end) on a new connection and expects one
/// `ERROR:` line, then the close.
fn expect_error(peer: &Peer, t: &Transcript, name: &str, request: &[u8]) -> Checked {
    let mut a = connect(peer, t, name)?;
    a.send(&[request, b"\n"].concat())?;
    let received = a.read_to_close(MAX_LINE, peer.limit);
    Ok(judge_error(&received)?)
}

/// Whether a reply is `FILE: `, exactly `expected`, then the close; if not,
/// what is wrong with it, as precisely as can be told.
fn judge_file(received: &Received, expected: &[u8]) -> Result<(), String> {
    let bytes = &received.bytes;
    let Some(body) = bytes.strip_prefix(b"FILE: ") else {
        if bytes.starts_with(b"FILE:") {
            return Err("FILE: must be followed by one space, then the bytes at once".into());
        }
        if bytes.starts_with(b"ERROR") {
            let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(format!(
                "answered {} instead of FILE: and the bytes",
                show(line)
            ));
        }
        return Err("the reply must start with FILE: (with its space)".into());
    };
    let want = expected.len();
    if body == expected {
        return match received.end.is_closed() {
            true => Ok(()),
            false => Err("after the file's bytes B must close the connection".into()),
        };
    }
    for line_end in [&b"\r\n"[..], b"\n"] {
        if let Some(rest) = body.strip_prefix(line_end) {
            if expected.starts_with(&rest[..rest.len().min(want)]) {
                return Err(format!(
                    "{} came between FILE: and the file's bytes: the bytes follow the space at once",
                    show(line_end)
                ));
            }
        }
    }
    if body.len() < want && expected.starts_with(body) {
        return Err(format!(
            "{} short: {} of the file's {} came",
            count(want - body.len(), "byte"),
            body.len(),
            count(want, "byte")
        ));
    }
    if body.len() > want && body.starts_with(expected) {
        return Err(format!(
            "{} too many: the file's {} came, then {}",
            count(body.len() - want, "byte"),
            count(want, "byte"),
            show(&body[want..])
        ));
    }
    let at = body
        .iter()
        .zip(expected)
        .position(|(got, wanted)| got != wanted)
        .unwrap_or(want.min(body.len()));
    Err(format!(
        "the bytes are not the file's: byte {at} of the body differs ({} bytes came, the file has {want})",
        body.len()
    ))
}

/// Whether a reply is one `ERROR:` line, then the close, and nothing else.
fn judge_error(received: &Received) -> Result<(), String> {
    let bytes = &received.bytes;
    if bytes.starts_with(b"FILE:") {
        return Err("sent FILE: to a request it must refuse".into());
    }
    if bytes.is_empty() {
        return Err(match received.end.is_closed() {
            true => "closed without a word: B must say ERROR: <reason> first".into(),
            false => "no answer: B must say ERROR: <reason> and close".into(),
        });
    }
    if !bytes.starts_with(b"ERROR:") {
        return Err("expected ERROR: <reason>".into());
    }
    match bytes.iter().position(|&b| b == b'\n') {
        None => Err("the ERROR: line has no line end".into()),
        Some(end) if end + 1 < bytes.len() => Err(format!(
            "{} after the ERROR: line",
            count(bytes.len() - end - 1, "byte")
        )),
        Some(_) if !received.end.is_closed() => {
            Err("after the ERROR: line B must close the connection".into())
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::End;

    fn got(bytes: &[u8], end: End) -> Received {
        Received {
            bytes: bytes.to_vec(),
            end,
        }
    }

    const OPEN: End = End::Open(Duration::from_millis(100));

    /// Each reply, ending so, is judged wrong, and the reason says `why`.
    fn assert_refused(
        cases: &[(&[u8], End, &str)],
        judge: impl Fn(&Received) -> Result<(), String>,
    ) {
        for &(reply, end, why) in cases {
            let judged = judge(&got(reply, end));
            assert!(
                judged.as_ref().is_err_and(|e| e.contains(why)),
                "{reply:?}: {judged:?}"
            );
        }
    }

    #[test]
    fn a_file_reply_is_judged_byte_for_byte() {
        let file = b"hello world";
        assert_eq!(
            judge_file(&got(b"FILE: hello world", End::Closed), file),
            Ok(())
        );
        let wrong = [
            (&b"FILE:hello world"[..], End::Closed, "one space"),
            (b"FILE: \nhello world", End::Closed, "came between"),
            (b"FILE: \r\nhello world", End::Closed, "came between"),
            (b"FILE: hello worl", End::Closed, "1 byte short"),
            (b"FILE: hello world!", End::Closed, "1 byte too many"),
            (b"FILE: hello world", OPEN, "must close"),
            (b"FILE: jello world", End::Closed, "byte 0"),
            (b"ERROR: no\n", End::Closed, "answered \"ERROR: no\""),
            (b"", End::Closed, "must start with FILE:"),
        ];
        assert_refused(&wrong, |received| judge_file(received, file));
    }

    #[test]
    fn an_error_reply_is_one_line_then_the_close() {
        assert_eq!(judge_error(&got(b"ERROR: no\n", End::Closed)), Ok(()));
        assert_eq!(judge_error(&got(b"ERROR: no\r\n", End::Reset)), Ok(()));
        let wrong = [
            (&b""[..], End::Closed, "without a word"),
            (b"", OPEN, "no answer"),
            (b"ERROR: no", End::Closed, "no line end"),
            (b"ERROR: no\n", OPEN, "must close"),
            (b"ERROR: no\nFILE: x", End::Closed, "after the ERROR: line"),
            (b"FILE: x", End::Closed, "sent FILE:"),
            (b"NO\n", End::Closed, "expected ERROR:"),
        ];
        assert_refused(&wrong, judge_error);
    }
}
