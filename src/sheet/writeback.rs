//! Write-back (SPEC §4.5): what a run writes into the sheet, and the one guarded write.
//!
//! The cell writes ([`RowWrites`]) each carry the value the cell held when the plan read
//! it; what a sync writes (pulled values, the status cell, `synced_at`) is decided from
//! its report in `report::writeback`. [`execute`] is the IO step: right before writing it re-reads the
//! SKU column and the target columns in one `values.batchGet`, keeps a row only while its
//! SKU cell and every target cell still hold what the plan read (otherwise the row is
//! skipped with [`SHEET_CHANGED`] and retried next run), and sends the cells that actually
//! change in one `values.batchUpdate`, `RAW`. A cell counts as written only when the
//! response's `updatedRange` covers it, which is what lets the caller move the baseline.
//!
//! Why a moved row is skipped instead of followed: the plan's values were judged against
//! the row as read; after a sort or a move the merchant may be mid-edit, and writing into
//! "where the SKU went" risks landing a value in the wrong row if the move is still under
//! way. Skipping is always safe, because the next run re-reads and re-plans.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::google::SheetsClient;
use super::parse::{ColumnKey, Layout};
use crate::model::{CellRef, Sku, Value, quote_tab};
use serde::{Deserialize, Serialize};

/// What write-back did to the sheet (SPEC §4.5): cells written and rows left alone
/// because the sheet changed under the run. Absent in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteBackReport {
    /// Cells the one `values.batchUpdate` confirmed written.
    pub cells_written: usize,
    /// Rows not written, with why (`sheet changed during run`): retried next run.
    pub rows_skipped: Vec<RowSkip>,
    /// Why the sheet write failed as a whole, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowSkip {
    pub row: u32,
    pub sku: Option<String>,
    pub reason: String,
}

/// The outcome of a row whose cells no longer hold what the plan read.
pub const SHEET_CHANGED: &str = "sheet changed during run";

/// The status text of a row with nothing to report.
pub const STATUS_OK: &str = "OK";

/// One cell to write, guarded by what the plan read there.
#[derive(Debug, Clone, PartialEq)]
pub struct CellWrite {
    pub cell: CellRef,
    /// The cell as read for the plan (`Null` = blank): it is written only while it still
    /// holds this.
    pub expected: Json,
    pub value: Json,
    /// What this write settles for the caller (a pull's index, a baseline entry's index).
    pub carries: Option<usize>,
}

/// The writes of one row, addressed by its SKU cell.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWrites {
    pub row: u32,
    pub sku: Option<Sku>,
    /// The SKU cell as read for the plan: the row is written only while it holds this.
    pub sku_expected: Json,
    pub cells: Vec<CellWrite>,
}

/// Where one cell write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Confirmed by the response's `updatedRange`.
    Written,
    /// The cell already held the value: nothing was sent for it.
    AlreadyThere,
    Skipped(String),
    Failed(String),
}

impl Fate {
    /// The sheet is known to hold the value now.
    pub fn confirmed(&self) -> bool {
        matches!(self, Fate::Written | Fate::AlreadyThere)
    }
}

/// What [`execute`] did: one fate per cell (parallel to the rows and their cells) and
/// the report's summary of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub fates: Vec<Vec<Fate>>,
    pub report: WriteBackReport,
}

/// The columns a run read, addressed by sheet column and row.
pub struct ReadGrid<'a> {
    pub layout: &'a Layout,
    /// As `SheetsClient::read_columns` returned them for `layout.columns`, in order.
    pub columns: &'a [Vec<Json>],
}

impl ReadGrid<'_> {
    /// The cell at zero-based column `col`, one-based `row`, as read (`Null` = blank or
    /// not read).
    pub fn at(&self, col: u32, row: u32) -> Json {
        self.layout
            .columns
            .iter()
            .position(|(_, c)| *c == col)
            .and_then(|i| self.columns.get(i))
            .and_then(|column| column.get(row.saturating_sub(1) as usize))
            .cloned()
            .unwrap_or(Json::Null)
    }

    pub fn column_of(&self, key: &ColumnKey) -> Option<u32> {
        self.layout
            .columns
            .iter()
            .find(|(spec, _)| &spec.key == key)
            .map(|(_, c)| *c)
    }
}

/// A value as written into a cell (`RAW`): money and quantities as numbers, text as
/// text, empty as an empty string (which clears the cell).
pub fn sheet_value(value: Option<&Value>) -> Json {
    match value {
        None => Json::String(String::new()),
        Some(Value::Qty(q)) => Json::from(*q),
        // A JSON number parsed from the exact decimal: the sheet reads it back at its
        // shortest round-trip decimal, which is the same amount.
        Some(Value::Money(m)) => m
            .normalize()
            .to_string()
            .parse::<Json>()
            .unwrap_or_else(|_| Json::String(m.to_string())),
        Some(Value::Text(t)) => Json::String(t.clone()),
    }
}

/// Whether two cells hold the same thing: blank and `""` are the same, numbers compare by
/// value (`14` and `14.0`).
pub fn same(a: &Json, b: &Json) -> bool {
    let blank = |v: &Json| v.is_null() || v.as_str() == Some("");
    match (a, b) {
        _ if blank(a) || blank(b) => blank(a) && blank(b),
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether an `updatedRange` (`Tab!C7`, `'My tab'!C7:D9`) covers `cell`.
pub fn covers(range: &str, cell: &CellRef) -> bool {
    let Some((tab, cells)) = range.rsplit_once('!') else {
        return false;
    };
    if tab != quote_tab(&cell.tab) && tab != &*cell.tab {
        return false;
    }
    let (start, end) = cells.split_once(':').unwrap_or((cells, cells));
    match (parse_a1(start), parse_a1(end)) {
        (Some((c0, r0)), Some((c1, r1))) => {
            (c0..=c1).contains(&cell.col) && (r0..=r1).contains(&cell.row)
        }
        _ => false,
    }
}

/// `C7` → (2, 7): zero-based column, one-based row.
fn parse_a1(a1: &str) -> Option<(u32, u32)> {
    let split = a1.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = a1.split_at(split);
    if letters.is_empty() || !letters.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let col = letters.bytes().try_fold(0u32, |acc, b| {
        acc.checked_mul(26)?.checked_add(u32::from(b - b'A') + 1)
    })? - 1;
    Some((col, digits.parse().ok()?))
}

/// The IO step: re-read the SKU column and the target columns (one `values.batchGet`),
/// keep the rows that still hold what the plan read, and write the cells that change in
/// one `values.batchUpdate`. Makes no call at all when there is nothing to write.
pub async fn execute(
    sheets: &SheetsClient,
    spreadsheet_id: &str,
    tab: &str,
    sku_col: u32,
    rows: &[RowWrites],
) -> Outcome {
    let mut out = Outcome {
        fates: rows
            .iter()
            .map(|r| vec![Fate::AlreadyThere; r.cells.len()])
            .collect(),
        report: WriteBackReport::default(),
    };
    if rows.iter().all(|r| r.cells.is_empty()) {
        return out;
    }
    let mut cols: Vec<u32> = rows
        .iter()
        .flat_map(|r| r.cells.iter().map(|c| c.cell.col))
        .chain([sku_col])
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect();
    cols.sort_unstable();
    let fresh = match sheets.read_columns(spreadsheet_id, tab, &cols).await {
        Ok(columns) => columns,
        Err(e) => {
            let why = format!("re-reading the sheet before writing failed: {e}");
            fail_all(&mut out, &why);
            return out;
        }
    };
    let now_at = |col: u32, row: u32| -> Json {
        cols.iter()
            .position(|c| *c == col)
            .and_then(|i| fresh.get(i))
            .and_then(|column| column.get(row.saturating_sub(1) as usize))
            .cloned()
            .unwrap_or(Json::Null)
    };

    // (row index, cell index) of every cell to send, in request order.
    let mut sends: Vec<(usize, usize)> = Vec::new();
    for (ri, r) in rows.iter().enumerate() {
        let moved = !same(&now_at(sku_col, r.row), &r.sku_expected)
            || r.cells
                .iter()
                .any(|c| !same(&now_at(c.cell.col, c.cell.row), &c.expected));
        if moved {
            for fate in &mut out.fates[ri] {
                *fate = Fate::Skipped(SHEET_CHANGED.to_owned());
            }
            out.report.rows_skipped.push(RowSkip {
                row: r.row,
                sku: r.sku.as_ref().map(ToString::to_string),
                reason: SHEET_CHANGED.to_owned(),
            });
            continue;
        }
        for (ci, c) in r.cells.iter().enumerate() {
            if !same(&now_at(c.cell.col, c.cell.row), &c.value) {
                sends.push((ri, ci));
            }
        }
    }
    if sends.is_empty() {
        return out;
    }
    let payload: Vec<(CellRef, Json)> = sends
        .iter()
        .map(|&(ri, ci)| {
            let c = &rows[ri].cells[ci];
            (c.cell.clone(), c.value.clone())
        })
        .collect();
    match sheets.write_cells(spreadsheet_id, &payload).await {
        Ok(ranges) => {
            for (&(ri, ci), range) in sends.iter().zip(&ranges) {
                let cell = &rows[ri].cells[ci].cell;
                out.fates[ri][ci] = if covers(range, cell) {
                    out.report.cells_written += 1;
                    Fate::Written
                } else {
                    Fate::Failed(format!(
                        "the sheet did not confirm writing {cell} (it reported {range:?})"
                    ))
                };
            }
        }
        Err(e) => {
            let why = format!("writing to the sheet failed: {e}");
            for &(ri, ci) in &sends {
                out.fates[ri][ci] = Fate::Failed(why.clone());
            }
            out.report.error = Some(why);
        }
    }
    out
}

fn fail_all(out: &mut Outcome, why: &str) {
    for fates in &mut out.fates {
        for fate in fates {
            *fate = Fate::Failed(why.to_owned());
        }
    }
    out.report.error = Some(why.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_reads_single_cells_ranges_and_quoted_tabs() {
        let c = CellRef::new("Inventory", 6, 2);
        assert!(covers("Inventory!G2", &c));
        assert!(covers("Inventory!A1:Z9", &c));
        assert!(!covers("Inventory!G3", &c));
        assert!(!covers("Other!G2", &c));
        assert!(!covers("", &c));
        let q = CellRef::new("My tab", 27, 10);
        assert!(covers("'My tab'!AB10", &q));
        assert!(!covers("'My tab'!AA10", &q));
    }

    #[test]
    fn blank_and_numbers_compare_by_meaning() {
        assert!(same(&Json::Null, &Json::String(String::new())));
        assert!(same(&serde_json::json!(14), &serde_json::json!(14.0)));
        assert!(!same(&serde_json::json!(14), &serde_json::json!("14")));
        assert!(!same(&Json::Null, &serde_json::json!(0)));
    }

    #[test]
    fn values_are_written_as_the_sheet_reads_them() {
        use rust_decimal::Decimal;
        let m: Decimal = "19.90".parse().unwrap();
        assert_eq!(sheet_value(Some(&Value::Money(m))), serde_json::json!(19.9));
        assert_eq!(sheet_value(Some(&Value::Qty(-3))), serde_json::json!(-3));
        assert_eq!(
            sheet_value(Some(&Value::Text("0840".into()))),
            serde_json::json!("0840")
        );
        assert_eq!(sheet_value(None), serde_json::json!(""));
    }
}
