//! A local fake of the Shopify Admin GraphQL API (2026-07), served over HTTP on
//! 127.0.0.1 for `demo`, `sandbox` and the tests. It stands apart from the engine: it
//! shares no code with `store::shopify` and behaves like the live service as captured in
//! `../shared/fixtures/shopify/live/`.
//!
//! What it reproduces:
//! - `POST /admin/api/{version}/graphql.json`, auth by `X-Shopify-Access-Token` (HTTP 401
//!   with Shopify's string-valued `errors` otherwise);
//! - real GraphQL: the query is parsed and validated (unknown fields, arguments and
//!   variables rejected with graphql-ruby's messages), the answer holds exactly the
//!   selected fields (aliases, fragments, inline fragments, `__typename`);
//! - calculated query cost and the leaky bucket: scalars 0, objects 1, plain lists of
//!   objects cost their selections once, connections `2 + first × (1 + node selections)`,
//!   `nodes(ids:)` one object per id, mutations `10 +` their payload selections,
//!   `productVariantsBulkUpdate` `round(10 + 0.2 × variants)`; over 1000 →
//!   `MAX_COST_EXCEEDED`; more than the bucket holds → `THROTTLED` (HTTP 200, no `data`);
//!   every executed or throttled answer carries `extensions.cost`;
//! - the 2026-04+ inventory contract: `@idempotent` required, `changeFromQuantity` key
//!   required (null skips the compare-and-set), all-or-nothing sets, idempotent replay and
//!   key/parameter mismatch, the userError codes and `field` paths of the captures;
//! - `productVariantsBulkUpdate` with per-variant validation and `allowPartialUpdates`;
//! - bulk exports (`bulkOperationRunQuery`, `bulkOperation`, `currentBulkOperation`): the
//!   JSONL, in scrambled line order, is served by plain GET under `/bulk-results/`, and
//!   each fetch records whether credentials came along ([`ShopifyFake::file_fetches`]).
//!
//! - bulk mutations (`stagedUploadsCreate`, a POST form upload under `/staged-uploads`
//!   that records whether credentials came along, `bulkOperationRunMutation`): the lines
//!   run as the inner mutation without charging the bucket, results served like exports.
//!
//! For kill tests, [`ShopifyFake::hold_mutation`] parks the N-th mutation of a kind before
//! or after it takes effect until the test lets it go (see `hold`).
//!
//! Supported roots: `shop`, `currentAppInstallation`, `locations`, `location`,
//! `productVariants`, `productVariant`, `product`, `inventoryItem`, `inventoryLevel`,
//! `node`, `nodes`, `productVariantsCount`, `bulkOperation`, `currentBulkOperation`;
//! mutations `productVariantsBulkUpdate`, `inventorySetQuantities`, `inventoryActivate`,
//! `bulkOperationRunQuery`, `bulkOperationRunMutation`, `stagedUploadsCreate`.

mod bucket;
mod bulk;
mod exec;
pub(crate) mod hold;
pub mod oauth;
mod resolve;
mod schema;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use bucket::Bucket;
pub use bulk::{FileFetch, UploadLog};
use exec::GqlRequest;
pub use hold::{HoldPoint, MutationHold};
use resolve::IdempotentEntry;
use state::{StoreData, Variant, gid};

/// The demo store served by `sheetsync demo`.
const DEMO_SEED: &str = include_str!("../../../config/demo/store.json");
/// Standard-plan bucket, as observed live on a dev store (SHOPIFY.md §2).
const DEFAULT_BUCKET: (f64, f64) = (2000.0, 100.0);
const UNAUTHORIZED_BODY: &str =
    r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#;
/// Versions answered as themselves; anything else falls forward to the oldest.
const SUPPORTED_VERSIONS: &[&str] = &["2025-10", "2026-01", "2026-04", "2026-07", "2026-10"];

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed is not valid JSON for the Shopify fake: {0}")]
    Json(#[from] serde_json::Error),
    #[error("seed is inconsistent: {0}")]
    Invalid(String),
}

/// One request as the fake received it (the access token is never recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    pub api_version: String,
    pub operation_name: Option<String>,
    /// Root fields of the executed operation, e.g. `["inventorySetQuantities"]`.
    pub root_fields: Vec<String>,
    pub variables: Value,
    /// The evaluated `@idempotent(key:)`, if the operation carried one.
    pub idempotency_key: Option<String>,
    pub http_status: u16,
    /// `extensions.code` of every top-level error (`THROTTLED`, `BAD_REQUEST`, …).
    pub error_codes: Vec<String>,
    /// The `requestedQueryCost` the fake answered; `None` when the request was refused
    /// before costing (401, parse or validation errors).
    pub requested_cost: Option<f64>,
    /// The points the bucket kept (the `actualQueryCost` answered); `None` when nothing was
    /// charged (`THROTTLED`, `MAX_COST_EXCEEDED`, or refused before costing).
    pub actual_cost: Option<f64>,
    /// When the fake answered (tokio's clock, as the bucket's): with `bucket_after`, what a
    /// test measures a run's spending rate by.
    pub at: tokio::time::Instant,
    /// Points left in the bucket once this request was charged and refunded.
    pub bucket_after: f64,
}

/// A variant as the fake holds it, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantView {
    pub id: String,
    pub product_id: String,
    pub product_title: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub compare_at_price: Option<Decimal>,
    pub barcode: Option<String>,
    pub requires_components: bool,
    pub inventory_item_id: String,
    pub tracked: bool,
    pub unit_cost: Option<Decimal>,
    /// location name → available, for the locations the item is stocked at.
    pub available: BTreeMap<String, i64>,
}

/// A variant to add from a test (e.g. a second variant with an existing SKU).
#[derive(Debug, Clone)]
pub struct NewVariant {
    /// Added to the product with this title, created if missing.
    pub product_title: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub tracked: bool,
    pub requires_components: bool,
    /// (location name, available) pairs the item is stocked at.
    pub stock: Vec<(String, i64)>,
}

/// Everything behind the fake's lock.
pub(crate) struct Shared {
    data: StoreData,
    bucket: Bucket,
    idempotency: HashMap<String, IdempotentEntry>,
    log: Vec<RequestLog>,
    token: String,
    auth: oauth::AuthState,
    /// Stock moves to apply just before the next `inventorySetQuantities` runs: a sale
    /// that lands between a client's read and its write.
    pub(crate) before_next_set: Vec<(String, String, i64)>,
    /// Mutations that ran (idempotent replays excluded), in order.
    pub(crate) applied: Vec<AppliedMutation>,
    /// Bulk operations, oldest first.
    bulk_ops: Vec<bulk::BulkOp>,
    /// `scheme://host:port` this server is reached at (from the last request's `Host`),
    /// for the result-file URLs.
    public_base: Option<String>,
    file_fetches: Vec<FileFetch>,
    /// Staged upload keys handed out, with the file once uploaded.
    staged: HashMap<String, Option<Bytes>>,
    uploads: Vec<bulk::UploadLog>,
    /// Largest staged upload accepted (100 MB; tests lower it).
    upload_limit: usize,
    /// The next bulk mutation runs only this many lines, then ends `FAILED`.
    bulk_mutation_fails_after: Option<usize>,
    /// How fast bulk jobs move; `None` finishes them on the second read.
    bulk_pace: Option<bulk::BulkPace>,
}

/// A product's own fields, for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    pub id: String,
    pub title: String,
    pub status: String,
    pub tags: Vec<String>,
    pub vendor: String,
    pub product_type: String,
    pub description_html: String,
}

/// A product with its options and variants (SKU, option values), for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleView {
    pub id: String,
    pub title: String,
    pub status: String,
    pub options: Vec<(String, Vec<String>)>,
    pub variants: Vec<(Option<String>, Vec<String>)>,
    /// The names of the sales channels it is published to, in the store's order.
    pub published: Vec<String>,
}

/// A mutation the fake ran, rather than answered from its idempotency store.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedMutation {
    /// The root field, e.g. `inventorySetQuantities`.
    pub name: String,
    pub args: Value,
    /// The payload (every field, whatever the query selected), with the products,
    /// variants, inventory items and locations in it cut to `__typename` and `id`.
    pub response: Value,
}

/// The fake Shopify store. Cheap to clone; clones share the same store.
#[derive(Clone)]
pub struct ShopifyFake {
    inner: Arc<Mutex<Shared>>,
    faults: crate::faults::Faults,
    holds: hold::Holds,
    /// Client connections still open ([`ShopifyFake::open_connections`]).
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl ShopifyFake {
    /// A store seeded from JSON (format: `config/demo/store.json`); requests must carry
    /// `token` in `X-Shopify-Access-Token`.
    pub fn from_seed_json(json: &str, token: &str) -> Result<ShopifyFake, SeedError> {
        let data = StoreData::from_seed(json)?;
        Ok(ShopifyFake {
            inner: Arc::new(Mutex::new(Shared {
                data,
                bucket: Bucket::new(DEFAULT_BUCKET.0, DEFAULT_BUCKET.1),
                idempotency: HashMap::new(),
                log: Vec::new(),
                token: token.to_owned(),
                auth: oauth::AuthState::default(),
                before_next_set: Vec::new(),
                applied: Vec::new(),
                bulk_ops: Vec::new(),
                public_base: None,
                file_fetches: Vec::new(),
                staged: HashMap::new(),
                uploads: Vec::new(),
                upload_limit: bulk::MAX_UPLOAD,
                bulk_mutation_fails_after: None,
                bulk_pace: None,
            })),
            faults: crate::faults::Faults::default(),
            holds: hold::Holds::default(),
            connections: Arc::default(),
        })
    }

    /// The demo store (`config/demo/store.json`, compiled in).
    pub fn demo(token: &str) -> ShopifyFake {
        // The seed is compiled in and covered by a test, so it always parses.
        match ShopifyFake::from_seed_json(DEMO_SEED, token) {
            Ok(f) => f,
            Err(e) => unreachable!("config/demo/store.json is invalid: {e}"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicking test thread must not wedge every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The HTTP routes, for embedding in another axum server.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql_handler))
            .route("/admin/oauth/access_token", post(token_handler))
            .route("/admin/oauth/authorize", get(authorize_handler))
            .route(&format!("{}/{{file}}", bulk::FILE_PATH), get(file_handler))
            .route(
                bulk::UPLOAD_PATH,
                // Past the limit the handler answers as storage does, so let it see the body.
                post(upload_handler).layer(axum::extract::DefaultBodyLimit::max(
                    bulk::MAX_UPLOAD + (1 << 20),
                )),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                crate::faults::inject,
            ))
            .with_state(self.clone())
    }

    /// Serves the API on `listener` until the task is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let listener = CountingListener {
            inner: listener,
            open: Arc::clone(&self.connections),
        };
        axum::serve(listener, self.router()).await
    }

    /// Client connections the fake has accepted and not yet closed. A killed client's
    /// sockets are closed by the kernel; the fake closes its side only after serving every
    /// request already sent on them, so 0 after a kill means everything the client sent
    /// has landed, or never will.
    pub fn open_connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Binds 127.0.0.1 on a free port and serves in the background; returns the address
    /// (the API lives at `http://{addr}/admin/api/2026-07/graphql.json`).
    pub async fn spawn(&self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = self.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = fake.serve(listener).await {
                tracing::warn!(error = %e, "Shopify fake stopped");
            }
        });
        Ok((addr, handle))
    }

    /// Answers one request without HTTP: `(status, body)`. Same path as the server.
    pub fn respond(
        &self,
        api_version: &str,
        access_token: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let (status, value, _) = self.respond_applying(api_version, access_token, body);
        (status, value)
    }

    /// [`respond`](Self::respond), with the names of the mutations the request applied.
    fn respond_applying(
        &self,
        api_version: &str,
        access_token: Option<&str>,
        body: &[u8],
    ) -> (u16, Value, Vec<String>) {
        let mut shared = self.lock();
        let applied_before = shared.applied.len();
        let authorized = access_token.is_some_and(|t| t == shared.token || shared.auth.accepts(t));
        let parsed: Option<GqlRequest> = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| request_from_json(&v));
        let mut entry = RequestLog {
            api_version: api_version.to_owned(),
            operation_name: None,
            root_fields: Vec::new(),
            variables: parsed
                .as_ref()
                .map_or(Value::Null, |r| Value::Object(r.variables.clone())),
            idempotency_key: None,
            http_status: 200,
            error_codes: Vec::new(),
            requested_cost: None,
            actual_cost: None,
            at: tokio::time::Instant::now(),
            bucket_after: 0.0,
        };
        let (status, body) = if !authorized {
            (
                401,
                serde_json::from_str(UNAUTHORIZED_BODY).unwrap_or(Value::Null),
            )
        } else if let Some(req) = parsed {
            let (body, info) = exec::execute(&mut shared, &req);
            entry.operation_name = info.operation_name;
            entry.root_fields = info.root_fields;
            entry.idempotency_key = info.idempotency_key;
            entry.error_codes = info.error_codes;
            entry.requested_cost = info.requested_cost;
            entry.actual_cost = info.actual_cost;
            (200, body)
        } else {
            (
                400,
                json!({"errors": {"query": "Required parameter missing or invalid"}}),
            )
        };
        entry.http_status = status;
        entry.at = tokio::time::Instant::now();
        entry.bucket_after = shared.bucket.available();
        shared.log.push(entry);
        let applied = shared.applied[applied_before..]
            .iter()
            .map(|m| m.name.clone())
            .collect();
        (status, body, applied)
    }

    /// The fault knobs (5xx, dropped connections, 429, latency) of this fake.
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    /// Holds the `nth` (1-based, counted from now) `mutation` (a root field such as
    /// `inventorySetQuantities`) at `point` until the returned handle releases or
    /// abandons it. Before applying, every request carrying the mutation counts; after,
    /// only those that applied it (idempotent replays and refused requests do not).
    pub fn hold_mutation(&self, mutation: &str, nth: usize, point: HoldPoint) -> MutationHold {
        self.holds.arm(mutation, nth, point)
    }

    /// Every mutation that ran, in order; idempotent replays are not in it.
    pub fn applied_mutations(&self) -> Vec<AppliedMutation> {
        self.lock().applied.clone()
    }

    /// Resizes the cost bucket (full afterwards): e.g. `(1000.0, 50.0)` for old plans.
    pub fn set_bucket(&self, maximum: f64, restore_rate: f64) {
        self.lock().bucket = Bucket::new(maximum, restore_rate);
    }

    /// Points in the bucket now.
    pub fn bucket_available(&self) -> f64 {
        self.lock().bucket.available()
    }

    /// Available stock of the first variant with `sku` at the location named `location`;
    /// `None` if either is unknown or the item is not stocked there.
    pub fn available(&self, sku: &str, location: &str) -> Option<i64> {
        let mut shared = self.lock();
        let loc = shared.data.location_by_name(location)?.id;
        shared.data.by_sku_mut(sku)?.levels.get(&loc).copied()
    }

    /// Sets available stock behind the API's back (a sale, a delivery), stocking the item
    /// at the location if needed. Returns `false` if the SKU or location is unknown.
    pub fn set_available(&self, sku: &str, location: &str, qty: i64) -> bool {
        let mut shared = self.lock();
        let Some(loc) = shared.data.location_by_name(location).map(|l| l.id) else {
            return false;
        };
        match shared.data.by_sku_mut(sku) {
            Some(v) => {
                v.levels.insert(loc, qty);
                true
            }
            None => false,
        }
    }

    /// Arranges a sale (or any stock move) to land right before the next
    /// `inventorySetQuantities` call is executed: `available` of `sku` at `location`
    /// becomes `qty` after the client read it and before its write is checked.
    pub fn set_available_before_next_set(&self, sku: &str, location: &str, qty: i64) {
        self.lock()
            .before_next_set
            .push((sku.to_owned(), location.to_owned(), qty));
    }

    /// The first variant carrying `sku`.
    pub fn variant(&self, sku: &str) -> Option<VariantView> {
        let shared = self.lock();
        let (p, v) = shared
            .data
            .variants()
            .find(|(_, v)| v.sku.as_deref() == Some(sku))?;
        Some(view(&shared.data, &p.title, p.id, v))
    }

    /// The product-level fields of the product holding `sku`: title, status, tags (sorted),
    /// vendor, type and description.
    pub fn product_of(&self, sku: &str) -> Option<ProductView> {
        let shared = self.lock();
        let (p, _) = shared
            .data
            .variants()
            .find(|(_, v)| v.sku.as_deref() == Some(sku))?;
        Some(ProductView {
            id: gid("Product", p.id),
            title: p.title.clone(),
            status: p.status.clone(),
            tags: p.tags.clone(),
            vendor: p.vendor.clone(),
            product_type: p.product_type.clone(),
            description_html: p.description_html.clone(),
        })
    }

    /// Removes the publication (sales channel) named `name`, as a merchant uninstalling
    /// the channel would; returns its id.
    pub fn remove_publication(&self, name: &str) -> Option<u64> {
        let mut shared = self.lock();
        let pos = shared
            .data
            .publications
            .iter()
            .position(|p| p.name == name)?;
        Some(shared.data.publications.remove(pos).id)
    }

    /// Adds a publication (sales channel) with `id` and `name`.
    pub fn add_publication(&self, id: u64, name: &str) {
        self.lock().data.publications.push(state::Publication {
            id,
            name: name.to_owned(),
        });
    }

    /// The products whose handle is `handle` (Shopify keeps handles unique: zero or one).
    pub fn products_with_handle(&self, handle: &str) -> Vec<HandleView> {
        let shared = self.lock();
        shared
            .data
            .products
            .iter()
            .filter(|p| p.handle == handle)
            .map(|p| HandleView {
                id: gid("Product", p.id),
                title: p.title.clone(),
                status: p.status.clone(),
                options: p.options.clone(),
                variants: p
                    .variants
                    .iter()
                    .map(|v| (v.sku.clone(), v.options.clone()))
                    .collect(),
                published: shared
                    .data
                    .publications
                    .iter()
                    .filter(|pubn| p.published.contains(&pubn.id))
                    .map(|pubn| pubn.name.clone())
                    .collect(),
            })
            .collect()
    }

    /// Every variant carrying `sku` (SKUs are not unique in Shopify).
    pub fn variants_with_sku(&self, sku: &str) -> Vec<VariantView> {
        let shared = self.lock();
        shared
            .data
            .variants()
            .filter(|(_, v)| v.sku.as_deref() == Some(sku))
            .map(|(p, v)| view(&shared.data, &p.title, p.id, v))
            .collect()
    }

    /// Changes a price behind the API's back. Returns `false` for an unknown SKU or a
    /// price that is not a decimal.
    pub fn set_price(&self, sku: &str, price: &str) -> bool {
        let Ok(price) = price.trim().parse::<Decimal>() else {
            return false;
        };
        let mut shared = self.lock();
        match shared.data.by_sku_mut(sku) {
            Some(v) => {
                v.price = price.round_dp(2);
                true
            }
            None => false,
        }
    }

    /// Deletes the first variant carrying `sku` behind the API's back (a merchant deleting
    /// it mid-run); `false` for an unknown SKU.
    pub fn remove_variant(&self, sku: &str) -> bool {
        let mut shared = self.lock();
        for p in &mut shared.data.products {
            if let Some(i) = p
                .variants
                .iter()
                .position(|v| v.sku.as_deref() == Some(sku))
            {
                p.variants.remove(i);
                return true;
            }
        }
        false
    }

    /// Changes the description of the product holding `sku` behind the API's back (an
    /// edit in the admin). Returns `false` for an unknown SKU.
    pub fn set_description(&self, sku: &str, html: &str) -> bool {
        let mut shared = self.lock();
        let Some(id) = shared
            .data
            .variants()
            .find(|(_, v)| v.sku.as_deref() == Some(sku))
            .map(|(p, _)| p.id)
        else {
            return false;
        };
        match shared.data.product_mut(id) {
            Some(p) => {
                p.description_html = html.to_owned();
                true
            }
            None => false,
        }
    }

    /// Adds a variant (and its product if needed); returns it.
    pub fn add_variant(&self, new: NewVariant) -> Result<VariantView, SeedError> {
        let mut shared = self.lock();
        let data = &mut shared.data;
        let mut levels = BTreeMap::new();
        for (name, qty) in &new.stock {
            let loc = data
                .location_by_name(name)
                .ok_or_else(|| SeedError::Invalid(format!("unknown location {name:?}")))?;
            levels.insert(loc.id, *qty);
        }
        let variant_id = data.next_id();
        let item_id = data.next_id();
        let product_id = match data.products.iter().find(|p| p.title == new.product_title) {
            Some(p) => p.id,
            None => {
                let id = data.next_id();
                data.products.push(state::Product {
                    id,
                    handle: state::handleize(&new.product_title)
                        .map_or_else(|| format!("product-{id}"), |h| format!("{h}-{id}")),
                    options: vec![("Title".to_owned(), Vec::new())],
                    title: new.product_title.clone(),
                    status: "ACTIVE".to_owned(),
                    tags: Vec::new(),
                    vendor: String::new(),
                    product_type: String::new(),
                    description_html: String::new(),
                    variants: Vec::new(),
                    published: Default::default(),
                });
                id
            }
        };
        let title = new.sku.clone().unwrap_or_else(|| "Default Title".into());
        let variant = Variant {
            id: variant_id,
            options: vec![title.clone()],
            title,
            sku: new.sku,
            price: new.price,
            compare_at: None,
            barcode: None,
            requires_components: new.requires_components,
            inventory_item_id: item_id,
            tracked: new.tracked,
            unit_cost: None,
            levels,
        };
        let out = view(data, &new.product_title, product_id, &variant);
        if let Some(p) = data.products.iter_mut().find(|p| p.id == product_id) {
            if let Some((_, values)) = p.options.first_mut()
                && !values.contains(&variant.title)
            {
                values.push(variant.title.clone());
            }
            p.variants.push(variant);
        }
        Ok(out)
    }

    /// The GID of the location named `name`.
    pub fn location_id(&self, name: &str) -> Option<String> {
        let shared = self.lock();
        shared
            .data
            .location_by_name(name)
            .map(|l| gid("Location", l.id))
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.lock().log.clone()
    }

    /// The requests received after the first `skip`, oldest first: a poller's view that
    /// does not copy the whole log (and every body in it) each time.
    pub fn requests_since(&self, skip: usize) -> Vec<RequestLog> {
        self.lock()
            .log
            .get(skip..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Installs an app: its client id and secret then mint tokens at
    /// `/admin/oauth/access_token`, which the API accepts until they expire.
    pub fn install_app(&self, app: oauth::App) {
        self.lock().auth.app = Some(app);
    }

    /// Makes the API refuse (or accept again) every token the token endpoint issued.
    pub fn reject_issued_tokens(&self, reject: bool) {
        self.lock().auth.reject_issued = reject;
    }

    /// Every token endpoint request so far, oldest first.
    pub fn oauth_requests(&self) -> Vec<oauth::OauthLog> {
        self.lock().auth.log.clone()
    }

    /// Every GET of a bulk result file, oldest first.
    pub fn file_fetches(&self) -> Vec<FileFetch> {
        self.lock().file_fetches.clone()
    }

    /// Every staged upload POST, oldest first.
    pub fn uploads(&self) -> Vec<UploadLog> {
        self.lock().uploads.clone()
    }

    /// Lowers (or restores) the staged upload size limit, 100 MB by default.
    pub fn set_upload_limit(&self, bytes: usize) {
        self.lock().upload_limit = bytes;
    }

    /// The next bulk mutation runs its first `lines` lines only and then ends `FAILED`
    /// (`INTERNAL_SERVER_ERROR`), its results so far at `partialDataUrl`.
    pub fn fail_next_bulk_mutation_after(&self, lines: usize) {
        self.lock().bulk_mutation_fails_after = Some(lines);
    }

    /// Makes the bulk jobs started from now on move at a live store's pace instead of
    /// finishing on their second read: each stays `CREATED` for `queue_wait`, then
    /// `RUNNING` with `objectCount` growing at `objects_per_second` until every object is
    /// counted, and only then ends (`COMPLETED`, or `FAILED` for a job set to fail). Time is
    /// the fake's clock (`tokio::time`), so a test with a paused clock can step through a
    /// job. A bulk mutation's lines still take effect when it is submitted: only what the
    /// job reports, and when its results can be fetched, follow the pace. A rate that is
    /// not a positive number counts one object a second.
    pub fn set_bulk_pace(&self, queue_wait: std::time::Duration, objects_per_second: f64) {
        let objects_per_second = if objects_per_second.is_finite() && objects_per_second > 0.0 {
            objects_per_second
        } else {
            1.0
        };
        self.lock().bulk_pace = Some(bulk::BulkPace {
            queue_wait,
            objects_per_second,
        });
    }

    /// The shop's `*.myshopify.com` domain.
    pub fn shop_domain(&self) -> String {
        self.lock().data.shop.domain.clone()
    }
}

fn view(data: &StoreData, product_title: &str, product_id: u64, v: &Variant) -> VariantView {
    VariantView {
        id: gid("ProductVariant", v.id),
        product_id: gid("Product", product_id),
        product_title: product_title.to_owned(),
        sku: v.sku.clone(),
        price: v.price,
        compare_at_price: v.compare_at,
        barcode: v.barcode.clone(),
        requires_components: v.requires_components,
        inventory_item_id: gid("InventoryItem", v.inventory_item_id),
        tracked: v.tracked,
        unit_cost: v.unit_cost,
        available: v
            .levels
            .iter()
            .filter_map(|(loc, q)| data.location(*loc).map(|l| (l.name.clone(), *q)))
            .collect(),
    }
}

fn request_from_json(v: &Value) -> Option<GqlRequest> {
    let query = v.get("query")?.as_str()?.to_owned();
    let variables = match v.get("variables") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let operation_name = v
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(GqlRequest {
        query,
        variables,
        operation_name,
    })
}

async fn graphql_handler(
    State(fake): State<ShopifyFake>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        fake.lock().public_base = Some(format!("http://{host}"));
    }
    let fields = |pick: fn(&exec::GqlRequest) -> Vec<String>| {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| request_from_json(&v))
            .map(|r| pick(&r))
            .unwrap_or_default()
    };
    let mutations = || fields(exec::mutation_fields);
    if fake.holds.waiting_at(HoldPoint::BeforeApply)
        && fake
            .holds
            .gate(HoldPoint::BeforeApply, &fields(exec::root_fields))
            .await
            == hold::Verdict::Drop
    {
        return crate::faults::dropped();
    }
    let loss = if fake.faults.losing_answers() {
        fake.faults.loss_for(&mutations())
    } else {
        None
    };
    if loss == Some(crate::faults::Loss::Before) {
        return crate::faults::dropped();
    }
    let (status, value, applied) = fake.respond_applying(&version, token, &body);
    if loss == Some(crate::faults::Loss::After)
        || fake.holds.gate(HoldPoint::AfterApply, &applied).await == hold::Verdict::Drop
    {
        return crate::faults::dropped();
    }
    let served = if SUPPORTED_VERSIONS.contains(&version.as_str()) || version == "unstable" {
        version
    } else {
        SUPPORTED_VERSIONS[0].to_owned()
    };
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        bytes,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&served) {
        h.insert("x-shopify-api-version", v);
    }
    resp
}

async fn token_handler(State(fake): State<ShopifyFake>, body: Bytes) -> Response {
    let params = oauth::params_of(&body);
    let (status, value) = fake.lock().auth.token_endpoint(&params);
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        serde_json::to_vec(&value).unwrap_or_default(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

async fn authorize_handler(State(fake): State<ShopifyFake>, RawQuery(q): RawQuery) -> Response {
    let params = oauth::params_of(q.unwrap_or_default().as_bytes());
    let shop = fake.shop_domain();
    match fake.lock().auth.authorize(&shop, &params) {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(v) => {
                let mut resp = StatusCode::FOUND.into_response();
                resp.headers_mut().insert(header::LOCATION, v);
                resp
            }
            Err(_) => (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
        },
        Err((status, msg)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            msg,
        )
            .into_response(),
    }
}

async fn upload_handler(
    State(fake): State<ShopifyFake>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let credentials = headers.contains_key("x-shopify-access-token")
        || headers.contains_key(header::AUTHORIZATION);
    let (status, text) = bulk::upload(&mut fake.lock(), content_type, &body, credentials);
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        text,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=UTF-8"),
    );
    resp
}

async fn file_handler(
    State(fake): State<ShopifyFake>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut shared = fake.lock();
    shared.file_fetches.push(FileFetch {
        path: format!("{}/{file}", bulk::FILE_PATH),
        carried_credentials: headers.contains_key("x-shopify-access-token")
            || headers.contains_key(header::AUTHORIZATION),
    });
    match bulk::file(&shared, &file) {
        Some(bytes) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jsonl"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
    }
}

/// A TCP listener that counts the connections it hands to axum until they close.
struct CountingListener {
    inner: tokio::net::TcpListener,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

/// An accepted connection that counts itself out when hyper drops it.
struct CountedStream {
    inner: tokio::net::TcpStream,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CountedStream, SocketAddr) {
        let (inner, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let open = Arc::clone(&self.open);
        (CountedStream { inner, open }, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl tokio::io::AsyncRead for CountedStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountedStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
