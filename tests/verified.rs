//! Black-box tests of verified transfers: a `download` or `fetch` keeps a
//! file only when the holder's SHA-256 (`HASH`) agrees with the bytes that
//! came. The fake holders here are student peers that get exactly one
//! thing wrong, and do everything else right.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use p2p_share::wire::sha256::{digest, to_hex};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// How a fake holder goes wrong.
#[derive(Clone, Copy)]
enum Fault {
    /// Sends `FILE: \n` and then exactly the size in bytes: the file comes
    /// shifted by one byte. Its HASH answer is right.
    StrayLineEnd,
    /// Keeps only the core protocol and says nothing at all to HASH: the
    /// connection stays open, unanswered. Its bytes are right.
    SilentToHash,
    /// Keeps only the core protocol: answers HASH and a ranged DOWNLOAD
    /// with `ERROR:`. Its bytes are right.
    CoreOnly,
    /// Does everything right (its file may still be another one of the
    /// same name and size).
    Honest,
    /// Sends this many bytes of what DOWNLOAD asks for, then closes, as a
    /// holder that vanished part-way. Its HASH answers are right.
    CutAfter(usize),
    /// Sends one wrong byte, the first of this chunk, in every DOWNLOAD
    /// that covers it. Its HASH answers are right.
    LiesInChunk(usize),
}

/// A fake holder of one file: answers DOWNLOAD (whole or ranged), HASH
/// and LIST on as many connections as come, until dropped.
struct FakeHolder(FakeServer);

impl FakeHolder {
    fn start(name: &str, content: Vec<u8>, fault: Fault) -> FakeHolder {
        let name = name.to_string();
        // Connections left unanswered stay open until the fake stops.
        let mut unanswered = Vec::new();
        let server = FakeServer::start(move |stream| {
            // The port the holder announces is the one it listens on.
            let port = stream.local_addr().map_or(0, |a| a.port());
            unanswered.extend(answer(stream, &name, &content, fault, port))
        });
        FakeHolder(server)
    }

    fn addr(&self) -> String {
        self.0.addr()
    }

    fn port(&self) -> u16 {
        self.0.port
    }
}

/// One connection: one request line, one answer, close; or, for a request
/// left unanswered, the connection back, to keep open.
fn answer(
    stream: TcpStream,
    name: &str,
    content: &[u8],
    fault: Fault,
    port: u16,
) -> Option<TcpStream> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return None;
    }
    let mut stream = reader.into_inner();
    let line = line.trim_end();
    if line.starts_with("HASH:") && matches!(fault, Fault::SilentToHash) {
        return Some(stream);
    }
    let reply = if line == "LIST" {
        let record = file_record(name, "bin", content.len() as u64, "01/01/26", port);
        format!("FILES: {record}\n").into_bytes()
    } else if let Some(fields) = line.strip_prefix("HASH:") {
        match (fault, range_of(fields, content.len())) {
            (Fault::CoreOnly, _) => b"ERROR: unknown command \"HASH:\"\n".to_vec(),
            (_, Some((start, end))) => {
                format!("HASH: {}\n", to_hex(&digest(&content[start..end]))).into_bytes()
            }
            (_, None) => b"ERROR: no such range\n".to_vec(),
        }
    } else if let Some(fields) = line.strip_prefix("DOWNLOAD:") {
        if matches!(fault, Fault::CoreOnly) && fields.split(',').count() != 3 {
            let _ = stream.write_all(b"ERROR: bad DOWNLOAD: expected `name, type, size`\n");
            return None;
        }
        let Some((start, end)) = range_of(fields, content.len()) else {
            let _ = stream.write_all(b"ERROR: no such range\n");
            return None;
        };
        let mut reply = b"FILE: ".to_vec();
        match fault {
            Fault::StrayLineEnd => {
                reply.push(b'\n');
                reply.extend(&content[start..end - 1]);
            }
            Fault::CutAfter(sent) => reply.extend(&content[start..end.min(start + sent)]),
            Fault::LiesInChunk(chunk) if (start..end).contains(&(chunk * 100)) => {
                let mut bytes = content[start..end].to_vec();
                bytes[chunk * 100 - start] ^= 0xff;
                reply.extend(bytes);
            }
            _ => reply.extend(&content[start..end]),
        }
        reply
    } else {
        b"ERROR: this fake takes DOWNLOAD, HASH and LIST\n".to_vec()
    };
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
    None
}

/// The byte range `name, type, size [, first, count]` asks for.
fn range_of(fields: &str, size: usize) -> Option<(usize, usize)> {
    let fields: Vec<usize> = fields
        .split(',')
        .skip(2)
        .map(|f| f.trim().parse().ok())
        .collect::<Option<_>>()?;
    match fields.as_slice() {
        [whole] if *whole == size => Some((0, size)),
        [whole, first, count] if *whole == size && first * 100 < size => {
            Some((first * 100, ((first + count) * 100).min(size)))
        }
        _ => None,
    }
}

/// peer1, sharing one file of its own (the tracker takes no peer that
/// shares nothing), once it has joined.
fn joined_peer1(net: &Net) -> Node {
    net.put("peer1", "own.txt", b"own");
    let mut peer1 = net.start_peer("peer1", false, &[]);
    peer1.wait_for_log("its join", |l| l.contains("joined the tracker"));
    peer1
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

#[test]
fn a_seeder_that_shifts_the_file_by_a_line_end_is_named_and_nothing_is_kept() {
    let net = Net::new("verified_stray", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(1234);
    let holder = FakeHolder::start("shifted.bin", content.clone(), Fault::StrayLineEnd);
    let _session = joined_fake(&net, "shifted.bin", content.len(), &holder);
    let mut peer1 = joined_peer1(&net);
    let out = run(&mut peer1, "download shifted.bin");
    let error = find_line(&out, "the mismatch, naming the holder", |l| {
        l.starts_with("error:") && l.contains("not its file")
    });
    assert!(error.contains(&holder.addr()), "{error}");
    assert!(error.contains("nothing is kept"), "{error}");
    assert_eq!(
        all_entries(&net.dir("peer1")),
        ["own.txt"],
        "nothing kept, not even a temporary file"
    );
}

#[test]
fn a_core_only_holder_gives_a_file_that_is_kept_as_unverified() {
    let net = Net::new("verified_core_only", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(987);
    let holder = FakeHolder::start("plain.bin", content.clone(), Fault::CoreOnly);
    let _session = joined_fake(&net, "plain.bin", content.len(), &holder);
    let mut peer1 = joined_peer1(&net);
    let out = run(&mut peer1, "download plain.bin");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded plain.bin")
    });
    let said = find_line(&out, "the verification", |l| {
        l.trim_start().starts_with("unverified:")
    });
    assert!(said.contains("does not answer HASH"), "{said}");
    assert_eq!(
        std::fs::read(net.dir("peer1").join("plain.bin")).expect("the kept file"),
        content
    );
}

#[test]
fn a_download_from_our_peer_is_verified_and_hash_prints_sha256sums_line() {
    let net = Net::new("verified_ours", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = text_bytes(5000);
    net.put("peer2", "notes.txt", &content);
    let mut peer2 = net.start_peer("peer2", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("notes.txt", net.port("peer2"));
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let out = run(&mut peer1, "download notes.txt");
    let hex = to_hex(&digest(&content));
    find_line(&out, "the verification", |l| {
        l.trim() == format!("verified: sha256 {hex}")
    });
    let out = run(&mut peer2, "hash notes.txt");
    assert_eq!(out, [format!("{hex}  notes.txt")]);
    let out = run(&mut peer2, "hash missing.txt");
    find_line(&out, "an error for a file that is not here", |l| {
        l.starts_with("error:") && l.contains("missing.txt")
    });
}

#[test]
fn a_holder_that_lies_in_one_range_is_named_and_the_range_comes_from_another() {
    let net = Net::new("verified_liar", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(10_000);
    net.put("peer2", "big.bin", &content);
    let _peer2 = net.start_peer("peer2", false, &[]);
    // The liar is named first, so it gets the first range (chunks 0 to
    // 49), and it lies in chunk 20.
    let liar = FakeHolder::start("big.bin", content.clone(), Fault::LiesInChunk(20));
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let command = format!("fetch big.bin {} peer2", liar.addr());
    let out = run(&mut peer1, &command);
    find_line(&out, "the fetch", |l| l.starts_with("fetched big.bin"));
    let named = find_line(&out, "the liar, named", |l| {
        l.contains(&liar.addr()) && l.contains("bad bytes")
    });
    assert!(named.contains("chunks 0"), "{named}");
    find_line(&out, "the verification", |l| {
        l.trim() == format!("verified: sha256 {}", to_hex(&digest(&content)))
    });
    assert_eq!(
        std::fs::read(net.dir("peer1").join("big.bin")).expect("the fetched file"),
        content,
        "byte for byte"
    );
}

#[test]
fn a_holder_whose_whole_file_hash_disagrees_with_the_rest_is_left_out_and_named() {
    let net = Net::new("verified_outvoted", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(3000);
    net.put("peer2", "v.bin", &content);
    let _peer2 = net.start_peer("peer2", false, &[]);
    let agrees = FakeHolder::start("v.bin", content.clone(), Fault::Honest);
    // Another file of the same name and size: its bytes and its hash are
    // its own, and the other two holders agree with each other.
    let other = FakeHolder::start("v.bin", text_bytes(3000), Fault::Honest);
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let command = format!("fetch v.bin {} {} peer2", other.addr(), agrees.addr());
    let out = run(&mut peer1, &command);
    find_line(&out, "the fetch", |l| l.starts_with("fetched v.bin"));
    let named = find_line(&out, "the holder left out, named", |l| {
        l.contains(&other.addr()) && l.contains("left out")
    });
    assert!(named.contains("2 other holder(s)"), "{named}");
    assert_eq!(
        std::fs::read(net.dir("peer1").join("v.bin")).expect("the fetched file"),
        content,
        "the file the rest agree on, byte for byte"
    );
}

#[test]
fn a_download_cut_part_way_is_kept_hidden_and_resumed_from_another_holder() {
    let net = Net::new("verified_resume", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(10_000);
    let cut = FakeHolder::start("big.bin", content.clone(), Fault::CutAfter(4000));
    let session = joined_fake(&net, "big.bin", content.len(), &cut);
    let mut peer1 = joined_peer1(&net);
    let out = run(&mut peer1, "download big.bin");
    find_line(&out, "the failure", |l| l.starts_with("error:"));
    peer1.wait_for_log("the partial kept", |l| {
        l.contains("kept the first 4000 bytes of big.bin")
    });
    // Hidden: never listed, served or announced.
    assert_eq!(visible_files(&net.dir("peer1")), ["own.txt"]);
    let listed = Client::connect(&net.addr("peer1")).request("LIST");
    assert!(!listed.contains("big.bin"), "{listed}");
    let out = run(&mut peer1, "list");
    assert!(out.iter().all(|l| !l.contains("big.bin")), "{out:?}");
    // The cut holder goes; peer2 has the same copy (same size and date).
    drop(session);
    drop(cut);
    let path = net.put("peer2", "big.bin", &content);
    set_file_date(&path, 2026, 1, 1);
    let _peer2 = net.start_peer("peer2", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("big.bin", net.port("peer2"));
    let out = run(&mut peer1, "download big.bin");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded big.bin")
    });
    find_line(&out, "the whole file verified", |l| {
        l.trim() == format!("verified: sha256 {}", to_hex(&digest(&content)))
    });
    peer1.wait_for_log("the resume, said", |l| {
        l.contains("resuming big.bin at byte 4000 of 10000")
    });
    assert_eq!(
        std::fs::read(net.dir("peer1").join("big.bin")).expect("the file"),
        content
    );
    let out = run(&mut peer1, "clean");
    assert_eq!(
        out,
        ["removed 0 partial download(s)"],
        "the partial was used up"
    );
}

#[test]
fn a_resume_from_a_core_only_holder_that_refuses_ranges_starts_again_from_byte_0() {
    let net = Net::new("verified_resume_core", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(5000);
    let cut = FakeHolder::start("c.bin", content.clone(), Fault::CutAfter(2000));
    let session = joined_fake(&net, "c.bin", content.len(), &cut);
    let mut peer1 = joined_peer1(&net);
    let out = run(&mut peer1, "download c.bin");
    find_line(&out, "the failure", |l| l.starts_with("error:"));
    drop(session);
    drop(cut);
    let core = FakeHolder::start("c.bin", content.clone(), Fault::CoreOnly);
    let _session = joined_fake(&net, "c.bin", content.len(), &core);
    let out = run(&mut peer1, "download c.bin");
    find_line(&out, "the download", |l| l.starts_with("downloaded c.bin"));
    find_line(&out, "kept unverified", |l| {
        l.trim_start().starts_with("unverified:")
    });
    peer1.wait_for_log("the fall back to the whole file", |l| {
        l.contains("refused a ranged DOWNLOAD")
    });
    assert_eq!(
        std::fs::read(net.dir("peer1").join("c.bin")).expect("the file"),
        content
    );
}

#[test]
fn a_holder_that_says_nothing_to_hash_does_not_hold_the_download_long() {
    let net = Net::new("verified_silent", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(777);
    let holder = FakeHolder::start("quiet.bin", content.clone(), Fault::SilentToHash);
    let _session = joined_fake(&net, "quiet.bin", content.len(), &holder);
    let mut peer1 = joined_peer1(&net);
    let started = std::time::Instant::now();
    let out = run(&mut peer1, "download quiet.bin");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded quiet.bin")
    });
    let said = find_line(&out, "kept unverified", |l| {
        l.trim_start().starts_with("unverified:")
    });
    assert!(
        said.contains("no answer to HASH 5 s after the last byte"),
        "{said}"
    );
    assert!(
        started.elapsed() < STALL_LIMIT,
        "the silent holder held the download for {:?}",
        started.elapsed()
    );
    assert_eq!(
        std::fs::read(net.dir("peer1").join("quiet.bin")).expect("the file"),
        content
    );
}

/// Well under the 30 s a silent connection may take elsewhere: the HASH
/// answer gets 5 s after the last byte of a small file.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// The file the cut fetches fetch: 100 chunks.
const CUT_SIZE: usize = 10_000;

/// peer1 fetches big.bin from two fake holders that each vanish after
/// 2000 bytes of their range of 50 chunks: the fetch fails, and the 40
/// chunks that came stay behind, hidden (the fakes are gone when this
/// returns).
fn a_fetch_cut_by_its_two_holders(net: &Net, content: &[u8]) -> Node {
    let cut: Vec<FakeHolder> = (0..2)
        .map(|_| FakeHolder::start("big.bin", content.to_vec(), Fault::CutAfter(2000)))
        .collect();
    let mut peer1 = net.start_peer("peer1", false, &[]);
    let command = format!("fetch big.bin {} {}", cut[0].addr(), cut[1].addr());
    let out = run(&mut peer1, &command);
    let error = find_line(&out, "the failure", |l| l.starts_with("error:"));
    assert!(
        error.contains("no peer left to send chunks 20 to 49 and 70 to 99"),
        "{error}"
    );
    peer1.wait_for_log("the partial kept", |l| {
        l.contains("kept 40 of the 100 chunks of big.bin (hidden, not served)")
    });
    // Hidden: never listed, served or announced.
    assert!(visible_files(&net.dir("peer1")).is_empty());
    let listed = Client::connect(&net.addr("peer1")).request("LIST");
    assert!(!listed.contains("big.bin"), "{listed}");
    let out = run(&mut peer1, "list");
    assert!(out.iter().all(|l| !l.contains("big.bin")), "{out:?}");
    peer1
}

/// peer2 serves big.bin, the same copy as the fakes (same size and date).
fn peer2_with_the_same_copy(net: &Net, content: &[u8]) -> Node {
    let path = net.put("peer2", "big.bin", content);
    set_file_date(&path, 2026, 1, 1);
    net.start_peer("peer2", false, &[])
}

#[test]
fn a_fetch_cut_when_its_holders_vanish_is_finished_by_a_later_fetch_from_another() {
    let net = Net::new("verified_fetch_resume", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(CUT_SIZE);
    let mut peer1 = a_fetch_cut_by_its_two_holders(&net, &content);
    let _peer2 = peer2_with_the_same_copy(&net, &content);
    let out = run(&mut peer1, "fetch big.bin peer2");
    find_line(&out, "the fetch", |l| l.starts_with("fetched big.bin"));
    peer1.wait_for_log("the resume, with the chunks missing", |l| {
        l.contains("resuming big.bin: chunks 20 to 49 and 70 to 99 of its 100 are missing")
    });
    find_line(&out, "only the missing chunks came", |l| {
        l.contains("peer2 (") && l.ends_with(" sent 60 chunk(s)")
    });
    assert_whole_and_verified(&out, &net, &content);
    let out = run(&mut peer1, "clean");
    assert_eq!(
        out,
        ["removed 0 partial download(s)"],
        "the partial was used up"
    );
}

#[test]
fn a_fetch_cut_when_its_holders_vanish_is_finished_by_a_download_from_the_first_hole() {
    let net = Net::new("verified_fetch_download", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(CUT_SIZE);
    let mut peer1 = a_fetch_cut_by_its_two_holders(&net, &content);
    let _peer2 = peer2_with_the_same_copy(&net, &content);
    net.probe().wait_found_at("big.bin", net.port("peer2"));
    let out = run(&mut peer1, "download big.bin");
    find_line(&out, "the download", |l| {
        l.starts_with("downloaded big.bin")
    });
    peer1.wait_for_log("the resume at the first missing chunk", |l| {
        l.contains("resuming big.bin at byte 2000 of 10000, from peer2")
    });
    assert_whole_and_verified(&out, &net, &content);
    assert!(
        all_entries(&net.dir("peer1").join(".p2p-resume")).is_empty(),
        "no partial left, and no list of chunks"
    );
}

#[test]
fn a_download_cut_part_way_is_finished_by_a_fetch_from_the_first_missing_chunk() {
    let net = Net::new("verified_download_fetch", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let content = pattern_bytes(CUT_SIZE);
    let cut = FakeHolder::start("big.bin", content.clone(), Fault::CutAfter(4000));
    let session = joined_fake(&net, "big.bin", content.len(), &cut);
    let mut peer1 = joined_peer1(&net);
    let out = run(&mut peer1, "download big.bin");
    find_line(&out, "the failure", |l| l.starts_with("error:"));
    peer1.wait_for_log("the partial kept", |l| {
        l.contains("kept the first 4000 bytes of big.bin")
    });
    drop(session);
    drop(cut);
    let _peer2 = peer2_with_the_same_copy(&net, &content);
    let out = run(&mut peer1, "fetch big.bin peer2");
    find_line(&out, "the fetch", |l| l.starts_with("fetched big.bin"));
    peer1.wait_for_log("the resume, at the first missing byte", |l| {
        l.contains("resuming big.bin at byte 4000 of 10000")
    });
    assert_whole_and_verified(&out, &net, &content);
}

/// peer1's big.bin came out byte for byte, and `out` says it was verified.
fn assert_whole_and_verified(out: &[String], net: &Net, content: &[u8]) {
    find_line(out, "the whole file verified", |l| {
        l.trim() == format!("verified: sha256 {}", to_hex(&digest(content)))
    });
    assert_eq!(
        std::fs::read(net.dir("peer1").join("big.bin")).expect("the file"),
        content,
        "byte for byte"
    );
}
