//! The transfers a peer's page started: downloads, fetches, uploads and
//! publishes, with their progress, for the page to list.
//!
//! Under a finished download or fetch the page shows what the shell
//! prints after it: whether the file was verified (its SHA-256 agrees with
//! its holder's), which holder sent bad bytes, and whether the download
//! resumed a partial file kept from an earlier try.
//!
//! A transfer that runs in a thread of its own takes one of
//! [`MAX_RUNNING_TRANSFERS`] slots. Its [`Slot`] frees it in `Drop`: when
//! the transfer ends as planned, and also when its code panics. Without
//! that, every panic would keep one slot for ever, and a few of them would
//! make the page answer every transfer with 503 until the peer restarts.

use crate::lock;
use crate::log::{LineKind, Log};
use crate::peer::fetch::FetchReport;
use crate::web::events::{Event, Hub};
use crate::web::http::HttpError;
use crate::web::json;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

/// Transfers running at once from the page; one more is refused with 503
/// (each is a thread and a few connections).
pub const MAX_RUNNING_TRANSFERS: usize = 8;

/// How many finished transfers the page still lists.
const KEPT_TRANSFERS: usize = 20;

/// What a transfer whose code stopped without saying how ends with.
const STOPPED_UNSAID: &str =
    "the transfer stopped without a result: a bug in this program (it panicked); \
     its slot is free again, so try once more";

/// Every transfer of the page, and the pages to tell of their changes.
pub struct Transfers {
    hub: Arc<Hub>,
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    running: usize,
    /// The running ones and the latest finished ones, oldest first.
    list: VecDeque<Transfer>,
}

/// A download, fetch, upload or publish started from the page.
#[derive(Debug, Clone)]
struct Transfer {
    id: u64,
    /// What it is: `download notes.txt from peer1 (127.0.0.1:5001)`.
    label: String,
    done: u64,
    /// The size when known, else 0 (an upload reports no bytes).
    total: u64,
    /// `running`, `done` or `failed`.
    state: &'static str,
    /// How it ended.
    message: String,
    /// The lines under the message once it ended: whether the file was
    /// verified, which holder sent bad bytes, a resume.
    details: Vec<String>,
    /// Whether it counts against [`MAX_RUNNING_TRANSFERS`] (it runs in a
    /// thread of its own; a publish runs in its request's).
    counted: bool,
}

impl Transfer {
    fn json(&self) -> String {
        format!(
            r#"{{"id":{},"label":{},"done":{},"total":{},"state":"{}","message":{},"details":{}}}"#,
            self.id,
            json::string(&self.label),
            self.done,
            self.total,
            self.state,
            json::string(&self.message),
            json::array(self.details.iter().map(|detail| format!(
                r#"{{"text":{},"kind":"{}"}}"#,
                json::string(detail),
                detail_kind(detail)
            )))
        )
    }

    /// Whole percents, for sending progress only when it shows.
    fn percent(&self) -> u64 {
        (self.done * 100).checked_div(self.total).unwrap_or(0)
    }
}

/// One transfer's place in the list while it runs. [`Slot::end`] says how
/// it ended; dropped without that (its code panicked, or its thread never
/// started), it ends as failed. Either way its slot is free again.
pub struct Slot {
    transfers: Arc<Transfers>,
    id: u64,
    ended: bool,
}

impl Slot {
    /// The transfer's number, as the page shows it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes so far, and the size.
    pub fn progress(&self, done: u64, total: u64) {
        self.transfers.progress(self.id, done, total);
    }

    /// The transfer ended: `Ok` with what it did, or `Err` with why not.
    pub fn end(self, outcome: Result<String, HttpError>) {
        self.end_with(outcome, Vec::new());
    }

    /// [`Slot::end`], with the lines to show under the message.
    pub fn end_with(mut self, outcome: Result<String, HttpError>, details: Vec<String>) {
        self.ended = true;
        self.transfers.end(self.id, outcome, details);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.ended {
            self.transfers.end(
                self.id,
                Err(HttpError::new(500, STOPPED_UNSAID)),
                Vec::new(),
            );
        }
    }
}

impl Transfers {
    pub fn new(hub: Arc<Hub>) -> Arc<Transfers> {
        Arc::new(Transfers {
            hub,
            book: Mutex::default(),
        })
    }

    /// Every transfer listed, as a JSON array.
    pub fn json(&self) -> String {
        json::array(lock(&self.book).list.iter().map(Transfer::json))
    }

    /// How many counted transfers run now.
    pub fn running(&self) -> usize {
        lock(&self.book).running
    }

    /// Registers a transfer of `total` bytes (0: not known yet); `counted`
    /// ones (threads) are capped at [`MAX_RUNNING_TRANSFERS`].
    pub fn begin(
        self: &Arc<Self>,
        label: String,
        total: u64,
        counted: bool,
    ) -> Result<Slot, HttpError> {
        let mut book = lock(&self.book);
        if counted && book.running >= MAX_RUNNING_TRANSFERS {
            return Err(HttpError::new(
                503,
                format!("{MAX_RUNNING_TRANSFERS} transfers are running: wait for one to end"),
            ));
        }
        book.next_id += 1;
        book.running += usize::from(counted);
        let transfer = Transfer {
            id: book.next_id,
            label,
            done: 0,
            total,
            state: "running",
            message: String::new(),
            details: Vec::new(),
            counted,
        };
        self.announce(&transfer);
        book.list.push_back(transfer);
        if book.list.len() > KEPT_TRANSFERS {
            // Drop the oldest finished one; running ones stay listed.
            if let Some(index) = book.list.iter().position(|t| t.state != "running") {
                book.list.remove(index);
            }
        }
        Ok(Slot {
            transfers: Arc::clone(self),
            id: book.next_id,
            ended: false,
        })
    }

    /// Bytes so far: sent to the pages when the whole percent changes.
    fn progress(&self, id: u64, done: u64, total: u64) {
        let mut book = lock(&self.book);
        if let Some(transfer) = book.list.iter_mut().find(|t| t.id == id) {
            let before = transfer.percent();
            transfer.done = done;
            transfer.total = total;
            if transfer.percent() != before {
                self.announce(transfer);
            }
        }
    }

    /// The transfer ended: how, in words (`Ok`: done; `Err`: failed, and
    /// why, as the page shows it), and the lines under that.
    fn end(&self, id: u64, outcome: Result<String, HttpError>, details: Vec<String>) {
        let mut book = lock(&self.book);
        let Some(transfer) = book.list.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let (state, message) = match outcome {
            Ok(text) => ("done", text),
            Err(error) => ("failed", error.message),
        };
        transfer.state = state;
        transfer.message = message;
        transfer.details = details;
        if state == "done" && transfer.total > 0 {
            transfer.done = transfer.total;
        }
        self.announce(transfer);
        if transfer.counted {
            book.running -= 1;
        }
    }

    fn announce(&self, transfer: &Transfer) {
        self.hub.publish(Event {
            name: "progress",
            data: transfer.json(),
        });
    }
}

/// How the events a download or fetch logs about a resume begin: the
/// resume itself, a try that failed, the partial kept for the next one
/// ("kept the first N bytes" of a download, "kept N of the M chunks" of a
/// fetch).
const NOTE_STARTS: &[&str] = &["resuming ", "download from ", "kept "];

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
    use super::{
        detail_kind, fetch_details, FetchReport, Hub, Notes, Slot, Transfers, MAX_RUNNING_TRANSFERS,
    };
    use crate::web::Log;
    use std::net::SocketAddr;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::thread;

    #[test]
    fn a_transfer_that_panics_still_frees_its_slot() {
        let transfers = Transfers::new(Hub::new());
        let slots: Vec<Slot> = (0..MAX_RUNNING_TRANSFERS)
            .map(|n| transfers.begin(format!("t{n}"), 0, true).unwrap())
            .collect();
        let refused = transfers.begin("one more".into(), 0, true).err().unwrap();
        assert_eq!(refused.status, 503);
        // Each slot's work panics, in a thread of its own as on the page.
        for slot in slots {
            let work = thread::spawn(move || {
                slot.progress(1, 2);
                panic!("a bug in the transfer");
            });
            assert!(work.join().is_err(), "the work panicked");
        }
        assert_eq!(transfers.running(), 0, "every slot is free again");
        assert!(
            transfers.json().contains("it panicked"),
            "{}",
            transfers.json()
        );
        assert!(transfers.begin("again".into(), 0, true).is_ok());
    }

    #[test]
    fn a_panic_in_the_guarded_work_of_this_thread_releases_too() {
        let transfers = Transfers::new(Hub::new());
        let slot = transfers.begin("publish".into(), 10, true).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(move || {
            let _slot = slot;
            panic!("a bug half-way");
        }));
        assert!(outcome.is_err());
        assert_eq!(transfers.running(), 0);
        assert!(transfers.json().contains(r#""state":"failed""#));
    }

    #[test]
    fn a_transfer_that_ends_says_how_once() {
        let transfers = Transfers::new(Hub::new());
        let slot = transfers.begin("download".into(), 0, true).unwrap();
        slot.progress(5, 10);
        slot.end(Ok("downloaded".into()));
        assert_eq!(transfers.running(), 0);
        let listed = transfers.json();
        assert!(listed.contains(
            r#""done":10,"total":10,"state":"done","message":"downloaded","details":[]"#
        ));
    }

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
