//! The served folder: which files a peer shares, and how new files arrive.
//!
//! Two promises live here.
//! - Nothing is served from outside the folder: only regular files directly
//!   in it, whose names pass [`check_name`] (no paths, no hidden files).
//!   Symbolic links, folders, devices and pipes are never listed or opened.
//! - Nothing is lost: a file that arrives (download, upload, publish) is
//!   written to a hidden temporary name and only gets its real name once it
//!   is whole. On any failure the temporary file is removed, and an existing
//!   file is never replaced. A peer that crashed mid-transfer leaves a
//!   temporary file behind; the next start removes it.

use crate::error::{Error, Result};
use crate::lock;
use crate::wire::connection::IO_BUFFER_SIZE;
use crate::wire::date::Date;
use crate::wire::protocol::{check_name, type_of, DownloadRequest, FileRecord, FileSpec, Invalid};
use crate::wire::sha256::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Temporary files start with this. The leading dot keeps them out of every
/// listing (hidden files are never shared), and the rest makes them easy to
/// recognise and clean up.
pub const PARTIAL_PREFIX: &str = ".p2p-partial-";

/// How many whole-file hashes a folder remembers. Past that it forgets
/// them all and starts again: a hash costs one read of its file.
const HASHES_KEPT: usize = 256;

/// A whole file's SHA-256, with the size and time of change it had then.
type KnownHash = (u64, SystemTime, Digest);

/// A peer's served folder. Clones share the set of names being received.
#[derive(Debug, Clone)]
pub struct SharedFolder {
    dir: PathBuf,
    /// Names with a transfer into this folder under way, so that two
    /// transfers of one name cannot race: the second is refused at once.
    receiving: Arc<Mutex<HashSet<String>>>,
    /// The SHA-256 of whole files already hashed, by name, with the size
    /// and time of change they had: every downloader of a file asks for
    /// its hash, and hashing it again each time would cost a read of the
    /// whole file. A file that changed (another size or time) is hashed
    /// again.
    hashes: Arc<Mutex<HashMap<String, KnownHash>>>,
}

/// One file the folder shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub name: String,
    pub size: u64,
    pub modified: Date,
}

/// What a look at the folder found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The shared files, in name order.
    pub files: Vec<SharedFile>,
    /// Entries not shared, with the reason, for a warning.
    pub skipped: Vec<(String, String)>,
}

impl SharedFile {
    /// The record that announces this file, served at `addr`.
    pub fn record(&self, addr: SocketAddr) -> FileRecord {
        FileRecord {
            name: self.name.clone(),
            file_type: type_of(&self.name),
            size: self.size,
            modified: self.modified,
            ip: addr.ip(),
            port: addr.port(),
        }
    }
}

impl SharedFolder {
    /// Opens a served folder, which must exist, and removes the temporary
    /// files a crash may have left in it. Returns the folder and how many
    /// leftovers were removed.
    pub fn open(dir: &Path) -> Result<(SharedFolder, usize)> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Other(format!(
                "{} is a file, not a folder: --dir takes the folder that holds the files to share \
                 (e.g. --dir {})",
                dir.display(),
                dir.parent().unwrap_or(Path::new(".")).display()
            )));
        }
        if !dir.is_dir() {
            return Err(Error::Other(format!(
                "the served folder {} does not exist (create it, or pick another with --dir)",
                dir.display()
            )));
        }
        let folder = SharedFolder {
            dir: dir.to_path_buf(),
            receiving: Arc::default(),
            hashes: Arc::default(),
        };
        let mut removed = 0;
        for entry in
            fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                fs::remove_file(entry.path()).map_err(|e| {
                    Error::io(
                        format!("removing the leftover {}", entry.path().display()),
                        e,
                    )
                })?;
                removed += 1;
            }
        }
        Ok((folder, removed))
    }

    /// The folder's path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lists the files the folder shares.
    pub fn scan(&self) -> Result<Scan> {
        let mut scan = Scan::default();
        let reading = |e| {
            Error::io(
                format!("reading the served folder {}", self.dir.display()),
                e,
            )
        };
        for entry in fs::read_dir(&self.dir).map_err(reading)? {
            let entry = entry.map_err(reading)?;
            let Ok(name) = entry.file_name().into_string() else {
                let shown = entry.file_name().to_string_lossy().into_owned();
                scan.skipped
                    .push((shown, "the name is not UTF-8 text".into()));
                continue;
            };
            if name.starts_with('.') {
                continue; // hidden and temporary files: silently private
            }
            // `symlink_metadata` describes the entry itself: a link is a link,
            // never the file it points to.
            let shareable = fs::symlink_metadata(entry.path())
                .map_err(|e| Invalid(e.to_string()))
                .and_then(|meta| regular_file(&meta).map(|()| meta))
                .and_then(|meta| check_name(&name).map(|()| meta));
            match shareable {
                Ok(meta) => scan.files.push(SharedFile {
                    size: meta.len(),
                    modified: modified_date(&meta),
                    name,
                }),
                Err(Invalid(reason)) => scan.skipped.push((name, reason)),
            }
        }
        scan.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(scan)
    }

    /// Opens a shared file for sending, if the folder shares a file with
    /// exactly this name, type and size.
    pub fn open_to_send(&self, spec: &FileSpec) -> Result<File> {
        let not_served = |why: &str| Error::NotServed {
            name: spec.name.clone(),
            why: why.to_string(),
        };
        check_name(&spec.name).map_err(|reason| not_served(&reason.0))?;
        let path = self.dir.join(&spec.name);
        // Look before opening: opening a pipe would block, and a link could
        // lead out of the folder.
        let before = fs::symlink_metadata(&path).map_err(|_| not_served("no such file"))?;
        regular_file(&before).map_err(|reason| not_served(&reason.0))?;
        let file =
            File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let opened = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        // The entry could have been swapped for a link between the look and
        // the open; make sure we opened the very file we looked at.
        if !same_file(&before, &opened) {
            return Err(not_served("it changed while being opened"));
        }
        spec.check_type().map_err(|reason| not_served(&reason.0))?;
        if opened.len() != spec.size {
            return Err(not_served(&format!(
                "its size is {}, not {}",
                opened.len(),
                spec.size
            )));
        }
        Ok(file)
    }

    /// The SHA-256 of the bytes `request` names (the whole file, or a
    /// range of it), if the folder serves exactly that file. The file is
    /// read through one buffer, never held whole in memory.
    pub fn hash_of(&self, request: &DownloadRequest) -> Result<Digest> {
        let file = self.open_to_send(&request.file)?;
        let (offset, len) = request
            .byte_range()
            .ok_or_else(|| Error::Conflict("the range starts past the end of the file".into()))?;
        let name = &request.file.name;
        // A whole file's hash is remembered while the file stays the same.
        let whole = offset == 0 && len == request.file.size;
        let changed = file.metadata().and_then(|meta| meta.modified()).ok();
        let key = changed
            .filter(|_| whole)
            .map(|time| (request.file.size, time));
        if let Some((size, time)) = key {
            if let Some(&(s, t, digest)) = lock(&self.hashes).get(name) {
                if (s, t) == (size, time) {
                    return Ok(digest);
                }
            }
        }
        // Hashed with no lock held: it reads the whole range.
        let digest = hash_part(file, offset, len, name)?;
        if let Some((size, time)) = key {
            let mut hashes = lock(&self.hashes);
            if hashes.len() >= HASHES_KEPT {
                hashes.clear();
            }
            hashes.insert(name.clone(), (size, time, digest));
        }
        Ok(digest)
    }

    /// Whether anything, of any kind, has this name in the folder.
    pub fn contains(&self, name: &str) -> bool {
        fs::symlink_metadata(self.dir.join(name)).is_ok()
    }

    /// Starts receiving a file called `name`: reserves the name and creates
    /// the temporary file. Fails if the name is not shareable, exists
    /// already, or is being received right now.
    /// This is the one check of a name that arrives: a download checks
    /// nothing else before it asks anybody for anything.
    pub fn arriving(&self, name: &str) -> Result<Incoming> {
        check_name(name).map_err(|reason| Error::bad_name(name, reason))?;
        if !lock(&self.receiving).insert(name.to_string()) {
            return Err(Error::CurrentlyReceiving(name.to_string()));
        }
        // From here on the reservation is released by `Incoming`'s drop.
        let mut incoming = Incoming {
            folder: self.clone(),
            name: name.to_string(),
            temp_path: None,
        };
        // Nothing arriving ever replaces a file.
        if self.contains(name) {
            return Err(already_here(name));
        }
        let temp_path = self.dir.join(temp_name());
        File::create_new(&temp_path).map_err(|e| {
            Error::io(
                format!("creating the temporary file {}", temp_path.display()),
                e,
            )
        })?;
        incoming.temp_path = Some(temp_path);
        Ok(incoming)
    }
}

/// A file on its way into the folder. Write through [`Incoming::writer`]
/// (or to [`Incoming::temp_path`]), then [`Incoming::finish_from`].
/// Dropped without finishing, it removes the temporary file and frees the
/// name: a failed transfer leaves nothing behind.
#[derive(Debug)]
pub struct Incoming {
    folder: SharedFolder,
    name: String,
    temp_path: Option<PathBuf>,
}

impl Incoming {
    /// The name the file gets once it is whole.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder it arrives in.
    pub fn folder_dir(&self) -> &Path {
        &self.folder.dir
    }

    /// Where to write the bytes.
    pub fn temp_path(&self) -> &Path {
        // Set in `arriving` before an `Incoming` is handed out.
        self.temp_path.as_deref().unwrap_or(Path::new(""))
    }

    /// The whole arrival in one call: `write` fills the temporary file
    /// through a buffer, then the file is checked to hold `size` bytes and
    /// given its name. On any failure nothing is left behind. Uploads and
    /// `publish` arrive this way; a download uses the two steps,
    /// [`Incoming::writer`] and [`Incoming::finish_from`].
    pub fn fill(
        self,
        size: u64,
        write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
    ) -> Result<PathBuf> {
        let mut sink = self.writer()?;
        write(&mut sink)?;
        self.finish_from(sink, size)
    }

    /// A buffered writer on the temporary file, emptied first: a second
    /// try, after a holder failed half-way, starts from byte 0. (A
    /// multi-peer fetch opens the file itself, a handle per range.)
    pub fn writer(&self) -> Result<BufWriter<File>> {
        let path = self.temp_path();
        let failed = |e| Error::io(format!("opening {}", path.display()), e);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(failed)?;
        cut_to(&file, 0).map_err(failed)?;
        Ok(BufWriter::with_capacity(IO_BUFFER_SIZE, file))
    }

    /// Writes out what `sink` still holds, then [`Incoming::finish`].
    pub fn finish_from(self, mut sink: BufWriter<File>, size: u64) -> Result<PathBuf> {
        sink.flush()
            .map_err(|e| Error::io(format!("writing {}", self.temp_path().display()), e))?;
        drop(sink);
        self.finish(size)
    }

    /// Checks that the temporary file has `expected_size` bytes and gives it
    /// its real name. Never replaces a file: if the name was taken in the
    /// meantime, this fails and the temporary file is removed.
    pub fn finish(mut self, expected_size: u64) -> Result<PathBuf> {
        let temp_path = self.temp_path.take().unwrap_or_default();
        let result = install(&temp_path, &self.folder.dir.join(&self.name), expected_size);
        let _ = fs::remove_file(&temp_path);
        result
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // The name first: once the temporary file is gone, the name is
        // free, for whoever sees the folder. (A new arrival of the name
        // gets a temporary file of its own, so the two cannot clash.)
        lock(&self.folder.receiving).remove(&self.name);
        if let Some(temp_path) = self.temp_path.take() {
            let _ = fs::remove_file(temp_path);
        }
    }
}

/// Cuts `file` to `len` bytes, only if it is longer: a try before may have
/// left bytes in it. A cut that changes nothing is not free: Linux's ext4
/// takes "emptied, then written" for a file being replaced, and writes its
/// bytes to disk as soon as it is closed, which halved a download's speed.
pub fn cut_to(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() > len {
        file.set_len(len)?;
    }
    Ok(())
}

fn install(temp_path: &Path, final_path: &Path, expected_size: u64) -> Result<PathBuf> {
    let size = fs::metadata(temp_path)
        .map_err(|e| Error::io("checking the received file", e))?
        .len();
    if size != expected_size {
        return Err(Error::OtherSide(format!(
            "received {size} bytes, expected {expected_size}"
        )));
    }
    // `rename` would silently replace a file that appeared under the final
    // name meanwhile. A hard link fails instead if the name exists, and is
    // atomic: the file appears whole, under its name, or not at all. The
    // caller then removes the temporary name.
    fs::hard_link(temp_path, final_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            // It appeared while the bytes were coming.
            let name = final_path.file_name().unwrap_or_default();
            already_here(&name.to_string_lossy())
        } else {
            Error::io(format!("naming {}", final_path.display()), e)
        }
    })?;
    Ok(final_path.to_path_buf())
}

/// The one error for a name that is taken.
fn already_here(name: &str) -> Error {
    Error::AlreadyServing(name.to_string())
}

/// A fresh temporary name: the process id and a counter keep two transfers
/// (even of two peers sharing a folder) from ever choosing the same one.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{PARTIAL_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The SHA-256 of `len` bytes of `file` from `offset`, read through one
/// buffer. `what` names the file in errors.
pub fn hash_part(mut file: File, offset: u64, len: u64, what: &str) -> Result<Digest> {
    let reading = |e| Error::io(format!("reading {what}"), e);
    file.seek(SeekFrom::Start(offset)).map_err(reading)?;
    let mut source = file.take(len);
    let mut sha = Sha256::new();
    let mut buffer = vec![0u8; IO_BUFFER_SIZE];
    let mut read = 0;
    loop {
        match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                sha.update(&buffer[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(reading(e)),
        }
    }
    if read != len {
        return Err(Error::Conflict(format!(
            "{what} shrank while being read: {read} of {len} bytes"
        )));
    }
    Ok(sha.finish())
}

/// Only plain files are shared: not links, folders, devices or pipes.
fn regular_file(meta: &Metadata) -> std::result::Result<(), Invalid> {
    let file_type = meta.file_type();
    let reason = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_symlink() {
        "symbolic links are not shared"
    } else if file_type.is_dir() {
        "folders are not shared"
    } else {
        "only regular files are shared"
    };
    Err(Invalid(reason.into()))
}

/// The last-modified day (UTC) of a file.
fn modified_date(meta: &Metadata) -> Date {
    Date::from_system_time(meta.modified().unwrap_or(std::time::UNIX_EPOCH))
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino() && b.is_file()
}

#[cfg(not(unix))]
fn same_file(_a: &Metadata, b: &Metadata) -> bool {
    b.is_file()
}

#[cfg(test)]
mod tests;
