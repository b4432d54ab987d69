//! Stage 2 of the tracker check: SEARCH, FOUND and NOT FOUND.

use super::peers::{joined, joined_with};
use super::replies::{ask, how_written, lists, wait_listed, wrong_gap, LINE_END_GRACE};
use super::Tracker;
use crate::probe::{show, Reply, Transcript};
use crate::rules::{Checked, Miss};
use p2p_share::wire::protocol::Message;

/// The fault of a reply without its line end, for the reply named.
fn unended(what: &str) -> String {
    format!("{what} came without its line end: every message ends with \\n")
}

pub fn found(tracker: &Tracker, t: &Transcript) -> Checked {
    let holder = joined(tracker, t, "A", 2)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    // The last record, so that a tracker that keeps only the first is caught.
    let wanted = holder.records[holder.records.len() - 1].clone();
    let answer = wait_listed(tracker, &mut asker, &wanted.name, &[wanted.location()])?;
    let exact = Message::Found(vec![wanted.location()]).format();
    let mut faults = Vec::new();
    if answer.line != exact {
        faults.push(how_written(&answer.line, &exact));
    }
    if !answer.ended {
        faults.push(unended("the FOUND: line"));
    }
    // A session goes on after a reply: one more SEARCH on it.
    ask(tracker, &mut asker, &wanted.name)?;
    if asker.rejoins > 0 {
        faults.push(
            "FT closed B's session after answering its SEARCH: a session stays open until the peer says BYE"
                .to_string(),
        );
    }
    match faults.is_empty() {
        true => Ok(()),
        false => Err(Miss::Broken(faults.join("; and "))),
    }
}

pub fn several_holders(tracker: &Tracker, t: &Transcript) -> Checked {
    let name = tracker.unique_name("shared.txt");
    let first = joined_with(tracker, t, "A", &[&name])?;
    let second = joined_with(tracker, t, "B", &[&name])?;
    let mut asker = joined(tracker, t, "C", 1)?;
    let both = [first.records[0].location(), second.records[0].location()];
    let answer = wait_listed(tracker, &mut asker, &name, &both)?;
    // The records are joined by one space (`found` judges the form of one
    // record, so a fault inside a record is said there, not here too).
    match wrong_gap(&answer.line) {
        None => Ok(()),
        Some(gap) => Err(Miss::Broken(format!(
            "records joined by {gap:?} instead of one space: the records of a line are separated by one space"
        ))),
    }
}

pub fn not_found(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut asker = joined(tracker, t, "A", 1)?;
    let answer = ask(
        tracker,
        &mut asker,
        &tracker.unique_name("nobody-has-this.txt"),
    )?;
    match (answer.line.as_str(), answer.ended) {
        ("NOT FOUND", true) => Ok(()),
        ("NOT FOUND", false) => Err(Miss::Broken(unended("NOT FOUND"))),
        (line, _) => Err(Miss::Broken(format!("expected NOT FOUND, got {line:?}"))),
    }
}

pub fn exact_name(tracker: &Tracker, t: &Transcript) -> Checked {
    let name = tracker.unique_name("Case-Test.txt");
    let holder = joined_with(tracker, t, "A", &[&name])?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let location = holder.records[0].location();
    wait_listed(tracker, &mut asker, &name, std::slice::from_ref(&location))?;
    let shorter = &name[..name.len() - 1];
    for other in [
        name.to_lowercase(),
        name.to_uppercase(),
        shorter.to_string(),
    ] {
        let answer = ask(tracker, &mut asker, &other)?;
        if lists(&answer.line, &location) {
            return Err(format!("SEARCH: {other} found the file {name}").into());
        }
    }
    Ok(())
}

pub fn error_after_join(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = joined(tracker, t, "A", 1)?;
    a.probe.send_line("WHAT IS THIS")?;
    let mut fault = None;
    match a.probe.read_reply(LINE_END_GRACE) {
        Reply::Line(line) if line.starts_with("ERROR:") => {}
        Reply::Line(line) => return Err(format!("expected ERROR: <reason>, got {line:?}").into()),
        Reply::Unfinished(bytes, _) if bytes.starts_with(b"ERROR:") => {
            fault = Some(unended(&show(&bytes)));
        }
        Reply::Unfinished(..) => return Err("no ERROR: line came".to_string().into()),
    }
    // The session goes on: a SEARCH is still answered, on the same session
    // (none was answered on it yet, so a close is not joined again).
    ask(tracker, &mut a, &tracker.unique_name("after-error.txt")).map_err(|miss| match miss {
        Miss::Broken(why) => {
            Miss::Broken(format!("{why}: the session did not go on after the ERROR:"))
        }
        other => other,
    })?;
    match fault {
        Some(why) => Err(Miss::Broken(why)),
        None => Ok(()),
    }
}
