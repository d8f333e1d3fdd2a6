//! `sheetsync watch` and `sheetsync schedule`: connect, take the writer lock for the whole
//! life of the command, run the loop from [`crate::schedule`] until a signal, exit 0.

use std::time::Duration;

use super::{Cli, CommandError, Failure};
use crate::engine::Engine;
use crate::report::ExitStatus;
use crate::schedule::{self, Shutdown, WatchOptions, When};

pub async fn watch(
    cli: &Cli,
    interval: Duration,
    full_every: Duration,
) -> Result<ExitStatus, Failure> {
    if interval.is_zero() || full_every.is_zero() {
        return Err(CommandError::Usage(
            "--interval and --full-every must be longer than zero".to_owned(),
        )
        .into());
    }
    let shutdown = Shutdown::default();
    let engine = connect(cli).await?.with_cancel(shutdown.hard.clone());
    let _lock = schedule::hold_lock(&engine, "sheetsync watch")?;
    let signals = tokio::spawn(stop_on_signals(shutdown.clone()));
    let opts = WatchOptions {
        interval,
        full_every,
        ..WatchOptions::default()
    };
    schedule::watch(&engine, &opts, &shutdown).await;
    signals.abort();
    Ok(ExitStatus::Done)
}

pub async fn schedule(
    cli: &Cli,
    cron: Option<&str>,
    every: Option<Duration>,
) -> Result<ExitStatus, Failure> {
    let when = When::parse(cron, every)?;
    let shutdown = Shutdown::default();
    let engine = connect(cli).await?.with_cancel(shutdown.hard.clone());
    let _lock = schedule::hold_lock(&engine, "sheetsync schedule")?;
    let signals = tokio::spawn(stop_on_signals(shutdown.clone()));
    schedule::schedule(&engine, &when, &shutdown).await;
    signals.abort();
    Ok(ExitStatus::Done)
}

async fn connect(cli: &Cli) -> Result<Engine, Failure> {
    let (_, config) = super::load_config(cli)?;
    Ok(Engine::connect(config).await?)
}

/// The first SIGINT/SIGTERM lets the batch in flight finish and stops the loop; a
/// second one also cancels that batch: its waits end at once and no new request goes.
pub(super) async fn stop_on_signals(shutdown: Shutdown) {
    let mut seen = 0;
    loop {
        if !next_signal().await {
            return;
        }
        seen += 1;
        if seen == 1 {
            tracing::warn!(
                "Stopping: finishing the batch in flight (signal again to cut it short)"
            );
            shutdown.stop.cancel();
        } else {
            tracing::warn!("Stopping now: finishing the request in flight, skipping the rest");
            shutdown.hard.cancel();
            return;
        }
    }
}

/// Waits for SIGINT or SIGTERM; `false` when signals cannot be listened to.
async fn next_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return false;
        };
        tokio::select! {
            _ = int.recv() => true,
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
