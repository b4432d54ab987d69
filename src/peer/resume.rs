//! Partial downloads kept for later. A download that fails part-way (the
//! holder vanished or stalled) keeps the chunks that arrived, and the next
//! download of the same file goes on from the first missing chunk, with a
//! ranged `DOWNLOAD`, from any holder.
//!
//! They live in a hidden folder of the served folder, [`RESUME_DIR`]: a
//! hidden name is never listed, served or announced. Each file there is
//! named by the SHA-256 of the file's name, then of its type, size and
//! date. So a name of any length or character gives a plain file name, and
//! a copy that the holders now list with another size or date is never
//! resumed: it is removed instead.
//!
//! They are bounded: [`MAX_PARTIALS`] files and [`MAX_PARTIAL_BYTES`] in
//! all (the oldest go first), and none older than [`MAX_PARTIAL_AGE`].

use crate::error::{Error, Result};
use crate::wire::protocol::Location;
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

/// The partial files of one served folder.
#[derive(Debug, Clone)]
pub struct Partials {
    dir: PathBuf,
}

impl Partials {
    /// The partial files kept in the served folder `folder`.
    pub fn of(folder: &Path) -> Partials {
        Partials {
            dir: folder.join(RESUME_DIR),
        }
    }

    /// The partial file of exactly this copy of `name`, and its length, if
    /// one is kept. Partial files of `name` with another type, size or
    /// date are removed: they can never be finished.
    pub fn find(&self, name: &str, copy: &Location) -> Option<(PathBuf, u64)> {
        self.prune();
        let (prefix, wanted) = key(name, copy);
        let mut found = None;
        for (path, len, _) in self.entries() {
            let file_name = path.file_name()?.to_string_lossy().into_owned();
            if file_name == wanted {
                found = Some((path, len));
            } else if file_name.starts_with(&prefix) {
                let _ = fs::remove_file(&path);
            }
        }
        found
    }

    /// Keeps the file at `temp`, cut to its first `len` bytes, as the
    /// partial file of this copy of `name`; then applies the bounds.
    pub fn keep(&self, temp: &Path, name: &str, copy: &Location, len: u64) -> Result<()> {
        let keeping = |e| Error::io("keeping the partial download", e);
        fs::create_dir_all(&self.dir).map_err(keeping)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .open(temp)
            .map_err(keeping)?;
        file.set_len(len).map_err(keeping)?;
        drop(file);
        fs::rename(temp, self.dir.join(key(name, copy).1)).map_err(keeping)?;
        self.prune();
        Ok(())
    }

    /// Removes every partial file now (the shell's `clean`). Returns how
    /// many there were.
    pub fn clean(&self) -> Result<usize> {
        let entries = self.entries();
        for (path, _, _) in &entries {
            fs::remove_file(path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
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
                let _ = fs::remove_file(path);
            }
            !old
        });
        // Newest first: the oldest are the last, and go first.
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        let mut bytes = 0u64;
        for (index, (path, len, _)) in entries.iter().enumerate() {
            bytes = bytes.saturating_add(*len);
            if index >= MAX_PARTIALS || bytes > MAX_PARTIAL_BYTES {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Every partial file: its path, length and last change.
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        listing
            .flatten()
            .filter_map(|entry| {
                let meta = entry.metadata().ok().filter(|meta| meta.is_file())?;
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                Some((entry.path(), meta.len(), modified))
            })
            .collect()
    }
}

/// The file name of a partial file: the hash of the name (the prefix every
/// copy of that name shares), then the hash of the type, size and date.
fn key(name: &str, copy: &Location) -> (String, String) {
    let prefix = to_hex(&digest(name.as_bytes()));
    let spec = format!("{}\n{}\n{}", copy.file_type, copy.size, copy.modified);
    let full = format!("{prefix}-{}", &to_hex(&digest(spec.as_bytes()))[..16]);
    (format!("{prefix}-"), full)
}

#[cfg(test)]
mod tests {
    use super::{Partials, MAX_PARTIALS};
    use crate::wire::date::Date;
    use crate::wire::protocol::Location;
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

    #[test]
    fn partials_are_found_by_copy_bounded_in_number_and_cleaned() {
        let dir = std::env::temp_dir().join(format!("p2p-unit-{}-resume", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let partials = Partials::of(&dir);
        let temp = dir.join("temp");
        fs::write(&temp, [7u8; 450]).unwrap();
        partials.keep(&temp, "a b.bin", &copy(1000), 400).unwrap();
        assert!(!temp.exists(), "the temporary file became the partial");
        let (_, len) = partials.find("a b.bin", &copy(1000)).unwrap();
        assert_eq!(len, 400);
        assert!(partials.find("a b.bin", &copy(999)).is_none());
        assert!(
            partials.find("a b.bin", &copy(1000)).is_none(),
            "a copy listed with another size removes the old partial"
        );
        for number in 0..MAX_PARTIALS + 3 {
            fs::write(&temp, [1u8; 100]).unwrap();
            let name = format!("f{number}.bin");
            partials.keep(&temp, &name, &copy(1000), 100).unwrap();
        }
        assert_eq!(partials.entries().len(), MAX_PARTIALS);
        assert_eq!(partials.clean().unwrap(), MAX_PARTIALS);
        assert!(partials.entries().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
