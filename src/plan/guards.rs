//! The safety guards (SPEC §4.6): checks that refuse a plan which looks like a mistake
//! (a wiped column, a sheet pasted over the wrong store, a misplaced decimal point).
//!
//! The denominators are the whole sheet as read, whatever `--only` planned, so that a
//! narrow run cannot slip past a guard the full run would trip. Only store writes count:
//! pulls never do. Arithmetic is decimal throughout; ratios are compared by
//! cross-multiplying, so nothing is divided or rounded.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::{Change, PlanOptions, Refusal};
use crate::model::rows::ParsedSheet;
use crate::model::{Currency, Field, Value};

/// Every guard `changes` trips, sorted.
pub(super) fn refusals(
    sheet: &ParsedSheet,
    changes: &[Change],
    currency: &Currency,
    opts: &PlanOptions,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if sheet.rows_read == 0 {
        out.push(Refusal::EmptySheet);
    }

    let changed: BTreeSet<_> = changes.iter().map(|c| &c.sku).collect();
    let total = sheet.skus_read;
    if total > 0 && exceeds(changed.len(), total, opts.max_change_ratio) {
        out.push(Refusal::ChangeRatio {
            changed: changed.len(),
            total,
            max: opts.max_change_ratio.to_string(),
        });
    }

    let stock_cells = sheet
        .rows
        .iter()
        .flat_map(|r| r.values.keys())
        .filter(|k| k.field == Field::Inventory)
        .count();
    let zeroed = changes
        .iter()
        .filter(|c| c.key.field == Field::Inventory)
        .filter(|c| matches!(c.from, Some(Value::Qty(q)) if q > 0))
        .filter(|c| c.to == Some(Value::Qty(0)))
        .count();
    if stock_cells > 0 && zeroed * 2 > stock_cells {
        out.push(Refusal::StockToZero {
            zeroed,
            total: stock_cells,
        });
    }

    // WooCommerce's regular and sale prices are prices too (SPEC §8).
    for c in changes.iter().filter(|c| {
        matches!(
            c.key.field,
            Field::Price | Field::RegularPrice | Field::SalePrice
        )
    }) {
        let (Some(Value::Money(old)), Some(Value::Money(new))) = (&c.from, &c.to) else {
            continue;
        };
        // A price of zero has no meaningful relative move (and is often a placeholder).
        if *old <= Decimal::ZERO {
            continue;
        }
        let moved = (*new - *old).abs();
        if opts
            .max_price_change
            .checked_mul(*old)
            .is_some_and(|limit| moved > limit)
        {
            out.push(Refusal::PriceChange {
                sku: c.sku.clone(),
                row: c.row,
                from: currency.format(*old),
                to: currency.format(*new),
                max: opts.max_price_change.to_string(),
            });
        }
    }

    out.sort();
    out
}

/// `part / whole > max`, without dividing.
fn exceeds(part: usize, whole: usize, max: Decimal) -> bool {
    let (part, whole) = (Decimal::from(part), Decimal::from(whole));
    max.checked_mul(whole).is_some_and(|limit| part > limit)
}
