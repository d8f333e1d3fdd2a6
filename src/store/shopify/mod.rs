//! Shopify Admin GraphQL: operations (`ops`), transport and client.
