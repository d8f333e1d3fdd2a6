//! What can go wrong talking to Shopify, and whether trying again can help.
//!
//! Retryability is decided here, on the error, so the transport's retry loop and the
//! executor ask the same question the same way (STYLE.md §6). No variant ever carries the
//! access token: response bodies are kept only as short excerpts of what Shopify said.

use std::time::Duration;

/// One entry of a top-level GraphQL `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlError {
    pub code: Option<String>,
    pub message: String,
}

impl From<crate::auth::endpoint::EndpointError> for StoreError {
    fn from(e: crate::auth::endpoint::EndpointError) -> StoreError {
        use crate::auth::endpoint::EndpointError;
        match e {
            EndpointError::InvalidShop(shop) => StoreError::InvalidShop(shop),
            EndpointError::InvalidBaseUrl { url, reason } => {
                StoreError::InvalidBaseUrl { url, reason }
            }
            EndpointError::Client(message) => StoreError::Connection(message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configured shop is not a `*.myshopify.com` domain.
    #[error(
        "shop {0:?} is not a Shopify shop domain: use NAME.myshopify.com (or admin.shopify.com/store/NAME)"
    )]
    InvalidShop(String),
    #[error("invalid shopify.api_base_url {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    /// A request was about to carry the token to a host other than the shop's.
    #[error("refusing to send the Shopify access token to {host}: expected {expected}")]
    ForeignHost { host: String, expected: String },
    /// HTTP 401: the token is invalid, expired or revoked.
    #[error("Shopify rejected the access token (HTTP 401): renew it or check shopify.auth")]
    Unauthorized,
    /// Obtaining or renewing the access token failed.
    #[error(transparent)]
    Auth(crate::auth::AuthError),
    /// HTTP 403, or a GraphQL `ACCESS_DENIED`: a scope is missing.
    #[error("Shopify denied access: {message}")]
    AccessDenied { message: String },
    /// HTTP 200 with `THROTTLED`: the cost bucket cannot afford the query yet.
    #[error(
        "throttled by Shopify (query cost {requested}, {available} available, restoring {restore_rate}/s)"
    )]
    Throttled {
        requested: f64,
        available: f64,
        restore_rate: f64,
    },
    /// The request costs more than the store's whole cost bucket holds (a store with
    /// reduced limits): no wait can ever let it run, and its pages are already at their
    /// smallest.
    #[error(
        "{operation} costs {cost} points, more than the {maximum} points the store's cost bucket holds: no wait can let it run"
    )]
    ExceedsBucket {
        operation: String,
        cost: f64,
        maximum: f64,
    },
    /// The query alone costs more than Shopify allows one query to cost (1,000 points).
    #[error("query cost {cost:?} exceeds Shopify's single-query maximum {max:?}")]
    MaxCostExceeded { cost: Option<f64>, max: Option<f64> },
    /// Any other HTTP status that is not a success.
    #[error("HTTP {status} from Shopify: {excerpt}")]
    Http {
        status: u16,
        retry_after: Option<Duration>,
        excerpt: String,
    },
    /// Top-level GraphQL errors other than the ones above.
    #[error("GraphQL errors from Shopify: {}", format_errors(.0))]
    Graphql(Vec<GraphqlError>),
    #[error("request to Shopify timed out")]
    Timeout,
    /// Connecting failed or the connection dropped.
    #[error("cannot reach Shopify: {0}")]
    Connection(String),
    /// A response we could not read (not JSON, or not the shape the operation promises).
    #[error("unexpected response from Shopify: {0}")]
    Decode(String),
    /// A bulk export that Shopify refused, failed, or whose file could not be read.
    #[error("Shopify bulk export failed: {0}")]
    Bulk(String),
    /// A bulk job still running when `sync.bulk_timeout` ran out.
    #[error(
        "Shopify bulk operation {id} was still {status} after {} (sync.bulk_timeout); run again later, or raise sync.bulk_timeout",
        humantime::format_duration(*.after)
    )]
    BulkTimeout {
        id: String,
        status: String,
        after: Duration,
    },
    /// The run was interrupted (SIGINT/SIGTERM) before this request was sent.
    #[error("interrupted before the request was sent")]
    Interrupted,
    /// The run was interrupted while waiting to resend a request that had failed: the
    /// failed attempt may have reached Shopify.
    #[error("interrupted while waiting to resend after: {0}")]
    InterruptedRetry(Box<StoreError>),
    /// What a WooCommerce store answered (SPEC §8); it classifies itself.
    #[error(transparent)]
    WooCommerce(crate::store::woocommerce::WooError),
}

fn format_errors(errors: &[GraphqlError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| match &e.code {
            Some(code) => format!("{code}: {}", e.message),
            None => e.message.clone(),
        })
        .collect();
    parts.join("; ")
}

impl StoreError {
    /// Whether the same request may succeed if sent again, unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Throttled { .. } | StoreError::Timeout | StoreError::Connection(_) => true,
            // 429 and 430 (security rejection) are rate limits; 5xx is Shopify's side.
            StoreError::Http { status, .. } => crate::http::retryable_status(*status),
            StoreError::Auth(e) => e.is_retryable(),
            StoreError::Graphql(errors) => errors.iter().any(|e| {
                matches!(
                    e.code.as_deref(),
                    Some("INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE")
                )
            }),
            StoreError::InvalidShop(_)
            | StoreError::InvalidBaseUrl { .. }
            | StoreError::ForeignHost { .. }
            | StoreError::Unauthorized
            | StoreError::AccessDenied { .. }
            | StoreError::MaxCostExceeded { .. }
            | StoreError::ExceedsBucket { .. }
            | StoreError::Decode(_)
            | StoreError::Bulk(_)
            | StoreError::BulkTimeout { .. }
            | StoreError::Interrupted
            | StoreError::InterruptedRetry(_) => false,
            StoreError::WooCommerce(e) => e.is_retryable(),
        }
    }

    /// Whether a mutation that ended with this error may still have run: its answer
    /// was lost (a timeout, a dropped connection, an answer we could not read) or the
    /// store failed on its side (5xx, a GraphQL internal error). Errors that say the
    /// request was refused before it ran (throttled, 429, 4xx, auth, a bad request) are
    /// definite: nothing of it took effect.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            StoreError::Timeout | StoreError::Connection(_) | StoreError::Decode(_) => true,
            StoreError::Http { status, .. } => *status >= 500,
            StoreError::Graphql(errors) => errors.iter().any(|e| {
                matches!(
                    e.code.as_deref(),
                    Some("INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE")
                )
            }),
            StoreError::InvalidShop(_)
            | StoreError::InvalidBaseUrl { .. }
            | StoreError::ForeignHost { .. }
            | StoreError::Unauthorized
            | StoreError::Auth(_)
            | StoreError::AccessDenied { .. }
            | StoreError::Throttled { .. }
            | StoreError::MaxCostExceeded { .. }
            | StoreError::Bulk(_)
            | StoreError::Interrupted
            | StoreError::ExceedsBucket { .. }
            | StoreError::BulkTimeout { .. } => false,
            // An earlier attempt was sent: it may have landed unless it was refused.
            StoreError::InterruptedRetry(last) => last.outcome_unknown(),
            StoreError::WooCommerce(e) => e.outcome_unknown(),
        }
    }

    /// How long the server asked us to wait, when it said so.
    pub fn server_delay(&self) -> Option<Duration> {
        match self {
            StoreError::Throttled {
                requested,
                available,
                restore_rate,
            } => Some(throttle_wait(*requested, *available, *restore_rate)),
            StoreError::Http { retry_after, .. } => *retry_after,
            StoreError::WooCommerce(e) => e.server_delay(),
            _ => None,
        }
    }

    /// Whether the run's cancellation ended the request (sent or not).
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            StoreError::Interrupted | StoreError::InterruptedRetry(_)
        )
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> StoreError {
        // `without_url`: the URL holds no secret, but errors stay short and uniform.
        let retry = e.is_timeout();
        let connect = e.is_connect() || e.is_request() || e.is_body();
        let msg = e.without_url().to_string();
        if retry {
            StoreError::Timeout
        } else if connect {
            StoreError::Connection(msg)
        } else {
            StoreError::Decode(msg)
        }
    }
}

/// SHOPIFY.md §2: wait `(requested − currentlyAvailable) / restoreRate` seconds.
pub fn throttle_wait(requested: f64, available: f64, restore_rate: f64) -> Duration {
    let rate = if restore_rate > 0.0 {
        restore_rate
    } else {
        1.0
    };
    Duration::from_secs_f64(((requested - available) / rate).clamp(0.0, 3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> StoreError {
        StoreError::Http {
            status,
            retry_after: None,
            excerpt: String::new(),
        }
    }

    #[test]
    fn a_lost_or_failed_answer_leaves_the_outcome_unknown_and_a_refusal_does_not() {
        for unknown in [
            StoreError::Timeout,
            StoreError::Connection("reset".into()),
            StoreError::Decode("truncated".into()),
            http(500),
            http(503),
            StoreError::Graphql(vec![GraphqlError {
                code: Some("INTERNAL_SERVER_ERROR".into()),
                message: "x".into(),
            }]),
        ] {
            assert!(unknown.outcome_unknown(), "{unknown:?}");
        }
        for refused in [
            http(400),
            http(429),
            StoreError::Unauthorized,
            StoreError::Throttled {
                requested: 10.0,
                available: 0.0,
                restore_rate: 50.0,
            },
            StoreError::Graphql(vec![GraphqlError {
                code: Some("BAD_REQUEST".into()),
                message: "x".into(),
            }]),
        ] {
            assert!(!refused.outcome_unknown(), "{refused:?}");
        }
    }

    #[test]
    fn classification() {
        for retryable in [
            StoreError::Throttled {
                requested: 10.0,
                available: 0.0,
                restore_rate: 50.0,
            },
            StoreError::Timeout,
            StoreError::Connection("reset".into()),
            http(429),
            http(500),
            http(502),
            http(503),
            http(504),
            StoreError::Graphql(vec![GraphqlError {
                code: Some("INTERNAL_SERVER_ERROR".into()),
                message: "x".into(),
            }]),
        ] {
            assert!(retryable.is_retryable(), "{retryable:?}");
        }
        for permanent in [
            http(400),
            http(402),
            http(403),
            http(404),
            http(423),
            StoreError::Unauthorized,
            StoreError::AccessDenied {
                message: "x".into(),
            },
            StoreError::MaxCostExceeded {
                cost: Some(2003.0),
                max: Some(1000.0),
            },
            StoreError::ExceedsBucket {
                operation: "Locations".into(),
                cost: 252.0,
                maximum: 100.0,
            },
            StoreError::Graphql(vec![GraphqlError {
                code: Some("BAD_REQUEST".into()),
                message: "x".into(),
            }]),
            StoreError::Decode("x".into()),
        ] {
            assert!(!permanent.is_retryable(), "{permanent:?}");
        }
    }

    #[test]
    fn throttle_delay_follows_the_bucket() {
        let e = StoreError::Throttled {
            requested: 752.0,
            available: 666.0,
            restore_rate: 50.0,
        };
        assert_eq!(e.server_delay(), Some(Duration::from_secs_f64(86.0 / 50.0)));
        assert_eq!(throttle_wait(10.0, 20.0, 50.0), Duration::ZERO);
    }
}
