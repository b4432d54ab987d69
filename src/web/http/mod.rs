//! The web page's HTTP/1.1: one bounded request in, one response out.
//!
//! HTTP is one more line-based text protocol over TCP, like ours: a request
//! line (`GET /api/state HTTP/1.1`), header lines (`Host: 127.0.0.1:8080`),
//! an empty line, then, for a `POST`, a body of exactly `Content-Length`
//! bytes. The reply is a status line (`HTTP/1.1 200 OK`), headers, an empty
//! line and a body.
//!
//! The same rules as for our protocol hold here:
//! - input is bounded: a line of [`MAX_LINE`] bytes, [`MAX_HEADERS`]
//!   headers, the whole head within [`REQUEST_TIMEOUT`] of connecting
//!   however slowly its bytes come, a body never held in memory but
//!   streamed, and never longer than the route allows;
//! - every bad request gets a status and one sentence saying what was wrong
//!   and what to do, never a silent close;
//! - one request per connection (`Connection: close`): a browser opens a
//!   few connections at once, each served by a thread of its own under the
//!   server's cap, exactly like peers.
//!
//! And one rule of the web: a page of another site, open in the same
//! browser, must not be able to make this program do anything.
//! [`check_host`] refuses a `Host` that is a name other than `localhost`
//! (a page on `evil.example` that makes its name point at 127.0.0.1, "DNS
//! rebinding", still sends `Host: evil.example`); [`check_origin`] refuses a
//! `POST` that does not come from this very page. Only `POST` changes
//! anything. (Other users of this machine are kept out by the page's
//! token: see `crate::web::token`.)
//!
//! Two files: [`message`] parses and formats (pure: text in, value or
//! [`HttpError`] out, tested without a socket); this one owns the socket:
//! it reads a request's head within its deadline, streams a body, and
//! writes the response.
//!
//! # The limits, as a browser or a curious student meets them
//!
//! What keeps other web sites out: the page answers only requests whose
//! `Host` is an IP address or `localhost` with its port (a site that points
//! its own name at 127.0.0.1, "DNS rebinding", still sends its name, and is
//! refused with 403); only `POST` acts, and a `POST` must carry the page's
//! own `Origin` (a form or script on another site is refused with 403); the
//! page may not be framed by another site. The HTTP side is bounded like the
//! protocol: a request line or header of 8 KiB at most (else 414 or 431), 64
//! headers (431), the whole head within 10 s of connecting however slowly it
//! trickles (408), a body with a `Content-Length` of digits only (400 for
//! `+5`; 411 without, 501 for chunked, 413 over 1 GiB, also for 10^30) and
//! streamed; a body cut short, or stalled for 30 s, is 400 with that said in
//! words, and leaves nothing; a publish's body has the time an upload of its
//! size has (10 s plus a second per 64 KiB), then it is cut off; a method
//! other than GET and POST is 405. A path or parameter holding a control character (a NUL, a line end) or an
//! invisible one (a right-to-left override, a zero-width space) is 400, with
//! the character named, before any code uses it. Every refusal says what was
//! wrong in one sentence. Past 32 connections at once the page answers 503,
//! and one source address has a quarter of them (8): it may use more while
//! nobody else needs the room, but when the page is full, a connection from
//! another address takes the place of the newest one of the address that
//! holds the most (the protocol port has the same rule, see "What it
//! guarantees"). Other users of the same machine come from the same
//! address, 127.0.0.1, so on the page a connection that has not sent its
//! whole request yet is the first to make room: connections that say
//! nothing cannot keep the owner out.
//!
//! The token (see `crate::web::token`) is 128 bits from `/dev/urandom`,
//! made anew on each run and compared in constant time. Every `/api/`
//! request and the event stream without it, or with a wrong one, get 403, on
//! every page (peer, tracker, demo). `--web-any` adds the network: the token
//! then keeps out whoever does not know it, but it is not encryption.

pub mod message;

pub use message::{
    action_failed, check_host, check_origin, check_text, content_length, parse_header,
    parse_request_line, parse_target, percent_decode, HttpError, Method, Request, Response,
    MAX_HEADERS, MAX_LINE,
};

use crate::error::{is_io_timeout, Error, Result};
use crate::log::Log;
use crate::server::Accepted;
use crate::wire::connection::{split_line, Closer, Split, REQUEST_TIMEOUT, STALL_TIMEOUT};
use message::COMMON_HEADERS;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After the response, how much of a body nobody wanted (say, a refused
/// upload) is read and thrown away before closing. Closing a socket with
/// unread bytes makes the system send a reset, which can destroy the
/// response on its way; reading a little first lets it arrive.
const LINGER_BYTES: u64 = 256 * 1024;

/// How long that reading may take at most.
const LINGER_TIME: Duration = Duration::from_millis(500);

/// An accepted socket of the web server: the raw stream, which the HTTP
/// code below reads and writes itself.
pub struct HttpStream {
    socket: Arc<TcpStream>,
    other_end: SocketAddr,
    /// Set once the request's head is in: until then, a full page may
    /// close this connection to let another in (see `crate::server`).
    settled: Arc<AtomicBool>,
}

impl Accepted for HttpStream {
    fn accept(stream: TcpStream, _log: &Log, _buffer_size: usize) -> Result<HttpStream> {
        let other_end = stream
            .peer_addr()
            .map_err(|e| Error::io("reading the browser's address", e))?;
        stream
            .set_write_timeout(Some(STALL_TIMEOUT))
            .map_err(|e| Error::io("setting up the socket", e))?;
        Ok(HttpStream {
            socket: Arc::new(stream),
            other_end,
            settled: Arc::default(),
        })
    }

    fn closer(&self) -> Closer {
        Closer::for_socket(Arc::clone(&self.socket))
    }

    fn other_end(&self) -> SocketAddr {
        self.other_end
    }

    fn settled(&self) -> Option<Arc<AtomicBool>> {
        Some(Arc::clone(&self.settled))
    }

    fn refuse_busy(self) -> Result<()> {
        let busy = HttpError::new(
            503,
            "busy: too many connections to this page; close some tabs and reload",
        );
        write_response(&self.socket, &busy.response()).map_err(|e| Error::io("answering busy", e))
    }
}

/// One request being answered: its checked head, its body still on the
/// socket.
pub struct Exchange {
    socket: Arc<TcpStream>,
    reader: BufReader<SocketReader>,
    pub request: Request,
}

/// Reads from the shared socket (`&TcpStream` reads, so an `Arc` will do).
struct SocketReader(Arc<TcpStream>);

impl Read for SocketReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

/// Reads one request from `stream`, checks it, and hands it to `route`;
/// a request that fails a check is answered here with its error. `port` is
/// the port the page is served on, which `Host` must name.
pub fn serve(stream: HttpStream, port: u16, route: impl FnOnce(Exchange)) {
    let socket = stream.socket;
    let mut reader = BufReader::with_capacity(MAX_LINE, SocketReader(Arc::clone(&socket)));
    let mut arm =
        |left: Duration| socket.set_read_timeout(Some(left.max(Duration::from_millis(1))));
    let head = read_head(&mut reader, &mut arm);
    if head.is_ok() {
        stream.settled.store(true, Ordering::SeqCst);
    }
    let head = head.and_then(|request| {
        check_host(request.header("host"), port)?;
        if request.method == Method::Post {
            check_origin(request.header("origin"), request.header("host"))?;
        }
        Ok(request)
    });
    match head {
        Ok(request) => route(Exchange {
            socket,
            reader,
            request,
        }),
        Err(error) => {
            let _ = write_response(&socket, &error.response());
            linger(&socket, &mut reader);
        }
    }
}

impl Exchange {
    /// The body, as a reader of exactly `Content-Length` bytes that fails
    /// (with [`io::ErrorKind::UnexpectedEof`]) if the browser stops short.
    pub fn body(&mut self) -> Body<'_> {
        // A body may take long (a large file), as long as bytes keep coming.
        let _ = self.socket.set_read_timeout(Some(STALL_TIMEOUT));
        Body {
            reader: &mut self.reader,
            left: self.request.content_length,
        }
    }

    /// A handle to close this request's connection from another thread.
    pub fn closer(&self) -> Closer {
        Closer::for_socket(Arc::clone(&self.socket))
    }

    /// Sends `response` and closes the connection.
    pub fn respond(mut self, response: Response) {
        let _ = write_response(&self.socket, &response);
        linger(&self.socket, &mut self.reader);
    }

    /// Sends `result`: the response, or the error's.
    pub fn respond_with(self, result: std::result::Result<Response, HttpError>) {
        self.respond(result.unwrap_or_else(|error| error.response()));
    }

    /// Answers nothing until the browser lets go of the request (it closes
    /// the connection), or `limit` passes; then `204 No Content`. The test
    /// hook's way to make a headless browser wait (see `app.js`).
    pub fn hold(mut self, limit: Duration) {
        let _ = self.socket.set_read_timeout(Some(limit));
        let deadline = Instant::now() + limit;
        let mut scrap = [0u8; 64];
        // A GET has no body: a read returns only when the browser closes,
        // or sends bytes nobody asked for, or at the time-out.
        while Instant::now() < deadline {
            match self.reader.read(&mut scrap) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.respond(Response {
            status: 204,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: Vec::new(),
        });
    }

    /// Starts a response that never ends by itself (an event stream):
    /// sends the head with `content_type` and hands back the socket to
    /// write the rest to.
    pub fn start_stream(self, content_type: &str) -> io::Result<Arc<TcpStream>> {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{COMMON_HEADERS}Connection: close\r\n\r\n"
        );
        (&*self.socket).write_all(head.as_bytes())?;
        Ok(self.socket)
    }
}

/// A request's body: at most `left` more bytes.
pub struct Body<'a> {
    reader: &'a mut BufReader<SocketReader>,
    left: u64,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let wanted = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let left = self.left;
        let read = self
            .reader
            .read(&mut buf[..wanted])
            .map_err(|e| stalled(e, left))?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the body was cut off: {} byte(s) never arrived", self.left),
            ));
        }
        self.left -= read as u64;
        Ok(read)
    }
}

/// A body's read error, with a time-out said in words: the system's own
/// ("Resource temporarily unavailable (os error 11)") says nothing to a
/// user. `left` is how many bytes never arrived.
fn stalled(error: io::Error, left: u64) -> io::Error {
    if !is_io_timeout(&error) {
        return error;
    }
    let seconds = STALL_TIMEOUT.as_secs();
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the body stopped: no byte came for {seconds} s, and {left} byte(s) never arrived"),
    )
}

fn write_response(mut socket: &TcpStream, response: &Response) -> io::Result<()> {
    socket.write_all(response.head().as_bytes())?;
    socket.write_all(&response.body)?;
    socket.flush()
}

/// Ends our side, then reads (a little, briefly) what the browser still
/// sends, so that the response is not destroyed by a reset (see
/// [`LINGER_BYTES`]).
fn linger(socket: &TcpStream, reader: &mut BufReader<SocketReader>) {
    let _ = socket.shutdown(Shutdown::Write);
    let _ = socket.set_read_timeout(Some(LINGER_TIME));
    let deadline = Instant::now() + LINGER_TIME;
    let mut left = LINGER_BYTES;
    let mut scrap = [0u8; 8192];
    while left > 0 && Instant::now() < deadline {
        match reader.read(&mut scrap) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n as u64),
        }
    }
}

/// Reads and parses the request line and the headers, within
/// [`REQUEST_TIMEOUT`] of the start, however the bytes trickle.
fn read_head<R: Read>(
    reader: &mut BufReader<R>,
    arm: &mut dyn FnMut(Duration) -> io::Result<()>,
) -> std::result::Result<Request, HttpError> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let request_line = read_line(reader, deadline, arm, "request line", 414)?;
    let (method, target) = parse_request_line(&request_line)?;
    let (path, query) = parse_target(&target)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, deadline, arm, "header line", 431)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::new(
                431,
                format!("more than {MAX_HEADERS} header lines"),
            ));
        }
        headers.push(parse_header(&line)?);
    }
    let content_length = content_length(&headers)?;
    if method == Method::Get && content_length > 0 {
        return Err(HttpError::new(400, "a GET request has no body"));
    }
    Ok(Request {
        method,
        path,
        query,
        headers,
        content_length,
    })
}

/// One line ending in `\n` (a `\r` before it is dropped), at most
/// [`MAX_LINE`] bytes (`too_long` is the status for a longer one), by
/// `deadline`. Before each read that may block, `arm` sets the socket's
/// time-out to the time left: a time-out set once per line would let a
/// client that sends a byte every few seconds hold the connection for
/// ever, as every read that returns a byte starts the time-out again. The
/// bound on the line is our protocol's own rule, [`split_line`].
fn read_line<R: Read>(
    reader: &mut BufReader<R>,
    deadline: Instant,
    arm: &mut dyn FnMut(Duration) -> io::Result<()>,
    what: &str,
    too_long: u16,
) -> std::result::Result<String, HttpError> {
    let late = || {
        let seconds = REQUEST_TIMEOUT.as_secs();
        HttpError::new(
            408,
            format!("the request did not arrive within {seconds} s"),
        )
    };
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(late());
        }
        if reader.buffer().is_empty() {
            arm(left).map_err(|e| HttpError::new(500, format!("setting a time-out: {e}")))?;
        }
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_io_timeout(&e) => return Err(late()),
            Err(e) => return Err(HttpError::new(400, format!("reading the {what}: {e}"))),
        };
        if available.is_empty() {
            return Err(HttpError::new(
                400,
                format!("the request ended in the middle of a {what}"),
            ));
        }
        match split_line(line.len(), available, MAX_LINE) {
            Split::TooLong => {
                return Err(HttpError::new(
                    too_long,
                    format!("a {what} longer than {MAX_LINE} bytes"),
                ))
            }
            Split::NeedMore { take } => {
                line.extend_from_slice(&available[..take]);
                reader.consume(take);
            }
            Split::Line { take } => {
                line.extend_from_slice(&available[..take]);
                reader.consume(take + 1);
                break;
            }
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::new(400, format!("a {what} that is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::{read_head, read_line, stalled, HttpError, MAX_LINE};
    use crate::wire::connection::REQUEST_TIMEOUT;
    use std::io;
    use std::io::{BufReader, Read};
    use std::time::{Duration, Instant};

    /// A time-out setter for a reader that is not a socket.
    fn no_socket(_: Duration) -> io::Result<()> {
        Ok(())
    }

    fn line_of(bytes: &[u8], what: &str, too_long: u16) -> std::result::Result<String, HttpError> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        read_line(
            &mut BufReader::new(bytes),
            deadline,
            &mut no_socket,
            what,
            too_long,
        )
    }

    #[test]
    fn lines_are_bounded() {
        let mut long = vec![b'a'; MAX_LINE + 10];
        long.push(b'\n');
        let error = line_of(&long, "header line", 431).unwrap_err();
        assert_eq!(error.status, 431);
        let error = line_of(b"GET / HT", "request line", 414).unwrap_err();
        assert_eq!(error.status, 400, "cut off");
        assert_eq!(
            line_of(b"Host: x\r\nmore", "header line", 431).unwrap(),
            "Host: x"
        );
        let mut longest = vec![b'a'; MAX_LINE];
        longest.push(b'\n');
        assert_eq!(
            line_of(&longest, "header line", 431).unwrap().len(),
            MAX_LINE
        );
    }

    /// Gives one byte per read, like a client that trickles.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_stalled_body_says_so_in_words() {
        let would_block = io::Error::from_raw_os_error(11);
        let message = stalled(would_block, 99).to_string();
        assert_eq!(
            message,
            "the body stopped: no byte came for 30 s, and 99 byte(s) never arrived"
        );
        let other = stalled(io::Error::other("reset"), 99).to_string();
        assert_eq!(other, "reset");
    }

    #[test]
    fn a_head_past_its_deadline_is_late_however_the_bytes_come() {
        let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n";
        let mut reader = BufReader::with_capacity(1, Trickle(head));
        let mut armed = Vec::new();
        let mut arm = |left| {
            armed.push(left);
            Ok(())
        };
        assert_eq!(read_head(&mut reader, &mut arm).unwrap().path, "/");
        assert!(
            armed.len() >= head.len(),
            "the time-out is set before every read"
        );
        assert!(
            armed.windows(2).all(|w| w[1] <= w[0]),
            "and only ever shrinks"
        );
        let past = Instant::now() - Duration::from_millis(1);
        let mut reader = BufReader::with_capacity(1, Trickle(head));
        let error = read_line(&mut reader, past, &mut no_socket, "request line", 414).unwrap_err();
        assert_eq!(error.status, 408);
    }
}
