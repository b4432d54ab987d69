//! The one-command demo: `cargo run --bin demo`.
//!
//! Starts a tracker and three peers in this process, on free loopback
//! ports, and narrates a session while `--trace` shows the protocol.

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        println!(
            "usage: demo\n\nRuns a tracker and three peers in one process and narrates a session."
        );
        return ExitCode::SUCCESS;
    }
    match p2p_share::demo::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
