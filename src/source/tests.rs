use super::{file, fn_name, function, function_at, paths, place};
use crate::wire::rules;
use std::path::Path;

/// Every `.rs` file under `dir`, by its path from the project's folder.
fn rust_files(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(root, &path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap();
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_rust_file_of_src_is_built_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    rust_files(root, &root.join("src"), &mut found);
    let missing: Vec<&String> = found.iter().filter(|p| file(p).is_none()).collect();
    assert!(
        missing.is_empty(),
        "add these to FILES in src/source.rs: {missing:?}"
    );
    for path in paths() {
        assert!(found.iter().any(|p| p == path), "{path} is gone");
    }
}

#[test]
fn the_function_around_a_line_is_found_with_its_module() {
    let search = function("src/tracker/mod.rs", "search").unwrap();
    assert_eq!(search.name, "tracker::search");
    assert!(search.lines[0].starts_with("fn search("));
    assert_eq!(search.lines.last(), Some(&"}"));
    let inside = function_at("src/tracker/mod.rs", search.first + 2).unwrap();
    assert_eq!(inside, search);
    let method = function("src/wire/connection.rs", "send").unwrap();
    assert_eq!(method.name, "wire::connection::send");
    assert!(method.lines[0].starts_with("    pub fn send("));
    assert_eq!(method.lines.last(), Some(&"    }"));
    assert_eq!(function("src/lib.rs", "lock").unwrap().name, "lock");
    assert_eq!(
        fn_name("pub(in crate::tracker) fn record(name: &str)"),
        Some("record")
    );
    assert_eq!(fn_name("    pub const fn max<T>(a: T)"), Some("max"));
    assert_eq!(fn_name("// fn not_a_function()"), None);
}

#[test]
fn every_rule_names_a_place_that_is_in_the_code_outside_its_tests() {
    for (side, rule) in rules::all() {
        for code in rule.kept_in {
            let place = place(code).unwrap_or_else(|| {
                panic!(
                    "{} rule {}: {code:?} is not in the source",
                    side.word(),
                    rule.name
                )
            });
            let text = file(code.file).unwrap();
            let tests = text
                .lines()
                .position(|line| line == "#[cfg(test)]")
                .map_or(usize::MAX, |i| i + 1);
            assert!(place.line < tests, "{}: {place} is in the tests", rule.name);
            let line = text.lines().nth(place.line - 1).unwrap();
            assert!(line.contains(code.mark), "{}: {place}: {line}", rule.name);
        }
    }
}
