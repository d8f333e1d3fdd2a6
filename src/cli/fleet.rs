//! `sheetsync fleet …` (SPEC §9): commands over the shared PostgreSQL state that read no
//! config file, only the state URL (`--state-url` or `SHEETSYNC_STATE_URL`). Today:
//! `fleet migrate`, which creates or upgrades the shared schema, and `fleet run`, a worker.

use super::{Cli, CommandError, Failure};
use crate::report::ExitStatus;
use crate::state::postgres;

/// `fleet run`: the worker until the first SIGTERM/SIGINT (drain: finish the batches in
/// flight, release the pairs, exit 0; exit 1 if some pair has not ended within
/// `DRAIN_DEADLINE + DRAIN_GRACE`); a second one also cuts those batches short.
pub async fn run(
    cli: &Cli,
    replica_id: Option<String>,
    lease_ttl: std::time::Duration,
) -> Result<ExitStatus, Failure> {
    let url = super::state_url(cli).ok_or_else(|| {
        CommandError::Usage(
            "fleet run needs the shared state's URL: pass --state-url postgres://… or \
             set SHEETSYNC_STATE_URL (see docs/fleet.md)"
                .to_owned(),
        )
    })?;
    let opts = crate::fleet::worker::WorkerOptions {
        url,
        id: replica_id.unwrap_or_else(crate::fleet::worker::default_id),
        ttl: lease_ttl,
        pool_size: cli
            .state_pool_size
            .unwrap_or(crate::config::DEFAULT_POOL_SIZE),
    };
    let shutdown = crate::schedule::Shutdown::default();
    let signals = tokio::spawn(super::watch::stop_on_signals(shutdown.clone()));
    let res = crate::fleet::worker::run(opts, shutdown).await;
    signals.abort();
    match res {
        Ok(()) => Ok(ExitStatus::Done),
        Err(crate::fleet::worker::WorkerError::State(e)) => Err(e.into()),
        // The drain ran out of time: exit 1, the leases left expire within the TTL.
        Err(e @ crate::fleet::worker::WorkerError::DrainCut(_)) => {
            Err(CommandError::Local(e.to_string()).into())
        }
        Err(e) => Err(CommandError::Usage(e.to_string()).into()),
    }
}

/// `fleet migrate`: applies the embedded migrations the database lacks, in one
/// transaction, and says what it did.
pub async fn migrate(cli: &Cli) -> Result<ExitStatus, Failure> {
    let url = super::state_url(cli).ok_or_else(|| {
        CommandError::Usage(
            "fleet commands need the shared state's URL: pass --state-url postgres://… or \
             set SHEETSYNC_STATE_URL (see docs/shared-state.md)"
                .to_owned(),
        )
    })?;
    let (done, tls) = postgres::migrate_schema(&url).await?;
    let shown = crate::config::redact_url(&url);
    let over = if tls { "over TLS" } else { "without TLS" };
    if done.applied.is_empty() {
        eprintln!(
            "Shared state at {shown} ({over}) is up to date: schema version {}.",
            done.to
        );
    } else {
        eprintln!(
            "Shared state at {shown} ({over}): schema version {} → {} (applied {}).",
            done.from,
            done.to,
            done.applied.join(", ")
        );
    }
    Ok(ExitStatus::Done)
}
