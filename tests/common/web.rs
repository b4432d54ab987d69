//! Helpers for the web page's tests: a tracker, peers and the demo with
//! `--web` on free ports, a raw HTTP client over `std::net`, an
//! event-stream reader, a process's peak memory, and a headless Chromium
//! with a deadline.

use super::{free_port, Net, Node, TempDir, POLL_INTERVAL};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// How long one HTTP exchange in a test may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a headless browser run may take before the test fails (a
/// cold start of Chromium on a busy machine takes seconds).
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The longest a headless browser waits for a page to load before it
/// dumps or photographs it anyway, in milliseconds (`--timeout`). A page
/// with the test hook counts as loaded once its steps are done (see
/// `src/web/app.js`), in a few seconds; this leaves room on a busy machine.
pub const BROWSER_PAGE_TIME_MS: u64 = 60_000;

/// A node started with `--web PORT`, that port, and the page's token.
pub struct WebNode {
    pub node: Node,
    pub port: u16,
    /// The secret the program printed in the page's address
    /// (`?token=...`); every API request and event stream needs it.
    pub token: String,
}

impl WebNode {
    /// Starts to serve: waits for the page's port and reads the token from
    /// the line that prints the page's address.
    pub fn new(mut node: Node, port: u16) -> WebNode {
        node.wait_for_port(&format!("127.0.0.1:{port}"));
        let start = format!("http://127.0.0.1:{port}/?token=");
        let line = node.wait_for_any_output("the page's address", |line| line.contains(&start));
        let token: String = line[line.find(&start).unwrap_or(0) + start.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        assert_eq!(token.len(), 32, "a token of 32 hex digits in {line:?}");
        WebNode { node, port, token }
    }

    /// `path` with the page's token added to its query.
    pub fn with_token(&self, path: &str) -> String {
        let join = if path.contains('?') { '&' } else { '?' };
        format!("{path}{join}token={}", self.token)
    }

    /// `127.0.0.1:PORT`, the Host of this page.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` + `path`, with the token, as a browser
    /// opens the page.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.host(), self.with_token(path))
    }

    /// GET `path` as this page's browser would (with the token).
    pub fn get(&self, path: &str) -> HttpReply {
        self.get_raw(&self.with_token(path))
    }

    /// GET `path` exactly as given: no token unless `path` has one.
    pub fn get_raw(&self, path: &str) -> HttpReply {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host()
        );
        exchange(self.port, request.as_bytes())
    }

    /// POST `path` with `body`, from this very page (right Host and Origin,
    /// and the token).
    pub fn post(&self, path: &str, body: &[u8]) -> HttpReply {
        self.post_raw(&self.with_token(path), body)
    }

    /// POST `path` exactly as given, from this page's Host and Origin: no
    /// token unless `path` has one.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> HttpReply {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len(),
            host = self.host()
        )
        .into_bytes();
        request.extend_from_slice(body);
        exchange(self.port, &request)
    }

    /// POST `path`, without a body, as a page of another site would send
    /// it: from `origin`, or with no `Origin` at all (the token is there,
    /// so only the Origin is wrong).
    pub fn post_from(&self, origin: Option<&str>, path: &str) -> HttpReply {
        let origin = origin.map_or(String::new(), |origin| format!("Origin: {origin}\r\n"));
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\n{origin}Content-Length: 0\r\n\r\n",
            self.with_token(path),
            self.host()
        );
        exchange(self.port, request.as_bytes())
    }

    /// GET `path` sent to `name` on this page's port: a site that points
    /// its own name at this machine ("DNS rebinding") sends its name.
    pub fn get_as(&self, name: &str, path: &str) -> HttpReply {
        let path = self.with_token(path);
        let request = format!("GET {path} HTTP/1.1\r\nHost: {name}:{}\r\n\r\n", self.port);
        exchange(self.port, request.as_bytes())
    }

    /// Waits until the page's `/api/state` satisfies `pred`; returns it.
    pub fn wait_state(&self, what: &str, mut pred: impl FnMut(&str) -> bool) -> String {
        let mut last = String::new();
        let deadline = Instant::now() + HTTP_TIMEOUT;
        while Instant::now() < deadline {
            last = self.get("/api/state").body_text();
            if pred(&last) {
                return last;
            }
            thread::sleep(POLL_INTERVAL);
        }
        panic!("timed out waiting for the page's state to show {what}; last: {last}");
    }

    /// Waits until the page's transfer `id` ended as `state` (`done` or
    /// `failed`); returns that transfer's JSON object.
    pub fn wait_transfer(&self, id: &str, state: &str) -> String {
        let ended = format!("\"state\":\"{state}\"");
        let json = self.wait_state(&format!("transfer {id} {state}"), |json| {
            transfer_in(json, id).is_some_and(|t| t.contains(&ended))
        });
        transfer_in(&json, id).expect("the transfer").to_string()
    }
}

/// The transfer number in a page's `{"transfer":N}`.
pub fn transfer_id(reply: &HttpReply) -> String {
    let text = reply.body_text();
    text.trim()
        .strip_prefix("{\"transfer\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("no transfer number in {text}"))
        .to_string()
}

/// The JSON object of transfer `id` in a peer page's state, up to the
/// next transfer's.
pub fn transfer_in<'a>(json: &'a str, id: &str) -> Option<&'a str> {
    let start = json.find(&format!("{{\"id\":{id},"))?;
    let rest = &json[start..];
    let end = rest[1..].find("{\"id\":").map_or(rest.len(), |at| at + 1);
    Some(&rest[..end])
}

impl Net {
    /// Starts the tracker with `--web` on a free port.
    pub fn start_web_tracker(&self, extra: &[&str]) -> WebNode {
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["--web", &port_text];
        args.extend_from_slice(extra);
        WebNode::new(self.start_tracker(&args), port)
    }

    /// Starts a serving peer with `--web` on a free port.
    pub fn start_web_peer(&self, id: &str, extra: &[&str]) -> WebNode {
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["--web", &port_text];
        args.extend_from_slice(extra);
        WebNode::new(self.start_peer(id, true, &args), port)
    }
}

/// The demo's program.
pub const DEMO_BIN: &str = env!("CARGO_BIN_EXE_demo");

/// `demo --web PORT` running in a folder of its own (its temporary folder
/// too). Dropping it kills the demo, then removes the folder.
pub struct WebDemo {
    pub page: WebNode,
    _cwd: TempDir,
}

/// Starts `demo --web PORT` on a free port, with `extra` arguments, and
/// waits until its page answers.
pub fn start_web_demo(test_name: &str, extra: &[&str]) -> WebDemo {
    let cwd = TempDir::new(test_name);
    let port = free_port();
    let mut args = vec!["--web".to_string(), port.to_string()];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    // Its temporary folder in ours: a demo killed mid-way (by this guard's
    // drop) cannot remove its own.
    let env = [("TMPDIR", cwd.path())];
    let node = Node::spawn_with_env("demo", DEMO_BIN, &args, cwd.path(), &env);
    WebDemo {
        page: WebNode::new(node, port),
        _cwd: cwd,
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// The head: the status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Panics, showing the reply, unless the status is `status`.
    pub fn expect(&self, status: u16, context: &str) -> &HttpReply {
        assert_eq!(
            self.status,
            status,
            "{context}: expected status {status}, got {}\n{}\n{}",
            self.status,
            self.head,
            self.body_text()
        );
        self
    }
}

/// Connects to the page on `port`, with every read and write bounded.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("cannot connect to the page on port {port}: {e}"));
    bounded(stream)
}

/// `stream`, with every read and write bounded by [`HTTP_TIMEOUT`].
pub fn bounded(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("timeout");
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .expect("timeout");
    stream
}

/// Sends `request` as it is and reads the whole response.
pub fn exchange(port: u16, request: &[u8]) -> HttpReply {
    let mut stream = connect(port);
    // The server may answer (and close) before reading all of a bad
    // request; what it answered is what counts.
    let _ = stream.write_all(request);
    read_reply(&mut stream)
}

/// Reads a response until the server closes the connection.
pub fn read_reply(stream: &mut TcpStream) -> HttpReply {
    let mut bytes = Vec::new();
    if let Err(error) = stream.read_to_end(&mut bytes) {
        assert!(
            !bytes.is_empty(),
            "no response from the page before an error: {error}"
        );
    }
    parse_reply(&bytes)
}

/// A response from its bytes: the head, its status, the body.
pub fn parse_reply(bytes: &[u8]) -> HttpReply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    HttpReply {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}

/// An open `GET /events` stream, read line by line.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// Opens the page's event stream and reads past the backlog, up to
    /// the `ready` event.
    pub fn open(page: &WebNode) -> EventStream {
        EventStream::open_with_backlog(page).0
    }

    /// Opens the page's event stream; returns it and the lines of the
    /// backlog, up to the `ready` event.
    pub fn open_with_backlog(page: &WebNode) -> (EventStream, Vec<String>) {
        let mut stream = connect(page.port);
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            page.with_token("/events"),
            page.host()
        );
        stream.write_all(request.as_bytes()).expect("send request");
        let mut events = EventStream {
            reader: BufReader::new(stream),
        };
        let status = events.next_line(HTTP_TIMEOUT).expect("a status line");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let backlog = events.read_until("the ready event", HTTP_TIMEOUT, |line| {
            line == "event: ready"
        });
        (events, backlog)
    }

    fn next_line(&mut self, left: Duration) -> Option<String> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_string()),
        }
    }

    /// Reads lines until one satisfies `pred`, within `within`; returns it.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl FnMut(&str) -> bool,
    ) -> String {
        let mut lines = self.read_until(what, within, pred);
        lines.pop().unwrap_or_default()
    }

    /// Reads lines until one satisfies `pred`, within `within`; returns
    /// every line read, that one last.
    pub fn read_until(
        &mut self,
        what: &str,
        within: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{what} did not arrive within {within:?}; saw:\n{}",
                    seen.join("\n")
                );
            }
            match self.next_line(left) {
                Some(line) => {
                    let found = pred(&line);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                None if Instant::now() < deadline => {
                    panic!("the event stream ended; saw:\n{}", seen.join("\n"))
                }
                None => {}
            }
        }
    }

    pub fn close(self) {
        let _ = self.reader.get_ref().shutdown(Shutdown::Both);
    }
}

/// A line of `/proc/PID/status` in kB, e.g. `VmHWM` (the peak resident
/// memory) or `VmRSS`.
pub fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The Chromium program, if this machine has one.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            let path = String::from_utf8(found.stdout).ok()?;
            let path = path.trim();
            (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
}

/// Headless Chromium with a profile of its own in a temporary folder.
pub struct Browser {
    program: PathBuf,
    profile: TempDir,
    runs: usize,
}

impl Browser {
    pub fn new(program: PathBuf) -> Browser {
        Browser {
            program,
            profile: TempDir::new("chromium-profile"),
            runs: 0,
        }
    }

    /// Opens `url`, lets its scripts run (a page with the test hook counts
    /// as loaded once its steps are done), and returns the page as it then
    /// is.
    pub fn dump_dom(&mut self, url: &str) -> String {
        self.run(&["--dump-dom", url]).join("\n")
    }

    /// Opens `url` like [`Browser::dump_dom`] and saves a screenshot of
    /// `width` x `height` pixels to `png`.
    pub fn screenshot(&mut self, url: &str, png: &Path, width: u32, height: u32) {
        let shot = format!("--screenshot={}", png.display());
        let size = format!("--window-size={width},{height}");
        self.run(&[&shot, &size, "--hide-scrollbars", url]);
        assert!(
            png.is_file(),
            "no screenshot was written to {}",
            png.display()
        );
    }

    fn run(&mut self, args: &[&str]) -> Vec<String> {
        self.runs += 1;
        let profile = self.profile.join(&format!("run{}", self.runs));
        let mut all: Vec<String> = vec![
            "--headless".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            // Root (CI) needs it; an ordinary user loses nothing by it here.
            "--no-sandbox".into(),
            format!("--user-data-dir={}", profile.display()),
            // A real-time bound on the wait for the page (a virtual-time
            // budget never runs out while the event stream is open).
            format!("--timeout={BROWSER_PAGE_TIME_MS}"),
        ];
        all.extend(args.iter().map(|arg| arg.to_string()));
        let program = self.program.to_str().expect("UTF-8 path").to_string();
        let mut node = Node::spawn("chromium", &program, &all, self.profile.path());
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        loop {
            if let Some(status) = node.try_exit_status() {
                assert!(status.success(), "chromium failed: {status}");
                return node.stdout_lines();
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not finish within {BROWSER_TIMEOUT:?}"
            );
            thread::sleep(POLL_INTERVAL);
        }
    }
}
