//! The child processes, on the benchmark's side: starting them (the
//! tracker, the serving peers, the echo server, the downloader), reading
//! what they report, and ending them. Each is held by a guard that ends it
//! when dropped, so that a step that fails leaves nothing running.

use super::child_modes::{AS_PEER, REPORT_PREFIX};
use super::workspace::Workspace;
use super::FILE_NAME;
use p2p_share::error::{Error, Result};
use std::ffi::OsString;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a child process may take to start and say where it listens.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a child process gets to end by itself before it is killed.
const CHILD_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Pause between two looks at whether a child process has ended.
const CHILD_POLL_PAUSE: Duration = Duration::from_millis(10);

/// A copy of this program running in a hidden mode. Dropping it ends it:
/// its standard input is closed (it ends by itself), and after a short
/// wait it is killed.
pub(super) struct ChildProcess {
    role: &'static str,
    child: Child,
    /// The lines it wrote after [`REPORT_PREFIX`], in order.
    reports: Receiver<String>,
    /// Reads its standard error for the reports.
    reader: Option<JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts this program with `args`, its log going to the file `log`.
    /// A file and not a pipe to us: the tracker logs every search, and a
    /// pipe would make each log line wake one of our threads, which would
    /// compete with the SEARCHes for the processor and slow them down.
    pub(super) fn spawn(
        role: &'static str,
        args: Vec<OsString>,
        log: &Path,
    ) -> Result<ChildProcess> {
        let mut command = Command::new(own_program()?);
        command.args(args);
        Self::start(role, command, log)
    }

    /// The same, inside the network namespace `namespace`
    /// (`ip netns exec NAMESPACE PROGRAM ARGS`).
    pub(super) fn spawn_in_namespace(
        namespace: &str,
        role: &'static str,
        args: Vec<OsString>,
        log: &Path,
    ) -> Result<ChildProcess> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(own_program()?)
            .args(args);
        Self::start(role, command, log)
    }

    fn start(role: &'static str, mut command: Command, log: &Path) -> Result<ChildProcess> {
        let log =
            File::create(log).map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("starting the {role} process"), e))?;
        let stderr = child.stderr.take();
        let (sender, reports) = mpsc::channel();
        // From here on, dropping `process` ends the child.
        let mut process = ChildProcess {
            role,
            child,
            reports,
            reader: None,
        };
        let stderr = stderr.ok_or_else(|| Error::Other(format!("no output from the {role}")))?;
        let reader = thread::Builder::new()
            .name(format!("bench {role} reports"))
            .spawn(move || read_reports(stderr, &sender))
            .map_err(|e| Error::io("starting a thread", e))?;
        process.reader = Some(reader);
        Ok(process)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report line, waiting at most `timeout`.
    pub(super) fn next_report(&self, timeout: Duration) -> Result<String> {
        self.reports
            .recv_timeout(timeout)
            .map_err(|error| match error {
                RecvTimeoutError::Timeout => Error::Other(format!(
                    "the {} process said nothing for {timeout:?}",
                    self.role
                )),
                RecvTimeoutError::Disconnected => Error::Other(format!(
                    "the {} process ended early (its error, if any, is above)",
                    self.role
                )),
            })
    }

    /// Where the child listens, from its first report.
    pub(super) fn address(&self) -> Result<SocketAddr> {
        let report = self.next_report(CHILD_START_TIMEOUT)?;
        report
            .strip_prefix("address ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| Error::Other(format!("the {} reported {report:?}", self.role)))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + CHILD_EXIT_WAIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(CHILD_POLL_PAUSE);
        }
        // Our own child, by its id: killing one that has ended does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its output ends with it, and so does the reading thread.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// This very program, which the children run in a hidden mode.
fn own_program() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("finding the benchmark's own program", e))
}

/// Reads a child's standard error to its end: the report lines go to
/// `reports`, any other line (an error) to our own standard error.
fn read_reports(stderr: ChildStderr, reports: &Sender<String>) {
    super::for_each_line(stderr, |line| {
        let text = String::from_utf8_lossy(line);
        match text.trim_end().strip_prefix(REPORT_PREFIX) {
            // Nobody listening any more is not an error: keep reading.
            Some(report) => drop(reports.send(report.to_string())),
            None => eprint!("{text}"),
        }
        true
    });
}

/// Starts `count` peer processes, each serving the file from a folder of
/// its own: the first serves `source` in `first_dir`, the others hard links
/// to it (or copies, where links cannot be made).
pub(super) fn start_peers(
    workspace: &Workspace,
    first_dir: PathBuf,
    source: &Path,
    tracker: SocketAddr,
    count: usize,
) -> Result<Vec<(ChildProcess, SocketAddr)>> {
    let mut peers = Vec::with_capacity(count);
    for number in 1..=count {
        let dir = if number == 1 {
            first_dir.clone()
        } else {
            let dir = workspace.new_folder(&format!("peer{number}"))?;
            let copy = dir.join(FILE_NAME);
            if fs::hard_link(source, &copy).is_err() {
                fs::copy(source, &copy)
                    .map_err(|e| Error::io(format!("copying the file to {}", dir.display()), e))?;
            }
            dir
        };
        let args = vec![AS_PEER.into(), tracker.to_string().into(), dir.into()];
        let log = workspace.root.join(format!("peer{number}.log"));
        let peer = ChildProcess::spawn("peer", args, &log)?;
        let addr = peer.address()?;
        peers.push((peer, addr));
    }
    Ok(peers)
}
