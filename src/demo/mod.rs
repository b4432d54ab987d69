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
//! for the page's arrows), `bad_holder.rs` (holders that lie or vanish
//! part-way through a transfer), and this one (the scenes).

mod bad_holder;
pub mod samples;
mod scenes;
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

/// The intro's last lines: how to read what follows, and what names the
/// other end of a protocol line.
const INTRO_NOTATION: [&str; 4] = [
    "a protocol line is shown once, where it arrives: \"[tracker] peer1 <- PING\" is the tracker",
    "receiving PING from peer1. A node connects from a passing port: the tracker shows it by",
    "that ip:port until it has joined; a peer shows every connection that comes to it as",
    "\"incoming ip:port\" (here all nodes share 127.0.0.1, which cannot say who connects);",
];

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
    /// Wait for the Enter key before each act: set when standard output is
    /// a terminal (and neither `--step` nor `--web` waits already), so that
    /// a first-time reader sees each act before the next scrolls it away.
    /// Piped output never waits.
    pub pause_at_acts: bool,
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
        // The address on a line of its own: with its token it is long, and
        // it stays one click to open.
        stage.say("the whole system on one diagram: open this address in a browser,");
        stage.say(page.url());
        stage.say("and press \"Next scene\" there to play each scene");
    }
    let scratch = TempDir::new("demo")?;
    let cast = set_up(&show, &scratch)?;
    let result = scenes::play(&mut show, cast);
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
    let tracker = listen(any_free_port, "the demo")?;
    let peers = SAMPLES
        .iter()
        .map(|_| listen(any_free_port, "the demo"))
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
    for line in INTRO_NOTATION {
        stage.say(line);
    }
    stage.say("\"[12:00:00 peer1] ...\" is peer1's own log");
    Ok(Cast {
        settings,
        tracker,
        peers,
        dirs,
    })
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
    /// Shows an act's heading, first waiting for Enter on a terminal
    /// (see [`Options::pause_at_acts`]). The end of the input (`<
    /// /dev/null`) or an error lets the demo run on without pauses.
    fn act(&self, title: &str) {
        if self.options.pause_at_acts && self.page.is_none() && !self.options.step {
            // The first time, how to do without the pauses.
            let skip = if self.scenes == 0 {
                "; `< /dev/null` plays it all without pauses"
            } else {
                ""
            };
            let ask = format!("\n(press Enter for {title}{skip}) ");
            crate::log::write_whole(crate::log::Stream::Out, ask.as_bytes());
            let _ = std::io::stdin().read_line(&mut String::new());
        }
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
        let stage: Arc<dyn crate::log::LineSink> = self.stage.clone();
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
