//! `serve` with the shared state (SPEC §10's "or, with the shared state, `fleet run`"):
//! a fleet worker in-process beside the HTTP server, sharing its shutdown. The worker
//! claims and runs pairs as `fleet run` does; each watch pair running here is plugged in
//! through [`crate::fleet::hooks`]:
//!
//! - `POST /hooks/sheet` nudges the pair running here whose spreadsheet and tab the
//!   notification names; one for a sheet no pair here runs is answered 202 `ignored`
//!   (its owner elsewhere polls it, or gets the hook if the script points at it);
//! - `/metrics` counts every pair's runs, changes, throttling and edit latency;
//! - `/healthz` is 503 while any pair running here has been failing for longer than the
//!   threshold (the page shows which), 200 once all of them succeed again.
//!
//! The page reads the config's own (store, spreadsheet, tab) from the shared state, and
//! its notes name the pairs running here and those failing.
//! Schedule pairs run as under `fleet run`, unobserved. On SIGTERM the worker finishes
//! its batches and releases its pairs, then the server stops.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::access::Bearer;
use super::hook::{HookState, HookTarget};
use super::{ServeContext, ServeError, hook_gate, serve_while};
use crate::fleet::hooks::{Attached, PairHooks, PairKey};
use crate::fleet::worker::WorkerOptions;
use crate::progress::Reporter;
use crate::report::{ExitStatus, Report};
use crate::schedule::{Notice, Nudges, Planned, Shutdown, TickObserver};

/// (spreadsheet id, tab) → the pair's name, its grant's epoch and its loop's nudges.
type BySheet = HashMap<(String, String), (String, i64, Nudges)>;

/// The pairs running on this worker, as `serve` sees them.
struct Inner {
    ctx: ServeContext,
    by_sheet: Mutex<BySheet>,
    /// Pairs whose last tick failed, with the error.
    failing: Mutex<BTreeMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn nudges_for(&self, spreadsheet_id: &str, tab: &str) -> Option<Nudges> {
        lock(&self.by_sheet)
            .get(&(spreadsheet_id.to_owned(), tab.to_owned()))
            .map(|(_, _, n)| n.clone())
    }

    /// One pair's tick succeeded (or it left): healthy once no pair here is failing.
    fn pair_ok(&self, name: &str) {
        let mut failing = lock(&self.failing);
        failing.remove(name);
        if failing.is_empty() {
            self.ctx.health.succeeded();
        }
    }

    fn pair_failed(&self, name: &str, error: &str) {
        lock(&self.failing).insert(name.to_owned(), error.to_owned());
        self.ctx.health.failed(&format!("pair {name}: {error}"));
    }
}

/// The [`PairHooks`] of `serve`.
#[derive(Clone)]
pub struct FleetHooks(Arc<Inner>);

impl FleetHooks {
    pub fn new(ctx: ServeContext) -> FleetHooks {
        FleetHooks(Arc::new(Inner {
            ctx,
            by_sheet: Mutex::new(HashMap::new()),
            failing: Mutex::new(BTreeMap::new()),
        }))
    }

    /// The nudges of the pair running here for (spreadsheet id, tab), if any.
    pub fn nudges_for(&self, spreadsheet_id: &str, tab: &str) -> Option<Nudges> {
        self.0.nudges_for(spreadsheet_id, tab)
    }

    /// The page's lines about this worker: which pairs run here, which are failing.
    pub fn notes(&self, worker: &str) -> Vec<String> {
        let pairs = self.pairs();
        let mut notes = vec![if pairs.is_empty() {
            format!("Fleet worker {worker}: no watch pair runs here right now.")
        } else {
            format!(
                "Fleet worker {worker}: {} watch pair(s) run here: {}.",
                pairs.len(),
                pairs.join(", ")
            )
        }];
        for (name, error) in lock(&self.0.failing).iter() {
            notes.push(format!("Pair {name} is failing: {error}"));
        }
        notes.push(
            "The runs on this page are the config's own store, spreadsheet and tab; \
             `sheetsync fleet status` lists the whole fleet."
                .to_owned(),
        );
        notes
    }

    /// The names of the watch pairs running here.
    pub fn pairs(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.0.by_sheet)
            .values()
            .map(|(n, _, _)| n.clone())
            .collect();
        names.sort();
        names
    }
}

impl PairHooks for FleetHooks {
    fn attach(&self, pair: &PairKey) -> Attached {
        let nudges = Nudges::default();
        lock(&self.0.by_sheet).insert(
            (pair.spreadsheet_id.clone(), pair.tab.clone()),
            (pair.name.clone(), pair.epoch, nudges.clone()),
        );
        Attached {
            nudges,
            observer: Arc::new(PairObserver {
                name: pair.name.clone(),
                inner: Arc::clone(&self.0),
            }),
            progress: Some(Reporter::new(self.0.ctx.metrics.clone())),
        }
    }

    fn detach(&self, pair: &PairKey) {
        let mut by_sheet = lock(&self.0.by_sheet);
        let key = (pair.spreadsheet_id.clone(), pair.tab.clone());
        // Only its own attachment: a newer grant's loop may already have replaced it.
        if by_sheet
            .get(&key)
            .is_some_and(|(n, e, _)| *n == pair.name && *e == pair.epoch)
        {
            by_sheet.remove(&key);
        }
        drop(by_sheet);
        self.0.pair_ok(&pair.name);
    }
}

/// Feeds one pair's ticks to the shared health and metrics.
struct PairObserver {
    name: String,
    inner: Arc<Inner>,
}

impl TickObserver for PairObserver {
    fn ran(&self, report: &Report, status: ExitStatus, planned: Planned<'_>, carried: &[Notice]) {
        let now = self.inner.ctx.clock.wall();
        self.inner
            .ctx
            .metrics
            .record_run(report, status, planned, carried, now);
        match status {
            ExitStatus::RunFailed | ExitStatus::Config => {
                self.inner
                    .pair_failed(&self.name, "the run failed (see the log)");
            }
            _ => self.inner.pair_ok(&self.name),
        }
    }

    fn checked(&self) {
        self.inner.pair_ok(&self.name);
    }

    fn failed(&self, error: &str, run: Option<ExitStatus>) {
        self.inner.pair_failed(&self.name, error);
        if let Some(status) = run {
            self.inner.ctx.metrics.record_failed_run(status);
        }
    }
}

/// Runs the fleet worker `worker` and the HTTP server on `listener` until
/// `shutdown.stop` fires; the worker's pairs are released before the server stops.
pub async fn run(
    ctx: &ServeContext,
    worker: WorkerOptions,
    listener: tokio::net::TcpListener,
    bearer: Bearer,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    let gate = hook_gate(ctx)?;
    let hooks = FleetHooks::new(ctx.clone());
    let route = hooks.clone();
    let mut ctx = ctx.clone();
    let (shown, id) = (hooks.clone(), worker.id.clone());
    ctx.page_notes = Some(Arc::new(move || shown.notes(&id)));
    let hook = HookState {
        gate,
        target: HookTarget::Fleet(Arc::new(move |id: &str, tab: &str| {
            route.nudges_for(id, tab)
        })),
    };
    let worker = crate::fleet::worker::run_with(worker, shutdown.clone(), Some(Arc::new(hooks)));
    serve_while(&ctx, hook, listener, bearer, shutdown, worker).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::health::ManualClock;
    use std::time::Duration;

    fn hooks(clock: Arc<ManualClock>) -> FleetHooks {
        let text = "[sheet]\nspreadsheet_id = \"s\"\ntab = \"Inventory\"\n\
                    [sheet.columns]\nsku = \"SKU\"\nprice = \"Price\"\n\
                    [google]\ncredentials = \"key.json\"\n\
                    [shopify]\nshop = \"example.myshopify.com\"\n\
                    [shopify.auth]\nmethod = \"client_credentials\"\n\
                    client_id = \"id\"\nclient_secret = \"s\"\n";
        let config = crate::config::Config::parse(text, std::path::Path::new("t.toml"), &|_| None)
            .expect("config");
        FleetHooks::new(ServeContext::new(config, Duration::from_secs(10), clock))
    }

    fn key(name: &str, sheet: &str, epoch: i64) -> PairKey {
        PairKey {
            name: name.into(),
            spreadsheet_id: sheet.into(),
            tab: "Inventory".into(),
            epoch,
        }
    }

    fn notice() -> Notice {
        Notice {
            received: tokio::time::Instant::now(),
            sent_at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_notification_reaches_the_pair_running_here_for_its_sheet_only() {
        let h = hooks(Arc::new(ManualClock::default()));
        let a = h.attach(&key("a", "sheet-a", 1));
        let b = h.attach(&key("b", "sheet-b", 1));
        assert_eq!(h.pairs(), ["a", "b"]);
        h.nudges_for("sheet-b", "Inventory")
            .expect("b runs here")
            .push(notice());
        assert_eq!(b.nudges.take().len(), 1);
        assert!(a.nudges.take().is_empty());
        assert!(h.nudges_for("sheet-b", "Other tab").is_none());
        assert!(h.nudges_for("sheet-c", "Inventory").is_none());

        // Lost and granted again: the new loop attaches before the old one detaches.
        let again = h.attach(&key("b", "sheet-b", 2));
        h.detach(&key("b", "sheet-b", 1));
        h.nudges_for("sheet-b", "Inventory")
            .expect("the new grant's loop")
            .push(notice());
        assert_eq!(again.nudges.take().len(), 1);
        h.detach(&key("b", "sheet-b", 2));
        assert!(h.nudges_for("sheet-b", "Inventory").is_none());
        assert_eq!(h.pairs(), ["a"]);
    }

    #[tokio::test]
    async fn health_fails_while_any_pair_here_fails_and_recovers_when_none_does() {
        let clock = Arc::new(ManualClock::default());
        let h = hooks(clock.clone());
        let a = h.attach(&key("a", "sheet-a", 1));
        let b = h.attach(&key("b", "sheet-b", 1));
        a.observer.failed("Google said 503", None);
        clock.advance(Duration::from_secs(61));
        // Another pair's success does not hide it.
        b.observer.checked();
        let report = h.0.ctx.health.report();
        assert!(!report.healthy, "{report:?}");
        assert!(
            report
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("pair a") && e.contains("503")),
            "{report:?}"
        );
        a.observer.checked();
        assert!(h.0.ctx.health.report().healthy);

        // A failing pair that leaves this worker no longer counts.
        b.observer.failed("store unreachable", None);
        clock.advance(Duration::from_secs(61));
        assert!(!h.0.ctx.health.report().healthy);
        h.detach(&key("b", "sheet-b", 1));
        assert!(h.0.ctx.health.report().healthy);
    }
}
