//! Whole commands built on one run's machinery: `pull` (the store's catalogue written into
//! the sheet) and `revert` (put back what a past run replaced). Each is an `impl Engine`
//! block that uses the engine's reads, the executor and the journal; the engine itself
//! keeps only one sync's flow and knows nothing of these.

mod pull;
pub mod revert;
