//! Every endpoint of the peer's and the tracker's pages, with each status
//! it answers, as the README's table of endpoints says: 200 when it
//! worked, 400 for a request that breaks a rule (a name, a missing
//! parameter), 404 for a name or peer nobody knows, 405 for the wrong
//! method, 409 for the user's conflict (a file here already, not joined,
//! pinging the tracker from its own page), 502 for the other side's
//! failure (a peer that does not answer). (The demo's `/api/next` is in
//! tests/web_demo.rs.)

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;

/// A request to a page and the status it must get.
struct Case<'a> {
    method: &'a str,
    path: String,
    status: u16,
    /// Words the answer must hold (its reason), or "".
    says: &'a str,
}

fn case<'a>(method: &'a str, path: &str, status: u16, says: &'a str) -> Case<'a> {
    Case {
        method,
        path: path.to_string(),
        status,
        says,
    }
}

/// Sends each case to `page` and checks its status and its words.
fn check(page: &WebNode, cases: &[Case]) {
    for Case {
        method,
        path,
        status,
        says,
    } in cases
    {
        let reply = match *method {
            "GET" => page.get(path),
            _ => page.post(path, b""),
        };
        let what = format!("{method} {path}");
        let text = reply.expect(*status, &what).body_text();
        assert!(text.contains(says), "{what}: {text}");
    }
}

/// peer1 with its page, sharing notes.txt; peer3 running, sharing
/// poem.txt; peer2 in the settings file but never started: it does not
/// answer.
fn three_peers(test: &str) -> (Net, Node, Node, WebNode) {
    let net = Net::new(test, &["peer1", "peer2", "peer3"]);
    net.put("peer1", "notes.txt", b"notes\n");
    net.put("peer3", "poem.txt", b"a poem\n");
    let tracker = net.start_tracker(&[]);
    let peer3 = net.start_peer("peer3", true, &[]);
    let page = net.start_web_peer("peer1", &[]);
    let mut probe = net.probe();
    probe.wait_found_at("poem.txt", net.port("peer3"));
    probe.wait_found_at("notes.txt", net.port("peer1"));
    (net, tracker, peer3, page)
}

#[test]
fn each_peer_page_endpoint_answers_each_documented_status() {
    let (net, mut tracker, _peer3, page) = three_peers("webs_peer");
    let here = net.addr("peer1");
    let silent = net.addr("peer2");
    let bad = "..%2Fescape";
    check(
        &page,
        &[
            case("GET", "/", 200, "peer"),
            case("GET", "/peer.js", 200, ""),
            case("GET", "/api/state", 200, r#""joined":true"#),
            case("GET", "/nothing", 404, "no page /nothing"),
            case("POST", "/api/state", 405, "GET"),
            case("GET", "/api/find?words=poem", 200, r#""name":"poem.txt""#),
            case("GET", "/api/find?words=+", 400, "a word"),
            case("GET", "/api/find", 400, "words"),
            case("POST", "/api/find?words=poem", 405, "GET"),
            case("POST", "/api/search?name=poem.txt", 200, r#""id":"peer3""#),
            case("POST", &format!("/api/search?name={bad}"), 400, "escape"),
            case("POST", "/api/search", 400, "name"),
            case("GET", "/api/search?name=poem.txt", 405, "POST"),
            case(
                "POST",
                &format!("/api/download?name=notes.txt&from={here}"),
                409,
                "already",
            ),
            case(
                "POST",
                &format!("/api/download?name={bad}&from={here}"),
                400,
                "escape",
            ),
            case(
                "POST",
                "/api/download?name=poem.txt&from=peer3",
                400,
                "ip:port",
            ),
            case("POST", "/api/fetch?name=notes.txt", 409, "already"),
            case("POST", &format!("/api/fetch?name={bad}"), 400, "escape"),
            case("POST", "/api/list?peer=peer3", 200, r#""name":"poem.txt""#),
            case("POST", "/api/list?peer=peer9", 404, "peer9"),
            case("POST", "/api/list?peer=peer2", 502, ""),
            case(
                "POST",
                "/api/upload?name=notes.txt&peer=peer9",
                404,
                "peer9",
            ),
            case(
                "POST",
                "/api/upload?name=absent.txt&peer=peer3",
                404,
                "absent.txt",
            ),
            case("POST", "/api/publish?name=notes.txt", 409, "notes.txt"),
            case("POST", &format!("/api/publish?name={bad}"), 400, "escape"),
            case("POST", "/api/ping?peer=peer3", 200, "PONG from peer3"),
            case("POST", "/api/ping?peer=peer9", 404, "peer9"),
            case("POST", "/api/ping?peer=peer2", 502, ""),
            case("GET", "/api/ping?peer=peer3", 405, "POST"),
        ],
    );
    // The transfers that start answer 200 with their number at once; how
    // one ends is in the state.
    let started = page.post(&format!("/api/download?name=poem.txt&from={silent}"), b"");
    let id = transfer_id(started.expect(200, "a download from a silent peer"));
    page.wait_transfer(&id, "failed");
    let started = page.post("/api/upload?name=notes.txt&peer=peer3", b"");
    let id = transfer_id(started.expect(200, "an upload"));
    page.wait_transfer(&id, "done");

    // Without the tracker, what needs it alone is the user's conflict:
    // not joined (409), with the reason.
    tracker.kill();
    page.wait_state("not joined", |json| json.contains(r#""joined":false"#));
    check(
        &page,
        &[
            case("GET", "/api/find?words=poem", 409, "not joined"),
            // A search asks the settings file's peers instead.
            case("POST", "/api/search?name=poem.txt", 200, r#""id":"peer3""#),
            case("POST", "/api/fetch?name=poem.txt", 200, "transfer"),
        ],
    );
}

#[test]
fn each_tracker_page_endpoint_answers_each_documented_status() {
    let net = Net::new("webs_tracker", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let page = net.start_web_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    page.wait_state("peer1", |json| json.contains(r#""id":"peer1""#));
    check(
        &page,
        &[
            case("GET", "/", 200, "tracker"),
            case("GET", "/tracker.js", 200, ""),
            case("GET", "/api/state", 200, r#""id":"peer1""#),
            case("GET", "/nothing", 404, "no page /nothing"),
            case("POST", "/api/state", 405, "GET"),
            case("POST", "/api/ping?peer=peer1", 200, "PONG from peer1"),
            case("POST", "/api/ping?peer=peer9", 404, "peer9"),
            case("POST", "/api/ping?peer=tracker", 409, "is this tracker"),
            case("POST", "/api/ping?peer=peer2", 502, "unreachable"),
            case("POST", "/api/ping", 400, "peer"),
            case("GET", "/api/ping?peer=peer1", 405, "POST"),
            case("POST", "/api/discover?peer=peer1", 200, "notes.txt"),
            case("POST", "/api/discover?peer=peer9", 404, "peer9"),
            case("POST", "/api/discover", 400, "peer"),
            case("GET", "/api/discover?peer=peer1", 405, "POST"),
        ],
    );
}
