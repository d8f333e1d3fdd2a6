//! Product mutations: `productUpdate` and `productCreate` (title, handle, tags, status,
//! the one default variant a new product starts with). Adding variants is `variants`' job.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::shopify::exec::FieldCall;
use crate::shopify::state::{self, StoreData, parse_gid};

use super::arg;

/// The statuses `ProductStatus` has (Admin 2026-07).
const PRODUCT_STATUSES: [&str; 4] = ["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"];

/// `productUpdate(product:)` for title, status, tags, vendor, type and description, as
/// product-update-parity.json shows it: an unknown or missing id is `["id"]` "Product does
/// not exist" with a null product; a blank title is `["title"]` "Title can't be blank"
/// with the product returned unchanged; tags come back sorted. Fields the input leaves out
/// stay as they are; nothing is applied when any userError is reported.
pub(super) fn product_update(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
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
        Some(Value::Array(list)) => {
            Some(state::normalize_tags(list.iter().filter_map(Value::as_str)))
        }
        Some(Value::String(one)) => Some(state::normalize_tags([one.as_str()])),
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
pub(super) fn product_create(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
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
            let h = state::handleize(h).unwrap_or_else(|| "product".to_owned());
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
            let base = state::handleize(&title).unwrap_or_else(|| "product".to_owned());
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
        Some(Value::Array(list)) => state::normalize_tags(list.iter().filter_map(Value::as_str)),
        Some(Value::String(one)) => state::normalize_tags([one.as_str()]),
        _ => Vec::new(),
    };
    let id = data.next_id();
    let variant = state::Variant {
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
    data.products.push(state::Product {
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
