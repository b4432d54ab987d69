//! The served folder's unit tests.

use super::{cut_to, SharedFolder, PARTIAL_PREFIX};
use crate::lock;
use crate::wire::protocol::{type_of, DownloadRequest, FileSpec};
use std::fs;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// A scratch folder removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("p2p-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn spec(name: &str, size: u64) -> FileSpec {
    FileSpec {
        name: name.into(),
        file_type: type_of(name),
        size,
    }
}

#[test]
fn lists_only_regular_shareable_files_in_name_order() {
    let scratch = Scratch::new("scan");
    fs::write(scratch.0.join("b.txt"), "bb").unwrap();
    fs::write(scratch.0.join("a.bin"), [0u8, 255]).unwrap();
    fs::write(scratch.0.join(".hidden"), "h").unwrap();
    fs::write(scratch.0.join("bad,name.txt"), "x").unwrap();
    fs::create_dir(scratch.0.join("sub")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", scratch.0.join("link.txt")).unwrap();
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let scan = folder.scan().unwrap();
    let names: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.bin", "b.txt"]);
    let skipped: Vec<&str> = scan.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        skipped.contains(&"bad,name.txt") && skipped.contains(&"sub"),
        "{skipped:?}"
    );
    #[cfg(unix)]
    {
        assert!(skipped.contains(&"link.txt"));
        assert!(folder.open_to_send(&spec("link.txt", 0)).is_err());
    }
}

#[test]
fn opens_only_an_exact_match() {
    let scratch = Scratch::new("open");
    fs::write(scratch.0.join("a.txt"), "hello").unwrap();
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    assert!(folder.open_to_send(&spec("a.txt", 5)).is_ok());
    assert!(folder.open_to_send(&spec("a.txt", 6)).is_err());
    assert!(folder
        .open_to_send(&FileSpec {
            file_type: "jpg".into(),
            ..spec("a.txt", 5)
        })
        .is_err());
    assert!(folder.open_to_send(&spec("b.txt", 5)).is_err());
    assert!(folder.open_to_send(&spec("../a.txt", 5)).is_err());
}

#[test]
fn a_received_file_appears_only_when_finished() {
    let scratch = Scratch::new("receive");
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let incoming = folder.arriving("new.txt").unwrap();
    assert!(
        matches!(folder.arriving("new.txt"), Err(e) if e.to_string().contains("currently receiving"))
    );
    incoming.writer().unwrap().write_all(b"12345").unwrap();
    assert!(!scratch.0.join("new.txt").exists());
    incoming.finish(5).unwrap();
    assert_eq!(fs::read(scratch.0.join("new.txt")).unwrap(), b"12345");
    assert_eq!(
        fs::read_dir(&scratch.0).unwrap().count(),
        1,
        "no temporary file left"
    );
    assert!(
        matches!(folder.arriving("new.txt"), Err(e) if e.to_string().contains("already serving"))
    );
}

#[test]
fn a_failed_or_short_receive_leaves_nothing() {
    let scratch = Scratch::new("fail");
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let incoming = folder.arriving("x.bin").unwrap();
    incoming.writer().unwrap().write_all(b"123").unwrap();
    assert!(incoming.finish(5).is_err());
    drop(folder.arriving("y.bin").unwrap());
    assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 0);
    assert!(folder.arriving("x.bin").is_ok(), "the name is free again");
}

#[test]
fn a_receiving_thread_that_panics_frees_the_name_and_leaves_nothing() {
    let scratch = Scratch::new("panic");
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let receiving = folder.clone();
    let thread = std::thread::spawn(move || {
        let incoming = receiving.arriving("half.bin").unwrap();
        incoming.writer().unwrap().write_all(b"half").unwrap();
        panic!("a bug in the middle of a transfer");
    });
    assert!(thread.join().is_err(), "the transfer panicked");
    assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 0);
    assert!(
        folder.arriving("half.bin").is_ok(),
        "the name is free again"
    );
}

#[test]
fn finishing_never_replaces_a_file() {
    let scratch = Scratch::new("replace");
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let incoming = folder.arriving("a.txt").unwrap();
    fs::write(scratch.0.join("a.txt"), "original").unwrap();
    assert!(incoming.finish(0).is_err());
    assert_eq!(fs::read(scratch.0.join("a.txt")).unwrap(), b"original");
    assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 1);
}

#[test]
fn hashes_a_whole_file_or_a_range() {
    use crate::wire::protocol::ChunkRange;
    use crate::wire::sha256::digest;
    let scratch = Scratch::new("hash");
    let bytes: Vec<u8> = (0..250u32).map(|i| (i * 7) as u8).collect();
    fs::write(scratch.0.join("h.bin"), &bytes).unwrap();
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let whole = DownloadRequest {
        file: spec("h.bin", 250),
        range: None,
    };
    assert_eq!(folder.hash_of(&whole).unwrap(), digest(&bytes));
    let last = DownloadRequest {
        range: Some(ChunkRange { first: 2, count: 5 }),
        ..whole.clone()
    };
    assert_eq!(folder.hash_of(&last).unwrap(), digest(&bytes[200..]));
    let past = DownloadRequest {
        range: Some(ChunkRange { first: 3, count: 1 }),
        ..whole.clone()
    };
    assert!(folder.hash_of(&past).is_err());
    let wrong_size = DownloadRequest {
        file: spec("h.bin", 251),
        range: None,
    };
    assert!(folder.hash_of(&wrong_size).is_err());
}

// A whole file's hash is remembered, and taken again once the file
// changed: same size, other bytes, a later time of change.
#[test]
fn a_whole_files_hash_is_remembered_until_the_file_changes() {
    use crate::wire::sha256::digest;
    let scratch = Scratch::new("hash_cache");
    let path = scratch.0.join("c.txt");
    fs::write(&path, b"first").unwrap();
    let (folder, _) = SharedFolder::open(&scratch.0).unwrap();
    let whole = DownloadRequest {
        file: spec("c.txt", 5),
        range: None,
    };
    assert_eq!(folder.hash_of(&whole).unwrap(), digest(b"first"));
    assert_eq!(lock(&folder.hashes).len(), 1, "remembered");
    assert_eq!(folder.hash_of(&whole).unwrap(), digest(b"first"));
    fs::write(&path, b"other").unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(folder.hash_of(&whole).unwrap(), digest(b"other"));
}

#[test]
fn leftovers_of_a_crash_are_removed_at_open() {
    let scratch = Scratch::new("leftover");
    fs::write(scratch.0.join(format!("{PARTIAL_PREFIX}99-1")), "half").unwrap();
    fs::write(scratch.0.join("keep.txt"), "k").unwrap();
    let (_, removed) = SharedFolder::open(&scratch.0).unwrap();
    assert_eq!(removed, 1);
    assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 1);
}

#[test]
fn a_file_is_cut_only_when_it_is_longer() {
    let scratch = Scratch::new("cut");
    let path = scratch.0.join("part");
    fs::write(&path, b"0123456789").unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    cut_to(&file, 20).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"0123456789", "never made longer");
    cut_to(&file, 4).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"0123");
    cut_to(&file, 0).unwrap();
    assert!(fs::read(&path).unwrap().is_empty());
}
