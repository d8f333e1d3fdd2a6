//! `sync.create_missing` for a WooCommerce store (SPEC §8): each row whose SKU the store
//! lacks becomes one simple product. Pure, like the rest of the plan.
//!
//! - a title (`name`) and a regular price are required: a row error naming that cell,
//!   blank or not, otherwise;
//! - status is the row's (one of WooCommerce's four words) or `draft`, decided by the
//!   adapter's create body; the row's other cells (sale price, cost, barcode, stock, tags,
//!   description) are sent with it, refused here where WooCommerce would rewrite them
//!   (a sale not below the regular price, a barcode it would strip);
//! - a row that would need a variation created is a row error saying so: WooCommerce
//!   variations hang off a variable product and its attributes, which a sheet row does not
//!   describe. A row "points at" a variable product when its title is the name of one in
//!   the store (product fields on a variation's row mean its parent's, SPEC §8), or when
//!   it has option cells.
//!
//! Every value becomes a [`Change`] from `∅` marked with [`New`] (`handle` = the SKU,
//! `product` = true), so creations show in the plan, the report and the guards like any
//! change; the executor groups them by SKU into `products/batch` creates.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::create::New;
use super::{Change, PlanOptions, Snapshot};
use crate::model::rows::{Intent, Row, RowError};
use crate::model::{CellRef, Field, FieldKey, Value};

/// WooCommerce's product statuses, as it writes them.
const WOO_STATUSES: [&str; 4] = ["publish", "draft", "pending", "private"];

/// What `sync.create_missing` tells a row that would need a variation.
pub const NEEDS_VARIATION: &str = "creating it would need a variation created, and \
     sync.create_missing creates simple products only: add the variation in WooCommerce \
     (with its SKU), then run again";

/// The changes creating `rows` (SKUs the store lacks) as simple products, and the rows'
/// errors.
pub(super) fn plan(
    rows: &[&Row],
    snapshot: &Snapshot,
    opts: &PlanOptions,
) -> (Vec<Change>, Vec<RowError>) {
    let (mut changes, mut errors) = (Vec::new(), Vec::new());
    // Names of the store's variable products: a variation's product is its parent.
    let variable: BTreeSet<&str> = snapshot
        .variants
        .values()
        .flatten()
        .filter(|v| {
            v.woo
                .as_deref()
                .is_some_and(|w| w.variable || !w.parent_id.is_empty())
        })
        .map(|v| v.product.title.as_str())
        .collect();
    let title_key = FieldKey::variant(Field::Title);
    let regular_key = FieldKey::variant(Field::RegularPrice);
    for row in rows {
        let sku_cell = CellRef::new(opts.tab.clone(), opts.sku_col, row.row);
        // The cell of `key` on this row, blank or not; the SKU's when the sheet has no
        // such column.
        let cell_of = |key: &FieldKey| match row.values.get(key) {
            Some(e) => e.cell.clone(),
            None => opts
                .create
                .as_ref()
                .and_then(|c| c.columns.get(key))
                .map_or(sku_cell.clone(), |col| {
                    CellRef::new(opts.tab.clone(), *col, row.row)
                }),
        };
        let missing = format!("SKU {:?} is not in the store", row.sku.as_str());
        let row_error = |cell: CellRef, message: String| RowError {
            row: row.row,
            cell,
            sku: Some(row.sku.clone()),
            message,
        };
        if !opts.in_scope(&title_key) || !opts.in_scope(&regular_key) {
            errors.push(row_error(
                sku_cell,
                format!(
                    "{missing}; it is created only by runs whose --only includes title and regular_price"
                ),
            ));
            continue;
        }
        let title = match row.values.get(&title_key).map(|e| (&e.intent, e)) {
            Some((Intent::Set(Value::Text(t)), _)) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        };
        if let Some(t) = title.filter(|t| variable.contains(t)) {
            errors.push(row_error(
                cell_of(&title_key),
                format!("{missing} and its title {t:?} is a variable product's: {NEEDS_VARIATION}"),
            ));
            continue;
        }
        if row.product.keys().any(|k| k.starts_with("option")) {
            errors.push(row_error(
                sku_cell,
                format!("{missing} and its row has option cells: {NEEDS_VARIATION}"),
            ));
            continue;
        }
        let mut row_errors = Vec::new();
        let Some(title) = title else {
            errors.push(row_error(
                cell_of(&title_key),
                format!("{missing}; a new product needs a title (name): fill its title cell"),
            ));
            continue;
        };
        let money = |key: &FieldKey| match row.values.get(key).map(|e| &e.intent) {
            Some(Intent::Set(Value::Money(m))) => Some(*m),
            _ => None,
        };
        let regular: Option<Decimal> = money(&regular_key);
        if regular.is_none() {
            row_errors.push(row_error(
                cell_of(&regular_key),
                format!(
                    "{missing}; a new product needs a regular price: fill its regular_price cell"
                ),
            ));
        }
        let sale_key = FieldKey::variant(Field::SalePrice);
        if let (Some(r), Some(s), Some(entry)) = (
            regular,
            money(&sale_key).filter(|_| opts.in_scope(&sale_key)),
            row.values.get(&sale_key),
        ) && s >= r
        {
            row_errors.push(row_error(
                entry.cell.clone(),
                format!(
                    "sale_price {s} is not below regular_price {r}: WooCommerce would silently drop the sale"
                ),
            ));
        }
        let mut values: Vec<(FieldKey, Value, CellRef)> = Vec::new();
        for (key, entry) in row.values.iter().filter(|(k, _)| opts.in_scope(k)) {
            let to = match &entry.intent {
                // Nothing to clear on a product that does not exist yet.
                Intent::Clear => continue,
                Intent::Set(v) => v.clone(),
                Intent::NumericBarcode(digits) => Value::Text(digits.clone()),
            };
            let to = match (key.field, to) {
                (Field::Status, Value::Text(s)) => {
                    let lower = s.to_ascii_lowercase();
                    if !WOO_STATUSES.contains(&lower.as_str()) {
                        row_errors.push(row_error(
                            entry.cell.clone(),
                            format!(
                                "status {s:?} is not a WooCommerce status: use publish, draft, pending or private"
                            ),
                        ));
                        continue;
                    }
                    Value::Text(lower)
                }
                (Field::Barcode, Value::Text(t)) => {
                    let kept: String = t
                        .chars()
                        .filter(|c| c.is_ascii_digit() || matches!(c, '-' | 'X' | 'x'))
                        .collect();
                    if kept != t {
                        row_errors.push(row_error(
                            entry.cell.clone(),
                            format!(
                                "barcode {t:?}: WooCommerce keeps only digits, \"-\" and X in a GTIN, UPC, EAN or ISBN and would store {kept:?}"
                            ),
                        ));
                        continue;
                    }
                    Value::Text(t)
                }
                (_, v) => v,
            };
            values.push((key.clone(), to, entry.cell.clone()));
        }
        if !row_errors.is_empty() {
            errors.append(&mut row_errors);
            continue;
        }
        let new = New {
            handle: row.sku.as_str().to_owned(),
            product: true,
        };
        for (key, to, cell) in values {
            changes.push(Change {
                sku: row.sku.clone(),
                row: row.row,
                cell,
                key,
                from: None,
                to: Some(to),
                product_id: String::new(),
                product_title: title.to_owned(),
                variant_id: String::new(),
                inventory_item_id: String::new(),
                activate: false,
                note: None,
                create: Some(new.clone()),
            });
        }
    }
    (changes, errors)
}
