//! Step 3 of the benchmark, `verify`: what checking a download against its
//! holder's SHA-256 costs. Our SHA-256 is timed against the system's
//! `sha256sum` on the same file, and a verified transfer (the bytes hashed
//! as they are written, the holder asked for its `HASH` meanwhile, as
//! `download` does) against the plain transfer of step 1.

use super::transfer::mib_per_s;
use super::workspace::{open, remove};
use super::{figure, file_spec, quiet_log};
use p2p_share::error::{Error, Result};
use p2p_share::peer::client::{self, Hashing, Verification};
use p2p_share::wire::connection::IO_BUFFER_SIZE;
use p2p_share::wire::protocol::DownloadRequest;
use p2p_share::wire::sha256::Sha256;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each figure is the best of this many rounds, as in step 1.
const VERIFY_ROUNDS: usize = 3;

/// Prints the figures of the step; returns verified / plain transfer.
pub(super) fn measure_verify(
    source: &Path,
    size: u64,
    folder: &Path,
    peer: SocketAddr,
    plain: f64,
) -> Result<f64> {
    let ours = best_of(|| hash_file(source))?;
    let ours = mib_per_s(size, ours);
    figure("sha256", format!("{ours:.1}"), "MiB/s");
    match sha256sum_time(source)? {
        Some(theirs) => {
            let theirs = mib_per_s(size, theirs);
            figure("sha256sum", format!("{theirs:.1}"), "MiB/s");
            figure("sha256_vs_sha256sum", format!("{:.2}", ours / theirs), "x");
        }
        None => println!("note: sha256sum is not installed: our SHA-256 is not compared"),
    }
    let target = folder.join("verified-copy");
    let verified = best_of(|| verified_download(peer, size, &target))?;
    let verified = mib_per_s(size, verified);
    figure("transfer_verified", format!("{verified:.1}"), "MiB/s");
    figure(
        "verified_vs_transfer",
        format!("{:.2}", verified / plain),
        "x",
    );
    Ok(verified / plain)
}

/// The best time of [`VERIFY_ROUNDS`] runs of `work`.
fn best_of(mut work: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..VERIFY_ROUNDS {
        best = best.min(work()?);
    }
    Ok(best)
}

/// Our SHA-256 of the whole file, read through one buffer.
fn hash_file(source: &Path) -> Result<Duration> {
    let start = Instant::now();
    let mut file = open(source)?;
    let mut buffer = vec![0u8; IO_BUFFER_SIZE];
    let mut sha = Sha256::new();
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io(format!("reading {}", source.display()), e))?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
    }
    sha.finish();
    Ok(start.elapsed())
}

/// `sha256sum FILE`, best of [`VERIFY_ROUNDS`]; `None` where it is missing.
fn sha256sum_time(source: &Path) -> Result<Option<Duration>> {
    let mut best = Duration::MAX;
    for _ in 0..VERIFY_ROUNDS {
        let start = Instant::now();
        let status = Command::new("sha256sum")
            .arg(source)
            .stdout(Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => best = best.min(start.elapsed()),
            Ok(status) => return Err(Error::Other(format!("sha256sum failed: {status}"))),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(best))
}

/// One verified DOWNLOAD into `target`, as the peer's `download` does it:
/// HASH asked in a thread of its own, the bytes hashed as they are
/// written; the two must agree.
pub(super) fn verified_download(peer: SocketAddr, size: u64, target: &Path) -> Result<Duration> {
    let request = DownloadRequest {
        file: file_spec(size),
        range: None,
    };
    let log = quiet_log();
    let start = Instant::now();
    let said = client::hash_in_background(peer, &request, &log)?;
    let file =
        File::create(target).map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
    let mut sink = Hashing::new(BufWriter::with_capacity(IO_BUFFER_SIZE, file))?;
    client::download_to(peer, &request, &mut sink, &log, &mut |_| {})?;
    let (mut written, received) = sink.finish()?;
    written
        .flush()
        .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
    let said = said
        .recv()
        .map_err(|_| Error::Other("the HASH thread ended without an answer".into()))?;
    // Our own peer answers HASH: anything but agreement is a failure here.
    match client::verify("the benchmark's peer", said, &received)? {
        Verification::Verified(_) => {}
        Verification::Unverified(why) => return Err(Error::Other(why)),
    }
    let elapsed = start.elapsed();
    remove(target)?;
    Ok(elapsed)
}
