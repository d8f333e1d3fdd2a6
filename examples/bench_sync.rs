//! Benchmark of a whole `sync` through the real clients against the local sandbox, at
//! Shopify Standard-plan limits (bucket 2,000 points, restoring 100 points/s).
//!
//! `cargo run --release --example bench_sync -- [VARIANTS] [CHANGED_PERCENT] [--dry-run-first]
//! [--latency-ms=N] [--sequential] [--no-bulk-mutations] [--bulk-mutation-threshold=N]
//! [--live-bulk-pace | --bulk-pace=QUEUE_SECS,OBJECTS_PER_SEC]`
//! (defaults 10,000 and 10). The sandbox finishes bulk jobs at once unless paced:
//! `--live-bulk-pace` makes every bulk export and bulk mutation wait
//! [`LIVE_QUEUE_WAIT`] queued and then run at [`LIVE_OBJECTS_PER_SECOND`] (a conservative
//! reading of live captures, see `docs/performance.md`); `--bulk-pace` sets both. `--no-bulk-mutations` sends every variant update directly;
//! `--bulk-mutation-threshold` overrides `sync.bulk_mutation_threshold` (default 200). `--latency-ms` delays every
//! request the Shopify fake handles (a network round trip); `--sequential` caps the
//! executor at one mutation in flight, to compare with its concurrent default. The store holds VARIANTS variants, four to a product, stocked
//! at two locations; the sheet has one row per variant, CHANGED_PERCENT of them differing
//! from the store (half a price, half a Main Warehouse stock figure). The run is a first
//! `sync --adopt sheet --yes` under the default `three_way` policy: no baseline yet, so
//! every differing cell is pushed and every agreeing one adopted.
//!
//! Phases: "read" runs from the start of `sync` to the first mutation the fake receives
//! (reads, parse, plan, opening the state), "apply" from there to the report; the split is
//! observed by polling the fake's request log. `--dry-run-first` also times a dry run
//! before the real one (the bucket is refilled in between), a second measure of reads.
//!
//! Printed: wall time per phase, requests per operation with their requested and actual
//! cost, the theoretical minimum time (points spent / restore rate), and memory. A
//! counting global allocator gives the heap live after setup (both fakes and their seeded
//! data: they serve in-process) and, per phase of the run (checkpoints at the engine's
//! debug `phase` events), the heap live at its end and its peak: the run's peak above
//! setup is the engine plus what the fakes add while serving. VmHWM (the whole process's
//! peak RSS) is printed too. The last line is a table row for docs/performance.md: wall time
//! against the floor by direct calls (what the same run costs with one
//! `productVariantsBulkUpdate` per product, over the restore rate), requests, points
//! spent, throttled answers and memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};
use sheetsync::config::Config;
use sheetsync::engine::{Engine, RunOptions};
use sheetsync::plan::Adopt;
use sheetsync::store::shopify::ClientOptions;
use sheetsync_sandbox::faults::FaultPlan;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::{RequestLog, ShopifyFake};
use sheetsync_sandbox::{SANDBOX_TOKEN, Sandbox};

/// Shopify Standard plan (SHOPIFY.md §2).
const BUCKET: f64 = 2000.0;
const RESTORE: f64 = 100.0;
const VARIANTS_PER_PRODUCT: usize = 4;
/// `--live-bulk-pace`: how long a bulk job stays `CREATED`. A dev store's jobs start
/// within a poll (under 1 s, live captures); a busy production queue is assumed slower.
const LIVE_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// `--live-bulk-pace`: objects a running bulk job gets through per second. Live captures
/// on a dev store counted 5,033 objects ~12 s after submission (≈ 420/s) and 1,451 in
/// ~1.3 s for a flat query; this stays under both.
const LIVE_OBJECTS_PER_SECOND: f64 = 400.0;
const MAIN: (u64, &str) = (68_500_001_001, "Main Warehouse");
const OUTLET: (u64, &str) = (68_500_001_002, "Outlet");
const MUTATIONS: [&str; 5] = [
    "productVariantsBulkUpdate",
    "inventorySetQuantities",
    "inventoryActivate",
    "stagedUploadsCreate",
    "bulkOperationRunMutation",
];

/// Counts the heap bytes live and their peak: the system allocator plus two atomics, so
/// the figures are exact at the cost of an atomic add per allocation.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

impl Counting {
    fn grew(by: usize) {
        let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`; `new_size` is the caller's to check.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Counting::grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Heap checkpoints: bytes live now, and the peak since the previous checkpoint (which
/// then restarts from what is live).
#[derive(Clone, Default)]
struct Checkpoints(Arc<Mutex<Vec<Checkpoint>>>);

struct Checkpoint {
    name: String,
    at: Instant,
    live: usize,
    peak: usize,
}

impl Checkpoints {
    fn mark(&self, name: &str) {
        let live = LIVE.load(Ordering::Relaxed);
        let peak = PEAK.swap(live, Ordering::Relaxed).max(live);
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.push(Checkpoint {
            name: name.to_owned(),
            at: Instant::now(),
            live,
            peak,
        });
    }

    fn take(&self) -> Vec<Checkpoint> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Marks a checkpoint at each of the engine's run-phase events (`phase = "..."`, debug
/// level, target `sheetsync::engine`).
struct PhaseLayer(Checkpoints);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PhaseLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Phase(Option<String>);
        impl tracing::field::Visit for Phase {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "phase" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut phase = Phase(None);
        event.record(&mut phase);
        if let Some(name) = phase.0 {
            self.0.mark(&name);
        }
    }
}

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let mut flags = Flags::default();
    for arg in std::env::args().skip(1) {
        if let Some(ms) = arg.strip_prefix("--latency-ms=") {
            let ms: u64 = ms
                .parse()
                .with_context(|| format!("not a number of milliseconds: {ms:?}"))?;
            flags.latency = Duration::from_millis(ms);
            continue;
        }
        if let Some(n) = arg.strip_prefix("--bulk-mutation-threshold=") {
            flags.bulk_threshold = Some(
                n.parse()
                    .with_context(|| format!("not a number of updates: {n:?}"))?,
            );
            continue;
        }
        if let Some(pace) = arg.strip_prefix("--bulk-pace=") {
            let (wait, rate) = pace
                .split_once(',')
                .with_context(|| format!("--bulk-pace=QUEUE_SECS,OBJECTS_PER_SEC, not {pace:?}"))?;
            let wait: f64 = wait
                .parse()
                .with_context(|| format!("not a number of seconds: {wait:?}"))?;
            let rate: f64 = rate
                .parse()
                .with_context(|| format!("not a number of objects a second: {rate:?}"))?;
            anyhow::ensure!(
                wait >= 0.0 && wait.is_finite() && rate > 0.0 && rate.is_finite(),
                "--bulk-pace needs a queue wait ≥ 0 and a rate > 0"
            );
            flags.bulk_pace = Some((Duration::from_secs_f64(wait), rate));
            continue;
        }
        match arg.as_str() {
            "--live-bulk-pace" => {
                flags.bulk_pace = Some((LIVE_QUEUE_WAIT, LIVE_OBJECTS_PER_SECOND));
            }
            "--dry-run-first" => flags.dry_run_first = true,
            "--sequential" => flags.sequential = true,
            "--no-bulk-mutations" => flags.bulk_threshold = Some(u64::MAX),
            _ => positional.push(
                arg.parse::<usize>()
                    .with_context(|| format!("not a number: {arg:?}"))?,
            ),
        }
    }
    let n = positional.first().copied().unwrap_or(10_000).max(1);
    let percent = positional.get(1).copied().unwrap_or(10).min(100);

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter};
    let checkpoints = Checkpoints::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(
                    tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                ),
        )
        .with(PhaseLayer(checkpoints.clone()).with_filter(
            filter::Targets::new().with_target("sheetsync::engine", tracing::Level::DEBUG),
        ))
        .init();
    // reqwest is built without a crypto provider; install ring as the binary does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(n, percent, flags, checkpoints))
}

#[derive(Debug, Default)]
struct Flags {
    dry_run_first: bool,
    latency: Duration,
    sequential: bool,
    bulk_threshold: Option<u64>,
    /// Bulk jobs' queue wait and objects per second; `None` finishes them at once.
    bulk_pace: Option<(Duration, f64)>,
}

/// Which rows differ from the store, and how.
struct Workload {
    store_seed: String,
    rows: Vec<Vec<Json>>,
    price_changes: usize,
    stock_changes: usize,
    /// What the price changes cost as direct calls: one `productVariantsBulkUpdate` per
    /// product, `round(10 + 0.2 × variants)` points each.
    direct_update_cost: f64,
}

async fn bench(
    n: usize,
    percent: usize,
    flags: Flags,
    checkpoints: Checkpoints,
) -> anyhow::Result<()> {
    let setup = Instant::now();
    let work = workload(n, percent);
    let shopify = ShopifyFake::from_seed_json(&work.store_seed, SANDBOX_TOKEN)?;
    let sheets = SheetsFake::new();
    sheets.add_tab("Inventory", work.rows);
    drop(work.store_seed);
    let sandbox = Sandbox::start(shopify, sheets, 0).await?;
    let dir = tempfile::tempdir()?;
    let path = sandbox.write_config(dir.path(), "")?;
    let config = Config::load(&path, &|_| None)?;
    let mut store_options = ClientOptions::from_sync(&config.sync);
    if flags.sequential {
        store_options.max_in_flight = 1;
    }
    if let Some(t) = flags.bulk_threshold {
        store_options.bulk_mutation_threshold = t;
    }
    let engine = Engine::connect_with_options(config, false, store_options).await?;
    if let Some((wait, rate)) = flags.bulk_pace {
        sandbox.shopify.set_bulk_pace(wait, rate);
    }
    if !flags.latency.is_zero() {
        sandbox.shopify.faults().set(FaultPlan {
            latency: flags.latency,
            ..FaultPlan::default()
        });
    }
    let setup_time = setup.elapsed();

    println!(
        "bench_sync: {n} variants in {} products at 2 locations, {percent}% of rows changed \
         ({} price, {} stock); sync --adopt sheet --yes (three_way); bucket {BUCKET:.0}, restore {RESTORE:.0}/s",
        n.div_ceil(VARIANTS_PER_PRODUCT),
        work.price_changes,
        work.stock_changes,
    );
    println!(
        "Shopify latency {} ms per request; mutations {}",
        flags.latency.as_millis(),
        if flags.sequential {
            "one at a time (--sequential)"
        } else {
            "concurrent (bounded by the bucket)"
        }
    );
    println!(
        "bulk jobs: {}",
        match flags.bulk_pace {
            Some((wait, rate)) => format!("paced: {} queued, then {rate:.0} objects/s", secs(wait)),
            None => "finished at once (the sandbox's default; not a live store's pace)".to_owned(),
        }
    );
    println!(
        "variant updates: {}",
        match engine.store.capabilities().bulk_mutation_threshold {
            u64::MAX => "direct calls only (--no-bulk-mutations)".to_owned(),
            t => format!("one bulk mutation from {t} updates on"),
        }
    );
    println!(
        "setup (seed, fakes, clients): {}, resident after setup (VmRSS): {}, heap live after setup: {}",
        secs(setup_time),
        proc_status("VmRSS"),
        mb(LIVE.load(Ordering::Relaxed)),
    );

    let mut dry_time = None;
    if flags.dry_run_first {
        sandbox.shopify.set_bucket(BUCKET, RESTORE);
        let t = Instant::now();
        let report = engine.sync(&options(true)).await?;
        dry_time = Some(t.elapsed());
        anyhow::ensure!(
            report.changes.len() == work.price_changes + work.stock_changes,
            "the dry run planned {} changes, expected {}",
            report.changes.len(),
            work.price_changes + work.stock_changes
        );
    }
    let skip = sandbox.shopify.requests().len();

    // The real run, from a full bucket.
    sandbox.shopify.set_bucket(BUCKET, RESTORE);
    let done = Arc::new(AtomicBool::new(false));
    checkpoints.take();
    checkpoints.mark("setup");
    let started = Instant::now();
    let watcher = tokio::spawn(first_mutation(sandbox.shopify.clone(), skip, done.clone()));
    let report = engine.sync(&options(false)).await?;
    let total = started.elapsed();
    checkpoints.mark("returned");
    done.store(true, Ordering::Relaxed);
    let first_write = watcher.await?.map(|at| at.duration_since(started));

    let summary = &report.summary;
    anyhow::ensure!(
        summary.applied == work.price_changes + work.stock_changes && summary.failed == 0,
        "unexpected outcome: {summary:?}, refused {:?}",
        report.refused
    );

    let log: Vec<RequestLog> = sandbox.shopify.requests().split_off(skip);
    let table = CostTable::from_log(&log);
    print_results(&table, total, first_write, dry_time, &report);
    let heap = print_heap(&checkpoints.take(), started);

    // Floor by direct calls: reads and stock as spent, variant updates as direct calls.
    let spent = total_of(&table);
    let direct_points = spent.actual
        - table
            .writes
            .get("BulkRunMutation")
            .map_or(0.0, |r| r.actual)
        - table
            .writes
            .get("StagedUploadsCreate")
            .map_or(0.0, |r| r.actual)
        - table
            .writes
            .get("VariantsBulkUpdate")
            .map_or(0.0, |r| r.actual)
        + work.direct_update_cost;
    let path = match &report.bulk_mutation {
        Some(job) => format!("bulk mutation ({} lines)", job.lines),
        None => "direct calls".to_owned(),
    };
    let path = match flags.bulk_pace {
        Some((wait, rate)) => format!("{path}; bulk jobs paced {} + {rate:.0}/s", secs(wait)),
        None => path,
    };
    println!();
    println!(
        "| variants | variant updates | wall | floor by direct calls | requests | cost | throttled | heap at setup | run's peak above it | VmHWM |"
    );
    println!(
        "| {n} | {path} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
        secs(total),
        secs(Duration::from_secs_f64(direct_points / RESTORE)),
        spent.requests,
        spent.actual,
        spent.throttled,
        mb(heap.baseline),
        mb(heap.above),
        proc_status("VmHWM"),
    );
    Ok(())
}

/// The heap at the start of the real run, and the run's peak above it.
struct Heap {
    baseline: usize,
    above: usize,
}

/// One line per phase: when it ended, the heap live then, and its peak.
fn print_heap(marks: &[Checkpoint], started: Instant) -> Heap {
    let baseline = marks.first().map_or(0, |m| m.live);
    println!();
    println!(
        "heap (counting allocator; the fakes' data included, they serve in-process): {} live after setup",
        mb(baseline)
    );
    println!(
        "{:<12} {:>9} {:>12} {:>14} {:>16}",
        "phase ended", "at", "live", "phase peak", "peak − setup"
    );
    for m in marks.iter().skip(1) {
        println!(
            "{:<12} {:>9} {:>12} {:>14} {:>16}",
            m.name,
            secs(m.at.saturating_duration_since(started)),
            mb(m.live),
            mb(m.peak),
            mb(m.peak.saturating_sub(baseline)),
        );
    }
    let above = marks
        .iter()
        .skip(1)
        .map(|m| m.peak)
        .max()
        .unwrap_or(0)
        .saturating_sub(baseline);
    println!("run's peak above setup: {}", mb(above));
    Heap { baseline, above }
}

fn options(dry_run: bool) -> RunOptions {
    let now = chrono::Utc::now();
    RunOptions {
        dry_run,
        only: None,
        yes: true,
        adopt: Some(Adopt::Sheet),
        run_id: format!("bench-{}", now.format("%Y%m%dT%H%M%S%.3fZ")),
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ..RunOptions::default()
    }
}

/// When the fake logged its first mutation after `skip` requests (20 ms resolution).
/// Reads only the requests it has not seen, so polling adds nothing to the memory measured.
async fn first_mutation(fake: ShopifyFake, skip: usize, done: Arc<AtomicBool>) -> Option<Instant> {
    let mut seen = skip;
    while !done.load(Ordering::Relaxed) {
        let new = fake.requests_since(seen);
        if new.iter().any(is_mutation) {
            return Some(Instant::now());
        }
        seen += new.len();
        drop(new);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn is_mutation(r: &RequestLog) -> bool {
    r.root_fields
        .iter()
        .any(|f| MUTATIONS.contains(&f.as_str()))
}

/// Builds the store seed and the sheet: rows agree with the store except the changed ones.
fn workload(n: usize, percent: usize) -> Workload {
    let changed = n * percent / 100;
    // A fixed seed: the same rows change on every run of the same size.
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut change: Vec<Option<bool>> = vec![None; n]; // Some(true) = price, Some(false) = stock
    for (k, &i) in order.iter().take(changed).enumerate() {
        change[i] = Some(k % 2 == 0);
    }

    let mut products = Vec::with_capacity(n.div_ceil(VARIANTS_PER_PRODUCT));
    let mut rows = Vec::with_capacity(n + 1);
    rows.push(
        [
            "SKU",
            "Price",
            "Compare-at price",
            "Cost",
            "Barcode",
            "Stock",
            "Outlet stock",
        ]
        .map(|h| json!(h))
        .to_vec(),
    );
    for p in 0..n.div_ceil(VARIANTS_PER_PRODUCT) {
        let mut variants = Vec::with_capacity(VARIANTS_PER_PRODUCT);
        let first = p * VARIANTS_PER_PRODUCT;
        let last = (first + VARIANTS_PER_PRODUCT).min(n);
        for (i, &differs) in change.iter().enumerate().take(last).skip(first) {
            let sku = format!("BENCH-{i:06}");
            let price = Decimal::new(1000 + (i % 90) as i64 * 50, 2);
            let compare_at = (i % 3 == 0).then(|| price + Decimal::new(500, 2));
            let cost = Decimal::new(300 + (i % 40) as i64 * 10, 2);
            let barcode = (i % 2 == 0).then(|| format!("{:013}", 840_000_000_000u64 + i as u64));
            let (main, outlet) = ((i % 50) as i64, (i % 7) as i64);
            variants.push(json!({
                "id": 51_000_000_000_000u64 + i as u64,
                "title": format!("Size {}", i % VARIANTS_PER_PRODUCT),
                "sku": sku,
                "price": price.to_string(),
                "compareAtPrice": compare_at.map(|d| d.to_string()),
                "barcode": barcode,
                "inventoryItemId": 53_000_000_000_000u64 + i as u64,
                "unitCost": cost.to_string(),
                "levels": { MAIN.0.to_string(): main, OUTLET.0.to_string(): outlet },
            }));
            let sheet_price = match differs {
                Some(true) => price + Decimal::ONE,
                _ => price,
            };
            let sheet_main = match differs {
                Some(false) => main + 3,
                _ => main,
            };
            rows.push(vec![
                json!(sku),
                number(sheet_price),
                compare_at.map_or(json!(""), number),
                number(cost),
                barcode.map_or(json!(""), |b| json!(b)),
                json!(sheet_main),
                json!(outlet),
            ]);
        }
        products.push(json!({
            "id": 9_100_000_000_000u64 + p as u64,
            "title": format!("Bench product {p}"),
            "variants": variants,
        }));
    }
    let seed = json!({
        "shop": { "name": "Bench", "domain": "bench.myshopify.com", "currency": "USD" },
        "locations": [
            { "id": MAIN.0, "name": MAIN.1 },
            { "id": OUTLET.0, "name": OUTLET.1 },
        ],
        "products": products,
    });
    let price_changes = change.iter().filter(|c| **c == Some(true)).count();
    let direct_update_cost = change
        .chunks(VARIANTS_PER_PRODUCT)
        .map(|p| p.iter().filter(|c| **c == Some(true)).count())
        .filter(|&k| k > 0)
        .map(|k| (10.0 + 0.2 * k as f64).round())
        .sum();
    Workload {
        store_seed: seed.to_string(),
        rows,
        price_changes,
        stock_changes: changed - price_changes,
        direct_update_cost,
    }
}

/// A money cell as a sheet holds it: a number (19.9, not "19.90").
fn number(d: Decimal) -> Json {
    d.to_string()
        .parse::<f64>()
        .map_or_else(|_| json!(d.to_string()), |f| json!(f))
}

#[derive(Default)]
struct Row {
    requests: usize,
    throttled: usize,
    requested: f64,
    actual: f64,
}

impl Row {
    fn add(&mut self, other: &Row) {
        self.requests += other.requests;
        self.throttled += other.throttled;
        self.requested += other.requested;
        self.actual += other.actual;
    }
}

struct CostTable {
    reads: BTreeMap<String, Row>,
    writes: BTreeMap<String, Row>,
}

impl CostTable {
    fn from_log(log: &[RequestLog]) -> CostTable {
        let mut table = CostTable {
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
        };
        for r in log {
            let name = r
                .operation_name
                .clone()
                .unwrap_or_else(|| r.root_fields.join("+"));
            let side = if is_mutation(r) {
                &mut table.writes
            } else {
                &mut table.reads
            };
            let row = side.entry(name).or_default();
            row.requests += 1;
            row.throttled += usize::from(r.error_codes.iter().any(|c| c == "THROTTLED"));
            row.requested += r.requested_cost.unwrap_or(0.0);
            row.actual += r.actual_cost.unwrap_or(0.0);
        }
        table
    }
}

fn total_of(table: &CostTable) -> Row {
    let mut t = total(&table.reads);
    t.add(&total(&table.writes));
    t
}

fn total(rows: &BTreeMap<String, Row>) -> Row {
    let mut t = Row::default();
    for r in rows.values() {
        t.add(r);
    }
    t
}

fn print_results(
    table: &CostTable,
    wall: Duration,
    first_write: Option<Duration>,
    dry: Option<Duration>,
    report: &sheetsync::report::Report,
) {
    let reads = total(&table.reads);
    let writes = total(&table.writes);
    println!(
        "rows read {}, changes applied {}, failed {}",
        report.rows_read, report.summary.applied, report.summary.failed
    );
    println!();
    println!(
        "{:<22} {:>8} {:>9} {:>11} {:>11}",
        "operation", "requests", "throttled", "requested", "actual"
    );
    let line = |name: &str, r: &Row| {
        println!(
            "{:<22} {:>8} {:>9} {:>11.0} {:>11.0}",
            name, r.requests, r.throttled, r.requested, r.actual
        );
    };
    for (name, r) in table.reads.iter().chain(&table.writes) {
        line(name, r);
    }
    line("total", &{
        let mut t = Row::default();
        t.add(&reads);
        t.add(&writes);
        t
    });

    // The bucket starts full, so the first BUCKET points are free of waiting.
    let min = |points: f64| Duration::from_secs_f64(points.max(0.0) / RESTORE);
    let (read_wall, apply_wall) = match first_write {
        Some(at) => (Some(at), Some(wall.saturating_sub(at))),
        None => (None, None),
    };
    println!();
    println!(
        "{:<8} {:>10} {:>15} {:>20}",
        "phase", "wall", "cost/restore", "(cost−bucket)/restore"
    );
    let phase = |name: &str, wall: Option<Duration>, points: f64| {
        println!(
            "{:<8} {:>10} {:>15} {:>20}",
            name,
            wall.map_or_else(|| "-".to_owned(), secs),
            secs(min(points)),
            secs(min(points - BUCKET)),
        );
    };
    phase("read", read_wall, reads.actual);
    phase("apply", apply_wall, writes.actual);
    phase("total", Some(wall), reads.actual + writes.actual);
    if let Some(apply) = apply_wall.filter(|w| !w.is_zero()) {
        // Steady state starts once the free bucket is spent: from then on the store
        // restores RESTORE points a second, and the writes can spend no more.
        let rate = (writes.actual - BUCKET).max(0.0) / apply.as_secs_f64();
        println!(
            "apply spend past the bucket: {rate:.1} points/s = {:.0}% of the restore rate",
            100.0 * rate / RESTORE
        );
    }
    if let Some(d) = dry {
        println!("dry run (reads + plan, from a full bucket): {}", secs(d));
    }
    println!(
        "peak memory (VmHWM, whole process incl. both fakes): {}",
        proc_status("VmHWM")
    );
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A line of /proc/self/status (`VmHWM`, `VmRSS`), e.g. "156028 kB".
fn proc_status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}
