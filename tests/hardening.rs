//! A lab full of curious students: what a misbehaving neighbour's program
//! may try against the web pages and a peer's slots, through the real
//! binaries.
//!
//! | bound | figure | test |
//! |---|---|---|
//! | a web request's head is complete within 10 s of connecting, however its bytes trickle (the time-out is set to the time left before every read), else 408 | a byte every 2 s: 408 after 10.01 s, on the tracker's and a peer's page | `a_head_trickled_a_byte_every_2_s_gets_408_by_10_5_s` |
//! | a protocol line that has begun (a request, a reply, a tracker's line to a peer) must end within 30 s plus a second per 64 KiB of it, however its bytes trickle, whatever the reader waits for; then the connection ends with `a line began N s ago and has not ended` | a byte every 0.4 s with the limit at 2 s: given up after 2 s, for a reply line, a reply that may be a file, and a line read with no time limit | in `src/wire/connection/tests.rs` `a_line_that_trickles_in_is_given_up_once_its_time_is_up`, `a_reply_that_may_be_a_file_and_trickles_in_is_given_up_too` |
//! | an UPLOAD (from READY), and a publish's body on the web page, have a whole-transfer deadline that grows with the size: 10 s plus a second per 64 KiB (an average of 64 KiB/s; 1 GiB gets about 4.5 h); then the connection is closed and the partial file removed | 100 bytes, a byte every 2 s: cut off after 12.0 s (deadline 11 s), nothing left, for both | `an_upload_that_trickles_is_cut_off_at_its_deadline`, `a_publish_whose_body_trickles_is_cut_off_at_its_deadline`; in `src/peer/server.rs` `a_deadline_closes_a_read_that_trickles_and_one_stopped_in_time_does_not` |
//! | one source address has a quarter of a server's cap (protocol port and web page): it may use more while nobody else needs the room, but when the server is full, a connection from an address below its share takes the place of the newest connection of the address that holds the most | 127.0.0.1 holds all 8 of a peer's slots and all 32 of its page's; 127.0.0.2 is still answered on both | `one_address_cannot_keep_another_out_of_a_peer_or_its_page`; in `src/server/tests.rs` `an_address_over_its_share_makes_room_for_one_under_it_when_full`, `the_newest_connection_of_the_address_that_holds_most_is_closed_for_a_newcomer` |
//! | on a full web page, the oldest connection that has not sent its whole request yet makes room for a newcomer (other users of the machine share its address) | 32 silent connections from 127.0.0.1 on the tracker's and a peer's page: the owner's request is answered 200 at once | `connections_that_send_nothing_cannot_keep_the_owner_off_the_page`; in `src/server/tests.rs` `when_full_the_oldest_connection_without_its_request_makes_room_first` |
//! | a text the pages are sent (a log line, an error, a transfer's outcome) is at most 1000 bytes, with `… and N more bytes` | 5 downloads from a seeder that answers with a 15 MB `ERROR:` line, with `--web`: the backlog's longest line is 1092 bytes, and the peer is at 19 MB resident afterwards | `a_15_mb_error_from_a_seeder_reaches_the_page_cut`; in `src/web/events.rs` `a_huge_line_from_another_node_is_cut_before_it_is_kept` |
//! | only the page's owner drives it: an `/api/` request or event stream without the run's token, or with a wrong one, is 403 | on the peer's, the tracker's and the demo's page | `every_page_answers_only_with_its_token`; in `src/web/token.rs` `only_the_right_token_opens_the_api_and_the_events` |
//! | no web parameter reaches a panic: a control or invisible character in a path or parameter is 400, with the character named, before any code uses it | 400 seeded requests of random percent-encoded bytes to every endpoint: no panic, no 500, every transfer slot free afterwards | `a_control_character_in_any_web_parameter_gets_400`, `random_web_parameters_never_panic_nor_leak_a_transfer_slot` |
//! | a web transfer that panics still frees its slot (a `Drop` guard) and is listed as failed | 8 transfers that panic: 0 running after, the next starts | in `src/web/transfers.rs` `a_transfer_that_panics_still_frees_its_slot`, `a_panic_in_the_guarded_work_of_this_thread_releases_too` |
//! | HTTP numbers are strict: `Content-Length` is digits only (`+5` is 400), too large is 413 (10^30 too), a stalled body says so in words | | `content_lengths_are_digits_and_a_huge_one_is_413`; in `src/web/http/` `a_length_is_digits_only_and_a_huge_one_is_too_large`, `a_stalled_body_says_so_in_words` |
//! | the web status follows the error: 400 for a bad name, 404 for an unknown peer or file, 409 for the user's conflict, 502 for the other side's failure | the tracker page's `POST /api/ping?peer=peer9` is 404, no longer 200 with an error text | `each_web_status_follows_its_error` |

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// The web page's limit on a request's head, as the README promises.
const HEAD_LIMIT: Duration = Duration::from_secs(10);

/// How late the 408 may come: the limit, plus the time to write it.
const HEAD_LIMIT_SLACK: Duration = Duration::from_millis(500);

/// How long the trickling clients wait between bytes.
const TRICKLE_PAUSE: Duration = Duration::from_secs(2);

/// A connection to `to` from the local address `from` (another address of
/// loopback: Linux routes all of 127.0.0.0/8 there). std cannot bind a
/// socket before connecting it, so this calls the C library's `socket`,
/// `bind` and `connect`, which every Rust program on Linux links already.
#[cfg(target_os = "linux")]
fn connect_from(from: Ipv4Addr, to: SocketAddrV4) -> TcpStream {
    use std::os::fd::FromRawFd;

    /// `struct sockaddr_in` of Linux.
    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port_be: u16,
        addr: [u8; 4],
        zero: [u8; 8],
    }
    extern "C" {
        fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
        fn bind(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
        fn connect(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
        fn close(fd: i32) -> i32;
    }
    const AF_INET: u16 = 2;
    const SOCK_STREAM: i32 = 1;
    let address = |ip: Ipv4Addr, port: u16| SockaddrIn {
        family: AF_INET,
        port_be: port.to_be(),
        addr: ip.octets(),
        zero: [0; 8],
    };
    let (local, remote) = (address(from, 0), address(*to.ip(), to.port()));
    let len = std::mem::size_of::<SockaddrIn>() as u32;
    // SAFETY: plain system calls on a descriptor this function owns, with
    // addresses that live across each call; on failure it is closed.
    unsafe {
        let fd = socket(i32::from(AF_INET), SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        if bind(fd, &local, len) != 0 || connect(fd, &remote, len) != 0 {
            let error = std::io::Error::last_os_error();
            close(fd);
            panic!("cannot connect from {from} to {to}: {error}");
        }
        bounded(TcpStream::from_raw_fd(fd))
    }
}

/// Sends a request head a byte every [`TRICKLE_PAUSE`], never ending it;
/// returns how long after connecting the page answered, and the answer.
fn trickle_head(page: &WebNode) -> (Duration, HttpReply) {
    let mut stream = connect(page.port);
    let started = Instant::now();
    stream
        .set_read_timeout(Some(TRICKLE_PAUSE))
        .expect("timeout");
    let head = format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Slow: ", page.host());
    let bytes = head.bytes().chain(std::iter::repeat(b'a'));
    let mut first = [0u8; 1];
    for byte in bytes {
        assert!(
            started.elapsed() < 3 * HEAD_LIMIT,
            "the page never answered a trickled head"
        );
        if stream.write_all(&[byte]).is_err() {
            break;
        }
        match stream.read(&mut first) {
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let answered = started.elapsed();
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("timeout");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let mut bytes = first.to_vec();
    bytes.extend(rest);
    let reply = parse_reply(&bytes);
    (answered, reply)
}

#[test]
fn a_head_trickled_a_byte_every_2_s_gets_408_by_10_5_s() {
    let net = Net::new("hard_trickle", &["peer1"]);
    let tracker = net.start_web_tracker(&[]);
    let peer = net.start_web_peer("peer1", &[]);
    thread::scope(|scope| {
        let pages = [("the tracker's page", &tracker), ("a peer's page", &peer)];
        let runs: Vec<_> = pages
            .map(|(which, page)| (which, scope.spawn(|| trickle_head(page))))
            .into_iter()
            .collect();
        for (which, run) in runs {
            let (answered, reply) = run.join().expect("the trickle thread");
            println!("{which}: answered {} after {answered:?}", reply.status);
            assert_eq!(reply.status, 408, "{which}: {}", reply.head);
            assert!(
                answered <= HEAD_LIMIT + HEAD_LIMIT_SLACK,
                "{which}: 408 after {answered:?}"
            );
            assert!(answered >= HEAD_LIMIT - TRICKLE_PAUSE, "{which}: too soon");
        }
    });
}

/// Checks that `path` of `page` answers 403 without the token and with a
/// wrong one.
fn refused_without_token(page: &WebNode, method: &str, path: &str) {
    let wrong = "0".repeat(page.token.len());
    let join = if path.contains('?') { '&' } else { '?' };
    for (how, target) in [
        ("no token", path.to_string()),
        ("a wrong token", format!("{path}{join}token={wrong}")),
        (
            "a cut token",
            format!("{path}{join}token={}", &page.token[1..]),
        ),
    ] {
        let reply = match method {
            "GET" => page.get_raw(&target),
            _ => page.post_raw(&target, b""),
        };
        reply.expect(403, &format!("{method} {path} with {how}"));
        assert!(reply.body_text().contains("token"), "{}", reply.body_text());
    }
}

#[test]
fn every_page_answers_only_with_its_token() {
    let net = Net::new("hard_token", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let tracker = net.start_web_tracker(&[]);
    let peer = net.start_web_peer("peer1", &[]);
    let demo = start_web_demo("hard_token_demo", &[]);
    let pages = [
        ("tracker", &tracker, "/api/discover?peer=peer1"),
        ("peer", &peer, "/api/ping?peer=tracker"),
        ("demo", &demo.page, "/api/next"),
    ];
    for (which, page, action) in pages {
        page.get("/api/state").expect(200, which);
        EventStream::open(page).close();
        let acted = page.post(action, b"");
        assert_ne!(acted.status, 403, "{which} {action}: {}", acted.body_text());
        refused_without_token(page, "GET", "/api/state");
        refused_without_token(page, "GET", "/events");
        refused_without_token(page, "POST", action);
        // The page's own files need none: they hold nothing secret.
        page.get_raw("/").expect(200, which);
        page.get_raw("/app.js").expect(200, which);
    }
    assert_ne!(tracker.token, peer.token, "every run has its own token");
}

#[test]
fn a_control_character_in_any_web_parameter_gets_400() {
    let net = Net::new("hard_nul", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let from = net.addr("peer2");
    let targets = [
        format!("/api/download?name=a%00b&from={from}"),
        "/api/fetch?name=a%00b".to_string(),
        "/api/upload?name=notes.txt&peer=peer%002".to_string(),
        "/api/upload?name=no%00tes.txt&peer=peer2".to_string(),
        "/api/search?name=%0Aforged%20line".to_string(),
        "/api/list?peer=peer2%07".to_string(),
        "/api/ping?peer=%1Bpeer2".to_string(),
        "/api/publish?name=a%00b".to_string(),
        "/api/search?name=%E2%80%AEtxt.exe".to_string(),
    ];
    for target in &targets {
        let reply = page.post(target, b"");
        reply.expect(400, target);
        assert!(
            reply.body_text().contains("U+"),
            "{target}: {}",
            reply.body_text()
        );
    }
    // Nothing panicked, no transfer runs, and one still starts.
    let state = page.get("/api/state").body_text();
    assert!(state.contains(r#""transfers":[]"#), "{state}");
    page.post("/api/fetch?name=nowhere.txt", b"")
        .expect(200, "a transfer starts");
    let mut node = page.node;
    assert!(node.try_exit_status().is_none(), "the peer is running");
    assert!(!node.all_lines().iter().any(|l| l.contains("panicked")));
}

/// How many fuzzed requests the fuzz test sends, and the most time it may
/// take on a slow machine.
const FUZZ_REQUESTS: u64 = 400;
const FUZZ_TIME: Duration = Duration::from_secs(25);

/// Every web endpoint of a peer's page, with its method.
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/search"),
    ("POST", "/api/download"),
    ("POST", "/api/fetch"),
    ("POST", "/api/list"),
    ("POST", "/api/upload"),
    ("POST", "/api/publish"),
    ("POST", "/api/ping"),
    ("GET", "/api/state"),
];

/// Every parameter the endpoints read, and one they do not.
const PARAMS: &[&str] = &["name", "from", "peer", "other"];

/// `bytes` with every byte percent-encoded, as a client may send anything.
fn percent_encoded(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A fuzzed request: a random endpoint, random parameters of random
/// bytes (sometimes a valid-looking value), percent-encoded.
fn fuzzed_target(rng: &mut Rng, peer2: &str) -> (&'static str, String) {
    let (method, path) = rng.pick(ENDPOINTS);
    let mut query = Vec::new();
    for _ in 0..rng.range(0, 3) {
        let name = rng.pick(PARAMS);
        let value = match rng.below(4) {
            0 => percent_encoded(peer2.as_bytes()),
            1 => percent_encoded(&text_bytes(rng.range(1, 20))),
            _ => percent_encoded(&rng.bytes(0, 24)),
        };
        query.push(format!("{name}={value}"));
    }
    (method, format!("{path}?{}", query.join("&")))
}

#[test]
fn random_web_parameters_never_panic_nor_leak_a_transfer_slot() {
    let seed = fuzz_seed();
    println!("fuzz seed {seed:#x} (set P2P_FUZZ_SEED to replay)");
    let net = Net::new("hard_fuzz", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", b"notes\n");
    net.put("peer2", "poem.txt", b"roses\n");
    let _tracker = net.start_tracker(&[]);
    let _peer2 = net.start_peer("peer2", true, &[]);
    let page = net.start_web_peer("peer1", &[]);
    let peer2 = net.addr("peer2");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for case in 0..FUZZ_REQUESTS {
        if started.elapsed() > FUZZ_TIME {
            println!("stopped after {case} requests: the time is up");
            break;
        }
        let (method, target) = fuzzed_target(&mut rng, &peer2);
        // A request whose thread panicked gets no answer: the helper fails.
        let reply = match method {
            "GET" => page.get(&target),
            _ => page.post(&target, b""),
        };
        assert_ne!(
            reply.status,
            500,
            "{method} {target}: {}",
            reply.body_text()
        );
        *statuses.entry(reply.status).or_insert(0) += 1;
    }
    println!("statuses: {statuses:?}");
    // Every transfer ends, and its slot is free: all 8 start again.
    page.wait_state("no transfer running", |state| {
        !state.contains(r#""state":"running""#)
    });
    for n in 0..8 {
        let started = page.post("/api/fetch?name=nowhere.txt", b"");
        started.expect(200, &format!("transfer {n} after the fuzzing"));
    }
    let mut node = page.node;
    assert!(node.try_exit_status().is_none(), "the peer is running");
    let panics: Vec<String> = node
        .all_lines()
        .into_iter()
        .filter(|line| line.contains("panicked"))
        .collect();
    assert!(panics.is_empty(), "{panics:#?}");
}

/// The loopback address the second machine's connections come from.
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[cfg(target_os = "linux")]
#[test]
fn one_address_cannot_keep_another_out_of_a_peer_or_its_page() {
    const PEER_CAP: usize = 8;
    let net = Net::new("hard_share", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let _tracker = net.start_tracker(&[]);
    let cap = PEER_CAP.to_string();
    let page = net.start_web_peer("peer1", &["--max-connections", &cap]);
    let addr = net.addr("peer1");
    let peer_port: SocketAddrV4 = addr.parse().expect("an address");

    // 127.0.0.1 fills the peer's cap with connections that say nothing,
    // until one more is busy.
    let held = fill_until_busy(&addr, PEER_CAP);
    // Another machine is still answered.
    let mut other = Client::accepted(connect_from(OTHER, peer_port));
    assert_eq!(other.request("PING"), "PONG", "127.0.0.2 is served");

    // The same on the web page (32 connections, a share of 8), with
    // connections that sent their request: event streams, token and all.
    let streams: Vec<EventStream> = (0..32).map(|_| EventStream::open(&page)).collect();
    let web_port = SocketAddrV4::new(Ipv4Addr::LOCALHOST, page.port);
    let mut stream = connect_from(OTHER, web_port);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        page.with_token("/api/state"),
        page.host()
    );
    stream.write_all(request.as_bytes()).expect("send");
    read_reply(&mut stream).expect(200, "the page from 127.0.0.2");
    drop(held);
    streams.into_iter().for_each(EventStream::close);
    // The room came from 127.0.0.1's newest connection, each time.
    let node = page.node;
    let made_room = |node: &Node| {
        let lines = node.all_lines();
        let room = lines.iter().filter(|line| {
            line.contains("to make room for 127.0.0.2") && line.contains("more than its share")
        });
        room.count()
    };
    wait_until("a line for each room made", || made_room(&node) == 2);
}

/// Opens silent connections to `addr` until one more is answered
/// `ERROR: busy`; returns the ones held (at most `cap`).
fn fill_until_busy(addr: &str, cap: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    loop {
        let stream = connect_raw(addr);
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut answer = [0u8; 64];
        match (&stream).read(&mut answer) {
            Ok(n) => {
                assert_eq!(&answer[..n], b"ERROR: busy\n", "a connection over the cap");
                return held;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                held.push(stream);
                assert!(
                    held.len() <= cap,
                    "{} connections held, over the cap",
                    held.len()
                );
            }
            Err(e) => panic!("connecting to {addr}: {e}"),
        }
    }
}

#[test]
fn connections_that_send_nothing_cannot_keep_the_owner_off_the_page() {
    let net = Net::new("hard_silent", &["peer1"]);
    let tracker = net.start_web_tracker(&[]);
    let peer = net.start_web_peer("peer1", &[]);
    for (which, page) in [("tracker", &tracker), ("peer", &peer)] {
        // Another user of this machine (also 127.0.0.1, without the
        // token) fills all 32 of the page's connections and says nothing.
        let silent: Vec<TcpStream> = (0..32).map(|_| connect(page.port)).collect();
        wait_until("the page to be full", || {
            let mut extra = connect(page.port);
            let _ = extra.write_all(b"GET /app.js HTTP/1.1\r\n");
            let _ = extra.write_all(format!("Host: {}\r\n\r\n", page.host()).as_bytes());
            read_reply(&mut extra).status == 503 || silent.iter().any(is_closed)
        });
        // The owner is still answered, at once.
        page.get("/api/state").expect(200, which);
        EventStream::open(page).close();
        drop(silent);
    }
    let made_room = |node: &Node| {
        let lines = node.all_lines();
        lines
            .iter()
            .any(|line| line.contains("that had sent no request yet"))
    };
    wait_until("the line that says who made room", || {
        made_room(&tracker.node) && made_room(&peer.node)
    });
}

/// Whether the other end has closed `stream` (a read gets end-of-file at
/// once; an open, quiet one would block).
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    let closed = matches!((&*stream).read(&mut byte), Ok(0) | Err(_))
        && !matches!((&*stream).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).expect("blocking");
    closed
}

#[test]
fn an_upload_that_trickles_is_cut_off_at_its_deadline() {
    /// 100 bytes may take 10 s plus 1 s (a second per 64 KiB, rounded up).
    const SIZE: usize = 100;
    const LIMIT: Duration = Duration::from_secs(11);
    let net = Net::new("hard_upload", &["peer1"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", true, &[]);
    let mut client = Client::connect(&net.addr("peer1"));
    assert_eq!(
        client.request(&format!("UPLOAD: slow.bin, bin, {SIZE}")),
        "READY"
    );
    let started = Instant::now();
    let mut stream = client.into_stream();
    stream.write_all(b"FILE: ").expect("the header");
    // A byte every 2 s: under the 30 s no-progress limit, far under the
    // rate an upload must keep.
    let cut_off = trickle_until_closed(&mut stream, started, LIMIT + TIMEOUT);
    println!("cut off after {cut_off:?}");
    assert!(
        cut_off >= LIMIT - TRICKLE_PAUSE,
        "cut off too soon: {cut_off:?}"
    );
    peer.wait_for_log("the reason", |line| {
        line.contains("the upload of slow.bin was cut off") && line.contains("11 s at most")
    });
    wait_folder_is(&net.dir("peer1"), &["notes.txt"]);
    assert_eq!(
        all_entries(&net.dir("peer1")),
        ["notes.txt"],
        "no temporary file left"
    );
}

/// Writes a byte every [`TRICKLE_PAUSE`] until the other end closes
/// `stream`; returns how long after `started` that was.
fn trickle_until_closed(stream: &mut TcpStream, started: Instant, within: Duration) -> Duration {
    loop {
        if stream.write_all(b"x").is_err() || is_closed(stream) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "never cut off");
        thread::sleep(TRICKLE_PAUSE);
    }
}

#[test]
fn a_publish_whose_body_trickles_is_cut_off_at_its_deadline() {
    /// 100 bytes may take 10 s plus 1 s, as an upload of that size.
    const LIMIT: Duration = Duration::from_secs(11);
    let net = Net::new("hard_publish", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let mut stream = connect(page.port);
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Length: 100\r\n\r\n",
        page.with_token("/api/publish?name=slow.bin"),
        host = page.host()
    );
    stream.write_all(head.as_bytes()).expect("the head");
    let cut_off = trickle_until_closed(&mut stream, Instant::now(), LIMIT + TIMEOUT);
    println!("publish cut off after {cut_off:?}");
    assert!(
        cut_off >= LIMIT - TRICKLE_PAUSE,
        "cut off too soon: {cut_off:?}"
    );
    page.wait_state("the publish failed", |state| {
        state.contains(r#""state":"failed""#) && state.contains("may take 11 s at most")
    });
    assert_eq!(
        all_entries(&net.dir("peer1")),
        Vec::<String>::new(),
        "nothing written"
    );
}

/// A seeder that answers every DOWNLOAD with one `ERROR:` line of `size`
/// bytes, for as long as the test runs.
fn seeder_of_huge_errors(size: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let line = format!("ERROR: {}\n", "x".repeat(size));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = bounded(stream);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(line.as_bytes());
        }
    });
    port
}

#[test]
fn a_15_mb_error_from_a_seeder_reaches_the_page_cut() {
    const ERROR_SIZE: usize = 15_000_000;
    const DOWNLOADS: usize = 5;
    let net = Net::new("hard_huge", &["peer1"]);
    net.put("peer1", "seed.txt", b"a peer shares a file to join\n");
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let seeder = seeder_of_huge_errors(ERROR_SIZE);
    let records = file_record("big.bin", "bin", 1000, "01/01/26", seeder);
    let _fake = join_tracker(&tracker_addr(&net), &records);
    page.wait_state("peer1 joined", |state| state.contains(r#""joined":true"#));
    let before = memory_kb(page.node.pid(), "VmHWM");
    let from = format!("127.0.0.1:{seeder}");
    for n in 0..DOWNLOADS {
        let path = format!("/api/download?name=big.bin&from={from}");
        let id = page.post(&path, b"").expect(200, "a download").body_text();
        assert!(id.contains("transfer"), "download {n}: {id}");
        page.wait_state("the download to fail", |state| {
            state.matches(r#""state":"failed""#).count() > n
        });
    }
    let peak = memory_kb(page.node.pid(), "VmHWM");
    let now = memory_kb(page.node.pid(), "VmRSS");
    println!("peer with --web: peak {before} kB before, {peak} kB after {DOWNLOADS} 15 MB errors; now {now} kB");
    let (events, backlog) = EventStream::open_with_backlog(&page);
    events.close();
    let longest = backlog.iter().map(String::len).max().unwrap_or(0);
    println!(
        "the page's backlog: {} lines, the longest {longest} bytes",
        backlog.len()
    );
    assert!(longest < 8 * 1024, "a backlog line of {longest} bytes");
    assert!(backlog.iter().any(|line| line.contains("more bytes")));
    let state = page.get("/api/state").body_text();
    assert!(
        state.len() < 64 * 1024,
        "the state is {} bytes",
        state.len()
    );
}

/// The tracker's address of `net`.
fn tracker_addr(net: &Net) -> String {
    net.tracker_addr()
}

#[test]
fn content_lengths_are_digits_and_a_huge_one_is_413() {
    let net = Net::new("hard_length", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let publish = |length: &str| {
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Length: {length}\r\n\r\nabcde",
            page.with_token("/api/publish?name=n.txt"),
            host = page.host()
        );
        exchange(page.port, request.as_bytes())
    };
    let plus = publish("+5");
    plus.expect(400, "a signed length");
    assert!(
        plus.body_text().contains("digits only"),
        "{}",
        plus.body_text()
    );
    let huge = publish(&format!("1{}", "0".repeat(30)));
    huge.expect(413, "a length of 10^30");
    assert!(
        huge.body_text().contains("larger than"),
        "{}",
        huge.body_text()
    );
    assert_eq!(all_entries(&net.dir("peer1")), Vec::<String>::new());
}

#[test]
fn each_web_status_follows_its_error() {
    // peer2 is in the settings file but never started: it does not answer.
    let net = Net::new("hard_status", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", b"notes\n");
    let tracker = net.start_web_tracker(&[]);
    let page = net.start_web_peer("peer1", &[]);
    let here = net.addr("peer1");
    let cases: [(&WebNode, String, u16); 9] = [
        (&page, "/api/ping?peer=peer9".into(), 404),
        (&page, "/api/list?peer=peer9".into(), 404),
        (&page, "/api/upload?name=notes.txt&peer=peer9".into(), 404),
        (&page, "/api/upload?name=absent.txt&peer=peer2".into(), 404),
        (
            &page,
            format!("/api/download?name=notes.txt&from={here}"),
            409,
        ),
        (&page, "/api/ping?peer=peer2".into(), 502),
        (&tracker, "/api/ping?peer=peer9".into(), 404),
        (&tracker, "/api/ping?peer=tracker".into(), 409),
        (&tracker, "/api/ping?peer=peer2".into(), 502),
    ];
    for (which, path, status) in cases {
        let reply = which.post(&path, b"");
        reply.expect(status, &path);
        println!("{path}: {status} {}", reply.body_text().trim());
    }
    tracker
        .post("/api/discover?peer=peer9", b"")
        .expect(404, "discover an unknown peer");
}
