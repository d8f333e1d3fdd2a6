//! Builders, mappers, the domain check, the bucket, and the transport against a tiny
//! canned-response server on 127.0.0.1 with a fake clock (sleeps return at once and are
//! recorded, so waits are asserted exactly and tests take no wall time).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::client::{ClientOptions, PageSizer, ShopifyClient};
use super::error::StoreError;
use super::ops::{self, *};
use super::transport::*;
use crate::config::{Secret, ShopifyAuth, ShopifyAuthMethod, ShopifyConfig};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn cfg(shop: &str, base: Option<&str>) -> ShopifyConfig {
    ShopifyConfig {
        shop: shop.into(),
        api_version: "2026-07".into(),
        api_base_url: base.map(str::to_owned),
        auth: ShopifyAuth {
            method: ShopifyAuthMethod::Token,
            token: None,
            client_id: None,
            client_secret: None,
        },
    }
}

fn variables(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body).unwrap()["variables"].clone()
}

// ---- builders ----

#[test]
fn inventory_set_sends_null_change_from_and_the_directive() {
    let items = [
        SetQuantity {
            item_id: "gid://shopify/InventoryItem/1".into(),
            location_id: "gid://shopify/Location/9".into(),
            quantity: 5,
            change_from: None,
        },
        SetQuantity {
            item_id: "gid://shopify/InventoryItem/2".into(),
            location_id: "gid://shopify/Location/9".into(),
            quantity: -3,
            change_from: Some(0),
        },
    ];
    let body = ops::inventory_set_body(&items, "key-1", "gid://sheetsync/SyncRun/r1");
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains(r#""changeFromQuantity":null"#), "{text}");
    assert!(text.contains("@idempotent(key: $idempotencyKey)"));
    assert_eq!(
        variables(&body),
        json!({
            "input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": "gid://sheetsync/SyncRun/r1",
                "quantities": [
                    {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/9", "quantity": 5, "changeFromQuantity": null},
                    {"inventoryItemId": "gid://shopify/InventoryItem/2", "locationId": "gid://shopify/Location/9", "quantity": -3, "changeFromQuantity": 0}
                ]
            },
            "idempotencyKey": "key-1"
        })
    );
    // Byte-stable: the same inputs give the same bytes (journal and resend rely on it).
    assert_eq!(
        body,
        ops::inventory_set_body(&items, "key-1", "gid://sheetsync/SyncRun/r1")
    );
}

#[test]
fn bulk_update_clears_with_null_and_omits_untouched_fields() {
    let updates = [
        VariantUpdate {
            variant_id: "V1".into(),
            price: Some(dec("24.90")),
            ..Default::default()
        },
        VariantUpdate {
            variant_id: "V2".into(),
            compare_at_price: Patch::Clear,
            barcode: Patch::Clear,
            cost: Patch::Clear,
            ..Default::default()
        },
        VariantUpdate {
            variant_id: "V3".into(),
            compare_at_price: Patch::Set(dec("29.90")),
            barcode: Patch::Set("7350012345678".into()),
            cost: Patch::Set(dec("11.20")),
            ..Default::default()
        },
    ];
    let body = ops::bulk_update_body("P1", &updates);
    assert_eq!(
        variables(&body),
        json!({
            "productId": "P1",
            "variants": [
                {"id": "V1", "price": "24.90"},
                {"id": "V2", "compareAtPrice": null, "barcode": null, "inventoryItem": {"cost": null}},
                {"id": "V3", "compareAtPrice": "29.90", "barcode": "7350012345678", "inventoryItem": {"cost": "11.20"}}
            ]
        })
    );
    assert_eq!(ops::bulk_update_ids(&body).unwrap(), ["V1", "V2", "V3"]);
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["operationName"], "VariantsBulkUpdate");
    assert!(
        sent["query"]
            .as_str()
            .unwrap()
            .contains("allowPartialUpdates: true")
    );
}

#[test]
fn inventory_activate_omits_an_unset_available() {
    let body = ops::inventory_activate_body("I1", "L1", None, "k");
    assert_eq!(
        variables(&body),
        json!({"inventoryItemId": "I1", "locationId": "L1", "idempotencyKey": "k"})
    );
    let body = ops::inventory_activate_body("I1", "L1", Some(4), "k");
    assert_eq!(variables(&body)["available"], 4);
}

// ---- mappers ----

fn variant_json(id: &str, sku: Option<&str>, levels: Value) -> Value {
    json!({
        "id": id, "sku": sku, "price": "19.90", "compareAtPrice": null, "barcode": "",
        "requiresComponents": false,
        "product": {"id": "gid://shopify/Product/1", "title": "Mug", "status": "UNLISTED",
                    "tags": ["kitchen", "gift"], "vendor": "Acme", "productType": "Mugs",
                    "descriptionHtml": "<p>Holds tea.</p>"},
        "inventoryItem": {"id": format!("{id}-item"), "tracked": true, "unitCost": {"amount": "4.5"},
                          "inventoryLevels": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": levels}}
    })
}

fn level(loc: &str, available: i64) -> Value {
    json!({"location": {"id": loc}, "quantities": [{"name": "available", "quantity": available}]})
}

#[test]
fn variants_page_maps_to_store_variants_by_location_name() {
    let data = json!({"productVariants": {
    "pageInfo": {"hasNextPage": true, "endCursor": "c1"},
    "nodes": [
        variant_json("V1", Some(" SKU-1 "), json!([level("L1", 7), level("L3", 1)])),
        variant_json("V2", None, json!([]))
    ]}});
    let data: variants_page::ResponseData = serde_json::from_value(data).unwrap();
    let (records, next) = ops::variants_page(data);
    assert_eq!(next.as_deref(), Some("c1"));
    let locations = [
        ("Main".to_owned(), "L1".to_owned()),
        ("Annex".to_owned(), "L2".to_owned()),
    ];
    let (sku, v) = ops::store_variant(records[0].clone(), &locations);
    assert_eq!(sku.unwrap().as_str(), "SKU-1");
    assert_eq!(v.price, dec("19.90"));
    assert_eq!(v.cost, Some(dec("4.5")));
    assert_eq!(v.compare_at_price, None);
    assert_eq!(v.barcode, None, "an empty barcode is no barcode");
    assert_eq!(v.inventory_item_id, "V1-item");
    assert!(v.tracked && !v.bundle);
    assert_eq!(v.stock.get("Main"), Some(Some(7)));
    assert_eq!(v.stock.get("Annex"), Some(None), "no level at L2");
    assert_eq!(v.stock.len(), 2);
    assert_eq!(
        (v.product.status.as_str(), v.product.vendor.as_str()),
        ("UNLISTED", "Acme")
    );
    assert_eq!(
        (
            v.product.product_type.as_str(),
            v.product.description.as_str()
        ),
        ("Mugs", "<p>Holds tea.</p>")
    );
    assert_eq!(
        v.value(&crate::model::FieldKey::variant(crate::model::Field::Tags)),
        Some(crate::model::Value::Text("gift, kitchen".into()))
    );
    assert_eq!(ops::store_variant(records[1].clone(), &locations).0, None);
}

#[test]
fn variants_by_ids_skips_nulls_and_other_types() {
    let mut v = variant_json("V1", Some("A"), json!([]));
    v["__typename"] = json!("ProductVariant");
    v["requiresComponents"] = json!(true);
    let data = json!({"nodes": [null, {"__typename": "Product"}, v]});
    let data: variants_by_ids::ResponseData = serde_json::from_value(data).unwrap();
    let records = ops::variants_by_ids(data);
    assert_eq!(records.len(), 1);
    assert!(ops::store_variant(records[0].clone(), &[]).1.bundle);
}

#[test]
fn bulk_update_errors_map_to_their_variant() {
    // Shape from the live capture product-variants-bulk-update-allow-partial-and-error-order.
    let data = json!({"productVariantsBulkUpdate": {
        "productVariants": [{"id": "V1", "price": "9.99", "compareAtPrice": null, "barcode": null, "inventoryItem": {"unitCost": null}}],
        "userErrors": [{"field": ["variants", "1", "price"], "message": "Price must be greater than or equal to 0", "code": "GREATER_THAN_OR_EQUAL_TO"}]}});
    let data: variants_bulk_update::ResponseData = serde_json::from_value(data).unwrap();
    let out = ops::bulk_update_outcome(&["V1".into(), "V2".into()], data);
    assert_eq!(out.variants[0], ("V1".into(), VariantOutcome::Updated));
    let VariantOutcome::Failed(errs) = &out.variants[1].1 else {
        panic!("{out:?}")
    };
    assert_eq!(errs[0].index, Some(1));
    assert_eq!(errs[0].code.as_deref(), Some("GREATER_THAN_OR_EQUAL_TO"));

    let data = json!({"productVariantsBulkUpdate": {"productVariants": null,
        "userErrors": [{"field": ["productId"], "message": "Product does not exist", "code": "PRODUCT_DOES_NOT_EXIST"}]}});
    let out = ops::bulk_update_outcome(
        &["V1".into(), "V2".into()],
        serde_json::from_value(data).unwrap(),
    );
    assert!(
        out.variants
            .iter()
            .all(|(_, o)| matches!(o, VariantOutcome::Failed(_)))
    );
}

#[test]
fn inventory_set_outcomes() {
    let data = json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "G1", "reason": "correction", "changes": [
        {"name": "available", "delta": 5, "quantityAfterChange": null, "item": {"id": "I1"}, "location": {"id": "L1"}},
        {"name": "on_hand", "delta": 5, "quantityAfterChange": null, "item": {"id": "I1"}, "location": {"id": "L1"}}]},
        "userErrors": []}});
    let SetOutcome::Applied { group_id, changes } =
        ops::inventory_set_outcome(serde_json::from_value(data).unwrap())
    else {
        panic!()
    };
    assert_eq!(group_id.as_deref(), Some("G1"));
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].delta, 5);

    let data = json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": [
        {"field": ["input", "quantities", "3", "changeFromQuantity"], "message": "stale", "code": "CHANGE_FROM_QUANTITY_STALE"},
        {"field": null, "message": "x", "code": "SOMETHING_NEW"}]}});
    let SetOutcome::UserErrors(errs) =
        ops::inventory_set_outcome(serde_json::from_value(data).unwrap())
    else {
        panic!()
    };
    assert_eq!(errs[0].index, Some(3));
    assert_eq!(errs[0].code.as_deref(), Some("CHANGE_FROM_QUANTITY_STALE"));
    assert_eq!(errs[1].index, None);
    assert_eq!(errs[1].code.as_deref(), Some("SOMETHING_NEW"));
}

#[test]
fn inventory_activate_outcomes() {
    let data = json!({"inventoryActivate": {"inventoryLevel": {"id": "IL1", "location": {"id": "L1"},
        "quantities": [{"name": "available", "quantity": 4}]}, "userErrors": []}});
    assert_eq!(
        ops::inventory_activate_outcome(serde_json::from_value(data).unwrap()),
        ActivateOutcome::Activated {
            level_id: "IL1".into(),
            available: Some(4)
        }
    );
    let data = json!({"inventoryActivate": {"inventoryLevel": null, "userErrors": [{"field": ["locationId"], "message": "bad"}]}});
    assert!(matches!(
        ops::inventory_activate_outcome(serde_json::from_value(data).unwrap()),
        ActivateOutcome::UserErrors(e) if e[0].message == "bad"
    ));
}

#[test]
fn shop_info_and_missing_scopes() {
    let data = json!({"shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com", "currencyCode": "EUR"},
        "currentAppInstallation": {"accessScopes": [{"handle": "write_products"}, {"handle": "read_inventory"}]}});
    let info = ops::shop_info(serde_json::from_value(data).unwrap());
    assert_eq!(info.currency, "EUR");
    assert_eq!(info.missing_scopes(), ["write_inventory", "read_locations"]);
}

// ---- domain check ----

#[test]
fn shop_domains() {
    for (raw, want) in [
        ("example.myshopify.com", Some("example.myshopify.com")),
        (
            " https://Example.myshopify.com/ ",
            Some("example.myshopify.com"),
        ),
        (
            "https://admin.shopify.com/store/my-shop/products",
            Some("my-shop.myshopify.com"),
        ),
        (
            "admin.shopify.com/store/my-shop",
            Some("my-shop.myshopify.com"),
        ),
        ("example.com", None),
        ("evil.com/x.myshopify.com", None),
        ("myshopify.com", None),
        ("a.b.myshopify.com", None),
        ("127.0.0.1", None),
        ("-x.myshopify.com", None),
    ] {
        assert_eq!(normalize_shop(raw).as_deref(), want, "{raw}");
    }
}

#[test]
fn endpoints() {
    let e = resolve_endpoint(&cfg("https://admin.shopify.com/store/demo", None)).unwrap();
    assert_eq!(
        e.url.as_str(),
        "https://demo.myshopify.com/admin/api/2026-07/graphql.json"
    );
    let e = resolve_endpoint(&cfg("demo.myshopify.com", Some("http://127.0.0.1:8080"))).unwrap();
    assert_eq!(
        e.url.as_str(),
        "http://127.0.0.1:8080/admin/api/2026-07/graphql.json"
    );
    assert_eq!(e.authority, "127.0.0.1:8080");
    // The shop may name the base URL's host instead of a myshopify domain.
    assert!(resolve_endpoint(&cfg("127.0.0.1:8080", Some("http://127.0.0.1:8080/"))).is_ok());
    // Loopback only through api_base_url; clear text only to loopback; foreign shop refused.
    assert!(matches!(
        resolve_endpoint(&cfg("127.0.0.1", None)),
        Err(crate::auth::endpoint::EndpointError::InvalidShop(_))
    ));
    assert!(matches!(
        resolve_endpoint(&cfg("demo.myshopify.com", Some("http://proxy.example.com"))),
        Err(crate::auth::endpoint::EndpointError::InvalidBaseUrl { .. })
    ));
    assert!(matches!(
        resolve_endpoint(&cfg("example.com", Some("https://proxy.example.net"))),
        Err(crate::auth::endpoint::EndpointError::InvalidShop(_))
    ));
    let mut bad_version = cfg("demo.myshopify.com", None);
    bad_version.api_version = "../x".into();
    assert!(resolve_endpoint(&bad_version).is_err());
}

// ---- bucket and sizing ----

#[test]
fn bucket_charges_waits_and_resyncs() {
    let t = Duration::from_secs;
    let mut b = CostBucket::new(1000.0, 50.0, t(0));
    assert_eq!(b.try_take(600.0, t(0)), Ok(600.0));
    let wait = b.try_take(600.0, t(0)).unwrap_err();
    assert!((wait.as_secs_f64() - 4.0).abs() < 0.01, "{wait:?}");
    assert_eq!(b.try_take(600.0, t(4)), Ok(600.0));
    // Two in flight (1200 charged). One returns: server says 900 left of 2000 at 100/s,
    // but the other request's 600 has not reached the server yet.
    let status = ThrottleStatus {
        maximum_available: 2000.0,
        currently_available: 900.0,
        restore_rate: 100.0,
    };
    b.settle(600.0, Some(status), t(4));
    assert_eq!((b.max, b.rate), (2000.0, 100.0));
    assert_eq!(b.level(t(4)), 300.0);
    b.settle(600.0, None, t(5));
    assert_eq!(b.level(t(5)), 400.0);
    // A cost above the bucket is capped to the bucket, so it can be sent (and refused).
    assert_eq!(b.try_take(5000.0, t(100)), Ok(2000.0));
}

#[test]
fn bucket_refunds_to_actual_cost_and_ignores_answers_that_arrive_late() {
    let t = Duration::from_secs;
    let status = |available: f64| ThrottleStatus {
        maximum_available: 2000.0,
        currently_available: available,
        restore_rate: 100.0,
    };
    let cost = |actual: Option<f64>, available: f64| Cost {
        requested_query_cost: Some(100.0),
        actual_query_cost: actual,
        throttle_status: Some(status(available)),
    };
    let mut b = CostBucket::new(2000.0, 100.0, t(0));
    // Learn the bucket's size from a first answer.
    assert_eq!(b.try_take(10.0, t(0)), Ok(10.0));
    b.settle_cost(10.0, Some(cost(Some(10.0), 1990.0)), t(0));
    assert_eq!(b.level(t(0)), 1990.0);

    // A and B in flight; the server runs A (1890 left), then B (1790 left), and B's
    // answer arrives first. A's answer, computed before B was charged, must not lift the
    // mirror by B's cost.
    assert_eq!(b.try_take(100.0, t(0)), Ok(100.0));
    assert_eq!(b.try_take(100.0, t(0)), Ok(100.0));
    b.settle_cost(100.0, Some(cost(Some(100.0), 1790.0)), t(0));
    assert_eq!(b.level(t(0)), 1790.0);
    b.settle_cost(100.0, Some(cost(Some(100.0), 1890.0)), t(0));
    assert_eq!(
        b.level(t(0)),
        1790.0,
        "a late answer does not lift the mirror"
    );
    // Time restores both alike.
    assert_eq!(b.level(t(1)), 1890.0);

    // A query that cost less than requested is refunded the difference, as Shopify does.
    assert_eq!(b.try_take(100.0, t(1)), Ok(100.0));
    b.settle_cost(100.0, Some(cost(Some(4.0), 1886.0)), t(1));
    assert_eq!(b.level(t(1)), 1886.0);
    // THROTTLED: nothing ran, nothing is kept.
    assert_eq!(b.try_take(100.0, t(1)), Ok(100.0));
    b.settle_cost(100.0, Some(cost(None, 1886.0)), t(1));
    assert_eq!(b.level(t(1)), 1886.0);
    // Another app spent from the same bucket: the server's lower figure wins.
    b.settle_cost(0.0, Some(cost(Some(0.0), 1000.0)), t(1));
    assert_eq!(b.level(t(1)), 1000.0);
}

#[test]
fn page_sizer_follows_reported_cost() {
    let mut s = PageSizer::variants(2);
    assert_eq!(s.first(), 8); // (100 − 2) / (6 + 3·2)
    s.observe(98.0, 8); // 12 per item
    assert_eq!(s.first(), 58); // (700 − 2) / 12
    assert!(s.expected_cost() <= PageSizer::TARGET_COST);
    assert!(s.halve());
    assert_eq!(s.first(), 29);
    let mut one = PageSizer::variants(400);
    assert_eq!(one.first(), 1);
    assert!(!one.halve());
}

#[test]
fn page_sizer_fits_the_bucket_and_learns_when_a_page_does_not() {
    // 250 locations at 1 point each cost 252: a bucket of 100 holds 88 of them.
    let mut s = PageSizer::new("Locations", 2.0, 1.0, 250);
    s.observe(252.0, 250);
    s.cap(100.0);
    assert_eq!(s.first(), 88);
    assert!(s.expected_cost() <= 90.0);
    // The store priced a page of 40 at 122 (3 per item), over a bucket of 50.
    let mut p = PageSizer::new("Publications", 2.0, 1.0, 250);
    assert!(p.exceeded(122.0, 50.0, 40));
    assert_eq!(p.first(), 14); // (45 − 2) / 3
    // One item over the bucket can never run.
    assert!(!p.exceeded(60.0, 50.0, 1));
}

#[test]
fn backoff_is_capped_full_jitter() {
    let p = RetryPolicy {
        max_attempts: 5,
        max_throttled: 5,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };
    for retry in 0..20 {
        let d = p.backoff(retry);
        assert!(
            d <= Duration::from_millis(100 * (1 << retry.min(4))).min(Duration::from_secs(1)),
            "{retry}: {d:?}"
        );
    }
}

// ---- transport against a canned server ----

#[derive(Default)]
struct FakeClock {
    now: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        *self.now.lock().unwrap() += d;
        self.sleeps.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
}

struct Canned {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: Value,
}

fn ok(body: Value) -> Canned {
    Canned {
        status: 200,
        headers: Vec::new(),
        body,
    }
}

/// Requests the server received: headers and body bytes.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Server {
    queue: Arc<Mutex<VecDeque<Canned>>>,
    seen: Seen,
}

async fn answer(State(s): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    s.seen.lock().unwrap().push((headers, body.to_vec()));
    let Some(c) = s.queue.lock().unwrap().pop_front() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no canned response left").into_response();
    };
    let mut resp = (StatusCode::from_u16(c.status).unwrap(), c.body.to_string()).into_response();
    for (k, v) in c.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

async fn start(canned: Vec<Canned>) -> (Server, ShopifyClient, Arc<FakeClock>) {
    start_with(canned, ClientOptions::default()).await
}

async fn start_with(
    canned: Vec<Canned>,
    options: ClientOptions,
) -> (Server, ShopifyClient, Arc<FakeClock>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server {
        queue: Arc::new(Mutex::new(canned.into())),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route(
            "/admin/api/2026-07/graphql.json",
            axum::routing::post(answer),
        )
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = Arc::new(FakeClock::default());
    let policy = RetryPolicy {
        max_attempts: 3,
        max_throttled: 5,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };
    let transport = Transport::with_clock(
        &cfg("demo.myshopify.com", Some(&format!("http://{addr}"))),
        Secret::new("shpat_test_token"),
        policy,
        clock.clone(),
    )
    .unwrap();
    (
        server,
        ShopifyClient::with_transport(transport, options),
        clock,
    )
}

fn cost(requested: f64, available: f64, max: f64, rate: f64) -> Value {
    json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
        "throttleStatus": {"maximumAvailable": max, "currentlyAvailable": available, "restoreRate": rate}}})
}

fn set_success() -> Value {
    json!({"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "G1", "reason": "correction", "changes": []}, "userErrors": []}},
        "extensions": cost(13.0, 1986.0, 2000.0, 100.0)})
}

fn one_item() -> Vec<SetQuantity> {
    vec![SetQuantity {
        item_id: "I1".into(),
        location_id: "L1".into(),
        quantity: 5,
        change_from: Some(0),
    }]
}

#[tokio::test]
async fn throttled_then_success_waits_and_resends_the_same_bytes() {
    // Shape of SHOPIFY.md §2 / fixtures README §3.2: HTTP 200, no data, actualQueryCost null.
    let throttled = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 666, "restoreRate": 50.0}}}});
    let (server, client, clock) = start(vec![ok(throttled), ok(set_success())]).await;
    let recorder = Arc::new(crate::progress::Recorder::default());
    client
        .transport()
        .set_progress(crate::progress::Reporter::new(recorder.clone()));
    let out = client
        .inventory_set(&one_item(), "k1", "gid://sheetsync/SyncRun/1")
        .await
        .unwrap();
    assert!(matches!(out, SetOutcome::Applied { .. }));
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, seen[1].1, "the retry resends identical bytes");
    assert_eq!(seen[0].0["x-shopify-access-token"], "shpat_test_token");
    let sleeps = clock.sleeps.lock().unwrap().clone();
    let waited: f64 = sleeps.iter().map(Duration::as_secs_f64).sum();
    assert!((waited - 86.0 / 50.0).abs() < 0.01, "{sleeps:?}");
    // The throttled answer is counted, and the wait reported for the progress line,
    // before and after; each answer's bucket level is reported as the rate room.
    use crate::progress::{Event, Limit};
    let events = recorder.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::RateRoom { .. }))
            .count(),
        2,
        "{events:?}"
    );
    assert_eq!(
        events
            .into_iter()
            .filter(|e| !matches!(e, Event::RateRoom { .. }))
            .collect::<Vec<_>>(),
        [
            Event::Throttled {
                limit: Limit::Store
            },
            Event::Wait {
                limit: Limit::Store,
                wait: sleeps[0]
            },
            Event::Waited {
                limit: Limit::Store
            }
        ]
    );
    // The bucket follows the last throttleStatus.
    assert_eq!(client.transport().bucket().max, 2000.0);
    assert_eq!(client.transport().estimate("InventorySet"), 13.0);
}

#[tokio::test]
async fn unauthorized_is_distinct_and_not_retried() {
    let body = json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"});
    let (server, client, _) = start(vec![Canned {
        status: 401,
        headers: Vec::new(),
        body,
    }])
    .await;
    let err = client.shop_info().await.unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized), "{err:?}");
    assert!(!err.to_string().contains("shpat_test_token"));
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn server_errors_and_429_are_retried() {
    let internal = json!({"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]});
    let (server, client, clock) = start(vec![
        Canned {
            status: 502,
            headers: Vec::new(),
            body: json!({"errors": "bad gateway"}),
        },
        Canned {
            status: 429,
            headers: vec![("retry-after", "2")],
            body: json!({"errors": "Too many"}),
        },
        ok(set_success()),
    ])
    .await;
    let out = client.inventory_set(&one_item(), "k", "r").await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
    let sleeps = clock.sleeps.lock().unwrap().clone();
    assert!(
        sleeps[0] <= Duration::from_millis(100),
        "first backoff within base: {sleeps:?}"
    );
    assert_eq!(sleeps[1], Duration::from_secs(2), "Retry-After honoured");

    // Attempts are capped: three 5xx in a row fail with the last error.
    let (server, client, _) = start(vec![
        ok(internal.clone()),
        ok(internal.clone()),
        ok(internal),
    ])
    .await;
    let err = client
        .inventory_set(&one_item(), "k", "r")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn max_cost_exceeded_is_not_retried_as_is() {
    let body = json!({"errors": [{"message": "Query cost is 2003, which exceeds the single query max cost limit (1000).",
        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2003, "maxCost": 1000}}]});
    let (server, client, _) = start(vec![ok(body)]).await;
    let err = client
        .send_raw(&ops::inventory_set_body(&one_item(), "k", "r"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MaxCostExceeded { cost: Some(c), max: Some(m) } if c == 2003.0 && m == 1000.0),
        "{err:?}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn access_denied_is_permanent() {
    let body = json!({"errors": [{"message": "Access denied for locations field. Required access: `read_locations` access scope.",
        "extensions": {"code": "ACCESS_DENIED"}, "path": ["locations"]}], "data": {"locations": null}});
    let (server, client, _) = start(vec![ok(body)]).await;
    let err = client.locations().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AccessDenied { message } if message.contains("read_locations")),
        "{err:?}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bucket_waits_before_sending_what_it_cannot_afford() {
    // After this response the bucket holds 5 points restoring 10/s; the next request of
    // the same operation was priced 13, so it waits (13 − 5) / 10 s before it is sent.
    let first = json!({"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": []}},
        "extensions": cost(13.0, 5.0, 100.0, 10.0)});
    let (server, client, clock) = start(vec![ok(first), ok(set_success())]).await;
    client.inventory_set(&one_item(), "k1", "r").await.unwrap();
    assert!(clock.sleeps.lock().unwrap().is_empty());
    assert_eq!(client.transport().bucket().max, 100.0);
    client.inventory_set(&one_item(), "k2", "r").await.unwrap();
    let sleeps = clock.sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 1);
    assert!((sleeps[0].as_secs_f64() - 0.8).abs() < 0.01, "{sleeps:?}");
    assert_eq!(server.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn snapshot_pages_and_resizes_from_the_reported_cost() {
    let shop = json!({"data": {"shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com", "currencyCode": "USD"},
        "currentAppInstallation": {"accessScopes": []}}, "extensions": cost(2.0, 998.0, 1000.0, 50.0)});
    let locations = json!({"data": {"locations": {"pageInfo": {"hasNextPage": false, "endCursor": null},
        "nodes": [{"id": "L1", "name": "Main", "isActive": true}, {"id": "L2", "name": "Old", "isActive": false}]}},
        "extensions": cost(5.0, 995.0, 1000.0, 50.0)});
    let page = |nodes: Vec<Value>, next: Option<&str>, requested: f64| {
        ok(
            json!({"data": {"productVariants": {"pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}, "nodes": nodes}},
            "extensions": cost(requested, 900.0, 1000.0, 50.0)}),
        )
    };
    let too_big = json!({"errors": [{"message": "too big", "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 1400, "maxCost": 1000}}]});
    // Under the bulk threshold: the count decides for pages.
    let count = json!({"data": {"productVariantsCount": {"count": 3, "precision": "EXACT"}},
        "extensions": cost(1.0, 994.0, 1000.0, 50.0)});
    let (server, client, _) = start(vec![
        ok(shop),
        ok(locations),
        ok(count),
        page(
            vec![variant_json("V1", Some("A"), json!([level("L1", 3)]))],
            Some("c1"),
            98.0, // 12 a variant past the connection's 2
        ),
        ok(too_big),
        page(
            vec![
                variant_json("V2", Some("A"), json!([])),
                variant_json("V3", Some("B"), json!([])),
            ],
            None,
            300.0,
        ),
    ])
    .await;
    let recorder = Arc::new(crate::progress::Recorder::default());
    client
        .transport()
        .set_progress(crate::progress::Reporter::new(recorder.clone()));
    let snap = client
        .snapshot(&[("Main".into(), "L1".into())])
        .await
        .unwrap();
    assert_eq!(snap.currency.code, "USD");
    // Pages are reported as they come, the page refused as too costly not counted; the
    // bucket wait before the halved page is reported between them.
    use crate::progress::{Event, Limit, Work};
    let events: Vec<Event> = recorder
        .events()
        .into_iter()
        .filter(|e| !matches!(e, Event::RateRoom { .. }))
        .collect();
    assert!(
        matches!(
            &events[2..4],
            [
                Event::Wait {
                    limit: Limit::Store,
                    ..
                },
                Event::Waited {
                    limit: Limit::Store
                }
            ]
        ),
        "{events:?}"
    );
    let pages: Vec<Event> = events
        .into_iter()
        .filter(|e| !matches!(e, Event::Wait { .. } | Event::Waited { .. }))
        .collect();
    assert_eq!(
        pages,
        [
            Event::Begin {
                work: Work::StoreVariants,
                total: None
            },
            Event::Position {
                work: Work::StoreVariants,
                done: 1
            },
            Event::Position {
                work: Work::StoreVariants,
                done: 3
            },
            Event::End {
                work: Work::StoreVariants
            },
        ]
    );
    let a = &snap.variants[&crate::model::Sku::new("A").unwrap()];
    assert_eq!(a.len(), 2, "a SKU on two variants keeps both");
    assert_eq!(a[0].stock.get("Main"), Some(Some(3)));
    assert_eq!(a[1].stock.get("Main"), Some(None));
    assert_eq!(
        variables(&server.seen.lock().unwrap()[2].1)["limit"],
        json!(crate::config::DEFAULT_BULK_THRESHOLD)
    );
    let firsts: Vec<i64> = server.seen.lock().unwrap()[3..]
        .iter()
        .map(|(_, b)| variables(b)["first"].as_i64().unwrap())
        .collect();
    // levels = 2 locations → first page 100 / 12 = 8; 96 points → 12 per item → 58; halved → 29.
    assert_eq!(firsts, [8, 58, 29]);
    let levels = variables(&server.seen.lock().unwrap()[3].1)["levels"].clone();
    assert_eq!(levels, 2);
}

#[tokio::test]
async fn a_foreign_token_host_is_never_contacted() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let err = ShopifyClient::new(
        &cfg("shop.example.com", None),
        Secret::new("t"),
        Default::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::InvalidShop(_)));
}

#[test]
fn product_update_sends_only_the_fields_it_sets() {
    let update = ops::ProductUpdate {
        id: "gid://shopify/Product/1".into(),
        status: Some("UNLISTED".into()),
        tags: Some(vec![]),
        ..ops::ProductUpdate::default()
    };
    assert_eq!(
        variables(&ops::product_update_body(&update)),
        json!({"product": {"id": "gid://shopify/Product/1", "status": "UNLISTED", "tags": []}})
    );
    let update = ops::ProductUpdate {
        id: "gid://shopify/Product/1".into(),
        product_type: Some(String::new()),
        description_html: Some("<p>New</p>".into()),
        ..ops::ProductUpdate::default()
    };
    assert_eq!(
        variables(&ops::product_update_body(&update)),
        json!({"product": {"id": "gid://shopify/Product/1", "productType": "",
                           "descriptionHtml": "<p>New</p>"}})
    );
}

#[test]
fn product_update_user_errors_fail_the_call() {
    let ok: product_update::ResponseData = serde_json::from_value(json!({"productUpdate": {
        "product": {"id": "P", "title": "T", "status": "ACTIVE", "tags": [], "vendor": ""},
        "userErrors": []}}))
    .unwrap();
    assert_eq!(ops::product_update_outcome(ok), Ok(()));
    let blank: product_update::ResponseData = serde_json::from_value(json!({"productUpdate": {
        "product": null,
        "userErrors": [{"field": ["title"], "message": "Title can't be blank"}]}}))
    .unwrap();
    let errors = ops::product_update_outcome(blank).unwrap_err();
    assert_eq!(errors[0].field, vec!["title"]);
    assert_eq!(errors[0].message, "Title can't be blank");
}

// ---- cancellation and the bulk deadline ----

fn bulk_poll(status: &str) -> Canned {
    let mut body = json!({"data": {"bulkOperation": {
        "id": "gid://shopify/BulkOperation/1", "status": status, "errorCode": null,
        "objectCount": "5", "url": null, "partialDataUrl": null}}});
    body["extensions"] = cost(1.0, 999.0, 1000.0, 50.0);
    ok(body)
}

fn bulk_started() -> Canned {
    let mut body = json!({"data": {"bulkOperationRunQuery": {
        "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
        "userErrors": []}}});
    body["extensions"] = cost(10.0, 990.0, 1000.0, 50.0);
    ok(body)
}

#[tokio::test]
async fn a_bulk_job_past_its_deadline_fails_naming_the_setting() {
    let mut canned = vec![bulk_started()];
    canned.extend((0..40).map(|_| bulk_poll("RUNNING")));
    let options = ClientOptions {
        bulk_threshold: 0,
        bulk_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let (server, client, clock) = start_with(canned, options).await;
    let err = client.bulk_variants().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::BulkTimeout { status, after, .. }
            if status == "RUNNING" && *after == Duration::from_secs(10)),
        "{err:?}"
    );
    assert!(err.to_string().contains("sync.bulk_timeout"), "{err}");
    // Polled up to the deadline (the last wait cut to it), not a poll beyond.
    assert_eq!(clock.now(), Duration::from_secs(10));
    let polls = server.seen.lock().unwrap().len() - 1;
    assert!((5..=12).contains(&polls), "{polls} polls");
}

/// A clock whose sleeps never end by themselves and say when one begins: a wait that
/// ends can only have ended by cancellation.
struct StuckClock {
    began: tokio::sync::mpsc::UnboundedSender<Duration>,
}

impl Clock for StuckClock {
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let _ = self.began.send(d);
        Box::pin(std::future::pending())
    }
}

async fn stuck_client(
    canned: Vec<Canned>,
) -> (
    ShopifyClient,
    tokio::sync::mpsc::UnboundedReceiver<Duration>,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server {
        queue: Arc::new(Mutex::new(canned.into())),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route(
            "/admin/api/2026-07/graphql.json",
            axum::routing::post(answer),
        )
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (began, waits) = tokio::sync::mpsc::unbounded_channel();
    let transport = Transport::with_clock(
        &cfg("demo.myshopify.com", Some(&format!("http://{addr}"))),
        Secret::new("shpat_test_token"),
        RetryPolicy::default(),
        Arc::new(StuckClock { began }),
    )
    .unwrap();
    let options = ClientOptions {
        bulk_threshold: 0,
        ..ClientOptions::default()
    };
    (ShopifyClient::with_transport(transport, options), waits)
}

#[tokio::test]
async fn cancelling_ends_a_retry_wait_and_reports_the_failed_attempt() {
    let (client, mut waits) = stuck_client(vec![Canned {
        status: 429,
        headers: vec![("retry-after", "300")],
        body: json!({"errors": "Too many requests"}),
    }])
    .await;
    let cancel = tokio_util::sync::CancellationToken::new();
    client.set_cancel(cancel.clone());
    let call = tokio::spawn(async move { client.shop_info().await });
    assert_eq!(waits.recv().await, Some(Duration::from_secs(300)));
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the wait ended")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InterruptedRetry(e) if matches!(**e, StoreError::Http { status: 429, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn cancelling_ends_a_bulk_poll_wait_and_a_cancelled_client_sends_nothing() {
    let (client, mut waits) = stuck_client(vec![bulk_started()]).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    client.set_cancel(cancel.clone());
    let c = client.clone();
    let call = tokio::spawn(async move { c.bulk_variants().await });
    // The first poll's wait.
    assert!(waits.recv().await.is_some());
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the wait ended")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, StoreError::Interrupted), "{err:?}");
    // Nothing is sent once cancelled (no canned answer is left: a send would fail
    // differently).
    assert!(matches!(
        client.shop_info().await,
        Err(StoreError::Interrupted)
    ));
}

#[tokio::test]
async fn the_store_port_reports_the_clients_options_and_rate_room() {
    use crate::store::{Capabilities, Store};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = Transport::with_clock(
        &cfg("demo.myshopify.com", Some("http://127.0.0.1:9")),
        Secret::new("shpat_test_token"),
        RetryPolicy::default(),
        Arc::new(FakeClock::default()),
    )
    .unwrap();
    let options = ClientOptions {
        bulk_mutation_threshold: 7,
        max_in_flight: 3,
        ..ClientOptions::default()
    };
    let client = ShopifyClient::with_transport(transport, options);
    let maximum = client.transport().bucket().maximum();
    let store: Arc<dyn Store> = Arc::new(client);
    assert_eq!(
        store.capabilities(),
        Capabilities {
            compare_and_set: true,
            bulk: true,
            bulk_mutation_threshold: 7,
            max_in_flight: 3,
            batch_limit: 250,
            reread_before_write: false,
        }
    );
    // Unpriced, an operation costs its first guess; a guess under 1 counts as 1.
    assert_eq!(
        store.affordable("VariantsBulkUpdate", 11.0),
        (maximum / 11.0).floor() as usize
    );
    assert_eq!(store.affordable("InventorySet", 0.0), maximum as usize);
    assert_eq!(store.required_scopes(false), ops::REQUIRED_SCOPES);
    assert!(store.required_scopes(true).len() > store.required_scopes(false).len());
}
