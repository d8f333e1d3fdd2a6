//! `publishablePublish`: a product onto publications by id, validated as a whole.

use serde_json::{Value, json};

use crate::shopify::exec::FieldCall;
use crate::shopify::state::{StoreData, parse_gid};

use super::arg;

/// `publishablePublish`: a product (the only publishable the fake has) to publications
/// by id. Validated as a whole; publishing where it already is changes nothing.
pub(super) fn publish(data: &mut StoreData, call: &FieldCall<'_>) -> Value {
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
