//! `/metrics` (SPEC §10) in the Prometheus text format 0.0.4, exposed by the
//! `prometheus-client` crate. The values come from two feeds: the watch loop's ticks
//! ([`Metrics::record_run`], [`Metrics::record_failed_run`]) and the clients' progress
//! events (`THROTTLED` and 429 answers, the store's rate room), for which [`Metrics`] is
//! a [`Progress`].
//!
//! `sheetsync_conflicts` and `sheetsync_row_errors` count what the status page lists:
//! each row's latest run. A changed-rows run replaces the entries of the rows it planned
//! only; a full run replaces them all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::progress::{Event, Progress};
use crate::report::{ExitStatus, Report, Status};
use crate::schedule::{Notice, Planned};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of `sheetsync_edit_to_store_seconds`: the SPEC's goal (p50 ≤ 3 s) and
/// limit (10 s) fall on bucket edges.
const EDIT_BUCKETS: [f64; 10] = [0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0];

type Labels = Vec<(String, String)>;

/// Every metric `serve` exposes.
pub struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    changes: Family<Labels, Counter>,
    conflicts: Gauge,
    row_errors: Gauge,
    throttled: Counter,
    rate_room: Gauge,
    edit_to_store: Histogram,
    last_success: Gauge<f64, AtomicU64>,
    issues: Mutex<RowIssues>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Conflicts and row errors per SKU as each row's latest run left them; errors on rows
/// without a SKU can only be judged by a full run.
#[derive(Debug, Default)]
struct RowIssues {
    by_sku: HashMap<String, (usize, usize)>,
    unkeyed_errors: usize,
}

impl RowIssues {
    fn totals(&self) -> (usize, usize) {
        let (c, e) = self
            .by_sku
            .values()
            .fold((0, 0), |(c, e), (dc, de)| (c + dc, e + de));
        (c, e + self.unkeyed_errors)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let runs = Family::<Labels, Counter>::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "sheetsync_runs",
            "Sync runs by their exit code (SPEC 5)",
            runs.clone(),
        );
        let changes = Family::<Labels, Counter>::default();
        registry.register(
            "sheetsync_changes",
            "Planned store changes by their outcome",
            changes.clone(),
        );
        let conflicts = Gauge::default();
        registry.register(
            "sheetsync_conflicts",
            "Conflicts of each row's latest run",
            conflicts.clone(),
        );
        let row_errors = Gauge::default();
        registry.register(
            "sheetsync_row_errors",
            "Row errors of each row's latest run",
            row_errors.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "sheetsync_throttled_requests",
            "Requests the store answered THROTTLED or 429, or Google answered 429",
            throttled.clone(),
        );
        let rate_room = Gauge::default();
        registry.register(
            "sheetsync_rate_limit_points_available",
            "Points left in the store's rate-limit bucket at its last answer",
            rate_room.clone(),
        );
        let edit_to_store = Histogram::new(EDIT_BUCKETS);
        registry.register(
            "sheetsync_edit_to_store_seconds",
            "From a notified edit's sent_at to its store write confirmed",
            edit_to_store.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "sheetsync_last_success_timestamp_seconds",
            "Unix time of the last run that exited 0 or 3",
            last_success.clone(),
        );
        // Every exit code and outcome shows from the start, at 0, so a rate over them
        // means something before the first of each.
        for code in [0u8, 1, 2, 3, 4, 130] {
            let _ = runs.get_or_create(&vec![("exit_code".to_owned(), code.to_string())]);
        }
        for status in ["applied", "failed", "skipped"] {
            let _ = changes.get_or_create(&vec![("status".to_owned(), status.to_owned())]);
        }
        Metrics {
            registry,
            runs,
            changes,
            conflicts,
            row_errors,
            throttled,
            rate_room,
            edit_to_store,
            last_success,
            issues: Mutex::new(RowIssues::default()),
        }
    }

    /// The exposition, in the Prometheus text format 0.0.4.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug of the crate.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(error = %e, "Cannot encode the metrics");
        }
        out
    }

    /// A run the loop finished, at `now`.
    pub fn record_run(
        &self,
        report: &Report,
        status: ExitStatus,
        planned: Planned<'_>,
        carried: &[Notice],
        now: DateTime<Utc>,
    ) {
        self.count_run(status);
        for change in &report.changes {
            let name = match change.status {
                Status::Planned => "planned",
                Status::Applied => "applied",
                Status::Failed => "failed",
                Status::Skipped => "skipped",
            };
            self.changes
                .get_or_create(&vec![("status".to_owned(), name.to_owned())])
                .inc();
        }
        self.set_issues(report, planned);
        if matches!(status, ExitStatus::Done | ExitStatus::RowErrors) {
            self.last_success
                .set(now.timestamp_millis() as f64 / 1000.0);
        }
        // An edit reached the store only when the run wrote to it; a notified edit that
        // changed nothing there (a note, a status cell) has no latency to measure.
        let wrote = report.changes.iter().any(|c| c.status == Status::Applied);
        if wrote {
            for notice in carried {
                let secs = (now - notice.sent_at).num_milliseconds().max(0) as f64 / 1000.0;
                self.edit_to_store.observe(secs);
            }
        }
    }

    /// A run that ended in an error before its report (exit 1 or 2).
    pub fn record_failed_run(&self, status: ExitStatus) {
        self.count_run(status);
    }

    fn count_run(&self, status: ExitStatus) {
        self.runs
            .get_or_create(&vec![("exit_code".to_owned(), status.code().to_string())])
            .inc();
    }

    fn set_issues(&self, report: &Report, planned: Planned<'_>) {
        let mut issues = self.issues.lock().unwrap_or_else(|p| p.into_inner());
        match planned {
            Planned::All => {
                issues.by_sku.clear();
                issues.unkeyed_errors = report.errors.iter().filter(|e| e.sku.is_none()).count();
            }
            Planned::Rows(skus) => {
                for sku in skus {
                    issues.by_sku.remove(sku.as_str());
                }
            }
        }
        for c in &report.conflicts {
            issues.by_sku.entry(c.sku.clone()).or_default().0 += 1;
        }
        for e in &report.errors {
            if let Some(sku) = &e.sku {
                issues.by_sku.entry(sku.clone()).or_default().1 += 1;
            }
        }
        issues.by_sku.retain(|_, (c, e)| *c + *e > 0);
        let (conflicts, errors) = issues.totals();
        self.conflicts
            .set(i64::try_from(conflicts).unwrap_or(i64::MAX));
        self.row_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
    }
}

impl Progress for Metrics {
    fn report(&self, event: Event) {
        match event {
            Event::Throttled { .. } => {
                self.throttled.inc();
            }
            Event::RateRoom { available } => {
                self.rate_room
                    .set(i64::try_from(available).unwrap_or(i64::MAX));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Limit;

    #[test]
    fn every_spec_name_is_exposed_and_counters_move() {
        let m = Metrics::new();
        m.record_failed_run(ExitStatus::RunFailed);
        m.report(Event::Throttled {
            limit: Limit::Google,
        });
        m.report(Event::RateRoom { available: 1900 });
        let text = m.encode();
        for name in [
            "# TYPE sheetsync_runs_total counter",
            "sheetsync_runs_total{exit_code=\"1\"} 1",
            "# TYPE sheetsync_changes_total counter",
            "# TYPE sheetsync_conflicts gauge",
            "# TYPE sheetsync_row_errors gauge",
            "sheetsync_throttled_requests_total 1",
            "sheetsync_rate_limit_points_available 1900",
            "# TYPE sheetsync_edit_to_store_seconds histogram",
            "sheetsync_changes_total{status=\"applied\"} 0",
            "sheetsync_edit_to_store_seconds_bucket{le=\"3\"} 0",
            "# TYPE sheetsync_last_success_timestamp_seconds gauge",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
