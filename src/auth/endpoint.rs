//! Where Shopify is reached: the shop domain as a user may paste it, the Admin GraphQL
//! endpoint (or the configured `api_base_url`), and which host a credential may be sent
//! to. Both the token providers here in `auth` and the store's transport use it, so the
//! rule that keeps a token off a foreign or clear-text host lives in one place.

use url::Url;

use crate::config::ShopifyConfig;

/// Why no endpoint: the same words the store's errors use, so a bad shop or base URL
/// reads the same whichever side found it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "shop {0:?} is not a Shopify shop domain: use NAME.myshopify.com (or admin.shopify.com/store/NAME)"
    )]
    InvalidShop(String),
    #[error("invalid shopify.api_base_url {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    /// The HTTP client for the token endpoint could not be built.
    #[error("cannot reach Shopify: {0}")]
    Client(String),
}

/// Where requests go and which host may receive the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: Url,
    /// `host[:port]` the token may be sent to.
    pub authority: String,
}

pub fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// `NAME.myshopify.com` from what a user may paste: a bare domain, a URL, or the admin
/// URL `admin.shopify.com/store/NAME`. `None` when it is not a shop domain.
pub fn normalize_shop(raw: &str) -> Option<String> {
    let s = raw.trim().to_ascii_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let name = if let Some(rest) = s.strip_prefix("admin.shopify.com/store/") {
        rest.split('/').next().unwrap_or_default()
    } else {
        let host = s.split('/').next().unwrap_or_default();
        host.strip_suffix(".myshopify.com")?
    };
    // Shopify's own validator: a letter or digit, then letters, digits and hyphens.
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then(|| format!("{name}.myshopify.com"))
}

/// The GraphQL endpoint for `cfg`: `https://NAME.myshopify.com/admin/api/VERSION/graphql.json`,
/// or under `api_base_url` when set. A loopback host is reachable only through
/// `api_base_url`, and plain `http` only on loopback, so the token never crosses a network
/// in clear text.
pub fn resolve_endpoint(cfg: &ShopifyConfig) -> Result<Endpoint, EndpointError> {
    let version = cfg.api_version.trim();
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(EndpointError::InvalidBaseUrl {
            url: version.to_owned(),
            reason: "api_version must look like 2026-07".into(),
        });
    }
    let shop = normalize_shop(&cfg.shop);
    let base = match &cfg.api_base_url {
        Some(raw) => {
            let bad = |reason: &str| EndpointError::InvalidBaseUrl {
                url: raw.clone(),
                reason: reason.to_owned(),
            };
            let url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
            let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
            crate::http::check_transport(&url).map_err(bad)?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad("must not carry credentials"));
            }
            // The shop must be a real shop domain or name this very host.
            let shop_ok = shop.is_some()
                || cfg
                    .shop
                    .trim()
                    .trim_end_matches('/')
                    .rsplit("://")
                    .next()
                    .is_some_and(|s| {
                        s.eq_ignore_ascii_case(&host)
                            || authority(&url).is_some_and(|a| s.eq_ignore_ascii_case(&a))
                    });
            if !shop_ok {
                return Err(EndpointError::InvalidShop(cfg.shop.clone()));
            }
            url
        }
        None => {
            let shop = shop.ok_or_else(|| EndpointError::InvalidShop(cfg.shop.clone()))?;
            Url::parse(&format!("https://{shop}/"))
                .map_err(|_| EndpointError::InvalidShop(cfg.shop.clone()))?
        }
    };
    let mut path = base.path().trim_end_matches('/').to_owned();
    path.push_str(&format!("/admin/api/{version}/graphql.json"));
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    let authority = authority(&url).ok_or_else(|| EndpointError::InvalidShop(cfg.shop.clone()))?;
    Ok(Endpoint { url, authority })
}
