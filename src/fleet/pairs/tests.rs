//! Unit tests of `fleet::pairs` on real directories: loading and sorting, what is not a
//! pair file, duplicates naming both files, refused keys with their line, variables left
//! for the worker, and a Kubernetes ConfigMap mount.

use std::path::Path;
use std::time::Duration;

use crate::config::fleet::{PairMode, ScheduleSpec};

use super::*;

/// A valid pair file for `tab`, with `extra` appended (another section or keys).
fn pair_text(tab: &str, fleet: &str) -> String {
    format!(
        r#"[sheet]
spreadsheet_id = "1AbC"
tab = "{tab}"
[sheet.columns]
sku = "SKU"
price = "Price"
[google]
credentials = "${{GOOGLE_KEY_FILE}}"
[shopify]
shop = "acme.myshopify.com"
[shopify.auth]
method = "client_credentials"
client_id = "${{ACME_CLIENT_ID}}"
client_secret = "${{ACME_CLIENT_SECRET}}"
{fleet}"#
    )
}

const WATCH: &str = "[fleet]\nmode = \"watch\"\n";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn problems(dir: &Path) -> Vec<String> {
    load_dir(dir)
        .unwrap_err()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_directory_loads_sorted_with_names_scopes_modes_and_the_text_unresolved() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "b-prices.toml", &pair_text("Prices", WATCH));
    write(
        tmp.path(),
        "a-stock.toml",
        &pair_text("Stock", "[fleet]\nmode = \"schedule\"\nevery = \"1h\"\n"),
    );
    // Not pair files: other extensions, hidden entries, subdirectories.
    write(tmp.path(), "README.md", "# pairs");
    write(tmp.path(), ".hidden.toml", "not toml at all");
    std::fs::create_dir(tmp.path().join("old.toml")).unwrap();

    let pairs = load_dir(tmp.path()).unwrap();
    let names: Vec<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a-stock", "b-prices"]);
    assert_eq!(
        pairs[0].scope,
        Scope::new("acme.myshopify.com", "1AbC", "Stock")
    );
    assert_eq!(
        pairs[0].mode,
        PairMode::Schedule(ScheduleSpec::Every(Duration::from_secs(3600)))
    );
    assert_eq!(pairs[1].mode.name(), "watch");
    // The stored text is the file: no secret was needed to load it and none is in it.
    assert_eq!(pairs[1].text, pair_text("Prices", WATCH));
    assert!(pairs[1].text.contains("${ACME_CLIENT_SECRET}"));
    assert_eq!(pairs[1].path, tmp.path().join("b-prices.toml"));
}

#[test]
fn a_worker_resolves_the_variables_from_its_own_environment() {
    let pair = Pair::parse(Path::new("p/acme.toml"), pair_text("Stock", WATCH)).unwrap();
    let env = |name: &str| Some(format!("value-of-{name}"));
    let config = pair.config(&env).unwrap();
    assert_eq!(
        config.shopify.unwrap().auth.client_secret.unwrap().expose(),
        "value-of-ACME_CLIENT_SECRET"
    );
    // A worker without the variable gets the ordinary config error naming it.
    let err = pair.config(&|_| None).unwrap_err().to_string();
    assert!(
        err.contains("ACME_CLIENT_SECRET") && err.contains("p/acme.toml"),
        "{err}"
    );
}

#[test]
fn the_digest_follows_the_text() {
    let a = Pair::parse(Path::new("a.toml"), pair_text("Stock", WATCH)).unwrap();
    let b = Pair::parse(Path::new("a.toml"), pair_text("Stock", WATCH)).unwrap();
    let c = Pair::parse(
        Path::new("a.toml"),
        pair_text("Stock", "[fleet]\nmode = \"watch\"\ninterval = \"20s\"\n"),
    )
    .unwrap();
    assert_eq!(a.sha256(), b.sha256());
    assert_ne!(a.sha256(), c.sha256());
}

#[test]
fn two_files_for_one_store_spreadsheet_and_tab_are_one_error_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "one.toml", &pair_text("Stock", WATCH));
    // The same spreadsheet given by its URL is the same pair.
    let by_url = pair_text("Stock", WATCH).replace(
        "spreadsheet_id = \"1AbC\"",
        "spreadsheet_id = \"https://docs.google.com/spreadsheets/d/1AbC/edit\"",
    );
    write(tmp.path(), "two.toml", &by_url);
    write(tmp.path(), "three.toml", &pair_text("Other tab", WATCH));

    let found = problems(tmp.path());
    assert_eq!(found.len(), 1, "{found:?}");
    let one = tmp.path().join("one.toml");
    let two = tmp.path().join("two.toml");
    assert!(
        found[0].contains(&*one.to_string_lossy()) && found[0].contains(&*two.to_string_lossy()),
        "{}",
        found[0]
    );
    assert!(found[0].contains("acme.myshopify.com") && found[0].contains("1AbC"));
}

#[test]
fn state_dir_is_refused_with_its_line_and_the_config_loader_still_accepts_the_file() {
    let text = pair_text("Stock", WATCH).replace(
        "[fleet]",
        "[sync]\ninventory = \"three_way\"\nstate_dir = \"/var/lib/x\"\n[fleet]",
    );
    let err = Pair::parse(Path::new("pairs/a.toml"), text.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("pairs/a.toml"), "{err}");
    assert!(err.contains("sync.state_dir at line 17"), "{err}");

    // Every pair file is a valid --config: [fleet] is accepted, variables resolved.
    let env = |_: &str| Some("x".to_owned());
    let good = pair_text("Stock", WATCH);
    let config = Config::parse(&good, Path::new("a.toml"), &env).unwrap();
    assert!(config.fleet.is_some());
}

#[test]
fn a_pair_needs_fleet_and_a_written_out_identity() {
    let err = Pair::parse(Path::new("a.toml"), pair_text("Stock", ""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs a [fleet] section"), "{err}");

    let text = pair_text("${TAB}", WATCH).replace("acme.myshopify.com", "${SHOP}");
    let err = Pair::parse(Path::new("a.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sheet.tab at line 3 uses a variable"), "{err}");
    assert!(
        err.contains("shopify.shop at line 10 uses a variable"),
        "{err}"
    );
    // `$${` is a literal `${`, not a variable.
    assert!(Pair::parse(Path::new("a.toml"), pair_text("Tab $${x}", WATCH)).is_ok());
}

#[test]
fn config_errors_keep_their_file_and_line_and_every_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "typo.toml",
        &pair_text("A", WATCH).replace("sku = ", "skew = "),
    );
    write(
        tmp.path(),
        "cron.toml",
        &pair_text("B", "[fleet]\nmode = \"schedule\"\ncron = \"every day\"\n"),
    );
    write(tmp.path(), "fine.toml", &pair_text("C", WATCH));
    write(tmp.path(), "bad name.toml", &pair_text("D", WATCH));

    let found = problems(tmp.path());
    assert_eq!(found.len(), 3, "{found:?}");
    let typo = found.iter().find(|m| m.contains("typo.toml")).unwrap();
    assert!(
        typo.contains("unknown field `skew`") && typo.contains("line 5"),
        "{typo}"
    );
    let cron = found.iter().find(|m| m.contains("cron.toml")).unwrap();
    assert!(
        cron.contains("is not a cron expression") && cron.contains("line 15"),
        "{cron}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.contains("\"bad name\" is not a pair name"))
    );
}

#[test]
fn variables_are_checked_as_placeholders_not_as_missing() {
    // An API address given as a variable passes; a broken reference is still an error.
    let text = pair_text("A", WATCH).replace(
        "[sheet.columns]",
        "api_base_url = \"${SHEETS_PROXY}\"\n[sheet.columns]",
    );
    assert!(Pair::parse(Path::new("a.toml"), text).is_ok());
    let text = pair_text("A", WATCH).replace("${ACME_CLIENT_ID}", "${ACME_CLIENT_ID");
    let err = Pair::parse(Path::new("a.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shopify.auth.client_id"), "{err}");
}

#[test]
fn an_empty_or_missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_dir(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("no pair files"), "{err}");
    let err = load_dir(&tmp.path().join("nope")).unwrap_err().to_string();
    assert!(err.contains("cannot read pair directory"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_configmap_mount_loads_through_its_symlinks() {
    // Kubernetes mounts each key as `name -> ..data/name`, `..data` a link to a hidden dir.
    let tmp = tempfile::tempdir().unwrap();
    let hidden = tmp.path().join("..2026_12_07");
    std::fs::create_dir(&hidden).unwrap();
    write(&hidden, "acme.toml", &pair_text("Stock", WATCH));
    std::os::unix::fs::symlink("..2026_12_07", tmp.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/acme.toml", tmp.path().join("acme.toml")).unwrap();
    let pairs = load_dir(tmp.path()).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].name, "acme");
}
