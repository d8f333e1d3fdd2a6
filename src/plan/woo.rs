//! WooCommerce's rules (SPEC §8): what the planner refuses at plan time because
//! WooCommerce would silently rewrite it, so that a dry run's plan is what a run does.
//!
//! - a sale price not below the regular price (the row's resulting prices: its cells, or
//!   the store's where a cell is blank) — WooCommerce clears such a sale;
//! - a price on a variable product's own row — WooCommerce blanks it;
//! - a price change on an item with a scheduled sale (`date_on_sale_from`/`_to`) — the
//!   schedule moves the price later;
//! - a stock cell on an item whose stock is not managed — WooCommerce drops the number;
//! - a barcode WooCommerce's GTIN setter would strip (it keeps digits, `-` and `X`);
//! - a status that is not `publish`, `draft`, `pending` or `private`;
//! - rows that share their parent's stock (`manage_stock: "parent"`) stating different
//!   numbers: an error on each; equal numbers are one write, from the first row.
//!
//! Every error names the cell, the value and why. Shopify items get one rule from here:
//! WooCommerce's own status words are refused for them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::{PlanOptions, Snapshot, StoreVariant};
use crate::model::rows::{Entry, Intent, Row, RowError};
use crate::model::{Field, FieldKey, Value, WOO_ONLY_STATUSES};

/// WooCommerce's product statuses, as it writes them.
const WOO_STATUSES: [&str; 4] = ["publish", "draft", "pending", "private"];

fn error(row: &Row, entry: &Entry, message: String) -> RowError {
    RowError {
        row: row.row,
        cell: entry.cell.clone(),
        sku: Some(row.sku.clone()),
        message,
    }
}

fn money(entry: &Entry) -> Option<Decimal> {
    match &entry.intent {
        Intent::Set(Value::Money(m)) => Some(*m),
        _ => None,
    }
}

/// The row as WooCommerce's rules leave it (status words in WooCommerce's form, a
/// follower's shared stock cell dropped), or its errors. `drop_stock`: another row
/// already carries this item's shared stock.
pub(super) fn prepare<'r>(
    row: &'r Row,
    variant: &StoreVariant,
    opts: &PlanOptions,
    drop_stock: bool,
) -> Result<Cow<'r, Row>, Vec<RowError>> {
    let status_key = FieldKey::variant(Field::Status);
    let Some(woo) = variant.woo.as_deref() else {
        // A Shopify item: WooCommerce's own words are not statuses there.
        if let Some(entry) = row
            .values
            .get(&status_key)
            .filter(|_| opts.in_scope(&status_key))
            && let Intent::Set(Value::Text(s)) = &entry.intent
            && WOO_ONLY_STATUSES.contains(&s.as_str())
        {
            return Err(vec![error(
                row,
                entry,
                format!(
                    "status {:?} is a WooCommerce status; Shopify's are ACTIVE, ARCHIVED, DRAFT, UNLISTED",
                    s
                ),
            )]);
        }
        return Ok(Cow::Borrowed(row));
    };
    let mut out = Cow::Borrowed(row);
    let mut errors = Vec::new();
    let cell = |field: Field| {
        let key = if field == Field::Inventory {
            FieldKey::own_stock()
        } else {
            FieldKey::variant(field)
        };
        row.values.get(&key).filter(|_| opts.in_scope(&key))
    };

    if let Some(entry) = cell(Field::Status)
        && let Intent::Set(Value::Text(s)) = &entry.intent
    {
        let lower = s.to_ascii_lowercase();
        if !WOO_STATUSES.contains(&lower.as_str()) {
            errors.push(error(
                row,
                entry,
                format!("status {s:?} is not a WooCommerce status: use publish, draft, pending or private"),
            ));
        } else if lower != *s
            && let Some(e) = out.to_mut().values.get_mut(&status_key)
        {
            e.intent = Intent::Set(Value::Text(lower));
        }
    }

    let regular = cell(Field::RegularPrice);
    let sale = cell(Field::SalePrice);
    if woo.variable {
        for entry in [regular, sale].into_iter().flatten() {
            errors.push(error(
                row,
                entry,
                format!(
                    "{} {} on a variable product's own row: WooCommerce keeps prices on its variations and blanks one written here; clear the cell",
                    if Some(entry) == regular { "regular_price" } else { "sale_price" },
                    entry.raw
                ),
            ));
        }
    } else if regular.is_some() || sale.is_some() {
        let new_regular = match regular {
            Some(e) => money(e),
            None => woo.regular_price,
        };
        let new_sale = match sale {
            Some(e) => money(e),
            None => woo.sale_price,
        };
        if let Some(s) = new_sale
            && new_regular.is_none_or(|r| s >= r)
            && let Some(entry) = sale.or(regular)
        {
            let regular_text = new_regular.map_or_else(|| "none".to_owned(), |r| r.to_string());
            errors.push(error(
                row,
                entry,
                format!(
                    "sale_price {s} is not below regular_price {regular_text}: WooCommerce would silently drop the sale"
                ),
            ));
        }
    }

    if let Some(entry) = cell(Field::Inventory) {
        if !variant.tracked {
            errors.push(error(
                row,
                entry,
                format!(
                    "stock {}: WooCommerce does not manage stock for this item (manage stock is off), so it would drop the number; turn on \"Manage stock?\" for it or clear the cell",
                    entry.raw
                ),
            ));
        } else if drop_stock {
            out.to_mut().values.remove(&FieldKey::own_stock());
        }
    }

    if let Some(entry) = cell(Field::Barcode)
        && let Intent::Set(Value::Text(t)) = &entry.intent
    {
        let kept: String = t
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '-' | 'X' | 'x'))
            .collect();
        if kept != *t {
            errors.push(error(
                row,
                entry,
                format!(
                    "barcode {t:?}: WooCommerce keeps only digits, \"-\" and X in a GTIN, UPC, EAN or ISBN and would store {kept:?}"
                ),
            ));
        }
    }

    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// After the diff: a row that would change a price of an item with a scheduled sale.
pub(super) fn scheduled_sale(
    row: &Row,
    variant: &StoreVariant,
    changes: &[super::Change],
) -> Vec<RowError> {
    if !variant.woo.as_deref().is_some_and(|w| w.scheduled_sale) {
        return Vec::new();
    }
    changes
        .iter()
        .filter(|c| matches!(c.key.field, Field::RegularPrice | Field::SalePrice))
        .filter_map(|c| row.values.get(&c.key))
        .map(|entry| {
            error(
                row,
                entry,
                format!(
                    "{}: this item has a scheduled sale (date_on_sale_from/to set in WooCommerce), whose schedule would move the price written; end or remove the schedule first",
                    entry.raw
                ),
            )
        })
        .collect()
}

/// Rows whose stock is one number held by a parent (`manage_stock: "parent"` variations,
/// and the parent's own row): errors on each row of a group stating different numbers,
/// and the rows whose (equal) number another row already carries.
pub(super) fn shared_stock<'r>(
    rows: impl Iterator<Item = &'r Row>,
    snapshot: &Snapshot,
    opts: &PlanOptions,
) -> (Vec<RowError>, BTreeSet<u32>) {
    let key = FieldKey::own_stock();
    if !opts.in_scope(&key) {
        return (Vec::new(), BTreeSet::new());
    }
    let mut groups: BTreeMap<String, Vec<(&Row, &Entry, i64)>> = BTreeMap::new();
    for row in rows {
        let Some(entry) = row.values.get(&key) else {
            continue;
        };
        let Intent::Set(Value::Qty(q)) = entry.intent else {
            continue;
        };
        let Some([variant]) = snapshot.variants.get(&row.sku).map(Vec::as_slice) else {
            continue;
        };
        if variant.woo.is_none() || !variant.tracked {
            continue;
        }
        groups
            .entry(variant.inventory_item_id.to_string())
            .or_default()
            .push((row, entry, q));
    }
    let mut errors = Vec::new();
    let mut followers = BTreeSet::new();
    for members in groups.values().filter(|m| m.len() > 1) {
        let first = members[0].2;
        if members.iter().all(|(_, _, q)| *q == first) {
            followers.extend(members[1..].iter().map(|(r, _, _)| r.row));
            continue;
        }
        for (row, entry, q) in members {
            let others: Vec<String> = members
                .iter()
                .filter(|(r, _, _)| r.row != row.row)
                .map(|(r, _, q)| format!("{q} on row {} ({})", r.row, r.sku))
                .collect();
            errors.push(error(
                row,
                entry,
                format!(
                    "stock {q} disagrees with {}: these items share their parent's stock (manage_stock \"parent\"), one number; give them the same value",
                    others.join(", ")
                ),
            ));
        }
    }
    (errors, followers)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::fixture::{dec, money, opts, qty, row, sheet, sku, text};
    use super::super::{
        Baseline, OWN_STOCK, Plan, Policy, StoreProduct, StoreVariant, WooItem, build,
    };
    use super::*;
    use crate::model::Currency;

    /// A managed simple product (or, with `parent`, a variation of it), regular 20.00.
    fn item(id: u64, parent: Option<u64>) -> StoreVariant {
        let product_id = parent.unwrap_or(id).to_string();
        StoreVariant {
            variant_id: id.to_string().into(),
            product: Arc::new(StoreProduct {
                id: product_id,
                title: "Tee".into(),
                status: "publish".into(),
                ..StoreProduct::default()
            }),
            inventory_item_id: id.to_string().into(),
            price: dec("20"),
            compare_at_price: None,
            cost: None,
            barcode: None,
            tracked: true,
            bundle: false,
            stock: [(OWN_STOCK.to_owned(), Some(5))].into_iter().collect(),
            woo: Some(Box::new(WooItem {
                regular_price: Some(dec("20")),
                sale_price: None,
                parent_id: parent.map(|p| p.to_string()).unwrap_or_default(),
                ..WooItem::default()
            })),
        }
    }

    fn world(items: Vec<(&str, StoreVariant)>) -> Snapshot {
        Snapshot {
            currency: Currency::new("USD"),
            variants: items.into_iter().map(|(s, v)| (sku(s), vec![v])).collect(),
        }
    }

    fn woo_opts() -> PlanOptions {
        PlanOptions {
            locations: Vec::new(),
            ..opts(Policy::SheetWins)
        }
    }

    fn plan(rows: Vec<Row>, snap: &Snapshot) -> Plan {
        build(&sheet(rows), snap, &Baseline::default(), &woo_opts())
    }

    fn regular() -> FieldKey {
        FieldKey::variant(Field::RegularPrice)
    }
    fn sale() -> FieldKey {
        FieldKey::variant(Field::SalePrice)
    }
    fn status() -> FieldKey {
        FieldKey::variant(Field::Status)
    }
    fn set(v: Value) -> Intent {
        Intent::Set(v)
    }

    fn messages(p: &Plan) -> Vec<String> {
        p.errors
            .iter()
            .map(|e| format!("{}: {}", e.cell, e.message))
            .collect()
    }

    #[test]
    fn a_sale_not_below_the_resulting_regular_price_is_a_row_error() {
        let snap = world(vec![("A", item(1, None))]);
        // Against the store's regular price (20), the cell's sale of 25 would be dropped.
        let p = plan(vec![row(2, "A", vec![(sale(), set(money("25")))])], &snap);
        assert!(p.changes.is_empty());
        let m = messages(&p);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].contains("sale_price 25 is not below regular_price 20"),
            "{m:?}"
        );
        assert!(m[0].starts_with("Inventory!"), "{m:?}");
        // Raising the regular price in the same row makes the sale valid.
        let p = plan(
            vec![row(
                2,
                "A",
                vec![(sale(), set(money("25"))), (regular(), set(money("30")))],
            )],
            &snap,
        );
        assert!(p.errors.is_empty(), "{:?}", messages(&p));
        assert_eq!(p.changes.len(), 2);
        // Equal is not below.
        let p = plan(vec![row(2, "A", vec![(sale(), set(money("20")))])], &snap);
        assert_eq!(p.errors.len(), 1);
    }

    #[test]
    fn prices_on_a_variable_parent_and_under_a_scheduled_sale_are_refused() {
        let mut parent = item(10, None);
        if let Some(w) = parent.woo.as_mut() {
            w.variable = true;
            w.regular_price = None;
        }
        let mut scheduled = item(2, None);
        if let Some(w) = scheduled.woo.as_mut() {
            w.scheduled_sale = true;
        }
        let snap = world(vec![("P", parent), ("S", scheduled)]);
        let p = plan(
            vec![
                row(2, "P", vec![(regular(), set(money("9")))]),
                row(3, "S", vec![(regular(), set(money("21")))]),
                // Stating the price it has is no change, so no error.
                row(4, "S", vec![]),
            ],
            &snap,
        );
        let m = messages(&p);
        assert!(
            m.iter().any(|e| e.contains("variable product's own row")),
            "{m:?}"
        );
        assert!(m.iter().any(|e| e.contains("scheduled sale")), "{m:?}");
        assert!(p.changes.is_empty());
        let p = plan(
            vec![row(3, "S", vec![(regular(), set(money("20")))])],
            &snap,
        );
        assert!(p.errors.is_empty(), "{:?}", messages(&p));
    }

    #[test]
    fn the_price_guard_watches_woocommerces_prices() {
        let snap = world(vec![("A", item(1, None))]);
        let p = plan(
            vec![row(2, "A", vec![(regular(), set(money("100")))])],
            &snap,
        );
        assert!(
            p.refusals
                .iter()
                .any(|r| matches!(r, super::super::Refusal::PriceChange { .. })),
            "{:?}",
            p.refusals
        );
    }

    #[test]
    fn stock_on_an_unmanaged_item_is_a_row_error() {
        let mut unmanaged = item(3, None);
        unmanaged.tracked = false;
        unmanaged.stock = [(OWN_STOCK.to_owned(), None)].into_iter().collect();
        let snap = world(vec![("U", unmanaged)]);
        let p = plan(
            vec![row(2, "U", vec![(FieldKey::own_stock(), set(qty(4)))])],
            &snap,
        );
        let m = messages(&p);
        assert!(
            m.len() == 1 && m[0].contains("does not manage stock"),
            "{m:?}"
        );
    }

    #[test]
    fn rows_sharing_a_parents_stock_must_agree_and_write_once() {
        let mut parent = item(10, None);
        if let Some(w) = parent.woo.as_mut() {
            w.variable = true;
        }
        let mut m = item(11, Some(10));
        let mut l = item(12, Some(10));
        for v in [&mut m, &mut l] {
            v.inventory_item_id = "10".into();
            if let Some(w) = v.woo.as_mut() {
                w.parent_stock = true;
            }
        }
        let snap = world(vec![("P", parent), ("P-M", m), ("P-L", l)]);
        let stock = |n| (FieldKey::own_stock(), set(qty(n)));
        let p = plan(
            vec![row(2, "P-M", vec![stock(8)]), row(3, "P-L", vec![stock(9)])],
            &snap,
        );
        let msgs = messages(&p);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs.iter()
                .all(|e| e.contains("share their parent's stock")),
            "{msgs:?}"
        );
        assert!(p.changes.is_empty());
        let p = plan(
            vec![
                row(2, "P-M", vec![stock(8)]),
                row(3, "P-L", vec![stock(8)]),
                row(4, "P", vec![stock(8)]),
            ],
            &snap,
        );
        assert!(p.errors.is_empty(), "{:?}", messages(&p));
        assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
        assert_eq!(p.changes[0].inventory_item_id, "10");
        assert_eq!(p.changes[0].key, FieldKey::own_stock());
        assert_eq!(p.changes[0].to, Some(qty(8)));
    }

    #[test]
    fn statuses_and_barcodes_are_each_stores_own() {
        let snap = world(vec![("A", item(1, None))]);
        // The sheet's "draft" is read as Shopify's DRAFT; WooCommerce's form is lowercase.
        let p = plan(
            vec![row(2, "A", vec![(status(), set(text("DRAFT")))])],
            &snap,
        );
        assert!(p.errors.is_empty(), "{:?}", messages(&p));
        assert_eq!(p.changes[0].to, Some(text("draft")));
        assert_eq!(p.changes[0].from, Some(text("publish")));
        let p = plan(
            vec![row(2, "A", vec![(status(), set(text("ACTIVE")))])],
            &snap,
        );
        assert!(messages(&p)[0].contains("not a WooCommerce status"));
        let p = plan(
            vec![row(
                2,
                "A",
                vec![(FieldKey::variant(Field::Barcode), set(text("ABC-123")))],
            )],
            &snap,
        );
        assert!(
            messages(&p)[0].contains("would store \"-123\""),
            "{:?}",
            messages(&p)
        );
        // A Shopify variant is refused WooCommerce's words.
        let shopify =
            super::super::tests::fixture::snapshot(vec![super::super::tests::fixture::variant(
                "B",
            )]);
        let p = build(
            &sheet(vec![row(2, "B", vec![(status(), set(text("publish")))])]),
            &shopify,
            &Baseline::default(),
            &opts(Policy::SheetWins),
        );
        assert!(
            messages(&p)[0].contains("is a WooCommerce status"),
            "{:?}",
            messages(&p)
        );
    }
}
