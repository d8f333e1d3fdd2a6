//! Every module opens with a `//!` saying its job and its boundary: walks `src/` and
//! `sandbox/src/` and names each `.rs` file whose first non-empty line is not one.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, depth first, in name order.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Whether `text` opens (after blank lines) with an inner doc comment.
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_start().starts_with("//!"))
}

#[test]
fn the_check_tells_a_header_from_its_absence() {
    assert!(opens_with_module_doc("\n//! Job.\n\nuse x;\n"));
    assert!(!opens_with_module_doc("use x;\n//! Late.\n"));
    assert!(!opens_with_module_doc("// A plain comment.\n"));
    assert!(!opens_with_module_doc("/// An item doc.\nfn f() {}\n"));
    assert!(!opens_with_module_doc(""));
}

#[test]
fn every_module_opens_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "sandbox/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 50,
        "found only {} files: wrong root {}?",
        files.len(),
        root.display()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            !opens_with_module_doc(&text)
        })
        .map(|path| {
            path.strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` saying their job and boundary:\n  {}",
        missing.join("\n  ")
    );
}
