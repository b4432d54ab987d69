//! The shell's commands as words: [`Command::parse`] turns a line into a
//! [`Command`], with no I/O, so every rule of it is tested alone.

use crate::cli::did_you_mean;
use std::path::PathBuf;

/// One command of the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Search(String),
    /// `find WORD ...`: the tracker's FIND.
    Find(Vec<String>),
    /// `hash NAME`: our own file's SHA-256, as `sha256sum` prints it.
    Hash(String),
    /// `clean`: remove the partial downloads kept for resuming.
    Clean,
    Download {
        name: String,
        holder: Option<usize>,
    },
    List(Vec<String>),
    Upload {
        name: String,
        peers: Vec<String>,
    },
    Fetch {
        name: String,
        peers: Vec<String>,
    },
    Publish {
        path: PathBuf,
        name: Option<String>,
    },
    Announce(Vec<String>),
    Info,
    Ping(String),
    /// A command of another system that this one does differently: what
    /// to say instead.
    Elsewhere(&'static str),
    Help,
    Quit,
}

/// What `help` prints.
pub const HELP: &str = "\
commands (a name with spaces may be written in double quotes):
  search NAME              who shares NAME? (SEARCH to the tracker)
  find WORD ...            announced files whose names hold every word, any case (FIND)
  hash NAME                the SHA-256 of one of our files, as sha256sum prints it
  clean                    remove the partial downloads kept to resume them
  download NAME [N]        download NAME from holder N (default: the first other peer)  alias: DESCARGAR
  list                     this peer's files, and which are announced to the tracker
  list PEER ...            the files of other peers (LIST), in parallel      alias: #FILELIST
  upload FILE PEER ...     send one of our files to peers (UPLOAD)            alias: #UPLOAD
  fetch FILE [PEER ...]    download FILE from several peers at once (default:
                           every holder)                                      alias: #DOWNLOAD
  publish PATH [NAME]      copy a local file into the served folder and announce it
  announce NAME ...        announce these files first (5 at most); the others fill the five
  info                     who is online and what they share (LIST to the tracker)  alias: INFO
  ping PEER                PING a peer (or the tracker) and time the PONG
  help                     this text                                          alias: ?
  quit                     BYE to the tracker, and exit (also: end of input)  alias: exit
PEER is an id from the settings file (peer2) or an address (127.0.0.1:5002).
Joining (INSC) and the share list (VIDEOS) happen by themselves: see `list`.
";

/// What a line that is not a command gets: the reason, in words.
type Refusal = String;

impl Command {
    /// Parses one line. `Ok(None)` for a blank line; `Err` says what is wrong.
    pub fn parse(line: &str) -> Result<Option<Command>, Refusal> {
        let words = split_words(line)?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(None);
        };
        Command::from_words(first, rest.to_vec()).map(Some)
    }

    /// The command named by `first`, with its arguments `rest`.
    fn from_words(first: &str, rest: Vec<String>) -> Result<Command, Refusal> {
        let usage = |text: &str| Err(format!("usage: {text}"));
        let command = match first.to_lowercase().as_str() {
            "search" if !rest.is_empty() => Command::Search(rest.join(" ")),
            "search" => return usage("search NAME"),
            "find" if !rest.is_empty() => Command::Find(rest),
            "find" => return usage("find WORD ..."),
            "hash" if !rest.is_empty() => Command::Hash(rest.join(" ")),
            "hash" => return usage("hash NAME"),
            // DESCARGAR is the download command of the video-sharing system.
            "download" | "descargar" => download(rest)?,
            "list" | "#filelist" => Command::List(rest),
            "upload" | "#upload" if rest.len() >= 2 => Command::Upload {
                name: rest[0].clone(),
                peers: rest[1..].to_vec(),
            },
            "upload" | "#upload" => return usage("upload FILE PEER ..."),
            "fetch" | "#download" => match rest.split_first() {
                Some((name, peers)) => Command::Fetch {
                    name: name.clone(),
                    peers: peers.to_vec(),
                },
                None => return usage("fetch FILE [PEER ...]"),
            },
            "announce" if !rest.is_empty() => Command::Announce(rest),
            "announce" => return usage("announce NAME ... (up to 5 shared files)"),
            "publish" => publish(&rest)?,
            "info" | "clean" | "help" | "?" | "quit" | "exit" if !rest.is_empty() => {
                return Err(format!("{first} takes no arguments (type help)"))
            }
            "info" => Command::Info,
            "clean" => Command::Clean,
            "ping" => match rest.as_slice() {
                [peer] => Command::Ping(peer.clone()),
                _ => return usage("ping PEER"),
            },
            "help" | "?" => Command::Help,
            "quit" | "exit" => Command::Quit,
            other => return elsewhere(other).ok_or_else(|| unknown(first)),
        };
        Ok(command)
    }
}

/// `download NAME [N]`: a last word of digits is the holder's number.
fn download(rest: Vec<String>) -> Result<Command, Refusal> {
    let (name, holder) = match rest.split_last() {
        Some((last, before)) if !before.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => {
            (before.join(" "), last.parse().ok())
        }
        _ => (rest.join(" "), None),
    };
    if name.is_empty() {
        return Err("usage: download NAME [N]".into());
    }
    Ok(Command::Download { name, holder })
}

/// `publish PATH [NAME]`.
fn publish(rest: &[String]) -> Result<Command, Refusal> {
    match rest {
        [path] => Ok(Command::Publish {
            path: path.into(),
            name: None,
        }),
        [path, name] => Ok(Command::Publish {
            path: path.into(),
            name: Some(name.clone()),
        }),
        _ => Err("usage: publish PATH [NAME]".into()),
    }
}

/// The commands of the video-sharing system that this one does by itself:
/// its registration and its share list.
fn elsewhere(word: &str) -> Option<Command> {
    let text = match word {
        "insc" => {
            "INSC: a peer registers by joining the tracker (HELLO, HI, its records) \
             by itself when it starts"
        }
        "videos" => {
            "VIDEOS: a peer sends its list of files (its records) when it joins, and \
             again after each new file; `list` shows it"
        }
        _ => return None,
    };
    Some(Command::Elsewhere(text))
}

/// The shell's command words, for a hint when one is mistyped. `clean` is
/// not among them: it removes the partial downloads kept for resuming, and
/// `clear` (a terminal's habit) is one letter from it. A command that
/// throws work away is never suggested.
const COMMAND_WORDS: [&str; 14] = [
    "search", "find", "hash", "download", "list", "upload", "fetch", "publish", "announce", "info",
    "ping", "help", "quit", "exit",
];

fn unknown(word: &str) -> Refusal {
    match did_you_mean(word, &COMMAND_WORDS) {
        Some(close) => format!("unknown command {word:?}: did you mean {close}? (type help)"),
        None => format!("unknown command {word:?} (type help)"),
    }
}

/// Splits a line into words at white space; "double quotes" keep spaces.
fn split_words(line: &str) -> Result<Vec<String>, Refusal> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("a double quote is not closed".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::{Command, COMMAND_WORDS};
    use crate::cli::did_you_mean;

    fn parse(line: &str) -> Command {
        Command::parse(line).unwrap().unwrap()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            parse("search notes.txt"),
            Command::Search("notes.txt".into())
        );
        assert_eq!(
            parse("search my notes.txt"),
            Command::Search("my notes.txt".into())
        );
        assert_eq!(
            parse("download a.txt"),
            Command::Download {
                name: "a.txt".into(),
                holder: None
            }
        );
        assert_eq!(
            parse("download a.txt 2"),
            Command::Download {
                name: "a.txt".into(),
                holder: Some(2)
            }
        );
        assert_eq!(
            parse("download 2"),
            Command::Download {
                name: "2".into(),
                holder: None
            }
        );
        assert_eq!(
            parse("download \"my notes.txt\" 1"),
            Command::Download {
                name: "my notes.txt".into(),
                holder: Some(1)
            }
        );
        assert_eq!(parse("list"), Command::List(vec![]));
        assert_eq!(
            parse("#FILELIST peer1 peer2"),
            Command::List(vec!["peer1".into(), "peer2".into()])
        );
        assert_eq!(
            parse("upload a.txt peer2"),
            Command::Upload {
                name: "a.txt".into(),
                peers: vec!["peer2".into()]
            }
        );
        assert_eq!(
            parse("#DOWNLOAD a.txt p1 p2"),
            Command::Fetch {
                name: "a.txt".into(),
                peers: vec!["p1".into(), "p2".into()]
            }
        );
        assert_eq!(
            parse("publish /tmp/x.txt"),
            Command::Publish {
                path: "/tmp/x.txt".into(),
                name: None
            }
        );
        assert_eq!(
            parse("publish /tmp/x.txt y.txt"),
            Command::Publish {
                path: "/tmp/x.txt".into(),
                name: Some("y.txt".into())
            }
        );
        assert_eq!(parse("INFO"), Command::Info);
        assert_eq!(parse("ping peer3"), Command::Ping("peer3".into()));
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse("  quit  "), Command::Quit);
        assert_eq!(Command::parse("   ").unwrap(), None);
    }

    #[test]
    fn bad_commands_say_how_to_fix_them() {
        for (line, words) in [
            ("search", "usage: search"),
            ("download", "usage: download"),
            ("upload a.txt", "usage: upload"),
            ("fetch", "usage: fetch"),
            ("announce", "usage: announce"),
            ("info extra", "info takes no arguments"),
            ("quit now", "quit takes no arguments"),
            ("publish", "usage: publish"),
            ("ping", "usage: ping"),
            ("dance", "unknown command"),
            ("search \"open", "quote"),
            (
                "serch notes.txt",
                "unknown command \"serch\": did you mean search?",
            ),
            ("DOWNLAOD a.txt", "did you mean download?"),
        ] {
            let error = Command::parse(line).unwrap_err();
            assert!(error.contains(words), "{line:?}: {error}");
        }
    }

    #[test]
    fn a_typo_is_told_the_nearest_command_and_a_new_word_is_not() {
        for (typed, meant) in [
            ("serch", Some("search")),
            ("Seach", Some("search")),
            ("lsit", Some("list")),
            ("downlod", Some("download")),
            ("pnig", Some("ping")),
            ("quti", Some("quit")),
            ("dance", None),
            ("ls", None),
            ("x", None),
            ("get", None),
            ("clear", None),
        ] {
            assert_eq!(did_you_mean(typed, &COMMAND_WORDS), meant, "{typed}");
        }
        let error = Command::parse("dance").unwrap_err();
        assert!(!error.contains("did you mean"), "{error}");
    }
}
