//! The line rule: where a line ends, how long it may be, and what a read
//! that timed out says. Pure functions, tested alone.

use super::Wait;
use crate::error::is_io_timeout;
use std::io;
use std::time::{Duration, Instant};

/// The error of a transfer or reply that made no progress for `stall`:
/// "no progress for 30 s", where the system would say "Resource temporarily
/// unavailable".
pub(super) fn no_progress(stall: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no progress for {}", seconds(stall)),
    )
}

/// The error of a request that did not arrive by its deadline.
pub(super) fn time_is_up() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "it did not arrive within the time allowed",
    )
}

/// A line that has begun must end within the stall time, plus one second
/// for every this many bytes of it (64 KiB/s at the least). A sender that
/// sends one byte just before each time-out would otherwise hold a reader,
/// and its thread, for as long as it likes.
pub const LINE_MIN_RATE: usize = 64 * 1024;

/// How long a line that began at `began`, of which `held` bytes came, may
/// still take (see [`LINE_MIN_RATE`]); `None` when its time is up.
pub(super) fn line_time_left(
    began: Instant,
    held: usize,
    stall: Duration,
    now: Instant,
) -> Option<Duration> {
    let allowed = stall + Duration::from_secs((held / LINE_MIN_RATE) as u64);
    let left = (began + allowed).saturating_duration_since(now);
    (!left.is_zero()).then_some(left)
}

/// The error of a line whose bytes trickled in too slowly. It is not a
/// time-out: a reader that wakes on time-outs must not wait on for it.
pub(super) fn line_too_slow(held: usize, began: Instant, stall: Duration) -> io::Error {
    io::Error::other(format!(
        "a line began {} ago and has not ended ({held} bytes so far): a line must \
         end within {} (1 s more per 64 KiB), however its bytes trickle in",
        about(began.elapsed()),
        seconds(stall)
    ))
}

/// A read error, with a socket time-out replaced by what it means for `wait`.
pub(super) fn plain_timeout(error: io::Error, wait: Wait) -> io::Error {
    if !is_io_timeout(&error) {
        return error;
    }
    match wait {
        Wait::NoProgressFor(stall) => no_progress(stall),
        Wait::Until(_) => time_is_up(),
        // No time-out is set then; should the system time out anyway, its
        // own words are all we have.
        Wait::Forever => error,
    }
}

/// `30 s`, or `0.5 s` for a duration that is not whole seconds.
pub(super) fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// How long a measured wait took, as a person would say it: `10 s` for
/// 10.003 s, `0.3 s` under a second.
pub(super) fn about(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs_f64().round())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// What the next bytes hold, for a reader that has `held` bytes of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The line ends after `take` more bytes; the `\n` follows them.
    Line { take: usize },
    /// No `\n` yet: keep all `take` bytes and read more.
    NeedMore { take: usize },
    /// The line is longer than the limit: stop reading it.
    TooLong,
}

/// Splits a line out of `available`, the bytes that came in, for a reader
/// that already holds `held` bytes of the line and takes `limit` bytes at
/// most (the `\n` not counted). This is the rule that keeps a sender of an
/// endless line from making us allocate endless memory, so it is a pure
/// function, tested alone; every line read of [`Connection`](super::Connection) goes through
/// it.
pub fn split_line(held: usize, available: &[u8], limit: usize) -> Split {
    let newline = available.iter().position(|&b| b == b'\n');
    let take = newline.unwrap_or(available.len());
    if held.saturating_add(take) > limit {
        Split::TooLong
    } else if newline.is_some() {
        Split::Line { take }
    } else {
        Split::NeedMore { take }
    }
}

/// A line without the `\r` of a `\r\n` ending.
pub(super) fn without_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}
