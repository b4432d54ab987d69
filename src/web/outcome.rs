//! What the peer's page says under a finished download or fetch: whether
//! the file was verified (its SHA-256 agrees with its holder's), which
//! holder sent bad bytes, and whether the download resumed a partial file
//! kept from an earlier try. The shell prints the same facts; the page
//! shows them as lines under the transfer's bar.

use crate::lock;
use crate::log::{LineKind, Log};
use crate::peer::fetch::FetchReport;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

/// How the events a download logs about a resume begin: the resume
/// itself, a try that failed, the partial kept for the next download.
const NOTE_STARTS: &[&str] = &["resuming ", "download from ", "kept the first "];

/// How the event begins when a holder refused a ranged DOWNLOAD and the
/// file comes again from byte 0.
const NOTE_REFUSED_RANGE: &str = " refused a ranged DOWNLOAD ";

/// How a fetch says that a holder sent bad bytes for a range (it then
/// gives that range to another holder).
const BAD_BYTES: &str = "sent bad bytes";

/// The resume events one transfer's thread logs while it runs (shown
/// under the verification). A download
/// logs them in its own thread, so those of other transfers at the same
/// time are not taken.
pub struct Notes {
    heard: Arc<Mutex<Vec<String>>>,
}

impl Notes {
    /// Starts hearing the events the calling thread logs on `log`. The
    /// subscription ends at the first line logged after this is dropped.
    pub fn watch(log: &Log) -> Notes {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let weak = Arc::downgrade(&heard);
        let me: ThreadId = thread::current().id();
        log.subscribe(move |line| {
            let Some(heard) = weak.upgrade() else {
                return false;
            };
            if line.kind == LineKind::Event && thread::current().id() == me && is_note(&line.text) {
                lock(&heard).push(line.text.clone());
            }
            true
        });
        Notes { heard }
    }

    /// The notes heard so far, oldest first.
    pub fn taken(&self) -> Vec<String> {
        lock(&self.heard).clone()
    }
}

/// Whether an event is one the page shows under a transfer.
fn is_note(text: &str) -> bool {
    NOTE_STARTS.iter().any(|start| text.starts_with(start)) || text.contains(NOTE_REFUSED_RANGE)
}

/// The lines under a fetch: its verification, then every holder that was
/// left out or sent bad bytes (those ranges came again from another
/// holder), each named by `describe`.
pub fn fetch_details(report: &FetchReport, describe: impl Fn(SocketAddr) -> String) -> Vec<String> {
    let mut details = vec![report.verification.to_string()];
    for (from, why) in &report.failures {
        let who = describe(*from);
        details.push(if why.starts_with(BAD_BYTES) {
            format!("holder {who} {why}: fetched again from another holder")
        } else {
            format!("{who}: {why}")
        });
    }
    details
}

/// The CSS class of a detail line, for its colour: `verified`,
/// `unverified`, or `note`.
pub fn detail_kind(detail: &str) -> &'static str {
    if detail.starts_with("verified:") {
        "verified"
    } else if detail.starts_with("unverified:") || detail.contains(BAD_BYTES) {
        "unverified"
    } else {
        "note"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::client::Verification;
    use crate::wire::sha256::digest;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_fetch_names_the_holder_that_sent_bad_bytes_and_says_it_was_fetched_again() {
        let report = FetchReport {
            path: PathBuf::from("big.bin"),
            size: 10_000,
            chunks_by_peer: BTreeMap::from([(addr(5001), 100)]),
            failures: vec![(
                addr(5003),
                "sent bad bytes for chunks 11 to 21 (their SHA-256 differs from 127.0.0.1:5001's)"
                    .into(),
            )],
            verification: Verification::Verified(digest(b"x")),
        };
        let details = fetch_details(&report, |a| format!("peer{}", a.port() - 5000));
        assert!(details[0].starts_with("verified: sha256 "), "{details:?}");
        assert_eq!(
            details[1],
            "holder peer3 sent bad bytes for chunks 11 to 21 (their SHA-256 differs from \
             127.0.0.1:5001's): fetched again from another holder"
        );
        assert_eq!(detail_kind(&details[0]), "verified");
        assert_eq!(detail_kind(&details[1]), "unverified");
    }

    #[test]
    fn only_the_resume_events_of_the_transfers_own_thread_are_noted() {
        let log = Log::new("peer2", false);
        let notes = Notes::watch(&log);
        log.event("resuming a.bin at byte 100 of 300, from peer1");
        log.event("joined the tracker");
        let other = log.clone();
        thread::spawn(move || other.event("resuming b.bin at byte 5 of 9, from peer3"))
            .join()
            .unwrap();
        assert_eq!(
            notes.taken(),
            ["resuming a.bin at byte 100 of 300, from peer1"]
        );
    }
}
