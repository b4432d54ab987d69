//! The peer's command shell: one command a line on standard input.
//!
//! Parsing ([`Command::parse`], in `parse.rs`) is pure and tested alone;
//! [`run`] reads lines, runs each command on the [`Peer`] and prints the
//! outcome. Each command is one function: the transfers (`download`,
//! `fetch`, `upload`) here, the ones that show or change what is shared
//! in `show.rs`. The shell works the same on a terminal and on a pipe, so
//! `printf 'download cat.jpg\n' | cargo run --bin peer -- peer2` is a script.
//! The end of the input is `quit`.

mod parse;
mod show;

pub use parse::{Command, HELP};
pub use show::{print_records, record_line};

use crate::error::{Error, Result};
use crate::lock;
use crate::log;
use crate::peer::{Peer, Progress};
use crate::wire::connection::STALL_TIMEOUT;
use crate::wire::protocol::CHUNK_SIZE;
use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Files larger than this many chunks get a progress line.
const PROGRESS_MIN_CHUNKS: u64 = 10;

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

/// Runs one command: one function each. `Ok(false)` when it ran but
/// failed for some of its peers (each failure printed on its own line).
fn try_execute(peer: &Peer, command: Command) -> Result<bool> {
    match command {
        Command::Search(name) => show::search(peer, &name),
        Command::Find(words) => show::find(peer, &words),
        Command::Hash(name) => show::hash(peer, &name),
        Command::Clean => show::clean(peer),
        Command::Download { name, holder } => download(peer, &name, holder),
        Command::List(peers) if peers.is_empty() => show::own_files(peer),
        Command::List(peers) => show::list_peers(peer, &peers),
        Command::Upload { name, peers } => upload(peer, &name, &peers),
        Command::Fetch { name, peers } => fetch(peer, &name, &peers),
        Command::Publish { path, name } => show::publish(peer, &path, name.as_deref()),
        Command::Announce(names) => show::announce(peer, &names),
        Command::Info => show::info(peer),
        Command::Ping(target) => show::ping(peer, &target),
        Command::Elsewhere(text) => {
            crate::say!("{text}");
            Ok(true)
        }
        Command::Help => {
            log::write_whole(log::Stream::Out, HELP.as_bytes());
            Ok(true)
        }
        Command::Quit => Ok(true),
    }
}

/// `download NAME [N]`: see [`Peer::download`]. Each wait is named as it
/// begins, so that a slow one is said for what it is.
fn download(peer: &Peer, name: &str, holder: Option<usize>) -> Result<bool> {
    let done = watched(|watch| {
        let mut screen = Screen::new(watch, "downloading", name);
        peer.download(name, holder, &mut |step| screen.show(step))
    });
    let done = done?;
    crate::say!(
        "downloaded {name} ({} bytes) from {} into {}",
        done.size,
        peer.describe(done.from),
        done.path.display()
    );
    crate::say!("  {}", done.verification);
    Ok(true)
}

/// `fetch FILE [PEER ...]`: see [`Peer::fetch`].
fn fetch(peer: &Peer, name: &str, peers: &[String]) -> Result<bool> {
    check_peers(peer, "fetch", name, peers)?;
    let report = watched(|watch| {
        let mut screen = Screen::new(watch, "fetching", name);
        peer.fetch_watched(name, peers, &mut |step| screen.show(step))
    });
    let report = report?;
    crate::say!(
        "fetched {name} ({} bytes) into {}",
        report.size,
        report.path.display()
    );
    crate::say!("  {}", report.verification);
    for (from, chunks) in &report.chunks_by_peer {
        crate::say!("  {} sent {chunks} chunk(s)", peer.describe(*from));
    }
    for (from, why) in &report.failures {
        crate::say!("  {}: {why}", peer.describe(*from));
    }
    Ok(true)
}

/// What a download waits for once the file is on disk.
const ANNOUNCING: &str = "the tracker to take the new list of files (the file is on \
     disk already; a re-announce is BYE, then a new join, and takes a few seconds at most)";

/// A wait on another node, with how long it may last.
fn network_wait(what: &str) -> String {
    format!(
        "{what} (gives up after {} s without progress)",
        STALL_TIMEOUT.as_secs()
    )
}

/// What a transfer shows while it runs: its progress line, and the wait
/// under way for the note thread. Dropped, it ends the progress line.
struct Screen<'w> {
    watch: &'w Watch,
    line: ProgressLine,
    /// The most bytes shown so far: only more of them is progress.
    bytes: u64,
}

impl<'w> Screen<'w> {
    fn new(watch: &'w Watch, doing: &str, name: &str) -> Screen<'w> {
        Screen {
            watch,
            line: ProgressLine::new(doing, name),
            bytes: 0,
        }
    }

    fn show(&mut self, step: Progress) {
        match step {
            Progress::Awaiting(what) => self.watch.now(&network_wait(what)),
            Progress::Announcing => self.watch.now(ANNOUNCING),
            Progress::Bytes(bytes, total) => {
                if bytes > self.bytes {
                    self.bytes = bytes;
                    self.watch.progressed();
                }
                self.line.show(bytes, total)
            }
        }
    }
}

impl Drop for Screen<'_> {
    fn drop(&mut self) {
        // If the transfer stopped half-way, its line is still open.
        self.line.end();
    }
}

/// `upload FILE PEER ...`: see [`Peer::upload`].
fn upload(peer: &Peer, name: &str, peers: &[String]) -> Result<bool> {
    check_peers(peer, "upload", name, peers)?;
    let line = Mutex::new(ProgressLine::new("uploading", name));
    let waiting = network_wait(&format!("the answers of {} to UPLOAD", peers.join(", ")));
    let sent = say_if_slow(&waiting, || {
        peer.upload(name, peers, &|bytes, total| lock(&line).show(bytes, total))
    });
    lock(&line).end();
    let mut all_worked = true;
    for (peer_name, result) in sent? {
        match result {
            Ok(()) => crate::say!("{peer_name}: uploaded {name}"),
            Err(error) => {
                crate::say!("{peer_name}: error: {error}");
                all_worked = false;
            }
        }
    }
    Ok(all_worked)
}

/// Checks that every PEER word names a peer, before anything is sent. A
/// word that does not is most often the second half of a file name with a
/// space in it: say how to write one.
fn check_peers(peer: &Peer, command: &str, name: &str, peers: &[String]) -> Result<()> {
    for word in peers {
        if peer.settings().resolve(word).is_err() {
            return Err(Error::Unknown(format!(
                "{word:?} is not a peer: not an id in {} nor an ip:port. If it is part of the \
                 file's name, write the name in double quotes: {command} \"{name} {word}\" ...",
                peer.settings().path.display()
            )));
        }
    }
    Ok(())
}

/// How long one wait may be silent before the shell says what it waits
/// for.
const WAITING_NOTE_AFTER: Duration = Duration::from_secs(2);

/// How often the note thread looks at the wait under way.
const WAITING_LOOK_EVERY: Duration = Duration::from_millis(100);

/// Runs `work`, which waits for `what` (the words after "waiting for");
/// see [`watched`].
fn say_if_slow<T>(what: &str, work: impl FnOnce() -> T) -> T {
    watched(|watch| {
        watch.now(what);
        work()
    })
}

/// Runs `work`, which names each wait as it begins ([`Watch::now`]). When
/// one wait lasts longer than [`WAITING_NOTE_AFTER`] with no progress, a
/// line says what it waits for, so that a student does not take a slow
/// network for a hung program.
fn watched<T>(work: impl FnOnce(&Watch) -> T) -> T {
    let watch = Watch::default();
    let (done, finished) = mpsc::channel::<()>();
    thread::scope(|scope| {
        let watch = &watch;
        scope.spawn(move || watch.say_slow_waits(&finished));
        let result = work(watch);
        // Also when `work` panics: the sender goes, and the note thread ends.
        drop(done);
        result
    })
}

/// The wait under way: what it is, since when, and whether it was said.
#[derive(Default)]
struct Watch(Mutex<Option<Wait>>);

struct Wait {
    what: String,
    since: Instant,
    said: bool,
}

impl Watch {
    /// A new wait begins.
    fn now(&self, what: &str) {
        *lock(&self.0) = Some(Wait {
            what: what.to_string(),
            since: Instant::now(),
            said: false,
        });
    }

    /// Bytes came: the wait under way is not silent.
    fn progressed(&self) {
        if let Some(wait) = lock(&self.0).as_mut() {
            wait.since = Instant::now();
        }
    }

    /// The note thread: says each wait that lasts too long, once.
    fn say_slow_waits(&self, finished: &Receiver<()>) {
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(WAITING_LOOK_EVERY) {
            // Printed with the lock released: the command may go on meanwhile.
            if let Some(what) = self.slow_wait(WAITING_NOTE_AFTER) {
                log::print_line(&format!("waiting for {what}"));
            }
        }
    }

    /// The wait under way, if it has been silent for `after` and was not
    /// said yet; it counts as said from now on.
    fn slow_wait(&self, after: Duration) -> Option<String> {
        match lock(&self.0).as_mut() {
            Some(wait) if !wait.said && wait.since.elapsed() >= after => {
                wait.said = true;
                Some(wait.what.clone())
            }
            _ => None,
        }
    }
}

/// A progress line, `downloading x: 10% 20% ... 100%`, printed piece by
/// piece so that it reads the same on a terminal and in a log file. (A log
/// line that comes in the middle does not split it: see
/// [`log::print_partial`].)
struct ProgressLine {
    /// `downloading x:`, `fetching x:`, `uploading x:`.
    label: String,
    tenths_shown: u64,
}

impl ProgressLine {
    fn new(doing: &str, name: &str) -> ProgressLine {
        ProgressLine {
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
    use super::Watch;
    use crate::lock;
    use std::time::{Duration, Instant};

    /// Longer than any test runs: a wait this long is never due.
    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn each_slow_wait_is_said_once_by_its_own_name() {
        let watch = Watch::default();
        assert_eq!(watch.slow_wait(Duration::ZERO), None, "no wait yet");
        watch.now("the tracker's answer to SEARCH");
        assert_eq!(watch.slow_wait(NEVER), None, "not silent long enough");
        assert_eq!(
            watch.slow_wait(Duration::ZERO).as_deref(),
            Some("the tracker's answer to SEARCH")
        );
        assert_eq!(watch.slow_wait(Duration::ZERO), None, "said once");
        watch.now("peer1's reply to DOWNLOAD");
        assert_eq!(
            watch.slow_wait(Duration::ZERO).as_deref(),
            Some("peer1's reply to DOWNLOAD"),
            "a new wait is said again, by its own name"
        );
    }

    #[test]
    fn bytes_coming_keep_a_wait_from_being_slow() {
        let watch = Watch::default();
        watch.now("peer1's reply to DOWNLOAD");
        // As if the wait had begun ten seconds ago.
        if let Some(wait) = lock(&watch.0).as_mut() {
            wait.since = Instant::now() - Duration::from_secs(10);
        }
        watch.progressed();
        assert_eq!(watch.slow_wait(Duration::from_secs(5)), None);
    }
}
