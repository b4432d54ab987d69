//! Black-box tests of the tracker's web page (`tracker --web PORT`), over
//! HTTP with `std::net`: the state (peers, files, holders), the console's
//! ping and discover, the live protocol lines for the sequence diagram,
//! and bad requests.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;
use std::time::Duration;

#[test]
fn the_page_shows_the_peers_and_every_file_with_its_holders() {
    let net = Net::new("webt_state", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", b"notes\n");
    net.put("peer1", "logo.png", b"png");
    net.put("peer2", "notes.txt", b"notes\n");
    let page = net.start_web_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    let _peer2 = net.start_peer("peer2", true, &[]);

    let html = page.get("/");
    html.expect(200, "GET /");
    assert!(html.body_text().contains("The protocol, live"));
    // Heartbeats are hidden from the diagram until the switch is turned
    // off (the browser test turns it).
    assert!(
        html.body_text()
            .contains(r#"<input type="checkbox" id="hide-heartbeats" checked>"#),
        "the hide-heartbeats switch, on"
    );
    for asset in ["/app.css", "/app.js", "/sequence.js", "/tracker.js"] {
        page.get(asset).expect(200, asset);
    }
    let state = page.wait_state("both peers", |json| {
        json.matches("\"files\":[\"").count() == 2
    });
    let peer1 = format!(
        r#"{{"id":"peer1","addr":"{}","files":["logo.png","notes.txt"]}}"#,
        net.addr("peer1")
    );
    assert!(state.contains(&peer1), "{state}");
    let holders = format!(
        r#"{{"name":"notes.txt","holders":["peer1 ({})","peer2 ({})"]}}"#,
        net.addr("peer1"),
        net.addr("peer2")
    );
    assert!(state.contains(&holders), "{state}");
}

#[test]
fn ping_and_discover_answer_as_the_console_does() {
    let net = Net::new("webt_console", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let page = net.start_web_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    page.wait_state("peer1", |json| json.contains("\"id\":\"peer1\""));

    let pong = page.post("/api/ping?peer=peer1", b"");
    let text = pong.expect(200, "ping").body_text();
    assert!(
        text.contains(&format!("PONG from peer1 ({}) in", net.addr("peer1"))),
        "{text}"
    );
    let found = page.post("/api/discover?peer=peer1", b"");
    let text = found.expect(200, "discover").body_text();
    assert!(
        text.contains("announces 1 file(s)") && text.contains("notes.txt  txt, 6 bytes"),
        "{text}"
    );
    // A peer the settings file does not know is 404 now, with the
    // console's reason, no longer 200 with an error text.
    let unknown = page.post("/api/discover?peer=nobody", b"");
    let text = unknown.expect(404, "an unknown peer").body_text();
    assert!(text.contains("nobody"), "{text}");
    page.post("/api/ping", b"").expect(400, "no peer");
}

#[test]
fn every_protocol_line_of_the_tracker_reaches_the_page_within_a_second() {
    let net = Net::new("webt_events", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    // Without --trace: the page hears the protocol all the same.
    let page = net.start_web_tracker(&[]);
    let mut events = EventStream::open(&page);
    let second = Duration::from_secs(1);
    let _peer1 = net.start_peer("peer1", true, &[]);
    events.wait_for("HELLO", second, |line| {
        line.contains(r#""node":"tracker""#) && line.contains(r#""dir":"received","text":"HELLO""#)
    });
    events.wait_for("HI", second, |line| {
        line.contains(r#""dir":"sent","text":"HI""#)
    });
    events.wait_for("the join's event line", second, |line| {
        line.contains(r#""kind":"event""#) && line.contains("join peer1")
    });
    let mut probe = net.probe();
    probe.search("notes.txt");
    let search = events.wait_for("SEARCH", second, |line| {
        line.contains(r#""text":"SEARCH: notes.txt""#)
    });
    assert!(search.contains(r#""dir":"received""#), "{search}");
    events.wait_for("FOUND", second, |line| {
        line.contains(r#""dir":"sent","text":"FOUND: "#)
    });
    events.close();

    // A page opened later starts with the recent past.
    let mut late = EventStream::open(&page);
    drop(probe);
    late.wait_for("a leave", second, |line| line.contains("leave "));
}

#[test]
fn the_tracker_page_refuses_other_sites() {
    let net = Net::new("webt_bad", &["peer1"]);
    let page = net.start_web_tracker(&[]);
    let host = page.host();
    let foreign = format!(
        "POST /api/ping?peer=peer1 HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\n\r\n"
    );
    exchange(page.port, foreign.as_bytes()).expect(403, "foreign origin");
    let rebound = format!(
        "GET /api/state HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n",
        page.port
    );
    exchange(page.port, rebound.as_bytes()).expect(403, "a rebound name");
    page.get("/api/ping").expect(405, "GET on an action");
    exchange(
        page.port,
        format!("PUT / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
    .expect(405, "PUT");
}
