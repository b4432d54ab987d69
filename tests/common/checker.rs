//! Running the protocol checker (`check`) from a test, and reading its
//! report: which rules passed, failed, were not offered or not judged.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const CHECK_BIN: &str = env!("CARGO_BIN_EXE_check");

/// Every rule of each check, as the report names them, in its order.
pub const TRACKER_RULES: [&str; 19] = [
    "hello-hi",
    "line-framing",
    "hello-first",
    "silent-before-join",
    "join",
    "refuse-empty",
    "refuse-six",
    "refuse-malformed",
    "found",
    "several-holders",
    "not-found",
    "exact-name",
    "error-after-join",
    "bye",
    "crash",
    "rejoin",
    "list",
    "ping",
    "find",
];
pub const PEER_RULES: [&str; 10] = [
    "download",
    "wrong-size",
    "unknown-name",
    "path-name",
    "garbage",
    "list",
    "ranged-download",
    "upload",
    "ping",
    "hash",
];

/// One run of `check`, finished.
pub struct CheckRun {
    pub args: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
    pub took: Duration,
}

/// Runs `check ARGS...` to its end.
pub fn run_check(args: &[&str]) -> CheckRun {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(CHECK_BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {CHECK_BIN}: {e}"));
    CheckRun {
        args: args.iter().map(|a| a.to_string()).collect(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        code: status.code(),
        took: started.elapsed(),
    }
}

impl CheckRun {
    /// The names of the rules marked `mark` (`PASS`, `FAIL`, `SKIP` or
    /// `NOT JUDGED`), in the order of the report.
    pub fn rules(&self, mark: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(mark)?.strip_prefix("  "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(String::from)
            .collect()
    }

    pub fn failed(&self) -> Vec<String> {
        self.rules("FAIL")
    }

    /// The whole run, for an assertion message.
    pub fn shown(&self) -> String {
        format!(
            "check {} (exit {:?}, {:.1} s)\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    /// The last line of the report: `N passed, N failed`.
    pub fn counts(&self) -> (usize, usize) {
        let (passed, failed, not_judged) = self.all_counts();
        assert_eq!(not_judged, 0, "rules not judged:\n{}", self.shown());
        (passed, failed)
    }

    /// The last line of the report: `N passed, N failed`, or
    /// `N passed, N failed, N not judged`.
    pub fn all_counts(&self) -> (usize, usize, usize) {
        let last = self.stdout.lines().last().unwrap_or_default();
        let numbers: Vec<usize> = last
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let judged_all = numbers.len() == 2 && last.ends_with(" failed");
        let some_not = numbers.len() == 3 && last.ends_with(" not judged");
        assert!(
            (judged_all || some_not) && last.contains(" passed, "),
            "the last line is not `N passed, N failed[, N not judged]`: {last:?}\n{}",
            self.shown()
        );
        (numbers[0], numbers[1], numbers.get(2).copied().unwrap_or(0))
    }

    /// Asserts the names of the rules that failed, and of those not judged,
    /// in the order of the report; that the closing count agrees with the
    /// report's lines; and that the exit status is 1. Prints the report.
    pub fn assert_verdicts(&self, failed: &[&str], not_judged: &[&str]) {
        println!("{}", self.shown());
        assert_eq!(self.failed(), failed, "{}", self.shown());
        assert_eq!(self.rules("NOT JUDGED"), not_judged, "{}", self.shown());
        let (passed, fails, not) = self.all_counts();
        assert_eq!(passed, self.rules("PASS").len(), "{}", self.shown());
        assert_eq!(
            (fails, not),
            (failed.len(), not_judged.len()),
            "{}",
            self.shown()
        );
        assert_eq!(self.code, Some(1), "{}", self.shown());
        assert!(!self.stderr.contains("panicked"), "{}", self.shown());
    }

    /// The evidence under each rule, as one text: to look for a phrase.
    pub fn says(&self, phrase: &str) -> bool {
        self.stdout.contains(phrase)
    }

    /// Asserts that exactly these rules failed and every other one passed,
    /// that the report's count agrees, and that the exit status says
    /// whether a core rule failed. Prints the report (the evidence).
    pub fn assert_failed_exactly(&self, expected: &[&str], core_failed: bool) {
        println!("{}", self.shown());
        assert_eq!(self.failed(), expected, "{}", self.shown());
        assert!(self.rules("SKIP").is_empty(), "{}", self.shown());
        let (passed, failed) = self.counts();
        assert_eq!(failed, expected.len(), "{}", self.shown());
        assert_eq!(passed, self.rules("PASS").len(), "{}", self.shown());
        let code = if core_failed { 1 } else { 0 };
        assert_eq!(self.code, Some(code), "{}", self.shown());
        assert!(!self.stderr.contains("panicked"), "{}", self.shown());
    }
}
