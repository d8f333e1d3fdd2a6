//! Kill recovery for Shopify's journaled requests: what a GraphQL body the executor
//! journaled (and a killed run never settled) did, judged against a fresh snapshot.
//! Pure: the bodies are this adapter's own, so only it reads them (`Store::judge_journaled`).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::model::LocationName;
use crate::plan::{Snapshot, StoreVariant};
use crate::state::Outcome;

/// What journaled request `operation` with `body` did, by the snapshot taken since.
pub fn judge(
    operation: &str,
    body: &[u8],
    snapshot: &Snapshot,
    locations: &BTreeMap<LocationName, String>,
) -> (Outcome, String) {
    let json: Json = serde_json::from_slice(body).unwrap_or_default();
    match operation {
        "inventorySetQuantities" => stock_in_effect(&json, snapshot, locations),
        "inventoryActivate" => level_in_effect(&json, snapshot, locations),
        "productVariantsBulkUpdate" => variant_fields_in_effect(&json, snapshot),
        "bulkOperationRunMutation" => bulk_fields_in_effect(body, snapshot),
        "productUpdate" => product_fields_in_effect(&json, snapshot),
        "productVariantsBulkCreate" => variants_created(&json, snapshot),
        _ => (
            Outcome::Skipped,
            "outcome unknown after a crash; not replayed, the next plan re-read the store"
                .to_owned(),
        ),
    }
}

/// Whether the variants of a `productVariantsBulkCreate` body exist (by SKU). The call is
/// validated as a whole, so they all exist or none does. (A `productCreate` stays
/// unknown here: the next plan looks its handle up and never creates it twice.)
fn variants_created(body: &Json, snapshot: &Snapshot) -> (Outcome, String) {
    let skus: Vec<&str> = body["variables"]["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["inventoryItem"]["sku"].as_str())
        .collect();
    let held = skus
        .iter()
        .filter(|s| {
            crate::model::Sku::new(s).is_some_and(|sku| snapshot.variants.contains_key(&sku))
        })
        .count();
    match held {
        0 => (
            Outcome::Failed,
            "no variant of it is in the store".to_owned(),
        ),
        n if n == skus.len() => (Outcome::Applied, "every variant is in the store".to_owned()),
        n => (
            Outcome::Skipped,
            format!("{n} of its {} variants are in the store", skus.len()),
        ),
    }
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
            .any(|v| v.stock.available(name) == q["quantity"].as_i64())
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

/// Whether the level an `inventoryActivate` body asked for exists in the snapshot. The
/// quantity is not compared: a sale since may have moved it, and the level is what the
/// call creates.
fn level_in_effect(
    body: &Json,
    snapshot: &Snapshot,
    locations: &BTreeMap<LocationName, String>,
) -> (Outcome, String) {
    let vars = &body["variables"];
    let item = vars["inventoryItemId"].as_str().unwrap_or_default();
    let location = vars["locationId"].as_str().unwrap_or_default();
    let stocked = locations
        .iter()
        .find(|(_, id)| id.as_str() == location)
        .is_some_and(|(name, _)| {
            snapshot
                .variants
                .values()
                .flatten()
                .filter(|v| v.inventory_item_id == item)
                .any(|v| v.stock.available(name).is_some())
        });
    if stocked {
        (
            Outcome::Applied,
            "re-read after a crash: the item is stocked at the location".into(),
        )
    } else {
        (
            Outcome::Failed,
            "re-read after a crash: the item is not stocked at the location; not replayed".into(),
        )
    }
}

/// Whether the fields of a `productVariantsBulkUpdate` body hold in the snapshot: all of
/// them → applied, none → failed; some (partial updates are allowed) → skipped, since
/// the request neither wholly took effect nor wholly failed.
fn variant_fields_in_effect(body: &Json, snapshot: &Snapshot) -> (Outcome, String) {
    let (held, total) = fields_held(&body["variables"], &by_id(snapshot));
    verdict(held, total, "variant fields")
}

/// A bulk mutation's upload: each line is a `productVariantsBulkUpdate`'s variables.
fn bulk_fields_in_effect(jsonl: &[u8], snapshot: &Snapshot) -> (Outcome, String) {
    let variants = by_id(snapshot);
    let (mut held, mut total) = (0, 0);
    for line in jsonl.split(|&b| b == b'\n') {
        if let Ok(vars) = serde_json::from_slice::<Json>(line) {
            let (h, t) = fields_held(&vars, &variants);
            held += h;
            total += t;
        }
    }
    verdict(held, total, "bulk mutation's variant fields")
}

fn by_id(snapshot: &Snapshot) -> HashMap<String, &StoreVariant> {
    snapshot
        .variants
        .values()
        .flatten()
        .map(|v| (v.variant_id.to_string(), v))
        .collect()
}

/// (fields of `vars["variants"]` the snapshot holds, fields sent).
fn fields_held(vars: &Json, variants: &HashMap<String, &StoreVariant>) -> (usize, usize) {
    let mut held = 0usize;
    let mut total = 0usize;
    for input in vars["variants"].as_array().into_iter().flatten() {
        let id = input["id"].as_str().unwrap_or_default();
        let variant = variants.get(id).copied();
        let mut check = |sent: Option<&Json>, now: Option<String>, money: bool| {
            if let Some(sent) = sent {
                total += 1;
                if variant.is_some() && same_value(sent, now.as_deref(), money) {
                    held += 1;
                }
            }
        };
        check(
            input.get("price"),
            variant.map(|v| v.price.to_string()),
            true,
        );
        check(
            input.get("compareAtPrice"),
            variant.and_then(|v| v.compare_at_price.map(|d| d.to_string())),
            true,
        );
        check(
            input.get("barcode"),
            variant.and_then(|v| v.barcode.clone()),
            false,
        );
        check(
            input.get("inventoryItem").and_then(|i| i.get("cost")),
            variant.and_then(|v| v.cost.map(|d| d.to_string())),
            true,
        );
    }
    (held, total)
}

fn verdict(held: usize, total: usize, what: &str) -> (Outcome, String) {
    match (held, total) {
        (_, 0) => (
            Outcome::Skipped,
            "re-read after a crash: the request carried no field to check".into(),
        ),
        (h, t) if h == t => (
            Outcome::Applied,
            format!("re-read after a crash: the {what} are in effect"),
        ),
        (0, _) => (
            Outcome::Failed,
            format!("re-read after a crash: the {what} are not in effect; not replayed"),
        ),
        (h, t) => (
            Outcome::Skipped,
            format!("re-read after a crash: {h} of {t} {what} are in effect; not replayed"),
        ),
    }
}

/// Whether every field of a `productUpdate` body holds in the snapshot (any variant of
/// the product carries the product's fields). The call is all-or-nothing.
fn product_fields_in_effect(body: &Json, snapshot: &Snapshot) -> (Outcome, String) {
    let input = &body["variables"]["product"];
    let id = input["id"].as_str().unwrap_or_default();
    let Some(variant) = snapshot
        .variants
        .values()
        .flatten()
        .find(|v| v.product.id == id)
    else {
        return (
            Outcome::Failed,
            "re-read after a crash: the product is gone; not replayed".into(),
        );
    };
    let text = |key: &str| input.get(key).and_then(Json::as_str);
    let sent_tags: Option<Vec<&str>> = input
        .get("tags")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect());
    let product = &variant.product;
    let holds = text("title").is_none_or(|t| t == product.title)
        && text("status").is_none_or(|s| s == product.status)
        && text("vendor").is_none_or(|v| v == product.vendor)
        // Compared trimmed, as the plan compares them (Shopify may keep a trailing newline).
        && text("productType").is_none_or(|t| t.trim() == product.product_type.trim())
        && text("descriptionHtml").is_none_or(|d| d.trim() == product.description.trim())
        && sent_tags.is_none_or(|t| {
            crate::model::tags_text(t)
                == crate::model::tags_text(product.tags.iter().map(String::as_str))
        });
    if holds {
        (
            Outcome::Applied,
            "re-read after a crash: the product fields are in effect".into(),
        )
    } else {
        (
            Outcome::Failed,
            "re-read after a crash: the product fields are not in effect; not replayed".into(),
        )
    }
}

/// Whether a sent JSON value (`null` to clear) equals the store's value now (`None` =
/// empty). Money compares as decimals ("10.5" is "10.50"); text compares exactly, so a
/// barcode "0123" is not "123".
fn same_value(sent: &Json, now: Option<&str>, money: bool) -> bool {
    let decimal_eq = |a: &str, b: &str| matches!((a.parse::<Decimal>(), b.parse::<Decimal>()), (Ok(x), Ok(y)) if x == y);
    match (sent, now) {
        (Json::Null, None) => true,
        (Json::Null, Some(_)) | (_, None) => false,
        (Json::String(s), Some(n)) => s == n || (money && decimal_eq(s, n)),
        (Json::Number(x), Some(n)) if money => decimal_eq(&x.to_string(), n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::model::{Currency, Sku};
    use crate::plan::{Stock, StoreProduct, StoreVariant};

    fn snapshot() -> Snapshot {
        let v = StoreVariant {
            variant_id: "gid://shopify/ProductVariant/1".into(),
            product: Arc::new(StoreProduct {
                id: "gid://shopify/Product/1".into(),
                title: "Red Tee".into(),
                status: "UNLISTED".into(),
                tags: vec!["summer".into(), "cotton".into()],
                vendor: "Acme".into(),
                product_type: "Shirts".into(),
                description: "<p>Soft.</p>\n".into(),
            }),
            inventory_item_id: "gid://shopify/InventoryItem/1".into(),
            price: Decimal::new(1000, 2),
            compare_at_price: None,
            cost: None,
            barcode: None,
            tracked: true,
            bundle: false,
            stock: Stock::default(),
            woo: None,
        };
        Snapshot {
            currency: Currency::new("USD"),
            variants: HashMap::from([(Sku::new("A").unwrap(), vec![v])]),
        }
    }

    fn body(product: Json) -> Json {
        json!({"variables": {"product": product}})
    }

    #[test]
    fn a_bulk_mutation_is_judged_by_every_line_it_uploaded() {
        let line = |price: &str| {
            format!(
                "{}\n",
                json!({"productId": "gid://shopify/Product/1",
                    "variants": [{"id": "gid://shopify/ProductVariant/1", "price": price}]})
            )
        };
        let held = line("10.0");
        assert_eq!(
            bulk_fields_in_effect(held.as_bytes(), &snapshot()).0,
            Outcome::Applied
        );
        let half = format!("{}{}", line("10.00"), line("12.00"));
        assert_eq!(
            bulk_fields_in_effect(half.as_bytes(), &snapshot()).0,
            Outcome::Skipped
        );
        assert_eq!(
            bulk_fields_in_effect(line("11").as_bytes(), &snapshot()).0,
            Outcome::Failed
        );
    }

    #[test]
    fn a_product_update_is_applied_only_when_every_sent_field_holds() {
        let held = body(json!({"id": "gid://shopify/Product/1", "title": "Red Tee",
            "status": "UNLISTED", "tags": ["cotton", "summer"]}));
        assert_eq!(
            product_fields_in_effect(&held, &snapshot()).0,
            Outcome::Applied
        );
        let half = body(json!({"id": "gid://shopify/Product/1", "title": "Red Tee",
            "vendor": "Other"}));
        assert_eq!(
            product_fields_in_effect(&half, &snapshot()).0,
            Outcome::Failed
        );
        let described = body(json!({"id": "gid://shopify/Product/1",
            "productType": "Shirts", "descriptionHtml": "<p>Soft.</p>"}));
        assert_eq!(
            product_fields_in_effect(&described, &snapshot()).0,
            Outcome::Applied
        );
        let retyped = body(json!({"id": "gid://shopify/Product/1", "productType": "Tees"}));
        assert_eq!(
            product_fields_in_effect(&retyped, &snapshot()).0,
            Outcome::Failed
        );
        let gone = body(json!({"id": "gid://shopify/Product/2", "title": "Red Tee"}));
        assert_eq!(
            product_fields_in_effect(&gone, &snapshot()).0,
            Outcome::Failed
        );
    }
}
