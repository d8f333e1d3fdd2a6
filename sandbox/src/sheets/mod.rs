//! A local fake of the three Google services sheetsync talks to, served over HTTP on
//! 127.0.0.1 with axum: the Sheets v4 API (`spreadsheets.get`, `values.get`,
//! `values.batchGet`, `values.batchUpdate`), the OAuth endpoints (the consent page of
//! installed-app OAuth, which redirects to the loopback with a code; the token endpoint's
//! service-account JWT bearer, `authorization_code` and refresh-token grants) and Drive
//! v3 `files.get` for change detection.
//!
//! It reproduces the quirks recorded in `shared/fixtures/README.md` §1–§2: the range echo
//! clipped to the grid, ragged rows, render options, quoted titles, Google's error bodies
//! (404 `NOT_FOUND`, 400 `Unable to parse range`, 401 `UNAUTHENTICATED`, 429
//! `RESOURCE_EXHAUSTED`), and it checks what it receives as the real service does: every
//! API call needs a bearer token this fake issued, and the token endpoint verifies the
//! RS256 signature of the assertion against the sandbox's own test service account
//! ([`SheetsFake::service_account_key_json`]). It enforces Google's default per-user
//! quota, 60 read and 60 write requests a minute for each user (the user a token was
//! issued to), with Google's 429 body.
//!
//! The fake holds one spreadsheet. It shares no code with the engine: A1 notation is
//! its own ([`range`]), so a wrong rule in the product cannot be mirrored here.

mod grid;
mod http;
mod oauth;
mod range;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;

pub use grid::Cell;
pub use oauth::{TEST_CLIENT_EMAIL, TEST_CLIENT_ID, TEST_CLIENT_SECRET};

use grid::{DateRender, Major, Tab, ValueRender};

/// The spreadsheet id the fake answers to unless told otherwise.
pub const DEFAULT_SPREADSHEET_ID: &str = "1SandboxSheetsyncDemoSpreadsheet0000000000";

/// A request the fake received, as it arrived on the wire (path still percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
}

/// A response queued by [`SheetsFake::fail_next`], served instead of the next API call.
#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    content_type: &'static str,
    body: String,
}

/// An access token the fake issued: its scopes, when it stops working and the user it
/// acts for (whose quota its requests count against).
#[derive(Debug, Clone)]
struct Grant {
    scopes: Vec<String>,
    expires: DateTime<Utc>,
    user: String,
}

/// The user of tokens from the installed-app grants: the one person who consents.
const INSTALLED_USER: &str = "the consenting person";

#[derive(Debug)]
struct State {
    spreadsheet_id: String,
    title: String,
    tabs: Vec<Tab>,
    /// Drive's `version`: bumped on every change to the spreadsheet.
    version: u64,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    tokens: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, Vec<String>>,
    /// Authorization codes handed out by the consent page, not yet exchanged.
    codes: HashMap<String, oauth::IssuedCode>,
    /// Audiences the token endpoint accepts: its own URL on every address it serves.
    token_urls: Vec<String>,
    issued: u64,
    requests: Vec<LoggedRequest>,
    failures: VecDeque<Canned>,
    token_failures: VecDeque<Canned>,
    /// Seed of the pseudo-random `sheetId`s given to tabs after the first.
    sheet_id_seed: u64,
    /// Actions armed by [`SheetsFake::before_call`], run when their call arrives.
    hooks: Vec<Hook>,
    /// Google's per-user, per-minute quota on Sheets reads and writes.
    quota: Quota,
}

/// The Sheets API's per-minute quotas as Google enforces them per user: 60 read and 60
/// write requests in any minute by default, each request past that answered 429
/// `RESOURCE_EXHAUSTED`. Each user has its own windows: the service account (every
/// token the JWT grant issues, however many clients hold them), the person behind the
/// installed-app grants, and each token let through by [`SheetsFake::allow_token`] (one
/// token, one user, unless [`SheetsFake::allow_token_as`] names a shared one). The
/// windows slide (the strictest reading of "a minute", so a client that fits here fits
/// Google's refill however it is aligned), run on tokio's clock (tests drive them with
/// paused time), and count only the requests served: a refused one does not push the
/// window further. (Google also caps a project at 300 reads a minute across its users;
/// the fake does not.)
#[derive(Debug)]
struct Quota {
    per_minute: Option<usize>,
    users: HashMap<String, Windows>,
    /// Requests answered 429 by the quota (not by an injected failure).
    refused: usize,
}

/// One user's read and write windows: the times of the requests served in the last
/// minute.
#[derive(Debug, Default)]
struct Windows {
    reads: VecDeque<tokio::time::Instant>,
    writes: VecDeque<tokio::time::Instant>,
}

impl Quota {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

    /// Counts a request of `write` kind by `user` now, or says it is over the quota.
    fn admit(&mut self, user: &str, write: bool) -> bool {
        let Some(limit) = self.per_minute else {
            return true;
        };
        let now = tokio::time::Instant::now();
        let windows = self.users.entry(user.to_owned()).or_default();
        let window = if write {
            &mut windows.writes
        } else {
            &mut windows.reads
        };
        while window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= Self::WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= limit {
            self.refused += 1;
            return false;
        }
        window.push_back(now);
        true
    }
}

/// A Sheets values call a test can hook with [`SheetsFake::before_call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    BatchGet,
    BatchUpdate,
}

/// What happens right before a hooked call is served.
#[derive(Debug, Clone)]
pub enum BeforeCall {
    /// Cells set as a person would type them (`(tab, "C7", value)` in seed notation),
    /// e.g. a sort or an edit landing between two requests of a run.
    Edit(Vec<(String, String, Json)>),
    /// The call is answered with this status and JSON body instead.
    Fail(u16, Json),
}

#[derive(Debug, Clone)]
struct Hook {
    call: Call,
    /// Calls of this kind still to let through before the hook fires.
    skip: usize,
    action: BeforeCall,
}

impl State {
    fn tab(&self, title: &str) -> Option<&Tab> {
        self.tabs.iter().find(|t| t.title == title)
    }

    fn tab_mut(&mut self, title: &str) -> Option<&mut Tab> {
        self.tabs.iter_mut().find(|t| t.title == title)
    }

    /// Records a change for Drive: the version moves on and `modifiedTime` strictly
    /// increases even when two changes fall in the same millisecond.
    fn touch(&mut self) {
        self.version += 1;
        let now = Utc::now();
        self.modified = if now > self.modified {
            now
        } else {
            self.modified + chrono::Duration::milliseconds(1)
        };
    }

    /// Counts a `call` against the armed hooks and returns the actions due now.
    fn due_hooks(&mut self, call: Call) -> Vec<BeforeCall> {
        let mut due = Vec::new();
        self.hooks.retain_mut(|h| {
            if h.call != call {
                return true;
            }
            if h.skip > 0 {
                h.skip -= 1;
                return true;
            }
            due.push(h.action.clone());
            false
        });
        due
    }

    fn next_sheet_id(&mut self) -> i64 {
        if self.tabs.is_empty() {
            return 0;
        }
        // xorshift: the real API hands out large ids unrelated to the index.
        let mut x = self.sheet_id_seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.sheet_id_seed = x;
        (x % 2_000_000_000) as i64 + 1
    }
}

/// A handle on the fake; clones share the same spreadsheet and logs.
#[derive(Debug, Clone)]
pub struct SheetsFake {
    state: Arc<Mutex<State>>,
    faults: crate::faults::Faults,
}

impl Default for SheetsFake {
    fn default() -> Self {
        Self::new()
    }
}

/// Seed file format (`config/demo/sheet.json`): tabs of rows in the notation of
/// [`SheetsFake::add_tab`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub spreadsheet_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub tabs: Vec<SeedTab>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTab {
    pub name: String,
    #[serde(default)]
    pub rows: Vec<Vec<Json>>,
    #[serde(default)]
    pub row_count: Option<u32>,
    #[serde(default)]
    pub column_count: Option<u32>,
}

/// A seed that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read sheet seed {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("sheet seed is not valid: {0}")]
    Parse(#[from] serde_json::Error),
}

impl SheetsFake {
    /// An empty spreadsheet (no tabs) with id [`DEFAULT_SPREADSHEET_ID`].
    pub fn new() -> SheetsFake {
        let now = Utc::now();
        SheetsFake {
            state: Arc::new(Mutex::new(State {
                spreadsheet_id: DEFAULT_SPREADSHEET_ID.to_owned(),
                title: "sheetsync sandbox".to_owned(),
                tabs: Vec::new(),
                version: 1,
                created: now,
                modified: now,
                tokens: HashMap::new(),
                refresh_tokens: HashMap::new(),
                codes: HashMap::new(),
                token_urls: Vec::new(),
                issued: 0,
                requests: Vec::new(),
                failures: VecDeque::new(),
                token_failures: VecDeque::new(),
                sheet_id_seed: 0x2545_f491_4f6c_dd1d,
                hooks: Vec::new(),
                quota: Quota {
                    per_minute: Some(60),
                    users: HashMap::new(),
                    refused: 0,
                },
            })),
            faults: crate::faults::Faults::default(),
        }
    }

    /// The fault knobs (5xx, dropped connections, 429, latency) of the API routes.
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    /// A fake seeded from JSON (see [`Seed`]).
    pub fn from_seed_json(json: &str) -> Result<SheetsFake, SeedError> {
        let seed: Seed = serde_json::from_str(json)?;
        let fake = SheetsFake::new();
        {
            let mut s = fake.lock();
            if let Some(id) = seed.spreadsheet_id {
                s.spreadsheet_id = id;
            }
            if let Some(title) = seed.title {
                s.title = title;
            }
        }
        for tab in seed.tabs {
            fake.add_tab_sized(
                &tab.name,
                tab.rows,
                tab.row_count.unwrap_or(1000),
                tab.column_count.unwrap_or(26),
            );
        }
        Ok(fake)
    }

    /// A fake seeded from a JSON file such as `config/demo/sheet.json`.
    pub fn from_seed_file(path: &Path) -> Result<SheetsFake, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SheetsFake::from_seed_json(&text)
    }

    // A poisoned lock only means a handler panicked mid-request; the grid is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn spreadsheet_id(&self) -> String {
        self.lock().spreadsheet_id.clone()
    }

    pub fn set_spreadsheet_id(&self, id: &str) {
        self.lock().spreadsheet_id = id.to_owned();
    }

    /// Adds a tab on a new spreadsheet's default 1000×26 grid (grown to fit the data).
    /// Cells use the seed notation: JSON scalars (`null`/`""` = empty), `{"date":
    /// "2024-03-01"}` (serial plus display text, optional `"text"`), `{"error": "#N/A"}`.
    pub fn add_tab(&self, name: &str, rows: Vec<Vec<Json>>) {
        self.add_tab_sized(name, rows, 1000, 26);
    }

    /// Adds a tab with an explicit grid size (grown to fit the data), replacing any tab
    /// of the same name.
    pub fn add_tab_sized(&self, name: &str, rows: Vec<Vec<Json>>, row_count: u32, col_count: u32) {
        let mut s = self.lock();
        s.tabs.retain(|t| t.title != name);
        let sheet_id = s.next_sheet_id();
        let mut tab = Tab {
            sheet_id,
            title: name.to_owned(),
            row_count: row_count.max(1),
            col_count: col_count.max(1),
            hidden: false,
            cells: Vec::new(),
        };
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                tab.set(r as u32, c as u32, Cell::from_seed(v));
            }
        }
        s.tabs.push(tab);
        s.touch();
    }

    /// Sets one cell (`"C7"`) in seed notation. Returns false when the tab or the cell
    /// reference is unknown. Grows the grid if needed, as a person typing would.
    pub fn set_cell(&self, tab: &str, a1: &str, value: Json) -> bool {
        let Some((row, col)) = range::parse_cell(a1) else {
            return false;
        };
        let mut s = self.lock();
        let Some(t) = s.tab_mut(tab) else {
            return false;
        };
        t.set(row, col, Cell::from_seed(&value));
        s.touch();
        true
    }

    /// One cell as the engine reads it (`UNFORMATTED_VALUE`, dates as their text);
    /// `None` when empty or out of reach.
    pub fn cell(&self, tab: &str, a1: &str) -> Option<Json> {
        let (row, col) = range::parse_cell(a1)?;
        let s = self.lock();
        s.tab(tab)?
            .get(row, col)
            .render(ValueRender::Unformatted, DateRender::FormattedString)
    }

    /// The tab's rows as the engine reads them, ragged as the API returns them.
    pub fn rows(&self, tab: &str) -> Vec<Vec<Json>> {
        let s = self.lock();
        let Some(t) = s.tab(tab) else {
            return Vec::new();
        };
        let rect = range::Rect {
            row0: 0,
            col0: 0,
            row1: t.row_count - 1,
            col1: t.col_count - 1,
        };
        t.values(
            &rect,
            Major::Rows,
            ValueRender::Unformatted,
            DateRender::FormattedString,
        )
    }

    /// The tab's grid size (rows, columns).
    pub fn grid_size(&self, tab: &str) -> Option<(u32, u32)> {
        self.lock().tab(tab).map(|t| (t.row_count, t.col_count))
    }

    /// Drive's change counter for the spreadsheet.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Every request received so far, token endpoint included, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().requests.clone()
    }

    /// How many times the token endpoint was called.
    pub fn token_requests(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == "/token")
            .count()
    }

    /// Serves `status` with this JSON body instead of the next Sheets or Drive call
    /// (before any auth check). Queued responses are served in order.
    pub fn fail_next(&self, status: u16, body: Json) {
        let body = http::pretty(&body);
        self.lock().failures.push_back(Canned {
            status,
            content_type: http::JSON_UTF8,
            body,
        });
    }

    /// Arms `action` to run right before the `nth` (1 = the next) `call` from now, so a
    /// test can land an edit between a run's read and its write-back, or fail one write.
    pub fn before_call(&self, call: Call, nth: usize, action: BeforeCall) {
        self.lock().hooks.push(Hook {
            call,
            skip: nth.saturating_sub(1),
            action,
        });
    }

    /// Like [`fail_next`](Self::fail_next) with a non-JSON body, as Google's front end
    /// sends for "automated queries" (an HTML 429).
    pub fn fail_next_html(&self, status: u16, body: &str) {
        let canned = Canned {
            status,
            content_type: "text/html; charset=UTF-8",
            body: body.to_owned(),
        };
        self.lock().failures.push_back(canned);
    }

    /// Serves `status` with this body instead of the next token endpoint call.
    pub fn fail_next_token(&self, status: u16, body: Json) {
        let body = http::pretty(&body);
        self.lock().token_failures.push_back(Canned {
            status,
            content_type: "application/json; charset=utf-8",
            body,
        });
    }

    /// Sets the read and the write quota (requests a minute per user; Google's default,
    /// and the fake's, is 60), or lifts it with `None`.
    pub fn set_quota_per_minute(&self, per_minute: Option<usize>) {
        self.lock().quota.per_minute = per_minute;
    }

    /// How many requests the per-minute quota refused (429 `RESOURCE_EXHAUSTED`), all
    /// users together.
    pub fn quota_refusals(&self) -> usize {
        self.lock().quota.refused
    }

    /// The real 429 `RESOURCE_EXHAUSTED` body for the read or the write quota.
    pub fn quota_exceeded_body(write: bool) -> Json {
        http::quota_exceeded(write)
    }

    /// Lets `token` through as a bearer token with every scope (for clients built with a
    /// static token), as a user of its own.
    pub fn allow_token(&self, token: &str) {
        self.allow_token_as(token, token);
    }

    /// Lets `token` through as [`SheetsFake::allow_token`] does, counting its requests
    /// against `user`'s quota (tokens of one user share it).
    pub fn allow_token_as(&self, token: &str, user: &str) {
        let grant = Grant {
            scopes: vec!["*".to_owned()],
            expires: DateTime::<Utc>::MAX_UTC,
            user: user.to_owned(),
        };
        self.lock().tokens.insert(token.to_owned(), grant);
    }

    /// Makes every issued access token invalid, as if an hour had passed.
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Registers a refresh token for the test OAuth client ([`TEST_CLIENT_ID`]) that the
    /// `refresh_token` grant exchanges for access tokens with these scopes.
    pub fn add_refresh_token(&self, refresh_token: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.lock()
            .refresh_tokens
            .insert(refresh_token.to_owned(), scopes);
    }

    /// Revokes every refresh token (as Google does 7 days after consent for a client in
    /// "Testing", or when the person removes the app's access): the refresh grant then
    /// answers `invalid_grant`.
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }

    /// How many refresh tokens are live (issued at consent or added, not revoked).
    pub fn refresh_token_count(&self) -> usize {
        self.lock().refresh_tokens.len()
    }

    /// An installed-app ("Desktop") OAuth client file, as the Cloud console downloads it,
    /// for the test client ([`TEST_CLIENT_ID`]) with its endpoints on the fake at
    /// `base` (`http://ADDR`): the consent page `…/o/oauth2/auth` and `…/token`.
    pub fn installed_client_json(&self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        let client = serde_json::json!({"installed": {
            "client_id": oauth::TEST_CLIENT_ID,
            "project_id": "sheetsync-sandbox",
            "auth_uri": format!("{base}{}", http::AUTH_PATH),
            "token_uri": format!("{base}/token"),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": oauth::TEST_CLIENT_SECRET,
            "redirect_uris": ["http://localhost"]
        }});
        serde_json::to_string_pretty(&client).unwrap_or_default()
    }

    /// A service-account key file (JSON) for the sandbox's test account whose
    /// `token_uri` is `token_uri`; the token endpoint accepts that URL as the JWT audience.
    pub fn service_account_key_json(&self, token_uri: &str) -> String {
        {
            let mut s = self.lock();
            if !s.token_urls.iter().any(|u| u == token_uri) {
                s.token_urls.push(token_uri.to_owned());
            }
        }
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": "sheetsync-sandbox",
            "private_key_id": oauth::TEST_PRIVATE_KEY_ID,
            "private_key": oauth::TEST_KEY_PEM,
            "client_email": oauth::TEST_CLIENT_EMAIL,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/sheetsync-sandbox%40sheetsync-sandbox.iam.gserviceaccount.com",
            "universe_domain": "googleapis.com"
        });
        serde_json::to_string_pretty(&key).unwrap_or_default()
    }

    /// Serves the fake on `listener` until the future is dropped. Its token URL
    /// (`http://ADDR/token`) becomes an accepted JWT audience.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        {
            let url = format!("http://{addr}/token");
            let mut s = self.lock();
            if !s.token_urls.contains(&url) {
                s.token_urls.push(url);
            }
        }
        axum::serve(listener, http::router(self)).await
    }

    /// Binds 127.0.0.1 on a free port, serves there in a background task and returns
    /// the address. Needs a tokio runtime.
    pub async fn spawn(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}/token");
        {
            let mut s = self.lock();
            if !s.token_urls.contains(&url) {
                s.token_urls.push(url);
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.serve(listener).await {
                tracing::warn!(error = %e, "sheets sandbox stopped");
            }
        });
        Ok(addr)
    }
}

#[cfg(test)]
mod tests;
