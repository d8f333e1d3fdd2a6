//! The shared schema's migrations: SQL files in `migrations/postgres/`, embedded in the
//! binary, numbered from 1, each applied once in one transaction together with its row in
//! `sheetsync.migrations`. Only `fleet migrate` applies them; every other command checks
//! the version and refuses a schema older or newer than it was built for.

use tokio_postgres::Client;

use crate::state::StateError;

/// (version, name, SQL). Append; never edit a shipped one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_state",
        include_str!("../../../migrations/postgres/0001_state.sql"),
    ),
    (
        2,
        "0002_leases",
        include_str!("../../../migrations/postgres/0002_leases.sql"),
    ),
    (
        3,
        "0003_fleet",
        include_str!("../../../migrations/postgres/0003_fleet.sql"),
    ),
    (
        4,
        "0004_worker_ttl",
        include_str!("../../../migrations/postgres/0004_worker_ttl.sql"),
    ),
];

/// The schema version this build reads and writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serialises concurrent `fleet migrate`s (two Jobs of one release). A transaction-level
/// lock, so it works through PgBouncer's transaction pooling and ends with the commit.
const MIGRATE_LOCK: i64 = 0x7368_6565_7473_796e; // "sheetsyn"

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub from: i64,
    pub to: i64,
    pub applied: Vec<String>,
}

/// The schema version found: 0 when sheetsync's schema was never created.
pub async fn version(client: &Client, url: &str) -> Result<i64, StateError> {
    let err = |e| StateError::postgres(url, e);
    let row = client
        .query_one(
            "SELECT to_regclass('sheetsync.migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(err)?;
    if !row.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM sheetsync.migrations",
            &[],
        )
        .await
        .map_err(err)?;
    Ok(row.get(0))
}

/// Refuses a schema other than [`CURRENT_VERSION`], saying what to do.
pub async fn check(client: &Client, url: &str) -> Result<(), StateError> {
    let found = version(client, url).await?;
    if found > CURRENT_VERSION {
        return Err(StateError::TooNew {
            path: url.into(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    if found < CURRENT_VERSION {
        return Err(StateError::NotMigrated {
            url: url.to_owned(),
            found,
            needed: CURRENT_VERSION,
        });
    }
    Ok(())
}

/// Creates or upgrades the schema to [`CURRENT_VERSION`], all in one transaction.
pub async fn migrate(client: &mut Client, url: &str) -> Result<Migrated, StateError> {
    let err = |e| StateError::postgres(url, e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS sheetsync;
         CREATE TABLE IF NOT EXISTS sheetsync.migrations (
             version bigint PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await
    .map_err(err)?;
    let from: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM sheetsync.migrations",
            &[],
        )
        .await
        .map_err(err)?
        .get(0);
    if from > CURRENT_VERSION {
        return Err(StateError::TooNew {
            path: url.into(),
            found: from,
            supported: CURRENT_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > from) {
        tx.batch_execute(sql).await.map_err(err)?;
        tx.execute(
            "INSERT INTO sheetsync.migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(err)?;
        applied.push((*name).to_owned());
    }
    tx.commit().await.map_err(err)?;
    Ok(Migrated {
        from,
        to: CURRENT_VERSION,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_and_match_the_files() {
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
            let path = format!(
                "{}/migrations/postgres/{name}.sql",
                env!("CARGO_MANIFEST_DIR")
            );
            let on_disk = std::fs::read_to_string(&path).expect("migration file");
            assert_eq!(on_disk, *sql, "{path}");
        }
        let files = std::fs::read_dir(format!(
            "{}/migrations/postgres",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("migrations dir")
        .count();
        assert_eq!(files, MIGRATIONS.len(), "every file is embedded");
    }
}
