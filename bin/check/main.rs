//! The protocol checker:
//! `cargo run --bin check -- tracker HOST:PORT [options]` or
//! `cargo run --bin check -- peer HOST:PORT --file PATH [options]`.
//!
//! It plays the other side of the protocol against a tracker or a peer,
//! written in any language, and checks it rule by rule against the README's
//! protocol section: one line per rule, PASS or FAIL, and under each FAIL
//! the bytes that broke it. A student checks a half-written program with
//! `--stage N`; a teacher grades a class with `--summary`.
//!
//! The parts, in reading order: `probe.rs` (a raw connection with bounded,
//! time-limited reads, and the transcript), `rules/mod.rs` (what a rule is,
//! and how the rules run), `rules/tracker.rs` and `rules/peer.rs` (the
//! rules), `report.rs` (what is printed).

// Like the library: safe Rust only, also in the code that reads bytes
// from anyone.
#![forbid(unsafe_code)]

mod probe;
mod report;
mod rules;

use report::Report;
use rules::{peer, tracker};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: check tracker HOST:PORT [--stage N] [--timeout SECS] [--summary]
       check peer HOST:PORT --file PATH [--stage N] [--timeout SECS] [--summary]

Checks a file tracker or a peer, in any language, against the protocol of
this project's README, rule by rule: one line per rule, PASS or FAIL, and
under each FAIL what was sent and what came back.

  tracker HOST:PORT    check the tracker listening there
  peer HOST:PORT       check the peer listening there
  --file PATH          (peer) a local copy of one file the peer serves: its
                       name, type and size come from it, and its bytes are
                       what a DOWNLOAD must return
  --stage N            only the stages up to N (a half-written program):
                         tracker: 1 join, 2 search, 3 leave, 4 extensions
                         peer:    1 download, 2 extensions
  --timeout SECS       the longest any one probe waits for an answer
                       (default 5; fractions such as 0.5 are fine)
  --summary            print one line: the address, how many rules passed
                       and failed, and the names of the failed rules

The last line is `N passed, N failed`. The exit status is 0 when every
core rule passed (extensions may fail), 1 when one did not, 2 for a bad
command line. The tracker check joins with made-up files named chk-...;
the peer check uploads one small file chk-...-upload.txt to the peer.
";

/// The default time limit of each probe: a live program on a lab network
/// answers in milliseconds, and a student waiting for the report should not
/// wait long for a program that never answers.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `--timeout` taken: a minute per probe is already far more
/// than any program needs.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// What the command line asked for.
struct Options {
    kind: Kind,
    /// The address as the user wrote it, for the report.
    shown: String,
    addr: SocketAddr,
    file: Option<PathBuf>,
    stage: u32,
    limit: Duration,
    summary: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tracker,
    Peer,
}

/// The exit status of a bad command line (1 means "a core rule failed").
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("check: {why}\n(check --help lists the options)");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let tag = run_tag();
    let mut report = Report::new(
        format!(
            "{} at {}",
            match options.kind {
                Kind::Tracker => "tracker",
                Kind::Peer => "peer",
            },
            options.shown
        ),
        options.summary,
    );
    match options.kind {
        Kind::Tracker => {
            let target = tracker::Tracker::new(options.addr, options.limit, tag);
            report.heading(&tracker::STAGES, options.stage, options.limit);
            rules::run_all(
                &target,
                &tracker::STAGES,
                &tracker::RULES,
                options.stage,
                &mut report,
            );
        }
        Kind::Peer => {
            let path = options.file.as_deref().unwrap_or(std::path::Path::new(""));
            let file = match peer::LocalFile::read(path) {
                Ok(file) => file,
                Err(why) => {
                    eprintln!("check: {why}");
                    return ExitCode::from(USAGE_ERROR);
                }
            };
            let target = peer::Peer::new(options.addr, options.limit, file, tag);
            report.heading(&peer::STAGES, options.stage, options.limit);
            rules::run_all(
                &target,
                &peer::STAGES,
                &peer::RULES,
                options.stage,
                &mut report,
            );
        }
    }
    match report.finish() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// Reads the command line (without the program name).
fn parse(args: &[String]) -> Result<Options, String> {
    let mut words = Vec::new();
    let mut file = None;
    let mut stage = None;
    let mut limit = DEFAULT_TIMEOUT;
    let mut summary = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--file" => file = Some(PathBuf::from(value()?)),
            "--stage" => {
                let text = value()?;
                match text.parse::<u32>() {
                    Ok(n) if n >= 1 => stage = Some(n),
                    _ => {
                        return Err(format!(
                            "--stage needs a stage number (1, 2, ...), not {text:?}"
                        ))
                    }
                }
            }
            "--timeout" => {
                let text = value()?;
                limit = text
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .filter(|limit| !limit.is_zero() && *limit <= MAX_TIMEOUT)
                    .ok_or_else(|| {
                        format!(
                            "--timeout needs a number of seconds above 0 and at most {}, not {text:?}",
                            MAX_TIMEOUT.as_secs()
                        )
                    })?;
            }
            "--summary" => summary = true,
            option if option.starts_with('-') => return Err(format!("unknown option {option}")),
            word => words.push(word.to_string()),
        }
    }
    let (kind, shown) = match words.as_slice() {
        [kind, addr] => (kind, addr),
        [] | [_] => {
            return Err(
                "say what to check: tracker HOST:PORT, or peer HOST:PORT --file PATH".into(),
            )
        }
        [_, _, extra, ..] => return Err(format!("unexpected argument {extra:?}")),
    };
    let (kind, stages) = match kind.as_str() {
        "tracker" => (Kind::Tracker, tracker::STAGES.len()),
        "peer" => (Kind::Peer, peer::STAGES.len()),
        other => return Err(format!("check what? {other:?}: say tracker or peer")),
    };
    if kind == Kind::Peer && file.is_none() {
        return Err(
            "the peer check needs --file PATH: a local copy of one file the peer serves".into(),
        );
    }
    if kind == Kind::Tracker && file.is_some() {
        return Err("--file is for the peer check; the tracker check needs no file".into());
    }
    let stage = stage.unwrap_or(stages as u32);
    if stage as usize > stages {
        return Err(format!(
            "--stage {stage}: this check has stages 1 to {stages}"
        ));
    }
    Ok(Options {
        kind,
        addr: resolve(shown)?,
        shown: shown.clone(),
        file,
        stage,
        limit,
        summary,
    })
}

/// `HOST:PORT` to an address: an IP address or a host name (the first
/// address it has).
fn resolve(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?} is not HOST:PORT ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{text:?} has no address"))
}

/// A tag unique to this run, for the names of the files the checker makes
/// up: two checks at once, or one after another, never share a name.
fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!("{:04x}{:04x}", std::process::id() & 0xffff, nanos & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &str) -> Vec<String> {
        words.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_whole_command_line_is_read() {
        let options = parse(&args(
            "peer 127.0.0.1:5001 --file x.txt --stage 1 --timeout 0.5 --summary",
        ))
        .unwrap();
        assert!(options.kind == Kind::Peer && options.summary);
        assert_eq!(options.stage, 1);
        assert_eq!(options.limit, Duration::from_millis(500));
        assert_eq!(options.addr.port(), 5001);
        let options = parse(&args("tracker localhost:5000")).unwrap();
        assert_eq!(options.stage, 4, "every stage by default");
        assert_eq!(options.limit, DEFAULT_TIMEOUT);
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (line, why) in [
            ("", "say what to check"),
            ("tracker", "say what to check"),
            ("server 127.0.0.1:1", "say tracker or peer"),
            ("tracker 127.0.0.1", "not HOST:PORT"),
            ("peer 127.0.0.1:1", "needs --file"),
            ("tracker 127.0.0.1:1 --file x", "needs no file"),
            ("tracker 127.0.0.1:1 --stage 5", "stages 1 to 4"),
            ("tracker 127.0.0.1:1 --stage 0", "--stage needs"),
            ("tracker 127.0.0.1:1 --timeout 0", "--timeout needs"),
            ("tracker 127.0.0.1:1 --timeout", "needs a value"),
            ("tracker 127.0.0.1:1 --fast", "unknown option"),
            ("tracker 127.0.0.1:1 extra", "unexpected argument"),
        ] {
            let error = parse(&args(line)).err().unwrap_or_default();
            assert!(error.contains(why), "{line:?}: {error:?}");
        }
    }
}
