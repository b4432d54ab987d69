//! Writing to the terminal: each line in one write, a progress line in
//! pieces, a shell's prompt shown again under a log line, and a reader
//! that went away.
//!
//! Why one write per line: the standard streams are shared by every
//! thread, and a line that goes out in one `write` system call never
//! mixes with another thread's line (the kernel sees to that for a
//! terminal, a file, and a pipe for lines up to 4096 bytes). So we format
//! the whole line first and then write it with no lock at all: not ours,
//! and not the one that Rust's `io::stdout()` takes for every write. With
//! that lock, eight tracker threads that each log a search wait for one
//! another, and each wait puts a thread to sleep and wakes it again
//! (measured with `strace -c`: about two and a half `futex` calls per
//! search, over eight connections).
//!
//! A program with a shell is different: its progress line and its prompt
//! are state that a log line must respect. That state is kept under a
//! lock, but only looked at and changed there; the writes happen after.
//! A program that never shows either (a server, the benchmark) never
//! takes that lock at all. A log line ends the prompt's line; the prompt
//! comes back once the output has paused (the rule is in `prompt.rs`),
//! shown by a thread of its own that sleeps until then.
//!
//! Whoever reads our standard output may go away (`peer peer2 < script |
//! head -1`). A C program is then killed by SIGPIPE, silently; a Rust
//! program gets a "broken pipe" error instead. We handle it where the
//! output is written, as ripgrep does: the program ends quietly with
//! status 0, since nobody is left to read what it would say.

mod prompt;

use crate::lock;
use prompt::PromptLine;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, Once, OnceLock, PoisonError};
use std::thread;
use std::time::Instant;

/// Which standard stream a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: results, and the demo's log.
    Out,
    /// Standard error: the log.
    Err,
}

/// A progress line being printed on standard output, piece by piece.
struct PartialLine {
    /// What the line started with, to start it again after an interruption.
    label: String,
    /// A log line ended it: the next piece starts a new line with `label`.
    interrupted: bool,
}

/// What a shell shows right now, which a log line must work around.
struct ShellView {
    /// The progress line being printed, if any.
    partial: Option<PartialLine>,
    /// The prompt the shell waits at, if any, and whether it shows.
    prompt: PromptLine,
}

static SHELL_VIEW: Mutex<ShellView> = Mutex::new(ShellView {
    partial: None,
    prompt: PromptLine::new(),
});

/// Wakes the thread that shows the prompt again: a line pushed it off the
/// screen, so it is due later than the thread thought.
static PROMPT_DUE: Condvar = Condvar::new();

/// Starts that thread once, when a shell first waits at a prompt.
static PROMPT_KEEPER: Once = Once::new();

/// Set once a progress line or a prompt has been shown: until then a log
/// line does not need to look at [`SHELL_VIEW`].
static SHELL_SHOWN: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to `stream` in one system call, with no lock (see the
/// top of this file). A reader that went away ends the program quietly;
/// any other error is not worth more than the line itself.
pub fn write_whole(stream: Stream, bytes: &[u8]) {
    let written = match (stream, unlocked(stream)) {
        (_, Some(mut file)) => file.write_all(bytes),
        // The stream could not be had as a file: the locked handle.
        (Stream::Out, None) => {
            let mut out = io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        (Stream::Err, None) => io::stderr().lock().write_all(bytes),
    };
    if let Err(error) = written {
        if error.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// The standard stream as a plain file, made once: a copy of the
/// stream's file descriptor (`dup`). A `&File` writes with one system call
/// and takes no lock, where `io::stdout()` locks and buffers. Nothing of
/// ours writes through `io::stdout()`'s buffer, so the two never disagree
/// about order. `None` where the stream is closed, or not on Unix.
fn unlocked(stream: Stream) -> Option<&'static File> {
    static OUT: OnceLock<Option<File>> = OnceLock::new();
    static ERR: OnceLock<Option<File>> = OnceLock::new();
    match stream {
        Stream::Out => OUT.get_or_init(|| as_file(io::stdout())),
        Stream::Err => ERR.get_or_init(|| as_file(io::stderr())),
    }
    .as_ref()
}

#[cfg(unix)]
fn as_file(stream: impl std::os::fd::AsFd) -> Option<File> {
    let copy = stream.as_fd().try_clone_to_owned().ok()?;
    Some(File::from(copy))
}

#[cfg(not(unix))]
fn as_file<T>(_stream: T) -> Option<File> {
    None
}

/// Prints one whole line on standard output: a result.
pub fn say(text: &str) {
    print_line_on(Stream::Out, text);
}

/// Prints a whole line on standard error (a note of the shell's), first
/// ending a progress line it would land in.
pub fn print_line(text: &str) {
    print_line_on(Stream::Err, text);
}

/// Prints `line` on `stream` with its line end: after ending a progress
/// line or a prompt it would land in. A shell's prompt comes back under
/// it once the output pauses, so the shell does not look stuck.
pub fn print_line_on(stream: Stream, line: &str) {
    let mut whole = String::with_capacity(line.len() + 1);
    whole.push_str(line);
    whole.push('\n');
    if !SHELL_SHOWN.load(Ordering::Relaxed) {
        write_whole(stream, whole.as_bytes());
        return;
    }
    let (end_progress, end_prompt, waiting) = {
        let mut view = lock(&SHELL_VIEW);
        let end_progress = match view.partial.as_mut() {
            Some(open) if !open.interrupted => {
                open.interrupted = true;
                true
            }
            _ => false,
        };
        let end_prompt = view.prompt.line_printed(Instant::now());
        (end_progress, end_prompt, view.prompt.waiting())
    };
    if waiting {
        PROMPT_DUE.notify_one();
    }
    if end_progress || end_prompt {
        write_whole(Stream::Out, b"\n");
    }
    write_whole(stream, whole.as_bytes());
}

/// The prompt thread: sleeps until the prompt is due on the screen again
/// (see `prompt.rs`), shows it, and sleeps again. It holds the lock only
/// while it looks; the prompt is written after letting go.
fn keep_prompt() {
    let mut view = lock(&SHELL_VIEW);
    loop {
        let now = Instant::now();
        if let Some(prompt) = view.prompt.show_again(now) {
            drop(view);
            write_whole(Stream::Out, prompt.as_bytes());
            view = lock(&SHELL_VIEW);
            continue;
        }
        view = match view.prompt.due() {
            Some(due) => {
                let wait = due.saturating_duration_since(now);
                let woken = PROMPT_DUE.wait_timeout(view, wait);
                woken.unwrap_or_else(PoisonError::into_inner).0
            }
            None => PROMPT_DUE
                .wait(view)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Prints `piece` on the progress line that starts with `label`, starting
/// that line first if needed.
pub fn print_partial(label: &str, piece: &str) {
    SHELL_SHOWN.store(true, Ordering::Relaxed);
    let start = {
        let mut view = lock(&SHELL_VIEW);
        let start = match view.partial.as_ref() {
            Some(line) => line.interrupted || line.label != label,
            None => true,
        };
        view.partial = Some(PartialLine {
            label: label.to_string(),
            interrupted: false,
        });
        start
    };
    let text = if start {
        format!("{label}{piece}")
    } else {
        piece.to_string()
    };
    write_whole(Stream::Out, text.as_bytes());
}

/// Ends the progress line, if one is open.
pub fn end_partial_line() {
    let open = lock(&SHELL_VIEW).partial.take();
    if open.is_some_and(|line| !line.interrupted) {
        write_whole(Stream::Out, b"\n");
    }
}

/// A shell on a terminal says it shows `prompt` and waits for a line
/// (`Some`), or that a line came (`None`). A log line printed meanwhile
/// then starts on a new line, and the prompt is shown again once the
/// output has paused.
pub fn waiting_at(prompt: Option<&str>) {
    if prompt.is_some() {
        SHELL_SHOWN.store(true, Ordering::Relaxed);
        PROMPT_KEEPER.call_once(|| {
            // Without the thread the prompt only stops coming back after
            // log lines: the shell still works, so a failure is let go.
            let _ = thread::Builder::new()
                .name("prompt".into())
                .spawn(keep_prompt);
        });
    }
    lock(&SHELL_VIEW).prompt.waiting_at(prompt);
}

/// `println!` for results: the line goes out in one write, and a reader
/// that went away ends the program quietly instead of a panic.
#[macro_export]
macro_rules! say {
    () => {
        $crate::log::say("")
    };
    ($($arg:tt)*) => {
        $crate::log::say(&format!($($arg)*))
    };
}
