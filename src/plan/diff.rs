//! One cell at a time: the sheet's value, the store's and the baseline, settled under the
//! policy (SPEC §3 for what a cell means, §4.4 for who wins).
//!
//! [`decide`] is the policy as a pure function of three values; [`cell`] wraps it with
//! what a cell can mean (`CLEAR`, a barcode Sheets turned into a number) and what the store
//! allows (untracked items, bundles, locations without a level).

use super::{
    Adopt, Agreed, Change, Conflict, ConflictKind, PlanOptions, Policy, Pull, Resolution,
    StoreVariant,
};
use crate::model::rows::{Entry, Intent, Row, RowError};
use crate::model::{Field, FieldKey, Value};

/// What one row contributes to the plan.
#[derive(Debug, Default)]
pub(super) struct RowPlan {
    pub changes: Vec<Change>,
    pub pulls: Vec<Pull>,
    pub conflicts: Vec<Conflict>,
    pub agreed: Vec<Agreed>,
    pub errors: Vec<RowError>,
}

impl RowPlan {
    /// Nothing to write anywhere and nothing to report: the row counts as unchanged.
    /// (Agreed values are recorded silently, so they do not make a row noisy.)
    pub fn is_quiet(&self) -> bool {
        self.changes.is_empty()
            && self.pulls.is_empty()
            && self.conflicts.is_empty()
            && self.errors.is_empty()
    }
}

/// The verdict for one cell whose sheet and store values are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Both sides agree and the baseline already says so.
    Unchanged,
    /// Both sides agree but the baseline is missing or behind: record it silently.
    Agree,
    /// Write the sheet's value to the store.
    Push,
    /// Write the store's value into the sheet.
    Pull,
    /// Both moved away from the baseline: reported, and the sheet wins.
    BothChanged,
    /// No baseline and the sides differ; the resolution says what `--adopt` chose.
    NoBaseline(Resolution),
}

/// §4.4 as a function. `base` is `None` when there is no baseline entry at all, and
/// `Some(&None)` when both sides last agreed the field was empty.
pub(super) fn decide(
    policy: Policy,
    sheet: &Option<Value>,
    store: &Option<Value>,
    base: Option<&Option<Value>>,
    adopt: Option<Adopt>,
) -> Decision {
    if sheet == store {
        // Kept under sheet_wins too: a later switch to three_way then starts from a
        // baseline instead of a wall of `no_baseline` conflicts.
        return if base == Some(store) {
            Decision::Unchanged
        } else {
            Decision::Agree
        };
    }
    match policy {
        Policy::SheetWins => Decision::Push,
        Policy::ThreeWay => match base {
            None => Decision::NoBaseline(match adopt {
                Some(Adopt::Sheet) => Resolution::Sheet,
                Some(Adopt::Store) => Resolution::Store,
                None => Resolution::None,
            }),
            Some(b) if store == b => Decision::Push,
            Some(b) if sheet == b => Decision::Pull,
            Some(_) => Decision::BothChanged,
        },
    }
}

/// Plans one non-blank, in-scope cell of a row matched to `variant`.
pub(super) fn cell(
    row: &Row,
    variant: &StoreVariant,
    key: &FieldKey,
    entry: &Entry,
    base: Option<&Option<Value>>,
    opts: &PlanOptions,
    out: &mut RowPlan,
) {
    let error = |message: String| RowError {
        row: row.row,
        cell: entry.cell.clone(),
        sku: Some(row.sku.clone()),
        message,
    };

    if key.field == Field::Inventory {
        let loc = key.location.as_deref().unwrap_or_default();
        let why = if variant.bundle {
            Some("this item is a bundle, whose stock derives from its components; clear the cell")
        } else if !variant.tracked {
            Some(
                "inventory is not tracked for this item; turn on tracking in Shopify or clear the cell",
            )
        } else {
            None
        };
        if let Some(why) = why {
            out.errors
                .push(error(format!("stock {} at {loc:?}: {why}", entry.raw)));
            return;
        }
    }

    let store = variant.value(key);
    let sheet = match &entry.intent {
        Intent::Set(v) => Some(v.clone()),
        Intent::Clear if key.field.clearable() => None,
        Intent::Clear => {
            out.errors.push(error(format!(
                "{} cannot be cleared: CLEAR only empties compare-at price, barcode or cost",
                key.field
            )));
            return;
        }
        Intent::NumericBarcode(digits) => {
            if same_digits(digits, store.as_ref()) {
                // The number is the store's barcode minus its leading zeros: treat the cell
                // as holding the store's text, so it is never pushed and never pulled into.
                store.clone()
            } else {
                out.errors.push(error(format!(
                    "barcode {digits} was read as a number (leading zeros are lost) and does not \
                     match the store's barcode; format the barcode column as plain text and \
                     re-enter it"
                )));
                return;
            }
        }
    };

    // No inventory level at this location: a push activates it, and a zero never does
    // (zero stock and "not stocked here" amount to the same thing for a merchant).
    let no_level = key.field == Field::Inventory && store.is_none();
    if no_level && sheet == Some(Value::Qty(0)) {
        return;
    }

    let change = |from: &Option<Value>, to: &Option<Value>| Change {
        sku: row.sku.clone(),
        row: row.row,
        cell: entry.cell.clone(),
        key: key.clone(),
        from: from.clone(),
        to: to.clone(),
        product_id: variant.product.id.clone(),
        product_title: variant.product.title.clone(),
        variant_id: variant.variant_id.to_string(),
        inventory_item_id: variant.inventory_item_id.to_string(),
        activate: no_level,
        note: None,
        create: None,
    };
    let pull = || Pull {
        sku: row.sku.clone(),
        row: row.row,
        cell: entry.cell.clone(),
        key: key.clone(),
        from: sheet.clone(),
        to: store.clone(),
    };
    let conflict = |kind: ConflictKind, resolution: Resolution| Conflict {
        sku: row.sku.clone(),
        row: row.row,
        key: key.clone(),
        kind,
        baseline: base.cloned().flatten(),
        sheet: sheet.clone(),
        store: store.clone(),
        resolution,
        cell: entry.cell.clone(),
    };

    match decide(opts.policy, &sheet, &store, base, opts.adopt) {
        Decision::Unchanged => {}
        Decision::Agree => out.agreed.push(Agreed {
            sku: row.sku.clone(),
            key: key.clone(),
            value: store.clone(),
        }),
        Decision::Push => out.changes.push(change(&store, &sheet)),
        Decision::Pull => out.pulls.push(pull()),
        Decision::BothChanged => {
            out.conflicts
                .push(conflict(ConflictKind::BothChanged, Resolution::Sheet));
            out.changes.push(change(&store, &sheet));
        }
        Decision::NoBaseline(resolution) => {
            out.conflicts
                .push(conflict(ConflictKind::NoBaseline, resolution));
            match resolution {
                Resolution::Sheet => out.changes.push(change(&store, &sheet)),
                Resolution::Store => out.pulls.push(pull()),
                Resolution::None => {}
            }
        }
    }
}

/// Whether a barcode Sheets read as a number is the store's barcode without its leading
/// zeros (`123` against `000123`).
fn same_digits(digits: &str, store: Option<&Value>) -> bool {
    match store {
        Some(Value::Text(code)) => {
            code.trim_start_matches('0') == digits.trim().trim_start_matches('0')
        }
        _ => false,
    }
}
