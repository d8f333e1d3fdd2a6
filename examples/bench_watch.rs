//! Benchmark of `watch` against the sandbox: the time from a cell edit to the store
//! showing it, median and 90th percentile over a number of edits, at a given interval.
//!
//! `cargo run --example bench_watch -- [EDITS] [INTERVAL]` (default 20 edits at `10s`,
//! the command's default; the run takes a few minutes). The watch loop runs in-process
//! through the library, exactly as the command runs it. Each edit lands at a random
//! moment of the interval (a random pause after the previous edit arrived), so the
//! numbers include the wait for the next Drive check as a merchant would see it.

use std::time::{Duration, Instant};

use serde_json::json;
use sheetsync::config::Config;
use sheetsync::engine::{Engine, RunOptions};
use sheetsync::plan::Adopt;
use sheetsync::schedule::{self, Shutdown, WatchOptions};
use sheetsync_sandbox::Sandbox;

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

    let sandbox = Sandbox::demo(0).await?;
    let dir = tempfile::tempdir()?;
    let path = sandbox.write_config(dir.path(), "")?;
    let config = Config::load(&path, &|_| None)?;
    // The demo sheet's deliberately bad cells are emptied, then a baseline is settled.
    sandbox.fix_demo_sheet();
    let engine = Engine::connect(config).await?;
    engine
        .sync(&RunOptions {
            adopt: Some(Adopt::Sheet),
            run_id: "bench-baseline".into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            ..RunOptions::default()
        })
        .await?;

    let shutdown = Shutdown::default();
    let opts = WatchOptions {
        interval,
        ..WatchOptions::default()
    };
    let watcher = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { schedule::watch(&engine, &opts, &shutdown).await })
    };
    // Let the first (full) tick pass.
    tokio::time::sleep(interval.min(Duration::from_secs(2))).await;

    let mut latencies = Vec::with_capacity(edits);
    for i in 0..edits {
        tokio::time::sleep(interval.mul_f64(fastrand::f64())).await;
        // Small steps, so the price guard never trips.
        let cents = 2000 + 25 * (i as i64 + 1);
        let price = rust_decimal::Decimal::new(cents, 2);
        sandbox
            .sheets
            .set_cell("Inventory", "C2", json!(cents as f64 / 100.0));
        let edited = Instant::now();
        let deadline = edited + interval * 3 + Duration::from_secs(30);
        loop {
            let now_price = sandbox.shopify.variant("TEE-RED-S").map(|v| v.price);
            if now_price == Some(price) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "edit {i} never reached the store"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = edited.elapsed();
        println!("edit {:>2}: {:>6.2} s", i + 1, took.as_secs_f64());
        latencies.push(took);
    }
    shutdown.stop.cancel();
    watcher.await?;

    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{} edits at --interval {}: median {:.2} s, p90 {:.2} s, max {:.2} s",
        latencies.len(),
        humantime::format_duration(interval),
        pick(0.5).as_secs_f64(),
        pick(0.9).as_secs_f64(),
        latencies.last().copied().unwrap_or_default().as_secs_f64()
    );
    Ok(())
}
