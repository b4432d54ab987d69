//! One peer, put together: its served folder, its server for other peers,
//! its session with the tracker, and the actions its shell offers.
//!
//! A peer is a server and a client at once (as in the Napster-like
//! system): its [`Server`] answers other peers in background threads, while
//! the user's commands run here, in the shell's thread.
//!
//! Read its files in this order:
//! 1. [`folder`]: what a peer shares, and how a file arrives without ever
//!    being half there.
//! 2. [`server`]: how a peer answers DOWNLOAD, HASH, LIST, UPLOAD and PING.
//! 3. [`client`]: the same requests from the asking side.
//! 4. [`tracker_session`]: the session with the tracker, one state machine
//!    (with [`announce`]: which five files it announces).
//! 5. [`fetch`]: one file from several peers at once, each range checked
//!    against another holder's hash (and [`resume`]: the partial
//!    downloads kept to go on from).
//! 6. This file: one peer put together; then `download.rs`, one download
//!    from start to end (below); then [`shell`], its command shell.
//!
//! # One download, from the shell to the disk
//!
//! `download notes.txt` typed into the shell runs on the shell's thread,
//! top to bottom, through these functions (each fits on a screen):
//!
//! 1. [`shell::run`] reads the line; [`shell::Command::parse`] makes it a
//!    `Command::Download` (in `shell/parse.rs`).
//! 2. `shell::download` (in `shell/mod.rs`) starts the progress line and
//!    the note thread that says a slow wait, and calls:
//! 3. [`Peer::download`] → `download_picked` (in `download.rs`): the route
//!    itself, five steps.
//! 4. Step 1, the one check of the name: [`SharedFolder::arriving`] checks
//!    it ([`check_name`]), makes sure nothing has it already, reserves it,
//!    and creates the hidden temporary file. The reservation is released
//!    when the [`folder::Incoming`] it returns is dropped.
//! 5. Step 2, the holders: `holders` asks the tracker (`ask_tracker`:
//!    [`TrackerLink::request`] with `SEARCH`; the session thread sends it
//!    and hands back the reply). When the tracker lists nobody, lists only
//!    this peer (an out-of-date record of ours), or cannot be asked, the
//!    *LIST fallback* runs: `ask_settings_peers` asks every other peer of
//!    the settings file for its `LIST` ([`Peer::list_peers`], a thread per
//!    peer), and keeps those that serve the file. If none does, the error
//!    says what the tracker and each peer answered.
//! 6. Step 3, `pick`: holder N, the holder at an address, or every holder
//!    that is not this peer, in the tracker's order.
//! 7. Step 4, `download_from_first`: a partial file kept by an earlier
//!    download of the same copy is taken as the start (`adopt_partial`).
//!    For each candidate, `download_rest` opens the temporary file at the
//!    first missing byte (`reopen`, which hashes the bytes already there)
//!    and calls [`client::download_to`]: [`Connection::connect`], `send`
//!    of the `DOWNLOAD` line (ranged when resuming), `receive_file_or` for
//!    `FILE:` (or `ERROR:`), `receive_file` for exactly the bytes, through
//!    a [`client::Hashing`] writer, `expect_end_of_body` for the close.
//!    Meanwhile [`client::hash_in_background`] asks the holder for `HASH`;
//!    [`client::verify`] compares: different hashes name the holder and
//!    keep nothing; no hash keeps the file as unverified. The first that
//!    works is named by [`folder::Incoming::finish_from`]: it writes out
//!    the buffer, checks the size, and links the file under its name
//!    (never replacing one). If all fail, the chunks that came are kept
//!    ([`resume::Partials::keep`]).
//! 8. Step 5, `arrived`: the new file is pinned among the five announced,
//!    and [`TrackerLink::reannounce`] announces the folder again (BYE, then
//!    a new join). That may take a few seconds; the shell is told
//!    ([`Progress::Announcing`]), and says so if it takes over 2 s.
//!
//! Nothing on the way calls back into a caller's module, except to report
//! progress ([`Progress`]): each wait as it begins, and the bytes so far.
//! The web page's "download from this peer" ([`Peer::download_from`]) takes
//! the same route; [`Peer::fetch`] finds its holders the same way.

pub mod announce;
pub mod client;
mod download;
pub mod fetch;
pub mod folder;
pub mod resume;
pub mod server;
pub mod shell;
pub mod tracker_session;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::announce::Pins;
use crate::peer::folder::{Scan, SharedFolder};
use crate::peer::server::PeerService;
use crate::peer::tracker_session::{LinkConfig, TrackerLink};
use crate::server::{listen, Handler, Limits, Server};
use crate::settings::Settings;
#[cfg(doc)]
use crate::wire::connection::Connection;
use crate::wire::connection::{ping_peer, IO_BUFFER_SIZE};
use crate::wire::messages::{TrackerReply, TrackerRequest};
use crate::wire::protocol::{
    check_name, type_of, DownloadRequest, FileRecord, FileSpec, Location, MAX_RECORDS_PER_JOIN,
};
use crate::wire::sha256::Digest;
pub use download::{Downloaded, Progress};
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a peer is started.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Its id in the settings file.
    pub id: String,
    pub settings: Settings,
    /// The served folder.
    pub dir: PathBuf,
    pub max_connections: usize,
    /// `--heartbeat`: how long the tracker session may be idle before the
    /// peer sends `PING`; `None` sends none (see [`TrackerLink`]).
    pub heartbeat: Option<Duration>,
    pub log: Log,
}

/// A running peer.
pub struct Peer {
    id: String,
    addr: SocketAddr,
    settings: Settings,
    folder: SharedFolder,
    log: Log,
    /// Which files go first among the five announced.
    pins: Pins,
    link: Arc<TrackerLink>,
    server: Server,
}

impl Peer {
    /// Starts a peer on its address from the settings file.
    pub fn start(config: PeerConfig) -> Result<Peer> {
        let addr = config.settings.node(&config.id)?.addr;
        let listener = listen(addr, &config.settings.where_is(&config.id))?;
        Peer::start_on(listener, config)
    }

    /// Starts a peer on a listener that is already bound (the demo binds
    /// free ports first, then writes them into its settings).
    pub fn start_on(listener: TcpListener, config: PeerConfig) -> Result<Peer> {
        let PeerConfig {
            id,
            settings,
            dir,
            max_connections,
            heartbeat,
            log,
        } = config;
        let addr = settings.node(&id)?.addr;
        let tracker = settings.tracker()?;
        let (folder, leftovers) = SharedFolder::open(&dir)?;
        if leftovers > 0 {
            log.event(&format!(
                "removed {leftovers} temporary file(s) left by an earlier crash"
            ));
        }
        log.event(&format!("serving {} on {addr}", dir.display()));
        // The listener is bound already, so peers that connect before the
        // server thread runs simply wait in the queue.
        let pins = Pins::default();
        let link = Arc::new(TrackerLink::start(LinkConfig {
            tracker,
            folder: folder.clone(),
            pins: pins.clone(),
            own_addr: addr,
            settings_file: settings.path.clone(),
            heartbeat,
            log: log.clone(),
        })?);
        let server = serve(listener, max_connections, &link, &folder, &pins, addr, &log)?;
        Ok(Peer {
            id,
            addr,
            settings,
            folder,
            log,
            pins,
            link,
            server,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn folder(&self) -> &SharedFolder {
        &self.folder
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn is_joined(&self) -> bool {
        self.link.is_joined()
    }

    /// Why this peer is not joined now (`None`: it is), and a wait for
    /// that to change (see [`TrackerLink::wait_why_not_joined`]).
    pub fn why_not_joined(&self) -> Option<String> {
        self.link.why_not_joined()
    }

    pub fn wait_why_not_joined(&self, seen: Option<&str>, wait: Duration) -> Option<String> {
        self.link.wait_why_not_joined(seen, wait)
    }

    /// SEARCH: who has `name`? An empty list is NOT FOUND.
    pub fn search(&self, name: &str) -> Result<Vec<Location>> {
        check_name(name).map_err(|reason| Error::bad_name(name, reason))?;
        self.ask_tracker(name)
    }

    /// FIND (extension): the tracker's records of every announced file
    /// whose name holds each of `words`, in any case. An empty list is NOT
    /// FOUND. A tracker that keeps only the core protocol answers ERROR:,
    /// and the error says so.
    pub fn find(&self, words: &[String]) -> Result<Vec<FileRecord>> {
        match self.link.request(&TrackerRequest::Find(words.to_vec()))? {
            TrackerReply::Files(records) => Ok(records),
            TrackerReply::NotFound => Ok(Vec::new()),
            TrackerReply::Error(reason) => Err(Error::Remote(format!(
                "{reason} (this tracker does not answer FIND, a keyword search that is an \
                 extension of the protocol: use `search` with the exact name, or `info`)"
            ))),
            other => Err(Error::unexpected("FILES: or NOT FOUND", &other)),
        }
    }

    /// The SHA-256 of our own shared file `name`, as `HASH` gives it.
    pub fn hash(&self, name: &str) -> Result<Digest> {
        let request = DownloadRequest {
            file: self.own_file(name)?,
            range: None,
        };
        self.folder.hash_of(&request)
    }

    /// This peer's own shared files. A file the tracker holds for us that is
    /// gone from the folder (deleted by hand) is noticed here too: the
    /// folder is announced again without it.
    pub fn own_files(&self) -> Result<Scan> {
        let scan = self.folder.scan()?;
        let gone = self
            .link
            .last_announced()
            .into_iter()
            .find(|name| !scan.files.iter().any(|file| &file.name == name));
        if let Some(name) = gone {
            forget_if_announced(&self.link, &name);
        }
        Ok(scan)
    }

    /// LIST each of `peers` (ids or ip:port), in parallel.
    pub fn list_peers(&self, peers: &[String]) -> Vec<(String, Result<Vec<FileRecord>>)> {
        self.for_each_peer(peers, |addr| client::list(addr, &self.log))
    }

    /// UPLOAD our file `name` to each of `peers`, in parallel.
    /// `progress` hears the bytes sent to all of them so far and the total
    /// (the file's size once per peer).
    pub fn upload(
        &self,
        name: &str,
        peers: &[String],
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<(String, Result<()>)>> {
        let file = self.own_file(name)?;
        let total = file.size.saturating_mul(peers.len() as u64);
        let sent_to_all = AtomicU64::new(0);
        Ok(self.for_each_peer(peers, |addr| {
            let mut sent_here = 0;
            client::upload(addr, &self.folder, &file, &self.log, &mut |sent| {
                let delta = sent - sent_here;
                sent_here = sent;
                let so_far = sent_to_all.fetch_add(delta, Ordering::Relaxed) + delta;
                progress(so_far, total);
            })
        }))
    }

    /// A file arrived: see [`announce_arrival`].
    fn arrived(&self, name: &str) {
        announce_arrival(&self.link, &self.folder, &self.pins, &self.log, name);
    }

    /// Announces exactly these files (five at most, each one served here)
    /// first, and announces the folder again.
    pub fn announce(&self, names: &[String]) -> Result<Vec<String>> {
        if names.len() > MAX_RECORDS_PER_JOIN {
            return Err(Error::Conflict(format!(
                "a join announces {MAX_RECORDS_PER_JOIN} files at most, not {}",
                names.len()
            )));
        }
        let shared: Vec<String> = self
            .folder
            .scan()?
            .files
            .into_iter()
            .map(|f| f.name)
            .collect();
        if let Some(missing) = names.iter().find(|name| !shared.contains(name)) {
            return Err(Error::Unknown(format!(
                "{missing} is not a shared file in {} (see `list`)",
                self.folder.dir().display()
            )));
        }
        self.pins.choose(names);
        self.link.reannounce();
        Ok(self.link.announced())
    }

    /// The names the tracker holds for this peer now (none when not joined).
    pub fn announced(&self) -> Vec<String> {
        self.link.announced()
    }

    /// Copies the local file at `path` into the served folder as `name`
    /// (its own name by default), never replacing a file, then announces it.
    pub fn publish(&self, path: &Path, name: Option<&str>) -> Result<PathBuf> {
        let name = match name {
            Some(name) => name.to_string(),
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    Error::Other(format!(
                        "{} has no file name to publish under",
                        path.display()
                    ))
                })?
                .to_string(),
        };
        let mut source = File::open(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let size = source
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        self.publish_from(&name, &mut source, size)
    }

    /// Writes the `size` bytes `source` gives into the served folder as
    /// `name`, the way every file arrives (a temporary file, never held in
    /// memory, never replacing a file), then announces it. A `source` that
    /// fails half-way, or gives another size, leaves nothing behind.
    pub fn publish_from(&self, name: &str, source: &mut dyn Read, size: u64) -> Result<PathBuf> {
        let incoming = self.folder.arriving(name)?;
        let mut sink = incoming.writer()?;
        io::copy(source, &mut sink).map_err(|e| Error::io("copying the file", e))?;
        let published = incoming.finish_from(sink, size)?;
        self.arrived(name);
        Ok(published)
    }

    /// LIST to the tracker: every record of every joined peer.
    pub fn info(&self) -> Result<Vec<FileRecord>> {
        match self.link.request(&TrackerRequest::List)? {
            TrackerReply::Files(records) => Ok(records),
            TrackerReply::Error(reason) => Err(Error::Remote(reason)),
            other => Err(Error::unexpected("FILES:", &other)),
        }
    }

    /// PING a peer (an id or ip:port) on a connection of its own; or the
    /// tracker, which answers PING only on a joined session, on ours.
    /// Returns the round-trip time.
    pub fn ping(&self, target: &str) -> Result<Duration> {
        let addr = self.settings.resolve(target)?;
        if addr != self.link.tracker() {
            return ping_peer(addr, &self.log);
        }
        let start = std::time::Instant::now();
        match self.link.request(&TrackerRequest::Ping)? {
            TrackerReply::Pong => Ok(start.elapsed()),
            other => Err(Error::unexpected("PONG", &other)),
        }
    }

    /// `peer1 (127.0.0.1:5001)`, or the address alone when no id has it.
    pub fn describe(&self, addr: SocketAddr) -> String {
        self.settings.describe(addr)
    }

    /// Leaves: BYE to the tracker, then stops serving.
    pub fn quit(mut self) {
        self.link.leave();
        self.server.stop();
    }

    /// BYE to the tracker, for a peer shared with other threads (the web
    /// page's) when the program ends: it stops serving as the process ends.
    pub fn leave(&self) {
        self.link.leave();
    }

    /// Stops as a crash would: the tracker connection just ends, no BYE.
    pub fn crash(mut self) {
        self.link.crash();
        self.server.stop();
    }

    /// The spec of one of our own shared files.
    fn own_file(&self, name: &str) -> Result<FileSpec> {
        let scan = self.folder.scan()?;
        let file = scan
            .files
            .iter()
            .find(|file| file.name == name)
            .ok_or_else(|| {
                Error::Unknown(format!(
                    "{name} is not a shared file in {}",
                    self.folder.dir().display()
                ))
            })?;
        Ok(FileSpec {
            name: file.name.clone(),
            file_type: type_of(&file.name),
            size: file.size,
        })
    }

    /// Runs `action` for each peer (id or ip:port) in a thread of its own,
    /// and returns the results in the order the peers were given.
    fn for_each_peer<T: Send>(
        &self,
        peers: &[String],
        action: impl Fn(SocketAddr) -> Result<T> + Sync,
    ) -> Vec<(String, Result<T>)> {
        let results = client::in_parallel(peers, |peer| action(self.settings.resolve(peer)?));
        peers.iter().cloned().zip(results).collect()
    }
}

/// Starts the server that answers other peers: a file that arrives by
/// upload is announced, and a file asked for that is gone stops being
/// announced.
fn serve(
    listener: TcpListener,
    max_connections: usize,
    link: &Arc<TrackerLink>,
    folder: &SharedFolder,
    pins: &Pins,
    addr: SocketAddr,
    log: &Log,
) -> Result<Server> {
    let on_new_file = {
        let (link, folder, pins, log) =
            (Arc::clone(link), folder.clone(), pins.clone(), log.clone());
        Box::new(move |name: &str| announce_arrival(&link, &folder, &pins, &log, name))
    };
    let on_missing_file = {
        let link = Arc::clone(link);
        Box::new(move |name: &str| forget_if_announced(&link, name))
    };
    let service = Arc::new(PeerService {
        folder: folder.clone(),
        addr,
        log: log.clone(),
        on_new_file,
        on_missing_file,
    });
    let handler: Handler = Arc::new(move |connection| service.handle(connection));
    let limits = Limits {
        // A connection sending or receiving a file also holds the file.
        files_per_connection: 2,
        ..Limits::new(max_connections, IO_BUFFER_SIZE)
    };
    Server::start(listener, limits, log.clone(), handler)
}

/// A file arrived in the folder: make sure it is among the announced five
/// (saying which file it pushed out), and announce the folder again.
fn announce_arrival(link: &TrackerLink, folder: &SharedFolder, pins: &Pins, log: &Log, name: &str) {
    let shared: Vec<String> = match folder.scan() {
        Ok(scan) => scan.files.into_iter().map(|file| file.name).collect(),
        Err(_) => vec![name.to_string()],
    };
    if let Some(pushed_out) = pins.arrived(name, &shared) {
        log.event(&format!(
            "announcing {name}; {pushed_out} is no longer announced to the tracker \
             (a join announces {MAX_RECORDS_PER_JOIN}; it is still served)"
        ));
    }
    link.reannounce();
}

/// A file the tracker holds for us is gone from the folder (deleted by
/// hand): announce the folder again, so that searches stop sending people
/// here for it, and another file takes its place among the five.
fn forget_if_announced(link: &TrackerLink, name: &str) {
    if link
        .last_announced()
        .iter()
        .any(|announced| announced == name)
    {
        link.reannounce();
    }
}
