//! Table-driven tests of the planner: one cell under §3/§4.4, the row and SKU joins,
//! `--only`, the guards of §4.6 and the re-plan of §4.3. Shared fixtures live in
//! [`fixture`] so the property tests build the same world.

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;

use super::*;
use crate::model::rows::{Intent, ParsedSheet, RowError};
use crate::model::{CellRef, Field, FieldKey, Value};

pub(super) mod fixture {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    use rust_decimal::Decimal;
    use serde_json::json;

    use crate::model::{CellRef, Currency, Field, FieldKey, Sku, Value};
    use std::sync::Arc;

    use crate::model::rows::{Entry, Intent, ParsedSheet, Row};
    use crate::plan::{PlanOptions, Policy, Snapshot, StoreProduct, StoreVariant};

    pub const TAB: &str = "Inventory";
    pub const MAIN: &str = "Main";
    pub const OUTLET: &str = "Outlet";

    pub fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    pub fn money(s: &str) -> Value {
        Value::Money(dec(s))
    }
    pub fn qty(q: i64) -> Value {
        Value::Qty(q)
    }
    pub fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
    pub fn sku(s: &str) -> Sku {
        Sku::new(s).unwrap()
    }
    pub fn price() -> FieldKey {
        FieldKey::variant(Field::Price)
    }
    pub fn compare_at() -> FieldKey {
        FieldKey::variant(Field::CompareAtPrice)
    }
    pub fn cost() -> FieldKey {
        FieldKey::variant(Field::Cost)
    }
    pub fn barcode() -> FieldKey {
        FieldKey::variant(Field::Barcode)
    }
    pub fn main() -> FieldKey {
        FieldKey::stock(MAIN)
    }
    pub fn outlet() -> FieldKey {
        FieldKey::stock(OUTLET)
    }

    /// Column of each field in the test sheet; the SKU is in column A.
    pub fn col(key: &FieldKey) -> u32 {
        match key.field {
            Field::Price => 1,
            Field::CompareAtPrice => 2,
            Field::Cost => 3,
            Field::Barcode => 4,
            Field::Inventory if key.location.as_deref() == Some(MAIN) => 5,
            Field::Inventory => 6,
            Field::Title => 7,
            Field::Status => 8,
            Field::Tags => 9,
            Field::Vendor => 10,
            Field::ProductType => 11,
            Field::Description => 12,
            Field::RegularPrice => 13,
            Field::SalePrice => 14,
        }
    }

    pub fn cell(key: &FieldKey, row: u32) -> CellRef {
        CellRef::new(TAB, col(key), row)
    }

    /// The cell as the Sheets API would have returned it for this intent.
    fn raw(intent: &Intent) -> serde_json::Value {
        match intent {
            Intent::Set(Value::Qty(q)) => json!(q),
            Intent::Set(Value::Money(m)) => json!(m.to_string()),
            Intent::Set(Value::Text(t)) => json!(t),
            Intent::Clear => json!("CLEAR"),
            Intent::NumericBarcode(d) => json!(d.parse::<u64>().unwrap_or_default()),
        }
    }

    pub fn row(n: u32, sku_text: &str, cells: Vec<(FieldKey, Intent)>) -> Row {
        let values = cells
            .into_iter()
            .map(|(key, intent)| {
                let entry = Entry {
                    cell: cell(&key, n),
                    raw: raw(&intent),
                    intent,
                };
                (key, entry)
            })
            .collect();
        Row {
            row: n,
            sku: sku(sku_text),
            values,
            product: BTreeMap::new(),
            location: None,
        }
    }

    pub fn sheet(rows: Vec<Row>) -> ParsedSheet {
        let skus: BTreeSet<_> = rows.iter().map(|r| r.sku.clone()).collect();
        ParsedSheet {
            rows_read: rows.len(),
            skus_read: skus.len(),
            rows,
            errors: Vec::new(),
            ..ParsedSheet::default()
        }
    }

    /// A tracked variant priced 10.00, 5 in stock at Main and not stocked at Outlet.
    pub fn variant(sku_text: &str) -> StoreVariant {
        StoreVariant {
            variant_id: format!("gid://shopify/ProductVariant/{sku_text}").into(),
            product: Arc::new(StoreProduct {
                id: format!("gid://shopify/Product/{sku_text}"),
                title: format!("Product {sku_text}"),
                status: "ACTIVE".to_owned(),
                ..StoreProduct::default()
            }),
            inventory_item_id: format!("gid://shopify/InventoryItem/{sku_text}").into(),
            price: dec("10.00"),
            compare_at_price: None,
            cost: None,
            barcode: None,
            tracked: true,
            bundle: false,
            stock: [(MAIN.to_owned(), Some(5)), (OUTLET.to_owned(), None)]
                .into_iter()
                .collect(),
            woo: None,
        }
    }

    pub fn snapshot(variants: Vec<StoreVariant>) -> Snapshot {
        let mut map: HashMap<Sku, Vec<StoreVariant>> = HashMap::new();
        for v in variants {
            let id = v.variant_id.to_string();
            let s = id.rsplit('/').next().unwrap_or_default().to_owned();
            map.entry(sku(&s)).or_default().push(v);
        }
        Snapshot {
            currency: Currency::new("USD"),
            variants: map,
        }
    }

    pub fn opts(policy: Policy) -> PlanOptions {
        PlanOptions {
            policy,
            only: None,
            adopt: None,
            max_change_ratio: dec("0.5"),
            max_price_change: dec("0.5"),
            locations: vec![MAIN.to_owned(), OUTLET.to_owned()],
            tab: TAB.to_owned(),
            sku_col: 0,
            create: None,
        }
    }
}

use fixture::*;

fn set(v: Value) -> Intent {
    Intent::Set(v)
}

// ---------------------------------------------------------------------------------------
// One cell: §3 (what a cell means) and §4.4 (who wins).

/// What one cell should produce; everything not named must be absent.
#[derive(Debug, Default)]
struct Expect {
    change: Option<(Option<Value>, Option<Value>, bool)>,
    pull: Option<(Option<Value>, Option<Value>)>,
    conflict: Option<(ConflictKind, Resolution)>,
    agreed: Option<Option<Value>>,
    error: Option<&'static str>,
}

fn nothing() -> Expect {
    Expect::default()
}
fn agreed(v: Option<Value>) -> Expect {
    Expect {
        agreed: Some(v),
        ..Expect::default()
    }
}
fn push(from: Option<Value>, to: Option<Value>) -> Expect {
    Expect {
        change: Some((from, to, false)),
        ..Expect::default()
    }
}
fn activate(to: Value) -> Expect {
    Expect {
        change: Some((None, Some(to), true)),
        ..Expect::default()
    }
}
fn pull(from: Option<Value>, to: Option<Value>) -> Expect {
    Expect {
        pull: Some((from, to)),
        ..Expect::default()
    }
}
fn both(from: Option<Value>, to: Option<Value>) -> Expect {
    Expect {
        change: Some((from, to, false)),
        conflict: Some((ConflictKind::BothChanged, Resolution::Sheet)),
        ..Expect::default()
    }
}
fn no_baseline(resolution: Resolution) -> Expect {
    Expect {
        conflict: Some((ConflictKind::NoBaseline, resolution)),
        ..Expect::default()
    }
}
fn error(msg: &'static str) -> Expect {
    Expect {
        error: Some(msg),
        ..Expect::default()
    }
}

struct CellCase {
    name: &'static str,
    policy: Policy,
    adopt: Option<Adopt>,
    key: FieldKey,
    store: fn(&mut StoreVariant),
    sheet: Intent,
    /// `None`: no baseline entry; `Some(None)`: both last agreed on empty.
    base: Option<Option<Value>>,
    expect: Expect,
}

use Policy::{SheetWins, ThreeWay};

fn keep(_: &mut StoreVariant) {}

fn cell_cases() -> Vec<CellCase> {
    let c = |name, policy, key, store, sheet, base, expect| CellCase {
        name,
        policy,
        adopt: None,
        key,
        store,
        sheet,
        base,
        expect,
    };
    let adopt = |mut case: CellCase, a: Adopt| {
        case.adopt = Some(a);
        case
    };
    vec![
        // §4.4 three-way, stock: baseline 5, store 5 unless changed.
        c(
            "three_way_stock_sheet_only_changed_pushes",
            ThreeWay,
            main(),
            keep,
            set(qty(8)),
            Some(Some(qty(5))),
            push(Some(qty(5)), Some(qty(8))),
        ),
        c(
            "three_way_stock_store_only_changed_pulls",
            ThreeWay,
            main(),
            |v| {
                v.stock.set(MAIN, Some(3));
            },
            set(qty(5)),
            Some(Some(qty(5))),
            pull(Some(qty(5)), Some(qty(3))),
        ),
        c(
            "three_way_stock_both_changed_conflicts_and_sheet_wins",
            ThreeWay,
            main(),
            |v| {
                v.stock.set(MAIN, Some(3));
            },
            set(qty(8)),
            Some(Some(qty(5))),
            both(Some(qty(3)), Some(qty(8))),
        ),
        c(
            "three_way_stock_neither_changed_is_quiet",
            ThreeWay,
            main(),
            keep,
            set(qty(5)),
            Some(Some(qty(5))),
            nothing(),
        ),
        // The same four for price: baseline 10.00, store 10.00 unless changed.
        c(
            "three_way_price_sheet_only_changed_pushes",
            ThreeWay,
            price(),
            keep,
            set(money("12.00")),
            Some(Some(money("10.00"))),
            push(Some(money("10.00")), Some(money("12.00"))),
        ),
        c(
            "three_way_price_store_only_changed_pulls",
            ThreeWay,
            price(),
            |v| v.price = dec("11.00"),
            set(money("10.00")),
            Some(Some(money("10.00"))),
            pull(Some(money("10.00")), Some(money("11.00"))),
        ),
        c(
            "three_way_price_both_changed_conflicts_and_sheet_wins",
            ThreeWay,
            price(),
            |v| v.price = dec("11.00"),
            set(money("12.00")),
            Some(Some(money("10.00"))),
            both(Some(money("11.00")), Some(money("12.00"))),
        ),
        c(
            "three_way_price_neither_changed_is_quiet",
            ThreeWay,
            price(),
            keep,
            set(money("10.00")),
            Some(Some(money("10.00"))),
            nothing(),
        ),
        // Agreement sets the baseline silently.
        c(
            "three_way_both_changed_to_the_same_value_is_agreed",
            ThreeWay,
            main(),
            |v| {
                v.stock.set(MAIN, Some(8));
            },
            set(qty(8)),
            Some(Some(qty(5))),
            agreed(Some(qty(8))),
        ),
        c(
            "three_way_agreement_without_baseline_sets_it_silently",
            ThreeWay,
            price(),
            keep,
            set(money("10.00")),
            None,
            agreed(Some(money("10.00"))),
        ),
        c(
            "sheet_wins_agreement_without_baseline_sets_it_silently",
            SheetWins,
            main(),
            keep,
            set(qty(5)),
            None,
            agreed(Some(qty(5))),
        ),
        // No baseline.
        c(
            "three_way_no_baseline_without_adopt_is_unresolved_conflict",
            ThreeWay,
            main(),
            keep,
            set(qty(8)),
            None,
            no_baseline(Resolution::None),
        ),
        c(
            "three_way_no_baseline_price_without_adopt_is_unresolved_conflict",
            ThreeWay,
            price(),
            keep,
            set(money("12.00")),
            None,
            no_baseline(Resolution::None),
        ),
        adopt(
            c(
                "three_way_no_baseline_adopt_sheet_pushes",
                ThreeWay,
                main(),
                keep,
                set(qty(8)),
                None,
                Expect {
                    change: Some((Some(qty(5)), Some(qty(8)), false)),
                    conflict: Some((ConflictKind::NoBaseline, Resolution::Sheet)),
                    ..Expect::default()
                },
            ),
            Adopt::Sheet,
        ),
        adopt(
            c(
                "three_way_no_baseline_adopt_store_pulls",
                ThreeWay,
                main(),
                keep,
                set(qty(8)),
                None,
                Expect {
                    pull: Some((Some(qty(8)), Some(qty(5)))),
                    conflict: Some((ConflictKind::NoBaseline, Resolution::Store)),
                    ..Expect::default()
                },
            ),
            Adopt::Store,
        ),
        adopt(
            c(
                "adopt_does_not_touch_cells_with_a_baseline",
                ThreeWay,
                main(),
                |v| {
                    v.stock.set(MAIN, Some(3));
                },
                set(qty(5)),
                Some(Some(qty(5))),
                pull(Some(qty(5)), Some(qty(3))),
            ),
            Adopt::Sheet,
        ),
        // sheet_wins.
        c(
            "sheet_wins_pushes_without_baseline",
            SheetWins,
            main(),
            keep,
            set(qty(8)),
            None,
            push(Some(qty(5)), Some(qty(8))),
        ),
        c(
            "sheet_wins_overwrites_a_store_side_change",
            SheetWins,
            main(),
            |v| {
                v.stock.set(MAIN, Some(3));
            },
            set(qty(5)),
            Some(Some(qty(5))),
            push(Some(qty(3)), Some(qty(5))),
        ),
        c(
            "sheet_wins_equal_with_baseline_is_quiet",
            SheetWins,
            price(),
            keep,
            set(money("10.00")),
            Some(Some(money("10.00"))),
            nothing(),
        ),
        c(
            "sheet_wins_oversold_stock_goes_to_zero",
            SheetWins,
            main(),
            |v| {
                v.stock.set(MAIN, Some(-2));
            },
            set(qty(0)),
            None,
            push(Some(qty(-2)), Some(qty(0))),
        ),
        // Money is compared as a decimal value.
        c(
            "money_19_9_equals_19_90",
            ThreeWay,
            price(),
            |v| v.price = dec("19.90"),
            set(money("19.9")),
            Some(Some(money("19.90"))),
            nothing(),
        ),
        c(
            "money_19_9_equals_baseline_19_90_so_a_store_change_pulls",
            ThreeWay,
            price(),
            |v| v.price = dec("21.00"),
            set(money("19.9")),
            Some(Some(money("19.90"))),
            pull(Some(money("19.9")), Some(money("21.00"))),
        ),
        c(
            "sheet_wins_money_19_9_equals_19_90",
            SheetWins,
            compare_at(),
            |v| v.compare_at_price = Some(dec("19.90")),
            set(money("19.9")),
            Some(Some(money("19.90"))),
            nothing(),
        ),
        // CLEAR.
        c(
            "clear_compare_at_pushes_empty",
            ThreeWay,
            compare_at(),
            |v| v.compare_at_price = Some(dec("15.00")),
            Intent::Clear,
            Some(Some(money("15.00"))),
            push(Some(money("15.00")), None),
        ),
        c(
            "clear_cost_pushes_empty",
            SheetWins,
            cost(),
            |v| v.cost = Some(dec("4.00")),
            Intent::Clear,
            None,
            push(Some(money("4.00")), None),
        ),
        c(
            "clear_barcode_pushes_empty",
            ThreeWay,
            barcode(),
            |v| v.barcode = Some("0123".into()),
            Intent::Clear,
            Some(Some(text("0123"))),
            push(Some(text("0123")), None),
        ),
        c(
            "clear_when_store_is_already_empty_is_quiet",
            ThreeWay,
            compare_at(),
            keep,
            Intent::Clear,
            Some(None),
            nothing(),
        ),
        c(
            "clear_cell_under_a_store_side_value_pulls_it",
            ThreeWay,
            compare_at(),
            |v| v.compare_at_price = Some(dec("12.00")),
            Intent::Clear,
            Some(None),
            pull(None, Some(money("12.00"))),
        ),
        c(
            "clear_on_price_is_error",
            SheetWins,
            price(),
            keep,
            Intent::Clear,
            None,
            error("CLEAR only empties"),
        ),
        c(
            "store_emptied_under_unchanged_cell_pulls_an_empty_cell",
            ThreeWay,
            compare_at(),
            keep,
            set(money("15.00")),
            Some(Some(money("15.00"))),
            pull(Some(money("15.00")), None),
        ),
        // Barcodes Sheets turned into numbers.
        c(
            "numeric_barcode_equal_without_leading_zeros_is_unchanged",
            ThreeWay,
            barcode(),
            |v| v.barcode = Some("000123".into()),
            Intent::NumericBarcode("123".into()),
            Some(Some(text("000123"))),
            nothing(),
        ),
        c(
            "numeric_barcode_equal_without_baseline_agrees_on_store_text",
            ThreeWay,
            barcode(),
            |v| v.barcode = Some("000123".into()),
            Intent::NumericBarcode("123".into()),
            None,
            agreed(Some(text("000123"))),
        ),
        c(
            "sheet_wins_numeric_barcode_equal_is_not_pushed",
            SheetWins,
            barcode(),
            |v| v.barcode = Some("0123".into()),
            Intent::NumericBarcode("123".into()),
            Some(Some(text("0123"))),
            nothing(),
        ),
        c(
            "numeric_barcode_different_is_error_asking_for_plain_text",
            SheetWins,
            barcode(),
            |v| v.barcode = Some("000124".into()),
            Intent::NumericBarcode("123".into()),
            None,
            error("format the barcode column as plain text"),
        ),
        c(
            "numeric_barcode_against_empty_store_is_error",
            ThreeWay,
            barcode(),
            keep,
            Intent::NumericBarcode("123".into()),
            Some(None),
            error("plain text"),
        ),
        c(
            "numeric_barcode_is_never_pulled_into",
            ThreeWay,
            barcode(),
            |v| v.barcode = Some("000456".into()),
            Intent::NumericBarcode("123".into()),
            Some(Some(text("000123"))),
            error("plain text"),
        ),
        // Stock the store will not take.
        c(
            "untracked_item_stock_is_error",
            SheetWins,
            main(),
            |v| v.tracked = false,
            set(qty(8)),
            None,
            error(
                "inventory is not tracked for this item; turn on tracking in Shopify or clear the cell",
            ),
        ),
        c(
            "untracked_item_stock_equal_to_store_is_still_error",
            ThreeWay,
            main(),
            |v| v.tracked = false,
            set(qty(5)),
            Some(Some(qty(5))),
            error("not tracked"),
        ),
        c(
            "bundle_parent_stock_is_error",
            SheetWins,
            main(),
            |v| v.bundle = true,
            set(qty(8)),
            None,
            error("bundle"),
        ),
        c(
            "untracked_item_price_is_still_planned",
            SheetWins,
            price(),
            |v| v.tracked = false,
            set(money("11.00")),
            None,
            push(Some(money("10.00")), Some(money("11.00"))),
        ),
        // Locations without a level.
        c(
            "sheet_wins_no_level_nonzero_activates",
            SheetWins,
            outlet(),
            keep,
            set(qty(4)),
            None,
            activate(qty(4)),
        ),
        c(
            "sheet_wins_no_level_zero_never_activates",
            SheetWins,
            outlet(),
            keep,
            set(qty(0)),
            None,
            nothing(),
        ),
        c(
            "three_way_no_level_zero_never_activates",
            ThreeWay,
            outlet(),
            keep,
            set(qty(0)),
            Some(Some(qty(4))),
            nothing(),
        ),
        c(
            "sheet_wins_location_missing_from_snapshot_activates",
            SheetWins,
            outlet(),
            |v| {
                v.stock.remove(OUTLET);
            },
            set(qty(4)),
            None,
            activate(qty(4)),
        ),
        c(
            "three_way_no_level_after_agreed_empty_activates",
            ThreeWay,
            outlet(),
            keep,
            set(qty(4)),
            Some(None),
            activate(qty(4)),
        ),
        c(
            "three_way_no_level_without_baseline_is_conflict",
            ThreeWay,
            outlet(),
            keep,
            set(qty(4)),
            None,
            no_baseline(Resolution::None),
        ),
        adopt(
            c(
                "three_way_no_level_adopt_sheet_activates",
                ThreeWay,
                outlet(),
                keep,
                set(qty(4)),
                None,
                Expect {
                    change: Some((None, Some(qty(4)), true)),
                    conflict: Some((ConflictKind::NoBaseline, Resolution::Sheet)),
                    ..Expect::default()
                },
            ),
            Adopt::Sheet,
        ),
        c(
            "three_way_level_removed_under_unchanged_cell_pulls_empty",
            ThreeWay,
            main(),
            |v| {
                v.stock.set(MAIN, None);
            },
            set(qty(5)),
            Some(Some(qty(5))),
            pull(Some(qty(5)), None),
        ),
    ]
}

#[test]
fn cell_table() {
    let cases = cell_cases();
    assert!(cases.len() >= 40, "the table lost cases");
    let mut names = BTreeSet::new();
    for case in cases {
        assert!(names.insert(case.name), "duplicate case name {}", case.name);
        run_cell_case(case);
    }
}

fn run_cell_case(case: CellCase) {
    let name = case.name;
    let mut v = variant("TEE-1");
    (case.store)(&mut v);
    let r = row(7, "TEE-1", vec![(case.key.clone(), case.sheet.clone())]);
    let mut baseline = Baseline::new();
    if let Some(b) = case.base.clone() {
        baseline.insert((sku("TEE-1"), case.key.clone()), b);
    }
    let mut o = opts(case.policy);
    o.adopt = case.adopt;
    let plan = build(&sheet(vec![r]), &snapshot(vec![v]), &baseline, &o);
    let e = case.expect;

    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.from.clone(), c.to.clone(), c.activate))
        .collect();
    assert_eq!(
        changes,
        e.change.into_iter().collect::<Vec<_>>(),
        "{name}: changes"
    );
    for c in &plan.changes {
        assert_eq!(
            (c.row, &c.cell, &c.key, &c.sku),
            (7, &cell(&case.key, 7), &case.key, &sku("TEE-1")),
            "{name}"
        );
        assert_eq!(c.variant_id, "gid://shopify/ProductVariant/TEE-1", "{name}");
        assert_eq!(c.note, None, "{name}");
    }
    let pulls: Vec<_> = plan
        .pulls
        .iter()
        .map(|p| (p.from.clone(), p.to.clone()))
        .collect();
    assert_eq!(
        pulls,
        e.pull.into_iter().collect::<Vec<_>>(),
        "{name}: pulls"
    );
    for p in &plan.pulls {
        assert_eq!(
            (p.row, &p.cell, &p.key),
            (7, &cell(&case.key, 7), &case.key),
            "{name}"
        );
    }
    let conflicts: Vec<_> = plan
        .conflicts
        .iter()
        .map(|c| (c.kind, c.resolution))
        .collect();
    assert_eq!(
        conflicts,
        e.conflict.into_iter().collect::<Vec<_>>(),
        "{name}: conflicts"
    );
    for c in &plan.conflicts {
        assert_eq!(
            c.baseline,
            case.base.clone().flatten(),
            "{name}: conflict baseline"
        );
        assert_ne!(c.sheet, c.store, "{name}: a conflict needs a difference");
    }
    let agreed: Vec<_> = plan.agreed.iter().map(|a| a.value.clone()).collect();
    assert_eq!(
        agreed,
        e.agreed.into_iter().collect::<Vec<_>>(),
        "{name}: agreed"
    );
    match e.error {
        Some(msg) => {
            assert_eq!(plan.errors.len(), 1, "{name}: {:?}", plan.errors);
            let err = &plan.errors[0];
            assert!(
                err.message.contains(msg),
                "{name}: {:?} lacks {msg:?}",
                err.message
            );
            assert_eq!(err.cell, cell(&case.key, 7), "{name}: error names the cell");
            assert_eq!(err.sku, Some(sku("TEE-1")), "{name}");
        }
        None => assert!(plan.errors.is_empty(), "{name}: {:?}", plan.errors),
    }
    let quiet = plan.changes.is_empty()
        && plan.pulls.is_empty()
        && plan.conflicts.is_empty()
        && plan.errors.is_empty();
    assert_eq!(plan.unchanged, usize::from(quiet), "{name}: unchanged");
    assert_eq!(plan.rows_read, 1, "{name}");
}

#[test]
fn decide_is_the_four_way_table() {
    use diff::{Decision, decide};
    let (a, b, c) = (Some(qty(1)), Some(qty(2)), Some(qty(3)));
    // (sheet, store, baseline) → decision, three-way.
    let cases = [
        (&a, &a, Some(&a), Decision::Unchanged),
        (&a, &a, Some(&b), Decision::Agree),
        (&a, &a, None, Decision::Agree),
        (&b, &a, Some(&a), Decision::Push),
        (&a, &b, Some(&a), Decision::Pull),
        (&b, &c, Some(&a), Decision::BothChanged),
        (&a, &b, None, Decision::NoBaseline(Resolution::None)),
    ];
    for (sheet, store, base, want) in cases {
        assert_eq!(
            decide(ThreeWay, sheet, store, base, None),
            want,
            "{sheet:?} {store:?} {base:?}"
        );
    }
    assert_eq!(decide(SheetWins, &a, &b, Some(&a), None), Decision::Push);
    assert_eq!(
        decide(ThreeWay, &a, &b, None, Some(Adopt::Store)),
        Decision::NoBaseline(Resolution::Store)
    );
}

// ---------------------------------------------------------------------------------------
// Rows and the join with the store.

#[test]
fn unknown_sku_is_error_on_the_sku_cell() {
    let s = sheet(vec![row(4, "NOPE", vec![(price(), set(money("12.00")))])]);
    let plan = build(
        &s,
        &snapshot(vec![variant("TEE-1")]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    assert_eq!(
        plan.errors,
        vec![RowError {
            row: 4,
            cell: CellRef::new(TAB, 0, 4),
            sku: Some(sku("NOPE")),
            message: "SKU \"NOPE\" is not in the store".into(),
        }]
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.unchanged, 0);
}

#[test]
fn sku_on_two_store_variants_is_error_naming_the_count() {
    let mut second = variant("TEE-1");
    second.variant_id = "gid://shopify/ProductVariant/TEE-1".into();
    Arc::make_mut(&mut second.product).title = "Another product".into();
    let s = sheet(vec![row(3, "TEE-1", vec![(price(), set(money("12.00")))])]);
    let plan = build(
        &s,
        &snapshot(vec![variant("TEE-1"), second]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(
        plan.errors[0].message,
        "SKU \"TEE-1\" is on 2 variants in the store; fix it in Shopify"
    );
    assert_eq!(plan.errors[0].cell, CellRef::new(TAB, 0, 3));
    assert!(plan.changes.is_empty() && plan.pulls.is_empty() && plan.agreed.is_empty());
}

#[test]
fn sheet_errors_are_carried_and_their_rows_get_nothing() {
    let mut s = sheet(vec![
        row(2, "A", vec![(price(), set(money("12.00")))]),
        row(3, "B", vec![(price(), set(money("12.00")))]),
    ]);
    let parse_error = RowError {
        row: 3,
        cell: cell(&price(), 3),
        sku: Some(sku("B")),
        message: "price \"abc\" is not a number".into(),
    };
    s.errors.push(parse_error.clone());
    let plan = build(
        &s,
        &snapshot(vec![variant("A"), variant("B")]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    assert_eq!(plan.errors, vec![parse_error]);
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.sku.as_str())
            .collect::<Vec<_>>(),
        ["A"]
    );
}

#[test]
fn row_with_any_error_gets_no_change() {
    let mut v = variant("TEE-1");
    v.tracked = false;
    let s = sheet(vec![row(
        2,
        "TEE-1",
        vec![(price(), set(money("12.00"))), (main(), set(qty(3)))],
    )]);
    let plan = build(&s, &snapshot(vec![v]), &Baseline::new(), &opts(SheetWins));
    assert_eq!(plan.errors.len(), 1);
    assert!(plan.changes.is_empty() && plan.pulls.is_empty() && plan.agreed.is_empty());
    assert_eq!(plan.unchanged, 0);
}

#[test]
fn only_restricts_the_fields_planned() {
    let s = sheet(vec![row(
        2,
        "TEE-1",
        vec![(price(), set(money("12.00"))), (main(), set(qty(3)))],
    )]);
    let mut o = opts(SheetWins);
    o.only = Some(BTreeSet::from([Field::Inventory]));
    let plan = build(&s, &snapshot(vec![variant("TEE-1")]), &Baseline::new(), &o);
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.key.clone())
            .collect::<Vec<_>>(),
        [main()]
    );
    o.only = Some(BTreeSet::from([Field::Price]));
    let plan = build(&s, &snapshot(vec![variant("TEE-1")]), &Baseline::new(), &o);
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.key.clone())
            .collect::<Vec<_>>(),
        [price()]
    );
}

#[test]
fn only_ignores_errors_of_fields_out_of_scope() {
    let mut v = variant("TEE-1");
    v.tracked = false;
    let s = sheet(vec![row(
        2,
        "TEE-1",
        vec![(price(), set(money("12.00"))), (main(), set(qty(3)))],
    )]);
    let mut o = opts(SheetWins);
    o.only = Some(BTreeSet::from([Field::Price]));
    let plan = build(&s, &snapshot(vec![v]), &Baseline::new(), &o);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(plan.changes.len(), 1);
}

#[test]
fn stock_at_unconfigured_locations_is_not_planned() {
    let s = sheet(vec![row(
        2,
        "TEE-1",
        vec![(main(), set(qty(3))), (outlet(), set(qty(4)))],
    )]);
    let mut o = opts(SheetWins);
    o.locations = vec![MAIN.into()];
    let plan = build(&s, &snapshot(vec![variant("TEE-1")]), &Baseline::new(), &o);
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.key.clone())
            .collect::<Vec<_>>(),
        [main()]
    );
}

#[test]
fn unchanged_counts_rows_with_nothing_to_do() {
    let s = sheet(vec![
        row(2, "A", vec![(price(), set(money("12.00")))]),
        row(3, "B", vec![(price(), set(money("10.00")))]), // agreed silently
        row(4, "C", vec![(price(), set(money("10.00")))]), // already at baseline
        row(5, "D", vec![]),
        row(6, "E", vec![(price(), set(money("11.00")))]), // conflict
    ]);
    let snap = snapshot(["A", "B", "C", "D", "E"].map(variant).to_vec());
    let mut baseline = Baseline::new();
    baseline.insert((sku("A"), price()), Some(money("10.00")));
    baseline.insert((sku("C"), price()), Some(money("10.00")));
    let plan = build(&s, &snap, &baseline, &opts(ThreeWay));
    assert_eq!(plan.rows_read, 5);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.agreed.len(), 1);
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.unchanged, 3);
}

#[test]
fn output_is_sorted_by_product_then_sku_then_field() {
    let mut a = variant("A");
    Arc::make_mut(&mut a.product).title = "Zebra tee".into();
    let mut b = variant("B");
    Arc::make_mut(&mut b.product).title = "Apron".into();
    let mut s = sheet(vec![
        row(
            2,
            "A",
            vec![(price(), set(money("11.00"))), (main(), set(qty(1)))],
        ),
        row(
            3,
            "B",
            vec![(main(), set(qty(2))), (price(), set(money("12.00")))],
        ),
        row(4, "NOPE", vec![]),
    ]);
    s.errors.push(RowError {
        row: 3,
        cell: cell(&cost(), 3),
        sku: None,
        message: "x".into(),
    });
    s.errors.push(RowError {
        row: 1,
        cell: cell(&cost(), 1),
        sku: None,
        message: "y".into(),
    });
    let plan = build(
        &s,
        &snapshot(vec![a, b]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    let order: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.sku.to_string(), c.key.to_string()))
        .collect();
    assert_eq!(
        order,
        [("A", "price"), ("A", "inventory@Main")]
            .map(|(s, k)| (s.to_owned(), k.to_owned()))
            .to_vec(),
        "B is dropped (its row has a sheet error), A's fields in Field order"
    );
    let rows: Vec<_> = plan.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, [1, 3, 4]);
}

#[test]
fn changes_group_by_product_title_before_sku() {
    let mut a = variant("A");
    Arc::make_mut(&mut a.product).title = "Zebra tee".into();
    let mut b = variant("B");
    Arc::make_mut(&mut b.product).title = "Apron".into();
    let s = sheet(vec![
        row(2, "A", vec![(price(), set(money("11.00")))]),
        row(3, "B", vec![(price(), set(money("12.00")))]),
    ]);
    let plan = build(
        &s,
        &snapshot(vec![a, b]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    let skus: Vec<_> = plan.changes.iter().map(|c| c.sku.as_str()).collect();
    assert_eq!(skus, ["B", "A"]);
}

// ---------------------------------------------------------------------------------------
// Guards (§4.6).

/// `n` rows `S0..` at the default store values; `cells(i)` gives row i's cells.
fn guard_world(
    n: usize,
    cells: impl Fn(usize) -> Vec<(FieldKey, Intent)>,
) -> (ParsedSheet, Snapshot) {
    let names: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
    let rows = names
        .iter()
        .enumerate()
        .map(|(i, s)| row(i as u32 + 2, s, cells(i)))
        .collect();
    (
        sheet(rows),
        snapshot(names.iter().map(|s| variant(s)).collect()),
    )
}

struct GuardCase {
    name: &'static str,
    plan: Plan,
    want: Vec<Refusal>,
}

fn guard_cases() -> Vec<GuardCase> {
    let sw = opts(SheetWins);
    let none = Baseline::new();
    let price_moves = |k: usize, to: &'static str| {
        move |i: usize| {
            let v = if i < k { to } else { "10.00" };
            vec![(price(), set(money(v)))]
        }
    };
    let ratio = |changed, total| Refusal::ChangeRatio {
        changed,
        total,
        max: "0.5".into(),
    };
    let price_refusal = |to: &str| Refusal::PriceChange {
        sku: sku("S0"),
        row: 2,
        from: "10.00".into(),
        to: to.into(),
        max: "0.5".into(),
    };
    let plan_of = |(s, snap): (ParsedSheet, Snapshot), o: &PlanOptions| build(&s, &snap, &none, o);
    let mut loose = opts(SheetWins);
    loose.max_change_ratio = dec("1");
    let mut only_price = opts(SheetWins);
    only_price.only = Some(BTreeSet::from([Field::Price]));
    // `max_… = 1e30` in the config: both guards off.
    let mut off = opts(SheetWins);
    off.max_change_ratio = crate::config::GUARD_OFF;
    off.max_price_change = crate::config::GUARD_OFF;

    vec![
        GuardCase {
            name: "change_ratio_at_the_threshold_passes",
            plan: plan_of(guard_world(10, price_moves(5, "11.00")), &sw),
            want: vec![],
        },
        GuardCase {
            name: "change_ratio_just_over_refuses",
            plan: plan_of(guard_world(10, price_moves(6, "11.00")), &sw),
            want: vec![ratio(6, 10)],
        },
        GuardCase {
            name: "change_ratio_counts_skus_not_changes",
            plan: plan_of(
                guard_world(4, |i| {
                    if i < 2 {
                        vec![(price(), set(money("11.00"))), (main(), set(qty(6)))]
                    } else {
                        vec![]
                    }
                }),
                &sw,
            ),
            want: vec![],
        },
        GuardCase {
            name: "change_ratio_denominator_is_the_whole_sheet_under_only",
            // Two price rows both change, two stock rows change too but are not planned:
            // 2 of 4 SKUs read is at the threshold; 2 of the 2 price rows would be over.
            plan: plan_of(
                guard_world(4, |i| {
                    if i < 2 {
                        vec![(price(), set(money("11.00")))]
                    } else {
                        vec![(main(), set(qty(9)))]
                    }
                }),
                &only_price,
            ),
            want: vec![],
        },
        GuardCase {
            name: "change_ratio_under_only_still_refuses_over_the_whole_sheet",
            plan: plan_of(
                guard_world(4, |i| {
                    if i < 3 {
                        vec![(price(), set(money("11.00")))]
                    } else {
                        vec![(main(), set(qty(9)))]
                    }
                }),
                &only_price,
            ),
            want: vec![ratio(3, 4)],
        },
        GuardCase {
            name: "stock_to_zero_at_half_passes",
            plan: plan_of(
                guard_world(4, |i| vec![(main(), set(qty(if i < 2 { 0 } else { 5 })))]),
                &loose,
            ),
            want: vec![],
        },
        GuardCase {
            name: "stock_to_zero_just_over_half_refuses",
            plan: plan_of(
                guard_world(4, |i| vec![(main(), set(qty(if i < 3 { 0 } else { 5 })))]),
                &loose,
            ),
            want: vec![Refusal::StockToZero {
                zeroed: 3,
                total: 4,
            }],
        },
        GuardCase {
            name: "stock_to_zero_denominator_counts_every_non_blank_stock_cell",
            // 3 zeroed of 6 stock cells: the Outlet cells (activations) count too.
            plan: plan_of(
                guard_world(3, |_| vec![(main(), set(qty(0))), (outlet(), set(qty(4)))]),
                &loose,
            ),
            want: vec![],
        },
        GuardCase {
            name: "stock_to_zero_ignores_cells_that_were_not_above_zero",
            plan: plan_of(
                {
                    let (s, mut snap) = guard_world(2, |_| vec![(main(), set(qty(0)))]);
                    for v in snap.variants.values_mut().flatten() {
                        v.stock.set(MAIN, Some(-3));
                    }
                    (s, snap)
                },
                &loose,
            ),
            want: vec![],
        },
        GuardCase {
            name: "guards_turned_off_pass_every_sku_and_any_price_move",
            plan: plan_of(guard_world(4, price_moves(4, "99999999999.99")), &off),
            want: vec![],
        },
        GuardCase {
            name: "guards_turned_off_pass_a_price_drop_to_a_cent",
            plan: plan_of(guard_world(4, price_moves(4, "0.01")), &off),
            want: vec![],
        },
        GuardCase {
            name: "price_change_at_the_threshold_passes",
            plan: plan_of(guard_world(4, price_moves(1, "15.00")), &sw),
            want: vec![],
        },
        GuardCase {
            name: "price_change_just_over_refuses",
            plan: plan_of(guard_world(4, price_moves(1, "15.01")), &sw),
            want: vec![price_refusal("15.01")],
        },
        GuardCase {
            name: "price_drop_just_over_refuses",
            plan: plan_of(guard_world(4, price_moves(1, "4.99")), &sw),
            want: vec![price_refusal("4.99")],
        },
        GuardCase {
            name: "price_drop_at_the_threshold_passes",
            plan: plan_of(guard_world(4, price_moves(1, "5")), &sw),
            want: vec![],
        },
        GuardCase {
            name: "price_from_zero_is_not_guarded",
            plan: plan_of(
                {
                    let (s, mut snap) = guard_world(4, |i| {
                        if i == 0 {
                            vec![(price(), set(money("100.00")))]
                        } else {
                            vec![]
                        }
                    });
                    for v in snap.variants.values_mut().flatten() {
                        v.price = Decimal::ZERO;
                    }
                    (s, snap)
                },
                &sw,
            ),
            want: vec![],
        },
        GuardCase {
            name: "compare_at_moves_are_not_price_guarded",
            plan: plan_of(
                guard_world(4, |i| {
                    if i == 0 {
                        vec![(compare_at(), set(money("99.00")))]
                    } else {
                        vec![]
                    }
                }),
                &sw,
            ),
            want: vec![],
        },
        GuardCase {
            name: "empty_sheet_is_refused",
            plan: build(&sheet(vec![]), &snapshot(vec![variant("A")]), &none, &sw),
            want: vec![Refusal::EmptySheet],
        },
        GuardCase {
            name: "refusals_are_sorted",
            plan: plan_of(
                guard_world(2, |i| {
                    vec![
                        (price(), set(money(if i == 0 { "30.00" } else { "1.00" }))),
                        (main(), set(qty(0))),
                    ]
                }),
                &sw,
            ),
            want: vec![
                ratio(2, 2),
                Refusal::StockToZero {
                    zeroed: 2,
                    total: 2,
                },
                price_refusal("30.00"),
                Refusal::PriceChange {
                    sku: sku("S1"),
                    row: 3,
                    from: "10.00".into(),
                    to: "1.00".into(),
                    max: "0.5".into(),
                },
            ],
        },
    ]
}

#[test]
fn guard_table() {
    for case in guard_cases() {
        assert_eq!(case.plan.refusals, case.want, "{}", case.name);
    }
}

#[test]
fn pulls_never_count_toward_the_guards() {
    // Every store price and stock level moved a lot under unchanged cells: all pulls.
    let (s, mut snap) = guard_world(4, |_| {
        vec![(price(), set(money("10.00"))), (main(), set(qty(5)))]
    });
    let mut baseline = Baseline::new();
    for (k, vs) in snap.variants.iter_mut() {
        baseline.insert((k.clone(), price()), Some(money("10.00")));
        baseline.insert((k.clone(), main()), Some(qty(5)));
        for v in vs {
            v.price = dec("100.00");
            v.stock.set(MAIN, Some(0));
        }
    }
    let plan = build(&s, &snap, &baseline, &opts(ThreeWay));
    assert_eq!(plan.pulls.len(), 8);
    assert!(plan.changes.is_empty());
    assert_eq!(plan.refusals, vec![]);
}

#[test]
fn empty_sheet_with_parse_errors_only_is_not_empty() {
    // A sheet whose only rows are invalid has rows read: the empty-sheet guard is for a
    // sheet with no data at all.
    let mut s = sheet(vec![]);
    s.rows_read = 1;
    s.skus_read = 1;
    s.errors.push(RowError {
        row: 2,
        cell: cell(&price(), 2),
        sku: Some(sku("A")),
        message: "bad".into(),
    });
    let plan = build(
        &s,
        &snapshot(vec![variant("A")]),
        &Baseline::new(),
        &opts(SheetWins),
    );
    assert_eq!(plan.refusals, vec![]);
    assert_eq!(plan.errors.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Re-plan of a stale stock write (§4.3).

fn stale_change(from: Option<i64>, to: i64) -> Change {
    let s = sheet(vec![row(9, "TEE-1", vec![(main(), set(qty(to)))])]);
    let mut v = variant("TEE-1");
    v.stock.set(MAIN, from);
    let plan = build(&s, &snapshot(vec![v]), &Baseline::new(), &opts(SheetWins));
    plan.changes.into_iter().next().unwrap()
}

struct ReplanCase {
    name: &'static str,
    change: Change,
    fresh: Option<i64>,
    attempt: u32,
    policy: Policy,
    base: Option<Option<Value>>,
    want: Replan,
    conflict: Option<(Option<Value>, Option<Value>, Option<Value>)>,
}

fn again(change: &Change, fresh: Option<i64>) -> Replan {
    Replan::Set(Change {
        from: fresh.map(Value::Qty),
        activate: fresh.is_none(),
        note: Some("store changed during run".into()),
        ..change.clone()
    })
}

#[test]
fn replan_table() {
    let ch = stale_change(Some(5), 8);
    let activation = stale_change(None, 8);
    let to_zero = stale_change(Some(5), 0);
    let r = |name, change: &Change, fresh, attempt, policy, base, want, conflict| ReplanCase {
        name,
        change: change.clone(),
        fresh,
        attempt,
        policy,
        base,
        want,
        conflict,
    };
    let cases = vec![
        r(
            "replan_stale_twice_is_skipped",
            &ch,
            Some(4),
            2,
            SheetWins,
            None,
            Replan::Skip("store kept changing".into()),
            None,
        ),
        r(
            "replan_three_way_stale_twice_is_skipped",
            &ch,
            Some(4),
            3,
            ThreeWay,
            Some(Some(qty(5))),
            Replan::Skip("store kept changing".into()),
            None,
        ),
        r(
            "replan_sheet_wins_sets_again_from_fresh_with_note",
            &ch,
            Some(4),
            1,
            SheetWins,
            Some(Some(qty(5))),
            again(&ch, Some(4)),
            None,
        ),
        r(
            "replan_sheet_wins_fresh_at_target_is_already_there",
            &ch,
            Some(8),
            1,
            SheetWins,
            None,
            Replan::AlreadyThere,
            None,
        ),
        r(
            "replan_three_way_store_moved_is_both_changed_and_sheet_wins",
            &ch,
            Some(4),
            1,
            ThreeWay,
            Some(Some(qty(5))),
            again(&ch, Some(4)),
            Some((Some(qty(5)), Some(qty(8)), Some(qty(4)))),
        ),
        r(
            "replan_three_way_fresh_at_target_is_already_there",
            &ch,
            Some(8),
            1,
            ThreeWay,
            Some(Some(qty(5))),
            Replan::AlreadyThere,
            None,
        ),
        r(
            "replan_three_way_adopted_push_sets_again_without_conflict",
            &ch,
            Some(4),
            1,
            ThreeWay,
            None,
            again(&ch, Some(4)),
            None,
        ),
        r(
            "replan_three_way_store_back_at_baseline_sets_again_without_conflict",
            &ch,
            Some(5),
            1,
            ThreeWay,
            Some(Some(qty(5))),
            again(&ch, Some(5)),
            None,
        ),
        r(
            "replan_level_lost_activates",
            &ch,
            None,
            1,
            SheetWins,
            None,
            again(&ch, None),
            None,
        ),
        r(
            "replan_zero_target_at_lost_level_is_already_there",
            &to_zero,
            None,
            1,
            SheetWins,
            None,
            Replan::AlreadyThere,
            None,
        ),
        r(
            "replan_activation_that_found_a_level_sets_instead",
            &activation,
            Some(2),
            1,
            SheetWins,
            None,
            again(&activation, Some(2)),
            None,
        ),
    ];
    for case in cases {
        let base = case.base.as_ref();
        let (got, conflict) = replan(&case.change, case.fresh, case.attempt, case.policy, base);
        assert_eq!(got, case.want, "{}", case.name);
        let conflict = conflict.map(|c| {
            assert_eq!(
                (c.kind, c.resolution, &c.sku, c.row, &c.key),
                (
                    ConflictKind::BothChanged,
                    Resolution::Sheet,
                    &case.change.sku,
                    case.change.row,
                    &case.change.key
                ),
                "{}",
                case.name
            );
            (c.baseline, c.sheet, c.store)
        });
        assert_eq!(conflict, case.conflict, "{}: conflict", case.name);
        if let Replan::Set(c) = &got {
            assert_eq!(c.activate, c.from.is_none(), "{}", case.name);
        }
    }
}

#[test]
fn plan_is_deterministic_for_equal_inputs() {
    let s = sheet(vec![
        row(
            2,
            "A",
            vec![(price(), set(money("12.00"))), (main(), set(qty(3)))],
        ),
        row(3, "B", vec![(main(), set(qty(0))), (outlet(), set(qty(2)))]),
    ]);
    let snap = snapshot(vec![variant("A"), variant("B")]);
    let baseline: Baseline = HashMap::from([((sku("A"), price()), Some(money("10.00")))]);
    let o = opts(ThreeWay);
    assert_eq!(
        build(&s, &snap, &baseline, &o),
        build(&s, &snap, &baseline, &o)
    );
}

// ---------------------------------------------------------------------------------------
// Product fields: one value per product, shared by the rows of its variants.

fn title() -> FieldKey {
    FieldKey::variant(Field::Title)
}
fn tags() -> FieldKey {
    FieldKey::variant(Field::Tags)
}

/// Two variants `A` and `B` of one product titled "Tee".
fn one_product() -> Snapshot {
    let mut a = variant("A");
    let mut b = variant("B");
    for v in [&mut a, &mut b] {
        Arc::make_mut(&mut v.product).id = "gid://shopify/Product/1".into();
        Arc::make_mut(&mut v.product).title = "Tee".into();
        Arc::make_mut(&mut v.product).tags = vec!["summer".into(), "cotton".into()];
    }
    snapshot(vec![a, b])
}

#[test]
fn a_product_field_changed_on_every_row_is_one_write() {
    let rows = vec![
        row(2, "A", vec![(title(), set(text("Red tee")))]),
        row(3, "B", vec![(title(), set(text("Red tee")))]),
    ];
    let plan = build(
        &sheet(rows),
        &one_product(),
        &Baseline::new(),
        &opts(Policy::SheetWins),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    let c = &plan.changes[0];
    assert_eq!((c.sku.as_str(), c.row), ("A", 2));
    assert_eq!(c.from, Some(text("Tee")));
    assert_eq!(c.to, Some(text("Red tee")));
}

#[test]
fn rows_of_one_product_that_disagree_are_errors_on_those_rows() {
    let rows = vec![
        row(
            2,
            "A",
            vec![
                (title(), set(text("Red tee"))),
                (price(), set(money("12.00"))),
            ],
        ),
        row(3, "B", vec![(title(), set(text("Blue tee")))]),
    ];
    let plan = build(
        &sheet(rows),
        &one_product(),
        &Baseline::new(),
        &opts(Policy::SheetWins),
    );
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    let rows: Vec<u32> = plan.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, vec![2, 3]);
    assert_eq!(plan.errors[0].cell, cell(&title(), 2));
    assert!(
        plan.errors[0].message.contains("different title"),
        "{}",
        plan.errors[0].message
    );
}

#[test]
fn tags_compare_as_a_set_and_three_way_uses_the_products_baseline() {
    // Same tags in another order: nothing to write.
    let same = vec![row(2, "A", vec![(tags(), set(text("cotton, summer")))])];
    let mut base = Baseline::new();
    base.insert((sku("A"), title()), Some(text("Tee")));
    let plan = build(&sheet(same), &one_product(), &base, &opts(Policy::ThreeWay));
    assert!(
        plan.changes.is_empty() && plan.conflicts.is_empty(),
        "{plan:?}"
    );

    // B has no baseline of its own but A (same product) has: the sheet moved, the store
    // did not, so it is a push and not a `no_baseline` conflict.
    let moved = vec![row(3, "B", vec![(title(), set(text("Red tee")))])];
    let plan = build(
        &sheet(moved),
        &one_product(),
        &base,
        &opts(Policy::ThreeWay),
    );
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].to, Some(text("Red tee")));
}

fn product_type() -> FieldKey {
    FieldKey::variant(Field::ProductType)
}
fn description() -> FieldKey {
    FieldKey::variant(Field::Description)
}

#[test]
fn product_type_and_description_are_written_once_per_product_and_clear_empties_them() {
    let mut snap = one_product();
    for v in snap.variants.values_mut().flatten() {
        Arc::make_mut(&mut v.product).product_type = "Shirts".into();
        // Shopify keeps a trailing newline; the cell is read trimmed: the same text.
        Arc::make_mut(&mut v.product).description = "<p>Soft cotton.</p>\n".into();
    }
    let rows = vec![
        row(
            2,
            "A",
            vec![
                (product_type(), set(text("Tees"))),
                (description(), set(text("<p>Soft cotton.</p>"))),
            ],
        ),
        row(3, "B", vec![(product_type(), set(text("Tees")))]),
    ];
    let plan = build(
        &sheet(rows),
        &snap,
        &Baseline::new(),
        &opts(Policy::SheetWins),
    );
    assert_eq!(plan.errors, vec![]);
    let got: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.sku.as_str(), c.key.field, c.from.clone(), c.to.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(
            "A",
            Field::ProductType,
            Some(text("Shirts")),
            Some(text("Tees"))
        )]
    );

    let cleared = vec![row(
        2,
        "A",
        vec![
            (product_type(), Intent::Clear),
            (description(), Intent::Clear),
        ],
    )];
    let plan = build(
        &sheet(cleared),
        &snap,
        &Baseline::new(),
        &opts(Policy::SheetWins),
    );
    let got: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.key.field, c.to.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(Field::ProductType, None), (Field::Description, None)]
    );

    // Rows of one product stating different descriptions: an error on each.
    let disagree = vec![
        row(2, "A", vec![(description(), set(text("<p>a</p>")))]),
        row(3, "B", vec![(description(), set(text("<p>b</p>")))]),
    ];
    let plan = build(
        &sheet(disagree),
        &snap,
        &Baseline::new(),
        &opts(Policy::SheetWins),
    );
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(plan.errors.len(), 2, "{:?}", plan.errors);
    assert!(plan.errors[0].message.contains("different description"));
}
