//! Interrupts reach every wait: SIGINT stops a run parked in a paged store read, a bulk
//! export poll, a bulk mutation poll, a Shopify retry wait and a Google Sheets retry wait,
//! with exit 130 and the report printed; a second SIGINT stops the run at once while a
//! request is still in flight.
//!
//! Each test parks the binary at a known point before it signals: a request held in the
//! sandbox (the fake has seen it), or the run's own debug line saying it now waits
//! (`retrying request`). Nothing synchronises by sleeping; the 20 s bounds only turn a
//! run that never stops into a failure. Each prints the time from SIGINT to exit
//! (`cargo test --test interrupts -- --nocapture`).

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::faults::FaultPlan;
use sheetsync_sandbox::shopify::{HoldPoint, MutationHold};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Bounds every wait for the binary; a run that ignores the signal fails here.
const BOUND: Duration = Duration::from_secs(20);

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    sandbox
}

/// A `sync --json --adopt sheet` in the background with debug logs on stderr, which a
/// task forwards line by line so the test can wait for the one that says where the run is.
struct Run {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Vec<String>,
}

impl Run {
    fn start(config: &Path) -> Run {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(config)
            .args(["sync", "--json", "--adopt", "sheet"])
            .env("SHEETSYNC_LOG", "sheetsync=debug,warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sheetsync");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    /// Waits until the run logs a line containing every one of `needles`.
    async fn logged(&mut self, needles: &[&str]) {
        let found = tokio::time::timeout(BOUND, async {
            while let Some(line) = self.lines.recv().await {
                let hit = needles.iter().all(|n| line.contains(n));
                self.stderr.push(line);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "no log line with {needles:?}:\n{}",
            self.stderr.join("\n")
        );
    }

    fn sigint(&self) {
        let pid = self.child.id().expect("the run is alive");
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits for the exit: (code, report on stdout, or Null when none was printed).
    async fn exit(mut self) -> (i32, Value) {
        let out = tokio::time::timeout(BOUND, self.child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the run did not exit within {BOUND:?} of SIGINT"))
            .expect("wait");
        while let Ok(line) = self.lines.try_recv() {
            self.stderr.push(line);
        }
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(code, 130, "stderr:\n{}", self.stderr.join("\n"));
        (code, report)
    }
}

/// SIGINT, then the time until the run has exited (130); prints it for the report.
async fn interrupt(run: Run, what: &str) -> Value {
    let at = Instant::now();
    run.sigint();
    let (_, report) = run.exit().await;
    println!("SIGINT to exit, {what}: {} ms", at.elapsed().as_millis());
    report
}

/// Parks the run on `hold`, signals, lets the held request be answered once the run
/// has taken the signal, and returns the report with the time from SIGINT to exit.
async fn interrupt_held(mut run: Run, hold: &MutationHold, what: &str) -> Value {
    common::held(hold, what).await;
    let at = Instant::now();
    run.sigint();
    run.logged(&["Interrupted"]).await;
    hold.release();
    let (_, report) = run.exit().await;
    println!(
        "SIGINT to exit, {what} (held request answered after the signal): {} ms",
        at.elapsed().as_millis()
    );
    report
}

fn assert_read_interrupted(report: &Value) {
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert!(
        report["changes"].as_array().is_some_and(Vec::is_empty),
        "interrupted while reading: nothing planned, nothing sent: {report:#}"
    );
}

#[tokio::test]
async fn sigint_during_a_paged_read_stops_before_the_next_page() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    // The demo store's 19 variants take more than one page.
    let hold = env
        .shopify
        .hold_mutation("productVariants", 1, HoldPoint::BeforeApply);
    let run = Run::start(&config);
    let report = interrupt_held(run, &hold, "first variant page in flight").await;
    assert_read_interrupted(&report);
    let pages = env
        .shopify
        .requests()
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| f == "productVariants"))
        .count();
    assert_eq!(pages, 1, "no page after the one in flight");
}

#[tokio::test]
async fn sigint_during_a_bulk_export_poll_stops_polling() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "bulk_threshold = 0").unwrap();
    let hold = env
        .shopify
        .hold_mutation("bulkOperation", 1, HoldPoint::BeforeApply);
    let run = Run::start(&config);
    let report = interrupt_held(run, &hold, "bulk export poll").await;
    assert_read_interrupted(&report);
    let polls = env
        .shopify
        .requests()
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| f == "bulkOperation"))
        .count();
    assert_eq!(
        polls, 1,
        "the job answered RUNNING once and was not polled again"
    );
    assert!(
        env.shopify.file_fetches().is_empty(),
        "no export downloaded"
    );
}

#[tokio::test]
async fn sigint_during_a_bulk_mutation_poll_leaves_the_job_to_the_next_run() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env
        .write_config(dir.path(), "bulk_mutation_threshold = 0")
        .unwrap();
    let hold = env
        .shopify
        .hold_mutation("bulkOperation", 1, HoldPoint::BeforeApply);
    let run = Run::start(&config);
    let report = interrupt_held(run, &hold, "bulk mutation poll").await;
    assert_eq!(report["interrupted"], true, "{report:#}");
    let bulk: Vec<&Value> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| {
            c["error"]
                .as_str()
                .is_some_and(|e| e.contains("interrupted while bulk operation"))
        })
        .collect();
    assert!(
        !bulk.is_empty(),
        "the job's changes end skipped: {report:#}"
    );
    assert!(bulk.iter().all(|c| c["status"] == "skipped"), "{report:#}");
    let polls = env
        .shopify
        .requests()
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| f == "bulkOperation"))
        .count();
    assert_eq!(polls, 1, "the job was not polled again after the signal");

    // The fake ran the job at once: the next run settles the open job from the store
    // and finds nothing left to write for those fields.
    let (code, stdout, stderr) =
        common::run_sheetsync(&config, &["sync", "--json", "--adopt", "sheet"]).await;
    let next = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{next:#}\n{stderr}");
    let again: Vec<&Value> = next["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| {
            bulk.iter()
                .any(|b| b["sku"] == c["sku"] && b["field"] == c["field"])
        })
        .collect();
    assert!(again.is_empty(), "already in the store: {again:?}");
}

#[tokio::test]
async fn sigint_during_a_shopify_retry_wait_ends_it() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    // Every Shopify request is answered 429 with a five-minute Retry-After.
    env.shopify.faults().set(FaultPlan {
        too_many: 1.0,
        retry_after: "300".into(),
        ..FaultPlan::default()
    });
    let mut run = Run::start(&config);
    run.logged(&["retrying request", "shopify", "wait_ms=300000"])
        .await;
    let report = interrupt(run, "Shopify retry wait (429, Retry-After: 300)").await;
    assert_read_interrupted(&report);
}

#[tokio::test]
async fn sigint_during_a_google_read_retry_wait_ends_it() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    // Every Sheets request is answered 429 with a five-minute Retry-After.
    env.sheets.faults().set(FaultPlan {
        too_many: 1.0,
        retry_after: "300".into(),
        ..FaultPlan::default()
    });
    let mut run = Run::start(&config);
    run.logged(&["retrying request", "google-sheets", "wait_ms=300000"])
        .await;
    let report = interrupt(run, "Google Sheets read retry wait (429, Retry-After: 300)").await;
    assert_read_interrupted(&report);
}

#[tokio::test]
async fn a_second_sigint_exits_at_once_with_a_request_in_flight() {
    let env = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = env.write_config(dir.path(), "").unwrap();
    let hold = env
        .shopify
        .hold_mutation("inventorySetQuantities", 1, HoldPoint::BeforeApply);
    let mut run = Run::start(&config);
    common::held(&hold, "the stock write reached the sandbox").await;
    run.sigint();
    // The first signal waits for the held write.
    run.logged(&["Interrupted"]).await;
    assert!(hold.is_held());
    let at = Instant::now();
    run.sigint();
    let (_, report) = run.exit().await;
    println!(
        "SIGINT to exit, second SIGINT with a write held in flight: {} ms",
        at.elapsed().as_millis()
    );
    assert!(hold.is_held(), "the run did not wait for the held write");
    assert_eq!(report, Value::Null, "no report: the run was abandoned");
    hold.abandon();
}
