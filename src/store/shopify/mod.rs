//! Shopify Admin GraphQL: the operations and their pure builders and mappers (`ops`), the
//! paced and retried transport (`transport`), error classification (`error`) and the
//! client the engine calls (`client`).

pub mod bulk;
pub mod bulk_mutation;
pub mod client;
pub mod create;
pub mod error;
pub mod ops;
pub mod port;
pub mod publish;
pub mod recover;
pub mod transport;

#[cfg(test)]
mod tests;

pub use client::{ClientOptions, ConnectError, PageSizer, ShopifyClient};
pub use error::{GraphqlError, StoreError};
pub use ops::{
    ActivateOutcome, AppliedChange, BulkUpdateOutcome, Patch, ProductUpdate, SetOutcome,
    SetQuantity, ShopInfo, StoreLocation, UserError, VariantOutcome, VariantUpdate,
};
