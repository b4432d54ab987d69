//! Runs `bench --quick`, so that the benchmark never rots: it must finish,
//! exit 0 and print every figure of the benchmark and the summary.

use std::process::Command;

/// Every figure line the benchmark prints, in order.
const FIGURES: [&str; 26] = [
    "transfer_raw",
    "transfer",
    "transfer_vs_raw",
    "fetch",
    "fetch_vs_raw",
    "sha256",
    "sha256_vs_sha256sum",
    "transfer_verified",
    "verified_vs_transfer",
    "sessions",
    "sessions_join_time",
    "sessions_join_rate",
    "sessions_tracker_rss",
    "sessions_tracker_hwm",
    "sessions_tracker_per_session",
    "sessions_tracker_fds",
    "search_p50",
    "search_p99",
    "echo_p50",
    "echo_p99",
    "search_vs_echo",
    "search_tracker_cpu",
    "echo_server_cpu",
    "search_cpu_vs_echo",
    "memory_peer_serving",
    "memory_peer_downloading",
];

/// The figures of the downloads over a link shaped to 1 Gbit/s.
const LINK_FIGURES: [&str; 3] = [
    "link_transfer",
    "link_transfer_verified",
    "link_verified_vs_transfer",
];

#[test]
fn quick_benchmark_prints_every_figure() {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--quick")
        .output()
        .expect("running the bench binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench --quick failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    for name in FIGURES {
        // `name: value unit`, with a number for the value.
        let line = lines
            .iter()
            .find(|line| line.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no `{name}:` line in:\n{stdout}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "not `name: value unit`: {line}");
        assert!(fields[1].parse::<f64>().is_ok(), "not a number: {line}");
    }
    // The downloads over a shaped link need root: the figures, or a note
    // that says why they were not measured.
    let link_note = lines
        .iter()
        .any(|line| line.starts_with("note: the downloads over a"));
    for name in LINK_FIGURES {
        let printed = lines
            .iter()
            .any(|line| line.starts_with(&format!("{name}: ")));
        assert!(
            printed || link_note,
            "no `{name}:` line, and no note why:\n{stdout}"
        );
    }
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("summary: "), "last line: {last}");
    for ratio in [
        "transfer/raw",
        "fetch/raw",
        "verified/transfer",
        "search p50/echo p50",
        "processor time per round trip",
    ] {
        assert!(
            last.contains(ratio),
            "the summary does not name {ratio}: {last}"
        );
    }
}
