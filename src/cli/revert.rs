//! `sheetsync revert ID [--dry-run] [--json]`: puts back the values a journaled run
//! replaced (see `commands::revert`), and prints a report of the SPEC §5 shape whose
//! changes carry the put-back values.

use super::{Cli, Failure, SyncArgs};
use crate::engine::Engine;
use crate::report::ExitStatus;

pub async fn run(cli: &Cli, id: &str, dry_run: bool, json: bool) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let args = SyncArgs {
        dry_run,
        json,
        only: Vec::new(),
        yes: false,
        adopt: None,
    };
    let opts = super::sync::run_options(&args)?;
    let mut engine = Engine::connect_with(config, dry_run)
        .await?
        .with_cancel(opts.cancel.clone());
    let (reporter, bars) = super::progress::reporter(json, cli.quiet);
    engine.set_progress(reporter);
    let report = super::sync::until_second_signal(&opts, engine.revert(id, &opts)).await;
    if let Some(bars) = bars {
        bars.clear();
    }
    let report = report??;
    if !json {
        let what = if dry_run { "Would revert" } else { "Reverting" };
        eprintln!("{what} run {id} (as run {}):", report.run_id);
    }
    Ok(super::sync::print_report(&report, json, false))
}
