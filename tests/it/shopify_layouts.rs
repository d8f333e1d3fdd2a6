//! `sheet.layout = "shopify-products"` / `"shopify-inventory"` (both inventory export
//! forms) on Shopify's own CSV files
//! (`../shared/fixtures/shopify/csv/`), loaded into the sandbox sheet at test time and
//! synced by the binary. Skipped, loudly, when the fixtures are absent, and failed instead
//! under `SHEETSYNC_REQUIRE_SHARED=1` (CI).

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::shared::shared_path;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::ShopifyFake;

/// The rows of one of Shopify's CSV files from ../shared, for `test`: `None` when absent
/// and not required ([`shared_path`] says so, or fails the test under
/// `SHEETSYNC_REQUIRE_SHARED=1`).
fn csv_rows(test: &str, name: &str) -> Option<Vec<Vec<String>>> {
    let path = shared_path(test, &format!("fixtures/shopify/csv/{name}"))?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(parse_csv(&text))
}

/// RFC 4180: quoted fields may hold commas, newlines and doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A cell as Sheets holds it after an import: numbers become numbers (so barcodes lose
/// nothing here only because these have no leading zero), the rest stays text.
fn cell(text: &str) -> Value {
    match text.parse::<f64>() {
        Ok(n) if !text.starts_with('0') || text == "0" || text.starts_with("0.") => json!(n),
        _ => json!(text),
    }
}

/// The CSV as records keyed by header.
fn records(rows: &[Vec<String>]) -> Vec<BTreeMap<String, String>> {
    rows[1..]
        .iter()
        .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn new(store: Value, rows: &[Vec<String>], layout: &str, inventory: &str) -> Env {
        let grid: Vec<Vec<Value>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.iter()
                    .map(|c| if i == 0 { json!(c) } else { cell(c) })
                    .collect()
            })
            .collect();
        let sheet = json!({"title": "csv", "tabs": [{"name": "Inventory", "rows": grid}]});
        let sandbox = Sandbox::start(
            ShopifyFake::from_seed_json(&store.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
                .expect("store"),
            SheetsFake::from_seed_json(&sheet.to_string()).expect("sheet"),
            0,
        )
        .await
        .expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let text = std::fs::read_to_string(&config).expect("config text");
        let start = text.find("[sheet.columns]").expect("columns");
        let end = text
            .find("\"Outlet\" = \"Outlet stock\"\n")
            .expect("inventory")
            + "\"Outlet\" = \"Outlet stock\"\n".len();
        let text = format!(
            "{}[sheet.inventory]\n{inventory}\n{}",
            &text[..start],
            &text[end..]
        )
        .replacen(
            "tab = \"Inventory\"\n",
            &format!("tab = \"Inventory\"\nlayout = \"{layout}\"\n"),
            1,
        );
        std::fs::write(&config, text).expect("write config");
        Env {
            sandbox,
            _dir: dir,
            config,
        }
    }

    async fn sync_json(&self, args: &[&str]) -> (i32, Value) {
        let (code, report, _) = self.sync_logged(args).await;
        (code, report)
    }

    /// The exit code, the JSON report and stderr (warnings).
    async fn sync_logged(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["sync", "--json"];
        all.extend(args);
        let (code, stdout, stderr) = common::run_sheetsync(&self.config, &all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report, stderr)
    }

    fn mutations(&self) -> usize {
        self.sandbox.shopify.applied_mutations().len()
    }
}

/// (sku, field, to) of every change, sorted.
fn changes(report: &Value) -> Vec<(String, String, Value)> {
    let mut out: Vec<_> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["sku"].as_str().unwrap_or_default().to_owned(),
                c["field"].as_str().unwrap_or_default().to_owned(),
                c["to"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_product_template_syncs_through_the_products_preset() {
    let Some(rows) = csv_rows(
        "shopify_product_template_syncs_through_the_products_preset",
        "product_template.csv",
    ) else {
        return;
    };
    let recs = records(&rows);

    // A store holding what the template says, except where this test changes it.
    let mut products: Vec<Value> = Vec::new();
    let mut next = 1u64;
    for r in &recs {
        let handle = &r["Handle"];
        if !r["Title"].is_empty() {
            products.push(json!({
                "id": 100 + products.len() as u64, "handle": handle, "title": r["Title"],
                "status": r["Status"].to_uppercase(), "vendor": r["Vendor"],
                "productType": r["Type"], "descriptionHtml": r["Body (HTML)"],
                "tags": r["Tags"].split(',').map(str::trim).collect::<Vec<_>>(),
                "variants": [],
            }));
        }
        if r["Variant SKU"].is_empty() {
            continue;
        }
        next += 1;
        let money = |k: &str| (!r[k].is_empty()).then(|| r[k].clone());
        let variant = json!({
            "id": 1000 + next, "inventoryItemId": 2000 + next, "sku": r["Variant SKU"],
            "price": r["Variant Price"], "compareAtPrice": money("Variant Compare At Price"),
            "barcode": money("Variant Barcode"), "unitCost": money("Cost per item"),
        });
        let product = products
            .iter_mut()
            .rev()
            .find(|p| p["handle"] == json!(handle))
            .expect("product row first");
        product["variants"]
            .as_array_mut()
            .expect("variants")
            .push(variant);
    }
    // Drift for the sync to repair: a title, a status, a price, a cost, a type and a
    // description (Shopify's "Body (HTML)" column, HTML as text).
    products[0]["title"] = json!("Old T-Shirt");
    products[0]["productType"] = json!("Tops");
    let body = products[1]["descriptionHtml"].clone();
    products[1]["descriptionHtml"] = json!("<p>Old pants.</p>");
    products[1]["status"] = json!("ACTIVE");
    products[1]["variants"][0]["price"] = json!("90.00");
    products[2]["variants"][0]["unitCost"] = json!("9.00");
    for p in &mut products {
        p.as_object_mut().expect("object").remove("handle");
    }
    let store = json!({
        "shop": {"name": "T", "domain": "template.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": "Shop location"}],
        "products": products,
    });

    let env = Env::new(store, &rows, "shopify-products", "").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet", "--yes"]).await;
    // The image-only row is ignored; every other row has a SKU: no row error.
    assert_eq!(report["errors"], json!([]), "{report:#}");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        changes(&report),
        vec![
            ("HAT_GRY_275".into(), "cost".into(), json!("8.50")),
            ("PNT_DEN_285".into(), "description".into(), body.clone()),
            ("PNT_DEN_285".into(), "price".into(), json!("95.00")),
            ("PNT_DEN_285".into(), "status".into(), json!("DRAFT")),
            ("SRT_COT_111".into(), "product_type".into(), json!("Shirts")),
            (
                "SRT_COT_111".into(),
                "title".into(),
                json!("Example T-Shirt")
            ),
        ],
        "{report:#}"
    );
    assert_eq!(
        env.sandbox
            .shopify
            .product_of("PNT_DEN_405")
            .expect("pants")
            .description_html,
        body.as_str().expect("text")
    );
    let shirt = env
        .sandbox
        .shopify
        .product_of("SRT_COT_433")
        .expect("shirt");
    assert_eq!(shirt.title, "Example T-Shirt");
    assert_eq!(
        env.sandbox
            .shopify
            .product_of("PNT_DEN_405")
            .expect("pants")
            .status,
        "DRAFT"
    );

    let before = env.mutations();
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert_eq!(env.mutations(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_products_export_without_skus_is_row_errors_and_image_rows_are_ignored() {
    let Some(rows) = csv_rows(
        "a_products_export_without_skus_is_row_errors_and_image_rows_are_ignored",
        "products_export.csv",
    ) else {
        return;
    };
    let recs = records(&rows);
    let variant_rows = recs
        .iter()
        .filter(|r| !r["Variant Price"].is_empty() || !r["Title"].is_empty())
        .count();
    let image_rows = recs.len() - variant_rows;
    assert!(image_rows > 0, "the export has image-only rows");
    let store = json!({
        "shop": {"name": "E", "domain": "export.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": "Shop location"}],
        "products": [],
    });
    let env = Env::new(store, &rows, "shopify-products", "").await;
    let (code, report) = env.sync_json(&["--dry-run"]).await;
    assert_eq!(code, 3, "{report:#}");
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), variant_rows, "{report:#}");
    assert!(
        errors
            .iter()
            .all(|e| e["message"] == "row has values but no SKU"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_inventory_export_with_location_columns_syncs_stock() {
    let Some(rows) = csv_rows(
        "shopify_inventory_export_with_location_columns_syncs_stock",
        "inventory_export_legacy_location_columns_head.csv",
    ) else {
        return;
    };
    let recs = records(&rows);
    let location = rows[0].last().expect("a location column").clone();
    let products: Vec<Value> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let stock: i64 = r[&location].parse().expect("stock");
            // The first item drifted in the store: the sheet's count goes back.
            let held = if i == 0 { stock + 5 } else { stock };
            json!({"id": 100 + i, "title": r["Title"], "variants": [{
                "id": 1000 + i, "inventoryItemId": 2000 + i, "sku": r["SKU"], "price": "1.00",
                "levels": {"1": held},
            }]})
        })
        .collect();
    let store = json!({
        "shop": {"name": "I", "domain": "inventory.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": location}],
        "products": products,
    });
    let env = Env::new(
        store,
        &rows,
        "shopify-inventory",
        &format!("{location:?} = {location:?}"),
    )
    .await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    let first = &recs[0];
    let want: i64 = first[&location].parse().expect("stock");
    assert_eq!(
        changes(&report),
        vec![(first["SKU"].clone(), "inventory".into(), json!(want))],
        "{report:#}"
    );
    assert_eq!(
        env.sandbox.shopify.available(&first["SKU"], &location),
        Some(want)
    );
}

/// The current export's rows as records, with a SKU made from the handle and option
/// values for every row (the recorded export has none).
fn with_skus(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (sku, handle) = (col("SKU"), col("Handle"));
    let options: Vec<usize> = ["Option1 Value", "Option2 Value", "Option3 Value"]
        .iter()
        .map(|h| col(h))
        .collect();
    let mut out = vec![header.clone()];
    for r in &rows[1..] {
        let mut r = r.clone();
        let mut parts = vec![r[handle].clone()];
        parts.extend(
            options
                .iter()
                .map(|&i| r[i].clone())
                .filter(|v| !v.is_empty()),
        );
        r[sku] = parts.join("-").to_uppercase().replace(' ', "_");
        out.push(r);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_inventory_export_without_skus_is_skipped_with_a_warning() {
    let Some(rows) = csv_rows(
        "the_current_inventory_export_without_skus_is_skipped_with_a_warning",
        "inventory_export.csv",
    ) else {
        return;
    };
    let recs = records(&rows);
    assert!(
        recs.iter().all(|r| r["SKU"].is_empty()),
        "the export has no SKUs"
    );
    let location = recs[0]["Location"].clone();
    let store = json!({
        "shop": {"name": "I", "domain": "inventory.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": location}],
        "products": [],
    });
    let env = Env::new(
        store,
        &rows,
        "shopify-inventory",
        &format!("{location:?} = {location:?}"),
    )
    .await;
    let (code, report, stderr) = env.sync_logged(&["--dry-run"]).await;
    // Not row errors (Shopify lists every variant, SKU or not), not an empty sheet: a
    // warning with the count.
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["errors"], json!([]), "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert!(
        stderr.contains(&format!("{} row(s) without a SKU skipped", recs.len())),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_inventory_export_syncs_available_per_location_and_pulls_into_that_row() {
    let Some(rows) = csv_rows(
        "the_current_inventory_export_syncs_available_per_location_and_pulls_into_that_row",
        "inventory_export.csv",
    ) else {
        return;
    };
    let exported = with_skus(&rows);
    let header = exported[0].clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (sku_c, loc_c, avail_c) = (col("SKU"), col("Location"), col("Available"));
    let shop = exported[1][loc_c].clone();
    // A second location, as a store with two locations exports it: every variant again
    // with its own counts, the rows interleaved per variant; plus a row at a location the
    // config does not list, which is not read.
    let mut rows = vec![header.clone()];
    for r in &exported[1..] {
        rows.push(r.clone());
        let mut w = r.clone();
        w[loc_c] = "Warehouse".into();
        w[avail_c] = "7".into();
        rows.push(w);
    }
    let mut popup = exported[1].clone();
    popup[loc_c] = "Popup".into();
    popup[avail_c] = "1".into();
    rows.push(popup);
    // Write-back columns: the status lands on the row of the SKU and location.
    for (i, r) in rows.iter_mut().enumerate() {
        if i == 0 {
            r.extend(["Sync status".to_owned(), "Last synced".to_owned()]);
        } else {
            r.extend([String::new(), String::new()]);
        }
    }
    let recs = records(&rows);

    // The store: each variant at both locations; the first variant drifted at both, the
    // second only at the warehouse.
    let first = recs[0]["SKU"].clone();
    let second = recs[2]["SKU"].clone();
    let products: Vec<Value> = recs
        .iter()
        .filter(|r| r["Location"] == shop)
        .enumerate()
        .map(|(i, r)| {
            let available: i64 = r["Available"].parse().expect("available");
            let (at_shop, at_warehouse) = match i {
                0 => (available + 5, 9),
                1 => (available, 3),
                _ => (available, 7),
            };
            json!({"id": 100 + i, "title": r["Title"], "variants": [{
                "id": 1000 + i, "inventoryItemId": 2000 + i, "sku": r["SKU"], "price": "1.00",
                "levels": {"1": at_shop, "2": at_warehouse},
            }]})
        })
        .collect();
    let store = json!({
        "shop": {"name": "I", "domain": "inventory.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": shop}, {"id": 2, "name": "Warehouse"}],
        "products": products,
    });
    let env = Env::new(
        store,
        &rows,
        "shopify-inventory",
        &format!("{shop:?} = {shop:?}\n\"Warehouse\" = \"Warehouse\""),
    )
    .await;

    let (code, report, stderr) = env.sync_logged(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["errors"], json!([]), "{report:#}");
    let mut got: Vec<(String, String, i64, u64)> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["sku"].as_str().unwrap_or_default().to_owned(),
                c["location"].as_str().unwrap_or_default().to_owned(),
                c["to"].as_i64().unwrap_or(-1),
                c["row"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    let want_shop: i64 = recs[0]["Available"].parse().expect("available");
    let mut want = vec![
        (first.clone(), shop.clone(), want_shop, 2),
        (first.clone(), "Warehouse".to_owned(), 7, 3),
        (second.clone(), "Warehouse".to_owned(), 7, 5),
    ];
    want.sort();
    assert_eq!(got, want, "{report:#}");
    assert_eq!(
        env.sandbox.shopify.available(&first, &shop),
        Some(want_shop)
    );
    assert_eq!(env.sandbox.shopify.available(&first, "Warehouse"), Some(7));
    assert!(
        stderr.contains("at location \"Popup\" not read"),
        "{stderr}"
    );

    // A sale at the warehouse: three-way pulls it into the SKU's warehouse row only.
    assert!(env.sandbox.shopify.set_available(&second, "Warehouse", 4));
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    let pulled = report["pulled"].as_array().expect("pulled");
    assert_eq!(pulled.len(), 1, "{report:#}");
    assert_eq!(
        (
            &pulled[0]["sku"],
            &pulled[0]["location"],
            &pulled[0]["row"],
            &pulled[0]["status"]
        ),
        (
            &json!(second),
            &json!("Warehouse"),
            &json!(5),
            &json!("applied")
        ),
        "{report:#}"
    );
    let sheet = env.sandbox.sheets.rows("Inventory");
    assert_eq!(sheet[4][sku_c], json!(second));
    assert_eq!(sheet[4][loc_c], json!("Warehouse"));
    assert_eq!(sheet[4][avail_c], json!(4));
    assert_eq!(sheet[3][loc_c], json!(shop));
    assert_eq!(
        sheet[3][avail_c].as_f64(),
        Some(recs[2]["Available"].parse().expect("n"))
    );
    let status = header.len();
    assert_eq!(sheet[4][status], json!("OK"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_inventory_export_refuses_a_sku_twice_at_one_location_and_unlisted_locations() {
    let Some(rows) = csv_rows(
        "the_current_inventory_export_refuses_a_sku_twice_at_one_location_and_unlisted_locations",
        "inventory_export.csv",
    ) else {
        return;
    };
    let exported = with_skus(&rows);
    let recs = records(&exported);
    let shop = recs[0]["Location"].clone();
    let mut rows = exported[..4].to_vec();
    rows.push(exported[1].clone());
    let products: Vec<Value> = recs[..3]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({"id": 100 + i, "title": r["Title"], "variants": [{
                "id": 1000 + i, "inventoryItemId": 2000 + i, "sku": r["SKU"], "price": "1.00",
                "levels": {"1": 0},
            }]})
        })
        .collect();
    let store = json!({
        "shop": {"name": "I", "domain": "inventory.myshopify.com", "currency": "USD"},
        "locations": [{"id": 1, "name": shop}, {"id": 2, "name": "Warehouse"}],
        "products": products,
    });
    let env = Env::new(
        store.clone(),
        &rows,
        "shopify-inventory",
        &format!("{shop:?} = {shop:?}"),
    )
    .await;
    let (code, report) = env.sync_json(&["--dry-run"]).await;
    assert_eq!(code, 3, "{report:#}");
    let errors = report["errors"].as_array().expect("errors");
    let rows_in_error: Vec<u64> = errors.iter().filter_map(|e| e["row"].as_u64()).collect();
    assert_eq!(rows_in_error, vec![2, 5], "{report:#}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("at location {shop:?} also appears in row 5"))),
        "{report:#}"
    );

    // The config lists only a location no row is at: a config error naming both.
    let env = Env::new(
        store,
        &rows,
        "shopify-inventory",
        "\"Warehouse\" = \"Warehouse\"",
    )
    .await;
    let (code, _, stderr) = common::run_sheetsync(&env.config, &["sync", "--dry-run"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no row of Inventory is at a location of [sheet.inventory]")
            && stderr.contains(&format!("{shop:?}")),
        "{stderr}"
    );
}
