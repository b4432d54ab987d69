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
const KEYWORDS: [&str; 17] = [
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

/// The tracker's rules.
pub mod tracker {
    use super::{Code, Rule, Stage};

    /// The tracker's source file.
    const FT: &str = "src/tracker/mod.rs";

    /// The stages of the tracker check.
    pub const STAGES: [Stage; 4] = [
        Stage {
            number: 1,
            title: "join (HELLO, HI, the records line, refusals)",
        },
        Stage {
            number: 2,
            title: "search (SEARCH, FOUND, NOT FOUND)",
        },
        Stage {
            number: 3,
            title: "leave (BYE, a crash, a rejoin)",
        },
        Stage {
            number: 4,
            title: "extensions (LIST, PING)",
        },
    ];

    pub const HELLO_HI: Rule = Rule {
        name: "hello-hi",
        stage: 1,
        words: "HELLO is answered HI, one line ending in \\n",
        extension: false,
        messages: &["HELLO", "HI"],
        kept_in: &[Code {
            file: FT,
            function: "accept",
            mark: ".send(&TrackerReply::Hi)",
        }],
    };

    pub const LINE_FRAMING: Rule = Rule {
        name: "line-framing",
        stage: 1,
        words: "a message is one line ending in \\n (a \\r before it is dropped), however its bytes are split",
        extension: false,
        messages: &["HELLO", "records"],
        kept_in: &[Code {
            file: "src/wire/connection/lines.rs",
            function: "without_cr",
            mark: "b'\\r'",
        }],
    };

    pub const HELLO_FIRST: Rule = Rule {
        name: "hello-first",
        stage: 1,
        words:
            "the first line must be HELLO; anything else: FT closes the connection without a word",
        extension: false,
        messages: &["HELLO"],
        kept_in: &[Code {
            file: FT,
            function: "accept",
            mark: "not HELLO",
        }],
    };

    pub const SILENT_BEFORE_JOIN: Rule = Rule {
        name: "silent-before-join",
        stage: 1,
        words: "before acceptance FT sends nothing but the HI that answers HELLO",
        extension: false,
        messages: &["HI", "records"],
        kept_in: &[Code {
            file: FT,
            function: "serve_session",
            mark: "a refused peer gets no answer",
        }],
    };

    pub const JOIN: Rule = Rule {
        name: "join",
        stage: 1,
        words: "a records line of 1 to 5 file records is accepted: FT says nothing and keeps the connection",
        extension: false,
        messages: &["records"],
        kept_in: &[Code {
            file: FT,
            function: "accept",
            mark: "TrackerRequest::Records(records)",
        }],
    };

    pub const REFUSE_EMPTY: Rule = Rule {
        name: "refuse-empty",
        stage: 1,
        words: "no records (an empty line): not accepted; FT sends nothing and closes",
        extension: false,
        messages: &["records"],
        kept_in: &[Code {
            file: FT,
            function: "check_records",
            mark: "records.is_empty()",
        }],
    };

    pub const REFUSE_SIX: Rule = Rule {
        name: "refuse-six",
        stage: 1,
        words: "more than 5 records: not accepted; FT sends nothing and closes",
        extension: false,
        messages: &["records"],
        kept_in: &[Code {
            file: FT,
            function: "check_records",
            mark: "MAX_RECORDS_PER_JOIN",
        }],
    };

    pub const REFUSE_MALFORMED: Rule = Rule {
        name: "refuse-malformed",
        stage: 1,
        words: "a malformed record (size, date, port, fields): not accepted; FT sends nothing and closes",
        extension: false,
        messages: &["records"],
        kept_in: &[
            Code {
                file: FT,
                function: "accept",
                mark: "bad file records",
            },
            Code {
                file: "src/wire/protocol.rs",
                function: "parse_file_record",
                mark: "expected 6 fields",
            },
        ],
    };

    pub const FOUND: Rule = Rule {
        name: "found",
        stage: 2,
        words: "SEARCH from another peer finds a joined peer's file: FOUND: <type, size, DD/MM/YY, ip, port>",
        extension: false,
        messages: &["SEARCH", "FOUND"],
        kept_in: &[Code {
            file: FT,
            function: "search",
            mark: "TrackerReply::Found(locations)",
        }],
    };

    pub const SEVERAL_HOLDERS: Rule = Rule {
        name: "several-holders",
        stage: 2,
        words: "FOUND: lists the location record of every peer that has the file",
        extension: false,
        messages: &["FOUND"],
        kept_in: &[Code {
            file: "src/tracker/index.rs",
            function: "search",
            mark: "self.by_name.get(name)",
        }],
    };

    pub const NOT_FOUND: Rule = Rule {
        name: "not-found",
        stage: 2,
        words: "SEARCH for a name nobody has is answered NOT FOUND",
        extension: false,
        messages: &["SEARCH", "NOT FOUND"],
        kept_in: &[Code {
            file: FT,
            function: "search",
            mark: "TrackerReply::NotFound",
        }],
    };

    pub const EXACT_NAME: Rule = Rule {
        name: "exact-name",
        stage: 2,
        words: "SEARCH is an exact, case-sensitive match",
        extension: false,
        messages: &["SEARCH"],
        kept_in: &[Code {
            file: "src/tracker/index.rs",
            function: "search",
            mark: "self.by_name.get(name)",
        }],
    };

    pub const ERROR_AFTER_JOIN: Rule = Rule {
        name: "error-after-join",
        stage: 2,
        words: "after acceptance, a line FT does not understand gets ERROR: <reason> and the session goes on",
        extension: false,
        messages: &["ERROR"],
        kept_in: &[Code {
            file: FT,
            function: "serve_requests",
            mark: "Err(Error::Protocol(error)) => TrackerReply::Error",
        }],
    };

    pub const BYE: Rule = Rule {
        name: "bye",
        stage: 3,
        words: "BYE: FT drops every record of the peer and closes; no reply",
        extension: false,
        messages: &["BYE"],
        kept_in: &[Code {
            file: FT,
            function: "serve_requests",
            mark: "TrackerRequest::Bye",
        }],
    };

    pub const CRASH: Rule = Rule {
        name: "crash",
        stage: 3,
        words: "a connection that ends without BYE counts as BYE: the peer's records go at once",
        extension: false,
        messages: &["BYE"],
        kept_in: &[Code {
            file: FT,
            function: "serve_requests",
            mark: "closed without BYE",
        }],
    };

    pub const REJOIN: Rule = Rule {
        name: "rejoin",
        stage: 3,
        words: "a peer that joins again from the same ip:port replaces its earlier records",
        extension: false,
        messages: &["records"],
        kept_in: &[Code {
            file: "src/tracker/index.rs",
            function: "join",
            mark: "self.remove(",
        }],
    };

    pub const LIST: Rule = Rule {
        name: "list",
        stage: 4,
        words: "LIST is answered FILES: with every record FT holds",
        extension: true,
        messages: &["LIST", "FILES"],
        kept_in: &[Code {
            file: FT,
            function: "serve_requests",
            mark: "TrackerRequest::List",
        }],
    };

    pub const PING: Rule = Rule {
        name: "ping",
        stage: 4,
        words: "PING on an accepted session is answered PONG (heartbeat)",
        extension: true,
        messages: &["PING", "PONG"],
        kept_in: &[Code {
            file: FT,
            function: "serve_requests",
            mark: "TrackerReply::Pong",
        }],
    };

    /// Every rule of the tracker, stage by stage.
    pub const RULES: [&Rule; 18] = [
        &HELLO_HI,
        &LINE_FRAMING,
        &HELLO_FIRST,
        &SILENT_BEFORE_JOIN,
        &JOIN,
        &REFUSE_EMPTY,
        &REFUSE_SIX,
        &REFUSE_MALFORMED,
        &FOUND,
        &SEVERAL_HOLDERS,
        &NOT_FOUND,
        &EXACT_NAME,
        &ERROR_AFTER_JOIN,
        &BYE,
        &CRASH,
        &REJOIN,
        &LIST,
        &PING,
    ];
}

/// A peer's rules, as a server for other peers.
pub mod peer {
    use super::{Code, Rule, Stage};

    /// The peer's server for other peers.
    const SERVER: &str = "src/peer/server.rs";

    /// The stages of the peer check.
    pub const STAGES: [Stage; 2] = [
        Stage {
            number: 1,
            title: "download (DOWNLOAD, FILE:, ERROR:)",
        },
        Stage {
            number: 2,
            title: "extensions (LIST, ranged DOWNLOAD, UPLOAD, PING)",
        },
    ];

    pub const DOWNLOAD: Rule = Rule {
        name: "download",
        stage: 1,
        words: "DOWNLOAD: name, type, size gets FILE: and exactly the file's bytes, then B closes",
        extension: false,
        messages: &["DOWNLOAD", "FILE"],
        kept_in: &[Code {
            file: SERVER,
            function: "send_download",
            mark: "connection.send_file(",
        }],
    };

    pub const WRONG_SIZE: Rule = Rule {
        name: "wrong-size",
        stage: 1,
        words: "a DOWNLOAD with the wrong size gets ERROR: <reason> and the close, no file bytes",
        extension: false,
        messages: &["DOWNLOAD", "ERROR"],
        kept_in: &[Code {
            file: SERVER,
            function: "send_download",
            mark: "PeerReply::Error(error.to_string())",
        }],
    };

    pub const UNKNOWN_NAME: Rule = Rule {
        name: "unknown-name",
        stage: 1,
        words: "a DOWNLOAD of a file B does not serve gets ERROR: <reason> and the close",
        extension: false,
        messages: &["DOWNLOAD", "ERROR"],
        kept_in: &[Code {
            file: SERVER,
            function: "send_download",
            mark: "PeerReply::Error(error.to_string())",
        }],
    };

    pub const PATH_NAME: Rule = Rule {
        name: "path-name",
        stage: 1,
        words: "a name with a path in it (../x, /etc/passwd, a/b) is never served: ERROR: and the close",
        extension: false,
        messages: &["DOWNLOAD", "ERROR"],
        kept_in: &[Code {
            file: "src/wire/names.rs",
            function: "check_name",
            mark: "name.contains('/')",
        }],
    };

    pub const GARBAGE: Rule = Rule {
        name: "garbage",
        stage: 1,
        words: "a request B cannot parse gets ERROR: <reason> and the close",
        extension: false,
        messages: &["ERROR"],
        kept_in: &[Code {
            file: SERVER,
            function: "handle",
            mark: "Err(error @ (Error::Protocol(_)",
        }],
    };

    pub const LIST: Rule = Rule {
        name: "list",
        stage: 2,
        words: "LIST is answered FILES: with a record for every file B serves",
        extension: true,
        messages: &["LIST", "FILES"],
        kept_in: &[Code {
            file: SERVER,
            function: "send_list",
            mark: "PeerReply::Files(records)",
        }],
    };

    pub const RANGED_DOWNLOAD: Rule = Rule {
        name: "ranged-download",
        stage: 2,
        words: "DOWNLOAD: name, type, size, first, count gets FILE: and those 100-byte chunks (past the end: ERROR:)",
        extension: true,
        messages: &["DOWNLOAD", "FILE"],
        kept_in: &[Code {
            file: SERVER,
            function: "send_download",
            mark: "request.byte_range()",
        }],
    };

    pub const UPLOAD: Rule = Rule {
        name: "upload",
        stage: 2,
        words: "UPLOAD gets READY, FILE: and the bytes get DONE, then B serves the file; a name B serves: ERROR:",
        extension: true,
        messages: &["UPLOAD", "READY", "FILE", "DONE"],
        kept_in: &[
            Code {
                file: SERVER,
                function: "receive_upload",
                mark: "PeerReply::Ready",
            },
            Code {
                file: SERVER,
                function: "receive_upload",
                mark: "PeerReply::Done",
            },
        ],
    };

    pub const PING: Rule = Rule {
        name: "ping",
        stage: 2,
        words: "PING is answered PONG",
        extension: true,
        messages: &["PING", "PONG"],
        kept_in: &[Code {
            file: SERVER,
            function: "handle",
            mark: "PeerReply::Pong",
        }],
    };

    /// Every rule of a peer, stage by stage.
    pub const RULES: [&Rule; 9] = [
        &DOWNLOAD,
        &WRONG_SIZE,
        &UNKNOWN_NAME,
        &PATH_NAME,
        &GARBAGE,
        &LIST,
        &RANGED_DOWNLOAD,
        &UPLOAD,
        &PING,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

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
