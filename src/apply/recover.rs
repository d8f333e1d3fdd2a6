//! Settling what a killed run left open (SPEC §4, "kills"): requests journaled before
//! sending and never settled are decided by re-reading their items in the snapshot the
//! new run has just taken. They are never replayed: the new plan starts from the store
//! as it now is, so whatever the killed request did is already accounted for.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::model::LocationName;
use crate::plan::Snapshot;
use crate::state::{Outcome, State, StateError};

/// Settles every unsettled request of the scope against `snapshot`; returns how many.
pub fn settle_unsettled(
    state: &mut State,
    snapshot: &Snapshot,
    locations: &BTreeMap<LocationName, String>,
) -> Result<usize, StateError> {
    let open = state.unsettled_requests()?;
    for req in &open {
        let body: Json = serde_json::from_slice(&req.body).unwrap_or_default();
        let (outcome, note) = match req.operation.as_str() {
            "inventorySetQuantities" => stock_in_effect(&body, snapshot, locations),
            _ => (
                Outcome::Skipped,
                "outcome unknown after a crash; not replayed, the next plan re-read the store"
                    .to_owned(),
            ),
        };
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

/// Whether every quantity of an `inventorySetQuantities` body holds in the snapshot.
fn stock_in_effect(
    body: &Json,
    snapshot: &Snapshot,
    locations: &BTreeMap<LocationName, String>,
) -> (Outcome, String) {
    let quantities = body["variables"]["input"]["quantities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let held = |q: &Json| {
        let item = q["inventoryItemId"].as_str().unwrap_or_default();
        let location = q["locationId"].as_str().unwrap_or_default();
        let Some(name) = locations
            .iter()
            .find(|(_, id)| id.as_str() == location)
            .map(|(n, _)| n)
        else {
            return false;
        };
        snapshot
            .variants
            .values()
            .flatten()
            .filter(|v| v.inventory_item_id == item)
            .any(|v| v.stock.get(name).copied().flatten() == q["quantity"].as_i64())
    };
    if !quantities.is_empty() && quantities.iter().all(held) {
        (
            Outcome::Applied,
            "re-read after a crash: the quantities are in effect".into(),
        )
    } else {
        (
            Outcome::Failed,
            "re-read after a crash: the quantities are not all in effect; not replayed".into(),
        )
    }
}
