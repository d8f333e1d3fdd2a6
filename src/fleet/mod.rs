//! Fleet mode (SPEC §9): many (store, spreadsheet, tab) pairs run by many workers over
//! shared state.
//!
//! - `pairs`: a directory of pair files, checked, with `${VAR}` left for each worker;
//! - `fire`: a schedule pair's fire times as fixed points on the time line, so that a
//!   fire time runs once whoever owns the pair when it comes due.
//!
//! - `admin`: `fleet apply`, `fleet status`, `fleet pause|resume` over the shared state;
//! - `import`: `fleet import`, a machine's SQLite history into the shared state.
//!
//! The shared state, the leases and the worker loop are built on these elsewhere.

pub mod admin;
pub mod fire;
pub mod import;
pub mod pairs;

pub use fire::{FireError, FireTimes};
pub use pairs::{Pair, PairError, PairsError, load_dir};
