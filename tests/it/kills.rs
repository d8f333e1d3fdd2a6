//! Kills: the binary is killed in the middle of apply. After SIGKILL a re-run converges to
//! the state of an uninterrupted run with each stock write taking effect once; after
//! SIGTERM the run exits 130 with the rest `skipped`.
//!
//! The deterministic kills park the stock write in the sandbox (before or after it took
//! effect) and kill the binary while it waits for the answer, so the journal always holds
//! one open request and the re-run's recovery always has to settle it.

use crate::common;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sheetsync::state::Scope;
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::faults::FaultPlan;
use sheetsync_sandbox::shopify::HoldPoint;

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    sandbox
}

fn command(config: &Path, args: &[&str]) -> tokio::process::Command {
    command_on(&common::Backend::Sqlite, config, args)
}

fn command_on(backend: &common::Backend, config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    backend.apply(&mut cmd);
    cmd
}

async fn sync(config: &Path) -> (i32, Value) {
    sync_on(&common::Backend::Sqlite, config).await
}

async fn sync_on(backend: &common::Backend, config: &Path) -> (i32, Value) {
    let out = command_on(backend, config, &["sync", "--json", "--adopt", "sheet"])
        .output()
        .await
        .expect("run");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

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

/// Waits until the fake has applied at least one mutation.
async fn first_mutation(sandbox: &Sandbox) {
    common::wait_until(Duration::from_secs(20), "a first mutation", || {
        !sandbox.shopify.applied_mutations().is_empty()
    })
    .await;
}

fn slow(sandbox: &Sandbox, ms: u64) {
    sandbox.shopify.faults().set(FaultPlan {
        latency: Duration::from_millis(ms),
        ..FaultPlan::default()
    });
}

async fn kill_9_mid_apply_then_rerun_converges_with_each_change_once(backend: common::Backend) {
    let clean = sandbox().await;
    let clean_dir = tempfile::tempdir().unwrap();
    let (code, _) = sync(&clean.write_config(clean_dir.path(), "").unwrap()).await;
    assert_eq!(code, 0);

    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    backend.short_lease(&config, "2s");
    slow(&env, 150);
    let mut child = command_on(&backend, &config, &["sync", "--json", "--adopt", "sheet"])
        .spawn()
        .expect("spawn");
    first_mutation(&env).await;
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert!(!status.success());
    let applied_before = env.shopify.applied_mutations().len();
    assert!(
        applied_before < clean.shopify.applied_mutations().len(),
        "the kill landed before the run finished"
    );
    env.shopify.faults().clear();
    backend.wait_for_free_leases().await;
    let (code, report) = sync_on(&backend, &config).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        common::store_by_sheet_sku(&env),
        common::store_by_sheet_sku(&clean),
        "the re-run converges"
    );
    let writes = stock_writes(&env);
    let mut once = writes.clone();
    once.dedup();
    assert_eq!(writes, once, "a stock write took effect twice");
    assert_eq!(writes, stock_writes(&clean));

    // Nothing the killed run journaled is left open.
    let scope = Scope::new(
        &env.shopify.shop_domain(),
        &env.sheets.spreadsheet_id(),
        "Inventory",
    );
    let state = backend
        .open_reader(&dir.path().join("state"), &scope)
        .expect("state");
    assert_eq!(state.unsettled_requests().unwrap(), vec![]);

    // And the next run has nothing to do.
    let (code, again) = sync_on(&backend, &config).await;
    assert_eq!((code, &again["changes"]), (0, &json!([])), "{again:#}");
}

fn open_state(
    backend: &common::Backend,
    sandbox: &Sandbox,
    dir: &Path,
) -> Box<dyn sheetsync::state::StateStore> {
    let scope = Scope::new(
        &sandbox.shopify.shop_domain(),
        &sandbox.sheets.spreadsheet_id(),
        "Inventory",
    );
    backend
        .open_reader(&dir.join("state"), &scope)
        .expect("state")
}

fn runs(backend: &common::Backend, config: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"));
    cmd.arg("--config")
        .arg(config)
        .arg("runs")
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1");
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The mutations the fake applied, by name, in order.
fn ledger(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .shopify
        .applied_mutations()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

/// Parks the first `mutation` at `point`, SIGKILLs the binary while it waits for the
/// answer, lets the sandbox go, re-runs, and checks the re-run against an uninterrupted
/// run. Returns how the recovery settled the killed request.
async fn kill_while_held(
    backend: &common::Backend,
    mutation: &str,
    point: HoldPoint,
) -> (Option<String>, Option<String>) {
    let clean = sandbox().await;
    let clean_dir = tempfile::tempdir().unwrap();
    let (code, _) = sync(&clean.write_config(clean_dir.path(), "").unwrap()).await;
    assert_eq!(code, 0);
    assert_eq!(
        stock_writes(&clean).len(),
        2,
        "the scenario needs a stock write to hold"
    );

    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    backend.short_lease(&config, "2s");
    let hold = env.shopify.hold_mutation(mutation, 1, point);
    let mut child = command_on(backend, &config, &["sync", "--json", "--adopt", "sheet"])
        .spawn()
        .expect("spawn");
    common::held(&hold, "the stock write reached the sandbox").await;
    // Held after applying, the mutation is in the ledger. Held before, it is not, but with
    // writes in flight concurrently another mutation of the same kind may already be, so
    // only the first case can be asserted here; settling below checks both.
    if point == HoldPoint::AfterApply {
        assert!(ledger(&env).iter().any(|m| m == mutation));
    }
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert!(!status.success());
    if point == HoldPoint::AfterApply {
        hold.release();
    } else {
        // The dead client's request must never land now, whatever the server does.
        hold.abandon();
    }

    // The killed run left its held write open, and perhaps others of the same kind that
    // were in flight beside it (the executor sends independent requests concurrently).
    // Those already on the wire still land: the fake closes the dead client's connections
    // only once it has served what they carried, so wait for that.
    common::wait_until(
        Duration::from_secs(20),
        "the fake to close the killed client's connections",
        || env.shopify.open_connections() == 0,
    )
    .await;
    let open = open_state(backend, &env, dir.path())
        .unsettled_requests()
        .unwrap();
    assert!(!open.is_empty() && open.len() <= 8, "{open:?}");
    assert!(open.iter().all(|r| r.operation == mutation), "{open:?}");
    let killed_run = open[0].run_id.clone();
    // `runs` shows the killed run as unfinished, and `runs show` says so.
    let (code, listing) = runs(backend, &config, &["--json"]);
    assert_eq!(code, 0, "{listing}");
    let listing: Value = serde_json::from_str(&listing).expect("runs --json");
    let row = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == killed_run.as_str())
        .expect("the killed run is listed");
    assert_eq!(row["finished_at"], Value::Null);
    assert_eq!(row["exit_code"], Value::Null);
    let (code, human) = runs(backend, &config, &[]);
    assert_eq!(code, 0, "{human}");
    let line = human
        .lines()
        .find(|l| l.contains(&killed_run))
        .expect("the killed run is listed");
    assert!(line.contains("did not finish"), "{human}");
    assert!(!line.contains("null"), "{human}");
    let (code, shown) = runs(backend, &config, &["show", &killed_run]);
    assert_ne!(code, 0);
    assert!(shown.contains("did not finish"), "{shown}");

    backend.wait_for_free_leases().await;
    let before_rerun = env.shopify.requests().len();
    let (code, report) = sync_on(backend, &config).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        common::store_by_sheet_sku(&env),
        common::store_by_sheet_sku(&clean),
        "the re-run converges"
    );
    let writes = stock_writes(&env);
    let mut once = writes.clone();
    once.dedup();
    assert_eq!(writes, once, "a stock write took effect twice");
    assert_eq!(writes, stock_writes(&clean));
    // Nothing was replayed: the fake ran the same mutations as an uninterrupted run.
    let mut ran = ledger(&env);
    let mut clean_ran = ledger(&clean);
    ran.sort();
    clean_ran.sort();
    assert_eq!(ran, clean_ran, "a mutation ran twice or went missing");

    // Which open requests the fake ran: these must settle applied, the others not.
    // Judged from the fake's log up to the re-run, not at the kill: a connection the
    // killed client had opened but the fake had not accepted yet when its open
    // connections fell to zero is still served after that (seen on a loaded machine).
    let ran_variables: Vec<Value> = env.shopify.requests()[..before_rerun]
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| f == mutation) && r.error_codes.is_empty())
        .map(|r| r.variables.clone())
        .collect();
    let was_run = |body: &[u8]| {
        let sent: Value = serde_json::from_slice(body).expect("journaled JSON");
        ran_variables.contains(&sent["variables"])
    };
    // The held request: an open one the fake ran (after apply), or one it never ran
    // (before apply). Not simply the first of its kind in the fake's log: the fake logs a
    // request when it runs it and counts it for the hold just after, so a concurrent
    // update of another product can run first, reach the hold second and be answered
    // (and settled by the killed run) while the held one waits (seen once in CI).
    let held = match point {
        HoldPoint::AfterApply => ran_variables
            .iter()
            .find_map(|ran| {
                open.iter().find(|r| {
                    let sent: Value = serde_json::from_slice(&r.body).expect("journaled JSON");
                    &sent["variables"] == ran
                })
            })
            .expect("the held request is open"),
        HoldPoint::BeforeApply => open
            .iter()
            .find(|r| !was_run(&r.body))
            .expect("the held request is open"),
    };

    let state = open_state(backend, &env, dir.path());
    assert_eq!(state.unsettled_requests().unwrap(), vec![]);
    let state_dir = dir.path().join("state");
    for r in &open {
        let (outcome, response) = backend.request_outcome(&state_dir, r.id).await;
        let expected = if was_run(&r.body) {
            "applied"
        } else {
            "failed"
        };
        assert_eq!(outcome.as_deref(), Some(expected), "{} {response:?}", r.key);
    }
    let outcome = backend.request_outcome(&state_dir, held.id).await;

    let (code, again) = sync_on(backend, &config).await;
    assert_eq!((code, &again["changes"]), (0, &json!([])), "{again:#}");
    outcome
}

async fn kill_9_after_the_stock_write_took_effect_settles_it_applied_without_replay(
    backend: common::Backend,
) {
    let (outcome, response) =
        kill_while_held(&backend, "inventorySetQuantities", HoldPoint::AfterApply).await;
    assert_eq!(outcome.as_deref(), Some("applied"), "{response:?}");
}

async fn kill_9_before_the_stock_write_took_effect_settles_it_not_applied_and_reapplies_once(
    backend: common::Backend,
) {
    let (outcome, response) =
        kill_while_held(&backend, "inventorySetQuantities", HoldPoint::BeforeApply).await;
    assert_eq!(outcome.as_deref(), Some("failed"), "{response:?}");
    assert!(
        response.as_deref().is_some_and(|r| r.contains("not")),
        "{response:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_around_a_variant_update_settles_it_by_re_reading_the_fields() {
    let (outcome, response) = kill_while_held(
        &common::Backend::Sqlite,
        "productVariantsBulkUpdate",
        HoldPoint::AfterApply,
    )
    .await;
    assert_eq!(outcome.as_deref(), Some("applied"), "{response:?}");
    let (outcome, response) = kill_while_held(
        &common::Backend::Sqlite,
        "productVariantsBulkUpdate",
        HoldPoint::BeforeApply,
    )
    .await;
    assert_eq!(outcome.as_deref(), Some("failed"), "{response:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_request_in_flight_and_exits_130_with_the_rest_skipped() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    slow(&env, 300);
    let child = command(&config, &["sync", "--json", "--adopt", "sheet"])
        .spawn()
        .expect("spawn");
    let pid = child.id().expect("pid");
    first_mutation(&env).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["interrupted"], true, "{report:#}");
    let changes = report["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["status"] == "applied"),
        "{report:#}"
    );
    assert!(
        changes.iter().any(|c| c["status"] == "skipped"
            && (c["error"] == "interrupted" || c["note"] == "interrupted")),
        "{report:#}"
    );
}

/// Independent writes go out together: while the fake holds the first product's update
/// before it takes effect, another product's update still arrives and is applied. A
/// sequential executor would wait for the held answer and never send the second.
#[tokio::test(flavor = "multi_thread")]
async fn variant_updates_of_different_products_are_in_flight_together() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    let hold = env
        .shopify
        .hold_mutation("productVariantsBulkUpdate", 1, HoldPoint::BeforeApply);
    let child = command(&config, &["sync", "--json", "--adopt", "sheet"])
        .spawn()
        .expect("spawn");
    common::held(&hold, "the first variant update reached the sandbox").await;
    // While the first is held, a second product update goes through beside it.
    common::wait_until(
        Duration::from_secs(20),
        "a second product update while the first was held",
        || {
            ledger(&env)
                .iter()
                .any(|m| m == "productVariantsBulkUpdate")
        },
    )
    .await;
    hold.release();
    let out = child.wait_with_output().await.expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["summary"]["failed"], json!(0), "{report:#}");
}

common::on_both_backends!(
    kill_9_mid_apply_then_rerun_converges_with_each_change_once,
    kill_9_after_the_stock_write_took_effect_settles_it_applied_without_replay,
    kill_9_before_the_stock_write_took_effect_settles_it_not_applied_and_reapplies_once,
);
