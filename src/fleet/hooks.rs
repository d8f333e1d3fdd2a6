//! What a caller can plug into a fleet worker's pairs (`serve` does, SPEC §10): per
//! pair, the [`Nudges`] that a sheet's change notification pushes, the observer told how
//! each of its ticks ended (health, metrics) and the progress reporter of its store
//! requests (throttling metrics). Without hooks (`fleet run`) pairs run plain `watch`.
//!
//! Boundary: this is only the plug; what is done with a tick is the caller's. The worker
//! attaches a watch pair when its loop starts here and detaches it when the loop ends
//! (released, lost, reloaded), so the caller always knows which pairs run here.

use std::sync::Arc;

use crate::progress::Reporter;
use crate::schedule::{Nudges, TickObserver};

/// Which pair is attached: its name, the sheet a notification names, and the lease
/// grant it runs under (a pair lost and granted again to this worker briefly has two
/// loops here, the old one ending; its detach must not remove the new one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairKey {
    pub name: String,
    pub spreadsheet_id: String,
    pub tab: String,
    pub epoch: i64,
}

/// What one attached pair's loop runs with.
pub struct Attached {
    pub nudges: Nudges,
    pub observer: Arc<dyn TickObserver>,
    pub progress: Option<Reporter>,
}

/// The plug. Called from the pairs' tasks, so it must not block.
pub trait PairHooks: Send + Sync {
    /// A watch pair's loop starts on this worker (under a new lease, or reloaded).
    fn attach(&self, pair: &PairKey) -> Attached;
    /// That loop has ended here; the nudges handed out for it are no longer read.
    fn detach(&self, pair: &PairKey);
}

/// Detaches on drop, so a pair's task detaches however its loop ends.
pub(crate) struct Detach<'a> {
    pub hooks: &'a dyn PairHooks,
    pub key: PairKey,
}

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.hooks.detach(&self.key);
    }
}
