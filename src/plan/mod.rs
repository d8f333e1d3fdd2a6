//! The plan: what would change, computed purely from the sheet, the store snapshot and
//! the baseline (SPEC §4). No IO, no clock; output is sorted, so the same inputs give the
//! same plan, and dry run, JSON report and executor all consume this one value.
//!
//! - `diff`: per cell, sheet vs store vs baseline under the policy (§4.4);
//! - `guards`: the safety guards over the whole sheet (§4.6);
//! - `product`: product fields (title, status, tags, vendor, type, description), one
//!   value per product;
//! - `create`: products and variants for SKUs the store lacks (`sync.create_missing`);
//! - `replan`: what to do with a stock write that came back stale (§4.3).
//!
//! Choices the SPEC leaves open, made here:
//! - a location where the item has no inventory level is an empty store value: the policy
//!   decides as for any cell, and a push there is an activation. So under `three_way` a
//!   first run reports it `no_baseline` like every other differing cell (SPEC §4.4 names
//!   "a new location"), and a level removed in the admin under an unchanged cell is pulled
//!   as an empty cell. A zero cell never activates and counts as matching "not stocked";
//! - `--only` and the configured locations scope everything a cell can produce, errors
//!   included: an untracked item's stock cell does not block a `--only price` run;
//! - agreement records the baseline under `sheet_wins` too, so switching to `three_way`
//!   later does not start with every cell in conflict.

pub mod create;
mod diff;
mod gid;
mod guards;
mod product;
#[cfg(test)]
mod proptests;
mod replan;
mod stock;
#[cfg(test)]
mod tests;
mod woo;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use crate::config::Policy;
use crate::model::rows::{ParsedSheet, Row, RowError};
use crate::model::{CellRef, Currency, Field, FieldKey, LocationName, Sku, Value, tags_text};

pub use gid::Gid;
pub use replan::{NOTE_STORE_CHANGED, SKIP_STORE_KEPT_CHANGING, replan, replan_value};
pub use stock::Stock;

/// A product's own fields, as the store adapter read them. Shared (one `Arc`) by every
/// variant of the product, so a description is held once per product, not per variant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreProduct {
    pub id: String,
    pub title: String,
    /// The product's status as Shopify names it (`ACTIVE`, `UNLISTED`, …).
    pub status: String,
    /// The product's tags (any order; compared as [`crate::model::tags_text`]).
    pub tags: Vec<String>,
    /// The product's vendor; empty when it has none.
    pub vendor: String,
    /// The product's type (`productType`); empty when it has none.
    pub product_type: String,
    /// The product's `descriptionHtml`; empty when it has none.
    pub description: String,
}

/// One store variant, as the store adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVariant {
    pub variant_id: Gid,
    /// The product, shared with the product's other variants.
    pub product: Arc<StoreProduct>,
    pub inventory_item_id: Gid,
    pub price: Decimal,
    pub compare_at_price: Option<Decimal>,
    pub cost: Option<Decimal>,
    pub barcode: Option<String>,
    /// Whether Shopify tracks inventory for this item.
    pub tracked: bool,
    /// A bundle parent: its stock derives from its components and cannot be set.
    pub bundle: bool,
    /// `available` at each configured location; `None` = not stocked there (no level).
    /// A store without locations (WooCommerce) keeps its one number under `""`.
    pub stock: Stock,
    /// What WooCommerce says beyond the shared fields; `None` for a Shopify variant.
    pub woo: Option<Box<WooItem>>,
}

/// A WooCommerce item's facts the shared fields do not hold (SPEC §8). A variation's
/// `product` is its parent, so product fields on its row mean the parent's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WooItem {
    pub regular_price: Option<Decimal>,
    pub sale_price: Option<Decimal>,
    /// `date_on_sale_from` or `_to` is set: WooCommerce's own schedule moves the prices,
    /// so a price written now would not be the one the shop shows.
    pub scheduled_sale: bool,
    /// A variable product's own item: WooCommerce blanks any price written to it.
    pub variable: bool,
    /// The parent's id for a variation; empty for a product.
    pub parent_id: String,
    /// `manage_stock: "parent"`: the stock shown is the parent's and is written there
    /// (`inventory_item_id` names the parent).
    pub parent_stock: bool,
}

/// The key a store without locations keeps its one stock number under in [`Stock`].
pub const OWN_STOCK: &str = "";

impl StoreVariant {
    pub fn product_id(&self) -> &str {
        &self.product.id
    }

    /// For grouping the human plan by product.
    pub fn product_title(&self) -> &str {
        &self.product.title
    }

    /// The store's current value of `key` (`None` = empty / not stocked).
    pub fn value(&self, key: &FieldKey) -> Option<Value> {
        match key.field {
            Field::Price => Some(Value::Money(self.price)),
            Field::CompareAtPrice => self.compare_at_price.map(Value::Money),
            Field::RegularPrice => self
                .woo
                .as_ref()
                .and_then(|w| w.regular_price)
                .map(Value::Money),
            Field::SalePrice => self
                .woo
                .as_ref()
                .and_then(|w| w.sale_price)
                .map(Value::Money),
            Field::Cost => self.cost.map(Value::Money),
            Field::Barcode => self.barcode.clone().map(Value::Text),
            Field::Inventory => self
                .stock
                .available(key.location.as_deref().unwrap_or(OWN_STOCK))
                .map(Value::Qty),
            Field::Title => Some(Value::Text(self.product.title.clone())),
            Field::Status => Some(Value::Text(self.product.status.clone())),
            Field::Tags => tags_text(self.product.tags.iter().map(String::as_str)).map(Value::Text),
            Field::Vendor => non_empty(&self.product.vendor),
            Field::ProductType => non_empty(&self.product.product_type),
            Field::Description => non_empty(&self.product.description),
        }
    }
}

/// Product text as the sheet compares it: trimmed (a cell is read trimmed, and Shopify
/// keeps a description's trailing newline), and empty means "none".
fn non_empty(text: &str) -> Option<Value> {
    let text = text.trim();
    (!text.is_empty()).then(|| Value::Text(text.to_owned()))
}

/// What the store holds, keyed by SKU. A SKU on two variants keeps both (an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub currency: Currency,
    pub variants: HashMap<Sku, Vec<StoreVariant>>,
}

/// The values both sides last agreed on, per SKU and field (and location for stock).
/// An entry of `None` records that both sides agreed the field was empty.
pub type Baseline = HashMap<(Sku, FieldKey), Option<Value>>;

/// `--adopt`: how to settle `no_baseline` conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adopt {
    Sheet,
    Store,
}

/// Everything that steers a plan besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    pub policy: Policy,
    /// `--only`: restrict to these fields (`None` = every configured field).
    pub only: Option<BTreeSet<Field>>,
    pub adopt: Option<Adopt>,
    pub max_change_ratio: Decimal,
    pub max_price_change: Decimal,
    /// Configured stock locations (the guards and `--only inventory` need them).
    pub locations: Vec<LocationName>,
    /// The sheet's tab and the zero-based column of its SKU header (from
    /// `sheet::parse::Layout`): row-level errors found against the store name this cell.
    pub tab: String,
    pub sku_col: u32,
    /// `sync.create_missing`: what the store holds under the sheet's new handles. `None`
    /// keeps a SKU the store lacks a row error.
    pub create: Option<create::CreateContext>,
}

impl PlanOptions {
    /// Whether a cell is planned at all: its field is in `--only` (when given) and, for
    /// stock, its location is configured. Cells out of scope are ignored entirely.
    pub fn in_scope(&self, key: &FieldKey) -> bool {
        let field_ok = self
            .only
            .as_ref()
            .is_none_or(|only| only.contains(&key.field));
        let location_ok = match (&key.field, &key.location) {
            (Field::Inventory, Some(loc)) => self.locations.contains(loc),
            // A store without locations (WooCommerce): its one stock column.
            (Field::Inventory, None) => self.locations.is_empty(),
            (_, _) => true,
        };
        field_ok && location_ok
    }
}

/// A store write the plan asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub sku: Sku,
    pub row: u32,
    pub cell: CellRef,
    pub key: FieldKey,
    /// The store value the change is based on (compare-and-set for stock).
    pub from: Option<Value>,
    /// The new value; `None` clears the field.
    pub to: Option<Value>,
    pub product_id: String,
    pub product_title: String,
    pub variant_id: String,
    pub inventory_item_id: String,
    /// Stock at a location where the item has no level yet: `inventoryActivate`.
    pub activate: bool,
    /// Set on a re-planned change (`store changed during run`).
    pub note: Option<String>,
    /// Set on a value of a variant to create (`sync.create_missing`): `from` is `None`
    /// and the ids are empty (or the product's, when it exists).
    pub create: Option<create::New>,
}

/// A store value written into the sheet (three-way, store changed under an unchanged cell).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pull {
    pub sku: Sku,
    pub row: u32,
    pub cell: CellRef,
    pub key: FieldKey,
    /// The sheet's value before the pull.
    pub from: Option<Value>,
    pub to: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    BothChanged,
    NoBaseline,
    /// `revert`: the store no longer holds what the reverted run wrote, so the old value
    /// is not put back (`baseline` = what the run wrote).
    ChangedSince,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Sheet,
    Store,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub sku: Sku,
    pub row: u32,
    pub key: FieldKey,
    pub kind: ConflictKind,
    pub baseline: Option<Value>,
    pub sheet: Option<Value>,
    pub store: Option<Value>,
    pub resolution: Resolution,
    /// The sheet cell the conflict is about (the status page links to it). Last, so the
    /// derived order stays the one the fields above give.
    pub cell: CellRef,
}

/// A value both sides already agree on with no baseline yet: recorded silently.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Agreed {
    pub sku: Sku,
    pub key: FieldKey,
    pub value: Option<Value>,
}

/// A safety guard that refuses the plan (exit 4 unless `--yes`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum Refusal {
    /// The sheet has no data rows.
    EmptySheet,
    /// More than `max_change_ratio` of the SKUs read would get a store write.
    ChangeRatio {
        changed: usize,
        total: usize,
        max: String,
    },
    /// More than half of the non-blank stock cells go from above zero to zero.
    StockToZero { zeroed: usize, total: usize },
    /// A price moving by more than `max_price_change` of its old value.
    PriceChange {
        sku: Sku,
        row: u32,
        from: String,
        to: String,
        max: String,
    },
}

impl Refusal {
    /// Short name for status cells and logs: `refused: change_ratio`.
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::EmptySheet => "empty_sheet",
            Refusal::ChangeRatio { .. } => "change_ratio",
            Refusal::StockToZero { .. } => "stock_to_zero",
            Refusal::PriceChange { .. } => "price_change",
        }
    }
}

/// The whole plan. Every vector is sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub pulls: Vec<Pull>,
    pub conflicts: Vec<Conflict>,
    pub agreed: Vec<Agreed>,
    /// Sheet row errors plus errors found against the store (unknown SKU, …).
    pub errors: Vec<RowError>,
    pub refusals: Vec<Refusal>,
    /// Products to create or extend; their values are in `changes` (marked `create`).
    pub creations: Vec<create::Creation>,
    /// Products to publish (`sync.publish_to`): those created, and those an earlier run
    /// created without publishing them everywhere.
    pub publishes: Vec<create::Publish>,
    pub rows_read: usize,
    /// Rows with no change, pull, conflict or error.
    pub unchanged: usize,
}

/// Computes the plan. Pure: the same inputs always give the same plan.
///
/// Rows are joined to the store by SKU; each non-blank cell in scope (`--only`, configured
/// locations) is settled by [`diff`] under the policy; a row with any error gets nothing
/// but its errors. The guards then look at the whole sheet (see [`guards`]).
pub fn build(
    sheet: &ParsedSheet,
    snapshot: &Snapshot,
    baseline: &Baseline,
    opts: &PlanOptions,
) -> Plan {
    let mut plan = Plan {
        rows_read: sheet.rows_read,
        errors: sheet.errors.clone(),
        ..Plan::default()
    };
    // The parser keeps errored rows out of `rows`; this guards the contract from its side.
    let mut errored: BTreeSet<u32> = sheet.errors.iter().map(|e| e.row).collect();
    let (products, disagreements) = product::ProductCells::gather(
        sheet.rows.iter().filter(|r| !errored.contains(&r.row)),
        snapshot,
        baseline,
        opts,
    );
    errored.extend(disagreements.iter().map(|e| e.row));
    plan.errors.extend(disagreements);
    // WooCommerce: rows sharing a parent's stock state one number.
    let (stock_errors, stock_followers) = woo::shared_stock(
        sheet.rows.iter().filter(|r| !errored.contains(&r.row)),
        snapshot,
        opts,
    );
    errored.extend(stock_errors.iter().map(|e| e.row));
    plan.errors.extend(stock_errors);
    // Product fields already written by an earlier row of the same product.
    let mut claimed: BTreeSet<product::ProductKey> = BTreeSet::new();
    // Rows whose SKU the store lacks, when `create_missing` may create them.
    let mut missing: Vec<&Row> = Vec::new();

    for row in sheet.rows.iter().filter(|r| !errored.contains(&r.row)) {
        let variant = match join(row, snapshot, opts) {
            Ok(v) => v,
            Err(_) if opts.create.is_some() && !snapshot.variants.contains_key(&row.sku) => {
                missing.push(row);
                continue;
            }
            Err(e) => {
                plan.errors.push(e);
                continue;
            }
        };
        let row = match woo::prepare(row, variant, opts, stock_followers.contains(&row.row)) {
            Ok(row) => row,
            Err(mut errors) => {
                plan.errors.append(&mut errors);
                continue;
            }
        };
        let row: &Row = &row;
        let mut out = diff::RowPlan::default();
        for (key, entry) in row.values.iter().filter(|(k, _)| opts.in_scope(k)) {
            let own = baseline.get(&(row.sku.clone(), key.clone()));
            let base = products.base(own, variant.product_id(), key);
            diff::cell(row, variant, key, entry, base, opts, &mut out);
        }
        out.errors
            .extend(woo::scheduled_sale(row, variant, &out.changes));
        if !out.errors.is_empty() {
            plan.errors.append(&mut out.errors);
            continue;
        }
        // One write (and one conflict) per product field of a product: the first row's.
        let first = |key: &FieldKey, claimed: &BTreeSet<product::ProductKey>| {
            !key.field.is_product()
                || !claimed.contains(&(variant.product_id().to_owned(), key.clone()))
        };
        out.conflicts.retain(|c| first(&c.key, &claimed));
        out.changes.retain(|c| first(&c.key, &claimed));
        claimed.extend(
            row.values
                .keys()
                .filter(|k| k.field.is_product())
                .map(|k| (variant.product_id().to_owned(), k.clone())),
        );
        if out.is_quiet() {
            plan.unchanged += 1;
        }
        plan.changes.append(&mut out.changes);
        plan.pulls.append(&mut out.pulls);
        plan.conflicts.append(&mut out.conflicts);
        plan.agreed.append(&mut out.agreed);
    }
    if let Some(ctx) = &opts.create {
        let (mut changes, creations, mut errors) = create::plan(&missing, ctx, opts);
        plan.changes.append(&mut changes);
        plan.publishes = create::publishes(&creations, ctx, opts, |product_id| {
            sheet
                .rows
                .iter()
                .filter(|r| {
                    snapshot
                        .variants
                        .get(&r.sku)
                        .is_some_and(|vs| vs.iter().any(|v| v.product_id() == product_id))
                })
                .map(|r| (r.row, r.sku.clone()))
                .collect()
        });
        plan.creations = creations;
        plan.errors.append(&mut errors);
    }

    plan.refusals = guards::refusals(sheet, &plan.changes, &snapshot.currency, opts);
    sort(&mut plan);
    plan
}

/// The guards over `sheet` for `changes` (sorted): for a plan built from some rows only
/// (`watch`), so that the denominators stay the whole sheet's (SPEC §4.6).
pub fn refusals(
    sheet: &ParsedSheet,
    changes: &[Change],
    currency: &Currency,
    opts: &PlanOptions,
) -> Vec<Refusal> {
    let mut out = guards::refusals(sheet, changes, currency, opts);
    out.sort();
    out
}

/// The one store variant a row's SKU names, or the row error saying why there is none.
fn join<'a>(
    row: &Row,
    snapshot: &'a Snapshot,
    opts: &PlanOptions,
) -> Result<&'a StoreVariant, RowError> {
    let error = |message: String| RowError {
        row: row.row,
        cell: CellRef::new(opts.tab.clone(), opts.sku_col, row.row),
        sku: Some(row.sku.clone()),
        message,
    };
    match snapshot.variants.get(&row.sku).map(Vec::as_slice) {
        None | Some([]) => Err(error(format!(
            "SKU {:?} is not in the store",
            row.sku.as_str()
        ))),
        Some([one]) => Ok(one),
        Some(many) => Err(error(format!(
            "SKU {:?} is on {} variants in the store; fix it in {}",
            row.sku.as_str(),
            many.len(),
            if many[0].woo.is_some() {
                "WooCommerce"
            } else {
                "Shopify"
            }
        ))),
    }
}

/// Sorts every list of the plan: changes grouped by product for the human plan, the rest
/// by SKU and field; full ordering as tie-break so output never depends on input order.
fn sort(plan: &mut Plan) {
    plan.changes.sort_by(|a, b| {
        (&a.product_title, &a.product_id, &a.sku, &a.key)
            .cmp(&(&b.product_title, &b.product_id, &b.sku, &b.key))
            .then_with(|| a.cmp(b))
    });
    plan.pulls.sort_by(|a, b| {
        (&a.sku, &a.key)
            .cmp(&(&b.sku, &b.key))
            .then_with(|| a.cmp(b))
    });
    plan.conflicts.sort_by(|a, b| {
        (&a.sku, &a.key)
            .cmp(&(&b.sku, &b.key))
            .then_with(|| a.cmp(b))
    });
    plan.agreed.sort();
    plan.errors.sort_by(|a, b| {
        (a.row, &a.cell)
            .cmp(&(b.row, &b.cell))
            .then_with(|| a.cmp(b))
    });
    plan.errors.dedup();
    plan.refusals.sort();
}

/// What to do with a stock change whose compare-and-set came back stale (SPEC §4.3).
/// See [`replan`] for why a pull can never be the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per stale write and matched at once; a Box would only add noise"
)]
pub enum Replan {
    /// Send again against the fresh quantity (with `note` set).
    Set(Change),
    /// The store already holds the target: nothing to write.
    AlreadyThere,
    /// Give up: `skipped` with this reason (`store kept changing`).
    Skip(String),
}
