//! File bodies: `FILE: ` and then exactly as many raw bytes as the
//! request said, in [`CHUNK_SIZE`] chunks.

use super::lines::plain_timeout;
use super::{Connection, Wait};
use crate::error::{Error, Result};
use crate::wire::protocol::{CHUNK_SIZE, FILE_HEADER};
use crate::wire::text::thousands;
use crate::wire::trace::Direction;
use std::io::{self, Read, Write};
use std::panic::Location;
use std::time::{Duration, Instant};

impl Connection {
    /// Sends `FILE: ` and then exactly `len` bytes from `source`, in
    /// [`CHUNK_SIZE`] chunks. `source` should itself be buffered (a
    /// `BufReader` over the file) for the same reason the socket is.
    ///
    /// `progress` hears the byte count handed to the system so far, after
    /// each chunk.
    #[track_caller]
    pub fn send_file(
        &mut self,
        source: &mut impl Read,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.at = Location::caller();
        self.trace(Direction::Sent, || body_trace(len).into());
        let sending = |e| Error::io(format!("sending the file to {}", self.other_end), e);
        self.writer
            .write_all(FILE_HEADER.as_bytes())
            .map_err(sending)?;
        let mut chunk = [0u8; CHUNK_SIZE];
        let mut sent: u64 = 0;
        while sent < len {
            let size = chunk_len(len - sent);
            source.read_exact(&mut chunk[..size]).map_err(|e| {
                Error::io(
                    "reading the file to send (did it change while being sent?)",
                    e,
                )
            })?;
            // `demo --slow` only: send each chunk on its own, after a
            // pause, so a class can watch chunks from two peers take turns.
            if let Some(pause) = self.chunk_pause {
                self.writer.flush().map_err(sending)?;
                std::thread::sleep(pause);
            }
            // Into the 64 KiB buffer, not straight onto the wire: the buffer
            // turns hundreds of chunks into one system call.
            self.writer.write_all(&chunk[..size]).map_err(sending)?;
            sent += size as u64;
            progress(sent);
        }
        self.writer.flush().map_err(sending)
    }

    /// Reads exactly `len` bytes of a file body (after [`FileOrMessage::File`](super::FileOrMessage::File))
    /// into `sink`, in [`CHUNK_SIZE`] chunks, calling `progress` with the
    /// byte count so far after each chunk.
    #[track_caller]
    pub fn receive_file(
        &mut self,
        sink: &mut impl Write,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.at = Location::caller();
        // A read returns as soon as any byte arrives, so a read time-out of
        // `stall` is exactly "no progress for `stall`".
        self.set_read_timeout(Some(self.stall))?;
        // `demo --slow` shows each chunk as it arrives: the header first,
        // in the order things come on the wire.
        let chunk_by_chunk = self.chunk_pause.is_some();
        if chunk_by_chunk {
            self.trace(Direction::Received, || body_trace(len).into());
        }
        let mut received: u64 = 0;
        let result = self.receive_chunks(sink, len, &mut received, progress);
        // Otherwise traced once the body is over, so that it says what
        // really came; chunk by chunk, only a body that broke off says more.
        let header = if chunk_by_chunk { "" } else { FILE_HEADER };
        match &result {
            Ok(()) if chunk_by_chunk => {}
            Ok(()) => self.trace(Direction::Received, || body_trace(len).into()),
            Err(error) => self.trace(Direction::Received, || {
                format!("{header}({received} of {len} bytes: {error})").into()
            }),
        }
        result
    }

    /// The loop of [`Connection::receive_file`]: `received` counts every
    /// byte that came, also when the body breaks off.
    fn receive_chunks(
        &mut self,
        sink: &mut impl Write,
        len: u64,
        received: &mut u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let mut chunk = [0u8; CHUNK_SIZE];
        while *received < len {
            let size = chunk_len(len - *received);
            // Fill the chunk read by read, counting every byte, so that a
            // sender cut off mid-chunk is reported to the byte.
            let mut filled = 0;
            while filled < size {
                match self.reader.read(&mut chunk[filled..size]) {
                    Ok(0) => {
                        *received += filled as u64;
                        return Err(Error::OtherSide(format!(
                            "{} stopped sending after {} of {len} bytes",
                            self.other_name, *received
                        )));
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        *received += filled as u64;
                        return Err(Error::io(
                            format!("receiving the file from {}", self.other_name),
                            plain_timeout(e, Wait::NoProgressFor(self.stall)),
                        ));
                    }
                }
            }
            sink.write_all(&chunk[..size])
                .map_err(|e| Error::io("writing the received file", e))?;
            *received += size as u64;
            // `demo --slow` only: show each chunk arrive.
            if self.chunk_pause.is_some() {
                let number = received.div_ceil(CHUNK_SIZE as u64);
                let of = len.div_ceil(CHUNK_SIZE as u64);
                let text = format!("chunk {number} of {of} ({size} bytes)");
                self.trace(Direction::Received, || text.into());
            }
            progress(*received);
        }
        Ok(())
    }

    /// After a file body: the sender must close now. Waits up to `wait` for
    /// the close; a byte more than announced is an error (the sender and we
    /// disagree on where the file ends, so what we have may be shifted: a
    /// stray line end before the bytes does exactly that). A sender that
    /// keeps the connection open without sending is let be.
    #[track_caller]
    pub fn expect_end_of_body(&mut self, wait: Duration) -> Result<()> {
        self.at = Location::caller();
        self.set_read_timeout(Some(wait))?;
        let (extra, all) = self.count_extra_bytes(wait);
        if extra == 0 {
            return Ok(());
        }
        let many = if all {
            thousands(extra)
        } else {
            format!("at least {}", thousands(extra))
        };
        self.trace(Direction::Received, || {
            format!("(then {many} bytes more than the file's size)").into()
        });
        Err(Error::OtherSide(format!(
            "{} sent more bytes than the file's size it was asked for ({many} too many); \
             the copy may be shifted, so it is not kept",
            self.other_name
        )))
    }

    /// Counts the bytes that come after a body, for up to `wait`, and at
    /// most [`EXTRA_COUNTED_MAX`]; says whether the count is all of them
    /// (the sender closed after them).
    fn count_extra_bytes(&mut self, wait: Duration) -> (usize, bool) {
        let started = Instant::now();
        let mut extra = 0;
        let mut buffer = [0u8; 4096];
        while extra < EXTRA_COUNTED_MAX && started.elapsed() < wait {
            match self.reader.read(&mut buffer) {
                Ok(0) => return (extra, true),
                Ok(n) => extra += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A time-out: the sender keeps the connection open, which
                // is let be. A reset after the whole body: what we have is
                // whole.
                Err(_) => return (extra, extra == 0),
            }
        }
        (extra, false)
    }
}

/// The most bytes after a body that are counted, to say how many too many
/// came: beyond this, "at least" this many.
const EXTRA_COUNTED_MAX: usize = 1024 * 1024;

/// How many bytes the next chunk holds when `left` bytes remain.
fn chunk_len(left: u64) -> usize {
    // `min` with CHUNK_SIZE first, so the cast can never truncate.
    left.min(CHUNK_SIZE as u64) as usize
}

/// What `--trace` shows for a file body (the bytes themselves would flood
/// the terminal).
fn body_trace(len: u64) -> String {
    let chunks = len.div_ceil(CHUNK_SIZE as u64);
    format!("{FILE_HEADER}({len} bytes in {chunks} chunks of {CHUNK_SIZE})")
}
