//! The requested cost of a query, computed from the document alone before it runs
//! (scalars 0, objects 1, connections `2 + first × (1 + node selections)`, mutations
//! `10 +` payload). The actual cost is summed during projection, not here.

use graphql_parser::query::{Selection, TypeCondition, Value as GValue};

use crate::shopify::schema::{self, Kind};

use super::select::{RootField, eval};
use super::{Ctx, Sel, root_type_of};

fn arg_number(ctx: &Ctx<'_, '_>, args: &[(String, GValue<'_, String>)], name: &str) -> Option<i64> {
    args.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| eval(v, &ctx.vars).as_i64())
}

pub(super) fn root_field_cost(ctx: &Ctx<'_, '_>, rf: &RootField<'_, '_>, mutation: bool) -> f64 {
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
