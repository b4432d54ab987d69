//! The peer's command shell: one command a line on standard input.
//!
//! Parsing ([`Command::parse`]) is pure and tested alone; [`run`] reads
//! lines, runs each command on the [`Peer`] and prints the outcome. The
//! shell works the same on a terminal and on a pipe, so
//! `printf 'download cat.jpg\n' | cargo run --bin peer -- peer2` is a script.
//! The end of the input is `quit`.

use crate::error::{Error, Result};
use crate::lock;
use crate::log;
use crate::peer::Peer;
use crate::wire::connection::STALL_TIMEOUT;
use crate::wire::protocol::{FileRecord, CHUNK_SIZE};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// Files larger than this many chunks get a progress line.
const PROGRESS_MIN_CHUNKS: u64 = 10;

/// One command of the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Search(String),
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

impl Command {
    /// Parses one line. `Ok(None)` for a blank line; `Err` says what is wrong.
    pub fn parse(line: &str) -> std::result::Result<Option<Command>, String> {
        let words = split_words(line)?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(None);
        };
        let rest = rest.to_vec();
        let usage = |text: &str| Err(format!("usage: {text}"));
        let command = match first.to_lowercase().as_str() {
            "search" if !rest.is_empty() => Command::Search(rest.join(" ")),
            "search" => return usage("search NAME"),
            // DESCARGAR is the download command of the video-sharing system.
            "download" | "descargar" => {
                let (name, holder) = match rest.split_last() {
                    Some((last, before))
                        if !before.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        (before.join(" "), last.parse().ok())
                    }
                    _ => (rest.join(" "), None),
                };
                if name.is_empty() {
                    return usage("download NAME [N]");
                }
                Command::Download { name, holder }
            }
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
            "publish" => match rest.as_slice() {
                [path] => Command::Publish {
                    path: path.into(),
                    name: None,
                },
                [path, name] => Command::Publish {
                    path: path.into(),
                    name: Some(name.clone()),
                },
                _ => return usage("publish PATH [NAME]"),
            },
            "info" | "help" | "?" | "quit" | "exit" if !rest.is_empty() => {
                return Err(format!("{first} takes no arguments (type help)"))
            }
            "info" => Command::Info,
            "ping" => match rest.as_slice() {
                [peer] => Command::Ping(peer.clone()),
                _ => return usage("ping PEER"),
            },
            "help" | "?" => Command::Help,
            "quit" | "exit" => Command::Quit,
            // The video-sharing system's registration and share list.
            "insc" => Command::Elsewhere(
                "INSC: a peer registers by joining the tracker (HELLO, HI, its records) \
                 by itself when it starts",
            ),
            "videos" => Command::Elsewhere(
                "VIDEOS: a peer sends its list of files (its records) when it joins, and \
                 again after each new file; `list` shows it",
            ),
            _ => return Err(format!("unknown command {first:?} (type help)")),
        };
        Ok(Some(command))
    }
}

/// Splits a line into words at white space; "double quotes" keep spaces.
fn split_words(line: &str) -> std::result::Result<Vec<String>, String> {
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

/// Reads commands from `input` until `quit` or its end, and runs them.
/// `prompt` is shown before each command when the input is a terminal.
/// Returns true when every command worked: a script run through a pipe
/// exits 1 otherwise, so that a shell script can tell.
pub fn run(peer: &Peer, input: impl BufRead, prompt: bool) -> bool {
    let show_prompt = || {
        if prompt {
            let text = format!("{}> ", peer.id());
            log::write_whole(log::Stream::Out, text.as_bytes());
            log::waiting_at(Some(&text));
        }
    };
    let mut all_worked = true;
    show_prompt();
    for line in input.lines() {
        log::waiting_at(None);
        let Ok(line) = line else { break };
        let worked = match Command::parse(&line) {
            Ok(None) => true,
            Ok(Some(Command::Quit)) => return all_worked,
            Ok(Some(command)) => execute(peer, command),
            Err(message) => {
                crate::say!("error: {message}");
                false
            }
        };
        all_worked &= worked;
        show_prompt();
    }
    log::waiting_at(None);
    if prompt {
        // End of input (Ctrl-D) after a prompt: end its line, so that the
        // terminal's own prompt starts on a line of its own.
        crate::say!();
    }
    all_worked
}

/// Runs one command and prints what happened; false when it failed.
pub fn execute(peer: &Peer, command: Command) -> bool {
    match try_execute(peer, command) {
        Ok(worked) => worked,
        Err(error) => {
            crate::say!("error: {error}");
            false
        }
    }
}

/// How long a command that waits on the network may be silent before the
/// shell says what it waits for.
const WAITING_NOTE_AFTER: Duration = Duration::from_secs(2);

/// Runs `work`; if it takes longer than [`WAITING_NOTE_AFTER`], says what
/// it waits for, so that a student does not take a slow network for a hung
/// program.
fn say_if_slow<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let (done, finished) = mpsc::channel::<()>();
    thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(WAITING_NOTE_AFTER) {
                log::print_line(&format!(
                    "waiting for {what} (gives up after {} s without progress)",
                    STALL_TIMEOUT.as_secs()
                ));
            }
        });
        let result = work();
        drop(done);
        result
    })
}

/// Checks that every PEER word names a peer, before anything is sent. A
/// word that does not is most often the second half of a file name with a
/// space in it: say how to write one.
fn check_peers(peer: &Peer, command: &str, name: &str, peers: &[String]) -> Result<()> {
    for word in peers {
        if peer.settings().resolve(word).is_err() {
            return Err(Error::Other(format!(
                "{word:?} is not a peer: not an id in {} nor an ip:port. If it is part of the \
                 file's name, write the name in double quotes: {command} \"{name} {word}\" ...",
                peer.settings().path.display()
            )));
        }
    }
    Ok(())
}

/// Runs one command. `Ok(false)` when it ran but failed for some of its
/// peers (each failure printed on its own line).
fn try_execute(peer: &Peer, command: Command) -> Result<bool> {
    let mut all_worked = true;
    match command {
        Command::Search(name) => {
            let holders = say_if_slow("the tracker", || peer.search(&name))?;
            if holders.is_empty() {
                crate::say!("not found: {name}");
            }
            for (number, holder) in holders.iter().enumerate() {
                let at = peer.describe(holder.addr());
                crate::say!(
                    "{}. {at}  {}, {} bytes, {}",
                    number + 1,
                    holder.file_type,
                    holder.size,
                    holder.modified
                );
            }
        }
        Command::Download { name, holder } => {
            let mut progress = Progress::new("downloading", &name);
            let done = say_if_slow("the holders of the file", || {
                peer.download(&name, holder, &mut |bytes, total| {
                    progress.show(bytes, total)
                })
            });
            progress.end();
            let done = done?;
            crate::say!(
                "downloaded {name} ({} bytes) from {} into {}",
                done.size,
                peer.describe(done.from),
                done.path.display()
            );
        }
        Command::List(peers) if peers.is_empty() => {
            let scan = peer.own_files()?;
            let announced = peer.announced();
            crate::say!(
                "{} serves {} file(s); {} announced to the tracker:",
                peer.folder().dir().display(),
                scan.files.len(),
                announced.len()
            );
            for file in &scan.files {
                let record = file.record(peer.addr());
                let mark = if announced.contains(&file.name) {
                    "announced"
                } else {
                    "served only"
                };
                crate::say!("{}  ({mark})", record_line(&record));
            }
            for (name, reason) in &scan.skipped {
                crate::say!("  (not shared: {name:?}: {reason})");
            }
        }
        Command::List(peers) => {
            let listed = say_if_slow(&peers.join(", "), || peer.list_peers(&peers));
            for (peer_name, result) in listed {
                match result {
                    Ok(records) => {
                        crate::say!("{peer_name}: serves {} file(s)", records.len());
                        print_records(&records);
                    }
                    Err(error) => {
                        crate::say!("{peer_name}: error: {error}");
                        all_worked = false;
                    }
                }
            }
        }
        Command::Upload { name, peers } => {
            check_peers(peer, "upload", &name, &peers)?;
            let progress = Mutex::new(Progress::new("uploading", &name));
            let sent = say_if_slow(&peers.join(", "), || {
                peer.upload(&name, &peers, &|bytes, total| {
                    lock(&progress).show(bytes, total)
                })
            });
            lock(&progress).end();
            let sent = sent?;
            for (peer_name, result) in sent {
                match result {
                    Ok(()) => crate::say!("{peer_name}: uploaded {name}"),
                    Err(error) => {
                        crate::say!("{peer_name}: error: {error}");
                        all_worked = false;
                    }
                }
            }
        }
        Command::Fetch { name, peers } => {
            check_peers(peer, "fetch", &name, &peers)?;
            let from = if peers.is_empty() {
                "every holder of the file".to_string()
            } else {
                peers.join(", ")
            };
            let mut progress = Progress::new("fetching", &name);
            let report = say_if_slow(&from, || {
                peer.fetch(&name, &peers, &mut |bytes, total| {
                    progress.show(bytes, total)
                })
            });
            progress.end();
            let report = report?;
            crate::say!(
                "fetched {name} ({} bytes) into {}",
                report.size,
                report.path.display()
            );
            for (from, chunks) in &report.chunks_by_peer {
                crate::say!("  {} sent {chunks} chunk(s)", peer.describe(*from));
            }
            for (from, why) in &report.failures {
                crate::say!("  {}: {why}", peer.describe(*from));
            }
        }
        Command::Publish { path, name } => {
            let published = peer.publish(&path, name.as_deref())?;
            crate::say!("published {} as {}", path.display(), published.display());
        }
        Command::Announce(names) => {
            let announced = say_if_slow("the tracker", || peer.announce(&names))?;
            if announced.is_empty() {
                crate::say!("chosen; announced at the next join (not joined now)");
            } else {
                crate::say!("announced to the tracker: {}", announced.join(", "));
            }
        }
        Command::Info => {
            let records = say_if_slow("the tracker", || peer.info())?;
            let mut by_peer: BTreeMap<SocketAddr, Vec<&str>> = BTreeMap::new();
            for record in &records {
                by_peer.entry(record.addr()).or_default().push(&record.name);
            }
            crate::say!("{} peer(s) online:", by_peer.len());
            for (addr, names) in by_peer {
                crate::say!("  {}: {}", peer.describe(addr), names.join(", "));
            }
        }
        Command::Ping(target) => {
            // A word that names no node is a typing mistake, not an
            // unreachable peer: it gets the usual `error:` line.
            peer.settings().resolve(&target)?;
            let pinged = say_if_slow(&target, || peer.ping(&target));
            match pinged {
                Ok(time) => crate::say!(
                    "PONG from {target} in {:.2} ms",
                    time.as_secs_f64() * 1000.0
                ),
                Err(error) => {
                    crate::say!("{target} is unreachable: {error}");
                    all_worked = false;
                }
            }
        }
        Command::Elsewhere(text) => crate::say!("{text}"),
        Command::Help => log::write_whole(log::Stream::Out, HELP.as_bytes()),
        Command::Quit => {}
    }
    Ok(all_worked)
}

/// One line per record, as `list` and the tracker console show them.
pub fn print_records(records: &[FileRecord]) {
    for record in records {
        crate::say!("{}", record_line(record));
    }
}

/// `  notes.txt  txt, 986 bytes, 22/11/26`
pub fn record_line(record: &FileRecord) -> String {
    record.listing_line()
}

/// A progress line, `downloading x: 10% 20% ... 100%`, printed piece by
/// piece so that it reads the same on a terminal and in a log file. (A log
/// line that comes in the middle does not split it: see
/// [`log::print_partial`].)
struct Progress {
    /// `downloading x:`, `fetching x:`, `uploading x:`.
    label: String,
    tenths_shown: u64,
}

impl Progress {
    fn new(doing: &str, name: &str) -> Progress {
        Progress {
            label: format!("{doing} {name}:"),
            tenths_shown: 0,
        }
    }

    fn show(&mut self, bytes: u64, total: u64) {
        if total <= PROGRESS_MIN_CHUNKS * CHUNK_SIZE as u64 {
            return;
        }
        let tenths = bytes.saturating_mul(10) / total;
        while self.tenths_shown < tenths {
            self.tenths_shown += 1;
            log::print_partial(&self.label, &format!(" {}%", self.tenths_shown * 10));
        }
        if self.tenths_shown == 10 {
            log::end_partial_line(); // done: end the line before anything else prints
        }
    }

    /// Ends the line (if the transfer stopped half-way, it is still open).
    fn end(&self) {
        log::end_partial_line();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            let error = Command::parse(line).unwrap_err();
            assert!(error.contains(words), "{line:?}: {error}");
        }
    }
}
