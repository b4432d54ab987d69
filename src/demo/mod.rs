//! `cargo run --bin demo`: the whole system in one process, narrated.
//!
//! It starts a tracker and three peers on free loopback ports, each peer
//! serving the sample files of [`samples`] from a temporary folder, and
//! plays a session in scenes. Each scene is narrated (`demo: ...` lines)
//! before it happens; then its protocol lines and log lines follow, in an
//! order that is the same on every run (see [`stage`]). Each scene waits
//! for its last step to be over before the next begins. If a step fails,
//! a narration line says which and why, and the demo stops (exit 1). At
//! the end every node stops and the temporary folder is removed.
//!
//! With `--web PORT` it also serves a page, `web::demo_page`, that draws
//! every node's protocol lines on one sequence diagram, and each scene
//! waits for the page's "Next scene" button.
//!
//! Files: `samples.rs` (the sample files, built into the binary),
//! `stage.rs` (how the lines are shown), `senders.rs` (who sent a line,
//! for the page's arrows), and this one (the scenes).

pub mod samples;
pub mod senders;
pub mod stage;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::peer::server::PEER_MAX_CONNECTIONS;
use crate::peer::{Peer, PeerConfig};
use crate::server::listen;
use crate::settings::{Settings, TRACKER_ID};
use crate::temp_dir::TempDir;
use crate::tracker::{Tracker, TrackerConfig};
use crate::web::demo_page::{Cue, DemoPage};
use crate::web::page_url;
use crate::wire::protocol::Location;
use samples::{sample, SAMPLES};
use stage::{Mode, Stage};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The heartbeat of the demo's nodes. A peer still sends `PING` right after
/// its records (the tracker's `PONG` confirms the join), but an idle peer
/// sends its next one only after this long, so no heartbeat shows up in the
/// middle of a scene, however long a teacher talks over it.
const DEMO_HEARTBEAT: Duration = Duration::from_secs(3600);

/// `--slow`: the pause before each scene.
const SLOW_SCENE_PAUSE: Duration = Duration::from_secs(2);

/// `--slow`: the pause before each chunk a peer sends (see
/// [`Log::paced`]): an 11-chunk range takes about 1.5 s.
const SLOW_CHUNK_PAUSE: Duration = Duration::from_millis(150);

/// `--web`: the pause after each protocol line shown, unless `--pace`
/// says otherwise: the page draws the arrows one by one, at a pace a class
/// can read them.
pub const WEB_PACE: Duration = Duration::from_millis(400);

/// How the demo is run (the options of `bin/demo.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--step`: wait for the Enter key before each scene.
    pub step: bool,
    /// `--slow`: pause between scenes, and send files chunk by chunk.
    pub slow: bool,
    /// `--web PORT`: serve the page on this loopback port, and wait for
    /// its "Next scene" button before each scene (instead of `--step`).
    pub web: Option<u16>,
    /// `--pace MS`: the pause after each protocol line shown (none by
    /// default; [`WEB_PACE`] with `--web`).
    pub pace: Option<Duration>,
    /// For the tests only: take notes.txt out of peer1's folder after it
    /// announced it, so that the download fails for real.
    pub break_download: bool,
}

/// Runs the demo from start to end.
pub fn run(options: Options) -> Result<()> {
    let page = match options.web {
        Some(port) => {
            let nodes = [TRACKER_ID.to_string()].into_iter().chain(peer_ids());
            // The page's own lines (where it is served) go straight to the
            // terminal: they come before the show.
            let log = Log::new("web", false).on_stdout();
            Some(DemoPage::start(port, nodes.collect(), &log)?)
        }
        None => None,
    };
    let pace = options.pace.unwrap_or(match page {
        Some(_) => WEB_PACE,
        None => Duration::ZERO,
    });
    let stage = Arc::new(Stage::new(pace, page.as_ref().map(DemoPage::audience)));
    let mut show = Show {
        stage: Arc::clone(&stage),
        options,
        scenes: 0,
        page: page.as_ref(),
        page_closed: false,
    };
    if let Some(page) = &page {
        stage.say(&format!(
            "the whole system on one diagram: open {} in a browser, and press",
            page_url(page.local_addr())
        ));
        stage.say("\"Next scene\" there to play each scene");
    }
    let scratch = TempDir::new("demo")?;
    let cast = set_up(&show, &scratch)?;
    let result = play(&mut show, cast);
    // Every node has stopped by now (or is stopping, after a failure):
    // the folder can go.
    drop(scratch);
    // Closing the page stops the demo: not a failure.
    let result = if show.page_closed { Ok(()) } else { result };
    if result.is_ok() && !show.page_closed {
        stage.say("done");
    }
    if let Some(page) = &page {
        let last_words = match &result {
            Ok(()) if show.page_closed => "the page was closed: the demo stopped".to_string(),
            Ok(()) => "the demo is over: every node has stopped".to_string(),
            Err(error) => format!("the demo stopped: {error}"),
        };
        page.end(result.is_ok() && !show.page_closed, &last_words);
    }
    result
}

/// The nodes' addresses and folders, before any of them runs.
struct Cast {
    settings: Settings,
    tracker: TcpListener,
    peers: Vec<TcpListener>,
    dirs: Vec<PathBuf>,
}

/// The ids of the demo's peers, in the order of [`SAMPLES`].
fn peer_ids() -> Vec<String> {
    SAMPLES.iter().map(|(id, _)| id.to_string()).collect()
}

/// Binds every listener on a free port, writes the settings file and the
/// sample files, and says where they are.
fn set_up(show: &Show, scratch: &TempDir) -> Result<Cast> {
    let stage = &show.stage;
    // Port 0: the system picks a free port. The ports go into a settings
    // file, as a user would write them by hand.
    let any_free_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let tracker = listen(any_free_port)?;
    let peers = SAMPLES
        .iter()
        .map(|_| listen(any_free_port))
        .collect::<Result<Vec<_>>>()?;
    let mut text = String::from("# written by the demo: id address port\n");
    for (id, listener) in [(TRACKER_ID, &tracker)]
        .into_iter()
        .chain(SAMPLES.iter().map(|(id, _)| *id).zip(&peers))
    {
        let addr = listener.local_addr().map_err(io)?;
        text.push_str(&format!("{id} {} {}\n", addr.ip(), addr.port()));
    }
    let path = scratch.path().join("peer_settings.txt");
    fs::write(&path, &text).map_err(io)?;
    let settings = Settings::load(&path)?;
    let mut dirs = Vec::new();
    for (id, files) in SAMPLES {
        let dir = scratch.subdir(id)?;
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).map_err(io)?;
        }
        dirs.push(dir);
    }

    stage.say("a tracker and three peers in this one process, on free loopback ports;");
    stage.say("each peer serves its own copy of the sample files, in a temporary folder:");
    stage.say(&format!("    {}", scratch.path().display()));
    stage.say("the settings file they share, peer_settings.txt there:");
    for line in text.lines().skip(1) {
        stage.say(&format!("    {line}"));
    }
    stage.say("a protocol line is shown once, where it arrives: \"[tracker] peer1 <- PING\"");
    stage.say("is the tracker receiving PING from peer1 (a peer that has not joined yet is");
    stage.say("shown by the ip:port it connects from); \"[12:00:00 peer1] ...\" is peer1's log");
    Ok(Cast {
        settings,
        tracker,
        peers,
        dirs,
    })
}

/// The scenes, in order.
fn play(show: &mut Show, cast: Cast) -> Result<()> {
    let Cast {
        settings,
        tracker: tracker_listener,
        peers: listeners,
        dirs,
    } = cast;
    let ids = peer_ids();
    let logs = Logs {
        stage: Arc::clone(&show.stage),
        slow: show.options.slow,
    };
    let options = show.options;

    // A second handle on the tracker's listening socket, kept through act
    // 3: when the first tracker stops, the socket stays open, so the peers'
    // first try to rejoin waits in its queue for the second tracker instead
    // of being refused (as with a service manager that holds the socket).
    let tracker_socket = tracker_listener.try_clone().map_err(io)?;
    show.act("Act 1: the core protocol");
    let mut tracker = start_tracker(&logs, tracker_listener, &settings)?;
    let mut peers = Vec::new();
    for ((id, listener), dir) in ids.iter().zip(listeners).zip(&dirs) {
        let narration: &[&str] = if peers.is_empty() {
            &[
                &format!("{id} starts and joins the tracker: HELLO, HI, then its file records;"),
                "then PING: the tracker answers PONG only to a peer it accepted",
            ]
        } else {
            &[&format!("{id} starts and joins the same way")]
        };
        let peer = show.scene(&format!("{id} joins"), narration, Mode::Live, |stage| {
            let peer = Peer::start_on(listener, peer_config(&logs, id, &settings, dir))?;
            joined(stage, id)?;
            Ok(peer)
        })?;
        peers.push(peer);
    }
    let [peer1, peer2, peer3] = take_three(peers)?;

    show.scene(
        "peer2 searches",
        &["peer2 asks the tracker who has notes.txt: SEARCH, answered by FOUND and a location per holder"],
        Mode::Live,
        |stage| {
            let holders = peer2.search("notes.txt")?;
            stage.say(&format!("found: {}", holder_names(&settings, &holders)));
            Ok(())
        },
    )?;

    show.scene(
        "peer2 downloads notes.txt",
        &[
            "peer2 downloads notes.txt from holder 1: it searches again, sends DOWNLOAD to that holder,",
            "and peer1 answers FILE: and the bytes. Then peer2 announces its new file: it leaves",
            "with BYE and, once the tracker has closed that session, joins again with its new list",
        ],
        Mode::Live,
        |stage| {
            if options.break_download {
                fs::remove_file(dirs[0].join("notes.txt")).map_err(io)?;
            }
            let downloaded = peer2.download("notes.txt", Some(1), &mut |_, _| {})?;
            joined(stage, "peer2")?;
            same_as_sample(&downloaded.path, "peer1", "notes.txt")?;
            stage.say("notes.txt arrived whole: byte for byte the same as peer1's copy");
            Ok(())
        },
    )?;

    show.scene(
        "peer3 leaves",
        &["peer3 leaves with BYE; the tracker drops its records at once"],
        Mode::Live,
        |stage| {
            peer3.quit();
            left(stage, "peer3")
        },
    )?;

    show.scene(
        "peer2 searches data.bin",
        &["peer2 searches data.bin, which only peer3 had"],
        Mode::Live,
        |stage| {
            let holders = peer2.search("data.bin")?;
            if !holders.is_empty() {
                return Err(Error::Other(format!(
                    "the tracker still lists {} holder(s) of data.bin",
                    holders.len()
                )));
            }
            stage.say("NOT FOUND: nobody shares data.bin any more");
            Ok(())
        },
    )?;

    show.scene(
        "peer1 crashes",
        &[
            "peer1 crashes: its connection to the tracker just ends, without BYE;",
            "the tracker drops its records all the same",
        ],
        Mode::Live,
        |stage| {
            peer1.crash();
            left(stage, "peer1")
        },
    )?;

    show.scene(
        "peer2 searches notes.txt again",
        &["peer2 searches notes.txt again"],
        Mode::Live,
        |stage| {
            let holders = peer2.search("notes.txt")?;
            stage.say(&format!(
                "found: {}; peer1 is forgotten, and peer2 has its own copy now",
                holder_names(&settings, &holders)
            ));
            Ok(())
        },
    )?;

    show.act("Act 2: direct peer commands");
    let mut back = Vec::new();
    for (index, id) in [(0, "peer1"), (2, "peer3")] {
        let peer = show.scene(
            &format!("{id} comes back"),
            &[&format!("{id} starts again and joins the tracker")],
            Mode::Live,
            |stage| {
                let peer = Peer::start(peer_config(&logs, id, &settings, &dirs[index]))?;
                joined(stage, id)?;
                Ok(peer)
            },
        )?;
        back.push(peer);
    }
    let [peer1, peer3]: [Peer; 2] = back
        .try_into()
        .map_err(|_| Error::Other("expected two peers back".into()))?;
    let (peer1_id, peer3_id) = ("peer1".to_string(), "peer3".to_string());

    show.scene(
        "peer2 lists peer3's files",
        &["peer2 asks peer3 itself for its files: LIST, answered by FILES (no tracker involved)"],
        Mode::Live,
        |stage| {
            for (who, result) in peer2.list_peers(std::slice::from_ref(&peer3_id)) {
                let names: Vec<String> = result?.into_iter().map(|record| record.name).collect();
                stage.say(&format!("{who} serves {}", names.join(", ")));
            }
            Ok(())
        },
    )?;

    show.scene(
        "peer2 uploads poem.txt to peer3",
        &[
            "peer2 uploads poem.txt to peer3: UPLOAD, READY, then FILE: and the bytes; peer3",
            "announces its new file to the tracker (BYE, a new join), then answers DONE",
        ],
        Mode::Live,
        |stage| {
            for (who, result) in
                peer2.upload("poem.txt", std::slice::from_ref(&peer3_id), &|_, _| {})?
            {
                result?;
                stage.say(&format!("{who} has poem.txt now, and the tracker knows it"));
            }
            Ok(())
        },
    )?;

    let how_shown = if show.options.slow {
        "(paced: each chunk is shown as it arrives, so the two peers' chunks take turns)"
    } else {
        "(both transfers run at the same time; their lines are shown one peer after the other)"
    };
    let fetch_mode = if show.options.slow {
        Mode::Live
    } else {
        Mode::ByPeer {
            peers: vec![peer1_id.clone(), peer3_id.clone(), "peer2".into()],
            tracker_first: false,
        }
    };
    show.scene(
        "peer2 fetches syllabus.txt from two peers",
        &[
            "peer2 fetches syllabus.txt from peer1 and peer3 at once: LIST to each, to learn the",
            "size, then DOWNLOAD of one range of 100-byte chunks from each; then it announces it",
            how_shown,
        ],
        fetch_mode,
        |stage| {
            let holders = [peer1_id.clone(), peer3_id.clone()];
            let report = peer2.fetch("syllabus.txt", &holders, &mut |_, _| {})?;
            joined(stage, "peer2")?;
            let mut sent: Vec<String> = report
                .chunks_by_peer
                .iter()
                .map(|(from, chunks)| format!("{} sent {chunks} chunk(s)", name(&settings, *from)))
                .collect();
            sent.sort();
            same_as_sample(&report.path, "peer1", "syllabus.txt")?;
            stage.say(&format!(
                "{}; syllabus.txt is whole, byte for byte",
                sent.join(", ")
            ));
            Ok(())
        },
    )?;

    show.scene(
        "peer2 pings peer1",
        &["peer2 pings peer1 directly: PING, answered by PONG"],
        Mode::Live,
        |stage| {
            peer2.ping("peer1")?;
            stage.say("peer1 answered: it is up");
            Ok(())
        },
    )?;

    show.act("Act 3: the tracker crashes and comes back");
    let everyone = vec![peer1_id.clone(), "peer2".to_string(), peer3_id.clone()];
    show.scene(
        "the tracker crashes",
        &[
            "the tracker stops without a word, as in a crash: every session closes; each peer",
            "notices, keeps serving its files, and will rejoin by itself",
            "(shown peer by peer: the tracker's line about peer1, peer1's notice, then peer2...)",
        ],
        Mode::ByPeer {
            peers: everyone.clone(),
            tracker_first: true,
        },
        |stage| {
            tracker.stop();
            stage.wait_for(
                "peer1",
                "notice: lost",
                1,
                "peer1 to notice the tracker is gone",
            )?;
            for id in ["peer2", "peer3"] {
                stage.wait_for(id, "notice: lost", 1, &format!("{id} to notice"))?;
            }
            stage.say("no tracker now: the peers still serve their files, to each other");
            Ok(())
        },
    )?;
    drop(tracker);

    let tracker = show.scene(
        "a new tracker starts",
        &[
            "a new tracker starts on the same address, with an empty index; each peer rejoins",
            "by itself with its files (shown peer by peer)",
        ],
        Mode::ByPeer {
            peers: everyone,
            tracker_first: false,
        },
        |stage| {
            let tracker = start_tracker(&logs, tracker_socket, &settings)?;
            for id in ["peer1", "peer2", "peer3"] {
                stage.wait_for(id, "notice: rejoined", 1, &format!("{id} to rejoin"))?;
            }
            stage.say(&format!(
                "all {} peers are back in the new tracker's index",
                tracker.peers().len()
            ));
            Ok(tracker)
        },
    )?;

    show.act("The end");
    show.scene(
        "everyone leaves",
        &["every peer says BYE and stops; then the tracker stops and the temporary folder goes"],
        Mode::Live,
        |stage| {
            for (id, peer) in [("peer1", peer1), ("peer2", peer2), ("peer3", peer3)] {
                peer.quit();
                left(stage, id)?;
            }
            Ok(())
        },
    )?;
    drop(tracker);
    Ok(())
}

/// Scene after scene: numbering, pauses, and what a failure says.
struct Show<'a> {
    stage: Arc<Stage>,
    options: Options,
    scenes: usize,
    /// `--web`: the page whose button starts each scene.
    page: Option<&'a DemoPage>,
    /// The page was closed, so the demo stopped early.
    page_closed: bool,
}

impl Show<'_> {
    fn act(&self, title: &str) {
        self.stage.act(title);
    }

    /// Plays one scene: pause (`--step`, `--slow`), narrate, run `body`
    /// with the lines shown in `mode`. A failure is said, the nodes are
    /// muted, and the error goes on up.
    fn scene<T>(
        &mut self,
        title: &str,
        narration: &[&str],
        mode: Mode,
        body: impl FnOnce(&Stage) -> Result<T>,
    ) -> Result<T> {
        self.scenes += 1;
        let number = self.scenes;
        if let Some(page) = self.page {
            crate::say!("(waiting for \"Next scene\" on the page: scene {number}: {title})");
            if page.wait_for_next(number, title) == Cue::PageClosed {
                self.page_closed = true;
                self.stage.say(
                    "the page was closed: stopping here; every node stops and the temporary folder goes",
                );
                self.stage.mute();
                return Err(Error::Other("the page was closed".into()));
            }
        } else if self.options.step {
            let ask = format!("(press Enter for scene {number}: {title}) ");
            crate::log::write_whole(crate::log::Stream::Out, ask.as_bytes());
            // The end of the input (or an error) just lets the demo run on.
            let _ = std::io::stdin().read_line(&mut String::new());
        } else if self.options.slow && number > 1 {
            thread::sleep(SLOW_SCENE_PAUSE);
        }
        self.stage.begin(Mode::Live);
        self.stage.scene(number, title);
        for line in narration {
            self.stage.say(line);
        }
        self.stage.begin(mode);
        let result = body(&self.stage);
        if let Err(error) = &result {
            self.stage
                .say(&format!("scene {number} ({title}) failed: {error}"));
            self.stage
                .say("stopping here: every node stops and the temporary folder is removed");
            self.stage.mute();
        }
        self.stage.begin(Mode::Live);
        result
    }
}

/// Waits until `id` has logged that it joined the tracker.
fn joined(stage: &Stage, id: &str) -> Result<()> {
    stage.wait_for(
        id,
        "joined the tracker",
        1,
        &format!("{id} to join the tracker"),
    )
}

/// Waits until the tracker has logged that `id` left.
fn left(stage: &Stage, id: &str) -> Result<()> {
    stage.wait_for(
        TRACKER_ID,
        &format!("leave {id} "),
        1,
        &format!("the tracker to drop {id}"),
    )
}

/// Checks a received file against the sample `peer` started with.
fn same_as_sample(path: &Path, peer: &str, name: &str) -> Result<()> {
    let received = fs::read(path).map_err(io)?;
    if Some(received.as_slice()) == sample(peer, name) {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "{} differs from {peer}'s sample {name}",
            path.display()
        )))
    }
}

/// `peer1, peer3`: the holders of a search, by id.
fn holder_names(settings: &Settings, holders: &[Location]) -> String {
    if holders.is_empty() {
        return "nobody".into();
    }
    let names: Vec<String> = holders
        .iter()
        .map(|holder| name(settings, holder.addr()))
        .collect();
    names.join(", ")
}

fn name(settings: &Settings, addr: SocketAddr) -> String {
    settings
        .id_of(addr)
        .map_or_else(|| addr.to_string(), str::to_string)
}

fn io(error: std::io::Error) -> Error {
    Error::io("demo", error)
}

/// What every node's log needs: the stage, and whether to pace chunks.
struct Logs {
    stage: Arc<Stage>,
    slow: bool,
}

impl Logs {
    /// A node's log: traced, naming nodes by id, shown through the stage.
    fn log(&self, id: &str, settings: &Settings) -> Log {
        let stage: Arc<dyn crate::log::Stage> = self.stage.clone();
        let log = Log::new(id, true).with_names(settings).on_stage(stage);
        if self.slow {
            log.paced(SLOW_CHUNK_PAUSE)
        } else {
            log
        }
    }
}

fn start_tracker(logs: &Logs, listener: TcpListener, settings: &Settings) -> Result<Tracker> {
    let mut config = TrackerConfig::new(settings.clone(), logs.log(TRACKER_ID, settings));
    config.heartbeat = Some(DEMO_HEARTBEAT);
    Tracker::start(listener, config)
}

fn peer_config(logs: &Logs, id: &str, settings: &Settings, dir: &Path) -> PeerConfig {
    PeerConfig {
        id: id.to_string(),
        settings: settings.clone(),
        dir: dir.to_path_buf(),
        max_connections: PEER_MAX_CONNECTIONS,
        heartbeat: Some(DEMO_HEARTBEAT),
        log: logs.log(id, settings),
    }
}

fn take_three(peers: Vec<Peer>) -> Result<[Peer; 3]> {
    peers
        .try_into()
        .map_err(|_| Error::Other("expected three peers".into()))
}
