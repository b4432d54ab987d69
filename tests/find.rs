//! Black-box tests of the keyword search, `FIND: words` (an extension):
//! the tracker's answer on the wire, the peer's `find`, the tracker
//! console's `find`, and what our peer says to a tracker that keeps only
//! the core protocol.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;

/// The names of the records of a `FILES:` line.
fn names_in(files: &str) -> Vec<String> {
    let rest = files.strip_prefix("FILES:").expect("a FILES: answer");
    rest.split('<')
        .skip(1)
        .map(|record| record.split(',').next().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn find_matches_every_word_in_any_case_and_search_stays_exact() {
    let net = Net::new("find_words", &["peer1"]);
    let mut tracker = net.start_tracker(&[]);
    let port = free_port();
    let records = [
        file_record("Lecture Notes.txt", "txt", 10, "01/01/26", port),
        file_record("notes-old.txt", "txt", 20, "01/01/26", port),
        file_record("cat.jpg", "jpg", 30, "01/01/26", port),
    ]
    .join(" ");
    let mut fake = join_tracker(&net.tracker_addr(), &records);
    assert_eq!(
        names_in(&fake.request("FIND: NOTES")),
        ["Lecture Notes.txt", "notes-old.txt"]
    );
    assert_eq!(
        names_in(&fake.request("FIND: lec notes")),
        ["Lecture Notes.txt"]
    );
    assert_eq!(fake.request("FIND: notes jpg"), "NOT FOUND");
    assert_eq!(
        fake.request("SEARCH: notes"),
        "NOT FOUND",
        "SEARCH stays exact"
    );
    assert!(fake
        .request("FIND:")
        .starts_with("ERROR: bad FIND: no words"));
    net.put("peer1", "own.txt", b"own");
    let mut peer1 = net.start_peer("peer1", false, &[]);
    peer1.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer1, "find NoTeS old");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].contains("notes-old.txt") && out[0].contains(&port.to_string()));
    let out = run(&mut peer1, "find zebra");
    find_line(&out, "not found", |l| l.starts_with("not found"));
    let out = run(&mut tracker, "find CAT");
    find_line(&out, "the console's match", |l| {
        l.contains("<cat.jpg, jpg, 30")
    });
}

#[test]
fn a_find_answer_carries_fifty_records_at_most() {
    let net = Net::new("find_cap", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    // Eleven fake peers of five records each: 55 names hold "part".
    let sessions: Vec<Client> = (0..11)
        .map(|peer| {
            let port = free_port();
            let records: Vec<String> = (0..5)
                .map(|file| {
                    file_record(
                        &format!("part-{peer}-{file}.bin"),
                        "bin",
                        1,
                        "01/01/26",
                        port,
                    )
                })
                .collect();
            join_tracker(&net.tracker_addr(), &records.join(" "))
        })
        .collect();
    let mut probe = net.probe();
    wait_for("all 55 records to be listed", || {
        let all = probe.client.request("LIST");
        let count = names_in(&all).len();
        if count >= 55 {
            Ok(())
        } else {
            Err(format!("{count} listed"))
        }
    });
    assert_eq!(names_in(&probe.client.request("FIND: PART")).len(), 50);
    net.put("peer1", "own.txt", b"own");
    let mut peer1 = net.start_peer("peer1", false, &[]);
    peer1.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer1, "find part");
    assert_eq!(out.iter().filter(|l| l.contains("part-")).count(), 50);
    find_line(&out, "the cap, said", |l| l.contains("50 records at most"));
    drop(sessions);
}

#[test]
fn a_core_only_tracker_that_refuses_find_is_said_plainly() {
    let net = Net::new("find_core_only", &["peer1"]);
    let tracker = core_only_tracker(&net.tracker_addr());
    net.put("peer1", "own.txt", b"own");
    let mut peer1 = net.start_peer("peer1", false, &[]);
    peer1.wait_for_log("its join", |l| l.contains("joined the tracker"));
    let out = run(&mut peer1, "find notes");
    let said = find_line(&out, "the refusal", |l| l.starts_with("error:"));
    assert!(said.contains("does not answer FIND"), "{said}");
    assert!(said.contains("search"), "says what to do instead: {said}");
    drop(peer1);
    tracker.join().expect("the core-only tracker");
}
