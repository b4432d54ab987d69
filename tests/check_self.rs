//! The protocol checker against this project's own tracker and peer: every
//! rule, core and extension, passes. (That every rule can also fail is
//! proven in `check_fakes.rs`.)

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::checker::run_check;
use common::*;

#[test]
fn our_tracker_passes_every_rule() {
    let net = Net::new("check_self_tracker", &[]);
    let _tracker = net.start_tracker(&[]);
    let run = run_check(&["tracker", &net.tracker_addr()]);
    run.assert_failed_exactly(&[], false);
    assert_eq!(run.rules("PASS").len(), 19, "{}", run.shown());
}

#[test]
fn our_tracker_with_explain_fails_the_silent_rules_and_is_told_why() {
    let net = Net::new("check_self_explain", &[]);
    let _tracker = net.start_tracker(&["--explain"]);
    let run = run_check(&["tracker", &net.tracker_addr(), "--stage", "1"]);
    let failed = run.rules("FAIL");
    assert!(!failed.is_empty(), "{}", run.shown());
    assert!(
        run.stdout.contains("our tracker's --explain"),
        "the evidence names --explain: {}",
        run.shown()
    );
}

#[test]
fn our_peer_passes_every_rule() {
    let net = Net::new("check_self_peer", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    // More than a few chunks, every byte value, a ragged last chunk.
    let file = net.put("peer1", "notes.bin", &all_byte_values());
    let _peer = net.start_peer("peer1", true, &[]);
    let run = run_check(&["peer", &net.addr("peer1"), "--file", &path_arg(&file)]);
    run.assert_failed_exactly(&[], false);
    assert_eq!(run.rules("PASS").len(), 10, "{}", run.shown());
}

#[test]
fn the_summary_is_one_line() {
    let net = Net::new("check_self_summary", &[]);
    let _tracker = net.start_tracker(&[]);
    let addr = net.tracker_addr();
    let run = run_check(&["tracker", &addr, "--summary", "--stage", "2"]);
    assert_eq!(
        run.stdout,
        format!("tracker at {addr}: 13 passed, 0 failed\n"),
        "{}",
        run.shown()
    );
    assert_eq!(run.code, Some(0));
}

#[test]
fn the_json_report_of_our_tracker_says_every_rule_passed() {
    let net = Net::new("check_self_json", &[]);
    let _tracker = net.start_tracker(&[]);
    let run = run_check(&["tracker", &net.tracker_addr(), "--json", "--stage", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.shown());
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.shown());
    for field in [
        "\"counts\": {\"passed\": 8, \"failed\": 0, \"skipped\": 0, \"not_judged\": 0}",
        "\"ok\": true",
        "\"name\": \"hello-hi\", \"stage\": 1",
    ] {
        assert!(run.stdout.contains(field), "{field}: {}", run.shown());
    }
}

#[test]
fn help_says_every_option_and_a_bad_command_line_exits_2() {
    let help = run_check(&["--help"]);
    assert_eq!(help.code, Some(0), "{}", help.shown());
    for option in [
        "tracker HOST:PORT",
        "peer HOST:PORT",
        "--file",
        "--stage",
        "--timeout",
        "--summary",
        "--rule NAME",
        "--json",
        "not judged",
    ] {
        assert!(help.stdout.contains(option), "{option}: {}", help.shown());
    }
    for args in [
        &["peer", "127.0.0.1:1"][..],
        &["tracker"],
        &["tracker", "127.0.0.1:1", "--stage", "9"],
    ] {
        let run = run_check(args);
        assert_eq!(run.code, Some(2), "{}", run.shown());
        assert!(
            run.stdout.is_empty() && run.stderr.starts_with("check: "),
            "{}",
            run.shown()
        );
    }
}
