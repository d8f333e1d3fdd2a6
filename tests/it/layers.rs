//! The layers only point down (ARCHITECTURE.md): every `crate::x` path in a module of
//! `src/` names a module of its own layer or of a layer below. Test code (`tests.rs`,
//! `proptests.rs`, a trailing `#[cfg(test)] mod tests`) may reach anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top to bottom; a module may import from its own row and the rows after it.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["serve"],
    &["schedule", "commands", "fleet"],
    &["engine"],
    &["apply", "report"],
    &["store", "sheet"],
    &["auth", "http"],
    &["state"],
    &["plan", "config"],
    // `progress` is a handle for events, which every layer that does long work reports to.
    &["model", "progress"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without a trailing `#[cfg(test)] mod tests` block.
fn code(text: &str) -> String {
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i]);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source names through `crate::`: `crate::a::b` and each
/// top-level name of `crate::{a::b, c}`.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut current = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(std::mem::take(&mut current));
                        continue;
                    }
                    _ => {}
                }
                current.push(c);
            }
            out.push(current);
        } else {
            out.push(rest.to_owned());
        }
    }
    out.iter()
        .map(|s| {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .filter(|s: &String| !s.is_empty())
        .collect()
}

#[test]
fn modules_import_only_from_their_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} sources in {}",
        files.len(),
        src.display()
    );
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == "tests.rs" || name == "proptests.rs" {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap_or(path);
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs");
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = rank(top) else {
            upward
                .entry(rel.display().to_string())
                .or_default()
                .push(format!("{top} is in no layer: add it to LAYERS"));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for target in crate_refs(&code(&text)) {
            if rank(&target).is_some_and(|r| r < own) {
                upward
                    .entry(rel.display().to_string())
                    .or_default()
                    .push(format!("{top} -> {target}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules importing from a layer above them (order: {LAYERS:?}): {upward:#?}"
    );
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let refs = crate_refs("use crate::{plan::Plan, sheet::{a, b}};\nlet x = crate::cli::run();");
    assert_eq!(refs, ["plan", "sheet", "cli"]);
    assert_eq!(
        code("a // crate::cli\n#[cfg(test)]\nmod tests { crate::cli }"),
        "a "
    );
}
