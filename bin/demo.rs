//! The one-command demo: `cargo run --bin demo`.
//!
//! Starts a tracker and three peers in this process, on free loopback
//! ports, and narrates a session, scene by scene, while the protocol lines
//! are shown as they arrive.

use p2p_share::demo::Options;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: demo [--step] [--slow] [--web PORT] [--pace MS]

Runs a tracker and three peers in one process, on free loopback ports, and
narrates a session, scene by scene, while the protocol lines are shown as
they arrive. It needs no files: its sample files are built into it.

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

/// The longest `--pace`: a minute per line is already far too slow to watch.
const MAX_PACE_MS: u64 = 60_000;

fn main() -> ExitCode {
    p2p_share::cli::exit_quietly_on_broken_pipe();
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!("demo: {message}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match p2p_share::demo::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The options, `None` for `--help`, or what is wrong with the arguments.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--step" => options.step = true,
            "--slow" => options.slow = true,
            "--web" => {
                let port = value(&mut args, "--web", "a port number")?;
                options.web = Some(
                    port.parse()
                        .map_err(|_| format!("--web needs a port number, not {port:?}"))?,
                );
            }
            "--pace" => {
                let ms = value(&mut args, "--pace", "milliseconds")?;
                match ms.parse::<u64>() {
                    Ok(ms) if ms <= MAX_PACE_MS => {
                        options.pace = Some(Duration::from_millis(ms));
                    }
                    _ => {
                        return Err(format!(
                            "--pace needs milliseconds from 0 to {MAX_PACE_MS}, not {ms:?}"
                        ))
                    }
                }
            }
            TEST_BREAK_DOWNLOAD => options.break_download = true,
            "--help" | "-h" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(options))
}

/// The word after `option`, which must be there.
fn value(
    args: &mut impl Iterator<Item = String>,
    option: &str,
    what: &str,
) -> Result<String, String> {
    args.next()
        .ok_or_else(|| format!("{option} needs {what} after it"))
}
