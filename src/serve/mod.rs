//! `serve` (SPEC §10): `watch` plus an HTTP server for people and monitors. This module
//! owns what is served; the loop itself stays in `schedule`, the run in `engine`.
//!
//! - `page`: the status page at `GET /`, rendered from the state's journal of runs.

pub mod page;
