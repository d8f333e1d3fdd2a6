//! The fake over real HTTP: the recorded quirks, checked against the fixtures' shapes.

use std::net::SocketAddr;

use serde_json::{Value as Json, json};

use super::SheetsFake;

const TOKEN: &str = "test-token";

async fn start(fake: &SheetsFake) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    fake.allow_token(TOKEN);
    fake.spawn().await.expect("bind")
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Json>,
) -> (u16, Json) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{path}");
    let mut req = match method {
        "POST" => client.post(&url),
        _ => client.get(&url),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Json::String(text)),
    )
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Json) {
    call(addr, "GET", path, Some(TOKEN), None).await
}

fn recorded_fake() -> SheetsFake {
    let fake = SheetsFake::new();
    // The cells of values_get.json: `=4/2 | 2020-01-01 | string | 53 / =3/2 | 0.12 | 1999-01-02`.
    fake.add_tab_sized(
        "Sheet1",
        vec![
            vec![
                json!(2),
                json!({"date": "2020-01-01"}),
                json!("string"),
                json!(53),
            ],
            vec![
                json!(1.5),
                json!(0.12),
                json!({"date": "1999-01-02"}),
                json!(""),
            ],
        ],
        2,
        4,
    );
    fake
}

#[tokio::test]
async fn values_get_renders_like_the_recordings() {
    let fake = recorded_fake();
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/'Sheet1'")).await;
    assert_eq!(st, 200);
    assert_eq!(
        body,
        json!({"range": "Sheet1!A1:D2", "majorDimension": "ROWS",
               "values": [["2","2020-01-01","string","53"],["1.5","0.12","1999-01-02"]]})
    );
    let (_, body) = get(
        addr,
        &format!("/v4/spreadsheets/{id}/values/'Sheet1'?valueRenderOption=UNFORMATTED_VALUE"),
    )
    .await;
    assert_eq!(
        body["values"],
        json!([[2, 43831, "string", 53], [1.5, 0.12, 36162]])
    );
    let (_, body) = get(
        addr,
        &format!("/v4/spreadsheets/{id}/values/'Sheet1'?valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING"),
    )
    .await;
    assert_eq!(
        body["values"],
        json!([[2, "2020-01-01", "string", 53], [1.5, 0.12, "1999-01-02"]])
    );
    // FORMATTED_VALUE ignores dateTimeRenderOption.
    let (_, body) = get(
        addr,
        &format!("/v4/spreadsheets/{id}/values/'Sheet1'?valueRenderOption=FORMATTED_VALUE&dateTimeRenderOption=SERIAL_NUMBER"),
    )
    .await;
    assert_eq!(body["values"][0][1], json!("2020-01-01"));
}

#[tokio::test]
async fn range_echo_is_clipped_to_the_grid_and_rows_are_ragged() {
    let fake = SheetsFake::new();
    fake.add_tab_sized(
        "🌵 test 1",
        vec![
            vec![json!("1")],
            vec![],
            vec![],
            vec![json!(""), json!(""), json!(""), json!("2")],
        ],
        10,
        10,
    );
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let enc = "%F0%9F%8C%B5%20test%201";
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/{enc}")).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["range"], "'🌵 test 1'!A1:J10");
    assert_eq!(body["values"], json!([["1"], [], [], ["", "", "", "2"]]));
    let (_, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/'{enc}'!B1:B")).await;
    assert_eq!(
        body,
        json!({"range": "'🌵 test 1'!B1:B10", "majorDimension": "ROWS"}),
        "no values key when empty"
    );
    let (_, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/'{enc}'!A2:2")).await;
    assert_eq!(body["range"], "'🌵 test 1'!A2:J2");
    let (_, body) = get(
        addr,
        &format!("/v4/spreadsheets/{id}/values/'{enc}'!A1%3AD4?majorDimension=COLUMNS"),
    )
    .await;
    assert_eq!(body["majorDimension"], "COLUMNS");
    assert_eq!(
        body["values"],
        json!([["1"], [], [], ["", "", "", "2"]]),
        "columns are trimmed along the column"
    );
}

#[tokio::test]
async fn batch_get_keeps_request_order_and_a_quoted_title_with_a_hash() {
    let fake = SheetsFake::new();
    fake.add_tab(
        "Q1 #2",
        vec![vec![json!("a"), json!("b")], vec![json!("c")]],
    );
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let (st, body) = get(
        addr,
        &format!("/v4/spreadsheets/{id}/values:batchGet?ranges=%27Q1+%232%27!B:B&ranges=%27Q1%20%232%27!A:A&majorDimension=COLUMNS"),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["valueRanges"][0],
        json!({"range": "'Q1 #2'!B1:B1000", "majorDimension": "COLUMNS", "values": [["b"]]})
    );
    assert_eq!(body["valueRanges"][1]["values"], json!([["a", "c"]]));
}

#[tokio::test]
async fn errors_have_googles_shapes() {
    let fake = recorded_fake();
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let (st, body) = get(addr, "/v4/spreadsheets/nope/values/Sheet1").await;
    assert_eq!(st, 404);
    assert_eq!(
        body,
        json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
    );
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/NOPE!A5:F15")).await;
    assert_eq!(st, 400);
    assert_eq!(
        body["error"]["message"],
        "Unable to parse range: NOPE!A5:F15"
    );
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{id}/values/Sheet1!A1:A9")).await;
    assert_eq!(st, 400);
    assert_eq!(
        body["error"]["message"],
        "Range ('Sheet1'!A1:A9) exceeds grid limits. Max rows: 2, max columns: 4"
    );
    let (st, body) = call(
        addr,
        "GET",
        &format!("/v4/spreadsheets/{id}"),
        Some("stale"),
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    let (st, _) = call(addr, "GET", &format!("/v4/spreadsheets/{id}"), None, None).await;
    assert_eq!(st, 401);
    fake.fail_next(429, SheetsFake::quota_exceeded_body(false));
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{id}")).await;
    assert_eq!(st, 429);
    assert_eq!(body["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
    let (st, _) = get(addr, &format!("/v4/spreadsheets/{id}")).await;
    assert_eq!(st, 200, "a queued failure is served once");
}

#[tokio::test]
async fn metadata_lists_tabs_with_grid_properties() {
    let fake = recorded_fake();
    fake.add_tab("Second", vec![]);
    let addr = start(&fake).await;
    let (st, body) = get(addr, &format!("/v4/spreadsheets/{}", fake.spreadsheet_id())).await;
    assert_eq!(st, 200);
    let p0 = &body["sheets"][0]["properties"];
    assert_eq!(p0["sheetId"], 0);
    assert_eq!(
        p0["gridProperties"],
        json!({"rowCount": 2, "columnCount": 4})
    );
    assert!(p0.get("hidden").is_none());
    let p1 = &body["sheets"][1]["properties"];
    assert_eq!(p1["index"], 1);
    assert_ne!(p1["sheetId"], 1, "later sheets get unrelated ids");
}

#[tokio::test]
async fn batch_update_writes_typed_cells_and_reports_like_the_recording() {
    let fake = SheetsFake::new();
    fake.add_tab("Sheet1", vec![]);
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let before = fake.version();
    let req = json!({"valueInputOption": "RAW", "data": [
        {"range": "'Sheet1'!A1:D1", "values": [["A1", "B1", "", "D1"]]},
        {"range": "'Sheet1'!A4:D4", "values": [["A4", "B4", "", "D4"]], "majorDimension": null}
    ]});
    let (st, body) = call(
        addr,
        "POST",
        &format!("/v4/spreadsheets/{id}/values:batchUpdate"),
        Some(TOKEN),
        Some(req),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body,
        json!({"spreadsheetId": id, "totalUpdatedRows": 2, "totalUpdatedColumns": 4, "totalUpdatedCells": 8, "totalUpdatedSheets": 1,
               "responses": [
                 {"spreadsheetId": id, "updatedRange": "Sheet1!A1:D1", "updatedRows": 1, "updatedColumns": 4, "updatedCells": 4},
                 {"spreadsheetId": id, "updatedRange": "Sheet1!A4:D4", "updatedRows": 1, "updatedColumns": 4, "updatedCells": 4}]})
    );
    assert_eq!(
        fake.rows("Sheet1"),
        vec![
            vec![json!("A1"), json!("B1"), json!(""), json!("D1")],
            vec![],
            vec![],
            vec![json!("A4"), json!("B4"), json!(""), json!("D4")]
        ]
    );
    assert!(fake.version() > before);

    let req = json!({"valueInputOption": "USER_ENTERED", "data": [{"range": "Sheet1!E2", "values": [["0012", "'0012"]]}]});
    let (_, body) = call(
        addr,
        "POST",
        &format!("/v4/spreadsheets/{id}/values:batchUpdate"),
        Some(TOKEN),
        Some(req),
    )
    .await;
    assert_eq!(body["responses"][0]["updatedRange"], "Sheet1!E2:F2");
    assert_eq!(fake.cell("Sheet1", "E2"), Some(json!(12)));
    assert_eq!(fake.cell("Sheet1", "F2"), Some(json!("0012")));

    let req = json!({"valueInputOption": "RAW", "data": [{"range": "Sheet1!A3:B4", "values": [["x", "y", "z"]]}]});
    let (st, body) = call(
        addr,
        "POST",
        &format!("/v4/spreadsheets/{id}/values:batchUpdate"),
        Some(TOKEN),
        Some(req),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(
        body["error"]["message"],
        "Requested writing within range [Sheet1!A3:B4], but tried writing to column [C]"
    );
}

#[tokio::test]
async fn drive_reports_a_version_that_moves_with_every_change() {
    let fake = recorded_fake();
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let (st, body) = get(
        addr,
        &format!("/drive/v3/files/{id}?fields=version,modifiedTime"),
    )
    .await;
    assert_eq!(st, 200);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);
    let v1: u64 = body["version"].as_str().unwrap().parse().unwrap();
    let t1 = body["modifiedTime"].as_str().unwrap().to_owned();
    assert!(t1.ends_with('Z') && t1.len() == 24, "{t1}");
    fake.set_cell("Sheet1", "A1", json!(3));
    let (_, body) = get(
        addr,
        &format!("/drive/v3/files/{id}?fields=version,modifiedTime"),
    )
    .await;
    let v2: u64 = body["version"].as_str().unwrap().parse().unwrap();
    assert_eq!(v2, v1 + 1);
    assert!(body["modifiedTime"].as_str().unwrap() > t1.as_str());
    let (st, body) = get(addr, "/drive/v3/files/missing?fields=version").await;
    assert_eq!(st, 404);
    assert_eq!(body["error"]["errors"][0]["reason"], "notFound");
    assert!(body["error"].get("status").is_none());
}

#[tokio::test]
async fn token_endpoint_refuses_forged_assertions_and_unknown_clients() {
    let fake = SheetsFake::new();
    let addr = start(&fake).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/token");
    let post = |form: Vec<(&'static str, String)>| {
        let c = client.clone();
        let url = url.clone();
        async move {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish();
            let r = c
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Json>().await.unwrap())
        }
    };
    let (st, body) = post(vec![
        ("grant_type", super::oauth::JWT_BEARER.into()),
        ("assertion", "e30=.e30=.AAAA".into()),
    ])
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    let (st, body) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("client_id", "other".into()),
    ])
    .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
    fake.add_refresh_token("rt-1", &["https://www.googleapis.com/auth/spreadsheets"]);
    let (st, body) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("client_id", super::TEST_CLIENT_ID.into()),
        ("client_secret", super::TEST_CLIENT_SECRET.into()),
        ("refresh_token", "rt-1".into()),
    ])
    .await;
    assert_eq!(st, 200);
    assert_eq!(body["token_type"], "Bearer");
    let issued = body["access_token"].as_str().unwrap().to_owned();
    let (st, _) = call(
        addr,
        "GET",
        &format!("/v4/spreadsheets/{}", fake.spreadsheet_id()),
        Some(&issued),
        None,
    )
    .await;
    assert_eq!(st, 200, "the issued token is accepted");
    let (st, _) = call(
        addr,
        "GET",
        &format!("/drive/v3/files/{}", fake.spreadsheet_id()),
        Some(&issued),
        None,
    )
    .await;
    assert_eq!(st, 403, "a spreadsheets-only token does not reach Drive");
}

#[test]
fn demo_seed_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/sheet.json");
    let fake = SheetsFake::from_seed_file(&path).expect("seed loads");
    let rows = fake.rows("Inventory");
    assert_eq!(rows[0][0], json!("SKU"));
    assert!(rows.iter().any(Vec::is_empty), "the seed keeps a blank row");
    assert!(
        rows.iter().any(|r| r.contains(&json!("abc"))),
        "the seed has a bad price"
    );
}

/// Google's quota, on tokio's paused clock: 60 reads in a minute are served, the 61st
/// is refused with Google's 429 body, writes have their own 60, and a read is served
/// again once the first left the minute.
#[tokio::test(start_paused = true)]
async fn sixty_reads_and_sixty_writes_a_minute_then_429() {
    let fake = recorded_fake();
    let addr = start(&fake).await;
    let id = fake.spreadsheet_id();
    let read = format!("/v4/spreadsheets/{id}/values/Sheet1!A1");
    let write_path = format!("/v4/spreadsheets/{id}/values:batchUpdate");
    let body =
        json!({"valueInputOption": "RAW", "data": [{"range": "Sheet1!A1", "values": [[1]]}]});
    // One client for all 120-odd calls: building one per call (as `call` does) costs
    // more than the rest of the test.
    let client = reqwest::Client::new();
    let send = |write: bool| {
        let url = format!("http://{addr}{}", if write { &write_path } else { &read });
        let req = if write {
            client.post(url).json(&body)
        } else {
            client.get(url)
        };
        async move {
            let resp = req.bearer_auth(TOKEN).send().await.expect("send");
            let status = resp.status().as_u16();
            let b: Json = resp.json().await.unwrap_or(Json::Null);
            (status, b)
        }
    };
    for i in 0..60 {
        let (st, b) = send(false).await;
        assert_eq!(st, 200, "read {i}: {b}");
        tokio::time::advance(std::time::Duration::from_millis(900)).await;
    }
    // 54 s after the first read: the minute is full.
    let (st, b) = send(false).await;
    assert_eq!(st, 429, "{b}");
    assert_eq!(b["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        b["error"]["details"][0]["metadata"]["quota_limit"],
        "ReadRequestsPerMinutePerUser"
    );
    assert_eq!(fake.quota_refusals(), 1);
    // Writes count apart from reads.
    for i in 0..60 {
        let (st, b) = send(true).await;
        assert_eq!(st, 200, "write {i}: {b}");
    }
    let (st, b) = send(true).await;
    assert_eq!(st, 429, "{b}");
    assert_eq!(
        b["error"]["details"][0]["metadata"]["quota_limit"],
        "WriteRequestsPerMinutePerUser"
    );
    // The first read leaves the window 60 s after it was served: one more read fits.
    tokio::time::advance(std::time::Duration::from_secs(6)).await;
    let (st, b) = send(false).await;
    assert_eq!(st, 200, "{b}");
    let (st, _) = send(false).await;
    assert_eq!(st, 429, "only the first read left the window");
    assert_eq!(fake.quota_refusals(), 3);
    // Lifted, nothing is refused.
    fake.set_quota_per_minute(None);
    assert_eq!(send(false).await.0, 200);
}

/// Google counts the quota per user: two tokens of one user share a minute's 60 reads,
/// another user's token has 60 of its own.
#[tokio::test(start_paused = true)]
async fn the_quota_is_each_users_own() {
    let fake = recorded_fake();
    let addr = start(&fake).await;
    fake.allow_token_as("sa-token-1", "bot@project.iam.gserviceaccount.com");
    fake.allow_token_as("sa-token-2", "bot@project.iam.gserviceaccount.com");
    fake.allow_token("someone-else");
    let id = fake.spreadsheet_id();
    let url = format!("http://{addr}/v4/spreadsheets/{id}/values/Sheet1!A1");
    let client = reqwest::Client::new();
    let read = |token: &'static str| {
        let req = client.get(&url).bearer_auth(token);
        async move { req.send().await.expect("send").status().as_u16() }
    };
    for i in 0..30 {
        assert_eq!(read("sa-token-1").await, 200, "read {i}");
        assert_eq!(read("sa-token-2").await, 200, "read {i}");
    }
    assert_eq!(read("sa-token-1").await, 429, "the user's 60 are spent");
    assert_eq!(read("sa-token-2").await, 429, "by both of its tokens");
    assert_eq!(read("someone-else").await, 200, "another user has its own");
    assert_eq!(fake.quota_refusals(), 2);
    // A token the fake does not know is refused as unauthenticated, not counted.
    assert_eq!(read("unknown").await, 401);
    assert_eq!(fake.quota_refusals(), 2);
}
