//! Shared helpers for the black-box integration tests.
//!
//! The tests run the real `tracker` and `peer` binaries on free loopback
//! ports, with their own temporary folders and settings files. Every helper
//! here cleans up after itself when dropped, also when a test panics:
//! processes are killed and waited for, temporary folders are removed.
//! Nothing sleeps for a fixed time to "let things settle": every wait is a
//! poll with a deadline, which fails with a clear message.
//!
//! The files, by purpose:
//! - `waiting.rs`: `wait_until`, `wait_for` and the deadlines every wait uses;
//! - `processes.rs`: a running program (`Node`), killed when dropped, and
//!   commands typed into its shell or console;
//! - `net.rs`: a test network (`Net`): ports, a settings file, a served
//!   folder per peer, starting the programs; the open-file limit;
//! - `files.rs`: temporary folders, what a folder holds, file dates;
//! - `client.rs`: the raw protocol `Client`, lines and bytes on a socket;
//! - `fakes.rs`: fake peers joined to the tracker (`Probe`) and a fake
//!   seeder;
//! - `random.rs`: fixed byte patterns and the seeded generator for fuzzing;
//! - `checker.rs`: running the protocol checker and reading its report;
//! - `students.rs`: fakes of student trackers and seeders, each with one
//!   named fault, for the checker (and our peer) to meet;
//! - `netns.rs`: a lab of simulated machines (network namespaces);
//! - `web.rs`: the web pages' tests: HTTP, the event stream, a browser.
//!
//! Why some helpers are "unused": every file in `tests/` is a test program
//! of its own that compiles this folder again, and each uses a different
//! part of it. The compiler would call the rest dead code in each of them,
//! so each test file allows dead code on its `mod common;` line only, with
//! that reason beside it; every other warning and clippy lint still
//! applies here. The price: the compiler no longer finds a helper that no
//! test file uses at all, so look for its name in `tests/` before keeping
//! one; such a helper should go.

/// Running the protocol checker and reading its report.
pub mod checker;
pub mod client;
pub mod fakes;
pub mod files;
pub mod net;
/// A lab of simulated machines (network namespaces), for the multi-host tests.
pub mod netns;
pub mod processes;
pub mod random;
/// Fakes of student programs, each with its named fault.
pub mod students;
pub mod waiting;
pub mod web;

// The test files use the helpers by name, without caring which file holds
// them: `use common::*;`. A test file that uses nothing of one of these
// files would call its line an unused import, for the same reason as the
// dead code above.
#[allow(unused_imports)]
pub use self::{client::*, fakes::*, files::*, net::*, processes::*, random::*, waiting::*};
