//! Snapshot by bulk export against the Shopify fake over HTTP: the same snapshot as paged
//! reads, the result file fetched without the token, and the export's lines scrambled by
//! the fake so the join by `__parentId` is what makes it right.

use sheetsync::config::{Secret, ShopifyAuth, ShopifyAuthMethod, ShopifyConfig};
use sheetsync::model::LocationName;
use sheetsync::store::shopify::{ClientOptions, ShopifyClient};
use sheetsync_sandbox::shopify::ShopifyFake;

const TOKEN: &str = "shpat_bulk_test";

/// A client reading by bulk export from `bulk_threshold` variants.
async fn client_with(fake: &ShopifyFake, options: ClientOptions) -> ShopifyClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (addr, _) = fake.spawn().await.unwrap();
    let cfg = ShopifyConfig {
        shop: fake.shop_domain(),
        api_version: "2026-07".into(),
        api_base_url: Some(format!("http://{addr}")),
        auth: ShopifyAuth {
            method: ShopifyAuthMethod::Token,
            token: None,
            client_id: None,
            client_secret: None,
        },
    };
    ShopifyClient::new(&cfg, Secret::new(TOKEN), options).unwrap()
}

async fn locations(c: &ShopifyClient) -> Vec<(LocationName, String)> {
    c.locations()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.id))
        .collect()
}

#[tokio::test]
async fn bulk_export_gives_the_paged_snapshot_and_never_shows_the_token() {
    let fake = ShopifyFake::demo(TOKEN);
    let with = |bulk_threshold| ClientOptions {
        bulk_threshold,
        ..ClientOptions::default()
    };
    let c = client_with(&fake, with(1_000_000)).await;
    let locs = locations(&c).await;

    let (paged, paged_no_sku) = c.snapshot_counted(&locs).await.unwrap();
    let before = fake.requests().len();
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.operation_name.as_deref() == Some("VariantsPage"))
    );

    // The demo store has ~20 variants: a threshold of 10 turns the export on.
    let c = client_with(&fake, with(10)).await;
    let (bulk, bulk_no_sku) = c.snapshot_counted(&locs).await.unwrap();
    assert_eq!(bulk, paged);
    assert_eq!(bulk_no_sku, paged_no_sku);

    // A new client reads the shop and its locations once before its first snapshot.
    let ops: Vec<String> = fake.requests()[before..]
        .iter()
        .filter_map(|r| r.operation_name.clone())
        .filter(|op| op != "ShopInfo" && op != "Locations")
        .collect();
    assert_eq!(ops.first().map(String::as_str), Some("VariantsCount"));
    assert!(ops.contains(&"BulkRunQuery".to_owned()));
    assert!(ops.contains(&"BulkOperationPoll".to_owned()));
    assert!(!ops.contains(&"VariantsPage".to_owned()), "{ops:?}");

    let fetches = fake.file_fetches();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert!(!fetches[0].carried_credentials);
}

#[tokio::test]
async fn the_fakes_export_is_scrambled_so_line_order_cannot_be_relied_on() {
    let fake = ShopifyFake::demo(TOKEN);
    let c = client_with(
        &fake,
        ClientOptions {
            bulk_threshold: 0,
            ..ClientOptions::default()
        },
    )
    .await;
    let locs = locations(&c).await;
    c.snapshot(&locs).await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}{}",
        c.transport().endpoint().url.port().unwrap(),
        fake.file_fetches()[0].path
    );
    let text = reqwest_get(&url).await;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first_child = lines.iter().position(|l| l.get("__parentId").is_some());
    let parents_after_a_child = lines
        .iter()
        .skip(first_child.unwrap() + 1)
        .any(|l| l.get("__parentId").is_none());
    assert!(parents_after_a_child, "children and parents interleave");
    // Some child comes before its own parent.
    let position = |id: &str| lines.iter().position(|l| l["id"] == id);
    assert!(lines.iter().enumerate().any(|(i, l)| {
        l["__parentId"]
            .as_str()
            .and_then(position)
            .is_some_and(|p| p > i)
    }));
}

async fn reqwest_get(url: &str) -> String {
    // The crate's reqwest has no TLS provider of its own; plain http needs none.
    let resp = reqwest::get(url).await.unwrap();
    assert!(resp.status().is_success());
    resp.text().await.unwrap()
}

#[tokio::test]
async fn bulk_operation_run_query_refuses_what_shopify_refuses() {
    let fake = ShopifyFake::demo(TOKEN);
    let run = |q: &str| {
        let body = serde_json::json!({
            "query": "mutation R($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { field message code } } }",
            "variables": { "q": q },
        });
        fake.respond("2026-07", Some(TOKEN), body.to_string().as_bytes())
            .1
    };
    for (q, message) in [
        (
            "{ shop { id } }",
            "Bulk queries must contain at least one connection.",
        ),
        (
            "",
            "Invalid bulk query: syntax error, unexpected end of file",
        ),
        (
            "mutation { productVariantsBulkUpdate(productId: \"x\", variants: []) { userErrors { message } } }",
            "Invalid operation type. Only `query` operations are supported.",
        ),
        (
            "{ productVariants { edges { node { id product { variants { edges { node { inventoryItem { inventoryLevels { edges { node { id } } } } } } } } } } } }",
            "Bulk queries cannot contain connections with a nesting depth greater than 2.",
        ),
    ] {
        let v = run(q);
        let p = &v["data"]["bulkOperationRunQuery"];
        assert!(p["bulkOperation"].is_null(), "{v}");
        assert_eq!(p["userErrors"][0]["message"], message, "{q}");
        assert_eq!(p["userErrors"][0]["code"], "INVALID");
        assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 10);
    }
    let v = run("{ productVariants { edges { node { id sku } } } }");
    let op = &v["data"]["bulkOperationRunQuery"]["bulkOperation"];
    assert_eq!(op["status"], "CREATED", "{v}");
}
