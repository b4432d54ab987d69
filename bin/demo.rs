//! The one-command demo: `cargo run --bin demo`.
//!
//! Starts a tracker and three peers in this process, on free loopback
//! ports, and narrates a session while `--trace` shows the protocol.

use std::process::ExitCode;

const USAGE: &str = "\
usage: demo [--step]

Runs a tracker and three peers in one process, on free loopback ports, and
narrates a session while the protocol lines are printed as they cross.

  --step    wait for the Enter key before each act
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let step = match args.as_slice() {
        [] => false,
        [flag] if flag == "--step" => true,
        [flag] if flag == "--help" || flag == "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("demo: unknown arguments {args:?}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match p2p_share::demo::run(step) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
