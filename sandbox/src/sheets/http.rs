//! The fake's HTTP surface: axum routes for Sheets v4, the token endpoint and Drive v3,
//! each answering with the headers and body shapes the real services send.

// Helpers bail out with the finished error `Response`; it is built once per failed request,
// so its size on the `Err` path costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeSet, HashMap};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json, json};

use super::grid::{Cell, DateRender, Major, ValueRender};
use super::oauth::{self, Refusal};
use super::range::{A1, OutOfGrid, Rect, WriteError, format_range};
use super::{Canned, Grant, LoggedRequest, SheetsFake, State};

pub const JSON_UTF8: &str = "application/json; charset=UTF-8";
/// The consent page of installed-app OAuth (Google's `auth_uri` path).
pub const AUTH_PATH: &str = "/o/oauth2/auth";

pub fn router(fake: SheetsFake) -> Router {
    Router::new()
        .route("/v4/spreadsheets/{id}", get(spreadsheet_get))
        .route("/v4/spreadsheets/{id}/values/{range}", get(values_get))
        .route(
            "/v4/spreadsheets/{id}/values:batchGet",
            get(values_batch_get),
        )
        .route(
            "/v4/spreadsheets/{id}/values:batchUpdate",
            post(values_batch_update),
        )
        .route("/token", post(token))
        .route(AUTH_PATH, get(consent_page))
        .route("/drive/v3/files/{id}", get(drive_files_get))
        .fallback(not_found_page)
        .layer(middleware::from_fn_with_state(fake.clone(), log_and_inject))
        .layer(middleware::from_fn_with_state(
            fake.faults().clone(),
            crate::faults::inject,
        ))
        .with_state(fake)
}

/// Google's pretty printing: two-space indent and a trailing newline.
pub fn pretty(v: &Json) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Logs every request, then serves a queued failure instead if the test asked for one.
async fn log_and_inject(Extract(fake): Extract<SheetsFake>, req: Request, next: Next) -> Response {
    let canned = {
        let mut s = fake.lock();
        let path = req.uri().path().to_owned();
        let is_token = path == "/token";
        s.requests.push(LoggedRequest {
            method: req.method().to_string(),
            path: path.clone(),
            query: req.uri().query().map(str::to_owned),
        });
        let call = if path_is(&path, "values:batchGet") {
            Some(super::Call::BatchGet)
        } else if path_is(&path, "values:batchUpdate") {
            Some(super::Call::BatchUpdate)
        } else {
            None
        };
        let mut hooked = None;
        for action in call.map(|c| s.due_hooks(c)).unwrap_or_default() {
            match action {
                super::BeforeCall::Edit(cells) => {
                    for (tab, a1, value) in cells {
                        if let (Some((row, col)), Some(t)) =
                            (super::range::parse_cell(&a1), s.tab_mut(&tab))
                        {
                            t.set(row, col, Cell::from_seed(&value));
                        }
                    }
                    s.touch();
                }
                super::BeforeCall::Fail(status, body) => {
                    hooked = Some(Canned {
                        status,
                        content_type: JSON_UTF8,
                        body: pretty(&body),
                    });
                }
            }
        }
        if is_token {
            s.token_failures.pop_front()
        } else if path == AUTH_PATH {
            // The consent page is a browser's, not an API call: no injected failures.
            None
        } else {
            hooked.or_else(|| s.failures.pop_front()).or_else(|| {
                // Only the Sheets API has this quota (Drive's is its own, far larger). It
                // is the user's the token acts for; a request without a valid token is
                // answered 401 by the handler and counts against no one.
                let write = req.method() != axum::http::Method::GET;
                let user = bearer(req.headers())
                    .and_then(|t| s.tokens.get(t))
                    .filter(|g| g.expires > Utc::now())
                    .map(|g| g.user.clone())?;
                (path.starts_with("/v4/spreadsheets") && !s.quota.admit(&user, write)).then(|| {
                    Canned {
                        status: 429,
                        content_type: JSON_UTF8,
                        body: pretty(&quota_exceeded(write)),
                    }
                })
            })
        }
    };
    match canned {
        Some(Canned {
            status,
            content_type,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => next.run(req).await,
    }
}

/// Whether a request path is the `values:…` method `method` (the colon may arrive
/// percent-encoded).
fn path_is(path: &str, method: &str) -> bool {
    path.ends_with(method) || path.ends_with(&method.replace(':', "%3A"))
}

// ---------------------------------------------------------------- responses

fn sheets_json(status: StatusCode, body: &Json) -> Response {
    let mut resp = (status, pretty(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    h.insert(header::SERVER, HeaderValue::from_static("ESF"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Origin, X-Origin, Referer"),
    );
    resp
}

fn api_error(code: u16, status: &str, message: &str) -> Response {
    api_error_with(code, status, message, None)
}

fn api_error_with(code: u16, status: &str, message: &str, details: Option<Json>) -> Response {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(d) = details {
        error["details"] = d;
    }
    sheets_json(
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        &json!({"error": error}),
    )
}

fn unable_to_parse(range: &str) -> Response {
    api_error(
        400,
        "INVALID_ARGUMENT",
        &format!("Unable to parse range: {range}"),
    )
}

fn invalid_enum(field: &str, type_name: &str, value: &str) -> Response {
    let message = format!(
        "Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4.{type_name}), \"{value}\""
    );
    let details = json!([{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": message.trim_start_matches("Invalid value at ")}]
    }]);
    api_error_with(400, "INVALID_ARGUMENT", &message, Some(details))
}

fn out_of_grid(tab: &str, text: &str, e: &OutOfGrid) -> Response {
    let cells = text.rsplit_once('!').map_or(text, |(_, c)| c);
    let quoted = format!("'{}'", tab.replace('\'', "''"));
    let shown = if cells == text && !text.contains(':') && !text.chars().any(|c| c.is_ascii_digit())
    {
        quoted
    } else {
        format!("{quoted}!{cells}")
    };
    api_error(
        400,
        "INVALID_ARGUMENT",
        &format!(
            "Range ({shown}) exceeds grid limits. Max rows: {}, max columns: {}",
            e.max_rows, e.max_cols
        ),
    )
}

pub fn quota_exceeded(write: bool) -> Json {
    let (kind, metric, limit) = if write {
        (
            "Write requests",
            "sheets.googleapis.com/write_requests",
            "WriteRequestsPerMinutePerUser",
        )
    } else {
        (
            "Read requests",
            "sheets.googleapis.com/read_requests",
            "ReadRequestsPerMinutePerUser",
        )
    };
    let per = if write {
        "Write requests per minute per user"
    } else {
        "Read requests per minute per user"
    };
    json!({"error": {
        "code": 429,
        "message": format!("Quota exceeded for quota metric '{kind}' and limit '{per}' of service 'sheets.googleapis.com' for consumer 'project_number:100000000000'."),
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
             "metadata": {"quota_limit_value": "60", "service": "sheets.googleapis.com", "consumer": "projects/100000000000",
                          "quota_unit": "1/min/{project}/{user}", "quota_location": "global", "quota_metric": metric, "quota_limit": limit}},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Request a higher quota limit.", "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}
        ]
    }})
}

async fn not_found_page(req: Request) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>{}</code> was not found on this server.  <ins>That’s all we know.</ins>\n",
        req.uri().path()
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------- auth

/// Which API a call belongs to, for the scope check and the 401/403 body shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    SheetsRead,
    SheetsWrite,
    Drive,
}

fn scope_allows(api: Api, scope: &str) -> bool {
    let Some(name) = scope.strip_prefix("https://www.googleapis.com/auth/") else {
        return scope == "*";
    };
    match api {
        Api::SheetsRead => matches!(
            name,
            "spreadsheets" | "spreadsheets.readonly" | "drive" | "drive.readonly" | "drive.file"
        ),
        Api::SheetsWrite => matches!(name, "spreadsheets" | "drive" | "drive.file"),
        Api::Drive => name.starts_with("drive"),
    }
}

/// The bearer token a request carries.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Checks the bearer token: 401 when it is missing, unknown or expired, 403 when its
/// scopes do not cover the call.
fn authorize(s: &State, headers: &HeaderMap, api: Api) -> Result<(), Response> {
    let token = bearer(headers);
    let grant: Option<&Grant> = token
        .and_then(|t| s.tokens.get(t))
        .filter(|g| g.expires > Utc::now());
    let Some(grant) = grant else {
        let (message, reason) = match token {
            None => (
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "CREDENTIALS_MISSING",
            ),
            Some(_) => (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "ACCESS_TOKEN_EXPIRED",
            ),
        };
        let mut resp = if api == Api::Drive {
            drive_error(
                401,
                json!({"error": {
                    "code": 401, "message": message,
                    "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError", "location": "Authorization", "locationType": "header"}],
                    "status": "UNAUTHENTICATED"
                }}),
            )
        } else {
            let details = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
                                  "metadata": {"service": "sheets.googleapis.com", "method": "google.apps.sheets.v4.SpreadsheetsService"}}]);
            api_error_with(401, "UNAUTHENTICATED", message, Some(details))
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
        );
        return Err(resp);
    };
    if !grant.scopes.iter().any(|sc| scope_allows(api, sc)) {
        let body = json!({"error": {
            "code": 403, "message": "Request had insufficient authentication scopes.",
            "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
            "status": "PERMISSION_DENIED"
        }});
        let mut resp = if api == Api::Drive {
            drive_error(403, body)
        } else {
            sheets_json(StatusCode::FORBIDDEN, &body)
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"",
            ),
        );
        return Err(resp);
    }
    Ok(())
}

// ---------------------------------------------------------------- Sheets

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

struct ReadOptions {
    major: Major,
    value: ValueRender,
    date: DateRender,
}

fn read_options(pairs: &[(String, String)]) -> Result<ReadOptions, Response> {
    let major = param(pairs, "majorDimension");
    let value = param(pairs, "valueRenderOption");
    let date = param(pairs, "dateTimeRenderOption");
    Ok(ReadOptions {
        major: Major::parse(major).ok_or_else(|| {
            invalid_enum("major_dimension", "Dimension", major.unwrap_or_default())
        })?,
        value: ValueRender::parse(value).ok_or_else(|| {
            invalid_enum(
                "value_render_option",
                "ValueRenderOption",
                value.unwrap_or_default(),
            )
        })?,
        date: DateRender::parse(date).ok_or_else(|| {
            invalid_enum(
                "date_time_render_option",
                "DateTimeRenderOption",
                date.unwrap_or_default(),
            )
        })?,
    })
}

/// Finds the tab a range names (the first tab when it names none) and parses it.
fn locate<'s>(s: &'s State, text: &str) -> Result<(A1, &'s super::Tab), Response> {
    let titles: Vec<&str> = s.tabs.iter().map(|t| t.title.as_str()).collect();
    let a1 = A1::parse(text, &titles).ok_or_else(|| unable_to_parse(text))?;
    let tab = match &a1.tab {
        Some(name) => s.tab(name),
        None => s.tabs.first(),
    }
    .ok_or_else(|| unable_to_parse(text))?;
    Ok((a1, tab))
}

fn value_range(s: &State, text: &str, opts: &ReadOptions) -> Result<Json, Response> {
    let (a1, tab) = locate(s, text)?;
    let rect = a1
        .resolve(tab.row_count, tab.col_count)
        .map_err(|e| out_of_grid(&tab.title, text, &e))?;
    let mut vr =
        json!({"range": format_range(&tab.title, &rect), "majorDimension": opts.major.name()});
    let values = tab.values(&rect, opts.major, opts.value, opts.date);
    // An empty block has no `values` key at all, not `[]`.
    if !values.is_empty() {
        vr["values"] = json!(values);
    }
    Ok(vr)
}

fn check_spreadsheet(s: &State, id: &str) -> Result<(), Response> {
    if s.spreadsheet_id == id {
        Ok(())
    } else {
        Err(api_error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
        ))
    }
}

async fn spreadsheet_get(
    Extract(fake): Extract<SheetsFake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = fake.lock();
    if let Err(r) =
        authorize(&s, &headers, Api::SheetsRead).and_then(|()| check_spreadsheet(&s, &id))
    {
        return r;
    }
    let sheets: Vec<Json> = s
        .tabs
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let mut p = json!({
                "sheetId": t.sheet_id, "title": t.title, "index": index, "sheetType": "GRID",
                "gridProperties": {"rowCount": t.row_count, "columnCount": t.col_count}
            });
            // Default values are omitted: `hidden` only appears when true.
            if t.hidden {
                p["hidden"] = json!(true);
            }
            json!({"properties": p})
        })
        .collect();
    let body = json!({
        "spreadsheetId": s.spreadsheet_id,
        "properties": {"title": s.title, "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT"},
        "sheets": sheets,
        "spreadsheetUrl": format!("https://docs.google.com/spreadsheets/d/{}/edit", s.spreadsheet_id),
    });
    sheets_json(StatusCode::OK, &body)
}

async fn values_get(
    Extract(fake): Extract<SheetsFake>,
    Path((id, range)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let s = fake.lock();
    let pairs = query_pairs(q.as_deref());
    let result = authorize(&s, &headers, Api::SheetsRead)
        .and_then(|()| check_spreadsheet(&s, &id))
        .and_then(|()| read_options(&pairs))
        .and_then(|opts| value_range(&s, &range, &opts));
    match result {
        Ok(vr) => sheets_json(StatusCode::OK, &vr),
        Err(r) => r,
    }
}

async fn values_batch_get(
    Extract(fake): Extract<SheetsFake>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let s = fake.lock();
    let pairs = query_pairs(q.as_deref());
    let result = authorize(&s, &headers, Api::SheetsRead)
        .and_then(|()| check_spreadsheet(&s, &id))
        .and_then(|()| read_options(&pairs))
        .and_then(|opts| {
            pairs
                .iter()
                .filter(|(k, _)| k == "ranges")
                .map(|(_, r)| value_range(&s, r, &opts))
                .collect::<Result<Vec<_>, _>>()
        });
    match result {
        Ok(ranges) if ranges.is_empty() => {
            sheets_json(StatusCode::OK, &json!({"spreadsheetId": id}))
        }
        Ok(ranges) => sheets_json(
            StatusCode::OK,
            &json!({"spreadsheetId": id, "valueRanges": ranges}),
        ),
        Err(r) => r,
    }
}

/// One validated entry of a batchUpdate: where it lands and what goes there.
struct PlannedWrite {
    tab: String,
    rect: Rect,
    /// (row, col, cell) for every non-null value.
    cells: Vec<(u32, u32, Cell)>,
}

fn plan_write(
    s: &State,
    index: usize,
    entry: &Json,
    user_entered: bool,
) -> Result<PlannedWrite, Response> {
    let text = entry["range"].as_str().unwrap_or_default();
    let major_text = entry["majorDimension"].as_str();
    let major = Major::parse(major_text).ok_or_else(|| {
        invalid_enum(
            &format!("data[{index}].major_dimension"),
            "Dimension",
            major_text.unwrap_or_default(),
        )
    })?;
    let lines: Vec<&Vec<Json>> = match &entry["values"] {
        Json::Null => Vec::new(),
        Json::Array(lines) => lines
            .iter()
            .map(|l| match l {
                Json::Array(cells) => Ok(cells),
                other => Err(api_error(
                    400,
                    "INVALID_ARGUMENT",
                    &format!("Invalid value at 'data[{index}].values' (type.googleapis.com/google.protobuf.ListValue), {other}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(api_error(
                400,
                "INVALID_ARGUMENT",
                &format!("Invalid value at 'data[{index}].values' (type.googleapis.com/google.protobuf.ListValue), {other}"),
            ));
        }
    };
    let (a1, tab) = locate(s, text)?;
    let outer = lines.len() as u32;
    let inner = lines.iter().map(|l| l.len()).max().unwrap_or(0) as u32;
    let (data_rows, data_cols) = if major == Major::Rows {
        (outer, inner)
    } else {
        (inner, outer)
    };
    let rect = a1
        .write_target(tab.row_count, tab.col_count, data_rows, data_cols)
        .map_err(|e| match e {
            WriteError::OutOfGrid(g) => out_of_grid(&tab.title, text, &g),
            WriteError::TooManyRows { row } => api_error(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "Requested writing within range [{text}], but tried writing to row [{row}]"
                ),
            ),
            WriteError::TooManyCols { col } => api_error(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "Requested writing within range [{text}], but tried writing to column [{}]",
                    super::range::column_letters(col)
                ),
            ),
        })?;
    let mut cells = Vec::new();
    for (o, line) in lines.iter().enumerate() {
        for (i, v) in line.iter().enumerate() {
            let cell = if user_entered {
                Cell::from_user_entered(v)
            } else {
                Cell::from_raw(v)
            };
            let Some(cell) = cell else { continue };
            let (dr, dc) = if major == Major::Rows { (o, i) } else { (i, o) };
            cells.push((rect.row0 + dr as u32, rect.col0 + dc as u32, cell));
        }
    }
    Ok(PlannedWrite {
        tab: tab.title.clone(),
        rect,
        cells,
    })
}

async fn values_batch_update(
    Extract(fake): Extract<SheetsFake>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = fake.lock();
    if let Err(r) =
        authorize(&s, &headers, Api::SheetsWrite).and_then(|()| check_spreadsheet(&s, &id))
    {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<Json>(&body) else {
        return api_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. Unexpected token.",
        );
    };
    let user_entered = match req["valueInputOption"].as_str() {
        Some("RAW") => false,
        Some("USER_ENTERED") => true,
        Some(other) => return invalid_enum("value_input_option", "ValueInputOption", other),
        None => {
            return api_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED",
            );
        }
    };
    let entries = req["data"].as_array().cloned().unwrap_or_default();
    // The whole batch is validated before anything is written: it applies all or nothing.
    let planned = match entries
        .iter()
        .enumerate()
        .map(|(i, e)| plan_write(&s, i, e, user_entered))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let include = req["includeValuesInResponse"].as_bool().unwrap_or(false);
    let resp_opts = ReadOptions {
        major: Major::Rows,
        value: ValueRender::parse(req["responseValueRenderOption"].as_str())
            .unwrap_or(ValueRender::Formatted),
        date: DateRender::parse(req["responseDateTimeRenderOption"].as_str())
            .unwrap_or(DateRender::Serial),
    };
    let (mut rows, mut cols, mut tabs) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut total_cells = 0usize;
    let mut responses = Vec::new();
    for w in &planned {
        let Some(tab) = s.tab_mut(&w.tab) else {
            continue;
        };
        for (r, c, cell) in &w.cells {
            tab.set(*r, *c, cell.clone());
            rows.insert((w.tab.clone(), *r));
            cols.insert((w.tab.clone(), *c));
        }
        if !w.cells.is_empty() {
            tabs.insert(w.tab.clone());
        }
        total_cells += w.cells.len();
        let mut r = Map::new();
        r.insert("spreadsheetId".into(), json!(id));
        r.insert("updatedRange".into(), json!(format_range(&w.tab, &w.rect)));
        if !w.cells.is_empty() {
            let distinct_rows: BTreeSet<u32> = w.cells.iter().map(|c| c.0).collect();
            let distinct_cols: BTreeSet<u32> = w.cells.iter().map(|c| c.1).collect();
            r.insert("updatedRows".into(), json!(distinct_rows.len()));
            r.insert("updatedColumns".into(), json!(distinct_cols.len()));
            r.insert("updatedCells".into(), json!(w.cells.len()));
        }
        if include {
            let mut vr = json!({"range": format_range(&w.tab, &w.rect), "majorDimension": "ROWS"});
            let values = tab.values(&w.rect, resp_opts.major, resp_opts.value, resp_opts.date);
            if !values.is_empty() {
                vr["values"] = json!(values);
            }
            r.insert("updatedData".into(), vr);
        }
        responses.push(Json::Object(r));
    }
    if total_cells > 0 {
        s.touch();
    }
    let mut out = Map::new();
    out.insert("spreadsheetId".into(), json!(id));
    // Zero counts are default values, which the API omits.
    for (k, v) in [
        ("totalUpdatedRows", rows.len()),
        ("totalUpdatedColumns", cols.len()),
        ("totalUpdatedCells", total_cells),
        ("totalUpdatedSheets", tabs.len()),
    ] {
        if v > 0 {
            out.insert(k.into(), json!(v));
        }
    }
    if !responses.is_empty() {
        out.insert("responses".into(), Json::Array(responses));
    }
    sheets_json(StatusCode::OK, &Json::Object(out))
}

// ---------------------------------------------------------------- token endpoint

fn token_json(status: u16, body: &Json) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        pretty(body),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::SERVER,
        HeaderValue::from_static("scaffolding on HTTPServer2"),
    );
    no_cache(h);
    resp
}

fn no_cache(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Mon, 01 Jan 1990 00:00:00 GMT"),
    );
}

fn issue(s: &mut State, scopes: Vec<String>, with_scope: bool, user: &str) -> Json {
    s.issued += 1;
    let token = format!("ya29.sandbox-{}-{:016x}", s.issued, fastrand::u64(..));
    let expires = Utc::now() + chrono::Duration::seconds(3599);
    let scope = scopes.join(" ");
    let user = user.to_owned();
    s.tokens.insert(
        token.clone(),
        Grant {
            scopes,
            expires,
            user,
        },
    );
    let mut body = json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"});
    if with_scope {
        body["scope"] = json!(scope);
    }
    body
}

async fn token(Extract(fake): Extract<SheetsFake>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = fake.lock();
    let grant = form
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or_default();
    let result: Result<Json, Refusal> = match grant {
        oauth::JWT_BEARER => {
            let assertion = form
                .get("assertion")
                .map(String::as_str)
                .unwrap_or_default();
            oauth::verify_assertion(assertion, &s.token_urls, Utc::now().timestamp())
                .map(|scopes| issue(&mut s, scopes, false, super::oauth::TEST_CLIENT_EMAIL))
        }
        "refresh_token" => oauth::verify_refresh(&form, &s.refresh_tokens)
            .map(|scopes| issue(&mut s, scopes, true, super::INSTALLED_USER)),
        "authorization_code" => {
            let codes = &mut s.codes;
            oauth::verify_code(&form, codes).map(|scopes| {
                // Consent hands out a refresh token alongside the first access token.
                let refresh = format!("1//sandbox-refresh-{:016x}", fastrand::u64(..));
                s.refresh_tokens.insert(refresh.clone(), scopes.clone());
                let mut body = issue(&mut s, scopes, true, super::INSTALLED_USER);
                body["refresh_token"] = json!(refresh);
                body
            })
        }
        other => Err(oauth::unsupported_grant(other)),
    };
    match result {
        Ok(body) => token_json(200, &body),
        Err(Refusal { status, body }) => token_json(status, &body),
    }
}

/// The consent page, as if the person signed in and approved at once: a 302 to the
/// loopback `redirect_uri` with `code` (and `state` when sent), or Google's error page.
async fn consent_page(Extract(fake): Extract<SheetsFake>, RawQuery(q): RawQuery) -> Response {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(q.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    match oauth::consent(&query) {
        Ok(issued) => {
            let code = format!("4/0Sandbox{:016x}", fastrand::u64(..));
            let mut target = match url::Url::parse(&issued.redirect_uri) {
                Ok(u) => u,
                Err(_) => return StatusCode::BAD_REQUEST.into_response(),
            };
            target
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("scope", &issued.scopes.join(" "));
            if let Some(state) = query.get("state") {
                target.query_pairs_mut().append_pair("state", state);
            }
            fake.lock().codes.insert(code, issued);
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(target.as_str()) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Err(Refusal { status, body }) => {
            let page = format!(
                "<!doctype html><title>Access blocked</title><p>Error {status}: {}</p><p>{}</p>",
                body["error"].as_str().unwrap_or_default(),
                body["error_description"].as_str().unwrap_or_default()
            );
            let mut resp = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                page,
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
    }
}

// ---------------------------------------------------------------- Drive

/// Drive prints its error bodies with a one-space indent.
fn drive_error(status: u16, body: Json) -> Response {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = serde::Serialize::serialize(&body, &mut ser);
    buf.push(b'\n');
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Body::from(buf),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    no_cache(resp.headers_mut());
    resp
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn drive_files_get(
    Extract(fake): Extract<SheetsFake>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let s = fake.lock();
    if let Err(r) = authorize(&s, &headers, Api::Drive) {
        return r;
    }
    if id != s.spreadsheet_id {
        let message = format!("File not found: {id}.");
        return drive_error(
            404,
            json!({"error": {
                "errors": [{"domain": "global", "reason": "notFound", "message": message, "locationType": "parameter", "location": "fileId"}],
                "code": 404, "message": message
            }}),
        );
    }
    let all = json!({
        "kind": "drive#file",
        "id": s.spreadsheet_id,
        "name": s.title,
        "mimeType": "application/vnd.google-apps.spreadsheet",
        "createdTime": rfc3339(s.created),
        "modifiedTime": rfc3339(s.modified),
        // int64 travels as a string.
        "version": s.version.to_string(),
    });
    let pairs = query_pairs(q.as_deref());
    let fields = param(&pairs, "fields").unwrap_or("kind,id,name,mimeType");
    let body = if fields.trim() == "*" {
        all
    } else {
        let mut out = Map::new();
        for f in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match all.get(f) {
                Some(v) => {
                    out.insert(f.to_owned(), v.clone());
                }
                None => {
                    return drive_error(
                        400,
                        json!({"error": {
                            "errors": [{"domain": "global", "reason": "invalidParameter", "message": format!("Invalid field selection {f}"), "locationType": "parameter", "location": "fields"}],
                            "code": 400, "message": format!("Invalid field selection {f}")
                        }}),
                    );
                }
            }
        }
        Json::Object(out)
    };
    let mut resp = (StatusCode::OK, pretty(&body)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    no_cache(resp.headers_mut());
    resp
}
