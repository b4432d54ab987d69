//! What `/proc` tells about another process: its memory, the processor
//! time it used, its open files and its open-file limit (which `prlimit`
//! raises). std has no call for any of these; Linux has them in `/proc`,
//! which is why the benchmark needs Linux. The text is parsed by functions
//! of their own, which the tests feed with sample text.

use p2p_share::error::{Error, Result};
use p2p_share::open_files::parse_open_file_limits;
use std::fs;
use std::process::Command;
use std::time::Duration;

/// The unit of the times in `/proc/PID/stat`: Linux counts them in ticks
/// of 1/100 s on every machine (`USER_HZ`), whatever its clock.
const TICKS_PER_SECOND: u64 = 100;

/// A `kB` figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
pub(super) fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {path} (the benchmark needs Linux)"), e))?;
    parse_status_kib(&status, field).ok_or_else(|| Error::Other(format!("no {field} in {path}")))
}

/// The value of `field` in the text of `/proc/PID/status`: `VmHWM:  1234 kB`.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The processor time that process `pid` used so far, all its threads,
/// in user and system mode together.
pub(super) fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {path} (the benchmark needs Linux)"), e))?;
    let ticks =
        parse_cpu_ticks(&stat).ok_or_else(|| Error::Other(format!("no times in {path}")))?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// `utime` + `stime` of the text of `/proc/PID/stat`: the 14th and 15th
/// fields. The 2nd, the program's name in brackets, may hold spaces, so
/// the count starts after its closing bracket (with the 3rd field).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// How many files (sockets included) process `pid` has open.
pub(super) fn open_fd_count(pid: u32) -> Result<usize> {
    let path = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&path).map_err(|e| Error::io(format!("reading {path}"), e))?;
    Ok(entries.count())
}

/// The soft and hard open-file limits of process `pid`.
pub(super) fn open_file_limits(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/limits");
    let limits = fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {path}"), e))?;
    parse_open_file_limits(&limits)
        .ok_or_else(|| Error::Other(format!("no open-file limit in {path}")))
}

/// Lets process `pid` open `wanted` files. std has no call for it, so we
/// ask the `prlimit` tool (util-linux); raising the hard limit needs root.
pub(super) fn raise_open_file_limit(pid: u32, wanted: u64) -> std::result::Result<(), String> {
    let (soft, hard) = open_file_limits(pid).map_err(|e| e.to_string())?;
    if soft >= wanted {
        return Ok(());
    }
    let output = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={wanted}:{}", hard.max(wanted)))
        .output()
        .map_err(|e| format!("running prlimit: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "prlimit: {} (the limit stays at {soft})",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_cpu_ticks, parse_status_kib};

    #[test]
    fn reads_proc_figures() {
        let status = "Name:\tbench\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_the_processor_time_after_a_name_with_spaces_and_brackets() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let stat = "4242 (tracker 127.0.0) R) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 37 0 0 20";
        assert_eq!(parse_cpu_ticks(stat), Some(150 + 37));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1 2"), None);
    }
}
