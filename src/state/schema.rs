//! Schema migrations, tracked in `PRAGMA user_version`: migration `i` (0-based) takes the
//! database from version `i` to `i + 1`. Append new migrations; never edit a shipped one.

use rusqlite::{Connection, TransactionBehavior};

/// Every table is keyed, directly or through `runs`, by a row of `scopes`, so one state
/// dir can serve several configs. A baseline `location` of '' means "no location"
/// (SQLite treats NULLs in a key as distinct, which would defeat the upsert); `kind` is
/// NULL exactly when the agreed value is empty.
///
/// Version 2 keeps each finished run's changes and pulled cells as typed rows
/// (`run_rows`, values tagged as in `baseline`), so `revert` never has to parse the stored
/// report back. `runs.rows_recorded` tells a run recorded with its rows (even none) from
/// one recorded before version 2, whose stored report is then the only source.
pub(super) const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE scopes (
    id INTEGER PRIMARY KEY,
    shop TEXT NOT NULL,
    spreadsheet_id TEXT NOT NULL,
    tab TEXT NOT NULL,
    UNIQUE (shop, spreadsheet_id, tab)
) STRICT;

CREATE TABLE baseline (
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    sku TEXT NOT NULL,
    field TEXT NOT NULL,
    location TEXT NOT NULL,
    kind TEXT CHECK (kind IN ('qty', 'money', 'text')),
    value TEXT,
    CHECK ((kind IS NULL) = (value IS NULL)),
    PRIMARY KEY (scope_id, sku, field, location)
) STRICT, WITHOUT ROWID;

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    dry_run INTEGER NOT NULL,
    exit_code INTEGER,
    summary_json TEXT,
    report_json TEXT
) STRICT;
CREATE INDEX runs_newest ON runs (scope_id, started_at);

CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    idempotency_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    body BLOB NOT NULL,
    items_json TEXT NOT NULL,
    outcome TEXT CHECK (outcome IN ('applied', 'failed', 'skipped')),
    response_json TEXT
) STRICT;
CREATE INDEX requests_unsettled ON requests (run_id) WHERE outcome IS NULL;

CREATE TABLE tokens (
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (scope_id, name)
) STRICT;
",
    "
ALTER TABLE runs ADD COLUMN rows_recorded INTEGER NOT NULL DEFAULT 0;

CREATE TABLE run_rows (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('change', 'pulled')),
    sku TEXT NOT NULL,
    row INTEGER NOT NULL,
    field TEXT NOT NULL,
    location TEXT NOT NULL,
    from_kind TEXT CHECK (from_kind IN ('qty', 'money', 'text')),
    from_value TEXT,
    to_kind TEXT CHECK (to_kind IN ('qty', 'money', 'text')),
    to_value TEXT,
    status TEXT CHECK (status IN ('planned', 'applied', 'failed', 'skipped')),
    error TEXT,
    note TEXT,
    created TEXT CHECK (created IN ('product', 'variant')),
    product TEXT NOT NULL,
    CHECK ((from_kind IS NULL) = (from_value IS NULL)),
    CHECK ((to_kind IS NULL) = (to_value IS NULL)),
    PRIMARY KEY (run_id, seq)
) STRICT;
",
];

/// The schema version this build reads and writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema up to [`CURRENT_VERSION`]. Each step commits with its version bump,
/// under an immediate transaction so two processes cannot migrate at once. Returns the
/// version found, so a caller can refuse one newer than it knows.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        let Some(step) = usize::try_from(found).ok().and_then(|v| MIGRATIONS.get(v)) else {
            return Ok(found);
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}
