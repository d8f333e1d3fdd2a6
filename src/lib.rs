//! sheetsync keeps a Shopify store in step with a Google spreadsheet.
//!
//! # Layout
//!
//! - `model`: domain newtypes (SKU, money, quantities, cells, fields);
//! - `config`: the TOML config, `${VAR}` interpolation, redacted secrets;
//! - `sheet`: pure parsing of the configured columns into typed rows;
//! - `plan`: the pure diff of sheet, store and baseline, with the safety guards;
//! - `report`: the SPEC §5 report, its human and JSON renderings, the exit code.
//!
//! One run flows sheet → rows ∥ store → snapshot, then `plan::build`, then the executor,
//! then write-back and the report.

pub mod config;
pub mod model;
pub mod plan;
pub mod report;
pub mod sheet;
pub mod sandbox;
pub mod state;
pub mod store;
