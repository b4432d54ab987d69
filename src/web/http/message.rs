//! HTTP's messages as text: parsing a request's head and formatting a
//! response, with the checks that keep other web sites out. Everything
//! here is pure (text in, value or [`HttpError`] out, no socket), so it is
//! tested below without one; the stream that reads and writes them is the
//! module above.

use crate::error::Error;
use crate::web::shown;
use std::net::IpAddr;

/// The longest request line or header line read (8 KiB, as many servers
/// allow). A longer one gets 414 or 431.
pub const MAX_LINE: usize = 8 * 1024;

/// The most header lines read; a browser sends about fifteen.
pub const MAX_HEADERS: usize = 64;

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
    pub fn required(&self, name: &str) -> Result<&str, HttpError> {
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

/// An action of the program failed. The status follows the kind of error:
/// 502 when another node failed or refused (the request itself was fine),
/// 404 for a name or peer nobody knows, 400 for a name that breaks a rule,
/// 500 for a bug of ours, and 409 for the rest (a file that exists
/// already, not joined: the user's conflict).
pub fn action_failed(error: &Error) -> HttpError {
    let status = match error {
        Error::Io { .. }
        | Error::Protocol(_)
        | Error::Unexpected { .. }
        | Error::Remote(_)
        | Error::LineTooLong { .. }
        | Error::OtherSide(_)
        | Error::Closed => 502,
        // The name the page sent breaks the protocol's rule for names.
        Error::BadName { .. } => 400,
        Error::Unknown(_) | Error::NotServed { .. } => 404,
        Error::Panicked(_) => 500,
        Error::Usage(_)
        | Error::Settings { .. }
        | Error::AlreadyServing(_)
        | Error::CurrentlyReceiving(_)
        | Error::NotJoined(_)
        | Error::Conflict(_)
        | Error::Other(_) => 409,
    };
    HttpError::new(status, shown(&error.to_string()))
}

/// The words of the status lines we send.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
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
    pub(super) fn head(&self) -> String {
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
pub(super) const COMMON_HEADERS: &str = "Cache-Control: no-store\r\n\
X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: DENY\r\n\
Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
Referrer-Policy: no-referrer\r\n";

/// `GET /path?query HTTP/1.1` into the method and the target.
pub fn parse_request_line(line: &str) -> Result<(Method, String), HttpError> {
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
/// A path or parameter that decodes to a control character (a NUL, a line
/// end) or to an invisible character is refused here, before any code
/// sees it (see [`check_text`]).
pub fn parse_target(target: &str) -> Result<(String, Vec<(String, String)>), HttpError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path)?;
    check_text("the path", &path)?;
    let mut params = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name)?, percent_decode(value)?);
        check_text("a parameter's name", &name)?;
        check_text(&format!("the parameter {name}="), &value)?;
        params.push((name, value));
    }
    Ok((path, params))
}

/// Refuses `text` (`what` says which part of the request it is) if it
/// holds a control character or a character that hides or reorders text.
/// A parameter ends up in file names, log lines and thread names: a NUL
/// there makes std panic, a line end forges a log line, and a
/// right-to-left override makes `txt.exe` look like `exe.txt`.
pub fn check_text(what: &str, text: &str) -> Result<(), HttpError> {
    match text.chars().find(|&c| c.is_control() || is_invisible(c)) {
        None => Ok(()),
        Some(c) => Err(HttpError::new(
            400,
            format!(
                "{what} holds the character U+{:04X}, which is {}: type it without",
                u32::from(c),
                if c.is_control() {
                    "a control character"
                } else {
                    "invisible or reorders the text around it"
                }
            ),
        )),
    }
}

/// Characters that show nothing, or change the order in which the text
/// around them shows: the bidirectional controls and the zero-width ones.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{00AD}'
    )
}

/// Undoes `%XX` escapes (and `+` for a space, as forms write it).
pub fn percent_decode(text: &str) -> Result<String, HttpError> {
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
pub fn parse_header(line: &str) -> Result<(String, String), HttpError> {
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
pub fn content_length(headers: &[(String, String)]) -> Result<u64, HttpError> {
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
    // Digits only: `parse` would take `+5` too, which HTTP does not allow.
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::new(
            400,
            format!("Content-Length {first:?} is not a number of bytes (digits only)"),
        ));
    }
    // All digits, so it fails only when it does not fit in 64 bits: far
    // larger than any body a page takes.
    first.parse().map_err(|_| {
        HttpError::new(
            413,
            format!("Content-Length {first} is larger than any body this page takes"),
        )
    })
}

/// Refuses a `Host` that is not this page's: it must name our `port`, and
/// its host must be an IP address or `localhost`. A name is refused: a
/// page that made its own name point here (DNS rebinding) sends its name.
pub fn check_host(host: Option<&str>, port: u16) -> Result<(), HttpError> {
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
pub fn check_origin(origin: Option<&str>, host: Option<&str>) -> Result<(), HttpError> {
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
    use super::{
        action_failed, check_host, check_origin, content_length, parse_header, parse_request_line,
        parse_target, percent_decode, HttpError, Method, Response,
    };
    use crate::Error;

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
    fn a_failed_action_has_the_status_of_its_kind_of_error() {
        let status = |error: Error| action_failed(&error).status;
        assert_eq!(status(Error::Remote("no".into())), 502);
        assert_eq!(status(Error::Closed), 502);
        assert_eq!(status(Error::LineTooLong { limit: 1 }), 502);
        assert_eq!(
            status(Error::io("reading", std::io::Error::other("reset"))),
            502
        );
        assert_eq!(status(Error::AlreadyServing("a.txt".into())), 409);
        assert_eq!(status(Error::CurrentlyReceiving("a.txt".into())), 409);
        assert_eq!(status(Error::NotJoined("not joined".into())), 409);
        assert_eq!(status(Error::Conflict("six files".into())), 409);
        assert_eq!(status(Error::OtherSide("bad bytes".into())), 502);
        assert_eq!(status(Error::Unknown("nobody shares a.txt".into())), 404);
        let bad = Error::BadName {
            name: "a\u{0}".into(),
            reason: "a NUL".into(),
        };
        assert_eq!(status(bad), 400);
        assert_eq!(status(Error::Panicked("a transfer".into())), 500);
        // What another node said is cut before it is shown.
        let long = action_failed(&Error::Remote("x".repeat(100_000)));
        assert!(long.message.len() < 2 * crate::web::MAX_SHOWN_TEXT);
    }

    #[test]
    fn a_length_is_digits_only_and_a_huge_one_is_too_large() {
        let length = |value: &str| content_length(&[("content-length".into(), value.into())]);
        assert_eq!(length("0").unwrap(), 0);
        for bad in ["+5", "5 ", "0x10", "", "1e3", "٣"] {
            assert_eq!(length(bad).unwrap_err().status, 400, "{bad:?}");
        }
        let huge = format!("1{}", "0".repeat(30));
        let error = length(&huge).unwrap_err();
        assert_eq!(error.status, 413, "{}", error.message);
    }

    #[test]
    fn a_control_or_invisible_character_in_a_parameter_gets_400_with_the_reason() {
        for target in [
            "/api/download?name=a%00b",
            "/api/upload?name=f.txt&peer=peer%002",
            "/api/fetch?name=%0Afake%20log%20line",
            "/api/search?name=%E2%80%AEtxt.exe",
            "/api/search?name=a%EF%BB%BFb",
            "/api/search?na%01me=x",
            "/api%00/state",
        ] {
            let error = parse_target(target).unwrap_err();
            assert_eq!(error.status, 400, "{target}");
            assert!(error.message.contains("U+"), "{target}: {}", error.message);
        }
        let error = parse_target("/api/download?name=a%00b").unwrap_err();
        assert!(
            error
                .message
                .starts_with("the parameter name= holds the character U+0000"),
            "{}",
            error.message
        );
        assert!(parse_target("/api/search?name=caf%C3%A9%20notes.txt").is_ok());
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
