//! What can go wrong with the local state, each message saying what to do about it.
//! Token values never appear here: errors name tables and paths, not data.

use std::path::PathBuf;

/// Errors of the state database and the writer lock.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use the state directory {path}: {source}; check that it is writable by you")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state database {path} is damaged or is not a sheetsync state file ({detail}); \
         move it aside to start afresh: you will lose history, and the next sync reports \
         no_baseline conflicts for every cell where sheet and store differ"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the state database {path} was written by a newer sheetsync (schema {found}, this \
         one knows up to {supported}); upgrade sheetsync"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "the state database {path} has an older schema ({found}, current {supported}) that \
         a read-only command cannot upgrade; run `sheetsync sync` once without --dry-run"
    )]
    NeedsUpgrade {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "the state database {path} stayed busy (another sheetsync process is writing it); \
         retry in a moment"
    )]
    Busy { path: PathBuf },
    #[error(
        "another sheetsync writer holds the lock for this shop, spreadsheet and tab \
         ({holder}); wait for it to finish or stop it, then retry (lock file {lock_path})"
    )]
    Locked { holder: String, lock_path: PathBuf },
    /// A write through a state opened with [`super::State::open_read_only`]: a bug in the
    /// caller, since a dry run must write nothing.
    #[error("the state was opened read-only (dry run) and cannot record {what}")]
    ReadOnly { what: &'static str },
    #[error("run {run_id} is not in the journal of this shop, spreadsheet and tab")]
    UnknownRun { run_id: String },
    #[error("journaled request {id} does not exist")]
    UnknownRequest { id: i64 },
    #[error("shared state {url}: {detail}")]
    Postgres {
        /// The URL with its password cut out.
        url: String,
        detail: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("state URL {url}: {message}")]
    StateUrl { url: String, message: String },
    #[error(
        "the shared state at {url} has schema version {found} and this sheetsync needs \
         {needed}; run `sheetsync fleet migrate` (once per release) and retry"
    )]
    NotMigrated {
        url: String,
        found: i64,
        needed: i64,
    },
    #[error(
        "another sheetsync writer holds the lease for this shop, spreadsheet and tab \
         ({holder}, until {expires_at}); wait for it to finish or stop it, then retry"
    )]
    LeaseHeld { holder: String, expires_at: String },
    #[error(
        "this writer lost its lease on the shop, spreadsheet and tab (holder {holder}, \
         epoch {epoch}): {why}; it sends nothing more"
    )]
    LeaseLost {
        holder: String,
        epoch: i64,
        why: &'static str,
    },
    #[error(
        "shared state {url}: no free connection within {}s (pool_size {size}); raise \
         [state] pool_size / SHEETSYNC_STATE_POOL_SIZE, or check that the database answers",
        waited.as_secs()
    )]
    PoolExhausted {
        /// The URL with its password cut out.
        url: String,
        size: usize,
        waited: std::time::Duration,
    },
    #[error("the shared state's connection thread failed: {0}")]
    Bridge(#[source] std::io::Error),
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StateError {
    /// A PostgreSQL error, with the server's own message when it sent one (the client's
    /// `Display` says only "db error").
    pub(crate) fn postgres(url: &str, e: tokio_postgres::Error) -> StateError {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        };
        StateError::Postgres {
            url: url.to_owned(),
            detail,
            source: e,
        }
    }

    pub(crate) fn bridge(e: std::io::Error) -> StateError {
        StateError::Bridge(e)
    }

    /// Classifies a SQLite error: a damaged file and a busy database get their own advice.
    pub(crate) fn sqlite(path: &std::path::Path, e: rusqlite::Error) -> StateError {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
                path,
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Busy { path },
            _ => StateError::Sqlite { path, source: e },
        }
    }
}
