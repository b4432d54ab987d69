//! Command-line arguments, the one parser of the tracker, peer and demo
//! binaries, and how they end; and [`did_you_mean`], the hint both shells
//! give for a mistyped command.
//!
//! std has no argument parser, and ours needs little: a few positional
//! words, a few `--flag VALUE` options and a few `--switch`es. It knows
//! only words and numbers: what they mean (a default heartbeat, the web
//! page's options) is for each binary to say, so this module stands below
//! the tracker, the peer and the web page, and imports none of them.

use crate::error::{Error, Result};
use crate::log::{write_whole, Stream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The longest `--pace`: a minute per line is already far too slow to watch.
pub const MAX_PACE_MS: u64 = 60_000;

/// The options any binary may take; each binary says which it accepts.
#[derive(Debug, Default)]
pub struct Args {
    pub positional: Vec<String>,
    pub settings: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub max_connections: Option<usize>,
    /// `--heartbeat SECS`: 0 turns the liveness checks off.
    pub heartbeat: Option<u64>,
    /// `--explain`: the tracker tells a refused peer why.
    pub explain: bool,
    pub trace: bool,
    /// `--trace=code`: the trace names, after each line, the function and
    /// the `file:line` of ours that sent or handled it.
    pub trace_code: bool,
    pub serve: bool,
    /// `--web PORT`: serve the web page on this port.
    pub web: Option<u16>,
    /// `--web-any`: serve the web page on every address, not loopback only.
    pub web_any: bool,
    /// `--step` (demo): wait for the Enter key before each scene.
    pub step: bool,
    /// `--slow` (demo): pause between scenes, and send files slowly.
    pub slow: bool,
    /// `--pace MS` (demo): the pause after each protocol line shown.
    pub pace: Option<Duration>,
    /// `--test-break-download` (demo, for its tests only).
    pub break_download: bool,
    pub help: bool,
}

/// `--web PORT [--web-any]`: where to serve a web page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebArgs {
    pub port: u16,
    /// Every address, not loopback only.
    pub any_address: bool,
}

/// Parses `args` (without the program name). `accepted` lists the options
/// this binary takes, e.g. `["--settings", "--trace"]`.
pub fn parse(args: impl IntoIterator<Item = String>, accepted: &[&str]) -> Result<Args> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            parsed.positional.push(arg);
            continue;
        }
        if arg == "--help" || arg == "-h" {
            parsed.help = true;
            continue;
        }
        if let Some(what) = arg.strip_prefix("--trace=") {
            if !accepted.contains(&"--trace") || what != "code" {
                return Err(Error::Usage(format!(
                    "unknown option {arg} (the trace takes --trace or --trace=code)"
                )));
            }
            parsed.trace = true;
            parsed.trace_code = true;
            continue;
        }
        if !accepted.contains(&arg.as_str()) {
            return Err(Error::Usage(format!("unknown option {arg}")));
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| Error::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--settings" => parsed.settings = Some(value()?.into()),
            "--dir" => parsed.dir = Some(value()?.into()),
            "--max-connections" => parsed.max_connections = Some(number(&arg, &value()?)? as usize),
            "--heartbeat" => parsed.heartbeat = Some(whole_number(&arg, &value()?)?),
            "--explain" => parsed.explain = true,
            "--trace" => parsed.trace = true,
            "--serve" => parsed.serve = true,
            "--web" => parsed.web = Some(port(&arg, &value()?)?),
            "--web-any" => parsed.web_any = true,
            "--step" => parsed.step = true,
            "--slow" => parsed.slow = true,
            "--pace" => parsed.pace = Some(pace(&arg, &value()?)?),
            "--test-break-download" => parsed.break_download = true,
            // A binary that lists an option this parser does not know gets
            // it refused like any other unknown option.
            _ => return Err(Error::Usage(format!("unknown option {arg}"))),
        }
    }
    Ok(parsed)
}

/// A TCP port to listen on, 1 to 65535.
fn port(option: &str, text: &str) -> Result<u16> {
    match text.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::Usage(format!(
            "{option} needs a port number from 1 to 65535, not {text:?}"
        ))),
    }
}

/// Milliseconds from 0 to [`MAX_PACE_MS`].
fn pace(option: &str, text: &str) -> Result<Duration> {
    match text.parse::<u64>() {
        Ok(ms) if ms <= MAX_PACE_MS => Ok(Duration::from_millis(ms)),
        _ => Err(Error::Usage(format!(
            "{option} needs milliseconds from 0 to {MAX_PACE_MS}, not {text:?}"
        ))),
    }
}

/// A whole number above 0.
fn number(option: &str, text: &str) -> Result<u64> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::Usage(format!(
            "{option} needs a whole number above 0, not {text:?}"
        ))),
    }
}

/// A number of seconds that may be 0 (which turns something off), up to a
/// day: anything longer is surely a typing mistake.
fn whole_number(option: &str, text: &str) -> Result<u64> {
    const MAX: u64 = 24 * 60 * 60;
    match text.parse::<u64>() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(Error::Usage(format!(
            "{option} needs a whole number of seconds from 0 to {MAX}, not {text:?}"
        ))),
    }
}

impl Args {
    /// The `--heartbeat` interval, `default` when not given; `None` when
    /// it is 0 (liveness checks off).
    pub fn heartbeat_or(&self, default: Duration) -> Option<Duration> {
        match self.heartbeat {
            None => Some(default),
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        }
    }

    /// Where to serve the web page, if `--web PORT` was given; an error
    /// for `--web-any` without `--web`.
    pub fn web(&self) -> Result<Option<WebArgs>> {
        match (self.web, self.web_any) {
            (Some(port), any_address) => Ok(Some(WebArgs { port, any_address })),
            (None, true) => Err(Error::Usage(
                "--web-any goes with --web PORT (the port to serve the page on)".into(),
            )),
            (None, false) => Ok(None),
        }
    }

    /// An error if any word was given that is not an option, for programs
    /// that take none.
    pub fn no_positional(&self) -> Result<()> {
        match self.positional.first() {
            Some(extra) => Err(Error::Usage(format!("unexpected argument {extra:?}"))),
            None => Ok(()),
        }
    }
}

/// Prints a usage text on standard output (for `--help`).
pub fn print_usage(usage: &str) {
    write_whole(Stream::Out, usage.as_bytes());
}

/// The command line of a binary, parsed with [`parse`]: `None` when it
/// asked for `--help`, which has then been printed (`usage`).
pub fn args_or_help(accepted: &[&str], usage: &str) -> Result<Option<Args>> {
    let args = parse(std::env::args().skip(1), accepted)?;
    if args.help {
        print_usage(usage);
        return Ok(None);
    }
    Ok(Some(args))
}

/// How every binary ends: 0 on success, else the error on one line of
/// standard error, named after the program, and exit status 1.
pub fn exit_code(program: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            write_whole(Stream::Err, format!("{program}: {error}\n").as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// A mistyped word is at most this many edits from what was meant; more,
/// and the "nearest" command is a guess that would mislead.
const MAX_TYPO_EDITS: usize = 2;

/// The word of `known` that `typed` is most likely a typo of: the nearest
/// by edit distance (any case), if it is at most two edits
/// away and fewer than half the typed letters. On a tie, the first in
/// `known`. The peer's shell and the tracker's console use it.
pub fn did_you_mean<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    let allowed = MAX_TYPO_EDITS.min(typed.chars().count().saturating_sub(1) / 2);
    let (nearest, edits) = known
        .iter()
        .map(|word| (*word, edit_distance(&typed, word)))
        .min_by_key(|(_, edits)| *edits)?;
    (edits <= allowed).then_some(nearest)
}

/// How many one-letter edits turn `a` into `b`: a letter added, removed,
/// changed, or two neighbours swapped (the commonest slip of a typist).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: the distance between the first i letters of a and the
    // first j of b. Words are short, so the whole table is cheap.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, parse, WebArgs, MAX_PACE_MS};
    use std::time::Duration;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_flags_and_words() {
        let accepted = ["--settings", "--dir", "--trace"];
        let parsed = parse(
            args(&["peer1", "--trace", "--dir", "d", "--settings", "s.txt"]),
            &accepted,
        )
        .unwrap();
        assert_eq!(parsed.positional, ["peer1"]);
        assert!(parsed.trace && !parsed.trace_code && !parsed.serve);
        assert_eq!(parsed.dir, Some("d".into()));
        assert_eq!(parsed.settings, Some("s.txt".into()));
        let parsed = parse(args(&["--trace=code"]), &accepted).unwrap();
        assert!(parsed.trace && parsed.trace_code);
        assert!(parse(args(&["--trace=all"]), &accepted).is_err());
        assert!(parse(args(&["--trace=code"]), &["--dir"]).is_err());
    }

    #[test]
    fn refuses_unknown_and_incomplete_options() {
        assert!(parse(args(&["--frobnicate"]), &["--trace"])
            .unwrap_err()
            .to_string()
            .contains("--frobnicate"));
        assert!(parse(args(&["--dir"]), &["--dir"])
            .unwrap_err()
            .to_string()
            .contains("needs a value"));
        assert!(parse(args(&["--max-connections", "x"]), &["--max-connections"]).is_err());
        assert!(parse(args(&["--help"]), &[]).unwrap().help);
        assert!(parse(args(&["--web", "0"]), &["--web"]).is_err());
        assert!(parse(args(&["--web", "70000"]), &["--web"]).is_err());
    }

    #[test]
    fn web_options() {
        let accepted = ["--web", "--web-any"];
        let web = |words: &[&str]| parse(args(words), &accepted).unwrap().web();
        assert_eq!(web(&[]).unwrap(), None);
        assert_eq!(
            web(&["--web", "8080"]).unwrap(),
            Some(WebArgs {
                port: 8080,
                any_address: false
            })
        );
        assert!(
            web(&["--web", "8080", "--web-any"])
                .unwrap()
                .unwrap()
                .any_address
        );
        assert!(web(&["--web-any"])
            .unwrap_err()
            .to_string()
            .contains("--web PORT"));
    }

    #[test]
    fn the_demos_options() {
        let accepted = ["--step", "--slow", "--pace", "--web"];
        let parsed = parse(args(&["--step", "--pace", "250"]), &accepted).unwrap();
        assert!(parsed.step && !parsed.slow);
        assert_eq!(parsed.pace, Some(Duration::from_millis(250)));
        let too_slow = (MAX_PACE_MS + 1).to_string();
        assert!(parse(args(&["--pace", &too_slow]), &accepted).is_err());
        assert!(parse(args(&["--pace", "-1"]), &accepted).is_err());
    }

    #[test]
    fn edits_count_letters_added_removed_changed_and_swapped() {
        assert_eq!(edit_distance("serch", "search"), 1);
        assert_eq!(edit_distance("lsit", "list"), 1, "a swap is one edit");
        assert_eq!(edit_distance("", "ping"), 4);
    }
}
