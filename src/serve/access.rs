//! Who may read what (SPEC §10): the status page and `/metrics` are open on loopback
//! when no `serve.token` is set; any other listen address needs the token (refused at
//! start, exit 2); with a token set, the page and metrics need
//! `Authorization: Bearer <token>` on every address. Hooks carry their own signature and
//! `/healthz` is always open, so neither passes through here.
//!
//! The token is compared in constant time, whatever the lengths: both sides are
//! HMAC'd under a key drawn at start and the tags compared with `ring::hmac::verify`.
//!
//! A browser cannot send a bearer header, so the session cookie that `POST /login`
//! ([`super::login`]) sets is accepted in its place. Its value is derived from the token
//! (an HMAC of a fixed label under the token, [`session_value`]), never the token itself:
//! a cookie that leaks does not give the token away, and changing the token ends every
//! session. It is compared the same constant-time way.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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
    /// Drawn at start: the key both sides of a comparison are HMAC'd under.
    key: hmac::Key,
    /// The token's tag under `key`.
    tag: hmac::Tag,
    /// The session cookie's value, and its tag under `key`.
    session: String,
    session_tag: hmac::Tag,
    /// Whether the cookie carries `Secure` (all but loopback, where there is no TLS).
    secure: bool,
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sheetsync_session";
/// How long a browser keeps the cookie: a month, so a phone stays signed in.
pub const SESSION_MAX_AGE_SECS: u64 = 30 * 24 * 3600;
/// What the session value is an HMAC of (under the token). Versioned, so a future
/// change of the cookie's meaning can end old sessions.
const SESSION_LABEL: &[u8] = b"sheetsync serve session v1";

/// The session cookie's value for `token`: lower-case hex HMAC-SHA256 of a fixed label
/// under the token. Deterministic, so sessions outlive a restart of `serve`.
pub fn session_value(token: &Secret) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.expose().as_bytes());
    hmac::sign(&key, SESSION_LABEL)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        let session = session_value(token);
        let session_tag = hmac::sign(&key, session.as_bytes());
        Ok(Bearer(Some(Arc::new(Expected {
            key,
            tag,
            session,
            session_tag,
            secure: true,
        }))))
    }

    /// Whether the session cookie carries `Secure`: it does unless `serve` listens on
    /// loopback (plain HTTP, where a browser would not send a `Secure` cookie back;
    /// `localhost` is the exception browsers make, `127.0.0.1` not everywhere).
    pub fn with_secure_cookie(self, secure: bool) -> Bearer {
        match self.0 {
            Some(e) => match Arc::try_unwrap(e) {
                Ok(mut e) => {
                    e.secure = secure;
                    Bearer(Some(Arc::new(e)))
                }
                Err(shared) => Bearer(Some(shared)),
            },
            None => Bearer(None),
        }
    }

    /// Whether a token is set (the page and metrics are guarded at all).
    pub fn required(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `given` is the token, in constant time.
    pub fn is_token(&self, given: &str) -> bool {
        let Some(expected) = &self.0 else {
            return false;
        };
        hmac::verify(&expected.key, given.as_bytes(), expected.tag.as_ref()).is_ok()
    }

    /// The `Set-Cookie` value of a session, `None` without a token. `over_https`: the
    /// browser reached `serve` over HTTPS (a TLS proxy in front of a loopback `serve`
    /// says so in `X-Forwarded-Proto`), which makes the cookie `Secure` on loopback too.
    pub fn session_cookie(&self, over_https: bool) -> Option<String> {
        let e = self.0.as_ref()?;
        let secure = if e.secure || over_https {
            "; Secure"
        } else {
            ""
        };
        Some(format!(
            "{SESSION_COOKIE}={}; Path=/; Max-Age={SESSION_MAX_AGE_SECS}; HttpOnly; \
             SameSite=Strict{secure}",
            e.session
        ))
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

    /// Whether a request with these headers may pass: the bearer, or the session cookie.
    pub fn allows_request(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.0 else {
            return true;
        };
        if self.allows(headers.get(header::AUTHORIZATION)) {
            return true;
        }
        cookies(headers, SESSION_COOKIE).any(|given| {
            hmac::verify(
                &expected.key,
                given.as_bytes(),
                expected.session_tag.as_ref(),
            )
            .is_ok()
        })
    }
}

/// The values of the cookies named `name` in every `Cookie` header.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim())
        })
}

/// Middleware: 401 with `WWW-Authenticate: Bearer` unless [`Bearer::allows_request`].
/// A browser (it asks for HTML) gets a page pointing to `/login` with its 401.
pub async fn require(State(bearer): State<Bearer>, req: Request, next: Next) -> Response {
    if bearer.allows_request(req.headers()) {
        return next.run(req).await;
    }
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            ],
            "<!doctype html><meta name=\"viewport\" content=\"width=device-width\">\
             <title>sheetsync: sign in</title>\
             <p>This page needs the access token. <a href=\"/login\">Sign in</a></p>\n",
        )
            .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the status page and metrics need `Authorization: Bearer <serve.token>` \
         (or, in a browser, the session cookie of /login)\n",
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

    #[test]
    fn the_session_cookie_is_derived_from_the_token_and_accepted_like_the_bearer() {
        let token = Secret::new("0123456789abcdef");
        let b = Bearer::new(Some(&token)).expect("bearer");
        let value = session_value(&token);
        assert_eq!(value.len(), 64);
        assert!(
            !value.contains("0123456789abcdef"),
            "never the token itself"
        );
        assert_eq!(value, session_value(&token), "stable across restarts");
        assert_ne!(value, session_value(&Secret::new("0123456789abcdeX")));

        let with = |cookie: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_str(cookie).expect("h"));
            headers
        };
        assert!(b.allows_request(&with(&format!("a=b; {SESSION_COOKIE}={value}"))));
        assert!(!b.allows_request(&with(&format!("{SESSION_COOKIE}={value}0"))));
        assert!(!b.allows_request(&with(&format!("{SESSION_COOKIE}=0123456789abcdef"))));
        assert!(!b.allows_request(&with(&format!("other={value}"))));
        assert!(!b.allows_request(&HeaderMap::new()));
        assert!(b.is_token("0123456789abcdef"));
        assert!(!b.is_token("0123456789abcde"));

        let cookie = b.session_cookie(false).expect("cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        let lo = b.with_secure_cookie(false);
        let plain = lo.session_cookie(false).expect("cookie");
        assert!(!plain.contains("Secure"), "{plain}");
        let proxied = lo.session_cookie(true).expect("cookie");
        assert!(proxied.ends_with("; Secure"), "{proxied}");
        assert!(
            Bearer::new(None)
                .expect("b")
                .session_cookie(false)
                .is_none()
        );
    }
}
