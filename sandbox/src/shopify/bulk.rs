//! Bulk exports in the fake: `bulkOperationRunQuery` runs the query at once over the
//! store as it stands (Shopify's file is a snapshot taken while the job runs), keeps the
//! JSONL in memory, and reports the job `CREATED`, then `RUNNING` on the first read and
//! `COMPLETED` (with `url`) on the next, as a poller sees it live. The file is served by
//! plain GET on another path of the same server, as Google Cloud Storage serves it: no
//! access token expected, and every fetch records whether one was sent anyway.
//!
//! Bulk mutations: `stagedUploadsCreate` hands out a POST form target on
//! [`UPLOAD_PATH`] (storage's policy fields, an object key under `tmp/…/bulk/`); the
//! upload is checked like the storage policy checks it (1 byte to 100 MB, a key that was
//! issued) and records whether credentials came along. `bulkOperationRunMutation`
//! validates the inner mutation with Shopify's messages, finds the file (`NO_SUCH_FILE`
//! otherwise) and runs every line as the inner mutation against the store at once,
//! without charging the bucket; the result lines (`__lineNumber`) are served like an
//! export's file, in scrambled order. [`super::ShopifyFake::fail_next_bulk_mutation_after`]
//! makes a job stop `FAILED` after some lines, with a `partialDataUrl`.
//!
//! Paced jobs ([`super::ShopifyFake::set_bulk_pace`]): instead of moving one state per
//! read, a job's state follows the fake's clock: `CREATED` for a queue wait, then
//! `RUNNING` with `objectCount` growing at a per-object rate, then its end. The work
//! itself (the export's snapshot, the mutation's lines) still happens at submission.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::exec::{self, FieldCall, FieldFailure};
use super::state::{gid, parse_gid};
use super::{Shared, resolve};

/// Bulk queries running at once per app and shop (2026-01+, SHOPIFY.md §6).
const MAX_RUNNING: usize = 5;
/// Where the files are served, under the server's own origin.
pub const FILE_PATH: &str = "/bulk-results";
/// Where staged uploads are POSTed (storage, in Shopify's case).
pub const UPLOAD_PATH: &str = "/staged-uploads";
/// Largest staged upload (the storage policy's `content-length-range`).
pub const MAX_UPLOAD: usize = 100 * 1024 * 1024;
/// The shop id in staged upload keys (as captured).
const SHOP_KEY_ID: u64 = 92_891_250_994;

/// How fast paced bulk jobs move (see [`super::ShopifyFake::set_bulk_pace`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BulkPace {
    pub queue_wait: Duration,
    /// Positive and finite (the setter sees to it).
    pub objects_per_second: f64,
}

/// One bulk operation.
#[derive(Debug, Clone)]
pub struct BulkOp {
    pub id: u64,
    pub status: &'static str,
    pub query: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub object_count: u64,
    pub root_object_count: u64,
    pub file: Bytes,
    /// Reads of the job so far; it completes on the second.
    reads: u32,
    /// `QUERY` or `MUTATION`.
    pub kind: &'static str,
    /// How the job ends once it has been read twice: `COMPLETED`, or `FAILED` with an
    /// error code (its file is then the partial data).
    pub ends: (&'static str, Option<&'static str>),
    pub error_code: Option<&'static str>,
    /// The pace it runs at, fixed when it was submitted; `None` moves it per read.
    pace: Option<BulkPace>,
    /// When it was submitted, on the fake's clock.
    submitted: Instant,
    /// What `object_count` and `root_object_count` reach when the job ends.
    pub total_objects: u64,
    pub total_roots: u64,
}

impl BulkOp {
    /// A job just submitted: `CREATED`, holding `file` with these totals. A paced job
    /// reports no objects yet, as a live one does; an unpaced one reports them at once.
    #[allow(clippy::too_many_arguments)]
    fn submitted(
        id: u64,
        kind: &'static str,
        query: String,
        file: Vec<u8>,
        objects: u64,
        roots: u64,
        ends: (&'static str, Option<&'static str>),
        pace: Option<BulkPace>,
    ) -> BulkOp {
        let (reported_objects, reported_roots) = match pace {
            Some(_) => (0, 0),
            None => (objects, roots),
        };
        BulkOp {
            id,
            status: "CREATED",
            query,
            created_at: now_stamp(),
            completed_at: None,
            object_count: reported_objects,
            root_object_count: reported_roots,
            // Kept for the job's life: without the growth slack (up to half of a 76 MB file).
            file: Bytes::from(shrunk(file)),
            reads: 0,
            kind,
            ends,
            error_code: None,
            pace,
            submitted: Instant::now(),
            total_objects: objects,
            total_roots: roots,
        }
    }

    /// Moves a paced job to where the clock says it is; unpaced or ended jobs stay.
    fn follow_clock(&mut self, now: Instant) {
        let Some(pace) = self.pace else { return };
        if !matches!(self.status, "CREATED" | "RUNNING") {
            return;
        }
        let Some(running) = now
            .saturating_duration_since(self.submitted)
            .checked_sub(pace.queue_wait)
        else {
            return;
        };
        // Truncation is the point: whole objects done so far.
        let done = (running.as_secs_f64() * pace.objects_per_second) as u64;
        if done >= self.total_objects {
            (self.status, self.error_code) = self.ends;
            self.object_count = self.total_objects;
            self.root_object_count = self.total_roots;
            self.completed_at = Some(now_stamp());
        } else {
            self.status = "RUNNING";
            self.object_count = done;
            // Roots come in step with the objects under them.
            self.root_object_count = (u128::from(self.total_roots) * u128::from(done)
                / u128::from(self.total_objects.max(1)))
                as u64;
        }
    }

    /// Moves an unpaced job one step per read: `RUNNING` on the first, its end on the next.
    fn step_per_read(&mut self) {
        self.reads += 1;
        match (self.status, self.reads) {
            ("CREATED", _) => self.status = "RUNNING",
            ("RUNNING", n) if n >= 2 => {
                (self.status, self.error_code) = self.ends;
                self.completed_at = Some(now_stamp());
            }
            _ => {}
        }
    }
}

/// A staged upload POST, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLog {
    pub key: Option<String>,
    pub bytes: usize,
    pub http_status: u16,
    /// Whether `X-Shopify-Access-Token` or `Authorization` came along (it must not).
    pub carried_credentials: bool,
}

/// A GET of a result file, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFetch {
    pub path: String,
    /// Whether `X-Shopify-Access-Token` or `Authorization` came along (it must not).
    pub carried_credentials: bool,
}

fn now_stamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn op_json(shared: &Shared, op: &BulkOp) -> Value {
    let done = op.status == "COMPLETED";
    let failed = op.status == "FAILED";
    let file_url = || {
        let base = shared
            .public_base
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1".into());
        format!("{base}{FILE_PATH}/{}.jsonl", op.id)
    };
    let url = (done && op.root_object_count > 0).then(file_url);
    let partial = (failed && !op.file.is_empty()).then(file_url);
    json!({
        "__typename": "BulkOperation",
        "id": gid("BulkOperation", op.id),
        "status": op.status,
        "errorCode": op.error_code,
        "createdAt": op.created_at,
        "completedAt": op.completed_at,
        "objectCount": op.object_count.to_string(),
        "rootObjectCount": op.root_object_count.to_string(),
        "fileSize": if done { Some(op.file.len().to_string()) } else { None },
        "url": url,
        "partialDataUrl": partial,
        "query": op.query,
        "type": op.kind,
    })
}

/// Whether `name` is a query root this module answers.
pub fn is_bulk_root(name: &str) -> bool {
    matches!(name, "bulkOperation" | "currentBulkOperation")
}

/// `bulkOperation(id:)` and `currentBulkOperation(type:)`; reading a job moves it along.
pub fn query(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let index = match call.name {
        "bulkOperation" => {
            let id = call.args.get("id").and_then(Value::as_str).unwrap_or("");
            parse_gid("BulkOperation", id)
                .and_then(|n| shared.bulk_ops.iter().position(|op| op.id == n))
        }
        _ => {
            let kind = match call.args.get("type").and_then(Value::as_str) {
                Some("MUTATION") => "MUTATION",
                _ => "QUERY",
            };
            shared.bulk_ops.iter().rposition(|op| op.kind == kind)
        }
    };
    let Some(i) = index else {
        return Ok(Value::Null);
    };
    let op = &mut shared.bulk_ops[i];
    if op.pace.is_some() {
        op.follow_clock(Instant::now());
    } else {
        op.step_per_read();
    }
    let op = shared.bulk_ops[i].clone();
    Ok(op_json(shared, &op))
}

fn shrunk(mut file: Vec<u8>) -> Vec<u8> {
    file.shrink_to_fit();
    file
}

fn user_error(message: &str, code: &str) -> Value {
    json!({
        "bulkOperation": null,
        "userErrors": [{ "field": ["query"], "message": message, "code": code }],
    })
}

/// `bulkOperationRunQuery(query:)`.
pub fn run_query(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let query = call
        .args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(id) = saturated(shared, "QUERY") {
        return Ok(user_error(
            &format!("A bulk query operation for this app and shop is already in progress: {id}"),
            "OPERATION_IN_PROGRESS",
        ));
    }
    let id = shared.data.next_id();
    let data = &shared.data;
    let file = exec::bulk_export(&query, id, |root, emit| {
        resolve::each_node(data, root, emit)
    });
    let file = match file {
        Ok(f) => f,
        Err(message) => return Ok(user_error(&message, "INVALID")),
    };
    let op = BulkOp::submitted(
        id,
        "QUERY",
        query,
        file.jsonl,
        file.object_count,
        file.root_object_count,
        ("COMPLETED", None),
        shared.bulk_pace,
    );
    let out = json!({ "bulkOperation": op_json(shared, &op), "userErrors": [] });
    shared.bulk_ops.push(op);
    Ok(out)
}

/// The file of job `name` (`123.jsonl`), if it is complete.
pub fn file(shared: &Shared, name: &str) -> Option<Bytes> {
    let id: u64 = name.strip_suffix(".jsonl")?.parse().ok()?;
    shared
        .bulk_ops
        .iter()
        .find(|op| op.id == id && matches!(op.status, "COMPLETED" | "FAILED"))
        .map(|op| op.file.clone())
}

/// The oldest running job of `kind` when `MAX_RUNNING` of them run already.
fn saturated(shared: &mut Shared, kind: &str) -> Option<String> {
    // A paced job may have ended by the clock without anyone reading it since.
    let now = Instant::now();
    for op in &mut shared.bulk_ops {
        op.follow_clock(now);
    }
    let running: Vec<&BulkOp> = shared
        .bulk_ops
        .iter()
        .filter(|op| op.kind == kind && matches!(op.status, "CREATED" | "RUNNING"))
        .collect();
    (running.len() >= MAX_RUNNING).then(|| gid("BulkOperation", running[0].id))
}

/// `stagedUploadsCreate(input:)`: one POST target per input, as captured live.
pub fn staged_uploads(shared: &mut Shared, call: &FieldCall<'_>) -> Value {
    let base = shared
        .public_base
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1".into());
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let inputs = call
        .args
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut targets = Vec::new();
    for input in inputs {
        let filename = input
            .get("filename")
            .and_then(Value::as_str)
            .unwrap_or("upload");
        let mime = input
            .get("mimeType")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream");
        let uuid = format!(
            "{:08x}-{:04x}-4{:03x}-b{:03x}-{:012x}",
            fastrand::u32(..),
            fastrand::u16(..),
            fastrand::u16(..0x1000),
            fastrand::u16(..0x1000),
            fastrand::u64(..1 << 48)
        );
        let key = format!("tmp/{SHOP_KEY_ID}/bulk/{uuid}/{filename}");
        shared.staged.insert(key.clone(), None);
        let param = |name: &str, value: &str| json!({ "name": name, "value": value });
        targets.push(json!({
            "url": format!("{base}{UPLOAD_PATH}"),
            "resourceUrl": null,
            "parameters": [
                param("Content-Type", mime),
                param("success_action_status", "201"),
                param("acl", "private"),
                param("key", &key),
                param("x-goog-date", &date),
                param("x-goog-credential", "merchant-assets@shopify-tiers.iam.gserviceaccount.com/auto/storage/goog4_request"),
                param("x-goog-algorithm", "GOOG4-RSA-SHA256"),
                param("x-goog-signature", &format!("{:064x}", fastrand::u128(..))),
                param("policy", "eyJjb25kaXRpb25zIjpbXX0="),
            ],
        }));
    }
    json!({ "stagedTargets": targets, "userErrors": [] })
}

fn mutation_error(field: Option<&str>, message: &str, code: Option<&str>) -> Value {
    json!({
        "bulkOperation": null,
        "userErrors": [{ "field": field.map(|f| vec![f]), "message": message, "code": code }],
    })
}

/// Why `text` cannot be a bulk mutation, as Shopify words it: (field, message, code).
fn check_inner(text: &str) -> Option<(Option<&'static str>, String, Option<&'static str>)> {
    use graphql_parser::query::{Definition, OperationDefinition, Selection};
    let doc = match graphql_parser::parse_query::<String>(text) {
        Ok(d) => d,
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default().to_owned();
            return Some((
                None,
                format!("Failed to parse the mutation - {first}"),
                Some("INVALID_MUTATION"),
            ));
        }
    };
    let mut ops = doc.definitions.iter().filter_map(|d| match d {
        Definition::Operation(o) => Some(o),
        Definition::Fragment(_) => None,
    });
    let Some(OperationDefinition::Mutation(m)) = ops.next() else {
        return Some((
            None,
            "Invalid operation type. Only `mutation` operations are supported.".into(),
            Some("INVALID_MUTATION"),
        ));
    };
    let roots: Vec<&str> = m
        .selection_set
        .items
        .iter()
        .filter_map(|s| match s {
            Selection::Field(f) => Some(f.name.as_str()),
            _ => None,
        })
        .collect();
    match roots.as_slice() {
        [one] if one.starts_with("bulkOperation") => Some((
            Some("mutation"),
            "You must use an allowed mutation name.".into(),
            None,
        )),
        [_] => None,
        _ => Some((
            Some("mutation"),
            "You must specify a single top level mutation.".into(),
            None,
        )),
    }
}

/// `bulkOperationRunMutation(mutation:, stagedUploadPath:)`: runs every line at once.
pub fn run_mutation(shared: &mut Shared, call: &FieldCall<'_>) -> Result<Value, FieldFailure> {
    let text = call
        .args
        .get("mutation")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let path = call
        .args
        .get("stagedUploadPath")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some((field, message, code)) = check_inner(&text) {
        return Ok(mutation_error(field, &message, code));
    }
    let Some(Some(file)) = shared.staged.get(path).cloned() else {
        return Ok(mutation_error(
            None,
            "The JSONL file could not be found. Try uploading the file again, and check that you've entered the URL correctly for the stagedUploadPath mutation argument.",
            Some("NO_SUCH_FILE"),
        ));
    };
    if file.len() > shared.upload_limit {
        return Ok(mutation_error(
            None,
            "The input file size exceeds the maximum allowed size of 100 MB.",
            Some("INVALID_STAGED_UPLOAD_FILE"),
        ));
    }
    if let Some(id) = saturated(shared, "MUTATION") {
        return Ok(mutation_error(
            None,
            &format!(
                "A bulk mutation operation for this app and shop is already in progress: {id}"
            ),
            Some("OPERATION_IN_PROGRESS"),
        ));
    }
    let mut lines: Vec<&[u8]> = file
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let ends = match shared.bulk_mutation_fails_after.take() {
        Some(n) => {
            lines.truncate(n);
            ("FAILED", Some("INTERNAL_SERVER_ERROR"))
        }
        None => ("COMPLETED", None),
    };
    let results = match exec::run_inner(shared, &text, &lines) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("Failed to parse the mutation - {e}");
            return Ok(mutation_error(None, &message, Some("INVALID_MUTATION")));
        }
    };
    let count = results.len() as u64;
    // Result lines come in no promised order: a fixed scramble keeps tests honest.
    let mut order: Vec<usize> = (0..results.len()).collect();
    fastrand::Rng::with_seed(results.len() as u64).shuffle(&mut order);
    let mut jsonl = Vec::new();
    for i in order {
        jsonl.extend_from_slice(&serde_json::to_vec(&results[i]).unwrap_or_default());
        jsonl.push(b'\n');
    }
    let op = BulkOp::submitted(
        shared.data.next_id(),
        "MUTATION",
        text,
        jsonl,
        count,
        count,
        ends,
        shared.bulk_pace,
    );
    let out = json!({ "bulkOperation": op_json(shared, &op), "userErrors": [] });
    shared.bulk_ops.push(op);
    Ok(out)
}

/// A staged upload POST (multipart form): the file is kept under its key when the key
/// was issued and the size is within the policy. Returns the HTTP status and body.
pub fn upload(
    shared: &mut Shared,
    content_type: &str,
    body: &[u8],
    credentials: bool,
) -> (u16, String) {
    let form = multipart_fields(content_type, body);
    let key = form
        .iter()
        .find(|(n, _)| n == "key")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let file = form
        .iter()
        .find(|(n, _)| n == "file")
        .map(|(_, v)| v.clone());
    let (status, text) = match (&key, file) {
        (Some(k), Some(f)) if shared.staged.contains_key(k) => {
            if f.is_empty() {
                (
                    400,
                    storage_error(
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum object size specified in your Policy Document.",
                    ),
                )
            } else if f.len() > shared.upload_limit {
                (
                    400,
                    storage_error(
                        "EntityTooLarge",
                        "Your proposed upload is larger than the maximum object size specified in your Policy Document.",
                    ),
                )
            } else {
                shared.staged.insert(k.clone(), Some(Bytes::from(f)));
                (201, String::new())
            }
        }
        (Some(_), Some(_)) => (403, storage_error("AccessDenied", "Invalid key.")),
        _ => (
            400,
            storage_error("InvalidArgument", "The form must carry a key and a file."),
        ),
    };
    shared.uploads.push(UploadLog {
        key,
        bytes: body.len(),
        http_status: status,
        carried_credentials: credentials,
    });
    (status, text)
}

fn storage_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
}

/// The (name, value) fields of a `multipart/form-data` body.
fn multipart_fields(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let mut out = Vec::new();
    for part in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]);
        let Some(name) = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split("\r\n")
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_owned()
            })
        else {
            continue;
        };
        let value = &part[head_end + 4..];
        let value = value.strip_suffix(b"\r\n").unwrap_or(value);
        out.push((name, value.to_vec()));
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut hay: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, delimiter) {
        out.push(&hay[..i]);
        hay = &hay[i + delimiter.len()..];
    }
    out.push(hay);
    out
}
