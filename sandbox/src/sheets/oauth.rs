//! The fake token endpoint's logic: verifying a service account's RS256 JWT assertion
//! against the sandbox's own test key, the installed-app consent (the authorization
//! endpoint's loopback redirect and the `authorization_code` grant), the refresh-token
//! grant, and the error bodies Google sends for each way this goes wrong.

use std::collections::HashMap;

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value as Json, json};

/// The sandbox's throwaway service-account key (never used anywhere real).
pub const TEST_KEY_PEM: &str = include_str!("test_key.pem");
/// Its public half as a PKCS#1 `RSAPublicKey` DER, derived once with
/// `openssl rsa -in test_key.pem -RSAPublicKey_out -outform DER`.
pub const TEST_PUBLIC_KEY_DER: &[u8] = include_bytes!("test_key_pub.der");
pub const TEST_CLIENT_EMAIL: &str = "sheetsync-sandbox@sheetsync-sandbox.iam.gserviceaccount.com";
pub const TEST_PRIVATE_KEY_ID: &str = "5a4db0c1e7sandbox0000000000000000000000";
/// The OAuth client the refresh-token grant accepts.
pub const TEST_CLIENT_ID: &str = "000000000000-sandbox.apps.googleusercontent.com";
pub const TEST_CLIENT_SECRET: &str = "GOCSPX-sandbox-client-secret";

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token endpoint refusal: status and Google's `{"error","error_description"}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub body: Json,
}

fn refuse(status: u16, error: &str, description: &str) -> Refusal {
    Refusal {
        status,
        body: json!({"error": error, "error_description": description}),
    }
}

fn bad_signature() -> Refusal {
    refuse(400, "invalid_grant", "Invalid JWT Signature.")
}

/// Decodes base64url, with or without `=` padding (yup-oauth2 pads, most libraries don't).
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
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
    // Leftover bits must be zero padding and fewer than a byte's worth of a sextet.
    (bits < 6 && acc == 0).then_some(out)
}

/// Checks a JWT-bearer assertion and returns the scopes it asks for.
/// `token_urls` are the audiences this endpoint answers to; `now` is Unix seconds.
pub fn verify_assertion(
    assertion: &str,
    token_urls: &[String],
    now: i64,
) -> Result<Vec<String>, Refusal> {
    let (signed, sig) = assertion.rsplit_once('.').ok_or_else(bad_signature)?;
    let (head, claims) = signed.split_once('.').ok_or_else(bad_signature)?;
    let decode_json = |part: &str| {
        base64url_decode(part)
            .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
            .ok_or_else(|| refuse(400, "invalid_grant", "Invalid JWT: Failed to parse."))
    };
    let head = decode_json(head)?;
    let claims = decode_json(claims)?;
    if head["alg"] != "RS256" {
        return Err(bad_signature());
    }
    let sig = base64url_decode(sig).ok_or_else(bad_signature)?;
    // The signature covers the segments exactly as sent, padding included.
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, TEST_PUBLIC_KEY_DER)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| bad_signature())?;
    // A valid signature from our key under another issuer is still someone else's account.
    if claims["iss"] != TEST_CLIENT_EMAIL {
        return Err(bad_signature());
    }
    let aud = claims["aud"].as_str().unwrap_or_default();
    if !token_urls.iter().any(|u| u == aud) {
        return Err(refuse(
            400,
            "invalid_grant",
            "Invalid JWT: Failed audience check. The expected audience is the token endpoint URL.",
        ));
    }
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    let timely = matches!((iat, exp), (Some(iat), Some(exp))
        if exp > iat && exp - iat <= 3600 && iat <= now + 300 && exp >= now - 300);
    if !timely {
        return Err(refuse(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(refuse(
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }
    Ok(scopes)
}

/// Checks the OAuth client's id and secret in a token request's form.
fn verify_client(form: &HashMap<String, String>) -> Result<(), Refusal> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != TEST_CLIENT_ID {
        return Err(refuse(
            401,
            "invalid_client",
            "The OAuth client was not found.",
        ));
    }
    if field("client_secret") != TEST_CLIENT_SECRET {
        return Err(refuse(401, "invalid_client", "Unauthorized"));
    }
    Ok(())
}

/// Checks a refresh-token grant's form and returns the scopes the refresh token carries.
pub fn verify_refresh(
    form: &HashMap<String, String>,
    refresh_tokens: &HashMap<String, Vec<String>>,
) -> Result<Vec<String>, Refusal> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    verify_client(form)?;
    refresh_tokens
        .get(field("refresh_token"))
        .cloned()
        .ok_or_else(|| refuse(400, "invalid_grant", "Token has been expired or revoked."))
}

/// An authorization code the consent page handed out, until it is exchanged.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

/// Whether `uri` is a loopback redirect an installed-app (Desktop) client may use:
/// `http://127.0.0.1:PORT[/path]`, `http://[::1]:PORT` or `http://localhost:PORT`.
fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
        && url.query().is_none()
        && url.fragment().is_none()
}

/// The consent page's checks (the person approved): the client, `response_type=code`, a
/// loopback `redirect_uri` and some scopes. Returns what the code will stand for; the
/// refusal is the error page Google shows instead of redirecting.
pub fn consent(query: &HashMap<String, String>) -> Result<IssuedCode, Refusal> {
    let field = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != TEST_CLIENT_ID {
        return Err(refuse(
            401,
            "invalid_client",
            "The OAuth client was not found.",
        ));
    }
    if field("response_type") != "code" {
        return Err(refuse(
            400,
            "unsupported_response_type",
            "Invalid response_type",
        ));
    }
    let redirect_uri = field("redirect_uri");
    if !is_loopback_redirect(redirect_uri) {
        return Err(refuse(
            400,
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.",
        ));
    }
    let scopes: Vec<String> = field("scope")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(refuse(
            400,
            "invalid_request",
            "Missing required parameter: scope",
        ));
    }
    Ok(IssuedCode {
        redirect_uri: redirect_uri.to_owned(),
        scopes,
    })
}

/// Checks an `authorization_code` grant: the client, a code this endpoint issued (each
/// code works once) and the same `redirect_uri` as at consent. Returns the granted scopes.
pub fn verify_code(
    form: &HashMap<String, String>,
    codes: &mut HashMap<String, IssuedCode>,
) -> Result<Vec<String>, Refusal> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    verify_client(form)?;
    let issued = codes
        .remove(field("code"))
        .ok_or_else(|| refuse(400, "invalid_grant", "Bad Request"))?;
    if issued.redirect_uri != field("redirect_uri") {
        return Err(refuse(400, "redirect_uri_mismatch", "Bad Request"));
    }
    Ok(issued.scopes)
}

/// The refusal for a grant type the endpoint does not know.
pub fn unsupported_grant(grant: &str) -> Refusal {
    refuse(
        400,
        "unsupported_grant_type",
        &format!("Invalid grant_type: {grant}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::RsaKeyPair;

    #[test]
    fn base64url_accepts_padding_and_rejects_junk() {
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64url_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode("a+b/").is_none());
    }

    #[test]
    fn committed_public_key_matches_the_private_key() {
        let b64: String = TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64url_decode(&b64.replace('+', "-").replace('/', "_")).unwrap();
        let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(pair.public().as_ref(), TEST_PUBLIC_KEY_DER);
    }

    fn b64(bytes: &[u8], pad: bool) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
            if pad {
                out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
            }
        }
        out
    }

    /// Signs claims with the test key the way yup-oauth2 does (padded) or not.
    fn sign(claims: &Json, pad: bool) -> String {
        let b64_pem: String = TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64url_decode(&b64_pem.replace('+', "-").replace('/', "_")).unwrap();
        let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
        let head = format!(
            "{}.{}",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#, pad),
            b64(claims.to_string().as_bytes(), pad)
        );
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            head.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{head}.{}", b64(&sig, pad))
    }

    #[test]
    fn signed_assertions_are_checked_claim_by_claim() {
        let url = "http://127.0.0.1:9/token".to_owned();
        let urls = vec![url.clone()];
        let now = 1_700_000_000;
        let claims = json!({"iss": TEST_CLIENT_EMAIL, "aud": url, "iat": now, "exp": now + 3595,
                            "scope": "https://www.googleapis.com/auth/spreadsheets", "sub": null});
        for pad in [true, false] {
            let scopes = verify_assertion(&sign(&claims, pad), &urls, now).unwrap();
            assert_eq!(scopes, vec!["https://www.googleapis.com/auth/spreadsheets"]);
        }
        let mut other = claims.clone();
        other["aud"] = json!("https://oauth2.googleapis.com/token");
        let err = verify_assertion(&sign(&other, true), &urls, now).unwrap_err();
        assert!(
            err.body["error_description"]
                .as_str()
                .unwrap()
                .contains("audience")
        );
        let err = verify_assertion(&sign(&claims, true), &urls, now + 7200).unwrap_err();
        assert!(
            err.body["error_description"]
                .as_str()
                .unwrap()
                .contains("short-lived")
        );
        let mut other = claims.clone();
        other["iss"] = json!("someone@else.iam.gserviceaccount.com");
        assert_eq!(
            verify_assertion(&sign(&other, true), &urls, now).unwrap_err(),
            bad_signature()
        );
        // Claims swapped under a valid signature: the signature no longer matches.
        let good = sign(&claims, false);
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_claims = b64(other.to_string().as_bytes(), false);
        parts[1] = &forged_claims;
        assert_eq!(
            verify_assertion(&parts.join("."), &urls, now).unwrap_err(),
            bad_signature()
        );
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn consent_needs_the_client_a_code_response_and_a_loopback_redirect() {
        let ok = [
            ("client_id", TEST_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:4711"),
            ("scope", "https://www.googleapis.com/auth/spreadsheets"),
        ];
        assert!(consent(&form(&ok)).is_ok());
        let mut other = form(&ok);
        other.insert("redirect_uri".into(), "https://evil.example/cb".into());
        assert_eq!(
            consent(&other).unwrap_err().body["error"],
            "redirect_uri_mismatch"
        );
        let mut other = form(&ok);
        other.insert("client_id".into(), "someone-else".into());
        assert_eq!(consent(&other).unwrap_err().status, 401);
    }

    #[test]
    fn a_code_is_exchanged_once_with_the_same_redirect() {
        let issued = IssuedCode {
            redirect_uri: "http://127.0.0.1:4711".into(),
            scopes: vec!["s".into()],
        };
        let mut codes = HashMap::from([("c1".to_owned(), issued.clone())]);
        let grant = [
            ("client_id", TEST_CLIENT_ID),
            ("client_secret", TEST_CLIENT_SECRET),
            ("code", "c1"),
            ("redirect_uri", "http://127.0.0.1:4711"),
        ];
        assert_eq!(verify_code(&form(&grant), &mut codes).unwrap(), vec!["s"]);
        let again = verify_code(&form(&grant), &mut codes).unwrap_err();
        assert_eq!(again.body["error"], "invalid_grant");
        codes.insert("c2".into(), issued);
        let mut moved = form(&grant);
        moved.insert("code".into(), "c2".into());
        moved.insert("redirect_uri".into(), "http://127.0.0.1:9".into());
        assert_eq!(
            verify_code(&moved, &mut codes).unwrap_err().body["error"],
            "redirect_uri_mismatch"
        );
    }

    #[test]
    fn forged_assertions_are_refused() {
        let urls = vec!["http://127.0.0.1:1/token".to_owned()];
        let err = verify_assertion("e30.e30.AAAA", &urls, 0).unwrap_err();
        assert_eq!(err.body["error_description"], "Invalid JWT Signature.");
        assert_eq!(
            verify_assertion("nonsense", &urls, 0).unwrap_err().status,
            400
        );
    }
}
