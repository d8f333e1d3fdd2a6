//! What the binary-driving integration tests share.

use std::path::Path;

/// Runs the `sheetsync` binary with `--config CONFIG ARGS`, no log filter from the
/// environment and no colour; returns (exit code, stdout, stderr).
pub async fn run_sheetsync(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run sheetsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
