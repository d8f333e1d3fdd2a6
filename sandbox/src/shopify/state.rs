//! The fake store's data (shop, locations, products, variants, inventory levels), how it is
//! seeded from JSON, and how each record is rendered as a "superset" JSON object: every
//! field the fake knows, which the executor then projects onto what the query asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SeedError;

#[derive(Debug, Clone)]
pub struct Location {
    pub id: u64,
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub id: u64,
    pub title: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub compare_at: Option<Decimal>,
    pub barcode: Option<String>,
    pub requires_components: bool,
    pub inventory_item_id: u64,
    pub tracked: bool,
    pub unit_cost: Option<Decimal>,
    /// The value of each of the product's options, in option order.
    pub options: Vec<String>,
    /// location id → available. A location missing here means "not stocked there".
    /// `on_hand` always equals `available`: the fake has no committed or reserved units.
    pub levels: BTreeMap<u64, i64>,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: u64,
    pub title: String,
    /// `ACTIVE`, `ARCHIVED`, `DRAFT` or `UNLISTED`.
    pub status: String,
    /// Sorted and without repeats, as Shopify returns them.
    pub tags: Vec<String>,
    pub vendor: String,
    /// Unique in the store (Shopify's rule); seeds derive it from the title.
    pub handle: String,
    /// Option names with their values, in position order (`Title` / `Default Title` for
    /// a product without options).
    pub options: Vec<(String, Vec<String>)>,
    /// `productType`; empty when none.
    pub product_type: String,
    /// `descriptionHtml`, kept as sent; empty when none.
    pub description_html: String,
    pub variants: Vec<Variant>,
    /// Ids of the publications (sales channels) it is published to.
    pub published: BTreeSet<u64>,
}

/// A publication (sales channel); its name is its catalog's title.
#[derive(Debug, Clone)]
pub struct Publication {
    pub id: u64,
    pub name: String,
}

/// Shopify's handle for a text: lowercase, each run of characters that are not letters or
/// digits becomes one `-`, none at either end (`"Tee Shirt!"` → `tee-shirt`). `None` when
/// nothing is left. Written apart from the product's own rule on purpose: the fake judges
/// the product, so it must not borrow the product's answer.
pub fn handleize(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join("-"))
}

#[derive(Debug, Clone)]
pub struct Shop {
    pub name: String,
    pub domain: String,
    pub currency: String,
    pub scopes: Vec<String>,
}

/// Everything the fake store holds.
#[derive(Debug, Clone)]
pub struct StoreData {
    pub shop: Shop,
    pub locations: Vec<Location>,
    pub products: Vec<Product>,
    pub publications: Vec<Publication>,
    next_id: u64,
    positions: std::cell::RefCell<Positions>,
}

/// Where each variant sits in `products`, by variant id and by inventory item id: the fake
/// serves catalogs of 100,000 variants, where a scan per lookup made it the benchmark's
/// bottleneck. A position is checked on use and the whole map rebuilt on a miss, so code
/// that edits `products` directly never gets a wrong answer, only a slower one.
#[derive(Debug, Clone, Default)]
struct Positions {
    by_variant: HashMap<u64, (usize, usize)>,
    by_item: HashMap<u64, (usize, usize)>,
}

impl Positions {
    fn of(products: &[Product]) -> Positions {
        let mut positions = Positions::default();
        for (p, product) in products.iter().enumerate() {
            for (v, variant) in product.variants.iter().enumerate() {
                // The first one wins, as a scan in order would find it.
                positions.by_variant.entry(variant.id).or_insert((p, v));
                positions
                    .by_item
                    .entry(variant.inventory_item_id)
                    .or_insert((p, v));
            }
        }
        positions
    }
}

/// Which id a variant is looked up by.
#[derive(Debug, Clone, Copy)]
enum VariantKey {
    Id(u64),
    Item(u64),
}

pub fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of `gid://shopify/{kind}/{n}` (query suffixes ignored).
pub fn parse_gid(kind: &str, gid: &str) -> Option<u64> {
    let rest = gid.strip_prefix("gid://shopify/")?.strip_prefix(kind)?;
    let rest = rest.strip_prefix('/')?;
    let digits = rest.split('?').next()?;
    digits.parse().ok()
}

/// Shopify's `Money` scalar: always two decimals.
pub fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

/// `MoneyV2.amount` (a `Decimal` scalar): the shortest form with at least one decimal, as
/// Shopify prints it ("7.5", "10.0").
pub fn decimal_amount(d: Decimal) -> String {
    let n = d.normalize();
    if n.scale() == 0 {
        format!("{n}.0")
    } else {
        n.to_string()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SeedFile {
    shop: SeedShop,
    locations: Vec<SeedLocation>,
    products: Vec<SeedProduct>,
    #[serde(default = "default_publications")]
    publications: Vec<SeedPublication>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedPublication {
    id: u64,
    name: String,
}

/// A new shop's sales channels.
fn default_publications() -> Vec<SeedPublication> {
    [(1, "Online Store"), (2, "Point of Sale")]
        .map(|(id, name)| SeedPublication {
            id,
            name: name.to_owned(),
        })
        .into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SeedShop {
    name: String,
    domain: String,
    currency: String,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    [
        "read_products",
        "write_products",
        "read_inventory",
        "write_inventory",
        "read_locations",
        "write_publications",
    ]
    .map(String::from)
    .to_vec()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SeedLocation {
    id: u64,
    name: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SeedProduct {
    id: u64,
    title: String,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default = "active")]
    status: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    product_type: String,
    #[serde(default)]
    description_html: String,
    variants: Vec<SeedVariant>,
}

fn active() -> String {
    "ACTIVE".to_owned()
}

/// Tags as Shopify stores them: each input split on commas, trimmed, blanks dropped,
/// sorted, repeats removed (product-update-parity.json returns its input sorted).
pub fn normalize_tags<'a>(inputs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tags: Vec<String> = inputs
        .into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SeedVariant {
    id: u64,
    #[serde(default)]
    title: Option<String>,
    sku: Option<String>,
    price: Decimal,
    #[serde(default)]
    compare_at_price: Option<Decimal>,
    #[serde(default)]
    barcode: Option<String>,
    #[serde(default)]
    requires_components: bool,
    inventory_item_id: u64,
    #[serde(default = "yes")]
    tracked: bool,
    #[serde(default)]
    unit_cost: Option<Decimal>,
    /// location id (as a string key) → available
    #[serde(default)]
    levels: BTreeMap<String, i64>,
}

impl StoreData {
    pub fn from_seed(json: &str) -> Result<StoreData, SeedError> {
        let seed: SeedFile = serde_json::from_str(json)?;
        let locations: Vec<Location> = seed
            .locations
            .into_iter()
            .map(|l| Location {
                id: l.id,
                name: l.name,
                active: l.active,
            })
            .collect();
        let mut products = Vec::new();
        for p in seed.products {
            let mut variants = Vec::new();
            for v in p.variants {
                let mut levels = BTreeMap::new();
                for (loc, qty) in v.levels {
                    let loc_id: u64 = loc
                        .parse()
                        .map_err(|_| SeedError::Invalid(format!("location key {loc:?}")))?;
                    if !locations.iter().any(|l| l.id == loc_id) {
                        return Err(SeedError::Invalid(format!("unknown location {loc_id}")));
                    }
                    levels.insert(loc_id, qty);
                }
                let title = v.title.unwrap_or_else(|| "Default Title".to_owned());
                variants.push(Variant {
                    id: v.id,
                    options: vec![title.clone()],
                    title,
                    sku: v.sku,
                    price: v.price,
                    compare_at: v.compare_at_price,
                    barcode: v.barcode,
                    requires_components: v.requires_components,
                    inventory_item_id: v.inventory_item_id,
                    tracked: v.tracked,
                    unit_cost: v.unit_cost,
                    levels,
                });
            }
            let mut values: Vec<String> = Vec::new();
            for v in &variants {
                if !values.contains(&v.title) {
                    values.push(v.title.clone());
                }
            }
            let handle = p
                .handle
                .or_else(|| handleize(&p.title))
                .unwrap_or_else(|| "product".to_owned());
            products.push(Product {
                id: p.id,
                handle,
                options: vec![("Title".to_owned(), values)],
                title: p.title,
                status: p.status,
                tags: normalize_tags(p.tags.iter().map(String::as_str)),
                vendor: p.vendor,
                product_type: p.product_type,
                description_html: p.description_html,
                variants,
                published: BTreeSet::new(),
            });
        }
        let mut data = StoreData {
            shop: Shop {
                name: seed.shop.name,
                domain: seed.shop.domain,
                currency: seed.shop.currency,
                scopes: seed.shop.scopes,
            },
            locations,
            products,
            positions: Default::default(),
            publications: seed
                .publications
                .into_iter()
                .map(|p| Publication {
                    id: p.id,
                    name: p.name,
                })
                .collect(),
            next_id: 0,
        };
        data.next_id = data.max_id() + 1;
        data.check_unique_ids()?;
        Ok(data)
    }

    fn max_id(&self) -> u64 {
        let ids = self
            .locations
            .iter()
            .map(|l| l.id)
            .chain(self.products.iter().flat_map(|p| {
                std::iter::once(p.id)
                    .chain(p.variants.iter().flat_map(|v| [v.id, v.inventory_item_id]))
            }));
        ids.max().unwrap_or(1000)
    }

    fn check_unique_ids(&self) -> Result<(), SeedError> {
        let mut seen = HashMap::new();
        let all = self
            .products
            .iter()
            .flat_map(|p| p.variants.iter().map(|v| ("variant", v.id)))
            .chain(self.products.iter().map(|p| ("product", p.id)))
            .chain(
                self.products
                    .iter()
                    .flat_map(|p| p.variants.iter().map(|v| ("item", v.inventory_item_id))),
            )
            .chain(self.locations.iter().map(|l| ("location", l.id)));
        for key in all {
            if seen.insert(key, ()).is_some() {
                return Err(SeedError::Invalid(format!(
                    "duplicate {} id {}",
                    key.0, key.1
                )));
            }
        }
        Ok(())
    }

    /// A fresh numeric id for records created at run time.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn location(&self, id: u64) -> Option<&Location> {
        self.locations.iter().find(|l| l.id == id)
    }

    pub fn location_by_name(&self, name: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.name == name)
    }

    pub fn variants(&self) -> impl Iterator<Item = (&Product, &Variant)> {
        self.products
            .iter()
            .flat_map(|p| p.variants.iter().map(move |v| (p, v)))
    }

    /// The position of the variant `key` names, from [`Positions`] (rebuilt on a miss).
    fn locate(&self, key: VariantKey) -> Option<(usize, usize)> {
        let find = |positions: &Positions| match key {
            VariantKey::Id(id) => positions.by_variant.get(&id).copied(),
            VariantKey::Item(item) => positions.by_item.get(&item).copied(),
        };
        let holds = |(p, v): (usize, usize)| {
            self.products
                .get(p)
                .and_then(|p| p.variants.get(v))
                .is_some_and(|v| match key {
                    VariantKey::Id(id) => v.id == id,
                    VariantKey::Item(item) => v.inventory_item_id == item,
                })
        };
        if let Some(at) = find(&self.positions.borrow()).filter(|&at| holds(at)) {
            return Some(at);
        }
        let fresh = Positions::of(&self.products);
        let at = find(&fresh).filter(|&at| holds(at));
        *self.positions.borrow_mut() = fresh;
        at
    }

    fn located(&self, key: VariantKey) -> Option<(&Product, &Variant)> {
        let (p, v) = self.locate(key)?;
        let product = self.products.get(p)?;
        Some((product, product.variants.get(v)?))
    }

    fn located_mut(&mut self, key: VariantKey) -> Option<&mut Variant> {
        let (p, v) = self.locate(key)?;
        self.products.get_mut(p)?.variants.get_mut(v)
    }

    pub fn variant(&self, id: u64) -> Option<(&Product, &Variant)> {
        self.located(VariantKey::Id(id))
    }

    pub fn variant_mut(&mut self, id: u64) -> Option<&mut Variant> {
        self.located_mut(VariantKey::Id(id))
    }

    pub fn by_item(&self, item: u64) -> Option<(&Product, &Variant)> {
        self.located(VariantKey::Item(item))
    }

    pub fn by_item_mut(&mut self, item: u64) -> Option<&mut Variant> {
        self.located_mut(VariantKey::Item(item))
    }

    /// The first variant carrying `sku` (SKUs need not be unique in Shopify).
    pub fn by_sku_mut(&mut self, sku: &str) -> Option<&mut Variant> {
        self.products
            .iter_mut()
            .flat_map(|p| p.variants.iter_mut())
            .find(|v| v.sku.as_deref() == Some(sku))
    }

    pub fn product(&self, id: u64) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn product_by_handle(&self, handle: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.handle == handle)
    }

    pub fn product_mut(&mut self, id: u64) -> Option<&mut Product> {
        self.products.iter_mut().find(|p| p.id == id)
    }

    pub fn publication(&self, id: u64) -> Option<&Publication> {
        self.publications.iter().find(|p| p.id == id)
    }

    // ---- superset renderings -------------------------------------------------------

    /// A publication; Shopify's sales channels have an app catalog titled like the channel.
    pub fn publication_json(&self, p: &Publication) -> Value {
        json!({
            "__typename": "Publication",
            "id": gid("Publication", p.id),
            "name": p.name,
            "autoPublish": false,
            "catalog": {
                "__typename": "AppCatalog",
                "id": gid("AppCatalog", p.id),
                "title": p.name,
                "status": "ACTIVE",
            },
        })
    }

    pub fn shop_json(&self) -> Value {
        json!({
            "__typename": "Shop",
            "id": gid("Shop", 1),
            "name": self.shop.name,
            "myshopifyDomain": self.shop.domain,
            "currencyCode": self.shop.currency,
            "email": format!("owner@{}", self.shop.domain),
        })
    }

    pub fn installation_json(&self) -> Value {
        let scopes: Vec<Value> = self
            .shop
            .scopes
            .iter()
            .map(|h| json!({"__typename": "AccessScope", "handle": h, "description": null}))
            .collect();
        json!({"__typename": "AppInstallation", "id": gid("AppInstallation", 1), "accessScopes": scopes})
    }

    pub fn location_json(&self, l: &Location) -> Value {
        json!({
            "__typename": "Location",
            "id": gid("Location", l.id),
            "legacyResourceId": l.id.to_string(),
            "name": l.name,
            "isActive": l.active,
            "activatable": !l.active,
            "deactivatable": l.active,
            "fulfillsOnlineOrders": l.active,
        })
    }

    /// Locations in Shopify's default order (`sortKey: NAME`).
    pub fn locations_sorted(&self) -> Vec<&Location> {
        let mut v: Vec<&Location> = self.locations.iter().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    pub fn level_json(&self, v: &Variant, loc: u64, qty: i64) -> Value {
        let location = self
            .location(loc)
            .map(|l| self.location_json(l))
            .unwrap_or(Value::Null);
        let names = [
            ("available", qty),
            ("on_hand", qty),
            ("committed", 0),
            ("incoming", 0),
            ("reserved", 0),
            ("damaged", 0),
            ("quality_control", 0),
            ("safety_stock", 0),
        ];
        let quantities: Vec<Value> = names
            .iter()
            .map(|(name, q)| {
                json!({
                    "__typename": "InventoryQuantity",
                    "id": format!("gid://shopify/InventoryQuantity/{loc}?inventory_item_id={}&name={name}", v.inventory_item_id),
                    "name": name, "quantity": q,
                    // Live: only `available` carries a timestamp.
                    "updatedAt": (*name == "available").then_some("2026-01-01T00:00:00Z"),
                })
            })
            .collect();
        json!({
            "__typename": "InventoryLevel",
            "id": format!("gid://shopify/InventoryLevel/{loc}?inventory_item_id={}", v.inventory_item_id),
            "isActive": true,
            "canDeactivate": true,
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "location": location,
            "item": self.item_json_shallow(v),
            "quantities": quantities,
        })
    }

    /// An inventory item without its levels (used where nesting would loop).
    fn item_json_shallow(&self, v: &Variant) -> Value {
        json!({
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", v.inventory_item_id),
            "legacyResourceId": v.inventory_item_id.to_string(),
            "sku": v.sku,
            "tracked": v.tracked,
            "requiresShipping": true,
            "unitCost": v.unit_cost.map(|c| json!({
                "__typename": "MoneyV2",
                "amount": decimal_amount(c),
                "currencyCode": self.shop.currency,
            })),
        })
    }

    pub fn item_json(&self, p: &Product, v: &Variant) -> Value {
        let mut item = self.item_json_shallow(v);
        let levels: Vec<Value> = v
            .levels
            .iter()
            .map(|(loc, qty)| self.level_json(v, *loc, *qty))
            .collect();
        item["inventoryLevels"] = Value::Array(levels);
        item["variant"] = self.variant_json_shallow(p, v);
        item
    }

    fn product_json_shallow(&self, p: &Product) -> Value {
        let tracked: Vec<&Variant> = p.variants.iter().filter(|v| v.tracked).collect();
        let total: i64 = tracked.iter().flat_map(|v| v.levels.values()).sum();
        json!({
            "__typename": "Product",
            "id": gid("Product", p.id),
            "legacyResourceId": p.id.to_string(),
            "title": p.title,
            "handle": p.handle,
            "options": p.options.iter().enumerate().map(|(i, (name, values))| json!({
                "__typename": "ProductOption",
                "id": gid("ProductOption", p.id * 10 + i as u64),
                "name": name,
                "position": i + 1,
                "values": values,
                "optionValues": values.iter().map(|v| json!({
                    "__typename": "ProductOptionValue",
                    "name": v,
                    "hasVariants": p.variants.iter().any(|x| x.options.get(i) == Some(v)),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "status": p.status,
            "tags": p.tags,
            "vendor": p.vendor,
            "productType": p.product_type,
            "descriptionHtml": p.description_html,
            "totalInventory": total,
            "tracksInventory": !tracked.is_empty(),
            // `resourcePublications` (onlyPublished, the default): where it is published.
            "resourcePublications": p.published.iter().filter_map(|id| self.publication(*id)).map(|pubn| json!({
                "__typename": "ResourcePublication",
                "isPublished": true,
                "publishDate": "2026-01-01T00:00:00Z",
                "publication": self.publication_json(pubn),
            })).collect::<Vec<_>>(),
            // `publishedOnPublication(publicationId:)`, keyed by the argument.
            "publishedOnPublication": p.published.iter()
                .map(|id| (gid("Publication", *id), Value::Bool(true)))
                .collect::<serde_json::Map<String, Value>>(),
        })
    }

    fn variant_json_shallow(&self, p: &Product, v: &Variant) -> Value {
        let position = p.variants.iter().position(|x| x.id == v.id).unwrap_or(0) + 1;
        json!({
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", v.id),
            "legacyResourceId": v.id.to_string(),
            "title": v.title,
            "displayName": format!("{} - {}", p.title, v.title),
            "sku": v.sku,
            "price": money(v.price),
            "compareAtPrice": v.compare_at.map(money),
            "barcode": v.barcode,
            "requiresComponents": v.requires_components,
            "inventoryQuantity": v.levels.values().sum::<i64>(),
            "position": position,
            "taxable": true,
            "inventoryPolicy": "DENY",
            "selectedOptions": p.options.iter().zip(&v.options).map(|((name, _), value)| json!({
                "__typename": "SelectedOption", "name": name, "value": value,
            })).collect::<Vec<_>>(),
            "product": self.product_json_shallow(p),
        })
    }

    pub fn variant_json(&self, p: &Product, v: &Variant) -> Value {
        let mut out = self.variant_json_shallow(p, v);
        let mut item = self.item_json_shallow(v);
        item["inventoryLevels"] = Value::Array(
            v.levels
                .iter()
                .map(|(loc, qty)| self.level_json(v, *loc, *qty))
                .collect(),
        );
        item["variant"] = self.variant_json_shallow(p, v);
        out["inventoryItem"] = item;
        out
    }

    pub fn product_json(&self, p: &Product) -> Value {
        let mut out = self.product_json_shallow(p);
        out["variants"] =
            Value::Array(p.variants.iter().map(|v| self.variant_json(p, v)).collect());
        out
    }

    /// Whatever object a GID names, rendered, or `Null`.
    pub fn node_json(&self, id: &str) -> Value {
        if let Some(n) = parse_gid("ProductVariant", id) {
            if let Some((p, v)) = self.variant(n) {
                return self.variant_json(p, v);
            }
        } else if let Some(n) = parse_gid("Product", id) {
            if let Some(p) = self.product(n) {
                return self.product_json(p);
            }
        } else if let Some(n) = parse_gid("InventoryItem", id) {
            if let Some((p, v)) = self.by_item(n) {
                return self.item_json(p, v);
            }
        } else if let Some(n) = parse_gid("Location", id) {
            if let Some(l) = self.location(n) {
                return self.location_json(l);
            }
        } else if let Some(loc) = parse_gid("InventoryLevel", id) {
            let item = id
                .split("inventory_item_id=")
                .nth(1)
                .and_then(|s| s.parse::<u64>().ok());
            if let Some((_, v)) = item.and_then(|i| self.by_item(i))
                && let Some(q) = v.levels.get(&loc)
            {
                return self.level_json(v, loc, *q);
            }
        }
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_stay_right_when_products_are_edited_directly() {
        let seed = json!({
            "shop": {"name": "S", "domain": "s.myshopify.com", "currency": "USD"},
            "locations": [{"id": 1, "name": "Main"}],
            "products": [
                {"id": 10, "title": "A", "variants": [
                    {"id": 101, "sku": "A1", "price": "1.00", "inventoryItemId": 1001},
                    {"id": 102, "sku": "A2", "price": "1.00", "inventoryItemId": 1002}
                ]},
                {"id": 20, "title": "B", "variants": [
                    {"id": 201, "sku": "B1", "price": "1.00", "inventoryItemId": 2001}
                ]}
            ]
        });
        let mut data = StoreData::from_seed(&seed.to_string()).unwrap();
        assert_eq!(
            data.variant(102).map(|(p, v)| (p.id, v.id)),
            Some((10, 102))
        );
        assert_eq!(data.by_item(2001).map(|(_, v)| v.id), Some(201));

        // Removed behind the index's back: the stale position is caught, not followed.
        data.products[0].variants.remove(0);
        assert!(data.variant(101).is_none());
        assert!(data.by_item(1001).is_none());
        assert_eq!(data.variant(102).map(|(_, v)| v.id), Some(102));
        assert_eq!(data.by_item_mut(1002).map(|v| v.id), Some(102));

        // Added behind its back: found by the rebuild a miss triggers.
        let mut extra = data.products[1].variants[0].clone();
        (extra.id, extra.inventory_item_id) = (202, 2002);
        data.products[1].variants.push(extra);
        assert_eq!(data.variant(202).map(|(p, _)| p.id), Some(20));
        assert_eq!(
            data.variant_mut(202).map(|v| v.inventory_item_id),
            Some(2002)
        );
    }
}

#[cfg(test)]
mod handle_tests {
    use super::handleize;

    #[test]
    fn handles_are_lowercase_words_joined_by_single_hyphens() {
        assert_eq!(handleize("Tee Shirt!").as_deref(), Some("tee-shirt"));
        assert_eq!(
            handleize("  --Mug  (Blue) 2--").as_deref(),
            Some("mug-blue-2")
        );
        assert_eq!(handleize("Café Crème").as_deref(), Some("café-crème"));
        assert_eq!(handleize("!!!"), None);
        assert_eq!(handleize(""), None);
    }
}
