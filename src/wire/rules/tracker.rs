//! The tracker's rules: what the file tracker (FT) must do, stage by stage.

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
        title: "extensions (LIST, PING, FIND)",
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
    words: "the first line must be HELLO; anything else: FT closes the connection without a word",
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
    words:
        "a malformed record (size, date, port, fields): not accepted; FT sends nothing and closes",
    extension: false,
    messages: &["records"],
    kept_in: &[
        Code {
            file: FT,
            function: "accept",
            mark: "bad file records",
        },
        Code {
            file: "src/wire/protocol/fields.rs",
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

pub const FIND: Rule = Rule {
    name: "find",
    stage: 4,
    words: "FIND: words is answered FILES: with the record of every file whose name holds every word, in any case (50 at most); none: NOT FOUND",
    extension: true,
    messages: &["FIND", "FILES", "NOT FOUND"],
    kept_in: &[
        Code {
            file: FT,
            function: "find",
            mark: "TrackerReply::Files(found)",
        },
        Code {
            file: "src/tracker/index.rs",
            function: "find",
            mark: "to_lowercase()",
        },
    ],
};

/// Every rule of the tracker, stage by stage.
pub const RULES: [&Rule; 19] = [
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
    &FIND,
];
