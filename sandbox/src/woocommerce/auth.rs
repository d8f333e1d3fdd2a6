//! Who a request is, as `WC_REST_Authentication` decides it (brief §2, C-AUTH): the
//! consumer key and secret from the query string first, else HTTP Basic, both only when
//! the site is on SSL; an unknown key leaves the caller anonymous; a known key with the
//! wrong secret is a 401 before any route runs; a key's read/write scope is checked per
//! HTTP method before dispatch. OAuth 1.0a is not implemented (see [`Caller`]).

use super::answer::{Answer, WooError};

/// A key's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadWrite,
}

/// A REST API key the fake accepts.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub permission: Permission,
}

/// Who made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No usable credentials: WordPress's anonymous user, refused by each route's
    /// permission check.
    Anonymous,
    /// Authenticated by the key at this index of the fake's keys.
    Key(usize, Permission),
}

/// How the credentials came (for the request log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    Basic,
    QueryString,
    OAuth1,
}

impl AuthMethod {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            AuthMethod::None => None,
            AuthMethod::Basic => Some("basic"),
            AuthMethod::QueryString => Some("query"),
            AuthMethod::OAuth1 => Some("oauth1"),
        }
    }
}

/// The outcome of authentication: a caller, or an error answered for every route.
pub struct Authenticated {
    pub caller: Caller,
    pub method: AuthMethod,
    pub error: Option<Answer>,
}

/// Reads the credentials of one request.
pub fn authenticate(
    keys: &[ApiKey],
    ssl: bool,
    query: &[(String, String)],
    authorization: Option<&str>,
) -> Authenticated {
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let anonymous = |method| Authenticated {
        caller: Caller::Anonymous,
        method,
        error: None,
    };
    if ssl {
        // The query string wins over the header ("If the $_GET parameters are present,
        // use those first").
        let (pair, method) = match (q("consumer_key"), q("consumer_secret")) {
            (Some(k), Some(s)) => (Some((k.to_owned(), s.to_owned())), AuthMethod::QueryString),
            _ => (authorization.and_then(basic_credentials), AuthMethod::Basic),
        };
        // An unknown key is not an error: the request goes on as anonymous.
        if let Some((key, secret)) = pair.filter(|(k, s)| !k.is_empty() && !s.is_empty())
            && let Some((i, k)) = keys.iter().enumerate().find(|(_, k)| k.consumer_key == key)
        {
            if constant_time_eq(k.consumer_secret.as_bytes(), secret.as_bytes()) {
                return Authenticated {
                    caller: Caller::Key(i, k.permission),
                    method,
                    error: None,
                };
            }
            let mut answer = WooError::new(
                401,
                "woocommerce_rest_authentication_error",
                "Consumer secret is invalid.",
            )
            .answer();
            // Brief §2: the Basic realm WooCommerce sends with this error.
            answer.headers.push((
                    "www-authenticate".into(),
                    "Basic realm=\"WooCommerce API. Use a consumer key in the username field and a consumer secret in the password field.\"".into(),
                ));
            return Authenticated {
                caller: Caller::Anonymous,
                method,
                error: Some(answer),
            };
        }
    }
    // OAuth 1.0a (plain HTTP sites): the fake checks the parameters are complete and the
    // key known, but does not verify signatures, so it refuses every signed request
    // (sheetsync uses HTTP Basic only, SPEC §8).
    let oauth = [
        "oauth_consumer_key",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_signature",
        "oauth_signature_method",
    ];
    let missing: Vec<&str> = oauth.iter().copied().filter(|p| q(p).is_none()).collect();
    if missing.len() == oauth.len() {
        return anonymous(AuthMethod::None);
    }
    let error = if !missing.is_empty() {
        let noun = if missing.len() == 1 {
            "parameter"
        } else {
            "parameters"
        };
        WooError::new(
            401,
            "woocommerce_rest_authentication_missing_parameter",
            &format!("Missing OAuth {noun} {}", missing.join(", ")),
        )
    } else if !keys
        .iter()
        .any(|k| Some(k.consumer_key.as_str()) == q("oauth_consumer_key"))
    {
        WooError::new(
            401,
            "woocommerce_rest_authentication_error",
            "Consumer key is invalid.",
        )
    } else {
        WooError::new(
            401,
            "woocommerce_rest_authentication_error",
            "Invalid signature - provided signature does not match.",
        )
    };
    Authenticated {
        caller: Caller::Anonymous,
        method: AuthMethod::OAuth1,
        error: Some(error.answer()),
    }
}

/// `check_permissions`: the key's scope against the HTTP method, before dispatch.
pub fn check_scope(caller: Caller, method: &str) -> Option<WooError> {
    let Caller::Key(_, perm) = caller else {
        return None;
    };
    let (needs_read, needs_write) = match method {
        "GET" | "HEAD" => (true, false),
        "POST" | "PUT" | "PATCH" | "DELETE" => (false, true),
        "OPTIONS" => return None,
        _ => {
            return Some(WooError::new(
                401,
                "woocommerce_rest_authentication_error",
                "Unknown request method.",
            ));
        }
    };
    if needs_read && perm == Permission::Write {
        return Some(WooError::new(
            401,
            "woocommerce_rest_authentication_error",
            "The API key provided does not have read permissions.",
        ));
    }
    if needs_write && perm == Permission::Read {
        return Some(WooError::new(
            401,
            "woocommerce_rest_authentication_error",
            "The API key provided does not have write permissions.",
        ));
    }
    None
}

/// `user:password` from `Authorization: Basic …`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Standard base64 (padding optional); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (for the tests' Basic headers).
#[cfg(test)]
pub fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
