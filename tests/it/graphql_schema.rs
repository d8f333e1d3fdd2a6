//! Checks every operation in `graphql/` against the FULL Admin schema in
//! `../shared/shopify/schema.graphql` (skipped loudly when that file is absent, failed under
//! `SHEETSYNC_REQUIRE_SHARED=1`), and
//! that `graphql/schema.graphql` is exactly what `examples/extract_schema.rs` produces now.
//!
//! The validator is small but covers what matters for our operations: every selected field
//! exists on its type, arguments exist and required ones are given, literal and variable
//! values fit the argument types (GraphQL's variable-usage rule), leaf and composite
//! selections are well formed, fragments' type conditions exist and can apply, directives
//! exist and are allowed on fields, and every declared variable is used.

#[path = "../../examples/extract_schema.rs"]
mod extract_schema;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use graphql_parser::query::{self as q, Definition as QDef, OperationDefinition, Selection, Value};
use graphql_parser::schema::{self as s, Definition, DirectiveLocation, Type, TypeDefinition};
use sheetsync_sandbox::shared::shared_path;

const OPS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/graphql");

/// The full Admin schema for `test`: `SHEETSYNC_SHOPIFY_SCHEMA` when set (a worktree whose
/// `../shared` is absent), else `../shared/shopify/schema.graphql` through
/// [`shared_path`], which skips loudly when it is absent, or fails the test under
/// `SHEETSYNC_REQUIRE_SHARED=1`.
fn full_schema(test: &str) -> Option<String> {
    let path = match std::env::var_os("SHEETSYNC_SHOPIFY_SCHEMA") {
        Some(p) => p.into(),
        None => shared_path(test, "shopify/schema.graphql")?,
    };
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
    )
}

struct Schema<'s, 'a> {
    types: HashMap<&'a str, &'s TypeDefinition<'a, &'a str>>,
    directives: HashMap<&'a str, &'s s::DirectiveDefinition<'a, &'a str>>,
    query: Option<&'a str>,
    mutation: Option<&'a str>,
}

fn type_name<'a>(def: &TypeDefinition<'a, &'a str>) -> &'a str {
    match def {
        TypeDefinition::Scalar(t) => t.name,
        TypeDefinition::Object(t) => t.name,
        TypeDefinition::Interface(t) => t.name,
        TypeDefinition::Union(t) => t.name,
        TypeDefinition::Enum(t) => t.name,
        TypeDefinition::InputObject(t) => t.name,
    }
}

fn base<'a>(t: &Type<'a, &'a str>) -> &'a str {
    match t {
        Type::NamedType(n) => n,
        Type::ListType(t) | Type::NonNullType(t) => base(t),
    }
}

const BUILTIN: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

impl<'s, 'a> Schema<'s, 'a> {
    fn new(doc: &'s s::Document<'a, &'a str>) -> Schema<'s, 'a> {
        let mut schema = Schema {
            types: HashMap::new(),
            directives: HashMap::new(),
            query: None,
            mutation: None,
        };
        for def in &doc.definitions {
            match def {
                Definition::SchemaDefinition(sd) => {
                    schema.query = sd.query;
                    schema.mutation = sd.mutation;
                }
                Definition::TypeDefinition(td) => {
                    schema.types.insert(type_name(td), td);
                }
                Definition::DirectiveDefinition(dd) => {
                    schema.directives.insert(dd.name, dd);
                }
                Definition::TypeExtension(_) => {}
            }
        }
        schema
    }

    fn is_leaf(&self, name: &str) -> bool {
        BUILTIN.contains(&name)
            || matches!(
                self.types.get(name),
                Some(TypeDefinition::Scalar(_) | TypeDefinition::Enum(_))
            )
    }

    fn is_input(&self, name: &str) -> bool {
        self.is_leaf(name) || matches!(self.types.get(name), Some(TypeDefinition::InputObject(_)))
    }

    fn fields(&self, name: &str) -> Option<&'s [s::Field<'a, &'a str>]> {
        match self.types.get(name)? {
            TypeDefinition::Object(t) => Some(&t.fields),
            TypeDefinition::Interface(t) => Some(&t.fields),
            _ => None,
        }
    }

    /// The object types a composite type can be at runtime.
    fn possible(&self, name: &str) -> BTreeSet<&'a str> {
        match self.types.get(name) {
            Some(TypeDefinition::Object(t)) => [t.name].into(),
            Some(TypeDefinition::Union(u)) => u.types.iter().copied().collect(),
            Some(TypeDefinition::Interface(i)) => self
                .types
                .values()
                .filter_map(|d| match d {
                    TypeDefinition::Object(o) if o.implements_interfaces.contains(&i.name) => {
                        Some(o.name)
                    }
                    _ => None,
                })
                .collect(),
            _ => BTreeSet::new(),
        }
    }
}

struct Validator<'v, 's, 'a> {
    schema: &'v Schema<'s, 'a>,
    vars: HashMap<&'a str, (&'v Type<'a, &'a str>, bool)>,
    used: BTreeSet<&'a str>,
    fragments: HashMap<&'a str, &'v q::FragmentDefinition<'a, &'a str>>,
    errors: Vec<String>,
}

impl<'v, 's, 'a> Validator<'v, 's, 'a> {
    fn err(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn selection_set(&mut self, on: &'a str, set: &'v q::SelectionSet<'a, &'a str>, path: &str) {
        for item in &set.items {
            match item {
                Selection::Field(f) => self.field(on, f, path),
                Selection::InlineFragment(i) => {
                    self.directives(&i.directives, DirectiveLocation::InlineFragment, path);
                    let target = match &i.type_condition {
                        Some(q::TypeCondition::On(t)) => *t,
                        None => on,
                    };
                    self.condition(on, target, path);
                    self.selection_set(target, &i.selection_set, &format!("{path}/on {target}"));
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.directives, DirectiveLocation::FragmentSpread, path);
                    let Some(frag) = self.fragments.get(spread.fragment_name).copied() else {
                        self.err(format!("{path}: unknown fragment {}", spread.fragment_name));
                        continue;
                    };
                    let q::TypeCondition::On(target) = frag.type_condition;
                    self.condition(on, target, path);
                    self.selection_set(
                        target,
                        &frag.selection_set,
                        &format!("{path}/...{}", frag.name),
                    );
                }
            }
        }
    }

    fn condition(&mut self, parent: &str, target: &str, path: &str) {
        if self.schema.fields(target).is_none()
            && !matches!(
                self.schema.types.get(target),
                Some(TypeDefinition::Union(_))
            )
        {
            self.err(format!(
                "{path}: fragment on {target}, which is not a composite type"
            ));
        } else if self
            .schema
            .possible(parent)
            .is_disjoint(&self.schema.possible(target))
        {
            self.err(format!(
                "{path}: fragment on {target} can never apply to {parent}"
            ));
        }
    }

    fn field(&mut self, on: &'a str, f: &'v q::Field<'a, &'a str>, path: &str) {
        let path = format!("{path}/{}", f.name);
        self.directives(&f.directives, DirectiveLocation::Field, &path);
        if f.name == "__typename" {
            return;
        }
        let Some(def) = self
            .schema
            .fields(on)
            .and_then(|fs| fs.iter().find(|d| d.name == f.name))
        else {
            self.err(format!("{path}: {on} has no field {}", f.name));
            return;
        };
        self.arguments(&def.arguments, pairs(&f.arguments), &path);
        let out = base(&def.field_type);
        match (self.schema.is_leaf(out), f.selection_set.items.is_empty()) {
            (true, false) => self.err(format!("{path}: {out} is a leaf and takes no selection")),
            (false, true) => self.err(format!("{path}: {out} needs a selection")),
            (false, false) => self.selection_set(out, &f.selection_set, &path),
            (true, true) => {}
        }
    }

    fn directives(
        &mut self,
        used: &'v [q::Directive<'a, &'a str>],
        location: DirectiveLocation,
        path: &str,
    ) {
        for d in used {
            if matches!(d.name, "skip" | "include") {
                continue;
            }
            let Some(def) = self.schema.directives.get(d.name).copied() else {
                self.err(format!("{path}: unknown directive @{}", d.name));
                continue;
            };
            if !def.locations.contains(&location) {
                self.err(format!("{path}: @{} is not allowed here", d.name));
            }
            self.arguments(
                &def.arguments,
                pairs(&d.arguments),
                &format!("{path}@{}", d.name),
            );
        }
    }

    fn arguments(
        &mut self,
        defs: &'s [s::InputValue<'a, &'a str>],
        given: Vec<(&'a str, &'v Value<'a, &'a str>)>,
        path: &str,
    ) {
        for &(name, value) in &given {
            match defs.iter().find(|d| d.name == name) {
                Some(def) => self.value(
                    value,
                    &def.value_type,
                    def.default_value.is_some(),
                    &format!("{path}({name})"),
                ),
                None => self.err(format!("{path}: no argument {name}")),
            }
        }
        for def in defs {
            let required =
                matches!(def.value_type, Type::NonNullType(_)) && def.default_value.is_none();
            if required && !given.iter().any(|(n, _)| *n == def.name) {
                self.err(format!("{path}: required argument {} missing", def.name));
            }
        }
    }

    fn value(
        &mut self,
        value: &'v Value<'a, &'a str>,
        ty: &'s Type<'a, &'a str>,
        has_default: bool,
        path: &str,
    ) {
        match (value, ty) {
            (Value::Variable(v), _) => {
                self.used.insert(v);
                match self.vars.get(v).copied() {
                    None => self.err(format!("{path}: undefined variable ${v}")),
                    Some((var_ty, var_default)) => {
                        if !compatible(var_ty, var_default || has_default, ty) {
                            self.err(format!(
                                "{path}: variable ${v} of type {var_ty} cannot be used as {ty}"
                            ));
                        }
                    }
                }
            }
            (Value::Null, Type::NonNullType(_)) => {
                self.err(format!("{path}: null for non-null {ty}"))
            }
            (Value::Null, _) => {}
            (_, Type::NonNullType(inner)) => self.value(value, inner, has_default, path),
            (Value::List(items), Type::ListType(inner)) => {
                for item in items {
                    self.value(item, inner, false, path);
                }
            }
            // A single value is coerced into a one-item list.
            (_, Type::ListType(inner)) => self.value(value, inner, false, path),
            (Value::List(_), Type::NamedType(n)) => {
                self.err(format!("{path}: a list given for {n}"))
            }
            (Value::Object(fields), Type::NamedType(n)) => {
                let Some(TypeDefinition::InputObject(input)) = self.schema.types.get(n).copied()
                else {
                    self.err(format!("{path}: an object given for {n}"));
                    return;
                };
                self.arguments(
                    &input.fields,
                    fields.iter().map(|(k, v)| (*k, v)).collect(),
                    path,
                );
            }
            (Value::Enum(e), Type::NamedType(n)) => match self.schema.types.get(n) {
                Some(TypeDefinition::Enum(en)) if en.values.iter().any(|v| v.name == *e) => {}
                _ => self.err(format!("{path}: {e} is not a value of {n}")),
            },
            (Value::Boolean(_), Type::NamedType(n)) if *n != "Boolean" => {
                self.err(format!("{path}: boolean given for {n}"))
            }
            (Value::Int(_) | Value::Float(_), Type::NamedType(n))
                if matches!(*n, "String" | "Boolean") =>
            {
                self.err(format!("{path}: number given for {n}"))
            }
            (Value::String(_), Type::NamedType(n)) if matches!(*n, "Int" | "Float" | "Boolean") => {
                self.err(format!("{path}: string given for {n}"))
            }
            _ => {}
        }
    }
}

fn pairs<'v, 'a>(
    args: &'v [(&'a str, Value<'a, &'a str>)],
) -> Vec<(&'a str, &'v Value<'a, &'a str>)> {
    args.iter().map(|(k, v)| (*k, v)).collect()
}

/// GraphQL's "variable usage is allowed" rule.
fn compatible<'a>(var: &Type<'a, &'a str>, defaulted: bool, loc: &Type<'a, &'a str>) -> bool {
    match (var, loc) {
        (Type::NonNullType(v), Type::NonNullType(l)) => compatible(v, false, l),
        (_, Type::NonNullType(l)) => defaulted && compatible(var, false, l),
        (Type::NonNullType(v), l) => compatible(v, false, l),
        (Type::ListType(v), Type::ListType(l)) => compatible(v, false, l),
        (Type::NamedType(v), Type::NamedType(l)) => v == l,
        _ => false,
    }
}

/// All validation errors of one operation document.
fn validate<'a>(schema: &Schema<'_, 'a>, text: &'a str) -> Vec<String> {
    let doc = match q::parse_query::<&str>(text) {
        Ok(d) => d,
        Err(e) => return vec![e.to_string()],
    };
    let fragments = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            QDef::Fragment(f) => Some((f.name, f)),
            QDef::Operation(_) => None,
        })
        .collect();
    let mut v = Validator {
        schema,
        vars: HashMap::new(),
        used: BTreeSet::new(),
        fragments,
        errors: Vec::new(),
    };
    for def in &doc.definitions {
        let QDef::Operation(op) = def else { continue };
        let (root, vars, set, name) = match op {
            OperationDefinition::Query(o) => (
                schema.query,
                &o.variable_definitions,
                &o.selection_set,
                o.name,
            ),
            OperationDefinition::Mutation(o) => (
                schema.mutation,
                &o.variable_definitions,
                &o.selection_set,
                o.name,
            ),
            _ => {
                v.err("only named queries and mutations are used".into());
                continue;
            }
        };
        let name = name.unwrap_or("<anonymous>");
        v.vars.clear();
        v.used.clear();
        for var in vars {
            if !schema.is_input(base(&var.var_type)) {
                v.err(format!(
                    "{name}: ${} has non-input type {}",
                    var.name, var.var_type
                ));
            }
            v.vars
                .insert(var.name, (&var.var_type, var.default_value.is_some()));
        }
        let Some(root) = root else {
            v.err(format!("{name}: no root type"));
            continue;
        };
        v.selection_set(root, set, name);
        for var in vars {
            if !v.used.contains(var.name) {
                v.err(format!("{name}: ${} is never used", var.name));
            }
        }
    }
    v.errors
}

#[test]
fn operations_are_valid_against_the_full_schema() {
    let Some(sdl) = full_schema("operations_are_valid_against_the_full_schema") else {
        return;
    };
    let doc = s::parse_schema::<&str>(&sdl).expect("full schema parses");
    let schema = Schema::new(&doc);
    let ops = extract_schema::read_operations(Path::new(OPS_DIR)).unwrap();
    assert_eq!(
        ops.len(),
        20,
        "{:?}",
        ops.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, text) in &ops {
        let errors = validate(&schema, text);
        assert!(errors.is_empty(), "{name}:\n  {}", errors.join("\n  "));
    }

    // The validator catches what it claims to (so the check above can fail):
    let bad = [
        // UserError has no `code`: why inventory_activate.graphql selects only field and message.
        "mutation A($i: ID!, $l: ID!, $k: String!) { inventoryActivate(inventoryItemId: $i, locationId: $l) @idempotent(key: $k) { userErrors { field message code } } }",
        "query { shop { name { x } } }",
        "query Q($f: String) { productVariants(first: $f) { nodes { id } } }",
        "query Q($ids: [ID]!) { nodes(ids: $ids) { id } }",
        "query Q($f: Int!) { locations { nodes { id } } }",
        "query { productVariants(first: 1, bogus: 2) { nodes { id } } }",
        "query { nodes(ids: [\"x\"]) { ... on Location { ...F } } } fragment F on ProductVariant { id }",
        "mutation M($k: String!) { inventorySetQuantities(input: {name: \"available\", reason: \"correction\"}) @idempotent(key: $k) { userErrors { code } } }",
        "query { inventoryLevel(id: 1) @idempotent { id } }",
    ];
    for text in bad {
        assert!(!validate(&schema, text).is_empty(), "accepted: {text}");
    }
}

#[test]
fn committed_schema_is_what_the_extractor_produces() {
    let Some(sdl) = full_schema("committed_schema_is_what_the_extractor_produces") else {
        return;
    };
    let ops = extract_schema::read_operations(Path::new(OPS_DIR)).unwrap();
    let fresh = extract_schema::extract(&sdl, &ops).unwrap();
    let committed = std::fs::read_to_string(Path::new(OPS_DIR).join("schema.graphql")).unwrap();
    assert!(
        fresh == committed,
        "graphql/schema.graphql is stale: run `cargo run --example extract_schema -- ../shared/shopify/schema.graphql graphql/ > graphql/schema.graphql`"
    );
    // The extracted schema carries no descriptions (block strings opening a line); the
    // only block strings left are multi-line `@deprecated` reasons, closed by `""")`.
    assert!(committed.lines().all(|l| {
        let t = l.trim_start();
        !t.starts_with("\"\"\"") || t.starts_with("\"\"\")")
    }));
}
