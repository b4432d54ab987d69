//! A peer-to-peer file-sharing system for teaching: a central file tracker
//! knows which peer has which file, and peers download from each other
//! directly, over a plain-text protocol on TCP.
//!
//! Read the modules in this order (the README links here). Each of the
//! first four uses only what comes before it in this list, never what
//! comes after; the last two, the demo and the web page, use each other
//! (the demo can show itself on a page):
//! 1. [`wire`]: the protocol on the wire, with no knowledge of who speaks
//!    it: every message as a type with pure `parse` and `format`
//!    ([`wire::protocol`]), the one check of a file name
//!    ([`wire::names`]), dates as `DD/MM/YY` ([`wire::date`]), another
//!    node's text made safe to show ([`wire::text`]), the SHA-256 that
//!    proves a file arrived as its holder has it ([`wire::sha256`]), and
//!    the one place
//!    that reads and writes a socket ([`wire::connection`]), which tells a
//!    [`wire::trace::Tracer`] what crossed the wire. It uses nothing else
//!    of the crate but the error type, [`error`], which stands beside it
//!    at the bottom (an error can be a protocol error of `wire`'s).
//! 2. The shared pieces both programs stand on: [`log`] (events and
//!    traces, the `Tracer` of every connection), [`settings`] (who is
//!    where), [`server`] (a thread per connection, with a cap that fits
//!    under the [`open_files`] limit), [`temp_dir`] and [`cli`] (the
//!    binaries' arguments, and the "did you mean ...?" of both shells:
//!    words and numbers only, so it knows neither the tracker nor the
//!    peer nor the web page), and [`source`] (the
//!    program's own copy of its source, to show the code behind a line).
//! 3. [`tracker`]: the file tracker, the index of who shares what, the
//!    liveness rules that forget vanished machines, and its console.
//! 4. [`peer`]: one peer: its served folder, its server for other peers,
//!    its client side, its session with the tracker, the multi-peer fetch
//!    and its command shell. The tracker and the peer do not use each
//!    other: what both need is in the layers above.
//! 5. [`demo`]: the whole system in one process, narrated.
//! 6. [`web`]: the web page of a peer or of the tracker: the same
//!    [`server`] speaking HTTP, with live updates of the [`log`].
//!
//! (The list of modules below is in alphabetical order, as `cargo doc`
//! always sorts it; this one is the order to read them in.)
//!
//! ```text
//!    wire (protocol, names, text, sha256, connection, trace)  +  error
//!                   ^                        ^
//!   log, settings, server, cli, ...          |
//!        ^                    ^              |
//!     tracker  <── TCP ──>  peer  <── TCP ──> peer
//!   (index, liveness,     (folder, server, client,
//!    console)              tracker_session, fetch, shell)
//! ```
//!
//! The tracker, peer and demo binaries in `bin/` are thin: arguments in
//! ([`cli`]), a library call, errors out. The benchmark (`bin/bench/`) and
//! the protocol checker (`bin/check/`) are programs of their own, standing
//! on this library's public API like any other user of it.

#![forbid(unsafe_code)]

pub mod cli;
pub mod demo;
pub mod error;
pub mod log;
pub mod open_files;
pub mod peer;
pub mod server;
pub mod settings;
pub mod source;
pub mod temp_dir;
pub mod tracker;
pub mod web;
pub mod wire;

pub use error::{Error, Result};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex. If a thread panicked while holding it, that thread's
/// connection is already gone; every change we make under a lock is a
/// single insert or remove, so the data is still whole and the other
/// connections go on with it instead of panicking in turn.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
