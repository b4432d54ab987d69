//! The peer's command shell: one command a line on standard input.
//!
//! Parsing ([`Command::parse`]) is pure and tested alone; [`run`] reads
//! lines, runs each command on the [`Peer`] and prints the outcome. The
//! shell works the same on a terminal and on a pipe, so
//! `printf 'download cat.jpg\n' | cargo run --bin peer -- peer2` is a script.
//! The end of the input is `quit`.

use crate::error::Result;
use crate::log;
use crate::peer::Peer;
use crate::protocol::{FileRecord, CHUNK_SIZE};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Files larger than this many chunks get a progress line.
const PROGRESS_MIN_CHUNKS: u64 = 10;

/// One command of the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Search(String),
    Download { name: String, holder: Option<usize> },
    List(Vec<String>),
    Upload { name: String, peers: Vec<String> },
    Fetch { name: String, peers: Vec<String> },
    Publish { path: PathBuf, name: Option<String> },
    Info,
    Ping(String),
    Help,
    Quit,
}

/// What `help` prints.
pub const HELP: &str = "\
commands (a name with spaces may be written in double quotes):
  search NAME              who shares NAME? (SEARCH to the tracker)
  download NAME [N]        download NAME from holder N of the search (default: the first other peer)
  list                     this peer's shared files
  list PEER ...            the files of other peers (LIST), in parallel      alias: #FILELIST
  upload FILE PEER ...     send one of our files to peers (UPLOAD)            alias: #UPLOAD
  fetch FILE PEER ...      download FILE from several peers at once          alias: #DOWNLOAD
  publish PATH [NAME]      copy a local file into the served folder and announce it
  info                     who is online and what they share (LIST to the tracker)
  ping PEER                PING a peer and time the PONG
  help                     this text
  quit                     BYE to the tracker, and exit (also: end of input)
PEER is an id from the settings file (peer2) or an address (127.0.0.1:5002).
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
            // DESCARGAR is the video-sharing seed's download.
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
            "fetch" | "#download" if rest.len() >= 2 => Command::Fetch {
                name: rest[0].clone(),
                peers: rest[1..].to_vec(),
            },
            "fetch" | "#download" => return usage("fetch FILE PEER ..."),
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
            "info" if rest.is_empty() => Command::Info,
            "ping" => match rest.as_slice() {
                [peer] => Command::Ping(peer.clone()),
                _ => return usage("ping PEER"),
            },
            "help" | "?" => Command::Help,
            "quit" | "exit" => Command::Quit,
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
pub fn run(peer: &Peer, input: impl BufRead, prompt: bool) {
    let show_prompt = || {
        if prompt {
            print!("{}> ", peer.id());
            let _ = io::stdout().flush();
        }
    };
    show_prompt();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match Command::parse(&line) {
            Ok(None) => {}
            Ok(Some(Command::Quit)) => return,
            Ok(Some(command)) => execute(peer, command),
            Err(message) => println!("error: {message}"),
        }
        show_prompt();
    }
}

/// Runs one command and prints what happened.
pub fn execute(peer: &Peer, command: Command) {
    if let Err(error) = try_execute(peer, command) {
        println!("error: {error}");
    }
}

fn try_execute(peer: &Peer, command: Command) -> Result<()> {
    match command {
        Command::Search(name) => {
            let holders = peer.search(&name)?;
            if holders.is_empty() {
                println!("not found: {name}");
            }
            for (number, holder) in holders.iter().enumerate() {
                let at = peer.describe(holder.addr());
                println!(
                    "{}. {at}  {}, {} bytes, {}",
                    number + 1,
                    holder.kind,
                    holder.size,
                    holder.modified
                );
            }
        }
        Command::Download { name, holder } => {
            let mut progress = Progress::new("downloading", &name);
            let done = peer.download(&name, holder, &mut |bytes, total| {
                progress.show(bytes, total)
            });
            progress.end();
            let done = done?;
            println!(
                "downloaded {name} ({} bytes) from {} into {}",
                done.size,
                peer.describe(done.from),
                done.path.display()
            );
        }
        Command::List(peers) if peers.is_empty() => {
            let scan = peer.own_files()?;
            println!(
                "{} shares {} file(s):",
                peer.folder().dir().display(),
                scan.files.len()
            );
            let records: Vec<FileRecord> = scan
                .files
                .iter()
                .map(|file| file.record(peer.addr()))
                .collect();
            print_records(&records);
            for (name, reason) in &scan.skipped {
                println!("  (not shared: {name:?}: {reason})");
            }
        }
        Command::List(peers) => {
            for (peer_name, result) in peer.list_peers(&peers) {
                match result {
                    Ok(records) => {
                        println!("{peer_name}: {} file(s)", records.len());
                        print_records(&records);
                    }
                    Err(error) => println!("{peer_name}: error: {error}"),
                }
            }
        }
        Command::Upload { name, peers } => {
            for (peer_name, result) in peer.upload(&name, &peers)? {
                match result {
                    Ok(()) => println!("{peer_name}: uploaded {name}"),
                    Err(error) => println!("{peer_name}: error: {error}"),
                }
            }
        }
        Command::Fetch { name, peers } => {
            let report = peer.fetch(&name, &peers)?;
            println!(
                "fetched {name} ({} bytes) into {}",
                report.size,
                report.path.display()
            );
            for (from, chunks) in &report.chunks_by_peer {
                println!("  {} sent {chunks} chunk(s)", peer.describe(*from));
            }
            for (from, why) in &report.failures {
                println!("  {}: {why}", peer.describe(*from));
            }
        }
        Command::Publish { path, name } => {
            let published = peer.publish(&path, name.as_deref())?;
            println!("published {} as {}", path.display(), published.display());
        }
        Command::Info => {
            let records = peer.info()?;
            let mut by_peer: BTreeMap<SocketAddr, Vec<&str>> = BTreeMap::new();
            for record in &records {
                by_peer.entry(record.addr()).or_default().push(&record.name);
            }
            println!("{} peer(s) online:", by_peer.len());
            for (addr, names) in by_peer {
                println!("  {}: {}", peer.describe(addr), names.join(", "));
            }
        }
        Command::Ping(target) => match peer.ping(peer.settings().resolve(&target)?) {
            Ok(time) => println!(
                "PONG from {target} in {:.2} ms",
                time.as_secs_f64() * 1000.0
            ),
            Err(error) => println!("{target} is unreachable: {error}"),
        },
        Command::Help => print!("{HELP}"),
        Command::Quit => {}
    }
    Ok(())
}

/// One line per record, as `list` and the tracker console show them.
pub fn print_records(records: &[FileRecord]) {
    for record in records {
        println!(
            "  {}  {}, {} bytes, {}",
            record.name, record.kind, record.size, record.modified
        );
    }
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
            ("fetch a.txt", "usage: fetch"),
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
