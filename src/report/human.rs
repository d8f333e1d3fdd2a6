//! The people-facing rendering of a [`Report`], printed on stderr: the plan grouped by
//! product, one line per change (`SKU  field  old → new`), then pulls, conflicts, row
//! errors and guard refusals in plain words, then a one-line summary.
//!
//! Colour is plain ANSI and only when asked (the caller knows whether stderr is a
//! terminal and whether `NO_COLOR` is set). Padding is computed before colouring, so
//! columns line up either way.

use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{ChangeReport, ConflictReport, PublishReport, Report, Status};
use crate::plan::{ConflictKind, Refusal, Resolution};

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

const ADOPT_HINT: &str = "Sheet and store differ and there is no baseline yet (a first sync, a new SKU or \
                          location, or a lost state dir), so nothing is written either way until you choose. If \
                          the sheet is right, run `sheetsync sync --adopt sheet` to push the sheet's values; if the store is \
                          right, run `sheetsync sync --adopt store` to pull the store's values into the sheet.";

/// The report as text for people. Ends with a newline.
pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint(color);
    let mut sections: Vec<String> = Vec::new();
    if !report.changes.is_empty() {
        sections.push(changes(report, paint));
    }
    sections.extend(publishes(report, paint));
    if !report.pulled.is_empty() {
        sections.push(pulls(report, paint));
    }
    if !report.conflicts.is_empty() {
        sections.push(conflicts(report, paint));
    }
    if !report.errors.is_empty() {
        sections.push(errors(report, paint));
    }
    if !report.refused.is_empty() {
        sections.push(refusals(report, paint));
    }
    sections.extend(write_back(report, paint));
    if sections.is_empty() && report.fatal.is_none() {
        sections.push("Nothing to change: the store matches the sheet.\n".to_owned());
    }
    if report.interrupted {
        sections.push(format!(
            "{}: the request in flight finished; the remaining changes were skipped.\n",
            paint.on(YELLOW, "Interrupted")
        ));
    }
    sections.push(summary(report));
    sections.join("\n")
}

#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn on(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

/// `inventory@Main Warehouse` for stock, the field name otherwise.
fn field_label(field: &str, location: Option<&str>) -> String {
    match location {
        Some(loc) => format!("{field}@{loc}"),
        None => field.to_owned(),
    }
}

/// A reported value for people: strings bare, empty as `(empty)`.
fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(empty)".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn width<'a>(items: impl Iterator<Item = &'a str>) -> usize {
    items.map(|s| s.chars().count()).max().unwrap_or(0)
}

fn pad(text: &str, width: usize) -> String {
    format!(
        "{text}{}",
        " ".repeat(width.saturating_sub(text.chars().count()))
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn changes(report: &Report, paint: Paint) -> String {
    // Products in order of first appearance; the plan's order is stable, so this is too.
    let mut groups: Vec<(&str, Vec<&ChangeReport>)> = Vec::new();
    for change in &report.changes {
        match groups
            .iter_mut()
            .find(|(title, _)| *title == change.product)
        {
            Some((_, list)) => list.push(change),
            None => groups.push((&change.product, vec![change])),
        }
    }
    let labels: Vec<String> = report
        .changes
        .iter()
        .map(|c| field_label(&c.field, c.location.as_deref()))
        .collect();
    let sku_w = width(report.changes.iter().map(|c| c.sku.as_str()));
    let field_w = width(labels.iter().map(String::as_str));

    let what = format!(
        "{} in {}",
        plural(report.changes.len(), "value", "values"),
        plural(groups.len(), "product", "products")
    );
    let heading = if report.dry_run {
        format!("Would change {what}:")
    } else {
        format!("Changes to {what}:")
    };
    let mut out = format!("{}\n", paint.on(BOLD, &heading));
    for (title, list) in groups {
        let title = if title.is_empty() {
            "(untitled product)"
        } else {
            title
        };
        let _ = writeln!(out, "  {}", paint.on(BOLD, title));
        for change in list {
            let label = field_label(&change.field, change.location.as_deref());
            let mut line = format!(
                "    {}  {}  {} → {}",
                pad(&change.sku, sku_w),
                pad(&label, field_w),
                value(&change.from),
                value(&change.to)
            );
            let outcome = match change.status {
                Status::Planned => None,
                Status::Applied => Some(paint.on(GREEN, "applied")),
                Status::Failed => Some(paint.on(RED, "failed")),
                Status::Skipped => Some(paint.on(YELLOW, "skipped")),
            };
            if let Some(outcome) = outcome {
                let _ = write!(line, "  {outcome}");
                if let Some(error) = &change.error {
                    let _ = write!(line, ": {error}");
                }
            }
            if let Some(note) = &change.note {
                let _ = write!(line, "  ({note})");
            }
            if change.create.is_some() {
                let _ = write!(line, "  (new)");
            }
            let _ = writeln!(out, "{line}");
        }
        for p in report.publications.iter().filter(|p| p.group == title) {
            let _ = writeln!(out, "    {}", publish_line(p, paint));
        }
    }
    out
}

/// `published to Online Store, Point of Sale`, with its outcome once there is one.
fn publish_line(p: &PublishReport, paint: Paint) -> String {
    let mut line = format!("published to {}", p.publications.join(", "));
    let outcome = match p.status {
        Status::Planned => None,
        Status::Applied => Some(paint.on(GREEN, "applied")),
        Status::Failed => Some(paint.on(RED, "failed")),
        Status::Skipped => Some(paint.on(YELLOW, "skipped")),
    };
    if let Some(outcome) = outcome {
        let _ = write!(line, "  {outcome}");
        if let Some(error) = &p.error {
            let _ = write!(line, ": {error}");
        }
    }
    line
}

/// Publishes of products no change of this run names (created by an earlier run whose
/// publish did not go through); the others are shown under their product's changes.
fn publishes(report: &Report, paint: Paint) -> Option<String> {
    let alone: Vec<&PublishReport> = report
        .publications
        .iter()
        .filter(|p| !report.changes.iter().any(|c| c.product == p.group))
        .collect();
    if alone.is_empty() {
        return None;
    }
    let heading = if report.dry_run {
        "Would publish products an earlier run created:"
    } else {
        "Products an earlier run created:"
    };
    let mut out = format!(
        "{}
",
        paint.on(BOLD, heading)
    );
    for p in alone {
        let _ = writeln!(
            out,
            "  {} ({:?}): {}",
            p.product,
            p.handle,
            publish_line(p, paint)
        );
    }
    Some(out)
}

fn pulls(report: &Report, paint: Paint) -> String {
    let heading = if report.dry_run {
        "Would pull into the sheet (changed in the store, not in the sheet):"
    } else {
        "Pulled into the sheet (changed in the store, not in the sheet):"
    };
    let labels: Vec<String> = report
        .pulled
        .iter()
        .map(|p| field_label(&p.field, p.location.as_deref()))
        .collect();
    let sku_w = width(report.pulled.iter().map(|p| p.sku.as_str()));
    let field_w = width(labels.iter().map(String::as_str));
    let mut out = format!("{}\n", paint.on(BOLD, heading));
    for (pull, label) in report.pulled.iter().zip(&labels) {
        let mut line = format!(
            "  {}  {}  {} → {}",
            pad(&pull.sku, sku_w),
            pad(label, field_w),
            value(&pull.from),
            value(&pull.to)
        );
        let outcome = match pull.status {
            None | Some(Status::Planned) => None,
            Some(Status::Applied) => Some(paint.on(GREEN, "written")),
            Some(Status::Failed) => Some(paint.on(RED, "failed")),
            Some(Status::Skipped) => Some(paint.on(YELLOW, "skipped")),
        };
        if let Some(outcome) = outcome {
            let _ = write!(line, "  {outcome}");
            if let Some(error) = &pull.error {
                let _ = write!(line, ": {error}");
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Rows write-back left alone because the sheet changed under the run, and a sheet write
/// that failed as a whole.
fn write_back(report: &Report, paint: Paint) -> Option<String> {
    let wb = report.write_back.as_ref()?;
    if wb.rows_skipped.is_empty() && wb.error.is_none() {
        return None;
    }
    let mut out = format!("{}\n", paint.on(BOLD, "Sheet write-back:"));
    for s in &wb.rows_skipped {
        let sku = s.sku.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "  row {} {sku}: {} (retried next run)",
            s.row,
            paint.on(YELLOW, &s.reason)
        );
    }
    if let Some(e) = &wb.error {
        let _ = writeln!(out, "  {}", paint.on(RED, e));
    }
    Some(out)
}

/// What happened to one conflict, in words.
fn conflict_words(c: &ConflictReport) -> String {
    let (sheet, store) = (value(&c.sheet), value(&c.store));
    match c.kind {
        ConflictKind::BothChanged => {
            let outcome = match c.resolution {
                Resolution::Sheet => "the sheet's value wins",
                Resolution::Store => "the store's value wins",
                Resolution::None => "left alone",
            };
            format!(
                "both changed since the last sync (was {}, sheet {sheet}, store {store}): {outcome}",
                value(&c.baseline)
            )
        }
        ConflictKind::NoBaseline => {
            let outcome = match c.resolution {
                Resolution::Sheet => "the sheet's value is pushed (--adopt sheet)",
                Resolution::Store => "the store's value is pulled (--adopt store)",
                Resolution::None => "nothing written either way",
            };
            format!("sheet {sheet}, store {store}, no baseline yet: {outcome}")
        }
        ConflictKind::ChangedSince => format!(
            "changed since the reverted run (it wrote {}, store now {store}): left alone",
            value(&c.baseline)
        ),
    }
}

fn conflicts(report: &Report, paint: Paint) -> String {
    let labels: Vec<String> = report
        .conflicts
        .iter()
        .map(|c| field_label(&c.field, c.location.as_deref()))
        .collect();
    let sku_w = width(report.conflicts.iter().map(|c| c.sku.as_str()));
    let field_w = width(labels.iter().map(String::as_str));
    let mut out = format!("{}\n", paint.on(BOLD, "Conflicts:"));
    for (c, label) in report.conflicts.iter().zip(&labels) {
        let words = conflict_words(c);
        let words = if c.resolution == Resolution::None {
            paint.on(YELLOW, &words)
        } else {
            words
        };
        let _ = writeln!(
            out,
            "  {}  {}  {words}",
            pad(&c.sku, sku_w),
            pad(label, field_w)
        );
    }
    if report
        .conflicts
        .iter()
        .any(|c| c.kind == ConflictKind::NoBaseline && c.resolution == Resolution::None)
    {
        let _ = writeln!(out, "  {ADOPT_HINT}");
    }
    out
}

fn errors(report: &Report, paint: Paint) -> String {
    let heading = format!(
        "Row errors ({} left alone):",
        plural(report.errors.len(), "row", "rows")
    );
    let cell_w = width(report.errors.iter().map(|e| e.cell.as_str()));
    let sku_w = width(report.errors.iter().map(|e| e.sku.as_deref().unwrap_or("")));
    let mut out = format!("{}\n", paint.on(BOLD, &heading));
    for e in &report.errors {
        let sku = e.sku.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "  {}  {}  {}",
            pad(&e.cell, cell_w),
            pad(sku, sku_w),
            paint.on(RED, &e.message)
        );
    }
    out
}

/// `part` as a whole percentage of `whole`, when both are numbers and `whole` is not 0.
fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero()).then(|| (part * Decimal::ONE_HUNDRED / whole).round())
}

fn refusal_words(r: &Refusal) -> String {
    match r {
        Refusal::EmptySheet => "the sheet has no data rows".to_owned(),
        Refusal::ChangeRatio {
            changed,
            total,
            max,
        } => {
            let share = percent(Decimal::from(*changed), Decimal::from(*total))
                .map(|p| format!(" ({p}%)"))
                .unwrap_or_default();
            format!(
                "{changed} of {total} SKUs read would get a store write{share}, more than max_change_ratio = {max} allows"
            )
        }
        Refusal::StockToZero { zeroed, total } => {
            format!(
                "{zeroed} of {total} stock cells would go from above zero to zero (more than half)"
            )
        }
        Refusal::PriceChange {
            sku,
            row,
            from,
            to,
            max,
        } => {
            let moves = Decimal::from_str(from)
                .ok()
                .zip(Decimal::from_str(to).ok())
                .and_then(|(f, t)| percent((t - f).abs(), f))
                .map(|p| format!(" moves by {p}%,"))
                .unwrap_or_default();
            format!(
                "{sku} (row {row}): price {from} → {to}{moves} more than max_price_change = {max} allows"
            )
        }
    }
}

fn refusals(report: &Report, paint: Paint) -> String {
    let heading = if report.dry_run {
        "A safety guard would refuse this plan:"
    } else {
        "Refused by a safety guard; nothing was written to the store:"
    };
    let mut out = format!("{}\n", paint.on(RED, &paint.on(BOLD, heading)));
    for r in &report.refused {
        let _ = writeln!(out, "  {}", refusal_words(r));
    }
    out.push_str("  Re-run with --yes to apply anyway.\n");
    out
}

fn summary(report: &Report) -> String {
    let s = &report.summary;
    let mut first = Vec::new();
    if report.dry_run {
        first.push(format!(
            "would change {}",
            plural(s.planned, "value", "values")
        ));
        if !report.pulled.is_empty() {
            first.push(format!("pull {}", report.pulled.len()));
        }
    } else {
        first.push(format!("{} applied", s.applied));
        for (n, word) in [
            (s.failed, "failed"),
            (s.skipped, "skipped"),
            (s.planned, "not attempted"),
        ] {
            if n > 0 {
                first.push(format!("{n} {word}"));
            }
        }
        if !report.pulled.is_empty() {
            first.push(format!("{} pulled", report.pulled.len()));
        }
    }
    let mut second = Vec::new();
    if !report.conflicts.is_empty() {
        second.push(plural(report.conflicts.len(), "conflict", "conflicts"));
    }
    if s.errors > 0 {
        second.push(plural(s.errors, "row error", "row errors"));
    }
    second.push(format!("{} unchanged", plural(s.unchanged, "row", "rows")));

    let prefix = if report.fatal.is_some() {
        "Stopped"
    } else if report.interrupted {
        "Interrupted"
    } else if report.dry_run {
        "Dry run"
    } else if !report.refused.is_empty() {
        "Refused"
    } else {
        "Done"
    };
    let tail = if report.dry_run {
        " Nothing was written."
    } else {
        ""
    };
    format!(
        "{prefix}: {}; {}.{tail}\n",
        first.join(", "),
        second.join(", ")
    )
}
