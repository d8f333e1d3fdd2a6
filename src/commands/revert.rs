//! `sheetsync revert ID` (SPEC §1, §4.11): puts back the store values a journaled run
//! replaced, writes them into the sheet, and moves the baseline, so the next `sync` does
//! not re-apply what was reverted.
//!
//! The run's journal rows are the source ([`StateStore::run_rows`], typed, written with the
//! run; only a run recorded before the journal kept rows falls back to its stored report,
//! in [`rows_from_stored_report`]): each `applied` change is turned around
//! (`from` = what the run wrote, `to` = what it replaced). Just before writing, the store
//! is read again and each value is judged by [`classify`]:
//!
//! - the store still holds what the run wrote: written back, stock by compare-and-set
//!   against that quantity, variant fields through the executor's per-product update; a
//!   stock write that comes back stale is not retried ([`Executor::never_overwrite`]);
//! - the store already holds the old value: nothing to send;
//! - anything else changed since the run: a `changed_since` conflict, left alone.
//!
//! The sheet gets the old value in the row that now holds the SKU, only where the cell
//! still holds what the run pushed (a later edit by the merchant is kept and the change
//! says so), through the guarded write-back of §4.5. Pulls of a reverted sync are not
//! reverted: they copied store-side changes (sales) into the sheet, which no store write
//! undid.
//!
//! A `pull` run wrote into the sheet only, so its revert ([`classify_pulls`]) touches the
//! sheet only: each cell the pull wrote that still holds the store value it wrote gets
//! back the value it held (a blank stays blank), and the baseline moves back to that
//! value, which is what it was before the pull. Nothing is sent to the store, and the
//! next sync plans what it would have planned had the pull never run. Values of products and variants the run created (`sync.create_missing`) are
//! `skipped`: nothing is deleted, and neither their sheet cells nor their baseline move;
//! nor are its publishes undone. The revert is journaled as a run of its own; `--dry-run`
//! writes nothing anywhere.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::apply::{self, Ended, Executor, Outcomes, SKIP_CHANGED_SINCE};
use crate::engine::{Engine, EngineError, HEADER_SCAN_ROWS, RunOptions};
use crate::model::{CellRef, Currency, Field, FieldKey, LocationName, Sku, Value};
use crate::plan::{Change, ConflictKind, Plan, Resolution, Snapshot};
use crate::report::journal::{journal_rows, record_finished};
use crate::report::{ChangeReport, ConflictReport, PullReport, Report, RunMeta, Status};
use crate::sheet::parse::{self, ColumnKey, Intent, Layout, ParsedSheet, Row};
use crate::sheet::writeback::{self, CellWrite, ReadGrid, RowWrites};
use crate::state::{self, JournalRow, RowKind, RowStatus, Scope, StateError, StateStore};

/// Where the sheet stands for one reverted value.
#[derive(Debug, Clone, PartialEq)]
pub enum SheetSide {
    /// The cell still holds what the run pushed: the old value goes into it.
    Holds { cell: CellRef, raw: Json },
    /// The cell holds something else now (the merchant's later edit): left as is.
    Changed { value: Option<Value> },
    /// No cell to write, with why (row gone, row with errors, column not configured).
    Missing(String),
}

/// What to do in the store for one reverted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this change (the store holds what the run wrote).
    Write(Box<Change>),
    /// The store already holds the old value.
    AlreadyThere,
    /// Changed since the run: the store's current value, not overwritten.
    Conflict { store: Option<Value> },
    /// Cannot be reverted, with why.
    Skip(String),
}

/// One value the reverted run replaced, and what the revert does with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub sku: Sku,
    pub key: FieldKey,
    /// The row that now holds the SKU (the run's row when the sheet lost it).
    pub row: u32,
    pub product: String,
    /// What the run wrote (the revert's `from`).
    pub wrote: Option<Value>,
    /// What the run replaced (the revert's `to`).
    pub replaced: Option<Value>,
    pub action: Action,
    pub sheet: SheetSide,
}

/// The rows of a run recorded before the journal kept them (schema 1), read once from
/// its stored JSON report: the only place `revert` parses a report back. `None` for an
/// unknown or unfinished run.
pub fn rows_from_stored_report(
    state: &dyn StateStore,
    run_id: &str,
) -> Result<Option<Vec<JournalRow>>, StateError> {
    let Some(text) = state.run_report(run_id)? else {
        return Ok(None);
    };
    let stored: Report = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
        path: state.path().to_path_buf(),
        detail: format!("the report of run {run_id} is not readable: {e}"),
    })?;
    Ok(Some(journal_rows(&stored)))
}

/// Whether a sheet cell (as parsed) holds `value`: blank and `CLEAR` hold "empty", and a
/// barcode Sheets turned into a number holds the text with leading zeros.
fn cell_holds(intent: Option<&Intent>, value: Option<&Value>) -> bool {
    match (intent, value) {
        (None | Some(Intent::Clear), None) => true,
        (Some(Intent::Set(v)), Some(w)) => v == w,
        (Some(Intent::NumericBarcode(digits)), Some(Value::Text(t))) => {
            t.trim_start_matches('0') == digits.trim_start_matches('0')
        }
        _ => false,
    }
}

fn cell_value(intent: Option<&Intent>) -> Option<Value> {
    match intent {
        Some(Intent::Set(v)) => Some(v.clone()),
        Some(Intent::NumericBarcode(d)) => Some(Value::Text(d.clone())),
        None | Some(Intent::Clear) => None,
    }
}

fn column_of(layout: &Layout, key: &FieldKey) -> Option<u32> {
    let want = match (&key.field, &key.location) {
        // Row-per-location: one stock column, the row says where.
        (Field::Inventory, Some(_))
            if layout
                .columns
                .iter()
                .any(|(spec, _)| spec.key == ColumnKey::RowStock) =>
        {
            ColumnKey::RowStock
        }
        (Field::Inventory, Some(loc)) => ColumnKey::Stock(loc.clone()),
        (Field::Inventory, None) => ColumnKey::OwnStock,
        (f, _) if f.is_product() => ColumnKey::Product(f.name()),
        (f, _) => ColumnKey::Field(*f),
    };
    layout
        .columns
        .iter()
        .find(|(spec, _)| spec.key == want)
        .map(|(_, c)| *c)
}

/// Plans the revert of a run's journal `rows` against the store and the sheet as just
/// read. Pure.
pub fn classify(
    rows: &[JournalRow],
    snapshot: &Snapshot,
    layout: &Layout,
    sheet: &ParsedSheet,
    locations: &BTreeMap<LocationName, String>,
) -> Vec<Item> {
    let mut items = Vec::new();
    for c in rows
        .iter()
        .filter(|c| c.kind == RowKind::Change && c.status == Some(RowStatus::Applied))
    {
        let (sku, key, field) = (c.sku.clone(), c.key.clone(), c.key.field);
        let mut item = Item {
            sku: sku.clone(),
            key: key.clone(),
            row: c.row,
            product: c.product.clone(),
            wrote: c.to.clone(),
            replaced: c.from.clone(),
            action: Action::AlreadyThere,
            sheet: SheetSide::Missing(String::new()),
        };
        item.sheet = sheet_side(&item, layout, sheet);
        if let Some(r) = sheet.rows.iter().find(|r| holds_key(r, &sku, &key)) {
            item.row = r.row;
        }
        // A value the run created with its product or variant has nothing to go back
        // to: undoing it would mean deleting what the run created, and a sale may have
        // happened since. Left as it is, store, sheet and baseline alike.
        if let Some(what) = c.created {
            item.action = Action::Skip(created_reason(what.as_str()));
            items.push(item);
            continue;
        }
        item.action = match snapshot.variants.get(&sku).map(Vec::as_slice) {
            None | Some([]) => Action::Skip("the SKU is no longer in the store".into()),
            Some([v]) => {
                item.product.clone_from(&v.product.title);
                let current = v.value(&key);
                if current == item.replaced {
                    Action::AlreadyThere
                } else if current != item.wrote {
                    Action::Conflict { store: current }
                } else if field == Field::Inventory
                    && !key
                        .location
                        .as_ref()
                        .is_some_and(|l| locations.contains_key(l))
                {
                    Action::Skip("the location is no longer configured".into())
                } else if field == Field::Inventory && item.replaced.is_none() {
                    Action::Skip(
                        "the run stocked the item here for the first time; sheetsync does not \
                         remove inventory levels (do it in Shopify if needed)"
                            .into(),
                    )
                } else if field == Field::Price && item.replaced.is_none() {
                    Action::Skip("a price cannot be emptied".into())
                } else {
                    Action::Write(Box::new(Change {
                        sku: sku.clone(),
                        row: item.row,
                        cell: match &item.sheet {
                            SheetSide::Holds { cell, .. } => cell.clone(),
                            _ => CellRef::new(layout.tab.clone(), 0, item.row),
                        },
                        key: key.clone(),
                        from: current,
                        to: item.replaced.clone(),
                        product_id: v.product.id.clone(),
                        product_title: v.product.title.clone(),
                        variant_id: v.variant_id.to_string(),
                        inventory_item_id: v.inventory_item_id.to_string(),
                        activate: false,
                        note: None,
                        create: None,
                    }))
                }
            }
            Some(many) => Action::Skip(format!(
                "the SKU is on {} variants in the store; fix it in Shopify",
                many.len()
            )),
        };
        items.push(item);
    }
    items
}

/// Whether `row` is where the sheet states `key` of `sku`: its SKU's row, and in the
/// row-per-location shape the row at the stock's location.
fn holds_key(row: &Row, sku: &Sku, key: &FieldKey) -> bool {
    row.sku == *sku
        && (key.field != Field::Inventory || row.location.is_none() || row.location == key.location)
}

/// Why a value the reverted run created (`create`: `product` or `variant`) is skipped.
pub fn created_reason(create: &str) -> String {
    let what = if create == "product" {
        "product"
    } else {
        "variant"
    };
    format!(
        "created by the run: sheetsync does not delete what it created; delete the {what} \
         in the Shopify admin if unwanted"
    )
}

/// Where the sheet stands for `item`: the row holding its SKU, and whether its cell still
/// holds what the run pushed.
fn sheet_side(item: &Item, layout: &Layout, sheet: &ParsedSheet) -> SheetSide {
    let Some(col) = column_of(layout, &item.key) else {
        return SheetSide::Missing("the sheet has no column for it".into());
    };
    let rows: Vec<_> = sheet
        .rows
        .iter()
        .filter(|r| holds_key(r, &item.sku, &item.key))
        .collect();
    let row = match rows.as_slice() {
        [one] => *one,
        [] if sheet
            .errors
            .iter()
            .any(|e| e.sku.as_ref() == Some(&item.sku)) =>
        {
            return SheetSide::Missing("its sheet row has errors".into());
        }
        [] => return SheetSide::Missing("the SKU is no longer in the sheet".into()),
        _ => return SheetSide::Missing("the SKU is on several sheet rows".into()),
    };
    let entry = row.values.get(&item.key);
    let intent = entry.map(|e| &e.intent);
    if cell_holds(intent, item.wrote.as_ref()) {
        let cell = CellRef::new(layout.tab.clone(), col, row.row);
        let raw = entry.map_or(Json::Null, |e| e.raw.clone());
        SheetSide::Holds { cell, raw }
    } else {
        SheetSide::Changed {
            value: cell_value(intent),
        }
    }
}

impl Engine {
    /// One `revert` of journaled run `target` (`opts` names the revert's own run). An
    /// unknown or unfinished run is a usage error (exit 2).
    pub async fn revert(&self, target: &str, opts: &RunOptions) -> Result<Report, EngineError> {
        let cfg = &self.config;
        let scope: Scope = self.scope();
        let _lock = if opts.dry_run {
            None
        } else {
            Some(self.take_writer("revert", "sheetsync revert")?)
        };
        let unknown = || {
            EngineError::Config(format!(
                "no finished run {target:?} in {} (`sheetsync runs` lists them)",
                state::describe(cfg)
            ))
        };
        let reader = match state::open_reader_for(cfg, &scope) {
            // A state written by an older build: the writer (holding the lock) migrates
            // it, and the run is then read through the fallback below.
            Err(StateError::NeedsUpgrade { .. }) if !opts.dry_run => {
                Some(state::open_writer_for(cfg, &scope)?)
            }
            other => other?,
        }
        .ok_or_else(unknown)?;
        let stored = match reader.run_rows(target)? {
            Some(rows) => rows,
            None => rows_from_stored_report(&*reader, target)?.ok_or_else(unknown)?,
        };
        let command = reader
            .list_runs(usize::MAX)?
            .into_iter()
            .find(|r| r.run_id == target)
            .map(|r| r.command);
        drop(reader);
        if command.as_deref() == Some("pull") {
            return self.revert_pull(&stored, opts).await;
        }

        let (store_side, header_rows) = tokio::join!(
            self.read_store_meta(),
            self.sheets
                .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, HEADER_SCAN_ROWS)
        );
        let (_currency, locations) = store_side?;
        let header_rows = header_rows?;
        let specs = cfg.column_specs_for(&header_rows);
        let layout = parse::locate(&cfg.sheet.tab, &header_rows, &specs)?;
        let cols: Vec<u32> = layout.columns.iter().map(|(_, c)| *c).collect();
        let loc_pairs: Vec<(LocationName, String)> = locations
            .iter()
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect();
        let (snapshot, columns) = tokio::join!(
            self.store.snapshot(&loc_pairs),
            self.sheets
                .read_columns(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, &cols)
        );
        let (snapshot, columns) = (snapshot?, columns?);
        let sheet = parse::parse(&layout, &columns, &snapshot.currency)?;
        let currency = snapshot.currency.clone();

        let items = classify(&stored, &snapshot, &layout, &sheet, &locations);
        let writes: Vec<usize> = (0..items.len())
            .filter(|&i| matches!(items[i].action, Action::Write(_)))
            .collect();
        let plan = Plan {
            changes: writes
                .iter()
                .filter_map(|&i| match &items[i].action {
                    Action::Write(c) => Some(Change::clone(c)),
                    _ => None,
                })
                .collect(),
            rows_read: sheet.rows_read,
            ..Plan::default()
        };
        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: cfg.shop_name().to_owned(),
            spreadsheet_id: cfg.sheet.spreadsheet_id.clone(),
        };
        let mut report = Report::from_plan(&plan, meta, &currency, opts.dry_run);

        if opts.dry_run {
            let mut reverted = vec![false; items.len()];
            finish_report(&mut report, &items, &writes, None, &mut reverted, &currency);
            report.recount();
            return Ok(report);
        }

        let mut state = state::open_writer_for(cfg, &scope)?;
        apply::recover::settle_unsettled(self.store.as_ref(), &mut state, &snapshot, &locations)?;
        state.begin_run(&opts.run_id, &opts.started_at, "revert", false)?;
        let journal = std::sync::Mutex::new(state);
        let executor = Executor::new(
            self.store.as_ref(),
            &journal,
            &opts.run_id,
            &locations,
            cfg.sync.inventory,
        )
        .with_cancel(opts.cancel.clone())
        .never_overwrite();
        let outcomes = executor.apply(&plan, &Default::default()).await;
        let mut state = journal.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut ignored = Vec::new();
        apply::record(&mut report, &plan, &outcomes, &currency, &mut ignored);

        // Which items the store now holds the old value for.
        let mut reverted = vec![false; items.len()];
        finish_report(
            &mut report,
            &items,
            &writes,
            Some(&outcomes),
            &mut reverted,
            &currency,
        );
        report.interrupted = opts.cancel.is_cancelled();

        let mut fates: BTreeMap<usize, writeback::Fate> = BTreeMap::new();
        if !report.interrupted {
            fates = self
                .write_reverted(&layout, &columns, &items, &reverted, true, &mut report)
                .await;
        }
        // The baseline moves to the old value where the store holds it, unless the sheet
        // still shows what the run pushed (its write failed or was skipped): then the old
        // baseline stays, and the next three-way sync pulls the store's value in.
        let baseline: Vec<(Sku, FieldKey, Option<Value>)> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| {
                reverted[*i]
                    && match item.sheet {
                        SheetSide::Holds { .. } => fates.get(i).is_some_and(|f| f.confirmed()),
                        SheetSide::Changed { .. } | SheetSide::Missing(_) => true,
                    }
            })
            .map(|(_, item)| (item.sku.clone(), item.key.clone(), item.replaced.clone()))
            .collect();
        report.recount();
        state.set_baseline(&baseline)?;
        record_finished(&mut *state, &opts.run_id, &report, false)?;
        Ok(report)
    }

    /// The revert of `pull` run journal rows `stored` (see [`classify_pulls`]): the sheet only, its
    /// entries reported under `pulled` (`from` what the pull wrote, `to` what goes back).
    async fn revert_pull(
        &self,
        stored: &[JournalRow],
        opts: &RunOptions,
    ) -> Result<Report, EngineError> {
        let cfg = &self.config;
        let (store_side, header_rows) = tokio::join!(
            self.read_store_meta(),
            self.sheets
                .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, HEADER_SCAN_ROWS)
        );
        let (code, _) = store_side?;
        let currency = Currency::new(&code);
        let header_rows = header_rows?;
        let specs = cfg.column_specs_for(&header_rows);
        let layout = parse::locate(&cfg.sheet.tab, &header_rows, &specs)?;
        let cols: Vec<u32> = layout.columns.iter().map(|(_, c)| *c).collect();
        let columns = self
            .sheets
            .read_columns(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, &cols)
            .await?;
        let sheet = parse::parse(&layout, &columns, &currency)?;
        let items = classify_pulls(stored, &layout, &sheet);

        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: cfg.shop_name().to_owned(),
            spreadsheet_id: cfg.sheet.spreadsheet_id.clone(),
        };
        let mut report = Report::from_plan(&Plan::default(), meta, &currency, opts.dry_run);
        report.rows_read = sheet.rows_read;
        let writable: Vec<bool> = items
            .iter()
            .map(|i| matches!(i.sheet, SheetSide::Holds { .. }))
            .collect();
        let json = |v: &Option<Value>| v.as_ref().map_or(Json::Null, |v| v.to_json(&currency));
        let entry = |item: &Item, status: Option<Status>, error: Option<String>| PullReport {
            sku: item.sku.to_string(),
            row: item.row,
            field: item.key.field.name().to_owned(),
            location: item.key.location.clone(),
            from: json(&item.wrote),
            to: json(&item.replaced),
            status,
            error,
        };
        let left = |item: &Item| match &item.sheet {
            SheetSide::Holds { .. } => None,
            SheetSide::Changed { .. } => {
                Some("sheet cell left as is: it no longer holds what the pull wrote".to_owned())
            }
            SheetSide::Missing(why) => Some(format!("sheet not written: {why}")),
        };

        if opts.dry_run {
            for item in &items {
                let (status, error) = match left(item) {
                    None => (None, None),
                    Some(why) => (Some(Status::Skipped), Some(why)),
                };
                report.pulled.push(entry(item, status, error));
            }
            return Ok(report);
        }

        let mut state = state::open_writer_for(cfg, &self.scope())?;
        state.begin_run(&opts.run_id, &opts.started_at, "revert", false)?;
        let fates = self
            .write_reverted(&layout, &columns, &items, &writable, false, &mut report)
            .await;
        let mut baseline = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (status, error) = match (left(item), fates.get(&i)) {
                (Some(why), _) => (Status::Skipped, Some(why)),
                (None, Some(writeback::Fate::Written | writeback::Fate::AlreadyThere)) => {
                    // Back to what it was before the pull (a blank had none the pull
                    // could replace: blank means "leave alone", so it stays at the store).
                    if item.replaced.is_some() {
                        baseline.push((item.sku.clone(), item.key.clone(), item.replaced.clone()));
                    }
                    (Status::Applied, None)
                }
                (None, Some(writeback::Fate::Skipped(why))) => (Status::Skipped, Some(why.clone())),
                (None, Some(writeback::Fate::Failed(why))) => (Status::Failed, Some(why.clone())),
                (None, None) => (Status::Skipped, Some("not written".to_owned())),
            };
            report.pulled.push(entry(item, Some(status), error));
        }
        if report
            .write_back
            .as_ref()
            .is_some_and(|w| w.error.is_some())
        {
            report.fatal = Some(crate::report::Fatal::Run);
        }
        report.recount();
        state.set_baseline(&baseline)?;
        record_finished(&mut *state, &opts.run_id, &report, false)?;
        Ok(report)
    }

    /// Writes the old values into the cells that still hold what the reverted run pushed
    /// (and `synced_at` on their rows), through the guarded write-back. Returns each
    /// written item's fate, by item index.
    async fn write_reverted(
        &self,
        layout: &Layout,
        columns: &[Vec<Json>],
        items: &[Item],
        reverted: &[bool],
        stamp: bool,
        report: &mut Report,
    ) -> BTreeMap<usize, writeback::Fate> {
        let grid = ReadGrid { layout, columns };
        let synced_col = layout
            .columns
            .iter()
            .find(|(spec, _)| spec.key == ColumnKey::SyncedAt)
            .map(|(_, c)| *c);
        let sku_col = layout
            .columns
            .iter()
            .find(|(spec, _)| spec.key == ColumnKey::Sku)
            .map_or(0, |(_, c)| *c);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut by_row: BTreeMap<u32, RowWrites> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let SheetSide::Holds { cell, raw } = &item.sheet else {
                continue;
            };
            if !reverted[i] {
                continue;
            }
            let row = by_row.entry(cell.row).or_insert_with(|| RowWrites {
                row: cell.row,
                sku: Some(item.sku.clone()),
                sku_expected: grid.at(sku_col, cell.row),
                cells: Vec::new(),
            });
            row.cells.push(CellWrite {
                cell: cell.clone(),
                expected: raw.clone(),
                value: writeback::sheet_value(item.replaced.as_ref()),
                carries: Some(i),
            });
        }
        if let Some(col) = synced_col.filter(|_| stamp) {
            for (r, w) in &mut by_row {
                w.cells.push(CellWrite {
                    cell: CellRef::new(layout.tab.clone(), col, *r),
                    expected: grid.at(col, *r),
                    value: Json::String(now.clone()),
                    carries: None,
                });
            }
        }
        let rows: Vec<RowWrites> = by_row.into_values().collect();
        let outcome = writeback::execute(
            &self.sheets,
            &self.config.sheet.spreadsheet_id,
            &layout.tab,
            sku_col,
            &rows,
        )
        .await;
        if let Some(e) = &outcome.report.error {
            tracing::warn!(error = %e, "Writing the reverted values into the sheet failed");
        }
        let mut fates = BTreeMap::new();
        for (r, row_fates) in rows.iter().zip(&outcome.fates) {
            for (c, fate) in r.cells.iter().zip(row_fates) {
                if let Some(i) = c.carries {
                    fates.insert(i, fate.clone());
                }
            }
        }
        // Say on each change where its sheet cell ended, when it did not end written.
        for (i, fate) in &fates {
            let why = match fate {
                writeback::Fate::Written | writeback::Fate::AlreadyThere => continue,
                writeback::Fate::Skipped(why) | writeback::Fate::Failed(why) => why,
            };
            add_note(report, &items[*i], &format!("sheet not written: {why}"));
        }
        report.write_back = Some(outcome.report);
        fates
    }
}

/// Plans the revert of a `pull` run's journal `rows` against the sheet as just read:
/// one item per cell the pull confirmed written, to be written back while the cell
/// still holds what the pull wrote. Pure.
pub fn classify_pulls(rows: &[JournalRow], layout: &Layout, sheet: &ParsedSheet) -> Vec<Item> {
    let mut items = Vec::new();
    for p in rows
        .iter()
        .filter(|p| p.kind == RowKind::Pulled && p.status == Some(RowStatus::Applied))
    {
        let (sku, key) = (p.sku.clone(), p.key.clone());
        let mut item = Item {
            sku: sku.clone(),
            key: key.clone(),
            row: p.row,
            product: String::new(),
            wrote: p.to.clone(),
            replaced: p.from.clone(),
            // The store is not touched: a pull never wrote to it.
            action: Action::AlreadyThere,
            sheet: SheetSide::Missing(String::new()),
        };
        item.sheet = sheet_side(&item, layout, sheet);
        if let Some(r) = sheet.rows.iter().find(|r| holds_key(r, &sku, &key)) {
            item.row = r.row;
        }
        items.push(item);
    }
    items
}

/// Completes the report from the items: stale stock writes become `changed_since`
/// conflicts, values already back and values that cannot be reverted are listed, and each
/// change says what happens to its sheet cell. Marks in `reverted` the items the store
/// holds the old value for (with `outcomes`; a dry run marks nothing).
fn finish_report(
    report: &mut Report,
    items: &[Item],
    writes: &[usize],
    outcomes: Option<&Outcomes>,
    reverted: &mut [bool],
    currency: &Currency,
) {
    let json = |v: &Option<Value>| v.as_ref().map_or(Json::Null, |v| v.to_json(currency));
    let sheet_json = |item: &Item| match &item.sheet {
        SheetSide::Holds { .. } => json(&item.wrote),
        SheetSide::Changed { value } => json(value),
        SheetSide::Missing(_) => Json::Null,
    };
    let conflict = |item: &Item, store: &Option<Value>| ConflictReport {
        sku: item.sku.to_string(),
        row: item.row,
        field: item.key.field.name().to_owned(),
        location: item.key.location.clone(),
        kind: ConflictKind::ChangedSince,
        baseline: json(&item.wrote),
        sheet: sheet_json(item),
        store: json(store),
        resolution: Resolution::None,
        cell: match &item.sheet {
            SheetSide::Holds { cell, .. } => Some(cell.to_string()),
            SheetSide::Changed { .. } | SheetSide::Missing(_) => None,
        },
    };

    // Stale stock writes: the store moved after the re-read; reported as conflicts.
    let mut stale = Vec::new();
    for (pos, &i) in writes.iter().enumerate() {
        let Some(o) = outcomes
            .and_then(|o| o.changes.get(pos))
            .and_then(Option::as_ref)
        else {
            continue;
        };
        match &o.ended {
            Ended::Applied => reverted[i] = true,
            Ended::Skipped(why) if why == SKIP_CHANGED_SINCE => {
                let store = o.from.clone().flatten();
                report.conflicts.push(conflict(&items[i], &store));
                stale.push(pos);
            }
            Ended::Skipped(_) | Ended::Failed(_) | Ended::Unknown(_) => {}
        }
    }
    for pos in stale.into_iter().rev() {
        report.changes.remove(pos);
    }

    let dry = outcomes.is_none();
    for (i, item) in items.iter().enumerate() {
        let extra = |status: Status, error: Option<String>, note: Option<String>| ChangeReport {
            sku: item.sku.to_string(),
            row: item.row,
            field: item.key.field.name().to_owned(),
            location: item.key.location.clone(),
            from: json(&item.wrote),
            to: json(&item.replaced),
            status,
            error,
            note,
            outcome: None,
            create: None,
            product: item.product.clone(),
        };
        match &item.action {
            Action::Write(_) => {}
            Action::AlreadyThere => {
                reverted[i] = !dry;
                let status = if dry {
                    Status::Planned
                } else {
                    Status::Applied
                };
                // `from` is what the store held, so reverting this revert sends nothing
                // for it either.
                let mut entry = extra(status, None, Some("store already had this value".into()));
                entry.from = json(&item.replaced);
                report.changes.push(entry);
            }
            Action::Skip(why) => {
                report
                    .changes
                    .push(extra(Status::Skipped, Some(why.clone()), None));
            }
            Action::Conflict { store } => report.conflicts.push(conflict(item, store)),
        }
        let sheet_note = match &item.sheet {
            SheetSide::Holds { .. } => None,
            SheetSide::Changed { .. } => Some(
                "sheet cell left as is: it no longer holds what the reverted run pushed".into(),
            ),
            SheetSide::Missing(why) => Some(format!("sheet not written: {why}")),
        };
        if let Some(note) = sheet_note
            && !matches!(item.action, Action::Conflict { .. } | Action::Skip(_))
        {
            add_note(report, item, &note);
        }
    }
}

/// Appends `note` to the report's change for `item`.
fn add_note(report: &mut Report, item: &Item, note: &str) {
    let field = item.key.field.name();
    if let Some(c) = report
        .changes
        .iter_mut()
        .find(|c| c.sku == item.sku.as_str() && c.field == field && c.location == item.key.location)
    {
        c.note = Some(match c.note.take() {
            Some(old) => format!("{old}; {note}"),
            None => note.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn a_cell_holds_a_value_by_meaning() {
        let money = Value::Money(Decimal::new(2100, 2));
        assert!(cell_holds(
            Some(&Intent::Set(Value::Money(Decimal::new(21, 0)))),
            Some(&money)
        ));
        assert!(cell_holds(None, None));
        assert!(cell_holds(Some(&Intent::Clear), None));
        assert!(!cell_holds(None, Some(&money)));
        assert!(cell_holds(
            Some(&Intent::NumericBarcode("840".into())),
            Some(&Value::Text("0840".into()))
        ));
    }
}
