//! The GraphQL operations of `graphql/`, typed by graphql_client against
//! `graphql/schema.graphql`, plus the pure halves of talking to Shopify: building request
//! bodies from domain values and mapping response data back into domain values. Nothing
//! here touches the network, so every byte we send and every mapping is unit-tested.
//!
//! Two mutations need care with `null` (CRATES.md §4): `InventorySetQuantitiesInput`
//! requires `changeFromQuantity` to be present even when it is `null`, so `InventorySet`
//! is derived without `skip_serializing_none`; and `ProductVariantsBulkInput` must send
//! `null` to clear a field but omit the fields it leaves alone, which no derived struct can
//! express, so its variables are our own [`BulkUpdateVariables`] with a tri-state [`Patch`].

use std::collections::HashMap;
use std::sync::Arc;

use graphql_client::{GraphQLQuery, QueryBody};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::model::{LocationName, Sku};
use crate::plan::{Stock, StoreProduct, StoreVariant};

/// Most quantities one `inventorySetQuantities` call may carry.
pub const MAX_SET_ITEMS: usize = 250;

/// Custom scalars of the Admin schema, as graphql_client's generated code names them.
pub mod scalars {
    /// Shopify sends decimals as JSON strings (`"12.50"`); rust_decimal reads and writes those.
    pub type Decimal = rust_decimal::Decimal;
    /// A decimal string without currency (`"24.90"`).
    pub type Money = rust_decimal::Decimal;
    pub type URL = String;
    pub type DateTime = String;
    pub type UnsignedInt64 = String;
    pub type JSON = serde_json::Value;
    /// HTML text (a product's `descriptionHtml`), passed through as it is.
    pub type HTML = String;
}

/// The graphql_client derives. Kept in their own module because the operation structs
/// (`ShopInfo`, …) share names with the domain types below; the generated modules
/// (`shop_info`, …) are re-exported.
pub mod queries {
    use graphql_client::GraphQLQuery;

    // Enums we only read and pass on as text: an extern String keeps values Shopify adds later.
    pub type CurrencyCode = String;
    pub type InventorySetQuantitiesUserErrorCode = String;
    pub type ProductVariantsBulkUpdateUserErrorCode = String;
    pub type BulkOperationStatus = String;
    pub type BulkOperationErrorCode = String;
    pub type BulkOperationUserErrorCode = String;
    pub type CountPrecision = String;
    pub type ProductStatus = String;
    pub type BulkMutationErrorCode = String;
    pub type StagedUploadTargetGenerateUploadResource = String;
    pub type StagedUploadHttpMethodType = String;
    pub type ProductVariantsBulkCreateUserErrorCode = String;

    /// `$file:tt`, not `literal`: the derive cannot see through a `literal` fragment.
    macro_rules! operation {
        ($name:ident, $file:tt $(, $extra:ident)?) => {
            #[derive(GraphQLQuery)]
            #[graphql(
                schema_path = "graphql/schema.graphql",
                query_path = $file,
                custom_scalars_module = "crate::store::shopify::ops::scalars",
                response_derives = "Debug, Clone",
                variables_derives = "Debug, Clone",
                extern_enums(
                    "CurrencyCode",
                    "InventorySetQuantitiesUserErrorCode",
                    "ProductVariantsBulkUpdateUserErrorCode",
                    "BulkOperationStatus",
                    "BulkOperationErrorCode",
                    "BulkOperationUserErrorCode",
                    "CountPrecision",
                    "ProductStatus",
                    "BulkMutationErrorCode",
                    "StagedUploadTargetGenerateUploadResource",
                    "StagedUploadHttpMethodType",
                    "ProductVariantsBulkCreateUserErrorCode"
                ),
                fragments_other_variant = "true"
                $(, $extra)?
            )]
            pub struct $name;
        };
    }

    operation!(ShopInfo, "graphql/shop_info.graphql", skip_serializing_none);
    operation!(
        Locations,
        "graphql/locations.graphql",
        skip_serializing_none
    );
    operation!(
        VariantsPage,
        "graphql/variants_page.graphql",
        skip_serializing_none
    );
    operation!(
        VariantsByIds,
        "graphql/variants_by_ids.graphql",
        skip_serializing_none
    );
    operation!(
        InventoryLevels,
        "graphql/inventory_levels.graphql",
        skip_serializing_none
    );
    // Only its response type and query text are used; the variables are `BulkUpdateVariables`.
    operation!(
        VariantsBulkUpdate,
        "graphql/variants_bulk_update.graphql",
        skip_serializing_none
    );
    // Without skip_serializing_none: `changeFromQuantity: null` must reach Shopify.
    operation!(InventorySet, "graphql/inventory_set.graphql");
    operation!(
        VariantsCount,
        "graphql/variants_count.graphql",
        skip_serializing_none
    );
    operation!(
        BulkRunQuery,
        "graphql/bulk_run_query.graphql",
        skip_serializing_none
    );
    operation!(
        BulkOperationPoll,
        "graphql/bulk_operation.graphql",
        skip_serializing_none
    );
    operation!(
        StagedUploadsCreate,
        "graphql/staged_uploads_create.graphql",
        skip_serializing_none
    );
    operation!(
        BulkRunMutation,
        "graphql/bulk_run_mutation.graphql",
        skip_serializing_none
    );
    // Only its response type and query text are used; the variables are `ProductUpdate`.
    operation!(
        ProductUpdate,
        "graphql/product_update.graphql",
        skip_serializing_none
    );
    operation!(
        InventoryActivate,
        "graphql/inventory_activate.graphql",
        skip_serializing_none
    );

    // Creating and publishing products (`super::super::{create, publish}`); only their
    // response types and query texts are used where the variables are built by hand.
    operation!(
        ProductByHandle,
        "graphql/product_by_handle.graphql",
        skip_serializing_none
    );
    operation!(
        ProductCreate,
        "graphql/product_create.graphql",
        skip_serializing_none
    );
    operation!(
        VariantsBulkCreate,
        "graphql/variants_bulk_create.graphql",
        skip_serializing_none
    );
    operation!(
        Publications,
        "graphql/publications.graphql",
        skip_serializing_none
    );
    operation!(
        ProductPublications,
        "graphql/product_publications.graphql",
        skip_serializing_none
    );
    operation!(
        PublishablePublish,
        "graphql/publishable_publish.graphql",
        skip_serializing_none
    );
}

pub use queries::{
    inventory_activate, inventory_levels, inventory_set, locations, product_update, shop_info,
    variants_bulk_update, variants_by_ids, variants_page,
};

/// Scopes the engine needs (SHOPIFY.md §7f); `write_x` implies `read_x`.
pub const REQUIRED_SCOPES: &[&str] = &[
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
];

/// Scopes `sync.publish_to` needs besides [`REQUIRED_SCOPES`]: reading the publications
/// (to resolve the configured names) and publishing to them.
pub const PUBLISH_SCOPES: &[&str] = &["read_publications", "write_publications"];

/// The scopes a config needs: [`REQUIRED_SCOPES`], and [`PUBLISH_SCOPES`] when it
/// publishes what it creates.
pub fn required_scopes(publish: bool) -> Vec<&'static str> {
    let mut all = REQUIRED_SCOPES.to_vec();
    if publish {
        all.extend_from_slice(PUBLISH_SCOPES);
    }
    all
}

/// The request body for `Q`, exactly as sent.
pub fn body<Q: GraphQLQuery>(variables: Q::Variables) -> Vec<u8> {
    to_bytes(&Q::build_query(variables))
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs into memory cannot fail (no maps with non-string
    // keys, no failing Serialize impls), so an empty body here would be a programming bug.
    serde_json::to_vec(value).unwrap_or_default()
}

// ---- shop and locations ----

/// What `sheetsync check` reports about the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopInfo {
    pub name: String,
    pub domain: String,
    pub currency: String,
    /// Granted access scopes, as handles (`write_products`).
    pub scopes: Vec<String>,
}

impl ShopInfo {
    /// Required scopes not granted; a `write_x` grant covers `read_x`.
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        REQUIRED_SCOPES
            .iter()
            .copied()
            .filter(|need| {
                let write = need.replacen("read_", "write_", 1);
                !self.scopes.iter().any(|s| s == need || *s == write)
            })
            .collect()
    }
}

pub fn shop_info(data: shop_info::ResponseData) -> ShopInfo {
    ShopInfo {
        name: data.shop.name,
        domain: data.shop.myshopify_domain,
        currency: data.shop.currency_code,
        scopes: data
            .current_app_installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub id: String,
    pub name: String,
    pub active: bool,
}

/// One page of locations and the cursor of the next page, if any.
pub fn locations_page(data: locations::ResponseData) -> (Vec<StoreLocation>, Option<String>) {
    let conn = data.locations;
    let next = next_cursor(conn.page_info.has_next_page, conn.page_info.end_cursor);
    let locs = conn
        .nodes
        .into_iter()
        .map(|l| StoreLocation {
            id: l.id,
            name: l.name,
            active: l.is_active,
        })
        .collect();
    (locs, next)
}

fn next_cursor(has_next: bool, end: Option<String>) -> Option<String> {
    if has_next { end } else { None }
}

// ---- reading variants ----

/// A variant as either read operation returns it, before locations are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRecord {
    pub id: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub compare_at_price: Option<Decimal>,
    pub barcode: Option<String>,
    pub requires_components: bool,
    pub product_id: String,
    pub product_title: String,
    pub product_status: String,
    pub tags: Vec<String>,
    pub vendor: String,
    pub product_type: String,
    /// `descriptionHtml`, as Shopify returns it.
    pub description: String,
    pub inventory_item_id: String,
    pub tracked: bool,
    pub cost: Option<Decimal>,
    /// `available` per location id, for each level the item has.
    pub levels: Vec<(String, Option<i64>)>,
    /// Where the item's levels go on when a page of them did not hold them all (a small
    /// bucket at a store with many locations); `None` once `levels` is complete.
    pub levels_after: Option<String>,
}

// The fragment is generated once per operation module, as distinct types with the same shape.
macro_rules! variant_record_from {
    ($module:ident) => {
        impl From<$module::VariantFields> for VariantRecord {
            fn from(v: $module::VariantFields) -> Self {
                let item = v.inventory_item;
                VariantRecord {
                    id: v.id,
                    sku: v.sku,
                    price: v.price,
                    compare_at_price: v.compare_at_price,
                    barcode: v.barcode,
                    requires_components: v.requires_components,
                    product_id: v.product.id,
                    product_title: v.product.title,
                    product_status: v.product.status,
                    tags: v.product.tags,
                    vendor: v.product.vendor,
                    product_type: v.product.product_type,
                    description: v.product.description_html,
                    inventory_item_id: item.id,
                    tracked: item.tracked,
                    cost: item.unit_cost.map(|c| c.amount),
                    levels_after: next_cursor(
                        item.inventory_levels.page_info.has_next_page,
                        item.inventory_levels.page_info.end_cursor,
                    ),
                    levels: item
                        .inventory_levels
                        .nodes
                        .into_iter()
                        .map(|l| {
                            let available = l
                                .quantities
                                .iter()
                                .find(|q| q.name == "available")
                                .map(|q| q.quantity);
                            (l.location.id, available)
                        })
                        .collect(),
                }
            }
        }
    };
}
variant_record_from!(variants_page);
variant_record_from!(variants_by_ids);

pub fn variants_page_variables(
    first: i64,
    after: Option<String>,
    levels: i64,
) -> variants_page::Variables {
    variants_page::Variables {
        first,
        after,
        levels,
    }
}

pub fn variants_page(data: variants_page::ResponseData) -> (Vec<VariantRecord>, Option<String>) {
    let conn = data.product_variants;
    let next = next_cursor(conn.page_info.has_next_page, conn.page_info.end_cursor);
    (
        conn.nodes.into_iter().map(VariantRecord::from).collect(),
        next,
    )
}

pub fn variants_by_ids_variables(ids: &[String], levels: i64) -> variants_by_ids::Variables {
    variants_by_ids::Variables {
        ids: ids.to_vec(),
        levels,
    }
}

/// One page of an item's inventory levels: `available` per location id, and the cursor of
/// the next page; `None` when the item is gone.
#[allow(clippy::type_complexity)]
pub fn inventory_levels_page(
    data: inventory_levels::ResponseData,
) -> Option<(Vec<(String, Option<i64>)>, Option<String>)> {
    let conn = data.inventory_item?.inventory_levels;
    let next = next_cursor(conn.page_info.has_next_page, conn.page_info.end_cursor);
    let levels = conn
        .nodes
        .into_iter()
        .map(|l| {
            let available = l
                .quantities
                .iter()
                .find(|q| q.name == "available")
                .map(|q| q.quantity);
            (l.location.id, available)
        })
        .collect();
    Some((levels, next))
}

/// The variants among the requested nodes; deleted ids (null) and other types are dropped.
pub fn variants_by_ids(data: variants_by_ids::ResponseData) -> Vec<VariantRecord> {
    data.nodes
        .into_iter()
        .flatten()
        .filter_map(|node| match node {
            variants_by_ids::VariantsByIdsNodes::ProductVariant(v) => Some(VariantRecord::from(v)),
            _ => None,
        })
        .collect()
}

/// The domain view of a variant: stock keyed by configured location name, `None` where the
/// item has no inventory level at that location (or the level reports no `available`).
pub fn store_variant(
    rec: VariantRecord,
    locations: &[(LocationName, String)],
) -> (Option<Sku>, StoreVariant) {
    VariantMapper::new(locations).map(rec)
}

/// Turns records into [`StoreVariant`]s for one snapshot, sharing what variants have in
/// common: the location names (one list) and each product's fields (one `Arc` per
/// product), so a large catalogue holds a product's description once, not per variant.
pub struct VariantMapper<'a> {
    locations: &'a [(LocationName, String)],
    names: Arc<[LocationName]>,
    products: HashMap<String, Arc<StoreProduct>>,
}

impl<'a> VariantMapper<'a> {
    pub fn new(locations: &'a [(LocationName, String)]) -> VariantMapper<'a> {
        VariantMapper {
            locations,
            names: locations.iter().map(|(name, _)| name.clone()).collect(),
            products: HashMap::new(),
        }
    }

    /// The variant (and its SKU, if it has one).
    pub fn map(&mut self, rec: VariantRecord) -> (Option<Sku>, StoreVariant) {
        let levels = self
            .locations
            .iter()
            .map(|(_, id)| {
                rec.levels
                    .iter()
                    .find(|(level_id, _)| level_id == id)
                    .and_then(|(_, q)| *q)
            })
            .collect();
        let sku = rec.sku.as_deref().and_then(Sku::new);
        let product = StoreProduct {
            id: rec.product_id,
            title: rec.product_title,
            status: rec.product_status,
            tags: rec.tags,
            vendor: rec.vendor,
            product_type: rec.product_type,
            description: rec.description,
        };
        // Records of one product normally carry the same fields; should a product change
        // between two pages of a read, each variant keeps what was read with it.
        let product = match self.products.get(&product.id) {
            Some(shared) if **shared == product => Arc::clone(shared),
            _ => {
                let shared = Arc::new(product);
                self.products.insert(shared.id.clone(), Arc::clone(&shared));
                shared
            }
        };
        let variant = StoreVariant {
            variant_id: rec.id.into(),
            product,
            inventory_item_id: rec.inventory_item_id.into(),
            price: rec.price,
            compare_at_price: rec.compare_at_price,
            cost: rec.cost,
            barcode: rec.barcode.filter(|b| !b.is_empty()),
            tracked: rec.tracked,
            bundle: rec.requires_components,
            stock: Stock::new(Arc::clone(&self.names), levels),
            woo: None,
        };
        (sku, variant)
    }
}

// ---- userErrors ----

/// A `userErrors[]` entry, with the input index its `field` path points at (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub index: Option<usize>,
    pub field: Vec<String>,
    pub code: Option<String>,
    pub message: String,
}

impl UserError {
    /// `prefix` is the path up to the list (`["variants"]`, `["input","quantities"]`); the
    /// next element is the index, as a string (SHOPIFY.md §3.1, §4.1).
    pub(super) fn new(
        field: Option<Vec<String>>,
        code: Option<String>,
        message: String,
        prefix: &[&str],
    ) -> UserError {
        let field = field.unwrap_or_default();
        let index = (field.len() > prefix.len() && field.iter().zip(prefix).all(|(a, b)| a == b))
            .then(|| field[prefix.len()].parse().ok())
            .flatten();
        UserError {
            index,
            field,
            code,
            message,
        }
    }
}

// ---- productVariantsBulkUpdate ----

/// A field of a variant update: leave it, clear it (`null`), or set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Never reached: fields holding `Keep` are skipped.
            Patch::Keep | Patch::Clear => s.serialize_none(),
            Patch::Set(v) => v.serialize(s),
        }
    }
}

/// The changes for one variant; price cannot be cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantUpdate {
    pub variant_id: String,
    pub price: Option<Decimal>,
    pub compare_at_price: Patch<Decimal>,
    pub barcode: Patch<String>,
    pub cost: Patch<Decimal>,
}

/// `$variants` and `$productId` of `VariantsBulkUpdate`, in the wire shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkUpdateVariables {
    pub product_id: String,
    pub variants: Vec<BulkVariantInput>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkVariantInput {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub compare_at_price: Patch<Decimal>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub barcode: Patch<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory_item: Option<BulkInventoryItemInput>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BulkInventoryItemInput {
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub cost: Patch<Decimal>,
}

pub fn bulk_update_variables(product_id: &str, updates: &[VariantUpdate]) -> BulkUpdateVariables {
    BulkUpdateVariables {
        product_id: product_id.to_owned(),
        variants: updates
            .iter()
            .map(|u| BulkVariantInput {
                id: u.variant_id.clone(),
                price: u.price,
                compare_at_price: u.compare_at_price.clone(),
                barcode: u.barcode.clone(),
                inventory_item: (!u.cost.is_keep()).then(|| BulkInventoryItemInput {
                    cost: u.cost.clone(),
                }),
            })
            .collect(),
    }
}

pub fn bulk_update_body(product_id: &str, updates: &[VariantUpdate]) -> Vec<u8> {
    to_bytes(&QueryBody {
        variables: bulk_update_variables(product_id, updates),
        query: variants_bulk_update::QUERY,
        operation_name: variants_bulk_update::OPERATION_NAME,
    })
}

/// The variant ids of a bulk-update body, in input order (userError paths index into it).
pub fn bulk_update_ids(body: &[u8]) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("variables")?
        .get("variants")?
        .as_array()?
        .iter()
        .map(|x| x.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantOutcome {
    Updated,
    Failed(Vec<UserError>),
}

/// One outcome per input variant, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkUpdateOutcome {
    pub variants: Vec<(String, VariantOutcome)>,
}

/// With `allowPartialUpdates`, a variant failed iff an error points at its index; an error
/// that points at no variant (`["productId"]`) failed them all.
pub fn bulk_update_outcome(
    variant_ids: &[String],
    data: variants_bulk_update::ResponseData,
) -> BulkUpdateOutcome {
    let errors: Vec<UserError> = data
        .product_variants_bulk_update
        .map(|p| p.user_errors)
        .unwrap_or_default()
        .into_iter()
        .map(|e| UserError::new(e.field, e.code, e.message, &["variants"]))
        .collect();
    let general: Vec<&UserError> = errors.iter().filter(|e| e.index.is_none()).collect();
    let variants = variant_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mine: Vec<UserError> = errors
                .iter()
                .filter(|e| e.index == Some(i))
                .chain(general.iter().copied())
                .cloned()
                .collect();
            let outcome = if mine.is_empty() {
                VariantOutcome::Updated
            } else {
                VariantOutcome::Failed(mine)
            };
            (id.clone(), outcome)
        })
        .collect();
    BulkUpdateOutcome { variants }
}

// ---- productUpdate ----

/// The product fields one `productUpdate` sets. `None` leaves a field alone: only what
/// the sheet states is sent, so lists the sheet does not mention (media, collections,
/// metafields, options) are never part of the input and cannot be replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductUpdate {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `ACTIVE`, `ARCHIVED`, `DRAFT` or `UNLISTED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The whole tag list, as the sheet states it (an empty list removes every tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// An empty string removes the product's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// HTML text; an empty string removes the description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
}

#[derive(Serialize)]
struct ProductUpdateVariables<'a> {
    product: &'a ProductUpdate,
}

pub fn product_update_body(update: &ProductUpdate) -> Vec<u8> {
    to_bytes(&QueryBody {
        variables: ProductUpdateVariables { product: update },
        query: product_update::QUERY,
        operation_name: product_update::OPERATION_NAME,
    })
}

/// `Ok` when Shopify reports no userError; the errors otherwise. A blank title, for
/// one, comes back as a userError with the product unchanged.
pub fn product_update_outcome(data: product_update::ResponseData) -> Result<(), Vec<UserError>> {
    let errors: Vec<UserError> = data
        .product_update
        .map(|p| p.user_errors)
        .unwrap_or_default()
        .into_iter()
        .map(|e| UserError::new(e.field, None, e.message, &[]))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

// ---- inventorySetQuantities ----

/// One absolute `available` quantity to set, compare-and-set against `change_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetQuantity {
    pub item_id: String,
    pub location_id: String,
    pub quantity: i64,
    /// The quantity the plan was based on; `None` skips the check (sent as `null`).
    pub change_from: Option<i64>,
}

pub fn inventory_set_variables(
    items: &[SetQuantity],
    key: &str,
    reference: &str,
) -> inventory_set::Variables {
    inventory_set::Variables {
        input: inventory_set::InventorySetQuantitiesInput {
            name: "available".to_owned(),
            reason: "correction".to_owned(),
            reference_document_uri: Some(reference.to_owned()),
            quantities: items
                .iter()
                .map(|q| inventory_set::InventoryQuantityInput {
                    inventory_item_id: q.item_id.clone(),
                    location_id: q.location_id.clone(),
                    quantity: q.quantity,
                    change_from_quantity: q.change_from,
                })
                .collect(),
        },
        idempotency_key: key.to_owned(),
    }
}

/// The exact body of an `InventorySet` call; journal these bytes and resend them as-is.
pub fn inventory_set_body(items: &[SetQuantity], key: &str, reference: &str) -> Vec<u8> {
    body::<queries::InventorySet>(inventory_set_variables(items, key, reference))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    pub item_id: String,
    pub location_id: String,
    pub name: String,
    pub delta: i64,
    pub quantity_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// No userErrors. `changes` is empty when every quantity already had its target.
    Applied {
        group_id: Option<String>,
        changes: Vec<AppliedChange>,
    },
    /// The call changed nothing (it is all-or-nothing); `index` points into the items.
    UserErrors(Vec<UserError>),
}

pub fn inventory_set_outcome(data: inventory_set::ResponseData) -> SetOutcome {
    let Some(payload) = data.inventory_set_quantities else {
        return SetOutcome::Applied {
            group_id: None,
            changes: Vec::new(),
        };
    };
    if !payload.user_errors.is_empty() {
        return SetOutcome::UserErrors(
            payload
                .user_errors
                .into_iter()
                .map(|e| UserError::new(e.field, e.code, e.message, &["input", "quantities"]))
                .collect(),
        );
    }
    let (group_id, changes) = match payload.inventory_adjustment_group {
        Some(g) => (
            Some(g.id),
            g.changes
                .into_iter()
                .map(|c| AppliedChange {
                    item_id: c.item.map(|i| i.id).unwrap_or_default(),
                    location_id: c.location.map(|l| l.id).unwrap_or_default(),
                    name: c.name,
                    delta: c.delta,
                    quantity_after: c.quantity_after_change,
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    SetOutcome::Applied { group_id, changes }
}

// ---- inventoryActivate ----

pub fn inventory_activate_body(
    item_id: &str,
    location_id: &str,
    available: Option<i64>,
    key: &str,
) -> Vec<u8> {
    body::<queries::InventoryActivate>(inventory_activate::Variables {
        inventory_item_id: item_id.to_owned(),
        location_id: location_id.to_owned(),
        available,
        idempotency_key: key.to_owned(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivateOutcome {
    /// The item is stocked at the location; `available` as Shopify now reports it.
    Activated {
        level_id: String,
        available: Option<i64>,
    },
    UserErrors(Vec<UserError>),
}

pub fn inventory_activate_outcome(data: inventory_activate::ResponseData) -> ActivateOutcome {
    let Some(payload) = data.inventory_activate else {
        return ActivateOutcome::UserErrors(vec![UserError {
            index: None,
            field: Vec::new(),
            code: None,
            message: "inventoryActivate returned no payload".to_owned(),
        }]);
    };
    if !payload.user_errors.is_empty() {
        return ActivateOutcome::UserErrors(
            payload
                .user_errors
                .into_iter()
                .map(|e| UserError::new(e.field, None, e.message, &[]))
                .collect(),
        );
    }
    match payload.inventory_level {
        Some(level) => ActivateOutcome::Activated {
            available: level
                .quantities
                .iter()
                .find(|q| q.name == "available")
                .map(|q| q.quantity),
            level_id: level.id,
        },
        None => ActivateOutcome::UserErrors(vec![UserError {
            index: None,
            field: Vec::new(),
            code: None,
            message: "inventoryActivate returned no inventory level".to_owned(),
        }]),
    }
}
