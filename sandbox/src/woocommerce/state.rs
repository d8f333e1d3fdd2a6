//! The fake WooCommerce store's data: products, variations (one id space, as WordPress
//! posts share one), terms, orders, store settings and the clock; the seed (the demo
//! catalogue and the big generated ones); and how an item is rendered as WooCommerce's
//! REST objects (the products controller's and the variations controller's shapes).
//! Writes live in `write`, reads' filtering in `read`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

/// What kind of post an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Simple,
    Variable,
    Grouped,
    External,
    Variation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Simple => "simple",
            Kind::Variable => "variable",
            Kind::Grouped => "grouped",
            Kind::External => "external",
            Kind::Variation => "variation",
        }
    }

    /// A product type named in a request; anything unknown becomes a simple product, as
    /// `WC_Product_Factory` falls back to `WC_Product_Simple` (brief §1.2, C-PROD).
    pub fn from_request(s: &str) -> Kind {
        match s {
            "variable" => Kind::Variable,
            "grouped" => Kind::Grouped,
            "external" => Kind::External,
            _ => Kind::Simple,
        }
    }
}

/// A short word from a fixed set (`publish`, `instock`, `no`, …): borrowed when it is
/// one of WooCommerce's own, so 100,000 generated items do not allocate five each.
pub type Word = Cow<'static, str>;

/// A variable parent's attribute (the options its variations pick from).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub id: u64,
    pub name: String,
    pub options: Vec<String>,
}

/// A product or a variation, as the database holds it (own props, not the inherited
/// view: `sku` is the item's own `_sku`, empty when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: u64,
    /// 0 for products; the parent product for variations.
    pub parent_id: u64,
    pub kind: Kind,
    /// Products only; a variation's name is derived from its parent and attributes.
    pub name: String,
    pub slug: String,
    pub status: Word,
    pub description: String,
    pub short_description: String,
    pub sku: String,
    /// Strings as stored (`wc_format_decimal`, not rounded); `""` = unset.
    pub regular_price: String,
    pub sale_price: String,
    /// Scheduled sale bounds (GMT, unix seconds).
    pub sale_from: Option<i64>,
    pub sale_to: Option<i64>,
    /// The own `_manage_stock` prop. A variation whose own prop is off while its parent
    /// manages stock reports `"parent"` (brief §1.2, C-PV).
    pub manage_stock: bool,
    /// The own `_stock`; `None` is `''`.
    pub stock: Option<i64>,
    pub stock_status: Word,
    pub backorders: Word,
    pub low_stock_amount: Option<i64>,
    pub global_unique_id: String,
    /// Cost of goods (the own defined value; zero is "no meta", brief §1.6).
    pub cogs: Decimal,
    pub cogs_overrides_parent: bool,
    pub tags: Vec<u64>,
    pub categories: Vec<u64>,
    /// A variable parent's attributes.
    pub attributes: Vec<Attribute>,
    /// A variation's picks: (attribute id, attribute name, option).
    pub picks: Vec<(u64, Word, String)>,
    /// A variable parent's variation ids, in menu order.
    pub variations: Vec<u64>,
    pub tax_status: Word,
    pub catalog_visibility: Word,
    pub menu_order: i64,
    pub total_sales: i64,
    pub meta_data: Vec<Value>,
    /// GMT, unix seconds.
    pub created: i64,
    pub modified: i64,
}

impl Item {
    /// A fresh item with WooCommerce's defaults.
    pub fn new(id: u64, kind: Kind, now: i64) -> Item {
        Item {
            id,
            parent_id: 0,
            kind,
            name: String::new(),
            slug: String::new(),
            status: Cow::Borrowed("publish"),
            description: String::new(),
            short_description: String::new(),
            sku: String::new(),
            regular_price: String::new(),
            sale_price: String::new(),
            sale_from: None,
            sale_to: None,
            manage_stock: false,
            stock: None,
            stock_status: Cow::Borrowed("instock"),
            backorders: Cow::Borrowed("no"),
            low_stock_amount: None,
            global_unique_id: String::new(),
            cogs: Decimal::ZERO,
            cogs_overrides_parent: false,
            tags: Vec::new(),
            categories: Vec::new(),
            attributes: Vec::new(),
            picks: Vec::new(),
            variations: Vec::new(),
            tax_status: Cow::Borrowed("taxable"),
            catalog_visibility: Cow::Borrowed("visible"),
            menu_order: 0,
            total_sales: 0,
            meta_data: Vec::new(),
            created: now,
            modified: now,
        }
    }

    pub fn is_variation(&self) -> bool {
        self.kind == Kind::Variation
    }
}

/// A product tag or category.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub id: u64,
    pub name: String,
    pub slug: String,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub id: u64,
    pub product_id: u64,
    /// 0 when the line is a product, not a variation.
    pub variation_id: u64,
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    pub price: Decimal,
}

/// An order placed through [`super::WooFake::place_order`].
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: u64,
    pub status: String,
    pub lines: Vec<OrderLine>,
    pub created: i64,
    pub modified: i64,
}

/// The store's general and product settings that matter to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub currency: String,
    pub currency_pos: String,
    pub thousand_sep: String,
    pub decimal_sep: String,
    pub num_decimals: u32,
    /// The store-wide `woocommerce_manage_stock` option.
    pub manage_stock: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            currency: "USD".into(),
            currency_pos: "left".into(),
            thousand_sep: ",".into(),
            decimal_sep: ".".into(),
            num_decimals: 2,
            manage_stock: true,
        }
    }
}

/// Everything the fake store holds.
#[derive(Debug, Clone)]
pub struct Store {
    /// Boxed: a map node then holds pointers, not 600-byte items (a catalogue of
    /// 100,000 variations shrinks by a quarter).
    pub items: BTreeMap<u64, Box<Item>>,
    /// Own SKU → the item holding it.
    skus: HashMap<String, u64>,
    /// Own SKU → further items holding it: duplicates a test forced in, as old imports
    /// leave them (brief §1.4). Kept apart so the common case costs no `Vec`.
    sku_extra: HashMap<String, Vec<u64>>,
    pub tags: BTreeMap<u64, Term>,
    pub categories: BTreeMap<u64, Term>,
    pub orders: Vec<Order>,
    pub settings: Settings,
    /// WooCommerce version, e.g. `10.3.0`.
    pub version: String,
    pub cogs_enabled: bool,
    /// The site's offset from UTC in seconds (local dates are `date_*`, GMT `date_*_gmt`).
    pub utc_offset: i64,
    /// Added to the wall clock: tests move the store's time forward.
    pub clock_offset: i64,
    next_id: u64,
}

impl Store {
    pub fn empty(version: &str, utc_offset: i64) -> Store {
        Store {
            items: BTreeMap::new(),
            skus: HashMap::new(),
            sku_extra: HashMap::new(),
            tags: BTreeMap::new(),
            categories: BTreeMap::new(),
            orders: Vec::new(),
            settings: Settings::default(),
            version: version.to_owned(),
            cogs_enabled: false,
            utc_offset,
            clock_offset: 0,
            next_id: 10,
        }
    }

    /// The store's clock, GMT unix seconds (WordPress dates have second granularity).
    pub fn now(&self) -> i64 {
        Utc::now().timestamp() + self.clock_offset
    }

    /// A fresh post id (products, variations and orders share the id space).
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whether the version is at least `major.minor`.
    pub fn version_at_least(&self, major: u64, minor: u64) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.trim().parse::<u64>().unwrap_or(0));
        let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (a, b) >= (major, minor)
    }

    /// Inserts or replaces an item, keeping the SKU index and the parent's list right.
    pub fn put(&mut self, item: Item) {
        if let Some(old) = self.items.get(&item.id) {
            let (old_sku, id) = (old.sku.clone(), old.id);
            self.unindex_sku(&old_sku, id);
        }
        if !item.sku.is_empty() {
            match self.skus.get(&item.sku) {
                Some(first) if *first != item.id => self
                    .sku_extra
                    .entry(item.sku.clone())
                    .or_default()
                    .push(item.id),
                Some(_) => {}
                None => {
                    self.skus.insert(item.sku.clone(), item.id);
                }
            }
        }
        if item.is_variation()
            && let Some(parent) = self.items.get_mut(&item.parent_id)
            && !parent.variations.contains(&item.id)
        {
            parent.variations.push(item.id);
        }
        self.next_id = self.next_id.max(item.id);
        self.items.insert(item.id, Box::new(item));
    }

    /// Deletes an item for good (and a variable product's variations with it).
    pub fn remove(&mut self, id: u64) -> Option<Box<Item>> {
        let item = self.items.remove(&id)?;
        self.unindex_sku(&item.sku, id);
        for child in &item.variations {
            if let Some(c) = self.items.remove(child) {
                self.unindex_sku(&c.sku, c.id);
            }
        }
        if let Some(parent) = self.items.get_mut(&item.parent_id) {
            parent.variations.retain(|v| *v != id);
        }
        Some(item)
    }

    fn unindex_sku(&mut self, sku: &str, id: u64) {
        if sku.is_empty() {
            return;
        }
        if self.skus.get(sku) == Some(&id) {
            // The next holder, if any, takes its place.
            let next = self
                .sku_extra
                .get_mut(sku)
                .and_then(|extra| (!extra.is_empty()).then(|| extra.remove(0)));
            match next {
                Some(next) => {
                    self.skus.insert(sku.to_owned(), next);
                }
                None => {
                    self.skus.remove(sku);
                }
            }
        } else if let Some(extra) = self.sku_extra.get_mut(sku) {
            extra.retain(|i| *i != id);
        }
        if self.sku_extra.get(sku).is_some_and(Vec::is_empty) {
            self.sku_extra.remove(sku);
        }
    }

    /// Every item holding `sku` as its own, the first holder first.
    pub fn ids_with_sku(&self, sku: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = self.skus.get(sku).copied().into_iter().collect();
        ids.extend(self.sku_extra.get(sku).into_iter().flatten().copied());
        ids
    }

    /// The (first) item holding `sku` as its own.
    pub fn first_with_sku(&self, sku: &str) -> Option<u64> {
        self.skus.get(sku).copied()
    }

    /// The item holding `gtin`, other than `except`.
    pub fn gtin_owner(&self, gtin: &str, except: u64) -> Option<u64> {
        self.items
            .values()
            .find(|i| i.id != except && i.global_unique_id == gtin)
            .map(|i| i.id)
    }

    /// The SKU an item reports (`get_sku('view')`): a variation without its own
    /// inherits its parent's (brief §1.2, C-PV).
    pub fn view_sku(&self, item: &Item) -> String {
        if item.sku.is_empty() && item.is_variation() {
            return self
                .items
                .get(&item.parent_id)
                .map(|p| p.sku.clone())
                .unwrap_or_default();
        }
        item.sku.clone()
    }

    /// Whether a variation's stock is its parent's (`manage_stock: "parent"`).
    pub fn stock_from_parent(&self, item: &Item) -> bool {
        item.is_variation()
            && !item.manage_stock
            && self
                .items
                .get(&item.parent_id)
                .is_some_and(|p| p.manage_stock)
    }

    /// The item that holds this item's stock (itself, or its parent for `"parent"`).
    pub fn stock_holder(&self, item: &Item) -> u64 {
        if self.stock_from_parent(item) {
            item.parent_id
        } else {
            item.id
        }
    }

    /// Whether a scheduled or running sale makes `sale_price` the active price now.
    pub fn on_sale(&self, item: &Item) -> bool {
        if item.sale_price.is_empty() {
            return false;
        }
        let now = self.now();
        let started = item.sale_from.is_none_or(|f| f <= now);
        let running = item.sale_to.is_none_or(|t| t > now);
        started && running && less(&item.sale_price, &item.regular_price)
    }

    /// The derived, read-only `price`.
    pub fn active_price(&self, item: &Item) -> String {
        match item.kind {
            Kind::Variable => {
                // The lowest active price of its variations (what `_price` holds).
                let mut best: Option<(Decimal, String)> = None;
                for child in item.variations.iter().filter_map(|c| self.items.get(c)) {
                    let p = self.active_price(child);
                    if let Ok(d) = p.parse::<Decimal>()
                        && best.as_ref().is_none_or(|(b, _)| d < *b)
                    {
                        best = Some((d, p));
                    }
                }
                best.map(|(_, p)| p).unwrap_or_default()
            }
            Kind::Grouped => String::new(),
            _ => {
                if self.on_sale(item) {
                    item.sale_price.clone()
                } else {
                    item.regular_price.clone()
                }
            }
        }
    }

    /// A date pair (`date_x`, `date_x_gmt`) as WooCommerce prints them: no zone.
    pub fn dates(&self, t: i64) -> (String, String) {
        let gmt = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let local = DateTime::<Utc>::from_timestamp(t + self.utc_offset, 0).unwrap_or_default();
        (
            local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            gmt.format("%Y-%m-%dT%H:%M:%S").to_string(),
        )
    }

    fn terms_json(&self, ids: &[u64], tags: bool) -> Value {
        let table = if tags { &self.tags } else { &self.categories };
        Value::Array(
            ids.iter()
                .filter_map(|id| table.get(id))
                .map(|t| json!({"id": t.id, "name": t.name, "slug": t.slug}))
                .collect(),
        )
    }

    /// A variation's display name, as WooCommerce derives it.
    pub fn variation_name(&self, item: &Item) -> String {
        let parent = self
            .items
            .get(&item.parent_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let picks: Vec<&str> = item.picks.iter().map(|(_, _, o)| o.as_str()).collect();
        if picks.is_empty() {
            parent
        } else {
            format!("{parent} - {}", picks.join(", "))
        }
    }

    fn stock_view(&self, item: &Item) -> (Value, Option<i64>, String) {
        // (manage_stock as reported, stock_quantity, backorders)
        if self.stock_from_parent(item)
            && let Some(parent) = self.items.get(&item.parent_id)
        {
            return (json!("parent"), parent.stock, parent.backorders.to_string());
        }
        if item.manage_stock {
            (json!(true), item.stock, item.backorders.to_string())
        } else {
            (json!(false), None, item.backorders.to_string())
        }
    }

    fn stock_status_view(&self, item: &Item) -> String {
        if item.kind == Kind::Variable {
            // Derived from the children (brief §1.2).
            let children: Vec<&Item> = item
                .variations
                .iter()
                .filter_map(|c| self.items.get(c).map(|i| &**i))
                .collect();
            if children.is_empty() {
                return item.stock_status.to_string();
            }
            for wanted in ["instock", "onbackorder"] {
                if children.iter().any(|c| self.stock_status_view(c) == wanted) {
                    return wanted.into();
                }
            }
            return "outofstock".into();
        }
        if self.stock_from_parent(item)
            && let Some(parent) = self.items.get(&item.parent_id)
        {
            return parent.stock_status.to_string();
        }
        item.stock_status.to_string()
    }

    fn cogs_json(&self, item: &Item) -> Value {
        let num = |d: Decimal| -> Value {
            let f: f64 = d.to_string().parse().unwrap_or(0.0);
            json!(f)
        };
        let values = if item.cogs.is_zero() {
            json!([])
        } else {
            json!([{"defined_value": num(item.cogs), "effective_value": num(item.cogs)}])
        };
        if item.is_variation() {
            let parent = self
                .items
                .get(&item.parent_id)
                .map_or(Decimal::ZERO, |p| p.cogs);
            // A variation's cost adds to its parent's unless it overrides it (§1.6).
            let total = if item.cogs_overrides_parent {
                item.cogs
            } else {
                parent + item.cogs
            };
            json!({"values": values, "total_value": num(total),
                   "defined_value_overrides_parent": item.cogs_overrides_parent})
        } else {
            json!({"values": values, "total_value": num(item.cogs)})
        }
    }

    fn links(&self, base: &Base, item: &Item) -> Value {
        if item.is_variation() {
            json!({
                "self": [{"href": base.api(&format!("/products/{}/variations/{}", item.parent_id, item.id))}],
                "collection": [{"href": base.api(&format!("/products/{}/variations", item.parent_id))}],
                "up": [{"href": base.api(&format!("/products/{}", item.parent_id))}],
            })
        } else {
            json!({
                "self": [{"href": base.api(&format!("/products/{}", item.id))}],
                "collection": [{"href": base.api("/products")}],
            })
        }
    }

    fn sale_dates(&self, item: &Item, out: &mut Map<String, Value>) {
        for (name, t) in [
            ("date_on_sale_from", item.sale_from),
            ("date_on_sale_to", item.sale_to),
        ] {
            match t {
                Some(t) => {
                    let (local, gmt) = self.dates(t);
                    out.insert(name.into(), json!(local));
                    out.insert(format!("{name}_gmt"), json!(gmt));
                }
                None => {
                    out.insert(name.into(), Value::Null);
                    out.insert(format!("{name}_gmt"), Value::Null);
                }
            }
        }
    }

    /// An item as the products controller renders it (`/products`, `/products/{id}`;
    /// a variation fetched there too, as `type: "variation"`). `edit` is
    /// `context=edit`: raw description, and a variation's own SKU.
    pub fn product_json(&self, base: &Base, item: &Item, edit: bool) -> Value {
        let (created, created_gmt) = self.dates(item.created);
        let (modified, modified_gmt) = self.dates(item.modified);
        let (manage, qty, backorders) = self.stock_view(item);
        let price = self.active_price(item);
        let on_sale = item.kind != Kind::Variable && self.on_sale(item);
        let name = if item.is_variation() {
            self.variation_name(item)
        } else {
            item.name.clone()
        };
        let sku = if edit {
            item.sku.clone()
        } else {
            self.view_sku(item)
        };
        let stock_status = self.stock_status_view(item);
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("id", json!(item.id));
        put("name", json!(name));
        put("slug", json!(item.slug));
        put("permalink", json!(base.permalink(&item.slug)));
        put("date_created", json!(created));
        put("date_created_gmt", json!(created_gmt));
        put("date_modified", json!(modified));
        put("date_modified_gmt", json!(modified_gmt));
        put("type", json!(item.kind.as_str()));
        put("status", json!(item.status));
        put("featured", json!(false));
        put("catalog_visibility", json!(item.catalog_visibility));
        put(
            "description",
            json!(if edit {
                item.description.clone()
            } else {
                wpautop(&item.description)
            }),
        );
        put(
            "short_description",
            json!(if edit {
                item.short_description.clone()
            } else {
                wpautop(&item.short_description)
            }),
        );
        put("sku", json!(sku));
        put("price", json!(price));
        put("regular_price", json!(item.regular_price));
        put("sale_price", json!(item.sale_price));
        self.sale_dates(item, &mut o);
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("price_html", json!(price_html(&price, &self.settings)));
        put("on_sale", json!(on_sale));
        put("purchasable", json!(!price.is_empty()));
        put("total_sales", json!(item.total_sales));
        put("virtual", json!(false));
        put("downloadable", json!(false));
        put("downloads", json!([]));
        put("download_limit", json!(-1));
        put("download_expiry", json!(-1));
        put("external_url", json!(""));
        put("button_text", json!(""));
        put("tax_status", json!(item.tax_status));
        put("tax_class", json!(""));
        put("manage_stock", manage);
        put("stock_quantity", json!(qty));
        put("stock_status", json!(stock_status));
        put("backorders", json!(backorders));
        put("backorders_allowed", json!(backorders != "no"));
        put("backordered", json!(false));
        put("low_stock_amount", json!(item.low_stock_amount));
        put("sold_individually", json!(false));
        put("weight", json!(""));
        put(
            "dimensions",
            json!({"length": "", "width": "", "height": ""}),
        );
        put("shipping_required", json!(true));
        put("shipping_taxable", json!(true));
        put("shipping_class", json!(""));
        put("shipping_class_id", json!(0));
        put("reviews_allowed", json!(true));
        put("average_rating", json!("0.00"));
        put("rating_count", json!(0));
        put("related_ids", json!([]));
        put("upsell_ids", json!([]));
        put("cross_sell_ids", json!([]));
        put("parent_id", json!(item.parent_id));
        put("purchase_note", json!(""));
        put("categories", self.terms_json(&item.categories, false));
        put("tags", self.terms_json(&item.tags, true));
        put("images", json!([]));
        put(
            "attributes",
            if item.is_variation() {
                picks_json(item)
            } else {
                attributes_json(item)
            },
        );
        put("default_attributes", json!([]));
        put("variations", json!(item.variations));
        put("grouped_products", json!([]));
        put("menu_order", json!(item.menu_order));
        put("meta_data", json!(item.meta_data));
        put("global_unique_id", json!(item.global_unique_id));
        if self.cogs_enabled {
            o.insert("cost_of_goods_sold".into(), self.cogs_json(item));
        }
        o.insert("_links".into(), self.links(base, item));
        Value::Object(o)
    }

    /// A variation as the variations controller renders it (`fixtures/woocommerce/
    /// variation_retrieve.json`): no `name` or `type`; `sku` and the stock fields as
    /// `get_*()` in view context report them, whatever `context` says (brief §8.3).
    /// `with_parent` adds `parent_id`, as `GET /variations` does (10.3+).
    pub fn variation_json(&self, base: &Base, item: &Item, with_parent: bool) -> Value {
        let (created, created_gmt) = self.dates(item.created);
        let (modified, modified_gmt) = self.dates(item.modified);
        let (manage, qty, backorders) = self.stock_view(item);
        let price = self.active_price(item);
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("id", json!(item.id));
        if with_parent {
            put("parent_id", json!(item.parent_id));
        }
        put("date_created", json!(created));
        put("date_created_gmt", json!(created_gmt));
        put("date_modified", json!(modified));
        put("date_modified_gmt", json!(modified_gmt));
        put("description", json!(wpautop(&item.description)));
        put(
            "permalink",
            json!(format!(
                "{}?{}",
                self.items
                    .get(&item.parent_id)
                    .map(|p| base.permalink(&p.slug))
                    .unwrap_or_default(),
                item.picks
                    .iter()
                    .map(|(_, n, o)| format!("attribute_pa_{}={}", slugify(n), slugify(o)))
                    .collect::<Vec<_>>()
                    .join("&")
            )),
        );
        put("sku", json!(self.view_sku(item)));
        put("global_unique_id", json!(item.global_unique_id));
        put("price", json!(price));
        put("regular_price", json!(item.regular_price));
        put("sale_price", json!(item.sale_price));
        self.sale_dates(item, &mut o);
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("on_sale", json!(self.on_sale(item)));
        put("status", json!(item.status));
        put("purchasable", json!(!price.is_empty()));
        put("virtual", json!(false));
        put("downloadable", json!(false));
        put("downloads", json!([]));
        put("download_limit", json!(-1));
        put("download_expiry", json!(-1));
        put("tax_status", json!(item.tax_status));
        put("tax_class", json!(""));
        put("manage_stock", manage);
        put("stock_quantity", json!(qty));
        put("stock_status", json!(self.stock_status_view(item)));
        put("backorders", json!(backorders));
        put("backorders_allowed", json!(backorders != "no"));
        put("backordered", json!(false));
        put("low_stock_amount", json!(item.low_stock_amount));
        put("weight", json!(""));
        put(
            "dimensions",
            json!({"length": "", "width": "", "height": ""}),
        );
        put("shipping_class", json!(""));
        put("shipping_class_id", json!(0));
        put(
            "image",
            json!({
                "id": 0, "date_created": created, "date_created_gmt": created_gmt,
                "date_modified": modified, "date_modified_gmt": modified_gmt,
                "src": format!("{}/wp-content/plugins/woocommerce/assets/images/placeholder.png", base.home),
                "name": "Placeholder", "alt": "Placeholder",
            }),
        );
        put("attributes", picks_json(item));
        put("menu_order", json!(item.menu_order));
        put("meta_data", json!(item.meta_data));
        if self.cogs_enabled {
            o.insert("cost_of_goods_sold".into(), self.cogs_json(item));
        }
        o.insert("_links".into(), self.links(base, item));
        Value::Object(o)
    }

    pub fn order_json(&self, base: &Base, order: &Order) -> Value {
        let (created, created_gmt) = self.dates(order.created);
        let (modified, modified_gmt) = self.dates(order.modified);
        let total: Decimal = order
            .lines
            .iter()
            .map(|l| l.price * Decimal::from(l.quantity))
            .sum();
        let money = |d: Decimal| format!("{:.*}", self.settings.num_decimals as usize, d);
        json!({
            "id": order.id,
            "parent_id": 0,
            // Order numbers are strings on the wire, ids are numbers.
            "number": order.id.to_string(),
            "order_key": format!("wc_order_{:013x}", order.id),
            "created_via": "checkout",
            "version": self.version,
            "status": order.status,
            "currency": self.settings.currency,
            "date_created": created,
            "date_created_gmt": created_gmt,
            "date_modified": modified,
            "date_modified_gmt": modified_gmt,
            "discount_total": money(Decimal::ZERO),
            "shipping_total": money(Decimal::ZERO),
            "total": money(total),
            "total_tax": money(Decimal::ZERO),
            "customer_id": 0,
            "payment_method": "cod",
            "date_paid": created,
            "date_paid_gmt": created_gmt,
            "date_completed": null,
            "date_completed_gmt": null,
            "line_items": order.lines.iter().map(|l| json!({
                "id": l.id,
                "name": l.name,
                "product_id": l.product_id,
                "variation_id": l.variation_id,
                "quantity": l.quantity,
                "tax_class": "",
                "subtotal": money(l.price * Decimal::from(l.quantity)),
                "subtotal_tax": money(Decimal::ZERO),
                "total": money(l.price * Decimal::from(l.quantity)),
                "total_tax": money(Decimal::ZERO),
                "taxes": [],
                "meta_data": [],
                "sku": l.sku,
                // A float in WooCommerce's order schema, unlike the product prices.
                "price": l.price.to_string().parse::<f64>().unwrap_or(0.0),
            })).collect::<Vec<_>>(),
            "_links": {
                "self": [{"href": base.api(&format!("/orders/{}", order.id))}],
                "collection": [{"href": base.api("/orders")}],
            },
        })
    }
}

/// Where this server is reached, for links and permalinks.
#[derive(Debug, Clone)]
pub struct Base {
    /// `http://127.0.0.1:PORT`
    pub home: String,
    /// Links use `?rest_route=` when the site has no pretty permalinks.
    pub pretty: bool,
}

impl Base {
    /// `rest_url('/wc/v3' + path)`.
    pub fn api(&self, path: &str) -> String {
        if self.pretty {
            format!("{}/wp-json/wc/v3{path}", self.home)
        } else {
            format!("{}/?rest_route=/wc/v3{path}", self.home)
        }
    }

    pub fn permalink(&self, slug: &str) -> String {
        format!("{}/product/{slug}/", self.home)
    }
}

fn attributes_json(item: &Item) -> Value {
    Value::Array(
        item.attributes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                json!({"id": a.id, "name": a.name, "slug": format!("pa_{}", slugify(&a.name)),
                       "position": i, "visible": true, "variation": true, "options": a.options})
            })
            .collect(),
    )
}

fn picks_json(item: &Item) -> Value {
    Value::Array(
        item.picks
            .iter()
            .map(|(id, name, option)| json!({"id": id, "name": name, "option": option}))
            .collect(),
    )
}

fn price_html(price: &str, settings: &Settings) -> String {
    if price.is_empty() {
        return String::new();
    }
    format!(
        "<span class=\"woocommerce-Price-amount amount\"><span class=\"woocommerce-Price-currencySymbol\">{}</span>{price}</span>",
        currency_symbol(&settings.currency)
    )
}

pub fn currency_symbol(code: &str) -> &'static str {
    match code {
        "USD" | "CAD" | "AUD" => "&#36;",
        "EUR" => "&euro;",
        "GBP" => "&pound;",
        "JPY" => "&yen;",
        _ => "",
    }
}

pub fn currency_name(code: &str) -> &'static str {
    match code {
        "USD" => "United States (US) dollar",
        "EUR" => "Euro",
        "GBP" => "Pound sterling",
        "CAD" => "Canadian dollar",
        "AUD" => "Australian dollar",
        "JPY" => "Japanese yen",
        _ => "",
    }
}

/// `a < b` as PHP compares the two price strings as floats (`""` is 0).
pub fn less(a: &str, b: &str) -> bool {
    let f = |s: &str| s.trim().parse::<Decimal>().unwrap_or(Decimal::ZERO);
    f(a) < f(b)
}

/// `sanitize_title`, roughly: lowercase words joined by `-`.
pub fn slugify(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.join("-")
}

/// `wc_format_content` → `wpautop` on view-context descriptions: the read-back of a
/// plain-text description comes wrapped in `<p>…</p>\n` (the fixtures' batch request
/// sends plain text, the response carries paragraphs).
pub fn wpautop(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let block = ["<p", "<div", "<ul", "<ol", "<h", "<table", "<blockquote"]
            .iter()
            .any(|t| para.starts_with(t));
        if block {
            out.push_str(para);
            out.push('\n');
        } else {
            out.push_str("<p>");
            out.push_str(&para.replace('\n', "<br />\n"));
            out.push_str("</p>\n");
        }
    }
    out
}
