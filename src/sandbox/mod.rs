//! Local fakes of the Sheets API, the Google token endpoint and the Shopify Admin API,
//! served over HTTP on 127.0.0.1 for `demo`, `sandbox` and the tests. The sandbox
//! stands apart: it shares only `model` with the rest of the crate.

pub mod sheets;
pub mod shopify;
