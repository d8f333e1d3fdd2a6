//! sheetsync keeps a Shopify store in step with a Google spreadsheet.
//!
//! # Layout
//!
//! - `model`: domain newtypes (SKU, money, quantities, cells, fields), the parsed rows,
//!   `Secret`, and where a credential may be sent;
//! - `progress`: events of long work (the bars are drawn in `cli`);
//! - `config`: the TOML config, `${VAR}` interpolation, redacted secrets;
//! - `sheet`: pure parsing of the configured columns into typed rows;
//! - `plan`: the pure diff of sheet, store and baseline, with the safety guards;
//! - `report`: the SPEC §5 report, its human and JSON renderings, the exit code;
//! - `auth`: Shopify token providers (static, client credentials, OAuth) and Google OAuth;
//! - `state`: the state port and its SQLite backend: baseline, journal, runs, tokens;
//! - `store`: the store port and the Shopify adapter (operations, paced transport);
//! - `apply`: the executor that turns a plan into requests and outcomes;
//! - `engine`: one sync run, from reads to report;
//! - `commands`: `pull` and `revert`, whole commands on a run's machinery;
//! - `http`: the retry policy both API clients share;
//! - `schedule`: the long-running `watch` and `schedule` loops;
//! - `serve`: `watch` plus an HTTP server (sheet notifications, health, metrics, the status page);
//! - `fleet`: pair files and schedule fire times for many pairs on many workers (SPEC §9);
//! - `cli`: the commands' arguments and terminal output.
//!
//! Layers only point down (ARCHITECTURE.md; `tests/it/layers.rs` checks it).
//!
//! The local fakes (`demo`, `sandbox`, the tests) live in the `sheetsync-sandbox` crate
//! beside this one; the library only starts them from `cli`, behind the `sandbox` feature.
//!
//! One run flows sheet → rows ∥ store → snapshot, then `plan::build`, then the executor,
//! then write-back and the report.

pub mod apply;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod fleet;
pub mod http;
pub mod model;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod serve;
pub mod sheet;
pub mod state;
pub mod store;
