//! End to end, `sheetsync revert ID` (SPEC §1, §4.11): the binary against the sandbox
//! through the real clients. A run changes a price, a stock level and a compare-at price;
//! reverting it puts the store and the sheet back, and values changed since are left alone.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;

const TAB: &str = "Inventory";
const WH: &str = "Main Warehouse";

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
    backend: common::Backend,
}

impl Env {
    /// The demo sandbox (its config has write-back on), bad cells fixed, a baseline set.
    async fn settled() -> Env {
        Env::settled_on(common::Backend::Sqlite).await
    }

    async fn settled_on(backend: common::Backend) -> Env {
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let env = Env {
            sandbox,
            dir,
            config,
            backend,
        };
        env.sandbox.fix_demo_sheet();
        let (code, report) = env.json(&["sync", "--adopt", "sheet"]).await;
        assert_eq!(code, 0, "{report:#}");
        env
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let env = self.backend.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::run_sheetsync_env(&self.config, args, &env).await
    }

    /// `ARGS --json`: exit code and the parsed output.
    async fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, stdout, stderr) = self.run(&all).await;
        let v = common::json_output(code, &stdout, &stderr);
        (code, v)
    }

    fn set(&self, a1: &str, v: Value) {
        assert!(self.sandbox.sheets.set_cell(TAB, a1, v), "{a1}");
    }

    fn cell(&self, a1: &str) -> Value {
        self.sandbox.sheets.cell(TAB, a1).unwrap_or(Value::Null)
    }

    fn price(&self, sku: &str) -> Decimal {
        self.sandbox.shopify.variant(sku).expect("variant").price
    }

    fn compare_at(&self, sku: &str) -> Option<Decimal> {
        self.sandbox
            .shopify
            .variant(sku)
            .expect("variant")
            .compare_at_price
    }

    fn stock(&self, sku: &str) -> Option<i64> {
        self.sandbox.shopify.available(sku, WH)
    }

    fn mutations(&self) -> usize {
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
            .count()
    }

    /// The run under revert: TEE-RED-S price 19.90 → 21 and stock 14 → 20, TEE-RED-M's
    /// compare-at price cleared. Returns its run id.
    async fn edit_and_sync(&self) -> String {
        self.set("C2", json!(21));
        self.set("G2", json!(20));
        self.set("D3", json!("CLEAR"));
        let (code, report) = self.json(&["sync"]).await;
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["summary"]["applied"], 3, "{report:#}");
        assert_eq!(self.price("TEE-RED-S"), money("21.00"));
        assert_eq!(self.stock("TEE-RED-S"), Some(20));
        assert_eq!(self.compare_at("TEE-RED-M"), None);
        report["run_id"].as_str().expect("run_id").to_owned()
    }
}

fn change<'a>(report: &'a Value, sku: &str, field: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("changes in {report:#}"))
        .iter()
        .find(|c| c["sku"] == sku && c["field"] == field)
        .unwrap_or_else(|| panic!("no {sku} {field} change in {report:#}"))
}

fn money(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Every file under `dir` with its bytes.
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

async fn revert_restores_store_and_sheet_and_the_next_sync_plans_nothing(backend: common::Backend) {
    let env = Env::settled_on(backend).await;
    let run = env.edit_and_sync().await;

    let (code, report) = env.json(&["revert", &run]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["dry_run"], false);
    let revert_id = report["run_id"].as_str().expect("run_id").to_owned();
    assert_ne!(revert_id, run);
    // Changes put back the replaced values: from = what the run wrote, to = what it replaced.
    let price = change(&report, "TEE-RED-S", "price");
    assert_eq!(
        (&price["from"], &price["to"], &price["status"]),
        (&json!("21.00"), &json!("19.90"), &json!("applied")),
        "{report:#}"
    );
    let stock = change(&report, "TEE-RED-S", "inventory");
    assert_eq!(
        (
            &stock["from"],
            &stock["to"],
            &stock["location"],
            &stock["status"]
        ),
        (&json!(20), &json!(14), &json!(WH), &json!("applied"))
    );
    let cap = change(&report, "TEE-RED-M", "compare_at_price");
    assert_eq!((&cap["from"], &cap["to"]), (&Value::Null, &json!("24.90")));
    assert_eq!(report["summary"]["applied"], 3, "{report:#}");
    assert_eq!(report["conflicts"], json!([]));

    // The store is back.
    assert_eq!(env.price("TEE-RED-S"), money("19.90"));
    assert_eq!(env.stock("TEE-RED-S"), Some(14));
    assert_eq!(env.compare_at("TEE-RED-M"), Some(money("24.90")));
    // So is the sheet, in the cells the run pushed from.
    assert_eq!(as_f64(&env.cell("C2")), Some(19.9));
    assert_eq!(as_f64(&env.cell("G2")), Some(14.0));
    assert_eq!(as_f64(&env.cell("D3")), Some(24.9));

    // The baseline moved: nothing is re-applied or pulled.
    let writes = env.mutations();
    let (code, again) = env.json(&["sync"]).await;
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert_eq!(again["pulled"], json!([]), "{again:#}");
    assert_eq!(again["conflicts"], json!([]), "{again:#}");
    assert_eq!(env.mutations(), writes);

    // The revert is a run of its own in the journal, with its report.
    let (code, runs) = env.json(&["runs"]).await;
    assert_eq!(code, 0);
    let ids: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert!(ids.contains(&revert_id.as_str()), "{runs:#}");
    let (_, shown) = env.json(&["runs", "show", &revert_id]).await;
    assert_eq!(shown["changes"], report["changes"]);
}

async fn reverting_the_revert_puts_the_run_back(backend: common::Backend) {
    let env = Env::settled_on(backend).await;
    let run = env.edit_and_sync().await;
    let (code, first) = env.json(&["revert", &run]).await;
    assert_eq!(code, 0, "{first:#}");
    let revert_id = first["run_id"].as_str().expect("run_id").to_owned();

    let (code, again) = env.json(&["revert", &revert_id]).await;
    assert_eq!(code, 0, "{again:#}");
    let price = change(&again, "TEE-RED-S", "price");
    assert_eq!(
        (&price["from"], &price["to"]),
        (&json!("19.90"), &json!("21.00"))
    );
    assert_eq!(env.price("TEE-RED-S"), money("21"));
    assert_eq!(env.stock("TEE-RED-S"), Some(20));
    assert_eq!(env.compare_at("TEE-RED-M"), None);
    assert_eq!(as_f64(&env.cell("C2")), Some(21.0));
    assert_eq!(as_f64(&env.cell("G2")), Some(20.0));
    let (code, next) = env.json(&["sync"]).await;
    assert_eq!((code, &next["changes"]), (0, &json!([])), "{next:#}");
    assert_eq!(next["pulled"], json!([]), "{next:#}");
}

/// Runs `sql` (with the run id as `?1`) on the state database of `env`.
fn alter_state(env: &Env, sql: &str, run: &str) {
    let db = snapshot_dir(env.dir.path())
        .into_keys()
        .find(|p| p.file_name().is_some_and(|n| n == "state.sqlite3"))
        .expect("state database");
    let conn = rusqlite::Connection::open(db).expect("open state");
    let changed = conn.execute(sql, [run]).expect("alter state");
    assert!(changed > 0, "{sql} changed nothing");
}

/// The revert of a run with its `changes` as the `--json` report shows them.
async fn revert_changes(env: &Env, run: &str) -> Value {
    let (code, report) = env.json(&["revert", run]).await;
    assert_eq!(code, 0, "{report:#}");
    let price = change(&report, "TEE-RED-S", "price");
    assert_eq!(
        (&price["from"], &price["to"], &price["status"]),
        (&json!("21.00"), &json!("19.90"), &json!("applied")),
        "{report:#}"
    );
    assert_eq!(env.price("TEE-RED-S"), money("19.90"));
    assert_eq!(env.stock("TEE-RED-S"), Some(14));
    assert_eq!(env.compare_at("TEE-RED-M"), Some(money("24.90")));
    assert_eq!(as_f64(&env.cell("C2")), Some(19.9));
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn revert_reads_the_journal_rows_not_the_stored_report() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    // Any change to the report's format (here: no report at all) must not matter.
    alter_state(
        &env,
        "UPDATE runs SET report_json = '{\"not\": \"a report\"' WHERE run_id = ?1",
        &run,
    );
    revert_changes(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_recorded_before_the_journal_kept_rows_reverts_from_its_report() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    // As a run recorded by the previous schema: no rows, only its stored report.
    alter_state(&env, "DELETE FROM run_rows WHERE run_id = ?1", &run);
    alter_state(
        &env,
        "UPDATE runs SET rows_recorded = 0 WHERE run_id = ?1",
        &run,
    );
    let report = revert_changes(&env, &run).await;
    // The revert itself is journaled with rows, so it reverts too.
    let revert_id = report["run_id"].as_str().expect("run_id").to_owned();
    let (code, again) = env.json(&["revert", &revert_id]).await;
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(env.price("TEE-RED-S"), money("21"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_already_back_in_the_store_is_not_sent_again() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    // Someone already put TEE-RED-S's price back in the admin.
    assert!(env.sandbox.shopify.set_price("TEE-RED-S", "19.90"));
    let bulk_updates = || {
        env.sandbox
            .shopify
            .requests()
            .into_iter()
            .filter(|r| {
                r.root_fields
                    .iter()
                    .any(|f| f == "productVariantsBulkUpdate")
            })
            .count()
    };
    let before = bulk_updates();
    let (code, report) = env.json(&["revert", &run]).await;
    assert_eq!(code, 0, "{report:#}");
    let price = change(&report, "TEE-RED-S", "price");
    assert_eq!(
        (
            &price["from"],
            &price["to"],
            &price["status"],
            &price["note"]
        ),
        (
            &json!("19.90"),
            &json!("19.90"),
            &json!("applied"),
            &json!("store already had this value")
        ),
        "{report:#}"
    );
    // The product's update carries TEE-RED-M's compare-at price only; the sheet got the
    // old price anyway.
    let sent: Vec<_> = env
        .sandbox
        .shopify
        .requests()
        .into_iter()
        .filter(|r| {
            r.root_fields
                .iter()
                .any(|f| f == "productVariantsBulkUpdate")
        })
        .skip(before)
        .map(|r| r.variables.to_string())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("51000000000002"), "{sent:?}");
    assert!(
        !sent[0].contains("51000000000001"),
        "TEE-RED-S's variant sent: {sent:?}"
    );
    assert_eq!(as_f64(&env.cell("C2")), Some(19.9));
    let (code, next) = env.json(&["sync"]).await;
    assert_eq!((code, &next["changes"]), (0, &json!([])), "{next:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_changed_in_the_store_since_the_run_is_a_conflict_and_left_alone() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    // A sale after the run: 20 → 17.
    assert!(env.sandbox.shopify.set_available("TEE-RED-S", WH, 17));

    let (code, report) = env.json(&["revert", &run]).await;
    assert_eq!(
        code, 3,
        "an unreverted value is an unresolved conflict: {report:#}"
    );
    let conflicts = report["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{report:#}");
    let c = &conflicts[0];
    assert_eq!(
        (&c["sku"], &c["field"], &c["location"], &c["kind"]),
        (
            &json!("TEE-RED-S"),
            &json!("inventory"),
            &json!(WH),
            &json!("changed_since")
        )
    );
    assert_eq!(
        (&c["baseline"], &c["store"], &c["resolution"]),
        (&json!(20), &json!(17), &json!("none"))
    );
    assert!(
        !report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["sku"] == "TEE-RED-S" && c["field"] == "inventory"),
        "{report:#}"
    );
    // The sale stays, in the store and in the sheet; the rest is reverted.
    assert_eq!(env.stock("TEE-RED-S"), Some(17));
    assert_eq!(as_f64(&env.cell("G2")), Some(20.0));
    assert_eq!(env.price("TEE-RED-S"), money("19.90"));
    assert_eq!(as_f64(&env.cell("C2")), Some(19.9));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_between_the_re_read_and_the_write_is_a_conflict_not_overwritten() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    // The revert re-reads 20; a sale makes it 18 before the compare-and-set lands.
    env.sandbox
        .shopify
        .set_available_before_next_set("TEE-RED-S", WH, 18);

    let (code, report) = env.json(&["revert", &run]).await;
    assert_eq!(code, 3, "{report:#}");
    let c = report["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sku"] == "TEE-RED-S")
        .cloned()
        .unwrap_or_else(|| panic!("conflict in {report:#}"));
    assert_eq!(
        (&c["kind"], &c["baseline"], &c["store"]),
        (&json!("changed_since"), &json!(20), &json!(18))
    );
    assert_eq!(env.stock("TEE-RED-S"), Some(18));
    assert_eq!(as_f64(&env.cell("G2")), Some(20.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn revert_dry_run_writes_nothing_anywhere() {
    let env = Env::settled().await;
    let run = env.edit_and_sync().await;
    let state_before = snapshot_dir(&env.dir.path().join("state"));
    let sheet_before = env.sandbox.sheets.rows(TAB);
    let writes = env.mutations();

    let (code, report) = env.json(&["revert", &run, "--dry-run"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["dry_run"], true);
    let price = change(&report, "TEE-RED-S", "price");
    assert_eq!(
        (&price["from"], &price["to"], &price["status"]),
        (&json!("21.00"), &json!("19.90"), &json!("planned"))
    );
    assert_eq!(report["summary"]["planned"], 3, "{report:#}");

    assert_eq!(env.mutations(), writes, "no store mutation");
    assert_eq!(
        env.sandbox.sheets.rows(TAB),
        sheet_before,
        "sheet untouched"
    );
    assert_eq!(
        snapshot_dir(&env.dir.path().join("state")),
        state_before,
        "state dir byte-identical"
    );
    assert_eq!(env.price("TEE-RED-S"), money("21.00"));

    // The human rendering says what would be put back.
    let (code, stdout, _) = env.run(&["revert", &run, "--dry-run"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("21.00 → 19.90"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_run_id_exits_2() {
    let env = Env::settled().await;
    let writes = env.mutations();
    for args in [
        vec!["revert", "20990101T000000Z-0000"],
        vec!["revert", "20990101T000000Z-0000", "--dry-run"],
    ] {
        let (code, _, stderr) = env.run(&args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("20990101T000000Z-0000"), "{stderr}");
    }
    assert_eq!(env.mutations(), writes);
}

/// `pull` is a run (SPEC §1 `runs`, `revert`): journaled with the cells it wrote, listed,
/// shown, and reverted in the sheet only, the baseline moving back with the cells.
async fn a_pull_is_journaled_and_its_revert_puts_the_sheet_cells_back(backend: common::Backend) {
    let env = Env::settled_on(backend).await;
    let price_before = env.cell("C3");
    // The store moves TEE-RED-M's price; TEE-RED-S's stock cell is blank, which pull fills.
    assert!(env.sandbox.shopify.set_price("TEE-RED-M", "30.00"));
    env.set("G2", json!(""));
    let (code, pulled) = env.json(&["pull"]).await;
    assert_eq!(code, 0, "{pulled:#}");
    let pull_id = pulled["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(as_f64(&env.cell("C3")), Some(30.0));
    assert_eq!(as_f64(&env.cell("G2")), Some(14.0));

    // Listed by `runs`, and `runs show` has the cells it wrote.
    let (code, runs) = env.json(&["runs"]).await;
    assert_eq!(code, 0, "{runs:#}");
    let listed = runs
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["run_id"] == pull_id.as_str())
        .unwrap_or_else(|| panic!("pull {pull_id} not in {runs:#}"));
    assert_eq!(listed["exit_code"], 0, "{listed:#}");
    assert_eq!(listed["command"], "pull", "{listed:#}");
    let (code, shown) = env.json(&["runs", "show", &pull_id]).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(
        shown["changes"],
        json!([]),
        "a pull sends nothing to the store"
    );
    let entries = shown["pulled"].as_array().expect("pulled");
    let price = entries
        .iter()
        .find(|p| p["sku"] == "TEE-RED-M" && p["field"] == "price")
        .unwrap_or_else(|| panic!("{shown:#}"));
    assert_eq!(
        (&price["row"], &price["to"], &price["status"]),
        (&json!(3), &json!("30.00"), &json!("applied")),
        "{shown:#}"
    );
    assert_eq!(as_f64(&price["from"]), as_f64(&price_before), "{shown:#}");
    let stock = entries
        .iter()
        .find(|p| p["sku"] == "TEE-RED-S" && p["field"] == "inventory")
        .unwrap_or_else(|| panic!("{shown:#}"));
    assert_eq!(
        (&stock["from"], &stock["to"], &stock["location"]),
        (&Value::Null, &json!(14), &json!(WH)),
        "{shown:#}"
    );

    // A dry run of the revert writes nothing.
    let (code, dry) = env.json(&["revert", &pull_id, "--dry-run"]).await;
    assert_eq!(code, 0, "{dry:#}");
    assert_eq!(dry["pulled"].as_array().map(Vec::len), Some(entries.len()));
    assert_eq!(as_f64(&env.cell("C3")), Some(30.0));

    // The revert puts the replaced cells back, and sends nothing to the store.
    let writes = env.mutations();
    let (code, reverted) = env.json(&["revert", &pull_id]).await;
    assert_eq!(code, 0, "{reverted:#}");
    assert_eq!(as_f64(&env.cell("C3")), as_f64(&price_before));
    assert_eq!(env.cell("G2"), Value::Null, "the blank is blank again");
    assert_eq!(env.mutations(), writes);
    assert_eq!(env.price("TEE-RED-M"), money("30.00"));
    assert!(
        reverted["pulled"]
            .as_array()
            .expect("pulled")
            .iter()
            .all(|p| p["status"] == "applied"),
        "{reverted:#}"
    );

    // The baseline moved back with the cells: the next sync plans what it would have had
    // the pull never run. The store's new price comes into the sheet (three-way), nothing
    // goes to the store, and the blank stays blank.
    let (code, next) = env.json(&["sync", "--dry-run"]).await;
    assert_eq!(code, 0, "{next:#}");
    assert_eq!(next["changes"], json!([]), "{next:#}");
    assert_eq!(next["conflicts"], json!([]), "{next:#}");
    let pulls: Vec<_> = next["pulled"]
        .as_array()
        .expect("pulled")
        .iter()
        .map(|p| (p["sku"].clone(), p["field"].clone(), p["to"].clone()))
        .collect();
    assert_eq!(
        pulls,
        vec![(json!("TEE-RED-M"), json!("price"), json!("30.00"))],
        "{next:#}"
    );
}

common::on_both_backends!(
    revert_restores_store_and_sheet_and_the_next_sync_plans_nothing,
    reverting_the_revert_puts_the_run_back,
    a_pull_is_journaled_and_its_revert_puts_the_sheet_cells_back,
);
