//! `sheetsync pull` (SPEC §1): the store's catalog written into the sheet, under the
//! writer lock. Planning is [`crate::sheet::catalog`]; the guarded write is
//! [`crate::sheet::writeback::execute`]; here the two meet the clients and the baseline,
//! which moves only for cells the sheet confirmed (and for values both sides already
//! agree on), so the next `sync` plans nothing for them.

use super::{Engine, EngineError, HEADER_SCAN_ROWS};
use crate::model::LocationName;
use crate::sheet::catalog::{self, CatalogPlan, CatalogReport};
use crate::sheet::parse::{self, HeaderError};
use crate::sheet::writeback::{self, ReadGrid};
use crate::state::{State, WriterLock};

impl Engine {
    /// One `pull`: bootstraps an empty tab or refreshes the rows it has.
    pub async fn pull(&self) -> Result<CatalogReport, EngineError> {
        let cfg = &self.config;
        let scope = self.scope();
        let _lock = WriterLock::acquire(&cfg.sync.state_dir, &scope, "sheetsync pull")?;

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
        let mut state = State::open(&cfg.sync.state_dir, &scope)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

        let header_rows = header_rows?;
        let specs = cfg.column_specs_for(&header_rows);
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
                catalog::refresh(
                    &grid,
                    &sheet,
                    &snapshot,
                    &baseline,
                    without_sku,
                    &snapshot.currency,
                )
            }
        };

        let outcome = writeback::execute(
            &self.sheets,
            &cfg.sheet.spreadsheet_id,
            &cfg.sheet.tab,
            plan.sku_col,
            &plan.rows,
        )
        .await;

        let mut confirmed = plan.agreed.clone();
        let mut report = plan.report.clone();
        for (row, fates) in plan.rows.iter().zip(&outcome.fates) {
            let mut wrote = false;
            for (cell, fate) in row.cells.iter().zip(fates) {
                if !fate.confirmed() {
                    continue;
                }
                wrote = true;
                if let Some(entry) = cell.carries.and_then(|i| plan.baseline.get(i)) {
                    confirmed.push(entry.clone());
                }
            }
            // The header row is not a catalog row.
            if wrote && row.sku.is_some() {
                report.rows_written += 1;
            }
        }
        report.cells_written = outcome.report.cells_written;
        report.rows_skipped = outcome.report.rows_skipped;
        report.error = outcome.report.error;
        state.set_baseline(&confirmed)?;
        Ok(report)
    }
}
