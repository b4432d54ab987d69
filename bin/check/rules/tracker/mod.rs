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
//! another check running at the same time. Every simulated peer leaves with
//! BYE, except in the rule about crashes: a tracker that leaks a crashed
//! session is not worn out by the check itself.
//!
//! What a rule needs before it can judge its own thing (a HI, an accepted
//! join, a SEARCH that answers) is set up leniently, the way that works
//! with this tracker (a bare HELLO, a HI without its line end, one record a
//! join); when even that fails, the rule is not judged and says which rule
//! to see. The parts: [`peers`] (the simulated peers: greeting and join),
//! [`replies`] (SEARCH and its replies, read leniently), and the rules by
//! stage in `join.rs`, `search.rs`, `leave.rs` (with LIST and PING) and
//! `find.rs` (the keyword search).

mod find;
mod join;
mod leave;
mod peers;
mod replies;
mod search;

use super::{Rule, Stage};
use find::find;
use join::*;
use leave::*;
use p2p_share::wire::date::Date;
use p2p_share::wire::rules;
use search::*;
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// How long an accepted peer listens for the tracker to stay silent (and
/// keep the connection open) after its records. A refusal is a close, and
/// comes at once; this only needs to be long enough to see one.
pub const QUIET_PERIOD: Duration = Duration::from_millis(250);

/// The pause between the two pieces of a line sent in two writes, so that
/// they leave as two TCP segments and a tracker that takes one `recv()` for
/// one message is caught.
pub const SPLIT_PAUSE: Duration = Duration::from_millis(50);

/// How this tracker answers a greeting, as the first try found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    /// `HELLO\n` is answered HI (`ended`: with its line end).
    Line { ended: bool },
    /// Only a bare `HELLO`, with no line end, is answered HI.
    Bare { ended: bool },
    /// No HI came to either.
    Unanswered,
}

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
    /// How the tracker answers a greeting, once found out.
    greeting: Cell<Option<Greeting>>,
    /// Whether the tracker has accepted a join of this run.
    accepted: Cell<bool>,
    /// Whether it has accepted a join of several records.
    accepted_several: Cell<bool>,
}

impl Tracker {
    pub fn new(addr: SocketAddr, limit: Duration, tag: String) -> Tracker {
        Tracker {
            addr,
            limit,
            tag,
            names: Cell::new(0),
            today: Date::from_system_time(SystemTime::now()),
            greeting: Cell::new(None),
            accepted: Cell::new(false),
            accepted_several: Cell::new(false),
        }
    }

    /// A file name no other record on the tracker has.
    fn unique_name(&self, what: &str) -> String {
        let n = self.names.get() + 1;
        self.names.set(n);
        format!("chk-{}-{n}-{what}", self.tag)
    }
}

/// The stages of the tracker check, from the protocol's one list of rules.
pub const STAGES: [Stage; 4] = rules::tracker::STAGES;

/// Every rule of the tracker, stage by stage.
pub const RULES: [Rule<Tracker>; 19] = [
    Rule {
        about: &rules::tracker::HELLO_HI,
        check: hello_hi,
    },
    Rule {
        about: &rules::tracker::LINE_FRAMING,
        check: line_framing,
    },
    Rule {
        about: &rules::tracker::HELLO_FIRST,
        check: hello_first,
    },
    Rule {
        about: &rules::tracker::SILENT_BEFORE_JOIN,
        check: silent_before_join,
    },
    Rule {
        about: &rules::tracker::JOIN,
        check: join,
    },
    Rule {
        about: &rules::tracker::REFUSE_EMPTY,
        check: refuse_empty,
    },
    Rule {
        about: &rules::tracker::REFUSE_SIX,
        check: refuse_six,
    },
    Rule {
        about: &rules::tracker::REFUSE_MALFORMED,
        check: refuse_malformed,
    },
    Rule {
        about: &rules::tracker::FOUND,
        check: found,
    },
    Rule {
        about: &rules::tracker::SEVERAL_HOLDERS,
        check: several_holders,
    },
    Rule {
        about: &rules::tracker::NOT_FOUND,
        check: not_found,
    },
    Rule {
        about: &rules::tracker::EXACT_NAME,
        check: exact_name,
    },
    Rule {
        about: &rules::tracker::ERROR_AFTER_JOIN,
        check: error_after_join,
    },
    Rule {
        about: &rules::tracker::BYE,
        check: bye,
    },
    Rule {
        about: &rules::tracker::CRASH,
        check: crash,
    },
    Rule {
        about: &rules::tracker::REJOIN,
        check: rejoin,
    },
    Rule {
        about: &rules::tracker::LIST,
        check: list,
    },
    Rule {
        about: &rules::tracker::PING,
        check: ping,
    },
    Rule {
        about: &rules::tracker::FIND,
        check: find,
    },
];
