//! `sync.create_missing` end to end: the `sheetsync` binary against the sandbox. Rows
//! whose SKU the store lacks become products (one per handle, with options) or variants
//! added to the store's product with that handle; a second sync writes nothing; a kill
//! between `productCreate` and the variants leaves one product after the re-run. With
//! `sync.publish_to`, created products are published to those sales channels.

use crate::common;

use std::path::PathBuf;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::{HoldPoint, ShopifyFake};

const HEADER: [&str; 9] = [
    "SKU",
    "Handle",
    "Title",
    "Status",
    "Option1 Name",
    "Option1 Value",
    "Price",
    "Stock",
    "Outlet stock",
];

/// The columns of `HEADER` after SKU as config keys; stock comes from `[sheet.inventory]`.
const COLUMNS: &str = "handle = \"Handle\"\ntitle = \"Title\"\nstatus = \"Status\"\n\
    option1_name = \"Option1 Name\"\noption1_value = \"Option1 Value\"\n";

fn store() -> ShopifyFake {
    let seed = json!({
        "shop": {"name": "C", "domain": "create-test.myshopify.com", "currency": "USD"},
        "locations": [
            {"id": 1, "name": "Main Warehouse"},
            {"id": 2, "name": "Outlet"}
        ],
        "products": [
            {"id": 10, "title": "Tee", "handle": "tee", "variants": [
                {"id": 101, "title": "S", "sku": "TEE-S", "price": "10.00", "inventoryItemId": 1001},
                {"id": 102, "title": "M", "sku": "TEE-M", "price": "10.00", "inventoryItemId": 1002}
            ]}
        ]
    });
    ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed")
}

type Row<'a> = [&'a str; 9];

const TEE_S: Row = ["TEE-S", "", "", "", "", "", "10", "", ""];
const TEE_M: Row = ["TEE-M", "", "", "", "", "", "10", "", ""];
const HOOD_S: Row = [
    "HOOD-S", "hoodie", "Hoodie", "active", "Size", "S", "30", "5", "",
];
const HOOD_M: Row = ["HOOD-M", "hoodie", "", "", "", "M", "30", "0", ""];
const CAP: Row = [
    "CAP-1",
    "Classic Cap",
    "Classic Cap",
    "",
    "",
    "",
    "12.5",
    "3",
    "2",
];
const TEE_L: Row = ["TEE-L", "tee", "", "", "", "L", "11", "", ""];

fn sheet(rows: &[Row<'_>]) -> SheetsFake {
    let mut all = vec![HEADER.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    all.extend(rows.iter().map(|r| {
        r.iter()
            .map(|c| match c.parse::<f64>() {
                Ok(n) => json!(n),
                Err(_) => json!(c),
            })
            .collect::<Vec<_>>()
    }));
    let seed = json!({"title": "create", "tabs": [{"name": "Inventory", "rows": all}]});
    SheetsFake::from_seed_json(&seed.to_string()).expect("sheet seed")
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn new(rows: &[Row<'_>], create_missing: bool) -> Env {
        let extra = if create_missing {
            "create_missing = true"
        } else {
            ""
        };
        Env::with(rows, store(), extra).await
    }

    /// `rows` against `shop`, with `extra` lines in the config's `[sync]` table.
    async fn with(rows: &[Row<'_>], shop: ShopifyFake, extra: &str) -> Env {
        let sandbox = Sandbox::start(shop, sheet(rows), 0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), extra).expect("config");
        let text = std::fs::read_to_string(&config).expect("config text");
        // Only the columns this sheet has: SKU, price and stock, plus the product ones.
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

    async fn sync(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["sync", "--json"];
        all.extend(args);
        let (code, stdout, stderr) = common::run_sheetsync(&self.config, &all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report, stderr)
    }

    fn mutations(&self) -> Vec<String> {
        self.sandbox
            .shopify
            .applied_mutations()
            .into_iter()
            .map(|m| m.name)
            .collect()
    }
}

fn changes_of<'a>(report: &'a Value, sku: &str) -> Vec<&'a Value> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["sku"] == sku)
        .collect()
}

#[tokio::test]
async fn creates_one_product_per_handle_and_a_second_sync_writes_nothing() {
    let env = Env::new(&[TEE_S, TEE_M, HOOD_S, HOOD_M, CAP, TEE_L], true).await;
    // Three of five SKUs read get a store write: above the 0.5 change-ratio guard.
    let (code, refused, _) = env.sync(&[]).await;
    assert_eq!(code, 4, "{refused}");
    assert!(env.mutations().is_empty());

    let (code, report, stderr) = env.sync(&["--yes"]).await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "applied"),
        "{report}"
    );
    let hood = changes_of(&report, "HOOD-S");
    assert!(hood.iter().all(|c| c["create"] == "product"), "{report}");
    assert!(
        hood.iter()
            .any(|c| c["field"] == "title" && c["to"] == "Hoodie")
    );
    assert!(
        changes_of(&report, "TEE-L")
            .iter()
            .all(|c| c["create"] == "variant")
    );

    let shop = &env.sandbox.shopify;
    let hoodie = shop.products_with_handle("hoodie");
    assert_eq!(hoodie.len(), 1, "{hoodie:?}");
    assert_eq!(hoodie[0].title, "Hoodie");
    assert_eq!(hoodie[0].status, "ACTIVE");
    assert_eq!(
        hoodie[0].options,
        vec![("Size".to_owned(), vec!["S".to_owned(), "M".to_owned()])]
    );
    assert_eq!(
        hoodie[0].variants,
        vec![
            (Some("HOOD-S".to_owned()), vec!["S".to_owned()]),
            (Some("HOOD-M".to_owned()), vec!["M".to_owned()]),
        ]
    );
    let hood_s = shop.variant("HOOD-S").unwrap();
    assert_eq!(hood_s.price, Decimal::new(30, 0));
    assert!(hood_s.tracked);
    assert_eq!(hood_s.available.get("Main Warehouse"), Some(&5));
    // A zero stock cell never stocks a location.
    assert!(shop.variant("HOOD-M").unwrap().available.is_empty());

    // "Classic Cap" is the handle `classic-cap`; no status cell makes a draft.
    let cap = shop.products_with_handle("classic-cap");
    assert_eq!(cap.len(), 1, "{cap:?}");
    assert_eq!(cap[0].status, "DRAFT");
    assert_eq!(
        cap[0].variants,
        vec![(Some("CAP-1".to_owned()), vec!["Default Title".to_owned()])]
    );
    let cap_1 = shop.variant("CAP-1").unwrap();
    assert_eq!(cap_1.price, Decimal::new(1250, 2));
    assert_eq!(cap_1.available.get("Outlet"), Some(&2));

    // The new tee size joins the store's product; its variants are kept.
    let tee = shop.products_with_handle("tee");
    assert_eq!(tee.len(), 1);
    let skus: Vec<_> = tee[0].variants.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        skus,
        vec![
            Some("TEE-S".to_owned()),
            Some("TEE-M".to_owned()),
            Some("TEE-L".to_owned())
        ]
    );

    // Variants are only ever added: no list replacement, no update of the others.
    let mut ledger = env.mutations();
    ledger.sort();
    assert_eq!(
        ledger,
        [
            "productCreate",
            "productCreate",
            "productVariantsBulkCreate",
            "productVariantsBulkCreate",
            "productVariantsBulkCreate",
        ]
    );
    let tee_call = shop
        .applied_mutations()
        .into_iter()
        .find(|m| m.name == "productVariantsBulkCreate" && m.args["productId"] == tee[0].id)
        .expect("the tee's variant creation");
    assert_eq!(tee_call.args["strategy"], "PRESERVE_STANDALONE_VARIANT");

    let before = env.mutations().len();
    let (code, again, _) = env.sync(&[]).await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["changes"], json!([]), "{again}");
    assert_eq!(again["errors"], json!([]), "{again}");
    assert_eq!(env.mutations().len(), before);
}

#[tokio::test]
async fn dry_run_shows_the_creations_and_creates_nothing() {
    let env = Env::new(&[TEE_S, TEE_M, HOOD_S, HOOD_M, TEE_L], true).await;
    let (code, report, _) = env.sync(&["--dry-run", "--yes"]).await;
    assert_eq!(code, 0, "{report}");
    assert!(
        changes_of(&report, "HOOD-M")
            .iter()
            .any(|c| c["field"] == "price" && c["to"] == "30.00" && c["status"] == "planned")
    );
    assert!(
        changes_of(&report, "TEE-L")
            .iter()
            .all(|c| c["create"] == "variant")
    );
    let (_, human, _) = common::run_sheetsync(&env.config, &["sync", "--dry-run", "--yes"]).await;
    assert!(human.contains("Hoodie (new product \"hoodie\")"), "{human}");
    assert!(human.contains("(new)"), "{human}");
    assert!(env.mutations().is_empty());
    assert!(
        env.sandbox
            .shopify
            .products_with_handle("hoodie")
            .is_empty()
    );
}

#[tokio::test]
async fn without_create_missing_an_unknown_sku_stays_a_row_error() {
    let env = Env::new(&[TEE_S, TEE_M, HOOD_S], false).await;
    let (code, report, _) = env.sync(&[]).await;
    // Exit 3: row errors.
    assert_eq!(code, 3, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["message"], "SKU \"HOOD-S\" is not in the store");
    assert!(env.mutations().is_empty());
}

#[tokio::test]
async fn rows_that_cannot_make_a_product_are_row_errors() {
    let no_handle: Row = ["BAG-1", "", "Bag", "", "", "", "9", "", ""];
    let no_title: Row = ["BELT-1", "belt", "", "", "", "", "9", "", ""];
    let env = Env::new(&[TEE_S, TEE_M, no_handle, no_title], true).await;
    let (_, report, _) = env.sync(&["--yes"]).await;
    let messages: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{report}");
    assert!(messages[0].contains("has no handle"), "{messages:?}");
    assert!(messages[1].contains("gives a title"), "{messages:?}");
    assert!(env.mutations().is_empty());
}

/// Killed after `productCreate` took effect and before the variants were added: the
/// re-run finds the product by its handle, replaces its placeholder variant, and the
/// store ends with exactly one product for the handle.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_between_product_and_variants_leaves_one_product_after_the_rerun() {
    let env = Env::new(&[TEE_S, TEE_M, HOOD_S, HOOD_M], true).await;
    let hold =
        env.sandbox
            .shopify
            .hold_mutation("productVariantsBulkCreate", 1, HoldPoint::BeforeApply);
    let mut child = common::spawn_sheetsync(&env.config, &["sync", "--json", "--yes"]);
    common::held(&hold, "the variant creation reached the sandbox").await;
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    hold.abandon();

    let shop = &env.sandbox.shopify;
    let half = shop.products_with_handle("hoodie");
    assert_eq!(half.len(), 1);
    assert_eq!(half[0].variants, vec![(None, vec!["S".to_owned()])]);

    let (code, report, stderr) = env.sync(&["--yes"]).await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    let hoodie = shop.products_with_handle("hoodie");
    assert_eq!(hoodie.len(), 1, "{hoodie:?}");
    assert_eq!(hoodie[0].id, half[0].id);
    assert_eq!(
        hoodie[0].variants,
        vec![
            (Some("HOOD-S".to_owned()), vec!["S".to_owned()]),
            (Some("HOOD-M".to_owned()), vec!["M".to_owned()]),
        ]
    );
    let creates = env
        .mutations()
        .iter()
        .filter(|m| *m == "productCreate")
        .count();
    assert_eq!(creates, 1);
    let (code, again, _) = env.sync(&[]).await;
    assert_eq!((code, &again["changes"]), (0, &json!([])), "{again}");
}

/// More than 250 new variants of one product go in several calls; only the first may
/// replace the placeholder variant `productCreate` made.
#[tokio::test]
async fn variants_are_created_in_calls_of_at_most_250() {
    let values: Vec<String> = (1..=251).map(|i| format!("V{i}")).collect();
    let skus: Vec<String> = (1..=251).map(|i| format!("BIG-{i}")).collect();
    let mut rows = vec![TEE_S, TEE_M];
    for (i, (sku, value)) in skus.iter().zip(&values).enumerate() {
        let (title, name) = if i == 0 { ("Big", "Variant") } else { ("", "") };
        rows.push([sku, "big", title, "", name, value, "1", "", ""]);
    }
    let env = Env::new(&rows, true).await;
    let (code, report, _) = env.sync(&["--yes"]).await;
    assert_eq!(code, 0, "{report}");
    let calls: Vec<_> = env
        .sandbox
        .shopify
        .applied_mutations()
        .into_iter()
        .filter(|m| m.name == "productVariantsBulkCreate")
        .map(|m| {
            (
                m.args["variants"].as_array().map_or(0, Vec::len),
                m.args["strategy"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (250, "REMOVE_STANDALONE_VARIANT".to_owned()),
            (1, "PRESERVE_STANDALONE_VARIANT".to_owned())
        ]
    );
    let big = env.sandbox.shopify.products_with_handle("big");
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].variants.len(), 251);
    assert!(big[0].variants.iter().all(|(sku, _)| sku.is_some()));
}

/// Shopify's product CSV creates as it is: `Handle` groups the rows, options come from
/// `Option1 Name/Value`, and an image-only row (a handle and nothing else) is ignored.
#[tokio::test]
async fn shopify_products_layout_creates_from_handle_and_option_columns() {
    let header = [
        "Handle",
        "Title",
        "Option1 Name",
        "Option1 Value",
        "Variant SKU",
        "Variant Price",
        "Image Src",
        "Type",
        "Body (HTML)",
    ];
    let rows = [
        ["tee", "", "", "", "TEE-S", "10", "", "", ""],
        ["tee", "", "", "", "TEE-M", "10", "", "", ""],
        [
            "socks",
            "Socks",
            "Size",
            "S",
            "SOCK-S",
            "4",
            "",
            "Accessories",
            "<p>Warm wool.</p>",
        ],
        ["socks", "", "", "L", "SOCK-L", "4", "", "", ""],
        [
            "socks",
            "",
            "",
            "",
            "",
            "",
            "https://example.com/socks.png",
            "",
            "",
        ],
    ];
    let mut grid = vec![header.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    grid.extend(rows.iter().map(|r| r.iter().map(|c| json!(c)).collect()));
    let seed = json!({"title": "csv", "tabs": [{"name": "Inventory", "rows": grid}]});
    let sandbox = Sandbox::start(
        store(),
        SheetsFake::from_seed_json(&seed.to_string()).expect("sheet"),
        0,
    )
    .await
    .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox
        .write_config(dir.path(), "create_missing = true")
        .expect("config");
    let text = std::fs::read_to_string(&config).expect("config text");
    let start = text.find("[sheet.columns]").expect("columns");
    let end = text.find("[google]").expect("google");
    let text = format!("{}{}", &text[..start], &text[end..]).replacen(
        "tab = \"Inventory\"\n",
        "tab = \"Inventory\"\nlayout = \"shopify-products\"\n",
        1,
    );
    std::fs::write(&config, text).expect("write config");

    let (code, stdout, stderr) = common::run_sheetsync(&config, &["sync", "--json", "--yes"]).await;
    let report: Value = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    let socks = sandbox.shopify.products_with_handle("socks");
    assert_eq!(socks.len(), 1, "{socks:?}");
    assert_eq!(
        socks[0].variants,
        vec![
            (Some("SOCK-S".to_owned()), vec!["S".to_owned()]),
            (Some("SOCK-L".to_owned()), vec!["L".to_owned()]),
        ]
    );

    // Type and description went with productCreate: the next sync has nothing to write,
    // to the store or to the sheet.
    let sent = sandbox.shopify.applied_mutations().len();
    let (code, stdout, stderr) = common::run_sheetsync(&config, &["sync", "--json"]).await;
    let report: Value = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{report}");
    for list in ["changes", "pulled", "conflicts"] {
        assert_eq!(report[list], json!([]), "{list}: {report}");
    }
    assert_eq!(sandbox.shopify.applied_mutations().len(), sent);
}

const PUBLISH: &str = "create_missing = true\npublish_to = [\"Online Store\", \"Point of Sale\"]";

fn publication_of<'a>(report: &'a Value, handle: &str) -> &'a Value {
    report["publications"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["handle"] == handle))
        .unwrap_or_else(|| panic!("no publication of {handle}: {report}"))
}

/// A created product is published to the configured channels once its variants are in;
/// a product that only gets a variant added is not touched; a dry run publishes nothing
/// and a second sync writes nothing.
#[tokio::test]
async fn created_products_are_published_to_the_configured_channels() {
    let env = Env::with(&[TEE_S, TEE_M, HOOD_S, HOOD_M, TEE_L], store(), PUBLISH).await;

    let (code, dry, _) = env.sync(&["--dry-run", "--yes"]).await;
    assert_eq!(code, 0, "{dry}");
    let planned = publication_of(&dry, "hoodie");
    assert_eq!(planned["status"], "planned");
    assert_eq!(planned["created"], true);
    assert_eq!(
        planned["publications"],
        json!(["Online Store", "Point of Sale"])
    );
    let (_, human, _) = common::run_sheetsync(&env.config, &["sync", "--dry-run", "--yes"]).await;
    assert!(
        human.contains("published to Online Store, Point of Sale"),
        "{human}"
    );
    assert!(env.mutations().is_empty());

    let (code, report, stderr) = env.sync(&["--yes"]).await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    let done = publication_of(&report, "hoodie");
    assert_eq!(done["status"], "applied", "{report}");
    assert_eq!(done["rows"], json!([4, 5]));
    assert_eq!(report["publications"].as_array().unwrap().len(), 1);
    let shop = &env.sandbox.shopify;
    assert_eq!(
        shop.products_with_handle("hoodie")[0].published,
        ["Online Store", "Point of Sale"]
    );
    assert!(shop.products_with_handle("tee")[0].published.is_empty());
    // Published after its variants went in, never with the placeholder alone.
    let ledger = env.mutations();
    let publish_at = ledger.iter().position(|m| m == "publishablePublish");
    let last_create = ledger
        .iter()
        .rposition(|m| m == "productVariantsBulkCreate");
    assert!(publish_at > last_create, "{ledger:?}");

    let before = env.mutations().len();
    let (code, again, _) = env.sync(&[]).await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["changes"], json!([]), "{again}");
    assert!(again.get("publications").is_none(), "{again}");
    assert_eq!(env.mutations().len(), before);
}

#[tokio::test]
async fn an_unknown_channel_is_a_config_error_naming_the_real_ones() {
    let extra = "create_missing = true\npublish_to = [\"Online Store\", \"Wholesale\"]";
    let env = Env::with(&[TEE_S, TEE_M, HOOD_S], store(), extra).await;
    for args in [&["sync", "--yes"][..], &["check"][..]] {
        let (code, _, stderr) = common::run_sheetsync(&env.config, args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("\"Wholesale\" is not a sales channel of the store"),
            "{stderr}"
        );
        assert!(
            stderr.contains("\"Online Store\", \"Point of Sale\""),
            "{stderr}"
        );
    }
    assert!(env.mutations().is_empty());
}

#[tokio::test]
async fn publishing_needs_the_publication_scopes_only_when_configured() {
    let limited = || {
        let seed = json!({
            "shop": {"name": "C", "domain": "create-test.myshopify.com", "currency": "USD",
                     "scopes": ["write_products", "write_inventory", "read_locations"]},
            "locations": [{"id": 1, "name": "Main Warehouse"}, {"id": 2, "name": "Outlet"}],
            "products": [{"id": 10, "title": "Tee", "handle": "tee", "variants": [
                {"id": 101, "title": "S", "sku": "TEE-S", "price": "10.00", "inventoryItemId": 1001},
                {"id": 102, "title": "M", "sku": "TEE-M", "price": "10.00", "inventoryItemId": 1002}
            ]}]
        });
        ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
            .expect("seed")
    };
    let env = Env::with(&[TEE_S, TEE_M, HOOD_S], limited(), PUBLISH).await;
    let (code, _, stderr) = common::run_sheetsync(&env.config, &["sync", "--yes"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("missing Shopify access scope(s): read_publications, write_publications"),
        "{stderr}"
    );
    assert!(env.mutations().is_empty());

    let plain = Env::with(&[TEE_S, TEE_M, HOOD_S], limited(), "create_missing = true").await;
    let (code, report, _) = plain.sync(&["--yes"]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        plain.sandbox.shopify.products_with_handle("hoodie").len(),
        1
    );
}

/// A publish Shopify refuses fails on the product's rows (exit 3); the next run sees a
/// product it created that is not published and publishes it; the run after writes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_publish_fails_on_its_rows_and_is_retried_next_run() {
    let env = Env::with(&[TEE_S, TEE_M, HOOD_S, HOOD_M], store(), PUBLISH).await;
    let shop = &env.sandbox.shopify;
    let hold = shop.hold_mutation("publishablePublish", 1, HoldPoint::BeforeApply);
    let config = env.config.clone();
    let run =
        tokio::spawn(
            async move { common::run_sheetsync(&config, &["sync", "--json", "--yes"]).await },
        );
    common::held(&hold, "the publish reached the sandbox").await;
    // The channel goes away while the publish is in flight: Shopify refuses it.
    let pos = shop.remove_publication("Point of Sale").expect("channel");
    hold.release();
    let (code, stdout, stderr) = run.await.expect("run");
    let report: Value = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 3, "{report}\n{stderr}");
    let failed = publication_of(&report, "hoodie");
    assert_eq!(failed["status"], "failed", "{report}");
    assert_eq!(failed["error"], "Publication does not exist");
    assert_eq!(failed["rows"], json!([4, 5]));
    // The creation itself went through.
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "applied")
    );
    assert!(shop.products_with_handle("hoodie")[0].published.is_empty());

    shop.add_publication(pos, "Point of Sale");
    let (code, retry, stderr) = env.sync(&[]).await;
    assert_eq!(code, 0, "{retry}\n{stderr}");
    assert_eq!(retry["changes"], json!([]), "{retry}");
    let again = publication_of(&retry, "hoodie");
    assert_eq!(
        (&again["status"], &again["created"]),
        (&json!("applied"), &json!(false))
    );
    assert_eq!(
        shop.products_with_handle("hoodie")[0].published,
        ["Online Store", "Point of Sale"]
    );

    let before = env.mutations().len();
    let (code, calm, _) = env.sync(&[]).await;
    assert_eq!(code, 0, "{calm}");
    assert!(calm.get("publications").is_none(), "{calm}");
    assert_eq!(env.mutations().len(), before);
}

/// Killed after Shopify published but before the run recorded it: the next run re-reads
/// the product, finds it published, settles the journaled publish and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_after_the_publish_is_settled_without_publishing_again() {
    let env = Env::with(&[TEE_S, TEE_M, HOOD_S, HOOD_M], store(), PUBLISH).await;
    let shop = &env.sandbox.shopify;
    let hold = shop.hold_mutation("publishablePublish", 1, HoldPoint::AfterApply);
    let mut child = common::spawn_sheetsync(&env.config, &["sync", "--json", "--yes"]);
    common::held(&hold, "the publish reached the sandbox").await;
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    hold.abandon();
    assert_eq!(
        shop.products_with_handle("hoodie")[0].published,
        ["Online Store", "Point of Sale"]
    );

    let before = env.mutations().len();
    let (code, report, stderr) = env.sync(&[]).await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert!(report.get("publications").is_none(), "{report}");
    assert_eq!(env.mutations().len(), before, "{:?}", env.mutations());
}

/// `revert` of a run that created products and changed a price: the price goes back,
/// every value of the created product and variant is skipped with the reason (nothing is
/// deleted or emptied), and the next sync plans nothing.
#[tokio::test]
async fn revert_of_a_creating_run_skips_what_it_created_and_reverts_the_rest() {
    let tee_s_up: Row = ["TEE-S", "", "", "", "", "", "12", "", ""];
    let env = Env::new(&[tee_s_up, TEE_M, HOOD_S, HOOD_M, TEE_L], true).await;
    let (code, run, stderr) = env.sync(&["--yes", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{run}\n{stderr}");
    let shop = &env.sandbox.shopify;
    assert_eq!(shop.variant("TEE-S").unwrap().price, Decimal::new(12, 0));
    let run_id = run["run_id"].as_str().expect("run id").to_owned();
    let before = env.mutations();

    let (code, stdout, stderr) =
        common::run_sheetsync(&env.config, &["revert", &run_id, "--json"]).await;
    let report: Value = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{report}\n{stderr}");
    let tee_s = changes_of(&report, "TEE-S");
    assert_eq!(tee_s.len(), 1, "{report}");
    assert_eq!(
        (&tee_s[0]["status"], &tee_s[0]["to"]),
        (&json!("applied"), &json!("10.00"))
    );
    for sku in ["HOOD-S", "HOOD-M", "TEE-L"] {
        let created = changes_of(&report, sku);
        assert!(!created.is_empty(), "{sku}: {report}");
        for c in created {
            assert_eq!(c["status"], "skipped", "{c}");
            assert!(
                c["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("created by the run")),
                "{c}"
            );
        }
    }
    assert!(
        changes_of(&report, "TEE-L")[0]["error"]
            .as_str()
            .unwrap()
            .contains("delete the variant")
    );
    assert!(
        changes_of(&report, "HOOD-S")[0]["error"]
            .as_str()
            .unwrap()
            .contains("delete the product")
    );
    // Only the price went back: one variant update, nothing for what was created.
    let sent: Vec<_> = env.mutations()[before.len()..].to_vec();
    assert_eq!(sent, ["productVariantsBulkUpdate"]);
    assert_eq!(shop.variant("TEE-S").unwrap().price, Decimal::new(10, 0));
    assert_eq!(shop.variant("HOOD-S").unwrap().price, Decimal::new(30, 0));
    assert_eq!(shop.products_with_handle("hoodie")[0].title, "Hoodie");

    // The sheet got the old price back; the created rows and their baseline stay.
    let count = env.mutations().len();
    let (code, after, _) = env.sync(&[]).await;
    assert_eq!(code, 0, "{after}");
    assert_eq!(after["changes"], json!([]), "{after}");
    assert_eq!(after["conflicts"], json!([]), "{after}");
    assert_eq!(env.mutations().len(), count);
}
