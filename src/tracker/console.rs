//! The tracker's operator console: commands on the tracker's standard input,
//! as in the central-tracker system.
//!
//! The tracker keeps serving whatever happens here: when standard input
//! ends (or is not a terminal), the console stops reading and the tracker
//! serves on until it is killed.

use crate::cli::did_you_mean;
use crate::log::{write_whole, Stream};
use crate::say;
use crate::tracker::Tracker;
use crate::wire::connection::ping_peer;
use crate::wire::protocol::FileRecord;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;

/// Shown before each command on a terminal.
const PROMPT: &str = "tracker> ";

/// The console's command words, for a hint when one is mistyped.
const COMMAND_WORDS: [&str; 8] = [
    "list", "files", "discover", "find", "ping", "quit", "exit", "help",
];

/// What `help` prints.
pub const HELP: &str = "\
tracker console commands:
  list            peers online: id, address, file count
  files           every file and where it is
  discover PEER   the files of one peer (id or ip:port)
  find WORD ...   files whose names hold every word, in any case (as FIND)
  ping PEER       PING a peer's listening port and time the PONG
  quit            close every session and exit
  help            this text
";

/// Why the console stopped reading.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsoleEnd {
    /// The operator typed `quit`.
    Quit,
    /// Standard input ended.
    EndOfInput,
}

/// Reads and runs console commands until `quit` or the end of `input`.
/// With `prompt` (standard input is a terminal), `tracker> ` is shown
/// before each command. Commands are not case-sensitive, as in the peer's
/// shell.
pub fn run(tracker: &Tracker, input: impl BufRead, prompt: bool) -> ConsoleEnd {
    let show_prompt = || {
        if prompt {
            write_whole(Stream::Out, PROMPT.as_bytes());
            crate::log::waiting_at(Some(PROMPT));
        }
    };
    show_prompt();
    for line in input.lines() {
        crate::log::waiting_at(None);
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else {
            show_prompt();
            continue;
        };
        let command = first.to_lowercase();
        match (command.as_str(), rest) {
            ("quit" | "exit", []) => return ConsoleEnd::Quit,
            ("list", []) => list(tracker),
            ("files", []) => files(tracker),
            ("discover", [peer]) => write_whole(Stream::Out, discover(tracker, peer).as_bytes()),
            ("ping", [peer]) => say!("{}", ping(tracker, peer)),
            ("help" | "?", []) => write_whole(Stream::Out, HELP.as_bytes()),
            ("discover", _) => say!("usage: discover PEER"),
            ("ping", _) => say!("usage: ping PEER"),
            ("find", [_, ..]) => say!("{}", tracker.find_text(rest)),
            ("quit" | "exit" | "list" | "files" | "help" | "?", _) => {
                say!("error: {first} takes no arguments (type help)")
            }
            _ => say!("error: {}", unknown(first)),
        }
        show_prompt();
    }
    crate::log::waiting_at(None);
    if prompt {
        say!(); // end the prompt's line at Ctrl-D
    }
    ConsoleEnd::EndOfInput
}

/// What a word that is no command gets: the nearest command, if the word
/// looks like a typo of one.
fn unknown(word: &str) -> String {
    match did_you_mean(word, &COMMAND_WORDS) {
        Some(close) => format!("unknown command {word:?}: did you mean {close}? (type help)"),
        None => format!("unknown command {word:?} (type help)"),
    }
}

fn list(tracker: &Tracker) {
    let peers = tracker.peers();
    say!("{} peer(s) online:", peers.len());
    for (addr, records) in peers {
        let id = tracker.settings().id_of(addr).unwrap_or("-");
        say!("  {id}  {addr}  {} file(s) announced", records.len());
    }
}

fn files(tracker: &Tracker) {
    let holders = holders_by_file(tracker);
    say!("{} file(s):", holders.len());
    for (name, at) in holders {
        let at: Vec<String> = at
            .into_iter()
            .map(|addr| tracker.settings().describe(addr))
            .collect();
        say!("  {name}  at {}", at.join(", "));
    }
}

/// Every file the tracker knows, in name order, with the addresses of its
/// holders (for `files`, and the web page's table).
pub fn holders_by_file(tracker: &Tracker) -> BTreeMap<String, Vec<SocketAddr>> {
    let mut holders: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
    for (addr, records) in tracker.peers() {
        for record in records {
            holders.entry(record.name).or_default().push(addr);
        }
    }
    holders
}

/// `discover PEER`: the records a peer announced, as the console prints
/// them (the web page shows the same text).
pub fn discover(tracker: &Tracker, peer: &str) -> String {
    let addr = match tracker.settings().resolve(peer) {
        Ok(addr) => addr,
        Err(error) => return format!("error: {error}\n"),
    };
    let records: Vec<FileRecord> = tracker
        .peers()
        .into_iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, records)| records)
        .unwrap_or_default();
    if records.is_empty() {
        return format!("{} is not joined\n", tracker.settings().describe(addr));
    }
    let mut text = format!(
        "{} announces {} file(s) to the tracker (it may serve more: `list {peer}` in a peer's shell asks it):\n",
        tracker.settings().describe(addr),
        records.len()
    );
    for record in &records {
        text.push_str(&record.listing_line());
        text.push('\n');
    }
    text
}

/// `ping PEER`: PING a peer's listening port; one line saying how it went.
pub fn ping(tracker: &Tracker, peer: &str) -> String {
    let addr = match tracker.settings().resolve(peer) {
        Ok(addr) => addr,
        Err(error) => return format!("error: {error}"),
    };
    let who = tracker.settings().describe(addr);
    if addr == tracker.local_addr() || tracker.settings().tracker().ok() == Some(addr) {
        return format!("{who} is this tracker: ping a peer (id or ip:port)");
    }
    match ping_peer(addr, tracker.log()) {
        Ok(time) => format!("PONG from {who} in {:.2} ms", time.as_secs_f64() * 1000.0),
        Err(error) => format!("{who} is unreachable: {error}"),
    }
}
