//! Projection: the resolved superset objects cut to the query's selection sets (aliases,
//! fragments, `__typename`, connections with cursors and pages), summing the actual cost
//! on the way. Reads resolver output only; never touches the store.

use graphql_parser::Pos;
use graphql_parser::query::{Field, Selection, TypeCondition};
use serde_json::{Map, Value, json};

use crate::shopify::schema::{self, Kind};

use super::bulk_export::bulk_children;
use super::select::{directive_skips, eval};
use super::{Ctx, FieldFailure, GqlError, MAX_PAGE, PAGE_KEY, Sel};

fn field_error(message: String, pos: Pos, path: &[Value], code: &str) -> FieldFailure {
    FieldFailure {
        error: Box::new(GqlError::new(message, code).at(pos).path(path.to_vec())),
        nulls_data: true,
        actual_cost: None,
        requested_cost: None,
    }
}

/// Projects a root field's resolved value (superset) onto its selection.
pub(super) fn project_root(
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

pub(super) fn project_object(
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
