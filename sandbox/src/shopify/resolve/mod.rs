//! Root-field handlers. Each returns a superset JSON object (every field the fake knows)
//! that the executor projects onto the query's selection. The mutations check their
//! input as strictly as the live API (SHOPIFY.md §3, the captures in
//! `fixtures/shopify/live/`), apply all-or-nothing where Shopify does, and honour
//! `@idempotent` keys.
//!
//! This file holds the mutation dispatch, idempotent replay and the helpers the handlers
//! share; the handlers sit beside it by root family: `query`, `inventory`, `variants`,
//! `products`, `publications` (bulk operations are [`bulk`](super::bulk)'s).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::Shared;
use super::exec::{FieldCall, FieldFailure, GqlError};
use super::state::StoreData;

mod inventory;
mod products;
mod publications;
mod query;
mod variants;

use inventory::{activate, set_quantities};
use products::{product_create, product_update};
use publications::publish;
pub use query::{each_node, query};
use variants::{bulk_create, bulk_update};

/// Valid `reason`s for inventory changes, in the order the live error message lists them.
const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_canceled",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];
const QTY_LIMIT: i64 = 1_000_000_000;
const MAX_INPUT: usize = 250;
/// Prices and costs must stay below 10^18 (live message "must be less than 1000000000000000000").
const MONEY_LIMIT: Decimal = Decimal::from_parts(2_808_348_672, 232_830_643, 0, false, 0);

/// A remembered idempotent mutation: what it was called with, and what it answered
/// ([`dehydrated`]: store objects by reference).
#[derive(Debug, Clone)]
pub struct IdempotentEntry {
    fingerprint: String,
    response: Value,
}

/// Store objects an answer the fake keeps names by reference only (see [`dehydrated`]).
const BY_REFERENCE: [&str; 4] = ["Product", "ProductVariant", "InventoryItem", "Location"];

/// A mutation's answer as the fake keeps it (idempotency store, ledger of applied
/// mutations): every product, variant, inventory item and location nested in it cut to
/// its `__typename` and `id`. The superset the fake renders is kilobytes per object (an
/// inventory change's item carries its levels, its variant and its product); keeping it
/// for every mutation of a run cost about 100 KB per change. [`rehydrated`] renders the
/// cut objects afresh.
pub(super) fn dehydrated(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let reference = m
                .get("__typename")
                .and_then(Value::as_str)
                .filter(|t| BY_REFERENCE.contains(t))
                .zip(m.get("id").and_then(Value::as_str));
            match reference {
                Some((typename, id)) => json!({ "__typename": typename, "id": id }),
                None => Value::Object(m.iter().map(|(k, v)| (k.clone(), dehydrated(v))).collect()),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(dehydrated).collect()),
        other => other.clone(),
    }
}

/// A kept answer with its store objects rendered as they stand now, as live GraphQL
/// resolves the objects a replayed answer names; an object since deleted stays a stub.
fn rehydrated(data: &StoreData, value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let reference = m
                .get("__typename")
                .and_then(Value::as_str)
                .filter(|t| m.len() == 2 && BY_REFERENCE.contains(t))
                .and(m.get("id").and_then(Value::as_str));
            match reference.map(|id| data.node_json(id)) {
                Some(full) if !full.is_null() => full,
                _ => Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), rehydrated(data, v)))
                        .collect(),
                ),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| rehydrated(data, v)).collect()),
        other => other.clone(),
    }
}

fn user_error(field: Option<Vec<String>>, message: &str, code: Option<&str>) -> Value {
    json!({ "field": field, "message": message, "code": code })
}

fn path(parts: &[&str]) -> Option<Vec<String>> {
    Some(parts.iter().map(|p| (*p).to_owned()).collect())
}

fn arg<'a>(call: &'a FieldCall<'_>, name: &str) -> &'a Value {
    call.args.get(name).unwrap_or(&Value::Null)
}

pub fn mutation(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let idempotent = matches!(call.name, "inventorySetQuantities" | "inventoryActivate");
    if idempotent && call.idempotency_key.is_none() {
        return Err(FieldFailure {
            error: Box::new(
                GqlError::new(
                    "The @idempotent directive is required for this mutation but was not provided.",
                    "BAD_REQUEST",
                )
                .at(call.pos)
                .path(vec![json!(call.response_key)]),
            ),
            nulls_data: false,
            actual_cost: Some(10.0),
            requested_cost: Some(10.0),
        });
    }
    if call.name == "inventorySetQuantities" {
        check_change_from_present(call)?;
    }
    let Some(key) = call.idempotency_key.clone().filter(|_| idempotent) else {
        return run_logged(shared, call);
    };
    // Same key + same arguments → the stored answer, nothing applied again.
    let fingerprint = format!(
        "{}:{}",
        call.name,
        serde_json::to_string(&call.args).unwrap_or_default()
    );
    if let Some(entry) = shared.idempotency.get(&key) {
        if entry.fingerprint == fingerprint {
            return Ok(rehydrated(&shared.data, &entry.response));
        }
        let err = user_error(
            None,
            "The same idempotency key cannot be used with different operation parameters.",
            Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH"),
        );
        return Ok(match call.name {
            "inventoryActivate" => json!({ "inventoryLevel": null, "userErrors": [err] }),
            _ => json!({ "inventoryAdjustmentGroup": null, "userErrors": [err] }),
        });
    }
    let response = run_logged(shared, call)?;
    let kept = shared
        .applied
        .last()
        .map_or(Value::Null, |m| m.response.clone());
    shared.idempotency.insert(
        key,
        IdempotentEntry {
            fingerprint,
            response: kept,
        },
    );
    Ok(response)
}

/// Runs a mutation and records it, [`dehydrated`], in the fake's ledger of applied
/// mutations.
fn run_logged(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let response = run_mutation(shared, call)?;
    shared.applied.push(super::AppliedMutation {
        name: call.name.to_owned(),
        args: serde_json::to_value(&call.args).unwrap_or_default(),
        response: dehydrated(&response),
    });
    Ok(response)
}

fn run_mutation(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    match call.name {
        "inventorySetQuantities" => set_quantities(shared, call),
        "inventoryActivate" => Ok(activate(shared, call)),
        "productVariantsBulkUpdate" => bulk_update(&mut shared.data, call),
        "productUpdate" => Ok(product_update(&mut shared.data, call)),
        "productCreate" => Ok(product_create(&mut shared.data, call)),
        "productVariantsBulkCreate" => bulk_create(&mut shared.data, call),
        "publishablePublish" => Ok(publish(&mut shared.data, call)),
        "bulkOperationRunQuery" => super::bulk::run_query(shared, call),
        "bulkOperationRunMutation" => super::bulk::run_mutation(shared, call),
        "stagedUploadsCreate" => Ok(super::bulk::staged_uploads(shared, call)),
        _ => Ok(Value::Null),
    }
}

/// 2026-04+: every quantity must carry the `changeFromQuantity` key (null allowed).
fn check_change_from_present(call: &FieldCall<'_>) -> Result<(), FieldFailure> {
    let quantities = arg(call, "input")
        .get("quantities")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if quantities.iter().all(|q| {
        q.as_object()
            .is_some_and(|o| o.contains_key("changeFromQuantity"))
    }) {
        return Ok(());
    }
    let mut error = GqlError::new(
        "InventoryQuantityInput must include the following argument: changeFromQuantity.",
        "INVALID_FIELD_ARGUMENTS",
    )
    .at(call.pos)
    .path(vec![json!(call.response_key)]);
    if let Some(p) = call.arg_var_positions.get("input") {
        error = error.at(*p);
    }
    Err(FieldFailure {
        error: Box::new(error),
        nulls_data: false,
        actual_cost: Some(10.0),
        requested_cost: None,
    })
}

fn max_input_error(call: &FieldCall<'_>, arg_path: &[&str], n: usize) -> FieldFailure {
    let mut p = vec![json!(call.response_key)];
    p.extend(arg_path.iter().map(|s| json!(s)));
    FieldFailure {
        error: Box::new(GqlError::new(
            format!(
                "The input array size of {n} is greater than the maximum allowed of {MAX_INPUT}."
            ),
            "MAX_INPUT_SIZE_EXCEEDED",
        )
        .at(call.pos)
        .path(p),
        ),
        nulls_data: false,
        actual_cost: Some(10.0),
        requested_cost: None,
    }
}
