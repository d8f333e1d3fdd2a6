//! WooCommerce (SPEC §8) through the binary against the sandbox's WooCommerce fake and
//! Sheets fake: dry run = run, sales between read and write (three-way and sheet-wins),
//! a sale inside the write window (the note), batch partial failure, 429 and HTML 503,
//! bad and read-only keys, the identity traps, more than 100 changes, a kill, and a
//! bad-input table for WooCommerce's fields.

use std::path::PathBuf;

use serde_json::{Value, json};
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::woocommerce::{
    Catalogue, Fault, FaultBody, FaultRule, HoldPoint, PRODUCTS_BATCH, VARIATIONS_BATCH, WooFake,
    WooOptions,
};

use crate::common;

const HEADER: [&str; 6] = [
    "SKU",
    "Regular price",
    "Sale price",
    "Stock",
    "Status",
    "Barcode",
];

struct Woo {
    fake: WooFake,
    sheets: SheetsFake,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn row(cells: &[Value]) -> Vec<Value> {
    cells.to_vec()
}

/// The demo store's rows as they are (so a first `--adopt sheet` run agrees everywhere).
fn agreeing_rows() -> Vec<Vec<Value>> {
    vec![
        row(&[
            json!("TEE-RED-M"),
            json!(24.9),
            json!(19.9),
            json!(22),
            json!("publish"),
        ]),
        row(&[
            json!("TOTE-NAT"),
            json!(16),
            json!(""),
            json!(20),
            json!(""),
        ]),
        row(&[
            json!("HOOD-GRY-M"),
            json!(49),
            json!(""),
            json!(8),
            json!(""),
        ]),
        row(&[
            json!("CAP-NAVY"),
            json!(22),
            json!(""),
            json!(25),
            json!(""),
        ]),
    ]
}

impl Woo {
    async fn start(rows: Vec<Vec<Value>>, extra: &str) -> Woo {
        Woo::with(WooOptions::default(), rows, extra).await
    }

    async fn with(options: WooOptions, rows: Vec<Vec<Value>>, extra: &str) -> Woo {
        Woo::build(options, &HEADER, "", rows, extra).await
    }

    /// With the `Title` column too (column G), for `create_missing`.
    async fn with_titles(rows: Vec<Vec<Value>>, extra: &str) -> Woo {
        let mut header = HEADER.to_vec();
        header.push("Title");
        Woo::build(
            WooOptions::default(),
            &header,
            "title = \"Title\"\n",
            rows,
            extra,
        )
        .await
    }

    async fn build(
        options: WooOptions,
        header: &[&str],
        columns: &str,
        rows: Vec<Vec<Value>>,
        extra: &str,
    ) -> Woo {
        let fake = WooFake::start(options).await.expect("woocommerce fake");
        let sheets = SheetsFake::new();
        let mut all = vec![header.iter().map(|h| json!(h)).collect::<Vec<_>>()];
        all.extend(rows);
        sheets.add_tab("Inventory", all);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = sheets.clone();
        tokio::spawn(async move {
            let _ = served.serve(listener).await;
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("sa.json");
        write_private(
            &key,
            &sheets.service_account_key_json(&format!("http://{addr}/token")),
        );
        let config = dir.path().join("sheetsync.toml");
        let text = format!(
            r#"
[sheet]
spreadsheet_id = "{id}"
tab = "Inventory"
api_base_url = "http://{addr}/"
drive_api_base_url = "http://{addr}/"

[sheet.columns]
sku = "SKU"
regular_price = "Regular price"
sale_price = "Sale price"
stock = "Stock"
status = "Status"
barcode = "Barcode"
{columns}
[google]
credentials = "sa.json"

[woocommerce]
url = "{url}"
consumer_key = "${{WC_KEY}}"
consumer_secret = "${{WC_SECRET}}"
max_concurrency = 1

[sync]
state_dir = "state"
{extra}
"#,
            id = sheets.spreadsheet_id(),
            url = fake.base_url(),
            columns = columns,
        );
        write_private(&config, &text);
        Woo {
            fake,
            sheets,
            _dir: dir,
            config,
        }
    }

    fn keys(&self) -> [(&'static str, &'static str); 2] {
        [
            ("WC_KEY", self.fake.consumer_key()),
            ("WC_SECRET", self.fake.consumer_secret()),
        ]
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        common::run_sheetsync_env(&self.config, args, &self.keys()).await
    }

    async fn sync_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all).await;
        (code, common::json_output(code, &stdout, &stderr))
    }

    /// `sync --json ARGS` in the background, its report read when it ends.
    fn spawn_sync(&self, args: &[&str]) -> tokio::task::JoinHandle<(i32, Value)> {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(["sync", "--json"])
            .args(args)
            .env_remove("SHEETSYNC_LOG")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, v) in self.keys() {
            cmd.env(k, v);
        }
        tokio::spawn(async move {
            let out = cmd.output().await.expect("run sheetsync");
            let code = out.status.code().unwrap_or(-1);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (code, common::json_output(code, &stdout, &stderr))
        })
    }

    fn writes(&self) -> Vec<String> {
        self.fake
            .request_log()
            .into_iter()
            // The write-permission probe (an empty batch) is marked and writes nothing.
            .filter(|r| {
                r.method != "GET"
                    && r.path.ends_with("/batch")
                    && !r.query.contains("sheetsync_probe")
            })
            .map(|r| r.path)
            .collect()
    }

    fn stock(&self, sku: &str) -> Option<i64> {
        self.fake.item_by_sku(sku).and_then(|i| i.stock_quantity)
    }
}

fn write_private(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write file");
}

fn change<'a>(report: &'a Value, sku: &str, field: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["sku"] == sku && c["field"] == field))
        .unwrap_or_else(|| panic!("no {field} change for {sku}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_equals_the_run_and_a_second_run_writes_nothing() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17.5); // TOTE-NAT regular price
    rows[2][3] = json!(11); // HOOD-GRY-M stock (a variation)
    rows[0][4] = json!("draft"); // TEE-RED-M's parent status
    let env = Woo::start(rows, "max_change_ratio = 1.0").await;
    let (code, dry) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{dry:#}");
    assert!(env.writes().is_empty(), "a dry run sent a write");
    let (code, real) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{real:#}");
    let strip = |r: &Value| -> Vec<Value> {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!([c["sku"], c["field"], c["location"], c["from"], c["to"]]))
            .collect()
    };
    assert_eq!(strip(&dry), strip(&real));
    assert_eq!(real["changes"].as_array().unwrap().len(), 3, "{real:#}");
    assert!(
        real["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "applied")
    );
    assert_eq!(
        change(&real, "HOOD-GRY-M", "inventory")["location"],
        Value::Null
    );
    assert_eq!(
        real["shop"],
        json!(env.fake.base_url().trim_end_matches('/'))
    );
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "17.50"
    );
    assert_eq!(env.stock("HOOD-GRY-M"), Some(11));
    assert_eq!(
        env.fake.item(101).map(|p| p.status),
        Some("draft".to_owned())
    );
    // The unchanged sheet: nothing planned, nothing sent.
    let before = env.writes().len();
    let (code, again) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert_eq!(env.writes().len(), before);
}

/// A sale lands on a variation after the run read the store, while an earlier batch is
/// held: the variation's batch re-reads it and re-plans.
async fn sale_between_read_and_write(policy: &str) -> (Woo, Value) {
    let env = Woo::start(agreeing_rows(), &format!("inventory = \"{policy}\"")).await;
    let (code, first) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{first:#}");
    // The sheet now moves a product's price and the variation's stock.
    env.sheets.set_cell("Inventory", "B3", json!(18));
    env.sheets.set_cell("Inventory", "D4", json!(12));
    // The first products batch of a run is its (empty) write-permission probe.
    let hold = env
        .fake
        .hold_batch(PRODUCTS_BATCH, 2, HoldPoint::BeforeApply);
    let run = env.spawn_sync(&[]);
    common::held(&hold, "the products batch").await;
    env.fake.place_order(&[("HOOD-GRY-M", 3)]).expect("order");
    hold.release();
    let (code, report) = run.await.expect("run");
    assert_eq!(code, 0, "{report:#}");
    (env, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_way_a_sale_between_read_and_write_is_a_conflict_the_sheet_wins() {
    let (env, report) = sale_between_read_and_write("three_way").await;
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(c["status"], "applied", "{report:#}");
    assert_eq!(c["from"], json!(5), "the re-read quantity: {report:#}");
    // The order landed before the re-read, inside the window's few seconds of slack: the
    // note names it too, as SPEC §8 asks (the window opens before the re-read).
    let note = c["note"].as_str().unwrap();
    assert!(note.starts_with("store changed during run"), "{report:#}");
    assert!(
        note.contains("possible concurrent sale: order #"),
        "{report:#}"
    );
    let conflicts = report["conflicts"].as_array().unwrap();
    assert!(
        conflicts
            .iter()
            .any(|k| k["sku"] == "HOOD-GRY-M" && k["kind"] == "both_changed" && k["store"] == 5),
        "{report:#}"
    );
    assert_eq!(env.stock("HOOD-GRY-M"), Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn sheet_wins_a_sale_between_read_and_write_is_written_with_a_note() {
    let (env, report) = sale_between_read_and_write("sheet_wins").await;
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(c["status"], "applied", "{report:#}");
    assert_eq!(c["from"], json!(5), "{report:#}");
    assert!(
        c["note"]
            .as_str()
            .unwrap()
            .starts_with("store changed during run"),
        "{report:#}"
    );
    assert_eq!(report["conflicts"], json!([]), "{report:#}");
    assert_eq!(env.stock("HOOD-GRY-M"), Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_inside_the_write_window_is_named_in_the_note() {
    let env = Woo::start(agreeing_rows(), "").await;
    env.sync_json(&["--adopt", "sheet"]).await;
    env.sheets.set_cell("Inventory", "D4", json!(12));
    let hold = env
        .fake
        .hold_batch(VARIATIONS_BATCH, 1, HoldPoint::BeforeApply);
    let run = env.spawn_sync(&[]);
    common::held(&hold, "the variations batch").await;
    let order = env.fake.place_order(&[("HOOD-GRY-M", 1)]).expect("order");
    hold.release();
    let (code, report) = run.await.expect("run");
    // A note never changes the status or the exit code.
    assert_eq!(code, 0, "{report:#}");
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(c["status"], "applied");
    assert_eq!(
        c["note"],
        json!(format!("possible concurrent sale: order #{order}")),
        "{report:#}"
    );
    // The absolute write landed over the sale: exactly what the note warns of.
    assert_eq!(env.stock("HOOD-GRY-M"), Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_orders_read_names_each_order_on_the_changes_of_its_own_window() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17); // TOTE-NAT: the products batch, first
    rows[2][3] = json!(11); // HOOD-GRY-M: a variations batch, after it
    let env = Woo::start(rows, "").await;
    let hold = env
        .fake
        .hold_batch(VARIATIONS_BATCH, 1, HoldPoint::BeforeApply);
    let run = env.spawn_sync(&["--adopt", "sheet"]);
    common::held(&hold, "the variations batch").await;
    // Inside HOOD-GRY-M's window.
    let hood = env.fake.place_order(&[("HOOD-GRY-M", 1)]).expect("order");
    // A minute later by the store's clock: long after TOTE-NAT's batch was answered, so
    // that sale came after its write and is no concurrent sale of it.
    env.fake.advance_clock(std::time::Duration::from_secs(60));
    let tote = env.fake.place_order(&[("TOTE-NAT", 1)]).expect("order");
    hold.release();
    let (code, report) = run.await.expect("run");
    assert_eq!(code, 0, "{report:#}");
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(
        c["note"],
        json!(format!("possible concurrent sale: order #{hood}")),
        "{report:#}"
    );
    let c = change(&report, "TOTE-NAT", "regular_price");
    assert_eq!(c["note"], Value::Null, "order #{tote}: {report:#}");
    // One orders read for the run, not one per batch.
    let order_reads = env
        .fake
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/orders"))
        .count();
    assert_eq!(order_reads, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_items_error_in_a_batch_fails_that_item_only() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17); // TOTE-NAT: saved
    // STK-PACK takes MUG-11OZ's GTIN: WooCommerce refuses that item of the same batch.
    rows.push(row(&[
        json!("STK-PACK"),
        json!(""),
        json!(""),
        json!(""),
        json!(""),
        json!("0840012346018"),
    ]));
    let env = Woo::start(rows, "").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(
        change(&report, "TOTE-NAT", "regular_price")["status"],
        "applied"
    );
    let refused = change(&report, "STK-PACK", "barcode");
    assert_eq!(refused["status"], "failed", "{report:#}");
    let why = refused["error"].as_str().unwrap();
    assert!(why.contains("product_invalid_global_unique_id"), "{why}");
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "17.00"
    );
    assert_eq!(
        env.fake.item_by_sku("STK-PACK").unwrap().global_unique_id,
        ""
    );
    assert_eq!(env.writes().len(), 1, "one batch carried both");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttles_and_html_503s_are_waited_out() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17);
    let env = Woo::start(rows, "").await;
    env.fake.add_fault(FaultRule::matching(
        "GET",
        "/products",
        1,
        Fault::TooMany {
            retry_after: Some("1".into()),
            body: FaultBody::Empty,
        },
    ));
    env.fake.add_fault(FaultRule::matching(
        "POST",
        "/products/batch",
        2,
        Fault::Unavailable {
            retry_after: None,
            body: FaultBody::Html,
        },
    ));
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        change(&report, "TOTE-NAT", "regular_price")["status"],
        "applied"
    );
    assert_eq!(env.fake.faults_injected(), 3);
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "17.00"
    );
    assert!(
        env.fake.max_in_flight() <= 1,
        "max_concurrency = 1 was exceeded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_exits_1_and_a_read_only_key_is_refused_before_any_write() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17);
    let env = Woo::start(rows, "").await;
    let wrong = [
        ("WC_KEY", env.fake.consumer_key()),
        ("WC_SECRET", "cs_wrong_secret_123"),
    ];
    let (code, out, err) =
        common::run_sheetsync_env(&env.config, &["sync", "--adopt", "sheet"], &wrong).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("rejected the consumer key"), "{err}");
    assert!(!err.contains("cs_wrong_secret_123") && !out.contains("cs_wrong_secret_123"));

    let ro = [
        ("WC_KEY", env.fake.read_only_key()),
        ("WC_SECRET", env.fake.read_only_secret()),
    ];
    // A dry run may read with it.
    let (code, _, err) =
        common::run_sheetsync_env(&env.config, &["sync", "--dry-run", "--adopt", "sheet"], &ro)
            .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) =
        common::run_sheetsync_env(&env.config, &["sync", "--adopt", "sheet"], &ro).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("read-only") && err.contains("Read/Write"),
        "{err}"
    );
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "16.00"
    );
    let (code, out, _) = common::run_sheetsync_env(&env.config, &["auth", "status"], &ro).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("permission: read only"), "{out}");
    assert!(!out.contains(env.fake.read_only_secret()), "{out}");
    assert!(
        !out.contains(&env.fake.read_only_key()[..12]),
        "more than 7 characters shown: {out}"
    );
    let (code, out, _) = env.run(&["auth", "status"]).await;
    assert!(
        out.contains("permission: read/write") && out.contains("version: 10.3.0"),
        "{out}"
    );
    assert!(out.contains("GET /variations"), "{out}");
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = common::run_sheetsync_env(&env.config, &["check"], &ro).await;
    assert_eq!(code, 2, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_identity_traps_and_the_bad_input_table() {
    let rows = vec![
        // A variable parent's own row: no price there.
        row(&[
            json!("TEE-CLASSIC"),
            json!(20),
            json!(""),
            json!(""),
            json!(""),
        ]),
        // Sale not below regular.
        row(&[
            json!("TOTE-NAT"),
            json!(16),
            json!(16),
            json!(""),
            json!(""),
        ]),
        // Stock on an unmanaged item.
        row(&[json!("STK-PACK"), json!(""), json!(""), json!(3), json!("")]),
        // A price change under a scheduled sale.
        row(&[
            json!("BNDL-MUG-TEE"),
            json!(33),
            json!(""),
            json!(""),
            json!(""),
        ]),
        // Shared parent stock stated twice, differently.
        row(&[
            json!("BEAN-RED"),
            json!(""),
            json!(""),
            json!(10),
            json!(""),
        ]),
        row(&[
            json!("BEAN-GRY"),
            json!(""),
            json!(""),
            json!(11),
            json!(""),
        ]),
        // Shopify's status word.
        row(&[
            json!("CAP-NAVY"),
            json!(""),
            json!(""),
            json!(""),
            json!("ACTIVE"),
        ]),
    ];
    let env = Woo::start(rows, "").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{report:#}");
    let errors: Vec<(String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["cell"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |cell: &str, needle: &str| {
        assert!(
            errors.iter().any(|(c, m)| c == cell && m.contains(needle)),
            "{cell}: {needle:?} not in {errors:#?}"
        )
    };
    has("Inventory!B2", "variable product's own row");
    has("Inventory!C3", "not below regular_price");
    has("Inventory!D4", "does not manage stock");
    has("Inventory!B5", "scheduled sale");
    has("Inventory!D6", "share their parent's stock");
    has("Inventory!D7", "share their parent's stock");
    has("Inventory!E8", "not a WooCommerce status");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert!(env.writes().is_empty());
    // The variation without a SKU of its own reports its parent's: it is not the
    // parent's row and was not touched.
    let shadows = env.fake.items_reporting_sku("TEE-CLASSIC");
    assert!(
        shadows
            .iter()
            .any(|i| i.kind == "variation" && i.own_sku.is_empty())
    );
    assert!(
        shadows
            .iter()
            .all(|i| i.kind != "variation" || i.regular_price == "19.90")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn equal_shared_stock_is_one_write_to_the_parent() {
    let rows = vec![
        row(&[json!("BEAN-RED"), json!(""), json!(""), json!(9), json!("")]),
        row(&[json!("BEAN-GRY"), json!(""), json!(""), json!(9), json!("")]),
    ];
    let env = Woo::start(rows, "").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(env.fake.item(140).and_then(|p| p.stock_quantity), Some(9));
    assert_eq!(
        env.writes(),
        vec!["/wp-json/wc/v3/products/batch".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_100_changes_go_in_batches_of_100_per_parent() {
    let options = WooOptions {
        catalogue: Catalogue::Generated {
            parents: 2,
            per_parent: 130,
        },
        ..WooOptions::default()
    };
    let mut rows = Vec::new();
    for p in 0..2 {
        for n in 0..130 {
            rows.push(row(&[
                json!(format!("GEN-{p}-{n}")),
                json!(""),
                json!(""),
                json!(60 + n),
                json!(""),
            ]));
        }
    }
    let env = Woo::with(options, rows, "max_change_ratio = 1.0").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 260);
    assert!(
        changes.iter().all(|c| c["status"] == "applied"),
        "{report:#}"
    );
    // Two parents × (100 + 30): four variation batches, none refused as too large.
    let writes = env.writes();
    assert_eq!(writes.len(), 4, "{writes:?}");
    assert!(writes.iter().all(|w| w.ends_with("/variations/batch")));
    assert!(env.fake.request_log().iter().all(|r| r.status != Some(413)));
    assert_eq!(env.stock("GEN-1-129"), Some(189));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_after_the_batch_applied_converges_without_sending_it_again() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17);
    let env = Woo::start(rows, "").await;
    // The first products batch of a run is its (empty) write-permission probe.
    let hold = env
        .fake
        .hold_batch(PRODUCTS_BATCH, 2, HoldPoint::AfterApply);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["sync", "--adopt", "sheet"])
        .envs(env.keys())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    common::held(&hold, "the applied products batch").await;
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;
    hold.release();
    // The held request is logged once let go (answered into the void, or dropped).
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the held products batch in the fake's log",
        || env.writes().len() == 1,
    )
    .await;
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "17.00"
    );
    let sent = env.writes().len();
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    // Recovery read the store: the price is in effect, so nothing is planned or sent.
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert_eq!(env.writes().len(), sent);
    let (_, out, _) = env.run(&["runs", "--json"]).await;
    assert!(out.contains("sync"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_woocommerce_demo_runs_the_whole_flow_and_checks_it() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .args(["demo", "--store", "woocommerce"])
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("The demo went as expected."), "{stdout}");
    assert!(
        stdout.contains("TEE-RED-M  inventory  25 → 23  written"),
        "{stdout}"
    );
}

/// A cell's value as text, whether Sheets holds it as a number or a string.
fn cell_text(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revert_puts_a_runs_values_back_and_pull_fills_blank_cells() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17);
    let env = Woo::start(rows, "").await;
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    let (code, out, err) = env.run(&["revert", &run_id, "--json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "16.00"
    );
    assert!(cell_text(env.sheets.cell("Inventory", "B3")).starts_with("16"));
    // `pull` fills a blank cell from the store.
    env.sheets.set_cell("Inventory", "D5", json!(""));
    let (code, out, err) = env.run(&["pull"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cell_text(env.sheets.cell("Inventory", "D5")), "25");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_whose_answer_is_lost_is_re_read_never_sent_again() {
    let mut rows = agreeing_rows();
    rows[2][3] = json!(11); // HOOD-GRY-M: a variations batch
    let env = Woo::start(rows, "").await;
    env.fake.add_fault(FaultRule::matching(
        "POST",
        "/variations/batch",
        1,
        Fault::LostAnswer,
    ));
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        change(&report, "HOOD-GRY-M", "inventory")["status"],
        "applied"
    );
    assert_eq!(env.stock("HOOD-GRY-M"), Some(11));
    let sent: Vec<String> = env
        .writes()
        .into_iter()
        .filter(|w| w.ends_with("/variations/batch"))
        .collect();
    assert_eq!(sent.len(), 1, "re-sent after a lost answer: {sent:?}");
}

impl Woo {
    /// Adds `line` to the config's `[woocommerce]` section.
    fn set_woo(&self, line: &str) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        write_private(
            &self.config,
            &text.replacen("[woocommerce]\n", &format!("[woocommerce]\n{line}\n"), 1),
        );
    }

    /// The `POST`s of a variations batch that reached the fake, answered or not.
    fn variation_batches(&self) -> Vec<sheetsync_sandbox::woocommerce::RequestLog> {
        self.fake
            .request_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/variations/batch"))
            .collect()
    }

    /// The journaled variations batches: (outcome, response note).
    fn journaled_variation_batches(&self) -> Vec<(Option<String>, Option<String>)> {
        let db = self.config.with_file_name("state").join("state.sqlite3");
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("state db");
        let mut stmt = conn
            .prepare(
                "SELECT outcome, response_json FROM requests \
                 WHERE operation LIKE '%variation%' ORDER BY id",
            )
            .expect("query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }
}

/// A variations batch (HOOD-GRY-M's stock, 8 → 11) that the fake holds past the client's
/// `woocommerce.timeout` of 2 s, after applying it (a live store's PHP carries on when
/// the client gives up) or before (it never got to it). The run gives up on the answer
/// by itself; the hold is let go once the run has ended, and the test waits for the
/// fake's log to show the held request.
async fn a_batch_held_past_the_timeout(point: HoldPoint) -> (Woo, i32, Value) {
    let mut rows = agreeing_rows();
    rows[2][3] = json!(11);
    let env = Woo::start(rows, "").await;
    env.set_woo("timeout = \"2s\"");
    let hold = env.fake.hold_batch(VARIATIONS_BATCH, 1, point);
    let run = env.spawn_sync(&["--adopt", "sheet"]);
    common::held(&hold, "the variations batch").await;
    let (code, report) = run.await.expect("run");
    // Dropping the connection of a request parked before it applied never applies it.
    match point {
        HoldPoint::AfterApply => hold.release(),
        HoldPoint::BeforeApply => hold.abandon(),
    }
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the held batch in the fake's log",
        || !env.variation_batches().is_empty(),
    )
    .await;
    (env, code, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_times_out_after_it_landed_is_re_read_never_sent_again() {
    let (env, code, report) = a_batch_held_past_the_timeout(HoldPoint::AfterApply).await;
    assert_eq!(code, 0, "{report:#}");
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(c["status"], "applied", "{report:#}");
    let note = c["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("answer lost (request to WooCommerce timed out)")
            && note.contains("re-read found the value in the store"),
        "{report:#}"
    );
    // One batch POST, never a second; the items were read again after it was sent.
    let batches = env.variation_batches();
    assert_eq!(batches.len(), 1, "re-sent after a timeout: {batches:?}");
    let sent_at = batches[0].at;
    assert!(
        env.fake
            .request_log()
            .iter()
            .any(|r| r.method == "GET" && r.at > sent_at && r.query.contains("include=")),
        "no re-read after the batch: {:?}",
        env.fake.request_log()
    );
    let journal = env.journaled_variation_batches();
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0].0.as_deref(), Some("applied"), "{journal:?}");
    let response = journal[0].1.as_deref().unwrap_or_default();
    assert!(
        response.contains("timed out") && response.contains("1 of 1 changes held"),
        "{response}"
    );
    assert_eq!(env.stock("HOOD-GRY-M"), Some(11));
    // The next run converges: nothing planned, nothing sent.
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert_eq!(env.variation_batches().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_times_out_before_it_landed_fails_and_the_next_run_sends_it_once() {
    let (env, code, report) = a_batch_held_past_the_timeout(HoldPoint::BeforeApply).await;
    // A failed change exits 3.
    assert_eq!(code, 3, "{report:#}");
    let c = change(&report, "HOOD-GRY-M", "inventory");
    assert_eq!(c["status"], "failed", "{report:#}");
    let error = c["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("timed out") && error.contains("does not hold the value"),
        "{report:#}"
    );
    assert_eq!(env.variation_batches().len(), 1);
    let journal = env.journaled_variation_batches();
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0].0.as_deref(), Some("failed"), "{journal:?}");
    assert_eq!(env.stock("HOOD-GRY-M"), Some(8));
    // The next run reads 8, plans 11 again and sends it once (still no baseline for it:
    // the value never landed).
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        change(&report, "HOOD-GRY-M", "inventory")["status"],
        "applied"
    );
    assert_eq!(env.variation_batches().len(), 2);
    assert_eq!(env.stock("HOOD-GRY-M"), Some(11));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_probes_the_store_and_a_cost_column_needs_cost_of_goods() {
    let env = Woo::start(agreeing_rows(), "").await;
    let (code, out, err) = env.run(&["check"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("permission: read/write") && out.contains("check: ok"),
        "{out}"
    );
    // A cost column against a store whose cost of goods is off: exit 2, saying so.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("barcode = \"Barcode\"", "cost = \"Barcode\""),
    )
    .unwrap();
    env.fake.set_cogs_enabled(false);
    let (code, out, err) = env.run(&["sync", "--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("cost of goods feature is off"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_restricts_a_woocommerce_run_to_the_named_fields() {
    let mut rows = agreeing_rows();
    rows[1][1] = json!(17); // TOTE-NAT regular price
    rows[2][3] = json!(11); // HOOD-GRY-M stock
    let env = Woo::start(rows, "max_change_ratio = 1.0").await;
    let (code, report) = env
        .sync_json(&["--adopt", "sheet", "--only", "inventory"])
        .await;
    assert_eq!(code, 0, "{report:#}");
    let fields: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["inventory"], "{report:#}");
    assert_eq!(
        env.fake.item_by_sku("TOTE-NAT").unwrap().regular_price,
        "16.00"
    );
    assert_eq!(env.stock("HOOD-GRY-M"), Some(11));
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_sends_an_edit_to_woocommerce_and_pulls_a_sale() {
    let env = Woo::start(agreeing_rows(), "").await;
    let (code, first) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{first:#}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["watch", "--interval", "200ms", "--full-every", "1s"])
        .envs(env.keys())
        .env("SHEETSYNC_LOG", "sheetsync=info")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn watch");
    let log = common::LogTail::of(&mut child);
    log.wait_for("tick: full sync", 1).await;
    // An edit reaches the store through the narrow (changed rows only) path.
    env.sheets.set_cell("Inventory", "B3", json!(18));
    common::wait_until(
        std::time::Duration::from_secs(15),
        "the store to take the edited price",
        || {
            env.fake
                .item_by_sku("TOTE-NAT")
                .is_some_and(|i| i.regular_price == "18.00")
        },
    )
    .await;
    // A sale in the store is pulled into the sheet by a full sync.
    env.fake.place_order(&[("CAP-NAVY", 4)]).expect("order");
    common::wait_until(
        std::time::Duration::from_secs(15),
        "the sale to reach the sheet",
        || cell_text(env.sheets.cell("Inventory", "D5")) == "21",
    )
    .await;
    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("watch stops after SIGTERM")
        .expect("wait");
    let text = log.finish().await;
    assert_eq!(status.code(), Some(0), "{text}");
}

/// Rows for `create_missing`: the demo store's rows plus new SKUs, with a `Title` column
/// (G). `NEW-APRON` is a whole simple product; `NEW-NONAME` lacks a title, `NEW-NOPRICE`
/// a regular price, and `NEW-TEE-XL`'s title is the variable product Classic Tee's (it
/// would need a variation).
fn creating_rows() -> Vec<Vec<Value>> {
    let mut rows = agreeing_rows();
    rows.push(row(&[
        json!("NEW-APRON"),
        json!(30),
        json!(25),
        json!(7),
        json!(""),
        json!("4006381333931"),
        json!("Linen Apron"),
    ]));
    rows.push(row(&[
        json!("NEW-NONAME"),
        json!(12),
        json!(""),
        json!(""),
        json!(""),
        json!(""),
        json!(""),
    ]));
    rows.push(row(&[
        json!("NEW-NOPRICE"),
        json!(""),
        json!(""),
        json!(3),
        json!(""),
        json!(""),
        json!("Raw Mug"),
    ]));
    rows.push(row(&[
        json!("NEW-TEE-XL"),
        json!(26),
        json!(""),
        json!(4),
        json!(""),
        json!(""),
        json!("Classic Tee"),
    ]));
    rows
}

fn errors_of(report: &Value) -> Vec<(String, String)> {
    report["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["cell"].as_str().unwrap_or_default().to_owned(),
                        e["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn creates(env: &Woo) -> usize {
    env.fake
        .request_log()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path.ends_with("/products/batch")
                && !r.query.contains("sheetsync_probe")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_missing_creates_simple_products_and_refuses_variations() {
    let env = Woo::with_titles(
        creating_rows(),
        "create_missing = true\nmax_change_ratio = 1.0",
    )
    .await;
    let (code, dry) = env.sync_json(&["--dry-run", "--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{dry:#}");
    assert!(env.writes().is_empty(), "a dry run sent a write");
    assert!(env.fake.item_by_sku("NEW-APRON").is_none());
    let (code, real) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 3, "{real:#}");
    let strip = |r: &Value| -> Vec<Value> {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!([c["sku"], c["field"], c["from"], c["to"]]))
            .collect()
    };
    // The dry run showed exactly what the run created.
    assert_eq!(strip(&dry), strip(&real));
    let fields: Vec<&str> = real["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["sku"] == "NEW-APRON")
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    for f in [
        "title",
        "regular_price",
        "sale_price",
        "inventory",
        "barcode",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}: {real:#}");
    }
    assert!(
        real["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["sku"] == "NEW-APRON" && c["status"] == "applied"),
        "{real:#}"
    );
    let apron = env.fake.item_by_sku("NEW-APRON").expect("created");
    assert_eq!(apron.kind, "simple");
    assert_eq!(apron.name, "Linen Apron");
    assert_eq!(apron.status, "draft");
    assert_eq!(apron.regular_price, "30.00");
    assert_eq!(apron.sale_price, "25.00");
    assert_eq!(apron.stock_quantity, Some(7));
    assert_eq!(apron.global_unique_id, "4006381333931");
    let errors = errors_of(&real);
    let has = |cell: &str, needle: &str| {
        assert!(
            errors.iter().any(|(c, m)| c == cell && m.contains(needle)),
            "{cell}: {needle:?} not in {errors:#?}"
        )
    };
    // The error names the blank cell itself: NEW-NONAME's title, NEW-NOPRICE's price.
    has("Inventory!G7", "needs a title");
    has("Inventory!B8", "needs a regular price");
    has("Inventory!G9", "would need a variation created");
    for sku in ["NEW-NONAME", "NEW-NOPRICE", "NEW-TEE-XL"] {
        assert!(env.fake.item_by_sku(sku).is_none(), "{sku} was created");
    }
    assert_eq!(creates(&env), 1, "one create batch");
    // The next run finds the product by its SKU: nothing created twice, nothing sent.
    let sent = env.writes().len();
    let (code, again) = env.sync_json(&[]).await;
    assert_eq!(code, 3, "{again:#}");
    assert_eq!(again["changes"], json!([]), "{again:#}");
    assert_eq!(env.writes().len(), sent);
    assert_eq!(env.fake.items_reporting_sku("NEW-APRON").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_is_lost_is_found_by_sku_never_sent_again() {
    let mut rows = creating_rows();
    rows.truncate(5);
    let env = Woo::with_titles(rows, "create_missing = true\nmax_change_ratio = 1.0").await;
    // The run's first products batch is its write-permission probe: the create is next.
    env.fake
        .add_fault(FaultRule::matching("POST", "/products/batch", 1, Fault::LostAnswer).after(1));
    let (code, report) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(change(&report, "NEW-APRON", "title")["status"], "applied");
    assert_eq!(env.fake.items_reporting_sku("NEW-APRON").len(), 1);
    assert_eq!(creates(&env), 1, "a create re-sent after a lost answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_after_a_create_landed_converges_without_creating_twice() {
    let mut rows = creating_rows();
    rows.truncate(5);
    let env = Woo::with_titles(rows, "create_missing = true\nmax_change_ratio = 1.0").await;
    // The first products batch of a run is its (empty) write-permission probe.
    let hold = env
        .fake
        .hold_batch(PRODUCTS_BATCH, 2, HoldPoint::AfterApply);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["sync", "--adopt", "sheet"])
        .envs(env.keys())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    common::held(&hold, "the applied create batch").await;
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;
    hold.release();
    // The held request is logged once let go (answered into the void, or dropped).
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the held create batch in the fake's log",
        || creates(&env) == 1,
    )
    .await;
    assert!(env.fake.item_by_sku("NEW-APRON").is_some());
    let before = creates(&env);
    let (code, report) = env.sync_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert_eq!(creates(&env), before, "created twice");
    assert_eq!(env.fake.items_reporting_sku("NEW-APRON").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_fires_a_woocommerce_sync() {
    let env = Woo::start(agreeing_rows(), "").await;
    // A first run has no baseline: adopt the agreeing sheet, then edit it.
    let (code, first) = env.sync_json(&["--adopt", "sheet"]).await;
    assert_eq!(code, 0, "{first:#}");
    assert_eq!(first["changes"], json!([]), "{first:#}");
    env.sheets.set_cell("Inventory", "B3", json!(17.5)); // TOTE-NAT regular price
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&env.config)
        .args(["schedule", "--every", "1s"])
        .envs(env.keys())
        .env("SHEETSYNC_LOG", "sheetsync=info")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn schedule");
    let log = common::LogTail::of(&mut child);
    log.wait_for("scheduled sync:", 1).await;
    common::wait_until(
        std::time::Duration::from_secs(15),
        "the fire to write the edited price",
        || {
            env.fake
                .item_by_sku("TOTE-NAT")
                .is_some_and(|i| i.regular_price == "17.50")
        },
    )
    .await;
    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("schedule stops after SIGTERM")
        .expect("wait");
    let text = log.finish().await;
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("Schedule stopped"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_status_with_a_revoked_key_says_so_without_the_secret() {
    let env = Woo::start(agreeing_rows(), "").await;
    let (code, out, _) = env.run(&["auth", "status"]).await;
    assert_eq!(code, 0, "{out}");
    env.fake.revoke_key(env.fake.consumer_key());
    let (code, out, err) = env.run(&["auth", "status"]).await;
    assert_ne!(code, 0, "a revoked key passed: {out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("rejected the consumer key"), "{all}");
    assert!(!all.contains(env.fake.consumer_secret()), "{all}");
    assert!(
        !all.contains(&env.fake.consumer_key()[..12]),
        "more than 7 characters shown: {all}"
    );
    // Nothing was written with it.
    assert!(env.writes().is_empty());
}
