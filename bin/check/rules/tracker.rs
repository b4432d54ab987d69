//! The tracker's rules, and the simulated peers that check them.
//!
//! The checker plays peers: each opens its own connection, says HELLO and
//! joins with made-up file records. Two things make those peers believable
//! to a careful tracker:
//! - a record's ip is the checker's own address on that connection (the
//!   address the tracker sees it come from), because a tracker may refuse
//!   a peer that speaks for another address;
//! - the announced port really listens (a thread accepts and closes
//!   connections there), because a tracker may check that a silent peer's
//!   machine is still up by connecting to it.
//!
//! File names carry a tag unique to this run (`chk-1a2b3c4d-3-notes.txt`),
//! so a check never mixes its records with a class's real files, nor with
//! another check running at the same time.

use super::{reply_line, written_exactly, Checked, Miss, Rule, Stage};
use crate::probe::{seconds, show, End, Probe, Reply, Transcript, MAX_LINE};
use p2p_share::wire::date::Date;
use p2p_share::wire::protocol::{FileRecord, Location, Message};
use std::cell::Cell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How long an accepted peer listens for the tracker to stay silent (and
/// keep the connection open) after its records. A refusal is a close, and
/// comes at once; this only needs to be long enough to see one.
pub const QUIET_PERIOD: Duration = Duration::from_millis(250);

/// The pause between the two pieces of a line sent in two writes, so that
/// they leave as two TCP segments and a tracker that takes one `recv()` for
/// one message is caught.
pub const SPLIT_PAUSE: Duration = Duration::from_millis(50);

/// How long to wait for the line end after a greeting that came without
/// one (see [`read_greeting`]).
const GREETING_GRACE: Duration = Duration::from_millis(20);

/// The pause between two SEARCHes while waiting for the tracker's index to
/// change (another connection's join or leave is served by another thread).
const POLL_PAUSE: Duration = Duration::from_millis(20);

/// The tracker under test, and what the checker needs to play its peers.
pub struct Tracker {
    pub addr: SocketAddr,
    /// The time limit of each probe.
    pub limit: Duration,
    /// Makes this run's file names unique.
    tag: String,
    /// Numbers the file names of this run.
    names: Cell<u32>,
    /// The date the records carry.
    today: Date,
}

impl Tracker {
    pub fn new(addr: SocketAddr, limit: Duration, tag: String) -> Tracker {
        Tracker {
            addr,
            limit,
            tag,
            names: Cell::new(0),
            today: Date::from_system_time(SystemTime::now()),
        }
    }

    /// A file name no other record on the tracker has.
    fn unique_name(&self, what: &str) -> String {
        let n = self.names.get() + 1;
        self.names.set(n);
        format!("chk-{}-{n}-{what}", self.tag)
    }
}

/// The stages of the tracker check.
pub const STAGES: [Stage; 4] = [
    Stage {
        number: 1,
        title: "join (HELLO, HI, the records line, refusals)",
    },
    Stage {
        number: 2,
        title: "search (SEARCH, FOUND, NOT FOUND)",
    },
    Stage {
        number: 3,
        title: "leave (BYE, a crash, a rejoin)",
    },
    Stage {
        number: 4,
        title: "extensions (LIST, PING)",
    },
];

/// Every rule of the tracker, stage by stage.
pub const RULES: [Rule<Tracker>; 18] = [
    Rule {
        stage: 1,
        name: "hello-hi",
        words: "HELLO is answered HI, one line ending in \\n",
        extension: false,
        check: hello_hi,
    },
    Rule {
        stage: 1,
        name: "line-framing",
        words: "a message is one line ending in \\n (a \\r before it is dropped), however its bytes are split",
        extension: false,
        check: line_framing,
    },
    Rule {
        stage: 1,
        name: "hello-first",
        words: "the first line must be HELLO; anything else: FT closes the connection without a word",
        extension: false,
        check: hello_first,
    },
    Rule {
        stage: 1,
        name: "silent-before-join",
        words: "before acceptance FT sends nothing but the HI that answers HELLO",
        extension: false,
        check: silent_before_join,
    },
    Rule {
        stage: 1,
        name: "join",
        words: "a records line of 1 to 5 file records is accepted: FT says nothing and keeps the connection",
        extension: false,
        check: join,
    },
    Rule {
        stage: 1,
        name: "refuse-empty",
        words: "no records (an empty line): not accepted; FT sends nothing and closes",
        extension: false,
        check: refuse_empty,
    },
    Rule {
        stage: 1,
        name: "refuse-six",
        words: "more than 5 records: not accepted; FT sends nothing and closes",
        extension: false,
        check: refuse_six,
    },
    Rule {
        stage: 1,
        name: "refuse-malformed",
        words: "a malformed record (size, date, port, fields): not accepted; FT sends nothing and closes",
        extension: false,
        check: refuse_malformed,
    },
    Rule {
        stage: 2,
        name: "found",
        words: "SEARCH from another peer finds a joined peer's file: FOUND: <type, size, DD/MM/YY, ip, port>",
        extension: false,
        check: found,
    },
    Rule {
        stage: 2,
        name: "several-holders",
        words: "FOUND: lists the location record of every peer that has the file",
        extension: false,
        check: several_holders,
    },
    Rule {
        stage: 2,
        name: "not-found",
        words: "SEARCH for a name nobody has is answered NOT FOUND",
        extension: false,
        check: not_found,
    },
    Rule {
        stage: 2,
        name: "exact-name",
        words: "SEARCH is an exact, case-sensitive match",
        extension: false,
        check: exact_name,
    },
    Rule {
        stage: 2,
        name: "error-after-join",
        words: "after acceptance, a line FT does not understand gets ERROR: <reason> and the session goes on",
        extension: false,
        check: error_after_join,
    },
    Rule {
        stage: 3,
        name: "bye",
        words: "BYE: FT drops every record of the peer and closes; no reply",
        extension: false,
        check: bye,
    },
    Rule {
        stage: 3,
        name: "crash",
        words: "a connection that ends without BYE counts as BYE: the peer's records go at once",
        extension: false,
        check: crash,
    },
    Rule {
        stage: 3,
        name: "rejoin",
        words: "a peer that joins again from the same ip:port replaces its earlier records",
        extension: false,
        check: rejoin,
    },
    Rule {
        stage: 4,
        name: "list",
        words: "LIST is answered FILES: with every record FT holds",
        extension: true,
        check: list,
    },
    Rule {
        stage: 4,
        name: "ping",
        words: "PING on an accepted session is answered PONG (heartbeat)",
        extension: true,
        check: ping,
    },
];

// ---------------------------------------------------------------------------
// Stage 1: join
// ---------------------------------------------------------------------------

fn hello_hi(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = connect(tracker, t, "A")?;
    a.send_line("HELLO")?;
    match a.read_line() {
        Reply::Line(line) if line == "HI" => Ok(()),
        Reply::Line(line) => Err(format!("expected HI, got {line:?}").into()),
        Reply::Unfinished(bytes, _) if bytes.starts_with(b"HI") => {
            Err("HI came without its line end: every message ends with \\n"
                .to_string()
                .into())
        }
        Reply::Unfinished(..) => Err("no HI line came".to_string().into()),
    }
}

fn line_framing(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = connect(tracker, t, "A")?;
    let port = ServedPort::open(&a)?;
    a.send(b"HEL")?;
    thread::sleep(SPLIT_PAUSE);
    a.send(b"LO\r\n")?;
    read_greeting(&mut a, "HI").map_err(|why| format!("{why} (HELLO came in two pieces)"))?;
    let records = Message::Records(vec![record(tracker, &port, "framing.txt")]).format();
    let (first, second) = records.split_at(records.len() / 2);
    a.send(first.as_bytes())?;
    thread::sleep(SPLIT_PAUSE);
    a.send(format!("{second}\r\n").as_bytes())?;
    stays_quiet(&mut a, QUIET_PERIOD).map_err(|why| {
        format!("{why}: the records line came in two pieces, ending in \\r\\n").into()
    })
}

fn hello_first(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = connect(tracker, t, "A")?;
    a.send_line(&format!(
        "SEARCH: {}",
        tracker.unique_name("before-hello.txt")
    ))?;
    closes_silently(&mut a).map_err(|why| format!("{why} (SEARCH came before HELLO)").into())
}

fn silent_before_join(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = connect(tracker, t, "A")?;
    a.send_line("HELLO")?;
    read_greeting(&mut a, "HI")?;
    a.send_line(&format!(
        "SEARCH: {}",
        tracker.unique_name("before-records.txt")
    ))?;
    closes_silently(&mut a)
        .map_err(|why| format!("{why} (SEARCH came instead of the records line)").into())
}

fn join(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut one = joined(tracker, t, "A", 1)?;
    let mut five = joined(tracker, t, "B", 5)?;
    let deadline = Instant::now() + QUIET_PERIOD;
    for peer in [&mut one, &mut five] {
        let left = deadline.saturating_duration_since(Instant::now());
        stays_quiet(&mut peer.probe, left).map_err(|why| {
            format!(
                "{why}: the join with {} record(s) was not accepted",
                peer.records.len()
            )
        })?;
    }
    Ok(())
}

fn refuse_empty(tracker: &Tracker, t: &Transcript) -> Checked {
    refused_on(connect(tracker, t, "A")?, "")
}

fn refuse_six(tracker: &Tracker, t: &Transcript) -> Checked {
    let a = connect(tracker, t, "A")?;
    let port = ServedPort::open(&a)?;
    let records: Vec<String> = (0..6)
        .map(|i| record(tracker, &port, &format!("six-{i}.txt")).to_string())
        .collect();
    refused_on(a, &records.join(" "))
}

/// A good record spoilt in one field, as a malformed record is written.
type Spoiler = fn(&FileRecord) -> String;

fn refuse_malformed(tracker: &Tracker, t: &Transcript) -> Checked {
    let cases: [(&str, Spoiler); 4] = [
        ("size", |r| {
            let (name, file_type, date, ip, port) =
                (&r.name, &r.file_type, r.modified, r.ip, r.port);
            format!("<{name}, {file_type}, ten, {date}, {ip}, {port}>")
        }),
        ("date", |r| {
            let (name, file_type, size, ip, port) = (&r.name, &r.file_type, r.size, r.ip, r.port);
            format!("<{name}, {file_type}, {size}, 32/01/26, {ip}, {port}>")
        }),
        ("port", |r| {
            let (name, file_type, size, date, ip) =
                (&r.name, &r.file_type, r.size, r.modified, r.ip);
            format!("<{name}, {file_type}, {size}, {date}, {ip}, 70000>")
        }),
        // Five fields: the date is missing.
        ("fields", |r| {
            let (name, file_type, size, ip, port) = (&r.name, &r.file_type, r.size, r.ip, r.port);
            format!("<{name}, {file_type}, {size}, {ip}, {port}>")
        }),
    ];
    // Each on its own connection; the first one accepted fails the rule.
    for ((field, spoil), name) in cases.into_iter().zip(["A", "B", "C", "D"]) {
        let a = connect(tracker, t, name)?;
        let port = ServedPort::open(&a)?;
        let bad = spoil(&record(tracker, &port, &format!("bad-{field}.txt")));
        refused_on(a, &bad).map_err(|miss| match miss {
            Miss::Broken(why) => Miss::Broken(format!("{why} (the record's {field} is wrong)")),
            other => other,
        })?;
    }
    Ok(())
}

/// Joins with this records line and expects the refusal: nothing sent,
/// the connection closed.
fn refused_on(mut a: Probe, records_line: &str) -> Checked {
    a.send_line("HELLO")?;
    read_greeting(&mut a, "HI")?;
    a.send_line(records_line)?;
    Ok(closes_silently(&mut a)?)
}

// ---------------------------------------------------------------------------
// Stage 2: search
// ---------------------------------------------------------------------------

fn found(tracker: &Tracker, t: &Transcript) -> Checked {
    let holder = joined(tracker, t, "A", 2)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    // The second record, so that a tracker that keeps only the first is caught.
    let wanted = &holder.records[1];
    let reply = wait_listed(&mut asker.probe, &wanted.name, &[wanted.location()])?;
    let exact = Message::Found(vec![wanted.location()]).format();
    if reply != exact {
        return Err(format!(
            "the FOUND: line is not written as the protocol writes it: expected {}",
            show(format!("{exact}\n").as_bytes())
        )
        .into());
    }
    Ok(())
}

fn several_holders(tracker: &Tracker, t: &Transcript) -> Checked {
    let name = tracker.unique_name("shared.txt");
    let first = joined_with(tracker, t, "A", &[&name])?;
    let second = joined_with(tracker, t, "B", &[&name])?;
    let mut asker = joined(tracker, t, "C", 1)?;
    let both = [first.records[0].location(), second.records[0].location()];
    wait_listed(&mut asker.probe, &name, &both)?;
    Ok(())
}

fn not_found(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut asker = joined(tracker, t, "A", 1)?;
    let reply = search(
        &mut asker.probe,
        &tracker.unique_name("nobody-has-this.txt"),
    )?;
    match reply.as_str() {
        "NOT FOUND" => Ok(()),
        _ => Err(format!("expected NOT FOUND, got {reply:?}").into()),
    }
}

fn exact_name(tracker: &Tracker, t: &Transcript) -> Checked {
    let name = tracker.unique_name("Case-Test.txt");
    let holder = joined_with(tracker, t, "A", &[&name])?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let location = holder.records[0].location();
    wait_listed(&mut asker.probe, &name, std::slice::from_ref(&location))?;
    let shorter = &name[..name.len() - 1];
    for other in [
        name.to_lowercase(),
        name.to_uppercase(),
        shorter.to_string(),
    ] {
        let reply = search(&mut asker.probe, &other)?;
        if lists(&reply, &location) {
            return Err(format!("SEARCH: {other} found the file {name}").into());
        }
    }
    Ok(())
}

fn error_after_join(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = joined(tracker, t, "A", 1)?;
    a.probe.send_line("WHAT IS THIS")?;
    match a.probe.read_line() {
        Reply::Line(line) if line.starts_with("ERROR:") => {}
        Reply::Line(line) => return Err(format!("expected ERROR: <reason>, got {line:?}").into()),
        Reply::Unfinished(..) => return Err("no ERROR: line came".to_string().into()),
    }
    // The session goes on: a SEARCH is still answered.
    search(&mut a.probe, &tracker.unique_name("after-error.txt"))
        .map_err(|why| format!("{why}: the session did not go on after the ERROR:"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Stage 3: leave
// ---------------------------------------------------------------------------

fn bye(tracker: &Tracker, t: &Transcript) -> Checked {
    let (mut leaver, mut asker) = seen_by_another(tracker, t)?;
    let wanted = leaver.records[0].clone();
    leaver.probe.send_line("BYE")?;
    closes_silently(&mut leaver.probe).map_err(|why| format!("{why} (after BYE)"))?;
    wait_gone(&mut asker.probe, &wanted).map_err(|why| format!("{why} after its BYE"))?;
    Ok(())
}

fn crash(tracker: &Tracker, t: &Transcript) -> Checked {
    let (leaver, mut asker) = seen_by_another(tracker, t)?;
    let wanted = leaver.records[0].clone();
    leaver.probe.close();
    wait_gone(&mut asker.probe, &wanted)
        .map_err(|why| format!("{why} after its connection closed without BYE"))?;
    Ok(())
}

fn rejoin(tracker: &Tracker, t: &Transcript) -> Checked {
    let (first, mut asker) = seen_by_another(tracker, t)?;
    let old = first.records[0].clone();
    // The same peer again, on a new connection, from the same ip:port.
    let mut again = connect(tracker, t, "C")?;
    let mut new = old.clone();
    new.name = tracker.unique_name("rejoined.txt");
    join_with(&mut again, &[new.clone()])?;
    wait_listed(&mut asker.probe, &new.name, &[new.location()])
        .map_err(|why| format!("{why} (C is A joining again from {})", old.addr()))?;
    wait_gone(&mut asker.probe, &old)
        .map_err(|why| format!("{why} after it joined again from the same ip:port without it"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Stage 4: extensions
// ---------------------------------------------------------------------------

fn list(tracker: &Tracker, t: &Transcript) -> Checked {
    let holder = joined(tracker, t, "A", 2)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let last = &holder.records[1];
    wait_listed(&mut asker.probe, &last.name, &[last.location()])?;
    asker.probe.send_line("LIST")?;
    let line = reply_line(&mut asker.probe, "FILES:")?;
    let Ok(Message::Files(records)) = Message::parse(&line) else {
        return Err(format!("expected FILES: and file records, got {line:?}").into());
    };
    let ours = holder.records.iter().chain(&asker.records);
    if let Some(missing) = ours.into_iter().find(|r| !records.contains(r)) {
        return Err(format!("FILES: does not hold the record {missing}").into());
    }
    written_exactly(&line)
}

fn ping(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = joined(tracker, t, "A", 1)?;
    a.probe.send_line("PING")?;
    match reply_line(&mut a.probe, "PONG")?.as_str() {
        "PONG" => Ok(()),
        other => Err(format!("expected PONG, got {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------
// Simulated peers
// ---------------------------------------------------------------------------

/// A port on this machine that accepts connections and closes them at once:
/// where a simulated peer says it serves downloads. Closed when dropped.
struct ServedPort {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl ServedPort {
    /// Listens on the address `probe`'s connection comes from, on a port
    /// the system picks.
    fn open(probe: &Probe) -> Result<ServedPort, String> {
        let ip = probe.local_addr()?.ip();
        let listener = TcpListener::bind((ip, 0))
            .map_err(|e| format!("the checker cannot listen on {ip}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the checker cannot read its listening address: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            for connection in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                // Accepting is the sign of life; the connection closes here.
                drop(connection);
            }
        });
        Ok(ServedPort { addr, stop })
    }
}

impl Drop for ServedPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the thread blocked in `accept`, so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A simulated peer that has joined: its connection, the port it
/// announced, and its records.
struct Joined {
    probe: Probe,
    /// Kept open for as long as the peer lives.
    _port: ServedPort,
    records: Vec<FileRecord>,
}

fn connect(tracker: &Tracker, t: &Transcript, name: &str) -> Result<Probe, String> {
    Probe::connect(tracker.addr, name, tracker.limit, t)
}

/// A record of this run for a file called `what`, announced at `port`.
fn record(tracker: &Tracker, port: &ServedPort, what: &str) -> FileRecord {
    named_record(tracker, port, &tracker.unique_name(what))
}

/// A record for the file `name`, announced at `port`.
fn named_record(tracker: &Tracker, port: &ServedPort, name: &str) -> FileRecord {
    FileRecord {
        name: name.to_string(),
        file_type: p2p_share::wire::protocol::type_of(name),
        // Sizes differ from record to record, so a mixed-up record shows.
        size: 1000 + u64::from(tracker.names.get()),
        modified: tracker.today,
        ip: port.addr.ip(),
        port: port.addr.port(),
    }
}

/// A new peer, joined with `count` files.
fn joined(tracker: &Tracker, t: &Transcript, name: &str, count: usize) -> Result<Joined, String> {
    let names: Vec<String> = (1..=count)
        .map(|i| tracker.unique_name(&format!("file{i}.txt")))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    joined_with(tracker, t, name, &names)
}

/// A new peer, joined with files of these names.
fn joined_with(
    tracker: &Tracker,
    t: &Transcript,
    name: &str,
    files: &[&str],
) -> Result<Joined, String> {
    let mut probe = connect(tracker, t, name)?;
    let port = ServedPort::open(&probe)?;
    let records: Vec<FileRecord> = files
        .iter()
        .map(|file| named_record(tracker, &port, file))
        .collect();
    join_with(&mut probe, &records)?;
    Ok(Joined {
        probe,
        _port: port,
        records,
    })
}

/// Peer A joined with one file, and peer B, joined too, whose SEARCH
/// finds it: the start of every rule about leaving.
fn seen_by_another(tracker: &Tracker, t: &Transcript) -> Result<(Joined, Joined), String> {
    let holder = joined(tracker, t, "A", 1)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let record = &holder.records[0];
    wait_listed(&mut asker.probe, &record.name, &[record.location()])?;
    Ok((holder, asker))
}

/// HELLO, HI and the records line. Whether the join was accepted is for
/// the caller to find out.
fn join_with(probe: &mut Probe, records: &[FileRecord]) -> Result<(), String> {
    probe.send_line("HELLO")?;
    read_greeting(probe, "HI")?;
    probe.send_line(&Message::Records(records.to_vec()).format())
}

/// Reads a greeting such as `HI`, with or without its line end.
///
/// Lenient on purpose: `hello-hi` checks the line end; every other rule
/// only needs to get past the greeting, and should not fail because of it.
fn read_greeting(probe: &mut Probe, word: &str) -> Result<(), String> {
    match probe.read_word(word, GREETING_GRACE) {
        Reply::Line(line) if line == word => Ok(()),
        Reply::Unfinished(bytes, _) if bytes == word.as_bytes() => Ok(()),
        Reply::Line(line) => Err(format!("expected {word}, got {line:?}")),
        Reply::Unfinished(..) => Err(format!("no {word} came")),
    }
}

/// Sends `SEARCH: name` and returns the reply line.
fn search(probe: &mut Probe, name: &str) -> Result<String, String> {
    probe.send_line(&format!("SEARCH: {name}"))?;
    match probe.read_line() {
        Reply::Line(line) => Ok(line),
        Reply::Unfinished(..) => Err(format!("no reply line to SEARCH: {name}")),
    }
}

/// Whether a reply is a FOUND: that lists `location` (read leniently: the
/// form of the line is the `found` rule's business).
fn lists(reply: &str, location: &Location) -> bool {
    matches!(Message::parse(reply), Ok(Message::Found(found)) if found.contains(location))
}

/// SEARCHes again and again until `done` says the reply is the one waited
/// for, or the time limit passes. The index may take a moment to change:
/// another connection's join or leave is served by another thread.
/// Returns the last reply.
fn search_until(
    probe: &mut Probe,
    name: &str,
    done: impl Fn(&str) -> bool,
) -> Result<(String, bool), String> {
    let deadline = Instant::now() + probe.limit();
    let started = Instant::now();
    let transcript = probe.transcript().clone();
    let mut asked = 0;
    let outcome = loop {
        // The transcript shows the first SEARCH; the rest are counted.
        transcript.mute(asked > 0);
        asked += 1;
        let reply = match search(probe, name) {
            Ok(reply) => reply,
            Err(why) => break Err(why),
        };
        if done(&reply) || Instant::now() >= deadline {
            break Ok((reply.clone(), done(&reply)));
        }
        thread::sleep(POLL_PAUSE);
    };
    transcript.mute(false);
    if asked > 1 {
        let last = match &outcome {
            Ok((reply, _)) => show(format!("{reply}\n").as_bytes()),
            Err(why) => why.clone(),
        };
        transcript.note(format!(
            "{} asked {asked} times in {}; the last reply: {last}",
            probe.name(),
            seconds(started.elapsed())
        ));
    }
    outcome
}

/// Waits until a SEARCH for `name` lists every one of `locations`.
/// Returns that reply.
fn wait_listed(probe: &mut Probe, name: &str, locations: &[Location]) -> Result<String, String> {
    let (reply, listed) = search_until(probe, name, |reply| {
        locations.iter().all(|location| lists(reply, location))
    })?;
    if listed {
        return Ok(reply);
    }
    let expected: Vec<String> = locations.iter().map(Location::to_string).collect();
    let mut why = format!("SEARCH: {name} should find {}", expected.join(" and "));
    if reply.starts_with("FOUND") {
        if let Err(error) = Message::parse(&reply) {
            why.push_str(&format!("; the FOUND: line does not parse: {error}"));
        }
    }
    Err(why)
}

/// Waits until a SEARCH for `record`'s name no longer lists it.
fn wait_gone(probe: &mut Probe, record: &FileRecord) -> Result<(), String> {
    let location = record.location();
    let (_, gone) = search_until(probe, &record.name, |reply| !lists(reply, &location))?;
    match gone {
        true => Ok(()),
        false => Err(format!(
            "FT still lists {} at {}",
            record.name,
            record.addr()
        )),
    }
}

/// Nothing comes for `period`, and the connection stays open.
fn stays_quiet(probe: &mut Probe, period: Duration) -> Result<(), String> {
    let received = probe.read_to_close(MAX_LINE, period);
    match received.end {
        _ if !received.bytes.is_empty() => Err("FT sent something".into()),
        End::Open(_) => Ok(()),
        _ => Err("FT closed the connection".into()),
    }
}

/// Nothing comes, and the connection is closed within the time limit.
fn closes_silently(probe: &mut Probe) -> Result<(), String> {
    let received = probe.read_to_close(MAX_LINE, probe.limit());
    if !received.bytes.is_empty() {
        return Err("FT must send nothing here, but it answered".into());
    }
    if !received.end.is_closed() {
        return Err(format!(
            "FT did not close the connection within {}",
            seconds(probe.limit())
        ));
    }
    Ok(())
}
