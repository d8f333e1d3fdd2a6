//! The run report of SPEC §5: one value from which the JSON object, the human plan and
//! the exit code are all derived. Nothing else prints results.
//!
//! The report starts as [`Report::from_plan`] (every change `planned`); the executor then
//! records each change's outcome with [`Report::set_outcome`] and calls
//! [`Report::recount`]. `json` and `human` render it; neither decides anything.

pub mod human;
pub mod journal;
pub mod json;
pub mod writeback;

use serde::{Deserialize, Serialize};

use crate::model::{Currency, Value};
use crate::plan::{Conflict, ConflictKind, Plan, Refusal, Resolution};
pub use crate::sheet::writeback::{RowSkip, WriteBackReport};

/// Where a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planned,
    Applied,
    Failed,
    Skipped,
}

/// Why a `failed` change may have taken effect after all, in its `"outcome"` field: its
/// request was sent, the answer was lost (timeout, dropped connection, 5xx after the
/// retries), and the re-read that would tell failed too. SPEC §5's statuses stay the four
/// it names, so scripts that read `status` keep working and the run still exits 3; the
/// next full run settles the request by re-reading the store, never by re-sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsettled {
    Unknown,
}

/// One change as reported (`changes[]`). Values are already rendered as SPEC §5 wants
/// them: money as exact strings with the currency's decimals, quantities as integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeReport {
    pub sku: String,
    pub row: u32,
    pub field: String,
    pub location: Option<String>,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `unknown` on a `failed` change that may have taken effect ([`Unsettled`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Unsettled>,
    /// `sync.create_missing`: `"product"` when the change's product is created with it,
    /// `"variant"` when only its variant is; absent for changes to what the store has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    /// For grouping the human plan; not part of the JSON.
    #[serde(skip)]
    pub product: String,
}

/// Publishing one product to sales channels (`sync.publish_to`), in `publications[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishReport {
    pub handle: String,
    /// The product's title.
    pub product: String,
    /// The run creates the product too; `false` for one an earlier run created.
    pub created: bool,
    /// The channels' names, as the store spells them.
    pub publications: Vec<String>,
    /// The sheet rows of its variants (a failure shows in their status cells).
    pub rows: Vec<u32>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `unknown` on a `failed` publish that may have taken effect ([`Unsettled`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Unsettled>,
    /// The human plan's product group; not part of the JSON.
    #[serde(skip)]
    pub group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullReport {
    pub sku: String,
    pub row: u32,
    pub field: String,
    pub location: Option<String>,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    /// Where the sheet write ended (`applied`: confirmed in the sheet); absent in a dry
    /// run and in reports written before write-back existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictReport {
    pub sku: String,
    pub row: u32,
    pub field: String,
    pub location: Option<String>,
    pub kind: ConflictKind,
    pub baseline: serde_json::Value,
    pub sheet: serde_json::Value,
    pub store: serde_json::Value,
    pub resolution: Resolution,
    /// The sheet cell in A1 notation (`Inventory!E12`), as row errors name theirs; absent
    /// where no cell holds the value (a reverted row that is gone) and in reports written
    /// before it existed. Additive to SPEC §5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
}

impl ConflictReport {
    pub fn new(c: &Conflict, currency: &Currency) -> ConflictReport {
        let json = |v: &Option<Value>| {
            v.as_ref()
                .map_or(serde_json::Value::Null, |v| v.to_json(currency))
        };
        ConflictReport {
            sku: c.sku.to_string(),
            row: c.row,
            field: c.key.field.name().to_owned(),
            location: c.key.location.clone(),
            kind: c.kind,
            baseline: json(&c.baseline),
            sheet: json(&c.sheet),
            store: json(&c.store),
            resolution: c.resolution,
            cell: Some(c.cell.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub row: u32,
    pub cell: String,
    pub sku: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub planned: usize,
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unchanged: usize,
    pub errors: usize,
}

/// Why a run could not complete, for the exit code (2 before 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fatal {
    /// Usage, config, missing scope, lock held: exit 2.
    Config,
    /// Network, auth, store down after retries: exit 1.
    Run,
}

/// The bulk mutation a run's variant fields went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkMutationReport {
    /// `gid://shopify/BulkOperation/…`; absent when the job could not be started.
    pub id: Option<String>,
    /// How the job ended (`COMPLETED`, `FAILED`, …; `NOT_STARTED`).
    pub status: String,
    /// Products (lines of the upload) and variants it carried.
    pub lines: usize,
    pub variants: usize,
}

/// The report of one run (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    pub dry_run: bool,
    pub shop: String,
    pub spreadsheet_id: String,
    /// The tab's numeric `sheetId` (the `gid` of its URL), so a cell can be linked to;
    /// absent when the run did not read the sheet's properties. Additive to SPEC §5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet_id: Option<i64>,
    pub rows_read: usize,
    /// The SKUs whose rows the run planned when it planned only some (`watch`'s changed
    /// rows); absent when it planned every row. What the status page needs to tell which
    /// run last judged a row. Additive to SPEC §5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_skus: Option<Vec<String>>,
    pub changes: Vec<ChangeReport>,
    pub pulled: Vec<PullReport>,
    pub conflicts: Vec<ConflictReport>,
    pub errors: Vec<ErrorReport>,
    /// Products published to sales channels (`sync.publish_to`); absent when none are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<PublishReport>,
    /// Guards that refused the plan (empty when none did). Not part of SPEC §5's example,
    /// so it appears in the JSON only when a guard tripped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_back: Option<WriteBackReport>,
    /// The bulk mutation that carried the variant fields, when one did (past
    /// `sync.bulk_mutation_threshold`); absent when they went by direct calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_mutation: Option<BulkMutationReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<Fatal>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// SPEC §5 exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Done = 0,
    RunFailed = 1,
    Config = 2,
    RowErrors = 3,
    Refused = 4,
    Interrupted = 130,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Of two statuses that both apply, the one SPEC §5 reports. The one place the
    /// precedence is written: config (2), then run failure (1), then interruption (130),
    /// then a refusal (4), then row errors (3), then done (0).
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        fn rank(s: ExitStatus) -> u8 {
            match s {
                ExitStatus::Done => 0,
                ExitStatus::RowErrors => 1,
                ExitStatus::Refused => 2,
                ExitStatus::Interrupted => 3,
                ExitStatus::RunFailed => 4,
                ExitStatus::Config => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// A fatal error's exit code: config 2, run 1.
impl From<Fatal> for ExitStatus {
    fn from(fatal: Fatal) -> ExitStatus {
        match fatal {
            Fatal::Config => ExitStatus::Config,
            Fatal::Run => ExitStatus::RunFailed,
        }
    }
}

/// What names a run, besides the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMeta {
    pub run_id: String,
    pub shop: String,
    pub spreadsheet_id: String,
}

impl Report {
    /// The report of a plan, before anything is applied: every change `planned`.
    pub fn from_plan(plan: &Plan, meta: RunMeta, currency: &Currency, dry_run: bool) -> Report {
        let json = |v: &Option<Value>| {
            v.as_ref()
                .map_or(serde_json::Value::Null, |v| v.to_json(currency))
        };
        let changes = plan
            .changes
            .iter()
            .map(|c| ChangeReport {
                sku: c.sku.to_string(),
                row: c.row,
                field: c.key.field.name().to_owned(),
                location: c.key.location.clone(),
                from: json(&c.from),
                to: json(&c.to),
                status: Status::Planned,
                error: None,
                note: c.note.clone(),
                outcome: None,
                create: c
                    .create
                    .as_ref()
                    .map(|n| if n.product { "product" } else { "variant" }.to_owned()),
                product: match &c.create {
                    Some(n) if n.product => {
                        format!("{} (new product {:?})", c.product_title, n.handle)
                    }
                    _ => c.product_title.clone(),
                },
            })
            .collect();
        let pulled = plan
            .pulls
            .iter()
            .map(|p| PullReport {
                sku: p.sku.to_string(),
                row: p.row,
                field: p.key.field.name().to_owned(),
                location: p.key.location.clone(),
                from: json(&p.from),
                to: json(&p.to),
                status: None,
                error: None,
            })
            .collect();
        let conflicts = plan
            .conflicts
            .iter()
            .map(|c| ConflictReport::new(c, currency))
            .collect();
        let errors = plan
            .errors
            .iter()
            .map(|e| ErrorReport {
                row: e.row,
                cell: e.cell.to_string(),
                sku: e.sku.as_ref().map(ToString::to_string),
                message: e.message.clone(),
            })
            .collect();
        let publications = plan
            .publishes
            .iter()
            .map(|p| PublishReport {
                handle: p.handle.clone(),
                product: p.title.clone(),
                created: p.product_id.is_none(),
                publications: p.channels.iter().map(|c| c.name.clone()).collect(),
                rows: p.rows.iter().map(|(row, _)| *row).collect(),
                status: Status::Planned,
                error: None,
                outcome: None,
                group: if p.product_id.is_none() {
                    format!("{} (new product {:?})", p.title, p.handle)
                } else {
                    p.title.clone()
                },
            })
            .collect();
        let RunMeta {
            run_id,
            shop,
            spreadsheet_id,
        } = meta;
        let mut report = Report {
            run_id,
            dry_run,
            shop,
            spreadsheet_id,
            sheet_id: None,
            rows_read: plan.rows_read,
            planned_skus: None,
            changes,
            pulled,
            conflicts,
            errors,
            publications,
            refused: plan.refusals.clone(),
            summary: Summary {
                unchanged: plan.unchanged,
                ..Summary::default()
            },
            write_back: None,
            bulk_mutation: None,
            fatal: None,
            interrupted: false,
        };
        report.recount();
        report
    }

    /// Records a conflict found after planning (a stale write re-planned under SPEC §4.3);
    /// it replaces the plan's own conflict for the same cell, if any.
    pub fn record_conflict(&mut self, conflict: &Conflict, currency: &Currency) {
        let entry = ConflictReport::new(conflict, currency);
        self.conflicts.retain(|r| {
            !(r.sku == entry.sku && r.field == entry.field && r.location == entry.location)
        });
        self.conflicts.push(entry);
    }

    /// Records where change `index` (its position in `changes`, which is the plan's
    /// order) ended. `error` is the reason of a failed or skipped change. Call
    /// [`Report::recount`] once the outcomes are in.
    pub fn set_outcome(&mut self, index: usize, status: Status, error: Option<String>) {
        debug_assert!(
            index < self.changes.len(),
            "outcome for change {index} of {}",
            self.changes.len()
        );
        if let Some(change) = self.changes.get_mut(index) {
            change.status = status;
            change.error = error;
            change.outcome = None;
        }
    }

    /// Marks change `index`, recorded `failed`, as possibly applied: its answer was lost
    /// and the re-read that would tell failed too ([`Unsettled::Unknown`]).
    pub fn mark_unknown(&mut self, index: usize) {
        if let Some(change) = self.changes.get_mut(index) {
            change.outcome = Some(Unsettled::Unknown);
        }
    }

    /// Recomputes the summary's counts from the changes' statuses and the error list;
    /// `unchanged` comes from the plan and stays. `planned` counts changes still
    /// `planned`: all of them in a dry run, none after a complete real run.
    pub fn recount(&mut self) {
        let count = |s: Status| self.changes.iter().filter(|c| c.status == s).count();
        self.summary = Summary {
            planned: count(Status::Planned),
            applied: count(Status::Applied),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
            unchanged: self.summary.unchanged,
            errors: self.errors.len(),
        };
    }

    /// The exit code SPEC §5 gives this run: every status that applies, the worst of
    /// them by [`ExitStatus::worst`]. A refusal overridden by `yes` does not apply; row
    /// errors, failed changes and unresolved conflicts are 3; skipped changes alone are
    /// not a failure.
    pub fn exit_status(&self, yes: bool) -> ExitStatus {
        let row_errors = !self.errors.is_empty()
            || self.changes.iter().any(|c| c.status == Status::Failed)
            || self.publications.iter().any(|p| p.status == Status::Failed)
            || self.pulled.iter().any(|p| p.status == Some(Status::Failed))
            || self
                .conflicts
                .iter()
                .any(|c| c.resolution == Resolution::None);
        [
            self.fatal.map(ExitStatus::from),
            self.interrupted.then_some(ExitStatus::Interrupted),
            (!self.refused.is_empty() && !yes).then_some(ExitStatus::Refused),
            row_errors.then_some(ExitStatus::RowErrors),
        ]
        .into_iter()
        .flatten()
        .fold(ExitStatus::Done, ExitStatus::worst)
    }
}

#[cfg(test)]
mod tests;
