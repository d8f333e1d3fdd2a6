//! The state port on PostgreSQL (SPEC §9): the baseline, the run and request journals
//! and each run's typed rows, shared by every process that names the same database, with
//! the same behaviour as the SQLite backend. Tokens are not here: no credential is ever
//! written to the shared database, so the token calls go to the local SQLite state in
//! `sync.state_dir` (0600), as they always have.
//!
//! Each call is one statement or one transaction that ends before it returns, as on
//! SQLite; the calls are synchronous and run on tokio-postgres on a connection borrowed
//! from the process's [`Pool`] for the URL (one runtime thread and `pool_size`
//! connections however many states are open).

pub mod connect;
pub mod lease;
pub mod migrate;
pub mod pool;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    CachedToken, JournalRow, JournaledRequest, Outcome, RunRow, Scope, State, StateError,
    StateStore, rows,
};
use crate::model::{FieldKey, Secret, Sku, Value};
use crate::plan::Baseline;
use connect::Target;
use pool::{Conn, Failed, Pool};

/// The open shared state of one scope.
pub struct PgState {
    pool: Arc<Pool>,
    /// The URL without its password, for messages (and as the port's `path`).
    shown: PathBuf,
    /// `None` only on a reader whose scope was never written: every read is then empty.
    scope_id: Option<i64>,
    read_only: bool,
    /// Where the tokens stay: the local SQLite state.
    token_dir: PathBuf,
    scope: Scope,
    /// The lease this process holds on the scope, if any: every write checks it.
    fence: Option<Arc<lease::Fence>>,
}

/// A write's fence, as the async side needs it: (scope id, holder, epoch).
type FenceArgs = Option<(i64, String, i64)>;

type Tx<'t> = tokio_postgres::Transaction<'t>;

/// What a write inside [`PgState::write`]'s transaction returns.
type Written<'t, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Failed>> + Send + 't>>;

/// Inside a write's transaction: refuses it unless the lease is still ours.
async fn fenced(tx: &tokio_postgres::Transaction<'_>, fence: &FenceArgs) -> Result<(), Failed> {
    if let Some((scope_id, holder, epoch)) = fence
        && !lease::check_in_tx(tx, *scope_id, holder, *epoch).await?
    {
        return Err(Failed::State(lease::lost_on_database(holder, *epoch)));
    }
    Ok(())
}

impl std::fmt::Debug for PgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgState")
            .field("url", &self.shown)
            .field("scope_id", &self.scope_id)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl PgState {
    /// Opens the shared state of `scope` for a writer; the schema must be current. Uses
    /// the process's pool for `url` (started with [`pool::DEFAULT_POOL_SIZE`] if there is
    /// none yet).
    pub fn open(url: &str, token_dir: &Path, scope: &Scope) -> Result<PgState, StateError> {
        PgState::open_pooled(
            Pool::shared(url, pool::DEFAULT_POOL_SIZE)?,
            token_dir,
            scope,
        )
    }

    /// Opens it for reading only (dry run, `runs`); creates nothing.
    pub fn open_read_only(
        url: &str,
        token_dir: &Path,
        scope: &Scope,
    ) -> Result<PgState, StateError> {
        PgState::open_read_only_pooled(
            Pool::shared(url, pool::DEFAULT_POOL_SIZE)?,
            token_dir,
            scope,
        )
    }

    /// [`PgState::open`] on a given pool.
    pub fn open_pooled(
        pool: Arc<Pool>,
        token_dir: &Path,
        scope: &Scope,
    ) -> Result<PgState, StateError> {
        PgState::open_inner(pool, token_dir, scope, false)
    }

    /// [`PgState::open_read_only`] on a given pool.
    pub fn open_read_only_pooled(
        pool: Arc<Pool>,
        token_dir: &Path,
        scope: &Scope,
    ) -> Result<PgState, StateError> {
        PgState::open_inner(pool, token_dir, scope, true)
    }

    fn open_inner(
        pool: Arc<Pool>,
        token_dir: &Path,
        scope: &Scope,
        read_only: bool,
    ) -> Result<PgState, StateError> {
        let shown = pool.shown().to_owned();
        let s = scope.clone();
        let checked = shown.clone();
        let scope_id = pool.run(move |c: Conn| async move {
            migrate::check(&c, &checked).await?;
            if !read_only {
                c.execute(
                    "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&s.shop, &s.spreadsheet_id, &s.tab],
                )
                .await?;
            }
            let id = c
                .query_opt(
                    "SELECT id FROM sheetsync.scopes
                     WHERE shop = $1 AND spreadsheet_id = $2 AND tab = $3",
                    &[&s.shop, &s.spreadsheet_id, &s.tab],
                )
                .await?
                .map(|r| r.get::<_, i64>(0));
            Ok(id)
        })?;
        Ok(PgState {
            pool,
            shown: PathBuf::from(shown),
            scope_id,
            read_only,
            token_dir: token_dir.to_path_buf(),
            scope: scope.clone(),
            fence: if read_only { None } else { lease::held(scope) },
        })
    }

    /// The fence every write checks: first the local deadline, here; then the lease row,
    /// in the write's transaction.
    fn fence_args(&self) -> Result<FenceArgs, StateError> {
        match &self.fence {
            None => Ok(None),
            Some(f) => {
                f.check()?;
                Ok(Some((f.scope_id, f.holder.clone(), f.epoch)))
            }
        }
    }

    /// Runs `f` on a connection borrowed from the pool for this one statement or
    /// transaction; a database error names the URL.
    fn with<T, F, Fut>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, Failed>> + Send + 'static,
    {
        self.pool.run(f)
    }

    /// Runs `write` in one transaction that first checks this writer's fence (the lease,
    /// if it holds one) and commits only if `write` succeeds: every write of the port goes
    /// through here, so none can skip the fence.
    fn write<T, F>(&self, write: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t Tx<'t>, &'t FenceArgs) -> Written<'t, T> + Send + 'static,
    {
        let fence = self.fence_args()?;
        self.with(move |mut c| async move {
            let tx = c.transaction().await?;
            fenced(&tx, &fence).await?;
            let out = write(&tx, &fence).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    fn writable_scope(&self, what: &'static str) -> Result<i64, StateError> {
        match self.scope_id {
            Some(id) if !self.read_only => Ok(id),
            _ => Err(StateError::ReadOnly { what }),
        }
    }

    fn corrupt(&self, detail: String) -> StateError {
        StateError::Corrupt {
            path: self.shown.clone(),
            detail,
        }
    }

    fn requests_where(
        &self,
        operation: Option<&str>,
        unsettled: bool,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        let operation = operation.map(str::to_owned);
        let rows = self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT q.id, q.run_id, q.idempotency_key, q.operation, q.body,
                            q.items_json, q.outcome
                     FROM sheetsync.requests q JOIN sheetsync.runs r ON r.run_id = q.run_id
                     WHERE r.scope_id = $1
                       AND ($2::text IS NULL OR q.operation = $2)
                       AND (NOT $3 OR q.outcome IS NULL)
                     ORDER BY q.id",
                    &[&scope_id, &operation, &unsettled],
                )
                .await?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| {
                rows::journaled_request((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                ))
            })
            .collect())
    }
}

impl StateStore for PgState {
    fn path(&self) -> &Path {
        &self.shown
    }

    fn load_baseline(&self) -> Result<Baseline, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Baseline::new());
        };
        let rows: Vec<rows::BaselineRow> = self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT sku, field, location, kind, value FROM sheetsync.baseline
                     WHERE scope_id = $1",
                    &[&scope_id],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect())
        })?;
        rows::baseline_from_rows(rows).map_err(|d| self.corrupt(d))
    }

    fn set_baseline(
        &mut self,
        entries: &[(Sku, FieldKey, Option<Value>)],
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a baseline")?;
        // One statement over arrays, so one row per key (`rows::baseline_rows`).
        let mut cols: [Vec<Option<String>>; 5] = Default::default();
        for (sku, field, location, kind, text) in rows::baseline_rows(entries) {
            cols[0].push(Some(sku));
            cols[1].push(Some(field));
            cols[2].push(Some(location));
            cols[3].push(kind);
            cols[4].push(text);
        }
        self.write(move |tx, _| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO sheetsync.baseline (scope_id, sku, field, location, kind, value)
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                                          $6::text[])
                 ON CONFLICT (scope_id, sku, field, location)
                 DO UPDATE SET kind = excluded.kind, value = excluded.value",
                    &[&scope_id, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4]],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn begin_run(
        &mut self,
        run_id: &str,
        started_at: &str,
        command: &str,
        dry_run: bool,
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a run")?;
        let (run_id, started_at, command) =
            (run_id.to_owned(), started_at.to_owned(), command.to_owned());
        self.write(move |tx, fence| {
            Box::pin(async move {
                let (holder, epoch) = match &fence {
                    Some((_, h, e)) => (Some(h.clone()), Some(*e)),
                    None => (None, None),
                };
                tx.execute(
                    "INSERT INTO sheetsync.runs
                     (run_id, scope_id, command, started_at, dry_run, holder, epoch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &run_id,
                        &scope_id,
                        &command,
                        &started_at,
                        &dry_run,
                        &holder,
                        &epoch,
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn finish_run(
        &mut self,
        run_id: &str,
        finished_at: &str,
        exit_code: i32,
        summary: &serde_json::Value,
        report_json: &str,
        rows: &[JournalRow],
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a run")?;
        let (run_id, finished_at, summary, report_json) = (
            run_id.to_owned(),
            finished_at.to_owned(),
            summary.to_string(),
            report_json.to_owned(),
        );
        let mut seq: Vec<i32> = Vec::with_capacity(rows.len());
        let mut row_no: Vec<i64> = Vec::with_capacity(rows.len());
        let mut text: [Vec<Option<String>>; 13] = Default::default();
        for (i, r) in rows.iter().enumerate() {
            seq.push(i32::try_from(i).unwrap_or(i32::MAX));
            row_no.push(i64::from(r.row));
            for (col, cell) in text.iter_mut().zip(rows::journal_text(r)) {
                col.push(cell);
            }
        }
        self.write(move |tx, _| {
            Box::pin(async move {
                let updated = tx
                    .execute(
                        "UPDATE sheetsync.runs SET finished_at = $3, exit_code = $4,
                            summary_json = $5, report_json = $6, rows_recorded = true
                     WHERE run_id = $1 AND scope_id = $2",
                        &[
                            &run_id,
                            &scope_id,
                            &finished_at,
                            &exit_code,
                            &summary,
                            &report_json,
                        ],
                    )
                    .await?;
                if updated == 0 {
                    return Err(Failed::State(StateError::UnknownRun { run_id }));
                }
                // A run finished twice (never today) keeps its last rows only.
                tx.execute(
                    "DELETE FROM sheetsync.run_rows WHERE run_id = $1",
                    &[&run_id],
                )
                .await?;
                tx.execute(
                    "INSERT INTO sheetsync.run_rows (run_id, seq, \"row\", kind, sku, field,
                    location, from_kind, from_value, to_kind, to_value, status, error, note,
                    created, product)
                 SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[],
                    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                    $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])",
                    &[
                        &run_id, &seq, &row_no, &text[0], &text[1], &text[2], &text[3], &text[4],
                        &text[5], &text[6], &text[7], &text[8], &text[9], &text[10], &text[11],
                        &text[12],
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with(move |c| async move {
            Ok(c.query(
                "SELECT run_id, command, started_at, finished_at, dry_run, exit_code,
                        summary_json
                 FROM sheetsync.runs WHERE scope_id = $1
                 ORDER BY started_at DESC, seq DESC LIMIT $2",
                &[&scope_id, &limit],
            )
            .await?)
        })?;
        rows.into_iter()
            .map(|r| {
                rows::run_row((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                ))
                .map_err(|d| self.corrupt(d))
            })
            .collect()
    }

    fn run_report(&self, run_id: &str) -> Result<Option<String>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(None);
        };
        let run_id = run_id.to_owned();
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT report_json FROM sheetsync.runs
                     WHERE run_id = $1 AND scope_id = $2",
                    &[&run_id, &scope_id],
                )
                .await?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    fn run_rows(&self, run_id: &str) -> Result<Option<Vec<JournalRow>>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(None);
        };
        let id = run_id.to_owned();
        let rows = self.with(move |c| async move {
            let recorded = c
                .query_opt(
                    "SELECT rows_recorded FROM sheetsync.runs
                     WHERE run_id = $1 AND scope_id = $2 AND finished_at IS NOT NULL",
                    &[&id, &scope_id],
                )
                .await?
                .map(|r| r.get::<_, bool>(0));
            if recorded != Some(true) {
                return Ok(None);
            }
            let rows = c
                .query(
                    "SELECT \"row\", kind, sku, field, location, from_kind, from_value,
                            to_kind, to_value, status, error, note, created, product
                     FROM sheetsync.run_rows WHERE run_id = $1 ORDER BY seq",
                    &[&id],
                )
                .await?;
            Ok(Some(rows))
        })?;
        let Some(rows) = rows else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut text = rows::JournalText::default();
            for (i, cell) in text.iter_mut().enumerate() {
                *cell = r.get(1 + i);
            }
            out.push(
                rows::journal_row(i64::from(r.get::<_, i32>(0)), text)
                    .map_err(|d| self.corrupt(format!("run {run_id}: {d}")))?,
            );
        }
        Ok(Some(out))
    }

    fn journal_request(
        &mut self,
        run_id: &str,
        key: &str,
        operation: &str,
        body: &[u8],
        items_json: &str,
    ) -> Result<i64, StateError> {
        let scope_id = self.writable_scope("a request")?;
        let (run_id, key, operation, body, items_json) = (
            run_id.to_owned(),
            key.to_owned(),
            operation.to_owned(),
            body.to_vec(),
            items_json.to_owned(),
        );
        self.write(move |tx, fence| {
            Box::pin(async move {
                let epoch = fence.as_ref().map(|(_, _, e)| *e);
                let row = tx
                    .query_opt(
                        "INSERT INTO sheetsync.requests
                         (run_id, idempotency_key, operation, body, items_json, epoch)
                     SELECT $1, $2, $3, $4, $5, $7
                     WHERE EXISTS (SELECT 1 FROM sheetsync.runs
                                   WHERE run_id = $1 AND scope_id = $6)
                     RETURNING id",
                        &[
                            &run_id,
                            &key,
                            &operation,
                            &body,
                            &items_json,
                            &scope_id,
                            &epoch,
                        ],
                    )
                    .await?;
                let Some(row) = row else {
                    return Err(Failed::State(StateError::UnknownRun { run_id }));
                };
                Ok(row.get(0))
            })
        })
    }

    fn settle_request(
        &mut self,
        id: i64,
        outcome: Outcome,
        response_json: &str,
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a request outcome")?;
        let response_json = response_json.to_owned();
        let outcome = outcome.as_str();
        self.write(move |tx, _| {
            Box::pin(async move {
                let updated = tx
                    .execute(
                        "UPDATE sheetsync.requests SET outcome = $2, response_json = $3
                     WHERE id = $1
                       AND run_id IN (SELECT run_id FROM sheetsync.runs WHERE scope_id = $4)",
                        &[&id, &outcome, &response_json, &scope_id],
                    )
                    .await?;
                if updated == 0 {
                    return Err(Failed::State(StateError::UnknownRequest { id }));
                }
                Ok(())
            })
        })
    }

    fn note_request(&mut self, id: i64, response_json: &str) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a request note")?;
        let response_json = response_json.to_owned();
        self.write(move |tx, _| {
            Box::pin(async move {
                let updated = tx
                    .execute(
                        "UPDATE sheetsync.requests SET response_json = $2
                     WHERE id = $1 AND outcome IS NULL
                       AND run_id IN (SELECT run_id FROM sheetsync.runs WHERE scope_id = $3)",
                        &[&id, &response_json, &scope_id],
                    )
                    .await?;
                if updated == 0 {
                    return Err(Failed::State(StateError::UnknownRequest { id }));
                }
                Ok(())
            })
        })
    }

    fn unsettled_requests(&self) -> Result<Vec<JournaledRequest>, StateError> {
        self.requests_where(None, true).map(rows::requests_only)
    }

    fn journaled_bodies(&self, operation: &str) -> Result<Vec<Vec<u8>>, StateError> {
        Ok(self
            .requests_where(Some(operation), false)?
            .into_iter()
            .map(|(r, _)| r.body)
            .collect())
    }

    fn journal_entries(
        &self,
        operation: &str,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError> {
        self.requests_where(Some(operation), false)
    }

    fn check_writer(&self) -> Result<(), StateError> {
        if self.fence.is_none() {
            return Ok(());
        }
        // The fenced transaction with nothing in it: the check is the write.
        self.write(|_, _| Box::pin(async { Ok(()) }))
    }

    // Tokens never go to the shared database: they stay in the local SQLite state.

    fn get_token(&self, name: &str) -> Result<Option<CachedToken>, StateError> {
        match State::open_read_only(&self.token_dir, &self.scope)? {
            Some(local) => local.get_token(name),
            None => Ok(None),
        }
    }

    fn put_token(
        &mut self,
        name: &str,
        value: &Secret,
        expires_at: Option<&str>,
    ) -> Result<(), StateError> {
        if self.read_only {
            return Err(StateError::ReadOnly { what: "a token" });
        }
        State::open(&self.token_dir, &self.scope)?.put_token(name, value, expires_at)
    }

    fn delete_token(&mut self, name: &str) -> Result<(), StateError> {
        if self.read_only {
            return Err(StateError::ReadOnly { what: "a token" });
        }
        State::open(&self.token_dir, &self.scope)?.delete_token(name)
    }
}

/// Creates or upgrades the shared schema (`fleet migrate`); returns what it did and
/// whether the connection is encrypted.
pub async fn migrate_schema(url: &str) -> Result<(migrate::Migrated, bool), StateError> {
    let target = Target::parse(url)?;
    let mut client = target.connect().await?;
    let done = migrate::migrate(&mut client, &target.shown).await?;
    let tls = client
        .query_opt(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| StateError::postgres(&target.shown, e))?
        .is_some_and(|r| r.get::<_, bool>(0));
    Ok((done, tls))
}
