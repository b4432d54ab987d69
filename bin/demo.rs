//! The one-command demo: `cargo run --bin demo`.
//!
//! Starts a tracker and three peers in this process, on free loopback
//! ports, and narrates a session, scene by scene, while the protocol lines
//! are shown as they arrive.

use p2p_share::demo::Options;
use p2p_share::{cli, Result};
use std::io::IsTerminal;
use std::process::ExitCode;

const USAGE: &str = "\
usage: demo [--step] [--slow] [--web PORT] [--pace MS]

Runs a tracker and three peers in one process, on free loopback ports, and
narrates a session, scene by scene, while the protocol lines are shown as
they arrive. It needs no files: its sample files are built into it.
On a terminal it waits for the Enter key before each act; piped, or with
< /dev/null, it never waits.

  --step       wait for the Enter key before each scene
  --slow       pause between scenes, and send files chunk by chunk, slowly
               enough to watch two peers' chunks take turns
  --web PORT   also show the whole system on one sequence diagram on
               http://127.0.0.1:PORT/ (this machine only): every protocol
               line an arrow, every scene a band; each scene waits for the
               page's \"Next scene\" button (instead of --step)
  --pace MS    pause MS milliseconds after each protocol line shown
               (default: 0; with --web: 400)
";

/// Not in the usage: makes the demo fail on purpose (peer1's notes.txt is
/// removed before peer2 downloads it), so a test can check what a failed
/// step says and that the exit status is 1.
const TEST_BREAK_DOWNLOAD: &str = "--test-break-download";

fn main() -> ExitCode {
    cli::exit_code("demo", run())
}

/// The options the demo takes, besides the one for its tests.
const ACCEPTED: [&str; 5] = ["--step", "--slow", "--web", "--pace", TEST_BREAK_DOWNLOAD];

fn run() -> Result<()> {
    let Some(args) = cli::args_or_help(&ACCEPTED, USAGE)? else {
        return Ok(());
    };
    args.no_positional()?;
    let options = Options {
        step: args.step,
        slow: args.slow,
        web: args.web,
        pace: args.pace,
        break_download: args.break_download,
        // On a terminal, a pause before each act; piped, never (see
        // `Options::pause_at_acts`).
        pause_at_acts: std::io::stdout().is_terminal() && !args.step && args.web.is_none(),
    };
    p2p_share::demo::run(options)
}
