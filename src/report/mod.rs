//! The run report of SPEC §5: one value from which the JSON object, the human plan and
//! the exit code are all derived. Nothing else prints results.

use serde::Serialize;

use crate::plan::{ConflictKind, Plan, Refusal, Resolution};

/// Where a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planned,
    Applied,
    Failed,
    Skipped,
}

/// One change as reported (`changes[]`). Values are already rendered as SPEC §5 wants
/// them: money as exact strings with the currency's decimals, quantities as integers.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// For grouping the human plan; not part of the JSON.
    #[serde(skip)]
    pub product: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullReport {
    pub sku: String,
    pub row: u32,
    pub field: String,
    pub location: Option<String>,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub row: u32,
    pub cell: String,
    pub sku: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub planned: usize,
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unchanged: usize,
    pub errors: usize,
}

/// Why a run could not complete, for the exit code (2 before 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fatal {
    /// Usage, config, missing scope, lock held: exit 2.
    Config,
    /// Network, auth, store down after retries: exit 1.
    Run,
}

/// The report of one run (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run_id: String,
    pub dry_run: bool,
    pub shop: String,
    pub spreadsheet_id: String,
    pub rows_read: usize,
    pub changes: Vec<ChangeReport>,
    pub pulled: Vec<PullReport>,
    pub conflicts: Vec<ConflictReport>,
    pub errors: Vec<ErrorReport>,
    /// Guards that refused the plan (empty when none did or `--yes` overrode them).
    pub refused: Vec<Refusal>,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<Fatal>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
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
