//! `sheetsync pull` (SPEC §1): the store's catalog written into the sheet, under the
//! writer lock. Planning is [`crate::sheet::catalog`]; the guarded write is
//! [`crate::sheet::writeback::execute`]; here the two meet the clients and the baseline,
//! which moves only for cells the sheet confirmed (and for values both sides already
//! agree on), so the next `sync` plans nothing for them.
//!
//! A pull is a run like any other (SPEC §1 `runs`, `revert`): it is journaled before the
//! sheet write, and its report (SPEC §5 shape) lists each cell it wrote under `pulled`,
//! `from` the value the cell held (as parsed, `null` for a blank) and `to` the store's
//! value, which is what `revert` of a pull writes back.

use crate::engine::{Engine, EngineError, HEADER_SCAN_ROWS, RunOptions};
use crate::model::{LocationName, Value};
use crate::plan::Plan;
use crate::report::{Fatal, PullReport, Report, RunMeta, Status};
use crate::sheet::catalog::{self, CatalogPlan, CatalogReport};
use crate::sheet::parse::{self, HeaderError, Intent, ParsedSheet};
use crate::sheet::writeback::{self, Fate, ReadGrid};
use crate::state;

impl Engine {
    /// One `pull`: bootstraps an empty tab or refreshes the rows it has. Journaled as run
    /// `opts.run_id`.
    pub async fn pull(&self, opts: &RunOptions) -> Result<CatalogReport, EngineError> {
        let cfg = &self.config;
        let scope = self.scope();
        let _lock = self.take_writer("pull", "sheetsync pull")?;

        let (store_side, header_rows) = tokio::join!(
            self.read_store_meta(),
            self.sheets
                .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, HEADER_SCAN_ROWS)
        );
        let (_currency, locations) = store_side?;
        let loc_pairs: Vec<(LocationName, String)> = locations
            .iter()
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect();
        let (snapshot, without_sku) = self.store.snapshot_counted(&loc_pairs).await?;
        let mut state = state::open_writer_for(cfg, &scope)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

        let header_rows = header_rows?;
        let specs = cfg.column_specs_for(&header_rows);
        let mut rows_read = 0;
        let mut read: Option<ParsedSheet> = None;
        let plan: CatalogPlan = match parse::locate(&cfg.sheet.tab, &header_rows, &specs) {
            Err(HeaderError::EmptyTab { .. }) => catalog::bootstrap(
                &cfg.sheet.tab,
                &cfg.column_specs(),
                &snapshot,
                without_sku,
                &now,
            ),
            Err(e) => return Err(e.into()),
            Ok(layout) => {
                let cols: Vec<u32> = layout.columns.iter().map(|(_, c)| *c).collect();
                let columns = self
                    .sheets
                    .read_columns(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, &cols)
                    .await?;
                let sheet = parse::parse(&layout, &columns, &snapshot.currency)?;
                if let Some(note) = sheet.skipped_note() {
                    tracing::warn!("{note}");
                }
                let baseline = state.load_baseline()?;
                let grid = ReadGrid {
                    layout: &layout,
                    columns: &columns,
                };
                let plan = catalog::refresh(
                    &grid,
                    &sheet,
                    &snapshot,
                    &baseline,
                    without_sku,
                    &snapshot.currency,
                );
                rows_read = sheet.rows_read;
                read = Some(sheet);
                plan
            }
        };

        // Journaled before the sheet is written, as a sync's changes are before they are
        // sent: a pull killed mid-write still shows in `runs`.
        state.begin_run(&opts.run_id, &opts.started_at, "pull", false)?;

        let outcome = writeback::execute(
            &self.sheets,
            &cfg.sheet.spreadsheet_id,
            &cfg.sheet.tab,
            plan.sku_col,
            &plan.rows,
        )
        .await;

        let currency = snapshot.currency.clone();
        let json = |v: Option<&Value>| v.map_or(serde_json::Value::Null, |v| v.to_json(&currency));
        let mut confirmed = plan.agreed.clone();
        let mut report = plan.report.clone();
        let mut pulled = Vec::new();
        for (row, fates) in plan.rows.iter().zip(&outcome.fates) {
            let mut wrote = false;
            for (cell, fate) in row.cells.iter().zip(fates) {
                let entry = cell.carries.and_then(|i| plan.baseline.get(i));
                if let Some((sku, key, store)) = entry {
                    // What the cell held: a refresh only writes over a blank or a value
                    // at its baseline, and a bootstrap only into an empty tab.
                    let before = read
                        .as_ref()
                        .and_then(|s| s.rows.iter().find(|r| r.row == row.row))
                        .and_then(|r| r.values.get(key))
                        .and_then(|e| match &e.intent {
                            Intent::Set(v) => Some(v),
                            Intent::Clear | Intent::NumericBarcode(_) => None,
                        });
                    let (status, error) = match fate {
                        Fate::Written | Fate::AlreadyThere => (Status::Applied, None),
                        Fate::Skipped(why) => (Status::Skipped, Some(why.clone())),
                        Fate::Failed(why) => (Status::Failed, Some(why.clone())),
                    };
                    pulled.push(PullReport {
                        sku: sku.to_string(),
                        row: row.row,
                        field: key.field.name().to_owned(),
                        location: key.location.clone(),
                        from: json(before),
                        to: json(store.as_ref()),
                        status: Some(status),
                        error,
                    });
                }
                if !fate.confirmed() {
                    continue;
                }
                wrote = true;
                if let Some(entry) = entry {
                    confirmed.push(entry.clone());
                }
            }
            // The header row is not a catalog row.
            if wrote && row.sku.is_some() {
                report.rows_written += 1;
            }
        }
        report.cells_written = outcome.report.cells_written;
        report.rows_skipped.clone_from(&outcome.report.rows_skipped);
        report.error = outcome.report.error.clone();
        report.run_id.clone_from(&opts.run_id);
        state.set_baseline(&confirmed)?;

        let meta = RunMeta {
            run_id: opts.run_id.clone(),
            shop: cfg.shop_name().to_owned(),
            spreadsheet_id: cfg.sheet.spreadsheet_id.clone(),
        };
        let mut journaled = Report::from_plan(&Plan::default(), meta, &currency, false);
        journaled.rows_read = rows_read;
        journaled.pulled = pulled;
        // The sheet write failing as a whole is a failed run (exit 1), as `pull` exits.
        if outcome.report.error.is_some() {
            journaled.fatal = Some(Fatal::Run);
        }
        journaled.write_back = Some(outcome.report);
        journaled.recount();
        crate::report::journal::record_finished(&mut *state, &opts.run_id, &journaled, false)?;
        Ok(report)
    }
}
