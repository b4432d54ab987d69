//! The tracker's page (`tracker --web PORT`): the index as tables, and
//! the protocol as a live sequence diagram, for a class to watch.
//!
//! What it reads (`GET`): the page, `/api/state` (the peers
//! online with their files, every file with its holders) and `/events`
//! (every protocol line the tracker sends or receives, and its log). What
//! it does (`POST`): the console's `ping` and `discover`, with the same
//! words as the console. Their status says how it went: 404 for a peer
//! the settings file does not know, 409 for pinging the tracker itself,
//! 502 for a peer that did not answer.

use crate::server::Server;
use crate::tracker::console;
use crate::tracker::Tracker;
use crate::web::events::Hub;
use crate::web::http::{Exchange, HttpError, Method, Response};
use crate::web::{json, WebOptions};
use crate::wire::connection::ping_peer;
use std::net::SocketAddr;
use std::sync::Arc;

const TRACKER_HTML: &str = include_str!("tracker.html");
const TRACKER_JS: &str = include_str!("tracker.js");

/// Every path the page serves, with its method.
const PATHS: &[(&str, Method)] = &[
    ("/", Method::Get),
    ("/tracker.js", Method::Get),
    ("/api/state", Method::Get),
    ("/events", Method::Get),
    ("/api/hold", Method::Get),
    ("/api/ping", Method::Post),
    ("/api/discover", Method::Post),
];

/// A running tracker page. Dropping it stops serving the page.
pub struct TrackerPage {
    server: Server,
    /// The address to open, token included.
    url: String,
}

impl TrackerPage {
    /// Serves `tracker`'s page as `options` say.
    pub fn start(tracker: Arc<Tracker>, options: WebOptions) -> crate::Result<TrackerPage> {
        let listener = options.listen()?;
        let hub = Hub::new();
        hub.follow(tracker.log());
        let log = tracker.log().clone();
        let route = Arc::new(move |exchange| route(&tracker, &hub, exchange));
        let super::Served { server, url } = super::start(listener, &log, route)?;
        Ok(TrackerPage { server, url })
    }

    /// The address the page is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The address to open in a browser, its token included.
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn route(tracker: &Tracker, hub: &Hub, exchange: Exchange) {
    let request = &exchange.request;
    let result = match (request.method, request.path.as_str()) {
        (Method::Get, "/") => Ok(Response::asset("text/html; charset=utf-8", TRACKER_HTML)),
        (Method::Get, "/tracker.js") => Ok(Response::asset(
            "text/javascript; charset=utf-8",
            TRACKER_JS,
        )),
        (Method::Get, "/api/state") => Ok(Response::json(state(tracker))),
        (Method::Get, "/api/hold") => return hub.hold(exchange),
        (Method::Get, "/events") => return hub.serve(exchange),
        (Method::Post, "/api/ping") => ping(tracker, &exchange),
        (Method::Post, "/api/discover") => discover(tracker, &exchange),
        _ => return super::shared_or_not_routed(exchange, PATHS),
    };
    exchange.respond_with(result);
}

/// The peers online and every file with its holders.
fn state(tracker: &Tracker) -> String {
    let settings = tracker.settings();
    let name = |addr: SocketAddr| settings.id_of(addr).unwrap_or("").to_string();
    let peers = json::array(tracker.peers().into_iter().map(|(addr, records)| {
        format!(
            r#"{{"id":{},"addr":{},"files":{}}}"#,
            json::string(&name(addr)),
            json::string(&addr.to_string()),
            json::strings(records.iter().map(|record| record.name.as_str()))
        )
    }));
    let files = json::array(console::holders_by_file(tracker).into_iter().map(
        |(file, holders)| {
            let holders: Vec<String> = holders
                .into_iter()
                .map(|addr| settings.describe(addr))
                .collect();
            format!(
                r#"{{"name":{},"holders":{}}}"#,
                json::string(&file),
                json::strings(holders.iter().map(String::as_str))
            )
        },
    ));
    let nodes = json::array(settings.nodes.iter().map(|node| {
        format!(
            r#"{{"id":{},"addr":{}}}"#,
            json::string(&node.id),
            json::string(&node.addr.to_string())
        )
    }));
    format!(
        r#"{{"addr":{},"peers":{peers},"files":{files},"nodes":{nodes}}}"#,
        json::string(&tracker.local_addr().to_string())
    )
}

/// The address of the peer the request names (an id of the settings
/// file, or ip:port), or a 404 that says why not.
fn named_peer(tracker: &Tracker, exchange: &Exchange) -> Result<SocketAddr, HttpError> {
    let peer = exchange.request.required("peer")?;
    tracker
        .settings()
        .resolve(peer)
        .map_err(|error| HttpError::new(404, error.to_string()))
}

/// `ping PEER`, as the console says it, with a status that follows how it
/// went.
fn ping(tracker: &Tracker, exchange: &Exchange) -> Result<Response, HttpError> {
    let addr = named_peer(tracker, exchange)?;
    let settings = tracker.settings();
    let who = settings.describe(addr);
    if addr == tracker.local_addr() || settings.tracker().ok() == Some(addr) {
        let text = format!("{who} is this tracker: ping a peer (id or ip:port)");
        return Err(HttpError::new(409, text));
    }
    let time = ping_peer(addr, tracker.log())
        .map_err(|error| HttpError::new(502, format!("{who} is unreachable: {error}")))?;
    let ms = time.as_secs_f64() * 1000.0;
    Ok(text_answer(&format!("PONG from {who} in {ms:.2} ms")))
}

/// `discover PEER`: the console's text, for a peer the settings file
/// knows.
fn discover(tracker: &Tracker, exchange: &Exchange) -> Result<Response, HttpError> {
    named_peer(tracker, exchange)?;
    let peer = exchange.request.required("peer")?;
    Ok(text_answer(console::discover(tracker, peer).trim_end()))
}

/// `{"text": ...}`, the answer the page shows.
fn text_answer(text: &str) -> Response {
    Response::json(format!(r#"{{"text":{}}}"#, json::string(text)))
}
