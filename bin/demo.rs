//! The one-command demo: `cargo run --bin demo`.
//!
//! Starts a tracker and three peers in this process, on free loopback
//! ports, and narrates a session, scene by scene, while the protocol lines
//! are shown as they arrive.

use p2p_share::demo::Options;
use std::process::ExitCode;

const USAGE: &str = "\
usage: demo [--step] [--slow]

Runs a tracker and three peers in one process, on free loopback ports, and
narrates a session, scene by scene, while the protocol lines are shown as
they arrive. It needs no files: its sample files are built into it.

  --step    wait for the Enter key before each scene
  --slow    pause between scenes, and send files chunk by chunk, slowly
            enough to watch two peers' chunks take turns
";

/// Not in the usage: makes the demo fail on purpose (peer1's notes.txt is
/// removed before peer2 downloads it), so a test can check what a failed
/// step says and that the exit status is 1.
const TEST_BREAK_DOWNLOAD: &str = "--test-break-download";

fn main() -> ExitCode {
    let mut options = Options::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--step" => options.step = true,
            "--slow" => options.slow = true,
            TEST_BREAK_DOWNLOAD => options.break_download = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprint!("demo: unknown argument {arg:?}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    match p2p_share::demo::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
