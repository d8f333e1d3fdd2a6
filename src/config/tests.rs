//! Unit tests of `config`: defaults, required and unknown keys named with their line,
//! `${VAR}` interpolation, guard limits, base URLs, discovery order and path resolution.
//! A resolved secret never shows in `Debug` output.

use super::*;

const SECRET: &str = "shpss_topsecret_0123456789";

fn env(name: &str) -> Option<String> {
    match name {
        "SHOPIFY_CLIENT_ID" => Some("client-id-1".into()),
        "SHOPIFY_CLIENT_SECRET" | "SHOPIFY_ACCESS_TOKEN" => Some(SECRET.into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

const MINIMAL: &str = r#"
[sheet]
spreadsheet_id = "1AbC"
tab = "Inventory"

[sheet.columns]
sku = "SKU"
price = "Price"

[sheet.inventory]
"Main Warehouse" = "Stock"

[google]
credentials = "sa.json"

[shopify]
shop = "example.myshopify.com"

[shopify.auth]
method = "token"
token = "${SHOPIFY_ACCESS_TOKEN}"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("sheetsync.toml"), &env)
}

/// MINIMAL with `old` replaced by `new` (which must occur).
fn with(old: &str, new: &str) -> String {
    assert!(MINIMAL.contains(old), "{old}");
    MINIMAL.replacen(old, new, 1)
}

fn invalid(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Invalid { message, .. }) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn toml_error(text: &str) -> String {
    match parse(text) {
        Err(e @ ConfigError::Toml { .. }) => e.to_string(),
        other => panic!("expected a toml error, got {other:?}"),
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.sheet.layout, Layout::Columns);
    assert_eq!(c.sheet.api_base_url, "https://sheets.googleapis.com/");
    assert_eq!(c.shopify.as_ref().unwrap().api_version, "2026-07");
    assert_eq!(c.sync.inventory, Policy::ThreeWay);
    assert_eq!(c.sync.max_change_ratio, Decimal::new(5, 1));
    assert_eq!(c.sync.state_dir, PathBuf::from(".sheetsync"));
    assert_eq!(
        c.shopify
            .as_ref()
            .unwrap()
            .auth
            .token
            .as_ref()
            .map(Secret::expose),
        Some(SECRET)
    );
}

#[test]
fn unknown_top_level_key_names_key_and_line() {
    let text = format!("{MINIMAL}\n[extra]\nx = 1\n");
    let line = text.lines().position(|l| l == "[extra]").unwrap() + 1;
    let msg = toml_error(&text);
    assert!(msg.contains("unknown field `extra`"), "{msg}");
    assert!(msg.contains(&format!("at line {line},")), "{msg}");
    assert!(msg.contains("sheetsync.toml"), "{msg}");
}

#[test]
fn unknown_nested_key_names_key_and_line() {
    let text = with("price = \"Price\"", "pricee = \"Price\"");
    let line = text.lines().position(|l| l.starts_with("pricee")).unwrap() + 1;
    assert_eq!(line, 8);
    let msg = toml_error(&text);
    assert!(
        msg.contains("unknown field `pricee` at line 8, column 1"),
        "{msg}"
    );
    assert!(msg.contains("expected one of"), "{msg}");

    let text = with("method = \"token\"", "method = \"token\"\n  tokn = \"x\"");
    let msg = toml_error(&text);
    assert!(
        msg.contains("unknown field `tokn` at line 21, column 3"),
        "{msg}"
    );
}

#[test]
fn syntax_and_type_errors_carry_their_line() {
    let msg = toml_error(&with("tab = \"Inventory\"", "tab = 5"));
    assert!(msg.contains("at line 4,"), "{msg}");
    let msg = toml_error(&with("tab = \"Inventory\"", "tab = \"Inventory"));
    assert!(msg.contains("at line 4,"), "{msg}");
}

#[test]
fn missing_required_key_is_named() {
    let msg = toml_error(&with("tab = \"Inventory\"\n", ""));
    assert!(msg.contains("missing field `tab`"), "{msg}");
    let msg = toml_error(&with("sku = \"SKU\"\n", ""));
    assert!(msg.contains("missing field `sku`"), "{msg}");
}

#[test]
fn urls_are_not_quoted_back() {
    let text = MINIMAL.replace(
        "[shopify]",
        "[shopify]\napi_base_url = \"ftp://user:hunter2@proxy.example/\"",
    );
    let msg = invalid(&text);
    assert!(
        msg.starts_with("shopify.api_base_url: not an http(s) URL"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn toml_errors_do_not_quote_the_line() {
    // A literal secret on a misspelt key must not be echoed back.
    let msg = toml_error(&with(
        "token = \"${SHOPIFY_ACCESS_TOKEN}\"",
        "tokenn = \"shpat_literal_secret\"",
    ));
    assert!(msg.contains("unknown field `tokenn`"), "{msg}");
    assert!(!msg.contains("shpat_literal_secret"), "{msg}");
}

#[test]
fn every_missing_variable_is_named_once_sorted() {
    let text = with("tab = \"Inventory\"", "tab = \"${TAB}\"")
        .replace("sa.json", "${KEY_DIR}/sa.json")
        .replace("example.myshopify.com", "${SHOP}.myshopify.com${TAB}");
    match Config::parse(&text, Path::new("c.toml"), &no_env) {
        Err(e @ ConfigError::MissingEnv { .. }) => {
            let ConfigError::MissingEnv { names, .. } = &e else {
                unreachable!()
            };
            assert_eq!(names, &["KEY_DIR", "SHOP", "SHOPIFY_ACCESS_TOKEN", "TAB"]);
            assert_eq!(
                e.to_string(),
                "config c.toml: environment variable(s) not set: KEY_DIR, SHOP, SHOPIFY_ACCESS_TOKEN, TAB"
            );
        }
        other => panic!("expected MissingEnv, got {other:?}"),
    }
}

#[test]
fn interpolates_every_kind_of_string() {
    let env = |name: &str| match name {
        "HDR" => Some("Stock here".to_owned()),
        "DIR" => Some("/var/lib".to_owned()),
        "PORT" => Some("8080".to_owned()),
        other => super::tests::env(other),
    };
    let text = with(
        "\"Main Warehouse\" = \"Stock\"",
        "\"Main Warehouse\" = \"${HDR}\"",
    )
    .replace("sa.json", "${DIR}/sa.json")
    .replace(
        "[shopify]",
        "[shopify]\napi_base_url = \"http://127.0.0.1:${PORT}\"",
    )
    .replace("tab = \"Inventory\"", "tab = \"Cost $${PORT} ${PORT}\"");
    let c = Config::parse(&text, Path::new("c.toml"), &env).unwrap();
    assert_eq!(
        c.inventory_columns(),
        [("Main Warehouse".to_owned(), "Stock here".to_owned())]
    );
    assert_eq!(
        c.google.credentials,
        Some(PathBuf::from("/var/lib/sa.json"))
    );
    assert_eq!(
        c.shopify.as_ref().unwrap().api_base_url.as_deref(),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(c.sheet.tab, "Cost ${PORT} 8080");
}

#[test]
fn malformed_reference_is_invalid_and_names_the_key() {
    let msg = invalid(&with("tab = \"Inventory\"", "tab = \"${TAB\""));
    assert!(msg.starts_with("sheet.tab: "), "{msg}");
}

#[test]
fn spreadsheet_url_is_reduced_to_its_id() {
    let c = parse(&with(
        "\"1AbC\"",
        "\"https://docs.google.com/spreadsheets/d/1XyZ_-9/edit#gid=0\"",
    ))
    .unwrap();
    assert_eq!(c.sheet.spreadsheet_id, "1XyZ_-9");
    let msg = invalid(&with(
        "\"1AbC\"",
        "\"https://docs.google.com/document/d/1XyZ/edit\"",
    ));
    assert!(msg.starts_with("sheet.spreadsheet_id: "), "{msg}");
}

#[test]
fn inventory_headers_must_be_strings() {
    let msg = invalid(&with(
        "\"Main Warehouse\" = \"Stock\"",
        "\"Main Warehouse\" = 3",
    ));
    assert!(
        msg.contains("sheet.inventory.\"Main Warehouse\" must be the header text"),
        "{msg}"
    );
    assert!(msg.contains("not integer"), "{msg}");
}

#[test]
fn a_header_used_twice_is_invalid() {
    let msg = invalid(&with(
        "\"Main Warehouse\" = \"Stock\"",
        "\"Main Warehouse\" = \"Price\"",
    ));
    assert_eq!(
        msg,
        "header \"Price\" is used twice: by sheet.columns.price and by sheet.inventory.\"Main Warehouse\""
    );
    let msg = invalid(
        &format!("{MINIMAL}\n[sheet.write_back]\nstatus = \" SKU \"\n")
            .replace("[sheet.write_back]", "[sheet.write_back]"),
    );
    assert!(
        msg.contains(
            "header \"SKU\" is used twice: by sheet.columns.sku and by sheet.write_back.status"
        ),
        "{msg}"
    );
    let msg = invalid(&with("price = \"Price\"", "price = \"  \""));
    assert!(msg.contains("sheet.columns.price is empty"), "{msg}");
}

#[test]
fn shop_must_be_a_domain() {
    let msg = invalid(&with("shop = \"example.myshopify.com\"", "shop = \"\""));
    assert!(msg.contains("shopify.shop is empty"), "{msg}");
    let msg = invalid(&with(
        "shop = \"example.myshopify.com\"",
        "shop = \"https://example.myshopify.com\"",
    ));
    assert!(msg.contains("domain only"), "{msg}");
}

#[test]
fn auth_methods_require_their_credentials() {
    let token_line = "token = \"${SHOPIFY_ACCESS_TOKEN}\"";
    let msg = invalid(&with(token_line, ""));
    assert_eq!(
        msg,
        "shopify.auth.token is required (and must not be empty) with method = \"token\""
    );
    let msg = invalid(&with(token_line, "token = \"\""));
    assert!(msg.contains("shopify.auth.token is required"), "{msg}");

    for method in ["client_credentials", "oauth"] {
        let text = with("method = \"token\"", &format!("method = \"{method}\""));
        let msg = invalid(&text);
        assert!(msg.contains(&format!("shopify.auth.client_id is required (and must not be empty) with method = \"{method}\"")), "{msg}");
        assert!(
            msg.contains("shopify.auth.client_secret is required"),
            "{msg}"
        );
        let ok = text.replace(
            token_line,
            "client_id = \"${SHOPIFY_CLIENT_ID}\"\nclient_secret = \"${SHOPIFY_CLIENT_SECRET}\"",
        );
        let c = parse(&ok).unwrap();
        assert_eq!(
            c.shopify.as_ref().unwrap().auth.client_id.as_deref(),
            Some("client-id-1")
        );
    }
}

#[test]
fn guard_limits_take_any_number_of_zero_or_more() {
    for (line, want) in [
        ("max_change_ratio = 1", Decimal::ONE),
        ("max_change_ratio = 0.01", Decimal::new(1, 2)),
        ("max_change_ratio = 0", Decimal::ZERO),
        ("max_change_ratio = 1.5", Decimal::new(15, 1)),
        ("max_price_change = 3", Decimal::from(3)),
        ("max_price_change = 0.1", Decimal::new(1, 1)),
        ("max_price_change = 0", Decimal::ZERO),
        ("max_price_change = 1000000", Decimal::from(1_000_000)),
        ("max_price_change = 1e6", Decimal::from(1_000_000)),
        // Beyond Decimal's range: the guard is off.
        ("max_price_change = 1e30", GUARD_OFF),
        ("max_change_ratio = 1e30", GUARD_OFF),
        ("max_price_change = 1.0e300", GUARD_OFF),
        ("max_price_change = inf", GUARD_OFF),
        (
            "max_price_change = 9223372036854775807",
            Decimal::from(i64::MAX),
        ),
    ] {
        let c = parse(&format!("{MINIMAL}\n[sync]\n{line}\n"))
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let got = if line.starts_with("max_change_ratio") {
            c.sync.max_change_ratio
        } else {
            c.sync.max_price_change
        };
        assert_eq!(got, want, "{line}");
    }
}

#[test]
fn negative_or_nan_guard_limits_name_the_key_and_its_line() {
    for line in [
        "max_change_ratio = -0.5",
        "max_change_ratio = -1",
        "max_price_change = -2",
        "max_price_change = nan",
        "max_price_change = -inf",
        "max_price_change = \"off\"",
    ] {
        let text = format!("{MINIMAL}\n[sync]\n{line}\n");
        let at = text.lines().position(|l| l == line).unwrap() + 1;
        let msg = parse(&text).expect_err(line).to_string();
        let key = line.split(' ').next().unwrap();
        assert!(msg.contains(key), "{line}: {msg}");
        assert!(msg.contains(&format!("line {at}")), "{line}: {msg}");
    }
}

#[test]
fn api_version_must_look_like_a_version() {
    let text = MINIMAL.replace("[shopify]", "[shopify]\napi_version = \"2026-7\"");
    assert!(invalid(&text).contains("shopify.api_version \"2026-7\""));
    let text = MINIMAL.replace("[shopify]", "[shopify]\napi_version = \"2025-10\"");
    assert_eq!(
        parse(&text).unwrap().shopify.as_ref().unwrap().api_version,
        "2025-10"
    );
}

#[test]
fn other_layouts_are_accepted() {
    let preset = |layout: &str| {
        with(
            "tab = \"Inventory\"",
            &format!("tab = \"Inventory\"\nlayout = \"{layout}\""),
        )
        .replace("[sheet.columns]\nsku = \"SKU\"\nprice = \"Price\"\n", "")
    };
    let config = parse(&preset("shopify-products")).unwrap();
    assert_eq!(config.sheet.layout, Layout::ShopifyProducts);
    let headers: Vec<String> = config
        .column_specs()
        .into_iter()
        .map(|s| s.header)
        .collect();
    assert_eq!(
        headers,
        [
            "Variant SKU",
            "Variant Price",
            "Variant Compare At Price",
            "Cost per item",
            "Variant Barcode",
            "Stock",
            "Title",
            "Status",
            "Tags",
            "Vendor",
            "Type",
            "Body (HTML)"
        ]
    );
    // Optional preset columns the sheet lacks are not looked for; required ones are.
    let header = vec![
        ["Handle", "Title", "Variant SKU", "Variant Price", "Stock"]
            .map(|h| serde_json::json!(h))
            .to_vec(),
    ];
    let found: Vec<String> = config
        .column_specs_for(&header)
        .into_iter()
        .map(|s| s.header)
        .collect();
    assert_eq!(found, ["Variant SKU", "Variant Price", "Stock", "Title"]);

    let config = parse(&preset("shopify-inventory")).unwrap();
    let headers: Vec<String> = config
        .column_specs()
        .into_iter()
        .map(|s| s.header)
        .collect();
    assert_eq!(headers, ["SKU", "Stock"]);

    // A preset names its own columns: [sheet.columns] next to it is a mistake.
    let text = with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\nlayout = \"shopify-products\"",
    );
    assert!(invalid(&text).contains("sheet.columns is not used"));
    let text = with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\nlayout = \"rows\"",
    );
    assert!(toml_error(&text).contains("unknown variant `rows`"));
}

#[test]
fn google_methods_require_their_files() {
    let msg = invalid(&with("credentials = \"sa.json\"", ""));
    assert!(msg.starts_with("google.credentials is required"), "{msg}");
    let msg = invalid(&with("credentials = \"sa.json\"", "method = \"installed\""));
    assert!(msg.starts_with("google.client_secret is required"), "{msg}");
    let c = parse(&with(
        "credentials = \"sa.json\"",
        "method = \"installed\"\nclient_secret = \"cs.json\"",
    ))
    .unwrap();
    assert_eq!(c.google.method, GoogleMethod::Installed);
}

#[test]
fn base_urls_are_checked_and_sheets_ones_end_with_a_slash() {
    let text = with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\napi_base_url = \"http://127.0.0.1:9000\"\ndrive_api_base_url = \"http://127.0.0.1:9000/drive\"",
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.sheet.api_base_url, "http://127.0.0.1:9000/");
    assert_eq!(c.sheet.drive_api_base_url, "http://127.0.0.1:9000/drive/");

    let text = with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\napi_base_url = \"sheets.googleapis.com\"",
    );
    assert!(invalid(&text).starts_with("sheet.api_base_url: "));
    let text = with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\ndrive_api_base_url = \"ftp://x.example/\"",
    );
    assert!(invalid(&text).starts_with("sheet.drive_api_base_url: "));
    let text = MINIMAL.replace("[shopify]", "[shopify]\napi_base_url = \"not a url\"");
    assert!(invalid(&text).starts_with("shopify.api_base_url: "));
}

#[test]
fn all_problems_are_reported_together() {
    let text = with("shop = \"example.myshopify.com\"", "shop = \"\"")
        .replace("credentials = \"sa.json\"", "");
    let msg = invalid(&text);
    assert!(
        msg.contains("shopify.shop is empty") && msg.contains("google.credentials is required"),
        "{msg}"
    );
}

#[test]
fn debug_of_the_whole_config_hides_secrets() {
    let c = parse(&with("method = \"token\"", "method = \"client_credentials\"\nclient_id = \"id\"\nclient_secret = \"${SHOPIFY_CLIENT_SECRET}\""))
        .unwrap();
    assert_eq!(
        c.shopify
            .as_ref()
            .unwrap()
            .auth
            .client_secret
            .as_ref()
            .map(Secret::expose),
        Some(SECRET)
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("topsecret"), "{debug}");
    assert!(debug.contains("[REDACTED]"));
    let pretty = format!("{c:#?}");
    assert!(!pretty.contains("topsecret"));
}

#[test]
fn column_specs_follow_the_documented_order() {
    let text = format!(
        "{}\n[sheet.write_back]\nstatus = \"Sync status\"\nsynced_at = \"Last synced\"\n",
        with(
            "price = \"Price\"",
            "price = \"Price\"\nvendor = \"Vendor\"\nbarcode = \"Barcode\""
        )
        .replace(
            "\"Main Warehouse\" = \"Stock\"",
            "\"Zeta\" = \"Z stock\"\n\"Alpha\" = \"A stock\""
        )
    );
    let c = parse(&text).unwrap();
    let specs: Vec<(ColumnKey, String)> = c
        .column_specs()
        .into_iter()
        .map(|s| (s.key, s.header))
        .collect();
    assert_eq!(
        specs,
        [
            (ColumnKey::Sku, "SKU".to_owned()),
            (ColumnKey::Field(Field::Price), "Price".to_owned()),
            (ColumnKey::Field(Field::Barcode), "Barcode".to_owned()),
            (ColumnKey::Stock("Zeta".into()), "Z stock".to_owned()),
            (ColumnKey::Stock("Alpha".into()), "A stock".to_owned()),
            (ColumnKey::Product("vendor"), "Vendor".to_owned()),
            (ColumnKey::Status, "Sync status".to_owned()),
            (ColumnKey::SyncedAt, "Last synced".to_owned()),
        ]
    );
}

#[test]
fn discover_follows_the_lookup_order() {
    let none = |_: &Path| false;
    let both = |_: &Path| true;
    let nested_only = |p: &Path| p == Path::new("config/sheetsync.toml");
    let (cli, envp) = (Path::new("/etc/a.toml"), Path::new("b.toml"));

    assert_eq!(
        discover(Some(cli), Some(envp), &both),
        Some(cli.to_path_buf())
    );
    // A named file is returned even if missing: loading it then says so.
    assert_eq!(discover(Some(cli), None, &none), Some(cli.to_path_buf()));
    assert_eq!(discover(None, Some(envp), &none), Some(envp.to_path_buf()));
    assert_eq!(
        discover(None, Some(Path::new("")), &both),
        Some(PathBuf::from("sheetsync.toml"))
    );
    assert_eq!(
        discover(None, None, &both),
        Some(PathBuf::from("sheetsync.toml"))
    );
    assert_eq!(
        discover(None, None, &nested_only),
        Some(PathBuf::from("config/sheetsync.toml"))
    );
    assert_eq!(discover(None, None, &none), None);
}

const EXAMPLE: &str = include_str!("../../config/sheetsync.example.toml");

#[test]
fn example_config_parses_and_sets_every_key() {
    let c = Config::parse(EXAMPLE, Path::new("config/sheetsync.example.toml"), &env).unwrap();
    assert_eq!(
        c.sheet.spreadsheet_id,
        "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    );
    assert_eq!(
        c.shopify.as_ref().unwrap().auth.client_id.as_deref(),
        Some("client-id-1")
    );
    assert_eq!(c.column_specs().len(), 15);
    assert_eq!(c.sync.bulk_mutation_threshold, 200);

    // Every key of every table is written out (not left to its default).
    let raw: toml::Table = EXAMPLE.parse().unwrap();
    let keys = |table: &str| -> Vec<String> {
        let mut t = &raw;
        for part in table.split('.') {
            t = t[part].as_table().unwrap();
        }
        t.keys().cloned().collect()
    };
    let mut sheet = keys("sheet");
    sheet.sort();
    assert_eq!(
        sheet,
        [
            "api_base_url",
            "columns",
            "drive_api_base_url",
            "inventory",
            "layout",
            "spreadsheet_id",
            "tab",
            "write_back"
        ]
    );
    assert_eq!(keys("sheet.columns").len(), 11);
    assert_eq!(keys("sheet.write_back").len(), 2);
    assert_eq!(keys("shopify").len(), 4);
    assert_eq!(keys("sync").len(), 9);
    assert_eq!(keys("serve"), ["hook_secret"]);
    assert_eq!(
        c.sync.bulk_timeout,
        std::time::Duration::from_secs(2 * 3600)
    );
}

#[test]
fn example_config_alternatives_are_valid_keys() {
    // The commented-out alternatives (`# client_secret = …`, `# token = …`) must be real
    // keys: uncomment them and parse again.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|l| {
            let is_key = l
                .strip_prefix("# ")
                .and_then(|rest| rest.split_once(" = "))
                .is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if is_key { &l[2..] } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(uncommented, EXAMPLE.trim_end());
    let c = Config::parse(&uncommented, Path::new("x.toml"), &env).unwrap();
    assert!(c.google.client_secret.is_some());
    assert!(c.shopify.as_ref().unwrap().auth.token.is_some());
    assert!(c.state.url.is_some());
}

#[test]
fn publish_to_needs_create_missing_and_distinct_names() {
    let sync = |extra: &str| {
        format!(
            "{}\n[sync]\n{extra}\n",
            with(
                "price = \"Price\"",
                "price = \"Price\"\nhandle = \"Handle\""
            )
        )
    };
    let ok = parse(&sync(
        "create_missing = true\npublish_to = [\"Online Store\", \"Point of Sale\"]",
    ))
    .unwrap();
    assert_eq!(ok.sync.publish_to, ["Online Store", "Point of Sale"]);
    assert!(parse(&sync("")).unwrap().sync.publish_to.is_empty());

    let alone = invalid(&sync("publish_to = [\"Online Store\"]"));
    assert!(alone.contains("sync.create_missing = true"), "{alone}");
    let twice = invalid(&sync(
        "create_missing = true\npublish_to = [\"Online Store\", \"Online Store\"]",
    ));
    assert!(twice.contains("\"Online Store\" twice"), "{twice}");
    let blank = invalid(&sync("create_missing = true\npublish_to = [\" \"]"));
    assert!(blank.contains("blank name"), "{blank}");
}

#[test]
fn load_resolves_paths_against_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sheetsync.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let c = Config::load(&path, &env).unwrap();
    assert_eq!(c.google.credentials, Some(dir.path().join("sa.json")));
    assert_eq!(c.sync.state_dir, dir.path().join(".sheetsync"));

    let missing = dir.path().join("nope.toml");
    assert!(matches!(
        Config::load(&missing, &env),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn bulk_timeout_is_a_positive_humantime_duration() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.sync.bulk_timeout, crate::config::DEFAULT_BULK_TIMEOUT);
    let c = parse(&format!("{MINIMAL}\n[sync]\nbulk_timeout = \"90m\"\n")).unwrap();
    assert_eq!(c.sync.bulk_timeout, std::time::Duration::from_secs(90 * 60));
    let zero = toml_error(&format!("{MINIMAL}\n[sync]\nbulk_timeout = \"0s\"\n"));
    assert!(zero.contains("longer than zero"), "{zero}");
    let junk = toml_error(&format!("{MINIMAL}\n[sync]\nbulk_timeout = \"soon\"\n"));
    assert!(junk.contains("not a duration"), "{junk}");
}

#[test]
fn google_base_urls_take_plain_http_to_loopback_only() {
    for (key, line) in [
        (
            "sheet.api_base_url",
            "api_base_url = \"http://sheets.example.com/\"",
        ),
        (
            "sheet.drive_api_base_url",
            "drive_api_base_url = \"http://10.1.2.3:8080/drive\"",
        ),
    ] {
        let msg = invalid(&with(
            "tab = \"Inventory\"",
            &format!("tab = \"Inventory\"\n{line}"),
        ));
        assert!(msg.contains(key) && msg.contains("must be https"), "{msg}");
        assert!(
            !msg.contains("example.com") && !msg.contains("10.1.2.3"),
            "{msg}"
        );
    }
    let c = parse(&with(
        "tab = \"Inventory\"",
        "tab = \"Inventory\"\napi_base_url = \"http://localhost:9000\"\ndrive_api_base_url = \"http://[::1]:9000/drive\"",
    ))
    .unwrap();
    assert_eq!(c.sheet.api_base_url, "http://localhost:9000/");
    assert_eq!(c.sheet.drive_api_base_url, "http://[::1]:9000/drive/");
}

const WOO: &str = r#"
[sheet]
spreadsheet_id = "1AbC"
tab = "Inventory"

[sheet.columns]
sku = "SKU"
regular_price = "Regular"
sale_price = "Sale"
stock = "Stock"

[google]
credentials = "sa.json"

[woocommerce]
url = "https://shop.example.com/"
consumer_key = "${WC_KEY}"
consumer_secret = "${WC_SECRET}"
"#;

fn woo_env(name: &str) -> Option<String> {
    match name {
        "WC_KEY" => Some("ck_0123456789abcdef".into()),
        "WC_SECRET" => Some("cs_topsecret_0123456789".into()),
        _ => env(name),
    }
}

fn woo(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("sheetsync.toml"), &woo_env)
}

fn woo_invalid(text: &str) -> String {
    match woo(text) {
        Err(ConfigError::Invalid { message, .. }) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_woocommerce_timeout_is_a_positive_humantime_duration() {
    let c = woo(&WOO.replace("[woocommerce]", "[woocommerce]\ntimeout = \"3m\"")).unwrap();
    assert_eq!(
        c.woocommerce.unwrap().timeout,
        std::time::Duration::from_secs(180)
    );
    for (value, says) in [("0s", "longer than zero"), ("soon", "not a duration")] {
        let text = WOO.replace(
            "[woocommerce]",
            &format!("[woocommerce]\ntimeout = \"{value}\""),
        );
        let msg = toml_error_of(woo(&text));
        assert!(
            msg.contains("woocommerce.timeout") && msg.contains(says),
            "{msg}"
        );
    }
}

fn toml_error_of(result: Result<Config, ConfigError>) -> String {
    match result {
        Err(e @ ConfigError::Toml { .. }) => e.to_string(),
        other => panic!("expected a toml error, got {other:?}"),
    }
}

#[test]
fn a_woocommerce_store_reads_its_own_fields_and_one_stock_column() {
    let c = woo(WOO).unwrap();
    assert_eq!(c.store_kind(), StoreKind::WooCommerce);
    let w = c.woocommerce.as_ref().unwrap();
    assert_eq!(w.url, "https://shop.example.com");
    assert_eq!(w.api_root(), "https://shop.example.com/wp-json/wc/v3");
    assert_eq!(w.max_concurrency, woocommerce::DEFAULT_MAX_CONCURRENCY);
    assert_eq!(w.timeout, woocommerce::DEFAULT_TIMEOUT);
    assert_eq!(c.shop_name(), "https://shop.example.com");
    let keys: Vec<ColumnKey> = c.column_specs().into_iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        vec![
            ColumnKey::Sku,
            ColumnKey::Field(Field::RegularPrice),
            ColumnKey::Field(Field::SalePrice),
            ColumnKey::OwnStock,
        ]
    );
    // Neither secret shows in Debug output.
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("topsecret") && !debug.contains("0123456789abcdef"),
        "{debug}"
    );
}

#[test]
fn exactly_one_store_section() {
    let both = format!(
        "{WOO}\n[shopify]\nshop = \"example.myshopify.com\"\n[shopify.auth]\nmethod = \"token\"\ntoken = \"x\"\n"
    );
    assert!(woo_invalid(&both).contains("[shopify] and [woocommerce] are both set"));
    let neither = WOO.split("[woocommerce]").next().unwrap().to_owned();
    assert!(woo_invalid(&neither).contains("no store: add a [shopify] or a [woocommerce] section"));
}

#[test]
fn shopify_fields_with_a_woocommerce_store_name_what_to_use() {
    let cases = [
        (
            "price = \"P\"",
            "sheet.columns.price is a Shopify field",
            "regular_price",
        ),
        (
            "compare_at_price = \"C\"",
            "sheet.columns.compare_at_price",
            "sale_price",
        ),
        (
            "vendor = \"V\"",
            "sheet.columns.vendor",
            "WooCommerce has no vendor",
        ),
        (
            "product_type = \"T\"",
            "sheet.columns.product_type",
            "WooCommerce has no product type",
        ),
    ];
    for (line, key, why) in cases {
        let text = WOO.replace("stock = \"Stock\"", &format!("stock = \"Stock\"\n{line}"));
        let msg = woo_invalid(&text);
        assert!(msg.contains(key) && msg.contains(why), "{line}: {msg}");
    }
    let text = format!("{WOO}\n[sheet.inventory]\n\"Main\" = \"Main stock\"\n");
    let msg = woo_invalid(&text);
    assert!(
        msg.contains("[sheet.inventory]") && msg.contains("sheet.columns.stock"),
        "{msg}"
    );
    let msg = woo_invalid(&WOO.replace(
        "[sheet.columns]",
        "layout = \"shopify-products\"\n[sheet.columns]",
    ));
    assert!(msg.contains("sheet.layout"), "{msg}");
}

#[test]
fn woocommerce_create_missing_needs_a_title_column_and_no_handle() {
    let with_sync = format!("{WOO}\n[sync]\ncreate_missing = true\n");
    let msg = woo_invalid(&with_sync);
    assert!(msg.contains("sheet.columns.title"), "{msg}");
    assert!(!msg.contains("handle"), "{msg}");
    let titled = with_sync.replace("stock = \"Stock\"", "stock = \"Stock\"\ntitle = \"Title\"");
    let c = woo(&titled).expect("create_missing with title and regular_price");
    assert!(c.sync.create_missing);
}

#[test]
fn woocommerce_fields_with_a_shopify_store_are_refused() {
    let msg = invalid(&with(
        "price = \"Price\"",
        "price = \"Price\"\nsale_price = \"Sale\"\nstock = \"S\"",
    ));
    assert!(
        msg.contains("sheet.columns.sale_price is a WooCommerce field"),
        "{msg}"
    );
    assert!(
        msg.contains("sheet.columns.stock is a WooCommerce field"),
        "{msg}"
    );
}

#[test]
fn the_woocommerce_key_goes_over_https_or_to_loopback_only() {
    let msg = woo_invalid(&WOO.replace("https://shop.example.com/", "http://shop.example.com"));
    assert!(
        msg.contains("woocommerce.url") && msg.contains("https"),
        "{msg}"
    );
    assert!(woo(&WOO.replace("https://shop.example.com/", "http://127.0.0.1:8080")).is_ok());
    let msg = woo_invalid(&WOO.replace(
        "consumer_secret",
        "api_base_url = \"http://10.0.0.2/wp-json/wc/v3\"\nconsumer_secret",
    ));
    assert!(msg.contains("woocommerce.api_base_url"), "{msg}");
    let msg = woo_invalid(&WOO.replace("[woocommerce]", "[woocommerce]\nmax_concurrency = 0"));
    assert!(msg.contains("woocommerce.max_concurrency"), "{msg}");
    // A missing variable is named, as for every secret.
    match Config::parse(WOO, Path::new("sheetsync.toml"), &no_env) {
        Err(ConfigError::MissingEnv { names, .. }) => {
            assert!(names.contains(&"WC_KEY".to_owned()), "{names:?}")
        }
        other => panic!("expected MissingEnv, got {other:?}"),
    }
}

#[test]
fn state_pool_size_defaults_to_8_and_must_be_at_least_one() {
    assert_eq!(parse(MINIMAL).unwrap().state.pool_size, DEFAULT_POOL_SIZE);
    assert_eq!(DEFAULT_POOL_SIZE, 8);
    let text = |v: &str| format!("{MINIMAL}\n[state]\npool_size = {v}\n");
    assert_eq!(parse(&text("3")).unwrap().state.pool_size, 3);
    for bad in ["0", "-2"] {
        let e = toml_error(&text(bad));
        assert!(e.contains("pool_size must be at least 1"), "{e}");
        assert!(e.contains("line"), "names the line: {e}");
    }
    for bad in ["\"many\"", "2.5"] {
        let e = toml_error(&text(bad));
        assert!(e.contains("pool_size must be a whole number"), "{e}");
    }
    // The environment and the flag go through the same check.
    assert_eq!(parse_pool_size(" 12 "), Ok(12));
    let e = parse_pool_size("0").unwrap_err();
    assert!(e.contains("at least 1"), "{e}");
    let e = parse_pool_size("eight").unwrap_err();
    assert!(e.contains("whole number"), "{e}");
}

#[test]
fn google_quotas_default_to_60_and_must_be_at_least_one() {
    use super::quota::{DEFAULT_PER_MINUTE, parse_per_minute};
    let c = parse(MINIMAL).unwrap();
    assert_eq!(DEFAULT_PER_MINUTE, 60);
    assert_eq!(
        (c.google.reads_per_minute, c.google.writes_per_minute),
        (60, 60)
    );
    let text = |kv: &str| {
        with(
            "credentials = \"sa.json\"",
            &format!("credentials = \"sa.json\"\n{kv}"),
        )
    };
    let c = parse(&text("reads_per_minute = 20\nwrites_per_minute = 300")).unwrap();
    assert_eq!(
        (c.google.reads_per_minute, c.google.writes_per_minute),
        (20, 300)
    );
    for bad in ["reads_per_minute = 0", "writes_per_minute = -5"] {
        let e = toml_error(&text(bad));
        assert!(e.contains("must be at least 1"), "{e}");
        assert!(e.contains("line"), "names the line: {e}");
    }
    for bad in ["reads_per_minute = \"lots\"", "writes_per_minute = 1.5"] {
        let e = toml_error(&text(bad));
        assert!(e.contains("whole number"), "{e}");
    }
    assert_eq!(parse_per_minute(" 30 "), Ok(30));
    let e = parse_per_minute("10000000000").unwrap_err();
    assert!(e.contains("at most 1000000"), "{e}");
}
