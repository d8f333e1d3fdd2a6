//! graphql_client's derive tracks the operation files it includes but not the schema
//! (CRATES.md §4): rebuild whenever anything under `graphql/` changes.

fn main() {
    println!("cargo:rerun-if-changed=graphql");
}
