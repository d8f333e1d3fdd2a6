//! `sheetsync demo --store woocommerce` and `sheetsync sandbox --store woocommerce`: the
//! sandbox crate's [`WooSandbox`] (the WooCommerce fake with its demo store, cost of goods
//! on, beside a Sheets fake seeded from `config/demo/woocommerce-sheet.json`, and the
//! config it writes for both) on 127.0.0.1. The demo runs a dry run, a sync, then a sale
//! in the store and a sync that pulls it into the sheet, and checks its own outcome
//! (exit 1 saying what differed).

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};
use sheetsync_sandbox::woocommerce::{WooFake, WooSandbox};

use super::{CommandError, Failure, SyncArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::report::{ExitStatus, Status};

/// (SKU, field, the sheet's value pushed; empty = cleared) that the demo sheet plans
/// against the demo store on a first `--adopt sheet` run, sorted.
const EXPECTED: [(&str, &str, &str); 3] = [
    ("TEE-RED-M", "inventory", "25"),
    ("TEE-RED-M", "sale_price", "21.00"),
    ("TOTE-NAT", "regular_price", "17.50"),
];

/// The SKUs of the demo sheet's deliberately bad rows (a price `abc`, a date as stock, a
/// variation without a SKU of its own): every run reports them and exits 3.
const EXPECTED_ROW_ERRORS: [&str; 3] = ["MUG-15OZ", "SOCK-STR-L", "TEE-GRN-M"];

async fn start(port: u16) -> Result<WooSandbox, Failure> {
    WooSandbox::demo(port)
        .await
        .map_err(|e| CommandError::Local(format!("cannot start the sandbox: {e}")).into())
}

/// Writes the service-account key and a ready config into `dir` (both 0600). The keys
/// are the sandbox's own, which open nothing but the local fake.
fn write_config(
    sandbox: &WooSandbox,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf, Failure> {
    sandbox
        .write_config(dir, "")
        .map_err(|e| CommandError::Local(format!("cannot write the config: {e}")).into())
}

/// `sandbox --store woocommerce`.
pub async fn sandbox(port: u16) -> Result<ExitStatus, Failure> {
    let sandbox = start(port).await?;
    let dir = std::env::temp_dir().join(format!("sheetsync-woo-sandbox-{}", std::process::id()));
    let config = write_config(&sandbox, &dir)?;
    eprintln!("WooCommerce REST API: {}", sandbox.woo.api_base());
    eprintln!(
        "Google Sheets API:    http://{}/v4/spreadsheets/{}",
        sandbox.sheets_addr,
        sandbox.sheets.spreadsheet_id()
    );
    eprintln!("Config:               {}", config.display());
    eprintln!(
        "\nTry: sheetsync --config {} sync --dry-run --adopt sheet",
        config.display()
    );
    eprintln!("Serving until Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitStatus::Done)
}

/// The sale the demo makes between the sync and the last run: (SKU, quantity).
const SALE: (&str, i64) = ("TEE-RED-M", 2);

/// `demo --store woocommerce`.
pub async fn demo() -> Result<ExitStatus, Failure> {
    let sandbox = start(0).await?;
    let dir = tempfile::Builder::new()
        .prefix("sheetsync-woo-demo-")
        .tempdir()
        .map_err(|e| CommandError::Local(format!("cannot create a temporary directory: {e}")))?;
    let path = write_config(&sandbox, dir.path())?;
    let config = Config::load(&path, &|_| None)?;
    println!("sheetsync demo: a local Google Sheet and WooCommerce store on 127.0.0.1");
    println!("  store:  {}", sandbox.woo.base_url());
    println!("A first run has no baseline: both runs pass `--adopt sheet`.\n");
    let engine = Engine::connect(config).await?;
    let mut diffs = Vec::new();
    let expected_errors: BTreeSet<String> = EXPECTED_ROW_ERRORS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let check_errors = |diffs: &mut Vec<String>,
                        name: &str,
                        report: &crate::report::Report,
                        status: ExitStatus| {
        if status != ExitStatus::RowErrors {
            diffs.push(format!(
                "{name} exited {}, expected 3 (the demo sheet's bad rows)",
                status.code()
            ));
        }
        let errors: BTreeSet<String> = report.errors.iter().filter_map(|e| e.sku.clone()).collect();
        if errors != expected_errors {
            diffs.push(format!(
                "{name} reported row errors for {errors:?}, expected {expected_errors:?}"
            ));
        }
    };
    let mut plans = Vec::new();
    for dry_run in [true, false] {
        let before = writes(&sandbox.woo);
        let args = SyncArgs {
            dry_run,
            json: false,
            only: Vec::new(),
            yes: true,
            adopt: Some("sheet".to_owned()),
        };
        println!(
            "$ sheetsync sync{} --adopt sheet --yes",
            if dry_run { " --dry-run" } else { "" }
        );
        let report = engine.sync(&super::sync::run_options(&args)?).await?;
        let status = super::sync::print_report(&report, false, false);
        println!("(exit code {})\n", status.code());
        let name = if dry_run { "the dry run" } else { "the sync" };
        check_errors(&mut diffs, name, &report, status);
        if dry_run && writes(&sandbox.woo) != before {
            diffs.push("the dry run sent a write".to_owned());
        }
        let mut plan: Vec<(String, String, String)> = report
            .changes
            .iter()
            .map(|c| {
                let to = match &c.to {
                    Json::String(s) => s.clone(),
                    Json::Null => String::new(),
                    other => other.to_string(),
                };
                (c.sku.clone(), c.field.clone(), to)
            })
            .collect();
        plan.sort();
        let want: Vec<(String, String, String)> = EXPECTED
            .iter()
            .map(|(s, f, t)| ((*s).to_owned(), (*f).to_owned(), (*t).to_owned()))
            .collect();
        if plan != want {
            diffs.push(format!("{name} planned {plan:?}, expected {want:?}"));
        }
        if !dry_run && report.changes.iter().any(|c| c.status != Status::Applied) {
            diffs.push("a change of the sync did not apply".into());
        }
        plans.push(plan);
    }
    // What the sync wrote is in the store.
    for (sku, field, to) in plans.last().into_iter().flatten() {
        let Some(item) = sandbox.woo.item_by_sku(sku) else {
            diffs.push(format!("{sku} is not in the store after the sync"));
            continue;
        };
        let held = match field.as_str() {
            "regular_price" => item.regular_price.clone(),
            "sale_price" => item.sale_price.clone(),
            "inventory" => item
                .stock_quantity
                .map(|q| q.to_string())
                .unwrap_or_default(),
            "barcode" => item.global_unique_id.clone(),
            _ => continue,
        };
        if held != *to {
            diffs.push(format!(
                "{sku} {field} is {held:?} in the store, not {to:?}"
            ));
        }
    }
    let (sku, quantity) = SALE;
    let before = sandbox.woo.item_by_sku(sku).and_then(|i| i.stock_quantity);
    let order = sandbox
        .woo
        .place_order(&[(sku, quantity)])
        .map_err(|e| CommandError::Local(format!("cannot place the demo order: {e}")))?;
    let left = before.map(|b| b - quantity);
    println!(
        "# Meanwhile a customer buys {quantity} × {sku} (order #{order}): {} → {}.",
        before.map(|b| b.to_string()).unwrap_or_default(),
        left.map(|l| l.to_string()).unwrap_or_default()
    );
    println!("$ sheetsync sync   # the sale is pulled into the sheet, not overwritten");
    let args = SyncArgs {
        dry_run: false,
        json: false,
        only: Vec::new(),
        yes: false,
        adopt: None,
    };
    let report = engine.sync(&super::sync::run_options(&args)?).await?;
    let status = super::sync::print_report(&report, false, false);
    println!("(exit code {})\n", status.code());
    check_errors(&mut diffs, "the sync after the sale", &report, status);
    let pulled = report.pulled.iter().any(|p| {
        p.sku == sku && p.field == "inventory" && Some(&p.to) == left.map(|l| json!(l)).as_ref()
    });
    if !pulled {
        diffs.push("the sale was not pulled into the sheet".into());
    }
    if left.is_none() || sandbox.woo.item_by_sku(sku).and_then(|i| i.stock_quantity) != left {
        diffs.push(format!(
            "the store does not hold the stock the sale left ({left:?})"
        ));
    }
    if diffs.is_empty() {
        println!("The demo went as expected.");
        Ok(ExitStatus::Done)
    } else {
        Err(CommandError::Local(format!(
            "the demo did not go as expected:\n  - {}",
            diffs.join("\n  - ")
        ))
        .into())
    }
}

fn writes(fake: &WooFake) -> usize {
    fake.request_log()
        .iter()
        .filter(|r| r.method != "GET" && !r.query.contains("sheetsync_probe"))
        .count()
}
