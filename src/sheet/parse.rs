//! Pure parsing of the configured columns into typed rows (SPEC §3).
//!
//! Input is what the Sheets API returns for `values.batchGet` with one range per column,
//! `majorDimension=COLUMNS`, `UNFORMATTED_VALUE` and dates as formatted strings: one
//! `Vec<serde_json::Value>` per column, starting at sheet row 1, ragged (trailing empty
//! cells are omitted, so a column can be shorter than another or missing entirely).
//! Output is typed rows plus row errors, each naming its A1 cell, the value and why.
//! Nothing here knows about HTTP.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::model::{CellRef, Currency, Field, FieldKey, LocationName, Sku, Value};

/// What a configured column holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKey {
    Sku,
    /// A variant field (price, compare-at, cost, barcode).
    Field(Field),
    /// Stock at a location.
    Stock(LocationName),
    /// A product-level column (title, status, tags, vendor): located and kept as text.
    Product(&'static str),
    /// Write-back columns the engine owns.
    Status,
    SyncedAt,
}

/// One configured column: what it holds and its header text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub key: ColumnKey,
    pub header: String,
}

/// Where each configured column sits in the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub tab: String,
    /// One-based row number of the header row (the first non-empty row).
    pub header_row: u32,
    /// Configured columns with their zero-based column index, in spec order.
    pub columns: Vec<(ColumnSpec, u32)>,
}

/// A header problem: a config error (exit 2) listing the headers found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("tab {tab} has no header row (it is empty)")]
    EmptyTab { tab: String },
    #[error("header {header:?} not found in {tab} row {row}; headers found: {found:?}")]
    Missing { tab: String, row: u32, header: String, found: Vec<String> },
    #[error("header {header:?} appears more than once in {tab} row {row} ({cells}); headers found: {found:?}")]
    Duplicate { tab: String, row: u32, header: String, cells: String, found: Vec<String> },
    #[error("column {cell} should hold header {expected:?} but holds {found:?}: the sheet changed while it was read")]
    Moved { cell: CellRef, expected: String, found: String },
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
    pub values: BTreeMap<FieldKey, Entry>,
    /// Product-level columns (title, status, …), text as read, non-blank only.
    pub product: BTreeMap<&'static str, String>,
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
}

/// Finds the header row (the first non-empty row of `rows`, which are the first rows of
/// the tab as `majorDimension=ROWS` returns them) and the column of every spec.
pub fn locate(tab: &str, rows: &[Vec<Json>], specs: &[ColumnSpec]) -> Result<Layout, HeaderError> {
    let _ = (tab, rows, specs);
    unimplemented!("sheet::parse::locate")
}

/// Parses the columns read for `layout` (one per layout column, in the same order, each
/// starting at sheet row 1) into rows and row errors.
pub fn parse(layout: &Layout, columns: &[Vec<Json>], currency: &Currency) -> Result<ParsedSheet, HeaderError> {
    let _ = (layout, columns, currency);
    unimplemented!("sheet::parse::parse")
}
