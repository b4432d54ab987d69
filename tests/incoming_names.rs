//! How a peer's `--trace` names a connection that came to it: by the id
//! of the one node of the settings file at its source address (a lab,
//! where every machine has its own address), otherwise as `incoming
//! ip:port`. Everything runs on loopback: 127.0.0.2 and 127.0.0.3 stand
//! for other machines, since the whole of 127.0.0.0/8 is this one.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::*;
use std::fs;

/// Starts peer1 with `--trace`, serving one file, and asks it for PING
/// from this test (whose source address is 127.0.0.1). Returns the trace
/// line of that PING.
fn traced_ping(net: &Net, peer1_ip: &str) -> String {
    net.put("peer1", "a.txt", b"a");
    let peer1 = format!("{peer1_ip}:{}", net.port("peer1"));
    let args: Vec<String> = [
        "peer1",
        "--settings",
        &path_arg(&net.settings),
        "--dir",
        &path_arg(&net.dir("peer1")),
        "--serve",
        "--trace",
    ]
    .map(String::from)
    .to_vec();
    let mut node = Node::spawn("peer1", PEER_BIN, &args, net.tmp.path());
    node.wait_for_port(&peer1);
    let mut client = Client::connect(&peer1);
    assert_eq!(client.request("PING"), "PONG");
    node.wait_for_log("the trace of our PING", |l| l.ends_with("<- PING"))
}

#[test]
fn a_connection_from_the_one_node_at_its_address_is_named_by_its_id() {
    let net = Net::new("incoming_by_id", &["peer1", "peer2"]);
    // The tracker alone at 127.0.0.1, where this test connects from; the
    // peers on addresses of their own. (No tracker runs: peer1 serves
    // while it tries to join.)
    let text = format!(
        "tracker 127.0.0.1 {}\npeer1 127.0.0.2 {}\npeer2 127.0.0.3 {}\n",
        net.tracker_port,
        net.port("peer1"),
        net.port("peer2")
    );
    fs::write(&net.settings, text).expect("write the settings file");
    let line = traced_ping(&net, "127.0.0.2");
    assert_eq!(line, "[peer1] tracker <- PING");
}

#[test]
fn a_connection_from_an_address_of_several_nodes_is_incoming_with_its_port() {
    // Every node at 127.0.0.1: the address does not say who connects.
    let net = Net::new("incoming_shared", &["peer1", "peer2"]);
    let line = traced_ping(&net, "127.0.0.1");
    let other_end = line
        .strip_prefix("[peer1] incoming 127.0.0.1:")
        .and_then(|rest| rest.strip_suffix(" <- PING"))
        .unwrap_or_else(|| panic!("not named incoming with its port: {line}"));
    assert!(other_end.parse::<u16>().is_ok(), "{line}");
}
