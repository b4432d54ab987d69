//! A scratch folder that removes itself, for the demo.
//!
//! std has no temporary-folder type, and the demo promises to leave no
//! files behind, even when it fails half-way: the folder goes when this
//! value is dropped, on every path out of the function that made it. A
//! program that is killed (Ctrl-C) drops nothing, so each new folder first
//! removes the folders of its kind left by programs that are gone.

use crate::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A folder under the system's temporary folder, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<temp>/p2p-share-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        remove_leftovers(what);
        let path =
            std::env::temp_dir().join(format!("p2p-share-{what}-{}-{n}", std::process::id()));
        fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a sub-folder and returns its path.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let path = self.path.join(name);
        fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Removes `<temp>/p2p-share-<what>-<pid>-<n>` folders whose program is no
/// longer running. Only where `/proc` says which processes run (Linux);
/// elsewhere a killed demo's folder stays until the system clears it.
fn remove_leftovers(what: &str) {
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        return;
    }
    let prefix = format!("p2p-share-{what}-");
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TempDir;
    use std::fs;
    use std::path::Path;

    #[test]
    fn a_folder_left_by_a_program_that_is_gone_is_removed() {
        // No process has this id (Linux ids stay below 2^22).
        let left = std::env::temp_dir().join("p2p-share-leftover-test-999999999-0");
        fs::create_dir_all(left.join("inside")).unwrap();
        let ours = TempDir::new("leftover-test").unwrap();
        if Path::new("/proc").is_dir() {
            assert!(!left.exists(), "the leftover is removed");
        }
        assert!(ours.path().is_dir(), "our own folder stays");
        let path = ours.path().to_path_buf();
        drop(ours);
        assert!(!path.exists());
        let _ = fs::remove_dir_all(left);
    }
}
