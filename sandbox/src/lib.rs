//! Local fakes of the Sheets API, the Google token endpoint, the Shopify Admin API and
//! the WooCommerce REST API, served over HTTP on 127.0.0.1 for `demo`, `sandbox` and the
//! tests. The sandbox stands apart: it shares only `model` with the rest of the crate.

pub mod faults;
pub mod shared;
pub mod sheets;
pub mod shopify;
pub mod woocommerce;

use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sheets::SheetsFake;
use shopify::ShopifyFake;

/// The custom-app token the sandbox store accepts (not a secret: it opens only the fake).
pub const SANDBOX_TOKEN: &str = "shpat_sandbox0000000000000000000000";

/// The `[sheet.write_back]` table of sandbox configs whose sheet has those columns.
const WRITE_BACK: &str = "
[sheet.write_back]
status = \"Sync status\"
synced_at = \"Last synced\"
";

/// Both fakes, serving on 127.0.0.1, and what a config needs to reach them.
pub struct Sandbox {
    pub shopify: ShopifyFake,
    pub sheets: SheetsFake,
    pub shopify_addr: SocketAddr,
    pub sheets_addr: SocketAddr,
}

impl Sandbox {
    /// Starts the demo sandbox (`config/demo/`): Shopify on `port`, Sheets on `port + 1`
    /// (free ports when `port` is 0).
    pub async fn demo(port: u16) -> std::io::Result<Sandbox> {
        let sheets = SheetsFake::from_seed_json(include_str!("../../config/demo/sheet.json"))
            .map_err(std::io::Error::other)?;
        Sandbox::start(ShopifyFake::demo(SANDBOX_TOKEN), sheets, port).await
    }

    /// Empties the demo sheet's deliberately bad cells (the `abc` price, the date in a
    /// stock column, the row without a SKU), so that a run over it can end with exit 0.
    pub fn fix_demo_sheet(&self) {
        let sheets = &self.sheets;
        sheets.set_cell("Inventory", "C14", json!(14.5));
        sheets.set_cell("Inventory", "G18", json!(35));
        for col in ["A", "B", "C", "G"] {
            sheets.set_cell("Inventory", &format!("{col}22"), json!(""));
        }
    }

    /// Serves both fakes: Shopify on `port` and Sheets on `port + 1`, or free ports when
    /// `port` is 0.
    pub async fn start(
        shopify: ShopifyFake,
        sheets: SheetsFake,
        port: u16,
    ) -> std::io::Result<Sandbox> {
        let bind = |p: u16| tokio::net::TcpListener::bind(("127.0.0.1", p));
        let (shop_listener, sheet_listener) = if port == 0 {
            (bind(0).await?, bind(0).await?)
        } else {
            (bind(port).await?, bind(port.saturating_add(1)).await?)
        };
        let shopify_addr = shop_listener.local_addr()?;
        let sheets_addr = sheet_listener.local_addr()?;
        let (shop, sheet) = (shopify.clone(), sheets.clone());
        tokio::spawn(async move {
            if let Err(e) = shop.serve(shop_listener).await {
                tracing::warn!(error = %e, "Shopify sandbox stopped");
            }
        });
        tokio::spawn(async move {
            if let Err(e) = sheet.serve(sheet_listener).await {
                tracing::warn!(error = %e, "Sheets sandbox stopped");
            }
        });
        Ok(Sandbox {
            shopify,
            sheets,
            shopify_addr,
            sheets_addr,
        })
    }

    /// Writes a service-account key and a ready config for this sandbox into `dir`
    /// (both mode 0600) and returns the config's path. `extra` is appended to `[sync]`.
    pub fn write_config(&self, dir: &Path, sync_extra: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let key_path = dir.join("sandbox-service-account.json");
        let token_uri = format!("http://{}/token", self.sheets_addr);
        write_private(&key_path, &self.sheets.service_account_key_json(&token_uri))?;
        // Write-back is configured when the sheet has the engine-owned columns.
        let header = self
            .sheets
            .rows("Inventory")
            .into_iter()
            .next()
            .unwrap_or_default();
        let has_status_columns = ["Sync status", "Last synced"]
            .iter()
            .all(|h| header.iter().any(|c| c.as_str() == Some(h)));
        let config = format!(
            r#"# sheetsync config for the local sandbox (`sheetsync sandbox`, `sheetsync demo`)
[sheet]
spreadsheet_id = "{spreadsheet_id}"
tab = "Inventory"
api_base_url = "http://{sheets}/"
drive_api_base_url = "http://{sheets}/"

[sheet.columns]
sku = "SKU"
price = "Price"
compare_at_price = "Compare-at price"
cost = "Cost"
barcode = "Barcode"

[sheet.inventory]
"Main Warehouse" = "Stock"
"Outlet" = "Outlet stock"
{write_back}
[google]
credentials = "sandbox-service-account.json"

[shopify]
shop = "{shop}"
api_version = "2026-07"
api_base_url = "http://{shopify}"

[shopify.auth]
method = "token"
token = "{token}"

[sync]
state_dir = "state"
{sync_extra}
"#,
            spreadsheet_id = self.sheets.spreadsheet_id(),
            sheets = self.sheets_addr,
            shopify = self.shopify_addr,
            shop = self.shopify.shop_domain(),
            token = SANDBOX_TOKEN,
            write_back = if has_status_columns { WRITE_BACK } else { "" },
        );
        let path = dir.join("sheetsync.toml");
        write_private(&path, &config)?;
        Ok(path)
    }
}

/// Creates (or truncates) a file readable only by its owner, then writes it.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
