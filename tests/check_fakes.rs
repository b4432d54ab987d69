//! The protocol checker against deliberately wrong servers: every rule is
//! proven able to fail.
//!
//! One configurable fake tracker and one configurable fake peer, each a
//! small std TCP server in this file that gets the protocol right, plus a
//! set of fault switches. Each test turns on one fault and asserts that
//! exactly the rule it breaks fails, and every other rule passes (the
//! report, with its evidence, is printed). Then servers that hang, close
//! at once, or send endless lines or random bytes: the checker still
//! finishes within its time limits and reports, without a panic.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::checker::{run_check, CheckRun, PEER_RULES, TRACKER_RULES};
use common::students::{found_without_spaces, lock, read_line};
use common::{pattern_bytes, Rng, TempDir};
use p2p_share::wire::date::Date;
use p2p_share::wire::protocol::{
    type_of, DownloadRequest, FileRecord, Location, Message, ParseError, FILE_HEADER,
    MAX_FIND_RECORDS,
};
use p2p_share::wire::sha256;
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

/// The checker's time limit in these tests: the fakes answer at once, so a
/// short limit only shortens the rules that wait for what never comes.
const LIMIT: &str = "0.5";

/// How long a fake waits for a line: long enough for any check, short
/// enough that no thread of a fake outlives the test run by much.
const FAKE_READ_LIMIT: Duration = Duration::from_secs(10);

/// A whole check of a misbehaving server must end within this time (with
/// the short [`LIMIT`] it takes a few seconds).
const MISBEHAVING_RUN_LIMIT: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------
// A fake server: a thread per connection, stopped when dropped
// ---------------------------------------------------------------------------

struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// Serves each connection to a fresh loopback port with `serve`.
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake server");
        let addr = listener.local_addr().expect("fake server address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(FAKE_READ_LIMIT));
                let _ = stream.set_write_timeout(Some(FAKE_READ_LIMIT));
                let serve = Arc::clone(&serve);
                thread::spawn(move || serve(stream));
            }
        });
        FakeServer { addr, stop }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Waits until the other side closes (or the fake's time limit).
fn wait_for_close(reader: &mut impl Read) {
    let _ = std::io::copy(reader, &mut std::io::sink());
}

// ---------------------------------------------------------------------------
// The fake tracker
// ---------------------------------------------------------------------------

/// The ways the fake tracker can be wrong; all off, it keeps every rule.
#[derive(Clone, Copy, Default)]
struct TrackerFaults {
    hi_without_newline: bool,
    reads_one_recv_as_one_message: bool,
    answers_search_before_hello: bool,
    answers_search_before_records: bool,
    refuses_five_records: bool,
    refuses_every_join: bool,
    accepts_no_records: bool,
    accepts_six_records: bool,
    answers_malformed_records: bool,
    writes_fields_without_space: bool,
    joins_records_with_a_bar: bool,
    closes_after_each_search: bool,
    finds_first_holder_only: bool,
    writes_not_found_with_underscore: bool,
    searches_ignoring_case: bool,
    ignores_unknown_lines: bool,
    answers_bye: bool,
    keeps_records_after_bye: bool,
    keeps_records_after_crash: bool,
    keeps_records_on_rejoin: bool,
    lists_first_record_only: bool,
    answers_ping_in_lowercase: bool,
    finds_case_sensitively: bool,
    ignores_find: bool,
    offers_no_extensions: bool,
}

/// The fake tracker's index: each joined session's id, its address and
/// records.
type Index = Mutex<Vec<(u64, SocketAddr, Vec<FileRecord>)>>;

fn fake_tracker(faults: TrackerFaults) -> FakeServer {
    let index: Arc<Index> = Arc::default();
    let sessions = AtomicU64::new(1);
    FakeServer::start(move |stream| {
        let session = sessions.fetch_add(1, Ordering::SeqCst);
        tracker_session(stream, faults, &index, session);
    })
}

fn tracker_session(stream: TcpStream, f: TrackerFaults, index: &Index, session: u64) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let hello = if f.reads_one_recv_as_one_message {
        // The classic mistake: one recv() taken for one whole message.
        let mut buf = [0u8; 1024];
        match reader.get_mut().read(&mut buf) {
            Ok(n) if &buf[..n] == b"HELLO\n" => Some(b"HELLO".to_vec()),
            _ => None,
        }
    } else {
        read_line(&mut reader)
    };
    match hello.as_deref() {
        Some(b"HELLO") => {}
        Some(_) if f.answers_search_before_hello => {
            let _ = out.write_all(b"NOT FOUND\n");
            return;
        }
        _ => return,
    }
    let hi: &[u8] = if f.hi_without_newline { b"HI" } else { b"HI\n" };
    if out.write_all(hi).is_err() {
        return;
    }
    let Some(line) = read_line(&mut reader) else {
        return;
    };
    let records = match Message::parse_bytes(&line) {
        Ok(Message::Records(records)) => records,
        Ok(Message::Search(_)) if f.answers_search_before_records => {
            let _ = out.write_all(b"NOT FOUND\n");
            return;
        }
        Err(ParseError::Empty) if f.accepts_no_records => Vec::new(),
        Err(ParseError::BadRecord(_)) if f.answers_malformed_records => {
            let _ = out.write_all(b"ERROR: bad record\n");
            return;
        }
        _ => return,
    };
    let most = if f.accepts_six_records { 6 } else { 5 };
    let refused = f.refuses_every_join
        || (records.is_empty() && !f.accepts_no_records)
        || records.len() > most
        || (records.len() == 5 && f.refuses_five_records);
    if refused {
        return;
    }
    let addr = records
        .first()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), FileRecord::addr);
    {
        let mut index = lock(index);
        if !f.keeps_records_on_rejoin {
            index.retain(|(_, joined, _)| *joined != addr);
        }
        index.push((session, addr, records));
    }
    let forget = || lock(index).retain(|(id, _, _)| *id != session);
    loop {
        let Some(line) = read_line(&mut reader) else {
            if !f.keeps_records_after_crash {
                forget();
            }
            return;
        };
        let reply = match Message::parse_bytes(&line) {
            Ok(Message::Bye) => {
                if !f.keeps_records_after_bye {
                    forget();
                }
                if f.answers_bye {
                    let _ = out.write_all(b"BYE\n");
                }
                return;
            }
            Ok(Message::Search(name)) if f.closes_after_each_search => {
                let reply = search(f, &lock(index), &name);
                let _ = out.write_all(format!("{reply}\n").as_bytes());
                forget();
                return;
            }
            Ok(Message::Search(name)) => search(f, &lock(index), &name),
            Ok(Message::List) if !f.offers_no_extensions => {
                let records = lock(index)
                    .iter()
                    .flat_map(|(_, _, records)| {
                        let keep = if f.lists_first_record_only {
                            1
                        } else {
                            records.len()
                        };
                        records.iter().take(keep).cloned().collect::<Vec<_>>()
                    })
                    .collect();
                Message::Files(records).format()
            }
            Ok(Message::Ping) if !f.offers_no_extensions => match f.answers_ping_in_lowercase {
                true => "pong".into(),
                false => "PONG".into(),
            },
            Ok(Message::Find(_)) if f.ignores_find => continue,
            Ok(Message::Find(words)) if !f.offers_no_extensions => find(f, &lock(index), &words),
            _ if f.ignores_unknown_lines => continue,
            _ => "ERROR: not understood".into(),
        };
        if out.write_all(format!("{reply}\n").as_bytes()).is_err() {
            return;
        }
    }
}

fn search(f: TrackerFaults, index: &[(u64, SocketAddr, Vec<FileRecord>)], name: &str) -> String {
    let mut found: Vec<Location> = index
        .iter()
        .flat_map(|(_, _, records)| records)
        .filter(|r| match f.searches_ignoring_case {
            true => r.name.eq_ignore_ascii_case(name),
            false => r.name == name,
        })
        .map(FileRecord::location)
        .collect();
    if f.finds_first_holder_only {
        found.truncate(1);
    }
    if found.is_empty() {
        return match f.writes_not_found_with_underscore {
            true => "NOT_FOUND".into(),
            false => "NOT FOUND".into(),
        };
    }
    if f.writes_fields_without_space {
        return found_without_spaces(&found);
    }
    if f.joins_records_with_a_bar {
        let records: Vec<String> = found.iter().map(Location::to_string).collect();
        return format!("FOUND: {}", records.join("|"));
    }
    Message::Found(found).format()
}

/// FIND: the records whose names hold every word, in any case (with the
/// fault, only in the case given).
fn find(
    f: TrackerFaults,
    index: &[(u64, SocketAddr, Vec<FileRecord>)],
    words: &[String],
) -> String {
    let fold = |text: &str| match f.finds_case_sensitively {
        true => text.to_string(),
        false => text.to_lowercase(),
    };
    let found: Vec<FileRecord> = index
        .iter()
        .flat_map(|(_, _, records)| records)
        .filter(|r| words.iter().all(|word| fold(&r.name).contains(&fold(word))))
        .take(MAX_FIND_RECORDS)
        .cloned()
        .collect();
    match found.is_empty() {
        true => "NOT FOUND".into(),
        false => Message::Files(found).format(),
    }
}

// ---------------------------------------------------------------------------
// The fake peer
// ---------------------------------------------------------------------------

/// The ways the fake peer can be wrong; all off, it keeps every rule.
/// The faults of a whole-file download touch only the file the checker
/// was told about, so that they break exactly the `download` rule.
#[derive(Clone, Copy, Default)]
struct PeerFaults {
    writes_file_without_space: bool,
    sends_one_byte_short: bool,
    sends_one_byte_extra: bool,
    sends_newline_before_bytes: bool,
    stays_open_after_file: bool,
    ignores_the_size: bool,
    refuses_every_download: bool,
    closes_silently_on_unknown_name: bool,
    follows_paths: bool,
    closes_silently_on_garbage: bool,
    lists_wrong_size: bool,
    ignores_ranges: bool,
    forgets_uploads: bool,
    overwrites_on_upload: bool,
    answers_ping_in_lowercase: bool,
    hashes_one_byte_short: bool,
    hashes_the_whole_file_for_a_range: bool,
    closes_silently_on_hash: bool,
    offers_no_extensions: bool,
}

/// The file the fake peer serves, and whose local copy the checker gets.
const SERVED_NAME: &str = "notes.txt";
const SERVED_SIZE: usize = 987;

type Files = Mutex<HashMap<String, Vec<u8>>>;

/// A fake peer, and the folder holding the local copy of its file.
struct FakePeer {
    server: FakeServer,
    dir: TempDir,
}

fn fake_peer(test: &str, faults: PeerFaults) -> FakePeer {
    let dir = TempDir::new(test);
    let bytes = pattern_bytes(SERVED_SIZE);
    dir.write(SERVED_NAME, &bytes);
    let files: Arc<Files> = Arc::new(Mutex::new(HashMap::from([(
        SERVED_NAME.to_string(),
        bytes,
    )])));
    let server = FakeServer::start(move |stream| peer_connection(stream, faults, &files));
    FakePeer { server, dir }
}

fn peer_connection(stream: TcpStream, f: PeerFaults, files: &Files) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let Ok(own) = stream.local_addr() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let Some(mut line) = read_line(&mut reader) else {
        return;
    };
    if f.follows_paths {
        // Takes the last part of a path as the name: ./notes.txt is served.
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some((name, rest)) = text
            .strip_prefix("DOWNLOAD: ")
            .and_then(|r| r.split_once(','))
        {
            let base = name.rsplit('/').next().unwrap_or(name);
            line = format!("DOWNLOAD: {base},{rest}").into_bytes();
        }
    }
    let extension = !f.offers_no_extensions;
    let reply = match Message::parse_bytes(&line) {
        Ok(Message::Download(_)) if f.refuses_every_download => "ERROR: no".to_string(),
        Ok(Message::Download(request)) => {
            let files = lock(files);
            let Some(bytes) = files.get(&request.file.name) else {
                if !f.closes_silently_on_unknown_name {
                    let _ = out.write_all(b"ERROR: no such file\n");
                }
                return;
            };
            let size_ok = request.file.size == bytes.len() as u64 || f.ignores_the_size;
            if request.file.file_type != type_of(&request.file.name) || !size_ok {
                "ERROR: wrong type or size".to_string()
            } else if request.range.is_some() && !extension {
                "ERROR: no ranges here".to_string()
            } else {
                let whole = request.range.is_none() && request.file.name == SERVED_NAME;
                let range = match request.range {
                    Some(range) if !f.ignores_ranges => range.byte_range(bytes.len() as u64),
                    _ => Some((0, bytes.len() as u64)),
                };
                let Some((offset, len)) = range else {
                    let _ = out.write_all(b"ERROR: past the end\n");
                    return;
                };
                let body = bytes[offset as usize..(offset + len) as usize].to_vec();
                send_file(&mut out, f, whole, body);
                if whole && f.stays_open_after_file {
                    wait_for_close(&mut reader);
                }
                return;
            }
        }
        Ok(Message::List) if extension => {
            let today = Date::from_system_time(SystemTime::now());
            let records = lock(files)
                .iter()
                .map(|(name, bytes)| FileRecord {
                    name: name.clone(),
                    file_type: type_of(name),
                    size: bytes.len() as u64 + u64::from(f.lists_wrong_size),
                    modified: today,
                    ip: own.ip(),
                    port: own.port(),
                })
                .collect();
            Message::Files(records).format()
        }
        Ok(Message::Upload(spec)) if extension => {
            if lock(files).contains_key(&spec.name) && !f.overwrites_on_upload {
                "ERROR: already serving it".to_string()
            } else {
                let _ = out.write_all(b"READY\n");
                let mut body = vec![0u8; FILE_HEADER.len() + spec.size as usize];
                if reader.read_exact(&mut body).is_err()
                    || !body.starts_with(FILE_HEADER.as_bytes())
                {
                    return;
                }
                if !f.forgets_uploads {
                    lock(files).insert(spec.name, body.split_off(FILE_HEADER.len()));
                }
                "DONE".to_string()
            }
        }
        Ok(Message::Ping) if extension => match f.answers_ping_in_lowercase {
            true => "pong".into(),
            false => "PONG".into(),
        },
        Ok(Message::Hash(_)) if f.closes_silently_on_hash => return,
        Ok(Message::Hash(request)) if extension => hash(f, &lock(files), &request),
        // Silent only on a line that starts with no keyword at all, so that
        // refused DOWNLOADs (paths) still get their ERROR:.
        Err(ParseError::UnknownCommand(_) | ParseError::NotText)
            if f.closes_silently_on_garbage =>
        {
            return
        }
        Err(error) => format!("ERROR: {error}"),
        Ok(_) => "ERROR: not a request".to_string(),
    };
    let _ = out.write_all(format!("{reply}\n").as_bytes());
}

/// HASH: the SHA-256 of the bytes a DOWNLOAD of the same fields sends
/// (with the fault, of all of them but the last).
fn hash(f: PeerFaults, files: &HashMap<String, Vec<u8>>, request: &DownloadRequest) -> String {
    let file = &request.file;
    let Some(bytes) = files.get(&file.name) else {
        return "ERROR: no such file".into();
    };
    if file.file_type != type_of(&file.name) || file.size != bytes.len() as u64 {
        return "ERROR: wrong type or size".into();
    }
    let range = match f.hashes_the_whole_file_for_a_range {
        true => Some((0, file.size)),
        false => request.byte_range(),
    };
    let Some((offset, len)) = range else {
        return "ERROR: past the end".into();
    };
    let mut part = &bytes[offset as usize..(offset + len) as usize];
    if f.hashes_one_byte_short {
        part = &part[..part.len() - 1];
    }
    Message::Hashed(sha256::digest(part)).format()
}

/// `FILE: ` and the bytes, with the download faults for a whole file.
fn send_file(out: &mut TcpStream, f: PeerFaults, whole: bool, mut body: Vec<u8>) {
    let mut reply = match whole && f.writes_file_without_space {
        true => b"FILE:".to_vec(),
        false => FILE_HEADER.as_bytes().to_vec(),
    };
    if whole && f.sends_newline_before_bytes {
        reply.push(b'\n');
    }
    if whole && f.sends_one_byte_short {
        body.pop();
    }
    if whole && f.sends_one_byte_extra {
        body.push(b'\n');
    }
    reply.extend_from_slice(&body);
    let _ = out.write_all(&reply);
}

// ---------------------------------------------------------------------------
// Running the checker against the fakes
// ---------------------------------------------------------------------------

fn check_tracker(faults: TrackerFaults) -> CheckRun {
    let fake = fake_tracker(faults);
    run_check(&["tracker", &fake.addr(), "--timeout", LIMIT])
}

fn check_peer(test: &str, faults: PeerFaults) -> CheckRun {
    let fake = fake_peer(test, faults);
    let file = fake.dir.join(SERVED_NAME);
    let file = file.to_str().expect("UTF-8 path");
    run_check(&[
        "peer",
        &fake.server.addr(),
        "--file",
        file,
        "--timeout",
        LIMIT,
    ])
}

#[test]
fn the_fake_tracker_without_faults_passes_every_rule() {
    let run = check_tracker(TrackerFaults::default());
    run.assert_failed_exactly(&[], false);
    assert_eq!(run.rules("PASS"), TRACKER_RULES, "{}", run.shown());
}

#[test]
fn the_fake_peer_without_faults_passes_every_rule() {
    let run = check_peer("fake_peer_ok", PeerFaults::default());
    run.assert_failed_exactly(&[], false);
    assert_eq!(run.rules("PASS"), PEER_RULES, "{}", run.shown());
}

/// One fault of the fake tracker breaks exactly `rule`.
fn tracker_fault_breaks(faults: TrackerFaults, rule: &str) {
    let core = !["list", "ping", "find"].contains(&rule);
    check_tracker(faults).assert_failed_exactly(&[rule], core);
}

/// One fault of the fake peer breaks exactly `rule`.
fn peer_fault_breaks(test: &str, faults: PeerFaults, rule: &str) {
    let core = !["list", "ranged-download", "upload", "ping", "hash"].contains(&rule);
    check_peer(test, faults).assert_failed_exactly(&[rule], core);
}

fn tracker(change: impl FnOnce(&mut TrackerFaults)) -> TrackerFaults {
    let mut faults = TrackerFaults::default();
    change(&mut faults);
    faults
}

fn peer(change: impl FnOnce(&mut PeerFaults)) -> PeerFaults {
    let mut faults = PeerFaults::default();
    change(&mut faults);
    faults
}

// Stage 1 of the tracker: join.

#[test]
fn hi_without_a_newline_breaks_hello_hi() {
    tracker_fault_breaks(tracker(|f| f.hi_without_newline = true), "hello-hi");
}

#[test]
fn one_recv_taken_for_one_message_breaks_line_framing() {
    tracker_fault_breaks(
        tracker(|f| f.reads_one_recv_as_one_message = true),
        "line-framing",
    );
}

#[test]
fn answering_search_before_hello_breaks_hello_first() {
    tracker_fault_breaks(
        tracker(|f| f.answers_search_before_hello = true),
        "hello-first",
    );
}

#[test]
fn answering_search_before_the_records_breaks_silent_before_join() {
    tracker_fault_breaks(
        tracker(|f| f.answers_search_before_records = true),
        "silent-before-join",
    );
}

#[test]
fn refusing_five_records_breaks_join() {
    tracker_fault_breaks(tracker(|f| f.refuses_five_records = true), "join");
}

#[test]
fn refusing_every_join_fails_join_and_passes_no_refusal() {
    let run = check_tracker(tracker(|f| f.refuses_every_join = true));
    // Every rule after `join` needs one, and so does the records part of
    // `line-framing`.
    let needs_a_join = [&["line-framing"][..], &TRACKER_RULES[5..]].concat();
    run.assert_verdicts(&["join"], &needs_a_join);
    assert!(
        run.says(
            "needs an accepted join (see join): a tracker that refuses every join would pass it"
        ),
        "{}",
        run.shown()
    );
}

#[test]
fn accepting_a_peer_sharing_nothing_breaks_refuse_empty() {
    tracker_fault_breaks(tracker(|f| f.accepts_no_records = true), "refuse-empty");
}

#[test]
fn accepting_six_records_breaks_refuse_six() {
    tracker_fault_breaks(tracker(|f| f.accepts_six_records = true), "refuse-six");
}

#[test]
fn answering_a_refused_peer_breaks_refuse_malformed() {
    tracker_fault_breaks(
        tracker(|f| f.answers_malformed_records = true),
        "refuse-malformed",
    );
}

// Stage 2: search.

#[test]
fn fields_joined_without_the_space_break_found() {
    tracker_fault_breaks(tracker(|f| f.writes_fields_without_space = true), "found");
}

#[test]
fn records_joined_by_a_bar_break_several_holders_and_are_named() {
    let run = check_tracker(tracker(|f| f.joins_records_with_a_bar = true));
    run.assert_failed_exactly(&["several-holders"], true);
    assert!(
        run.says("records joined by \"|\" instead of one space"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_close_after_each_search_breaks_found_alone() {
    let run = check_tracker(tracker(|f| f.closes_after_each_search = true));
    run.assert_failed_exactly(&["found"], true);
    assert!(
        run.says("a session stays open until the peer says BYE"),
        "{}",
        run.shown()
    );
}

#[test]
fn finding_only_the_first_holder_breaks_several_holders() {
    tracker_fault_breaks(
        tracker(|f| f.finds_first_holder_only = true),
        "several-holders",
    );
}

#[test]
fn not_found_misspelt_breaks_not_found() {
    tracker_fault_breaks(
        tracker(|f| f.writes_not_found_with_underscore = true),
        "not-found",
    );
}

#[test]
fn a_search_ignoring_case_breaks_exact_name() {
    tracker_fault_breaks(tracker(|f| f.searches_ignoring_case = true), "exact-name");
}

#[test]
fn ignoring_an_unknown_line_breaks_error_after_join() {
    tracker_fault_breaks(
        tracker(|f| f.ignores_unknown_lines = true),
        "error-after-join",
    );
}

// Stage 3: leave.

#[test]
fn keeping_records_after_bye_breaks_bye() {
    tracker_fault_breaks(tracker(|f| f.keeps_records_after_bye = true), "bye");
}

#[test]
fn answering_bye_breaks_bye() {
    tracker_fault_breaks(tracker(|f| f.answers_bye = true), "bye");
}

#[test]
fn keeping_records_after_a_crash_breaks_crash() {
    tracker_fault_breaks(tracker(|f| f.keeps_records_after_crash = true), "crash");
}

#[test]
fn keeping_old_records_on_a_rejoin_breaks_rejoin() {
    tracker_fault_breaks(tracker(|f| f.keeps_records_on_rejoin = true), "rejoin");
}

// Stage 4: the tracker's extensions.

#[test]
fn listing_one_record_per_peer_breaks_list() {
    tracker_fault_breaks(tracker(|f| f.lists_first_record_only = true), "list");
}

#[test]
fn pong_in_lowercase_breaks_the_trackers_ping() {
    tracker_fault_breaks(tracker(|f| f.answers_ping_in_lowercase = true), "ping");
}

#[test]
fn a_case_sensitive_find_breaks_find() {
    let faults = tracker(|f| f.finds_case_sensitively = true);
    let run = check_tracker(faults);
    run.assert_failed_exactly(&["find"], false);
    assert!(run.says("a word matches in any case"), "{}", run.shown());
    assert!(
        run.says("in the names' own case, finds them"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_tracker_silent_to_find_does_not_offer_it() {
    let run = check_tracker(tracker(|f| f.ignores_find = true));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(run.rules("SKIP"), ["find"], "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

#[test]
fn a_tracker_without_extensions_skips_them_and_passes() {
    let run = check_tracker(tracker(|f| f.offers_no_extensions = true));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(
        run.rules("SKIP"),
        ["list", "ping", "find"],
        "{}",
        run.shown()
    );
    assert_eq!(run.counts(), (16, 0), "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

// The peer: download.

#[test]
fn file_without_its_space_breaks_download() {
    peer_fault_breaks(
        "file_no_space",
        peer(|f| f.writes_file_without_space = true),
        "download",
    );
}

#[test]
fn one_byte_short_breaks_download() {
    peer_fault_breaks(
        "one_short",
        peer(|f| f.sends_one_byte_short = true),
        "download",
    );
}

#[test]
fn one_byte_extra_breaks_download() {
    peer_fault_breaks(
        "one_extra",
        peer(|f| f.sends_one_byte_extra = true),
        "download",
    );
}

#[test]
fn a_newline_before_the_bytes_breaks_download() {
    peer_fault_breaks(
        "newline_first",
        peer(|f| f.sends_newline_before_bytes = true),
        "download",
    );
}

#[test]
fn staying_open_after_the_file_breaks_download() {
    peer_fault_breaks(
        "stays_open",
        peer(|f| f.stays_open_after_file = true),
        "download",
    );
}

#[test]
fn serving_whatever_the_size_breaks_wrong_size() {
    peer_fault_breaks(
        "any_size",
        peer(|f| f.ignores_the_size = true),
        "wrong-size",
    );
}

#[test]
fn closing_without_error_on_an_unknown_name_breaks_unknown_name() {
    peer_fault_breaks(
        "unknown_silent",
        peer(|f| f.closes_silently_on_unknown_name = true),
        "unknown-name",
    );
}

#[test]
fn following_paths_breaks_path_name() {
    peer_fault_breaks("paths", peer(|f| f.follows_paths = true), "path-name");
}

#[test]
fn closing_without_error_on_garbage_breaks_garbage() {
    peer_fault_breaks(
        "garbage_silent",
        peer(|f| f.closes_silently_on_garbage = true),
        "garbage",
    );
}

#[test]
fn refusing_every_download_is_not_a_pass_of_wrong_size() {
    let run = check_peer("refuses_all", peer(|f| f.refuses_every_download = true));
    run.assert_verdicts(&["download", "upload"], &["wrong-size"]);
    assert!(
        run.says("is your --file a copy of a file the peer serves"),
        "{}",
        run.shown()
    );
    assert_eq!(run.rules("SKIP"), ["ranged-download"], "{}", run.shown());
}

// The peer's extensions.

#[test]
fn a_wrong_size_in_files_breaks_list() {
    peer_fault_breaks("list_size", peer(|f| f.lists_wrong_size = true), "list");
}

#[test]
fn the_whole_file_for_a_range_is_not_offering_ranges() {
    // A core-only peer that ignores the range sends the whole file: that
    // is an extension not offered, not a wrong answer.
    let run = check_peer("no_ranges", peer(|f| f.ignores_ranges = true));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(run.rules("SKIP"), ["ranged-download"], "{}", run.shown());
    assert!(run.says("it ignores the range"), "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

#[test]
fn a_forgotten_upload_breaks_upload() {
    peer_fault_breaks("forgets", peer(|f| f.forgets_uploads = true), "upload");
}

#[test]
fn ready_for_a_served_name_breaks_upload() {
    peer_fault_breaks(
        "overwrites",
        peer(|f| f.overwrites_on_upload = true),
        "upload",
    );
}

#[test]
fn pong_in_lowercase_breaks_the_peers_ping() {
    peer_fault_breaks("pong", peer(|f| f.answers_ping_in_lowercase = true), "ping");
}

#[test]
fn a_hash_of_one_byte_short_breaks_hash_and_shows_both_hashes() {
    let run = check_peer("hash_short", peer(|f| f.hashes_one_byte_short = true));
    run.assert_failed_exactly(&["hash"], false);
    let whole = pattern_bytes(SERVED_SIZE);
    for digest in [&whole[..SERVED_SIZE - 1], &whole[..]] {
        let hex = sha256::to_hex(&sha256::digest(digest));
        assert!(run.says(&hex), "{hex}: {}", run.shown());
    }
}

#[test]
fn the_whole_file_s_hash_for_a_range_breaks_hash_and_says_so() {
    let faults = peer(|f| f.hashes_the_whole_file_for_a_range = true);
    let run = check_peer("hash_range", faults);
    run.assert_failed_exactly(&["hash"], false);
    assert!(
        run.says("wrong hash of chunks 1 to 2") && run.says("the range was ignored"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_peer_closing_on_hash_does_not_offer_it() {
    let run = check_peer("hash_close", peer(|f| f.closes_silently_on_hash = true));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(run.rules("SKIP"), ["hash"], "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

#[test]
fn a_peer_without_extensions_skips_them_and_passes() {
    let run = check_peer("no_extensions", peer(|f| f.offers_no_extensions = true));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(
        run.rules("SKIP"),
        ["list", "ranged-download", "upload", "ping", "hash"],
        "{}",
        run.shown()
    );
    assert_eq!(run.counts(), (5, 0), "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

// ---------------------------------------------------------------------------
// Servers that are not even trying
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Accepts, reads, never answers.
    Hangs,
    /// Closes every connection at once.
    ClosesAtOnce,
    /// One line that never ends.
    EndlessLine,
    /// Lines, for ever.
    EndlessLines,
    /// A burst of random bytes, then silence.
    RandomBytes,
}

fn misbehaving(how: Misbehaviour) -> FakeServer {
    let connections = AtomicU64::new(0);
    FakeServer::start(move |mut stream| {
        let n = connections.fetch_add(1, Ordering::SeqCst);
        let endless = |stream: &mut TcpStream, pattern: &[u8]| {
            let block: Vec<u8> = pattern.iter().copied().cycle().take(64 * 1024).collect();
            while stream.write_all(&block).is_ok() {}
        };
        match how {
            Misbehaviour::Hangs => wait_for_close(&mut stream),
            Misbehaviour::ClosesAtOnce => {}
            Misbehaviour::EndlessLine => endless(&mut stream, b"x"),
            Misbehaviour::EndlessLines => endless(&mut stream, b"HI\nFILE: \nNOT FOUND\nPONG\n"),
            Misbehaviour::RandomBytes => {
                let mut rng = Rng::for_case(11, n);
                let _ = stream.write_all(&rng.bytes(1, 8192));
                wait_for_close(&mut stream);
            }
        }
    })
}

/// Both checks against a server that misbehaves `how`: each ends within
/// its time limits, reports every rule and the closing count, fails, and
/// does not panic.
fn survives(how: Misbehaviour) {
    let server = misbehaving(how);
    let dir = TempDir::new("misbehaving");
    let file = dir.write(SERVED_NAME, &pattern_bytes(SERVED_SIZE));
    let file = file.to_str().expect("UTF-8 path");
    let addr = server.addr();
    let runs = [
        (
            run_check(&["tracker", &addr, "--timeout", "0.2"]),
            TRACKER_RULES.len(),
        ),
        (
            run_check(&["peer", &addr, "--file", file, "--timeout", "0.2"]),
            PEER_RULES.len(),
        ),
    ];
    for (run, rules) in runs {
        println!("{}", run.shown());
        assert!(run.took < MISBEHAVING_RUN_LIMIT, "{}", run.shown());
        assert!(!run.stderr.contains("panicked"), "{}", run.shown());
        let (passed, failed, not_judged) = run.all_counts();
        let skipped = run.rules("SKIP").len();
        assert_eq!(
            passed + failed + skipped + not_judged,
            rules,
            "{}",
            run.shown()
        );
        if matches!(how, Misbehaviour::ClosesAtOnce) {
            // Closing every connection keeps no rule: no hollow PASS.
            assert_eq!(passed, 0, "{}", run.shown());
        }
        assert!(failed > 0, "{}", run.shown());
        assert_eq!(run.code, Some(1), "{}", run.shown());
    }
}

#[test]
fn a_server_that_hangs_is_reported_not_waited_for() {
    survives(Misbehaviour::Hangs);
}

#[test]
fn a_server_that_closes_at_once_is_reported() {
    survives(Misbehaviour::ClosesAtOnce);
}

#[test]
fn an_endless_line_is_cut_off() {
    survives(Misbehaviour::EndlessLine);
}

#[test]
fn endless_lines_are_cut_off() {
    survives(Misbehaviour::EndlessLines);
}

#[test]
fn random_bytes_are_reported() {
    survives(Misbehaviour::RandomBytes);
}
