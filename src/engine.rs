//! One run: read the sheet ∥ read the store, plan, apply, persist (DESIGN "One run, as
//! data"). The dry-run path returns right after the plan and never constructs the
//! executor or opens the state for writing, so "writes nothing anywhere" holds by
//! construction.

mod pull;

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::{self, Executor};
use crate::config::{Config, Secret};
use crate::model::{Field, FieldKey, LocationName};
use crate::plan::{self, Adopt, Baseline, PlanOptions};
use crate::report::{Fatal, Report, RunMeta};
use crate::sheet::google::{SheetError, SheetsClient};
use crate::sheet::parse::{self, ColumnKey, HeaderError};
use crate::state::{Scope, State, StateError, WriterLock};
use crate::store::shopify::{ShopifyClient, StoreError};

/// How many rows from the top are read to find the header row.
const HEADER_SCAN_ROWS: u32 = 30;

/// What a run was asked to do (the `sync` flags).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub only: Option<BTreeSet<Field>>,
    pub yes: bool,
    pub adopt: Option<Adopt>,
    /// Names the run in the journal; made by the caller, which owns the clock.
    pub run_id: String,
    pub started_at: String,
    /// Fired by SIGINT/SIGTERM: the request in flight finishes, the rest end `skipped`.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// Why a run could not complete; `fatal()` says which exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sheet(#[from] SheetError),
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("missing Shopify access scope(s): {}; grant them to the app and reinstall it", .0.join(", "))]
    MissingScopes(Vec<String>),
    #[error("{0}")]
    Locations(String),
    #[error("{0}")]
    Config(String),
}

impl EngineError {
    /// Config, scope, header and lock problems are the user's to fix (exit 2); the rest
    /// mean the run could not complete (exit 1).
    pub fn fatal(&self) -> Fatal {
        match self {
            EngineError::Header(_)
            | EngineError::MissingScopes(_)
            | EngineError::Locations(_)
            | EngineError::Config(_)
            | EngineError::State(StateError::Locked { .. })
            | EngineError::Store(
                StoreError::InvalidShop(_)
                | StoreError::InvalidBaseUrl { .. }
                | StoreError::ForeignHost { .. }
                | StoreError::AccessDenied { .. },
            )
            | EngineError::Sheet(
                SheetError::NotFound { .. }
                | SheetError::BadRange { .. }
                | SheetError::Permission { .. }
                | SheetError::Key { .. },
            ) => Fatal::Config,
            _ => Fatal::Run,
        }
    }
}

/// The clients a run talks to, built once from the config.
pub struct Engine {
    pub config: Config,
    pub sheets: SheetsClient,
    pub store: ShopifyClient,
}

impl Engine {
    /// Builds both clients. The Shopify token comes from the config (`method = "token"`).
    pub async fn connect(config: Config) -> Result<Engine, EngineError> {
        let token = shopify_token(&config)?;
        let store = ShopifyClient::new(&config.shopify, token)?;
        store.set_bulk_threshold(config.sync.bulk_threshold);
        let sheets = match &config.google.credentials {
            Some(key) => SheetsClient::service_account(key, &config.sheet.api_base_url).await?,
            None => {
                return Err(EngineError::Config(
                    "google.credentials is not set: point it at the service-account key file"
                        .into(),
                ));
            }
        };
        Ok(Engine {
            config,
            sheets,
            store,
        })
    }

    /// Replaces both clients' retry policy (tests use millisecond waits).
    pub fn with_retry(self, policy: crate::http::RetryPolicy) -> Result<Engine, EngineError> {
        use crate::store::shopify::transport::{TokioClock, Transport};
        let token = shopify_token(&self.config)?;
        let transport = Transport::with_clock(
            &self.config.shopify,
            token,
            policy,
            std::sync::Arc::new(TokioClock::default()),
        )?;
        Ok(Engine {
            store: ShopifyClient::with_transport(transport),
            sheets: self.sheets.with_retry(policy),
            config: self.config,
        })
    }

    fn scope(&self) -> Scope {
        Scope {
            shop: self.config.shopify.shop.clone(),
            spreadsheet_id: self.config.sheet.spreadsheet_id.clone(),
            tab: self.config.sheet.tab.clone(),
        }
    }

    /// One `sync` (or `sync --dry-run`): returns the report; an `Err` means the run could
    /// not complete at all.
    pub async fn sync(&self, opts: &RunOptions) -> Result<Report, EngineError> {
        let cfg = &self.config;
        let scope = self.scope();
        // The writer lock comes first so two writers never plan against each other.
        let _lock = if opts.dry_run {
            None
        } else {
            Some(WriterLock::acquire(
                &cfg.sync.state_dir,
                &scope,
                "sheetsync sync",
            )?)
        };

        // Store reads and the sheet's header row go out together.
        let specs = cfg.column_specs();
        let (store_side, header_rows) = tokio::join!(
            self.read_store_meta(),
            self.sheets
                .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, HEADER_SCAN_ROWS)
        );
        let (_currency, locations) = store_side?;
        let layout = parse::locate(&cfg.sheet.tab, &header_rows?, &specs)?;
        let cols: Vec<u32> = layout.columns.iter().map(|(_, c)| *c).collect();
        let loc_pairs: Vec<(LocationName, String)> = locations
            .iter()
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect();
        let (snapshot, columns) = tokio::join!(
            self.store.snapshot(&loc_pairs),
            self.sheets
                .read_columns(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, &cols)
        );
        let snapshot = snapshot?;
        let columns = columns?;
        let sheet = parse::parse(&layout, &columns, &snapshot.currency)?;

        let state = if opts.dry_run {
            State::open_read_only(&cfg.sync.state_dir, &scope)?
        } else {
            Some(State::open(&cfg.sync.state_dir, &scope)?)
        };
        let baseline: Baseline = match &state {
            Some(s) => s.load_baseline()?,
            None => Baseline::default(),
        };

        let plan_opts = PlanOptions {
            policy: cfg.sync.inventory,
            only: opts.only.clone(),
            adopt: opts.adopt,
            max_change_ratio: cfg.sync.max_change_ratio,
            max_price_change: cfg.sync.max_price_change,
            locations: cfg
                .inventory_columns()
                .into_iter()
                .map(|(l, _)| l)
                .collect(),
            tab: layout.tab.clone(),
            sku_col: layout
                .columns
                .iter()
                .find(|(spec, _)| spec.key == ColumnKey::Sku)
                .map_or(0, |(_, col)| *col),
        };
        let plan = plan::build(&sheet, &snapshot, &baseline, &plan_opts);
        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: cfg.shopify.shop.clone(),
            spreadsheet_id: cfg.sheet.spreadsheet_id.clone(),
        };
        let mut report = Report::from_plan(&plan, meta, &snapshot.currency, opts.dry_run);
        if opts.yes {
            report.refused.clear();
        }
        let Some(mut state) = state.filter(|_| !opts.dry_run) else {
            return Ok(report);
        };

        // A killed run's open requests are decided by the snapshot just read, never resent.
        apply::recover::settle_unsettled(&mut state, &snapshot, &locations)?;
        state.begin_run(&opts.run_id, &opts.started_at, "sync", false)?;
        let mut confirmed: Vec<(crate::model::Sku, FieldKey, Option<crate::model::Value>)> = plan
            .agreed
            .iter()
            .map(|a| (a.sku.clone(), a.key.clone(), a.value.clone()))
            .collect();
        if report.refused.is_empty() {
            let journal = std::sync::Mutex::new(state);
            let executor = Executor::new(
                &self.store,
                &journal,
                &opts.run_id,
                &locations,
                cfg.sync.inventory,
            )
            .with_cancel(opts.cancel.clone());
            let outcomes = executor.apply(&plan, &baseline).await;
            apply::record(
                &mut report,
                &plan,
                &outcomes,
                &snapshot.currency,
                &mut confirmed,
            );
            state = journal.into_inner().unwrap_or_else(|p| p.into_inner());
        }
        report.interrupted = opts.cancel.is_cancelled();
        // An interrupted run stops writing: the sheet is left for the next run.
        if !report.interrupted {
            self.write_back(
                &layout,
                &columns,
                &sheet,
                &plan,
                &mut report,
                &mut confirmed,
            )
            .await;
        }
        report.recount();
        state.set_baseline(&confirmed)?;
        let exit = report.exit_status(opts.yes).code();
        let finished = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        state.finish_run(
            &opts.run_id,
            &finished,
            i32::from(exit),
            &serde_json::to_value(report.summary).unwrap_or_default(),
            &crate::report::json::to_json(&report),
        )?;
        Ok(report)
    }

    /// Step 5 of a real run (SPEC §4.4-4.5): pulled values, status and `synced_at` cells
    /// written into the sheet, addressed by SKU and guarded by a fresh read. Pulls whose
    /// write the sheet confirmed join `confirmed`, so the baseline moves only for them. A
    /// failed sheet write never fails the run: it ends up in the report.
    async fn write_back(
        &self,
        layout: &parse::Layout,
        columns: &[Vec<serde_json::Value>],
        sheet: &parse::ParsedSheet,
        plan: &plan::Plan,
        report: &mut Report,
        confirmed: &mut Vec<(crate::model::Sku, FieldKey, Option<crate::model::Value>)>,
    ) {
        use crate::sheet::writeback;
        let mut rows: BTreeMap<u32, Option<crate::model::Sku>> = sheet
            .rows
            .iter()
            .map(|r| (r.row, Some(r.sku.clone())))
            .collect();
        for e in &plan.errors {
            rows.entry(e.row).or_insert_with(|| e.sku.clone());
        }
        let rows: Vec<_> = rows.into_iter().collect();
        let grid = writeback::ReadGrid { layout, columns };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let writes =
            writeback::plan_sync(&grid, &rows, plan, report, &now, report.refused.is_empty());
        let sku_col = layout
            .columns
            .iter()
            .find(|(spec, _)| spec.key == ColumnKey::Sku)
            .map_or(0, |(_, col)| *col);
        let outcome = writeback::execute(
            &self.sheets,
            &self.config.sheet.spreadsheet_id,
            &layout.tab,
            sku_col,
            &writes,
        )
        .await;
        if let Some(e) = &outcome.report.error {
            tracing::warn!(error = %e, "Write-back to the sheet failed");
        }
        writeback::record_sync(report, plan, &writes, &outcome, confirmed);
    }

    /// Currency, scopes and the configured locations' ids.
    pub async fn read_store_meta(
        &self,
    ) -> Result<(String, BTreeMap<LocationName, String>), EngineError> {
        let info = self.store.shop_info().await?;
        let missing: Vec<String> = ShopifyClient::required_scopes()
            .iter()
            .filter(|need| !scope_granted(&info.scopes, need))
            .map(|s| (*s).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::MissingScopes(missing));
        }
        let all = self.store.locations().await?;
        let mut wanted = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, _) in self.config.inventory_columns() {
            match all.iter().find(|l| l.name == name) {
                Some(l) if l.active => {
                    wanted.insert(name, l.id.clone());
                }
                Some(_) => problems.push(format!("location {name:?} is inactive in Shopify")),
                None => problems.push(format!("location {name:?} is not in the store")),
            }
        }
        if !problems.is_empty() {
            let names: Vec<String> = all
                .iter()
                .map(|l| {
                    if l.active {
                        format!("{:?}", l.name)
                    } else {
                        format!("{:?} (inactive)", l.name)
                    }
                })
                .collect();
            return Err(EngineError::Locations(format!(
                "{} (check [sheet.inventory]); the store's locations are: {}",
                problems.join("; "),
                names.join(", ")
            )));
        }
        Ok((info.currency, wanted))
    }
}

/// `write_x` implies `read_x` (SHOPIFY.md §7f).
fn scope_granted(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| g == need)
        || need.strip_prefix("read_").is_some_and(|rest| {
            granted
                .iter()
                .any(|g| g.strip_prefix("write_") == Some(rest))
        })
}

fn shopify_token(config: &Config) -> Result<Secret, EngineError> {
    use crate::config::ShopifyAuthMethod;
    match (config.shopify.auth.method, &config.shopify.auth.token) {
        (ShopifyAuthMethod::Token, Some(t)) => Ok(t.clone()),
        (method, _) => Err(EngineError::Config(format!(
            "shopify.auth.method = {method:?} is not supported yet; use method = \"token\" with a custom-app token"
        ))),
    }
}
