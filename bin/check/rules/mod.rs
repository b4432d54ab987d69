//! The rules the checker holds a program to, and how one rule is run.
//!
//! Each rule is one of the protocol's rules, from the library's one list
//! ([`p2p_share::wire::rules`]: its short name, stage, sentence, and where
//! our own programs keep it), with a function that plays the other side of
//! the protocol to find out whether the program keeps it. The README's
//! protocol section names the same rules. The rules of the tracker are in
//! [`tracker`], those of a peer in [`peer`].
//!
//! Stages follow the order in which a student builds a program (for the
//! tracker: join, search, leave, then the extensions), so that a half
//! written program can be checked with `--stage N`.

pub mod peer;
pub mod tracker;

use crate::probe::{show, Probe, Reply, Transcript};
use crate::report::{Outcome, Report, Verdict};
use p2p_share::wire::protocol::Message;
pub use p2p_share::wire::rules::Stage;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

/// One rule of the protocol, checked against a program of type `T`
/// ([`tracker::Tracker`] or [`peer::Peer`]).
pub struct Rule<T> {
    /// The rule in the protocol's one list: name, stage, sentence, whether
    /// it is an extension (a failure is then reported but does not fail
    /// the check), and where our programs keep it.
    pub about: &'static p2p_share::wire::rules::Rule,
    /// Plays the other side; every byte it sends and receives goes to the
    /// transcript.
    pub check: fn(&T, &Transcript) -> Checked,
}

/// What checking one rule found: `Ok` when the program kept it.
pub type Checked = Result<(), Miss>;

/// Why a rule was not passed.
#[derive(Debug)]
pub enum Miss {
    /// The program broke the rule; the text says how.
    Broken(String),
    /// An extension the program does not offer: it answered `ERROR:`, or
    /// nothing at all.
    NotOffered(String),
    /// What the rule needs first does not work (no HI, no accepted join):
    /// the text says what, and which rule to see.
    NotJudged(String),
}

/// Most failures are found by code that returns `Result<_, String>`; `?`
/// turns those into [`Miss::Broken`].
impl From<String> for Miss {
    fn from(why: String) -> Miss {
        Miss::Broken(why)
    }
}

/// Which rules a run checks: the stages up to `up_to`, and of those, when
/// `only` names some (`--rule NAME`), just those.
pub struct Selection<'a> {
    pub up_to: u32,
    pub only: &'a [String],
}

impl Selection<'_> {
    fn takes<T>(&self, rule: &Rule<T>) -> bool {
        rule.about.stage <= self.up_to
            && (self.only.is_empty() || self.only.iter().any(|name| name == rule.about.name))
    }
}

/// Runs the selected rules, in order, into `report`. One rule that fails,
/// or even one that panics (a bug in the checker), never stops the others.
/// Each rule does its own setup (a greeting, a join), so any one of them
/// can run alone.
pub fn run_all<T>(
    target: &T,
    stages: &[Stage],
    rules: &[Rule<T>],
    selection: &Selection,
    report: &mut Report,
) {
    for stage in stages {
        let mut chosen = rules
            .iter()
            .filter(|rule| rule.about.stage == stage.number && selection.takes(rule))
            .peekable();
        if chosen.peek().is_some() {
            report.stage(stage);
        }
        for rule in chosen {
            report.add(run_one(target, rule));
        }
    }
}

/// Checks one rule.
fn run_one<T>(target: &T, rule: &Rule<T>) -> Outcome {
    let transcript = Transcript::new();
    let started = Instant::now();
    let checked = panic::catch_unwind(AssertUnwindSafe(|| (rule.check)(target, &transcript)));
    let verdict = match checked {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(Miss::Broken(why))) => Verdict::Fail(why),
        Ok(Err(Miss::NotOffered(why))) if rule.about.extension => Verdict::NotOffered(why),
        // A core rule cannot be "not offered": it is broken.
        Ok(Err(Miss::NotOffered(why))) => Verdict::Fail(why),
        Ok(Err(Miss::NotJudged(why))) => Verdict::NotJudged(why),
        Err(_) => Verdict::Fail(
            "the checker itself failed on this rule (a bug in the checker: please report it)"
                .into(),
        ),
    };
    Outcome {
        rule: rule.about,
        verdict,
        transcript: transcript.lines(),
        took: started.elapsed(),
    }
}

/// Every rule's name and stage, to check what `--rule` asks for.
pub fn names<T>(rules: &[Rule<T>]) -> Vec<(&'static str, u32)> {
    rules
        .iter()
        .map(|rule| (rule.about.name, rule.about.stage))
        .collect()
}

/// Reads the reply line to an extension request; `ERROR:`, silence or a
/// close mean the program does not offer that extension. Only an answer
/// that is wrong fails it.
fn reply_line(probe: &mut Probe, expected: &str) -> Result<String, Miss> {
    match probe.read_line() {
        Reply::Line(line) if line.starts_with("ERROR") => Err(Miss::NotOffered(format!(
            "it answered {line:?} instead of {expected}"
        ))),
        Reply::Line(line) => Ok(line),
        Reply::Unfinished(bytes, _) if bytes.is_empty() => {
            Err(Miss::NotOffered("no answer".into()))
        }
        Reply::Unfinished(bytes, _) => Err(Miss::Broken(format!(
            "no whole {expected} line came: {} without a line end",
            show(&bytes)
        ))),
    }
}

/// The line must be written as the protocol writes it: records with fields
/// separated by ", ", records separated by one space.
fn written_exactly(line: &str) -> Checked {
    match Message::parse(line) {
        Ok(message) if message.format() == line => Ok(()),
        Ok(message) => Err(format!(
            "not written as the protocol writes it: expected {}",
            show(format!("{}\n", message.format()).as_bytes())
        )
        .into()),
        Err(error) => Err(format!("the line does not parse: {error}").into()),
    }
}
