//! `watch` end to end, through the binary against the sandbox with a short interval: an
//! edited cell reaches the store, a sale reaches the sheet at the next full sync, a guard
//! refusal shows in the status cells and clears once the sheet is fixed, and SIGTERM
//! ends the command with exit 0. `schedule --every` the same way, at a one-second period.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::LogTail;
use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;

const TAB: &str = "Inventory";
const WRITE_BACK: &str =
    "\n[sheet.write_back]\nstatus = \"Sync status\"\nsynced_at = \"Last synced\"\n";

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// The demo sandbox with write-back, its bad cells emptied and a baseline settled.
    async fn ready() -> Env {
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let mut text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(WRITE_BACK, "\n");
        text.push_str(WRITE_BACK);
        std::fs::write(&config, text).unwrap();
        let env = Env {
            sandbox,
            _dir: dir,
            config,
        };
        env.sandbox.fix_demo_sheet();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(&env.config)
            .args(["sync", "--adopt", "sheet"])
            .output()
            .await
            .expect("sync");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    fn watch(&self, full_every: &str) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(&self.config)
            .args(["watch", "--interval", "200ms", "--full-every", full_every])
            .env("SHEETSYNC_LOG", "sheetsync=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn watch")
    }

    fn schedule(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(&self.config)
            .arg("schedule")
            .args(args)
            .env("SHEETSYNC_LOG", "sheetsync=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn schedule")
    }

    fn cell(&self, a1: &str) -> Option<Value> {
        self.sandbox.sheets.cell(TAB, a1)
    }

    fn set(&self, a1: &str, v: Value) {
        assert!(self.sandbox.sheets.set_cell(TAB, a1, v), "{a1}");
    }

    /// A sale leaves `left` of TEE-RED-M at Main Warehouse: it must reach the sheet's
    /// stock cell (G3) and not be pushed back, the store keeping the sale.
    async fn sale_reaches_the_sheet(&self, left: i64) {
        let shopify = &self.sandbox.shopify;
        assert!(shopify.set_available("TEE-RED-M", "Main Warehouse", left));
        eventually(10, "the sale to reach the sheet", || {
            self.cell("G3").and_then(|v| v.as_i64()) == Some(left)
        })
        .await;
        assert_eq!(shopify.available("TEE-RED-M", "Main Warehouse"), Some(left));
    }

    fn price(&self, sku: &str) -> f64 {
        let p = self.sandbox.shopify.variant(sku).expect("variant").price;
        p.to_string().parse().expect("price")
    }
}

/// Waits (up to `secs` seconds, a bound for failures only) until `check` holds.
async fn eventually(secs: u64, what: &str, check: impl FnMut() -> bool) {
    common::wait_until(Duration::from_secs(secs), what, check).await;
}

/// SIGTERM, then the exit code and everything the command logged.
async fn terminate(mut child: tokio::process::Child, log: LogTail) -> (Option<i32>, String) {
    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("watch stops after SIGTERM")
        .expect("wait");
    (status.code(), log.finish().await)
}

fn text(v: Option<Value>) -> String {
    v.and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_reach_the_store_sales_reach_the_sheet_and_sigterm_exits_0() {
    let env = Env::ready().await;
    let mut child = env.watch("1s");
    let log = LogTail::of(&mut child);
    // Once the first (full) tick has run, edit a price as a merchant would.
    log.wait_for("tick: full sync", 1).await;
    env.set("C2", json!(21.5));
    eventually(10, "the store to take the edited price", || {
        env.price("TEE-RED-S") == 21.5
    })
    .await;
    assert_eq!(text(env.cell("I2")), "OK");

    // A sale in the store: the next full sync pulls it into the stock cell.
    env.sale_reaches_the_sheet(3).await;

    let (code, log) = terminate(child, log).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("row(s) changed (TEE-RED-S)"), "{log}");
    assert!(log.contains("full sync"), "{log}");
    assert!(log.contains("Watch stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_shows_in_the_status_cells_and_clears_when_the_sheet_is_fixed() {
    let env = Env::ready().await;
    let before = env.price("TEE-RED-S");
    let mut child = env.watch("1h");
    let log = LogTail::of(&mut child);
    log.wait_for("tick: full sync", 1).await;
    // A misplaced decimal point: the price guard refuses.
    env.set("C2", json!(1990));
    eventually(10, "the refusal in the status cell", || {
        text(env.cell("I2")) == "refused: price_change"
    })
    .await;
    // Judged once: the ticks after it leave it alone and the store is untouched.
    let ticks = log.count("tick:");
    log.wait_for("tick:", ticks + 3).await;
    assert_eq!(env.price("TEE-RED-S"), before);

    env.set("C2", json!(19.5));
    eventually(10, "the fixed price in the store", || {
        env.price("TEE-RED-S") == 19.5
    })
    .await;
    eventually(5, "the status to clear", || text(env.cell("I2")) == "OK").await;

    let (code, log) = terminate(child, log).await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        log.matches("A safety guard refused the plan").count(),
        1,
        "a standing refusal is logged once: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_writer_is_refused_while_watch_runs() {
    let env = Env::ready().await;
    let mut child = env.watch("1h");
    let log = LogTail::of(&mut child);
    // The watch holds the writer lock from its start; its first tick proves it started.
    log.wait_for("tick: full sync", 1).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .arg("sync")
        .output()
        .await
        .expect("sync");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sheetsync watch"), "{stderr}");
    let (code, log) = terminate(child, log).await;
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_every_syncs_each_period_until_sigterm() {
    let env = Env::ready().await;
    let mut child = env.schedule(&["--every", "1s"]);
    let log = LogTail::of(&mut child);
    // The first sync runs at once; an edit made after it lands at a later tick.
    log.wait_for("scheduled sync:", 1).await;
    env.set("C2", json!(22.5));
    eventually(10, "the store to take the edited price", || {
        env.price("TEE-RED-S") == 22.5
    })
    .await;
    // A sale in the store reaches the sheet at a later tick.
    env.sale_reaches_the_sheet(4).await;

    let (code, log) = terminate(child, log).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.matches("scheduled sync:").count() >= 2, "{log}");
    assert!(log.contains("Schedule stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_expression_that_does_not_parse_is_a_config_error() {
    let env = Env::ready().await;
    let out = env
        .schedule(&["every tuesday"])
        .wait_with_output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("every tuesday"), "{err}");
}
