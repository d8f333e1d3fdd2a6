//! `fleet run` (SPEC §9) against a real PostgreSQL and the sandbox: workers are the real
//! binary, each pair its own sandbox (store and spreadsheet), pairs inserted into
//! `sheetsync.pairs` the way `fleet apply` leaves them. Balance as workers join, failover
//! after kill -9 within the TTL plus a few seconds, no write under an older epoch through
//! kill -9 and SIGSTOP/SIGCONT, graceful handover on SIGTERM, a schedule's fire time run
//! once with two workers, a manual `sync` on a worker's pair exiting 2 naming it, and a
//! worker with many pairs on a role allowed few connections (the pool bounds them).
//! Every wait polls the database or the fakes' logs with a failure bound.

use crate::common;
use crate::pg;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sheetsync::fleet::Pair;
use sheetsync_sandbox::Sandbox;
use tokio::time::Instant;

const TTL: &str = "2s";

struct Fleet {
    url: String,
    dir: tempfile::TempDir,
    sandboxes: Vec<Sandbox>,
}

impl Fleet {
    /// `n` pairs, each its own sandbox; `fleet` is each pair file's `[fleet]` section.
    async fn new(n: usize, fleet: &str) -> Fleet {
        Fleet::with(n, fleet, false).await
    }

    /// [`Fleet::new`]; with `adopt`, each pair's first `sync --adopt sheet` is run (by
    /// hand, as an operator would) so that later edits are written, not conflicts.
    async fn with(n: usize, fleet: &str, adopt: bool) -> Fleet {
        let common::Backend::Postgres(url) = common::Backend::postgres().await else {
            unreachable!()
        };
        let dir = tempfile::tempdir().expect("tmp");
        let mut sandboxes = Vec::new();
        for i in 0..n {
            let sandbox = Sandbox::demo(0).await.expect("sandbox");
            sandbox.fix_demo_sheet();
            sandbox
                .sheets
                .set_spreadsheet_id(&format!("fleet-sheet-{i}"));
            let keys = dir.path().join(format!("keys-{i}"));
            let config = sandbox.write_config(&keys, "").expect("config");
            // A pair file: no state_dir (the fleet's state is shared), paths absolute.
            let text = std::fs::read_to_string(&config)
                .expect("config")
                .replace("state_dir = \"state\"\n", "")
                .replace(
                    "credentials = \"sandbox-service-account.json\"",
                    &format!(
                        "credentials = \"{}\"",
                        keys.join("sandbox-service-account.json").display()
                    ),
                );
            let text = format!("{text}\n{fleet}\n");
            insert_pair(&url, &format!("pair-{i}"), &text).await;
            if adopt {
                let file = dir.path().join(format!("pair-{i}.toml"));
                std::fs::write(&file, &text).expect("pair file");
                let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
                    .arg("--config")
                    .arg(&file)
                    .args(["sync", "--adopt", "sheet"])
                    .current_dir(dir.path())
                    .env("SHEETSYNC_STATE_URL", &url)
                    .env_remove("SHEETSYNC_LOG")
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .expect("sync --adopt");
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            sandboxes.push(sandbox);
        }
        Fleet {
            url,
            dir,
            sandboxes,
        }
    }

    fn worker(&self, id: &str) -> tokio::process::Child {
        self.worker_on(id, &self.url, &[])
    }

    /// [`Fleet::worker`] on another URL of the same database (another role), with more
    /// environment.
    fn worker_on(&self, id: &str, url: &str, env: &[(&str, &str)]) -> tokio::process::Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).expect("log");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .args(["fleet", "run", "--replica-id", id, "--lease-ttl", TTL])
            .current_dir(self.dir.path())
            .env("SHEETSYNC_STATE_URL", url)
            .envs(env.iter().copied())
            .env("SHEETSYNC_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn fleet run")
    }

    fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    /// Live owners: worker id → pairs it holds an unexpired lease on.
    async fn owners(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for h in pg::query_strings(
            &self.url,
            "SELECT l.holder FROM sheetsync.leases l JOIN sheetsync.pairs p USING (scope_id)
             WHERE l.holder IS NOT NULL AND l.expires_at > now()",
        )
        .await
        .into_iter()
        .flatten()
        {
            *out.entry(h).or_insert(0) += 1;
        }
        out
    }

    /// Polls until `ok(owners)` holds; returns how long it took. Panics after `bound`
    /// with the workers' logs.
    async fn wait_owners(
        &self,
        bound: Duration,
        what: &str,
        ok: impl Fn(&BTreeMap<String, usize>) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let owners = self.owners().await;
            if ok(&owners) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < bound,
                "not within {bound:?}: {what}; owners now {owners:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Per pair, from the store's request log: the (holder, epoch) of each request in
    /// order. Checks that epochs never go backwards on writes and that an epoch has one
    /// holder; returns the number of writes seen.
    fn check_no_two_writers(&self) -> usize {
        let mut writes = 0;
        for (i, sandbox) in self.sandboxes.iter().enumerate() {
            let mut holder_of: BTreeMap<u64, String> = BTreeMap::new();
            let mut last_write_epoch = 0u64;
            // The hand-run adoption came first, under its own lease.
            let worker_requests = sandbox.shopify.requests().into_iter().filter(|r| {
                !r.user_agent
                    .as_deref()
                    .unwrap_or_default()
                    .contains(" worker/sync.")
            });
            for r in worker_requests {
                let ua = r.user_agent.clone().unwrap_or_default();
                let Some((holder, epoch)) = parse_ua(&ua) else {
                    panic!("pair-{i}: a store request without worker and epoch: {ua:?}");
                };
                let known = holder_of.entry(epoch).or_insert_with(|| holder.clone());
                assert_eq!(*known, holder, "pair-{i}: epoch {epoch} has two holders");
                if is_write(&r) {
                    writes += 1;
                    assert!(
                        epoch >= last_write_epoch,
                        "pair-{i}: a write under epoch {epoch} after one under {last_write_epoch}"
                    );
                    last_write_epoch = epoch;
                }
            }
        }
        writes
    }
}

fn is_write(r: &sheetsync_sandbox::shopify::RequestLog) -> bool {
    r.idempotency_key.is_some()
        || r.root_fields
            .iter()
            .any(|f| f.contains("Update") || f.contains("Set") || f.contains("Create"))
}

/// `sheetsync/<v> worker/<holder> epoch/<n>` → (holder, n).
fn parse_ua(ua: &str) -> Option<(String, u64)> {
    let mut parts = ua.split(' ');
    let _version = parts.next()?;
    let holder = parts.next()?.strip_prefix("worker/")?.to_owned();
    let epoch = parts.next()?.strip_prefix("epoch/")?.parse().ok()?;
    Some((holder, epoch))
}

/// What `fleet apply` leaves for one pair file.
async fn insert_pair(url: &str, name: &str, text: &str) {
    let pair = Pair::parse(&PathBuf::from(format!("{name}.toml")), text.to_owned())
        .unwrap_or_else(|e| panic!("pair file: {e}"));
    let sha: String = pair.sha256().iter().map(|b| format!("{b:02x}")).collect();
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    let s = &pair.scope;
    client
        .execute(
            "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&s.shop, &s.spreadsheet_id, &s.tab],
        )
        .await
        .expect("scope");
    client
        .execute(
            "INSERT INTO sheetsync.pairs (name, scope_id, config_text, config_sha256, mode)
             SELECT $1, id, $2, $3, $4 FROM sheetsync.scopes
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
        .await
        .expect("pair");
    drop(client);
    let _ = task.await;
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn balanced(owners: &BTreeMap<String, usize>, workers: &[&str], pairs: usize) -> bool {
    let share = pairs.div_ceil(workers.len());
    owners.values().sum::<usize>() == pairs
        && workers
            .iter()
            .all(|w| owners.get(*w).is_some_and(|n| n.abs_diff(share) <= 1))
}

const WATCH: &str = "[fleet]\nmode = \"watch\"\ninterval = \"1s\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn workers_balance_fail_over_and_never_write_under_an_older_epoch() {
    let fleet = Fleet::with(6, WATCH, true).await;
    let mut one = fleet.worker("w1");
    fleet
        .wait_owners(Duration::from_secs(30), "w1 owns all six pairs", |o| {
            o.get("w1") == Some(&6)
        })
        .await;

    // Joiners take their share within 2 × TTL (plus slack for a loaded machine), and no
    // pair is left unowned for longer than a TTL meanwhile (an unowned pair is claimed at
    // the next poll).
    let mut two = fleet.worker("w2");
    fleet
        .wait_owners(Duration::from_secs(15), "3/3 with two workers", |o| {
            balanced(o, &["w1", "w2"], 6)
        })
        .await;
    let mut three = fleet.worker("w3");
    fleet
        .wait_owners(Duration::from_secs(15), "2/2/2 with three workers", |o| {
            balanced(o, &["w1", "w2", "w3"], 6)
        })
        .await;

    // kill -9: its pairs are owned again within TTL + 5 s, by the survivors.
    three.start_kill().expect("kill -9");
    let _ = three.wait().await;
    let took = fleet
        .wait_owners(Duration::from_secs(7), "w3's pairs re-owned", |o| {
            !o.contains_key("w3") && o.values().sum::<usize>() == 6
        })
        .await;
    eprintln!("failover after kill -9 took {took:?}");

    // SIGSTOP w2 past its TTL: w1 takes everything; after SIGCONT w2 finds its leases
    // lost, drops them, and claims its share again under new epochs.
    signal(&two, "-STOP");
    fleet
        .wait_owners(
            Duration::from_secs(15),
            "w1 owns all while w2 is stopped",
            |o| o.get("w1") == Some(&6),
        )
        .await;
    signal(&two, "-CONT");
    fleet
        .wait_owners(Duration::from_secs(15), "3/3 again after SIGCONT", |o| {
            balanced(o, &["w1", "w2"], 6)
        })
        .await;
    assert!(
        fleet.log("w2").contains("lease lost"),
        "w2 noticed its lost leases:\n{}",
        fleet.log("w2")
    );

    // Edits after all that are synced by the current owners, from the shared state.
    let before: Vec<usize> = fleet
        .sandboxes
        .iter()
        .map(|s| s.shopify.requests().len())
        .collect();
    for s in &fleet.sandboxes {
        assert!(s.sheets.set_cell("Inventory", "G18", serde_json::json!(36)));
    }
    let start = Instant::now();
    loop {
        let done = fleet
            .sandboxes
            .iter()
            .zip(&before)
            .all(|(s, n)| s.shopify.requests_since(*n).iter().any(is_write));
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "every pair's edit synced within 30 s; logs:\n{}\n{}",
            fleet.log("w1"),
            fleet.log("w2")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes = fleet.check_no_two_writers();
    assert!(writes >= 6, "{writes} writes");

    signal(&one, "-TERM");
    signal(&two, "-TERM");
    assert_eq!(one.wait().await.expect("w1").code(), Some(0));
    assert_eq!(two.wait().await.expect("w2").code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_releases_and_another_worker_owns_the_pairs_quickly() {
    let fleet = Fleet::new(2, WATCH).await;
    let mut one = fleet.worker("w1");
    fleet
        .wait_owners(Duration::from_secs(30), "w1 owns both", |o| {
            o.get("w1") == Some(&2)
        })
        .await;
    let mut two = fleet.worker("w2");
    fleet
        .wait_owners(Duration::from_secs(15), "1/1", |o| {
            balanced(o, &["w1", "w2"], 2)
        })
        .await;
    signal(&one, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), one.wait())
        .await
        .expect("w1 exits after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", fleet.log("w1"));
    // Released, not left to expire: re-owned well under the TTL after the exit.
    let took = fleet
        .wait_owners(Duration::from_secs(10), "w2 owns both", |o| {
            o.get("w2") == Some(&2)
        })
        .await;
    assert!(
        took < Duration::from_millis(1900),
        "handover took {took:?}, a lease expiry rather than a release"
    );
    assert!(
        fleet.log("w1").contains("pair released"),
        "{}",
        fleet.log("w1")
    );
    signal(&two, "-TERM");
    assert_eq!(two.wait().await.expect("w2").code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_sync_on_a_workers_pair_exits_2_naming_the_worker() {
    let fleet = Fleet::new(1, WATCH).await;
    let mut one = fleet.worker("w-manual");
    fleet
        .wait_owners(Duration::from_secs(30), "the worker owns the pair", |o| {
            o.get("w-manual") == Some(&1)
        })
        .await;
    // The pair file is a valid --config for every other command.
    let text = pg::query_strings(&fleet.url, "SELECT config_text FROM sheetsync.pairs").await;
    let config = fleet.dir.path().join("pair-0.toml");
    std::fs::write(&config, text[0].clone().expect("text")).expect("write");
    let (code, _, stderr) = common::run_sheetsync_env(
        &config,
        &["sync"],
        &[("SHEETSYNC_STATE_URL", fleet.url.as_str())],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("w-manual"), "names the worker: {stderr}");
    signal(&one, "-TERM");
    assert_eq!(one.wait().await.expect("w").code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedules_fire_time_runs_once_with_two_workers() {
    let fleet = Fleet::new(1, "[fleet]\nmode = \"schedule\"\nevery = \"2s\"\n").await;
    let mut one = fleet.worker("s1");
    let mut two = fleet.worker("s2");
    // Kill the owner after a few fire times so the other one carries on.
    let fires = |url: String| async move {
        pg::query_strings(&url, "SELECT count(*)::text FROM sheetsync.fires").await[0]
            .clone()
            .unwrap_or_default()
            .parse::<usize>()
            .unwrap_or(0)
    };
    let start = Instant::now();
    while fires(fleet.url.clone()).await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "two fire times within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let owner = fleet.owners().await.into_keys().next().expect("an owner");
    let (killed, survivor) = if owner == "s1" {
        (&mut one, &mut two)
    } else {
        (&mut two, &mut one)
    };
    killed.start_kill().expect("kill -9");
    let _ = killed.wait().await;
    let seen = fires(fleet.url.clone()).await;
    let start = Instant::now();
    while fires(fleet.url.clone()).await < seen + 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the survivor runs the next fire times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(survivor, "-TERM");
    assert_eq!(survivor.wait().await.expect("wait").code(), Some(0));
    // Each fire time once in `fires` (its key) and one full sync per claimed fire time:
    // the runs the store saw (one products read each) match the claims.
    let claimed = fires(fleet.url.clone()).await;
    let runs = pg::query_strings(&fleet.url, "SELECT count(*)::text FROM sheetsync.runs").await[0]
        .clone()
        .unwrap_or_default()
        .parse::<usize>()
        .unwrap_or(0);
    assert!(
        runs <= claimed && runs + 1 >= claimed,
        "{runs} runs for {claimed} claimed fire times (one may have been cut by the kill)"
    );
    let distinct = pg::query_strings(
        &fleet.url,
        "SELECT count(DISTINCT fire_time)::text FROM sheetsync.fires",
    )
    .await;
    assert_eq!(distinct, vec![Some(claimed.to_string())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_stops_writes_and_they_resume_under_a_new_epoch_after() {
    let fleet = Fleet::with(1, WATCH, true).await;
    let mut w = fleet.worker("w-out");
    let shopify = &fleet.sandboxes[0].shopify;
    let by_worker = |since: usize| {
        shopify
            .requests_since(since)
            .into_iter()
            .filter(|r| {
                r.user_agent
                    .as_deref()
                    .is_some_and(|ua| ua.contains(" worker/w-out "))
            })
            .collect::<Vec<_>>()
    };
    let start = Instant::now();
    while by_worker(0).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker's first tick"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_epoch = parse_ua(by_worker(0)[0].user_agent.as_deref().unwrap_or_default())
        .expect("ua")
        .1;

    // The outage: no new connection to the fleet's database, and the open ones cut.
    let db = pg::query_strings(&fleet.url, "SELECT current_database()").await[0]
        .clone()
        .expect("db");
    let admin = pg::server().url("postgres");
    pg::query_strings(
        &admin,
        &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"),
    )
    .await;
    pg::query_strings(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '{db}'"
        ),
    )
    .await;
    // Past the TTL an edit must not be written: the lease may belong to someone else.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = shopify.requests().len();
    assert!(
        fleet.sandboxes[0]
            .sheets
            .set_cell("Inventory", "G18", serde_json::json!(37))
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during: Vec<_> = by_worker(n).into_iter().filter(is_write).collect();
    assert!(during.is_empty(), "written during the outage: {during:?}");

    pg::query_strings(
        &admin,
        &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"),
    )
    .await;
    let start = Instant::now();
    let write = loop {
        if let Some(r) = by_worker(n).into_iter().find(is_write) {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the edit written after the outage; log:\n{}",
            fleet.log("w-out")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let epoch = parse_ua(write.user_agent.as_deref().unwrap_or_default())
        .expect("ua")
        .1;
    assert!(
        epoch > first_epoch,
        "a new grant after the outage: {epoch} vs {first_epoch}"
    );
    signal(&w, "-TERM");
    assert_eq!(w.wait().await.expect("w").code(), Some(0));
}

/// Many pairs, few connections: a worker owning 60 pairs runs them all as a role whose
/// `CONNECTION LIMIT` is 6, with `SHEETSYNC_STATE_POOL_SIZE=4`; the server never sees
/// more than 4 sessions of that role. One connection per pair (the code before the pool)
/// cannot even open the pairs' states here.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_with_sixty_pairs_uses_no_more_connections_than_its_pool() {
    const PAIRS: usize = 60;
    const POOL: usize = 4;
    let fleet = Fleet::new(PAIRS, "[fleet]\nmode = \"watch\"\ninterval = \"30s\"\n").await;
    let (url, role) = pg::role_url(&fleet.url, "pool", 6).await;
    let mut w = fleet.worker_on("w-pool", &url, &[("SHEETSYNC_STATE_POOL_SIZE", "4")]);
    let sessions = format!("SELECT count(*)::text FROM pg_stat_activity WHERE usename = '{role}'");
    let count = |sql: String| {
        let admin = fleet.url.clone();
        async move {
            pg::query_strings(&admin, &sql).await[0]
                .as_deref()
                .unwrap_or("0")
                .parse::<usize>()
                .expect("a count")
        }
    };
    let start = Instant::now();
    let mut most = 0;
    loop {
        most = most.max(count(sessions.clone()).await);
        // Synced: every pair's first run finished in the shared state, and its store saw
        // the worker (the lease's User-Agent).
        let finished = count(
            "SELECT count(DISTINCT r.scope_id)::text FROM sheetsync.runs r
             JOIN sheetsync.pairs p USING (scope_id) WHERE r.finished_at IS NOT NULL
               AND r.holder = 'w-pool'"
                .to_owned(),
        )
        .await;
        let seen = fleet
            .sandboxes
            .iter()
            .filter(|s| {
                s.shopify.requests().iter().any(|r| {
                    r.user_agent
                        .as_deref()
                        .is_some_and(|ua| ua.contains(" worker/w-pool "))
                })
            })
            .count();
        if finished == PAIRS && seen == PAIRS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "all {PAIRS} pairs synced: {finished} runs finished, {seen} stores reached; \
             log:\n{}",
            fleet.log("w-pool")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fleet.owners().await.get("w-pool"), Some(&PAIRS));
    assert!(
        most <= POOL,
        "{most} sessions of the worker's role at once, pool_size {POOL}"
    );
    assert!(most >= 1, "the sessions were seen");
    assert!(
        !fleet.log("w-pool").contains("too many connections"),
        "{}",
        fleet.log("w-pool")
    );
    signal(&w, "-TERM");
    assert_eq!(w.wait().await.expect("w").code(), Some(0));
}

/// `SHEETSYNC_STATE_POOL_SIZE` is checked before anything connects: 0 is a usage error.
#[tokio::test]
async fn a_pool_size_of_zero_in_the_environment_is_refused() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .args(["fleet", "run"])
        .env("SHEETSYNC_STATE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("SHEETSYNC_STATE_POOL_SIZE", "0")
        .env_remove("SHEETSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("fleet run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pool_size must be at least 1"), "{err}");
    assert!(
        err.contains("SHEETSYNC_STATE_POOL_SIZE") || err.contains("--state-pool-size"),
        "{err}"
    );
}
