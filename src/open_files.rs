//! How many files this process may have open at once, and how many
//! connections fit under that.
//!
//! To the operating system every socket is an open file, and a process may
//! only have so many (`ulimit -n`: 1024 on many Linux accounts, 256 on
//! macOS). A server that takes more connections than fit fails badly: its
//! `accept` fails with "Too many open files", again at every try, while the
//! new connection waits unanswered. So each server lowers its cap to what
//! fits (see [`crate::server`]), and a connection past the cap gets
//! `ERROR: busy` instead.
//!
//! std has no call for the limit. Linux shows it in `/proc/self/limits`,
//! which is read here; elsewhere the limit is unknown and servers keep
//! their caps.

use std::fs;

/// Open files a process keeps for itself, whatever its connections: the
/// listening socket, standard input, output and error, a folder being
/// scanned, a peer's connection to the tracker and its shell's own
/// downloads. 32 is several times what they take.
pub const RESERVED_FILES: u64 = 32;

/// The soft open-file limit of this process (the one that counts; the hard
/// limit is how far the soft one may be raised). `None` where it cannot be
/// read: not Linux, or no `/proc`.
pub fn open_file_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limits(&limits).map(|(soft, _hard)| soft)
}

/// The soft and hard open-file limits from the text of `/proc/PID/limits`:
///
/// ```text
/// Limit                     Soft Limit           Hard Limit           Units
/// Max open files            1024                 524288               files
/// ```
///
/// `unlimited` reads as `u64::MAX`.
pub fn parse_open_file_limits(limits: &str) -> Option<(u64, u64)> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    let mut values = line.split_whitespace().map(|value| match value {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    });
    Some((values.next()??, values.next()??))
}

/// How many connections fit under an open-file limit of `limit`, each
/// holding `files_per_connection` files, with [`RESERVED_FILES`] kept back.
/// At least 1, so that a server under an absurdly low limit still serves.
pub fn connections_that_fit(limit: u64, files_per_connection: usize) -> usize {
    let per_connection = (files_per_connection as u64).max(1);
    let fit = limit.saturating_sub(RESERVED_FILES) / per_connection;
    usize::try_from(fit).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::{connections_that_fit, open_file_limit, parse_open_file_limits, RESERVED_FILES};

    /// The first lines of a real `/proc/self/limits`.
    const LINUX: &str = "\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max processes             63704                63704                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
";

    #[test]
    fn reads_the_soft_and_hard_limits() {
        assert_eq!(parse_open_file_limits(LINUX), Some((1024, 524_288)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(
            parse_open_file_limits(unlimited),
            Some((u64::MAX, u64::MAX))
        );
    }

    #[test]
    fn text_without_a_readable_limit_is_none() {
        for text in [
            "",
            "Max cpu time              unlimited            unlimited            seconds\n",
            "Max open files            many                 1024                 files\n",
            "Max open files            256\n",
        ] {
            assert_eq!(parse_open_file_limits(text), None, "{text:?}");
        }
    }

    #[test]
    fn this_process_has_a_limit_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|limit| limit > RESERVED_FILES));
        }
    }

    #[test]
    fn connections_fit_after_the_reserve() {
        assert_eq!(connections_that_fit(1024, 1), 992);
        assert_eq!(connections_that_fit(256, 2), 112);
        assert!(connections_that_fit(u64::MAX, 1) > 1 << 30, "unlimited");
        // Never 0, and a count of 0 files per connection counts as 1.
        assert_eq!(connections_that_fit(10, 1), 1);
        assert_eq!(connections_that_fit(100, 0), 68);
    }
}
