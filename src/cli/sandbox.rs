//! `sheetsync sandbox`: serve the local fakes until stopped and print a ready config.

use super::{CommandError, Failure};
use crate::report::ExitStatus;
use sheetsync_sandbox::Sandbox;

pub async fn run(port: u16) -> Result<ExitStatus, Failure> {
    let sandbox = Sandbox::demo(port)
        .await
        .map_err(|e| CommandError::Local(format!("cannot start the sandbox: {e}")))?;
    let dir = std::env::temp_dir().join(format!("sheetsync-sandbox-{}", std::process::id()));
    let config = sandbox
        .write_config(&dir, "")
        .map_err(|e| CommandError::Local(format!("cannot write the sandbox config: {e}")))?;
    eprintln!(
        "Shopify Admin API: http://{}/admin/api/2026-07/graphql.json",
        sandbox.shopify_addr
    );
    eprintln!(
        "Google Sheets API: http://{}/v4/spreadsheets/{}",
        sandbox.sheets_addr,
        sandbox.sheets.spreadsheet_id()
    );
    eprintln!("Google token URL:  http://{}/token", sandbox.sheets_addr);
    eprintln!("Config:            {}", config.display());
    eprintln!(
        "\nTry: sheetsync --config {} sync --dry-run --adopt sheet",
        config.display()
    );
    eprintln!("Serving until Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitStatus::Done)
}
