//! Validation before anything runs: arguments and selections checked against
//! [`schema`](crate::shopify::schema) (graphql-ruby's messages), and the variables coerced
//! against their declared input types. Reports errors only; costs and executes nothing.

use graphql_parser::query::{Field, Selection, Type, TypeCondition};
use serde_json::{Value, json};

use crate::shopify::schema::{self, Kind};

use super::select::{eval, variables_in};
use super::{Ctx, GqlError, Sel};

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

pub(super) fn validate_selection(
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

pub(super) fn coerce_variables(ctx: &Ctx<'_, '_>, errors: &mut Vec<GqlError>) {
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
