//! The WooCommerce adapter of the store port (SPEC §8): the REST shapes and the pure
//! mapping to the planner's snapshot (`wire`), the paced and retried client with the
//! store probe (`client`), and the [`crate::store::Store`] implementation (`port`).
//!
//! WooCommerce has no compare-and-set, so the adapter says so in its capabilities;
//! what it cannot guarantee is reported, never claimed.

pub mod batch;
pub mod client;
pub mod port;
pub mod wire;

use std::time::Duration;

pub use client::{Probe, WooClient};

/// What can go wrong talking to a WooCommerce store. No variant carries the key or the
/// secret; bodies are kept as short excerpts.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WooError {
    /// The API root is not a URL the key may be sent to (https, or http to loopback).
    #[error("refusing to send the WooCommerce key: woocommerce.url / api_base_url {why}")]
    Transport { why: String },
    /// HTTP 401: the key or secret is wrong, revoked, or its user was deleted.
    #[error(
        "WooCommerce rejected the consumer key (HTTP 401 {code}: {message}); check woocommerce.consumer_key and consumer_secret, or create a new key (WooCommerce → Settings → Advanced → REST API)"
    )]
    Unauthorized { code: String, message: String },
    /// The key may read but not write.
    #[error(
        "the WooCommerce key is read-only: give it Read/Write permission (WooCommerce → Settings → Advanced → REST API → the key → Permissions), or create a Read/Write key"
    )]
    ReadOnlyKey,
    /// 404 `rest_no_route` on the API root itself: not a WooCommerce REST API there.
    #[error(
        "no WooCommerce REST route at the configured address (HTTP 404 rest_no_route): check woocommerce.url, or set woocommerce.api_base_url (sites without pretty permalinks: https://SITE/?rest_route=/wc/v3)"
    )]
    NoRoute,
    /// `cost` is configured and the store's cost of goods feature is off.
    #[error(
        "sheet.columns.cost is set but the store's cost of goods feature is off (WooCommerce would ignore the value): turn it on (WooCommerce → Settings → Advanced → Features → Cost of Goods Sold) or remove the cost column"
    )]
    CogsOff,
    /// What this adapter does not do (a Shopify-only write through the port).
    #[error("not available for a WooCommerce store: {0}")]
    Unsupported(&'static str),
    /// Any other status that is not a success, with WooCommerce's code when the body
    /// carried one (it may be HTML or empty behind a proxy).
    #[error("HTTP {status} from WooCommerce{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Http {
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("request to WooCommerce timed out")]
    Timeout,
    #[error("cannot reach WooCommerce: {0}")]
    Connection(String),
    /// The answer broke off after the request was sent.
    #[error("the answer from WooCommerce was lost: {0}")]
    Lost(String),
    #[error("unexpected response from WooCommerce: {0}")]
    Decode(String),
}

impl WooError {
    /// The error an answer with a failing `status` and `body` says.
    pub fn from_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> WooError {
        let parsed = wire::error_body(body);
        if status == 401 {
            let (code, message) = parsed
                .map(|e| (e.code, e.message))
                .unwrap_or_else(|| (String::new(), excerpt(body)));
            if message.contains("does not have write permissions") {
                return WooError::ReadOnlyKey;
            }
            return WooError::Unauthorized { code, message };
        }
        if status == 404 && parsed.as_ref().is_some_and(|e| e.code == "rest_no_route") {
            return WooError::NoRoute;
        }
        let (code, message) = match parsed {
            Some(e) => (Some(e.code), e.message),
            None => (None, excerpt(body)),
        };
        WooError::Http {
            status,
            code,
            message,
            retry_after,
        }
    }

    /// Worth sending again unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            WooError::Http { status, .. } => crate::http::retryable_status(*status),
            WooError::Timeout | WooError::Connection(_) => true,
            _ => false,
        }
    }

    /// A write that ended so may have been applied (its answer was lost, or the server
    /// failed after accepting it); 429 and 503 were not served.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            WooError::Timeout | WooError::Lost(_) | WooError::Decode(_) => true,
            WooError::Http { status, .. } => *status >= 500 && *status != 503,
            _ => false,
        }
    }

    pub fn server_delay(&self) -> Option<Duration> {
        match self {
            WooError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The merchant's to fix in the config or the store's settings (exit 2).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            WooError::Transport { .. }
                | WooError::ReadOnlyKey
                | WooError::NoRoute
                | WooError::CogsOff
                | WooError::Unsupported(_)
        )
    }
}

/// A short, single-line excerpt of a body that is not WooCommerce's JSON (an HTML error
/// page from a proxy, or nothing).
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return "(empty body)".to_owned();
    }
    let cut: String = flat.chars().take(120).collect();
    if cut.len() < flat.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status_and_body() {
        let ro = br#"{"code":"woocommerce_rest_authentication_error","message":"The API key provided does not have write permissions.","data":{"status":401}}"#;
        assert!(matches!(
            WooError::from_answer(401, None, ro),
            WooError::ReadOnlyKey
        ));
        let bad = br#"{"code":"woocommerce_rest_authentication_error","message":"Consumer secret is invalid.","data":{"status":401}}"#;
        let e = WooError::from_answer(401, None, bad);
        assert!(matches!(e, WooError::Unauthorized { .. }) && !e.is_config());
        let route = br#"{"code":"rest_no_route","message":"No route was found matching the URL and request method","data":{"status":404}}"#;
        assert!(WooError::from_answer(404, None, route).is_config());
        let html = WooError::from_answer(
            503,
            Some(Duration::from_secs(2)),
            b"<html><body>Service Unavailable</body></html>",
        );
        assert!(html.is_retryable() && !html.outcome_unknown());
        assert_eq!(html.server_delay(), Some(Duration::from_secs(2)));
        assert!(html.to_string().contains("Service Unavailable"), "{html}");
        let empty = WooError::from_answer(429, None, b"");
        assert!(empty.is_retryable() && empty.to_string().contains("empty body"));
        let too_many = br#"{"code":"woocommerce_rest_request_entity_too_large","message":"Unable to accept more than 100 items for this request.","data":{"status":413}}"#;
        let e = WooError::from_answer(413, None, too_many);
        assert!(!e.is_retryable() && !e.outcome_unknown());
        assert!(WooError::from_answer(502, None, b"").outcome_unknown());
        assert!(WooError::Timeout.outcome_unknown());
    }
}
