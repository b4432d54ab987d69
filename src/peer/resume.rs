//! Partial downloads kept for later. A download or a fetch that fails
//! part-way (a holder vanished or stalled) keeps the chunks that arrived,
//! and the next download or fetch of the same file goes on from what is
//! missing, with ranged `DOWNLOAD`s, from any holder.
//!
//! They live in a hidden folder of the served folder, [`RESUME_DIR`]: a
//! hidden name is never listed, served or announced. Each file there is
//! named by the SHA-256 of the file's name, then of its type, size and
//! date. So a name of any length or character gives a plain file name, and
//! a copy that the holders now list with another size or date is never
//! resumed: it is removed instead.
//!
//! A download's partial file is the file's first chunks, so its length
//! says what it holds. A fetch's may have holes (each holder sent part of
//! its range): a small text file beside it, named like it with
//! [`CHUNKS_SUFFIX`], lists the runs of chunks it holds, one `first count`
//! a line.
//!
//! They are bounded: [`MAX_PARTIALS`] files and [`MAX_PARTIAL_BYTES`] in
//! all (the oldest go first), and none older than [`MAX_PARTIAL_AGE`].

use crate::error::{Error, Result};
use crate::wire::protocol::{ChunkRange, Location, CHUNK_SIZE};
use crate::wire::sha256::{digest, to_hex};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The hidden folder, inside the served folder, that holds partial files.
pub const RESUME_DIR: &str = ".p2p-resume";

/// The most partial files kept at once.
pub const MAX_PARTIALS: usize = 8;

/// The most bytes all partial files may hold together: 1 GiB.
pub const MAX_PARTIAL_BYTES: u64 = 1 << 30;

/// A partial file older than this is removed: its holders have likely
/// changed or gone.
pub const MAX_PARTIAL_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The end of the name of the list of chunks beside a partial file with
/// holes. (A partial file's own name has no dot.)
pub const CHUNKS_SUFFIX: &str = ".chunks";

/// The partial files of one served folder.
#[derive(Debug, Clone)]
pub struct Partials {
    dir: PathBuf,
}

/// A partial file found for one of the copies asked about.
#[derive(Debug)]
pub struct Partial {
    pub path: PathBuf,
    /// Which of the copies asked about it is of (their index).
    pub copy: usize,
    /// The runs of chunks it holds, in file order, none touching.
    pub have: Vec<ChunkRange>,
}

impl Partials {
    /// The partial files kept in the served folder `folder`.
    pub fn of(folder: &Path) -> Partials {
        Partials {
            dir: folder.join(RESUME_DIR),
        }
    }

    /// The partial file of one of these copies of `name`, the first that
    /// has one, if it holds any chunk. Partial files of `name` with
    /// another type, size or date are removed: they can never be finished.
    /// So is one whose list of chunks cannot be read.
    pub fn find(&self, name: &str, copies: &[&Location]) -> Option<Partial> {
        self.prune();
        let wanted: Vec<String> = copies.iter().map(|copy| key(name, copy)).collect();
        let prefix = key_prefix(name);
        let mut found: Option<Partial> = None;
        for (path, len, _) in self.entries() {
            let file_name = path.file_name()?.to_string_lossy().into_owned();
            let copy = wanted.iter().position(|key| *key == file_name);
            let have = copy.and_then(|copy| chunks_held(&path, len, copies[copy].size));
            match (copy, have) {
                (Some(copy), Some(have)) if found.as_ref().is_none_or(|f| copy < f.copy) => {
                    if let Some(other) = found.replace(Partial { path, copy, have }) {
                        remove(&other.path);
                    }
                }
                _ if file_name.starts_with(&prefix) => remove(&path),
                _ => {}
            }
        }
        found
    }

    /// Keeps the file at `temp`, which holds the chunks `have` of this
    /// copy of `name` (in file order), as its partial file; then applies
    /// the bounds. The list of chunks is written first, so a partial file
    /// with holes is never read as one without.
    pub fn keep(
        &self,
        temp: &Path,
        name: &str,
        copy: &Location,
        have: &[ChunkRange],
    ) -> Result<()> {
        let keeping = |e| Error::io("keeping the partial download", e);
        fs::create_dir_all(&self.dir).map_err(keeping)?;
        let target = self.dir.join(key(name, copy));
        let list = chunks_path(&target);
        let end = have.last().map_or(0, |last| last.first + last.count);
        let len = (end * CHUNK_SIZE as u64).min(copy.size);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(temp)
            .map_err(keeping)?;
        file.set_len(len).map_err(keeping)?;
        drop(file);
        if have.len() == 1 && have[0].first == 0 {
            let _ = fs::remove_file(&list);
        } else {
            fs::write(&list, format_chunks(have)).map_err(keeping)?;
        }
        if let Err(error) = fs::rename(temp, &target) {
            let _ = fs::remove_file(&list);
            return Err(keeping(error));
        }
        self.prune();
        Ok(())
    }

    /// Moves a partial file that [`Partials::find`] found to `to` (the
    /// temporary file of the transfer that goes on with it), and forgets
    /// its list of chunks.
    pub fn take(&self, partial: &Partial, to: &Path) -> Result<()> {
        let _ = fs::remove_file(chunks_path(&partial.path));
        fs::rename(&partial.path, to).map_err(|e| Error::io("taking up the partial download", e))
    }

    /// Removes every partial file now (the shell's `clean`). Returns how
    /// many there were.
    pub fn clean(&self) -> Result<usize> {
        let entries = self.entries();
        for (path, _, _) in &entries {
            fs::remove_file(path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
        self.sweep_lists();
        Ok(entries.len())
    }

    /// Applies the bounds: too old goes, then the oldest until the count
    /// and the bytes fit.
    pub fn prune(&self) {
        let now = SystemTime::now();
        let mut entries = self.entries();
        entries.retain(|(path, _, modified)| {
            let old = now.duration_since(*modified).unwrap_or_default() > MAX_PARTIAL_AGE;
            if old {
                remove(path);
            }
            !old
        });
        // Newest first: the oldest are the last, and go first.
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        let mut bytes = 0u64;
        for (index, (path, len, _)) in entries.iter().enumerate() {
            bytes = bytes.saturating_add(*len);
            if index >= MAX_PARTIALS || bytes > MAX_PARTIAL_BYTES {
                remove(path);
            }
        }
        self.sweep_lists();
    }

    /// Every partial file (not the lists of chunks): its path, length and
    /// last change.
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        listing
            .flatten()
            .filter(|entry| !entry.file_name().to_string_lossy().contains('.'))
            .filter_map(|entry| {
                let meta = entry.metadata().ok().filter(|meta| meta.is_file())?;
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                Some((entry.path(), meta.len(), modified))
            })
            .collect()
    }

    /// Removes the lists of chunks whose partial file is gone.
    fn sweep_lists(&self) {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(data) = name.strip_suffix(CHUNKS_SUFFIX) {
                if !self.dir.join(data).exists() {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }
}

/// Removes a partial file and its list of chunks, if any.
fn remove(path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(chunks_path(path));
}

/// Where the list of chunks of the partial file at `path` is.
fn chunks_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(CHUNKS_SUFFIX);
    PathBuf::from(name)
}

/// The chunks the partial file at `path` (of `len` bytes, of a file of
/// `size`) holds: its list's, or else its whole chunks from the start.
/// `None` when it holds none or its list does not fit the file.
fn chunks_held(path: &Path, len: u64, size: u64) -> Option<Vec<ChunkRange>> {
    let have = match fs::read_to_string(chunks_path(path)) {
        Ok(text) => parse_chunks(&text)?,
        Err(_) => vec![ChunkRange {
            first: 0,
            count: len / CHUNK_SIZE as u64,
        }],
    };
    let chunk = CHUNK_SIZE as u64;
    let fits = have.last().is_some_and(|last| {
        let end = last.first + last.count;
        end <= size.div_ceil(chunk) && (end * chunk).min(size) <= len
    });
    (fits && have.iter().all(|run| run.count > 0)).then_some(have)
}

/// `first count` a line, for each run of chunks.
fn format_chunks(have: &[ChunkRange]) -> String {
    have.iter()
        .map(|run| format!("{} {}\n", run.first, run.count))
        .collect()
}

/// The runs of a list of chunks, if every line is `first count` and each
/// run starts after the one before ends.
fn parse_chunks(text: &str) -> Option<Vec<ChunkRange>> {
    let mut have: Vec<ChunkRange> = Vec::new();
    for line in text.lines() {
        let (first, count) = line.split_once(' ')?;
        let run = ChunkRange {
            first: first.parse().ok()?,
            count: count.parse().ok()?,
        };
        let after = have.last().map_or(0, |last| last.first + last.count);
        if run.first < after || run.first.checked_add(run.count).is_none() {
            return None;
        }
        have.push(run);
    }
    Some(have)
}

/// The runs of chunks of a file of `total` chunks that are not in `have`
/// (runs in file order, none touching).
pub fn missing(have: &[ChunkRange], total: u64) -> Vec<ChunkRange> {
    let mut gaps = Vec::new();
    let mut next = 0;
    for run in have.iter().chain([&ChunkRange {
        first: total,
        count: 0,
    }]) {
        if run.first > next {
            gaps.push(ChunkRange {
                first: next,
                count: run.first - next,
            });
        }
        next = next.max(run.first + run.count);
    }
    gaps
}

/// `chunks 0 to 19 and 50 to 69`, `chunk 7`: runs of chunks in words.
pub fn describe(runs: &[ChunkRange]) -> String {
    let words: Vec<String> = runs
        .iter()
        .map(|run| match run.count {
            1 => format!("{}", run.first),
            _ => format!("{} to {}", run.first, run.first + run.count - 1),
        })
        .collect();
    let plural = runs.len() > 1 || runs.first().is_some_and(|run| run.count > 1);
    let noun = if plural { "chunks" } else { "chunk" };
    match words.split_last() {
        None => "no chunk".into(),
        Some((last, [])) => format!("{noun} {last}"),
        Some((last, rest)) => format!("{noun} {} and {last}", rest.join(", ")),
    }
}

/// The hash of the name: the prefix every copy of that name shares.
fn key_prefix(name: &str) -> String {
    format!("{}-", to_hex(&digest(name.as_bytes())))
}

/// The file name of a partial file: the hash of the name, then the hash
/// of the type, size and date.
fn key(name: &str, copy: &Location) -> String {
    let spec = format!("{}\n{}\n{}", copy.file_type, copy.size, copy.modified);
    let copy = to_hex(&digest(spec.as_bytes()));
    format!("{}{}", key_prefix(name), &copy[..16])
}

#[cfg(test)]
mod tests {
    use super::{describe, missing, parse_chunks, Partials, MAX_PARTIALS};
    use crate::wire::date::Date;
    use crate::wire::protocol::{ChunkRange, Location};
    use std::fs;

    fn copy(size: u64) -> Location {
        Location {
            file_type: "bin".into(),
            size,
            modified: Date::new(1, 1, 26).unwrap(),
            ip: "127.0.0.1".parse().unwrap(),
            port: 9,
        }
    }

    fn run(first: u64, count: u64) -> ChunkRange {
        ChunkRange { first, count }
    }

    fn scratch(what: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("p2p-unit-{}-{what}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn partials_are_found_by_copy_bounded_in_number_and_cleaned() {
        let dir = scratch("resume");
        let partials = Partials::of(&dir);
        let temp = dir.join("temp");
        fs::write(&temp, [7u8; 450]).unwrap();
        partials
            .keep(&temp, "a b.bin", &copy(1000), &[run(0, 4)])
            .unwrap();
        assert!(!temp.exists(), "the temporary file became the partial");
        let found = partials.find("a b.bin", &[&copy(1000)]).unwrap();
        assert_eq!((found.copy, found.have), (0, vec![run(0, 4)]));
        assert_eq!(fs::metadata(&found.path).unwrap().len(), 400);
        let other = copy(999);
        assert!(partials.find("a b.bin", &[&other]).is_none());
        assert!(
            partials.find("a b.bin", &[&copy(1000)]).is_none(),
            "a copy listed with another size removes the old partial"
        );
        for number in 0..MAX_PARTIALS + 3 {
            fs::write(&temp, [1u8; 100]).unwrap();
            let name = format!("f{number}.bin");
            partials
                .keep(&temp, &name, &copy(1000), &[run(0, 1)])
                .unwrap();
        }
        assert_eq!(partials.entries().len(), MAX_PARTIALS);
        assert_eq!(partials.clean().unwrap(), MAX_PARTIALS);
        assert!(partials.entries().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_with_holes_keeps_its_list_of_chunks_which_goes_with_it() {
        let dir = scratch("holes");
        let partials = Partials::of(&dir);
        let temp = dir.join("temp");
        fs::write(&temp, [3u8; 950]).unwrap();
        let have = [run(0, 2), run(5, 5)];
        partials.keep(&temp, "h.bin", &copy(950), &have).unwrap();
        let (other, ours) = (copy(951), copy(950));
        let found = partials.find("h.bin", &[&other, &ours]).unwrap();
        assert_eq!((found.copy, &found.have[..]), (1, &have[..]));
        let listed = fs::read_dir(dir.join(super::RESUME_DIR)).unwrap().count();
        assert_eq!(listed, 2, "the partial and its list");
        partials.take(&found, &temp).unwrap();
        assert_eq!(fs::metadata(&temp).unwrap().len(), 950);
        let left = || fs::read_dir(dir.join(super::RESUME_DIR)).unwrap().count();
        assert_eq!(left(), 0);
        partials.keep(&temp, "h.bin", &copy(950), &have).unwrap();
        assert_eq!(partials.clean().unwrap(), 1, "a list is not a partial file");
        assert_eq!(left(), 0, "the list went with it");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_missing_runs_are_the_gaps_and_are_said_in_words() {
        let have = [run(0, 2), run(5, 5)];
        assert_eq!(missing(&have, 12), [run(2, 3), run(10, 2)]);
        assert_eq!(missing(&[], 3), [run(0, 3)]);
        assert_eq!(missing(&[run(0, 3)], 3), []);
        assert_eq!(describe(&missing(&have, 12)), "chunks 2 to 4 and 10 to 11");
        assert_eq!(describe(&[run(7, 1)]), "chunk 7");
        assert_eq!(
            describe(&[run(1, 1), run(3, 1), run(5, 2)]),
            "chunks 1, 3 and 5 to 6"
        );
        assert_eq!(parse_chunks("0 2\n5 5\n"), Some(have.to_vec()));
        assert_eq!(parse_chunks("5 5\n0 2\n"), None, "out of order");
        assert_eq!(parse_chunks("0 two\n"), None);
    }
}
