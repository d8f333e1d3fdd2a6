//! The fleet's administration commands (SPEC §9) through the binary against a real
//! PostgreSQL (`pg.rs`): `fleet apply` (add, change, unchanged, move, prune, dry run, a
//! duplicate refused, no secret stored), `fleet status --json` (its exact shape, with a
//! lease taken by a manual `sync`), `fleet pause|resume` and an unknown pair, `fleet
//! import` (once, idempotent, refusing another history, then `runs`/`revert` see it).

use crate::common;
use crate::pg;

use std::path::Path;

use serde_json::Value;
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::shopify::HoldPoint;

/// A fresh database with the schema migrated, as `fleet migrate` leaves it.
async fn migrated_database() -> String {
    let url = pg::fresh_database().await;
    sheetsync::state::postgres::migrate_schema(&url)
        .await
        .expect("migrate");
    url
}

/// A pair file for (acme, 1AbC, `tab`) whose secrets are variables.
fn pair_text(tab: &str, extra: &str) -> String {
    format!(
        r#"[sheet]
spreadsheet_id = "1AbC"
tab = "{tab}"
[sheet.columns]
sku = "SKU"
price = "Price"
[google]
credentials = "${{GOOGLE_KEY_FILE}}"
[shopify]
shop = "acme.myshopify.com"
[shopify.auth]
method = "token"
token = "${{ACME_TOKEN}}"
[fleet]
mode = "watch"
{extra}"#
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a pair file");
}

/// `sheetsync fleet ARGS` with the state URL and `env`; no config file exists.
async fn fleet(url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut all = vec![("SHEETSYNC_STATE_URL", url)];
    all.extend_from_slice(env);
    let mut argv = vec!["fleet"];
    argv.extend_from_slice(args);
    common::run_sheetsync_env(Path::new("/nonexistent.toml"), &argv, &all).await
}

async fn rows(url: &str, sql: &str) -> Vec<String> {
    pg::query_strings(url, sql)
        .await
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

#[tokio::test]
async fn apply_adds_changes_leaves_alone_moves_and_prunes_in_one_transaction() {
    let url = migrated_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "prices.toml", &pair_text("Prices", ""));
    write(dir.path(), "stock.toml", &pair_text("Stock", ""));

    // A dry run prints the plan and writes nothing.
    let (code, stdout, stderr) = fleet(
        &url,
        &["apply", &dir.path().to_string_lossy(), "--dry-run"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("+ prices (would be added)"), "{stdout}");
    assert!(
        stdout.contains("Dry run: 2 added, 0 changed, 0 unchanged, 0 removed"),
        "{stdout}"
    );
    assert!(
        rows(&url, "SELECT name FROM sheetsync.pairs")
            .await
            .is_empty()
    );

    let (code, stdout, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("2 added, 0 changed, 0 unchanged, 0 removed"),
        "{stdout}"
    );
    assert_eq!(
        rows(
            &url,
            "SELECT name || ' ' || mode || ' ' || enabled FROM sheetsync.pairs ORDER BY name"
        )
        .await,
        ["prices watch true", "stock watch true"]
    );
    let stamp = |url: String| async move {
        rows(&url, "SELECT name || ' ' || updated_at || ' ' || config_sha256 FROM sheetsync.pairs ORDER BY name").await
    };
    let before = stamp(url.clone()).await;

    // Again, unchanged: the rows are not touched (workers reload nothing).
    let (code, stdout, _) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("0 added, 0 changed, 2 unchanged, 0 removed"),
        "{stdout}"
    );
    assert_eq!(stamp(url.clone()).await, before);

    // A paused pair whose file changes is updated (new digest) and stays paused; a pair
    // moved to another tab follows its file, its old scope stays.
    let (code, _, stderr) = fleet(&url, &["pause", "prices"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    write(
        dir.path(),
        "prices.toml",
        &pair_text("Prices", "interval = \"30s\"\n"),
    );
    write(dir.path(), "stock.toml", &pair_text("Stock2", ""));
    let (code, stdout, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("~ prices (changed)"), "{stdout}");
    assert!(
        stdout.contains(
            "~ stock (changed; moved from shop acme.myshopify.com, spreadsheet 1AbC, tab \"Stock\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 added, 2 changed, 0 unchanged, 0 removed"),
        "{stdout}"
    );
    let after = stamp(url.clone()).await;
    assert_ne!(after[0], before[0], "prices: new digest");
    assert_eq!(
        rows(
            &url,
            "SELECT p.name || ' ' || s.tab || ' ' || p.enabled FROM sheetsync.pairs p
             JOIN sheetsync.scopes s ON s.id = p.scope_id ORDER BY p.name"
        )
        .await,
        ["prices Prices false", "stock Stock2 true"]
    );
    assert_eq!(
        rows(&url, "SELECT tab FROM sheetsync.scopes ORDER BY tab").await,
        ["Prices", "Stock", "Stock2"],
        "the old scope stays"
    );

    // A file gone: reported and kept without --prune, deleted with it.
    std::fs::remove_file(dir.path().join("stock.toml")).expect("rm");
    let (code, stdout, _) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("? stock (its file is gone; kept: pass --prune"),
        "{stdout}"
    );
    assert_eq!(
        rows(&url, "SELECT count(*)::text FROM sheetsync.pairs").await,
        ["2"]
    );
    let (code, stdout, _) = fleet(
        &url,
        &[
            "apply",
            &dir.path().to_string_lossy(),
            "--prune",
            "--dry-run",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0);
    assert!(stdout.contains("- stock (would be removed)"), "{stdout}");
    assert_eq!(
        rows(&url, "SELECT count(*)::text FROM sheetsync.pairs").await,
        ["2"]
    );
    let (code, stdout, _) = fleet(
        &url,
        &["apply", &dir.path().to_string_lossy(), "--prune"],
        &[],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("0 added, 0 changed, 1 unchanged, 1 removed"),
        "{stdout}"
    );
    assert_eq!(
        rows(&url, "SELECT name FROM sheetsync.pairs").await,
        ["prices"]
    );
    assert_eq!(
        rows(&url, "SELECT count(*)::text FROM sheetsync.scopes").await,
        ["3"],
        "pruning keeps the scope (and its history)"
    );
}

#[tokio::test]
async fn apply_refuses_duplicates_and_a_scope_still_held_by_a_gone_file() {
    let url = migrated_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.toml", &pair_text("Prices", ""));
    write(dir.path(), "b.toml", &pair_text("Prices", ""));
    let (code, _, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("a.toml") && stderr.contains("b.toml") && stderr.contains("same store"),
        "{stderr}"
    );
    assert!(
        rows(&url, "SELECT name FROM sheetsync.pairs")
            .await
            .is_empty()
    );

    // b applied, then renamed to c: c names the scope b still holds.
    std::fs::remove_file(dir.path().join("a.toml")).expect("rm");
    let (code, _, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    std::fs::rename(dir.path().join("b.toml"), dir.path().join("c.toml")).expect("mv");
    let (code, _, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("pair c") && stderr.contains("pair b") && stderr.contains("--prune"),
        "{stderr}"
    );
    assert_eq!(rows(&url, "SELECT name FROM sheetsync.pairs").await, ["b"]);
    let (code, stdout, stderr) = fleet(
        &url,
        &["apply", &dir.path().to_string_lossy(), "--prune"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("1 added, 0 changed, 0 unchanged, 1 removed"),
        "{stdout}"
    );
    assert_eq!(rows(&url, "SELECT name FROM sheetsync.pairs").await, ["c"]);
}

#[tokio::test]
async fn apply_stores_the_text_with_its_variables_never_their_values() {
    let url = migrated_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "prices.toml", &pair_text("Prices", ""));
    let secret = "shpat_do_not_store_4f1c2e";
    let (code, _, stderr) = fleet(
        &url,
        &["apply", &dir.path().to_string_lossy()],
        &[
            ("ACME_TOKEN", secret),
            ("GOOGLE_KEY_FILE", "/secret/key.json"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    // Every table of the schema, as text.
    let tables = rows(
        &url,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'sheetsync'",
    )
    .await;
    for table in tables {
        let dump = rows(
            &url,
            &format!("SELECT coalesce(string_agg(t::text, ' '), '') FROM sheetsync.{table} t"),
        )
        .await
        .concat();
        assert!(!dump.contains(secret), "{table} holds the secret");
        assert!(
            !dump.contains("/secret/key.json"),
            "{table} holds a resolved path"
        );
    }
    let text = rows(&url, "SELECT config_text FROM sheetsync.pairs")
        .await
        .concat();
    assert!(text.contains("token = \"${ACME_TOKEN}\""), "{text}");
}

#[tokio::test]
async fn pause_and_resume_set_enabled_and_an_unknown_pair_names_the_known_ones() {
    let url = migrated_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "acme-prices.toml", &pair_text("Prices", ""));
    write(dir.path(), "acme-stock.toml", &pair_text("Stock", ""));
    let (code, _, stderr) = fleet(&url, &["apply", &dir.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let enabled = |url: String| async move {
        rows(
            &url,
            "SELECT name || ' ' || enabled FROM sheetsync.pairs ORDER BY name",
        )
        .await
    };

    let (code, _, stderr) = fleet(&url, &["pause", "acme-stock"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("paused"), "{stderr}");
    assert_eq!(
        enabled(url.clone()).await,
        ["acme-prices true", "acme-stock false"]
    );
    let (code, _, stderr) = fleet(&url, &["pause", "acme-stock"], &[]).await;
    assert_eq!(code, 0);
    assert!(stderr.contains("already paused"), "{stderr}");
    let (_, stdout, _) = fleet(&url, &["status", "--json"], &[]).await;
    let status: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(status["pairs"][1]["enabled"], false, "{status}");

    let (code, _, stderr) = fleet(&url, &["resume", "acme-stock"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        enabled(url.clone()).await,
        ["acme-prices true", "acme-stock true"]
    );

    let (code, _, stderr) = fleet(&url, &["pause", "acme-stok"], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean \"acme-stock\""), "{stderr}");
    assert!(stderr.contains("acme-prices, acme-stock"), "{stderr}");
    assert_eq!(
        enabled(url.clone()).await,
        ["acme-prices true", "acme-stock true"]
    );

    // Without a state URL: a usage error, nothing else.
    let (code, _, stderr) =
        common::run_sheetsync(Path::new("/nonexistent.toml"), &["fleet", "status"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SHEETSYNC_STATE_URL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_a_manual_syncs_lease_then_its_last_run_in_spec_shape() {
    let url = migrated_database().await;
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    // The same config as a pair file: no state_dir, a [fleet] section.
    let pairs = dir.path().join("pairs");
    std::fs::create_dir(&pairs).expect("mkdir");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("state_dir = \"state\"", "")
        + "\n[fleet]\nmode = \"schedule\"\nevery = \"1h\"\n";
    write(&pairs, "demo.toml", &text);
    let (code, _, stderr) = fleet(&url, &["apply", &pairs.to_string_lossy()], &[]).await;
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = fleet(&url, &["status", "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        status,
        serde_json::json!({"workers": [], "pairs": [{
            "pair": "demo", "owner": null, "epoch": null, "lease_expires_at": null,
            "mode": "schedule", "enabled": true, "last_run": null
        }]})
    );

    // A manual sync holds the pair's lease while it runs: parked on its first read.
    let hold = sandbox
        .shopify
        .hold_mutation("productVariants", 1, HoldPoint::BeforeApply);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&config)
        .args(["sync", "--adopt", "sheet"])
        .env("SHEETSYNC_STATE_URL", &url)
        .env_remove("SHEETSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sync");
    common::held(&hold, "the manual sync's first read").await;
    let (code, stdout, stderr) = fleet(&url, &["status", "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("json");
    let pair = &status["pairs"][0];
    let holder = rows(&url, "SELECT holder FROM sheetsync.leases").await;
    assert_eq!(pair["owner"], holder[0].as_str(), "{status}");
    assert_eq!(pair["epoch"], 1, "{status}");
    let expires = pair["lease_expires_at"].as_str().expect("expiry");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    assert_eq!(expires.offset().local_minus_utc(), 0, "UTC");
    assert!(expires > chrono::Utc::now(), "a live lease: {status}");
    assert_eq!(pair["last_run"], Value::Null);
    // The table says the same.
    let (code, table, _) = fleet(&url, &["status"], &[]).await;
    assert_eq!(code, 0);
    assert!(
        table.contains("demo") && table.contains(&holder[0]),
        "{table}"
    );

    hold.release();
    let exit = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("sync ends")
        .expect("wait");
    assert_eq!(exit.code(), Some(0));
    let run_id = rows(&url, "SELECT run_id FROM sheetsync.runs").await;
    let (_, stdout, _) = fleet(&url, &["status", "--json"], &[]).await;
    let status: Value = serde_json::from_str(&stdout).expect("json");
    let pair = &status["pairs"][0];
    assert_eq!(pair["owner"], Value::Null, "released: {status}");
    assert_eq!(pair["epoch"], 1);
    assert_eq!(pair["last_run"]["run_id"], run_id[0].as_str(), "{status}");
    assert_eq!(pair["last_run"]["exit_code"], 0);
    let finished = pair["last_run"]["finished_at"].as_str().expect("finished");
    assert!(finished.ends_with('Z'), "{finished}");
    chrono::DateTime::parse_from_rfc3339(finished).expect("RFC 3339");
    let keys: Vec<&str> = pair
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "pair",
        "owner",
        "epoch",
        "lease_expires_at",
        "mode",
        "enabled",
        "last_run",
    ];
    want.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, want);

    // A worker row shows with its count of live leases.
    rows(
        &url,
        "INSERT INTO sheetsync.workers (id) VALUES ('w1') RETURNING id",
    )
    .await;
    let (_, stdout, _) = fleet(&url, &["status", "--json"], &[]).await;
    let status: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(status["workers"][0]["id"], "w1", "{status}");
    assert_eq!(status["workers"][0]["pairs"], 0, "{status}");
    assert!(
        status["workers"][0]["last_seen"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // A live lease counts for its worker and names the owner; a lapsed one does neither.
    rows(
        &url,
        "UPDATE sheetsync.leases SET holder = 'w1', expires_at = now() + interval '5 minutes' \
         RETURNING holder",
    )
    .await;
    let (_, stdout, _) = fleet(&url, &["status", "--json"], &[]).await;
    let status: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(status["workers"][0]["pairs"], 1, "{status}");
    assert_eq!(status["pairs"][0]["owner"], "w1", "{status}");
    rows(
        &url,
        "UPDATE sheetsync.leases SET expires_at = now() - interval '1 second' RETURNING holder",
    )
    .await;
    let (_, stdout, _) = fleet(&url, &["status", "--json"], &[]).await;
    let status: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(status["workers"][0]["pairs"], 0, "{status}");
    assert_eq!(status["pairs"][0]["owner"], Value::Null, "{status}");
}

/// Row counts of the history tables and a digest of the baseline.
async fn snapshot(url: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for q in [
        "SELECT count(*)::text FROM sheetsync.runs",
        "SELECT count(*)::text FROM sheetsync.requests",
        "SELECT count(*)::text FROM sheetsync.run_rows",
        "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(b::text, ',' \
         ORDER BY sku, field, location)), '') FROM sheetsync.baseline b",
    ] {
        out.push(rows(url, q).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn import_moves_a_machines_history_once_then_runs_and_revert_see_it() {
    let url = migrated_database().await;
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sandbox.write_config(dir.path(), "").expect("config");
    let state_dir = dir.path().join("state");
    let with_url = [("SHEETSYNC_STATE_URL", url.as_str())];

    // A machine's history, on SQLite.
    let (code, stdout, stderr) =
        common::run_sheetsync(&config, &["sync", "--json", "--adopt", "sheet"]).await;
    let report = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    let run_id = report["run_id"].as_str().expect("run id").to_owned();
    let local_requests: i64 = {
        let db = rusqlite::Connection::open(state_dir.join("state.sqlite3")).expect("sqlite");
        db.query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .expect("count")
    };
    assert!(local_requests > 0);

    let from = state_dir.to_string_lossy().into_owned();
    let (code, stdout, stderr) = fleet(&url, &["import", "--from", &from], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("1 runs, {local_requests} journaled requests")),
        "{stdout}"
    );
    let before = snapshot(&url).await;
    assert_eq!(before[0], ["1"]);
    assert_ne!(before[3][0], "0 ", "the baseline came along");

    // Idempotent: a second import changes nothing.
    let (code, stdout, stderr) = fleet(&url, &["import", "--from", &from], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("already imported, nothing to do"),
        "{stdout}"
    );
    assert_eq!(snapshot(&url).await, before);

    // `runs` and `revert` under the state URL see the imported run.
    let (code, stdout, stderr) =
        common::run_sheetsync_env(&config, &["runs", "--json"], &with_url).await;
    let runs = common::json_output(code, &stdout, &stderr);
    assert_eq!(runs[0]["run_id"], run_id.as_str(), "{runs}");
    let (code, stdout, stderr) =
        common::run_sheetsync_env(&config, &["revert", &run_id, "--json"], &with_url).await;
    let revert = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        revert["summary"]["applied"].as_u64().unwrap_or(0) > 0,
        "{revert}"
    );

    // Now the shared state has a run this machine never made: a new local run is refused
    // (exit 2) unless --merge-history, which adds it and keeps the shared baseline.
    let (code, _, stderr) = common::run_sheetsync(&config, &["sync", "--adopt", "sheet"]).await;
    assert!(code == 0 || code == 3, "{stderr}");
    let shared_baseline = rows(&url, "SELECT md5(string_agg(b::text, ',' ORDER BY sku, field, location)) FROM sheetsync.baseline b").await;
    let (code, stdout, stderr) = fleet(&url, &["import", "--from", &from], &[]).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "refused: the shared state already has another history (1 runs not made here)"
        ),
        "{stdout}"
    );
    assert_eq!(
        rows(&url, "SELECT count(*)::text FROM sheetsync.runs").await,
        ["2"]
    );
    let (code, stdout, stderr) =
        fleet(&url, &["import", "--from", &from, "--merge-history"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 runs"), "{stdout}");
    assert_eq!(
        rows(&url, "SELECT count(*)::text FROM sheetsync.runs").await,
        ["3"]
    );
    assert_eq!(
        rows(&url, "SELECT md5(string_agg(b::text, ',' ORDER BY sku, field, location)) FROM sheetsync.baseline b").await,
        shared_baseline,
        "the shared baseline is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_reads_the_shared_state_under_a_state_url() {
    let url = migrated_database().await;
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = sandbox.write_config(dir.path(), "").expect("config");
    let (code, stdout, stderr) = common::run_sheetsync_env(
        &config_path,
        &["sync", "--json", "--adopt", "sheet"],
        &[("SHEETSYNC_STATE_URL", &url)],
    )
    .await;
    let report = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    let run_id = report["run_id"].as_str().expect("run id").to_owned();

    let mut config =
        sheetsync::config::Config::load(&config_path, &|k| std::env::var(k).ok()).expect("config");
    config.state.url = Some(sheetsync::config::Secret::new(url.clone()));
    let page = sheetsync::serve::page::PageContext::new(
        std::sync::Arc::new(config),
        sheetsync::serve::page::SharedHealth::new(sheetsync::serve::page::WatchHealth::starting(
            chrono::Utc::now(),
        )),
    );
    let view = {
        let page = page.clone();
        tokio::task::spawn_blocking(move || page.view())
            .await
            .expect("view")
    };
    assert!(view.notes.is_empty(), "{:?}", view.notes);
    assert_eq!(
        view.runs.first().map(|r| r.run_id.as_str()),
        Some(run_id.as_str()),
        "the page lists the run made through the state URL"
    );

    // And over HTTP, as a browser gets it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, sheetsync::serve::page::router(page)).await });
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request");
    let mut html = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        conn.read_to_string(&mut html),
    )
    .await
    .expect("the page within 30 s")
    .expect("read");
    assert!(
        html.starts_with("HTTP/1.0 200") || html.starts_with("HTTP/1.1 200"),
        "{html}"
    );
    assert!(html.contains(&run_id), "the page shows {run_id}");
}
