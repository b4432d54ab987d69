//! The tracker's index: which peer shares which file. Pure data, no I/O,
//! so every rule of it is tested alone.

use crate::wire::protocol::{FileRecord, Location, MAX_FIND_RECORDS};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The index the tracker keeps. Pure data, no I/O, so it is tested alone.
#[derive(Debug, Default)]
pub struct Index {
    /// The hash table of the protocol: file name -> where it can be had.
    by_name: HashMap<String, Vec<Location>>,
    /// Every joined peer, by the address it serves downloads on.
    peers: HashMap<SocketAddr, JoinedPeer>,
}

#[derive(Debug)]
struct JoinedPeer {
    /// Which session announced these records: a peer that rejoins replaces
    /// its records, and the old session, when it ends, must not remove the
    /// new ones.
    session: u64,
    records: Vec<FileRecord>,
}

impl Index {
    /// Adds a peer's records, replacing any earlier ones from the same
    /// address. Returns the session whose records it replaced, if any.
    pub fn join(
        &mut self,
        addr: SocketAddr,
        session: u64,
        records: Vec<FileRecord>,
    ) -> Option<u64> {
        let replaced = self.peers.get(&addr).map(|peer| peer.session);
        self.remove(addr);
        for record in &records {
            self.by_name
                .entry(record.name.clone())
                .or_default()
                .push(record.location());
        }
        self.peers.insert(addr, JoinedPeer { session, records });
        replaced
    }

    /// Drops the records of `addr` if `session` announced them. Returns the
    /// dropped records.
    pub fn leave(&mut self, addr: SocketAddr, session: u64) -> Option<Vec<FileRecord>> {
        match self.peers.get(&addr) {
            Some(peer) if peer.session == session => self.remove(addr),
            _ => None,
        }
    }

    fn remove(&mut self, addr: SocketAddr) -> Option<Vec<FileRecord>> {
        let peer = self.peers.remove(&addr)?;
        for record in &peer.records {
            if let Some(locations) = self.by_name.get_mut(&record.name) {
                locations.retain(|l| l.addr() != addr);
                if locations.is_empty() {
                    self.by_name.remove(&record.name);
                }
            }
        }
        Some(peer.records)
    }

    /// Where `name` can be downloaded (exact, case-sensitive match).
    pub fn search(&self, name: &str) -> Option<&[Location]> {
        self.by_name.get(name).map(Vec::as_slice)
    }

    /// `FIND`: the records whose names hold every one of `words`, in any
    /// case, [`MAX_FIND_RECORDS`] at most. In name order (then address
    /// order), so the answer does not depend on which ports peers got.
    pub fn find(&self, words: &[String]) -> Vec<FileRecord> {
        let words: Vec<String> = words.iter().map(|word| word.to_lowercase()).collect();
        let mut found: Vec<FileRecord> = self
            .all_records()
            .into_iter()
            .filter(|record| {
                let name = record.name.to_lowercase();
                words.iter().all(|word| name.contains(word.as_str()))
            })
            .collect();
        found.sort_by(|a, b| (&a.name, a.addr()).cmp(&(&b.name, b.addr())));
        found.truncate(MAX_FIND_RECORDS);
        found
    }

    /// Every joined peer and its records, in address order.
    pub fn peers(&self) -> Vec<(SocketAddr, Vec<FileRecord>)> {
        let mut peers: Vec<_> = self
            .peers
            .iter()
            .map(|(addr, peer)| (*addr, peer.records.clone()))
            .collect();
        peers.sort_by_key(|(addr, _)| *addr);
        peers
    }

    /// Every record of every joined peer.
    pub fn all_records(&self) -> Vec<FileRecord> {
        self.peers()
            .into_iter()
            .flat_map(|(_, records)| records)
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::Index;
    use crate::wire::date::Date;
    use crate::wire::protocol::{FileRecord, MAX_FIND_RECORDS};
    use std::net::SocketAddr;

    /// A record of a `txt` file of 10 bytes, served at `ip:port`.
    pub(in crate::tracker) fn record(name: &str, ip: &str, port: u16) -> FileRecord {
        FileRecord {
            name: name.into(),
            file_type: "txt".into(),
            size: 10,
            modified: Date::new(1, 1, 26).unwrap(),
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::new("127.0.0.1".parse().unwrap(), port)
    }

    #[test]
    fn join_search_and_leave() {
        let mut index = Index::default();
        index.join(
            addr(1),
            1,
            vec![
                record("a.txt", "127.0.0.1", 1),
                record("b.txt", "127.0.0.1", 1),
            ],
        );
        index.join(addr(2), 2, vec![record("a.txt", "127.0.0.1", 2)]);
        assert_eq!(index.search("a.txt").unwrap().len(), 2);
        assert!(index.search("A.TXT").is_none(), "search is case-sensitive");
        assert_eq!(index.leave(addr(1), 1).unwrap().len(), 2);
        assert_eq!(index.search("a.txt").unwrap()[0].port, 2);
        assert!(index.search("b.txt").is_none());
        assert_eq!(index.peers().len(), 1);
    }

    #[test]
    fn find_matches_every_word_in_any_case_and_caps_the_answer() {
        let mut index = Index::default();
        index.join(
            addr(1),
            1,
            vec![
                record("Lecture Notes.txt", "127.0.0.1", 1),
                record("notes-old.txt", "127.0.0.1", 1),
                record("cat.jpg", "127.0.0.1", 1),
            ],
        );
        let words = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
        let names = |found: Vec<FileRecord>| found.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            names(index.find(&words("NOTES"))),
            ["Lecture Notes.txt", "notes-old.txt"]
        );
        assert_eq!(
            names(index.find(&words("notes lec"))),
            ["Lecture Notes.txt"]
        );
        assert!(index.find(&words("notes jpg")).is_empty());
        for port in 2..=12 {
            let records = (0..5)
                .map(|i| record(&format!("f{i}.txt"), "127.0.0.1", port))
                .collect();
            index.join(addr(port), u64::from(port), records);
        }
        assert_eq!(index.find(&words("txt")).len(), MAX_FIND_RECORDS);
        assert!(index.search("Lecture").is_none(), "SEARCH stays exact");
    }

    #[test]
    fn a_rejoin_replaces_and_the_old_session_cannot_remove_it() {
        let mut index = Index::default();
        assert_eq!(
            index.join(addr(1), 1, vec![record("old.txt", "127.0.0.1", 1)]),
            None
        );
        assert_eq!(
            index.join(addr(1), 2, vec![record("new.txt", "127.0.0.1", 1)]),
            Some(1)
        );
        assert!(index.search("old.txt").is_none());
        assert!(
            index.leave(addr(1), 1).is_none(),
            "the first session ended late"
        );
        assert!(index.search("new.txt").is_some());
        assert!(index.leave(addr(1), 2).is_some());
        assert!(index.all_records().is_empty());
    }
}
