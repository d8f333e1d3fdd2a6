//! Store and Google access that never silently expires (SPEC §6).
//!
//! The Shopify transport asks a [`TokenProvider`] for the token on every request and, on
//! a 401, asks it once to renew: a static custom-app token cannot renew, a
//! client-credentials or expiring-OAuth token is minted (or refreshed) again. Minted tokens
//! are cached in the state dir's token table (0600), so a restart reuses them. Google's
//! installed-app OAuth keeps its refresh token there too ([`google`]).

pub mod endpoint;
pub mod google;
pub mod oauth;
pub mod shopify;

use async_trait::async_trait;

use crate::model::Secret;

pub use shopify::{ShopifyTokens, StoredToken, TOKEN_NAME};

/// Why a token could not be obtained; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "Shopify refused the app's client id and secret (invalid_client): copy them again from \
         the app's settings in the Dev Dashboard into shopify.auth.client_id and client_secret, \
         and check that the app is installed on {shop}"
    )]
    InvalidClient { shop: String },
    #[error(
        "Shopify refused the stored refresh token (invalid_grant: expired or revoked); run \
         `sheetsync auth shopify --method oauth` again"
    )]
    InvalidGrant,
    #[error(
        "Shopify rejected a freshly renewed access token too (HTTP 401): check that the app is \
         still installed on {shop} and that shopify.auth matches it, then run `sheetsync auth \
         status`"
    )]
    RejectedAfterRenew { shop: String },
    #[error(
        "no Shopify token is stored for {shop}: run `sheetsync auth shopify --method oauth` first"
    )]
    NotAuthorized { shop: String },
    #[error("Shopify's token endpoint answered HTTP {status}: {detail}")]
    Endpoint { status: u16, detail: String },
    #[error("cannot reach Shopify's token endpoint: {0}")]
    Connection(String),
    #[error("refusing to send the app's credentials to {host}: expected {expected}")]
    ForeignHost { host: String, expected: String },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl AuthError {
    /// Whether asking again may help (the token endpoint was down or unreachable).
    pub fn is_retryable(&self) -> bool {
        match self {
            AuthError::Connection(_) => true,
            AuthError::Endpoint { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }
}

/// Where the Shopify transport gets its access token.
#[async_trait]
pub trait TokenProvider: Send + Sync {
    /// The token to put on the next request; mints one first when none is cached or the
    /// cached one is about to expire. Concurrent callers wait for a single mint.
    async fn token(&self) -> Result<Secret, AuthError>;

    /// Called after `rejected` drew a 401. Returns `true` when a different token is now
    /// available (renewed here, or by a concurrent caller), `false` when this kind of
    /// token cannot be renewed.
    async fn renew(&self, rejected: &Secret) -> Result<bool, AuthError>;

    /// After a renewed token drew a 401 too: forget it and name the problem.
    fn rejected_after_renew(&self) -> AuthError;
}

/// A custom-app `shpat_` token from the config (or the environment through `${VAR}`):
/// valid until the app is uninstalled, so there is nothing to renew.
pub struct StaticToken(pub Secret);

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<Secret, AuthError> {
        Ok(self.0.clone())
    }
    async fn renew(&self, _rejected: &Secret) -> Result<bool, AuthError> {
        Ok(false)
    }
    fn rejected_after_renew(&self) -> AuthError {
        // Never reached: a static token is never renewed.
        AuthError::Endpoint {
            status: 401,
            detail: "the access token was rejected".into(),
        }
    }
}

/// POSTs `form` url-encoded to an OAuth token endpoint, asking for JSON; returns the
/// status and the body. The error is the connection failure's text without the URL.
/// Shared by Shopify's and Google's token exchanges, which read the body each their way.
pub(crate) async fn post_token_form(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    form: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    Ok((status, bytes.to_vec()))
}

#[cfg(test)]
mod tests;
