//! Step 5 of the benchmark, `memory`: the peak memory of a peer process
//! serving the file, and of one downloading it. A peer should stream a
//! file in chunks and never hold it whole, and only the peak shows that.

use super::child_modes::AS_DOWNLOADER;
use super::children::ChildProcess;
use super::proc::status_kib;
use super::workspace::{check_same, remove, Workspace};
use super::{figure, FILE_NAME};
use p2p_share::error::{Error, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long the downloading child may take for the whole file.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Peak memory (MiB) of a peer process serving, and of one downloading.
pub(super) struct MemoryFigures {
    pub(super) serving: f64,
    pub(super) downloading: f64,
}

/// A downloader process fetches the whole file from the first peer; then
/// both peaks are read. The serving peer's peak covers every transfer it
/// served in this run.
pub(super) fn measure_memory(
    workspace: &Workspace,
    source: &Path,
    size: u64,
    peer: &ChildProcess,
    peer_addr: SocketAddr,
) -> Result<MemoryFigures> {
    let dir = workspace.new_folder("downloader")?;
    let downloader = ChildProcess::spawn(
        "downloader",
        vec![
            AS_DOWNLOADER.into(),
            peer_addr.to_string().into(),
            FILE_NAME.into(),
            size.to_string().into(),
            dir.clone().into(),
        ],
        &workspace.root.join("downloader.log"),
    )?;
    let report = downloader.next_report(DOWNLOAD_TIMEOUT)?;
    let downloading_kib = report
        .strip_prefix("peak-kib ")
        .and_then(|kib| kib.parse::<u64>().ok())
        .ok_or_else(|| Error::Other(format!("the downloader reported {report:?}")))?;
    drop(downloader);
    let path = dir.join(FILE_NAME);
    check_same(source, &path)?;
    remove(&path)?;
    let serving = status_kib(peer.pid(), "VmHWM")? as f64 / 1024.0;
    let downloading = downloading_kib as f64 / 1024.0;
    figure("memory_peer_serving", format!("{serving:.1}"), "MiB");
    figure(
        "memory_peer_downloading",
        format!("{downloading:.1}"),
        "MiB",
    );
    Ok(MemoryFigures {
        serving,
        downloading,
    })
}
