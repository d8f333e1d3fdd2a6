//! Shopify access tokens that renew themselves: `client_credentials` (a 24-hour token
//! minted from the app's client id and secret) and `oauth` (an offline token stored by
//! `auth shopify`; an expiring one is refreshed with its rotating refresh token).
//!
//! One [`ShopifyTokens`] serves every request of a process. Its token sits behind a tokio
//! mutex held across the mint, so concurrent requests that find the token stale queue
//! behind a single mint and then all use its result (single flight). Every token obtained
//! is written to the state dir's token table in one statement, access and refresh token
//! together, so a crash never leaves a rotated-away refresh token behind.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::endpoint::{EndpointError, resolve_endpoint};
use super::{AuthError, TokenProvider};
use crate::config::{Secret, ShopifyAuthMethod, ShopifyConfig};
use crate::state::{Scope, State, StateStore};

/// The token table's row name for the Shopify token of a scope.
pub const TOKEN_NAME: &str = "shopify";

/// Re-mint this long before expiry at most (a 24-hour token is renewed at 23h50m)…
const MAX_MARGIN: Duration = Duration::from_secs(600);
/// …and at least a tenth of the token's lifetime before it (short test lifetimes).
const MARGIN_DIVISOR: u32 = 10;

/// What kind of token is stored (`auth status` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// From the client-credentials grant: expires (24 h), no refresh token.
    ClientCredentials,
    /// From the authorization-code install, non-expiring.
    Offline,
    /// From the authorization-code install with `expiring=1`: 1 h, refresh token rotates.
    ExpiringOffline,
}

impl TokenKind {
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::ClientCredentials => {
                "client-credentials token (24 h, re-minted automatically)"
            }
            TokenKind::Offline => "offline token (does not expire; revoked on uninstall)",
            TokenKind::ExpiringOffline => {
                "expiring offline token (refreshed automatically with its rotating refresh token)"
            }
        }
    }
}

/// A token as the state dir keeps it (the `value` of its row, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    pub kind: TokenKind,
    #[serde(serialize_with = "crate::config::expose_secret")]
    pub access_token: Secret,
    #[serde(default)]
    pub scope: Option<String>,
    pub obtained_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, serialize_with = "crate::config::expose_secret_opt")]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

impl StoredToken {
    /// Usable at `now` without renewing first.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        let Some(exp) = self.expires_at else {
            return true;
        };
        let lifetime = (exp - self.obtained_at).to_std().unwrap_or_default();
        let margin = (lifetime / MARGIN_DIVISOR).min(MAX_MARGIN);
        let margin = chrono::Duration::from_std(margin).unwrap_or_default();
        now + margin < exp
    }

    pub fn secret(&self) -> Secret {
        self.access_token.clone()
    }

    fn to_json(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    fn from_json(value: &Secret) -> Option<StoredToken> {
        serde_json::from_str(value.expose()).ok()
    }
}

/// The app's OAuth endpoints on the shop (or under `api_base_url`), checked like the
/// GraphQL endpoint: the credentials only ever go to the shop's own host.
#[derive(Clone)]
pub struct OauthEndpoint {
    http: reqwest::Client,
    /// `…/admin/oauth/access_token`
    pub token_url: Url,
    /// `…/admin/oauth/authorize`
    pub authorize_url: Url,
    pub authority: String,
    /// The shop as configured (for messages).
    pub shop: String,
}

/// A successful token endpoint answer.
#[derive(Deserialize)]
struct Grant {
    access_token: Secret,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct GrantError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OauthEndpoint {
    pub fn new(cfg: &ShopifyConfig) -> Result<OauthEndpoint, EndpointError> {
        let graphql = resolve_endpoint(cfg)?;
        let path = graphql.url.path();
        let base = path.find("/admin/api/").map_or("", |i| &path[..i]);
        let mut token_url = graphql.url.clone();
        token_url.set_path(&format!("{base}/admin/oauth/access_token"));
        let mut authorize_url = graphql.url.clone();
        authorize_url.set_path(&format!("{base}/admin/oauth/authorize"));
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("sheetsync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EndpointError::Client(e.to_string()))?;
        Ok(OauthEndpoint {
            http,
            token_url,
            authorize_url,
            authority: graphql.authority,
            shop: cfg.shop.clone(),
        })
    }

    /// POSTs a form to the token endpoint and reads the grant. `kind` says what the answer
    /// is (an expiring offline answer is told apart by its refresh token).
    pub(crate) async fn post(
        &self,
        form: &[(&str, &str)],
        kind: TokenKind,
    ) -> Result<StoredToken, AuthError> {
        let url = &self.token_url;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        if host != self.authority {
            return Err(AuthError::ForeignHost {
                host,
                expected: self.authority.clone(),
            });
        }
        let (status, bytes) = super::post_token_form(&self.http, url.clone(), form)
            .await
            .map_err(AuthError::Connection)?;
        if (200..300).contains(&status)
            && let Ok(g) = serde_json::from_slice::<Grant>(&bytes)
        {
            let now = Utc::now();
            let after = |s: Option<i64>| s.map(|s| now + chrono::Duration::seconds(s.max(0)));
            let kind = match kind {
                TokenKind::ClientCredentials => TokenKind::ClientCredentials,
                _ if g.refresh_token.is_some() || g.expires_in.is_some() => {
                    TokenKind::ExpiringOffline
                }
                _ => TokenKind::Offline,
            };
            return Ok(StoredToken {
                kind,
                access_token: g.access_token,
                scope: g.scope,
                obtained_at: now,
                expires_at: after(g.expires_in),
                refresh_token: g.refresh_token,
                refresh_expires_at: after(g.refresh_token_expires_in),
            });
        }
        match serde_json::from_slice::<GrantError>(&bytes) {
            Ok(e) if e.error == "invalid_client" => Err(AuthError::InvalidClient {
                shop: self.shop.clone(),
            }),
            Ok(e) if e.error == "invalid_grant" => Err(AuthError::InvalidGrant),
            Ok(e) => Err(AuthError::Endpoint {
                status,
                detail: match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                },
            }),
            // The endpoint never echoes credentials, but a proxy's page could be anything:
            // say only how long it was.
            Err(_) => Err(AuthError::Endpoint {
                status,
                detail: format!("an unexpected answer of {} bytes", bytes.len()),
            }),
        }
    }
}

/// The token cache: the state dir's token table for this config's scope.
struct Cache {
    dir: std::path::PathBuf,
    scope: Scope,
    state: Mutex<Option<State>>,
    /// A dry run (SPEC §4.9): the state is read, never created or written, and minted
    /// tokens stay in memory. The one exception is a rotated refresh token: the old one
    /// is spent once Shopify answers, so dropping the new one would lock the merchant out.
    dry_run: bool,
}

impl Cache {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T, AuthError>) -> Result<T, AuthError> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(State::open(&self.dir, &self.scope)?);
        }
        match guard.as_mut() {
            Some(state) => f(state),
            None => unreachable!("opened just above"),
        }
    }

    fn load(&self) -> Result<Option<StoredToken>, AuthError> {
        if self.dry_run {
            return peek_stored(&self.dir, &self.scope);
        }
        self.with(|s| {
            Ok(s.get_token(TOKEN_NAME)?
                .and_then(|t| StoredToken::from_json(&t.value)))
        })
    }

    fn save(&self, t: &StoredToken) -> Result<(), AuthError> {
        if self.dry_run && t.refresh_token.is_none() {
            return Ok(());
        }
        let expires = t.expires_at.map(|e| e.to_rfc3339());
        self.with(|s| Ok(s.put_token(TOKEN_NAME, &t.to_json(), expires.as_deref())?))
    }

    fn forget(&self) -> Result<(), AuthError> {
        if self.dry_run {
            return Ok(());
        }
        self.with(|s| Ok(s.delete_token(TOKEN_NAME)?))
    }
}

/// Reads the stored Shopify token of a scope without creating anything (for `auth status`).
pub fn peek_stored(dir: &std::path::Path, scope: &Scope) -> Result<Option<StoredToken>, AuthError> {
    let Some(state) = State::open_read_only(dir, scope)? else {
        return Ok(None);
    };
    Ok(state
        .get_token(TOKEN_NAME)?
        .and_then(|t| StoredToken::from_json(&t.value)))
}

/// Stores a token obtained outside a run (`auth shopify`).
pub fn store_token(dir: &std::path::Path, scope: &Scope, t: &StoredToken) -> Result<(), AuthError> {
    let mut state = State::open(dir, scope)?;
    let expires = t.expires_at.map(|e| e.to_rfc3339());
    state.put_token(TOKEN_NAME, &t.to_json(), expires.as_deref())?;
    Ok(())
}

/// The self-renewing Shopify token of `client_credentials` and `oauth`.
pub struct ShopifyTokens {
    method: ShopifyAuthMethod,
    endpoint: OauthEndpoint,
    client_id: String,
    client_secret: Secret,
    cache: Cache,
    current: tokio::sync::Mutex<Option<StoredToken>>,
    mints: AtomicU32,
    /// Milliseconds this provider's clock reads ahead of the system's: tests move it
    /// instead of sleeping through a token's life.
    clock_ahead_ms: AtomicI64,
}

impl ShopifyTokens {
    /// Now, as this provider judges a token's freshness.
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this provider's clock `by` ahead (tests: a token's life passes at once).
    #[cfg(test)]
    pub(crate) fn advance_clock(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.clock_ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// For `cfg.auth.method` `client_credentials` or `oauth`, whose client id and secret
    /// the config validation already required.
    pub fn new(
        cfg: &ShopifyConfig,
        state_dir: &std::path::Path,
        scope: Scope,
        dry_run: bool,
    ) -> Result<ShopifyTokens, EndpointError> {
        let endpoint = OauthEndpoint::new(cfg)?;
        Ok(ShopifyTokens {
            method: cfg.auth.method,
            endpoint,
            client_id: cfg.auth.client_id.clone().unwrap_or_default(),
            client_secret: cfg
                .auth
                .client_secret
                .clone()
                .unwrap_or_else(|| Secret::new("")),
            cache: Cache {
                dir: state_dir.to_path_buf(),
                scope,
                state: Mutex::new(None),
                dry_run,
            },
            current: tokio::sync::Mutex::new(None),
            mints: AtomicU32::new(0),
            clock_ahead_ms: AtomicI64::new(0),
        })
    }

    /// How many tokens this provider minted or refreshed (diagnostics and tests).
    pub fn mints(&self) -> u32 {
        self.mints.load(Ordering::Relaxed)
    }

    /// Gets a new token: a client-credentials mint, or a refresh of an expiring offline
    /// token. `Ok(None)` when this token cannot be renewed (a non-expiring offline token).
    async fn obtain(&self, old: Option<&StoredToken>) -> Result<Option<StoredToken>, AuthError> {
        let fresh = match self.method {
            ShopifyAuthMethod::ClientCredentials => {
                tracing::debug!(shop = %self.endpoint.shop, "Minting a Shopify client-credentials token");
                self.endpoint
                    .post(
                        &[
                            ("grant_type", "client_credentials"),
                            ("client_id", &self.client_id),
                            ("client_secret", self.client_secret.expose()),
                        ],
                        TokenKind::ClientCredentials,
                    )
                    .await?
            }
            _ => {
                let Some(refresh) = old.and_then(|t| t.refresh_token.as_ref()) else {
                    return Ok(None);
                };
                tracing::debug!(shop = %self.endpoint.shop, "Refreshing the Shopify offline token");
                let mut t = self
                    .endpoint
                    .post(
                        &[
                            ("grant_type", "refresh_token"),
                            ("client_id", &self.client_id),
                            ("client_secret", self.client_secret.expose()),
                            ("refresh_token", refresh.expose()),
                        ],
                        TokenKind::ExpiringOffline,
                    )
                    .await?;
                // Keep the old refresh token if the answer carried none (no rotation).
                if t.refresh_token.is_none() {
                    t.refresh_token = Some(refresh.clone());
                    t.refresh_expires_at = old.and_then(|o| o.refresh_expires_at);
                }
                if t.scope.is_none() {
                    t.scope = old.and_then(|o| o.scope.clone());
                }
                t
            }
        };
        self.mints.fetch_add(1, Ordering::Relaxed);
        // Stored before use: a rotated refresh token must survive a crash right after.
        self.cache.save(&fresh)?;
        Ok(Some(fresh))
    }

    fn not_authorized(&self) -> AuthError {
        AuthError::NotAuthorized {
            shop: self.endpoint.shop.clone(),
        }
    }
}

#[async_trait]
impl TokenProvider for ShopifyTokens {
    async fn token(&self) -> Result<Secret, AuthError> {
        let mut current = self.current.lock().await;
        if current.is_none() {
            *current = self.cache.load()?;
        }
        if let Some(t) = current.as_ref()
            && t.is_fresh(self.now())
        {
            return Ok(t.secret());
        }
        match self.obtain(current.as_ref()).await? {
            Some(t) => {
                let s = t.secret();
                *current = Some(t);
                Ok(s)
            }
            // A stale token that cannot be renewed: let Shopify judge it.
            None => current
                .as_ref()
                .map(StoredToken::secret)
                .ok_or_else(|| self.not_authorized()),
        }
    }

    async fn renew(&self, rejected: &Secret) -> Result<bool, AuthError> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref()
            && t.access_token != *rejected
        {
            // Another request renewed it while this one was in flight.
            return Ok(true);
        }
        match self.obtain(current.as_ref()).await? {
            Some(t) => {
                *current = Some(t);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn rejected_after_renew(&self) -> AuthError {
        if let Err(e) = self.cache.forget() {
            tracing::warn!(error = %e, "Could not forget the rejected Shopify token");
        }
        AuthError::RejectedAfterRenew {
            shop: self.endpoint.shop.clone(),
        }
    }
}
