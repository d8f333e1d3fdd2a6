//! Property tests of the planner over small random worlds (a few SKUs, every field, both
//! locations, both policies, `--adopt`, `--only`, untracked items, bundles, duplicate and
//! unknown SKUs): convergence, blank cells left alone, and independence from input order.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use rust_decimal::Decimal;

use super::tests::fixture::*;
use super::*;
use crate::model::rows::{Intent, ParsedSheet};
use crate::model::{Field, FieldKey, Value};

fn keys() -> [FieldKey; 6] {
    [price(), compare_at(), cost(), barcode(), main(), outlet()]
}

fn amount() -> impl Strategy<Value = Decimal> {
    // Equal values in different notations ("10" and "10.00") on purpose.
    select(vec!["0", "10", "10.00", "12.5", "19.90", "19.9"]).prop_map(dec)
}
fn quantity() -> impl Strategy<Value = i64> {
    select(vec![-1, 0, 3, 7])
}
fn code() -> impl Strategy<Value = String> {
    select(vec!["0123", "123", "456"]).prop_map(str::to_owned)
}

/// A value the store or the baseline could hold for `field`.
fn value(field: Field) -> BoxedStrategy<Value> {
    match field {
        Field::Price
        | Field::CompareAtPrice
        | Field::RegularPrice
        | Field::SalePrice
        | Field::Cost => amount().prop_map(Value::Money).boxed(),
        Field::Barcode => code().prop_map(Value::Text).boxed(),
        Field::Inventory => quantity().prop_map(Value::Qty).boxed(),
        Field::Title
        | Field::Status
        | Field::Tags
        | Field::Vendor
        | Field::ProductType
        | Field::Description => select(vec!["A", "B"])
            .prop_map(|t| Value::Text(t.to_owned()))
            .boxed(),
    }
}

/// A cell: blank (`None`), or what a non-blank cell can ask for in that column.
fn cell_intent(field: Field) -> BoxedStrategy<Option<Intent>> {
    let set = value(field).prop_map(Intent::Set);
    let intent = match field {
        Field::Price | Field::Inventory | Field::Title | Field::Status | Field::Vendor => {
            set.boxed()
        }
        Field::Tags | Field::ProductType | Field::Description => {
            prop_oneof![3 => set, 1 => Just(Intent::Clear)].boxed()
        }
        Field::CompareAtPrice | Field::Cost | Field::RegularPrice | Field::SalePrice => {
            prop_oneof![3 => set, 1 => Just(Intent::Clear)].boxed()
        }
        Field::Barcode => prop_oneof![
            2 => set,
            1 => Just(Intent::Clear),
            1 => select(vec!["123", "456"]).prop_map(|d| Intent::NumericBarcode(d.to_owned())),
        ]
        .boxed(),
    };
    proptest::option::weighted(0.6, intent).boxed()
}

fn store_variant() -> impl Strategy<Value = StoreVariant> {
    let stock = || proptest::option::weighted(0.8, quantity());
    (
        amount(),
        proptest::option::of(amount()),
        proptest::option::of(amount()),
        proptest::option::of(code()),
        proptest::bool::weighted(0.9),
        proptest::bool::weighted(0.05),
        stock(),
        stock(),
    )
        .prop_map(
            |(price, compare_at_price, cost, barcode, tracked, bundle, main, outlet)| {
                let mut v = variant("?");
                v.price = price;
                v.compare_at_price = compare_at_price;
                v.cost = cost;
                v.barcode = barcode;
                v.tracked = tracked;
                v.bundle = bundle;
                v.stock.set(MAIN, main);
                v.stock.set(OUTLET, outlet);
                v
            },
        )
}

/// One SKU of the world: its store side, its row and its baseline entries.
#[derive(Debug, Clone)]
struct SkuSpec {
    store: StoreVariant,
    in_store: bool,
    duplicated: bool,
    cells: Vec<Option<Intent>>,
    bases: Vec<Option<Option<Value>>>,
}

fn sku_spec() -> impl Strategy<Value = SkuSpec> {
    let cells: Vec<_> = keys().iter().map(|k| cell_intent(k.field)).collect();
    let bases: Vec<_> = keys()
        .iter()
        .map(|k| proptest::option::weighted(0.7, proptest::option::weighted(0.85, value(k.field))))
        .collect();
    (
        store_variant(),
        proptest::bool::weighted(0.92),
        proptest::bool::weighted(0.05),
        cells,
        bases,
    )
        .prop_map(|(store, in_store, duplicated, cells, bases)| SkuSpec {
            store,
            in_store,
            duplicated,
            cells,
            bases,
        })
}

#[derive(Debug, Clone)]
struct World {
    sheet: ParsedSheet,
    snapshot: Snapshot,
    baseline: Baseline,
    opts: PlanOptions,
}

fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(sku_spec(), 1..6),
        prop_oneof![Just(Policy::ThreeWay), Just(Policy::SheetWins)],
        proptest::option::of(prop_oneof![Just(Adopt::Sheet), Just(Adopt::Store)]),
        proptest::option::weighted(0.3, subsequence(Field::ALL.to_vec(), 1..=5)),
    )
        .prop_map(|(specs, policy, adopt, only)| {
            let mut rows = Vec::new();
            let mut variants = Vec::new();
            let mut baseline = Baseline::new();
            for (i, spec) in specs.into_iter().enumerate() {
                let name = format!("P{i}");
                let cells = keys()
                    .into_iter()
                    .zip(spec.cells)
                    .filter_map(|(k, c)| c.map(|c| (k, c)))
                    .collect();
                rows.push(row(i as u32 + 2, &name, cells));
                for (k, b) in keys().into_iter().zip(spec.bases) {
                    if let Some(b) = b {
                        baseline.insert((sku(&name), k), b);
                    }
                }
                if spec.in_store {
                    let mut v = spec.store;
                    v.variant_id = format!("gid://shopify/ProductVariant/{name}").into();
                    Arc::make_mut(&mut v.product).id = format!("gid://shopify/Product/{name}");
                    if spec.duplicated {
                        variants.push(v.clone());
                    }
                    variants.push(v);
                }
            }
            let mut opts = opts(policy);
            opts.adopt = adopt;
            opts.only = only.map(BTreeSet::from_iter);
            World {
                sheet: sheet(rows),
                snapshot: snapshot(variants),
                baseline,
                opts,
            }
        })
}

fn plan(w: &World) -> Plan {
    build(&w.sheet, &w.snapshot, &w.baseline, &w.opts)
}

/// Carries out a plan as the executor and write-back would when every write succeeds:
/// changes reach the store, pulls reach the sheet, and the baseline follows both.
fn apply(w: &mut World, plan: &Plan) {
    for c in &plan.changes {
        let v = &mut w
            .snapshot
            .variants
            .get_mut(&c.sku)
            .expect("change for a store SKU")[0];
        let money = |to: &Option<Value>| match to {
            Some(Value::Money(m)) => Some(*m),
            None => None,
            other => panic!("{other:?} is not money"),
        };
        match c.key.field {
            Field::Price => v.price = money(&c.to).expect("price is never cleared"),
            Field::CompareAtPrice => v.compare_at_price = money(&c.to),
            Field::Cost => v.cost = money(&c.to),
            Field::Barcode => {
                v.barcode = c.to.as_ref().map(|t| match t {
                    Value::Text(t) => t.clone(),
                    other => panic!("{other:?} is not a barcode"),
                })
            }
            Field::Title
            | Field::Status
            | Field::Tags
            | Field::Vendor
            | Field::ProductType
            | Field::Description
            | Field::RegularPrice
            | Field::SalePrice => {
                panic!("product and WooCommerce fields are not among the generated keys")
            }
            Field::Inventory => {
                let q = match c.to {
                    Some(Value::Qty(q)) => q,
                    ref other => panic!("{other:?} is not a quantity"),
                };
                let location = c.key.location.clone().expect("location");
                assert_eq!(
                    c.activate,
                    v.stock.available(&location).is_none(),
                    "activation exactly where there is no level"
                );
                v.stock.set(&location, Some(q));
            }
        }
        w.baseline
            .insert((c.sku.clone(), c.key.clone()), c.to.clone());
    }
    for p in &plan.pulls {
        let row = w
            .sheet
            .rows
            .iter_mut()
            .find(|r| r.row == p.row)
            .expect("pull into a sheet row");
        match &p.to {
            // Writing an empty cell makes it blank.
            None => {
                row.values.remove(&p.key);
            }
            Some(v) => {
                let entry = row
                    .values
                    .get_mut(&p.key)
                    .expect("pulls only into non-blank cells");
                entry.intent = Intent::Set(v.clone());
            }
        }
        w.baseline
            .insert((p.sku.clone(), p.key.clone()), p.to.clone());
    }
    for a in &plan.agreed {
        w.baseline
            .insert((a.sku.clone(), a.key.clone()), a.value.clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Once a plan is carried out and the baseline moved, planning again finds nothing to
    /// do: only the conflicts left unresolved (no `--adopt`) and the errors remain.
    #[test]
    fn applying_a_plan_converges(mut w in world()) {
        let first = plan(&w);
        apply(&mut w, &first);
        let second = plan(&w);
        prop_assert_eq!(&second.changes, &Vec::new());
        prop_assert_eq!(&second.pulls, &Vec::new());
        prop_assert_eq!(&second.agreed, &Vec::new());
        let unresolved: Vec<_> =
            first.conflicts.iter().filter(|c| c.resolution == Resolution::None).cloned().collect();
        prop_assert_eq!(&second.conflicts, &unresolved);
        prop_assert_eq!(&second.errors, &first.errors);
    }

    /// A blank cell (absent from the row) is never written to the store nor pulled into,
    /// and nothing outside `--only` or the configured locations is touched.
    #[test]
    fn blank_cells_are_left_alone(w in world()) {
        let p = plan(&w);
        let touched = p.changes.iter().map(|c| (c.row, &c.key))
            .chain(p.pulls.iter().map(|x| (x.row, &x.key)));
        for (row_no, key) in touched {
            let row = w.sheet.rows.iter().find(|r| r.row == row_no);
            prop_assert!(row.is_some_and(|r| r.values.contains_key(key)), "row {} {} is blank", row_no, key);
            prop_assert!(w.opts.in_scope(key));
        }
    }

    /// The plan depends on the inputs' content only: not on row order nor on the order in
    /// which the snapshot and baseline maps were filled.
    #[test]
    fn plan_does_not_depend_on_input_order(w in world(), seed in any::<u64>()) {
        let p = plan(&w);
        prop_assert_eq!(&p, &plan(&w));

        let mut shuffled = w.clone();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut shuffled.sheet.rows);
        let mut variants: Vec<_> = w.snapshot.variants.clone().into_iter().collect();
        variants.sort_by(|a, b| b.0.cmp(&a.0));
        shuffled.snapshot.variants = variants.into_iter().collect();
        let mut base: Vec<_> = w.baseline.clone().into_iter().collect();
        rng.shuffle(&mut base);
        shuffled.baseline = base.into_iter().collect();
        prop_assert_eq!(&p, &plan(&shuffled));
    }
}
