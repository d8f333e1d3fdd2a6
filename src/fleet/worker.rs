//! `fleet run` (SPEC §9): one worker of the fleet. It heartbeats its row in
//! `sheetsync.workers`, claims the leases of enabled pairs that no live worker holds
//! (`FOR UPDATE SKIP LOCKED`, a new epoch per grant), renews all of its leases in one
//! statement per renew period, and runs each owned pair's `watch` loop or its fleet
//! schedule in-process as its own task, fenced by its lease's epoch.
//!
//! Balance: with N live workers (heartbeat within their own TTL, not stopping) and P enabled
//! pairs each worker aims at ceil(P / N): below it claims, above it drains the surplus
//! and releases their leases for the others to claim.
//!
//! Draining a pair (shed, paused, removed, or the worker stopping on SIGTERM) stops it at
//! its next safe point ([`Shutdown::drain`]): reads and planning in progress are dropped,
//! a batch already sent finishes with its retries and is journaled, no new batch starts;
//! its lease is released as soon as its task has ended. The worker's own stop is bounded:
//! [`DRAIN_DEADLINE`] after SIGTERM the pairs still running are cut short between
//! requests, and [`DRAIN_GRACE`] later the worker exits non-zero, releasing every lease
//! but those of pairs that still had not ended (they expire within the TTL, as after a
//! kill).
//!
//! Connections: the worker and every pair it runs (their states, fire claims) borrow from
//! the one pool of the state URL in this process (`state::postgres::pool`), so a worker
//! uses at most `pool_size` connections however many pairs it owns.
//!
//! Boundary: the leases' SQL and the fence are `state::postgres::lease`'s; the loops are
//! `schedule`'s; this module only decides which pairs run here and when they stop. The
//! signals are the CLI's: it cancels the [`Shutdown`] it passes in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::fire::FireTimes;
use super::hooks::{Detach, PairHooks, PairKey};
use super::pairs::Pair;
use crate::config::fleet::{PairMode, ScheduleSpec};
use crate::engine::{Engine, RunOptions};
use crate::model::Secret;
use crate::schedule::{self, Shutdown, WatchOptions};
use crate::state::StateError;
use crate::state::postgres::lease::{self, Fence};
use crate::state::postgres::migrate;
use crate::state::postgres::pool::{Conn, Pool};

/// A fire time that passed while nobody ran the pair still runs once, late, when it is
/// at most this old; older ones are skipped (the next fire time comes anyway).
pub const MISFIRE_GRACE: Duration = Duration::from_secs(3600);

/// Claims at most this many pairs per claim poll, so that a worker starting alone in
/// front of thousands of pairs does not connect to every store in the same second.
const CLAIM_BATCH: i64 = 64;

/// A worker's row is pruned once it has sent no heartbeat for this many of its own
/// TTLs (and holds no unexpired lease): `fleet status` stops listing it. Well past the
/// TTL, so it can hold no lease; short enough that the list does not fill up with the
/// ids of replaced pods.
pub const PRUNE_AFTER_TTLS: u32 = 10;

/// How long after SIGTERM the pairs' batches in flight may take to finish before they
/// are cut short between requests (`hard`): well inside Kubernetes' default 30 s
/// `terminationGracePeriodSeconds` with [`DRAIN_GRACE`] after it.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// After [`DRAIN_DEADLINE`], how long a pair cut short has to end (its request on the
/// wire answered, its run journaled) before the worker gives up on it and exits 1.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Threads of the pairs' runtime.
const PAIR_THREADS: usize = 8;

/// How `fleet run` was started.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub url: String,
    /// The lease holder's name: a User-Agent token (letters, digits, `.`, `_`, `-`).
    pub id: String,
    pub ttl: Duration,
    /// Connections to the shared state this process opens at most.
    pub pool_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "--replica-id {0:?}: use letters, digits, `.`, `_` and `-` (it goes into the stores' User-Agent)"
    )]
    Id(String),
    #[error("--lease-ttl must be at least one second")]
    Ttl,
    #[error(
        "stopped with {} pair(s) still running {}s after the signal ({}); their leases were not released and expire within the lease TTL",
        .0.len(),
        (DRAIN_DEADLINE + DRAIN_GRACE).as_secs(),
        .0.join(", ")
    )]
    DrainCut(Vec<String>),
}

/// The default worker id: `worker.<host>.<pid>`.
pub fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| token_char(*c))
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("worker.{host}.{}", std::process::id())
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Why a pair's task is being stopped, i.e. what to do once it has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Paused, pruned, surplus, or the worker is stopping: drained, then the lease
    /// released.
    Release,
    /// Its file changed: start it again under the same lease.
    Reload,
    /// Another worker has it: drop it, write nothing more, release nothing.
    Lost,
}

/// A pair this worker holds the lease of.
struct Owned {
    name: String,
    fence: Arc<Fence>,
    sha: String,
    shutdown: Shutdown,
    task: JoinHandle<()>,
    stopping: Option<Stop>,
}

impl Owned {
    fn stop(&mut self, why: Stop) {
        if why == Stop::Lost {
            self.fence.mark_lost();
            self.shutdown.hard.cancel();
        }
        // A lost lease beats any other reason: nothing may be released then.
        if self.stopping != Some(Stop::Lost) {
            self.stopping = Some(why);
        }
        match why {
            // The next owner should not wait for a tick this worker will not finish.
            Stop::Release => self.shutdown.drain(),
            // Restarted here under the same lease: the tick in flight may as well end.
            Stop::Reload | Stop::Lost => self.shutdown.stop.cancel(),
        }
    }
}

/// A row of `sheetsync.pairs`, without its text.
struct PairRow {
    scope_id: i64,
    sha: String,
    enabled: bool,
}

struct Worker {
    /// Where the pairs' tasks run.
    pairs: tokio::runtime::Handle,
    opts: WorkerOptions,
    /// The state URL's pool in this process: the coordinator's statements and every
    /// pair's borrow from it.
    pool: Arc<Pool>,
    shown: String,
    owned: BTreeMap<i64, Owned>,
    shutdown: Shutdown,
    /// `serve`'s plug into the watch pairs' loops; `None` for `fleet run`.
    hooks: Option<Arc<dyn PairHooks>>,
    /// Pairs given up on at the end of the drain: their leases are not released.
    abandoned: Vec<i64>,
}

/// Runs the worker until `shutdown.stop` is cancelled, then lets the pairs' batches in
/// flight finish, releases every lease and returns. `shutdown.hard` also cancels those
/// batches between requests.
pub async fn run(opts: WorkerOptions, shutdown: Shutdown) -> Result<(), WorkerError> {
    run_with(opts, shutdown, None).await
}

/// [`run`], each watch pair's loop also plugged into `hooks` (`serve`'s nudges, health
/// and metrics).
pub async fn run_with(
    opts: WorkerOptions,
    shutdown: Shutdown,
    hooks: Option<Arc<dyn PairHooks>>,
) -> Result<(), WorkerError> {
    if !opts.id.chars().all(token_char) || opts.id.is_empty() {
        return Err(WorkerError::Id(opts.id));
    }
    if opts.ttl < Duration::from_secs(1) {
        return Err(WorkerError::Ttl);
    }
    let pool = Pool::shared(&opts.url, opts.pool_size)?;
    let shown = pool.shown().to_owned();
    let checked = shown.clone();
    pool.exec(move |c: Conn| async move {
        migrate::check(&c, &checked).await?;
        Ok(())
    })
    .await?;
    // The pairs run on their own runtime: the state port's calls block their thread
    // while the database answers, and on the coordinator's runtime many pairs at once
    // would hold up the renewals (measured: heartbeats 17 s late with 64 pairs starting on
    // two threads). Their waits are I/O, not CPU, hence more threads than cores.
    let pairs = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(PAIR_THREADS)
        .thread_name("sheetsync-pair")
        .enable_all()
        .build()
        .map_err(|e| StateError::Corrupt {
            path: PathBuf::from(&shown),
            detail: format!("cannot start the pairs' runtime: {e}"),
        })?;
    let mut w = Worker {
        pairs: pairs.handle().clone(),
        opts,
        pool,
        shown,
        owned: BTreeMap::new(),
        shutdown,
        hooks,
        abandoned: Vec::new(),
    };
    let cut = w.main_loop().await;
    w.release_all().await;
    // Every pair's task has ended (the loop waits for them) or was aborted.
    pairs.shutdown_background();
    if cut.is_empty() {
        Ok(())
    } else {
        Err(WorkerError::DrainCut(cut))
    }
}

impl Worker {
    /// Returns the pairs that had to be abandoned when the drain ran out of time.
    async fn main_loop(&mut self) -> Vec<String> {
        let ttl = self.opts.ttl;
        let renew_every = ttl / 3;
        // The claim poll: bounds how long a released or expired pair waits for a claim.
        let poll = (ttl / 6).min(Duration::from_secs(1));
        tracing::info!(
            worker = %self.opts.id,
            lease_ttl = %humantime::format_duration(ttl),
            "Fleet worker starting"
        );
        let mut draining: Option<Instant> = None;
        let mut cut_short = false;
        // The first heartbeat goes before any claim, and the first claim waits one poll:
        // workers started together then see each other and split the pairs at once.
        let mut last_renew = Instant::now();
        self.renew(false).await;
        let mut claim_allowed = false;
        loop {
            let stop = self.shutdown.stop.clone();
            tokio::select! {
                () = stop.cancelled(), if draining.is_none() => {
                    tracing::info!(
                        pairs = self.owned.len(),
                        deadline = %humantime::format_duration(DRAIN_DEADLINE),
                        "Stopping: finishing the batches in flight, then releasing the pairs"
                    );
                    draining = Some(Instant::now());
                    for o in self.owned.values_mut() {
                        o.stop(Stop::Release);
                    }
                }
                () = tokio::time::sleep(poll) => {}
            }
            if self.shutdown.hard.is_cancelled() {
                for o in self.owned.values() {
                    o.shutdown.hard.cancel();
                }
            }
            if last_renew.elapsed() >= renew_every {
                last_renew = Instant::now();
                self.renew(draining.is_some()).await;
            }
            self.reap(draining.is_some()).await;
            if let Some(since) = draining {
                if self.owned.is_empty() {
                    return Vec::new();
                }
                if !cut_short && since.elapsed() >= DRAIN_DEADLINE {
                    cut_short = true;
                    let names: Vec<&str> = self.owned.values().map(|o| o.name.as_str()).collect();
                    tracing::warn!(
                        pairs = %names.join(", "),
                        "Drain deadline passed: cutting the batches in flight short between requests"
                    );
                    for o in self.owned.values() {
                        o.shutdown.hard.cancel();
                    }
                }
                if since.elapsed() >= DRAIN_DEADLINE + DRAIN_GRACE {
                    return self.abandon();
                }
                continue;
            }
            if let Err(e) = self.reconcile(claim_allowed).await {
                tracing::warn!(error = %e, "Fleet: could not read the pairs; trying again");
            }
            claim_allowed = true;
        }
    }

    /// The drain ran out of time: the pairs still running write nothing more and are
    /// aborted; their leases stay held, to expire within the TTL as after a kill, since a
    /// request of theirs may still be on its way to the store.
    fn abandon(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        for (scope_id, o) in std::mem::take(&mut self.owned) {
            self.abandoned.push(scope_id);
            o.fence.mark_lost();
            o.task.abort();
            tracing::error!(pair = %o.name, epoch = o.fence.epoch, "Fleet: pair still running at the end of the drain; abandoned, its lease left to expire");
            names.push(o.name);
        }
        names
    }

    /// The heartbeat and the renewal of every lease held, in one statement (which also
    /// prunes the rows of workers dead for [`PRUNE_AFTER_TTLS`] TTLs): a lease it does
    /// not return is lost. A failure (database unreachable) is retried at the next
    /// period; meanwhile the fences' local deadlines stop the writes.
    async fn renew(&mut self, stopping: bool) {
        let sent_at = Instant::now();
        let secs = self.opts.ttl.as_secs_f64();
        let id = self.opts.id.clone();
        let sql = format!(
            "WITH w AS (
                     INSERT INTO sheetsync.workers (id, last_seen, stopping, lease_ttl)
                     VALUES ($1, now(), $3, make_interval(secs => $2))
                     ON CONFLICT (id) DO UPDATE
                     SET last_seen = now(), stopping = $3, lease_ttl = EXCLUDED.lease_ttl
                     RETURNING 1),
                 gone AS (
                     DELETE FROM sheetsync.workers d
                     WHERE d.id <> $1
                       AND d.last_seen < now() - {PRUNE_AFTER_TTLS}
                           * coalesce(d.lease_ttl, make_interval(secs => $2))
                       AND NOT EXISTS (SELECT 1 FROM sheetsync.leases l
                                       WHERE l.holder = d.id AND l.expires_at > now())
                     RETURNING 1)
                 UPDATE sheetsync.leases SET expires_at = now() + make_interval(secs => $2)
                 WHERE holder = $1 AND expires_at > now() RETURNING scope_id, epoch"
        );
        // A broken connection (a database restart) is discarded by the pool and the
        // next borrow opens a new one: the leases are renewed over it if they are still
        // ours, else dropped and reclaimed.
        let renewal = self.pool.exec(move |c: Conn| async move {
            let rows = c.query(&sql, &[&id, &secs, &stopping]).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
                .collect::<BTreeMap<i64, i64>>())
        });
        // A partition can leave a statement hanging: the local deadlines stop the writes
        // meanwhile, and the next period tries again.
        let kept = match tokio::time::timeout(self.opts.ttl / 3, renewal).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Fleet: lease renewal failed; retrying");
                return;
            }
            Err(_) => {
                tracing::warn!("Fleet: lease renewal timed out; retrying");
                return;
            }
        };
        for (scope_id, o) in &mut self.owned {
            if kept.get(scope_id) == Some(&o.fence.epoch) {
                o.fence.renewed_by_worker(sent_at);
            } else if o.stopping != Some(Stop::Lost) {
                tracing::warn!(
                    pair = %o.name,
                    epoch = o.fence.epoch,
                    "Fleet: lease lost (expired or taken over); dropping the pair, sending nothing more"
                );
                o.stop(Stop::Lost);
            }
        }
    }

    /// Handles the pairs whose task has ended: released, restarted or dropped.
    async fn reap(&mut self, draining: bool) {
        let ended: Vec<i64> = self
            .owned
            .iter()
            .filter(|(_, o)| o.task.is_finished() && o.stopping.is_some())
            .map(|(id, _)| *id)
            .collect();
        for scope_id in ended {
            let Some(o) = self.owned.remove(&scope_id) else {
                continue;
            };
            match o.stopping {
                Some(Stop::Reload) if !draining => {
                    if let Err(e) = self.start(scope_id, Arc::clone(&o.fence)).await {
                        tracing::warn!(pair = %o.name, error = %e, "Fleet: could not reload the pair; releasing it");
                        self.release(&o).await;
                    }
                }
                Some(Stop::Lost) => tracing::info!(pair = %o.name, "Fleet: pair dropped"),
                _ => self.release(&o).await,
            }
        }
    }

    async fn release(&self, o: &Owned) {
        o.fence.mark_lost();
        let res = self
            .release_lease(o.fence.scope_id, o.fence.holder.clone(), o.fence.epoch)
            .await;
        match res {
            Ok(()) => tracing::info!(pair = %o.name, "Fleet: pair released"),
            // It then expires by itself within the TTL.
            Err(e) => {
                tracing::warn!(pair = %o.name, error = %e, "Fleet: could not release the pair")
            }
        }
    }

    async fn release_lease(
        &self,
        scope_id: i64,
        holder: String,
        epoch: i64,
    ) -> Result<(), StateError> {
        self.pool
            .exec(move |c: Conn| async move {
                c.execute(
                    "UPDATE sheetsync.leases SET holder = NULL, expires_at = '-infinity'
                     WHERE scope_id = $1 AND holder = $2 AND epoch = $3",
                    &[&scope_id, &holder, &epoch],
                )
                .await?;
                Ok(())
            })
            .await
    }

    /// Pauses, reloads, balances and claims, from one read of the pairs and the workers.
    async fn reconcile(&mut self, claim_allowed: bool) -> Result<(), StateError> {
        let secs = self.opts.ttl.as_secs_f64();
        let (pairs, live) = self
            .pool
            .exec(move |c: Conn| async move {
                let rows = c
                    .query(
                        "SELECT scope_id, config_sha256, enabled FROM sheetsync.pairs",
                        &[],
                    )
                    .await?;
                let pairs: BTreeMap<i64, PairRow> = rows
                    .iter()
                    .map(|r| {
                        let p = PairRow {
                            scope_id: r.get(0),
                            sha: r.get(1),
                            enabled: r.get(2),
                        };
                        (p.scope_id, p)
                    })
                    .collect();
                let live: i64 = c
                    .query_one(
                        "SELECT count(*) FROM sheetsync.workers
                         WHERE last_seen > now() - coalesce(lease_ttl, make_interval(secs => $1))
                           AND NOT stopping",
                        &[&secs],
                    )
                    .await?
                    .get(0);
                Ok((pairs, live))
            })
            .await?;
        for (scope_id, o) in &mut self.owned {
            if o.stopping.is_some() {
                continue;
            }
            match pairs.get(scope_id) {
                None => {
                    tracing::info!(pair = %o.name, "Fleet: pair removed; stopping it");
                    o.stop(Stop::Release);
                }
                Some(p) if !p.enabled => {
                    tracing::info!(pair = %o.name, "Fleet: pair paused; stopping it");
                    o.stop(Stop::Release);
                }
                Some(p) if p.sha != o.sha => {
                    tracing::info!(pair = %o.name, "Fleet: pair file changed; reloading it");
                    o.stop(Stop::Reload);
                }
                Some(_) => {}
            }
        }
        let enabled = i64::try_from(pairs.values().filter(|p| p.enabled).count()).unwrap_or(0);
        let share = share(enabled, live);
        let running: Vec<i64> = self
            .owned
            .iter()
            .filter(|(_, o)| o.stopping.is_none())
            .map(|(id, _)| *id)
            .collect();
        let count = i64::try_from(running.len()).unwrap_or(i64::MAX);
        if count > share {
            // The newest grants go first: they have run the least here.
            let surplus = usize::try_from(count - share).unwrap_or(0);
            let mut by_epoch: Vec<(i64, i64)> = running
                .iter()
                .filter_map(|id| self.owned.get(id).map(|o| (o.fence.epoch, *id)))
                .collect();
            by_epoch.sort_unstable();
            for (_, id) in by_epoch.into_iter().rev().take(surplus) {
                if let Some(o) = self.owned.get_mut(&id) {
                    tracing::info!(pair = %o.name, share, live, "Fleet: over my share; handing the pair over");
                    o.stop(Stop::Release);
                }
            }
        } else if count < share && claim_allowed {
            self.claim((share - count).min(CLAIM_BATCH)).await?;
        }
        Ok(())
    }

    /// Claims up to `n` enabled pairs whose lease is free or expired, each with a new
    /// epoch, and starts them.
    async fn claim(&mut self, n: i64) -> Result<(), StateError> {
        self.pool
            .exec(|c: Conn| async move {
                c.execute(
                    "INSERT INTO sheetsync.leases (scope_id)
                     SELECT scope_id FROM sheetsync.pairs ON CONFLICT DO NOTHING",
                    &[],
                )
                .await?;
                Ok(())
            })
            .await?;
        // Measured from before the claim is sent, as a renewal's is.
        let sent_at = Instant::now();
        let (id, secs) = (self.opts.id.clone(), self.opts.ttl.as_secs_f64());
        let granted: Vec<(i64, i64)> = self
            .pool
            .exec(move |c: Conn| async move {
                let rows = c
                    .query(
                        "WITH c AS (
                             SELECT l.scope_id FROM sheetsync.leases l
                             JOIN sheetsync.pairs p ON p.scope_id = l.scope_id
                             WHERE p.enabled AND (l.holder IS NULL OR l.expires_at <= now())
                             ORDER BY l.scope_id
                             FOR UPDATE OF l SKIP LOCKED LIMIT $2)
                         UPDATE sheetsync.leases l
                         SET holder = $1, epoch = l.epoch + 1, acquired_at = now(),
                             expires_at = now() + make_interval(secs => $3)
                         FROM c WHERE l.scope_id = c.scope_id
                         RETURNING l.scope_id, l.epoch",
                        &[&id, &n, &secs],
                    )
                    .await?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
            .await?;
        for (scope_id, epoch) in granted {
            // Our own lease expired (an outage) and we were granted it again: the old
            // grant's task must not write on.
            if let Some(mut old) = self.owned.remove(&scope_id) {
                old.stop(Stop::Lost);
            }
            let scope = self.scope_of(scope_id).await?;
            let fence = Fence::granted(
                scope,
                scope_id,
                &self.opts.id,
                epoch,
                self.opts.ttl,
                sent_at,
            );
            if let Err(e) = self.start(scope_id, Arc::clone(&fence)).await {
                tracing::warn!(error = %e, "Fleet: could not start a claimed pair; releasing it");
                fence.mark_lost();
                self.release_lease(scope_id, self.opts.id.clone(), epoch)
                    .await?;
            }
        }
        Ok(())
    }

    async fn scope_of(&self, scope_id: i64) -> Result<crate::state::Scope, StateError> {
        self.pool
            .exec(move |c: Conn| async move {
                let row = c
                    .query_one(
                        "SELECT shop, spreadsheet_id, tab FROM sheetsync.scopes WHERE id = $1",
                        &[&scope_id],
                    )
                    .await?;
                Ok(crate::state::Scope::new(
                    row.get::<_, &str>(0),
                    row.get::<_, &str>(1),
                    row.get::<_, &str>(2),
                ))
            })
            .await
    }

    /// Starts the pair's loop as its own task under `fence`, from its current file.
    async fn start(&mut self, scope_id: i64, fence: Arc<Fence>) -> Result<(), StateError> {
        let row: Option<(String, String, String)> = self
            .pool
            .exec(move |c: Conn| async move {
                let row = c
                    .query_opt(
                        "SELECT name, config_text, config_sha256 FROM sheetsync.pairs
                         WHERE scope_id = $1",
                        &[&scope_id],
                    )
                    .await?;
                Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
            })
            .await?;
        let Some((name, text, sha)) = row else {
            return Err(StateError::Corrupt {
                path: PathBuf::from(&self.shown),
                detail: format!("pair of scope {scope_id} vanished while it was claimed"),
            });
        };
        let hard = self.shutdown.hard.child_token();
        let shutdown = Shutdown {
            stop: self.shutdown.stop.child_token(),
            // Cancelled by `Owned::stop` (or by `hard`): the worker's own `drain` is never.
            drain: hard.child_token(),
            hard,
        };
        tracing::info!(pair = %name, epoch = fence.epoch, "Fleet: running the pair");
        let ctx = PairContext {
            name: name.clone(),
            text,
            url: self.opts.url.clone(),
            ttl: self.opts.ttl,
            fence: Arc::clone(&fence),
            pool: Arc::clone(&self.pool),
            shutdown: shutdown.clone(),
            hooks: self.hooks.clone(),
        };
        let span = tracing::info_span!("pair", pair = %name, epoch = fence.epoch);
        let task = self.pairs.spawn(run_pair(ctx).instrument(span));
        self.owned.insert(
            scope_id,
            Owned {
                name,
                fence,
                sha,
                shutdown,
                task,
                stopping: None,
            },
        );
        Ok(())
    }

    /// Last: every lease still held goes back at once (but those of pairs abandoned at
    /// the end of the drain), and the worker leaves the count.
    async fn release_all(&self) {
        let id = self.opts.id.clone();
        let kept = self.abandoned.clone();
        let res = self
            .pool
            .exec(move |c: Conn| async move {
                c.execute(
                    "UPDATE sheetsync.leases SET holder = NULL, expires_at = '-infinity'
                     WHERE holder = $1 AND NOT (scope_id = ANY($2))",
                    &[&id, &kept],
                )
                .await?;
                Ok(())
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "Fleet: could not release the leases; they expire within the TTL");
        }
        let id = self.opts.id.clone();
        let res = self
            .pool
            .exec(move |c: Conn| async move {
                c.execute("DELETE FROM sheetsync.workers WHERE id = $1", &[&id])
                    .await?;
                Ok(())
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "Fleet: could not remove the worker's row");
        }
        tracing::info!(worker = %self.opts.id, "Fleet worker stopped");
    }
}

/// ceil(pairs / live workers); a worker that does not see itself (its heartbeat failed)
/// counts as one.
fn share(pairs: i64, live: i64) -> i64 {
    let live = live.max(1);
    (pairs + live - 1) / live
}

/// What a pair's task needs.
struct PairContext {
    name: String,
    text: String,
    url: String,
    ttl: Duration,
    fence: Arc<Fence>,
    pool: Arc<Pool>,
    shutdown: Shutdown,
    hooks: Option<Arc<dyn PairHooks>>,
}

/// One pair's life on this worker: its config from the worker's environment, its engine
/// with state on the shared database fenced by the lease, then its loop until stopped.
async fn run_pair(ctx: PairContext) {
    let pair = match Pair::parse(
        &PathBuf::from(format!("{}.toml", ctx.name)),
        ctx.text.clone(),
    ) {
        Ok(p) => p,
        Err(e) => return idle(&ctx, &e.to_string()).await,
    };
    let mut config = match pair.config(&|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return idle(&ctx, &e.to_string()).await,
    };
    config.state.url = Some(Secret::new(ctx.url.clone()));
    config.state.lease_ttl = ctx.ttl;
    // The pair's states borrow from the worker's pool (the same URL): its size is the
    // worker's, whatever the pair file says.
    config.state.pool_size = ctx.pool.size();
    // Connecting may fail for a while (a token endpoint down): retried with a backoff,
    // the lease kept so the pair does not bounce around the fleet.
    let mut wait = Duration::from_secs(5);
    let mut engine = loop {
        // Connecting only reads (a token, the shop): dropped when the pair is drained.
        let Some(connected) = ctx
            .shutdown
            .unless_drained(Engine::connect(config.clone()))
            .await
        else {
            return;
        };
        match connected {
            Ok(e) => break e.with_cancel(ctx.shutdown.hard.clone()),
            Err(e) => {
                tracing::warn!(pair = %ctx.name, error = %e, retry_in = %humantime::format_duration(wait), "Fleet: cannot connect the pair");
                tokio::select! {
                    () = ctx.shutdown.stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
    };
    engine.store.set_user_agent(Some(ctx.fence.user_agent()));
    match &pair.mode {
        PairMode::Watch {
            interval,
            full_every,
        } => {
            let opts = WatchOptions {
                interval: *interval,
                full_every: *full_every,
                ..WatchOptions::default()
            };
            match &ctx.hooks {
                Some(hooks) => {
                    let key = PairKey {
                        name: ctx.name.clone(),
                        spreadsheet_id: config.sheet.spreadsheet_id.clone(),
                        tab: config.sheet.tab.clone(),
                        epoch: ctx.fence.epoch,
                    };
                    let attached = hooks.attach(&key);
                    let _detach = Detach {
                        hooks: hooks.as_ref(),
                        key,
                    };
                    if let Some(progress) = attached.progress {
                        engine.set_progress(progress);
                    }
                    schedule::watch_with(
                        &engine,
                        &opts,
                        &ctx.shutdown,
                        Some(&attached.nudges),
                        attached.observer.as_ref(),
                    )
                    .await;
                }
                None => schedule::watch(&engine, &opts, &ctx.shutdown).await,
            }
        }
        PairMode::Schedule(spec) => scheduled(&engine, spec, &ctx).await,
    }
}

/// A pair that cannot run here (its file does not resolve in this worker's environment)
/// keeps its lease and waits for a stop (a new file, a pause): released, it would only
/// bounce from worker to worker.
async fn idle(ctx: &PairContext, why: &str) {
    tracing::error!(pair = %ctx.name, error = %why, "Fleet: cannot run the pair; fix its file and apply it again");
    ctx.shutdown.stop.cancelled().await;
}

/// A schedule pair on the fleet: each fire time is claimed in `sheetsync.fires` under
/// the lease before its sync runs, so it runs once across the fleet whoever owns the
/// pair then. The latest fire time that passed while nobody ran it runs once, late, if it
/// is within [`MISFIRE_GRACE`].
async fn scheduled(engine: &Engine, spec: &ScheduleSpec, ctx: &PairContext) {
    let fires = match FireTimes::new(spec) {
        Ok(f) => f,
        Err(e) => return idle(ctx, &e.to_string()).await,
    };
    let grace = chrono::Duration::from_std(MISFIRE_GRACE).unwrap_or_default();
    let now = Utc::now();
    let mut due = fires.latest_at_or_before(now).filter(|t| now - *t <= grace);
    let mut after = now;
    loop {
        let t = match due.take() {
            Some(t) => t,
            None => {
                let Some(next) = fires.next_after(after) else {
                    tracing::warn!("The schedule has no future fire time");
                    ctx.shutdown.stop.cancelled().await;
                    return;
                };
                let wait = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    () = ctx.shutdown.stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                next
            }
        };
        match claim_fire(ctx, t).await {
            Ok(Some(run_id)) => {
                let opts = RunOptions {
                    run_id,
                    started_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    // Checked before each batch; the clients' waits listen to `hard`.
                    cancel: ctx.shutdown.drain.clone(),
                    lock_held: true,
                    ..RunOptions::default()
                };
                // The reads are dropped if the pair is drained meanwhile: nothing was
                // sent, and the fire time goes back below.
                let run = match ctx.shutdown.unless_drained(engine.read_all()).await {
                    Some(Ok(reads)) => engine.run_reads(&opts, reads).await,
                    Some(Err(e)) => Err(e),
                    None => Ok(drained_while_reading(engine, &opts)),
                };
                match run {
                    // Drained before the run was done: the fire time goes back, so the
                    // next owner runs it (late, within the misfire grace) instead of it
                    // counting as run across the fleet.
                    Ok(report) if report.interrupted && ctx.shutdown.drain.is_cancelled() => {
                        match unclaim_fire(ctx, t, &opts.run_id).await {
                            Ok(()) => tracing::info!(
                                fire_time = %t.to_rfc3339(),
                                applied = report.summary.applied,
                                "Scheduled sync drained; its fire time is left for the next owner"
                            ),
                            Err(e) => tracing::warn!(
                                fire_time = %t.to_rfc3339(),
                                error = %e,
                                "Scheduled sync drained; could not hand its fire time back"
                            ),
                        }
                    }
                    Ok(report) => tracing::info!(
                        fire_time = %t.to_rfc3339(),
                        applied = report.summary.applied,
                        failed = report.summary.failed,
                        "scheduled sync done"
                    ),
                    Err(e) => {
                        tracing::warn!(fire_time = %t.to_rfc3339(), error = %e, "Scheduled sync failed")
                    }
                }
            }
            Ok(None) => {
                tracing::info!(fire_time = %t.to_rfc3339(), "Fire time already run by the fleet; skipped")
            }
            Err(e) => {
                tracing::warn!(fire_time = %t.to_rfc3339(), error = %e, "Fire time not claimed; skipped")
            }
        }
        if ctx.shutdown.stop.is_cancelled() {
            return;
        }
        // A run longer than the period skips the fire times it overlapped instead of
        // stacking them.
        after = t.max(Utc::now());
    }
}

/// The report of a scheduled run drained while it read: nothing planned or sent.
fn drained_while_reading(engine: &Engine, opts: &RunOptions) -> crate::report::Report {
    let meta = crate::report::RunMeta {
        run_id: opts.run_id.clone(),
        shop: engine.config.shop_name().to_owned(),
        spreadsheet_id: engine.config.sheet.spreadsheet_id.clone(),
    };
    let mut report = crate::report::Report::from_plan(
        &crate::plan::Plan::default(),
        meta,
        // No amounts: the currency only formats them.
        &crate::model::Currency::new("USD"),
        false,
    );
    report.interrupted = true;
    report
}

/// Hands fire time `t` back (its run `run_id` was drained), fenced by the lease as
/// [`claim_fire`] is: the next owner claims and runs it.
async fn unclaim_fire(ctx: &PairContext, t: DateTime<Utc>, run_id: &str) -> Result<(), StateError> {
    ctx.fence.check()?;
    let f = &ctx.fence;
    let (scope_id, holder, epoch, at, id) = (
        f.scope_id,
        f.holder.clone(),
        f.epoch,
        t.timestamp(),
        run_id.to_owned(),
    );
    let fenced: i64 = ctx
        .pool
        .exec(move |c: Conn| async move {
            let row = c
                .query_one(
                    "WITH l AS (
                         SELECT scope_id FROM sheetsync.leases
                         WHERE scope_id = $1 AND holder = $2 AND epoch = $3
                           AND expires_at > now()
                         FOR SHARE),
                     del AS (
                         DELETE FROM sheetsync.fires x USING l
                         WHERE x.scope_id = l.scope_id
                           AND x.fire_time = to_timestamp($4::bigint) AND x.run_id = $5
                         RETURNING 1)
                     SELECT count(*) FROM l",
                    &[&scope_id, &holder, &epoch, &at, &id],
                )
                .await?;
            Ok(row.get(0))
        })
        .await?;
    if fenced == 0 {
        return Err(lease::lost_on_database(&f.holder, f.epoch));
    }
    Ok(())
}

/// Records fire time `t` for the pair under this lease, in one statement fenced by the
/// lease (`FOR SHARE`, as every state write): `Some(run id)` when this worker is to run
/// it, `None` when the fleet already did.
async fn claim_fire(ctx: &PairContext, t: DateTime<Utc>) -> Result<Option<String>, StateError> {
    ctx.fence.check()?;
    let f = &ctx.fence;
    let run_id = format!(
        "{}-{:04x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u16(..)
    );
    let (scope_id, holder, epoch, at, id) = (
        f.scope_id,
        f.holder.clone(),
        f.epoch,
        t.timestamp(),
        run_id.clone(),
    );
    let (fenced, inserted): (i64, i64) = ctx
        .pool
        .exec(move |c: Conn| async move {
            let row = c
                .query_one(
                    "WITH l AS (
                         SELECT scope_id, holder, epoch FROM sheetsync.leases
                         WHERE scope_id = $1 AND holder = $2 AND epoch = $3
                           AND expires_at > now()
                         FOR SHARE),
                     ins AS (
                         INSERT INTO sheetsync.fires (scope_id, fire_time, holder, epoch, run_id)
                         SELECT scope_id, to_timestamp($4::bigint), holder, epoch, $5 FROM l
                         ON CONFLICT DO NOTHING RETURNING 1)
                     SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM ins)",
                    &[&scope_id, &holder, &epoch, &at, &id],
                )
                .await?;
            Ok((row.get(0), row.get(1)))
        })
        .await?;
    if fenced == 0 {
        return Err(lease::lost_on_database(&f.holder, f.epoch));
    }
    Ok((inserted == 1).then_some(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_the_ceiling_and_counts_at_least_this_worker() {
        assert_eq!(share(300, 3), 100);
        assert_eq!(share(10, 3), 4);
        assert_eq!(share(10, 0), 10);
        assert_eq!(share(0, 2), 0);
    }

    #[test]
    fn worker_ids_are_user_agent_tokens() {
        assert!(default_id().chars().all(token_char));
        assert!(!"a b".chars().all(token_char));
    }
}
