//! The real programs as child processes: a [`Node`] is a running `tracker`
//! or `peer` whose output is collected line by line, and which is killed
//! and reaped when it is dropped, also when a test panics (its output is
//! then printed, to show why). Commands typed into a peer's shell or the
//! tracker's console go through [`run`].

use super::client::READ_TIMEOUT;
use super::waiting::wait_for;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

pub const TRACKER_BIN: &str = env!("CARGO_BIN_EXE_tracker");
pub const PEER_BIN: &str = env!("CARGO_BIN_EXE_peer");

type Lines = Arc<Mutex<Vec<String>>>;

fn collect_lines(stream: impl Read + Send + 'static, lines: Lines) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            }
        }
    })
}

/// A child process (tracker or peer) with its stdin piped and its stdout and
/// stderr collected line by line by background threads. Dropping it kills
/// and reaps the process; when the test is panicking, its output is printed
/// to help find out why.
pub struct Node {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Node {
    pub fn spawn(name: &str, program: &str, args: &[String], cwd: &Path) -> Node {
        Node::spawn_with_env(name, program, args, cwd, &[])
    }

    /// Like [`Node::spawn`], with `env` added to the environment.
    pub fn spawn_with_env(
        name: &str,
        program: &str,
        args: &[String],
        cwd: &Path,
        env: &[(&str, &Path)],
    ) -> Node {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        let readers = vec![
            collect_lines(child.stdout.take().expect("piped stdout"), stdout.clone()),
            collect_lines(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Node {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line (a shell command) to the process's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write to stdin: {e}", self.name));
    }

    /// Closes stdin: for a peer shell, the end of input means `quit`.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything the process printed so far, stdout then stderr.
    pub fn all_lines(&self) -> Vec<String> {
        let mut lines = self.stdout_lines();
        lines.extend(self.stderr_lines());
        lines
    }

    /// What a wait that timed out shows: everything printed so far.
    fn output_so_far(&self) -> String {
        format!("its output so far:\n{}", self.describe())
    }

    fn describe(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}\n",
            self.name,
            self.stdout_lines().join("\n"),
            self.name,
            self.stderr_lines().join("\n")
        )
    }

    /// Has the process exited? Once it has, the output threads are joined
    /// so that every line it printed is in.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
            }
        }
        self.status
    }

    fn wait_for_line(
        &mut self,
        what: &str,
        stderr: bool,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let awaited = format!("{} to print {what}", self.name);
        wait_for(&awaited, || {
            let exited = self.try_exit_status().is_some();
            let lines = if stderr {
                self.stderr_lines()
            } else {
                self.stdout_lines()
            };
            if let Some(line) = lines.iter().find(|l| pred(l)) {
                return Ok(line.clone());
            }
            if exited {
                panic!(
                    "{} exited ({:?}) without printing {what}\n{}",
                    self.name,
                    self.status,
                    self.describe()
                );
            }
            Err(self.output_so_far())
        })
    }

    /// Waits until a line of stdout (a command's result) satisfies `pred`
    /// and returns it.
    pub fn wait_for_output(&mut self, what: &str, pred: impl FnMut(&str) -> bool) -> String {
        self.wait_for_line(what, false, pred)
    }

    /// Waits until a line of the log (standard error: events, notices and
    /// `--trace`) satisfies `pred` and returns it.
    pub fn wait_for_log(&mut self, what: &str, pred: impl FnMut(&str) -> bool) -> String {
        self.wait_for_line(what, true, pred)
    }

    /// Waits until a line of stdout or stderr satisfies `pred`.
    pub fn wait_for_any_output(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let awaited = format!("{} to print {what}", self.name);
        wait_for(&awaited, || {
            let exited = self.try_exit_status().is_some();
            if let Some(line) = self.all_lines().iter().find(|l| pred(l)) {
                return Ok(line.clone());
            }
            if exited {
                panic!(
                    "{} did not print {what} (exited: {:?})\n{}",
                    self.name,
                    self.status,
                    self.describe()
                );
            }
            Err(self.output_so_far())
        })
    }

    /// Polls until `addr` accepts connections; fails at once if the process
    /// exits first.
    pub fn wait_for_port(&mut self, addr: &str) {
        let sock = addr.parse().expect("socket address");
        let awaited = format!("{} to listen on {addr}", self.name);
        wait_for(&awaited, || {
            if TcpStream::connect_timeout(&sock, READ_TIMEOUT).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.try_exit_status() {
                panic!(
                    "{} exited ({status}) before listening on {addr}\n{}",
                    self.name,
                    self.describe()
                );
            }
            Err(self.output_so_far())
        })
    }

    /// Waits for the process to exit by itself and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let awaited = format!("{} to exit", self.name);
        wait_for(&awaited, || {
            self.try_exit_status().ok_or_else(|| self.output_so_far())
        })
    }

    /// Kills the process (like `kill -9`) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.status = Some(status);
            }
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.describe());
        }
    }
}

/// Runs one command in a node's shell (peer) or console (tracker) and
/// returns the stdout lines printed while it ran. The command is followed
/// by a marker, a one-word unknown command. Both answer it on stdout with
/// an error line that quotes it (`error: unknown command "zz-mark-0" (type
/// help)`: the peer quotes the first word, the tracker the whole line, the
/// same here), so the helper waits for the quoted marker, not the wording.
/// Both run commands in order, so once that line is out, so is all of the
/// command's output. (On the tracker, log lines may be mixed in.)
pub fn run(node: &mut Node, command: &str) -> Vec<String> {
    static MARK: AtomicUsize = AtomicUsize::new(0);
    let mark = format!("zz-mark-{}", MARK.fetch_add(1, Ordering::SeqCst));
    let quoted = format!("\"{mark}\"");
    let before = node.stdout_lines().len();
    node.send_line(command);
    node.send_line(&mark);
    node.wait_for_output(&format!("the end of the output of `{command}`"), |l| {
        l.contains(&quoted)
    });
    let lines = node.stdout_lines();
    let end = lines
        .iter()
        .position(|l| l.contains(&quoted))
        .expect("marker line");
    lines[before..end].to_vec()
}

/// Asserts that some line of `lines` satisfies `pred`; returns it.
pub fn find_line<'a>(lines: &'a [String], what: &str, pred: impl Fn(&str) -> bool) -> &'a str {
    lines
        .iter()
        .find(|l| pred(l))
        .unwrap_or_else(|| panic!("expected {what} in the output:\n{}", lines.join("\n")))
}

/// Starts `program` with `args` under an open-file limit of `limit`
/// (through `sh -c 'ulimit -n LIMIT; exec ...'`), as a user with a low
/// limit would run it.
pub fn spawn_with_open_file_limit(
    name: &str,
    limit: u64,
    program: &str,
    args: &[String],
    cwd: &Path,
) -> Node {
    let mut sh_args = vec![
        "-c".to_string(),
        format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
        program.to_string(),
    ];
    sh_args.extend(args.iter().cloned());
    Node::spawn(name, "sh", &sh_args, cwd)
}
