//! A local fake of the WooCommerce REST API (`wc/v3`), served over HTTP on 127.0.0.1 for
//! `demo`, `sandbox`, the tests and the benchmarks. It stands apart from the engine: it
//! shares no code with the product's WooCommerce client, and behaves like WooCommerce as
//! `../shared/WOOCOMMERCE.md` (the brief, cited as §n below and in the code) and
//! `../shared/fixtures/woocommerce/` describe it, quirks included.
//!
//! # Wire behaviour
//! - The API lives under `{base_url}/wp-json/wc/v3/…`, and under
//!   `{base_url}/?rest_route=/wc/v3/…` as on every WordPress site; with
//!   [`WooOptions::pretty_permalinks`] off, `/wp-json/…` is WordPress's HTML 404 (§2).
//! - Auth (§2, C-AUTH): consumer key and secret over HTTP Basic, or as
//!   `consumer_key`/`consumer_secret` query parameters (which win), accepted only while
//!   the site counts as SSL ([`WooOptions::ssl`], on by default: the fake plays a site
//!   behind a TLS-terminating proxy; off, Basic is not even tried and every request is
//!   anonymous). An unknown key is anonymous (each route then answers 401
//!   `woocommerce_rest_cannot_view` "Sorry, you cannot list resources." or its
//!   sibling); a known key with a wrong secret is 401 `woocommerce_rest_authentication_error`
//!   "Consumer secret is invalid." with a `WWW-Authenticate: Basic` realm; a read-only
//!   key writing is 401 "The API key provided does not have write permissions.", before
//!   any route runs. OAuth 1.0a is not implemented: signed requests are refused. The
//!   fake never records a secret.
//! - Reads: `GET /products` (`page`, `per_page` 1..=100 else 400 `rest_invalid_param`,
//!   `sku` over products *and* variations, exact own SKU (and the whole comma list);
//!   `search_sku`, `global_unique_id`, `include`, `exclude`, `type`,
//!   `status` (default `any`: not trash), `parent`, `search`, `modified_after`/`_before`,
//!   `after`/`before`, `dates_are_gmt`, `orderby` (date, id, include, title, slug,
//!   modified, price, popularity, rating; date/modified tie-break on id), `order`,
//!   `context=edit`, `_fields` with nested `a.b` paths), `GET /products/{id}` (a
//!   variation id too, rendered as `type: "variation"`), `GET /products/{p}/variations`
//!   and `/{id}`, `GET /variations` only when the version is ≥ 10.3 (else 404
//!   `rest_no_route`), `GET /settings/general` (currency, separators, decimals as the
//!   string `"2"`), `GET /settings/products` (`woocommerce_manage_stock`), single
//!   settings, `GET /data/currencies/current`, `GET /system_status`
//!   (`environment.version`), `GET /wc/v3` (the route index), `GET /orders` and
//!   `/orders/{id}`. Lists carry `X-WP-Total`, `X-WP-TotalPages` and `Link` with `prev`
//!   and `next` only. Prices are strings, ids numbers, dates without a zone in both
//!   site-local and `_gmt` forms; `cost_of_goods_sold` appears only while cost of goods
//!   is on ([`WooFake::set_cogs_enabled`]).
//! - Writes (`write`): `POST|PUT|PATCH /products/batch` and
//!   `/products/{p}/variations/batch` (at most 100 items, else 413; a bad item is a
//!   per-item `error` in a 200 answer, saved whole or not at all), single
//!   `POST /products`, `PUT /products/{id}`, `PUT /products/{p}/variations/{id}`,
//!   `DELETE`s; WooCommerce's silent rewrites (sale ≥ regular dropped, stock on an
//!   unmanaged item ignored, a variable product's own prices blanked, SKU `wc_clean`,
//!   GTIN sanitised, `wc_format_decimal` on prices, unknown status → draft,
//!   `date_modified` bumped on every save, the parent's too for a variation), the
//!   undocumented `inventory_delta`; a `null` field is left alone (`isset()`).
//! - Orders ([`WooFake::place_order`]) decrement stock atomically (the parent's for
//!   `manage_stock: "parent"`), bump the stock holder's `date_modified`, and are listed
//!   by `GET /orders?modified_after=…&dates_are_gmt=true`; [`WooFake::set_order_status`]
//!   changes one (cancelling restocks).
//!
//! [`WooSandbox`] pairs the fake with a Sheets fake holding the WooCommerce demo sheet
//! and writes a config for both (`demo`/`sandbox --store woocommerce`).
//!
//! # Test hooks
//! [`WooFake::set_latency`] and [`WooFake::set_batch_item_latency`],
//! [`WooFake::add_fault`] (429/503 with JSON, HTML or empty bodies and `Retry-After`,
//! dropped connections, lost answers), [`WooFake::set_random_faults`] (a seeded share),
//! [`WooFake::hold_batch`] (park the N-th batch write before or after it applies, so a
//! test can place an order in between), [`WooFake::request_log`],
//! [`WooFake::in_flight`] and [`WooFake::max_in_flight`], item accessors and setters
//! ([`WooFake::item`], [`WooFake::item_by_sku`], [`WooFake::set_stock`], …).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sheetsync_sandbox::woocommerce::{WooFake, WooOptions};
//! let fake = WooFake::start(WooOptions::default()).await?;
//! let api = fake.api_base(); // http://127.0.0.1:PORT/wp-json/wc/v3
//! let order = fake.place_order(&[("TEE-RED-S", 2), ("BEAN-RED", 1)])?;
//! # let _ = (api, order); Ok(()) }
//! ```

mod answer;
mod auth;
mod knobs;
mod read;
mod sandbox;
mod seed;
mod state;
#[cfg(test)]
mod tests;
mod write;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::shopify::hold::{Holds, Verdict};
pub use crate::shopify::{HoldPoint, MutationHold};
use answer::{Answer, Body, Params, WooError};
pub use auth::Permission;
use auth::{ApiKey, Caller};
pub use knobs::{Fault, FaultBody, FaultRule, RequestLog};
use knobs::{InFlight, Knobs};
pub use sandbox::{DEMO_SHEET, WooSandbox};
pub use seed::Catalogue;
use state::{Base, Item, Store};

/// The read/write key of every sandbox store (not a secret: it opens only the fake).
pub const SANDBOX_CONSUMER_KEY: &str = "ck_sandbox00000000000000000000000000000000";
pub const SANDBOX_CONSUMER_SECRET: &str = "cs_sandbox00000000000000000000000000000000";
/// The read-only key of every sandbox store.
pub const SANDBOX_READ_ONLY_KEY: &str = "ck_sandboxread0000000000000000000000000000";
pub const SANDBOX_READ_ONLY_SECRET: &str = "cs_sandboxread0000000000000000000000000000";

/// What [`WooFake::hold_batch`] names: `POST /products/batch`.
pub const PRODUCTS_BATCH: &str = "products/batch";
/// What [`WooFake::hold_batch`] names: `POST /products/{parent}/variations/batch`, any
/// parent.
pub const VARIATIONS_BATCH: &str = "variations/batch";

/// How a fake starts.
#[derive(Debug, Clone)]
pub struct WooOptions {
    pub catalogue: Catalogue,
    /// The WooCommerce version the fake plays (`/variations` exists from 10.3).
    pub version: String,
    /// Cost of goods (the `cost_of_goods_sold` fields; off by default, as in WooCommerce).
    pub cogs_enabled: bool,
    /// Whether WordPress sees the requests as SSL (`is_ssl()`): HTTP Basic and
    /// query-string keys work only then (§2).
    pub ssl: bool,
    /// Pretty permalinks: off, only `?rest_route=` reaches the API.
    pub pretty_permalinks: bool,
    /// The site's offset from UTC, in seconds (local dates differ from `_gmt` ones).
    pub utc_offset_secs: i64,
    /// 0: a free port.
    pub port: u16,
}

impl Default for WooOptions {
    fn default() -> Self {
        WooOptions {
            catalogue: Catalogue::Demo,
            version: "10.3.0".into(),
            cogs_enabled: false,
            ssl: true,
            pretty_permalinks: true,
            utc_offset_secs: -3 * 3600,
            port: 0,
        }
    }
}

/// Why the fake could not start, or an order could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum WooFakeError {
    #[error("could not serve the WooCommerce fake: {0}")]
    Io(#[from] std::io::Error),
    #[error("no item has SKU or id {0:?}")]
    UnknownItem(String),
    #[error("{0:?} is a variable product: an order needs one of its variations")]
    NotPurchasable(String),
    #[error("not enough stock for {item:?}: {available} left, {wanted} ordered")]
    OutOfStock {
        item: String,
        available: i64,
        wanted: i64,
    },
    #[error("an order needs at least one line with a positive quantity")]
    EmptyOrder,
    #[error("no order has id {0}")]
    UnknownOrder(u64),
}

/// `manage_stock` as WooCommerce reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageStock {
    Yes,
    No,
    /// A variation whose stock is its parent's.
    Parent,
}

/// An item's current fields, as a test inspects them.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemView {
    pub id: u64,
    pub parent_id: u64,
    /// `simple`, `variable`, `grouped`, `external` or `variation`.
    pub kind: &'static str,
    pub name: String,
    pub status: String,
    /// The item's own SKU (empty when none).
    pub own_sku: String,
    /// The SKU the API reports (a variation without its own reports its parent's).
    pub sku: String,
    pub regular_price: String,
    pub sale_price: String,
    /// The derived active price.
    pub price: String,
    pub manage_stock: ManageStock,
    /// The stock the API reports (the parent's for `Parent`); `None` when unmanaged.
    pub stock_quantity: Option<i64>,
    pub stock_status: String,
    pub global_unique_id: String,
    /// The own cost of goods (zero when none).
    pub cost: Decimal,
    pub tags: Vec<String>,
    pub description: String,
    pub date_on_sale_from_gmt: Option<String>,
    pub date_on_sale_to_gmt: Option<String>,
    pub date_modified_gmt: String,
    pub total_sales: i64,
}

/// Everything behind the fake's lock.
struct Shared {
    store: Store,
    keys: Vec<ApiKey>,
    ssl: bool,
    pretty: bool,
    log: Vec<RequestLog>,
    knobs: Knobs,
    /// `woocommerce_rest_batch_items_limit` (100 unless a test filters it).
    batch_limit: usize,
}

/// The fake WooCommerce store. Cheap to clone; clones share the same store. The server
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct WooFake {
    inner: Arc<Mutex<Shared>>,
    holds: Holds,
    in_flight: Arc<InFlight>,
    addr: SocketAddr,
    _server: Arc<ServerTask>,
}

struct ServerTask(Option<tokio::task::JoinHandle<()>>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

impl std::fmt::Debug for WooFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooFake")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WooFake {
    /// Seeds a store and serves it on 127.0.0.1 (`options.port`, or a free port).
    pub async fn start(options: WooOptions) -> Result<WooFake, WooFakeError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let mut store = Store::empty(&options.version, options.utc_offset_secs);
        store.cogs_enabled = options.cogs_enabled;
        match options.catalogue {
            Catalogue::Empty => {}
            Catalogue::Demo => seed::demo(&mut store),
            Catalogue::Generated {
                parents,
                per_parent,
            } => seed::generated(&mut store, parents, per_parent),
        }
        let inner = Arc::new(Mutex::new(Shared {
            store,
            keys: vec![
                ApiKey {
                    consumer_key: SANDBOX_CONSUMER_KEY.into(),
                    consumer_secret: SANDBOX_CONSUMER_SECRET.into(),
                    permission: Permission::ReadWrite,
                },
                ApiKey {
                    consumer_key: SANDBOX_READ_ONLY_KEY.into(),
                    consumer_secret: SANDBOX_READ_ONLY_SECRET.into(),
                    permission: Permission::Read,
                },
            ],
            ssl: options.ssl,
            pretty: options.pretty_permalinks,
            log: Vec::new(),
            knobs: Knobs::default(),
            batch_limit: 100,
        }));
        let mut fake = WooFake {
            inner,
            holds: Holds::default(),
            in_flight: Arc::default(),
            addr,
            _server: Arc::new(ServerTask(None)),
        };
        let router = fake.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "WooCommerce fake stopped");
            }
        });
        fake._server = Arc::new(ServerTask(Some(handle)));
        Ok(fake)
    }

    /// The HTTP routes (every path goes to one handler, as WordPress's `index.php`).
    fn router(&self) -> Router {
        // The router holds a handle without the server task, so dropping every test
        // handle still stops the server.
        let handle = WooFake {
            inner: Arc::clone(&self.inner),
            holds: self.holds.clone(),
            in_flight: Arc::clone(&self.in_flight),
            addr: self.addr,
            _server: Arc::new(ServerTask(None)),
        };
        Router::new()
            .fallback(handler)
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(handle)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicking test thread must not wedge every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn base(&self, shared: &Shared) -> Base {
        Base {
            home: self.base_url(),
            pretty: shared.pretty,
        }
    }

    /// The site root, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base_url}/wp-json/wc/v3`.
    pub fn api_base(&self) -> String {
        format!("{}/wp-json/wc/v3", self.base_url())
    }

    /// `{base_url}/?rest_route=/wc/v3` (append the route's path to it).
    pub fn rest_route_base(&self) -> String {
        format!("{}/?rest_route=/wc/v3", self.base_url())
    }

    /// A `[woocommerce]` config section (SPEC §8) for this fake and its read/write key.
    pub fn config_section(&self) -> String {
        format!(
            "[woocommerce]\nurl = \"{}\"\nconsumer_key = \"{}\"\nconsumer_secret = \"{}\"\n",
            self.base_url(),
            SANDBOX_CONSUMER_KEY,
            SANDBOX_CONSUMER_SECRET
        )
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn consumer_key(&self) -> &'static str {
        SANDBOX_CONSUMER_KEY
    }

    pub fn consumer_secret(&self) -> &'static str {
        SANDBOX_CONSUMER_SECRET
    }

    pub fn read_only_key(&self) -> &'static str {
        SANDBOX_READ_ONLY_KEY
    }

    pub fn read_only_secret(&self) -> &'static str {
        SANDBOX_READ_ONLY_SECRET
    }

    /// Adds a key (e.g. a write-only one); it works from the next request on.
    pub fn add_key(&self, consumer_key: &str, consumer_secret: &str, permission: Permission) {
        self.lock().keys.push(ApiKey {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            permission,
        });
    }

    /// Revokes a key: it is unknown from the next request on.
    pub fn revoke_key(&self, consumer_key: &str) {
        self.lock().keys.retain(|k| k.consumer_key != consumer_key);
    }

    // ---- store settings ---------------------------------------------------------------

    /// Which WooCommerce version the fake plays (e.g. `"10.2.1"`: no `/variations`).
    pub fn set_version(&self, version: &str) {
        self.lock().store.version = version.to_owned();
    }

    pub fn version(&self) -> String {
        self.lock().store.version.clone()
    }

    /// Turns cost of goods on or off (the fields appear, and are written, only when on).
    pub fn set_cogs_enabled(&self, on: bool) {
        self.lock().store.cogs_enabled = on;
    }

    /// The store-wide `woocommerce_manage_stock` option: off, product stock writes are
    /// ignored (§1.2).
    pub fn set_store_manage_stock(&self, on: bool) {
        self.lock().store.settings.manage_stock = on;
    }

    /// The store's currency and price decimals (`/settings/general`).
    pub fn set_currency(&self, code: &str, decimals: u32) {
        let mut shared = self.lock();
        shared.store.settings.currency = code.to_owned();
        shared.store.settings.num_decimals = decimals;
    }

    /// Whether WordPress sees requests as SSL (see [`WooOptions::ssl`]).
    pub fn set_ssl(&self, on: bool) {
        self.lock().ssl = on;
    }

    /// Pretty permalinks on or off (see [`WooOptions::pretty_permalinks`]).
    pub fn set_pretty_permalinks(&self, on: bool) {
        self.lock().pretty = on;
    }

    /// The batch limit (`woocommerce_rest_batch_items_limit`, 100 by default).
    pub fn set_batch_limit(&self, limit: usize) {
        self.lock().batch_limit = limit;
    }

    /// Moves the store's clock forward (or back): scheduled sales start and end by it,
    /// and saves and orders are stamped with it.
    pub fn advance_clock(&self, by: Duration) {
        self.lock().store.clock_offset += by.as_secs() as i64;
    }

    /// The store's clock as `date_modified_gmt` prints it.
    pub fn now_gmt(&self) -> String {
        let shared = self.lock();
        shared.store.dates(shared.store.now()).1
    }

    // ---- items ------------------------------------------------------------------------

    /// An item by id.
    pub fn item(&self, id: u64) -> Option<ItemView> {
        let shared = self.lock();
        shared.store.items.get(&id).map(|i| view(&shared.store, i))
    }

    /// The item whose *own* SKU is `sku` (the first, if a test forced duplicates in).
    pub fn item_by_sku(&self, sku: &str) -> Option<ItemView> {
        let shared = self.lock();
        let id = shared.store.first_with_sku(sku)?;
        shared.store.items.get(&id).map(|i| view(&shared.store, i))
    }

    /// Every item the API reports with this SKU (own or inherited).
    pub fn items_reporting_sku(&self, sku: &str) -> Vec<ItemView> {
        let shared = self.lock();
        let s = &shared.store;
        s.items
            .values()
            .filter(|i| s.view_sku(i) == sku)
            .map(|i| view(s, i))
            .collect()
    }

    /// How many products and variations the store holds.
    pub fn counts(&self) -> (usize, usize) {
        let shared = self.lock();
        let vars = shared
            .store
            .items
            .values()
            .filter(|i| i.is_variation())
            .count();
        (shared.store.items.len() - vars, vars)
    }

    /// Edits an item as the shop owner would in wp-admin (a save: `date_modified` bumps).
    /// `key` is an own SKU or an id. False when no item matches.
    fn edit(&self, key: &str, f: impl FnOnce(&mut Item)) -> bool {
        let mut shared = self.lock();
        let Some(id) = resolve(&shared.store, key) else {
            return false;
        };
        let store = &mut shared.store;
        let Some(mut item) = store.items.get(&id).cloned() else {
            return false;
        };
        f(&mut item);
        item.modified = store.now();
        store.put(*item);
        true
    }

    /// Sets an item's own stock (managed from then on), as an admin edit.
    pub fn set_stock(&self, key: &str, qty: i64) -> bool {
        self.edit(key, |i| {
            i.manage_stock = true;
            i.stock = Some(qty);
            i.stock_status = if qty > 0 { "instock" } else { "outofstock" }.into();
        })
    }

    /// Turns an item's own stock management on or off (off on a variation of a parent
    /// that manages stock makes it `"parent"`).
    pub fn set_manage_stock(&self, key: &str, on: bool) -> bool {
        self.edit(key, |i| {
            i.manage_stock = on;
            if !on {
                i.stock = None;
            }
        })
    }

    /// Sets an item's prices as stored (no rewrite applied: a test builds any state).
    pub fn set_prices(&self, key: &str, regular: &str, sale: &str) -> bool {
        self.edit(key, |i| {
            i.regular_price = regular.to_owned();
            i.sale_price = sale.to_owned();
        })
    }

    /// Schedules an item's sale (GMT unix seconds; `None` clears a bound).
    pub fn set_sale_schedule(&self, key: &str, from: Option<i64>, to: Option<i64>) -> bool {
        self.edit(key, |i| {
            i.sale_from = from;
            i.sale_to = to;
        })
    }

    /// Gives item `id` an own SKU without the uniqueness check, as old imports leave
    /// duplicates behind (§1.4).
    pub fn force_sku(&self, id: u64, sku: &str) -> bool {
        let mut shared = self.lock();
        let store = &mut shared.store;
        let Some(mut item) = store.items.get(&id).cloned() else {
            return false;
        };
        item.sku = sku.to_owned();
        store.put(*item);
        true
    }

    // ---- orders -----------------------------------------------------------------------

    /// Places a paid order (status `processing`) for `(SKU or id, quantity)` lines and
    /// returns its number. Stock is decremented atomically for the whole order under the
    /// store's lock (`wc_update_product_stock`'s `meta_value - qty`, §3.1): on the item
    /// itself, or on its parent for a `manage_stock: "parent"` variation; an unmanaged
    /// item is not decremented. The stock holder is saved (its `date_modified` bumps, so
    /// it shows in `modified_after`), and the order's lines name the item's
    /// product/variation ids. An item whose managed stock is short, with backorders
    /// off, refuses the order as checkout does; nothing changes then.
    pub fn place_order(&self, lines: &[(&str, i64)]) -> Result<u64, WooFakeError> {
        let mut shared = self.lock();
        write::place_order(&mut shared.store, lines)
    }

    /// Sets an order's status (`completed`, `cancelled`, …): the order is changed, so it
    /// shows in `GET /orders?modified_after=…`. Cancelling puts its stock back.
    pub fn set_order_status(&self, order: u64, status: &str) -> Result<(), WooFakeError> {
        let mut shared = self.lock();
        write::set_order_status(&mut shared.store, order, status)
    }

    /// The ids of orders created or modified in `[from, to]` (GMT unix seconds).
    pub fn orders_between(&self, from: i64, to: i64) -> Vec<u64> {
        let shared = self.lock();
        shared
            .store
            .orders
            .iter()
            .filter(|o| {
                (o.created >= from && o.created <= to) || (o.modified >= from && o.modified <= to)
            })
            .map(|o| o.id)
            .collect()
    }

    /// The store clock, GMT unix seconds.
    pub fn now(&self) -> i64 {
        self.lock().store.now()
    }

    // ---- knobs ------------------------------------------------------------------------

    /// Latency added to every request before it is handled (for benchmarks).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().knobs.latency = latency;
    }

    /// Latency added per item of a batch write (create, update and delete items), on
    /// top of [`WooFake::set_latency`]: a realistic batch of 100 takes seconds.
    pub fn set_batch_item_latency(&self, per_item: Duration) {
        self.lock().knobs.per_batch_item = per_item;
    }

    /// `share` (0.0..=1.0) of the requests from now on meet a random fault (429 or 503
    /// with HTML, JSON or empty bodies, sometimes `Retry-After: 0`; a dropped connection;
    /// a lost answer), drawn from an RNG seeded with `seed`: the same requests meet the
    /// same faults. Scripted faults go first. `share` 0 turns it off.
    pub fn set_random_faults(&self, share: f64, seed: u64) {
        self.lock().knobs.random =
            (share > 0.0).then(|| (share.min(1.0), fastrand::Rng::with_seed(seed)));
    }

    /// Scripts a fault (see [`FaultRule::next`] and [`FaultRule::matching`]).
    pub fn add_fault(&self, rule: FaultRule) {
        self.lock().knobs.rules.push(rule);
    }

    /// Removes every scripted fault not yet used.
    pub fn clear_faults(&self) {
        self.lock().knobs.rules.clear();
    }

    /// How many scripted faults were injected so far.
    pub fn faults_injected(&self) -> usize {
        self.lock().knobs.injected
    }

    /// Parks the `nth` batch write of `batch` ([`PRODUCTS_BATCH`] or
    /// [`VARIATIONS_BATCH`]) at `point` until the test releases or abandons it; while it
    /// is parked every other request is served (a test places an order then).
    pub fn hold_batch(&self, batch: &str, nth: usize, point: HoldPoint) -> MutationHold {
        self.holds.arm(batch, nth, point)
    }

    /// Every request so far, oldest first.
    pub fn request_log(&self) -> Vec<RequestLog> {
        self.lock().log.clone()
    }

    /// Forgets the request log (and resets the largest in-flight count).
    pub fn clear_request_log(&self) {
        self.lock().log.clear();
        self.in_flight.reset_max();
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.current()
    }

    /// The most requests ever handled at once (latency included).
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max()
    }

    // ---- dispatch ---------------------------------------------------------------------

    /// Answers one request (the store's side, under its lock).
    fn respond(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> (Answer, Option<&'static str>, Option<&'static str>) {
        let mut shared = self.lock();
        let params = Params::parse(query);
        let Some(route) = route_of(path, &params, shared.pretty) else {
            // The site itself: its home page at the root, WordPress's 404 elsewhere.
            if path == "/" && method == "GET" {
                return (Answer::html_home(), None, None);
            }
            return (Answer::html_not_found(), None, None);
        };
        let auth = auth::authenticate(&shared.keys, shared.ssl, &params.0, authorization);
        let key = match auth.caller {
            Caller::Key(_, Permission::ReadWrite) => Some("read_write"),
            Caller::Key(_, Permission::Read) => Some("read"),
            Caller::Key(_, Permission::Write) => Some("write"),
            Caller::Anonymous => None,
        };
        let how = auth.method.as_str();
        if let Some(error) = auth.error {
            return (error, key, how);
        }
        if let Some(error) = auth::check_scope(auth.caller, method) {
            return (error.answer(), key, how);
        }
        let base = self.base(&shared);
        let answer = dispatch(
            &mut shared,
            &base,
            method,
            &route,
            &params,
            auth.caller,
            body,
        )
        .unwrap_or_else(|e| e.answer());
        (answer, key, how)
    }
}

/// An own SKU, else an id.
fn resolve(store: &Store, key: &str) -> Option<u64> {
    if let Some(id) = store.first_with_sku(key) {
        return Some(id);
    }
    key.parse::<u64>()
        .ok()
        .filter(|id| store.items.contains_key(id))
}

fn view(store: &Store, i: &Item) -> ItemView {
    let parent_stock = store.stock_from_parent(i);
    let holder = store.items.get(&store.stock_holder(i)).map_or(i, |h| &**h);
    ItemView {
        id: i.id,
        parent_id: i.parent_id,
        kind: i.kind.as_str(),
        name: if i.is_variation() {
            store.variation_name(i)
        } else {
            i.name.clone()
        },
        status: i.status.to_string(),
        own_sku: i.sku.clone(),
        sku: store.view_sku(i),
        regular_price: i.regular_price.clone(),
        sale_price: i.sale_price.clone(),
        price: store.active_price(i),
        manage_stock: if parent_stock {
            ManageStock::Parent
        } else if i.manage_stock {
            ManageStock::Yes
        } else {
            ManageStock::No
        },
        stock_quantity: if parent_stock || i.manage_stock {
            holder.stock
        } else {
            None
        },
        stock_status: holder.stock_status.to_string(),
        global_unique_id: i.global_unique_id.clone(),
        cost: i.cogs,
        tags: i
            .tags
            .iter()
            .filter_map(|t| store.tags.get(t).map(|t| t.name.clone()))
            .collect(),
        description: i.description.clone(),
        date_on_sale_from_gmt: i.sale_from.map(|t| store.dates(t).1),
        date_on_sale_to_gmt: i.sale_to.map(|t| store.dates(t).1),
        date_modified_gmt: store.dates(i.modified).1,
        total_sales: i.total_sales,
    }
}

/// The REST route a URL addresses (`/wc/v3/products`), or `None` when the URL is not a
/// REST request at all.
fn route_of(path: &str, params: &Params, pretty: bool) -> Option<String> {
    let raw = if let Some(rest) = path.strip_prefix("/wp-json") {
        if !pretty || !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest.to_owned()
    } else if path == "/" || path == "/index.php" {
        params.get("rest_route")?.to_owned()
    } else {
        return None;
    };
    // WordPress untrailingslashes the route.
    let trimmed = raw.trim_end_matches('/');
    Some(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_owned()
    })
}

/// Anonymous callers fail each route's permission check with its own message.
fn refuse(what: Perm) -> WooError {
    let (code, message) = match what {
        Perm::List => (
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        ),
        Perm::View => (
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot view this resource.",
        ),
        Perm::Create => (
            "woocommerce_rest_cannot_create",
            "Sorry, you are not allowed to create resources.",
        ),
        Perm::Edit => (
            "woocommerce_rest_cannot_edit",
            "Sorry, you are not allowed to edit this resource.",
        ),
        Perm::Delete => (
            "woocommerce_rest_cannot_delete",
            "Sorry, you are not allowed to delete this resource.",
        ),
        Perm::Batch => (
            "woocommerce_rest_cannot_batch",
            "Sorry, you are not allowed to batch manipulate this resource.",
        ),
    };
    // `rest_authorization_required_code()`: 401 for a visitor who is not logged in.
    WooError::new(401, code, message)
}

#[derive(Debug, Clone, Copy)]
enum Perm {
    List,
    View,
    Create,
    Edit,
    Delete,
    Batch,
}

fn parse_body(body: &[u8]) -> Result<Value, WooError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        WooError::new(400, "rest_invalid_json", "Invalid JSON body passed.")
            .with("json_error_code", json!(4))
            .with("json_error_message", json!(e.to_string()))
    })
}

fn dispatch(
    shared: &mut Shared,
    base: &Base,
    method: &str,
    route: &str,
    params: &Params,
    caller: Caller,
    body: &[u8],
) -> Result<Answer, WooError> {
    let segs: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<u64>().ok();
    let read = matches!(method, "GET" | "HEAD");
    let write = matches!(method, "POST" | "PUT" | "PATCH");
    let anonymous = caller == Caller::Anonymous;
    let gate = |p: Perm| if anonymous { Err(refuse(p)) } else { Ok(()) };
    let limit = shared.batch_limit;
    let store = &mut shared.store;
    match segs.as_slice() {
        [""] if read => Ok(Answer::ok(json!({
            "name": "sheetsync demo",
            "url": base.home,
            "home": base.home,
            "namespaces": ["wp/v2", "wc/v3"],
        }))),
        ["wc", "v3"] if read => Ok(read::index(store, base)),
        ["wc", "v3", "products"] if read => {
            gate(Perm::List)?;
            read::list(store, base, params, read::Listing::Products)
        }
        ["wc", "v3", "products"] if method == "POST" => {
            gate(Perm::Create)?;
            write::create_single(store, base, write::Target::Products, &parse_body(body)?)
        }
        ["wc", "v3", "products", "batch"] if write => {
            gate(Perm::Batch)?;
            write::batch(
                store,
                base,
                write::Target::Products,
                &parse_body(body)?,
                limit,
            )
        }
        ["wc", "v3", "products", p] if id(p).is_some() => {
            let pid = id(p).unwrap_or_default();
            match method {
                "GET" | "HEAD" => {
                    gate(Perm::View)?;
                    read::product(store, base, params, pid)
                }
                "POST" | "PUT" | "PATCH" => {
                    gate(Perm::Edit)?;
                    write::update_single(
                        store,
                        base,
                        write::Target::Products,
                        pid,
                        &parse_body(body)?,
                    )
                }
                "DELETE" => {
                    gate(Perm::Delete)?;
                    write::delete_single(store, base, write::Target::Products, pid, params)
                }
                _ => Err(WooError::no_route()),
            }
        }
        ["wc", "v3", "products", p, "variations"] if id(p).is_some() => {
            let pid = id(p).unwrap_or_default();
            if read {
                gate(Perm::List)?;
                read::list(store, base, params, read::Listing::VariationsOf(pid))
            } else if method == "POST" {
                gate(Perm::Create)?;
                write::create_single(
                    store,
                    base,
                    write::Target::Variations(pid),
                    &parse_body(body)?,
                )
            } else {
                Err(WooError::no_route())
            }
        }
        ["wc", "v3", "products", p, "variations", "batch"] if id(p).is_some() && write => {
            gate(Perm::Batch)?;
            let pid = id(p).unwrap_or_default();
            write::batch(
                store,
                base,
                write::Target::Variations(pid),
                &parse_body(body)?,
                limit,
            )
        }
        ["wc", "v3", "products", p, "variations", v] if id(p).is_some() && id(v).is_some() => {
            let (pid, vid) = (id(p).unwrap_or_default(), id(v).unwrap_or_default());
            match method {
                "GET" | "HEAD" => {
                    gate(Perm::View)?;
                    read::variation(store, base, params, pid, vid)
                }
                "POST" | "PUT" | "PATCH" => {
                    gate(Perm::Edit)?;
                    write::update_single(
                        store,
                        base,
                        write::Target::Variations(pid),
                        vid,
                        &parse_body(body)?,
                    )
                }
                "DELETE" => {
                    gate(Perm::Delete)?;
                    write::delete_single(store, base, write::Target::Variations(pid), vid, params)
                }
                _ => Err(WooError::no_route()),
            }
        }
        // `GET /variations` exists from WooCommerce 10.3 (§1.1, C-VARS); before, the
        // route is simply not registered.
        ["wc", "v3", "variations"] if read && store.version_at_least(10, 3) => {
            gate(Perm::List)?;
            read::list(store, base, params, read::Listing::AllVariations)
        }
        ["wc", "v3", "orders"] if read => {
            gate(Perm::List)?;
            read::orders(store, base, params)
        }
        ["wc", "v3", "orders", o] if read && id(o).is_some() => {
            gate(Perm::View)?;
            read::order(store, base, params, id(o).unwrap_or_default())
        }
        ["wc", "v3", "settings", group] if read => {
            gate(Perm::List)?;
            read::settings(store, base, params, group, None)
        }
        ["wc", "v3", "settings", group, setting] if read => {
            gate(Perm::View)?;
            read::settings(store, base, params, group, Some(setting))
        }
        ["wc", "v3", "data", "currencies", "current"] if read => {
            gate(Perm::View)?;
            Ok(read::current_currency(store, base))
        }
        ["wc", "v3", "system_status"] if read => {
            gate(Perm::List)?;
            read::system_status(store, base, params)
        }
        _ => Err(WooError::no_route()),
    }
}

/// The one handler: latency, scripted faults, holds, the store's answer, the log.
async fn handler(State(fake): State<WooFake>, req: Request) -> Response {
    let _counted = fake.in_flight.enter();
    let started = tokio::time::Instant::now();
    let at = chrono::Utc::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let params = Params::parse(query.as_deref());
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let user_agent = header(header::USER_AGENT);
    let authorization = header(header::AUTHORIZATION);
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let batch = batch_name(&method, &path, &params);
    let (latency, fault) = {
        let mut shared = fake.lock();
        let fault = shared
            .knobs
            .draw(&method, &path, query.as_deref().unwrap_or(""));
        let mut latency = shared.knobs.latency;
        if batch.is_some() && !shared.knobs.per_batch_item.is_zero() {
            let items = batch_items(&body);
            latency += shared.knobs.per_batch_item * u32::try_from(items).unwrap_or(u32::MAX);
        }
        (latency, fault)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let entry = RequestLog {
        method: method.clone(),
        path: path.clone(),
        query: params.redacted(),
        user_agent,
        at,
        elapsed: Duration::ZERO,
        status: None,
        key: None,
        auth: None,
        fault: fault.clone(),
        body: matches!(method.as_str(), "POST" | "PUT" | "PATCH")
            .then(|| serde_json::from_slice(&body).ok())
            .flatten(),
    };
    // Logged when answered, or, when the client goes away first (a timeout: the server
    // then drops this handler), with no status: a request the fake received is always in
    // the log, answered or not.
    let mut pending = Pending {
        fake: &fake,
        started,
        entry: Some(entry),
    };
    let log = |mut pending: Pending<'_>, status: Option<u16>| pending.finish(status);
    match &fault {
        Some(Fault::TooMany { retry_after, body }) => {
            log(pending, Some(429));
            return fault_response(429, retry_after.as_deref(), *body);
        }
        Some(Fault::Unavailable { retry_after, body }) => {
            log(pending, Some(503));
            return fault_response(503, retry_after.as_deref(), *body);
        }
        Some(Fault::DropBefore) => {
            log(pending, None);
            return crate::faults::dropped();
        }
        Some(Fault::LostAnswer) | None => {}
    }
    if let Some(name) = batch
        && fake.holds.waiting_at(HoldPoint::BeforeApply)
        && fake
            .holds
            .gate(HoldPoint::BeforeApply, &[name.to_owned()])
            .await
            == Verdict::Drop
    {
        log(pending, None);
        return crate::faults::dropped();
    }
    let (answer, key, how) = fake.respond(
        &method,
        &path,
        query.as_deref(),
        authorization.as_deref(),
        &body,
    );
    if let Some(entry) = pending.entry.as_mut() {
        entry.key = key;
        entry.auth = how;
    }
    if fault == Some(Fault::LostAnswer) {
        log(pending, None);
        return crate::faults::dropped();
    }
    if let Some(name) = batch
        && answer.status == 200
        && fake
            .holds
            .gate(HoldPoint::AfterApply, &[name.to_owned()])
            .await
            == Verdict::Drop
    {
        log(pending, None);
        return crate::faults::dropped();
    }
    log(pending, Some(answer.status));
    into_response(answer)
}

/// A request's log entry until it is answered; logged with no status if the handler is
/// dropped first.
struct Pending<'a> {
    fake: &'a WooFake,
    started: tokio::time::Instant,
    entry: Option<RequestLog>,
}

impl Pending<'_> {
    fn finish(&mut self, status: Option<u16>) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = status;
            entry.elapsed = self.started.elapsed();
            self.fake.lock().log.push(entry);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// How many items a batch body carries (for the per-item latency).
fn batch_items(body: &[u8]) -> usize {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    ["create", "update", "delete"]
        .iter()
        .filter_map(|k| v.get(k).and_then(Value::as_array))
        .map(Vec::len)
        .sum()
}

/// The hold name of a batch write, if the request is one.
fn batch_name(method: &str, path: &str, params: &Params) -> Option<&'static str> {
    if !matches!(method, "POST" | "PUT" | "PATCH") {
        return None;
    }
    let route = route_of(path, params, true).or_else(|| route_of(path, params, false))?;
    let segs: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["wc", "v3", "products", "batch"] => Some(PRODUCTS_BATCH),
        ["wc", "v3", "products", _, "variations", "batch"] => Some(VARIATIONS_BATCH),
        _ => None,
    }
}

fn fault_response(status: u16, retry_after: Option<&str>, body: FaultBody) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (content_type, text) = match body {
        FaultBody::Json => (
            Some("application/json; charset=UTF-8"),
            if status == 429 {
                r#"{"code":"too_many_requests","message":"Too many requests. Please slow down.","data":{"status":429}}"#.to_owned()
            } else {
                r#"{"code":"service_unavailable","message":"The server is temporarily unable to service your request.","data":{"status":503}}"#.to_owned()
            },
        ),
        FaultBody::Html => (
            Some("text/html; charset=UTF-8"),
            format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {}</title></head><body><h1>{}</h1><p>The server is temporarily unable to service your request. Please try again later.</p><hr><address>Apache Server</address></body></html>\n",
                code.canonical_reason().unwrap_or(""),
                code.canonical_reason().unwrap_or("")
            ),
        ),
        FaultBody::Empty => (None, String::new()),
    };
    let mut resp = (code, text).into_response();
    let h = resp.headers_mut();
    h.remove(header::CONTENT_TYPE);
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Some(ra) = retry_after.and_then(|r| HeaderValue::from_str(r).ok()) {
        h.insert(header::RETRY_AFTER, ra);
    }
    resp
}

fn into_response(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, bytes) = match answer.body {
        Body::Json(v) => (
            "application/json; charset=UTF-8",
            serde_json::to_vec(&v).unwrap_or_default(),
        ),
        Body::Html(s) => ("text/html; charset=UTF-8", s.into_bytes()),
    };
    let mut resp = Response::new(AxumBody::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("X-WP-Total, X-WP-TotalPages, Link"),
    );
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            // `append`: WordPress sends each `Link` as a header of its own.
            h.append(n, v);
        }
    }
    resp
}
