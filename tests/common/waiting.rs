//! Waiting in a test: nothing sleeps for a fixed time to "let things
//! settle". Every wait is a poll with a deadline, which fails with a
//! message naming what was awaited and what was there instead, so that a
//! slow machine only makes a test slower, and a real failure says why.

use super::client::READ_TIMEOUT;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two tries of a poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Tries `attempt` every `POLL_INTERVAL` until it gives `Ok` or `limit`
/// has passed, and returns its last result: for a caller that does
/// something else when time runs out. An `Err` says what was seen instead.
pub fn poll<T>(
    limit: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Polls `attempt` until it gives `Ok`, and returns that value; after
/// `TIMEOUT`, panics naming `what` and the last `Err`.
pub fn wait_for<T>(what: &str, attempt: impl FnMut() -> Result<T, String>) -> T {
    wait_for_within(TIMEOUT, what, attempt)
}

/// [`wait_for`] with a limit of its own, for the few waits that are longer
/// than `TIMEOUT` by design.
pub fn wait_for_within<T>(
    limit: Duration,
    what: &str,
    attempt: impl FnMut() -> Result<T, String>,
) -> T {
    poll(limit, attempt).unwrap_or_else(|last| {
        if last.is_empty() {
            panic!("timed out after {limit:?} waiting for {what}")
        } else {
            panic!("timed out after {limit:?} waiting for {what}; {last}")
        }
    })
}

/// Polls `cond` until it is true; panics naming `what` after `TIMEOUT`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(what, || if cond() { Ok(()) } else { Err(String::new()) })
}

/// Polls until a TCP connection to `addr` succeeds.
pub fn wait_for_port(addr: &str) {
    wait_until(&format!("a server listening on {addr}"), || {
        TcpStream::connect_timeout(&addr.parse().expect("socket address"), READ_TIMEOUT).is_ok()
    });
}
