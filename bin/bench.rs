//! The benchmark: `cargo run --release --bin bench -- [--size MIB] [--peers N] [--sessions N] [--quick]`.
//!
//! Measures the real tracker and peer code against the machine's own limits
//! and prints one line per figure, then a summary. The work is all in the
//! library's `bench` module; this file only reads the command line.

use p2p_share::{bench, cli, Result};
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::exit_code("bench", run())
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The benchmark starts copies of itself as tracker and peers; their
    // hidden options are not for users, so `cli::parse` does not list them.
    if bench::is_child_mode(&args) {
        return bench::run_child(&args);
    }
    let args = cli::parse(args, &bench::OPTIONS)?;
    if args.help {
        print!("{}", bench::USAGE);
        return Ok(());
    }
    args.no_positional()?;
    bench::run(&bench::Options::from_args(&args)?)
}
