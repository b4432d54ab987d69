//! A peer's requests and replies: one request per connection, and the
//! judgment of a `FILE: ` or `ERROR:` reply, as precise as can be told
//! about what came.

use super::Peer;
use crate::probe::{count, seconds, show, Probe, Received, Transcript, EXTRA_LIMIT, MAX_LINE};
use crate::rules::{Checked, Miss};
use std::time::Duration;

/// The fault of a peer that answers only once the requester has closed
/// its sending side.
pub const HALF_CLOSE: &str = "no answer came until the checker closed its sending side (a \
    half-close; without it, nothing came within the time limit): a request is one line; answer it when its \\n has come, not at the end of the \
    stream";

pub fn connect(peer: &Peer, t: &Transcript, name: &str) -> Result<Probe, String> {
    Probe::connect(peer.addr, name, peer.limit, t)
}

/// Sends one request line on a new connection, for a reply read by the
/// caller (half-closed when the peer answers only so).
pub fn request(peer: &Peer, t: &Transcript, name: &str, line: &str) -> Result<Probe, String> {
    let mut a = connect(peer, t, name)?;
    a.send_line(line)?;
    if peer.needs_half_close.get() {
        a.shut_write();
    }
    Ok(a)
}

/// Sends `request` (and its line end) on a new
/// connection, and reads everything up to the close (`most` bytes at most,
/// within `wait`). A peer that answers nothing in time gets the request
/// again, with the checker's side closed after it: when that is answered,
/// the peer is known to wait for the close, and the later requests
/// half-close at once. The reply that came is judged all the same; the
/// fault is said once, by the first rule that judges a reply after it was
/// found (see [`with_half_close`]).
pub fn exchange(
    peer: &Peer,
    t: &Transcript,
    name: &str,
    request: &[u8],
    (most, wait): (usize, Duration),
) -> Result<Received, String> {
    let line = [request, b"\n"].concat();
    let half_close = peer.needs_half_close.get();
    let mut a = connect(peer, t, name)?;
    a.send(&line)?;
    if half_close {
        a.shut_write();
    }
    let received = a.read_to_close(most, wait);
    let answered = !received.bytes.is_empty() || received.end.is_closed();
    if half_close || answered || peer.half_close_useless.get() {
        return Ok(received);
    }
    let again = format!("{name}2");
    let mut b = connect(peer, t, &again)?;
    b.send(&line)?;
    b.shut_write();
    let second = b.read_to_close(most, wait);
    if second.bytes.is_empty() {
        // Not that either: no later request waits twice for nothing.
        peer.half_close_useless.set(true);
        return Ok(received);
    }
    peer.needs_half_close.set(true);
    peer.half_close_unsaid.set(true);
    Ok(second)
}

/// Sends `request` on a new connection and expects `FILE: `, exactly
/// `expected`, and the close.
pub fn expect_file(
    peer: &Peer,
    t: &Transcript,
    name: &str,
    request: &str,
    expected: &[u8],
) -> Checked {
    let most = b"FILE: ".len() + expected.len() + EXTRA_LIMIT;
    let limits = (most, peer.body_wait(expected.len()));
    let received = exchange(peer, t, name, request.as_bytes(), limits)?;
    let judged = with_half_close(peer, judge_file(&received, expected));
    judged.map_err(|why| match received.bytes.starts_with(b"ERROR") {
        // For an extension request, ERROR: may mean "not offered": the
        // caller decides.
        true => Miss::NotOffered(why),
        false => Miss::Broken(why),
    })
}

/// Sends `request` (and a line end) on a new connection and expects one
/// `ERROR:` line, then the close.
pub fn expect_error(peer: &Peer, t: &Transcript, name: &str, request: &[u8]) -> Checked {
    let received = exchange(peer, t, name, request, (MAX_LINE, peer.limit))?;
    Ok(with_half_close(peer, judge_error(&received))?)
}

/// The half-close fault, said first, when it was found and not said yet.
fn with_half_close(peer: &Peer, judged: Result<(), String>) -> Result<(), String> {
    match (judged, peer.half_close_unsaid.replace(false)) {
        (judged, false) => judged,
        (Ok(()), true) => Err(format!("{HALF_CLOSE} (the reply was right then)")),
        (Err(why), true) => Err(format!("{HALF_CLOSE}; and then: {why}")),
    }
}

/// Whether a reply is `FILE: `, exactly `expected`, then the close; if not,
/// what is wrong with it, as precisely as can be told.
pub fn judge_file(received: &Received, expected: &[u8]) -> Result<(), String> {
    let bytes = &received.bytes;
    let Some(body) = bytes.strip_prefix(b"FILE: ") else {
        return Err(not_a_file(received));
    };
    if body == expected {
        return match received.end.is_closed() {
            true => Ok(()),
            false => Err("after the file's bytes B must close the connection".into()),
        };
    }
    for line_end in [&b"\r\n"[..], b"\n"] {
        if expected.starts_with(line_end) {
            continue;
        }
        if let Some(rest) = body.strip_prefix(line_end) {
            return Err(format!(
                "{} came between FILE: and the file's bytes: the bytes follow the space at once; then {}",
                show(line_end),
                what_came(rest, expected)
            ));
        }
    }
    Err(body_fault(body, expected))
}

/// A reply that does not even start with `FILE: `: what came instead.
fn not_a_file(received: &Received) -> String {
    let bytes = &received.bytes;
    if bytes.starts_with(b"FILE:") {
        return "FILE: must be followed by one space, then the bytes at once".into();
    }
    if bytes.starts_with(b"ERROR") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        return format!("answered {} instead of FILE: and the bytes", show(line));
    }
    if bytes.is_empty() {
        return nothing_came(received);
    }
    "the reply must start with FILE: (with its space)".into()
}

/// "nothing came", and how the connection ended.
fn nothing_came(received: &Received) -> String {
    match received.end {
        end if end.is_closed() => "nothing came: B closed the connection without a word".into(),
        crate::probe::End::Open(waited) => {
            format!(
                "nothing came within {} (the connection stayed open)",
                seconds(waited)
            )
        }
        _ => "nothing came".into(),
    }
}

/// What came where the file's bytes should be, as a phrase: "the whole
/// file", "0 of the file's 986 bytes", ...
fn what_came(body: &[u8], expected: &[u8]) -> String {
    let want = count(expected.len(), "byte");
    if body == expected {
        return "the whole file".into();
    }
    if body.len() < expected.len() && expected.starts_with(body) {
        return format!("{} of the file's {want}", body.len());
    }
    if body.starts_with(expected) {
        return format!(
            "the whole file and {} more",
            count(body.len() - expected.len(), "byte")
        );
    }
    if let Some(how) = reencoded(body, expected) {
        return format!("the file's bytes re-encoded as text: {how}");
    }
    body_fault(body, expected)
}

/// What is wrong with a body that follows `FILE: ` at once.
fn body_fault(body: &[u8], expected: &[u8]) -> String {
    let want = expected.len();
    if body.len() < want && expected.starts_with(body) {
        return format!(
            "{} short: {} of the file's {} came",
            count(want - body.len(), "byte"),
            body.len(),
            count(want, "byte")
        );
    }
    if body.len() > want && body.starts_with(expected) {
        return format!(
            "{} too many: the file's {} came, then {}",
            count(body.len() - want, "byte"),
            count(want, "byte"),
            show(&body[want..])
        );
    }
    if let Some(how) = reencoded(body, expected) {
        return format!(
            "the bytes were re-encoded as text: {how}: send the file's bytes as they are"
        );
    }
    let at = body
        .iter()
        .zip(expected)
        .position(|(got, wanted)| got != wanted)
        .unwrap_or(want.min(body.len()));
    format!(
        "the bytes are not the file's: byte {at} of the body differs ({} bytes came, the file has {want})",
        body.len()
    )
}

/// Whether `body` is the file's bytes written as UTF-8 text (whole, or
/// its start): each byte of 0x80 and up read as a character of its own
/// (Latin-1) and written as 2 bytes, or each byte that is not UTF-8
/// written as the 3 bytes of the replacement character.
fn reencoded(body: &[u8], expected: &[u8]) -> Option<String> {
    let latin1: String = expected.iter().map(|&b| char::from(b)).collect();
    let lossy = String::from_utf8_lossy(expected);
    let ways = [
        (
            latin1.as_bytes(),
            "each byte of 0x80 and up came as 2 bytes (UTF-8)",
        ),
        (
            lossy.as_bytes(),
            "the bytes that are not UTF-8 came as \u{fffd} (U+FFFD, 3 bytes each)",
        ),
    ];
    let how = ways
        .into_iter()
        .find(|(text, _)| *text != expected && !body.is_empty() && text.starts_with(body))
        .map(|(_, how)| how)?;
    Some(format!(
        "{how}; {} came, the file has {}",
        count(body.len(), "byte"),
        count(expected.len(), "byte")
    ))
}

/// Whether a reply is one `ERROR:` line, then the close, and nothing else.
pub fn judge_error(received: &Received) -> Result<(), String> {
    let bytes = &received.bytes;
    if bytes.starts_with(b"FILE:") {
        return Err("sent FILE: to a request it must refuse".into());
    }
    if bytes.is_empty() {
        return Err(match received.end.is_closed() {
            true => "closed without a word: B must say ERROR: <reason> first".into(),
            false => "no answer: B must say ERROR: <reason> and close".into(),
        });
    }
    if !bytes.starts_with(b"ERROR:") {
        return Err("expected ERROR: <reason>".into());
    }
    match bytes.iter().position(|&b| b == b'\n') {
        None => Err("the ERROR: line has no line end".into()),
        Some(end) if end + 1 < bytes.len() => Err(format!(
            "{} after the ERROR: line",
            count(bytes.len() - end - 1, "byte")
        )),
        Some(_) if !received.end.is_closed() => {
            Err("after the ERROR: line B must close the connection".into())
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
