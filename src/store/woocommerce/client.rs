//! The WooCommerce REST client: HTTP Basic with the consumer key over https (or plain
//! http to loopback only, checked before anything is sent), at most
//! `woocommerce.max_concurrency` requests in flight, 429 and 503 retried after
//! `Retry-After` or with backoff whatever their body (JSON, HTML or empty), every wait
//! ending when the run's cancellation fires. A write (POST) that times out, drops, or
//! fails with another 5xx is never sent again here: its outcome is unknown, and the
//! executor re-reads before anything is re-sent.
//!
//! Reads take the whole catalogue in as few requests as the API allows: `per_page=100`,
//! `_fields` trimmed to what the planner uses, pages after the first in parallel, and all
//! variations from `GET /variations` where the store has it (WooCommerce 10.3+), else one
//! paged read per variable parent.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::WooError;
use super::wire::{self, Item};
use crate::config::woocommerce::WooConfig;
use crate::http::{Reason, Retries, RetryPolicy};
use crate::model::{Currency, Secret};
use crate::plan::Snapshot;
use crate::progress::{Reporter, Work};
use crate::store::StoreError;

/// Most items a list page or a batch carries (WooCommerce's schema maximum).
pub const PAGE: usize = 100;

/// The fields the planner reads from a product.
const PRODUCT_FIELDS: &str = "id,type,status,sku,name,description,tags,regular_price,sale_price,\
date_on_sale_from_gmt,date_on_sale_to_gmt,manage_stock,stock_quantity,global_unique_id,variations";
/// The fields the planner reads from a variation (`parent_id` for `GET /variations`).
const VARIATION_FIELDS: &str = "id,parent_id,status,sku,regular_price,sale_price,\
date_on_sale_from_gmt,date_on_sale_to_gmt,manage_stock,stock_quantity,global_unique_id";

/// What the store told the probe (`check`, `auth status`, the first read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// WooCommerce's version (`/system_status`), when the key may read it.
    pub version: Option<String>,
    pub currency: Currency,
    /// Whether cost of goods is on: the field is present in a product. `None` when the
    /// store has no product to tell by.
    pub cogs: Option<bool>,
    /// `GET /variations` exists (WooCommerce 10.3+).
    pub variations_route: bool,
}

/// The query that marks the write-permission probe in a store's access log.
pub const WRITE_PROBE: (&str, &str) = ("sheetsync_probe", "write");

/// A raw answer: status, total pages (`X-WP-TotalPages`) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub total_pages: Option<usize>,
    pub body: Vec<u8>,
}

pub struct WooClient {
    http: reqwest::Client,
    site: String,
    root: String,
    key: Secret,
    secret: Secret,
    permits: tokio::sync::Semaphore,
    max_concurrency: usize,
    policy: RetryPolicy,
    cancel: Mutex<CancellationToken>,
    progress: Mutex<Reporter>,
    probe: tokio::sync::OnceCell<Probe>,
    write: tokio::sync::OnceCell<bool>,
    /// `sheet.columns.cost` is configured: a store with cost of goods off is refused.
    wants_cost: bool,
    /// Each variation's parent, as the last full read found them: a narrow re-read
    /// needs the parent's route (before 10.3) and its SKU (the inheritance rule).
    parents: Mutex<std::collections::HashMap<u64, u64>>,
}

impl WooClient {
    /// A client for `cfg`; refuses a URL the key may not be sent to before anything is.
    pub fn new(cfg: &WooConfig, policy: RetryPolicy) -> Result<WooClient, StoreError> {
        let root = cfg.api_root();
        let url = url::Url::parse(&root).map_err(|e| {
            StoreError::WooCommerce(WooError::Transport {
                why: format!("the API root is not a URL ({e})"),
            })
        })?;
        crate::model::transport::check_transport(&url).map_err(|why| {
            StoreError::WooCommerce(WooError::Transport {
                why: format!("{why}: the consumer key and secret would be sent there"),
            })
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // `woocommerce.timeout` (120 s by default): a batch may run long on a busy host.
            .timeout(cfg.timeout)
            .user_agent(concat!("sheetsync/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the key to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        let max_concurrency = cfg.max_concurrency.max(1);
        Ok(WooClient {
            http,
            site: cfg.shop_name().to_owned(),
            root,
            key: cfg.consumer_key.clone(),
            secret: cfg.consumer_secret.clone(),
            permits: tokio::sync::Semaphore::new(max_concurrency),
            max_concurrency,
            policy,
            cancel: Mutex::new(CancellationToken::new()),
            progress: Mutex::new(Reporter::silent()),
            probe: tokio::sync::OnceCell::new(),
            write: tokio::sync::OnceCell::new(),
            wants_cost: false,
            parents: Mutex::default(),
        })
    }

    /// The sheet has a cost column: reads refuse a store whose cost of goods is off
    /// (WooCommerce would silently ignore every cost written).
    pub fn with_cost_column(mut self, wants_cost: bool) -> WooClient {
        self.wants_cost = wants_cost;
        self
    }

    /// The site root (`woocommerce.url`), as reports name the shop.
    pub fn site(&self) -> &str {
        &self.site
    }

    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// At most the key's first 7 characters (SPEC §8).
    pub fn key_prefix(&self) -> String {
        let p: String = self.key.expose().chars().take(7).collect();
        format!("{p}…")
    }

    pub fn set_cancel(&self, cancel: CancellationToken) {
        *self.cancel.lock().unwrap_or_else(|p| p.into_inner()) = cancel;
    }

    fn cancel(&self) -> CancellationToken {
        self.cancel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_progress(&self, progress: Reporter) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = progress;
    }

    pub fn progress(&self) -> Reporter {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One request with the retry policy. `query` pairs are URL-encoded.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Answer, StoreError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.root))
            .map_err(|e| StoreError::Decode(format!("bad request path {path:?}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let write = method != Method::GET;
        let mut retries = Retries::new(self.policy, "woocommerce");
        let mut last: Option<StoreError> = None;
        loop {
            let cancel = self.cancel();
            let interrupted = |last: Option<StoreError>| match last {
                Some(e) => StoreError::InterruptedRetry(Box::new(e)),
                None => StoreError::Interrupted,
            };
            if cancel.is_cancelled() {
                return Err(interrupted(last));
            }
            let permit = tokio::select! {
                p = self.permits.acquire() => p.map_err(|_| StoreError::Interrupted)?,
                () = cancel.cancelled() => return Err(interrupted(last)),
            };
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .basic_auth(self.key.expose(), Some(self.secret.expose()));
            if let Some(b) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_vec());
            }
            let sent = async {
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let total_pages = header("x-wp-totalpages").and_then(|v| v.trim().parse().ok());
                let retry_after = header("retry-after")
                    .and_then(|v| crate::http::parse_retry_after(&v, chrono::Utc::now()));
                let body = resp.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, total_pages, retry_after, body))
            }
            .await;
            drop(permit);
            let (reason, wait, error) = match sent {
                Ok((status, total_pages, _, body)) if (200..300).contains(&status) => {
                    return Ok(Answer {
                        status,
                        total_pages,
                        body,
                    });
                }
                Ok((status, _, retry_after, body)) => {
                    let error = WooError::from_answer(status, retry_after, &body);
                    // 429 and 503 say the request was not served: safe to send again,
                    // writes included. Other 5xx may have run a write.
                    let again = matches!(status, 429 | 503)
                        || (!write && crate::http::retryable_status(status));
                    if !again {
                        return Err(StoreError::WooCommerce(error));
                    }
                    (
                        Reason::Status(status),
                        retry_after,
                        StoreError::WooCommerce(error),
                    )
                }
                Err(e) => {
                    let (timeout, connect) = (e.is_timeout(), e.is_connect());
                    let error = if timeout {
                        StoreError::WooCommerce(WooError::Timeout)
                    } else if connect {
                        StoreError::WooCommerce(WooError::Connection(e.without_url().to_string()))
                    } else {
                        StoreError::WooCommerce(WooError::Lost(e.without_url().to_string()))
                    };
                    // A write that may have reached the store is re-read, never re-sent;
                    // a refused connection never reached it.
                    if write && !connect {
                        return Err(error);
                    }
                    let reason = if timeout {
                        Reason::Timeout
                    } else {
                        Reason::Connection
                    };
                    (reason, None, error)
                }
            };
            let Some(wait) = retries.next(reason, wait) else {
                return Err(error);
            };
            last = Some(error);
            let progress = self.progress();
            tokio::select! {
                () = progress.waiting(crate::progress::Limit::Store, wait, tokio::time::sleep(wait)) => {}
                () = cancel.cancelled() => return Err(interrupted(last)),
            }
        }
    }

    /// A GET decoded as `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(T, Option<usize>), StoreError> {
        let answer = self.request(Method::GET, path, query, None).await?;
        let value = serde_json::from_slice(&answer.body)
            .map_err(|e| StoreError::WooCommerce(WooError::Decode(format!("GET {path}: {e}"))))?;
        Ok((value, answer.total_pages))
    }

    /// Every page of a list: the first alone (it says how many there are), the rest up to
    /// `max_concurrency` at a time, in page order.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Item>, StoreError> {
        self.list_all_as(path, query).await
    }

    /// [`WooClient::list_all`] decoded as `T`.
    pub async fn list_all_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, StoreError> {
        let page_query = |page: usize| {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("per_page", PAGE.to_string()));
            q.push(("page", page.to_string()));
            q.push(("orderby", "id".to_owned()));
            q.push(("order", "asc".to_owned()));
            q
        };
        let (mut items, pages): (Vec<T>, _) = self.get(path, &page_query(1)).await?;
        let pages = pages.unwrap_or(1);
        let progress = self.progress();
        let mut rest = stream::iter(2..=pages)
            .map(|page| {
                let q = page_query(page);
                async move { self.get::<Vec<T>>(path, &q).await }
            })
            .buffered(self.max_concurrency);
        while let Some(page) = rest.next().await {
            items.extend(page?.0);
            progress.position(Work::StoreVariants, items.len() as u64);
        }
        Ok(items)
    }

    /// What the store and the key can do; asked once per client.
    pub async fn probe(&self) -> Result<&Probe, StoreError> {
        self.probe.get_or_try_init(|| self.run_probe()).await
    }

    async fn run_probe(&self) -> Result<Probe, StoreError> {
        // Proves the route and the read permission, and tells whether COGS is on.
        let (first, _): (Vec<serde_json::Value>, _) = self
            .get(
                "/products",
                &[
                    ("per_page", "1".to_owned()),
                    ("_fields", "id,cost_of_goods_sold".to_owned()),
                ],
            )
            .await?;
        let cogs = first.first().map(|p| p.get("cost_of_goods_sold").is_some());
        let (settings, _): (Vec<serde_json::Value>, _) = self.get("/settings/general", &[]).await?;
        let setting = |id: &str| {
            settings
                .iter()
                .find(|s| s["id"] == id)
                .and_then(|s| s["value"].as_str().map(str::to_owned))
        };
        let code = setting("woocommerce_currency").unwrap_or_else(|| "USD".to_owned());
        let mut currency = Currency::new(&code);
        if let Some(d) =
            setting("woocommerce_price_num_decimals").and_then(|d| d.trim().parse().ok())
        {
            // Money has the store's decimals (its general settings), not ISO's.
            currency.decimals = d;
        }
        let version = match self
            .get::<serde_json::Value>("/system_status", &[("_fields", "environment".to_owned())])
            .await
        {
            Ok((v, _)) => v["environment"]["version"].as_str().map(str::to_owned),
            Err(StoreError::WooCommerce(e)) if !e.is_retryable() && !e.outcome_unknown() => None,
            Err(e) => return Err(e),
        };
        let variations_route = match self
            .request(
                Method::GET,
                "/variations",
                &[("per_page", "1".to_owned()), ("_fields", "id".to_owned())],
                None,
            )
            .await
        {
            Ok(_) => true,
            Err(StoreError::WooCommerce(WooError::Http { status: 404, .. }))
            | Err(StoreError::WooCommerce(WooError::NoRoute)) => false,
            Err(e) => return Err(e),
        };
        Ok(Probe {
            version,
            currency,
            cogs,
            variations_route,
        })
    }

    /// Whether the key may write: an empty batch (it writes nothing) is refused before
    /// dispatch for a read-only key. Asked once, only by what may write (`check`,
    /// `auth status`, a run before its first write), never by a dry run.
    pub async fn can_write(&self) -> Result<bool, StoreError> {
        self.write
            .get_or_try_init(|| async {
                match self
                    .request(
                        Method::POST,
                        "/products/batch",
                        &[(WRITE_PROBE.0, WRITE_PROBE.1.to_owned())],
                        Some(b"{}"),
                    )
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(StoreError::WooCommerce(WooError::ReadOnlyKey)) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await
            .copied()
    }

    /// The store's currency as the probe found it, when it has run.
    pub fn known_currency(&self) -> Option<Currency> {
        self.probe.get().map(|p| p.currency.clone())
    }

    /// The whole catalogue and how many items have no SKU of their own.
    pub async fn snapshot_counted(&self) -> Result<(Snapshot, usize), StoreError> {
        let probe = self.probe().await?.clone();
        if self.wants_cost && probe.cogs == Some(false) {
            return Err(StoreError::WooCommerce(WooError::CogsOff));
        }
        let cogs = probe.cogs == Some(true);
        let with_cogs = |fields: &str| {
            if cogs {
                format!("{fields},cost_of_goods_sold")
            } else {
                fields.to_owned()
            }
        };
        let _reading = self.progress().task(Work::StoreVariants, None);
        let products = self
            .list_all("/products", &[("_fields", with_cogs(PRODUCT_FIELDS))])
            .await?;
        let variation_fields = with_cogs(VARIATION_FIELDS);
        let mut variations = Vec::new();
        if probe.variations_route {
            variations = self
                .list_all("/variations", &[("_fields", variation_fields)])
                .await?;
        } else {
            let parents: Vec<u64> = products
                .iter()
                .filter(|p| p.kind.as_deref() == Some("variable") && !p.variations.is_empty())
                .map(|p| p.id)
                .collect();
            let fields = &variation_fields;
            let mut reads = stream::iter(parents)
                .map(|id| async move {
                    let path = format!("/products/{id}/variations");
                    let mut list = self.list_all(&path, &[("_fields", fields.clone())]).await?;
                    // The per-parent route knows the parent from its URL.
                    for v in &mut list {
                        v.parent_id = id;
                    }
                    Ok::<_, StoreError>(list)
                })
                .buffered(self.max_concurrency);
            while let Some(list) = reads.next().await {
                variations.extend(list?);
            }
        }
        *self.parents.lock().unwrap_or_else(|p| p.into_inner()) =
            variations.iter().map(|v| (v.id, v.parent_id)).collect();
        wire::snapshot(&products, &variations, probe.currency.clone())
            .map_err(|e| StoreError::WooCommerce(WooError::Decode(e.0)))
    }

    /// Re-reads the items `ids` name (products and variations, by id) in as few
    /// requests as the API allows: products by `include=` (with the parents of the
    /// variations, for their SKU), variations by `GET /variations?include=` (10.3+) or
    /// per parent. An item that is gone is absent.
    pub async fn items_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<(Option<crate::model::Sku>, crate::plan::StoreVariant)>, StoreError> {
        let probe = self.probe().await?.clone();
        let parents = self
            .parents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let wanted: Vec<u64> = ids.iter().filter_map(|i| i.parse().ok()).collect();
        let mut product_ids: Vec<u64> = Vec::new();
        let mut by_parent: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for id in &wanted {
            match parents.get(id) {
                Some(p) => {
                    by_parent.entry(*p).or_default().push(*id);
                    product_ids.push(*p);
                }
                None => product_ids.push(*id),
            }
        }
        product_ids.sort_unstable();
        product_ids.dedup();
        let join = |ids: &[u64]| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let cogs = probe.cogs == Some(true);
        let with_cogs = |fields: &str| {
            if cogs {
                format!("{fields},cost_of_goods_sold")
            } else {
                fields.to_owned()
            }
        };
        let mut products = Vec::new();
        for chunk in product_ids.chunks(PAGE) {
            products.extend(
                self.list_all(
                    "/products",
                    &[
                        ("include", join(chunk)),
                        ("_fields", with_cogs(PRODUCT_FIELDS)),
                    ],
                )
                .await?,
            );
        }
        let mut variations = Vec::new();
        let fields = with_cogs(VARIATION_FIELDS);
        if probe.variations_route {
            let all: Vec<u64> = by_parent.values().flatten().copied().collect();
            for chunk in all.chunks(PAGE) {
                variations.extend(
                    self.list_all(
                        "/variations",
                        &[("include", join(chunk)), ("_fields", fields.clone())],
                    )
                    .await?,
                );
            }
        } else {
            for (parent, ids) in &by_parent {
                for chunk in ids.chunks(PAGE) {
                    let mut list = self
                        .list_all(
                            &format!("/products/{parent}/variations"),
                            &[("include", join(chunk)), ("_fields", fields.clone())],
                        )
                        .await?;
                    for v in &mut list {
                        v.parent_id = *parent;
                    }
                    variations.extend(list);
                }
            }
        }
        let (snapshot, _) = wire::snapshot(&products, &variations, probe.currency.clone())
            .map_err(|e| StoreError::WooCommerce(WooError::Decode(e.0)))?;
        Ok(snapshot
            .variants
            .into_iter()
            .flat_map(|(sku, vs)| vs.into_iter().map(move |v| (Some(sku.clone()), v)))
            .filter(|(_, v)| ids.contains(&v.variant_id.to_string()))
            .collect())
    }

    /// Sends one batch (the journaled bytes without sheetsync's own note); each item's
    /// result in the order sent.
    pub async fn send_batch(
        &self,
        parent: &str,
        body: &[u8],
    ) -> Result<Vec<crate::store::ItemResult>, StoreError> {
        let path = if parent.is_empty() {
            "/products/batch".to_owned()
        } else {
            format!("/products/{parent}/variations/batch")
        };
        let wire = super::batch::wire_body(body);
        let sent: Vec<u64> = serde_json::from_slice::<serde_json::Value>(&wire)
            .ok()
            .and_then(|d| {
                d["update"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|u| u["id"].as_u64()).collect())
            })
            .unwrap_or_default();
        let answer = self.request(Method::POST, &path, &[], Some(&wire)).await?;
        super::batch::results(&sent, &answer.body)
            .map_err(|e| StoreError::WooCommerce(WooError::Lost(e)))
    }

    /// Sends a create batch built by `batch::create_body` to `POST /products/batch`.
    pub async fn send_create_batch(
        &self,
        body: &[u8],
    ) -> Result<Vec<crate::store::CreateResult>, StoreError> {
        let sent = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|d| d["create"].as_array().map(Vec::len))
            .unwrap_or_default();
        let answer = self
            .request(Method::POST, "/products/batch", &[], Some(body))
            .await?;
        super::batch::create_results(sent, &answer.body)
            .map_err(|e| StoreError::WooCommerce(WooError::Lost(e)))
    }

    /// The ids of the items whose own SKU is one of `skus` (`?sku=` covers products and
    /// variations; an inherited SKU is not an item's own, so it is not matched).
    pub async fn ids_by_skus(
        &self,
        skus: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for chunk in skus.chunks(PAGE) {
            let list: Vec<serde_json::Value> = self
                .list_all_as(
                    "/products",
                    &[("sku", chunk.join(",")), ("_fields", "id,sku".to_owned())],
                )
                .await?;
            for item in list {
                if let (Some(id), Some(sku)) = (item["id"].as_u64(), item["sku"].as_str())
                    && chunk.iter().any(|s| s == sku)
                {
                    found.insert(sku.to_owned(), id.to_string());
                }
            }
        }
        Ok(found)
    }

    /// Orders placed or changed since `since` (compared in GMT).
    pub async fn orders_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::store::WindowOrder>, StoreError> {
        let list: Vec<serde_json::Value> = self
            .list_all_as(
                "/orders",
                &[
                    (
                        "modified_after",
                        since.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    ),
                    ("dates_are_gmt", "true".to_owned()),
                    ("status", "any".to_owned()),
                    (
                        "_fields",
                        "id,number,date_created_gmt,date_modified_gmt,line_items".to_owned(),
                    ),
                ],
            )
            .await?;
        Ok(super::batch::orders(&list))
    }
}
