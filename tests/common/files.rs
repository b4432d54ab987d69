//! Folders and files on disk: a temporary folder that removes itself,
//! what a folder holds (and waiting until it holds exactly something), and
//! a file's last-modified date, which a peer announces.

use super::waiting::wait_for;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// A fresh folder under the system's temporary folder, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(test_name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "p2p-share-test-{}-{}-{}",
            std::process::id(),
            n,
            test_name
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temporary folder");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file in this folder and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, bytes).expect("write test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sets the last-modified time of `path` to noon UTC of the given date and
/// returns the date as the protocol writes it, `DD/MM/YY`.
pub fn set_file_date(path: &Path, year: i64, month: i64, day: i64) -> String {
    let secs = days_from_civil(year, month, day) * 86_400 + 12 * 3600;
    let time = UNIX_EPOCH + Duration::from_secs(secs as u64);
    let file = fs::File::options()
        .write(true)
        .open(path)
        .expect("open file to set its date");
    file.set_modified(time).expect("set modification time");
    format!("{:02}/{:02}/{:02}", day, month, year % 100)
}

/// The names of the files in `dir` that do not start with '.', sorted.
pub fn visible_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Every entry of a folder, hidden ones included, sorted.
pub fn all_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Polls until the folder holds exactly `expected`, in any order (hidden
/// entries count).
pub fn wait_folder_is(dir: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let what = format!("{} to hold only {expected:?}", dir.display());
    wait_for(&what, || {
        let last = all_entries(dir);
        if last == expected {
            Ok(())
        } else {
            Err(format!("it holds {last:?}"))
        }
    });
}
