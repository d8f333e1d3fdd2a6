//! Variant fields by bulk mutation, through the binary and the sandbox: past
//! `sync.bulk_mutation_threshold` the run uploads one JSONL and runs one
//! `bulkOperationRunMutation` instead of direct `productVariantsBulkUpdate` calls, ends in
//! the same store as direct calls, maps each result line back to its rows, decides lines
//! without a result by re-reading, and is settled by re-reading after a kill.

use crate::common;

use std::path::Path;

use serde_json::{Value, json};
use sheetsync::state::{Scope, State, StateStore};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::shopify::HoldPoint;

const ALWAYS: &str = "bulk_mutation_threshold = 0";

/// The demo sandbox with price changes on three products (three variants of the Classic
/// Tee) and a stock change, besides what the demo sheet already differs in.
async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    let sheets = &sandbox.sheets;
    for (cell, v) in [
        ("C2", json!(20.9)),
        ("C3", json!(22)),
        ("C5", json!(18.5)),
        ("C8", json!(45)),
        ("C14", json!(14.5)),
        ("G18", json!(35)),
    ] {
        sheets.set_cell("Inventory", cell, v);
    }
    for col in ["A", "B", "C", "G"] {
        sheets.set_cell("Inventory", &format!("{col}22"), json!(""));
    }
    sandbox
}

async fn sync(config: &Path) -> (i32, Value) {
    let (code, stdout, stderr) =
        common::run_sheetsync(config, &["sync", "--json", "--adopt", "sheet"]).await;
    let report = common::json_output(code, &stdout, &stderr);
    (code, report)
}

/// Root fields of every request the fake received, flattened.
fn roots(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .shopify
        .requests()
        .into_iter()
        .flat_map(|r| r.root_fields)
        .collect()
}

fn change<'a>(report: &'a Value, sku: &str, field: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sku"] == sku && c["field"] == field)
        .unwrap_or_else(|| panic!("no {field} change for {sku}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_threshold_one_bulk_mutation_carries_the_variant_fields() {
    let direct = sandbox().await;
    let direct_dir = tempfile::tempdir().unwrap();
    let (code, direct_report) = sync(&direct.write_config(direct_dir.path(), "").unwrap()).await;
    assert_eq!(code, 0, "{direct_report:#}");
    assert!(direct_report.get("bulk_mutation").is_none());
    assert!(roots(&direct).contains(&"productVariantsBulkUpdate".to_owned()));

    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), ALWAYS).unwrap();
    let (code, report) = sync(&config).await;
    assert_eq!(code, 0, "{report:#}");
    let seen = roots(&env);
    assert_eq!(
        seen.iter()
            .filter(|r| *r == "stagedUploadsCreate" || *r == "bulkOperationRunMutation")
            .count(),
        2,
        "{seen:?}"
    );
    assert!(
        !seen.contains(&"productVariantsBulkUpdate".to_owned()),
        "no direct variant update: {seen:?}"
    );
    assert!(seen.contains(&"inventorySetQuantities".to_owned()));
    let job = &report["bulk_mutation"];
    assert_eq!(job["status"], "COMPLETED", "{report:#}");
    // Classic Tee (red and black are one product), Hoodie, Mug 15 oz.
    assert_eq!(job["lines"], 3);
    let variants: std::collections::BTreeSet<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            ["price", "compare_at_price", "cost", "barcode"]
                .contains(&c["field"].as_str().unwrap_or_default())
        })
        .filter_map(|c| c["sku"].as_str())
        .collect();
    assert!(variants.len() >= 5);
    assert_eq!(job["variants"], variants.len(), "{report:#}");
    assert!(
        job["id"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/BulkOperation/")
    );

    // Neither the upload nor the result file saw the token.
    let uploads = env.shopify.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].http_status, 201);
    assert!(!uploads[0].carried_credentials);
    assert!(
        env.shopify
            .file_fetches()
            .iter()
            .all(|f| !f.carried_credentials)
    );

    // Same store, same outcomes as direct calls.
    assert_eq!(
        common::store_by_sheet_sku(&env),
        common::store_by_sheet_sku(&direct)
    );
    assert_eq!(report["summary"], direct_report["summary"]);
    assert_eq!(change(&report, "TEE-RED-M", "price")["status"], "applied");

    // The next run has nothing to write.
    let before = env.shopify.requests().len();
    let (_, again) = sync(&config).await;
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert!(again.get("bulk_mutation").is_none());
    assert!(
        env.shopify.requests()[before..].iter().all(|r| !r
            .root_fields
            .iter()
            .any(|f| f.starts_with("bulkOperationRun")
                || f == "productVariantsBulkUpdate"
                || f == "inventorySetQuantities")),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_error_in_one_line_fails_that_row_only() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), ALWAYS).unwrap();
    // TEE-RED-S is deleted after the run read it and before the job runs: its line (the
    // Classic Tee's, shared with TEE-RED-M and TEE-BLK-S) answers PRODUCT_VARIANT_DOES_NOT_EXIST for that variant alone.
    let hold = env
        .shopify
        .hold_mutation("stagedUploadsCreate", 1, HoldPoint::BeforeApply);
    let run = tokio::spawn(async move { sync(&config).await });
    common::held(&hold, "the run reached the staged upload").await;
    assert!(env.shopify.remove_variant("TEE-RED-S"));
    hold.release();
    let (code, report) = run.await.unwrap();
    assert_eq!(code, 3, "{report:#}");
    let gone = change(&report, "TEE-RED-S", "price");
    assert_eq!(gone["status"], "failed", "{report:#}");
    assert!(
        gone["error"].as_str().unwrap().contains("does not exist"),
        "{gone:#}"
    );
    for sku in ["TEE-RED-M", "TEE-BLK-S", "HOOD-GRY-M"] {
        assert_eq!(change(&report, sku, "price")["status"], "applied", "{sku}");
    }
    assert_eq!(
        env.shopify.variant("TEE-RED-M").unwrap().price,
        rust_decimal::Decimal::from(22)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_without_a_result_are_re_read_never_assumed() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), ALWAYS).unwrap();
    // The job runs one line of three, then fails; its partial results are at
    // partialDataUrl, the other lines have none.
    env.shopify.fail_next_bulk_mutation_after(1);
    let (code, report) = sync(&config).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["bulk_mutation"]["status"], "FAILED");
    let prices: Vec<&Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "price")
        .collect();
    let applied = prices.iter().filter(|c| c["status"] == "applied").count();
    let failed: Vec<&&Value> = prices.iter().filter(|c| c["status"] == "failed").collect();
    assert!(applied >= 1 && !failed.is_empty(), "{report:#}");
    assert_eq!(applied + failed.len(), prices.len());
    for c in &failed {
        let e = c["error"].as_str().unwrap();
        assert!(
            e.contains("ended FAILED (INTERNAL_SERVER_ERROR)") && e.contains("re-read"),
            "{e}"
        );
    }
    // What failed is still to do, and the next run does it.
    let (_, again) = sync(&config).await;
    let redone: Vec<&Value> = again["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "price")
        .collect();
    assert_eq!(redone.len(), failed.len(), "{again:#}");
    assert!(redone.iter().all(|c| c["status"] == "applied"), "{again:#}");
}

fn open_state(sandbox: &Sandbox, dir: &Path) -> State {
    let scope = Scope::new(
        &sandbox.shopify.shop_domain(),
        &sandbox.sheets.spreadsheet_id(),
        "Inventory",
    );
    State::open_read_only(&dir.join("state"), &scope)
        .unwrap()
        .expect("state")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_mid_job_is_settled_by_re_reading_never_resubmitted() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), ALWAYS).unwrap();
    // The job is accepted (and runs) but the answer never reaches the client.
    let hold = env
        .shopify
        .hold_mutation("bulkOperationRunMutation", 1, HoldPoint::AfterApply);
    let mut child = common::spawn_sheetsync(&config, &["sync", "--json", "--adopt", "sheet"]);
    common::held(&hold, "the job was started").await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    hold.release();

    let open = open_state(&env, dir.path()).unsettled_requests().unwrap();
    let job: Vec<_> = open
        .iter()
        .filter(|r| r.operation == "bulkOperationRunMutation")
        .collect();
    assert_eq!(job.len(), 1, "{open:?}");
    // The journal holds the exact upload: one line per product.
    assert_eq!(job[0].body.iter().filter(|&&b| b == b'\n').count(), 3);
    let job_id = job[0].id;

    let (_, report) = sync(&config).await;
    // Nothing was submitted again: the one job ran, and the fields it set are agreed now.
    let runs = roots(&env)
        .iter()
        .filter(|r| *r == "bulkOperationRunMutation")
        .count();
    assert_eq!(runs, 1);
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["field"] != "price"),
        "{report:#}"
    );
    let state = open_state(&env, dir.path());
    assert!(
        state
            .unsettled_requests()
            .unwrap()
            .iter()
            .all(|r| r.id != job_id)
    );
    let db = rusqlite::Connection::open_with_flags(
        state.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (outcome, response): (String, String) = db
        .query_row(
            "SELECT outcome, response_json FROM requests WHERE id = ?1",
            [job_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "applied", "{response}");
    assert!(response.contains("re-read after a crash"), "{response}");
}

/// Staged upload and run mutation answer as Shopify and its storage do.
#[tokio::test]
async fn the_fake_refuses_what_shopify_refuses() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Sandbox::demo(0).await.expect("sandbox");
    let fake = &env.shopify;
    let (addr, _) = fake.spawn().await.unwrap();
    let token = sheetsync_sandbox::SANDBOX_TOKEN;
    let gql = |query: &str, variables: Value| {
        let body = json!({ "query": query, "variables": variables });
        fake.respond("2026-07", Some(token), body.to_string().as_bytes())
            .1
    };
    let staged = gql(
        "mutation S($i: [StagedUploadInput!]!) { stagedUploadsCreate(input: $i) { stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }",
        json!({ "i": [{ "resource": "BULK_MUTATION_VARIABLES", "filename": "x.jsonl", "mimeType": "text/jsonl", "httpMethod": "POST" }] }),
    );
    assert_eq!(staged["extensions"]["cost"]["requestedQueryCost"], 11);
    let target = &staged["data"]["stagedUploadsCreate"]["stagedTargets"][0];
    let key = target["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "key")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        key.starts_with("tmp/") && key.ends_with("/x.jsonl"),
        "{key}"
    );
    let url = format!("http://{addr}/staged-uploads");
    let post = |file: Vec<u8>, key: String| {
        let url = url.clone();
        async move {
            let body = format!(
                "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jsonl\"\r\n\r\n{}\r\n--B--\r\n",
                String::from_utf8_lossy(&file)
            );
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", "multipart/form-data; boundary=B")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let run = |path: &str, mutation: &str| {
        gql(
            "mutation R($m: String!, $p: String!) { bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p) { bulkOperation { id status } userErrors { field message code } } }",
            json!({ "m": mutation, "p": path }),
        )
    };
    let inner = "mutation U($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $productId, variants: $variants) { userErrors { field message } } }";
    let error = |v: &Value| v["data"]["bulkOperationRunMutation"]["userErrors"][0].clone();

    // Nothing uploaded yet: NO_SUCH_FILE, as captured.
    assert_eq!(error(&run(&key, inner))["code"], "NO_SUCH_FILE");
    // The storage policy refuses an empty file, and a key it did not issue.
    let (status, text) = post(Vec::new(), key.clone()).await;
    assert_eq!(status, 400);
    assert!(text.contains("EntityTooSmall"), "{text}");
    assert_eq!(post(b"{}".to_vec(), "tmp/other.jsonl".into()).await.0, 403);
    fake.set_upload_limit(4);
    let (status, text) = post(b"{\"a\":1}".to_vec(), key.clone()).await;
    assert_eq!((status, text.contains("EntityTooLarge")), (400, true));
    fake.set_upload_limit(100 * 1024 * 1024);
    assert!(env.shopify.uploads().iter().all(|u| !u.carried_credentials));

    // The inner mutation is checked with Shopify's words.
    for (mutation, message) in [
        (
            "query { shop { id } }",
            "Invalid operation type. Only `mutation` operations are supported.",
        ),
        (
            "mutation M($q: String!) { bulkOperationRunQuery(query: $q) { userErrors { message } } }",
            "You must use an allowed mutation name.",
        ),
    ] {
        assert_eq!(error(&run(&key, mutation))["message"], message);
    }
    assert_eq!(
        error(&run(&key, "mutation { not parseable"))["code"],
        "INVALID_MUTATION"
    );

    // A real upload runs without touching the bucket, CREATED → RUNNING → COMPLETED.
    let variant = fake.variant("MUG-11OZ").unwrap();
    let line = json!({ "productId": variant.product_id, "variants": [{ "id": variant.id, "price": "13.00" }] });
    assert_eq!(
        post(format!("{line}\n").into_bytes(), key.clone()).await.0,
        201
    );
    let before = fake.bucket_available();
    let started = run(&key, inner);
    let op = &started["data"]["bulkOperationRunMutation"]["bulkOperation"];
    assert_eq!(op["status"], "CREATED", "{started}");
    assert_eq!(started["extensions"]["cost"]["actualQueryCost"], 10);
    assert!(fake.bucket_available() >= before - 10.0);
    assert_eq!(fake.variant("MUG-11OZ").unwrap().price.to_string(), "13.00");
    let poll = |id: &Value| {
        gql(
            "query P($id: ID!) { bulkOperation(id: $id) { status type url partialDataUrl } }",
            json!({ "id": id }),
        )["data"]["bulkOperation"]
            .clone()
    };
    assert_eq!(poll(&op["id"])["status"], "RUNNING");
    let done = poll(&op["id"]);
    assert_eq!(
        (&done["status"], &done["type"]),
        (&json!("COMPLETED"), &json!("MUTATION"))
    );
    let path = url::Url::parse(done["url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_owned();
    let body = reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let result: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(result["__lineNumber"], 0, "{body}");
    assert_eq!(
        result["data"]["productVariantsBulkUpdate"]["userErrors"],
        json!([]),
        "{body}"
    );
}
