//! The fake's writes, as WooCommerce's controllers and data stores do them: the two
//! batch routes (at most 100 items in all, else 413; each item through the same code as
//! a single write; a failing item becomes `{"id", "error"}` in a 200 answer, brief
//! §4.2), single creates, updates and deletes, and the silent rewrites of a save
//! (§1.2): a sale price not below the regular price cleared, stock fields of an
//! unmanaged item dropped, a variable product's own prices blanked, SKUs through
//! `wc_clean`, GTINs sanitised, an unknown status made `draft`, `date_modified` bumped.
//! Every item is built on a copy and stored only when all of it passed: saved whole or
//! not at all. Orders (`place_order`) decrement stock here too.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::WooFakeError;
use super::answer::{Answer, Params, WooError};
use super::read::invalid_id;
use super::state::{Attribute, Base, Item, Kind, Order, OrderLine, Store, Term, slugify};

/// Which controller a write goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Products,
    /// `/products/{parent}/variations`.
    Variations(u64),
}

impl Target {
    fn post_type(self) -> &'static str {
        match self {
            Target::Products => "product",
            Target::Variations(_) => "product_variation",
        }
    }
}

const POST_STATUSES: &[&str] = &["publish", "future", "draft", "pending", "private", "trash"];

/// `POST /products/batch`, `POST /products/{parent}/variations/batch`.
pub fn batch(
    store: &mut Store,
    base: &Base,
    target: Target,
    body: &Value,
    limit: usize,
) -> Result<Answer, WooError> {
    let empty = Vec::new();
    let list = |name: &str| -> &Vec<Value> {
        match body.get(name) {
            Some(Value::Array(a)) => a,
            _ => &empty,
        }
    };
    let (creates, updates, deletes) = (list("create"), list("update"), list("delete"));
    // `check_batch_limit` counts create + update + delete together (C-REST).
    if creates.len() + updates.len() + deletes.len() > limit {
        return Err(WooError::new(
            413,
            "woocommerce_rest_request_entity_too_large",
            &format!("Unable to accept more than {limit} items for this request."),
        ));
    }
    let mut out = Map::new();
    let failed = |id: Value, e: WooError| json!({"id": id, "error": {"code": e.code, "message": e.message, "data": e.body()["data"]}});
    if !creates.is_empty() {
        let mut results = Vec::new();
        for item in creates {
            let req = item.as_object().cloned().unwrap_or_default();
            results.push(match create(store, target, &req) {
                Ok(id) => render(store, base, target, id),
                // A failed create has no id: results match requests by position (§4.2).
                Err(e) => failed(json!(0), e),
            });
        }
        out.insert("create".into(), Value::Array(results));
    }
    if !updates.is_empty() {
        let mut results = Vec::new();
        for item in updates {
            let req = item.as_object().cloned().unwrap_or_default();
            let sent_id = req.get("id").cloned().unwrap_or(Value::Null);
            results.push(match update(store, target, &req) {
                Ok(id) => render(store, base, target, id),
                Err(e) => failed(sent_id, e),
            });
        }
        out.insert("update".into(), Value::Array(results));
    }
    if !deletes.is_empty() {
        let mut results = Vec::new();
        for raw in deletes {
            let id = php_int(raw).max(0) as u64;
            if id == 0 {
                continue;
            }
            results.push(match delete(store, base, target, id, true) {
                Ok(v) => v,
                Err(e) => failed(json!(id), e),
            });
        }
        out.insert("delete".into(), Value::Array(results));
    }
    // PHP's empty `array()` encodes as `[]`: an empty batch (the write-permission probe
    // of §8.2) answers `[]`, not `{}`.
    if out.is_empty() {
        return Ok(Answer::ok(json!([])));
    }
    Ok(Answer::ok(Value::Object(out)))
}

/// `POST /products`, `POST /products/{parent}/variations`: 201 with the new item.
pub fn create_single(
    store: &mut Store,
    base: &Base,
    target: Target,
    body: &Value,
) -> Result<Answer, WooError> {
    let req = body.as_object().cloned().unwrap_or_default();
    validate_schema(&req, target)?;
    let id = create(store, target, &req)?;
    Ok(Answer::json(201, render(store, base, target, id)))
}

/// `PUT /products/{id}`, `PUT /products/{parent}/variations/{id}`.
pub fn update_single(
    store: &mut Store,
    base: &Base,
    target: Target,
    id: u64,
    body: &Value,
) -> Result<Answer, WooError> {
    let mut req = body.as_object().cloned().unwrap_or_default();
    validate_schema(&req, target)?;
    req.insert("id".into(), json!(id));
    let id = update(store, target, &req)?;
    Ok(Answer::ok(render(store, base, target, id)))
}

/// `DELETE /products/{id}` (`force=true` deletes, else trashes).
pub fn delete_single(
    store: &mut Store,
    base: &Base,
    target: Target,
    id: u64,
    params: &Params,
) -> Result<Answer, WooError> {
    let force = matches!(params.get("force"), Some("1" | "true" | "yes"));
    delete(store, base, target, id, force).map(Answer::ok)
}

fn render(store: &Store, base: &Base, target: Target, id: u64) -> Value {
    match (target, store.items.get(&id)) {
        (Target::Products, Some(item)) => store.product_json(base, item, false),
        (Target::Variations(_), Some(item)) => store.variation_json(base, item, false),
        _ => Value::Null,
    }
}

/// The item an update or delete addresses, checked against the route.
fn addressed(store: &Store, target: Target, id: u64, status: u16) -> Result<Item, WooError> {
    let item = store
        .items
        .get(&id)
        .cloned()
        .ok_or_else(|| invalid_id(target.post_type(), status))?;
    match target {
        // `/products` refuses variations (§1.1, C-PROD).
        Target::Products if item.is_variation() => Err(WooError::new(
            404,
            "woocommerce_rest_invalid_product_id",
            "To manipulate product variations you should use the /products/<product_id>/variations/<id> endpoint.",
        )),
        // A variation addressed under another parent, or a product under `/variations`,
        // is not found there [inferred].
        Target::Variations(parent) if !item.is_variation() || item.parent_id != parent => {
            Err(invalid_id(target.post_type(), status))
        }
        _ => Ok(*item),
    }
}

fn create(store: &mut Store, target: Target, req: &Map<String, Value>) -> Result<u64, WooError> {
    if req.get("id").is_some_and(|v| php_int(v) != 0) {
        let post_type = target.post_type();
        return Err(WooError::new(
            400,
            &format!("woocommerce_rest_{post_type}_exists"),
            &format!("Cannot create existing {post_type}."),
        ));
    }
    let now = store.now();
    let mut item = match target {
        Target::Products => {
            let kind = req
                .get("type")
                .and_then(Value::as_str)
                .map_or(Kind::Simple, Kind::from_request);
            Item::new(0, kind, now)
        }
        Target::Variations(parent) => {
            if !store
                .items
                .get(&parent)
                .is_some_and(|p| p.kind == Kind::Variable)
            {
                // A variation needs a variable parent [inferred from C-VAR's
                // `invalid_parent` error].
                return Err(WooError::new(
                    404,
                    "woocommerce_rest_product_variation_invalid_parent",
                    "Cannot set attributes due to invalid parent product.",
                ));
            }
            let mut v = Item::new(0, Kind::Variation, now);
            v.parent_id = parent;
            v
        }
    };
    apply(store, &mut item, req, target)?;
    if item.kind != Kind::Variation {
        if item.name.is_empty() {
            item.name = "Product".into();
        }
        if item.slug.is_empty() {
            item.slug = unique_slug(store, &slugify(&item.name));
        }
    }
    item.id = store.next_id();
    save(store, item, now)
}

fn update(store: &mut Store, target: Target, req: &Map<String, Value>) -> Result<u64, WooError> {
    let id = req.get("id").map_or(0, php_int).max(0) as u64;
    let mut item = addressed(store, target, id, 400)?;
    apply(store, &mut item, req, target)?;
    let now = store.now();
    save(store, item, now)
}

fn delete(
    store: &mut Store,
    base: &Base,
    target: Target,
    id: u64,
    force: bool,
) -> Result<Value, WooError> {
    let mut item = addressed(store, target, id, 404)?;
    let before = match target {
        Target::Products => store.product_json(base, &item, false),
        Target::Variations(_) => store.variation_json(base, &item, false),
    };
    if force {
        store.remove(id);
        return Ok(before);
    }
    item.status = "trash".into();
    let now = store.now();
    save(store, item, now)?;
    Ok(render(store, base, target, id))
}

/// The save: the data store's rewrites, then the item is stored whole.
fn save(store: &mut Store, mut item: Item, now: i64) -> Result<u64, WooError> {
    // `handle_updated_props`: a sale price not below the regular price is cleared.
    if !item.sale_price.is_empty() && !super::state::less(&item.sale_price, &item.regular_price) {
        item.sale_price.clear();
    }
    // A sale whose end has passed is over: its price and dates are cleared on save.
    if item.sale_to.is_some_and(|t| t < now) {
        item.sale_price.clear();
        item.sale_from = None;
        item.sale_to = None;
    }
    if item.manage_stock && item.kind != Kind::Variable {
        let qty = item.stock.unwrap_or(0);
        item.stock_status = if qty > 0 {
            "instock".into()
        } else if item.backorders != "no" {
            "onbackorder".into()
        } else {
            "outofstock".into()
        };
    }
    item.modified = now;
    let id = item.id;
    let parent = item.parent_id;
    store.put(item);
    // A variation's save syncs its parent (price range, stock status), which saves the
    // parent too: it shows in `modified_after` as well [inferred from
    // `wc_deferred_product_sync`].
    if parent != 0
        && let Some(p) = store.items.get_mut(&parent)
    {
        p.modified = now;
    }
    Ok(id)
}

fn unique_slug(store: &Store, slug: &str) -> String {
    let slug = if slug.is_empty() { "product" } else { slug };
    let taken = |s: &str| store.items.values().any(|i| i.slug == s);
    if !taken(slug) {
        return slug.to_owned();
    }
    (2..)
        .map(|n| format!("{slug}-{n}"))
        .find(|s| !taken(s))
        .unwrap_or_default()
}

/// `prepare_object_for_database` of the products or the variations controller.
fn apply(
    store: &mut Store,
    item: &mut Item,
    raw: &Map<String, Value>,
    target: Target,
) -> Result<(), WooError> {
    // The controllers test fields with `isset()`, which is false for `null`: a `null`
    // leaves the field alone. Only `low_stock_amount` looks for the key itself.
    let req: Map<String, Value> = raw
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let has = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
    let text = |k: &str| req.get(k).map(php_string);
    let variation = item.is_variation();

    if !variation && let Some(t) = req.get("type").and_then(Value::as_str) {
        item.kind = Kind::from_request(t);
    }
    if !variation {
        if let Some(name) = text("name") {
            item.name = name;
        }
        if let Some(slug) = text("slug") {
            item.slug = slugify(&slug);
        }
        if let Some(s) = text("short_description") {
            item.short_description = s;
        }
        if let Some(v) = text("catalog_visibility") {
            if !["visible", "catalog", "search", "hidden"].contains(&v.as_str()) {
                return Err(WooError::new(
                    400,
                    "product_invalid_catalog_visibility",
                    "Invalid catalog visibility option.",
                ));
            }
            item.catalog_visibility = v.into();
        }
    }
    // A status WordPress has no post-status object for becomes `draft` (§1.2).
    if let Some(s) = text("status") {
        item.status = if POST_STATUSES.contains(&s.as_str()) {
            s.into()
        } else {
            "draft".into()
        };
    }
    if let Some(d) = text("description") {
        item.description = strip_scripts(&d);
    }
    if let Some(t) = text("tax_status") {
        if !["taxable", "shipping", "none"].contains(&t.as_str()) {
            return Err(WooError::new(
                400,
                "product_invalid_tax_status",
                "Invalid product tax status.",
            ));
        }
        item.tax_status = t.into();
    }
    if let Some(raw) = text("sku") {
        // `set_sku( wc_clean( … ) )`, unique across products and variations (§1.4).
        let sku = wc_clean(&raw);
        if !sku.is_empty()
            && let Some(owner) = live_sku_owner(store, &sku, item.id)
        {
            return Err(
                WooError::new(400, "product_invalid_sku", "Invalid or duplicated SKU.")
                    .with("resource_id", json!(owner))
                    .with("unique_sku", json!(unique_sku(store, &sku, item.id))),
            );
        }
        item.sku = sku;
    }
    if let Some(raw) = text("global_unique_id") {
        // The setter keeps only digits, `-` and `X`/`x` (§1.2, C-ABS).
        let gtin: String = raw
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '-' | 'x' | 'X'))
            .collect();
        if !gtin.is_empty()
            && let Some(owner) = store.gtin_owner(&gtin, item.id)
        {
            return Err(WooError::new(
                400,
                "product_invalid_global_unique_id",
                "Invalid or duplicated GTIN, UPC, EAN or ISBN.",
            )
            .with("resource_id", json!(owner)));
        }
        item.global_unique_id = gtin;
    }

    // Prices.
    if let Some(p) = req.get("regular_price") {
        item.regular_price = wc_format_decimal(p, &store.settings.decimal_sep);
    }
    if let Some(p) = req.get("sale_price") {
        item.sale_price = wc_format_decimal(p, &store.settings.decimal_sep);
    }
    for (field, gmt) in [
        ("date_on_sale_from", false),
        ("date_on_sale_from_gmt", true),
        ("date_on_sale_to", false),
        ("date_on_sale_to_gmt", true),
    ] {
        if let Some(v) = req.get(field) {
            let t = sale_date(v, gmt, store.utc_offset);
            if field.starts_with("date_on_sale_from") {
                item.sale_from = t;
            } else {
                item.sale_to = t;
            }
        }
    }
    if matches!(item.kind, Kind::Variable | Kind::Grouped) {
        // A variable or grouped parent has no price of its own (§1.2, C-PROD).
        item.regular_price.clear();
        item.sale_price.clear();
        item.sale_from = None;
        item.sale_to = None;
    }

    // Stock.
    let stock_status = text("stock_status").map(|s| {
        if ["instock", "outofstock", "onbackorder"].contains(&s.as_str()) {
            s
        } else {
            "instock".to_owned()
        }
    });
    if variation {
        // C-VAR: no store-wide check; `"parent"` is `false` through `wc_string_to_bool`;
        // a variation whose parent manages stock counts as managing (its own `_stock` is
        // then written but never reported: the parent's is).
        if let Some(m) = req.get("manage_stock") {
            item.manage_stock = string_to_bool(m);
        }
        if let Some(s) = &stock_status {
            item.stock_status = s.clone().into();
        }
        if let Some(b) = text("backorders") {
            item.backorders = b.into();
        }
        let parent_manages = store
            .items
            .get(&item.parent_id)
            .is_some_and(|p| p.manage_stock);
        if item.manage_stock || parent_manages {
            if has("stock_quantity") {
                item.stock = Some(stock_amount(&req["stock_quantity"]));
            } else if has("inventory_delta") {
                item.stock = Some(item.stock.unwrap_or(0) + stock_amount(&req["inventory_delta"]));
            }
            if let Some(v) = raw.get("low_stock_amount") {
                item.low_stock_amount = (!v.is_null()).then(|| stock_amount(v));
            }
        } else {
            item.backorders = "no".into();
            item.stock = None;
            item.low_stock_amount = None;
        }
    } else if store.settings.manage_stock {
        if let Some(m) = req.get("manage_stock") {
            item.manage_stock = string_to_bool(m);
        }
        if let Some(b) = text("backorders") {
            item.backorders = b.into();
        }
        if item.manage_stock {
            if item.kind != Kind::Variable
                && let Some(s) = &stock_status
            {
                item.stock_status = s.clone().into();
            }
            if has("stock_quantity") {
                item.stock = Some(stock_amount(&req["stock_quantity"]));
            } else if has("inventory_delta") {
                item.stock = Some(item.stock.unwrap_or(0) + stock_amount(&req["inventory_delta"]));
            }
            if let Some(v) = raw.get("low_stock_amount") {
                item.low_stock_amount = (!v.is_null()).then(|| stock_amount(v));
            }
        } else {
            // Not managed: the quantity sent is dropped, and the call still succeeds.
            item.stock = None;
            if let Some(s) = &stock_status {
                item.stock_status = s.clone().into();
            }
        }
    } else if item.kind != Kind::Variable
        && let Some(s) = &stock_status
    {
        // Store-wide stock management off: every stock field but the status is ignored.
        item.stock_status = s.clone().into();
    }

    // Cost of goods: written only while the feature is on, ignored otherwise (§1.6).
    if store.cogs_enabled
        && let Some(Value::Object(cogs)) = req.get("cost_of_goods_sold")
    {
        if let Some(Value::Array(values)) = cogs.get("values") {
            // The `defined_value`s are summed into one value.
            item.cogs = values
                .iter()
                .filter_map(|v| v.get("defined_value"))
                .map(|v| {
                    php_string(v)
                        .trim()
                        .parse::<Decimal>()
                        .unwrap_or(Decimal::ZERO)
                })
                .sum();
        }
        if variation && let Some(o) = cogs.get("defined_value_overrides_parent") {
            item.cogs_overrides_parent = string_to_bool(o);
        }
    }

    if let Some(Value::Array(tags)) = req.get("tags") {
        let mut ids = Vec::new();
        for t in tags {
            if let Some(id) = t.get("id").map(php_int).filter(|id| *id > 0) {
                if store.tags.contains_key(&(id as u64)) {
                    ids.push(id as u64);
                }
            } else if let Some(name) = t
                .get("name")
                .map(php_string)
                .filter(|n| !n.trim().is_empty())
            {
                // Tags may be named, and are created when missing (§1.2).
                let name = name.trim().to_owned();
                let id = match store.tags.values().find(|t| t.name == name) {
                    Some(t) => t.id,
                    None => {
                        let id = store.next_id();
                        store.tags.insert(
                            id,
                            Term {
                                id,
                                slug: slugify(&name),
                                name,
                            },
                        );
                        id
                    }
                };
                ids.push(id);
            }
        }
        ids.dedup();
        item.tags = ids;
    }
    if let Some(Value::Array(cats)) = req.get("categories") {
        // Categories by id only.
        item.categories = cats
            .iter()
            .filter_map(|c| c.get("id").map(php_int))
            .filter(|id| *id > 0 && store.categories.contains_key(&(*id as u64)))
            .map(|id| id as u64)
            .collect();
    }
    if let Some(Value::Array(attrs)) = req.get("attributes") {
        if variation {
            let parent_attrs = store
                .items
                .get(&item.parent_id)
                .map(|p| p.attributes.clone())
                .unwrap_or_default();
            let mut picks = Vec::new();
            for a in attrs {
                let id = a.get("id").map_or(0, php_int) as u64;
                let name = a.get("name").map(php_string).unwrap_or_default();
                let Some(pa) = parent_attrs.iter().find(|pa| {
                    (id != 0 && pa.id == id) || (id == 0 && slugify(&pa.name) == slugify(&name))
                }) else {
                    continue;
                };
                let option = a.get("option").map(php_string).unwrap_or_default();
                picks.push((pa.id, pa.name.clone().into(), wc_clean(&option)));
            }
            item.picks = picks;
        } else {
            item.attributes = attrs
                .iter()
                .map(|a| Attribute {
                    id: a.get("id").map_or(0, php_int).max(0) as u64,
                    name: a.get("name").map(php_string).unwrap_or_default(),
                    options: match a.get("options") {
                        Some(Value::Array(o)) => o.iter().map(php_string).collect(),
                        _ => Vec::new(),
                    },
                })
                .collect();
        }
    }
    if let Some(m) = req.get("menu_order").filter(|v| php_int(v) != 0) {
        item.menu_order = php_int(m);
    }
    if let Some(Value::Array(meta)) = req.get("meta_data") {
        for m in meta {
            let Some(key) = m.get("key").map(php_string) else {
                continue;
            };
            let value = m.get("value").cloned().unwrap_or(Value::Null);
            match item.meta_data.iter_mut().find(|e| e["key"] == key.as_str()) {
                Some(e) => e["value"] = value,
                None => {
                    let id = store.next_id();
                    item.meta_data
                        .push(json!({"id": id, "key": key, "value": value}));
                }
            }
        }
    }
    let _ = target;
    Ok(())
}

/// WP's schema validation of a single write (batch items skip it, §4.2).
fn validate_schema(req: &Map<String, Value>, target: Target) -> Result<(), WooError> {
    let strings = [
        "name",
        "slug",
        "sku",
        "regular_price",
        "sale_price",
        "description",
        "short_description",
        "global_unique_id",
    ];
    for f in strings {
        if let Some(v) = req.get(f)
            && !v.is_string()
        {
            return Err(WooError::invalid_param(
                f,
                "rest_invalid_type",
                &format!("{f} is not of type string."),
            ));
        }
    }
    let enums: [(&str, &[&str]); 4] = [
        (
            "status",
            if target == Target::Products {
                &["draft", "pending", "private", "publish", "future"]
            } else {
                &["draft", "pending", "private", "publish"]
            },
        ),
        ("backorders", &["no", "notify", "yes"]),
        ("stock_status", &["instock", "outofstock", "onbackorder"]),
        ("tax_status", &["taxable", "shipping", "none"]),
    ];
    for (f, allowed) in enums {
        if let Some(v) = req.get(f)
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            return Err(WooError::invalid_param(
                f,
                "rest_not_in_enum",
                &format!("{f} is not one of {}.", allowed.join(", ")),
            ));
        }
    }
    if let Some(v) = req.get("stock_quantity")
        && !v.is_null()
        && !(v.is_i64() || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok()))
    {
        return Err(WooError::invalid_param(
            "stock_quantity",
            "rest_invalid_type",
            "stock_quantity is not of type integer.",
        ));
    }
    if let Some(v) = req.get("manage_stock")
        && !(v.is_boolean()
            || matches!(v.as_str(), Some("true" | "false" | "1" | "0" | "parent"))
            || v.as_i64().is_some_and(|n| n == 0 || n == 1))
    {
        return Err(WooError::invalid_param(
            "manage_stock",
            "rest_invalid_type",
            "manage_stock is not of type boolean.",
        ));
    }
    Ok(())
}

// ---- PHP's conversions ----------------------------------------------------------------

/// `(string) $v` for a JSON value.
fn php_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) | Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `(int) $v`.
fn php_int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => leading_number(s) as i64,
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// The numeric prefix of a string, as PHP's numeric casts read it ("12abc" → 12).
fn leading_number(s: &str) -> f64 {
    let s = s.trim_start();
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let ok = c.is_ascii_digit()
            || (c == '.' && !s[..i].contains('.'))
            || (i == 0 && matches!(c, '-' | '+'));
        if !ok {
            break;
        }
        end = i + c.len_utf8();
    }
    s[..end].parse().unwrap_or(0.0)
}

/// `wc_stock_amount`: an integer, truncated.
fn stock_amount(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => leading_number(s) as i64,
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// `wc_string_to_bool`.
fn string_to_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.to_lowercase().as_str(), "yes" | "true" | "1"),
        _ => false,
    }
}

/// `wc_format_decimal` with its defaults (no rounding): the store's decimal separator
/// becomes `.`, then every character but digits, `.` and `-` goes, and every `.` but
/// the last. So `"$17.50"` is `"17.50"`, `"abc"` is `""`, and on a store whose decimal
/// separator is `.`, `"19,99"` is `"1999"` (§4.3).
fn wc_format_decimal(v: &Value, decimal_sep: &str) -> String {
    let raw = match v {
        // A float keeps PHP's shortest form.
        Value::Number(n) => return n.to_string(),
        other => php_string(other),
    };
    let cleaned = wc_clean(&raw);
    let replaced = if decimal_sep.is_empty() {
        cleaned
    } else {
        cleaned.replace(decimal_sep, ".")
    };
    let kept: String = replaced
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
        .collect();
    match kept.rfind('.') {
        Some(last) => kept
            .char_indices()
            .filter(|(i, c)| *c != '.' || *i == last)
            .map(|(_, c)| c)
            .collect(),
        None => kept,
    }
}

/// `wc_clean` → `sanitize_text_field`: tags stripped, `%xx` octets removed, whitespace
/// runs (line breaks and tabs included) collapsed to one space, trimmed.
pub fn wc_clean(s: &str) -> String {
    let mut no_tags = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => no_tags.push(c),
            _ => {}
        }
    }
    let bytes: Vec<char> = no_tags.chars().collect();
    let mut no_octets = String::with_capacity(no_tags.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '%'
            && bytes.get(i + 1).is_some_and(char::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(char::is_ascii_hexdigit)
        {
            i += 3;
            continue;
        }
        no_octets.push(bytes[i]);
        i += 1;
    }
    no_octets.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `wp_kses_post` keeps most markup; the fake only drops `<script>` elements.
fn strip_scripts(s: &str) -> String {
    let mut out = s.to_owned();
    while let Some(start) = out.to_lowercase().find("<script") {
        let end = out.to_lowercase()[start..]
            .find("</script>")
            .map_or(out.len(), |e| start + e + "</script>".len());
        out.replace_range(start..end, "");
    }
    out
}

/// The live item (not trashed) that holds `sku` as its own, other than `except`.
fn live_sku_owner(store: &Store, sku: &str, except: u64) -> Option<u64> {
    store
        .ids_with_sku(sku)
        .into_iter()
        .find(|i| *i != except && store.items.get(i).is_some_and(|it| it.status != "trash"))
}

/// `wc_product_generate_unique_sku`: `sku-1`, `sku-2`, … the first that is free.
fn unique_sku(store: &Store, sku: &str, except: u64) -> String {
    (1..)
        .map(|n| format!("{sku}-{n}"))
        .find(|s| live_sku_owner(store, s, except).is_none())
        .unwrap_or_default()
}

/// A sale date: `""`/`null` clears it; local or GMT wall time otherwise.
fn sale_date(v: &Value, gmt: bool, utc_offset: i64) -> Option<i64> {
    let s = v.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    let wall = s.get(..19).unwrap_or(s);
    let t = chrono::NaiveDateTime::parse_from_str(wall, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .ok()?
        .and_utc()
        .timestamp();
    Some(if gmt { t } else { t - utc_offset })
}

// ---- orders -----------------------------------------------------------------------------

/// Changes an order's status (its `date_modified` moves). Cancelling a paid order puts
/// its stock back, as `wc_maybe_increase_stock_levels` does, on the same holders an
/// order takes from.
pub fn set_order_status(store: &mut Store, id: u64, status: &str) -> Result<(), WooFakeError> {
    let now = store.now();
    let Some(pos) = store.orders.iter().position(|o| o.id == id) else {
        return Err(WooFakeError::UnknownOrder(id));
    };
    let was = store.orders[pos].status.clone();
    if status == "cancelled" && was != "cancelled" {
        let lines = store.orders[pos].lines.clone();
        for line in lines {
            let item_id = if line.variation_id != 0 {
                line.variation_id
            } else {
                line.product_id
            };
            let Some(item) = store.items.get(&item_id) else {
                continue;
            };
            let holder = store.stock_holder(item);
            if let Some(h) = store.items.get_mut(&holder)
                && h.manage_stock
            {
                let qty = h.stock.unwrap_or(0) + line.quantity;
                h.stock = Some(qty);
                if qty > 0 {
                    h.stock_status = "instock".into();
                }
                h.modified = now;
            }
        }
    }
    let order = &mut store.orders[pos];
    order.status = status.to_owned();
    order.modified = now;
    Ok(())
}

/// See [`super::WooFake::place_order`].
pub fn place_order(store: &mut Store, lines: &[(&str, i64)]) -> Result<u64, WooFakeError> {
    let mut resolved: Vec<(Item, i64)> = Vec::new();
    for (key, qty) in lines {
        if *qty <= 0 {
            continue;
        }
        let id = super::resolve(store, key)
            .ok_or_else(|| WooFakeError::UnknownItem((*key).to_owned()))?;
        let item = store
            .items
            .get(&id)
            .cloned()
            .ok_or_else(|| WooFakeError::UnknownItem((*key).to_owned()))?;
        if matches!(item.kind, Kind::Variable | Kind::Grouped) {
            return Err(WooFakeError::NotPurchasable((*key).to_owned()));
        }
        resolved.push((*item, *qty));
    }
    if resolved.is_empty() {
        return Err(WooFakeError::EmptyOrder);
    }
    // What each stock holder loses (two variations sharing a parent add up).
    let mut demand: Vec<(u64, i64, String)> = Vec::new();
    for (item, qty) in &resolved {
        let holder = store.stock_holder(item);
        let managed = store.items.get(&holder).is_some_and(|h| h.manage_stock);
        if !managed {
            continue;
        }
        match demand.iter_mut().find(|(h, _, _)| *h == holder) {
            Some(d) => d.1 += qty,
            None => demand.push((holder, *qty, store.view_sku(item))),
        }
    }
    for (holder, wanted, sku) in &demand {
        if let Some(h) = store.items.get(holder)
            && h.backorders == "no"
            && h.stock.unwrap_or(0) < *wanted
        {
            return Err(WooFakeError::OutOfStock {
                item: sku.clone(),
                available: h.stock.unwrap_or(0),
                wanted: *wanted,
            });
        }
    }
    let now = store.now();
    for (holder, wanted, _) in &demand {
        if let Some(h) = store.items.get_mut(holder) {
            h.stock = Some(h.stock.unwrap_or(0) - wanted);
            let qty = h.stock.unwrap_or(0);
            if h.kind != Kind::Variable || h.manage_stock {
                h.stock_status = if qty > 0 {
                    "instock".into()
                } else if h.backorders != "no" {
                    "onbackorder".into()
                } else {
                    "outofstock".into()
                };
            }
            // `wc_update_product_stock` saves the stock holder: `date_modified` bumps.
            h.modified = now;
        }
    }
    let order_id = store.next_id();
    let mut order_lines = Vec::new();
    for (item, qty) in &resolved {
        let product_id = if item.is_variation() {
            item.parent_id
        } else {
            item.id
        };
        if let Some(p) = store.items.get_mut(&product_id) {
            p.total_sales += qty;
        }
        let price = store
            .active_price(item)
            .parse::<Decimal>()
            .unwrap_or(Decimal::ZERO);
        let line_id = store.next_id();
        order_lines.push(OrderLine {
            id: line_id,
            product_id,
            variation_id: if item.is_variation() { item.id } else { 0 },
            name: if item.is_variation() {
                store.variation_name(item)
            } else {
                item.name.clone()
            },
            sku: store.view_sku(item),
            quantity: *qty,
            price,
        });
    }
    store.orders.push(Order {
        id: order_id,
        status: "processing".into(),
        lines: order_lines,
        created: now,
        modified: now,
    });
    Ok(order_id)
}
