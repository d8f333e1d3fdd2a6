//! State on PostgreSQL (SPEC §9) against a real server (`pg.rs`): the port behaves as on
//! SQLite call for call; `fleet migrate` creates and upgrades the schema and every other
//! command refuses an unmigrated one; the binary keeps its history there (`sync`, `runs`,
//! `revert`); no token reaches the database; without a state URL no connection is made,
//! whatever libpq's variables say; TLS by `sslmode`; the process's connection pool
//! replaces a broken connection and bounds the wait for a free one.

use crate::common;
use crate::pg;

use std::path::Path;

use rust_decimal::Decimal;
use serde_json::json;
use sheetsync::model::{Field, FieldKey, Secret, Sku, Value};
use sheetsync::state::postgres::PgState;
use sheetsync::state::{
    Created, JournalRow, Outcome, RowKind, RowStatus, Scope, State, StateError, StateStore,
};
use sheetsync_sandbox::Sandbox;

/// A fresh database with the schema migrated, as `fleet migrate` leaves it.
async fn migrated_database() -> String {
    let url = pg::fresh_database().await;
    sheetsync::state::postgres::migrate_schema(&url)
        .await
        .expect("migrate");
    url
}

fn sku(s: &str) -> Sku {
    Sku::new(s).expect("sku")
}

fn journal_row(kind: RowKind, field: Field, location: Option<&str>) -> JournalRow {
    JournalRow {
        kind,
        sku: sku("TEE-RED-S"),
        row: 7,
        key: FieldKey {
            field,
            location: location.map(str::to_owned),
        },
        from: Some(Value::Money(Decimal::new(1990, 2))),
        to: None,
        status: Some(RowStatus::Applied),
        error: Some("e".into()),
        note: Some("n".into()),
        created: Some(Created::Product),
        product: "Tee".into(),
    }
}

/// One scenario through the port; returns everything it read, as text, so two backends
/// can be compared. `reopen` opens the same state again (a later process).
fn exercise(
    mut s: Box<dyn StateStore>,
    reopen: &dyn Fn() -> Box<dyn StateStore>,
    reader: &dyn Fn() -> Box<dyn StateStore>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let entries = vec![
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Price),
            Some(Value::Money(Decimal::new(1200, 2))),
        ),
        (sku("TEE-1"), FieldKey::variant(Field::CompareAtPrice), None),
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Barcode),
            Some(Value::Text("12".into())),
        ),
        (
            sku("MUG-\"2\""),
            FieldKey::stock("Main Warehouse"),
            Some(Value::Qty(-3)),
        ),
        // The same key twice: the last value wins.
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Price),
            Some(Value::Money(Decimal::new(13, 0))),
        ),
    ];
    s.set_baseline(&entries).expect("baseline");
    s.set_baseline(&[(sku("TEE-1"), FieldKey::stock("Outlet"), Some(Value::Qty(4)))])
        .expect("baseline upsert");
    let mut baseline: Vec<String> = s
        .load_baseline()
        .expect("load")
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    baseline.sort();
    seen.push(format!("{baseline:?}"));

    s.begin_run("r1", "2026-12-07T08:00:00Z", "sync", false)
        .expect("begin");
    s.begin_run("r2", "2026-12-07T08:00:00Z", "pull", false)
        .expect("begin");
    let a = s
        .journal_request("r1", "k1", "inventorySet", b"{\"b\":1, \"a\":2}", "[1]")
        .expect("journal");
    let b = s
        .journal_request("r1", "k2", "productCreate", b"\x00binary\xff", "[2]")
        .expect("journal");
    let c = s
        .journal_request("r2", "k3", "inventorySet", b"{}", "[]")
        .expect("journal");
    seen.push(format!(
        "{:?}",
        s.journal_request("nope", "k", "x", b"", "")
            .map_err(|e| e.to_string())
    ));
    s.settle_request(a, Outcome::Applied, "{\"ok\":true}")
        .expect("settle");
    s.note_request(b, "{\"job\":\"1\"}").expect("note");
    seen.push(format!(
        "{:?}",
        s.settle_request(a + b + c + 100, Outcome::Failed, "")
            .map_err(|e| e.to_string())
    ));
    seen.push(format!(
        "{:?}",
        s.note_request(a, "{}").map_err(|e| e.to_string())
    ));
    let mut stock = journal_row(RowKind::Pulled, Field::Inventory, Some("Main"));
    stock.from = Some(Value::Qty(14));
    stock.to = Some(Value::Qty(20));
    stock.status = None;
    stock.created = None;
    let mut text = journal_row(RowKind::Change, Field::Barcode, None);
    text.from = None;
    text.to = Some(Value::Text("0840".into()));
    let rows = vec![
        journal_row(RowKind::Change, Field::Price, None),
        stock,
        text,
    ];
    seen.push(format!("{:?}", s.run_rows("r1").expect("unfinished")));
    s.finish_run(
        "r1",
        "2026-12-07T08:01:00Z",
        0,
        &json!({"applied": 2}),
        "{}",
        &rows,
    )
    .expect("finish");
    seen.push(format!(
        "{:?}",
        s.finish_run("zz", "t", 1, &json!({}), "{}", &[])
            .map_err(|e| e.to_string())
    ));
    drop(s);

    // A later process (a re-run after a kill) sees it all.
    let s = reopen();
    let ids = |v: Vec<sheetsync::state::JournaledRequest>| -> Vec<String> {
        v.into_iter()
            .map(|r| {
                format!(
                    "{}|{}|{}|{:?}|{}",
                    r.run_id, r.key, r.operation, r.body, r.items_json
                )
            })
            .collect()
    };
    seen.push(format!("{:?}", ids(s.unsettled_requests().expect("open"))));
    seen.push(format!(
        "{:?}",
        s.journaled_bodies("inventorySet").expect("b")
    ));
    seen.push(format!(
        "{:?}",
        s.journal_entries("productCreate")
            .expect("e")
            .into_iter()
            .map(|(r, o)| (r.key, o))
            .collect::<Vec<_>>()
    ));
    seen.push(format!("{:?}", s.run_rows("r1").expect("rows")));
    seen.push(format!("{:?}", s.run_report("r1").expect("report")));
    seen.push(format!("{:?}", s.run_report("r2").expect("report")));
    let runs = s.list_runs(10).expect("runs");
    seen.push(format!("{runs:?}"));
    seen.push(format!("{:?}", s.list_runs(1).expect("runs").len()));
    drop(s);

    // A reader sees the same and cannot write.
    let mut r = reader();
    seen.push(format!("{:?}", r.list_runs(10).expect("runs") == runs));
    seen.push(format!(
        "{:?}",
        r.begin_run("r3", "t", "sync", false)
            .map_err(|e| e.to_string())
    ));
    seen
}

#[tokio::test]
async fn the_port_behaves_as_on_sqlite_call_for_call() {
    let url = migrated_database().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let scope = Scope::new("shop.myshopify.com", "sheet", "Inventory");
    let dir = tmp.path().join("sqlite");
    let sqlite = exercise(
        sheetsync::state::open_writer(&dir, &scope).expect("sqlite"),
        &|| sheetsync::state::open_writer(&dir, &scope).expect("sqlite"),
        &|| {
            sheetsync::state::open_reader(&dir, &scope)
                .expect("sqlite")
                .expect("some")
        },
    );
    let tokens = tmp.path().join("tokens");
    let pg = exercise(
        Box::new(PgState::open(&url, &tokens, &scope).expect("pg")),
        &|| Box::new(PgState::open(&url, &tokens, &scope).expect("pg")),
        &|| Box::new(PgState::open_read_only(&url, &tokens, &scope).expect("pg")),
    );
    assert_eq!(sqlite.len(), pg.len());
    for (a, b) in sqlite.iter().zip(&pg) {
        assert_eq!(a, b);
    }
    // Another scope on the same database sees none of it.
    let other = Scope::new("shop.myshopify.com", "sheet", "Other tab");
    let o = PgState::open_read_only(&url, &tokens, &other).expect("pg");
    assert!(o.list_runs(10).expect("runs").is_empty());
    assert!(o.load_baseline().expect("baseline").is_empty());
    assert!(o.unsettled_requests().expect("open").is_empty());
}

#[tokio::test]
async fn tokens_stay_in_the_local_state_never_in_the_database() {
    let url = migrated_database().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let scope = Scope::new("shop.myshopify.com", "sheet", "Inventory");
    let mut s = PgState::open(&url, tmp.path(), &scope).expect("pg");
    s.put_token("shopify", &Secret::new("shpat_topsecret"), None)
        .expect("put");
    assert_eq!(
        s.get_token("shopify")
            .expect("get")
            .map(|t| t.value.expose().to_owned()),
        Some("shpat_topsecret".to_owned())
    );
    let local = State::open_read_only(tmp.path(), &scope)
        .expect("local")
        .expect("some");
    assert!(local.get_token("shopify").expect("local get").is_some());
    let dump = pg::query_strings(
        &url,
        "SELECT string_agg(t::text, ' ') FROM (
            SELECT row_to_json(x)::text AS t FROM sheetsync.scopes x
            UNION ALL SELECT row_to_json(x)::text FROM sheetsync.runs x
            UNION ALL SELECT row_to_json(x)::text FROM sheetsync.requests x
            UNION ALL SELECT row_to_json(x)::text FROM sheetsync.baseline x) d",
    )
    .await;
    assert!(!format!("{dump:?}").contains("topsecret"));
    s.delete_token("shopify").expect("delete");
    assert_eq!(s.get_token("shopify").expect("get"), None);
}

#[tokio::test]
async fn an_unmigrated_or_newer_schema_is_refused_with_what_to_do() {
    let url = pg::fresh_database().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let scope = Scope::new("s", "x", "t");
    let e = PgState::open(&url, tmp.path(), &scope).expect_err("unmigrated");
    assert!(matches!(e, StateError::NotMigrated { found: 0, .. }), "{e}");
    assert!(e.to_string().contains("sheetsync fleet migrate"), "{e}");
    sheetsync::state::postgres::migrate_schema(&url)
        .await
        .expect("migrate");
    PgState::open(&url, tmp.path(), &scope).expect("migrated");
    pg::query_strings(
        &url,
        "INSERT INTO sheetsync.migrations (version, name) VALUES (999, '0999_future')",
    )
    .await;
    let e = PgState::open(&url, tmp.path(), &scope).expect_err("newer");
    assert!(matches!(e, StateError::TooNew { found: 999, .. }), "{e}");
}

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    url: String,
}

impl Env {
    async fn new(url: String) -> Env {
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        sandbox.fix_demo_sheet();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        Env {
            sandbox,
            dir,
            config,
            url,
        }
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        common::run_sheetsync_env(&self.config, args, &[("SHEETSYNC_STATE_URL", &self.url)]).await
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }
}

#[tokio::test]
async fn the_binary_keeps_its_history_in_the_shared_state() {
    let env = Env::new(pg::fresh_database().await).await;
    // Not migrated yet: a clear refusal, exit 2, before anything is sent.
    let (code, _, stderr) = env.run(&["sync", "--adopt", "sheet"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("sheetsync fleet migrate"), "{stderr}");
    assert!(
        env.sandbox.shopify.applied_mutations().is_empty(),
        "nothing sent"
    );

    let (code, _, stderr) = common::run_sheetsync_env(
        Path::new("/nonexistent.toml"),
        &["fleet", "migrate"],
        &[("SHEETSYNC_STATE_URL", &env.url)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("0 → 4 (applied 0001_state, 0002_leases, 0003_fleet, 0004_worker_ttl)"),
        "{stderr}"
    );
    // The URL is accepted after the command too; a second migrate has nothing to do.
    let (code, _, stderr) = common::run_sheetsync(
        Path::new("/nonexistent.toml"),
        &["fleet", "migrate", "--state-url", &env.url],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("up to date: schema version 4"), "{stderr}");

    let (code, stdout, stderr) = env.run(&["sync", "--json", "--adopt", "sheet"]).await;
    let report = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    let run_id = report["run_id"].as_str().expect("run id").to_owned();
    assert!(!env.sandbox.shopify.applied_mutations().is_empty());

    // `runs` reads it from PostgreSQL, the same as on SQLite.
    let (code, stdout, stderr) = env.run(&["runs", "--json"]).await;
    let runs = common::json_output(code, &stdout, &stderr);
    assert_eq!(runs[0]["run_id"], run_id.as_str(), "{runs}");
    let in_db = pg::query_strings(&env.url, "SELECT run_id FROM sheetsync.runs").await;
    assert_eq!(in_db, vec![Some(run_id.clone())]);
    // The local SQLite file holds no history (it holds tokens, if any).
    if let Some(local) = State::open_read_only(
        &env.state_dir(),
        &Scope::new("sheetsync-demo.myshopify.com", "x", "Inventory"),
    )
    .expect("local")
    {
        assert!(local.list_runs(10).expect("runs").is_empty());
    }
    let (code, stdout, _) = env.run(&["runs", "show", &run_id, "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).expect("json")["run_id"],
        run_id.as_str()
    );

    // Without the URL, the same config sees the (empty) local history only.
    let (code, stdout, stderr) = common::run_sheetsync(&env.config, &["runs", "--json"]).await;
    let local_runs = common::json_output(code, &stdout, &stderr);
    assert_eq!(local_runs, json!([]), "{stderr}");

    // `revert` reads the run's rows from the shared journal and journals its own run.
    let (code, stdout, stderr) = env.run(&["revert", &run_id, "--json"]).await;
    let revert = common::json_output(code, &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        revert["summary"]["applied"].as_u64().unwrap_or(0) > 0,
        "{revert}"
    );
    let count = pg::query_strings(&env.url, "SELECT count(*)::text FROM sheetsync.runs").await;
    assert_eq!(count, vec![Some("2".to_owned())]);
}

#[tokio::test]
async fn without_a_state_url_no_database_is_touched_whatever_libpq_variables_say() {
    let url = migrated_database().await;
    let env = Env::new(url.clone()).await;
    let db = url.rsplit('/').next().expect("db name").to_owned();
    let socket = pg::server().socket_dir();
    let (code, _, stderr) = common::run_sheetsync_env(
        &env.config,
        &["sync", "--adopt", "sheet"],
        &[
            ("PGHOST", socket.to_str().expect("utf-8")),
            ("PGUSER", "postgres"),
            ("PGDATABASE", &db),
            ("DATABASE_URL", &url),
            ("SHEETSYNC_STATE_URL", ""),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let runs = pg::query_strings(&url, "SELECT count(*)::text FROM sheetsync.runs").await;
    assert_eq!(runs, vec![Some("0".to_owned())]);
    let local = State::open_read_only(
        &env.state_dir(),
        &Scope::new("sheetsync-demo.myshopify.com", "x", "Inventory"),
    );
    assert!(local.is_ok());
    assert!(env.state_dir().join("state.sqlite3").exists());
}

#[tokio::test]
async fn tls_by_sslmode_with_the_certificate_checked_under_verify_full() {
    let url = pg::fresh_database().await;
    let db = url.rsplit('/').next().expect("db name").to_owned();
    let server = pg::server();
    let ca = pg::ca_cert();
    let migrate = |url: String| async move {
        common::run_sheetsync(
            Path::new("/nonexistent.toml"),
            &["fleet", "migrate", "--state-url", &url],
        )
        .await
    };
    let (code, _, stderr) = migrate(format!(
        "{}?sslmode=require",
        server.tcp_url("127.0.0.1", &db)
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("over TLS"), "{stderr}");
    let (code, _, stderr) = migrate(format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.tcp_url("localhost", &db),
        ca.display()
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("over TLS"), "{stderr}");
    // A root that did not sign the server's certificate: refused.
    let (code, _, stderr) = migrate(format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.tcp_url("localhost", &db),
        ca.with_file_name("server.crt").display()
    ))
    .await;
    assert_ne!(code, 0, "{stderr}");
    let (code, _, stderr) = migrate(format!(
        "{}?sslmode=disable",
        server.tcp_url("127.0.0.1", &db)
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("without TLS"), "{stderr}");
}

/// The pool: a connection whose backend was terminated (as by a server restart) is
/// replaced by a new one, and with every connection taken a call fails after the bound
/// with an error naming the URL without its password, instead of hanging.
#[tokio::test(flavor = "multi_thread")]
async fn the_pool_replaces_a_broken_connection_and_bounds_the_wait_for_one() {
    use sheetsync::state::postgres::pool::{Conn, Pool};
    use std::time::{Duration, Instant};

    let url = migrated_database().await;
    // A password in the URL (trust auth ignores it) to check that it is never shown.
    let with_password = url.replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    let pool = Pool::shared_with_wait(&with_password, 1, Duration::from_millis(500)).expect("pool");
    let backend = |pool: std::sync::Arc<Pool>| async move {
        pool.exec(|c: Conn| async move {
            Ok(c.query_one("SELECT pg_backend_pid()", &[])
                .await?
                .get::<_, i32>(0))
        })
        .await
    };
    let first = backend(pool.clone()).await.expect("a connection");
    assert_eq!(
        backend(pool.clone()).await.expect("reused"),
        first,
        "reused"
    );

    let killed =
        pg::query_strings(&url, &format!("SELECT pg_terminate_backend({first})::text")).await;
    assert_eq!(killed, vec![Some("true".to_owned())]);
    // The call that races the termination may fail once; then a new connection serves.
    let start = Instant::now();
    let mut failures = 0;
    let second = loop {
        match backend(pool.clone()).await {
            Ok(pid) => break pid,
            Err(e) => {
                failures += 1;
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "no new connection: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_ne!(second, first, "a new backend");
    assert!(
        failures <= 1,
        "{failures} calls failed after the termination"
    );

    // The only connection held: the next call gives up after the bound.
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.exec(move |c: Conn| async move {
                // Moved in, so that it stays borrowed until the release.
                let _held = c;
                let _ = held_tx.send(());
                let _ = release_rx.await;
                Ok(())
            })
            .await
        })
    };
    held_rx.await.expect("the connection is held");
    let t = Instant::now();
    let e = backend(pool.clone()).await.expect_err("no free connection");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(
        matches!(e, StateError::PoolExhausted { size: 1, .. }),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(shown.contains("no free connection"), "{shown}");
    assert!(shown.contains("postgres:***@"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let _ = release_tx.send(());
    holder.await.expect("join").expect("the holder's call");
    // Given back, it serves again.
    assert_eq!(backend(pool.clone()).await.expect("free again"), second);
}
