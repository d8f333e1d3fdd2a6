//! Everything the local SQLite state holds for one scope except its tokens, as plain rows:
//! what `fleet import` moves into the shared state. Reads only; the caller holds the
//! scope's writer lock so that no run changes the history while it is read.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{DB_FILE, Scope, State, StateError};

pub use super::rows::BaselineRow;

/// One run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunExport {
    pub run_id: String,
    pub command: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub dry_run: bool,
    pub exit_code: Option<i32>,
    pub summary_json: Option<String>,
    pub report_json: Option<String>,
    pub rows_recorded: bool,
}

/// One journaled request as stored (its local id only orders them).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestExport {
    pub run_id: String,
    pub idempotency_key: String,
    pub operation: String,
    pub body: Vec<u8>,
    pub items_json: String,
    pub outcome: Option<String>,
    pub response_json: Option<String>,
}

/// One typed run row: (run_id, seq, row) and its 13 text columns in the shared schema's
/// order (kind, sku, field, location, from_kind, from_value, to_kind, to_value, status,
/// error, note, created, product).
pub type RunRowExport = (String, i32, i64, [Option<String>; 13]);

/// A scope's history, tokens left out.
#[derive(Debug, Clone, Default)]
pub struct ScopeHistory {
    pub baseline: Vec<BaselineRow>,
    /// Oldest first.
    pub runs: Vec<RunExport>,
    pub requests: Vec<RequestExport>,
    pub run_rows: Vec<RunRowExport>,
}

/// The scopes a state dir's database knows, or none without a database.
pub fn scopes(dir: &Path) -> Result<Vec<Scope>, StateError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let sq = |e| StateError::sqlite(&path, e);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sq)?;
    if super::schema::version(&conn).map_err(sq)? == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT shop, spreadsheet_id, tab FROM scopes ORDER BY id")
        .map_err(sq)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Scope {
                shop: r.get(0)?,
                spreadsheet_id: r.get(1)?,
                tab: r.get(2)?,
            })
        })
        .map_err(sq)?;
    rows.collect::<Result<_, _>>().map_err(sq)
}

/// Reads the history of the scope `state` was opened for (an open writer's state, so
/// the schema is current).
pub fn history(state: &State) -> Result<ScopeHistory, StateError> {
    let Some(scope_id) = state.scope_id else {
        return Ok(ScopeHistory::default());
    };
    Ok(ScopeHistory {
        baseline: all(
            state,
            scope_id,
            "SELECT sku, field, location, kind, value FROM baseline WHERE scope_id = ?1",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?,
        runs: all(
            state,
            scope_id,
            "SELECT run_id, command, started_at, finished_at, dry_run, exit_code,
                    summary_json, report_json, rows_recorded
             FROM runs WHERE scope_id = ?1 ORDER BY started_at, rowid",
            |r| {
                Ok(RunExport {
                    run_id: r.get(0)?,
                    command: r.get(1)?,
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    dry_run: r.get::<_, i64>(4)? != 0,
                    exit_code: r.get(5)?,
                    summary_json: r.get(6)?,
                    report_json: r.get(7)?,
                    rows_recorded: r.get::<_, i64>(8)? != 0,
                })
            },
        )?,
        requests: all(
            state,
            scope_id,
            "SELECT q.run_id, q.idempotency_key, q.operation, q.body, q.items_json,
                    q.outcome, q.response_json
             FROM requests q JOIN runs r ON r.run_id = q.run_id
             WHERE r.scope_id = ?1 ORDER BY q.id",
            |r| {
                Ok(RequestExport {
                    run_id: r.get(0)?,
                    idempotency_key: r.get(1)?,
                    operation: r.get(2)?,
                    body: r.get(3)?,
                    items_json: r.get(4)?,
                    outcome: r.get(5)?,
                    response_json: r.get(6)?,
                })
            },
        )?,
        run_rows: all(
            state,
            scope_id,
            "SELECT x.run_id, x.seq, x.row, x.kind, x.sku, x.field, x.location, x.from_kind,
                    x.from_value, x.to_kind, x.to_value, x.status, x.error, x.note,
                    x.created, x.product
             FROM run_rows x JOIN runs r ON r.run_id = x.run_id
             WHERE r.scope_id = ?1 ORDER BY x.run_id, x.seq",
            |r| {
                let mut text: [Option<String>; 13] = Default::default();
                for (i, cell) in text.iter_mut().enumerate() {
                    *cell = r.get(3 + i)?;
                }
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, text))
            },
        )?,
    })
}

/// Every row of one query over the scope `scope_id` (its `?1`), read by `f`.
fn all<T>(
    state: &State,
    scope_id: i64,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StateError> {
    let sq = |e| StateError::sqlite(&state.path, e);
    let mut stmt = state.conn.prepare(sql).map_err(sq)?;
    let rows = stmt.query_map([scope_id], f).map_err(sq)?;
    rows.collect::<Result<_, _>>().map_err(sq)
}
