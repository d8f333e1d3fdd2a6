//! Typed configuration (SPEC §2): TOML in, validated settings out.
//!
//! Unknown keys are rejected with their line, `${VAR}` references are resolved once at
//! load time (every missing variable is named), and credentials live in [`Secret`], which
//! never prints its value. Only this module and `cli` read the environment; the loader
//! takes the environment as a function so tests can supply their own.

mod secret;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Field, LocationName};
pub use secret::Secret;

/// Everything that can be wrong with a config file, each naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors, unknown keys and wrong types; the message carries line and column.
    #[error("invalid config {path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("config {path}: environment variable(s) not set: {}", names.join(", "))]
    MissingEnv { path: PathBuf, names: Vec<String> },
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole config file, as SPEC §2 lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sheet: SheetConfig,
    #[serde(default)]
    pub google: GoogleConfig,
    pub shopify: ShopifyConfig,
    #[serde(default)]
    pub sync: SyncConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetConfig {
    /// The spreadsheet id; a full `docs.google.com` URL is accepted and reduced to its id.
    pub spreadsheet_id: String,
    pub tab: String,
    #[serde(default)]
    pub layout: Layout,
    #[serde(default = "default_sheets_base")]
    pub api_base_url: String,
    #[serde(default = "default_drive_base")]
    pub drive_api_base_url: String,
    pub columns: Columns,
    /// Shopify location name → header of its stock column, in file order.
    #[serde(default)]
    pub inventory: toml::Table,
    #[serde(default)]
    pub write_back: Option<WriteBack>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    #[default]
    Columns,
    ShopifyProducts,
    ShopifyInventory,
}

/// Field name → header text. Only `sku` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub sku: String,
    pub price: Option<String>,
    pub compare_at_price: Option<String>,
    pub cost: Option<String>,
    pub barcode: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub tags: Option<String>,
    pub vendor: Option<String>,
}

impl Columns {
    /// The configured variant fields with their headers, in `Field` order.
    pub fn variant_fields(&self) -> Vec<(Field, &str)> {
        [
            (Field::Price, &self.price),
            (Field::CompareAtPrice, &self.compare_at_price),
            (Field::Cost, &self.cost),
            (Field::Barcode, &self.barcode),
        ]
        .into_iter()
        .filter_map(|(f, h)| h.as_deref().map(|h| (f, h)))
        .collect()
    }

    /// Product-level columns (title, status, tags, vendor) that are configured.
    pub fn product_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("title", &self.title),
            ("status", &self.status),
            ("tags", &self.tags),
            ("vendor", &self.vendor),
        ]
        .into_iter()
        .filter_map(|(f, h)| h.as_deref().map(|h| (f, h)))
        .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBack {
    pub status: Option<String>,
    pub synced_at: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoogleMethod {
    #[default]
    ServiceAccount,
    Installed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    #[serde(default)]
    pub method: GoogleMethod,
    /// Service-account key file (relative paths are relative to the config file).
    pub credentials: Option<PathBuf>,
    /// Installed-app OAuth client file.
    pub client_secret: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    pub shop: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    pub api_base_url: Option<String>,
    pub auth: ShopifyAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopifyAuthMethod {
    Token,
    ClientCredentials,
    Oauth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyAuth {
    pub method: ShopifyAuthMethod,
    pub token: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    #[default]
    ThreeWay,
    SheetWins,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    #[serde(default)]
    pub inventory: Policy,
    #[serde(default)]
    pub create_missing: bool,
    #[serde(default = "default_ratio")]
    pub max_change_ratio: Decimal,
    #[serde(default = "default_ratio")]
    pub max_price_change: Decimal,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            inventory: Policy::default(),
            create_missing: false,
            max_change_ratio: default_ratio(),
            max_price_change: default_ratio(),
            state_dir: default_state_dir(),
        }
    }
}

fn default_sheets_base() -> String {
    "https://sheets.googleapis.com/".into()
}
fn default_drive_base() -> String {
    "https://www.googleapis.com/".into()
}
fn default_api_version() -> String {
    "2026-07".into()
}
fn default_ratio() -> Decimal {
    Decimal::new(5, 1)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from(".sheetsync")
}

impl Config {
    /// Reads and validates a config file, resolving `${VAR}` through `env`.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Config::parse(&text, path, env)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Parses config text; `path` only labels errors. Relative paths stay relative.
    pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        todo_config::parse(text, path, env)
    }

    /// Inventory columns as (location name, header) pairs, in file order.
    pub fn inventory_columns(&self) -> Vec<(LocationName, String)> {
        self.sheet
            .inventory
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|h| (k.clone(), h.to_owned())))
            .collect()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.google.credentials.as_mut() {
            join(p)
        }
        if let Some(p) = self.google.client_secret.as_mut() {
            join(p)
        }
        join(&mut self.sync.state_dir);
    }
}

// Placeholder module replaced by the real loader in this same change set.
mod todo_config {
    use super::*;
    pub fn parse(text: &str, path: &Path, _env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml { path: path.to_owned(), message: e.to_string() })
    }
}
