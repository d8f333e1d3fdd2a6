//! Store access end to end: the `sheetsync` binary with `client_credentials` (and OAuth)
//! against the sandbox's token endpoint, through the real clients.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::shopify::oauth::App;

const CLIENT_ID: &str = "sandbox-client-id";
const CLIENT_SECRET: &str = "shpss_sandboxclientsecret0123456789";

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// The demo sandbox with the app installed and the config switched to
    /// `client_credentials`.
    async fn client_credentials(app: App) -> Env {
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        sandbox.shopify.install_app(app);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            &format!(
                "method = \"token\"\ntoken = \"{}\"",
                sheetsync_sandbox::SANDBOX_TOKEN
            ),
            &format!(
                "method = \"client_credentials\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"${{TEST_SHOPIFY_SECRET}}\""
            ),
        );
        assert!(text.contains("client_credentials"));
        std::fs::write(&config, text).unwrap();
        sandbox.fix_demo_sheet();
        Env {
            sandbox,
            dir,
            config,
        }
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(args, &[]).await
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut all = vec![("TEST_SHOPIFY_SECRET", CLIENT_SECRET)];
        all.extend_from_slice(env);
        common::run_sheetsync_env(&self.config, args, &all).await
    }

    async fn sync_json(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report, stderr)
    }

    fn grants(&self, grant: &str) -> usize {
        self.sandbox
            .shopify
            .oauth_requests()
            .iter()
            .filter(|r| r.grant_type == grant)
            .count()
    }

    /// Mutations Shopify executed (HTTP 200), by idempotency key or variables.
    fn executed_mutations(&self) -> Vec<String> {
        self.sandbox
            .shopify
            .requests()
            .into_iter()
            .filter(|r| r.http_status == 200)
            .filter(|r| {
                r.root_fields.iter().any(|f| {
                    [
                        "inventorySetQuantities",
                        "inventoryActivate",
                        "productVariantsBulkUpdate",
                    ]
                    .contains(&f.as_str())
                })
            })
            .map(|r| format!("{:?} {}", r.root_fields, r.variables))
            .collect()
    }

    fn unauthorized(&self) -> usize {
        self.sandbox
            .shopify
            .requests()
            .iter()
            .filter(|r| r.http_status == 401)
            .count()
    }
}

fn assert_all_applied(report: &Value) {
    let changes = report["changes"].as_array().expect("changes");
    assert!(!changes.is_empty(), "{report:#}");
    assert!(
        changes.iter().all(|c| c["status"] == "applied"),
        "{report:#}"
    );
}

fn assert_no_repeated_write(env: &Env) {
    let executed = env.executed_mutations();
    let mut unique = executed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(executed.len(), unique.len(), "a write was executed twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_lifetime_of_seconds_during_a_long_throttled_run_fails_nothing() {
    let mut app = App::new(CLIENT_ID, CLIENT_SECRET);
    app.token_lifetime = Duration::from_secs(2);
    let env = Env::client_credentials(app).await;
    // A bucket that holds about one page: the run waits for refills for several seconds.
    env.sandbox.shopify.set_bucket(300.0, 8.0);
    let started = std::time::Instant::now();
    let (code, report, stderr) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_all_applied(&report);
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the run must outlive a token: {:?}",
        started.elapsed()
    );
    assert!(
        env.grants("client_credentials") >= 2,
        "re-minted before expiry"
    );
    assert_no_repeated_write(&env);
    assert!(!stderr.contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_mid_run_is_reminted_once_and_the_same_bytes_resent() {
    let mut app = App::new(CLIENT_ID, CLIENT_SECRET);
    // Shopify says a day; the token dies after one second, so only a 401 tells.
    app.revoke_after = Some(Duration::from_secs(1));
    let env = Env::client_credentials(app).await;
    env.sandbox.shopify.set_bucket(300.0, 15.0);
    let (code, report, stderr) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_all_applied(&report);
    assert!(env.unauthorized() >= 1, "the run met a 401");
    assert!(env.grants("client_credentials") >= 2);
    assert_no_repeated_write(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_minted_token_is_cached_in_the_state_dir_and_reused() {
    let env = Env::client_credentials(App::new(CLIENT_ID, CLIENT_SECRET)).await;
    let (code, report, _) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    let (code, report, _) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        env.grants("client_credentials"),
        1,
        "the cached token was reused"
    );
    let db = env.dir.path().join("state");
    for e in std::fs::read_dir(db).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt;
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".db") {
            assert_eq!(mode, 0o600, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_client_exits_1_saying_what_to_do() {
    let env = Env::client_credentials(App::new(CLIENT_ID, "shpss_the_real_secret")).await;
    let (code, stdout, stderr) = env.run(&["sync", "--dry-run"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(stderr.contains("client_secret"), "{stderr}");
    assert!(stderr.contains("Dev Dashboard"), "{stderr}");
    for out in [&stdout, &stderr] {
        assert!(!out.contains(CLIENT_SECRET) && !out.contains("shpss_the_real"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_after_a_remint_ends_the_run_with_exit_1() {
    let env = Env::client_credentials(App::new(CLIENT_ID, CLIENT_SECRET)).await;
    env.sandbox.shopify.reject_issued_tokens(true);
    let (code, stdout, stderr) = env.run(&["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains("still installed"), "{stderr}");
    // One mint, one re-mint, then it gives up.
    assert_eq!(env.grants("client_credentials"), 2);
    assert!(env.executed_mutations().is_empty());
}

fn stored_token(env: &Env) -> Option<String> {
    let scope = sheetsync::state::Scope::new(
        &env.sandbox.shopify.shop_domain(),
        &env.sandbox.sheets.spreadsheet_id(),
        "Inventory",
    );
    sheetsync::auth::shopify::peek_stored(&env.dir.path().join("state"), &scope)
        .unwrap()
        .map(|t| t.access_token.expose().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_status_shows_method_kind_expiry_and_scopes_but_no_secret() {
    let env = Env::client_credentials(App::new(CLIENT_ID, CLIENT_SECRET)).await;
    let (code, stdout, stderr) = env.run(&["auth", "status"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("client_credentials"), "{stdout}");
    assert!(stdout.contains("needed:  read_products"), "{stdout}");
    assert!(stdout.contains("granted:"), "{stdout}");
    // Google: a Drive files.get proves the sharing (not a Sheets read).
    assert!(stdout.contains("sheet:   shared with"), "{stdout}");

    env.sync_json(&["--adopt", "sheet"]).await;
    let token = stored_token(&env).expect("a cached token");
    let (code, stdout, stderr) = env.run(&["auth", "status"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("expires: 20"), "{stdout}");
    assert!(stdout.contains("client-credentials token"), "{stdout}");
    for out in [&stdout, &stderr] {
        assert!(
            !out.contains(&token[..12]),
            "more than a prefix shown: {out}"
        );
        assert!(!out.contains(CLIENT_SECRET));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_status_names_a_missing_scope_and_what_to_do() {
    let mut seed: Value =
        serde_json::from_str(include_str!("../../config/demo/store.json")).unwrap();
    seed["shop"]["scopes"] = json!(["read_products", "write_products", "read_locations"]);
    let shopify = sheetsync_sandbox::shopify::ShopifyFake::from_seed_json(
        &seed.to_string(),
        sheetsync_sandbox::SANDBOX_TOKEN,
    )
    .unwrap();
    let sheets = sheetsync_sandbox::sheets::SheetsFake::from_seed_json(include_str!(
        "../../config/demo/sheet.json"
    ))
    .unwrap();
    let sandbox = Sandbox::start(shopify, sheets, 0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = sandbox.write_config(dir.path(), "").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .args(["--config", config.to_str().unwrap(), "auth", "status"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("missing: read_inventory, write_inventory"),
        "{stdout}"
    );
    assert!(stdout.contains("reinstall"), "{stdout}");
    assert!(stdout.contains("shpat_sa…"), "a prefix at most: {stdout}");
    assert!(!stdout.contains(sheetsync_sandbox::SANDBOX_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_shopify_oauth_installs_through_the_loopback_callback_then_syncs() {
    use tokio::io::AsyncBufReadExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::client_credentials(App::new(CLIENT_ID, CLIENT_SECRET)).await;
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("method = \"client_credentials\"", "method = \"oauth\"");
    std::fs::write(&env.config, text).unwrap();
    // Before the install, a sync says what to do (exit 2).
    let (code, _, stderr) = env.run(&["sync"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("sheetsync auth shopify --method oauth"),
        "{stderr}"
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["auth", "shopify", "--method", "oauth", "--port", "0"])
        .env("TEST_SHOPIFY_SECRET", CLIENT_SECRET)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await.unwrap().expect("an authorize URL");
        if let Some(u) = line.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    assert!(url.contains("/admin/oauth/authorize?client_id=sandbox-client-id"));
    assert!(url.contains("state=") && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    // The merchant approves: the sandbox redirects to the loopback callback.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(stored_token(&env).is_some());

    let (code, report, stderr) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_all_applied(&report);
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_level_run_leaks_no_secret_and_every_file_holding_one_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let mut app = App::new(CLIENT_ID, CLIENT_SECRET);
    app.token_lifetime = Duration::from_secs(2);
    let env = Env::client_credentials(app).await;
    env.sandbox.shopify.set_bucket(300.0, 30.0);
    let (code, stdout, stderr) = env
        .run_env(&["sync", "--adopt", "sheet"], &[("SHEETSYNC_LOG", "trace")])
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("TRACE"), "trace logging was on");
    let (code, status_out, status_err) = env
        .run_env(&["auth", "status"], &[("SHEETSYNC_LOG", "trace")])
        .await;
    assert_eq!(code, 0, "{status_err}");
    let token = stored_token(&env).expect("cached token");
    let secrets = [CLIENT_SECRET, token.as_str(), "PRIVATE KEY"];
    for (name, out) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("status stdout", &status_out),
        ("status stderr", &status_err),
    ] {
        for s in secrets {
            assert!(!out.contains(s), "{name} holds a secret ({})", &s[..4]);
        }
    }
    for path in files(env.dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let holds = secrets.iter().any(|s| text.contains(s));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if holds {
            assert_eq!(mode, 0o600, "{} holds a secret", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_keeps_a_minted_token_in_memory_and_writes_nothing() {
    let env = Env::client_credentials(App::new(CLIENT_ID, CLIENT_SECRET)).await;
    let state = env.dir.path().join("state");
    let (code, report, _) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(env.grants("client_credentials"), 1, "the dry run minted");
    assert!(!state.exists(), "a dry run created the state dir");

    // With a cached token from a real run, a dry run reads it and leaves every byte alone.
    let (code, _, _) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0);
    let snapshot = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&state);
    let grants = env.grants("client_credentials");
    let (code, _, _) = env.sync_json(&["--dry-run"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        env.grants("client_credentials"),
        grants,
        "the cached token was used"
    );
    assert_eq!(snapshot(&state), before, "a dry run changed the state dir");
}
