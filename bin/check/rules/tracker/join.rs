//! Stage 1 of the tracker check: the greeting, the records line and the
//! refusals.

use super::peers::{
    connect, greet, greeting, join_raw, joined_peer, needs_accepted_join, probe_greeting, read_hi,
    record, ServedPort, NEEDS_HI, NEEDS_HI_LINE,
};
use super::replies::{closes_silently, stays_quiet};
use super::{Greeting, Tracker, QUIET_PERIOD, SPLIT_PAUSE};
use crate::probe::{Probe, Transcript};
use crate::rules::{Checked, Miss};
use p2p_share::wire::protocol::{FileRecord, Message};
use std::thread;
use std::time::Instant;

/// The likely cause when only a bare `HELLO` is answered.
const BARE_HELLO: &str = "no HI came to \"HELLO\\n\", but a bare HELLO is answered: your tracker \
    compares the bytes of one read with HELLO; a message is a line, read up to \\n";

/// The fault of a HI without its line end.
const HI_UNENDED: &str = "HI came without its line end: every message ends with \\n";

pub fn hello_hi(tracker: &Tracker, t: &Transcript) -> Checked {
    match probe_greeting(tracker, t, ["A", "B"]) {
        Greeting::Line { ended: true } => Ok(()),
        Greeting::Line { ended: false } => Err(Miss::Broken(format!(
            "{HI_UNENDED} (the other rules read it without)"
        ))),
        Greeting::Bare { ended: true } => Err(Miss::Broken(BARE_HELLO.into())),
        Greeting::Bare { ended: false } => {
            Err(Miss::Broken(format!("{BARE_HELLO}; and {HI_UNENDED}")))
        }
        Greeting::Unanswered => Err(Miss::Broken(
            "no HI came, neither to \"HELLO\\n\" nor to a bare HELLO".into(),
        )),
    }
}

pub fn line_framing(tracker: &Tracker, t: &Transcript) -> Checked {
    let hint = match greeting(tracker, t) {
        Greeting::Unanswered => return Err(Miss::NotJudged(NEEDS_HI.into())),
        Greeting::Bare { .. } => " (see hello-hi: only a bare HELLO is answered)",
        Greeting::Line { .. } => "",
    };
    let mut a = connect(tracker, t, "A")?;
    let port = ServedPort::open(&a)?;
    a.send(b"HEL")?;
    thread::sleep(SPLIT_PAUSE);
    a.send(b"LO\r\n")?;
    if read_hi(&mut a).is_none() {
        return Err(Miss::Broken(format!(
            "no HI came (HELLO came in two pieces){hint}"
        )));
    }
    let records = vec![record(tracker, &port, "framing.txt")];
    let line = Message::Records(records.clone()).format();
    let (first, second) = line.split_at(line.len() / 2);
    a.send(first.as_bytes())?;
    thread::sleep(SPLIT_PAUSE);
    a.send(format!("{second}\r\n").as_bytes())?;
    let mut peer = joined_peer(a, Some(port), records);
    if let Err(why) = stays_quiet(&mut peer.probe, QUIET_PERIOD) {
        // A tracker that accepts no join at all is the business of `join`.
        needs_accepted_join(tracker, t)?;
        return Err(Miss::Broken(format!(
            "{why}: the records line came in two pieces, ending in \\r\\n"
        )));
    }
    tracker.accepted.set(true);
    Ok(())
}

/// Only for a tracker that answers a whole `HELLO\n` line: otherwise a
/// tracker that closes every connection would pass the rules of silence.
fn needs_hi_line(tracker: &Tracker, t: &Transcript) -> Checked {
    match greeting(tracker, t) {
        Greeting::Line { .. } => Ok(()),
        _ => Err(Miss::NotJudged(NEEDS_HI_LINE.into())),
    }
}

pub fn hello_first(tracker: &Tracker, t: &Transcript) -> Checked {
    needs_hi_line(tracker, t)?;
    let mut a = connect(tracker, t, "A")?;
    a.send_line(&format!(
        "SEARCH: {}",
        tracker.unique_name("before-hello.txt")
    ))?;
    closes_silently(&mut a).map_err(|why| format!("{why} (SEARCH came before HELLO)").into())
}

pub fn silent_before_join(tracker: &Tracker, t: &Transcript) -> Checked {
    needs_hi_line(tracker, t)?;
    let mut a = connect(tracker, t, "A")?;
    greet(tracker, &mut a)?;
    a.send_line(&format!(
        "SEARCH: {}",
        tracker.unique_name("before-records.txt")
    ))?;
    closes_silently(&mut a)
        .map_err(|why| format!("{why} (SEARCH came instead of the records line)").into())
}

pub fn join(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut one = join_raw(tracker, t, "A", 1)?;
    let mut five = join_raw(tracker, t, "B", 5)?;
    let deadline = Instant::now() + QUIET_PERIOD;
    let mut one_accepted = false;
    for peer in [&mut one, &mut five] {
        let left = deadline.saturating_duration_since(Instant::now());
        let count = peer.records.len();
        stays_quiet(&mut peer.probe, left).map_err(|why| {
            let hint = match one_accepted {
                true => ", though the join with 1 record was: the records of a join are on one line, separated by one space",
                false => "",
            };
            format!("{why}: the join with {count} record(s) was not accepted{hint}")
        })?;
        one_accepted = true;
        tracker.accepted.set(true);
    }
    tracker.accepted_several.set(true);
    Ok(())
}

pub fn refuse_empty(tracker: &Tracker, t: &Transcript) -> Checked {
    needs_accepted_join(tracker, t)?;
    refused_on(tracker, connect(tracker, t, "A")?, "", None)
}

pub fn refuse_six(tracker: &Tracker, t: &Transcript) -> Checked {
    needs_accepted_join(tracker, t)?;
    let a = connect(tracker, t, "A")?;
    let port = ServedPort::open(&a)?;
    let records: Vec<String> = (0..6)
        .map(|i| record(tracker, &port, &format!("six-{i}.txt")).to_string())
        .collect();
    refused_on(tracker, a, &records.join(" "), None)
}

/// A good record spoilt in one field, as a malformed record is written.
type Spoiler = fn(&FileRecord) -> String;

pub fn refuse_malformed(tracker: &Tracker, t: &Transcript) -> Checked {
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
    needs_accepted_join(tracker, t)?;
    // Each on its own connection; the first one accepted fails the rule.
    for ((field, spoil), name) in cases.into_iter().zip(["A", "B", "C", "D"]) {
        let a = connect(tracker, t, name)?;
        let port = ServedPort::open(&a)?;
        let bad = spoil(&record(tracker, &port, &format!("bad-{field}.txt")));
        refused_on(tracker, a, &bad, Some(field))?;
    }
    Ok(())
}

/// Joins with this records line and expects the refusal: nothing sent,
/// the connection closed. `field`: the one spoilt, named in the failure.
fn refused_on(tracker: &Tracker, mut a: Probe, records_line: &str, field: Option<&str>) -> Checked {
    greet(tracker, &mut a)?;
    a.send_line(records_line)?;
    closes_silently(&mut a).map_err(|why| {
        let field = field.map(|f| format!(" (the record's {f} is wrong)"));
        let why = format!("{why}{}", field.unwrap_or_default());
        if !a.closes_within(std::time::Duration::ZERO) {
            // Accepted after all: it leaves as a peer does.
            a.send_quietly(b"BYE\n");
        }
        Miss::Broken(why)
    })
}
