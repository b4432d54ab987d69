//! The peer's page (`peer ID --web PORT`): the window of the graphical
//! clients of the source systems, in a browser.
//!
//! What it reads (`GET`): the page itself, `/api/state` (who this peer
//! is, whether it is joined and if not why, its files and which are
//! announced, the transfers), `/api/find?words=...` (the tracker's
//! keyword search, FIND, as the search box is typed in), and `/events`,
//! the live log (and a `joining` event whenever why the peer is not
//! joined changes). What it does (`POST`, each
//! one a method of [`Peer`], the very ones the shell calls): search,
//! download from one holder, fetch from all holders, list another peer's
//! files, upload, publish a file sent by the browser, ping.
//!
//! Downloads, fetches and uploads run in a thread of their own, so the
//! request returns at once with a transfer number; their progress reaches
//! the page as `progress` events. A publish is the request's own body,
//! streamed into the served folder as it arrives.

use crate::peer::server::{upload_time_limit, Deadline, MAX_UPLOAD_SIZE, UPLOAD_MIN_RATE};
use crate::peer::Peer;
use crate::server::Server;
use crate::settings::TRACKER_ID;
use crate::web::events::{Event, Hub};
use crate::web::http::{action_failed, Exchange, HttpError, Method, Request, Response};
use crate::web::transfers::{fetch_details, Notes, Transfers};
use crate::web::{json, WebOptions};
use crate::wire::protocol::{check_name, FileRecord, MAX_FIND_RECORDS};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const PEER_HTML: &str = include_str!("peer.html");
const PEER_JS: &str = include_str!("peer.js");

/// Every path the page serves, with its method.
const PATHS: &[(&str, Method)] = &[
    ("/", Method::Get),
    ("/peer.js", Method::Get),
    ("/api/state", Method::Get),
    ("/events", Method::Get),
    ("/api/hold", Method::Get),
    ("/api/find", Method::Get),
    ("/api/search", Method::Post),
    ("/api/download", Method::Post),
    ("/api/fetch", Method::Post),
    ("/api/list", Method::Post),
    ("/api/upload", Method::Post),
    ("/api/publish", Method::Post),
    ("/api/ping", Method::Post),
];

/// A running peer page. Dropping it stops serving the page.
pub struct PeerPage {
    server: Server,
    /// The address to open, token included.
    url: String,
    _watcher: JoinWatcher,
}

impl PeerPage {
    /// Serves `peer`'s page as `options` say.
    pub fn start(peer: Arc<Peer>, options: WebOptions) -> crate::Result<PeerPage> {
        let listener = options.listen()?;
        let hub = Hub::new();
        hub.follow(peer.log());
        let page = Arc::new(Page {
            peer: Arc::clone(&peer),
            transfers: Transfers::new(Arc::clone(&hub)),
            hub,
        });
        let watcher = JoinWatcher::start(Arc::downgrade(&peer), Arc::clone(&page.hub))?;
        let route = Arc::new(move |exchange| Page::route(&page, exchange));
        let super::Served { server, url } = super::start(listener, peer.log(), route)?;
        Ok(PeerPage {
            server,
            url,
            _watcher: watcher,
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
}

/// How long the join watcher waits for a change before it looks whether
/// it must stop: what stopping the page waits at most.
const JOIN_WATCH_WAIT: Duration = Duration::from_millis(200);

/// A thread that tells the open pages whenever why the peer is not joined
/// changes (a `joining` event; the page then reads `/api/state` again). A
/// failed try to rejoin logs nothing new after the first, yet its reason
/// may differ (the tracker was lost, now it refuses connections).
/// Dropping it stops the thread and waits for it: then it holds the peer
/// no more, and the program can end the peer itself.
struct JoinWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JoinWatcher {
    fn start(peer: Weak<Peer>, hub: Arc<Hub>) -> crate::Result<JoinWatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let mut seen = peer.upgrade().and_then(|peer| peer.why_not_joined());
        let thread = thread::Builder::new()
            .name("peer page: join watcher".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    // The peer is held for one short wait at a time only.
                    let Some(now) = peer
                        .upgrade()
                        .map(|peer| peer.wait_why_not_joined(seen.as_deref(), JOIN_WATCH_WAIT))
                    else {
                        return;
                    };
                    if now != seen {
                        hub.publish(Event {
                            name: "joining",
                            data: why_json(now.as_deref()),
                        });
                        seen = now;
                    }
                }
            })
            .map_err(|e| crate::Error::io("starting the peer page's join watcher", e))?;
        Ok(JoinWatcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for JoinWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `{"why": ...}`: why the peer is not joined, or null.
fn why_json(why: Option<&str>) -> String {
    format!(r#"{{"why":{}}}"#, why_json_value(why))
}

/// Why the peer is not joined as a JSON value: a text (cut to what a page
/// shows: it may quote the tracker), or null when it is joined.
fn why_json_value(why: Option<&str>) -> String {
    why.map_or("null".into(), |why| json::string(&super::shown(why)))
}

/// What the page's connection threads share.
struct Page {
    peer: Arc<Peer>,
    hub: Arc<Hub>,
    transfers: Arc<Transfers>,
}

/// What a transfer that worked says: one line, and the lines under it.
struct Done {
    text: String,
    details: Vec<String>,
}

impl Done {
    fn with(text: String, details: Vec<String>) -> Done {
        Done { text, details }
    }
}

/// What a transfer's work is given to report its bytes so far and the
/// size.
type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

impl Page {
    fn route(self: &Arc<Self>, mut exchange: Exchange) {
        let request = &exchange.request;
        let result = match (request.method, request.path.as_str()) {
            (Method::Get, "/") => Ok(Response::asset("text/html; charset=utf-8", PEER_HTML)),
            (Method::Get, "/peer.js") => {
                Ok(Response::asset("text/javascript; charset=utf-8", PEER_JS))
            }
            (Method::Get, "/api/state") => Ok(Response::json(self.state())),
            (Method::Get, "/api/hold") => return self.hub.hold(exchange),
            (Method::Get, "/api/find") => self.find(&exchange),
            (Method::Get, "/events") => return self.hub.serve(exchange),
            (Method::Post, "/api/search") => self.search(&exchange),
            (Method::Post, "/api/download") => self.download(&exchange),
            (Method::Post, "/api/fetch") => self.fetch(&exchange),
            (Method::Post, "/api/list") => self.list(&exchange),
            (Method::Post, "/api/upload") => self.upload(&exchange),
            (Method::Post, "/api/publish") => self.publish(&mut exchange),
            (Method::Post, "/api/ping") => self.ping(&exchange),
            _ => return super::shared_or_not_routed(exchange, PATHS),
        };
        exchange.respond_with(result);
    }

    /// Who this peer is, its files, the other peers, the transfers.
    fn state(&self) -> String {
        let peer = &self.peer;
        let announced = peer.announced();
        let (files, folder_error) = match peer.own_files() {
            Ok(scan) => (scan.files, String::new()),
            Err(error) => (Vec::new(), error.to_string()),
        };
        let files = json::array(files.iter().map(|file| {
            format!(
                r#"{{"name":{},"size":{},"date":{},"announced":{}}}"#,
                json::string(&file.name),
                file.size,
                json::string(&file.modified.to_string()),
                announced.contains(&file.name)
            )
        }));
        let others = json::array(
            peer.settings()
                .nodes
                .iter()
                .filter(|node| node.id != TRACKER_ID && node.addr != peer.addr())
                .map(|node| {
                    format!(
                        r#"{{"id":{},"addr":{}}}"#,
                        json::string(&node.id),
                        json::string(&node.addr.to_string())
                    )
                }),
        );
        let transfers = self.transfers.json();
        // One reading: joined exactly when there is no reason not to be.
        let why = peer.why_not_joined();
        format!(
            r#"{{"id":{},"addr":{},"joined":{},"why_not_joined":{},"folder":{},"folder_error":{},"files":{files},"peers":{others},"transfers":{transfers}}}"#,
            json::string(peer.id()),
            json::string(&peer.addr().to_string()),
            why.is_none(),
            why_json_value(why.as_deref()),
            json::string(&peer.folder().dir().display().to_string()),
            json::string(&folder_error),
        )
    }

    /// Who has `name`: one entry per holder, in the tracker's order.
    fn search(&self, exchange: &Exchange) -> Result<Response, HttpError> {
        let name = exchange.request.required("name")?;
        let holders = self
            .peer
            .find_holders(name)
            .map_err(|e| action_failed(&e))?;
        let holders = json::array(holders.iter().map(|holder| {
            let addr = holder.addr();
            format!(
                r#"{{"id":{},"addr":{},"type":{},"size":{},"date":{},"self":{}}}"#,
                json::string(self.peer.settings().id_of(addr).unwrap_or("")),
                json::string(&addr.to_string()),
                json::string(&holder.file_type),
                holder.size,
                json::string(&holder.modified.to_string()),
                addr == self.peer.addr()
            )
        }));
        Ok(Response::json(format!(
            r#"{{"name":{},"holders":{holders}}}"#,
            json::string(name)
        )))
    }

    /// The tracker's records of every announced file whose name holds each
    /// of `words` (FIND, a keyword search). A tracker that keeps only the
    /// core protocol answers FIND with ERROR:; that is no failure of the
    /// page, so it is a 200 whose `note` says so, with no matches.
    fn find(&self, exchange: &Exchange) -> Result<Response, HttpError> {
        let words: Vec<String> = exchange
            .request
            .required("words")?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if words.is_empty() {
            return Err(HttpError::new(400, "/api/find needs a word to look for"));
        }
        let (records, note) = match self.peer.find(&words) {
            Ok(records) if records.len() >= MAX_FIND_RECORDS => {
                let note =
                    format!("the tracker answers {MAX_FIND_RECORDS} records at most: add a word");
                (records, note)
            }
            Ok(records) => (records, String::new()),
            Err(crate::Error::Remote(reason)) => (Vec::new(), reason),
            Err(error) => return Err(action_failed(&error)),
        };
        let matches = json::array(records.iter().map(|record| {
            let addr = record.addr();
            format!(
                r#"{{"name":{},"type":{},"size":{},"date":{},"addr":{},"id":{}}}"#,
                json::string(&record.name),
                json::string(&record.file_type),
                record.size,
                json::string(&record.modified.to_string()),
                json::string(&addr.to_string()),
                json::string(self.peer.settings().id_of(addr).unwrap_or(""))
            )
        }));
        Ok(Response::json(format!(
            r#"{{"words":{},"matches":{matches},"note":{}}}"#,
            json::array(words.iter().map(|word| json::string(word))),
            json::string(&note)
        )))
    }

    /// "Download from this peer": `name` from the holder at `from`.
    fn download(self: &Arc<Self>, exchange: &Exchange) -> Result<Response, HttpError> {
        let name = exchange.request.required("name")?.to_string();
        let from_text = exchange.request.required("from")?;
        let from: SocketAddr = from_text.parse().map_err(|_| {
            HttpError::new(400, format!("from must be an ip:port, not {from_text:?}"))
        })?;
        self.check_free(&name)?;
        let label = format!("download {name} from {}", self.peer.describe(from));
        self.spawn_transfer(label, move |page, progress| {
            let done = page
                .peer
                .download_from(&name, from, &mut |done, total| progress(done, total))?;
            let text = format!(
                "downloaded {name} ({} bytes) into {}",
                done.size,
                done.path.display()
            );
            Ok(Done::with(text, vec![done.verification.to_string()]))
        })
    }

    /// "Fetch from all holders".
    fn fetch(self: &Arc<Self>, exchange: &Exchange) -> Result<Response, HttpError> {
        let name = exchange.request.required("name")?.to_string();
        self.check_free(&name)?;
        self.spawn_transfer(
            format!("fetch {name} from all holders"),
            move |page, progress| {
                let report = page
                    .peer
                    .fetch(&name, &[], &mut |done, total| progress(done, total))?;
                let senders: Vec<String> = report
                    .chunks_by_peer
                    .iter()
                    .map(|(from, chunks)| {
                        format!("{} sent {chunks} chunk(s)", page.peer.describe(*from))
                    })
                    .collect();
                let text = format!(
                    "fetched {name} ({} bytes): {}",
                    report.size,
                    senders.join(", ")
                );
                let details = fetch_details(&report, |from| page.peer.describe(from));
                Ok(Done::with(text, details))
            },
        )
    }

    /// Another peer's files (LIST).
    fn list(&self, exchange: &Exchange) -> Result<Response, HttpError> {
        let peer = self.named_peer(exchange)?;
        let (who, listed) = self
            .peer
            .list_peers(std::slice::from_ref(&peer))
            .into_iter()
            .next()
            .ok_or_else(|| HttpError::new(500, "the list came back empty"))?;
        let records = listed.map_err(|e| action_failed(&e))?;
        Ok(Response::json(format!(
            r#"{{"peer":{},"files":{}}}"#,
            json::string(&who),
            json::array(records.iter().map(record_json))
        )))
    }

    /// UPLOAD one of our files to another peer.
    fn upload(self: &Arc<Self>, exchange: &Exchange) -> Result<Response, HttpError> {
        let name = exchange.request.required("name")?.to_string();
        let peer = self.named_peer(exchange)?;
        self.own_file(&name)?;
        self.spawn_transfer(format!("upload {name} to {peer}"), move |page, progress| {
            let sent = page
                .peer
                .upload(&name, std::slice::from_ref(&peer), progress)?;
            for (_, result) in sent {
                result?;
            }
            Ok(Done::with(format!("{peer}: uploaded {name}"), Vec::new()))
        })
    }

    /// Publishes the request's body as `name`: streamed into the served
    /// folder through a temporary file, never held in memory, at most
    /// [`MAX_UPLOAD_SIZE`] bytes, like a file uploaded by a peer.
    fn publish(&self, exchange: &mut Exchange) -> Result<Response, HttpError> {
        let name = exchange.request.required("name")?.to_string();
        let size = publish_size(&exchange.request)?;
        let slot = self
            .transfers
            .begin(format!("publish {name}"), size, false)?;
        // A body that trickles may not hold the request and its temporary
        // file for ever: it has the time an upload of its size has.
        let limit = upload_time_limit(size);
        let deadline = Deadline::start(exchange.closer(), limit).map_err(|e| action_failed(&e))?;
        let mut body = Counted {
            inner: exchange.body(),
            read: 0,
            cut_off: None,
            report: |read| slot.progress(read, size),
        };
        let published = self.peer.publish_from(&name, &mut body, size);
        let cut_off = body.cut_off.take();
        let late = deadline.finish();
        let result = match (published, cut_off) {
            (Ok(path), _) => Ok(format!(
                "published {name} ({size} bytes) as {}",
                path.display()
            )),
            (Err(_), _) if late => Err(HttpError::new(
                408,
                format!(
                    "the body was cut off: {size} bytes may take {} s at most \
                     (an average of {} KiB/s); nothing was written",
                    limit.as_secs(),
                    UPLOAD_MIN_RATE / 1024
                ),
            )),
            (Err(_), Some(reason)) => Err(HttpError::new(
                400,
                format!("{reason}; nothing was written"),
            )),
            (Err(error), None) => Err(action_failed(&error)),
        };
        slot.end(result.clone());
        result.map(|text| Response::json(format!(r#"{{"text":{}}}"#, json::string(&text))))
    }

    /// PING another peer, or the tracker.
    fn ping(&self, exchange: &Exchange) -> Result<Response, HttpError> {
        let target = &self.named_peer(exchange)?;
        let time = self.peer.ping(target).map_err(|e| action_failed(&e))?;
        let text = format!(
            "PONG from {target} in {:.2} ms",
            time.as_secs_f64() * 1000.0
        );
        Ok(Response::json(format!(
            r#"{{"text":{}}}"#,
            json::string(&text)
        )))
    }

    /// The peer the request names (`peer=`: an id of the settings file,
    /// or ip:port), or a 404 that says why it is not one.
    fn named_peer(&self, exchange: &Exchange) -> Result<String, HttpError> {
        let peer = exchange.request.required("peer")?;
        match self.peer.settings().resolve(peer) {
            Ok(_) => Ok(peer.to_string()),
            Err(error) => Err(HttpError::new(404, error.to_string())),
        }
    }

    /// Before a transfer starts: a 400 if `name` cannot be a shared file's
    /// name, a 409 if it is here already.
    fn check_free(&self, name: &str) -> Result<(), HttpError> {
        check_name(name)
            .map_err(|reason| HttpError::new(400, format!("cannot download {name:?}: {reason}")))?;
        if self.peer.folder().contains(name) {
            return Err(action_failed(&crate::Error::AlreadyServing(
                name.to_string(),
            )));
        }
        Ok(())
    }

    /// A 404 unless `name` is one of this peer's shared files.
    fn own_file(&self, name: &str) -> Result<(), HttpError> {
        let scan = self.peer.own_files().map_err(|e| action_failed(&e))?;
        if scan.files.iter().any(|file| file.name == name) {
            return Ok(());
        }
        let folder = self.peer.folder().dir().display().to_string();
        let why = format!("{name} is not a shared file in {folder}: upload one of its files");
        Err(HttpError::new(404, why))
    }

    /// Runs `work` in a thread of its own as a transfer the page shows;
    /// answers with its number at once. The thread's name is the number,
    /// never the request's words.
    fn spawn_transfer(
        self: &Arc<Self>,
        label: String,
        work: impl FnOnce(&Page, Progress) -> crate::Result<Done> + Send + 'static,
    ) -> Result<Response, HttpError> {
        let slot = self.transfers.begin(label, 0, true)?;
        let id = slot.id();
        let page = Arc::clone(self);
        let started = thread::Builder::new()
            .name(format!("web transfer {id}"))
            .spawn(move || {
                let notes = Notes::watch(page.peer.log());
                let outcome = work(&page, &|done, total| slot.progress(done, total));
                // What the work said about itself, then how it resumed.
                let (outcome, mut details) = match outcome {
                    Ok(done) => (Ok(done.text), done.details),
                    Err(error) => (Err(action_failed(&error)), Vec::new()),
                };
                details.extend(notes.taken());
                slot.end_with(outcome, details);
            });
        // A thread that could not start has dropped its slot: the transfer
        // is listed as failed, and its slot is free.
        if let Err(error) = started {
            let reason = format!("could not start a thread for it: {error}");
            return Err(HttpError::new(503, reason));
        }
        Ok(Response::json(format!(r#"{{"transfer":{id}}}"#)))
    }
}

/// A reader that counts what passes, reports it, and remembers why it
/// failed (a body cut off by the browser is the browser's fault, not ours).
struct Counted<R, F> {
    inner: R,
    read: u64,
    cut_off: Option<String>,
    report: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counted<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                (self.report)(self.read);
                Ok(n)
            }
            Err(error) => {
                self.cut_off = Some(error.to_string());
                Err(error)
            }
        }
    }
}

/// The size of a publish's body: it must be given, and fit a peer's limit.
fn publish_size(request: &Request) -> Result<u64, HttpError> {
    if request.header("content-length").is_none() {
        return Err(HttpError::new(
            411,
            "a publish needs a Content-Length: the file's size",
        ));
    }
    let size = request.content_length;
    if size > MAX_UPLOAD_SIZE {
        return Err(HttpError::new(
            413,
            format!(
                "{size} bytes is over the limit of {MAX_UPLOAD_SIZE} bytes a peer accepts; nothing was written"
            ),
        ));
    }
    Ok(size)
}

/// One record of a LIST answer.
fn record_json(record: &FileRecord) -> String {
    format!(
        r#"{{"name":{},"type":{},"size":{},"date":{}}}"#,
        json::string(&record.name),
        json::string(&record.file_type),
        record.size,
        json::string(&record.modified.to_string())
    )
}
