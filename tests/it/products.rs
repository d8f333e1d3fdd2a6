//! Product fields end to end: the `sheetsync` binary against the sandbox, with a sheet
//! that carries title, status, tags, vendor, type and description columns.

use crate::common;

use std::path::PathBuf;

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::ShopifyFake;

const HEADER: [&str; 13] = [
    "SKU",
    "Product",
    "Status",
    "Tags",
    "Vendor",
    "Price",
    "Compare-at price",
    "Cost",
    "Barcode",
    "Stock",
    "Outlet stock",
    "Type",
    "Description",
];

fn store() -> ShopifyFake {
    let seed = json!({
        "shop": {"name": "P", "domain": "products-test.myshopify.com", "currency": "USD"},
        "locations": [
            {"id": 1, "name": "Main Warehouse"},
            {"id": 2, "name": "Outlet"}
        ],
        "products": [
            {"id": 10, "title": "Tee", "tags": ["cotton"], "vendor": "Acme",
             "productType": "Shirts", "descriptionHtml": "<p>Old tee.</p>\n", "variants": [
                {"id": 101, "sku": "TEE-S", "price": "10.00", "inventoryItemId": 1001},
                {"id": 102, "sku": "TEE-M", "price": "10.00", "inventoryItemId": 1002}
            ]},
            {"id": 20, "title": "Mug", "status": "DRAFT", "descriptionHtml": "<p>A mug.</p>",
             "variants": [
                {"id": 201, "sku": "MUG", "price": "5.00", "inventoryItemId": 2001}
            ]}
        ]
    });
    ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed")
}

/// Rows under `HEADER`: (sku, product, status, tags, vendor), and optionally, in the
/// last two columns, (type, description).
fn sheet(rows: &[[&str; 5]], typed: &[[&str; 2]]) -> SheetsFake {
    let mut all = vec![HEADER.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    all.extend(rows.iter().enumerate().map(|(i, r)| {
        let mut cells: Vec<Value> = r.iter().map(|c| json!(c)).collect();
        if let Some(t) = typed.get(i) {
            cells.resize(HEADER.len() - 2, json!(""));
            cells.extend(t.iter().map(|c| json!(c)));
        }
        cells
    }));
    let seed = json!({"title": "products", "tabs": [{"name": "Inventory", "rows": all}]});
    SheetsFake::from_seed_json(&seed.to_string()).expect("sheet seed")
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn new(rows: &[[&str; 5]]) -> Env {
        Env::typed(rows, &[]).await
    }

    async fn typed(rows: &[[&str; 5]], typed: &[[&str; 2]]) -> Env {
        let sandbox = Sandbox::start(store(), sheet(rows, typed), 0)
            .await
            .expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let text = std::fs::read_to_string(&config).expect("config text");
        let text = text.replacen(
            "barcode = \"Barcode\"\n",
            "barcode = \"Barcode\"\ntitle = \"Product\"\nstatus = \"Status\"\ntags = \"Tags\"\nvendor = \"Vendor\"\nproduct_type = \"Type\"\ndescription = \"Description\"\n",
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
        self.json("sync", args).await
    }

    async fn json(&self, command: &str, args: &[&str]) -> (i32, Value) {
        let mut all = vec![command, "--json"];
        all.extend(args);
        let (code, stdout, stderr) = common::run_sheetsync(&self.config, &all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report)
    }

    /// A sync now has nothing left to do: no write of any kind, nothing in conflict.
    async fn second_sync_writes_nothing(&self) {
        let before = self.mutation_count();
        let (code, report) = self.sync_json(&[]).await;
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["changes"], json!([]), "{report:#}");
        assert_eq!(report["conflicts"], json!([]), "{report:#}");
        assert_eq!(self.mutation_count(), before);
    }

    fn product_updates(&self) -> Vec<Value> {
        self.sandbox
            .shopify
            .applied_mutations()
            .into_iter()
            .filter(|m| m.name == "productUpdate")
            .map(|m| m.args)
            .collect()
    }

    fn mutation_count(&self) -> usize {
        self.sandbox.shopify.applied_mutations().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn product_fields_are_written_once_per_product_and_a_second_sync_writes_nothing() {
    let env = Env::new(&[
        ["TEE-S", "Red Tee", "unlisted", "summer, cotton", ""],
        ["TEE-M", "Red Tee", "UNLISTED", "cotton,summer", "Acme"],
        ["MUG", "", "", "", "Mugs Inc"],
    ])
    .await;

    // Two of three SKUs change: past the change-ratio guard, hence `--yes`.
    let (code, report) = env.sync_json(&["--adopt", "sheet", "--yes"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        applied_changes(&report),
        vec![
            ("MUG".into(), "vendor".into(), json!("Mugs Inc")),
            ("TEE-S".into(), "status".into(), json!("UNLISTED")),
            ("TEE-S".into(), "tags".into(), json!("cotton, summer")),
            ("TEE-S".into(), "title".into(), json!("Red Tee")),
        ]
    );

    // One call per product, carrying only the fields the sheet changed.
    let updates = env.product_updates();
    assert_eq!(updates.len(), 2, "{updates:#?}");
    let tee = updates
        .iter()
        .find(|u| u["product"]["id"] == "gid://shopify/Product/10")
        .expect("tee update");
    assert_eq!(
        tee["product"],
        json!({
            "id": "gid://shopify/Product/10",
            "title": "Red Tee",
            "status": "UNLISTED",
            "tags": ["cotton", "summer"]
        })
    );

    let tee = env.sandbox.shopify.product_of("TEE-M").expect("tee");
    assert_eq!(
        (tee.title.as_str(), tee.status.as_str(), tee.vendor.as_str()),
        ("Red Tee", "UNLISTED", "Acme")
    );
    assert_eq!(tee.tags, vec!["cotton", "summer"]);
    let mug = env.sandbox.shopify.product_of("MUG").expect("mug");
    assert_eq!(
        (mug.vendor.as_str(), mug.status.as_str()),
        ("Mugs Inc", "DRAFT")
    );

    env.second_sync_writes_nothing().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_one_product_that_disagree_are_row_errors_and_nothing_is_written() {
    let env = Env::new(&[
        ["TEE-S", "Red Tee", "", "", ""],
        ["TEE-M", "Blue Tee", "", "", ""],
        ["MUG", "", "archived", "", ""],
    ])
    .await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    let errors = report["errors"].as_array().expect("errors");
    let cells: Vec<&str> = errors.iter().filter_map(|e| e["cell"].as_str()).collect();
    assert_eq!(cells, vec!["Inventory!B2", "Inventory!B3"], "{report:#}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("different title")),
        "{report:#}"
    );
    // The other product goes through; the tee is left alone.
    assert!(
        env.product_updates().len() == 1,
        "{:?}",
        env.product_updates()
    );
    assert_eq!(
        env.sandbox.shopify.product_of("TEE-S").expect("tee").title,
        "Tee"
    );
    assert_eq!(
        env.sandbox.shopify.product_of("MUG").expect("mug").status,
        "ARCHIVED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_status_is_a_row_error_naming_the_statuses() {
    let env = Env::new(&[["MUG", "", "sold out", "", ""]]).await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("UNLISTED"), "{report:#}");
    assert!(env.product_updates().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_fills_blank_product_cells_and_the_next_sync_plans_nothing() {
    let env = Env::new(&[["TEE-S", "", "", "", ""], ["MUG", "", "", "", ""]]).await;
    let (code, report) = env.json("pull", &[]).await;
    assert_eq!(code, 0, "{report:#}");
    let rows = env.sandbox.sheets.rows("Inventory");
    assert_eq!(
        rows[1][..5],
        [
            json!("TEE-S"),
            json!("Tee"),
            json!("ACTIVE"),
            json!("cotton"),
            json!("Acme")
        ]
    );
    assert_eq!(rows[2][..3], [json!("MUG"), json!("Mug"), json!("DRAFT")]);
    // The mug has neither tags nor vendor: those cells stay blank ("leave alone").
    assert!(
        rows[2][3..5].iter().all(|c| c.as_str() == Some("")),
        "{:?}",
        rows[2]
    );
    env.second_sync_writes_nothing().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn product_type_and_description_are_written_with_only_the_changed_fields() {
    let html = "<p>Soft <b>cotton</b>, \"pre-washed\".</p>\n<ul><li>S</li><li>M</li></ul>";
    let env = Env::typed(
        &[
            ["TEE-S", "", "", "", ""],
            ["TEE-M", "", "", "", ""],
            ["MUG", "", "", "", ""],
        ],
        // The tee's type changes and its description is restated on one row only; the
        // mug's description is cleared and its (absent) type cleared too: nothing to do.
        &[["Tees", html], ["", html], ["CLEAR", "clear"]],
    )
    .await;
    let (code, report) = env.sync_json(&["--adopt", "sheet", "--yes"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        applied_changes(&report),
        vec![
            ("MUG".into(), "description".into(), Value::Null),
            ("TEE-S".into(), "description".into(), json!(html)),
            ("TEE-S".into(), "product_type".into(), json!("Tees")),
        ],
        "{report:#}"
    );
    let mut updates = env.product_updates();
    updates.sort_by_key(|u| u["product"]["id"].as_str().map(str::to_owned));
    assert_eq!(
        updates,
        vec![
            json!({"product": {"id": "gid://shopify/Product/10", "productType": "Tees",
                               "descriptionHtml": html}}),
            json!({"product": {"id": "gid://shopify/Product/20", "descriptionHtml": ""}}),
        ]
    );
    let tee = env.sandbox.shopify.product_of("TEE-M").expect("tee");
    assert_eq!(
        (tee.product_type.as_str(), tee.description_html.as_str()),
        ("Tees", html)
    );
    let mug = env.sandbox.shopify.product_of("MUG").expect("mug");
    assert_eq!(
        (mug.product_type.as_str(), mug.description_html.as_str()),
        ("", "")
    );

    env.second_sync_writes_nothing().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_fills_type_and_description_and_a_store_edit_is_pulled_by_the_next_sync() {
    let env = Env::typed(&[["TEE-S", "", "", "", ""]], &[["", ""]]).await;
    let (code, report) = env.json("pull", &[]).await;
    assert_eq!(code, 0, "{report:#}");
    let rows = env.sandbox.sheets.rows("Inventory");
    // Stored trimmed, as every cell is compared.
    assert_eq!(rows[1][11..13], [json!("Shirts"), json!("<p>Old tee.</p>")]);

    // The description is edited in the admin: three-way pulls it into the unchanged cell.
    assert!(
        env.sandbox
            .shopify
            .set_description("TEE-S", "<p>New tee.</p>")
    );
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    let pulled: Vec<(&str, &Value)> = report["pulled"]
        .as_array()
        .expect("pulled")
        .iter()
        .map(|p| (p["field"].as_str().unwrap_or_default(), &p["to"]))
        .collect();
    assert_eq!(pulled, vec![("description", &json!("<p>New tee.</p>"))]);
    assert_eq!(
        env.sandbox.sheets.rows("Inventory")[1][12],
        json!("<p>New tee.</p>")
    );
}

/// The report's changes as (SKU, field, new value), sorted; each must have been applied.
fn applied_changes(report: &Value) -> Vec<(String, String, Value)> {
    let mut fields: Vec<(String, String, Value)> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "applied", "{c}");
            (
                c["sku"].as_str().unwrap_or_default().to_owned(),
                c["field"].as_str().unwrap_or_default().to_owned(),
                c["to"].clone(),
            )
        })
        .collect();
    fields.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    fields
}
