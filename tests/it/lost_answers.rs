//! Writes whose answer was lost, end to end: the `sheetsync` binary against a sandbox that
//! loses the answers of chosen mutations on every attempt (the fake's `LostAnswers`
//! knob). For each kind of write (variant fields, stock, product fields, creation and
//! publishing), a change is `applied` when the re-read finds its value in the store,
//! `failed` when it does not, and `failed` with `"outcome": "unknown"` when the re-read
//! fails too; the next run settles the journal by re-reading and applies nothing twice.
//! A request that cannot be journaled is never sent.

use crate::common;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::faults::LostAnswers;
use sheetsync_sandbox::sheets::SheetsFake;
use sheetsync_sandbox::shopify::ShopifyFake;

/// Every mutation a run of this sheet sends.
const WRITES: [&str; 7] = [
    "productVariantsBulkUpdate",
    "inventorySetQuantities",
    "inventoryActivate",
    "productUpdate",
    "productCreate",
    "productVariantsBulkCreate",
    "publishablePublish",
];

const HEADER: [&str; 8] = [
    "SKU",
    "Handle",
    "Title",
    "Option1 Name",
    "Option1 Value",
    "Price",
    "Stock",
    "Outlet stock",
];

/// TEE-S gets a new title (productUpdate), price (productVariantsBulkUpdate) and stock
/// (inventorySetQuantities), and is stocked at the Outlet (inventoryActivate); CAP-1 is created (productCreate, productVariantsBulkCreate)
/// with CAP-2 (productVariantsBulkCreate) and published (publishablePublish).
const ROWS: [[&str; 8]; 3] = [
    ["TEE-S", "", "Tee Two", "", "", "11", "7", "4"],
    [
        "CAP-1",
        "Classic Cap",
        "Classic Cap",
        "Size",
        "S",
        "12.5",
        "3",
        "",
    ],
    ["CAP-2", "Classic Cap", "", "", "M", "12.5", "2", ""],
];

fn store() -> ShopifyFake {
    let seed = json!({
        "shop": {"name": "L", "domain": "lost-answers.myshopify.com", "currency": "USD"},
        "locations": [
            {"id": 1, "name": "Main Warehouse"},
            {"id": 2, "name": "Outlet"}
        ],
        "products": [
            {"id": 10, "title": "Tee", "handle": "tee", "variants": [
                {"id": 101, "title": "S", "sku": "TEE-S", "price": "10.00",
                 "inventoryItemId": 1001, "levels": {"1": 5}}
            ]}
        ]
    });
    ShopifyFake::from_seed_json(&seed.to_string(), sheetsync_sandbox::SANDBOX_TOKEN)
        .expect("store seed")
}

fn sheet() -> SheetsFake {
    let mut all = vec![HEADER.iter().map(|h| json!(h)).collect::<Vec<_>>()];
    all.extend(ROWS.iter().map(|r| {
        r.iter()
            .map(|c| match c.parse::<f64>() {
                Ok(n) => json!(n),
                Err(_) => json!(c),
            })
            .collect::<Vec<_>>()
    }));
    let seed = json!({"title": "lost", "tabs": [{"name": "Inventory", "rows": all}]});
    SheetsFake::from_seed_json(&seed.to_string()).expect("sheet seed")
}

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    async fn new() -> Env {
        let sandbox = Sandbox::start(store(), sheet(), 0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = "create_missing = true\npublish_to = [\"Online Store\"]";
        let config = sandbox.write_config(dir.path(), extra).expect("config");
        let text = std::fs::read_to_string(&config).expect("config text");
        let text = text
            .replacen("compare_at_price = \"Compare-at price\"\n", "", 1)
            .replacen("cost = \"Cost\"\n", "", 1)
            .replacen(
                "barcode = \"Barcode\"\n",
                "handle = \"Handle\"\ntitle = \"Title\"\noption1_name = \"Option1 Name\"\n\
                 option1_value = \"Option1 Value\"\n",
                1,
            );
        std::fs::write(&config, text).expect("write config");
        Env {
            sandbox,
            dir,
            config,
        }
    }

    /// `sync --json --adopt sheet --yes`: (exit code, report).
    async fn sync(&self) -> (i32, Value) {
        let args = ["sync", "--json", "--adopt", "sheet", "--yes"];
        let (code, stdout, stderr) = common::run_sheetsync(&self.config, &args).await;
        (code, common::json_output(code, &stdout, &stderr))
    }

    fn lose(&self, knob: LostAnswers) {
        self.sandbox.shopify.faults().lose_answers(knob);
    }

    fn keep(&self) {
        self.sandbox.shopify.faults().keep_answers();
    }

    /// The names of the mutations the store applied, sorted.
    fn applied(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .sandbox
            .shopify
            .applied_mutations()
            .into_iter()
            .map(|m| m.name)
            .collect();
        names.sort();
        names
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("state").join("state.sqlite3")
    }

    /// The journaled requests left open (outcome unknown), with their notes.
    fn open_requests(&self) -> Vec<(String, Option<String>)> {
        let conn = rusqlite::Connection::open(self.db()).expect("state db");
        let mut stmt = conn
            .prepare("SELECT operation, response_json FROM requests WHERE outcome IS NULL")
            .expect("query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }

    /// The store as the tests compare it: TEE-S's title, price and stock (main, outlet);
    /// the products with CAP-1's handle and the CAP-1 variants.
    fn store_view(&self) -> (String, Decimal, Option<i64>, Option<i64>, usize, usize) {
        let shop = &self.sandbox.shopify;
        let tee = shop.variant("TEE-S").expect("TEE-S");
        (
            tee.product_title.clone(),
            tee.price,
            tee.available.get("Main Warehouse").copied(),
            tee.available.get("Outlet").copied(),
            shop.products_with_handle("classic-cap").len(),
            shop.variants_with_sku("CAP-1").len(),
        )
    }
}

/// The change of `sku` to `field` (`inventory@Outlet`: stock at that location; plain
/// `inventory`: at the main warehouse).
fn change<'a>(report: &'a Value, sku: &str, field: &str) -> &'a Value {
    let (name, location) = match field.split_once('@') {
        Some((name, location)) => (name, json!(location)),
        None if field == "inventory" => (field, json!("Main Warehouse")),
        None => (field, Value::Null),
    };
    report["changes"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|c| c["sku"] == sku && c["field"] == name && c["location"] == location)
        })
        .unwrap_or_else(|| panic!("no {sku} {field} change: {report}"))
}

/// The changes of the run that a request carried: TEE-S's three and the creation's.
const SENT: [(&str, &str); 7] = [
    ("TEE-S", "title"),
    ("TEE-S", "price"),
    ("TEE-S", "inventory"),
    ("TEE-S", "inventory@Outlet"),
    ("CAP-1", "title"),
    ("CAP-1", "price"),
    ("CAP-2", "inventory"),
];

#[tokio::test]
async fn a_lost_answer_for_a_write_that_landed_is_applied() {
    let env = Env::new().await;
    env.lose(LostAnswers::new(&WRITES, true));
    let (code, report) = env.sync().await;
    env.keep();
    assert_eq!(code, 0, "{report}");
    for (sku, field) in SENT {
        let c = change(&report, sku, field);
        assert_eq!(c["status"], "applied", "{sku} {field}: {report}");
        assert!(c.get("outcome").is_none(), "{c}");
    }
    assert_eq!(report["publications"][0]["status"], "applied", "{report}");
    assert_eq!(
        env.store_view(),
        (
            "Tee Two".into(),
            Decimal::new(11, 0),
            Some(7),
            Some(4),
            1,
            1
        )
    );
    assert!(env.open_requests().is_empty(), "{:?}", env.open_requests());

    // The baseline moved: the next run has nothing to do and sends nothing.
    let sent = env.applied().len();
    let (code, again) = env.sync().await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["changes"], json!([]), "{again}");
    assert_eq!(again["conflicts"], json!([]), "{again}");
    assert_eq!(env.applied().len(), sent);
}

#[tokio::test]
async fn a_lost_answer_for_a_write_that_did_not_land_is_failed_and_sent_once_next_run() {
    let env = Env::new().await;
    env.lose(LostAnswers::new(&WRITES, false));
    let (code, report) = env.sync().await;
    env.keep();
    assert_eq!(code, 3, "{report}");
    for (sku, field) in SENT {
        let c = change(&report, sku, field);
        assert_eq!(c["status"], "failed", "{sku} {field}: {report}");
        assert!(c.get("outcome").is_none(), "{c}");
    }
    let error = change(&report, "TEE-S", "price")["error"].as_str().unwrap();
    assert!(
        error.contains("re-read: the store does not hold the value"),
        "{error}"
    );
    assert_eq!(
        env.store_view(),
        ("Tee".into(), Decimal::new(10, 0), Some(5), None, 0, 0)
    );
    assert!(env.applied().is_empty(), "{:?}", env.applied());
    assert!(env.open_requests().is_empty(), "{:?}", env.open_requests());

    let (code, again) = env.sync().await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        env.store_view(),
        (
            "Tee Two".into(),
            Decimal::new(11, 0),
            Some(7),
            Some(4),
            1,
            1
        )
    );
    let mut once: Vec<String> = WRITES.iter().map(|w| (*w).to_owned()).collect();
    once.sort();
    assert_eq!(env.applied(), once);
}

#[tokio::test]
async fn a_lost_answer_whose_re_read_fails_is_unknown_and_the_next_run_settles_it() {
    let env = Env::new().await;
    env.lose(LostAnswers::new(&WRITES, true).then_drop_reads());
    let (code, report) = env.sync().await;
    env.keep();
    assert_eq!(code, 3, "{report}");
    for (sku, field) in [
        ("TEE-S", "title"),
        ("TEE-S", "price"),
        ("TEE-S", "inventory"),
        ("TEE-S", "inventory@Outlet"),
        ("CAP-1", "title"),
    ] {
        let c = change(&report, sku, field);
        assert_eq!(c["status"], "failed", "{sku} {field}: {report}");
        assert_eq!(c["outcome"], "unknown", "{sku} {field}: {report}");
        assert!(
            c["error"]
                .as_str()
                .unwrap()
                .starts_with("outcome unknown: "),
            "{c}"
        );
    }
    // The variants were never sent: the product's creation is unknown.
    let price = change(&report, "CAP-1", "price");
    assert_eq!(price["status"], "skipped", "{report}");
    assert!(price.get("outcome").is_none(), "{price}");
    assert_eq!(report["publications"][0]["status"], "skipped", "{report}");
    // What did land: TEE-S's writes and the product (with its placeholder variant).
    assert_eq!(
        env.store_view(),
        (
            "Tee Two".into(),
            Decimal::new(11, 0),
            Some(7),
            Some(4),
            1,
            0
        )
    );
    let mut open: Vec<String> = env
        .open_requests()
        .into_iter()
        .map(|(op, note)| {
            assert!(
                note.as_deref()
                    .is_some_and(|n| n.contains("\"outcome\":\"unknown\"")),
                "{op}: {note:?}"
            );
            op
        })
        .collect();
    open.sort();
    assert_eq!(
        open,
        [
            "inventoryActivate",
            "inventorySetQuantities",
            "productCreate",
            "productUpdate",
            "productVariantsBulkUpdate"
        ]
    );

    // The next run settles them by re-reading: what landed is not sent again, the
    // product is recognised as this tool's and gets its variant.
    let before: Vec<String> = env.applied();
    let (code, again) = env.sync().await;
    assert_eq!(code, 0, "{again}");
    assert!(env.open_requests().is_empty(), "{:?}", env.open_requests());
    assert_eq!(
        env.store_view(),
        (
            "Tee Two".into(),
            Decimal::new(11, 0),
            Some(7),
            Some(4),
            1,
            1
        )
    );
    let mut new = env.applied();
    for m in &before {
        let at = new.iter().position(|n| n == m).expect("still applied");
        new.remove(at);
    }
    assert_eq!(new, ["productVariantsBulkCreate", "publishablePublish"]);
    assert!(
        again["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["sku"] != "TEE-S"),
        "TEE-S sent again: {again}"
    );
}

/// Makes every journal write of `db` fail, as a full disk or a broken file would.
fn break_journal(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("state db");
    conn.execute_batch(
        "CREATE TRIGGER broken_journal BEFORE INSERT ON requests
         BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END;",
    )
    .expect("trigger");
}

#[tokio::test]
async fn a_write_that_cannot_be_journaled_is_skipped_and_never_sent() {
    let env = Env::new().await;
    // A state with its schema, as any earlier run leaves it.
    let scope = sheetsync::state::Scope::new(
        &env.sandbox.shopify.shop_domain(),
        &env.sandbox.sheets.spreadsheet_id(),
        "Inventory",
    );
    drop(sheetsync::state::State::open(&env.dir.path().join("state"), &scope).expect("state"));
    break_journal(&env.db());

    let (code, report) = env.sync().await;
    for (sku, field) in SENT {
        let c = change(&report, sku, field);
        assert_eq!(c["status"], "skipped", "{sku} {field}: {report}");
        assert!(
            c["error"]
                .as_str()
                .unwrap()
                .contains("could not journal the request, so it was not sent"),
            "{c}"
        );
    }
    assert_eq!(report["publications"][0]["status"], "skipped", "{report}");
    // Skipped alone is not a failure (SPEC §5).
    assert_eq!(code, 0, "{report}");
    assert!(env.applied().is_empty(), "{:?}", env.applied());
    let mutations_sent = env
        .sandbox
        .shopify
        .requests()
        .iter()
        .filter(|r| r.root_fields.iter().any(|f| WRITES.contains(&f.as_str())))
        .count();
    assert_eq!(mutations_sent, 0);
    assert_eq!(
        env.store_view(),
        ("Tee".into(), Decimal::new(10, 0), Some(5), None, 0, 0)
    );
}

/// Only the first answer of each write is lost, so the client's retry is answered: the
/// retry of a creation that landed is refused (its handle and its variants exist now:
/// `VARIANT_ALREADY_EXISTS`), which says nothing about the first attempt. The re-read
/// does.
#[tokio::test]
async fn a_refused_retry_of_a_creation_that_landed_is_applied() {
    let env = Env::new().await;
    env.lose(LostAnswers::new(&WRITES, true).first_only());
    let (code, report) = env.sync().await;
    env.keep();
    assert_eq!(code, 0, "{report}");
    for (sku, field) in SENT {
        assert_eq!(
            change(&report, sku, field)["status"],
            "applied",
            "{sku} {field}: {report}"
        );
    }
    assert_eq!(report["publications"][0]["status"], "applied", "{report}");
    assert_eq!(
        env.store_view(),
        (
            "Tee Two".into(),
            Decimal::new(11, 0),
            Some(7),
            Some(4),
            1,
            1
        )
    );
    let sent = env.applied().len();
    let (code, again) = env.sync().await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["changes"], json!([]), "{again}");
    assert_eq!(env.applied().len(), sent);
}
