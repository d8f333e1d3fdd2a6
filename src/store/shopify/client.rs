//! The Shopify client the engine uses: one method per operation, domain values in and out.
//! Bodies are built by `ops` and sent by the [`Transport`], which paces and retries; for the
//! mutations, the exact body bytes are exposed (`*_body`) and can be sent again as they are
//! (`send_*`), so the executor journals what it sends and a retry resends identical bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use super::bulk;
use super::bulk_mutation::{self, JobEnd, StagedTarget};
use super::error::StoreError;
use super::ops::{
    self, ActivateOutcome, BulkUpdateOutcome, SetOutcome, SetQuantity, ShopInfo, StoreLocation,
    UserError, VariantRecord, VariantUpdate, queries,
};
use super::transport::{Cost, Transport};
use crate::config::{Secret, ShopifyConfig};
use crate::model::{Currency, LocationName, Sku};
use crate::plan::{Snapshot, StoreVariant};
use crate::progress::{Event, Work};

/// `nodes(ids:)` and input arrays take at most 250 entries (SHOPIFY.md §2).
pub const MAX_IDS: usize = 250;

/// Sizes one paged read (a page of a connection, or a chunk of ids for `nodes`) from its
/// cost and the store's bucket (DESIGN.md step 2). Shopify prices a request before running
/// it: a connection costs 2 plus `first` times its node's selection (nested connections
/// multiply), so a page costs `fixed + first × per_item`. The sizer starts from that model
/// of the query's shape, learns `per_item` from each `requestedQueryCost`, and keeps every
/// page within both the bucket the store reports and the 1,000-point single-query cap: a
/// page the bucket cannot hold would be answered `THROTTLED` forever (stores with reduced
/// limits, small custom buckets). The first page aims near [`PageSizer::START_COST`]
/// points, later ones near [`PageSizer::TARGET_COST`].
#[derive(Debug, Clone, PartialEq)]
pub struct PageSizer {
    operation: &'static str,
    first: i64,
    /// Points the request costs besides its items (its connection, the objects around it).
    fixed: f64,
    per_item: f64,
    /// The most items one page may ask for (Shopify's 250, or fewer that exist).
    most: i64,
}

impl PageSizer {
    pub const START_COST: f64 = 100.0;
    pub const TARGET_COST: f64 = 700.0;
    /// Share of the bucket a page may cost: the rest is for whatever else is in flight.
    const BUCKET_SHARE: f64 = 0.9;

    /// A sizer for `operation`, whose page of `first` items costs `fixed + first ×
    /// per_item` by the shape of its query, at most `most` items a page.
    pub fn new(operation: &'static str, fixed: f64, per_item: f64, most: i64) -> PageSizer {
        let most = most.clamp(1, 250);
        let per_item = per_item.max(0.01);
        let mut sizer = PageSizer {
            operation,
            first: 1,
            fixed: fixed.max(0.0),
            per_item,
            most,
        };
        sizer.first = sizer.fit(Self::START_COST);
        sizer
    }

    /// `VariantsPage`: per variant the variant, product, item and cost objects, and per
    /// inventory level the level, its location and its quantities.
    pub fn variants(levels: i64) -> PageSizer {
        PageSizer::new("VariantsPage", 2.0, Self::variant_cost(levels), 250)
    }

    /// What one inventory level (the level, its location, its quantities) is expected to
    /// cost until Shopify has priced one.
    pub const LEVEL_COST: f64 = 3.0;

    /// What one variant of `VariantFields` is expected to cost with `levels` levels: the
    /// variant, product, item and cost objects, the levels' connection, and the levels.
    pub fn variant_cost(levels: i64) -> f64 {
        6.0 + Self::LEVEL_COST * levels.max(0) as f64
    }

    fn fit(&self, budget: f64) -> i64 {
        (((budget - self.fixed) / self.per_item).floor() as i64).clamp(1, self.most)
    }

    pub fn operation(&self) -> &'static str {
        self.operation
    }

    pub fn first(&self) -> i64 {
        self.first
    }

    /// What the next page is expected to cost.
    pub fn expected_cost(&self) -> f64 {
        self.cost_of(self.first)
    }

    /// What a page of `items` is expected to cost.
    pub fn cost_of(&self, items: i64) -> f64 {
        self.fixed + self.per_item * items as f64
    }

    /// Learn from a page of `items` items that was priced `requested`.
    pub fn observe(&mut self, requested: f64, items: i64) {
        if requested > 0.0 && items > 0 {
            self.per_item = ((requested - self.fixed) / items as f64).max(0.01);
            self.first = self.fit(Self::TARGET_COST);
        }
    }

    /// Shrinks the page to what a bucket of `maximum` points affords; never below one item
    /// (whether one item fits is the store's to say, from the cost it reports).
    pub fn cap(&mut self, maximum: f64) {
        let fit = self.fit(maximum * Self::BUCKET_SHARE);
        self.first = self.first.min(fit);
    }

    /// After a page of `items` was priced `cost`, more than the bucket's `maximum`: learn
    /// the price and shrink. `false` when a page of one item was already too much.
    pub fn exceeded(&mut self, cost: f64, maximum: f64, items: i64) -> bool {
        if items <= 1 {
            return false;
        }
        self.observe(cost, items);
        self.cap(maximum);
        self.first = self.first.min(items - 1);
        true
    }

    /// After `MAX_COST_EXCEEDED`; `false` when a single item is already too expensive.
    pub fn halve(&mut self) -> bool {
        if self.first <= 1 {
            return false;
        }
        self.first /= 2;
        self.per_item *= 2.0;
        true
    }
}

/// The Admin API client. Cheap to clone; clones share the transport and its cost bucket.
#[derive(Clone)]
pub struct ShopifyClient {
    inner: Arc<Inner>,
}

/// What the config decides about the client, fixed when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Variant count from which `snapshot` reads by bulk export (`[sync] bulk_threshold`);
    /// 0 always exports.
    pub bulk_threshold: u64,
    /// Variant updates from which the executor sends variant fields by one bulk mutation
    /// (`[sync] bulk_mutation_threshold`); 0 always does, `u64::MAX` never.
    pub bulk_mutation_threshold: u64,
    /// Cap on mutations in flight together; 1 sends them one after another (for
    /// comparisons and for stores behind a slow proxy). The executor also bounds it by the
    /// bucket and by its own maximum.
    pub max_in_flight: usize,
    /// How long a bulk job may run before the run gives up on it (`[sync] bulk_timeout`).
    pub bulk_timeout: std::time::Duration,
}

impl ClientOptions {
    /// The options `[sync]` sets.
    pub fn from_sync(sync: &crate::config::SyncConfig) -> ClientOptions {
        ClientOptions {
            bulk_threshold: sync.bulk_threshold,
            bulk_mutation_threshold: sync.bulk_mutation_threshold,
            bulk_timeout: sync.bulk_timeout,
            ..ClientOptions::default()
        }
    }
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            bulk_threshold: crate::config::DEFAULT_BULK_THRESHOLD,
            bulk_mutation_threshold: crate::config::DEFAULT_BULK_MUTATION_THRESHOLD,
            max_in_flight: usize::MAX,
            bulk_timeout: crate::config::DEFAULT_BULK_TIMEOUT,
        }
    }
}

struct Inner {
    transport: Transport,
    options: ClientOptions,
    /// `productVariantsBulkUpdate`'s requested cost by variant count, as Shopify priced
    /// it: the cost grows with the variants, so one figure for the operation would
    /// under-charge a bigger call and earn a THROTTLED on a drained bucket.
    bulk_update_costs: Mutex<HashMap<usize, f64>>,
    shop: Mutex<Option<ShopInfo>>,
    /// Locations of the shop, active or not: how many inventory levels an item can have.
    location_count: Mutex<Option<usize>>,
}

impl ShopifyClient {
    /// Checks the shop domain and builds the client; nothing is sent yet.
    pub fn new(
        cfg: &ShopifyConfig,
        token: Secret,
        options: ClientOptions,
    ) -> Result<ShopifyClient, StoreError> {
        Ok(ShopifyClient::with_transport(
            Transport::new(cfg, token)?,
            options,
        ))
    }

    /// A client whose token comes from `auth` (client credentials, OAuth).
    pub fn with_provider(
        cfg: &ShopifyConfig,
        auth: Arc<dyn crate::auth::TokenProvider>,
        options: ClientOptions,
    ) -> Result<ShopifyClient, StoreError> {
        Ok(ShopifyClient::with_transport(
            Transport::with_provider(
                cfg,
                auth,
                super::transport::RetryPolicy::default(),
                Arc::new(super::transport::TokioClock::default()),
            )?,
            options,
        ))
    }

    /// The client for `client_credentials` and `oauth`, its tokens from `crate::auth`. For
    /// `oauth`, a missing stored token is a setup step not yet done (a config problem),
    /// found before any request.
    pub fn connect(
        cfg: &ShopifyConfig,
        state_dir: &std::path::Path,
        scope: crate::state::Scope,
        dry_run: bool,
        options: ClientOptions,
    ) -> Result<ShopifyClient, ConnectError> {
        use crate::auth::AuthError;
        use crate::auth::shopify::{ShopifyTokens, peek_stored};
        use crate::config::ShopifyAuthMethod;
        if cfg.auth.method == ShopifyAuthMethod::Oauth
            && peek_stored(state_dir, &scope)
                .map_err(|e| ConnectError::Config(e.to_string()))?
                .is_none()
        {
            return Err(ConnectError::Config(
                AuthError::NotAuthorized {
                    shop: cfg.shop.clone(),
                }
                .to_string(),
            ));
        }
        let tokens = ShopifyTokens::new(cfg, state_dir, scope, dry_run)
            .map_err(|e| ConnectError::Store(e.into()))?;
        ShopifyClient::with_provider(cfg, Arc::new(tokens), options).map_err(ConnectError::Store)
    }

    pub fn with_transport(transport: Transport, options: ClientOptions) -> ShopifyClient {
        ShopifyClient {
            inner: Arc::new(Inner {
                transport,
                options: ClientOptions {
                    max_in_flight: options.max_in_flight.max(1),
                    ..options
                },
                bulk_update_costs: Mutex::default(),
                shop: Mutex::default(),
                location_count: Mutex::default(),
            }),
        }
    }

    /// Makes every wait of the client end when `cancel` fires (SIGINT/SIGTERM): see
    /// [`Transport::set_cancel`].
    pub fn set_cancel(&self, cancel: tokio_util::sync::CancellationToken) {
        self.inner.transport.set_cancel(cancel);
    }

    pub fn bulk_mutation_threshold(&self) -> u64 {
        self.inner.options.bulk_mutation_threshold
    }

    pub fn max_in_flight(&self) -> usize {
        self.inner.options.max_in_flight
    }

    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub fn required_scopes() -> &'static [&'static str] {
        ops::REQUIRED_SCOPES
    }

    /// The scopes `config` needs: with `sync.publish_to`, the publication scopes too.
    pub fn required_scopes_for(config: &crate::config::Config) -> Vec<&'static str> {
        ops::required_scopes(!config.sync.publish_to.is_empty())
    }

    /// Sends a body as-is and returns its `data` (for replaying journaled bytes).
    pub async fn send_raw(&self, body: &[u8]) -> Result<serde_json::Value, StoreError> {
        Ok(self.inner.transport.send(body, None).await?.data)
    }

    pub(super) async fn run<T: DeserializeOwned>(
        &self,
        body: &[u8],
        hint: Option<f64>,
    ) -> Result<(T, Option<Cost>), StoreError> {
        let reply = self.inner.transport.send(body, hint).await?;
        let data =
            serde_json::from_value(reply.data).map_err(|e| StoreError::Decode(e.to_string()))?;
        Ok((data, reply.cost))
    }

    /// `cost` for an operation Shopify has not priced for us yet; afterwards its figure.
    pub(super) fn first_hint(&self, operation: &str, cost: f64) -> Option<f64> {
        self.transport()
            .known_estimate(operation)
            .is_none()
            .then_some(cost)
    }

    /// Shop name, domain, currency and granted scopes; remembered for `snapshot`.
    pub async fn shop_info(&self) -> Result<ShopInfo, StoreError> {
        let body = ops::body::<queries::ShopInfo>(queries::shop_info::Variables {});
        let (data, _) = self.run(&body, None).await?;
        let info = ops::shop_info(data);
        *lock(&self.inner.shop) = Some(info.clone());
        Ok(info)
    }

    /// Sends one page, `body_of(items)`, sized by `sizer` to the bucket the store reports
    /// and to at most `left` items; on `MAX_COST_EXCEEDED`, or a page the whole bucket
    /// cannot hold, it shrinks the page and sends again. A page of one item that still
    /// does not fit ends the read: no wait would ever let it run. Returns the data and how
    /// many items the page asked for.
    pub(super) async fn run_page<T: DeserializeOwned>(
        &self,
        sizer: &mut PageSizer,
        left: i64,
        body_of: impl Fn(i64) -> Vec<u8>,
    ) -> Result<(T, i64), StoreError> {
        loop {
            sizer.cap(self.transport().bucket().maximum());
            let items = sizer.first().min(left).max(1);
            let body = body_of(items);
            match self.run::<T>(&body, Some(sizer.cost_of(items))).await {
                Ok((data, cost)) => {
                    if let Some(requested) = cost.and_then(|c| c.requested_query_cost) {
                        sizer.observe(requested, items);
                    }
                    return Ok((data, items));
                }
                Err(StoreError::MaxCostExceeded { .. }) if sizer.halve() => {}
                Err(StoreError::ExceedsBucket { cost, maximum, .. })
                    if sizer.exceeded(cost, maximum, items) => {}
                Err(StoreError::ExceedsBucket { cost, maximum, .. }) => {
                    return Err(StoreError::ExceedsBucket {
                        operation: sizer.operation().to_owned(),
                        cost,
                        maximum,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every location, active or not (legacy ones included).
    pub async fn locations(&self) -> Result<Vec<StoreLocation>, StoreError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        // Each location is one object of scalars.
        let mut sizer = PageSizer::new("Locations", 2.0, 1.0, 250);
        loop {
            let (data, _) = self
                .run_page(&mut sizer, i64::MAX, |first| {
                    ops::body::<queries::Locations>(queries::locations::Variables {
                        first,
                        after: after.clone(),
                    })
                })
                .await?;
            let (page, next) = ops::locations_page(data);
            all.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        *lock(&self.inner.location_count) = Some(all.len());
        Ok(all)
    }

    async fn levels(&self, configured: usize) -> Result<i64, StoreError> {
        let known = *lock(&self.inner.location_count);
        let count = match known {
            Some(n) => n,
            None => self.locations().await?.len(),
        };
        Ok(count.max(configured).clamp(1, 250) as i64)
    }

    /// How many inventory levels a page of variants asks per variant: all `levels` the
    /// items can have, or as many as let a page of one variant fit the bucket (the rest
    /// are then read per item by [`Self::complete_levels`]).
    fn page_levels(&self, levels: i64) -> i64 {
        let budget = self.transport().bucket().maximum() * 0.9;
        // A page of one variant: the connection, the variant's objects, its levels.
        let one = PageSizer::variant_cost(0) + 2.0;
        let fit = ((budget - one) / PageSizer::LEVEL_COST).floor();
        if fit >= levels as f64 {
            levels
        } else {
            (fit as i64).max(1)
        }
    }

    /// Reads, page by page, the rest of the inventory levels of every record whose page of
    /// variants did not hold them all.
    async fn complete_levels(&self, records: &mut [VariantRecord]) -> Result<(), StoreError> {
        for rec in records.iter_mut() {
            let Some(mut after) = rec.levels_after.take() else {
                continue;
            };
            // The item, the connection, and per level the level and its location.
            let mut sizer = PageSizer::new("InventoryLevels", 3.0, PageSizer::LEVEL_COST, 250);
            loop {
                let (data, _) = self
                    .run_page(&mut sizer, i64::MAX, |first| {
                        ops::body::<queries::InventoryLevels>(
                            queries::inventory_levels::Variables {
                                id: rec.inventory_item_id.clone(),
                                first,
                                after: Some(after.clone()),
                            },
                        )
                    })
                    .await?;
                let Some((levels, next)) = ops::inventory_levels_page(data) else {
                    break;
                };
                rec.levels.extend(levels);
                match next {
                    Some(cursor) => after = cursor,
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn currency(&self) -> Result<Currency, StoreError> {
        let known = lock(&self.inner.shop).as_ref().map(|s| s.currency.clone());
        let code = match known {
            Some(c) => c,
            None => self.shop_info().await?.currency,
        };
        Ok(Currency::new(&code))
    }

    /// Every variant of the store, keyed by SKU (variants without a SKU are left out: no
    /// row can name them), with `available` at each of `locations` (name, location id).
    pub async fn snapshot(
        &self,
        locations: &[(LocationName, String)],
    ) -> Result<Snapshot, StoreError> {
        Ok(self.snapshot_counted(locations).await?.0)
    }

    /// [`snapshot`](Self::snapshot), plus how many variants had no SKU (`pull` reports
    /// them as skipped).
    pub async fn snapshot_counted(
        &self,
        locations: &[(LocationName, String)],
    ) -> Result<(Snapshot, usize), StoreError> {
        let mut without_sku = 0usize;
        let currency = self.currency().await?;
        let levels = self.levels(locations.len()).await?;
        let mut variants: HashMap<Sku, Vec<StoreVariant>> = HashMap::new();
        let mut mapper = ops::VariantMapper::new(locations);
        let mut keep = |records: Vec<VariantRecord>| {
            for rec in records {
                match mapper.map(rec) {
                    (Some(sku), v) => variants.entry(sku).or_default().push(v),
                    (None, _) => without_sku += 1,
                }
            }
        };
        if self.wants_bulk().await? {
            keep(self.bulk_variants().await?);
        } else {
            let levels = self.page_levels(levels);
            let mut sizer = PageSizer::variants(levels);
            let mut after: Option<String> = None;
            let progress = self.transport().progress();
            let _pages = progress.task(Work::StoreVariants, None);
            let mut read = 0u64;
            loop {
                let (data, _) = self
                    .run_page(&mut sizer, i64::MAX, |first| {
                        ops::body::<queries::VariantsPage>(ops::variants_page_variables(
                            first,
                            after.clone(),
                            levels,
                        ))
                    })
                    .await?;
                let (mut records, next) = ops::variants_page(data);
                self.complete_levels(&mut records).await?;
                read += records.len() as u64;
                keep(records);
                progress.position(Work::StoreVariants, read);
                match next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
        }
        for list in variants.values_mut() {
            list.sort_by(|a, b| a.variant_id.cmp(&b.variant_id));
        }
        Ok((Snapshot { currency, variants }, without_sku))
    }

    /// Whether the catalogue is at least the bulk threshold (one count query, cost 1).
    async fn wants_bulk(&self) -> Result<bool, StoreError> {
        let threshold = self.inner.options.bulk_threshold;
        if threshold == 0 {
            return Ok(true);
        }
        let limit = i64::try_from(threshold).unwrap_or(i64::MAX);
        let body = ops::body::<queries::VariantsCount>(queries::variants_count::Variables {
            limit: Some(limit),
        });
        let (data, _): (queries::variants_count::ResponseData, _) =
            self.run(&body, Some(1.0)).await?;
        Ok(data
            .product_variants_count
            .is_some_and(|c| c.count >= limit || c.precision == "AT_LEAST"))
    }

    /// Every variant by bulk export: run, poll until the job ends, stream the file.
    pub async fn bulk_variants(&self) -> Result<Vec<VariantRecord>, StoreError> {
        let body = ops::body::<queries::BulkRunQuery>(queries::bulk_run_query::Variables {
            query: bulk::VARIANTS_QUERY.to_owned(),
        });
        let (data, _): (queries::bulk_run_query::ResponseData, _) =
            self.run(&body, Some(10.0)).await?;
        let payload = data
            .bulk_operation_run_query
            .ok_or_else(|| StoreError::Bulk("no bulkOperationRunQuery payload".into()))?;
        if let Some(e) = payload.user_errors.first() {
            return Err(StoreError::Bulk(format!(
                "{} ({})",
                e.message,
                e.code.as_deref().unwrap_or("no code")
            )));
        }
        let id = payload
            .bulk_operation
            .ok_or_else(|| StoreError::Bulk("no bulk operation was created".into()))?
            .id;
        let op = self.poll_bulk(&id, Work::BulkExport).await?;
        let url = match op.status.as_str() {
            // A finished export of an empty catalogue has no file.
            "COMPLETED" => match op.url {
                Some(url) => url,
                None => return Ok(Vec::new()),
            },
            other => {
                return Err(StoreError::Bulk(format!(
                    "{id} ended {other} ({})",
                    op.error_code.as_deref().unwrap_or("no error code")
                )));
            }
        };
        bulk::download(bulk::check_file_url(&url)?).await
    }

    /// Polls bulk operation `id` until it has ended (any status but `CREATED`, `RUNNING`
    /// or `CANCELING`), backing off from a fifth of a second to five seconds. A job still
    /// running `bulk_timeout` after the first poll's wait began is
    /// [`StoreError::BulkTimeout`]; a cancelled run stops waiting at once.
    async fn poll_bulk(
        &self,
        id: &str,
        work: Work,
    ) -> Result<queries::bulk_operation_poll::BulkOperationPollBulkOperation, StoreError> {
        let timeout = self.inner.options.bulk_timeout;
        let clock = self.transport().clock().clone();
        let started = clock.now();
        let progress = self.transport().progress();
        let _job = progress.task(work, None);
        let mut wait = None;
        let mut status = "CREATED".to_owned();
        loop {
            let left = timeout.saturating_sub(clock.now().saturating_sub(started));
            if left.is_zero() {
                return Err(StoreError::BulkTimeout {
                    id: id.to_owned(),
                    status,
                    after: timeout,
                });
            }
            let next = bulk::next_poll(wait);
            wait = Some(next);
            tracing::debug!(
                id,
                status,
                wait_ms = u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
                "waiting for the bulk operation"
            );
            // The last wait is cut to the deadline, so the job gets one poll at it.
            self.transport().pause(next.min(left)).await?;
            let body =
                ops::body::<queries::BulkOperationPoll>(queries::bulk_operation_poll::Variables {
                    id: id.to_owned(),
                });
            let (data, _): (queries::bulk_operation_poll::ResponseData, _) =
                self.run(&body, Some(1.0)).await?;
            let op = data
                .bulk_operation
                .ok_or_else(|| StoreError::Bulk(format!("{id} is unknown to Shopify")))?;
            progress.report(Event::Status {
                work,
                status: op.status.clone(),
                objects: op.object_count.parse().ok(),
            });
            if !matches!(op.status.as_str(), "CREATED" | "RUNNING" | "CANCELING") {
                return Ok(op);
            }
            status = op.status;
        }
    }

    /// Uploads `jsonl` (lines from [`bulk_mutation::jsonl_line`]) to a staged target and
    /// starts `VariantsBulkUpdate` over it as a bulk mutation; returns the job's id. While
    /// Shopify runs its maximum of bulk mutations (`OPERATION_IN_PROGRESS`), the start is
    /// retried with the polling back-off for up to a minute.
    pub async fn start_bulk_update(
        &self,
        jsonl: &[u8],
        client_identifier: &str,
    ) -> Result<String, StoreError> {
        if jsonl.is_empty() {
            return Err(StoreError::Bulk("nothing to upload".into()));
        }
        if jsonl.len() > bulk_mutation::MAX_FILE_BYTES {
            return Err(StoreError::Bulk(format!(
                "the updates take {} bytes, over Shopify's 100 MB upload limit",
                jsonl.len()
            )));
        }
        let target = self.staged_target(jsonl.len()).await?;
        let key = target
            .key()
            .ok_or_else(|| StoreError::Bulk("the staged upload target has no key".into()))?
            .to_owned();
        bulk_mutation::upload(&target, jsonl).await?;
        let body = ops::body::<queries::BulkRunMutation>(queries::bulk_run_mutation::Variables {
            mutation: bulk_mutation::inner_mutation().to_owned(),
            staged_upload_path: key,
            client_identifier: Some(client_identifier.to_owned()),
        });
        let clock = self.transport().clock();
        let started = clock.now();
        let mut wait = None;
        loop {
            let (data, _): (queries::bulk_run_mutation::ResponseData, _) =
                self.run(&body, Some(10.0)).await?;
            let payload = data
                .bulk_operation_run_mutation
                .ok_or_else(|| StoreError::Bulk("no bulkOperationRunMutation payload".into()))?;
            match payload.user_errors.first() {
                None => {
                    return payload
                        .bulk_operation
                        .map(|op| op.id)
                        .ok_or_else(|| StoreError::Bulk("no bulk operation was created".into()));
                }
                Some(e)
                    if e.code.as_deref() == Some("OPERATION_IN_PROGRESS")
                        && clock.now().saturating_sub(started)
                            < std::time::Duration::from_secs(60) =>
                {
                    let next = bulk::next_poll(wait);
                    wait = Some(next);
                    self.transport().pause(next).await?;
                }
                Some(e) => {
                    return Err(StoreError::Bulk(format!(
                        "{} ({})",
                        e.message,
                        e.code.as_deref().unwrap_or("no code")
                    )));
                }
            }
        }
    }

    /// One staged upload target for a bulk mutation's variables (POST form).
    async fn staged_target(&self, size: usize) -> Result<StagedTarget, StoreError> {
        use queries::staged_uploads_create::{StagedUploadInput, Variables};
        let body = ops::body::<queries::StagedUploadsCreate>(Variables {
            input: vec![StagedUploadInput {
                resource: "BULK_MUTATION_VARIABLES".into(),
                filename: bulk_mutation::FILENAME.into(),
                mime_type: "text/jsonl".into(),
                http_method: Some("POST".into()),
                file_size: Some(size.to_string()),
            }],
        });
        // Live: requested 11.
        let (data, _): (queries::staged_uploads_create::ResponseData, _) =
            self.run(&body, Some(11.0)).await?;
        let payload = data
            .staged_uploads_create
            .ok_or_else(|| StoreError::Bulk("no stagedUploadsCreate payload".into()))?;
        if let Some(e) = payload.user_errors.first() {
            return Err(StoreError::Bulk(e.message.clone()));
        }
        let target = payload
            .staged_targets
            .into_iter()
            .flatten()
            .next()
            .ok_or_else(|| StoreError::Bulk("no staged upload target".into()))?;
        let url = target
            .url
            .ok_or_else(|| StoreError::Bulk("the staged upload target has no url".into()))?;
        Ok(StagedTarget {
            url: bulk::check_file_url(&url)?,
            parameters: target
                .parameters
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
        })
    }

    /// Waits for bulk mutation `id` to end and reads its results: the whole file when it
    /// completed, the partial file (if any) when it failed, was canceled or expired.
    pub async fn finish_bulk_update(&self, id: &str) -> Result<JobEnd, StoreError> {
        let op = self.poll_bulk(id, Work::BulkMutation).await?;
        let file = match op.status.as_str() {
            "COMPLETED" => op.url,
            _ => op.partial_data_url,
        };
        let lines = match file {
            Some(url) => bulk_mutation::fetch(&url).await?,
            None => HashMap::new(),
        };
        Ok(JobEnd {
            id: id.to_owned(),
            status: op.status,
            error_code: op.error_code,
            lines,
        })
    }

    /// Re-reads variants by id (CAS re-reads, `watch`), as many per request as the bucket
    /// affords (250 at most). Ids that no longer
    /// name a variant are absent from the result.
    pub async fn variants_by_ids(
        &self,
        ids: &[String],
        locations: &[(LocationName, String)],
    ) -> Result<Vec<(Option<Sku>, StoreVariant)>, StoreError> {
        let levels = self.levels(locations.len()).await?;
        let levels = self.page_levels(levels);
        let mut out = Vec::with_capacity(ids.len());
        let mut mapper = ops::VariantMapper::new(locations);
        // `nodes(ids:)` costs each id like one object with its selection.
        let mut sizer = PageSizer::new(
            "VariantsByIds",
            0.0,
            PageSizer::variant_cost(levels),
            MAX_IDS as i64,
        );
        let mut rest = ids;
        while !rest.is_empty() {
            let left = i64::try_from(rest.len()).unwrap_or(i64::MAX);
            let (data, used) = self
                .run_page(&mut sizer, left, |n| {
                    let n = usize::try_from(n).unwrap_or(1).min(rest.len());
                    ops::body::<queries::VariantsByIds>(ops::variants_by_ids_variables(
                        &rest[..n],
                        levels,
                    ))
                })
                .await?;
            let mut records: Vec<VariantRecord> = ops::variants_by_ids(data);
            self.complete_levels(&mut records).await?;
            out.extend(records.into_iter().map(|r| mapper.map(r)));
            rest = &rest[usize::try_from(used).unwrap_or(1).min(rest.len())..];
        }
        Ok(out)
    }

    /// The body of one product's variant update (at most 250 variants).
    pub fn bulk_update_body(product_id: &str, updates: &[VariantUpdate]) -> Vec<u8> {
        ops::bulk_update_body(product_id, updates)
    }

    pub async fn bulk_update(
        &self,
        product_id: &str,
        updates: &[VariantUpdate],
    ) -> Result<BulkUpdateOutcome, StoreError> {
        self.send_bulk_update(&Self::bulk_update_body(product_id, updates))
            .await
    }

    /// How many variants one `productVariantsBulkUpdate` or `productVariantsBulkCreate`
    /// may carry: Shopify's 250 inputs, fewer when the store's bucket cannot hold a call
    /// that size (10 points and 0.2 a variant, SHOPIFY.md §2), as for a page.
    pub fn variants_per_call(&self) -> usize {
        let maximum = self.transport().bucket().maximum();
        let fits = ((maximum * 0.9 - 10.0) / 0.2).floor();
        let most = super::create::MAX_CREATE_VARIANTS;
        if fits >= most as f64 {
            most
        } else {
            (fits as usize).max(1)
        }
    }

    /// Sends a body from [`Self::bulk_update_body`]; outcomes follow the body's variant order.
    pub async fn send_bulk_update(&self, body: &[u8]) -> Result<BulkUpdateOutcome, StoreError> {
        let ids = ops::bulk_update_ids(body)
            .ok_or_else(|| StoreError::Decode("not a VariantsBulkUpdate body".into()))?;
        // Before Shopify has priced a call of this size, its documented formula (rounded
        // up; the refund settles the difference) beats the 100-point default that would
        // hold the first call back for a second on a drained bucket.
        let n = ids.len();
        let hint = lock(&self.inner.bulk_update_costs)
            .get(&n)
            .copied()
            .unwrap_or_else(|| (10.0 + 0.2 * n as f64).ceil());
        let (data, cost) = self.run(body, Some(hint)).await?;
        if let Some(requested) = cost.and_then(|c| c.requested_query_cost) {
            lock(&self.inner.bulk_update_costs).insert(n, requested);
        }
        Ok(ops::bulk_update_outcome(&ids, data))
    }

    pub fn product_update_body(update: &ops::ProductUpdate) -> Vec<u8> {
        ops::product_update_body(update)
    }

    /// Sends a `productUpdate` body; `Ok(Err(..))` carries Shopify's userErrors.
    pub async fn send_product_update(
        &self,
        body: &[u8],
    ) -> Result<Result<(), Vec<UserError>>, StoreError> {
        let hint = self.first_hint("ProductUpdate", 10.0);
        let (data, _) = self.run(body, hint).await?;
        Ok(ops::product_update_outcome(data))
    }

    /// The body of one `inventorySetQuantities` call (at most 250 items) under `key`.
    pub fn inventory_set_body(items: &[SetQuantity], key: &str, reference: &str) -> Vec<u8> {
        ops::inventory_set_body(items, key, reference)
    }

    pub async fn inventory_set(
        &self,
        items: &[SetQuantity],
        key: &str,
        reference: &str,
    ) -> Result<SetOutcome, StoreError> {
        self.send_inventory_set(&Self::inventory_set_body(items, key, reference))
            .await
    }

    pub async fn send_inventory_set(&self, body: &[u8]) -> Result<SetOutcome, StoreError> {
        // Live: requested 10–13 (SHOPIFY.md §2).
        let hint = self.first_hint("InventorySet", 13.0);
        let (data, _) = self.run(body, hint).await?;
        Ok(ops::inventory_set_outcome(data))
    }

    pub fn inventory_activate_body(
        item_id: &str,
        location_id: &str,
        available: Option<i64>,
        key: &str,
    ) -> Vec<u8> {
        ops::inventory_activate_body(item_id, location_id, available, key)
    }

    /// Stocks an item at a location, with `available` as its first quantity.
    pub async fn inventory_activate(
        &self,
        item_id: &str,
        location_id: &str,
        available: Option<i64>,
        key: &str,
    ) -> Result<ActivateOutcome, StoreError> {
        self.send_inventory_activate(&Self::inventory_activate_body(
            item_id,
            location_id,
            available,
            key,
        ))
        .await
    }

    pub async fn send_inventory_activate(
        &self,
        body: &[u8],
    ) -> Result<ActivateOutcome, StoreError> {
        let hint = self.first_hint("InventoryActivate", 11.0);
        let (data, _) = self.run(body, hint).await?;
        Ok(ops::inventory_activate_outcome(data))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why [`ShopifyClient::connect`] could not build the client: a config problem (exit 2) or a store one.
#[derive(Debug)]
pub enum ConnectError {
    Config(String),
    Store(StoreError),
}
