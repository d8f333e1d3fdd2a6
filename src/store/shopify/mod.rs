//! Shopify Admin GraphQL: operations (`ops`), transport and client.

pub mod ops;
