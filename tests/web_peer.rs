//! Black-box tests of the peer's web page (`peer ID --web PORT`), over
//! HTTP with `std::net`: every endpoint and its effect, every kind of bad
//! request (each answered with a clear status, nothing written), a 50 MB
//! publish streamed with the peer's memory staying small, and the event
//! stream delivering log and trace lines live.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;
use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

/// A peer1 that shares `name` (with `bytes`), and a peer2 with its page.
fn two_peers(test: &str, name: &str, bytes: &[u8]) -> (Net, Node, Node, WebNode) {
    let net = Net::new(test, &["peer1", "peer2"]);
    net.put("peer1", name, bytes);
    net.put("peer2", "mine.txt", b"peer2's own file\n");
    let tracker = net.start_tracker(&[]);
    let peer1 = net.start_peer("peer1", true, &[]);
    let page = net.start_web_peer("peer2", &[]);
    let mut probe = net.probe();
    probe.wait_found_at(name, net.port("peer1"));
    probe.wait_found_at("mine.txt", net.port("peer2"));
    (net, tracker, peer1, page)
}

#[test]
fn the_page_its_files_and_its_state_are_served() {
    let (_net, _tracker, _peer1, page) = two_peers("web_state", "notes.txt", b"notes\n");
    let html = page.get("/");
    html.expect(200, "GET /");
    assert!(html.head.contains("text/html"), "{}", html.head);
    assert!(
        html.head.contains("Content-Security-Policy"),
        "{}",
        html.head
    );
    assert!(html.body_text().contains("System Log"));
    for asset in ["/app.css", "/app.js", "/sequence.js", "/peer.js"] {
        page.get(asset).expect(200, asset);
    }
    let state = page.wait_state("joined", |json| json.contains("\"joined\":true"));
    assert!(state.contains("\"id\":\"peer2\""), "{state}");
    assert!(
        state.contains(r#"{"name":"mine.txt","size":17,"#) && state.contains("\"announced\":true"),
        "{state}"
    );
    assert!(state.contains(r#""peers":[{"id":"peer1""#), "{state}");
}

#[test]
fn a_search_then_download_from_the_page_lands_byte_identical() {
    let content = pattern_bytes(123_457);
    let (net, _tracker, _peer1, page) = two_peers("web_download", "data.bin", &content);
    let found = page.post("/api/search?name=data.bin", b"");
    found.expect(200, "search");
    let holder = format!(r#""addr":"{}""#, net.addr("peer1"));
    assert!(found.body_text().contains(&holder), "{}", found.body_text());
    assert!(found.body_text().contains(r#""id":"peer1""#));

    let started = page.post(
        &format!("/api/download?name=data.bin&from={}", net.addr("peer1")),
        b"",
    );
    started.expect(200, "download");
    let id = transfer_id(&started);
    let state = page.wait_transfer(&id, "done");
    assert!(
        state.contains("downloaded data.bin (123457 bytes)"),
        "{state}"
    );
    assert_eq!(
        fs::read(net.dir("peer2").join("data.bin")).unwrap(),
        content
    );
    // It is announced like every arrived file.
    net.probe().wait_found_at("data.bin", net.port("peer2"));

    let again = page.post(
        &format!("/api/download?name=data.bin&from={}", net.addr("peer1")),
        b"",
    );
    // The file is here now: the user's conflict is a 409 at once, before
    // any transfer starts (it was a transfer that failed, before the
    // status followed the error).
    let text = again.expect(409, "second download").body_text();
    assert!(text.contains("already serving data.bin"), "{text}");
}

#[test]
fn fetch_list_upload_and_ping_from_the_page() {
    let content = text_bytes(5_000);
    let (net, _tracker, _peer1, page) = two_peers("web_actions", "book.txt", &content);

    let id = transfer_id(
        page.post("/api/fetch?name=book.txt", b"")
            .expect(200, "fetch"),
    );
    let state = page.wait_transfer(&id, "done");
    assert!(state.contains("fetched book.txt (5000 bytes)"), "{state}");
    assert_eq!(
        fs::read(net.dir("peer2").join("book.txt")).unwrap(),
        content
    );

    let listed = page.post("/api/list?peer=peer1", b"");
    listed.expect(200, "list");
    assert!(
        listed
            .body_text()
            .contains(r#"{"name":"book.txt","type":"txt","size":5000,"#),
        "{}",
        listed.body_text()
    );

    let id = transfer_id(
        page.post("/api/upload?name=mine.txt&peer=peer1", b"")
            .expect(200, "upload"),
    );
    let state = page.wait_transfer(&id, "done");
    assert!(state.contains("peer1: uploaded mine.txt"), "{state}");
    assert_eq!(
        fs::read(net.dir("peer1").join("mine.txt")).unwrap(),
        b"peer2's own file\n"
    );

    let pong = page.post("/api/ping?peer=peer1", b"");
    assert!(pong
        .expect(200, "ping")
        .body_text()
        .contains("PONG from peer1 in"));
    let pong = page.post("/api/ping?peer=tracker", b"");
    assert!(pong
        .expect(200, "ping the tracker")
        .body_text()
        .contains("PONG from tracker"));
    // A peer the settings file does not know is 404 (it was 409, the
    // status of a conflict, before the status followed the error).
    let unknown = page.post("/api/ping?peer=nobody", b"");
    assert_eq!(unknown.status, 404, "{}", unknown.body_text());
    assert!(
        unknown.body_text().contains("nobody"),
        "{}",
        unknown.body_text()
    );
}

#[test]
fn a_50_mb_publish_is_streamed_to_disk_and_the_peer_stays_small() {
    const SIZE: usize = 50 * 1024 * 1024;
    /// Far below the file: the peer would need 50 MB to hold it.
    const MAX_PEAK_KB: u64 = 16 * 1024;
    let net = Net::new("web_publish", &["peer1"]);
    net.put("peer1", "seed.txt", b"x\n");
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let before = memory_kb(page.node.pid(), "VmHWM");

    let mut stream = connect(page.port);
    let head = format!(
        "POST /api/publish?token={token}&name=film.bin HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Length: {SIZE}\r\n\r\n",
        host = page.host(),
        token = page.token
    );
    stream.write_all(head.as_bytes()).unwrap();
    // 1 MiB pieces of one pattern, so the test holds little too.
    let piece = pattern_bytes(1024 * 1024);
    for _ in 0..SIZE / piece.len() {
        stream.write_all(&piece).unwrap();
    }
    let reply = read_reply(&mut stream);
    reply.expect(200, "publish");
    assert!(reply
        .body_text()
        .contains("published film.bin (52428800 bytes)"));

    let path = net.dir("peer1").join("film.bin");
    assert_eq!(fs::metadata(&path).unwrap().len(), SIZE as u64);
    let written = fs::read(&path).unwrap();
    assert!(written
        .chunks(piece.len())
        .all(|chunk| chunk == piece.as_slice()));
    drop(written);
    let peak = memory_kb(page.node.pid(), "VmHWM");
    let now = memory_kb(page.node.pid(), "VmRSS");
    println!("peer memory: peak {before} kB before, {peak} kB after the publish; now {now} kB");
    assert!(
        peak < MAX_PEAK_KB,
        "the peer's peak memory reached {peak} kB publishing a 50 MB file"
    );
    net.probe().wait_found_at("film.bin", net.port("peer1"));
    assert_eq!(all_entries(&net.dir("peer1")), ["film.bin", "seed.txt"]);
}

/// Sends `request` raw and checks the status and that the message says
/// `says`.
fn refused(page: &WebNode, request: &[u8], status: u16, says: &str) {
    let reply = exchange(page.port, request);
    reply.expect(status, says);
    assert!(
        reply
            .body_text()
            .to_lowercase()
            .contains(&says.to_lowercase()),
        "expected the message to say {says:?}: {}",
        reply.body_text()
    );
}

#[test]
fn every_bad_request_gets_a_clear_status_and_nothing_is_written() {
    let (net, _tracker, _peer1, page) = two_peers("web_bad", "notes.txt", b"notes\n");
    let host = page.host();
    let token = &page.token;
    let origin = format!("http://{host}");
    let before = all_entries(&net.dir("peer2"));

    refused(
        &page,
        format!("DELETE / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        405,
        "not a method",
    );
    refused(
        &page,
        format!("GET /api/search?token={token} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        405,
        "takes POST",
    );
    refused(
        &page,
        format!("GET /nothing HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        404,
        "no page",
    );
    refused(&page, b"GET / HTTP/3\r\n\r\n", 505, "HTTP/1.1");
    let long = format!("GET /{} HTTP/1.1\r\nHost: {host}\r\n\r\n", "a".repeat(9000));
    refused(&page, long.as_bytes(), 414, "longer than 8192 bytes");
    let mut many = format!("GET / HTTP/1.1\r\nHost: {host}\r\n");
    for n in 0..70 {
        many.push_str(&format!("X-Header-{n}: {n}\r\n"));
    }
    many.push_str("\r\n");
    refused(&page, many.as_bytes(), 431, "more than 64 header lines");
    refused(&page, b"GET / HTTP/1.1\r\n\r\n", 400, "no Host");
    refused(
        &page,
        b"GET / HTTP/1.1\r\nHost: evil.example:80\r\n\r\n",
        403,
        "another port",
    );
    let rebound = format!(
        "GET /api/state HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n",
        page.port
    );
    refused(&page, rebound.as_bytes(), 403, "is a name");

    // Actions from another site, or from no page at all: refused, not done.
    let download = format!("/api/download?name=notes.txt&from={}", net.addr("peer1"));
    let foreign = format!(
        "POST {download} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\n\r\n"
    );
    refused(&page, foreign.as_bytes(), 403, "from another site");
    let no_origin =
        format!("POST {download} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    refused(&page, no_origin.as_bytes(), 403, "without an Origin");

    // Bodies: too large, chunked, without a length, cut off.
    let huge = format!(
        "POST /api/publish?token={token}&name=huge.bin HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Length: 2147483648\r\n\r\nabc"
    );
    refused(&page, huge.as_bytes(), 413, "over the limit");
    let chunked = format!(
        "POST /api/publish?token={token}&name=c.bin HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    refused(&page, chunked.as_bytes(), 501, "Content-Length");
    let no_length = format!(
        "POST /api/publish?token={token}&name=n.bin HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\r\n"
    );
    refused(&page, no_length.as_bytes(), 411, "Content-Length");
    let missing = format!("POST /api/publish?token={token} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n");
    refused(&page, missing.as_bytes(), 400, "parameter name");
    let bad_name = format!(
        "POST /api/publish?token={token}&name=..%2Fescape HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Length: 3\r\n\r\nabc"
    );
    let reply = exchange(page.port, bad_name.as_bytes());
    // A name that breaks a name rule is the request's fault: 400.
    reply.expect(400, "a path as a name");

    let mut stream = connect(page.port);
    let cut = format!(
        "POST /api/publish?token={token}&name=cut.bin HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(cut.as_bytes()).unwrap();
    stream.write_all(&[7u8; 1000]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_reply(&mut stream);
    reply.expect(400, "a cut-off body");
    assert!(
        reply.body_text().contains("cut off"),
        "{}",
        reply.body_text()
    );
    assert!(
        reply.body_text().contains("99000 byte(s) never arrived"),
        "{}",
        reply.body_text()
    );

    // A head that never ends: cut off as well.
    let mut stream = connect(page.port);
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Half").as_bytes())
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_reply(&mut stream);
    reply.expect(400, "a cut-off head");
    assert!(reply
        .body_text()
        .contains("ended in the middle of a header line"));

    assert_eq!(
        all_entries(&net.dir("peer2")),
        before,
        "nothing was written"
    );
}

#[test]
fn the_event_stream_delivers_log_and_trace_lines_within_a_second() {
    let (_net, _tracker, _peer1, page) = two_peers("web_events", "notes.txt", b"notes\n");
    let mut events = EventStream::open(&page);
    let second = Duration::from_secs(1);

    let asked = Instant::now();
    page.post("/api/search?name=notes.txt", b"")
        .expect(200, "search");
    let trace = events.wait_for("the SEARCH trace line", second, |line| {
        line.contains(r#""kind":"trace","other":"tracker","dir":"sent","text":"SEARCH: notes.txt""#)
    });
    assert!(trace.starts_with("data: {\"node\":\"peer2\""), "{trace}");
    events.wait_for("the FOUND trace line", second, |line| {
        line.contains(r#""dir":"received","text":"FOUND: "#)
    });

    println!("trace lines arrived {:?} after the search", asked.elapsed());

    // A publish: its progress, and the event of the join that announces
    // it (in either order: the join runs in a thread of its own).
    let published = Instant::now();
    page.post("/api/publish?name=small.txt", b"hello\n")
        .expect(200, "publish");
    let (mut progress, mut joined) = (false, false);
    events.wait_for(
        "the publish's progress and the join's event line",
        second,
        |line| {
            progress |= line.contains(r#""label":"publish small.txt""#)
                && line.contains(r#""state":"done""#);
            joined |= line.contains(r#""kind":"event""#)
                && line.contains("joined the tracker")
                && line.contains("small.txt");
            progress && joined
        },
    );
    println!(
        "the event line arrived {:?} after the publish",
        published.elapsed()
    );
    events.close();
}

#[test]
fn a_page_not_joined_says_why_and_follows_the_reason_live() {
    let net = Net::new("web_why_not_joined", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    // No tracker yet: every try to join fails to connect.
    let page = net.start_web_peer("peer1", &[]);
    let state = page.wait_state("the failed try's reason", |json| {
        json.contains(r#""why_not_joined":"not joined to the tracker at"#)
            && json.contains("the last try failed")
    });
    assert!(state.contains(r#""joined":false"#), "{state}");
    let mut events = EventStream::open(&page);
    let why = |line: &str| line.strip_prefix(r#"data: {"why":"#).map(str::to_string);
    let mut tracker = net.start_tracker(&[]);
    events.wait_for("the join's event", TIMEOUT, |line| {
        why(line).as_deref() == Some("null}")
    });
    let state = page.get("/api/state").body_text();
    assert!(
        state.contains(r#""joined":true,"why_not_joined":null"#),
        "{state}"
    );
    // The tracker stops: the loss, then (a try later, which logs nothing
    // new) the failed try, each an event of its own.
    tracker.kill();
    events.wait_for("the loss's event", TIMEOUT, |line| {
        why(line).is_some_and(|why| why.contains("it will rejoin by itself"))
    });
    events.wait_for("the failed try's event", TIMEOUT, |line| {
        why(line).is_some_and(|why| why.contains("the last try failed"))
    });
    assert!(page
        .get("/api/state")
        .body_text()
        .contains(r#""joined":false,"why_not_joined":"not joined"#));
}
