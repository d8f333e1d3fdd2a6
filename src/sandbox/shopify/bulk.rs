//! Bulk exports in the fake: `bulkOperationRunQuery` runs the query at once over the
//! store as it stands (Shopify's file is a snapshot taken while the job runs), keeps the
//! JSONL in memory, and reports the job `CREATED`, then `RUNNING` on the first read and
//! `COMPLETED` (with `url`) on the next, as a poller sees it live. The file is served by
//! plain GET on another path of the same server, as Google Cloud Storage serves it: no
//! access token expected, and every fetch records whether one was sent anyway.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::exec::{self, FieldCall, FieldFailure};
use super::state::{gid, parse_gid};
use super::{Shared, resolve};

/// Bulk queries running at once per app and shop (2026-01+, SHOPIFY.md §6).
const MAX_RUNNING: usize = 5;
/// Where the files are served, under the server's own origin.
pub const FILE_PATH: &str = "/bulk-results";

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
    let url = (done && op.root_object_count > 0).then(|| {
        let base = shared
            .public_base
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1".into());
        format!("{base}{FILE_PATH}/{}.jsonl", op.id)
    });
    json!({
        "__typename": "BulkOperation",
        "id": gid("BulkOperation", op.id),
        "status": op.status,
        "errorCode": null,
        "createdAt": op.created_at,
        "completedAt": op.completed_at,
        "objectCount": op.object_count.to_string(),
        "rootObjectCount": op.root_object_count.to_string(),
        "fileSize": if done { Some(op.file.len().to_string()) } else { None },
        "url": url,
        "partialDataUrl": null,
        "query": op.query,
        "type": "QUERY",
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
        // Mutations are not bulk-run by this fake: there is never a current one.
        _ if call.args.get("type").and_then(Value::as_str) == Some("MUTATION") => None,
        _ => shared.bulk_ops.len().checked_sub(1),
    };
    let Some(i) = index else {
        return Ok(Value::Null);
    };
    let op = &mut shared.bulk_ops[i];
    op.reads += 1;
    match (op.status, op.reads) {
        ("CREATED", _) => op.status = "RUNNING",
        ("RUNNING", n) if n >= 2 => {
            op.status = "COMPLETED";
            op.completed_at = Some(now_stamp());
        }
        _ => {}
    }
    let op = shared.bulk_ops[i].clone();
    Ok(op_json(shared, &op))
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
    let running = shared
        .bulk_ops
        .iter()
        .filter(|op| matches!(op.status, "CREATED" | "RUNNING"))
        .collect::<Vec<_>>();
    if running.len() >= MAX_RUNNING {
        let id = gid("BulkOperation", running[0].id);
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
    let op = BulkOp {
        id,
        status: "CREATED",
        query,
        created_at: now_stamp(),
        completed_at: None,
        object_count: file.object_count,
        root_object_count: file.root_object_count,
        file: Bytes::from(file.jsonl),
        reads: 0,
    };
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
        .find(|op| op.id == id && op.status == "COMPLETED")
        .map(|op| op.file.clone())
}
