//! What the status page shows, as plain data gathered from the state's journal of runs
//! (`list_runs`, then each run's stored report): no HTML here, and nothing here is
//! escaped; the template does that.
//!
//! Which problems are current (SPEC §10: "the row errors and conflicts of each row's
//! latest run"): a row is known by its SKU (rows move; the engine addresses them by SKU),
//! or by its row number when it has none. Runs are read newest first. A run that planned
//! every row settles every row not settled by a newer run, and the scan stops there; a
//! run of `watch`'s changed rows (its report's `planned_skus`) settles those SKUs only.
//! A row's problems are the ones its settling run reported, so a `both_changed` conflict
//! stays listed with its resolution until a later run of its row, and a fixed cell clears
//! on the next run that reads it. `pull` and `revert` do not judge rows, and a run that
//! could not complete (`fatal`) judged nothing, so neither settles anything.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::config::{Config, GoogleMethod, ShopifyAuthMethod};
use crate::plan::{ConflictKind, Refusal, Resolution};
use crate::report::{ConflictReport, ErrorReport, Report, Status};
use crate::state::{RunRow, StateError, StateStore};

/// Runs listed at the top of the page.
pub const RUNS_SHOWN: usize = 20;
/// How far back the journal is read to find each row's latest run: past this many runs
/// without one that planned every row, older problems are not shown (and the page says
/// so). `watch` makes a full run every `--full-every` (15 min by default), so this is
/// hours of changed-rows runs.
pub const RUNS_SCANNED: usize = 1000;
/// Changes of the last run listed before "and N more".
pub const CHANGES_SHOWN: usize = 200;

/// Where the watch loop stands, as the server last set it (SPEC §10 `/healthz` decides
/// the same thing; the page shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchHealth {
    pub healthy: bool,
    /// Since when it has been in this state.
    pub since: DateTime<Utc>,
    /// The last failure of a check or sync, kept after recovery so the page can say what
    /// happened.
    pub last_error: Option<LastError>,
}

/// A failure of the watch loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub at: DateTime<Utc>,
    pub message: String,
}

impl WatchHealth {
    /// A loop that has just started and not failed yet.
    pub fn starting(now: DateTime<Utc>) -> WatchHealth {
        WatchHealth {
            healthy: true,
            since: now,
            last_error: None,
        }
    }
}

/// The health the server updates and the page reads: one value behind a lock.
#[derive(Debug, Clone)]
pub struct SharedHealth(Arc<Mutex<WatchHealth>>);

impl SharedHealth {
    pub fn new(health: WatchHealth) -> SharedHealth {
        SharedHealth(Arc::new(Mutex::new(health)))
    }

    /// The current value.
    pub fn get(&self) -> WatchHealth {
        match self.0.lock() {
            Ok(h) => h.clone(),
            // A writer that panicked left a whole value behind: still worth showing.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the value under the lock, so concurrent updates are not lost.
    fn update(&self, change: impl FnOnce(&mut WatchHealth)) {
        match self.0.lock() {
            Ok(mut h) => change(&mut h),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    /// Replaces the value.
    pub fn set(&self, health: WatchHealth) {
        self.update(|h| *h = health);
    }

    /// Records a success: healthy from `now` on, unless it already was (then `since` stays).
    pub fn succeeded(&self, now: DateTime<Utc>) {
        self.update(|h| {
            if !h.healthy {
                h.healthy = true;
                h.since = now;
            }
        });
    }

    /// Records a failure. `unhealthy` is the server's verdict (failing for longer than its
    /// grace period); the error is kept either way.
    pub fn failed(&self, now: DateTime<Utc>, message: &str, unhealthy: bool) {
        self.update(|h| {
            if unhealthy && h.healthy {
                h.healthy = false;
                h.since = now;
            }
            h.last_error = Some(LastError {
                at: now,
                message: message.to_owned(),
            });
        });
    }
}

/// The page, as data.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub generated_at: String,
    pub shop: String,
    pub spreadsheet_id: String,
    pub tab: String,
    /// The spreadsheet (its tab when the `sheetId` is known).
    pub sheet_url: String,
    pub watch: HealthView,
    pub runs: Vec<RunView>,
    pub errors: Vec<ErrorView>,
    /// Conflicts settled by a run (`both_changed` resolved sheet, or adopted).
    pub conflicts: Vec<ConflictView>,
    /// Guard refusals still standing.
    pub refused: Vec<RefusedView>,
    /// `no_baseline` conflicts waiting for `sync --adopt sheet|store`.
    pub awaiting_adopt: Vec<ConflictView>,
    pub last_run: Option<LastRunView>,
    pub tokens: Vec<TokenView>,
    /// Why part of the page could not be read (the state is unreadable, a report is).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub healthy: bool,
    pub since: String,
    pub since_ago: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run_id: String,
    pub command: String,
    pub started_at: String,
    pub started_ago: String,
    pub finished: bool,
    pub exit_code: Option<i32>,
    /// What the exit code means (SPEC §5), in words.
    pub outcome: String,
    /// `ok`, `warn` or `bad`, for the colour.
    pub tone: &'static str,
    pub applied: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
    pub conflicts: usize,
    pub pulled: usize,
    /// "all rows", "3 changed rows", or empty when unknown.
    pub scope: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    pub cell: String,
    pub link: Option<String>,
    pub sku: Option<String>,
    pub message: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub cell: Option<String>,
    pub link: Option<String>,
    pub sku: String,
    /// `price`, or `inventory at Outlet`.
    pub field: String,
    pub kind: &'static str,
    pub baseline: String,
    pub sheet: String,
    pub store: String,
    /// What was done, in words.
    pub resolution: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedView {
    pub run_id: String,
    pub started_at: String,
    /// One sentence per guard that tripped.
    pub guards: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRunView {
    pub run_id: String,
    pub command: String,
    pub started_at: String,
    pub changes: Vec<ChangeView>,
    pub pulled: Vec<ChangeView>,
    /// Changes and pulled cells beyond the ones listed.
    pub more: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    pub sku: String,
    pub row: u32,
    pub field: String,
    pub from: String,
    pub to: String,
    pub status: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub side: &'static str,
    pub credential: String,
    pub expires: String,
    pub note: Option<String>,
    /// Something a person must do before it stops working.
    pub attention: bool,
}

/// What a finished run's report says about rows, kept per run id: a finished run's report
/// never changes, so each is parsed once however often the page is polled.
#[derive(Debug, Clone)]
pub struct Digest {
    sheet_id: Option<i64>,
    planned_skus: Option<BTreeSet<String>>,
    judged: bool,
    errors: Vec<ErrorReport>,
    conflicts: Vec<ConflictReport>,
    refused: Vec<Refusal>,
    pulled: usize,
}

impl Digest {
    fn of(command: &str, report: &Report) -> Digest {
        Digest {
            sheet_id: report.sheet_id,
            planned_skus: report
                .planned_skus
                .as_ref()
                .map(|s| s.iter().cloned().collect()),
            judged: report.fatal.is_none() && !matches!(command, "pull" | "revert"),
            errors: report.errors.clone(),
            conflicts: report.conflicts.clone(),
            refused: report.refused.clone(),
            pulled: report.pulled.len(),
        }
    }
}

/// Parsed reports by run id, shared by the page's requests.
pub type DigestCache = Arc<Mutex<HashMap<String, Arc<Digest>>>>;

/// The site the page describes: the config's sheet and shop.
#[derive(Debug, Clone)]
pub struct Site {
    pub shop: String,
    pub spreadsheet_id: String,
    pub tab: String,
}

impl Site {
    pub fn of(config: &Config) -> Site {
        Site {
            shop: config.shop_name().to_owned(),
            spreadsheet_id: config.sheet.spreadsheet_id.clone(),
            tab: config.sheet.tab.clone(),
        }
    }
}

/// A row of the sheet: by SKU, or by row number when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RowKey {
    Sku(String),
    Row(u32),
}

fn row_key(sku: Option<&str>, row: u32) -> RowKey {
    match sku {
        Some(s) if !s.is_empty() => RowKey::Sku(s.to_owned()),
        _ => RowKey::Row(row),
    }
}

/// Gathers the page from `state` (`None`: no state yet, so no runs). A state that fails
/// midway gives the page as far as it got, with a note saying so.
pub fn gather(
    state: Option<&dyn StateStore>,
    site: &Site,
    health: &WatchHealth,
    tokens: Vec<TokenView>,
    now: DateTime<Utc>,
    cache: &DigestCache,
) -> StatusView {
    let mut view = StatusView {
        generated_at: stamp(now),
        shop: site.shop.clone(),
        spreadsheet_id: site.spreadsheet_id.clone(),
        tab: site.tab.clone(),
        sheet_url: sheet_url(&site.spreadsheet_id, None),
        watch: HealthView {
            healthy: health.healthy,
            since: stamp(health.since),
            since_ago: ago(health.since, now),
            last_error: health.last_error.as_ref().map(|e| e.message.clone()),
            last_error_at: health.last_error.as_ref().map(|e| stamp(e.at)),
        },
        runs: Vec::new(),
        errors: Vec::new(),
        conflicts: Vec::new(),
        refused: Vec::new(),
        awaiting_adopt: Vec::new(),
        last_run: None,
        tokens,
        notes: Vec::new(),
    };
    if let Some(state) = state
        && let Err(e) = fill(&mut view, state, site, now, cache)
    {
        view.notes.push(format!("the state could not be read: {e}"));
    }
    view
}

/// The parts of the page that come from the journal of runs.
fn fill(
    view: &mut StatusView,
    state: &dyn StateStore,
    site: &Site,
    now: DateTime<Utc>,
    cache: &DigestCache,
) -> Result<(), StateError> {
    let runs = state.list_runs(RUNS_SCANNED)?;
    let mut digests: Vec<(&RunRow, Option<Arc<Digest>>)> = Vec::with_capacity(runs.len());
    let mut seen = BTreeSet::new();
    // Read newest first, and only as far as a run that planned every row: nothing older
    // can be current.
    let mut reached_full = false;
    for run in &runs {
        seen.insert(run.run_id.clone());
        let digest = digest(state, run, cache, &mut view.notes)?;
        let full = digest
            .as_ref()
            .is_some_and(|d| d.judged && d.planned_skus.is_none());
        digests.push((run, digest));
        reached_full |= full;
        if reached_full && digests.len() >= RUNS_SHOWN {
            break;
        }
    }
    if let Ok(mut c) = cache.lock() {
        c.retain(|id, _| seen.contains(id));
    }
    if !reached_full && runs.len() >= RUNS_SCANNED {
        view.notes.push(format!(
            "none of the last {RUNS_SCANNED} runs planned every row: problems older than them are not shown"
        ));
    }
    let newest_sheet_id = digests
        .iter()
        .find_map(|(_, d)| d.as_ref().and_then(|d| d.sheet_id));
    view.sheet_url = sheet_url(&site.spreadsheet_id, newest_sheet_id);

    for (run, digest) in digests.iter().take(RUNS_SHOWN) {
        view.runs.push(run_view(run, digest.as_deref(), now));
    }
    current_problems(&digests, site, newest_sheet_id, view);
    view.last_run = last_run(state, &runs, &mut view.notes)?;
    Ok(())
}

/// The digest of a finished run (`None`: unfinished, or its report is unreadable).
fn digest(
    state: &dyn StateStore,
    run: &RunRow,
    cache: &DigestCache,
    notes: &mut Vec<String>,
) -> Result<Option<Arc<Digest>>, StateError> {
    if run.finished_at.is_none() || run.dry_run {
        return Ok(None);
    }
    if let Some(d) = cache.lock().ok().and_then(|c| c.get(&run.run_id).cloned()) {
        return Ok(Some(d));
    }
    let Some(text) = state.run_report(&run.run_id)? else {
        return Ok(None);
    };
    let report: Report = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            notes.push(format!(
                "the report of run {} is unreadable: {e}",
                run.run_id
            ));
            return Ok(None);
        }
    };
    let d = Arc::new(Digest::of(&run.command, &report));
    if let Ok(mut c) = cache.lock() {
        c.insert(run.run_id.clone(), d.clone());
    }
    Ok(Some(d))
}

/// Each row's problems as its latest judging run reported them, and the refusals still
/// standing.
fn current_problems(
    digests: &[(&RunRow, Option<Arc<Digest>>)],
    site: &Site,
    newest_sheet_id: Option<i64>,
    view: &mut StatusView,
) {
    let mut settled: BTreeSet<String> = BTreeSet::new();
    for (run, digest) in digests {
        let Some(d) = digest.as_deref().filter(|d| d.judged) else {
            continue;
        };
        let sheet_id = d.sheet_id.or(newest_sheet_id);
        let link = |cell: &str| cell_link(&site.spreadsheet_id, sheet_id, cell);
        // Whether this run is the latest to have judged `key`.
        let current = |key: &RowKey| match (&d.planned_skus, key) {
            (None, RowKey::Sku(s)) => !settled.contains(s),
            (None, RowKey::Row(_)) => true,
            (Some(planned), RowKey::Sku(s)) => planned.contains(s) && !settled.contains(s),
            // A changed-rows run plans rows by SKU: a row without one is not among them.
            (Some(_), RowKey::Row(_)) => false,
        };
        for e in &d.errors {
            if current(&row_key(e.sku.as_deref(), e.row)) {
                view.errors.push(ErrorView {
                    cell: e.cell.clone(),
                    link: link(&e.cell),
                    sku: e.sku.clone(),
                    message: e.message.clone(),
                    run_id: run.run_id.clone(),
                });
            }
        }
        for c in &d.conflicts {
            if !current(&row_key(Some(&c.sku), c.row)) {
                continue;
            }
            let v = conflict_view(c, run, c.cell.as_deref().and_then(link));
            if c.kind == ConflictKind::NoBaseline && c.resolution == Resolution::None {
                view.awaiting_adopt.push(v);
            } else {
                view.conflicts.push(v);
            }
        }
        let still_refused = match &d.planned_skus {
            None => true,
            Some(planned) => !planned.is_subset(&settled),
        };
        if !d.refused.is_empty() && still_refused {
            view.refused.push(RefusedView {
                run_id: run.run_id.clone(),
                started_at: run.started_at.clone(),
                guards: d.refused.iter().map(refusal_text).collect(),
            });
        }
        match &d.planned_skus {
            None => break,
            Some(planned) => settled.extend(planned.iter().cloned()),
        }
    }
}

fn conflict_view(c: &ConflictReport, run: &RunRow, link: Option<String>) -> ConflictView {
    ConflictView {
        cell: c.cell.clone(),
        link,
        sku: c.sku.clone(),
        field: field_name(&c.field, c.location.as_deref()),
        kind: match c.kind {
            ConflictKind::BothChanged => "both_changed",
            ConflictKind::NoBaseline => "no_baseline",
            ConflictKind::ChangedSince => "changed_since",
        },
        baseline: shown(&c.baseline),
        sheet: shown(&c.sheet),
        store: shown(&c.store),
        resolution: match (c.kind, c.resolution) {
            (_, Resolution::Sheet) => "the sheet's value was pushed to the store".to_owned(),
            (_, Resolution::Store) => "the store's value was written into the sheet".to_owned(),
            (ConflictKind::NoBaseline, Resolution::None) => {
                "nothing written: run `sheetsync sync --adopt sheet` (push the sheet's values) \
                 or `--adopt store` (pull the store's)"
                    .to_owned()
            }
            (_, Resolution::None) => "nothing written".to_owned(),
        },
        run_id: run.run_id.clone(),
    }
}

/// A guard's refusal in words (SPEC §4.6).
fn refusal_text(r: &Refusal) -> String {
    match r {
        Refusal::EmptySheet => "the sheet has no data rows".to_owned(),
        Refusal::ChangeRatio {
            changed,
            total,
            max,
        } => format!(
            "{changed} of {total} SKUs would get a store write, more than sync.max_change_ratio = {max}"
        ),
        Refusal::StockToZero { zeroed, total } => format!(
            "{zeroed} of {total} stock cells would go from above zero to zero (more than half)"
        ),
        Refusal::PriceChange {
            sku,
            row,
            from,
            to,
            max,
        } => format!(
            "{sku} (row {row}): price {from} → {to} moves by more than sync.max_price_change = {max}"
        ),
    }
}

fn run_view(run: &RunRow, digest: Option<&Digest>, now: DateTime<Utc>) -> RunView {
    let count = |k: &str| run.summary.get(k).and_then(Json::as_u64).unwrap_or(0);
    let (outcome, tone) = match run.exit_code {
        _ if run.finished_at.is_none() => ("running, or killed before it finished", "warn"),
        Some(0) => ("done", "ok"),
        Some(1) => ("could not complete (network, auth or store down)", "bad"),
        Some(2) => ("usage or config error", "bad"),
        Some(3) => ("done with row errors, failed changes or conflicts", "warn"),
        Some(4) => ("refused by a safety guard", "warn"),
        Some(130) => ("interrupted", "warn"),
        _ => ("finished", "warn"),
    };
    RunView {
        run_id: run.run_id.clone(),
        command: run.command.clone(),
        started_at: run.started_at.clone(),
        started_ago: DateTime::parse_from_rfc3339(&run.started_at)
            .map(|t| ago(t.with_timezone(&Utc), now))
            .unwrap_or_default(),
        finished: run.finished_at.is_some(),
        exit_code: run.exit_code,
        outcome: outcome.to_owned(),
        tone,
        applied: count("applied"),
        failed: count("failed"),
        skipped: count("skipped"),
        errors: count("errors"),
        conflicts: digest.map_or(0, |d| d.conflicts.len()),
        pulled: digest.map_or(0, |d| d.pulled),
        scope: match digest {
            Some(d) if !d.judged => String::new(),
            Some(Digest {
                planned_skus: Some(s),
                ..
            }) => format!("{} changed row(s)", s.len()),
            Some(_) => "all rows".to_owned(),
            None => String::new(),
        },
    }
}

/// The changes and pulled cells of the newest finished run.
fn last_run(
    state: &dyn StateStore,
    runs: &[RunRow],
    notes: &mut Vec<String>,
) -> Result<Option<LastRunView>, StateError> {
    let Some(run) = runs.iter().find(|r| r.finished_at.is_some() && !r.dry_run) else {
        return Ok(None);
    };
    let Some(text) = state.run_report(&run.run_id)? else {
        return Ok(None);
    };
    let report: Report = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let status = |s: Status| {
        match s {
            Status::Planned => "planned",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
        .to_owned()
    };
    let total = report.changes.len() + report.pulled.len();
    let changes: Vec<ChangeView> = report
        .changes
        .iter()
        .take(CHANGES_SHOWN)
        .map(|c| ChangeView {
            sku: c.sku.clone(),
            row: c.row,
            field: field_name(&c.field, c.location.as_deref()),
            from: shown(&c.from),
            to: shown(&c.to),
            status: status(c.status),
            detail: c.error.clone().or_else(|| c.note.clone()),
        })
        .collect();
    let pulled: Vec<ChangeView> = report
        .pulled
        .iter()
        .take(CHANGES_SHOWN.saturating_sub(changes.len()))
        .map(|p| ChangeView {
            sku: p.sku.clone(),
            row: p.row,
            field: field_name(&p.field, p.location.as_deref()),
            from: shown(&p.from),
            to: shown(&p.to),
            status: p.status.map_or_else(|| "planned".to_owned(), status),
            detail: p.error.clone(),
        })
        .collect();
    if report.fatal.is_some() {
        notes.push(format!(
            "the last run ({}) could not complete; see `sheetsync runs show {}`",
            run.run_id, run.run_id
        ));
    }
    Ok(Some(LastRunView {
        run_id: run.run_id.clone(),
        command: run.command.clone(),
        started_at: run.started_at.clone(),
        more: total - changes.len() - pulled.len(),
        changes,
        pulled,
    }))
}

/// The token each side uses and when it stops working (what `auth status` says, without
/// any request): from the config's methods and the state's token cache.
pub fn tokens(
    config: &Config,
    state: Option<&dyn StateStore>,
    now: DateTime<Utc>,
) -> Vec<TokenView> {
    let mut out = Vec::new();
    let cached = |name: &str| {
        state
            .and_then(|s| s.get_token(name).ok().flatten())
            .map(|t| t.value)
    };
    // A WooCommerce key neither expires nor is cached: only Shopify's side is shown.
    let shopify_method = config.shopify.as_ref().map(|s| s.auth.method);
    if let Some(method) = shopify_method {
        out.push(match method {
            ShopifyAuthMethod::Token => TokenView {
                side: "Shopify",
                credential: "custom-app Admin API token".to_owned(),
                expires: "never (revoked when the app is uninstalled or the token rotated)"
                    .to_owned(),
                note: None,
                attention: false,
            },
            method => {
                let stored = cached(crate::auth::TOKEN_NAME).and_then(|v| {
                    serde_json::from_str::<crate::auth::StoredToken>(v.expose()).ok()
                });
                match stored {
                    Some(t) => {
                        let refresh_soon = t
                            .refresh_expires_at
                            .is_some_and(|r| r - now < chrono::Duration::days(7));
                        TokenView {
                            side: "Shopify",
                            credential: t.kind.describe().to_owned(),
                            expires: match t.expires_at {
                                Some(e) if e > now => format!(
                                    "{} ({}); renewed automatically before then",
                                    stamp(e),
                                    until(e, now)
                                ),
                                Some(e) => {
                                    format!("expired at {}; the next request renews it", stamp(e))
                                }
                                None => "never".to_owned(),
                            },
                            note: t.refresh_expires_at.map(|r| {
                                format!(
                                    "refresh token valid until {} ({}); rotated on every refresh",
                                    stamp(r),
                                    until(r, now)
                                )
                            }),
                            attention: refresh_soon,
                        }
                    }
                    None if method == ShopifyAuthMethod::Oauth => TokenView {
                        side: "Shopify",
                        credential: "OAuth (authorization-code install)".to_owned(),
                        expires: "no token stored".to_owned(),
                        note: Some("run `sheetsync auth shopify --method oauth`".to_owned()),
                        attention: true,
                    },
                    None => TokenView {
                        side: "Shopify",
                        credential: "client-credentials token (24 h, re-minted automatically)"
                            .to_owned(),
                        expires: "none cached yet; minted on first use".to_owned(),
                        note: None,
                        attention: false,
                    },
                }
            }
        });
    }
    out.push(match config.google.method {
        GoogleMethod::ServiceAccount => TokenView {
            side: "Google",
            credential: "service-account key".to_owned(),
            expires: "one-hour access tokens signed with the key; the key does not expire \
                      unless rotated or disabled"
                .to_owned(),
            note: None,
            attention: false,
        },
        GoogleMethod::Installed => {
            let stored = cached(crate::auth::google::TOKEN_NAME).and_then(|v| {
                serde_json::from_str::<crate::auth::google::GoogleToken>(v.expose()).ok()
            });
            match stored {
                Some(t) => {
                    let testing_death = t.consented_at + chrono::Duration::days(7);
                    TokenView {
                        side: "Google",
                        credential: "installed-app refresh token (does not expire while used, \
                                     unless revoked)"
                            .to_owned(),
                        expires: match t.access_expires_at {
                            Some(e) if e > now => {
                                format!("access token until {}; refreshed automatically", stamp(e))
                            }
                            _ => "no live access token; the next request refreshes one".to_owned(),
                        },
                        note: (testing_death > now).then(|| {
                            format!(
                                "if the OAuth consent screen is in \"Testing\", this refresh \
                                 token dies at {} ({}); publish the app to keep it",
                                stamp(testing_death),
                                until(testing_death, now)
                            )
                        }),
                        attention: false,
                    }
                }
                None => TokenView {
                    side: "Google",
                    credential: "installed-app OAuth".to_owned(),
                    expires: "no token stored".to_owned(),
                    note: Some("run `sheetsync auth google --method installed`".to_owned()),
                    attention: true,
                },
            }
        }
    });
    out
}

/// The spreadsheet's URL, on the tab when its `sheetId` is known.
pub fn sheet_url(spreadsheet_id: &str, sheet_id: Option<i64>) -> String {
    let id: String = url::form_urlencoded::byte_serialize(spreadsheet_id.as_bytes()).collect();
    match sheet_id {
        Some(gid) => format!("https://docs.google.com/spreadsheets/d/{id}/edit#gid={gid}"),
        None => format!("https://docs.google.com/spreadsheets/d/{id}/edit"),
    }
}

/// The link to one cell (SPEC §10): `…/edit#gid=<sheetId>&range=<A1>`, the A1 part
/// without its tab (the `gid` names the tab). `None` without a `sheetId` or for a cell
/// that is not a plain A1 reference.
pub fn cell_link(spreadsheet_id: &str, sheet_id: Option<i64>, cell: &str) -> Option<String> {
    let gid = sheet_id?;
    let a1 = cell.rsplit('!').next().unwrap_or(cell);
    let letters = a1.chars().take_while(char::is_ascii_uppercase).count();
    let plain =
        letters > 0 && a1.len() > letters && a1[letters..].chars().all(|c| c.is_ascii_digit());
    if !plain {
        return None;
    }
    Some(format!(
        "{}&range={a1}",
        sheet_url(spreadsheet_id, Some(gid))
    ))
}

/// `price`, or `inventory at Outlet`.
fn field_name(field: &str, location: Option<&str>) -> String {
    match location {
        Some(l) => format!("{field} at {l}"),
        None => field.to_owned(),
    }
}

/// A report value as text: money and text as they are, quantities as numbers, an empty
/// value as "(blank)".
fn shown(v: &Json) -> String {
    match v {
        Json::Null => "(blank)".to_owned(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

/// "5 min ago".
fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", span((now - t).num_seconds().max(0)))
}

/// "in 5 min".
fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("in {}", span((t - now).num_seconds().max(0)))
}
