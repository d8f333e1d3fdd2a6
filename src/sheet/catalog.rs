//! What `sheetsync pull` writes into the sheet (SPEC §1): the store's catalog, as pure
//! planning over the store snapshot, the sheet as read and the baseline. The writes go
//! through [`super::writeback::execute`], so they are guarded and confirmed exactly like
//! a sync's write-back.
//!
//! - An empty tab gets the configured header row (row 1, in config order) and one row per
//!   variant, sorted by product title then SKU. Variants without a SKU cannot be named by
//!   a row and are skipped and counted; so is a SKU the store has on two variants.
//! - Otherwise existing rows are refreshed: a blank cell is filled with the store's value,
//!   a cell still at its baseline takes the store's value, a cell already equal to the
//!   store records the baseline silently, and a cell the merchant changed since the
//!   baseline (or one that differs with no baseline at all) is kept and reported. Rows
//!   are never added or removed in a refresh: the merchant owns the sheet's shape.
//!
//! Each write carries the baseline entry it justifies; the caller records it only once
//! the sheet confirmed the write, so the next `sync` plans nothing for those cells.

use serde::Serialize;
use serde_json::Value as Json;

use super::parse::{ColumnKey, ColumnSpec, Intent, Layout, ParsedSheet};
use super::writeback::{CellWrite, ReadGrid, RowWrites, STATUS_OK, sheet_value};
use crate::model::{CellRef, Currency, FieldKey, Sku, Value};
use crate::plan::{Baseline, Snapshot, StoreVariant};

/// A baseline entry a confirmed write (or an agreement) justifies.
pub type BaselineEntry = (Sku, FieldKey, Option<Value>);

/// The pure result of planning a `pull`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogPlan {
    /// Rows to write; a cell's `carries` indexes `baseline`.
    pub rows: Vec<RowWrites>,
    /// The zero-based column of the SKU, which guards every row.
    pub sku_col: u32,
    /// Baseline entries, each recorded once the write carrying it is confirmed.
    pub baseline: Vec<BaselineEntry>,
    /// Values the sheet and store already agree on: recorded without a write.
    pub agreed: Vec<BaselineEntry>,
    pub report: CatalogReport,
}

/// What `pull` did, for people and for `--json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CatalogReport {
    /// Names the pull in the journal (`runs show`, `revert`).
    pub run_id: String,
    /// `bootstrap` (the tab was empty) or `refresh`.
    pub mode: &'static str,
    /// Rows written (a bootstrap's data rows, or refreshed rows with a confirmed cell).
    pub rows_written: usize,
    pub cells_written: usize,
    /// Store variants without a SKU: no row can name them.
    pub variants_without_sku: usize,
    /// SKUs the store has on more than one variant: left out, nothing is guessed.
    pub duplicate_skus: Vec<String>,
    /// Cells the merchant changed since the baseline: kept as they are.
    pub kept: Vec<KeptCell>,
    /// Sheet rows whose SKU the store does not have, or that have row errors: untouched.
    pub rows_left_alone: usize,
    /// Rows not written because the sheet changed during the run.
    pub rows_skipped: Vec<super::writeback::RowSkip>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptCell {
    pub sku: String,
    pub cell: String,
    pub field: String,
    pub location: Option<String>,
    pub sheet: Json,
    pub store: Json,
}

/// The field a configured column holds, when it is one the baseline tracks.
fn tracked_key(key: &ColumnKey) -> Option<FieldKey> {
    match key {
        ColumnKey::Field(f) => Some(FieldKey::variant(*f)),
        ColumnKey::Stock(loc) => Some(FieldKey::stock(loc.as_str())),
        ColumnKey::OwnStock => Some(FieldKey::own_stock()),
        ColumnKey::Product(name) => crate::model::Field::from_name(name)
            .filter(|f| f.is_product())
            .map(FieldKey::variant),
        _ => None,
    }
}

/// Whether the store's value for `key` belongs in the sheet: stock of an untracked item
/// or a bundle parent cannot be set, so a stock cell for it would only be a row error.
fn settable(variant: &StoreVariant, key: &FieldKey) -> bool {
    key.field != crate::model::Field::Inventory || (variant.tracked && !variant.bundle)
}

/// The one variant of each SKU, sorted for a stable sheet, plus the SKUs on several.
fn single_variants(snapshot: &Snapshot) -> (Vec<(&Sku, &StoreVariant)>, Vec<String>) {
    let mut ones = Vec::new();
    let mut dups = Vec::new();
    for (sku, list) in &snapshot.variants {
        match list.as_slice() {
            [one] => ones.push((sku, one)),
            [] => {}
            _ => dups.push(sku.to_string()),
        }
    }
    ones.sort_by(|a, b| (a.1.product_title(), a.0).cmp(&(b.1.product_title(), b.0)));
    dups.sort();
    (ones, dups)
}

/// An empty tab: the header row and a row per variant. `without_sku` is how many store
/// variants had no SKU; `now` fills `synced_at` when that column is configured.
pub fn bootstrap(
    tab: &str,
    specs: &[ColumnSpec],
    snapshot: &Snapshot,
    without_sku: usize,
    now: &str,
) -> CatalogPlan {
    let (variants, duplicate_skus) = single_variants(snapshot);
    let mut plan = CatalogPlan {
        sku_col: specs
            .iter()
            .zip(0u32..)
            .find(|(s, _)| s.key == ColumnKey::Sku)
            .map_or(0, |(_, c)| c),
        report: CatalogReport {
            mode: "bootstrap",
            variants_without_sku: without_sku,
            duplicate_skus,
            ..CatalogReport::default()
        },
        ..CatalogPlan::default()
    };
    let blank = |col: u32, row: u32, value: Json, carries: Option<usize>| CellWrite {
        cell: CellRef::new(tab, col, row),
        expected: Json::Null,
        value,
        carries,
    };
    let header = specs
        .iter()
        .zip(0u32..)
        .map(|(spec, col)| blank(col, 1, Json::String(spec.header.trim().to_owned()), None))
        .collect();
    plan.rows.push(RowWrites {
        row: 1,
        sku: None,
        sku_expected: Json::Null,
        cells: header,
    });
    for ((sku, variant), row) in variants.into_iter().zip(2u32..) {
        let mut cells = Vec::new();
        for (spec, col) in specs.iter().zip(0u32..) {
            let value = match &spec.key {
                ColumnKey::Sku => Json::String(sku.to_string()),
                ColumnKey::Product("title") if !variant.product.title.is_empty() => {
                    Json::String(variant.product.title.clone())
                }
                ColumnKey::Status => Json::String(STATUS_OK.to_owned()),
                ColumnKey::SyncedAt => Json::String(now.to_owned()),
                key => {
                    let Some(field) = tracked_key(key).filter(|k| settable(variant, k)) else {
                        continue;
                    };
                    // Empty in the store: the cell stays blank ("leave alone").
                    let Some(value) = variant.value(&field) else {
                        continue;
                    };
                    plan.baseline
                        .push((sku.clone(), field, Some(value.clone())));
                    cells.push(blank(
                        col,
                        row,
                        sheet_value(Some(&value)),
                        Some(plan.baseline.len() - 1),
                    ));
                    continue;
                }
            };
            cells.push(blank(col, row, value, None));
        }
        plan.rows.push(RowWrites {
            row,
            sku: Some(sku.clone()),
            sku_expected: Json::Null,
            cells,
        });
    }
    plan
}

/// A tab with rows: refresh the store-owned cells of the rows it has.
pub fn refresh(
    grid: &ReadGrid<'_>,
    sheet: &ParsedSheet,
    snapshot: &Snapshot,
    baseline: &Baseline,
    without_sku: usize,
    currency: &Currency,
) -> CatalogPlan {
    let layout: &Layout = grid.layout;
    let (_, duplicate_skus) = single_variants(snapshot);
    let sku_col = layout
        .columns
        .iter()
        .find(|(spec, _)| spec.key == ColumnKey::Sku)
        .map_or(0, |(_, c)| *c);
    let mut plan = CatalogPlan {
        sku_col,
        report: CatalogReport {
            mode: "refresh",
            variants_without_sku: without_sku,
            duplicate_skus,
            ..CatalogReport::default()
        },
        ..CatalogPlan::default()
    };
    let errored: std::collections::BTreeSet<u32> = sheet.errors.iter().map(|e| e.row).collect();
    plan.report.rows_left_alone = errored.len();
    let json = |v: &Option<Value>| v.as_ref().map_or(Json::Null, |v| v.to_json(currency));

    for row in &sheet.rows {
        let variant = match snapshot.variants.get(&row.sku).map(Vec::as_slice) {
            Some([one]) => one,
            _ => {
                plan.report.rows_left_alone += 1;
                continue;
            }
        };
        let mut cells = Vec::new();
        for (spec, col) in &layout.columns {
            // Row-per-location: the stock cell is at the row's own location.
            let key = match &spec.key {
                ColumnKey::RowStock => row.location.as_deref().map(FieldKey::stock),
                other => tracked_key(other),
            };
            let Some(key) = key.filter(|k| settable(variant, k)) else {
                continue;
            };
            let store = variant.value(&key);
            let cell = CellRef::new(layout.tab.as_str(), *col, row.row);
            let sheet_val = match row.values.get(&key).map(|e| &e.intent) {
                None => {
                    // Blank: `pull` fills it (the one place a blank is written into).
                    if store.is_some() {
                        plan.baseline.push((row.sku.clone(), key, store.clone()));
                        cells.push(CellWrite {
                            expected: grid.at(*col, row.row),
                            value: sheet_value(store.as_ref()),
                            carries: Some(plan.baseline.len() - 1),
                            cell,
                        });
                    }
                    continue;
                }
                Some(Intent::Set(v)) => Some(v.clone()),
                // `CLEAR` or a barcode read as a number: the merchant's intent for the
                // next sync, not a value to overwrite.
                Some(Intent::Clear | Intent::NumericBarcode(_)) => continue,
            };
            if sheet_val == store {
                plan.agreed.push((row.sku.clone(), key, store));
                continue;
            }
            match baseline.get(&(row.sku.clone(), key.clone())) {
                Some(base) if *base == sheet_val => {
                    plan.baseline.push((row.sku.clone(), key, store.clone()));
                    cells.push(CellWrite {
                        expected: grid.at(*col, row.row),
                        value: sheet_value(store.as_ref()),
                        carries: Some(plan.baseline.len() - 1),
                        cell,
                    });
                }
                _ => plan.report.kept.push(KeptCell {
                    sku: row.sku.to_string(),
                    cell: cell.to_string(),
                    field: key.field.name().to_owned(),
                    location: key.location.clone(),
                    sheet: json(&sheet_val),
                    store: json(&store),
                }),
            }
        }
        if !cells.is_empty() {
            plan.rows.push(RowWrites {
                row: row.row,
                sku: Some(row.sku.clone()),
                sku_expected: grid.at(sku_col, row.row),
                cells,
            });
        }
    }
    plan
}
