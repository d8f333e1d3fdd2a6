//! The plan: what would change, computed purely from the sheet, the store snapshot and
//! the baseline (SPEC §4). No IO, no clock; output is sorted, so the same inputs give the
//! same plan, and dry run, JSON report and executor all consume this one value.
//!
//! - `diff`: per cell, sheet vs store vs baseline under the policy (§4.4);
//! - `guards`: the safety guards over the whole sheet (§4.6);
//! - `replan`: what to do with a stock write that came back stale (§4.3).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde::Serialize;

pub use crate::config::Policy;
use crate::model::{CellRef, Currency, Field, FieldKey, LocationName, Sku, Value};
use crate::sheet::parse::{ParsedSheet, RowError};

/// One store variant, as the store adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVariant {
    pub variant_id: String,
    pub product_id: String,
    /// For grouping the human plan by product.
    pub product_title: String,
    pub inventory_item_id: String,
    pub price: Decimal,
    pub compare_at_price: Option<Decimal>,
    pub cost: Option<Decimal>,
    pub barcode: Option<String>,
    /// Whether Shopify tracks inventory for this item.
    pub tracked: bool,
    /// A bundle parent: its stock derives from its components and cannot be set.
    pub bundle: bool,
    /// `available` at each configured location; `None` = not stocked there (no level).
    pub stock: BTreeMap<LocationName, Option<i64>>,
}

impl StoreVariant {
    /// The store's current value of `key` (`None` = empty / not stocked).
    pub fn value(&self, key: &FieldKey) -> Option<Value> {
        match key.field {
            Field::Price => Some(Value::Money(self.price)),
            Field::CompareAtPrice => self.compare_at_price.map(Value::Money),
            Field::Cost => self.cost.map(Value::Money),
            Field::Barcode => self.barcode.clone().map(Value::Text),
            Field::Inventory => key
                .location
                .as_ref()
                .and_then(|l| self.stock.get(l).copied().flatten())
                .map(Value::Qty),
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    BothChanged,
    NoBaseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
}

/// A value both sides already agree on with no baseline yet: recorded silently.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Agreed {
    pub sku: Sku,
    pub key: FieldKey,
    pub value: Option<Value>,
}

/// A safety guard that refuses the plan (exit 4 unless `--yes`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum Refusal {
    /// The sheet has no data rows.
    EmptySheet,
    /// More than `max_change_ratio` of the SKUs read would get a store write.
    ChangeRatio { changed: usize, total: usize, max: String },
    /// More than half of the non-blank stock cells go from above zero to zero.
    StockToZero { zeroed: usize, total: usize },
    /// A price moving by more than `max_price_change` of its old value.
    PriceChange { sku: Sku, row: u32, from: String, to: String, max: String },
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
    pub rows_read: usize,
    /// Rows with no change, pull, conflict or error.
    pub unchanged: usize,
}

/// Computes the plan. Pure: the same inputs always give the same plan.
pub fn build(sheet: &ParsedSheet, snapshot: &Snapshot, baseline: &Baseline, opts: &PlanOptions) -> Plan {
    let _ = (sheet, snapshot, baseline, opts);
    unimplemented!("plan::build")
}

/// What to do with a stock change whose compare-and-set came back stale (SPEC §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replan {
    /// Send again against the fresh quantity (with `note` set).
    Set(Change),
    /// The store already holds the target: nothing to write.
    AlreadyThere,
    /// Three-way: the store moved and the sheet did not, so the store value is pulled.
    Pull(Pull),
    /// Give up: `skipped` with this reason (`store kept changing`).
    Skip(String),
}

/// Decides a stale stock change: `fresh` is the re-read quantity, `attempt` counts the
/// stale answers so far (1 on the first), `baseline` is the change's baseline entry.
pub fn replan(change: &Change, fresh: Option<i64>, attempt: u32, policy: Policy, baseline: Option<&Option<Value>>) -> (Replan, Option<Conflict>) {
    let _ = (change, fresh, attempt, policy, baseline);
    unimplemented!("plan::replan")
}
