//! `[woocommerce]`: a WooCommerce store (SPEC §8) instead of `[shopify]`, and the rules
//! for which sheet fields mean something to it. Validation only: the adapter
//! (`store::woocommerce`) takes the checked values. Messages name the key and never quote
//! a secret or a URL (a proxy URL may carry a password).

use serde::Deserialize;
use url::Url;

use super::{Config, Layout};
use crate::model::Secret;

/// What `[woocommerce]` holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooConfig {
    /// The site root (`https://shop.example.com`); the API is `{url}/wp-json/wc/v3`. It
    /// also names the shop in reports and the state's scope.
    pub url: String,
    /// `ck_…`: a REST API key with read/write permission.
    pub consumer_key: Secret,
    /// `cs_…`.
    pub consumer_secret: Secret,
    /// The API root itself, for proxies, emulators and sites without pretty permalinks
    /// (`https://shop.example.com/?rest_route=/wc/v3`).
    pub api_base_url: Option<String>,
    /// Requests in flight at once: PHP workers, not a documented limit, are what a
    /// WooCommerce host runs out of (WOOCOMMERCE.md §4.1).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// How long one request may take before its answer is given up on, as a humantime
    /// duration (`"120s"`, `"3m"`). A write given up on is re-read, never re-sent.
    #[serde(default = "default_timeout", deserialize_with = "timeout")]
    pub timeout: std::time::Duration,
}

/// Two requests in flight: what a shared host's PHP workers usually bear.
pub const DEFAULT_MAX_CONCURRENCY: usize = 2;

fn default_max_concurrency() -> usize {
    DEFAULT_MAX_CONCURRENCY
}

/// `woocommerce.timeout`'s default: a batch of 100 saves may run long on a busy host
/// (WOOCOMMERCE.md §4.1 and #21488: big batches time out), and a write given up on too
/// early costs a re-read and leaves its outcome to be judged.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn default_timeout() -> std::time::Duration {
    DEFAULT_TIMEOUT
}

/// `woocommerce.timeout`: a humantime duration longer than zero; the message names the key.
fn timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let raw = String::deserialize(d)?;
    let parsed = humantime::parse_duration(raw.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "woocommerce.timeout = {raw:?} is not a duration ({e}); write it like \"120s\" or \"3m\""
        ))
    })?;
    if parsed.is_zero() {
        return Err(serde::de::Error::custom(
            "woocommerce.timeout must be longer than zero (how long one request may take, e.g. \"120s\")",
        ));
    }
    Ok(parsed)
}

impl WooConfig {
    /// Where the `wc/v3` routes live: `api_base_url`, else `{url}/wp-json/wc/v3`. No
    /// trailing slash.
    pub fn api_root(&self) -> String {
        match &self.api_base_url {
            Some(u) => u.trim().trim_end_matches('/').to_owned(),
            None => format!("{}/wp-json/wc/v3", self.url.trim().trim_end_matches('/')),
        }
    }

    /// The site as reports name it: `url`, without a trailing slash.
    pub fn shop_name(&self) -> &str {
        self.url.trim().trim_end_matches('/')
    }
}

/// Shopify-only `[sheet.columns]` keys, with what to use for WooCommerce instead.
const SHOPIFY_ONLY: [(&str, &str); 4] = [
    (
        "price",
        "WooCommerce prices are sheet.columns.regular_price and sheet.columns.sale_price",
    ),
    (
        "compare_at_price",
        "WooCommerce prices are sheet.columns.regular_price and sheet.columns.sale_price \
         (the sale price is the lower one)",
    ),
    ("vendor", "WooCommerce has no vendor field"),
    ("product_type", "WooCommerce has no product type field"),
];

/// Every problem of a config with `[woocommerce]`; the caller has checked that
/// `[shopify]` is absent.
pub(super) fn check(config: &mut Config, problems: &mut Vec<String>) {
    let Some(woo) = config.woocommerce.as_mut() else {
        return;
    };
    match site_url("woocommerce.url", &woo.url) {
        Ok(u) => woo.url = u.as_str().trim_end_matches('/').to_owned(),
        Err(why) => problems.push(why),
    }
    if let Some(api) = &woo.api_base_url
        && let Err(why) = site_url("woocommerce.api_base_url", api)
    {
        problems.push(why);
    }
    for (key, secret, prefix) in [
        ("consumer_key", &woo.consumer_key, "ck_"),
        ("consumer_secret", &woo.consumer_secret, "cs_"),
    ] {
        let value = secret.expose().trim();
        if value.is_empty() {
            problems.push(format!(
                "woocommerce.{key} is empty: create a REST API key with read/write \
                 permission (WooCommerce → Settings → Advanced → REST API) and give its {prefix}… value"
            ));
        }
    }
    if woo.max_concurrency == 0 || woo.max_concurrency > 16 {
        problems.push(format!(
            "woocommerce.max_concurrency = {} is out of range: give 1 to 16 requests in flight",
            woo.max_concurrency
        ));
    }

    let sheet = &config.sheet;
    if sheet.layout != Layout::Columns {
        problems.push(format!(
            "sheet.layout = {:?} is one of Shopify's CSV layouts: a WooCommerce store reads \
             sheet.layout = \"columns\"",
            sheet.layout.name()
        ));
    }
    let c = &sheet.columns;
    for (key, why) in SHOPIFY_ONLY {
        let set = match key {
            "price" => c.price.is_some(),
            "compare_at_price" => c.compare_at_price.is_some(),
            "vendor" => c.vendor.is_some(),
            _ => c.product_type.is_some(),
        };
        if set {
            problems.push(format!("sheet.columns.{key} is a Shopify field: {why}"));
        }
    }
    if !sheet.inventory.is_empty() {
        problems.push(
            "[sheet.inventory] names Shopify locations: a WooCommerce item has one stock \
             number, so give its column as sheet.columns.stock"
                .to_owned(),
        );
    }
    if !config.sync.publish_to.is_empty() {
        problems.push(
            "sync.publish_to names Shopify sales channels: WooCommerce has none; remove it \
             (a created product's status column, or draft, says whether it is published)"
                .to_owned(),
        );
    }
    if config.sync.create_missing {
        // A new simple product needs both (SPEC §8): without the columns every new row
        // would be an error.
        for (key, set) in [
            ("title", sheet.columns.title.is_some()),
            ("regular_price", sheet.columns.regular_price.is_some()),
        ] {
            if !set {
                problems.push(format!(
                    "sync.create_missing creates simple products, which need a name and a \
                     regular price: set sheet.columns.{key}"
                ));
            }
        }
    }
}

/// The WooCommerce-only `[sheet.columns]` keys, refused with a Shopify store.
pub(super) fn check_shopify_columns(config: &Config, problems: &mut Vec<String>) {
    let c = &config.sheet.columns;
    for (key, set, instead) in [
        (
            "regular_price",
            c.regular_price.is_some(),
            "Shopify's are sheet.columns.price",
        ),
        (
            "sale_price",
            c.sale_price.is_some(),
            "Shopify's are sheet.columns.price and sheet.columns.compare_at_price",
        ),
        (
            "stock",
            c.stock.is_some(),
            "Shopify's stock columns go in [sheet.inventory], one per location",
        ),
    ] {
        if set {
            problems.push(format!(
                "sheet.columns.{key} is a WooCommerce field: {instead}"
            ));
        }
    }
}

/// A URL the consumer key and secret are sent to (HTTP Basic): https, or plain http to a
/// loopback host only. Checked here and again by the client before anything is sent.
fn site_url(key: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("{key}: not a URL ({e}); write it like https://shop.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{key}: not an http(s) URL; write it like https://shop.example.com"
        ));
    }
    crate::model::transport::check_transport(&url).map_err(|why| {
        format!("{key}: {why}: the consumer key and secret are sent there (HTTP Basic)")
    })?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn woo(url: &str, api: Option<&str>) -> WooConfig {
        WooConfig {
            url: url.into(),
            consumer_key: Secret::new("ck_1"),
            consumer_secret: Secret::new("cs_1"),
            api_base_url: api.map(str::to_owned),
            max_concurrency: 2,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn the_api_root_is_under_wp_json_unless_overridden() {
        assert_eq!(
            woo("https://shop.example.com/", None).api_root(),
            "https://shop.example.com/wp-json/wc/v3"
        );
        assert_eq!(
            woo(
                "https://shop.example.com",
                Some("https://proxy.example.com/wc/v3/")
            )
            .api_root(),
            "https://proxy.example.com/wc/v3"
        );
    }

    #[test]
    fn credentials_go_over_https_or_to_loopback_only() {
        assert!(site_url("k", "https://shop.example.com").is_ok());
        assert!(site_url("k", "http://127.0.0.1:8080").is_ok());
        assert!(site_url("k", "http://localhost:8080").is_ok());
        let e = site_url("woocommerce.url", "http://shop.example.com").unwrap_err();
        assert!(e.contains("woocommerce.url") && e.contains("https"), "{e}");
        assert!(site_url("k", "shop.example.com").is_err());
        assert!(site_url("k", "ftp://shop.example.com").is_err());
    }
}
