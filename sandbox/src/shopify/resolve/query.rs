//! Query roots (`shop`, `locations`, `productVariants`, `node`, ...): read-only answers
//! built from the store, including the windowed `productVariants` page, and the node
//! stream bulk exports read. Nothing here changes the store.

use serde_json::{Value, json};

use crate::shopify::exec::{self, FieldCall, FieldFailure, GqlError};
use crate::shopify::state::{self, StoreData, parse_gid};

use super::{MAX_INPUT, arg};

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
    let whole = |all: Vec<(&state::Product, &state::Variant)>| {
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
    // A cursor names the id of the item it follows (see `exec::project::cursor_for`).
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
