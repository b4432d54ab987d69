//! The demo's page (`demo --web PORT`): the whole system on one sequence
//! diagram, for a class in front of a projector, and the button that
//! plays the next scene.
//!
//! The demo's stage hands the page everything it prints, in its order
//! ([`Shown`]): the page turns each item into an event for the browsers
//! (a protocol line becomes one arrow from its sender to its receiver, a
//! scene's heading and narration a band across the diagram, a node's log
//! line a line of the System Log). The narration before the first act is
//! the terminal's intro (where the page is, how to read a terminal line):
//! it is not sent, since the page has an intro of its own (`demo.html`).
//! A bad holder of the demo is no node of the settings file: its arrows
//! come from its address, and the page draws them on one more lifeline,
//! "a fourth peer" (`demo.js`). Before each scene the demo waits, as
//! `--step` waits for Enter, for a `POST /api/next` from the page's
//! "Next scene" button ([`DemoPage::wait_for_next`]).
//!
//! What it reads (`GET`): the page, `/api/state` (the nodes, which scene
//! waits, whether the demo is over) and `/events` (every item, from the
//! start: a page opened late or reloaded draws the whole diagram). What it
//! does (`POST`): `/api/next`. It listens on loopback only: the demo is
//! for the machine in front of the class.

use crate::demo::stage::{Audience, Shown};
use crate::log::{Direction, LineKind, LiveLine, Log};
use crate::server::Server;
use crate::web::events::{log_event, log_event_coded, Event, Hub};
use crate::web::http::{Exchange, HttpError, Method, Response};
use crate::web::{json, WebOptions};
use crate::wire::date::clock_time;
use crate::{lock, Result};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const DEMO_HTML: &str = include_str!("demo.html");
const DEMO_JS: &str = include_str!("demo.js");

/// Every path the page serves, with its method.
const PATHS: &[(&str, Method)] = &[
    ("/", Method::Get),
    ("/demo.js", Method::Get),
    ("/api/state", Method::Get),
    ("/events", Method::Get),
    ("/api/hold", Method::Get),
    ("/api/next", Method::Post),
];

/// How many events the page keeps for a page opened late: the whole demo
/// (a few hundred), so that a reload redraws it from the first scene.
const DEMO_BACKLOG: usize = 20_000;

/// Once a page has been opened, how long the demo waits for "Next scene"
/// with no page open before it takes the page for closed and stops. Long
/// enough for a reload (and for a closed page's stream to be noticed, see
/// [`Hub::open_pages`]).
pub const PAGE_GONE_LIMIT: Duration = Duration::from_secs(15);

/// At the end, how long the demo waits for its open pages to be sent the
/// last event before it exits.
const END_WAIT: Duration = Duration::from_secs(5);

/// How often a waiting demo looks whether its pages are still open.
const GATE_POLL: Duration = Duration::from_millis(500);

/// What the page's button said to a demo waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// "Next scene" was pressed: play it.
    Play,
    /// Every page was closed, and none came back within
    /// [`PAGE_GONE_LIMIT`]: stop the demo.
    PageClosed,
}

/// A running demo page. Dropping it stops serving the page.
pub struct DemoPage {
    server: Server,
    /// The address to open, token included.
    url: String,
    shared: Arc<Shared>,
}

/// What the page's connection threads and the demo share.
struct Shared {
    hub: Arc<Hub>,
    /// The nodes, in the order of their lifelines.
    nodes: Vec<String>,
    gate: Mutex<Gate>,
    /// Signalled when "Next scene" is pressed.
    pressed: Condvar,
    /// A page has opened its event stream at least once.
    page_seen: AtomicBool,
    /// The first act has begun. The narration before it is the
    /// terminal's intro (the page's address, how to read `[tracker] peer1
    /// <- PING`): the page has an intro of its own, so it is not sent.
    first_act: AtomicBool,
}

/// Where the demo is: which scene waits for the button, and whether it
/// is over.
#[derive(Default)]
struct Gate {
    /// The scene waiting for "Next scene": its number and title.
    waiting: Option<(usize, String)>,
    /// "Next scene" was pressed for the waiting scene.
    released: bool,
    /// The scene playing (or last played); 0 before the first.
    playing: usize,
    /// Once over: whether all went well, and the last words.
    ended: Option<(bool, String)>,
}

impl DemoPage {
    /// Serves the page on loopback port `port` (0: any free port), for a
    /// demo of `nodes` (their ids, in the order of their lifelines).
    /// `log` hears the page's own events (where it is served).
    pub fn start(port: u16, nodes: Vec<String>, log: &Log) -> Result<DemoPage> {
        let options = WebOptions {
            port,
            any_address: false,
        };
        let listener = options.listen()?;
        let shared = Arc::new(Shared {
            hub: Hub::with_backlog(DEMO_BACKLOG),
            nodes,
            gate: Mutex::default(),
            pressed: Condvar::new(),
            page_seen: AtomicBool::new(false),
            first_act: AtomicBool::new(false),
        });
        let route = {
            let shared = Arc::clone(&shared);
            Arc::new(move |exchange| shared.route(exchange))
        };
        let super::Served { server, url } = super::start(listener, log, route)?;
        Ok(DemoPage {
            server,
            url,
            shared,
        })
    }

    /// The address the page is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The address to open in a browser, its token included.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the demo's stage shows the page.
    pub fn audience(&self) -> Audience {
        let shared = Arc::clone(&self.shared);
        Box::new(move |shown| shared.show(shown))
    }

    /// Waits until "Next scene" is pressed for scene `number`, `title`, or
    /// every page has been closed for [`PAGE_GONE_LIMIT`] (once one was
    /// opened: before that, the teacher is still opening it).
    pub fn wait_for_next(&self, number: usize, title: &str) -> Cue {
        let shared = &self.shared;
        let mut gate = lock(&shared.gate);
        gate.waiting = Some((number, title.to_string()));
        gate.released = false;
        shared.hub.record(Event {
            name: "waiting",
            data: scene_json(number, title),
        });
        let mut gone_since: Option<Instant> = None;
        while !gate.released {
            let open = shared.hub.open_pages() > 0;
            if open || !shared.page_seen.load(Ordering::SeqCst) {
                gone_since = None;
            } else if gone_since.get_or_insert_with(Instant::now).elapsed() >= PAGE_GONE_LIMIT {
                gate.waiting = None;
                return Cue::PageClosed;
            }
            gate = match shared.pressed.wait_timeout(gate, GATE_POLL) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Cue::Play
    }

    /// The demo is over (`ok`: it played to the end): tells the pages, with
    /// `text`, and waits (a few seconds at most) until every open page has
    /// been sent it.
    pub fn end(&self, ok: bool, text: &str) {
        let shared = &self.shared;
        lock(&shared.gate).ended = Some((ok, text.to_string()));
        shared.hub.finish(Event {
            name: "ended",
            data: ended_json(ok, text),
        });
        let deadline = Instant::now() + END_WAIT;
        while shared.hub.open_pages() > 0 && Instant::now() < deadline {
            std::thread::sleep(GATE_POLL / 10);
        }
    }
}

impl Shared {
    fn route(&self, exchange: Exchange) {
        let request = &exchange.request;
        let result = match (request.method, request.path.as_str()) {
            (Method::Get, "/") => Ok(Response::asset("text/html; charset=utf-8", DEMO_HTML)),
            (Method::Get, "/demo.js") => {
                Ok(Response::asset("text/javascript; charset=utf-8", DEMO_JS))
            }
            (Method::Get, "/api/state") => Ok(Response::json(self.state())),
            (Method::Get, "/api/hold") => return self.hub.hold(exchange),
            (Method::Get, "/events") => {
                self.page_seen.store(true, Ordering::SeqCst);
                return self.hub.serve(exchange);
            }
            (Method::Post, "/api/next") => self.next(),
            _ => return super::shared_or_not_routed(exchange, PATHS),
        };
        exchange.respond_with(result);
    }

    /// The nodes, the scene playing, the scene waiting, and the end.
    fn state(&self) -> String {
        let gate = lock(&self.gate);
        let waiting = gate
            .waiting
            .as_ref()
            .map_or("null".to_string(), |(number, title)| {
                scene_json(*number, title)
            });
        let ended = gate
            .ended
            .as_ref()
            .map_or("null".to_string(), |(ok, text)| ended_json(*ok, text));
        format!(
            r#"{{"nodes":{},"playing":{},"waiting":{waiting},"ended":{ended}}}"#,
            json::strings(self.nodes.iter().map(String::as_str)),
            gate.playing
        )
    }

    /// "Next scene": releases the scene that waits, if one does.
    fn next(&self) -> std::result::Result<Response, HttpError> {
        let mut gate = lock(&self.gate);
        if gate.ended.is_some() {
            return Err(HttpError::new(409, "the demo is over"));
        }
        let Some((number, _)) = gate.waiting.clone() else {
            return Err(HttpError::new(
                409,
                format!(
                    "scene {} is still playing: press Next scene once it is over",
                    gate.playing
                ),
            ));
        };
        gate.waiting = None;
        gate.released = true;
        gate.playing = number;
        self.hub.record(Event {
            name: "playing",
            data: format!(r#"{{"number":{number}}}"#),
        });
        self.pressed.notify_all();
        Ok(Response::json(format!(r#"{{"scene":{number}}}"#)))
    }

    /// One item of the stage, as an event for the pages.
    fn show(&self, shown: Shown) {
        let event = match shown {
            Shown::Act(title) => {
                self.first_act.store(true, Ordering::SeqCst);
                Event {
                    name: "act",
                    data: format!(r#"{{"title":{}}}"#, json::string(title)),
                }
            }
            Shown::Narration(_) if !self.first_act.load(Ordering::SeqCst) => return,
            Shown::Scene { number, title } => Event {
                name: "scene",
                data: scene_json(number, title),
            },
            Shown::Narration(text) => Event {
                name: "narration",
                data: format!(r#"{{"text":{}}}"#, json::string(text)),
            },
            // A node's line is a `log` event, as on the other pages: a
            // protocol line is the receiver's trace of it, from its sender.
            Shown::Event { node, text } => log_event(&live_line(node, LineKind::Event, text)),
            Shown::Message {
                from,
                to,
                text,
                code,
            } => {
                let kind = LineKind::Trace {
                    other_end: from.to_string(),
                    direction: Direction::Received,
                };
                log_event_coded(&live_line(to, kind, text), code)
            }
            Shown::Revealed { address, node } => Event {
                name: "revealed",
                data: format!(
                    r#"{{"address":{},"node":{}}}"#,
                    json::string(address),
                    json::string(node)
                ),
            },
        };
        self.hub.record(event);
    }
}

fn live_line(node: &str, kind: LineKind, text: &str) -> LiveLine {
    LiveLine {
        node: node.to_string(),
        time: clock_time(),
        kind,
        text: text.to_string(),
        at: None,
    }
}

fn scene_json(number: usize, title: &str) -> String {
    format!(r#"{{"number":{number},"title":{}}}"#, json::string(title))
}

fn ended_json(ok: bool, text: &str) -> String {
    format!(r#"{{"ok":{ok},"text":{}}}"#, json::string(text))
}
