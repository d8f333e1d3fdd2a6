//! The status page (SPEC §10, `GET /`): what the engine did, for a merchant, on a phone.
//! [`router`] serves it from a [`PageContext`]; `view` gathers it from the state's
//! journal, `render` turns it into HTML through a template (minijinja, HTML auto-escaping
//! on, so every value from the sheet or the store is text, never markup).
//!
//! It refreshes itself with a small inline script that fetches the page again every
//! [`REFRESH_EVERY`] and swaps its content in, rather than a `<meta http-equiv=refresh>`
//! reload: a reload jumps a phone back to the top of the page and blanks it when the
//! server is briefly unreachable, where the script keeps the scroll position and marks
//! the page stale instead. Without JavaScript a `<noscript>` meta refresh does the same
//! job. A Content-Security-Policy with a per-response nonce lets only that script and
//! the inline style run, so even markup that slipped past escaping could not.
//!
//! The page reads the state read-only, through the `StateStore` port, on a blocking
//! thread; it never writes and never takes the writer lock.

mod render;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

pub use view::{HealthSource, LastError, SharedHealth, StatusView, WatchHealth};

use crate::config::Config;
use crate::state::{self, Scope, StateError, StateStore};

/// How often the page fetches itself again: a new run shows within this, well inside
/// SPEC §10's 10 s.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Opens the state for reading (`None`: there is none yet). The default opens the
/// config's state dir; a shared backend passes its own.
pub type StateOpener =
    Arc<dyn Fn() -> Result<Option<Box<dyn StateStore>>, StateError> + Send + Sync>;

/// Lines the page adds to its notes, gathered at each view (`serve` with the shared
/// state: the pairs its fleet worker runs).
pub type NoteSource = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Wall-clock time, for "5 min ago" and token expiries; tests pass a fixed one.
pub trait WallClock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What the page needs: the config (sheet, shop, credential methods), the state, the
/// watch's health as the server keeps it, and a clock.
#[derive(Clone)]
pub struct PageContext {
    pub config: Arc<Config>,
    pub open_state: StateOpener,
    pub health: Arc<dyn HealthSource>,
    pub clock: Arc<dyn WallClock>,
    pub refresh_every: Duration,
    cache: view::DigestCache,
    extra_notes: Option<NoteSource>,
}

impl PageContext {
    /// A page over the config's own state (its state dir, or the shared state when a
    /// state URL is set, as `runs` reads it), on the system clock.
    pub fn new(config: Arc<Config>, health: impl HealthSource + 'static) -> PageContext {
        let scope = Scope::of(&config);
        let cfg = Arc::clone(&config);
        PageContext {
            config,
            open_state: Arc::new(move || state::open_reader_for(&cfg, &scope)),
            health: Arc::new(health),
            clock: Arc::new(SystemClock),
            refresh_every: REFRESH_EVERY,
            cache: view::DigestCache::default(),
            extra_notes: None,
        }
    }

    /// Adds `notes()`'s lines to every view's notes.
    pub fn with_notes(mut self, notes: NoteSource) -> PageContext {
        self.extra_notes = Some(notes);
        self
    }

    /// Reads the state through `open` instead (another backend).
    pub fn with_state(mut self, open: StateOpener) -> PageContext {
        self.open_state = open;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn WallClock>) -> PageContext {
        self.clock = clock;
        self
    }

    /// Gathers the page. Blocking (it reads the state): call it off the async threads.
    /// A state that cannot be read gives a page that says so.
    pub fn view(&self) -> StatusView {
        let now = self.clock.now();
        let health = self.health.watch_health();
        let site = view::Site::of(&self.config);
        let mut view = self.gather(now, &health, &site);
        if let Some(notes) = &self.extra_notes {
            view.notes.extend(notes());
        }
        view
    }

    fn gather(&self, now: DateTime<Utc>, health: &WatchHealth, site: &view::Site) -> StatusView {
        match (self.open_state)() {
            Ok(state) => {
                let state = state.as_deref();
                let tokens = view::tokens(&self.config, state, now);
                view::gather(state, site, health, tokens, now, &self.cache)
            }
            Err(e) => {
                let tokens = view::tokens(&self.config, None, now);
                let mut v = view::gather(None, site, health, tokens, now, &self.cache);
                v.notes.push(format!("the state could not be read: {e}"));
                v
            }
        }
    }
}

/// `GET /`: the status page.
pub fn router(ctx: PageContext) -> axum::Router {
    axum::Router::new().route("/", get(status)).with_state(ctx)
}

async fn status(State(ctx): State<PageContext>) -> Response {
    let refresh = ctx.refresh_every;
    let gathered = tokio::task::spawn_blocking(move || ctx.view()).await;
    let Ok(view) = gathered else {
        return failure("the status page could not be gathered");
    };
    let Some(nonce) = nonce() else {
        return failure("no randomness for the page's script nonce");
    };
    match render::page(&view, &nonce, refresh) {
        Ok(html) => {
            let csp = format!(
                "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
                 connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            );
            html_response(StatusCode::OK, html, &csp)
        }
        Err(e) => {
            tracing::error!(error = %e, "The status page did not render");
            failure("the status page did not render")
        }
    }
}

/// An HTML page of `serve` (the status page, the login form) with its headers: never
/// cached, no referrer (the page's URL may carry an access token: links out must not send
/// it), no content sniffing, and `csp` as its Content-Security-Policy.
pub(crate) fn html_response(status: StatusCode, html: String, csp: &str) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

fn failure(what: &'static str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, what).into_response()
}

/// 128 random bits as hex, for the CSP nonce.
pub(in crate::serve) fn nonce() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
