//! End to end: the `sheetsync` binary against the sandbox (Sheets, Google token endpoint
//! and Shopify fakes on 127.0.0.1), through the real clients.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
    backend: common::Backend,
}

impl Env {
    async fn demo() -> Env {
        Env::with_sync(Sandbox::demo(0).await.expect("sandbox"), "").await
    }

    async fn demo_on(backend: common::Backend) -> Env {
        Env {
            backend,
            ..Env::demo().await
        }
    }

    async fn with_sync(sandbox: Sandbox, sync_extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox
            .write_config(dir.path(), sync_extra)
            .expect("config");
        Env {
            sandbox,
            dir,
            config,
            backend: common::Backend::Sqlite,
        }
    }

    /// Runs the binary; returns (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let env = self.backend.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::run_sheetsync_env(&self.config, args, &env).await
    }

    /// `sync --json …`: exit code and the parsed report.
    async fn sync_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report)
    }

    fn mutations(&self) -> Vec<String> {
        self.sandbox
            .shopify
            .requests()
            .into_iter()
            .flat_map(|r| r.root_fields)
            .filter(|f| {
                [
                    "inventorySetQuantities",
                    "inventoryActivate",
                    "productVariantsBulkUpdate",
                ]
                .contains(&f.as_str())
            })
            .collect()
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

fn money(s: &str) -> rust_decimal::Decimal {
    s.parse().expect("decimal")
}

fn changes_of<'a>(report: &'a Value, sku: &str) -> Vec<&'a Value> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["sku"] == sku)
        .collect()
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
fn snapshot_dir(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(snapshot_dir(&p));
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_and_writes_nothing_anywhere() {
    let env = Env::demo().await;
    let before = snapshot_dir(env.dir.path());
    let sheet_before = env.sandbox.sheets.rows("Inventory");
    let (code, report) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 3, "row errors in the demo sheet: {report:#}");
    assert_eq!(report["dry_run"], json!(true));
    assert!(report["changes"].as_array().is_some_and(|c| !c.is_empty()));
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "planned")
    );
    assert!(
        env.mutations().is_empty(),
        "dry run sent {:?}",
        env.mutations()
    );
    assert_eq!(
        snapshot_dir(env.dir.path()),
        before,
        "dry run changed the state dir"
    );
    assert!(!env.state_dir().exists(), "dry run created the state dir");
    assert_eq!(env.sandbox.sheets.rows("Inventory"), sheet_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_matches_the_real_run() {
    let env = Env::demo().await;
    let (_, dry) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    let (code, real) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{real:#}");
    let strip = |r: &Value| -> Vec<Value> {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!([c["sku"], c["field"], c["location"], c["from"], c["to"]]))
            .collect()
    };
    assert_eq!(strip(&dry), strip(&real));
    assert!(
        real["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "applied"),
        "{real:#}"
    );
    assert_eq!(dry["errors"], real["errors"]);
}

async fn sync_applies_prices_stock_and_activation_then_converges(backend: common::Backend) {
    let env = Env::demo_on(backend).await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    let shop = &env.sandbox.shopify;
    let tee = shop.variant("TEE-RED-M").expect("TEE-RED-M");
    assert_eq!(tee.price, money("21.00"));
    assert_eq!(tee.available.get("Main Warehouse"), Some(&25));
    assert_eq!(shop.available("TEE-RED-L", "Outlet"), Some(4));
    // BEAN-GRY had no level at Outlet: activated with the cell's value.
    assert_eq!(shop.available("BEAN-GRY", "Outlet"), Some(5));
    // TOTE-NAT's "$17.50" is accepted money text.
    assert_eq!(shop.variant("TOTE-NAT").unwrap().price, money("17.50"));
    // The bad rows were not written.
    assert_eq!(shop.variant("MUG-15OZ").unwrap().price, money("14.50"));
    let cells: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cell"].as_str().unwrap())
        .collect();
    assert!(cells.contains(&"Inventory!C14"), "{cells:?}");

    // A second run over the unchanged sheet plans nothing and sends no mutation.
    let writes_before = env.mutations().len();
    let (code, again) = env.sync_json(&[]).await;
    assert_eq!(code, 3, "only the row errors remain: {again:#}");
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert_eq!(again["conflicts"], json!([]), "{again:#}");
    assert_eq!(env.mutations().len(), writes_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_without_adopt_reports_no_baseline_conflicts_and_writes_nothing() {
    let env = Env::demo().await;
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 3);
    assert_eq!(report["changes"], json!([]));
    let conflicts = report["conflicts"].as_array().unwrap();
    assert!(conflicts.iter().any(|c| c["sku"] == "TEE-RED-M"
        && c["kind"] == "no_baseline"
        && c["resolution"] == "none"));
    assert!(env.mutations().is_empty());
    let (_, human, _) = env.run(&["sync", "--dry-run"]).await;
    assert!(
        human.contains("--adopt sheet"),
        "the plan tells a first-time user what to do:\n{human}"
    );
}

async fn three_way_pulls_a_sale_instead_of_overwriting_it(backend: common::Backend) {
    let env = Env::demo_on(backend).await;
    env.sync_json(&["--adopt", "sheet"]).await;
    // A sale in the store: TEE-RED-S Main Warehouse 14 → 13, the sheet still says 14.
    assert!(
        env.sandbox
            .shopify
            .set_available("TEE-RED-S", "Main Warehouse", 13)
    );
    let (_, report) = env.sync_json(&[]).await;
    assert!(
        changes_of(&report, "TEE-RED-S").is_empty(),
        "the sale must not be overwritten: {report:#}"
    );
    let pulled = report["pulled"].as_array().unwrap();
    assert!(
        pulled
            .iter()
            .any(|p| p["sku"] == "TEE-RED-S" && p["from"] == 14 && p["to"] == 13),
        "{report:#}"
    );
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-S", "Main Warehouse"),
        Some(13)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sheet_wins_overwrites_the_store() {
    let sandbox = Sandbox::demo(0).await.unwrap();
    let env = Env::with_sync(sandbox, "inventory = \"sheet_wins\"").await;
    assert!(
        env.sandbox
            .shopify
            .set_available("TEE-RED-S", "Main Warehouse", 13)
    );
    let (_, report) = env.sync_json(&[]).await;
    let c = changes_of(&report, "TEE-RED-S");
    assert_eq!(c.len(), 1, "{report:#}");
    assert_eq!(c[0]["from"], 13);
    assert_eq!(c[0]["to"], 14);
    assert_eq!(c[0]["status"], "applied");
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-S", "Main Warehouse"),
        Some(14)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_writes_carry_compare_and_set_and_an_idempotency_key() {
    let env = Env::demo().await;
    env.sync_json(&["--adopt", "sheet"]).await;
    let sets: Vec<_> = env
        .sandbox
        .shopify
        .requests()
        .into_iter()
        .filter(|r| r.root_fields.iter().any(|f| f == "inventorySetQuantities"))
        .collect();
    assert!(!sets.is_empty());
    for r in &sets {
        assert!(
            r.idempotency_key
                .as_deref()
                .is_some_and(|k| !k.trim().is_empty())
        );
        for q in r.variables["input"]["quantities"].as_array().unwrap() {
            assert!(q.get("changeFromQuantity").is_some(), "{q}");
        }
        assert!(r.error_codes.is_empty(), "{:?}", r.error_codes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_bucket_paces_requests_without_throttling() {
    let env = Env::demo().await;
    // A bucket that holds a little more than one page of variants: the client must wait
    // for it to refill instead of being answered THROTTLED.
    env.sandbox.shopify.set_bucket(400.0, 200.0);
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    let throttled = env
        .sandbox
        .shopify
        .requests()
        .iter()
        .filter(|r| r.error_codes.iter().any(|c| c == "THROTTLED"))
        .count();
    assert_eq!(throttled, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn guard_refuses_a_mass_change_with_exit_4_unless_yes() {
    let env = Env::demo().await;
    env.sync_json(&["--adopt", "sheet"]).await;
    // Zero most of the stock column in the sheet.
    for row in 2..=20 {
        env.sandbox
            .sheets
            .set_cell("Inventory", &format!("G{row}"), json!(0));
    }
    let writes = env.mutations().len();
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 4, "{report:#}");
    assert!(report["refused"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        env.mutations().len(),
        writes,
        "a refused plan writes nothing"
    );
    let (code, report) = env.sync_json(&["--yes"]).await;
    assert_ne!(code, 4, "{report:#}");
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-S", "Main Warehouse"),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_exits_1_without_printing_it() {
    let env = Env::demo().await;
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace(sheetsync_sandbox::SANDBOX_TOKEN, "shpat_wrongwrongwrong");
    std::fs::write(&env.config, text).unwrap();
    let (code, stdout, stderr) = env.run(&["sync", "--dry-run"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("shpat_wrong") && !stdout.contains("shpat_wrong"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_location_is_a_config_error_listing_the_real_ones() {
    let env = Env::demo().await;
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("\"Outlet\" = ", "\"Outlett\" = ");
    std::fs::write(&env.config, text).unwrap();
    let (code, _, stderr) = env.run(&["sync", "--dry-run"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Outlett")
            && stderr.contains("\"Main Warehouse\"")
            && stderr.contains("\"Old Depot\" (inactive)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_scope_stops_the_run_and_names_it() {
    let seed: Value = serde_json::from_str(include_str!("../../config/demo/store.json")).unwrap();
    let mut seed = seed;
    seed["shop"]["scopes"] = json!([
        "read_products",
        "write_products",
        "read_locations",
        "read_inventory"
    ]);
    let shopify = sheetsync_sandbox::shopify::ShopifyFake::from_seed_json(
        &seed.to_string(),
        sheetsync_sandbox::SANDBOX_TOKEN,
    )
    .unwrap();
    let sheets = sheetsync_sandbox::sheets::SheetsFake::from_seed_json(include_str!(
        "../../config/demo/sheet.json"
    ))
    .unwrap();
    let env = Env::with_sync(Sandbox::start(shopify, sheets, 0).await.unwrap(), "").await;
    let (code, _, stderr) = env.run(&["sync"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("write_inventory"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_header_is_a_config_error_listing_the_headers_found() {
    let env = Env::demo().await;
    env.sandbox
        .sheets
        .set_cell("Inventory", "H1", json!("Outlet qty"));
    let (code, _, stderr) = env.run(&["sync", "--dry-run"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Outlet stock") && stderr.contains("Outlet qty"),
        "{stderr}"
    );
}

async fn runs_lists_the_journal_newest_first(backend: common::Backend) {
    let env = Env::demo_on(backend).await;
    let (_, first) = env.sync_json(&["--adopt", "sheet"]).await;
    let (_, second) = env.sync_json(&[]).await;
    let (code, stdout, stderr) = env.run(&["runs", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let runs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(runs[0]["run_id"], second["run_id"]);
    assert_eq!(runs[1]["run_id"], first["run_id"]);
    assert_eq!(runs[0]["exit_code"], 3);
    let (_, shown, _) = env
        .run(&["runs", "show", first["run_id"].as_str().unwrap(), "--json"])
        .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["changes"], first["changes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_sheet_exits_0() {
    let env = Env::demo().await;
    env.sandbox.fix_demo_sheet();
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["errors"], json!([]));
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!((code, &report["changes"]), (0, &json!([])), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sheet_wins_sale_between_read_and_write_is_set_again_and_noted() {
    let sandbox = Sandbox::demo(0).await.unwrap();
    let env = Env::with_sync(sandbox, "inventory = \"sheet_wins\"").await;
    // The plan reads 22 and sets 25; a sale makes it 21 before the write is checked.
    env.sandbox
        .shopify
        .set_available_before_next_set("TEE-RED-M", "Main Warehouse", 21);
    let (_, report) = env.sync_json(&[]).await;
    let change = changes_of(&report, "TEE-RED-M")
        .into_iter()
        .find(|c| c["field"] == "inventory")
        .cloned()
        .unwrap();
    assert_eq!(change["status"], "applied", "{report:#}");
    assert_eq!(change["from"], 21, "from is the re-read quantity: {change}");
    assert_eq!(change["to"], 25);
    assert_eq!(change["note"], "store changed during run");
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-M", "Main Warehouse"),
        Some(25)
    );
    let stale = env
        .sandbox
        .shopify
        .requests()
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| f == "inventorySetQuantities"))
        .count();
    assert!(stale >= 2, "one stale call and one re-sent call");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_way_sale_between_read_and_write_is_a_both_changed_conflict_won_by_the_sheet() {
    let env = Env::demo().await;
    env.sandbox.fix_demo_sheet();
    env.sync_json(&["--adopt", "sheet"]).await;
    // The merchant raises TEE-RED-S from 14 to 20; a sale lands (14 → 13) mid-run.
    env.sandbox.sheets.set_cell("Inventory", "G2", json!(20));
    env.sandbox
        .shopify
        .set_available_before_next_set("TEE-RED-S", "Main Warehouse", 13);
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(
        code, 0,
        "a conflict resolved sheet-wins is not an error: {report:#}"
    );
    let change = changes_of(&report, "TEE-RED-S")[0].clone();
    assert_eq!(
        (
            change["status"].as_str(),
            change["from"].as_i64(),
            change["to"].as_i64()
        ),
        (Some("applied"), Some(13), Some(20)),
        "{change}"
    );
    let conflict = report["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sku"] == "TEE-RED-S")
        .cloned()
        .expect("conflict reported");
    assert_eq!(conflict["kind"], "both_changed");
    assert_eq!(
        (
            conflict["baseline"].as_i64(),
            conflict["sheet"].as_i64(),
            conflict["store"].as_i64()
        ),
        (Some(14), Some(20), Some(13))
    );
    assert_eq!(conflict["resolution"], "sheet");
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-S", "Main Warehouse"),
        Some(20)
    );
    // The baseline moved to what was written: the next run plans nothing.
    let (code, again) = env.sync_json(&[]).await;
    assert_eq!((code, &again["changes"]), (0, &json!([])), "{again:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_the_whole_flow_and_exits_0() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Would change",
        "applied",
        "Pulled into the sheet",
        "Inventory!C14",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
}

/// `sheetsync demo`, what CI's demo step runs: it checks its own outcome, so exit 0
/// means the dry run, the sync and the pulled sale all went as the seed says.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_checks_its_outcome_and_exits_0() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("demo")
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run sheetsync demo");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("The demo went as expected."), "{stdout}");
    assert!(
        stdout.contains("(exit code 3)"),
        "the bad rows are shown: {stdout}"
    );
}

common::on_both_backends!(
    sync_applies_prices_stock_and_activation_then_converges,
    three_way_pulls_a_sale_instead_of_overwriting_it,
    runs_lists_the_journal_newest_first,
);
