//! Leases with fencing (SPEC §9, FLEET.md §2.2): one row per (store, spreadsheet, tab) in
//! `sheetsync.leases` with its holder, an epoch that grows with every grant, and an
//! expiry on the database's clock. A writer takes the lease before it writes ([`acquire`]),
//! renews it in the background at a third of the TTL, and releases it when it is done.
//!
//! Every journal and state write of a [`super::PgState`] opened while the lease is held
//! checks, in its own transaction, that the lease is still this holder's under the same
//! epoch and unexpired (`FOR SHARE`, so a takeover and a write never interleave): a writer
//! that stalled past its lease writes nothing more, and since each store request is
//! journaled before it is sent, sends nothing more. A local deadline (0.8 × TTL after the
//! last renewal was *sent*, on the monotonic clock) refuses writes even before the
//! database would, in case the renewal's answer is what was lost.
//!
//! The held leases of this process are registered by scope, the way the file lock sits
//! outside the port: [`super::super::open_writer_for`] finds the fence of its scope here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::migrate;
use super::pool::{Conn, DEFAULT_POOL_SIZE, Failed, Pool};
use crate::state::{Scope, StateError};

/// What a held lease shares with the writes it fences and with its renewer.
#[derive(Debug)]
pub struct Fence {
    pub scope: Scope,
    pub scope_id: i64,
    pub holder: String,
    pub epoch: i64,
    ttl: Duration,
    /// No write (hence no send) after this instant: 0.8 × TTL after the last successful
    /// renewal was sent.
    deadline: Mutex<Instant>,
    lost: AtomicBool,
}

/// The refusal of a write whose lease row no longer names this holder and epoch (checked
/// in the write's own statement or transaction).
pub fn lost_on_database(holder: &str, epoch: i64) -> StateError {
    StateError::LeaseLost {
        holder: holder.to_owned(),
        epoch,
        why: "another writer holds it now, or it expired on the database's clock",
    }
}

impl Fence {
    /// Whether this holder may still write, by its own clock and knowledge; the database
    /// checks again in each write's transaction.
    pub fn check(&self) -> Result<(), StateError> {
        let lost = |why| StateError::LeaseLost {
            holder: self.holder.clone(),
            epoch: self.epoch,
            why,
        };
        if self.lost.load(Ordering::SeqCst) {
            return Err(lost("another writer took it over"));
        }
        let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        if Instant::now() >= deadline {
            return Err(lost(
                "it was not renewed in time and may have expired (a stall, or the \
                 database unreachable)",
            ));
        }
        Ok(())
    }

    fn renewed(&self, sent_at: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *d = sent_at + self.ttl.mul_f64(0.8);
    }

    /// `User-Agent: sheetsync/<version> worker/<holder> epoch/<n>`: every store request
    /// made under the lease says who sent it.
    pub fn user_agent(&self) -> String {
        format!(
            "sheetsync/{} worker/{} epoch/{}",
            env!("CARGO_PKG_VERSION"),
            self.holder,
            self.epoch
        )
    }
}

impl Fence {
    /// A lease a fleet worker was granted by its claim (epoch `epoch`, the claim sent at
    /// `sent_at`), registered so the states the pair's runs open are fenced by it. A
    /// fence this process still keeps for the same scope (an older grant) is forgotten.
    pub fn granted(
        scope: Scope,
        scope_id: i64,
        holder: &str,
        epoch: i64,
        ttl: Duration,
        sent_at: Instant,
    ) -> Arc<Fence> {
        let fence = Arc::new(Fence {
            scope,
            scope_id,
            holder: holder.to_owned(),
            epoch,
            ttl,
            deadline: Mutex::new(sent_at + ttl.mul_f64(0.8)),
            lost: AtomicBool::new(false),
        });
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|w| w.upgrade().is_some_and(|f| f.scope != fence.scope));
        held.push(Arc::downgrade(&fence));
        fence
    }

    /// The worker's batched renewal kept this lease; it was sent at `sent_at`.
    pub fn renewed_by_worker(&self, sent_at: Instant) {
        self.renewed(sent_at);
    }

    /// Another writer has it, or the worker gave it up: no write passes from now on.
    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
}

static HELD: Mutex<Vec<Weak<Fence>>> = Mutex::new(Vec::new());

/// The fence of a lease this process holds on `scope`, if any.
pub fn held(scope: &Scope) -> Option<Arc<Fence>> {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|w| w.strong_count() > 0);
    held.iter()
        .filter_map(Weak::upgrade)
        .find(|f| &f.scope == scope)
}

/// A held lease; dropping it stops the renewals and releases the lease at once, so the
/// next writer need not wait for the TTL. It holds no connection: the renewals and the
/// release borrow one from the URL's pool for their one statement.
pub struct LeaseGuard {
    fence: Arc<Fence>,
    renewer: tokio::task::JoinHandle<()>,
    // Last: the pool (its runtime) outlives the renewer's abort and the release.
    pool: Arc<Pool>,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

impl LeaseGuard {
    pub fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        let (scope_id, holder, epoch) = (
            self.fence.scope_id,
            self.fence.holder.clone(),
            self.fence.epoch,
        );
        let released = self.pool.run(move |c: Conn| async move {
            release(&c, scope_id, &holder, epoch).await?;
            Ok(())
        });
        if let Err(e) = released {
            // The lease then expires by itself within the TTL.
            tracing::warn!("could not release the lease: {e}");
        }
    }
}

/// Takes the lease of `scope` for `holder` (a token without spaces: it goes into the
/// User-Agent), or fails with [`StateError::LeaseHeld`] naming the live holder. Uses the
/// process's pool for `url` (started with [`DEFAULT_POOL_SIZE`] if there is none yet).
pub fn acquire(
    url: &str,
    scope: &Scope,
    holder: &str,
    ttl: Duration,
) -> Result<LeaseGuard, StateError> {
    acquire_pooled(Pool::shared(url, DEFAULT_POOL_SIZE)?, scope, holder, ttl)
}

/// [`acquire`] on a given pool.
pub fn acquire_pooled(
    pool: Arc<Pool>,
    scope: &Scope,
    holder: &str,
    ttl: Duration,
) -> Result<LeaseGuard, StateError> {
    let shown = pool.shown().to_owned();
    let s = scope.clone();
    let who = holder.to_owned();
    let sent_at = Instant::now();
    let (scope_id, epoch) = pool.run(move |c: Conn| async move {
        migrate::check(&c, &shown).await?;
        c.execute(
            "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&s.shop, &s.spreadsheet_id, &s.tab],
        )
        .await?;
        let scope_id: i64 = c
            .query_one(
                "SELECT id FROM sheetsync.scopes
                 WHERE shop = $1 AND spreadsheet_id = $2 AND tab = $3",
                &[&s.shop, &s.spreadsheet_id, &s.tab],
            )
            .await?
            .get(0);
        match try_acquire(&c, scope_id, &who, ttl).await? {
            Ok(epoch) => Ok((scope_id, epoch)),
            Err((holder, expires_at)) => {
                Err(Failed::State(StateError::LeaseHeld { holder, expires_at }))
            }
        }
    })?;
    let fence = Arc::new(Fence {
        scope: scope.clone(),
        scope_id,
        holder: holder.to_owned(),
        epoch,
        ttl,
        deadline: Mutex::new(sent_at + ttl.mul_f64(0.8)),
        lost: AtomicBool::new(false),
    });
    let renewer = pool.spawn(renew_loop(Arc::clone(&fence), Arc::clone(&pool)));
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(&fence));
    Ok(LeaseGuard {
        fence,
        renewer,
        pool,
    })
}

/// Renews at a third of the TTL until the lease is lost. A failed renewal (database
/// unreachable) is retried at the next tick; the local deadline stops writes meanwhile.
async fn renew_loop(fence: Arc<Fence>, pool: Arc<Pool>) {
    let period = fence.ttl / 3;
    loop {
        tokio::time::sleep(period).await;
        let sent_at = Instant::now();
        let (scope_id, holder, epoch, ttl) =
            (fence.scope_id, fence.holder.clone(), fence.epoch, fence.ttl);
        // Already on the bridge: borrow through `exec`, which spawns there again and
        // is awaited here (never `run`, which would block this very thread).
        let renewed = pool
            .exec(move |c: Conn| async move { Ok(renew(&c, scope_id, &holder, epoch, ttl).await?) })
            .await;
        match renewed {
            Ok(true) => fence.renewed(sent_at),
            Ok(false) => {
                fence.lost.store(true, Ordering::SeqCst);
                tracing::warn!(
                    holder = %fence.holder,
                    epoch = fence.epoch,
                    "lease lost: another writer took it over"
                );
                return;
            }
            Err(e) => tracing::warn!("lease renewal failed, retrying: {e}"),
        }
    }
}

/// One grant: epoch + 1 if the lease is free or expired. `Err((holder, expires_at))`
/// when someone else holds it.
pub async fn try_acquire(
    client: &Client,
    scope_id: i64,
    holder: &str,
    ttl: Duration,
) -> Result<Result<i64, (String, String)>, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO sheetsync.leases (scope_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&scope_id],
        )
        .await?;
    // Under READ COMMITTED a concurrent grant makes this UPDATE re-check its WHERE on
    // the new row: of two acquirers, one gets the row and the other none.
    let granted = client
        .query_opt(
            "UPDATE sheetsync.leases
             SET holder = $2, epoch = epoch + 1, acquired_at = now(),
                 expires_at = now() + make_interval(secs => $3)
             WHERE scope_id = $1 AND (holder IS NULL OR expires_at <= now())
             RETURNING epoch",
            &[&scope_id, &holder, &ttl.as_secs_f64()],
        )
        .await?;
    if let Some(row) = granted {
        return Ok(Ok(row.get(0)));
    }
    let row = client
        .query_opt(
            "SELECT coalesce(holder, ''),
                    to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM sheetsync.leases WHERE scope_id = $1",
            &[&scope_id],
        )
        .await?;
    Ok(Err(row.map_or_else(
        || (String::new(), String::new()),
        |r| (r.get(0), r.get(1)),
    )))
}

/// Extends one lease if it is still this holder's under `epoch` and unexpired.
pub async fn renew(
    client: &Client,
    scope_id: i64,
    holder: &str,
    epoch: i64,
    ttl: Duration,
) -> Result<bool, tokio_postgres::Error> {
    let n = client
        .execute(
            "UPDATE sheetsync.leases SET expires_at = now() + make_interval(secs => $4)
             WHERE scope_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()",
            &[&scope_id, &holder, &epoch, &ttl.as_secs_f64()],
        )
        .await?;
    Ok(n == 1)
}

/// Extends every lease `holder` still holds, in one statement (a fleet worker's renewal);
/// returns (scope id, epoch) of those kept: a lease not returned is lost.
pub async fn renew_all(
    client: &Client,
    holder: &str,
    ttl: Duration,
) -> Result<Vec<(i64, i64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "UPDATE sheetsync.leases SET expires_at = now() + make_interval(secs => $2)
             WHERE holder = $1 AND expires_at > now() RETURNING scope_id, epoch",
            &[&holder, &ttl.as_secs_f64()],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Gives the lease up at once (the next writer need not wait for the TTL).
pub async fn release(
    client: &Client,
    scope_id: i64,
    holder: &str,
    epoch: i64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE sheetsync.leases SET holder = NULL, expires_at = '-infinity'
             WHERE scope_id = $1 AND holder = $2 AND epoch = $3",
            &[&scope_id, &holder, &epoch],
        )
        .await?;
    Ok(())
}

/// Inside a write's transaction: the lease is still `fence`'s, unexpired on the
/// database's clock. `FOR SHARE` conflicts with a grant's row lock, so a takeover waits
/// for this write to commit, and a write that waited on a takeover sees the new epoch.
pub async fn check_in_tx(
    tx: &tokio_postgres::Transaction<'_>,
    scope_id: i64,
    holder: &str,
    epoch: i64,
) -> Result<bool, tokio_postgres::Error> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM sheetsync.leases
             WHERE scope_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()
             FOR SHARE",
            &[&scope_id, &holder, &epoch],
        )
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(deadline: Instant) -> Fence {
        Fence {
            scope: Scope::new("s", "x", "t"),
            scope_id: 1,
            holder: "sync.host.1".into(),
            epoch: 7,
            ttl: Duration::from_secs(15),
            deadline: Mutex::new(deadline),
            lost: AtomicBool::new(false),
        }
    }

    #[test]
    fn past_the_local_deadline_nothing_more_is_written() {
        let now = Instant::now();
        let f = fence(now + Duration::from_secs(5));
        assert!(f.check().is_ok());
        let stale = fence(now);
        let e = stale.check().expect_err("past the deadline");
        assert!(matches!(e, StateError::LeaseLost { epoch: 7, .. }), "{e}");
        // A renewal sent at `now` moves the deadline to 0.8 × TTL after it.
        stale.renewed(now);
        assert!(stale.check().is_ok());
        stale.lost.store(true, Ordering::SeqCst);
        assert!(stale.check().is_err());
    }

    #[test]
    fn the_user_agent_names_the_worker_and_epoch() {
        let f = fence(Instant::now());
        assert_eq!(
            f.user_agent(),
            format!(
                "sheetsync/{} worker/sync.host.1 epoch/7",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
