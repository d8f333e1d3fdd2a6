//! The backend-independent half of the state port's rows: how a baseline entry, a run, a
//! journaled request and a journal row are written as plain column values and assembled
//! back from them, shared by the SQLite backend (`state/mod.rs`) and the PostgreSQL one
//! (`state/postgres/`). No SQL and no driver here: each backend reads its columns into
//! the tuples below and writes the tuples' values, so both store the same text and give
//! back the same typed rows, and a stored value that does not decode is reported alike
//! (as a `String` detail the backend wraps in its `StateError::Corrupt`).

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Created, JournalRow, JournaledRequest, Outcome, RowKind, RowStatus, RunRow};
use crate::model::{Field, FieldKey, Sku, Value};
use crate::plan::Baseline;

/// A baseline entry as stored: (SKU, field, location, kind, value); location `""` is "no
/// location" (config location names are non-empty).
pub type BaselineRow = (String, String, String, Option<String>, Option<String>);

/// A run as `list_runs` reads it: (run_id, command, started_at, finished_at, dry_run,
/// exit_code, summary_json).
pub(crate) type RunColumns = (
    String,
    String,
    String,
    Option<String>,
    bool,
    Option<i32>,
    Option<String>,
);

/// A journaled request as read: (id, run_id, idempotency_key, operation, body,
/// items_json, outcome).
pub(crate) type RequestColumns = (i64, String, String, String, Vec<u8>, String, Option<String>);

/// A journal row's 13 text columns, in the order both schemas (and `export`) keep them:
/// kind, sku, field, location, from_kind, from_value, to_kind, to_value, status, error,
/// note, created, product. The row number and the sequence are stored beside them.
pub(crate) type JournalText = [Option<String>; 13];

const JOURNAL_TEXT_NAMES: [&str; 13] = [
    "kind",
    "sku",
    "field",
    "location",
    "from_kind",
    "from_value",
    "to_kind",
    "to_value",
    "status",
    "error",
    "note",
    "created",
    "product",
];

/// A value as (type tag, JSON text). The tag is what keeps `Money(12)` from coming back
/// as `Qty(12)` and `Text("12")` as `Money(12)`: untagged JSON cannot tell them apart.
/// Money is stored as a decimal string, never a float.
pub(crate) fn encode_value(value: Option<&Value>) -> (Option<&'static str>, Option<String>) {
    match value {
        None => (None, None),
        Some(Value::Qty(q)) => (Some("qty"), Some(q.to_string())),
        Some(Value::Money(m)) => (
            Some("money"),
            Some(serde_json::Value::String(m.to_string()).to_string()),
        ),
        Some(Value::Text(t)) => (
            Some("text"),
            Some(serde_json::Value::String(t.clone()).to_string()),
        ),
    }
}

pub(crate) fn decode_value(
    kind: Option<&str>,
    text: Option<&str>,
) -> Result<Option<Value>, String> {
    let (kind, text) = match (kind, text) {
        (None, None) => return Ok(None),
        (Some(k), Some(t)) => (k, t),
        _ => return Err("a baseline value without its type (or a type without value)".into()),
    };
    let bad = |e: &dyn std::fmt::Display| format!("baseline {kind} value {text:?}: {e}");
    let value = match kind {
        "qty" => Value::Qty(serde_json::from_str::<i64>(text).map_err(|e| bad(&e))?),
        "money" => {
            let s = serde_json::from_str::<String>(text).map_err(|e| bad(&e))?;
            Value::Money(Decimal::from_str(&s).map_err(|e| bad(&e))?)
        }
        "text" => Value::Text(serde_json::from_str::<String>(text).map_err(|e| bad(&e))?),
        other => return Err(format!("unknown baseline value type {other:?}")),
    };
    Ok(Some(value))
}

/// The rows to upsert for `entries`, one per key in key order; a key given twice keeps
/// its last value, as a row-by-row upsert would (PostgreSQL writes them in one statement,
/// which may not touch a row twice).
pub(crate) fn baseline_rows(entries: &[(Sku, FieldKey, Option<Value>)]) -> Vec<BaselineRow> {
    let mut rows = BTreeMap::new();
    for (sku, key, value) in entries {
        let (kind, text) = encode_value(value.as_ref());
        rows.insert(
            (
                sku.as_str().to_owned(),
                key.field.name().to_owned(),
                key.location.clone().unwrap_or_default(),
            ),
            (kind.map(str::to_owned), text),
        );
    }
    rows.into_iter()
        .map(|((sku, field, location), (kind, text))| (sku, field, location, kind, text))
        .collect()
}

/// The baseline the stored rows make, or what is wrong with one of them.
pub(crate) fn baseline_from_rows(
    rows: impl IntoIterator<Item = BaselineRow>,
) -> Result<Baseline, String> {
    let mut out = Baseline::new();
    for (sku, field, location, kind, value) in rows {
        let sku = Sku::new(&sku).ok_or_else(|| "an empty SKU in the baseline".to_owned())?;
        let field =
            Field::from_name(&field).ok_or_else(|| format!("unknown baseline field {field:?}"))?;
        let location = (!location.is_empty()).then_some(location);
        let value = decode_value(kind.as_deref(), value.as_deref())?;
        out.insert((sku, FieldKey { field, location }), value);
    }
    Ok(out)
}

/// The run a `list_runs` row stands for; its summary must be JSON.
pub(crate) fn run_row(cols: RunColumns) -> Result<RunRow, String> {
    let (run_id, command, started_at, finished_at, dry_run, exit_code, summary) = cols;
    let summary = match summary {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| format!("the summary of run {run_id} is not JSON: {e}"))?,
    };
    Ok(RunRow {
        run_id,
        command,
        started_at,
        finished_at,
        dry_run,
        exit_code,
        summary,
    })
}

/// A journaled request and how it ended (`None`: never settled, or an outcome this
/// version does not know).
pub(crate) fn journaled_request(cols: RequestColumns) -> (JournaledRequest, Option<Outcome>) {
    let (id, run_id, key, operation, body, items_json, outcome) = cols;
    (
        JournaledRequest {
            id,
            run_id,
            key,
            operation,
            body,
            items_json,
        },
        outcome.as_deref().and_then(Outcome::from_name),
    )
}

/// The requests alone, outcomes dropped (`unsettled_requests`).
pub(crate) fn requests_only(
    entries: Vec<(JournaledRequest, Option<Outcome>)>,
) -> Vec<JournaledRequest> {
    entries.into_iter().map(|(r, _)| r).collect()
}

/// A journal row's text columns as stored.
pub(crate) fn journal_text(r: &JournalRow) -> JournalText {
    let (from_kind, from_value) = encode_value(r.from.as_ref());
    let (to_kind, to_value) = encode_value(r.to.as_ref());
    [
        Some(r.kind.as_str().to_owned()),
        Some(r.sku.as_str().to_owned()),
        Some(r.key.field.name().to_owned()),
        Some(r.key.location.clone().unwrap_or_default()),
        from_kind.map(str::to_owned),
        from_value,
        to_kind.map(str::to_owned),
        to_value,
        r.status.map(|s| s.as_str().to_owned()),
        r.error.clone(),
        r.note.clone(),
        r.created.map(|c| c.as_str().to_owned()),
        Some(r.product.clone()),
    ]
}

/// The typed journal row stored as sheet row `row` and `text`, or what is wrong with it.
pub(crate) fn journal_row(row: i64, text: JournalText) -> Result<JournalRow, String> {
    let row = u32::try_from(row).map_err(|_| format!("row {row}"))?;
    let [
        kind,
        sku,
        field,
        location,
        from_kind,
        from_value,
        to_kind,
        to_value,
        status,
        error,
        note,
        created,
        product,
    ] = text;
    let required = |cell: Option<String>, i: usize| {
        cell.ok_or_else(|| format!("a journal row without its {}", JOURNAL_TEXT_NAMES[i]))
    };
    let kind = match required(kind, 0)?.as_str() {
        "change" => RowKind::Change,
        "pulled" => RowKind::Pulled,
        other => return Err(format!("unknown row kind {other:?}")),
    };
    let sku = Sku::new(&required(sku, 1)?).ok_or_else(|| "an empty SKU".to_owned())?;
    let field = required(field, 2)?;
    let field = Field::from_name(&field).ok_or_else(|| format!("unknown field {field:?}"))?;
    let location = required(location, 3)?;
    let from = decode_value(from_kind.as_deref(), from_value.as_deref())?;
    let to = decode_value(to_kind.as_deref(), to_value.as_deref())?;
    let status = match status.as_deref() {
        None => None,
        Some(s) => Some(RowStatus::from_name(s).ok_or_else(|| format!("unknown status {s:?}"))?),
    };
    let created = match created.as_deref() {
        None => None,
        Some(c) => Some(Created::from_name(c).ok_or_else(|| format!("unknown created {c:?}"))?),
    };
    Ok(JournalRow {
        kind,
        sku,
        row,
        key: FieldKey {
            field,
            location: (!location.is_empty()).then_some(location),
        },
        from,
        to,
        status,
        error,
        note,
        created,
        product: required(product, 12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JournalRow {
        JournalRow {
            kind: RowKind::Change,
            sku: Sku::new("A-1").expect("a non-empty SKU"),
            row: 7,
            key: FieldKey {
                field: Field::Price,
                location: None,
            },
            from: Some(Value::Money(Decimal::new(1250, 2))),
            to: Some(Value::Text("12".into())),
            status: Some(RowStatus::Applied),
            error: None,
            note: Some("n".into()),
            created: Some(Created::Variant),
            product: "Shirt".into(),
        }
    }

    #[test]
    fn journal_rows_round_trip_through_their_columns() {
        let r = sample();
        assert_eq!(journal_row(7, journal_text(&r)), Ok(r));
    }

    #[test]
    fn a_journal_row_missing_a_required_column_or_out_of_range_is_refused() {
        let mut text = journal_text(&sample());
        text[12] = None;
        assert_eq!(
            journal_row(7, text),
            Err("a journal row without its product".to_owned())
        );
        assert_eq!(
            journal_row(-1, journal_text(&sample())),
            Err("row -1".to_owned())
        );
    }

    #[test]
    fn baseline_rows_keep_the_last_value_of_a_key() {
        let sku = Sku::new("A-1").expect("a non-empty SKU");
        let key = FieldKey {
            field: Field::Price,
            location: None,
        };
        let rows = baseline_rows(&[
            (sku.clone(), key.clone(), Some(Value::Qty(1))),
            (sku.clone(), key.clone(), Some(Value::Qty(2))),
        ]);
        assert_eq!(rows.len(), 1);
        let baseline = baseline_from_rows(rows).expect("rows it wrote decode");
        assert_eq!(baseline.get(&(sku, key)), Some(&Some(Value::Qty(2))));
    }

    #[test]
    fn a_run_with_a_summary_that_is_not_json_is_refused() {
        let cols = |summary: &str| {
            (
                "r1".to_owned(),
                "sync".to_owned(),
                "t".to_owned(),
                None,
                false,
                None,
                Some(summary.to_owned()),
            )
        };
        assert!(run_row(cols("{")).is_err());
        assert_eq!(
            run_row(cols("{\"a\":1}")).map(|r| r.summary),
            Ok(serde_json::json!({"a": 1}))
        );
    }
}
