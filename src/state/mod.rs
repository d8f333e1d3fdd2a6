//! Embedded SQLite state in `state_dir`: baseline, run journal, token cache.
