//! The protocol on the wire: what the bytes between two nodes mean, and
//! nothing about who sends them or why. Nothing here uses the rest of the
//! crate but its error type ([`crate::error`]).
//!
//! - [`protocol`]: every line of the protocol as a type, with pure
//!   `parse` and `format` (no I/O), and the rules for records.
//! - [`names`]: the one check of a file name, and a name's type.
//! - [`messages`]: who sends what: one type per conversation (requests
//!   to the tracker, its replies, requests to a peer, its replies).
//! - [`rules`]: the protocol's rules as one list (name, stage, sentence,
//!   the messages each is about), which the checker, the web page and the
//!   README share.
//! - [`date`]: the `DD/MM/YY` field of a record, from the standard library
//!   alone.
//! - [`sha256`]: the SHA-256 hash, which lets a peer check that the bytes
//!   it received are the bytes its holder has.
//! - [`text`]: another node's text, escaped and cut, to be shown safely.
//! - [`trace`]: who hears the lines a connection sends and receives; the
//!   program's log is one such [`trace::Tracer`].
//! - [`connection`]: one TCP connection with the protocol's framing on
//!   top: bounded lines, `FILE: ` bodies in 100-byte chunks, time limits,
//!   `--trace`. The only code that reads or writes a socket.

pub mod connection;
pub mod date;
pub mod messages;
pub mod names;
pub mod protocol;
pub mod rules;
pub mod sha256;
pub mod text;
pub mod trace;
