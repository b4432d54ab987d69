//! What the checker prints: one line per rule, the evidence under each
//! failure, and the closing count; or, with `--summary`, one line in all.
//!
//! The full report is printed as the rules are checked, so a student sees
//! it grow; the summary only at the end. The last line of the full report
//! is always `N passed, N failed`.

use crate::probe::seconds;
use crate::rules::Stage;
use std::io::Write;
use std::time::Duration;

/// How a rule came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Broken; the text says how.
    Fail(String),
    /// An extension the program does not offer (it answered `ERROR:`):
    /// neither passed nor failed.
    NotOffered(String),
}

/// One rule, checked.
pub struct Outcome {
    pub name: &'static str,
    pub words: &'static str,
    pub extension: bool,
    pub verdict: Verdict,
    /// What was sent and received, as the transcript wrote it.
    pub transcript: Vec<String>,
    pub took: Duration,
}

/// The report of one run: the outcomes so far, and how to print them.
pub struct Report {
    /// What was checked, as the user named it: `tracker 127.0.0.1:5000`.
    target: String,
    /// `--summary`: print nothing until the one closing line.
    summary: bool,
    outcomes: Vec<Outcome>,
}

/// The width of the name column, so the rules line up.
const NAME_WIDTH: usize = 18;

/// How far the evidence under a failure is indented.
const EVIDENCE_INDENT: &str = "        ";

impl Report {
    pub fn new(target: String, summary: bool) -> Report {
        Report {
            target,
            summary,
            outcomes: Vec::new(),
        }
    }

    /// The first line: what is checked and how long each probe may wait.
    pub fn heading(&self, stages: &[Stage], up_to: u32, limit: Duration) {
        let last = stages
            .iter()
            .map(|stage| stage.number)
            .filter(|&n| n <= up_to)
            .max()
            .unwrap_or(0);
        let stages = match last {
            1 => "stage 1".to_string(),
            _ => format!("stages 1 to {last}"),
        };
        self.print(&format!(
            "checking the {} ({stages}; each probe waits at most {})",
            self.target,
            seconds(limit)
        ));
    }

    /// A stage's heading.
    pub fn stage(&self, stage: &Stage) {
        self.print(&format!("\nstage {}: {}", stage.number, stage.title));
    }

    /// Adds one outcome, and prints it.
    pub fn add(&mut self, outcome: Outcome) {
        let mark = match outcome.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::NotOffered(_) => "SKIP",
        };
        let extension = if outcome.extension {
            "(extension) "
        } else {
            ""
        };
        let mut text = format!(
            "{mark}  {:<NAME_WIDTH$} {extension}{}  ({})",
            outcome.name,
            outcome.words,
            seconds(outcome.took)
        );
        match &outcome.verdict {
            Verdict::Pass => {}
            Verdict::Fail(why) => {
                for line in &outcome.transcript {
                    text.push_str(&format!("\n{EVIDENCE_INDENT}{line}"));
                }
                text.push_str(&format!("\n{EVIDENCE_INDENT}=> {why}"));
            }
            Verdict::NotOffered(why) => {
                text.push_str(&format!("\n{EVIDENCE_INDENT}not offered: {why}"));
            }
        }
        self.print(&text);
        self.outcomes.push(outcome);
    }

    /// Prints the closing line (the whole summary with `--summary`).
    /// Returns whether every core rule passed.
    pub fn finish(&self) -> bool {
        let passed = self.count(|v| *v == Verdict::Pass);
        let failed = self.count(|v| matches!(v, Verdict::Fail(_)));
        if self.summary {
            let mut line = format!("{}: {passed} passed, {failed} failed", self.target);
            let names: Vec<String> = self
                .outcomes
                .iter()
                .filter(|o| matches!(o.verdict, Verdict::Fail(_)))
                .map(|o| match o.extension {
                    true => format!("{} (extension)", o.name),
                    false => o.name.to_string(),
                })
                .collect();
            if !names.is_empty() {
                line.push_str(&format!(": {}", names.join(", ")));
            }
            write_out(&line);
        } else {
            self.print(&format!("\n{passed} passed, {failed} failed"));
        }
        !self
            .outcomes
            .iter()
            .any(|o| !o.extension && matches!(o.verdict, Verdict::Fail(_)))
    }

    fn count(&self, which: impl Fn(&Verdict) -> bool) -> usize {
        self.outcomes.iter().filter(|o| which(&o.verdict)).count()
    }

    /// Prints a part of the full report (nothing with `--summary`).
    fn print(&self, text: &str) {
        if !self.summary {
            write_out(text);
        }
    }
}

/// Writes one line to standard output at once. A reader that went away
/// (`check ... | head`) is not an error worth a panic.
fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
