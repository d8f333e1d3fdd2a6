//! `sheetsync demo`: the whole flow against the built-in sandbox, no account needed.
//! A dry run first, then the real sync, both printed; the store is then checked.

use super::{CommandError, Failure, SyncArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::report::ExitStatus;
use sheetsync_sandbox::Sandbox;

pub async fn run() -> Result<ExitStatus, Failure> {
    let sandbox = Sandbox::demo(0)
        .await
        .map_err(|e| CommandError::Local(format!("cannot start the sandbox: {e}")))?;
    let dir = tempfile::Builder::new()
        .prefix("sheetsync-demo-")
        .tempdir()
        .map_err(|e| CommandError::Local(format!("cannot create a temporary directory: {e}")))?;
    let path = sandbox
        .write_config(dir.path(), "")
        .map_err(|e| CommandError::Local(format!("cannot write the demo config: {e}")))?;
    let config = Config::load(&path, &|_| None)?;

    println!("sheetsync demo: a local Google Sheet and Shopify store on 127.0.0.1");
    println!(
        "  store:  {} (http://{})",
        sandbox.shopify.shop_domain(),
        sandbox.shopify_addr
    );
    println!(
        "  sheet:  {} tab \"Inventory\" (http://{})",
        sandbox.sheets.spreadsheet_id(),
        sandbox.sheets_addr
    );
    println!("This is a first run, so there is no baseline yet: both runs pass `--adopt sheet`,");
    println!("which pushes the sheet's values where sheet and store differ.\n");

    let mut engine = Engine::connect(config).await?;
    let (reporter, bars) = super::progress::reporter(false, false);
    engine.set_progress(reporter);
    let mut last = ExitStatus::Done;
    for dry_run in [true, false] {
        let args = SyncArgs {
            dry_run,
            json: false,
            only: Vec::new(),
            yes: false,
            adopt: Some("sheet".into()),
        };
        println!(
            "$ sheetsync sync{} --adopt sheet",
            if dry_run { " --dry-run" } else { "" }
        );
        let opts = super::sync::run_options(&args)?;
        let report = engine.sync(&opts).await;
        if let Some(bars) = &bars {
            bars.clear();
        }
        let report = report?;
        last = super::sync::print_report(&report, false, false);
        println!("(exit code {})\n", last.code());
    }
    // A sale in the store between two syncs: three-way pulls it into the sheet instead of
    // overwriting it, which is what CSV imports and most sheet add-ons get wrong.
    let sold = sandbox
        .shopify
        .available("TEE-RED-S", "Main Warehouse")
        .unwrap_or(0);
    sandbox
        .shopify
        .set_available("TEE-RED-S", "Main Warehouse", sold - 2);
    println!(
        "# Meanwhile a customer buys 2 × TEE-RED-S in the store ({sold} → {} at Main Warehouse).",
        sold - 2
    );
    println!("$ sheetsync sync   # the sale is pulled into the sheet, not overwritten");
    let args = SyncArgs {
        dry_run: false,
        json: false,
        only: Vec::new(),
        yes: false,
        adopt: None,
    };
    let opts = super::sync::run_options(&args)?;
    let report = engine.sync(&opts).await?;
    let again = super::sync::print_report(&report, false, false);
    println!("(exit code {})\n", again.code());

    println!("The sheet now reads (SKU, stock, status, last synced):");
    for row in sandbox.sheets.rows("Inventory").iter().take(5) {
        let cell = |i: usize| {
            row.get(i).map_or(String::new(), |v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        println!(
            "  {:<11} {:<6} {:<40} {}",
            cell(0),
            cell(6),
            cell(8),
            cell(9)
        );
    }
    // The demo sheet holds deliberate bad cells, so 3 (row errors) is the expected end.
    Ok(if last == ExitStatus::RowErrors {
        ExitStatus::Done
    } else {
        last
    })
}
