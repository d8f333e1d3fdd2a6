//! `watch`: each interval one Drive `files.get`; when the file moved, the configured
//! columns are read and compared, row by row and by content, with what the last synced
//! run planned from. Only rows whose content differs are planned, and only their store
//! items are re-read (by variant id). Every `full_every` a full sync reads the whole
//! store, which is how sales made in the store reach the sheet.
//!
//! Why content and not versions: our own write-back moves the file's version too. Were
//! the version of our write remembered as "seen", a merchant's edit landing in the same
//! second would be folded into it and lost; comparing content cannot lose it.
//!
//! A row is remembered as synced only when its run settled it: rows whose changes a
//! guard refused, or that failed or were skipped, stay pending and are judged again the
//! next time the sheet changes (SPEC §4.6 under `watch`). A refusal is logged once.
//!
//! `serve` plugs in [`Nudges`] (the sheet's own change notifications): the first one
//! wakes the loop, the notices arriving within `gather` of it are folded in, and one
//! changed-rows tick carries them all; it reads the sheet whatever Drive's version says,
//! since Drive may not have moved yet. Polling goes on beside it, for the edits no
//! notification announces. A [`TickObserver`] hears how each tick ended.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::time::Instant;

use super::drive::{DriveClient, FileVersion};
use super::nudge::{NoObserver, Notice, Nudges, Planned, TickObserver};
use super::{Backoff, Shutdown, summary, tick_options};
use crate::engine::{Engine, EngineError, Reads};
use crate::model::{Currency, LocationName, Sku};
use crate::plan::Snapshot;
use crate::report::{Report, Status};
use crate::sheet::parse::{self, ColumnKey, Layout, ParsedSheet};

/// The `watch` flags.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Between two Drive checks.
    pub interval: Duration,
    /// Between two full syncs (the first tick is one).
    pub full_every: Duration,
    /// The longest wait after failing ticks.
    pub max_backoff: Duration,
    /// How long after the first of a burst of notifications the tick starts: the
    /// notices arriving meanwhile ride along (`serve`; SPEC §10 folds edits notified
    /// within one second into one sync).
    pub gather: Duration,
    /// Retries of the Drive check.
    pub retry: crate::http::RetryPolicy,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(10),
            full_every: Duration::from_secs(15 * 60),
            max_backoff: Duration::from_secs(5 * 60),
            gather: Duration::from_secs(1),
            retry: crate::http::RetryPolicy::default(),
        }
    }
}

/// Each SKU's data cells (write-back columns left out: we write those ourselves), in
/// column order, one entry per row holding that SKU. Blank cells compare equal
/// whether the API left them out or sent `""`.
pub fn row_contents(
    layout: &Layout,
    columns: &[Vec<Json>],
    sheet: &ParsedSheet,
) -> HashMap<Sku, Vec<Vec<Json>>> {
    let data: Vec<usize> = layout
        .columns
        .iter()
        .enumerate()
        .filter(|(_, (spec, _))| !matches!(spec.key, ColumnKey::Status | ColumnKey::SyncedAt))
        .map(|(i, _)| i)
        .collect();
    let mut rows: Vec<(u32, &Sku)> = sheet.rows.iter().map(|r| (r.row, &r.sku)).collect();
    rows.extend(
        sheet
            .errors
            .iter()
            .filter_map(|e| e.sku.as_ref().map(|s| (e.row, s))),
    );
    rows.sort();
    rows.dedup();
    let mut out: HashMap<Sku, Vec<Vec<Json>>> = HashMap::new();
    for (row, sku) in rows {
        let index = row.saturating_sub(1) as usize;
        let cells = data
            .iter()
            .map(|&c| match columns.get(c).and_then(|col| col.get(index)) {
                None => Json::Null,
                Some(Json::String(s)) if s.is_empty() => Json::Null,
                Some(v) => v.clone(),
            })
            .collect();
        out.entry(sku.clone()).or_default().push(cells);
    }
    out
}

/// Why a tick failed (it is tried again later).
#[derive(Debug, thiserror::Error)]
enum TickError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Drive(#[from] super::drive::DriveError),
    /// `drain` fired while the tick was still reading: nothing was sent.
    #[error("stopped while reading")]
    Drained,
}

impl TickError {
    /// The exit status of the run this failure ended; `None` for a failed change check,
    /// which is not a run.
    fn run_status(&self) -> Option<crate::report::ExitStatus> {
        match self {
            TickError::Engine(e) => Some(e.fatal().into()),
            TickError::Drive(_) | TickError::Drained => None,
        }
    }
}

impl From<parse::HeaderError> for TickError {
    fn from(e: parse::HeaderError) -> Self {
        TickError::Engine(e.into())
    }
}

impl From<crate::store::StoreError> for TickError {
    fn from(e: crate::store::StoreError) -> Self {
        TickError::Engine(e.into())
    }
}

/// What the watcher carries from tick to tick.
struct Watcher<'a> {
    engine: &'a Engine,
    drive: DriveClient,
    /// The Drive version the last good tick started from.
    version: Option<FileVersion>,
    /// Content each settled SKU had when it was planned.
    synced: HashMap<Sku, Vec<Vec<Json>>>,
    /// From the last full snapshot: variant ids by SKU, locations, currency.
    ids: HashMap<Sku, Vec<String>>,
    locations: std::collections::BTreeMap<LocationName, String>,
    currency: Option<Currency>,
    /// The refusal last logged, so a standing refusal is logged once.
    refusal: Option<String>,
}

/// Runs `watch` until `shutdown.stop` fires. The caller holds the writer lock. Ticks
/// that fail are logged and tried again after a backoff; this returns only on shutdown.
pub async fn watch(engine: &Engine, opts: &WatchOptions, shutdown: &Shutdown) {
    watch_with(engine, opts, shutdown, None, &NoObserver).await;
}

/// [`watch`], also woken by `nudges` and reporting each tick to `observer` (`serve`).
pub async fn watch_with(
    engine: &Engine,
    opts: &WatchOptions,
    shutdown: &Shutdown,
    nudges: Option<&Nudges>,
    observer: &dyn TickObserver,
) {
    let drive = DriveClient::new(
        &engine.sheets,
        &engine.config.sheet.drive_api_base_url,
        opts.retry,
    );
    let mut w = Watcher {
        engine,
        drive,
        version: None,
        synced: HashMap::new(),
        ids: HashMap::new(),
        locations: Default::default(),
        currency: None,
        refusal: None,
    };
    let mut backoff = Backoff::new(opts.interval, opts.max_backoff);
    let mut next_full = Instant::now();
    let mut wait = Duration::ZERO;
    tracing::info!(
        interval = %humantime::format_duration(opts.interval),
        full_every = %humantime::format_duration(opts.full_every),
        "Watching the sheet"
    );
    loop {
        // After a failure the backoff holds notifications back too: they would only fail
        // again, and the tick that succeeds carries them.
        let listening = nudges.filter(|_| backoff.failures == 0);
        let nudged = tokio::select! {
            () = shutdown.stop.cancelled() => break,
            () = tokio::time::sleep(wait) => false,
            () = queued(listening) => true,
        };
        if nudged && let Some(first) = nudges.and_then(Nudges::first_received) {
            tokio::select! {
                () = shutdown.stop.cancelled() => break,
                () = tokio::time::sleep_until(first + opts.gather) => {}
            }
        }
        let carried: Vec<Notice> = nudges.map(Nudges::take).unwrap_or_default();
        let started = Instant::now();
        let full = started >= next_full || w.currency.is_none();
        match w.tick(full, shutdown, &carried, observer).await {
            Ok(line) => {
                backoff.succeeded();
                if full {
                    next_full = started + opts.full_every;
                }
                if carried.is_empty() {
                    tracing::info!("{line}");
                } else {
                    tracing::info!("{line} [{} notification(s)]", carried.len());
                }
                wait = opts.interval.saturating_sub(started.elapsed());
            }
            Err(TickError::Drained) => {
                tracing::info!("Tick abandoned while reading: stopping");
                break;
            }
            Err(e) => {
                wait = backoff.failed();
                observer.failed(&e.to_string(), e.run_status());
                if let Some(n) = nudges {
                    n.restore(carried);
                }
                tracing::warn!(
                    error = %e,
                    retry_in = %humantime::format_duration(wait),
                    "Watch tick failed; trying again later"
                );
            }
        }
        if shutdown.stop.is_cancelled() {
            break;
        }
    }
    tracing::info!("Watch stopped");
}

/// A read of the tick, abandoned when `shutdown.drain` fires first.
async fn drained<T>(
    shutdown: &Shutdown,
    read: impl std::future::Future<Output = T>,
) -> Result<T, TickError> {
    shutdown
        .unless_drained(read)
        .await
        .ok_or(TickError::Drained)
}

/// Resolves when `nudges` has a notice queued; never without nudges.
async fn queued(nudges: Option<&Nudges>) {
    match nudges {
        Some(n) => n.queued().await,
        None => std::future::pending().await,
    }
}

impl Watcher<'_> {
    /// One tick; returns its log line. A tick carrying notices reads the sheet even when
    /// Drive's version has not moved (yet).
    async fn tick(
        &mut self,
        full: bool,
        shutdown: &Shutdown,
        carried: &[Notice],
        observer: &dyn TickObserver,
    ) -> Result<String, TickError> {
        let spreadsheet_id = &self.engine.config.sheet.spreadsheet_id;
        // Read before the sheet: an edit after this read moves the version again, so
        // the next tick looks, and nothing is missed.
        let version = drained(shutdown, self.drive.version(spreadsheet_id)).await??;
        if full {
            return self.full(version, shutdown, carried, observer).await;
        }
        if carried.is_empty() && self.version.as_ref() == Some(&version) {
            observer.checked();
            return Ok("tick: sheet unchanged".to_owned());
        }
        let Some(currency) = self.currency.clone() else {
            return self.full(version, shutdown, carried, observer).await;
        };
        let (layout, columns) = drained(shutdown, self.engine.read_sheet()).await??;
        let sheet = parse::parse(&layout, &columns, &currency)?;
        let contents = row_contents(&layout, &columns, &sheet);
        let changed: BTreeSet<Sku> = contents
            .iter()
            .filter(|(sku, cells)| self.synced.get(*sku) != Some(*cells))
            .map(|(sku, _)| sku.clone())
            .collect();
        if changed.is_empty() {
            self.version = Some(version);
            observer.checked();
            return Ok(format!(
                "tick: sheet moved to version {}, no row changed",
                self.version.as_ref().map_or("?", |v| v.version.as_str())
            ));
        }
        // A SKU the last full snapshot did not know needs the whole store to be judged.
        if changed.iter().any(|s| !self.ids.contains_key(s)) {
            return self.full(version, shutdown, carried, observer).await;
        }
        let ids: Vec<String> = changed
            .iter()
            .flat_map(|s| self.ids.get(s).into_iter().flatten().cloned())
            .collect();
        let loc_pairs: Vec<(LocationName, String)> = self
            .locations
            .iter()
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect();
        let fresh = drained(
            shutdown,
            self.engine.store.variants_by_ids(&ids, &loc_pairs),
        )
        .await??;
        let mut variants: HashMap<Sku, Vec<_>> = HashMap::new();
        for (sku, v) in fresh {
            if let Some(sku) = sku {
                variants.entry(sku).or_default().push(v);
            }
        }
        let reads = Reads {
            layout,
            columns,
            sheet,
            snapshot: Snapshot { currency, variants },
            locations: self.locations.clone(),
            rows: Some(changed.clone()),
        };
        let report = self
            .engine
            .run_reads(&tick_options(shutdown), reads)
            .await?;
        observer.ran(
            &report,
            report.exit_status(false),
            Planned::Rows(&changed),
            carried,
        );
        self.settle(&contents, &changed, &report);
        self.version = Some(version);
        let names: Vec<&str> = changed.iter().take(5).map(Sku::as_str).collect();
        let more = if changed.len() > names.len() {
            format!(" and {} more", changed.len() - names.len())
        } else {
            String::new()
        };
        Ok(format!(
            "tick: {} row(s) changed ({}{more}): {}",
            changed.len(),
            names.join(", "),
            summary(&report)
        ))
    }

    /// A full sync: the whole store, every row.
    async fn full(
        &mut self,
        version: FileVersion,
        shutdown: &Shutdown,
        carried: &[Notice],
        observer: &dyn TickObserver,
    ) -> Result<String, TickError> {
        let reads = drained(shutdown, self.engine.read_all()).await??;
        self.ids = reads
            .snapshot
            .variants
            .iter()
            .map(|(sku, vs)| {
                (
                    sku.clone(),
                    vs.iter().map(|v| v.variant_id.to_string()).collect(),
                )
            })
            .collect();
        self.locations = reads.locations.clone();
        self.currency = Some(reads.snapshot.currency.clone());
        let contents = row_contents(&reads.layout, &reads.columns, &reads.sheet);
        let report = self
            .engine
            .run_reads(&tick_options(shutdown), reads)
            .await?;
        observer.ran(&report, report.exit_status(false), Planned::All, carried);
        self.synced.clear();
        let all: BTreeSet<Sku> = contents.keys().cloned().collect();
        self.settle(&contents, &all, &report);
        self.version = Some(version);
        Ok(format!(
            "tick: full sync of {} row(s): {}",
            report.rows_read,
            summary(&report)
        ))
    }

    /// Remembers the planned rows that the run settled; logs a refusal once.
    fn settle(
        &mut self,
        contents: &HashMap<Sku, Vec<Vec<Json>>>,
        planned: &BTreeSet<Sku>,
        report: &Report,
    ) {
        let refused = !report.refused.is_empty();
        let pending: BTreeSet<&str> = report
            .changes
            .iter()
            .filter(|c| refused || matches!(c.status, Status::Failed | Status::Skipped))
            .map(|c| c.sku.as_str())
            .collect();
        for sku in planned {
            if pending.contains(sku.as_str()) {
                self.synced.remove(sku);
            } else if let Some(cells) = contents.get(sku) {
                self.synced.insert(sku.clone(), cells.clone());
            }
        }
        if refused {
            let names: BTreeSet<&str> = report.refused.iter().map(|r| r.name()).collect();
            let key = names.into_iter().collect::<Vec<_>>().join(", ");
            if self.refusal.as_deref() != Some(key.as_str()) {
                tracing::warn!(
                    guards = %key,
                    rows = pending.len(),
                    "A safety guard refused the plan: nothing was written to the store; \
                     the rows' status says why, and the plan is judged again when the sheet changes"
                );
                self.refusal = Some(key);
            }
        } else if self.refusal.take().is_some() {
            tracing::info!("The safety guards no longer refuse the plan");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Field;
    use crate::sheet::parse::ColumnSpec;
    use serde_json::json;

    fn layout() -> Layout {
        let spec = |key, header: &str| ColumnSpec {
            key,
            header: header.to_owned(),
        };
        Layout {
            tab: "Inventory".into(),
            header_row: 1,
            columns: vec![
                (spec(ColumnKey::Sku, "SKU"), 0),
                (spec(ColumnKey::Field(Field::Price), "Price"), 1),
                (spec(ColumnKey::Status, "Sync status"), 2),
            ],
        }
    }

    #[test]
    fn contents_leave_out_write_back_columns_and_treat_blanks_alike() {
        let columns = vec![
            vec![json!("SKU"), json!("A-1"), json!("B-2")],
            vec![json!("Price"), json!(10), json!("")],
            vec![json!("Sync status"), json!("OK")],
        ];
        let sheet = parse::parse(&layout(), &columns, &Currency::new("EUR")).expect("parse");
        let c = row_contents(&layout(), &columns, &sheet);
        let a = Sku::new("A-1").expect("sku");
        let b = Sku::new("B-2").expect("sku");
        assert_eq!(c[&a], vec![vec![json!("A-1"), json!(10)]]);
        assert_eq!(c[&b], vec![vec![json!("B-2"), Json::Null]]);

        // Our own status write changes nothing; a price edit does.
        let mut after = columns.clone();
        after[2] = vec![
            json!("Sync status"),
            json!("refused: price_change"),
            json!("OK"),
        ];
        let sheet2 = parse::parse(&layout(), &after, &Currency::new("EUR")).expect("parse");
        assert_eq!(row_contents(&layout(), &after, &sheet2), c);
        after[1][1] = json!(11);
        let sheet3 = parse::parse(&layout(), &after, &Currency::new("EUR")).expect("parse");
        assert_ne!(row_contents(&layout(), &after, &sheet3)[&a], c[&a]);
    }
}
