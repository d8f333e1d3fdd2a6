//! The bad-input catalogue (SPEC §3): malformed cells and sheets, each run through the
//! `sheetsync` binary against the sandbox. Every bad cell must end as a row error that
//! names its cell (or its key), and its row must not be written, while the good rows of
//! the same run still go through. Sheet-level problems (headers, tabs, the spreadsheet
//! id) stop the run with a config error that names them, before any write.
//!
//! Cell cases share one sheet and one run: case `n` sits on sheet row `n + 1` with SKU
//! `CASE-n`, its own store variant, a bad cell, and a valid stock change in the same row
//! (Outlet 10 → 11) that must not be written because the row is in error.

use crate::common;

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::ShopifyFake;

const HEADERS: [&str; 8] = [
    "SKU",
    "Title",
    "Price",
    "Compare-at price",
    "Cost",
    "Barcode",
    "Stock",
    "Outlet stock",
];

/// The column letter of each header above, by name.
fn col(name: &str) -> usize {
    HEADERS
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// What a case puts in its row.
enum Put {
    /// One bad cell in the named column; the SKU is the case's own.
    Cell(&'static str, Value),
    /// The SKU cell itself holds this value (the store variant keeps `CASE-n`).
    Sku(Value),
    /// Two rows carry the case's SKU (a duplicate): both must be refused.
    Duplicate,
    /// The store has a second variant with this SKU.
    StoreDuplicate,
    /// The store does not track this item; the row sets stock.
    Untracked,
    /// The variant is a bundle parent; the row sets stock.
    Bundle,
}

struct Case {
    name: &'static str,
    put: Put,
    /// The column the error must name (its A1 cell on the case's row).
    cell: &'static str,
    /// A fragment the error message must contain (case-insensitive).
    says: &'static str,
}

fn c(name: &'static str, put: Put, cell: &'static str, says: &'static str) -> Case {
    Case {
        name,
        put,
        cell,
        says,
    }
}

fn cell(column: &'static str, v: Value) -> Put {
    Put::Cell(column, v)
}

fn catalogue() -> Vec<Case> {
    let long_digits: String = "7".repeat(50_000);
    let long_text: String = "x".repeat(50_000);
    let long_digits: &'static str = Box::leak(long_digits.into_boxed_str());
    let long_text: &'static str = Box::leak(long_text.into_boxed_str());
    vec![
        // Price: wrong types, huge numbers, formula errors, dates, precision.
        c("price text", cell("Price", json!("abc")), "Price", "abc"),
        c(
            "price three decimals",
            cell("Price", json!(12.345)),
            "Price",
            "12.345",
        ),
        c("price negative", cell("Price", json!(-5)), "Price", "-5"),
        c("price 10^18", cell("Price", json!(1e18)), "Price", ""),
        c("price 1e300", cell("Price", json!(1e300)), "Price", ""),
        c(
            "price #N/A",
            cell("Price", json!({"error": "#N/A"})),
            "Price",
            "#N/A",
        ),
        c(
            "price #REF!",
            cell("Price", json!({"error": "#REF!"})),
            "Price",
            "#REF!",
        ),
        c(
            "price #DIV/0!",
            cell("Price", json!({"error": "#DIV/0!"})),
            "Price",
            "#DIV/0!",
        ),
        c(
            "price #VALUE!",
            cell("Price", json!({"error": "#VALUE!"})),
            "Price",
            "#VALUE!",
        ),
        c(
            "price date",
            cell("Price", json!({"date": "2026-11-02"})),
            "Price",
            "2026",
        ),
        c(
            "price float noise",
            cell("Price", json!(0.1 + 0.2)),
            "Price",
            "ROUND",
        ),
        c("price boolean", cell("Price", json!(true)), "Price", ""),
        c(
            "price two dots",
            cell("Price", json!("1.2.3")),
            "Price",
            "1.2.3",
        ),
        c(
            "price NaN text",
            cell("Price", json!("NaN")),
            "Price",
            "NaN",
        ),
        c(
            "price Infinity text",
            cell("Price", json!("Infinity")),
            "Price",
            "Infinity",
        ),
        c(
            "price bare currency sign",
            cell("Price", json!("$")),
            "Price",
            "",
        ),
        c(
            "price 50,000 digits",
            cell("Price", json!(long_digits)),
            "Price",
            "",
        ),
        c(
            "price 50,000 letters",
            cell("Price", json!(long_text)),
            "Price",
            "",
        ),
        c(
            "price CLEAR (not clearable)",
            cell("Price", json!("CLEAR")),
            "Price",
            "CLEAR",
        ),
        c(
            "price ambiguous separators",
            cell("Price", json!("1,2,3")),
            "Price",
            "",
        ),
        // Stock: fractions, words, out of range, dates, formula errors.
        c("stock fraction", cell("Stock", json!(2.5)), "Stock", "2.5"),
        c("stock word", cell("Stock", json!("ten")), "Stock", "ten"),
        c("stock 10^10", cell("Stock", json!(1e10)), "Stock", ""),
        c("stock -2·10^9", cell("Stock", json!(-2e9)), "Stock", ""),
        c(
            "stock date",
            cell("Stock", json!({"date": "2026-01-01"})),
            "Stock",
            "2026",
        ),
        c(
            "stock #N/A",
            cell("Stock", json!({"error": "#N/A"})),
            "Stock",
            "#N/A",
        ),
        c(
            "stock with unit",
            cell("Stock", json!("5 units")),
            "Stock",
            "5 units",
        ),
        c(
            "stock float noise",
            cell("Stock", json!(1.000_000_1)),
            "Stock",
            "",
        ),
        c(
            "outlet #NAME?",
            cell("Outlet stock", json!({"error": "#NAME?"})),
            "Outlet stock",
            "#NAME?",
        ),
        c(
            "outlet fraction",
            cell("Outlet stock", json!(3.5)),
            "Outlet stock",
            "3.5",
        ),
        // Compare-at, cost, barcode.
        c(
            "compare-at text",
            cell("Compare-at price", json!("abc")),
            "Compare-at price",
            "abc",
        ),
        c(
            "compare-at negative",
            cell("Compare-at price", json!(-1)),
            "Compare-at price",
            "-1",
        ),
        c(
            "compare-at three decimals",
            cell("Compare-at price", json!(1.001)),
            "Compare-at price",
            "1.001",
        ),
        c("cost word", cell("Cost", json!("free")), "Cost", "free"),
        c(
            "cost #NUM!",
            cell("Cost", json!({"error": "#NUM!"})),
            "Cost",
            "#NUM!",
        ),
        c(
            "cost three decimals",
            cell("Cost", json!(2.999)),
            "Cost",
            "2.999",
        ),
        c(
            "barcode turned into a number",
            cell("Barcode", json!(840_012_345_011_u64)),
            "Barcode",
            "plain text",
        ),
        // SKUs: unicode, whitespace, types, duplicates.
        c(
            "sku not in store",
            Put::Sku(json!("NOPE-1")),
            "SKU",
            "NOPE-1",
        ),
        c(
            "sku zero-width space",
            Put::Sku(json!("CASE\u{200B}-X")),
            "SKU",
            "",
        ),
        c(
            "sku non-breaking space inside",
            Put::Sku(json!("CASE\u{00A0}X")),
            "SKU",
            "",
        ),
        c(
            "sku wrong case",
            Put::Sku(json!("case-lower")),
            "SKU",
            "case-lower",
        ),
        c(
            "sku fullwidth letters",
            Put::Sku(json!("ＣＡＳＥ")),
            "SKU",
            "",
        ),
        c("sku number", Put::Sku(json!(12345)), "SKU", "12345"),
        c("sku blank with values", Put::Sku(json!("")), "SKU", ""),
        c("sku whitespace only", Put::Sku(json!("   \t ")), "SKU", ""),
        c(
            "sku formula error",
            Put::Sku(json!({"error": "#REF!"})),
            "SKU",
            "",
        ),
        c(
            "sku duplicated in the sheet",
            Put::Duplicate,
            "SKU",
            "also appears",
        ),
        c("sku on two store variants", Put::StoreDuplicate, "SKU", ""),
        c(
            "stock for an untracked item",
            Put::Untracked,
            "Stock",
            "track",
        ),
        c("stock for a bundle parent", Put::Bundle, "Stock", "bundle"),
    ]
}

fn sku(n: usize) -> String {
    format!("CASE-{n}")
}

/// Sheet row of case `n` (row 1 is the header).
fn row_of(n: usize) -> usize {
    n + 2
}

fn a1(column: &str, row: usize) -> String {
    let letter = (b'A' + u8::try_from(col(column)).expect("column")) as char;
    format!("Inventory!{letter}{row}")
}

const GOOD_ROWS: usize = 5;

/// The store: one product per case and per good row, each at price 10.00, cost 5.00,
/// stock 10 at both locations.
fn store_seed(cases: &[Case]) -> Value {
    let variant = |id: usize, sku: &str, extra: Value| {
        let mut v = json!({
            "id": 51_000_000_000_000_u64 + id as u64,
            "sku": sku,
            "price": "10.00",
            "inventoryItemId": 53_000_000_000_000_u64 + id as u64,
            "unitCost": "5.00",
            "levels": {"68500001001": 10, "68500001002": 10},
        });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let mut products = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let extra = match case.put {
            Put::Untracked => json!({"tracked": false}),
            Put::Bundle => json!({"requiresComponents": true}),
            _ => json!({}),
        };
        let mut variants = vec![variant(n, &sku(n), extra)];
        if matches!(case.put, Put::StoreDuplicate) {
            variants.push(variant(n + 5000, &sku(n), json!({})));
        }
        products.push(json!({
            "id": 9_100_000_000_000_u64 + n as u64,
            "title": case.name,
            "variants": variants,
        }));
    }
    for g in 0..GOOD_ROWS {
        products.push(json!({
            "id": 9_100_000_001_000_u64 + g as u64,
            "title": format!("Good {g}"),
            "variants": [variant(1000 + g, &format!("GOOD-{g}"), json!({}))],
        }));
    }
    json!({
        "shop": {"name": "Bad input", "domain": "bad-input.myshopify.com", "currency": "USD"},
        "locations": [
            {"id": 68500001001_u64, "name": "Main Warehouse"},
            {"id": 68500001002_u64, "name": "Outlet"},
        ],
        "products": products,
    })
}

/// The sheet: the header, one row per case, the duplicates' second copies, good rows.
fn sheet_rows(cases: &[Case]) -> Vec<Vec<Value>> {
    let mut rows = vec![HEADERS.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    let blank = || vec![json!(""); HEADERS.len()];
    let mut extra = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let mut row = blank();
        row[col("SKU")] = json!(sku(n));
        row[col("Title")] = json!(case.name);
        // A valid change in the same row, which the row error must hold back.
        row[col("Outlet stock")] = json!(11);
        match &case.put {
            Put::Cell(column, v) => row[col(column)] = v.clone(),
            Put::Sku(v) => row[col("SKU")] = v.clone(),
            Put::Duplicate => {
                let mut copy = row.clone();
                copy[col("Price")] = json!(12);
                extra.push(copy);
            }
            Put::StoreDuplicate => {}
            Put::Untracked | Put::Bundle => row[col("Stock")] = json!(12),
        }
        rows.push(row);
    }
    rows.extend(extra);
    for g in 0..GOOD_ROWS {
        let mut row = blank();
        row[col("SKU")] = json!(format!("GOOD-{g}"));
        row[col("Price")] = json!(11 + g);
        row[col("Stock")] = json!(20 + g);
        rows.push(row);
    }
    rows
}

fn mutations(shop: &ShopifyFake) -> usize {
    shop.requests()
        .iter()
        .flat_map(|r| &r.root_fields)
        .filter(|f| {
            [
                "inventorySetQuantities",
                "inventoryActivate",
                "productVariantsBulkUpdate",
            ]
            .contains(&f.as_str())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_cell_is_a_row_error_naming_its_cell_and_its_row_is_not_written() {
    let cases = catalogue();
    assert!(
        cases.len() >= 40,
        "the catalogue holds {} cases",
        cases.len()
    );
    let seed = store_seed(&cases);
    let shop = ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed");
    let sheets = SheetsFake::from_seed_json(
        &json!({"title": "bad input", "tabs": [{"name": "Inventory", "rows": sheet_rows(&cases)}]})
            .to_string(),
    )
    .expect("sheet seed");
    let sandbox = Sandbox::start(shop, sheets, 0).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let before: Vec<_> = (0..cases.len())
        .map(|n| sandbox.shopify.variants_with_sku(&sku(n)))
        .collect();

    let (code, stdout, stderr) =
        common::run_sheetsync(&config, &["sync", "--json", "--adopt", "sheet"]).await;
    let report: Value = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 3, "row errors end with exit 3: {stderr}");
    let errors = report["errors"].as_array().expect("errors");
    let changes = report["changes"].as_array().expect("changes");

    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let want = a1(case.cell, row_of(n));
        let found: Vec<&Value> = errors.iter().filter(|e| e["cell"] == want).collect();
        let says = case.says.to_lowercase();
        match found.iter().find(|e| {
            e["message"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(&says)
        }) {
            None => failures.push(format!(
                "{}: no error at {want} saying {:?}; at that cell: {found:?}",
                case.name, case.says
            )),
            Some(e) => {
                let message = e["message"].as_str().unwrap_or_default();
                if message.len() > 400 {
                    failures.push(format!(
                        "{}: the message is {} bytes long; a clear error quotes an excerpt",
                        case.name,
                        message.len()
                    ));
                }
            }
        }
        if let Some(c) = changes
            .iter()
            .find(|c| c["sku"] == sku(n) || c["row"] == row_of(n))
        {
            failures.push(format!(
                "{}: a change was planned for the row: {c}",
                case.name
            ));
        }
        if sandbox.shopify.variants_with_sku(&sku(n)) != before[n] {
            failures.push(format!("{}: the store's {} changed", case.name, sku(n)));
        }
    }
    if let Some(dup) = cases.iter().position(|c| matches!(c.put, Put::Duplicate)) {
        // The second copy sits after all case rows.
        let copy_row = cases.len() + 2;
        if !errors.iter().any(|e| e["cell"] == a1("SKU", copy_row)) {
            failures.push(format!(
                "duplicate: no error on the copy at row {copy_row} of {}",
                sku(dup)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The good rows of the same run went through.
    for g in 0..GOOD_ROWS {
        let v = sandbox
            .shopify
            .variant(&format!("GOOD-{g}"))
            .expect("good variant");
        assert_eq!(
            v.price,
            rust_decimal::Decimal::from(11 + g as i64),
            "GOOD-{g}"
        );
        assert_eq!(
            v.available.get("Main Warehouse"),
            Some(&(20 + g as i64)),
            "GOOD-{g}"
        );
    }
    assert!(
        !stdout.contains(&"7".repeat(1000)) && !stderr.contains(&"x".repeat(1000)),
        "a 50,000-character cell is quoted whole"
    );
}

/// A sheet-level problem: what the sandbox does, what stderr must name.
struct SheetCase {
    name: &'static str,
    setup: fn(&Sandbox, &std::path::Path),
    exit: i32,
    says: &'static [&'static str],
}

fn demo_sheet_rows() -> Vec<Vec<Value>> {
    let seed: Value =
        serde_json::from_str(include_str!("../../config/demo/sheet.json")).expect("seed");
    serde_json::from_value(seed["tabs"][0]["rows"].clone()).expect("rows")
}

fn edit_config(dir: &std::path::Path, from: &str, to: &str) {
    let path = dir.join("sheetsync.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(&path, text.replace(from, to)).expect("write config");
}

fn sheet_catalogue() -> Vec<SheetCase> {
    vec![
        SheetCase {
            name: "missing header",
            setup: |s, _| {
                s.sheets.set_cell("Inventory", "C1", json!("Prices"));
            },
            exit: 2,
            says: &["\"Price\"", "Prices"],
        },
        SheetCase {
            name: "duplicate header",
            setup: |s, _| {
                s.sheets.set_cell("Inventory", "B1", json!("Price"));
            },
            exit: 2,
            says: &["Price", "more than once", "Inventory!B1"],
        },
        SheetCase {
            name: "empty tab",
            setup: |s, dir| {
                s.sheets.add_tab("Empty", vec![]);
                edit_config(dir, "tab = \"Inventory\"", "tab = \"Empty\"");
            },
            exit: 2,
            says: &["Empty"],
        },
        SheetCase {
            name: "header row only in the wrong tab",
            setup: |s, dir| {
                s.sheets
                    .add_tab("Other", vec![vec![json!("Name"), json!("Notes")]]);
                edit_config(dir, "tab = \"Inventory\"", "tab = \"Other\"");
            },
            exit: 2,
            says: &["SKU", "Name"],
        },
        SheetCase {
            name: "tab that does not exist",
            setup: |_, dir| edit_config(dir, "tab = \"Inventory\"", "tab = \"Inventroy\""),
            exit: 2,
            says: &["Inventroy"],
        },
        SheetCase {
            name: "wrong spreadsheet id",
            setup: |s, dir| {
                let id = s.sheets.spreadsheet_id();
                edit_config(dir, &id, "1NoSuchSpreadsheet0000000000000000000000000");
            },
            exit: 2,
            says: &["1NoSuchSpreadsheet0000000000000000000000000"],
        },
        SheetCase {
            name: "SKU header missing",
            setup: |s, _| {
                s.sheets.set_cell("Inventory", "A1", json!(""));
            },
            exit: 2,
            says: &["SKU"],
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn sheet_level_problems_are_config_errors_naming_them_and_write_nothing() {
    let cases = sheet_catalogue();
    let runs = cases.into_iter().map(|case| async move {
        let sheets = SheetsFake::new();
        sheets.add_tab("Inventory", demo_sheet_rows());
        let shop = ShopifyFake::demo(sheetsync_sandbox::SANDBOX_TOKEN);
        let sandbox = Sandbox::start(shop, sheets, 0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        (case.setup)(&sandbox, dir.path());
        let (code, _, stderr) = common::run_sheetsync(&config, &["sync", "--adopt", "sheet"]).await;
        let mut problems = Vec::new();
        if code != case.exit {
            problems.push(format!(
                "{}: exit {code}, want {}: {stderr}",
                case.name, case.exit
            ));
        }
        for s in case.says {
            if !stderr.contains(s) {
                problems.push(format!(
                    "{}: stderr does not name {s:?}: {stderr}",
                    case.name
                ));
            }
        }
        if mutations(&sandbox.shopify) != 0 {
            problems.push(format!("{}: the store was written", case.name));
        }
        problems
    });
    let problems: Vec<String> = futures_join(runs).await.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs the futures concurrently (no `futures` crate in the tree).
async fn futures_join<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
