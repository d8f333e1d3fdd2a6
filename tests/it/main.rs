//! The integration tests: one binary (as ripgrep does), a module per suite, so the
//! library, the sandbox and their dependencies are linked once. Each suite drives the
//! `sheetsync` binary or the library against the local fakes of `sheetsync-sandbox`.

mod common;

mod auth;
mod bad_input;
mod bulk_export;
mod bulk_mutation;
mod create_missing;
mod deploy;
mod docs_links;
mod e2e;
mod e2e_writeback;
mod faults;
mod fleet_admin;
mod fleet_run;
mod google_auth;
mod graphql_schema;
mod interrupts;
mod kills;
mod layers;
mod lost_answers;
mod module_docs;
mod pg;
mod pg_lease;
mod pg_state;
mod products;
mod progress;
mod revert;
mod serve;
mod sheets_client;
mod shopify_layouts;
mod small_bucket;
mod status_page;
mod watch;
mod woocommerce;
