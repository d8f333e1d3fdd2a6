//! What the binary-driving integration tests share.

use std::path::Path;

/// Runs the `sheetsync` binary with `--config CONFIG ARGS`, no log filter from the
/// environment, no colour, no browser and no stdin; returns (exit code, stdout, stderr).
pub async fn run_sheetsync(config: &Path, args: &[&str]) -> (i32, String, String) {
    run_sheetsync_env(config, args, &[]).await
}

/// [`run_sheetsync`] with extra environment variables (set after the defaults, so a test
/// may override them).
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

/// Starts `sheetsync --config CONFIG ARGS` in the background, its output discarded, for a
/// test that stops it midway (a kill at a held mutation).
pub fn spawn_sheetsync(config: &Path, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sheetsync")
}

/// Waits (20 s at most) until `hold` has stopped its mutation at the sandbox; `what`
/// names that moment when it never comes.
pub async fn held(hold: &sheetsync_sandbox::shopify::MutationHold, what: &str) {
    tokio::time::timeout(std::time::Duration::from_secs(20), hold.held())
        .await
        .unwrap_or_else(|_| panic!("not within 20 s: {what}"));
}

/// The store's variants for every SKU in the sandbox sheet's first column (`Inventory`
/// tab), by SKU: what two runs are compared on when they must converge.
pub fn store_by_sheet_sku(
    sandbox: &sheetsync_sandbox::Sandbox,
) -> std::collections::BTreeMap<String, Vec<sheetsync_sandbox::shopify::VariantView>> {
    sandbox
        .sheets
        .rows("Inventory")
        .iter()
        .skip(1)
        .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .map(|s| (s.clone(), sandbox.shopify.variants_with_sku(&s)))
        .collect()
}

/// The JSON a `--json` run printed on stdout; a run that printed none fails the test with
/// its exit code and both outputs.
pub fn json_output(code: i32, stdout: &str, stderr: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| {
        panic!("no JSON on stdout ({e}); exit {code}\nstdout: {stdout}\nstderr: {stderr}")
    })
}
