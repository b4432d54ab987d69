//! A test network: free loopback ports, a settings file naming a tracker
//! and some peers, a served folder per peer, and starting the real
//! programs on them; and how many connections a test may open under the
//! machine's open-file limit.

use super::fakes::Probe;
use super::files::TempDir;
use super::processes::{Node, PEER_BIN, TRACKER_BIN};
use p2p_share::open_files::{connections_that_fit, open_file_limit};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ports handed out below the kernel's range of ephemeral ports (where the
/// source ports of outgoing connections come from, 32768 and up on Linux).
/// A port picked by binding port 0 comes from that very range, so between
/// the test dropping its listener and the program binding the port, any
/// outgoing connection of a test running in parallel could take it as its
/// source port, and the program would fail with "address in use".
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nobody is listening on, different on every call in this
/// test process. Test binaries run one after another; the start depends on
/// the process id, so two test runs side by side rarely pick the same ports.
pub fn free_port() -> u16 {
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    // Processes with neighbouring ids start far apart: 7919 is a prime, so
    // the starts are spread over the whole range.
    let start = (u64::from(std::process::id()) * 7919 % u64::from(span)) as u16;
    let mut offset = next.unwrap_or(start);
    for _ in 0..span {
        let port = PORT_RANGE.start + offset;
        offset = (offset + 1) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(offset);
            return port;
        }
    }
    panic!("no free port in {PORT_RANGE:?}");
}

/// Writes a settings file with one `id address port` line per node.
pub fn write_settings(path: &Path, nodes: &[(&str, u16)]) {
    let mut text = String::from("# written by the integration tests\n");
    for (id, port) in nodes {
        text.push_str(&format!("{id} 127.0.0.1 {port}\n"));
    }
    fs::write(path, text).expect("write settings file");
}

/// A test network: a temporary folder holding a settings file (a tracker and
/// the given peers, each on its own free port) and one served folder per
/// peer (`<tmp>/<id>`).
pub struct Net {
    pub tmp: TempDir,
    pub settings: PathBuf,
    pub tracker_port: u16,
    pub peers: Vec<(String, u16)>,
}

impl Net {
    pub fn new(test_name: &str, peer_ids: &[&str]) -> Net {
        let tmp = TempDir::new(test_name);
        let tracker_port = free_port();
        let peers: Vec<(String, u16)> = peer_ids
            .iter()
            .map(|id| (id.to_string(), free_port()))
            .collect();
        let mut nodes: Vec<(&str, u16)> = vec![("tracker", tracker_port)];
        nodes.extend(peers.iter().map(|(id, port)| (id.as_str(), *port)));
        let settings = tmp.join("settings.txt");
        write_settings(&settings, &nodes);
        for (id, _) in &peers {
            fs::create_dir_all(tmp.join(id)).expect("create served folder");
        }
        Net {
            tmp,
            settings,
            tracker_port,
            peers,
        }
    }

    pub fn tracker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tracker_port)
    }

    pub fn port(&self, id: &str) -> u16 {
        self.peers
            .iter()
            .find(|(peer, _)| peer == id)
            .map(|(_, port)| *port)
            .unwrap_or_else(|| panic!("no peer {id} in this test network"))
    }

    pub fn addr(&self, id: &str) -> String {
        format!("127.0.0.1:{}", self.port(id))
    }

    /// The served folder of a peer.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.tmp.join(id)
    }

    /// Writes a file in a peer's served folder and returns its path.
    pub fn put(&self, id: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir(id).join(name);
        fs::write(&path, bytes).expect("write served file");
        path
    }

    /// Starts `tracker --settings F [extra...]` and waits until it accepts
    /// connections.
    pub fn start_tracker(&self, extra: &[&str]) -> Node {
        let mut args: Vec<String> = vec!["--settings".into(), path_arg(&self.settings)];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node::spawn("tracker", TRACKER_BIN, &args, self.tmp.path());
        node.wait_for_port(&self.tracker_addr());
        node
    }

    /// Starts `peer ID --settings F --dir D [--serve] [extra...]` and waits
    /// until it accepts connections. (Whether it has joined the tracker yet
    /// is for the test to check, e.g. with `Probe::wait_found_at`.)
    pub fn start_peer(&self, id: &str, serve: bool, extra: &[&str]) -> Node {
        let mut args: Vec<String> = vec![
            id.into(),
            "--settings".into(),
            path_arg(&self.settings),
            "--dir".into(),
            path_arg(&self.dir(id)),
        ];
        if serve {
            args.push("--serve".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node::spawn(id, PEER_BIN, &args, self.tmp.path());
        node.wait_for_port(&self.addr(id));
        node
    }

    /// A fake peer joined to this network's tracker, to search with.
    pub fn probe(&self) -> Probe {
        Probe::join(&self.tracker_addr())
    }
}

pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_string()
}

/// How many connections a test may hold open at once to one tracker or peer
/// it started: `wanted`, or fewer where the open-file limit is lower than
/// that needs (`ulimit -n`: 1024 on many Linux accounts, 256 on macOS).
/// The programs inherit the limit from the tests, and lower their caps to
/// fit it (`p2p_share::open_files`); `spare` of that cap are kept for the
/// test's other connections (probes). This test process holds a socket per
/// connection too, while the other tests of its file run beside it: it
/// takes half the limit at most. Prints one line when `wanted` is lowered.
pub fn connections_within_open_file_limit(wanted: usize, spare: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return wanted;
    };
    let server_cap = connections_that_fit(limit, 1).saturating_sub(spare);
    let ours = usize::try_from(limit / 2).unwrap_or(usize::MAX);
    let fit = wanted.min(server_cap).min(ours);
    if fit < wanted {
        println!(
            "note: the open-file limit (ulimit -n) is {limit}: this test uses {fit} connections, not {wanted}"
        );
    }
    fit
}
