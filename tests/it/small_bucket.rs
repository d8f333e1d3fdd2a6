//! Stores whose cost bucket is smaller than any default page (SHOPIFY.md §2: a store with
//! reduced limits, or a small custom bucket): the `sheetsync` binary against the sandbox
//! must size every read to the bucket the store reports, never be answered `THROTTLED`,
//! keep the writes at the restore rate, and stop at once, exit 1, on a request that can
//! never fit.
//!
//! `cargo test --test small_bucket -- --nocapture` prints the figures (wall, cost/s against
//! the restore rate, throttled) quoted in the README.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::{RequestLog, ShopifyFake};

/// Variants of the product `big`: more than one `ProductByHandle` page of a 50-point bucket.
const BIG: usize = 45;
/// Products of one variant each, every one with a new price: one update call each.
const SMALL: usize = 20;

const MUTATIONS: &[&str] = &[
    "productVariantsBulkUpdate",
    "inventorySetQuantities",
    "inventoryActivate",
    "productCreate",
    "productVariantsBulkCreate",
    "publishablePublish",
];

const HEADER: [&str; 8] = [
    "SKU",
    "Handle",
    "Title",
    "Option1 Name",
    "Option1 Value",
    "Price",
    "Stock",
    "Outlet stock",
];

const COLUMNS: &str = "handle = \"Handle\"\ntitle = \"Title\"\n\
    option1_name = \"Option1 Name\"\noption1_value = \"Option1 Value\"\n";

fn store() -> ShopifyFake {
    let mut products = Vec::new();
    let big: Vec<Value> = (1..=BIG)
        .map(|i| {
            json!({"id": 1000 + i, "title": format!("V{i}"), "sku": format!("BIG-{i:02}"),
                "price": "10.00", "inventoryItemId": 5000 + i, "levels": {"1": 5, "2": 1}})
        })
        .collect();
    products.push(json!({"id": 10, "title": "Big", "handle": "big", "variants": big}));
    for i in 0..SMALL {
        products.push(json!({"id": 100 + i, "title": format!("Small {i}"), "variants": [
            {"id": 2000 + i, "title": "Default Title", "sku": format!("P-{i:02}"), "price": "10.00",
             "inventoryItemId": 6000 + i, "levels": {"1": 5, "2": 1}}
        ]}));
    }
    let seed = json!({
        "shop": {"name": "Small", "domain": "small-bucket.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": "Main Warehouse"}, {"id": 2, "name": "Outlet"}],
        "products": products,
    });
    ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed")
}

/// The sheet: the big product as the store has it, every small product at a new price
/// (and every other one with new stock), a variant to add to `big` and a new product.
fn sheet() -> SheetsFake {
    let cell = |c: &str| match c.parse::<f64>() {
        Ok(n) => json!(n),
        Err(_) => json!(c),
    };
    let mut rows = vec![HEADER.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    for i in 1..=BIG {
        let sku = format!("BIG-{i:02}");
        rows.push(
            [sku.as_str(), "", "", "", "", "10", "5", "1"]
                .map(cell)
                .to_vec(),
        );
    }
    for i in 0..SMALL {
        let sku = format!("P-{i:02}");
        let stock = if i % 2 == 0 { "7" } else { "5" };
        rows.push(
            [sku.as_str(), "", "", "", "", "11", stock, "1"]
                .map(cell)
                .to_vec(),
        );
    }
    let added = format!("V{}", BIG + 1);
    rows.push(
        ["BIG-NEW", "big", "", "", added.as_str(), "10", "3", ""]
            .map(cell)
            .to_vec(),
    );
    rows.push(
        ["NEW-S", "newprod", "New product", "Size", "S", "5", "2", ""]
            .map(cell)
            .to_vec(),
    );
    let seed = json!({"title": "small bucket", "tabs": [{"name": "Inventory", "rows": rows}]});
    SheetsFake::from_seed_json(&seed.to_string()).expect("sheet seed")
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn new() -> Env {
        let sandbox = Sandbox::start(store(), sheet(), 0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = "create_missing = true\npublish_to = [\"Online Store\"]";
        let config = sandbox.write_config(dir.path(), extra).expect("config");
        let text = std::fs::read_to_string(&config).expect("config text");
        let text = text
            .replacen("compare_at_price = \"Compare-at price\"\n", "", 1)
            .replacen("cost = \"Cost\"\n", "", 1)
            .replacen("barcode = \"Barcode\"\n", COLUMNS, 1);
        std::fs::write(&config, text).expect("write config");
        Env {
            sandbox,
            _dir: dir,
            config,
        }
    }
}

fn is_mutation(r: &RequestLog) -> bool {
    r.root_fields
        .iter()
        .any(|f| MUTATIONS.contains(&f.as_str()))
}

fn throttled(log: &[RequestLog]) -> usize {
    log.iter()
        .filter(|r| r.error_codes.iter().any(|c| c == "THROTTLED"))
        .count()
}

/// Points per second the run drew from the bucket while writing: from the first mutation
/// the fake answered to the last, everything charged in between (re-reads and re-plans
/// included) past what the bucket still held after the first. That is at most the
/// restore rate, whatever the bucket's size.
fn write_rate(log: &[RequestLog]) -> (f64, Duration, f64) {
    let first = log.iter().position(is_mutation).expect("a mutation");
    let last = log.iter().rposition(is_mutation).expect("a mutation");
    let window = log[last].at.duration_since(log[first].at);
    let spent: f64 = log[first + 1..=last]
        .iter()
        .map(|r| r.actual_cost.unwrap_or(0.0))
        .sum();
    let past_bucket = spent - log[first].bucket_after;
    (past_bucket / window.as_secs_f64(), window, spent)
}

/// A full `sync` (paged reads, field and stock writes, a stale stock write re-read and
/// re-planned, a variant added to a product with more variants than a page, a product
/// created and published) against a bucket of `maximum` points restoring `rate` a second.
async fn full_sync_fits(maximum: f64, rate: f64) {
    let env = Env::new().await;
    let shop = &env.sandbox.shopify;
    shop.set_bucket(maximum, rate);
    // A sale lands between the read and the first stock write: that write is stale.
    shop.set_available_before_next_set("P-00", "Main Warehouse", 4);

    let started = Instant::now();
    let (code, stdout, stderr) = tokio::time::timeout(
        Duration::from_secs(300),
        common::run_sheetsync(
            &env.config,
            &["sync", "--json", "--yes", "--adopt", "sheet"],
        ),
    )
    .await
    .expect("the run ends");
    let wall = started.elapsed();
    let report = common::json_output(code, &stdout, &stderr);
    let log = shop.requests();
    let (spend, window, spent) = write_rate(&log);
    println!(
        "bucket {maximum:.0} points restoring {rate:.0}/s: exit {code}, wall {:.2} s, {} requests, \
         {} throttled; writing {:.2} s, {spent:.0} points, {spend:.1} points/s = {:.0}% of the restore rate",
        wall.as_secs_f64(),
        log.len(),
        throttled(&log),
        window.as_secs_f64(),
        100.0 * spend / rate
    );

    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(throttled(&log), 0, "{stderr}");
    assert!(
        spend >= 0.9 * rate,
        "writes spent {spend:.1} points/s of {rate}/s"
    );
    for r in &log {
        let cost = r.requested_cost.unwrap_or(0.0);
        assert!(cost <= maximum, "{:?} asked {cost}", r.operation_name);
    }
    let ops = |name: &str| {
        log.iter()
            .filter(|r| r.operation_name.as_deref() == Some(name))
            .count()
    };
    // The reads came in pages the bucket holds: at 50 points, the big product's variants
    // (about 41 a page) in two.
    let big_pages = log
        .iter()
        .filter(|r| r.operation_name.as_deref() == Some("ProductByHandle"))
        .filter(|r| r.variables["handle"] == "big")
        .count();
    assert!(big_pages >= 1);
    if maximum <= 50.0 {
        assert!(big_pages >= 2, "{big_pages} pages of big's variants");
    }
    assert!(ops("VariantsPage") >= 2);
    assert!(ops("VariantsByIds") >= 1, "the stale write was re-read");
    // Everything landed: prices, the re-planned stock, the added variant, the new product.
    for i in 0..SMALL {
        let v = &shop.variants_with_sku(&format!("P-{i:02}"))[0];
        assert_eq!(v.price, rust_decimal::Decimal::new(11, 0), "P-{i:02}");
    }
    assert_eq!(shop.available("P-02", "Main Warehouse"), Some(7));
    let big = &shop.products_with_handle("big")[0];
    assert_eq!(big.variants.len(), BIG + 1);
    assert!(
        big.variants
            .iter()
            .any(|(sku, _)| sku.as_deref() == Some("BIG-NEW"))
    );
    assert_eq!(
        shop.products_with_handle("newprod")[0].published,
        ["Online Store"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_sync_fits_a_bucket_of_100() {
    full_sync_fits(100.0, 100.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_sync_fits_a_bucket_of_50() {
    full_sync_fits(50.0, 50.0).await;
}

/// A bucket smaller than one variant of a page: the run stops at once, exit 1, naming the
/// query and the bucket, after one refused request instead of minutes of retries.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_can_never_fit_is_exit_1_at_once() {
    let env = Env::new().await;
    let shop = &env.sandbox.shopify;
    // A page of one variant with one of its inventory levels costs 10 points.
    shop.set_bucket(6.0, 10.0);
    let started = Instant::now();
    let (code, _, stderr) = tokio::time::timeout(
        Duration::from_secs(120),
        common::run_sheetsync(&env.config, &["sync", "--yes", "--adopt", "sheet"]),
    )
    .await
    .expect("the run ends instead of retrying");
    println!(
        "bucket 6: exit {code} after {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        stderr.trim()
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("VariantsPage")
            && stderr.contains("10 points")
            && stderr.contains("6 points"),
        "{stderr}"
    );
    assert!(throttled(&shop.requests()) <= 1, "one refusal, no retries");
    assert!(shop.applied_mutations().is_empty());
}

/// A product with more changed variants than one `productVariantsBulkUpdate` the bucket
/// holds (10 points and 0.2 a variant: 120 variants cost 34, the bucket 30) is updated in
/// several calls, each within the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn a_product_update_larger_than_the_bucket_goes_in_several_calls() {
    const N: usize = 120;
    let variants: Vec<Value> = (0..N)
        .map(|i| {
            json!({"id": 1000 + i, "title": format!("V{i}"), "sku": format!("W-{i:03}"),
                "price": "10.00", "inventoryItemId": 5000 + i, "levels": {"1": 5, "2": 1}})
        })
        .collect();
    let seed = json!({
        "shop": {"name": "Wide", "domain": "wide.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": "Main Warehouse"}, {"id": 2, "name": "Outlet"}],
        "products": [{"id": 10, "title": "Wide", "handle": "wide", "variants": variants}],
    });
    let shop = ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed");
    let mut rows = vec![
        ["SKU", "Price", "Stock", "Outlet stock"]
            .map(|h| json!(h))
            .to_vec(),
    ];
    for i in 0..N {
        rows.push(vec![
            json!(format!("W-{i:03}")),
            json!(12),
            json!(5),
            json!(1),
        ]);
    }
    let sheet = json!({"title": "wide", "tabs": [{"name": "Inventory", "rows": rows}]});
    let sheets = SheetsFake::from_seed_json(&sheet.to_string()).expect("sheet seed");
    let sandbox = Sandbox::start(shop, sheets, 0).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let text = std::fs::read_to_string(&config)
        .expect("config text")
        .replacen("compare_at_price = \"Compare-at price\"\n", "", 1)
        .replacen("cost = \"Cost\"\n", "", 1)
        .replacen("barcode = \"Barcode\"\n", "", 1);
    std::fs::write(&config, text).expect("write config");
    sandbox.shopify.set_bucket(30.0, 300.0);

    let (code, stdout, stderr) = tokio::time::timeout(
        Duration::from_secs(300),
        common::run_sheetsync(&config, &["sync", "--json", "--yes", "--adopt", "sheet"]),
    )
    .await
    .expect("the run ends");
    let report = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let log = sandbox.shopify.requests();
    assert_eq!(throttled(&log), 0);
    let updates: Vec<&RequestLog> = log
        .iter()
        .filter(|r| r.operation_name.as_deref() == Some("VariantsBulkUpdate"))
        .collect();
    assert!(updates.len() >= 2, "{} calls", updates.len());
    assert!(
        updates
            .iter()
            .all(|r| r.requested_cost.unwrap_or(0.0) <= 30.0)
    );
    for i in 0..N {
        let v = &sandbox.shopify.variants_with_sku(&format!("W-{i:03}"))[0];
        assert_eq!(v.price, rust_decimal::Decimal::new(12, 0), "W-{i:03}");
    }
}

/// An item stocked at more locations than a page of one variant can carry within the
/// bucket (30 levels at 2 points each, a bucket of 50): the variant pages ask for fewer
/// levels and the rest of each item's levels are read page by page, so the configured
/// locations (the last two) are found and only the real difference is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_at_more_locations_than_a_page_holds_is_read_in_full() {
    const LOCATIONS: u64 = 30;
    let mut locations: Vec<Value> = (1..=LOCATIONS - 2)
        .map(|i| json!({"id": i, "name": format!("Depot {i}")}))
        .collect();
    locations.push(json!({"id": LOCATIONS - 1, "name": "Outlet"}));
    locations.push(json!({"id": LOCATIONS, "name": "Main Warehouse"}));
    let levels: serde_json::Map<String, Value> = (1..=LOCATIONS)
        .map(|i| (i.to_string(), json!(if i == LOCATIONS { 5 } else { 1 })))
        .collect();
    let products: Vec<Value> = (0..3)
        .map(|i| {
            json!({"id": 10 + i, "title": format!("Item {i}"), "variants": [
                {"id": 100 + i, "title": "Default Title", "sku": format!("L-{i}"), "price": "10.00",
                 "inventoryItemId": 500 + i, "levels": levels}]})
        })
        .collect();
    let seed = json!({
        "shop": {"name": "Many", "domain": "many.myshopify.com", "currency": "USD"},
        "locations": locations,
        "products": products,
    });
    let shop = ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed");
    let mut rows = vec![
        ["SKU", "Price", "Stock", "Outlet stock"]
            .map(|h| json!(h))
            .to_vec(),
    ];
    for (i, main) in [5, 9, 5].into_iter().enumerate() {
        rows.push(vec![
            json!(format!("L-{i}")),
            json!(10),
            json!(main),
            json!(1),
        ]);
    }
    let sheet = json!({"title": "many", "tabs": [{"name": "Inventory", "rows": rows}]});
    let sheets = SheetsFake::from_seed_json(&sheet.to_string()).expect("sheet seed");
    let sandbox = Sandbox::start(shop, sheets, 0).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let text = std::fs::read_to_string(&config)
        .expect("config text")
        .replacen("compare_at_price = \"Compare-at price\"\n", "", 1)
        .replacen("cost = \"Cost\"\n", "", 1)
        .replacen("barcode = \"Barcode\"\n", "", 1);
    std::fs::write(&config, text).expect("write config");
    sandbox.shopify.set_bucket(50.0, 100.0);

    let (code, stdout, stderr) = tokio::time::timeout(
        Duration::from_secs(300),
        common::run_sheetsync(&config, &["sync", "--json", "--yes", "--adopt", "sheet"]),
    )
    .await
    .expect("the run ends");
    let report = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let log = sandbox.shopify.requests();
    assert_eq!(throttled(&log), 0);
    assert!(log.iter().all(|r| r.requested_cost.unwrap_or(0.0) <= 50.0));
    assert!(
        log.iter()
            .any(|r| r.operation_name.as_deref() == Some("InventoryLevels"))
    );
    let changes = report["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{report:#}");
    assert_eq!(changes[0]["sku"], "L-1");
    let applied: Vec<String> = sandbox
        .shopify
        .applied_mutations()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(applied, ["inventorySetQuantities"]);
    assert_eq!(sandbox.shopify.available("L-1", "Main Warehouse"), Some(9));
    assert_eq!(sandbox.shopify.available("L-0", "Main Warehouse"), Some(5));
}
