//! Embedded SQLite state in `state_dir` (DESIGN "Local state", SPEC §4.4, §4.7, §4.9,
//! §4.10): the baseline of last agreed values, the run journal, the request journal that
//! makes a crashed run resumable, the token cache, and the one-writer lock.
//!
//! Everything is keyed by a [`Scope`] (shop, spreadsheet, tab), so one state dir can serve
//! several configs. Writers call [`State::open`], which creates the dir (0700) and the file
//! (0600) and migrates the schema; a dry run calls [`State::open_read_only`], which creates
//! nothing, not even SQLite's `-wal`/`-shm` side files, and finds no state when there is
//! none yet.
//!
//! The API is synchronous on purpose: each call is a short statement or transaction that
//! ends before it returns, so no transaction is ever held across an `.await`. Async code
//! calls it directly between awaits (or through `spawn_blocking` if a call could wait on
//! the busy timeout); one `State` owns one connection and belongs to one task at a time.

mod error;
pub mod export;
mod lock;
pub mod postgres;
mod rows;
mod schema;

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

pub use error::StateError;
pub use lock::WriterLock;

use crate::model::Secret;
use crate::model::{FieldKey, Sku, Value};
use crate::plan::Baseline;

/// The database file inside the state dir.
pub const DB_FILE: &str = "state.sqlite3";

/// How long a statement waits for another process's write to finish. Writers are
/// serialised by [`WriterLock`], so only readers (dry runs, `runs`) ever wait, briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one config syncs: the state of one scope never leaks into another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub shop: String,
    pub spreadsheet_id: String,
    pub tab: String,
}

impl Scope {
    pub fn new(shop: &str, spreadsheet_id: &str, tab: &str) -> Scope {
        Scope {
            shop: shop.to_owned(),
            spreadsheet_id: spreadsheet_id.to_owned(),
            tab: tab.to_owned(),
        }
    }

    /// The scope a config works in: its shop, spreadsheet and tab.
    pub fn of(config: &crate::config::Config) -> Scope {
        Scope::new(
            config.shop_name(),
            &config.sheet.spreadsheet_id,
            &config.sheet.tab,
        )
    }

    /// A stable name for per-scope files (the lock): FNV-1a over the length-prefixed
    /// parts, because std's hashers promise no stability across Rust releases.
    fn hash_hex(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [&self.shop, &self.spreadsheet_id, &self.tab] {
            let len = (part.len() as u64).to_le_bytes();
            for b in len.iter().chain(part.as_bytes()) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    }
}

/// One run of the journal, as `runs --json` prints it (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run_id: String,
    /// The command that ran (`sync`, `pull`, `revert`…), for the human listing.
    #[serde(skip)]
    pub command: String,
    pub started_at: String,
    /// `None` while the run is going, or when it died before finishing.
    pub finished_at: Option<String>,
    pub dry_run: bool,
    pub exit_code: Option<i32>,
    /// The report's `summary` object; `null` for an unfinished run.
    pub summary: serde_json::Value,
}

/// How a journaled request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Failed,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    /// The outcome [`Outcome::as_str`] stored, or `None` for a name this version does
    /// not know.
    pub fn from_name(name: &str) -> Option<Outcome> {
        match name {
            "applied" => Some(Outcome::Applied),
            "failed" => Some(Outcome::Failed),
            "skipped" => Some(Outcome::Skipped),
            _ => None,
        }
    }
}

/// A store request recorded before it was sent and not known to have settled (a crash, or
/// an answer lost whose re-read failed too): the next writer settles it by re-reading its
/// items (`apply::recover`), never by resending `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledRequest {
    pub id: i64,
    pub run_id: String,
    pub key: String,
    pub operation: String,
    pub body: Vec<u8>,
    /// The plan items the request carries, as the executor serialised them.
    pub items_json: String,
}

/// Which list of a run's report a [`JournalRow`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A change to the store (`changes[]`).
    Change,
    /// A store value copied into the sheet (`pulled[]`).
    Pulled,
}

impl RowKind {
    fn as_str(self) -> &'static str {
        match self {
            RowKind::Change => "change",
            RowKind::Pulled => "pulled",
        }
    }
}

/// Where a journaled change ended (the report's four statuses, SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Planned,
    Applied,
    Failed,
    Skipped,
}

impl RowStatus {
    fn as_str(self) -> &'static str {
        match self {
            RowStatus::Planned => "planned",
            RowStatus::Applied => "applied",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
        }
    }

    fn from_name(name: &str) -> Option<RowStatus> {
        Some(match name {
            "planned" => RowStatus::Planned,
            "applied" => RowStatus::Applied,
            "failed" => RowStatus::Failed,
            "skipped" => RowStatus::Skipped,
            _ => return None,
        })
    }
}

/// What the product or variant of a change was created with (`sync.create_missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Product,
    Variant,
}

impl Created {
    pub fn as_str(self) -> &'static str {
        match self {
            Created::Product => "product",
            Created::Variant => "variant",
        }
    }

    pub fn from_name(name: &str) -> Option<Created> {
        match name {
            "product" => Some(Created::Product),
            "variant" => Some(Created::Variant),
            _ => None,
        }
    }
}

/// One change or pulled cell of a finished run, typed, as the journal keeps it: what
/// `revert` reads, so no change to the report's output format can break reverting a run
/// recorded earlier.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRow {
    pub kind: RowKind,
    pub sku: Sku,
    pub row: u32,
    pub key: FieldKey,
    pub from: Option<Value>,
    pub to: Option<Value>,
    /// `None` on a pulled cell of a dry run (no write-back happened).
    pub status: Option<RowStatus>,
    pub error: Option<String>,
    pub note: Option<String>,
    pub created: Option<Created>,
    /// The product's title, for the human report.
    pub product: String,
}

/// A cached access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    pub value: Secret,
    /// RFC 3339, as the caller stored it; `None` for tokens that do not expire.
    pub expires_at: Option<String>,
}

/// The open state of one scope. Writes through a read-only state fail with
/// [`StateError::ReadOnly`].
#[derive(Debug)]
pub struct State {
    conn: Connection,
    path: PathBuf,
    /// `None` only on a read-only state whose scope has never been written: every read
    /// is then empty.
    scope_id: Option<i64>,
    read_only: bool,
}

impl State {
    /// Opens (creating if needed) the state for a writer. The caller should hold the
    /// [`WriterLock`] for `scope` first.
    pub fn open(dir: &Path, scope: &Scope) -> Result<State, StateError> {
        create_state_dir(dir)?;
        let path = dir.join(DB_FILE);
        create_db_file(&path)?;
        let sq = |e| StateError::sqlite(&path, e);
        // No SQLITE_OPEN_CREATE: the file exists with our permissions; no URI parsing of
        // a user-chosen path either.
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sq)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sq)?;
        // WAL lets readers (dry runs, `runs`) read while a writer writes. A file system
        // without shared memory keeps the old journal mode, which is still correct.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sq)?;
        // The request journal must be on disk before the request leaves.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sq)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(sq)?;
        let found = schema::migrate(&mut conn).map_err(sq)?;
        check_version(&path, found)?;
        conn.execute(
            "INSERT INTO scopes (shop, spreadsheet_id, tab) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![scope.shop, scope.spreadsheet_id, scope.tab],
        )
        .map_err(sq)?;
        let scope_id = lookup_scope(&conn, scope).map_err(sq)?;
        Ok(State {
            conn,
            path,
            scope_id,
            read_only: false,
        })
    }

    /// Opens the state for reading only (dry run, `runs`), or `None` when there is no
    /// state yet. Creates nothing and takes no lock.
    ///
    /// With no `-wal`/`-shm` beside the database, no writer is running and everything is
    /// in the main file, which is opened `immutable` so SQLite does not create side files.
    /// With both present, a writer is running (or died): the database is opened read-only
    /// through them, to see its latest commits. With only one present (someone deleted
    /// the other), SQLite would have to create the missing one, so the main file is read
    /// alone: it may then lag behind the last run, which a preview can afford.
    pub fn open_read_only(dir: &Path, scope: &Scope) -> Result<Option<State>, StateError> {
        let path = dir.join(DB_FILE);
        match std::fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        }
        let sq = |e| StateError::sqlite(&path, e);
        let live = side_file(&path, "-wal").exists() && side_file(&path, "-shm").exists();
        let conn = if live {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        } else {
            Connection::open_with_flags(
                immutable_uri(&path)?,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
        }
        .map_err(sq)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sq)?;
        let found = schema::version(&conn).map_err(sq)?;
        if found == 0 {
            // Created but never migrated (a writer died at once): no state yet.
            return Ok(None);
        }
        check_version(&path, found)?;
        if found < schema::CURRENT_VERSION {
            return Err(StateError::NeedsUpgrade {
                path,
                found,
                supported: schema::CURRENT_VERSION,
            });
        }
        let scope_id = lookup_scope(&conn, scope).map_err(sq)?;
        Ok(Some(State {
            conn,
            path,
            scope_id,
            read_only: true,
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn sq(&self) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        |e| StateError::sqlite(&self.path, e)
    }

    fn corrupt(&self, detail: String) -> StateError {
        StateError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    fn writable_scope(&self, what: &'static str) -> Result<i64, StateError> {
        match self.scope_id {
            Some(id) if !self.read_only => Ok(id),
            _ => Err(StateError::ReadOnly { what }),
        }
    }

    /// The requests (and outcomes) a query of [`rows::RequestColumns`] finds.
    fn requests(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(self.sq())?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(rows::journaled_request((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                )))
            })
            .map_err(self.sq())?;
        rows.map(|r| r.map_err(self.sq())).collect()
    }
}

/// The state port: what the engine, `apply`, `pull` and `revert` need of the state,
/// written as they use it and no wider. [`State`] (SQLite) is its first backend; open one
/// with [`open_writer`] / [`open_reader`]. Calls are synchronous and each ends its own
/// transaction before it returns, so none is held across an `.await`; one store belongs
/// to one task at a time (`Send`, not `Sync`). The writer lock ([`WriterLock`]) stays
/// outside it: it is taken before the state is opened, and guards the scope, not a
/// backend.
pub trait StateStore: Send {
    /// The file (or place) the state lives in, for error messages.
    fn path(&self) -> &Path;
    /// The values both sides last agreed on, for this scope.
    fn load_baseline(&self) -> Result<Baseline, StateError>;
    /// Records agreed values (insert or replace), all at once.
    fn set_baseline(
        &mut self,
        entries: &[(Sku, FieldKey, Option<Value>)],
    ) -> Result<(), StateError>;
    /// Records the start of a run.
    fn begin_run(
        &mut self,
        run_id: &str,
        started_at: &str,
        command: &str,
        dry_run: bool,
    ) -> Result<(), StateError>;
    /// Records how a run ended: summary, report and typed rows, all at once.
    fn finish_run(
        &mut self,
        run_id: &str,
        finished_at: &str,
        exit_code: i32,
        summary: &serde_json::Value,
        report_json: &str,
        rows: &[JournalRow],
    ) -> Result<(), StateError>;
    /// Up to `limit` runs of this scope, newest first.
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, StateError>;
    /// The JSON report a finished run stored.
    fn run_report(&self, run_id: &str) -> Result<Option<String>, StateError>;
    /// The typed rows of a finished run; `None` when it has none recorded.
    fn run_rows(&self, run_id: &str) -> Result<Option<Vec<JournalRow>>, StateError>;
    /// Records a store request before it is sent, durably; returns its id.
    fn journal_request(
        &mut self,
        run_id: &str,
        key: &str,
        operation: &str,
        body: &[u8],
        items_json: &str,
    ) -> Result<i64, StateError>;
    /// Records how a journaled request ended.
    fn settle_request(
        &mut self,
        id: i64,
        outcome: Outcome,
        response_json: &str,
    ) -> Result<(), StateError>;
    /// Records what is known of a request still in flight, without settling it.
    fn note_request(&mut self, id: i64, response_json: &str) -> Result<(), StateError>;
    /// Requests journaled but never settled, oldest first.
    fn unsettled_requests(&self) -> Result<Vec<JournaledRequest>, StateError>;
    /// Bodies of this scope's journaled requests of `operation`, oldest first.
    fn journaled_bodies(&self, operation: &str) -> Result<Vec<Vec<u8>>, StateError>;
    /// This scope's journaled requests of `operation` with their outcome, oldest first.
    fn journal_entries(
        &self,
        operation: &str,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError>;
    /// A cached token by name.
    fn get_token(&self, name: &str) -> Result<Option<CachedToken>, StateError>;
    /// Stores or replaces a token, atomically.
    fn put_token(
        &mut self,
        name: &str,
        value: &Secret,
        expires_at: Option<&str>,
    ) -> Result<(), StateError>;
    /// Forgets a token.
    fn delete_token(&mut self, name: &str) -> Result<(), StateError>;
    /// Whether this writer may still write (its shared-state lease is still its own), for
    /// a write that goes elsewhere than the state: the sheet's write-back. Always true
    /// on a backend without leases.
    fn check_writer(&self) -> Result<(), StateError> {
        Ok(())
    }
}

/// The SQLite backend. Its port calls live here and nowhere else (no inherent twins to
/// forward to), so a caller of [`State`] names the trait: `use crate::state::StateStore`.
impl StateStore for State {
    fn path(&self) -> &Path {
        State::path(self)
    }

    // ----- baseline (SPEC §4.4) -----

    /// The values both sides last agreed on, for this scope.
    fn load_baseline(&self) -> Result<Baseline, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Baseline::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sku, field, location, kind, value FROM baseline WHERE scope_id = ?1",
            )
            .map_err(self.sq())?;
        let rows: Vec<rows::BaselineRow> = stmt
            .query_map([scope_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(self.sq())?
            .collect::<Result<_, _>>()
            .map_err(self.sq())?;
        rows::baseline_from_rows(rows).map_err(|d| self.corrupt(d))
    }

    /// Records agreed values (insert or replace), all in one transaction. Location names
    /// are non-empty (config), so '' can stand for "no location".
    fn set_baseline(
        &mut self,
        entries: &[(Sku, FieldKey, Option<Value>)],
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a baseline")?;
        let path = self.path.clone();
        let sq = |e| StateError::sqlite(&path, e);
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO baseline (scope_id, sku, field, location, kind, value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (scope_id, sku, field, location)
                     DO UPDATE SET kind = excluded.kind, value = excluded.value",
                )
                .map_err(sq)?;
            for (sku, field, location, kind, text) in rows::baseline_rows(entries) {
                stmt.execute(params![scope_id, sku, field, location, kind, text])
                    .map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }

    // ----- run journal (SPEC §5 `runs`) -----

    /// Records the start of a run. SPEC §5 journals real runs only; `dry_run` is kept for
    /// callers that journal previews too.
    fn begin_run(
        &mut self,
        run_id: &str,
        started_at: &str,
        command: &str,
        dry_run: bool,
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a run")?;
        self.conn
            .execute(
                "INSERT INTO runs (run_id, scope_id, command, started_at, dry_run)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, scope_id, command, started_at, dry_run],
            )
            .map_err(self.sq())?;
        Ok(())
    }

    /// Records how a run ended, with its summary, full JSON report (`runs show`) and its
    /// changes and pulled cells as typed rows (`revert`), all in one transaction.
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
        let path = self.path.clone();
        let sq = |e| StateError::sqlite(&path, e);
        let tx = self.conn.transaction().map_err(sq)?;
        let updated = tx
            .execute(
                "UPDATE runs SET finished_at = ?3, exit_code = ?4, summary_json = ?5,
                                 report_json = ?6, rows_recorded = 1
                 WHERE run_id = ?1 AND scope_id = ?2",
                params![
                    run_id,
                    scope_id,
                    finished_at,
                    exit_code,
                    summary.to_string(),
                    report_json
                ],
            )
            .map_err(sq)?;
        if updated == 0 {
            return Err(StateError::UnknownRun {
                run_id: run_id.to_owned(),
            });
        }
        {
            // A run finished twice (never today) keeps its last rows only.
            tx.execute("DELETE FROM run_rows WHERE run_id = ?1", [run_id])
                .map_err(sq)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO run_rows (run_id, seq, row, kind, sku, field, location,
                        from_kind, from_value, to_kind, to_value, status, error, note,
                        created, product)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                        ?15, ?16)",
                )
                .map_err(sq)?;
            for (seq, r) in rows.iter().enumerate() {
                let seq = i64::try_from(seq).unwrap_or(i64::MAX);
                let text = rows::journal_text(r);
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&run_id, &seq, &r.row];
                values.extend(text.iter().map(|t| t as &dyn rusqlite::ToSql));
                stmt.execute(values.as_slice()).map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }

    /// The typed rows of finished run `run_id`, in report order; `None` when the run is
    /// unknown, unfinished, or was recorded before the journal kept rows (schema 1).
    fn run_rows(&self, run_id: &str) -> Result<Option<Vec<JournalRow>>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(None);
        };
        let recorded: Option<bool> = self
            .conn
            .query_row(
                "SELECT rows_recorded FROM runs
                 WHERE run_id = ?1 AND scope_id = ?2 AND finished_at IS NOT NULL",
                params![run_id, scope_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sq())?;
        if recorded != Some(true) {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT row, kind, sku, field, location, from_kind, from_value, to_kind,
                        to_value, status, error, note, created, product
                 FROM run_rows WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(self.sq())?;
        let rows = stmt
            .query_map([run_id], |r| {
                let mut text = rows::JournalText::default();
                for (i, cell) in text.iter_mut().enumerate() {
                    *cell = r.get(1 + i)?;
                }
                Ok((i64::from(r.get::<_, u32>(0)?), text))
            })
            .map_err(self.sq())?;
        let mut out = Vec::new();
        for row in rows {
            let (row, text) = row.map_err(self.sq())?;
            out.push(
                rows::journal_row(row, text)
                    .map_err(|d| self.corrupt(format!("run {run_id}: {d}")))?,
            );
        }
        Ok(Some(out))
    }

    /// Up to `limit` runs of this scope, newest first.
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run_id, command, started_at, finished_at, dry_run, exit_code,
                        summary_json
                 FROM runs WHERE scope_id = ?1
                 ORDER BY started_at DESC, rowid DESC LIMIT ?2",
            )
            .map_err(self.sq())?;
        let rows = stmt
            .query_map(
                params![scope_id, limit],
                |r| -> rusqlite::Result<rows::RunColumns> {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .map_err(self.sq())?;
        rows.map(|row| rows::run_row(row.map_err(self.sq())?).map_err(|d| self.corrupt(d)))
            .collect()
    }

    /// The JSON report a finished run stored; `None` for an unknown or unfinished run.
    fn run_report(&self, run_id: &str) -> Result<Option<String>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT report_json FROM runs WHERE run_id = ?1 AND scope_id = ?2",
                params![run_id, scope_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(self.sq())
    }

    // ----- request journal (DESIGN step 4, SPEC §4.7) -----

    /// Records a store request before it is sent; returns the id to settle it with.
    /// The write is synchronous (`synchronous = FULL`), so a crash after the send still
    /// finds the request here.
    fn journal_request(
        &mut self,
        run_id: &str,
        key: &str,
        operation: &str,
        body: &[u8],
        items_json: &str,
    ) -> Result<i64, StateError> {
        let scope_id = self.writable_scope("a request")?;
        let in_scope: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = ?1 AND scope_id = ?2)",
                params![run_id, scope_id],
                |r| r.get(0),
            )
            .map_err(self.sq())?;
        if !in_scope {
            return Err(StateError::UnknownRun {
                run_id: run_id.to_owned(),
            });
        }
        self.conn
            .execute(
                "INSERT INTO requests (run_id, idempotency_key, operation, body, items_json)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, key, operation, body, items_json],
            )
            .map_err(self.sq())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a journaled request ended, with the store's response.
    fn settle_request(
        &mut self,
        id: i64,
        outcome: Outcome,
        response_json: &str,
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a request outcome")?;
        let updated = self
            .conn
            .execute(
                "UPDATE requests SET outcome = ?2, response_json = ?3
                 WHERE id = ?1
                   AND run_id IN (SELECT run_id FROM runs WHERE scope_id = ?4)",
                params![id, outcome.as_str(), response_json, scope_id],
            )
            .map_err(self.sq())?;
        if updated == 0 {
            return Err(StateError::UnknownRequest { id });
        }
        Ok(())
    }

    /// Records what is known of a request still in flight (e.g. the id of the bulk job it
    /// started) without settling it: a crash leaves the note for whoever settles it.
    fn note_request(&mut self, id: i64, response_json: &str) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a request note")?;
        let updated = self
            .conn
            .execute(
                "UPDATE requests SET response_json = ?2
                 WHERE id = ?1 AND outcome IS NULL
                   AND run_id IN (SELECT run_id FROM runs WHERE scope_id = ?3)",
                params![id, response_json, scope_id],
            )
            .map_err(self.sq())?;
        if updated == 0 {
            return Err(StateError::UnknownRequest { id });
        }
        Ok(())
    }

    /// Requests of this scope that were journaled but never settled (a crash or kill
    /// between sending and recording), oldest first.
    fn unsettled_requests(&self) -> Result<Vec<JournaledRequest>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        self.requests(
            "SELECT q.id, q.run_id, q.idempotency_key, q.operation, q.body, q.items_json,
                    q.outcome
             FROM requests q JOIN runs r ON r.run_id = q.run_id
             WHERE r.scope_id = ?1 AND q.outcome IS NULL
             ORDER BY q.id",
            params![scope_id],
        )
        .map(rows::requests_only)
    }

    /// The bodies of this scope's journaled requests of `operation`, settled or not,
    /// oldest first (`create_missing` finds the products earlier runs created).
    fn journaled_bodies(&self, operation: &str) -> Result<Vec<Vec<u8>>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT q.body FROM requests q JOIN runs r ON r.run_id = q.run_id
                 WHERE r.scope_id = ?1 AND q.operation = ?2
                 ORDER BY q.id",
            )
            .map_err(self.sq())?;
        let rows = stmt
            .query_map(params![scope_id, operation], |r| r.get(0))
            .map_err(self.sq())?;
        rows.map(|r| r.map_err(self.sq())).collect()
    }

    /// This scope's journaled requests of `operation`, settled or not, oldest first, with
    /// their outcome (`None`: never settled). `sync.publish_to` reads its publishes back.
    fn journal_entries(
        &self,
        operation: &str,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(Vec::new());
        };
        self.requests(
            "SELECT q.id, q.run_id, q.idempotency_key, q.operation, q.body, q.items_json,
                    q.outcome
             FROM requests q JOIN runs r ON r.run_id = q.run_id
             WHERE r.scope_id = ?1 AND q.operation = ?2
             ORDER BY q.id",
            params![scope_id, operation],
        )
    }

    // ----- token cache (SPEC §6) -----

    /// A cached token of this scope by name (e.g. `shopify`, `google`).
    fn get_token(&self, name: &str) -> Result<Option<CachedToken>, StateError> {
        let Some(scope_id) = self.scope_id else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT value, expires_at FROM tokens WHERE scope_id = ?1 AND name = ?2",
                params![scope_id, name],
                |r| {
                    Ok(CachedToken {
                        value: Secret::new(r.get::<_, String>(0)?),
                        expires_at: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(self.sq())
    }

    /// Stores or replaces a token. One statement, hence atomic: a reader sees the old
    /// token or the new one, never a torn file (the yup-oauth2 disk cache trap).
    fn put_token(
        &mut self,
        name: &str,
        value: &Secret,
        expires_at: Option<&str>,
    ) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a token")?;
        self.conn
            .execute(
                "INSERT INTO tokens (scope_id, name, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope_id, name)
                 DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                params![scope_id, name, value.expose(), expires_at],
            )
            .map_err(self.sq())?;
        Ok(())
    }

    /// Forgets a token (revoked, or refused with a 401 that re-minting did not cure).
    fn delete_token(&mut self, name: &str) -> Result<(), StateError> {
        let scope_id = self.writable_scope("a token")?;
        self.conn
            .execute(
                "DELETE FROM tokens WHERE scope_id = ?1 AND name = ?2",
                params![scope_id, name],
            )
            .map_err(self.sq())?;
        Ok(())
    }
}

/// A boxed store is a store, so `Mutex<Box<dyn StateStore>>` lends itself as
/// `&Mutex<dyn StateStore>`.
impl<S: StateStore + ?Sized> StateStore for Box<S> {
    fn path(&self) -> &Path {
        (**self).path()
    }
    fn load_baseline(&self) -> Result<Baseline, StateError> {
        (**self).load_baseline()
    }
    fn set_baseline(
        &mut self,
        entries: &[(Sku, FieldKey, Option<Value>)],
    ) -> Result<(), StateError> {
        (**self).set_baseline(entries)
    }
    fn begin_run(
        &mut self,
        run_id: &str,
        started_at: &str,
        command: &str,
        dry_run: bool,
    ) -> Result<(), StateError> {
        (**self).begin_run(run_id, started_at, command, dry_run)
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
        (**self).finish_run(run_id, finished_at, exit_code, summary, report_json, rows)
    }
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, StateError> {
        (**self).list_runs(limit)
    }
    fn run_report(&self, run_id: &str) -> Result<Option<String>, StateError> {
        (**self).run_report(run_id)
    }
    fn run_rows(&self, run_id: &str) -> Result<Option<Vec<JournalRow>>, StateError> {
        (**self).run_rows(run_id)
    }
    fn journal_request(
        &mut self,
        run_id: &str,
        key: &str,
        operation: &str,
        body: &[u8],
        items_json: &str,
    ) -> Result<i64, StateError> {
        (**self).journal_request(run_id, key, operation, body, items_json)
    }
    fn settle_request(
        &mut self,
        id: i64,
        outcome: Outcome,
        response_json: &str,
    ) -> Result<(), StateError> {
        (**self).settle_request(id, outcome, response_json)
    }
    fn note_request(&mut self, id: i64, response_json: &str) -> Result<(), StateError> {
        (**self).note_request(id, response_json)
    }
    fn unsettled_requests(&self) -> Result<Vec<JournaledRequest>, StateError> {
        (**self).unsettled_requests()
    }
    fn journaled_bodies(&self, operation: &str) -> Result<Vec<Vec<u8>>, StateError> {
        (**self).journaled_bodies(operation)
    }
    fn journal_entries(
        &self,
        operation: &str,
    ) -> Result<Vec<(JournaledRequest, Option<Outcome>)>, StateError> {
        (**self).journal_entries(operation)
    }
    fn get_token(&self, name: &str) -> Result<Option<CachedToken>, StateError> {
        (**self).get_token(name)
    }
    fn put_token(
        &mut self,
        name: &str,
        value: &Secret,
        expires_at: Option<&str>,
    ) -> Result<(), StateError> {
        (**self).put_token(name, value, expires_at)
    }
    fn delete_token(&mut self, name: &str) -> Result<(), StateError> {
        (**self).delete_token(name)
    }
    fn check_writer(&self) -> Result<(), StateError> {
        (**self).check_writer()
    }
}

/// Opens the state a config names for a writer: the shared PostgreSQL state when it has a
/// state URL (`[state] url`, `SHEETSYNC_STATE_URL`, `--state-url`), else the SQLite state
/// in `sync.state_dir`. The only place that picks a backend for a config.
pub fn open_writer_for(
    cfg: &crate::config::Config,
    scope: &Scope,
) -> Result<Box<dyn StateStore>, StateError> {
    match &cfg.state.url {
        Some(url) => Ok(Box::new(postgres::PgState::open_pooled(
            postgres::pool::Pool::shared(url.expose(), cfg.state.pool_size)?,
            &cfg.sync.state_dir,
            scope,
        )?)),
        None => open_writer(&cfg.sync.state_dir, scope),
    }
}

/// One writer per (shop, spreadsheet, tab), held while a writing command runs: the local
/// file lock always, and with a state URL the shared lease too (SPEC §9), whose epoch
/// fences every write of the states opened meanwhile.
#[derive(Debug)]
pub struct WriterGuard {
    // The lease first: it is released before the local lock.
    lease: Option<postgres::lease::LeaseGuard>,
    _file: WriterLock,
}

impl WriterGuard {
    /// `sheetsync/<version> worker/<holder> epoch/<n>` under a lease; `None` without.
    pub fn user_agent(&self) -> Option<String> {
        self.lease.as_ref().map(|l| l.fence().user_agent())
    }

    /// The shared lease's fence, if any.
    pub fn fence(&self) -> Option<&std::sync::Arc<postgres::lease::Fence>> {
        self.lease.as_ref().map(postgres::lease::LeaseGuard::fence)
    }
}

/// Takes the writer lock for `scope` and, with a state URL, the pair's lease, or fails
/// naming who holds it ([`StateError::Locked`], [`StateError::LeaseHeld`]). `command`
/// (`sync`, `watch`…) starts the lease holder's name, `<command>.<host>.<pid>`;
/// `description` is what the file lock tells a refused local writer.
pub fn acquire_writer(
    cfg: &crate::config::Config,
    scope: &Scope,
    command: &str,
    description: &str,
) -> Result<WriterGuard, StateError> {
    let file = WriterLock::acquire(&cfg.sync.state_dir, scope, description)?;
    let lease = match &cfg.state.url {
        Some(url) => Some(postgres::lease::acquire_pooled(
            postgres::pool::Pool::shared(url.expose(), cfg.state.pool_size)?,
            scope,
            &holder_name(command),
            cfg.state.lease_ttl,
        )?),
        None => None,
    };
    Ok(WriterGuard { lease, _file: file })
}

/// `<command>.<host>.<pid>`, in User-Agent token characters only.
fn holder_name(command: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{command}.{host}.{}", std::process::id())
}

/// Where a config's state lives, for messages: the state URL without its password, or
/// the state dir.
pub fn describe(cfg: &crate::config::Config) -> String {
    match &cfg.state.url {
        Some(url) => crate::config::redact_url(url.expose()),
        None => cfg.sync.state_dir.display().to_string(),
    }
}

/// [`open_writer_for`] for reading only (dry run, `runs`): `None` when there is no local
/// state yet; the shared state is always there once migrated.
pub fn open_reader_for(
    cfg: &crate::config::Config,
    scope: &Scope,
) -> Result<Option<Box<dyn StateStore>>, StateError> {
    match &cfg.state.url {
        Some(url) => Ok(Some(Box::new(postgres::PgState::open_read_only_pooled(
            postgres::pool::Pool::shared(url.expose(), cfg.state.pool_size)?,
            &cfg.sync.state_dir,
            scope,
        )?))),
        None => open_reader(&cfg.sync.state_dir, scope),
    }
}

/// Opens the state of `scope` in `dir` for a writer (see [`State::open`]): the backend
/// the engine talks to through [`StateStore`].
pub fn open_writer(dir: &Path, scope: &Scope) -> Result<Box<dyn StateStore>, StateError> {
    Ok(Box::new(State::open(dir, scope)?))
}

/// Opens the state of `scope` in `dir` for reading only (see [`State::open_read_only`]);
/// `None` when there is none yet.
pub fn open_reader(dir: &Path, scope: &Scope) -> Result<Option<Box<dyn StateStore>>, StateError> {
    Ok(State::open_read_only(dir, scope)?.map(|s| Box::new(s) as Box<dyn StateStore>))
}

/// Creates the state dir, owner-only, with any missing parents. An existing dir is left
/// as the user set it.
pub(crate) fn create_state_dir(dir: &Path) -> Result<(), StateError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Creates the database file 0600 before SQLite sees it (SQLite would use 0644 less the
/// umask), and tightens an existing one: it holds tokens. SQLite gives its `-wal` and
/// `-shm` files the same mode as the database.
fn create_db_file(path: &Path) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let mode = file.metadata().map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(io)?;
    }
    Ok(())
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `file:` URI for a read-only, immutable open: SQLite then takes no locks and creates no
/// side files. The path is percent-encoded, so `?`, `#` and `%` in it are harmless.
fn immutable_uri(path: &Path) -> Result<String, StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let absolute = std::path::absolute(path).map_err(io)?;
    let url = url::Url::from_file_path(&absolute).map_err(|()| {
        io(std::io::Error::other(
            "the path cannot be written as a file: URL",
        ))
    })?;
    Ok(format!("{url}?mode=ro&immutable=1"))
}

fn check_version(path: &Path, found: i64) -> Result<(), StateError> {
    if found > schema::CURRENT_VERSION {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: schema::CURRENT_VERSION,
        });
    }
    if found < 0 {
        return Err(StateError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("schema version {found}"),
        });
    }
    Ok(())
}

fn lookup_scope(conn: &Connection, scope: &Scope) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM scopes WHERE shop = ?1 AND spreadsheet_id = ?2 AND tab = ?3",
        params![scope.shop, scope.spreadsheet_id, scope.tab],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests;
