//! One peer, put together: its served folder, its server for other peers,
//! its session with the tracker, and the actions its shell offers.
//!
//! A peer is a server and a client at once (as in the Napster-like seed):
//! its [`Server`] answers other peers in background threads, while the
//! user's commands run here, in the shell's thread.

use crate::connection::IO_BUFFER_SIZE;
use crate::error::{Error, Result};
use crate::fetch::{self, FetchReport};
use crate::log::Log;
use crate::peer_client;
use crate::peer_server::PeerService;
use crate::protocol::{check_name, type_of, FileRecord, FileSpec, Location, Message};
use crate::server::{listen, Handler, Limits, Server};
use crate::settings::Settings;
use crate::shared_folder::{Scan, SharedFolder};
use crate::tracker_link::{LinkConfig, TrackerLink};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
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
    link: Arc<TrackerLink>,
    server: Server,
}

/// A download that worked: where the file is and who sent it.
#[derive(Debug)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    pub from: SocketAddr,
}

impl Peer {
    /// Starts a peer on its address from the settings file.
    pub fn start(config: PeerConfig) -> Result<Peer> {
        let addr = config.settings.node(&config.id)?.addr;
        let listener = listen(addr)?;
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
        let link = Arc::new(TrackerLink::start(LinkConfig {
            tracker,
            folder: folder.clone(),
            own_addr: addr,
            settings_file: settings.path.clone(),
            heartbeat,
            log: log.clone(),
        })?);
        let on_new_file = {
            let link = Arc::clone(&link);
            Box::new(move |_: &str| link.reannounce())
        };
        let service = Arc::new(PeerService {
            folder: folder.clone(),
            addr,
            log: log.clone(),
            on_new_file,
        });
        let handler: Handler = Arc::new(move |connection| service.handle(connection));
        let limits = Limits::new(max_connections, IO_BUFFER_SIZE);
        let server = Server::start(listener, limits, log.clone(), handler)?;
        Ok(Peer {
            id,
            addr,
            settings,
            folder,
            log,
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

    /// SEARCH: who has `name`? An empty list is NOT FOUND.
    pub fn search(&self, name: &str) -> Result<Vec<Location>> {
        check_name(name)
            .map_err(|reason| Error::Other(format!("cannot search for {name:?}: {reason}")))?;
        match self.link.request(&Message::Search(name.to_string()))? {
            Message::Found(locations) => Ok(locations),
            Message::NotFound => Ok(Vec::new()),
            Message::Error(reason) => Err(Error::Remote(reason)),
            other => Err(Error::Unexpected {
                expected: "FOUND or NOT FOUND",
                got: other.format(),
            }),
        }
    }

    /// Searches for `name` and downloads it into the served folder, from
    /// holder number `choice` (1-based) of the search, or else from the
    /// first holder that is not this peer, trying the next on failure.
    /// `progress` hears the bytes received so far and the file's size.
    pub fn download(
        &self,
        name: &str,
        choice: Option<usize>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Downloaded> {
        check_name(name)
            .map_err(|reason| Error::Other(format!("cannot download {name:?}: {reason}")))?;
        if self.folder.contains(name) {
            return Err(Error::Other(format!(
                "{name} exists already in {}; not downloading (it is never overwritten)",
                self.folder.dir().display()
            )));
        }
        let holders = self.search(name)?;
        if holders.is_empty() {
            return Err(Error::Other(format!("nobody shares {name}")));
        }
        let candidates: Vec<&Location> = match choice {
            Some(number) => vec![number
                .checked_sub(1)
                .and_then(|index| holders.get(index))
                .ok_or_else(|| {
                    Error::Other(format!(
                        "there is no holder {number}: the search found {}",
                        holders.len()
                    ))
                })?],
            None => holders.iter().filter(|l| l.addr() != self.addr).collect(),
        };
        let mut last_error = Error::Other(format!("only this peer shares {name}"));
        for location in candidates {
            let from = location.addr();
            let file = FileSpec {
                name: name.to_string(),
                kind: location.kind.clone(),
                size: location.size,
            };
            let mut report = |bytes| progress(bytes, file.size);
            match peer_client::download_into_folder(
                &self.folder,
                from,
                &file,
                &self.log,
                &mut report,
            ) {
                Ok(path) => {
                    self.link.reannounce();
                    return Ok(Downloaded {
                        path,
                        size: file.size,
                        from,
                    });
                }
                Err(error) => {
                    self.log.event(&format!(
                        "download from {} failed: {error}",
                        self.describe(from)
                    ));
                    last_error = error;
                }
            }
        }
        Err(last_error)
    }

    /// This peer's own shared files.
    pub fn own_files(&self) -> Result<Scan> {
        self.folder.scan()
    }

    /// LIST each of `peers` (ids or ip:port), in parallel.
    pub fn list_peers(&self, peers: &[String]) -> Vec<(String, Result<Vec<FileRecord>>)> {
        self.for_each_peer(peers, |addr| peer_client::list(addr, &self.log))
    }

    /// UPLOAD our file `name` to each of `peers`, in parallel.
    pub fn upload(&self, name: &str, peers: &[String]) -> Result<Vec<(String, Result<()>)>> {
        let file = self.own_file(name)?;
        Ok(self.for_each_peer(peers, |addr| {
            peer_client::upload(addr, &self.folder, &file, &self.log)
        }))
    }

    /// Fetches `name` from all of `peers` at once, then announces it.
    pub fn fetch(&self, name: &str, peers: &[String]) -> Result<FetchReport> {
        let addrs = peers
            .iter()
            .map(|peer| self.settings.resolve(peer))
            .collect::<Result<Vec<_>>>()?;
        check_name(name)
            .map_err(|reason| Error::Other(format!("cannot fetch {name:?}: {reason}")))?;
        if self.folder.contains(name) {
            return Err(Error::Other(format!(
                "{name} exists already here; not fetching (it is never overwritten)"
            )));
        }
        let report = fetch::fetch(&self.folder, name, &addrs, &self.log)?;
        self.link.reannounce();
        Ok(report)
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
        let incoming = self.folder.receive(&name)?;
        let mut sink = BufWriter::new(incoming.open()?);
        let size =
            io::copy(&mut source, &mut sink).map_err(|e| Error::io("copying the file", e))?;
        sink.flush().map_err(|e| Error::io("copying the file", e))?;
        drop(sink);
        let published = incoming.finish(size)?;
        self.link.reannounce();
        Ok(published)
    }

    /// LIST to the tracker: every record of every joined peer.
    pub fn info(&self) -> Result<Vec<FileRecord>> {
        match self.link.request(&Message::List)? {
            Message::Files(records) => Ok(records),
            Message::Error(reason) => Err(Error::Remote(reason)),
            other => Err(Error::Unexpected {
                expected: "FILES:",
                got: other.format(),
            }),
        }
    }

    /// PING a peer.
    pub fn ping(&self, peer: SocketAddr) -> Result<Duration> {
        peer_client::ping(peer, &self.log)
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
                Error::Other(format!(
                    "{name} is not a shared file in {}",
                    self.folder.dir().display()
                ))
            })?;
        Ok(FileSpec {
            name: file.name.clone(),
            kind: type_of(&file.name),
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
        let results = peer_client::in_parallel(peers, |peer| action(self.settings.resolve(peer)?));
        peers.iter().cloned().zip(results).collect()
    }
}
