//! A finished run's report as the journal keeps it: each change and pulled cell as a
//! typed row (`state::JournalRow`), which `revert` reads instead of parsing the report
//! back. Pure: the rows are recorded by the state port with the run.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value as Json;

use super::{Report, Status};
use crate::model::{Field, FieldKey, Sku, Value};
use crate::state::{Created, JournalRow, RowKind, RowStatus, StateError, StateStore};

/// Decodes a report value (SPEC §5) of `field`: `None` when it cannot be read back.
pub fn decode(field: Field, v: &Json) -> Option<Option<Value>> {
    match (field, v) {
        (_, Json::Null) => Some(None),
        (Field::Inventory, n) => n.as_i64().map(|q| Some(Value::Qty(q))),
        (f, Json::String(s)) if f.is_money() => {
            Decimal::from_str(s).ok().map(|m| Some(Value::Money(m)))
        }
        (Field::Barcode, Json::String(s)) => Some(Some(Value::Text(s.clone()))),
        (f, Json::String(s)) if f.is_product() => Some(Some(Value::Text(s.clone()))),
        _ => None,
    }
}

/// A finished run's changes and pulled cells as the journal keeps them (the rows
/// [`crate::state::StateStore::finish_run`] records). An entry whose SKU, field or values cannot be read
/// back is left out, with a warning: it could not be reverted either.
pub fn journal_rows(report: &Report) -> Vec<JournalRow> {
    let status = |s: Status| match s {
        Status::Planned => RowStatus::Planned,
        Status::Applied => RowStatus::Applied,
        Status::Failed => RowStatus::Failed,
        Status::Skipped => RowStatus::Skipped,
    };
    let typed = |sku: &str, field: &str, location: &Option<String>, from: &Json, to: &Json| {
        let sku = Sku::new(sku)?;
        let field = Field::from_name(field)?;
        let (Some(from), Some(to)) = (decode(field, from), decode(field, to)) else {
            tracing::warn!(%sku, field = field.name(), "A reported value is unreadable; not journaled");
            return None;
        };
        let key = FieldKey {
            field,
            location: location.clone(),
        };
        Some((sku, key, from, to))
    };
    let changes = report.changes.iter().filter_map(|c| {
        let (sku, key, from, to) = typed(&c.sku, &c.field, &c.location, &c.from, &c.to)?;
        Some(JournalRow {
            kind: RowKind::Change,
            sku,
            row: c.row,
            key,
            from,
            to,
            status: Some(status(c.status)),
            error: c.error.clone(),
            note: c.note.clone(),
            created: c.create.as_deref().map(|w| {
                // The executor names only these two; anything else created a variant.
                Created::from_name(w).unwrap_or(Created::Variant)
            }),
            product: c.product.clone(),
        })
    });
    let pulled = report.pulled.iter().filter_map(|p| {
        let (sku, key, from, to) = typed(&p.sku, &p.field, &p.location, &p.from, &p.to)?;
        Some(JournalRow {
            kind: RowKind::Pulled,
            sku,
            row: p.row,
            key,
            from,
            to,
            status: p.status.map(status),
            error: p.error.clone(),
            note: None,
            created: None,
            product: String::new(),
        })
    });
    changes.chain(pulled).collect()
}

/// Journals the end of run `run_id` from its final report: the finish time, the exit code
/// it implies (`yes`: the run confirmed what a guard refused), its summary, the report
/// itself and its typed rows, in the state's one transaction.
pub fn record_finished<S: StateStore + ?Sized>(
    state: &mut S,
    run_id: &str,
    report: &Report,
    yes: bool,
) -> Result<(), StateError> {
    let finished = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    state.finish_run(
        run_id,
        &finished,
        i32::from(report.exit_status(yes).code()),
        &serde_json::to_value(report.summary).unwrap_or_default(),
        &super::json::to_json(report),
        &journal_rows(report),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_values_decode_by_field() {
        assert_eq!(
            decode(Field::Price, &serde_json::json!("19.90")),
            Some(Some(Value::Money(Decimal::new(1990, 2))))
        );
        assert_eq!(
            decode(Field::Inventory, &serde_json::json!(7)),
            Some(Some(Value::Qty(7)))
        );
        assert_eq!(
            decode(Field::Barcode, &serde_json::json!("0840")),
            Some(Some(Value::Text("0840".into())))
        );
        assert_eq!(
            decode(Field::Tags, &serde_json::json!("a, b")),
            Some(Some(Value::Text("a, b".into())))
        );
        assert_eq!(decode(Field::CompareAtPrice, &Json::Null), Some(None));
        assert_eq!(decode(Field::Price, &serde_json::json!("abc")), None);
        assert_eq!(decode(Field::Inventory, &serde_json::json!("7")), None);
    }
}
