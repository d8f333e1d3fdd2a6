//! Benchmark of a fleet (SPEC §9): W `fleet run` workers (the real binary) and P watch
//! pairs on one machine, against the sandbox and a PostgreSQL you point it at.
//!
//! `SHEETSYNC_STATE_URL=postgres://… cargo run --example bench_fleet -- [PAIRS] [WORKERS]
//! [KILLS] [--lease-ttl=6s]` (defaults 300, 3, 5). The database must be empty or
//! migrated with no pairs (the benchmark migrates it and adds the pairs). The server's
//! default `max_connections = 100` is enough: each worker opens at most its pool's
//! connections (`SHEETSYNC_STATE_POOL_SIZE`, default 8), however many pairs it owns.
//! `SHEETSYNC_BIN` overrides the binary (default: the `sheetsync` next to this example's
//! directory).
//!
//! The pairs are P tabs of one sandbox spreadsheet, all over one Shopify fake (each tab
//! is its own (store, spreadsheet, tab) scope, hence its own lease); the workers watch
//! them every 10 s. Measured, printed as a table row for docs/performance.md:
//! - claim: the workers start with every pair paused (their memory sampled then), then
//!   all pairs are resumed: time until every pair has a live owner;
//! - failover: KILLS times, kill -9 of the worker owning the most pairs, time until every
//!   pair has a live owner again (median, max); a replacement worker joins after each;
//! - renew cost: transactions committed per second on the database by the idle fleet
//!   (`pg_stat_database.xact_commit`), and the time of one worker's batched renewal
//!   statement run here (median of 50);
//! - memory per owned pair: (RSS with its pairs running − RSS with none) / pairs owned,
//!   averaged over the workers;
//! - connections: the most sessions each worker had open at once (`pg_stat_activity`,
//!   told apart by the `application_name` each worker's URL carries), sampled every
//!   100 ms from start to end, and the most of the whole fleet;
//! - rebalance: after each kill a replacement joins; time until it owns its share (less
//!   two), median and max;
//! - drain: at the end every worker gets SIGTERM at once (the last replacement still in
//!   its pairs' first full syncs): time until each exits (max), its exit code, and time
//!   until no lease is held.
//!
//! `BENCH_LOG_DIR=DIR` keeps each worker's log (`info`) in `DIR/<worker>.log`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sheetsync::fleet::Pair;
use sheetsync_sandbox::Sandbox;
use tokio_postgres::{Client, NoTls};

type BoxError = Box<dyn std::error::Error>;

/// Tells the connection sampler to stop.
static SAMPLING_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut nums = Vec::new();
    let mut ttl = Duration::from_secs(6);
    for a in std::env::args().skip(1) {
        if let Some(v) = a.strip_prefix("--lease-ttl=") {
            ttl = humantime::parse_duration(v)?;
        } else {
            nums.push(a.parse::<usize>()?);
        }
    }
    let pairs = nums.first().copied().unwrap_or(300);
    let workers = nums.get(1).copied().unwrap_or(3);
    let kills = nums.get(2).copied().unwrap_or(5);
    let url = std::env::var("SHEETSYNC_STATE_URL")
        .map_err(|_| "set SHEETSYNC_STATE_URL to an empty PostgreSQL database")?;
    let bin = match std::env::var_os("SHEETSYNC_BIN") {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .ok_or("no binary directory")?
            .join("sheetsync"),
    };
    sheetsync::state::postgres::migrate_schema(&url).await?;
    let db = connect(&url).await?;

    // The pairs: P tabs of one spreadsheet over one store, inserted paused.
    let sandbox = Sandbox::demo(0).await?;
    sandbox.fix_demo_sheet();
    let dir = tempfile::tempdir()?;
    let config = std::fs::read_to_string(sandbox.write_config(dir.path(), "")?)?
        .replace("state_dir = \"state\"\n", "")
        .replace(
            "credentials = \"sandbox-service-account.json\"",
            &format!(
                "credentials = \"{}\"",
                dir.path().join("sandbox-service-account.json").display()
            ),
        );
    let rows = sandbox.sheets.rows("Inventory");
    for i in 0..pairs {
        let tab = format!("T{i:04}");
        sandbox.sheets.add_tab(&tab, rows.clone());
        let text = format!(
            "{}\n[fleet]\nmode = \"watch\"\ninterval = \"10s\"\n",
            config.replace("tab = \"Inventory\"", &format!("tab = \"{tab}\""))
        );
        insert_pair(&db, &format!("pair-{i:04}"), &text).await?;
    }
    eprintln!("{pairs} pairs inserted (paused)");

    // Sessions per worker, sampled in the background until the end.
    let sampler = {
        let db = connect(&url).await?;
        tokio::spawn(async move {
            let mut most: BTreeMap<String, i64> = BTreeMap::new();
            let mut fleet_most = 0i64;
            loop {
                if let Ok(rows) = db
                    .query(
                        "SELECT application_name, count(*) FROM pg_stat_activity
                         WHERE application_name LIKE 'bench-%' GROUP BY 1",
                        &[],
                    )
                    .await
                {
                    let mut total = 0;
                    for r in rows {
                        let (id, n): (String, i64) = (r.get(0), r.get(1));
                        total += n;
                        let m = most.entry(id).or_insert(0);
                        *m = (*m).max(n);
                    }
                    fleet_most = fleet_most.max(total);
                }
                if SAMPLING_DONE.load(std::sync::atomic::Ordering::SeqCst) {
                    return (most, fleet_most);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let ttl_arg = format!("{}ms", ttl.as_millis());
    let sep = if url.contains('?') { '&' } else { '?' };
    let log_dir = std::env::var_os("BENCH_LOG_DIR").map(PathBuf::from);
    let spawn = |id: &str| -> std::io::Result<Child> {
        let (level, stderr) = match &log_dir {
            Some(d) => (
                "info",
                Stdio::from(std::fs::File::create(d.join(format!("{id}.log")))?),
            ),
            None => ("warn", Stdio::null()),
        };
        Command::new(&bin)
            .args(["fleet", "run", "--replica-id", id, "--lease-ttl", &ttl_arg])
            .current_dir(dir.path())
            .env(
                "SHEETSYNC_STATE_URL",
                format!("{url}{sep}application_name={id}"),
            )
            .env("SHEETSYNC_LOG", level)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
    };
    let mut running: BTreeMap<String, Child> = BTreeMap::new();
    for w in 0..workers {
        let id = format!("bench-w{w}");
        running.insert(id.clone(), spawn(&id)?);
    }
    // Idle memory: every worker heartbeating, no pair to run.
    wait(Duration::from_secs(60), "workers registered", || async {
        Ok(count(&db, "SELECT count(*) FROM sheetsync.workers").await? == workers as i64)
    })
    .await?;
    tokio::time::sleep(ttl).await;
    let idle: BTreeMap<String, u64> = running
        .iter()
        .map(|(id, c)| (id.clone(), rss_kib(c.id())))
        .collect();

    // Claim time: resume every pair at once.
    let t0 = Instant::now();
    db.execute("UPDATE sheetsync.pairs SET enabled = true", &[])
        .await?;
    wait(Duration::from_secs(300), "all pairs owned", || async {
        Ok(owned(&db).await? == pairs as i64)
    })
    .await?;
    let claim = t0.elapsed();
    eprintln!("all {pairs} pairs owned after {claim:?}");

    // Memory once the first (full) ticks have run: three watch intervals.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let per_worker = owners(&db).await?;
    let mut deltas = Vec::new();
    for (id, c) in &running {
        let n = per_worker.get(id).copied().unwrap_or(0);
        let now = rss_kib(c.id());
        if n > 0 {
            deltas.push((now.saturating_sub(idle[id])) as f64 / n as f64);
        }
    }
    let kib_per_pair = deltas.iter().sum::<f64>() / deltas.len().max(1) as f64;
    eprintln!("owners {per_worker:?}; RSS per owned pair {kib_per_pair:.0} KiB");

    // Renew cost: what the idle fleet commits per second, and one batched renewal.
    let before = xacts(&db).await?;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let per_sec = (xacts(&db).await? - before) as f64 / t.elapsed().as_secs_f64();
    let biggest = per_worker
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(id, n)| (id.clone(), *n))
        .ok_or("no owner")?;
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        db.query(
            "UPDATE sheetsync.leases SET expires_at = now() + make_interval(secs => $2)
             WHERE holder = $1 AND expires_at > now() RETURNING scope_id, epoch",
            &[&biggest.0, &ttl.as_secs_f64()],
        )
        .await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let renew_ms = times[times.len() / 2];
    eprintln!(
        "database: {per_sec:.1} transactions/s for the fleet; one renewal of {} leases: {renew_ms:.2} ms",
        biggest.1
    );

    // Failover: kill -9 the busiest worker, time until every pair is owned again.
    let mut failovers = Vec::new();
    let mut rebalances = Vec::new();
    for k in 0..kills {
        let per_worker = owners(&db).await?;
        let (victim, n) = per_worker
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(id, n)| (id.clone(), *n))
            .ok_or("no owner")?;
        let mut child = running.remove(&victim).ok_or("victim not running")?;
        let t = Instant::now();
        child.kill()?;
        let _ = child.wait();
        wait(Duration::from_secs(120), "failover", || async {
            Ok(owned_excluding(&db, &victim).await? == pairs as i64)
        })
        .await?;
        let took = t.elapsed();
        eprintln!("kill {k}: {victim} held {n}; all owned again after {took:?}");
        failovers.push(took.as_secs_f64());
        let id = format!("bench-r{k}");
        running.insert(id.clone(), spawn(&id)?);
        // Let the newcomer take its share before the next kill.
        let share = pairs.div_ceil(workers) as i64;
        // Shed pairs finish their batch in flight first: slow on a loaded machine.
        let t = Instant::now();
        let rebalanced = wait(Duration::from_secs(300), "rebalanced", || async {
            Ok(owners(&db).await?.get(&id).copied().unwrap_or(0) >= share - 2)
        })
        .await;
        match rebalanced {
            Ok(()) => {
                eprintln!("{id} took its share after {:?}", t.elapsed());
                rebalances.push(t.elapsed().as_secs_f64());
            }
            Err(e) => eprintln!("{e}; going on"),
        }
    }
    failovers.sort_by(f64::total_cmp);
    let median = failovers.get(failovers.len() / 2).copied().unwrap_or(0.0);
    let max = failovers.last().copied().unwrap_or(0.0);

    rebalances.sort_by(f64::total_cmp);
    let rebalance_median = rebalances.get(rebalances.len() / 2).copied().unwrap_or(0.0);
    let rebalance_max = rebalances.last().copied().unwrap_or(0.0);

    // Drain: SIGTERM to every worker at once; each one's time to exit, and until no
    // lease is held any more.
    let held = owners(&db).await?;
    let t = Instant::now();
    for c in running.values() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    let mut drains: Vec<(String, f64, Option<i32>)> = Vec::new();
    let mut left: Vec<(String, Child)> = running.into_iter().collect();
    while !left.is_empty() {
        let mut still = Vec::new();
        for (id, mut c) in left {
            match c.try_wait()? {
                Some(status) => drains.push((id, t.elapsed().as_secs_f64(), status.code())),
                None => still.push((id, c)),
            }
        }
        left = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = t.elapsed().as_secs_f64();
    let still_held = owned(&db).await?;
    for (id, secs, code) in &drains {
        eprintln!(
            "drain: {id} (held {}) exited {code:?} after {secs:.1} s",
            held.get(id).copied().unwrap_or(0)
        );
    }
    eprintln!("all workers gone after {released:.1} s; leases still held: {still_held}");
    let drain_max = drains.iter().map(|d| d.1).fold(0.0, f64::max);
    let codes: Vec<String> = drains
        .iter()
        .map(|d| d.2.map_or("signal".to_owned(), |c| c.to_string()))
        .collect();
    SAMPLING_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
    let (most, fleet_most) = sampler.await?;
    let worker_most = most.values().copied().max().unwrap_or(0);
    eprintln!("most sessions at once per worker: {most:?}; whole fleet: {fleet_most}");
    println!(
        "| {pairs} pairs, {workers} workers, TTL {} | claim {:.1} s | failover median {median:.1} s, max {max:.1} s ({kills} kills) | {per_sec:.1} tx/s on the database; renewal of {} leases {renew_ms:.2} ms | {kib_per_pair:.0} KiB RSS per owned pair | at most {worker_most} connections per worker, {fleet_most} for the fleet | rebalance median {rebalance_median:.1} s, max {rebalance_max:.1} s | drain on SIGTERM max {drain_max:.1} s (exit codes {}), {still_held} leases left held |",
        humantime::format_duration(ttl),
        claim.as_secs_f64(),
        biggest.1,
        codes.join(", "),
    );
    Ok(())
}

async fn connect(url: &str) -> Result<Client, BoxError> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn insert_pair(db: &Client, name: &str, text: &str) -> Result<(), BoxError> {
    let pair = Pair::parse(&PathBuf::from(format!("{name}.toml")), text.to_owned())?;
    let sha: String = pair.sha256().iter().map(|b| format!("{b:02x}")).collect();
    let s = &pair.scope;
    db.execute(
        "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        &[&s.shop, &s.spreadsheet_id, &s.tab],
    )
    .await?;
    db.execute(
        "INSERT INTO sheetsync.pairs (name, scope_id, config_text, config_sha256, mode, enabled)
         SELECT $1, id, $2, $3, $4, false FROM sheetsync.scopes
         WHERE shop = $5 AND spreadsheet_id = $6 AND tab = $7",
        &[
            &name,
            &pair.text,
            &sha,
            &pair.mode.name(),
            &s.shop,
            &s.spreadsheet_id,
            &s.tab,
        ],
    )
    .await?;
    Ok(())
}

async fn count(db: &Client, sql: &str) -> Result<i64, BoxError> {
    Ok(db.query_one(sql, &[]).await?.get(0))
}

async fn owned(db: &Client) -> Result<i64, BoxError> {
    count(
        db,
        "SELECT count(*) FROM sheetsync.leases WHERE holder IS NOT NULL AND expires_at > now()",
    )
    .await
}

async fn owned_excluding(db: &Client, gone: &str) -> Result<i64, BoxError> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM sheetsync.leases
             WHERE holder IS NOT NULL AND holder <> $1 AND expires_at > now()",
            &[&gone],
        )
        .await?
        .get(0))
}

async fn owners(db: &Client) -> Result<BTreeMap<String, i64>, BoxError> {
    Ok(db
        .query(
            "SELECT holder, count(*) FROM sheetsync.leases
             WHERE holder IS NOT NULL AND expires_at > now() GROUP BY holder",
            &[],
        )
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

async fn xacts(db: &Client) -> Result<i64, BoxError> {
    count(
        db,
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .await
}

/// Polls `ready` every 20 ms until it holds, or fails after `bound`.
async fn wait<F, Fut>(bound: Duration, what: &str, ready: F) -> Result<(), BoxError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, BoxError>>,
{
    let t = Instant::now();
    while !ready().await? {
        if t.elapsed() > bound {
            return Err(format!("not within {bound:?}: {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// VmRSS of a process, KiB; 0 when unreadable.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
