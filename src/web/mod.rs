//! The web page: a graphical window on a peer, and a live sequence
//! diagram of the tracker's protocol (or of the whole demo), served by the
//! program itself.
//!
//! `peer ID --web PORT`, `tracker --web PORT` and `demo --web PORT` serve
//! a page on `http://127.0.0.1:PORT/`. Nothing is installed and nothing is fetched
//! from the Internet: the HTML, CSS and JavaScript are files next to this
//! one, compiled into the program (`include_str!`), and the server is
//! [`crate::server::Server`], the very thread-per-connection server with a
//! cap that serves our protocol, speaking HTTP ([`http`]) instead.
//!
//! - [`http`]: reading a bounded request, writing a response, and the
//!   checks that keep other web sites out;
//! - [`events`]: live updates (log lines, protocol lines, progress) pushed
//!   to every open page;
//! - [`peer_page`], [`tracker_page`], [`demo_page`]: what each page offers;
//! - [`json`]: the little JSON the pages' scripts read;
//! - [`code`]: the panel behind an arrow: the rules a line keeps and the
//!   function of ours that sent it;
//! - [`token`]: the secret in the page's address, which keeps other users
//!   of this machine off the page.
//!
//! The page listens on loopback only, so only this machine's browser can
//! open it, and only with the address the program printed, token included.
//! `--web-any` listens on every address: then anybody who can reach the
//! port and learns the token can use the page, i.e. download, upload and
//! publish as this peer. The token travels unencrypted (plain HTTP), so
//! anybody who can watch the network sees it. Use it only on a network
//! you trust (a lab), never on the Internet.
//!
//! # The endpoints
//!
//! Every `/api/` path and `/events` need the run's `token=`; the page's own
//! files need none. Only `POST` acts, and a `POST` must carry the page's own
//! `Origin` header (see [`http`]).
//!
//! | endpoint | method | what it does |
//! |---|---|---|
//! | `/`, `/app.css`, `/app.js`, `/sequence.js`, `/peer.js`, `/tracker.js` or `/demo.js` | GET | the page |
//! | `/api/state` | GET | (every `/api/` path and `/events` need `token=`) peer: id, address, joined (and `why_not_joined`, null when joined), files (announced or not), other peers, transfers; tracker: peers, files and holders, the settings' nodes; demo: the nodes, the scene playing, the scene that waits for Next scene, the end |
//! | `/events` | GET | the live event stream |
//! | `/api/hold` | GET | the test hook's (see `src/web/app.js`): answers only once the browser lets go, so that a headless browser prints the page when the hook's steps are done |
//! | `/api/search?name=` | POST | peer: the holders (tracker, or the settings' peers) |
//! | `/api/find?words=` | GET | peer: the tracker's `FIND`, the announced files whose names hold every word (`{"words":[...],"matches":[...],"note":""}`); a core-only tracker's refusal is a 200 with no match and a `note` that says so |
//! | `/api/download?name=&from=IP:PORT` | POST | peer: download from that holder, in the background; answers `{"transfer":N}` |
//! | `/api/fetch?name=` | POST | peer: fetch from all holders, in the background |
//! | `/api/list?peer=` | POST | peer: LIST another peer |
//! | `/api/upload?name=&peer=` | POST | peer: UPLOAD one of our files, in the background |
//! | `/api/publish?name=` | POST | peer: the body becomes the file `name` |
//! | `/api/ping?peer=` | POST | peer or tracker: PING |
//! | `/api/discover?peer=` | POST | tracker: the console's `discover` |
//! | `/api/next` | POST | demo: play the scene that waits; answers `{"scene":N}`, or 409 while a scene plays or once the demo is over |
//!
//! A failed action's status follows the error, with the reason: 400 for a
//! name that breaks a name rule, 404 for a peer the settings file does not
//! know, a file nobody shares or a file to upload that is not ours, 409 for
//! the user's conflict (the file is here already, ping the tracker from the
//! tracker's page, ...), 502 for the other side's failure (a peer that does
//! not answer, refuses, or sends what is not the file), 500 for a bug of
//! ours.
//! Download, fetch and upload are different: they run in the background, so
//! their request answers 200 with a transfer number at once (after the checks
//! that need nobody else: a file that is here already is 409 before any
//! transfer starts), and how they end (done, or failed and why) is in
//! `/api/state` and on the page's progress bar.
//!
//! # The pages' live updates
//!
//! Both pages update themselves by Server-Sent Events (one `GET /events`
//! response per open page that never ends, carrying `log` and `progress`
//! events, see [`events`]); a page opened late starts with the last 500
//! lines. A line longer than [`MAX_SHOWN_TEXT`] bytes (another node may send
//! one of 16 MiB) reaches the pages cut, with `… and N more bytes` after it.
//! No `--trace` is needed: the page hears the protocol either way.

pub mod code;
pub mod demo_page;
pub mod events;
pub mod http;
pub mod json;
pub mod peer_page;
pub mod token;
pub mod tracker_page;
pub mod transfers;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::server::{Limits, Server};
use http::{Exchange, HttpStream, Response};
use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use token::{Token, TOKEN_PARAM};

/// Connections to a page served at once. A page holds one open for its
/// live updates and opens a few more for a moment at each action; 32 is
/// several tabs' worth. One more gets `503 busy`.
pub const WEB_MAX_CONNECTIONS: usize = 32;

/// The most of one text (a log line, an error, a transfer's outcome) the
/// pages are sent, in bytes. Another node may send a line of 16 MiB, every
/// page keeps hundreds of lines, and JSON escaping can make a text six
/// times larger: a line is cut here, saying how much was left out.
pub const MAX_SHOWN_TEXT: usize = 1000;

/// `text`, cut to [`MAX_SHOWN_TEXT`] bytes (at a character's boundary)
/// with `… and N more bytes` after it, if it is longer.
pub fn shown(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_SHOWN_TEXT {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_SHOWN_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let left_out = text.len() - end;
    Cow::Owned(format!("{}… and {left_out} more bytes", &text[..end]))
}

/// The page's style and the scripts the pages share.
const APP_CSS: &str = include_str!("app.css");
const APP_JS: &str = include_str!("app.js");
const SEQUENCE_JS: &str = include_str!("sequence.js");

/// Where to serve a page: `--web PORT`, and `--web-any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebOptions {
    pub port: u16,
    /// Listen on every address instead of loopback only (see the module's
    /// notes on the risk).
    pub any_address: bool,
}

impl WebOptions {
    /// Binds the page's port.
    pub fn listen(&self) -> Result<TcpListener> {
        let ip = if self.any_address {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::LOCALHOST
        };
        let addr = SocketAddr::from((ip, self.port));
        TcpListener::bind(addr).map_err(|e| {
            Error::Other(format!(
                "cannot serve the web page on {addr}: {e} (is something else using port {}? pick another with --web)",
                self.port
            ))
        })
    }
}

/// The address to open in a browser for a page served on `listener_addr`
/// with `token`.
pub fn page_url(listener_addr: SocketAddr, token: &Token) -> String {
    format!(
        "http://127.0.0.1:{}/?{TOKEN_PARAM}={}",
        listener_addr.port(),
        token.as_str()
    )
}

/// A file the pages share, by its path, if `path` names one.
fn shared_asset(path: &str) -> Option<Response> {
    match path {
        "/app.css" => Some(Response::asset("text/css; charset=utf-8", APP_CSS)),
        "/app.js" => Some(Response::asset("text/javascript; charset=utf-8", APP_JS)),
        "/sequence.js" => Some(Response::asset(
            "text/javascript; charset=utf-8",
            SEQUENCE_JS,
        )),
        _ => None,
    }
}

/// A page being served, and the address to open it at.
struct Served {
    server: Server,
    url: String,
}

/// Serves a page on `listener`: each connection gets a thread of its own
/// (under [`WEB_MAX_CONNECTIONS`]), its request is read and checked (the
/// token too, see [`token`]), and `route` answers it.
fn start(
    listener: TcpListener,
    log: &Log,
    route: Arc<dyn Fn(Exchange) + Send + Sync>,
) -> Result<Served> {
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the web page's address", e))?
        .port();
    let token = Token::new();
    let url_token = token.clone();
    let handler: Arc<dyn Fn(HttpStream) + Send + Sync> = Arc::new(move |stream| {
        http::serve(stream, port, |exchange| {
            match token.check(&exchange.request) {
                Ok(()) => route(exchange),
                Err(error) => exchange.respond(error.response()),
            }
        })
    });
    let limits = Limits::new(WEB_MAX_CONNECTIONS, http::MAX_LINE);
    let server = Server::start(listener, limits, log.clone(), handler)?;
    let url = page_url(server.local_addr(), &url_token);
    log.event(&format!("web page on {url} (open it in a browser)"));
    Ok(Served { server, url })
}

/// Answers a request that none of a page's own routes takes: one of the
/// files the pages share, else 404 or 405 (see [`not_routed`]).
fn shared_or_not_routed(exchange: Exchange, paths: &[(&str, http::Method)]) {
    if exchange.request.method == http::Method::Get {
        if let Some(asset) = shared_asset(&exchange.request.path) {
            return exchange.respond(asset);
        }
        if exchange.request.path == "/api/code" {
            let answer = code::answer(&exchange.request);
            return exchange.respond_with(answer);
        }
    }
    not_routed(exchange, paths);
}

/// The answer to a path no route takes: 404, or 405 when the path exists
/// with the other method.
fn not_routed(exchange: Exchange, paths: &[(&str, http::Method)]) {
    let request = &exchange.request;
    let error = if paths.iter().any(|(path, _)| *path == request.path) {
        http::HttpError::new(
            405,
            format!(
                "{} takes {}",
                request.path,
                if request.method == http::Method::Get {
                    "POST: it acts"
                } else {
                    "GET: it only reads"
                }
            ),
        )
    } else {
        http::HttpError::new(404, format!("there is no page {}", request.path))
    };
    exchange.respond(error.response());
}

#[cfg(test)]
mod tests {
    use super::{shown, MAX_SHOWN_TEXT};

    #[test]
    fn a_long_text_is_cut_and_says_how_much_was_left_out() {
        assert_eq!(shown("short"), "short");
        let long = format!("refused: {}", "é".repeat(10_000));
        let cut = shown(&long);
        assert!(cut.len() < MAX_SHOWN_TEXT + 40, "{}", cut.len());
        assert!(cut.starts_with("refused: é"));
        let kept = cut.split('…').next().unwrap().len();
        assert!(
            cut.ends_with(&format!("… and {} more bytes", long.len() - kept)),
            "{cut}"
        );
    }
}
