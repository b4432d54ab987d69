//! The protocol's rules, as one list: each with a short name, the stage
//! that checks it, its sentence, the messages it is about, and where this
//! project's own programs keep it.
//!
//! Everything that speaks of a rule reads it here: the checker (`check`
//! prints the name and the sentence, and under a failure where our code
//! keeps the rule), the web page's panel (the rules a line keeps), and the
//! README's protocol section, which names the same rules (a test compares
//! the two). This module is pure data: it knows the protocol's words, not
//! the code that runs them. Finding the line of a [`Code`] in the source
//! is the job of [`crate::source`].

// Each side's rules, stage by stage, in a file of its own: [`tracker`]
// and [`peer`].
pub mod peer;
pub mod tracker;

/// One rule of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// A short name, one word: `hello-hi`, `refuse-six`.
    pub name: &'static str,
    /// The stage that checks it (1 is the first thing a student writes).
    pub stage: u32,
    /// The rule in words, as the protocol section states it.
    pub words: &'static str,
    /// An extension of this project (LIST, PING, ...), not the core
    /// protocol.
    pub extension: bool,
    /// The messages it is about, by their keyword ([`keyword`]): `HELLO`,
    /// `NOT FOUND`, `records` for a records line, `FILE` for a file body.
    pub messages: &'static [&'static str],
    /// Where our programs keep it, so a student can compare their code
    /// with ours.
    pub kept_in: &'static [Code],
}

/// A place in this project's source that keeps a rule: the first line of
/// `function` in `file` that holds `mark` (the message it sends, or the arm
/// that handles it). A function and a mark, not a line number, so that the
/// place stays right when the code above it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The source file, from the project's folder: `src/tracker/mod.rs`.
    pub file: &'static str,
    /// The function's name, without its module: `search`.
    pub function: &'static str,
    /// Text of the line that sends or handles the message.
    pub mark: &'static str,
}

/// A stage of a check: its number and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub number: u32,
    pub title: &'static str,
}

/// Which side of the protocol a rule binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The file tracker (`FT` in the protocol section).
    Tracker,
    /// A peer, as a server for other peers (`B`).
    Peer,
}

impl Side {
    /// `tracker` or `peer`.
    pub fn word(self) -> &'static str {
        match self {
            Side::Tracker => "tracker",
            Side::Peer => "peer",
        }
    }

    /// This side's rules, stage by stage.
    pub fn rules(self) -> &'static [&'static Rule] {
        match self {
            Side::Tracker => &tracker::RULES,
            Side::Peer => &peer::RULES,
        }
    }
}

/// Both sides' rules, the tracker's first.
pub fn all() -> impl Iterator<Item = (Side, &'static Rule)> {
    [Side::Tracker, Side::Peer]
        .into_iter()
        .flat_map(|side| side.rules().iter().map(move |rule| (side, *rule)))
}

/// The rules about a message with this keyword, of both sides.
pub fn about(keyword: &str) -> impl Iterator<Item = (Side, &'static Rule)> + '_ {
    all().filter(move |(_, rule)| rule.messages.contains(&keyword))
}

/// The keywords a line can start with, the longer before the shorter that
/// starts it (`NOT FOUND` is not `NOT`).
const KEYWORDS: [&str; 18] = [
    "HELLO",
    "HI",
    "SEARCH",
    "FOUND",
    "NOT FOUND",
    "BYE",
    "ERROR",
    "DOWNLOAD",
    "LIST",
    "FILES",
    "FILE",
    "UPLOAD",
    "READY",
    "DONE",
    "PING",
    "PONG",
    "HASH",
    "FIND",
];

/// The keyword of a line as a trace shows it: `FOUND` for `FOUND: <...>`,
/// `records` for a records line, `FILE` for a file body (`FILE: (986
/// bytes ...)`); `None` for a line that starts with no keyword.
pub fn keyword(line: &str) -> Option<&'static str> {
    let line = line.trim_start();
    if line.starts_with('<') {
        return Some("records");
    }
    KEYWORDS.iter().copied().find(|word| {
        line.strip_prefix(word)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', ' ']))
    })
}

#[cfg(test)]
mod tests {
    use super::{about, keyword, peer, tracker, Side, KEYWORDS};

    #[test]
    fn a_line_s_keyword_is_read_as_a_trace_shows_it() {
        for (line, word) in [
            ("HELLO", Some("HELLO")),
            (
                "FOUND: <txt, 986, 22/11/26, 127.0.0.1, 5001>",
                Some("FOUND"),
            ),
            ("NOT FOUND", Some("NOT FOUND")),
            (
                "<a.txt, txt, 1, 22/11/26, 127.0.0.1, 5001>",
                Some("records"),
            ),
            ("FILE: (986 bytes in 10 chunks of 100)", Some("FILE")),
            (
                "FILES: <a.txt, txt, 1, 22/11/26, 127.0.0.1, 5001>",
                Some("FILES"),
            ),
            ("ERROR: busy", Some("ERROR")),
            ("HELLOS", None),
            ("\"\\xac\\xed\"", None),
        ] {
            assert_eq!(keyword(line), word, "{line:?}");
        }
    }

    #[test]
    fn names_are_unique_per_side_and_stages_exist() {
        for (side, stages) in [
            (Side::Tracker, &tracker::STAGES[..]),
            (Side::Peer, &peer::STAGES[..]),
        ] {
            let rules = side.rules();
            for (i, rule) in rules.iter().enumerate() {
                assert!(
                    rules[..i].iter().all(|other| other.name != rule.name),
                    "{} twice",
                    rule.name
                );
                assert!(stages.iter().any(|s| s.number == rule.stage));
                assert!(!rule.messages.is_empty() && !rule.kept_in.is_empty());
                for message in rule.messages {
                    assert!(
                        *message == "records" || KEYWORDS.contains(message),
                        "{}: {message}",
                        rule.name
                    );
                }
            }
            // Stage by stage, so that `check` prints them in order.
            assert!(rules.windows(2).all(|w| w[0].stage <= w[1].stage));
        }
        assert_eq!(about("PONG").count(), 2);
    }
}
