//! Benchmark of the offline core: parse and plan N rows against an N-variant snapshot.
//!
//! `cargo run --release --example bench_plan -- [ROWS]` (default 100,000). Prints wall
//! time per stage and the process's peak resident memory (VmHWM). 5% of prices and 5% of
//! stock cells differ from the store; the baseline agrees with the store, so the
//! three-way plan pushes those cells. The snapshot is built from variant records by the
//! store adapter's own mapper, as a real read builds it (products of four variants).

use std::collections::HashMap;
use std::time::Instant;

use rust_decimal::Decimal;
use serde_json::{Value as Json, json};
use sheetsync::config::Policy;
use sheetsync::model::{Currency, Field, FieldKey, Sku, Value};
use sheetsync::plan::{self, Baseline, PlanOptions, Snapshot};
use sheetsync::sheet::parse::{self, ColumnKey, ColumnSpec};
use sheetsync::store::shopify::ops::{VariantMapper, VariantRecord};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let currency = Currency::new("USD");
    let specs = vec![
        ColumnSpec {
            key: ColumnKey::Sku,
            header: "SKU".into(),
        },
        ColumnSpec {
            key: ColumnKey::Field(Field::Price),
            header: "Price".into(),
        },
        ColumnSpec {
            key: ColumnKey::Field(Field::CompareAtPrice),
            header: "Compare-at price".into(),
        },
        ColumnSpec {
            key: ColumnKey::Field(Field::Barcode),
            header: "Barcode".into(),
        },
        ColumnSpec {
            key: ColumnKey::Stock("Main Warehouse".into()),
            header: "Stock".into(),
        },
    ];

    // The store, the baseline and the sheet's columns, as the API would return them.
    let t = Instant::now();
    let locations = [(
        "Main Warehouse".to_owned(),
        "gid://shopify/Location/1".to_owned(),
    )];
    let mut mapper = VariantMapper::new(&locations);
    let mut variants = HashMap::with_capacity(n);
    let mut baseline: Baseline = HashMap::with_capacity(n * 3);
    let mut cols: Vec<Vec<Json>> = specs.iter().map(|s| vec![json!(s.header)]).collect();
    for i in 0..n {
        let sku = format!("SKU-{i:07}");
        let price = Decimal::new(1000 + (i % 5000) as i64, 2);
        let stock = (i % 40) as i64;
        let barcode = format!("{:012}", 400_000_000_000u64 + i as u64);
        let record = VariantRecord {
            id: format!("gid://shopify/ProductVariant/{i}"),
            sku: Some(sku.clone()),
            price,
            compare_at_price: None,
            barcode: Some(barcode.clone()),
            requires_components: false,
            product_id: format!("gid://shopify/Product/{}", i / 4),
            product_title: format!("Product {}", i / 4),
            product_status: "ACTIVE".to_owned(),
            tags: Vec::new(),
            vendor: String::new(),
            product_type: String::new(),
            description: String::new(),
            inventory_item_id: format!("gid://shopify/InventoryItem/{i}"),
            tracked: true,
            cost: None,
            levels: vec![(locations[0].1.clone(), Some(stock))],
            levels_after: None,
        };
        let (_, v) = mapper.map(record);
        let key = Sku::new(&sku).expect("non-empty");
        baseline.insert(
            (key.clone(), FieldKey::variant(Field::Price)),
            Some(Value::Money(price)),
        );
        baseline.insert(
            (key.clone(), FieldKey::stock("Main Warehouse")),
            Some(Value::Qty(stock)),
        );
        baseline.insert(
            (key.clone(), FieldKey::variant(Field::Barcode)),
            Some(Value::Text(barcode.clone())),
        );
        variants.insert(key, vec![v]);

        let sheet_price = if i % 20 == 0 {
            price + Decimal::new(100, 2)
        } else {
            price
        };
        let sheet_stock = if i % 20 == 7 { stock + 3 } else { stock };
        cols[0].push(json!(sku));
        cols[1].push(json!(sheet_price.to_string().parse::<f64>().unwrap_or(0.0)));
        cols[2].push(json!(""));
        cols[3].push(json!(barcode));
        cols[4].push(json!(sheet_stock));
    }
    // The store adapter drops its mapper once the snapshot is read.
    drop(mapper);
    let snapshot = Snapshot {
        currency: currency.clone(),
        variants,
    };
    let header_rows = vec![specs.iter().map(|s| json!(s.header)).collect::<Vec<_>>()];
    println!("setup ({n} rows, {n} variants): {:.1?}", t.elapsed());

    let setup_peak = peak_memory();
    // Reset the peak (Linux: writing 5 to clear_refs resets VmHWM) so the figure below
    // is the peak while parsing and planning, inputs included.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let layout = parse::locate("Inventory", &header_rows, &specs).expect("headers");
    let sheet = parse::parse(&layout, &cols, &currency).expect("parse");
    let parse_time = t.elapsed();
    let parse_peak = peak_memory();

    let opts = PlanOptions {
        policy: Policy::ThreeWay,
        only: None,
        adopt: None,
        max_change_ratio: Decimal::ONE,
        max_price_change: Decimal::ONE,
        locations: vec!["Main Warehouse".into()],
        tab: layout.tab.clone(),
        sku_col: layout.columns[0].1,
        create: None,
    };
    let t = Instant::now();
    let plan = plan::build(&sheet, &snapshot, &baseline, &opts);
    let plan_time = t.elapsed();

    println!(
        "parse: {parse_time:.1?} ({} rows, {} errors)",
        sheet.rows.len(),
        sheet.errors.len()
    );
    println!(
        "plan:  {plan_time:.1?} ({} changes, {} unchanged rows)",
        plan.changes.len(),
        plan.unchanged
    );
    println!("parse + plan: {:.1?}", parse_time + plan_time);
    println!(
        "peak memory while parsing and planning (inputs included): {}",
        peak_memory()
    );
    println!("peak memory up to the end of parsing: {parse_peak}");
    println!("peak memory of the setup (inputs being built): {setup_peak}");
}

fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}
