//! Publishing created products (`sync.publish_to`): the store's publications by the name
//! the merchant sees, a product's publications (re-read to find what an earlier run
//! created but did not publish, and to settle a publish a killed run left open), and
//! `publishablePublish`. Bodies are built here, pure, so the executor can journal the
//! exact bytes it sends.
//!
//! A publication's name is its catalog's title (`Publication.catalog.title`):
//! `Publication.name` is deprecated in 2026-07 in favour of it. A publication without a
//! catalog has no name a config could use.

use std::collections::BTreeSet;

use graphql_client::QueryBody;
use serde::Serialize;

use super::StoreError;
use super::client::{PageSizer, ShopifyClient};
use super::ops::UserError;

pub mod queries {
    pub use super::super::ops::queries::{
        ProductPublications, Publications, PublishablePublish, product_publications, publications,
        publishable_publish,
    };
}

use queries::{product_publications, publications, publishable_publish};

/// A publication (sales channel) of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePublication {
    pub id: String,
    /// The name the merchant sees (the catalog's title), e.g. `Online Store`; `None`
    /// for a publication without a catalog.
    pub name: Option<String>,
}

/// What the store says about a product's publications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPublications {
    pub id: String,
    pub title: String,
    /// The product has only the SKU-less variant `productCreate` made: its variants are
    /// not in yet, and it must not be shown on a channel like that.
    pub placeholder_only: bool,
    /// Ids of the publications it is published to.
    pub published: BTreeSet<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicationInput<'a> {
    publication_id: &'a str,
}

#[derive(Serialize)]
struct PublishVariables<'a> {
    id: &'a str,
    input: Vec<PublicationInput<'a>>,
}

/// The `publishablePublish` body publishing `product_id` to `publication_ids`.
pub fn publish_body(product_id: &str, publication_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&QueryBody {
        variables: PublishVariables {
            id: product_id,
            input: publication_ids
                .iter()
                .map(|id| PublicationInput { publication_id: id })
                .collect(),
        },
        query: publishable_publish::QUERY,
        operation_name: publishable_publish::OPERATION_NAME,
    })
    .unwrap_or_default()
}

/// The publication ids a `publishablePublish` body names (recovery reads them back).
pub fn publish_body_ids(body: &[u8]) -> Vec<String> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    body["variables"]["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["publicationId"].as_str().map(str::to_owned))
        .collect()
}

impl ShopifyClient {
    /// Every publication of the store, in the store's order.
    pub async fn publications(&self) -> Result<Vec<StorePublication>, StoreError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        // Priced as Shopify does: each node 1 plus its catalog.
        let mut sizer = PageSizer::new("Publications", 2.0, 2.0, 250);
        loop {
            let (data, _) = self
                .run_page::<publications::ResponseData>(&mut sizer, i64::MAX, |first| {
                    super::ops::body::<queries::Publications>(publications::Variables {
                        first,
                        after: after.clone(),
                    })
                })
                .await?;
            let page = data.publications;
            all.extend(page.nodes.into_iter().map(|p| StorePublication {
                id: p.id,
                name: p.catalog.map(|c| c.title),
            }));
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        Ok(all)
    }

    /// The publications of the product with `handle` (`None`: the store has none such).
    /// `first` bounds a page of its publications (the store's count of publications is
    /// enough for one); the bucket may make pages smaller, and they are read in turn.
    pub async fn product_publications(
        &self,
        handle: &str,
        first: usize,
    ) -> Result<Option<ProductPublications>, StoreError> {
        let most = i64::try_from(first.clamp(1, 250)).unwrap_or(250);
        // The product, its first two variants (2 + 2), and per publication 2.
        let mut sizer = PageSizer::new("ProductPublications", 7.0, 2.0, most);
        let mut after: Option<String> = None;
        let mut found: Option<ProductPublications> = None;
        loop {
            let (data, _) = self
                .run_page::<product_publications::ResponseData>(&mut sizer, i64::MAX, |first| {
                    super::ops::body::<queries::ProductPublications>(
                        product_publications::Variables {
                            handle: handle.to_owned(),
                            first,
                            after: after.clone(),
                        },
                    )
                })
                .await?;
            let Some(p) = data.product_by_identifier else {
                return Ok(None);
            };
            let published = p
                .resource_publications
                .nodes
                .into_iter()
                .map(|r| r.publication.id);
            match &mut found {
                Some(product) if product.id == p.id => product.published.extend(published),
                _ => {
                    let skus: Vec<bool> = p
                        .variants
                        .nodes
                        .iter()
                        .map(|v| v.sku.as_deref().is_some_and(|s| !s.trim().is_empty()))
                        .collect();
                    found = Some(ProductPublications {
                        id: p.id,
                        title: p.title,
                        placeholder_only: skus == [false],
                        published: published.collect(),
                    });
                }
            }
            let info = p.resource_publications.page_info;
            match (info.has_next_page, info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(found),
            }
        }
    }

    /// Sends a `publishablePublish` body; Shopify's userErrors (empty: published).
    pub async fn send_publish(&self, body: &[u8]) -> Result<Vec<UserError>, StoreError> {
        let hint = self.first_hint("PublishablePublish", 10.0);
        let (data, _) = self
            .run::<publishable_publish::ResponseData>(body, hint)
            .await?;
        let errors = data
            .publishable_publish
            .map(|p| p.user_errors)
            .unwrap_or_default()
            .into_iter()
            .map(|e| UserError::new(e.field, None, e.message, &["input"]))
            .collect();
        Ok(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_body_names_each_publication_and_reads_back() {
        let ids = vec![
            "gid://shopify/Publication/1".to_owned(),
            "gid://shopify/Publication/2".to_owned(),
        ];
        let body = publish_body("gid://shopify/Product/7", &ids);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["variables"]["id"], "gid://shopify/Product/7");
        assert_eq!(
            json["variables"]["input"][1]["publicationId"],
            "gid://shopify/Publication/2"
        );
        assert_eq!(json["operationName"], "PublishablePublish");
        assert_eq!(publish_body_ids(&body), ids);
    }
}
