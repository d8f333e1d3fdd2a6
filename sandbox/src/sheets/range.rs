//! A1 notation as the Sheets API reads it: an optional tab (bare or single-quoted with
//! `''` escapes) and a cell, a block, whole columns (`A:A`, `C2:C`), whole rows (`1:20`,
//! `A2:2`) or the whole tab. Parsing is pure; resolving against a grid applies the
//! API's clipping rules (open-ended sides stop at the grid edge, explicit ones must fit).

/// One side of a range: either coordinate may be left open (`C` or `2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Corner {
    /// Zero-based column.
    col: Option<u32>,
    /// Zero-based row.
    row: Option<u32>,
}

/// A parsed range, not yet checked against any grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct A1 {
    /// `None` when the text names no tab (`A1:B2` means the first tab).
    pub tab: Option<String>,
    /// `None` for a whole tab.
    cells: Option<(Corner, Option<Corner>)>,
}

/// A resolved block, zero-based and inclusive on both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub row0: u32,
    pub col0: u32,
    pub row1: u32,
    pub col1: u32,
}

impl Rect {
    pub fn rows(&self) -> u32 {
        self.row1 - self.row0 + 1
    }
    pub fn cols(&self) -> u32 {
        self.col1 - self.col0 + 1
    }
}

/// Why a range does not fit the grid; rendered with the API's own wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfGrid {
    pub max_rows: u32,
    pub max_cols: u32,
}

/// The API's text for a range on a tab: `Tab!A1:C3`, or `Tab!B2` for one cell.
pub fn format_range(tab: &str, rect: &Rect) -> String {
    let start = format!("{}{}", column_letters(rect.col0), rect.row0 + 1);
    if rect.row0 == rect.row1 && rect.col0 == rect.col1 {
        format!("{}!{start}", quote_tab(tab))
    } else {
        format!(
            "{}!{start}:{}{}",
            quote_tab(tab),
            column_letters(rect.col1),
            rect.row1 + 1
        )
    }
}

impl A1 {
    /// Parses `text` knowing the tab titles, because an unquoted title with spaces
    /// (`🌵 test 1`) or one that looks like a cell is a whole-tab range when it names a tab.
    /// `None` means the API's "Unable to parse range".
    pub fn parse(text: &str, tabs: &[&str]) -> Option<A1> {
        if tabs.contains(&text) {
            return Some(A1 {
                tab: Some(text.to_owned()),
                cells: None,
            });
        }
        let (tab, rest) = if let Some(quoted) = text.strip_prefix('\'') {
            let (name, after) = unquote(quoted)?;
            match after {
                "" => {
                    return Some(A1 {
                        tab: Some(name),
                        cells: None,
                    });
                }
                _ => (Some(name), after.strip_prefix('!')?),
            }
        } else if let Some((name, rest)) = text.split_once('!') {
            (Some(name.to_owned()), rest)
        } else {
            (None, text)
        };
        if tab.as_deref() == Some("") {
            return None;
        }
        let cells = match rest.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (corner(a)?, corner(b)?);
                // `A:2` mixes a column side with a row side: the API refuses it.
                let open_mismatch = (a.row.is_none() && b.col.is_none() && a.col.is_some())
                    || (a.col.is_none() && b.row.is_none() && a.row.is_some());
                if open_mismatch {
                    return None;
                }
                (a, Some(b))
            }
            None => {
                let c = corner(rest)?;
                if c.col.is_none() || c.row.is_none() {
                    return None;
                }
                (c, None)
            }
        };
        Some(A1 {
            tab,
            cells: Some(cells),
        })
    }

    /// The block this range covers on a `rows`×`cols` grid. Open sides run to the grid's
    /// edge; an explicit side beyond it is the API's "exceeds grid limits" error.
    pub fn resolve(&self, rows: u32, cols: u32) -> Result<Rect, OutOfGrid> {
        let err = OutOfGrid {
            max_rows: rows,
            max_cols: cols,
        };
        let last_row = rows.checked_sub(1).ok_or(err.clone())?;
        let last_col = cols.checked_sub(1).ok_or(err.clone())?;
        let Some((a, b)) = &self.cells else {
            return Ok(Rect {
                row0: 0,
                col0: 0,
                row1: last_row,
                col1: last_col,
            });
        };
        let b = b.unwrap_or(*a);
        let (r0, r1) = (a.row.unwrap_or(0), b.row.unwrap_or(last_row));
        let (c0, c1) = (a.col.unwrap_or(0), b.col.unwrap_or(last_col));
        // The API accepts reversed corners (`B2:A1`) and normalises them.
        let rect = Rect {
            row0: r0.min(r1),
            row1: r0.max(r1),
            col0: c0.min(c1),
            col1: c0.max(c1),
        };
        if rect.row1 > last_row || rect.col1 > last_col {
            return Err(err);
        }
        Ok(rect)
    }

    /// The block a write of `data_rows`×`data_cols` values starting at this range lands on,
    /// or the API's complaint when the data does not fit an explicit range.
    pub fn write_target(
        &self,
        rows: u32,
        cols: u32,
        data_rows: u32,
        data_cols: u32,
    ) -> Result<Rect, WriteError> {
        let bounds = self.resolve(rows, cols).map_err(WriteError::OutOfGrid)?;
        // A single cell is a start point: the data may extend right and down from it.
        let single = matches!(self.cells, Some((_, None)));
        let (max_rows, max_cols) = if single {
            (rows - bounds.row0, cols - bounds.col0)
        } else {
            (bounds.rows(), bounds.cols())
        };
        if data_rows > max_rows {
            return Err(if single {
                WriteError::OutOfGrid(OutOfGrid {
                    max_rows: rows,
                    max_cols: cols,
                })
            } else {
                WriteError::TooManyRows {
                    row: bounds.row0 + data_rows,
                }
            });
        }
        if data_cols > max_cols {
            return Err(if single {
                WriteError::OutOfGrid(OutOfGrid {
                    max_rows: rows,
                    max_cols: cols,
                })
            } else {
                WriteError::TooManyCols {
                    col: bounds.col0 + data_cols - 1,
                }
            });
        }
        Ok(Rect {
            row0: bounds.row0,
            col0: bounds.col0,
            row1: bounds.row0 + data_rows.max(1) - 1,
            col1: bounds.col0 + data_cols.max(1) - 1,
        })
    }
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    OutOfGrid(OutOfGrid),
    /// One-based row the data reached.
    TooManyRows {
        row: u32,
    },
    /// Zero-based column the data reached.
    TooManyCols {
        col: u32,
    },
}

/// Reads a quoted title up to its closing quote; `''` is a literal quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if matches!(chars.peek(), Some((_, '\''))) {
                chars.next();
                name.push('\'');
            } else {
                return Some((name, &s[i + 1..]));
            }
        } else {
            name.push(c);
        }
    }
    None
}

/// `AB12`, `AB` or `12` (case-insensitive letters, as the API accepts them).
fn corner(s: &str) -> Option<Corner> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let (letters, digits) = s.split_at(split);
    if letters.is_empty() && digits.is_empty() {
        return None;
    }
    let col = if letters.is_empty() {
        None
    } else {
        if letters.len() > 3 {
            return None;
        }
        let n = letters.bytes().fold(0u32, |acc, b| {
            acc * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1
        });
        Some(n - 1)
    };
    let row = if digits.is_empty() {
        None
    } else {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = digits.parse().ok()?;
        Some(n.checked_sub(1)?)
    };
    Some(Corner { col, row })
}

/// Parses `Tab!B7` style cell references for the fake's own API (`set_cell`, `cell`).
pub fn parse_cell(a1: &str) -> Option<(u32, u32)> {
    let c = corner(a1)?;
    Some((c.row?, c.col?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(s: &str, rows: u32, cols: u32) -> Result<Rect, OutOfGrid> {
        A1::parse(s, &["Sheet1", "Q1 #2"])
            .expect("parses")
            .resolve(rows, cols)
    }

    #[test]
    fn open_sides_clip_to_the_grid() {
        let r = rect("Sheet1!B1:B", 1000, 26).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!B1:B1000");
        let r = rect("Sheet1!A2:2", 1000, 26).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!A2:Z2");
        let r = rect("'Sheet1'!A:A", 10, 10).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!A1:A10");
        let r = rect("Sheet1!1:20", 1000, 26).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!A1:Z20");
        let r = rect("Sheet1", 2, 4).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!A1:D2");
        let r = rect("Sheet1!C2:C", 50, 26).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!C2:C50");
    }

    #[test]
    fn quoted_titles_and_single_cells() {
        let a = A1::parse("'Q1 #2'!A1", &["Q1 #2"]).unwrap();
        assert_eq!(a.tab.as_deref(), Some("Q1 #2"));
        let r = a.resolve(10, 10).unwrap();
        assert_eq!(format_range("Q1 #2", &r), "'Q1 #2'!A1");
        let a = A1::parse("'Bob''s'!A1:B2", &[]).unwrap();
        assert_eq!(a.tab.as_deref(), Some("Bob's"));
        assert_eq!(A1::parse("Q1 #2", &["Q1 #2"]).unwrap().cells, None);
        assert_eq!(A1::parse("A1:B2", &["Sheet1"]).unwrap().tab, None);
    }

    #[test]
    fn explicit_sides_beyond_the_grid_are_refused() {
        assert_eq!(
            rect("Sheet1!A1:A2000", 1000, 26),
            Err(OutOfGrid {
                max_rows: 1000,
                max_cols: 26
            })
        );
        assert!(rect("Sheet1!AA1", 1000, 26).is_err());
    }

    #[test]
    fn garbage_does_not_parse() {
        for s in [
            "Sheet1!",
            "Sheet1!A",
            "Sheet1!A1:",
            "Sheet1!A1:B2:C3",
            "'Sheet1",
            "Sheet1!ABCD1",
            "Sheet1!A0",
            "Sheet1!A:2",
        ] {
            assert!(A1::parse(s, &["Sheet1"]).is_none(), "{s}");
        }
    }

    #[test]
    fn writes_extend_from_a_single_cell_but_not_past_an_explicit_block() {
        let a = A1::parse("Sheet1!B2", &[]).unwrap();
        let r = a.write_target(10, 5, 2, 3).unwrap();
        assert_eq!(format_range("Sheet1", &r), "Sheet1!B2:D3");
        let a = A1::parse("Sheet1!A3:B4", &[]).unwrap();
        assert_eq!(
            a.write_target(10, 5, 1, 3),
            Err(WriteError::TooManyCols { col: 2 })
        );
        assert_eq!(
            a.write_target(10, 5, 3, 1),
            Err(WriteError::TooManyRows { row: 5 })
        );
    }
}

/// Zero-based column index as letters (`0` → `A`, `26` → `AA`), as the API prints them.
pub fn column_letters(col: u32) -> String {
    // Bijective base 26: every step takes one off before dividing.
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A tab name as the API prints it in a range: bare when it is a plain word that cannot
/// be read as a cell, otherwise single-quoted with inner quotes doubled.
pub fn quote_tab(tab: &str) -> String {
    let word = tab.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && tab.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if word {
        return tab.to_owned();
    }
    let mut quoted = String::with_capacity(tab.len() + 2);
    quoted.push('\'');
    for c in tab.chars() {
        if c == '\'' {
            quoted.push('\'');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod naming_tests {
    use super::{column_letters, quote_tab};

    #[test]
    fn columns_are_bijective_base_26() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn tabs_are_quoted_unless_plain() {
        assert_eq!(quote_tab("Inventory"), "Inventory");
        assert_eq!(quote_tab("Q1 #2"), "'Q1 #2'");
        assert_eq!(quote_tab("Bob's"), "'Bob''s'");
        assert_eq!(quote_tab("2024"), "'2024'");
    }
}
