//! Fault tests: a run against fakes that answer a share of requests with 5xx, 429 with
//! `Retry-After`, or drop the connection before or after the request took effect ends in
//! exactly the store state of a run without faults, and applies no change twice.
//! In process, so the retry policy can use millisecond backoffs.

use crate::common;

use serde_json::Value;
use sheetsync::config::Config;
use sheetsync::engine::{Engine, RunOptions};
use sheetsync::http::RetryPolicy;
use sheetsync::plan::Adopt;
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::faults::{Fault, FaultPlan};

/// The demo sandbox with its deliberately bad cells emptied.
async fn sandbox() -> Sandbox {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    sandbox
}

async fn run(sandbox: &Sandbox, dir: &std::path::Path, run_id: &str) -> Value {
    let path = sandbox.write_config(dir, "").expect("config");
    let config = Config::load(&path, &|_| None).expect("load config");
    let engine = Engine::connect(config)
        .await
        .expect("connect")
        .with_retry(RetryPolicy::fast())
        .expect("retry policy");
    let opts = RunOptions {
        adopt: Some(Adopt::Sheet),
        run_id: run_id.into(),
        started_at: "2026-03-01T12:00:00Z".into(),
        ..RunOptions::default()
    };
    let report = engine.sync(&opts).await.expect("the run completes");
    serde_json::from_str(&sheetsync::report::json::to_json(&report)).expect("report json")
}

/// (inventory item, location, quantity) of every stock write that took effect.
fn stock_writes(sandbox: &Sandbox) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for m in sandbox.shopify.applied_mutations() {
        let ok = m.response["userErrors"]
            .as_array()
            .is_none_or(|e| e.is_empty());
        if m.name != "inventorySetQuantities" || !ok {
            continue;
        }
        for q in m.args["input"]["quantities"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push((
                q["inventoryItemId"].as_str().unwrap_or_default().to_owned(),
                q["locationId"].as_str().unwrap_or_default().to_owned(),
                q["quantity"].as_i64().unwrap_or_default(),
            ));
        }
    }
    out.sort();
    out
}

fn distinct_bulk_updates(sandbox: &Sandbox) -> Vec<Value> {
    let mut out: Vec<Value> = sandbox
        .shopify
        .applied_mutations()
        .into_iter()
        .filter(|m| m.name == "productVariantsBulkUpdate")
        .map(|m| m.args)
        .collect();
    out.sort_by_key(|v| v.to_string());
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_under_20_percent_faults_ends_in_the_fault_free_state_with_no_change_twice() {
    let clean = sandbox().await;
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_report = run(&clean, clean_dir.path(), "clean").await;
    assert_eq!(clean_report["summary"]["failed"], 0, "{clean_report:#}");

    let faulty = sandbox().await;
    faulty.shopify.faults().set(FaultPlan::mixed(0.2, 7));
    // The sheet sees only a few requests: take a seed whose first draw is a fault.
    let sheet_seed = (0..)
        .find(|s| fastrand::Rng::with_seed(*s).f64() < 0.2)
        .unwrap();
    faulty
        .sheets
        .faults()
        .set(FaultPlan::mixed(0.2, sheet_seed));
    let dir = tempfile::tempdir().unwrap();
    let report = run(&faulty, dir.path(), "faulty").await;
    faulty.shopify.faults().clear();
    faulty.sheets.faults().clear();

    let injected = faulty.shopify.faults().injected();
    assert!(
        [
            Fault::ServerError,
            Fault::DropBefore,
            Fault::DropAfter,
            Fault::TooMany
        ]
        .iter()
        .all(|f| injected.get(f).copied().unwrap_or(0) > 0)
            || injected.values().sum::<usize>() >= 4,
        "the run met faults of every kind: {injected:?}"
    );
    assert!(
        !faulty.sheets.faults().injected().is_empty(),
        "the sheet reads met faults too"
    );
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert_eq!(
        report["summary"]["applied"], clean_report["summary"]["applied"],
        "{report:#}"
    );
    assert_eq!(
        common::store_by_sheet_sku(&faulty),
        common::store_by_sheet_sku(&clean),
        "the same end state"
    );

    let writes = stock_writes(&faulty);
    let mut once = writes.clone();
    once.dedup();
    assert_eq!(writes, once, "a stock write took effect twice");
    assert_eq!(writes, stock_writes(&clean));
    // Variant updates carry no idempotency key; a resend after a lost answer may run
    // again, but only as the same absolute values.
    assert_eq!(
        distinct_bulk_updates(&faulty),
        distinct_bulk_updates(&clean)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_failures_are_not_retried() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let path = sandbox.write_config(dir.path(), "").expect("config");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(sheetsync_sandbox::SANDBOX_TOKEN, "shpat_wrong");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path, &|_| None).expect("load config");
    let engine = Engine::connect(config)
        .await
        .unwrap()
        .with_retry(RetryPolicy::fast())
        .unwrap();
    let err = engine
        .sync(&RunOptions {
            dry_run: true,
            ..RunOptions::default()
        })
        .await
        .expect_err("401");
    assert!(err.to_string().contains("401"), "{err}");
    let calls = sandbox
        .shopify
        .requests()
        .iter()
        .filter(|r| r.http_status == 401)
        .count();
    assert_eq!(calls, 1, "a 401 is sent once");
}
