//! The page's secret: only whoever started the program may drive its page.
//!
//! The page listens on loopback, which keeps out other machines, but not
//! other users of this one: on a shared lab machine, anybody with a shell
//! could send the right `Host` and `Origin` with `curl`. So each run makes
//! a random token, as Jupyter does, and prints the page's address with it
//! (`http://127.0.0.1:8002/?token=...`). The page's script sends it with
//! every request; an API request or an event stream without it, or with a
//! wrong one, gets 403. Only the terminal that started the program saw it.
//!
//! The page's files themselves (HTML, CSS, JavaScript) need no token: they
//! hold nothing secret, and a page opened without one says what to do.

use crate::web::http::{HttpError, Request};
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// The query parameter that carries the token.
pub const TOKEN_PARAM: &str = "token";

/// How many random bytes a token holds: 128 bits, far too many to guess.
const TOKEN_BYTES: usize = 16;

/// Where the system's random bytes come from (Linux, macOS, the BSDs).
const RANDOM_SOURCE: &str = "/dev/urandom";

/// A page's secret token, as hexadecimal text.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A new random token: from the system's random source, or, where there
    /// is none, from std's randomly seeded hasher.
    pub fn new() -> Token {
        let mut bytes = [0u8; TOKEN_BYTES];
        let from_system = File::open(RANDOM_SOURCE).and_then(|mut f| f.read_exact(&mut bytes));
        if from_system.is_err() {
            bytes = fallback_bytes();
        }
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token as it goes into the page's address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token. The comparison takes as long whatever
    /// `given` holds, so its time tells nothing about how many leading
    /// characters were right.
    pub fn matches(&self, given: &str) -> bool {
        let (ours, theirs) = (self.0.as_bytes(), given.as_bytes());
        if ours.len() != theirs.len() {
            return false;
        }
        let difference = ours
            .iter()
            .zip(theirs)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        difference == 0
    }

    /// Lets `request` through if it needs no token (the page's own files)
    /// or carries this one; else a 403 that says what to do.
    pub fn check(&self, request: &Request) -> Result<(), HttpError> {
        if !needs_token(&request.path) {
            return Ok(());
        }
        let why = match request.param(TOKEN_PARAM) {
            Some(given) if self.matches(given) => return Ok(()),
            Some(_) => "carries a wrong token",
            None => "has no token",
        };
        Err(HttpError::new(
            403,
            format!(
                "{} {why}: open the page at the address the program printed when it started \
                 (it ends in ?token=...), and only that one",
                request.path
            ),
        ))
    }
}

impl Default for Token {
    fn default() -> Token {
        Token::new()
    }
}

/// The paths that read or change the program's state: the API and the
/// event stream.
fn needs_token(path: &str) -> bool {
    path.starts_with("/api/") || path == "/events"
}

/// Random bytes without a system source: std's `RandomState` is seeded
/// randomly for every process, and the time and process id are hashed in
/// too, so two runs never share a token.
fn fallback_bytes() -> [u8; TOKEN_BYTES] {
    let mut bytes = [0u8; TOKEN_BYTES];
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    for (round, part) in bytes.chunks_mut(8).enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(round);
        part.copy_from_slice(&hasher.finish().to_le_bytes()[..part.len()]);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::{fallback_bytes, Request, Token, TOKEN_BYTES};
    use crate::web::http::{parse_target, Method};

    fn request(target: &str) -> Request {
        let (path, query) = parse_target(target).unwrap();
        Request {
            method: Method::Get,
            path,
            query,
            headers: Vec::new(),
            content_length: 0,
        }
    }

    #[test]
    fn tokens_are_long_random_and_differ() {
        let (a, b) = (Token::new(), Token::new());
        assert_eq!(a.as_str().len(), 2 * TOKEN_BYTES);
        assert_ne!(a.as_str(), b.as_str());
        let (c, d) = (fallback_bytes(), fallback_bytes());
        assert_ne!(c, d, "the fallback differs from call to call too");
    }

    #[test]
    fn only_the_right_token_opens_the_api_and_the_events() {
        let token = Token::new();
        let right = token.as_str().to_string();
        let mut wrong = right.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        for path in ["/api/state", "/events", "/api/ping"] {
            assert!(token
                .check(&request(&format!("{path}?token={right}")))
                .is_ok());
            for bad in [
                "",
                "?token=",
                &format!("?token={wrong}"),
                &format!("?token={right}0"),
            ] {
                let error = token.check(&request(&format!("{path}{bad}"))).unwrap_err();
                assert_eq!(error.status, 403, "{path}{bad}");
            }
        }
        for free in ["/", "/app.js", "/peer.js", "/app.css"] {
            assert!(token.check(&request(free)).is_ok(), "{free}");
        }
    }
}
