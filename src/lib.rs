//! sheetsync keeps a Shopify store in step with a Google spreadsheet.
//!
//! # Layout
//!
//! - `model`: domain newtypes (SKU, money, quantities, cells, fields);
//! - `config`: the TOML config, `${VAR}` interpolation, redacted secrets;
//! - `sheet`: pure parsing of the configured columns into typed rows;
//! - `plan`: the pure diff of sheet, store and baseline, with the safety guards;
//! - `report`: the SPEC §5 report, its human and JSON renderings, the exit code;
//! - `auth`: Shopify token providers (static, client credentials, OAuth) and Google OAuth;
//! - `state`: embedded SQLite in `state_dir`: baseline, run journal, token cache;
//! - `store`: the Shopify Admin GraphQL client (operations, paced transport);
//! - `apply`: the executor that turns a plan into requests and outcomes;
//! - `engine`: one run, from reads to report;
//! - `http`: the retry policy both API clients share;
//! - `schedule`: the long-running `watch` and `schedule` loops;
//! - `cli`: the commands;
//!
//! The local fakes (`demo`, `sandbox`, the tests) live in the `sheetsync-sandbox` crate
//! beside this one; the library only starts them from `cli`, behind the `sandbox` feature.
//!
//! One run flows sheet → rows ∥ store → snapshot, then `plan::build`, then the executor,
//! then write-back and the report.

pub mod apply;
pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod model;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod sheet;
pub mod state;
pub mod store;
