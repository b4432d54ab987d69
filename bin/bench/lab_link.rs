//! Step 3, `verify`, once more over a lab's link: the plain and the
//! verified DOWNLOAD through a link shaped to 1 Gbit/s, the speed of a
//! computer lab's wired network.
//!
//! Why: on loopback a transfer is limited by the processor, and SHA-256
//! (as fast as `sha256sum`, about 350 MiB/s on a small machine) is slower
//! than loopback, so there a verified download goes at the speed of the
//! hash. Over a real network the link is the limit, and the hash, which runs
//! in a thread of its own while the bytes arrive, should cost nothing. This
//! step measures that instead of assuming it.
//!
//! The link is a network namespace of its own (`ip netns`), whose loopback
//! device is slowed with a token bucket (`tc qdisc ... tbf`). A child process
//! started inside it (`--as-link-tester`) runs a tracker, a serving peer and
//! both downloads, and reports the two speeds. Making a namespace needs
//! root and iproute2: elsewhere the step says so in one line and is skipped.
//! The namespace is removed when the step ends, also when it fails.

use super::children::ChildProcess;
use super::transfer::mib_per_s;
use super::verify::verified_download;
use super::workspace::{check_same, generate_file, remove, Workspace};
use super::{figure, file_spec, quiet_log, FILE_NAME};
use p2p_share::error::{Error, Result};
use p2p_share::peer::client;
use p2p_share::peer::folder::SharedFolder;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The hidden mode of the child that runs inside the shaped namespace.
pub(super) const AS_LINK_TESTER: &str = "--as-link-tester";

/// The link's speed, in `tc`'s words: a lab's wired network.
const LINK_RATE: &str = "1gbit";

/// The size of the file sent over the link (or the benchmark's own size,
/// if smaller, as with `--quick`): big enough that the start of a transfer
/// does not count, small enough to take about a second.
const LINK_FILE_MIB: u64 = 96;

/// Each download over the link is timed this many times, taking turns; the
/// best counts, as in the other steps.
const LINK_ROUNDS: usize = 3;

/// How long the child may take for all its rounds.
const LINK_TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Measures both downloads over the shaped link and prints the figures;
/// returns verified / plain, or `None` where the link cannot be made.
pub(super) fn measure_over_link(workspace: &Workspace, size_mib: u64) -> Result<Option<f64>> {
    if let Some(why) = why_no_link() {
        println!("note: the downloads over a 1 Gbit/s link were not measured: {why}");
        return Ok(None);
    }
    let namespace = Namespace::create(&format!("p2p-bench-{}", std::process::id()))?;
    namespace.run(&["ip", "link", "set", "lo", "up"])?;
    namespace.run(&[
        "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", LINK_RATE, "burst", "256kb",
        "latency", "50ms",
    ])?;
    let serving = workspace.new_folder("link-peer")?;
    let size = generate_file(&serving.join(FILE_NAME), LINK_FILE_MIB.min(size_mib))?;
    let client = workspace.new_folder("link-client")?;
    let args = vec![
        AS_LINK_TESTER.into(),
        serving.into(),
        size.to_string().into(),
        client.into(),
    ];
    let log = workspace.root.join("link-tester.log");
    let tester = ChildProcess::spawn_in_namespace(&namespace.name, "link tester", args, &log)?;
    let plain = speed_report(&tester, "plain")?;
    let verified = speed_report(&tester, "verified")?;
    figure("link_transfer", format!("{plain:.1}"), "MiB/s");
    figure("link_transfer_verified", format!("{verified:.1}"), "MiB/s");
    figure(
        "link_verified_vs_transfer",
        format!("{:.2}", verified / plain),
        "x",
    );
    Ok(Some(verified / plain))
}

/// Why the shaped link cannot be made here, if it cannot.
fn why_no_link() -> Option<&'static str> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.split_whitespace().take(2).eq(["Uid:", "0"]));
    if !root {
        return Some("making a network namespace needs root");
    }
    let works = |program: &str| {
        Command::new(program)
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if !works("ip") || !works("tc") {
        return Some("it needs `ip` and `tc` (Debian's package iproute2)");
    }
    None
}

/// The child's report `WHAT SPEED`, as MiB/s.
fn speed_report(tester: &ChildProcess, what: &str) -> Result<f64> {
    let report = tester.next_report(LINK_TEST_TIMEOUT)?;
    report
        .strip_prefix(what)
        .and_then(|speed| speed.trim().parse().ok())
        .ok_or_else(|| Error::Other(format!("the link tester reported {report:?}")))
}

/// The child's side, inside the namespace: both downloads of the file of
/// `size` bytes from `peer` into `client`, taking turns, [`LINK_ROUNDS`]
/// times each. Returns the best speed of each, plain then verified.
pub(super) fn time_both(
    client: &SharedFolder,
    peer: SocketAddr,
    source: &Path,
    size: u64,
) -> Result<(f64, f64)> {
    let file = file_spec(size);
    let (mut plain, mut verified) = (Duration::MAX, Duration::MAX);
    for _ in 0..LINK_ROUNDS {
        let start = Instant::now();
        let path = client::download_file(client, peer, &file, &quiet_log(), &mut |_| {})?;
        plain = plain.min(start.elapsed());
        check_same(source, &path)?;
        remove(&path)?;
        let target = client.dir().join("verified-copy");
        verified = verified.min(verified_download(peer, size, &target)?);
    }
    Ok((mib_per_s(size, plain), mib_per_s(size, verified)))
}

/// A network namespace of our own, removed when dropped.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(name: &str) -> Result<Namespace> {
        run_ip(&["netns", "add", name])?;
        Ok(Namespace { name: name.into() })
    }

    /// Runs `command` inside the namespace; it must succeed.
    fn run(&self, command: &[&str]) -> Result<()> {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run_ip(&args)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

/// `ip ARGS`, which must succeed.
fn run_ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::io("running ip", e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
