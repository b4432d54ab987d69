//! A peer-to-peer file-sharing system for teaching: a central file tracker
//! knows which peer has which file, and peers download from each other
//! directly, over a plain-text protocol on TCP.
//!
//! Read the modules in this order (the README says the same):
//! 1. [`protocol`]: every message as a type, with `parse` and `format`.
//! 2. [`connection`]: lines and 100-byte file chunks on a socket.
//! 3. [`settings`], [`shared_folder`]: who is where, and what a peer shares.
//! 4. [`server`]: a thread per connection, with a cap; [`open_files`]: the
//!    open-file limit the cap must fit under.
//! 5. [`tracker`]: the file tracker, with [`liveness`] to forget vanished
//!    machines; [`console`]: its operator console.
//! 6. [`peer_server`]: how a peer answers other peers.
//! 7. [`peer_client`], [`tracker_link`] (with [`announce`]), [`fetch`]: how a
//!    peer asks.
//! 8. [`peer`]: one peer put together; [`shell`]: its command shell.
//! 9. [`demo`], [`bench`](mod@bench): the one-command demo and the benchmark.

#![forbid(unsafe_code)]

pub mod announce;
pub mod bench;
pub mod cli;
pub mod connection;
pub mod console;
pub mod date;
pub mod demo;
pub mod error;
pub mod fetch;
pub mod liveness;
pub mod log;
pub mod open_files;
pub mod peer;
pub mod peer_client;
pub mod peer_server;
pub mod protocol;
pub mod server;
pub mod settings;
pub mod shared_folder;
pub mod shell;
pub mod temp_dir;
pub mod tracker;
pub mod tracker_link;

pub use error::{Error, Result};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex. If a thread panicked while holding it, that thread's
/// connection is already gone; every change we make under a lock is a
/// single insert or remove, so the data is still whole and the other
/// connections go on with it instead of panicking in turn.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
