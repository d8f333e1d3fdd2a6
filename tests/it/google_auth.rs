//! Google installed-app OAuth end to end: the `sheetsync` binary's `auth google --method
//! installed` consent against the sandbox (the test plays the browser), then runs that
//! refresh their access token with the stored refresh token.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sheetsync::state::{Scope, State, StateStore};
use sheetsync_sandbox::Sandbox;

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// The demo sandbox with `google.method = "installed"` and the sandbox's Desktop
    /// OAuth client file; the Shopify side keeps its static token.
    async fn installed() -> Env {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let client = dir.path().join("installed-client.json");
        std::fs::write(
            &client,
            sandbox
                .sheets
                .installed_client_json(&format!("http://{}", sandbox.sheets_addr)),
        )
        .unwrap();
        std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "[google]\ncredentials = \"sandbox-service-account.json\"",
            "[google]\nmethod = \"installed\"\nclient_secret = \"installed-client.json\"",
        );
        assert!(text.contains("method = \"installed\""));
        std::fs::write(&config, text).unwrap();
        // The demo sheet's deliberately bad cells, emptied so that runs end with exit 0.
        sandbox.fix_demo_sheet();
        Env {
            sandbox,
            dir,
            config,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn scope(&self) -> Scope {
        Scope::new(
            &self.sandbox.shopify.shop_domain(),
            &self.sandbox.sheets.spreadsheet_id(),
            "Inventory",
        )
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        common::run_sheetsync_env(&self.config, args, env).await
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(args, &[]).await
    }

    async fn sync_json(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all).await;
        let report = common::json_output(code, &stdout, &stderr);
        (code, report, stderr)
    }

    /// `auth google --method installed`, with the test as the browser: it GETs the
    /// printed consent URL, checks the redirect and follows it to the loopback listener.
    async fn consent(&self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(&self.config)
            .args(["auth", "google", "--method", "installed"])
            .env_remove("SHEETSYNC_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next_line().await.unwrap().expect("a consent URL");
            if let Some(u) = line.trim().strip_prefix("http") {
                break format!("http{u}");
            }
        };
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = browser.get(&url).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 302, "{url}");
        let location = page.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("http://127.0.0.1:") && location.contains("code="),
            "{location}"
        );
        let landed = browser.get(&location).send().await.unwrap();
        assert_eq!(landed.status().as_u16(), 200);
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{rest}");
        url
    }

    fn stored(&self) -> Value {
        let state = State::open_read_only(&self.state_dir(), &self.scope())
            .unwrap()
            .expect("state");
        let row = state.get_token("google").unwrap().expect("google token");
        serde_json::from_str(row.value.expose()).unwrap()
    }

    /// Rewrites the stored record (as time passing would).
    fn edit_stored(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.stored();
        f(&mut v);
        let mut state = State::open(&self.state_dir(), &self.scope()).unwrap();
        state
            .put_token(
                "google",
                &sheetsync::config::Secret::new(v.to_string()),
                None,
            )
            .unwrap();
    }

    /// The stored access token expired: the next run has to refresh.
    fn expire_stored_access(&self) {
        let past = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
        self.edit_stored(|v| v["access_expires_at"] = json!(past));
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
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
}

fn assert_all_applied(report: &Value) {
    let changes = report["changes"].as_array().expect("changes");
    assert!(!changes.is_empty(), "{report:#}");
    assert!(
        changes.iter().all(|c| c["status"] == "applied"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_google_installed_consents_then_runs_refresh_with_the_stored_token() {
    let env = Env::installed().await;
    // Before consent, a run says what to do (exit 2) and asks Google nothing.
    let (code, _, stderr) = env.run(&["sync"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("sheetsync auth google --method installed"),
        "{stderr}"
    );
    assert_eq!(env.sandbox.sheets.token_requests(), 0);

    let url = env.consent().await;
    assert!(url.contains("/o/oauth2/auth?"), "{url}");
    assert!(url.contains("access_type=offline"), "{url}");
    assert!(
        url.contains("auth/spreadsheets") && url.contains("auth/drive.metadata.readonly"),
        "{url}"
    );
    assert!(url.contains("redirect_uri=http://127.0.0.1:"), "{url}");
    assert_eq!(env.sandbox.sheets.refresh_token_count(), 1);

    // The refresh token is in the state file, which is 0600, with the consent time.
    let db = env.state_dir().join("state.sqlite3");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stored = env.stored();
    let refresh = stored["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("1//sandbox-refresh-"), "{stored}");
    let consented: chrono::DateTime<chrono::Utc> =
        stored["consented_at"].as_str().unwrap().parse().unwrap();
    assert!(chrono::Utc::now() - consented < chrono::Duration::minutes(5));

    // A dry run, then a real run, each refreshing with the stored refresh token.
    env.expire_stored_access();
    let before = env.sandbox.sheets.token_requests();
    let (code, report, stderr) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(env.sandbox.sheets.token_requests(), before + 1, "refreshed");

    let (code, report, stderr) = env
        .run_env(
            &["sync", "--json", "--adopt", "sheet"],
            &[("SHEETSYNC_LOG", "trace")],
        )
        .await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_all_applied(&report);
    assert_eq!(env.sandbox.sheets.token_requests(), before + 2, "refreshed");
    let access = env.stored()["access_token"].as_str().unwrap().to_owned();
    for secret in [refresh.as_str(), access.as_str(), "GOCSPX-"] {
        assert!(!stderr.contains(secret), "a secret in the trace log");
        assert!(!report.to_string().contains(secret));
    }
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The stored access token is reused by the next run: no refresh.
    let (code, _, _) = env.sync_json(&[]).await;
    assert_eq!(code, 0);
    assert_eq!(env.sandbox.sheets.token_requests(), before + 2);

    // auth status: method, token kind, expiry, and a Drive files.get (not a Sheets read).
    let reads_before = env.sandbox.sheets.requests().len();
    let (code, stdout, stderr) = env.run(&["auth", "status"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("installed-app OAuth"), "{stdout}");
    assert!(stdout.contains("installed-app refresh token"), "{stdout}");
    assert!(stdout.contains("expires: access token at"), "{stdout}");
    assert!(stdout.contains("Drive files.get found"), "{stdout}");
    assert!(!stdout.contains(&refresh) && !stdout.contains(&access));
    let new: Vec<_> = env.sandbox.sheets.requests()[reads_before..].to_vec();
    assert!(new.iter().any(|r| r.path.starts_with("/drive/v3/files/")));
    assert!(!new.iter().any(|r| r.path.starts_with("/v4/")), "{new:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_with_the_installed_method_writes_nothing_to_the_state_dir() {
    let env = Env::installed().await;
    env.consent().await;
    env.expire_stored_access();
    let before = snapshot(&env.state_dir());
    let requests = env.sandbox.sheets.token_requests();
    let (code, report, stderr) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(
        env.sandbox.sheets.token_requests(),
        requests + 1,
        "the dry run refreshed its access token"
    );
    assert_eq!(
        snapshot(&env.state_dir()),
        before,
        "a dry run changed the state dir"
    );
    // auth status is read-only too.
    let (code, stdout, _) = env.run(&["auth", "status"]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(snapshot(&env.state_dir()), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_grant_within_eight_days_of_consent_names_testing_later_ones_do_not() {
    let env = Env::installed().await;
    env.consent().await;
    env.expire_stored_access();
    // Google drops a Testing client's refresh tokens 7 days after consent.
    env.sandbox.sheets.revoke_refresh_tokens();
    let (code, _, stderr) = env.run(&["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(stderr.contains("\"Testing\""), "{stderr}");
    assert!(
        stderr.contains("sheetsync auth google --method installed"),
        "{stderr}"
    );

    let old = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    env.edit_stored(|v| v["consented_at"] = json!(old));
    let (code, _, stderr) = env.run(&["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(!stderr.contains("Testing"), "{stderr}");
    assert!(
        stderr.contains("sheetsync auth google --method installed"),
        "{stderr}"
    );

    // Consent again: runs work again.
    env.consent().await;
    let (code, report, stderr) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
}

/// `0.0.0.0` is not a loopback address, yet a connection to it reaches this machine's
/// listeners: before the check, the credential really went out over plain http, to the
/// sandbox; now it is refused before anything is sent.
fn off_loopback(addr: std::net::SocketAddr) -> String {
    format!("http://0.0.0.0:{}", addr.port())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_token_uri_is_plain_http_off_loopback_is_refused_before_signing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let token_uri = format!("{}/token", off_loopback(sandbox.sheets_addr));
    let key = sandbox.sheets.service_account_key_json(&token_uri);
    std::fs::write(dir.path().join("sandbox-service-account.json"), key).unwrap();

    let (code, _, stderr) =
        common::run_sheetsync(&config, &["sync", "--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("token_uri must be https") && stderr.contains("loopback"),
        "{stderr}"
    );
    assert_eq!(sandbox.sheets.token_requests(), 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_client_whose_token_uri_is_plain_http_off_loopback_gets_no_refresh_token() {
    let env = Env::installed().await;
    env.consent().await;
    env.expire_stored_access();
    let requests = env.sandbox.sheets.token_requests();
    std::fs::write(
        env.dir.path().join("installed-client.json"),
        env.sandbox
            .sheets
            .installed_client_json(&off_loopback(env.sandbox.sheets_addr)),
    )
    .unwrap();

    let (code, _, stderr) = env.run(&["sync", "--dry-run"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("token_uri must be https"), "{stderr}");
    assert_eq!(env.sandbox.sheets.token_requests(), requests, "{stderr}");
}
