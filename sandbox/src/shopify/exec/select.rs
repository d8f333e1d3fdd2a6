//! Selection helpers shared by validation, costing and projection: which root fields an
//! operation selects (after `@skip`/`@include` and fragments), their evaluated arguments
//! as a [`FieldCall`], and argument values under the request's variables.

use std::collections::HashMap;

use graphql_parser::query::{Directive, Field, Selection, Value as GValue};
use serde_json::{Map, Value, json};

use super::{Ctx, FieldCall, GqlError, Sel};

pub(super) fn directive_skips(ctx: &Ctx<'_, '_>, directives: &[Directive<'_, String>]) -> bool {
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
pub(super) struct RootField<'a, 'q> {
    pub(super) name: &'a str,
    pub(super) response_key: &'a str,
    pub(super) field: &'a Field<'q, String>,
    pub(super) arguments: &'a [(String, GValue<'q, String>)],
    pub(super) directives: &'a [Directive<'q, String>],
    pub(super) selection: &'a Sel<'q>,
}

pub(super) fn collect_root_fields<'a, 'q>(
    ctx: &Ctx<'a, 'q>,
    sel: &'a Sel<'q>,
) -> Vec<RootField<'a, 'q>> {
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

pub(super) fn build_call<'a>(
    ctx: &Ctx<'_, '_>,
    rf: &RootField<'a, '_>,
) -> Result<FieldCall<'a>, GqlError> {
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
pub(super) fn eval(v: &GValue<'_, String>, vars: &Map<String, Value>) -> Value {
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

pub(super) fn variables_in(v: &GValue<'_, String>, out: &mut Vec<String>) {
    match v {
        GValue::Variable(n) => out.push(n.clone()),
        GValue::List(l) => l.iter().for_each(|x| variables_in(x, out)),
        GValue::Object(o) => o.values().for_each(|x| variables_in(x, out)),
        _ => {}
    }
}
