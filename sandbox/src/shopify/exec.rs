//! The GraphQL executor: parses the document, picks the operation, validates it against
//! [`schema`](super::schema) and the variables against the input types, computes the
//! requested cost, charges the bucket, runs each root field through
//! [`resolve`](super::resolve) and projects the resolved superset objects onto the
//! selection sets (aliases, fragments, inline fragments, `__typename`), computing the
//! actual cost on the way. Error bodies follow the live captures.

use std::cell::RefCell;
use std::collections::HashMap;

use graphql_parser::Pos;
use graphql_parser::query::{
    Definition, Directive, Document, Field, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet, Type, TypeCondition, Value as GValue, VariableDefinition,
};
use serde_json::{Map, Value, json};

use super::Shared;
use super::resolve;
use super::schema::{self, Kind};

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

// ---- selection helpers ------------------------------------------------------------------

fn directive_skips(ctx: &Ctx<'_, '_>, directives: &[Directive<'_, String>]) -> bool {
    for d in directives {
        let cond = d
            .arguments
            .iter()
            .find(|(n, _)| n == "if")
            .map(|(_, v)| eval(v, &ctx.vars));
        let cond = cond.and_then(|v| v.as_bool()).unwrap_or(false);
        match d.name.as_str() {
            "skip" if cond => return true,
            "include" if !cond => return true,
            _ => {}
        }
    }
    false
}

/// A root field as found in the operation's top selection set.
struct RootField<'a, 'q> {
    name: &'a str,
    response_key: &'a str,
    field: &'a Field<'q, String>,
    arguments: &'a [(String, GValue<'q, String>)],
    directives: &'a [Directive<'q, String>],
    selection: &'a Sel<'q>,
}

fn collect_root_fields<'a, 'q>(ctx: &Ctx<'a, 'q>, sel: &'a Sel<'q>) -> Vec<RootField<'a, 'q>> {
    let mut out = Vec::new();
    for item in &sel.items {
        match item {
            Selection::Field(f) => {
                if f.name == "__typename" || directive_skips(ctx, &f.directives) {
                    continue;
                }
                out.push(RootField {
                    name: &f.name,
                    response_key: f.alias.as_deref().unwrap_or(&f.name),
                    field: f,
                    arguments: &f.arguments,
                    directives: &f.directives,
                    selection: &f.selection_set,
                });
            }
            Selection::FragmentSpread(s) => {
                if let Some(fr) = ctx.fragments.get(s.fragment_name.as_str()) {
                    out.extend(collect_root_fields(ctx, &fr.selection_set));
                }
            }
            Selection::InlineFragment(i) => out.extend(collect_root_fields(ctx, &i.selection_set)),
        }
    }
    out
}

fn build_call<'a>(ctx: &Ctx<'_, '_>, rf: &RootField<'a, '_>) -> Result<FieldCall<'a>, GqlError> {
    let mut args = Map::new();
    let mut arg_var_positions = HashMap::new();
    for (name, v) in rf.arguments {
        if let GValue::Variable(var) = v
            && let Some(def) = ctx.var_defs.iter().find(|d| &d.name == var)
        {
            arg_var_positions.insert(name.clone(), def.position);
        }
        args.insert(name.clone(), eval(v, &ctx.vars));
    }
    let idempotency_key = rf
        .directives
        .iter()
        .find(|d| d.name == "idempotent")
        .map(|d| {
            d.arguments
                .iter()
                .find(|(n, _)| n == "key")
                .map(|(_, v)| eval(v, &ctx.vars))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        });
    Ok(FieldCall {
        name: rf.name,
        response_key: rf.response_key,
        pos: rf.field.position,
        args,
        idempotency_key,
        arg_var_positions,
    })
}

/// A GraphQL literal with variables substituted, as JSON.
fn eval(v: &GValue<'_, String>, vars: &Map<String, Value>) -> Value {
    match v {
        GValue::Variable(n) => vars.get(n).cloned().unwrap_or(Value::Null),
        GValue::Int(i) => i.as_i64().map_or(Value::Null, |n| json!(n)),
        GValue::Float(f) => json!(f),
        GValue::String(s) => json!(s),
        GValue::Boolean(b) => json!(b),
        GValue::Null => Value::Null,
        GValue::Enum(e) => json!(e),
        GValue::List(l) => Value::Array(l.iter().map(|x| eval(x, vars)).collect()),
        GValue::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), eval(x, vars))).collect())
        }
    }
}

fn variables_in(v: &GValue<'_, String>, out: &mut Vec<String>) {
    match v {
        GValue::Variable(n) => out.push(n.clone()),
        GValue::List(l) => l.iter().for_each(|x| variables_in(x, out)),
        GValue::Object(o) => o.values().for_each(|x| variables_in(x, out)),
        _ => {}
    }
}

// ---- validation ------------------------------------------------------------------------

fn check_args(
    ctx: &Ctx<'_, '_>,
    f: &Field<'_, String>,
    allowed: &[&str],
    path: &[Value],
    errors: &mut Vec<GqlError>,
) {
    for (arg, value) in &f.arguments {
        if !allowed.contains(&arg.as_str()) {
            errors.push(GqlError {
                message: format!("Field '{}' doesn't accept argument '{arg}'", f.name),
                locations: vec![f.position],
                path: Some(path.to_vec()),
                extensions: json!({
                    "code": "argumentNotAccepted",
                    "name": f.name,
                    "typeName": "Field",
                    "argumentName": arg,
                }),
            });
        }
        let mut used = Vec::new();
        variables_in(value, &mut used);
        for d in &f.directives {
            for (_, v) in &d.arguments {
                variables_in(v, &mut used);
            }
        }
        for var in used {
            if !ctx.var_defs.iter().any(|d| d.name == var) {
                errors.push(
                    GqlError::new(
                        format!(
                            "Variable ${var} is used by {} but not declared",
                            ctx.op_label
                        ),
                        "variableNotDefined",
                    )
                    .at(f.position)
                    .path(path.to_vec()),
                );
            }
        }
    }
}

fn validate_selection(
    ctx: &Ctx<'_, '_>,
    sel: &Sel<'_>,
    ty: &str,
    path: &mut Vec<Value>,
    errors: &mut Vec<GqlError>,
) {
    for item in &sel.items {
        match item {
            Selection::Field(f) => {
                let key = f.alias.as_deref().unwrap_or(&f.name);
                path.push(json!(key));
                if f.name == "__typename" {
                    path.pop();
                    continue;
                }
                match schema::field(ty, &f.name) {
                    None => errors.push(GqlError {
                        message: format!("Field '{}' doesn't exist on type '{ty}'", f.name),
                        locations: vec![f.position],
                        path: Some(path.clone()),
                        extensions: json!({
                            "code": "undefinedField",
                            "typeName": ty,
                            "fieldName": f.name,
                        }),
                    }),
                    Some(def) => {
                        check_args(ctx, f, def.args, path, errors);
                        validate_subselection(ctx, f, def.kind, path, errors);
                    }
                }
                path.pop();
            }
            // Fragment bodies are validated once, against their own type condition.
            Selection::FragmentSpread(s) => {
                if !ctx.fragments.contains_key(s.fragment_name.as_str()) {
                    errors.push(
                        GqlError::new(
                            format!("Fragment {} was used, but not defined", s.fragment_name),
                            "useAndDefineFragment",
                        )
                        .at(s.position)
                        .path(path.clone()),
                    );
                }
            }
            Selection::InlineFragment(i) => {
                let cond = match &i.type_condition {
                    Some(TypeCondition::On(t)) => t.as_str(),
                    None => ty,
                };
                if schema::fields(cond).is_none() {
                    errors.push(
                        GqlError::new(
                            format!("No such type {cond}, so it can't be a fragment condition"),
                            "undefinedType",
                        )
                        .at(i.position)
                        .path(path.clone()),
                    );
                } else {
                    validate_selection(ctx, &i.selection_set, cond, path, errors);
                }
            }
        }
    }
}

fn validate_subselection(
    ctx: &Ctx<'_, '_>,
    f: &Field<'_, String>,
    kind: Kind,
    path: &mut Vec<Value>,
    errors: &mut Vec<GqlError>,
) {
    let has_sub = !f.selection_set.items.is_empty();
    match kind {
        Kind::Scalar if has_sub => errors.push(
            GqlError::new(
                format!(
                    "Selections can't be made on scalars (field '{}' returns a scalar but has selections)",
                    f.name
                ),
                "selectionMismatch",
            )
            .at(f.position)
            .path(path.clone()),
        ),
        Kind::Scalar => {}
        Kind::Object(t) | Kind::List(t) | Kind::Connection(t, _) if !has_sub => errors.push(
            GqlError::new(
                format!(
                    "Field must have selections (field '{}' returns {t} but has no selections. Did you mean '{} {{ ... }}'?)",
                    f.name, f.name
                ),
                "selectionMismatch",
            )
            .at(f.position)
            .path(path.clone()),
        ),
        Kind::Object(t) | Kind::List(t) => validate_selection(ctx, &f.selection_set, t, path, errors),
        Kind::Connection(conn, node) => {
            validate_connection(ctx, &f.selection_set, conn, node, path, errors)
        }
    }
}

fn validate_connection(
    ctx: &Ctx<'_, '_>,
    sel: &Sel<'_>,
    conn: &str,
    node: &str,
    path: &mut Vec<Value>,
    errors: &mut Vec<GqlError>,
) {
    for item in &sel.items {
        let Selection::Field(f) = item else {
            continue;
        };
        path.push(json!(f.alias.as_deref().unwrap_or(&f.name)));
        match f.name.as_str() {
            "__typename" => {}
            "nodes" => validate_selection(ctx, &f.selection_set, node, path, errors),
            "pageInfo" => validate_selection(ctx, &f.selection_set, "PageInfo", path, errors),
            "edges" => {
                for e in &f.selection_set.items {
                    if let Selection::Field(ef) = e {
                        match ef.name.as_str() {
                            "cursor" | "__typename" => {}
                            "node" => {
                                path.push(json!("node"));
                                validate_selection(ctx, &ef.selection_set, node, path, errors);
                                path.pop();
                            }
                            other => errors.push(
                                GqlError::new(
                                    format!("Field '{other}' doesn't exist on type '{node}Edge'"),
                                    "undefinedField",
                                )
                                .at(ef.position)
                                .path(path.clone()),
                            ),
                        }
                    }
                }
            }
            other => errors.push(GqlError {
                message: format!("Field '{other}' doesn't exist on type '{conn}'"),
                locations: vec![f.position],
                path: Some(path.clone()),
                extensions: json!({"code": "undefinedField", "typeName": conn, "fieldName": other}),
            }),
        }
        path.pop();
    }
}

// ---- variables -------------------------------------------------------------------------

/// Input object types the fake checks strictly: (field, type, required).
fn input_fields(ty: &str) -> Option<&'static [(&'static str, &'static str)]> {
    // A trailing `!` marks a required field.
    Some(match ty {
        "InventorySetQuantitiesInput" => &[
            ("name", "String!"),
            ("reason", "String!"),
            ("referenceDocumentUri", "String"),
            ("quantities", "[InventoryQuantityInput!]!"),
        ],
        "ProductUpdateInput" => &[
            ("descriptionHtml", "String"),
            ("handle", "String"),
            ("seo", "Any"),
            ("productType", "String"),
            ("tags", "[String!]"),
            ("templateSuffix", "String"),
            ("giftCardTemplateSuffix", "String"),
            ("title", "String"),
            ("vendor", "String"),
            ("category", "ID"),
            ("redirectNewHandle", "Boolean"),
            ("id", "ID"),
            ("collectionsToJoin", "[ID!]"),
            ("collectionsToLeave", "[ID!]"),
            ("deleteConflictingConstrainedMetafields", "Boolean"),
            ("metafields", "Any"),
            ("status", "ProductStatus"),
            ("requiresSellingPlan", "Boolean"),
        ],
        "InventoryQuantityInput" => &[
            ("inventoryItemId", "ID!"),
            ("locationId", "ID!"),
            ("quantity", "Int!"),
            ("changeFromQuantity", "Int"),
        ],
        "ProductVariantsBulkInput" => &[
            ("id", "ID"),
            ("price", "Money"),
            ("compareAtPrice", "Money"),
            ("barcode", "String"),
            ("inventoryItem", "InventoryItemInput"),
            ("taxable", "Boolean"),
            ("taxCode", "String"),
            ("inventoryPolicy", "Any"),
            ("mediaId", "ID"),
            ("mediaSrc", "Any"),
            ("metafields", "Any"),
            ("optionValues", "Any"),
            ("inventoryQuantities", "Any"),
            ("requiresComponents", "Boolean"),
            ("showUnitPrice", "Boolean"),
            ("unitPriceMeasurement", "Any"),
        ],
        "InventoryItemInput" => &[
            ("sku", "String"),
            ("cost", "Decimal"),
            ("tracked", "Boolean"),
            ("requiresShipping", "Boolean"),
            ("countryCodeOfOrigin", "Any"),
            ("provinceCodeOfOrigin", "String"),
            ("harmonizedSystemCode", "String"),
            ("countryHarmonizedSystemCodes", "Any"),
            ("measurement", "Any"),
        ],
        _ => return None,
    })
}

fn type_string(t: &Type<'_, String>) -> String {
    match t {
        Type::NamedType(n) => n.clone(),
        Type::ListType(inner) => format!("[{}]", type_string(inner)),
        Type::NonNullType(inner) => format!("{}!", type_string(inner)),
    }
}

/// Checks `value` against the type written as `ty` (`[X!]!` syntax); pushes
/// (path, explanation) problems the way graphql-ruby reports them.
fn coerce(
    value: &Value,
    ty: &str,
    path: &mut Vec<Value>,
    problems: &mut Vec<(Vec<Value>, String)>,
) {
    if let Some(inner) = ty.strip_suffix('!') {
        if value.is_null() {
            problems.push((path.clone(), "Expected value to not be null".into()));
            return;
        }
        return coerce(value, inner, path, problems);
    }
    if value.is_null() {
        return;
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(json!(i));
                    coerce(item, inner, path, problems);
                    path.pop();
                }
            }
            // GraphQL input coercion wraps a single value in a list.
            other => coerce(other, inner, path, problems),
        }
        return;
    }
    let bad = |problems: &mut Vec<(Vec<Value>, String)>, path: &Vec<Value>| {
        problems.push((
            path.clone(),
            format!("Could not coerce value {value} to {ty}"),
        ));
    };
    match ty {
        "Int" => match value.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => {}
            _ => bad(problems, path),
        },
        "String" | "ID" => {
            if !(value.is_string() || (ty == "ID" && value.is_i64())) {
                bad(problems, path);
            }
        }
        "Boolean" => {
            if !value.is_boolean() {
                bad(problems, path);
            }
        }
        "Money" | "Decimal" => {
            let ok = match value {
                Value::String(s) => s.trim().parse::<rust_decimal::Decimal>().is_ok(),
                Value::Number(_) => true,
                _ => false,
            };
            if !ok {
                bad(problems, path);
            }
        }
        "Any" => {}
        "ProductStatus" => {
            const STATUSES: [&str; 4] = ["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"];
            if !value.as_str().is_some_and(|v| STATUSES.contains(&v)) {
                problems.push((
                    path.clone(),
                    format!("Expected {value} to be one of: {}", STATUSES.join(", ")),
                ));
            }
        }
        object => {
            let Some(fields) = input_fields(object) else {
                return;
            };
            let Value::Object(map) = value else {
                problems.push((
                    path.clone(),
                    format!("Expected value to be an object for {object}"),
                ));
                return;
            };
            for key in map.keys() {
                if !fields.iter().any(|(n, _)| n == key) {
                    let mut p = path.clone();
                    p.push(json!(key));
                    problems.push((p, format!("Field is not defined on {object}")));
                }
            }
            for (name, fty) in fields {
                path.push(json!(name));
                match map.get(*name) {
                    Some(v) => coerce(v, fty, path, problems),
                    None if fty.ends_with('!') => {
                        problems.push((path.clone(), "Expected value to not be null".into()))
                    }
                    None => {}
                }
                path.pop();
            }
        }
    }
}

fn coerce_variables(ctx: &Ctx<'_, '_>, errors: &mut Vec<GqlError>) {
    for def in ctx.var_defs {
        let ty = type_string(&def.var_type);
        let value = ctx
            .vars
            .get(&def.name)
            .cloned()
            .or_else(|| def.default_value.as_ref().map(|d| eval(d, &ctx.vars)))
            .unwrap_or(Value::Null);
        let mut problems = Vec::new();
        coerce(&value, &ty, &mut Vec::new(), &mut problems);
        if problems.is_empty() {
            continue;
        }
        let (first_path, first_expl) = &problems[0];
        let message = if first_path.is_empty() {
            format!(
                "Variable ${} of type {ty} was provided invalid value",
                def.name
            )
        } else {
            let dotted: Vec<String> = first_path
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect();
            format!(
                "Variable ${} of type {ty} was provided invalid value for {} ({first_expl})",
                def.name,
                dotted.join(".")
            )
        };
        let problems: Vec<Value> = problems
            .iter()
            .map(|(p, e)| json!({"path": p, "explanation": e}))
            .collect();
        errors.push(GqlError {
            message,
            locations: vec![def.position],
            path: None,
            extensions: json!({"code": "INVALID_VARIABLE", "value": value, "problems": problems}),
        });
    }
}

// ---- cost ------------------------------------------------------------------------------

fn arg_number(ctx: &Ctx<'_, '_>, args: &[(String, GValue<'_, String>)], name: &str) -> Option<i64> {
    args.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| eval(v, &ctx.vars).as_i64())
}

fn root_field_cost(ctx: &Ctx<'_, '_>, rf: &RootField<'_, '_>, mutation: bool) -> f64 {
    if mutation {
        // The bulk run mutation costs its base only (captured: requested 10).
        if matches!(
            rf.name,
            "bulkOperationRunQuery" | "bulkOperationRunMutation"
        ) {
            return 10.0;
        }
        // Captured live: requested and actual 11.
        if rf.name == "stagedUploadsCreate" {
            return 11.0;
        }
        if rf.name == "productVariantsBulkUpdate" || rf.name == "productVariantsBulkCreate" {
            // Dynamic cost since 2025-10: 10 + 0.2 per variant (SHOPIFY.md §2, [DYN]).
            let n = rf
                .arguments
                .iter()
                .find(|(n, _)| n == "variants")
                .map(|(_, v)| eval(v, &ctx.vars))
                .and_then(|v| v.as_array().map(Vec::len))
                .unwrap_or(0);
            return (10.0 + 0.2 * n as f64).round();
        }
        let payload = root_type_of("Mutation", rf.name);
        return 10.0 + selection_cost(ctx, rf.selection, payload);
    }
    let Some(def) = schema::field("QueryRoot", rf.name) else {
        return 0.0;
    };
    if rf.name == "nodes" {
        let n = rf
            .arguments
            .iter()
            .find(|(n, _)| n == "ids")
            .map(|(_, v)| eval(v, &ctx.vars))
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        return n as f64 * (1.0 + selection_cost(ctx, rf.selection, "Node"));
    }
    kind_cost(ctx, def.kind, rf.arguments, rf.selection)
}

fn kind_cost(
    ctx: &Ctx<'_, '_>,
    kind: Kind,
    args: &[(String, GValue<'_, String>)],
    sel: &Sel<'_>,
) -> f64 {
    match kind {
        Kind::Scalar => 0.0,
        Kind::Object(t) => 1.0 + selection_cost(ctx, sel, t),
        Kind::List(t) => selection_cost(ctx, sel, t),
        Kind::Connection(_, node) => {
            let n = arg_number(ctx, args, "first")
                .or_else(|| arg_number(ctx, args, "last"))
                .unwrap_or(0)
                .max(0);
            2.0 + n as f64 * (1.0 + connection_child_cost(ctx, sel, node))
        }
    }
}

fn connection_child_cost(ctx: &Ctx<'_, '_>, sel: &Sel<'_>, node: &str) -> f64 {
    let mut best: f64 = 0.0;
    for item in &sel.items {
        if let Selection::Field(f) = item {
            match f.name.as_str() {
                "nodes" => best = best.max(selection_cost(ctx, &f.selection_set, node)),
                "edges" => {
                    for e in &f.selection_set.items {
                        if let Selection::Field(ef) = e
                            && ef.name == "node"
                        {
                            best = best.max(selection_cost(ctx, &ef.selection_set, node));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    best
}

fn selection_cost(ctx: &Ctx<'_, '_>, sel: &Sel<'_>, ty: &str) -> f64 {
    let mut total = 0.0;
    for item in &sel.items {
        match item {
            Selection::Field(f) => {
                if let Some(def) = schema::field(ty, &f.name) {
                    total += kind_cost(ctx, def.kind, &f.arguments, &f.selection_set);
                }
            }
            Selection::FragmentSpread(s) => {
                if let Some(fr) = ctx.fragments.get(s.fragment_name.as_str()) {
                    let TypeCondition::On(t) = &fr.type_condition;
                    total += selection_cost(ctx, &fr.selection_set, t);
                }
            }
            Selection::InlineFragment(i) => {
                let t = match &i.type_condition {
                    Some(TypeCondition::On(t)) => t.as_str(),
                    None => ty,
                };
                total += selection_cost(ctx, &i.selection_set, t);
            }
        }
    }
    total
}

// ---- projection ------------------------------------------------------------------------

fn field_error(message: String, pos: Pos, path: &[Value], code: &str) -> FieldFailure {
    FieldFailure {
        error: Box::new(GqlError::new(message, code).at(pos).path(path.to_vec())),
        nulls_data: true,
        actual_cost: None,
        requested_cost: None,
    }
}

/// Projects a root field's resolved value (superset) onto its selection.
fn project_root(
    ctx: &Ctx<'_, '_>,
    f: &Field<'_, String>,
    kind: Kind,
    value: &Value,
    path: &[Value],
) -> Result<(Value, f64), FieldFailure> {
    let sel = &f.selection_set;
    match (kind, value) {
        (_, Value::Null) => Ok((Value::Null, 0.0)),
        (Kind::Connection(_, node), raw) => project_connection(ctx, f, raw, node, path),
        (Kind::List(t), Value::Array(items)) => {
            // Only `nodes(ids:)` is a root list: each object found costs like an object.
            let mut out = Vec::new();
            let mut cost = 0.0;
            for (i, it) in items.iter().enumerate() {
                let mut p = path.to_vec();
                p.push(json!(i));
                if it.is_null() {
                    out.push(Value::Null);
                } else {
                    let (v, c) = project_object(ctx, sel, it, t, &p)?;
                    out.push(v);
                    cost += 1.0 + c;
                }
            }
            Ok((Value::Array(out), cost))
        }
        (Kind::Object(t), Value::Object(_)) => {
            let (v, c) = project_object(ctx, sel, value, t, path)?;
            Ok((v, 1.0 + c))
        }
        (_, other) => Ok((other.clone(), 0.0)),
    }
}

/// Deep-merges `b` into `a` (the same response key selected twice).
fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                match x.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        x.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (ea, eb) in x.iter_mut().zip(y) {
                merge(ea, eb);
            }
        }
        (a, b) => *a = b,
    }
}

fn insert_merged(out: &mut Map<String, Value>, key: &str, value: Value) {
    match out.get_mut(key) {
        Some(existing) => merge(existing, value),
        None => {
            out.insert(key.to_owned(), value);
        }
    }
}

fn project_object(
    ctx: &Ctx<'_, '_>,
    sel: &Sel<'_>,
    obj: &Value,
    ty: &str,
    path: &[Value],
) -> Result<(Value, f64), FieldFailure> {
    let concrete = obj
        .get("__typename")
        .and_then(Value::as_str)
        .unwrap_or(ty)
        .to_owned();
    let mut out = Map::new();
    let mut cost = 0.0;
    for item in &sel.items {
        match item {
            Selection::Field(f) => {
                if directive_skips(ctx, &f.directives) {
                    continue;
                }
                let key = f.alias.as_deref().unwrap_or(&f.name);
                if f.name == "__typename" {
                    insert_merged(&mut out, key, json!(concrete));
                    continue;
                }
                let mut p = path.to_vec();
                p.push(json!(key));
                let kind = schema::field(&concrete, &f.name)
                    .or_else(|| schema::field(ty, &f.name))
                    .map_or(Kind::Scalar, |d| d.kind);
                let raw = obj.get(f.name.as_str()).unwrap_or(&Value::Null);
                let (value, c) = match kind {
                    Kind::Scalar => (scalar_with_args(ctx, f, raw), 0.0),
                    Kind::Object(t) => {
                        if raw.is_null() {
                            (Value::Null, 0.0)
                        } else {
                            let (v, c) = project_object(ctx, &f.selection_set, raw, t, &p)?;
                            (v, 1.0 + c)
                        }
                    }
                    Kind::List(t) => {
                        let items = filter_list(ctx, f, raw);
                        let mut vals = Vec::new();
                        let mut most: f64 = 0.0;
                        for (i, it) in items.iter().enumerate() {
                            let mut ip = p.clone();
                            ip.push(json!(i));
                            if it.is_null() {
                                vals.push(Value::Null);
                                continue;
                            }
                            let (v, c) = project_object(ctx, &f.selection_set, it, t, &ip)?;
                            most = most.max(c);
                            vals.push(v);
                        }
                        if raw.is_null() {
                            (Value::Null, 0.0)
                        } else {
                            (Value::Array(vals), most)
                        }
                    }
                    Kind::Connection(_, node) => {
                        if let Some(sink) = &ctx.bulk {
                            bulk_children(ctx, sink, f, raw, node, &p)?;
                            continue;
                        }
                        project_connection(ctx, f, raw, node, &p)?
                    }
                };
                cost += c;
                insert_merged(&mut out, key, value);
            }
            Selection::FragmentSpread(s) => {
                if directive_skips(ctx, &s.directives) {
                    continue;
                }
                if let Some(fr) = ctx.fragments.get(s.fragment_name.as_str()) {
                    let TypeCondition::On(t) = &fr.type_condition;
                    if schema::type_matches(t, &concrete) {
                        let (v, c) = project_object(ctx, &fr.selection_set, obj, &concrete, path)?;
                        cost += c;
                        if let Value::Object(m) = v {
                            for (k, x) in m {
                                insert_merged(&mut out, &k, x);
                            }
                        }
                    }
                }
            }
            Selection::InlineFragment(i) => {
                if directive_skips(ctx, &i.directives) {
                    continue;
                }
                let matches = match &i.type_condition {
                    Some(TypeCondition::On(t)) => schema::type_matches(t, &concrete),
                    None => true,
                };
                if matches {
                    let (v, c) = project_object(ctx, &i.selection_set, obj, &concrete, path)?;
                    cost += c;
                    if let Value::Object(m) = v {
                        for (k, x) in m {
                            insert_merged(&mut out, &k, x);
                        }
                    }
                }
            }
        }
    }
    Ok((Value::Object(out), cost))
}

/// A scalar that depends on an argument: the superset holds it keyed by the argument
/// (`publishedOnPublication(publicationId:)` → `{gid: true}`, absent = `false`).
fn scalar_with_args(ctx: &Ctx<'_, '_>, f: &Field<'_, String>, raw: &Value) -> Value {
    if f.name != "publishedOnPublication" {
        return raw.clone();
    }
    let id = f
        .arguments
        .iter()
        .find(|(n, _)| n == "publicationId")
        .map(|(_, v)| eval(v, &ctx.vars));
    let held = id
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|id| raw.get(id))
        .and_then(Value::as_bool);
    Value::Bool(held == Some(true))
}

/// Applies list-field arguments the fake understands (`quantities(names:)`).
fn filter_list(ctx: &Ctx<'_, '_>, f: &Field<'_, String>, raw: &Value) -> Vec<Value> {
    let items = raw.as_array().cloned().unwrap_or_default();
    if f.name != "quantities" {
        return items;
    }
    let names = f
        .arguments
        .iter()
        .find(|(n, _)| n == "names")
        .map(|(_, v)| eval(v, &ctx.vars));
    let Some(Value::Array(names)) = names else {
        return items;
    };
    names
        .iter()
        .filter_map(|n| items.iter().find(|it| it.get("name") == Some(n)).cloned())
        .collect()
}

/// Opaque cursors in Shopify's style: base64 of `{"last_id":N}`.
pub fn cursor_for(node: &Value) -> String {
    let id = node
        .get("id")
        .and_then(Value::as_str)
        .and_then(|g| g.rsplit('/').next())
        .and_then(|t| t.split('?').next())
        .unwrap_or("0");
    base64(format!("{{\"last_id\":{id}}}").as_bytes())
}

/// The id a cursor from [`cursor_for`] names.
pub fn cursor_id(cursor: &str) -> Option<u64> {
    let text = String::from_utf8(unbase64(cursor)?).ok()?;
    let rest = text.strip_prefix("{\"last_id\":")?.strip_suffix('}')?;
    rest.parse().ok()
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = T.iter().position(|&t| t == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn project_connection(
    ctx: &Ctx<'_, '_>,
    f: &Field<'_, String>,
    raw: &Value,
    node: &str,
    path: &[Value],
) -> Result<(Value, f64), FieldFailure> {
    let arg = |name: &str| {
        f.arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| eval(v, &ctx.vars))
            .filter(|v| !v.is_null())
    };
    let first = arg("first");
    let last = arg("last");
    let (count, from_end) = match (&first, &last) {
        (None, None) => {
            return Err(field_error(
                "you must provide one of first or last".into(),
                f.position,
                path,
                "BAD_REQUEST",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(field_error(
                "providing both first and last is not supported".into(),
                f.position,
                path,
                "BAD_REQUEST",
            ));
        }
        (Some(n), None) => (n.as_i64().unwrap_or(0), false),
        (None, Some(n)) => (n.as_i64().unwrap_or(0), true),
    };
    if count > MAX_PAGE {
        let which = if from_end { "last" } else { "first" };
        return Err(field_error(
            format!(
                "{which} cannot exceed {MAX_PAGE}. To query larger amounts of data with fewer limits, bulk operations should be used instead."
            ),
            f.position,
            path,
            "BAD_REQUEST",
        ));
    }
    let count = count.max(0) as usize;
    if let Some(page) = raw.get(PAGE_KEY).and_then(Value::as_array) {
        let flag = |k: &str| raw.get(k).and_then(Value::as_bool).unwrap_or(false);
        return project_page(
            ctx,
            f,
            page,
            node,
            path,
            flag("hasNextPage"),
            flag("hasPreviousPage"),
        );
    }
    let mut items = raw.as_array().cloned().unwrap_or_default();
    if arg("reverse").and_then(|v| v.as_bool()) == Some(true) {
        items.reverse();
    }
    let mut start = 0;
    let mut end = items.len();
    if let Some(after) = arg("after") {
        let after = after.as_str().unwrap_or_default().to_owned();
        match items.iter().position(|n| cursor_for(n) == after) {
            Some(i) => start = i + 1,
            None => {
                return Err(field_error(
                    format!("Invalid cursor for current pagination sort: {after}"),
                    f.position,
                    path,
                    "BAD_REQUEST",
                ));
            }
        }
    }
    if let Some(before) = arg("before") {
        let before = before.as_str().unwrap_or_default().to_owned();
        if let Some(i) = items.iter().position(|n| cursor_for(n) == before) {
            end = i.max(start);
        }
    }
    let window = &items[start..end];
    let (page, has_next, has_prev) = if from_end {
        let skip = window.len().saturating_sub(count);
        (&window[skip..], end < items.len(), skip > 0 || start > 0)
    } else {
        let take = count.min(window.len());
        (
            &window[..take],
            take < window.len() || end < items.len(),
            start > 0,
        )
    };
    project_page(ctx, f, page, node, path, has_next, has_prev)
}

fn project_page(
    ctx: &Ctx<'_, '_>,
    f: &Field<'_, String>,
    page: &[Value],
    node: &str,
    path: &[Value],
    has_next: bool,
    has_prev: bool,
) -> Result<(Value, f64), FieldFailure> {
    let page_info = json!({
        "__typename": "PageInfo",
        "hasNextPage": has_next,
        "hasPreviousPage": has_prev,
        "startCursor": page.first().map(cursor_for),
        "endCursor": page.last().map(cursor_for),
    });
    let mut out = Map::new();
    let mut nodes_cost = vec![0.0f64; page.len()];
    for item in &f.selection_set.items {
        let Selection::Field(cf) = item else {
            continue;
        };
        let key = cf.alias.as_deref().unwrap_or(&cf.name);
        let mut p = path.to_vec();
        p.push(json!(key));
        let value = match cf.name.as_str() {
            "__typename" => json!(format!("{node}Connection")),
            "pageInfo" => project_object(ctx, &cf.selection_set, &page_info, "PageInfo", &p)?.0,
            "nodes" => {
                let mut vals = Vec::new();
                for (i, n) in page.iter().enumerate() {
                    let mut ip = p.clone();
                    ip.push(json!(i));
                    let (v, c) = project_object(ctx, &cf.selection_set, n, node, &ip)?;
                    nodes_cost[i] = nodes_cost[i].max(c);
                    vals.push(v);
                }
                Value::Array(vals)
            }
            "edges" => {
                let mut vals = Vec::new();
                for (i, n) in page.iter().enumerate() {
                    let mut em = Map::new();
                    for e in &cf.selection_set.items {
                        let Selection::Field(ef) = e else {
                            continue;
                        };
                        let ek = ef.alias.as_deref().unwrap_or(&ef.name);
                        let v = match ef.name.as_str() {
                            "cursor" => json!(cursor_for(n)),
                            "__typename" => json!(format!("{node}Edge")),
                            "node" => {
                                let mut ip = p.clone();
                                ip.extend([json!(i), json!(ek)]);
                                let (v, c) = project_object(ctx, &ef.selection_set, n, node, &ip)?;
                                nodes_cost[i] = nodes_cost[i].max(c);
                                v
                            }
                            _ => Value::Null,
                        };
                        insert_merged(&mut em, ek, v);
                    }
                    vals.push(Value::Object(em));
                }
                Value::Array(vals)
            }
            _ => Value::Null,
        };
        insert_merged(&mut out, key, value);
    }
    let cost = 2.0 + nodes_cost.iter().map(|c| 1.0 + c).sum::<f64>();
    Ok((Value::Object(out), cost))
}

// ---- bulk export -----------------------------------------------------------------------

/// A finished bulk export: the JSONL file and its counts.
pub struct BulkFile {
    pub jsonl: Vec<u8>,
    pub object_count: u64,
    pub root_object_count: u64,
}

/// The selection under a connection's `nodes` or `edges { node }`.
fn node_selection<'a, 'q>(sel: &'a Sel<'q>) -> Option<&'a Sel<'q>> {
    sel.items.iter().find_map(|item| match item {
        Selection::Field(f) if f.name == "nodes" => Some(&f.selection_set),
        Selection::Field(f) if f.name == "edges" => {
            f.selection_set.items.iter().find_map(|e| match e {
                Selection::Field(ef) if ef.name == "node" => Some(&ef.selection_set),
                _ => None,
            })
        }
        _ => None,
    })
}

fn bulk_children(
    ctx: &Ctx<'_, '_>,
    sink: &RefCell<BulkSink>,
    f: &Field<'_, String>,
    raw: &Value,
    node: &str,
    path: &[Value],
) -> Result<(), FieldFailure> {
    let Some(sel) = node_selection(&f.selection_set) else {
        return Ok(());
    };
    for child in raw.as_array().map(Vec::as_slice).unwrap_or_default() {
        let (mut v, _) = project_object(ctx, sel, child, node, path)?;
        let parent = sink.borrow().parent.clone();
        if let Value::Object(m) = &mut v {
            m.insert("__parentId".into(), json!(parent));
        }
        sink.borrow_mut().children.push(v);
    }
    Ok(())
}

/// Connections in `sel` and how deep they nest (a connection at the top is depth 1).
fn connection_shape(sel: &Sel<'_>, ty: &str, depth: usize) -> (usize, usize) {
    let mut count = 0;
    let mut deepest = 0;
    for item in &sel.items {
        let Selection::Field(f) = item else {
            continue;
        };
        match schema::field(ty, &f.name).map(|d| d.kind) {
            Some(Kind::Connection(_, node)) => {
                let inner = node_selection(&f.selection_set);
                let (c, d) = inner.map_or((0, 0), |s| connection_shape(s, node, depth + 1));
                count += 1 + c;
                deepest = deepest.max(d.max(depth + 1));
            }
            Some(Kind::Object(t)) | Some(Kind::List(t)) => {
                let (c, d) = connection_shape(&f.selection_set, t, depth);
                count += c;
                deepest = deepest.max(d);
            }
            _ => {}
        }
    }
    (count, deepest)
}

/// Runs a bulk query the way `bulkOperationRunQuery` does: validated first (the messages of
/// the live captures), then every root node projected onto its selection, each nested
/// connection node its own line carrying `__parentId`. `each_root` hands the resolver's
/// nodes over one at a time so memory stays bounded by the output. Lines are written in
/// a scrambled order (children may even precede their parent), seeded by `seed`: Shopify
/// promises no order, and clients must join by `__parentId`.
pub fn bulk_export(
    query: &str,
    seed: u64,
    each_root: impl Fn(&str, &mut dyn FnMut(Value)) -> bool,
) -> Result<BulkFile, String> {
    let doc = graphql_parser::parse_query::<String>(query).map_err(|e| {
        let text = e.to_string();
        let detail = if query.trim().is_empty() {
            "syntax error, unexpected end of file".to_owned()
        } else {
            text.lines().next().unwrap_or("syntax error").to_owned()
        };
        format!("Invalid bulk query: {detail}")
    })?;
    let ops: Vec<&OperationDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    let [op] = ops.as_slice() else {
        return Err("Invalid bulk query: exactly one operation is required".into());
    };
    let (kind, _, var_defs, selection) = operation_parts(op);
    if kind != "query" {
        return Err("Invalid operation type. Only `query` operations are supported.".into());
    }
    let mut fragments = HashMap::new();
    for d in &doc.definitions {
        if let Definition::Fragment(f) = d {
            fragments.insert(f.name.as_str(), f);
        }
    }
    let mut ctx = Ctx {
        fragments,
        vars: Map::new(),
        var_defs,
        op_label: "query".into(),
        bulk: None,
    };
    let mut errors = Vec::new();
    validate_selection(
        &ctx,
        selection,
        "QueryRoot",
        &mut vec![json!("query")],
        &mut errors,
    );
    if let Some(e) = errors.first() {
        return Err(format!("Invalid bulk query: {}", e.message));
    }
    let roots = collect_root_fields(&ctx, selection);
    if roots.iter().any(|r| r.name == "node") {
        return Err("Bulk queries cannot contain a top level `node` field.".into());
    }
    let (connections, depth) = connection_shape(selection, "QueryRoot", 0);
    if connections == 0 {
        return Err("Bulk queries must contain at least one connection.".into());
    }
    if connections > 5 {
        return Err("Bulk queries cannot contain more than 5 connections.".into());
    }
    if depth > 2 {
        return Err(
            "Bulk queries cannot contain connections with a nesting depth greater than 2.".into(),
        );
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    let mut pool: Vec<Value> = Vec::new();
    let mut objects = 0u64;
    let mut root_objects = 0u64;
    let write = |v: &Value, out: &mut Vec<u8>| {
        if serde_json::to_writer(&mut *out, v).is_ok() {
            out.push(b'\n');
        }
    };
    for rf in &roots {
        let Some(Kind::Connection(_, node)) = schema::field("QueryRoot", rf.name).map(|d| d.kind)
        else {
            continue;
        };
        let Some(sel) = node_selection(rf.selection) else {
            continue;
        };
        let mut failure = None;
        let supported = each_root(rf.name, &mut |raw| {
            if failure.is_some() {
                return;
            }
            let parent = raw.get("id").and_then(Value::as_str).unwrap_or_default();
            ctx.bulk = Some(RefCell::new(BulkSink {
                parent: parent.to_owned(),
                children: Vec::new(),
            }));
            match project_object(&ctx, sel, &raw, node, &[]) {
                Ok((line, _)) => {
                    root_objects += 1;
                    let children = ctx.bulk.take().map(|s| s.into_inner().children);
                    pool.push(line);
                    pool.extend(children.unwrap_or_default());
                    // A small pool drained at random scrambles the order locally.
                    while pool.len() > 16 {
                        let v = pool.swap_remove(rng.usize(..pool.len()));
                        objects += 1;
                        write(&v, &mut out);
                    }
                }
                Err(e) => failure = Some(e.error.message),
            }
        });
        if !supported {
            return Err(format!(
                "Invalid bulk query: the fake cannot export `{}`",
                rf.name
            ));
        }
        if let Some(message) = failure {
            return Err(format!("Invalid bulk query: {message}"));
        }
    }
    while !pool.is_empty() {
        let v = pool.swap_remove(rng.usize(..pool.len()));
        objects += 1;
        write(&v, &mut out);
    }
    Ok(BulkFile {
        jsonl: out,
        object_count: objects,
        root_object_count: root_objects,
    })
}
