//! Read along: every protocol line leads to the rule it keeps and to the
//! code that wrote it. The one list of rules (src/wire/rules.rs) against
//! the README's protocol section and the checker's report.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::checker::run_check;
use common::web::*;
use common::*;
use p2p_share::source;
use p2p_share::wire::rules::{self, Rule, Side};
use std::net::TcpListener;
use std::thread;

/// The README's protocol section: from its heading to the next one of the
/// same level.
fn protocol_section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let start = readme
        .find("\n## The protocol\n")
        .expect("a protocol section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// A rule's row in the README's table of rules.
fn row(side: Side, rule: &Rule) -> String {
    let about: Vec<String> = rule.messages.iter().map(|m| format!("`{m}`")).collect();
    let mut code: Vec<String> = Vec::new();
    for place in rule.kept_in {
        let place = source::place(place).expect("every rule's place is in the source");
        let name = format!("`{}`", place.function.name);
        if !code.contains(&name) {
            code.push(name);
        }
    }
    let extension = if rule.extension { " (extension)" } else { "" };
    format!(
        "| `{}` | {} {}{extension} | {} | {} | {} |",
        rule.name,
        side.word(),
        rule.stage,
        rule.words.replace('<', "&lt;").replace('>', "&gt;"),
        about.join(" "),
        code.join(" "),
    )
}

#[test]
fn the_readme_lists_the_rules_of_the_one_list_by_name() {
    let section = protocol_section();
    let found: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .collect();
    let expected: Vec<String> = rules::all().map(|(side, rule)| row(side, rule)).collect();
    assert_eq!(
        found,
        expected,
        "the README's table of rules (in the protocol section) and src/wire/rules.rs differ; \
         the rows as the list has them:\n{}",
        expected.join("\n")
    );
    // And every rule's name is in the prose too, where the rule is stated.
    for (side, rule) in rules::all() {
        let named = format!("`{}`", rule.name);
        let mentions = section.matches(&named).count();
        assert!(
            mentions >= 2,
            "the {} rule {} is named only in the table",
            side.word(),
            rule.name
        );
    }
}

#[test]
fn a_fail_names_the_rule_and_the_line_of_our_code_that_keeps_it() {
    // A tracker that closes every connection unread: hello-hi fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let run = run_check(&["tracker", &addr, "--rule", "hello-hi", "--timeout", "0.5"]);
    assert_eq!(run.failed(), ["hello-hi"], "{}", run.shown());
    assert!(run.says(rules::tracker::HELLO_HI.words), "{}", run.shown());
    let said = run
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("rule hello-hi is kept in our "))
        .unwrap_or_else(|| panic!("no place of our code:\n{}", run.shown()));
    // `tracker::accept (src/tracker/mod.rs:311)`: that line sends HI.
    let (function, place) = said.split_once(" (").unwrap();
    let (file, line) = place.trim_end_matches(')').split_once(':').unwrap();
    assert_eq!(function, "tracker::accept");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + file)
        .unwrap();
    let line: usize = line.parse().unwrap();
    let sent = text.lines().nth(line - 1).unwrap();
    assert!(
        sent.contains("TrackerReply::Hi"),
        "{file}:{line} is {sent:?}"
    );
}

/// The text of `<body data-autotest="...">` in a dumped page.
fn autotest_outcome(dom: &str) -> &str {
    dom.split("data-autotest=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page did not report its test steps:\n{dom}"))
}

/// The line panel of a dumped page.
fn line_panel(dom: &str) -> &str {
    let panel = dom
        .split("class=\"line-panel\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no line panel on the page:\n{dom}"));
    panel.split("</section>").next().unwrap_or(panel)
}

/// A screenshot smaller than this is blank or nearly.
const MIN_SCREENSHOT_BYTES: usize = 30_000;

#[test]
fn clicking_an_arrow_of_the_demo_shows_its_rule_and_the_function_that_sent_it() {
    let Some(program) = chromium() else {
        println!("read_along: not run: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let mut browser = Browser::new(program);
    let demo = start_web_demo("read_along_demo", &["--pace", "0"]);
    let steps = "next:5,open:DOWNLOAD: notes.txt";
    let dom = browser.dump_dom(&demo.page.url(&format!("/?autotest={steps}")));
    assert_eq!(autotest_outcome(&dom), format!("done: {steps}"), "{dom}");
    let panel = line_panel(&dom);
    assert!(!panel.contains(" hidden"), "the panel is hidden:\n{panel}");
    for shown in [
        "DOWNLOAD: notes.txt, txt, 986",
        ">download</code>",
        "gets FILE: and exactly the file's bytes",
    ] {
        assert!(panel.contains(shown), "the panel lacks {shown:?}:\n{panel}");
    }
    // The function of ours that sent it, from the program's own copy of
    // its source, with the line that sent it marked.
    assert!(panel.contains("Sent by peer::"), "{panel}");
    let marked = panel
        .split("class=\"source-line marked\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no marked line:\n{panel}"));
    let marked = marked.split("</span>").next().unwrap_or_default();
    assert!(marked.contains("PeerRequest::Download"), "{marked}");
    assert!(panel.contains("fn "), "{panel}");
    // The list view holds the same lines, as buttons.
    assert!(dom.contains("The same lines as a list"), "{dom}");

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("read_along_panel.png");
    let _ = std::fs::remove_file(&shot);
    let demo = start_web_demo("read_along_demo_shot", &["--pace", "0"]);
    browser.screenshot(
        &demo.page.url(&format!("/?autotest={steps}")),
        &shot,
        1400,
        2400,
    );
    let bytes = std::fs::read(&shot).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() >= MIN_SCREENSHOT_BYTES);
    let pairs: std::collections::HashSet<&[u8]> = bytes.windows(2).collect();
    assert!(
        pairs.len() > 5_000,
        "{} looks like one colour",
        shot.display()
    );
    println!("screenshot: {}", shot.display());
}

/// One line of a `--trace=code` trace: `[node] other -> TEXT  (function,
/// file:line)`, as (arrow, text, function, file, line).
fn traced_place(line: &str) -> Option<(&str, &str, &str, &str, usize)> {
    let rest = line.strip_prefix('[')?;
    let (_node, rest) = rest.split_once("] ")?;
    // The other end is one word (`tracker`, `peer2`, `127.0.0.1:5001`) or
    // two (`incoming 127.0.0.1:40768`): the arrow is the first one.
    let at = [" -> ", " <- "]
        .iter()
        .filter_map(|arrow| rest.find(arrow))
        .min()?;
    let (arrow, rest) = (&rest[at + 1..at + 3], &rest[at + 4..]);
    let (text, place) = rest.rsplit_once("  (")?;
    let (function, at) = place.strip_suffix(')')?.split_once(", ")?;
    let (file, number) = at.rsplit_once(':')?;
    Some((arrow, text, function, file, number.parse().ok()?))
}

/// The calls of the connection that send, and those that read.
const SENDS: [&str; 3] = [".send(", ".request(", ".send_file("];
const READS: [&str; 5] = [
    ".receive(",
    ".receive::<",
    ".request(",
    ".receive_file",
    ".expect_end_of_body(",
];

/// The messages a line of our source may name, with their keyword.
const VARIANTS: [(&str, &str); 12] = [
    ("::Hello", "HELLO"),
    ("::Hi", "HI"),
    ("::Search", "SEARCH"),
    ("::Found", "FOUND"),
    ("::NotFound", "NOT FOUND"),
    ("::Bye", "BYE"),
    ("::Download", "DOWNLOAD"),
    ("::List", "LIST"),
    ("::Files", "FILES"),
    ("::Ping", "PING"),
    ("::Pong", "PONG"),
    ("::Records", "records"),
];

#[test]
fn with_trace_code_every_protocol_line_names_the_function_and_line_that_sent_or_read_it() {
    let net = Net::new("read_along_trace", &["peer1", "peer2"]);
    net.put("peer1", "notes.txt", &text_bytes(986));
    let tracker = net.start_tracker(&["--trace=code"]);
    let peer1 = net.start_peer("peer1", true, &["--trace=code"]);
    let mut peer2 = net.start_peer("peer2", false, &["--trace=code"]);
    net.probe().wait_found_at("notes.txt", net.port("peer1"));
    let out = run(&mut peer2, "download notes.txt");
    find_line(&out, "notes.txt downloaded", |l| {
        l.starts_with("downloaded notes.txt")
    });
    run(&mut peer2, "list peer1");
    let mut lines = tracker.stderr_lines();
    lines.extend(peer1.stderr_lines());
    lines.extend(peer2.stderr_lines());
    let root = env!("CARGO_MANIFEST_DIR");
    let mut checked = 0;
    for line in lines
        .iter()
        .filter(|l| l.contains(" -> ") || l.contains(" <- "))
    {
        let Some((arrow, text, function, file, number)) = traced_place(line) else {
            panic!("a protocol line without its place in our code: {line:?}");
        };
        let source = std::fs::read_to_string(format!("{root}/{file}"))
            .unwrap_or_else(|e| panic!("{line:?}: {file}: {e}"));
        let at = source
            .lines()
            .nth(number - 1)
            .unwrap_or_else(|| panic!("{line:?}: {file} has no line {number}"));
        // The function exists, and holds that line.
        let name = function.rsplit("::").next().unwrap();
        let found = source::function(file, name)
            .unwrap_or_else(|| panic!("{line:?}: no fn {name} in {file}"));
        assert!(
            found.name == function && (found.first..=found.last()).contains(&number),
            "{line:?}: {file}:{number} is not in {function} ({}..{})",
            found.first,
            found.last()
        );
        // The line sends (->) or reads (<-).
        let calls: &[&str] = if arrow == "->" { &SENDS } else { &READS };
        assert!(
            calls.iter().any(|call| at.contains(call)),
            "{line:?}: {file}:{number} neither sends nor reads: {at:?}"
        );
        // A line that names a message names this one.
        let keyword = rules::keyword(text);
        let named: Vec<&str> = VARIANTS
            .iter()
            .filter(|(variant, _)| at.contains(variant))
            .map(|(_, word)| *word)
            .collect();
        assert!(
            named.is_empty() || arrow == "<-" || named.iter().any(|w| Some(*w) == keyword),
            "{line:?}: {file}:{number} sends {named:?}: {at:?}"
        );
        checked += 1;
    }
    for text in [
        "HELLO",
        "FOUND: ",
        "DOWNLOAD: notes.txt",
        "FILE: (986 bytes",
        "LIST",
        "FILES: ",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("-> {text}")) && traced_place(l).is_some()),
            "no traced {text:?}:\n{}",
            lines.join("\n")
        );
    }
    assert!(checked > 15, "only {checked} lines:\n{}", lines.join("\n"));
}

/// `text` as a URL's query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The file and line of a `log` event's `"code"`, from its JSON text.
fn event_code(data: &str) -> Option<(String, usize)> {
    let code = data.split(r#""code":{"file":""#).nth(1)?;
    let (file, rest) = code.split_once('"')?;
    let line = rest.strip_prefix(r#","line":"#)?;
    let line = line.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((file.to_string(), line.parse().ok()?))
}

#[test]
fn the_tracker_page_explains_a_line_and_why_an_error_was_sent() {
    let net = Net::new("read_along_page", &["peer1"]);
    let page = net.start_web_tracker(&[]);
    let mut events = EventStream::open(&page);
    let mut probe = net.probe();
    probe.client.send_line("FROB");
    let error = probe.client.read_line().expect("an ERROR: reply");
    assert!(error.starts_with("ERROR: "), "{error}");
    let sent = events.wait_for("the tracker's trace of its ERROR:", HTTP_TIMEOUT, |line| {
        line.contains(r#""dir":"sent","text":"ERROR: "#)
    });
    let (file, line) = event_code(&sent).unwrap_or_else(|| panic!("no place of our code: {sent}"));
    assert_eq!(file, "src/tracker/mod.rs");
    let path = format!(
        "/api/code?text={}&node=tracker&other=127.0.0.1%3A1&dir=sent&file={file}&line={line}",
        query_value(&error)
    );
    let answer = page.get(&path);
    answer.expect(200, &path);
    let json = answer.body_text();
    for shown in [
        r#""name":"error-after-join""#,
        r#""function":"tracker::serve_requests""#,
        &format!(r#""line":{line}"#),
        "fn serve_requests(",
    ] {
        assert!(json.contains(shown), "{shown:?} not in {json}");
    }
    // Why: the lines that build an ERROR: reply, with their comments.
    assert!(!json.contains(r#""why":[]"#), "{json}");
    events.close();
}
