//! The fleet's administration over the shared state (SPEC §9): `fleet apply` (pair files
//! into the `pairs` table, one transaction), `fleet status` (workers, leases, last runs)
//! and `fleet pause|resume` (a pair's `enabled`). Reads no config file and no secret: a
//! pair's text is stored as written, `${VAR}` unresolved. Running pairs is the worker's
//! job; printing is the CLI's.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tokio_postgres::Client;

use super::Pair;
use crate::state::postgres::connect::Target;
use crate::state::postgres::migrate;
use crate::state::{Scope, StateError};

/// What the fleet commands can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{}", unknown_pair(name, known))]
    UnknownPair { name: String, known: Vec<String> },
    #[error(
        "pair {name} ({path}) names the same store, spreadsheet and tab as pair {stale}, \
         whose file is gone from the directory: run `fleet apply --prune` to remove {stale} \
         in the same transaction"
    )]
    ScopeTaken {
        name: String,
        path: String,
        stale: String,
    },
}

fn unknown_pair(name: &str, known: &[String]) -> String {
    if known.is_empty() {
        return format!(
            "no pair named {name:?}: the shared state has no pairs (`fleet apply DIR`)"
        );
    }
    let closest = known
        .iter()
        .map(|k| (levenshtein(name, k), k))
        .min()
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2))
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    format!(
        "no pair named {name:?}{closest}; the pairs are: {}",
        known.join(", ")
    )
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// An open connection to a migrated shared state, and its URL for messages.
pub struct Shared {
    pub client: Client,
    pub shown: String,
}

impl Shared {
    /// Connects and checks the schema version (an unmigrated one names `fleet migrate`).
    pub async fn connect(url: &str) -> Result<Shared, StateError> {
        let target = Target::parse(url)?;
        let client = target.connect().await?;
        migrate::check(&client, &target.shown).await?;
        Ok(Shared {
            client,
            shown: target.shown,
        })
    }

    fn pg(&self) -> impl Fn(tokio_postgres::Error) -> AdminError + '_ {
        |e| AdminError::State(StateError::postgres(&self.shown, e))
    }
}

/// One pair whose stored row differs from its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub pair: String,
    /// Set when the file now names another (store, spreadsheet, tab): the row follows the
    /// file to the new scope; the old scope's baseline and history stay where they are.
    /// "shop spreadsheet tab" as stored before.
    pub moved_from: Option<String>,
}

/// What `fleet apply` does (or, with `--dry-run`, would do), each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyPlan {
    pub added: Vec<String>,
    pub changed: Vec<Changed>,
    pub unchanged: Vec<String>,
    /// Pairs whose file is gone: deleted with `--prune`, else only reported.
    pub removed: Vec<String>,
    /// Whether `removed` was (or would be) deleted.
    pub pruned: bool,
}

/// A stored pair row as `apply` compares it.
struct Stored {
    scope: Scope,
    sha: String,
    mode: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads `pairs` (from [`super::load_dir`]) into the shared state in one transaction:
/// new ones inserted, changed ones (text, hence SHA-256, scope or mode) updated so that
/// their workers reload them, unchanged ones not touched; with `prune`, rows whose file
/// is gone are deleted (their scope, baseline and history stay). `dry_run` plans the same
/// and rolls back. A pair keeps its `enabled` across changes.
pub async fn apply(
    shared: &mut Shared,
    pairs: &[Pair],
    prune: bool,
    dry_run: bool,
) -> Result<ApplyPlan, AdminError> {
    let shown = shared.shown.clone();
    let pe = |e| AdminError::State(StateError::postgres(&shown, e));
    let tx = shared.client.transaction().await.map_err(pe)?;
    // Two concurrent applies would each plan against what the other is replacing; the
    // second waits for the first's commit. Readers (workers, status) are not blocked.
    tx.batch_execute("LOCK TABLE sheetsync.pairs IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(pe)?;
    let rows = tx
        .query(
            "SELECT p.name, s.shop, s.spreadsheet_id, s.tab, p.config_sha256, p.mode
             FROM sheetsync.pairs p JOIN sheetsync.scopes s ON s.id = p.scope_id",
            &[],
        )
        .await
        .map_err(pe)?;
    let stored: BTreeMap<String, Stored> = rows
        .into_iter()
        .map(|r| {
            (
                r.get(0),
                Stored {
                    scope: Scope::new(r.get(1), r.get(2), r.get(3)),
                    sha: r.get(4),
                    mode: r.get(5),
                },
            )
        })
        .collect();

    let in_dir: BTreeSet<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
    let mut plan = ApplyPlan {
        pruned: prune,
        removed: stored
            .keys()
            .filter(|n| !in_dir.contains(n.as_str()))
            .cloned()
            .collect(),
        ..ApplyPlan::default()
    };
    // A file may not take the scope of a row that stays (one not in the directory and
    // not pruned): the scope is unique across pairs, the lease's key.
    if !prune {
        for pair in pairs {
            if let Some(stale) = plan
                .removed
                .iter()
                .find(|n| stored.get(*n).is_some_and(|s| s.scope == pair.scope))
            {
                return Err(AdminError::ScopeTaken {
                    name: pair.name.clone(),
                    path: pair.path.display().to_string(),
                    stale: stale.clone(),
                });
            }
        }
    }
    let mut writes = Vec::new();
    for pair in pairs {
        let sha = hex(&pair.sha256());
        match stored.get(&pair.name) {
            None => {
                plan.added.push(pair.name.clone());
                writes.push((pair, sha));
            }
            Some(s) if s.sha == sha && s.scope == pair.scope && s.mode == pair.mode.name() => {
                plan.unchanged.push(pair.name.clone());
            }
            Some(s) => {
                plan.changed.push(Changed {
                    pair: pair.name.clone(),
                    moved_from: (s.scope != pair.scope).then(|| {
                        format!(
                            "shop {}, spreadsheet {}, tab {:?}",
                            s.scope.shop, s.scope.spreadsheet_id, s.scope.tab
                        )
                    }),
                });
                writes.push((pair, sha));
            }
        }
    }
    if dry_run {
        tx.rollback().await.map_err(pe)?;
        return Ok(plan);
    }

    if prune && !plan.removed.is_empty() {
        tx.execute(
            "DELETE FROM sheetsync.pairs WHERE name = ANY($1)",
            &[&plan.removed],
        )
        .await
        .map_err(pe)?;
    }
    // Scopes are unique across rows, and two pairs may swap scopes in one apply: park the
    // rows being rewritten on no scope first is impossible (NOT NULL), so delete and
    // re-insert them, keeping each one's `enabled`.
    let rewritten: Vec<String> = plan.changed.iter().map(|c| c.pair.clone()).collect();
    let kept = tx
        .query(
            "DELETE FROM sheetsync.pairs WHERE name = ANY($1) RETURNING name, enabled",
            &[&rewritten],
        )
        .await
        .map_err(pe)?;
    let enabled: BTreeMap<String, bool> = kept.into_iter().map(|r| (r.get(0), r.get(1))).collect();
    for (pair, sha) in writes {
        let scope = &pair.scope;
        tx.execute(
            "INSERT INTO sheetsync.scopes (shop, spreadsheet_id, tab) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&scope.shop, &scope.spreadsheet_id, &scope.tab],
        )
        .await
        .map_err(pe)?;
        let on = enabled.get(&pair.name).copied().unwrap_or(true);
        tx.execute(
            "INSERT INTO sheetsync.pairs (name, scope_id, config_text, config_sha256, mode,
                                          enabled, updated_at)
             SELECT $1, id, $5, $6, $7, $8, now() FROM sheetsync.scopes
             WHERE shop = $2 AND spreadsheet_id = $3 AND tab = $4",
            &[
                &pair.name,
                &scope.shop,
                &scope.spreadsheet_id,
                &scope.tab,
                &pair.text,
                &sha,
                &pair.mode.name(),
                &on,
            ],
        )
        .await
        .map_err(pe)?;
    }
    tx.commit().await.map_err(pe)?;
    Ok(plan)
}

/// `fleet status --json`, exactly SPEC §9's shape.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub workers: Vec<WorkerStatus>,
    pub pairs: Vec<PairStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub id: String,
    pub last_seen: String,
    /// How many live leases the worker holds.
    pub pairs: i64,
    /// Heard from within its own lease TTL and not stopping. Not in SPEC §9's JSON
    /// (whose shape is fixed): there a dead worker shows by its `last_seen` and its 0
    /// pairs; the table says it in words.
    #[serde(skip)]
    pub live: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairStatus {
    pub pair: String,
    /// The holder of a live lease (unexpired on the database's clock), else null.
    pub owner: Option<String>,
    /// The last grant's epoch and expiry (null when the pair's scope was never leased):
    /// an expiry in the past with a null owner is a lease that lapsed.
    pub epoch: Option<i64>,
    pub lease_expires_at: Option<String>,
    pub mode: String,
    pub enabled: bool,
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub finished_at: String,
    pub exit_code: Option<i32>,
}

/// RFC 3339 UTC, whole seconds, as SPEC §9 prints times.
const RFC3339: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS"Z"'"#;

/// Workers (every row of `workers`, by id: live workers prune the long-dead ones) and pairs (by name), each pair's lease and
/// its last finished run.
pub async fn status(shared: &Shared) -> Result<Status, AdminError> {
    let pe = shared.pg();
    let workers = shared
        .client
        .query(
            &format!(
                "SELECT w.id, to_char(w.last_seen AT TIME ZONE 'UTC', {RFC3339}),
                        (SELECT count(*) FROM sheetsync.leases l
                         WHERE l.holder = w.id AND l.expires_at > now()),
                        NOT w.stopping AND w.last_seen
                            > now() - coalesce(w.lease_ttl, make_interval(secs => $1))
                 FROM sheetsync.workers w ORDER BY w.id"
            ),
            &[&crate::config::DEFAULT_LEASE_TTL.as_secs_f64()],
        )
        .await
        .map_err(&pe)?
        .into_iter()
        .map(|r| WorkerStatus {
            id: r.get(0),
            last_seen: r.get(1),
            pairs: r.get(2),
            live: r.get(3),
        })
        .collect();
    let rows = shared
        .client
        .query(
            &format!(
                "SELECT p.name,
                        CASE WHEN l.expires_at > now() THEN l.holder END,
                        l.epoch,
                        to_char(l.expires_at AT TIME ZONE 'UTC', {RFC3339}),
                        p.mode, p.enabled, r.run_id, r.finished_at, r.exit_code
                 FROM sheetsync.pairs p
                 LEFT JOIN sheetsync.leases l ON l.scope_id = p.scope_id
                 LEFT JOIN LATERAL (
                     SELECT run_id, finished_at, exit_code FROM sheetsync.runs
                     WHERE scope_id = p.scope_id AND finished_at IS NOT NULL
                     ORDER BY started_at DESC, seq DESC LIMIT 1) r ON true
                 ORDER BY p.name"
            ),
            &[],
        )
        .await
        .map_err(&pe)?;
    let pairs = rows
        .into_iter()
        .map(|r| {
            let epoch: Option<i64> = r.get(2);
            // A lease row made but never granted has epoch 0 and expiry -infinity.
            let granted = epoch.is_some_and(|e| e > 0);
            let run_id: Option<String> = r.get(6);
            let finished_at: Option<String> = r.get(7);
            PairStatus {
                pair: r.get(0),
                owner: r.get(1),
                epoch: epoch.filter(|_| granted),
                lease_expires_at: r.get::<_, Option<String>>(3).filter(|_| granted),
                mode: r.get(4),
                enabled: r.get(5),
                last_run: run_id
                    .zip(finished_at)
                    .map(|(run_id, finished_at)| LastRun {
                        run_id,
                        finished_at: utc(&finished_at),
                        exit_code: r.get(8),
                    }),
            }
        })
        .collect();
    Ok(Status { workers, pairs })
}

/// A run's time as stored (the run's own RFC 3339 text) in UTC, whole seconds; text that
/// does not parse is shown as stored.
fn utc(stored: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| stored.to_owned())
}

/// `fleet pause` (false) / `fleet resume` (true); returns whether the pair was already
/// so. An unknown pair names the known ones.
pub async fn set_enabled(shared: &Shared, name: &str, enabled: bool) -> Result<bool, AdminError> {
    let pe = shared.pg();
    let before = shared
        .client
        .query_opt(
            "UPDATE sheetsync.pairs p SET enabled = $2
             FROM (SELECT name, enabled FROM sheetsync.pairs WHERE name = $1 FOR UPDATE) old
             WHERE p.name = old.name RETURNING old.enabled",
            &[&name, &enabled],
        )
        .await
        .map_err(&pe)?;
    match before {
        Some(row) => Ok(row.get::<_, bool>(0) == enabled),
        None => {
            let known = shared
                .client
                .query("SELECT name FROM sheetsync.pairs ORDER BY name", &[])
                .await
                .map_err(&pe)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            Err(AdminError::UnknownPair {
                name: name.to_owned(),
                known,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_pair_names_the_closest_or_all() {
        let known = vec!["acme-prices".to_owned(), "acme-stock".to_owned()];
        let m = unknown_pair("acme-stok", &known);
        assert!(m.contains("did you mean \"acme-stock\""), "{m}");
        assert!(m.contains("acme-prices, acme-stock"), "{m}");
        let m = unknown_pair("zzz", &known);
        assert!(!m.contains("did you mean"), "{m}");
        assert!(unknown_pair("x", &[]).contains("fleet apply"));
    }

    #[test]
    fn run_times_print_in_utc() {
        assert_eq!(utc("2026-12-07T03:00:00+02:00"), "2026-12-07T01:00:00Z");
        assert_eq!(utc("garbage"), "garbage");
    }
}
