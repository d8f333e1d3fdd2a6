//! Benchmark of reading a WooCommerce catalogue: requests and wall time to read every
//! product and variation of a generated store through the adapter, against the sandbox's
//! WooCommerce fake with a fixed per-request latency, with `GET /variations`
//! (WooCommerce 10.3+) and without it (per-parent reads, before 10.3).
//!
//! `cargo run --release --example bench_woo -- [VARIATIONS] [LATENCY] [VERSION]`
//! (defaults: 10000, `50ms`, both `10.3.0` and `10.2.0`). The store has 5 variations per
//! variable product (the brief's §8.3 shape); `max_concurrency` is the default 2.

use std::time::{Duration, Instant};

use sheetsync::config::woocommerce::WooConfig;
use sheetsync::http::RetryPolicy;
use sheetsync::model::Secret;
use sheetsync::store::woocommerce::WooClient;
use sheetsync_sandbox::woocommerce::{Catalogue, WooFake, WooOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
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
