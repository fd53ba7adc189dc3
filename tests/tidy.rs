//! Tidy checks that back ARCHITECTURE.md's invariants: the engine stays pure, and every
//! source file says why it exists.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn engine_does_no_io_and_reads_no_clock() {
    let banned = [
        "tokio",
        "axum",
        "redis",
        "Instant::now",
        "SystemTime",
        "std::fs",
        "std::net",
    ];
    let mut offences = Vec::new();
    for file in rust_files(&root().join("src/engine")) {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for b in banned {
                if code.contains(b) {
                    offences.push(format!("{}:{}: {b}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the engine must stay pure:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut missing = Vec::new();
    for dir in ["src", "loadtest/src", "tests"] {
        let dir = root().join(dir);
        if !dir.exists() {
            continue;
        }
        for file in rust_files(&dir) {
            let text = fs::read_to_string(&file).unwrap();
            if !text.trim_start().starts_with("//!") {
                missing.push(file.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a leading //! doc:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_ignored_or_should_panic_tests() {
    let mut offences = Vec::new();
    for dir in ["src", "tests", "loadtest/src"] {
        let dir = root().join(dir);
        if !dir.exists() {
            continue;
        }
        for file in rust_files(&dir) {
            let text = fs::read_to_string(&file).unwrap();
            for attr in ["#[ignore", "#[should_panic"] {
                // Split so this file does not flag itself.
                if text.contains(attr) && !file.ends_with("tidy.rs") {
                    offences.push(format!("{}: {attr}]", file.display()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The library's top-level modules from the bottom up (ARCHITECTURE.md, "Layers", mirrors
/// this list). A module may use modules on lower layers only: not its own layer, not a higher
/// one. So no import points up and no two top-level modules import each other. A new
/// top-level module must be placed here.
const LAYERS: &[&[&str]] = &[
    &["time", "html"],
    &["protocol", "clock"],
    &["engine"],
    &["record", "rehearse", "token", "config", "wire"],
    &["cluster", "journal", "limits", "media"],
    &["metrics"],
    &["bus"],
    &["room"],
    &["node"],
    &["hub"],
    &["state"],
    &["api", "web"],
    &["gateway"],
    &["server"],
];

/// The binary's files, which are not modules of the library.
const NOT_LIBRARY: &[&str] = &["lib", "main", "cli"];

/// Strips `//` comments (doc comments included), so prose naming a module is not an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module names a file's `crate::` paths reach: `crate::a::b`, and each
/// top-level item of `crate::{a::b, c}` (nested braces below them are left alone).
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        // `$crate::` or `mycrate::` are not paths into this crate.
        if start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'$')
        {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ if depth == 1 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    out.push((line, name));
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((line, name));
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every use of `crate::x` in `src/` goes down the layer list: no import from a lower layer
/// to a higher one, none within a layer, so no loop between top-level modules.
#[test]
fn modules_import_only_lower_layers() {
    let src = root().join("src");
    let mut offences = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if NOT_LIBRARY.contains(&module.as_str()) {
            continue;
        }
        let Some(mine) = layer_of(&module) else {
            offences.push(format!(
                "{}: top-level module `{module}` is not in tests/tidy.rs LAYERS",
                rel.display()
            ));
            continue;
        };
        let text = fs::read_to_string(&file).unwrap();
        for (line, target) in crate_paths(&code_of(&text)) {
            if target == module {
                continue;
            }
            match layer_of(&target) {
                Some(theirs) if theirs < mine => {}
                Some(theirs) => offences.push(format!(
                    "src/{}:{line}: `{module}` (layer {mine}) imports `{target}` (layer {theirs}), which is not below it",
                    rel.display()
                )),
                None => offences.push(format!(
                    "src/{}:{line}: `{module}` imports `{target}`, which is not in LAYERS",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        offences.is_empty(),
        "imports that break the layers (ARCHITECTURE.md, \"Layers\"):\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_path_reader_sees_grouped_and_nested_imports() {
    let code = "use crate::{a::b, c::{d, e}, self};\nfn f() { crate::g::h(); $crate::no; }";
    let names: Vec<String> = crate_paths(code).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["a", "c", "g"]);
}

/// ARCHITECTURE.md's layer list is this test's, layer for layer.
#[test]
fn architecture_md_lists_the_same_layers() {
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let listed: Vec<Vec<String>> = section
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .take_while(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            let names = l.split_once(". ").map_or("", |(_, rest)| rest);
            names
                .split("—")
                .next()
                .unwrap_or("")
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .collect();
    let ours: Vec<Vec<String>> = LAYERS
        .iter()
        .rev()
        .map(|l| l.iter().map(|n| n.to_string()).collect())
        .collect();
    assert_eq!(
        listed, ours,
        "ARCHITECTURE.md's numbered layer list (top first) must match LAYERS"
    );
}

/// Most lines a source file in `src/` has before it must say, at its top, why it is one file.
const LONG_FILE_LINES: usize = 600;
/// What a long file's module doc says to justify its length.
const LONG_FILE_MARK: &str = "//! Long file:";

/// One job per file: a file in `src/` over [`LONG_FILE_LINES`] lines either splits or says
/// why it is one file, in a `//! Long file:` line of its module doc. Test files (`*tests.rs`)
/// are exempt: a table of cases reads best in one place.
#[test]
fn long_files_say_why_they_are_one_file() {
    let mut offences = Vec::new();
    for file in rust_files(&root().join("src")) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with("tests.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let said = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .any(|l| l.starts_with(LONG_FILE_MARK));
        if lines > LONG_FILE_LINES && !said {
            offences.push(format!(
                "{}: {lines} lines; split it by job or say why in a `{LONG_FILE_MARK}` line",
                file.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
