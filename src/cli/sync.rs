//! `sheetsync sync`: one run, its report on stdout (JSON) or stderr/stdout (human).

use std::collections::BTreeSet;

use super::{Cli, Failure, SyncArgs};
use crate::engine::{Engine, RunOptions};
use crate::model::Field;
use crate::plan::Adopt;
use crate::report::{ExitStatus, Report};

pub async fn run(cli: &Cli, args: &SyncArgs) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let opts = run_options(args)?;
    let mut engine = Engine::connect_with(config, args.dry_run)
        .await
        .map_err(engine_failure)?;
    let (reporter, bars) = super::progress::reporter(args.json, cli.quiet);
    engine.set_progress(reporter);
    let watcher = tokio::spawn(cancel_on_signal(opts.cancel.clone()));
    let report = engine.sync(&opts).await;
    watcher.abort();
    if let Some(bars) = bars {
        bars.clear();
    }
    let report = report.map_err(engine_failure)?;
    Ok(print_report(&report, args.json, args.yes))
}

/// Fires `cancel` on SIGINT or SIGTERM, so the executor finishes the request in flight
/// and sends no other; the run then exits 130 with the rest `skipped`.
pub(crate) async fn cancel_on_signal(cancel: tokio_util::sync::CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::warn!("Interrupted: finishing the request in flight, skipping the rest");
    cancel.cancel();
}

/// Builds the run's options from the flags; the clock is read here, not in the engine.
pub(crate) fn run_options(args: &SyncArgs) -> Result<RunOptions, Failure> {
    let only = if args.only.is_empty() {
        None
    } else {
        let mut set = BTreeSet::new();
        for name in &args.only {
            let field = Field::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                Failure::config(anyhow::anyhow!(
                    "--only: unknown field {name:?}; known fields: {}",
                    known.join(", ")
                ))
            })?;
            set.insert(field);
        }
        Some(set)
    };
    let adopt = match args.adopt.as_deref() {
        Some("sheet") => Some(Adopt::Sheet),
        Some("store") => Some(Adopt::Store),
        _ => None,
    };
    let now = chrono::Utc::now();
    Ok(RunOptions {
        dry_run: args.dry_run,
        only,
        yes: args.yes,
        adopt,
        run_id: format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), fastrand::u16(..)),
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        cancel: tokio_util::sync::CancellationToken::new(),
        lock_held: false,
    })
}

pub(crate) fn engine_failure(e: crate::engine::EngineError) -> Failure {
    let status = match e.fatal() {
        crate::report::Fatal::Config => ExitStatus::Config,
        crate::report::Fatal::Run => ExitStatus::RunFailed,
    };
    Failure {
        status,
        error: e.into(),
    }
}

/// Prints the report (JSON on stdout, or the human plan on stdout) and returns its exit
/// status.
pub(crate) fn print_report(report: &Report, json: bool, yes: bool) -> ExitStatus {
    if json {
        println!("{}", crate::report::json::to_json(report));
    } else {
        print!(
            "{}",
            crate::report::human::render(report, super::color_enabled())
        );
    }
    report.exit_status(yes)
}
