//! [`Store`] for [`WooClient`]. Reads (shop, snapshot, items by id) and the write-access
//! check are WooCommerce's; Shopify-shaped writes (per-product variant updates, stock by
//! compare-and-set, bulk jobs, publications) do not exist here and are refused with a
//! reason, never faked: WooCommerce's batch writes go through their own path.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{WooClient, WooError, batch};
use crate::model::{LocationName, Sku};
use crate::plan::create::HandleProduct;
use crate::plan::{Snapshot, StoreVariant};
use crate::progress::Reporter;
use crate::state::Outcome;
use crate::store::{
    ActivateOutcome, BulkCreateOutcome, BulkUpdateOutcome, Capabilities, ItemResult, ItemWrite,
    JobEnd, LineResult, NewProduct, NewVariantInput, ProductPublications, ProductUpdate,
    SetOutcome, SetQuantity, ShopInfo, Store, StoreError, StoreLocation, StorePublication,
    UserError, VariantUpdate, WindowOrder,
};

fn unsupported(what: &'static str) -> StoreError {
    StoreError::WooCommerce(WooError::Unsupported(what))
}

/// The executor sends WooCommerce's writes as batches (`batch_body`, `send_batch`); the
/// per-product Shopify calls are never made against this store.
const NOT_BUILT: &str = "this store is written in batches, not by Shopify's per-product calls";

#[async_trait]
impl Store for WooClient {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // No precondition exists in the REST API (WOOCOMMERCE.md §3.1).
            compare_and_set: false,
            bulk: false,
            bulk_mutation_threshold: u64::MAX,
            max_in_flight: self.max_concurrency(),
            batch_limit: super::client::PAGE,
            reread_before_write: true,
        }
    }

    fn set_cancel(&self, cancel: CancellationToken) {
        WooClient::set_cancel(self, cancel);
    }

    fn set_progress(&self, progress: Reporter) {
        WooClient::set_progress(self, progress);
    }

    fn progress(&self) -> Reporter {
        WooClient::progress(self)
    }

    /// No cost bucket: the in-flight cap is the pacing.
    fn affordable(&self, _operation: &str, _first: f64) -> usize {
        self.max_concurrency()
    }

    fn variants_per_call(&self) -> usize {
        super::client::PAGE
    }

    /// A key has a permission, not scopes; a read-only key is refused by
    /// [`Store::check_write_access`] before a write, so a dry run may use one.
    fn required_scopes(&self, _publish: bool) -> Vec<&'static str> {
        Vec::new()
    }

    async fn check_write_access(&self) -> Result<(), StoreError> {
        if self.can_write().await? {
            Ok(())
        } else {
            Err(StoreError::WooCommerce(WooError::ReadOnlyKey))
        }
    }

    fn judge_journaled(
        &self,
        operation: &str,
        body: &[u8],
        snapshot: &Snapshot,
        _locations: &BTreeMap<LocationName, String>,
    ) -> (Outcome, String) {
        match operation {
            batch::PRODUCTS_BATCH | batch::VARIATIONS_BATCH => batch::judge(body, snapshot),
            _ => (
                Outcome::Skipped,
                "outcome unknown after a crash; not replayed, the next plan re-read the store"
                    .into(),
            ),
        }
    }

    async fn shop_info(&self) -> Result<ShopInfo, StoreError> {
        let probe = self.probe().await?;
        // A key's permission is learnt by `check_write_access`, not here: a dry run
        // never sends the write probe.
        let scopes = vec!["read".to_owned()];
        Ok(ShopInfo {
            name: self.site().to_owned(),
            domain: self.site().to_owned(),
            currency: probe.currency.code.clone(),
            scopes,
        })
    }

    /// One stock number per item: no locations.
    async fn locations(&self) -> Result<Vec<StoreLocation>, StoreError> {
        Ok(Vec::new())
    }

    async fn snapshot(
        &self,
        _locations: &[(LocationName, String)],
    ) -> Result<Snapshot, StoreError> {
        Ok(WooClient::snapshot_counted(self).await?.0)
    }

    async fn snapshot_counted(
        &self,
        _locations: &[(LocationName, String)],
    ) -> Result<(Snapshot, usize), StoreError> {
        WooClient::snapshot_counted(self).await
    }

    /// Re-reads by id: the whole catalogue, filtered (a narrow re-read by `include=` is
    /// the batch path's; this serves `watch` and lost answers).
    async fn variants_by_ids(
        &self,
        ids: &[String],
        _locations: &[(LocationName, String)],
    ) -> Result<Vec<(Option<Sku>, StoreVariant)>, StoreError> {
        self.items_by_ids(ids).await
    }

    fn batch_body(&self, parent: &str, items: &[ItemWrite]) -> (&'static str, Vec<u8>) {
        let currency = self
            .known_currency()
            .unwrap_or_else(|| crate::model::Currency::new("USD"));
        batch::body(parent, items, &currency)
    }

    async fn send_batch(
        &self,
        parent: &str,
        body: &[u8],
        _items: usize,
    ) -> Result<Vec<ItemResult>, StoreError> {
        WooClient::send_batch(self, parent, body).await
    }

    async fn orders_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<WindowOrder>, StoreError> {
        WooClient::orders_since(self, since).await
    }

    async fn product_by_handle(&self, _handle: &str) -> Result<Option<HandleProduct>, StoreError> {
        Err(unsupported("product handles are Shopify's"))
    }

    async fn publications(&self) -> Result<Vec<StorePublication>, StoreError> {
        Ok(Vec::new())
    }

    async fn product_publications(
        &self,
        _handle: &str,
        _first: usize,
    ) -> Result<Option<ProductPublications>, StoreError> {
        Ok(None)
    }

    fn variant_update_body(&self, _product_id: &str, _updates: &[VariantUpdate]) -> Vec<u8> {
        Vec::new()
    }

    async fn send_variant_update(&self, _body: &[u8]) -> Result<BulkUpdateOutcome, StoreError> {
        Err(unsupported(NOT_BUILT))
    }

    fn product_update_body(&self, _update: &ProductUpdate) -> Vec<u8> {
        Vec::new()
    }

    async fn send_product_update(
        &self,
        _body: &[u8],
    ) -> Result<Result<(), Vec<UserError>>, StoreError> {
        Err(unsupported(NOT_BUILT))
    }

    fn inventory_set_body(&self, _items: &[SetQuantity], _key: &str, _reference: &str) -> Vec<u8> {
        Vec::new()
    }

    async fn send_inventory_set(&self, _body: &[u8]) -> Result<SetOutcome, StoreError> {
        Err(unsupported(NOT_BUILT))
    }

    fn inventory_activate_body(
        &self,
        _item_id: &str,
        _location_id: &str,
        _available: Option<i64>,
        _key: &str,
    ) -> Vec<u8> {
        Vec::new()
    }

    async fn send_inventory_activate(&self, _body: &[u8]) -> Result<ActivateOutcome, StoreError> {
        Err(unsupported(
            "WooCommerce has no stock locations to activate",
        ))
    }

    fn product_create_body(&self, _product: &NewProduct) -> Vec<u8> {
        Vec::new()
    }

    async fn send_product_create(
        &self,
        _body: &[u8],
    ) -> Result<Result<String, Vec<UserError>>, StoreError> {
        Err(unsupported(NOT_BUILT))
    }

    fn variants_create_body(
        &self,
        _product_id: &str,
        _variants: &[NewVariantInput],
        _replace_standalone: bool,
    ) -> Vec<u8> {
        Vec::new()
    }

    async fn send_variants_create(
        &self,
        _body: &[u8],
        _n: usize,
    ) -> Result<BulkCreateOutcome, StoreError> {
        Err(unsupported(
            "creating variations: sync.create_missing creates simple products only",
        ))
    }

    fn publish_body(&self, _product_id: &str, _publication_ids: &[String]) -> Vec<u8> {
        Vec::new()
    }

    fn published_ids(&self, _body: &[u8]) -> Vec<String> {
        Vec::new()
    }

    async fn send_publish(&self, _body: &[u8]) -> Result<Vec<UserError>, StoreError> {
        Err(unsupported(
            "WooCommerce has no sales channels to publish to",
        ))
    }

    fn bulk_update_line(&self, _product_id: &str, _updates: &[VariantUpdate]) -> Vec<u8> {
        Vec::new()
    }

    async fn start_bulk_update(
        &self,
        _lines: &[u8],
        _client_identifier: &str,
    ) -> Result<String, StoreError> {
        Err(unsupported("bulk mutation jobs are Shopify's"))
    }

    async fn finish_bulk_update(&self, _id: &str) -> Result<JobEnd, StoreError> {
        Err(unsupported("bulk mutation jobs are Shopify's"))
    }

    fn bulk_line_outcome(
        &self,
        _variant_ids: &[String],
        _line: &LineResult,
    ) -> Result<BulkUpdateOutcome, String> {
        Err("bulk mutation jobs are Shopify's".to_owned())
    }
}
