//! Pure parsing of the configured columns into typed rows (SPEC §3).
//!
//! Input is what the Sheets API returns for `values.batchGet` with one range per column,
//! `majorDimension=COLUMNS`, `UNFORMATTED_VALUE` and dates as formatted strings: one
//! `Vec<serde_json::Value>` per column, starting at sheet row 1, ragged (trailing empty
//! cells are omitted, so a column can be shorter than another or missing entirely).
//! Output is typed rows plus row errors, each naming its A1 cell, the value and why.
//! Nothing here knows about HTTP.
//!
//! Stock comes in one of two shapes: a column per location ([`ColumnKey::Stock`]), or,
//! as in Shopify's current inventory export, a row per variant and location
//! ([`ColumnKey::RowLocation`] and [`ColumnKey::RowStock`]). In the second shape a SKU
//! has one row per location (only a second row for the same SKU *and* location is a
//! duplicate), rows at locations the config does not list are not read (like a column
//! the config does not name), and rows without a SKU are skipped and counted rather than
//! reported: Shopify's export lists every variant, and a variant without a SKU cannot be
//! addressed by sheetsync, so such rows are not mistakes in the sheet.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Number, Value as Json};

use crate::model::{
    CellRef, Currency, Field, FieldKey, LocationName, MAX_QUANTITY, Sku, Value, max_money,
    tags_text,
};

/// What a configured column holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKey {
    Sku,
    /// A variant field (price, compare-at, cost, barcode).
    Field(Field),
    /// Stock at a location.
    Stock(LocationName),
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
    Missing {
        tab: String,
        row: u32,
        header: String,
        found: Vec<String>,
    },
    #[error(
        "header {header:?} appears more than once in {tab} row {row} ({cells}); headers found: {found:?}"
    )]
    Duplicate {
        tab: String,
        row: u32,
        header: String,
        cells: String,
        found: Vec<String>,
    },
    #[error(
        "no row of {tab} is at a location of [sheet.inventory] (configured: {configured:?}); \
         the sheet's Location column names {found:?}: list each location to sync as \
         \"<name>\" = \"<name>\" under [sheet.inventory]"
    )]
    NoConfiguredLocation {
        tab: String,
        configured: Vec<String>,
        found: Vec<String>,
    },
    #[error(
        "column {cell} should hold header {expected:?} but holds {found:?}: the sheet changed while it was read"
    )]
    Moved {
        cell: CellRef,
        expected: String,
        found: String,
    },
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
    fn shrink(&mut self) {
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

/// Finds the header row (the first non-empty row of `rows`, which are the first rows of
/// the tab as `majorDimension=ROWS` returns them) and the column of every spec.
pub fn locate(tab: &str, rows: &[Vec<Json>], specs: &[ColumnSpec]) -> Result<Layout, HeaderError> {
    let Some((index, cells)) = rows
        .iter()
        .enumerate()
        .find(|(_, row)| row.iter().any(|c| !is_blank(Some(c))))
    else {
        return Err(HeaderError::EmptyTab {
            tab: tab.to_owned(),
        });
    };
    let header_row = row_number(index);
    let texts: Vec<String> = cells.iter().map(cell_text).collect();
    let found: Vec<String> = texts.iter().filter(|t| !t.is_empty()).cloned().collect();

    let mut columns = Vec::with_capacity(specs.len());
    for spec in specs {
        let wanted = spec.header.trim();
        let hits: Vec<u32> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| t.as_str() == wanted)
            .map(|(col, _)| column_number(col))
            .collect();
        match hits.as_slice() {
            [] => {
                return Err(HeaderError::Missing {
                    tab: tab.to_owned(),
                    row: header_row,
                    header: wanted.to_owned(),
                    found,
                });
            }
            [col] => columns.push((spec.clone(), *col)),
            _ => {
                let cells = hits
                    .iter()
                    .map(|&col| CellRef::new(tab, col, header_row).to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(HeaderError::Duplicate {
                    tab: tab.to_owned(),
                    row: header_row,
                    header: wanted.to_owned(),
                    cells,
                    found,
                });
            }
        }
    }
    Ok(Layout {
        tab: tab.to_owned(),
        header_row,
        columns,
    })
}

/// Parses the columns read for `layout` (one per layout column, in the same order, each
/// starting at sheet row 1) into rows and row errors.
pub fn parse(
    layout: &Layout,
    columns: &[Vec<Json>],
    currency: &Currency,
) -> Result<ParsedSheet, HeaderError> {
    const NO_CELLS: &[Json] = &[];
    let column = |i: usize| columns.get(i).map_or(NO_CELLS, Vec::as_slice);
    let header_index = layout.header_row.saturating_sub(1) as usize;

    // The header cells were read with the data: if one no longer holds its header, the
    // columns moved between `locate` and this read, and every value would be misfiled.
    for (i, (spec, col)) in layout.columns.iter().enumerate() {
        let found = column(i)
            .get(header_index)
            .map(cell_text)
            .unwrap_or_default();
        if found != spec.header.trim() {
            return Err(HeaderError::Moved {
                cell: CellRef::new(layout.tab.as_str(), *col, layout.header_row),
                expected: spec.header.trim().to_owned(),
                found,
            });
        }
    }

    let sku_col = layout
        .columns
        .iter()
        .find(|(spec, _)| spec.key == ColumnKey::Sku)
        .or_else(|| layout.columns.first())
        .map_or(0, |(_, col)| *col);
    let last_index = (0..layout.columns.len())
        .map(|i| column(i).len())
        .max()
        .unwrap_or(0);

    // One shared tab name for every cell reference (see `CellRef`).
    let tab: Arc<str> = Arc::from(layout.tab.as_str());
    let cells_hint = layout.columns.len();
    let located = layout.columns.iter().find_map(|(spec, _)| match &spec.key {
        ColumnKey::RowLocation(names) => Some(names),
        _ => None,
    });
    let mut without_sku = 0;
    let mut elsewhere: BTreeMap<String, usize> = BTreeMap::new();
    // Every row's cell errors, by row: kept apart from the drafts so that a draft is no
    // bigger than the row it becomes (see `finish`).
    let mut cell_errors: Vec<(u32, CellRef, String)> = Vec::new();
    let mut drafts = Vec::with_capacity(last_index.saturating_sub(header_index + 1));
    for index in header_index + 1..last_index {
        let row = row_number(index);
        let cells = layout
            .columns
            .iter()
            .enumerate()
            .filter(|(_, (spec, _))| !matches!(spec.key, ColumnKey::Status | ColumnKey::SyncedAt))
            .map(|(i, (spec, col))| {
                (
                    &spec.key,
                    CellRef::new(tab.clone(), *col, row),
                    column(i).get(index),
                )
            });
        let Some((mut draft, errors)) = parse_row(
            row,
            CellRef::new(tab.clone(), sku_col, row),
            cells,
            cells_hint,
            currency,
        ) else {
            continue;
        };
        if let Some(names) = located {
            if let Some(loc) = draft.location.as_ref().filter(|l| !names.contains(l)) {
                *elsewhere.entry(loc.clone()).or_default() += 1;
                continue;
            }
            if draft.sku.is_none() && !draft.sku_error {
                without_sku += 1;
                continue;
            }
        }
        draft.errored = !errors.is_empty();
        cell_errors.extend(
            errors
                .into_iter()
                .map(|(cell, message)| (row, cell, message)),
        );
        drafts.push(draft);
    }
    if let Some(names) = located
        && drafts.is_empty()
        && without_sku == 0
        && !elsewhere.is_empty()
    {
        // Every row is at a location the config does not list: a misnamed location, not
        // a sheet to sync nothing from.
        return Err(HeaderError::NoConfiguredLocation {
            tab: layout.tab.clone(),
            configured: names.clone(),
            found: elsewhere.into_keys().collect(),
        });
    }
    let mut out = finish(drafts, cell_errors, |row| {
        CellRef::new(tab.clone(), sku_col, row)
    });
    out.rows_read += without_sku;
    out.rows_without_sku = without_sku;
    out.other_locations = elsewhere;
    Ok(out)
}

/// A data row as read, before duplicate SKUs across rows are known. Exactly as big as a
/// [`Row`], so that the rows are built in the drafts' buffer without wasting any of it.
struct Draft {
    row: u32,
    /// The SKU cell is not a SKU (an error is recorded).
    sku_error: bool,
    /// The row has errors (kept apart, by row).
    errored: bool,
    sku: Option<Sku>,
    values: Cells,
    product: BTreeMap<&'static str, String>,
    location: Option<LocationName>,
}

/// A row's cell errors: the cell and the message.
type CellErrors = Vec<(CellRef, String)>;

/// Reads one row's configured cells, with their errors; `None` when they are all blank
/// (the row is skipped).
fn parse_row<'a>(
    row: u32,
    sku_cell: CellRef,
    cells: impl Iterator<Item = (&'a ColumnKey, CellRef, Option<&'a Json>)>,
    cells_hint: usize,
    currency: &Currency,
) -> Option<(Draft, CellErrors)> {
    let mut draft = Draft {
        row,
        sku_error: false,
        errored: false,
        sku: None,
        values: Cells(Vec::with_capacity(cells_hint)),
        product: BTreeMap::new(),
        location: None,
    };
    let mut errors = CellErrors::new();
    let mut any = false;
    // The row-per-location stock cell, read once the row's location is known.
    let mut row_stock: Option<(CellRef, &Json)> = None;
    for (key, cell, raw) in cells {
        let Some(raw) = raw.filter(|v| !is_blank(Some(v))) else {
            continue;
        };
        // Handle and option cells (`create_missing`) alone do not make a data row: in
        // Shopify's CSV an image-only row carries the handle and nothing else.
        let describes_only = matches!(key, ColumnKey::Product(name)
            if !Field::from_name(name).is_some_and(Field::is_product));
        any |= !describes_only;
        let label = label(key);
        let outcome = match key {
            ColumnKey::Sku => {
                match read_sku(raw) {
                    Ok(sku) => draft.sku = sku,
                    Err(why) => {
                        draft.sku_error = true;
                        errors.push((cell, format!("{label} {} {why}", shown(raw))));
                    }
                }
                continue;
            }
            ColumnKey::Product(name) => {
                draft.product.insert(name, cell_text(raw));
                match Field::from_name(name).filter(|f| f.is_product()) {
                    Some(field) => read_product(field, raw).map(|i| (FieldKey::variant(field), i)),
                    None => continue,
                }
            }
            // Write-back columns are the engine's own output, never input. Stock always
            // comes as `Stock(location)`; config never builds a bare inventory field.
            ColumnKey::Status | ColumnKey::SyncedAt | ColumnKey::Field(Field::Inventory) => {
                continue;
            }
            ColumnKey::Field(field) => {
                read_field(*field, raw, currency).map(|i| (FieldKey::variant(*field), i))
            }
            ColumnKey::Stock(location) => {
                read_stock(raw).map(|i| (FieldKey::stock(location.as_str()), i))
            }
            ColumnKey::RowLocation(_) => {
                draft.location = Some(cell_text(raw));
                continue;
            }
            ColumnKey::RowStock => {
                row_stock = Some((cell, raw));
                continue;
            }
        };
        match outcome {
            Ok((field_key, intent)) => {
                draft.values.insert(
                    field_key,
                    Entry {
                        cell,
                        raw: raw.clone(),
                        intent,
                    },
                );
            }
            Err(why) => errors.push((cell, format!("{label} {} {why}", shown(raw)))),
        }
    }
    if !any {
        return None;
    }
    if let Some((cell, raw)) = row_stock {
        match &draft.location {
            Some(location) => match read_stock(raw) {
                Ok(intent) => {
                    draft.values.insert(
                        FieldKey::stock(location.as_str()),
                        Entry {
                            cell,
                            raw: raw.clone(),
                            intent,
                        },
                    );
                }
                Err(why) => errors.push((
                    cell,
                    format!("stock at {} {} {why}", quoted(location), shown(raw)),
                )),
            },
            None => errors.push((
                cell,
                format!(
                    "stock {} has no location: its row's Location cell is blank",
                    shown(raw)
                ),
            )),
        }
    }
    draft.values.shrink();
    if draft.sku.is_none() && !draft.sku_error {
        errors.push((sku_cell, "row has values but no SKU".to_owned()));
    }
    Some((draft, errors))
}

/// Applies the cross-row rule (a duplicate SKU fails every copy) and counts.
/// `cell_errors` are the rows' own errors, by row; `sku_cell` names a row's SKU cell.
fn finish(
    drafts: Vec<Draft>,
    mut cell_errors: Vec<(u32, CellRef, String)>,
    sku_cell: impl Fn(u32) -> CellRef,
) -> ParsedSheet {
    // A SKU may have one row per location (row-per-location shape): only a second row
    // for the same SKU and location is a duplicate. Found by sorting references rather
    // than with a map of row lists: at 100,000 rows that map was the parse's peak.
    let mut keyed: Vec<(&Sku, Option<&LocationName>, u32)> = drafts
        .iter()
        .filter_map(|d| d.sku.as_ref().map(|sku| (sku, d.location.as_ref(), d.row)))
        .collect();
    keyed.sort_unstable();
    let mut skus_read = 0;
    let mut duplicates: HashMap<(Sku, Option<LocationName>), Vec<u32>> = HashMap::new();
    for (i, (sku, location, row)) in keyed.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &keyed[p]);
        if previous.is_none_or(|(s, _, _)| s != sku) {
            skus_read += 1;
        }
        let same_key = |other: Option<&(&Sku, Option<&LocationName>, u32)>| {
            other.is_some_and(|(s, l, _)| s == sku && l == location)
        };
        if same_key(previous) || same_key(keyed.get(i + 1)) {
            duplicates
                .entry(((*sku).clone(), location.cloned()))
                .or_default()
                .push(*row);
        }
    }
    drop(keyed);

    let rows_read = drafts.len();
    // The SKU of each row with errors, for its `RowError`s.
    let mut errored: HashMap<u32, Option<Sku>> = HashMap::new();
    // `into_iter().filter_map().collect()` reuses the drafts' buffer for the rows (a row
    // is the size of a draft), so a large sheet does not hold both at once.
    let rows: Vec<Row> = drafts
        .into_iter()
        .filter_map(|mut draft| {
            if let Some(sku) = &draft.sku
                && let Some(rows) = duplicates.get(&(sku.clone(), draft.location.clone()))
            {
                let others: Vec<String> = rows
                    .iter()
                    .filter(|&&r| r != draft.row)
                    .map(u32::to_string)
                    .collect();
                let (noun, list) = match others.as_slice() {
                    [one] => ("row", one.clone()),
                    _ => ("rows", others.join(", ")),
                };
                let at = draft
                    .location
                    .as_ref()
                    .map(|l| format!(" at location {}", quoted(l)))
                    .unwrap_or_default();
                cell_errors.push((
                    draft.row,
                    sku_cell(draft.row),
                    format!(
                        "SKU {}{at} also appears in {noun} {list}; none of these rows is applied",
                        quoted(sku.as_str())
                    ),
                ));
                draft.errored = true;
            }
            if !draft.errored {
                return draft.sku.map(|sku| Row {
                    row: draft.row,
                    sku,
                    values: draft.values,
                    product: draft.product,
                    location: draft.location,
                });
            }
            errored.insert(draft.row, draft.sku);
            None
        })
        .collect();
    let errors = cell_errors
        .into_iter()
        .map(|(row, cell, message)| RowError {
            row,
            cell,
            sku: errored.get(&row).cloned().flatten(),
            message,
        })
        .collect();
    let mut out = ParsedSheet {
        rows,
        errors,
        rows_read,
        // Every SKU read, duplicates counted once.
        skus_read,
        ..ParsedSheet::default()
    };
    out.errors.sort();
    out
}

/// How a row error names a column: the config's field name, or the stock location.
fn label(key: &ColumnKey) -> String {
    match key {
        ColumnKey::Sku => "SKU".to_owned(),
        ColumnKey::Field(field) => field.name().to_owned(),
        ColumnKey::Stock(location) => format!("stock at {}", quoted(location)),
        ColumnKey::Product(name) => (*name).to_owned(),
        ColumnKey::Status => "status".to_owned(),
        ColumnKey::SyncedAt => "synced_at".to_owned(),
        ColumnKey::RowLocation(_) => "location".to_owned(),
        ColumnKey::RowStock => "stock".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Cells

/// Blank means "leave alone": absent, JSON null, or text that is only whitespace.
fn is_blank(cell: Option<&Json>) -> bool {
    match cell {
        None | Some(Json::Null) => true,
        Some(Json::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// A cell as text: strings trimmed, numbers at their shortest round-trip decimal,
/// booleans as Sheets shows them.
fn cell_text(cell: &Json) -> String {
    match cell {
        Json::Null => String::new(),
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => number_text(n),
        Json::Bool(b) => bool_text(*b).to_owned(),
        other => other.to_string(),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// The shortest decimal that reads back as the same number. serde_json's own `Display`
/// switches to exponent notation (`1e21`); std's `f64` `Display` never does.
fn number_text(n: &Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}"))
    }
}

/// Longest value quoted whole in a message; longer ones are cut so that a pasted essay
/// does not become a 50 KB report line.
const QUOTE_CHARS: usize = 40;

/// A value as a message quotes it: text in quotes (cut when long), numbers bare.
fn shown(cell: &Json) -> String {
    match cell {
        Json::String(s) => quoted(s.trim()),
        other => truncated(&cell_text(other)),
    }
}

fn quoted(text: &str) -> String {
    format!("{:?}", truncated(text))
}

fn truncated(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Display text of the error values a formula can produce. The API sends them as plain
/// strings in every render mode, so they cannot be told from typed text (fixtures §1.3.6).
const FORMULA_ERRORS: &[&str] = &[
    "#N/A",
    "#REF!",
    "#VALUE!",
    "#DIV/0!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
    "#ERROR!",
    "#SPILL!",
    "#CALC!",
    "#GETTING_DATA",
    "Loading...",
];

fn is_formula_error(text: &str) -> bool {
    let text = text.trim();
    FORMULA_ERRORS.contains(&text)
        || (text.len() <= 16
            && text.starts_with('#')
            && (text.ends_with('!') || text.ends_with('?'))
            && text[1..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "/!?_".contains(c)))
}

fn is_clear(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("CLEAR")
}

/// Dates reach us as formatted text (`dateTimeRenderOption=FORMATTED_STRING`), so a date
/// typed into a number column is never mistaken for its serial number; this only names
/// the mistake. Recognises `2024-01-05`, `1/5/2024`, `05.01.2024`, optionally with a time.
fn looks_like_date(text: &str) -> bool {
    let Some(token) = text.split_whitespace().next() else {
        return false;
    };
    ['-', '/', '.'].into_iter().any(|sep| {
        let parts: Vec<&str> = token.split(sep).collect();
        let [a, b, c] = parts.as_slice() else {
            return false;
        };
        if !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return false;
        }
        let year_first = a.len() == 4 && b.len() <= 2 && c.len() <= 2;
        let year_last =
            a.len() <= 2 && b.len() <= 2 && (c.len() == 4 || (c.len() == 2 && sep != '.'));
        year_first || year_last
    })
}

/// Why a cell is not a value of its column; the caller prefixes the label and value.
type Why = String;

/// What a text cell in a number column is, before the field's own rules apply.
fn text_problem(text: &str) -> Option<Why> {
    if is_formula_error(text) {
        Some("is a formula error".to_owned())
    } else if looks_like_date(text) {
        Some("looks like a date, not a number".to_owned())
    } else {
        None
    }
}

fn bool_problem() -> Why {
    "is a checkbox (TRUE/FALSE), not a number".to_owned()
}

// ---------------------------------------------------------------------------------------
// Columns

fn read_sku(cell: &Json) -> Result<Option<Sku>, Why> {
    match cell {
        Json::String(s) if is_formula_error(s) => Err("is a formula error".to_owned()),
        Json::String(s) => Ok(Sku::new(s)),
        // A SKU typed as a long number was stored as a double and may have lost digits.
        Json::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() > MAX_EXACT_F64 as f64) => Err(
            "is too long a number to have kept its digits: format the SKU column as plain text and re-enter it"
                .to_owned(),
        ),
        Json::Number(n) => Ok(Sku::new(&number_text(n))),
        Json::Bool(_) => Err("is a checkbox (TRUE/FALSE), not a SKU".to_owned()),
        _ => Err("is not a SKU".to_owned()),
    }
}

/// The statuses `productUpdate` accepts (`ProductStatus`, Admin 2026-07).
const PRODUCT_STATUSES: [&str; 4] = ["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"];

/// A product-field cell: text as the store compares it. Status is matched without regard
/// to case; tags are a comma-separated list, normalized by [`tags_text`] (order and
/// repeats do not count as a change), and `CLEAR` removes every tag.
fn read_product(field: Field, cell: &Json) -> Result<Intent, Why> {
    let text = cell_text(cell);
    if is_clear(&text) {
        return if field.clearable() {
            Ok(Intent::Clear)
        } else {
            Err("cannot be cleared: a product keeps its title, status and vendor".to_owned())
        };
    }
    match field {
        Field::Status => {
            let status = text.to_ascii_uppercase();
            if PRODUCT_STATUSES.contains(&status.as_str()) {
                Ok(Intent::Set(Value::Text(status)))
            } else {
                Err(format!("is not one of {}", PRODUCT_STATUSES.join(", ")))
            }
        }
        Field::Tags => {
            Ok(tags_text(text.split(',')).map_or(Intent::Clear, |t| Intent::Set(Value::Text(t))))
        }
        _ => Ok(Intent::Set(Value::Text(text))),
    }
}

fn read_field(field: Field, cell: &Json, currency: &Currency) -> Result<Intent, Why> {
    if let Json::String(s) = cell
        && is_clear(s)
    {
        return if field.clearable() {
            Ok(Intent::Clear)
        } else {
            Err(format!(
                "cannot be cleared: only {} accept CLEAR",
                Field::ALL
                    .iter()
                    .filter(|f| f.clearable())
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
    }
    if field == Field::Barcode {
        read_barcode(cell)
    } else {
        read_money(cell, currency).map(|m| Intent::Set(Value::Money(m)))
    }
}

/// Largest integer a double holds exactly: Sheets stores every number as one.
const MAX_EXACT_F64: u64 = 1 << 53;

fn read_barcode(cell: &Json) -> Result<Intent, Why> {
    const PLAIN_TEXT: &str = "format the barcode column as plain text and re-enter it";
    match cell {
        Json::String(s) if is_formula_error(s) => Err("is a formula error".to_owned()),
        Json::String(s) if looks_scientific(s.trim()) => Err(format!(
            "is a number in scientific notation and has lost digits: {PLAIN_TEXT}"
        )),
        Json::String(s) => Ok(Intent::Set(Value::Text(s.trim().to_owned()))),
        Json::Number(n) => {
            let digits = if let Some(u) = n.as_u64() {
                (u <= MAX_EXACT_F64).then(|| u.to_string())
            } else {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= MAX_EXACT_F64 as f64)
                    .map(|f| format!("{f}"))
            };
            digits.map(Intent::NumericBarcode).ok_or_else(|| {
                format!("is a number that cannot be a barcode exactly: {PLAIN_TEXT}")
            })
        }
        Json::Bool(_) => Err("is a checkbox (TRUE/FALSE), not a barcode".to_owned()),
        _ => Err("is not a barcode".to_owned()),
    }
}

/// `3.65275E+11`: what a barcode looks like after a trip through Excel.
fn looks_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let mut digits = mantissa.splitn(2, '.');
    let whole = digits.next().unwrap_or_default();
    let fraction = digits.next().unwrap_or("0");
    [whole, fraction, exponent]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn read_money(cell: &Json, currency: &Currency) -> Result<Decimal, Why> {
    let (number, from_float) = match cell {
        Json::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.abs() >= 1e18
            {
                return Err(too_large_money());
            }
            (
                plain_number(&number_text(n)).ok_or_else(|| "is not a number".to_owned())?,
                n.as_f64(),
            )
        }
        Json::String(s) => {
            let text = s.trim();
            if let Some(why) = text_problem(text) {
                return Err(why);
            }
            (read_number_text(text, Mode::Money(currency))?, None)
        }
        Json::Bool(_) => return Err(bool_problem()),
        _ => return Err("is not a number".to_owned()),
    };
    number.into_money(currency, from_float)
}

fn too_large_money() -> Why {
    "is too large: the store holds amounts below 10^18".to_owned()
}

fn read_stock(cell: &Json) -> Result<Intent, Why> {
    match cell {
        Json::String(s) if is_clear(s) => {
            Err("cannot be cleared: a blank cell leaves stock alone, 0 sets it to zero".to_owned())
        }
        Json::String(s) => {
            let text = s.trim();
            if let Some(why) = text_problem(text) {
                return Err(why);
            }
            read_number_text(text, Mode::Quantity)?.into_quantity()
        }
        Json::Number(n) => plain_number(&number_text(n))
            .ok_or_else(|| "is not a number".to_owned())?
            .into_quantity(),
        Json::Bool(_) => Err(bool_problem()),
        _ => Err("is not a number".to_owned()),
    }
    .map(|q| Intent::Set(Value::Qty(q)))
}

// ---------------------------------------------------------------------------------------
// Numbers

/// A decimal number as written: sign, integer digits (no leading zeros, `"0"` for none)
/// and fraction digits exactly as written (so `12.500` keeps three decimals).
#[derive(Debug, PartialEq, Eq)]
struct Plain {
    negative: bool,
    int: String,
    frac: String,
}

impl Plain {
    fn new(negative: bool, int: &str, frac: &str) -> Plain {
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let zero = int == "0" && frac.bytes().all(|b| b == b'0');
        // `-0` is zero, not a negative amount.
        Plain {
            negative: negative && !zero,
            int: int.to_owned(),
            frac: frac.to_owned(),
        }
    }

    /// Checks money rules; `float` is the cell's double when it arrived as a number, to
    /// tell formula noise from a value typed with too many decimals.
    fn into_money(self, currency: &Currency, float: Option<f64>) -> Result<Decimal, Why> {
        if self.negative {
            return Err("is negative".to_owned());
        }
        // 10^18 has 19 integer digits.
        if self.int.len() > 18 {
            return Err(too_large_money());
        }
        let decimals = self.frac.len();
        let allowed = currency.decimals as usize;
        if decimals > allowed {
            let allows = match allowed {
                0 => "none".to_owned(),
                n => n.to_string(),
            };
            let mut why = format!(
                "has {decimals} decimal{} but {} allows {allows} (amounts are never rounded)",
                plural(decimals),
                currency.code
            );
            if float.is_some_and(|f| is_float_noise(f, currency.decimals)) {
                why.push_str(&format!(
                    "; this looks like floating-point noise from a formula: wrap it in ROUND(…, {})",
                    currency.decimals
                ));
            }
            return Err(why);
        }
        let text = if self.frac.is_empty() {
            self.int
        } else {
            format!("{}.{}", self.int, self.frac)
        };
        let amount = Decimal::from_str_exact(&text).map_err(|_| "is not a number".to_owned())?;
        if amount >= max_money() {
            return Err(too_large_money());
        }
        Ok(amount)
    }

    fn into_quantity(self) -> Result<i64, Why> {
        if self.frac.bytes().any(|b| b != b'0') {
            return Err("is not a whole number".to_owned());
        }
        let magnitude = if self.int.len() > 10 {
            None
        } else {
            self.int.parse::<i64>().ok()
        };
        match magnitude {
            Some(q) if q <= MAX_QUANTITY => Ok(if self.negative { -q } else { q }),
            _ => Err(format!(
                "is beyond ±{MAX_QUANTITY}, which the store cannot hold"
            )),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A formula result like `19.900000000000002`: within a hair of a value that fits.
fn is_float_noise(f: f64, decimals: u32) -> bool {
    let scale = 10f64.powi(decimals as i32);
    let rounded = (f * scale).round() / scale;
    (f - rounded).abs() <= 1e-9 * f.abs().max(1.0)
}

/// Splits the plain decimal text std prints for a number (`-12.5`, never an exponent).
fn plain_number(text: &str) -> Option<Plain> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac)).then(|| Plain::new(negative, int, frac))
}

/// What a number in text is for: money may carry a currency, quantities may not, and
/// `1,200` is thousands in a quantity (stock has no fractions) but ambiguous in money.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Money(&'a Currency),
    Quantity,
}

/// Currency symbols accepted around money text, with the currency each names when it
/// names only one (`$` and `¥` serve several).
const SYMBOLS: &[(char, Option<&str>)] = &[
    ('$', None),
    ('¥', None),
    ('€', Some("EUR")),
    ('£', Some("GBP")),
    ('₹', Some("INR")),
    ('₩', Some("KRW")),
    ('₽', Some("RUB")),
    ('₺', Some("TRY")),
    ('₪', Some("ILS")),
    ('₫', Some("VND")),
    ('฿', Some("THB")),
    ('₱', Some("PHP")),
    ('₴', Some("UAH")),
    ('₦', Some("NGN")),
    ('₸', Some("KZT")),
    ('₼', Some("AZN")),
    ('₾', Some("GEL")),
    ('₡', Some("CRC")),
    ('₲', Some("PYG")),
    ('₵', Some("GHS")),
];

/// ISO 4217 codes, so that `12 PCS` is not taken for an amount in some currency "PCS".
const ISO_CODES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN \
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD \
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP \
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD \
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY \
    TTD TWD TZS UAH UGX USD UYI UYU UYW UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL";

fn is_sign(c: char) -> bool {
    matches!(c, '-' | '+' | '\u{2212}')
}

/// Characters of the number itself; anything else at either end is a prefix or suffix.
fn is_numeric_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c == ','
}

/// Reads number text a person typed: `$1,299.00`, `1 299,00`, `1.299,00`, `€12,50`,
/// `12.50 USD`, `-3`. Separators are decided from the text alone; what cannot be decided
/// (`1,299` as money) is an error, never a guess.
fn read_number_text(text: &str, mode: Mode<'_>) -> Result<Plain, Why> {
    const NOT_A_NUMBER: &str = "is not a number";
    let not_a_number = || NOT_A_NUMBER.to_owned();

    let mut rest = text.trim();
    let mut negative = None;
    let mut take_sign = |rest: &mut &str| {
        if negative.is_none()
            && let Some(c) = rest.chars().next().filter(|&c| is_sign(c))
        {
            negative = Some(c != '+');
            *rest = rest[c.len_utf8()..].trim_start();
        }
    };
    take_sign(&mut rest);
    let prefix_len = rest
        .find(|c: char| is_numeric_char(c) || is_sign(c) || c.is_whitespace())
        .unwrap_or(rest.len());
    let prefix = &rest[..prefix_len];
    rest = rest[prefix_len..].trim_start();
    take_sign(&mut rest);
    let suffix_start = rest
        .char_indices()
        .rev()
        .take_while(|&(_, c)| !is_numeric_char(c) && !c.is_whitespace())
        .last()
        .map_or(rest.len(), |(i, _)| i);
    let suffix = &rest[suffix_start..];
    let core = rest[..suffix_start].trim_end();

    if core.is_empty() {
        return Err(not_a_number());
    }
    for affix in [prefix, suffix] {
        match mode {
            Mode::Quantity if !affix.is_empty() => return Err(not_a_number()),
            Mode::Quantity => {}
            Mode::Money(currency) => check_currency_affix(affix, currency)?,
        }
    }

    // Split into digit groups and the separators between them. Any whitespace character
    // (space, NBSP, narrow NBSP) stands for a thousands space; two in a row are refused.
    let mut groups: Vec<String> = vec![String::new()];
    let mut seps: Vec<char> = Vec::new();
    for c in core.chars() {
        if c.is_ascii_digit() {
            if let Some(group) = groups.last_mut() {
                group.push(c);
            }
        } else if c == '.' || c == ',' || c.is_whitespace() {
            let leading = seps.is_empty() && groups[0].is_empty();
            let current_empty = groups.last().is_none_or(String::is_empty);
            // Only a decimal point may open the number (`.5`); nothing may follow a separator
            // but digits.
            if current_empty && (c.is_whitespace() || !leading) {
                return Err(not_a_number());
            }
            seps.push(if c.is_whitespace() { ' ' } else { c });
            groups.push(String::new());
        } else {
            return Err(not_a_number());
        }
    }
    if groups.last().is_none_or(String::is_empty) {
        return Err(not_a_number());
    }
    let negative = negative.unwrap_or(false);

    let Some(&last) = seps.last() else {
        return Ok(Plain::new(negative, &groups[0], ""));
    };
    let grouping_only = |sep: char| seps.iter().all(|&s| s == sep);
    let decimal_at_end = if grouping_only(last) {
        if last == ' ' || seps.len() >= 2 {
            false
        } else {
            let head = &groups[0];
            let tail = &groups[1];
            let could_group =
                tail.len() == 3 && !head.is_empty() && head.bytes().any(|b| b != b'0');
            match (could_group, mode) {
                (false, _) => true,
                (true, Mode::Quantity) => false,
                (true, Mode::Money(_)) if last == '.' => true,
                (true, Mode::Money(_)) => {
                    return Err(format!(
                        "is ambiguous: \",\" may separate thousands ({head}{tail}) or decimals ({head}.{tail}); write it without the comma or with a \".\""
                    ));
                }
            }
        }
    } else {
        // Two kinds of separator: the last one is the decimal point, and it may appear only
        // once; every earlier one must be the same thousands separator.
        let grouping = seps[0];
        if last == ' ' || grouping == last || !seps[..seps.len() - 1].iter().all(|&s| s == grouping)
        {
            return Err(not_a_number());
        }
        true
    };

    let (int_groups, frac) = if decimal_at_end {
        let (frac, int) = groups
            .split_last()
            .map_or((String::new(), &groups[..0]), |(f, i)| (f.clone(), i));
        (int, frac)
    } else {
        (&groups[..], String::new())
    };
    // Thousands grouping: 1–3 digits, then groups of exactly 3.
    if int_groups.len() > 1
        && (int_groups[0].is_empty()
            || int_groups[0].len() > 3
            || int_groups[1..].iter().any(|g| g.len() != 3))
    {
        return Err(not_a_number());
    }
    Ok(Plain::new(negative, &int_groups.concat(), &frac))
}

/// Accepts an empty affix, a currency symbol, a local form like `US$`/`R$`, or an ISO
/// code; refuses one that names another currency than the shop's, since the amount
/// would be written in the wrong currency.
fn check_currency_affix(affix: &str, currency: &Currency) -> Result<(), Why> {
    if affix.is_empty() {
        return Ok(());
    }
    let mut chars = affix.chars();
    let named = match (chars.next(), chars.next()) {
        (Some(c), None) => match SYMBOLS.iter().find(|(s, _)| *s == c) {
            Some((_, named)) => named.map(str::to_owned),
            None => return Err("is not a number".to_owned()),
        },
        _ if affix.len() == 3 && ISO_CODES.split(' ').any(|c| c.eq_ignore_ascii_case(affix)) => {
            Some(affix.to_ascii_uppercase())
        }
        _ if is_local_symbol(affix) => None,
        _ => return Err("is not a number".to_owned()),
    };
    match named {
        Some(code) if code != currency.code => Err(format!(
            "is in {code} but the shop's currency is {}",
            currency.code
        )),
        _ => Ok(()),
    }
}

/// `US$`, `R$`, `HK$`, `E£`: one to three letters before a symbol several currencies share.
fn is_local_symbol(affix: &str) -> bool {
    affix.strip_suffix(['$', '£', '¥']).is_some_and(|letters| {
        (1..=3).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_alphabetic())
    })
}

fn row_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn column_number(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use serde_json::json;

    use super::*;

    const TAB: &str = "Inventory";

    /// The sheet every test uses: A SKU, B Title, C Price, D Compare at, E Cost,
    /// F Barcode, G Main Warehouse (stock), H Sync status.
    const HEADERS: [&str; 8] = [
        "SKU",
        "Title",
        "Price",
        "Compare at",
        "Cost",
        "Barcode",
        "Main Warehouse",
        "Sync status",
    ];

    fn specs() -> Vec<ColumnSpec> {
        let keys = [
            ColumnKey::Sku,
            ColumnKey::Product("title"),
            ColumnKey::Field(Field::Price),
            ColumnKey::Field(Field::CompareAtPrice),
            ColumnKey::Field(Field::Cost),
            ColumnKey::Field(Field::Barcode),
            ColumnKey::Stock("Main Warehouse".to_owned()),
            ColumnKey::Status,
        ];
        keys.into_iter()
            .zip(HEADERS)
            .map(|(key, header)| ColumnSpec {
                key,
                header: header.to_owned(),
            })
            .collect()
    }

    fn key_of(header: &str) -> FieldKey {
        match header {
            "Price" => FieldKey::variant(Field::Price),
            "Compare at" => FieldKey::variant(Field::CompareAtPrice),
            "Cost" => FieldKey::variant(Field::Cost),
            "Barcode" => FieldKey::variant(Field::Barcode),
            "Main Warehouse" => FieldKey::stock("Main Warehouse"),
            other => panic!("no field under {other}"),
        }
    }

    fn column_of(header: &str) -> u32 {
        HEADERS
            .iter()
            .position(|h| *h == header)
            .expect("known header") as u32
    }

    /// Rows as `majorDimension=ROWS` returns them.
    fn grid(rows: Json) -> Vec<Vec<Json>> {
        serde_json::from_value(rows).expect("a grid is an array of arrays")
    }

    /// What `batchGet` returns for `layout`: one column per spec, with Sheets' habit of
    /// dropping trailing empty cells.
    fn columns_of(rows: &[Vec<Json>], layout: &Layout) -> Vec<Vec<Json>> {
        layout
            .columns
            .iter()
            .map(|(_, col)| {
                let mut cells: Vec<Json> = rows
                    .iter()
                    .map(|r| r.get(*col as usize).cloned().unwrap_or_else(|| json!("")))
                    .collect();
                while cells.last().is_some_and(|c| *c == json!("")) {
                    cells.pop();
                }
                cells
            })
            .collect()
    }

    fn read(rows: &[Vec<Json>], currency: &str) -> ParsedSheet {
        let layout = locate(TAB, rows, &specs()).expect("headers found");
        parse(
            &layout,
            &columns_of(rows, &layout),
            &Currency::new(currency),
        )
        .expect("headers in place")
    }

    /// The standard header row followed by `rows`, each given as `(header, value)` pairs.
    fn sheet(rows: &[&[(&str, Json)]], currency: &str) -> ParsedSheet {
        let mut grid = vec![HEADERS.iter().map(|h| json!(h)).collect::<Vec<_>>()];
        for row in rows {
            let mut cells = vec![json!(""); HEADERS.len()];
            for (header, value) in *row {
                cells[column_of(header) as usize] = value.clone();
            }
            while cells.last().is_some_and(|c| *c == json!("")) {
                cells.pop();
            }
            grid.push(cells);
        }
        read(&grid, currency)
    }

    fn cell(header: &str, row: u32) -> String {
        CellRef::new(TAB, column_of(header), row).to_string()
    }

    fn money(text: &str) -> Intent {
        Intent::Set(Value::Money(Decimal::from_str(text).expect("decimal")))
    }

    fn qty(q: i64) -> Intent {
        Intent::Set(Value::Qty(q))
    }

    fn text(t: &str) -> Intent {
        Intent::Set(Value::Text(t.to_owned()))
    }

    enum Expect {
        Ok(Intent),
        /// A row error on the cell, its message containing every part.
        Err(&'static [&'static str]),
    }

    struct Case {
        name: &'static str,
        header: &'static str,
        value: Json,
        currency: &'static str,
        expect: Expect,
    }

    fn case(name: &'static str, header: &'static str, value: Json, expect: Expect) -> Case {
        Case {
            name,
            header,
            value,
            currency: "USD",
            expect,
        }
    }

    fn in_currency(currency: &'static str, c: Case) -> Case {
        Case { currency, ..c }
    }

    /// Runs each case as row 2 of a sheet whose only other cell is the SKU.
    fn check(cases: Vec<Case>) {
        for c in cases {
            let parsed = sheet(
                &[&[("SKU", json!("TEE-1")), (c.header, c.value.clone())]],
                c.currency,
            );
            let name = c.name;
            assert_eq!(parsed.rows_read, 1, "{name}");
            match c.expect {
                Expect::Ok(intent) => {
                    assert_eq!(parsed.errors, vec![], "{name}");
                    let entry = &parsed.rows[0].values[&key_of(c.header)];
                    assert_eq!(entry.intent, intent, "{name}");
                    assert_eq!(entry.raw, c.value, "{name}");
                    assert_eq!(entry.cell.to_string(), cell(c.header, 2), "{name}");
                }
                Expect::Err(parts) => {
                    assert_eq!(
                        parsed.rows,
                        vec![],
                        "{name}: an errored row must not be applied"
                    );
                    assert_eq!(parsed.errors.len(), 1, "{name}: {:?}", parsed.errors);
                    let error = &parsed.errors[0];
                    assert_eq!(error.cell.to_string(), cell(c.header, 2), "{name}");
                    assert_eq!(error.row, 2, "{name}");
                    assert_eq!(error.sku.as_ref().map(Sku::as_str), Some("TEE-1"), "{name}");
                    for part in parts {
                        assert!(
                            error.message.contains(part),
                            "{name}: {:?} lacks {part:?}",
                            error.message
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn blank_cells_leave_fields_alone() {
        for blank in [
            json!(""),
            json!("   "),
            json!(null),
            json!("\u{a0}\u{202f}\t"),
        ] {
            let parsed = sheet(
                &[&[
                    ("SKU", json!("TEE-1")),
                    ("Price", blank.clone()),
                    ("Main Warehouse", blank.clone()),
                    ("Cost", json!(3)),
                ]],
                "USD",
            );
            assert_eq!(parsed.errors, vec![], "{blank}");
            let keys: Vec<&FieldKey> = parsed.rows[0].values.keys().collect();
            assert_eq!(keys, vec![&FieldKey::variant(Field::Cost)], "{blank}");
        }
    }

    #[test]
    fn clear_empties_clearable_fields() {
        check(vec![
            case(
                "compare-at",
                "Compare at",
                json!("CLEAR"),
                Expect::Ok(Intent::Clear),
            ),
            case(
                "cost, lower case, padded",
                "Cost",
                json!("  clear "),
                Expect::Ok(Intent::Clear),
            ),
            case(
                "barcode",
                "Barcode",
                json!("Clear"),
                Expect::Ok(Intent::Clear),
            ),
        ]);
    }

    #[test]
    fn clear_is_refused_on_price_and_stock() {
        check(vec![
            case(
                "price",
                "Price",
                json!("CLEAR"),
                Expect::Err(&["price \"CLEAR\" cannot be cleared"]),
            ),
            case(
                "stock",
                "Main Warehouse",
                json!("clear"),
                Expect::Err(&[
                    "stock at \"Main Warehouse\" \"clear\" cannot be cleared",
                    "blank cell leaves stock alone",
                ]),
            ),
            case(
                "not exactly CLEAR",
                "Cost",
                json!("CLEAR IT"),
                Expect::Err(&["cost \"CLEAR IT\" is not a number"]),
            ),
        ]);
    }

    #[test]
    fn money_numbers_are_taken_at_their_shortest_decimal() {
        check(vec![
            case(
                "19.9 is 19.90",
                "Price",
                json!(19.9),
                Expect::Ok(money("19.90")),
            ),
            case("integer", "Price", json!(20), Expect::Ok(money("20"))),
            case("zero price", "Price", json!(0), Expect::Ok(money("0"))),
            case("cost", "Cost", json!(0.05), Expect::Ok(money("0.05"))),
            case(
                "whole float",
                "Compare at",
                json!(25.0),
                Expect::Ok(money("25")),
            ),
            case(
                "negative zero",
                "Price",
                json!(-0.0),
                Expect::Ok(money("0")),
            ),
        ]);
    }

    #[test]
    fn decimals_follow_the_currency() {
        check(vec![
            case(
                "USD three decimals",
                "Price",
                json!(19.999),
                Expect::Err(&[
                    "price 19.999 has 3 decimals but USD allows 2",
                    "never rounded",
                ]),
            ),
            in_currency(
                "JPY",
                case("JPY whole", "Price", json!(1500), Expect::Ok(money("1500"))),
            ),
            in_currency(
                "JPY",
                case(
                    "JPY fraction",
                    "Price",
                    json!(1500.5),
                    Expect::Err(&["has 1 decimal but JPY allows none"]),
                ),
            ),
            in_currency(
                "JPY",
                case(
                    "JPY text 1.000",
                    "Price",
                    json!("1.000"),
                    Expect::Err(&["has 3 decimals but JPY allows none"]),
                ),
            ),
            in_currency(
                "KWD",
                case(
                    "KWD three decimals",
                    "Price",
                    json!(1.234),
                    Expect::Ok(money("1.234")),
                ),
            ),
            in_currency(
                "KWD",
                case(
                    "KWD text 1.299",
                    "Cost",
                    json!("1.299"),
                    Expect::Ok(money("1.299")),
                ),
            ),
            in_currency(
                "KWD",
                case(
                    "KWD four decimals",
                    "Price",
                    json!(1.2345),
                    Expect::Err(&["has 4 decimals but KWD allows 3"]),
                ),
            ),
            case(
                "text keeps written decimals",
                "Price",
                json!("12.500"),
                Expect::Err(&["has 3 decimals but USD allows 2"]),
            ),
        ]);
    }

    #[test]
    fn float_noise_suggests_round_with_the_currency_decimals() {
        check(vec![
            case(
                "USD noise",
                "Price",
                json!(19.900000000000002),
                Expect::Err(&["price 19.900000000000002 has 15 decimals", "ROUND(…, 2)"]),
            ),
            in_currency(
                "KWD",
                case(
                    "KWD noise",
                    "Cost",
                    json!(0.1 + 0.2),
                    Expect::Err(&["cost 0.30000000000000004", "ROUND(…, 3)"]),
                ),
            ),
        ]);
        // A value typed with too many decimals is not noise: no ROUND hint.
        let parsed = sheet(&[&[("SKU", json!("A")), ("Price", json!(19.999))]], "USD");
        assert!(
            !parsed.errors[0].message.contains("ROUND"),
            "{}",
            parsed.errors[0].message
        );
    }

    #[test]
    fn money_text_is_accepted_when_unambiguous() {
        check(vec![
            case(
                "dollar with grouping",
                "Price",
                json!("$1,299.00"),
                Expect::Ok(money("1299")),
            ),
            case(
                "plain integer",
                "Price",
                json!("1299"),
                Expect::Ok(money("1299")),
            ),
            case(
                "space grouping, decimal comma",
                "Price",
                json!("1 299,00"),
                Expect::Ok(money("1299")),
            ),
            case(
                "NBSP grouping",
                "Price",
                json!("1\u{a0}299,00"),
                Expect::Ok(money("1299")),
            ),
            case(
                "narrow NBSP grouping",
                "Price",
                json!("1\u{202f}299,50"),
                Expect::Ok(money("1299.5")),
            ),
            case(
                "dot grouping, decimal comma",
                "Price",
                json!("1.299,00"),
                Expect::Ok(money("1299")),
            ),
            in_currency(
                "EUR",
                case(
                    "euro prefix",
                    "Price",
                    json!("€12,50"),
                    Expect::Ok(money("12.5")),
                ),
            ),
            in_currency(
                "EUR",
                case(
                    "euro suffix",
                    "Price",
                    json!("12,50 €"),
                    Expect::Ok(money("12.5")),
                ),
            ),
            case(
                "ISO code suffix",
                "Price",
                json!("12.50 USD"),
                Expect::Ok(money("12.5")),
            ),
            case(
                "ISO code prefix, lower case",
                "Cost",
                json!("usd 3"),
                Expect::Ok(money("3")),
            ),
            case("US$", "Price", json!("US$ 5.25"), Expect::Ok(money("5.25"))),
            case(
                "several groups",
                "Price",
                json!("1,299,000"),
                Expect::Ok(money("1299000")),
            ),
            case(
                "decimal comma, one digit",
                "Price",
                json!("12,5"),
                Expect::Ok(money("12.5")),
            ),
            case(
                "leading decimal point",
                "Price",
                json!(".5"),
                Expect::Ok(money("0.5")),
            ),
            case(
                "0,299 cannot be grouping",
                "Price",
                json!("0,29"),
                Expect::Ok(money("0.29")),
            ),
            case(
                "padded",
                "Price",
                json!("  19.99 "),
                Expect::Ok(money("19.99")),
            ),
        ]);
    }

    #[test]
    fn money_text_with_a_lone_comma_and_three_digits_is_ambiguous() {
        check(vec![
            case(
                "1,299",
                "Price",
                json!("1,299"),
                Expect::Err(&["price \"1,299\" is ambiguous", "(1299)", "(1.299)"]),
            ),
            case(
                "$1,299",
                "Cost",
                json!("$1,299"),
                Expect::Err(&["is ambiguous"]),
            ),
            in_currency(
                "KWD",
                case(
                    "even with three decimals",
                    "Price",
                    json!("1,299"),
                    Expect::Err(&["is ambiguous"]),
                ),
            ),
        ]);
    }

    #[test]
    fn money_text_that_is_not_a_number_is_refused() {
        check(vec![
            case(
                "word",
                "Price",
                json!("abc"),
                Expect::Err(&["price \"abc\" is not a number"]),
            ),
            case(
                "unit",
                "Price",
                json!("12 pcs"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "two decimal points",
                "Price",
                json!("1.2.3"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "double separator",
                "Price",
                json!("12..5"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "bad grouping",
                "Price",
                json!("1,29,000"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "trailing separator",
                "Price",
                json!("12."),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "exponent",
                "Price",
                json!("1e5"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "other currency code",
                "Price",
                json!("12.50 EUR"),
                Expect::Err(&["is in EUR but the shop's currency is USD"]),
            ),
            case(
                "other currency symbol",
                "Cost",
                json!("€5"),
                Expect::Err(&["is in EUR but the shop's currency is USD"]),
            ),
            case(
                "sign alone",
                "Price",
                json!("-"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "doubled symbol",
                "Price",
                json!("$$12"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "unknown word prefix",
                "Price",
                json!("kr 12"),
                Expect::Err(&["is not a number"]),
            ),
        ]);
    }

    #[test]
    fn negative_money_is_an_error_but_negative_stock_is_oversold() {
        check(vec![
            case(
                "negative price",
                "Price",
                json!(-5),
                Expect::Err(&["price -5 is negative"]),
            ),
            case(
                "negative price text",
                "Price",
                json!("-$5.00"),
                Expect::Err(&["price \"-$5.00\" is negative"]),
            ),
            case(
                "negative compare-at",
                "Compare at",
                json!(-0.5),
                Expect::Err(&["compare_at_price -0.5 is negative"]),
            ),
            case(
                "negative cost",
                "Cost",
                json!("−1"),
                Expect::Err(&["is negative"]),
            ),
            case(
                "negative stock",
                "Main Warehouse",
                json!(-3),
                Expect::Ok(qty(-3)),
            ),
            case(
                "negative stock text",
                "Main Warehouse",
                json!("-1,200"),
                Expect::Ok(qty(-1200)),
            ),
        ]);
    }

    #[test]
    fn values_beyond_what_the_store_holds_are_errors() {
        check(vec![
            case(
                "largest price",
                "Price",
                json!(999_999_999_999_999_999u64),
                Expect::Ok(money("999999999999999999")),
            ),
            case(
                "10^18",
                "Price",
                json!(1_000_000_000_000_000_000u64),
                Expect::Err(&["too large", "10^18"]),
            ),
            case(
                "float beyond",
                "Cost",
                json!(1e21),
                Expect::Err(&["cost 1000000000000000000000 is too large"]),
            ),
            case(
                "text beyond",
                "Price",
                json!("1,000,000,000,000,000,000.00"),
                Expect::Err(&["too large"]),
            ),
            case(
                "stock at the limit",
                "Main Warehouse",
                json!(1_000_000_000),
                Expect::Ok(qty(1_000_000_000)),
            ),
            case(
                "stock below the negative limit",
                "Main Warehouse",
                json!(-1_000_000_000),
                Expect::Ok(qty(-1_000_000_000)),
            ),
            case(
                "stock beyond",
                "Main Warehouse",
                json!(1_000_000_001),
                Expect::Err(&["beyond ±1000000000"]),
            ),
            case(
                "negative stock beyond",
                "Main Warehouse",
                json!(-1_000_000_001),
                Expect::Err(&["beyond"]),
            ),
            case(
                "huge stock text",
                "Main Warehouse",
                json!("99999999999999999999"),
                Expect::Err(&["beyond"]),
            ),
        ]);
    }

    #[test]
    fn stock_is_a_whole_number() {
        check(vec![
            case("integer", "Main Warehouse", json!(12), Expect::Ok(qty(12))),
            case(
                "integral float",
                "Main Warehouse",
                json!(12.0),
                Expect::Ok(qty(12)),
            ),
            case("zero", "Main Warehouse", json!(0), Expect::Ok(qty(0))),
            case(
                "fraction",
                "Main Warehouse",
                json!(12.5),
                Expect::Err(&["stock at \"Main Warehouse\" 12.5 is not a whole number"]),
            ),
            case(
                "text 3.0",
                "Main Warehouse",
                json!("3.0"),
                Expect::Ok(qty(3)),
            ),
            case(
                "text fraction",
                "Main Warehouse",
                json!("3,5"),
                Expect::Err(&["is not a whole number"]),
            ),
            case(
                "text thousands comma",
                "Main Warehouse",
                json!("1,200"),
                Expect::Ok(qty(1200)),
            ),
            case(
                "text thousands space",
                "Main Warehouse",
                json!("1 200"),
                Expect::Ok(qty(1200)),
            ),
            case(
                "currency in stock",
                "Main Warehouse",
                json!("$5"),
                Expect::Err(&["is not a number"]),
            ),
            case(
                "word",
                "Main Warehouse",
                json!("lots"),
                Expect::Err(&["stock at \"Main Warehouse\" \"lots\" is not a number"]),
            ),
        ]);
    }

    #[test]
    fn barcodes_as_text_are_kept_trimmed() {
        check(vec![
            case(
                "leading zeros",
                "Barcode",
                json!("0012345678905"),
                Expect::Ok(text("0012345678905")),
            ),
            case(
                "padded",
                "Barcode",
                json!("  ABC-1 "),
                Expect::Ok(text("ABC-1")),
            ),
            case(
                "Excel scientific notation",
                "Barcode",
                json!("3.65275E+11"),
                Expect::Err(&[
                    "barcode \"3.65275E+11\" is a number in scientific notation",
                    "plain text",
                ]),
            ),
        ]);
    }

    #[test]
    fn barcodes_sheets_made_numbers_keep_their_digits_or_fail() {
        check(vec![
            case(
                "digits",
                "Barcode",
                json!(12345678905u64),
                Expect::Ok(Intent::NumericBarcode("12345678905".to_owned())),
            ),
            case(
                "integral float",
                "Barcode",
                json!(42.0),
                Expect::Ok(Intent::NumericBarcode("42".to_owned())),
            ),
            case(
                "2^53",
                "Barcode",
                json!(9_007_199_254_740_992u64),
                Expect::Ok(Intent::NumericBarcode("9007199254740992".to_owned())),
            ),
            case(
                "beyond 2^53",
                "Barcode",
                json!(9_007_199_254_740_993u64),
                Expect::Err(&["barcode 9007199254740993", "plain text"]),
            ),
            case(
                "negative",
                "Barcode",
                json!(-5),
                Expect::Err(&["plain text"]),
            ),
            case(
                "fraction",
                "Barcode",
                json!(1.5),
                Expect::Err(&["barcode 1.5", "plain text"]),
            ),
        ]);
    }

    #[test]
    fn dates_in_number_columns_are_named_as_dates() {
        check(vec![
            case(
                "ISO date price",
                "Price",
                json!("2024-01-05"),
                Expect::Err(&["price \"2024-01-05\" looks like a date"]),
            ),
            case(
                "US date stock",
                "Main Warehouse",
                json!("1/5/2024"),
                Expect::Err(&["looks like a date"]),
            ),
            case(
                "European date cost",
                "Cost",
                json!("05.01.2024"),
                Expect::Err(&["looks like a date"]),
            ),
            case(
                "date and time",
                "Compare at",
                json!("2024-01-05 10:30:00"),
                Expect::Err(&["looks like a date"]),
            ),
        ]);
    }

    #[test]
    fn formula_errors_are_row_errors() {
        let mut cases: Vec<Case> = FORMULA_ERRORS
            .iter()
            .map(|e| {
                case(
                    "price",
                    "Price",
                    json!(e),
                    Expect::Err(&["is a formula error"]),
                )
            })
            .collect();
        cases.push(case(
            "stock",
            "Main Warehouse",
            json!("#N/A"),
            Expect::Err(&["stock at \"Main Warehouse\" \"#N/A\" is a formula error"]),
        ));
        cases.push(case(
            "barcode",
            "Barcode",
            json!("#REF!"),
            Expect::Err(&["barcode \"#REF!\" is a formula error"]),
        ));
        cases.push(case(
            "unlisted error code",
            "Cost",
            json!("#UNKNOWN!"),
            Expect::Err(&["is a formula error"]),
        ));
        check(cases);

        let parsed = sheet(&[&[("SKU", json!("#N/A")), ("Price", json!(5))]], "USD");
        assert_eq!(parsed.rows, vec![]);
        assert_eq!(
            parsed.errors.len(),
            1,
            "no second 'no SKU' error: {:?}",
            parsed.errors
        );
        assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A2");
        assert_eq!(parsed.errors[0].message, "SKU \"#N/A\" is a formula error");
    }

    #[test]
    fn booleans_are_row_errors() {
        check(vec![
            case(
                "price",
                "Price",
                json!(true),
                Expect::Err(&["price TRUE is a checkbox"]),
            ),
            case(
                "stock",
                "Main Warehouse",
                json!(false),
                Expect::Err(&["stock at \"Main Warehouse\" FALSE is a checkbox"]),
            ),
            case(
                "barcode",
                "Barcode",
                json!(true),
                Expect::Err(&["barcode TRUE is a checkbox"]),
            ),
        ]);
        let parsed = sheet(&[&[("SKU", json!(true)), ("Price", json!(5))]], "USD");
        assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A2");
        assert!(
            parsed.errors[0]
                .message
                .starts_with("SKU TRUE is a checkbox")
        );
    }

    #[test]
    fn duplicate_skus_fail_every_copy() {
        let parsed = sheet(
            &[
                &[("SKU", json!("TEE-1")), ("Price", json!(10))],
                &[("SKU", json!("MUG-1")), ("Price", json!(7))],
                &[("SKU", json!(" TEE-1 ")), ("Price", json!(11))],
                &[("SKU", json!("TEE-1")), ("Price", json!("oops"))],
            ],
            "USD",
        );
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| r.sku.as_str())
                .collect::<Vec<_>>(),
            ["MUG-1"]
        );
        let errors: Vec<(String, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.cell.to_string(), e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    "Inventory!A2".to_owned(),
                    "SKU \"TEE-1\" also appears in rows 4, 5; none of these rows is applied"
                ),
                (
                    "Inventory!A4".to_owned(),
                    "SKU \"TEE-1\" also appears in rows 2, 5; none of these rows is applied"
                ),
                (
                    "Inventory!A5".to_owned(),
                    "SKU \"TEE-1\" also appears in rows 2, 4; none of these rows is applied"
                ),
                ("Inventory!C5".to_owned(), "price \"oops\" is not a number"),
            ]
        );
        assert_eq!((parsed.rows_read, parsed.skus_read), (4, 2));

        let pair = sheet(&[&[("SKU", json!("A"))], &[("SKU", json!("A"))]], "USD");
        assert_eq!(
            pair.errors[0].message,
            "SKU \"A\" also appears in row 3; none of these rows is applied"
        );
    }

    #[test]
    fn a_row_with_values_but_no_sku_is_an_error() {
        let parsed = sheet(
            &[
                &[("SKU", json!("TEE-1")), ("Price", json!(10))],
                &[
                    ("SKU", json!("   ")),
                    ("Price", json!(12)),
                    ("Title", json!("Orphan")),
                ],
                &[("Title", json!("Only a title"))],
            ],
            "USD",
        );
        assert_eq!(parsed.rows.len(), 1);
        let errors: Vec<(String, Option<Sku>, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.cell.to_string(), e.sku.clone(), e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                ("Inventory!A3".to_owned(), None, "row has values but no SKU"),
                ("Inventory!A4".to_owned(), None, "row has values but no SKU"),
            ]
        );
        assert_eq!((parsed.rows_read, parsed.skus_read), (3, 1));
    }

    #[test]
    fn all_blank_rows_are_skipped_and_not_counted() {
        let rows = grid(json!([
            HEADERS,
            ["TEE-1", "", 10],
            [],
            ["", " ", "", "", "", "", "", "synced 2026-01-01"],
            ["  ", "\u{a0}"],
            ["MUG-1", "", 7],
        ]));
        let parsed = read(&rows, "USD");
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| (r.row, r.sku.as_str()))
                .collect::<Vec<_>>(),
            [(2, "TEE-1"), (6, "MUG-1")]
        );
        assert_eq!((parsed.rows_read, parsed.skus_read), (2, 2));
    }

    #[test]
    fn ragged_and_short_columns_read_as_blank() {
        // Stock runs three rows further than every other column; price stops at its header.
        let rows = grid(json!([
            HEADERS,
            ["TEE-1", "Tee"],
            ["MUG-1", "", "", "", "", "", 4],
            [],
            [],
            ["", "", "", "", "", "", 9],
        ]));
        let layout = locate(TAB, &rows, &specs()).expect("headers");
        let columns = columns_of(&rows, &layout);
        assert_eq!(columns[2].len(), 1, "price column holds only its header");
        assert_eq!(columns[6].len(), 6);
        let parsed = parse(&layout, &columns, &Currency::new("USD")).expect("parsed");
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(
            parsed.rows[0].values.keys().collect::<Vec<_>>(),
            vec![&FieldKey::variant(Field::Title)]
        );
        assert_eq!(
            parsed.rows[0].product,
            BTreeMap::from([("title", "Tee".to_owned())])
        );
        assert_eq!(
            parsed.rows[1].values[&FieldKey::stock("Main Warehouse")].intent,
            qty(4)
        );
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!A6");
        assert_eq!(parsed.errors[0].message, "row has values but no SKU");

        // A column vector missing altogether has lost its header cell as well.
        let mut short = columns.clone();
        short.truncate(7);
        assert_eq!(
            parse(&layout, &short, &Currency::new("USD")).map(|p| p.rows.len()),
            Err(HeaderError::Moved {
                cell: CellRef::new(TAB, 7, 1),
                expected: "Sync status".to_owned(),
                found: String::new(),
            })
        );
    }

    #[test]
    fn header_row_is_the_first_non_empty_row() {
        let rows = grid(json!([
            [],
            ["", "  "],
            [" SKU ", "Title", "Price"],
            ["TEE-1", "", "x"]
        ]));
        let specs: Vec<ColumnSpec> = specs().into_iter().take(3).collect();
        let layout = locate(TAB, &rows, &specs).expect("headers");
        assert_eq!(layout.header_row, 3);
        assert_eq!(
            layout.columns.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let parsed =
            parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
        assert_eq!(parsed.errors[0].cell.to_string(), "Inventory!C4");
        assert_eq!(parsed.errors[0].row, 4);
    }

    #[test]
    fn header_missing_lists_the_headers_found() {
        let rows = grid(json!([["SKU", "Title", "Prices", "", "Cost"]]));
        let err = locate(TAB, &rows, &specs()).expect_err("price missing");
        assert_eq!(
            err,
            HeaderError::Missing {
                tab: TAB.to_owned(),
                row: 1,
                header: "Price".to_owned(),
                found: vec![
                    "SKU".to_owned(),
                    "Title".to_owned(),
                    "Prices".to_owned(),
                    "Cost".to_owned()
                ],
            }
        );
        assert!(
            err.to_string()
                .contains("headers found: [\"SKU\", \"Title\", \"Prices\", \"Cost\"]"),
            "{err}"
        );
    }

    #[test]
    fn header_twice_names_both_cells() {
        let mut headers: Vec<Json> = HEADERS.iter().map(|h| json!(h)).collect();
        headers.push(json!(" Price "));
        let err = locate("Q1 stock", &[headers], &specs()).expect_err("price twice");
        let HeaderError::Duplicate {
            header, cells, row, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (header.as_str(), cells.as_str(), *row),
            ("Price", "'Q1 stock'!C1, 'Q1 stock'!I1", 1)
        );
        assert!(err.to_string().contains("appears more than once"), "{err}");
    }

    #[test]
    fn header_that_moved_since_it_was_located_is_refused() {
        let rows = grid(json!([HEADERS, ["TEE-1", "", 10]]));
        let layout = locate(TAB, &rows, &specs()).expect("headers");
        let mut columns = columns_of(&rows, &layout);
        columns[2][0] = json!("Cost");
        let err = parse(&layout, &columns, &Currency::new("USD")).expect_err("moved");
        assert_eq!(
            err,
            HeaderError::Moved {
                cell: CellRef::new(TAB, 2, 1),
                expected: "Price".to_owned(),
                found: "Cost".to_owned(),
            }
        );
        assert!(
            err.to_string()
                .starts_with("column Inventory!C1 should hold header \"Price\""),
            "{err}"
        );

        // A column returned empty has lost its header too.
        let mut columns = columns_of(&rows, &layout);
        columns[4] = vec![];
        assert!(
            matches!(parse(&layout, &columns, &Currency::new("USD")), Err(HeaderError::Moved { found, .. }) if found.is_empty())
        );
    }

    #[test]
    fn empty_tab_has_no_header_row() {
        for rows in [vec![], grid(json!([[], ["", " "], [null]]))] {
            assert_eq!(
                locate(TAB, &rows, &specs()),
                Err(HeaderError::EmptyTab {
                    tab: TAB.to_owned()
                })
            );
        }
    }

    #[test]
    fn long_cells_are_quoted_truncated() {
        let long = "x".repeat(50_000);
        let parsed = sheet(&[&[("SKU", json!("TEE-1")), ("Price", json!(long))]], "USD");
        let message = &parsed.errors[0].message;
        assert_eq!(
            message,
            &format!("price \"{}…\" is not a number", "x".repeat(40))
        );

        let long_sku = format!("S{}", "é".repeat(49_999));
        let parsed = sheet(
            &[&[("SKU", json!(long_sku))], &[("SKU", json!(long_sku))]],
            "USD",
        );
        assert!(
            parsed
                .errors
                .iter()
                .all(|e| e.message.chars().count() < 120),
            "{:?}",
            parsed.errors[0].message
        );
    }

    #[test]
    fn skus_are_trimmed_unicode_and_case_sensitive() {
        let parsed = sheet(
            &[
                &[("SKU", json!(" Tëe-1\u{a0}")), ("Price", json!(1))],
                &[("SKU", json!("tëe-1")), ("Price", json!(2))],
                &[("SKU", json!("杯子-☕")), ("Price", json!(3))],
            ],
            "USD",
        );
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| r.sku.as_str())
                .collect::<Vec<_>>(),
            ["Tëe-1", "tëe-1", "杯子-☕"]
        );
        assert_eq!(parsed.skus_read, 3);
    }

    #[test]
    fn numeric_skus_are_read_as_their_text() {
        let parsed = sheet(
            &[
                &[("SKU", json!(12345)), ("Price", json!(1))],
                &[("SKU", json!(12.5)), ("Price", json!(1))],
                &[("SKU", json!("12345")), ("Price", json!(1))],
                &[("SKU", json!(1e20)), ("Price", json!(1))],
            ],
            "USD",
        );
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| r.sku.as_str())
                .collect::<Vec<_>>(),
            ["12.5"]
        );
        let errors: Vec<(String, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.cell.to_string(), e.message.as_str()))
            .collect();
        assert_eq!(errors[0].0, "Inventory!A2");
        assert!(
            errors[0].1.contains("SKU \"12345\" also appears in row 4"),
            "{errors:?}"
        );
        assert_eq!(errors[2].0, "Inventory!A5");
        assert!(
            errors[2]
                .1
                .starts_with("SKU 100000000000000000000 is too long a number"),
            "{errors:?}"
        );
    }

    #[test]
    fn product_columns_are_kept_as_text_and_status_is_ignored() {
        let parsed = sheet(
            &[&[
                ("SKU", json!("TEE-1")),
                ("Title", json!("  Red tee ")),
                ("Sync status", json!("price \"abc\" is not a number")),
            ]],
            "USD",
        );
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(
            parsed.rows[0].product,
            BTreeMap::from([("title", "Red tee".to_owned())])
        );
        assert_eq!(
            parsed.rows[0].values[&FieldKey::variant(Field::Title)].intent,
            Intent::Set(Value::Text("Red tee".to_owned()))
        );

        let numeric = sheet(&[&[("SKU", json!("A")), ("Title", json!(1984))]], "USD");
        assert_eq!(numeric.rows[0].product["title"], "1984");
    }

    #[test]
    fn product_type_and_description_are_text_and_clear_empties_them() {
        let html = "<p>Soft <b>cotton</b>,\n\"washed\".</p>";
        assert_eq!(
            read_product(Field::Description, &json!(format!("  {html}\n"))),
            Ok(Intent::Set(Value::Text(html.to_owned())))
        );
        assert_eq!(
            read_product(Field::ProductType, &json!("Shirts")),
            Ok(Intent::Set(Value::Text("Shirts".to_owned())))
        );
        for field in [Field::ProductType, Field::Description] {
            assert_eq!(read_product(field, &json!("clear")), Ok(Intent::Clear));
        }
        assert!(read_product(Field::Title, &json!("CLEAR")).is_err());
        assert!(read_product(Field::Vendor, &json!("CLEAR")).is_err());
    }

    #[test]
    fn a_row_per_location_is_stock_at_that_location_and_skus_repeat_per_location() {
        let specs = vec![
            ColumnSpec {
                key: ColumnKey::Sku,
                header: "SKU".into(),
            },
            ColumnSpec {
                key: ColumnKey::RowLocation(vec!["Main".into(), "Annex".into()]),
                header: "Location".into(),
            },
            ColumnSpec {
                key: ColumnKey::RowStock,
                header: "Available".into(),
            },
        ];
        let rows = grid(json!([
            ["Handle", "SKU", "Location", "Available"],
            ["tee", "A", "Main", 3],
            ["tee", "A", "Annex", -1],
            ["tee", "A", "Popup", 9],
            ["mug", "", "Main", 4],
            ["cup", "B", "", 2],
            ["cap", "C", "Main", ""],
            ["hat", "D", "Annex", 1],
            ["hat", "D", "Annex", 2]
        ]));
        let layout = locate(TAB, &rows, &specs).expect("headers");
        let parsed =
            parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
        let stock: Vec<(u32, &str, Option<&str>, Vec<&FieldKey>)> = parsed
            .rows
            .iter()
            .map(|r| {
                (
                    r.row,
                    r.sku.as_str(),
                    r.location.as_deref(),
                    r.values.keys().collect(),
                )
            })
            .collect();
        assert_eq!(
            stock,
            vec![
                (2, "A", Some("Main"), vec![&FieldKey::stock("Main")]),
                (3, "A", Some("Annex"), vec![&FieldKey::stock("Annex")]),
                // A blank stock cell is "leave alone", as anywhere.
                (7, "C", Some("Main"), vec![]),
            ]
        );
        assert_eq!(
            parsed.rows[1].values[&FieldKey::stock("Annex")].cell,
            CellRef::new(TAB, 3, 3)
        );
        let errors: Vec<(u32, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.row, e.message.as_str()))
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[0],
            (
                6,
                "stock 2 has no location: its row's Location cell is blank"
            )
        );
        assert!(
            errors[1]
                .1
                .contains("at location \"Annex\" also appears in row 9")
        );
        assert_eq!(errors[2].0, 9);
        // The mug has no SKU: skipped and counted; Popup is not configured: not read.
        assert_eq!(parsed.rows_without_sku, 1);
        assert_eq!(
            parsed.other_locations,
            BTreeMap::from([("Popup".to_owned(), 1)])
        );
        assert_eq!((parsed.rows_read, parsed.skus_read), (7, 4));
        assert!(
            parsed
                .skipped_note()
                .is_some_and(|n| n.contains("\"Popup\""))
        );

        // Only unlisted locations: a config error, not an empty sheet.
        let popup = grid(json!([["SKU", "Location", "Available"], ["A", "Popup", 1]]));
        let layout = locate(TAB, &popup, &specs).expect("headers");
        assert!(matches!(
            parse(&layout, &columns_of(&popup, &layout), &Currency::new("USD")),
            Err(HeaderError::NoConfiguredLocation { .. })
        ));
    }

    #[test]
    fn a_draft_is_no_bigger_than_a_row() {
        // Rows are built in the drafts' buffer: any excess stays allocated for the
        // whole run (issue 8's memory bound).
        assert!(std::mem::size_of::<Draft>() <= std::mem::size_of::<Row>());
    }

    #[test]
    fn a_valid_row_records_every_entry_with_its_cell_and_raw_value() {
        let parsed = sheet(
            &[&[
                ("SKU", json!("TEE-1")),
                ("Price", json!(21)),
                ("Compare at", json!("CLEAR")),
                ("Cost", json!("9,50")),
                ("Barcode", json!(123)),
                ("Main Warehouse", json!(15)),
            ]],
            "EUR",
        );
        assert_eq!(parsed.errors, vec![]);
        let row = &parsed.rows[0];
        assert_eq!((row.row, row.sku.as_str()), (2, "TEE-1"));
        let entries: Vec<(String, String, &Intent, &Json)> = row
            .values
            .iter()
            .map(|(k, e)| (k.to_string(), e.cell.to_string(), &e.intent, &e.raw))
            .collect();
        assert_eq!(
            entries,
            [
                (
                    "price".to_owned(),
                    "Inventory!C2".to_owned(),
                    &money("21"),
                    &json!(21)
                ),
                (
                    "compare_at_price".to_owned(),
                    "Inventory!D2".to_owned(),
                    &Intent::Clear,
                    &json!("CLEAR")
                ),
                (
                    "cost".to_owned(),
                    "Inventory!E2".to_owned(),
                    &money("9.5"),
                    &json!("9,50")
                ),
                (
                    "barcode".to_owned(),
                    "Inventory!F2".to_owned(),
                    &Intent::NumericBarcode("123".to_owned()),
                    &json!(123)
                ),
                (
                    "inventory@Main Warehouse".to_owned(),
                    "Inventory!G2".to_owned(),
                    &qty(15),
                    &json!(15)
                ),
            ]
        );
    }

    #[test]
    fn every_bad_cell_of_a_row_is_reported_in_cell_order() {
        let parsed = sheet(
            &[
                &[("SKU", json!("OK-1")), ("Price", json!(1))],
                &[
                    ("SKU", json!("BAD-1")),
                    ("Main Warehouse", json!(1.5)),
                    ("Price", json!("abc")),
                    ("Cost", json!(-1)),
                ],
                &[("SKU", json!("OK-2")), ("Price", json!(2))],
            ],
            "USD",
        );
        assert_eq!(
            parsed.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            [2, 4]
        );
        let cells: Vec<String> = parsed.errors.iter().map(|e| e.cell.to_string()).collect();
        assert_eq!(cells, ["Inventory!C3", "Inventory!E3", "Inventory!G3"]);
        assert_eq!(parsed.errors[0].message, "price \"abc\" is not a number");
        assert!(
            parsed
                .errors
                .iter()
                .all(|e| e.sku.as_ref().map(Sku::as_str) == Some("BAD-1"))
        );
        assert_eq!((parsed.rows_read, parsed.skus_read), (3, 3));
    }

    #[test]
    fn cell_refs_quote_tab_names_that_need_it() {
        let rows = grid(json!([HEADERS, ["TEE-1", "", "abc"]]));
        let layout = locate("Bob's stock", &rows, &specs()).expect("headers");
        let parsed =
            parse(&layout, &columns_of(&rows, &layout), &Currency::new("USD")).expect("parsed");
        assert_eq!(parsed.errors[0].cell.to_string(), "'Bob''s stock'!C2");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Whatever a person types, every column yields a value or a row error that
            /// names its cell, never a panic.
            #[test]
            fn any_text_parses_or_errors(input in "[-+$€ .,0-9a-zA-Z#/!?\u{a0}]{0,16}", header in 2usize..7) {
                let header = HEADERS[header];
                let parsed = sheet(&[&[("SKU", json!("A")), (header, json!(input))]], "USD");
                for error in &parsed.errors {
                    prop_assert_eq!(error.cell.to_string(), cell(header, 2));
                }
                prop_assert!(parsed.rows.len() + usize::from(!parsed.errors.is_empty()) == 1);
            }

            /// A money amount written with the currency's decimals always reads back exactly.
            #[test]
            fn written_amounts_read_back(cents in 0u64..10_000_000_000) {
                let amount = Decimal::new(cents as i64, 2);
                for textual in [json!(amount.to_string()), json!(format!("${amount}"))] {
                    let parsed = sheet(&[&[("SKU", json!("A")), ("Price", textual.clone())]], "USD");
                    let intent = &parsed.rows[0].values[&FieldKey::variant(Field::Price)].intent;
                    prop_assert_eq!(intent, &Intent::Set(Value::Money(amount)));
                }
            }
        }
    }
}
