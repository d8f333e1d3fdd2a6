//! Google installed-app OAuth (SPEC §6): `sheetsync auth google --method installed` runs
//! yup-oauth2's consent flow and keeps the refresh token in the state dir's token table
//! (0600, one atomic statement) through [`SqliteTokenStorage`]; runs then get their
//! access tokens from [`InstalledTokens`], which refreshes them with that refresh token.
//!
//! Runs do not go through yup-oauth2's `Authenticator`: when its refresh fails it drops
//! the error and starts the browser consent flow, which would stall an unattended `sync`
//! on a loopback listener and hide the `invalid_grant` that has to be explained (an OAuth
//! client whose consent screen is in "Testing" gets refresh tokens that die after 7 days).
//! [`InstalledTokens`] sends the refresh grant itself and says what to do.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yup_oauth2::ApplicationSecret;
use yup_oauth2::storage::{TokenInfo, TokenStorage, TokenStorageError};

use crate::model::Secret;
use crate::state::{Scope, State, StateError, StateStore};

/// The token table's row name for the Google token of a scope.
pub const TOKEN_NAME: &str = "google";

/// What sheetsync asks consent for: reading and writing the sheet, and the Drive
/// metadata `watch` and `auth status` read (SPEC §6).
pub const SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive.metadata.readonly",
];

/// Google's refresh tokens for a client in "Testing" die 7 days after consent; an
/// `invalid_grant` within this long of consent is probably that.
pub const TESTING_WINDOW: chrono::Duration = chrono::Duration::days(8);

/// An access token is refreshed this long before it expires (as yup-oauth2 does).
const MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// How long `auth google` waits for the person to approve.
const WAIT: Duration = Duration::from_secs(600);

/// Why a Google token could not be obtained; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GoogleAuthError {
    #[error(
        "no Google authorization is stored for this config: run `sheetsync auth google --method installed` first"
    )]
    NotAuthorized,
    #[error(
        "Google refused the stored refresh token (invalid_grant) {age} after consent: the OAuth client's consent screen is probably in \"Testing\", where refresh tokens die after 7 days. Publish the app (Google Auth Platform > Audience > Publish app), or run `sheetsync auth google --method installed` again (every week while it stays in Testing)"
    )]
    InvalidGrantTesting { age: String },
    #[error(
        "Google refused the stored refresh token (invalid_grant: expired or revoked): run `sheetsync auth google --method installed` again"
    )]
    InvalidGrant,
    #[error(
        "Google refused the OAuth client (invalid_client): download the client's JSON again from the Cloud console (Google Auth Platform > Clients) into google.client_secret, then run `sheetsync auth google --method installed`"
    )]
    InvalidClient,
    #[error(
        "the stored Google authorization lacks the scope {0}: run `sheetsync auth google --method installed` again"
    )]
    MissingScope(String),
    #[error("Google's token endpoint answered HTTP {status}: {detail}")]
    Endpoint { status: u16, detail: String },
    #[error("cannot reach Google's token endpoint: {0}")]
    Connection(String),
    #[error("cannot use the OAuth client file {path}: {message}")]
    ClientFile { path: String, message: String },
    #[error("Google consent did not complete: {0}")]
    Consent(String),
    #[error(transparent)]
    State(#[from] StateError),
}

impl GoogleAuthError {
    /// Whether asking again later may help (the token endpoint was down or unreachable).
    pub fn is_retryable(&self) -> bool {
        match self {
            GoogleAuthError::Connection(_) => true,
            GoogleAuthError::Endpoint { status, .. } => {
                *status == 429 || *status == 408 || (500..600).contains(status)
            }
            _ => false,
        }
    }
}

/// What the state dir keeps for installed-app OAuth (the `value` of its row, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoogleToken {
    pub client_id: String,
    #[serde(serialize_with = "crate::config::expose_secret")]
    pub refresh_token: Secret,
    /// When the person approved: an `invalid_grant` soon after means "Testing".
    pub consented_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    #[serde(default, serialize_with = "crate::config::expose_secret_opt")]
    pub access_token: Option<Secret>,
    #[serde(default)]
    pub access_expires_at: Option<DateTime<Utc>>,
}

impl GoogleToken {
    /// The access token, when it is usable at `now` without a refresh.
    fn fresh_access(&self, now: DateTime<Utc>) -> Option<&str> {
        match (&self.access_token, self.access_expires_at) {
            (Some(t), Some(exp)) if now + MARGIN < exp => Some(t.expose()),
            _ => None,
        }
    }

    fn to_json(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    fn from_json(value: &Secret) -> Option<GoogleToken> {
        serde_json::from_str(value.expose()).ok()
    }

    /// The refresh token's prefix, for `auth status`.
    pub fn refresh_prefix(&self) -> String {
        self.refresh_token.prefix()
    }
}

/// Reads the stored Google token of a scope without creating anything.
pub fn peek_stored(dir: &Path, scope: &Scope) -> Result<Option<GoogleToken>, GoogleAuthError> {
    let Some(state) = State::open_read_only(dir, scope)? else {
        return Ok(None);
    };
    Ok(state
        .get_token(TOKEN_NAME)?
        .and_then(|t| GoogleToken::from_json(&t.value)))
}

fn store(dir: &Path, scope: &Scope, t: &GoogleToken) -> Result<(), GoogleAuthError> {
    let mut state = State::open(dir, scope)?;
    let expires = t.access_expires_at.map(|e| e.to_rfc3339());
    // One statement: a reader sees the old token or the new one, never a torn file.
    state.put_token(TOKEN_NAME, &t.to_json(), expires.as_deref())?;
    Ok(())
}

/// Reads an installed-app OAuth client file (`{"installed": {…}}`).
pub async fn read_client(path: &Path) -> Result<ApplicationSecret, GoogleAuthError> {
    let err = |message: String| GoogleAuthError::ClientFile {
        path: path.display().to_string(),
        message,
    };
    let secret = yup_oauth2::read_application_secret(path)
        .await
        .map_err(|e| err(e.to_string()))?;
    if secret.client_id.is_empty() || secret.token_uri.is_empty() {
        return Err(err(
            "it has no client_id or token_uri: download the Desktop client's JSON again".into(),
        ));
    }
    // The client secret and the refresh token go there: refused before anything is sent.
    token_uri_ok(&secret.token_uri).map_err(err)?;
    Ok(secret)
}

/// yup-oauth2's token storage for the consent flow of `auth google`, backed by the state
/// dir's token table: the token the consent yields is written with its refresh token and
/// the consent time in one statement.
///
/// `get` answers nothing, so `auth google` always asks for consent anew (to replace a dead
/// refresh token or switch accounts); runs read the row through [`InstalledTokens`].
pub struct SqliteTokenStorage {
    dir: PathBuf,
    scope: Scope,
    client_id: String,
}

impl SqliteTokenStorage {
    pub fn new(dir: &Path, scope: Scope, client_id: &str) -> SqliteTokenStorage {
        SqliteTokenStorage {
            dir: dir.to_path_buf(),
            scope,
            client_id: client_id.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl TokenStorage for SqliteTokenStorage {
    async fn set(&self, scopes: &[&str], token: TokenInfo) -> Result<(), TokenStorageError> {
        let Some(refresh_token) = token.refresh_token else {
            return Err(TokenStorageError::Other(
                "Google sent no refresh token; remove sheetsync's access at https://myaccount.google.com/permissions and run `sheetsync auth google` again".into(),
            ));
        };
        let access_expires_at = token
            .expires_at
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.unix_timestamp(), 0));
        let record = GoogleToken {
            client_id: self.client_id.clone(),
            refresh_token: Secret::new(refresh_token),
            consented_at: Utc::now(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            access_token: token.access_token.map(Secret::new),
            access_expires_at,
        };
        let (dir, scope) = (self.dir.clone(), self.scope.clone());
        tokio::task::spawn_blocking(move || store(&dir, &scope, &record))
            .await
            .map_err(|e| TokenStorageError::Other(e.to_string().into()))?
            .map_err(|e| TokenStorageError::Other(e.to_string().into()))
    }

    async fn get(&self, _scopes: &[&str]) -> Option<TokenInfo> {
        None
    }
}

/// The access token source of runs with `google.method = "installed"`: the stored access
/// token while it is fresh, else one refresh (single flight: concurrent requests wait for
/// it) with the stored refresh token. Real runs store the refreshed access token; a dry
/// run keeps it in memory and only reads the state dir (SPEC §4.9).
#[derive(Clone)]
pub struct InstalledTokens(Arc<Inner>);

struct Inner {
    http: reqwest::Client,
    token_uri: String,
    client_id: String,
    client_secret: Secret,
    dir: PathBuf,
    scope: Scope,
    dry_run: bool,
    current: tokio::sync::Mutex<GoogleToken>,
}

#[derive(Deserialize)]
struct Grant {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<Secret>,
}

#[derive(Deserialize)]
struct GrantError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl InstalledTokens {
    /// For the client in `client`; fails with [`GoogleAuthError::NotAuthorized`] when
    /// `auth google` has not stored a refresh token for this scope yet.
    pub fn new(
        client: &ApplicationSecret,
        dir: &Path,
        scope: Scope,
        dry_run: bool,
    ) -> Result<InstalledTokens, GoogleAuthError> {
        let stored = peek_stored(dir, &scope)?.ok_or(GoogleAuthError::NotAuthorized)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("sheetsync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GoogleAuthError::Connection(e.to_string()))?;
        Ok(InstalledTokens(Arc::new(Inner {
            http,
            token_uri: client.token_uri.clone(),
            client_id: client.client_id.clone(),
            client_secret: Secret::new(client.client_secret.clone()),
            dir: dir.to_path_buf(),
            scope,
            dry_run,
            current: tokio::sync::Mutex::new(stored),
        })))
    }

    /// Drops the access token held in memory, so the next [`Self::token`] refreshes: Google
    /// refused it before its announced expiry.
    pub async fn forget_access(&self) {
        let mut current = self.0.current.lock().await;
        current.access_token = None;
        current.access_expires_at = None;
    }

    /// An access token covering `scopes`.
    pub async fn token(&self, scopes: &[&str]) -> Result<String, GoogleAuthError> {
        let inner = &self.0;
        let mut current = inner.current.lock().await;
        if let Some(missing) = scopes
            .iter()
            .find(|s| !current.scopes.iter().any(|g| g == *s))
        {
            return Err(GoogleAuthError::MissingScope((*missing).to_owned()));
        }
        let now = Utc::now();
        if let Some(t) = current.fresh_access(now) {
            return Ok(t.to_owned());
        }
        tracing::debug!("Refreshing the Google access token");
        let grant = inner.refresh(&current, now).await?;
        let rotated = grant
            .refresh_token
            .as_ref()
            .is_some_and(|r| *r != current.refresh_token);
        let mut next = current.clone();
        if let Some(r) = grant.refresh_token {
            next.refresh_token = r;
        }
        next.access_expires_at = grant
            .expires_in
            .map(|s| now + chrono::Duration::seconds(s.max(0)));
        // A dry run writes nothing, except a rotated refresh token: the old one may be
        // spent, so dropping the new one would lock the merchant out.
        if !inner.dry_run || rotated {
            let (dir, scope, record) = (inner.dir.clone(), inner.scope.clone(), next.clone());
            tokio::task::spawn_blocking(move || store(&dir, &scope, &record))
                .await
                .map_err(|e| GoogleAuthError::Consent(e.to_string()))??;
        }
        let token = grant.access_token.expose().to_owned();
        next.access_token = Some(grant.access_token);
        *current = next;
        Ok(token)
    }
}

impl Inner {
    async fn refresh(&self, t: &GoogleToken, now: DateTime<Utc>) -> Result<Grant, GoogleAuthError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("refresh_token", t.refresh_token.expose()),
            ("grant_type", "refresh_token"),
        ];
        let (status, bytes) = super::post_token_form(&self.http, &self.token_uri, &form)
            .await
            .map_err(GoogleAuthError::Connection)?;
        if (200..300).contains(&status)
            && let Ok(g) = serde_json::from_slice::<Grant>(&bytes)
        {
            return Ok(g);
        }
        Err(match serde_json::from_slice::<GrantError>(&bytes) {
            Ok(e) if e.error == "invalid_grant" => invalid_grant(t.consented_at, now),
            Ok(e) if e.error == "invalid_client" || e.error == "unauthorized_client" => {
                GoogleAuthError::InvalidClient
            }
            Ok(e) => GoogleAuthError::Endpoint {
                status,
                detail: match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                },
            },
            // Google's token endpoint never echoes secrets, but a proxy's page could be
            // anything: say only how long it was.
            Err(_) => GoogleAuthError::Endpoint {
                status,
                detail: format!("an unexpected answer of {} bytes", bytes.len()),
            },
        })
    }
}

/// The `invalid_grant` explanation: within [`TESTING_WINDOW`] of consent it is probably
/// a client in "Testing".
pub fn invalid_grant(consented_at: DateTime<Utc>, now: DateTime<Utc>) -> GoogleAuthError {
    let age = now - consented_at;
    if age < TESTING_WINDOW {
        let secs = age.num_seconds().max(0) as u64;
        // Whole minutes read better than "6days 23h 59m 12s".
        let rounded = Duration::from_secs(secs - secs % 60);
        let age = if secs < 60 {
            "less than a minute".to_owned()
        } else {
            humantime::format_duration(rounded).to_string()
        };
        GoogleAuthError::InvalidGrantTesting { age }
    } else {
        GoogleAuthError::InvalidGrant
    }
}

/// Prints the consent URL and, for the paste fallback, remembers nothing else: the
/// redirect goes to yup-oauth2's loopback listener on `127.0.0.1:PORT`.
struct Presenter {
    redirect_uri: String,
    show: Box<dyn Fn(&str) + Send + Sync>,
}

impl yup_oauth2::authenticator_delegate::InstalledFlowDelegate for Presenter {
    fn redirect_uri(&self) -> Option<&str> {
        Some(&self.redirect_uri)
    }

    fn present_user_url<'a>(
        &'a self,
        url: &'a str,
        _need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        (self.show)(url);
        Box::pin(async { Ok(String::new()) })
    }
}

/// A free loopback port for the redirect. The advertised redirect is `127.0.0.1`, where
/// yup-oauth2's listener binds, not `localhost`, which a browser may resolve to `::1`.
fn free_port() -> Result<u16, GoogleAuthError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| GoogleAuthError::Consent(format!("cannot listen on 127.0.0.1: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| GoogleAuthError::Consent(e.to_string()))
}

/// `auth google --method installed`: shows the consent URL through `show`, waits for the
/// loopback redirect (or a pasted redirect URL on stdin, forwarded to the listener), and
/// stores the refresh token with the consent time. Returns what was stored.
pub async fn consent(
    client_path: &Path,
    dir: &Path,
    scope: Scope,
    show: Box<dyn Fn(&str) + Send + Sync>,
) -> Result<GoogleToken, GoogleAuthError> {
    let secret = read_client(client_path).await?;
    let client_id = secret.client_id.clone();
    let port = free_port()?;
    let redirect_uri = format!("http://127.0.0.1:{port}");
    let storage = SqliteTokenStorage::new(dir, scope.clone(), &client_id);
    let auth = yup_oauth2::InstalledFlowAuthenticator::builder(
        secret,
        yup_oauth2::InstalledFlowReturnMethod::HTTPPortRedirect(port),
    )
    .flow_delegate(Box::new(Presenter {
        redirect_uri: redirect_uri.clone(),
        show,
    }))
    .with_storage(Box::new(storage))
    .build()
    .await
    .map_err(|e| GoogleAuthError::Consent(e.to_string()))?;
    let flow = async {
        auth.token(&SCOPES[..])
            .await
            .map(|_| ())
            .map_err(|e| match e {
                yup_oauth2::Error::AuthError(a) if a.error.as_str() == "invalid_client" => {
                    GoogleAuthError::InvalidClient
                }
                other => GoogleAuthError::Consent(other.to_string()),
            })
    };
    tokio::select! {
        r = flow => r?,
        () = forward_pasted(port) => {}
        () = tokio::time::sleep(WAIT) => {
            return Err(GoogleAuthError::Consent(
                "no answer within 10 minutes; run the command again".into(),
            ));
        }
    }
    peek_stored(dir, &scope)?.ok_or(GoogleAuthError::NotAuthorized)
}

/// The paste fallback: where the browser cannot reach this machine's loopback, the person
/// pastes the URL it ended on; its query is handed to the local listener as the browser
/// would have. Never completes by itself (the flow ends the `select!`).
async fn forward_pasted(port: u16) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.contains("code=") => {
                let query = crate::auth::oauth::query_of(&line);
                let url = format!("http://127.0.0.1:{port}/?{query}");
                if let Err(e) = reqwest::get(&url).await {
                    tracing::warn!(error = %e.without_url(), "Could not hand the pasted URL to the local listener");
                }
            }
            Ok(Some(_)) => {}
            // No terminal (or it closed): only the browser's redirect can answer.
            _ => std::future::pending::<()>().await,
        }
    }
}

/// A key or client file's `token_uri` receives a credential (a signed assertion, a client
/// secret, a refresh token): https, or plain http only to a loopback host (the sandbox).
/// The URI is not quoted back: it comes from a file that may be anyone's.
pub(crate) fn token_uri_ok(raw: &str) -> Result<(), String> {
    let url =
        url::Url::parse(raw.trim()).map_err(|e| format!("its token_uri is not a URL ({e})"))?;
    crate::http::check_transport(&url).map_err(|why| format!("its token_uri {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_grant_within_eight_days_of_consent_names_testing() {
        let consent = Utc::now();
        let msg = invalid_grant(consent, consent + chrono::Duration::days(7)).to_string();
        assert!(
            msg.contains("\"Testing\"") && msg.contains("7days"),
            "{msg}"
        );
        let msg = invalid_grant(consent, consent + chrono::Duration::days(9)).to_string();
        assert!(!msg.contains("Testing"), "{msg}");
        assert!(msg.contains("sheetsync auth google --method installed"));
    }

    #[test]
    fn debug_hides_both_tokens() {
        let t = GoogleToken {
            client_id: "id".into(),
            refresh_token: Secret::new("1//secret-refresh"),
            consented_at: Utc::now(),
            scopes: vec![],
            access_token: Some(Secret::new("ya29.secret-access")),
            access_expires_at: None,
        };
        let d = format!("{t:?}");
        assert!(!d.contains("secret"), "{d}");
    }

    #[test]
    fn an_access_token_is_fresh_until_a_minute_before_expiry() {
        let now = Utc::now();
        let mut t = GoogleToken {
            client_id: "id".into(),
            refresh_token: Secret::new("r"),
            consented_at: now,
            scopes: vec![],
            access_token: Some(Secret::new("a")),
            access_expires_at: Some(now + chrono::Duration::seconds(61)),
        };
        assert_eq!(t.fresh_access(now), Some("a"));
        t.access_expires_at = Some(now + chrono::Duration::seconds(59));
        assert_eq!(t.fresh_access(now), None);
        t.access_expires_at = None;
        assert_eq!(t.fresh_access(now), None);
    }
}
