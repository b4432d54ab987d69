//! Stage 2 of the peer check, the `hash` rule: HASH of the whole file and
//! of a range of chunks must be the SHA-256 of the same bytes of `--file`.

use super::replies::request;
use super::{LocalFile, Peer};
use crate::probe::Transcript;
use crate::rules::{reply_line, Checked, Miss};
use p2p_share::wire::protocol::{ChunkRange, Message, CHUNK_SIZE};
use p2p_share::wire::sha256::{self, Digest};

/// One HASH request of the rule, and the answer it must get.
struct Ask {
    /// The checker's connection: `A`, `B`.
    name: &'static str,
    line: String,
    expected: Digest,
    /// The bytes hashed, in words: `the whole file`, `chunks 1 to 2`.
    what: String,
}

/// HASH of the whole file, then of a range of it. Only the first
/// refused means the peer does not offer HASH: a peer that hashes whole
/// files and refuses ranges does not keep the rule.
pub fn hash(peer: &Peer, t: &Transcript) -> Checked {
    peer.needs_file()?;
    let file = &peer.file;
    let whole = sha256::digest(&file.bytes);
    for (i, ask) in asks(file)?.iter().enumerate() {
        let mut a = request(peer, t, ask.name, &ask.line)?;
        let reply = match reply_line(&mut a, "HASH: <64 hex digits>") {
            Err(Miss::NotOffered(why)) if i > 0 => {
                return Err(Miss::Broken(format!("{why} (to a ranged HASH)")))
            }
            other => other?,
        };
        let Ok(Message::Hashed(digest)) = Message::parse(&reply) else {
            return Err(format!("expected HASH: and 64 hex digits, got {reply:?}").into());
        };
        if digest != ask.expected {
            // A peer that reads the name and not the range is told so.
            let hint = match i > 0 && digest == whole {
                true => " (that is the whole file's hash: the range was ignored)",
                false => "",
            };
            return Err(format!(
                "wrong hash of {}: B sent {}, the SHA-256 of those bytes of your --file is {}{hint}",
                ask.what,
                sha256::to_hex(&digest),
                sha256::to_hex(&ask.expected)
            )
            .into());
        }
    }
    Ok(())
}

/// The two requests: the whole file, and a range of it.
fn asks(file: &LocalFile) -> Result<[Ask; 2], Miss> {
    let size = file.size() as u64;
    let range = hashed_range(size);
    let Some((offset, len)) = range.byte_range(size) else {
        return Err(Miss::NotJudged("the --file has no chunk to hash".into()));
    };
    let part = &file.bytes[offset as usize..(offset + len) as usize];
    Ok([
        Ask {
            name: "A",
            line: format!("HASH: {}", file.fields()),
            expected: sha256::digest(&file.bytes),
            what: "the whole file".into(),
        },
        Ask {
            name: "B",
            line: format!("HASH: {}, {}, {}", file.fields(), range.first, range.count),
            expected: sha256::digest(part),
            what: format!(
                "chunks {} to {}",
                range.first,
                range.first + range.count - 1
            ),
        },
    ])
}

/// The range asked for: two chunks from the middle, or the last chunk of
/// a small file.
fn hashed_range(size: u64) -> ChunkRange {
    let chunks = size.div_ceil(CHUNK_SIZE as u64);
    match chunks >= 3 {
        true => ChunkRange { first: 1, count: 2 },
        false => ChunkRange {
            first: chunks.saturating_sub(1),
            count: 1,
        },
    }
}
