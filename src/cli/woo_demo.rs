//! `sheetsync demo --store woocommerce` and `sheetsync sandbox --store woocommerce`: the
//! WooCommerce fake and the Sheets fake on 127.0.0.1, with a demo sheet over the fake's
//! demo store. The demo runs a dry run, a sync, then a sale in the store and a sync that
//! pulls it into the sheet, and checks its own outcome (exit 1 saying what differed).

use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::woocommerce::{
    SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET, WooFake, WooOptions,
};

use super::{CommandError, Failure, SyncArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::report::{ExitStatus, Status};

/// The demo sheet: SKU, regular price, sale price, stock, write-back columns. Its plan
/// on a first `--adopt sheet` run is [`EXPECTED`]; `TEE-GRN-M` is a variation without a
/// SKU of its own in the store (a row error), `STK-PACK`'s stock is unmanaged (a row
/// error).
fn demo_rows() -> Vec<Vec<Json>> {
    let r = |sku: &str, regular: Json, sale: Json, stock: Json| {
        vec![json!(sku), regular, sale, stock, json!(""), json!("")]
    };
    vec![
        [
            "SKU",
            "Regular price",
            "Sale price",
            "Stock",
            "Sync status",
            "Last synced",
        ]
        .iter()
        .map(|h| json!(h))
        .collect(),
        r("TEE-RED-S", json!(24.9), json!(19.9), json!(14)),
        r("TEE-RED-M", json!(24.9), json!("CLEAR"), json!(25)),
        r("TOTE-NAT", json!(17.5), json!(""), json!(20)),
        r("HOOD-GRY-M", json!(49), json!(""), json!(8)),
        r("MUG-11OZ", json!(12.5), json!(""), json!(40)),
        r("TEE-GRN-M", json!(19.9), json!(""), json!(5)),
        r("STK-PACK", json!(4), json!(""), json!(100)),
    ]
}

/// (SKU, field, the sheet's value pushed; empty = cleared) on the first `--adopt sheet`
/// run, sorted.
const EXPECTED: [(&str, &str, &str); 3] = [
    ("TEE-RED-M", "inventory", "25"),
    ("TEE-RED-M", "sale_price", ""),
    ("TOTE-NAT", "regular_price", "17.50"),
];

struct WooSandbox {
    fake: WooFake,
    sheets: SheetsFake,
    sheets_addr: std::net::SocketAddr,
}

async fn start(port: u16) -> Result<WooSandbox, Failure> {
    let local = |e: std::io::Error| CommandError::Local(format!("cannot start the sandbox: {e}"));
    let fake = WooFake::start(WooOptions {
        port,
        ..WooOptions::default()
    })
    .await
    .map_err(|e| CommandError::Local(format!("cannot start the WooCommerce fake: {e}")))?;
    let sheets = SheetsFake::new();
    sheets.add_tab("Inventory", demo_rows());
    let sheets_port = if port == 0 { 0 } else { port.saturating_add(1) };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", sheets_port))
        .await
        .map_err(local)?;
    let sheets_addr = listener.local_addr().map_err(local)?;
    let served = sheets.clone();
    tokio::spawn(async move {
        if let Err(e) = served.serve(listener).await {
            tracing::warn!(error = %e, "Sheets sandbox stopped");
        }
    });
    Ok(WooSandbox {
        fake,
        sheets,
        sheets_addr,
    })
}

/// Writes the service-account key and a ready config into `dir` (both 0600). The keys
/// are the sandbox's own, which open nothing but the local fake.
fn write_config(sandbox: &WooSandbox, dir: &Path) -> Result<PathBuf, Failure> {
    let io = |e: std::io::Error| CommandError::Local(format!("cannot write the config: {e}"));
    std::fs::create_dir_all(dir).map_err(io)?;
    let token_uri = format!("http://{}/token", sandbox.sheets_addr);
    write_private(
        &dir.join("sandbox-service-account.json"),
        &sandbox.sheets.service_account_key_json(&token_uri),
    )
    .map_err(io)?;
    let text = format!(
        r#"# sheetsync config for the local WooCommerce sandbox
[sheet]
spreadsheet_id = "{id}"
tab = "Inventory"
api_base_url = "http://{sheets}/"
drive_api_base_url = "http://{sheets}/"

[sheet.columns]
sku = "SKU"
regular_price = "Regular price"
sale_price = "Sale price"
stock = "Stock"

[sheet.write_back]
status = "Sync status"
synced_at = "Last synced"

[google]
credentials = "sandbox-service-account.json"

[woocommerce]
url = "{url}"
consumer_key = "{key}"
consumer_secret = "{secret}"

[sync]
state_dir = "state"
"#,
        id = sandbox.sheets.spreadsheet_id(),
        sheets = sandbox.sheets_addr,
        url = sandbox.fake.base_url().trim_end_matches('/'),
        key = SANDBOX_CONSUMER_KEY,
        secret = SANDBOX_CONSUMER_SECRET,
    );
    let path = dir.join("sheetsync.toml");
    write_private(&path, &text).map_err(io)?;
    Ok(path)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// `sandbox --store woocommerce`.
pub async fn sandbox(port: u16) -> Result<ExitStatus, Failure> {
    let sandbox = start(port).await?;
    let dir = std::env::temp_dir().join(format!("sheetsync-woo-sandbox-{}", std::process::id()));
    let config = write_config(&sandbox, &dir)?;
    eprintln!("WooCommerce REST API: {}", sandbox.fake.api_base());
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
    println!("  store:  {}", sandbox.fake.base_url());
    println!("A first run has no baseline: both runs pass `--adopt sheet`.\n");
    let engine = Engine::connect(config).await?;
    let mut diffs = Vec::new();
    let mut reports = Vec::new();
    for (dry_run, adopt) in [(true, true), (false, true)] {
        let before = writes(&sandbox.fake);
        let args = SyncArgs {
            dry_run,
            json: false,
            only: Vec::new(),
            yes: true,
            adopt: adopt.then(|| "sheet".to_owned()),
        };
        println!(
            "$ sheetsync sync{} --adopt sheet --yes",
            if dry_run { " --dry-run" } else { "" }
        );
        let report = engine.sync(&super::sync::run_options(&args)?).await?;
        let status = super::sync::print_report(&report, false, false);
        println!("(exit code {})\n", status.code());
        if dry_run && writes(&sandbox.fake) != before {
            diffs.push("the dry run sent a write".to_owned());
        }
        if status != ExitStatus::RowErrors {
            diffs.push(format!(
                "exit {} where the two bad rows make it 3",
                status.code()
            ));
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
            diffs.push(format!("planned {plan:?}, expected {want:?}"));
        }
        if !dry_run && report.changes.iter().any(|c| c.status != Status::Applied) {
            diffs.push("a change of the sync did not apply".into());
        }
        reports.push(report);
    }
    if sandbox
        .fake
        .item_by_sku("TOTE-NAT")
        .map(|i| i.regular_price)
        != Some("17.50".into())
    {
        diffs.push("TOTE-NAT's regular price is not 17.50 in the store".into());
    }
    let order = sandbox
        .fake
        .place_order(&[("TEE-RED-M", 2)])
        .map_err(|e| CommandError::Local(format!("cannot place the demo order: {e}")))?;
    println!("# Meanwhile a customer buys 2 × TEE-RED-M (order #{order}): 25 → 23.");
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
    let pulled = report
        .pulled
        .iter()
        .any(|p| p.sku == "TEE-RED-M" && p.field == "inventory" && p.to == json!(23));
    if !pulled {
        diffs.push("the sale was not pulled into the sheet".into());
    }
    if sandbox
        .fake
        .item_by_sku("TEE-RED-M")
        .and_then(|i| i.stock_quantity)
        != Some(23)
    {
        diffs.push("the store does not hold the sale's 23".into());
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
