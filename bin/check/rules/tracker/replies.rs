//! SEARCH and its replies, read leniently, and what a tracker must not say.
//!
//! The rules about searching judge how a reply is written. Every other
//! rule only needs to know whom a reply lists, so here a reply is read the
//! way a lenient peer reads it: with or without its line end, its records
//! found wherever they are and whatever separates them, and a session that
//! FT closed after a reply joined again.

use super::peers::Joined;
use super::Tracker;
use crate::probe::{seconds, show, End, Probe, Reply, MAX_LINE};
use crate::rules::Miss;
use p2p_share::wire::protocol::{FileRecord, Location, Message};
use std::thread;
use std::time::{Duration, Instant};

/// How long a reply that came without its line end is waited on before it
/// is taken as it is. A line's bytes come together: the rest of a line
/// does not come this long after its start.
pub const LINE_END_GRACE: Duration = Duration::from_millis(200);

/// The pause between two SEARCHes while waiting for the tracker's index to
/// change (another connection's join or leave is served by another thread).
const POLL_PAUSE: Duration = Duration::from_millis(20);

/// A reply line, and whether it came with its line end.
pub struct Answer {
    pub line: String,
    pub ended: bool,
}

/// Sends `SEARCH: name` on a joined peer's session and reads the reply
/// (see [`Probe::read_reply`]). When FT had closed the session after its
/// last reply, the peer joins again and asks once more: `found` names that
/// fault, and the other rules go on.
pub fn ask(tracker: &Tracker, peer: &mut Joined, name: &str) -> Result<Answer, Miss> {
    if let Some(answer) = ask_once(&mut peer.probe, name)? {
        peer.answered += 1;
        return Ok(answer);
    }
    let who = peer.probe.name().to_string();
    if peer.answered == 0 {
        return Err(Miss::Broken(format!(
            "no reply to SEARCH: {name}: FT closed {who}'s connection"
        )));
    }
    peer.probe.transcript().note(format!(
        "FT closed {who}'s session after its last reply; {who} joins again to go on (see found)"
    ));
    peer.again(tracker)?;
    match ask_once(&mut peer.probe, name)? {
        Some(answer) => {
            peer.answered += 1;
            Ok(answer)
        }
        None => Err(Miss::Broken(format!(
            "no reply to SEARCH: {name}: FT closed {who}'s connection"
        ))),
    }
}

/// One SEARCH: the reply, `None` when the connection was closed before
/// any, or an error when nothing came in time.
fn ask_once(probe: &mut Probe, name: &str) -> Result<Option<Answer>, String> {
    if probe.send_line(&format!("SEARCH: {name}")).is_err() {
        return Ok(None);
    }
    let unended = |bytes: &[u8]| Answer {
        line: String::from_utf8_lossy(bytes).trim_end().to_string(),
        ended: false,
    };
    match probe.read_reply(LINE_END_GRACE) {
        Reply::Line(line) => Ok(Some(Answer { line, ended: true })),
        Reply::Unfinished(_, End::TooMuch) => Err(format!(
            "the reply to SEARCH: {name} is longer than {MAX_LINE} bytes"
        )),
        Reply::Unfinished(bytes, _) if !bytes.is_empty() => Ok(Some(unended(&bytes))),
        Reply::Unfinished(_, end) if end.is_closed() => Ok(None),
        Reply::Unfinished(..) => Err(format!("no reply to SEARCH: {name}")),
    }
}

/// The location records of a `FOUND:` reply, read leniently: every
/// `<...>` in it, its fields split at the commas, whatever separates the
/// records. `None` when the reply is no `FOUND:`.
pub fn found_locations(reply: &str) -> Option<Vec<Location>> {
    let mut rest = reply.trim().strip_prefix("FOUND:")?;
    let mut locations = Vec::new();
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let fields: Vec<&str> = rest[start + 1..start + len]
            .split(',')
            .map(str::trim)
            .collect();
        let one = format!("FOUND: <{}>", fields.join(", "));
        if let Ok(Message::Found(mut found)) = Message::parse(&one) {
            locations.append(&mut found);
        }
        rest = &rest[start + len + 1..];
    }
    Some(locations)
}

/// Whether a reply is a `FOUND:` that lists `location` (read leniently: the
/// form of the line is the `found` rule's business).
pub fn lists(reply: &str, location: &Location) -> bool {
    found_locations(reply).is_some_and(|found| found.contains(location))
}

/// How a `FOUND:` line that should be `exact` is written otherwise: the
/// separator between its records, or between its fields, named.
pub fn how_written(line: &str, exact: &str) -> String {
    let expected = show(format!("{exact}\n").as_bytes());
    let mut faults = Vec::new();
    if let Some(gap) = wrong_gap(line) {
        faults.push(format!("records joined by {gap:?} instead of one space"));
    }
    let inside: Vec<&str> = line
        .split('<')
        .skip(1)
        .filter_map(|part| part.split_once('>').map(|(fields, _)| fields))
        .collect();
    if inside
        .iter()
        .any(|fields| fields.matches(',').count() != fields.matches(", ").count())
    {
        faults.push("fields separated by \",\" without the space after it".to_string());
    }
    let faults = match faults.is_empty() {
        true => String::new(),
        false => format!(" ({})", faults.join("; ")),
    };
    format!("the FOUND: line is not written as the protocol writes it{faults}: expected {expected}")
}

/// What joins two records of a line, where it is not the one space the
/// protocol writes.
pub fn wrong_gap(line: &str) -> Option<&str> {
    line.split('>')
        .skip(1)
        .filter_map(|part| part.split_once('<').map(|(gap, _)| gap))
        .find(|gap| *gap != " ")
}

/// SEARCHes again and again until `done` says the reply is the one waited
/// for, or the time limit passes. The index may take a moment to change:
/// another connection's join or leave is served by another thread.
/// Returns the last reply, and whether it was the one waited for.
pub fn search_until(
    tracker: &Tracker,
    peer: &mut Joined,
    name: &str,
    done: impl Fn(&str) -> bool,
) -> Result<(Answer, bool), Miss> {
    let deadline = Instant::now() + peer.probe.limit();
    let started = Instant::now();
    let transcript = peer.probe.transcript().clone();
    let mut asked = 0;
    let outcome = loop {
        // The transcript shows the first SEARCH; the rest are counted.
        transcript.mute(asked > 0);
        asked += 1;
        let answer = match ask(tracker, peer, name) {
            Ok(answer) => answer,
            Err(miss) => break Err(miss),
        };
        let found = done(&answer.line);
        if found || Instant::now() >= deadline {
            break Ok((answer, found));
        }
        thread::sleep(POLL_PAUSE);
    };
    transcript.mute(false);
    if asked > 1 {
        let last = match &outcome {
            Ok((answer, _)) => show(answer.line.as_bytes()),
            Err(Miss::Broken(why) | Miss::NotJudged(why) | Miss::NotOffered(why)) => why.clone(),
        };
        transcript.note(format!(
            "{} asked {asked} times in {}; the last reply: {last}",
            peer.probe.name(),
            seconds(started.elapsed())
        ));
    }
    outcome
}

/// Waits until a SEARCH for `name` lists every one of `locations`.
/// Returns that reply.
pub fn wait_listed(
    tracker: &Tracker,
    peer: &mut Joined,
    name: &str,
    locations: &[Location],
) -> Result<Answer, Miss> {
    let (answer, listed) = search_until(tracker, peer, name, |reply| {
        locations.iter().all(|location| lists(reply, location))
    })?;
    if listed {
        return Ok(answer);
    }
    let expected: Vec<String> = locations.iter().map(Location::to_string).collect();
    let mut why = format!("SEARCH: {name} should find {}", expected.join(" and "));
    if answer.line.starts_with("FOUND")
        && found_locations(&answer.line).is_some_and(|l| l.is_empty())
    {
        why.push_str("; no location record could be read in the FOUND: line");
    }
    Err(Miss::Broken(why))
}

/// Waits until a SEARCH for `record`'s name no longer lists it.
pub fn wait_gone(tracker: &Tracker, peer: &mut Joined, record: &FileRecord) -> Result<(), Miss> {
    let location = record.location();
    let (_, gone) = search_until(tracker, peer, &record.name, |reply| {
        !lists(reply, &location)
    })?;
    match gone {
        true => Ok(()),
        false => Err(Miss::Broken(format!(
            "FT still lists {} at {}",
            record.name,
            record.addr()
        ))),
    }
}

/// Nothing comes for `period`, and the connection stays open.
pub fn stays_quiet(probe: &mut Probe, period: Duration) -> Result<(), String> {
    let received = probe.read_to_close(MAX_LINE, period);
    match received.end {
        _ if !received.bytes.is_empty() => Err("FT sent something".into()),
        End::Open(_) => Ok(()),
        _ => Err("FT closed the connection".into()),
    }
}

/// How a tracker that says why it refuses begins its one line (our
/// tracker does so with `--explain`).
const REFUSAL_WITH_REASON: &[u8] = b"ERROR: refused: ";

/// Nothing comes, and the connection is closed within the time limit.
pub fn closes_silently(probe: &mut Probe) -> Result<(), String> {
    let received = probe.read_to_close(MAX_LINE, probe.limit());
    if received.bytes.starts_with(REFUSAL_WITH_REASON) {
        return Err(
            "FT must send nothing here, but it answered with an ERROR: line that says \
                    why: a teaching extra (our tracker's --explain); the core protocol closes \
                    without a word"
                .into(),
        );
    }
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

#[cfg(test)]
mod tests {
    use super::{found_locations, how_written};

    #[test]
    fn found_records_are_read_whatever_separates_them() {
        let one = "<txt, 1001, 07/12/26, 127.0.0.1, 4000>";
        let two = "<txt, 1002, 07/12/26, 127.0.0.1, 4001>";
        let exact = format!("FOUND: {one} {two}");
        let exact_locations = found_locations(&exact).unwrap();
        assert_eq!(exact_locations.len(), 2);
        for odd in [
            format!("FOUND: {one}|{two}"),
            "FOUND: <txt,1001,07/12/26,127.0.0.1,4000> <txt,1002,07/12/26,127.0.0.1,4001>".into(),
        ] {
            assert_eq!(found_locations(&odd).unwrap(), exact_locations, "{odd}");
        }
        assert_eq!(found_locations("NOT FOUND"), None);
    }

    #[test]
    fn the_way_a_found_line_is_written_otherwise_is_named() {
        let exact =
            "FOUND: <txt, 1, 07/12/26, 127.0.0.1, 4000> <txt, 2, 07/12/26, 127.0.0.1, 4001>";
        let piped = exact.replace("> <", ">|<");
        assert!(how_written(&piped, exact).contains("records joined by \"|\""));
        let tight = exact.replace(", ", ",");
        assert!(how_written(&tight, exact).contains("without the space"));
        assert!(!how_written(&tight, exact).contains("records joined"));
    }
}
