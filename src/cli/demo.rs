//! `sheetsync demo`: the whole flow against the built-in sandbox, no account needed.
//! A dry run first, then the real sync, then a sale pulled into the sheet, all printed.
//!
//! The demo knows what `config/demo/` seeds, so it checks its own outcome ([`check`]):
//! the dry run's exit code and plan, that it wrote nothing, the sync's result, and the
//! store and sheet afterwards. Anything else exits 1 saying what differed, so CI's demo
//! step fails when the flow breaks rather than printing a wrong story and exiting 0.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::Value as Json;

use super::{CommandError, Failure, SyncArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::report::{ExitStatus, Report, Status};
use sheetsync_sandbox::Sandbox;

/// The plan the seed in `config/demo/` yields on a first run with `--adopt sheet`:
/// (SKU, field, location, the sheet's value pushed).
const EXPECTED_PLAN: [(&str, &str, Option<&str>, &str); 6] = [
    ("TOTE-NAT", "price", None, "17.50"),
    ("TEE-RED-L", "inventory", Some("Outlet"), "4"),
    ("TEE-RED-M", "price", None, "21.00"),
    ("TEE-RED-M", "inventory", Some("Main Warehouse"), "25"),
    ("BEAN-GRY", "inventory", Some("Outlet"), "5"),
    ("HOOD-GRY-L", "compare_at_price", None, "59.00"),
];

/// The SKUs of the seed's deliberately bad rows (a price "abc", a date as stock, a SKU
/// the store lacks): every run reports them and exits 3.
const EXPECTED_ROW_ERRORS: [&str; 3] = ["MUG-15OZ", "SOCK-STR-L", "TEE-GRN-M"];

/// The sale the demo makes between the second and third run.
#[derive(Debug, Clone)]
pub(crate) struct Sale {
    pub sku: String,
    pub location: String,
    /// Stock left after it, which must end up in the store and the sheet alike.
    pub left: i64,
}

/// One run's exit status and report.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub status: ExitStatus,
    pub report: Report,
}

/// What the demo saw, for [`check`].
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub dry_run: Run,
    /// The store's variants differed after the dry run from before it.
    pub dry_run_wrote: bool,
    pub sync: Run,
    /// For each change of the sync, in order: the store's value afterwards (`None`: the
    /// variant or location is not there).
    pub store_after_sync: Vec<Option<Decimal>>,
    pub sale: Sale,
    pub pull: Run,
    pub store_after_pull: Option<i64>,
    /// The sale's SKU's cell in the sheet's stock column for that location.
    pub sheet_after_pull: Option<Json>,
}

/// A report value (`"17.50"`, `4`) as a number, for comparing with the store's.
fn number(v: &Json) -> Option<Decimal> {
    match v {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn plan_of(report: &Report) -> BTreeSet<(String, String, Option<String>, Option<Decimal>)> {
    report
        .changes
        .iter()
        .map(|c| {
            (
                c.sku.clone(),
                c.field.clone(),
                c.location.clone(),
                number(&c.to),
            )
        })
        .collect()
}

fn row_errors_of(report: &Report) -> BTreeSet<String> {
    report.errors.iter().filter_map(|e| e.sku.clone()).collect()
}

/// Every way `seen` differs from what the seed must give; empty when the demo went as
/// it should.
pub(crate) fn check(seen: &Observed) -> Vec<String> {
    let mut diffs = Vec::new();
    let expected_plan: BTreeSet<_> = EXPECTED_PLAN
        .iter()
        .map(|(sku, field, loc, to)| {
            (
                (*sku).to_owned(),
                (*field).to_owned(),
                loc.map(str::to_owned),
                to.parse::<Decimal>().ok(),
            )
        })
        .collect();
    let expected_errors: BTreeSet<String> = EXPECTED_ROW_ERRORS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for (name, run) in [
        ("the dry run", &seen.dry_run),
        ("the sync", &seen.sync),
        ("the sync after the sale", &seen.pull),
    ] {
        if run.status != ExitStatus::RowErrors {
            diffs.push(format!(
                "{name} exited {}, expected 3 (the seed's bad rows)",
                run.status.code()
            ));
        }
        let errors = row_errors_of(&run.report);
        if errors != expected_errors {
            diffs.push(format!(
                "{name} reported row errors for {errors:?}, expected {expected_errors:?}"
            ));
        }
    }
    for (name, run, status) in [
        ("the dry run", &seen.dry_run, Status::Planned),
        ("the sync", &seen.sync, Status::Applied),
    ] {
        let plan = plan_of(&run.report);
        for missing in expected_plan.difference(&plan) {
            diffs.push(format!("{name} lacks the change {missing:?}"));
        }
        for extra in plan.difference(&expected_plan) {
            diffs.push(format!("{name} has an unexpected change {extra:?}"));
        }
        for c in run.report.changes.iter().filter(|c| c.status != status) {
            diffs.push(format!(
                "{name}: {} {} is {:?}, expected {status:?}{}",
                c.sku,
                c.field,
                c.status,
                c.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    }
    if seen.dry_run_wrote {
        diffs.push("the dry run changed the store".to_owned());
    }
    if seen.store_after_sync.len() != seen.sync.report.changes.len() {
        diffs.push("the store was not read back for every change of the sync".to_owned());
    }
    for (c, got) in seen.sync.report.changes.iter().zip(&seen.store_after_sync) {
        if *got != number(&c.to) {
            diffs.push(format!(
                "after the sync the store holds {got:?} for {} {}{}, expected {}",
                c.sku,
                c.field,
                c.location
                    .as_deref()
                    .map(|l| format!("@{l}"))
                    .unwrap_or_default(),
                c.to
            ));
        }
    }
    let pull = &seen.pull.report;
    if !pull.changes.is_empty() {
        diffs.push(format!(
            "the sync after the sale changed the store {} time(s); it should only pull",
            pull.changes.len()
        ));
    }
    let sale = &seen.sale;
    let pulled_sale = pull.pulled.iter().any(|p| {
        p.sku == sale.sku
            && p.field == "inventory"
            && p.location.as_deref() == Some(sale.location.as_str())
            && number(&p.to) == Some(Decimal::from(sale.left))
            && p.status == Some(Status::Applied)
    });
    if !pulled_sale || pull.pulled.len() != 1 {
        diffs.push(format!(
            "the sync after the sale pulled {:?}, expected only {} at {} → {}, written",
            pull.pulled
                .iter()
                .map(|p| format!("{} {} {:?} → {}", p.sku, p.field, p.location, p.to))
                .collect::<Vec<_>>(),
            sale.sku,
            sale.location,
            sale.left
        ));
    }
    if seen.store_after_pull != Some(sale.left) {
        diffs.push(format!(
            "the store holds {:?} of {} at {} after the sale, expected {} (the sale was overwritten)",
            seen.store_after_pull, sale.sku, sale.location, sale.left
        ));
    }
    let sheet = seen.sheet_after_pull.as_ref().and_then(number);
    if sheet != Some(Decimal::from(sale.left)) {
        diffs.push(format!(
            "the sheet shows {:?} for {} at {} after the sale, expected {}",
            seen.sheet_after_pull, sale.sku, sale.location, sale.left
        ));
    }
    diffs
}

pub async fn run() -> Result<ExitStatus, Failure> {
    let seen = observe().await?;
    let diffs = check(&seen);
    if diffs.is_empty() {
        // Exit 3 above is the seed's deliberate bad rows; everything else went as it must.
        println!("\nThe demo went as expected.");
        Ok(ExitStatus::Done)
    } else {
        Err(CommandError::Local(format!(
            "the demo did not go as expected:\n  - {}",
            diffs.join("\n  - ")
        ))
        .into())
    }
}

/// Runs and prints the demo's three syncs against a fresh sandbox, and gathers what
/// [`check`] judges.
async fn observe() -> Result<Observed, Failure> {
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
    let mut runs = Vec::new();
    let mut dry_run_wrote = false;
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
        let status = super::sync::print_report(&report, false, false);
        println!("(exit code {})\n", status.code());
        if dry_run {
            dry_run_wrote = !sandbox.shopify.applied_mutations().is_empty();
        }
        runs.push(Run { status, report });
    }
    let (Some(sync), Some(dry_run)) = (runs.pop(), runs.pop()) else {
        return Err(CommandError::Local("the demo lost a run's report".into()).into());
    };
    let store_after_sync = sync
        .report
        .changes
        .iter()
        .map(|c| store_value(&sandbox, &c.sku, &c.field, c.location.as_deref()))
        .collect();

    // A sale in the store between two syncs: three-way pulls it into the sheet instead of
    // overwriting it, which is what CSV imports and most sheet add-ons get wrong.
    let (sku, location) = ("TEE-RED-S", "Main Warehouse");
    let sold = sandbox.shopify.available(sku, location).unwrap_or(0);
    sandbox.shopify.set_available(sku, location, sold - 2);
    let sale = Sale {
        sku: sku.to_owned(),
        location: location.to_owned(),
        left: sold - 2,
    };
    println!(
        "# Meanwhile a customer buys 2 × {sku} in the store ({sold} → {} at {location}).",
        sale.left
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
    let report = engine.sync(&opts).await;
    if let Some(bars) = &bars {
        bars.clear();
    }
    let report = report?;
    let status = super::sync::print_report(&report, false, false);
    println!("(exit code {})\n", status.code());
    let pull = Run { status, report };

    let rows = sandbox.sheets.rows("Inventory");
    println!("The sheet now reads (SKU, stock, status, last synced):");
    for row in rows.iter().take(5) {
        let cell = |i: usize| {
            row.get(i).map_or(String::new(), |v| match v {
                Json::String(s) => s.clone(),
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
    // The demo config maps Main Warehouse to the "Stock" column.
    let stock_col = rows
        .first()
        .and_then(|h| h.iter().position(|v| v.as_str() == Some("Stock")));
    let sheet_after_pull = rows
        .iter()
        .find(|r| r.first().and_then(Json::as_str) == Some(sku))
        .zip(stock_col)
        .and_then(|(r, c)| r.get(c).cloned());
    Ok(Observed {
        dry_run,
        dry_run_wrote,
        sync,
        store_after_sync,
        pull,
        store_after_pull: sandbox.shopify.available(sku, location),
        sheet_after_pull,
        sale,
    })
}

/// The store's value of one change's field, as a number.
fn store_value(
    sandbox: &Sandbox,
    sku: &str,
    field: &str,
    location: Option<&str>,
) -> Option<Decimal> {
    match field {
        "inventory" => location
            .and_then(|l| sandbox.shopify.available(sku, l))
            .map(Decimal::from),
        "price" => sandbox.shopify.variant(sku).map(|v| v.price),
        "compare_at_price" => sandbox
            .shopify
            .variant(sku)
            .and_then(|v| v.compare_at_price),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `seen` is caught, with a message holding `says`.
    fn caught(seen: &Observed, says: &str) {
        let diffs = check(seen);
        assert!(
            diffs.iter().any(|d| d.contains(says)),
            "expected a difference saying {says:?}, got {diffs:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_checker_passes_the_real_demo_and_catches_every_wrong_outcome() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let seen = observe().await.expect("the demo ran");
        assert_eq!(check(&seen), Vec::<String>::new());

        // A dry run that exited 0 (the bad rows went unnoticed).
        let mut wrong = seen.clone();
        wrong.dry_run.status = ExitStatus::Done;
        caught(&wrong, "the dry run exited 0, expected 3");

        // A plan missing a change, and one with a change the seed does not call for.
        let mut wrong = seen.clone();
        let dropped = wrong.dry_run.report.changes.remove(0);
        caught(
            &wrong,
            &format!("the dry run lacks the change (\"{}\"", dropped.sku),
        );
        let mut wrong = seen.clone();
        wrong.dry_run.report.changes[0].to = Json::String("99.00".into());
        caught(&wrong, "the dry run has an unexpected change");

        // A dry run that wrote.
        let mut wrong = seen.clone();
        wrong.dry_run_wrote = true;
        caught(&wrong, "the dry run changed the store");

        // A sync change that failed, and one reported applied that the store lacks.
        let mut wrong = seen.clone();
        wrong.sync.report.changes[1].status = Status::Failed;
        caught(&wrong, "is Failed, expected Applied");
        let mut wrong = seen.clone();
        wrong.store_after_sync[2] = Some(Decimal::from(1));
        caught(&wrong, "after the sync the store holds Some(1)");

        // The sale overwritten in the store, or never reaching the sheet.
        let mut wrong = seen.clone();
        wrong.store_after_pull = Some(wrong.sale.left + 2);
        caught(&wrong, "the sale was overwritten");
        let mut wrong = seen.clone();
        wrong.sheet_after_pull = Some(Json::from(wrong.sale.left + 2));
        caught(&wrong, "the sheet shows");
        let mut wrong = seen.clone();
        wrong.pull.report.pulled.clear();
        caught(&wrong, "the sync after the sale pulled []");

        // Row errors that vanished.
        let mut wrong = seen;
        wrong.sync.report.errors.clear();
        caught(&wrong, "the sync reported row errors for {}");
    }
}
