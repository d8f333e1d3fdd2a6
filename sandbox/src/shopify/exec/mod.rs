//! The GraphQL executor: parses the document, picks the operation, validates it against
//! [`schema`](super::schema) and the variables against the input types, computes the
//! requested cost, charges the bucket, runs each root field through
//! [`resolve`](super::resolve) and projects the resolved superset objects onto the
//! selection sets (aliases, fragments, inline fragments, `__typename`), computing the
//! actual cost on the way. Error bodies follow the live captures.
//!
//! This file holds the request types and one request's run; the steps live beside it:
//! `select` (root fields, arguments), `validate`, `cost`, `project`, `bulk_export`.

use std::cell::RefCell;
use std::collections::HashMap;

use graphql_parser::Pos;
use graphql_parser::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, SelectionSet, TypeCondition,
    VariableDefinition,
};
use serde_json::{Map, Value, json};

use super::Shared;
use super::resolve;
use super::schema::{self, Kind};

mod bulk_export;
mod cost;
mod project;
mod select;
mod validate;

pub use bulk_export::bulk_export;
use cost::root_field_cost;
pub use project::cursor_id;
use project::project_root;
use select::{build_call, collect_root_fields};
use validate::{coerce_variables, validate_selection};

type Sel<'a> = SelectionSet<'a, String>;

/// Shopify refuses any single query whose requested cost exceeds this.
const MAX_QUERY_COST: f64 = 1000.0;
/// The largest page a connection serves.
pub const MAX_PAGE: i64 = 250;
/// A resolver that already cut the page answers `{PAGE_KEY: [nodes], hasNextPage,
/// hasPreviousPage}` instead of the whole list.
pub const PAGE_KEY: &str = "__page";

/// One GraphQL error, serialised the way Shopify does.
#[derive(Debug, Clone)]
pub struct GqlError {
    pub message: String,
    pub locations: Vec<Pos>,
    pub path: Option<Vec<Value>>,
    pub extensions: Value,
}

impl GqlError {
    pub fn new(message: impl Into<String>, code: &str) -> GqlError {
        GqlError {
            message: message.into(),
            locations: Vec::new(),
            path: None,
            extensions: json!({ "code": code }),
        }
    }
    pub fn at(mut self, pos: Pos) -> GqlError {
        self.locations.push(pos);
        self
    }
    pub fn path(mut self, path: Vec<Value>) -> GqlError {
        self.path = Some(path);
        self
    }
    pub fn code(&self) -> Option<&str> {
        self.extensions.get("code").and_then(Value::as_str)
    }
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("message".into(), json!(self.message));
        if !self.locations.is_empty() {
            let locs: Vec<Value> = self
                .locations
                .iter()
                .map(|p| json!({"line": p.line, "column": p.column}))
                .collect();
            m.insert("locations".into(), Value::Array(locs));
        }
        m.insert("extensions".into(), self.extensions.clone());
        if let Some(p) = &self.path {
            m.insert("path".into(), Value::Array(p.clone()));
        }
        Value::Object(m)
    }
}

/// A root field that failed as a whole: the error, and whether it nulls all of `data`
/// (non-null root fields) or only its own key (nullable mutation payloads).
#[derive(Debug)]
pub struct FieldFailure {
    pub error: Box<GqlError>,
    pub nulls_data: bool,
    /// Cost actually charged when the field fails (Shopify keeps the mutation base).
    pub actual_cost: Option<f64>,
    /// Overrides the requested cost (a missing `@idempotent` is rejected before costing).
    pub requested_cost: Option<f64>,
}

/// What one root field gets to see.
pub struct FieldCall<'q> {
    pub name: &'q str,
    pub response_key: &'q str,
    pub pos: Pos,
    pub args: Map<String, Value>,
    /// `None`: no `@idempotent` directive; `Some(key)`: the evaluated key.
    pub idempotency_key: Option<String>,
    /// Positions of the variable definitions the arguments reference, for error locations.
    pub arg_var_positions: HashMap<String, Pos>,
}

/// The parsed HTTP body.
#[derive(Debug, Clone, Default)]
pub struct GqlRequest {
    pub query: String,
    pub variables: Map<String, Value>,
    pub operation_name: Option<String>,
}

/// Facts about a request for the request log.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub operation_name: Option<String>,
    pub root_fields: Vec<String>,
    pub idempotency_key: Option<String>,
    pub error_codes: Vec<String>,
    /// `requestedQueryCost` as answered; `None` when the request never got to costing.
    pub requested_cost: Option<f64>,
    /// What the bucket kept after the refund; `None` when nothing was charged
    /// (`THROTTLED`, `MAX_COST_EXCEEDED`, or no costing at all).
    pub actual_cost: Option<f64>,
}

struct Ctx<'a, 'q> {
    fragments: HashMap<&'a str, &'a FragmentDefinition<'q, String>>,
    vars: Map<String, Value>,
    var_defs: &'a [VariableDefinition<'q, String>],
    op_label: String,
    /// Set while a bulk export projects one root node: nested connections become lines
    /// of their own instead of fields.
    bulk: Option<RefCell<BulkSink>>,
}

/// The lines a bulk export's root node produces besides its own.
#[derive(Default)]
struct BulkSink {
    parent: String,
    children: Vec<Value>,
}

/// Runs one request against the store; returns the response body.
pub fn execute(shared: &mut Shared, req: &GqlRequest) -> (Value, RunInfo) {
    let mut info = RunInfo {
        operation_name: req.operation_name.clone(),
        ..RunInfo::default()
    };
    let doc = match graphql_parser::parse_query::<String>(&req.query) {
        Ok(d) => d,
        Err(e) => {
            let err = parse_error(&e.to_string());
            info.error_codes.push("PARSE_ERROR".into());
            return (json!({ "errors": [err.to_json()] }), info);
        }
    };
    let (body, run) = run_document(shared, &doc, req, info, true);
    (body, run)
}

/// Runs `mutation` once per variables object of `lines` the way a bulk mutation runs its
/// inner calls: validated and executed like a request, but charging nothing to the
/// bucket. Returns one result line per input line, `{"data":…,"__lineNumber":n}` (with
/// `errors` when the line failed), in input order; `Err` when the text does not parse.
pub fn run_inner(
    shared: &mut Shared,
    mutation: &str,
    lines: &[&[u8]],
) -> Result<Vec<Value>, String> {
    let doc = graphql_parser::parse_query::<String>(mutation).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(lines.len());
    for (n, raw) in lines.iter().enumerate() {
        let mut line = match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(variables)) => {
                let req = GqlRequest {
                    query: mutation.to_owned(),
                    variables,
                    operation_name: None,
                };
                let (body, _) = run_document(shared, &doc, &req, RunInfo::default(), false);
                body
            }
            _ => {
                json!({ "errors": [{ "message": "Invalid JSONL: each line must be a JSON object of variables" }] })
            }
        };
        if let Value::Object(m) = &mut line {
            m.remove("extensions");
            m.insert("__lineNumber".into(), json!(n));
        }
        out.push(line);
    }
    Ok(out)
}

/// The root fields of the mutation `req` would run, without running it; empty for a
/// query or a request that does not parse. Lost answers pick requests by them.
pub fn mutation_fields(req: &GqlRequest) -> Vec<String> {
    root_fields_of(req, true)
}

/// The root fields of the operation `req` would run (a mutation's, or a query's such as
/// `bulkOperation`), without running it; empty for a request that does not parse (the
/// executor answers those with errors). Holds before applying pick requests by them.
pub fn root_fields(req: &GqlRequest) -> Vec<String> {
    root_fields_of(req, false)
}

fn root_fields_of(req: &GqlRequest, mutations_only: bool) -> Vec<String> {
    let Ok(doc) = graphql_parser::parse_query::<String>(&req.query) else {
        return Vec::new();
    };
    let mut ops = doc.definitions.iter().filter_map(|d| match d {
        Definition::Operation(o) => Some(o),
        Definition::Fragment(_) => None,
    });
    let op = match &req.operation_name {
        Some(name) => ops.find(|o| operation_parts(o).1.map(String::as_str) == Some(name)),
        None => ops.next(),
    };
    let Some(op) = op else {
        return Vec::new();
    };
    if mutations_only && !matches!(op, OperationDefinition::Mutation(_)) {
        return Vec::new();
    }
    let (_, _, var_defs, selection) = operation_parts(op);
    let ctx = Ctx {
        fragments: doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Fragment(f) => Some((f.name.as_str(), f)),
                Definition::Operation(_) => None,
            })
            .collect(),
        vars: req.variables.clone(),
        var_defs,
        op_label: String::new(),
        bulk: None,
    };
    collect_root_fields(&ctx, selection)
        .iter()
        .map(|f| f.name.to_owned())
        .collect()
}

fn parse_error(text: &str) -> GqlError {
    // graphql-parser says "query parse error: Parse error at 3:7\n…"; keep the first
    // explanatory line and expose the position as `locations` like graphql-ruby does.
    let mut err = GqlError {
        message: String::new(),
        locations: Vec::new(),
        path: None,
        extensions: json!({}),
    };
    let detail = text.lines().nth(1).unwrap_or("").trim();
    if let Some(at) = text.split(" at ").nth(1) {
        let first = at.lines().next().unwrap_or("");
        let mut it = first.split(':');
        if let (Some(l), Some(c)) = (it.next(), it.next())
            && let (Ok(line), Ok(column)) = (l.trim().parse(), c.trim().parse())
        {
            err.locations.push(Pos { line, column });
        }
    }
    err.message = if detail.is_empty() {
        "Parse error".to_owned()
    } else {
        format!("Parse error: {detail}")
    };
    err
}

fn operation_parts<'a, 'q>(
    op: &'a OperationDefinition<'q, String>,
) -> (
    &'static str,
    Option<&'a String>,
    &'a [VariableDefinition<'q, String>],
    &'a Sel<'q>,
) {
    match op {
        OperationDefinition::SelectionSet(s) => ("query", None, &[], s),
        OperationDefinition::Query(q) => (
            "query",
            q.name.as_ref(),
            &q.variable_definitions,
            &q.selection_set,
        ),
        OperationDefinition::Mutation(m) => (
            "mutation",
            m.name.as_ref(),
            &m.variable_definitions,
            &m.selection_set,
        ),
        OperationDefinition::Subscription(s) => (
            "subscription",
            s.name.as_ref(),
            &s.variable_definitions,
            &s.selection_set,
        ),
    }
}

fn errors_only(errors: &[GqlError], info: &mut RunInfo) -> Value {
    for e in errors {
        if let Some(c) = e.code() {
            info.error_codes.push(c.to_owned());
        }
    }
    json!({ "errors": errors.iter().map(GqlError::to_json).collect::<Vec<_>>() })
}

/// Runs `doc`; `charge` false runs it outside the bucket (a bulk mutation's inner calls).
fn run_document(
    shared: &mut Shared,
    doc: &Document<'_, String>,
    req: &GqlRequest,
    mut info: RunInfo,
    charge: bool,
) -> (Value, RunInfo) {
    let ops: Vec<&OperationDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    let chosen = match &req.operation_name {
        Some(name) => ops
            .iter()
            .find(|o| operation_parts(o).1.map(String::as_str) == Some(name.as_str())),
        None if ops.len() == 1 => ops.first(),
        None => {
            let e = GqlError::new("An operation name is required", "OPERATION_NAME_REQUIRED");
            return (errors_only(&[e], &mut info), info);
        }
    };
    let Some(op) = chosen else {
        let e = GqlError::new(
            format!(
                "No operation named \"{}\"",
                req.operation_name.clone().unwrap_or_default()
            ),
            "OPERATION_NOT_FOUND",
        );
        return (errors_only(&[e], &mut info), info);
    };
    let (kind, name, var_defs, selection) = operation_parts(op);
    if info.operation_name.is_none() {
        info.operation_name = name.cloned();
    }
    let op_label = match name {
        Some(n) => format!("{kind} {n}"),
        None => kind.to_owned(),
    };
    let root_type = match kind {
        "query" => "QueryRoot",
        "mutation" => "Mutation",
        _ => {
            let e = GqlError::new("Subscriptions are not supported", "BAD_REQUEST");
            return (errors_only(&[e], &mut info), info);
        }
    };
    let mut fragments = HashMap::new();
    for d in &doc.definitions {
        if let Definition::Fragment(f) = d {
            fragments.insert(f.name.as_str(), f);
        }
    }
    let ctx = Ctx {
        fragments,
        vars: req.variables.clone(),
        var_defs,
        op_label: op_label.clone(),
        bulk: None,
    };

    // Static validation, then variable coercion: failures here answer with errors only,
    // no data and no cost (as the live INVALID_VARIABLE capture shows).
    let mut errors = Vec::new();
    validate_selection(
        &ctx,
        selection,
        root_type,
        &mut vec![json!(op_label)],
        &mut errors,
    );
    for f in ctx.fragments.values() {
        let TypeCondition::On(t) = &f.type_condition;
        if schema::fields(t).is_none() {
            errors.push(
                GqlError::new(
                    format!("No such type {t}, so it can't be a fragment condition"),
                    "undefinedType",
                )
                .at(f.position),
            );
        } else {
            let label = json!(format!("fragment {}", f.name));
            validate_selection(&ctx, &f.selection_set, t, &mut vec![label], &mut errors);
        }
    }
    if errors.is_empty() {
        coerce_variables(&ctx, &mut errors);
    }
    if !errors.is_empty() {
        return (errors_only(&errors, &mut info), info);
    }

    let root_fields = collect_root_fields(&ctx, selection);
    info.root_fields = root_fields.iter().map(|f| f.name.to_string()).collect();

    let mut requested = 0.0;
    for f in &root_fields {
        requested += root_field_cost(&ctx, f, kind == "mutation");
    }
    let requested = requested.ceil();

    if requested > MAX_QUERY_COST {
        let e = GqlError {
            message: format!(
                "Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n\
                 See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n\
                 cost of a query is calculated.\n\n\
                 To query larger amounts of data with fewer limits, bulk operations should be used instead.\n\
                 See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
            ),
            locations: Vec::new(),
            path: None,
            extensions: json!({
                "code": "MAX_COST_EXCEEDED",
                "cost": requested as i64,
                "maxCost": MAX_QUERY_COST as i64,
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            }),
        };
        info.error_codes.push("MAX_COST_EXCEEDED".into());
        info.requested_cost = Some(requested);
        let cost = cost_json(shared, requested, None);
        return (
            json!({ "errors": [e.to_json()], "extensions": { "cost": cost } }),
            info,
        );
    }

    if charge && !shared.bucket.try_take(requested) {
        info.error_codes.push("THROTTLED".into());
        info.requested_cost = Some(requested);
        let e = GqlError {
            message: "Throttled".into(),
            locations: Vec::new(),
            path: None,
            extensions: json!({
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            }),
        };
        let cost = cost_json(shared, requested, None);
        return (
            json!({ "errors": [e.to_json()], "extensions": { "cost": cost } }),
            info,
        );
    }

    let mut data = Map::new();
    let mut data_nulled = false;
    let mut errors = Vec::new();
    let mut actual = 0.0;
    let mut requested_reported = 0.0;
    for rf in &root_fields {
        let field_requested = root_field_cost(&ctx, rf, kind == "mutation");
        let call = match build_call(&ctx, rf) {
            Ok(c) => c,
            Err(e) => {
                errors.push(e);
                data_nulled = true;
                requested_reported += field_requested;
                continue;
            }
        };
        if info.idempotency_key.is_none() {
            info.idempotency_key = call.idempotency_key.clone();
        }
        let resolved = if kind == "mutation" {
            resolve::mutation(shared, &call)
        } else if super::bulk::is_bulk_root(rf.name) {
            super::bulk::query(shared, &call)
        } else {
            resolve::query(&shared.data, &call)
        };
        let field_kind = schema::field(root_type, rf.name).map_or(Kind::Scalar, |d| d.kind);
        let outcome = resolved.and_then(|value| {
            project_root(
                &ctx,
                rf.field,
                field_kind,
                &value,
                &[json!(rf.response_key)],
            )
        });
        match outcome {
            Ok((value, cost)) => {
                requested_reported += field_requested;
                // Mutations keep their base of 10 plus what the payload really held;
                // the dynamic bulk-update cost is charged as requested.
                actual += match kind {
                    // Live: requested and actual alike (11 for a staged upload).
                    "mutation"
                        if matches!(
                            rf.name,
                            "productVariantsBulkUpdate"
                                | "productVariantsBulkCreate"
                                | "stagedUploadsCreate"
                        ) =>
                    {
                        field_requested
                    }
                    "mutation" => 10.0 + (cost - 1.0).max(0.0),
                    _ => cost,
                };
                data.insert(rf.response_key.to_owned(), value);
            }
            Err(fail) => {
                requested_reported += fail.requested_cost.unwrap_or(field_requested);
                actual += fail
                    .actual_cost
                    .unwrap_or(if kind == "mutation" { 10.0 } else { 0.0 });
                if fail.nulls_data {
                    data_nulled = true;
                }
                data.insert(rf.response_key.to_owned(), Value::Null);
                errors.push(*fail.error);
            }
        }
    }
    let requested_reported = requested_reported.ceil();
    let actual = actual.ceil().min(requested_reported);
    // The bucket was charged the full estimate; hand back what went unused.
    if charge {
        shared.bucket.refund(requested - actual);
    }
    info.requested_cost = Some(requested_reported);
    info.actual_cost = Some(actual);

    let mut body = Map::new();
    if !errors.is_empty() {
        for e in &errors {
            if let Some(c) = e.code() {
                info.error_codes.push(c.to_owned());
            }
        }
        body.insert(
            "errors".into(),
            Value::Array(errors.iter().map(GqlError::to_json).collect()),
        );
    }
    body.insert(
        "data".into(),
        if data_nulled {
            Value::Null
        } else {
            Value::Object(data)
        },
    );
    body.insert(
        "extensions".into(),
        json!({ "cost": cost_json(shared, requested_reported, Some(actual)) }),
    );
    (Value::Object(body), info)
}

fn cost_json(shared: &mut Shared, requested: f64, actual: Option<f64>) -> Value {
    let available = shared.bucket.available();
    json!({
        "requestedQueryCost": requested as i64,
        "actualQueryCost": actual.map(|a| a as i64),
        "throttleStatus": {
            "maximumAvailable": number(shared.bucket.maximum),
            "currentlyAvailable": available.floor() as i64,
            "restoreRate": number(shared.bucket.restore_rate),
        }
    })
}

/// Whole numbers as JSON integers (as the 2026-04 captures show), fractions as floats.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn root_type_of(root: &str, field: &str) -> &'static str {
    match schema::field(root, field).map(|d| d.kind) {
        Some(Kind::Object(t)) | Some(Kind::List(t)) => t,
        Some(Kind::Connection(c, _)) => c,
        _ => "QueryRoot",
    }
}
