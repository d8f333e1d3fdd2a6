//! `fleet import --from STATE_DIR` (SPEC §9): a machine's SQLite baseline and history
//! (runs, their typed rows, the request journal; never tokens) moved into the shared
//! state, one transaction per scope.
//!
//! Per scope, under the local writer lock (no local run may change it meanwhile) and the
//! shared lease row locked (no writer may take the lease meanwhile; a live lease refuses):
//! - the shared state has no runs and no baseline for the scope: everything is copied;
//! - its runs are all local runs (an earlier import): the missing runs are added and the
//!   baseline replaced when it differs, so a second import changes nothing;
//! - it has runs this machine never made (another writer's history): refused, since the
//!   two baselines have diverged and only one can be the truth. With `merge_history`, the
//!   local runs it lacks are added for `runs`/`revert` and the shared baseline is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::admin::Shared;
use crate::state::export::{self, ScopeHistory};
use crate::state::{Scope, State, StateError, WriterLock};

/// A baseline as stored: (SKU, field, location) → (kind, value).
type Baseline = BTreeMap<(String, String, String), (Option<String>, Option<String>)>;

/// What happened to one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported {
        runs: usize,
        requests: usize,
        baseline: usize,
    },
    Unchanged,
    /// The shared state holds runs this machine did not make (their count).
    Refused {
        foreign_runs: usize,
    },
    /// A writer holds the scope's lease right now.
    Leased {
        holder: String,
    },
}

/// Imports every scope of `dir`; one result per scope, in the local database's order.
pub async fn import(
    shared: &mut Shared,
    dir: &Path,
    merge_history: bool,
) -> Result<Vec<(Scope, Outcome)>, StateError> {
    let mut out = Vec::new();
    for scope in export::scopes(dir)? {
        let _lock = WriterLock::acquire(dir, &scope, "sheetsync fleet import")?;
        let local = State::open(dir, &scope)?;
        let history = export::history(&local)?;
        drop(local);
        let outcome = import_scope(shared, &scope, &history, merge_history).await?;
        out.push((scope, outcome));
    }
    Ok(out)
}

async fn import_scope(
    shared: &mut Shared,
    scope: &Scope,
    h: &ScopeHistory,
    merge_history: bool,
) -> Result<Outcome, StateError> {
    let shown = shared.shown.clone();
    let pe = |e| StateError::postgres(&shown, e);
    let tx = shared.client.transaction().await.map_err(pe)?;
    tx.execute(
        "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        &[&scope.shop, &scope.spreadsheet_id, &scope.tab],
    )
    .await
    .map_err(pe)?;
    let scope_id: i64 = tx
        .query_one(
            "SELECT id FROM sheetsync.scopes WHERE shop = $1 AND spreadsheet_id = $2 AND tab = $3",
            &[&scope.shop, &scope.spreadsheet_id, &scope.tab],
        )
        .await
        .map_err(pe)?
        .get(0);
    // The lease row, locked to our commit: a writer's grant waits for the import.
    tx.execute(
        "INSERT INTO sheetsync.leases (scope_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&scope_id],
    )
    .await
    .map_err(pe)?;
    let lease = tx
        .query_one(
            "SELECT CASE WHEN expires_at > now() THEN holder END FROM sheetsync.leases
             WHERE scope_id = $1 FOR UPDATE",
            &[&scope_id],
        )
        .await
        .map_err(pe)?;
    if let Some(holder) = lease.get::<_, Option<String>>(0) {
        tx.rollback().await.map_err(pe)?;
        return Ok(Outcome::Leased { holder });
    }

    let shared_runs: BTreeSet<String> = tx
        .query(
            "SELECT run_id FROM sheetsync.runs WHERE scope_id = $1",
            &[&scope_id],
        )
        .await
        .map_err(pe)?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let local_runs: BTreeSet<&str> = h.runs.iter().map(|r| r.run_id.as_str()).collect();
    let foreign_runs = shared_runs
        .iter()
        .filter(|r| !local_runs.contains(r.as_str()))
        .count();
    let shared_baseline: Baseline = tx
        .query(
            "SELECT sku, field, location, kind, value FROM sheetsync.baseline
             WHERE scope_id = $1",
            &[&scope_id],
        )
        .await
        .map_err(pe)?
        .into_iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), (r.get(3), r.get(4))))
        .collect();
    let local_baseline: Baseline = h
        .baseline
        .iter()
        .cloned()
        .map(|(s, f, l, k, v)| ((s, f, l), (k, v)))
        .collect();
    // A baseline with no runs behind it came from somewhere else too.
    let foreign = foreign_runs > 0
        || (shared_runs.is_empty()
            && !shared_baseline.is_empty()
            && shared_baseline != local_baseline);
    if foreign && !merge_history {
        tx.rollback().await.map_err(pe)?;
        return Ok(Outcome::Refused {
            foreign_runs: foreign_runs.max(1),
        });
    }

    let new_runs: Vec<_> = h
        .runs
        .iter()
        .filter(|r| !shared_runs.contains(&r.run_id))
        .collect();
    let new_ids: BTreeSet<&str> = new_runs.iter().map(|r| r.run_id.as_str()).collect();
    for r in &new_runs {
        // run_id is the shared table's key across scopes: one taken by another scope is
        // an error here (the insert fails) rather than a silent merge.
        tx.execute(
            "INSERT INTO sheetsync.runs (run_id, scope_id, command, started_at, finished_at,
                 dry_run, exit_code, summary_json, report_json, rows_recorded)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &r.run_id,
                &scope_id,
                &r.command,
                &r.started_at,
                &r.finished_at,
                &r.dry_run,
                &r.exit_code,
                &r.summary_json,
                &r.report_json,
                &r.rows_recorded,
            ],
        )
        .await
        .map_err(pe)?;
    }
    let mut requests = 0;
    for q in h
        .requests
        .iter()
        .filter(|q| new_ids.contains(q.run_id.as_str()))
    {
        tx.execute(
            "INSERT INTO sheetsync.requests (run_id, idempotency_key, operation, body,
                 items_json, outcome, response_json)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &q.run_id,
                &q.idempotency_key,
                &q.operation,
                &q.body,
                &q.items_json,
                &q.outcome,
                &q.response_json,
            ],
        )
        .await
        .map_err(pe)?;
        requests += 1;
    }
    for (run_id, seq, row, t) in h
        .run_rows
        .iter()
        .filter(|(id, ..)| new_ids.contains(id.as_str()))
    {
        tx.execute(
            "INSERT INTO sheetsync.run_rows (run_id, seq, \"row\", kind, sku, field, location,
                 from_kind, from_value, to_kind, to_value, status, error, note, created,
                 product)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            &[
                run_id,
                seq,
                &i32::try_from(*row).unwrap_or(i32::MAX),
                &t[0],
                &t[1],
                &t[2],
                &t[3],
                &t[4],
                &t[5],
                &t[6],
                &t[7],
                &t[8],
                &t[9],
                &t[10],
                &t[11],
                &t[12],
            ],
        )
        .await
        .map_err(pe)?;
    }
    let replace_baseline = !foreign && shared_baseline != local_baseline;
    if replace_baseline {
        tx.execute(
            "DELETE FROM sheetsync.baseline WHERE scope_id = $1",
            &[&scope_id],
        )
        .await
        .map_err(pe)?;
        for (sku, field, location, kind, value) in &h.baseline {
            tx.execute(
                "INSERT INTO sheetsync.baseline (scope_id, sku, field, location, kind, value)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&scope_id, sku, field, location, kind, value],
            )
            .await
            .map_err(pe)?;
        }
    }
    tx.commit().await.map_err(pe)?;
    if new_runs.is_empty() && !replace_baseline {
        return Ok(Outcome::Unchanged);
    }
    Ok(Outcome::Imported {
        runs: new_runs.len(),
        requests,
        baseline: if replace_baseline {
            h.baseline.len()
        } else {
            0
        },
    })
}
