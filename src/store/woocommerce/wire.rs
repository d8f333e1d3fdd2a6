//! WooCommerce's REST shapes (`wc/v3`) for the fields sheetsync reads, and the pure
//! mapping from its product and variation lists to the planner's [`Snapshot`] with the
//! identity rules of SPEC §8. No IO: every rule is unit-tested against the fixtures.
//!
//! - Prices are strings (`""` = none), quantities integers, `null` when not managed.
//! - `manage_stock` is `true`, `false` or, on a variation, `"parent"` (its stock is the
//!   parent's, reported on the variation and written to the parent).
//! - A variation without a SKU of its own reports its parent's: it matches nothing, and
//!   the parent's row addresses the parent only.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Currency, Sku};
use crate::plan::{OWN_STOCK, Snapshot, Stock, StoreProduct, StoreVariant, WooItem};

/// `manage_stock` as WooCommerce sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManageStock {
    #[default]
    No,
    Yes,
    /// A variation whose stock is its parent's.
    Parent,
}

impl<'de> Deserialize<'de> for ManageStock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ManageStock, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(ManageStock::Yes),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok(ManageStock::No),
            serde_json::Value::String(s) if s == "parent" => Ok(ManageStock::Parent),
            other => Err(serde::de::Error::custom(format!(
                "manage_stock {other} is neither a boolean nor \"parent\""
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tag {
    #[serde(default)]
    pub name: String,
}

/// `cost_of_goods_sold` (present only when the feature is on).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct Cogs {
    #[serde(default)]
    pub values: Vec<CogsValue>,
    pub total_value: Option<serde_json::Number>,
    #[serde(default)]
    pub defined_value_overrides_parent: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CogsValue {
    pub defined_value: Option<serde_json::Number>,
}

/// A product or a variation, as far as sheetsync reads it. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Item {
    pub id: u64,
    /// `simple`, `variable`, `grouped`, `external`; absent on variations.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub parent_id: u64,
    pub status: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<Tag>,
    pub regular_price: String,
    pub sale_price: String,
    pub date_on_sale_from_gmt: Option<String>,
    pub date_on_sale_to_gmt: Option<String>,
    pub date_on_sale_from: Option<String>,
    pub date_on_sale_to: Option<String>,
    pub manage_stock: ManageStock,
    pub stock_quantity: Option<serde_json::Number>,
    pub global_unique_id: Option<String>,
    pub cost_of_goods_sold: Option<Cogs>,
    /// A variable product's variation ids.
    pub variations: Vec<u64>,
    pub date_modified_gmt: Option<String>,
}

impl Item {
    /// A variable (or grouped) product: WooCommerce blanks prices written to it.
    pub fn is_parent_kind(&self) -> bool {
        matches!(self.kind.as_deref(), Some("variable" | "grouped"))
    }

    fn scheduled_sale(&self) -> bool {
        let set = |d: &Option<String>| d.as_deref().is_some_and(|d| !d.trim().is_empty());
        set(&self.date_on_sale_from_gmt)
            || set(&self.date_on_sale_to_gmt)
            || set(&self.date_on_sale_from)
            || set(&self.date_on_sale_to)
    }
}

/// Why an item could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// A price string: `""` is none; anything else must be a decimal.
pub fn price(raw: &str, id: u64, field: &str) -> Result<Option<Decimal>, Unreadable> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<Decimal>()
        .map(|d| Some(d.normalize()))
        .map_err(|_| Unreadable(format!("item {id}: {field} {raw:?} is not a decimal")))
}

fn quantity(n: &Option<serde_json::Number>, id: u64) -> Result<Option<i64>, Unreadable> {
    match n {
        None => Ok(None),
        Some(n) => match n.as_i64() {
            Some(q) => Ok(Some(q)),
            // A store that filters `wc_is_stock_amount_integer` off sends floats; a whole
            // one is still a quantity.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| Some(f as i64))
                .ok_or_else(|| Unreadable(format!("item {id}: stock_quantity {n} is not whole"))),
        },
    }
}

/// The item's cost: its total (effective) value, none when zero or absent (WooCommerce
/// stores zero as no value).
fn cost(cogs: &Option<Cogs>) -> Option<Decimal> {
    let cogs = cogs.as_ref()?;
    let value = match &cogs.total_value {
        Some(n) => n.to_string().parse::<Decimal>().ok()?,
        None => cogs
            .values
            .iter()
            .filter_map(|v| v.defined_value.as_ref())
            .filter_map(|n| n.to_string().parse::<Decimal>().ok())
            .sum(),
    };
    (!value.is_zero()).then(|| value.normalize())
}

/// The product's own fields, shared by its variations.
fn product_of(item: &Item) -> StoreProduct {
    StoreProduct {
        id: item.id.to_string(),
        title: item.name.clone(),
        status: item.status.clone(),
        tags: item.tags.iter().map(|t| t.name.clone()).collect(),
        vendor: String::new(),
        product_type: String::new(),
        description: item.description.clone(),
    }
}

fn stock_of(quantity: Option<i64>) -> Stock {
    Stock::new(Arc::from(vec![OWN_STOCK.to_owned()]), vec![quantity])
}

/// The planner's snapshot of a catalogue: `products` (every product, variable parents
/// included) and `variations` (each with its `parent_id`). Also returns how many items
/// have no SKU of their own (and so match no row).
pub fn snapshot(
    products: &[Item],
    variations: &[Item],
    currency: Currency,
) -> Result<(Snapshot, usize), Unreadable> {
    let mut out: HashMap<Sku, Vec<StoreVariant>> = HashMap::new();
    let mut without_sku = 0usize;
    let mut parents: HashMap<u64, (&Item, Arc<StoreProduct>)> = HashMap::new();
    for p in products {
        let shared = Arc::new(product_of(p));
        parents.insert(p.id, (p, Arc::clone(&shared)));
        let Some(sku) = Sku::new(&p.sku) else {
            without_sku += 1;
            continue;
        };
        let variant = item_variant(p, None, shared)?;
        out.entry(sku).or_default().push(variant);
    }
    for v in variations {
        let Some((parent, shared)) = parents.get(&v.parent_id) else {
            // A variation whose parent the product list did not hold (trashed, or created
            // between the two reads): nothing to address it by.
            without_sku += 1;
            continue;
        };
        // The inheritance trap: a variation without its own SKU reports its parent's.
        let own = Sku::new(&v.sku).filter(|s| Sku::new(&parent.sku).as_ref() != Some(s));
        let Some(sku) = own else {
            without_sku += 1;
            continue;
        };
        let variant = item_variant(v, Some(parent), Arc::clone(shared))?;
        out.entry(sku).or_default().push(variant);
    }
    Ok((
        Snapshot {
            currency,
            variants: out,
        },
        without_sku,
    ))
}

/// One product or variation as the planner sees it.
pub fn item_variant(
    item: &Item,
    parent: Option<&Item>,
    product: Arc<StoreProduct>,
) -> Result<StoreVariant, Unreadable> {
    let regular = price(&item.regular_price, item.id, "regular_price")?;
    let sale = price(&item.sale_price, item.id, "sale_price")?;
    let parent_stock = item.manage_stock == ManageStock::Parent;
    let tracked = item.manage_stock != ManageStock::No;
    let quantity = if tracked {
        quantity(&item.stock_quantity, item.id)?
    } else {
        None
    };
    // Stock held by the parent is written to the parent.
    let stock_owner = match (parent_stock, parent) {
        (true, Some(p)) => p.id,
        _ => item.id,
    };
    Ok(StoreVariant {
        variant_id: item.id.to_string().into(),
        product,
        inventory_item_id: stock_owner.to_string().into(),
        price: regular.unwrap_or_default(),
        compare_at_price: None,
        cost: cost(&item.cost_of_goods_sold),
        barcode: item
            .global_unique_id
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned),
        tracked,
        bundle: false,
        stock: stock_of(quantity),
        woo: Some(Box::new(WooItem {
            regular_price: regular,
            sale_price: sale,
            scheduled_sale: item.scheduled_sale(),
            variable: parent.is_none() && item.is_parent_kind(),
            parent_id: parent.map(|p| p.id.to_string()).unwrap_or_default(),
            parent_stock,
        })),
    })
}

/// `{"code", "message", "data": {"status"}}`, WooCommerce's error envelope.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// The error envelope of a body, when it is one (an HTML or empty body is not).
pub fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .filter(|e| !e.code.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, FieldKey, Value};

    fn fixture(name: &str) -> serde_json::Value {
        let Some(path) = sheetsync_sandbox::shared::shared_path(
            "woocommerce fixtures",
            &format!("fixtures/woocommerce/{name}"),
        ) else {
            return serde_json::Value::Null;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Object fixtures carry their response under `body`; the list is the array itself.
        if doc.get("body").is_some() {
            doc["body"].clone()
        } else {
            doc
        }
    }

    fn item(v: serde_json::Value) -> Item {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_recorded_product_and_variations_read() {
        let product = fixture("product_retrieve.json");
        if product.is_null() {
            eprintln!("SKIP: ../shared fixtures not present");
            return;
        }
        let p: Item = serde_json::from_value(product).unwrap();
        assert_eq!(p.id, 794);
        assert_eq!(p.kind.as_deref(), Some("simple"));
        assert_eq!(p.manage_stock, ManageStock::No);
        assert_eq!(
            price(&p.regular_price, p.id, "regular_price"),
            Ok(Some(Decimal::new(2199, 2)))
        );
        assert_eq!(price(&p.sale_price, p.id, "sale_price"), Ok(None));
        let list: Vec<Item> = serde_json::from_value(fixture("variations_list.json")).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|v| v.kind.is_none() && v.sku.is_empty()));
    }

    fn parent(sku: &str) -> serde_json::Value {
        serde_json::json!({"id": 10, "type": "variable", "sku": sku, "name": "Tee",
            "status": "publish", "regular_price": "", "sale_price": "",
            "manage_stock": true, "stock_quantity": 7, "variations": [11, 12, 13]})
    }

    #[test]
    fn a_variation_without_its_own_sku_matches_nothing() {
        let products = vec![item(parent("TEE"))];
        let variations = vec![
            // Reports its parent's SKU: WooCommerce's inheritance.
            item(serde_json::json!({"id": 11, "parent_id": 10, "sku": "TEE",
                "regular_price": "9.00", "manage_stock": "parent", "stock_quantity": 7})),
            item(serde_json::json!({"id": 12, "parent_id": 10, "sku": "",
                "regular_price": "9.00", "manage_stock": false})),
            item(
                serde_json::json!({"id": 13, "parent_id": 10, "sku": "TEE-M",
                "regular_price": "9.50", "sale_price": "8.00", "manage_stock": "parent",
                "stock_quantity": 7}),
            ),
        ];
        let (snap, without) = snapshot(&products, &variations, Currency::new("USD")).unwrap();
        assert_eq!(without, 2);
        // The parent's row addresses the parent only.
        let tee = &snap.variants[&Sku::new("TEE").unwrap()];
        assert_eq!(tee.len(), 1);
        assert_eq!(tee[0].variant_id.to_string(), "10");
        assert!(tee[0].woo.as_ref().unwrap().variable);
        let m = &snap.variants[&Sku::new("TEE-M").unwrap()][0];
        let woo = m.woo.as_ref().unwrap();
        assert!(woo.parent_stock && !woo.variable);
        assert_eq!(woo.parent_id, "10");
        // Shared stock is written to the parent; product fields are the parent's.
        assert_eq!(m.inventory_item_id.to_string(), "10");
        assert_eq!(m.product_id(), "10");
        assert_eq!(m.value(&FieldKey::own_stock()), Some(Value::Qty(7)));
        assert_eq!(
            m.value(&FieldKey::variant(Field::SalePrice)),
            Some(Value::Money(Decimal::new(800, 2)))
        );
        assert_eq!(
            m.value(&FieldKey::variant(Field::RegularPrice)),
            Some(Value::Money(Decimal::new(950, 2)))
        );
    }

    #[test]
    fn a_sku_on_two_items_keeps_both() {
        let products = vec![
            item(serde_json::json!({"id": 1, "type": "simple", "sku": "A", "manage_stock": false})),
            item(serde_json::json!({"id": 2, "type": "simple", "sku": "A", "manage_stock": false})),
        ];
        let (snap, _) = snapshot(&products, &[], Currency::new("USD")).unwrap();
        assert_eq!(snap.variants[&Sku::new("A").unwrap()].len(), 2);
    }

    #[test]
    fn unmanaged_stock_scheduled_sales_cost_and_barcodes_read_as_the_store_means_them() {
        let p = item(serde_json::json!({"id": 5, "type": "simple", "sku": "S",
            "regular_price": "20", "sale_price": "15", "date_on_sale_to_gmt": "2027-01-01T00:00:00",
            "manage_stock": false, "stock_quantity": null, "global_unique_id": "",
            "cost_of_goods_sold": {"values": [{"defined_value": 12.5, "effective_value": 12.5}],
                                   "total_value": 12.5}}));
        let v = item_variant(&p, None, Arc::new(product_of(&p))).unwrap();
        assert!(!v.tracked);
        assert_eq!(v.value(&FieldKey::own_stock()), None);
        assert!(v.woo.as_ref().unwrap().scheduled_sale);
        assert_eq!(v.cost, Some(Decimal::new(125, 1)));
        assert_eq!(v.barcode, None);
        let bad = item(serde_json::json!({"id": 6, "regular_price": "1,5"}));
        assert!(item_variant(&bad, None, Arc::new(product_of(&bad))).is_err());
        assert!(serde_json::from_value::<Item>(serde_json::json!({"manage_stock": "x"})).is_err());
    }

    #[test]
    fn error_envelopes_are_told_from_html_and_empty_bodies() {
        let e = error_body(br#"{"code":"woocommerce_rest_authentication_error","message":"Consumer secret is invalid.","data":{"status":401}}"#).unwrap();
        assert_eq!(e.code, "woocommerce_rest_authentication_error");
        assert_eq!(error_body(b"<html>503</html>"), None);
        assert_eq!(error_body(b""), None);
    }
}
