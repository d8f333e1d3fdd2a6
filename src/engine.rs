//! One run: read the sheet ∥ read the store, plan, apply, persist (DESIGN "One run, as
//! data"). The dry-run path returns right after the plan and never constructs the
//! executor or opens the state for writing, so "writes nothing anywhere" holds by
//! construction.

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::{self, Executor};
use crate::config::Config;
use crate::model::{Field, FieldKey, LocationName};
use crate::plan::{self, Adopt, Baseline, PlanOptions};
use crate::report::{Fatal, Report, RunMeta};
use crate::sheet::google::{SheetError, SheetsClient};
use crate::sheet::parse::{self, ColumnKey, HeaderError};
use crate::state::{self, Scope, StateError, StateStore};
use crate::store::shopify::{ClientOptions, ConnectError, ShopifyClient};
use crate::store::{Store, StoreError};

/// How many rows from the top are read to find the header row.
pub(crate) const HEADER_SCAN_ROWS: u32 = 30;

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
    /// The caller already holds the writer lock (`watch`, `schedule`).
    pub lock_held: bool,
}

/// What a run plans from: the sheet as read and the store items it names.
#[derive(Debug, Clone)]
pub struct Reads {
    pub layout: parse::Layout,
    pub columns: Vec<Vec<serde_json::Value>>,
    /// The whole sheet, parsed (the guards' denominators).
    pub sheet: parse::ParsedSheet,
    /// The whole store, or (with `rows`) just the variants those rows name.
    pub snapshot: plan::Snapshot,
    pub locations: BTreeMap<LocationName, String>,
    /// `watch`: plan only these SKUs' rows; `None` plans every row.
    pub rows: Option<BTreeSet<crate::model::Sku>>,
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
            | EngineError::State(
                StateError::Locked { .. }
                | StateError::LeaseHeld { .. }
                | StateError::NotMigrated { .. }
                | StateError::StateUrl { .. },
            )
            | EngineError::Store(
                StoreError::InvalidShop(_)
                | StoreError::InvalidBaseUrl { .. }
                | StoreError::ForeignHost { .. }
                | StoreError::AccessDenied { .. },
            ) => Fatal::Config,
            EngineError::Store(StoreError::WooCommerce(e)) if e.is_config() => Fatal::Config,
            EngineError::Sheet(
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
    /// The store port; Shopify's adapter is built here, from the config.
    pub store: std::sync::Arc<dyn Store>,
    /// `sync.publish_to` resolved against the store's publications, with how many the
    /// store has; read once per engine.
    publications: std::sync::Mutex<Option<Publications>>,
    /// The cancellation both clients' waits listen to (see [`Engine::with_cancel`]).
    cancel: tokio_util::sync::CancellationToken,
    /// The sheet's columns as the last read located them: the next read asks for them
    /// with the header rows in one request (see [`Engine::read_sheet`]).
    last_columns: std::sync::Mutex<Option<Vec<u32>>>,
}

/// The configured publications' ids, and how many publications the store has.
#[derive(Debug, Clone)]
struct Publications {
    wanted: Vec<plan::create::Channel>,
    in_store: usize,
}

impl Engine {
    /// Builds both clients for a run that may write. The Shopify token comes from
    /// `crate::auth` (SPEC §6).
    pub async fn connect(config: Config) -> Result<Engine, EngineError> {
        Engine::connect_with(config, false).await
    }

    /// Builds both clients; with `dry_run`, a minted Shopify token stays in memory and
    /// the state dir is only read (SPEC §4.9).
    pub async fn connect_with(config: Config, dry_run: bool) -> Result<Engine, EngineError> {
        let options = ClientOptions::from_sync(&config.sync);
        Engine::connect_with_options(config, dry_run, options).await
    }

    /// [`Engine::connect_with`] with the store client's options given rather than taken
    /// from `[sync]` (benchmarks compare one at a time with concurrent mutations).
    pub async fn connect_with_options(
        config: Config,
        dry_run: bool,
        options: ClientOptions,
    ) -> Result<Engine, EngineError> {
        let store: std::sync::Arc<dyn Store> = match &config.woocommerce {
            Some(woo) => std::sync::Arc::new(woocommerce_client(
                woo,
                &config,
                crate::http::RetryPolicy::default(),
            )?),
            None => std::sync::Arc::new(shopify_client(&config, dry_run, options)?),
        };
        let sheets = sheets_client(&config, dry_run).await?;
        Ok(Engine {
            config,
            sheets,
            store,
            publications: std::sync::Mutex::new(None),
            cancel: tokio_util::sync::CancellationToken::new(),
            last_columns: std::sync::Mutex::new(None),
        })
    }

    /// Hands the run's cancellation to both clients: once it fires, every wait (rate
    /// limits, retries, bulk job polls, paged and sheet reads between requests) ends at
    /// once and no new request is sent; a request on the wire finishes. The caller owns
    /// the signal handlers (only `cli` installs them) and passes the same token as
    /// [`RunOptions::cancel`].
    pub fn with_cancel(mut self, cancel: tokio_util::sync::CancellationToken) -> Engine {
        self.store.set_cancel(cancel.clone());
        self.sheets = self.sheets.with_cancel(cancel.clone());
        self.cancel = cancel;
        self
    }

    /// Reports long work (sheet blocks, store pages, bulk jobs, changes applied, waits for
    /// either side's rate limit) to `progress`; silent by default.
    pub fn set_progress(&mut self, progress: crate::progress::Reporter) {
        self.sheets.set_progress(progress.clone());
        self.store.set_progress(progress);
    }

    /// Replaces both clients' retry policy (tests use millisecond waits).
    pub fn with_retry(self, policy: crate::http::RetryPolicy) -> Result<Engine, EngineError> {
        use crate::store::shopify::transport::{TokioClock, Transport};
        if let Some(woo) = &self.config.woocommerce {
            let store = woocommerce_client(woo, &self.config, policy)?;
            store.set_cancel(self.cancel.clone());
            return Ok(Engine {
                store: std::sync::Arc::new(store),
                sheets: self.sheets.with_retry(policy),
                config: self.config,
                publications: std::sync::Mutex::new(None),
                cancel: self.cancel,
                last_columns: std::sync::Mutex::new(None),
            });
        }
        // Tests drive this with a static custom-app token; other methods keep their client.
        let shopify = self.config.shopify().map_err(EngineError::Config)?;
        let token = shopify.auth.token.clone().ok_or_else(|| {
            EngineError::Config("with_retry needs shopify.auth.method = \"token\"".into())
        })?;
        let transport = Transport::with_clock(
            shopify,
            token,
            policy,
            std::sync::Arc::new(TokioClock::default()),
        )?;
        let store =
            ShopifyClient::with_transport(transport, ClientOptions::from_sync(&self.config.sync));
        store.set_cancel(self.cancel.clone());
        Ok(Engine {
            store: std::sync::Arc::new(store),
            sheets: self.sheets.with_retry(policy),
            config: self.config,
            publications: std::sync::Mutex::new(None),
            cancel: self.cancel,
            last_columns: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn scope(&self) -> Scope {
        Scope::of(&self.config)
    }

    /// Takes the one-writer guard for this config's scope (the file lock, and with a
    /// state URL the pair's lease); under a lease every store request from now on names
    /// the worker and epoch in its `User-Agent`.
    pub fn take_writer(
        &self,
        command: &str,
        description: &str,
    ) -> Result<state::WriterGuard, EngineError> {
        let guard = state::acquire_writer(&self.config, &self.scope(), command, description)?;
        if let Some(ua) = guard.user_agent() {
            self.store.set_user_agent(Some(ua));
        }
        Ok(guard)
    }

    /// One `sync` (or `sync --dry-run`): returns the report; an `Err` means the run could
    /// not complete at all.
    pub async fn sync(&self, opts: &RunOptions) -> Result<Report, EngineError> {
        // The writer lock comes first so two writers never plan against each other.
        let _lock = if opts.dry_run || opts.lock_held {
            None
        } else {
            Some(self.take_writer("sync", "sheetsync sync")?)
        };

        let reads = match self.read_all().await {
            Ok(reads) => reads,
            Err(e) if opts.cancel.is_cancelled() => return Ok(self.interrupted(opts, &e)),
            Err(e) => return Err(e),
        };
        // Phase events (debug) let `examples/bench_sync.rs` checkpoint memory per phase.
        tracing::debug!(
            phase = "read",
            rows = reads.sheet.rows.len(),
            "Sheet and store read"
        );
        self.run_reads(opts, reads).await
    }

    /// Everything a full run reads: the sheet's configured columns and the whole store.
    /// `watch` calls this for its full syncs and builds narrower [`Reads`] in between.
    pub async fn read_all(&self) -> Result<Reads, EngineError> {
        // The store (meta, then the snapshot) and the sheet are read side by side.
        let store_side = async {
            let (_currency, locations) = self.read_store_meta().await?;
            // An unknown sales channel is a config error before anything is read.
            self.publish_channels().await?;
            let loc_pairs: Vec<(LocationName, String)> = locations
                .iter()
                .map(|(n, id)| (n.clone(), id.clone()))
                .collect();
            let snapshot = self.store.snapshot(&loc_pairs).await?;
            Ok::<_, EngineError>((locations, snapshot))
        };
        let (store_side, sheet_side) = tokio::join!(store_side, self.read_sheet());
        let (locations, snapshot) = store_side?;
        let (layout, columns) = sheet_side?;
        let sheet = parse::parse(&layout, &columns, &snapshot.currency)?;
        if let Some(note) = sheet.skipped_note() {
            tracing::warn!("{note}");
        }
        Ok(Reads {
            layout,
            columns,
            sheet,
            snapshot,
            locations,
            rows: None,
        })
    }

    /// The sheet's header (located) and its configured columns, as raw cells.
    pub async fn read_sheet(
        &self,
    ) -> Result<(parse::Layout, Vec<Vec<serde_json::Value>>), EngineError> {
        let cfg = &self.config;
        let id = &cfg.sheet.spreadsheet_id;
        // `watch` and `serve` read the same sheet every few seconds, against Google's 60
        // reads a minute: ask for the header rows and the columns the last read located
        // in one request, and keep them when the header still puts the columns there.
        // Both come from one request, so they agree; a header that moved costs the
        // separate column read below.
        let last = self.last_columns.lock().ok().and_then(|c| c.clone());
        if let Some(last) = last
            && let Some((header_rows, columns)) = self
                .sheets
                .header_rows_and_columns(id, &cfg.sheet.tab, HEADER_SCAN_ROWS, &last)
                .await?
        {
            let (layout, cols) = locate(cfg, &header_rows)?;
            if cols == last {
                return Ok((layout, columns));
            }
            let columns = self.sheets.read_columns(id, &cfg.sheet.tab, &cols).await?;
            self.remember_columns(cols);
            return Ok((layout, columns));
        }
        let header_rows = self
            .sheets
            .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, HEADER_SCAN_ROWS)
            .await?;
        let (layout, cols) = locate(cfg, &header_rows)?;
        let columns = self
            .sheets
            .read_columns(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, &cols)
            .await?;
        self.remember_columns(cols);
        Ok((layout, columns))
    }

    fn remember_columns(&self, cols: Vec<u32>) {
        if let Ok(mut last) = self.last_columns.lock() {
            *last = Some(cols);
        }
    }

    /// Plans, applies and persists a run over `reads`. The caller holds the writer lock
    /// (unless `opts.dry_run`): `sync` takes it per run, `watch` for its whole life.
    pub async fn run_reads(&self, opts: &RunOptions, reads: Reads) -> Result<Report, EngineError> {
        let cfg = &self.config;
        let scope = self.scope();
        let Reads {
            layout,
            columns,
            sheet: whole,
            snapshot,
            locations,
            rows,
        } = reads;
        // `watch` plans only the rows that changed; the guards still see the whole sheet.
        let narrowed = rows.as_ref().map(|skus| parse::ParsedSheet {
            rows: whole
                .rows
                .iter()
                .filter(|r| skus.contains(&r.sku))
                .cloned()
                .collect(),
            errors: whole
                .errors
                .iter()
                .filter(|e| e.sku.as_ref().is_some_and(|s| skus.contains(s)))
                .cloned()
                .collect(),
            rows_read: whole.rows_read,
            skus_read: whole.skus_read,
            ..parse::ParsedSheet::default()
        });
        let sheet = narrowed.as_ref().unwrap_or(&whole);

        if !opts.dry_run {
            // A key that cannot write is refused before anything is planned to be sent.
            self.store.check_write_access().await?;
        }
        let state = if opts.dry_run {
            state::open_reader_for(cfg, &scope)?
        } else {
            Some(state::open_writer_for(cfg, &scope)?)
        };
        let baseline: Baseline = match &state {
            Some(s) => s.load_baseline()?,
            None => Baseline::default(),
        };

        let mut plan_opts = PlanOptions {
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
            create: None,
        };
        // Publishes a killed run left open, decided by re-reading the products.
        let mut open_publishes = Vec::new();
        if cfg.sync.create_missing && cfg.woocommerce.is_some() {
            // Simple products by SKU: nothing to look up by handle. A create a killed run
            // journaled and that landed is in the snapshot under its SKU, so it is planned
            // as an update, never created twice.
            plan_opts.create = Some(plan::create::CreateContext {
                simple_only: true,
                columns: layout
                    .columns
                    .iter()
                    .filter_map(|(spec, col)| {
                        let field = match &spec.key {
                            ColumnKey::Field(f) => Some(*f),
                            ColumnKey::Product(name) => {
                                Field::from_name(name).filter(|f| f.is_product())
                            }
                            _ => None,
                        }?;
                        Some((FieldKey::variant(field), *col))
                    })
                    .collect(),
                ..Default::default()
            });
        } else if cfg.sync.create_missing {
            // Read before any await: the state is not `Sync`.
            let journaled = journaled_handles(state.as_deref())?;
            let published = PublishJournal::read(state.as_deref(), self.store.as_ref())?;
            let (ctx, settled) = match self
                .create_context(sheet, &snapshot, journaled, published)
                .await
            {
                Ok(read) => read,
                Err(e) if opts.cancel.is_cancelled() => return Ok(self.interrupted(opts, &e)),
                Err(e) => return Err(e),
            };
            plan_opts.create = Some(ctx);
            open_publishes = settled;
        }
        let mut plan = plan::build(sheet, &snapshot, &baseline, &plan_opts);
        if rows.is_some() {
            plan.refusals = plan::refusals(&whole, &plan.changes, &snapshot.currency, &plan_opts);
        }
        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: cfg.shop_name().to_owned(),
            spreadsheet_id: cfg.sheet.spreadsheet_id.clone(),
        };
        tracing::debug!(
            phase = "planned",
            changes = plan.changes.len(),
            "Plan built"
        );
        let mut report = Report::from_plan(&plan, meta, &snapshot.currency, opts.dry_run);
        report.sheet_id = self
            .sheets
            .sheet_id(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab);
        report.planned_skus = rows
            .as_ref()
            .map(|skus| skus.iter().map(ToString::to_string).collect());
        if opts.yes {
            report.refused.clear();
        }
        let Some(mut state) = state.filter(|_| !opts.dry_run) else {
            return Ok(report);
        };

        // A killed run's open requests are decided by the snapshot just read, never resent;
        // only a whole snapshot can decide them.
        for (id, outcome, note) in &open_publishes {
            tracing::info!(
                id,
                outcome = outcome.as_str(),
                "Settled a publish a previous run left open"
            );
            state.settle_request(
                *id,
                *outcome,
                &serde_json::json!({ "recovered": note }).to_string(),
            )?;
        }
        if rows.is_none() {
            apply::recover::settle_unsettled(
                self.store.as_ref(),
                &mut state,
                &snapshot,
                &locations,
            )?;
        }
        state.begin_run(&opts.run_id, &opts.started_at, "sync", false)?;
        // Moved, not cloned: a cell per agreeing field of every row (700,000 at 100,000
        // rows), and nothing after this reads them from the plan.
        let mut confirmed: Vec<(crate::model::Sku, FieldKey, Option<crate::model::Value>)> =
            std::mem::take(&mut plan.agreed)
                .into_iter()
                .map(|a| (a.sku, a.key, a.value))
                .collect();
        if report.refused.is_empty() {
            let journal = std::sync::Mutex::new(state);
            let executor = Executor::new(
                self.store.as_ref(),
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
            tracing::debug!(phase = "applied", "Changes applied");
        }
        report.interrupted = opts.cancel.is_cancelled();
        // An interrupted run stops writing: the sheet is left for the next run.
        if !report.interrupted {
            // A writer that lost its shared-state lease writes nothing more, to the sheet
            // included (its store writes were already refused by the journal's fence).
            state.check_writer()?;
            self.write_back(&layout, &columns, sheet, &plan, &mut report, &mut confirmed)
                .await;
            tracing::debug!(phase = "written back", "Sheet written back");
            // A signal during the write-back cut it short: the run was interrupted.
            report.interrupted = opts.cancel.is_cancelled();
        }
        report.recount();
        state.set_baseline(&confirmed)?;
        crate::report::journal::record_finished(&mut *state, &opts.run_id, &report, opts.yes)?;
        tracing::debug!(phase = "persisted", "Baseline and run journaled");
        Ok(report)
    }

    /// The report of a run interrupted before its plan was made (while reading): nothing
    /// was planned, sent or journaled, and it exits 130 (SPEC §5).
    fn interrupted(&self, opts: &RunOptions, cause: &EngineError) -> Report {
        tracing::debug!(error = %cause, "Read cut short by the interruption");
        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: self.config.shop_name().to_owned(),
            spreadsheet_id: self.config.sheet.spreadsheet_id.clone(),
        };
        let mut report = Report::from_plan(
            &plan::Plan::default(),
            meta,
            // No amounts: the currency only formats them.
            &crate::model::Currency::new("USD"),
            opts.dry_run,
        );
        report.interrupted = true;
        report
    }

    /// What `create_missing` plans against: the store's product under each handle of a
    /// row whose SKU the store lacks (looked up by handle, never searched), with the
    /// handles earlier runs journaled a `productCreate` for.
    async fn create_context(
        &self,
        sheet: &parse::ParsedSheet,
        snapshot: &plan::Snapshot,
        journaled: BTreeSet<String>,
        published: PublishJournal,
    ) -> Result<(plan::create::CreateContext, Vec<OpenPublish>), EngineError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let handles: BTreeSet<String> = sheet
            .rows
            .iter()
            .filter(|r| !snapshot.variants.contains_key(&r.sku))
            .filter_map(|r| r.product.get("handle"))
            .filter_map(|h| plan::create::handleize(h))
            .collect();
        let found: Vec<(String, Option<plan::create::HandleProduct>)> = stream::iter(handles)
            .map(|h| async move {
                let p = self.store.product_by_handle(&h).await?;
                Ok::<_, EngineError>((h, p))
            })
            .buffer_unordered(apply::MAX_IN_FLIGHT.min(self.store.capabilities().max_in_flight))
            .try_collect()
            .await?;
        let publish_to = self.publish_channels().await?;
        let (unpublished, settled) = self.unpublished(&publish_to, published).await?;
        let ctx = plan::create::CreateContext {
            products: found
                .into_iter()
                .filter_map(|(h, p)| p.map(|p| (h, p)))
                .collect(),
            journaled,
            publish_to,
            unpublished,
            simple_only: false,
            // Shopify's create errors name the cells they found (`plan::create`).
            columns: BTreeMap::new(),
        };
        Ok((ctx, settled))
    }

    /// `sync.publish_to` as the store's publications (none when it is empty): each name
    /// is matched to a publication's catalog title, ignoring case. An unknown or
    /// ambiguous name is a config error listing the store's names.
    pub async fn publish_channels(&self) -> Result<Vec<plan::create::Channel>, EngineError> {
        let wanted = &self.config.sync.publish_to;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let known = self
            .publications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(p) = known {
            return Ok(p.wanted);
        }
        let all = self.store.publications().await?;
        let mut channels = Vec::new();
        let mut problems = Vec::new();
        for name in wanted {
            let matches: Vec<(&str, &str)> = all
                .iter()
                .filter_map(|p| Some((p.name.as_deref()?, p.id.as_str())))
                .filter(|(n, _)| n.trim().to_lowercase() == name.trim().to_lowercase())
                .collect();
            match matches.as_slice() {
                [(found, id)] => channels.push(plan::create::Channel {
                    name: (*found).to_owned(),
                    id: (*id).to_owned(),
                }),
                [] => problems.push(format!("{name:?} is not a sales channel of the store")),
                _ => problems.push(format!(
                    "{name:?} names {} of the store's publications",
                    matches.len()
                )),
            }
        }
        if !problems.is_empty() {
            let names: Vec<String> = all
                .iter()
                .filter_map(|p| p.name.as_ref())
                .map(|n| format!("{n:?}"))
                .collect();
            return Err(EngineError::Config(format!(
                "sync.publish_to: {}; the store's sales channels are: {}",
                problems.join("; "),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
        *self.publications.lock().unwrap_or_else(|p| p.into_inner()) = Some(Publications {
            wanted: channels.clone(),
            in_store: all.len(),
        });
        Ok(channels)
    }

    /// Products earlier runs created that are not yet published to every channel of
    /// `publish_to` sheetsync has not published them to: each one's publications are
    /// re-read (by handle). A channel an earlier publish reached is never published to
    /// again, so a product the merchant took off a channel stays off. Also returns how
    /// each publish a killed run left open ended, judged by the same reads.
    async fn unpublished(
        &self,
        publish_to: &[plan::create::Channel],
        journal: PublishJournal,
    ) -> Result<(Vec<plan::create::Unpublished>, Vec<OpenPublish>), EngineError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        if publish_to.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut todo: BTreeMap<String, Vec<plan::create::Channel>> = BTreeMap::new();
        for handle in &journal.created {
            let missing: Vec<_> = publish_to
                .iter()
                .filter(|c| !journal.done.contains(&(handle.clone(), c.id.clone())))
                .cloned()
                .collect();
            if !missing.is_empty() {
                todo.insert(handle.clone(), missing);
            }
        }
        for open in &journal.open {
            todo.entry(open.handle.clone()).or_default();
        }
        let first = self
            .publications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(publish_to.len(), |p| p.in_store);
        let read: Vec<(String, Option<crate::store::ProductPublications>)> =
            stream::iter(todo.keys().cloned())
                .map(|h| async move {
                    let p = self.store.product_publications(&h, first).await?;
                    Ok::<_, EngineError>((h, p))
                })
                .buffer_unordered(apply::MAX_IN_FLIGHT.min(self.store.capabilities().max_in_flight))
                .try_collect()
                .await?;
        let read: BTreeMap<_, _> = read.into_iter().collect();
        let settled = journal
            .open
            .iter()
            .map(|open| {
                let now = read.get(&open.handle).and_then(Option::as_ref);
                let held = now.is_some_and(|p| {
                    !open.publications.is_empty()
                        && open.publications.iter().all(|id| p.published.contains(id))
                });
                let (outcome, note) = if held {
                    (
                        crate::state::Outcome::Applied,
                        "re-read after a crash: the product is published there",
                    )
                } else {
                    (
                        crate::state::Outcome::Failed,
                        "re-read after a crash: the product is not published there; not replayed",
                    )
                };
                (open.id, outcome, note.to_owned())
            })
            .collect();
        let unpublished = todo
            .into_iter()
            .filter_map(|(handle, missing)| {
                let p = read.get(&handle)?.as_ref()?;
                let missing: Vec<_> = missing
                    .into_iter()
                    .filter(|c| !p.published.contains(&c.id))
                    .collect();
                Some(plan::create::Unpublished {
                    handle,
                    product_id: p.id.clone(),
                    title: p.title.clone(),
                    placeholder_only: p.placeholder_only,
                    missing,
                })
            })
            .filter(|u| !u.missing.is_empty())
            .collect();
        Ok((unpublished, settled))
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
        use crate::report::writeback as write_plan;
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
            write_plan::plan_sync(&grid, &rows, plan, report, &now, report.refused.is_empty());
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
        write_plan::record_sync(report, plan, &writes, &outcome, confirmed);
    }

    /// Currency, scopes and the configured locations' ids.
    pub async fn read_store_meta(
        &self,
    ) -> Result<(String, BTreeMap<LocationName, String>), EngineError> {
        let info = self.store.shop_info().await?;
        let missing: Vec<String> = self
            .store
            .required_scopes(!self.config.sync.publish_to.is_empty())
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

/// Locates the configured columns in the sheet's header rows: the layout and the
/// columns it reads, in order.
fn locate(
    cfg: &Config,
    header_rows: &[Vec<serde_json::Value>],
) -> Result<(parse::Layout, Vec<u32>), EngineError> {
    let layout = parse::locate(
        &cfg.sheet.tab,
        header_rows,
        &cfg.column_specs_for(header_rows),
    )?;
    let cols = layout.columns.iter().map(|(_, c)| *c).collect();
    Ok((layout, cols))
}

/// The handles earlier runs journaled a `productCreate` for (see
/// [`plan::create::CreateContext::journaled`]).
fn journaled_handles(state: Option<&dyn StateStore>) -> Result<BTreeSet<String>, EngineError> {
    let mut handles = BTreeSet::new();
    if let Some(state) = state {
        for body in state.journaled_bodies("productCreate")? {
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if let Some(h) = body["variables"]["product"]["handle"].as_str() {
                handles.insert(h.to_owned());
            }
        }
    }
    Ok(handles)
}

/// A `publishablePublish` an earlier run journaled and never settled.
#[derive(Debug, Clone)]
struct OpenRequest {
    id: i64,
    handle: String,
    publications: Vec<String>,
}

/// How an open publish ended: (request id, outcome, why).
type OpenPublish = (i64, crate::state::Outcome, String);

/// What the journal says about publishing (`sync.publish_to`): the handles sheetsync
/// created, the (handle, publication id) pairs a publish reached, and the publishes a
/// killed run left open. A publish's handle and publication ids are in its journal items.
#[derive(Debug, Clone, Default)]
struct PublishJournal {
    created: BTreeSet<String>,
    done: BTreeSet<(String, String)>,
    open: Vec<OpenRequest>,
}

impl PublishJournal {
    /// `store` reads its own journaled publish bodies back.
    fn read(
        state: Option<&dyn StateStore>,
        store: &dyn Store,
    ) -> Result<PublishJournal, EngineError> {
        let mut out = PublishJournal {
            created: journaled_handles(state)?,
            ..PublishJournal::default()
        };
        let Some(state) = state else {
            return Ok(out);
        };
        for (req, outcome) in state.journal_entries("publishablePublish")? {
            let items: serde_json::Value =
                serde_json::from_str(&req.items_json).unwrap_or_default();
            let Some(handle) = items["handle"].as_str() else {
                continue;
            };
            let ids = store.published_ids(&req.body);
            match outcome {
                Some(crate::state::Outcome::Applied) => {
                    out.done
                        .extend(ids.into_iter().map(|id| (handle.to_owned(), id)));
                }
                None => out.open.push(OpenRequest {
                    id: req.id,
                    handle: handle.to_owned(),
                    publications: ids,
                }),
                Some(_) => {}
            }
        }
        Ok(out)
    }
}

/// The `[sync]` settings the Shopify client applies itself.
/// `write_x` implies `read_x` (SHOPIFY.md §7f).
pub(crate) fn scope_granted(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| g == need)
        || need.strip_prefix("read_").is_some_and(|rest| {
            granted
                .iter()
                .any(|g| g.strip_prefix("write_") == Some(rest))
        })
}

/// The Shopify client for the configured `shopify.auth.method` (SPEC §6).
/// The Google Sheets client for `google.method`. With `installed`, a refreshed access
/// token stays in memory on a dry run, and a missing authorization is a setup step not
/// yet done (exit 2), found before any request.
pub(crate) async fn sheets_client(
    config: &Config,
    dry_run: bool,
) -> Result<SheetsClient, EngineError> {
    use crate::auth::google::GoogleAuthError;
    use crate::config::GoogleMethod;
    let g = &config.google;
    let client = match (g.method, &g.credentials, &g.client_secret) {
        (GoogleMethod::ServiceAccount, Some(key), _) => {
            Ok(SheetsClient::service_account(key, &config.sheet.api_base_url).await?)
        }
        (GoogleMethod::ServiceAccount, None, _) => Err(EngineError::Config(
            "google.credentials is not set: point it at the service-account key file".into(),
        )),
        (GoogleMethod::Installed, _, Some(client)) => {
            let scope = Scope::of(config);
            SheetsClient::installed(
                client,
                &config.sheet.api_base_url,
                &config.sync.state_dir,
                scope,
                dry_run,
            )
            .await
            .map_err(|e| match e {
                GoogleAuthError::Connection(m) => {
                    EngineError::Sheet(SheetError::Transport { message: m })
                }
                GoogleAuthError::State(e) => EngineError::State(e),
                other => EngineError::Config(other.to_string()),
            })
        }
        (GoogleMethod::Installed, _, None) => Err(EngineError::Config(
            "google.client_secret is not set: point it at the installed-app OAuth client file"
                .into(),
        )),
    };
    client.map(|c| c.with_quota(g.reads_per_minute, g.writes_per_minute))
}

/// The WooCommerce adapter for `[woocommerce]`: refuses a URL the key may not go to
/// before anything is sent.
pub(crate) fn woocommerce_client(
    woo: &crate::config::woocommerce::WooConfig,
    config: &Config,
    policy: crate::http::RetryPolicy,
) -> Result<crate::store::woocommerce::WooClient, EngineError> {
    Ok(crate::store::woocommerce::WooClient::new(woo, policy)?
        .with_cost_column(config.sheet.columns.cost.is_some()))
}

pub(crate) fn shopify_client(
    config: &Config,
    dry_run: bool,
    options: ClientOptions,
) -> Result<ShopifyClient, EngineError> {
    use crate::config::ShopifyAuthMethod;
    let scope = Scope::of(config);
    let shopify = config.shopify().map_err(EngineError::Config)?;
    match (shopify.auth.method, &shopify.auth.token) {
        (ShopifyAuthMethod::Token, Some(t)) => {
            Ok(ShopifyClient::new(shopify, t.clone(), options)?)
        }
        (ShopifyAuthMethod::Token, None) => Err(EngineError::Config(
            "shopify.auth.token is not set: paste the custom app's shpat_ token, or use \"${SHOPIFY_ACCESS_TOKEN}\"".into(),
        )),
        (_, _) => ShopifyClient::connect(
            shopify,
            &config.sync.state_dir,
            scope,
            dry_run,
            options,
        )
        .map_err(|e| match e {
            ConnectError::Store(e) => EngineError::Store(e),
            ConnectError::Config(m) => EngineError::Config(m),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[google] reads_per_minute` / `writes_per_minute` reach the Sheets client's pacing.
    #[tokio::test]
    async fn the_configured_quota_paces_the_sheets_client() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key.json");
        let fake = sheetsync_sandbox::sheets::SheetsFake::new();
        std::fs::write(
            &key,
            fake.service_account_key_json("http://127.0.0.1:9/token"),
        )
        .expect("write key");
        let text = format!(
            r#"
[sheet]
spreadsheet_id = "1AbC"
tab = "Inventory"
# A base URL of this test's own: no other test's clients share the account's windows.
api_base_url = "http://127.0.0.1:9/configured-quota-test/"

[sheet.columns]
sku = "SKU"
price = "Price"

[google]
credentials = {key:?}
reads_per_minute = 15
writes_per_minute = 240

[shopify]
shop = "example.myshopify.com"

[shopify.auth]
method = "token"
token = "shpat_test"
"#
        );
        let config =
            Config::parse(&text, &dir.path().join("sheetsync.toml"), &|_| None).expect("config");
        let client = sheets_client(&config, true).await.expect("client");
        assert_eq!(client.quota(), (15, 240));
    }
}
