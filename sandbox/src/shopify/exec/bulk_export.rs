//! Bulk exports: one query's root connection flattened into JSONL lines, nested
//! connections becoming lines of their own with `__parentId`. Serving and scheduling the
//! file is `bulk`'s job; this only shapes the lines.

use std::cell::RefCell;
use std::collections::HashMap;

use graphql_parser::query::{Definition, Field, OperationDefinition, Selection};
use serde_json::{Map, Value, json};

use crate::shopify::schema::{self, Kind};

use super::project::project_object;
use super::select::collect_root_fields;
use super::validate::validate_selection;
use super::{BulkSink, Ctx, FieldFailure, Sel, operation_parts};

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

pub(super) fn bulk_children(
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
