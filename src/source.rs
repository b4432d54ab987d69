//! The program's own copy of its source, to show a student the code behind
//! a protocol line: which function sent it, at which line, and that
//! function's text.
//!
//! Every Rust file of `src/` is built into the binary (a test checks that
//! none is missing). A place in the code comes as a file and a line, from a
//! [`std::panic::Location`] that `#[track_caller]` captured where a line
//! was sent or received, or from a rule's [`Code`]; this module finds the
//! function around it by reading the source the way `rustfmt` writes it: a
//! function starts at a line `fn name(` and ends at the first `}` at its
//! own indent.

use crate::wire::rules::Code;

/// Every source file, by its path from the project's folder (the path a
/// `Location` gives).
const FILES: &[(&str, &str)] = &[
    ("src/cli.rs", include_str!("cli.rs")),
    ("src/demo/bad_holder.rs", include_str!("demo/bad_holder.rs")),
    ("src/demo/mod.rs", include_str!("demo/mod.rs")),
    ("src/demo/samples.rs", include_str!("demo/samples.rs")),
    ("src/demo/scenes.rs", include_str!("demo/scenes.rs")),
    ("src/demo/senders.rs", include_str!("demo/senders.rs")),
    ("src/demo/stage.rs", include_str!("demo/stage.rs")),
    ("src/error.rs", include_str!("error.rs")),
    ("src/lib.rs", include_str!("lib.rs")),
    ("src/log.rs", include_str!("log.rs")),
    ("src/log/terminal.rs", include_str!("log/terminal.rs")),
    (
        "src/log/terminal/prompt.rs",
        include_str!("log/terminal/prompt.rs"),
    ),
    ("src/open_files.rs", include_str!("open_files.rs")),
    ("src/peer/announce.rs", include_str!("peer/announce.rs")),
    ("src/peer/client.rs", include_str!("peer/client.rs")),
    ("src/peer/download.rs", include_str!("peer/download.rs")),
    ("src/peer/fetch/mod.rs", include_str!("peer/fetch/mod.rs")),
    (
        "src/peer/fetch/range.rs",
        include_str!("peer/fetch/range.rs"),
    ),
    ("src/peer/folder/mod.rs", include_str!("peer/folder/mod.rs")),
    (
        "src/peer/folder/tests.rs",
        include_str!("peer/folder/tests.rs"),
    ),
    ("src/peer/mod.rs", include_str!("peer/mod.rs")),
    ("src/peer/resume.rs", include_str!("peer/resume.rs")),
    ("src/peer/server.rs", include_str!("peer/server.rs")),
    ("src/peer/shell/mod.rs", include_str!("peer/shell/mod.rs")),
    (
        "src/peer/shell/parse.rs",
        include_str!("peer/shell/parse.rs"),
    ),
    ("src/peer/shell/show.rs", include_str!("peer/shell/show.rs")),
    (
        "src/peer/tracker_session/connector.rs",
        include_str!("peer/tracker_session/connector.rs"),
    ),
    (
        "src/peer/tracker_session/joining.rs",
        include_str!("peer/tracker_session/joining.rs"),
    ),
    (
        "src/peer/tracker_session/mod.rs",
        include_str!("peer/tracker_session/mod.rs"),
    ),
    (
        "src/peer/tracker_session/session.rs",
        include_str!("peer/tracker_session/session.rs"),
    ),
    (
        "src/peer/tracker_session/tests.rs",
        include_str!("peer/tracker_session/tests.rs"),
    ),
    ("src/server.rs", include_str!("server.rs")),
    ("src/server/tests.rs", include_str!("server/tests.rs")),
    ("src/settings.rs", include_str!("settings.rs")),
    ("src/source.rs", include_str!("source.rs")),
    ("src/source/tests.rs", include_str!("source/tests.rs")),
    ("src/temp_dir.rs", include_str!("temp_dir.rs")),
    ("src/tracker/console.rs", include_str!("tracker/console.rs")),
    ("src/tracker/index.rs", include_str!("tracker/index.rs")),
    (
        "src/tracker/liveness.rs",
        include_str!("tracker/liveness.rs"),
    ),
    ("src/tracker/mod.rs", include_str!("tracker/mod.rs")),
    ("src/web/code.rs", include_str!("web/code.rs")),
    ("src/web/demo_page.rs", include_str!("web/demo_page.rs")),
    ("src/web/events.rs", include_str!("web/events.rs")),
    (
        "src/web/http/message.rs",
        include_str!("web/http/message.rs"),
    ),
    ("src/web/http/mod.rs", include_str!("web/http/mod.rs")),
    ("src/web/json.rs", include_str!("web/json.rs")),
    ("src/web/mod.rs", include_str!("web/mod.rs")),
    ("src/web/peer_page.rs", include_str!("web/peer_page.rs")),
    ("src/web/token.rs", include_str!("web/token.rs")),
    (
        "src/web/tracker_page.rs",
        include_str!("web/tracker_page.rs"),
    ),
    ("src/web/transfers.rs", include_str!("web/transfers.rs")),
    ("src/wire/connection.rs", include_str!("wire/connection.rs")),
    (
        "src/wire/connection/body.rs",
        include_str!("wire/connection/body.rs"),
    ),
    (
        "src/wire/connection/lines.rs",
        include_str!("wire/connection/lines.rs"),
    ),
    (
        "src/wire/connection/socket.rs",
        include_str!("wire/connection/socket.rs"),
    ),
    (
        "src/wire/connection/tests.rs",
        include_str!("wire/connection/tests.rs"),
    ),
    ("src/wire/date.rs", include_str!("wire/date.rs")),
    ("src/wire/messages.rs", include_str!("wire/messages.rs")),
    ("src/wire/mod.rs", include_str!("wire/mod.rs")),
    ("src/wire/names.rs", include_str!("wire/names.rs")),
    ("src/wire/protocol.rs", include_str!("wire/protocol.rs")),
    (
        "src/wire/protocol/fields.rs",
        include_str!("wire/protocol/fields.rs"),
    ),
    (
        "src/wire/protocol/tests.rs",
        include_str!("wire/protocol/tests.rs"),
    ),
    ("src/wire/rules.rs", include_str!("wire/rules.rs")),
    ("src/wire/rules/peer.rs", include_str!("wire/rules/peer.rs")),
    (
        "src/wire/rules/tracker.rs",
        include_str!("wire/rules/tracker.rs"),
    ),
    ("src/wire/sha256.rs", include_str!("wire/sha256.rs")),
    ("src/wire/text.rs", include_str!("wire/text.rs")),
    ("src/wire/trace.rs", include_str!("wire/trace.rs")),
];

/// The text of a source file, by its path from the project's folder
/// (`src/tracker/mod.rs`).
pub fn file(path: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

/// The paths of every source file built in.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(name, _)| *name)
}

/// A function of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its file: `src/tracker/mod.rs`.
    pub file: &'static str,
    /// Its module and name: `tracker::search`.
    pub name: String,
    /// The line of its `fn`, counted from 1.
    pub first: usize,
    /// Its lines, from the `fn` to its closing `}`.
    pub lines: Vec<&'static str>,
}

impl Function {
    /// The line number of its last line.
    pub fn last(&self) -> usize {
        self.first + self.lines.len() - 1
    }
}

/// The innermost function of `path` that holds line `line` (counted from
/// 1), or `None` when the line is in no function.
pub fn function_at(path: &str, line: usize) -> Option<Function> {
    let (path, text) = FILES.iter().find(|(name, _)| *name == path)?;
    let lines: Vec<&'static str> = text.lines().collect();
    let index = line.checked_sub(1)?;
    (0..=index.min(lines.len().saturating_sub(1)))
        .rev()
        .filter_map(|start| fn_name(lines[start]).map(|name| (start, name)))
        .find_map(|(start, name)| {
            let end = fn_end(&lines, start);
            (index <= end).then(|| Function {
                file: path,
                name: qualified(path, name),
                first: start + 1,
                lines: lines[start..=end].to_vec(),
            })
        })
}

/// The first function named `name` in `path`.
pub fn function(path: &str, name: &str) -> Option<Function> {
    let text = file(path)?;
    let start = text.lines().position(|line| fn_name(line) == Some(name))?;
    function_at(path, start + 1)
}

/// A place a rule's [`Code`] names: its function, and the line of its mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub function: Function,
    /// The line that holds the mark, counted from 1.
    pub line: usize,
}

impl std::fmt::Display for Place {
    /// `tracker::search (src/tracker/mod.rs:402)`, as a trace writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}:{})",
            self.function.name, self.function.file, self.line
        )
    }
}

/// Where a rule's [`Code`] is: `None` if its function or its mark is gone
/// (a test keeps every rule's places true).
pub fn place(code: &Code) -> Option<Place> {
    let function = function(code.file, code.function)?;
    let offset = function
        .lines
        .iter()
        .position(|line| line.contains(code.mark))?;
    Some(Place {
        line: function.first + offset,
        function,
    })
}

/// A place of our code as a trace names it: `tracker::search,
/// src/tracker/mod.rs:402` (just the `file:line` outside any function).
pub fn describe(at: &std::panic::Location<'_>) -> String {
    let line = at.line() as usize;
    match function_at(at.file(), line) {
        Some(function) => format!("{}, {}:{line}", function.name, at.file()),
        None => format!("{}:{line}", at.file()),
    }
}

/// The name of the function declared on `line`, if it declares one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("pub(") {
            rest = after.split_once(") ")?.1;
        } else if let Some(after) = ["pub ", "const ", "unsafe ", "async ", "extern \"C\" "]
            .iter()
            .find_map(|word| rest.strip_prefix(word))
        {
            rest = after;
        } else {
            break;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(['(', '<'])?;
    Some(&rest[..end])
}

/// The index of the last line of the function declared at `start`: the
/// first `}` at its indent, or the line itself for a function without a
/// body of its own lines (a trait's declaration, a one-line body).
fn fn_end(lines: &[&str], start: usize) -> usize {
    let declared = lines[start];
    let indent = &declared[..declared.len() - declared.trim_start().len()];
    if declared.trim_end().ends_with(';') || declared.trim_end().ends_with('}') {
        return start;
    }
    let closing = format!("{indent}}}");
    lines[start + 1..]
        .iter()
        .position(|line| line.trim_end() == closing)
        .map_or(start, |offset| start + 1 + offset)
}

/// `tracker::search` for `search` in `src/tracker/mod.rs`; `main` for a
/// function of `bin/`.
fn qualified(path: &str, name: &str) -> String {
    let module = path
        .strip_prefix("src/")
        .unwrap_or(path)
        .trim_end_matches(".rs")
        .trim_end_matches("/mod")
        .replace('/', "::");
    match module.is_empty() || module == "lib" {
        true => name.to_string(),
        false => format!("{module}::{name}"),
    }
}

#[cfg(test)]
mod tests;
