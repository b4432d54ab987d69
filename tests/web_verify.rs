//! Black-box tests of what the peer's page shows of verified and resumed
//! transfers, and of its keyword search (`GET /api/find`), over HTTP with
//! `std::net`. The fake holders and the fake tracker here get exactly one
//! thing wrong, and do everything else right.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::web::*;
use common::*;
use p2p_share::wire::sha256::{digest, to_hex};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// How a fake holder goes wrong.
#[derive(Clone, Copy)]
enum Fault {
    /// Keeps only the core protocol: answers HASH with `ERROR:`. Its
    /// bytes are right.
    CoreOnly,
    /// Sends this many bytes of the file, then closes, as a holder that
    /// vanished part-way.
    CutAfter(usize),
    /// Sends the first byte of every DOWNLOAD wrong. Its HASH answers and
    /// its LIST are right.
    LiesInEveryRange,
}

/// The file's name, as the fakes list it.
const FAKE_NAME: &str = "big.bin";

/// The chunk size of the programs under test, as `FILE:` traces say it.
const CHUNK: usize = 100;

/// A fake holder of one file: answers DOWNLOAD and HASH, one line and one
/// answer per connection, on as many connections as come, until dropped.
struct FakeHolder(FakeServer);

impl FakeHolder {
    fn start(content: Vec<u8>, fault: Fault) -> FakeHolder {
        FakeHolder(FakeServer::start(move |stream| {
            // The port the holder announces is the one it listens on.
            let port = stream.local_addr().map_or(0, |a| a.port());
            answer(stream, &content, fault, port)
        }))
    }

    fn addr(&self) -> String {
        self.0.addr()
    }

    fn port(&self) -> u16 {
        self.0.port
    }
}

/// One connection of a fake holder: its request line, its answer, close.
fn answer(stream: TcpStream, content: &[u8], fault: Fault, port: u16) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut stream = reader.into_inner();
    let line = line.trim_end();
    let range = line
        .split_once(':')
        .and_then(|(_, fields)| range_of(fields, content.len()));
    let reply = if line == "LIST" {
        let record = file_record(FAKE_NAME, "bin", content.len() as u64, "01/01/26", port);
        format!("FILES: {record}\n").into_bytes()
    } else if let (Some(_), Some((start, end))) = (line.strip_prefix("HASH:"), range) {
        match fault {
            Fault::CoreOnly => b"ERROR: unknown command \"HASH:\"\n".to_vec(),
            _ => format!("HASH: {}\n", to_hex(&digest(&content[start..end]))).into_bytes(),
        }
    } else if let (Some(_), Some((start, end))) = (line.strip_prefix("DOWNLOAD:"), range) {
        let mut bytes = content[start..end].to_vec();
        match fault {
            Fault::CutAfter(sent) => bytes.truncate(sent),
            Fault::LiesInEveryRange => bytes[0] ^= 0xff,
            Fault::CoreOnly => {}
        }
        [b"FILE: ".as_slice(), &bytes].concat()
    } else {
        b"ERROR: this fake takes LIST, DOWNLOAD and HASH\n".to_vec()
    };
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
}

/// The byte range `name, type, size [, first, count]` asks for.
fn range_of(fields: &str, size: usize) -> Option<(usize, usize)> {
    let numbers: Vec<usize> = fields
        .split(',')
        .skip(2)
        .map(|f| f.trim().parse().ok())
        .collect::<Option<_>>()?;
    match numbers.as_slice() {
        [whole] if *whole == size => Some((0, size)),
        [whole, first, count] if *whole == size && first * CHUNK < size => {
            Some((first * CHUNK, ((first + count) * CHUNK).min(size)))
        }
        _ => None,
    }
}

/// A fake joined to the tracker that announces `name` as held by `holder`.
fn joined_fake(net: &Net, name: &str, size: usize, holder: &FakeHolder) -> Client {
    let record = file_record(name, "bin", size as u64, "01/01/26", holder.port());
    let mut session = join_tracker(&net.tracker_addr(), &record);
    wait_until("the tracker to list the fake holder", || {
        session.search(name).starts_with("FOUND:")
    });
    session
}

/// Starts a download of `name` from `from` on the page, and waits until it
/// ended as `state`. Returns that transfer's JSON object.
fn download(page: &WebNode, name: &str, from: &str, state: &str) -> String {
    let path = format!("/api/download?name={name}&from={from}");
    let id = transfer_id(page.post(&path, b"").expect(200, "download"));
    page.wait_transfer(&id, state)
}

#[test]
fn a_download_from_the_page_shows_it_was_verified_with_its_sha256() {
    let net = Net::new("web_verified", &["peer1", "peer2"]);
    let content = text_bytes(5000);
    net.put("peer1", "notes.txt", &content);
    let _tracker = net.start_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    let page = net.start_web_peer("peer2", &[]);
    net.probe().wait_found_at("notes.txt", net.port("peer1"));
    let transfer = download(&page, "notes.txt", &net.addr("peer1"), "done");
    let verified = format!(
        r#"{{"text":"verified: sha256 {}","kind":"verified"}}"#,
        to_hex(&digest(&content))
    );
    assert!(transfer.contains(&verified), "{transfer}");
}

#[test]
fn a_holder_that_does_not_answer_hash_gives_a_file_the_page_shows_unverified() {
    let net = Net::new("web_unverified", &["peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(987);
    let holder = FakeHolder::start(content.clone(), Fault::CoreOnly);
    let _session = joined_fake(&net, "plain.bin", content.len(), &holder);
    net.put("peer2", "own.txt", b"own");
    let page = net.start_web_peer("peer2", &[]);
    page.wait_state("joined", |json| json.contains("\"joined\":true"));
    let transfer = download(&page, "plain.bin", &holder.addr(), "done");
    assert!(
        transfer.contains(r#"{"text":"unverified: "#)
            && transfer.contains("does not answer HASH")
            && transfer.contains(r#""kind":"unverified""#),
        "{transfer}"
    );
    assert_eq!(
        fs::read(net.dir("peer2").join("plain.bin")).expect("the kept file"),
        content
    );
}

#[test]
fn a_download_cut_part_way_then_resumed_from_another_holder_is_shown_on_the_page() {
    let net = Net::new("web_resume", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(10_000);
    let cut = FakeHolder::start(content.clone(), Fault::CutAfter(4000));
    let session = joined_fake(&net, "big.bin", content.len(), &cut);
    net.put("peer2", "own.txt", b"own");
    let page = net.start_web_peer("peer2", &[]);
    page.wait_state("joined", |json| json.contains("\"joined\":true"));
    let failed = download(&page, "big.bin", &cut.addr(), "failed");
    assert!(
        failed.contains("kept the first 4000 bytes of big.bin"),
        "the partial kept, said under the failure: {failed}"
    );
    // The cut holder goes; peer1 has the same copy (same size and date).
    drop(session);
    drop(cut);
    let path = net.put("peer1", "big.bin", &content);
    set_file_date(&path, 2026, 1, 1);
    let _peer1 = net.start_peer("peer1", true, &[]);
    net.probe().wait_found_at("big.bin", net.port("peer1"));
    let done = download(&page, "big.bin", &net.addr("peer1"), "done");
    let verified = format!("verified: sha256 {}", to_hex(&digest(&content)));
    let resumed = "resuming big.bin at byte 4000 of 10000, from peer1";
    let (at_verified, at_resumed) = (done.find(&verified), done.find(resumed));
    assert!(
        at_verified.is_some() && at_resumed.is_some() && at_verified < at_resumed,
        "the verification, then the resume: {done}"
    );
    assert_eq!(
        fs::read(net.dir("peer2").join("big.bin")).expect("the file"),
        content
    );
}

#[test]
fn the_find_endpoint_answers_keyword_matches_and_bad_requests_get_400() {
    let net = Net::new("web_find", &["peer1", "peer2"]);
    net.put("peer1", "Lab-Notes.txt", b"notes");
    net.put("peer1", "lab-report.txt", b"report");
    net.put("peer1", "other.bin", b"other");
    net.put("peer2", "own.txt", b"own");
    let _tracker = net.start_tracker(&[]);
    let _peer1 = net.start_peer("peer1", true, &[]);
    let page = net.start_web_peer("peer2", &[]);
    page.wait_state("joined", |json| json.contains("\"joined\":true"));
    net.probe().wait_found_at("other.bin", net.port("peer1"));

    let found = page.get("/api/find?words=LAB");
    let text = found.expect(200, "find LAB").body_text();
    assert!(
        text.contains(r#""name":"Lab-Notes.txt""#)
            && text.contains(r#""name":"lab-report.txt""#)
            && !text.contains("other.bin"),
        "{text}"
    );
    assert!(text.contains(r#""id":"peer1""#), "{text}");
    let found = page.get("/api/find?words=lab+notes");
    let text = found.expect(200, "find lab notes").body_text();
    assert!(
        text.contains(r#""words":["lab","notes"]"#)
            && text.contains("Lab-Notes.txt")
            && !text.contains("lab-report.txt"),
        "{text}"
    );
    let text = page
        .get("/api/find?words=zzz")
        .expect(200, "find zzz")
        .body_text();
    assert!(
        text.contains(r#""matches":[],"note":"""#),
        "no match is no error: {text}"
    );
    page.get("/api/find").expect(400, "no words");
    page.get("/api/find?words=+").expect(400, "only a space");
    page.post("/api/find?words=lab", b"")
        .expect(405, "a POST to a GET path");
}

#[test]
fn a_core_only_tracker_that_refuses_find_gets_a_plain_note_on_the_page() {
    let net = Net::new("web_find_core_only", &["peer2"]);
    let tracker = core_only_tracker(&net.tracker_addr());
    net.put("peer2", "own.txt", b"own");
    let page = net.start_web_peer("peer2", &[]);
    page.wait_state("joined", |json| json.contains("\"joined\":true"));
    let text = page
        .get("/api/find?words=notes")
        .expect(200, "find on a core-only tracker")
        .body_text();
    assert!(
        text.contains(r#""matches":[]"#) && text.contains("does not answer FIND"),
        "{text}"
    );
    drop(page);
    tracker.join().expect("the core-only tracker");
}

#[test]
fn a_fetch_from_the_page_names_the_holder_that_sent_bad_bytes_and_comes_out_whole() {
    let net = Net::new("web_liar", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(10_000);
    let liar = FakeHolder::start(content.clone(), Fault::LiesInEveryRange);
    let _session = joined_fake(&net, FAKE_NAME, content.len(), &liar);
    let path = net.put("peer1", FAKE_NAME, &content);
    set_file_date(&path, 2026, 1, 1);
    let _peer1 = net.start_peer("peer1", true, &[]);
    net.put("peer2", "own.txt", b"own");
    let page = net.start_web_peer("peer2", &[]);
    page.wait_state("joined", |json| json.contains("\"joined\":true"));
    net.probe().wait_found_at(FAKE_NAME, net.port("peer1"));
    let id = transfer_id(
        page.post("/api/fetch?name=big.bin", b"")
            .expect(200, "fetch"),
    );
    let transfer = page.wait_transfer(&id, "done");
    let named = format!("holder {} sent bad bytes for chunks", liar.addr());
    assert!(
        transfer.contains(&named) && transfer.contains("fetched again from another holder"),
        "{transfer}"
    );
    let verified = format!("verified: sha256 {}", to_hex(&digest(&content)));
    assert!(transfer.contains(&verified), "{transfer}");
    assert_eq!(
        fs::read(net.dir("peer2").join(FAKE_NAME)).expect("the fetched file"),
        content,
        "byte for byte"
    );
}
