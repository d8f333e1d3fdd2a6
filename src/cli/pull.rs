//! `sheetsync pull`: the store's catalog into the sheet; a summary on stdout (JSON with
//! `--json`).

use std::fmt::Write as _;

use super::{Cli, Failure};
use crate::engine::Engine;
use crate::report::ExitStatus;
use crate::sheet::catalog::CatalogReport;

pub async fn run(cli: &Cli, json: bool) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let opts = super::sync::run_options(&super::SyncArgs {
        dry_run: false,
        json,
        only: Vec::new(),
        yes: false,
        adopt: None,
    })?;
    let mut engine = Engine::connect(config).await?;
    let (reporter, bars) = super::progress::reporter(json, cli.quiet);
    engine.set_progress(reporter);
    let report = engine.pull(&opts).await;
    if let Some(bars) = bars {
        bars.clear();
    }
    let report = report?;
    if json {
        let text = serde_json::to_string_pretty(&report)?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    // The sheet write failing as a whole means the pull could not complete.
    Ok(if report.error.is_some() {
        ExitStatus::RunFailed
    } else {
        ExitStatus::Done
    })
}

fn render(r: &CatalogReport) -> String {
    let mut out = String::new();
    let what = if r.mode == "bootstrap" {
        "Wrote the catalog into the empty tab"
    } else {
        "Refreshed the sheet from the store"
    };
    let _ = writeln!(
        out,
        "{what}: {} rows, {} cells (run {}; `sheetsync revert {}` puts them back).",
        r.rows_written, r.cells_written, r.run_id, r.run_id
    );
    if r.variants_without_sku > 0 {
        let _ = writeln!(
            out,
            "Skipped {} variant(s) without a SKU: give them a SKU in Shopify to sync them.",
            r.variants_without_sku
        );
    }
    if !r.duplicate_skus.is_empty() {
        let _ = writeln!(
            out,
            "Skipped SKUs that are on several variants in the store: {}",
            r.duplicate_skus.join(", ")
        );
    }
    if !r.kept.is_empty() {
        let _ = writeln!(out, "Kept cells you changed since the last sync:");
        for k in &r.kept {
            let _ = writeln!(
                out,
                "  {}  {}  sheet {}, store {}",
                k.cell, k.sku, k.sheet, k.store
            );
        }
    }
    if r.rows_left_alone > 0 {
        let _ = writeln!(
            out,
            "Left {} row(s) alone (row errors, or a SKU the store does not have).",
            r.rows_left_alone
        );
    }
    for s in &r.rows_skipped {
        let _ = writeln!(
            out,
            "Row {} not written: {} (run pull again)",
            s.row, s.reason
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "error: {e}");
    }
    out
}
