//! Shared helpers for the black-box integration tests.
//!
//! The tests run the real `tracker` and `peer` binaries on free loopback
//! ports, with their own temporary folders and settings files. Every helper
//! here cleans up after itself when dropped, also when a test panics:
//! processes are killed and waited for, temporary folders are removed.
//!
//! Nothing here sleeps for a fixed time to "let things settle": every wait is
//! a poll with a deadline (`wait_until`), which fails with a clear message.
#![allow(dead_code)]

/// Running the protocol checker and reading its report.
pub mod checker;
/// A lab of simulated machines (network namespaces), for the multi-host tests.
pub mod netns;

use p2p_share::open_files::{connections_that_fit, open_file_limit};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

pub mod web;

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two tries of a poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Read timeout of the raw protocol client.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub const TRACKER_BIN: &str = env!("CARGO_BIN_EXE_tracker");
pub const PEER_BIN: &str = env!("CARGO_BIN_EXE_peer");

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// Polls `cond` every 20 ms until it is true; panics naming `what` after
/// `TIMEOUT`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {TIMEOUT:?} waiting for {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Polls until a TCP connection to `addr` succeeds.
pub fn wait_for_port(addr: &str) {
    wait_until(&format!("a server listening on {addr}"), || {
        TcpStream::connect_timeout(&addr.parse().expect("socket address"), READ_TIMEOUT).is_ok()
    });
}

// ---------------------------------------------------------------------------
// The open-file limit
// ---------------------------------------------------------------------------

/// How many connections a test may hold open at once to one tracker or peer
/// it started: `wanted`, or fewer where the open-file limit is lower than
/// that needs (`ulimit -n`: 1024 on many Linux accounts, 256 on macOS).
/// The programs inherit the limit from the tests, and lower their caps to
/// fit it (`p2p_share::open_files`); `spare` of that cap are kept for the
/// test's other connections (probes). This test process holds a socket per
/// connection too, while the other tests of its file run beside it: it
/// takes half the limit at most. Prints one line when `wanted` is lowered.
pub fn connections_within_open_file_limit(wanted: usize, spare: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return wanted;
    };
    let server_cap = connections_that_fit(limit, 1).saturating_sub(spare);
    let ours = usize::try_from(limit / 2).unwrap_or(usize::MAX);
    let fit = wanted.min(server_cap).min(ours);
    if fit < wanted {
        println!(
            "note: the open-file limit (ulimit -n) is {limit}: this test uses {fit} connections, not {wanted}"
        );
    }
    fit
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

// ---------------------------------------------------------------------------
// Ports and temporary folders
// ---------------------------------------------------------------------------

/// Ports handed out below the kernel's range of ephemeral ports (where the
/// source ports of outgoing connections come from, 32768 and up on Linux).
/// A port picked by binding port 0 comes from that very range, so between
/// the test dropping its listener and the program binding the port, any
/// outgoing connection of a test running in parallel could take it as its
/// source port, and the program would fail with "address in use".
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nobody is listening on, different on every call in this
/// test process. Test binaries run one after another; the start depends on
/// the process id, so two test runs side by side rarely pick the same ports.
pub fn free_port() -> u16 {
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    // Processes with neighbouring ids start far apart: 7919 is a prime, so
    // the starts are spread over the whole range.
    let start = (u64::from(std::process::id()) * 7919 % u64::from(span)) as u16;
    let mut offset = next.unwrap_or(start);
    for _ in 0..span {
        let port = PORT_RANGE.start + offset;
        offset = (offset + 1) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(offset);
            return port;
        }
    }
    panic!("no free port in {PORT_RANGE:?}");
}

/// A fresh folder under the system's temporary folder, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(test_name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "p2p-share-test-{}-{}-{}",
            std::process::id(),
            n,
            test_name
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temporary folder");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file in this folder and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, bytes).expect("write test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// File contents and dates
// ---------------------------------------------------------------------------

/// `len` bytes of a deterministic, non-repeating-looking pattern.
pub fn pattern_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Printable text of `len` bytes (for files students would look at).
pub fn text_bytes(len: usize) -> Vec<u8> {
    let line = b"The quick brown fox jumps over the lazy dog. 0123456789\n";
    line.iter().copied().cycle().take(len).collect()
}

/// Every byte value 0..=255, several times over, then a ragged tail:
/// 256 * 4 + 37 = 1061 bytes.
pub fn all_byte_values() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..4).flat_map(|_| 0..=255u8).collect();
    bytes.extend((0..37u8).rev());
    bytes
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sets the last-modified time of `path` to noon UTC of the given date and
/// returns the date as the protocol writes it, `DD/MM/YY`.
pub fn set_file_date(path: &Path, year: i64, month: i64, day: i64) -> String {
    let secs = days_from_civil(year, month, day) * 86_400 + 12 * 3600;
    let time = UNIX_EPOCH + Duration::from_secs(secs as u64);
    let file = fs::File::options()
        .write(true)
        .open(path)
        .expect("open file to set its date");
    file.set_modified(time).expect("set modification time");
    format!("{:02}/{:02}/{:02}", day, month, year % 100)
}

/// The names of the files in `dir` that do not start with '.', sorted.
pub fn visible_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Every entry of a folder, hidden ones included, sorted.
pub fn all_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Polls until the folder holds exactly `expected`, in any order (hidden
/// entries count).
pub fn wait_folder_is(dir: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let what = format!("{} to hold only {expected:?}", dir.display());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let last = all_entries(dir);
        if last == expected {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}; it holds {last:?}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

// ---------------------------------------------------------------------------
// Settings and a small network of nodes
// ---------------------------------------------------------------------------

/// Writes a settings file with one `id address port` line per node.
pub fn write_settings(path: &Path, nodes: &[(&str, u16)]) {
    let mut text = String::from("# written by the integration tests\n");
    for (id, port) in nodes {
        text.push_str(&format!("{id} 127.0.0.1 {port}\n"));
    }
    fs::write(path, text).expect("write settings file");
}

/// A test network: a temporary folder holding a settings file (a tracker and
/// the given peers, each on its own free port) and one served folder per
/// peer (`<tmp>/<id>`).
pub struct Net {
    pub tmp: TempDir,
    pub settings: PathBuf,
    pub tracker_port: u16,
    pub peers: Vec<(String, u16)>,
}

impl Net {
    pub fn new(test_name: &str, peer_ids: &[&str]) -> Net {
        let tmp = TempDir::new(test_name);
        let tracker_port = free_port();
        let peers: Vec<(String, u16)> = peer_ids
            .iter()
            .map(|id| (id.to_string(), free_port()))
            .collect();
        let mut nodes: Vec<(&str, u16)> = vec![("tracker", tracker_port)];
        nodes.extend(peers.iter().map(|(id, port)| (id.as_str(), *port)));
        let settings = tmp.join("settings.txt");
        write_settings(&settings, &nodes);
        for (id, _) in &peers {
            fs::create_dir_all(tmp.join(id)).expect("create served folder");
        }
        Net {
            tmp,
            settings,
            tracker_port,
            peers,
        }
    }

    pub fn tracker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tracker_port)
    }

    pub fn port(&self, id: &str) -> u16 {
        self.peers
            .iter()
            .find(|(peer, _)| peer == id)
            .map(|(_, port)| *port)
            .unwrap_or_else(|| panic!("no peer {id} in this test network"))
    }

    pub fn addr(&self, id: &str) -> String {
        format!("127.0.0.1:{}", self.port(id))
    }

    /// The served folder of a peer.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.tmp.join(id)
    }

    /// Writes a file in a peer's served folder and returns its path.
    pub fn put(&self, id: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir(id).join(name);
        fs::write(&path, bytes).expect("write served file");
        path
    }

    /// Starts `tracker --settings F [extra...]` and waits until it accepts
    /// connections.
    pub fn start_tracker(&self, extra: &[&str]) -> Node {
        let mut args: Vec<String> = vec!["--settings".into(), path_arg(&self.settings)];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node::spawn("tracker", TRACKER_BIN, &args, self.tmp.path());
        node.wait_for_port(&self.tracker_addr());
        node
    }

    /// Starts `peer ID --settings F --dir D [--serve] [extra...]` and waits
    /// until it accepts connections. (Whether it has joined the tracker yet
    /// is for the test to check, e.g. with `Probe::wait_found_at`.)
    pub fn start_peer(&self, id: &str, serve: bool, extra: &[&str]) -> Node {
        let mut args: Vec<String> = vec![
            id.into(),
            "--settings".into(),
            path_arg(&self.settings),
            "--dir".into(),
            path_arg(&self.dir(id)),
        ];
        if serve {
            args.push("--serve".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node::spawn(id, PEER_BIN, &args, self.tmp.path());
        node.wait_for_port(&self.addr(id));
        node
    }

    /// A fake peer joined to this network's tracker, to search with.
    pub fn probe(&self) -> Probe {
        Probe::join(&self.tracker_addr())
    }
}

pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_string()
}

// ---------------------------------------------------------------------------
// A running binary
// ---------------------------------------------------------------------------

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
        let mut child = Command::new(program)
            .args(args)
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
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let exited = self.try_exit_status().is_some();
            let lines = if stderr {
                self.stderr_lines()
            } else {
                self.stdout_lines()
            };
            if let Some(line) = lines.iter().find(|l| pred(l)) {
                return line.clone();
            }
            if exited {
                panic!(
                    "{} exited ({:?}) without printing {what}\n{}",
                    self.name,
                    self.status,
                    self.describe()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {TIMEOUT:?} waiting for {} to print {what}\n{}",
                    self.name,
                    self.describe()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
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

    /// Waits until a line of stderr satisfies `pred` and returns it.
    pub fn wait_for_stderr(&mut self, what: &str, pred: impl FnMut(&str) -> bool) -> String {
        self.wait_for_line(what, true, pred)
    }

    /// Waits until a line of stdout or stderr satisfies `pred`.
    pub fn wait_for_any_output(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let exited = self.try_exit_status().is_some();
            if let Some(line) = self.all_lines().iter().find(|l| pred(l)) {
                return line.clone();
            }
            if exited || Instant::now() >= deadline {
                panic!(
                    "{} did not print {what} (exited: {:?})\n{}",
                    self.name,
                    self.status,
                    self.describe()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls until `addr` accepts connections; fails at once if the process
    /// exits first.
    pub fn wait_for_port(&mut self, addr: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let sock = addr.parse().expect("socket address");
        loop {
            if TcpStream::connect_timeout(&sock, READ_TIMEOUT).is_ok() {
                return;
            }
            if let Some(status) = self.try_exit_status() {
                panic!(
                    "{} exited ({status}) before listening on {addr}\n{}",
                    self.name,
                    self.describe()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {TIMEOUT:?} waiting for {} to listen on {addr}\n{}",
                    self.name,
                    self.describe()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for the process to exit by itself and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.try_exit_status() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {TIMEOUT:?} waiting for {} to exit\n{}",
                    self.name,
                    self.describe()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
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

// ---------------------------------------------------------------------------
// A raw protocol client
// ---------------------------------------------------------------------------

fn is_closed_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Speaks the wire protocol directly over a TcpStream: lines out, lines or
/// raw bytes in, every read bounded by `READ_TIMEOUT`.
pub struct Client {
    reader: BufReader<TcpStream>,
    /// The server's address, for messages.
    pub server: String,
    /// Our own address as the server sees it (`127.0.0.1:ephemeral`).
    pub local: String,
}

/// A raw connection to `addr`: connecting and every write bounded by
/// `READ_TIMEOUT`, reads not bounded (the caller sets what it needs).
pub fn connect_raw(addr: &str) -> TcpStream {
    let sock = addr.parse().expect("socket address");
    let stream = TcpStream::connect_timeout(&sock, READ_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .expect("set write timeout");
    stream
}

impl Client {
    pub fn connect(addr: &str) -> Client {
        let stream = connect_raw(addr);
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        let local = stream.local_addr().expect("local address").to_string();
        Client {
            reader: BufReader::new(stream),
            server: addr.to_string(),
            local,
        }
    }

    /// Sends `line` followed by "\n".
    pub fn send_line(&mut self, line: &str) {
        self.try_send_line(line)
            .unwrap_or_else(|e| panic!("cannot send {line:?} to {}: {e}", self.server));
    }

    /// Sends `line` followed by "\n"; the error is the caller's to judge
    /// (the other end may have closed already).
    pub fn try_send_line(&mut self, line: &str) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(format!("{line}\n").as_bytes())?;
        stream.flush()
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream
            .write_all(bytes)
            .and_then(|_| stream.flush())
            .unwrap_or_else(|e| panic!("cannot send to {}: {e}", self.server));
    }

    /// Reads one line without its "\n" (and "\r"); `None` when the other end
    /// closed the connection. Panics on a timeout.
    pub fn read_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                if buf.last() != Some(&b'\n') {
                    panic!(
                        "{} closed the connection in the middle of a line: {:?}",
                        self.server,
                        String::from_utf8_lossy(&buf)
                    );
                }
                let text = String::from_utf8_lossy(&buf);
                Some(
                    text.trim_end_matches('\n')
                        .trim_end_matches('\r')
                        .to_string(),
                )
            }
            Err(e) if is_closed_error(&e) && buf.is_empty() => None,
            Err(e) if is_timeout(&e) => panic!(
                "no line from {} within {READ_TIMEOUT:?} (got so far: {:?})",
                self.server,
                String::from_utf8_lossy(&buf)
            ),
            Err(e) => panic!("reading from {}: {e}", self.server),
        }
    }

    /// Reads one line; panics if the connection was closed instead.
    pub fn expect_line(&mut self) -> String {
        let server = self.server.clone();
        self.read_line()
            .unwrap_or_else(|| panic!("{server} closed the connection instead of answering"))
    }

    /// Sends a line and returns the one-line answer.
    pub fn request(&mut self, line: &str) -> String {
        self.send_line(line);
        self.expect_line()
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.reader
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {n} bytes from {}: {e}", self.server));
        buf
    }

    /// Reads everything up to the end of the connection (a reset counts as
    /// the end). Panics if the other end keeps it open past the timeout.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match self.reader.read(&mut chunk) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(e) if is_closed_error(&e) => return all,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => panic!(
                    "{} did not close the connection within {READ_TIMEOUT:?} (got {} bytes: {:?})",
                    self.server,
                    all.len(),
                    String::from_utf8_lossy(&all[..all.len().min(200)])
                ),
                Err(e) => panic!("reading from {}: {e}", self.server),
            }
        }
    }

    /// Asserts that the other end closes the connection without sending a
    /// single byte.
    pub fn expect_closed_silently(&mut self, context: &str) {
        let got = self.read_to_end();
        assert!(
            got.is_empty(),
            "{context}: expected the connection to be closed without a word, got {:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// Closes our side for writing (the other end reads end of stream).
    pub fn shutdown_write(&mut self) {
        let _ = self.reader.get_mut().shutdown(Shutdown::Write);
    }

    /// `SEARCH: name` on an accepted tracker session; returns the answer.
    pub fn search(&mut self, name: &str) -> String {
        self.request(&format!("SEARCH: {name}"))
    }
}

// ---------------------------------------------------------------------------
// Tracker helpers: fake peers
// ---------------------------------------------------------------------------

/// A file record as a peer announces it, from 127.0.0.1.
pub fn file_record(name: &str, file_type: &str, size: u64, date: &str, port: u16) -> String {
    format!("<{name}, {file_type}, {size}, {date}, 127.0.0.1, {port}>")
}

/// The location record the tracker answers for a file record.
pub fn location_record(file_type: &str, size: u64, date: &str, port: u16) -> String {
    format!("<{file_type}, {size}, {date}, 127.0.0.1, {port}>")
}

/// Connects to the tracker as a fake peer: HELLO, expects HI, sends the
/// records line. Whether the join was accepted is for the caller to check
/// (the tracker answers nothing either way).
pub fn join_tracker(tracker: &str, records: &str) -> Client {
    let mut client = Client::connect(tracker);
    client.send_line("HELLO");
    let hi = client.expect_line();
    assert_eq!(hi, "HI", "the tracker must answer HELLO with HI");
    client.send_line(records);
    client
}

/// The location records of a `FOUND:` line, each split into its trimmed
/// fields; `None` when the line is not a `FOUND:` answer.
pub fn parse_found(line: &str) -> Option<Vec<Vec<String>>> {
    let rest = line.strip_prefix("FOUND:")?;
    let mut records = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>')? + start;
        let fields = rest[start + 1..end]
            .split(',')
            .map(|f| f.trim().to_string())
            .collect();
        records.push(fields);
        rest = &rest[end + 1..];
    }
    Some(records)
}

/// A fake peer joined to the tracker with one record of its own, used to
/// SEARCH the tracker while the real programs run.
pub struct Probe {
    pub client: Client,
    /// The port announced in the probe's own record (nothing listens there).
    pub port: u16,
}

impl Probe {
    pub fn join(tracker: &str) -> Probe {
        let port = free_port();
        let name = format!("probe-{port}");
        let record = file_record(&name, "none", 1, "01/01/26", port);
        let mut client = join_tracker(tracker, &record);
        let answer = client.search(&name);
        assert_eq!(
            answer,
            format!("FOUND: {}", location_record("none", 1, "01/01/26", port)),
            "the probe's own join must be accepted"
        );
        Probe { client, port }
    }

    pub fn search(&mut self, name: &str) -> String {
        self.client.search(name)
    }

    /// Polls until searching `name` lists a holder on `port`; returns that
    /// location record's fields.
    pub fn wait_found_at(&mut self, name: &str, port: u16) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let answer = self.search(name);
            let found = parse_found(&answer).and_then(|records| {
                records
                    .into_iter()
                    .find(|fields| fields.get(4) == Some(&port.to_string()))
            });
            if let Some(fields) = found {
                return fields;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for the tracker to list {name:?} at port {port}; \
                     last answer: {answer:?}"
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls until searching `name` answers `NOT FOUND`.
    pub fn wait_not_found(&mut self, name: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let answer = self.search(name);
            if answer == "NOT FOUND" {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for the tracker to forget {name:?}; last answer: {answer:?}"
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
}

/// The reply to a `DOWNLOAD:` must be `FILE: ` followed by exactly
/// `content`, and nothing more (the peer closes the connection right after
/// the bytes).
pub fn assert_file_reply(reply: &[u8], content: &[u8], request: &str) {
    assert!(
        reply.starts_with(b"FILE: "),
        "{request:?}: expected \"FILE: \", got {:?}",
        String::from_utf8_lossy(&reply[..reply.len().min(100)])
    );
    let body = &reply[6..];
    assert_eq!(
        body.len(),
        content.len(),
        "{request:?}: wrong number of bytes after \"FILE: \""
    );
    assert!(
        body == content,
        "{request:?}: the bytes after \"FILE: \" are not the expected ones"
    );
}

// ---------------------------------------------------------------------------
// A fake seeder for the download side
// ---------------------------------------------------------------------------

/// Listens on a free loopback port, accepts one connection (within the
/// timeout), reads the request line, sends `reply` and closes. The thread
/// returns the request line, or `None` if nobody came.
pub fn fake_seeder(reply: Vec<u8>) -> (u16, JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake seeder");
    let port = listener.local_addr().expect("local address").port();
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        reader.read_line(&mut request).ok()?;
        let mut stream = reader.into_inner();
        let _ = stream.write_all(&reply);
        let _ = stream.flush();
        Some(request.trim_end().to_string())
    });
    (port, handle)
}

// ---------------------------------------------------------------------------
// Commands typed into a peer's shell or the tracker's console
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// A seeded generator (xorshift64*), for the fuzz tests
// ---------------------------------------------------------------------------

/// The fuzz seed when `P2P_FUZZ_SEED` is not set: fixed, so CI runs the same
/// cases every time.
pub const DEFAULT_FUZZ_SEED: u64 = 0x5EED_2026_0004;

/// The fuzz seed of this run: `P2P_FUZZ_SEED` (decimal, or hex with `0x`),
/// else `DEFAULT_FUZZ_SEED`.
pub fn fuzz_seed() -> u64 {
    let Ok(text) = std::env::var("P2P_FUZZ_SEED") else {
        return DEFAULT_FUZZ_SEED;
    };
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("P2P_FUZZ_SEED={text:?} is not a number"))
}

/// xorshift64* (Vigna): tiny, fast, and good enough to pick test inputs.
/// The same seed always gives the same stream, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng::mixed(seed.wrapping_add(0x9E37_79B9_7F4A_7C15))
    }

    /// A generator for case `case` of a run with `seed`: every case has its
    /// own stream, so cases run in any order (and in parallel) reproducibly.
    pub fn for_case(seed: u64, case: u64) -> Rng {
        Rng::mixed(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Mixes `z` into a state (splitmix64's finaliser): the state must never
    /// be 0, and nearby seeds (1, 2, 3...) must start far apart.
    fn mixed(mut z: u64) -> Rng {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `lo..=hi` random bytes.
    pub fn bytes(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let len = self.range(lo, hi);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A number of any size: small ones are common, huge ones too.
    pub fn number(&mut self) -> u64 {
        match self.below(5) {
            0 => self.below(10) as u64,
            1 => self.below(100_000) as u64,
            2 => self.next() >> self.below(64),
            3 => u64::MAX - self.below(3) as u64,
            _ => 1_000_000_000_000_000_000,
        }
    }
}
