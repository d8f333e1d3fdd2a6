//! WooCommerce's batch writes, pure: the body of `POST /products/batch` or
//! `POST /products/{parent}/variations/batch` for a set of [`ItemWrite`]s, each item's
//! result read back from the answer (by position, as WooCommerce answers; an `error`
//! object fails that item whole), the orders of a write window, and the judgement of a
//! journaled batch after a kill (what of it the store now holds).

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::model::{Currency, Field, Value};
use crate::plan::{Snapshot, StoreVariant};
use crate::state::Outcome;
use crate::store::{CreateResult, ItemCreate, ItemResult, ItemWrite, WindowOrder};

/// The journal's operation names.
pub const PRODUCTS_BATCH: &str = "wc:products/batch";
pub const VARIATIONS_BATCH: &str = "wc:variations/batch";
pub const PRODUCTS_CREATE: &str = "wc:products/batch#create";

/// A price as WooCommerce keeps it: a string with the store's decimals (it stores what
/// it is sent, unrounded and unpadded), `""` for none.
fn money_text(v: &Option<Value>, currency: &Currency) -> Json {
    match v {
        Some(Value::Money(m)) => Json::String(currency.format(*m)),
        _ => Json::String(String::new()),
    }
}

fn text(v: &Option<Value>) -> String {
    match v {
        Some(Value::Text(t)) => t.clone(),
        Some(other) => other.display(&crate::model::Currency::new("USD")),
        None => String::new(),
    }
}

/// One item's update object.
fn update(item: &ItemWrite, currency: &Currency) -> Json {
    let mut o = serde_json::Map::new();
    o.insert(
        "id".into(),
        json!(item.item_id.parse::<u64>().unwrap_or_default()),
    );
    for (key, value) in &item.fields {
        match key.field {
            Field::RegularPrice => {
                o.insert("regular_price".into(), money_text(value, currency));
            }
            Field::SalePrice => {
                o.insert("sale_price".into(), money_text(value, currency));
            }
            Field::Inventory => {
                if let Some(Value::Qty(q)) = value {
                    o.insert("stock_quantity".into(), json!(q));
                }
            }
            Field::Barcode => {
                o.insert("global_unique_id".into(), Json::String(text(value)));
            }
            Field::Cost => {
                // A number, unlike prices; zero is how WooCommerce stores "none".
                let n = match value {
                    Some(Value::Money(m)) => m.normalize().to_string(),
                    _ => "0".to_owned(),
                };
                let number: Json = serde_json::from_str(&n).unwrap_or(json!(0));
                let mut cogs = json!({"values": [{"defined_value": number}]});
                if !item.parent.is_empty() {
                    // The variation's own cost, not added to the parent's.
                    cogs["defined_value_overrides_parent"] = json!(true);
                }
                o.insert("cost_of_goods_sold".into(), cogs);
            }
            Field::Title => {
                o.insert("name".into(), Json::String(text(value)));
            }
            Field::Status => {
                o.insert("status".into(), Json::String(text(value)));
            }
            Field::Description => {
                o.insert("description".into(), Json::String(text(value)));
            }
            Field::Tags => {
                let tags: Vec<Json> = crate::model::tags_list(&text(value))
                    .into_iter()
                    .map(|name| json!({ "name": name }))
                    .collect();
                o.insert("tags".into(), Json::Array(tags));
            }
            // Config refuses Shopify's fields for a WooCommerce store.
            Field::Price | Field::CompareAtPrice | Field::Vendor | Field::ProductType => {}
        }
    }
    Json::Object(o)
}

/// The operation and body of one batch: products (`parent` empty) or one parent's
/// variations.
pub fn body(parent: &str, items: &[ItemWrite], currency: &Currency) -> (&'static str, Vec<u8>) {
    let updates: Vec<Json> = items.iter().map(|i| update(i, currency)).collect();
    let mut doc = json!({ "update": updates });
    if !parent.is_empty() {
        // Kept in the journaled bytes so recovery knows whose variations these were.
        doc["parent"] = json!(parent.parse::<u64>().unwrap_or_default());
    }
    let op = if parent.is_empty() {
        PRODUCTS_BATCH
    } else {
        VARIATIONS_BATCH
    };
    (op, serde_json::to_vec(&doc).unwrap_or_default())
}

/// The operation and body of one batch creating simple products (`sync.create_missing`):
/// each item's cells as an update would send them, plus its SKU, `type: simple`, status
/// `draft` unless a cell says, and `manage_stock: true` when it has a stock cell (without
/// it WooCommerce drops the number).
pub fn create_body(items: &[ItemCreate], currency: &Currency) -> (&'static str, Vec<u8>) {
    let creates: Vec<Json> = items
        .iter()
        .map(|item| {
            let write = ItemWrite {
                item_id: String::new(),
                parent: String::new(),
                fields: item.fields.clone(),
            };
            let mut o = update(&write, currency);
            if let Some(map) = o.as_object_mut() {
                map.remove("id");
                map.insert("type".into(), json!("simple"));
                map.insert("sku".into(), json!(item.sku));
                map.entry("status").or_insert_with(|| json!("draft"));
                if map.contains_key("stock_quantity") {
                    map.insert("manage_stock".into(), json!(true));
                }
            }
            o
        })
        .collect();
    let doc = json!({ "create": creates });
    (
        PRODUCTS_CREATE,
        serde_json::to_vec(&doc).unwrap_or_default(),
    )
}

/// Each created item's result, in the order sent: WooCommerce answers `create` by
/// position (a failed create has no id); an item the answer lacks is refused with a note.
pub fn create_results(sent: usize, answer: &[u8]) -> Result<Vec<CreateResult>, String> {
    let doc: Json = serde_json::from_slice(answer).map_err(|e| format!("batch answer: {e}"))?;
    let list = doc["create"].as_array().cloned().unwrap_or_default();
    Ok((0..sent)
        .map(|pos| match list.get(pos) {
            Some(e) if e.get("error").is_some_and(|x| !x.is_null()) => CreateResult::Refused {
                code: e["error"]["code"].as_str().unwrap_or_default().to_owned(),
                message: e["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            Some(e) => match e["id"].as_u64().filter(|id| *id != 0) {
                Some(id) => CreateResult::Created { id: id.to_string() },
                None => CreateResult::Refused {
                    code: String::new(),
                    message: "the batch answer gives this item no id".to_owned(),
                },
            },
            None => CreateResult::Refused {
                code: String::new(),
                message: "the batch answer does not mention this item".to_owned(),
            },
        })
        .collect())
}

/// What a journaled create batch did, judged against the snapshot taken since: by SKU,
/// since a create has no id before its answer. Never replayed (WooCommerce refuses a
/// second product with a SKU anyway, but nothing is sent to find out).
pub fn judge_create(body: &[u8], snapshot: &Snapshot) -> (Outcome, String) {
    let doc: Json = serde_json::from_slice(body).unwrap_or_default();
    let skus: Vec<&str> = doc["create"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["sku"].as_str())
        .collect();
    let held = skus
        .iter()
        .filter(|s| {
            crate::model::Sku::new(s).is_some_and(|sku| snapshot.variants.contains_key(&sku))
        })
        .count();
    match (held, skus.len()) {
        (_, 0) => (
            Outcome::Skipped,
            "re-read after a crash: the batch created nothing".into(),
        ),
        (h, t) if h == t => (
            Outcome::Applied,
            "re-read after a crash: every product of the batch is in the store".into(),
        ),
        (0, _) => (
            Outcome::Failed,
            "re-read after a crash: no product of the batch is in the store; not replayed".into(),
        ),
        (h, t) => (
            Outcome::Skipped,
            format!(
                "re-read after a crash: {h} of {t} products of the batch are in the store; not replayed"
            ),
        ),
    }
}

/// The bytes WooCommerce is sent: the journaled body without our `parent` note.
pub fn wire_body(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Json>(body) {
        Ok(mut doc) => {
            if let Some(o) = doc.as_object_mut() {
                o.remove("parent");
            }
            serde_json::to_vec(&doc).unwrap_or_default()
        }
        Err(_) => body.to_vec(),
    }
}

/// Each sent item's result, in the order sent. WooCommerce answers `update` in request
/// order; an entry with `error` failed whole. An item the answer lacks is refused with a
/// note (the answer cannot be matched to it).
pub fn results(sent: &[u64], answer: &[u8]) -> Result<Vec<ItemResult>, String> {
    let doc: Json = serde_json::from_slice(answer).map_err(|e| format!("batch answer: {e}"))?;
    let list = doc["update"].as_array().cloned().unwrap_or_default();
    let by_id: HashMap<u64, &Json> = list
        .iter()
        .filter_map(|e| e["id"].as_u64().map(|id| (id, e)))
        .collect();
    Ok(sent
        .iter()
        .enumerate()
        .map(|(pos, id)| {
            let entry = list
                .get(pos)
                .filter(|e| e["id"].as_u64() == Some(*id))
                .or_else(|| by_id.get(id).copied());
            match entry {
                Some(e) if e.get("error").is_some_and(|x| !x.is_null()) => ItemResult::Refused {
                    code: e["error"]["code"].as_str().unwrap_or_default().to_owned(),
                    message: e["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                },
                Some(_) => ItemResult::Saved,
                None => ItemResult::Refused {
                    code: String::new(),
                    message: "the batch answer does not mention this item".to_owned(),
                },
            }
        })
        .collect())
}

/// Orders as `GET /orders?_fields=id,number,line_items` lists them.
pub fn orders(answer: &[Json]) -> Vec<WindowOrder> {
    answer
        .iter()
        .map(|o| {
            let number = o["number"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| o["id"].as_u64().map(|i| i.to_string()))
                .unwrap_or_default();
            let mut items = Vec::new();
            for line in o["line_items"].as_array().into_iter().flatten() {
                for key in ["product_id", "variation_id"] {
                    if let Some(id) = line[key].as_u64().filter(|i| *i != 0) {
                        items.push(id.to_string());
                    }
                }
            }
            // `_gmt` dates carry no zone: they are UTC.
            let date = |key: &str| {
                o[key]
                    .as_str()
                    .and_then(|d| {
                        chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S").ok()
                    })
                    .map(|d| d.and_utc())
            };
            WindowOrder {
                number,
                items,
                created: date("date_created_gmt"),
                modified: date("date_modified_gmt"),
            }
        })
        .collect()
}

/// What a journaled batch did, judged against the snapshot taken since: every sent value
/// held → applied, none → failed, some → skipped. Never replayed.
pub fn judge(body: &[u8], snapshot: &Snapshot) -> (Outcome, String) {
    let doc: Json = serde_json::from_slice(body).unwrap_or_default();
    let all: Vec<&StoreVariant> = snapshot.variants.values().flatten().collect();
    let (mut held, mut total) = (0usize, 0usize);
    for u in doc["update"].as_array().into_iter().flatten() {
        let id = u["id"].as_u64().unwrap_or_default().to_string();
        let own = all.iter().find(|v| v.variant_id == id.as_str());
        let product = all.iter().find(|v| v.product.id == id);
        let stocked = all.iter().find(|v| v.inventory_item_id == id.as_str());
        let money = |j: &Json| -> Option<Decimal> { j.as_str().and_then(|s| s.parse().ok()) };
        let mut check = |ok: bool| {
            total += 1;
            if ok {
                held += 1;
            }
        };
        if let Some(sent) = u.get("regular_price") {
            check(own.is_some_and(|v| v.woo.as_ref().and_then(|w| w.regular_price) == money(sent)));
        }
        if let Some(sent) = u.get("sale_price") {
            check(own.is_some_and(|v| v.woo.as_ref().and_then(|w| w.sale_price) == money(sent)));
        }
        if let Some(sent) = u.get("stock_quantity") {
            check(stocked.is_some_and(|v| {
                v.value(&crate::model::FieldKey::own_stock()) == sent.as_i64().map(Value::Qty)
            }));
        }
        if let Some(sent) = u.get("global_unique_id") {
            let sent = sent.as_str().filter(|s| !s.is_empty());
            check(own.is_some_and(|v| v.barcode.as_deref() == sent));
        }
        if let Some(sent) = u.get("name") {
            check(product.is_some_and(|v| Some(v.product.title.as_str()) == sent.as_str()));
        }
        if let Some(sent) = u.get("status") {
            check(product.is_some_and(|v| Some(v.product.status.as_str()) == sent.as_str()));
        }
        if let Some(sent) = u.get("description") {
            check(product.is_some_and(|v| {
                Some(v.product.description.trim()) == sent.as_str().map(str::trim)
            }));
        }
        if let Some(sent) = u.get("tags").and_then(Json::as_array) {
            let names: Vec<&str> = sent.iter().filter_map(|t| t["name"].as_str()).collect();
            check(product.is_some_and(|v| {
                crate::model::tags_text(names.iter().copied())
                    == crate::model::tags_text(v.product.tags.iter().map(String::as_str))
            }));
        }
        if let Some(sent) = u.pointer("/cost_of_goods_sold/values/0/defined_value") {
            let want = sent
                .to_string()
                .parse::<Decimal>()
                .ok()
                .filter(|d| !d.is_zero());
            check(
                own.is_some_and(|v| v.cost.map(|c| c.normalize()) == want.map(|d| d.normalize())),
            );
        }
    }
    match (held, total) {
        (_, 0) => (
            Outcome::Skipped,
            "re-read after a crash: the batch carried no field to check".into(),
        ),
        (h, t) if h == t => (
            Outcome::Applied,
            "re-read after a crash: the batch's values are in effect".into(),
        ),
        (0, _) => (
            Outcome::Failed,
            "re-read after a crash: the batch's values are not in effect; not replayed".into(),
        ),
        (h, t) => (
            Outcome::Skipped,
            format!(
                "re-read after a crash: {h} of {t} of the batch's values are in effect; not replayed"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldKey, Sku};

    fn write(id: &str, parent: &str, fields: Vec<(FieldKey, Option<Value>)>) -> ItemWrite {
        ItemWrite {
            item_id: id.into(),
            parent: parent.into(),
            fields,
        }
    }

    #[test]
    fn bodies_carry_woocommerces_types() {
        let (op, b) = body(
            "",
            &[write(
                "7",
                "",
                vec![
                    (
                        FieldKey::variant(Field::RegularPrice),
                        Some(Value::Money(Decimal::new(2100, 2))),
                    ),
                    (FieldKey::variant(Field::SalePrice), None),
                    (FieldKey::own_stock(), Some(Value::Qty(4))),
                    (
                        FieldKey::variant(Field::Tags),
                        Some(Value::Text("a, b".into())),
                    ),
                ],
            )],
            &Currency::new("USD"),
        );
        assert_eq!(op, PRODUCTS_BATCH);
        let doc: Json = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            doc,
            json!({"update": [{"id": 7, "regular_price": "21.00", "sale_price": "",
                "stock_quantity": 4, "tags": [{"name": "a"}, {"name": "b"}]}]})
        );
        let (op, b) = body(
            "10",
            &[write(
                "11",
                "10",
                vec![(
                    FieldKey::variant(Field::Cost),
                    Some(Value::Money(Decimal::new(125, 1))),
                )],
            )],
            &Currency::new("USD"),
        );
        assert_eq!(op, VARIATIONS_BATCH);
        let doc: Json = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            doc["update"][0]["cost_of_goods_sold"],
            json!({"values": [{"defined_value": 12.5}], "defined_value_overrides_parent": true})
        );
        let wire: Json = serde_json::from_slice(&wire_body(&b)).unwrap();
        assert!(wire.get("parent").is_none() && wire.get("update").is_some());
    }

    #[test]
    fn a_per_item_error_fails_that_item_only() {
        let answer = br#"{"update":[{"id":1,"name":"A"},{"id":2,"error":{"code":"product_invalid_global_unique_id","message":"Invalid or duplicated GTIN, UPC, EAN or ISBN.","data":{"status":400}}}]}"#;
        let r = results(&[1, 2, 3], answer).unwrap();
        assert_eq!(r[0], ItemResult::Saved);
        assert_eq!(
            r[1],
            ItemResult::Refused {
                code: "product_invalid_global_unique_id".into(),
                message: "Invalid or duplicated GTIN, UPC, EAN or ISBN.".into()
            }
        );
        assert!(matches!(r[2], ItemResult::Refused { .. }));
        assert!(results(&[1], b"<html>").is_err());
    }

    #[test]
    fn a_journaled_batch_is_judged_by_what_the_store_holds() {
        let p = crate::store::woocommerce::wire::Item {
            id: 5,
            kind: Some("simple".into()),
            sku: "S".into(),
            regular_price: "20".into(),
            manage_stock: crate::store::woocommerce::wire::ManageStock::Yes,
            stock_quantity: Some(3.into()),
            ..Default::default()
        };
        let (snap, _) =
            crate::store::woocommerce::wire::snapshot(&[p], &[], Currency::new("USD")).unwrap();
        assert!(snap.variants.contains_key(&Sku::new("S").unwrap()));
        let held = br#"{"update":[{"id":5,"regular_price":"20.00","stock_quantity":3}]}"#;
        assert_eq!(judge(held, &snap).0, Outcome::Applied);
        let half = br#"{"update":[{"id":5,"regular_price":"20.00","stock_quantity":4}]}"#;
        assert_eq!(judge(half, &snap).0, Outcome::Skipped);
        let none = br#"{"update":[{"id":5,"regular_price":"21"}]}"#;
        assert_eq!(judge(none, &snap).0, Outcome::Failed);
    }

    #[test]
    fn window_orders_name_their_items() {
        let o = orders(&[json!({"id": 40, "number": "1040", "line_items": [
            {"product_id": 10, "variation_id": 11}, {"product_id": 5, "variation_id": 0}]})]);
        assert_eq!(o[0].number, "1040");
        assert_eq!(o[0].items, vec!["10", "11", "5"]);
        assert_eq!((o[0].created, o[0].modified), (None, None));
        let o = orders(&[json!({"id": 41, "number": "1041", "line_items": [],
            "date_created_gmt": "2026-12-07T10:00:00", "date_modified_gmt": "2026-12-07T10:00:05"})]);
        let at = |s: &str| Some(s.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
        assert_eq!(o[0].created, at("2026-12-07T10:00:00Z"));
        assert_eq!(o[0].modified, at("2026-12-07T10:00:05Z"));
    }
}
