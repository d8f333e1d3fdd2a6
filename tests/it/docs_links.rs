//! The documentation stands alone: every relative link in `README.md`, `ARCHITECTURE.md`
//! and `docs/*.md` names a file or directory inside this repository, and every `#anchor`
//! names a heading of its target (as GitHub derives anchors from headings). External
//! links (`https:`, `mailto:`) are not followed: tests make no network calls.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a readable docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// The targets of inline links `[text](target)` outside code blocks and code spans.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans may hold `](` that is not a link.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#').replace('`', "").as_str()));
        }
    }
    out
}

/// What is wrong with `target` as a link from `doc`, if anything.
fn broken(root: &Path, doc: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        doc.to_path_buf()
    } else {
        let dir = doc.parent().expect("a document has a directory");
        dir.join(path)
    };
    let Ok(resolved) = file.canonicalize() else {
        return Some(format!("{path} does not exist"));
    };
    let Ok(root) = root.canonicalize() else {
        return Some("the repository root cannot be resolved".into());
    };
    if !resolved.starts_with(&root) {
        return Some(format!("{path} is outside the repository"));
    }
    let anchor = anchor?;
    let text = std::fs::read_to_string(&resolved).ok()?;
    (!anchors(&text).contains(anchor)).then(|| format!("no heading for #{anchor}"))
}

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("a readable document");
        for target in link_targets(&text) {
            checked += 1;
            if let Some(why) = broken(&root, &doc, &target) {
                let name = doc.strip_prefix(&root).unwrap_or(&doc).display();
                problems.push(format!("{name}: ({target}): {why}"));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser right?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_links_the_reference_and_the_architecture() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let targets = link_targets(&readme);
    for page in [
        "ARCHITECTURE.md",
        "docs/performance.md",
        "docs/configuration.md",
    ] {
        assert!(
            targets.iter().any(|t| t == page),
            "README.md does not link {page}"
        );
    }
    // A clone has no `../shared`: the README must not send readers there.
    assert!(
        !readme.contains("../shared"),
        "README.md points outside the repository"
    );
}

#[test]
fn the_checker_catches_what_it_is_for() {
    let root = root();
    let readme = root.join("README.md");
    assert!(broken(&root, &readme, "docs/no-such-page.md").is_some());
    assert!(broken(&root, &readme, "../shared/DESIGN.md").is_some());
    assert!(broken(&root, &readme, "docs/performance.md#no-such-heading").is_some());
    assert!(broken(&root, &readme, "docs/performance.md#at-a-live-stores-pace").is_none());
    assert!(broken(&root, &readme, "https://example.com/x").is_none());
    assert_eq!(
        link_targets("[a](x.md) `[b](y.md)` [c](z.md#q)\n```\n[d](w.md)\n```"),
        ["x.md", "z.md#q"]
    );
    assert_eq!(slug("Shopify's CSV layouts"), "shopifys-csv-layouts");
    assert_eq!(slug("Your first real sync"), "your-first-real-sync");
}
