//! Holding one mutation in flight, so a test can kill the client at a known point: the
//! N-th mutation of a kind (e.g. the first `inventorySetQuantities`) is parked either
//! before the fake applies it ("the request never took effect") or after it applied and
//! before the answer leaves ("the request took effect, the answer was lost"), until the
//! test releases or abandons it. Before applying, a query can be held too, by a root
//! field (`productVariants`, `bulkOperation`): a test parks a run in its reads so.
//! The test learns that the request is parked through
//! [`MutationHold::held`], so it never has to guess with sleeps.
//!
//! A hold lives outside the fake's store lock: the parked request awaits while every
//! other request (the test's own reads included) is served as usual.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Where the held request is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldPoint {
    /// Before the fake runs the request: nothing of it has taken effect.
    BeforeApply,
    /// After the fake applied the mutation (it is in `applied_mutations()`), before the
    /// answer is sent.
    AfterApply,
}

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for its request.
    Armed,
    /// Its request is parked.
    Held,
    /// Let go: the request carries on as if it had never been held.
    Released,
    /// Let go by dropping the connection: a request parked before it applied never does.
    Abandoned,
}

/// What the handler does with a request once its hold lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Proceed,
    Drop,
}

struct HoldInner {
    mutation: String,
    nth: usize,
    point: HoldPoint,
    /// Matching requests seen at this hold's point so far.
    seen: AtomicUsize,
    phase: watch::Sender<Phase>,
}

/// A test's handle on one hold; clones share it. Dropping it does not release the hold.
#[derive(Clone)]
pub struct MutationHold {
    inner: Arc<HoldInner>,
}

impl std::fmt::Debug for MutationHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutationHold")
            .field("mutation", &self.inner.mutation)
            .field("nth", &self.inner.nth)
            .field("point", &self.inner.point)
            .field("phase", &*self.inner.phase.borrow())
            .finish()
    }
}

impl MutationHold {
    /// Waits until the request is parked. Returns at once if it already is (or was).
    pub async fn held(&self) {
        let mut rx = self.inner.phase.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|p| *p != Phase::Armed).await;
    }

    /// Whether the request is parked right now.
    pub fn is_held(&self) -> bool {
        *self.inner.phase.borrow() == Phase::Held
    }

    /// Lets the parked request carry on: one held before applying is applied now (if
    /// its client is still connected), one held after applying is answered.
    pub fn release(&self) {
        self.inner.phase.send_replace(Phase::Released);
    }

    /// Lets go of the parked request by dropping its connection without an answer: one
    /// held before applying never takes effect. Use it after killing the client, so
    /// the request cannot land later whatever the HTTP server does with a dead peer.
    pub fn abandon(&self) {
        self.inner.phase.send_replace(Phase::Abandoned);
    }

    /// Counts a request that reached this hold's point; true if it is the one to park.
    fn matches(&self, point: HoldPoint, mutations: &[String]) -> bool {
        if point != self.inner.point
            || *self.inner.phase.borrow() != Phase::Armed
            || !mutations.iter().any(|m| *m == self.inner.mutation)
        {
            return false;
        }
        self.inner.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.inner.nth
    }

    /// Parks the caller until the test lets go.
    async fn park(&self) -> Verdict {
        let mut rx = self.inner.phase.subscribe();
        self.inner.phase.send_replace(Phase::Held);
        tracing::debug!(mutation = %self.inner.mutation, nth = self.inner.nth, point = ?self.inner.point, "Sandbox holding a mutation");
        match rx
            .wait_for(|p| matches!(p, Phase::Released | Phase::Abandoned))
            .await
            .map(|p| *p)
        {
            Ok(Phase::Abandoned) => Verdict::Drop,
            _ => Verdict::Proceed,
        }
    }
}

/// The holds armed on one fake; clones share them.
#[derive(Clone, Default)]
pub(crate) struct Holds {
    armed: Arc<Mutex<Vec<MutationHold>>>,
}

impl Holds {
    pub(crate) fn arm(&self, mutation: &str, nth: usize, point: HoldPoint) -> MutationHold {
        let hold = MutationHold {
            inner: Arc::new(HoldInner {
                mutation: mutation.to_owned(),
                // The first is the 1st: a zero would never match, so it means the first.
                nth: nth.max(1),
                point,
                seen: AtomicUsize::new(0),
                phase: watch::channel(Phase::Armed).0,
            }),
        };
        self.lock().push(hold.clone());
        hold
    }

    /// Whether any hold still waits for a request at `point` (saves parsing otherwise).
    pub(crate) fn waiting_at(&self, point: HoldPoint) -> bool {
        self.lock()
            .iter()
            .any(|h| h.inner.point == point && *h.inner.phase.borrow() == Phase::Armed)
    }

    /// Parks the request if a hold at `point` picks it; what to do with it afterwards.
    pub(crate) async fn gate(&self, point: HoldPoint, mutations: &[String]) -> Verdict {
        // Every hold counts the request, even when an earlier one picks it.
        let mut picked = None;
        for hold in self.lock().iter() {
            if hold.matches(point, mutations) && picked.is_none() {
                picked = Some(hold.clone());
            }
        }
        match picked {
            Some(hold) => hold.park().await,
            None => Verdict::Proceed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MutationHold>> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }
}
