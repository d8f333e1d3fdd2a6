//! Local fakes of the Sheets API, the Google token endpoint and the Shopify Admin API, served over HTTP on 127.0.0.1 for `demo`, `sandbox` and the tests.
pub mod shopify;
