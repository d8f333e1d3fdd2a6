//! Product fields (title, status, tags, vendor) are one value shared by every row of the
//! product's variants. The cells are still settled one by one by `diff`, with two rules
//! on top that make the product, not the row, the unit:
//!
//! - rows of one product that state different values for a product field are an error on
//!   each of those rows (nothing is guessed);
//! - every row plans a product field against one baseline, the first row's (in sheet
//!   order) that has one: the baseline is recorded on the SKU whose change was sent, which
//!   is the first row's, so siblings' own entries may lag behind. Every row so reaches the
//!   same decision, and only the first row's change and conflict are kept: one write per
//!   product. (Pulls stay per row: each of the product's cells gets the store's value.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Baseline, PlanOptions, Snapshot, join};
use crate::model::rows::{Intent, Row, RowError};
use crate::model::{FieldKey, Value};

/// (product id, field) — a product field of one product.
pub(super) type ProductKey = (String, FieldKey);

/// What the sheet states about product fields, gathered over all rows before planning.
#[derive(Debug, Default)]
pub(super) struct ProductCells {
    /// The first baseline found among the product's rows, per product field.
    bases: HashMap<ProductKey, Option<Value>>,
}

impl ProductCells {
    /// Reads every valid row; returns the rows' errors for product fields on which rows
    /// of one product disagree.
    pub(super) fn gather<'a>(
        rows: impl Iterator<Item = &'a Row>,
        snapshot: &Snapshot,
        baseline: &Baseline,
        opts: &PlanOptions,
    ) -> (ProductCells, Vec<RowError>) {
        let mut cells = ProductCells::default();
        // Per product field, the rows stating it, with their cell and what they state.
        let mut stated: BTreeMap<ProductKey, Vec<(&Row, &Intent)>> = BTreeMap::new();
        for row in rows {
            let Ok(variant) = join(row, snapshot, opts) else {
                continue;
            };
            for (key, entry) in row
                .values
                .iter()
                .filter(|(k, _)| k.field.is_product() && opts.in_scope(k))
            {
                let pkey = (variant.product.id.clone(), key.clone());
                if let Some(base) = baseline.get(&(row.sku.clone(), key.clone())) {
                    cells
                        .bases
                        .entry(pkey.clone())
                        .or_insert_with(|| base.clone());
                }
                stated.entry(pkey).or_default().push((row, &entry.intent));
            }
        }
        // A product field no row has a baseline for may have one on a variant the sheet
        // does not list (its row was removed): the lowest such SKU, for determinism.
        let missing: BTreeSet<&String> = stated
            .keys()
            .filter(|k| !cells.bases.contains_key(*k))
            .map(|(product, _)| product)
            .collect();
        if !missing.is_empty() {
            let mut skus: Vec<(&String, &crate::model::Sku)> = snapshot
                .variants
                .iter()
                .flat_map(|(sku, vs)| vs.iter().map(move |v| (&v.product.id, sku)))
                .filter(|(p, _)| missing.contains(p))
                .collect();
            skus.sort();
            for pkey in stated.keys() {
                if cells.bases.contains_key(pkey) {
                    continue;
                }
                let found = skus
                    .iter()
                    .filter(|(p, _)| **p == pkey.0)
                    .find_map(|(_, sku)| baseline.get(&((*sku).clone(), pkey.1.clone())));
                if let Some(base) = found {
                    cells.bases.insert(pkey.clone(), base.clone());
                }
            }
        }

        let mut errors = Vec::new();
        for ((_, key), rows) in &stated {
            let distinct: BTreeSet<String> = rows.iter().map(|(_, i)| shown(i)).collect();
            if distinct.len() < 2 {
                continue;
            }
            let all: Vec<String> = rows
                .iter()
                .map(|(r, i)| format!("row {}: {}", r.row, shown(i)))
                .collect();
            for (row, _) in rows {
                if let Some(entry) = row.values.get(key) {
                    errors.push(RowError {
                        row: row.row,
                        cell: entry.cell.clone(),
                        sku: Some(row.sku.clone()),
                        message: format!(
                            "rows of one product state different {} ({}); make them agree",
                            key.field,
                            all.join(", ")
                        ),
                    });
                }
            }
        }
        (cells, errors)
    }

    /// The baseline a row plans `key` against: its own for a variant field, the
    /// product's (see the module doc) for a product field.
    pub(super) fn base<'a>(
        &'a self,
        own: Option<&'a Option<Value>>,
        product_id: &str,
        key: &FieldKey,
    ) -> Option<&'a Option<Value>> {
        if !key.field.is_product() {
            return own;
        }
        self.bases.get(&(product_id.to_owned(), key.clone()))
    }
}

fn shown(intent: &Intent) -> String {
    match intent {
        Intent::Set(Value::Text(t)) => format!("{t:?}"),
        Intent::Set(v) => format!("{v:?}"),
        Intent::Clear | Intent::NumericBarcode(_) => "CLEAR".to_owned(),
    }
}
