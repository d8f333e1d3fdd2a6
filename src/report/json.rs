//! The `--json` rendering of a [`Report`] (SPEC §5), printed on stdout.
//!
//! The wire format is the `Report` type's serde shape, so the key order is the field
//! order: `run_id`, `dry_run`, `shop`, `spreadsheet_id`, `rows_read`, `changes`, `pulled`,
//! `conflicts`, `errors`, then `refused` (only when a guard tripped), `summary`, and
//! `fatal` / `interrupted` only when set. A change carries `error` when failed or skipped
//! and `note` when re-planned. Money is a string with the currency's decimals, a
//! quantity an integer, an empty value `null`.

use super::Report;

/// The report as pretty-printed JSON, keys in a stable order.
pub fn to_json(report: &Report) -> String {
    // Cannot fail: every map key is a string and no value is a float NaN.
    serde_json::to_string_pretty(report).expect("a report always serialises")
}
