//! The README's hand-typed recipes, run as printed: a student who follows
//! them must get what the README says.
//!
//! The `nc` recipe joins the tracker by hand. The tracker checks on a
//! silent session by connecting to the port it announced (see
//! `src/tracker/liveness.rs`), so what listens there must survive being
//! connected to: `nc -lk` does, `nc -l` exits after the first check. The
//! tracker runs with `--heartbeat 1` so that the checks of a 10-minute
//! pause (one every 60 s with the default 30 s) come every 2 s instead;
//! the pause below covers several of them. Machines without `nc` print one
//! line and pass (CI installs it).

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::{chromium, WebNode};
use common::*;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// The tracker's `--heartbeat` in these tests: a check of a silent session
/// every 2 x 1 s.
const HEARTBEAT: &str = "1";

/// How long the person pauses: several of the tracker's checks.
const PAUSE: Duration = Duration::from_secs(8);

/// The line the tracker logs when it forgets a silent session.
const FORGOTTEN: &str = "forgotten: no sign of life";

fn nc_is_installed() -> bool {
    let found = Command::new("nc").arg("-h").output().is_ok();
    if !found {
        println!("nc (netcat) is not installed: the README's nc recipe was not run");
    }
    found
}

/// Whether something listens on `port`, seen in the kernel's tables, not
/// by connecting: a plain `nc -l` would take that connection and exit.
fn is_listening(port: u16) -> bool {
    let listen = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().any(|row| {
                let fields: Vec<&str> = row.split_whitespace().collect();
                // local address, remote address, state (0A is LISTEN)
                fields.len() > 3
                    && format!("{} ", fields[1]).ends_with(&listen)
                    && fields[3] == "0A"
            })
        })
    })
}

/// The recipe up to the pause: something listening on the announced port
/// (`nc LISTEN PORT`), then `nc 127.0.0.1 TRACKER` with `HELLO` and one
/// record typed, then `PING` and, a second later, another line (the case in
/// which the tracker judges the session by its own pace of 1 s).
fn join_by_hand(net: &Net, listen: &str) -> (Node, Node, u16) {
    let port = free_port();
    let listener = Node::spawn(
        "listener",
        "nc",
        &[listen.to_string(), port.to_string()],
        net.tmp.path(),
    );
    wait_until("nc to listen", || is_listening(port));
    let tracker_port = net.tracker_port.to_string();
    let mut hand = Node::spawn(
        "hand",
        "nc",
        &["127.0.0.1".to_string(), tracker_port],
        net.tmp.path(),
    );
    hand.send_line("HELLO");
    hand.wait_for_output("HI", |line| line == "HI");
    hand.send_line(&format!("<x.txt, txt, 1, 01/01/26, 127.0.0.1, {port}>"));
    hand.send_line("PING");
    hand.wait_for_output("PONG", |line| line == "PONG");
    // A person types the next line about a second later.
    let typed_at = Instant::now() + Duration::from_secs(1);
    wait_until("a second to pass", || Instant::now() >= typed_at);
    hand.send_line("SEARCH: x.txt");
    hand.wait_for_output("FOUND", |line| line.starts_with("FOUND:"));
    (listener, hand, port)
}

#[test]
fn a_session_typed_by_hand_with_nc_lk_stays_joined_through_a_pause() {
    if !nc_is_installed() {
        return;
    }
    let net = Net::new("readme_nc_lk", &["peer1"]);
    let mut tracker = net.start_tracker(&["--heartbeat", HEARTBEAT]);
    let (_listener, mut hand, port) = join_by_hand(&net, "-lk");
    // The pause: the tracker checks the session several times, and never
    // forgets it.
    let end = Instant::now() + PAUSE;
    while Instant::now() < end {
        let log = tracker.stderr_lines();
        assert!(
            !log.iter().any(|line| line.contains(FORGOTTEN)),
            "forgotten during the pause:\n{}",
            log.join("\n")
        );
        thread::sleep(POLL_INTERVAL);
    }
    hand.send_line("SEARCH: x.txt");
    let found = wait_for("a second FOUND after the pause", || {
        let lines = hand.stdout_lines();
        match lines.iter().filter(|l| l.starts_with("FOUND:")).nth(1) {
            Some(line) => Ok(line.clone()),
            None => Err(lines.join("\n")),
        }
    });
    assert!(found.contains(&port.to_string()), "{found}");
    tracker.kill();
}

// The reason the README says `nc -lk`: a plain `nc -l` exits after the
// tracker's first check, and the next check forgets the session.
#[test]
fn a_session_whose_listener_is_plain_nc_l_is_forgotten() {
    if !nc_is_installed() {
        return;
    }
    let net = Net::new("readme_nc_l", &["peer1"]);
    let mut tracker = net.start_tracker(&["--heartbeat", HEARTBEAT]);
    let (_listener, _hand, _port) = join_by_hand(&net, "-l");
    let line = wait_for_within(
        PAUSE + Duration::from_secs(5),
        "the session forgotten",
        || {
            let log = tracker.stderr_lines();
            log.iter()
                .find(|line| line.contains(FORGOTTEN))
                .cloned()
                .ok_or_else(|| log.join("\n"))
        },
    );
    assert!(line.contains("nothing answers at"), "{line}");
    tracker.kill();
}

/// The port the README's web recipe uses: peer2's page, as the README
/// starts it (`peer peer2 --web 8002`).
const README_PORT: &str = "8002";

/// How long the screenshot command may take: the README's `--timeout=4000`
/// plus the browser's start on a busy machine.
const SCREENSHOT_LIMIT: Duration = Duration::from_secs(30);

/// The README's section that begins with `heading`, up to the next one.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("the README has a section {heading:?}"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The README's web recipe: the lines of the shell block in "The web
/// pages" that sets `TOKEN=`.
fn web_recipe() -> Vec<String> {
    let section = readme_section("The web pages");
    let block = section
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.starts_with("TOKEN="))
        .expect("a shell block that sets TOKEN= in the web pages section");
    block.lines().map(str::to_string).collect()
}

/// The recipe's line that starts with `program`, with the README's port
/// replaced by the page's.
fn recipe_line(program: &str, page: &WebNode) -> String {
    let line = web_recipe()
        .into_iter()
        .filter(|line| line.starts_with(&format!("{program} ")))
        .collect::<Vec<_>>();
    assert!(
        !line.is_empty(),
        "no {program} line in the README's web recipe"
    );
    line.join("\n").replace(README_PORT, &page.port.to_string())
}

/// How long one `curl` line of the recipe may take on a busy machine.
const CURL_LIMIT: Duration = Duration::from_secs(10);

/// Runs a line of the recipe with `sh`, the page's token in place of
/// `$TOKEN`, in `cwd` (also its `HOME`, for the browser's profile), and
/// waits at most `limit` for it to end. `exec` makes the program itself
/// the child, so that a test that fails kills it, not only the shell.
fn run_recipe_line(line: &str, token: &str, cwd: &Path, limit: Duration) -> Vec<String> {
    let line = line.replace("$TOKEN", token);
    let mut child = Node::spawn_with_env(
        "recipe",
        "sh",
        &["-c".to_string(), format!("exec {line}")],
        cwd,
        &[("HOME", cwd)],
    );
    let status = wait_for_within(limit, "the README's line to end", || {
        child
            .try_exit_status()
            .ok_or_else(|| format!("{line} still runs"))
    });
    assert!(status.success(), "{line}: {status}");
    child.stdout_lines()
}

/// A `curl` line of the recipe, run as printed: what it printed.
fn run_line(line: &str, page: &WebNode, cwd: &Path) -> String {
    run_recipe_line(line, &page.token, cwd, CURL_LIMIT).join("\n")
}

fn curl_is_installed() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        println!("curl is not installed: the README's curl lines were not run");
    }
    found
}

/// peer1 holds notes.txt; peer2 serves its page, as in the README.
fn peer2_page(net: &Net) -> (Node, Node, WebNode) {
    net.put("peer1", "notes.txt", b"the notes of the walkthrough\n");
    net.put("peer2", "poem.txt", b"a poem\n");
    let tracker = net.start_tracker(&[]);
    let peer1 = net.start_peer("peer1", true, &[]);
    let page = net.start_web_peer("peer2", &[]);
    (tracker, peer1, page)
}

#[test]
fn the_readme_curl_lines_work_as_printed() {
    if !curl_is_installed() {
        return;
    }
    let net = Net::new("readme_curl", &["peer1", "peer2"]);
    let (_tracker, _peer1, page) = peer2_page(&net);
    let lines = recipe_line("curl", &page);
    let mut lines = lines.lines();
    let state_line = lines.next().expect("a GET line");
    let search_line = lines.next().expect("a POST line");
    let state = run_line(state_line, &page, net.tmp.path());
    assert!(
        state.starts_with('{') && state.contains(&net.addr("peer2")),
        "the state of peer2 from {state_line:?}: {state}"
    );
    // The POST answers the holders once peer1 has joined.
    let holders = wait_for("the README's search to find peer1", || {
        let reply = run_line(search_line, &page, net.tmp.path());
        if reply.contains("\"holders\"") && reply.contains(&net.port("peer1").to_string()) {
            Ok(reply)
        } else {
            Err(reply)
        }
    });
    assert!(holders.contains("notes.txt"), "{holders}");
    // What the README says of the Origin header: without it, 403 and why.
    let origin = format!("-H 'Origin: http://127.0.0.1:{}' ", page.port);
    assert!(search_line.contains(&origin), "{search_line}");
    let without = run_line(&search_line.replace(&origin, ""), &page, net.tmp.path());
    assert!(
        without.contains("Origin"),
        "a POST without Origin: {without}"
    );
}

/// Whether this process runs as root, where Chromium needs `--no-sandbox`
/// (the README says so).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
fn the_readme_screenshot_command_writes_a_png() {
    let Some(program) = chromium() else {
        println!("Chromium is not installed: the README's screenshot command was not run");
        return;
    };
    let net = Net::new("readme_screenshot", &["peer1", "peer2"]);
    let (_tracker, _peer1, page) = peer2_page(&net);
    let mut line = recipe_line("chromium", &page);
    assert!(
        line.contains("--timeout="),
        "a screenshot with a time-out: {line}"
    );
    // The program as this machine names it, and, as root, the flag the
    // README says root needs.
    line = line.replacen("chromium", &program.display().to_string(), 1);
    if is_root() {
        line = line.replacen(" --headless", " --headless --no-sandbox", 1);
    }
    let shots = TempDir::new("readme_screenshot_cwd");
    run_recipe_line(&line, &page.token, shots.path(), SCREENSHOT_LIMIT);
    let png = std::fs::read(shots.join("page.png")).expect("page.png was written");
    assert!(png.starts_with(b"\x89PNG"), "page.png is a PNG");
}
