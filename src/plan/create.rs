//! `sync.create_missing`: rows whose SKU the store lacks become products and variants to
//! create. Pure, like the rest of the plan: what the store holds under each handle was
//! read beforehand (`productByIdentifier`) and comes in as [`CreateContext`].
//!
//! - rows sharing a handle form one product; a row without a handle is a row error;
//! - a handle the store already has gets the new variants added to that product (the
//!   store's option names; the row's option values by position);
//! - a new product takes its title (required), status (default `DRAFT`), tags and vendor
//!   from its rows, which must agree; its options from `Option1..3 Name/Value` (names on
//!   any row), or Shopify's single `Title` option when no row names one;
//! - each new variant needs a price; its other cells (compare-at, cost, barcode, stock
//!   other than zero) are sent with it. Every value becomes a [`Change`] from `∅` marked
//!   with [`New`], so creations show in the plan, the report and the guards like any
//!   change. Nothing is in the store to overwrite, so no baseline is needed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Change, PlanOptions};
use crate::model::rows::{Intent, Row, RowError};
use crate::model::{CellRef, Field, FieldKey, Sku, Value};

/// The option Shopify gives a product created without options, and its one value.
pub const DEFAULT_OPTION: (&str, &str) = ("Title", "Default Title");

/// A handle as Shopify normalises one (product-create-parity.json: `"  Weird Handle /
/// 100%  "` becomes `weird-handle-100`): lowercase, every run of other characters one
/// `-`, none at either end; `None` when nothing is left. Sheet handles are looked up and
/// created in this form, so `Classic Tee` and `classic-tee` name one product.
pub fn handleize(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

/// A product the store holds under a handle, as `productByIdentifier` read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleProduct {
    pub id: String,
    pub title: String,
    /// Option names, in position order.
    pub options: Vec<String>,
    /// Its variants' SKUs (`None`: a variant without one).
    pub skus: Vec<Option<String>>,
}

/// A publication (sales channel) to publish to: the configured name and the store's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Channel {
    pub name: String,
    pub id: String,
}

/// A product an earlier run created that is not published everywhere the config says
/// (its publish failed, or the run died before it): published again by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub handle: String,
    pub product_id: String,
    pub title: String,
    /// It has only the variant `productCreate` made (a run died before adding its
    /// variants): published only by a run that adds them.
    pub placeholder_only: bool,
    /// The configured channels it is not published to.
    pub missing: Vec<Channel>,
}

/// Publishing one product (`sync.publish_to`), after its creation when the run creates it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Publish {
    pub handle: String,
    /// The store's product; `None` when this run creates it.
    pub product_id: Option<String>,
    pub title: String,
    /// The sheet rows of its variants, where an outcome other than success is reported.
    pub rows: Vec<(u32, Sku)>,
    pub channels: Vec<Channel>,
}

/// What planning creations needs from the store and the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateContext {
    /// Handle → the store's product with that handle; a handle absent here is free.
    pub products: HashMap<String, HandleProduct>,
    /// Handles whose `productCreate` an earlier run journaled (a run killed before it
    /// added the variants): such a product's lone SKU-less variant is the placeholder
    /// that `productCreate` made, and is replaced.
    pub journaled: BTreeSet<String>,
    /// `sync.publish_to`, resolved: where each product created is published.
    pub publish_to: Vec<Channel>,
    /// Products earlier runs created that still lack some of `publish_to`.
    pub unpublished: Vec<Unpublished>,
    /// A store that creates each missing SKU as a simple product of its own (WooCommerce,
    /// SPEC §8): no handles, no options, nothing read beforehand.
    pub simple_only: bool,
    /// The sheet's zero-based column of each field, so that an error about a blank cell
    /// (a new product without a title) names that cell: a blank has no entry in a row.
    pub columns: BTreeMap<FieldKey, u32>,
}

/// Marks a change that belongs to a variant being created.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct New {
    pub handle: String,
    /// The product is created too (not only the variant).
    pub product: bool,
}

/// One product to create, or to add variants to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub handle: String,
    /// The store's product the variants join; `None` creates it.
    pub product_id: Option<String>,
    pub title: String,
    /// A new product's status (`DRAFT` unless the sheet says).
    pub status: String,
    pub tags: Vec<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    /// The description as HTML text.
    pub description: Option<String>,
    /// Option names, in position order.
    pub options: Vec<String>,
    /// Replace the product's lone placeholder variant (see [`CreateContext::journaled`]).
    pub remove_standalone: bool,
    pub variants: Vec<NewVariant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariant {
    pub sku: Sku,
    pub row: u32,
    /// One value per option of the product, in option order.
    pub option_values: Vec<String>,
}

/// The publishes a run makes: every product it creates goes to all of `publish_to`, and
/// each product of [`CreateContext::unpublished`] to what it lacks. `rows_of` gives the
/// sheet rows of a store product's variants. Nothing is published by a run whose
/// `--only` keeps it from creating.
pub fn publishes(
    creations: &[Creation],
    ctx: &CreateContext,
    opts: &PlanOptions,
    rows_of: impl Fn(&str) -> Vec<(u32, Sku)>,
) -> Vec<Publish> {
    if !opts.in_scope(&FieldKey::variant(Field::Price)) {
        return Vec::new();
    }
    let mut out: Vec<Publish> = Vec::new();
    if !ctx.publish_to.is_empty() {
        for c in creations.iter().filter(|c| c.product_id.is_none()) {
            out.push(Publish {
                handle: c.handle.clone(),
                product_id: None,
                title: c.title.clone(),
                rows: c.variants.iter().map(|v| (v.row, v.sku.clone())).collect(),
                channels: ctx.publish_to.clone(),
            });
        }
    }
    for u in ctx.unpublished.iter().filter(|u| !u.missing.is_empty()) {
        if u.placeholder_only && !creations.iter().any(|c| c.handle == u.handle) {
            continue;
        }
        let mut rows = rows_of(&u.product_id);
        // Variants this run adds to it (a run killed before adding them) are its rows too.
        for c in creations.iter().filter(|c| c.handle == u.handle) {
            rows.extend(c.variants.iter().map(|v| (v.row, v.sku.clone())));
        }
        rows.sort();
        rows.dedup();
        out.push(Publish {
            handle: u.handle.clone(),
            product_id: Some(u.product_id.clone()),
            title: u.title.clone(),
            rows,
            channels: u.missing.clone(),
        });
    }
    out.sort();
    out
}

/// Plans the rows whose SKU the store lacks; returns their changes, the creations and
/// the row errors.
pub(super) fn plan(
    rows: &[&Row],
    ctx: &CreateContext,
    opts: &PlanOptions,
) -> (Vec<Change>, Vec<Creation>, Vec<RowError>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    let sku_cell = |row: &Row| CellRef::new(opts.tab.clone(), opts.sku_col, row.row);
    let error = |row: &Row, message: String| RowError {
        row: row.row,
        cell: sku_cell(row),
        sku: Some(row.sku.clone()),
        message,
    };
    let mut by_handle: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let missing = format!("SKU {:?} is not in the store", row.sku.as_str());
        if !opts.in_scope(&FieldKey::variant(Field::Price)) {
            out.2.push(error(
                row,
                format!("{missing}; it is created only by runs whose --only includes price"),
            ));
            continue;
        }
        match row.product.get("handle").and_then(|h| handleize(h)) {
            Some(h) => by_handle.entry(h).or_default().push(row),
            _ => out.2.push(error(
                row,
                format!("{missing} and its row has no handle: give it one to create it"),
            )),
        }
    }
    for (handle, rows) in &by_handle {
        let handle = handle.as_str();
        let existing = ctx.products.get(handle);
        let mut product = Product::read(handle, rows, existing, ctx);
        let mut variants = Vec::new();
        for row in rows {
            if let Some(why) = &product.error {
                out.2.push(error(row, why.clone()));
                continue;
            }
            if !row.values.contains_key(&FieldKey::variant(Field::Price)) {
                out.2.push(error(
                    row,
                    format!(
                        "SKU {:?} is not in the store and a new variant needs a price",
                        row.sku.as_str()
                    ),
                ));
                continue;
            }
            match product.option_values(row) {
                Ok(values) => variants.push((*row, values)),
                Err(why) => out.2.push(error(row, why)),
            }
        }
        // Two rows naming the same option values would be one variant twice.
        let mut seen: HashMap<&[String], Vec<u32>> = HashMap::new();
        for (row, values) in &variants {
            seen.entry(values.as_slice()).or_default().push(row.row);
        }
        let clash: BTreeSet<u32> = seen
            .values()
            .filter(|rows| rows.len() > 1)
            .flatten()
            .copied()
            .collect();
        for (row, values) in variants.iter().filter(|(r, _)| clash.contains(&r.row)) {
            out.2.push(error(
                row,
                format!(
                    "another row of handle {handle:?} has the same option values ({}); each \
                     variant needs its own",
                    values.join(" / ")
                ),
            ));
        }
        variants.retain(|(r, _)| !clash.contains(&r.row));
        if variants.is_empty() {
            continue;
        }
        let new = New {
            handle: handle.to_owned(),
            product: existing.is_none(),
        };
        for (i, (row, _)) in variants.iter().enumerate() {
            for (key, entry) in row.values.iter().filter(|(k, _)| opts.in_scope(k)) {
                // A new product's fields are written once, with its first variant's row;
                // an existing product's are left to the rows the store already knows.
                if key.field.is_product() && (existing.is_some() || i > 0) {
                    continue;
                }
                let to = match &entry.intent {
                    Intent::Set(Value::Qty(0)) | Intent::Clear => continue,
                    Intent::Set(v) => v.clone(),
                    Intent::NumericBarcode(digits) => Value::Text(digits.clone()),
                };
                out.0.push(Change {
                    sku: row.sku.clone(),
                    row: row.row,
                    cell: entry.cell.clone(),
                    key: key.clone(),
                    from: None,
                    to: Some(to),
                    product_id: existing.map(|p| p.id.clone()).unwrap_or_default(),
                    product_title: product.title.clone(),
                    variant_id: String::new(),
                    inventory_item_id: String::new(),
                    activate: false,
                    note: None,
                    create: Some(new.clone()),
                });
            }
        }
        product.creation.variants = variants
            .into_iter()
            .map(|(row, option_values)| NewVariant {
                sku: row.sku.clone(),
                row: row.row,
                option_values,
            })
            .collect();
        out.1.push(product.creation);
    }
    out
}

/// A handle's product as its rows (and the store, when it has it) describe it.
struct Product {
    creation: Creation,
    title: String,
    /// Which option columns (1..=3) give the values, by option position.
    columns: Vec<usize>,
    /// A problem that fails every row of the handle.
    error: Option<String>,
}

impl Product {
    fn read(
        handle: &str,
        rows: &[&Row],
        existing: Option<&HandleProduct>,
        ctx: &CreateContext,
    ) -> Product {
        let stated = |name: &str| -> Vec<&str> {
            let mut all: Vec<&str> = rows
                .iter()
                .filter_map(|r| r.product.get(name).map(|v| v.trim()))
                .filter(|v| !v.is_empty())
                .collect();
            all.dedup();
            all
        };
        let text = |field: Field| -> Vec<String> {
            let mut all: Vec<String> = rows
                .iter()
                .filter_map(|r| r.values.get(&FieldKey::variant(field)))
                .map(|e| match &e.intent {
                    Intent::Set(Value::Text(t)) => t.clone(),
                    _ => String::new(),
                })
                .collect();
            all.sort();
            all.dedup();
            all
        };
        let mut error = None;
        let mut disagree = |what: &str, values: &[String]| {
            if values.len() > 1 && error.is_none() {
                error = Some(format!(
                    "rows of handle {handle:?} state different {what} ({}); make them agree",
                    values.join(", ")
                ));
            }
        };
        let (title, status, tags, vendor) = (
            text(Field::Title),
            text(Field::Status),
            text(Field::Tags),
            text(Field::Vendor),
        );
        let (product_type, description) = (text(Field::ProductType), text(Field::Description));
        // Option columns with a name or a value on any row, and their names.
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for i in 1..=3 {
            let name = stated(&format!("option{i}_name"));
            let value = stated(&format!("option{i}_value"));
            if name.is_empty() && value.is_empty() {
                continue;
            }
            columns.push(i);
            let mut name: Vec<String> = name.iter().map(|n| (*n).to_owned()).collect();
            name.sort();
            name.dedup();
            disagree(&format!("option {i} names"), &name);
            names.push(name.into_iter().next());
        }
        let creation = match existing {
            Some(p) => {
                for (stated, store) in names.iter().zip(&p.options) {
                    if let Some(n) = stated.as_ref().filter(|n| *n != store)
                        && error.is_none()
                    {
                        error = Some(format!(
                            "option {n:?} is not an option of the store's product {handle:?} \
                             (its options: {})",
                            p.options.join(", ")
                        ));
                    }
                }
                if error.is_none() && !columns.is_empty() && columns.len() != p.options.len() {
                    error = Some(format!(
                        "the store's product {handle:?} has {} option(s) ({}); give a value \
                         for each",
                        p.options.len(),
                        p.options.join(", ")
                    ));
                }
                Creation {
                    handle: handle.to_owned(),
                    product_id: Some(p.id.clone()),
                    title: p.title.clone(),
                    status: String::new(),
                    tags: Vec::new(),
                    vendor: None,
                    product_type: None,
                    description: None,
                    options: p.options.clone(),
                    remove_standalone: ctx.journaled.contains(handle)
                        && matches!(p.skus.as_slice(), [None]),
                    variants: Vec::new(),
                }
            }
            None => {
                disagree("titles", &title);
                disagree("statuses", &status);
                disagree("tags", &tags);
                disagree("vendors", &vendor);
                disagree("product types", &product_type);
                disagree("descriptions", &description);
                if title.is_empty() && error.is_none() {
                    error = Some(format!(
                        "no row of handle {handle:?} gives a title, which a new product needs"
                    ));
                }
                let mut options = Vec::new();
                for (name, i) in names.iter().zip(&columns) {
                    match name {
                        Some(n) => options.push(n.clone()),
                        None if error.is_none() => {
                            error = Some(format!(
                                "rows of handle {handle:?} give option {i} values but no row \
                                 names the option"
                            ));
                        }
                        None => {}
                    }
                }
                if columns.is_empty() {
                    options.push(DEFAULT_OPTION.0.to_owned());
                }
                Creation {
                    handle: handle.to_owned(),
                    product_id: None,
                    title: title.first().cloned().unwrap_or_default(),
                    status: status.first().cloned().unwrap_or_else(|| "DRAFT".into()),
                    tags: tags
                        .first()
                        .map(|t| crate::model::tags_list(t))
                        .unwrap_or_default(),
                    vendor: vendor.first().cloned(),
                    product_type: product_type.first().cloned(),
                    description: description.first().cloned(),
                    options,
                    remove_standalone: true,
                    variants: Vec::new(),
                }
            }
        };
        Product {
            title: creation.title.clone(),
            creation,
            columns,
            error,
        }
    }

    /// The row's value for each option, in option order.
    fn option_values(&self, row: &Row) -> Result<Vec<String>, String> {
        if self.columns.is_empty() {
            return match self.creation.options.as_slice() {
                [only] if only == DEFAULT_OPTION.0 => Ok(vec![DEFAULT_OPTION.1.to_owned()]),
                options => Err(format!(
                    "the store's product {:?} has options ({}); give this row a value for each",
                    self.creation.handle,
                    options.join(", ")
                )),
            };
        }
        self.columns
            .iter()
            .zip(&self.creation.options)
            .map(|(i, name)| {
                row.product
                    .get(format!("option{i}_value").as_str())
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("a new variant needs a value for option {name:?}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::handleize;

    #[test]
    fn handles_are_normalised_as_shopify_does() {
        // product-create-parity.json: createNormalization / createPunctuationNormalization.
        assert_eq!(
            handleize("  Weird Handle / 100%  ").as_deref(),
            Some("weird-handle-100")
        );
        assert_eq!(handleize("Classic Cap").as_deref(), Some("classic-cap"));
        assert_eq!(handleize("%%%"), None);
        assert_eq!(handleize("   "), None);
    }
}
