//! Live updates for the pages: Server-Sent Events.
//!
//! Server-Sent Events are the simplest push the web has, and a text
//! protocol again: the page's `EventSource` sends one `GET /events` that
//! never ends, and the server writes an event whenever something happens:
//!
//! ```text
//! event: log
//! data: {"node":"peer1","kind":"trace","other":"tracker","dir":"sent","text":"HELLO",...}
//!
//! ```
//!
//! A [`Hub`] fans events out to every open page: each log line of the
//! nodes it follows (events, and every protocol line even without
//! `--trace`), and the pages' own events (a transfer's progress). It keeps
//! the last [`BACKLOG`] log lines, so that a page opened late, or reloaded,
//! starts with the recent past instead of a blank diagram. It counts the
//! pages open, and can end every page's stream after a last event (the
//! demo's end), so that a program knows when its pages have heard it.

use crate::lock;
use crate::log::{Direction, LineKind, LiveLine, Log};
use crate::web::http::Exchange;
use crate::web::{json, shown};
use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many recent log lines a newly opened page is sent first.
pub const BACKLOG: usize = 500;

/// A page that is sent nothing for this long gets a comment line. Writing
/// is how a closed page is noticed (the write fails), so this bounds how
/// long a closed page's thread lives on.
pub const KEEPALIVE: Duration = Duration::from_secs(2);

/// How many events may wait for one page. A page that stopped reading (a
/// frozen tab) is dropped when its queue is full, rather than hold memory
/// for ever; it reconnects by itself if it wakes up.
const PAGE_QUEUE: usize = 10_000;

/// One event for the pages: its name (`log`, `progress`) and its JSON data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub data: String,
}

impl Event {
    /// The event as the stream carries it. JSON has no raw newline, so the
    /// data is one `data:` line.
    fn frame(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }
}

/// The `log` event for one log line. A protocol line carries where our
/// code sent or read it, for the panel behind its arrow: `"code":
/// {"file":"src/tracker/mod.rs","line":429,"dir":"sent"}`.
pub fn log_event(line: &LiveLine) -> Event {
    let code = match (&line.kind, line.at) {
        (LineKind::Trace { direction, .. }, Some(at)) => Some((at, *direction)),
        _ => None,
    };
    log_event_coded(line, code)
}

/// The `log` event for one log line, with `code` as the place of our code
/// its panel shows (the demo shows a line where it arrived, with the code
/// that sent it).
pub fn log_event_coded(line: &LiveLine, code: Option<(&Location<'_>, Direction)>) -> Event {
    let code = match code {
        Some((at, direction)) => format!(
            r#","code":{{"file":{},"line":{},"dir":"{}"}}"#,
            json::string(at.file()),
            at.line(),
            dir_word(direction)
        ),
        None => String::new(),
    };
    let kind = match &line.kind {
        LineKind::Event => r#""kind":"event""#.to_string(),
        LineKind::Trace {
            other_end,
            direction,
        } => {
            format!(
                r#""kind":"trace","other":{},"dir":"{}""#,
                json::string(&shown(other_end)),
                dir_word(*direction)
            )
        }
    };
    Event {
        name: "log",
        data: format!(
            r#"{{"node":{},"time":{},{kind},"text":{}{code}}}"#,
            json::string(&line.node),
            json::string(&line.time),
            json::string(&shown(&line.text))
        ),
    }
}

/// `sent` or `received`, as the pages' scripts say it.
fn dir_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
    }
}

/// Fans events out to every open page.
pub struct Hub {
    inner: Mutex<HubInner>,
    /// How many events the backlog keeps.
    backlog_max: usize,
    /// How many pages have their stream open now.
    open: AtomicUsize,
}

#[derive(Default)]
struct HubInner {
    backlog: VecDeque<Event>,
    /// One queue per open page; a page whose queue is gone or full is
    /// dropped from the list.
    pages: Vec<SyncSender<Event>>,
    /// [`Hub::finish`] was called: a page opened now gets the backlog,
    /// and its stream ends.
    finished: bool,
}

/// How long [`Hub::hold`] holds its request at most.
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// Counts a page's stream as open while it lives.
struct OpenPage<'a>(&'a AtomicUsize);

impl Drop for OpenPage<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hub {
    /// A hub that keeps the last [`BACKLOG`] events for late pages.
    pub fn new() -> Arc<Hub> {
        Hub::with_backlog(BACKLOG)
    }

    /// A hub that keeps the last `backlog_max` events for late pages.
    pub fn with_backlog(backlog_max: usize) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::default(),
            backlog_max,
            open: AtomicUsize::new(0),
        })
    }

    /// `GET /api/hold`, the test hook's request that keeps a headless
    /// browser waiting until its steps are done (see `app.js`). It counts
    /// as an open page: a demo at its end waits for it, so that the page
    /// has shown the end before the program exits.
    pub fn hold(&self, exchange: Exchange) {
        self.open.fetch_add(1, Ordering::SeqCst);
        let _open = OpenPage(&self.open);
        exchange.hold(HOLD_LIMIT);
    }

    /// How many pages have their event stream open now. A page that was
    /// closed counts until its next write fails (within [`KEEPALIVE`] or
    /// two).
    pub fn open_pages(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Subscribes to `log`: its lines become `log` events, kept in the
    /// backlog. The subscription ends by itself once the hub is gone.
    pub fn follow(self: &Arc<Self>, log: &Log) {
        let hub = Arc::downgrade(self);
        log.subscribe(move |line| match hub.upgrade() {
            Some(hub) => {
                hub.record(log_event(line));
                true
            }
            None => false,
        });
    }

    /// Sends `event` to every open page now (it is not kept for pages
    /// opened later).
    pub fn publish(&self, event: Event) {
        let mut inner = lock(&self.inner);
        send_to_pages(&mut inner.pages, &event);
    }

    /// Keeps `event` in the backlog and sends it to every open page.
    pub fn record(&self, event: Event) {
        let mut inner = lock(&self.inner);
        send_to_pages(&mut inner.pages, &event);
        if inner.backlog.len() >= self.backlog_max {
            inner.backlog.pop_front();
        }
        if self.backlog_max > 0 {
            inner.backlog.push_back(event);
        }
    }

    /// Records `event` as the last one: every open page's stream ends once
    /// it has been written (and so does the stream of a page opened later,
    /// after the backlog). [`Hub::open_pages`] then falls to 0 as soon as
    /// every page has been sent everything.
    pub fn finish(&self, event: Event) {
        self.record(event);
        let mut inner = lock(&self.inner);
        inner.finished = true;
        // Without its sender, a page's queue ends after its last event.
        inner.pages.clear();
    }

    /// Answers `GET /events`: the backlog, a `ready` event, then every
    /// event as it comes, until the page is closed.
    pub fn serve(&self, exchange: Exchange) {
        self.open.fetch_add(1, Ordering::SeqCst);
        let _open = OpenPage(&self.open);
        let (queue, events) = mpsc::sync_channel(PAGE_QUEUE);
        let (backlog, finished): (Vec<Event>, bool) = {
            let mut inner = lock(&self.inner);
            if !inner.finished {
                inner.pages.push(queue);
            }
            (inner.backlog.iter().cloned().collect(), inner.finished)
        };
        let Ok(socket) = exchange.start_stream("text/event-stream") else {
            return;
        };
        let mut start: String = backlog.iter().map(Event::frame).collect();
        start.push_str("event: ready\ndata: {}\n\n");
        if write(&socket, &start).is_err() || finished {
            return;
        }
        loop {
            let text = match events.recv_timeout(KEEPALIVE) {
                Ok(event) => {
                    // Whatever else is waiting goes in the same write.
                    let mut text = event.frame();
                    text.extend(events.try_iter().map(|event| event.frame()));
                    text
                }
                Err(RecvTimeoutError::Timeout) => ": still here\n\n".to_string(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if write(&socket, &text).is_err() {
                return; // the page was closed; dropping `events` unsubscribes it
            }
        }
    }
}

fn send_to_pages(pages: &mut Vec<SyncSender<Event>>, event: &Event) {
    pages.retain(|page| match page.try_send(event.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
    });
}

fn write(mut socket: &TcpStream, text: &str) -> std::io::Result<()> {
    socket.write_all(text.as_bytes())?;
    socket.flush()
}

#[cfg(test)]
mod tests {
    use super::{log_event, Event, Hub, LineKind, LiveLine, BACKLOG};
    use crate::lock;
    use crate::web::Log;
    use crate::wire::trace::Direction;
    use std::panic::Location;
    use std::sync::mpsc;

    #[test]
    fn a_trace_line_becomes_one_json_line() {
        let line = LiveLine {
            node: "peer1".into(),
            time: "10:00:00".into(),
            kind: LineKind::Trace {
                other_end: "tracker".into(),
                direction: Direction::Received,
            },
            text: "FOUND: <txt, 3, 01/01/25, 127.0.0.1, 5001>".into(),
            at: None,
        };
        let event = log_event(&line);
        assert_eq!(event.name, "log");
        assert_eq!(
            event.data,
            r#"{"node":"peer1","time":"10:00:00","kind":"trace","other":"tracker","dir":"received","text":"FOUND: <txt, 3, 01/01/25, 127.0.0.1, 5001>"}"#.replace('<', "\\u003c")
        );
        assert!(!event.frame()[..event.frame().len() - 2].contains("\n\n"));
        // With the place of our code that read it.
        let at = Location::caller();
        let event = log_event(&LiveLine {
            at: Some(at),
            ..line
        });
        let code = format!(
            r#","code":{{"file":"src/web/events.rs","line":{},"dir":"received"}}}}"#,
            at.line()
        );
        assert!(event.data.ends_with(&code), "{}", event.data);
    }

    #[test]
    fn a_huge_line_from_another_node_is_cut_before_it_is_kept() {
        // An `ERROR:` line of 15 MB, of characters JSON escapes six-fold.
        let line = LiveLine {
            node: "peer1".into(),
            time: "12:00:00".into(),
            kind: LineKind::Event,
            text: format!("download failed: refused: {}", "\u{1}".repeat(15_000_000)),
            at: None,
        };
        let event = log_event(&line);
        assert!(event.data.len() < 8 * 1024, "{} bytes", event.data.len());
        assert!(event.data.contains("more bytes"), "{}", &event.data[..200]);
    }

    #[test]
    fn the_backlog_keeps_the_latest_lines_and_gone_pages_are_dropped() {
        let hub = Hub::new();
        let log = Log::new("tracker", false);
        hub.follow(&log);
        for n in 0..BACKLOG + 3 {
            log.event(&format!("line {n}"));
        }
        let inner = lock(&hub.inner);
        assert_eq!(inner.backlog.len(), BACKLOG);
        assert!(inner.backlog[0].data.contains("\"line 3\""));
        drop(inner);
        let (page, gone) = mpsc::sync_channel(4);
        lock(&hub.inner).pages.push(page);
        drop(gone);
        hub.publish(Event {
            name: "progress",
            data: "{}".into(),
        });
        assert!(lock(&hub.inner).pages.is_empty());
    }
}
