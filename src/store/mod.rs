//! The store side: the Shopify Admin GraphQL adapter.

pub mod shopify;
