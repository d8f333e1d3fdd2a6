//! The WooCommerce fake's test hooks: per-request latency, scripted faults (429 with
//! `Retry-After`, 503 with a JSON, HTML or empty body, as hosts and WAFs answer in front
//! of PHP, brief §4.1; a connection dropped before the request lands; a lost answer: the
//! write applied, then the connection dropped), the request log and the count of
//! requests in flight (with the largest seen, for a client's concurrency limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What body a scripted 429 or 503 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultBody {
    /// A WordPress-style `{code, message, data}` JSON error.
    Json,
    /// A host's or WAF's HTML page.
    Html,
    /// Nothing at all (`Content-Length: 0`).
    Empty,
}

/// One scripted fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429, with `Retry-After` when given.
    TooMany {
        retry_after: Option<String>,
        body: FaultBody,
    },
    /// 503, with `Retry-After` when given.
    Unavailable {
        retry_after: Option<String>,
        body: FaultBody,
    },
    /// The connection drops before the fake sees the request: nothing applied.
    DropBefore,
    /// The fake applies the request in full, then the connection drops before the answer.
    LostAnswer,
}

/// Which requests a fault hits, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// `GET`, `POST`, …; `None` for any.
    pub method: Option<String>,
    /// A substring of the URL path (e.g. `/variations/batch`); `None` for any.
    pub path_contains: Option<String>,
    pub fault: Fault,
    /// How many matching requests it still hits.
    pub times: usize,
    /// How many matching requests it lets through first (a run's write-permission probe
    /// is a products batch too).
    pub skip: usize,
}

impl FaultRule {
    /// `fault` on the next `times` requests, whatever they are.
    pub fn next(times: usize, fault: Fault) -> FaultRule {
        FaultRule {
            method: None,
            path_contains: None,
            fault,
            times,
            skip: 0,
        }
    }

    /// `fault` on the next `times` requests with this method whose path contains `path`.
    pub fn matching(method: &str, path: &str, times: usize, fault: Fault) -> FaultRule {
        FaultRule {
            method: Some(method.to_ascii_uppercase()),
            path_contains: Some(path.to_owned()),
            fault,
            times,
            skip: 0,
        }
    }

    /// The same rule, letting the first `n` matching requests through.
    pub fn after(mut self, n: usize) -> FaultRule {
        self.skip = n;
        self
    }

    fn hits(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// The knobs behind the fake's lock.
#[derive(Debug, Default)]
pub struct Knobs {
    pub latency: Duration,
    /// Added per item of a batch write, on top of `latency` (PHP saves the items one
    /// after another, so a batch of 100 takes far longer than a read).
    pub per_batch_item: Duration,
    pub rules: Vec<FaultRule>,
    /// A share of requests that meet a random fault, drawn from a seeded RNG.
    pub random: Option<(f64, fastrand::Rng)>,
    /// Faults injected so far (scripted and random).
    pub injected: usize,
}

/// The faults a random draw picks from, evenly.
const RANDOM_FAULTS: [Fault; 6] = [
    Fault::TooMany {
        retry_after: None,
        body: FaultBody::Html,
    },
    Fault::TooMany {
        retry_after: None,
        body: FaultBody::Json,
    },
    Fault::Unavailable {
        retry_after: None,
        body: FaultBody::Html,
    },
    Fault::Unavailable {
        retry_after: None,
        body: FaultBody::Empty,
    },
    Fault::DropBefore,
    Fault::LostAnswer,
];

impl Knobs {
    /// The fault for this request, if a rule hits it (the first that does, used up once).
    pub fn draw(&mut self, method: &str, path: &str, query: &str) -> Option<Fault> {
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        if let Some(rule) = self.rules.iter_mut().find(|r| r.hits(method, &target)) {
            if rule.skip > 0 {
                rule.skip -= 1;
                return None;
            }
            rule.times -= 1;
            let fault = rule.fault.clone();
            self.rules.retain(|r| r.times > 0);
            self.injected += 1;
            return Some(fault);
        }
        let (share, rng) = self.random.as_mut()?;
        if rng.f64() >= *share {
            return None;
        }
        let mut fault = RANDOM_FAULTS[rng.usize(..RANDOM_FAULTS.len())].clone();
        // Random 429s and 503s say when to come back half of the time.
        if let Fault::TooMany { retry_after, .. } | Fault::Unavailable { retry_after, .. } =
            &mut fault
            && rng.bool()
        {
            *retry_after = Some("0".into());
        }
        self.injected += 1;
        Some(fault)
    }
}

/// One request as the fake received it. Secrets never: the consumer secret in a query
/// string is `[redacted]`, a consumer key cut to its first 7 characters, and the
/// `Authorization` header not kept at all.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    /// The query string, credentials redacted.
    pub query: String,
    pub user_agent: Option<String>,
    /// When it arrived (wall clock).
    pub at: chrono::DateTime<chrono::Utc>,
    /// How long the fake took to answer (latency included).
    pub elapsed: Duration,
    /// The HTTP status answered; `None` when the connection was dropped instead.
    pub status: Option<u16>,
    /// Which key authenticated it: `"read_write"`, `"read"`, `"write"`, or `None`.
    pub key: Option<&'static str>,
    /// How credentials came: `"basic"`, `"query"`, `"oauth1"`, or `None`.
    pub auth: Option<&'static str>,
    /// The scripted fault it met, if any.
    pub fault: Option<Fault>,
    /// A write's JSON body (bodies carry no credentials), for tests that check what a
    /// client sent.
    pub body: Option<serde_json::Value>,
}

/// Requests being handled right now, and the most seen at once.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    pub fn current(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    pub fn reset_max(&self) {
        self.max.store(self.current(), Ordering::SeqCst);
    }
}

/// Counts a request out when its handler ends, however it ends (a dropped connection
/// drops the handler's future too).
pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}
