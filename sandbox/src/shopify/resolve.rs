//! Root-field handlers. Each returns a superset JSON object (every field the fake knows)
//! that the executor projects onto the query's selection. The mutations check their
//! input as strictly as the live API (SHOPIFY.md §3, the captures in
//! `fixtures/shopify/live/`), apply all-or-nothing where Shopify does, and honour
//! `@idempotent` keys.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::Shared;
use super::exec::{self, FieldCall, FieldFailure, GqlError};
use super::state::{StoreData, gid, parse_gid};

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

pub fn query(data: &StoreData, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let id = arg(call, "id").as_str().unwrap_or_default();
    Ok(match call.name {
        "shop" => data.shop_json(),
        "currentAppInstallation" => data.installation_json(),
        "locations" => {
            let include_inactive = arg(call, "includeInactive").as_bool() == Some(true);
            Value::Array(
                data.locations_sorted()
                    .into_iter()
                    .filter(|l| l.active || include_inactive)
                    .map(|l| data.location_json(l))
                    .collect(),
            )
        }
        "productVariants" => variants_connection(data, call),
        "publications" => Value::Array(
            data.publications
                .iter()
                .map(|p| data.publication_json(p))
                .collect(),
        ),
        "productVariantsCount" => {
            let n = data.variants().count() as i64;
            match arg(call, "limit") {
                // The argument defaults to 10,000; an explicit null lifts the cap.
                Value::Null if call.args.contains_key("limit") => {
                    json!({ "count": n, "precision": "EXACT" })
                }
                limit => {
                    let limit = limit.as_i64().unwrap_or(10_000);
                    if n > limit {
                        json!({ "count": limit, "precision": "AT_LEAST" })
                    } else {
                        json!({ "count": n, "precision": "EXACT" })
                    }
                }
            }
        }
        "nodes" => {
            let ids = arg(call, "ids").as_array().cloned().unwrap_or_default();
            if ids.len() > MAX_INPUT {
                return Err(FieldFailure {
                    error: Box::new(GqlError::new(
                        format!(
                            "The input array size of {} is greater than the maximum allowed of {MAX_INPUT}.",
                            ids.len()
                        ),
                        "MAX_INPUT_SIZE_EXCEEDED",
                    )
                    .at(call.pos)
                    .path(vec![json!(call.response_key), json!("ids")]),
                    ),
                    nulls_data: true,
                    actual_cost: Some(0.0),
                    requested_cost: None,
                });
            }
            Value::Array(
                ids.iter()
                    .map(|i| data.node_json(i.as_str().unwrap_or_default()))
                    .collect(),
            )
        }
        "node" => data.node_json(id),
        "productVariant" if parse_gid("ProductVariant", id).is_some() => data.node_json(id),
        "product" if parse_gid("Product", id).is_some() => data.node_json(id),
        "productByIdentifier" => {
            let identifier = arg(call, "identifier");
            let by_id = identifier.get("id").and_then(Value::as_str);
            let by_handle = identifier.get("handle").and_then(Value::as_str);
            match (by_id, by_handle) {
                (Some(id), _) => data.node_json(id),
                (None, Some(h)) => data
                    .product_by_handle(h)
                    .map_or(Value::Null, |p| data.product_json(p)),
                (None, None) => Value::Null,
            }
        }
        "inventoryItem" if parse_gid("InventoryItem", id).is_some() => data.node_json(id),
        "inventoryLevel" if parse_gid("InventoryLevel", id).is_some() => data.node_json(id),
        "location" if parse_gid("Location", id).is_some() => data.node_json(id),
        _ => Value::Null,
    })
}

/// Hands every node of a root connection to `emit`, one at a time, in id order (bulk
/// exports); `false` for a root the fake cannot export.
pub fn each_node(data: &StoreData, root: &str, emit: &mut dyn FnMut(Value)) -> bool {
    match root {
        "productVariants" => {
            let mut all: Vec<_> = data.variants().collect();
            all.sort_by_key(|(_, v)| v.id);
            for (p, v) in all {
                emit(data.variant_json(p, v));
            }
            true
        }
        _ => false,
    }
}

/// `productVariants`, resolved one page at a time: the window is found on ids alone and
/// only its variants are turned into JSON, so a page costs memory and time in proportion
/// to its size, not to the catalogue's. Arguments the window cannot honour (none or both
/// of `first`/`last`, over 250, an unknown cursor) fall back to the whole list, which the
/// executor then rejects with Shopify's error.
fn variants_connection(data: &StoreData, call: &FieldCall<'_>) -> Value {
    let mut all: Vec<_> = data.variants().collect();
    if !all.is_sorted_by_key(|(_, v)| v.id) {
        all.sort_by_key(|(_, v)| v.id);
    }
    let whole = |all: Vec<(&super::state::Product, &super::state::Variant)>| {
        Value::Array(
            all.into_iter()
                .map(|(p, v)| data.variant_json(p, v))
                .collect(),
        )
    };
    let num = |name: &str| arg(call, name).as_i64();
    let (count, from_end) = match (num("first"), num("last")) {
        (Some(n), None) => (n, false),
        (None, Some(n)) => (n, true),
        _ => return whole(all),
    };
    if !(0..=exec::MAX_PAGE).contains(&count) {
        return whole(all);
    }
    if arg(call, "reverse").as_bool() == Some(true) {
        all.reverse();
    }
    // A cursor names the id of the item it follows (see `exec::cursor_for`).
    let position = |name: &str| -> Result<Option<usize>, ()> {
        match arg(call, name).as_str() {
            None => Ok(None),
            Some(c) => {
                let id = exec::cursor_id(c).ok_or(())?;
                all.iter().position(|(_, v)| v.id == id).map(Some).ok_or(())
            }
        }
    };
    let Ok(after) = position("after") else {
        return whole(all);
    };
    let start = after.map_or(0, |i| i + 1);
    let end = match position("before") {
        Ok(Some(i)) => i.max(start),
        _ => all.len(),
    };
    let count = count as usize;
    let window = &all[start..end];
    let (page, has_next, has_prev) = if from_end {
        let skip = window.len().saturating_sub(count);
        (&window[skip..], end < all.len(), skip > 0 || start > 0)
    } else {
        let take = count.min(window.len());
        (
            &window[..take],
            take < window.len() || end < all.len(),
            start > 0,
        )
    };
    json!({
        exec::PAGE_KEY: page.iter().map(|(p, v)| data.variant_json(p, v)).collect::<Vec<_>>(),
        "hasNextPage": has_next,
        "hasPreviousPage": has_prev,
    })
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

fn now_stamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn set_quantities(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    for (sku, location, qty) in std::mem::take(&mut shared.before_next_set) {
        let loc = shared.data.location_by_name(&location).map(|l| l.id);
        if let (Some(loc), Some(v)) = (loc, shared.data.by_sku_mut(&sku)) {
            v.levels.insert(loc, qty);
        }
    }
    let input = arg(call, "input").clone();
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let quantities = input
        .get("quantities")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if quantities.len() > MAX_INPUT {
        return Err(max_input_error(
            call,
            &["input", "quantities"],
            quantities.len(),
        ));
    }
    let rejected =
        |errors: Vec<Value>| json!({ "inventoryAdjustmentGroup": null, "userErrors": errors });

    let mut errors = Vec::new();
    if name != "available" && name != "on_hand" {
        errors.push(user_error(
            path(&["input", "name"]),
            "The quantity name must be either 'available' or 'on_hand'.",
            Some("INVALID_NAME"),
        ));
    }
    if !REASONS.contains(&reason) {
        errors.push(user_error(
            path(&["input", "reason"]),
            &format!(
                "The specified reason is invalid. Valid values are: {}.",
                REASONS.join(", ")
            ),
            Some("INVALID_REASON"),
        ));
    }
    if !errors.is_empty() {
        return Ok(rejected(errors));
    }

    let data = &shared.data;
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut duplicates = HashSet::new();
    let mut plan = Vec::new();
    for (i, q) in quantities.iter().enumerate() {
        let idx = i.to_string();
        let at = |f: &str| path(&["input", "quantities", &idx, f]);
        let item_gid = q
            .get("inventoryItemId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let loc_gid = q
            .get("locationId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let qty = q
            .get("quantity")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let change_from = q.get("changeFromQuantity").and_then(Value::as_i64);
        let variant = parse_gid("InventoryItem", item_gid).and_then(|n| data.by_item(n));
        let location = parse_gid("Location", loc_gid).and_then(|n| data.location(n));
        if variant.is_none() {
            errors.push(user_error(
                at("inventoryItemId"),
                "The specified inventory item could not be found.",
                Some("INVALID_INVENTORY_ITEM"),
            ));
        }
        if location.is_none() {
            errors.push(user_error(
                at("locationId"),
                "The specified location could not be found.",
                Some("INVALID_LOCATION"),
            ));
        }
        if qty > QTY_LIMIT {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be higher than 1,000,000,000.",
                Some("INVALID_QUANTITY_TOO_HIGH"),
            ));
        } else if qty < -QTY_LIMIT {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be lower than -1,000,000,000.",
                Some("INVALID_QUANTITY_TOO_LOW"),
            ));
        } else if name == "on_hand" && qty < 0 {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be negative.",
                Some("INVALID_QUANTITY_NEGATIVE"),
            ));
        }
        let (Some((_, v)), Some(l)) = (variant, location) else {
            continue;
        };
        if let Some(j) = seen.iter().position(|p| *p == (v.inventory_item_id, l.id)) {
            duplicates.insert(j);
            duplicates.insert(i);
        }
        seen.push((v.inventory_item_id, l.id));
        if v.requires_components {
            // Bundle parents derive their stock from their components.
            errors.push(user_error(
                at("inventoryItemId"),
                "The specified inventory item is not allowed to be adjusted via API.",
                Some("NON_MUTABLE_INVENTORY_ITEM"),
            ));
            continue;
        }
        let Some(current) = v.levels.get(&l.id).copied().filter(|_| l.active) else {
            errors.push(user_error(
                at("locationId"),
                "The specified inventory item is not stocked at the location.",
                Some("ITEM_NOT_STOCKED_AT_LOCATION"),
            ));
            continue;
        };
        if let Some(expected) = change_from
            && expected != current
        {
            errors.push(user_error(
                at("changeFromQuantity"),
                "The changeFromQuantity argument no longer matches the persisted quantity.",
                Some("CHANGE_FROM_QUANTITY_STALE"),
            ));
            continue;
        }
        plan.push((v.inventory_item_id, l.id, current, qty));
    }
    let mut dup: Vec<usize> = duplicates.into_iter().collect();
    dup.sort_unstable();
    for i in dup {
        errors.push(user_error(
            path(&["input", "quantities", &i.to_string(), "locationId"]),
            "The combination of inventoryItemId and locationId must be unique.",
            Some("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"),
        ));
    }
    if !errors.is_empty() {
        // All or nothing: one bad quantity and none is applied.
        return Ok(rejected(errors));
    }

    // `available` and `on_hand` move together (no committed units), so each quantity
    // yields two change rows, `available` first, as live.
    let mut changes = Vec::new();
    for (item, loc, current, qty) in &plan {
        let delta = qty - current;
        if delta == 0 {
            continue;
        }
        for row_name in ["available", "on_hand"] {
            let (p, v) = shared
                .data
                .by_item(*item)
                .map(|(p, v)| (p.clone(), v.clone()))
                .unzip();
            let item_json = match (p, v) {
                (Some(p), Some(v)) => shared.data.item_json(&p, &v),
                _ => Value::Null,
            };
            let loc_json = shared
                .data
                .location(*loc)
                .map(|l| shared.data.location_json(l))
                .unwrap_or(Value::Null);
            changes.push(json!({
                "__typename": "InventoryChange",
                "name": row_name,
                "delta": delta,
                "quantityAfterChange": null,
                "ledgerDocumentUri": null,
                "item": item_json,
                "location": loc_json,
            }));
        }
    }
    for (item, loc, _, qty) in &plan {
        if let Some(v) = shared.data.by_item_mut(*item) {
            v.levels.insert(*loc, *qty);
        }
    }
    if changes.is_empty() {
        // Live: a set that changes nothing answers with no adjustment group at all.
        return Ok(json!({ "inventoryAdjustmentGroup": null, "userErrors": [] }));
    }
    let group = shared.data.next_id();
    Ok(json!({
        "inventoryAdjustmentGroup": {
            "__typename": "InventoryAdjustmentGroup",
            "id": gid("InventoryAdjustmentGroup", group),
            "createdAt": now_stamp(),
            "reason": reason,
            "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
            "changes": changes,
        },
        "userErrors": [],
    }))
}

fn activate(shared: &mut Shared, call: &FieldCall<'_>) -> Value {
    let data = &mut shared.data;
    let item_gid = arg(call, "inventoryItemId").as_str().unwrap_or_default();
    let loc_gid = arg(call, "locationId").as_str().unwrap_or_default();
    let available = arg(call, "available").as_i64();
    let on_hand = arg(call, "onHand").as_i64();
    let rejected = |errors: Vec<Value>| json!({ "inventoryLevel": null, "userErrors": errors });
    // `InventoryActivatePayload.userErrors` is `[UserError!]!`: field and message only.
    let err = |field: &str, message: &str| json!({ "field": [field], "message": message });

    let item = parse_gid("InventoryItem", item_gid).and_then(|n| data.by_item(n));
    let location = parse_gid("Location", loc_gid)
        .and_then(|n| data.location(n))
        .cloned();
    let (Some((_, variant)), Some(location)) = (item, location) else {
        let mut errors = Vec::new();
        if item.is_none() {
            errors.push(err("inventoryItemId", "Inventory item does not exist"));
        }
        if parse_gid("Location", loc_gid)
            .and_then(|n| data.location(n))
            .is_none()
        {
            errors.push(err("locationId", "Location does not exist"));
        }
        return rejected(errors);
    };
    let variant = variant.clone();
    let stocked = |field: &str, why: &str| {
        err(
            field,
            &format!(
                "The product couldn't be stocked at {} because {why}",
                location.name
            ),
        )
    };
    if available.is_some() && on_hand.is_some() {
        let why = "not allowed to set available and on_hand quantities at the same time.";
        return rejected(vec![stocked("available", why), stocked("onHand", why)]);
    }
    let given = available
        .map(|q| ("available", q))
        .or(on_hand.map(|q| ("onHand", q)));
    if let Some((field, q)) = given
        && !(-QTY_LIMIT..=QTY_LIMIT).contains(&q)
    {
        return rejected(vec![stocked(
            field,
            "the quantity needs to be between -1 billion and 1 billion.",
        )]);
    }
    if !location.active {
        return rejected(vec![stocked("locationId", "the location is not active.")]);
    }
    if let Some(current) = variant.levels.get(&location.id).copied() {
        // Already stocked: the level is returned unchanged; a quantity is refused.
        let level = data.level_json(&variant, location.id, current);
        let errors: Vec<Value> = match given {
            Some((field, _)) => {
                let q = if field == "onHand" {
                    "an on_hand"
                } else {
                    "an available"
                };
                vec![err(
                    field,
                    &format!(
                        "Not allowed to set {q} quantity when the item is already active at the location."
                    ),
                )]
            }
            None => Vec::new(),
        };
        return json!({ "inventoryLevel": level, "userErrors": errors });
    }
    let qty = given.map_or(0, |(_, q)| q);
    if let Some(v) = data.by_item_mut(variant.inventory_item_id) {
        v.levels.insert(location.id, qty);
    }
    json!({
        "inventoryLevel": data.level_json(&variant, location.id, qty),
        "userErrors": [],
    })
}

/// A money input ("19.90" or 19.9); `Err` keeps the raw text for the error path.
fn money_input(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// What one variant input asks to change, once validated.
#[derive(Default)]
struct VariantChange {
    id: u64,
    price: Option<Decimal>,
    compare_at: Option<Option<Decimal>>,
    barcode: Option<Option<String>>,
    cost: Option<Option<Decimal>>,
    sku: Option<Option<String>>,
    tracked: Option<bool>,
}

fn bulk_update(data: &mut StoreData, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let product_gid = arg(call, "productId").as_str().unwrap_or_default();
    let inputs = arg(call, "variants")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let partial = arg(call, "allowPartialUpdates").as_bool() == Some(true);
    if inputs.len() > MAX_INPUT {
        return Err(max_input_error(call, &["variants"], inputs.len()));
    }
    let Some(product) = parse_gid("Product", product_gid)
        .and_then(|n| data.product(n))
        .cloned()
    else {
        return Ok(json!({
            "product": null,
            "productVariants": null,
            "userErrors": [user_error(path(&["productId"]), "Product does not exist", Some("PRODUCT_DOES_NOT_EXIST"))],
        }));
    };

    let mut errors = Vec::new();
    let mut missing_variant = false;
    let mut changes: Vec<(VariantChange, bool)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let idx = i.to_string();
        let at = |parts: &[&str]| {
            let mut p = vec!["variants", idx.as_str()];
            p.extend_from_slice(parts);
            path(&p)
        };
        let obj: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
        let Some(id_gid) = obj.get("id").and_then(Value::as_str) else {
            errors.push(user_error(
                at(&["id"]),
                "Product variant is missing ID attribute",
                Some("PRODUCT_VARIANT_ID_MISSING"),
            ));
            missing_variant = true;
            continue;
        };
        // A variant of another product is as unknown here as a made-up id.
        let Some(id) = parse_gid("ProductVariant", id_gid)
            .filter(|n| product.variants.iter().any(|v| v.id == *n))
        else {
            errors.push(user_error(
                at(&["id"]),
                "Product variant does not exist",
                Some("PRODUCT_VARIANT_DOES_NOT_EXIST"),
            ));
            missing_variant = true;
            continue;
        };
        let mut ok = true;
        let mut change = VariantChange {
            id,
            ..VariantChange::default()
        };
        if obj.contains_key("inventoryQuantities") {
            errors.push(user_error(
                at(&["inventoryQuantities"]),
                "Inventory quantities can only be provided during create. To update inventory for existing variants, use inventoryAdjustQuantities.",
                Some("NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE"),
            ));
            ok = false;
        }
        // Live order: compareAtPrice is reported before price.
        if let Some(raw) = obj.get("compareAtPrice") {
            let parsed = money_input(raw);
            match parsed {
                None if raw.is_null() => change.compare_at = Some(None),
                Some(d) if d >= MONEY_LIMIT => {
                    errors.push(user_error(
                        at(&["compareAtPrice"]),
                        "must be less than 1000000000000000000",
                        Some("INVALID_INPUT"),
                    ));
                    ok = false;
                }
                Some(d) if d < Decimal::ZERO => {
                    errors.push(user_error(
                        at(&["compareAtPrice"]),
                        "Compare at price must be greater than or equal to 0",
                        Some("GREATER_THAN_OR_EQUAL_TO"),
                    ));
                    ok = false;
                }
                Some(d) => change.compare_at = Some(Some(d.round_dp(2))),
                None => ok = false,
            }
        }
        if let Some(raw) = obj.get("price") {
            match money_input(raw) {
                None => {
                    errors.push(user_error(
                        at(&["price"]),
                        "Price can't be blank",
                        Some("INVALID_INPUT"),
                    ));
                    ok = false;
                }
                Some(d) if d < Decimal::ZERO => {
                    errors.push(user_error(
                        at(&["price"]),
                        "Price must be greater than or equal to 0",
                        Some("GREATER_THAN_OR_EQUAL_TO"),
                    ));
                    ok = false;
                }
                Some(d) if d >= MONEY_LIMIT => {
                    errors.push(user_error(
                        at(&["price"]),
                        "must be less than 1000000000000000000",
                        Some("INVALID_INPUT"),
                    ));
                    ok = false;
                }
                Some(d) => change.price = Some(d.round_dp(2)),
            }
        }
        if let Some(raw) = obj.get("barcode") {
            change.barcode = Some(raw.as_str().map(str::to_owned));
        }
        if let Some(item) = obj.get("inventoryItem") {
            if item.is_null() {
                change.cost = Some(None);
            }
            if let Some(raw) = item.get("cost") {
                match money_input(raw) {
                    None => change.cost = Some(None),
                    Some(d) if d < Decimal::ZERO => {
                        errors.push(user_error(
                            at(&[]),
                            "must be greater than or equal to 0",
                            None,
                        ));
                        errors.push(user_error(
                            at(&["inventoryItem", "cost"]),
                            "Cost per item must be greater than or equal to 0",
                            Some("GREATER_THAN_OR_EQUAL_TO"),
                        ));
                        ok = false;
                    }
                    Some(d) if d >= MONEY_LIMIT => {
                        errors.push(user_error(
                            at(&[]),
                            "must be less than 1000000000000000000",
                            None,
                        ));
                        errors.push(user_error(
                            at(&["inventoryItem", "cost"]),
                            "Cost per item must be less than 1000000000000000000",
                            Some("INVALID_INPUT"),
                        ));
                        ok = false;
                    }
                    Some(d) => change.cost = Some(Some(d)),
                }
            }
            if let Some(raw) = item.get("sku") {
                change.sku = Some(raw.as_str().map(str::to_owned));
            }
            if let Some(t) = item.get("tracked").and_then(Value::as_bool) {
                change.tracked = Some(t);
            }
        }
        changes.push((change, ok));
    }

    let apply_any = errors.is_empty() || partial;
    if apply_any {
        for (c, ok) in &changes {
            if !ok {
                continue;
            }
            if let Some(v) = data.variant_mut(c.id) {
                if let Some(p) = c.price {
                    v.price = p;
                }
                if let Some(ca) = c.compare_at {
                    v.compare_at = ca;
                }
                if let Some(b) = &c.barcode {
                    v.barcode.clone_from(b);
                }
                if let Some(cost) = c.cost {
                    v.unit_cost = cost;
                }
                if let Some(s) = &c.sku {
                    v.sku.clone_from(s);
                }
                if let Some(t) = c.tracked {
                    v.tracked = t;
                }
            }
        }
    }
    let product_now = data.product(product.id).cloned().unwrap_or(product);
    // Without partial updates an unknown variant fails the whole call: no variant list.
    let variants = if missing_variant && !partial {
        Value::Null
    } else {
        Value::Array(
            changes
                .iter()
                .filter_map(|(c, _)| product_now.variants.iter().find(|v| v.id == c.id))
                .map(|v| data.variant_json(&product_now, v))
                .collect(),
        )
    };
    let mut product_json = data.product_json(&product_now);
    if let Some(obj) = product_json.as_object_mut() {
        obj.remove("variants");
        obj.insert(
            "variants".into(),
            Value::Array(
                product_now
                    .variants
                    .iter()
                    .map(|v| data.variant_json(&product_now, v))
                    .collect(),
            ),
        );
    }
    Ok(json!({ "product": product_json, "productVariants": variants, "userErrors": errors }))
}

/// The statuses `ProductStatus` has (Admin 2026-07).
const PRODUCT_STATUSES: [&str; 4] = ["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"];

/// `productUpdate(product:)` for title, status, tags, vendor, type and description, as
/// product-update-parity.json shows it: an unknown or missing id is `["id"]` "Product does
/// not exist" with a null product; a blank title is `["title"]` "Title can't be blank"
/// with the product returned unchanged; tags come back sorted. Fields the input leaves out
/// stay as they are; nothing is applied when any userError is reported.
fn product_update(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
    let input = match arg(call, "product") {
        Value::Null => arg(call, "input"),
        v => v,
    };
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    let Some(product_id) = parse_gid("Product", id).filter(|n| data.product(*n).is_some()) else {
        return json!({
            "product": null,
            "userErrors": [{ "field": ["id"], "message": "Product does not exist" }],
        });
    };
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut errors = Vec::new();
    let title = text("title");
    if title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        errors.push(json!({ "field": ["title"], "message": "Title can't be blank" }));
    }
    let status = text("status");
    // Variables are coerced against `ProductStatus` before this runs (INVALID_VARIABLE);
    // this only keeps a literal written into the query text from storing a bad status.
    if let Some(s) = &status
        && !PRODUCT_STATUSES.contains(&s.as_str())
    {
        errors.push(json!({ "field": ["status"], "message": format!("Status {s:?} is not a valid status") }));
    }
    // A single string is a one-element list (GraphQL input coercion); Shopify splits on commas.
    let tags = match input.get("tags") {
        Some(Value::Array(list)) => Some(super::state::normalize_tags(
            list.iter().filter_map(Value::as_str),
        )),
        Some(Value::String(one)) => Some(super::state::normalize_tags([one.as_str()])),
        _ => None,
    };
    let vendor = text("vendor");
    let product_type = text("productType");
    let description = text("descriptionHtml");
    if errors.is_empty()
        && let Some(p) = data.product_mut(product_id)
    {
        if let Some(t) = title {
            p.title = t;
        }
        if let Some(s) = status {
            p.status = s;
        }
        if let Some(t) = tags {
            p.tags = t;
        }
        if let Some(v) = vendor {
            p.vendor = v;
        }
        if let Some(t) = product_type {
            p.product_type = t;
        }
        if let Some(d) = description {
            p.description_html = d;
        }
    }
    let product = data
        .product(product_id)
        .map_or(Value::Null, |p| data.product_json(p));
    json!({ "product": product, "userErrors": errors })
}

/// `productCreate` (product-create-parity.json): a blank title is a userError; a handle
/// given is normalised and must be free (`["input","handle"]` otherwise), one derived
/// from the title gets a numeric suffix when taken. The product starts with one
/// SKU-less, untracked variant holding each option's first value (`Default Title`
/// without options), as Shopify's does.
fn product_create(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
    let input = match arg(call, "product") {
        Value::Null => arg(call, "input"),
        v => v,
    }
    .clone();
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
    let title = text("title").unwrap_or_default();
    if title.trim().is_empty() {
        return json!({
            "product": null,
            "userErrors": [{ "field": ["title"], "message": "Title can't be blank" }],
        });
    }
    let given = text("handle").filter(|h| !h.trim().is_empty());
    let handle = match &given {
        Some(h) => {
            let h = super::state::handleize(h).unwrap_or_else(|| "product".to_owned());
            if data.product_by_handle(&h).is_some() {
                return json!({
                    "product": null,
                    "userErrors": [{
                        "field": ["input", "handle"],
                        "message": format!("Handle '{h}' already in use. Please provide a new handle."),
                    }],
                });
            }
            h
        }
        None => {
            let base = super::state::handleize(&title).unwrap_or_else(|| "product".to_owned());
            let mut h = base.clone();
            let mut n = 1;
            while data.product_by_handle(&h).is_some() {
                h = format!("{base}-{n}");
                n += 1;
            }
            h
        }
    };
    let mut options: Vec<(String, Vec<String>)> = input
        .get("productOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            let values = o
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect();
            (name.to_owned(), values)
        })
        .collect();
    if options.is_empty() {
        options.push(("Title".to_owned(), vec!["Default Title".to_owned()]));
    }
    let first: Vec<String> = options
        .iter()
        .map(|(_, values)| values.first().cloned().unwrap_or_default())
        .collect();
    let status = text("status").unwrap_or_else(|| "ACTIVE".to_owned());
    let tags = match input.get("tags") {
        Some(Value::Array(list)) => {
            super::state::normalize_tags(list.iter().filter_map(Value::as_str))
        }
        Some(Value::String(one)) => super::state::normalize_tags([one.as_str()]),
        _ => Vec::new(),
    };
    let id = data.next_id();
    let variant = super::state::Variant {
        id: data.next_id(),
        title: first.join(" / "),
        options: first,
        sku: None,
        price: Decimal::ZERO,
        compare_at: None,
        barcode: None,
        requires_components: false,
        inventory_item_id: data.next_id(),
        tracked: false,
        unit_cost: None,
        levels: Default::default(),
    };
    data.products.push(super::state::Product {
        id,
        title,
        status,
        tags,
        vendor: text("vendor").unwrap_or_default(),
        handle,
        options,
        product_type: text("productType").unwrap_or_default(),
        description_html: text("descriptionHtml").unwrap_or_default(),
        variants: vec![variant],
        published: Default::default(),
    });
    let product = data
        .product(id)
        .map_or(Value::Null, |p| data.product_json(p));
    json!({ "product": product, "userErrors": [] })
}

/// `publishablePublish`: a product (the only publishable the fake has) to publications
/// by id. Validated as a whole; publishing where it already is changes nothing.
fn publish(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
    let target = arg(call, "id").as_str().unwrap_or_default();
    let refused = |field: Vec<String>, message: &str| {
        json!({
            "publishable": null,
            "shop": data.shop_json(),
            "userErrors": [{ "field": field, "message": message }],
        })
    };
    let Some(product_id) = parse_gid("Product", target).filter(|n| data.product(*n).is_some())
    else {
        return refused(vec!["id".into()], "Resource does not exist");
    };
    let inputs = arg(call, "input").as_array().cloned().unwrap_or_default();
    let mut ids = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let id = input
            .get("publicationId")
            .and_then(Value::as_str)
            .and_then(|g| parse_gid("Publication", g))
            .filter(|n| data.publication(*n).is_some());
        match id {
            Some(n) => ids.push(n),
            None => {
                return refused(
                    vec!["input".into(), i.to_string(), "publicationId".into()],
                    "Publication does not exist",
                );
            }
        }
    }
    if let Some(p) = data.product_mut(product_id) {
        p.published.extend(ids);
    }
    let product = data
        .product(product_id)
        .map_or(Value::Null, |p| data.product_json(p));
    json!({ "publishable": product, "shop": data.shop_json(), "userErrors": [] })
}

/// `productVariantsBulkCreate`: validated as a whole (nothing is created when any input
/// is refused), at most 250 variants. Each names a value for every option of the
/// product by option name; a value the option lacks is added to it, and a combination a
/// variant already has is `VARIANT_ALREADY_EXISTS`. `strategy`: `DEFAULT` removes a lone
/// `Default Title` variant, `REMOVE_STANDALONE_VARIANT` any lone variant, and
/// `PRESERVE_STANDALONE_VARIANT` keeps it; option values left without variants go
/// (productVariantsBulkCreate-omitted-strategy-default-standalone.json).
fn bulk_create(data: &mut StoreData, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let variants = arg(call, "variants")
        .as_array()
        .cloned()
        .unwrap_or_default();
    if variants.len() > MAX_INPUT {
        return Err(max_input_error(call, &["variants"], variants.len()));
    }
    let refused = |errors: Vec<Value>| json!({ "product": null, "productVariants": [], "userErrors": errors });
    let product_gid = arg(call, "productId").as_str().unwrap_or_default();
    let Some(product_id) = parse_gid("Product", product_gid).filter(|n| data.product(*n).is_some())
    else {
        return Ok(refused(vec![user_error(
            path(&["productId"]),
            "Product does not exist",
            Some("PRODUCT_DOES_NOT_EXIST"),
        )]));
    };
    let strategy = arg(call, "strategy")
        .as_str()
        .unwrap_or("DEFAULT")
        .to_owned();
    let Some(product) = data.product(product_id) else {
        return Ok(refused(Vec::new()));
    };
    let lone = match product.variants.as_slice() {
        [only] => match strategy.as_str() {
            "REMOVE_STANDALONE_VARIANT" => Some(only.id),
            "PRESERVE_STANDALONE_VARIANT" => None,
            _ => (only.title == "Default Title").then_some(only.id),
        },
        _ => None,
    };
    let option_names: Vec<String> = product.options.iter().map(|(n, _)| n.clone()).collect();
    let mut taken: Vec<Vec<String>> = product
        .variants
        .iter()
        .filter(|v| Some(v.id) != lone)
        .map(|v| v.options.clone())
        .collect();
    let mut errors = Vec::new();
    let mut planned = Vec::new();
    for (i, input) in variants.iter().enumerate() {
        let idx = i.to_string();
        let given: Vec<(String, String)> = input
            .get("optionValues")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| {
                let text = |k: &str| {
                    o.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (text("optionName"), text("name"))
            })
            .collect();
        let mut values = Vec::new();
        for name in &option_names {
            match given.iter().find(|(n, _)| n == name) {
                Some((_, v)) if !v.trim().is_empty() => values.push(v.clone()),
                _ => errors.push(user_error(
                    path(&["variants", &idx, "optionValues"]),
                    &format!("You need to add option values for {name}"),
                    Some("NEED_TO_ADD_OPTION_VALUES"),
                )),
            }
        }
        if let Some((n, _)) = given.iter().find(|(n, _)| !option_names.contains(n)) {
            errors.push(user_error(
                path(&["variants", &idx, "optionValues"]),
                &format!("Option does not exist: {n}"),
                Some("OPTION_DOES_NOT_EXIST"),
            ));
            continue;
        }
        if values.len() != option_names.len() {
            continue;
        }
        if taken.contains(&values) {
            errors.push(user_error(
                path(&["variants", &idx]),
                &format!("The variant '{}' already exists.", values.join(" / ")),
                Some("VARIANT_ALREADY_EXISTS"),
            ));
            continue;
        }
        let price = match input.get("price") {
            None | Some(Value::Null) => Some(Decimal::ZERO),
            Some(v) => money_input(v),
        };
        let Some(price) = price.filter(|p| *p >= Decimal::ZERO && *p < MONEY_LIMIT) else {
            errors.push(user_error(
                path(&["variants", &idx, "price"]),
                "Price must be greater than or equal to 0",
                Some("GREATER_THAN_OR_EQUAL_TO"),
            ));
            continue;
        };
        taken.push(values.clone());
        planned.push((values, price, input.clone()));
    }
    if !errors.is_empty() {
        return Ok(refused(errors));
    }
    let mut created_ids = Vec::new();
    let mut made = Vec::new();
    for (values, price, input) in planned {
        let item = input.get("inventoryItem").cloned().unwrap_or(Value::Null);
        let mut levels = std::collections::BTreeMap::new();
        for level in input
            .get("inventoryQuantities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let loc = level
                .get("locationId")
                .and_then(Value::as_str)
                .and_then(|g| parse_gid("Location", g))
                .filter(|l| data.location(*l).is_some());
            let qty = level.get("availableQuantity").and_then(Value::as_i64);
            if let (Some(loc), Some(qty)) = (loc, qty) {
                levels.insert(loc, qty);
            }
        }
        let id = data.next_id();
        created_ids.push(id);
        made.push(super::state::Variant {
            id,
            title: values.join(" / "),
            options: values,
            sku: item.get("sku").and_then(Value::as_str).map(str::to_owned),
            price,
            compare_at: input.get("compareAtPrice").and_then(money_input),
            barcode: input
                .get("barcode")
                .and_then(Value::as_str)
                .map(str::to_owned),
            requires_components: false,
            inventory_item_id: data.next_id(),
            tracked: item
                .get("tracked")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            unit_cost: item.get("cost").and_then(money_input),
            levels,
        });
    }
    if let Some(p) = data.product_mut(product_id) {
        p.variants.retain(|v| Some(v.id) != lone);
        p.variants.extend(made);
        let variants = &p.variants;
        for (pos, (_, values)) in p.options.iter_mut().enumerate() {
            for v in variants {
                if let Some(value) = v.options.get(pos)
                    && !values.contains(value)
                {
                    values.push(value.clone());
                }
            }
            values.retain(|value| variants.iter().any(|v| v.options.get(pos) == Some(value)));
        }
    }
    let created: Vec<Value> = created_ids
        .iter()
        .filter_map(|id| data.variant(*id))
        .map(|(p, v)| data.variant_json(p, v))
        .collect();
    let product = data
        .product(product_id)
        .map_or(Value::Null, |p| data.product_json(p));
    Ok(json!({ "product": product, "productVariants": created, "userErrors": [] }))
}
