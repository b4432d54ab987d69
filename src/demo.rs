//! `cargo run --bin demo`: the whole system in one process, narrated.
//!
//! It starts a tracker and three peers on free loopback ports, over
//! temporary copies of `served_files/`, with `--trace` on, so every
//! protocol line that crosses shows up as `[who] other-end -> LINE` (sent)
//! or `<- LINE` (received). Lines starting with `demo:` are the narration.
//! At the end every node stops and the temporary folder is removed.

use crate::error::{Error, Result};
use crate::liveness::DEFAULT_HEARTBEAT;
use crate::log::Log;
use crate::peer::{Peer, PeerConfig};
use crate::peer_server::PEER_MAX_CONNECTIONS;
use crate::server::listen;
use crate::settings::{Settings, TRACKER_ID};
use crate::temp_dir::TempDir;
use crate::tracker::{Tracker, TrackerConfig};
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The peers of the demo, as in the shipped `peer_settings.txt`.
const PEERS: [&str; 3] = ["peer1", "peer2", "peer3"];

/// How long the demo waits for something to happen (a join, a leave)
/// before it gives up with an error instead of hanging.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Runs the demo from start to end. With `step`, it waits for the Enter
/// key before each act, so a teacher can talk over each one.
pub fn run(step: bool) -> Result<()> {
    let scratch = TempDir::new("demo")?;
    say("setting up: a tracker and three peers on free loopback ports, each peer");
    say(&format!(
        "serving a copy of served_files/peerN in {}",
        scratch.path().display()
    ));

    // Bind every listener first, on port 0 (the system picks a free port),
    // then write the ports into a settings file, as a user would by hand.
    let any_free_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let tracker_listener = listen(any_free_port)?;
    let listeners = PEERS
        .iter()
        .map(|_| listen(any_free_port))
        .collect::<Result<Vec<_>>>()?;
    let settings = write_settings(&scratch, &tracker_listener, &listeners)?;
    let dirs = copy_served_files(&scratch)?;

    act(step, "Act 1: the core protocol");
    say("the tracker starts; each peer joins it: HELLO, HI, then its file records");
    let mut tracker = start_tracker(tracker_listener, &settings)?;
    let mut peers = Vec::new();
    for ((id, listener), dir) in PEERS.iter().zip(listeners).zip(&dirs) {
        peers.push(Peer::start_on(listener, peer_config(id, &settings, dir))?);
    }
    wait_for("all three peers to join", || tracker.peers().len() == 3)?;
    let [peer1, peer2, peer3] = take_three(peers)?;

    say("peer2 asks the tracker who has notes.txt (SEARCH, answered by FOUND)");
    let holders = peer2.search("notes.txt")?;
    say(&format!(
        "{} holder(s); `download notes.txt 1` searches again and downloads from holder 1",
        holders.len()
    ));
    let downloaded = peer2.download("notes.txt", Some(1), &mut |_, _| {})?;
    let same = fs::read(&downloaded.path).map_err(io)?
        == fs::read(dirs[0].join("notes.txt")).map_err(io)?;
    say(&format!(
        "compared byte for byte with peer1's copy: {}",
        if same { "identical" } else { "DIFFERENT" }
    ));
    if !same {
        return Err(Error::Other(
            "the downloaded file differs from the original".into(),
        ));
    }
    say("peer2 now shares notes.txt too: it left (BYE) and joined again with its new list");

    say("peer3 leaves with BYE; the tracker drops its records at once");
    peer3.quit();
    wait_for("the tracker to forget peer3", || tracker.peers().len() == 2)?;
    let found = peer2.search("data.bin")?;
    say(&format!(
        "peer2 searches data.bin (only peer3 had it): {} holder(s)",
        found.len()
    ));

    say("peer1 \"crashes\": its tracker connection just ends, no BYE");
    peer1.crash();
    wait_for("the tracker to forget peer1", || tracker.peers().len() == 1)?;
    let found = peer2.search("notes.txt")?;
    say(&format!(
        "the tracker forgot peer1 anyway; notes.txt now has {} holder(s): peer2 itself",
        found.len()
    ));

    act(step, "Act 2: direct peer commands");
    say("peer1 and peer3 come back and join again");
    let peer1 = Peer::start(peer_config("peer1", &settings, &dirs[0]))?;
    let peer3 = Peer::start(peer_config("peer3", &settings, &dirs[2]))?;
    wait_for("peer1 and peer3 to rejoin", || tracker.peers().len() == 3)?;

    say("peer2 lists peer3's files directly (LIST, answered by FILES)");
    let files = peer2.list_peers(&["peer3".to_string()]);
    for (who, result) in files {
        let names: Vec<String> = result?.into_iter().map(|record| record.name).collect();
        say(&format!("{who} serves: {}", names.join(", ")));
    }

    say("peer2 uploads poem.txt to peer3 (UPLOAD, READY, FILE, DONE)");
    for (who, result) in peer2.upload("poem.txt", &["peer3".to_string()], &|_, _| {})? {
        result?;
        say(&format!("{who} has poem.txt now"));
    }

    say("peer2 fetches syllabus.txt from peer1 and peer3 at once: each sends one range of chunks");
    let peers = ["peer1".to_string(), "peer3".to_string()];
    let report = peer2.fetch("syllabus.txt", &peers, &mut |_, _| {})?;
    for (from, chunks) in &report.chunks_by_peer {
        say(&format!(
            "{} sent {chunks} chunk(s) of 100 bytes",
            peer2.describe(*from)
        ));
    }
    let same = fs::read(&report.path).map_err(io)?
        == fs::read(dirs[0].join("syllabus.txt")).map_err(io)?;
    say(&format!(
        "compared byte for byte with the original: {}",
        if same { "identical" } else { "DIFFERENT" }
    ));

    say("peer2 pings peer1 (PING, PONG)");
    let time = peer2.ping("peer1")?;
    say(&format!("PONG after {:.2} ms", time.as_secs_f64() * 1000.0));

    act(step, "Act 3: the tracker crashes and comes back");
    let tracker_addr = tracker.local_addr();
    tracker.stop();
    drop(tracker);
    say("the tracker is gone: every peer prints a notice and keeps serving");
    wait_for("the peers to notice", || {
        !peer1.is_joined() && !peer2.is_joined() && !peer3.is_joined()
    })?;
    say("a new tracker starts on the same address; the peers rejoin by themselves");
    let tracker = start_tracker(listen(tracker_addr)?, &settings)?;
    wait_for("the peers to rejoin", || tracker.peers().len() == 3)?;
    say(&format!(
        "all {} peers are back in the new tracker's index",
        tracker.peers().len()
    ));

    act(step, "The end");
    say("every peer says BYE; the tracker stops; the temporary folder is removed");
    for peer in [peer1, peer2, peer3] {
        peer.quit();
    }
    wait_for("every peer to leave", || tracker.peers().is_empty())?;
    drop(tracker);
    drop(scratch);
    say("done");
    Ok(())
}

fn say(text: &str) {
    println!("demo: {text}");
}

fn act(step: bool, title: &str) {
    if step {
        print!("\n(press Enter for: {title}) ");
        let _ = std::io::stdout().flush();
        // The end of the input (or an error) just lets the demo run on.
        let _ = std::io::stdin().read_line(&mut String::new());
    }
    println!("\n==== {title} ====");
}

fn io(error: std::io::Error) -> Error {
    Error::io("demo", error)
}

/// Polls `condition` until it holds, or fails after [`WAIT_LIMIT`].
fn wait_for(what: &str, condition: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition() {
        if Instant::now() > deadline {
            return Err(Error::Other(format!("gave up waiting for {what}")));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn write_settings(
    scratch: &TempDir,
    tracker: &TcpListener,
    peers: &[TcpListener],
) -> Result<Settings> {
    let mut text = String::from("# written by the demo: id address port\n");
    let addr = |listener: &TcpListener| listener.local_addr().map_err(io);
    text.push_str(&format!(
        "{TRACKER_ID} {} {}\n",
        addr(tracker)?.ip(),
        addr(tracker)?.port()
    ));
    for (id, listener) in PEERS.iter().zip(peers) {
        text.push_str(&format!(
            "{id} {} {}\n",
            addr(listener)?.ip(),
            addr(listener)?.port()
        ));
    }
    let path = scratch.path().join("peer_settings.txt");
    fs::write(&path, &text).map_err(io)?;
    say(&format!("its settings file, {}:", path.display()));
    for line in text.lines() {
        say(&format!("    {line}"));
    }
    Settings::load(&path)
}

/// Copies `served_files/peerN` (next to Cargo.toml) into the scratch folder.
fn copy_served_files(scratch: &TempDir) -> Result<Vec<PathBuf>> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("served_files");
    let mut dirs = Vec::new();
    for id in PEERS {
        let dir = scratch.subdir(id)?;
        let from = shipped.join(id);
        let entries =
            fs::read_dir(&from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(io)?;
            if entry.file_type().map_err(io)?.is_file() {
                fs::copy(entry.path(), dir.join(entry.file_name())).map_err(io)?;
            }
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

fn start_tracker(listener: TcpListener, settings: &Settings) -> Result<Tracker> {
    Tracker::start(
        listener,
        TrackerConfig::new(
            settings.clone(),
            Log::new("tracker", true).with_names(settings).on_stdout(),
        ),
    )
}

fn peer_config(id: &str, settings: &Settings, dir: &Path) -> PeerConfig {
    PeerConfig {
        id: id.to_string(),
        settings: settings.clone(),
        dir: dir.to_path_buf(),
        max_connections: PEER_MAX_CONNECTIONS,
        heartbeat: Some(DEFAULT_HEARTBEAT),
        log: Log::new(id, true).with_names(settings).on_stdout(),
    }
}

fn take_three(peers: Vec<Peer>) -> Result<[Peer; 3]> {
    peers
        .try_into()
        .map_err(|_| Error::Other("expected three peers".into()))
}
