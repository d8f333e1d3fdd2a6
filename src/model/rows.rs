//! The sheet as parsed: configured columns, typed rows and row errors. The parser
//! (`sheet::parse`) makes them from a grid; the planner, the config and write-back read
//! them. Plain data: nothing here does IO.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{CellRef, Field, FieldKey, LocationName, Sku, Value};

/// What a configured column holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKey {
    Sku,
    /// A variant field (price, compare-at, cost, barcode).
    Field(Field),
    /// Stock at a location.
    Stock(LocationName),
    /// The item's one stock number, in a store without locations (WooCommerce's
    /// `sheet.columns.stock`).
    OwnStock,
    /// A product-level column (title, status, tags, vendor, product_type, description),
    /// or one that describes a product to create (handle, option names and values, see
    /// `config::CREATE_COLUMNS`): located and kept as text in [`Row::product`].
    Product(&'static str),
    /// Write-back columns the engine owns.
    Status,
    SyncedAt,
    /// The row's location, in the row-per-location shape (Shopify's `Location` column),
    /// with the location names the config lists: rows at any other location are not read.
    RowLocation(Vec<LocationName>),
    /// Stock at the row's location, in the row-per-location shape (`Available`).
    RowStock,
}

/// One configured column: what it holds and its header text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub key: ColumnKey,
    pub header: String,
}

/// What a non-blank cell asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Set the field to this value.
    Set(Value),
    /// `CLEAR`: empty a clearable field.
    Clear,
    /// A barcode that Sheets turned into a number: its digits. It equals the store's
    /// barcode when that is these digits with leading zeros; otherwise a row error.
    NumericBarcode(String),
}

/// One parsed non-blank cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub cell: CellRef,
    /// The cell as read, so write-back can check it still holds this.
    pub raw: Json,
    pub intent: Intent,
}

/// A valid data row. Blank cells are absent from `values`: blank means leave alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// One-based sheet row number.
    pub row: u32,
    pub sku: Sku,
    pub values: Cells,
    /// Product-level columns (title, status, …), text as read, non-blank only.
    pub product: BTreeMap<&'static str, String>,
    /// The row's location in the row-per-location shape (its stock cell is at this
    /// location); `None` in the column-per-location shape.
    pub location: Option<LocationName>,
}

/// A row's non-blank cells by field, sorted by key: a map with a handful of entries.
///
/// A sorted `Vec` rather than a `BTreeMap`: a B-tree leaf reserves room for eleven
/// entries, so at four or five cells per row it cost about three times the memory of
/// the cells themselves (issue 8: 100,000 rows planned under 200 MB).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells(Vec<(FieldKey, Entry)>);

impl Cells {
    /// Room for `n` cells (the parser knows how many columns a row has).
    pub fn with_capacity(n: usize) -> Cells {
        Cells(Vec::with_capacity(n))
    }

    fn position(&self, key: &FieldKey) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Sets `key`'s entry, returning the one it replaces.
    pub fn insert(&mut self, key: FieldKey, entry: Entry) -> Option<Entry> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, entry)),
            Err(i) => {
                self.0.insert(i, (key, entry));
                None
            }
        }
    }

    pub fn get(&self, key: &FieldKey) -> Option<&Entry> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &FieldKey) -> Option<&mut Entry> {
        self.position(key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn remove(&mut self, key: &FieldKey) -> Option<Entry> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    pub fn contains_key(&self, key: &FieldKey) -> bool {
        self.position(key).is_ok()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&FieldKey, &Entry)> {
        self.0.iter().map(|(k, e)| (k, e))
    }

    pub fn keys(&self) -> impl Iterator<Item = &FieldKey> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops spare capacity once a row is complete (rows live as long as the plan).
    pub(crate) fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl FromIterator<(FieldKey, Entry)> for Cells {
    /// Later entries for a key replace earlier ones, as with a map.
    fn from_iter<I: IntoIterator<Item = (FieldKey, Entry)>>(iter: I) -> Cells {
        let mut cells = Cells::default();
        for (key, entry) in iter {
            cells.insert(key, entry);
        }
        cells
    }
}

impl std::ops::Index<&FieldKey> for Cells {
    type Output = Entry;

    /// Panics when `key` is absent, like `BTreeMap`'s index.
    fn index(&self, key: &FieldKey) -> &Entry {
        match self.get(key) {
            Some(entry) => entry,
            None => panic!("no cell for {key}"),
        }
    }
}

/// A problem with one row: no write happens for that row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowError {
    pub row: u32,
    /// The offending cell, in A1 notation; the SKU cell for row-level problems.
    pub cell: CellRef,
    pub sku: Option<Sku>,
    /// Says what is wrong, quoting the value: `price "abc" is not a number`.
    pub message: String,
}

/// The parsed sheet: valid rows, row errors, and counts the guards need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedSheet {
    /// Valid rows, in sheet order.
    pub rows: Vec<Row>,
    /// Row errors, sorted by row then cell.
    pub errors: Vec<RowError>,
    /// Data rows with any configured cell non-blank (valid or not).
    pub rows_read: usize,
    /// Distinct SKUs among the rows read (the guards' denominator).
    pub skus_read: usize,
    /// Row-per-location shape: rows without a SKU, skipped (counted in `rows_read`).
    pub rows_without_sku: usize,
    /// Row-per-location shape: rows at locations the config does not list, by location;
    /// not read, and not counted in `rows_read`.
    pub other_locations: BTreeMap<String, usize>,
}

impl ParsedSheet {
    /// What the reader left out on purpose, for a warning: `None` when nothing was.
    pub fn skipped_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.rows_without_sku > 0 {
            parts.push(format!(
                "{} row(s) without a SKU skipped (such a variant cannot be synced: give it a SKU in Shopify)",
                self.rows_without_sku
            ));
        }
        for (location, n) in &self.other_locations {
            parts.push(format!(
                "{n} row(s) at location {location:?} not read: it is not in [sheet.inventory] \
                 (add {location:?} = {location:?} to sync it)"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
