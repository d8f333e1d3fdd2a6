//! Benchmark of reading a WooCommerce catalogue: requests and wall time to read every
//! product and variation of a generated store through the adapter, against the sandbox's
//! WooCommerce fake with a fixed per-request latency, with `GET /variations`
//! (WooCommerce 10.3+) and without it (per-parent reads, before 10.3).
//!
//! `cargo run --release --example bench_woo -- [VARIATIONS] [LATENCY] [VERSION]`
//! (defaults: 10000, `50ms`, both `10.3.0` and `10.2.0`). The store has 5 variations per
//! variable product (the brief's §8.3 shape); `max_concurrency` is the default 2.
//!
//! `cargo run --release --example bench_woo -- sync [VARIATIONS] [LATENCY] [VERSION]
//! [CHANGED_PERCENT]` (defaults: 10000, `50ms`, both versions, 10): a whole `sync
//! --adopt sheet --yes` through the engine (Sheets fake, plan, re-read before each batch,
//! writes, order-window reads), the sheet one row per variation (SKU, regular price,
//! stock) with CHANGED_PERCENT of the stock cells one more than the store's, spread
//! evenly, so each changed row's parent gets its own variations batch. Printed: requests
//! by kind, wall time, and the process's peak RSS (VmHWM: both fakes serve in-process, so
//! it includes them).

use std::time::{Duration, Instant};

use sheetsync::config::woocommerce::WooConfig;
use sheetsync::http::RetryPolicy;
use sheetsync::model::Secret;
use sheetsync::store::woocommerce::WooClient;
use sheetsync_sandbox::woocommerce::{Catalogue, WooFake, WooOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::args().nth(1).as_deref() == Some("sync") {
        return sync_bench(std::env::args().skip(2).collect()).await;
    }
    let mut args = std::env::args().skip(1);
    let variations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let latency = args
        .next()
        .map(|a| humantime::parse_duration(&a))
        .transpose()?
        .unwrap_or(Duration::from_millis(50));
    let versions: Vec<String> = match args.next() {
        Some(v) => vec![v],
        None => vec!["10.3.0".into(), "10.2.0".into()],
    };
    for version in versions {
        let fake = WooFake::start(WooOptions {
            catalogue: Catalogue::Generated {
                parents: variations / 5,
                per_parent: 5,
            },
            version: version.clone(),
            ..WooOptions::default()
        })
        .await?;
        fake.set_latency(latency);
        let cfg = WooConfig {
            url: fake.base_url().trim_end_matches('/').to_owned(),
            consumer_key: Secret::new(fake.consumer_key()),
            consumer_secret: Secret::new(fake.consumer_secret()),
            api_base_url: None,
            max_concurrency: sheetsync::config::woocommerce::DEFAULT_MAX_CONCURRENCY,
            timeout: sheetsync::config::woocommerce::DEFAULT_TIMEOUT,
        };
        let client = WooClient::new(&cfg, RetryPolicy::default())?;
        fake.clear_request_log();
        let started = Instant::now();
        let (snapshot, without_sku) = client.snapshot_counted().await?;
        let wall = started.elapsed();
        let requests = fake.request_log().len();
        let items: usize = snapshot.variants.values().map(Vec::len).sum();
        println!(
            "WooCommerce {version}: {variations} variations ({} parents), {items} items with a SKU ({without_sku} without), {requests} requests, {:.1} s at {} per request, max {} in flight",
            variations / 5,
            wall.as_secs_f64(),
            humantime::format_duration(latency),
            fake.max_in_flight()
        );
    }
    Ok(())
}

/// The process's peak resident set (VmHWM), as /proc reports it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM")?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}

async fn sync_bench(args: Vec<String>) -> anyhow::Result<()> {
    use serde_json::json;
    use sheetsync::config::Config;
    use sheetsync::engine::{Engine, RunOptions};
    use sheetsync::plan::Adopt;
    use sheetsync_sandbox::sheets::SheetsFake;

    let mut args = args.into_iter();
    let variations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let latency = args
        .next()
        .map(|a| humantime::parse_duration(&a))
        .transpose()?
        .unwrap_or(Duration::from_millis(50));
    let versions: Vec<String> = match args.next().filter(|v| v != "both") {
        Some(v) => vec![v],
        None => vec!["10.3.0".into(), "10.2.0".into()],
    };
    let percent: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let parents = variations / 5;
    for version in versions {
        let fake = WooFake::start(WooOptions {
            catalogue: Catalogue::Generated {
                parents,
                per_parent: 5,
            },
            version: version.clone(),
            ..WooOptions::default()
        })
        .await?;
        // The seed's own formulas (sandbox/src/woocommerce/seed.rs `generated`).
        let mut rows = vec![vec![json!("SKU"), json!("Regular price"), json!("Stock")]];
        let every = if percent == 0 {
            usize::MAX
        } else {
            100 / percent.min(100)
        };
        let mut changed = 0usize;
        for p in 0..parents {
            for n in 0..5 {
                let stock = ((p * 7 + n * 3) % 50) as i64 + 1;
                let k = p * 5 + n;
                let bump = every != usize::MAX && k % every == 0;
                changed += usize::from(bump);
                rows.push(vec![
                    json!(format!("GEN-{p}-{n}")),
                    json!(format!("{}.{:02}", 10 + (p % 90), n % 100)),
                    json!(stock + i64::from(bump)),
                ]);
            }
        }
        let sheets = SheetsFake::new();
        sheets.add_tab("Inventory", rows);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let served = sheets.clone();
        tokio::spawn(async move {
            let _ = served.serve(listener).await;
        });
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("sa.json"),
            sheets.service_account_key_json(&format!("http://{addr}/token")),
        )?;
        let path = dir.path().join("sheetsync.toml");
        std::fs::write(
            &path,
            format!(
                r#"
[sheet]
spreadsheet_id = "{id}"
tab = "Inventory"
api_base_url = "http://{addr}/"
drive_api_base_url = "http://{addr}/"

[sheet.columns]
sku = "SKU"
regular_price = "Regular price"
stock = "Stock"

[google]
credentials = "sa.json"

[woocommerce]
url = "{url}"
consumer_key = "{key}"
consumer_secret = "{secret}"

[sync]
state_dir = "state"
max_change_ratio = 1.0
"#,
                id = sheets.spreadsheet_id(),
                url = fake.base_url().trim_end_matches('/'),
                key = fake.consumer_key(),
                secret = fake.consumer_secret(),
            ),
        )?;
        let config = Config::load(&path, &|_| None)?;
        let engine = Engine::connect(config).await?;
        fake.set_latency(latency);
        fake.clear_request_log();
        let now = chrono::Utc::now();
        let opts = RunOptions {
            dry_run: false,
            only: None,
            yes: true,
            adopt: Some(Adopt::Sheet),
            run_id: format!("bench-{}", now.format("%Y%m%dT%H%M%S%.3fZ")),
            started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ..RunOptions::default()
        };
        let started = Instant::now();
        let report = engine.sync(&opts).await?;
        let wall = started.elapsed();
        let log = fake.request_log();
        let count = |f: &dyn Fn(&sheetsync_sandbox::woocommerce::RequestLog) -> bool| {
            log.iter().filter(|r| f(r)).count()
        };
        let batches = count(&|r| r.method == "POST" && r.path.ends_with("/batch"));
        let orders = count(&|r| r.method == "GET" && r.path.ends_with("/orders"));
        let applied = report
            .changes
            .iter()
            .filter(|c| c.status == sheetsync::report::Status::Applied)
            .count();
        println!(
            "WooCommerce {version} sync: {variations} variations, {changed} changed stock cells, {applied} applied, {} requests ({batches} batch writes incl. the write probe, {orders} order-window reads, {} other reads), {:.1} s at {} per request, max {} in flight, peak RSS {}",
            log.len(),
            log.len() - batches - orders,
            wall.as_secs_f64(),
            humantime::format_duration(latency),
            fake.max_in_flight(),
            peak_rss(),
        );
    }
    Ok(())
}
