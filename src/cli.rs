//! Command-line arguments, shared by the binaries.
//!
//! std has no argument parser, and ours needs little: a few positional
//! words, a few `--flag VALUE` options and a few `--switch`es.

use crate::error::{Error, Result};
use crate::tracker::liveness::DEFAULT_HEARTBEAT;
use crate::web::WebOptions;
use std::path::PathBuf;
use std::process::ExitCode;

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
    pub serve: bool,
    /// `--web PORT`: serve the web page on this port.
    pub web: Option<u16>,
    /// `--web-any`: serve the web page on every address, not loopback only.
    pub web_any: bool,
    pub help: bool,
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
    /// The `--heartbeat` interval, 30 s by default; `None` when it is 0
    /// (liveness checks off).
    pub fn heartbeat(&self) -> Option<std::time::Duration> {
        match self.heartbeat {
            None => Some(DEFAULT_HEARTBEAT),
            Some(0) => None,
            Some(secs) => Some(std::time::Duration::from_secs(secs)),
        }
    }

    /// Where to serve the web page, if `--web PORT` was given; an error
    /// for `--web-any` without `--web`.
    pub fn web_options(&self) -> Result<Option<WebOptions>> {
        match (self.web, self.web_any) {
            (Some(port), any_address) => Ok(Some(WebOptions { port, any_address })),
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

/// Ends the program quietly, with status 0, when whoever reads its
/// standard output has gone (`peer peer2 < script | head -1`).
///
/// Why this is needed: a C program in that spot is killed by the SIGPIPE
/// signal, silently. A Rust program ignores that signal, so `println!`
/// gets the "broken pipe" error instead, and panics with a backtrace the
/// user did not ask for. std has no other way to say "stop quietly", so a
/// panic hook does: a panic that is exactly this one ends the process;
/// every other panic is reported as usual.
pub fn exit_quietly_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to std") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// How every binary ends: 0 on success, else the error on one line of
/// standard error, named after the program, and exit status 1.
pub fn exit_code(program: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parsed.trace && !parsed.serve);
        assert_eq!(parsed.dir, Some("d".into()));
        assert_eq!(parsed.settings, Some("s.txt".into()));
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
        let web = |words: &[&str]| parse(args(words), &accepted).unwrap().web_options();
        assert_eq!(web(&[]).unwrap(), None);
        assert_eq!(
            web(&["--web", "8080"]).unwrap(),
            Some(WebOptions {
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
}
