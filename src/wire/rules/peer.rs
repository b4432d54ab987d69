//! A peer's rules, as a server for other peers (B), stage by stage.

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
        title: "extensions (LIST, ranged DOWNLOAD, UPLOAD, PING, HASH)",
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
    words:
        "a name with a path in it (../x, /etc/passwd, a/b) is never served: ERROR: and the close",
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

pub const HASH: Rule = Rule {
    name: "hash",
    stage: 2,
    words: "HASH: name, type, size [, first, count] is answered HASH: and the SHA-256, in hex, of the bytes that DOWNLOAD sends",
    extension: true,
    messages: &["HASH"],
    kept_in: &[
        Code {
            file: SERVER,
            function: "send_hash",
            mark: "PeerReply::Hash(digest)",
        },
        Code {
            file: "src/peer/folder/mod.rs",
            function: "hash_of",
            mark: ".byte_range()",
        },
    ],
};

/// Every rule of a peer, stage by stage.
pub const RULES: [&Rule; 10] = [
    &DOWNLOAD,
    &WRONG_SIZE,
    &UNKNOWN_NAME,
    &PATH_NAME,
    &GARBAGE,
    &LIST,
    &RANGED_DOWNLOAD,
    &UPLOAD,
    &PING,
    &HASH,
];
