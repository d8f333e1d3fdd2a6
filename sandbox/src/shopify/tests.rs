//! Behaviour tests for the Shopify fake: the engine's operations, the error contract, the
//! cost bucket, and a replay of the live captures in `../shared/fixtures/shopify/live/`.

use serde_json::{Value, json};

use super::*;

const TOKEN: &str = "shpat_test_token";
const V: &str = "2026-07";

const VARIANT_FIELDS: &str = r#"
fragment VariantFields on ProductVariant {
  id sku price compareAtPrice barcode requiresComponents
  product { id title }
  inventoryItem { id tracked unitCost { amount }
    inventoryLevels(first: $levels) { nodes { location { id } quantities(names: ["available"]) { name quantity } } } }
}"#;

const SET: &str = r#"mutation InventorySet($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id reason changes { name delta quantityAfterChange item { id } location { id } } }
    userErrors { field message code }
  }
}"#;

const BULK: &str = r#"mutation VariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {
    productVariants { id price compareAtPrice barcode inventoryItem { unitCost { amount } } }
    userErrors { field message code }
  }
}"#;

const ACTIVATE: &str = r#"mutation InventoryActivate($inventoryItemId: ID!, $locationId: ID!, $available: Int, $idempotencyKey: String!) {
  inventoryActivate(inventoryItemId: $inventoryItemId, locationId: $locationId, available: $available) @idempotent(key: $idempotencyKey) {
    inventoryLevel { id location { id } quantities(names: ["available"]) { name quantity } }
    userErrors { field message }
  }
}"#;

fn call(fake: &ShopifyFake, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables });
    let (status, v) = fake.respond(V, Some(TOKEN), body.to_string().as_bytes());
    assert_eq!(status, 200, "{v}");
    v
}

fn set_vars(item: &str, loc: &str, qty: i64, change_from: Value, key: &str) -> Value {
    json!({
        "input": { "name": "available", "reason": "correction",
            "quantities": [{ "inventoryItemId": item, "locationId": loc, "quantity": qty, "changeFromQuantity": change_from }] },
        "idempotencyKey": key,
    })
}

fn codes(v: &Value, root: &str) -> Vec<String> {
    v["data"][root]["userErrors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn demo() -> ShopifyFake {
    ShopifyFake::demo(TOKEN)
}

#[test]
fn demo_seed_has_the_promised_shape() {
    let fake = demo();
    assert_eq!(fake.shop_domain(), "sheetsync-demo.myshopify.com");
    let tee = fake.variant("TEE-RED-M").unwrap();
    assert_eq!(tee.price.to_string(), "19.90");
    assert!(!fake.variant("STK-PACK").unwrap().tracked);
    assert!(fake.variant("BNDL-MUG-TEE").unwrap().requires_components);
    assert_eq!(fake.available("BEAN-GRY", "Outlet"), None);
    assert!(fake.available("BEAN-GRY", "Main Warehouse").is_some());
    assert!(fake.location_id("Old Depot").is_some());
    let v = call(
        &fake,
        "{ productVariants(first: 250) { nodes { sku } } }",
        json!({}),
    );
    let skus: Vec<&str> = v["data"]["productVariants"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["sku"].as_str())
        .collect();
    assert!((15..=25).contains(&skus.len()));
    let unique: std::collections::HashSet<_> = skus.iter().collect();
    assert_eq!(
        unique.len(),
        skus.len(),
        "the demo seed has no duplicate SKU"
    );
}

#[test]
fn seed_errors_are_typed() {
    assert!(matches!(
        ShopifyFake::from_seed_json("{", TOKEN),
        Err(SeedError::Json(_))
    ));
    let bad = r#"{"shop":{"name":"x","domain":"x.myshopify.com","currency":"USD"},"locations":[],
        "products":[{"id":1,"title":"t","variants":[{"id":2,"sku":"A","price":"1","inventoryItemId":3,"levels":{"9":1}}]}]}"#;
    assert!(matches!(
        ShopifyFake::from_seed_json(bad, TOKEN),
        Err(SeedError::Invalid(_))
    ));
}

#[test]
fn wrong_token_gets_shopifys_401_body() {
    let fake = demo();
    let body = json!({"query": "{ shop { name } }"}).to_string();
    for token in [None, Some("shpat_wrong")] {
        let (status, v) = fake.respond(V, token, body.as_bytes());
        assert_eq!(status, 401);
        assert_eq!(
            v,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        );
    }
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.http_status == 401));
    assert!(!format!("{log:?}").contains("shpat_wrong"));
}

#[tokio::test]
async fn serves_over_http_with_auth_and_cost() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = demo();
    let (addr, handle) = fake.spawn().await.unwrap();
    let url = format!("http://{addr}/admin/api/{V}/graphql.json");
    let client = reqwest::Client::new();
    let query = json!({"query": "query ShopInfo { shop { name myshopifyDomain currencyCode } currentAppInstallation { accessScopes { handle } } }"});
    let resp = client.post(&url).json(&query).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(body["errors"].is_string());

    let resp = client
        .post(&url)
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-shopify-api-version"], V);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"]["shop"]["myshopifyDomain"],
        "sheetsync-demo.myshopify.com"
    );
    assert_eq!(body["data"]["shop"]["currencyCode"], "USD");
    let scopes = body["data"]["currentAppInstallation"]["accessScopes"]
        .as_array()
        .unwrap();
    assert!(scopes.contains(&json!({"handle": "write_inventory"})));
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 2);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 2000);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 100);
    assert_eq!(
        fake.requests().last().unwrap().operation_name.as_deref(),
        Some("ShopInfo")
    );
    handle.abort();
}

#[test]
fn every_executed_answer_carries_cost() {
    let fake = demo();
    let item = fake.variant("TEE-RED-M").unwrap().inventory_item_id;
    let main = fake.location_id("Main Warehouse").unwrap();
    let answers = [
        call(&fake, "{ shop { name } }", json!({})),
        call(&fake, SET, set_vars(&item, &main, 5, json!(999), "k1")),
        call(
            &fake,
            "mutation M($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code } } }",
            json!({"input": set_vars(&item, &main, 1, json!(null), "x")["input"]}),
        ),
        call(
            &fake,
            "{ productVariants(first: 251) { nodes { id } } }",
            json!({}),
        ),
    ];
    for a in answers {
        let c = &a["extensions"]["cost"];
        assert!(c["requestedQueryCost"].is_number(), "{a}");
        assert!(c["throttleStatus"]["currentlyAvailable"].is_number(), "{a}");
    }
}

#[test]
fn locations_pages_and_includes_inactive_on_request() {
    let fake = demo();
    let q = "query Locations($after: String) { locations(first: 250, after: $after, includeInactive: true, includeLegacy: true) { pageInfo { hasNextPage endCursor } nodes { id name isActive } } }";
    let v = call(&fake, q, json!({"after": null}));
    let nodes = v["data"]["locations"]["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Main Warehouse", "Old Depot", "Outlet"]);
    assert_eq!(nodes[1]["isActive"], false);
    assert_eq!(v["data"]["locations"]["pageInfo"]["hasNextPage"], false);
    let active = call(
        &fake,
        "{ locations(first: 1) { pageInfo { hasNextPage endCursor } nodes { name } } }",
        json!({}),
    );
    assert_eq!(active["data"]["locations"]["pageInfo"]["hasNextPage"], true);
    let cursor = active["data"]["locations"]["pageInfo"]["endCursor"].clone();
    let next = call(
        &fake,
        "query($c: String) { locations(first: 5, after: $c) { nodes { name } } }",
        json!({"c": cursor}),
    );
    assert_eq!(
        next["data"]["locations"]["nodes"],
        json!([{"name": "Outlet"}])
    );
}

#[test]
fn variants_page_walks_the_catalogue_and_projects_exactly() {
    let fake = demo();
    let q = format!(
        "query VariantsPage($first: Int!, $after: String, $levels: Int!) {{ productVariants(first: $first, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ ...VariantFields }} }} }}{VARIANT_FIELDS}"
    );
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let v = call(&fake, &q, json!({"first": 7, "after": after, "levels": 5}));
        assert!(v.get("errors").is_none(), "{v}");
        let page = &v["data"]["productVariants"];
        for n in page["nodes"].as_array().unwrap() {
            seen.push(n["sku"].as_str().unwrap().to_owned());
            let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 8, "exactly the fragment's fields: {n}");
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 19);
    let by_ids = format!(
        "query VariantsByIds($ids: [ID!]!, $levels: Int!) {{ nodes(ids: $ids) {{ __typename ... on ProductVariant {{ ...VariantFields }} }} }}{VARIANT_FIELDS}"
    );
    let tee = fake.variant("TEE-RED-M").unwrap();
    let v = call(
        &fake,
        &by_ids,
        json!({"ids": [tee.id, "gid://shopify/ProductVariant/1"], "levels": 3}),
    );
    let node = &v["data"]["nodes"][0];
    assert_eq!(node["__typename"], "ProductVariant");
    assert_eq!(node["price"], "19.90");
    assert_eq!(node["compareAtPrice"], "24.90");
    assert_eq!(node["barcode"], "0840012345028");
    assert_eq!(node["product"]["title"], "Classic Tee");
    assert_eq!(node["inventoryItem"]["unitCost"], json!({"amount": "6.5"}));
    let levels = node["inventoryItem"]["inventoryLevels"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(
        levels[0]["quantities"],
        json!([{"name": "available", "quantity": 22}])
    );
    assert_eq!(v["data"]["nodes"][1], Value::Null);
}

#[test]
fn projection_honours_aliases_fragments_and_typename() {
    let fake = demo();
    let q = r#"query($id: ID!) {
        a: productVariant(id: $id) { __typename theSku: sku ...P }
        b: productVariant(id: $id) { ... on ProductVariant { price } product { title } }
    }
    fragment P on ProductVariant { product { id } }"#;
    let tee = fake.variant("CAP-NAVY").unwrap();
    let v = call(&fake, q, json!({"id": tee.id}));
    assert_eq!(
        v["data"],
        json!({
            "a": {"__typename": "ProductVariant", "theSku": "CAP-NAVY", "product": {"id": tee.product_id}},
            "b": {"price": "22.00", "product": {"title": "Baseball Cap"}},
        })
    );
}

#[test]
fn unknown_fields_are_rejected_like_graphql_ruby() {
    let fake = demo();
    // `InventoryActivatePayload.userErrors` is `[UserError!]!`: it has no `code` field.
    let q = ACTIVATE.replace(
        "userErrors { field message }",
        "userErrors { field message code }",
    );
    let v = call(
        &fake,
        &q,
        json!({"inventoryItemId": "x", "locationId": "y", "idempotencyKey": "k"}),
    );
    assert!(v.get("data").is_none());
    assert_eq!(v["errors"][0]["extensions"]["code"], "undefinedField");
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'code' doesn't exist on type 'UserError'"
    );
    assert_eq!(
        v["errors"][0]["path"],
        json!([
            "mutation InventoryActivate",
            "inventoryActivate",
            "userErrors",
            "code"
        ])
    );
    let v = call(&fake, "{ shop { nope } }", json!({}));
    assert_eq!(v["errors"][0]["extensions"]["typeName"], "Shop");
    let v = call(&fake, "{ shop { name }", json!({}));
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Parse error")
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_until_the_bucket_refills() {
    let fake = demo();
    fake.set_bucket(100.0, 10.0);
    let q = "{ productVariants(first: 10) { nodes { id product { id } } } }"; // 2 + 10 × 2 = 22
    let mut last = Value::Null;
    for _ in 0..4 {
        last = call(&fake, q, json!({}));
        assert!(last.get("errors").is_none(), "{last}");
    }
    // Ten variants per page, all present, so actual = requested: 4 × 22 leaves 12 < 22.
    let v = call(&fake, q, json!({}));
    assert_eq!(v.get("data"), None, "{v}");
    assert_eq!(v["errors"][0]["message"], "Throttled");
    assert_eq!(v["errors"][0]["extensions"]["code"], "THROTTLED");
    let cost = &v["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 22);
    assert_eq!(cost["actualQueryCost"], Value::Null);
    let available = cost["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .unwrap();
    assert!(available < 22.0, "{last}");
    let wait = (22.0 - available) / 10.0;
    tokio::time::advance(std::time::Duration::from_secs_f64(wait + 0.01)).await;
    let v = call(&fake, q, json!({}));
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.error_codes == ["THROTTLED"])
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn request_log_records_what_the_bucket_was_charged() {
    let fake = demo();
    fake.set_bucket(1000.0, 10.0);
    // 2 + 250 × 2 = 502 requested; the demo holds fewer variants, so most is refunded.
    let q = "{ productVariants(first: 250) { nodes { id product { id } } } }";
    let v = call(&fake, q, json!({}));
    let cost = &v["extensions"]["cost"];
    let log = fake.requests();
    let entry = log.last().unwrap();
    assert_eq!(entry.requested_cost, Some(502.0));
    assert_eq!(entry.requested_cost, cost["requestedQueryCost"].as_f64());
    let actual = entry.actual_cost.unwrap();
    assert_eq!(Some(actual), cost["actualQueryCost"].as_f64());
    assert!(actual > 2.0 && actual < 502.0, "{actual}");
    // The clock is paused, so the bucket lost exactly the actual cost.
    assert_eq!(fake.bucket_available(), 1000.0 - actual);

    // Throttled: priced, nothing charged.
    fake.set_bucket(100.0, 10.0);
    let v = call(&fake, q, json!({}));
    assert_eq!(v["errors"][0]["extensions"]["code"], "THROTTLED");
    let entry = fake.requests().pop().unwrap();
    assert_eq!(entry.requested_cost, Some(502.0));
    assert_eq!(entry.actual_cost, None);
    assert_eq!(fake.bucket_available(), 100.0);

    // Refused before costing.
    let (status, _) = fake.respond(V, Some("wrong"), br#"{"query":"{ shop { name } }"}"#);
    assert_eq!(status, 401);
    let entry = fake.requests().pop().unwrap();
    assert_eq!((entry.requested_cost, entry.actual_cost), (None, None));
}

#[test]
fn max_cost_and_page_size_limits() {
    let fake = demo();
    let q = format!(
        "query VariantsPage($first: Int!, $after: String, $levels: Int!) {{ productVariants(first: $first, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ ...VariantFields }} }} }}{VARIANT_FIELDS}"
    );
    let v = call(&fake, &q, json!({"first": 250, "levels": 10}));
    assert_eq!(v["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED");
    assert_eq!(v["errors"][0]["extensions"]["maxCost"], 1000);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Query cost is ")
    );
    assert!(v.get("data").is_none());
    assert_eq!(v["extensions"]["cost"]["actualQueryCost"], Value::Null);

    let v = call(
        &fake,
        "{ productVariants(first: 251) { nodes { id } } }",
        json!({}),
    );
    assert_eq!(v["data"], Value::Null);
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("first cannot exceed 250")
    );
}

#[test]
fn set_quantities_applies_and_reports_two_change_rows() {
    let fake = demo();
    let item = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let outlet = fake.location_id("Outlet").unwrap();
    let v = call(&fake, SET, set_vars(&item, &outlet, 20, json!(12), "set-1"));
    let group = &v["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"];
    assert_eq!(group["reason"], "correction");
    let changes = group["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["name"], "available");
    assert_eq!(changes[0]["delta"], 8);
    assert_eq!(changes[1]["name"], "on_hand");
    assert_eq!(changes[0]["location"], json!({"id": outlet}));
    assert_eq!(v["data"]["inventorySetQuantities"]["userErrors"], json!([]));
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(20));
    // null changeFromQuantity skips the compare-and-set
    call(
        &fake,
        SET,
        set_vars(&item, &outlet, 3, json!(null), "set-2"),
    );
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(3));
    let log = fake.requests();
    assert_eq!(log[0].idempotency_key.as_deref(), Some("set-1"));
    assert_eq!(log[0].root_fields, ["inventorySetQuantities"]);
    assert_eq!(log[0].operation_name.as_deref(), Some("InventorySet"));
}

#[test]
fn stale_change_from_quantity_is_refused_and_nothing_applies() {
    let fake = demo();
    let mug = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let cap = fake.variant("CAP-NAVY").unwrap().inventory_item_id;
    let main = fake.location_id("Main Warehouse").unwrap();
    fake.set_available("MUG-11OZ", "Main Warehouse", 37); // a sale since the last read
    let vars = json!({
        "input": {"name": "available", "reason": "correction", "quantities": [
            {"inventoryItemId": cap, "locationId": main, "quantity": 1, "changeFromQuantity": 25},
            {"inventoryItemId": mug, "locationId": main, "quantity": 50, "changeFromQuantity": 40},
        ]},
        "idempotencyKey": "stale",
    });
    let v = call(&fake, SET, vars);
    let p = &v["data"]["inventorySetQuantities"];
    assert_eq!(p["inventoryAdjustmentGroup"], Value::Null);
    assert_eq!(
        p["userErrors"],
        json!([{"field": ["input", "quantities", "1", "changeFromQuantity"],
                "message": "The changeFromQuantity argument no longer matches the persisted quantity.",
                "code": "CHANGE_FROM_QUANTITY_STALE"}])
    );
    assert_eq!(
        fake.available("CAP-NAVY", "Main Warehouse"),
        Some(25),
        "all or nothing"
    );
    assert_eq!(fake.available("MUG-11OZ", "Main Warehouse"), Some(37));
}

#[test]
fn missing_change_from_key_and_missing_idempotent_are_top_level_errors() {
    let fake = demo();
    let item = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let main = fake.location_id("Main Warehouse").unwrap();
    let mut vars = set_vars(&item, &main, 5, json!(0), "k");
    vars["input"]["quantities"][0]
        .as_object_mut()
        .unwrap()
        .remove("changeFromQuantity");
    let v = call(&fake, SET, vars);
    assert_eq!(v["data"], json!({"inventorySetQuantities": null}));
    assert_eq!(
        v["errors"][0]["message"],
        "InventoryQuantityInput must include the following argument: changeFromQuantity."
    );
    assert_eq!(
        v["errors"][0]["extensions"]["code"],
        "INVALID_FIELD_ARGUMENTS"
    );
    assert_eq!(v["errors"][0]["path"], json!(["inventorySetQuantities"]));
    assert_eq!(v["errors"][0]["locations"].as_array().unwrap().len(), 2);

    let no_directive = SET.replace(" @idempotent(key: $idempotencyKey)", "");
    let no_directive = no_directive.replace(", $idempotencyKey: String!", "");
    let mut vars = set_vars(&item, &main, 5, json!(40), "k");
    vars.as_object_mut().unwrap().remove("idempotencyKey");
    let v = call(&fake, &no_directive, vars);
    assert_eq!(v["data"], json!({"inventorySetQuantities": null}));
    assert_eq!(
        v["errors"][0]["message"],
        "The @idempotent directive is required for this mutation but was not provided."
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 10);
    assert_eq!(fake.available("MUG-11OZ", "Main Warehouse"), Some(40));
}

#[test]
fn kept_answers_name_store_objects_by_id_and_replays_render_them() {
    let fake = demo();
    let item = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let main = fake.location_id("Main Warehouse").unwrap();
    let deep = SET.replace(
        "item { id }",
        "item { id sku inventoryLevels(first: 5) { nodes { location { name } } } }",
    );
    let first = call(&fake, &deep, set_vars(&item, &main, 41, json!(40), "kept"));
    let change = &first["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"][0];
    assert_eq!(change["item"]["sku"], "MUG-11OZ");
    // The ledger keeps the payload with its store objects cut to their id.
    let applied = fake.applied_mutations();
    let kept = &applied.last().unwrap().response;
    assert_eq!(kept["userErrors"], json!([]));
    let kept_change = &kept["inventoryAdjustmentGroup"]["changes"][0];
    assert_eq!(
        kept_change["item"],
        json!({"__typename": "InventoryItem", "id": item})
    );
    assert_eq!(kept_change["delta"], 1);
    // A replay renders them again, whatever the replay selects.
    let replay = call(&fake, &deep, set_vars(&item, &main, 41, json!(40), "kept"));
    assert_eq!(first["data"], replay["data"]);
    assert_eq!(
        fake.applied_mutations().len(),
        applied.len(),
        "not run again"
    );
}

#[test]
fn idempotent_replay_applies_once_and_mismatch_is_refused() {
    let fake = demo();
    let item = fake.variant("SOCK-STR-M").unwrap().inventory_item_id;
    let main = fake.location_id("Main Warehouse").unwrap();
    let first = call(
        &fake,
        SET,
        set_vars(&item, &main, 45, json!(50), "same-key"),
    );
    fake.set_available("SOCK-STR-M", "Main Warehouse", 44); // a sale after the write
    let replay = call(
        &fake,
        SET,
        set_vars(&item, &main, 45, json!(50), "same-key"),
    );
    assert_eq!(
        first["data"], replay["data"],
        "the stored answer comes back"
    );
    assert_eq!(
        fake.available("SOCK-STR-M", "Main Warehouse"),
        Some(44),
        "not applied twice"
    );
    let other = call(
        &fake,
        SET,
        set_vars(&item, &main, 46, json!(44), "same-key"),
    );
    assert_eq!(
        codes(&other, "inventorySetQuantities"),
        ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    );
    assert_eq!(fake.available("SOCK-STR-M", "Main Warehouse"), Some(44));
}

#[test]
fn set_quantities_validation_matches_the_captures() {
    let fake = demo();
    let main = fake.location_id("Main Warehouse").unwrap();
    let outlet = fake.location_id("Outlet").unwrap();
    let bundle = fake.variant("BNDL-MUG-TEE").unwrap().inventory_item_id;
    let beanie = fake.variant("BEAN-GRY").unwrap().inventory_item_id;
    let mug = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let cases = [
        (
            set_vars(&bundle, &main, 1, json!(null), "a"),
            "NON_MUTABLE_INVENTORY_ITEM",
        ),
        (
            set_vars(&beanie, &outlet, 1, json!(null), "b"),
            "ITEM_NOT_STOCKED_AT_LOCATION",
        ),
        (
            set_vars(&mug, &main, 1_000_000_001, json!(null), "c"),
            "INVALID_QUANTITY_TOO_HIGH",
        ),
        (
            set_vars(&mug, &main, -1_000_000_001, json!(null), "d"),
            "INVALID_QUANTITY_TOO_LOW",
        ),
        (
            set_vars("gid://shopify/InventoryItem/1", &main, 1, json!(null), "e"),
            "INVALID_INVENTORY_ITEM",
        ),
        (
            set_vars(&mug, "gid://shopify/Location/1", 1, json!(null), "f"),
            "INVALID_LOCATION",
        ),
    ];
    for (vars, code) in cases {
        let v = call(&fake, SET, vars);
        assert_eq!(codes(&v, "inventorySetQuantities"), [code], "{v}");
    }
    let v = call(&fake, SET, set_vars(&mug, &main, -5, json!(null), "g"));
    assert_eq!(
        codes(&v, "inventorySetQuantities"),
        Vec::<String>::new(),
        "oversold is fine"
    );
    let mut vars = set_vars(&mug, &main, 1, json!(null), "h");
    vars["input"]["name"] = json!("damaged");
    vars["input"]["reason"] = json!("theft");
    let v = call(&fake, SET, vars);
    assert_eq!(
        codes(&v, "inventorySetQuantities"),
        ["INVALID_NAME", "INVALID_REASON"]
    );
    assert_eq!(
        v["data"]["inventorySetQuantities"]["userErrors"][0]["field"],
        json!(["input", "name"])
    );

    let mut vars = set_vars(&mug, &main, 1, json!(null), "i");
    let q = vars["input"]["quantities"][0].clone();
    vars["input"]["quantities"] = Value::Array(vec![q; 251]);
    let v = call(&fake, SET, vars);
    assert_eq!(
        v["errors"][0]["extensions"]["code"],
        "MAX_INPUT_SIZE_EXCEEDED"
    );
    assert_eq!(
        v["errors"][0]["message"],
        "The input array size of 251 is greater than the maximum allowed of 250."
    );

    let mut vars = set_vars(&mug, &main, 1, json!(null), "j");
    vars["input"]["ignoreCompareQuantity"] = json!(true);
    let v = call(&fake, SET, vars);
    assert!(v.get("data").is_none());
    assert_eq!(v["errors"][0]["extensions"]["code"], "INVALID_VARIABLE");
    assert_eq!(
        v["errors"][0]["message"],
        "Variable $input of type InventorySetQuantitiesInput! was provided invalid value for ignoreCompareQuantity (Field is not defined on InventorySetQuantitiesInput)"
    );
    assert_eq!(fake.available("MUG-11OZ", "Main Warehouse"), Some(-5));
}

#[test]
fn bulk_update_partial_errors_carry_field_paths() {
    let fake = demo();
    let red_m = fake.variant("TEE-RED-M").unwrap();
    let red_l = fake.variant("TEE-RED-L").unwrap();
    let cap = fake.variant("CAP-NAVY").unwrap();
    let vars = json!({
        "productId": red_m.product_id,
        "variants": [
            {"id": red_m.id, "price": "21.5", "compareAtPrice": null, "barcode": null, "inventoryItem": {"cost": null}},
            {"id": red_l.id, "price": "-1.00"},
            {"id": cap.id, "price": "30.00"},
            {"id": "gid://shopify/ProductVariant/404", "price": "1.00"},
        ],
    });
    let v = call(&fake, BULK, vars);
    let p = &v["data"]["productVariantsBulkUpdate"];
    assert_eq!(
        p["userErrors"],
        json!([
            {"field": ["variants", "1", "price"], "message": "Price must be greater than or equal to 0", "code": "GREATER_THAN_OR_EQUAL_TO"},
            {"field": ["variants", "2", "id"], "message": "Product variant does not exist", "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"},
            {"field": ["variants", "3", "id"], "message": "Product variant does not exist", "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"},
        ])
    );
    assert_eq!(
        p["productVariants"][0],
        json!({"id": red_m.id, "price": "21.50", "compareAtPrice": null, "barcode": null, "inventoryItem": {"unitCost": null}})
    );
    let after = fake.variant("TEE-RED-M").unwrap();
    assert_eq!(after.price, "21.50".parse().unwrap());
    assert_eq!(
        (after.compare_at_price, after.barcode, after.unit_cost),
        (None, None, None)
    );
    assert_eq!(fake.variant("TEE-RED-L").unwrap().price, red_l.price);
    assert_eq!(
        fake.variant("CAP-NAVY").unwrap().price,
        cap.price,
        "other product untouched"
    );
    // 4 variants: round(10 + 0.8) = 11
    assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 11);
}

#[test]
fn bulk_update_without_partial_updates_is_atomic() {
    let fake = demo();
    let a = fake.variant("HOOD-GRY-M").unwrap();
    let b = fake.variant("HOOD-GRY-L").unwrap();
    let q = BULK.replace(", allowPartialUpdates: true", "");
    let v = call(
        &fake,
        &q,
        json!({"productId": a.product_id, "variants": [
        {"id": a.id, "price": "55.00"}, {"id": b.id, "compareAtPrice": "1000000000000000000", "price": "-1"}]}),
    );
    assert_eq!(
        codes(&v, "productVariantsBulkUpdate"),
        ["INVALID_INPUT", "GREATER_THAN_OR_EQUAL_TO"]
    );
    assert_eq!(fake.variant("HOOD-GRY-M").unwrap().price, a.price);
    let v = call(
        &fake,
        &q,
        json!({"productId": "gid://shopify/Product/1", "variants": []}),
    );
    assert_eq!(
        codes(&v, "productVariantsBulkUpdate"),
        ["PRODUCT_DOES_NOT_EXIST"]
    );
}

#[test]
fn duplicate_skus_can_be_built_for_tests() {
    let fake = demo();
    let dup = fake
        .add_variant(NewVariant {
            product_title: "Classic Tee (old)".into(),
            sku: Some("TEE-RED-M".into()),
            price: "18.00".parse().unwrap(),
            tracked: true,
            requires_components: false,
            stock: vec![("Main Warehouse".into(), 2)],
        })
        .unwrap();
    let both = fake.variants_with_sku("TEE-RED-M");
    assert_eq!(both.len(), 2);
    assert_eq!(both[1], dup);
    let v = call(
        &fake,
        "{ productVariants(first: 50) { nodes { sku } } }",
        json!({}),
    );
    let n = v["data"]["productVariants"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["sku"] == "TEE-RED-M")
        .count();
    assert_eq!(n, 2);
}

#[test]
fn activate_stocks_an_item_once() {
    let fake = demo();
    let beanie = fake.variant("BEAN-GRY").unwrap().inventory_item_id;
    let outlet = fake.location_id("Outlet").unwrap();
    let vars = json!({"inventoryItemId": beanie, "locationId": outlet, "available": 4, "idempotencyKey": "act-1"});
    let v = call(&fake, ACTIVATE, vars.clone());
    let p = &v["data"]["inventoryActivate"];
    assert_eq!(p["userErrors"], json!([]));
    assert_eq!(p["inventoryLevel"]["location"]["id"], outlet);
    assert_eq!(
        p["inventoryLevel"]["quantities"],
        json!([{"name": "available", "quantity": 4}])
    );
    assert_eq!(fake.available("BEAN-GRY", "Outlet"), Some(4));
    // Replayed by key: same answer, nothing else happens.
    assert_eq!(call(&fake, ACTIVATE, vars)["data"], v["data"]);
    let mut again = json!({"inventoryItemId": beanie, "locationId": outlet, "available": 9, "idempotencyKey": "act-2"});
    let v = call(&fake, ACTIVATE, again.clone());
    assert_eq!(
        v["data"]["inventoryActivate"]["userErrors"][0]["field"],
        json!(["available"])
    );
    assert_eq!(fake.available("BEAN-GRY", "Outlet"), Some(4));
    again["available"] = Value::Null;
    again["idempotencyKey"] = json!("act-3");
    let v = call(&fake, ACTIVATE, again);
    assert_eq!(v["data"]["inventoryActivate"]["userErrors"], json!([]));
    let no_key = ACTIVATE
        .replace(" @idempotent(key: $idempotencyKey)", "")
        .replace(", $idempotencyKey: String!", "");
    let v = call(
        &fake,
        &no_key,
        json!({"inventoryItemId": beanie, "locationId": outlet}),
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

// ---- fidelity: replay the live captures --------------------------------------------------

mod fidelity {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use super::{TOKEN, V};
    use crate::shopify::ShopifyFake;

    /// The live captures for `test` (see [`crate::shared::shared_path`]: a loud
    /// skip when absent, a failure under `SHEETSYNC_REQUIRE_SHARED=1`).
    fn live_dir(test: &str) -> Option<PathBuf> {
        crate::shared::shared_path(test, "fixtures/shopify/live")
    }

    fn load(dir: &Path, rel: &str) -> Value {
        let text = std::fs::read_to_string(dir.join(rel)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn document(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join("documents/products").join(name)).unwrap()
    }

    fn is_timestamp(s: &str) -> bool {
        s.len() == 20 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T')
    }

    /// Keys, codes, messages, paths and values survive; ids, cursors, timestamps and the
    /// bucket's numbers become placeholders.
    fn shape(v: &Value, key: &str) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        let x = if k == "cost" && x.is_object() {
                            cost_shape(x)
                        } else if k == "locations" && x.is_array() {
                            // Line/column of an error depend on the exact text sent, and
                            // the stored documents are re-indented copies of it.
                            json!("<locations>")
                        } else {
                            shape(x, k)
                        };
                        (k.clone(), x)
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| shape(x, key)).collect()),
            Value::String(s) if s.starts_with("gid://") => json!("<gid>"),
            Value::String(s) if is_timestamp(s) => json!("<time>"),
            Value::String(_) if key.ends_with("ursor") => json!("<cursor>"),
            other => other.clone(),
        }
    }

    fn cost_shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), cost_shape(x))).collect())
            }
            Value::Number(_) => json!("<num>"),
            other => other.clone(),
        }
    }

    fn replay(fake: &ShopifyFake, label: &str, query: &str, variables: &Value, expected: &Value) {
        let body = json!({"query": query, "variables": variables});
        let (status, got) = fake.respond(V, Some(TOKEN), body.to_string().as_bytes());
        assert_eq!(status, 200, "{label}");
        assert_eq!(
            shape(&got, ""),
            shape(expected, ""),
            "{label}: fake answered\n{got:#}\nlive answered\n{expected:#}"
        );
    }

    /// One store: `locations` (id, name), and per variant (product, variant, item, sku,
    /// price, levels as (location, available)).
    fn store(locations: &[(u64, &str)], variants: &[Row<'_>]) -> ShopifyFake {
        let mut products: Vec<Value> = Vec::new();
        for (product, variant, item, sku, price, levels) in variants {
            let levels: serde_json::Map<String, Value> = levels
                .iter()
                .map(|(l, q)| (l.to_string(), json!(q)))
                .collect();
            let v = json!({"id": variant, "sku": sku, "price": price, "inventoryItemId": item, "levels": levels});
            match products.iter_mut().find(|p| p["id"] == json!(product)) {
                Some(p) => p["variants"].as_array_mut().unwrap().push(v),
                None => products.push(
                    json!({"id": product, "title": format!("Product {product}"), "variants": [v]}),
                ),
            }
        }
        let locations: Vec<Value> = locations
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        let seed = json!({
            "shop": {"name": "Capture", "domain": "capture.myshopify.com", "currency": "USD"},
            "locations": locations,
            "products": products,
        });
        ShopifyFake::from_seed_json(&seed.to_string(), TOKEN).unwrap()
    }

    fn gid_number(gid: &str) -> u64 {
        gid.rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// (product, variant, inventory item, sku, price, [(location, available)])
    type Row<'a> = (u64, u64, u64, Option<&'a str>, &'a str, &'a [(u64, i64)]);

    const SHOP_LOCATION: u64 = 106318430514;

    /// A store holding each item at "Shop location" with 0 available, as the captures'
    /// setup steps leave it.
    fn inventory_store(items: &[u64]) -> ShopifyFake {
        let rows: Vec<Row<'_>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                (
                    9_000 + i as u64,
                    8_000 + i as u64,
                    *item,
                    None,
                    "0.00",
                    &[(SHOP_LOCATION, 0)][..],
                )
            })
            .collect();
        store(&[(SHOP_LOCATION, "Shop location")], &rows)
    }

    fn item_of(vars: &Value) -> u64 {
        gid_number(
            vars["input"]["quantities"][0]["inventoryItemId"]
                .as_str()
                .unwrap(),
        )
    }

    #[test]
    fn inventory_quantity_contracts() {
        let Some(dir) = live_dir("inventory_quantity_contracts") else {
            return;
        };
        let cap = load(
            &dir,
            "captures/harry-test-heelo.myshopify.com/2026-04/products/inventory-quantity-contracts-2026-04.json",
        );
        let manifest = load(&dir, "manifest.json");
        let authored = |id: &str| -> String {
            manifest["captures"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|c| c["interactions"].as_array().unwrap().iter())
                .find(|i| i["id"] == id)
                .and_then(|i| i["document"]["text"].as_str())
                .unwrap()
                .to_owned()
        };
        let known = gid_number(cap["setup"]["product"]["inventoryItemId"].as_str().unwrap());
        let cases = [
            (
                "set",
                document(&dir, "inventory-quantity-contracts-2026-set.graphql"),
                &cap["inventorySetQuantities"],
            ),
            (
                "missing idempotent",
                authored("$.missingSetIdempotency"),
                &cap["missingSetIdempotency"],
            ),
            (
                "missing changeFrom",
                document(
                    &dir,
                    "inventory-quantity-contracts-2026-missing-set-change-from.graphql",
                ),
                &cap["missingSetChangeFromQuantity"],
            ),
            (
                "legacy shape",
                authored("$.legacySetShape"),
                &cap["legacySetShape"],
            ),
            (
                "unknown item",
                document(
                    &dir,
                    "inventory-quantity-contracts-2026-set-unknown-id-validation.graphql",
                ),
                &cap["unknownIdValidation"]["setUnknownInventoryItem"],
            ),
            (
                "unknown location",
                document(
                    &dir,
                    "inventory-quantity-contracts-2026-set-unknown-id-validation.graphql",
                ),
                &cap["unknownIdValidation"]["setUnknownLocation"],
            ),
        ];
        for (label, query, case) in cases {
            let fake = inventory_store(&[known]);
            let mut expected = case["response"].clone();
            // The parity document for "set" selects neither `id` nor `createdAt`, but the
            // recorded response carries both (the capture was made with a larger
            // selection); a real server answers only what is selected, as the fake does.
            if label == "set"
                && let Some(group) = expected
                    .pointer_mut("/data/inventorySetQuantities/inventoryAdjustmentGroup")
                    .and_then(Value::as_object_mut)
            {
                group.remove("id");
                group.remove("createdAt");
            }
            replay(&fake, label, &query, &case["variables"], &expected);
        }
    }

    #[test]
    fn set_quantities_bounds_and_names() {
        let Some(dir) = live_dir("set_quantities_bounds_and_names") else {
            return;
        };
        for file in [
            "inventorySetQuantities-quantity-bounds.json",
            "inventorySetQuantities-name-validation.json",
        ] {
            let cap = load(
                &dir,
                &format!("captures/harry-test-heelo.myshopify.com/2026-04/products/{file}"),
            );
            for (name, case) in cap["cases"].as_object().unwrap() {
                let fake = inventory_store(&[item_of(&case["variables"])]);
                let query = case["query"].as_str().unwrap();
                replay(
                    &fake,
                    &format!("{file} {name}"),
                    query,
                    &case["variables"],
                    &case["response"],
                );
            }
        }
    }

    #[test]
    fn reason_validation() {
        let Some(dir) = live_dir("reason_validation") else {
            return;
        };
        let cap = load(
            &dir,
            "captures/harry-test-heelo.myshopify.com/2026-04/products/inventory-reason-validation.json",
        );
        let setup = &cap["setup"];
        let item = gid_number(setup["inventoryItemId"].as_str().unwrap());
        let loc = gid_number(setup["locationId"].as_str().unwrap());
        let available = setup["available"].as_i64().unwrap();
        let mut replayed = 0;
        for group in [&cap["acceptedReasonCases"], &cap["invalidReasonCases"]] {
            for (name, case) in group.as_object().unwrap() {
                let query = case["query"].as_str().unwrap();
                if !query.contains("inventorySetQuantities(") {
                    continue; // adjust/move/set-on-hand are not served by the fake
                }
                let fake = store(
                    &[(loc, "Destination")],
                    &[(1, 2, item, None, "0.00", &[(loc, available)])],
                );
                replay(
                    &fake,
                    &format!("reason {name}"),
                    query,
                    &case["variables"],
                    &case["response"],
                );
                replayed += 1;
            }
        }
        assert_eq!(replayed, 19);
    }

    #[test]
    fn activate_on_hand() {
        let Some(dir) = live_dir("activate_on_hand") else {
            return;
        };
        let cap = load(
            &dir,
            "captures/harry-test-heelo.myshopify.com/2026-04/products/inventory-activate-on-hand.json",
        );
        let cases = &cap["cases"];
        let custom = gid_number(
            cases["activateOnHand"]["variables"]["locationId"]
                .as_str()
                .unwrap(),
        );
        let items: Vec<u64> = [
            "activateOnHand",
            "availableOnHandConflict",
            "onHandOutOfRange",
        ]
        .iter()
        .map(|c| gid_number(cases[*c]["variables"]["inventoryItemId"].as_str().unwrap()))
        .collect();
        let rows: Vec<Row<'_>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                (
                    9_000 + i as u64,
                    8_000 + i as u64,
                    *item,
                    None,
                    "0.00",
                    &[(SHOP_LOCATION, 0)][..],
                )
            })
            .collect();
        let fake = store(
            &[
                (SHOP_LOCATION, "Shop location"),
                (custom, "My Custom Location"),
            ],
            &rows,
        );
        // In capture order: the already-active case relies on the first activation.
        for name in [
            "activateOnHand",
            "availableOnHandConflict",
            "alreadyActiveOnHand",
            "onHandOutOfRange",
        ] {
            let case = &cases[name];
            replay(
                &fake,
                name,
                case["query"].as_str().unwrap(),
                &case["variables"],
                &case["response"],
            );
        }
    }

    #[test]
    fn bulk_update_allow_partial_and_error_order() {
        let Some(dir) = live_dir("bulk_update_allow_partial_and_error_order") else {
            return;
        };
        let cap = load(
            &dir,
            "captures/harry-test-heelo.myshopify.com/2026-04/products/product-variants-bulk-update-allow-partial-and-error-order.json",
        );
        let setup = &cap["setup"];
        let product = gid_number(setup["productId"].as_str().unwrap());
        let red = gid_number(setup["redVariantId"].as_str().unwrap());
        let blue = gid_number(setup["blueVariantId"].as_str().unwrap());
        let fake = store(
            &[(SHOP_LOCATION, "Shop location")],
            &[
                (product, red, 70_001, None, "0.00", &[(SHOP_LOCATION, 0)]),
                (
                    product,
                    blue,
                    70_002,
                    Some("PVBU-901935-BLUE"),
                    "11.00",
                    &[(SHOP_LOCATION, 0)],
                ),
            ],
        );
        let steps = [
            (
                "partialUpdate",
                "productVariantsBulkUpdate-allow-partial.graphql",
            ),
            (
                "partialRead",
                "productVariantsBulkUpdate-allow-partial-downstream-read.graphql",
            ),
            (
                "errorOrdering",
                "productVariantsBulkUpdate-error-order.graphql",
            ),
        ];
        for (name, doc) in steps {
            let step = &cap[name];
            replay(
                &fake,
                name,
                &document(&dir, doc),
                &step["request"]["variables"],
                &step["response"]["payload"],
            );
        }
    }

    #[test]
    fn locations_catalog() {
        let Some(dir) = live_dir("locations_catalog") else {
            return;
        };
        let cap = load(
            &dir,
            "captures/very-big-test-store.myshopify.com/2026-04/store-properties/locations-catalog.json",
        );
        let locations: Vec<(u64, String)> = cap["data"]["locations"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    gid_number(e["node"]["id"].as_str().unwrap()),
                    e["node"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let refs: Vec<(u64, &str)> = locations.iter().map(|(i, n)| (*i, n.as_str())).collect();
        let fake = store(&refs, &[]);
        let expected = json!({"data": cap["data"], "extensions": cap["extensions"]});
        replay(
            &fake,
            "locations",
            &document(&dir, "locations-catalog-read.graphql"),
            &json!({"first": 10}),
            &expected,
        );
    }
}

/// Sends a stock set over HTTP in the background; the answer's JSON, or the error text.
fn send_set(url: &str, vars: Value) -> tokio::task::JoinHandle<Result<Value, String>> {
    let url = url.to_owned();
    tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(&url)
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({ "query": SET, "variables": vars }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        resp.json::<Value>().await.map_err(|e| e.to_string())
    })
}

#[tokio::test]
async fn a_hold_after_applying_parks_the_nth_answer_until_released() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = demo();
    let (addr, handle) = fake.spawn().await.unwrap();
    let url = format!("http://{addr}/admin/api/{V}/graphql.json");
    let item = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let outlet = fake.location_id("Outlet").unwrap();
    let hold = fake.hold_mutation("inventorySetQuantities", 2, HoldPoint::AfterApply);

    // A query and the first set pass; the second set applies and its answer waits.
    let first = send_set(&url, set_vars(&item, &outlet, 20, json!(12), "h-1"));
    assert!(first.await.unwrap().unwrap()["data"].is_object());
    assert!(!hold.is_held());
    let second = send_set(&url, set_vars(&item, &outlet, 7, json!(20), "h-2"));
    tokio::time::timeout(std::time::Duration::from_secs(10), hold.held())
        .await
        .unwrap();
    assert!(hold.is_held());
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(7));
    assert_eq!(fake.applied_mutations().len(), 2);
    assert!(!second.is_finished());
    assert!(fake.variant("MUG-11OZ").is_some(), "the fake still serves");

    hold.release();
    let answer = second.await.unwrap().unwrap();
    assert_eq!(
        answer["data"]["inventorySetQuantities"]["userErrors"],
        json!([])
    );
    // Released holds do not catch later requests.
    let third = send_set(&url, set_vars(&item, &outlet, 9, json!(7), "h-3"));
    assert!(third.await.unwrap().unwrap()["data"].is_object());
    handle.abort();
}

#[tokio::test]
async fn a_hold_before_applying_keeps_the_store_unchanged_and_abandoning_drops_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = demo();
    let (addr, handle) = fake.spawn().await.unwrap();
    let url = format!("http://{addr}/admin/api/{V}/graphql.json");
    let item = fake.variant("MUG-11OZ").unwrap().inventory_item_id;
    let outlet = fake.location_id("Outlet").unwrap();

    let hold = fake.hold_mutation("inventorySetQuantities", 1, HoldPoint::BeforeApply);
    let sent = send_set(&url, set_vars(&item, &outlet, 20, json!(12), "b-1"));
    tokio::time::timeout(std::time::Duration::from_secs(10), hold.held())
        .await
        .unwrap();
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(12));
    assert!(fake.applied_mutations().is_empty());
    hold.abandon();
    assert!(sent.await.unwrap().is_err(), "the connection drops");
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(12));
    assert!(fake.applied_mutations().is_empty());

    // Released instead, a request held before applying goes on and applies.
    let hold = fake.hold_mutation("inventorySetQuantities", 1, HoldPoint::BeforeApply);
    let sent = send_set(&url, set_vars(&item, &outlet, 20, json!(12), "b-2"));
    hold.held().await;
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(12));
    hold.release();
    assert!(sent.await.unwrap().unwrap()["data"].is_object());
    assert_eq!(fake.available("MUG-11OZ", "Outlet"), Some(20));
    assert_eq!(fake.applied_mutations().len(), 1);
    handle.abort();
}

#[test]
fn variant_pages_are_cut_before_they_are_built() {
    let fake = demo();
    let all = call(
        &fake,
        "{ productVariants(first: 250) { nodes { id } } }",
        json!({}),
    );
    let ids: Vec<String> = all["data"]["productVariants"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    // Forwards, three at a time.
    let q = "query P($after: String) { productVariants(first: 3, after: $after) { pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let v = call(&fake, q, json!({ "after": after }));
        let c = &v["data"]["productVariants"];
        assert_eq!(c["pageInfo"]["hasPreviousPage"], json!(!seen.is_empty()));
        for e in c["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_owned());
        }
        if c["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ids);
    // Backwards: the last two, before the last one.
    let v = call(
        &fake,
        "{ productVariants(last: 2) { pageInfo { hasNextPage hasPreviousPage } nodes { id } } }",
        json!({}),
    );
    let c = &v["data"]["productVariants"];
    let tail: Vec<&str> = c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        tail,
        ids[ids.len() - 2..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(c["pageInfo"]["hasPreviousPage"], json!(true));
    assert_eq!(c["pageInfo"]["hasNextPage"], json!(false));
    // A reversed page starts from the highest id; an unknown cursor is still refused.
    let v = call(
        &fake,
        "{ productVariants(first: 1, reverse: true) { nodes { id } } }",
        json!({}),
    );
    assert_eq!(
        v["data"]["productVariants"]["nodes"][0]["id"],
        json!(ids[ids.len() - 1])
    );
    let v = call(
        &fake,
        r#"{ productVariants(first: 1, after: "eyJsYXN0X2lkIjoxfQ==") { nodes { id } } }"#,
        json!({}),
    );
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid cursor"),
        "{v}"
    );
}

// ---- productUpdate against product-update-parity.json ----------------------------------

mod product_update_fidelity {
    use serde_json::{Value, json};

    use super::{TOKEN, V};
    use crate::shopify::ShopifyFake;

    const QUERY: &str = "mutation U($product: ProductUpdateInput!) { productUpdate(product: $product) \
        { product { id title status vendor tags } userErrors { field message } } }";

    /// What the fake models of a captured `productUpdate` payload: the fields above.
    fn projected(payload: &Value) -> Value {
        let product = match &payload["product"] {
            Value::Null => Value::Null,
            p => json!({
                "id": p["id"], "title": p["title"], "status": p["status"],
                "vendor": p["vendor"], "tags": p["tags"],
            }),
        };
        json!({"product": product, "userErrors": payload["userErrors"]})
    }

    /// The captured input without the fields the fake does not model.
    fn modelled(input: &Value) -> Value {
        let mut input = input.clone();
        if let Some(m) = input["product"].as_object_mut() {
            for k in ["productType", "descriptionHtml", "templateSuffix", "seo"] {
                m.remove(k);
            }
        }
        input
    }

    #[test]
    fn product_update_answers_like_the_capture() {
        let Some(path) = crate::shared::shared_path(
            "product_update_answers_like_the_capture",
            "fixtures/shopify/live/captures/very-big-test-store.myshopify.com/2025-01/products/product-update-parity.json",
        ) else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let cap: Value = serde_json::from_str(&text).unwrap();
        // The product as the capture's failed update returned it, untouched.
        let before =
            &cap["validation"]["blankTitle"]["response"]["data"]["productUpdate"]["product"];
        let id: u64 = before["id"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let seed = json!({
            "shop": {"name": "C", "domain": "c.myshopify.com", "currency": "USD"},
            "locations": [{"id": 1, "name": "Shop location"}],
            "products": [{"id": id, "title": before["title"], "status": before["status"],
                          "vendor": before["vendor"], "tags": before["tags"],
                          "variants": [{"id": 2, "sku": "X", "price": "1.00", "inventoryItemId": 3}]}],
        });
        let fake = ShopifyFake::from_seed_json(&seed.to_string(), TOKEN).unwrap();
        let cases = [
            &cap["validation"]["blankTitle"],
            &cap["mutation"],
            &cap["validation"]["unknownId"],
            &cap["validation"]["missingId"],
        ];
        for case in cases {
            let body = json!({"query": QUERY, "variables": modelled(&case["variables"])});
            let (status, got) = fake.respond(V, Some(TOKEN), body.to_string().as_bytes());
            assert_eq!(status, 200);
            assert_eq!(
                got["data"]["productUpdate"],
                projected(&case["response"]["data"]["productUpdate"]),
                "{:#}",
                case["variables"]
            );
        }

        // A status outside the enum fails variable coercion, before anything runs.
        let bad = json!({"query": QUERY, "variables": {"product": {"id": format!("gid://shopify/Product/{id}"), "status": "SOLD"}}});
        let (_, got) = fake.respond(V, Some(TOKEN), bad.to_string().as_bytes());
        assert_eq!(
            got["errors"][0]["extensions"]["code"], "INVALID_VARIABLE",
            "{got:#}"
        );
        assert!(got.get("data").is_none_or(Value::is_null), "{got:#}");
    }
}

const BULK_STATUS: &str =
    "query S($id: ID!) { bulkOperation(id: $id) { status objectCount rootObjectCount url } }";

/// `(status, objectCount, url)` of bulk job `id`, read now.
fn bulk_status(fake: &ShopifyFake, id: &str) -> (String, u64, Option<String>) {
    let v = call(fake, BULK_STATUS, json!({ "id": id }));
    let op = &v["data"]["bulkOperation"];
    let count = op["objectCount"].as_str().unwrap().parse().unwrap();
    let url = op["url"].as_str().map(str::to_owned);
    (op["status"].as_str().unwrap().to_owned(), count, url)
}

async fn advance_to(start: tokio::time::Instant, at: std::time::Duration) {
    let now = tokio::time::Instant::now();
    tokio::time::advance((start + at).saturating_duration_since(now)).await;
}

#[tokio::test(start_paused = true)]
async fn paced_bulk_export_waits_in_the_queue_then_counts_objects_at_the_rate() {
    use std::time::Duration;
    let fake = demo();
    fake.set_bulk_pace(Duration::from_secs(10), 4.0);
    let start = tokio::time::Instant::now();
    let v = call(
        &fake,
        r#"mutation { bulkOperationRunQuery(query: "{ productVariants { edges { node { id sku } } } }") { bulkOperation { id status objectCount } userErrors { message } } }"#,
        json!({}),
    );
    let op = &v["data"]["bulkOperationRunQuery"]["bulkOperation"];
    assert_eq!(op["status"], "CREATED", "{v}");
    assert_eq!(
        op["objectCount"], "0",
        "a live job reports nothing yet: {v}"
    );
    let id = op["id"].as_str().unwrap().to_owned();
    let total = fake.lock().bulk_ops[0].total_objects;
    assert!(total >= 8, "the demo has enough variants to watch: {total}");

    // Reads do not move a paced job: only the clock does.
    for _ in 0..3 {
        assert_eq!(bulk_status(&fake, &id), ("CREATED".into(), 0, None));
    }
    advance_to(start, Duration::from_millis(9_900)).await;
    assert_eq!(bulk_status(&fake, &id), ("CREATED".into(), 0, None));

    // Queue wait over: running, one object per 250 ms.
    advance_to(start, Duration::from_millis(10_100)).await;
    assert_eq!(bulk_status(&fake, &id), ("RUNNING".into(), 0, None));
    advance_to(start, Duration::from_millis(11_100)).await;
    assert_eq!(bulk_status(&fake, &id), ("RUNNING".into(), 4, None));
    advance_to(start, Duration::from_millis(11_600)).await;
    assert_eq!(bulk_status(&fake, &id), ("RUNNING".into(), 6, None));
    // The file is not served before the job ends.
    assert!(
        bulk::file(
            &fake.lock(),
            &format!("{}.jsonl", id.rsplit('/').next().unwrap())
        )
        .is_none()
    );

    // One object short of the end, still running; at the end, completed with every object.
    let end = Duration::from_secs(10) + Duration::from_secs_f64(total as f64 / 4.0);
    advance_to(start, end - Duration::from_millis(300)).await;
    assert_eq!(bulk_status(&fake, &id), ("RUNNING".into(), total - 2, None));
    advance_to(start, end).await;
    let (status, count, url) = bulk_status(&fake, &id);
    assert_eq!((status.as_str(), count), ("COMPLETED", total));
    let name = url.expect("a completed export has a url");
    let name = name.rsplit('/').next().unwrap();
    let file = bulk::file(&fake.lock(), name).expect("served once completed");
    assert_eq!(
        file.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64,
        total
    );
}

#[tokio::test(start_paused = true)]
async fn paced_bulk_mutation_counts_its_lines_and_ends_failed_when_set_to() {
    use std::time::Duration;
    let fake = demo();
    fake.set_bulk_pace(Duration::from_secs(2), 1.0);
    fake.fail_next_bulk_mutation_after(2);
    let tee = fake.variant("TEE-RED-M").unwrap();
    let line =
        json!({ "productId": tee.product_id, "variants": [{ "id": tee.id, "price": "21.00" }] });
    let jsonl = format!("{line}\n{line}\n{line}\n");
    let key = "tmp/1/bulk/paced/lines.jsonl";
    fake.lock()
        .staged
        .insert(key.into(), Some(Bytes::from(jsonl.into_bytes())));
    let start = tokio::time::Instant::now();
    let v = call(
        &fake,
        "mutation R($m: String!, $p: String!) { bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p) { bulkOperation { id status objectCount } userErrors { message } } }",
        json!({
            "m": "mutation U($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $productId, variants: $variants) { productVariants { id } userErrors { message } } }",
            "p": key,
        }),
    );
    let op = &v["data"]["bulkOperationRunMutation"]["bulkOperation"];
    assert_eq!(
        (op["status"].as_str(), op["objectCount"].as_str()),
        (Some("CREATED"), Some("0")),
        "{v}"
    );
    let id = op["id"].as_str().unwrap().to_owned();
    // The lines took effect at submission; only the report follows the pace.
    assert_eq!(
        fake.variant("TEE-RED-M").unwrap().price.to_string(),
        "21.00"
    );

    advance_to(start, Duration::from_millis(1_999)).await;
    assert_eq!(bulk_status(&fake, &id).0, "CREATED");
    advance_to(start, Duration::from_millis(3_500)).await;
    assert_eq!(bulk_status(&fake, &id), ("RUNNING".into(), 1, None));
    // Two lines ran before the failure: it ends at two objects, FAILED.
    advance_to(start, Duration::from_secs(4)).await;
    assert_eq!(bulk_status(&fake, &id), ("FAILED".into(), 2, None));
}
