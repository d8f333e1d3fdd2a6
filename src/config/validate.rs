//! Checks that deserialisation cannot express, and the few normalisations that make later
//! code simpler (a spreadsheet URL reduced to its id, Sheets base URLs ending in `/`).
//!
//! Every problem is collected, so one run of `check` lists all of them. Messages name the
//! config key and never quote a secret.

use std::collections::HashMap;

use url::Url;

use super::{Config, GoogleMethod, ShopifyAuthMethod};
use crate::model::rows::ColumnKey;

/// Normalises `config` in place and returns every problem found (empty = valid).
pub(super) fn check(config: &mut Config) -> Vec<String> {
    let mut problems = Vec::new();
    sheet(config, &mut problems);
    headers(config, &mut problems);
    store(config, &mut problems);
    google(config, &mut problems);
    sync(config, &mut problems);
    problems
}

fn sheet(config: &mut Config, problems: &mut Vec<String>) {
    let sheet = &mut config.sheet;
    match spreadsheet_id(&sheet.spreadsheet_id) {
        Ok(id) => sheet.spreadsheet_id = id,
        Err(why) => problems.push(format!("sheet.spreadsheet_id: {why}")),
    }
    if sheet.tab.trim().is_empty() {
        problems.push("sheet.tab is empty: name the tab that holds the products".to_owned());
    }
    for (key, url) in [
        ("sheet.api_base_url", &mut sheet.api_base_url),
        ("sheet.drive_api_base_url", &mut sheet.drive_api_base_url),
    ] {
        match http_url(url) {
            // Relative API paths are joined onto these, which drops a last segment
            // that lacks its slash.
            Ok(mut u) => {
                if !u.path().ends_with('/') {
                    let path = format!("{}/", u.path());
                    u.set_path(&path);
                }
                *url = u.into();
            }
            Err(why) => problems.push(format!("{key}: {why}")),
        }
    }
    let c = &sheet.columns;
    let any_column = !c.sku.is_empty()
        || c.variant_fields().len() + c.product_fields().len() + c.create_fields().len() > 0;
    if sheet.layout != super::Layout::Columns && any_column {
        problems.push(format!(
            "sheet.columns is not used with sheet.layout = {:?}: the layout names Shopify's \
             own columns; remove [sheet.columns]",
            sheet.layout.name()
        ));
    }
    for (location, header) in &sheet.inventory {
        if !header.is_str() {
            problems.push(format!(
                "sheet.inventory.{location:?} must be the header text of its stock column (a string), not {}",
                header.type_str()
            ));
        }
    }
}

/// Every configured header must be non-blank and name exactly one column.
fn headers(config: &Config, problems: &mut Vec<String>) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    let specs = config.column_specs();
    for spec in &specs {
        let key = spec_key(&spec.key);
        let header = spec.header.trim();
        if header.is_empty() {
            problems.push(format!(
                "{key} is empty: give the column's header text or remove the key"
            ));
            continue;
        }
        if let Some(first) = seen.get(header) {
            problems.push(format!(
                "header {header:?} is used twice: by {first} and by {key}"
            ));
        } else {
            seen.insert(header, key);
        }
    }
}

/// The config key that names a column, for messages.
fn spec_key(key: &ColumnKey) -> String {
    match key {
        ColumnKey::Sku => "sheet.columns.sku".to_owned(),
        ColumnKey::Field(f) => format!("sheet.columns.{}", f.name()),
        ColumnKey::Stock(location) => format!("sheet.inventory.{location:?}"),
        ColumnKey::OwnStock => "sheet.columns.stock".to_owned(),
        ColumnKey::Product(name) => format!("sheet.columns.{name}"),
        ColumnKey::Status => "sheet.write_back.status".to_owned(),
        ColumnKey::SyncedAt => "sheet.write_back.synced_at".to_owned(),
        ColumnKey::RowLocation(_) | ColumnKey::RowStock => "sheet.layout".to_owned(),
    }
}

/// Exactly one of `[shopify]` and `[woocommerce]` (SPEC §8), each checked by its rules.
fn store(config: &mut Config, problems: &mut Vec<String>) {
    match (config.shopify.is_some(), config.woocommerce.is_some()) {
        (true, true) => problems.push(
            "[shopify] and [woocommerce] are both set: a config syncs one store; keep one"
                .to_owned(),
        ),
        (false, false) => {
            problems.push("no store: add a [shopify] or a [woocommerce] section".to_owned())
        }
        (true, false) => {
            shopify(config, problems);
            super::woocommerce::check_shopify_columns(config, problems);
        }
        (false, true) => super::woocommerce::check(config, problems),
    }
}

fn shopify(config: &Config, problems: &mut Vec<String>) {
    let Some(shopify) = &config.shopify else {
        return;
    };
    let shop = shopify.shop.trim();
    if shop.is_empty() {
        problems.push(
            "shopify.shop is empty: give the shop's domain, like example.myshopify.com".to_owned(),
        );
    } else if shop.contains("://") || shop.contains('/') {
        problems.push(format!(
            "shopify.shop {shop:?} should be the shop's domain only, like example.myshopify.com \
             (an API address goes in shopify.api_base_url)"
        ));
    }
    if !is_api_version(&shopify.api_version) {
        problems.push(format!(
            "shopify.api_version {:?} is not a Shopify API version like \"2026-07\"",
            shopify.api_version
        ));
    }
    if let Some(url) = &shopify.api_base_url
        && let Err(why) = http_url(url)
    {
        problems.push(format!("shopify.api_base_url: {why}"));
    }

    let auth = &shopify.auth;
    let blank = |s: Option<&str>| s.is_none_or(|s| s.trim().is_empty());
    let token = blank(auth.token.as_ref().map(|s| s.expose()));
    let client_id = blank(auth.client_id.as_deref());
    let client_secret = blank(auth.client_secret.as_ref().map(|s| s.expose()));
    let (method, missing) = match auth.method {
        ShopifyAuthMethod::Token => ("token", vec![("token", token)]),
        ShopifyAuthMethod::ClientCredentials => (
            "client_credentials",
            vec![("client_id", client_id), ("client_secret", client_secret)],
        ),
        ShopifyAuthMethod::Oauth => (
            "oauth",
            vec![("client_id", client_id), ("client_secret", client_secret)],
        ),
    };
    for (key, _) in missing.into_iter().filter(|(_, is_blank)| *is_blank) {
        problems.push(format!(
            "shopify.auth.{key} is required (and must not be empty) with method = {method:?}"
        ));
    }
}

fn google(config: &Config, problems: &mut Vec<String>) {
    let google = &config.google;
    let empty =
        |p: &Option<std::path::PathBuf>| p.as_ref().is_none_or(|p| p.as_os_str().is_empty());
    match google.method {
        GoogleMethod::ServiceAccount if empty(&google.credentials) => problems.push(
            "google.credentials is required: the service account's JSON key file \
             (or set google.method = \"installed\" with google.client_secret)"
                .to_owned(),
        ),
        GoogleMethod::Installed if empty(&google.client_secret) => problems.push(
            "google.client_secret is required with method = \"installed\": the OAuth client JSON file".to_owned(),
        ),
        _ => {}
    }
}

fn sync(config: &Config, problems: &mut Vec<String>) {
    // The guards' limits are checked as they are read (`config::guard_limit`), where toml knows
    // their line: any number of 0 or more passes.
    create(config, problems);
}

/// `create_missing` needs to know which rows form one product; `publish_to` names each
/// publication once, and only means something when products are created.
fn create(config: &Config, problems: &mut Vec<String>) {
    let sync = &config.sync;
    let mut seen = Vec::new();
    for name in &sync.publish_to {
        let name = name.trim();
        if name.is_empty() {
            problems.push("sync.publish_to has a blank name: give each sales channel's name as the Shopify admin shows it (\"Online Store\")".to_owned());
        } else if seen.contains(&name) {
            problems.push(format!("sync.publish_to names {name:?} twice"));
        } else {
            seen.push(name);
        }
    }
    if !sync.create_missing {
        if !sync.publish_to.is_empty() {
            problems.push(
                "sync.publish_to publishes the products sync.create_missing creates: set \
                 sync.create_missing = true, or remove sync.publish_to"
                    .to_owned(),
            );
        }
        return;
    }
    let columns = &config.sheet.columns;
    match config.sheet.layout {
        super::Layout::Columns if columns.handle.is_none() => problems.push(
            "sync.create_missing needs sheet.columns.handle: the column whose value groups \
             new rows into one product (Shopify's \"Handle\")"
                .to_owned(),
        ),
        super::Layout::ShopifyInventory => problems.push(
            "sync.create_missing is not available with sheet.layout = \"shopify-inventory\": \
             that layout has no product columns to create from"
                .to_owned(),
        ),
        _ => {}
    }
    for (name, value) in [
        (&columns.option1_name, &columns.option1_value),
        (&columns.option2_name, &columns.option2_value),
        (&columns.option3_name, &columns.option3_value),
    ]
    .iter()
    .zip(1..)
    .filter(|((n, v), _)| n.is_some() != v.is_some())
    .map(|(_, i)| (format!("option{i}_name"), format!("option{i}_value")))
    {
        problems.push(format!(
            "sheet.columns.{name} and sheet.columns.{value} go together: set both or neither"
        ));
    }
}

/// A spreadsheet id, or a `docs.google.com/spreadsheets/d/<id>/…` URL reduced to its id.
pub(super) fn spreadsheet_id(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let id = if raw.contains('/') {
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| format!("{raw:?} is not a spreadsheet URL ({e})"))?;
        // `/spreadsheets/d/<id>`, possibly with an account part: `/spreadsheets/u/1/d/<id>`.
        let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
        segments
            .iter()
            .position(|s| *s == "spreadsheets")
            .and_then(|i| {
                segments[i..]
                    .iter()
                    .position(|s| *s == "d")
                    .map(|j| i + j + 1)
            })
            .and_then(|i| segments.get(i).copied())
            .ok_or_else(|| format!("{raw:?} is not a spreadsheet URL (…/spreadsheets/d/<id>/…)"))?
            .to_owned()
    } else {
        raw.to_owned()
    };
    if id.is_empty() {
        return Err("is empty: give the spreadsheet's id or its URL".to_owned());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{id:?} is not a spreadsheet id (letters, digits, `-` and `_`)"
        ));
    }
    Ok(id)
}

/// An API base URL: the bearer token goes there, so https, or plain http only to a
/// loopback host (the sandbox). The value is not quoted back: a proxy URL may carry a
/// password.
fn http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("not a URL ({e}); write it like https://host/"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("not an http(s) URL; write it like https://host/".to_owned());
    }
    crate::model::transport::check_transport(&url)
        .map_err(|why| format!("{why}: the access token is sent there"))?;
    Ok(url)
}

/// `YYYY-MM`, the shape of Shopify's quarterly API versions.
fn is_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(
            &v[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_urls_reduce_to_their_id() {
        let id = "1AbC-d_EfG";
        for raw in [
            id.to_owned(),
            format!("  {id} "),
            format!("https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"),
            format!("https://docs.google.com/spreadsheets/d/{id}"),
            format!("https://docs.google.com/spreadsheets/u/1/d/{id}/edit?usp=sharing"),
            format!("docs.google.com/spreadsheets/d/{id}/edit"),
        ] {
            assert_eq!(spreadsheet_id(&raw).as_deref(), Ok(id), "{raw}");
        }
        assert!(spreadsheet_id("https://docs.google.com/document/d/xyz/edit").is_err());
        assert!(spreadsheet_id("https://docs.google.com/spreadsheets/d/").is_err());
        assert!(spreadsheet_id("").is_err());
        assert!(spreadsheet_id("has space").is_err());
    }

    #[test]
    fn api_versions_are_year_dash_month() {
        assert!(is_api_version("2026-07"));
        assert!(is_api_version("2025-01"));
        for bad in [
            "2026-7",
            "2026-13",
            "2026-00",
            "26-07",
            "2026/07",
            "unstable",
            "2026-07-01",
        ] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn only_http_urls_pass() {
        assert!(http_url("http://127.0.0.1:8080").is_ok());
        assert!(http_url("http://[::1]:8080/").is_ok());
        assert!(http_url("http://localhost:8080/").is_ok());
        // A bearer token must not cross a network in clear text.
        assert!(http_url("http://sheets.googleapis.com/").is_err());
        assert!(http_url("http://192.168.1.20:8080/").is_err());
        assert!(http_url("https://sheets.googleapis.com/").is_ok());
        assert!(http_url("ftp://example.com/").is_err());
        assert!(http_url("sheets.googleapis.com").is_err());
        assert!(http_url("mailto:a@b.c").is_err());
    }
}
