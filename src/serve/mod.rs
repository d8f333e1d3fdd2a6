//! `serve` (SPEC §10): the watch loop for the config, in-process, plus an HTTP server;
//! with the shared state, a fleet worker instead of the loop ([`fleet`]).
//!
//! - `POST /hooks/sheet` ([`hook`]): the sheet's signed change notifications nudge the
//!   loop, which starts a changed-rows sync within a second; polling stays the fallback;
//! - `GET /healthz` ([`health`]): whether the loop's ticks keep succeeding;
//! - `GET /metrics` ([`metrics`]): SPEC §10's metrics in the Prometheus text format;
//! - `GET /`: the status page, merged into [`protected`] beside `/metrics`;
//! - `GET`/`POST /login` ([`login`]): a browser signs in with the token and gets a
//!   session cookie, accepted like the bearer.
//!
//! [`access`] decides who may read the page and metrics. The loop is `schedule`'s; this
//! module only plugs a queue of notices and an observer of ticks into it. What the page
//! reads (the config, the state, health, metrics) is in [`ServeContext`]; `/healthz` and
//! the page read the same [`health::Health`]. It stops as
//! `watch` does: once `shutdown.stop` fires the batch in flight finishes, the server
//! stops taking requests, and [`run`] returns.

pub mod access;
pub mod fleet;
pub mod health;
pub mod hook;
pub mod login;
pub mod metrics;
pub mod page;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::config::Config;
use crate::engine::Engine;
use crate::progress::Reporter;
use crate::report::{ExitStatus, Report};
use crate::schedule::{Notice, Nudges, Planned, Shutdown, TickObserver, WatchOptions};
use crate::state::{Scope, StateError, StateStore};
use access::Bearer;
use health::{Clock, Health};
use hook::{HookGate, HookState, HookTarget};
use metrics::Metrics;

/// What the handlers (and the status page) read; clones share everything.
#[derive(Clone)]
pub struct ServeContext {
    pub config: Arc<Config>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// The watch loop's Drive check interval.
    pub interval: Duration,
    /// More lines for the page's notes (with the shared state: the fleet worker's pairs).
    pub page_notes: Option<page::NoteSource>,
}

impl std::fmt::Debug for ServeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeContext")
            .field("interval", &self.interval)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl ServeContext {
    pub fn new(config: Config, interval: Duration, clock: Arc<dyn Clock>) -> ServeContext {
        ServeContext {
            config: Arc::new(config),
            health: Arc::new(Health::new(interval, clock.clone())),
            metrics: Arc::new(Metrics::new()),
            clock,
            interval,
            page_notes: None,
        }
    }

    /// The journal, read-only (runs, reports, tokens); `None` before the first run.
    /// Opened per request: SQLite readers are cheap, and the loop holds the writer.
    pub fn state_reader(&self) -> Result<Option<Box<dyn StateStore>>, StateError> {
        crate::state::open_reader_for(&self.config, &Scope::of(&self.config))
    }
}

/// Why `serve` could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ServeConfigError),
    #[error(transparent)]
    Access(#[from] access::AccessError),
    #[error("the HTTP server failed: {0}")]
    Server(#[from] std::io::Error),
    #[error(transparent)]
    Fleet(#[from] crate::fleet::worker::WorkerError),
}

/// The routes that need the bearer token when one is set: `/metrics` and the page.
pub fn protected(ctx: &ServeContext) -> Router {
    let mut page = page::PageContext::new(ctx.config.clone(), ctx.health.clone());
    if let Some(notes) = &ctx.page_notes {
        page = page.with_notes(notes.clone());
    }
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(ctx.clone())
        .merge(page::router(page))
}

/// Every route, with the access rules and the hook's body limit.
pub fn router(ctx: &ServeContext, hook: HookState, bearer: Bearer) -> Router {
    let protected = protected(ctx).layer(axum::middleware::from_fn_with_state(
        bearer.clone(),
        access::require,
    ));
    Router::new()
        .route(
            "/hooks/sheet",
            post(hook::handle)
                .with_state(hook)
                .layer(DefaultBodyLimit::max(hook::MAX_BODY)),
        )
        .route("/healthz", get(healthz).with_state(ctx.clone()))
        .merge(login::router(bearer))
        .merge(protected)
}

async fn healthz(State(ctx): State<ServeContext>) -> Response {
    let report = ctx.health.report();
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Open to anyone who can reach the port: the error's text (which names the shop, the
    // sheet, the failing service) is for the page and the log, not for this answer.
    let body = serde_json::json!({
        "healthy": report.healthy,
        "failing_for_seconds": report.failing_for.map(|d| d.as_secs()),
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics_handler(State(ctx): State<ServeContext>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        ctx.metrics.encode(),
    )
        .into_response()
}

/// Feeds each tick's outcome to health and metrics.
struct Observer {
    ctx: ServeContext,
}

impl TickObserver for Observer {
    fn ran(&self, report: &Report, status: ExitStatus, planned: Planned<'_>, carried: &[Notice]) {
        let now = self.ctx.clock.wall();
        self.ctx
            .metrics
            .record_run(report, status, planned, carried, now);
        match status {
            ExitStatus::RunFailed | ExitStatus::Config => {
                self.failed_health("the run failed (see the log)");
            }
            _ => self.succeeded_health(),
        }
    }

    fn checked(&self) {
        self.succeeded_health();
    }

    fn failed(&self, error: &str, run: Option<ExitStatus>) {
        self.failed_health(error);
        if let Some(status) = run {
            self.ctx.metrics.record_failed_run(status);
        }
    }
}

impl Observer {
    fn succeeded_health(&self) {
        self.ctx.health.succeeded();
    }

    fn failed_health(&self, error: &str) {
        self.ctx.health.failed(error);
    }
}

/// Runs the watch loop and the HTTP server on `listener` until `shutdown.stop` fires.
/// The caller holds the writer lock and owns the signal handlers; `hook_secret` is
/// `serve.hook_secret`, already required.
pub async fn run(
    engine: &mut Engine,
    ctx: &ServeContext,
    watch: &WatchOptions,
    listener: tokio::net::TcpListener,
    bearer: Bearer,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    let gate = hook_gate(ctx)?;
    engine.set_progress(Reporter::new(ctx.metrics.clone()));
    let nudges = Nudges::default();
    let hook = HookState {
        gate,
        target: HookTarget::One(nudges.clone()),
    };
    let observer = Observer { ctx: ctx.clone() };
    let watch = crate::schedule::watch_with(engine, watch, shutdown, Some(&nudges), &observer);
    serve_while(ctx, hook, listener, bearer, shutdown, watch).await
}

/// The sheet hook's gate, on `serve.hook_secret` (which `serve` requires) for the
/// config's spreadsheet and tab.
fn hook_gate(ctx: &ServeContext) -> Result<Arc<HookGate>, ServeError> {
    let secret = ctx.config.serve.hook_secret.clone().ok_or_else(|| {
        crate::config::ServeConfigError::Invalid("serve.hook_secret is not set".to_owned())
    })?;
    Ok(Arc::new(HookGate::new(
        &secret,
        &ctx.config.sheet.spreadsheet_id,
        &ctx.config.sheet.tab,
        ctx.clock.clone(),
    )))
}

/// Serves the HTTP app on `listener` while `work` (the watch loop, or the fleet worker)
/// runs, and returns what `work` did once the server has stopped.
async fn serve_while<T>(
    ctx: &ServeContext,
    hook: HookState,
    listener: tokio::net::TcpListener,
    bearer: Bearer,
    shutdown: &Shutdown,
    work: impl Future<Output = T>,
) -> Result<T, ServeError> {
    let app = router(ctx, hook, bearer);
    let stop = shutdown.stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    let done = work.await;
    // The work ends on `stop` (or early, when it cannot start); `stop` also stops the
    // server from accepting, and a client that keeps its connection open may not hold the
    // process, hence the bound.
    shutdown.stop.cancel();
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(result)) => result?,
        Ok(Err(e)) => tracing::warn!(error = %e, "The HTTP server task ended abnormally"),
        Err(_) => tracing::warn!("The HTTP server did not stop within 5 s; leaving it"),
    }
    Ok(done)
}

/// The address `serve` listens on unless told otherwise.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
