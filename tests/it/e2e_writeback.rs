//! End to end, the sheet side of a run (SPEC §4.4-4.5, §1 `pull`): three-way pulls written
//! into the sheet, status and `synced_at` cells, the guarded write-back, and `pull`. The
//! binary runs against the sandbox through the real clients.

use crate::common;

use std::path::PathBuf;

use serde_json::{Value, json};
use sheetsync_sandbox::sheets::{BeforeCall, Call, SheetsFake};
use sheetsync_sandbox::shopify::{NewVariant, ShopifyFake};
use sheetsync_sandbox::{SANDBOX_TOKEN, Sandbox};

const TAB: &str = "Inventory";
const WRITE_BACK: &str =
    "\n[sheet.write_back]\nstatus = \"Sync status\"\nsynced_at = \"Last synced\"\n";

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
    backend: common::Backend,
}

impl Env {
    /// The demo sandbox with write-back configured (status in I, `synced_at` in J).
    async fn demo() -> Env {
        Env::new(Sandbox::demo(0).await.expect("sandbox"), true).await
    }

    async fn new(sandbox: Sandbox, write_back: bool) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        // The sandbox config turns write-back on when the sheet has the status columns;
        // each test states what it wants.
        let mut text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(WRITE_BACK, "\n");
        if write_back {
            text.push_str(WRITE_BACK);
        }
        std::fs::write(&config, text).unwrap();
        Env {
            sandbox,
            _dir: dir,
            config,
            backend: common::Backend::Sqlite,
        }
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let env = self.backend.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::run_sheetsync_env(&self.config, args, &env).await
    }

    /// `CMD --json …`: exit code and the parsed output.
    async fn json(&self, cmd: &str, args: &[&str]) -> (i32, Value) {
        let mut all = vec![cmd, "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all).await;
        let v = common::json_output(code, &stdout, &stderr);
        (code, v)
    }

    async fn sync(&self, args: &[&str]) -> (i32, Value) {
        self.json("sync", args).await
    }

    fn cell(&self, a1: &str) -> Option<Value> {
        self.sandbox.sheets.cell(TAB, a1)
    }

    fn set(&self, a1: &str, v: Value) {
        assert!(self.sandbox.sheets.set_cell(TAB, a1, v), "{a1}");
    }

    /// Empties the demo sheet's deliberately bad cells, then settles a baseline.
    async fn baseline(&self) {
        self.sandbox.fix_demo_sheet();
        let (code, report) = self.sync(&["--adopt", "sheet"]).await;
        assert_eq!(code, 0, "{report:#}");
    }
}

fn of<'a>(report: &'a Value, list: &str, sku: &str) -> Vec<&'a Value> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {report:#}"))
        .iter()
        .filter(|c| c["sku"] == sku)
        .collect()
}

fn money(s: &str) -> rust_decimal::Decimal {
    s.parse().expect("decimal")
}

fn text(v: Option<Value>) -> String {
    v.and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_run_writes_ok_and_a_utc_time_on_every_row() {
    let env = Env::demo().await;
    env.baseline().await;
    for row in [2, 3, 12] {
        assert_eq!(text(env.cell(&format!("I{row}"))), "OK", "row {row}");
        let at = text(env.cell(&format!("J{row}")));
        let parsed = chrono::DateTime::parse_from_rfc3339(&at)
            .unwrap_or_else(|e| panic!("J{row} {at:?}: {e}"));
        assert_eq!(parsed.offset().local_minus_utc(), 0, "{at}");
        assert!(at.ends_with('Z'), "{at}");
    }
    // Nothing changed: a second run writes no cell, not even `synced_at`.
    let before = env.sandbox.sheets.rows(TAB);
    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["write_back"]["cells_written"], 0, "{report:#}");
    assert_eq!(env.sandbox.sheets.rows(TAB), before);
}

/// The four three-way cases for one field (`field` as the report names it, `col` its
/// sheet column).
struct Case {
    field: &'static str,
    col: &'static str,
    /// TEE-RED-L's new sheet and store values (kept small for prices, so the price guard
    /// stays quiet).
    both: (i64, i64),
}

async fn four_cases(case: Case, backend: common::Backend) {
    let env = Env {
        backend,
        ..Env::demo().await
    };
    env.baseline().await;
    let shop = &env.sandbox.shopify;
    let stock = case.field == "inventory";
    // Row 2 TEE-RED-S: sheet only. Row 3 TEE-RED-M: store only. Row 4 TEE-RED-L: both.
    // Row 5 TEE-BLK-S: neither.
    let set_store = |sku: &str, v: i64| {
        if stock {
            assert!(shop.set_available(sku, "Main Warehouse", v));
        } else {
            assert!(shop.set_price(sku, &format!("{v}.00")));
        }
    };
    env.set(&format!("{}2", case.col), json!(20));
    set_store("TEE-RED-M", 23);
    env.set(&format!("{}4", case.col), json!(case.both.0));
    set_store("TEE-RED-L", case.both.1);
    let before5 = env.cell(&format!("{}5", case.col));

    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    let store_value = |sku: &str| -> i64 {
        if stock {
            shop.available(sku, "Main Warehouse").unwrap()
        } else {
            let p = shop.variant(sku).unwrap().price;
            assert_eq!(p.fract(), money("0"), "{p}");
            rust_decimal::prelude::ToPrimitive::to_i64(&p).unwrap()
        }
    };

    // Sheet only: pushed.
    let c = of(&report, "changes", "TEE-RED-S");
    assert_eq!(c.len(), 1, "{report:#}");
    assert_eq!(
        (c[0]["field"].as_str(), c[0]["status"].as_str()),
        (Some(case.field), Some("applied"))
    );
    assert_eq!(store_value("TEE-RED-S"), 20);

    // Store only: pulled into the sheet, confirmed, never pushed back.
    assert!(of(&report, "changes", "TEE-RED-M").is_empty(), "{report:#}");
    let p = of(&report, "pulled", "TEE-RED-M");
    assert_eq!(p.len(), 1, "{report:#}");
    assert_eq!(p[0]["status"], "applied", "{report:#}");
    let pulled_cell = env.cell(&format!("{}3", case.col)).unwrap();
    assert_eq!(pulled_cell.as_f64(), Some(23.0), "{pulled_cell}");
    assert_eq!(store_value("TEE-RED-M"), 23);

    // Both: a conflict, resolved sheet-wins, in the JSON and in the row's status.
    let k = of(&report, "conflicts", "TEE-RED-L");
    assert_eq!(k.len(), 1, "{report:#}");
    assert_eq!(
        (k[0]["kind"].as_str(), k[0]["resolution"].as_str()),
        (Some("both_changed"), Some("sheet"))
    );
    assert_eq!(store_value("TEE-RED-L"), case.both.0);
    let status = text(env.cell("I4"));
    assert!(
        status.contains("conflict") && status.contains("sheet value kept"),
        "{status}"
    );

    // Neither: untouched.
    assert!(of(&report, "changes", "TEE-BLK-S").is_empty());
    assert!(of(&report, "pulled", "TEE-BLK-S").is_empty());
    assert_eq!(env.cell(&format!("{}5", case.col)), before5);
    assert_eq!(text(env.cell("I5")), "OK");
    for row in [2, 3, 4] {
        assert!(
            !text(env.cell(&format!("J{row}"))).is_empty(),
            "synced_at on row {row}"
        );
    }

    // Every side agrees now: the next run plans nothing and writes nothing.
    let (code, again) = env.sync(&[]).await;
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert_eq!(again["pulled"], json!([]), "{again:#}");
    assert_eq!(again["conflicts"], json!([]), "{again:#}");
}

async fn three_way_stock_sheet_only_store_only_both_and_neither(backend: common::Backend) {
    four_cases(
        Case {
            field: "inventory",
            col: "G",
            both: (12, 7),
        },
        backend,
    )
    .await;
}

async fn three_way_price_sheet_only_store_only_both_and_neither(backend: common::Backend) {
    four_cases(
        Case {
            field: "price",
            col: "C",
            both: (22, 21),
        },
        backend,
    )
    .await;
}

common::on_both_backends!(
    three_way_stock_sheet_only_store_only_both_and_neither,
    three_way_price_sheet_only_store_only_both_and_neither,
    a_failed_sheet_write_does_not_move_the_baseline,
);

#[tokio::test(flavor = "multi_thread")]
async fn pulls_are_written_without_write_back_configured() {
    let env = Env::new(Sandbox::demo(0).await.unwrap(), false).await;
    env.baseline().await;
    assert!(
        env.sandbox
            .shopify
            .set_available("TEE-RED-M", "Main Warehouse", 23)
    );
    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(env.cell("G3"), Some(json!(23)));
    assert_eq!(env.cell("I3"), None, "no status column is configured");
}

async fn a_failed_sheet_write_does_not_move_the_baseline(backend: common::Backend) {
    let env = Env {
        backend,
        ..Env::demo().await
    };
    env.baseline().await;
    assert!(
        env.sandbox
            .shopify
            .set_available("TEE-RED-M", "Main Warehouse", 23)
    );
    env.sandbox.sheets.before_call(
        Call::BatchUpdate,
        1,
        BeforeCall::Fail(
            403,
            json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}),
        ),
    );
    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 3, "a pull that failed is a failed change: {report:#}");
    let p = of(&report, "pulled", "TEE-RED-M");
    assert_eq!(p[0]["status"], "failed", "{report:#}");
    assert!(report["write_back"]["error"].is_string(), "{report:#}");
    assert_eq!(env.cell("G3"), Some(json!(25)), "the sheet was not written");

    // Had the baseline moved to 23, the unchanged 25 would now look like a sheet edit and
    // be pushed over the sale. It did not: the pull is planned again, and lands.
    let (code, again) = env.sync(&[]).await;
    assert_eq!(code, 0, "{again:#}");
    assert!(of(&again, "changes", "TEE-RED-M").is_empty(), "{again:#}");
    let p = of(&again, "pulled", "TEE-RED-M");
    assert_eq!(
        (p[0]["from"].as_i64(), p[0]["to"].as_i64()),
        (Some(25), Some(23))
    );
    assert_eq!(p[0]["status"], "applied");
    assert_eq!(env.cell("G3"), Some(json!(23)));
    assert_eq!(
        env.sandbox.shopify.available("TEE-RED-M", "Main Warehouse"),
        Some(23)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_sorted_between_read_and_write_back_are_skipped_never_written_into_the_wrong_row() {
    let env = Env::demo().await;
    env.baseline().await;
    assert!(
        env.sandbox
            .shopify
            .set_available("TEE-RED-M", "Main Warehouse", 23)
    );
    // The merchant sorts rows 2 and 3 after the run read the sheet and before write-back
    // re-reads it (the run's second values.batchGet).
    let rows = env.sandbox.sheets.rows(TAB);
    let mut swap = Vec::new();
    for (from, to) in [(1usize, 3u32), (2, 2)] {
        for col in 0..10u8 {
            let v = rows[from]
                .get(usize::from(col))
                .cloned()
                .unwrap_or(json!(""));
            let a1 = format!("{}{to}", char::from(b'A' + col));
            swap.push((TAB.to_owned(), a1, v));
        }
    }
    env.sandbox
        .sheets
        .before_call(Call::BatchGet, 2, BeforeCall::Edit(swap));

    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 0, "skipped is not a failure: {report:#}");
    let p = of(&report, "pulled", "TEE-RED-M");
    assert_eq!(p[0]["status"], "skipped", "{report:#}");
    assert_eq!(p[0]["error"], "sheet changed during run");
    let skipped = report["write_back"]["rows_skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["row"] == 3 && s["reason"] == "sheet changed during run"),
        "{report:#}"
    );
    // Row 3 now holds TEE-RED-S: its stock must not have received TEE-RED-M's 23.
    assert_eq!(env.cell("A3"), Some(json!("TEE-RED-S")));
    assert_eq!(env.cell("G3"), Some(json!(14)));
    assert_eq!(env.cell("A2"), Some(json!("TEE-RED-M")));
    assert_eq!(env.cell("G2"), Some(json!(25)));

    // Retried next run, into the row that now holds the SKU.
    let (code, again) = env.sync(&[]).await;
    assert_eq!(code, 0, "{again:#}");
    let p = of(&again, "pulled", "TEE-RED-M");
    assert_eq!(
        (p[0]["row"].as_u64(), p[0]["status"].as_str()),
        (Some(2), Some("applied"))
    );
    assert_eq!(env.cell("G2"), Some(json!(23)));
    assert_eq!(env.cell("G3"), Some(json!(14)));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_baseline_is_written_nowhere_and_the_status_says_what_to_do() {
    let env = Env::demo().await;
    let before = env.cell("G3");
    let (code, report) = env.sync(&[]).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["changes"], json!([]));
    assert_eq!(report["pulled"], json!([]));
    assert_eq!(env.cell("G3"), before, "no value written into the sheet");
    let status = text(env.cell("I3"));
    assert!(
        status.contains("no baseline") && status.contains("--adopt"),
        "{status}"
    );
    // --adopt store pulls the store's values into the sheet.
    let (_, adopted) = env.sync(&["--adopt", "store"]).await;
    let p = of(&adopted, "pulled", "TEE-RED-M");
    assert!(!p.is_empty(), "{adopted:#}");
    assert!(p.iter().all(|p| p["status"] == "applied"), "{adopted:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_into_an_empty_tab_then_sync_plans_nothing() {
    let shopify = ShopifyFake::demo(SANDBOX_TOKEN);
    shopify
        .add_variant(NewVariant {
            product_title: "Gift card".into(),
            sku: None,
            price: money("25.00"),
            tracked: false,
            requires_components: false,
            stock: Vec::new(),
        })
        .expect("variant without a SKU");
    let sheets = SheetsFake::new();
    sheets.add_tab(TAB, Vec::new());
    let env = Env::new(Sandbox::start(shopify, sheets, 0).await.unwrap(), true).await;

    let (code, report) = env.json("pull", &[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["mode"], "bootstrap");
    assert!(
        report["variants_without_sku"].as_u64() >= Some(1),
        "{report:#}"
    );
    let rows = env.sandbox.sheets.rows(TAB);
    assert_eq!(
        rows[0],
        json!([
            "SKU",
            "Price",
            "Compare-at price",
            "Cost",
            "Barcode",
            "Stock",
            "Outlet stock",
            "Sync status",
            "Last synced"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let written = report["rows_written"].as_u64().unwrap();
    assert!(written > 5, "{report:#}");
    assert_eq!(
        rows.iter().skip(1).filter(|r| !r.is_empty()).count() as u64,
        written
    );
    let tee = rows
        .iter()
        .find(|r| r.first() == Some(&json!("TEE-RED-M")))
        .expect("TEE-RED-M row");
    let price = env.sandbox.shopify.variant("TEE-RED-M").unwrap().price;
    assert_eq!(
        tee[1].as_f64().map(|f| f.to_string()),
        Some(price.normalize().to_string())
    );

    let (code, sync) = env.sync(&[]).await;
    assert_eq!(code, 0, "{sync:#}");
    assert_eq!(sync["changes"], json!([]), "{sync:#}");
    assert_eq!(sync["pulled"], json!([]), "{sync:#}");
    assert_eq!(sync["conflicts"], json!([]), "{sync:#}");
    assert_eq!(sync["errors"], json!([]), "{sync:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_refreshes_the_sheet_but_keeps_a_merchants_edit() {
    let env = Env::demo().await;
    env.baseline().await;
    let shop = &env.sandbox.shopify;
    // The merchant edits TEE-RED-S's price; the store moves both TEE-RED-S and TEE-RED-M.
    env.set("C2", json!(25));
    assert!(shop.set_price("TEE-RED-S", "18.00"));
    assert!(shop.set_price("TEE-RED-M", "30.00"));
    assert!(shop.set_available("TEE-BLK-M", "Main Warehouse", 27));

    let (code, report) = env.json("pull", &[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["mode"], "refresh");
    assert_eq!(
        env.cell("C2"),
        Some(json!(25)),
        "the merchant's edit is kept"
    );
    assert!(
        report["kept"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["cell"] == "Inventory!C2"),
        "{report:#}"
    );
    assert_eq!(env.cell("C3"), Some(json!(30)));
    assert_eq!(env.cell("G6"), Some(json!(27)));

    // The baseline follows what pull wrote: only the merchant's edit is left for sync.
    let (_, dry) = env.sync(&["--dry-run"]).await;
    assert!(of(&dry, "changes", "TEE-RED-M").is_empty(), "{dry:#}");
    assert!(of(&dry, "pulled", "TEE-RED-M").is_empty(), "{dry:#}");
    assert!(of(&dry, "changes", "TEE-BLK-M").is_empty(), "{dry:#}");
    assert!(!of(&dry, "changes", "TEE-RED-S").is_empty(), "{dry:#}");
}
