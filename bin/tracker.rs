//! The file tracker:
//! `cargo run --bin tracker -- [--settings FILE] [--trace] [--max-connections N]`.
//!
//! Listens on the `tracker` line of the settings file and keeps the index
//! of who shares what. Its standard input is an operator console (`help`).

use p2p_share::console::{self, ConsoleEnd};
use p2p_share::log::Log;
use p2p_share::server::listen;
use p2p_share::settings::{Settings, DEFAULT_SETTINGS_FILE};
use p2p_share::tracker::{Tracker, TRACKER_MAX_CONNECTIONS};
use p2p_share::{cli, Result};
use std::process::ExitCode;

const USAGE: &str = "\
usage: tracker [--settings FILE] [--trace] [--max-connections N]

  --settings FILE        the peer settings file (default: peer_settings.txt);
                         the tracker listens on its `tracker` line
  --trace                print every protocol line sent and received
  --max-connections N    most connections served at once (default: 12000)

Type `help` on the tracker's standard input for the console commands.
";

fn main() -> ExitCode {
    cli::exit_code("tracker", run())
}

fn run() -> Result<()> {
    let args = cli::parse(
        std::env::args().skip(1),
        &["--settings", "--trace", "--max-connections"],
    )?;
    if args.help {
        print!("{USAGE}");
        return Ok(());
    }
    args.no_positional()?;
    let settings = Settings::load(&args.settings.unwrap_or(DEFAULT_SETTINGS_FILE.into()))?;
    let listener = listen(settings.tracker()?)?;
    let max_connections = args.max_connections.unwrap_or(TRACKER_MAX_CONNECTIONS);
    let mut tracker = Tracker::start(
        listener,
        settings,
        max_connections,
        Log::new("tracker", args.trace),
    )?;
    tracker.log().event(&format!(
        "listening on {} (type help for the console)",
        tracker.local_addr()
    ));
    if console::run(&tracker, std::io::stdin().lock()) == ConsoleEnd::EndOfInput {
        // No console (a pipe that ended, or no terminal): serve on until killed.
        tracker
            .log()
            .event("standard input ended; serving until stopped");
        loop {
            std::thread::park();
        }
    }
    tracker.log().event("quit: closing every session");
    tracker.stop();
    Ok(())
}
