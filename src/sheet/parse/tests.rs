//! The parser's tests: grids as the Sheets API returns them, rows and errors out.

use std::str::FromStr;

use serde_json::json;

use super::*;

const TAB: &str = "Inventory";

/// The sheet every test uses: A SKU, B Title, C Price, D Compare at, E Cost,
/// F Barcode, G Main Warehouse (stock), H Sync status.
const HEADERS: [&str; 8] = [
    "SKU",
    "Title",
    "Price",
    "Compare at",
    "Cost",
    "Barcode",
    "Main Warehouse",
    "Sync status",
];

fn specs() -> Vec<ColumnSpec> {
    let keys = [
        ColumnKey::Sku,
        ColumnKey::Product("title"),
        ColumnKey::Field(Field::Price),
        ColumnKey::Field(Field::CompareAtPrice),
        ColumnKey::Field(Field::Cost),
        ColumnKey::Field(Field::Barcode),
        ColumnKey::Stock("Main Warehouse".to_owned()),
        ColumnKey::Status,
    ];
    keys.into_iter()
        .zip(HEADERS)
        .map(|(key, header)| ColumnSpec {
            key,
            header: header.to_owned(),
        })
        .collect()
}

fn key_of(header: &str) -> FieldKey {
    match header {
        "Price" => FieldKey::variant(Field::Price),
        "Compare at" => FieldKey::variant(Field::CompareAtPrice),
        "Cost" => FieldKey::variant(Field::Cost),
        "Barcode" => FieldKey::variant(Field::Barcode),
        "Main Warehouse" => FieldKey::stock("Main Warehouse"),
        other => panic!("no field under {other}"),
    }
}

fn column_of(header: &str) -> u32 {
    HEADERS
        .iter()
        .position(|h| *h == header)
        .expect("known header") as u32
}

/// Rows as `majorDimension=ROWS` returns them.
fn grid(rows: Json) -> Vec<Vec<Json>> {
    serde_json::from_value(rows).expect("a grid is an array of arrays")
}

/// What `batchGet` returns for `layout`: one column per spec, with Sheets' habit of
/// dropping trailing empty cells.
fn columns_of(rows: &[Vec<Json>], layout: &Layout) -> Vec<Vec<Json>> {
    layout
        .columns
        .iter()
        .map(|(_, col)| {
            let mut cells: Vec<Json> = rows
                .iter()
                .map(|r| r.get(*col as usize).cloned().unwrap_or_else(|| json!("")))
                .collect();
            while cells.last().is_some_and(|c| *c == json!("")) {
                cells.pop();
            }
            cells
        })
        .collect()
}

fn read(rows: &[Vec<Json>], currency: &str) -> ParsedSheet {
    let layout = locate(TAB, rows, &specs()).expect("headers found");
    parse(
        &layout,
        &columns_of(rows, &layout),
        &Currency::new(currency),
    )
    .expect("headers in place")
}

/// The standard header row followed by `rows`, each given as `(header, value)` pairs.
fn sheet(rows: &[&[(&str, Json)]], currency: &str) -> ParsedSheet {
    let mut grid = vec![HEADERS.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    for row in rows {
        let mut cells = vec![json!(""); HEADERS.len()];
        for (header, value) in *row {
            cells[column_of(header) as usize] = value.clone();
        }
        while cells.last().is_some_and(|c| *c == json!("")) {
            cells.pop();
        }
        grid.push(cells);
    }
    read(&grid, currency)
}

fn cell(header: &str, row: u32) -> String {
    CellRef::new(TAB, column_of(header), row).to_string()
}

fn money(text: &str) -> Intent {
    Intent::Set(Value::Money(Decimal::from_str(text).expect("decimal")))
}

fn qty(q: i64) -> Intent {
    Intent::Set(Value::Qty(q))
}

fn text(t: &str) -> Intent {
    Intent::Set(Value::Text(t.to_owned()))
}

enum Expect {
    Ok(Intent),
    /// A row error on the cell, its message containing every part.
    Err(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    header: &'static str,
    value: Json,
    currency: &'static str,
    expect: Expect,
}

fn case(name: &'static str, header: &'static str, value: Json, expect: Expect) -> Case {
    Case {
        name,
        header,
        value,
        currency: "USD",
        expect,
    }
}

fn in_currency(currency: &'static str, c: Case) -> Case {
    Case { currency, ..c }
}

/// Runs each case as row 2 of a sheet whose only other cell is the SKU.
fn check(cases: Vec<Case>) {
    for c in cases {
        let parsed = sheet(
            &[&[("SKU", json!("TEE-1")), (c.header, c.value.clone())]],
            c.currency,
        );
        let name = c.name;
        assert_eq!(parsed.rows_read, 1, "{name}");
        match c.expect {
            Expect::Ok(intent) => {
                assert_eq!(parsed.errors, vec![], "{name}");
                let entry = &parsed.rows[0].values[&key_of(c.header)];
                assert_eq!(entry.intent, intent, "{name}");
                assert_eq!(entry.raw, c.value, "{name}");
                assert_eq!(entry.cell.to_string(), cell(c.header, 2), "{name}");
            }
            Expect::Err(parts) => {
                assert_eq!(
                    parsed.rows,
                    vec![],
                    "{name}: an errored row must not be applied"
                );
                assert_eq!(parsed.errors.len(), 1, "{name}: {:?}", parsed.errors);
                let error = &parsed.errors[0];
                assert_eq!(error.cell.to_string(), cell(c.header, 2), "{name}");
                assert_eq!(error.row, 2, "{name}");
                assert_eq!(error.sku.as_ref().map(Sku::as_str), Some("TEE-1"), "{name}");
                for part in parts {
                    assert!(
                        error.message.contains(part),
                        "{name}: {:?} lacks {part:?}",
                        error.message
                    );
                }
            }
        }
    }
}

#[test]
fn blank_cells_leave_fields_alone() {
    for blank in [
        json!(""),
        json!("   "),
        json!(null),
        json!("\u{a0}\u{202f}\t"),
    ] {
        let parsed = sheet(
            &[&[
                ("SKU", json!("TEE-1")),
                ("Price", blank.clone()),
                ("Main Warehouse", blank.clone()),
                ("Cost", json!(3)),
            ]],
            "USD",
        );
        assert_eq!(parsed.errors, vec![], "{blank}");
        let keys: Vec<&FieldKey> = parsed.rows[0].values.keys().collect();
        assert_eq!(keys, vec![&FieldKey::variant(Field::Cost)], "{blank}");
    }
}

#[test]
fn clear_empties_clearable_fields() {
    check(vec![
        case(
            "compare-at",
            "Compare at",
            json!("CLEAR"),
            Expect::Ok(Intent::Clear),
        ),
        case(
            "cost, lower case, padded",
            "Cost",
            json!("  clear "),
            Expect::Ok(Intent::Clear),
        ),
        case(
            "barcode",
            "Barcode",
            json!("Clear"),
            Expect::Ok(Intent::Clear),
        ),
    ]);
}

#[test]
fn clear_is_refused_on_price_and_stock() {
    check(vec![
        case(
            "price",
            "Price",
            json!("CLEAR"),
            Expect::Err(&["price \"CLEAR\" cannot be cleared"]),
        ),
        case(
            "stock",
            "Main Warehouse",
            json!("clear"),
            Expect::Err(&[
                "stock at \"Main Warehouse\" \"clear\" cannot be cleared",
                "blank cell leaves stock alone",
            ]),
        ),
        case(
            "not exactly CLEAR",
            "Cost",
            json!("CLEAR IT"),
            Expect::Err(&["cost \"CLEAR IT\" is not a number"]),
        ),
    ]);
}

#[test]
fn money_numbers_are_taken_at_their_shortest_decimal() {
    check(vec![
        case(
            "19.9 is 19.90",
            "Price",
            json!(19.9),
            Expect::Ok(money("19.90")),
        ),
        case("integer", "Price", json!(20), Expect::Ok(money("20"))),
        case("zero price", "Price", json!(0), Expect::Ok(money("0"))),
        case("cost", "Cost", json!(0.05), Expect::Ok(money("0.05"))),
        case(
            "whole float",
            "Compare at",
            json!(25.0),
            Expect::Ok(money("25")),
        ),
        case(
            "negative zero",
            "Price",
            json!(-0.0),
            Expect::Ok(money("0")),
        ),
    ]);
}

#[test]
fn decimals_follow_the_currency() {
    check(vec![
        case(
            "USD three decimals",
            "Price",
            json!(19.999),
            Expect::Err(&[
                "price 19.999 has 3 decimals but USD allows 2",
                "never rounded",
            ]),
        ),
        in_currency(
            "JPY",
            case("JPY whole", "Price", json!(1500), Expect::Ok(money("1500"))),
        ),
        in_currency(
            "JPY",
            case(
                "JPY fraction",
                "Price",
                json!(1500.5),
                Expect::Err(&["has 1 decimal but JPY allows none"]),
            ),
        ),
        in_currency(
            "JPY",
            case(
                "JPY text 1.000",
                "Price",
                json!("1.000"),
                Expect::Err(&["has 3 decimals but JPY allows none"]),
            ),
        ),
        in_currency(
            "KWD",
            case(
                "KWD three decimals",
                "Price",
                json!(1.234),
                Expect::Ok(money("1.234")),
            ),
        ),
        in_currency(
            "KWD",
            case(
                "KWD text 1.299",
                "Cost",
                json!("1.299"),
                Expect::Ok(money("1.299")),
            ),
        ),
        in_currency(
            "KWD",
            case(
                "KWD four decimals",
                "Price",
                json!(1.2345),
                Expect::Err(&["has 4 decimals but KWD allows 3"]),
            ),
        ),
        case(
            "text keeps written decimals",
            "Price",
            json!("12.500"),
            Expect::Err(&["has 3 decimals but USD allows 2"]),
        ),
    ]);
}

#[test]
fn float_noise_suggests_round_with_the_currency_decimals() {
    check(vec![
        case(
            "USD noise",
            "Price",
            json!(19.900000000000002),
            Expect::Err(&["price 19.900000000000002 has 15 decimals", "ROUND(…, 2)"]),
        ),
        in_currency(
            "KWD",
            case(
                "KWD noise",
                "Cost",
                json!(0.1 + 0.2),
                Expect::Err(&["cost 0.30000000000000004", "ROUND(…, 3)"]),
            ),
        ),
    ]);
    // A value typed with too many decimals is not noise: no ROUND hint.
    let parsed = sheet(&[&[("SKU", json!("A")), ("Price", json!(19.999))]], "USD");
    assert!(
        !parsed.errors[0].message.contains("ROUND"),
        "{}",
        parsed.errors[0].message
    );
}

#[test]
fn money_text_is_accepted_when_unambiguous() {
    check(vec![
        case(
            "dollar with grouping",
            "Price",
            json!("$1,299.00"),
            Expect::Ok(money("1299")),
        ),
        case(
            "plain integer",
            "Price",
            json!("1299"),
            Expect::Ok(money("1299")),
        ),
        case(
            "space grouping, decimal comma",
            "Price",
            json!("1 299,00"),
            Expect::Ok(money("1299")),
        ),
        case(
            "NBSP grouping",
            "Price",
            json!("1\u{a0}299,00"),
            Expect::Ok(money("1299")),
        ),
        case(
            "narrow NBSP grouping",
            "Price",
            json!("1\u{202f}299,50"),
            Expect::Ok(money("1299.5")),
        ),
        case(
            "dot grouping, decimal comma",
            "Price",
            json!("1.299,00"),
            Expect::Ok(money("1299")),
        ),
        in_currency(
            "EUR",
            case(
                "euro prefix",
                "Price",
                json!("€12,50"),
                Expect::Ok(money("12.5")),
            ),
        ),
        in_currency(
            "EUR",
            case(
                "euro suffix",
                "Price",
                json!("12,50 €"),
                Expect::Ok(money("12.5")),
            ),
        ),
        case(
            "ISO code suffix",
            "Price",
            json!("12.50 USD"),
            Expect::Ok(money("12.5")),
        ),
        case(
            "ISO code prefix, lower case",
            "Cost",
            json!("usd 3"),
            Expect::Ok(money("3")),
        ),
        case("US$", "Price", json!("US$ 5.25"), Expect::Ok(money("5.25"))),
        case(
            "several groups",
            "Price",
            json!("1,299,000"),
            Expect::Ok(money("1299000")),
        ),
        case(
            "decimal comma, one digit",
            "Price",
            json!("12,5"),
            Expect::Ok(money("12.5")),
        ),
        case(
            "leading decimal point",
            "Price",
            json!(".5"),
            Expect::Ok(money("0.5")),
        ),
        case(
            "0,299 cannot be grouping",
            "Price",
            json!("0,29"),
            Expect::Ok(money("0.29")),
        ),
        case(
            "padded",
            "Price",
            json!("  19.99 "),
            Expect::Ok(money("19.99")),
        ),
    ]);
}

#[test]
fn money_text_with_a_lone_comma_and_three_digits_is_ambiguous() {
    check(vec![
        case(
            "1,299",
            "Price",
            json!("1,299"),
            Expect::Err(&["price \"1,299\" is ambiguous", "(1299)", "(1.299)"]),
        ),
        case(
            "$1,299",
            "Cost",
            json!("$1,299"),
            Expect::Err(&["is ambiguous"]),
        ),
        in_currency(
            "KWD",
            case(
                "even with three decimals",
                "Price",
                json!("1,299"),
                Expect::Err(&["is ambiguous"]),
            ),
        ),
    ]);
}

#[test]
fn money_text_that_is_not_a_number_is_refused() {
    check(vec![
        case(
            "word",
            "Price",
            json!("abc"),
            Expect::Err(&["price \"abc\" is not a number"]),
        ),
        case(
            "unit",
            "Price",
            json!("12 pcs"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "two decimal points",
            "Price",
            json!("1.2.3"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "double separator",
            "Price",
            json!("12..5"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "bad grouping",
            "Price",
            json!("1,29,000"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "trailing separator",
            "Price",
            json!("12."),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "exponent",
            "Price",
            json!("1e5"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "other currency code",
            "Price",
            json!("12.50 EUR"),
            Expect::Err(&["is in EUR but the shop's currency is USD"]),
        ),
        case(
            "other currency symbol",
            "Cost",
            json!("€5"),
            Expect::Err(&["is in EUR but the shop's currency is USD"]),
        ),
        case(
            "sign alone",
            "Price",
            json!("-"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "doubled symbol",
            "Price",
            json!("$$12"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "unknown word prefix",
            "Price",
            json!("kr 12"),
            Expect::Err(&["is not a number"]),
        ),
    ]);
}

#[test]
fn negative_money_is_an_error_but_negative_stock_is_oversold() {
    check(vec![
        case(
            "negative price",
            "Price",
            json!(-5),
            Expect::Err(&["price -5 is negative"]),
        ),
        case(
            "negative price text",
            "Price",
            json!("-$5.00"),
            Expect::Err(&["price \"-$5.00\" is negative"]),
        ),
        case(
            "negative compare-at",
            "Compare at",
            json!(-0.5),
            Expect::Err(&["compare_at_price -0.5 is negative"]),
        ),
        case(
            "negative cost",
            "Cost",
            json!("−1"),
            Expect::Err(&["is negative"]),
        ),
        case(
            "negative stock",
            "Main Warehouse",
            json!(-3),
            Expect::Ok(qty(-3)),
        ),
        case(
            "negative stock text",
            "Main Warehouse",
            json!("-1,200"),
            Expect::Ok(qty(-1200)),
        ),
    ]);
}

#[test]
fn values_beyond_what_the_store_holds_are_errors() {
    check(vec![
        case(
            "largest price",
            "Price",
            json!(999_999_999_999_999_999u64),
            Expect::Ok(money("999999999999999999")),
        ),
        case(
            "10^18",
            "Price",
            json!(1_000_000_000_000_000_000u64),
            Expect::Err(&["too large", "10^18"]),
        ),
        case(
            "float beyond",
            "Cost",
            json!(1e21),
            Expect::Err(&["cost 1000000000000000000000 is too large"]),
        ),
        case(
            "text beyond",
            "Price",
            json!("1,000,000,000,000,000,000.00"),
            Expect::Err(&["too large"]),
        ),
        case(
            "stock at the limit",
            "Main Warehouse",
            json!(1_000_000_000),
            Expect::Ok(qty(1_000_000_000)),
        ),
        case(
            "stock below the negative limit",
            "Main Warehouse",
            json!(-1_000_000_000),
            Expect::Ok(qty(-1_000_000_000)),
        ),
        case(
            "stock beyond",
            "Main Warehouse",
            json!(1_000_000_001),
            Expect::Err(&["beyond ±1000000000"]),
        ),
        case(
            "negative stock beyond",
            "Main Warehouse",
            json!(-1_000_000_001),
            Expect::Err(&["beyond"]),
        ),
        case(
            "huge stock text",
            "Main Warehouse",
            json!("99999999999999999999"),
            Expect::Err(&["beyond"]),
        ),
    ]);
}

#[test]
fn stock_is_a_whole_number() {
    check(vec![
        case("integer", "Main Warehouse", json!(12), Expect::Ok(qty(12))),
        case(
            "integral float",
            "Main Warehouse",
            json!(12.0),
            Expect::Ok(qty(12)),
        ),
        case("zero", "Main Warehouse", json!(0), Expect::Ok(qty(0))),
        case(
            "fraction",
            "Main Warehouse",
            json!(12.5),
            Expect::Err(&["stock at \"Main Warehouse\" 12.5 is not a whole number"]),
        ),
        case(
            "text 3.0",
            "Main Warehouse",
            json!("3.0"),
            Expect::Ok(qty(3)),
        ),
        case(
            "text fraction",
            "Main Warehouse",
            json!("3,5"),
            Expect::Err(&["is not a whole number"]),
        ),
        case(
            "text thousands comma",
            "Main Warehouse",
            json!("1,200"),
            Expect::Ok(qty(1200)),
        ),
        case(
            "text thousands space",
            "Main Warehouse",
            json!("1 200"),
            Expect::Ok(qty(1200)),
        ),
        case(
            "currency in stock",
            "Main Warehouse",
            json!("$5"),
            Expect::Err(&["is not a number"]),
        ),
        case(
            "word",
            "Main Warehouse",
            json!("lots"),
            Expect::Err(&["stock at \"Main Warehouse\" \"lots\" is not a number"]),
        ),
    ]);
}

#[test]
fn barcodes_as_text_are_kept_trimmed() {
    check(vec![
        case(
            "leading zeros",
            "Barcode",
            json!("0012345678905"),
            Expect::Ok(text("0012345678905")),
        ),
        case(
            "padded",
            "Barcode",
            json!("  ABC-1 "),
            Expect::Ok(text("ABC-1")),
        ),
        case(
            "Excel scientific notation",
            "Barcode",
            json!("3.65275E+11"),
            Expect::Err(&[
                "barcode \"3.65275E+11\" is a number in scientific notation",
                "plain text",
            ]),
        ),
    ]);
}

#[test]
fn barcodes_sheets_made_numbers_keep_their_digits_or_fail() {
    check(vec![
        case(
            "digits",
            "Barcode",
            json!(12345678905u64),
            Expect::Ok(Intent::NumericBarcode("12345678905".to_owned())),
        ),
        case(
            "integral float",
            "Barcode",
            json!(42.0),
            Expect::Ok(Intent::NumericBarcode("42".to_owned())),
        ),
        case(
            "2^53",
            "Barcode",
            json!(9_007_199_254_740_992u64),
            Expect::Ok(Intent::NumericBarcode("9007199254740992".to_owned())),
        ),
        case(
            "beyond 2^53",
            "Barcode",
            json!(9_007_199_254_740_993u64),
            Expect::Err(&["barcode 9007199254740993", "plain text"]),
        ),
        case(
            "negative",
            "Barcode",
            json!(-5),
            Expect::Err(&["plain text"]),
        ),
        case(
            "fraction",
            "Barcode",
            json!(1.5),
            Expect::Err(&["barcode 1.5", "plain text"]),
        ),
    ]);
}

#[test]
fn dates_in_number_columns_are_named_as_dates() {
    check(vec![
        case(
            "ISO date price",
            "Price",
            json!("2024-01-05"),
            Expect::Err(&["price \"2024-01-05\" looks like a date"]),
        ),
        case(
            "US date stock",
            "Main Warehouse",
            json!("1/5/2024"),
            Expect::Err(&["looks like a date"]),
        ),
        case(
            "European date cost",
            "Cost",
            json!("05.01.2024"),
            Expect::Err(&["looks like a date"]),
        ),
        case(
            "date and time",
            "Compare at",
            json!("2024-01-05 10:30:00"),
            Expect::Err(&["looks like a date"]),
        ),
    ]);
}

#[test]
fn formula_errors_are_row_errors() {
    let mut cases: Vec<Case> = FORMULA_ERRORS
        .iter()
        .map(|e| {
            case(
                "price",
                "Price",
                json!(e),
                Expect::Err(&["is a formula error"]),
            )
        })
        .collect();
    cases.push(case(
        "stock",
        "Main Warehouse",
        json!("#N/A"),
        Expect::Err(&["stock at \"Main Warehouse\" \"#N/A\" is a formula error"]),
    ));
    cases.push(case(
        "barcode",
        "Barcode",
        json!("#REF!"),
        Expect::Err(&["barcode \"#REF!\" is a formula error"]),
    ));
    cases.push(case(
        "unlisted error code",
        "Cost",
        json!("#UNKNOWN!"),
        Expect::Err(&["is a formula error"]),
    ));
    check(cases);

    let parsed = sheet(&[&[("SKU", json!("#N/A")), ("Price", json!(5))]], "USD");
    assert_eq!(parsed.rows, vec![]);
    assert_eq!(
        parsed.errors.len(),
        1,
        "no second 'no SKU' error: {:?}",
        parsed.errors
    );
    assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A2");
    assert_eq!(parsed.errors[0].message, "SKU \"#N/A\" is a formula error");
}

#[test]
fn booleans_are_row_errors() {
    check(vec![
        case(
            "price",
            "Price",
            json!(true),
            Expect::Err(&["price TRUE is a checkbox"]),
        ),
        case(
            "stock",
            "Main Warehouse",
            json!(false),
            Expect::Err(&["stock at \"Main Warehouse\" FALSE is a checkbox"]),
        ),
        case(
            "barcode",
            "Barcode",
            json!(true),
            Expect::Err(&["barcode TRUE is a checkbox"]),
        ),
    ]);
    let parsed = sheet(&[&[("SKU", json!(true)), ("Price", json!(5))]], "USD");
    assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A2");
    assert!(
        parsed.errors[0]
            .message
            .starts_with("SKU TRUE is a checkbox")
    );
}

#[test]
fn duplicate_skus_fail_every_copy() {
    let parsed = sheet(
        &[
            &[("SKU", json!("TEE-1")), ("Price", json!(10))],
            &[("SKU", json!("MUG-1")), ("Price", json!(7))],
            &[("SKU", json!(" TEE-1 ")), ("Price", json!(11))],
            &[("SKU", json!("TEE-1")), ("Price", json!("oops"))],
        ],
        "USD",
    );
    assert_eq!(
        parsed
            .rows
            .iter()
            .map(|r| r.sku.as_str())
            .collect::<Vec<_>>(),
        ["MUG-1"]
    );
    let errors: Vec<(String, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.cell.to_string(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "Inventory!A2".to_owned(),
                "SKU \"TEE-1\" also appears in rows 4, 5; none of these rows is applied"
            ),
            (
                "Inventory!A4".to_owned(),
                "SKU \"TEE-1\" also appears in rows 2, 5; none of these rows is applied"
            ),
            (
                "Inventory!A5".to_owned(),
                "SKU \"TEE-1\" also appears in rows 2, 4; none of these rows is applied"
            ),
            ("Inventory!C5".to_owned(), "price \"oops\" is not a number"),
        ]
    );
    assert_eq!((parsed.rows_read, parsed.skus_read), (4, 2));

    let pair = sheet(&[&[("SKU", json!("A"))], &[("SKU", json!("A"))]], "USD");
    assert_eq!(
        pair.errors[0].message,
        "SKU \"A\" also appears in row 3; none of these rows is applied"
    );
}

#[test]
fn a_row_with_values_but_no_sku_is_an_error() {
    let parsed = sheet(
        &[
            &[("SKU", json!("TEE-1")), ("Price", json!(10))],
            &[
                ("SKU", json!("   ")),
                ("Price", json!(12)),
                ("Title", json!("Orphan")),
            ],
            &[("Title", json!("Only a title"))],
        ],
        "USD",
    );
    assert_eq!(parsed.rows.len(), 1);
    let errors: Vec<(String, Option<Sku>, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.cell.to_string(), e.sku.clone(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            ("Inventory!A3".to_owned(), None, "row has values but no SKU"),
            ("Inventory!A4".to_owned(), None, "row has values but no SKU"),
        ]
    );
    assert_eq!((parsed.rows_read, parsed.skus_read), (3, 1));
}

#[test]
fn all_blank_rows_are_skipped_and_not_counted() {
    let rows = grid(json!([
        HEADERS,
        ["TEE-1", "", 10],
        [],
        ["", " ", "", "", "", "", "", "synced 2026-01-01"],
        ["  ", "\u{a0}"],
        ["MUG-1", "", 7],
    ]));
    let parsed = read(&rows, "USD");
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(
        parsed
            .rows
            .iter()
            .map(|r| (r.row, r.sku.as_str()))
            .collect::<Vec<_>>(),
        [(2, "TEE-1"), (6, "MUG-1")]
    );
    assert_eq!((parsed.rows_read, parsed.skus_read), (2, 2));
}

#[test]
fn ragged_and_short_columns_read_as_blank() {
    // Stock runs three rows further than every other column; price stops at its header.
    let rows = grid(json!([
        HEADERS,
        ["TEE-1", "Tee"],
        ["MUG-1", "", "", "", "", "", 4],
        [],
        [],
        ["", "", "", "", "", "", 9],
    ]));
    let layout = locate(TAB, &rows, &specs()).expect("headers");
    let columns = columns_of(&rows, &layout);
    assert_eq!(columns[2].len(), 1, "price column holds only its header");
    assert_eq!(columns[6].len(), 6);
    let parsed = parse(&layout, &columns, &Currency::new("USD")).expect("parsed");
    assert_eq!(parsed.rows.len(), 2);
    assert_eq!(
        parsed.rows[0].values.keys().collect::<Vec<_>>(),
        vec![&FieldKey::variant(Field::Title)]
    );
    assert_eq!(
        parsed.rows[0].product,
        BTreeMap::from([("title", "Tee".to_owned())])
    );
    assert_eq!(
        parsed.rows[1].values[&FieldKey::stock("Main Warehouse")].intent,
        qty(4)
    );
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A6");
    assert_eq!(parsed.errors[0].message, "row has values but no SKU");

    // A column vector missing altogether has lost its header cell as well.
    let mut short = columns.clone();
    short.truncate(7);
    assert_eq!(
        parse(&layout, &short, &Currency::new("USD")).map(|p| p.rows.len()),
        Err(HeaderError::Moved {
            cell: CellRef::new(TAB, 7, 1),
            expected: "Sync status".to_owned(),
            found: String::new(),
        })
    );
}

#[test]
fn header_row_is_the_first_non_empty_row() {
    let rows = grid(json!([
        [],
        ["", "  "],
        [" SKU ", "Title", "Price"],
        ["TEE-1", "", "x"]
    ]));
    let specs: Vec<ColumnSpec> = specs().into_iter().take(3).collect();
    let layout = locate(TAB, &rows, &specs).expect("headers");
    assert_eq!(layout.header_row, 3);
    assert_eq!(
        layout.columns.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let parsed =
        parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
    assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!C4");
    assert_eq!(parsed.errors[0].row, 4);
}

#[test]
fn header_missing_lists_the_headers_found() {
    let rows = grid(json!([["SKU", "Title", "Prices", "", "Cost"]]));
    let err = locate(TAB, &rows, &specs()).expect_err("price missing");
    assert_eq!(
        err,
        HeaderError::Missing {
            tab: TAB.to_owned(),
            row: 1,
            header: "Price".to_owned(),
            found: vec![
                "SKU".to_owned(),
                "Title".to_owned(),
                "Prices".to_owned(),
                "Cost".to_owned()
            ],
        }
    );
    assert!(
        err.to_string()
            .contains("headers found: [\"SKU\", \"Title\", \"Prices\", \"Cost\"]"),
        "{err}"
    );
}

#[test]
fn header_twice_names_both_cells() {
    let mut headers: Vec<Json> = HEADERS.iter().map(|h| json!(h)).collect();
    headers.push(json!(" Price "));
    let err = locate("Q1 stock", &[headers], &specs()).expect_err("price twice");
    let HeaderError::Duplicate {
        header, cells, row, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (header.as_str(), cells.as_str(), *row),
        ("Price", "'Q1 stock'!C1, 'Q1 stock'!I1", 1)
    );
    assert!(err.to_string().contains("appears more than once"), "{err}");
}

#[test]
fn header_that_moved_since_it_was_located_is_refused() {
    let rows = grid(json!([HEADERS, ["TEE-1", "", 10]]));
    let layout = locate(TAB, &rows, &specs()).expect("headers");
    let mut columns = columns_of(&rows, &layout);
    columns[2][0] = json!("Cost");
    let err = parse(&layout, &columns, &Currency::new("USD")).expect_err("moved");
    assert_eq!(
        err,
        HeaderError::Moved {
            cell: CellRef::new(TAB, 2, 1),
            expected: "Price".to_owned(),
            found: "Cost".to_owned(),
        }
    );
    assert!(
        err.to_string()
            .starts_with("column Inventory!C1 should hold header \"Price\""),
        "{err}"
    );

    // A column returned empty has lost its header too.
    let mut columns = columns_of(&rows, &layout);
    columns[4] = vec![];
    assert!(
        matches!(parse(&layout, &columns, &Currency::new("USD")), Err(HeaderError::Moved { found, .. }) if found.is_empty())
    );
}

#[test]
fn empty_tab_has_no_header_row() {
    for rows in [vec![], grid(json!([[], ["", " "], [null]]))] {
        assert_eq!(
            locate(TAB, &rows, &specs()),
            Err(HeaderError::EmptyTab {
                tab: TAB.to_owned()
            })
        );
    }
}

#[test]
fn long_cells_are_quoted_truncated() {
    let long = "x".repeat(50_000);
    let parsed = sheet(&[&[("SKU", json!("TEE-1")), ("Price", json!(long))]], "USD");
    let message = &parsed.errors[0].message;
    assert_eq!(
        message,
        &format!("price \"{}…\" is not a number", "x".repeat(40))
    );

    let long_sku = format!("S{}", "é".repeat(49_999));
    let parsed = sheet(
        &[&[("SKU", json!(long_sku))], &[("SKU", json!(long_sku))]],
        "USD",
    );
    assert!(
        parsed
            .errors
            .iter()
            .all(|e| e.message.chars().count() < 120),
        "{:?}",
        parsed.errors[0].message
    );
}

#[test]
fn skus_are_trimmed_unicode_and_case_sensitive() {
    let parsed = sheet(
        &[
            &[("SKU", json!(" Tëe-1\u{a0}")), ("Price", json!(1))],
            &[("SKU", json!("tëe-1")), ("Price", json!(2))],
            &[("SKU", json!("杯子-☕")), ("Price", json!(3))],
        ],
        "USD",
    );
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(
        parsed
            .rows
            .iter()
            .map(|r| r.sku.as_str())
            .collect::<Vec<_>>(),
        ["Tëe-1", "tëe-1", "杯子-☕"]
    );
    assert_eq!(parsed.skus_read, 3);
}

#[test]
fn numeric_skus_are_read_as_their_text() {
    let parsed = sheet(
        &[
            &[("SKU", json!(12345)), ("Price", json!(1))],
            &[("SKU", json!(12.5)), ("Price", json!(1))],
            &[("SKU", json!("12345")), ("Price", json!(1))],
            &[("SKU", json!(1e20)), ("Price", json!(1))],
        ],
        "USD",
    );
    assert_eq!(
        parsed
            .rows
            .iter()
            .map(|r| r.sku.as_str())
            .collect::<Vec<_>>(),
        ["12.5"]
    );
    let errors: Vec<(String, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.cell.to_string(), e.message.as_str()))
        .collect();
    assert_eq!(errors[0].0, "Inventory!A2");
    assert!(
        errors[0].1.contains("SKU \"12345\" also appears in row 4"),
        "{errors:?}"
    );
    assert_eq!(errors[2].0, "Inventory!A5");
    assert!(
        errors[2]
            .1
            .starts_with("SKU 100000000000000000000 is too long a number"),
        "{errors:?}"
    );
}

#[test]
fn product_columns_are_kept_as_text_and_status_is_ignored() {
    let parsed = sheet(
        &[&[
            ("SKU", json!("TEE-1")),
            ("Title", json!("  Red tee ")),
            ("Sync status", json!("price \"abc\" is not a number")),
        ]],
        "USD",
    );
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(
        parsed.rows[0].product,
        BTreeMap::from([("title", "Red tee".to_owned())])
    );
    assert_eq!(
        parsed.rows[0].values[&FieldKey::variant(Field::Title)].intent,
        Intent::Set(Value::Text("Red tee".to_owned()))
    );

    let numeric = sheet(&[&[("SKU", json!("A")), ("Title", json!(1984))]], "USD");
    assert_eq!(numeric.rows[0].product["title"], "1984");
}

#[test]
fn product_type_and_description_are_text_and_clear_empties_them() {
    let html = "<p>Soft <b>cotton</b>,\n\"washed\".</p>";
    assert_eq!(
        read_product(Field::Description, &json!(format!("  {html}\n"))),
        Ok(Intent::Set(Value::Text(html.to_owned())))
    );
    assert_eq!(
        read_product(Field::ProductType, &json!("Shirts")),
        Ok(Intent::Set(Value::Text("Shirts".to_owned())))
    );
    for field in [Field::ProductType, Field::Description] {
        assert_eq!(read_product(field, &json!("clear")), Ok(Intent::Clear));
    }
    assert!(read_product(Field::Title, &json!("CLEAR")).is_err());
    assert!(read_product(Field::Vendor, &json!("CLEAR")).is_err());
}

#[test]
fn a_row_per_location_is_stock_at_that_location_and_skus_repeat_per_location() {
    let specs = vec![
        ColumnSpec {
            key: ColumnKey::Sku,
            header: "SKU".into(),
        },
        ColumnSpec {
            key: ColumnKey::RowLocation(vec!["Main".into(), "Annex".into()]),
            header: "Location".into(),
        },
        ColumnSpec {
            key: ColumnKey::RowStock,
            header: "Available".into(),
        },
    ];
    let rows = grid(json!([
        ["Handle", "SKU", "Location", "Available"],
        ["tee", "A", "Main", 3],
        ["tee", "A", "Annex", -1],
        ["tee", "A", "Popup", 9],
        ["mug", "", "Main", 4],
        ["cup", "B", "", 2],
        ["cap", "C", "Main", ""],
        ["hat", "D", "Annex", 1],
        ["hat", "D", "Annex", 2]
    ]));
    let layout = locate(TAB, &rows, &specs).expect("headers");
    let parsed =
        parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
    let stock: Vec<(u32, &str, Option<&str>, Vec<&FieldKey>)> = parsed
        .rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.sku.as_str(),
                r.location.as_deref(),
                r.values.keys().collect(),
            )
        })
        .collect();
    assert_eq!(
        stock,
        vec![
            (2, "A", Some("Main"), vec![&FieldKey::stock("Main")]),
            (3, "A", Some("Annex"), vec![&FieldKey::stock("Annex")]),
            // A blank stock cell is "leave alone", as anywhere.
            (7, "C", Some("Main"), vec![]),
        ]
    );
    assert_eq!(
        parsed.rows[1].values[&FieldKey::stock("Annex")].cell,
        CellRef::new(TAB, 3, 3)
    );
    let errors: Vec<(u32, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.row, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors[0],
        (
            6,
            "stock 2 has no location: its row's Location cell is blank"
        )
    );
    assert!(
        errors[1]
            .1
            .contains("at location \"Annex\" also appears in row 9")
    );
    assert_eq!(errors[2].0, 9);
    // The mug has no SKU: skipped and counted; Popup is not configured: not read.
    assert_eq!(parsed.rows_without_sku, 1);
    assert_eq!(
        parsed.other_locations,
        BTreeMap::from([("Popup".to_owned(), 1)])
    );
    assert_eq!((parsed.rows_read, parsed.skus_read), (7, 4));
    assert!(
        parsed
            .skipped_note()
            .is_some_and(|n| n.contains("\"Popup\""))
    );

    // Only unlisted locations: a config error, not an empty sheet.
    let popup = grid(json!([["SKU", "Location", "Available"], ["A", "Popup", 1]]));
    let layout = locate(TAB, &popup, &specs).expect("headers");
    assert!(matches!(
        parse(&layout, &columns_of(&popup, &layout), &Currency::new("USD")),
        Err(HeaderError::NoConfiguredLocation { .. })
    ));
}

#[test]
fn a_draft_is_no_bigger_than_a_row() {
    // Rows are built in the drafts' buffer: any excess stays allocated for the
    // whole run (issue 8's memory bound).
    assert!(std::mem::size_of::<Draft>() <= std::mem::size_of::<Row>());
}

#[test]
fn a_valid_row_records_every_entry_with_its_cell_and_raw_value() {
    let parsed = sheet(
        &[&[
            ("SKU", json!("TEE-1")),
            ("Price", json!(21)),
            ("Compare at", json!("CLEAR")),
            ("Cost", json!("9,50")),
            ("Barcode", json!(123)),
            ("Main Warehouse", json!(15)),
        ]],
        "EUR",
    );
    assert_eq!(parsed.errors, vec![]);
    let row = &parsed.rows[0];
    assert_eq!((row.row, row.sku.as_str()), (2, "TEE-1"));
    let entries: Vec<(String, String, &Intent, &Json)> = row
        .values
        .iter()
        .map(|(k, e)| (k.to_string(), e.cell.to_string(), &e.intent, &e.raw))
        .collect();
    assert_eq!(
        entries,
        [
            (
                "price".to_owned(),
                "Inventory!C2".to_owned(),
                &money("21"),
                &json!(21)
            ),
            (
                "compare_at_price".to_owned(),
                "Inventory!D2".to_owned(),
                &Intent::Clear,
                &json!("CLEAR")
            ),
            (
                "cost".to_owned(),
                "Inventory!E2".to_owned(),
                &money("9.5"),
                &json!("9,50")
            ),
            (
                "barcode".to_owned(),
                "Inventory!F2".to_owned(),
                &Intent::NumericBarcode("123".to_owned()),
                &json!(123)
            ),
            (
                "inventory@Main Warehouse".to_owned(),
                "Inventory!G2".to_owned(),
                &qty(15),
                &json!(15)
            ),
        ]
    );
}

#[test]
fn every_bad_cell_of_a_row_is_reported_in_cell_order() {
    let parsed = sheet(
        &[
            &[("SKU", json!("OK-1")), ("Price", json!(1))],
            &[
                ("SKU", json!("BAD-1")),
                ("Main Warehouse", json!(1.5)),
                ("Price", json!("abc")),
                ("Cost", json!(-1)),
            ],
            &[("SKU", json!("OK-2")), ("Price", json!(2))],
        ],
        "USD",
    );
    assert_eq!(
        parsed.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        [2, 4]
    );
    let cells: Vec<String> = parsed.errors.iter().map(|e| e.cell.to_string()).collect();
    assert_eq!(cells, ["Inventory!C3", "Inventory!E3", "Inventory!G3"]);
    assert_eq!(parsed.errors[0].message, "price \"abc\" is not a number");
    assert!(
        parsed
            .errors
            .iter()
            .all(|e| e.sku.as_ref().map(Sku::as_str) == Some("BAD-1"))
    );
    assert_eq!((parsed.rows_read, parsed.skus_read), (3, 3));
}

#[test]
fn cell_refs_quote_tab_names_that_need_it() {
    let rows = grid(json!([HEADERS, ["TEE-1", "", "abc"]]));
    let layout = locate("Bob's stock", &rows, &specs()).expect("headers");
    let parsed =
        parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
    assert_eq!(parsed.errors[0].cell.to_string(), "'Bob''s stock'!C2");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a person types, every column yields a value or a row error that
        /// names its cell, never a panic.
        #[test]
        fn any_text_parses_or_errors(input in "[-+$€ .,0-9a-zA-Z#/!?\u{a0}]{0,16}", header in 2usize..7) {
            let header = HEADERS[header];
            let parsed = sheet(&[&[("SKU", json!("A")), (header, json!(input))]], "USD");
            for error in &parsed.errors {
                prop_assert_eq!(error.cell.to_string(), cell(header, 2));
            }
            prop_assert!(parsed.rows.len() + usize::from(!parsed.errors.is_empty()) == 1);
        }

        /// A money amount written with the currency's decimals always reads back exactly.
        #[test]
        fn written_amounts_read_back(cents in 0u64..10_000_000_000) {
            let amount = Decimal::new(cents as i64, 2);
            for textual in [json!(amount.to_string()), json!(format!("${amount}"))] {
                let parsed = sheet(&[&[("SKU", json!("A")), ("Price", textual.clone())]], "USD");
                let intent = &parsed.rows[0].values[&FieldKey::variant(Field::Price)].intent;
                prop_assert_eq!(intent, &Intent::Set(Value::Money(amount)));
            }
        }
    }
}
