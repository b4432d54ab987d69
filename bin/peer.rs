//! A peer:
//! `cargo run --bin peer -- ID [--settings FILE] [--dir DIR] [--serve] [--trace | --trace=code] [--heartbeat SECS] [--max-connections N] [--web PORT [--web-any]]`.
//!
//! Serves the files in its folder to other peers, joins the tracker, and
//! reads commands on standard input (`help`).

use p2p_share::log::Log;
use p2p_share::peer::server::PEER_MAX_CONNECTIONS;
use p2p_share::peer::shell;
use p2p_share::peer::{Peer, PeerConfig};
use p2p_share::settings::{Settings, DEFAULT_SETTINGS_FILE};
use p2p_share::tracker::liveness::DEFAULT_HEARTBEAT;
use p2p_share::web::peer_page::PeerPage;
use p2p_share::web::WebOptions;
use p2p_share::{cli, say, Error, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
usage: peer ID [--settings FILE] [--dir DIR] [--serve] [--trace | --trace=code] [--heartbeat SECS] [--max-connections N] [--web PORT [--web-any]]

  ID                     this peer's id in the settings file (peer1, peer2, ...)
  --settings FILE        the peer settings file (default: peer_settings.txt)
  --dir DIR              the folder to serve (default: served_files/ID)
  --serve                no command shell: serve and stay joined until killed
  --trace                print every protocol line sent and received
  --trace=code           the same, each line followed by the function and
                         file:line of ours that sent or handled it
  --heartbeat SECS       PING the tracker after SECS idle; no answer to
                         anything for 3 x SECS means it is lost: rejoin
                         (default: 30; 0: no PING, for a tracker that only
                         speaks the core protocol)
  --max-connections N    most connections served at once (default: 128)
  --web PORT             also serve this peer's window as a web page on
                         http://127.0.0.1:PORT/ (this machine only; open
                         the address it prints, with its secret token)
  --web-any              serve the web page on every address: anybody who
                         can reach PORT and learns the token can then act
                         as this peer (a trusted lab network only)

Type `help` at the prompt for the shell's commands.
";

fn main() -> ExitCode {
    cli::exit_code("peer", run())
}

/// The options the peer takes.
const ACCEPTED: [&str; 8] = [
    "--settings",
    "--dir",
    "--serve",
    "--trace",
    "--heartbeat",
    "--max-connections",
    "--web",
    "--web-any",
];

fn run() -> Result<()> {
    let Some(args) = cli::args_or_help(&ACCEPTED, USAGE)? else {
        return Ok(());
    };
    let id = match args.positional.as_slice() {
        [id] => id.clone(),
        [] => return Err(Error::Usage("missing the peer ID (e.g. peer1)".into())),
        [_, extra, ..] => return Err(Error::Usage(format!("unexpected argument {extra:?}"))),
    };
    let heartbeat = args.heartbeat_or(DEFAULT_HEARTBEAT);
    let web = args.web()?.map(|web| WebOptions {
        port: web.port,
        any_address: web.any_address,
    });
    let settings = Settings::load(&args.settings.unwrap_or(DEFAULT_SETTINGS_FILE.into()))?;
    let config = PeerConfig {
        dir: args
            .dir
            .unwrap_or_else(|| Path::new("served_files").join(&id)),
        max_connections: args.max_connections.unwrap_or(PEER_MAX_CONNECTIONS),
        heartbeat,
        log: Log::new(&id, args.trace)
            .naming_code(args.trace_code)
            .with_names(&settings),
        settings,
        id,
    };
    let peer = Arc::new(Peer::start(config)?);
    let page = web
        .map(|options| PeerPage::start(Arc::clone(&peer), options))
        .transpose()?;
    if args.serve {
        loop {
            std::thread::park();
        }
    }
    let script_failed = run_shell(&peer);
    // The page goes first: then, unless a transfer it started still runs,
    // nobody else holds the peer.
    drop(page);
    match Arc::try_unwrap(peer) {
        Ok(peer) => peer.quit(),
        Err(peer) => peer.leave(),
    }
    if script_failed {
        return Err(Error::Other(
            "a command of the script failed (its `error:` line is with the results)".into(),
        ));
    }
    Ok(())
}

/// Runs the command shell on standard input. Says whether it ran a script
/// (commands on a pipe) in which a command failed.
fn run_shell(peer: &Peer) -> bool {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        say!("type help for the commands");
    }
    let all_worked = shell::run(peer, stdin.lock(), interactive);
    !all_worked && !interactive
}
