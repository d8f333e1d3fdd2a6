//! Variant mutations: `productVariantsBulkUpdate` (per-variant validation,
//! `allowPartialUpdates`) and `productVariantsBulkCreate` (options, strategies).

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::shopify::exec::{FieldCall, FieldFailure};
use crate::shopify::state::{self, StoreData, parse_gid};

use super::{MAX_INPUT, MONEY_LIMIT, arg, max_input_error, path, user_error};

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

pub(super) fn bulk_update(
    data: &mut StoreData,
    call: &FieldCall<'_>,
) -> Result<Value, FieldFailure> {
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

/// `productVariantsBulkCreate`: validated as a whole (nothing is created when any input
/// is refused), at most 250 variants. Each names a value for every option of the
/// product by option name; a value the option lacks is added to it, and a combination a
/// variant already has is `VARIANT_ALREADY_EXISTS`. `strategy`: `DEFAULT` removes a lone
/// `Default Title` variant, `REMOVE_STANDALONE_VARIANT` any lone variant, and
/// `PRESERVE_STANDALONE_VARIANT` keeps it; option values left without variants go
/// (productVariantsBulkCreate-omitted-strategy-default-standalone.json).
pub(super) fn bulk_create(
    data: &mut StoreData,
    call: &FieldCall<'_>,
) -> Result<Value, FieldFailure> {
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
        made.push(state::Variant {
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
