//! `sheetsync serve`: check `[serve]` and the listen address, connect, take the writer
//! lock for the command's life, bind, and run [`crate::serve::run`] until a signal;
//! exit 0 as `watch` does. With a state URL it runs a fleet worker instead of the
//! config's watch ([`crate::serve::fleet::run`]): no writer lock, the leases decide.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Cli, CommandError, Failure};
use crate::config::{ConfigError, ServeConfigError};
use crate::engine::Engine;
use crate::report::ExitStatus;
use crate::schedule::{self, Shutdown, WatchOptions};
use crate::serve::{ServeContext, access, health::SystemClock};

/// `[serve]` as `serve` needs it (SPEC §10), as a config error of the file at `path`
/// (exit 2): every `${VAR}` set, the secret long enough, the token (when given) too.
pub(super) fn require_serve(
    path: &std::path::Path,
    config: &crate::config::Config,
) -> Result<(), ConfigError> {
    config.serve.require().map_err(|e| match e {
        ServeConfigError::MissingEnv(names) => ConfigError::MissingEnv {
            path: path.to_path_buf(),
            names,
        },
        ServeConfigError::Invalid(message) => ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        },
    })
}

pub async fn run(
    cli: &Cli,
    listen: SocketAddr,
    interval: Duration,
    full_every: Duration,
) -> Result<ExitStatus, Failure> {
    if interval.is_zero() || full_every.is_zero() {
        return Err(CommandError::Usage(
            "--interval and --full-every must be longer than zero".to_owned(),
        )
        .into());
    }
    let (path, config) = super::load_config(cli)?;
    // `[serve]`'s variables are required here (and by `check` when the section is there).
    require_serve(&path, &config)?;
    access::check_listen(listen, config.serve.token.as_ref())
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    let bearer = access::Bearer::new(config.serve.token.as_ref())
        .map_err(|e| CommandError::Local(e.to_string()))?
        .with_secure_cookie(!listen.ip().is_loopback());

    if let Some(url) = config.state.url.clone() {
        return fleet(config, url.expose().to_owned(), listen, interval, bearer).await;
    }

    let shutdown = Shutdown::default();
    let mut engine = Engine::connect(config.clone())
        .await?
        .with_cancel(shutdown.hard.clone());
    let _lock = schedule::hold_lock(&engine, "sheetsync serve")?;
    let listener = bind(listen).await?;
    let signals = tokio::spawn(super::watch::stop_on_signals(shutdown.clone()));
    let ctx = ServeContext::new(config, interval, std::sync::Arc::new(SystemClock));
    let opts = WatchOptions {
        interval,
        full_every,
        ..WatchOptions::default()
    };
    let served = crate::serve::run(&mut engine, &ctx, &opts, listener, bearer, &shutdown).await;
    signals.abort();
    served.map_err(|e| CommandError::Local(e.to_string()))?;
    Ok(ExitStatus::Done)
}

/// Listens on `listen` and says where, whatever the log level: the address (a port
/// picked by `:0`) is what the merchant (or a test) needs next.
async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, CommandError> {
    let cannot = |e: std::io::Error| CommandError::Local(format!("cannot listen on {listen}: {e}"));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(cannot)?;
    let bound = listener.local_addr().map_err(cannot)?;
    eprintln!("sheetsync serve: listening on http://{bound}");
    Ok(listener)
}

/// `serve` with the shared state: a fleet worker (`fleet run` with the default replica
/// id and `[state] lease_ttl`) and the HTTP server. `--interval` sets the health
/// threshold only; each pair keeps its file's `[fleet]` interval.
async fn fleet(
    config: crate::config::Config,
    url: String,
    listen: SocketAddr,
    interval: Duration,
    bearer: access::Bearer,
) -> Result<ExitStatus, Failure> {
    let worker = crate::fleet::worker::WorkerOptions {
        url,
        id: crate::fleet::worker::default_id(),
        ttl: config.state.lease_ttl,
        pool_size: config.state.pool_size,
    };
    let shutdown = Shutdown::default();
    let listener = bind(listen).await?;
    // With the shared state, the worker's id too: the lease holder `fleet status` and the
    // stores' User-Agent name.
    eprintln!("sheetsync serve: fleet worker {}", worker.id);
    let signals = tokio::spawn(super::watch::stop_on_signals(shutdown.clone()));
    let ctx = ServeContext::new(config, interval, std::sync::Arc::new(SystemClock));
    let served = crate::serve::fleet::run(&ctx, worker, listener, bearer, &shutdown).await;
    signals.abort();
    match served {
        Ok(()) => Ok(ExitStatus::Done),
        Err(crate::serve::ServeError::Fleet(crate::fleet::worker::WorkerError::State(e))) => {
            Err(e.into())
        }
        Err(e) => Err(CommandError::Local(e.to_string()).into()),
    }
}
