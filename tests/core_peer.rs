//! Black-box tests of the peer: the real `peer` binary next to a
//! real `tracker`, on free loopback ports, with temporary served folders.
//!
//! Covered: what a peer announces when it joins (first five regular,
//! non-hidden files in name order, type, size, UTC date), DOWNLOAD over raw
//! TCP byte for byte, bad DOWNLOAD requests, BYE at the end of the shell's
//! input, a killed peer forgotten, and the shell: search, download (byte for
//! byte, never overwriting, leaving nothing behind on failure), list, help,
//! quit, and two shell peers exchanging a file.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::fs;

/// Sends one request to a peer and returns everything it sends back before
/// closing the connection.
fn peer_reply(addr: &str, request: &str) -> Vec<u8> {
    let mut client = Client::connect(addr);
    client.send_line(request);
    client.read_to_end()
}

/// The reply must be one line `ERROR: <reason>`, then the connection closed.
fn assert_error_reply(reply: &[u8], request: &str) {
    let text = String::from_utf8_lossy(reply);
    assert!(
        text.starts_with("ERROR:"),
        "{request:?}: expected an ERROR: line, got {text:?}"
    );
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{request:?}: expected exactly one line, got {text:?}"
    );
}

/// A tracker and one serving peer whose files are already announced.
struct Served {
    net: Net,
    _tracker: Node,
    peer: Node,
    probe: Probe,
}

/// Starts a tracker and `peer1 --serve` over `files` and waits until the
/// tracker lists the first file.
fn serve(test: &str, files: &[(&str, Vec<u8>)]) -> Served {
    let net = Net::new(test, &["peer1", "peer2"]);
    for (name, bytes) in files {
        net.put("peer1", name, bytes);
    }
    let tracker = net.start_tracker(&[]);
    let peer = net.start_peer("peer1", true, &[]);
    let mut probe = net.probe();
    let mut names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    names.sort();
    probe.wait_found_at(names[0], net.port("peer1"));
    Served {
        net,
        _tracker: tracker,
        peer,
        probe,
    }
}

/// Nobody holds `name`: the tracker answers NOT FOUND, or an ERROR for a
/// name no record can carry (a tracker may refuse to search for those).
fn assert_not_shared(probe: &mut Probe, name: &str) {
    let answer = probe.search(name);
    assert!(
        answer == "NOT FOUND" || answer.starts_with("ERROR:"),
        "{name:?} must not be shared, but the tracker answered {answer:?}"
    );
}

// --- joining ----------------------------------------------------------------

#[test]
fn peer_announces_its_first_five_regular_files_in_name_order() {
    let net = Net::new("peer_first_five", &["peer1"]);
    let dir = net.dir("peer1");
    let mut expected = Vec::new();
    for (i, (name, file_type, len)) in [
        ("a.txt", "txt", 1234usize),
        ("b.bin", "bin", 256),
        ("c", "none", 17),
        ("d.tar.gz", "gz", 1000),
        ("e.md", "md", 0),
        ("f.txt", "txt", 5),
        ("g.txt", "txt", 6),
    ]
    .into_iter()
    .enumerate()
    {
        let path = net.put("peer1", name, &pattern_bytes(len));
        let date = set_file_date(&path, 2026, 1 + i as i64, 10 + i as i64);
        expected.push((name, file_type, len, date));
    }
    // Hidden files and folders are never shared and take no slot.
    fs::write(dir.join(".hidden"), b"secret").unwrap();
    fs::write(dir.join(".a.txt.part"), b"temporary").unwrap();
    fs::create_dir(dir.join("ab")).unwrap();

    let _tracker = net.start_tracker(&[]);
    let _peer = net.start_peer("peer1", true, &[]);
    let mut probe = net.probe();
    let port = net.port("peer1");
    for (name, file_type, len, date) in &expected[..5] {
        let fields = probe.wait_found_at(name, port);
        assert_eq!(
            fields,
            vec![
                file_type.to_string(),
                len.to_string(),
                date.clone(),
                "127.0.0.1".to_string(),
                port.to_string()
            ],
            "the record of {name}"
        );
    }
    for name in ["f.txt", "g.txt", ".hidden", ".a.txt.part", "ab"] {
        assert_not_shared(&mut probe, name);
    }
}

#[test]
fn peer_tells_which_files_were_left_out() {
    let net = Net::new("peer_left_out", &["peer1"]);
    for name in [
        "f1.txt",
        "f2.txt",
        "f3.txt",
        "f4.txt",
        "f5.txt",
        "f6-left-out.txt",
    ] {
        net.put("peer1", name, b"x");
    }
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", true, &[]);
    peer.wait_for_any_output("a line naming the file left out", |l| {
        l.contains("f6-left-out.txt")
    });
}

#[test]
fn names_that_cannot_be_written_in_a_record_are_not_shared() {
    let net = Net::new("peer_unwritable_names", &["peer1"]);
    net.put("peer1", "fine.txt", b"fine");
    net.put("peer1", "comma,name.txt", b"x");
    net.put("peer1", "angle<name>.txt", b"x");
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", true, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("fine.txt", net.port("peer1"));
    assert_not_shared(&mut probe, "comma,name.txt");
    assert_not_shared(&mut probe, "angle<name>.txt");
    peer.wait_for_any_output("a warning naming comma,name.txt", |l| {
        l.contains("comma,name.txt")
    });
    peer.wait_for_any_output("a warning naming angle<name>.txt", |l| {
        l.contains("angle<name>.txt")
    });
}

// --- DOWNLOAD over raw TCP --------------------------------------------------

#[test]
fn raw_download_is_byte_for_byte() {
    let files = vec![
        ("big.txt", text_bytes(1234)),
        ("all_bytes.bin", all_byte_values()),
        ("my notes.txt", text_bytes(321)),
        ("hundreds.dat", pattern_bytes(300)),
        ("large.bin", pattern_bytes(250_037)),
    ];
    let mut served = serve("raw_download", &files);
    let addr = served.net.addr("peer1");
    for (name, content) in &files {
        let file_type = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("none");
        let request = format!("DOWNLOAD: {name}, {file_type}, {}", content.len());
        let reply = peer_reply(&addr, &request);
        assert_file_reply(&reply, content, &request);
    }
    // The files on disk are untouched.
    for (name, content) in &files {
        assert_eq!(
            &fs::read(served.net.dir("peer1").join(name)).unwrap(),
            content
        );
    }
    assert!(
        served.peer.try_exit_status().is_none(),
        "the peer must keep running"
    );
    served
        .probe
        .wait_found_at("my notes.txt", served.net.port("peer1"));
}

#[test]
fn raw_download_of_an_empty_file() {
    let served = serve("raw_download_empty", &[("empty.txt", Vec::new())]);
    let request = "DOWNLOAD: empty.txt, txt, 0";
    let reply = peer_reply(&served.net.addr("peer1"), request);
    assert_file_reply(&reply, b"", request);
}

#[test]
fn an_idle_connection_does_not_block_a_download() {
    let content = text_bytes(1234);
    let served = serve("idle_does_not_block", &[("big.txt", content.clone())]);
    let addr = served.net.addr("peer1");
    // A connection that never sends its request...
    let _idle = Client::connect(&addr);
    // ...does not stop another from being served (a thread per connection).
    let request = "DOWNLOAD: big.txt, txt, 1234";
    assert_file_reply(&peer_reply(&addr, request), &content, request);
}

#[test]
fn bad_download_requests_get_an_error_line() {
    let content = text_bytes(1234);
    let served = serve(
        "bad_download_requests",
        &[("big.txt", content.clone()), ("noext", b"abc".to_vec())],
    );
    let net = &served.net;
    let dir = net.dir("peer1");
    // Files that exist on disk but must never be served.
    let outside = net.tmp.write("outside.txt", b"outside the served folder");
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub").join("inner.txt"), b"inner").unwrap();
    fs::write(dir.join(".hidden"), b"hidden").unwrap();
    fs::write(dir.join(".secret.txt"), b"secret").unwrap();
    let dir_len = fs::metadata(dir.join("sub")).unwrap().len();

    let mut requests = vec![
        "DOWNLOAD: big.txt, txt, 1233".to_string(),
        "DOWNLOAD: big.txt, txt, 1235".to_string(),
        "DOWNLOAD: big.txt, bin, 1234".to_string(),
        "DOWNLOAD: big.txt, none, 1234".to_string(),
        "DOWNLOAD: noext, txt, 3".to_string(),
        "DOWNLOAD: nosuch.txt, txt, 1234".to_string(),
        "DOWNLOAD: ../outside.txt, txt, 25".to_string(),
        format!("DOWNLOAD: {}, txt, 25", path_arg(&outside)),
        "DOWNLOAD: sub/inner.txt, txt, 5".to_string(),
        "DOWNLOAD: ./big.txt, txt, 1234".to_string(),
        format!("DOWNLOAD: sub, none, {dir_len}"),
        "DOWNLOAD: .hidden, none, 6".to_string(),
        "DOWNLOAD: .secret.txt, txt, 6".to_string(),
        "DOWNLOAD: big.txt, txt".to_string(),
        "DOWNLOAD: big.txt, txt, abc".to_string(),
        "DOWNLOAD: big.txt, txt, -1".to_string(),
        "DOWNLOAD: big.txt, txt, 1234, 5".to_string(),
        "DOWNLOAD:".to_string(),
        "DOWNLOAD big.txt txt 1234".to_string(),
        "HELLO".to_string(),
        "this is not a request".to_string(),
        String::new(),
    ];
    if let Ok(meta) = fs::metadata("/etc/passwd") {
        requests.push(format!("DOWNLOAD: /etc/passwd, none, {}", meta.len()));
        requests.push(format!(
            "DOWNLOAD: ../../../../../../etc/passwd, none, {}",
            meta.len()
        ));
    }
    let addr = net.addr("peer1");
    for request in &requests {
        assert_error_reply(&peer_reply(&addr, request), request);
    }
    // Still serving, and the good request still works.
    let good = "DOWNLOAD: big.txt, txt, 1234";
    assert_file_reply(&peer_reply(&addr, good), &content, good);
    let good = "DOWNLOAD: noext, none, 3";
    assert_file_reply(&peer_reply(&addr, good), b"abc", good);
}

// --- leaving ----------------------------------------------------------------

#[test]
fn a_killed_peer_is_forgotten_by_the_tracker() {
    let mut served = serve("killed_peer", &[("mine.txt", b"mine".to_vec())]);
    served.peer.kill();
    served.probe.wait_not_found("mine.txt");
}

#[test]
fn end_of_shell_input_leaves_and_exits_0() {
    let net = Net::new("shell_eof", &["peer1"]);
    net.put("peer1", "bye.txt", b"bye");
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("bye.txt", net.port("peer1"));
    peer.close_stdin();
    let status = peer.wait_exit();
    assert!(status.success(), "exit status {status}");
    probe.wait_not_found("bye.txt");
}

#[test]
fn shell_quit_leaves_and_exits_0() {
    let net = Net::new("shell_quit", &["peer1"]);
    net.put("peer1", "quit.txt", b"quit");
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", false, &[]);
    let mut probe = net.probe();
    probe.wait_found_at("quit.txt", net.port("peer1"));
    peer.send_line("quit"); // stdin stays open: quit alone must end it
    let status = peer.wait_exit();
    assert!(status.success(), "exit status {status}");
    probe.wait_not_found("quit.txt");
}

// --- the shell ----------------------------------------------------------------

/// Starts peer2's shell over `own` files and waits until it has joined.
fn start_shell(net: &Net, probe: &mut Probe, id: &str, own: &[(&str, &[u8])]) -> Node {
    for (name, bytes) in own {
        net.put(id, name, bytes);
    }
    let peer = net.start_peer(id, false, &[]);
    let mut names: Vec<&str> = own.iter().map(|(n, _)| *n).collect();
    names.sort();
    probe.wait_found_at(names[0], net.port(id));
    peer
}

#[test]
fn shell_list_and_help() {
    let net = Net::new("shell_list_help", &["peer1"]);
    let _tracker = net.start_tracker(&[]);
    let mut probe = net.probe();
    let mut peer = start_shell(
        &net,
        &mut probe,
        "peer1",
        &[("listed-one.txt", b"1"), ("listed-two.bin", b"22")],
    );
    peer.send_line("list");
    peer.wait_for_output("listed-one.txt in the list", |l| {
        l.contains("listed-one.txt")
    });
    peer.wait_for_output("listed-two.bin in the list", |l| {
        l.contains("listed-two.bin")
    });
    peer.send_line("help");
    peer.wait_for_output("help mentioning download", |l| l.contains("download"));
    peer.wait_for_output("help mentioning search", |l| l.contains("search"));
    peer.close_stdin();
    assert!(peer.wait_exit().success());
}

#[test]
fn shell_search_found_and_not_found() {
    let served = serve("shell_search", &[("wanted.txt", text_bytes(50))]);
    let net = &served.net;
    let mut probe = net.probe();
    let mut peer2 = start_shell(net, &mut probe, "peer2", &[("own.txt", b"own")]);
    let port1 = net.port("peer1").to_string();
    peer2.send_line("search wanted.txt");
    peer2.wait_for_output("a holder line with peer1's address", |l| {
        l.contains("127.0.0.1") && l.contains(&port1)
    });
    peer2.send_line("search nobody-has-this.txt");
    peer2.wait_for_output("a line saying not found", |l| {
        l.to_lowercase().contains("not found")
    });
    peer2.close_stdin();
    assert!(peer2.wait_exit().success());
}

#[test]
fn shell_download_is_byte_for_byte() {
    let files = vec![
        ("big.txt", text_bytes(1234)),
        ("all_bytes.bin", all_byte_values()),
        ("my notes.txt", text_bytes(321)),
        ("large.bin", pattern_bytes(250_037)),
    ];
    let served = serve("shell_download", &files);
    let net = &served.net;
    let mut probe = net.probe();
    for (name, _) in &files {
        probe.wait_found_at(name, net.port("peer1"));
    }
    let mut peer2 = start_shell(net, &mut probe, "peer2", &[("own.txt", b"own")]);
    for (name, _) in &files {
        peer2.send_line(&format!("download {name}"));
    }
    peer2.close_stdin();
    let status = peer2.wait_exit();
    assert!(status.success(), "exit status {status}");
    let dir2 = net.dir("peer2");
    for (name, content) in &files {
        let got = fs::read(dir2.join(name))
            .unwrap_or_else(|e| panic!("{name} was not downloaded into peer2's folder: {e}"));
        assert_eq!(got.len(), content.len(), "size of downloaded {name}");
        assert!(
            &got == content,
            "downloaded {name} differs from the original"
        );
    }
    assert_eq!(
        visible_files(&dir2),
        vec![
            "all_bytes.bin",
            "big.txt",
            "large.bin",
            "my notes.txt",
            "own.txt"
        ],
        "no stray files in peer2's folder"
    );
    probe.wait_not_found("own.txt");
}

#[test]
fn download_from_holder_number_n() {
    let content = text_bytes(777);
    // A second holder that would send other bytes of the same size: if the
    // shell picked it instead of holder N, the file would differ.
    let mut wrong = b"FILE: ".to_vec();
    wrong.extend(pattern_bytes(777));
    let (wrong_port, _wrong_seeder) = fake_seeder(wrong);
    let net = Net::new("shell_download_n", &["peer1", "peer2"]);
    net.put("peer1", "numbered.txt", &content);
    let _tracker = net.start_tracker(&[]);
    let mut probe = net.probe();
    let _wrong_join = join_tracker(
        &net.tracker_addr(),
        &file_record("numbered.txt", "txt", 777, "21/11/26", wrong_port),
    );
    probe.wait_found_at("numbered.txt", wrong_port);
    let _peer1 = net.start_peer("peer1", true, &[]);
    probe.wait_found_at("numbered.txt", net.port("peer1"));
    // Holder N is peer1's position in the tracker's list (1-based).
    let answer = probe.search("numbered.txt");
    let holders = parse_found(&answer).expect("a FOUND answer");
    let n = 1 + holders
        .iter()
        .position(|h| h[4] == net.port("peer1").to_string())
        .expect("peer1 among the holders");

    let mut peer2 = start_shell(&net, &mut probe, "peer2", &[("own.txt", b"own")]);
    peer2.send_line(&format!("download numbered.txt {n}"));
    peer2.close_stdin();
    assert!(peer2.wait_exit().success());
    let got = fs::read(net.dir("peer2").join("numbered.txt")).expect("numbered.txt downloaded");
    assert!(got == content, "holder {n} (peer1) was not the one used");
}

#[test]
fn download_falls_back_to_the_next_holder() {
    let content = all_byte_values();
    let size = content.len() as u64;
    // The first holder to join dies after 100 bytes.
    let mut cut = b"FILE: ".to_vec();
    cut.extend(&content[..100]);
    let (cut_port, cut_seeder) = fake_seeder(cut);
    let net = Net::new("shell_download_fallback", &["peer1", "peer2"]);
    net.put("peer1", "twice.bin", &content);
    let _tracker = net.start_tracker(&[]);
    let mut probe = net.probe();
    let _cut_join = join_tracker(
        &net.tracker_addr(),
        &file_record("twice.bin", "bin", size, "21/11/26", cut_port),
    );
    probe.wait_found_at("twice.bin", cut_port);
    let _peer1 = net.start_peer("peer1", true, &[]);
    probe.wait_found_at("twice.bin", net.port("peer1"));
    let holders = parse_found(&probe.search("twice.bin")).expect("a FOUND answer");
    let cut_is_first = holders[0][4] == cut_port.to_string();

    let mut peer2 = start_shell(&net, &mut probe, "peer2", &[("own.txt", b"own")]);
    peer2.send_line("download twice.bin");
    peer2.close_stdin();
    assert!(peer2.wait_exit().success());
    let got = fs::read(net.dir("peer2").join("twice.bin"))
        .expect("twice.bin downloaded from the holder that works");
    assert!(got == content, "twice.bin differs from the original");
    assert_eq!(
        visible_files(&net.dir("peer2")),
        vec!["own.txt", "twice.bin"]
    );
    if cut_is_first {
        // The failing holder was tried first, and the shell went on.
        assert_eq!(
            cut_seeder.join().unwrap().as_deref(),
            Some(format!("DOWNLOAD: twice.bin, bin, {size}").as_str())
        );
    }
}

#[test]
fn two_shell_peers_exchange_a_file() {
    let net = Net::new("two_shells", &["peer1", "peer2"]);
    let _tracker = net.start_tracker(&[]);
    let mut probe = net.probe();
    let only1 = all_byte_values();
    let mut peer1 = start_shell(&net, &mut probe, "peer1", &[("only-on-1.bin", &only1)]);
    let mut peer2 = start_shell(&net, &mut probe, "peer2", &[("only-on-2.txt", b"two")]);

    peer2.send_line("download only-on-1.bin");
    wait_until("peer2 to have only-on-1.bin", || {
        fs::read(net.dir("peer2").join("only-on-1.bin")).is_ok_and(|b| b == only1)
    });
    peer2.close_stdin();
    peer1.close_stdin();
    assert!(peer2.wait_exit().success(), "peer2 exit status");
    assert!(peer1.wait_exit().success(), "peer1 exit status");
    assert_eq!(
        fs::read(net.dir("peer1").join("only-on-1.bin")).unwrap(),
        only1
    );
    assert_eq!(
        visible_files(&net.dir("peer2")),
        vec!["only-on-1.bin", "only-on-2.txt"]
    );
    probe.wait_not_found("only-on-1.bin");
    probe.wait_not_found("only-on-2.txt");
}

#[test]
fn download_never_overwrites_an_existing_file() {
    let theirs = text_bytes(1234);
    let served = serve("no_overwrite", &[("same.txt", theirs)]);
    let net = &served.net;
    let mut probe = net.probe();
    let mine = b"my own same.txt, do not touch".to_vec();
    let mut peer2 = start_shell(net, &mut probe, "peer2", &[("same.txt", &mine)]);
    peer2.send_line("download same.txt");
    peer2.close_stdin();
    // The refused download is a failed command: the script exits 1.
    assert_eq!(peer2.wait_exit().code(), Some(1));
    assert_eq!(fs::read(net.dir("peer2").join("same.txt")).unwrap(), mine);
    assert_eq!(visible_files(&net.dir("peer2")), vec!["same.txt"]);
}

#[test]
fn a_failed_download_leaves_nothing_behind() {
    let net = Net::new("failed_download", &["peer2"]);
    let _tracker = net.start_tracker(&[]);
    let mut probe = net.probe();

    // A seeder that dies after 1000 of 5000 bytes.
    let mut cut = b"FILE: ".to_vec();
    cut.extend(pattern_bytes(1000));
    let (cut_port, cut_seeder) = fake_seeder(cut);
    let _cut_join = join_tracker(
        &net.tracker_addr(),
        &file_record("ghost.bin", "bin", 5000, "21/11/26", cut_port),
    );
    // A seeder that answers ERROR.
    let (err_port, err_seeder) = fake_seeder(b"ERROR: no such file\n".to_vec());
    let _err_join = join_tracker(
        &net.tracker_addr(),
        &file_record("refused.txt", "txt", 10, "21/11/26", err_port),
    );
    // A holder nobody listens at.
    let dead_port = free_port();
    let _dead_join = join_tracker(
        &net.tracker_addr(),
        &file_record("nobody.txt", "txt", 10, "21/11/26", dead_port),
    );
    probe.wait_found_at("ghost.bin", cut_port);
    probe.wait_found_at("refused.txt", err_port);
    probe.wait_found_at("nobody.txt", dead_port);

    let mut peer2 = start_shell(&net, &mut probe, "peer2", &[("own.txt", b"own")]);
    peer2.send_line("download ghost.bin");
    peer2.send_line("download refused.txt");
    peer2.send_line("download nobody.txt");
    peer2.close_stdin();
    // A failed download does not end the shell (all three were tried, see
    // the seeders below); the script's exit status says some failed.
    let status = peer2.wait_exit();
    assert_eq!(status.code(), Some(1), "{status}");

    assert_eq!(
        cut_seeder.join().unwrap().as_deref(),
        Some("DOWNLOAD: ghost.bin, bin, 5000")
    );
    assert_eq!(
        err_seeder.join().unwrap().as_deref(),
        Some("DOWNLOAD: refused.txt, txt, 10")
    );
    assert_eq!(
        visible_files(&net.dir("peer2")),
        vec!["own.txt"],
        "a failed download must leave no file"
    );
}

#[test]
fn trace_prints_the_protocol_lines_with_the_other_address() {
    let net = Net::new("peer_trace", &["peer1"]);
    net.put("peer1", "traced.txt", b"traced");
    let _tracker = net.start_tracker(&[]);
    let mut peer = net.start_peer("peer1", true, &["--trace"]);
    // The tracker is called by its id in the settings file...
    peer.wait_for_log("a trace line of HELLO sent to the tracker", |l| {
        l.contains("] tracker -> HELLO")
    });
    peer.wait_for_log("a trace line of HI received from the tracker", |l| {
        l.contains("] tracker <- HI")
    });
    let mut client = Client::connect(&net.addr("peer1"));
    let who = client.local.clone();
    client.send_line("DOWNLOAD: traced.txt, txt, 6");
    assert_file_reply(&client.read_to_end(), b"traced", "DOWNLOAD: traced.txt");
    // ...and a client the settings file does not list, by its address.
    peer.wait_for_log("a trace line of the DOWNLOAD request", |l| {
        l.contains("DOWNLOAD: traced.txt") && l.contains(&who)
    });
}
