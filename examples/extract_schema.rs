//! Extracts from the full Shopify Admin SDL the part our operations reach, without
//! descriptions, so `graphql/schema.graphql` holds facts about the API and not a copy of
//! Shopify's 3.8 MB file.
//!
//! ```text
//! cargo run --example extract_schema -- /work/shared/shopify/schema.graphql graphql/ > graphql/schema.graphql
//! ```
//!
//! What is kept: the root types; every field an operation selects, with all its arguments;
//! every type those fields and arguments name (input objects with all their fields, enums
//! with all their values, custom scalars); interfaces with the fields selected on them
//! and their `id` (an interface must declare at least one), and on each reached object
//! the fields of its reached interfaces; the directives the operations use. Everything is sorted by name, so the
//! output is deterministic. `tests/graphql_schema.rs` includes this file to check that the
//! committed schema is exactly what this tool produces now.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use graphql_parser::query::{self as q, Definition as QDef, OperationDefinition, Selection};
use graphql_parser::schema::{self as s, Definition, Type, TypeDefinition};

const BUILTIN_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];
const BUILTIN_DIRECTIVES: [&str; 4] = ["skip", "include", "deprecated", "specifiedBy"];

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [schema, dir] = args.as_slice() else {
        eprintln!("usage: extract_schema <full-schema.graphql> <operations-dir>");
        std::process::exit(2);
    };
    let result = std::fs::read_to_string(schema)
        .map_err(|e| format!("cannot read {schema}: {e}"))
        .and_then(|sdl| Ok((sdl, read_operations(Path::new(dir))?)))
        .and_then(|(sdl, ops)| extract(&sdl, &ops));
    match result {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("extract_schema: {e}");
            std::process::exit(1);
        }
    }
}

/// The operation files of `dir` (every `*.graphql` but `schema.graphql`), sorted by name.
pub fn read_operations(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut ops = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".graphql") && name != "schema.graphql" {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {name}: {e}"))?;
            ops.push((name, text));
        }
    }
    ops.sort();
    Ok(ops)
}

/// The minimal SDL for `operations` (file name, text), cut out of `schema_sdl`.
pub fn extract(schema_sdl: &str, operations: &[(String, String)]) -> Result<String, String> {
    let schema = s::parse_schema::<&str>(schema_sdl).map_err(|e| format!("schema: {e}"))?;
    let mut x = Extractor::new(&schema)?;
    for (name, text) in operations {
        let doc = q::parse_query::<&str>(text).map_err(|e| format!("{name}: {e}"))?;
        x.operation_document(&doc)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    x.close_interfaces()?;
    x.emit()
}

struct Extractor<'s, 'a> {
    schema: &'s s::SchemaDefinition<'a, &'a str>,
    types: HashMap<&'a str, &'s TypeDefinition<'a, &'a str>>,
    directives: HashMap<&'a str, &'s s::DirectiveDefinition<'a, &'a str>>,
    reached: BTreeSet<&'a str>,
    fields: BTreeMap<&'a str, BTreeSet<&'a str>>,
    used_directives: BTreeSet<&'a str>,
}

fn base_name<'a>(ty: &Type<'a, &'a str>) -> &'a str {
    match ty {
        Type::NamedType(n) => n,
        Type::ListType(t) | Type::NonNullType(t) => base_name(t),
    }
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

fn composite_fields<'s, 'a>(
    def: &'s TypeDefinition<'a, &'a str>,
) -> Option<&'s [s::Field<'a, &'a str>]> {
    match def {
        TypeDefinition::Object(t) => Some(&t.fields),
        TypeDefinition::Interface(t) => Some(&t.fields),
        _ => None,
    }
}

fn keep_deprecated<'a>(directives: &[s::Directive<'a, &'a str>]) -> Vec<s::Directive<'a, &'a str>> {
    directives
        .iter()
        .filter(|d| d.name == "deprecated")
        .cloned()
        .collect()
}

impl<'s, 'a> Extractor<'s, 'a> {
    fn new(doc: &'s s::Document<'a, &'a str>) -> Result<Self, String> {
        let mut schema = None;
        let mut types = HashMap::new();
        let mut directives = HashMap::new();
        for def in &doc.definitions {
            match def {
                Definition::SchemaDefinition(sd) => schema = Some(sd),
                Definition::TypeDefinition(td) => {
                    types.insert(type_name(td), td);
                }
                Definition::DirectiveDefinition(dd) => {
                    directives.insert(dd.name, dd);
                }
                Definition::TypeExtension(_) => {
                    return Err("type extensions are not supported".into());
                }
            }
        }
        let schema = schema.ok_or("the schema has no `schema { … }` definition")?;
        Ok(Extractor {
            schema,
            types,
            directives,
            reached: BTreeSet::new(),
            fields: BTreeMap::new(),
            used_directives: BTreeSet::new(),
        })
    }

    fn def(&self, name: &str) -> Result<&'s TypeDefinition<'a, &'a str>, String> {
        self.types
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown type {name}"))
    }

    fn reach_type(&mut self, name: &'a str) -> Result<(), String> {
        if BUILTIN_SCALARS.contains(&name) || !self.reached.insert(name) {
            return Ok(());
        }
        match self.def(name)? {
            TypeDefinition::InputObject(t) => {
                for f in &t.fields {
                    self.reach_type(base_name(&f.value_type))?;
                }
            }
            // Only its `id` besides the fields selected on it: reaching every field of
            // an interface such as `Catalog` would pull in half the API (its operations,
            // their row counts…), none of it selected.
            TypeDefinition::Interface(t) if t.fields.iter().any(|f| f.name == "id") => {
                self.reach_field(name, "id")?;
            }
            _ => {}
        }
        Ok(())
    }

    fn reach_field(
        &mut self,
        owner: &'a str,
        field: &str,
    ) -> Result<&'s s::Field<'a, &'a str>, String> {
        let def = self.def(owner)?;
        let fields = composite_fields(def).ok_or_else(|| format!("{owner} has no fields"))?;
        let f = fields
            .iter()
            .find(|f| f.name == field)
            .ok_or_else(|| format!("{owner} has no field {field}"))?;
        if self.fields.entry(owner).or_default().insert(f.name) {
            for arg in &f.arguments {
                self.reach_type(base_name(&arg.value_type))?;
            }
            self.reach_type(base_name(&f.field_type))?;
        }
        Ok(f)
    }

    fn reach_directive(&mut self, name: &'a str) -> Result<(), String> {
        if BUILTIN_DIRECTIVES.contains(&name) || !self.used_directives.insert(name) {
            return Ok(());
        }
        let d = self
            .directives
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown directive @{name}"))?;
        for arg in &d.arguments {
            self.reach_type(base_name(&arg.value_type))?;
        }
        Ok(())
    }

    fn operation_document(&mut self, doc: &q::Document<'a, &'a str>) -> Result<(), String> {
        let fragments: HashMap<&str, &q::FragmentDefinition<'a, &'a str>> = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                QDef::Fragment(f) => Some((f.name, f)),
                QDef::Operation(_) => None,
            })
            .collect();
        for def in &doc.definitions {
            let QDef::Operation(op) = def else { continue };
            let (root, vars, directives, set) = match op {
                OperationDefinition::Query(o) => (
                    self.schema.query,
                    &o.variable_definitions,
                    &o.directives,
                    &o.selection_set,
                ),
                OperationDefinition::Mutation(o) => (
                    self.schema.mutation,
                    &o.variable_definitions,
                    &o.directives,
                    &o.selection_set,
                ),
                OperationDefinition::Subscription(o) => (
                    self.schema.subscription,
                    &o.variable_definitions,
                    &o.directives,
                    &o.selection_set,
                ),
                OperationDefinition::SelectionSet(set) => {
                    (self.schema.query, &Vec::new(), &Vec::new(), set)
                }
            };
            let root = root.ok_or("the schema has no root type for this operation")?;
            self.reach_type(root)?;
            for v in vars {
                self.reach_type(base_name(&v.var_type))?;
            }
            for d in directives {
                self.reach_directive(d.name)?;
            }
            self.selection_set(root, set, &fragments)?;
        }
        Ok(())
    }

    fn selection_set(
        &mut self,
        on: &'a str,
        set: &q::SelectionSet<'a, &'a str>,
        fragments: &HashMap<&str, &q::FragmentDefinition<'a, &'a str>>,
    ) -> Result<(), String> {
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    for d in &f.directives {
                        self.reach_directive(d.name)?;
                    }
                    if f.name.starts_with("__") {
                        continue;
                    }
                    let def = self.reach_field(on, f.name)?;
                    if !f.selection_set.items.is_empty() {
                        self.selection_set(
                            base_name(&def.field_type),
                            &f.selection_set,
                            fragments,
                        )?;
                    }
                }
                Selection::InlineFragment(i) => {
                    for d in &i.directives {
                        self.reach_directive(d.name)?;
                    }
                    let target = match &i.type_condition {
                        Some(q::TypeCondition::On(t)) => *t,
                        None => on,
                    };
                    self.reach_type(target)?;
                    self.selection_set(target, &i.selection_set, fragments)?;
                }
                Selection::FragmentSpread(spread) => {
                    for d in &spread.directives {
                        self.reach_directive(d.name)?;
                    }
                    let frag = fragments
                        .get(spread.fragment_name)
                        .ok_or_else(|| format!("unknown fragment {}", spread.fragment_name))?;
                    let q::TypeCondition::On(target) = frag.type_condition;
                    self.reach_type(target)?;
                    for d in &frag.directives {
                        self.reach_directive(d.name)?;
                    }
                    self.selection_set(target, &frag.selection_set, fragments)?;
                }
            }
        }
        Ok(())
    }

    /// A reached object must carry the fields of the reached interfaces it implements.
    fn close_interfaces(&mut self) -> Result<(), String> {
        loop {
            let mut todo = Vec::new();
            for &name in &self.reached {
                let TypeDefinition::Object(o) = self.def(name)? else {
                    continue;
                };
                for &iface in &o.implements_interfaces {
                    if !self.reached.contains(iface) {
                        continue;
                    }
                    for f in self.fields.get(iface).into_iter().flatten() {
                        if !self.fields.get(name).is_some_and(|set| set.contains(f)) {
                            todo.push((name, *f));
                        }
                    }
                }
            }
            if todo.is_empty() {
                return Ok(());
            }
            for (owner, field) in todo {
                self.reach_field(owner, field)?;
            }
        }
    }

    fn emit(&self) -> Result<String, String> {
        let mut out = s::Document {
            definitions: Vec::new(),
        };
        out.definitions
            .push(Definition::SchemaDefinition(s::SchemaDefinition {
                directives: Vec::new(),
                query: self.schema.query.filter(|t| self.reached.contains(t)),
                mutation: self.schema.mutation.filter(|t| self.reached.contains(t)),
                subscription: self
                    .schema
                    .subscription
                    .filter(|t| self.reached.contains(t)),
                ..self.schema.clone()
            }));
        for name in &self.used_directives {
            let d = self.directives[name];
            out.definitions
                .push(Definition::DirectiveDefinition(s::DirectiveDefinition {
                    description: None,
                    arguments: d.arguments.iter().map(strip_input_value).collect(),
                    ..d.clone()
                }));
        }
        for &name in &self.reached {
            out.definitions
                .push(Definition::TypeDefinition(self.emit_type(name)?));
        }
        Ok(out.to_string())
    }

    fn emit_type(&self, name: &'a str) -> Result<TypeDefinition<'a, &'a str>, String> {
        let keep =
            |fields: &[s::Field<'a, &'a str>]| -> Result<Vec<s::Field<'a, &'a str>>, String> {
                let wanted = self.fields.get(name);
                let kept: Vec<_> = fields
                    .iter()
                    .filter(|f| wanted.is_some_and(|w| w.contains(f.name)))
                    .map(|f| s::Field {
                        description: None,
                        arguments: f.arguments.iter().map(strip_input_value).collect(),
                        directives: keep_deprecated(&f.directives),
                        ..f.clone()
                    })
                    .collect();
                if kept.is_empty() {
                    return Err(format!(
                        "{name} is reached but none of its fields is; select one"
                    ));
                }
                Ok(kept)
            };
        let reached_only = |names: &[&'a str]| {
            names
                .iter()
                .copied()
                .filter(|n| self.reached.contains(n))
                .collect()
        };
        Ok(match self.def(name)? {
            TypeDefinition::Scalar(t) => TypeDefinition::Scalar(s::ScalarType {
                description: None,
                directives: Vec::new(),
                ..t.clone()
            }),
            TypeDefinition::Object(t) => TypeDefinition::Object(s::ObjectType {
                description: None,
                directives: Vec::new(),
                implements_interfaces: reached_only(&t.implements_interfaces),
                fields: keep(&t.fields)?,
                ..t.clone()
            }),
            TypeDefinition::Interface(t) => TypeDefinition::Interface(s::InterfaceType {
                description: None,
                directives: Vec::new(),
                implements_interfaces: reached_only(&t.implements_interfaces),
                fields: keep(&t.fields)?,
                ..t.clone()
            }),
            TypeDefinition::Union(t) => TypeDefinition::Union(s::UnionType {
                description: None,
                directives: Vec::new(),
                types: reached_only(&t.types),
                ..t.clone()
            }),
            TypeDefinition::Enum(t) => TypeDefinition::Enum(s::EnumType {
                description: None,
                directives: Vec::new(),
                values: t
                    .values
                    .iter()
                    .map(|v| s::EnumValue {
                        description: None,
                        directives: keep_deprecated(&v.directives),
                        ..v.clone()
                    })
                    .collect(),
                ..t.clone()
            }),
            TypeDefinition::InputObject(t) => TypeDefinition::InputObject(s::InputObjectType {
                description: None,
                directives: Vec::new(),
                fields: t.fields.iter().map(strip_input_value).collect(),
                ..t.clone()
            }),
        })
    }
}

fn strip_input_value<'a>(v: &s::InputValue<'a, &'a str>) -> s::InputValue<'a, &'a str> {
    s::InputValue {
        description: None,
        directives: keep_deprecated(&v.directives),
        ..v.clone()
    }
}
