//! What the binary-driving integration tests share.

use std::path::Path;

/// Runs the `sheetsync` binary with `--config CONFIG ARGS`, no log filter from the
/// environment, no colour, no browser and no stdin; returns (exit code, stdout, stderr).
#[allow(dead_code)] // not every suite uses the plain form
pub async fn run_sheetsync(config: &Path, args: &[&str]) -> (i32, String, String) {
    run_sheetsync_env(config, args, &[]).await
}

/// [`run_sheetsync`] with extra environment variables (set after the defaults, so a test
/// may override them).
#[allow(dead_code)] // not every suite passes extra variables
pub async fn run_sheetsync_env(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .env("SHEETSYNC_NO_BROWSER", "1")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run sheetsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
