//! Fault knobs for both fakes: a share of 5xx answers, dropped connections (before the
//! request reaches the fake, or after it took effect and before the answer is sent),
//! 429 with `Retry-After`, and latency on every request. Draws come from a seeded RNG,
//! so a test that sends the same requests sees the same faults.
//!
//! A dropped connection is an answer whose body fails before its first byte: hyper then
//! closes the connection, and the client sees it cut off mid-answer, as after a reset.
//!
//! [`LostAnswers`] is the targeted knob: every request carrying one of the named
//! mutations loses its answer (applied first, or not at all), retries included, and the
//! reads that follow may be dropped too, so a test decides what a client that lost the
//! answer can learn afterwards.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What share of requests gets which fault (each in `0.0..=1.0`; they are drawn in this
/// order from one number, so their sum is the share of requests that fail).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Answered 503 (or 500) without reaching the fake.
    pub server_errors: f64,
    /// The connection drops before the request reaches the fake.
    pub drop_before: f64,
    /// The request takes effect, then the connection drops before the answer.
    pub drop_after: f64,
    /// Answered 429 with `Retry-After: {retry_after}`.
    pub too_many: f64,
    pub retry_after: String,
    /// Added before every request is handled.
    pub latency: Duration,
    pub seed: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            server_errors: 0.0,
            drop_before: 0.0,
            drop_after: 0.0,
            too_many: 0.0,
            retry_after: "1".into(),
            latency: Duration::ZERO,
            seed: 1,
        }
    }
}

impl FaultPlan {
    /// `share` of requests fail, split evenly over the four kinds of fault.
    pub fn mixed(share: f64, seed: u64) -> FaultPlan {
        let each = share / 4.0;
        FaultPlan {
            server_errors: each,
            drop_before: each,
            drop_after: each,
            too_many: each,
            retry_after: "0".into(),
            seed,
            ..FaultPlan::default()
        }
    }
}

/// Answers lost for chosen mutations (root fields such as `productUpdate`), on every
/// attempt: the client's retries cannot recover the answer, only a re-read can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostAnswers {
    pub mutations: Vec<String>,
    /// The fake applies the request in full before the connection drops; otherwise the
    /// connection drops before the request reaches it.
    pub applied: bool,
    /// Once an answer was lost, every request that carries no mutation (the client's
    /// re-reads) is dropped before it reaches the fake, so they fail too.
    pub then_drop_reads: bool,
    /// Only the first request of each mutation loses its answer: the client's retry is
    /// answered (as a store answers a request that repeats one it already applied).
    pub first_only: bool,
}

impl LostAnswers {
    pub fn new(mutations: &[&str], applied: bool) -> LostAnswers {
        LostAnswers {
            mutations: mutations.iter().map(|m| (*m).to_owned()).collect(),
            applied,
            then_drop_reads: false,
            first_only: false,
        }
    }

    /// [`LostAnswers::first_only`] on.
    pub fn first_only(mut self) -> LostAnswers {
        self.first_only = true;
        self
    }

    /// [`LostAnswers::then_drop_reads`] on.
    pub fn then_drop_reads(mut self) -> LostAnswers {
        self.then_drop_reads = true;
        self
    }
}

/// What the handler does with one request under [`LostAnswers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Drop the connection before the fake sees the request.
    Before,
    /// Let the fake apply the request, then drop the connection.
    After,
}

#[derive(Debug)]
struct Losing {
    knob: LostAnswers,
    /// An answer was lost already (reads are dropped from then on, if asked).
    tripped: bool,
    /// The mutations whose answer was lost so far.
    lost: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    ServerError,
    DropBefore,
    DropAfter,
    TooMany,
}

struct Active {
    plan: FaultPlan,
    rng: fastrand::Rng,
}

/// A fake's fault knobs; clones share them. Off until [`Faults::set`].
#[derive(Clone, Default)]
pub struct Faults {
    active: Arc<Mutex<Option<Active>>>,
    injected: Arc<Mutex<BTreeMap<Fault, usize>>>,
    losing: Arc<Mutex<Option<Losing>>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("injected", &self.injected())
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Turns faults on (again from the plan's seed).
    pub fn set(&self, plan: FaultPlan) {
        let rng = fastrand::Rng::with_seed(plan.seed);
        *lock(&self.active) = Some(Active { plan, rng });
    }

    /// Turns faults and latency off.
    pub fn clear(&self) {
        *lock(&self.active) = None;
    }

    /// Loses the answers of `knob.mutations` from now on, until [`Faults::keep_answers`].
    pub fn lose_answers(&self, knob: LostAnswers) {
        *lock(&self.losing) = Some(Losing {
            knob,
            tripped: false,
            lost: Vec::new(),
        });
    }

    /// Turns [`Faults::lose_answers`] off.
    pub fn keep_answers(&self) {
        *lock(&self.losing) = None;
    }

    /// Whether answers are being lost (the handler then parses requests to decide).
    pub fn losing_answers(&self) -> bool {
        lock(&self.losing).is_some()
    }

    /// What to do with a request carrying `mutations` (empty: a read) under
    /// [`Faults::lose_answers`], if anything.
    pub fn loss_for(&self, mutations: &[String]) -> Option<Loss> {
        let mut guard = lock(&self.losing);
        let losing = guard.as_mut()?;
        if mutations.is_empty() {
            return (losing.tripped && losing.knob.then_drop_reads).then_some(Loss::Before);
        }
        let mine = mutations
            .iter()
            .find(|m| losing.knob.mutations.contains(m))?;
        if losing.knob.first_only && losing.lost.contains(mine) {
            return None;
        }
        losing.lost.push(mine.clone());
        losing.tripped = true;
        Some(if losing.knob.applied {
            Loss::After
        } else {
            Loss::Before
        })
    }

    /// How many faults of each kind were injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        lock(&self.injected).clone()
    }

    fn draw(&self) -> (Duration, Option<Fault>) {
        let mut guard = lock(&self.active);
        let Some(active) = guard.as_mut() else {
            return (Duration::ZERO, None);
        };
        let p = &active.plan;
        let x = active.rng.f64();
        let mut edge = 0.0;
        let mut fault = None;
        for (share, kind) in [
            (p.server_errors, Fault::ServerError),
            (p.drop_before, Fault::DropBefore),
            (p.drop_after, Fault::DropAfter),
            (p.too_many, Fault::TooMany),
        ] {
            edge += share;
            if x < edge {
                fault = Some(kind);
                break;
            }
        }
        let latency = p.latency;
        drop(guard);
        if let Some(f) = fault {
            *lock(&self.injected).entry(f).or_default() += 1;
        }
        (latency, fault)
    }

    fn retry_after(&self) -> String {
        lock(&self.active)
            .as_ref()
            .map_or_else(|| "1".into(), |a| a.plan.retry_after.clone())
    }
}

/// The axum middleware: `router.layer(from_fn_with_state(faults, faults::inject))`.
pub async fn inject(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    // The token endpoint stays reliable: the OAuth library does not retry, and a failed
    // token fetch says nothing about the API's retries.
    if req.uri().path() == "/token" {
        return next.run(req).await;
    }
    let (latency, fault) = faults.draw();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::ServerError) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"errors":"Service unavailable (sandbox fault)"}"#,
        )
            .into_response(),
        Some(Fault::TooMany) => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("content-type", "application/json"),
                ("retry-after", faults.retry_after().as_str()),
            ],
            r#"{"errors":"Too many requests (sandbox fault)"}"#,
        )
            .into_response(),
        Some(Fault::DropBefore) => dropped(),
        Some(Fault::DropAfter) => {
            // Let the fake apply the request in full, then lose its answer.
            let answer = next.run(req).await;
            let _ = axum::body::to_bytes(answer.into_body(), usize::MAX).await;
            dropped()
        }
    }
}

/// An answer whose body fails at once, so hyper aborts the connection.
pub(crate) fn dropped() -> Response {
    Response::new(Body::new(Broken))
}

struct Broken;

impl hyper::body::Body for Broken {
    type Data = hyper::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: connection dropped",
        ))))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
