//! The status page (SPEC §10 `GET /`) in a real browser: headless Chromium from Debian's
//! packages loads the page that `serve::page::router` serves over the state a real `sync`
//! (the binary, against the sandbox) wrote, and the test reads the DOM it built. A bad
//! cell and a both-changed conflict show with their cells and links, markup typed into
//! the sheet stays text, the page refreshes itself when a new run lands, and a fixed
//! sheet clears the error on the next run.
//!
//! Without Chromium the test prints a loud SKIPPED line, or fails where the environment
//! says Chromium must be there (`SHEETSYNC_REQUIRE_SHARED`, as `.ci/run` sets, or `CI`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sheetsync::config::Config;
use sheetsync::serve::page::{self, PageContext, SharedHealth, WatchHealth};
use sheetsync_sandbox::Sandbox;

use crate::common;

const SCRIPT: &str = "<script>alert(1)</script>";
const ATTRIBUTE: &str = "\"><img src=x onerror=alert(2)>";

/// Chromium's binary, or `None` (after saying why) when the test must be skipped.
async fn chromium() -> Option<&'static str> {
    let found = tokio::process::Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if found {
        return Some("chromium");
    }
    let required =
        std::env::var_os("SHEETSYNC_REQUIRE_SHARED").is_some() || std::env::var_os("CI").is_some();
    assert!(
        !required,
        "chromium is not installed (apt-get install -y --no-install-recommends chromium); \
         .ci/run installs it"
    );
    eprintln!(
        "\n==================== SKIPPED status_page: chromium is not installed \
         (apt-get install -y --no-install-recommends chromium) ====================\n"
    );
    None
}

/// Loads `url` in headless Chromium and returns the DOM it built. `budget` is virtual
/// time the page may run for (its timers fire in it; a pending fetch pauses it).
async fn dump_dom(chromium: &str, profile: &Path, url: &str, budget: Duration) -> String {
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // Bounds a failure only (a hung browser); a loaded machine just takes longer.
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("chromium finished within 120 s")
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "chromium printed no DOM (exit {:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// The part of the DOM between `id="<section>"` and the next section.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id} in:\n{dom}"));
    let rest = &dom[start..];
    let end = rest[1..].find("<section").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// Serves `router` on 127.0.0.1:0; returns its URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/")
}

/// The page's router behind a gate: the first request for the page passes, later ones
/// (its own refreshes) wait until the test opens the gate. `served` counts the page's
/// requests answered.
fn gated(
    router: axum::Router,
) -> (
    axum::Router,
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<usize>,
) {
    let (open_tx, open_rx) = tokio::sync::watch::channel(false);
    let (served_tx, served_rx) = tokio::sync::watch::channel(0usize);
    let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let served_tx = Arc::new(served_tx);
    let layer = axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let mut open = open_rx.clone();
            let served = Arc::clone(&served_tx);
            // Only the page counts (not a favicon the browser may ask for).
            let page = req.uri().path() == "/";
            let n = if page {
                arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            } else {
                0
            };
            async move {
                if n > 0 {
                    let _ = open.wait_for(|o| *o).await;
                }
                let response = next.run(req).await;
                if page {
                    served.send_modify(|c| *c += 1);
                }
                response
            }
        },
    );
    (router.layer(layer), open_tx, served_rx)
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn sync(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = common::run_sheetsync(&self.config, &all).await;
        (code, common::json_output(code, &stdout, &stderr))
    }

    fn page(&self) -> PageContext {
        // Relative paths (the state dir) are resolved against the config's directory.
        let config = Config::load(&self.config, &|k| std::env::var(k).ok()).expect("config");
        PageContext::new(
            Arc::new(config),
            SharedHealth::new(WatchHealth::starting(chrono::Utc::now())),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_a_bad_cell_and_a_conflict_in_a_browser_and_clears_them() {
    let Some(chromium) = chromium().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let env = Env {
        sandbox,
        _dir: dir,
        config,
    };
    let sheets = &env.sandbox.sheets;
    // The demo sheet's own bad cells, made hostile: C14 is a price, G18 a stock cell.
    sheets.set_cell("Inventory", "C14", json!(SCRIPT));
    sheets.set_cell("Inventory", "G18", json!(ATTRIBUTE));
    let (code, first) = env.sync(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{first:#}");
    assert_eq!(first["sheet_id"], 0, "the report carries the tab's sheetId");
    // A sale lands mid-run under an edited cell: a both_changed conflict, sheet wins.
    sheets.set_cell("Inventory", "G2", json!(20));
    env.sandbox
        .shopify
        .set_available_before_next_set("TEE-RED-S", "Main Warehouse", 13);
    let (code, second) = env.sync(&[]).await;
    assert_eq!(code, 3, "{second:#}");
    let conflict = &second["conflicts"][0];
    assert_eq!(
        (&conflict["sku"], &conflict["kind"], &conflict["cell"]),
        (
            &json!("TEE-RED-S"),
            &json!("both_changed"),
            &json!("Inventory!G2")
        ),
        "{second:#}"
    );
    let run2 = second["run_id"].as_str().expect("run_id").to_owned();

    let page = env.page();
    let url = serve(page::router(page.clone())).await;
    let profile = tempfile::tempdir().expect("profile");
    let dom = dump_dom(chromium, profile.path(), &url, Duration::from_millis(500)).await;
    let id = env.sandbox.sheets.spreadsheet_id();
    let link = |a1: &str| {
        format!("href=\"https://docs.google.com/spreadsheets/d/{id}/edit#gid=0&amp;range={a1}\"")
    };

    let errors = section(&dom, "errors");
    assert!(
        errors.contains(&format!(
            "<a class=\"cell\" {} rel=\"noreferrer\">Inventory!C14</a>",
            link("C14")
        )),
        "{errors}"
    );
    assert!(errors.contains(">Inventory!G18</a>"), "{errors}");
    // Markup typed into the sheet is text in the DOM, never elements.
    assert!(
        errors.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{errors}"
    );
    assert!(
        errors.contains("\"&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{errors}"
    );
    assert!(!dom.contains("<img"), "an element was injected:\n{dom}");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script: {dom}"
    );

    let conflicts = section(&dom, "conflicts");
    assert!(
        conflicts.contains(&format!(
            "<a class=\"cell\" {} rel=\"noreferrer\">Inventory!G2</a>",
            link("G2")
        )),
        "{conflicts}"
    );
    assert!(conflicts.contains("TEE-RED-S"), "{conflicts}");
    assert!(conflicts.contains("both_changed"), "{conflicts}");
    assert!(
        conflicts.contains("baseline 14 · sheet 20 · store 13"),
        "{conflicts}"
    );
    assert!(section(&dom, "runs").contains(&format!("data-run-id=\"{run2}\"")));

    // The page refreshes itself: load it, then make a run while it is open. Its first
    // request is answered at once; its own refreshes wait at the gate until the run is
    // journaled, and virtual time stands still while they wait, so the DOM Chromium
    // prints is the refreshed page only if the page fetched itself again.
    let (router, open, mut served) = gated(page::router(page.clone()));
    let gated_url = serve(router).await;
    let profile2 = tempfile::tempdir().expect("profile");
    let budget = page::REFRESH_EVERY + Duration::from_secs(3);
    let browser = {
        let url = gated_url.clone();
        let profile = profile2.path().to_path_buf();
        tokio::spawn(async move { dump_dom(chromium, &profile, &url, budget).await })
    };
    tokio::time::timeout(Duration::from_secs(60), served.wait_for(|n| *n >= 1))
        .await
        .expect("chromium loaded the page within 60 s")
        .expect("gate alive");

    env.sandbox.fix_demo_sheet();
    let (code, fixed) = env.sync(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{fixed:#}");
    let run3 = fixed["run_id"].as_str().expect("run_id").to_owned();
    open.send_replace(true);
    let refreshed = browser.await.expect("browser task");
    assert!(*served.borrow() >= 2, "the page never fetched itself again");
    assert!(
        section(&refreshed, "runs").contains(&format!("data-run-id=\"{run3}\"")),
        "the new run did not appear without a reload:\n{refreshed}"
    );
    let errors = section(&refreshed, "errors");
    assert!(!errors.contains("Inventory!C14"), "{errors}");
    assert!(errors.contains("No row errors"), "{errors}");

    // Loaded afresh: the fixed sheet's run cleared the error and the conflict.
    let dom = dump_dom(chromium, profile.path(), &url, Duration::from_millis(500)).await;
    assert!(!section(&dom, "errors").contains("Inventory!C14"), "{dom}");
    assert!(!section(&dom, "conflicts").contains("TEE-RED-S"), "{dom}");
    let last = section(&dom, "last-run");
    assert!(last.contains(&run3), "{last}");
}

/// `watch` plans only the rows that changed: its run clears the error of the row it
/// re-read and leaves the others' errors, which only a run of their rows can clear. No
/// browser: the page's view, over the state the real `watch` wrote.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_rows_run_settles_only_its_own_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let env = Env {
        sandbox,
        _dir: dir,
        config,
    };
    let (code, first) = env.sync(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "the demo sheet's bad cells: {first:#}");
    let page = env.page();
    let errors =
        |v: &page::StatusView| -> Vec<String> { v.errors.iter().map(|e| e.cell.clone()).collect() };
    let before = page.view();
    assert!(
        errors(&before).contains(&"Inventory!C14".to_owned())
            && errors(&before).contains(&"Inventory!G18".to_owned()),
        "{before:#?}"
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["watch", "--interval", "200ms", "--full-every", "1h"])
        .env("SHEETSYNC_LOG", "sheetsync=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn watch");
    let log = common::LogTail::of(&mut child);
    log.wait_for("tick: full sync", 1).await;
    // The merchant fixes the price in C14 (MUG-15OZ); G18 stays a date.
    env.sandbox.sheets.set_cell("Inventory", "C14", json!(14.5));
    log.wait_for("row(s) changed (MUG-15OZ)", 1).await;

    let after = page.view();
    let newest = &after.runs[0];
    assert_eq!(newest.scope, "1 changed row(s)", "{after:#?}");
    assert!(
        !errors(&after).contains(&"Inventory!C14".to_owned()),
        "the re-read row's error is gone: {after:#?}"
    );
    let g18 = after
        .errors
        .iter()
        .find(|e| e.cell == "Inventory!G18")
        .expect("G18's error stands: no run re-read its row");
    assert_ne!(g18.run_id, newest.run_id);

    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("watch stops after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", log.finish().await);
}
