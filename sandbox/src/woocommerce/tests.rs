//! Behaviour tests for the WooCommerce fake, over real HTTP: shapes against
//! `../shared/fixtures/woocommerce/`, auth, reads and their filters, the `/variations`
//! gate, batch writes with their rewrites and per-item errors, orders, and each knob.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::*;

struct Http {
    fake: WooFake,
    client: reqwest::Client,
}

#[derive(Debug)]
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn links(&self) -> Vec<String> {
        self.headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    fn error_code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// Which credentials a request carries.
#[derive(Clone, Copy)]
enum Cred {
    Rw,
    Ro,
    None,
    WrongSecret,
    UnknownKey,
    Query,
}

async fn start(options: WooOptions) -> Http {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = WooFake::start(options).await.expect("fake starts");
    Http {
        fake,
        client: reqwest::Client::new(),
    }
}

async fn demo() -> Http {
    start(WooOptions::default()).await
}

impl Http {
    async fn send(&self, method: &str, url: &str, cred: Cred, body: Option<Value>) -> Got {
        let mut url = url.to_owned();
        if matches!(cred, Cred::Query) {
            let sep = if url.contains('?') { '&' } else { '?' };
            url = format!(
                "{url}{sep}consumer_key={}&consumer_secret={}",
                self.fake.consumer_key(),
                self.fake.consumer_secret()
            );
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, &url)
            .header("user-agent", "woo-fake-tests/1");
        req = match cred {
            Cred::Rw => req.basic_auth(self.fake.consumer_key(), Some(self.fake.consumer_secret())),
            Cred::Ro => req.basic_auth(
                self.fake.read_only_key(),
                Some(self.fake.read_only_secret()),
            ),
            Cred::WrongSecret => req.basic_auth(self.fake.consumer_key(), Some("cs_wrong")),
            Cred::UnknownKey => req.basic_auth("ck_unknown", Some("cs_unknown")),
            Cred::None | Cred::Query => req,
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request answered");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Got {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, route: &str) -> Got {
        self.send(
            "GET",
            &format!("{}{route}", self.fake.api_base()),
            Cred::Rw,
            None,
        )
        .await
    }

    async fn post(&self, route: &str, body: Value) -> Got {
        self.send(
            "POST",
            &format!("{}{route}", self.fake.api_base()),
            Cred::Rw,
            Some(body),
        )
        .await
    }

    async fn put(&self, route: &str, body: Value) -> Got {
        self.send(
            "PUT",
            &format!("{}{route}", self.fake.api_base()),
            Cred::Rw,
            Some(body),
        )
        .await
    }

    fn id(&self, sku: &str) -> u64 {
        self.fake.item_by_sku(sku).expect("seeded SKU").id
    }
}

fn fixture(name: &str, test: &str) -> Option<Value> {
    let path = crate::shared::shared_path(test, &format!("fixtures/woocommerce/{name}"))?;
    let text = std::fs::read_to_string(path).expect("fixture readable");
    Some(serde_json::from_str(&text).expect("fixture is JSON"))
}

/// Fields WooCommerce answers `null` or a value for, depending on the item.
const NULLABLE: &[&str] = &[
    "date_on_sale_from",
    "date_on_sale_from_gmt",
    "date_on_sale_to",
    "date_on_sale_to_gmt",
    "stock_quantity",
    "low_stock_amount",
    "date_completed",
    "date_completed_gmt",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `want` is in `got` with the same JSON type, recursively (arrays by
/// their first elements). Returns the mismatches.
fn shape_diff(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    None => out.push(format!("{p}: missing")),
                    Some(gv) => {
                        if NULLABLE.contains(&k.as_str()) && (wv.is_null() || gv.is_null()) {
                            continue;
                        }
                        shape_diff(wv, gv, &p, out);
                    }
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if let (Some(wf), Some(gf)) = (w.first(), g.first()) {
                shape_diff(wf, gf, &format!("{path}[0]"), out);
            }
        }
        (w, g) if kind(w) != kind(g) => {
            out.push(format!(
                "{path}: {} in the fixture, {} here",
                kind(w),
                kind(g)
            ));
        }
        _ => {}
    }
}

fn assert_shape(want: &Value, got: &Value) {
    let mut diff = Vec::new();
    shape_diff(want, got, "", &mut diff);
    assert!(diff.is_empty(), "shape differs from the fixture: {diff:#?}");
}

// ---- shapes --------------------------------------------------------------------------

#[tokio::test]
async fn products_and_variations_have_the_fixtures_shapes() {
    let Some(product) = fixture("product_retrieve.json", "woocommerce shapes") else {
        return;
    };
    let Some(variation) = fixture("variation_retrieve.json", "woocommerce shapes") else {
        return;
    };
    let Some(list) = fixture("variations_list.json", "woocommerce shapes") else {
        return;
    };
    let h = demo().await;
    let stk = h.get(&format!("/products/{}", h.id("STK-PACK"))).await;
    assert_eq!(stk.status, 200);
    assert_shape(&product["body"], &stk.body);
    // Prices are strings, ids numbers, unmanaged stock null.
    assert_eq!(stk.body["regular_price"], json!("4.00"));
    assert_eq!(stk.body["sale_price"], json!(""));
    assert!(stk.body["id"].is_u64());
    assert_eq!(stk.body["stock_quantity"], Value::Null);
    assert_eq!(stk.body["manage_stock"], json!(false));

    let tee = h.fake.item_by_sku("TEE-RED-S").expect("seeded");
    let v = h
        .get(&format!(
            "/products/{}/variations/{}",
            tee.parent_id, tee.id
        ))
        .await;
    assert_eq!(v.status, 200);
    assert_shape(&variation["body"], &v.body);
    // The variations controller has no name or type.
    assert!(v.body.get("name").is_none() && v.body.get("type").is_none());
    let vl = h
        .get(&format!(
            "/products/{}/variations?per_page=100",
            tee.parent_id
        ))
        .await;
    assert_shape(&list["body"], &vl.body);
    assert_eq!(
        vl.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
}

#[tokio::test]
async fn batch_answers_have_the_fixtures_shapes() {
    let Some(products) = fixture("products_batch_response.json", "woocommerce batch shapes") else {
        return;
    };
    let Some(variations) = fixture("variations_batch_response.json", "woocommerce batch shapes")
    else {
        return;
    };
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let stk = h.id("STK-PACK");
    let got = h
        .post(
            "/products/batch",
            json!({"create": [{"name": "New Mug", "type": "simple", "regular_price": "21.99"}],
                   "update": [{"id": tote, "regular_price": "17.00"}],
                   "delete": [stk]}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    for op in ["create", "update", "delete"] {
        assert_shape(&products["body"][op][0], &got.body[op][0]);
    }
    let cap = h.fake.item_by_sku("CAP-NAVY").expect("seeded");
    let khaki = h.id("CAP-KHAKI");
    let got = h
        .post(
            &format!("/products/{}/variations/batch", cap.parent_id),
            json!({"create": [{"regular_price": "10.00", "attributes": [{"id": 1, "option": "Navy"}]}],
                   "update": [{"id": cap.id, "regular_price": "23.00"}],
                   "delete": [khaki]}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    for op in ["create", "update", "delete"] {
        assert_shape(&variations["body"][op][0], &got.body[op][0]);
    }
}

#[tokio::test]
async fn errors_have_the_fixtures_bodies() {
    let Some(errors) = fixture("errors.json", "woocommerce errors") else {
        return;
    };
    let h = demo().await;
    let got = h.get("/no-such-route").await;
    assert_eq!(got.status, 404);
    assert_eq!(got.body, errors["wp_rest_no_route"]["body"]);
    let too_many: Vec<Value> = (0..101).map(|i| json!({"id": 1_000_000 + i})).collect();
    let got = h.post("/products/batch", json!({"update": too_many})).await;
    assert_eq!(got.status, 413);
    assert_eq!(got.body, errors["batch_too_large"]["body"]);
}

// ---- auth ----------------------------------------------------------------------------

#[tokio::test]
async fn auth_follows_woocommerce_rules() {
    let h = demo().await;
    let url = format!("{}/products", h.fake.api_base());

    let ok = h.send("GET", &url, Cred::Rw, None).await;
    assert_eq!(ok.status, 200);
    // Query-string keys work too (servers that strip `Authorization`).
    assert_eq!(h.send("GET", &url, Cred::Query, None).await.status, 200);

    for cred in [Cred::None, Cred::UnknownKey] {
        let got = h.send("GET", &url, cred, None).await;
        assert_eq!(got.status, 401);
        assert_eq!(
            got.body,
            json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}})
        );
    }
    let got = h.send("GET", &url, Cred::WrongSecret, None).await;
    assert_eq!(got.status, 401);
    assert_eq!(
        got.body,
        json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": {"status": 401}})
    );
    assert!(
        got.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic realm=\"WooCommerce API."))
    );
    // The wrong secret is refused even on a route that does not exist.
    let got = h
        .send(
            "GET",
            &format!("{}/nothing", h.fake.api_base()),
            Cred::WrongSecret,
            None,
        )
        .await;
    assert_eq!(got.error_code(), "woocommerce_rest_authentication_error");

    // The read-only key reads, and its writes are refused before dispatch, even the
    // empty batch of the permission probe.
    assert_eq!(h.send("GET", &url, Cred::Ro, None).await.status, 200);
    let got = h
        .send("POST", &format!("{url}/batch"), Cred::Ro, Some(json!({})))
        .await;
    assert_eq!(got.status, 401);
    assert_eq!(
        got.body,
        json!({"code": "woocommerce_rest_authentication_error", "message": "The API key provided does not have write permissions.", "data": {"status": 401}})
    );
    // The read/write key's empty batch answers PHP's empty array.
    let got = h
        .send("POST", &format!("{url}/batch"), Cred::Rw, Some(json!({})))
        .await;
    assert_eq!((got.status, got.body.clone()), (200, json!([])));
    // Anonymous batch: the batch permission message.
    let got = h
        .send("POST", &format!("{url}/batch"), Cred::None, Some(json!({})))
        .await;
    assert_eq!(got.error_code(), "woocommerce_rest_cannot_batch");

    // A write-only key cannot read.
    h.fake.add_key("ck_w", "cs_w", Permission::Write);
    let got = h
        .client
        .get(&url)
        .basic_auth("ck_w", Some("cs_w"))
        .send()
        .await
        .expect("answered");
    assert_eq!(got.status().as_u16(), 401);
    let body: Value = got.json().await.expect("json");
    assert_eq!(
        body["message"],
        "The API key provided does not have read permissions."
    );

    // Off SSL, Basic is never tried: the right key is anonymous.
    h.fake.set_ssl(false);
    let got = h.send("GET", &url, Cred::Rw, None).await;
    assert_eq!(got.error_code(), "woocommerce_rest_cannot_view");
    h.fake.set_ssl(true);

    // No secret in the log.
    let log = format!("{:?}", h.fake.request_log());
    assert!(!log.contains(SANDBOX_CONSUMER_SECRET) && !log.contains("cs_wrong"));
    assert!(
        !log.contains(SANDBOX_CONSUMER_KEY),
        "keys are cut to a prefix"
    );
}

#[test]
fn base64_round_trips() {
    for s in ["", "a", "ab", "abc", "ck_x:cs_y", "ünïcode:✓"] {
        let enc = auth::base64_encode(s.as_bytes());
        assert_eq!(auth::base64_decode(&enc).as_deref(), Some(s.as_bytes()));
    }
    assert_eq!(auth::base64_encode(b"ck:cs"), "Y2s6Y3M=");
    assert!(auth::base64_decode("not base64!").is_none());
}

#[tokio::test]
async fn rest_route_and_permalinks() {
    let h = demo().await;
    let via_query = h
        .send(
            "GET",
            &format!("{}/products&per_page=2", h.fake.rest_route_base()),
            Cred::Rw,
            None,
        )
        .await;
    assert_eq!(via_query.status, 200);
    assert_eq!(via_query.body.as_array().map(Vec::len), Some(2));

    let home = h
        .send("GET", &format!("{}/", h.fake.base_url()), Cred::None, None)
        .await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("https://api.w.org/"));
    let page = h
        .send(
            "GET",
            &format!("{}/shop/", h.fake.base_url()),
            Cred::None,
            None,
        )
        .await;
    assert_eq!(page.status, 404);

    h.fake.set_pretty_permalinks(false);
    let got = h.get("/products").await;
    assert_eq!(got.status, 404);
    assert!(
        got.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let via_query = h
        .send(
            "GET",
            &format!("{}/products&per_page=2", h.fake.rest_route_base()),
            Cred::Rw,
            None,
        )
        .await;
    assert_eq!(via_query.status, 200);
    // Links then use `?rest_route=` too.
    assert!(
        via_query
            .links()
            .iter()
            .any(|l| l.contains("?rest_route=/wc/v3/products"))
    );
}

// ---- reads ---------------------------------------------------------------------------

#[tokio::test]
async fn lists_paginate_with_wordpress_headers() {
    let h = demo().await;
    let all = h.get("/products?per_page=100").await;
    let total = all.body.as_array().map_or(0, Vec::len);
    assert_eq!(all.header("x-wp-total"), Some(total.to_string().as_str()));
    assert_eq!(all.header("x-wp-totalpages"), Some("1"));
    assert!(all.links().is_empty());
    // Only products: variations are not in `/products`.
    assert!(
        all.body
            .as_array()
            .is_some_and(|a| a.iter().all(|p| p["type"] != "variation"))
    );

    let p1 = h.get("/products?per_page=3&orderby=id&order=asc").await;
    let pages = total.div_ceil(3);
    assert_eq!(
        p1.header("x-wp-totalpages"),
        Some(pages.to_string().as_str())
    );
    let links = p1.links();
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(links[0].ends_with("rel=\"next\"") && links[0].contains("page=2"));
    let p2 = h
        .get("/products?per_page=3&orderby=id&order=asc&page=2")
        .await;
    let rels: Vec<bool> = ["prev", "next"]
        .iter()
        .map(|r| {
            p2.links()
                .iter()
                .any(|l| l.contains(&format!("rel=\"{r}\"")))
        })
        .collect();
    assert_eq!(rels, vec![true, pages > 2]);
    assert!(
        p2.links()
            .iter()
            .all(|l| !l.contains("first") && !l.contains("last"))
    );
    // Ids ascend across pages.
    let ids: Vec<u64> = [&p1, &p2]
        .iter()
        .flat_map(|g| g.body.as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["id"].as_u64())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Past the end: an empty page, not an error.
    let past = h.get("/products?page=99").await;
    assert_eq!((past.status, past.body.clone()), (200, json!([])));

    // per_page is bounded by the schema.
    let got = h.get("/products?per_page=101").await;
    assert_eq!(got.status, 400);
    assert_eq!(got.error_code(), "rest_invalid_param");
    assert_eq!(
        got.body["data"]["params"]["per_page"],
        "per_page must be between 1 (inclusive) and 100 (inclusive)"
    );
    assert_eq!(h.get("/products?orderby=bogus").await.status, 400);
}

#[tokio::test]
async fn sku_lookup_covers_variations_and_uses_own_skus() {
    let h = demo().await;
    let got = h.get("/products?sku=TEE-RED-S,TOTE-NAT,NOPE").await;
    let mut skus: Vec<&str> = got
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["sku"].as_str()).collect())
        .unwrap_or_default();
    skus.sort_unstable();
    assert_eq!(skus, vec!["TEE-RED-S", "TOTE-NAT"]);
    let variation = got
        .body
        .as_array()
        .and_then(|a| a.iter().find(|p| p["sku"] == "TEE-RED-S").cloned())
        .expect("variation found by SKU");
    assert_eq!(variation["type"], "variation");
    assert!(variation["parent_id"].as_u64().is_some_and(|p| p > 0));
    // The parent's SKU finds the parent only: the variation that inherits it has no
    // `_sku` of its own.
    let parent = h.get("/products?sku=TEE-CLASSIC").await;
    assert_eq!(parent.body.as_array().map(Vec::len), Some(1));
    assert_eq!(parent.body[0]["type"], "variable");
    let unknown = h.get("/products?sku=NOPE").await;
    assert_eq!(
        (unknown.body.clone(), unknown.header("x-wp-total")),
        (json!([]), Some("0"))
    );
}

#[tokio::test]
async fn variation_without_own_sku_reports_its_parents() {
    let h = demo().await;
    let parent = h.fake.item_by_sku("TEE-CLASSIC").expect("seeded");
    let list = h
        .get(&format!(
            "/products/{}/variations?per_page=100&context=edit",
            parent.id
        ))
        .await;
    let reporting: Vec<&Value> = list
        .body
        .as_array()
        .map(|a| a.iter().filter(|v| v["sku"] == "TEE-CLASSIC").collect())
        .unwrap_or_default();
    assert_eq!(
        reporting.len(),
        1,
        "context=edit does not help on the variations route"
    );
    let id = reporting[0]["id"].as_u64().expect("id");
    assert_eq!(h.fake.item(id).map(|i| i.own_sku), Some(String::new()));
    // The products controller in edit context shows the own (empty) SKU.
    let edit = h.get(&format!("/products/{id}?context=edit")).await;
    assert_eq!(edit.body["sku"], "");
    let view = h.get(&format!("/products/{id}")).await;
    assert_eq!(view.body["sku"], "TEE-CLASSIC");
}

#[tokio::test]
async fn parent_stock_variations_report_the_parents() {
    let h = demo().await;
    let red = h.fake.item_by_sku("BEAN-RED").expect("seeded");
    let got = h
        .get(&format!(
            "/products/{}/variations/{}",
            red.parent_id, red.id
        ))
        .await;
    assert_eq!(got.body["manage_stock"], "parent");
    assert_eq!(got.body["stock_quantity"], json!(17));
    assert_eq!(red.manage_stock, ManageStock::Parent);
    let parent = h.get(&format!("/products/{}", red.parent_id)).await;
    assert_eq!(
        (
            parent.body["manage_stock"].clone(),
            parent.body["stock_quantity"].clone()
        ),
        (json!(true), json!(17))
    );
}

#[tokio::test]
async fn fields_trim_nested_and_keep_id() {
    let h = demo().await;
    h.fake.set_cogs_enabled(true);
    let got = h
        .get("/products?per_page=1&orderby=id&order=asc&_fields=sku,cost_of_goods_sold.total_value,dimensions.width")
        .await;
    let first = &got.body[0];
    let keys: Vec<&String> = first
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.len(), 4, "{first}");
    assert!(first["id"].is_u64());
    assert_eq!(first["dimensions"], json!({"width": ""}));
    assert!(
        first["cost_of_goods_sold"]
            .as_object()
            .is_some_and(|c| c.len() == 1 && c.contains_key("total_value"))
    );
    assert!(first.get("_links").is_none());
    let with_links = h.get("/products?per_page=1&_fields=id,_links").await;
    assert!(with_links.body[0].get("_links").is_some());
}

#[tokio::test]
async fn cost_of_goods_appears_only_when_on() {
    let h = demo().await;
    let probe = "/products?per_page=1&_fields=id,cost_of_goods_sold";
    assert!(
        h.get(probe).await.body[0]
            .get("cost_of_goods_sold")
            .is_none()
    );
    h.fake.set_cogs_enabled(true);
    let on = h.get(probe).await;
    assert!(on.body[0].get("cost_of_goods_sold").is_some());
    let tee = h.fake.item_by_sku("TEE-RED-S").expect("seeded");
    let v = h
        .get(&format!(
            "/products/{}/variations/{}",
            tee.parent_id, tee.id
        ))
        .await;
    let cogs = &v.body["cost_of_goods_sold"];
    assert_eq!(cogs["values"][0]["defined_value"], json!(6.5));
    assert_eq!(cogs["total_value"], json!(6.5));
    assert_eq!(cogs["defined_value_overrides_parent"], json!(false));
}

#[tokio::test]
async fn variations_route_exists_from_10_3() {
    let h = demo().await;
    let got = h.get("/variations?per_page=100").await;
    assert_eq!(got.status, 200);
    let (_, variations) = h.fake.counts();
    assert_eq!(
        got.header("x-wp-total"),
        Some(variations.to_string().as_str())
    );
    assert!(got.body[0]["parent_id"].as_u64().is_some_and(|p| p > 0));
    assert!(
        h.get("/wc/v3").await.status == 404,
        "the index lives at the namespace root"
    );
    let index = h.send("GET", &h.fake.api_base(), Cred::Rw, None).await;
    assert!(index.body["routes"].get("/wc/v3/variations").is_some());

    h.fake.set_version("10.2.1");
    let got = h.get("/variations?per_page=1").await;
    assert_eq!(got.status, 404);
    assert_eq!(
        got.body,
        json!({"code": "rest_no_route", "message": "No route was found matching the URL and request method", "data": {"status": 404}})
    );
    let index = h.send("GET", &h.fake.api_base(), Cred::Rw, None).await;
    assert!(index.body["routes"].get("/wc/v3/variations").is_none());
    let status = h.get("/system_status?_fields=environment").await;
    assert_eq!(status.body["environment"]["version"], "10.2.1");
}

#[tokio::test]
async fn settings_give_currency_and_decimals_as_strings() {
    let h = demo().await;
    h.fake.set_currency("EUR", 3);
    let got = h.get("/settings/general").await;
    let value = |id: &str| {
        got.body
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == id))
            .map(|s| s["value"].clone())
    };
    assert_eq!(value("woocommerce_currency"), Some(json!("EUR")));
    assert_eq!(value("woocommerce_price_num_decimals"), Some(json!("3")));
    let one = h
        .get("/settings/general/woocommerce_price_num_decimals")
        .await;
    assert_eq!(one.body["value"], "3");
    let cur = h.get("/data/currencies/current").await;
    assert_eq!(
        (cur.body["code"].clone(), cur.body["symbol"].clone()),
        (json!("EUR"), json!("&euro;"))
    );
    let stock = h.get("/settings/products/woocommerce_manage_stock").await;
    assert_eq!(stock.body["value"], "yes");
    let status = h.get("/system_status").await;
    assert_eq!(status.body["settings"]["number_of_decimals"], json!(3));
    assert_eq!(status.body["environment"]["version"], "10.3.0");
}

#[tokio::test]
async fn modified_after_and_orderby() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    // Every seeded item carries the seed time; move the clock on and touch one.
    let cut = h.fake.now_gmt();
    h.fake.advance_clock(Duration::from_secs(5));
    assert!(h.fake.set_prices("TOTE-NAT", "18.00", ""));
    let got = h
        .get(&format!(
            "/products?modified_after={cut}&dates_are_gmt=true"
        ))
        .await;
    let ids: Vec<u64> = got
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![tote]);
    // Read as local time the same wall clock is three hours off: nothing, or everything.
    let local = h.get(&format!("/products?modified_after={cut}")).await;
    assert_ne!(local.body.as_array().map(Vec::len), Some(1));
    assert_eq!(
        h.get("/products?modified_after=yesterday").await.status,
        400
    );

    let by_modified = h
        .get("/products?orderby=modified&order=desc&per_page=1")
        .await;
    assert_eq!(by_modified.body[0]["id"], json!(tote));
    let by_title = h
        .get("/products?orderby=title&order=asc&per_page=100")
        .await;
    let names: Vec<&str> = by_title
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let inc = h
        .get(&format!(
            "/products?include={tote},{}&orderby=include",
            h.id("STK-PACK")
        ))
        .await;
    assert_eq!(inc.body.as_array().map(Vec::len), Some(2));
    assert_eq!(inc.body[0]["id"], json!(tote));
    let typed = h.get("/products?type=simple&per_page=100").await;
    assert!(
        typed
            .body
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|p| p["type"] == "simple"))
    );
}

#[tokio::test]
async fn dates_come_local_and_gmt_without_zone() {
    let h = demo().await;
    let got = h.get(&format!("/products/{}", h.id("TOTE-NAT"))).await;
    let local = got.body["date_modified"].as_str().unwrap_or("");
    let gmt = got.body["date_modified_gmt"].as_str().unwrap_or("");
    assert_eq!((local.len(), gmt.len()), (19, 19));
    assert_ne!(local, gmt, "the site is three hours behind GMT");
    // The scheduled sale: stored, but the active price is the regular one.
    let bundle = h.get(&format!("/products/{}", h.id("BNDL-MUG-TEE"))).await;
    assert_eq!(bundle.body["sale_price"], "29.90");
    assert_eq!(bundle.body["price"], "32.40");
    assert_eq!(bundle.body["on_sale"], json!(false));
    assert!(bundle.body["date_on_sale_from_gmt"].is_string());
    h.fake.advance_clock(Duration::from_secs(31 * 86_400));
    let bundle = h.get(&format!("/products/{}", h.id("BNDL-MUG-TEE"))).await;
    assert_eq!(
        (bundle.body["price"].clone(), bundle.body["on_sale"].clone()),
        (json!("29.90"), json!(true))
    );
}

#[tokio::test]
async fn seed_mirrors_the_demo_skus() {
    let h = demo().await;
    for sku in [
        "TEE-RED-S",
        "TEE-RED-M",
        "TEE-RED-L",
        "TEE-BLK-S",
        "TEE-BLK-M",
        "TEE-BLK-L",
        "HOOD-GRY-M",
        "HOOD-GRY-L",
        "CAP-NAVY",
        "CAP-KHAKI",
        "MUG-11OZ",
        "MUG-15OZ",
        "BEAN-RED",
        "BEAN-GRY",
        "SOCK-STR-M",
        "SOCK-STR-L",
        "TOTE-NAT",
        "STK-PACK",
        "BNDL-MUG-TEE",
    ] {
        assert!(h.fake.item_by_sku(sku).is_some(), "{sku} missing");
    }
    assert!(
        h.fake.item_by_sku("TEE-GRN-M").is_none(),
        "a sheet row with no item"
    );
    assert_eq!(
        h.fake.item_by_sku("STK-PACK").map(|i| i.manage_stock),
        Some(ManageStock::No)
    );
    let tee = h.fake.item_by_sku("TEE-RED-S").expect("seeded");
    assert_eq!(
        (
            tee.regular_price.as_str(),
            tee.sale_price.as_str(),
            tee.price.as_str()
        ),
        ("24.90", "19.90", "19.90")
    );
    assert_eq!(tee.global_unique_id, "0840012345011");
    assert_eq!(h.fake.items_reporting_sku("TEE-CLASSIC").len(), 2);
}

// ---- writes --------------------------------------------------------------------------

#[tokio::test]
async fn single_put_validates_its_schema_and_batch_items_do_not() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let got = h
        .put(&format!("/products/{tote}"), json!({"regular_price": 17.5}))
        .await;
    assert_eq!(got.status, 400);
    assert_eq!(got.error_code(), "rest_invalid_param");
    assert_eq!(
        got.body["data"]["params"]["regular_price"],
        "regular_price is not of type string."
    );
    assert_eq!(
        h.fake.item(tote).map(|i| i.regular_price),
        Some("16.00".into())
    );
    // The same value in a batch item goes through PHP's conversion.
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "regular_price": 17.5}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["regular_price"], "17.5");
    let ok = h
        .put(
            &format!("/products/{tote}"),
            json!({"regular_price": "18.00"}),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body["regular_price"].clone()),
        (200, json!("18.00"))
    );
}

fn error_of(v: &Value) -> (String, u64) {
    (
        v["error"]["code"].as_str().unwrap_or("").to_owned(),
        v["error"]["data"]["status"].as_u64().unwrap_or(0),
    )
}

#[tokio::test]
async fn batch_applies_woocommerces_silent_rewrites() {
    let h = demo().await;
    let (tote, stk, tee_parent) = (h.id("TOTE-NAT"), h.id("STK-PACK"), h.id("TEE-CLASSIC"));
    let got = h
        .post(
            "/products/batch",
            json!({"update": [
                // A sale not below the regular price is dropped.
                {"id": tote, "regular_price": "10.00", "sale_price": "12.00"},
                // Stock on an unmanaged item is ignored, and the call succeeds.
                {"id": stk, "stock_quantity": 5, "status": "bogus"},
                // A variable product has no price of its own.
                {"id": tee_parent, "regular_price": "30.00", "sale_price": "25.00"},
            ]}),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let u = &got.body["update"];
    assert_eq!(
        (
            u[0]["regular_price"].clone(),
            u[0]["sale_price"].clone(),
            u[0]["price"].clone()
        ),
        (json!("10.00"), json!(""), json!("10.00"))
    );
    assert_eq!(
        (u[1]["stock_quantity"].clone(), u[1]["manage_stock"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(u[1]["status"], "draft", "an unknown status becomes draft");
    assert_eq!(
        (u[2]["regular_price"].clone(), u[2]["sale_price"].clone()),
        (json!(""), json!(""))
    );
    assert_eq!(h.fake.item(tote).map(|i| i.sale_price), Some(String::new()));
    assert_eq!(h.fake.item(stk).and_then(|i| i.stock_quantity), None);

    // A sale below the regular price stays; prices are not rounded.
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "regular_price": "20.005", "sale_price": "15.5"}]}),
        )
        .await;
    assert_eq!(
        (
            got.body["update"][0]["regular_price"].clone(),
            got.body["update"][0]["sale_price"].clone()
        ),
        (json!("20.005"), json!("15.5"))
    );
    // wc_format_decimal: a decimal comma on a `.` store loses its meaning.
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "regular_price": "19,99", "sale_price": "$7.50"}]}),
        )
        .await;
    assert_eq!(
        (
            got.body["update"][0]["regular_price"].clone(),
            got.body["update"][0]["sale_price"].clone()
        ),
        (json!("1999"), json!("7.50"))
    );

    // Store-wide stock management off: a product's stock write is ignored.
    h.fake.set_store_manage_stock(false);
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "stock_quantity": 99}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["stock_quantity"], json!(20));
    h.fake.set_store_manage_stock(true);
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "stock_quantity": "7"}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["stock_quantity"], json!(7));
}

#[tokio::test]
async fn variation_rewrites_inheritance_and_parent_stock() {
    let h = demo().await;
    let tee = h.id("TEE-CLASSIC");
    let green = h
        .fake
        .items_reporting_sku("TEE-CLASSIC")
        .into_iter()
        .find(|i| i.kind == "variation")
        .expect("seeded");
    let got = h
        .post(
            &format!("/products/{tee}/variations/batch"),
            json!({"update": [{"id": green.id, "regular_price": "21.00"}]}),
        )
        .await;
    assert_eq!(
        got.body["update"][0]["sku"], "TEE-CLASSIC",
        "still the parent's SKU"
    );
    assert_eq!(got.body["update"][0]["regular_price"], "21.00");
    // Giving it its own SKU ends the inheritance.
    let got = h
        .post(
            &format!("/products/{tee}/variations/batch"),
            json!({"update": [{"id": green.id, "sku": "TEE-GRN-M"}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["sku"], "TEE-GRN-M");
    assert_eq!(h.fake.items_reporting_sku("TEE-CLASSIC").len(), 1);

    // A `"parent"` variation's stock write lands on its own hidden `_stock`: the API
    // still reports the parent's. The parent's write moves both.
    let red = h.fake.item_by_sku("BEAN-RED").expect("seeded");
    let got = h
        .post(
            &format!("/products/{}/variations/batch", red.parent_id),
            json!({"update": [{"id": red.id, "stock_quantity": 3}]}),
        )
        .await;
    assert_eq!(
        (
            got.body["update"][0]["manage_stock"].clone(),
            got.body["update"][0]["stock_quantity"].clone()
        ),
        (json!("parent"), json!(17))
    );
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": red.parent_id, "stock_quantity": 12}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["stock_quantity"], json!(12));
    for sku in ["BEAN-RED", "BEAN-GRY"] {
        assert_eq!(
            h.fake.item_by_sku(sku).and_then(|i| i.stock_quantity),
            Some(12)
        );
    }
    // Taking the variation's stock over: its own number from then on.
    let got = h
        .post(
            &format!("/products/{}/variations/batch", red.parent_id),
            json!({"update": [{"id": red.id, "manage_stock": true, "stock_quantity": 4}]}),
        )
        .await;
    assert_eq!(
        (
            got.body["update"][0]["manage_stock"].clone(),
            got.body["update"][0]["stock_quantity"].clone()
        ),
        (json!(true), json!(4))
    );
    // An unmanaged variation of an unmanaged parent drops stock writes.
    let navy = h.fake.item_by_sku("CAP-NAVY").expect("seeded");
    let got = h
        .post(
            &format!("/products/{}/variations/batch", navy.parent_id),
            json!({"update": [{"id": navy.id, "manage_stock": false, "stock_quantity": 9}]}),
        )
        .await;
    assert_eq!(
        (
            got.body["update"][0]["manage_stock"].clone(),
            got.body["update"][0]["stock_quantity"].clone()
        ),
        (json!(false), Value::Null)
    );
}

#[tokio::test]
async fn per_item_errors_come_in_a_200_and_save_nothing_of_the_item() {
    let h = demo().await;
    let (tote, red) = (h.id("TOTE-NAT"), h.id("TEE-RED-S"));
    let got = h
        .post(
            "/products/batch",
            json!({
                "create": [
                    {"name": "Dup", "sku": "TOTE-NAT", "regular_price": "1.00"},
                    {"name": "Fresh", "sku": "NEW-1", "regular_price": "2.00"},
                ],
                "update": [
                    {"id": tote, "sku": "TEE-RED-S", "regular_price": "99.00"},
                    {"id": 987_654, "regular_price": "1.00"},
                    {"id": red, "regular_price": "1.00"},
                    {"id": tote, "global_unique_id": "0840012345011"},
                    {"id": tote, "tax_status": "weird"},
                ],
                "delete": [987_655],
            }),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let c = &got.body["create"];
    assert_eq!(c[0]["id"], json!(0), "a failed create has id 0");
    assert_eq!(error_of(&c[0]), ("product_invalid_sku".into(), 400));
    assert_eq!(c[0]["error"]["data"]["resource_id"], json!(tote));
    assert_eq!(c[0]["error"]["data"]["unique_sku"], "TOTE-NAT-1");
    assert_eq!(c[0]["error"]["message"], "Invalid or duplicated SKU.");
    assert_eq!(c[1]["sku"], "NEW-1");
    assert!(c[1]["id"].as_u64().is_some_and(|id| id > 0));
    let u = &got.body["update"];
    assert_eq!(
        (u[0]["id"].clone(), error_of(&u[0])),
        (json!(tote), ("product_invalid_sku".into(), 400))
    );
    assert_eq!(
        u[1],
        json!({"id": 987_654, "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}})
    );
    assert_eq!(
        error_of(&u[2]),
        ("woocommerce_rest_invalid_product_id".into(), 404)
    );
    assert_eq!(
        error_of(&u[3]),
        ("product_invalid_global_unique_id".into(), 400)
    );
    assert_eq!(u[3]["error"]["data"]["resource_id"], json!(red));
    assert_eq!(error_of(&u[4]), ("product_invalid_tax_status".into(), 400));
    assert_eq!(
        error_of(&got.body["delete"][0]),
        ("woocommerce_rest_product_invalid_id".into(), 404)
    );
    // Whole or nothing: the failed item's price did not land.
    let t = h.fake.item(tote).expect("kept");
    assert_eq!(
        (t.own_sku.as_str(), t.regular_price.as_str()),
        ("TOTE-NAT", "16.00")
    );
    assert_eq!(
        h.fake.item(red).map(|i| i.regular_price),
        Some("24.90".into())
    );

    // A variation addressed under another parent is not found there.
    let cap = h.id("CAP");
    let got = h
        .post(
            &format!("/products/{cap}/variations/batch"),
            json!({"update": [{"id": red, "regular_price": "1.00"}]}),
        )
        .await;
    assert_eq!(
        error_of(&got.body["update"][0]),
        ("woocommerce_rest_product_variation_invalid_id".into(), 400)
    );
}

#[tokio::test]
async fn skus_and_gtins_are_sanitised() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let got = h
        .post("/products/batch", json!({"update": [{"id": tote, "sku": "  TOTE <b>NEW</b>\t%41X  ", "global_unique_id": "ABC-123"}]}))
        .await;
    assert_eq!(got.body["update"][0]["sku"], "TOTE NEW X");
    assert_eq!(got.body["update"][0]["global_unique_id"], "-123");
}

#[tokio::test]
async fn batch_limit_counts_every_operation() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let updates: Vec<Value> = (0..60).map(|_| json!({"id": tote})).collect();
    let creates: Vec<Value> = (0..40).map(|i| json!({"name": format!("P{i}")})).collect();
    let ok = h
        .post(
            "/products/batch",
            json!({"update": updates.clone(), "create": creates.clone()}),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["create"].as_array().map(Vec::len), Some(40));
    let (products_before, _) = h.fake.counts();
    let over = h
        .post(
            "/products/batch",
            json!({"update": updates, "create": creates, "delete": [tote]}),
        )
        .await;
    assert_eq!(over.status, 413);
    assert_eq!(
        over.error_code(),
        "woocommerce_rest_request_entity_too_large"
    );
    assert_eq!(
        h.fake.counts().0,
        products_before,
        "nothing of a refused batch lands"
    );
    h.fake.set_batch_limit(10);
    let over = h
        .post("/products/batch", json!({"create": (0..11).map(|i| json!({"name": format!("Q{i}")})).collect::<Vec<_>>()}))
        .await;
    assert_eq!(
        over.body["message"],
        "Unable to accept more than 10 items for this request."
    );
}

#[tokio::test]
async fn saves_bump_date_modified_and_cogs_follows_the_feature() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let before = h.fake.item(tote).expect("seeded").date_modified_gmt;
    h.fake.advance_clock(Duration::from_secs(3_600));
    let got = h
        .post("/products/batch", json!({"update": [{"id": tote}]}))
        .await;
    let after = got.body["update"][0]["date_modified_gmt"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(after > before, "{after} after {before}");
    assert_eq!(after, h.fake.now_gmt());

    // Off: a cost is silently ignored.
    let cost = json!({"values": [{"defined_value": 3}, {"defined_value": 1.5}]});
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "cost_of_goods_sold": cost}]}),
        )
        .await;
    assert_eq!(got.status, 200);
    assert!(got.body["update"][0].get("cost_of_goods_sold").is_none());
    assert_eq!(
        h.fake.item(tote).map(|i| i.cost),
        Some("4.80".parse().unwrap_or_default())
    );
    // On: the defined values are summed.
    h.fake.set_cogs_enabled(true);
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "cost_of_goods_sold": cost}]}),
        )
        .await;
    assert_eq!(
        got.body["update"][0]["cost_of_goods_sold"]["total_value"],
        json!(4.5)
    );
    // A variation's cost adds to its parent's unless it overrides it.
    let red = h.fake.item_by_sku("TEE-RED-S").expect("seeded");
    let route = format!("/products/{}/variations/batch", red.parent_id);
    h.post("/products/batch", json!({"update": [{"id": red.parent_id, "cost_of_goods_sold": {"values": [{"defined_value": 1}]}}]})).await;
    let got = h.post(&route, json!({"update": [{"id": red.id, "cost_of_goods_sold": {"values": [{"defined_value": 2}]}}]})).await;
    assert_eq!(
        got.body["update"][0]["cost_of_goods_sold"]["total_value"],
        json!(3.0)
    );
    let got = h.post(&route, json!({"update": [{"id": red.id, "cost_of_goods_sold": {"defined_value_overrides_parent": true}}]})).await;
    assert_eq!(
        got.body["update"][0]["cost_of_goods_sold"]["total_value"],
        json!(2.0)
    );
}

#[tokio::test]
async fn tags_by_name_are_created_and_creates_default() {
    let h = demo().await;
    let got = h
        .post("/products/batch", json!({"create": [{"name": "Sticker XL", "sku": "STK-XL", "regular_price": "5.00", "tags": [{"name": "new-tag"}, {"name": "cotton"}]}]}))
        .await;
    let p = &got.body["create"][0];
    let tags: Vec<&str> = p["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(tags, vec!["new-tag", "cotton"]);
    assert_eq!(
        (p["type"].clone(), p["status"].clone(), p["slug"].clone()),
        (json!("simple"), json!("publish"), json!("sticker-xl"))
    );
    let single = h
        .post(
            "/products",
            json!({"name": "Single", "regular_price": "3.00"}),
        )
        .await;
    assert_eq!(single.status, 201);
    // A description reads back through wpautop in view context, raw in edit context.
    let id = h.id("STK-XL");
    h.post(
        "/products/batch",
        json!({"update": [{"id": id, "description": "Big stickers."}]}),
    )
    .await;
    assert_eq!(
        h.get(&format!("/products/{id}")).await.body["description"],
        "<p>Big stickers.</p>\n"
    );
    assert_eq!(
        h.get(&format!("/products/{id}?context=edit")).await.body["description"],
        "Big stickers."
    );
}

// ---- orders --------------------------------------------------------------------------

#[tokio::test]
async fn orders_decrement_stock_atomically() {
    let h = demo().await;
    let cut = h.fake.now_gmt();
    h.fake.advance_clock(Duration::from_secs(2));
    let order = h
        .fake
        .place_order(&[
            ("TEE-RED-S", 2),
            ("BEAN-RED", 1),
            ("BEAN-GRY", 2),
            ("STK-PACK", 3),
        ])
        .expect("placed");
    assert_eq!(
        h.fake
            .item_by_sku("TEE-RED-S")
            .and_then(|i| i.stock_quantity),
        Some(12)
    );
    // Parent stock: both variations come off the parent's number.
    for sku in ["BEAN-RED", "BEAN-GRY", "BEAN"] {
        assert_eq!(
            h.fake.item_by_sku(sku).and_then(|i| i.stock_quantity),
            Some(14),
            "{sku}"
        );
    }
    assert_eq!(
        h.fake
            .item_by_sku("STK-PACK")
            .and_then(|i| i.stock_quantity),
        None
    );

    // The stock holders show in `modified_after`: the variation, and the beanie parent
    // (not its variations, whose own records did not change).
    let got = h
        .get(&format!(
            "/products?modified_after={cut}&dates_are_gmt=true&per_page=100"
        ))
        .await;
    let mut ids: Vec<u64> = got
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    assert_eq!(ids, vec![h.id("BEAN")]);
    let vars = h
        .get(&format!(
            "/variations?modified_after={cut}&dates_are_gmt=true"
        ))
        .await;
    let vids: Vec<u64> = vars
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(vids, vec![h.id("TEE-RED-S")]);

    // Listed by the REST orders route, with numbers as strings and line ids.
    let orders = h
        .get(&format!(
            "/orders?modified_after={cut}&dates_are_gmt=true&_fields=id,number,line_items"
        ))
        .await;
    assert_eq!(orders.body.as_array().map(Vec::len), Some(1));
    let o = &orders.body[0];
    assert_eq!(
        (o["id"].clone(), o["number"].clone()),
        (json!(order), json!(order.to_string()))
    );
    let line = &o["line_items"][0];
    assert_eq!(
        (
            line["product_id"].clone(),
            line["variation_id"].clone(),
            line["quantity"].clone(),
            line["sku"].clone()
        ),
        (
            json!(h.id("TEE-CLASSIC")),
            json!(h.id("TEE-RED-S")),
            json!(2),
            json!("TEE-RED-S")
        )
    );
    assert!(line["price"].is_f64());
    assert_eq!(
        h.fake.orders_between(h.fake.now() - 10, h.fake.now()),
        vec![order]
    );
    let earlier = h.get("/orders?modified_before=2000-01-01T00:00:00").await;
    assert_eq!(earlier.body, json!([]));

    // Short stock refuses the whole order: nothing changes.
    let err = h.fake.place_order(&[("TEE-RED-M", 1), ("TEE-RED-L", 10)]);
    assert!(
        matches!(
            err,
            Err(WooFakeError::OutOfStock {
                available: 9,
                wanted: 10,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        h.fake
            .item_by_sku("TEE-RED-M")
            .and_then(|i| i.stock_quantity),
        Some(22)
    );
    assert!(matches!(
        h.fake.place_order(&[("TEE-CLASSIC", 1)]),
        Err(WooFakeError::NotPurchasable(_))
    ));
    assert!(matches!(
        h.fake.place_order(&[("NOPE", 1)]),
        Err(WooFakeError::UnknownItem(_))
    ));
    // By id too.
    let tote = h.id("TOTE-NAT");
    h.fake
        .place_order(&[(&tote.to_string(), 1)])
        .expect("by id");
    assert_eq!(h.fake.item(tote).and_then(|i| i.stock_quantity), Some(19));
}

// ---- knobs ---------------------------------------------------------------------------

#[tokio::test]
async fn scripted_faults_answer_like_hosts_do() {
    let h = demo().await;
    h.fake.add_fault(FaultRule::next(
        1,
        Fault::TooMany {
            retry_after: Some("3".into()),
            body: FaultBody::Html,
        },
    ));
    h.fake.add_fault(FaultRule::next(
        1,
        Fault::Unavailable {
            retry_after: None,
            body: FaultBody::Empty,
        },
    ));
    h.fake.add_fault(FaultRule::next(
        1,
        Fault::Unavailable {
            retry_after: Some("1".into()),
            body: FaultBody::Html,
        },
    ));
    h.fake.add_fault(FaultRule::next(
        1,
        Fault::TooMany {
            retry_after: None,
            body: FaultBody::Json,
        },
    ));
    let a = h.get("/products").await;
    assert_eq!((a.status, a.header("retry-after")), (429, Some("3")));
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
            && a.text.contains("<html>")
    );
    let b = h.get("/products").await;
    assert_eq!(
        (b.status, b.text.as_str(), b.header("content-type")),
        (503, "", None)
    );
    let c = h.get("/products").await;
    assert_eq!((c.status, c.header("retry-after")), (503, Some("1")));
    assert!(c.text.contains("Service Unavailable"));
    let d = h.get("/products").await;
    assert_eq!(
        (d.status, d.body["data"]["status"].clone()),
        (429, json!(429))
    );
    assert_eq!(h.get("/products").await.status, 200, "faults are used up");
    assert_eq!(h.fake.faults_injected(), 4);

    // Matching: only the batch route, twice.
    h.fake.add_fault(FaultRule::matching(
        "post",
        "/products/batch",
        2,
        Fault::Unavailable {
            retry_after: None,
            body: FaultBody::Json,
        },
    ));
    assert_eq!(h.get("/products").await.status, 200);
    assert_eq!(h.post("/products/batch", json!({})).await.status, 503);
    assert_eq!(h.post("/products/batch", json!({})).await.status, 503);
    assert_eq!(h.post("/products/batch", json!({})).await.status, 200);

    // Dropped before: nothing applied. Lost answer: applied, the client sees an error.
    let tote = h.id("TOTE-NAT");
    let url = format!("{}/products/batch", h.fake.api_base());
    let send = |qty: i64| {
        h.client
            .post(&url)
            .basic_auth(h.fake.consumer_key(), Some(h.fake.consumer_secret()))
            .json(&json!({"update": [{"id": tote, "stock_quantity": qty}]}))
            .send()
    };
    h.fake.add_fault(FaultRule::next(1, Fault::DropBefore));
    let dropped = match send(5).await {
        Ok(r) => r.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(dropped, "the connection drops");
    assert_eq!(h.fake.item(tote).and_then(|i| i.stock_quantity), Some(20));
    h.fake.add_fault(FaultRule::next(1, Fault::LostAnswer));
    let lost = match send(6).await {
        Ok(r) => r.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(lost, "the answer is lost");
    assert_eq!(h.fake.item(tote).and_then(|i| i.stock_quantity), Some(6));
    let log = h.fake.request_log();
    assert_eq!(
        log.last().map(|l| (l.status, l.fault.clone())),
        Some((None, Some(Fault::LostAnswer)))
    );
}

#[tokio::test]
async fn a_held_batch_lets_an_order_land_before_it_applies() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    let hold = h.fake.hold_batch(PRODUCTS_BATCH, 1, HoldPoint::BeforeApply);
    let client = h.client.clone();
    let (url, key, secret) = (
        format!("{}/products/batch", h.fake.api_base()),
        h.fake.consumer_key(),
        h.fake.consumer_secret(),
    );
    let write = tokio::spawn(async move {
        client
            .post(url)
            .basic_auth(key, Some(secret))
            .json(&json!({"update": [{"id": tote, "stock_quantity": 30}]}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    hold.held().await;
    assert_eq!(h.fake.in_flight(), 1);
    // While it is parked the store serves others: a sale lands first.
    h.fake.place_order(&[("TOTE-NAT", 1)]).expect("placed");
    assert_eq!(
        h.get(&format!("/products/{tote}")).await.body["stock_quantity"],
        json!(19)
    );
    assert!(
        h.fake.max_in_flight() >= 2,
        "the read ran while the batch was held"
    );
    hold.release();
    assert_eq!(write.await.ok().and_then(Result::ok), Some(200));
    // No compare-and-set: the absolute write erased the sale's decrement.
    assert_eq!(h.fake.item(tote).and_then(|i| i.stock_quantity), Some(30));

    // After apply, abandoned: the write landed, the answer never comes.
    let hold = h.fake.hold_batch(PRODUCTS_BATCH, 1, HoldPoint::AfterApply);
    let client = h.client.clone();
    let url = format!("{}/products/batch", h.fake.api_base());
    let write = tokio::spawn(async move {
        client
            .post(url)
            .basic_auth(key, Some(secret))
            .json(&json!({"update": [{"id": tote, "stock_quantity": 31}]}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    hold.held().await;
    assert_eq!(h.fake.item(tote).and_then(|i| i.stock_quantity), Some(31));
    hold.abandon();
    assert!(write.await.ok().is_some_and(|r| r.is_err()));
}

#[tokio::test]
async fn request_log_and_latency() {
    let h = demo().await;
    h.fake.set_latency(Duration::from_millis(150));
    let got = h
        .send(
            "GET",
            &format!("{}/products?per_page=2&page=1", h.fake.api_base()),
            Cred::Query,
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    h.fake.set_latency(Duration::ZERO);
    h.get("/nothing").await;
    let log = h.fake.request_log();
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str(), first.status),
        ("GET", "/wp-json/wc/v3/products", Some(200))
    );
    assert!(
        first
            .query
            .starts_with("per_page=2&page=1&consumer_key=ck_sand…&consumer_secret=[redacted]"),
        "{}",
        first.query
    );
    assert_eq!(first.user_agent.as_deref(), Some("woo-fake-tests/1"));
    assert_eq!((first.key, first.auth), (Some("read_write"), Some("query")));
    assert!(first.elapsed >= Duration::from_millis(150));
    assert_eq!((log[1].status, log[1].auth), (Some(404), Some("basic")));
    h.fake.clear_request_log();
    assert!(h.fake.request_log().is_empty());
}

// ---- big catalogues --------------------------------------------------------------------

#[tokio::test]
async fn generated_catalogues_serve_every_variation() {
    let h = start(WooOptions {
        catalogue: Catalogue::Generated {
            parents: 40,
            per_parent: 5,
        },
        ..WooOptions::default()
    })
    .await;
    assert_eq!(h.fake.counts(), (40, 200));
    let got = h
        .get("/variations?per_page=100&orderby=id&order=asc&_fields=id,sku,parent_id")
        .await;
    assert_eq!(
        (got.header("x-wp-total"), got.header("x-wp-totalpages")),
        (Some("200"), Some("2"))
    );
    let parent = got.body[0]["parent_id"].as_u64().expect("parent");
    let per_parent = h
        .get(&format!("/products/{parent}/variations?per_page=100"))
        .await;
    assert_eq!(per_parent.body.as_array().map(Vec::len), Some(5));
    let skus = h.get("/products?sku=GEN-3-4,GEN-39-0").await;
    assert_eq!(skus.body.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_hundred_thousand_variations_fit() {
    let h = start(WooOptions {
        catalogue: Catalogue::Generated {
            parents: 20_000,
            per_parent: 5,
        },
        ..WooOptions::default()
    })
    .await;
    assert_eq!(h.fake.counts(), (20_000, 100_000));
    let got = h
        .get("/variations?per_page=100&page=1000&orderby=id&order=asc&_fields=id,sku")
        .await;
    assert_eq!(got.header("x-wp-total"), Some("100000"));
    assert_eq!(got.body.as_array().map(Vec::len), Some(100));
    assert_eq!(got.body[99]["sku"], "GEN-19999-4");
}

#[tokio::test]
async fn random_faults_are_seeded_and_batch_items_cost_time() {
    let h = demo().await;
    let run = |seed: u64| {
        let h = &h;
        async move {
            h.fake.set_random_faults(0.5, seed);
            let mut statuses = Vec::new();
            for _ in 0..40 {
                let r = h
                    .client
                    .get(format!("{}/products?per_page=1", h.fake.api_base()))
                    .basic_auth(h.fake.consumer_key(), Some(h.fake.consumer_secret()))
                    .send()
                    .await;
                statuses.push(match r {
                    Ok(r) => match r.bytes().await {
                        Ok(_) => 0,
                        Err(_) => 1,
                    },
                    Err(_) => 1,
                });
            }
            h.fake.set_random_faults(0.0, 0);
            statuses
        }
    };
    let before = h.fake.faults_injected();
    let a = run(7).await;
    let injected = h.fake.faults_injected() - before;
    assert!((5..=35).contains(&injected), "{injected} of 40");
    let b = run(7).await;
    assert_eq!(a, b, "the same seed draws the same faults");
    let log = h.fake.request_log();
    assert!(log.iter().any(|l| l.status == Some(429)) && log.iter().any(|l| l.status == Some(503)));

    h.fake.set_batch_item_latency(Duration::from_millis(20));
    let tote = h.id("TOTE-NAT");
    let updates: Vec<Value> = (0..10).map(|_| json!({"id": tote})).collect();
    h.post("/products/batch", json!({"update": updates})).await;
    let last = h.fake.request_log().pop().expect("logged");
    assert!(
        last.elapsed >= Duration::from_millis(200),
        "{:?}",
        last.elapsed
    );
}

#[tokio::test]
async fn sku_filters_match_whole_lists_partials_and_gtins() {
    let h = demo().await;
    let stk = h.id("STK-PACK");
    assert!(h.fake.force_sku(stk, "A,B"));
    let got = h.get("/products?sku=A,B").await;
    assert_eq!(
        got.body.as_array().map(Vec::len),
        Some(1),
        "the whole string matches too"
    );
    let partial = h.get("/products?search_sku=TEE-RED&per_page=100").await;
    assert_eq!(partial.body.as_array().map(Vec::len), Some(3));
    let gtin = h.get("/products?global_unique_id=0840012346018").await;
    assert_eq!(gtin.body[0]["sku"], "MUG-11OZ");
    // A duplicate forced in (as old imports leave them) is listed twice.
    let tote = h.id("TOTE-NAT");
    assert!(h.fake.force_sku(tote, "MUG-11OZ"));
    assert_eq!(
        h.get("/products?sku=MUG-11OZ")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Deleting the first holder leaves the other one found by the SKU.
    let first = h.fake.item_by_sku("MUG-11OZ").expect("held").id;
    let mug = h.id("MUG");
    h.send(
        "DELETE",
        &format!(
            "{}/products/{mug}/variations/{first}?force=true",
            h.fake.api_base()
        ),
        Cred::Rw,
        None,
    )
    .await;
    assert_eq!(h.fake.item_by_sku("MUG-11OZ").map(|i| i.id), Some(tote));
}

// ---- the sandbox -----------------------------------------------------------------------

#[tokio::test]
async fn the_sandbox_pairs_the_demo_sheet_with_the_store() {
    let sandbox = WooSandbox::demo(0).await.expect("starts");
    let rows = sandbox.sheets.rows("Inventory");
    let skus: Vec<String> = rows
        .iter()
        .skip(1)
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .collect();
    let missing: Vec<&String> = skus
        .iter()
        .filter(|s| sandbox.woo.item_by_sku(s).is_none())
        .collect();
    assert_eq!(
        missing,
        vec!["TEE-GRN-M"],
        "only the deliberate row matches nothing"
    );
    sandbox.fix_demo_sheet();
    assert_eq!(
        sandbox
            .sheets
            .cell("Inventory", "A22")
            .filter(|v| *v != json!("")),
        None
    );
    assert_eq!(sandbox.sheets.cell("Inventory", "C14"), Some(json!(14.5)));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sandbox.write_config(dir.path(), "").expect("written");
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(text.contains(&format!("url = \"{}\"", sandbox.woo.base_url())));
    assert!(text.contains("stock = \"Stock\"") && !text.contains("[sheet.inventory]"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Cost of goods is on in the sandbox store, since the sheet has a cost column.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let got: Value = reqwest::Client::new()
        .get(format!(
            "{}/products?per_page=1&_fields=id,cost_of_goods_sold",
            sandbox.woo.api_base()
        ))
        .basic_auth(
            sandbox.woo.consumer_key(),
            Some(sandbox.woo.consumer_secret()),
        )
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert!(got[0].get("cost_of_goods_sold").is_some());
}

#[tokio::test]
async fn cancelled_orders_restock_and_nulls_leave_fields_alone() {
    let h = demo().await;
    let order = h
        .fake
        .place_order(&[("BEAN-RED", 2), ("TEE-RED-S", 1)])
        .expect("placed");
    assert_eq!(
        h.fake.item_by_sku("BEAN").and_then(|i| i.stock_quantity),
        Some(15)
    );
    let cut = h.fake.now_gmt();
    h.fake.advance_clock(Duration::from_secs(2));
    h.fake
        .set_order_status(order, "cancelled")
        .expect("known order");
    assert_eq!(
        h.fake.item_by_sku("BEAN").and_then(|i| i.stock_quantity),
        Some(17)
    );
    assert_eq!(
        h.fake
            .item_by_sku("TEE-RED-S")
            .and_then(|i| i.stock_quantity),
        Some(14)
    );
    let changed = h
        .get(&format!("/orders?modified_after={cut}&dates_are_gmt=true"))
        .await;
    assert_eq!(changed.body[0]["status"], "cancelled");
    assert!(matches!(
        h.fake.set_order_status(1, "completed"),
        Err(WooFakeError::UnknownOrder(1))
    ));

    // `isset()`: a null leaves the field as it is.
    let tote = h.id("TOTE-NAT");
    let got = h
        .post("/products/batch", json!({"update": [{"id": tote, "sku": null, "regular_price": null, "stock_quantity": null, "sale_price": "9.00"}]}))
        .await;
    let u = &got.body["update"][0];
    assert_eq!(
        (
            u["sku"].clone(),
            u["regular_price"].clone(),
            u["stock_quantity"].clone(),
            u["sale_price"].clone()
        ),
        (json!("TOTE-NAT"), json!("16.00"), json!(20), json!("9.00"))
    );
    // The log keeps what was sent.
    let last = h.fake.request_log().pop().expect("logged");
    assert_eq!(
        last.body
            .as_ref()
            .map(|b| b["update"][0]["sale_price"].clone()),
        Some(json!("9.00"))
    );
}

#[tokio::test]
async fn single_routes_deltas_creates_and_deletes() {
    let h = demo().await;
    let tote = h.id("TOTE-NAT");
    // The undocumented `inventory_delta` (§3.1): read-modify-write, only without
    // `stock_quantity`.
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "inventory_delta": -3}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["stock_quantity"], json!(17));
    let got = h
        .post(
            "/products/batch",
            json!({"update": [{"id": tote, "inventory_delta": -3, "stock_quantity": 5}]}),
        )
        .await;
    assert_eq!(got.body["update"][0]["stock_quantity"], json!(5));

    // A variation is read through `/products/{id}` but not written there.
    let red = h.fake.item_by_sku("TEE-RED-S").expect("seeded");
    assert_eq!(
        h.get(&format!("/products/{}", red.id)).await.body["type"],
        "variation"
    );
    let got = h
        .put(
            &format!("/products/{}", red.id),
            json!({"regular_price": "1.00"}),
        )
        .await;
    assert_eq!(
        (got.status, got.error_code()),
        (404, "woocommerce_rest_invalid_product_id")
    );
    let got = h
        .put(
            &format!("/products/{}/variations/{}", red.parent_id, red.id),
            json!({"regular_price": "23.00"}),
        )
        .await;
    assert_eq!(
        (got.status, got.body["regular_price"].clone()),
        (200, json!("23.00"))
    );
    assert_eq!(
        h.get(&format!("/products/{}/variations/999", red.parent_id))
            .await
            .error_code(),
        "woocommerce_rest_product_variation_invalid_id"
    );

    // A variation created under its parent, with an attribute the parent offers.
    let created = h
        .post(
            &format!("/products/{}/variations", red.parent_id),
            json!({"sku": "TEE-GRN-L", "regular_price": "19.90", "manage_stock": true, "stock_quantity": 4,
                   "attributes": [{"id": 1, "option": "Green"}, {"name": "Size", "option": "L"}, {"name": "Fabric", "option": "Silk"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let attrs: Vec<&str> = created.body["attributes"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["option"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        attrs,
        vec!["Green", "L"],
        "an attribute the parent lacks is skipped"
    );
    assert_eq!(created.body["stock_quantity"], json!(4));
    // Not under a simple product.
    let got = h
        .post(
            &format!("/products/{tote}/variations/batch"),
            json!({"create": [{"regular_price": "1.00"}]}),
        )
        .await;
    assert_eq!(
        error_of(&got.body["create"][0]).0,
        "woocommerce_rest_product_variation_invalid_parent"
    );
    // A create carrying an id is refused.
    let got = h
        .post(
            "/products/batch",
            json!({"create": [{"id": tote, "name": "X"}]}),
        )
        .await;
    assert_eq!(
        error_of(&got.body["create"][0]),
        ("woocommerce_rest_product_exists".into(), 400)
    );

    // DELETE without force trashes (gone from `status=any` lists), with force removes.
    let url = format!("{}/products/{tote}", h.fake.api_base());
    let trashed = h.send("DELETE", &url, Cred::Rw, None).await;
    assert_eq!(
        (trashed.status, trashed.body["status"].clone()),
        (200, json!("trash"))
    );
    let listed = h.get(&format!("/products?include={tote}")).await;
    assert_eq!(listed.body, json!([]));
    assert_eq!(
        h.get(&format!("/products?include={tote}&status=trash"))
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A trashed item's SKU is free again.
    let got = h
        .post(
            "/products/batch",
            json!({"create": [{"name": "Tote 2", "sku": "TOTE-NAT"}]}),
        )
        .await;
    assert_eq!(got.body["create"][0]["sku"], "TOTE-NAT");
    let gone = h
        .send("DELETE", &format!("{url}?force=true"), Cred::Rw, None)
        .await;
    assert_eq!(gone.status, 200);
    assert!(h.fake.item(tote).is_none());
    assert_eq!(
        h.get(&format!("/products/{tote}")).await.error_code(),
        "woocommerce_rest_product_invalid_id"
    );
    // Deleting a variable product takes its variations with it.
    let (_, before) = h.fake.counts();
    let cap = h.id("CAP");
    h.send(
        "DELETE",
        &format!("{}/products/{cap}?force=true", h.fake.api_base()),
        Cred::Rw,
        None,
    )
    .await;
    assert_eq!(h.fake.counts().1, before - 2);
    assert!(h.fake.item_by_sku("CAP-NAVY").is_none());
}

#[tokio::test]
async fn concurrent_requests_are_counted_in_flight() {
    let h = demo().await;
    h.fake.set_latency(Duration::from_millis(300));
    let hold = h
        .fake
        .hold_batch(VARIATIONS_BATCH, 1, HoldPoint::BeforeApply);
    let parent = h.id("CAP");
    let client = h.client.clone();
    let (url, key, secret) = (
        format!("{}/products/{parent}/variations/batch", h.fake.api_base()),
        h.fake.consumer_key(),
        h.fake.consumer_secret(),
    );
    let parked = tokio::spawn(async move {
        client
            .post(url)
            .basic_auth(key, Some(secret))
            .json(&json!({}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    hold.held().await;
    let reads: Vec<_> = (0..3)
        .map(|_| {
            let client = h.client.clone();
            let url = format!("{}/products?per_page=1", h.fake.api_base());
            tokio::spawn(async move {
                client
                    .get(url)
                    .basic_auth(key, Some(secret))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.ok().and_then(Result::ok), Some(200));
    }
    assert!(h.fake.max_in_flight() >= 2, "{}", h.fake.max_in_flight());
    assert_eq!(h.fake.in_flight(), 1, "only the held batch is left");
    hold.release();
    assert_eq!(parked.await.ok().and_then(Result::ok), Some(200));
    assert_eq!(h.fake.in_flight(), 0);
}
