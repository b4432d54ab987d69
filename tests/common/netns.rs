//! A computer lab on one machine, for `tests/multi_host.rs`.
//!
//! Each "machine" is a Linux network namespace: its own interfaces,
//! addresses, routes and ports. A tracker in one and peers in others talk
//! over a real (virtual) network, not over loopback, so the tracker sees
//! each peer's own address, and a pulled cable or a power cut can be played
//! for real. One more namespace plays the switch: it holds a bridge, and
//! every machine is plugged into it with a virtual cable (a veth pair: one
//! end is `eth0` inside the machine, the other a port of the bridge).
//! Programs run inside a machine with `ip netns exec NAME PROGRAM ...`.
//!
//! Nothing here touches the real machine's interfaces or routes: every
//! interface is created inside a namespace of ours, and traffic only flows
//! between them. Dropping the [`Lab`] kills whatever still runs in it and
//! deletes every namespace it made, also when the test panics. Namespaces
//! are named `p2plab-PID-N-HOST` (N counts the labs of one test process),
//! so tests running in parallel never collide, and the namespaces of a run
//! that was killed before it could clean up are recognised (their PID is
//! gone) and removed by the next run.
//!
//! It needs root (creating namespaces does) and the `ip` command
//! (iproute2). Without either, [`Lab::new`] says so in one line and returns
//! `None`, and the test passes without running.

use super::{Node, TempDir, POLL_INTERVAL};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Every namespace a lab makes starts with this.
const PREFIX: &str = "p2plab-";

/// The interface of each machine, at its end of the cable.
pub const DEVICE: &str = "eth0";

/// Building or tearing down a lab runs a few dozen `ip` commands; one lab
/// at a time does so, so that parallel tests do not pile up on the
/// kernel's network configuration lock (and on 2 cores).
static BUILDING: Mutex<()> = Mutex::new(());

/// A switch and the machines plugged into it, removed on drop.
pub struct Lab {
    /// `p2plab-PID-N`: the start of every namespace name of this lab.
    name: String,
    /// The namespaces made so far (removed on drop, even if deleted
    /// already), the switch first.
    made: Vec<String>,
    /// A temporary folder for settings files and served folders.
    pub tmp: TempDir,
}

impl Lab {
    /// An empty lab (only the switch), or `None` after printing one line
    /// saying why it cannot be built here.
    pub fn new(test: &str) -> Option<Lab> {
        if let Some(why) = why_no_lab() {
            say_not_run(test, &why);
            return None;
        }
        let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        remove_stale_labs();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let switch = format!("{name}-switch");
        // Being root is not always enough (a container may forbid new
        // namespaces): the first one we make is the real test.
        if let Err(error) = ip(&["netns", "add", &switch]) {
            say_not_run(test, &format!("cannot create a network namespace: {error}"));
            return None;
        }
        let lab = Lab {
            made: vec![switch.clone()],
            tmp: TempDir::new(test),
            name,
        };
        lab.ip_in_switch(&["link", "add", "br0", "type", "bridge"]);
        lab.ip_in_switch(&["link", "set", "br0", "up"]);
        Some(lab)
    }

    /// The namespace of machine `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.name)
    }

    /// Adds a machine: a namespace with loopback up, plugged into the switch,
    /// with these addresses on its `eth0` (`10.77.0.2/24`, `fd00:77::2/64`).
    /// IPv6 addresses are added with `nodad`, so that they are usable at
    /// once (no duplicate address detection, which takes a second or two).
    pub fn add_host(&mut self, host: &str, addresses: &[&str]) {
        let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        let ns = self.ns(host);
        // The switch's end of the cable; interface names are 15 bytes at
        // most, and the ports of one switch only need to differ.
        let port = format!("to-{host}");
        assert!(port.len() <= 15, "host name {host:?} too long for a port");
        ip(&["netns", "add", &ns]).unwrap_or_else(|e| panic!("{e}"));
        if !self.made.contains(&ns) {
            self.made.push(ns.clone());
        }
        // The cable is made inside the switch, with its other end moved
        // straight into the machine: it never appears among the real
        // machine's interfaces.
        self.ip_in_switch(&[
            "link", "add", &port, "type", "veth", "peer", "name", DEVICE, "netns", &ns,
        ]);
        self.ip_in_switch(&["link", "set", &port, "master", "br0", "up"]);
        // A machine keeps its network card, so its hardware (MAC) address,
        // when it is built again after a power cut: the others' address
        // caches stay right, as they would in a real lab.
        self.ip_in(
            host,
            &["link", "set", DEVICE, "address", &mac_address(host)],
        );
        self.ip_in(host, &["link", "set", "lo", "up"]);
        for address in addresses {
            let mut args = vec!["addr", "add", address, "dev", DEVICE];
            if address.contains(':') {
                args.push("nodad");
            }
            self.ip_in(host, &args);
        }
        self.ip_in(host, &["link", "set", DEVICE, "up"]);
    }

    /// A machine loses power: its cable goes dead first (so that not even
    /// the kernel's closing of its connections reaches anyone), then every
    /// process in it is killed, then the machine is gone. `add_host` with the
    /// same name builds it again, empty.
    pub fn power_off(&mut self, host: &str) {
        self.cable(host, false);
        let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        remove_namespace(&self.ns(host));
        // The kernel frees a deleted namespace in the background; remove
        // the switch's end of its cable now, so the machine can be built
        // again at once. (Deleting one end of a veth pair deletes both;
        // this one may be gone already.)
        let _ = ip(&[
            "-n",
            &self.ns("switch"),
            "link",
            "del",
            &format!("to-{host}"),
        ]);
    }

    /// Plugs (`true`) or pulls (`false`) a machine's cable, from inside the
    /// machine: its `eth0` goes up or down.
    pub fn cable(&self, host: &str, plugged: bool) {
        let state = if plugged { "up" } else { "down" };
        self.ip_in(host, &["link", "set", DEVICE, state]);
    }

    /// Runs `ip ARGS` inside a machine; panics if it fails.
    pub fn ip_in(&self, host: &str, args: &[&str]) {
        let ns = self.ns(host);
        let mut all = vec!["-n", &ns];
        all.extend_from_slice(args);
        ip(&all).unwrap_or_else(|e| panic!("{e}"));
    }

    fn ip_in_switch(&self, args: &[&str]) {
        self.ip_in("switch", args);
    }

    /// Runs a command inside a machine to its end; its error output when
    /// it fails.
    pub fn run_in(&self, host: &str, program: &str, args: &[&str]) -> Result<(), String> {
        let mut command = vec!["netns".into(), "exec".into(), self.ns(host), program.into()];
        command.extend(args.iter().map(|s| s.to_string()));
        run_command("ip", &command)
    }

    /// Starts a long-running program inside a machine (see [`Node`]: its
    /// output is collected, and it is killed when dropped). `ip netns exec`
    /// enters the namespace and then becomes the program, so the process
    /// is the program itself.
    pub fn spawn(&self, host: &str, name: &str, program: &str, args: &[String]) -> Node {
        let mut all = vec![
            "netns".to_string(),
            "exec".to_string(),
            self.ns(host),
            program.to_string(),
        ];
        all.extend_from_slice(args);
        Node::spawn(name, "ip", &all, self.tmp.path())
    }

    /// Gives a machine its own `/etc/hosts`: `ip netns exec` shows the
    /// files of `/etc/netns/NAMESPACE/` in place of those of `/etc` to the
    /// programs it starts. Write it before starting them.
    pub fn write_hosts_file(&self, host: &str, text: &str) {
        let dir = etc_dir(&self.ns(host));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::write(dir.join("hosts"), text).expect("write the machine's hosts file");
    }

    /// A file in the lab's temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        // The machines first, the switch last.
        for ns in self.made.iter().rev() {
            remove_namespace(ns);
        }
    }
}

/// Why no lab can be built on this machine, if so.
fn why_no_lab() -> Option<String> {
    if let Err(error) = Command::new("ip").arg("-V").output() {
        return Some(format!(
            "the `ip` command (iproute2) cannot be run: {error}"
        ));
    }
    // The effective user id is the second number of the `Uid:` line.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    match euid {
        Some("0") => None,
        Some(_) => Some("it needs root, to create network namespaces".into()),
        None => Some("it needs Linux network namespaces".into()),
    }
}

/// One line, straight to the terminal: the test harness hides what a
/// passing test prints with `println!`, and this one should be seen.
fn say_not_run(test: &str, why: &str) {
    // One write, so that parallel tests' lines do not mix.
    let line = format!("lab test {test} not run: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Runs `ip ARGS`; its error output (or why it could not start) on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run_command("ip", &args)
}

fn run_command(program: &str, args: &[String]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A fixed hardware address for a machine's `eth0`, made from its name:
/// `02:...` marks a locally made address, which no real card has.
fn mac_address(host: &str) -> String {
    // FNV-1a: a few lines, and different names give different addresses.
    let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let bytes = hash.to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]
    )
}

fn etc_dir(ns: &str) -> PathBuf {
    Path::new("/etc/netns").join(ns)
}

/// Kills every process still in a namespace, deletes it and its folder in
/// `/etc/netns`. Each step may find nothing to do.
fn remove_namespace(ns: &str) {
    // `ip netns del` only removes the name: a namespace lives on while a
    // process is in it, and so would its addresses.
    if let Ok(output) = Command::new("ip").args(["netns", "pids", ns]).output() {
        let pids = String::from_utf8_lossy(&output.stdout);
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
    let _ = ip(&["netns", "del", ns]);
    let _ = fs::remove_dir_all(etc_dir(ns));
}

/// Removes the namespaces (and `/etc/netns` folders) of earlier test runs
/// that were killed before they could clean up: those whose PID is no
/// longer running.
fn remove_stale_labs() {
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    // Lines look like `p2plab-123-0-peer1 (id: 4)`.
    let mut names: Vec<String> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    if let Ok(entries) = fs::read_dir("/etc/netns") {
        names.extend(
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into()),
        );
    }
    for name in names {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            remove_namespace(&name);
        }
    }
}

// ---------------------------------------------------------------------------
// Waiting longer than `TIMEOUT`, or for a line printed after a point
// ---------------------------------------------------------------------------

/// Waits until a line that `node` printed after the first `from` lines of
/// one of its streams (`Node::stderr_lines` for its log, or
/// `Node::stdout_lines` for command results) satisfies `pred`, for at most
/// `within`; returns the line and when it was seen (polled every 20 ms).
/// Fails at once if the process exits.
pub fn wait_line_after(
    node: &mut Node,
    stream: fn(&Node) -> Vec<String>,
    from: usize,
    within: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> (String, Instant) {
    let deadline = Instant::now() + within;
    loop {
        let exited = node.try_exit_status();
        if let Some(line) = stream(node).iter().skip(from).find(|l| pred(l)) {
            return (line.clone(), Instant::now());
        }
        if exited.is_some() || Instant::now() >= deadline {
            let how = match exited {
                Some(status) => format!("exited ({status})"),
                None => format!("did not within {within:?}"),
            };
            panic!(
                "{} {how} without printing {what}; it printed:\n{}\n--- stderr ---\n{}",
                node.name,
                node.stdout_lines().join("\n"),
                node.stderr_lines().join("\n")
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
}
