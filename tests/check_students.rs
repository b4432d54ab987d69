//! The protocol checker against fakes of real student programs (see
//! tests/common/students.rs): for each, the report names the root cause of
//! every fault in one run, with the right counts of passed, failed and not
//! judged rules, and no hollow PASS. Then the parts of the report that do
//! not depend on a fault: `--json`, `--rule`, nothing listening, and a
//! `--file` that is not what the peer serves.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::checker::{run_check, CheckRun, TRACKER_RULES};
use common::students::{SeederFault, StudentSeeder, StudentTracker};
use common::*;
use std::collections::BTreeMap;

/// The checker's time limit in these tests: the fakes answer at once, so a
/// short limit only shortens the rules that wait for what never comes.
const LIMIT: &str = "0.5";

/// The file the fake seeders serve.
const SERVED_NAME: &str = "notes.txt";

const PEER_EXTENSIONS: [&str; 5] = ["list", "ranged-download", "upload", "ping", "hash"];

fn check_tracker(addr: &str, extra: &[&str]) -> CheckRun {
    let mut args = vec!["tracker", addr, "--timeout", LIMIT];
    args.extend_from_slice(extra);
    run_check(&args)
}

/// Asserts that the report says each phrase.
fn assert_says(run: &CheckRun, phrases: &[&str]) {
    for phrase in phrases {
        assert!(
            run.says(phrase),
            "the report should say {phrase:?}\n{}",
            run.shown()
        );
    }
}

#[test]
fn a_tracker_answering_only_a_bare_hello_learns_all_four_faults_in_one_run() {
    let tracker = StudentTracker::bare_hello();
    let run = check_tracker(&tracker.addr(), &[]);
    run.assert_verdicts(
        &["hello-hi", "line-framing", "found", "not-found"],
        &["hello-first", "silent-before-join"],
    );
    assert_eq!(
        run.rules("SKIP"),
        ["list", "ping", "find"],
        "{}",
        run.shown()
    );
    assert_says(
        &run,
        &[
            "a bare HELLO is answered: your tracker compares the bytes of one read with HELLO; a message is a line, read up to \\n",
            "HI came without its line end",
            "fields separated by \",\" without the space after it",
            "NOT FOUND came without its line end",
            "NOT JUDGED  hello-first        needs a HI to \"HELLO\\n\" (see hello-hi)",
        ],
    );
    // The greeting's faults are said once, in hello-hi.
    assert_eq!(
        run.stdout.matches("HI came without its line end").count(),
        1
    );
    assert!(
        run.stdout.ends_with("10 passed, 4 failed, 2 not judged\n"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_tracker_that_closes_everything_unread_passes_nothing() {
    let tracker = StudentTracker::closes_unread();
    let run = check_tracker(&tracker.addr(), &[]);
    run.assert_verdicts(&["hello-hi"], &TRACKER_RULES[1..]);
    assert!(run.rules("PASS").is_empty(), "{}", run.shown());
    assert_says(&run, &["needs a HI to HELLO (see hello-hi)"]);
    let summary = check_tracker(&tracker.addr(), &["--summary"]);
    assert!(
        summary
            .stdout
            .contains(": 0 passed, 1 failed, 18 not judged: hello-hi, line-framing (not judged),"),
        "{}",
        summary.shown()
    );
    assert_eq!(summary.code, Some(1));
}

#[test]
fn a_tracker_with_one_record_a_join_and_a_small_pool_is_not_worn_out() {
    let tracker = StudentTracker::one_record_pool();
    let run = check_tracker(&tracker.addr(), &[]);
    run.assert_verdicts(&["join", "error-after-join"], &[]);
    assert_eq!(
        run.rules("SKIP"),
        ["list", "ping", "find"],
        "{}",
        run.shown()
    );
    assert_says(
        &run,
        &[
            "though the join with 1 record was",
            "no ERROR: line came",
            "not offered: no answer",
        ],
    );
    for rule in ["refuse-empty", "refuse-six", "found", "crash"] {
        assert!(
            run.rules("PASS").contains(&rule.to_string()),
            "{rule}: {}",
            run.shown()
        );
    }
    // The checker's own sessions leave with BYE, but for the crash rule's.
    assert_eq!(tracker.crashed(), 1, "{}", run.shown());
}

#[test]
fn a_tracker_that_leaks_crashed_sessions_is_named_by_the_crash_rule() {
    let tracker = StudentTracker::one_record_pool();
    // Each run of the crash rule leaks one thread of the pool of 4; once
    // too few are left for a new session, the rule says why.
    let mut runs = Vec::new();
    for _ in 0..common::students::POOL_SIZE {
        let run = check_tracker(&tracker.addr(), &["--rule", "crash"]);
        let failed = !run.failed().is_empty();
        runs.push(run);
        if failed {
            break;
        }
    }
    let last = runs.last().expect("one run");
    println!("{}", last.shown());
    assert_eq!(last.failed(), ["crash"], "{}", last.shown());
    assert_says(last, &["FT answers no new session"]);
    assert!(runs[0].failed().is_empty(), "{}", runs[0].shown());
}

fn check_seeder(fault: SeederFault, test: &str, bytes: Vec<u8>) -> CheckRun {
    let seeder = StudentSeeder::start(fault, SERVED_NAME, bytes.clone());
    let dir = TempDir::new(test);
    let file = dir.write(SERVED_NAME, &bytes);
    run_check(&[
        "peer",
        &seeder.addr(),
        "--file",
        &path_arg(&file),
        "--timeout",
        LIMIT,
    ])
}

#[test]
fn a_seeder_that_waits_for_a_half_close_is_named_once() {
    let run = check_seeder(SeederFault::HalfClose, "half_close", pattern_bytes(986));
    run.assert_verdicts(&["download"], &[]);
    assert_eq!(run.rules("SKIP"), PEER_EXTENSIONS, "{}", run.shown());
    assert_says(
        &run,
        &["no answer came until the checker closed its sending side"],
    );
    assert_eq!(
        run.stdout.matches("half-close").count(),
        1,
        "{}",
        run.shown()
    );
}

#[test]
fn a_seeder_writing_a_line_end_and_text_is_told_both() {
    let run = check_seeder(SeederFault::NewlineAndText, "as_text", all_byte_values());
    run.assert_verdicts(&["download"], &[]);
    assert_eq!(run.rules("SKIP"), PEER_EXTENSIONS, "{}", run.shown());
    assert_says(
        &run,
        &[
            "\"\\n\" came between FILE: and the file's bytes",
            "then the file's bytes re-encoded as text: each byte of 0x80 and up came as 2 bytes (UTF-8)",
        ],
    );
}

#[test]
fn a_seeder_ignoring_the_range_does_not_offer_ranges() {
    let run = check_seeder(SeederFault::IgnoresRange, "no_range", pattern_bytes(986));
    println!("{}", run.shown());
    assert!(run.failed().is_empty(), "{}", run.shown());
    assert_eq!(run.rules("SKIP"), PEER_EXTENSIONS, "{}", run.shown());
    assert_says(
        &run,
        &["not offered: it ignores the range: the whole file came"],
    );
    assert_eq!(run.counts(), (5, 0), "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
}

#[test]
fn the_json_report_parses_and_its_counts_match_the_text() {
    let tracker = StudentTracker::bare_hello();
    let text = check_tracker(&tracker.addr(), &[]);
    let json = check_tracker(&tracker.addr(), &["--json"]);
    assert_eq!(json.code, text.code, "{}", json.shown());
    assert_eq!(json.stdout.lines().count(), 1, "one line: {}", json.shown());
    let report = Json::parse(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.shown()));
    assert_eq!(report.get("target").get("kind").text(), "tracker");
    assert_eq!(report.get("target").get("address").text(), tracker.addr());
    let counts = report.get("counts");
    let (passed, failed, not_judged) = text.all_counts();
    assert_eq!(counts.get("passed").number(), passed as f64);
    assert_eq!(counts.get("failed").number(), failed as f64);
    assert_eq!(counts.get("not_judged").number(), not_judged as f64);
    assert_eq!(
        counts.get("skipped").number(),
        text.rules("SKIP").len() as f64
    );
    let rules = report.get("rules").items();
    let names: Vec<&str> = rules.iter().map(|r| r.get("name").text()).collect();
    assert_eq!(names, TRACKER_RULES);
    for (mark, verdict) in [
        ("PASS", "pass"),
        ("FAIL", "fail"),
        ("SKIP", "skip"),
        ("NOT JUDGED", "not judged"),
    ] {
        let in_json: Vec<&str> = rules
            .iter()
            .filter(|r| r.get("verdict").text() == verdict)
            .map(|r| r.get("name").text())
            .collect();
        assert_eq!(in_json, text.rules(mark), "{verdict}: {}", json.shown());
    }
    let found = rules
        .iter()
        .find(|r| r.get("name").text() == "found")
        .expect("found");
    assert_eq!(found.get("stage").number(), 2.0);
    assert!(found.get("reason").text().contains("without the space"));
    assert!(!found.get("evidence").items().is_empty());
    assert_eq!(report.get("ok"), &Json::Bool(false));
}

#[test]
fn rule_runs_just_the_rules_named() {
    let tracker = StudentTracker::bare_hello();
    let run = check_tracker(
        &tracker.addr(),
        &["--rule", "not-found", "--rule", "hello-hi"],
    );
    println!("{}", run.shown());
    assert_eq!(run.failed(), ["hello-hi", "not-found"], "{}", run.shown());
    assert_eq!(run.counts(), (0, 2), "{}", run.shown());
    let unknown = check_tracker(&tracker.addr(), &["--rule", "hello"]);
    assert_eq!(unknown.code, Some(2), "{}", unknown.shown());
    assert!(
        unknown
            .stderr
            .contains("no such rule; its rules: hello-hi, line-framing"),
        "{}",
        unknown.shown()
    );
}

#[test]
fn nothing_listening_is_one_line() {
    let addr = format!("127.0.0.1:{}", free_port());
    let run = check_tracker(&addr, &[]);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.shown());
    assert!(
        run.stdout
            .starts_with(&format!("nothing listens at {addr}")),
        "{}",
        run.shown()
    );
    assert_eq!(run.code, Some(1), "{}", run.shown());
    let summary = check_tracker(&addr, &["--summary"]);
    assert!(
        summary
            .stdout
            .starts_with(&format!("tracker at {addr}: nothing listens at {addr}")),
        "{}",
        summary.shown()
    );
    let json = check_tracker(&addr, &["--json"]);
    let report = Json::parse(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.shown()));
    assert!(report.get("notes").items()[0]
        .text()
        .starts_with("nothing listens"));
    assert!(report.get("rules").items().is_empty());
}

#[test]
fn a_file_that_is_not_what_the_peer_serves_is_said_first() {
    let net = Net::new("check_wrong_file", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    net.put("peer1", SERVED_NAME, &text_bytes(986));
    let _peer = net.start_peer("peer1", true, &[]);
    let dir = TempDir::new("wrong_file_copy");
    let copy = dir.write(SERVED_NAME, &text_bytes(19));
    let run = run_check(&[
        "peer",
        &net.addr("peer1"),
        "--file",
        &path_arg(&copy),
        "--timeout",
        LIMIT,
    ]);
    run.assert_verdicts(
        &[],
        &["download", "wrong-size", "list", "ranged-download", "hash"],
    );
    let second = run.stdout.lines().nth(1).unwrap_or_default();
    assert_eq!(
        second,
        "the peer serves notes.txt with 986 bytes; your --file has 19: pass a copy of the file it serves",
        "{}",
        run.shown()
    );
}

// ---------------------------------------------------------------------------
// A small JSON reader, enough for the checker's report
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut reader = JsonReader {
            bytes: text.trim().as_bytes(),
            at: 0,
        };
        let value = reader.value()?;
        match reader.at == reader.bytes.len() {
            true => Ok(value),
            false => Err(format!("text after the value, at byte {}", reader.at)),
        }
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => fields
                .get(key)
                .unwrap_or_else(|| panic!("no field {key:?} in {self:?}")),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn text(&self) -> &str {
        match self {
            Json::Text(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn number(&self) -> f64 {
        match self {
            Json::Number(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn items(&self) -> &[Json] {
        match self {
            Json::List(items) => items,
            other => panic!("not a list: {other:?}"),
        }
    }
}

struct JsonReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonReader<'_> {
    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let here = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(here);
        here
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        let rest = &self.bytes[self.at..];
        for (word, value) in [
            ("null", Json::Null),
            ("true", Json::Bool(true)),
            ("false", Json::Bool(false)),
        ] {
            if rest.starts_with(word.as_bytes()) {
                self.at += word.len();
                return Ok(value);
            }
        }
        match rest.first() {
            Some(b'"') => Ok(Json::Text(self.string()?)),
            Some(b'[') => self.list(),
            Some(b'{') => self.object(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!("no value at byte {}", self.at)),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b"-+.eE0123456789".contains(b))
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?;
        text.parse()
            .map(Json::Number)
            .map_err(|e| format!("{text:?}: {e}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or("a string that does not end")?;
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let escaped = *self
                        .bytes
                        .get(self.at)
                        .ok_or("an escape that does not end")?;
                    self.at += 1;
                    let c = match escaped {
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4).ok_or("a short \\u")?;
                            self.at += 4;
                            let code = u32::from_str_radix(
                                std::str::from_utf8(hex).map_err(|e| e.to_string())?,
                                16,
                            )
                            .map_err(|e| e.to_string())?;
                            char::from_u32(code).ok_or("a \\u that is no character")?
                        }
                        b'"' | b'\\' | b'/' => char::from(escaped),
                        other => return Err(format!("unknown escape \\{}", char::from(other))),
                    };
                    out.extend_from_slice(c.to_string().as_bytes());
                }
                byte if byte < 0x20 => return Err("a control character in a string".into()),
                byte => out.push(byte),
            }
        }
    }

    fn list(&mut self) -> Result<Json, String> {
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Json::List(items));
        }
        loop {
            items.push(self.value()?);
            if self.eat(b']') {
                return Ok(Json::List(items));
            }
            if !self.eat(b',') {
                return Err(format!("expected , or ] at byte {}", self.at));
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.at += 1;
        let mut fields = BTreeMap::new();
        if self.eat(b'}') {
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_space();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(format!("expected a key at byte {}", self.at));
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return Err(format!("expected : at byte {}", self.at));
            }
            let value = self.value()?;
            if fields.insert(key.clone(), value).is_some() {
                return Err(format!("the key {key:?} twice"));
            }
            if self.eat(b'}') {
                return Ok(Json::Object(fields));
            }
            if !self.eat(b',') {
                return Err(format!("expected , or }} at byte {}", self.at));
            }
        }
    }
}
