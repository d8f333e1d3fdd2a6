//! Benchmark of `serve` against the sandbox: the time from a cell edit to the store
//! showing it when the edit is announced by a signed notification, as the Apps Script
//! trigger sends it; median, 90th percentile and maximum over a number of edits.
//!
//! `cargo run --example serve_latency -- [EDITS] [INTERVAL] [PAUSE]` (default 20 edits,
//! the command's default `--interval 10s` for the polling fallback, `3s`). `serve` runs
//! in-process through the library, exactly as the command runs it, on a loopback port.
//! Each edit comes at a random moment up to PAUSE after the previous one reached the
//! store (a merchant going down a column), and its
//! notification is POSTed right after the cell changes: the figures leave out the time
//! Google takes to run the trigger and deliver the request (see docs/performance.md).

use std::time::{Duration, Instant};

use serde_json::json;
use sheetsync::config::Config;
use sheetsync::engine::{Engine, RunOptions};
use sheetsync::plan::Adopt;
use sheetsync::schedule::{Shutdown, WatchOptions};
use sheetsync::serve::{ServeContext, access::Bearer, health::SystemClock};
use sheetsync_sandbox::Sandbox;

const SECRET: &str = "benchmark-hook-secret-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let edits: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let interval = args
        .next()
        .map(|a| humantime::parse_duration(&a))
        .transpose()?
        .unwrap_or(Duration::from_secs(10));
    let pause = args
        .next()
        .map(|a| humantime::parse_duration(&a))
        .transpose()?
        .unwrap_or(Duration::from_secs(3));

    let sandbox = Sandbox::demo(0).await?;
    let dir = tempfile::tempdir()?;
    let path = sandbox.write_config(dir.path(), "")?;
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str("\n[serve]\nhook_secret = \"${SHEETSYNC_HOOK_SECRET}\"\n");
    std::fs::write(&path, text)?;
    let config = Config::load(&path, &|name| {
        (name == "SHEETSYNC_HOOK_SECRET").then(|| SECRET.to_owned())
    })?;
    sandbox.fix_demo_sheet();
    let mut engine = Engine::connect(config.clone()).await?;
    engine
        .sync(&RunOptions {
            adopt: Some(Adopt::Sheet),
            run_id: "bench-baseline".into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            ..RunOptions::default()
        })
        .await?;

    let ctx = ServeContext::new(config, interval, std::sync::Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hooks/sheet", listener.local_addr()?);
    let shutdown = Shutdown::default();
    let opts = WatchOptions {
        interval,
        ..WatchOptions::default()
    };
    let server = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tokio::spawn(async move {
            sheetsync::serve::run(
                &mut engine,
                &ctx,
                &opts,
                listener,
                Bearer::new(None)?,
                &shutdown,
            )
            .await
            .map_err(anyhow::Error::from)
        })
    };
    // The first (full) tick, then the edits.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ctx.health.report().last_success.is_none() {
        anyhow::ensure!(Instant::now() < deadline, "the first sync never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let spreadsheet_id = sandbox.sheets.spreadsheet_id();
    let mut latencies = Vec::with_capacity(edits);
    for i in 0..edits {
        tokio::time::sleep(pause.mul_f64(fastrand::f64())).await;
        let cents = 2000 + 25 * (i as i64 + 1);
        let price = rust_decimal::Decimal::new(cents, 2);
        sandbox
            .sheets
            .set_cell("Inventory", "C2", json!(cents as f64 / 100.0));
        let edited = Instant::now();
        // What the Apps Script sends: its body, its signature.
        let body = format!(
            "{{\"spreadsheet_id\":{},\"tab\":\"Inventory\",\"sent_at\":\"{}\"}}",
            json!(spreadsheet_id),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        let signature = sheetsync::serve::hook::sign(SECRET, body.as_bytes());
        let answer = http
            .post(&hook)
            .header("content-type", "application/json")
            .header("X-Sheetsync-Signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().as_u16() == 202,
            "hook answered {}",
            answer.status()
        );
        let deadline = edited + interval * 3 + Duration::from_secs(30);
        while sandbox.shopify.variant("TEE-RED-S").map(|v| v.price) != Some(price) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "edit {i} never reached the store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = edited.elapsed();
        println!("edit {:>2}: {:>6.2} s", i + 1, took.as_secs_f64());
        latencies.push(took);
    }
    shutdown.stop.cancel();
    server.await??;

    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    // Google's per-minute quota counts every Sheets request of a kind (60 reads, 60 writes).
    let requests = sandbox.sheets.requests();
    let sheets = |method: &str| {
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v4/") && r.method == method)
            .count()
    };
    println!(
        "Sheets requests: {} reads, {} writes (the baseline sync and the first full tick \
         included); refused by the per-minute quota: {}",
        sheets("GET"),
        sheets("POST"),
        sandbox.sheets.quota_refusals()
    );
    println!(
        "{} notified edits (serve, --interval {}, pauses up to {}): median {:.2} s, p90 {:.2} s, max {:.2} s",
        latencies.len(),
        humantime::format_duration(interval),
        humantime::format_duration(pause),
        pick(0.5).as_secs_f64(),
        pick(0.9).as_secs_f64(),
        latencies.last().copied().unwrap_or_default().as_secs_f64()
    );
    let metrics = ctx.metrics.encode();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("sheetsync_edit_to_store_seconds_"))
        .filter(|l| !l.contains("_bucket"))
    {
        println!("{line}");
    }
    Ok(())
}
