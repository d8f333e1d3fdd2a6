//! The store side: the [`Store`] port the engine, `apply`, `pull` and `revert` talk to,
//! its first adapter, the Shopify Admin GraphQL client (`shopify`), and its second, the
//! WooCommerce REST client (`woocommerce`). The port is
//! written as the code uses the store today and no wider; nothing above this layer names
//! `ShopifyClient` except where a Shopify-only concern is built (the engine's
//! constructor) or checked (`cli`'s `check` and `auth status`).
//!
//! Writes come in two steps, `*_body` then `send_*`: the executor journals the exact
//! bytes a write will carry before it is sent (SPEC §4.7), so the adapter prepares them
//! and the executor keeps them opaque.

pub mod shopify;
pub mod woocommerce;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::model::{FieldKey, LocationName, Sku, Value};
use crate::plan::create::HandleProduct;
use crate::plan::{Snapshot, StoreVariant};
use crate::progress::Reporter;

// TODO(port): these value types are defined by the Shopify adapter and re-exported here so
// the layers above name only `store::…`. Most are store-neutral in shape already
// (`VariantUpdate`, `SetQuantity`, `ProductUpdate`, the outcomes); `StoreError` carries
// Shopify's GraphQL error classes (WooCommerce's are one variant that classifies itself)
// and `JobEnd`/`LineResult` carry a GraphQL response type.
pub use shopify::bulk_mutation::{JobEnd, LineResult};
pub use shopify::create::{
    BulkCreateOutcome, LevelInput, Named, NewItem, NewOption, NewProduct, NewVariantInput,
    OptionValue,
};
pub use shopify::publish::{ProductPublications, StorePublication};
pub use shopify::{
    ActivateOutcome, BulkUpdateOutcome, Patch, ProductUpdate, SetOutcome, SetQuantity, ShopInfo,
    StoreError, StoreLocation, UserError, VariantOutcome, VariantUpdate,
};

/// One item's new values in a batch write (a store without compare-and-set: SPEC §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    /// The item written: a product, or a variation of `parent`.
    pub item_id: String,
    /// The variation's parent; empty for a product.
    pub parent: String,
    /// Each field's new value (`None` clears it). Stock is `FieldKey::own_stock()`.
    pub fields: Vec<(FieldKey, Option<Value>)>,
}

/// One simple product to create in a batch (`sync.create_missing` on a store without
/// compare-and-set): its SKU and its cells' values (`name` and a regular price among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCreate {
    pub sku: String,
    /// Each field's value; stock is `FieldKey::own_stock()` (sent with stock managed).
    pub fields: Vec<(FieldKey, Option<Value>)>,
}

/// Where one created item of a batch ended: its new id, or refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateResult {
    Created { id: String },
    Refused { code: String, message: String },
}

/// Where one item of a batch ended: saved whole, or refused whole with the store's code
/// and message (WooCommerce saves an item whole or not at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    Saved,
    Refused { code: String, message: String },
}

/// An order placed or changed inside a write window, with the items it holds (product
/// and variation ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOrder {
    pub number: String,
    pub items: Vec<String>,
    /// When it was placed and last changed (UTC), when the store said: a run's one
    /// orders read is matched to each batch's own window by them.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a store can guarantee, and the limits the executor plans its requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Stock writes are compare-and-set against the quantity the plan read: a stale write
    /// is refused by the store, not applied over the newer value (SPEC §4.3).
    pub compare_and_set: bool,
    /// Variant fields can go by one bulk mutation job instead of a call per product.
    pub bulk: bool,
    /// Distinct variants from which variant fields go by bulk mutation (with `bulk`).
    pub bulk_mutation_threshold: u64,
    /// Cap on mutations in flight together.
    pub max_in_flight: usize,
    /// Most items one write request may carry (Shopify: 250 quantities a stock call;
    /// WooCommerce: 100 items a batch, variations per parent).
    pub batch_limit: usize,
    /// Without compare-and-set, the items a write carries are read again right before it
    /// is sent and those that moved are re-planned (SPEC §8): the executor asks for it.
    pub reread_before_write: bool,
}

/// The store a run reads and writes. Shopify is the first adapter
/// ([`shopify::ShopifyClient`]).
#[async_trait]
pub trait Store: Send + Sync {
    /// What the store guarantees and the executor's limits.
    fn capabilities(&self) -> Capabilities;

    // ---- runtime ----

    /// Every wait of the store's client ends once `cancel` fires.
    fn set_cancel(&self, cancel: CancellationToken);
    /// The `User-Agent` of every request from now on (a run under a shared-state lease
    /// names its worker and epoch); `None` restores the default. A store without the
    /// notion may ignore it.
    fn set_user_agent(&self, _user_agent: Option<String>) {}
    /// Where long reads, jobs and rate-limit waits are reported.
    fn set_progress(&self, progress: Reporter);
    fn progress(&self) -> Reporter;
    /// How many requests of `operation` a full rate budget pays for, at the operation's
    /// expected cost (`first` until the store has priced one); at least 0.
    fn affordable(&self, operation: &str, first: f64) -> usize;
    /// How many variants one variant update or create call may carry now.
    fn variants_per_call(&self) -> usize;
    /// The access scopes a run needs; with `publish`, the publication scopes too.
    fn required_scopes(&self, publish: bool) -> Vec<&'static str>;

    // ---- reads ----

    async fn shop_info(&self) -> Result<ShopInfo, StoreError>;
    async fn locations(&self) -> Result<Vec<StoreLocation>, StoreError>;
    /// The whole catalogue, stock at the given (name, id) locations.
    async fn snapshot(&self, locations: &[(LocationName, String)]) -> Result<Snapshot, StoreError>;
    /// [`Store::snapshot`] and how many variants have no SKU.
    async fn snapshot_counted(
        &self,
        locations: &[(LocationName, String)],
    ) -> Result<(Snapshot, usize), StoreError>;
    /// Re-reads variants by id; a variant that is gone is absent.
    async fn variants_by_ids(
        &self,
        ids: &[String],
        locations: &[(LocationName, String)],
    ) -> Result<Vec<(Option<Sku>, StoreVariant)>, StoreError>;
    async fn product_by_handle(&self, handle: &str) -> Result<Option<HandleProduct>, StoreError>;
    async fn publications(&self) -> Result<Vec<StorePublication>, StoreError>;
    async fn product_publications(
        &self,
        handle: &str,
        first: usize,
    ) -> Result<Option<ProductPublications>, StoreError>;

    /// Refuses, before a run's first write, a credential that cannot write (a read-only
    /// WooCommerce key: exit 2, naming the fix). Nothing to check by default.
    async fn check_write_access(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // ---- batch writes (stores without compare-and-set, `reread_before_write`) ----

    /// The journaled operation name and the exact body of one batch of items of one
    /// `parent` (empty: products).
    fn batch_body(&self, _parent: &str, _items: &[ItemWrite]) -> (&'static str, Vec<u8>) {
        ("", Vec::new())
    }
    /// Sends a batch built by [`Store::batch_body`]; one result per item, in order.
    async fn send_batch(
        &self,
        _parent: &str,
        _body: &[u8],
        _items: usize,
    ) -> Result<Vec<ItemResult>, StoreError> {
        Err(StoreError::Decode(
            "this store writes with compare-and-set, not in batches".into(),
        ))
    }
    /// The journaled operation name and the exact body of one batch creating simple
    /// products (at most `capabilities().batch_limit`).
    fn create_batch_body(&self, _items: &[ItemCreate]) -> (&'static str, Vec<u8>) {
        ("", Vec::new())
    }
    /// Sends a batch built by [`Store::create_batch_body`]; one result per item, in order.
    async fn send_create_batch(&self, _body: &[u8]) -> Result<Vec<CreateResult>, StoreError> {
        Err(StoreError::Decode(
            "this store creates products one by one, not in batches".into(),
        ))
    }
    /// The ids of the items (products or variations) that hold each of `skus` as their
    /// own SKU, by SKU: how a create whose answer was lost is learnt, never by re-sending.
    async fn ids_by_skus(&self, _skus: &[String]) -> Result<HashMap<String, String>, StoreError> {
        Ok(HashMap::new())
    }
    /// Orders placed or changed since `since` (UTC), for the notes of a write window.
    async fn orders_since(
        &self,
        _since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<WindowOrder>, StoreError> {
        Ok(Vec::new())
    }

    // ---- kill recovery ----

    /// What a request this adapter prepared, journaled under `operation` and never
    /// settled (a killed run, or an answer lost twice), did: judged against `snapshot`,
    /// taken since, never by sending anything. The bytes are the adapter's own, so only it
    /// can read them; `apply::recover` asks here.
    fn judge_journaled(
        &self,
        operation: &str,
        body: &[u8],
        snapshot: &Snapshot,
        locations: &BTreeMap<LocationName, String>,
    ) -> (crate::state::Outcome, String);

    // ---- writes: the bytes to journal, then their sending ----
    // The journal keys these by the adapter's operation names (`productVariantsBulkUpdate`,
    // …); only the adapter reads a body back (`judge_journaled`).

    fn variant_update_body(&self, product_id: &str, updates: &[VariantUpdate]) -> Vec<u8>;
    /// Outcomes follow the body's variant order.
    async fn send_variant_update(&self, body: &[u8]) -> Result<BulkUpdateOutcome, StoreError>;

    fn product_update_body(&self, update: &ProductUpdate) -> Vec<u8>;
    async fn send_product_update(
        &self,
        body: &[u8],
    ) -> Result<Result<(), Vec<UserError>>, StoreError>;

    /// A compare-and-set stock write under idempotency `key`.
    fn inventory_set_body(&self, items: &[SetQuantity], key: &str, reference: &str) -> Vec<u8>;
    async fn send_inventory_set(&self, body: &[u8]) -> Result<SetOutcome, StoreError>;

    /// Stocks an item at a location it has no level at.
    fn inventory_activate_body(
        &self,
        item_id: &str,
        location_id: &str,
        available: Option<i64>,
        key: &str,
    ) -> Vec<u8>;
    async fn send_inventory_activate(&self, body: &[u8]) -> Result<ActivateOutcome, StoreError>;

    fn product_create_body(&self, product: &NewProduct) -> Vec<u8>;
    /// The new product's id, or why it was refused.
    async fn send_product_create(
        &self,
        body: &[u8],
    ) -> Result<Result<String, Vec<UserError>>, StoreError>;

    fn variants_create_body(
        &self,
        product_id: &str,
        variants: &[NewVariantInput],
        replace_standalone: bool,
    ) -> Vec<u8>;
    async fn send_variants_create(
        &self,
        body: &[u8],
        n: usize,
    ) -> Result<BulkCreateOutcome, StoreError>;

    fn publish_body(&self, product_id: &str, publication_ids: &[String]) -> Vec<u8>;
    /// The publication ids a journaled publish body asked for.
    fn published_ids(&self, body: &[u8]) -> Vec<String>;
    async fn send_publish(&self, body: &[u8]) -> Result<Vec<UserError>, StoreError>;

    /// One line of a bulk variant update (with `capabilities().bulk`).
    fn bulk_update_line(&self, product_id: &str, updates: &[VariantUpdate]) -> Vec<u8>;
    /// Starts the bulk job under `client_identifier`; its id.
    async fn start_bulk_update(
        &self,
        lines: &[u8],
        client_identifier: &str,
    ) -> Result<String, StoreError>;
    /// Waits for the job to end; its result by line.
    async fn finish_bulk_update(&self, id: &str) -> Result<JobEnd, StoreError>;
    /// What one answered line of a finished job did to its variants (`variant_ids`, in
    /// the line's order), or why the line did not run.
    // TODO(port): `LineResult::Data` is Shopify's GraphQL answer, which only the adapter
    // can read; a neutral `JobEnd` would carry the mapped outcome instead.
    fn bulk_line_outcome(
        &self,
        variant_ids: &[String],
        line: &LineResult,
    ) -> Result<BulkUpdateOutcome, String>;
}
