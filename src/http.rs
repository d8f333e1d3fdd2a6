//! The one retry policy both API clients share (DESIGN step 5): which failures are
//! retried, how long to wait (capped exponential backoff with full jitter, or what the
//! server asked for), and a debug line for every retry with its reason.
//!
//! The Shopify transport and the Sheets client delegate classify their own failures into
//! a [`Reason`]; everything about timing and giving up lives here, so the two clients
//! cannot drift apart.
//!
//! It also re-exports the one rule for where a secret may be sent in clear ([`check_transport`],
//! which the Shopify endpoint, the bulk file URLs, the Google base URLs and the Google
//! token URIs all apply; it lives in `model::transport`, below config, which checks it too).

use std::time::Duration;

pub use crate::model::transport::{check_transport, is_loopback};

/// The longest `Retry-After` honoured; a server asking for more is treated as down.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts for transient failures (timeouts, dropped connections, 5xx, 429), the
    /// first included.
    pub max_attempts: u32,
    /// Resends after Shopify's `THROTTLED`. They cost nothing, but a bucket drained by
    /// another client of the same app could keep us waiting forever.
    pub max_throttled: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_throttled: 20,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Millisecond waits, for tests that provoke many retries.
    pub fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            max_throttled: 20,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(10),
        }
    }

    /// Full jitter: uniform in `[0, min(cap, base·2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Why a request is being retried.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// An HTTP status the policy retries (429, 408, 5xx, Shopify's 430).
    Status(u16),
    /// Shopify's `THROTTLED`: the bucket did not hold the query's cost.
    Throttled,
    Timeout,
    /// The connection failed or dropped before a full answer arrived.
    Connection,
    /// A GraphQL error that says the server failed (`INTERNAL_SERVER_ERROR`, …).
    ServerError(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Status(s) => write!(f, "HTTP {s}"),
            Reason::Throttled => f.write_str("THROTTLED"),
            Reason::Timeout => f.write_str("timeout"),
            Reason::Connection => f.write_str("connection dropped"),
            Reason::ServerError(code) => write!(f, "server error {code}"),
        }
    }
}

/// Whether an HTTP status is worth sending the same request again for. 400, 401, 403,
/// 404 and the like would fail the same way, so they are not.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 430) || (500..600).contains(&status)
}

/// A `Retry-After` value: delay seconds (Shopify sends fractions, so they are accepted)
/// or an HTTP date, relative to `now`. `None` when absent or unreadable.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_SERVER_WAIT.as_secs_f64())));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or_default().min(MAX_SERVER_WAIT))
}

/// The retry state of one request: counts attempts and decides each next wait.
#[derive(Debug)]
pub struct Retries {
    policy: RetryPolicy,
    service: &'static str,
    /// Transient failures so far (THROTTLED not included).
    failures: u32,
    throttled: u32,
}

impl Retries {
    pub fn new(policy: RetryPolicy, service: &'static str) -> Retries {
        Retries {
            policy,
            service,
            failures: 0,
            throttled: 0,
        }
    }

    /// Attempts that failed so far (at least one: the caller asks after a failure).
    pub fn attempts(&self) -> u32 {
        (self.failures + self.throttled).max(1)
    }

    /// After a retryable failure: how long to wait before sending the same request
    /// again, or `None` when the policy is spent. `server_wait` is what the server asked
    /// for (`Retry-After`, or the time the cost bucket needs) and wins over backoff.
    pub fn next(&mut self, reason: Reason, server_wait: Option<Duration>) -> Option<Duration> {
        let wait = if reason == Reason::Throttled {
            self.throttled += 1;
            if self.throttled > self.policy.max_throttled {
                return None;
            }
            server_wait.unwrap_or_else(|| self.policy.backoff(0))
        } else {
            self.failures += 1;
            if self.failures >= self.policy.max_attempts {
                return None;
            }
            match server_wait {
                Some(w) if w <= MAX_SERVER_WAIT => w,
                Some(_) => return None,
                None => self.policy.backoff(self.failures - 1),
            }
        };
        tracing::debug!(
            service = self.service,
            reason = %reason,
            next_attempt = self.failures + self.throttled + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying request"
        );
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_travel_over_https_or_to_loopback_only() {
        let check = |u: &str| check_transport(&url::Url::parse(u).unwrap());
        for ok in [
            "https://oauth2.googleapis.com/token",
            "https://sheets.googleapis.com/",
            "http://127.0.0.1:9000/token",
            "http://127.3.4.5/",
            "http://[::1]:8080/",
            "http://localhost:8080/",
            "http://LOCALHOST/",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://oauth2.googleapis.com/token",
            "http://sheets.googleapis.com/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_throttled: 2,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(250),
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_the_cap() {
        let p = policy();
        let waits: Vec<Duration> = (0..200).map(|n| p.backoff(n % 8)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(250)));
        assert!(p.backoff(0) <= Duration::from_millis(100));
        // Full jitter spreads waits over the whole range, not around a midpoint.
        assert!(waits.iter().any(|w| *w < Duration::from_millis(50)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(150)));
    }

    #[test]
    fn transient_failures_stop_after_max_attempts() {
        let mut r = Retries::new(policy(), "test");
        let waits: Vec<bool> = (0..5)
            .map(|_| r.next(Reason::Status(503), None).is_some())
            .collect();
        assert_eq!(waits, [true, true, true, false, false]);
    }

    #[test]
    fn server_waits_win_over_backoff_and_absurd_ones_give_up() {
        let mut r = Retries::new(policy(), "test");
        assert_eq!(
            r.next(Reason::Status(429), Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            r.next(Reason::Status(503), Some(Duration::from_secs(3600))),
            None
        );
    }

    #[test]
    fn throttled_has_its_own_budget_and_waits_what_the_bucket_needs() {
        let mut r = Retries::new(policy(), "test");
        let need = Duration::from_millis(1234);
        assert_eq!(r.next(Reason::Throttled, Some(need)), Some(need));
        assert_eq!(r.next(Reason::Throttled, Some(need)), Some(need));
        assert_eq!(r.next(Reason::Throttled, Some(need)), None);
        // Transient failures are counted apart.
        assert!(r.next(Reason::Timeout, None).is_some());
    }

    #[test]
    fn retry_after_reads_seconds_fractions_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("99999", now), Some(MAX_SERVER_WAIT));
    }

    #[test]
    fn only_transient_statuses_are_retryable() {
        for s in [408, 429, 430, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 402, 403, 404, 409, 423] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}
