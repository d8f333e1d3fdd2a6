//! The WooCommerce sandbox: the WooCommerce fake with the demo catalogue (cost of goods
//! on) beside a Sheets fake holding the WooCommerce demo sheet
//! (`config/demo/woocommerce-sheet.json`), and a ready config for them (SPEC §8's
//! `[woocommerce]` section, the sheet's `regular_price`, `sale_price`, `cost`, `barcode`
//! and `stock` columns), for `demo --store woocommerce` and `sandbox --store woocommerce`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Catalogue, WooFake, WooOptions};
use crate::sheets::SheetsFake;

/// The WooCommerce demo sheet (compiled in).
pub const DEMO_SHEET: &str = include_str!("../../../config/demo/woocommerce-sheet.json");

/// Both fakes, serving on 127.0.0.1.
pub struct WooSandbox {
    pub woo: WooFake,
    pub sheets: SheetsFake,
    pub sheets_addr: SocketAddr,
}

impl WooSandbox {
    /// The demo: WooCommerce on `port`, Sheets on `port + 1` (free ports when `port` is 0).
    pub async fn demo(port: u16) -> std::io::Result<WooSandbox> {
        let sheets = SheetsFake::from_seed_json(DEMO_SHEET).map_err(std::io::Error::other)?;
        let woo = WooFake::start(WooOptions {
            catalogue: Catalogue::Demo,
            cogs_enabled: true,
            port,
            ..WooOptions::default()
        })
        .await
        .map_err(std::io::Error::other)?;
        let sheet_port = if port == 0 { 0 } else { port.saturating_add(1) };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", sheet_port)).await?;
        let sheets_addr = listener.local_addr()?;
        let serving = sheets.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve(listener).await {
                tracing::warn!(error = %e, "Sheets sandbox stopped");
            }
        });
        Ok(WooSandbox {
            woo,
            sheets,
            sheets_addr,
        })
    }

    /// Empties the demo sheet's deliberately bad cells (the `abc` and `$17.50` prices,
    /// the date in a stock column, the row whose SKU no item has), so a run over it can
    /// end with exit 0.
    pub fn fix_demo_sheet(&self) {
        let sheets = &self.sheets;
        sheets.set_cell("Inventory", "C14", json!(14.5));
        sheets.set_cell("Inventory", "G18", json!(35));
        sheets.set_cell("Inventory", "C19", json!(17.5));
        for col in ["A", "B", "C", "G"] {
            sheets.set_cell("Inventory", &format!("{col}22"), json!(""));
        }
    }

    /// Writes a service-account key and a config for this sandbox into `dir` (both mode
    /// 0600) and returns the config's path. `sync_extra` is appended to `[sync]`.
    pub fn write_config(&self, dir: &Path, sync_extra: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let key_path = dir.join("sandbox-service-account.json");
        let token_uri = format!("http://{}/token", self.sheets_addr);
        crate::write_private(&key_path, &self.sheets.service_account_key_json(&token_uri))?;
        let config = format!(
            r#"# sheetsync config for the local WooCommerce sandbox
[sheet]
spreadsheet_id = "{spreadsheet_id}"
tab = "Inventory"
api_base_url = "http://{sheets}/"
drive_api_base_url = "http://{sheets}/"

[sheet.columns]
sku = "SKU"
regular_price = "Regular price"
sale_price = "Sale price"
cost = "Cost"
barcode = "Barcode"
stock = "Stock"

[sheet.write_back]
status = "Sync status"
synced_at = "Last synced"

[google]
credentials = "sandbox-service-account.json"

{woocommerce}
[sync]
state_dir = "state"
{sync_extra}
"#,
            spreadsheet_id = self.sheets.spreadsheet_id(),
            sheets = self.sheets_addr,
            woocommerce = self.woo.config_section(),
        );
        let path = dir.join("sheetsync.toml");
        crate::write_private(&path, &config)?;
        Ok(path)
    }
}
