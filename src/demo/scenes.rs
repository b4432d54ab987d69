//! The demo's scenes, in the order they are played: [`play`] reads as the
//! programme, and each scene is a small function of its own.

use super::{
    holder_names, io, joined, left, name, peer_config, peer_ids, same_as_sample, start_tracker,
    take_three, Cast, Logs, Show,
};
use crate::error::{Error, Result};
use crate::peer::Peer;
use crate::settings::Settings;
use crate::tracker::Tracker;
use crate::wire::protocol::Location;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use super::bad_holder::{BadHolder, Fault};
use super::samples::sample;
use super::stage::{Mode, Stage};

/// Where the vanishing holder stops sending data.bin (4321 bytes): after
/// 17 whole chunks, about 40 %.
const CUT_AT: usize = 1700;

/// The chunk of data.bin in which the lying holder sends a wrong byte.
const LIE_IN_CHUNK: usize = 11;

/// The scenes, in order.
pub(super) fn play(show: &mut Show, cast: Cast) -> Result<()> {
    let Cast {
        settings,
        tracker: tracker_listener,
        peers: listeners,
        dirs,
    } = cast;
    let logs = Logs {
        stage: Arc::clone(&show.stage),
        slow: show.options.slow,
    };
    // A second handle on the tracker's listening socket, kept through act
    // 3: when the first tracker stops, the socket stays open, so the peers'
    // first try to rejoin waits in its queue for the second tracker instead
    // of being refused (as with a service manager that holds the socket).
    let tracker_socket = tracker_listener.try_clone().map_err(io)?;
    let mut play = Play {
        show,
        settings,
        logs,
        dirs,
    };
    play.show.act("Act 1: the core protocol");
    let mut tracker = start_tracker(&play.logs, tracker_listener, &play.settings)?;
    let [peer1, peer2, peer3] = play.everyone_joins(listeners)?;
    play.search_notes(&peer2)?;
    play.download_notes(&peer2)?;
    play.leaves(peer3)?;
    play.search_gone(&peer2)?;
    play.crashes(peer1)?;
    play.search_notes_again(&peer2)?;

    play.show.act("Act 2: direct peer commands");
    let [peer1, peer3] = play.come_back()?;
    play.list_files(&peer2)?;
    play.upload_poem(&peer2)?;
    play.fetch_syllabus(&peer2)?;
    play.ping_peer1(&peer2)?;

    play.show.act("Act 3: the tracker crashes and comes back");
    play.tracker_crashes(&mut tracker)?;
    drop(tracker);
    let tracker = play.new_tracker(tracker_socket)?;

    play.show.act("Act 4: beyond the source systems");
    play.find_notes(&peer3)?;
    play.liar_caught(&peer1)?;
    play.download_cut_and_resumed(&peer2)?;

    play.show.act("The end");
    play.everyone_leaves([peer1, peer2, peer3])?;
    drop(tracker);
    Ok(())
}

/// What the scenes share: the show, the settings file, each node's log
/// and the peers' folders.
struct Play<'s, 'p> {
    show: &'s mut Show<'p>,
    settings: Settings,
    logs: Logs,
    dirs: Vec<PathBuf>,
}

impl Play<'_, '_> {
    /// Each peer starts on its listener and joins.
    fn everyone_joins(&mut self, listeners: Vec<TcpListener>) -> Result<[Peer; 3]> {
        let mut peers = Vec::new();
        for ((id, listener), dir) in peer_ids().iter().zip(listeners).zip(&self.dirs) {
            let first = [
                &format!("{id} starts and joins the tracker: HELLO, HI, then its file records;")
                    as &str,
                "then PING: the tracker answers PONG only to a peer it accepted",
            ];
            let later = [&format!("{id} starts and joins the same way") as &str];
            let narration: &[&str] = if peers.is_empty() { &first } else { &later };
            let config = peer_config(&self.logs, id, &self.settings, dir);
            let peer = self
                .show
                .scene(&format!("{id} joins"), narration, Mode::Live, |stage| {
                    let peer = Peer::start_on(listener, config)?;
                    joined(stage, id)?;
                    Ok(peer)
                })?;
            peers.push(peer);
        }
        take_three(peers)
    }

    fn search_notes(&mut self, peer2: &Peer) -> Result<()> {
        let settings = &self.settings;
        self.show.scene(
            "peer2 searches",
            &["peer2 asks the tracker who has notes.txt: SEARCH, answered by FOUND and where each copy is"],
            Mode::Live,
            |stage| {
                let holders = peer2.search("notes.txt")?;
                stage.say(&format!("found: {}", holder_names(settings, &holders)));
                Ok(())
            },
        )
    }

    fn download_notes(&mut self, peer2: &Peer) -> Result<()> {
        let (options, dirs) = (self.show.options, &self.dirs);
        self.show.scene(
            "peer2 downloads notes.txt",
            &[
                "peer2 downloads notes.txt from the first peer that has it: it searches again, sends",
                "DOWNLOAD to that peer, and peer1 answers FILE: and the bytes. Then peer2 announces its",
                "new file: it leaves with BYE and, once the tracker has closed that session, joins again",
                "with its new list",
            ],
            Mode::Live,
            |stage| {
                if options.break_download {
                    fs::remove_file(dirs[0].join("notes.txt")).map_err(io)?;
                }
                let downloaded = peer2.download("notes.txt", Some(1), &mut |_| {})?;
                joined(stage, "peer2")?;
                same_as_sample(&downloaded.path, "peer1", "notes.txt")?;
                stage.say("notes.txt arrived whole: byte for byte the same as peer1's copy");
                Ok(())
            },
        )
    }

    fn leaves(&mut self, peer3: Peer) -> Result<()> {
        self.show.scene(
            "peer3 leaves",
            &["peer3 leaves with BYE; the tracker drops its records at once"],
            Mode::Live,
            |stage| {
                peer3.quit();
                left(stage, "peer3")
            },
        )
    }

    fn search_gone(&mut self, peer2: &Peer) -> Result<()> {
        self.show.scene(
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
        )
    }

    fn crashes(&mut self, peer1: Peer) -> Result<()> {
        self.show.scene(
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
        )
    }

    fn search_notes_again(&mut self, peer2: &Peer) -> Result<()> {
        let settings = &self.settings;
        self.show.scene(
            "peer2 searches notes.txt again",
            &["peer2 searches notes.txt again"],
            Mode::Live,
            |stage| {
                let holders = peer2.search("notes.txt")?;
                stage.say(&format!(
                    "found: {}; peer1 is forgotten, and peer2 has its own copy now",
                    holder_names(settings, &holders)
                ));
                Ok(())
            },
        )
    }

    /// peer1 and peer3 start again, each from its own folder.
    fn come_back(&mut self) -> Result<[Peer; 2]> {
        let mut back = Vec::new();
        for (index, id) in [(0, "peer1"), (2, "peer3")] {
            let config = peer_config(&self.logs, id, &self.settings, &self.dirs[index]);
            let peer = self.show.scene(
                &format!("{id} comes back"),
                &[&format!("{id} starts again and joins the tracker")],
                Mode::Live,
                |stage| {
                    let peer = Peer::start(config)?;
                    joined(stage, id)?;
                    Ok(peer)
                },
            )?;
            back.push(peer);
        }
        back.try_into()
            .map_err(|_| Error::Other("expected two peers back".into()))
    }

    fn list_files(&mut self, peer2: &Peer) -> Result<()> {
        self.show.scene(
            "peer2 lists peer3's files",
            &["peer2 asks peer3 itself for its files: LIST, answered by FILES (no tracker involved)"],
            Mode::Live,
            |stage| {
                for (who, result) in peer2.list_peers(&["peer3".to_string()]) {
                    let names: Vec<String> =
                        result?.into_iter().map(|record| record.name).collect();
                    stage.say(&format!("{who} serves {}", names.join(", ")));
                }
                Ok(())
            },
        )
    }

    fn upload_poem(&mut self, peer2: &Peer) -> Result<()> {
        self.show.scene(
            "peer2 uploads poem.txt to peer3",
            &[
                "peer2 uploads poem.txt to peer3: UPLOAD, READY, then FILE: and the bytes; peer3",
                "announces its new file to the tracker (BYE, a new join), then answers DONE",
            ],
            Mode::Live,
            |stage| {
                for (who, result) in peer2.upload("poem.txt", &["peer3".to_string()], &|_, _| {})? {
                    result?;
                    stage.say(&format!("{who} has poem.txt now, and the tracker knows it"));
                }
                Ok(())
            },
        )
    }

    fn fetch_syllabus(&mut self, peer2: &Peer) -> Result<()> {
        let slow = self.show.options.slow;
        let how_shown = if slow {
            "(paced: each chunk is shown as it arrives, so the two peers' chunks take turns)"
        } else {
            "(both transfers run at the same time; their lines are shown one peer after the other)"
        };
        let mode = if slow {
            Mode::Live
        } else {
            Mode::ByPeer {
                peers: vec!["peer1".into(), "peer3".into(), "peer2".into()],
                tracker_first: false,
            }
        };
        let narration = [
            "peer2 fetches syllabus.txt from peer1 and peer3 at once: LIST to each, to learn the",
            "size, then DOWNLOAD of one range of 100-byte chunks from each; then it announces it",
            how_shown,
        ];
        let settings = &self.settings;
        let title = "peer2 fetches syllabus.txt from two peers";
        self.show.scene(title, &narration, mode, |stage| {
            let holders = ["peer1".to_string(), "peer3".to_string()];
            let report = peer2.fetch("syllabus.txt", &holders, &mut |_, _| {})?;
            joined(stage, "peer2")?;
            let mut sent: Vec<String> = report
                .chunks_by_peer
                .iter()
                .map(|(from, chunks)| format!("{} sent {chunks} chunk(s)", name(settings, *from)))
                .collect();
            sent.sort();
            same_as_sample(&report.path, "peer1", "syllabus.txt")?;
            stage.say(&format!(
                "{}; syllabus.txt is whole, byte for byte",
                sent.join(", ")
            ));
            Ok(())
        })
    }

    fn ping_peer1(&mut self, peer2: &Peer) -> Result<()> {
        self.show.scene(
            "peer2 pings peer1",
            &["peer2 pings peer1 directly: PING, answered by PONG"],
            Mode::Live,
            |stage| {
                peer2.ping("peer1")?;
                stage.say("peer1 answered: it is up");
                Ok(())
            },
        )
    }

    fn tracker_crashes(&mut self, tracker: &mut Tracker) -> Result<()> {
        self.show.scene(
            "the tracker crashes",
            &[
                "the tracker stops without a word, as in a crash: every session closes; each peer",
                "notices, keeps serving its files, and will rejoin by itself",
                "(shown peer by peer: the tracker's line about peer1, peer1's notice, then peer2...)",
            ],
            Mode::ByPeer {
                peers: peer_ids(),
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
        )
    }

    fn new_tracker(&mut self, socket: TcpListener) -> Result<Tracker> {
        let (logs, settings) = (&self.logs, &self.settings);
        self.show.scene(
            "a new tracker starts",
            &[
                "a new tracker starts on the same address, with an empty index; each peer rejoins",
                "by itself with its files (shown peer by peer)",
            ],
            Mode::ByPeer {
                peers: peer_ids(),
                tracker_first: false,
            },
            |stage| {
                let tracker = start_tracker(logs, socket, settings)?;
                for id in ["peer1", "peer2", "peer3"] {
                    stage.wait_for(id, "notice: rejoined", 1, &format!("{id} to rejoin"))?;
                }
                stage.say(&format!(
                    "all {} peers are back in the new tracker's index",
                    tracker.peers().len()
                ));
                Ok(tracker)
            },
        )
    }

    /// The keyword search that Napster added to exact names.
    fn find_notes(&mut self, peer3: &Peer) -> Result<()> {
        let settings = &self.settings;
        self.show.scene(
            "peer3 searches by keyword",
            &[
                "peer3 asks the tracker for every file whose name holds NOTES, in any case: FIND (an",
                "extension, as Napster searched by keywords), answered by FILES and a record per copy",
            ],
            Mode::Live,
            |stage| {
                let found = peer3.find(&["NOTES".to_string()])?;
                let mut copies: Vec<String> = found
                    .iter()
                    .map(|record| format!("{} at {}", record.name, name(settings, record.addr())))
                    .collect();
                // By name, then peer: the same each run, whatever ports the peers got.
                copies.sort();
                if copies.is_empty() {
                    return Err(Error::Other("FIND answered NOT FOUND".into()));
                }
                stage.say(&format!("found: {}", copies.join(", ")));
                Ok(())
            },
        )
    }

    /// A holder that sends a wrong byte in its range of a fetch is caught
    /// by the range hash and named, and the range comes again from another
    /// holder (as BitTorrent checks every piece).
    fn liar_caught(&mut self, peer1: &Peer) -> Result<()> {
        let tracker = self.settings.tracker()?;
        let narration = [
            "a fourth peer joins with data.bin, and peer1 fetches data.bin from it and peer3 at once:",
            "HASH of the whole file from each (they agree), then a range each. The fourth peer sends",
            "a wrong byte in chunk 11 of its range, though its HASH answers are true. peer1 checks",
            "each range against HASH of that range from the other holder: the hashes of chunks 0 to",
            "21 differ, so the fourth peer is named and that range is fetched again from peer3",
            "(the fetch's two holders work at the same time: their lines are shown one after the",
            "other, first the fourth peer's, with peer1's own and its announce, then peer3's)",
        ];
        let settings = &self.settings;
        self.show
            .scene("a lying holder is caught", &narration, Mode::Live, |stage| {
                let fault = Fault::LiesInChunk(LIE_IN_CHUNK);
                let (_, liar) = bad_data_bin(peer1, tracker, fault)?;
                // Only the fetch runs things at the same time.
                stage.begin(Mode::ByPeer {
                    peers: vec!["peer1".into(), "peer3".into()],
                    tracker_first: false,
                });
                let holders = [liar.addr().to_string(), "peer3".to_string()];
                let report = peer1.fetch("data.bin", &holders, &mut |_, _| {})?;
                joined(stage, "peer1")?;
                stage.begin(Mode::Live);
                let caught = report.failures.iter().find(|(from, why)| {
                    *from == liar.addr() && why.starts_with("sent bad bytes")
                });
                let Some((_, why)) = caught else {
                    return Err(Error::Other("the lying holder was not caught".into()));
                };
                same_as_sample(&report.path, "peer3", "data.bin")?;
                liar.leave()?;
                stage.wait_for("tracker", "leave", 1, "the bad holder to be forgotten")?;
                // Its reason, without the checker's passing address.
                let what = why.split(" (").next().unwrap_or(why);
                stage.say(&format!("caught by the range hash: the fourth peer {what}"));
                for (from, chunks) in &report.chunks_by_peer {
                    let who = name(settings, *from);
                    stage.say(&format!(
                        "{who} sent {chunks} chunk(s): its own range, and the bad one again"
                    ));
                }
                stage.say("data.bin is whole, byte for byte, and its hash is the one the holders agree on:");
                stage.say(&format!("{}", report.verification));
                Ok(())
            })
    }

    /// A download cut off part-way keeps its chunks, and the next one
    /// goes on from there, from another holder (as Napster resumed).
    fn download_cut_and_resumed(&mut self, peer2: &Peer) -> Result<()> {
        let tracker = self.settings.tracker()?;
        let narration = [
            "a fourth peer joins with data.bin and vanishes after 1700 of its 4321 bytes while peer2",
            "downloads it from there; peer2 keeps the 17 chunks, hidden. Then peer2 downloads",
            "data.bin from peer3: a ranged DOWNLOAD from chunk 17, then HASH of the whole file",
        ];
        self.show.scene(
            "a download is cut off, then resumed",
            &narration,
            Mode::Live,
            |stage| {
                let (copy, vanisher) = bad_data_bin(peer2, tracker, Fault::VanishAfter(CUT_AT))?;
                let cut = peer2.download_from("data.bin", vanisher.addr(), &mut |_, _| {});
                let Err(error) = cut else {
                    return Err(Error::Other("the cut download worked".into()));
                };
                stage.say(&format!("the download failed: {error}"));
                then_from_peer3(stage, (peer2, "peer2"), vanisher, &copy)
            },
        )
    }

    fn everyone_leaves(&mut self, peers: [Peer; 3]) -> Result<()> {
        self.show.scene(
            "everyone leaves",
            &["every peer says BYE and stops; then the tracker stops and the temporary folder goes"],
            Mode::Live,
            |stage| {
                for (id, peer) in ["peer1", "peer2", "peer3"].into_iter().zip(peers) {
                    peer.quit();
                    left(stage, id)?;
                }
                Ok(())
            },
        )
    }
}

/// A bad holder of peer3's data.bin joins the tracker with `fault`.
/// Returns peer3's copy, as the tracker lists it to `peer`, and the bad
/// holder.
fn bad_data_bin(peer: &Peer, tracker: SocketAddr, fault: Fault) -> Result<(Location, BadHolder)> {
    let copy = peer.search("data.bin")?.into_iter().next();
    let copy = copy.ok_or_else(|| Error::Other("nobody has data.bin".into()))?;
    let bytes =
        sample("peer3", "data.bin").ok_or_else(|| Error::Other("no sample data.bin".into()))?;
    let bad = BadHolder::join(tracker, "data.bin", &copy, bytes, fault)?;
    Ok((copy, bad))
}

/// The bad holder leaves; then `peer` downloads data.bin from peer3's
/// `copy`, announces it, and the stage says it is whole and verified.
fn then_from_peer3(
    stage: &Stage,
    (peer, id): (&Peer, &str),
    bad: BadHolder,
    copy: &Location,
) -> Result<()> {
    bad.leave()?;
    stage.wait_for("tracker", "leave", 1, "the bad holder to be forgotten")?;
    let done = peer.download_from("data.bin", copy.addr(), &mut |_, _| {})?;
    joined(stage, id)?;
    same_as_sample(&done.path, "peer3", "data.bin")?;
    stage.say("data.bin from peer3 is whole, and its hash agrees with peer3's:");
    stage.say(&format!("{}", done.verification));
    Ok(())
}
