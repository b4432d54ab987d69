//! A raw protocol client: the tests speak the wire protocol themselves,
//! line by line, to see exactly what a tracker or a peer sends, byte for
//! byte. Every read and write is bounded by `READ_TIMEOUT`, so a server
//! that hangs fails the test instead of stopping it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// Read timeout of the raw protocol client.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a read or write error means the other end closed the
/// connection (a reset counts as a close).
pub fn is_closed_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Whether a read or write error means its time limit ran out.
pub fn is_timeout(e: &io::Error) -> bool {
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

    /// The server's side of a connection a test accepted itself (a test
    /// playing the receiving peer), with the same time limits.
    pub fn accepted(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
            .expect("set timeouts");
        let server = stream.peer_addr().expect("peer address").to_string();
        let local = stream.local_addr().expect("local address").to_string();
        Client {
            reader: BufReader::new(stream),
            server,
            local,
        }
    }

    /// The socket itself, for a test that reads the rest with limits of
    /// its own. Only once nothing is read ahead: bytes the client has
    /// buffered would be lost.
    pub fn into_stream(self) -> TcpStream {
        assert!(
            self.reader.buffer().is_empty(),
            "{} sent more than was read: {:?}",
            self.server,
            String::from_utf8_lossy(self.reader.buffer())
        );
        self.reader.into_inner()
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
