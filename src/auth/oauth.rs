//! The Shopify authorization-code install (`sheetsync auth shopify --method oauth`,
//! SHOPIFY.md §7b): the authorize URL with a `state` nonce and a redirect to a fixed
//! loopback port, the callback caught by a local listener (or pasted), and its `hmac`
//! (constant time), `state`, shop and timestamp checked before the code is exchanged for
//! an offline token, which is stored in the state dir. The token is requested with
//! `expiring=1`, so it is an expiring offline token that refreshes itself.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use url::Url;

use super::AuthError;
use super::shopify::{OauthEndpoint, StoredToken, TokenKind};
use crate::model::Secret;

/// The callback's default loopback port; register
/// `http://127.0.0.1:48765/callback` as an allowed redirection URL of the app.
pub const DEFAULT_PORT: u16 = 48765;
/// How old a callback may be (its `timestamp`), either way.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// How long `auth shopify` waits for the merchant to approve.
const WAIT: Duration = Duration::from_secs(600);

/// The redirect URL for `port`.
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}/callback")
}

/// Why a callback was refused; none of these sends the code anywhere.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback URL has no {0} parameter; paste the whole URL the browser ended on")]
    Missing(&'static str),
    #[error(
        "the callback's hmac does not match: it was not sent by Shopify for this app (or was altered); start again"
    )]
    Hmac,
    #[error("the callback's state does not match this install: an old or forged link; start again")]
    State,
    #[error("the callback names shop {got:?}, not the configured {expected}; check [shopify] shop")]
    Shop { got: String, expected: String },
    #[error(
        "the callback is {age_secs} s away from now (more than 5 minutes): start again, and check the clock"
    )]
    Stale { age_secs: i64 },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("waiting for the callback: {0}")]
    Io(String),
    #[error("the operating system's random number generator failed; cannot make a state nonce")]
    Random,
}

/// `…/admin/oauth/authorize?client_id&scope&redirect_uri&state` (offline: no
/// `grant_options[]`).
pub fn authorize_url(
    endpoint: &OauthEndpoint,
    client_id: &str,
    scopes: &[&str],
    redirect_uri: &str,
    state: &str,
) -> Url {
    let mut url = endpoint.authorize_url.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("scope", &scopes.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    url
}

/// A fresh `state` nonce: 128 bits from the OS CSPRNG, hex. It is what stops a forged
/// callback, so it must not be guessable from a seeded, non-cryptographic generator.
pub fn nonce() -> Result<String, CallbackError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CallbackError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a callback query (hmac, state, shop, timestamp) and returns its `code`.
/// `now` is seconds since the epoch.
pub fn verify_callback(
    query: &str,
    client_secret: &Secret,
    expected_state: &str,
    expected_shop: &str,
    now: i64,
) -> Result<String, CallbackError> {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &'static str| params.get(k).ok_or(CallbackError::Missing(k));
    let given = get("hmac")?;
    let message: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "hmac" && k.as_str() != "signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let expected = decode_hex(given).ok_or(CallbackError::Hmac)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, client_secret.expose().as_bytes());
    // `verify` compares in constant time.
    ring::hmac::verify(&key, message.join("&").as_bytes(), &expected)
        .map_err(|_| CallbackError::Hmac)?;
    if get("state")? != expected_state {
        return Err(CallbackError::State);
    }
    let shop = get("shop")?;
    let normalized = super::endpoint::normalize_shop(shop);
    let expected_norm = super::endpoint::normalize_shop(expected_shop)
        .unwrap_or_else(|| expected_shop.to_ascii_lowercase());
    if normalized.as_deref() != Some(expected_norm.as_str()) {
        return Err(CallbackError::Shop {
            got: shop.clone(),
            expected: expected_norm,
        });
    }
    let ts: i64 = get("timestamp")?
        .parse()
        .map_err(|_| CallbackError::Missing("timestamp"))?;
    let age = now - ts;
    if age.unsigned_abs() > MAX_SKEW.as_secs() {
        return Err(CallbackError::Stale { age_secs: age });
    }
    Ok(get("code")?.clone())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Verifies the callback, then exchanges its code for an expiring offline token.
pub async fn complete(
    endpoint: &OauthEndpoint,
    client_id: &str,
    client_secret: &Secret,
    callback_query: &str,
    expected_state: &str,
) -> Result<StoredToken, CallbackError> {
    let now = chrono::Utc::now().timestamp();
    let code = verify_callback(
        callback_query,
        client_secret,
        expected_state,
        &endpoint.shop,
        now,
    )?;
    Ok(endpoint
        .post(
            &[
                ("client_id", client_id),
                ("client_secret", client_secret.expose()),
                ("code", &code),
                ("expiring", "1"),
            ],
            TokenKind::Offline,
        )
        .await?)
}

/// The query of a pasted callback URL (or of a bare query).
pub fn query_of(pasted: &str) -> String {
    let t = pasted.trim();
    match t.split_once('?') {
        Some((_, q)) => q.split('#').next().unwrap_or_default().to_owned(),
        None => t.to_owned(),
    }
}

/// Waits for the callback on `listener` (answering the browser with a short page), or for
/// a pasted URL on stdin, whichever comes first. Returns the callback's query.
pub async fn wait_for_callback(listener: tokio::net::TcpListener) -> Result<String, CallbackError> {
    let from_listener = async {
        loop {
            let (mut sock, _) = listener
                .accept()
                .await
                .map_err(|e| CallbackError::Io(e.to_string()))?;
            let mut buf = vec![0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
                .await
                .map_err(|_| CallbackError::Io("the browser sent nothing".into()))?
                .map_err(|e| CallbackError::Io(e.to_string()))?;
            let head = String::from_utf8_lossy(&buf[..n]);
            let target = head
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or_default()
                .to_owned();
            let is_callback = target.starts_with("/callback?");
            let page = if is_callback {
                "sheetsync received Shopify's answer; you can close this tab and return to the terminal."
            } else {
                "Not found"
            };
            let status = if is_callback {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
            if is_callback {
                return Ok::<String, CallbackError>(query_of(&target));
            }
        }
    };
    let from_stdin = async {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.contains("code=") => return query_of(&line),
                Ok(Some(_)) => {}
                // No terminal (or it closed): only the listener can answer.
                _ => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        r = from_listener => r,
        q = from_stdin => Ok(q),
        () = tokio::time::sleep(WAIT) => Err(CallbackError::Io("no answer within 10 minutes; run the command again".into())),
    }
}
