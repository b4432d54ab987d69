//! Stage 4 of the tracker check: the keyword search (FIND), an extension.

use super::peers::{joined, joined_with, Joined};
use super::Tracker;
use crate::probe::{show, Transcript};
use crate::rules::{reply_line, written_exactly, Checked, Miss};
use p2p_share::wire::protocol::{FileRecord, Message};
use std::thread;
use std::time::{Duration, Instant};

/// The pause between two FINDs while waiting for the index to change.
const FIND_PAUSE: Duration = Duration::from_millis(20);

/// What FIND must answer for words no name holds.
const NOT_FOUND: &str = "NOT FOUND";

/// A peer announces two files; another asks FIND with words in another
/// case than the names: both records come back, and only records whose
/// names hold every word. Then a word nobody has gets NOT FOUND.
pub fn find(tracker: &Tracker, t: &Transcript) -> Checked {
    let first = tracker.unique_name("Lecture-Notes.txt");
    let second = tracker.unique_name("lecture-NOTES.pdf");
    let holder = joined_with(tracker, t, "A", &[&first, &second])?;
    let mut asker = joined(tracker, t, "B", 1)?;
    // The run's tag keeps other checks' records out; every word is in
    // another case than in the names, so a search that cares about case
    // finds nothing.
    let tag = tracker.tag.to_uppercase();
    let words = [format!("CHK-{tag}"), "LECTURE".into(), "notes".into()];
    let line = find_until(tracker, t, &mut asker, &words, &holder.records)?;
    let Ok(Message::Files(records)) = Message::parse(&line) else {
        let hint = match line == NOT_FOUND {
            true => case_hint(tracker, &mut asker, &holder.records),
            false => String::new(),
        };
        return Err(format!(
            "FIND: {} must find {} (a word matches in any case), got {}{hint}",
            words.join(" "),
            names(&holder.records),
            show(line.as_bytes())
        )
        .into());
    };
    if let Some(missing) = holder.records.iter().find(|r| !records.contains(r)) {
        let hint = case_hint(tracker, &mut asker, &holder.records);
        return Err(format!("FILES: does not hold the record {missing}{hint}").into());
    }
    if let Some(stray) = records.iter().find(|r| !holds_every(&r.name, &words)) {
        return Err(format!(
            "FILES: holds {stray}, whose name does not hold every word of FIND: {}",
            words.join(" ")
        )
        .into());
    }
    written_exactly(&line)?;
    nobody_has(&mut asker, &format!("{tag}-NOBODY-HAS-THIS"))
}

/// Sends FIND until its answer holds `wanted`, or the time limit is up
/// (another connection's join is served by another thread); the last
/// answer line. Only the first and the last tries are in the transcript.
fn find_until(
    tracker: &Tracker,
    t: &Transcript,
    asker: &mut Joined,
    words: &[String],
    wanted: &[FileRecord],
) -> Result<String, Miss> {
    let request = format!("FIND: {}", words.join(" "));
    let deadline = Instant::now() + tracker.limit;
    let started = Instant::now();
    let mut asked = 0;
    let line = loop {
        t.mute(asked > 0);
        asked += 1;
        asker.probe.send_line(&request)?;
        let line = reply_line(&mut asker.probe, "FILES: or NOT FOUND");
        let line = line.inspect_err(|_| t.mute(false))?;
        let found = match Message::parse(&line) {
            Ok(Message::Files(records)) => wanted.iter().all(|r| records.contains(r)),
            _ => false,
        };
        if found || Instant::now() >= deadline {
            break line;
        }
        thread::sleep(FIND_PAUSE);
    };
    t.unmute_after_polling(asked, started, &line);
    Ok(line)
}

/// When FIND with the run's tag in the names' own case finds `wanted`,
/// the fault is the case: said in a few words, to add to the failure.
fn case_hint(tracker: &Tracker, asker: &mut Joined, wanted: &[FileRecord]) -> String {
    let word = format!("chk-{}", tracker.tag);
    if asker.probe.send_line(&format!("FIND: {word}")).is_err() {
        return String::new();
    }
    match reply_line(&mut asker.probe, "FILES:").map(|line| Message::parse(&line)) {
        Ok(Ok(Message::Files(records))) if wanted.iter().all(|r| records.contains(r)) => format!(
            "; FIND: {word}, in the names' own case, finds them: compare a word and a name in one case (both in lower case, say)"
        ),
        _ => String::new(),
    }
}

/// FIND of a word no name holds must be answered NOT FOUND.
fn nobody_has(asker: &mut Joined, word: &str) -> Checked {
    asker.probe.send_line(&format!("FIND: {word}"))?;
    let line = reply_line(&mut asker.probe, NOT_FOUND).map_err(|miss| match miss {
        // It answered FIND before: this is no extension left out.
        Miss::NotOffered(why) => Miss::Broken(format!("{why} (to a FIND of a word nobody has)")),
        other => other,
    })?;
    match line == NOT_FOUND {
        true => Ok(()),
        false => Err(format!(
            "FIND: {word} (a word no file name holds) must be answered NOT FOUND, got {}",
            show(line.as_bytes())
        )
        .into()),
    }
}

/// Whether `name` holds every word, in any case.
fn holds_every(name: &str, words: &[String]) -> bool {
    let name = name.to_lowercase();
    words.iter().all(|word| name.contains(&word.to_lowercase()))
}

/// The records' names, for a message.
fn names(records: &[FileRecord]) -> String {
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    names.join(" and ")
}
