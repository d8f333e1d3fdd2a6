//! Inventory mutations: `inventorySetQuantities` (the 2026-04+ compare-and-set contract,
//! all-or-nothing) and `inventoryActivate`. Idempotency and dispatch are the parent's.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::shopify::Shared;
use crate::shopify::exec::{FieldCall, FieldFailure};
use crate::shopify::state::{gid, parse_gid};

use super::{MAX_INPUT, QTY_LIMIT, REASONS, arg, max_input_error, path, user_error};

fn now_stamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn set_quantities(
    shared: &mut Shared,
    call: &FieldCall<'_>,
) -> Result<Value, FieldFailure> {
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

pub(super) fn activate(shared: &mut Shared, call: &FieldCall<'_>) -> Value {
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
