//! Command-line checks of both programs, with `assert_cmd`:
//! `--help`, and every error that must end the program with a non-zero
//! status and a one-line message on stderr naming the cause (unknown flag,
//! missing or unknown peer id, missing or bad settings file, port in use,
//! an address the machine does not have).

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use assert_cmd::Command;
use common::*;
use std::fs;
use std::net::TcpListener;

/// A command for one of the binaries, run inside `dir`, killed if it runs
/// past the timeout (it then fails the checks below: it did not exit by
/// itself).
fn command(program: &str, dir: &TempDir) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir.path()).timeout(TIMEOUT);
    cmd
}

/// Runs `cmd`, expects it to exit by itself with a non-zero status and one
/// line on stderr that contains every one of `needles`; returns that line.
fn expect_error(cmd: &mut Command, what: &str, needles: &[&str]) -> String {
    let assert = cmd.assert().failure();
    let output = assert.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.code().is_some(),
        "{what}: the program did not exit by itself (status {}, stderr {stderr:?})",
        output.status
    );
    let message = stderr.trim_end();
    assert_eq!(
        message.lines().count(),
        1,
        "{what}: expected a one-line message on stderr, got {stderr:?}"
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: the message {message:?} should contain {needle:?}"
        );
    }
    message.to_string()
}

/// A folder with a valid settings file (a tracker and peer1 on free ports)
/// and a served folder for peer1 with one file.
fn valid_setup(test: &str) -> Net {
    let net = Net::new(test, &["peer1"]);
    net.put("peer1", "a.txt", b"a");
    net
}

fn peer_args(net: &Net, id: &str) -> Vec<String> {
    vec![
        id.to_string(),
        "--settings".to_string(),
        path_arg(&net.settings),
        "--dir".to_string(),
        path_arg(&net.dir("peer1")),
    ]
}

// --- --help -------------------------------------------------------------------

#[test]
fn tracker_help_prints_usage_and_exits_0() {
    let dir = TempDir::new("tracker_help");
    let assert = command(TRACKER_BIN, &dir).arg("--help").assert().success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        stdout.contains("--settings"),
        "usage should mention --settings: {stdout:?}"
    );
}

#[test]
fn peer_help_prints_usage_and_exits_0() {
    let dir = TempDir::new("peer_help");
    let assert = command(PEER_BIN, &dir).arg("--help").assert().success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        stdout.contains("--settings"),
        "usage should mention --settings: {stdout:?}"
    );
    assert!(
        stdout.contains("--dir"),
        "usage should mention --dir: {stdout:?}"
    );
}

// --- bad arguments --------------------------------------------------------------

#[test]
fn tracker_rejects_an_unknown_flag() {
    let net = valid_setup("tracker_unknown_flag");
    expect_error(
        command(TRACKER_BIN, &net.tmp).args([
            "--settings",
            &path_arg(&net.settings),
            "--bogus-flag",
        ]),
        "tracker --bogus-flag",
        &["--bogus-flag"],
    );
}

#[test]
fn tracker_rejects_settings_without_a_value() {
    let dir = TempDir::new("tracker_settings_no_value");
    expect_error(
        command(TRACKER_BIN, &dir).arg("--settings"),
        "tracker --settings",
        &["--settings"],
    );
}

#[test]
fn peer_rejects_an_unknown_flag() {
    let net = valid_setup("peer_unknown_flag");
    let mut args = peer_args(&net, "peer1");
    args.push("--bogus-flag".to_string());
    expect_error(
        command(PEER_BIN, &net.tmp).args(&args),
        "peer --bogus-flag",
        &["--bogus-flag"],
    );
}

#[test]
fn peer_needs_an_id() {
    let net = valid_setup("peer_missing_id");
    let message = expect_error(
        command(PEER_BIN, &net.tmp).args([
            "--settings",
            &path_arg(&net.settings),
            "--dir",
            &path_arg(&net.dir("peer1")),
        ]),
        "peer without an id",
        &[],
    );
    assert!(
        message.to_lowercase().contains("id"),
        "the message should say the peer id is missing: {message:?}"
    );
    let dir = TempDir::new("peer_no_args");
    expect_error(&mut command(PEER_BIN, &dir), "peer without arguments", &[]);
}

#[test]
fn peer_rejects_an_unknown_id() {
    let net = valid_setup("peer_unknown_id");
    expect_error(
        command(PEER_BIN, &net.tmp).args(peer_args(&net, "ghost7")),
        "peer ghost7",
        &["ghost7"],
    );
}

// --- settings files ---------------------------------------------------------------

#[test]
fn tracker_reports_a_missing_settings_file() {
    let dir = TempDir::new("tracker_missing_settings");
    let missing = path_arg(&dir.join("no-such-settings.txt"));
    expect_error(
        command(TRACKER_BIN, &dir).args(["--settings", &missing]),
        "tracker with a missing settings file",
        &[&missing],
    );
}

#[test]
fn tracker_default_settings_file_is_peer_settings_txt() {
    // Run in an empty folder: the default peer_settings.txt is not there.
    let dir = TempDir::new("tracker_default_settings");
    expect_error(
        &mut command(TRACKER_BIN, &dir),
        "tracker without peer_settings.txt",
        &["peer_settings.txt"],
    );
}

#[test]
fn peer_reports_a_missing_settings_file() {
    let dir = TempDir::new("peer_missing_settings");
    fs::create_dir(dir.join("peer1")).unwrap();
    let missing = path_arg(&dir.join("no-such-settings.txt"));
    expect_error(
        command(PEER_BIN, &dir).args([
            "peer1",
            "--settings",
            &missing,
            "--dir",
            &path_arg(&dir.join("peer1")),
        ]),
        "peer with a missing settings file",
        &[&missing],
    );
}

/// A settings file whose fifth line is `bad_line` (lines 1 and 2 are a
/// comment and a blank line, so that the line number must be counted
/// right). Returns the folder, the file's path, and the peer1 folder.
fn bad_settings(test: &str, bad_line: &str) -> (TempDir, String, String) {
    let dir = TempDir::new(test);
    let text = format!(
        "# the tracker and one peer\n\ntracker 127.0.0.1 {}\npeer1 127.0.0.1 {}\n{bad_line}\n",
        free_port(),
        free_port()
    );
    let path = dir.join("bad-settings.txt");
    fs::write(&path, text).unwrap();
    fs::create_dir(dir.join("peer1")).unwrap();
    fs::write(dir.join("peer1").join("a.txt"), b"a").unwrap();
    let peer_dir = path_arg(&dir.join("peer1"));
    (dir, path_arg(&path), peer_dir)
}

const BAD_LINES: &[(&str, &str)] = &[
    ("missing port", "peer2 127.0.0.1"),
    ("missing address and port", "peer2"),
    ("port 0", "peer2 127.0.0.1 0"),
    ("port 70000", "peer2 127.0.0.1 70000"),
    ("port not a number", "peer2 127.0.0.1 http"),
    ("duplicate id", "peer1 127.0.0.1 5999"),
];

#[test]
fn tracker_reports_a_bad_settings_line() {
    for (what, line) in BAD_LINES {
        let (dir, path, _) = bad_settings("tracker_bad_settings", line);
        expect_error(
            command(TRACKER_BIN, &dir).args(["--settings", &path]),
            &format!("tracker, settings with {what}"),
            &["bad-settings.txt", "line 5"],
        );
    }
}

#[test]
fn peer_reports_a_bad_settings_line() {
    for (what, line) in BAD_LINES {
        let (dir, path, peer_dir) = bad_settings("peer_bad_settings", line);
        expect_error(
            command(PEER_BIN, &dir).args(["peer1", "--settings", &path, "--dir", &peer_dir]),
            &format!("peer, settings with {what}"),
            &["bad-settings.txt", "line 5"],
        );
    }
}

// --- ports in use -------------------------------------------------------------------

#[test]
fn tracker_reports_its_port_in_use() {
    let net = valid_setup("tracker_port_in_use");
    let _holder = TcpListener::bind(("127.0.0.1", net.tracker_port)).expect("hold the port");
    expect_error(
        command(TRACKER_BIN, &net.tmp).args(["--settings", &path_arg(&net.settings)]),
        "tracker on a port in use",
        &[&net.tracker_port.to_string()],
    );
}

#[test]
fn peer_reports_its_port_in_use() {
    let net = valid_setup("peer_port_in_use");
    // A real tracker, so that the port is the only thing wrong.
    let _tracker = net.start_tracker(&[]);
    let port = net.port("peer1");
    let _holder = TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    let mut args = peer_args(&net, "peer1");
    args.push("--serve".to_string());
    expect_error(
        command(PEER_BIN, &net.tmp).args(&args),
        "peer on a port in use",
        &[&port.to_string()],
    );
}

// --- an address the machine does not have ---------------------------------------

/// A settings line whose address is not this machine's (a program started
/// on the wrong machine of a lab): the error names the address and the two
/// ways out. 203.0.113.77 is TEST-NET-3 (RFC 5737): no machine has it, and
/// binding it fails at once, without a packet sent.
#[test]
fn a_program_on_a_machine_without_its_address_says_so() {
    let tmp = TempDir::new("foreign_address");
    let settings = tmp.join("settings.txt");
    let port = free_port();
    fs::write(
        &settings,
        format!(
            "tracker 203.0.113.77 {port}\npeer1 203.0.113.77 {}\n",
            port + 1
        ),
    )
    .expect("write settings");
    fs::create_dir_all(tmp.join("peer1")).expect("served folder");
    let needles = [
        "cannot listen on 203.0.113.77",
        "this machine has no address 203.0.113.77",
        "run the program on the machine that has it",
        "settings.txt, line 1",
    ];
    expect_error(
        command(TRACKER_BIN, &tmp).args(["--settings", &path_arg(&settings)]),
        "tracker on a foreign address",
        &needles,
    );
    // The peer's own line is named, not the tracker's.
    let needles = [needles[0], needles[1], needles[2], "settings.txt, line 2"];
    expect_error(
        command(PEER_BIN, &tmp).args([
            "peer1",
            "--serve",
            "--settings",
            &path_arg(&settings),
            "--dir",
            &path_arg(&tmp.join("peer1")),
        ]),
        "peer on a foreign address",
        &needles,
    );
}

// --- a reader that goes away ---------------------------------------------------

/// `peer peer1 < script | head -1`: once `head` has its line and is gone,
/// the peer's next result meets a closed pipe. It must end quietly with
/// status 0, as a C program killed by SIGPIPE would, not with a panic.
#[test]
fn a_shell_whose_reader_went_away_ends_quietly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command as Process, Stdio};
    let net = valid_setup("reader_went_away");
    let mut peer = Process::new(PEER_BIN)
        .args(peer_args(&net, "peer1"))
        .args(["--heartbeat", "0"])
        .current_dir(net.tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the peer");
    let mut first = String::new();
    let mut results = BufReader::new(peer.stdout.take().expect("stdout"));
    let mut script = peer.stdin.take().expect("stdin");
    script.write_all(b"help\n").expect("write the script");
    results
        .read_line(&mut first)
        .expect("read the first result");
    // The reader goes away, like `head -1`; more commands follow.
    drop(results);
    for _ in 0..100 {
        if script.write_all(b"help\n").is_err() {
            break;
        }
    }
    drop(script);
    let output = wait_for("the peer to end by itself", || {
        match peer.try_wait().map_err(|e| e.to_string())? {
            Some(status) => Ok(status),
            None => Err("still running".into()),
        }
    });
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut peer.stderr.take().expect("stderr"), &mut stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.code(), Some(0), "{stderr}");
}
