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

pub use crate::model::rows::{
    Cells, ColumnKey, ColumnSpec, Entry, Intent, ParsedSheet, Row, RowError,
};

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
        values: Cells::with_capacity(cells_hint),
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
            ColumnKey::OwnStock => read_stock(raw).map(|i| (FieldKey::own_stock(), i)),
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
        ColumnKey::OwnStock => "stock".to_owned(),
        ColumnKey::Product(name) => (*name).to_owned(),
        ColumnKey::Status => "status".to_owned(),
        ColumnKey::SyncedAt => "synced_at".to_owned(),
        ColumnKey::RowLocation(_) => "location".to_owned(),
        ColumnKey::RowStock => "stock".to_owned(),
    }
}

fn row_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn column_number(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

mod cells;
mod columns;
mod numbers;
#[cfg(test)]
mod tests;

use cells::*;
use columns::*;
use numbers::*;
