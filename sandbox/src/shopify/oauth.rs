//! The fake's app authentication (SHOPIFY.md §7): `POST /admin/oauth/access_token` for
//! the client-credentials grant (configurable token lifetime), the authorization-code
//! exchange (single-use codes, `expiring=1` for expiring offline tokens) and the refresh
//! grant (rotating refresh tokens); `GET /admin/oauth/authorize` answers as if the
//! merchant approved at once, redirecting to `redirect_uri` with a correct `hmac`.
//! Tokens it issued are accepted by the GraphQL endpoint until they expire, then refused
//! with the real 401 body.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Shopify's client-credentials tokens live 86,399 s; expiring offline ones 3,600 s.
const CLIENT_CREDENTIALS_LIFETIME: Duration = Duration::from_secs(86_399);
const EXPIRING_OFFLINE_LIFETIME: Duration = Duration::from_secs(3_600);
const REFRESH_LIFETIME_SECS: u64 = 7_776_000;

/// The app the fake store knows (Dev Dashboard client id and secret).
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of client-credentials tokens.
    pub token_lifetime: Duration,
    /// Lifetime of expiring offline tokens.
    pub offline_lifetime: Duration,
    /// Granted scopes, as the token endpoint reports them.
    pub scope: String,
    /// When set, issued tokens stop working after this long whatever `expires_in` said
    /// (a token revoked early): the client only learns it from a 401.
    pub revoke_after: Option<Duration>,
}

impl App {
    pub fn new(client_id: &str, client_secret: &str) -> App {
        App {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            token_lifetime: CLIENT_CREDENTIALS_LIFETIME,
            offline_lifetime: EXPIRING_OFFLINE_LIFETIME,
            scope: "write_products,write_inventory,read_locations".into(),
            revoke_after: None,
        }
    }
}

/// What the token endpoint was asked, for assertions (no secrets recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthLog {
    pub grant_type: String,
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct AuthState {
    pub(crate) app: Option<App>,
    /// Issued access tokens and when they stop working (`None`: never).
    issued: HashMap<String, Option<Instant>>,
    codes: HashMap<String, ()>,
    refresh: HashMap<String, ()>,
    counter: u64,
    /// Refuse every issued token at the GraphQL endpoint (an uninstalled app whose
    /// client credentials still mint).
    pub(crate) reject_issued: bool,
    pub(crate) log: Vec<OauthLog>,
}

impl AuthState {
    pub(crate) fn accepts(&self, token: &str) -> bool {
        match self.issued.get(token) {
            Some(exp) => !self.reject_issued && exp.is_none_or(|e| Instant::now() < e),
            None => false,
        }
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:016x}{:08x}", fastrand::u64(..), self.counter)
    }

    fn issue(&mut self, prefix: &str, lifetime: Option<Duration>) -> String {
        let t = self.next(prefix);
        let revoke = self.app.as_ref().and_then(|a| a.revoke_after);
        let lifetime = match (lifetime, revoke) {
            (Some(l), Some(r)) => Some(l.min(r)),
            (l, r) => l.or(r),
        };
        self.issued
            .insert(t.clone(), lifetime.map(|l| Instant::now() + l));
        t
    }

    /// Handles one `POST /admin/oauth/access_token`; `(status, body)`.
    pub(crate) fn token_endpoint(&mut self, params: &BTreeMap<String, String>) -> (u16, Value) {
        let grant = params
            .get("grant_type")
            .cloned()
            .unwrap_or_else(|| "authorization_code".into());
        let (status, body) = self.grant(&grant, params);
        self.log.push(OauthLog {
            grant_type: grant,
            status,
        });
        (status, body)
    }

    fn grant(&mut self, grant: &str, params: &BTreeMap<String, String>) -> (u16, Value) {
        let Some(app) = self.app.clone() else {
            return (404, json!({"errors": "Not Found"}));
        };
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        if get("client_id") != app.client_id || get("client_secret") != app.client_secret {
            return (
                400,
                json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            );
        }
        match grant {
            "client_credentials" => {
                let t = self.issue("shpca_", Some(app.token_lifetime));
                (
                    200,
                    json!({"access_token": t, "scope": app.scope, "expires_in": app.token_lifetime.as_secs()}),
                )
            }
            "authorization_code" => {
                if self.codes.remove(get("code")).is_none() {
                    return (
                        400,
                        json!({"error": "invalid_request", "error_description": "The authorization code was not found or was already used"}),
                    );
                }
                if get("expiring") == "1" {
                    self.expiring_pair(&app)
                } else {
                    let t = self.issue("shpat_", None);
                    (200, json!({"access_token": t, "scope": app.scope}))
                }
            }
            "refresh_token" => {
                if self.refresh.remove(get("refresh_token")).is_none() {
                    return (
                        400,
                        json!({"error": "invalid_grant", "error_description": "The refresh token is invalid or expired"}),
                    );
                }
                self.expiring_pair(&app)
            }
            _ => (
                400,
                json!({"error": "unsupported_grant_type", "error_description": "grant_type is not supported"}),
            ),
        }
    }

    fn expiring_pair(&mut self, app: &App) -> (u16, Value) {
        let t = self.issue("shpat_", Some(app.offline_lifetime));
        let r = self.next("shprt_");
        self.refresh.insert(r.clone(), ());
        (
            200,
            json!({
                "access_token": t,
                "scope": app.scope,
                "expires_in": app.offline_lifetime.as_secs(),
                "refresh_token": r,
                "refresh_token_expires_in": REFRESH_LIFETIME_SECS,
            }),
        )
    }

    /// `GET /admin/oauth/authorize`: the Location of the redirect back to the app, or an
    /// error status.
    pub(crate) fn authorize(
        &mut self,
        shop: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, (u16, String)> {
        let Some(app) = self.app.clone() else {
            return Err((404, "no app is installed on the sandbox store".into()));
        };
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        if get("client_id") != app.client_id {
            return Err((400, "unknown client_id".into()));
        }
        let redirect = get("redirect_uri");
        if !(redirect.starts_with("http://127.0.0.1:") || redirect.starts_with("http://localhost:"))
        {
            return Err((400, "redirect_uri is not whitelisted".into()));
        }
        let code = self.next("");
        self.codes.insert(code.clone(), ());
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let host = base64_url(&format!(
            "admin.shopify.com/store/{}",
            shop.trim_end_matches(".myshopify.com")
        ));
        let mut query: BTreeMap<String, String> = BTreeMap::new();
        query.insert("code".into(), code);
        query.insert("host".into(), host);
        query.insert("shop".into(), shop.to_owned());
        query.insert("state".into(), get("state").to_owned());
        query.insert("timestamp".into(), timestamp);
        let hmac = sign(&app.client_secret, &query);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query {
            ser.append_pair(k, v);
        }
        ser.append_pair("hmac", &hmac);
        let sep = if redirect.contains('?') { '&' } else { '?' };
        Ok(format!("{redirect}{sep}{}", ser.finish()))
    }
}

/// Shopify's callback signature: the sorted `key=value` pairs joined by `&`, HMAC-SHA256
/// with the client secret, lowercase hex.
pub fn sign(secret: &str, params: &BTreeMap<String, String>) -> String {
    let message: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "hmac" && k.as_str() != "signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message.join("&").as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn base64_url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Reads a form or JSON body into flat string pairs.
pub(crate) fn params_of(body: &[u8]) -> BTreeMap<String, String> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
    }
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_shopifys_documented_vector() {
        let mut p = BTreeMap::new();
        p.insert(
            "code".to_owned(),
            "0907a61c0c8d55e99db179b68161bc00".to_owned(),
        );
        p.insert("shop".to_owned(), "some-shop.myshopify.com".to_owned());
        p.insert("state".to_owned(), "0.6784241404160823".to_owned());
        p.insert("timestamp".to_owned(), "1337178173".to_owned());
        assert_eq!(
            sign("hush", &p),
            "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
        );
    }

    #[test]
    fn refresh_tokens_rotate_and_the_old_one_dies() {
        let mut s = AuthState {
            app: Some(App::new("id", "secret")),
            ..AuthState::default()
        };
        let mut p = BTreeMap::new();
        p.insert("client_id".to_owned(), "id".to_owned());
        p.insert("client_secret".to_owned(), "secret".to_owned());
        let (_, first) = s.expiring_pair(&App::new("id", "secret"));
        let old = first["refresh_token"].as_str().unwrap().to_owned();
        p.insert("grant_type".to_owned(), "refresh_token".to_owned());
        p.insert("refresh_token".to_owned(), old.clone());
        let (status, body) = s.token_endpoint(&p);
        assert_eq!(status, 200);
        assert_ne!(body["refresh_token"].as_str().unwrap(), old);
        assert!(s.accepts(body["access_token"].as_str().unwrap()));
        let (status, body) = s.token_endpoint(&p);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
}
