//! Domain newtypes shared by every layer: SKUs, money, quantities, locations, cell
//! references and the fields sheetsync syncs. Nothing here does IO.

pub mod rows;
pub mod secret;
pub mod transport;

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use secret::Secret;

/// A variant's stock keeping unit: the key that joins a sheet row to a store variant.
/// Always trimmed; matching is exact and case-sensitive (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    /// Trims surrounding whitespace; `None` when nothing is left.
    pub fn new(raw: &str) -> Option<Sku> {
        let t = raw.trim();
        (!t.is_empty()).then(|| Sku(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a Shopify location, as the config names it (`[sheet.inventory]` keys).
pub type LocationName = String;

/// WooCommerce's product statuses that Shopify lacks (`draft` is both stores'), kept
/// lowercase as WooCommerce writes them; the plan refuses each store the other's words.
pub const WOO_ONLY_STATUSES: [&str; 3] = ["publish", "pending", "private"];

/// Largest magnitude of an `available` quantity the store accepts.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// Prices at or above 10^18 cannot be held by the store.
pub fn max_money() -> Decimal {
    Decimal::from_i128_with_scale(1_000_000_000_000_000_000, 0)
}

/// A shop currency and the number of decimals its amounts carry (ISO 4217 minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub code: String,
    pub decimals: u32,
}

impl Currency {
    pub fn new(code: &str) -> Currency {
        let code = code.trim().to_ascii_uppercase();
        let decimals = match code.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        };
        Currency { code, decimals }
    }

    /// `amount` written with exactly this currency's decimals (`19.9` → `"19.90"`).
    pub fn format(&self, amount: Decimal) -> String {
        let mut a = amount;
        a.rescale(self.decimals);
        a.to_string()
    }
}

/// The fields sheetsync writes to the store, in report order. Title, status, tags,
/// vendor, product type and description belong to the product (one value shared by all
/// its variants' rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Price,
    CompareAtPrice,
    /// WooCommerce's `regular_price` (SPEC §8): the price without a sale.
    RegularPrice,
    /// WooCommerce's `sale_price`: below the regular price, or none.
    SalePrice,
    Cost,
    Barcode,
    Inventory,
    Title,
    Status,
    Tags,
    Vendor,
    /// `productType`: the merchant's free-text type (Shopify CSV "Type").
    ProductType,
    /// `descriptionHtml`: the description as HTML text (Shopify CSV "Body (HTML)").
    Description,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::Price,
        Field::CompareAtPrice,
        Field::RegularPrice,
        Field::SalePrice,
        Field::Cost,
        Field::Barcode,
        Field::Inventory,
        Field::Title,
        Field::Status,
        Field::Tags,
        Field::Vendor,
        Field::ProductType,
        Field::Description,
    ];

    /// The name used in config, `--only` and the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Field::Price => "price",
            Field::CompareAtPrice => "compare_at_price",
            Field::RegularPrice => "regular_price",
            Field::SalePrice => "sale_price",
            Field::Cost => "cost",
            Field::Barcode => "barcode",
            Field::Inventory => "inventory",
            Field::Title => "title",
            Field::Status => "status",
            Field::Tags => "tags",
            Field::Vendor => "vendor",
            Field::ProductType => "product_type",
            Field::Description => "description",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name.trim())
    }

    /// Fields a `CLEAR` cell may empty (SPEC §3); `CLEAR` in a tags cell removes every tag,
    /// in a product type or description cell it empties them (Shopify keeps both optional).
    pub fn clearable(self) -> bool {
        matches!(
            self,
            Field::CompareAtPrice
                | Field::SalePrice
                | Field::Barcode
                | Field::Cost
                | Field::Tags
                | Field::ProductType
                | Field::Description
        )
    }

    /// Fields of the product rather than of one variant: written with `productUpdate`,
    /// once per product however many of its rows the sheet has.
    pub fn is_product(self) -> bool {
        matches!(
            self,
            Field::Title
                | Field::Status
                | Field::Tags
                | Field::Vendor
                | Field::ProductType
                | Field::Description
        )
    }

    pub fn is_money(self) -> bool {
        matches!(
            self,
            Field::Price
                | Field::CompareAtPrice
                | Field::RegularPrice
                | Field::SalePrice
                | Field::Cost
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One syncable value of one variant: a variant field, or stock at one location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldKey {
    pub field: Field,
    /// Set exactly when `field` is `Inventory`.
    pub location: Option<LocationName>,
}

impl FieldKey {
    pub fn variant(field: Field) -> FieldKey {
        debug_assert!(field != Field::Inventory);
        FieldKey {
            field,
            location: None,
        }
    }
    pub fn stock(location: impl Into<LocationName>) -> FieldKey {
        FieldKey {
            field: Field::Inventory,
            location: Some(location.into()),
        }
    }
    /// The one stock number of a store without locations (WooCommerce, SPEC §8): the
    /// report's `location` is null.
    pub fn own_stock() -> FieldKey {
        FieldKey {
            field: Field::Inventory,
            location: None,
        }
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "inventory@{loc}"),
            None => f.write_str(self.field.name()),
        }
    }
}

/// A concrete value of a field. Money is decimal (never floating point); quantities are
/// integers; barcodes are text. `None` around a `Value` means "empty" (no compare-at
/// price, no barcode, item not stocked at that location).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Qty(i64),
    Money(Decimal),
    Text(String),
}

impl Value {
    /// JSON as SPEC §5 wants it: money as an exact string with the currency's decimals,
    /// quantities as integers, text as strings.
    pub fn to_json(&self, currency: &Currency) -> serde_json::Value {
        match self {
            Value::Qty(q) => serde_json::Value::from(*q),
            Value::Money(m) => serde_json::Value::String(currency.format(*m)),
            Value::Text(t) => serde_json::Value::String(t.clone()),
        }
    }

    /// Human rendering (money with the currency's decimals).
    pub fn display(&self, currency: &Currency) -> String {
        match self {
            Value::Qty(q) => q.to_string(),
            Value::Money(m) => currency.format(*m),
            Value::Text(t) => t.clone(),
        }
    }
}

/// A tag list in the one form sheetsync compares: trimmed, blanks dropped, sorted (as
/// Shopify returns them) and without repeats, joined by `", "`; `None` for no tags.
pub fn tags_text<'a>(tags: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut list: Vec<&str> = tags
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    list.sort_unstable();
    list.dedup();
    (!list.is_empty()).then(|| list.join(", "))
}

/// The tags a normalized tag text holds (the inverse of [`tags_text`]).
pub fn tags_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Renders an optional value for people: `∅` for empty.
pub fn display_opt(v: Option<&Value>, currency: &Currency) -> String {
    v.map_or_else(|| "∅".to_owned(), |v| v.display(currency))
}

/// A cell in A1 notation on a named tab, e.g. `Inventory!C17`.
///
/// The tab name is shared (`Arc<str>`): a 100,000-row sheet holds half a million cell
/// references, and one string per cell was a large share of the planner's memory. Build
/// one `Arc` per tab and pass clones of it to [`CellRef::new`] on hot paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellRef {
    pub tab: Arc<str>,
    /// Zero-based column index (A = 0).
    pub col: u32,
    /// One-based row number, as the sheet shows it.
    pub row: u32,
}

impl CellRef {
    pub fn new(tab: impl Into<Arc<str>>, col: u32, row: u32) -> CellRef {
        CellRef {
            tab: tab.into(),
            col,
            row,
        }
    }
}

/// Column letters for a zero-based index: 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_letters(mut col: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A tab name as A1 notation needs it: bare when it is a plain word, else single-quoted
/// with inner quotes doubled (`'Q1 #2'`, `'Bob''s'`).
pub fn quote_tab(tab: &str) -> String {
    let plain = !tab.is_empty()
        && tab.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !tab.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        tab.to_owned()
    } else {
        format!("'{}'", tab.replace('\'', "''"))
    }
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}!{}{}",
            quote_tab(&self.tab),
            column_letters(self.col),
            self.row
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_cover_two_letter_columns() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn cell_ref_quotes_tabs_that_need_it() {
        assert_eq!(
            CellRef::new("Inventory", 2, 17).to_string(),
            "Inventory!C17"
        );
        assert_eq!(CellRef::new("Q1 stock", 0, 2).to_string(), "'Q1 stock'!A2");
        assert_eq!(CellRef::new("Bob's", 0, 2).to_string(), "'Bob''s'!A2");
    }

    #[test]
    fn currency_decimals() {
        assert_eq!(Currency::new("usd").decimals, 2);
        assert_eq!(Currency::new("JPY").decimals, 0);
        assert_eq!(Currency::new("KWD").decimals, 3);
        assert_eq!(Currency::new("EUR").format(Decimal::new(199, 1)), "19.90");
    }

    #[test]
    fn sku_is_trimmed_and_case_sensitive() {
        assert_eq!(Sku::new("  Tee-1 ").unwrap().as_str(), "Tee-1");
        assert_ne!(Sku::new("tee-1"), Sku::new("TEE-1"));
        assert!(Sku::new("   ").is_none());
    }
}
