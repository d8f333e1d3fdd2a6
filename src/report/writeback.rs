//! What a sync run writes back into the sheet (SPEC §4.5), decided from its plan and
//! report: pulled values, each row's status text and `synced_at`; and, once the sheet
//! answered, the pulls settled in the report. Pure: the guarded write itself is
//! `sheet::writeback::execute`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::{Report, Status};
use crate::model::{CellRef, FieldKey, Sku, Value};
use crate::plan::{ConflictKind, Plan, Resolution};
use crate::sheet::parse::ColumnKey;
use crate::sheet::writeback::{
    CellWrite, Fate, Outcome, ReadGrid, RowWrites, STATUS_OK, same, sheet_value,
};

/// What a sync run writes into the sheet, per row. `now` is the UTC RFC 3339 time for
/// `synced_at`; `write_pulls` is false when a guard refused the plan (nothing is settled
/// then, so nothing is pulled either). `rows` lists every data row the plan saw: its
/// number and SKU (`None` for a row without a usable one).
pub fn plan_sync(
    grid: &ReadGrid<'_>,
    rows: &[(u32, Option<Sku>)],
    plan: &Plan,
    report: &Report,
    now: &str,
    write_pulls: bool,
) -> Vec<RowWrites> {
    let tab = grid.layout.tab.as_str();
    let Some(sku_col) = grid.column_of(&ColumnKey::Sku) else {
        return Vec::new();
    };
    let status_col = grid.column_of(&ColumnKey::Status);
    let synced_col = grid.column_of(&ColumnKey::SyncedAt);

    let mut pulls_by_row: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    if write_pulls {
        for (i, p) in plan.pulls.iter().enumerate() {
            pulls_by_row.entry(p.row).or_default().push(i);
        }
    }

    // Looked up per row: scanning the changes for each of 100,000 rows was quadratic.
    let applied_rows: BTreeSet<u32> = report
        .changes
        .iter()
        .filter(|c| c.status == Status::Applied)
        .map(|c| c.row)
        .collect();
    let mut out = Vec::new();
    for (row, sku) in rows {
        let row = *row;
        let mut cells = Vec::new();
        for &i in pulls_by_row
            .get(&row)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let p = &plan.pulls[i];
            cells.push(CellWrite {
                cell: p.cell.clone(),
                expected: grid.at(p.cell.col, row),
                value: sheet_value(p.to.as_ref()),
                carries: Some(i),
            });
        }
        let mut status_changed = false;
        if let Some(col) = status_col {
            let text = row_status(row, report);
            let current = grid.at(col, row);
            if !same(&current, &Json::String(text.clone())) {
                status_changed = true;
                cells.push(CellWrite {
                    cell: CellRef::new(tab, col, row),
                    expected: current,
                    value: Json::String(text),
                    carries: None,
                });
            }
        }
        let applied = applied_rows.contains(&row);
        let pulled = !cells.iter().all(|c| c.carries.is_none());
        if let Some(col) = synced_col
            && (applied || pulled || status_changed)
        {
            cells.push(CellWrite {
                cell: CellRef::new(tab, col, row),
                expected: grid.at(col, row),
                value: Json::String(now.to_owned()),
                carries: None,
            });
        }
        if !cells.is_empty() {
            out.push(RowWrites {
                row,
                sku: sku.clone(),
                sku_expected: grid.at(sku_col, row),
                cells,
            });
        }
    }
    out
}

/// The status cell's text for `row`: its errors, a refusal, failed or skipped changes,
/// conflicts, or `OK` (SPEC §4.5). Several findings are joined with `; `.
pub fn row_status(row: u32, report: &Report) -> String {
    let errors: Vec<&str> = report
        .errors
        .iter()
        .filter(|e| e.row == row)
        .map(|e| e.message.as_str())
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    let changes: Vec<_> = report.changes.iter().filter(|c| c.row == row).collect();
    if !changes.is_empty() && !report.refused.is_empty() {
        let guards: BTreeSet<&str> = report.refused.iter().map(|r| r.name()).collect();
        let guards: Vec<&str> = guards.into_iter().collect();
        return format!("refused: {}", guards.join(", "));
    }
    let mut parts = Vec::new();
    for c in &changes {
        let field = label(&c.field, c.location.as_deref());
        let why = c.error.as_deref().unwrap_or("no reason given");
        match c.status {
            Status::Failed => parts.push(format!("failed: {field}: {why}")),
            Status::Skipped => parts.push(format!("skipped: {field}: {why}")),
            Status::Planned | Status::Applied => {}
        }
    }
    for p in report.publications.iter().filter(|p| p.rows.contains(&row)) {
        let what = format!("published to {}", p.publications.join(", "));
        let why = p.error.as_deref().unwrap_or("no reason given");
        match p.status {
            Status::Failed => parts.push(format!("failed: {what}: {why}")),
            Status::Skipped => parts.push(format!("skipped: {what}: {why}")),
            Status::Planned | Status::Applied => {}
        }
    }
    for c in report.conflicts.iter().filter(|c| c.row == row) {
        let field = label(&c.field, c.location.as_deref());
        let (sheet, store) = (shown(&c.sheet), shown(&c.store));
        parts.push(match (c.kind, c.resolution) {
            (ConflictKind::BothChanged, _) => format!(
                "conflict: {field} changed in both since the last sync (was {}, sheet {sheet}, store {store}): sheet value kept",
                shown(&c.baseline)
            ),
            (ConflictKind::NoBaseline, Resolution::None) => format!(
                "conflict: {field} differs (sheet {sheet}, store {store}) and there is no baseline yet: run sync --adopt sheet or --adopt store"
            ),
            (ConflictKind::ChangedSince, _) => format!(
                "conflict: {field} changed since the reverted run (it wrote {}, store now {store}): left alone",
                shown(&c.baseline)
            ),
            // Settled by `--adopt`: nothing left for the merchant to do.
            (ConflictKind::NoBaseline, Resolution::Sheet | Resolution::Store) => continue,
        });
    }
    if parts.is_empty() {
        STATUS_OK.to_owned()
    } else {
        parts.join("; ")
    }
}

fn label(field: &str, location: Option<&str>) -> String {
    match location {
        Some(loc) => format!("{field}@{loc}"),
        None => field.to_owned(),
    }
}

fn shown(v: &Json) -> String {
    match v {
        Json::Null => "(empty)".to_owned(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Settles a sync run's write-back in its report: each pull's status (applied only when
/// the sheet confirmed it), the write-back summary, and the baseline entries that the
/// confirmed pulls justify.
pub fn record_sync(
    report: &mut Report,
    plan: &Plan,
    rows: &[RowWrites],
    outcome: &Outcome,
    confirmed: &mut Vec<(Sku, FieldKey, Option<Value>)>,
) {
    for (r, fates) in rows.iter().zip(&outcome.fates) {
        for (c, fate) in r.cells.iter().zip(fates) {
            let Some(i) = c.carries else { continue };
            let (Some(pull), Some(entry)) = (plan.pulls.get(i), report.pulled.get_mut(i)) else {
                continue;
            };
            let (status, error) = match fate {
                Fate::Written | Fate::AlreadyThere => {
                    confirmed.push((pull.sku.clone(), pull.key.clone(), pull.to.clone()));
                    (Status::Applied, None)
                }
                Fate::Skipped(why) => (Status::Skipped, Some(why.clone())),
                Fate::Failed(why) => (Status::Failed, Some(why.clone())),
            };
            entry.status = Some(status);
            entry.error = error;
        }
    }
    // Pulls that had no write (the plan was refused) stay unsettled.
    for entry in report.pulled.iter_mut().filter(|p| p.status.is_none()) {
        entry.status = Some(Status::Skipped);
        entry.error = Some("the plan was refused by a safety guard".into());
    }
    report.write_back = Some(outcome.report.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_publish_shows_on_each_row_of_its_product() {
        let meta = crate::report::RunMeta {
            run_id: "r".into(),
            shop: "s.myshopify.com".into(),
            spreadsheet_id: "1AbC".into(),
        };
        let currency = crate::model::Currency::new("USD");
        let mut report = Report::from_plan(&Plan::default(), meta, &currency, false);
        report.publications.push(crate::report::PublishReport {
            handle: "hoodie".into(),
            product: "Hoodie".into(),
            created: true,
            publications: vec!["Online Store".into(), "Point of Sale".into()],
            rows: vec![4, 5],
            status: Status::Failed,
            error: Some("Publication does not exist".into()),
            outcome: None,
            group: String::new(),
        });
        let want = "failed: published to Online Store, Point of Sale: Publication does not exist";
        assert_eq!(row_status(4, &report), want);
        assert_eq!(row_status(5, &report), want);
        assert_eq!(row_status(6, &report), STATUS_OK);
        report.publications[0].status = Status::Applied;
        assert_eq!(row_status(4, &report), STATUS_OK);
    }
}
