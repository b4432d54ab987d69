//! Read along: every protocol line leads to the rule it keeps and to the
//! code that wrote it. The one list of rules (src/wire/rules.rs) against
//! the README's protocol section and the checker's report.

// Each test file uses a different part of the shared helpers (see
// tests/common/mod.rs): the parts this one does not use are not dead code.
#[allow(dead_code)]
mod common;

use common::checker::run_check;
use common::web::*;
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
