//! The file tracker:
//! `cargo run --bin tracker -- [--settings FILE] [--trace | --trace=code] [--heartbeat SECS] [--explain] [--max-connections N] [--web PORT [--web-any]]`.
//!
//! Listens on the `tracker` line of the settings file and keeps the index
//! of who shares what. Its standard input is an operator console (`help`).

use p2p_share::log::Log;
use p2p_share::server::listen;
use p2p_share::settings::{Settings, DEFAULT_SETTINGS_FILE, TRACKER_ID};
use p2p_share::tracker::console::{self, ConsoleEnd};
use p2p_share::tracker::liveness::DEFAULT_HEARTBEAT;
use p2p_share::tracker::{Tracker, TrackerConfig, TRACKER_MAX_CONNECTIONS};
use p2p_share::web::tracker_page::TrackerPage;
use p2p_share::web::WebOptions;
use p2p_share::{cli, Result};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
usage: tracker [--settings FILE] [--trace | --trace=code] [--heartbeat SECS] [--explain] [--max-connections N] [--web PORT [--web-any]]

  --settings FILE        the peer settings file (default: peer_settings.txt);
                         the tracker listens on its `tracker` line
  --trace                print every protocol line sent and received
  --trace=code           the same, each line followed by the function and
                         file:line of ours that sent or handled it
  --heartbeat SECS       a peer silent for 2 x SECS (or 2 x its own PING
                         interval) is checked by connecting to its port, and
                         forgotten if that fails (default: 30; 0: never)
  --explain              tell a refused peer why, in one ERROR: line (the
                         core protocol closes without a word)
  --max-connections N    most connections served at once (default: 12000)
  --web PORT             also serve the tracker's page (its peers, files and
                         a live sequence diagram of the protocol) on
                         http://127.0.0.1:PORT/ (this machine only; open
                         the address it prints, with its secret token)
  --web-any              serve the web page on every address (anybody who
                         can reach PORT and learns the token can see it
                         and ping from it)

Type `help` on the tracker's standard input for the console commands.
";

fn main() -> ExitCode {
    cli::exit_code("tracker", run())
}

/// The options the tracker takes.
const ACCEPTED: [&str; 7] = [
    "--settings",
    "--trace",
    "--heartbeat",
    "--explain",
    "--max-connections",
    "--web",
    "--web-any",
];

fn run() -> Result<()> {
    let Some(args) = cli::args_or_help(&ACCEPTED, USAGE)? else {
        return Ok(());
    };
    args.no_positional()?;
    let heartbeat = args.heartbeat_or(DEFAULT_HEARTBEAT);
    let web = args.web()?.map(|web| WebOptions {
        port: web.port,
        any_address: web.any_address,
    });
    let settings = Settings::load(&args.settings.unwrap_or(DEFAULT_SETTINGS_FILE.into()))?;
    let listener = listen(settings.tracker()?, &settings.where_is(TRACKER_ID))?;
    let log = Log::new("tracker", args.trace)
        .naming_code(args.trace_code)
        .with_names(&settings);
    let config = TrackerConfig {
        max_connections: args.max_connections.unwrap_or(TRACKER_MAX_CONNECTIONS),
        heartbeat,
        explain: args.explain,
        ..TrackerConfig::new(settings, log)
    };
    let tracker = Arc::new(Tracker::start(listener, config)?);
    tracker.log().event(&format!(
        "listening on {} (type help for the console)",
        tracker.local_addr()
    ));
    let page = web
        .map(|options| TrackerPage::start(Arc::clone(&tracker), options))
        .transpose()?;
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    if console::run(&tracker, stdin.lock(), prompt) == ConsoleEnd::EndOfInput {
        // No console (a pipe that ended, or no terminal): serve on until killed.
        tracker
            .log()
            .event("standard input ended; serving until stopped");
        loop {
            std::thread::park();
        }
    }
    tracker.log().event("quit: closing every session");
    // The page goes first: then nobody else holds the tracker.
    drop(page);
    if let Ok(mut tracker) = Arc::try_unwrap(tracker) {
        tracker.stop();
    }
    Ok(())
}
