//! A stock write whose compare-and-set came back stale (SPEC §4.3): the store moved between
//! the read the plan was based on and the write. The executor re-reads the quantity and asks
//! here what to do with it.

use super::{Change, Conflict, ConflictKind, Policy, Replan, Resolution};
use crate::model::Value;

/// The `note` a re-planned change carries in the report.
pub const NOTE_STORE_CHANGED: &str = "store changed during run";
/// The reason a change stale a second time ends `skipped` with.
pub const SKIP_STORE_KEPT_CHANGING: &str = "store kept changing";

/// [`replan`] for a store without compare-and-set (SPEC §8), where the re-read comes
/// before the write and any field may have moved: the same decision on any value, and no
/// activation (such a store has no levels to activate).
pub fn replan_value(
    change: &Change,
    fresh: Option<Value>,
    policy: Policy,
    baseline: Option<&Option<Value>>,
) -> (Replan, Option<Conflict>) {
    if fresh == change.to {
        return (Replan::AlreadyThere, None);
    }
    let conflict = match (policy, baseline) {
        (Policy::ThreeWay, Some(base)) if *base != fresh => Some(Conflict {
            sku: change.sku.clone(),
            row: change.row,
            cell: change.cell.clone(),
            key: change.key.clone(),
            kind: ConflictKind::BothChanged,
            baseline: base.clone(),
            sheet: change.to.clone(),
            store: fresh.clone(),
            resolution: Resolution::Sheet,
        }),
        _ => None,
    };
    let again = Change {
        activate: false,
        from: fresh,
        note: Some(NOTE_STORE_CHANGED.to_owned()),
        ..change.clone()
    };
    (Replan::Set(again), conflict)
}

/// Decides a stale stock change: `fresh` is the re-read quantity (`None`: the item has no
/// level there any more), `attempt` counts the stale answers so far (1 on the first),
/// `baseline` is the change's baseline entry (`None`: there is none).
///
/// Why the answer is always "set again", "already there" or "skip", never a pull:
///
/// - `sheet_wins`: the sheet is the truth, so the target is set again against `fresh`.
/// - `three_way`: the fresh quantity is a store-side change, and §4.4 judges it against
///   the baseline with the sheet value still being the target (the sheet is not re-read).
///   The plan only pushes a cell in three cases, and none of them has the sheet at the
///   baseline, so a pull (sheet unchanged, store changed) cannot arise:
///   - the sheet changed and the store had not: now `fresh` differs from the baseline, so
///     both changed, which is a `both_changed` conflict resolved sheet: set again, and the
///     conflict is returned for the report (it replaces any conflict planned for the cell);
///   - both had changed (already a conflict): the same, with the fresh store value;
///   - no baseline, pushed by `--adopt sheet`: there is nothing to have changed from, so
///     no conflict; set again.
///
///   If `fresh` is back at the baseline the store did not change after all: set again,
///   no conflict.
/// - Under both policies, a store that already holds the target needs no write (the
///   executor may then move the baseline to it), and a zero target at a location that has
///   lost its level is already there too, since a zero never activates.
///
/// The re-set change activates the location when `fresh` says it has no level.
pub fn replan(
    change: &Change,
    fresh: Option<i64>,
    attempt: u32,
    policy: Policy,
    baseline: Option<&Option<Value>>,
) -> (Replan, Option<Conflict>) {
    if attempt >= 2 {
        return (Replan::Skip(SKIP_STORE_KEPT_CHANGING.to_owned()), None);
    }
    let store = fresh.map(Value::Qty);
    if store == change.to || (store.is_none() && change.to == Some(Value::Qty(0))) {
        return (Replan::AlreadyThere, None);
    }

    let conflict = match (policy, baseline) {
        (Policy::ThreeWay, Some(base)) if *base != store => Some(Conflict {
            sku: change.sku.clone(),
            row: change.row,
            key: change.key.clone(),
            kind: ConflictKind::BothChanged,
            baseline: base.clone(),
            sheet: change.to.clone(),
            store: store.clone(),
            resolution: Resolution::Sheet,
            cell: change.cell.clone(),
        }),
        _ => None,
    };
    let again = Change {
        activate: store.is_none(),
        from: store,
        note: Some(NOTE_STORE_CHANGED.to_owned()),
        ..change.clone()
    };
    (Replan::Set(again), conflict)
}
