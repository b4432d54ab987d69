//! Stage 3 of the tracker check, leaving (BYE, a crash, a rejoin), and
//! stage 4, the extensions LIST and PING (FIND is in `find.rs`).

use super::peers::{connect, joined, joined_peer, read_hi, send_records, Joined};
use super::replies::{closes_silently, wait_gone, wait_listed};
use super::{Greeting, Tracker};
use crate::probe::Transcript;
use crate::rules::{reply_line, written_exactly, Checked, Miss};
use p2p_share::wire::protocol::Message;
use std::thread;
use std::time::{Duration, Instant};

/// The pause between two LISTs while waiting for the index to change.
const LIST_PAUSE: Duration = Duration::from_millis(20);

pub fn bye(tracker: &Tracker, t: &Transcript) -> Checked {
    let (mut leaver, mut asker) = seen_by_another(tracker, t)?;
    let wanted = leaver.records[0].clone();
    leaver.probe.send_line("BYE")?;
    leaver.left();
    closes_silently(&mut leaver.probe).map_err(|why| format!("{why} (after BYE)"))?;
    wait_gone(tracker, &mut asker, &wanted).map_err(|miss| after(miss, "after its BYE"))?;
    Ok(())
}

pub fn crash(tracker: &Tracker, t: &Transcript) -> Checked {
    let (leaver, mut asker) = seen_by_another(tracker, t)?;
    let wanted = leaver.records[0].clone();
    leaver.crash();
    wait_gone(tracker, &mut asker, &wanted)
        .map_err(|miss| after(miss, "after its connection closed without BYE"))?;
    // A session that ended must not hold what new sessions need (a thread
    // of a small pool, say): a new one is still answered.
    let mut c = connect(tracker, t, "C")?;
    let hello: &[u8] = match tracker.greeting.get() {
        Some(Greeting::Bare { .. }) => b"HELLO",
        _ => b"HELLO\n",
    };
    c.send(hello)?;
    if read_hi(&mut c).is_none() {
        return Err(Miss::Broken(
            "after A's connection closed without BYE, FT answers no new session: a session that \
             ends without BYE must end (its thread, its loop) and free what it holds"
                .into(),
        ));
    }
    Ok(())
}

pub fn rejoin(tracker: &Tracker, t: &Transcript) -> Checked {
    let (first, mut asker) = seen_by_another(tracker, t)?;
    let old = first.records[0].clone();
    // The same peer again, on a new connection, from the same ip:port.
    let mut probe = connect(tracker, t, "C")?;
    let mut new = old.clone();
    new.name = tracker.unique_name("rejoined.txt");
    send_records(tracker, &mut probe, std::slice::from_ref(&new))?;
    let _again = joined_peer(probe, None, vec![new.clone()]);
    wait_listed(tracker, &mut asker, &new.name, &[new.location()])
        .map_err(|miss| after(miss, &format!("(C is A joining again from {})", old.addr())))?;
    wait_gone(tracker, &mut asker, &old).map_err(|miss| {
        after(
            miss,
            "after it joined again from the same ip:port without it",
        )
    })?;
    Ok(())
}

/// A failure of the rule's own step, with what came before it said.
fn after(miss: Miss, context: &str) -> Miss {
    match miss {
        Miss::Broken(why) => Miss::Broken(format!("{why} {context}")),
        other => other,
    }
}

/// Peer A joined with one file, and peer B, joined too, whose SEARCH
/// finds it: the start of every rule about leaving. A SEARCH that does not
/// find it is the business of `found`: here the rule is not judged.
fn seen_by_another(tracker: &Tracker, t: &Transcript) -> Result<(Joined, Joined), Miss> {
    let holder = joined(tracker, t, "A", 1)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let record = &holder.records[0];
    wait_listed(tracker, &mut asker, &record.name, &[record.location()]).map_err(
        |miss| match miss {
            Miss::Broken(why) => Miss::NotJudged(format!(
                "needs a SEARCH that finds a joined peer's file (see found): {why}"
            )),
            other => other,
        },
    )?;
    Ok((holder, asker))
}

// ---------------------------------------------------------------------------
// Stage 4: extensions
// ---------------------------------------------------------------------------

/// LIST, asked until it holds the records of this rule's peers: it needs
/// no SEARCH, so a tracker with LIST and a broken SEARCH is judged on LIST.
pub fn list(tracker: &Tracker, t: &Transcript) -> Checked {
    let holder = joined(tracker, t, "A", 2)?;
    let mut asker = joined(tracker, t, "B", 1)?;
    let ours: Vec<_> = holder
        .records
        .iter()
        .chain(&asker.records)
        .cloned()
        .collect();
    let deadline = Instant::now() + tracker.limit;
    let started = Instant::now();
    let mut asked = 0;
    let (line, missing) = loop {
        t.mute(asked > 0);
        asked += 1;
        asker.probe.send_line("LIST")?;
        let line = reply_line(&mut asker.probe, "FILES:").inspect_err(|_| t.mute(false))?;
        let Ok(Message::Files(records)) = Message::parse(&line) else {
            t.mute(false);
            return Err(format!("expected FILES: and file records, got {line:?}").into());
        };
        let missing = ours.iter().find(|r| !records.contains(r)).cloned();
        if missing.is_none() || Instant::now() >= deadline {
            break (line, missing);
        }
        thread::sleep(LIST_PAUSE);
    };
    t.unmute_after_polling(asked, started, &line);
    if let Some(missing) = missing {
        return Err(format!("FILES: does not hold the record {missing}").into());
    }
    written_exactly(&line)
}

pub fn ping(tracker: &Tracker, t: &Transcript) -> Checked {
    let mut a = joined(tracker, t, "A", 1)?;
    a.probe.send_line("PING")?;
    match reply_line(&mut a.probe, "PONG")?.as_str() {
        "PONG" => Ok(()),
        other => Err(format!("expected PONG, got {other:?}").into()),
    }
}
