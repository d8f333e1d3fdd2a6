//! The Google Sheets client: google-sheets4's hub authenticated by a yup-oauth2 service
//! account (or a static bearer token in tests), returning raw value ranges for
//! [`super::parse`] and writing cells back.
//!
//! The client paces itself (one sliding window for reads and one for writes: at most 60
//! requests in any 61 s, inside the API's default per-user quota of 60 a minute however
//! Google counts its minute, so a run never earns a 429 from its own pace; past a burst
//! of 12 the requests are spaced evenly rather than spent at once and then stalled;
//! another quota with [`SheetsClient::with_quota`]). Google counts per user, so the
//! windows belong to the user, not the client: every client of one service account in
//! the process (a fleet's pairs) shares them.
//! retries 429, 5xx and dropped connections with capped exponential backoff and full
//! jitter (honouring `Retry-After` when a front end sends one), and turns Google's error
//! bodies into [`SheetError`]s whose messages say what to fix. Tokens never appear in
//! errors or logs.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use google_sheets4::api::{BatchUpdateValuesRequest, Scope, ValueRange};
use google_sheets4::common::{self, Delegate, Retry};
use google_sheets4::{Error as ApiError, Sheets};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::auth::google::{GoogleAuthError, InstalledTokens};
use crate::model::{CellRef, quote_tab};
use crate::progress::{Limit, Reporter, Work};

/// Requests a minute each window allows: the Sheets API's default per-user quota.
const PER_MINUTE: usize = 60;

/// The window those requests are counted over: Google's minute plus a second, so that
/// requests that reach Google later than they left (a slow connection, a retry of the
/// connection) never put 61 into one of Google's minutes.
const WINDOW: Duration = Duration::from_secs(61);

/// Rows as a ROWS-major read gives them, from a COLUMNS-major one: each row cut after
/// its last non-empty cell, blanks inside it as `""`, trailing empty rows left out.
fn rows_of(columns: Vec<Vec<Json>>) -> Vec<Vec<Json>> {
    let height = columns.iter().map(Vec::len).max().unwrap_or(0);
    let blank = |v: &Json| v.is_null() || v.as_str() == Some("");
    let mut rows: Vec<Vec<Json>> = (0..height)
        .map(|r| {
            let mut row: Vec<Json> = columns
                .iter()
                .map(|c| c.get(r).cloned().unwrap_or(Json::String(String::new())))
                .collect();
            while row.last().is_some_and(blank) {
                row.pop();
            }
            row
        })
        .collect();
    while rows.last().is_some_and(Vec::is_empty) {
        rows.pop();
    }
    rows
}

/// Requests that may go out at once before the pacing spaces them, at the default
/// quota (see [`Pacer`]).
#[cfg(test)]
const BURST: usize = burst_for(PER_MINUTE);

/// The spacing of requests past a burst at the default quota.
#[cfg(test)]
const SPACING: Duration = spacing_for(PER_MINUTE);

/// The burst for a quota of `per_minute`: a fifth of it (12 at Google's default 60),
/// at least one.
const fn burst_for(per_minute: usize) -> usize {
    let burst = per_minute / 5;
    if burst == 0 { 1 } else { burst }
}

/// The spacing of requests past a burst: the rest of the minute's quota spread over the
/// window, so that a burst plus a window of spaced requests is exactly `per_minute`.
const fn spacing_for(per_minute: usize) -> Duration {
    let spaced = per_minute.saturating_sub(burst_for(per_minute));
    let spaced = if spaced == 0 { 1 } else { spaced };
    Duration::from_millis(WINDOW.as_millis() as u64 / spaced as u64 + 1)
}

/// Paces requests so that no [`WINDOW`] ever holds more than its quota (`per_minute`,
/// [`PER_MINUTE`] by default), and so that a steady stream is spread over the window
/// rather than spent at once.
///
/// Two rules, both on every booking: a sliding window of the last `per_minute` send
/// times (a request goes out only when fewer than that many went out in the [`WINDOW`]
/// before it; unlike a token bucket with the minute as its burst, 60 at once then one a
/// second, up to 119 in the first minute, no window ever holds more), and a token bucket
/// of a burst ([`burst_for`], 12 at 60) refilled one every spacing ([`spacing_for`])
/// (GCRA), whose worst window is `burst + WINDOW / spacing` = `per_minute` as well. The
/// bucket is what `serve` needs: with the window alone a stream of syncs spent all 60
/// reads in half a minute and then stalled for the other half (an edit waited 30 s);
/// with the bucket, a burst of up to 12 reads (a sync, or a few) still goes at once, and
/// a sustained stream gets a read every 1.3 s instead of a half-minute stall. Retries
/// take a slot too (the delegate books one before google-sheets4 resends), since Google
/// counts every request. It runs on tokio's clock, so tests drive it with paused time.
///
/// Google counts per user (a service account is one), not per client: the clients of one
/// account in a process share one pacer per direction ([`shared_pacer`]).
#[derive(Debug)]
struct Pacer {
    state: Mutex<Paced>,
}

#[derive(Debug)]
struct Paced {
    /// The quota paced to: requests in any [`WINDOW`].
    per_minute: usize,
    /// Send times booked, oldest first; the last ones may lie in the future.
    sent: VecDeque<tokio::time::Instant>,
    /// The bucket's theoretical arrival time (GCRA): a request may go `burst - 1`
    /// spacings before it.
    tat: Option<tokio::time::Instant>,
}

impl Pacer {
    #[cfg(test)]
    fn new() -> Pacer {
        Pacer::at(PER_MINUTE)
    }

    /// A pacer for a quota of `per_minute` requests (at least one).
    fn at(per_minute: usize) -> Pacer {
        let per_minute = per_minute.max(1);
        Pacer {
            state: Mutex::new(Paced {
                per_minute,
                // Grown as needed: a raised quota need not be allocated up front.
                sent: VecDeque::with_capacity(per_minute.min(PER_MINUTE) + 1),
                tat: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Paced> {
        // A poisoned lock only means another task panicked while pushing an instant; the
        // state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Paces to `per_minute` from now on if that is lower than the quota paced to: when
    /// the clients of one account ask for different rates, the lowest holds.
    fn lower_to(&self, per_minute: usize) {
        let mut state = self.lock();
        if per_minute.max(1) < state.per_minute {
            tracing::debug!(
                from = state.per_minute,
                to = per_minute,
                "Google Sheets pacing lowered by a client of the same account"
            );
            state.per_minute = per_minute.max(1);
        }
    }

    /// The quota paced to.
    fn per_minute(&self) -> usize {
        self.lock().per_minute
    }

    /// Whether a request booked here may still count in Google's window at `now`.
    fn recently_used(&self, now: tokio::time::Instant) -> bool {
        self.lock().sent.back().is_some_and(|&t| t + WINDOW > now)
    }

    /// Books the earliest send time that keeps every window within the quota and the
    /// bucket's pace, and returns it.
    fn book(&self) -> tokio::time::Instant {
        let mut state = self.lock();
        let Paced {
            per_minute,
            sent,
            tat,
        } = &mut *state;
        let per_minute = *per_minute;
        let (burst, spacing) = (burst_for(per_minute), spacing_for(per_minute));
        let now = tokio::time::Instant::now();
        while sent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= WINDOW)
        {
            sent.pop_front();
        }
        let mut at = now;
        if sent.len() >= per_minute {
            // The request per_minute places back must have left the window first.
            at = at.max(sent[sent.len() - per_minute] + WINDOW);
        }
        let tolerance = spacing.saturating_mul(burst as u32 - 1);
        if let Some(t) = *tat {
            at = at.max(t.checked_sub(tolerance).unwrap_or(at));
        }
        // Bookings stay in order, so the indexing above holds for the next one.
        if let Some(&last) = sent.back() {
            at = at.max(last);
        }
        sent.push_back(at);
        *tat = Some(tat.map_or(at, |t| t.max(at)) + spacing);
        at
    }

    /// Waits until one more request fits the window; it counts as sent then.
    #[cfg(test)]
    async fn until_ready(&self) {
        tokio::time::sleep_until(self.book()).await;
    }
}

/// Which of a user's two Sheets quotas a pacer keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    Read,
    Write,
}

/// What one shared pacer stands for: Google's quota is per project and user (a service
/// account is one user) on one API, so the API's base URL is part of it. In production
/// that URL is always Google's; in tests every fake has its own, so clients of two fakes
/// (two tests, each with its own clock) never share a window, just as the fakes count
/// apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct QuotaKey {
    api: String,
    user: String,
    direction: Direction,
}

/// The process's pacers, one per [`QuotaKey`]. An entry lives while a client holds it or
/// while its last request may still count in Google's window (a `watch` builds a client
/// per sync; the next sync must still see the previous one's requests), and is dropped at
/// the next lookup after that: the map holds the accounts in use, never one entry per
/// pair.
static PACERS: std::sync::LazyLock<Mutex<HashMap<QuotaKey, Arc<Pacer>>>> =
    std::sync::LazyLock::new(Mutex::default);

/// The pacer every client of `user` on `api` shares for `direction`, paced to
/// `per_minute` unless a client of the same user asked for less.
fn shared_pacer(api: &str, user: &str, direction: Direction, per_minute: usize) -> Arc<Pacer> {
    // A poisoned lock only means a panic while the map was cloned from; it is intact.
    let mut pacers = PACERS.lock().unwrap_or_else(|e| e.into_inner());
    let now = tokio::time::Instant::now();
    pacers.retain(|_, p| Arc::strong_count(p) > 1 || p.recently_used(now));
    let key = QuotaKey {
        api: api.to_owned(),
        user: user.to_owned(),
        direction,
    };
    let pacer = pacers
        .entry(key)
        .or_insert_with(|| Arc::new(Pacer::at(per_minute)))
        .clone();
    pacer.lower_to(per_minute);
    pacer
}

/// Whether the process holds a pacer for `user` on `api` (tests check that none leaks).
#[cfg(test)]
fn holds_pacer(api: &str, user: &str) -> bool {
    PACERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .any(|k| k.api == api && k.user == user)
}

/// Cells one `values.batchGet` asks for at most. Google sets no hard limit on a response
/// but advises payloads of at most 2 MB; unformatted cells run at about 10 to 15 bytes of
/// JSON each, so 150,000 cells stay near that (a 100,000-row, 8-column sheet is read in
/// six requests, well within 60 reads a minute).
const CELLS_PER_READ: usize = 150_000;

/// Everything that can go wrong talking to Google Sheets.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error(
        "spreadsheet {spreadsheet_id} not found: check sheet.spreadsheet_id and share the sheet with {account}"
    )]
    NotFound {
        spreadsheet_id: String,
        account: String,
    },
    #[error(
        "Google Sheets cannot read range {range}: {message} (check that sheet.tab names an existing tab)"
    )]
    BadRange { range: String, message: String },
    #[error(
        "Google refused the credentials: {message} (check the service-account key file, or create a new key if it was deleted or rotated)"
    )]
    Auth { message: String },
    #[error(
        "no access to spreadsheet {spreadsheet_id}: {message} (share the sheet with {account} as an Editor, and enable the Google Sheets API for the key's project)"
    )]
    Permission {
        spreadsheet_id: String,
        account: String,
        message: String,
    },
    #[error(
        "Google Sheets quota exceeded after {attempts} attempts: {message} (wait a minute and run again, or raise the quota in the Cloud console)"
    )]
    Quota { attempts: u32, message: String },
    #[error("Google Sheets answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach Google Sheets: {message}")]
    Transport { message: String },
    /// Installed-app OAuth could not produce an access token (say `invalid_grant`); the
    /// message says what to do.
    #[error("{0}")]
    Authorization(String),
    #[error("cannot use the service-account key {path}: {message}")]
    Key { path: String, message: String },
    #[error("unexpected answer from Google Sheets: {message}")]
    Unexpected { message: String },
    /// The run was cancelled (SIGINT/SIGTERM) while the request waited to be sent or
    /// resent.
    #[error("interrupted before Google Sheets answered")]
    Interrupted,
}

impl SheetError {
    /// Whether running the same request again later may succeed (the client has already
    /// retried internally; this tells a caller such as `watch` to try on its next tick).
    pub fn is_retryable(&self) -> bool {
        match self {
            SheetError::Quota { .. } | SheetError::Transport { .. } => true,
            SheetError::Http { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

pub use crate::http::RetryPolicy;
use crate::http::{Reason, Retries};

/// google-sheets4's hook for failed attempts: the shared policy decides whether and when
/// to retry. 429 (`RESOURCE_EXHAUSTED`, whose body is sometimes an HTML page), 408, 5xx
/// and dropped connections are retried; 400, 401, 403 and 404 are not.
///
/// The hub sleeps between attempts itself, so the delegate tells the caller when it does
/// (`waiting`): only then may the caller drop the call on cancellation, never while a
/// request is on the wire. A failure answered after the cancellation is not retried.
struct RetryDelegate<'p> {
    retries: Retries,
    /// The window the resent request must also fit.
    pacer: &'p Pacer,
    cancel: CancellationToken,
    /// A retry was refused because the run was cancelled.
    interrupted: bool,
    /// `true` from a `Retry::After` until the next attempt goes out.
    waiting: tokio::sync::watch::Sender<bool>,
    /// Where a 429 is reported (`serve` counts them).
    progress: Reporter,
}

impl<'p> RetryDelegate<'p> {
    #[cfg(test)]
    fn new(policy: RetryPolicy, pacer: &'p Pacer) -> Self {
        RetryDelegate::cancellable(policy, pacer, CancellationToken::new(), Reporter::silent())
    }

    fn cancellable(
        policy: RetryPolicy,
        pacer: &'p Pacer,
        cancel: CancellationToken,
        progress: Reporter,
    ) -> Self {
        RetryDelegate {
            retries: Retries::new(policy, "google-sheets"),
            pacer,
            cancel,
            interrupted: false,
            waiting: tokio::sync::watch::Sender::new(false),
            progress,
        }
    }

    fn next(&mut self, reason: Reason, server_wait: Option<Duration>) -> Retry {
        if self.cancel.is_cancelled() {
            self.interrupted = true;
            return Retry::Abort;
        }
        match self.retries.next(reason, server_wait) {
            Some(wait) => {
                // The resend takes a slot of the window too: Google counts every request.
                let slot = self
                    .pacer
                    .book()
                    .saturating_duration_since(tokio::time::Instant::now());
                self.waiting.send_replace(true);
                Retry::After(wait.max(slot))
            }
            None => Retry::Abort,
        }
    }
}

impl Delegate for RetryDelegate<'_> {
    fn pre_request(&mut self) {
        self.waiting.send_replace(false);
    }

    fn http_error(&mut self, err: &hyper_util::client::legacy::Error) -> Retry {
        tracing::debug!(error = %err, "Google Sheets request did not complete");
        self.next(Reason::Connection, None)
    }

    fn http_failure(&mut self, resp: &common::Response, _body: Option<&Json>) -> Retry {
        let status = resp.status().as_u16();
        if status == 429 {
            self.progress.report(crate::progress::Event::Throttled {
                limit: Limit::Google,
            });
        }
        if crate::http::retryable_status(status) {
            let server_wait = resp
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::http::parse_retry_after(v, chrono::Utc::now()));
            self.next(Reason::Status(status), server_wait)
        } else {
            Retry::Abort
        }
    }
}

type Connector = HttpsConnector<HttpConnector>;

/// Where an access token comes from.
enum TokenSource {
    ServiceAccount(yup_oauth2::authenticator::Authenticator<Connector>),
    Installed(InstalledTokens),
    Static(String),
}

/// The hub's token source, renewable on demand: Google may refuse an access token before
/// the expiry it announced (a revoked grant, a rotated key, a clock off by minutes), and
/// a cached token would then fail every call until it expired. After a 401 the client
/// asks for one renewal and resends the request once.
#[derive(Clone)]
pub struct Tokens {
    source: Arc<TokenSource>,
    renew: Arc<AtomicBool>,
}

impl Tokens {
    fn new(source: TokenSource) -> Tokens {
        Tokens {
            source: Arc::new(source),
            renew: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The next token asked for is a fresh one, not the cached one.
    pub fn renew_next(&self) {
        self.renew.store(true, Ordering::SeqCst);
    }

    /// A bearer token for `scopes` (`None`: none needed).
    pub async fn token(&self, scopes: &[&str]) -> Result<Option<String>, BoxError> {
        let renew = self.renew.swap(false, Ordering::SeqCst);
        match &*self.source {
            TokenSource::ServiceAccount(auth) => {
                let token = if renew {
                    tracing::debug!("Renewing the service account's access token after a 401");
                    auth.force_refreshed_token(scopes).await?
                } else {
                    auth.token(scopes).await?
                };
                Ok(token.token().map(str::to_owned))
            }
            TokenSource::Installed(tokens) => {
                if renew {
                    tracing::debug!("Renewing the Google access token after a 401");
                    tokens.forget_access().await;
                }
                Ok(Some(tokens.token(scopes).await?))
            }
            TokenSource::Static(token) => Ok(Some(token.clone())),
        }
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl common::GetToken for Tokens {
    // The trait's return type, spelled out: google-apis-common does not export its alias.
    fn get_token<'a>(
        &'a self,
        scopes: &'a [&str],
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<String>, BoxError>> + Send + 'a>,
    > {
        Box::pin(self.token(scopes))
    }
}

/// A Sheets API client for one account. Cheap to share by reference across tasks.
pub struct SheetsClient {
    hub: Sheets<Connector>,
    tokens: Tokens,
    /// The read and the write window, shared with every client of the same user on the
    /// same API in the process ([`shared_pacer`]).
    reads: Arc<Pacer>,
    writes: Arc<Pacer>,
    /// The API's base URL and the user Google counts the quota against, for
    /// [`SheetsClient::with_quota`].
    api: String,
    quota_user: String,
    retry: RetryPolicy,
    /// Cells a `values.batchGet` asks for at most (see [`SheetsClient::read_columns`]).
    cells_per_read: usize,
    /// Who the sheet must be shared with, for error messages.
    account: String,
    /// The run's cancellation; never fires unless the caller set one.
    cancel: CancellationToken,
    /// Where block reads and quota waits are reported (silent unless the CLI shows bars).
    progress: Reporter,
    /// Each (spreadsheet, tab)'s numeric `sheetId`, as the last metadata read found it:
    /// the report carries it so that a cell can be linked to (`#gid=`). Read along with
    /// the row count that a tab's first column read asks for, so it costs no request.
    sheet_ids: Arc<Mutex<HashMap<(String, String), i64>>>,
    /// Each (spreadsheet, tab)'s grid row count as the last metadata read found it,
    /// forgotten when a read finds the tab grown (see [`SheetsClient::read_columns`]).
    small_tabs: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl std::fmt::Debug for SheetsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetsClient")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

fn hub_for(auth: Tokens, api_base_url: &str) -> Result<Sheets<Connector>, SheetError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| SheetError::Transport {
            message: format!("cannot load the system's TLS roots: {e}"),
        })?
        // http is allowed so that the sandbox on 127.0.0.1 works; Google itself is https.
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let mut hub = Sheets::new(client, auth);
    // The hub glues paths onto the base URL, so it must end with '/'.
    let base = if api_base_url.ends_with('/') {
        api_base_url.to_owned()
    } else {
        format!("{api_base_url}/")
    };
    hub.base_url(base.clone());
    hub.root_url(base);
    Ok(hub)
}

/// Escapes what google-sheets4 would otherwise put raw into the URL path, where `#`
/// starts a fragment, `?` a query and `/` a new segment.
fn path_range(range: &str) -> String {
    range
        .replace('%', "%25")
        .replace('#', "%23")
        .replace('?', "%3F")
        .replace('/', "%2F")
}

impl SheetsClient {
    /// A client authenticated as the service account in `key_path`. Its `token_uri` is
    /// honoured, so the sandbox's key file points at the sandbox's token endpoint.
    pub async fn service_account(
        key_path: &Path,
        api_base_url: &str,
    ) -> Result<SheetsClient, SheetError> {
        let key_err = |message: String| SheetError::Key {
            path: key_path.display().to_string(),
            message,
        };
        let key = yup_oauth2::read_service_account_key(key_path)
            .await
            .map_err(|e| key_err(e.to_string()))?;
        // The signed assertion is a credential: refused before anything is sent.
        crate::auth::google::token_uri_ok(&key.token_uri).map_err(key_err)?;
        let account = key.client_email.clone();
        // Google counts a service account's requests per project: the email names both.
        let user = format!("service account {account}");
        let auth = yup_oauth2::ServiceAccountAuthenticator::builder(key)
            .build()
            .await
            .map_err(|e| key_err(e.to_string()))?;
        SheetsClient::new(
            TokenSource::ServiceAccount(auth),
            api_base_url,
            account,
            user,
        )
    }

    /// A client authenticated as the person who approved `sheetsync auth google --method
    /// installed` for `scope`: access tokens come from [`InstalledTokens`], refreshed with
    /// the refresh token in `state_dir` (kept in memory only when `dry_run`).
    pub async fn installed(
        client_secret: &Path,
        api_base_url: &str,
        state_dir: &Path,
        scope: crate::state::Scope,
        dry_run: bool,
    ) -> Result<SheetsClient, GoogleAuthError> {
        let client = crate::auth::google::read_client(client_secret).await?;
        // Which person consented is not known here; one grant (a refresh token, kept per
        // state dir and scope) is one person's, so its requests are paced together.
        let user = format!(
            "installed {} {} {}/{}/{}",
            client.client_id,
            state_dir.display(),
            scope.shop,
            scope.spreadsheet_id,
            scope.tab
        );
        let tokens = InstalledTokens::new(&client, state_dir, scope, dry_run)?;
        SheetsClient::new(
            TokenSource::Installed(tokens),
            api_base_url,
            "the Google account that ran `sheetsync auth google`".to_owned(),
            user,
        )
        .map_err(|e| GoogleAuthError::Connection(e.to_string()))
    }

    /// A client that sends `token` as its bearer token (tests, or a token minted elsewhere).
    pub fn with_static_token(
        token: String,
        api_base_url: &str,
    ) -> Result<SheetsClient, SheetError> {
        // One token is one user's; the token itself is a secret, so the key holds a
        // digest of it (never printed either way).
        let user = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            token.hash(&mut h);
            format!("static token {:016x}", h.finish())
        };
        SheetsClient::new(
            TokenSource::Static(token),
            api_base_url,
            "the account that owns the access token".to_owned(),
            user,
        )
    }

    fn new(
        source: TokenSource,
        api_base_url: &str,
        account: String,
        quota_user: String,
    ) -> Result<SheetsClient, SheetError> {
        let tokens = Tokens::new(source);
        Ok(SheetsClient {
            hub: hub_for(tokens.clone(), api_base_url)?,
            tokens,
            reads: shared_pacer(api_base_url, &quota_user, Direction::Read, PER_MINUTE),
            writes: shared_pacer(api_base_url, &quota_user, Direction::Write, PER_MINUTE),
            api: api_base_url.to_owned(),
            quota_user,
            retry: RetryPolicy::default(),
            cells_per_read: CELLS_PER_READ,
            account,
            cancel: CancellationToken::new(),
            progress: Reporter::silent(),
            sheet_ids: Arc::default(),
            small_tabs: Arc::default(),
        })
    }

    /// Paces to a quota other than Google's default 60 reads and 60 writes a minute: a
    /// raised quota, or this process's share of one that several processes use
    /// (`[google] reads_per_minute`, `writes_per_minute`). The windows stay shared with
    /// the other clients of the same user in the process; the lowest rate any of them
    /// asked for holds.
    pub fn with_quota(mut self, reads_per_minute: usize, writes_per_minute: usize) -> SheetsClient {
        // Let go of the default windows first: a client alone on its user gets the rate
        // it asks for rather than the default it was built with.
        self.reads = Arc::new(Pacer::at(reads_per_minute));
        self.writes = Arc::new(Pacer::at(writes_per_minute));
        self.reads = shared_pacer(
            &self.api,
            &self.quota_user,
            Direction::Read,
            reads_per_minute,
        );
        self.writes = shared_pacer(
            &self.api,
            &self.quota_user,
            Direction::Write,
            writes_per_minute,
        );
        self
    }

    /// The read and the write quota this client paces to (requests a minute).
    pub fn quota(&self) -> (usize, usize) {
        (self.reads.per_minute(), self.writes.per_minute())
    }

    /// Ends every wait of the client (pacing, backoff, `Retry-After`) when `cancel` fires
    /// (SIGINT/SIGTERM); the call then fails with [`SheetError::Interrupted`].
    pub fn with_cancel(mut self, cancel: CancellationToken) -> SheetsClient {
        self.cancel = cancel;
        self
    }

    /// Waits for `limiter`'s next slot, or until the run is cancelled.
    async fn paced(&self, pacer: &Pacer) -> Result<(), SheetError> {
        if self.cancel.is_cancelled() {
            return Err(SheetError::Interrupted);
        }
        // The slot is booked now; a wait for it is shown (progress) and ends early on
        // cancellation.
        let at = pacer.book();
        let wait = at.saturating_duration_since(tokio::time::Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        let sleep = tokio::time::sleep_until(at);
        tokio::select! {
            () = self.cancel.cancelled() => Err(SheetError::Interrupted),
            () = self.progress.waiting(Limit::Google, wait, sleep) => Ok(()),
        }
    }

    /// A retry delegate that refuses retries once the run is cancelled, and the flag it
    /// raises while the hub waits to resend.
    fn delegate<'p>(
        &self,
        pacer: &'p Pacer,
    ) -> (RetryDelegate<'p>, tokio::sync::watch::Receiver<bool>) {
        let dlg = RetryDelegate::cancellable(
            self.retry,
            pacer,
            self.cancel.clone(),
            self.progress.clone(),
        );
        let waiting = dlg.waiting.subscribe();
        (dlg, waiting)
    }

    /// Runs a hub call; `None` when the run was cancelled while the hub waited between
    /// attempts. A request on the wire is never dropped: its answer ends the call.
    async fn unless_interrupted<T>(
        &self,
        mut waiting: tokio::sync::watch::Receiver<bool>,
        call: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let interrupted = async {
            self.cancel.cancelled().await;
            if waiting.wait_for(|w| *w).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            r = call => Some(r),
            () = interrupted => None,
        }
    }

    /// Runs `call`, and once more with a renewed token if Google answered 401: a write
    /// refused for its credentials did not take effect, so resending it is safe.
    async fn renewing<T, F, Fut>(&self, call: F) -> Result<T, SheetError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SheetError>>,
    {
        match call().await {
            Err(SheetError::Auth { .. }) => {
                self.tokens.renew_next();
                call().await
            }
            other => other,
        }
    }

    /// Replaces the retry policy (tests use millisecond waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> SheetsClient {
        self.retry = retry;
        self
    }

    /// The HTTP client and a handle on the authenticator, for the Drive change check of
    /// `watch` ([`crate::schedule::drive`]), so both APIs share one token source.
    pub fn transport_parts(&self) -> (common::Client<Connector>, Tokens) {
        (self.hub.client.clone(), self.tokens.clone())
    }

    /// The service account's email (what the sheet must be shared with).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The first `n` rows of `tab` (`Tab!1:n`), unformatted, dates as text, ragged.
    pub async fn header_rows(
        &self,
        spreadsheet_id: &str,
        tab: &str,
        n: u32,
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        let range = format!("{}!1:{}", quote_tab(tab), n.max(1));
        match self.get_rows(spreadsheet_id, &range).await {
            // A sheet trimmed to fewer than `n` rows refuses an explicit `1:n`: read the
            // whole (small) tab instead.
            Err(SheetError::BadRange { message, .. })
                if message.contains("exceeds grid limits") =>
            {
                let mut rows = self.get_rows(spreadsheet_id, &quote_tab(tab)).await?;
                rows.truncate(n as usize);
                Ok(rows)
            }
            other => other,
        }
    }

    async fn get_rows(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        self.renewing(|| self.get_rows_once(spreadsheet_id, range))
            .await
    }

    async fn get_rows_once(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        self.paced(&self.reads).await?;
        let (mut dlg, waiting) = self.delegate(&self.reads);
        let call = self
            .hub
            .spreadsheets()
            .values_get(spreadsheet_id, &path_range(range))
            .major_dimension("ROWS")
            .value_render_option("UNFORMATTED_VALUE")
            .date_time_render_option("FORMATTED_STRING")
            .add_scope(Scope::Spreadsheet)
            .delegate(&mut dlg)
            .doit();
        let Some(result) = self.unless_interrupted(waiting, call).await else {
            return Err(SheetError::Interrupted);
        };
        match result {
            Ok((_, vr)) => Ok(vr.values.unwrap_or_default()),
            Err(_) if dlg.interrupted => Err(SheetError::Interrupted),
            Err(e) => Err(self
                .classify(e, spreadsheet_id, range, dlg.retries.attempts())
                .await),
        }
    }

    /// Whole columns of `tab` (zero-based indices), as columns: one `Vec` per requested
    /// column, from row 1, ragged (empty when the column holds nothing).
    ///
    /// A tab of up to [`Self::rows_per_read`] rows is read in one `values.batchGet`, one
    /// whole-column range per column. A longer one (a six-figure catalogue) is read in
    /// blocks of rows, one `batchGet` each, so that no response outgrows what Google
    /// advises (2 MB): its row count comes first from the spreadsheet's metadata.
    pub async fn read_columns(
        &self,
        spreadsheet_id: &str,
        tab: &str,
        cols: &[u32],
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        if cols.is_empty() {
            return Ok(Vec::new());
        }
        let block = self.rows_per_read(cols.len());
        let key = (spreadsheet_id.to_owned(), tab.to_owned());
        // The row count costs a read of Google's 60 a minute, and `watch`/`serve` read the
        // same small tab every few seconds: once a metadata read has shown the tab at
        // under half a block, read it whole without asking again. A tab that has grown
        // since (a column comes back longer than half a block), or any failed read, makes
        // the next read ask again; a tab that outgrew a block at once costs one large
        // response, never a wrong one (a whole-column range returns every row).
        if self.small_tab(&key).is_some_and(|rows| rows <= block / 2) {
            let read = self
                .renewing(|| self.read_block(spreadsheet_id, tab, cols, None))
                .await;
            let grown = read
                .as_ref()
                .map_or(true, |c| c.iter().any(|c| c.len() > block / 2));
            if grown {
                self.set_small_tab(&key, None);
            }
            return read;
        }
        let mut shrunk = false;
        loop {
            let rows = self
                .renewing(|| self.row_count(spreadsheet_id, tab))
                .await?;
            self.set_small_tab(&key, rows);
            let Some(rows) = rows.filter(|&r| r > block) else {
                return self
                    .renewing(|| self.read_block(spreadsheet_id, tab, cols, None))
                    .await;
            };
            match self
                .read_blocks(spreadsheet_id, tab, cols, rows, block)
                .await
            {
                // Rows deleted since the row count was read: count them again, once.
                Err(SheetError::BadRange { message, .. })
                    if !shrunk && message.contains("exceeds grid limits") =>
                {
                    shrunk = true;
                }
                other => return other,
            }
        }
    }

    /// The numeric `sheetId` of `tab` (the `gid` in its URL), once a column read of it
    /// has read the spreadsheet's metadata; `None` before.
    pub fn sheet_id(&self, spreadsheet_id: &str, tab: &str) -> Option<i64> {
        self.sheet_ids
            .lock()
            .ok()?
            .get(&(spreadsheet_id.to_owned(), tab.to_owned()))
            .copied()
    }

    fn small_tab(&self, key: &(String, String)) -> Option<usize> {
        self.small_tabs.lock().ok()?.get(key).copied()
    }

    fn set_small_tab(&self, key: &(String, String), rows: Option<usize>) {
        if let Ok(mut tabs) = self.small_tabs.lock() {
            match rows {
                Some(n) => tabs.insert(key.clone(), n),
                None => tabs.remove(key),
            };
        }
    }

    /// Reports block reads and quota waits to `progress`.
    pub fn set_progress(&mut self, progress: Reporter) {
        self.progress = progress;
    }

    /// `rows` rows of `cols`, `block` rows a request.
    async fn read_blocks(
        &self,
        spreadsheet_id: &str,
        tab: &str,
        cols: &[u32],
        rows: usize,
        block: usize,
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        let mut out: Vec<Vec<Json>> = vec![Vec::new(); cols.len()];
        let mut first = 1;
        let _blocks = self.progress.task(Work::SheetRows, Some(rows as u64));
        while first <= rows {
            let last = (first + block - 1).min(rows);
            let part = self
                .renewing(|| self.read_block(spreadsheet_id, tab, cols, Some((first, last))))
                .await?;
            self.progress.position(Work::SheetRows, last as u64);
            for (column, values) in out.iter_mut().zip(part) {
                if !values.is_empty() {
                    // Blocks come back ragged: blank up to where this one starts.
                    column.resize(first - 1, Json::String(String::new()));
                    column.extend(values);
                }
            }
            first = last + 1;
        }
        Ok(out)
    }

    /// Rows a `batchGet` of `cols` columns asks for at most: about
    /// [`CELLS_PER_READ`] cells.
    fn rows_per_read(&self, cols: usize) -> usize {
        (self.cells_per_read / cols.max(1)).max(1)
    }

    /// Cells one `values.batchGet` may ask for (tests read large tabs in small blocks).
    pub fn with_cells_per_read(mut self, cells: usize) -> SheetsClient {
        self.cells_per_read = cells.max(1);
        self
    }

    /// The grid's row count of `tab`, from the spreadsheet's metadata (`None` when the
    /// tab is not there: the column read then reports it).
    async fn row_count(
        &self,
        spreadsheet_id: &str,
        tab: &str,
    ) -> Result<Option<usize>, SheetError> {
        self.paced(&self.reads).await?;
        let (mut dlg, waiting) = self.delegate(&self.reads);
        let call = self
            .hub
            .spreadsheets()
            .get(spreadsheet_id)
            .param(
                "fields",
                "sheets.properties(sheetId,title,gridProperties.rowCount)",
            )
            .add_scope(Scope::Spreadsheet)
            .delegate(&mut dlg)
            .doit();
        let Some(result) = self.unless_interrupted(waiting, call).await else {
            return Err(SheetError::Interrupted);
        };
        let spreadsheet = match result {
            Ok((_, s)) => s,
            Err(_) if dlg.interrupted => return Err(SheetError::Interrupted),
            Err(e) => {
                return Err(self
                    .classify(e, spreadsheet_id, tab, dlg.retries.attempts())
                    .await);
            }
        };
        let found = spreadsheet
            .sheets
            .unwrap_or_default()
            .into_iter()
            .filter_map(|sheet| sheet.properties)
            .find(|p| p.title.as_deref() == Some(tab));
        if let Some(id) = found.as_ref().and_then(|p| p.sheet_id)
            && let Ok(mut ids) = self.sheet_ids.lock()
        {
            ids.insert((spreadsheet_id.to_owned(), tab.to_owned()), i64::from(id));
        }
        Ok(found
            .and_then(|p| p.grid_properties)
            .and_then(|g| g.row_count)
            .and_then(|n| usize::try_from(n).ok()))
    }

    /// One `values.batchGet` of `cols`: whole columns, or rows `first..=last` of them.
    async fn read_block(
        &self,
        spreadsheet_id: &str,
        tab: &str,
        cols: &[u32],
        rows: Option<(usize, usize)>,
    ) -> Result<Vec<Vec<Json>>, SheetError> {
        let quoted = quote_tab(tab);
        let ranges: Vec<String> = cols
            .iter()
            .map(|&c| {
                let letters = crate::model::column_letters(c);
                match rows {
                    Some((first, last)) => format!("{quoted}!{letters}{first}:{letters}{last}"),
                    None => format!("{quoted}!{letters}:{letters}"),
                }
            })
            .collect();
        Ok(self
            .batch_get(spreadsheet_id, &ranges)
            .await?
            .into_iter()
            .map(|columns| columns.into_iter().next().unwrap_or_default())
            .collect())
    }

    /// One `values.batchGet` of `ranges`, each as its columns (COLUMNS-major), in order.
    async fn batch_get(
        &self,
        spreadsheet_id: &str,
        ranges: &[String],
    ) -> Result<Vec<Vec<Vec<Json>>>, SheetError> {
        self.paced(&self.reads).await?;
        let (mut dlg, waiting) = self.delegate(&self.reads);
        let mut call = self
            .hub
            .spreadsheets()
            .values_batch_get(spreadsheet_id)
            .major_dimension("COLUMNS")
            .value_render_option("UNFORMATTED_VALUE")
            .date_time_render_option("FORMATTED_STRING")
            .add_scope(Scope::Spreadsheet);
        // Ranges travel in the query string, which the hub encodes itself.
        for r in ranges {
            call = call.add_ranges(r);
        }
        let call = call.delegate(&mut dlg).doit();
        let Some(result) = self.unless_interrupted(waiting, call).await else {
            return Err(SheetError::Interrupted);
        };
        let resp = match result {
            Ok((_, resp)) => resp,
            Err(_) if dlg.interrupted => return Err(SheetError::Interrupted),
            Err(e) => {
                return Err(self
                    .classify(
                        e,
                        spreadsheet_id,
                        &ranges.join(", "),
                        dlg.retries.attempts(),
                    )
                    .await);
            }
        };
        let value_ranges = resp.value_ranges.unwrap_or_default();
        if value_ranges.len() != ranges.len() {
            return Err(SheetError::Unexpected {
                message: format!(
                    "asked for {} ranges, got {}",
                    ranges.len(),
                    value_ranges.len()
                ),
            });
        }
        Ok(value_ranges
            .into_iter()
            .map(|vr| vr.values.unwrap_or_default())
            .collect())
    }

    /// The first `n` rows of `tab` (as [`Self::header_rows`] gives them) and whole columns
    /// `cols` (as [`Self::read_columns`]), in one `values.batchGet`, so both are of the
    /// same moment. Only for a tab a metadata read has shown to be small (see
    /// [`Self::read_columns`]); `None` otherwise, and the caller reads them apart.
    pub async fn header_rows_and_columns(
        &self,
        spreadsheet_id: &str,
        tab: &str,
        n: u32,
        cols: &[u32],
    ) -> Result<Option<(Vec<Vec<Json>>, Vec<Vec<Json>>)>, SheetError> {
        let block = self.rows_per_read(cols.len().max(1));
        let key = (spreadsheet_id.to_owned(), tab.to_owned());
        let Some(grid) = self.small_tab(&key).filter(|&rows| rows <= block / 2) else {
            return Ok(None);
        };
        if cols.is_empty() || grid == 0 {
            return Ok(None);
        }
        let quoted = quote_tab(tab);
        // `1:n` past the grid's end is refused: a shorter tab is asked for its rows.
        let header = format!("{quoted}!1:{}", (n as usize).min(grid).max(1));
        let mut ranges = vec![header];
        ranges.extend(cols.iter().map(|&c| {
            let letters = crate::model::column_letters(c);
            format!("{quoted}!{letters}:{letters}")
        }));
        let read = self
            .renewing(|| self.batch_get(spreadsheet_id, &ranges))
            .await;
        let mut parts = match read {
            Ok(parts) => parts,
            Err(e) => {
                self.set_small_tab(&key, None);
                return Err(e);
            }
        };
        let columns: Vec<Vec<Json>> = parts
            .split_off(1)
            .into_iter()
            .map(|c| c.into_iter().next().unwrap_or_default())
            .collect();
        if columns.iter().any(|c| c.len() > block / 2) {
            self.set_small_tab(&key, None);
        }
        let header = parts.pop().unwrap_or_default();
        Ok(Some((rows_of(header), columns)))
    }

    /// Writes each value to its cell in one `values.batchUpdate` (RAW: strings stay
    /// strings). Returns the `updatedRange` the API reports for each cell, in order.
    pub async fn write_cells(
        &self,
        spreadsheet_id: &str,
        cells: &[(CellRef, Json)],
    ) -> Result<Vec<String>, SheetError> {
        self.renewing(|| self.write_cells_once(spreadsheet_id, cells))
            .await
    }

    async fn write_cells_once(
        &self,
        spreadsheet_id: &str,
        cells: &[(CellRef, Json)],
    ) -> Result<Vec<String>, SheetError> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let data = cells
            .iter()
            .map(|(cell, v)| ValueRange {
                range: Some(cell.to_string()),
                values: Some(vec![vec![v.clone()]]),
                ..Default::default()
            })
            .collect();
        let req = BatchUpdateValuesRequest {
            value_input_option: Some("RAW".to_owned()),
            data: Some(data),
            ..Default::default()
        };
        self.paced(&self.writes).await?;
        let (mut dlg, waiting) = self.delegate(&self.writes);
        let call = self
            .hub
            .spreadsheets()
            .values_batch_update(req, spreadsheet_id)
            .add_scope(Scope::Spreadsheet)
            .delegate(&mut dlg)
            .doit();
        let Some(result) = self.unless_interrupted(waiting, call).await else {
            return Err(SheetError::Interrupted);
        };
        let resp = match result {
            Ok((_, resp)) => resp,
            Err(_) if dlg.interrupted => return Err(SheetError::Interrupted),
            Err(e) => {
                let first = cells
                    .first()
                    .map(|(c, _)| c.to_string())
                    .unwrap_or_default();
                return Err(self
                    .classify(e, spreadsheet_id, &first, dlg.retries.attempts())
                    .await);
            }
        };
        let ranges: Vec<String> = resp
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.updated_range.unwrap_or_default())
            .collect();
        if ranges.len() != cells.len() {
            return Err(SheetError::Unexpected {
                message: format!(
                    "wrote {} cells, got {} responses",
                    cells.len(),
                    ranges.len()
                ),
            });
        }
        Ok(ranges)
    }

    async fn classify(
        &self,
        err: ApiError,
        spreadsheet_id: &str,
        range: &str,
        attempts: u32,
    ) -> SheetError {
        match err {
            ApiError::BadRequest(body) => {
                let code = body["error"]["code"].as_u64().unwrap_or(0) as u16;
                let status = body["error"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let message = body["error"]["message"]
                    .as_str()
                    .map_or_else(|| body.to_string(), str::to_owned);
                self.error_for(code, &status, message, spreadsheet_id, range, attempts)
            }
            // A non-JSON error body, such as the front end's HTML "automated queries" 429.
            ApiError::Failure(resp) => {
                let code = resp.status().as_u16();
                let text = match resp.into_body().collect().await {
                    Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                    Err(_) => String::new(),
                };
                let message = summarize(&text);
                self.error_for(code, "", message, spreadsheet_id, range, attempts)
            }
            ApiError::MissingToken(e) => match e.downcast_ref::<GoogleAuthError>() {
                Some(g) if g.is_retryable() => SheetError::Transport {
                    message: g.to_string(),
                },
                Some(g) => SheetError::Authorization(g.to_string()),
                None => SheetError::Auth {
                    message: e.to_string(),
                },
            },
            ApiError::HttpError(e) => SheetError::Transport {
                message: e.to_string(),
            },
            ApiError::Io(e) => SheetError::Transport {
                message: e.to_string(),
            },
            ApiError::JsonDecodeError(_, e) => SheetError::Unexpected {
                message: e.to_string(),
            },
            other => SheetError::Unexpected {
                message: other.to_string(),
            },
        }
    }

    fn error_for(
        &self,
        code: u16,
        status: &str,
        message: String,
        spreadsheet_id: &str,
        range: &str,
        attempts: u32,
    ) -> SheetError {
        let account = self.account.clone();
        let spreadsheet_id = spreadsheet_id.to_owned();
        match (code, status) {
            (404, _) | (_, "NOT_FOUND") => SheetError::NotFound {
                spreadsheet_id,
                account,
            },
            (401, _) | (_, "UNAUTHENTICATED") => SheetError::Auth { message },
            (403, _) | (_, "PERMISSION_DENIED") => SheetError::Permission {
                spreadsheet_id,
                account,
                message,
            },
            (429, _) | (_, "RESOURCE_EXHAUSTED") => SheetError::Quota { attempts, message },
            (400, _)
                if message.starts_with("Unable to parse range")
                    || message.contains("exceeds grid limits") =>
            {
                SheetError::BadRange {
                    range: range.to_owned(),
                    message,
                }
            }
            _ => SheetError::Http {
                status: code,
                message,
            },
        }
    }
}

/// The first line of a non-JSON error body with markup stripped, kept short.
fn summarize(text: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let squeezed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    squeezed.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_escaped_for_the_path() {
        assert_eq!(path_range("'Q1 #2'!A1"), "'Q1 %232'!A1");
        assert_eq!(path_range("'a/b?'!C:C"), "'a%2Fb%3F'!C:C");
        assert_eq!(path_range("'100%'!A1"), "'100%25'!A1");
    }

    #[test]
    fn backoff_is_capped_full_jitter() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(250),
            ..RetryPolicy::default()
        };
        for n in 0..10 {
            let d = p.backoff(n);
            assert!(d <= Duration::from_millis(250), "{d:?}");
        }
        let pacer = Pacer::new();
        let mut dlg = RetryDelegate::new(p, &pacer);
        let waits: Vec<bool> = (0..6)
            .map(|_| matches!(dlg.next(Reason::Status(503), None), Retry::After(_)))
            .collect();
        assert_eq!(
            waits,
            vec![true, true, true, true, false, false],
            "five attempts in all"
        );
    }

    #[test]
    fn columns_turn_into_ragged_rows_as_a_rows_read_gives_them() {
        use serde_json::json;
        let columns = vec![
            vec![json!("SKU"), json!("A-1"), json!(""), json!("A-3")],
            vec![],
            vec![json!("Price"), json!(10)],
        ];
        assert_eq!(
            rows_of(columns),
            vec![
                vec![json!("SKU"), json!(""), json!("Price")],
                vec![json!("A-1"), json!(""), json!(10)],
                vec![],
                vec![json!("A-3")],
            ]
        );
        assert!(rows_of(Vec::new()).is_empty());
    }

    /// The sends of `n` requests paced by one window, as offsets from the first.
    async fn paced_sends(n: usize) -> Vec<Duration> {
        let pacer = Pacer::new();
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..n {
            pacer.until_ready().await;
            at.push(start.elapsed());
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn no_sixty_second_window_holds_more_than_sixty_requests() {
        let at = paced_sends(200).await;
        // A burst goes at once; after it the requests are spaced, never stalled.
        assert!(
            at[BURST - 1] < Duration::from_millis(1),
            "{:?}",
            at[BURST - 1]
        );
        assert!(
            at[BURST] >= SPACING - Duration::from_millis(1),
            "{:?}",
            at[BURST]
        );
        for pair in at[BURST..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap <= SPACING + Duration::from_millis(1),
                "a stall of {gap:?}"
            );
        }
        for (i, &t) in at.iter().enumerate() {
            let in_window = at[i..]
                .iter()
                .take_while(|&&u| u < t + Duration::from_secs(60))
                .count();
            assert!(in_window <= PER_MINUTE, "{in_window} from {t:?}");
        }
        // Sustained, it still sends about 60 a minute.
        assert!(at[199] < Duration::from_secs(4 * 61), "{:?}", at[199]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_takes_a_slot_in_the_window() {
        let p = RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let pacer = Pacer::new();
        for _ in 0..BURST {
            pacer.until_ready().await;
        }
        let mut dlg = RetryDelegate::new(p, &pacer);
        match dlg.next(Reason::Status(503), None) {
            Retry::After(wait) => assert!(wait >= SPACING - Duration::from_millis(1), "{wait:?}"),
            Retry::Abort => panic!("a first 503 is retried"),
        }
    }

    #[test]
    fn a_cancelled_run_retries_nothing_and_says_it_was_interrupted() {
        let cancel = CancellationToken::new();
        let pacer = Pacer::new();
        let mut dlg = RetryDelegate::cancellable(
            RetryPolicy::default(),
            &pacer,
            cancel.clone(),
            Reporter::silent(),
        );
        let waiting = dlg.waiting.subscribe();
        assert!(matches!(
            dlg.next(Reason::Status(503), None),
            Retry::After(_)
        ));
        assert!(
            *waiting.borrow(),
            "the hub now waits: the call may be dropped"
        );
        dlg.pre_request();
        assert!(!*waiting.borrow(), "a request on the wire is never dropped");
        cancel.cancel();
        assert!(matches!(dlg.next(Reason::Status(503), None), Retry::Abort));
        assert!(dlg.interrupted);
    }

    #[test]
    fn messages_say_what_to_do_and_retryability_is_classified() {
        let e = SheetError::NotFound {
            spreadsheet_id: "abc".into(),
            account: "bot@x.iam.gserviceaccount.com".into(),
        };
        assert_eq!(
            e.to_string(),
            "spreadsheet abc not found: check sheet.spreadsheet_id and share the sheet with bot@x.iam.gserviceaccount.com"
        );
        assert!(!e.is_retryable());
        assert!(
            SheetError::Quota {
                attempts: 5,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            SheetError::Http {
                status: 503,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            !SheetError::Http {
                status: 400,
                message: String::new()
            }
            .is_retryable()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clients_of_one_account_share_a_window_and_other_accounts_keep_their_own() {
        // A base URL of this test's own, so that no other test's clients share its keys.
        let api = "http://127.0.0.1:9/shared-window-test/";
        let a1 = shared_pacer(api, "sa one", Direction::Read, PER_MINUTE);
        let a2 = shared_pacer(api, "sa one", Direction::Read, PER_MINUTE);
        let b = shared_pacer(api, "sa two", Direction::Read, PER_MINUTE);
        let a_writes = shared_pacer(api, "sa one", Direction::Write, PER_MINUTE);
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(!Arc::ptr_eq(&a1, &b));
        assert!(!Arc::ptr_eq(&a1, &a_writes));
        // The first client spends the burst; the second one of the account waits a
        // spacing, while the other account's client still goes at once.
        for _ in 0..BURST {
            a1.until_ready().await;
        }
        let start = tokio::time::Instant::now();
        a2.until_ready().await;
        assert!(start.elapsed() >= SPACING - Duration::from_millis(1));
        let start = tokio::time::Instant::now();
        b.until_ready().await;
        a_writes.until_ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Once no client holds it and its last request left Google's window, the entry
        // goes: the map holds accounts in use, not every pair that ever ran.
        drop((a1, a2, b, a_writes));
        let again = shared_pacer(api, "sa one", Direction::Read, PER_MINUTE);
        assert!(
            again.lock().sent.len() > BURST,
            "kept while its requests still count"
        );
        drop(again);
        tokio::time::advance(WINDOW + SPACING * 2).await;
        let _other = shared_pacer(api, "sa three", Direction::Read, PER_MINUTE);
        assert!(!holds_pacer(api, "sa one"));
        assert!(!holds_pacer(api, "sa two"));
    }

    #[tokio::test(start_paused = true)]
    async fn static_token_clients_share_by_token_and_the_lowest_quota_holds() {
        let api = "http://127.0.0.1:9/static-token-test/";
        let one = SheetsClient::with_static_token("tok-1".into(), api).expect("client");
        let same = SheetsClient::with_static_token("tok-1".into(), api).expect("client");
        let other = SheetsClient::with_static_token("tok-2".into(), api).expect("client");
        assert!(Arc::ptr_eq(&one.reads, &same.reads));
        assert!(Arc::ptr_eq(&one.writes, &same.writes));
        assert!(!Arc::ptr_eq(&one.reads, &other.reads));
        assert!(!format!("{one:?}").contains("tok-1"));
        // A raised quota for a client alone on its user; a lower one for a user shared.
        let other = other.with_quota(300, 120);
        assert_eq!(other.quota(), (300, 120));
        let same = same.with_quota(20, 60);
        assert!(Arc::ptr_eq(&one.reads, &same.reads));
        assert_eq!(one.quota(), (20, 60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_raised_quota_scales_the_burst_and_the_spacing() {
        for per_minute in [1, 3, 20, 300] {
            let pacer = Pacer::at(per_minute);
            let start = tokio::time::Instant::now();
            let mut at = Vec::new();
            for _ in 0..per_minute * 3 {
                pacer.until_ready().await;
                at.push(start.elapsed());
            }
            for (i, &t) in at.iter().enumerate() {
                let in_window = at[i..]
                    .iter()
                    .take_while(|&&u| u < t + Duration::from_secs(60))
                    .count();
                assert!(
                    in_window <= per_minute,
                    "{per_minute}: {in_window} from {t:?}"
                );
            }
            let burst = burst_for(per_minute);
            assert!(at[burst - 1] < Duration::from_millis(1), "{per_minute}");
            // Past the burst the requests are spaced, never stalled.
            let spacing = spacing_for(per_minute);
            for pair in at[burst..].windows(2) {
                let gap = pair[1] - pair[0];
                assert!(
                    gap <= spacing + Duration::from_millis(1),
                    "{per_minute}: {gap:?}"
                );
            }
        }
        assert_eq!(
            (burst_for(60), spacing_for(60)),
            (12, Duration::from_millis(1271))
        );
        assert_eq!(burst_for(300), 60);
    }

    #[test]
    fn html_bodies_are_summarized() {
        let html =
            "<html><head><title>Sorry...</title></head><body><h1>We're sorry...</h1></body></html>";
        assert_eq!(summarize(html), "Sorry... We're sorry...");
    }
}
