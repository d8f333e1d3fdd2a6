//! Where tests find `../shared` (the recorded captures, Shopify's CSV files and full
//! schema that live beside the repository, not in it), and what a test does when it is
//! absent: skip, saying so on stderr past the test harness's capture, or, when
//! `SHEETSYNC_REQUIRE_SHARED=1` (CI sets it), fail. A test that needs `../shared` asks
//! here and nowhere else, so no test can turn green without running.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that turns a missing `../shared` from a skip into a failure.
pub const REQUIRE_VAR: &str = "SHEETSYNC_REQUIRE_SHARED";

/// `../shared`: beside the directory that holds the workspace's `Cargo.lock` (found from
/// this crate's manifest upwards, so it stays right if this crate becomes a workspace
/// member in a subdirectory).
pub fn shared_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(manifest);
    root.join("../shared")
}

/// `../shared/<rel>` when it exists. When it does not: panics (failing the test) if
/// `SHEETSYNC_REQUIRE_SHARED=1`, else writes a `SKIPPED` line naming `test` to stderr and
/// returns `None`, and the caller returns without asserting anything.
///
/// The line goes to the process's stderr directly: `eprintln!` inside a test is captured
/// and shown only when the test fails, which a skipped test never does.
pub fn shared_path(test: &str, rel: &str) -> Option<PathBuf> {
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    decide(
        locate(test, &shared_dir(), rel),
        required,
        &mut std::io::stderr().lock(),
    )
}

/// `dir/rel`, or what says which test it was absent for.
fn locate(test: &str, dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let path = dir.join(rel);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{test} needs ../shared/{rel}, absent at {}",
            path.display()
        ))
    }
}

fn decide(found: Result<PathBuf, String>, required: bool, out: &mut dyn Write) -> Option<PathBuf> {
    let absent = match found {
        Ok(path) => return Some(path),
        Err(absent) => absent,
    };
    assert!(
        !required,
        "{absent}, and {REQUIRE_VAR}=1 forbids skipping (put the shared directory beside the repository)"
    );
    // One write, so that lines of tests running in parallel do not interleave; a failed
    // write to stderr leaves nothing better to report it to.
    let _ = out.write_all(
        format!(
            "\n!!! SKIPPED (not run): {absent} (set {REQUIRE_VAR}=1 to make this a failure)\n\n"
        )
        .as_bytes(),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_path_skips_loudly_unless_required_and_a_present_one_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("here.json"), "{}").expect("write");
        let mut out = Vec::new();
        let found = decide(locate("t", dir.path(), "here.json"), true, &mut out);
        assert_eq!(found, Some(dir.path().join("here.json")));
        assert!(out.is_empty());

        let skipped = decide(
            locate("my_test", dir.path(), "absent.json"),
            false,
            &mut out,
        );
        assert_eq!(skipped, None);
        let said = String::from_utf8(out).expect("utf-8");
        assert!(
            said.contains("SKIPPED (not run): my_test needs ../shared/absent.json"),
            "{said}"
        );

        let err = std::panic::catch_unwind(|| {
            decide(
                locate("my_test", dir.path(), "absent.json"),
                true,
                &mut Vec::new(),
            )
        })
        .expect_err("required and absent: the test fails");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        for part in ["my_test", "../shared/absent.json", REQUIRE_VAR] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
    }

    #[test]
    fn the_shared_dir_sits_beside_the_repository() {
        let dir = shared_dir();
        assert!(dir.ends_with("../shared"), "{}", dir.display());
        let parent = dir.parent().and_then(Path::parent).expect("parent");
        assert!(parent.join("Cargo.lock").is_file(), "{}", parent.display());
    }
}
