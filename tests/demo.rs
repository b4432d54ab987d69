//! The one-command demo: it runs its three acts, the downloads are
//! byte-identical, it exits 0 and leaves no temporary folder behind.

use assert_cmd::Command;
use std::path::Path;
use std::time::Duration;

/// The demo takes well under a second; this only stops a hang.
const DEMO_TIME_LIMIT: Duration = Duration::from_secs(60);

fn demo() -> Command {
    let mut command = Command::cargo_bin("demo").expect("the demo binary");
    command.timeout(DEMO_TIME_LIMIT);
    command
}

#[test]
fn the_demo_runs_every_act_and_leaves_nothing_behind() {
    let output = demo().output().expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "==== Act 1",
        "==== Act 2",
        "==== Act 3",
        "-> HELLO",
        "<- HI",
        "-> SEARCH: notes.txt",
        "-> DOWNLOAD: notes.txt",
        "-> BYE",
        "connection closed without BYE",
        "-> UPLOAD: poem.txt",
        "<- PONG",
        "notice: lost the connection to the tracker",
        "notice: rejoined the tracker",
        "demo: done",
    ] {
        assert!(
            stdout.contains(expected),
            "the demo's output lacks {expected:?}:\n{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("identical").count(),
        2,
        "both comparisons say identical:\n{stdout}"
    );
    assert!(!stdout.contains("DIFFERENT"));
    // "serving a copy of served_files/peerN in <folder>": the folder is gone.
    let folder = stdout
        .lines()
        .find_map(|line| {
            line.split_once("served_files/peerN in ")
                .map(|(_, path)| path.trim())
        })
        .expect("the demo names its temporary folder");
    assert!(!Path::new(folder).exists(), "{folder} was left behind");
}

#[test]
fn the_demo_can_wait_for_enter_before_each_act() {
    let output = demo()
        .arg("--step")
        .write_stdin("\n\n\n\n")
        .output()
        .expect("run the demo");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("(press Enter for:").count(), 4, "{stdout}");
}

#[test]
fn the_demo_refuses_unknown_arguments() {
    demo().arg("--fast").assert().failure();
    demo().arg("--help").assert().success();
}
