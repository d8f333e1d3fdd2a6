//! Cells: what counts as blank, how a value is shown in an error, formula errors,
//! `CLEAR`, dates typed into number columns. Pure helpers of [`super::parse`].

use super::*;

/// Blank means "leave alone": absent, JSON null, or text that is only whitespace.
pub(super) fn is_blank(cell: Option<&Json>) -> bool {
    match cell {
        None | Some(Json::Null) => true,
        Some(Json::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// A cell as text: strings trimmed, numbers at their shortest round-trip decimal,
/// booleans as Sheets shows them.
pub(super) fn cell_text(cell: &Json) -> String {
    match cell {
        Json::Null => String::new(),
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => number_text(n),
        Json::Bool(b) => bool_text(*b).to_owned(),
        other => other.to_string(),
    }
}

pub(super) fn bool_text(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// The shortest decimal that reads back as the same number. serde_json's own `Display`
/// switches to exponent notation (`1e21`); std's `f64` `Display` never does.
pub(super) fn number_text(n: &Number) -> String {
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
pub(super) const QUOTE_CHARS: usize = 40;

/// A value as a message quotes it: text in quotes (cut when long), numbers bare.
pub(super) fn shown(cell: &Json) -> String {
    match cell {
        Json::String(s) => quoted(s.trim()),
        other => truncated(&cell_text(other)),
    }
}

pub(super) fn quoted(text: &str) -> String {
    format!("{:?}", truncated(text))
}

pub(super) fn truncated(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Display text of the error values a formula can produce. The API sends them as plain
/// strings in every render mode, so they cannot be told from typed text (fixtures §1.3.6).
pub(super) const FORMULA_ERRORS: &[&str] = &[
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

pub(super) fn is_formula_error(text: &str) -> bool {
    let text = text.trim();
    FORMULA_ERRORS.contains(&text)
        || (text.len() <= 16
            && text.starts_with('#')
            && (text.ends_with('!') || text.ends_with('?'))
            && text[1..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "/!?_".contains(c)))
}

pub(super) fn is_clear(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("CLEAR")
}

/// Dates reach us as formatted text (`dateTimeRenderOption=FORMATTED_STRING`), so a date
/// typed into a number column is never mistaken for its serial number; this only names
/// the mistake. Recognises `2024-01-05`, `1/5/2024`, `05.01.2024`, optionally with a time.
pub(super) fn looks_like_date(text: &str) -> bool {
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
pub(super) type Why = String;

/// What a text cell in a number column is, before the field's own rules apply.
pub(super) fn text_problem(text: &str) -> Option<Why> {
    if is_formula_error(text) {
        Some("is a formula error".to_owned())
    } else if looks_like_date(text) {
        Some("looks like a date, not a number".to_owned())
    } else {
        None
    }
}

pub(super) fn bool_problem() -> Why {
    "is a checkbox (TRUE/FALSE), not a number".to_owned()
}
