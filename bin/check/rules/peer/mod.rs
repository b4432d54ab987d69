//! A peer's rules: how it answers other peers, one request per connection.
//!
//! The checker needs one file the peer serves, and its bytes, to know what a
//! correct `FILE: ` reply holds: `--file PATH` is a local copy of it. Its
//! name, type (the extension, or `none`) and size come from that copy.

mod hash;
mod replies;

use super::{reply_line, written_exactly, Checked, Miss, Rule, Stage};
use crate::probe::{count, Reply, Transcript, EXTRA_LIMIT, MIN_TRANSFER_RATE};
use hash::hash;
use p2p_share::wire::protocol::{type_of, ChunkRange, FileRecord, Message, CHUNK_SIZE};
use p2p_share::wire::rules;
use replies::{connect, exchange, expect_error, expect_file, request};
use std::cell::Cell;
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
    /// The peer answers a request only once the checker has closed its
    /// sending side: the later requests do so at once.
    needs_half_close: Cell<bool>,
    /// That fault was found, and no rule has said it yet.
    half_close_unsaid: Cell<bool>,
    /// A half-close was tried, and got no answer either.
    half_close_useless: Cell<bool>,
    /// A DOWNLOAD of `--file` was answered `FILE: ` before the rules.
    serves_file: Cell<bool>,
    /// `--file` is not what the peer serves (said on the report's first
    /// lines): the rules that need its bytes are not judged.
    file_differs: Cell<bool>,
}

/// What a rule that needs the `--file` bytes says when they differ.
const NEEDS_FILE: &str =
    "needs a --file that is a copy of the file the peer serves (see the first lines)";

impl Peer {
    pub fn new(addr: std::net::SocketAddr, limit: Duration, file: LocalFile, tag: String) -> Peer {
        Peer {
            addr,
            limit,
            file,
            tag,
            needs_half_close: Cell::new(false),
            half_close_unsaid: Cell::new(false),
            half_close_useless: Cell::new(false),
            serves_file: Cell::new(false),
            file_differs: Cell::new(false),
        }
    }

    /// Whether `--file` is what the peer serves, before any rule: a
    /// DOWNLOAD of it answered `FILE: ` is; otherwise the peer's LIST, if
    /// it has one, tells the size it serves. One line when they differ.
    pub fn compare_file(&self) -> Option<String> {
        let t = Transcript::new();
        let file = &self.file;
        let request = format!("DOWNLOAD: {}", file.fields());
        let most = b"FILE: ".len() + file.size() + EXTRA_LIMIT;
        let limits = (most, self.body_wait(file.size()));
        let received = exchange(self, &t, "A", request.as_bytes(), limits).ok()?;
        if received.bytes.starts_with(b"FILE:") {
            self.serves_file.set(true);
            return None;
        }
        let listed = exchange(self, &t, "B", b"LIST", (EXTRA_LIMIT, self.limit)).ok()?;
        let line = String::from_utf8_lossy(&listed.bytes);
        let Ok(Message::Files(records)) = Message::parse(line.lines().next()?) else {
            return None;
        };
        let line = differs(file, &records)?;
        self.file_differs.set(true);
        Some(line)
    }

    /// Not judged when `--file` is not what the peer serves.
    fn needs_file(&self) -> Checked {
        match self.file_differs.get() {
            true => Err(Miss::NotJudged(NEEDS_FILE.into())),
            false => Ok(()),
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

/// How `--file` differs from what the peer lists, in one line (`None`:
/// the peer lists it as it is).
fn differs(file: &LocalFile, records: &[FileRecord]) -> Option<String> {
    let ours = count(file.size(), "byte");
    match records.iter().find(|r| r.name == file.name) {
        Some(record) if record.size != file.size() as u64 => Some(format!(
            "the peer serves {} with {}; your --file has {}: pass a copy of the file it serves",
            file.name,
            count(record.size as usize, "byte"),
            file.size()
        )),
        Some(_) => None,
        None => {
            let names: Vec<&str> = records.iter().take(5).map(|r| r.name.as_str()).collect();
            Some(format!(
                "the peer does not serve {} (your --file, {ours}); it lists {}: pass a copy of a file it serves",
                file.name,
                match names.is_empty() {
                    true => "no file".to_string(),
                    false => names.join(", "),
                }
            ))
        }
    }
}

/// The stages of the peer check, from the protocol's one list of rules.
pub const STAGES: [Stage; 2] = rules::peer::STAGES;

/// Every rule of a peer, stage by stage.
pub const RULES: [Rule<Peer>; 10] = [
    Rule {
        about: &rules::peer::DOWNLOAD,
        check: download,
    },
    Rule {
        about: &rules::peer::WRONG_SIZE,
        check: wrong_size,
    },
    Rule {
        about: &rules::peer::UNKNOWN_NAME,
        check: unknown_name,
    },
    Rule {
        about: &rules::peer::PATH_NAME,
        check: path_name,
    },
    Rule {
        about: &rules::peer::GARBAGE,
        check: garbage,
    },
    Rule {
        about: &rules::peer::LIST,
        check: list,
    },
    Rule {
        about: &rules::peer::RANGED_DOWNLOAD,
        check: ranged_download,
    },
    Rule {
        about: &rules::peer::UPLOAD,
        check: upload,
    },
    Rule {
        about: &rules::peer::PING,
        check: ping,
    },
    Rule {
        about: &rules::peer::HASH,
        check: hash,
    },
];

// ---------------------------------------------------------------------------
// Stage 1: download
// ---------------------------------------------------------------------------

fn download(peer: &Peer, t: &Transcript) -> Checked {
    peer.needs_file()?;
    let file = &peer.file;
    let request = format!("DOWNLOAD: {}", file.fields());
    expect_file(peer, t, "A", &request, &file.bytes).map_err(|miss| match miss {
        // ERROR: to the file it was said to serve: maybe --file is not it.
        Miss::NotOffered(why) => Miss::Broken(format!(
            "{why}: is your --file a copy of a file the peer serves, with the same name and size?"
        )),
        other => other,
    })
}

fn wrong_size(peer: &Peer, t: &Transcript) -> Checked {
    peer.needs_file()?;
    if !peer.serves_file.get() {
        // A peer that refuses every request would pass it.
        return Err(Miss::NotJudged(
            "needs a DOWNLOAD of the file that is answered FILE: (see download)".into(),
        ));
    }
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
    peer.needs_file()?;
    let mut a = request(peer, t, "A", "LIST")?;
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
    peer.needs_file()?;
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
            // Only the very first ranged request refused (or answered with
            // the whole file, as a core-only peer does) means the peer does
            // not offer them; a later refusal is a broken rule.
            Err(Miss::NotOffered(why)) if i > 0 => return Err(Miss::Broken(why)),
            Err(Miss::Broken(_)) if i == 0 && whole_file_came(t, size) => {
                return Err(Miss::NotOffered(
                    "it ignores the range: the whole file came".into(),
                ))
            }
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
        let (Miss::Broken(why) | Miss::NotOffered(why) | Miss::NotJudged(why)) = miss;
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
    let mut a = request(peer, t, "A", "PING")?;
    match reply_line(&mut a, "PONG")?.as_str() {
        "PONG" => Ok(()),
        other => Err(format!("expected PONG, got {other:?}").into()),
    }
}

/// Whether the last reply of the transcript was `FILE: ` and the whole
/// file, where a range of it was asked for.
fn whole_file_came(t: &Transcript, size: u64) -> bool {
    size > CHUNK_SIZE as u64
        && t.lines().last().is_some_and(|line| {
            line.ends_with(&format!(
                "\"FILE: \" then {}, then the close",
                count(size as usize, "byte")
            ))
        })
}
