//! Unit tests of the status page: the view gathered from a real SQLite state written
//! through the state API (which run's problems are current, links, refusals, tokens),
//! the HTML (escaping, phone layout, no external assets) and the route's headers.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value as Json, json};

use super::view::{self, DigestCache, Site, StatusView, TokenView, WatchHealth, cell_link};
use super::*;
use crate::report::Report;
use crate::state::{Scope, State};

const SHEET: &str = "1AbC-sheet";

fn scope() -> Scope {
    Scope::new("example.myshopify.com", SHEET, "Inventory")
}

fn site() -> Site {
    Site {
        shop: "example.myshopify.com".into(),
        spreadsheet_id: SHEET.into(),
        tab: "Inventory".into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

/// A report as the engine stores it, with `extra` keys on top of an empty run.
fn report(run_id: &str, extra: Json) -> Report {
    let mut v = json!({
        "run_id": run_id, "dry_run": false, "shop": "example.myshopify.com",
        "spreadsheet_id": SHEET, "sheet_id": 1234, "rows_read": 30,
        "changes": [], "pulled": [], "conflicts": [], "errors": [],
        "summary": {"planned": 0, "applied": 0, "failed": 0, "skipped": 0, "unchanged": 30, "errors": 0}
    });
    if let (Some(base), Json::Object(more)) = (v.as_object_mut(), extra) {
        base.extend(more);
    }
    serde_json::from_value(v).unwrap()
}

/// Journals `report` as a finished run started at minute `minute` of the test's hour.
fn record(state: &mut State, command: &str, minute: u32, report: &Report) {
    let at = format!("2026-12-07T11:{minute:02}:00Z");
    state
        .begin_run(&report.run_id, &at, command, false)
        .unwrap();
    crate::report::journal::record_finished(state, &report.run_id, report, false).unwrap();
}

fn error(sku: Option<&str>, row: u32, col: &str, message: &str) -> Json {
    json!({"row": row, "cell": format!("Inventory!{col}{row}"), "sku": sku, "message": message})
}

fn conflict(sku: &str, row: u32, kind: &str, resolution: &str) -> Json {
    json!({"sku": sku, "row": row, "field": "inventory", "location": "Outlet", "kind": kind,
           "baseline": 3, "sheet": 5, "store": 1, "resolution": resolution,
           "cell": format!("Inventory!E{row}")})
}

fn gathered(state: &State) -> StatusView {
    view::gather(
        Some(state),
        &site(),
        &WatchHealth::starting(now()),
        Vec::new(),
        now(),
        &DigestCache::default(),
    )
}

fn cells(v: &StatusView) -> Vec<String> {
    v.errors.iter().map(|e| e.cell.clone()).collect()
}

#[test]
fn each_row_shows_the_problems_of_its_latest_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::open(dir.path(), &scope()).unwrap();
    // A full run: two bad cells, a row without SKU, a resolved conflict, an unadopted one.
    let full = report(
        "r1",
        json!({
            "errors": [error(Some("MUG-2"), 14, "C", "price \"abc\" is not a number"),
                       error(Some("TEE-1"), 7, "D", "stock 1.5 is not a whole number"),
                       error(None, 20, "C", "a row with values but no SKU")],
            "conflicts": [conflict("CAP-1", 12, "both_changed", "sheet"),
                          conflict("HAT-1", 13, "no_baseline", "none")],
        }),
    );
    record(&mut state, "sync", 1, &full);
    let v = gathered(&state);
    assert_eq!(
        cells(&v),
        ["Inventory!C14", "Inventory!D7", "Inventory!C20"],
        "{v:#?}"
    );
    assert_eq!(
        v.errors[0].link.as_deref(),
        Some("https://docs.google.com/spreadsheets/d/1AbC-sheet/edit#gid=1234&range=C14")
    );
    assert_eq!(v.conflicts.len(), 1);
    assert_eq!(v.conflicts[0].sku, "CAP-1");
    assert_eq!(v.conflicts[0].kind, "both_changed");
    assert_eq!(
        v.conflicts[0].link.as_deref(),
        Some("https://docs.google.com/spreadsheets/d/1AbC-sheet/edit#gid=1234&range=E12")
    );
    assert_eq!(v.awaiting_adopt.len(), 1);
    assert_eq!(v.awaiting_adopt[0].sku, "HAT-1");
    assert!(v.awaiting_adopt[0].resolution.contains("--adopt"));

    // `watch` re-plans MUG-2 (fixed) and CAP-1 (no conflict any more); the others stand.
    let narrow = report("r2", json!({"planned_skus": ["CAP-1", "MUG-2"]}));
    record(&mut state, "sync", 2, &narrow);
    // Runs that judge no rows settle nothing: a pull, and a run that could not complete.
    record(&mut state, "pull", 3, &report("r3", json!({})));
    record(
        &mut state,
        "sync",
        4,
        &report("r4", json!({"fatal": "run"})),
    );
    let v = gathered(&state);
    assert_eq!(cells(&v), ["Inventory!D7", "Inventory!C20"], "{v:#?}");
    assert!(v.errors.iter().all(|e| e.run_id == "r1"));
    assert!(v.conflicts.is_empty(), "{v:#?}");
    assert_eq!(v.awaiting_adopt.len(), 1);
    assert_eq!(
        v.runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["r4", "r3", "r2", "r1"]
    );
    assert_eq!(v.runs[2].scope, "2 changed row(s)");
    assert_eq!(v.runs[3].scope, "all rows");
    assert_eq!(v.last_run.as_ref().map(|r| r.run_id.as_str()), Some("r4"));

    // A changed-rows run that finds a new problem in its row lists it from that run.
    let again = report(
        "r5",
        json!({"planned_skus": ["MUG-2"],
               "errors": [error(Some("MUG-2"), 14, "C", "price \"<b>\" is not a number")]}),
    );
    record(&mut state, "sync", 5, &again);
    let v = gathered(&state);
    assert_eq!(
        cells(&v),
        ["Inventory!C14", "Inventory!D7", "Inventory!C20"]
    );
    assert_eq!(v.errors[0].run_id, "r5");

    // The next full run decides every row: a clean one clears everything.
    record(&mut state, "sync", 6, &report("r6", json!({})));
    let v = gathered(&state);
    assert!(
        v.errors.is_empty() && v.conflicts.is_empty() && v.awaiting_adopt.is_empty(),
        "{v:#?}"
    );
}

#[test]
fn a_refusal_stands_until_a_later_run_judges_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::open(dir.path(), &scope()).unwrap();
    let refused = json!([{"guard": "price_change", "sku": "TEE-1", "row": 7,
                          "from": "10.00", "to": "100.00", "max": "0.5"}]);
    record(
        &mut state,
        "sync",
        1,
        &report("r1", json!({"planned_skus": ["TEE-1"], "refused": refused})),
    );
    // Another row's run does not lift it.
    record(
        &mut state,
        "sync",
        2,
        &report("r2", json!({"planned_skus": ["MUG-1"]})),
    );
    let v = gathered(&state);
    assert_eq!(v.refused.len(), 1, "{v:#?}");
    assert_eq!(v.refused[0].run_id, "r1");
    assert!(v.refused[0].guards[0].contains("TEE-1 (row 7): price 10.00 → 100.00"));
    // A run of its row that is not refused does.
    record(
        &mut state,
        "sync",
        3,
        &report("r3", json!({"planned_skus": ["TEE-1"]})),
    );
    assert!(gathered(&state).refused.is_empty());
    // A full run's refusal stands while it is the latest full run.
    record(
        &mut state,
        "sync",
        4,
        &report("r4", json!({"refused": [{"guard": "empty_sheet"}]})),
    );
    let v = gathered(&state);
    assert_eq!(v.refused.len(), 1);
    assert_eq!(v.refused[0].guards, ["the sheet has no data rows"]);
}

#[test]
fn no_state_yet_is_an_empty_page() {
    let dir = tempfile::tempdir().unwrap();
    let v = view::gather(
        State::open_read_only(dir.path(), &scope())
            .unwrap()
            .as_ref()
            .map(|s| s as &dyn crate::state::StateStore),
        &site(),
        &WatchHealth::starting(now()),
        Vec::new(),
        now(),
        &DigestCache::default(),
    );
    assert!(v.runs.is_empty() && v.errors.is_empty() && v.last_run.is_none());
    assert!(v.notes.is_empty(), "{:?}", v.notes);
    assert_eq!(
        v.sheet_url,
        "https://docs.google.com/spreadsheets/d/1AbC-sheet/edit"
    );
}

#[test]
fn cell_links_name_the_tab_by_gid_and_the_cell_by_a1() {
    assert_eq!(
        cell_link("abc", Some(0), "Inventory!C14").as_deref(),
        Some("https://docs.google.com/spreadsheets/d/abc/edit#gid=0&range=C14")
    );
    assert_eq!(
        cell_link("abc", Some(77), "'Q1 #2!'!AB100").as_deref(),
        Some("https://docs.google.com/spreadsheets/d/abc/edit#gid=77&range=AB100")
    );
    assert_eq!(cell_link("abc", None, "Inventory!C14"), None);
    assert_eq!(cell_link("abc", Some(1), "Inventory!<b>1"), None);
    assert_eq!(cell_link("abc", Some(1), "Inventory!C"), None);
    // The id is percent-encoded: it cannot leave the path.
    assert_eq!(
        cell_link("a\"b/c#d", Some(1), "A1").as_deref(),
        Some("https://docs.google.com/spreadsheets/d/a%22b%2Fc%23d/edit#gid=1&range=A1")
    );
}

fn config(auth: &str, google: &str) -> crate::config::Config {
    let text = format!(
        r#"
[sheet]
spreadsheet_id = "{SHEET}"
tab = "Inventory"
[sheet.columns]
sku = "SKU"
price = "Price"
[google]
{google}
[shopify]
shop = "example.myshopify.com"
[shopify.auth]
{auth}
"#
    );
    crate::config::Config::parse(&text, std::path::Path::new("t.toml"), &|_| Some("x".into()))
        .unwrap()
}

#[test]
fn token_expiries_come_from_the_token_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::open(dir.path(), &scope()).unwrap();
    let cfg = config(
        "method = \"client_credentials\"\nclient_id = \"id\"\nclient_secret = \"s\"",
        "credentials = \"key.json\"",
    );
    let none = view::tokens(&cfg, Some(&state), now());
    assert!(none[0].expires.contains("none cached yet"), "{none:?}");
    let token = json!({
        "kind": "client_credentials", "access_token": "shpat_secret_value",
        "obtained_at": "2026-12-07T11:00:00Z", "expires_at": "2026-12-08T11:00:00Z"
    });
    state
        .put_token(
            crate::auth::TOKEN_NAME,
            &crate::model::Secret::new(token.to_string()),
            Some("2026-12-08T11:00:00Z"),
        )
        .unwrap();
    let t: Vec<TokenView> = view::tokens(&cfg, Some(&state), now());
    assert_eq!(t[0].side, "Shopify");
    assert!(
        t[0].expires
            .starts_with("2026-12-08T11:00:00Z (in 23 h 0 min)"),
        "{t:?}"
    );
    assert!(!t[0].attention);
    assert!(t[1].credential.contains("service-account"));
    // The token itself never reaches the page.
    assert!(!format!("{t:?}").contains("shpat_secret"));

    let oauth = config(
        "method = \"oauth\"\nclient_id = \"id\"\nclient_secret = \"s\"",
        "credentials = \"key.json\"",
    );
    let empty = tempfile::tempdir().unwrap();
    let fresh = State::open(empty.path(), &scope()).unwrap();
    let t = view::tokens(&oauth, Some(&fresh), now());
    assert!(t[0].attention && t[0].expires == "no token stored", "{t:?}");
}

// ----- the HTML -----

fn hostile_view() -> StatusView {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::open(dir.path(), &scope()).unwrap();
    let bad = report(
        "r1",
        json!({
            "errors": [error(Some("\"><img src=x onerror=alert(2)>"), 14, "C",
                             "price \"<script>alert(1)</script>\" is not a number")],
            "conflicts": [conflict("CAP-<i>1</i>", 12, "both_changed", "sheet")],
            "changes": [{"sku": "TEE-1", "row": 7, "field": "title", "location": null,
                         "from": "Old", "to": "<svg onload=alert(3)>", "status": "applied"}],
        }),
    );
    record(&mut state, "sync", 1, &bad);
    let health = WatchHealth {
        healthy: false,
        since: now(),
        last_error: Some(view::LastError {
            at: now(),
            message: "store said <b>no</b> & \"left\"".into(),
        }),
    };
    view::gather(
        Some(&state),
        &site(),
        &health,
        Vec::new(),
        now(),
        &DigestCache::default(),
    )
}

fn html(view: &StatusView) -> String {
    render::page(view, "n0nce", REFRESH_EVERY).unwrap()
}

#[test]
fn everything_from_the_sheet_or_the_store_is_text() {
    let out = html(&hostile_view());
    for markup in ["<script>alert", "<img", "<i>1", "<svg", "<b>no", "\"><img"] {
        assert!(
            !out.contains(markup),
            "{markup} came through as markup:\n{out}"
        );
    }
    for text in [
        "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;",
        "CAP-&lt;i&gt;1&lt;&#x2f;i&gt;",
        "&lt;svg onload=alert(3)&gt;",
        "store said &lt;b&gt;no&lt;&#x2f;b&gt; &amp; &quot;left&quot;",
    ] {
        assert!(out.contains(text), "{text} missing:\n{out}");
    }
    // The only scripts are the page's own, carrying the nonce.
    assert_eq!(out.matches("<script").count(), 1);
    assert!(out.contains("<script nonce=\"n0nce\">"));
}

#[test]
fn the_page_shows_problems_with_links_and_the_runs() {
    let out = html(&hostile_view());
    assert!(out.contains(
        "<a class=\"cell\" href=\"https:&#x2f;&#x2f;docs.google.com&#x2f;spreadsheets&#x2f;d&#x2f;1AbC-sheet&#x2f;edit#gid=1234&amp;range=C14\""
    ), "{out}");
    assert!(out.contains(">Inventory!C14</a>"));
    assert!(out.contains(">Inventory!E12</a>"));
    assert!(out.contains("class=\"run\" data-run-id=\"r1\""));
    assert!(out.contains("failing"));
}

#[test]
fn the_page_reads_on_a_phone_and_loads_nothing_from_elsewhere() {
    let out = html(&hostile_view());
    assert!(
        out.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(out.contains("@media (max-width: 600px) { main { grid-template-columns: 1fr; } }"));
    assert!(!out.contains("<link"), "no stylesheet is fetched");
    assert!(!out.contains("src=\""), "no script or image is fetched");
    assert!(!out.contains("@import") && !out.contains("url("));
    // The refresh: the script polls, and without JavaScript the page reloads.
    assert!(out.contains("var every = 5000;"));
    assert!(out.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
}

#[test]
fn an_empty_state_renders() {
    let v = view::gather(
        None,
        &site(),
        &WatchHealth::starting(now()),
        Vec::new(),
        now(),
        &DigestCache::default(),
    );
    let out = html(&v);
    assert!(out.contains("No runs yet."));
    assert!(out.contains("No row errors"));
    assert!(out.contains("healthy"));
}

#[tokio::test]
async fn the_route_serves_html_with_a_nonce_policy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        "method = \"token\"\ntoken = \"shpat_x\"",
        "credentials = \"key.json\"",
    );
    cfg.sync.state_dir = dir.path().to_path_buf();
    let ctx = PageContext::new(
        Arc::new(cfg),
        SharedHealth::new(WatchHealth::starting(now())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router(ctx)).await });
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("cache-control"), "no-store");
    let csp = header("content-security-policy");
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(nonce.len(), 32, "{csp}");
    let body = resp.text().await.unwrap();
    assert!(body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(body.contains("No runs yet."));
    server.abort();
}
