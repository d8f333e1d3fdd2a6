//! Sends GraphQL bodies to the Admin API and paces itself, so callers never think about
//! limits (DESIGN.md step 5).
//!
//! - The endpoint is resolved once from the config, and every request checks its host
//!   before the access token goes on it (SPEC §6).
//! - A [`CostBucket`] mirrors Shopify's leaky bucket. Each request is charged its expected
//!   cost before it is sent (the `requestedQueryCost` the same operation reported last time,
//!   or a conservative default) and waits while the bucket cannot afford it; every response's
//!   `extensions.cost.throttleStatus` resets the level, minus what other requests still in
//!   flight were charged. governor cannot be reset to a reported level nor hold the float
//!   figures Shopify sends, hence our own ~40-line bucket (CRATES.md §5).
//! - Retryable failures ([`StoreError::is_retryable`]) are resent as the same bytes: after
//!   `THROTTLED`, once the bucket holds the requested cost; after 429, per `Retry-After`;
//!   after 5xx, timeouts and dropped connections, with capped exponential backoff and full
//!   jitter.
//! - The access token comes from a [`TokenProvider`] per request. A 401 asks it once to
//!   renew (re-mint or refresh) and resends the same bytes: a 401 means Shopify did not
//!   run the request, so nothing is written twice. A second 401 ends the request.
//! - Every wait (the bucket, a retry's backoff, a bulk job's poll interval via
//!   [`Transport::pause`]) ends when the run's cancellation fires; a request already on
//!   the wire is never cut, so a write in flight finishes and its answer is read. No new
//!   request is sent once the run is cancelled. The token comes from the caller (the CLI
//!   owns the signal handlers): this layer only listens.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::error::{GraphqlError, StoreError};
use crate::auth::{StaticToken, TokenProvider};
use crate::config::{Secret, ShopifyConfig};
use crate::progress::{Limit, Reporter};

/// Expected cost of an operation we have not seen a response for yet.
pub const DEFAULT_ESTIMATE: f64 = 100.0;

/// Time as the transport sees it; tests substitute a clock whose sleeps return at once.
pub trait Clock: Send + Sync + 'static {
    /// Time since an arbitrary fixed start.
    fn now(&self) -> Duration;
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The tokio clock (and so `tokio::time::pause` works on it).
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// `extensions.cost.throttleStatus`. Numbers may be floats (`2000.0`) or integers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// `extensions.cost`, present on every Admin API response that got as far as costing.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub requested_query_cost: Option<f64>,
    pub actual_query_cost: Option<f64>,
    pub throttle_status: Option<ThrottleStatus>,
}

/// The local mirror of the store's cost bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct CostBucket {
    pub max: f64,
    pub rate: f64,
    level: f64,
    at: Duration,
    in_flight: f64,
}

impl CostBucket {
    /// A full bucket. Until the first response says otherwise, assume the smallest bucket
    /// observed (1,000 points restoring 50/s), which is safe on every plan.
    pub fn new(max: f64, rate: f64, now: Duration) -> CostBucket {
        CostBucket {
            max,
            rate,
            level: max,
            at: now,
            in_flight: 0.0,
        }
    }

    /// The bucket's size, as Shopify last reported it.
    pub fn maximum(&self) -> f64 {
        self.max
    }

    /// Points available at `now`.
    pub fn level(&mut self, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.rate).min(self.max);
        self.at = now;
        self.level
    }

    /// Charges `cost` (capped at the bucket size, which Shopify would refuse anyway) and
    /// returns what was charged, or how long to wait until it can be afforded.
    pub fn try_take(&mut self, cost: f64, now: Duration) -> Result<f64, Duration> {
        let cost = cost.clamp(0.0, self.max);
        let level = self.level(now);
        if level >= cost {
            self.level -= cost;
            self.in_flight += cost;
            Ok(cost)
        } else {
            let rate = if self.rate > 0.0 { self.rate } else { 1.0 };
            // A millisecond of slack keeps float rounding from waking us just short.
            Err(Duration::from_secs_f64((cost - level) / rate) + Duration::from_millis(1))
        }
    }

    /// A request charged `charged` finished without a cost report we can use (a network
    /// error, an HTTP error page): the charge stands, since Shopify may have run it.
    pub fn settle(&mut self, charged: f64, status: Option<ThrottleStatus>, now: Duration) {
        self.reconcile(charged, 0.0, status, now);
    }

    /// A request charged `charged` finished with `cost` from its response. Shopify charged
    /// its requested cost and refunded down to the actual cost (nothing ran when it sent
    /// no actual cost, as for THROTTLED), so the local mirror refunds the same.
    pub fn settle_cost(&mut self, charged: f64, cost: Option<Cost>, now: Duration) {
        let (refund, status) = match cost {
            Some(c) => {
                let refund = match (c.actual_query_cost, c.throttle_status) {
                    (Some(actual), _) => (charged - actual).max(0.0),
                    (None, Some(_)) => charged,
                    (None, None) => 0.0,
                };
                (refund, c.throttle_status)
            }
            None => (0.0, None),
        };
        self.reconcile(charged, refund, status, now);
    }

    /// The mirror pays every request's charge when it is sent and its refund when it is
    /// answered, as Shopify does, so it tracks the store by itself. The server's figure
    /// only corrects it downwards (once the bucket's size is known): with several
    /// requests in flight, answers arrive in any order, and an answer computed before
    /// another request was charged would otherwise lift the mirror above the store and
    /// earn a THROTTLED. What it must lower is real: another app on the same bucket, or
    /// a request that cost more than estimated. (Subtracting the requests in flight from
    /// it would count twice those the server had already charged, and the mirror, never
    /// raised again, would fall further behind the store with every answer.)
    fn reconcile(
        &mut self,
        charged: f64,
        refund: f64,
        status: Option<ThrottleStatus>,
        now: Duration,
    ) {
        self.in_flight = (self.in_flight - charged).max(0.0);
        let mirrored = self.level(now) + refund;
        self.level = mirrored.min(self.max);
        if let Some(s) = status {
            let max = s.maximum_available.max(1.0);
            let rate = s.restore_rate.max(0.0);
            // Until the first answer the mirror assumed the smallest bucket: then the
            // server's figure is the only one that means anything.
            let resized = max != self.max || rate != self.rate;
            self.max = max;
            self.rate = rate;
            self.level = if resized {
                // Some requests in flight may not have reached the server yet.
                (s.currently_available - self.in_flight).clamp(0.0, self.max)
            } else {
                s.currently_available.min(mirrored).clamp(0.0, self.max)
            };
            self.at = now;
        }
    }
}

pub use crate::auth::endpoint::{Endpoint, authority, normalize_shop, resolve_endpoint};
pub use crate::http::RetryPolicy;
use crate::http::{Reason, Retries};

/// A successful response: its `data`, and its cost report.
#[derive(Debug, Clone)]
pub struct Reply {
    pub data: serde_json::Value,
    pub cost: Option<Cost>,
}

/// Sends bodies, paced and retried. Shared by every clone of the client.
pub struct Transport {
    http: reqwest::Client,
    endpoint: Endpoint,
    auth: Arc<dyn TokenProvider>,
    bucket: Mutex<CostBucket>,
    /// Last `requestedQueryCost` per operation name.
    estimates: Mutex<HashMap<String, f64>>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// The run's cancellation; a fresh (never fired) token until the caller sets one.
    cancel: Mutex<CancellationToken>,
    /// Where waits for the bucket and for `THROTTLED` are reported.
    progress: Mutex<Reporter>,
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<serde_json::Value>,
    errors: Option<Errors>,
    extensions: Option<Extensions>,
}

/// A 401 body carries `errors` as a string, GraphQL errors as a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Errors {
    List(Vec<RawError>),
    Text(String),
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    message: String,
    extensions: Option<RawErrorExtensions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawErrorExtensions {
    code: Option<String>,
    cost: Option<f64>,
    max_cost: Option<f64>,
}

#[derive(Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Peek {
    operation_name: Option<String>,
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        out.push('…');
    }
    out
}

impl Transport {
    pub fn new(cfg: &ShopifyConfig, token: Secret) -> Result<Transport, StoreError> {
        Transport::with_clock(
            cfg,
            token,
            RetryPolicy::default(),
            Arc::new(TokioClock::default()),
        )
    }

    pub fn with_clock(
        cfg: &ShopifyConfig,
        token: Secret,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Transport, StoreError> {
        Transport::with_provider(cfg, Arc::new(StaticToken(token)), policy, clock)
    }

    /// A transport whose token comes from `auth` (client credentials, OAuth).
    pub fn with_provider(
        cfg: &ShopifyConfig,
        auth: Arc<dyn TokenProvider>,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Transport, StoreError> {
        let endpoint = resolve_endpoint(cfg)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(90))
            .user_agent(concat!("sheetsync/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the token to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        let bucket = Mutex::new(CostBucket::new(1000.0, 50.0, clock.now()));
        Ok(Transport {
            http,
            endpoint,
            auth,
            bucket,
            estimates: Mutex::default(),
            policy,
            clock,
            cancel: Mutex::new(CancellationToken::new()),
            progress: Mutex::new(Reporter::silent()),
        })
    }

    /// Makes every wait of this transport (and of the pollers sharing it) end when
    /// `cancel` fires, and stops new requests from being sent after that.
    pub fn set_cancel(&self, cancel: CancellationToken) {
        *lock(&self.cancel) = cancel;
    }

    /// The run's cancellation as set by [`Transport::set_cancel`].
    pub fn cancellation(&self) -> CancellationToken {
        lock(&self.cancel).clone()
    }

    /// Waits `d` on the transport's clock, or until the run is cancelled
    /// ([`StoreError::Interrupted`]).
    pub async fn pause(&self, d: Duration) -> Result<(), StoreError> {
        let cancel = self.cancellation();
        if cancel.is_cancelled() {
            return Err(StoreError::Interrupted);
        }
        tokio::select! {
            () = cancel.cancelled() => Err(StoreError::Interrupted),
            () = self.clock.sleep(d) => Ok(()),
        }
    }

    /// Reports waits for the rate limit to `progress` (and the client's pages and jobs).
    pub fn set_progress(&self, progress: Reporter) {
        *lock(&self.progress) = progress;
    }

    pub fn progress(&self) -> Reporter {
        lock(&self.progress).clone()
    }

    /// The clock the transport waits on (pollers share it, so tests run without waiting).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A copy of the bucket as it stands (for tests and diagnostics).
    pub fn bucket(&self) -> CostBucket {
        lock(&self.bucket).clone()
    }

    /// The cost the next request of `operation` is expected to have.
    pub fn estimate(&self, operation: &str) -> f64 {
        lock(&self.estimates)
            .get(operation)
            .copied()
            .unwrap_or(DEFAULT_ESTIMATE)
    }

    /// The `requestedQueryCost` `operation` reported last, if it has been sent before.
    pub fn known_estimate(&self, operation: &str) -> Option<f64> {
        lock(&self.estimates).get(operation).copied()
    }

    /// Sends `body` until it succeeds or fails for good; every attempt sends these bytes.
    /// `cost_hint` overrides the estimate (a page whose size just changed).
    pub async fn send(&self, body: &[u8], cost_hint: Option<f64>) -> Result<Reply, StoreError> {
        let op = serde_json::from_slice::<Peek>(body)
            .ok()
            .and_then(|p| p.operation_name)
            .unwrap_or_default();
        let mut hint = cost_hint;
        let mut retries = Retries::new(self.policy, "shopify");
        let mut renewed = false;
        // The last failure of an attempt that reached the wire: once one has, an
        // interruption reports it (the request may have run) rather than "not sent".
        let mut failed: Option<StoreError> = None;
        let interrupted = |failed: Option<StoreError>| match failed {
            Some(e) => StoreError::InterruptedRetry(Box::new(e)),
            None => StoreError::Interrupted,
        };
        loop {
            // The bucket first: a wait for it must not age the token about to be sent.
            let cost = hint.take().unwrap_or_else(|| self.estimate(&op));
            let Ok(charged) = self.acquire(cost).await else {
                return Err(interrupted(failed));
            };
            let result = match self.auth.token().await {
                Ok(token) => {
                    match self.attempt(&op, body, charged, &token).await {
                        Err(StoreError::Unauthorized) if renewed => {
                            return Err(StoreError::Auth(self.auth.rejected_after_renew()));
                        }
                        Err(StoreError::Unauthorized) => {
                            renewed = true;
                            match self.auth.renew(&token).await {
                                Ok(true) => {
                                    tracing::info!(operation = %op, "Shopify access token renewed after a 401; resending");
                                    // Shopify ran nothing and charged nothing for the 401,
                                    // so the resend goes out at once, before the new token
                                    // can age in a bucket wait.
                                    hint = Some(0.0);
                                    continue;
                                }
                                Ok(false) => Err(StoreError::Unauthorized),
                                Err(e) => Err(StoreError::Auth(e)),
                            }
                        }
                        other => {
                            // Any answer but a 401 proves the token works: a later 401
                            // (a token revoked during a long wait) may renew again.
                            renewed = false;
                            other
                        }
                    }
                }
                Err(e) => {
                    lock(&self.bucket).settle(charged, None, self.clock.now());
                    Err(StoreError::Auth(e))
                }
            };
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            if matches!(
                err,
                StoreError::Throttled { .. } | StoreError::Http { status: 429, .. }
            ) {
                self.progress().report(crate::progress::Event::Throttled {
                    limit: Limit::Store,
                });
            }
            if let StoreError::Throttled { requested, .. } = &err {
                // The next charge is what Shopify asked for, so the bucket holds it on resend.
                lock(&self.estimates).insert(op.clone(), *requested);
            }
            let Some(delay) = retries.next(retry_reason(&err), err.server_delay()) else {
                return Err(err);
            };
            tracing::debug!(operation = %op, error = %err, "Shopify request failed; sending it again");
            let throttled = matches!(err, StoreError::Throttled { .. });
            let sent = !matches!(err, StoreError::Auth(_));
            if sent {
                failed = Some(err);
            }
            let pause = self.pause(delay);
            let paused = if throttled {
                self.progress().waiting(Limit::Store, delay, pause).await
            } else {
                pause.await
            };
            if paused.is_err() {
                return Err(interrupted(failed));
            }
        }
    }

    /// Charges `cost` to the bucket, waiting until it holds it; `Err` when the run is
    /// cancelled first (nothing is charged then).
    async fn acquire(&self, cost: f64) -> Result<f64, StoreError> {
        loop {
            // Checked before charging: a cancelled run sends nothing more.
            if self.cancellation().is_cancelled() {
                return Err(StoreError::Interrupted);
            }
            let wait = lock(&self.bucket).try_take(cost, self.clock.now());
            match wait {
                Ok(charged) => return Ok(charged),
                Err(wait) => {
                    tracing::debug!(
                        cost,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "waiting for the cost bucket"
                    );
                    self.progress()
                        .waiting(Limit::Store, wait, self.pause(wait))
                        .await?;
                }
            }
        }
    }

    async fn attempt(
        &self,
        op: &str,
        body: &[u8],
        charged: f64,
        token: &Secret,
    ) -> Result<Reply, StoreError> {
        let result = self.exchange(body, token).await;
        let (status, retry_after, bytes) = match result {
            Ok(r) => r,
            Err(e) => {
                lock(&self.bucket).settle(charged, None, self.clock.now());
                return Err(e);
            }
        };
        let envelope: Option<Envelope> = serde_json::from_slice(&bytes).ok();
        let cost = envelope
            .as_ref()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|x| x.cost);
        let room = {
            let mut bucket = lock(&self.bucket);
            bucket.settle_cost(charged, cost, self.clock.now());
            bucket.level(self.clock.now())
        };
        if cost.is_some_and(|c| c.throttle_status.is_some()) {
            self.progress().report(crate::progress::Event::RateRoom {
                // Points are whole numbers on Shopify's side; the mirror's fraction is ours.
                available: room.max(0.0) as u64,
            });
        }
        if let Some(requested) = cost.and_then(|c| c.requested_query_cost) {
            lock(&self.estimates).insert(op.to_owned(), requested);
        }
        match status {
            401 => return Err(StoreError::Unauthorized),
            403 => {
                return Err(StoreError::AccessDenied {
                    message: excerpt(&bytes),
                });
            }
            200..=299 => {}
            _ => {
                // Shopify's clients wait 1 s on 429/503 without Retry-After.
                let retry_after = retry_after
                    .or_else(|| matches!(status, 429 | 503).then(|| Duration::from_secs(1)));
                return Err(StoreError::Http {
                    status,
                    retry_after,
                    excerpt: excerpt(&bytes),
                });
            }
        }
        let envelope = envelope.ok_or_else(|| {
            StoreError::Decode(format!("not a GraphQL response: {}", excerpt(&bytes)))
        })?;
        match envelope.errors {
            Some(Errors::List(list)) if !list.is_empty() => {
                return Err(classify(op, list, cost, charged));
            }
            Some(Errors::Text(text)) => {
                return Err(StoreError::Graphql(vec![GraphqlError {
                    code: None,
                    message: text,
                }]));
            }
            _ => {}
        }
        let data = envelope
            .data
            .filter(|d| !d.is_null())
            .ok_or_else(|| StoreError::Decode("response has no data".into()))?;
        Ok(Reply { data, cost })
    }

    async fn exchange(
        &self,
        body: &[u8],
        token: &Secret,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), StoreError> {
        let url = &self.endpoint.url;
        if authority(url).as_deref() != Some(self.endpoint.authority.as_str()) {
            return Err(StoreError::ForeignHost {
                host: url.host_str().unwrap_or_default().to_owned(),
                expected: self.endpoint.authority.clone(),
            });
        }
        let resp = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Shopify-Access-Token", token.expose())
            .body(body.to_vec())
            .send()
            .await
            .map_err(StoreError::from_reqwest)?;
        let status = resp.status().as_u16();
        if let Some(served) = resp
            .headers()
            .get("x-shopify-api-version")
            .and_then(|v| v.to_str().ok())
            && !url.path().contains(&format!("/{served}/"))
        {
            tracing::warn!(
                served,
                "Shopify served a different API version than requested"
            );
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::http::parse_retry_after(v, chrono::Utc::now()));
        let bytes = resp
            .bytes()
            .await
            .map_err(StoreError::from_reqwest)?
            .to_vec();
        Ok((status, retry_after, bytes))
    }
}

/// What a retryable error is, for the retry log.
fn retry_reason(err: &StoreError) -> Reason {
    match err {
        StoreError::Throttled { .. } => Reason::Throttled,
        StoreError::Timeout => Reason::Timeout,
        StoreError::Http { status, .. } => Reason::Status(*status),
        StoreError::Graphql(errors) => Reason::ServerError(
            errors
                .iter()
                .filter_map(|e| e.code.clone())
                .next()
                .unwrap_or_default(),
        ),
        _ => Reason::Connection,
    }
}

fn classify(op: &str, list: Vec<RawError>, cost: Option<Cost>, charged: f64) -> StoreError {
    let code_of = |e: &RawError| e.extensions.as_ref().and_then(|x| x.code.clone());
    if list
        .iter()
        .any(|e| code_of(e).as_deref() == Some("THROTTLED"))
    {
        let status = cost.and_then(|c| c.throttle_status);
        let requested = cost.and_then(|c| c.requested_query_cost);
        // A request the full bucket cannot hold would be answered THROTTLED forever.
        if let (Some(requested), Some(s)) = (requested, status)
            && requested > s.maximum_available
        {
            return StoreError::ExceedsBucket {
                operation: if op.is_empty() { "a request" } else { op }.to_owned(),
                cost: requested,
                maximum: s.maximum_available,
            };
        }
        return StoreError::Throttled {
            requested: requested.unwrap_or(charged),
            available: status.map_or(0.0, |s| s.currently_available),
            restore_rate: status.map_or(50.0, |s| s.restore_rate),
        };
    }
    if let Some(e) = list
        .iter()
        .find(|e| code_of(e).as_deref() == Some("MAX_COST_EXCEEDED"))
    {
        let x = e.extensions.as_ref();
        return StoreError::MaxCostExceeded {
            cost: x
                .and_then(|x| x.cost)
                .or(cost.and_then(|c| c.requested_query_cost)),
            max: x.and_then(|x| x.max_cost),
        };
    }
    if let Some(e) = list
        .iter()
        .find(|e| code_of(e).as_deref() == Some("ACCESS_DENIED"))
    {
        return StoreError::AccessDenied {
            message: e.message.clone(),
        };
    }
    StoreError::Graphql(
        list.into_iter()
            .map(|e| GraphqlError {
                code: code_of(&e),
                message: e.message,
            })
            .collect(),
    )
}

/// A poisoned lock only means another task panicked mid-update of plain numbers; the
/// numbers are still usable, and the next response corrects them.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
