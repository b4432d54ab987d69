//! The shell's commands that show or change what is shared: `search`,
//! `find`, `hash`, `list`, `info`, `ping`, `announce` and `publish`, one function each.

use super::{network_wait, say_if_slow};
use crate::error::Result;
use crate::peer::resume::Partials;
use crate::peer::Peer;
use crate::wire::protocol::{FileRecord, MAX_FIND_RECORDS};
use crate::wire::sha256::to_hex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// `search NAME`: the holders the tracker knows, numbered for `download`.
pub(super) fn search(peer: &Peer, name: &str) -> Result<bool> {
    let holders = say_if_slow(&network_wait("the tracker's answer to SEARCH"), || {
        peer.search(name)
    })?;
    if holders.is_empty() {
        crate::say!("not found: {name}");
    }
    for (number, holder) in holders.iter().enumerate() {
        let at = peer.describe(holder.addr());
        crate::say!(
            "{}. {at}  {}, {} bytes, {}",
            number + 1,
            holder.file_type,
            holder.size,
            holder.modified
        );
    }
    Ok(true)
}

/// `find WORD ...`: the tracker's records whose names hold every word.
pub(super) fn find(peer: &Peer, words: &[String]) -> Result<bool> {
    let records = say_if_slow(&network_wait("the tracker's answer to FIND"), || {
        peer.find(words)
    })?;
    if records.is_empty() {
        crate::say!("not found: no announced name holds {}", words.join(" and "));
    }
    for record in &records {
        let at = peer.describe(record.addr());
        crate::say!("{}  at {at}", record_line(record));
    }
    if records.len() == MAX_FIND_RECORDS {
        crate::say!("(the tracker answers {MAX_FIND_RECORDS} records at most: add a word)");
    }
    Ok(true)
}

/// `hash NAME`: `<64 hex digits>  NAME`, exactly as `sha256sum` prints
/// it, so the two can be compared.
pub(super) fn hash(peer: &Peer, name: &str) -> Result<bool> {
    let digest = peer.hash(name)?;
    crate::say!("{}  {name}", to_hex(&digest));
    Ok(true)
}

/// `clean`: removes the partial downloads kept to resume them.
pub(super) fn clean(peer: &Peer) -> Result<bool> {
    let removed = Partials::of(peer.folder().dir()).clean()?;
    crate::say!("removed {removed} partial download(s)");
    Ok(true)
}

/// `list`: this peer's own files, and which are announced.
pub(super) fn own_files(peer: &Peer) -> Result<bool> {
    let scan = peer.own_files()?;
    let announced = peer.announced();
    crate::say!(
        "{} serves {} file(s); {} announced to the tracker:",
        peer.folder().dir().display(),
        scan.files.len(),
        announced.len()
    );
    for file in &scan.files {
        let record = file.record(peer.addr());
        let mark = if announced.contains(&file.name) {
            "announced"
        } else {
            "served only"
        };
        crate::say!("{}  ({mark})", record_line(&record));
    }
    for (name, reason) in &scan.skipped {
        crate::say!("  (not shared: {name:?}: {reason})");
    }
    Ok(true)
}

/// `list PEER ...`: each peer's files (LIST), one block per peer.
pub(super) fn list_peers(peer: &Peer, peers: &[String]) -> Result<bool> {
    let waiting = network_wait(&format!("the LIST answers of {}", peers.join(", ")));
    let listed = say_if_slow(&waiting, || peer.list_peers(peers));
    let mut all_worked = true;
    for (peer_name, result) in listed {
        match result {
            Ok(records) => {
                crate::say!("{peer_name}: serves {} file(s)", records.len());
                print_records(&records);
            }
            Err(error) => {
                crate::say!("{peer_name}: error: {error}");
                all_worked = false;
            }
        }
    }
    Ok(all_worked)
}

/// `publish PATH [NAME]`.
pub(super) fn publish(peer: &Peer, path: &Path, name: Option<&str>) -> Result<bool> {
    let published = peer.publish(path, name)?;
    crate::say!("published {} as {}", path.display(), published.display());
    Ok(true)
}

/// `announce NAME ...`: these files first among the five.
pub(super) fn announce(peer: &Peer, names: &[String]) -> Result<bool> {
    let waiting =
        "the tracker to take the new list of files (BYE, then a new join; a few seconds at most)";
    let announced = say_if_slow(waiting, || peer.announce(names))?;
    if announced.is_empty() {
        crate::say!("chosen; announced at the next join (not joined now)");
    } else {
        crate::say!("announced to the tracker: {}", announced.join(", "));
    }
    Ok(true)
}

/// `info`: who is online and what they share (LIST to the tracker).
pub(super) fn info(peer: &Peer) -> Result<bool> {
    let records = say_if_slow(&network_wait("the tracker's answer to LIST"), || {
        peer.info()
    })?;
    let mut by_peer: BTreeMap<SocketAddr, Vec<&str>> = BTreeMap::new();
    for record in &records {
        by_peer.entry(record.addr()).or_default().push(&record.name);
    }
    crate::say!("{} peer(s) online:", by_peer.len());
    for (addr, names) in by_peer {
        crate::say!("  {}: {}", peer.describe(addr), names.join(", "));
    }
    Ok(true)
}

/// `ping PEER`: the round trip of PING and PONG.
pub(super) fn ping(peer: &Peer, target: &str) -> Result<bool> {
    // A word that names no node is a typing mistake, not an unreachable
    // peer: it gets the usual `error:` line.
    peer.settings().resolve(target)?;
    let waiting = network_wait(&format!("{target}'s PONG"));
    match say_if_slow(&waiting, || peer.ping(target)) {
        Ok(time) => crate::say!(
            "PONG from {target} in {:.2} ms",
            time.as_secs_f64() * 1000.0
        ),
        Err(error) => {
            crate::say!("{target} is unreachable: {error}");
            return Ok(false);
        }
    }
    Ok(true)
}

/// One line per record, as `list` and the tracker console show them.
pub fn print_records(records: &[FileRecord]) {
    for record in records {
        crate::say!("{}", record_line(record));
    }
}

/// `  notes.txt  txt, 986 bytes, 22/11/26`
pub fn record_line(record: &FileRecord) -> String {
    record.listing_line()
}
