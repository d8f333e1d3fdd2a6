//! The fake's spreadsheet model: typed cells on tabs with a grid size, and the rules by
//! which the API renders them (value and date render options, ragged trimming,
//! `majorDimension`) and parses what clients write (RAW versus USER_ENTERED).

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Number, Value as Json};

/// One cell as the fake stores it. The API exposes no more than this through `values.*`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Number(f64),
    Text(String),
    Bool(bool),
    /// A formula error; its display text (`#N/A`) is all the values API ever shows.
    Error(String),
    /// A date or date-time: the serial (days since 1899-12-30) and the text the cell's
    /// number format shows.
    Date {
        serial: f64,
        text: String,
    },
}

/// How values are rendered (`valueRenderOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRender {
    Formatted,
    Unformatted,
    /// The fake stores no formulas, so this renders like `Unformatted`.
    Formula,
}

impl ValueRender {
    pub fn parse(s: Option<&str>) -> Option<ValueRender> {
        match s {
            None | Some("FORMATTED_VALUE") => Some(ValueRender::Formatted),
            Some("UNFORMATTED_VALUE") => Some(ValueRender::Unformatted),
            Some("FORMULA") => Some(ValueRender::Formula),
            Some(_) => None,
        }
    }
}

/// How dates are rendered when values are not formatted (`dateTimeRenderOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRender {
    Serial,
    FormattedString,
}

impl DateRender {
    pub fn parse(s: Option<&str>) -> Option<DateRender> {
        match s {
            None | Some("SERIAL_NUMBER") => Some(DateRender::Serial),
            Some("FORMATTED_STRING") => Some(DateRender::FormattedString),
            Some(_) => None,
        }
    }
}

/// The outer array of a ValueRange: rows or columns (`majorDimension`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    Rows,
    Columns,
}

impl Major {
    pub fn parse(s: Option<&str>) -> Option<Major> {
        match s {
            None | Some("ROWS") | Some("DIMENSION_UNSPECIFIED") => Some(Major::Rows),
            Some("COLUMNS") => Some(Major::Columns),
            Some(_) => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Major::Rows => "ROWS",
            Major::Columns => "COLUMNS",
        }
    }
}

/// Days between 1899-12-30 (serial 0) and 1970-01-01.
const UNIX_EPOCH_SERIAL: f64 = 25569.0;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default()
}

/// A JSON number the way the API writes it: whole values as integers (`2`, never `2.0`).
pub fn number_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

/// The shortest decimal text of a number, as the default "Automatic" format shows it.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

impl Cell {
    /// The serial of an ISO date (`2020-01-01` → 43831) or date-time (`2020-01-01 12:00:00`).
    pub fn date(text: &str) -> Option<Cell> {
        let serial = if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            (d - epoch()).num_days() as f64
        } else {
            let dt = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok()?;
            dt.and_utc().timestamp() as f64 / 86_400.0 + UNIX_EPOCH_SERIAL
        };
        Some(Cell::Date {
            serial,
            text: text.to_owned(),
        })
    }

    /// A cell from the fake's own seed notation: JSON scalars as themselves (`null` and
    /// `""` are empty), `{"date": "2024-03-01"}` (optionally with `"text"` for another
    /// display) and `{"error": "#N/A"}`. Anything else is kept as its JSON text.
    pub fn from_seed(v: &Json) -> Cell {
        match v {
            Json::Null => Cell::Empty,
            Json::String(s) if s.is_empty() => Cell::Empty,
            Json::String(s) => Cell::Text(s.clone()),
            Json::Number(n) => n.as_f64().map_or(Cell::Empty, Cell::Number),
            Json::Bool(b) => Cell::Bool(*b),
            Json::Object(o) => {
                if let Some(Json::String(e)) = o.get("error") {
                    return Cell::Error(e.clone());
                }
                if let Some(Json::String(d)) = o.get("date")
                    && let Some(Cell::Date { serial, text }) = Cell::date(d)
                {
                    let text = o
                        .get("text")
                        .and_then(Json::as_str)
                        .map_or(text, str::to_owned);
                    return Cell::Date { serial, text };
                }
                Cell::Text(v.to_string())
            }
            Json::Array(_) => Cell::Text(v.to_string()),
        }
    }

    /// What a RAW write stores: strings stay strings, even `"12"` or `"=1+1"`.
    /// `None` is a JSON `null`, which the API skips (leaves the cell as it was).
    pub fn from_raw(v: &Json) -> Option<Cell> {
        match v {
            Json::Null => None,
            Json::String(s) if s.is_empty() => Some(Cell::Empty),
            Json::String(s) => Some(Cell::Text(s.clone())),
            Json::Number(n) => Some(n.as_f64().map_or(Cell::Empty, Cell::Number)),
            Json::Bool(b) => Some(Cell::Bool(*b)),
            Json::Array(_) | Json::Object(_) => None,
        }
    }

    /// What a USER_ENTERED write stores: strings are parsed as if typed into the UI.
    /// Numbers (with thousands separators), TRUE/FALSE and ISO dates become typed
    /// values; a leading `'` forces text. Formulas are not evaluated by the fake: they
    /// are kept as their text.
    pub fn from_user_entered(v: &Json) -> Option<Cell> {
        let Json::String(s) = v else {
            return Cell::from_raw(v);
        };
        if let Some(text) = s.strip_prefix('\'') {
            return Some(if text.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(text.to_owned())
            });
        }
        let t = s.trim();
        if t.is_empty() {
            return Some(Cell::Empty);
        }
        if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
            return Some(Cell::Bool(t.eq_ignore_ascii_case("true")));
        }
        if let Some(n) = parse_typed_number(t) {
            return Some(Cell::Number(n));
        }
        if let Some(d) = Cell::date(t) {
            return Some(d);
        }
        Some(Cell::Text(s.clone()))
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }

    /// The cell as `values.get` returns it; `None` for an empty cell.
    pub fn render(&self, value: ValueRender, date: DateRender) -> Option<Json> {
        let formatted = value == ValueRender::Formatted;
        Some(match self {
            Cell::Empty => return None,
            Cell::Number(n) if formatted => Json::String(number_text(*n)),
            Cell::Number(n) => number_json(*n),
            Cell::Text(s) | Cell::Error(s) => Json::String(s.clone()),
            Cell::Bool(b) if formatted => Json::String(if *b { "TRUE" } else { "FALSE" }.into()),
            Cell::Bool(b) => Json::Bool(*b),
            Cell::Date { text, .. } if formatted || date == DateRender::FormattedString => {
                Json::String(text.clone())
            }
            Cell::Date { serial, .. } => number_json(*serial),
        })
    }
}

/// A number as the UI parses typed text: optional sign, thousands separators in groups
/// of three, a decimal point, an exponent.
fn parse_typed_number(t: &str) -> Option<f64> {
    let plain: String = if t.contains(',') {
        let (int, frac) = t.split_once('.').map_or((t, None), |(i, f)| (i, Some(f)));
        let digits = int.trim_start_matches(['-', '+']);
        let mut groups = digits.split(',');
        let first = groups.next()?;
        if first.is_empty() || first.len() > 3 || !groups.all(|g| g.len() == 3) {
            return None;
        }
        let joined = int.replace(',', "");
        match frac {
            Some(f) => format!("{joined}.{f}"),
            None => joined,
        }
    } else {
        t.to_owned()
    };
    let ok = plain
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && plain.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    plain.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// One tab: its properties and its cells (rows of cells, only as far as data reaches).
#[derive(Debug, Clone)]
pub struct Tab {
    pub sheet_id: i64,
    pub title: String,
    pub row_count: u32,
    pub col_count: u32,
    pub hidden: bool,
    pub cells: Vec<Vec<Cell>>,
}

impl Tab {
    pub fn get(&self, row: u32, col: u32) -> &Cell {
        static EMPTY: Cell = Cell::Empty;
        self.cells
            .get(row as usize)
            .and_then(|r| r.get(col as usize))
            .unwrap_or(&EMPTY)
    }

    pub fn set(&mut self, row: u32, col: u32, cell: Cell) {
        let (r, c) = (row as usize, col as usize);
        if cell.is_empty() && self.cells.get(r).is_none_or(|cells| c >= cells.len()) {
            return;
        }
        if self.cells.len() <= r {
            self.cells.resize(r + 1, Vec::new());
        }
        let line = &mut self.cells[r];
        if line.len() <= c {
            line.resize(c + 1, Cell::Empty);
        }
        line[c] = cell;
        self.row_count = self.row_count.max(row + 1);
        self.col_count = self.col_count.max(col + 1);
    }

    /// The values of a block, ragged the way the API returns them: trailing empty cells
    /// of each line and trailing empty lines dropped, interior empties as `""` and `[]`.
    pub fn values(
        &self,
        rect: &super::range::Rect,
        major: Major,
        value: ValueRender,
        date: DateRender,
    ) -> Vec<Vec<Json>> {
        let (outer, inner) = match major {
            Major::Rows => (rect.row0..=rect.row1, rect.col0..=rect.col1),
            Major::Columns => (rect.col0..=rect.col1, rect.row0..=rect.row1),
        };
        let mut lines: Vec<Vec<Json>> = outer
            .map(|o| {
                let mut line: Vec<Json> = inner
                    .clone()
                    .map(|i| {
                        let (r, c) = if major == Major::Rows { (o, i) } else { (i, o) };
                        self.get(r, c)
                            .render(value, date)
                            .unwrap_or(Json::String(String::new()))
                    })
                    .collect();
                while line.last().is_some_and(|v| v.as_str() == Some("")) {
                    line.pop();
                }
                line
            })
            .collect();
        while lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn render_options_match_the_recorded_table() {
        let cells = [
            Cell::Number(2.0),
            Cell::date("2020-01-01").unwrap(),
            Cell::Text("string".into()),
            Cell::Number(0.12),
        ];
        let row = |v, d| {
            cells
                .iter()
                .map(|c| c.render(v, d).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            row(ValueRender::Formatted, DateRender::Serial),
            vec![
                json!("2"),
                json!("2020-01-01"),
                json!("string"),
                json!("0.12")
            ]
        );
        assert_eq!(
            row(ValueRender::Unformatted, DateRender::Serial),
            vec![json!(2), json!(43831), json!("string"), json!(0.12)]
        );
        assert_eq!(
            row(ValueRender::Unformatted, DateRender::FormattedString),
            vec![json!(2), json!("2020-01-01"), json!("string"), json!(0.12)]
        );
        assert_eq!(
            Cell::date("1999-01-02")
                .unwrap()
                .render(ValueRender::Unformatted, DateRender::Serial),
            Some(json!(36162))
        );
    }

    #[test]
    fn booleans_and_errors() {
        assert_eq!(
            Cell::Bool(true).render(ValueRender::Formatted, DateRender::Serial),
            Some(json!("TRUE"))
        );
        assert_eq!(
            Cell::Bool(false).render(ValueRender::Unformatted, DateRender::Serial),
            Some(json!(false))
        );
        let e = Cell::from_seed(&json!({"error": "#N/A"}));
        assert_eq!(
            e.render(ValueRender::Unformatted, DateRender::Serial),
            Some(json!("#N/A"))
        );
    }

    #[test]
    fn user_entered_parses_like_the_ui_and_raw_does_not() {
        assert_eq!(
            Cell::from_user_entered(&json!("2,000,000.01")),
            Some(Cell::Number(2_000_000.01))
        );
        assert_eq!(
            Cell::from_user_entered(&json!("0012")),
            Some(Cell::Number(12.0))
        );
        assert_eq!(
            Cell::from_user_entered(&json!("'0012")),
            Some(Cell::Text("0012".into()))
        );
        assert_eq!(
            Cell::from_user_entered(&json!("1,23")),
            Some(Cell::Text("1,23".into()))
        );
        assert_eq!(
            Cell::from_user_entered(&json!("true")),
            Some(Cell::Bool(true))
        );
        assert!(matches!(
            Cell::from_user_entered(&json!("2024-03-01")),
            Some(Cell::Date { .. })
        ));
        assert_eq!(
            Cell::from_raw(&json!("0012")),
            Some(Cell::Text("0012".into()))
        );
        assert_eq!(Cell::from_raw(&json!(null)), None);
    }
}
