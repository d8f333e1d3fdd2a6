//! `POST /hooks/sheet` (SPEC §10): a change notification from the spreadsheet's Apps
//! Script trigger (`apps-script/sheetsync.gs`).
//!
//! The body is JSON, `{"spreadsheet_id":…,"tab":…,"sent_at":…}`, signed with
//! `X-Sheetsync-Signature: sha256=<hex HMAC-SHA256 of the body's bytes>` under
//! `serve.hook_secret`. The bytes are verified as received, so no canonical form has to be
//! agreed on. What each request is answered, in the order it is checked:
//!
//! - a body over [`MAX_BODY`] bytes: 413;
//! - no signature, a malformed one, or one that does not verify (`ring::hmac::verify`,
//!   constant time): 401;
//! - a body that is not the JSON above, or a `sent_at` that is not RFC 3339: 400 (the
//!   sender holds the secret, so this is its bug, not an attack);
//! - `sent_at` more than 5 minutes from this clock, either way: 401;
//! - a replay (a signature already accepted): 409, and nothing runs. Every genuine
//!   notification carries its own millisecond `sent_at`, so the same signature twice is
//!   a copy; it is remembered while its `sent_at` is fresh, after which the copy fails
//!   the timestamp check instead;
//! - another spreadsheet or tab: 202 `{"status":"ignored"}`;
//! - otherwise 202 `{"status":"accepted"}`, and the notice is queued for the watch loop,
//!   which starts a changed-rows sync (folding the notices of the next second into it).
//!
//! With the shared state ([`HookTarget::Fleet`]) "another spreadsheet or tab" means one
//! that no pair running on this worker names: the notice goes to the pair that does.
//!
//! Nothing here needs the bearer token: the signature is the hook's credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ring::hmac;

use super::health::Clock;
use crate::model::Secret;
use crate::schedule::{Notice, Nudges};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-sheetsync-signature";
/// The largest body accepted: a notification is three short fields.
pub const MAX_BODY: usize = 4 * 1024;
/// How far `sent_at` may be from this clock, either way.
pub const MAX_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The notification's body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    pub spreadsheet_id: String,
    pub tab: String,
    /// RFC 3339 UTC, as JavaScript's `new Date().toISOString()` writes it.
    pub sent_at: String,
}

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("missing X-Sheetsync-Signature header")]
    NoSignature,
    #[error("X-Sheetsync-Signature is not `sha256=<64 hex digits>`")]
    MalformedSignature,
    #[error("the signature does not match the body (check the secret in the script's properties)")]
    BadSignature,
    #[error("the body is not a notification: {0}")]
    BadBody(String),
    #[error("sent_at is more than 5 minutes from the server's clock (check both clocks)")]
    Stale,
    #[error("this notification was received already")]
    Replayed,
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::NoSignature
            | Refused::MalformedSignature
            | Refused::BadSignature
            | Refused::Stale => StatusCode::UNAUTHORIZED,
            Refused::BadBody(_) => StatusCode::BAD_REQUEST,
            Refused::Replayed => StatusCode::CONFLICT,
        }
    }
}

/// What an accepted notification leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// For this config's sheet and tab: queued.
    Queued,
    /// Signed, but for another spreadsheet or tab.
    Ignored,
}

/// `hex(HMAC-SHA256(secret, body))`, as the Apps Script writes it after `sha256=`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex(hmac::sign(&key, body).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Checks notifications for one config's sheet and tab; remembers accepted signatures.
pub struct HookGate {
    key: hmac::Key,
    spreadsheet_id: String,
    tab: String,
    clock: Arc<dyn Clock>,
    /// Accepted signatures, with their `sent_at`, while that is fresh.
    seen: Mutex<HashMap<Vec<u8>, DateTime<Utc>>>,
}

impl std::fmt::Debug for HookGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookGate")
            .field("spreadsheet_id", &self.spreadsheet_id)
            .field("tab", &self.tab)
            .finish_non_exhaustive()
    }
}

impl HookGate {
    pub fn new(secret: &Secret, spreadsheet_id: &str, tab: &str, clock: Arc<dyn Clock>) -> Self {
        HookGate {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes()),
            spreadsheet_id: spreadsheet_id.to_owned(),
            tab: tab.to_owned(),
            clock,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Judges one request: the signature header's value and the body as received.
    /// Returns the notification's `sent_at` with the verdict.
    pub fn check(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(Accepted, DateTime<Utc>), Refused> {
        let (note, sent_at) = self.check_signed(signature, body)?;
        Ok((
            if self.is_ours(&note) {
                Accepted::Queued
            } else {
                Accepted::Ignored
            },
            sent_at,
        ))
    }

    /// Whether `note` names this gate's spreadsheet and tab.
    pub fn is_ours(&self, note: &Notification) -> bool {
        note.spreadsheet_id == self.spreadsheet_id && note.tab == self.tab
    }

    /// Every check but the spreadsheet and tab's: the notification and its `sent_at`.
    pub fn check_signed(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(Notification, DateTime<Utc>), Refused> {
        let signature = signature.ok_or(Refused::NoSignature)?;
        let tag = signature
            .trim()
            .strip_prefix("sha256=")
            .and_then(unhex)
            .filter(|t| t.len() == 32)
            .ok_or(Refused::MalformedSignature)?;
        hmac::verify(&self.key, body, &tag).map_err(|_| Refused::BadSignature)?;
        let note: Notification =
            serde_json::from_slice(body).map_err(|e| Refused::BadBody(e.to_string()))?;
        let sent_at = DateTime::parse_from_rfc3339(&note.sent_at)
            .map_err(|e| Refused::BadBody(format!("sent_at: {e}")))?
            .with_timezone(&Utc);
        let now = self.clock.wall();
        if (now - sent_at).abs() > MAX_SKEW {
            return Err(Refused::Stale);
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            // A signature whose sent_at went stale is refused by the check above anyway.
            seen.retain(|_, at| now - *at <= MAX_SKEW);
            if seen.insert(tag, sent_at).is_some() {
                return Err(Refused::Replayed);
            }
        }
        Ok((note, sent_at))
    }
}

/// Finds the loop of the pair running here for a (spreadsheet id, tab), if any.
pub type PairRoute = dyn Fn(&str, &str) -> Option<Nudges> + Send + Sync;

/// Where an accepted notification goes.
#[derive(Clone)]
pub enum HookTarget {
    /// The config's own watch loop: the gate's spreadsheet and tab.
    One(Nudges),
    /// A fleet worker's pairs: the one running here for the notification's spreadsheet
    /// and tab, if any.
    Fleet(Arc<PairRoute>),
}

/// What the handler needs.
#[derive(Clone)]
pub struct HookState {
    pub gate: Arc<HookGate>,
    pub target: HookTarget,
}

/// The `POST /hooks/sheet` handler.
pub async fn handle(State(hook): State<HookState>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let verdict = hook
        .gate
        .check_signed(signature, &body)
        .map(|(note, sent_at)| {
            let nudges = match &hook.target {
                HookTarget::One(nudges) => hook.gate.is_ours(&note).then(|| nudges.clone()),
                HookTarget::Fleet(route) => route(&note.spreadsheet_id, &note.tab),
            };
            (nudges, sent_at)
        });
    match verdict {
        Ok((Some(nudges), sent_at)) => {
            nudges.push(Notice {
                received: tokio::time::Instant::now(),
                sent_at,
            });
            tracing::debug!(%sent_at, "Sheet change notification accepted");
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "accepted"})),
            )
                .into_response()
        }
        Ok((None, _)) => {
            tracing::info!("A signed notification for another spreadsheet or tab was ignored");
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "ignored"})),
            )
                .into_response()
        }
        Err(refused) => {
            tracing::warn!(reason = %refused, "Sheet change notification refused");
            (
                refused.status(),
                axum::Json(serde_json::json!({"error": refused.to_string()})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::health::ManualClock;

    const SECRET: &str = "a-long-enough-test-secret";

    fn gate(clock: Arc<ManualClock>) -> HookGate {
        HookGate::new(&Secret::new(SECRET), "sheet-1", "Inventory", clock)
    }

    fn body(id: &str, tab: &str, sent_at: DateTime<Utc>) -> Vec<u8> {
        serde_json::json!({
            "spreadsheet_id": id,
            "tab": tab,
            "sent_at": sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .to_string()
        .into_bytes()
    }

    fn header(b: &[u8]) -> String {
        format!("sha256={}", sign(SECRET, b))
    }

    #[test]
    fn signature_time_and_replay_are_checked_in_order() {
        let clock = Arc::new(ManualClock::default());
        let g = gate(clock.clone());
        let now = clock.wall();
        // What the body carries: JavaScript's milliseconds.
        let sent = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let b = body("sheet-1", "Inventory", now);
        assert_eq!(g.check(None, &b), Err(Refused::NoSignature));
        assert_eq!(
            g.check(Some("sha1=00"), &b),
            Err(Refused::MalformedSignature)
        );
        let wrong = format!("sha256={}", sign("another-secret-entirely", &b));
        assert_eq!(g.check(Some(&wrong), &b), Err(Refused::BadSignature));
        // One byte of the body changed: the signature no longer covers it.
        let mut tampered = b.clone();
        tampered[2] ^= 1;
        assert_eq!(
            g.check(Some(&header(&b)), &tampered),
            Err(Refused::BadSignature)
        );

        assert_eq!(g.check(Some(&header(&b)), &b), Ok((Accepted::Queued, sent)));
        assert_eq!(g.check(Some(&header(&b)), &b), Err(Refused::Replayed));

        let old = body(
            "sheet-1",
            "Inventory",
            now - chrono::TimeDelta::seconds(301),
        );
        assert_eq!(g.check(Some(&header(&old)), &old), Err(Refused::Stale));
        let ahead = body(
            "sheet-1",
            "Inventory",
            now + chrono::TimeDelta::seconds(301),
        );
        assert_eq!(g.check(Some(&header(&ahead)), &ahead), Err(Refused::Stale));
        let edge = body(
            "sheet-1",
            "Inventory",
            now - chrono::TimeDelta::seconds(299),
        );
        assert!(g.check(Some(&header(&edge)), &edge).is_ok());

        let other = body("sheet-2", "Inventory", now);
        assert_eq!(
            g.check(Some(&header(&other)), &other),
            Ok((Accepted::Ignored, sent))
        );
        let tab = body("sheet-1", "Archive", now);
        assert_eq!(
            g.check(Some(&header(&tab)), &tab),
            Ok((Accepted::Ignored, sent))
        );
    }

    #[test]
    fn a_replay_stays_refused_once_forgotten() {
        let clock = Arc::new(ManualClock::default());
        let g = gate(clock.clone());
        let b = body("sheet-1", "Inventory", clock.wall());
        assert!(g.check(Some(&header(&b)), &b).is_ok());
        clock.advance(std::time::Duration::from_secs(301));
        // Refused by the clock, and forgotten by the replay memory at the next one.
        assert_eq!(g.check(Some(&header(&b)), &b), Err(Refused::Stale));
        let fresh = body("sheet-1", "Inventory", clock.wall());
        assert!(g.check(Some(&header(&fresh)), &fresh).is_ok());
        assert_eq!(g.seen.lock().unwrap_or_else(|p| p.into_inner()).len(), 1);
    }

    #[test]
    fn a_signed_body_that_is_not_a_notification_is_a_bad_request() {
        let clock = Arc::new(ManualClock::default());
        let g = gate(clock);
        let b = br#"{"spreadsheet_id":"sheet-1","tab":"Inventory","sent_at":"yesterday"}"#;
        assert!(matches!(
            g.check(Some(&header(b)), b),
            Err(Refused::BadBody(_))
        ));
        assert!(matches!(
            g.check(Some(&header(b"[]")), b"[]"),
            Err(Refused::BadBody(_))
        ));
    }
}
