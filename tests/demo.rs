//! The one-command demo: it plays every scene, narrated before it happens,
//! and prints the same lines on every run once times, ports, dates and
//! its temporary folder are masked, every line but a protocol line fits
//! 100 columns, and piped it never waits; it never reads `served_files/` (extra
//! files there, or none at all, change nothing); a failed step is narrated
//! and exits 1; `--step` waits for Enter before every scene; `--slow` lets
//! two peers' chunks take turns; the lying holder is caught by a fetch's
//! range hash and its range comes again from peer3; it leaves no folder
//! behind.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use assert_cmd::Command;
use common::{Node, TempDir};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// The demo takes about half a second; this only stops a hang.
const DEMO_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The scenes the demo plays, in order.
const SCENES: usize = 21;

/// The scene of the lying holder, caught by a fetch's range hash.
const LIAR_SCENE: usize = 19;

/// The widest line other than a protocol line: a class reads the demo on
/// one screen. (A protocol line is as long as its records.)
const LINE_WIDTH: usize = 100;

const DEMO_BIN: &str = env!("CARGO_BIN_EXE_demo");

fn demo() -> Command {
    let mut command = Command::new(DEMO_BIN);
    command.timeout(DEMO_TIME_LIMIT);
    command
}

/// Runs the demo in `cwd` with `args` and `stdin`; returns its output.
fn run_demo(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    demo()
        .current_dir(cwd)
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("run the demo")
}

/// Runs the demo and checks it exited 0; returns its standard output.
fn run_demo_ok(cwd: &Path, args: &[&str], stdin: &str) -> String {
    let output = run_demo(cwd, args, stdin);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "demo {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The demo's temporary folder, as its narration names it.
fn demo_folder(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| {
            let path = line.strip_prefix("demo:")?.trim();
            path.contains("p2p-share-demo-").then(|| path.to_string())
        })
        .expect("the demo names its temporary folder")
}

/// The lines of scene `number`, from its heading to the next one.
fn scene(stdout: &str, number: usize) -> Vec<&str> {
    let heading = format!("-- {number}. ");
    stdout
        .lines()
        .skip_while(|line| !line.contains(&heading))
        .skip(1)
        .take_while(|line| !line.contains("-- ") || line.starts_with('['))
        .collect()
}

/// `[tracker] peer1 <- PING`: a node's name alone in the brackets, where
/// an event has its time too (`[12:00:00 peer1] joined ...`).
fn is_protocol_line(line: &str) -> bool {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(node, _)| !node.contains(' '))
}

/// Replaces every run of digits that follows `prefix` with `N`.
fn mask_after(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let (before, after) = rest.split_at(at + prefix.len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces `DD/MM/YY` dates and `HH:MM:SS` times with letters.
fn mask_dates_and_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let shape = |sep: u8| {
            bytes.len() >= i + 8
                && [0, 1, 3, 4, 6, 7]
                    .iter()
                    .all(|&k| bytes[i + k].is_ascii_digit())
                && bytes[i + 2] == sep
                && bytes[i + 5] == sep
        };
        if shape(b'/') {
            out.push_str("DD/MM/YY");
            i += 8;
        } else if shape(b':') {
            out.push_str("HH:MM:SS");
            i += 8;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// What may differ between two runs: clock times, ports, dates, and the
/// temporary folder's name (process id and counter).
fn mask(stdout: &str) -> String {
    let mut text = mask_dates_and_times(stdout);
    for prefix in [
        "127.0.0.1:",
        "127.0.0.1, ",
        "127.0.0.1 ",
        "p2p-share-demo-",
        "p2p-share-demo-N-",
    ] {
        text = mask_after(&text, prefix);
    }
    text
}

#[test]
fn the_demo_narrates_every_scene_before_its_lines_and_leaves_nothing_behind() {
    let here = TempDir::new("demo-plays");
    let stdout = run_demo_ok(here.path(), &[], "");
    for number in 1..=SCENES {
        let lines = scene(&stdout, number);
        assert!(
            lines.first().is_some_and(|line| line.starts_with("demo: ")),
            "scene {number} does not start with its narration:\n{stdout}"
        );
    }
    for expected in [
        "==== Act 1",
        "==== Act 2",
        "==== Act 3",
        "<- HELLO",
        "tracker <- HI",
        "<- SEARCH: notes.txt",
        "<- DOWNLOAD: notes.txt, txt, 986",
        "<- BYE",
        "connection closed without BYE",
        "<- UPLOAD: poem.txt, txt, 140",
        "peer3 <- DONE",
        "peer1 <- PONG",
        "notice: lost the connection to the tracker at 127.0.0.1:",
        "notice: rejoined the tracker",
        "notes.txt arrived whole",
        "syllabus.txt is whole",
        "demo: done",
    ] {
        assert!(
            stdout.contains(expected),
            "the demo's output lacks {expected:?}:\n{stdout}"
        );
    }
    // The upload's re-announce is over before the uploader hears DONE, and
    // that before the fetch begins.
    let upload = scene(&stdout, 13);
    let done = upload.iter().position(|l| l.contains("<- DONE"));
    let rejoined = upload.iter().position(|l| l.contains("peer3] joined"));
    assert!(rejoined < done && done.is_some(), "{upload:#?}");
    // Act 3 says the tracker is gone before a peer notices.
    let crash = scene(&stdout, 16);
    assert!(
        crash[0].starts_with("demo: the tracker stops"),
        "{crash:#?}"
    );
    let folder = demo_folder(&stdout);
    assert!(!Path::new(&folder).exists(), "{folder} was left behind");
}

#[test]
fn three_runs_print_the_same_once_times_ports_and_dates_are_masked() {
    let here = TempDir::new("demo-same");
    let raw: Vec<String> = (0..3).map(|_| run_demo_ok(here.path(), &[], "")).collect();
    let runs: Vec<String> = raw.iter().map(|run| mask(run)).collect();
    for (number, run) in runs.iter().enumerate().skip(1) {
        if *run != runs[0] {
            let first: Vec<&str> = runs[0].lines().collect();
            let other: Vec<&str> = run.lines().collect();
            let at = first
                .iter()
                .zip(&other)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(other.len()));
            panic!(
                "run {} differs from run 1 at line {}:\n  {:?}\n  {:?}\n--- run 1 ---\n{}",
                number + 1,
                at + 1,
                first.get(at),
                other.get(at),
                runs[0]
            );
        }
    }
    // Unmasked: the real ports and times, as a student sees them.
    for line in raw[0].lines().filter(|line| !is_protocol_line(line)) {
        assert!(
            line.chars().count() <= LINE_WIDTH,
            "a line wider than {LINE_WIDTH} columns: {line}"
        );
    }
    assert!(
        !raw[0].contains("(press Enter"),
        "piped, the demo never waits for Enter:\n{}",
        raw[0]
    );
}

#[test]
fn files_left_in_served_files_by_the_walkthrough_change_nothing() {
    // A working tree after the README walkthrough: peer2 downloaded
    // notes.txt and fetched syllabus.txt, and uploaded poem.txt to peer3.
    let here = TempDir::new("demo-walked");
    for (folder, name) in [
        ("peer1", "notes.txt"),
        ("peer2", "notes.txt"),
        ("peer2", "syllabus.txt"),
        ("peer3", "poem.txt"),
        ("peer3", "syllabus.txt"),
    ] {
        let dir = here.join("served_files").join(folder);
        std::fs::create_dir_all(&dir).expect("create served_files");
        std::fs::write(dir.join(name), b"a student's copy").expect("write a file");
    }
    let before = common::all_entries(&here.join("served_files/peer2"));
    let stdout = run_demo_ok(here.path(), &[], "");
    assert!(stdout.contains("notes.txt arrived whole"), "{stdout}");
    assert_eq!(
        common::all_entries(&here.join("served_files/peer2")),
        before,
        "the demo touched served_files/"
    );
}

#[test]
fn the_demo_needs_no_served_files_at_all() {
    let nowhere = TempDir::new("demo-bare");
    let stdout = run_demo_ok(nowhere.path(), &[], "");
    assert!(stdout.contains("demo: done"), "{stdout}");
}

#[test]
fn a_failed_step_is_narrated_and_the_demo_exits_1() {
    let here = TempDir::new("demo-fails");
    let output = run_demo(here.path(), &["--test-break-download"], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let failed = stdout
        .lines()
        .find(|line| line.starts_with("demo: scene 5 (peer2 downloads notes.txt) failed: "))
        .unwrap_or_else(|| panic!("no narration of the failure:\n{stdout}"));
    assert!(failed.contains("notes.txt"), "{failed}");
    assert!(!stdout.contains("-- 6. "), "it went on:\n{stdout}");
    assert!(!stdout.contains("demo: done"), "{stdout}");
    let folder = demo_folder(&stdout);
    assert!(!Path::new(&folder).exists(), "{folder} was left behind");
}

#[test]
fn step_waits_for_enter_before_every_scene() {
    let here = TempDir::new("demo-step");
    let mut demo = Node::spawn("demo", DEMO_BIN, &["--step".to_string()], here.path());
    for number in 1..=SCENES {
        demo.send_line("");
        let heading = format!("-- {number}. ");
        let line = demo.wait_for_output(&heading, |line| line.contains(&heading));
        assert!(
            line.starts_with(&format!("(press Enter for scene {number}: ")),
            "no prompt before scene {number}: {line}"
        );
        let headings = demo
            .stdout_lines()
            .iter()
            .filter(|line| line.contains("(press Enter for scene "))
            .count();
        assert_eq!(headings, number, "scene {} did not wait", number + 1);
    }
    assert!(demo.wait_exit().success());
}

#[test]
fn slow_paces_the_fetch_so_the_two_peers_chunks_take_turns_after_their_headers() {
    let here = TempDir::new("demo-slow");
    // --step replaces the pauses between scenes (the Enters come at once).
    let stdout = run_demo_ok(here.path(), &["--slow", "--step"], &"\n".repeat(SCENES));
    let senders: Vec<&str> = scene(&stdout, 14)
        .into_iter()
        .filter(|line| line.contains("<- chunk "))
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(senders.len(), 22, "one line per chunk:\n{stdout}");
    let turns = senders.windows(2).filter(|pair| pair[0] != pair[1]).count();
    assert!(
        turns >= 5,
        "the chunks of peer1 and peer3 hardly took turns: {senders:?}"
    );
    // In the order they come on the wire: each body's FILE: header, then
    // its chunks, for the fetch's two bodies and the plain download's one.
    for (number, from) in [(5, "peer1"), (14, "peer1"), (14, "peer3")] {
        let lines = scene(&stdout, number);
        let at = |text: &str| {
            let wanted = format!("[peer2] {from} <- {text}");
            lines.iter().position(|line| line.starts_with(&wanted))
        };
        let header = at("FILE: (").unwrap_or_else(|| panic!("no FILE: from {from}: {lines:#?}"));
        let first = at("chunk 1 of ").unwrap_or_else(|| panic!("no chunk 1: {lines:#?}"));
        assert!(
            header < first,
            "scene {number}: FILE: after its chunks: {lines:#?}"
        );
        let files = lines
            .iter()
            .filter(|line| line.starts_with(&format!("[peer2] {from} <- FILE:")))
            .count();
        assert_eq!(files, 1, "one FILE: line per body: {lines:#?}");
    }
}

#[test]
fn the_lying_holder_is_caught_by_the_fetchs_range_hash_and_its_range_comes_from_peer3() {
    let here = TempDir::new("demo-liar");
    let stdout = run_demo_ok(here.path(), &[], "");
    let lines = scene(&stdout, LIAR_SCENE);
    let has = |text: &str| lines.iter().filter(|line| line.contains(text)).count();
    assert!(
        lines[0].starts_with("demo: a fourth peer joins with data.bin"),
        "{lines:#?}"
    );
    // The liar named, by the range hash (and by the narration after).
    assert_eq!(has("sent bad bytes for chunks 0 to 21"), 2, "{lines:#?}");
    assert_eq!(
        has("peer1] fetch: peer3's HASH of those chunks differs"),
        1,
        "{lines:#?}"
    );
    // The liar's range from peer3: checked against its HASH, then fetched
    // again from it.
    assert_eq!(has("<- HASH: data.bin, bin, 4321, 0, 22"), 2, "{lines:#?}");
    assert_eq!(
        has("<- DOWNLOAD: data.bin, bin, 4321, 0, 22"),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        has("<- DOWNLOAD: data.bin, bin, 4321, 22, 22"),
        1,
        "{lines:#?}"
    );
    assert_eq!(has("demo: peer3 sent 44 chunk(s)"), 1, "{lines:#?}");
    assert_eq!(has("demo: verified: sha256 "), 1, "{lines:#?}");
}

#[test]
fn the_demo_refuses_unknown_arguments() {
    demo().arg("--fast").assert().failure();
    demo().arg("--help").assert().success();
}
