//! Fleet mode (SPEC §9): many (store, spreadsheet, tab) pairs run by many workers over
//! shared state.
//!
//! - `pairs`: a directory of pair files, checked, with `${VAR}` left for each worker;
//! - `fire`: a schedule pair's fire times as fixed points on the time line, so that a
//!   fire time runs once whoever owns the pair when it comes due.
//!
//! - `admin`: `fleet apply`, `fleet status`, `fleet pause|resume` over the shared state;
//! - `import`: `fleet import`, a machine's SQLite history into the shared state.
//! - `worker`: `fleet run`, which claims, renews, balances and runs the pairs;
//! - `hooks`: what `serve` plugs into a worker's pairs (nudges, health, metrics).
//!
//! The shared state and the leases are `state::postgres`'s.

pub mod admin;
pub mod fire;
pub mod hooks;
pub mod import;
pub mod pairs;
pub mod worker;

pub use fire::{FireError, FireTimes};
pub use pairs::{Pair, PairError, PairsError, load_dir};
