//! The panel behind an arrow (`GET /api/code`, on every page): the rules a
//! protocol line keeps, and the function of ours that sent or handled it,
//! from the program's own copy of its source ([`crate::source`]), with the
//! line marked. For an `ERROR:` line, the lines of that function that
//! build the error, so a student reads why it was sent, as the code says.
//!
//! The page asks with what its arrow knows: `text` (the line), `node` and
//! `other` (its two ends, to tell the tracker's conversation from a
//! peer's), and, when the trace captured it, `file` and `line` (where the
//! line was sent or received).

use crate::source::{self, Function};
use crate::web::http::{HttpError, Request, Response};
use crate::web::json;
use crate::wire::rules::{self, Side};

/// What a shown string in a function must be at least, to be taken for
/// the words of an error reply: shorter pieces (`: `, `, `) match anything.
const MIN_WORDS: usize = 8;

/// Answers `GET /api/code`.
pub fn answer(request: &Request) -> Result<Response, HttpError> {
    let text = request.required("text")?;
    let line = match request.param("line") {
        Some(line) => Some(line.parse::<usize>().map_err(|_| {
            HttpError::new(400, format!("line= needs a line number, not {line:?}"))
        })?),
        None => None,
    };
    let place = request.param("file").zip(line);
    let ends = (
        request.param("node").unwrap_or(""),
        request.param("other").unwrap_or(""),
    );
    // Only a line this node sent was built by the function shown.
    let sent = request.param("dir") == Some("sent");
    Ok(Response::json(explain(text, ends, place, sent)))
}

/// The panel's content as JSON: `{"keyword", "rules": [{"side", "name",
/// "stage", "words", "extension"}], "code": {"function", "file", "first",
/// "line", "lines"} or null, "why": [line numbers]}`.
pub fn explain(text: &str, ends: (&str, &str), place: Option<(&str, usize)>, sent: bool) -> String {
    let keyword = rules::keyword(text);
    let sides = sides(ends);
    let kept = keyword
        .into_iter()
        .flat_map(rules::about)
        .filter(|(side, _)| sides.contains(side))
        .map(|(side, rule)| {
            format!(
                r#"{{"side":{},"name":{},"stage":{},"words":{},"extension":{}}}"#,
                json::string(side.word()),
                json::string(rule.name),
                rule.stage,
                json::string(rule.words),
                rule.extension
            )
        });
    let function = place.and_then(|(file, line)| source::function_at(file, line).zip(Some(line)));
    let error = keyword == Some("ERROR") && sent;
    let (code, why) = match &function {
        Some((function, line)) if error => (code_json(function, *line), why_error(function, text)),
        Some((function, line)) => (code_json(function, *line), Vec::new()),
        None => ("null".to_string(), Vec::new()),
    };
    // An error's words may be written in another function (a helper that
    // builds the reply): that function, with the line that writes them.
    let words = match function {
        Some((function, _)) if error && !says_words(&function, text) => {
            words_of(text, function.file).map(|(function, line)| code_json(&function, line))
        }
        _ => None,
    };
    let why: Vec<String> = why.iter().map(usize::to_string).collect();
    format!(
        r#"{{"keyword":{},"rules":{},"code":{code},"why":[{}],"words":{}}}"#,
        json::string(keyword.unwrap_or("")),
        json::array(kept),
        why.join(","),
        words.unwrap_or_else(|| "null".to_string())
    )
}

/// Which conversation a line between `node` and `other` belongs to: the
/// tracker's when one end is the tracker, a peer's when both ends are
/// named peers, and either when an end is only an address.
fn sides((node, other): (&str, &str)) -> Vec<Side> {
    let is_address = |name: &str| name.is_empty() || name.contains(':');
    if node == "tracker" || other == "tracker" {
        vec![Side::Tracker]
    } else if is_address(node) || is_address(other) {
        vec![Side::Tracker, Side::Peer]
    } else {
        vec![Side::Peer]
    }
}

fn code_json(function: &Function, line: usize) -> String {
    format!(
        r#"{{"function":{},"file":{},"first":{},"line":{line},"lines":{}}}"#,
        json::string(&function.name),
        json::string(function.file),
        function.first,
        json::strings(function.lines.iter().copied())
    )
}

/// The lines of `function` that build the error `text` says: those whose
/// words are in it; failing that, every line that builds an `ERROR:` reply
/// (the error's words then come from elsewhere, a parse error's text, say).
/// With each, the comment just above it, which says why.
fn why_error(function: &Function, text: &str) -> Vec<usize> {
    let builds_error = |line: &str| line.contains("Error(");
    let said: Vec<usize> = (0..function.lines.len())
        .filter(|&i| quoted_words(function.lines[i]).any(|words| text.contains(words)))
        .collect();
    let chosen: Vec<usize> = match said.is_empty() {
        false => said,
        true => (0..function.lines.len())
            .filter(|&i| builds_error(function.lines[i]))
            .collect(),
    };
    let mut why = Vec::new();
    for i in chosen {
        let mut start = i;
        while start > 0 && function.lines[start - 1].trim_start().starts_with("//") {
            start -= 1;
        }
        why.extend((start..=i).map(|i| function.first + i));
    }
    why.dedup();
    why
}

/// Whether `function` writes some of the words of `text`.
fn says_words(function: &Function, text: &str) -> bool {
    function
        .lines
        .iter()
        .any(|line| quoted_words(line).any(|words| text.contains(words)))
}

/// The function of our source that writes the words of the error `text`,
/// and the line that does: in `file` first, then anywhere (never in a
/// file's tests).
fn words_of(text: &str, file: &str) -> Option<(Function, usize)> {
    let find_in = |path: &str| {
        let index = source::file(path)?
            .lines()
            .take_while(|line| *line != "#[cfg(test)]")
            .position(|line| quoted_words(line).any(|words| text.contains(words)))?;
        Some((source::function_at(path, index + 1)?, index + 1))
    };
    find_in(file).or_else(|| {
        source::paths()
            .filter(|path| *path != file)
            .find_map(find_in)
    })
}

/// The pieces of the string literals of a line that a reply shows as they
/// are: the text between the `{...}` of a `format!`, at least
/// [`MIN_WORDS`] long.
fn quoted_words(line: &str) -> impl Iterator<Item = &str> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .flat_map(|literal| literal.split(['{', '}']))
        .filter(|piece| piece.len() >= MIN_WORDS && !piece.contains('\\'))
}

#[cfg(test)]
mod tests {
    use super::{explain, why_error, words_of};
    use crate::source;
    use crate::web::json;

    #[test]
    fn a_line_s_rules_follow_its_keyword_and_its_conversation() {
        let found = explain(
            "FOUND: <txt, 1, 22/11/26, 127.0.0.1, 5001>",
            ("tracker", "peer1"),
            None,
            true,
        );
        assert!(found.contains(r#""keyword":"FOUND""#), "{found}");
        assert!(found.contains(r#""name":"found""#) && found.contains("several-holders"));
        assert!(found.contains(r#""code":null"#));
        let pong = explain("PONG", ("peer1", "peer2"), None, true);
        assert!(pong.contains(r#""side":"peer""#) && !pong.contains(r#""side":"tracker""#));
        let unknown = explain("PONG", ("peer1", "127.0.0.1:5002"), None, false);
        assert!(unknown.contains(r#""side":"peer""#) && unknown.contains(r#""side":"tracker""#));
    }

    #[test]
    fn the_code_is_the_function_around_the_line_with_it_marked() {
        let search = source::function("src/tracker/mod.rs", "search").unwrap();
        let line = search.first + 3;
        let json = explain(
            "NOT FOUND",
            ("tracker", "peer1"),
            Some(("src/tracker/mod.rs", line)),
            true,
        );
        assert!(json.contains(r#""function":"tracker::search""#), "{json}");
        assert!(json.contains(&format!(r#""line":{line}"#)), "{json}");
        assert!(json.contains("fn search("), "{json}");
    }

    #[test]
    fn an_error_s_why_is_the_code_that_builds_its_words() {
        let serve = source::function("src/tracker/mod.rs", "serve_requests").unwrap();
        let text = "ERROR: already joined: HELLO opens a session, and this one is open (send BYE to leave)";
        let why = why_error(&serve, text);
        let shown: Vec<&str> = why.iter().map(|n| serve.lines[n - serve.first]).collect();
        assert!(
            shown.iter().any(|line| line.contains("already joined")),
            "{shown:?}"
        );
        // Words written by a helper outside the function that sent them:
        // that helper, with the line that writes them.
        let text = "ERROR: the tracker does not take records (it takes SEARCH, LIST, PING, BYE)";
        let place = ("src/tracker/mod.rs", serve.last() - 2);
        let json = explain(text, ("tracker", "peer1"), Some(place), true);
        let (function, line) = words_of(text, "src/tracker/mod.rs").unwrap();
        assert!(function.lines[line - function.first].contains("does not take"));
        let words = format!(r#""words":{{"function":{}"#, json::string(&function.name));
        assert!(json.contains(&words), "{json}");
        // Words that no literal holds: every ERROR: the function builds.
        let why = why_error(&serve, "ERROR: unknown command \"FROB\"");
        let shown: Vec<&str> = why.iter().map(|n| serve.lines[n - serve.first]).collect();
        assert!(
            shown
                .iter()
                .any(|line| line.contains("Error::Protocol(error)")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|line| line.trim_start().starts_with("//")),
            "{shown:?}"
        );
    }
}
