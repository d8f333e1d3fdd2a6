//! The real Sheets client (google-sheets4 + yup-oauth2) against the sandbox's Sheets and
//! token endpoint fakes over HTTP on 127.0.0.1.

use std::time::Duration;

use serde_json::json;
use sheetsync::model::CellRef;
use sheetsync::sheet::google::{RetryPolicy, SheetError, SheetsClient};
use sheetsync_sandbox::sheets::SheetsFake;

const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    max_throttled: 5,
    base: Duration::from_millis(5),
    cap: Duration::from_millis(20),
};

fn inventory_fake() -> SheetsFake {
    let fake = SheetsFake::new();
    fake.add_tab(
        "Inventory",
        vec![
            vec![json!("SKU"), json!("Title"), json!("Price"), json!("Stock")],
            vec![json!("TEE-RED-M"), json!("Tee"), json!(19.9), json!(12)],
            vec![json!("MUG-11OZ"), json!(""), json!("abc")],
            vec![],
            vec![
                json!("CAP-NAVY"),
                json!("Cap"),
                json!(15),
                json!({"date": "2024-03-05"}),
            ],
        ],
    );
    fake
}

async fn start(fake: &SheetsFake) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = fake.spawn().await.expect("bind");
    format!("http://{addr}/")
}

async fn service_account_client(
    fake: &SheetsFake,
    base: &str,
) -> (SheetsClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.json");
    std::fs::write(&key, fake.service_account_key_json(&format!("{base}token")))
        .expect("write key");
    let client = SheetsClient::service_account(&key, base)
        .await
        .expect("client")
        .with_retry(FAST);
    (client, dir)
}

#[tokio::test]
async fn service_account_exchanges_one_jwt_for_several_calls() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    let id = fake.spreadsheet_id();

    let header = client
        .header_rows(&id, "Inventory", 3)
        .await
        .expect("header rows");
    assert_eq!(
        header[0],
        vec![json!("SKU"), json!("Title"), json!("Price"), json!("Stock")]
    );
    assert_eq!(
        header[2],
        vec![json!("MUG-11OZ"), json!(""), json!("abc")],
        "ragged, trailing empties dropped"
    );
    assert_eq!(header.len(), 3);

    let cols = client
        .read_columns(&id, "Inventory", &[0, 2, 3, 7])
        .await
        .expect("columns");
    assert_eq!(
        cols[0],
        vec![
            json!("SKU"),
            json!("TEE-RED-M"),
            json!("MUG-11OZ"),
            json!(""),
            json!("CAP-NAVY")
        ]
    );
    assert_eq!(
        cols[1],
        vec![
            json!("Price"),
            json!(19.9),
            json!("abc"),
            json!(""),
            json!(15)
        ],
        "numbers stay numbers"
    );
    assert_eq!(
        cols[2],
        vec![
            json!("Stock"),
            json!(12),
            json!(""),
            json!(""),
            json!("2024-03-05")
        ],
        "dates as text"
    );
    assert!(cols[3].is_empty(), "an empty column comes back empty");

    let written = client
        .write_cells(
            &id,
            &[
                (CellRef::new("Inventory", 4, 2), json!("ok")),
                (CellRef::new("Inventory", 4, 3), json!("0012")),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        written,
        vec!["Inventory!E2".to_owned(), "Inventory!E3".to_owned()]
    );
    assert_eq!(
        fake.cell("Inventory", "E3"),
        Some(json!("0012")),
        "RAW keeps numeric-looking text as text"
    );

    assert_eq!(
        fake.token_requests(),
        1,
        "one JWT exchange serves every call"
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p.ends_with("/values:batchGet")));
    assert!(paths.iter().any(|p| p.ends_with("/values:batchUpdate")));
}

#[tokio::test]
async fn tab_names_with_spaces_and_hash_survive_the_url() {
    let fake = SheetsFake::new();
    fake.add_tab(
        "Q1 #2 / stock",
        vec![
            vec![json!("SKU"), json!("Stock")],
            vec![json!("A-1")],
            vec![json!("A-2"), json!(4)],
        ],
    );
    let base = start(&fake).await;
    fake.allow_token("static");
    let client = SheetsClient::with_static_token("static".into(), &base)
        .expect("client")
        .with_retry(FAST);
    let id = fake.spreadsheet_id();
    let header = client
        .header_rows(&id, "Q1 #2 / stock", 1)
        .await
        .expect("header");
    assert_eq!(header, vec![vec![json!("SKU"), json!("Stock")]]);
    let cols = client
        .read_columns(&id, "Q1 #2 / stock", &[1, 0])
        .await
        .expect("columns");
    assert_eq!(
        cols,
        vec![
            vec![json!("Stock"), json!(""), json!(4)],
            vec![json!("SKU"), json!("A-1"), json!("A-2")]
        ]
    );
    let path = &fake
        .requests()
        .iter()
        .find(|r| r.path.contains("/values/"))
        .expect("values.get")
        .path
        .clone();
    assert!(path.contains("%23") && path.contains("%2F"), "{path}");
}

#[tokio::test]
async fn header_rows_on_a_sheet_shorter_than_asked() {
    let fake = SheetsFake::new();
    fake.add_tab_sized("Tiny", vec![vec![json!("SKU")], vec![json!("A-1")]], 3, 2);
    let base = start(&fake).await;
    fake.allow_token("static");
    let client = SheetsClient::with_static_token("static".into(), &base).expect("client");
    let rows = client
        .header_rows(&fake.spreadsheet_id(), "Tiny", 10)
        .await
        .expect("falls back to the whole tab");
    assert_eq!(rows, vec![vec![json!("SKU")], vec![json!("A-1")]]);
}

#[tokio::test]
async fn errors_are_classified_with_actionable_messages() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;

    let err = client
        .header_rows("missing-sheet", "Inventory", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, SheetError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("sheetsync-sandbox@sheetsync-sandbox.iam.gserviceaccount.com"),
        "{err}"
    );
    assert!(!err.is_retryable());

    let err = client
        .read_columns(&fake.spreadsheet_id(), "Nope", &[0])
        .await
        .unwrap_err();
    match &err {
        SheetError::BadRange { message, .. } => {
            assert_eq!(message, "Unable to parse range: Nope!A:A")
        }
        other => panic!("{other:?}"),
    }

    let bad = SheetsClient::with_static_token("ya29.wrong-token".into(), &base).expect("client");
    let err = bad
        .header_rows(&fake.spreadsheet_id(), "Inventory", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, SheetError::Auth { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("ya29.wrong-token"),
        "tokens never reach messages: {err}"
    );
}

#[tokio::test]
async fn rate_limits_are_retried_then_reported() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    fake.allow_token("static");
    let client = SheetsClient::with_static_token("static".into(), &base)
        .expect("client")
        .with_retry(FAST);
    let id = fake.spreadsheet_id();

    fake.fail_next(429, SheetsFake::quota_exceeded_body(false));
    fake.fail_next_html(
        429,
        "<html><title>Sorry...</title><h1>We're sorry...</h1></html>",
    );
    fake.fail_next(503, json!({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}));
    let cols = client
        .read_columns(&id, "Inventory", &[0])
        .await
        .expect("succeeds after three retries");
    assert_eq!(cols[0][0], json!("SKU"));
    // The three failures land on the first call (the tab's row count), retried; then
    // the one batchGet.
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.ends_with("values:batchGet"))
            .count(),
        1,
        "{paths:?}"
    );
    assert_eq!(paths.len(), 5, "{paths:?}");

    for _ in 0..5 {
        fake.fail_next(429, SheetsFake::quota_exceeded_body(true));
    }
    let err = client
        .write_cells(&id, &[(CellRef::new("Inventory", 4, 2), json!("x"))])
        .await
        .unwrap_err();
    match &err {
        SheetError::Quota { attempts, message } => {
            assert_eq!(*attempts, 5);
            assert!(
                message.starts_with("Quota exceeded for quota metric 'Write requests'"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(fake.cell("Inventory", "E2"), None, "nothing was written");
}

#[tokio::test]
async fn a_revoked_service_account_key_is_an_auth_error() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    // A revoked key fails every exchange: the first attempt and the one renewal.
    for _ in 0..2 {
        fake.fail_next_token(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        );
    }
    let err = client
        .header_rows(&fake.spreadsheet_id(), "Inventory", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, SheetError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("Invalid JWT Signature"), "{err}");
}

#[tokio::test]
async fn an_access_token_refused_before_its_expiry_is_renewed_once() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    let id = fake.spreadsheet_id();
    client
        .header_rows(&id, "Inventory", 1)
        .await
        .expect("first read");
    assert_eq!(fake.token_requests(), 1);

    // Google forgets the token an hour early (revoked, key rotated): the cached token is
    // still "valid" for the client, so only the 401 tells.
    fake.expire_tokens();
    let cols = client
        .read_columns(&id, "Inventory", &[0])
        .await
        .expect("read after a renewal");
    assert_eq!(cols[0][1], json!("TEE-RED-M"));
    assert_eq!(fake.token_requests(), 2, "one renewal");

    fake.expire_tokens();
    client
        .write_cells(&id, &[(CellRef::new("Inventory", 4, 2), json!("ok"))])
        .await
        .expect("write after a renewal");
    assert_eq!(fake.cell("Inventory", "E2"), Some(json!("ok")));
    assert_eq!(fake.token_requests(), 3);

    // A key Google no longer accepts still ends as an auth error, after one renewal.
    fake.expire_tokens();
    for _ in 0..2 {
        fake.fail_next_token(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        );
    }
    let err = client.header_rows(&id, "Inventory", 1).await.unwrap_err();
    assert!(matches!(err, SheetError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn the_drive_check_renews_a_refused_token_too() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    let drive = sheetsync::schedule::drive::DriveClient::new(&client, &base, FAST);
    let id = fake.spreadsheet_id();
    let first = drive.version(&id).await.expect("version");
    fake.expire_tokens();
    let again = drive.version(&id).await.expect("version after a renewal");
    assert_eq!(first.version, again.version);
    assert_eq!(fake.token_requests(), 2, "one renewal");
}

#[tokio::test]
async fn a_long_tab_is_read_in_blocks_of_rows_that_join_into_the_same_columns() {
    // 57 rows, ragged, with a blank stretch spanning a block edge and a column that
    // ends early: what a whole-column read returns, block by block.
    let mut rows = vec![vec![json!("SKU"), json!("Price"), json!("Stock")]];
    for i in 1..57 {
        let row = match i {
            20..=33 => vec![],
            _ if i > 40 => vec![json!(format!("S{i}")), json!(i)],
            _ => vec![json!(format!("S{i}")), json!(i), json!(i * 2)],
        };
        rows.push(row);
    }
    let fake = SheetsFake::new();
    // A grid of 60 rows: blocks go to the grid's end, blank rows included.
    fake.add_tab_sized("Inventory", rows, 60, 5);
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    let id = fake.spreadsheet_id();
    let whole = client
        .read_columns(&id, "Inventory", &[0, 1, 2])
        .await
        .expect("one read");

    let before = fake.requests().len();
    // 30 cells a request over 3 columns: blocks of 10 rows.
    let client = client.with_cells_per_read(30);
    let blocks = client
        .read_columns(&id, "Inventory", &[0, 1, 2])
        .await
        .expect("read in blocks");
    assert_eq!(blocks, whole);
    assert_eq!(
        blocks[2].len(),
        41,
        "ragged: the stock column ends at row 41"
    );
    let reads: Vec<_> = fake.requests().split_off(before);
    let batch_gets = reads
        .iter()
        .filter(|r| r.path.ends_with("/values:batchGet"))
        .count();
    assert_eq!(batch_gets, 6, "60 grid rows in blocks of 10: {reads:?}");
}

/// The client driven well past a minute's quota of reads and of writes, on tokio's
/// paused clock (the fake's quota and the client's pacing both run on it): every call
/// succeeds, the fake never had to refuse one (a 429 retried into success would hide a
/// client that outruns Google), and the pacing did wait rather than spread nothing.
#[tokio::test(start_paused = true)]
async fn the_client_stays_inside_googles_sixty_a_minute() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    fake.allow_token("static-token");
    let client = SheetsClient::with_static_token("static-token".into(), &base)
        .expect("client")
        .with_retry(FAST);
    let id = fake.spreadsheet_id();
    let started = tokio::time::Instant::now();
    for i in 0..130 {
        client
            .header_rows(&id, "Inventory", 1)
            .await
            .unwrap_or_else(|e| panic!("read {i}: {e}"));
    }
    for i in 0..70 {
        client
            .write_cells(&id, &[(CellRef::new("Inventory", 4, 2), json!(i))])
            .await
            .unwrap_or_else(|e| panic!("write {i}: {e}"));
    }
    assert_eq!(fake.quota_refusals(), 0, "the fake answered 429");
    // 130 reads need two more windows after the first minute's 60.
    assert!(
        started.elapsed() >= Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

/// A fleet's pairs on one service account, in one process: three clients of the same key
/// (each pair builds its own) read 90 times at once, on the paused clock. Google counts
/// the account's reads together, and so does the fake: the clients share one window, so
/// the fake never refuses a read (three windows of their own would send 36 at once and
/// 60 within ten seconds, and earn 429s) and the reads past the account's 60 waited for
/// the next minute. A client of another user meanwhile reads at once.
#[tokio::test(start_paused = true)]
async fn clients_of_one_service_account_share_its_sixty_reads_a_minute() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (a, _da) = service_account_client(&fake, &base).await;
    let (b, _db) = service_account_client(&fake, &base).await;
    let (c, _dc) = service_account_client(&fake, &base).await;
    fake.allow_token("another-user");
    let other = SheetsClient::with_static_token("another-user".into(), &base)
        .expect("client")
        .with_retry(FAST);
    let id = fake.spreadsheet_id();
    let started = tokio::time::Instant::now();
    let reads = |client: &'static str, sheets: SheetsClient| {
        let id = id.clone();
        async move {
            let mut at = Vec::new();
            for i in 0..30 {
                sheets
                    .header_rows(&id, "Inventory", 1)
                    .await
                    .unwrap_or_else(|e| panic!("{client} read {i}: {e}"));
                at.push(started.elapsed());
            }
            at
        }
    };
    let other_reads = async {
        // Once the account's burst is spent, another user's burst still goes at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let from = tokio::time::Instant::now();
        for i in 0..12 {
            other
                .header_rows(&id, "Inventory", 1)
                .await
                .unwrap_or_else(|e| panic!("other read {i}: {e}"));
        }
        from.elapsed()
    };
    let (ta, tb, tc, other_took) =
        tokio::join!(reads("a", a), reads("b", b), reads("c", c), other_reads);
    assert_eq!(fake.quota_refusals(), 0, "the fake answered 429");
    assert!(
        other_took < Duration::from_millis(100),
        "another user's reads waited {other_took:?}"
    );
    let mut at: Vec<Duration> = ta.into_iter().chain(tb).chain(tc).collect();
    at.sort();
    assert_eq!(at.len(), 90);
    // The account's 90 reads: no minute holds more than 60, so the last ones waited
    // past the first minute.
    for (i, &t) in at.iter().enumerate() {
        let in_minute = at[i..]
            .iter()
            .take_while(|&&u| u < t + Duration::from_secs(60))
            .count();
        assert!(
            in_minute <= 60,
            "{in_minute} reads in the minute from {t:?}"
        );
    }
    assert!(at[89] >= Duration::from_secs(60), "{:?}", at[89]);
}

/// A raised quota (`[google] reads_per_minute`): at 120 a minute against a fake that
/// allows 120, 120 reads take about a minute (61 s, the pacer's window), none refused;
/// the default pace of 60 takes 137 s for them.
#[tokio::test(start_paused = true)]
async fn a_raised_quota_is_used_and_kept_to() {
    let fake = inventory_fake();
    fake.set_quota_per_minute(Some(120));
    let base = start(&fake).await;
    fake.allow_token("raised-quota");
    let client = SheetsClient::with_static_token("raised-quota".into(), &base)
        .expect("client")
        .with_retry(FAST)
        .with_quota(120, 60);
    let id = fake.spreadsheet_id();
    let started = tokio::time::Instant::now();
    for i in 0..120 {
        client
            .header_rows(&id, "Inventory", 1)
            .await
            .unwrap_or_else(|e| panic!("read {i}: {e}"));
    }
    assert_eq!(fake.quota_refusals(), 0, "the fake answered 429");
    assert!(
        started.elapsed() < Duration::from_secs(70),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_column_read_learns_the_tabs_sheet_id() {
    let fake = inventory_fake();
    fake.add_tab("Q1 stock", vec![vec![json!("SKU")], vec![json!("A-1")]]);
    let base = start(&fake).await;
    fake.allow_token("static");
    let client = SheetsClient::with_static_token("static".into(), &base).expect("client");
    let id = fake.spreadsheet_id();
    assert_eq!(client.sheet_id(&id, "Q1 stock"), None, "nothing read yet");
    client
        .read_columns(&id, "Q1 stock", &[0])
        .await
        .expect("columns");
    // The id Google (here the fake) gives that tab, which is not its index.
    let meta: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}v4/spreadsheets/{id}"))
        .bearer_auth("static")
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    let want = meta["sheets"]
        .as_array()
        .expect("sheets")
        .iter()
        .find(|s| s["properties"]["title"] == "Q1 stock")
        .and_then(|s| s["properties"]["sheetId"].as_i64())
        .expect("Q1's sheetId");
    assert_ne!(want, 1);
    assert_eq!(client.sheet_id(&id, "Q1 stock"), Some(want));
    assert_eq!(client.sheet_id(&id, "Inventory"), None, "only tabs read");
}

/// A small tab's row count is asked once: later column reads of it are one `batchGet`
/// each (the row count is a read of Google's 60 a minute, and `serve` reads the same tab
/// every few seconds). A tab that has grown past half a read makes the next read ask
/// again, and that read goes in blocks.
#[tokio::test]
async fn a_small_tabs_row_count_is_asked_once_until_the_tab_grows() {
    let fake = SheetsFake::new();
    let rows: Vec<Vec<serde_json::Value>> = (0..8)
        .map(|i| vec![json!(format!("S{i}")), json!(i)])
        .collect();
    fake.add_tab_sized("Inventory", rows, 10, 2);
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    // 40 cells over 2 columns: 20 rows a read, so the 10-row grid is within half of one.
    let client = client.with_cells_per_read(40);
    let id = fake.spreadsheet_id();
    let metadata = |fake: &SheetsFake| {
        fake.requests()
            .iter()
            .filter(|r| r.path == format!("/v4/spreadsheets/{id}"))
            .count()
    };
    let first = client
        .read_columns(&id, "Inventory", &[0, 1])
        .await
        .expect("read");
    assert_eq!(metadata(&fake), 1);
    for _ in 0..3 {
        let again = client
            .read_columns(&id, "Inventory", &[0, 1])
            .await
            .expect("read");
        assert_eq!(again, first);
    }
    assert_eq!(metadata(&fake), 1, "the row count is not asked again");
    assert!(client.sheet_id(&id, "Inventory").is_some());

    // The tab grows past half a read (rows written beyond the grid extend it).
    assert!(fake.set_cell("Inventory", "A15", json!("S14")));
    let grown = client
        .read_columns(&id, "Inventory", &[0, 1])
        .await
        .expect("read");
    assert_eq!(grown[0].len(), 15, "a whole-column read returns every row");
    let asked = metadata(&fake);
    let next = client
        .read_columns(&id, "Inventory", &[0, 1])
        .await
        .expect("read");
    assert_eq!(next, grown);
    assert_eq!(
        metadata(&fake),
        asked + 1,
        "grown: the row count is asked again"
    );
}

/// The header rows and the columns in one `batchGet` give what the two separate reads
/// give (rows ragged as a ROWS read returns them), once the tab is known small; before
/// that the client declines and the caller reads them apart.
#[tokio::test]
async fn header_rows_and_columns_in_one_read_match_the_separate_reads() {
    let fake = inventory_fake();
    let base = start(&fake).await;
    let (client, _dir) = service_account_client(&fake, &base).await;
    let id = fake.spreadsheet_id();
    assert!(
        client
            .header_rows_and_columns(&id, "Inventory", 30, &[0, 2, 3])
            .await
            .expect("read")
            .is_none(),
        "the tab's size is not known yet"
    );
    let header = client
        .header_rows(&id, "Inventory", 30)
        .await
        .expect("rows");
    let columns = client
        .read_columns(&id, "Inventory", &[0, 2, 3])
        .await
        .expect("columns");
    let before = fake.requests().len();
    let (header2, columns2) = client
        .header_rows_and_columns(&id, "Inventory", 30, &[0, 2, 3])
        .await
        .expect("read")
        .expect("a small tab");
    assert_eq!(header2, header);
    assert_eq!(columns2, columns);
    assert_eq!(fake.requests().len() - before, 1, "one request");
}

/// The engine reads the header rows with the columns it located last time in one
/// request; when the header has moved a column since, it locates it again and reads the
/// columns where they are now, never the old places.
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_reads_header_and_columns_together_and_follows_a_moved_column() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = sheetsync_sandbox::Sandbox::demo(0).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sandbox.write_config(dir.path(), "").expect("config");
    let config = sheetsync::config::Config::load(&path, &|_| None).expect("config");
    let engine = sheetsync::engine::Engine::connect(config)
        .await
        .expect("engine");
    let reads = || {
        sandbox
            .sheets
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/v4/"))
            .count()
    };
    let price_col = |layout: &sheetsync::sheet::parse::Layout| {
        layout
            .columns
            .iter()
            .find(|(spec, _)| spec.header == "Price")
            .map(|(_, c)| *c)
            .expect("price column")
    };
    let (first, first_cols) = engine.read_sheet().await.expect("read");
    let n = reads();
    let (again, again_cols) = engine.read_sheet().await.expect("read");
    assert_eq!(reads() - n, 1, "header and columns in one request");
    assert_eq!(again.columns, first.columns);
    assert_eq!(again_cols, first_cols);

    // Swap the headers "Price" and "Cost": the price is now read from Cost's column.
    let header = &sandbox.sheets.rows("Inventory")[0];
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h.as_str() == Some(name))
            .expect("header")
    };
    let (price, cost) = (at("Price"), at("Cost"));
    let a1 = |col: usize| format!("{}1", sheetsync::model::column_letters(col as u32));
    assert!(
        sandbox
            .sheets
            .set_cell("Inventory", &a1(price), json!("Cost"))
    );
    assert!(
        sandbox
            .sheets
            .set_cell("Inventory", &a1(cost), json!("Price"))
    );
    let (moved, moved_cols) = engine.read_sheet().await.expect("read");
    assert_eq!(price_col(&moved), cost as u32);
    let (_, fresh_cols) = {
        let fresh = sheetsync::engine::Engine::connect(
            sheetsync::config::Config::load(&path, &|_| None).expect("config"),
        )
        .await
        .expect("engine");
        fresh.read_sheet().await.expect("read")
    };
    assert_eq!(moved_cols, fresh_cols, "what a fresh engine reads");
}
