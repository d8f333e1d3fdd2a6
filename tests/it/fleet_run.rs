//! `fleet run` (SPEC §9) against a real PostgreSQL and the sandbox: workers are the real
//! binary, each pair its own sandbox (store and spreadsheet), pairs inserted into
//! `sheetsync.pairs` the way `fleet apply` leaves them. Balance as workers join, failover
//! after kill -9 within the TTL plus a few seconds, no write under an older epoch through
//! kill -9 and SIGSTOP/SIGCONT, graceful handover on SIGTERM (a drain stopping mid-run
//! pairs at their batch boundary; one past its deadline exiting 1), a schedule's fire time run
//! once with two workers, and a manual `sync` on a worker's pair exiting 2 naming it.
//! Nothing applied twice: the owner killed mid-apply, the store's ledger of applied
//! mutations after the takeover equals a clean run's, and the journal says how each
//! open request was settled. A dead worker's row shown not live, then pruned after 10
//! TTLs. `serve` with a state URL as a fleet worker: claims, syncs, hooks routed to the
//! pair running there, health, page, metrics, SIGTERM releasing. `fleet migrate` from
//! schema 3 to 4. A worker with many pairs on a role allowed few connections (the pool
//! bounds them).
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
        self.worker_with_ttl(id, TTL)
    }

    fn worker_with_ttl(&self, id: &str, ttl: &str) -> tokio::process::Child {
        self.worker_on(id, ttl, &self.url, &[])
    }

    /// A worker on another URL of the same database (another role), with more
    /// environment.
    fn worker_on(
        &self,
        id: &str,
        ttl: &str,
        url: &str,
        env: &[(&str, &str)],
    ) -> tokio::process::Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).expect("log");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .args(["fleet", "run", "--replica-id", id, "--lease-ttl", ttl])
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

    /// The last lines of every worker's log, for a failure message.
    fn log_tails(&self) -> String {
        let mut out = String::new();
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for path in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("== {}\n", path.display()));
            for line in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
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
                "not within {bound:?}: {what}; owners now {owners:?}; leases {:?}; logs' tails:\n{}",
                pg::query_strings(
                    &self.url,
                    "SELECT scope_id || ' ' || coalesce(holder, '-') || ' ' || epoch || ' '
                     || (expires_at > now()) FROM sheetsync.leases ORDER BY scope_id"
                )
                .await,
                self.log_tails()
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

/// The first line of `id`'s log containing `what` has been written (polled, 20 s bound).
async fn wait_log(fleet: &Fleet, id: &str, what: &str) {
    let start = Instant::now();
    while !fleet.log(id).contains(what) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{id} logged {what:?} within 20 s:\n{}",
            fleet.log(id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_drains_at_the_batch_boundary_and_the_next_owner_finishes() {
    use sheetsync_sandbox::shopify::HoldPoint;

    // The clean run: the same edits synced once by hand.
    let clean = Sandbox::demo(0).await.expect("sandbox");
    clean.fix_demo_sheet();
    let clean_dir = tempfile::tempdir().expect("tmp");
    let clean_config = clean.write_config(clean_dir.path(), "").expect("config");
    let (code, _, err) = common::run_sheetsync(&clean_config, &["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{err}");
    let clean_skip = clean.shopify.applied_mutations().len();
    edit(&clean);
    let (code, _, err) = common::run_sheetsync(&clean_config, &["sync"]).await;
    assert_eq!(code, 0, "{err}");
    let clean_ledger = applied_ledger(&clean, clean_skip);

    // Two pairs in the middle of slow runs: every store request takes 300 ms, and each
    // pair's first variant update is parked after it took effect (the batch in flight).
    // Its stock set, a later batch, is parked before it takes effect and never let go
    // while w1 runs: a worker that went on with the run after SIGTERM would stop there,
    // so its run is as long as the test cares to wait.
    let fleet = Fleet::with(2, WATCH, true).await;
    let skips: Vec<usize> = fleet
        .sandboxes
        .iter()
        .map(|s| s.shopify.applied_mutations().len())
        .collect();
    let mut in_flight = Vec::new();
    let mut later = Vec::new();
    for s in &fleet.sandboxes {
        s.shopify
            .faults()
            .set(sheetsync_sandbox::faults::FaultPlan {
                latency: Duration::from_millis(300),
                ..Default::default()
            });
        in_flight.push(s.shopify.hold_mutation(
            "productVariantsBulkUpdate",
            1,
            HoldPoint::AfterApply,
        ));
        later.push(
            s.shopify
                .hold_mutation("inventorySetQuantities", 1, HoldPoint::BeforeApply),
        );
        edit(s);
    }
    let mut one = fleet.worker("w1");
    for (i, hold) in in_flight.iter().enumerate() {
        common::held(
            hold,
            &format!("pair-{i}'s first variant update reached its fake"),
        )
        .await;
    }
    signal(&one, "-TERM");
    wait_log(&fleet, "w1", "Stopping: finishing the batches in flight").await;
    let signalled = Instant::now();
    for hold in &in_flight {
        hold.release();
    }
    let status = tokio::time::timeout(Duration::from_secs(10), one.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "w1 exits within 10 s of SIGTERM (it must not start a new batch); log:\n{}",
                fleet.log("w1")
            )
        })
        .expect("wait");
    let drained = signalled.elapsed();
    eprintln!("w1 drained in {drained:?}");
    assert_eq!(status.code(), Some(0), "{}", fleet.log("w1"));
    for (i, hold) in later.iter().enumerate() {
        assert!(
            !hold.is_held(),
            "pair-{i}: w1 started a new batch after SIGTERM"
        );
    }

    // Nothing left open, nothing held: the batch in flight was journaled and the run
    // finished (interrupted), every lease released rather than left to expire.
    let held = pg::query_strings(
        &fleet.url,
        "SELECT count(*)::text FROM sheetsync.leases WHERE holder = 'w1'",
    )
    .await;
    assert_eq!(held, vec![Some("0".to_owned())], "w1's leases released");
    let open = pg::query_strings(
        &fleet.url,
        "SELECT count(*)::text FROM sheetsync.requests WHERE outcome IS NULL",
    )
    .await;
    assert_eq!(
        open,
        vec![Some("0".to_owned())],
        "no open request after the drain"
    );
    let applied = pg::query_strings(
        &fleet.url,
        "SELECT count(*)::text FROM sheetsync.requests q JOIN sheetsync.runs r USING (run_id)
         WHERE r.holder = 'w1' AND q.operation = 'productVariantsBulkUpdate'
           AND q.outcome = 'applied'",
    )
    .await;
    assert_ne!(
        applied,
        vec![Some("0".to_owned())],
        "w1's batches journaled"
    );
    let unfinished = pg::query_strings(
        &fleet.url,
        "SELECT count(*)::text FROM sheetsync.runs WHERE holder = 'w1' AND exit_code IS NULL",
    )
    .await;
    assert_eq!(unfinished, vec![Some("0".to_owned())], "w1's runs finished");

    // The next owner finishes the work; each mutation took effect once.
    for (s, hold) in fleet.sandboxes.iter().zip(&later) {
        hold.release();
        s.shopify.faults().clear();
    }
    let mut two = fleet.worker("w2");
    let expected = common::store_by_sheet_sku(&clean);
    let start = Instant::now();
    loop {
        let converged = fleet
            .sandboxes
            .iter()
            .all(|s| common::store_by_sheet_sku(s) == expected);
        let open = pg::query_strings(
            &fleet.url,
            "SELECT count(*)::text FROM sheetsync.requests WHERE outcome IS NULL",
        )
        .await;
        if converged && open == vec![Some("0".to_owned())] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "w2 converged within 60 s (open requests {open:?}); log:\n{}",
            fleet.log("w2")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&two, "-TERM");
    assert_eq!(two.wait().await.expect("w2").code(), Some(0));
    for (i, (s, skip)) in fleet.sandboxes.iter().zip(&skips).enumerate() {
        assert_eq!(
            applied_ledger(s, *skip),
            clean_ledger,
            "pair-{i}: the mutations that took effect differ from a clean run's"
        );
    }
    fleet.check_no_two_writers();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_past_its_deadline_exits_1_and_leaves_the_stuck_pairs_lease_to_expire() {
    use sheetsync_sandbox::shopify::HoldPoint;

    // Pair 0's first variant update never gets an answer: its batch cannot finish.
    let fleet = Fleet::with(2, WATCH, true).await;
    let stuck = fleet.sandboxes[0].shopify.hold_mutation(
        "productVariantsBulkUpdate",
        1,
        HoldPoint::BeforeApply,
    );
    edit(&fleet.sandboxes[0]);
    let mut one = fleet.worker("w1");
    common::held(&stuck, "pair-0's variant update reached its fake").await;
    fleet
        .wait_owners(Duration::from_secs(30), "w1 owns both", |o| {
            o.get("w1") == Some(&2)
        })
        .await;
    signal(&one, "-TERM");
    let signalled = Instant::now();
    // 20 s deadline, 5 s grace: gone within 40 s on a loaded machine.
    let status = tokio::time::timeout(Duration::from_secs(40), one.wait())
        .await
        .unwrap_or_else(|_| panic!("w1 exits within 40 s; log:\n{}", fleet.log("w1")))
        .expect("wait");
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(1), "{}", fleet.log("w1"));
    assert!(
        took >= Duration::from_secs(24),
        "gave up only after the grace: {took:?}"
    );
    let log = fleet.log("w1");
    assert!(log.contains("Drain deadline passed"), "{log}");
    assert!(
        log.contains("still running 25s after the signal (pair-0)"),
        "{log}"
    );
    // The idle pair was released; the stuck one's lease was left to expire (its
    // request may still be on its way to the store).
    let held = pg::query_strings(
        &fleet.url,
        "SELECT p.name FROM sheetsync.leases l JOIN sheetsync.pairs p USING (scope_id)
         WHERE l.holder = 'w1'",
    )
    .await;
    assert_eq!(held, vec![Some("pair-0".to_owned())]);
    stuck.abandon();

    // The next owner takes it once the lease expired, settles what w1 left open and
    // syncs the edits.
    let mut two = fleet.worker("w2");
    fleet
        .wait_owners(Duration::from_secs(20), "w2 owns both", |o| {
            o.get("w2") == Some(&2)
        })
        .await;
    let start = Instant::now();
    loop {
        let open = pg::query_strings(
            &fleet.url,
            "SELECT count(*)::text FROM sheetsync.requests WHERE outcome IS NULL",
        )
        .await;
        let synced = fleet.sandboxes[0]
            .shopify
            .applied_mutations()
            .iter()
            .any(|m| m.name == "inventorySetQuantities");
        if synced && open == vec![Some("0".to_owned())] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "w2 synced pair-0 within 60 s (open requests {open:?}); log:\n{}",
            fleet.log("w2")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&two, "-TERM");
    assert_eq!(two.wait().await.expect("w2").code(), Some(0));
    fleet.check_no_two_writers();
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
    // the runs the store saw (one products read each) match the claims. A run drained by
    // the SIGTERM (exit 130) handed its fire time back: it is not a claim.
    let claimed = fires(fleet.url.clone()).await;
    let runs = pg::query_strings(
        &fleet.url,
        "SELECT count(*)::text FROM sheetsync.runs WHERE exit_code IS DISTINCT FROM 130",
    )
    .await[0]
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
async fn a_fire_time_drained_by_sigterm_is_handed_back_and_the_next_owner_runs_it() {
    use sheetsync_sandbox::shopify::HoldPoint;

    // Hourly: the latest fire time (within the misfire grace) runs as soon as the pair
    // is owned. Its run is parked mid-apply when the worker gets SIGTERM.
    let fleet = Fleet::with(1, "[fleet]\nmode = \"schedule\"\nevery = \"1h\"\n", true).await;
    let s = &fleet.sandboxes[0];
    let hold = s
        .shopify
        .hold_mutation("productVariantsBulkUpdate", 1, HoldPoint::AfterApply);
    edit(s);
    let mut one = fleet.worker("f1");
    common::held(&hold, "the fire time's run reached its fake").await;
    signal(&one, "-TERM");
    wait_log(&fleet, "f1", "Stopping: finishing the batches in flight").await;
    hold.release();
    let status = tokio::time::timeout(Duration::from_secs(20), one.wait())
        .await
        .unwrap_or_else(|_| panic!("f1 exits after SIGTERM; log:\n{}", fleet.log("f1")))
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", fleet.log("f1"));
    let fires = pg::query_strings(&fleet.url, "SELECT holder FROM sheetsync.fires").await;
    assert!(fires.is_empty(), "fire time handed back: {fires:?}");

    // The next owner runs the same fire time, late, and syncs the rest of the edits.
    let mut two = fleet.worker("f2");
    let start = Instant::now();
    loop {
        let fires = pg::query_strings(&fleet.url, "SELECT holder FROM sheetsync.fires").await;
        let stock = s
            .shopify
            .applied_mutations()
            .iter()
            .any(|m| m.name == "inventorySetQuantities");
        if stock && fires == vec![Some("f2".to_owned())] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "f2 ran the fire time within 30 s (fires {fires:?}); log:\n{}",
            fleet.log("f2")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&two, "-TERM");
    assert_eq!(two.wait().await.expect("f2").code(), Some(0));
    fleet.check_no_two_writers();
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
    let mut w = fleet.worker_on("w-pool", TTL, &url, &[("SHEETSYNC_STATE_POOL_SIZE", "4")]);
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

/// Edits that make several store requests: prices of five variants of four products (one
/// variant update per product) and stock at both locations (one stock set).
const PRICE_EDITS: &[(&str, f64)] = &[
    ("C2", 20.5),
    ("C5", 18.25),
    ("C8", 52.0),
    ("C11", 23.0),
    ("C13", 13.5),
];
const STOCK_EDITS: &[(&str, i64)] = &[
    ("G2", 15),
    ("G3", 20),
    ("G6", 1),
    ("G11", 30),
    ("G13", 41),
    ("H2", 4),
    ("H12", 2),
];

fn edit(sandbox: &Sandbox) {
    let cells = PRICE_EDITS
        .iter()
        .map(|(c, v)| (*c, serde_json::json!(v)))
        .chain(STOCK_EDITS.iter().map(|(c, v)| (*c, serde_json::json!(v))));
    for (cell, value) in cells {
        assert!(sandbox.sheets.set_cell("Inventory", cell, value), "{cell}");
    }
}

/// The mutations the fake ran from `skip` on, each as its root field and arguments
/// (without the run's `referenceDocumentUri`, which names the run), sorted: the
/// ledger of what took effect, whichever run sent it and in whatever order.
fn applied_ledger(sandbox: &Sandbox, skip: usize) -> Vec<String> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("referenceDocumentUri");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out: Vec<String> = sandbox.shopify.applied_mutations()[skip..]
        .iter()
        .map(|m| {
            let mut args = m.args.clone();
            strip(&mut args);
            format!("{} {args}", m.name)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_apply_the_other_worker_takes_over_and_nothing_is_applied_twice() {
    use sheetsync_sandbox::shopify::HoldPoint;

    // The clean run: the same sheet and edits, synced once by hand, nothing killed.
    let clean = Sandbox::demo(0).await.expect("sandbox");
    clean.fix_demo_sheet();
    let clean_dir = tempfile::tempdir().expect("tmp");
    let clean_config = clean.write_config(clean_dir.path(), "").expect("config");
    let (code, _, err) = common::run_sheetsync(&clean_config, &["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{err}");
    let clean_skip = clean.shopify.applied_mutations().len();
    edit(&clean);
    let (code, _, err) = common::run_sheetsync(&clean_config, &["sync"]).await;
    assert_eq!(code, 0, "{err}");
    let clean_ledger = applied_ledger(&clean, clean_skip);
    assert!(
        clean_ledger
            .iter()
            .filter(|m| m.starts_with("productVariantsBulkUpdate"))
            .count()
            >= 3
            && clean_ledger
                .iter()
                .any(|m| m.starts_with("inventorySetQuantities")),
        "the edits take several requests: {clean_ledger:#?}"
    );

    // Three pairs, adopted, then the same edits. The first stock set of each is parked
    // in its fake: pairs 0 and 1 after it took effect (the answer lost with the killed
    // worker), pair 2 before (it never lands).
    let fleet = Fleet::with(3, WATCH, true).await;
    let skips: Vec<usize> = fleet
        .sandboxes
        .iter()
        .map(|s| s.shopify.applied_mutations().len())
        .collect();
    let points = [
        HoldPoint::AfterApply,
        HoldPoint::AfterApply,
        HoldPoint::BeforeApply,
    ];
    let holds: Vec<_> = fleet
        .sandboxes
        .iter()
        .zip(points)
        .map(|(s, p)| s.shopify.hold_mutation("inventorySetQuantities", 1, p))
        .collect();
    for s in &fleet.sandboxes {
        edit(s);
    }

    let mut one = fleet.worker("k1");
    for (i, hold) in holds.iter().enumerate() {
        common::held(hold, &format!("pair-{i}'s stock set reached its fake")).await;
    }
    assert_eq!(fleet.owners().await.get("k1"), Some(&3));
    // A second worker joins; once it is registered, the owner dies mid-apply.
    let mut two = fleet.worker("k2");
    let start = Instant::now();
    while pg::query_strings(
        &fleet.url,
        "SELECT id FROM sheetsync.workers WHERE id = 'k2'",
    )
    .await
    .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "k2 registered; log:\n{}",
            fleet.log("k2")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    one.start_kill().expect("kill -9");
    let _ = one.wait().await;
    for (hold, point) in holds.iter().zip(points) {
        match point {
            HoldPoint::AfterApply => hold.release(),
            // The dead worker's request must never land now.
            HoldPoint::BeforeApply => hold.abandon(),
        }
    }

    // k2 takes the pairs over, settles what k1 left open and converges.
    let expected = common::store_by_sheet_sku(&clean);
    let start = Instant::now();
    loop {
        let converged = fleet
            .sandboxes
            .iter()
            .all(|s| common::store_by_sheet_sku(s) == expected);
        let open = pg::query_strings(
            &fleet.url,
            "SELECT count(*)::text FROM sheetsync.requests WHERE outcome IS NULL",
        )
        .await;
        if converged && open == vec![Some("0".to_owned())] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "k2 converged within 60 s (open requests {open:?}); log:\n{}",
            fleet.log("k2")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fleet.owners().await.get("k2"), Some(&3));
    // Stopped before the ledgers are read, so a late re-send would be in them.
    signal(&two, "-TERM");
    assert_eq!(two.wait().await.expect("k2").code(), Some(0));

    // The store's ledger: what k1 got in plus what k2 sent is what the clean run sent,
    // each mutation once (a stock set applied twice would be there twice).
    for (i, (s, skip)) in fleet.sandboxes.iter().zip(&skips).enumerate() {
        assert_eq!(
            applied_ledger(s, *skip),
            clean_ledger,
            "pair-{i}: the mutations that took effect differ from a clean run's"
        );
        assert_eq!(common::store_by_sheet_sku(s), expected, "pair-{i}");
    }
    fleet.check_no_two_writers();

    // The journal agrees: k1's parked stock set was settled by re-reading, applied where
    // it took effect and failed where it never landed; k1's run never finished, and k2
    // ran each pair to exit 0.
    for (i, point) in points.iter().enumerate() {
        let by = |holder: &str, what: &str| {
            format!(
                "SELECT {what} FROM sheetsync.runs r JOIN sheetsync.pairs p USING (scope_id)
                 WHERE p.name = 'pair-{i}' AND r.holder = '{holder}'"
            )
        };
        let settled = pg::query_strings(
            &fleet.url,
            &format!(
                "SELECT q.outcome FROM sheetsync.requests q WHERE q.operation = \
                 'inventorySetQuantities' AND q.run_id IN ({})",
                by("k1", "r.run_id")
            ),
        )
        .await;
        let want = match point {
            HoldPoint::AfterApply => "applied",
            HoldPoint::BeforeApply => "failed",
        };
        assert_eq!(settled, vec![Some(want.to_owned())], "pair-{i}");
        let k1_runs = pg::query_strings(
            &fleet.url,
            &by("k1", "coalesce(r.exit_code::text, 'unfinished')"),
        )
        .await;
        assert_eq!(k1_runs, vec![Some("unfinished".to_owned())], "pair-{i}");
        let k2_runs = pg::query_strings(&fleet.url, &by("k2", "r.exit_code::text")).await;
        assert!(
            !k2_runs.is_empty() && k2_runs.iter().all(|c| c.as_deref() == Some("0")),
            "pair-{i}: k2's runs {k2_runs:?}"
        );
        // k2 re-sent no stock set where k1's had landed, and sent the one that had not.
        let k2_sets = pg::query_strings(
            &fleet.url,
            &format!(
                "SELECT q.outcome FROM sheetsync.requests q WHERE q.operation = \
                 'inventorySetQuantities' AND q.run_id IN ({})",
                by("k2", "r.run_id")
            ),
        )
        .await;
        let want: Vec<Option<String>> = match point {
            HoldPoint::AfterApply => vec![],
            HoldPoint::BeforeApply => vec![Some("applied".to_owned())],
        };
        assert_eq!(k2_sets, want, "pair-{i}");
    }
}

/// `fleet status` (text, or `--json` parsed) for the fleet's database.
async fn fleet_status(url: &str, json: bool) -> (String, serde_json::Value) {
    let mut args = vec!["fleet", "status"];
    if json {
        args.push("--json");
    }
    let (code, stdout, stderr) = common::run_sheetsync_env(
        std::path::Path::new("/nonexistent.toml"),
        &args,
        &[("SHEETSYNC_STATE_URL", url)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let value = if json {
        serde_json::from_str(&stdout).expect("status --json")
    } else {
        serde_json::Value::Null
    };
    (stdout, value)
}

fn status_line<'a>(text: &'a str, worker: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(worker))
}

/// The STATE column of `worker`'s line in `fleet status`: "live" or "not".
fn worker_state<'a>(text: &'a str, worker: &str) -> Option<&'a str> {
    status_line(text, worker).and_then(|l| l.split_whitespace().nth(1))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_workers_row_shows_not_live_then_is_pruned_after_ten_ttls() {
    let fleet = Fleet::new(1, WATCH).await;
    let mut dead = fleet.worker_with_ttl("p-dead", "1s");
    let mut alive = fleet.worker_with_ttl("p-alive", "1s");
    let start = Instant::now();
    loop {
        let (text, _) = fleet_status(&fleet.url, false).await;
        let live = |w| worker_state(&text, w) == Some("live");
        if live("p-dead") && live("p-alive") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "both workers listed live:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dead.start_kill().expect("kill -9");
    let _ = dead.wait().await;
    let killed = Instant::now();

    // Past its TTL it is listed, not live, with no pairs (its lease lapsed).
    let start = Instant::now();
    loop {
        let (text, _) = fleet_status(&fleet.url, false).await;
        if worker_state(&text, "p-dead") == Some("not") {
            let (_, json) = fleet_status(&fleet.url, true).await;
            let row = json["workers"]
                .as_array()
                .and_then(|w| w.iter().find(|w| w["id"] == "p-dead"))
                .cloned()
                .unwrap_or_else(|| panic!("listed in --json too: {json}"));
            let mut keys: Vec<&str> = row
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, ["id", "last_seen", "pairs"], "SPEC 9's shape");
            assert_eq!(row["pairs"], 0, "{json}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "p-dead shown not live:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        worker_state(&fleet_status(&fleet.url, false).await.0, "p-alive"),
        Some("live"),
        "the survivor stays live"
    );

    // Pruned by the survivor's heartbeat once 10 TTLs passed without one of its own; not
    // before (its last heartbeat was at most a third of a TTL before the kill).
    let start = Instant::now();
    loop {
        let (text, json) = fleet_status(&fleet.url, true).await;
        let listed = json["workers"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["id"] == "p-dead"));
        if !listed {
            assert!(status_line(&fleet_status(&fleet.url, false).await.0, "p-dead").is_none());
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "p-dead pruned within 60 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_millis(9_600),
        "pruned {took:?} after the kill, before 10 TTLs"
    );
    assert!(
        status_line(&fleet_status(&fleet.url, false).await.0, "p-alive").is_some(),
        "a live worker is never pruned"
    );
    signal(&alive, "-TERM");
    assert_eq!(alive.wait().await.expect("alive").code(), Some(0));
}

/// `sha256=<hex HMAC>` of `body` under `secret`, as the Apps Script signs it.
fn hook_body_and_signature(secret: &str, spreadsheet_id: &str) -> (String, String) {
    let body = serde_json::json!({
        "spreadsheet_id": spreadsheet_id,
        "tab": "Inventory",
        "sent_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
    .to_string();
    let signature = format!(
        "sha256={}",
        sheetsync::serve::hook::sign(secret, body.as_bytes())
    );
    (body, signature)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_a_state_url_runs_a_fleet_worker_and_its_hooks_nudge_its_pairs() {
    const SECRET: &str = "fleet-serve-hook-secret-0123456789";
    // Polling an hour apart: after each loop's first (full) sync only a hook makes one.
    let fleet = Fleet::with(
        2,
        "[fleet]\nmode = \"watch\"\ninterval = \"1h\"\nfull_every = \"1h\"\n",
        true,
    )
    .await;
    let text = pg::query_strings(
        &fleet.url,
        "SELECT config_text FROM sheetsync.pairs WHERE name = 'pair-0'",
    )
    .await[0]
        .clone()
        .expect("pair text");
    let config = fleet.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "{text}\n[serve]\nhook_secret = \"${{SHEETSYNC_HOOK_SECRET}}\"\n\n\
             [state]\nlease_ttl = \"{TTL}\"\n"
        ),
    )
    .expect("serve config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(fleet.dir.path())
        .env("SHEETSYNC_STATE_URL", &fleet.url)
        .env("SHEETSYNC_HOOK_SECRET", SECRET)
        .env("SHEETSYNC_LOG", "sheetsync=info")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let log = common::LogTail::of(&mut child);
    log.wait_for("fleet worker ", 1).await;
    let text = log.text();
    let base = text
        .lines()
        .find_map(|l| l.split("listening on ").nth(1))
        .expect("address")
        .trim()
        .to_owned();
    let worker = text
        .lines()
        .find_map(|l| l.split("fleet worker ").nth(1))
        .expect("worker id")
        .trim()
        .to_owned();

    // It claims both pairs and runs their loops: each store sees the worker's requests.
    fleet
        .wait_owners(Duration::from_secs(30), "serve's worker owns both", |o| {
            o.get(&worker) == Some(&2)
        })
        .await;
    common::wait_until(
        Duration::from_secs(30),
        "both pairs' first syncs read their stores",
        || {
            fleet.sandboxes.iter().all(|s| {
                s.shopify.requests().iter().any(|r| {
                    r.user_agent
                        .as_deref()
                        .is_some_and(|ua| ua.contains(&format!(" worker/{worker} ")))
                })
            })
        },
    )
    .await;
    log.wait_for("tick: full sync", 2).await;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    // The page says which pairs run on this worker.
    let page = http
        .get(format!("{base}/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        page.contains(&format!(
            "Fleet worker {worker}: 2 watch pair(s) run here: pair-0, pair-1."
        )),
        "{page}"
    );

    // A signed notification for a pair running here nudges that pair: its edit is
    // written within seconds, though its loop polls hourly.
    for (i, s) in fleet.sandboxes.iter().enumerate() {
        let before = s.shopify.requests().len();
        assert!(
            s.sheets
                .set_cell("Inventory", "G18", serde_json::json!(40 + i))
        );
        let (body, signature) = hook_body_and_signature(SECRET, &s.sheets.spreadsheet_id());
        let resp = http
            .post(format!("{base}/hooks/sheet"))
            .header("content-type", "application/json")
            .header("X-Sheetsync-Signature", signature)
            .body(body)
            .send()
            .await
            .expect("hook");
        assert_eq!(resp.status().as_u16(), 202);
        assert_eq!(
            resp.text().await.unwrap_or_default(),
            r#"{"status":"accepted"}"#
        );
        common::wait_until(
            Duration::from_secs(20),
            &format!("pair-{i}'s notified edit written"),
            || s.shopify.requests_since(before).iter().any(is_write),
        )
        .await;
    }
    // One for a sheet no pair here runs is accepted and ignored.
    let (body, signature) = hook_body_and_signature(SECRET, "no-such-sheet");
    let resp = http
        .post(format!("{base}/hooks/sheet"))
        .header("X-Sheetsync-Signature", signature)
        .body(body)
        .send()
        .await
        .expect("hook");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        resp.text().await.unwrap_or_default(),
        r#"{"status":"ignored"}"#
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let runs: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("sheetsync_runs_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(runs >= 2.0, "both notified syncs counted:\n{metrics}");
    fleet.check_no_two_writers();

    // SIGTERM: the worker releases its pairs, the server stops, exit 0.
    signal(&child, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("serve exits after SIGTERM")
        .expect("wait");
    let log = log.finish().await;
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("pair released"), "{log}");
    assert!(
        fleet.owners().await.is_empty(),
        "released, not left to expire"
    );
    assert!(
        pg::query_strings(
            &fleet.url,
            &format!("SELECT id FROM sheetsync.workers WHERE id = '{worker}'")
        )
        .await
        .is_empty(),
        "the worker left the count"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_migrate_upgrades_a_version_3_schema_and_keeps_its_workers_rows() {
    use sheetsync::state::postgres::migrate::MIGRATIONS;
    // The schema as the release before worker TTLs left it, with a worker's row.
    let url = pg::fresh_database().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE SCHEMA sheetsync;
             CREATE TABLE sheetsync.migrations (version bigint PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now());",
        )
        .await
        .expect("schema");
    for (version, name, sql) in &MIGRATIONS[..3] {
        client.batch_execute(sql).await.expect("migration");
        client
            .execute(
                "INSERT INTO sheetsync.migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .expect("version");
    }
    client
        .execute(
            "INSERT INTO sheetsync.workers (id, last_seen) VALUES ('old-live', now()), \
             ('old-dead', now() - interval '1 hour')",
            &[],
        )
        .await
        .expect("workers");
    drop(client);
    let _ = task.await;

    // A worker of this release refuses the old schema until `fleet migrate`.
    let run = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            common::run_sheetsync_env(
                std::path::Path::new("/nonexistent.toml"),
                args,
                &[("SHEETSYNC_STATE_URL", url.as_str())],
            )
            .await
        }
    };
    let (code, _, stderr) = run(&["fleet", "run", "--lease-ttl", "1s"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("fleet migrate"), "{stderr}");
    let (code, _, stderr) = run(&["fleet", "migrate"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("3 → 4 (applied 0004_worker_ttl)"),
        "{stderr}"
    );
    // Rows without a TTL are judged by the default one (15 s).
    let (text, _) = fleet_status(&url, false).await;
    assert_eq!(worker_state(&text, "old-live"), Some("live"), "{text}");
    assert_eq!(worker_state(&text, "old-dead"), Some("not"), "{text}");
}
