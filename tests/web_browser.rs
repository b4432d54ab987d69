//! The pages in a real browser: headless Chromium opens the peer's and
//! the tracker's pages, a search from the peer's page shows the holders,
//! a download clicked on the page lands byte for byte, the tracker's
//! sequence diagram shows the arrows of that search and download, and a
//! screenshot of each page is taken. The demo's page is played to its end
//! by pressing "Next scene", and its diagram shows every node's arrows.
//!
//! How the clicks are made without a browser driver: the pages have a test
//! hook (`?autotest=search:NAME,download:1`, see `src/web/app.js`) that
//! runs the steps through the very click handlers a user's click runs,
//! writes the outcome into `<body data-autotest=...>`, then lets the page
//! finish loading (an image it kept loading until then, see `app.js`).
//! Chromium's `--dump-dom` prints the page as it then is, and
//! `--screenshot` saves a picture of it; `--timeout` bounds the wait. (A DevTools client would
//! need a WebSocket client and JSON parsing in the test; the hook needs
//! neither, and tests the same handlers.)
//!
//! Without Chromium on the machine, the test says so in one line and
//! passes: `.ci/run` installs it.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;
use p2p_share::wire::sha256::{digest, to_hex};
use std::fs;
use std::path::Path;

/// A screenshot smaller than this is blank or nearly: the pages, with
/// their tables and diagram, compress to far more.
const MIN_SCREENSHOT_BYTES: u64 = 30_000;

/// The text of `<body data-autotest="...">` in a dumped page.
fn autotest_outcome(dom: &str) -> &str {
    dom.split("data-autotest=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page did not report its test steps:\n{dom}"))
}

/// The text of the element with `id` in a dumped page, up to its first
/// child element.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    dom.split(&format!("id=\"{id}\""))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| panic!("no element {id} on the page:\n{dom}"))
}

/// Checks that a screenshot is a PNG, large, and not of one colour: the
/// compressed picture of one colour repeats the same few bytes, a page
/// with text has thousands of different byte pairs.
fn check_screenshot(png: &Path) {
    let bytes = fs::read(png).expect("read the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() as u64 >= MIN_SCREENSHOT_BYTES,
        "{} has only {} bytes: a blank page?",
        png.display(),
        bytes.len()
    );
    let pairs: std::collections::HashSet<&[u8]> = bytes.windows(2).collect();
    assert!(
        pairs.len() > 5_000,
        "{} looks like one colour",
        png.display()
    );
}

#[test]
fn the_pages_work_in_a_real_browser() {
    let Some(program) = chromium() else {
        println!("web_browser: not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let content = pattern_bytes(54_321);
    let net = Net::new("web_browser", &["peer1", "peer2"]);
    net.put("peer1", "lecture.bin", &content);
    net.put("peer1", "notes.txt", &text_bytes(986));
    net.put("peer2", "poem.txt", &text_bytes(300));
    let tracker = net.start_web_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    let peer2 = net.start_web_peer("peer2", &[]);
    let mut probe = net.probe();
    probe.wait_found_at("lecture.bin", net.port("peer1"));
    probe.wait_found_at("poem.txt", net.port("peer2"));
    drop(probe);
    let mut browser = Browser::new(program);

    // The peer's page: search, then click "Download from this peer".
    let dom = browser.dump_dom(&peer2.url("/?autotest=search:lecture.bin,download:1,trace:on"));
    assert_eq!(
        autotest_outcome(&dom),
        "done: search:lecture.bin,download:1,trace:on"
    );
    assert!(
        dom.contains(&format!("verified: sha256 {}", to_hex(&digest(&content)))),
        "the download's verification, under it:\n{dom}"
    );
    assert!(
        dom.contains("id=\"holders-table\""),
        "no holders shown:\n{dom}"
    );
    assert!(
        dom.contains(&format!("peer1 ({})", net.addr("peer1"))),
        "{dom}"
    );
    assert!(dom.contains("Download from this peer"), "{dom}");
    assert!(
        dom.contains("downloaded lecture.bin (54321 bytes)"),
        "{dom}"
    );
    assert_eq!(
        fs::read(net.dir("peer2").join("lecture.bin")).unwrap(),
        content
    );
    // Its own diagram shows the download, peer to peer.
    assert!(dom.contains("DOWNLOAD: lecture.bin, bin, 54321"), "{dom}");
    assert!(
        dom.contains("FILE: (54321 bytes in 544 chunks of 100)"),
        "{dom}"
    );

    // Typing in the search box shows the names that hold the words
    // (the tracker's FIND), before any search.
    let dom = browser.dump_dom(&peer2.url("/?autotest=type:LECT"));
    assert_eq!(autotest_outcome(&dom), "done: type:LECT");
    let matches = dom
        .split("id=\"matches\"")
        .nth(1)
        .and_then(|rest| rest.split("id=\"holders\"").next())
        .expect("the matches under the search box");
    assert!(
        matches.contains(">lecture.bin</button>") && !matches.contains("notes.txt"),
        "{matches}"
    );

    // The tracker's page: the search and the rejoin that announced the
    // file, as arrows; the console's discover.
    let dom = browser.dump_dom(&tracker.url("/?autotest=discover:peer2"));
    assert_eq!(autotest_outcome(&dom), "done: discover:peer2");
    let diagram = dom
        .split("id=\"diagram\"")
        .nth(1)
        .expect("a diagram on the tracker's page");
    for arrow in [
        "SEARCH: lecture.bin",
        "FOUND: ",
        "HELLO",
        "&lt;lecture.bin, bin, 54321",
    ] {
        assert!(
            diagram.contains(arrow),
            "no arrow {arrow:?} on the diagram:\n{diagram}"
        );
    }
    assert!(
        diagram.contains(">peer2</text>"),
        "no lifeline for peer2:\n{diagram}"
    );
    assert!(dom.contains("peer2 (127.0.0.1:"), "{dom}");
    assert!(
        dom.contains("peer2 (127.0.0.1:") && dom.contains("announces 2 file(s)"),
        "{dom}"
    );

    // Heartbeats: drawn once the switch shows them (the panel of PONG
    // opens from its drawn arrow), gone again once it hides them, as by
    // default. A PING the console sends is one.
    let dom = browser
        .dump_dom(&tracker.url("/?autotest=ping:peer1,heartbeats:show,open:PONG,heartbeats:hide"));
    assert_eq!(
        autotest_outcome(&dom),
        "done: ping:peer1,heartbeats:show,open:PONG,heartbeats:hide"
    );
    assert!(dom.contains(r#"data-shown="PONG""#), "{dom}");
    for heartbeat in ["PING", "PONG"] {
        assert!(
            !dom.contains(&format!(r#"text-anchor="middle">{heartbeat}</text>"#)),
            "a {heartbeat} arrow drawn with heartbeats hidden:\n{dom}"
        );
    }

    // A screenshot of each, for the record (in the target folder).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let peer_png = shots.join("web_peer_page.png");
    let tracker_png = shots.join("web_tracker_page.png");
    let _ = fs::remove_file(&peer_png);
    let _ = fs::remove_file(&tracker_png);
    browser.screenshot(
        &peer2.url("/?autotest=search:notes.txt,trace:on"),
        &peer_png,
        1400,
        1800,
    );
    browser.screenshot(
        &tracker.url("/?autotest=ping:peer1"),
        &tracker_png,
        1400,
        1100,
    );
    check_screenshot(&peer_png);
    check_screenshot(&tracker_png);
    println!(
        "screenshots: {} and {}",
        peer_png.display(),
        tracker_png.display()
    );
}

#[test]
fn the_demo_page_plays_to_the_end_in_a_real_browser() {
    let Some(program) = chromium() else {
        println!("web_browser: demo page not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let mut browser = Browser::new(program);
    let mut demo = start_web_demo("web_browser_demo", &["--pace", "0"]);
    let dom = browser.dump_dom(&demo.page.url("/?autotest=next:all"));
    assert_eq!(autotest_outcome(&dom), "done: next:all");
    assert!(dom.contains("The demo is over"), "{dom}");
    let diagram = dom
        .split("id=\"diagram\"")
        .nth(1)
        .expect("a diagram on the demo's page");
    let arrows: usize = diagram
        .split("data-arrows=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no arrow count on the diagram:\n{diagram}"));
    assert!(arrows > 80, "only {arrows} arrows:\n{diagram}");
    // The bad holders, outside the settings file, on one lifeline.
    for node in ["tracker", "peer1", "peer2", "peer3", "a fourth peer"] {
        assert!(
            diagram.contains(&format!(">{node}</text>")),
            "no lifeline for {node}:\n{diagram}"
        );
    }
    assert!(
        diagram.contains("a fourth peer -&gt; peer1: [:") && diagram.contains("] HASH: "),
        "no HASH answer from the lying holder:\n{diagram}"
    );
    for text in [
        "Act 1: the core protocol",
        "5. peer2 downloads notes.txt",
        "DOWNLOAD: notes.txt, txt, 986",
        "UPLOAD: poem.txt, txt, 140",
        ". everyone leaves",
        "a lying holder is caught",
        "a download is cut off, then resumed",
        "DOWNLOAD: data.bin, bin, 4321, 17, 27",
        "the demo is over: every node has stopped",
    ] {
        assert!(
            diagram.contains(text),
            "no {text:?} on the diagram:\n{diagram}"
        );
    }
    // No arrow from a passing port: each starts on its sender's lifeline.
    assert!(
        !diagram.contains(">127.0.0.1:"),
        "a lifeline named by an address:\n{diagram}"
    );
    assert!(demo.page.node.wait_exit().success());

    // A screenshot, five scenes in, of a demo of its own.
    let demo = start_web_demo("web_browser_demo_shot", &["--pace", "0"]);
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_demo_page.png");
    let _ = fs::remove_file(&png);
    browser.screenshot(&demo.page.url("/?autotest=next:5"), &png, 1400, 1800);
    check_screenshot(&png);
    println!("screenshot: {}", png.display());
}

#[test]
fn the_demo_pages_act_label_names_the_act_of_the_scene_shown() {
    let Some(program) = chromium() else {
        println!("web_browser: act label not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let mut browser = Browser::new(program);
    // Scene 15 is the last of act 2: once it is over, the demo has named
    // act 3 already and waits for the button for scene 16.
    let demo = start_web_demo("web_browser_act", &["--pace", "0"]);
    let dom = browser.dump_dom(&demo.page.url("/?autotest=next:15,settle"));
    assert_eq!(autotest_outcome(&dom), "done: next:15,settle");
    // The page's own intro, folded once the demo is under way.
    assert!(
        dom.contains(r#"<details id="intro" class="intro">"#)
            && dom.contains("How to read this page"),
        "{dom}"
    );
    assert_eq!(text_of(&dom, "scene-title"), "15. peer2 pings peer1");
    assert_eq!(text_of(&dom, "act"), "Act 2: direct peer commands");
    assert_eq!(
        text_of(&dom, "next"),
        "Next scene: 16. the tracker crashes (starts Act 3: the tracker crashes and comes back)"
    );
    // One scene on, the label has moved to act 3.
    let demo = start_web_demo("web_browser_act_next", &["--pace", "0"]);
    let dom = browser.dump_dom(&demo.page.url("/?autotest=next:16,settle"));
    assert_eq!(autotest_outcome(&dom), "done: next:16,settle");
    assert_eq!(text_of(&dom, "scene-title"), "16. the tracker crashes");
    assert_eq!(
        text_of(&dom, "act"),
        "Act 3: the tracker crashes and comes back"
    );
}

#[test]
fn a_peer_page_not_joined_shows_why() {
    let Some(program) = chromium() else {
        println!("web_browser: not-joined page not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    // No tracker: the peer cannot connect to it.
    let net = Net::new("web_browser_why", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let page = net.start_web_peer("peer1", &[]);
    page.wait_state("a failed try", |json| json.contains("the last try failed"));
    let dom = Browser::new(program).dump_dom(&page.url("/?autotest=wait"));
    assert_eq!(autotest_outcome(&dom), "done: wait");
    assert_eq!(text_of(&dom, "joined"), "not joined");
    let why = text_of(&dom, "why-not-joined");
    assert!(
        why.starts_with(&format!(
            "not joined to the tracker at {}",
            net.tracker_addr()
        )) && why.contains("the last try failed"),
        "{why}"
    );
}

#[test]
fn incoming_connections_share_one_lifeline_on_the_peers_page() {
    let Some(program) = chromium() else {
        println!("web_browser: incoming lifeline not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    // Every node at 127.0.0.1: a connection's address cannot say who
    // connects, so the peer names each `incoming 127.0.0.1:PORT`.
    let net = Net::new("web_browser_incoming", &["peer1", "peer2"]);
    let notes = text_bytes(986);
    net.put("peer2", "notes.txt", &notes);
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer2", &[]);
    let mut ports = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(&net.addr("peer2"));
        ports.push(client.local.rsplit(':').next().unwrap().to_string());
        client.send_line("DOWNLOAD: notes.txt, txt, 986");
        let reply = client.read_to_end();
        assert_file_reply(&reply, &notes, "DOWNLOAD: notes.txt");
    }
    let dom = Browser::new(program).dump_dom(&page.url("/?autotest=wait"));
    assert_eq!(autotest_outcome(&dom), "done: wait");
    let diagram = dom
        .split("id=\"diagram\"")
        .nth(1)
        .expect("a diagram on the peer's page");
    let heads: Vec<&str> = diagram
        .split("<g class=\"head\">")
        .skip(1)
        .filter_map(|head| head.split("</text>").next()?.rsplit('>').next())
        .collect();
    // peer2, maybe the tracker (a heartbeat), and one "incoming".
    let incoming = heads
        .iter()
        .filter(|head| head.starts_with("incoming"))
        .count();
    assert!(
        heads[0] == "peer2" && heads.contains(&"incoming") && incoming == 1,
        "{heads:?}"
    );
    // Each connection's arrows carry its port, in the label and whole on
    // hover.
    for port in &ports {
        let labels = diagram.matches(&format!(">[:{port}] ")).count();
        assert_eq!(labels, 2, "the arrows of port {port}:\n{diagram}");
        for title in [
            format!("incoming -&gt; peer2: [:{port}] DOWNLOAD: notes.txt, txt, 986"),
            format!("peer2 -&gt; incoming: [:{port}] FILE: (986 bytes"),
        ] {
            assert!(diagram.contains(&title), "no {title:?}:\n{diagram}");
        }
    }
}
