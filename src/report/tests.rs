//! Unit tests of `report`: the JSON object in SPEC §5 key order, exit-status precedence
//! (dry runs exit as the real run would), and the human plan's wording and colour.

use rust_decimal::Decimal;

use super::json::to_json;
use super::*;
use crate::model::Field;
use crate::model::{CellRef, FieldKey, Sku};
use crate::plan::{Change, Conflict, Pull};
use crate::sheet::parse::RowError;

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn money(cents: i64) -> Option<Value> {
    Some(Value::Money(Decimal::new(cents, 2)))
}

fn qty(n: i64) -> Option<Value> {
    Some(Value::Qty(n))
}

fn change(
    s: &str,
    row: u32,
    key: FieldKey,
    from: Option<Value>,
    to: Option<Value>,
    product: &str,
) -> Change {
    Change {
        sku: sku(s),
        row,
        cell: CellRef::new("Inventory", 1, row),
        key,
        from,
        to,
        product_id: format!("gid://shopify/Product/{product}"),
        product_title: product.to_owned(),
        variant_id: "gid://shopify/ProductVariant/1".into(),
        inventory_item_id: "gid://shopify/InventoryItem/1".into(),
        activate: false,
        note: None,
        create: None,
    }
}

fn meta() -> RunMeta {
    RunMeta {
        run_id: "20261128T081500Z-3f9c".into(),
        shop: "example.myshopify.com".into(),
        spreadsheet_id: "1AbC...".into(),
    }
}

/// The plan behind SPEC §5's example report.
fn spec_plan() -> Plan {
    Plan {
        changes: vec![
            change(
                "TEE-RED-M",
                7,
                FieldKey::variant(Field::Price),
                money(1999),
                money(2100),
                "Classic Tee",
            ),
            change(
                "TEE-RED-M",
                7,
                FieldKey::stock("Main Warehouse"),
                qty(12),
                qty(15),
                "Classic Tee",
            ),
        ],
        pulls: vec![Pull {
            sku: sku("MUG-1"),
            row: 9,
            cell: CellRef::new("Inventory", 3, 9),
            key: FieldKey::stock("Main Warehouse"),
            from: qty(4),
            to: qty(3),
        }],
        conflicts: vec![Conflict {
            sku: sku("CAP-1"),
            row: 12,
            key: FieldKey::stock("Outlet"),
            kind: ConflictKind::BothChanged,
            baseline: qty(3),
            sheet: qty(5),
            store: qty(1),
            resolution: Resolution::Sheet,
            cell: CellRef::new("Inventory", 4, 12),
        }],
        agreed: vec![],
        errors: vec![RowError {
            row: 11,
            cell: CellRef::new("Inventory", 2, 11),
            sku: Some(sku("MUG-2")),
            message: "price \"abc\" is not a number".into(),
        }],
        refusals: vec![],
        creations: vec![],
        publishes: vec![],
        rows_read: 120,
        unchanged: 117,
    }
}

fn usd() -> Currency {
    Currency::new("USD")
}

const SPEC_EXAMPLE: &str = r#"{
  "run_id": "20261128T081500Z-3f9c",
  "dry_run": true,
  "shop": "example.myshopify.com",
  "spreadsheet_id": "1AbC...",
  "rows_read": 120,
  "changes": [
    {"sku": "TEE-RED-M", "row": 7, "field": "price", "location": null,
     "from": "19.99", "to": "21.00", "status": "planned"},
    {"sku": "TEE-RED-M", "row": 7, "field": "inventory", "location": "Main Warehouse",
     "from": 12, "to": 15, "status": "planned"}
  ],
  "pulled": [{"sku": "MUG-1", "row": 9, "field": "inventory", "location": "Main Warehouse",
              "from": 4, "to": 3}],
  "conflicts": [{"sku": "CAP-1", "row": 12, "field": "inventory", "location": "Outlet",
                 "kind": "both_changed", "baseline": 3, "sheet": 5, "store": 1,
                 "resolution": "sheet"}],
  "errors": [{"row": 11, "cell": "Inventory!C11", "sku": "MUG-2", "message": "price \"abc\" is not a number"}],
  "summary": {"planned": 2, "applied": 0, "failed": 0, "skipped": 0, "unchanged": 117, "errors": 1}
}"#;

#[test]
fn json_matches_the_spec_example() {
    let report = Report::from_plan(&spec_plan(), meta(), &usd(), true);
    let out = to_json(&report);
    let mut ours: serde_json::Value = serde_json::from_str(&out).unwrap();
    let spec: serde_json::Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();
    // The one additive key the example does not show: a conflict's cell (docs/commands.md).
    let cell = ours["conflicts"][0]
        .as_object_mut()
        .and_then(|c| c.remove("cell"));
    assert_eq!(cell, Some(serde_json::json!("Inventory!E12")), "{out}");
    assert_eq!(ours, spec, "{out}");
}

#[test]
fn json_keys_come_in_spec_order() {
    let mut report = Report::from_plan(&spec_plan(), meta(), &usd(), false);
    report.refused = vec![Refusal::EmptySheet];
    report.fatal = Some(Fatal::Run);
    report.interrupted = true;
    let out = to_json(&report);
    let top_level: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  \"").and_then(|l| l.split('"').next()))
        .collect();
    assert_eq!(
        top_level,
        [
            "run_id",
            "dry_run",
            "shop",
            "spreadsheet_id",
            "rows_read",
            "changes",
            "pulled",
            "conflicts",
            "errors",
            "refused",
            "summary",
            "fatal",
            "interrupted"
        ]
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["refused"], serde_json::json!([{"guard": "empty_sheet"}]));
    assert_eq!(v["fatal"], "run");
    assert_eq!(v["interrupted"], true);
}

#[test]
fn outcomes_carry_errors_and_notes_and_recount() {
    let mut plan = spec_plan();
    plan.changes[1].note = Some("store changed during run".into());
    plan.changes.push(change(
        "MUG-3",
        14,
        FieldKey::variant(Field::Barcode),
        None,
        None,
        "Mug",
    ));
    plan.changes[2].from = Some(Value::Text("0123".into()));
    let mut report = Report::from_plan(&plan, meta(), &usd(), false);
    assert_eq!(report.summary.planned, 3);
    report.set_outcome(0, Status::Applied, None);
    report.set_outcome(1, Status::Failed, Some("Price must be positive".into()));
    report.set_outcome(2, Status::Skipped, Some("store kept changing".into()));
    report.recount();
    assert_eq!(
        report.summary,
        Summary {
            planned: 0,
            applied: 1,
            failed: 1,
            skipped: 1,
            unchanged: 117,
            errors: 1
        }
    );
    let v: serde_json::Value = serde_json::from_str(&to_json(&report)).unwrap();
    assert_eq!(v["changes"][0].get("error"), None);
    assert_eq!(v["changes"][1]["error"], "Price must be positive");
    assert_eq!(v["changes"][1]["note"], "store changed during run");
    assert_eq!(v["changes"][2]["status"], "skipped");
    assert_eq!(v["changes"][2]["from"], "0123");
    assert_eq!(v["changes"][2]["to"], serde_json::Value::Null);
    assert!(
        v.get("refused").is_none() && v.get("fatal").is_none() && v.get("interrupted").is_none()
    );
}

#[test]
fn money_uses_the_currency_decimals() {
    let mut plan = spec_plan();
    plan.changes[0].from = Some(Value::Money(Decimal::new(1999, 0)));
    plan.changes[0].to = Some(Value::Money(Decimal::new(2100, 0)));
    let report = Report::from_plan(&plan, meta(), &Currency::new("JPY"), true);
    assert_eq!(report.changes[0].from, "1999");
    let report = Report::from_plan(&plan, meta(), &Currency::new("KWD"), true);
    assert_eq!(report.changes[0].to, "2100.000");
}

#[test]
fn exit_status_precedence() {
    // (fatal, interrupted, refused, row error, failed change, unresolved conflict, skipped, yes) → code
    type Case = (
        Option<Fatal>,
        bool,
        bool,
        bool,
        bool,
        bool,
        bool,
        bool,
        ExitStatus,
    );
    use ExitStatus::*;
    let cases: &[Case] = &[
        (None, false, false, false, false, false, false, false, Done),
        (None, false, false, false, false, false, true, false, Done),
        (
            None, false, false, true, false, false, false, false, RowErrors,
        ),
        (
            None, false, false, false, true, false, false, false, RowErrors,
        ),
        (
            None, false, false, false, false, true, false, false, RowErrors,
        ),
        (
            None, false, true, false, false, false, false, false, Refused,
        ),
        (None, false, true, false, false, false, false, true, Done),
        (None, false, true, true, false, false, false, false, Refused),
        (
            None, false, true, true, false, false, false, true, RowErrors,
        ),
        (
            None,
            true,
            false,
            false,
            false,
            false,
            true,
            false,
            Interrupted,
        ),
        (None, true, true, true, true, true, true, false, Interrupted),
        (
            Some(Fatal::Run),
            true,
            true,
            true,
            true,
            true,
            false,
            false,
            RunFailed,
        ),
        (
            Some(Fatal::Config),
            true,
            true,
            true,
            true,
            true,
            false,
            false,
            Config,
        ),
        (
            Some(Fatal::Config),
            false,
            false,
            false,
            false,
            false,
            false,
            false,
            Config,
        ),
        (
            Some(Fatal::Run),
            false,
            false,
            false,
            false,
            false,
            false,
            true,
            RunFailed,
        ),
    ];
    for (i, &(fatal, interrupted, refused, row_error, failed, unresolved, skipped, yes, want)) in
        cases.iter().enumerate()
    {
        let mut plan = spec_plan();
        plan.errors.clear();
        if row_error {
            plan.errors = spec_plan().errors;
        }
        if unresolved {
            plan.conflicts[0].kind = ConflictKind::NoBaseline;
            plan.conflicts[0].resolution = Resolution::None;
        }
        if refused {
            plan.refusals = vec![Refusal::StockToZero {
                zeroed: 3,
                total: 4,
            }];
        }
        let mut report = Report::from_plan(&plan, meta(), &usd(), false);
        report.fatal = fatal;
        report.interrupted = interrupted;
        report.set_outcome(
            0,
            if failed {
                Status::Failed
            } else {
                Status::Applied
            },
            None,
        );
        report.set_outcome(
            1,
            if skipped {
                Status::Skipped
            } else {
                Status::Applied
            },
            None,
        );
        report.recount();
        assert_eq!(report.exit_status(yes), want, "case {i}");
    }
    assert_eq!(Interrupted.code(), 130);
    assert_eq!(Refused.code(), 4);
}

#[test]
fn a_dry_run_exits_as_the_real_run_would() {
    let report = Report::from_plan(&spec_plan(), meta(), &usd(), true);
    // The row error makes it 3, planned changes do not fail anything.
    assert_eq!(report.exit_status(false), ExitStatus::RowErrors);
    let mut plan = spec_plan();
    plan.errors.clear();
    assert_eq!(
        Report::from_plan(&plan, meta(), &usd(), true).exit_status(false),
        ExitStatus::Done
    );
}

mod human {
    use super::super::human::render;
    use super::*;

    #[test]
    fn dry_run_plan() {
        let report = Report::from_plan(&spec_plan(), meta(), &usd(), true);
        let want = "\
Would change 2 values in 1 product:
  Classic Tee
    TEE-RED-M  price                     19.99 → 21.00
    TEE-RED-M  inventory@Main Warehouse  12 → 15

Would pull into the sheet (changed in the store, not in the sheet):
  MUG-1  inventory@Main Warehouse  4 → 3

Conflicts:
  CAP-1  inventory@Outlet  both changed since the last sync (was 3, sheet 5, store 1): the sheet's value wins

Row errors (1 row left alone):
  Inventory!C11  MUG-2  price \"abc\" is not a number

Dry run: would change 2 values, pull 1; 1 conflict, 1 row error, 117 rows unchanged. Nothing was written.
";
        assert_eq!(render(&report, false), want);
    }

    #[test]
    fn real_run_with_outcomes_groups_by_product() {
        let mut plan = spec_plan();
        plan.pulls.clear();
        plan.errors.clear();
        plan.conflicts[0].kind = ConflictKind::NoBaseline;
        plan.conflicts[0].baseline = None;
        plan.conflicts[0].resolution = Resolution::None;
        plan.changes[1].note = Some("store changed during run".into());
        plan.changes.push(change(
            "MUG-1",
            9,
            FieldKey::variant(Field::CompareAtPrice),
            money(1200),
            None,
            "Mug",
        ));
        plan.changes.push(change(
            "TEE-BLUE-S",
            8,
            FieldKey::variant(Field::Price),
            money(1999),
            money(2100),
            "Classic Tee",
        ));
        let mut report = Report::from_plan(&plan, meta(), &usd(), false);
        report.set_outcome(0, Status::Applied, None);
        report.set_outcome(1, Status::Applied, None);
        report.set_outcome(
            2,
            Status::Failed,
            Some("Compare at price needs to be higher than Price".into()),
        );
        report.set_outcome(3, Status::Skipped, Some("store kept changing".into()));
        report.recount();
        let want = "\
Changes to 4 values in 2 products:
  Classic Tee
    TEE-RED-M   price                     19.99 → 21.00  applied
    TEE-RED-M   inventory@Main Warehouse  12 → 15  applied  (store changed during run)
    TEE-BLUE-S  price                     19.99 → 21.00  skipped: store kept changing
  Mug
    MUG-1       compare_at_price          12.00 → (empty)  failed: Compare at price needs to be higher than Price

Conflicts:
  CAP-1  inventory@Outlet  sheet 5, store 1, no baseline yet: nothing written either way
  Sheet and store differ and there is no baseline yet (a first sync, a new SKU or location, or a lost state dir), so nothing is written either way until you choose. If the sheet is right, run `sheetsync sync --adopt sheet` to push the sheet's values; if the store is right, run `sheetsync sync --adopt store` to pull the store's values into the sheet.

Done: 2 applied, 1 failed, 1 skipped; 1 conflict, 117 rows unchanged.
";
        assert_eq!(render(&report, false), want);
    }

    #[test]
    fn refusals_in_plain_words() {
        let mut plan = spec_plan();
        plan.pulls.clear();
        plan.conflicts.clear();
        plan.errors.clear();
        plan.refusals = vec![
            Refusal::ChangeRatio {
                changed: 90,
                total: 120,
                max: "0.5".into(),
            },
            Refusal::StockToZero {
                zeroed: 30,
                total: 40,
            },
            Refusal::PriceChange {
                sku: sku("TEE-RED-M"),
                row: 7,
                from: "19.99".into(),
                to: "45.00".into(),
                max: "0.5".into(),
            },
        ];
        let report = Report::from_plan(&plan, meta(), &usd(), false);
        let want = "\
Changes to 2 values in 1 product:
  Classic Tee
    TEE-RED-M  price                     19.99 → 21.00
    TEE-RED-M  inventory@Main Warehouse  12 → 15

Refused by a safety guard; nothing was written to the store:
  90 of 120 SKUs read would get a store write (75%), more than max_change_ratio = 0.5 allows
  30 of 40 stock cells would go from above zero to zero (more than half)
  TEE-RED-M (row 7): price 19.99 → 45.00 moves by 125%, more than max_price_change = 0.5 allows
  Re-run with --yes to apply anyway.

Refused: 0 applied, 2 not attempted; 117 rows unchanged.
";
        assert_eq!(render(&report, false), want);
    }

    #[test]
    fn empty_sheet_and_nothing_to_do() {
        let empty = Plan {
            refusals: vec![Refusal::EmptySheet],
            ..Plan::default()
        };
        let report = Report::from_plan(&empty, meta(), &usd(), true);
        let want = "\
A safety guard would refuse this plan:
  the sheet has no data rows
  Re-run with --yes to apply anyway.

Dry run: would change 0 values; 0 rows unchanged. Nothing was written.
";
        assert_eq!(render(&report, false), want);

        let calm = Plan {
            rows_read: 1,
            unchanged: 1,
            ..Plan::default()
        };
        let report = Report::from_plan(&calm, meta(), &usd(), false);
        assert_eq!(
            render(&report, false),
            "Nothing to change: the store matches the sheet.\n\nDone: 0 applied; 1 row unchanged.\n"
        );
    }

    #[test]
    fn interrupted_and_adopted_conflicts() {
        let mut plan = spec_plan();
        plan.changes.truncate(1);
        plan.pulls.clear();
        plan.errors.clear();
        plan.conflicts[0].kind = ConflictKind::NoBaseline;
        plan.conflicts[0].resolution = Resolution::Store;
        let mut report = Report::from_plan(&plan, meta(), &usd(), false);
        report.set_outcome(0, Status::Skipped, Some("interrupted".into()));
        report.interrupted = true;
        report.recount();
        let want = "\
Changes to 1 value in 1 product:
  Classic Tee
    TEE-RED-M  price  19.99 → 21.00  skipped: interrupted

Conflicts:
  CAP-1  inventory@Outlet  sheet 5, store 1, no baseline yet: the store's value is pulled (--adopt store)

Interrupted: the request in flight finished; the remaining changes were skipped.

Interrupted: 0 applied, 1 skipped; 1 conflict, 117 rows unchanged.
";
        assert_eq!(render(&report, false), want);
    }

    #[test]
    fn colour_only_when_asked() {
        let mut report = Report::from_plan(&spec_plan(), meta(), &usd(), false);
        report.set_outcome(0, Status::Applied, None);
        report.set_outcome(1, Status::Failed, Some("boom".into()));
        report.recount();
        let plain = render(&report, false);
        assert!(!plain.contains('\x1b'));
        let coloured = render(&report, true);
        assert!(coloured.contains("\x1b[1mClassic Tee\x1b[0m"), "{coloured}");
        assert!(coloured.contains("  \x1b[32mapplied\x1b[0m"), "{coloured}");
        assert!(
            coloured.contains("  \x1b[31mfailed\x1b[0m: boom"),
            "{coloured}"
        );
        // Stripping the codes gives back the plain text: colour never shifts columns.
        let mut stripped = coloured.clone();
        for code in ["\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m"] {
            stripped = stripped.replace(code, "");
        }
        assert_eq!(stripped, plain);
    }
}

/// SPEC §5's precedence, in the one function that holds it: 2, then 1, then 130, then 4,
/// then 3, then 0, whatever the order the statuses are met in.
#[test]
fn worst_follows_the_spec_precedence_in_any_order() {
    use ExitStatus::*;
    let order = [Config, RunFailed, Interrupted, Refused, RowErrors, Done];
    for (i, a) in order.iter().enumerate() {
        for (j, b) in order.iter().enumerate() {
            let want = if i <= j { *a } else { *b };
            assert_eq!(a.worst(*b), want, "{a:?} vs {b:?}");
            assert_eq!(b.worst(*a), want, "{b:?} vs {a:?}");
        }
    }
    assert_eq!(
        [RowErrors, Refused, RunFailed, Interrupted]
            .into_iter()
            .fold(Done, ExitStatus::worst),
        RunFailed
    );
    assert_eq!(ExitStatus::from(Fatal::Config), Config);
    assert_eq!(ExitStatus::from(Fatal::Run), RunFailed);
    assert_eq!(order.map(ExitStatus::code), [2, 1, 130, 4, 3, 0]);
}
