//! What the checker prints: one line per rule, the evidence under each
//! failure, and the closing count; or, with `--summary`, one line in all;
//! or, with `--json`, one JSON object for a program to read.
//!
//! The full report is printed as the rules are checked, so a student sees
//! it grow; the summary and the JSON only at the end. The last line of the
//! full report is always `N passed, N failed` (and `, N not judged` when
//! some rules could not be judged).
//!
//! # Reading the report
//!
//! One line per rule: `PASS`, `FAIL`, `SKIP` or `NOT JUDGED`, its name, the
//! rule in words and the time it took. Under each `FAIL` comes every line
//! the checker sent and got, on each of its connections (`A`, `B`, ...; `G`
//! is a greeting tried first), with line ends shown (`"HI\n"`), bytes that
//! are not text escaped (`"\xac"`) and file bodies counted (`"FILE: " then
//! 988 bytes`); then `=>` and what is wrong.
//!
//! - **`NOT JUDGED`**: what the rule needs first does not work (`NOT JUDGED
//!   found  needs an accepted join (see join)`). Fix that rule first. It is
//!   never a pass: it is counted apart, and fails the exit status.
//!   `hello-first` and `silent-before-join` need a HI to `HELLO\n`; the
//!   three refusals need one accepted join; a peer's `wrong-size` needs its
//!   `--file` downloaded first.
//! - **`SKIP`** is for extensions only: a program that answers an
//!   extension with `ERROR:`, or not at all, or closes, or (a ranged
//!   DOWNLOAD) sends the whole file, does not offer it. It counts neither way. A wrong answer
//!   to an extension fails it, and leaves the exit status alone too.
//! - The last line is `N passed, N failed` (and `, N not judged`). The exit
//!   status is 0 when every core rule passed, 1 when one failed or was not
//!   judged (or nothing listens, or `--file` is not what the peer serves),
//!   2 for a bad command line.
//!
//! # The JSON report
//!
//! `--json` prints the whole report as one JSON object on one line, for an
//! autograder (GitHub Classroom, Gradescope) or a spreadsheet, at the end, in
//! place of the text. Its fields:
//!
//! | field | what it holds |
//! |---|---|
//! | `target.kind`, `target.address` | `"tracker"` or `"peer"`, and `HOST:PORT` as given |
//! | `notes` | lines about the whole run, said before the rules: nothing listens at the address, a `--file` that is not what the peer serves (empty when none) |
//! | `rules` | one object per rule checked, in the report's order |
//! | `rules[].name`, `.stage`, `.extension`, `.rule` | the short name, the stage number, whether it is an extension, the rule in words |
//! | `rules[].verdict` | `"pass"`, `"fail"`, `"skip"` (an extension not offered) or `"not judged"` |
//! | `rules[].reason` | why it is not a pass (`""` for a pass): what is wrong, why not offered, or what it needs |
//! | `rules[].evidence` | every line the checker sent and got for the rule, as the text report shows them |
//! | `rules[].ms` | how long the rule took, in milliseconds |
//! | `counts.passed`, `.failed`, `.skipped`, `.not_judged` | the counts of the text report's last line |
//! | `ok` | the exit status in words: `true` when every core rule passed |
//!
//! A real run of one rule against our tracker
//! (`check tracker 127.0.0.1:25610 --rule ping --json`; `<` is written
//! `\u003c`, as the web pages' JSON writes it):
//!
//! ```text
//! {"target": {"kind": "tracker", "address": "127.0.0.1:25610"}, "notes": [], "rules": [{"name": "ping", "stage": 4, "extension": true, "rule": "PING on an accepted session is answered PONG (heartbeat)", "verdict": "pass", "reason": "", "evidence": ["G sent \"HELLO\\n\"", "G got \"HI\\n\"", "A sent \"HELLO\\n\"", "A got \"HI\\n\"", "A sent \"\u003cchk-29c20c3f-1-file1.txt, txt, 1001, 07/12/26, 127.0.0.1, 34539>\\n\"", "A sent \"PING\\n\"", "A got \"PONG\\n\""], "ms": 34}], "counts": {"passed": 1, "failed": 0, "skipped": 0, "not_judged": 0}, "ok": true}
//! ```

use crate::probe::seconds;
use crate::rules::{Selection, Stage};
use p2p_share::source;
use p2p_share::wire::rules::Rule;
// The library's JSON writer, which the web pages use too.
use p2p_share::web::json;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// How a rule came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Broken; the text says how.
    Fail(String),
    /// An extension the program does not offer (it answered `ERROR:`, or
    /// nothing): neither passed nor failed.
    NotOffered(String),
    /// What the rule needs first does not work (no HI, no accepted join):
    /// the rule could not be judged. Counted apart, never a pass.
    NotJudged(String),
}

impl Verdict {
    /// The mark of the report's line.
    fn mark(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::NotOffered(_) => "SKIP",
            Verdict::NotJudged(_) => "NOT JUDGED",
        }
    }

    /// The verdict's word in the JSON report.
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::NotOffered(_) => "skip",
            Verdict::NotJudged(_) => "not judged",
        }
    }

    /// Why it is not a pass ("" for a pass).
    fn why(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(why) | Verdict::NotOffered(why) | Verdict::NotJudged(why) => why,
        }
    }
}

/// One rule, checked.
pub struct Outcome {
    /// The rule, from the protocol's one list.
    pub rule: &'static Rule,
    pub verdict: Verdict,
    /// What was sent and received, as the transcript wrote it.
    pub transcript: Vec<String>,
    pub took: Duration,
}

/// How the report is printed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// Every rule as it is checked, with its evidence.
    Full,
    /// One line at the end (`--summary`).
    Summary,
    /// One JSON object at the end (`--json`).
    Json,
}

/// The report of one run: the outcomes so far, and how to print them.
pub struct Report {
    /// What was checked, as the user named it: `tracker at 127.0.0.1:5000`.
    target: String,
    style: Style,
    /// Lines said before the rules, such as a `--file` that does not match.
    notes: Vec<String>,
    outcomes: Vec<Outcome>,
}

/// The width of the name column, so the rules line up.
const NAME_WIDTH: usize = 18;

/// How far the evidence under a failure is indented.
const EVIDENCE_INDENT: &str = "        ";

/// The counts of a run, by verdict.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_judged: usize,
}

impl Counts {
    /// `6 passed, 3 failed`, and `, 9 not judged` when there are such.
    fn line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.not_judged > 0 {
            let _ = write!(line, ", {} not judged", self.not_judged);
        }
        line
    }
}

impl Report {
    pub fn new(target: String, style: Style) -> Report {
        Report {
            target,
            style,
            notes: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    /// The first line: what is checked and how long each probe may wait.
    pub fn heading(&self, stages: &[Stage], selection: &Selection, limit: Duration) {
        let last = stages
            .iter()
            .map(|stage| stage.number)
            .filter(|&n| n <= selection.up_to)
            .max()
            .unwrap_or(0);
        let stages = match (last, selection.only) {
            (_, [one]) => format!("the rule {one}"),
            (_, [_, ..]) => format!("the rules {}", selection.only.join(", ")),
            (1, []) => "stage 1".to_string(),
            (_, []) => format!("stages 1 to {last}"),
        };
        self.print(&format!(
            "checking the {} ({stages}; each probe waits at most {})",
            self.target,
            seconds(limit)
        ));
    }

    /// A line that concerns the whole run, said before the rules (and in
    /// the summary and the JSON).
    pub fn note(&mut self, line: String) {
        self.print(&line);
        self.notes.push(line);
    }

    /// A stage's heading.
    pub fn stage(&self, stage: &Stage) {
        self.print(&format!("\nstage {}: {}", stage.number, stage.title));
    }

    /// Adds one outcome, and prints it.
    pub fn add(&mut self, outcome: Outcome) {
        self.print(&full_text(&outcome));
        self.outcomes.push(outcome);
    }

    /// Prints the closing line (the whole summary with `--summary`, the
    /// whole object with `--json`). Returns whether every core rule passed
    /// (or was not offered), and no note spoke against the run.
    pub fn finish(&self) -> bool {
        let counts = self.counts();
        let ok = self.ok();
        match self.style {
            Style::Full => self.print(&format!("\n{}", counts.line())),
            Style::Summary => write_out(&self.summary_line(&counts)),
            Style::Json => write_out(&self.json(&counts, ok)),
        }
        ok
    }

    /// Ends a run in which nothing could be checked at all: one line
    /// (`nothing listens at ADDR ...`), in whichever style was asked.
    pub fn nothing_checked(&mut self, why: String) {
        match self.style {
            Style::Full => write_out(&why),
            _ => {
                self.notes.push(why);
                self.style = match self.style {
                    Style::Json => Style::Json,
                    _ => Style::Summary,
                };
                self.finish();
            }
        }
    }

    fn ok(&self) -> bool {
        self.notes.is_empty()
            && !self.outcomes.iter().any(|o| {
                !o.rule.extension && matches!(o.verdict, Verdict::Fail(_) | Verdict::NotJudged(_))
            })
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for outcome in &self.outcomes {
            match outcome.verdict {
                Verdict::Pass => counts.passed += 1,
                Verdict::Fail(_) => counts.failed += 1,
                Verdict::NotOffered(_) => counts.skipped += 1,
                Verdict::NotJudged(_) => counts.not_judged += 1,
            }
        }
        counts
    }

    /// `tracker at ADDR: 6 passed, 3 failed, 9 not judged: found, ...`:
    /// the names of the failed rules (then those not judged, marked).
    fn summary_line(&self, counts: &Counts) -> String {
        let mut line = format!("{}: ", self.target);
        if self.outcomes.is_empty() && !self.notes.is_empty() {
            // Nothing was checked: the note says why.
            line.push_str(&self.notes.join("; "));
            return line;
        }
        for note in &self.notes {
            let _ = write!(line, "{note}; ");
        }
        line.push_str(&counts.line());
        let names: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| {
                let not_judged = match o.verdict {
                    Verdict::Fail(_) => false,
                    Verdict::NotJudged(_) => true,
                    _ => return None,
                };
                let marks: Vec<&str> =
                    [(o.rule.extension, "extension"), (not_judged, "not judged")]
                        .into_iter()
                        .filter_map(|(on, mark)| on.then_some(mark))
                        .collect();
                Some(match marks.is_empty() {
                    true => o.rule.name.to_string(),
                    false => format!("{} ({})", o.rule.name, marks.join(", ")),
                })
            })
            .collect();
        if !names.is_empty() {
            let _ = write!(line, ": {}", names.join(", "));
        }
        line
    }

    /// The whole report as one JSON object (the module docs list its fields).
    fn json(&self, counts: &Counts, ok: bool) -> String {
        let (kind, address) = self.target.split_once(" at ").unwrap_or(("", &self.target));
        let notes: Vec<String> = self.notes.iter().map(|n| json::string(n)).collect();
        let rules: Vec<String> = self.outcomes.iter().map(json_outcome).collect();
        format!(
            "{{\"target\": {{\"kind\": {}, \"address\": {}}}, \"notes\": [{}], \"rules\": [{}], \
             \"counts\": {{\"passed\": {}, \"failed\": {}, \"skipped\": {}, \"not_judged\": {}}}, \"ok\": {ok}}}",
            json::string(kind),
            json::string(address),
            notes.join(", "),
            rules.join(", "),
            counts.passed,
            counts.failed,
            counts.skipped,
            counts.not_judged,
        )
    }

    /// Prints a part of the full report (nothing with `--summary` or `--json`).
    fn print(&self, text: &str) {
        if self.style == Style::Full {
            write_out(text);
        }
    }
}

/// One rule as the full report prints it: its line, and under a failure
/// the evidence.
fn full_text(outcome: &Outcome) -> String {
    let mark = outcome.verdict.mark();
    let name = outcome.rule.name;
    if let Verdict::NotJudged(why) = &outcome.verdict {
        return format!("{mark}  {name:<NAME_WIDTH$} {why}");
    }
    let extension = if outcome.rule.extension {
        "(extension) "
    } else {
        ""
    };
    let mut text = format!(
        "{mark}  {name:<NAME_WIDTH$} {extension}{}  ({})",
        outcome.rule.words,
        seconds(outcome.took)
    );
    match &outcome.verdict {
        Verdict::Fail(why) => {
            for line in &outcome.transcript {
                let _ = write!(text, "\n{EVIDENCE_INDENT}{line}");
            }
            let _ = write!(text, "\n{EVIDENCE_INDENT}=> {why}");
            let _ = write!(text, "\n{EVIDENCE_INDENT}{}", ours(outcome.rule));
        }
        Verdict::NotOffered(why) => {
            let _ = write!(text, "\n{EVIDENCE_INDENT}not offered: {why}");
        }
        Verdict::Pass | Verdict::NotJudged(_) => {}
    }
    text
}

/// Where this project's own programs keep the rule, for a student to
/// compare with their code: `rule found is kept in our tracker::search
/// (src/tracker/mod.rs:402)`.
fn ours(rule: &Rule) -> String {
    let places: Vec<String> = rule
        .kept_in
        .iter()
        .map(|code| match source::place(code) {
            Some(place) => place.to_string(),
            None => format!("{}::{} ({})", code.file, code.function, code.file),
        })
        .collect();
    format!("rule {} is kept in our {}", rule.name, places.join(" and "))
}

/// One rule as a JSON object.
fn json_outcome(o: &Outcome) -> String {
    let evidence: Vec<String> = o.transcript.iter().map(|l| json::string(l)).collect();
    format!(
        "{{\"name\": {}, \"stage\": {}, \"extension\": {}, \"rule\": {}, \"verdict\": {}, \
         \"reason\": {}, \"evidence\": [{}], \"ms\": {}}}",
        json::string(o.rule.name),
        o.rule.stage,
        o.rule.extension,
        json::string(o.rule.words),
        json::string(o.verdict.word()),
        json::string(o.verdict.why()),
        evidence.join(", "),
        o.took.as_millis()
    )
}

/// Writes one line to standard output at once. A reader that went away
/// (`check ... | head`) is not an error worth a panic.
fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn the_count_line_names_rules_not_judged_only_when_there_are_some() {
        let mut counts = Counts {
            passed: 6,
            failed: 3,
            ..Counts::default()
        };
        assert_eq!(counts.line(), "6 passed, 3 failed");
        counts.not_judged = 9;
        assert_eq!(counts.line(), "6 passed, 3 failed, 9 not judged");
    }
}
