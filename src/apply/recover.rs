//! Settling what a killed run left open (SPEC §4, "kills"), and the requests an earlier
//! run left open on purpose because their answer was lost and its own re-read failed too
//! (noted `{"outcome": "unknown"}`): requests journaled before sending and never settled
//! are decided by re-reading their items in the snapshot the new run has just taken. They are never replayed: the new plan starts from the store
//! as it now is, so whatever the killed request did is already accounted for.
//!
//! What a journaled body did is the adapter's to judge (`Store::judge_journaled`): only
//! it can read the bytes it prepared. For Shopify:
//! a stock set is all-or-nothing, so it is `applied` when every quantity holds and
//! `failed` (never took effect) otherwise; an activation is `applied` when the level
//! exists; a variant update (partial updates allowed) is `applied` when every sent field
//! holds, `failed` when none does, and `skipped` when only some do; a product update
//! (all-or-nothing) is `applied` when every sent product field holds, `failed` otherwise;
//! a variant creation is `applied` when its SKUs are in the store.
//! A bulk mutation (journaled as its JSONL upload, one variant update a line) is judged
//! like one variant update carrying every line's fields: the job may have run, run in
//! part, or never started, and only the store can tell.

use std::collections::BTreeMap;

use crate::model::LocationName;
use crate::plan::Snapshot;
use crate::state::{StateError, StateStore};
use crate::store::Store;

/// Settles every unsettled request of the scope against `snapshot`; returns how many.
pub fn settle_unsettled(
    store: &dyn Store,
    state: &mut dyn StateStore,
    snapshot: &Snapshot,
    locations: &BTreeMap<LocationName, String>,
) -> Result<usize, StateError> {
    let open = state.unsettled_requests()?;
    for req in &open {
        let (outcome, note) = store.judge_journaled(&req.operation, &req.body, snapshot, locations);
        tracing::info!(
            key = %req.key,
            run = %req.run_id,
            outcome = outcome.as_str(),
            "Settled a request a previous run left open"
        );
        state.settle_request(
            req.id,
            outcome,
            &serde_json::json!({ "recovered": note }).to_string(),
        )?;
    }
    Ok(open.len())
}
