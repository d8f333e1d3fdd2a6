//! Typed configuration (SPEC §2): TOML in, validated settings out.
//!
//! Unknown keys are rejected with their line, `${VAR}` references are resolved once at
//! load time (every missing variable is named), and credentials live in [`Secret`], which
//! never prints its value. Only this module and `cli` read the environment; the loader
//! takes the environment as a function so tests can supply their own.

pub mod fleet;
pub mod quota;
mod serve;
mod state;
mod validate;
mod vars;
pub mod woocommerce;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

pub use crate::model::Secret;
use crate::model::rows::{ColumnKey, ColumnSpec};
pub use crate::model::secret::{expose_secret, expose_secret_opt};
use crate::model::{Field, LocationName};
pub use serve::{ServeConfig, ServeConfigError};
pub use state::{DEFAULT_LEASE_TTL, DEFAULT_POOL_SIZE, StateConfig, parse_pool_size, redact_url};
use vars::Interpolator;

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
    /// Exactly one of `shopify` and `woocommerce` is set (validation says so otherwise).
    pub shopify: Option<ShopifyConfig>,
    /// A WooCommerce store (SPEC §8).
    pub woocommerce: Option<woocommerce::WooConfig>,
    #[serde(default)]
    pub sync: SyncConfig,
    /// `serve`'s hook secret and bearer token; its `${VAR}`s are required by `serve` only.
    #[serde(default)]
    pub serve: ServeConfig,
    /// A pair file's `[fleet]` section (SPEC §9); read by the fleet only, accepted by every
    /// command so that a pair file is a valid `--config`.
    #[serde(default, deserialize_with = "fleet::section")]
    pub fleet: Option<fleet::FleetSection>,
    /// `[state]`: shared state on PostgreSQL (SPEC §9); absent means SQLite in `state_dir`.
    #[serde(default)]
    pub state: StateConfig,
}

/// Which kind of store a config syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Shopify,
    WooCommerce,
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
    /// Required with `layout = "columns"`; a preset layout names its own columns.
    #[serde(default)]
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
    /// Shopify's product CSV (template or export), opened as a sheet.
    ShopifyProducts,
    /// Shopify's inventory export: the current form (a row per variant and location,
    /// `Location` and `Available` columns) or the older one (a column per location). The
    /// header row tells them apart; `[sheet.inventory]` names the locations either way.
    ShopifyInventory,
}

/// The header that marks Shopify's current inventory export (a row per location).
const LOCATION_HEADER: &str = "Location";
/// Its stock column: the `available` quantity at the row's location.
const AVAILABLE_HEADER: &str = "Available";

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Columns => "columns",
            Layout::ShopifyProducts => "shopify-products",
            Layout::ShopifyInventory => "shopify-inventory",
        }
    }

    /// The columns a preset reads, as (key, Shopify's header, required). Optional
    /// columns are read when the sheet has them: Shopify's older templates lack `Status`,
    /// and an export only carries `Cost per item` on some plans.
    fn preset(self) -> &'static [(ColumnKey, &'static str, bool)] {
        match self {
            Layout::Columns => &[],
            Layout::ShopifyProducts => &[
                (ColumnKey::Sku, "Variant SKU", true),
                (ColumnKey::Field(Field::Price), "Variant Price", true),
                (
                    ColumnKey::Field(Field::CompareAtPrice),
                    "Variant Compare At Price",
                    false,
                ),
                (ColumnKey::Field(Field::Cost), "Cost per item", false),
                (ColumnKey::Field(Field::Barcode), "Variant Barcode", false),
                (ColumnKey::Product("title"), "Title", false),
                (ColumnKey::Product("status"), "Status", false),
                (ColumnKey::Product("tags"), "Tags", false),
                (ColumnKey::Product("vendor"), "Vendor", false),
                (ColumnKey::Product("product_type"), "Type", false),
                (ColumnKey::Product("description"), "Body (HTML)", false),
            ],
            Layout::ShopifyInventory => &[(ColumnKey::Sku, "SKU", true)],
        }
    }
}

/// Field name → header text. Only `sku` is required (with `layout = "columns"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub sku: String,
    pub price: Option<String>,
    pub compare_at_price: Option<String>,
    /// WooCommerce (SPEC §8): the regular and the sale price.
    pub regular_price: Option<String>,
    pub sale_price: Option<String>,
    /// WooCommerce: the item's one stock number (Shopify's go in `[sheet.inventory]`).
    pub stock: Option<String>,
    pub cost: Option<String>,
    pub barcode: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub tags: Option<String>,
    pub vendor: Option<String>,
    /// `create_missing`: the product handle that groups new rows into one product, and
    /// up to three option name/value pairs (names on any row of the product).
    pub handle: Option<String>,
    pub option1_name: Option<String>,
    pub option1_value: Option<String>,
    pub option2_name: Option<String>,
    pub option2_value: Option<String>,
    pub option3_name: Option<String>,
    pub option3_value: Option<String>,
    pub product_type: Option<String>,
    /// The description as HTML text (Shopify's CSV "Body (HTML)").
    pub description: Option<String>,
}

/// The text columns that describe a product to create (`sync.create_missing`), by the
/// name `sheet::parse::Row::product` files them under, with Shopify's CSV header.
pub const CREATE_COLUMNS: [(&str, &str); 7] = [
    ("handle", "Handle"),
    ("option1_name", "Option1 Name"),
    ("option1_value", "Option1 Value"),
    ("option2_name", "Option2 Name"),
    ("option2_value", "Option2 Value"),
    ("option3_name", "Option3 Name"),
    ("option3_value", "Option3 Value"),
];

impl Columns {
    /// The configured variant fields with their headers, in `Field` order.
    pub fn variant_fields(&self) -> Vec<(Field, &str)> {
        [
            (Field::Price, &self.price),
            (Field::CompareAtPrice, &self.compare_at_price),
            (Field::RegularPrice, &self.regular_price),
            (Field::SalePrice, &self.sale_price),
            (Field::Cost, &self.cost),
            (Field::Barcode, &self.barcode),
        ]
        .into_iter()
        .filter_map(|(f, h)| h.as_deref().map(|h| (f, h)))
        .collect()
    }

    /// Product-level columns (title, status, tags, vendor, product type, description)
    /// that are configured.
    pub fn product_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("title", &self.title),
            ("status", &self.status),
            ("tags", &self.tags),
            ("vendor", &self.vendor),
            ("product_type", &self.product_type),
            ("description", &self.description),
        ]
        .into_iter()
        .filter_map(|(f, h)| h.as_deref().map(|h| (f, h)))
        .collect()
    }

    /// The configured `create_missing` columns (handle, options), in [`CREATE_COLUMNS`] order.
    pub fn create_fields(&self) -> Vec<(&'static str, &str)> {
        [
            &self.handle,
            &self.option1_name,
            &self.option1_value,
            &self.option2_name,
            &self.option2_value,
            &self.option3_name,
            &self.option3_value,
        ]
        .into_iter()
        .zip(CREATE_COLUMNS)
        .filter_map(|(h, (name, _))| h.as_deref().map(|h| (name, h)))
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    #[serde(default)]
    pub method: GoogleMethod,
    /// Service-account key file (relative paths are relative to the config file).
    pub credentials: Option<PathBuf>,
    /// Installed-app OAuth client file.
    pub client_secret: Option<PathBuf>,
    /// Sheets read requests a minute this process paces its user's requests to: Google's
    /// default quota (60), a raised one, or this process's share (see [`quota`]).
    #[serde(
        default = "quota::default_per_minute",
        deserialize_with = "quota::per_minute_at_least_one"
    )]
    pub reads_per_minute: usize,
    /// Sheets write requests a minute, as `reads_per_minute`.
    #[serde(
        default = "quota::default_per_minute",
        deserialize_with = "quota::per_minute_at_least_one"
    )]
    pub writes_per_minute: usize,
}

impl Default for GoogleConfig {
    fn default() -> GoogleConfig {
        GoogleConfig {
            method: GoogleMethod::default(),
            credentials: None,
            client_secret: None,
            reads_per_minute: quota::DEFAULT_PER_MINUTE,
            writes_per_minute: quota::DEFAULT_PER_MINUTE,
        }
    }
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
    /// With `create_missing`: the publications (sales channels, by the name the merchant
    /// sees, e.g. `Online Store`) each created product is published to. Empty: none.
    #[serde(default)]
    pub publish_to: Vec<String>,
    /// A share of the SKUs read; [`GUARD_OFF`] when the config turns the guard off.
    #[serde(default = "default_ratio", deserialize_with = "change_ratio_limit")]
    pub max_change_ratio: Decimal,
    /// A share of the old price; [`GUARD_OFF`] when the config turns the guard off.
    #[serde(default = "default_ratio", deserialize_with = "price_change_limit")]
    pub max_price_change: Decimal,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// From this many variants on, the store is read by one bulk export instead of
    /// paged queries (0: always export).
    #[serde(default = "default_bulk_threshold")]
    pub bulk_threshold: u64,
    /// From this many variant updates on, variant fields (price, compare-at, cost,
    /// barcode) are written by one bulk mutation instead of direct calls (0: always).
    #[serde(default = "default_bulk_mutation_threshold")]
    pub bulk_mutation_threshold: u64,
    /// How long a bulk job (export or mutation) may run before the run fails, as a
    /// humantime duration (`"2h"`, `"90m"`).
    #[serde(
        default = "default_bulk_timeout",
        deserialize_with = "positive_duration"
    )]
    pub bulk_timeout: std::time::Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            inventory: Policy::default(),
            create_missing: false,
            publish_to: Vec::new(),
            max_change_ratio: default_ratio(),
            max_price_change: default_ratio(),
            state_dir: default_state_dir(),
            bulk_threshold: default_bulk_threshold(),
            bulk_mutation_threshold: default_bulk_mutation_threshold(),
            bulk_timeout: default_bulk_timeout(),
        }
    }
}

fn default_sheets_base() -> String {
    "https://sheets.googleapis.com/".into()
}
/// `sync.bulk_threshold`'s default: the variant count from which the store is read by one
/// bulk export instead of pages (DESIGN.md step 2).
pub const DEFAULT_BULK_THRESHOLD: u64 = 2_000;

/// `sync.bulk_mutation_threshold`'s default. A direct call costs about 11 points a
/// product: up to ~200 updates fit in a full Standard bucket and go out at once, faster
/// than a job's upload, queue and polls; past that, direct calls wait on the restore rate
/// (about 9 products a second) while the job costs some 25 points whatever its size.
pub const DEFAULT_BULK_MUTATION_THRESHOLD: u64 = 200;

fn default_drive_base() -> String {
    "https://www.googleapis.com/".into()
}
fn default_api_version() -> String {
    "2026-07".into()
}
fn default_ratio() -> Decimal {
    Decimal::new(5, 1)
}

/// A guard limit that no plan can exceed: what `max_change_ratio` or `max_price_change`
/// becomes when the config gives a number beyond `Decimal`'s range (`1e30`), the way a
/// merchant switches a guard off. The guards multiply it with checked arithmetic, which
/// overflows to "not exceeded".
pub const GUARD_OFF: Decimal = Decimal::MAX;

/// A guard limit: any number of 0 or more, integer or float. A float too large for a
/// `Decimal` saturates to [`GUARD_OFF`] instead of failing, so `1e30` reads as "off".
/// A negative or NaN value is refused here, where toml still knows the key's line.
fn change_ratio_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    guard_limit(d, "sync.max_change_ratio")
}

fn price_change_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    guard_limit(d, "sync.max_price_change")
}

/// toml adds the line of the value to the message; the key is named here.
fn guard_limit<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &'static str,
) -> Result<Decimal, D::Error> {
    struct Limit(&'static str);
    const EXPECTED: &str = "a number of 0 or more (a share, like 0.5; 1e30 turns the guard off)";
    impl serde::de::Visitor<'_> for Limit {
        type Value = Decimal;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {EXPECTED}", self.0)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
            if v < 0 {
                return Err(E::custom(format!(
                    "{} = {v} is negative: expected {EXPECTED}",
                    self.0
                )));
            }
            Ok(Decimal::from(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
            if v.is_nan() || v < 0.0 {
                return Err(E::custom(format!(
                    "{} = {v} is not allowed: expected {EXPECTED}",
                    self.0
                )));
            }
            if !v.is_finite() {
                return Ok(GUARD_OFF);
            }
            // The shortest decimal text of the float, so 0.1 stays 0.1 (not
            // 0.1000000000000000055…). Text that does not fit is either past Decimal's
            // range (off) or finer than its 28 places (rounded).
            match v.to_string().parse::<Decimal>() {
                Ok(d) => Ok(d.normalize()),
                Err(_) if v >= 1.0 => Ok(GUARD_OFF),
                Err(_) => Ok(Decimal::from_scientific(&format!("{v:e}"))
                    .unwrap_or(Decimal::ZERO)
                    .normalize()),
            }
        }
    }
    d.deserialize_any(Limit(key))
}
fn default_bulk_threshold() -> u64 {
    DEFAULT_BULK_THRESHOLD
}
fn default_bulk_mutation_threshold() -> u64 {
    DEFAULT_BULK_MUTATION_THRESHOLD
}
/// `sync.bulk_timeout`'s default: how long a bulk job may run. Shopify itself stops a
/// bulk query only after 10 days; a run holding the writer lock that long would starve
/// `schedule` and `watch`. Two hours is many times what a six-figure catalogue takes at a
/// conservative 200 objects a second (a 1,000,000-object export in about 85 minutes),
/// so only a job that is stuck or queued behind another app's hits it.
pub const DEFAULT_BULK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

fn default_bulk_timeout() -> std::time::Duration {
    DEFAULT_BULK_TIMEOUT
}

/// Any TOML scalar as text, for keys whose own parser words the error: a string, a
/// fraction or a boolean then gets that key's sentence rather than serde's "invalid type".
fn scalar_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
        Bool(bool),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Int(n) => n.to_string(),
        Raw::Float(x) => x.to_string(),
        Raw::Text(t) => t,
        Raw::Bool(b) => b.to_string(),
    })
}

/// A humantime duration (`"2h"`, `"90m"`) longer than zero.
fn positive_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::time::Duration, D::Error> {
    let raw = String::deserialize(d)?;
    let parsed = humantime::parse_duration(raw.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "{raw:?} is not a duration ({e}); write it like \"2h\" or \"90m\""
        ))
    })?;
    if parsed.is_zero() {
        return Err(serde::de::Error::custom("must be longer than zero"));
    }
    Ok(parsed)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from(".sheetsync")
}

impl Config {
    /// Reads and validates a config file, resolving `${VAR}` through `env`.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text, path, env)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Parses config text; `path` only labels errors. Relative paths stay relative.
    ///
    /// Order matters: toml first (unknown keys and types, with their line), then `${VAR}`
    /// (all missing names at once), then the checks, which see the substituted values.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: path.to_owned(),
            message: toml_message(text, &e),
        })?;

        let mut vars = Interpolator::new(env);
        config.interpolate(&mut vars);
        config.serve.interpolate(env);
        if !vars.malformed.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: vars.malformed.join("; "),
            });
        }
        if !vars.missing.is_empty() {
            return Err(ConfigError::MissingEnv {
                path: path.to_owned(),
                names: vars.missing.into_iter().collect(),
            });
        }

        let problems = validate::check(&mut config);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// Every configured column, in the order the sheet reader asks for them: the SKU,
    /// the variant fields, stock per location (file order), product columns, write-back.
    ///
    /// A preset layout lists every column it can read, optional ones included; use
    /// [`Config::column_specs_for`] to read a sheet.
    pub fn column_specs(&self) -> Vec<ColumnSpec> {
        let spec = |key, header: &str| ColumnSpec {
            key,
            header: header.to_owned(),
        };
        let columns = &self.sheet.columns;
        let mut specs = Vec::new();
        if self.sheet.layout == Layout::Columns {
            specs.push(spec(ColumnKey::Sku, &columns.sku));
            specs.extend(
                columns
                    .variant_fields()
                    .into_iter()
                    .map(|(f, h)| spec(ColumnKey::Field(f), h)),
            );
        } else {
            specs.extend(
                self.sheet
                    .layout
                    .preset()
                    .iter()
                    .filter(|(k, _, _)| !matches!(k, ColumnKey::Product(_)))
                    .map(|(k, h, _)| spec(k.clone(), h)),
            );
        }
        specs.extend(
            self.inventory_columns()
                .into_iter()
                .map(|(loc, h)| spec(ColumnKey::Stock(loc), &h)),
        );
        if self.sheet.layout == Layout::Columns {
            specs.extend(
                columns
                    .stock
                    .as_deref()
                    .map(|h| spec(ColumnKey::OwnStock, h)),
            );
        }
        if self.sheet.layout == Layout::Columns {
            specs.extend(
                columns
                    .product_fields()
                    .into_iter()
                    .map(|(name, h)| spec(ColumnKey::Product(name), h)),
            );
        } else {
            specs.extend(
                self.sheet
                    .layout
                    .preset()
                    .iter()
                    .filter(|(k, _, _)| matches!(k, ColumnKey::Product(_)))
                    .map(|(k, h, _)| spec(k.clone(), h)),
            );
        }
        // Handle and options are read only by runs that may create products.
        if self.sync.create_missing {
            if self.sheet.layout == Layout::Columns {
                specs.extend(
                    columns
                        .create_fields()
                        .into_iter()
                        .map(|(name, h)| spec(ColumnKey::Product(name), h)),
                );
            } else if self.sheet.layout == Layout::ShopifyProducts {
                specs.extend(
                    CREATE_COLUMNS
                        .iter()
                        .map(|(name, h)| spec(ColumnKey::Product(name), h)),
                );
            }
        }
        if let Some(wb) = &self.sheet.write_back {
            specs.extend(wb.status.as_deref().map(|h| spec(ColumnKey::Status, h)));
            specs.extend(
                wb.synced_at
                    .as_deref()
                    .map(|h| spec(ColumnKey::SyncedAt, h)),
            );
        }
        specs
    }

    /// The columns to locate in a sheet whose first rows are `header_rows` (as
    /// `parse::locate` takes them): [`Config::column_specs`] without the optional preset
    /// columns the header row does not have. Everything else must be found.
    ///
    /// With `shopify-inventory`, a header row holding `Location` is Shopify's current
    /// export: the SKU, `Location` and `Available` columns are read instead of a column
    /// per location, and `[sheet.inventory]` says which locations' rows are read.
    pub fn column_specs_for(&self, header_rows: &[Vec<serde_json::Value>]) -> Vec<ColumnSpec> {
        let header: Vec<&str> = header_rows
            .iter()
            .find(|r| {
                r.iter()
                    .any(|c| c.as_str().is_some_and(|t| !t.trim().is_empty()))
            })
            .map(|r| r.iter().filter_map(|c| c.as_str()).map(str::trim).collect())
            .unwrap_or_default();
        if self.sheet.layout == Layout::ShopifyInventory && header.contains(&LOCATION_HEADER) {
            return self.row_per_location_specs();
        }
        let optional: Vec<&str> = self
            .sheet
            .layout
            .preset()
            .iter()
            .filter(|(_, _, required)| !required)
            .map(|(_, h, _)| *h)
            .chain(
                (self.sheet.layout == Layout::ShopifyProducts)
                    .then_some(CREATE_COLUMNS.map(|(_, h)| h))
                    .into_iter()
                    .flatten(),
            )
            .collect();
        self.column_specs()
            .into_iter()
            .filter(|s| {
                !optional.contains(&s.header.as_str()) || header.contains(&s.header.as_str())
            })
            .collect()
    }

    /// Shopify's current inventory export: SKU, the row's location and its stock, then
    /// the write-back columns.
    fn row_per_location_specs(&self) -> Vec<ColumnSpec> {
        let spec = |key, header: &str| ColumnSpec {
            key,
            header: header.to_owned(),
        };
        let names = self
            .inventory_columns()
            .into_iter()
            .map(|(location, _)| location)
            .collect();
        let mut specs = vec![
            spec(ColumnKey::Sku, "SKU"),
            spec(ColumnKey::RowLocation(names), LOCATION_HEADER),
            spec(ColumnKey::RowStock, AVAILABLE_HEADER),
        ];
        specs.extend(
            self.column_specs()
                .into_iter()
                .filter(|s| matches!(s.key, ColumnKey::Status | ColumnKey::SyncedAt)),
        );
        specs
    }

    /// Substitutes `${VAR}` in every string value. The destructuring is exhaustive on
    /// purpose: a new string field that is not listed here does not compile.
    fn interpolate(&mut self, vars: &mut Interpolator<'_>) {
        // `fleet` holds no strings a variable could stand for: modes, durations, cron.
        let Config {
            sheet,
            google,
            shopify,
            woocommerce,
            sync,
            // Resolved on its own: a missing variable there only matters to `serve`.
            serve: _,
            fleet: _,
            state,
        } = self;
        state.interpolate(vars);

        let SheetConfig {
            spreadsheet_id,
            tab,
            layout: _,
            api_base_url,
            drive_api_base_url,
            columns,
            inventory,
            write_back,
        } = sheet;
        vars.string("sheet.spreadsheet_id", spreadsheet_id);
        vars.string("sheet.tab", tab);
        vars.string("sheet.api_base_url", api_base_url);
        vars.string("sheet.drive_api_base_url", drive_api_base_url);
        let Columns {
            sku,
            price,
            compare_at_price,
            regular_price,
            sale_price,
            stock,
            cost,
            barcode,
            title,
            status,
            tags,
            vendor,
            handle,
            option1_name,
            option1_value,
            option2_name,
            option2_value,
            option3_name,
            option3_value,
            product_type,
            description,
        } = columns;
        vars.string("sheet.columns.sku", sku);
        for (key, value) in [
            ("price", price),
            ("compare_at_price", compare_at_price),
            ("regular_price", regular_price),
            ("sale_price", sale_price),
            ("stock", stock),
            ("cost", cost),
            ("barcode", barcode),
            ("title", title),
            ("status", status),
            ("tags", tags),
            ("vendor", vendor),
            ("handle", handle),
            ("option1_name", option1_name),
            ("option1_value", option1_value),
            ("option2_name", option2_name),
            ("option2_value", option2_value),
            ("option3_name", option3_name),
            ("option3_value", option3_value),
            ("product_type", product_type),
            ("description", description),
        ] {
            if let Some(v) = value {
                vars.string(&format!("sheet.columns.{key}"), v);
            }
        }
        for (location, header) in inventory.iter_mut() {
            if let toml::Value::String(h) = header {
                vars.string(&format!("sheet.inventory.{location:?}"), h);
            }
        }
        if let Some(WriteBack { status, synced_at }) = write_back {
            for (key, value) in [("status", status), ("synced_at", synced_at)] {
                if let Some(v) = value {
                    vars.string(&format!("sheet.write_back.{key}"), v);
                }
            }
        }

        let GoogleConfig {
            method: _,
            credentials,
            client_secret,
            reads_per_minute: _,
            writes_per_minute: _,
        } = google;
        for (key, value) in [
            ("credentials", credentials),
            ("client_secret", client_secret),
        ] {
            if let Some(p) = value {
                interpolate_path(vars, &format!("google.{key}"), p);
            }
        }

        if let Some(ShopifyConfig {
            shop,
            api_version,
            api_base_url,
            auth,
        }) = shopify
        {
            vars.string("shopify.shop", shop);
            vars.string("shopify.api_version", api_version);
            if let Some(u) = api_base_url {
                vars.string("shopify.api_base_url", u);
            }
            let ShopifyAuth {
                method: _,
                token,
                client_id,
                client_secret,
            } = auth;
            if let Some(id) = client_id {
                vars.string("shopify.auth.client_id", id);
            }
            for (key, value) in [("token", token), ("client_secret", client_secret)] {
                if let Some(secret) = value {
                    let mut s = secret.expose().to_owned();
                    vars.string(&format!("shopify.auth.{key}"), &mut s);
                    *secret = Secret::new(s);
                }
            }
        }
        if let Some(woocommerce::WooConfig {
            url,
            consumer_key,
            consumer_secret,
            api_base_url,
            max_concurrency: _,
            timeout: _,
        }) = woocommerce
        {
            vars.string("woocommerce.url", url);
            if let Some(u) = api_base_url {
                vars.string("woocommerce.api_base_url", u);
            }
            for (key, secret) in [
                ("consumer_key", consumer_key),
                ("consumer_secret", consumer_secret),
            ] {
                let mut s = secret.expose().to_owned();
                vars.string(&format!("woocommerce.{key}"), &mut s);
                *secret = Secret::new(s);
            }
        }

        let SyncConfig {
            inventory: _,
            create_missing: _,
            publish_to: _,
            max_change_ratio: _,
            max_price_change: _,
            state_dir,
            bulk_threshold: _,
            bulk_mutation_threshold: _,
            bulk_timeout: _,
        } = sync;
        interpolate_path(vars, "sync.state_dir", state_dir);
    }

    /// Which store the config syncs (validation guarantees exactly one section).
    pub fn store_kind(&self) -> StoreKind {
        if self.woocommerce.is_some() {
            StoreKind::WooCommerce
        } else {
            StoreKind::Shopify
        }
    }

    /// The shop as reports, the journal and the state's scope name it: Shopify's shop
    /// domain, or the WooCommerce site's `url`.
    pub fn shop_name(&self) -> &str {
        match (&self.shopify, &self.woocommerce) {
            (Some(s), _) => &s.shop,
            (None, Some(w)) => w.shop_name(),
            (None, None) => "",
        }
    }

    /// `[shopify]`, for what only a Shopify store has (its token providers, OAuth); an
    /// error naming the section otherwise.
    pub fn shopify(&self) -> Result<&ShopifyConfig, String> {
        self.shopify.as_ref().ok_or_else(|| {
            "this needs a Shopify store ([shopify]); the config names a WooCommerce store"
                .to_owned()
        })
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

fn interpolate_path(vars: &mut Interpolator<'_>, key: &str, path: &mut PathBuf) {
    // Paths come from TOML strings, so they are UTF-8; anything else is left alone.
    if let Some(text) = path.to_str() {
        let mut text = text.to_owned();
        vars.string(key, &mut text);
        *path = PathBuf::from(text);
    }
}

/// toml's error as one line that names the problem (the unknown key, the wrong type)
/// and its line. toml's own `Display` adds a snippet of the offending line; that is left
/// out because the line may hold a secret written in clear.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let (line, column) = line_column(text, span.start);
    // "unknown field `x`, expected one of …": the location reads best right after the key.
    match message.split_once(", expected ") {
        Some((what, expected)) => {
            format!("{what} at line {line}, column {column} (expected {expected})")
        }
        None => format!("{message} at line {line}, column {column}"),
    }
}

/// One-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Where the config file is (SPEC §1): `--config`, then `SHEETSYNC_CONFIG`, then
/// `./sheetsync.toml`, then `./config/sheetsync.toml`. A path the user named is returned
/// even when it does not exist, so loading it reports that, rather than silently falling
/// back to another file. `exists` stands for the filesystem.
pub fn discover(
    explicit: Option<&Path>,
    env_config: Option<&Path>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let named = |p: Option<&Path>| {
        p.filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    named(explicit).or_else(|| named(env_config)).or_else(|| {
        [
            Path::new("sheetsync.toml"),
            Path::new("config/sheetsync.toml"),
        ]
        .into_iter()
        .find(|p| exists(p))
        .map(Path::to_path_buf)
    })
}

#[cfg(test)]
mod tests;
