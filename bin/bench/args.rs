//! The benchmark's command line: `--size MIB`, `--peers N`,
//! `--sessions N`, `--quick` and `--help`, or one of the hidden modes in
//! which the benchmark starts copies of itself.
//!
//! Its own small parser rather than the library's `cli::parse`: these
//! options mean nothing to the tracker or the peer, so they have no place
//! in the parser those programs share. It follows the same rules, so the
//! programs feel alike: words are read left to right, the last value of an
//! option wins, `--help` wins over everything but an unknown option, and a
//! mistake is an `Error::Usage` (printed with "try --help").

use super::child_modes::is_child_mode;
use super::{
    DEFAULT_PEERS, DEFAULT_SEARCHES, DEFAULT_SESSIONS, DEFAULT_SIZE_MIB, QUICK_SEARCHES,
    QUICK_SESSIONS, QUICK_SIZE_MIB,
};
use p2p_share::error::{Error, Result};

/// The benchmark's usage text.
pub(super) const USAGE: &str = "\
usage: bench [--size MIB] [--peers N] [--sessions N] [--quick]

  --size MIB       the size of the file to transfer (default: 1024)
  --peers N        how many peers serve the file to `fetch` (default: 3)
  --sessions N     how many peers join the tracker at once, at most 65535
                   (default: 10000)
  --quick          all of it small (8 MiB, 300 sessions, 2000 searches)

Build it with --release for real figures. Linux only (it reads /proc).
";

/// What the command line asks for.
#[derive(Debug)]
pub(super) enum Command {
    /// `--help`: print [`USAGE`].
    Help,
    /// Run every measurement with these options.
    Measure(Options),
    /// A hidden mode, with its words: this program started by the
    /// benchmark as one of its child processes (see `child_modes.rs`).
    Child(Vec<String>),
}

/// What one run measures.
#[derive(Debug, Clone)]
pub(super) struct Options {
    /// The size of the generated file, in MiB.
    pub(super) size_mib: u64,
    /// How many peers serve the file to `fetch`.
    pub(super) peers: usize,
    /// How many fake peers join the tracker at once.
    pub(super) sessions: usize,
    /// How many SEARCH round trips, and as many echo round trips.
    pub(super) searches: usize,
}

/// The words as given, before the defaults fill the gaps.
#[derive(Debug, Default)]
struct Given {
    help: bool,
    quick: bool,
    size: Option<u64>,
    peers: Option<u64>,
    sessions: Option<u64>,
    /// The first word that is not an option: the benchmark takes none.
    stray_word: Option<String>,
}

/// Reads the command line (without the program name).
pub(super) fn parse(args: Vec<String>) -> Result<Command> {
    // The hidden modes are checked first: their words are not options.
    if is_child_mode(&args) {
        return Ok(Command::Child(args));
    }
    let given = read_words(args)?;
    if given.help {
        return Ok(Command::Help);
    }
    if let Some(word) = given.stray_word {
        return Err(Error::Usage(format!("unexpected argument {word:?}")));
    }
    Ok(Command::Measure(options(&given)?))
}

fn read_words(args: Vec<String>) -> Result<Given> {
    let mut given = Given::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            given.stray_word.get_or_insert(arg);
            continue;
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| Error::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--help" | "-h" => given.help = true,
            "--quick" => given.quick = true,
            "--size" => given.size = Some(number(&arg, &value()?)?),
            "--peers" => given.peers = Some(number(&arg, &value()?)?),
            "--sessions" => given.sessions = Some(number(&arg, &value()?)?),
            _ => return Err(Error::Usage(format!("unknown option {arg}"))),
        }
    }
    Ok(given)
}

/// Every option is a count or a size, so 0 is refused with the rest.
fn number(option: &str, text: &str) -> Result<u64> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::Usage(format!(
            "{option} needs a whole number above 0, not {text:?}"
        ))),
    }
}

/// The options to measure with; `--quick` changes the defaults, and an
/// explicit option still wins over it.
fn options(given: &Given) -> Result<Options> {
    let (size, sessions, searches) = if given.quick {
        (QUICK_SIZE_MIB, QUICK_SESSIONS, QUICK_SEARCHES)
    } else {
        (DEFAULT_SIZE_MIB, DEFAULT_SESSIONS, DEFAULT_SEARCHES)
    };
    let sessions = to_usize("--sessions", given.sessions.unwrap_or(sessions))?;
    // Each fake peer announces a port of its own, 1 to 65535.
    if sessions > usize::from(u16::MAX) {
        return Err(Error::Usage(format!(
            "--sessions is at most {} (one port number per peer)",
            u16::MAX
        )));
    }
    Ok(Options {
        size_mib: given.size.unwrap_or(size),
        peers: to_usize("--peers", given.peers.unwrap_or(DEFAULT_PEERS))?,
        sessions,
        searches,
    })
}

fn to_usize(option: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| Error::Usage(format!("{option} {n} is too large")))
}

#[cfg(test)]
mod tests {
    use super::{parse, Command, Options};
    use crate::{DEFAULT_PEERS, QUICK_SEARCHES, QUICK_SIZE_MIB};
    use p2p_share::error::Result;

    fn parse_words(words: &[&str]) -> Result<Command> {
        parse(words.iter().map(|w| w.to_string()).collect())
    }

    fn measure(words: &[&str]) -> Result<Options> {
        match parse_words(words)? {
            Command::Measure(options) => Ok(options),
            other => panic!("{words:?} read as {other:?}"),
        }
    }

    #[test]
    fn quick_changes_the_defaults_and_options_win() {
        let quick = measure(&["--quick", "--sessions", "20"]).unwrap();
        assert_eq!(
            (quick.size_mib, quick.sessions, quick.searches),
            (QUICK_SIZE_MIB, 20, QUICK_SEARCHES)
        );
        assert!(measure(&["--sessions", "70000"]).is_err());
    }

    #[test]
    fn a_given_size_wins_and_an_absent_option_keeps_its_default() {
        let options = measure(&["--size", "5"]).unwrap();
        assert_eq!(options.size_mib, 5);
        assert_eq!(options.peers, DEFAULT_PEERS as usize);
    }

    #[test]
    fn refuses_bad_numbers_unknown_options_and_stray_words() {
        assert!(parse_words(&["--size", "x"]).is_err());
        assert!(parse_words(&["--size", "0"]).is_err());
        assert!(parse_words(&["--size"])
            .unwrap_err()
            .to_string()
            .contains("needs a value"));
        assert!(parse_words(&["--frobnicate"])
            .unwrap_err()
            .to_string()
            .contains("--frobnicate"));
        assert!(parse_words(&["extra"]).is_err());
        assert!(matches!(
            parse_words(&["extra", "--help"]),
            Ok(Command::Help)
        ));
    }

    #[test]
    fn the_hidden_modes_are_not_read_as_options() {
        assert!(matches!(
            parse_words(&["--as-tracker"]),
            Ok(Command::Child(words)) if words == ["--as-tracker"]
        ));
    }
}
