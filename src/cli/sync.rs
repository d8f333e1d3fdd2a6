//! `sheetsync sync`: one run, its report on stdout (JSON) or stderr/stdout (human).

use std::collections::BTreeSet;

use super::{Cli, CommandError, Failure, SyncArgs};
use crate::engine::{Engine, RunOptions};
use crate::model::Field;
use crate::plan::Adopt;
use crate::report::{ExitStatus, Report};

pub async fn run(cli: &Cli, args: &SyncArgs) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let opts = run_options(args)?;
    let mut engine = Engine::connect_with(config, args.dry_run)
        .await?
        .with_cancel(opts.cancel.clone());
    let (reporter, bars) = super::progress::reporter(args.json, cli.quiet);
    engine.set_progress(reporter);
    let report = until_second_signal(&opts, engine.sync(&opts)).await;
    if let Some(bars) = bars {
        bars.clear();
    }
    let report = report??;
    Ok(print_report(&report, args.json, args.yes))
}

/// Runs `work` while listening for SIGINT/SIGTERM: the first fires `opts.cancel` (every
/// wait of the run ends, the request in flight finishes, the rest is `skipped`, and the
/// report is printed as usual); a second stops at once, without a report, exit 130.
pub(crate) async fn until_second_signal<T>(
    opts: &RunOptions,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    let now = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(cancel_on_signal(opts.cancel.clone(), now.clone()));
    let out = tokio::select! {
        biased;
        () = now.cancelled() => None,
        out = work => Some(out),
    };
    watcher.abort();
    out.ok_or_else(|| Failure {
        status: ExitStatus::Interrupted,
        error: anyhow::anyhow!(
            "interrupted twice: stopped without waiting for the request in flight; the next run settles it from the store"
        ),
    })
}

/// Fires `cancel` on the first SIGINT or SIGTERM, so the run finishes the request in
/// flight and sends no other (exit 130, the rest `skipped`); fires `now` on the next.
/// The listeners are installed once, so no signal between the two is lost.
async fn cancel_on_signal(
    cancel: tokio_util::sync::CancellationToken,
    now: tokio_util::sync::CancellationToken,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for seen in 1.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if seen == 1 {
                tracing::warn!(
                    "Interrupted: finishing the request in flight, skipping the rest (signal again to stop at once)"
                );
                cancel.cancel();
            } else {
                now.cancel();
                return;
            }
        }
    }
    #[cfg(not(unix))]
    for seen in 1.. {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if seen == 1 {
            tracing::warn!(
                "Interrupted: finishing the request in flight, skipping the rest (Ctrl-C again to stop at once)"
            );
            cancel.cancel();
        } else {
            now.cancel();
            return;
        }
    }
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
                CommandError::Usage(format!(
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
