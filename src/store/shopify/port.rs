//! [`Store`] for [`ShopifyClient`]: the first adapter of the store port. Each method
//! delegates to the client's own; nothing here decides anything the client does not.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::StoreError;
use super::bulk_mutation::{self, JobEnd, LineResult};
use super::client::ShopifyClient;
use super::create::{self, BulkCreateOutcome, NewProduct, NewVariantInput};
use super::ops::{
    self, ActivateOutcome, BulkUpdateOutcome, ProductUpdate, SetOutcome, SetQuantity, ShopInfo,
    StoreLocation, UserError, VariantUpdate,
};
use super::publish::{self, ProductPublications, StorePublication};
use super::recover;
use crate::model::{LocationName, Sku};
use crate::plan::create::HandleProduct;
use crate::plan::{Snapshot, StoreVariant};
use crate::progress::Reporter;
use crate::store::{Capabilities, Store};

#[async_trait]
impl Store for ShopifyClient {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // `inventorySetQuantities` carries `compareQuantity` for every item.
            compare_and_set: true,
            bulk: true,
            bulk_mutation_threshold: ShopifyClient::bulk_mutation_threshold(self),
            max_in_flight: ShopifyClient::max_in_flight(self),
            batch_limit: ops::MAX_SET_ITEMS,
            // A stale compare-and-set comes back refused; nothing needs reading first.
            reread_before_write: false,
        }
    }

    fn judge_journaled(
        &self,
        operation: &str,
        body: &[u8],
        snapshot: &Snapshot,
        locations: &BTreeMap<LocationName, String>,
    ) -> (crate::state::Outcome, String) {
        recover::judge(operation, body, snapshot, locations)
    }

    fn set_cancel(&self, cancel: CancellationToken) {
        ShopifyClient::set_cancel(self, cancel);
    }

    fn set_user_agent(&self, user_agent: Option<String>) {
        self.transport().set_user_agent(user_agent);
    }

    fn set_progress(&self, progress: Reporter) {
        self.transport().set_progress(progress);
    }

    fn progress(&self) -> Reporter {
        self.transport().progress()
    }

    fn affordable(&self, operation: &str, first: f64) -> usize {
        let transport = self.transport();
        let cost = transport
            .known_estimate(operation)
            .unwrap_or(first)
            .max(1.0);
        (transport.bucket().maximum() / cost).floor() as usize
    }

    fn variants_per_call(&self) -> usize {
        ShopifyClient::variants_per_call(self)
    }

    fn required_scopes(&self, publish: bool) -> Vec<&'static str> {
        ops::required_scopes(publish)
    }

    async fn shop_info(&self) -> Result<ShopInfo, StoreError> {
        ShopifyClient::shop_info(self).await
    }

    async fn locations(&self) -> Result<Vec<StoreLocation>, StoreError> {
        ShopifyClient::locations(self).await
    }

    async fn snapshot(&self, locations: &[(LocationName, String)]) -> Result<Snapshot, StoreError> {
        ShopifyClient::snapshot(self, locations).await
    }

    async fn snapshot_counted(
        &self,
        locations: &[(LocationName, String)],
    ) -> Result<(Snapshot, usize), StoreError> {
        ShopifyClient::snapshot_counted(self, locations).await
    }

    async fn variants_by_ids(
        &self,
        ids: &[String],
        locations: &[(LocationName, String)],
    ) -> Result<Vec<(Option<Sku>, StoreVariant)>, StoreError> {
        ShopifyClient::variants_by_ids(self, ids, locations).await
    }

    async fn product_by_handle(&self, handle: &str) -> Result<Option<HandleProduct>, StoreError> {
        ShopifyClient::product_by_handle(self, handle).await
    }

    async fn publications(&self) -> Result<Vec<StorePublication>, StoreError> {
        ShopifyClient::publications(self).await
    }

    async fn product_publications(
        &self,
        handle: &str,
        first: usize,
    ) -> Result<Option<ProductPublications>, StoreError> {
        ShopifyClient::product_publications(self, handle, first).await
    }

    fn variant_update_body(&self, product_id: &str, updates: &[VariantUpdate]) -> Vec<u8> {
        ShopifyClient::bulk_update_body(product_id, updates)
    }

    async fn send_variant_update(&self, body: &[u8]) -> Result<BulkUpdateOutcome, StoreError> {
        ShopifyClient::send_bulk_update(self, body).await
    }

    fn product_update_body(&self, update: &ProductUpdate) -> Vec<u8> {
        ShopifyClient::product_update_body(update)
    }

    async fn send_product_update(
        &self,
        body: &[u8],
    ) -> Result<Result<(), Vec<UserError>>, StoreError> {
        ShopifyClient::send_product_update(self, body).await
    }

    fn inventory_set_body(&self, items: &[SetQuantity], key: &str, reference: &str) -> Vec<u8> {
        ShopifyClient::inventory_set_body(items, key, reference)
    }

    async fn send_inventory_set(&self, body: &[u8]) -> Result<SetOutcome, StoreError> {
        ShopifyClient::send_inventory_set(self, body).await
    }

    fn inventory_activate_body(
        &self,
        item_id: &str,
        location_id: &str,
        available: Option<i64>,
        key: &str,
    ) -> Vec<u8> {
        ShopifyClient::inventory_activate_body(item_id, location_id, available, key)
    }

    async fn send_inventory_activate(&self, body: &[u8]) -> Result<ActivateOutcome, StoreError> {
        ShopifyClient::send_inventory_activate(self, body).await
    }

    fn product_create_body(&self, product: &NewProduct) -> Vec<u8> {
        create::product_create_body(product)
    }

    async fn send_product_create(
        &self,
        body: &[u8],
    ) -> Result<Result<String, Vec<UserError>>, StoreError> {
        ShopifyClient::send_product_create(self, body).await
    }

    fn variants_create_body(
        &self,
        product_id: &str,
        variants: &[NewVariantInput],
        replace_standalone: bool,
    ) -> Vec<u8> {
        create::bulk_create_body(product_id, variants, replace_standalone)
    }

    async fn send_variants_create(
        &self,
        body: &[u8],
        n: usize,
    ) -> Result<BulkCreateOutcome, StoreError> {
        ShopifyClient::send_bulk_create(self, body, n).await
    }

    fn publish_body(&self, product_id: &str, publication_ids: &[String]) -> Vec<u8> {
        publish::publish_body(product_id, publication_ids)
    }

    fn published_ids(&self, body: &[u8]) -> Vec<String> {
        publish::publish_body_ids(body)
    }

    async fn send_publish(&self, body: &[u8]) -> Result<Vec<UserError>, StoreError> {
        ShopifyClient::send_publish(self, body).await
    }

    fn bulk_update_line(&self, product_id: &str, updates: &[VariantUpdate]) -> Vec<u8> {
        bulk_mutation::jsonl_line(product_id, updates)
    }

    async fn start_bulk_update(
        &self,
        lines: &[u8],
        client_identifier: &str,
    ) -> Result<String, StoreError> {
        ShopifyClient::start_bulk_update(self, lines, client_identifier).await
    }

    async fn finish_bulk_update(&self, id: &str) -> Result<JobEnd, StoreError> {
        ShopifyClient::finish_bulk_update(self, id).await
    }

    fn bulk_line_outcome(
        &self,
        variant_ids: &[String],
        line: &LineResult,
    ) -> Result<BulkUpdateOutcome, String> {
        match line {
            LineResult::Data(data) => Ok(ops::bulk_update_outcome(variant_ids, data.clone())),
            LineResult::Errors(message) => Err(message.clone()),
        }
    }
}
