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
//!   headers, the whole head within [`REQUEST_TIMEOUT`], a body never held
//!   in memory but streamed, and never longer than the route allows;
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
//! anything.
//!
//! The parsing functions are pure (text in, value or [`HttpError`] out) and
//! tested below without a socket.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::server::Accepted;
use crate::wire::connection::{Closer, REQUEST_TIMEOUT, STALL_TIMEOUT};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest request line or header line read (8 KiB, as many servers
/// allow). A longer one gets 414 or 431.
pub const MAX_LINE: usize = 8 * 1024;

/// The most header lines read; a browser sends about fifteen.
pub const MAX_HEADERS: usize = 64;

/// After the response, how much of a body nobody wanted (say, a refused
/// upload) is read and thrown away before closing. Closing a socket with
/// unread bytes makes the system send a reset, which can destroy the
/// response on its way; reading a little first lets it arrive.
const LINGER_BYTES: u64 = 256 * 1024;

/// How long that reading may take at most.
const LINGER_TIME: Duration = Duration::from_millis(500);

/// The two methods the pages use: `GET` reads, `POST` acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request's head, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path, percent-decoded: `/api/search`.
    pub path: String,
    /// The query's `name=value` pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Every header, its name in lower case.
    pub headers: Vec<(String, String)>,
    /// How many body bytes follow (0 without `Content-Length`).
    pub content_length: u64,
}

impl Request {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, or a 400 that names it.
    pub fn required(&self, name: &str) -> std::result::Result<&str, HttpError> {
        match self.param(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(HttpError::new(
                400,
                format!("{} needs the parameter {name}", self.path),
            )),
        }
    }
}

/// A request we will not serve: the status, and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// The response that says so, in plain text.
    pub fn response(&self) -> Response {
        let mut response = Response::text(self.status, &self.message);
        if self.status == 405 {
            response.headers.push(("Allow", "GET, POST".into()));
        }
        response
    }
}

/// An action of the program failed: 502 when another node failed or
/// refused (the request itself was fine), 409 for the rest (a file that
/// exists already, a name nobody shares, not joined).
pub fn action_failed(error: &Error) -> HttpError {
    let status = match error {
        Error::Io { .. }
        | Error::Protocol(_)
        | Error::Unexpected { .. }
        | Error::Remote(_)
        | Error::LineTooLong { .. }
        | Error::Closed => 502,
        Error::Usage(_)
        | Error::Settings { .. }
        | Error::AlreadyServing(_)
        | Error::CurrentlyReceiving(_)
        | Error::NotServed { .. }
        | Error::NotJoined(_)
        | Error::BadName { .. }
        | Error::Other(_) => 409,
    };
    HttpError::new(status, error.to_string())
}

/// The words of the status lines we send.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Plain text (messages, errors).
    pub fn text(status: u16, text: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: format!("{text}\n").into_bytes(),
        }
    }

    /// A JSON document, 200.
    pub fn json(json: String) -> Response {
        Response {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body: json.into_bytes(),
        }
    }

    /// One of the page's files (HTML, CSS, JavaScript), 200.
    pub fn asset(content_type: &'static str, text: &'static str) -> Response {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: text.as_bytes().to_vec(),
        }
    }

    /// The status line and headers, without the body.
    fn head(&self) -> String {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(COMMON_HEADERS);
        head.push_str("Connection: close\r\n\r\n");
        head
    }
}

/// Sent with every response: nothing is cached (the state changes), no
/// other site may frame the page or load scripts into it, a browser must
/// not guess types, and no address leaks to other sites.
const COMMON_HEADERS: &str = "Cache-Control: no-store\r\n\
X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: DENY\r\n\
Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
Referrer-Policy: no-referrer\r\n";

/// An accepted socket of the web server: the raw stream, which the HTTP
/// code below reads and writes itself.
pub struct HttpStream {
    socket: Arc<TcpStream>,
    other_end: SocketAddr,
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
        })
    }

    fn closer(&self) -> Closer {
        Closer::for_socket(Arc::clone(&self.socket))
    }

    fn other_end(&self) -> SocketAddr {
        self.other_end
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
    let head = read_head(&mut reader, &socket).and_then(|request| {
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

    /// Sends `response` and closes the connection.
    pub fn respond(mut self, response: Response) {
        let _ = write_response(&self.socket, &response);
        linger(&self.socket, &mut self.reader);
    }

    /// Sends `result`: the response, or the error's.
    pub fn respond_with(self, result: std::result::Result<Response, HttpError>) {
        self.respond(result.unwrap_or_else(|error| error.response()));
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
        let read = self.reader.read(&mut buf[..wanted])?;
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
/// [`REQUEST_TIMEOUT`] in all.
fn read_head(
    reader: &mut impl BufRead,
    socket: &TcpStream,
) -> std::result::Result<Request, HttpError> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut next_line = |what: &str, too_long: u16| {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = socket.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        read_line(reader, what, too_long)
    };
    let request_line = next_line("request line", 414)?;
    let (method, target) = parse_request_line(&request_line)?;
    let (path, query) = parse_target(&target)?;
    let mut headers = Vec::new();
    loop {
        let line = next_line("header line", 431)?;
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
/// [`MAX_LINE`] bytes; `too_long` is the status for a longer one.
fn read_line(
    reader: &mut impl BufRead,
    what: &str,
    too_long: u16,
) -> std::result::Result<String, HttpError> {
    let mut line = Vec::new();
    let limit = MAX_LINE as u64 + 1;
    match reader.by_ref().take(limit).read_until(b'\n', &mut line) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err(HttpError::new(
                408,
                format!(
                    "the request did not arrive within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ));
        }
        Err(e) => return Err(HttpError::new(400, format!("reading the {what}: {e}"))),
    }
    if line.last() != Some(&b'\n') {
        if line.len() > MAX_LINE {
            return Err(HttpError::new(
                too_long,
                format!("a {what} longer than {MAX_LINE} bytes"),
            ));
        }
        return Err(HttpError::new(
            400,
            format!("the request ended in the middle of a {what}"),
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::new(400, format!("a {what} that is not UTF-8")))
}

/// `GET /path?query HTTP/1.1` into the method and the target.
pub fn parse_request_line(line: &str) -> std::result::Result<(Method, String), HttpError> {
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(HttpError::new(
            400,
            format!("a request line is METHOD TARGET VERSION, not {line:?}"),
        ));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::new(
            505,
            format!("this server speaks HTTP/1.1, not {version:?}"),
        ));
    }
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        other => {
            return Err(HttpError::new(
                405,
                format!("{other:?} is not a method this page takes: GET reads, POST acts"),
            ))
        }
    };
    if !target.starts_with('/') {
        return Err(HttpError::new(
            400,
            format!("the target must be a path starting with /, not {target:?}"),
        ));
    }
    Ok((method, target.to_string()))
}

/// `/api/search?name=a%20b` into `/api/search` and `[("name", "a b")]`.
pub fn parse_target(
    target: &str,
) -> std::result::Result<(String, Vec<(String, String)>), HttpError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path)?;
    let mut params = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((percent_decode(name)?, percent_decode(value)?));
    }
    Ok((path, params))
}

/// Undoes `%XX` escapes (and `+` for a space, as forms write it).
pub fn percent_decode(text: &str) -> std::result::Result<String, HttpError> {
    let bad = || HttpError::new(400, format!("a bad %-escape in {text:?}"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::new(400, format!("{text:?} is not UTF-8")))
}

/// `Name: value` into the lower-case name and the trimmed value.
pub fn parse_header(line: &str) -> std::result::Result<(String, String), HttpError> {
    match line.split_once(':') {
        Some((name, value)) if !name.is_empty() && !name.contains(|c: char| c.is_whitespace()) => {
            Ok((name.to_ascii_lowercase(), value.trim().to_string()))
        }
        _ => Err(HttpError::new(
            400,
            format!("a header line is Name: value, not {line:?}"),
        )),
    }
}

/// The body's length from the headers: 0 without `Content-Length`; a
/// chunked body is refused (the page never sends one).
pub fn content_length(headers: &[(String, String)]) -> std::result::Result<u64, HttpError> {
    if headers.iter().any(|(name, _)| name == "transfer-encoding") {
        return Err(HttpError::new(
            501,
            "Transfer-Encoding is not supported: send the body with a Content-Length",
        ));
    }
    let mut lengths = headers
        .iter()
        .filter(|(name, _)| name == "content-length")
        .map(|(_, value)| value);
    let Some(first) = lengths.next() else {
        return Ok(0);
    };
    if lengths.any(|other| other != first) {
        return Err(HttpError::new(400, "two different Content-Length headers"));
    }
    first
        .parse()
        .map_err(|_| HttpError::new(400, format!("Content-Length {first:?} is not a number")))
}

/// Refuses a `Host` that is not this page's: it must name our `port`, and
/// its host must be an IP address or `localhost`. A name is refused: a
/// page that made its own name point here (DNS rebinding) sends its name.
pub fn check_host(host: Option<&str>, port: u16) -> std::result::Result<(), HttpError> {
    let Some(host) = host else {
        return Err(HttpError::new(400, "the request has no Host header"));
    };
    let wrong = |why: &str| {
        HttpError::new(
            403,
            format!(
                "Host {host:?} {why}: open the page as http://127.0.0.1:{port}/ \
                 (or http://localhost:{port}/, or this machine's IP address)"
            ),
        )
    };
    let (name, given_port) = match host.rsplit_once(':') {
        Some((name, given_port)) if !given_port.contains(']') => (name, given_port),
        _ => return Err(wrong("has no port")),
    };
    if given_port != port.to_string() {
        return Err(wrong("names another port"));
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if name.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(wrong("is a name, not this machine's address"))
    }
}

/// Refuses a `POST` whose `Origin` is not the page it was sent to
/// (`http://` and the `Host` it was sent to): a form or script on another
/// site may send requests here, but its browser says where it came from.
/// Browsers send `Origin` with every `POST`; without one, it is refused too.
pub fn check_origin(
    origin: Option<&str>,
    host: Option<&str>,
) -> std::result::Result<(), HttpError> {
    let expected = format!("http://{}", host.unwrap_or_default());
    match origin {
        Some(origin) if origin == expected => Ok(()),
        Some(origin) => Err(HttpError::new(
            403,
            format!("a POST from another site ({origin}) is refused: only this page ({expected}) may act"),
        )),
        None => Err(HttpError::new(
            403,
            format!("a POST without an Origin header is refused: only this page ({expected}) may act"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_request_line("GET /api/state HTTP/1.1").unwrap(),
            (Method::Get, "/api/state".to_string())
        );
        assert_eq!(
            parse_request_line("DELETE / HTTP/1.1").unwrap_err().status,
            405
        );
        assert_eq!(parse_request_line("GET / HTTP/2").unwrap_err().status, 505);
        assert_eq!(parse_request_line("GET /").unwrap_err().status, 400);
        assert_eq!(
            parse_request_line("GET  / HTTP/1.1").unwrap_err().status,
            400
        );
        assert_eq!(
            parse_request_line("GET http://x/ HTTP/1.1")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn targets_are_split_and_decoded() {
        let (path, query) =
            parse_target("/api/search?name=lecture%20notes.txt&x=a+b&flag").unwrap();
        assert_eq!(path, "/api/search");
        assert_eq!(
            query,
            [
                ("name".to_string(), "lecture notes.txt".to_string()),
                ("x".to_string(), "a b".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
        assert_eq!(percent_decode("%e2%82%AC").unwrap(), "€");
        assert_eq!(percent_decode("%4").unwrap_err().status, 400);
        assert_eq!(percent_decode("%zz").unwrap_err().status, 400);
        assert_eq!(percent_decode("%ff").unwrap_err().status, 400);
    }

    #[test]
    fn headers_and_lengths() {
        assert_eq!(
            parse_header("Content-Length:  12 ").unwrap(),
            ("content-length".to_string(), "12".to_string())
        );
        assert_eq!(parse_header("no colon").unwrap_err().status, 400);
        assert_eq!(parse_header("Bad Name: x").unwrap_err().status, 400);
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(content_length(&headers(&[])).unwrap(), 0);
        assert_eq!(
            content_length(&headers(&[("content-length", "7")])).unwrap(),
            7
        );
        assert_eq!(
            content_length(&headers(&[
                ("content-length", "7"),
                ("content-length", "8")
            ]))
            .unwrap_err()
            .status,
            400
        );
        assert_eq!(
            content_length(&headers(&[("content-length", "-1")]))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            content_length(&headers(&[("transfer-encoding", "chunked")]))
                .unwrap_err()
                .status,
            501
        );
    }

    #[test]
    fn only_an_address_or_localhost_on_our_port_is_a_good_host() {
        for good in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "10.0.0.5:8080",
        ] {
            assert!(check_host(Some(good), 8080).is_ok(), "{good}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "[::1]",
            "localhost.evil.example:8080",
        ] {
            assert_eq!(
                check_host(Some(bad), 8080).unwrap_err().status,
                403,
                "{bad}"
            );
        }
        assert_eq!(check_host(None, 8080).unwrap_err().status, 400);
    }

    #[test]
    fn a_post_must_come_from_this_page() {
        let host = Some("127.0.0.1:8080");
        assert!(check_origin(Some("http://127.0.0.1:8080"), host).is_ok());
        let foreign = check_origin(Some("http://evil.example"), host).unwrap_err();
        assert_eq!(foreign.status, 403);
        assert!(
            foreign.message.contains("evil.example"),
            "{}",
            foreign.message
        );
        assert_eq!(check_origin(None, host).unwrap_err().status, 403);
        assert_eq!(
            check_origin(Some("http://localhost:8080"), host)
                .unwrap_err()
                .status,
            403
        );
    }

    #[test]
    fn lines_are_bounded() {
        let mut long = vec![b'a'; MAX_LINE + 10];
        long.push(b'\n');
        let error = read_line(&mut &long[..], "header line", 431).unwrap_err();
        assert_eq!(error.status, 431);
        let error = read_line(&mut &b"GET / HT"[..], "request line", 414).unwrap_err();
        assert_eq!(error.status, 400, "cut off");
        assert_eq!(
            read_line(&mut &b"Host: x\r\nmore"[..], "header line", 431).unwrap(),
            "Host: x"
        );
    }

    #[test]
    fn responses_carry_their_length_and_the_safety_headers() {
        let head = Response::text(404, "no such page").head();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert!(head.contains("Content-Length: 13\r\n"), "{head}");
        assert!(head.contains("X-Frame-Options: DENY\r\n"), "{head}");
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
        let not_allowed = HttpError::new(405, "no").response().head();
        assert!(
            not_allowed.contains("Allow: GET, POST\r\n"),
            "{not_allowed}"
        );
    }
}
