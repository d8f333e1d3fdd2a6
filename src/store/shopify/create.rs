//! Creating products and variants (`sync.create_missing`): looking a handle up with
//! `productByIdentifier` (never a search, which lags behind writes), `productCreate`, and
//! `productVariantsBulkCreate`. Bodies are built here, pure, so the executor can journal
//! the exact bytes before it sends them.

use graphql_client::QueryBody;
use rust_decimal::Decimal;
use serde::Serialize;

use super::StoreError;
use super::client::{PageSizer, ShopifyClient};
use super::ops::UserError;
use crate::plan::create::HandleProduct;

/// Most variants one `productVariantsBulkCreate` call may carry.
pub const MAX_CREATE_VARIANTS: usize = 250;

pub mod queries {
    pub use super::super::ops::queries::{
        ProductByHandle, ProductCreate, VariantsBulkCreate, product_by_handle, product_create,
        variants_bulk_create,
    };
}

use queries::{product_by_handle, product_create, variants_bulk_create};

/// A product to create: only what the sheet states, plus its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProduct {
    pub handle: String,
    pub title: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    /// Omitted for a product without options: Shopify then gives it `Title`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_options: Vec<NewOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOption {
    pub name: String,
    pub values: Vec<Named>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    pub name: String,
}

/// One variant to create. Its SKU and cost travel on the inventory item, its stock as
/// `inventoryQuantities` (which stocks it at those locations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewVariantInput {
    pub option_values: Vec<OptionValue>,
    pub price: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    pub inventory_item: NewItem,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inventory_quantities: Vec<LevelInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionValue {
    pub option_name: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewItem {
    pub sku: String,
    pub tracked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelInput {
    pub available_quantity: i64,
    pub location_id: String,
}

#[derive(Serialize)]
struct CreateVariables<'a> {
    product: &'a NewProduct,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BulkCreateVariables<'a> {
    product_id: &'a str,
    variants: &'a [NewVariantInput],
    strategy: &'static str,
}

/// The `productCreate` body for `product`.
pub fn product_create_body(product: &NewProduct) -> Vec<u8> {
    serde_json::to_vec(&QueryBody {
        variables: CreateVariables { product },
        query: product_create::QUERY,
        operation_name: product_create::OPERATION_NAME,
    })
    .unwrap_or_default()
}

/// The `productVariantsBulkCreate` body. `replace_standalone` removes the lone variant
/// `productCreate` made (`REMOVE_STANDALONE_VARIANT`); otherwise every variant the product
/// has is kept (`PRESERVE_STANDALONE_VARIANT`): a merchant's single variant is never lost.
pub fn bulk_create_body(
    product_id: &str,
    variants: &[NewVariantInput],
    replace_standalone: bool,
) -> Vec<u8> {
    serde_json::to_vec(&QueryBody {
        variables: BulkCreateVariables {
            product_id,
            variants,
            strategy: if replace_standalone {
                "REMOVE_STANDALONE_VARIANT"
            } else {
                "PRESERVE_STANDALONE_VARIANT"
            },
        },
        query: variants_bulk_create::QUERY,
        operation_name: variants_bulk_create::OPERATION_NAME,
    })
    .unwrap_or_default()
}

/// What one `productVariantsBulkCreate` did: the SKUs created (with their variant ids),
/// and the userErrors (`index` = the input variant they name, if any). Shopify validates
/// the whole call first: with an error, nothing of it was created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkCreateOutcome {
    pub created: Vec<(String, String)>,
    pub errors: Vec<UserError>,
}

impl ShopifyClient {
    /// The product with `handle`, if the store has one.
    pub async fn product_by_handle(
        &self,
        handle: &str,
    ) -> Result<Option<HandleProduct>, StoreError> {
        // The product and its options, then its variants page by page: a product may have
        // more variants (up to 2,048) than one page holds, or than a small bucket affords.
        let mut sizer = PageSizer::new("ProductByHandle", 4.0, 1.0, 250);
        let mut after: Option<String> = None;
        let mut found: Option<HandleProduct> = None;
        loop {
            let (data, _) = self
                .run_page::<product_by_handle::ResponseData>(&mut sizer, i64::MAX, |first| {
                    super::ops::body::<queries::ProductByHandle>(product_by_handle::Variables {
                        handle: handle.to_owned(),
                        first,
                        after: after.clone(),
                    })
                })
                .await?;
            let Some(p) = data.product_by_identifier else {
                // Gone between two pages, or never there.
                return Ok(None);
            };
            let skus = p
                .variants
                .nodes
                .into_iter()
                .map(|v| v.sku.filter(|s| !s.trim().is_empty()));
            match &mut found {
                Some(product) if product.id == p.id => product.skus.extend(skus),
                _ => {
                    let mut options = p.options;
                    options.sort_by_key(|o| o.position);
                    found = Some(HandleProduct {
                        id: p.id,
                        title: p.title,
                        options: options.into_iter().map(|o| o.name).collect(),
                        skus: skus.collect(),
                    });
                }
            }
            let info = p.variants.page_info;
            match (info.has_next_page, info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(found),
            }
        }
    }

    /// Sends a `productCreate` body: the new product's id, or Shopify's userErrors.
    pub async fn send_product_create(
        &self,
        body: &[u8],
    ) -> Result<Result<String, Vec<UserError>>, StoreError> {
        let hint = self.first_hint("ProductCreate", 14.0);
        let (data, _) = self.run::<product_create::ResponseData>(body, hint).await?;
        let payload = data.product_create;
        let errors: Vec<UserError> = payload
            .as_ref()
            .map(|p| p.user_errors.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|e| UserError::new(e.field, None, e.message, &[]))
            .collect();
        match payload.and_then(|p| p.product) {
            Some(product) if errors.is_empty() => Ok(Ok(product.id)),
            _ => Ok(Err(errors)),
        }
    }

    /// Sends a `productVariantsBulkCreate` body of `n` variants.
    pub async fn send_bulk_create(
        &self,
        body: &[u8],
        n: usize,
    ) -> Result<BulkCreateOutcome, StoreError> {
        // Documented: 10 + 0.2 per variant (SHOPIFY.md §2).
        let hint = self.first_hint("VariantsBulkCreate", (10.0 + 0.2 * n as f64).ceil());
        let (data, _) = self
            .run::<variants_bulk_create::ResponseData>(body, hint)
            .await?;
        let payload = data.product_variants_bulk_create;
        let errors = payload
            .as_ref()
            .map(|p| p.user_errors.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|e| UserError::new(e.field, e.code, e.message, &["variants"]))
            .collect();
        let created = payload
            .and_then(|p| p.product_variants)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.sku.map(|sku| (sku, v.id)))
            .collect();
        Ok(BulkCreateOutcome { created, errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_create_body_names_the_strategy_and_omits_what_the_sheet_leaves_out() {
        let variant = NewVariantInput {
            option_values: vec![OptionValue {
                option_name: "Size".into(),
                name: "M".into(),
            }],
            price: Decimal::new(1900, 2),
            compare_at_price: None,
            barcode: None,
            inventory_item: NewItem {
                sku: "TEE-M".into(),
                tracked: true,
                cost: None,
            },
            inventory_quantities: vec![],
        };
        let body: serde_json::Value = serde_json::from_slice(&bulk_create_body(
            "gid://shopify/Product/1",
            &[variant],
            true,
        ))
        .unwrap();
        let vars = &body["variables"];
        assert_eq!(vars["strategy"], "REMOVE_STANDALONE_VARIANT");
        assert_eq!(vars["variants"][0]["price"], "19.00");
        assert_eq!(vars["variants"][0]["inventoryItem"]["sku"], "TEE-M");
        assert!(vars["variants"][0].get("compareAtPrice").is_none());
        assert!(vars["variants"][0].get("inventoryQuantities").is_none());
        let kept = bulk_create_body("gid://shopify/Product/1", &[], false);
        assert!(String::from_utf8_lossy(&kept).contains("PRESERVE_STANDALONE_VARIANT"));
    }

    #[test]
    fn product_create_body_sends_options_only_when_there_are_some() {
        let mut product = NewProduct {
            handle: "tee".into(),
            title: "Tee".into(),
            status: "DRAFT".into(),
            tags: vec![],
            vendor: None,
            product_type: None,
            description_html: None,
            product_options: vec![],
        };
        let plain: serde_json::Value =
            serde_json::from_slice(&product_create_body(&product)).unwrap();
        assert!(
            plain["variables"]["product"]
                .get("productOptions")
                .is_none()
        );
        assert!(plain["variables"]["product"].get("vendor").is_none());
        product.product_options.push(NewOption {
            name: "Size".into(),
            values: vec![Named { name: "M".into() }],
        });
        let with: serde_json::Value =
            serde_json::from_slice(&product_create_body(&product)).unwrap();
        assert_eq!(
            with["variables"]["product"]["productOptions"][0]["values"][0]["name"],
            "M"
        );
    }
}
