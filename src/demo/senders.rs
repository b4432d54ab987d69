//! Who sent a protocol line that arrived from a passing port, for the
//! demo's web page, which draws every line as an arrow from its sender.
//!
//! A node that opens a connection names the other end by its id: peer2
//! connects to peer1's address in the settings file, so peer2's trace
//! says `peer1`. The node that accepts the connection sees only where it
//! comes from: a port the system picked for that one connection, such as
//! `127.0.0.1:40768`. The terminal shows that address as it is
//! (`[peer1] 127.0.0.1:40768 <- DOWNLOAD: ...`); a diagram needs to know
//! which lifeline the arrow starts on.
//!
//! The demo's nodes trace every line twice: the sender before it sends,
//! the receiver once it has read it. So the sent half always reaches the
//! stage first. A line that arrives from an address is matched with the
//! lines *on the way* to that receiver with the same text: if they were
//! all sent by one node, that node is the sender, and so is every later
//! line from that address. If two nodes sent the same text at once (three
//! peers rejoining a new tracker all send `HELLO`), the address stays
//! unknown until a line only one of them sent arrives from it (its file
//! records name its own port): then [`Senders::received`] says that the
//! address is revealed, so the page can move the arrows drawn so far.

use crate::log::INCOMING;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// The most lines kept on the way, and the most texts kept for one unknown
/// address. A line whose receiver never traces it (it stopped first) would
/// otherwise stay for ever; the oldest go first.
const KEPT_MAX: usize = 256;

/// A receiver, and the passing address a line came to it from.
type Arrival = (String, String);

/// What the stage knows about who sent what (see the top of this file).
#[derive(Debug, Default)]
pub struct Senders {
    /// Lines sent to a node named by its id, not yet arrived, oldest first:
    /// (sender, receiver, text).
    on_the_way: VecDeque<(String, String, String)>,
    /// Passing addresses whose sender is known.
    known: HashMap<Arrival, String>,
    /// Passing addresses shown before their sender was known, with the
    /// texts that came from them (still on the way, as far as the list
    /// above is concerned).
    unknown: HashMap<Arrival, Vec<String>>,
}

/// The sender of a line that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The sender's id, or the passing address while it is unknown.
    pub name: String,
    /// This line revealed who an address shown before is: the arrows
    /// drawn from that address so far are `name`'s.
    pub revealed: Option<String>,
}

impl Senders {
    /// `sender` traced a line it sent to `receiver` (the other end as the
    /// sender names it).
    pub fn sent(&mut self, sender: &str, receiver: &str, text: &str) {
        // A reply to a passing address (the tracker answering a peer that
        // has not joined yet) arrives at a node that names its sender by id.
        if !is_id(receiver) {
            return;
        }
        if self.on_the_way.len() == KEPT_MAX {
            self.on_the_way.pop_front();
        }
        self.on_the_way
            .push_back((sender.to_string(), receiver.to_string(), text.to_string()));
    }

    /// `receiver` traced a line that came from `other_end` (an id, or a
    /// passing address): who sent it.
    pub fn received(&mut self, receiver: &str, other_end: &str, text: &str) -> Sender {
        let named = |name: &str| Sender {
            name: name.to_string(),
            revealed: None,
        };
        if is_id(other_end) {
            self.arrived(other_end, receiver, text);
            return named(other_end);
        }
        let arrival = (receiver.to_string(), other_end.to_string());
        if let Some(sender) = self.known.get(&arrival).cloned() {
            self.arrived(&sender, receiver, text);
            return named(&sender);
        }
        let mut senders = self
            .on_the_way
            .iter()
            .filter(|(_, to, sent)| to == receiver && sent == text)
            .map(|(from, _, _)| from.as_str());
        let first = senders.next().map(str::to_string);
        match first {
            Some(sender) if senders.all(|other| other == sender) => {
                self.arrived(&sender, receiver, text);
                let revealed = self.unknown.remove(&arrival).map(|texts| {
                    for earlier in texts {
                        self.arrived(&sender, receiver, &earlier);
                    }
                    other_end.to_string()
                });
                self.known.insert(arrival, sender.clone());
                Sender {
                    name: sender,
                    revealed,
                }
            }
            _ => {
                let texts = self.unknown.entry(arrival).or_default();
                if texts.len() < KEPT_MAX {
                    texts.push(text.to_string());
                }
                named(other_end)
            }
        }
    }

    /// The sender to show for a line from `other_end` that arrived at
    /// `receiver`, as far as is known now (a line held back for a while
    /// may have been sent from an address revealed since).
    pub fn name(&self, receiver: &str, other_end: &str) -> String {
        self.known
            .get(&(receiver.to_string(), other_end.to_string()))
            .cloned()
            .unwrap_or_else(|| other_end.to_string())
    }

    /// The line is no longer on the way.
    fn arrived(&mut self, sender: &str, receiver: &str, text: &str) {
        if let Some(at) = self
            .on_the_way
            .iter()
            .position(|(from, to, sent)| from == sender && to == receiver && sent == text)
        {
            self.on_the_way.remove(at);
        }
    }
}

/// Whether a trace names the other end by its id (else it is an ip:port,
/// or `incoming ip:port`).
pub fn is_id(name: &str) -> bool {
    // A peer calls a connection that came to it `incoming ip:port`.
    let address = name.strip_prefix(INCOMING).map_or(name, str::trim_start);
    address.parse::<SocketAddr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::{is_id, Senders, KEPT_MAX};

    #[test]
    fn a_line_from_a_passing_port_is_the_one_node_that_sent_it() {
        let mut senders = Senders::default();
        senders.sent("peer2", "peer1", "DOWNLOAD: notes.txt, txt, 986");
        let sender = senders.received("peer1", "127.0.0.1:40768", "DOWNLOAD: notes.txt, txt, 986");
        assert_eq!(sender.name, "peer2");
        assert_eq!(sender.revealed, None);
        assert!(senders.on_the_way.is_empty());
        assert_eq!(senders.name("peer1", "127.0.0.1:40768"), "peer2");
        // A reply to that passing port arrives named: nothing to learn.
        senders.sent("peer1", "127.0.0.1:40768", "FILE: (986 bytes)");
        assert!(senders.on_the_way.is_empty());
        let reply = senders.received("peer2", "peer1", "FILE: (986 bytes)");
        assert_eq!(reply.name, "peer1");
    }

    #[test]
    fn the_same_line_from_two_nodes_waits_for_one_only_one_sent() {
        let mut senders = Senders::default();
        for peer in ["peer1", "peer3"] {
            senders.sent(peer, "tracker", "HELLO");
        }
        let hello = senders.received("tracker", "127.0.0.1:5003", "HELLO");
        assert_eq!(
            hello.name, "127.0.0.1:5003",
            "either peer could have sent it"
        );
        senders.sent(
            "peer3",
            "tracker",
            "<data.bin, bin, 9, 01/01/26, 127.0.0.1, 6003>",
        );
        let records = senders.received(
            "tracker",
            "127.0.0.1:5003",
            "<data.bin, bin, 9, 01/01/26, 127.0.0.1, 6003>",
        );
        assert_eq!(records.name, "peer3");
        assert_eq!(records.revealed.as_deref(), Some("127.0.0.1:5003"));
        // peer3's HELLO has arrived; peer1's is still on the way.
        let left: Vec<&str> = senders
            .on_the_way
            .iter()
            .map(|(from, _, _)| from.as_str())
            .collect();
        assert_eq!(left, ["peer1"]);
        let next = senders.received("tracker", "127.0.0.1:5001", "HELLO");
        assert_eq!(next.name, "peer1");
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let mut senders = Senders::default();
        for n in 0..KEPT_MAX + 10 {
            senders.sent("peer1", "tracker", &format!("line {n}"));
        }
        assert_eq!(senders.on_the_way.len(), KEPT_MAX);
        assert!(is_id("peer1") && !is_id("127.0.0.1:5000"));
    }
}
