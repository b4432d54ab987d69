//! Black-box tests of the demo's web page (`demo --web PORT`), over HTTP
//! with `std::net`: the demo waits for "Next scene" before every scene,
//! a POST from another site neither plays a scene nor is answered but
//! with 403, every protocol line the terminal shows reaches the page as
//! one arrow from its sender (scene by scene, in the terminal's order),
//! the page says when the demo is over, and the demo then exits 0.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;

/// The nodes of the demo, the lifelines of its diagram.
const NODES: [&str; 4] = ["tracker", "peer1", "peer2", "peer3"];

/// A short pause after each line shown: the pacing runs, and the test
/// stays quick (a class gets 400 ms).
const TEST_PACE: &str = "5";

/// The string value of `field` in a line `data: {...}` of the event
/// stream, unescaped (the JSON the page writes: `\"`, `\\`, `\uXXXX`).
fn field(data: &str, field: &str) -> Option<String> {
    let start = data.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let mut out = String::new();
    let mut chars = data[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// One protocol line: who received it, who sent it, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Arrow {
    to: String,
    from: String,
    text: String,
}

/// The arrows among the lines of the event stream, in order.
fn arrows(lines: &[String]) -> Vec<Arrow> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| data.contains(r#""kind":"trace""#))
        .map(|data| Arrow {
            to: field(data, "node").expect("node"),
            from: field(data, "other").expect("other"),
            text: field(data, "text").expect("text"),
        })
        .collect()
}

/// The protocol lines the terminal showed in scene `number`, as
/// (receiver, sender as the terminal names it, text).
fn terminal_arrows(stdout: &[String], number: usize) -> Vec<Arrow> {
    let heading = format!("-- {number}. ");
    stdout
        .iter()
        .skip_while(|line| !line.starts_with(&heading))
        .skip(1)
        .take_while(|line| line.starts_with('[') || line.starts_with("demo: "))
        .filter_map(|line| {
            let (node, rest) = line.strip_prefix('[')?.split_once("] ")?;
            let (from, text) = rest.split_once(" <- ")?;
            (!node.contains(' ')).then(|| Arrow {
                to: node.to_string(),
                from: from.to_string(),
                text: text.to_string(),
            })
        })
        .collect()
}

/// The `data:` line that says scene `number` waits for the button.
fn waiting_for(number: usize) -> impl Fn(&str) -> bool {
    let data = format!(r#"data: {{"number":{number},"title":"#);
    move |line: &str| line.starts_with(&data)
}

#[test]
fn next_scene_plays_every_scene_and_every_arrow_reaches_the_page() {
    let mut demo = start_web_demo("webd_play", &["--pace", TEST_PACE]);
    let page = &mut demo.page;
    let html = page.get("/");
    html.expect(200, "GET /");
    assert!(
        html.body_text().contains("Next scene"),
        "{}",
        html.body_text()
    );
    for asset in ["/app.css", "/app.js", "/sequence.js", "/demo.js"] {
        page.get(asset).expect(200, asset);
    }
    let (mut events, backlog) = EventStream::open_with_backlog(page);
    let state = page.wait_state("scene 1 waiting", |json| {
        json.contains(r#""waiting":{"number":1,"title":"peer1 joins"}"#)
    });
    assert!(
        state.starts_with(r#"{"nodes":["tracker","peer1","peer2","peer3"],"playing":0,"#),
        "{state}"
    );

    // Another site's POST is refused, and plays nothing.
    page.post_from(Some("http://evil.example"), "/api/next")
        .expect(403, "a foreign Origin");
    page.post_from(None, "/api/next").expect(403, "no Origin");
    page.get_as("evil.example", "/api/state")
        .expect(403, "a rebound name");
    page.get("/api/next").expect(405, "GET on an action");
    let still = page.get("/api/state").body_text();
    assert!(
        still.contains(r#""playing":0,"waiting":{"number":1,"#),
        "a refused POST played a scene: {still}"
    );

    // Scene by scene: the button's POST, then every item of the scene up
    // to the next scene's wait (or the end).
    let mut scenes: Vec<Vec<String>> = Vec::new();
    loop {
        let number = scenes.len() + 1;
        page.wait_state(&format!("scene {number} waiting"), |json| {
            json.contains(&format!(r#""waiting":{{"number":{number},"#))
        });
        let reply = page.post("/api/next", b"");
        assert_eq!(
            reply.expect(200, "next").body_text(),
            format!(r#"{{"scene":{number}}}"#)
        );
        let next = waiting_for(number + 1);
        let mut lines = events.read_until(
            &format!("scene {} waiting, or the end", number + 1),
            TIMEOUT,
            |line| next(line) || line == "event: ended",
        );
        let ended = lines.last().is_some_and(|line| line == "event: ended");
        if ended {
            lines.extend(events.read_until("the end's words", TIMEOUT, |line| {
                line.starts_with("data: ")
            }));
        }
        scenes.push(lines);
        if ended {
            break;
        }
    }
    let end = scenes
        .last()
        .and_then(|lines| lines.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        end,
        r#"data: {"ok":true,"text":"the demo is over: every node has stopped"}"#
    );
    let status = page.node.wait_exit();
    assert!(status.success(), "the demo exited with {status}");
    events.close();

    // The first scene: its narration, and peer1's join as arrows.
    let first = &scenes[0];
    assert!(
        first.iter().any(|line| line.contains(
            r#""text":"peer1 starts and joins the tracker: HELLO, HI, then its file records;""#
        )),
        "no narration of scene 1:\n{}",
        first.join("\n")
    );
    let joined = arrows(first);
    for (from, to, text) in [
        ("peer1", "tracker", "HELLO"),
        ("tracker", "peer1", "HI"),
        ("peer1", "tracker", "PING"),
        ("tracker", "peer1", "PONG"),
    ] {
        let arrow = Arrow {
            to: to.into(),
            from: from.into(),
            text: text.into(),
        };
        assert!(joined.contains(&arrow), "no arrow {arrow:?} in {joined:#?}");
    }
    // The terminal's intro (how to read its lines, where the page is)
    // is not sent to the page: the page has its own.
    for words in [
        "a tracker and three peers in this one process",
        "open this address",
    ] {
        assert!(
            !backlog.iter().any(|line| line.contains(words)),
            "{backlog:#?}"
        );
    }
    assert!(html.body_text().contains("How to read this page"));

    // Every scene: the arrows are the terminal's protocol lines, in its
    // order, each drawn once, from the node that sent it (the terminal
    // shows a passing port where the receiver does not know the sender).
    let stdout = page.node.stdout_lines();
    let played = stdout.iter().filter(|line| line.starts_with("-- ")).count();
    assert_eq!(
        scenes.len(),
        played,
        "every scene of the terminal, on the page"
    );
    let mut total = 0;
    for (index, lines) in scenes.iter().enumerate() {
        let number = index + 1;
        let drawn = arrows(lines);
        let shown = terminal_arrows(&stdout, number);
        assert_eq!(
            drawn.len(),
            shown.len(),
            "scene {number}: {} arrows on the page, {} lines on the terminal:\n{drawn:#?}\n{shown:#?}",
            drawn.len(),
            shown.len()
        );
        for (arrow, line) in drawn.iter().zip(&shown) {
            assert_eq!(
                (&arrow.to, &arrow.text),
                (&line.to, &line.text),
                "scene {number}"
            );
            // Only a fourth peer, a bad holder outside the settings file,
            // is named by its address (the page draws it on a lifeline
            // of its own, "a fourth peer").
            let fourth = lines.iter().any(|line| line.contains("a fourth peer"));
            assert!(
                NODES.contains(&arrow.from.as_str())
                    || (fourth && arrow.from.parse::<std::net::SocketAddr>().is_ok()),
                "scene {number}: an arrow from {:?}, not a node: {arrow:?}",
                arrow.from
            );
            if NODES.contains(&line.from.as_str()) {
                assert_eq!(arrow.from, line.from, "scene {number}");
            }
        }
        total += drawn.len();
    }
    assert!(total > 80, "only {total} arrows in all");
    // The download in scene 5 arrives at peer1 from a passing port: the
    // page draws it from peer2.
    let download = arrows(&scenes[4])
        .into_iter()
        .find(|arrow| arrow.text.starts_with("DOWNLOAD: notes.txt"))
        .expect("the download's arrow");
    assert_eq!(
        (download.from.as_str(), download.to.as_str()),
        ("peer2", "peer1")
    );
}

#[test]
fn the_button_is_refused_while_a_scene_plays_and_a_late_page_sees_it_all() {
    // A slow pace: scene 1 is still playing when the second press comes.
    let demo = start_web_demo("webd_busy", &["--pace", "300"]);
    let page = &demo.page;
    page.wait_state("scene 1 waiting", |json| {
        json.contains(r#""waiting":{"number":1,"#)
    });
    page.post("/api/next", b"").expect(200, "next");
    let busy = page.post("/api/next", b"");
    busy.expect(409, "next while scene 1 plays");
    assert!(
        busy.body_text().contains("scene 1 is still playing"),
        "{}",
        busy.body_text()
    );
    page.wait_state("scene 2 waiting", |json| {
        json.contains(r#""playing":1,"waiting":{"number":2,"#)
    });
    // A page opened now is sent everything so far: scene 1 whole.
    let (events, backlog) = EventStream::open_with_backlog(page);
    events.close();
    let joined = arrows(&backlog);
    assert!(
        joined
            .iter()
            .any(|arrow| arrow.from == "peer1" && arrow.text == "HELLO"),
        "{backlog:#?}"
    );
    assert!(
        backlog
            .iter()
            .any(|line| line.starts_with(r#"data: {"number":1,"title":"peer1 joins"}"#)),
        "{backlog:#?}"
    );
}
