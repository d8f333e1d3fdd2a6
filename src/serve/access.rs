//! Who may read what (SPEC §10): the status page and `/metrics` are open on loopback
//! when no `serve.token` is set; any other listen address needs the token (refused at
//! start, exit 2); with a token set, the page and metrics need
//! `Authorization: Bearer <token>` on every address. Hooks carry their own signature and
//! `/healthz` is always open, so neither passes through here.
//!
//! The token is compared in constant time, whatever the lengths: both sides are
//! HMAC'd under a key drawn at start and the tags compared with `ring::hmac::verify`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::hmac;
use ring::rand::SystemRandom;

use crate::model::Secret;

/// Why `serve` refuses to start on an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "--listen {0} is not a loopback address: set serve.token first (the status page and \
         metrics then need it as a bearer token), or listen on 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    #[error("cannot draw a random key: {0}")]
    Random(String),
}

/// Refuses a non-loopback address without a token.
pub fn check_listen(addr: SocketAddr, token: Option<&Secret>) -> Result<(), AccessError> {
    if addr.ip().is_loopback() || token.is_some() {
        Ok(())
    } else {
        Err(AccessError::TokenRequired(addr))
    }
}

/// The bearer check of the page and metrics; `None` lets every request through (no
/// token on loopback).
#[derive(Clone)]
pub struct Bearer(Option<Arc<Expected>>);

pub struct Expected {
    key: hmac::Key,
    tag: hmac::Tag,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(required)"
        } else {
            "Bearer(open)"
        })
    }
}

impl Bearer {
    pub fn new(token: Option<&Secret>) -> Result<Bearer, AccessError> {
        let Some(token) = token else {
            return Ok(Bearer(None));
        };
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| AccessError::Random("the OS random source failed".to_owned()))?;
        let tag = hmac::sign(&key, token.expose().as_bytes());
        Ok(Bearer(Some(Arc::new(Expected { key, tag }))))
    }

    /// Whether a request with this `Authorization` header may pass.
    pub fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(expected) = &self.0 else {
            return true;
        };
        let Some(given) = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        hmac::verify(
            &expected.key,
            given.trim().as_bytes(),
            expected.tag.as_ref(),
        )
        .is_ok()
    }
}

/// Middleware: 401 with `WWW-Authenticate: Bearer` unless [`Bearer::allows`].
pub async fn require(State(bearer): State<Bearer>, req: Request, next: Next) -> Response {
    if bearer.allows(req.headers().get(header::AUTHORIZATION)) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the status page and metrics need `Authorization: Bearer <serve.token>`\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        let token = Secret::new("0123456789abcdef");
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!());
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap_or_else(|_| unreachable!());
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(check_listen(lo, None), Ok(()));
        assert_eq!(check_listen(lo6, None), Ok(()));
        assert_eq!(
            check_listen(any, None),
            Err(AccessError::TokenRequired(any))
        );
        assert_eq!(check_listen(any, Some(&token)), Ok(()));
    }

    #[test]
    fn the_bearer_must_match_exactly() {
        let open = Bearer::new(None).expect("bearer");
        assert!(open.allows(None));
        let b = Bearer::new(Some(&Secret::new("0123456789abcdef"))).expect("bearer");
        let h = |s: &str| HeaderValue::from_str(s).expect("header");
        assert!(b.allows(Some(&h("Bearer 0123456789abcdef"))));
        assert!(!b.allows(None));
        assert!(!b.allows(Some(&h("Bearer 0123456789abcde"))));
        assert!(!b.allows(Some(&h("Bearer 0123456789abcdefX"))));
        assert!(!b.allows(Some(&h("Basic 0123456789abcdef"))));
        assert!(!b.allows(Some(&h("0123456789abcdef"))));
    }
}
