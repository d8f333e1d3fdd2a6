//! The catalogues the WooCommerce fake starts with: the demo store (the SKUs of the
//! Shopify demo seed, `config/demo/store.json`, and of the demo sheet, as WooCommerce
//! items: simple and variable products, one variation without a SKU of its own, two
//! variations sharing their parent's stock, one unmanaged item, one scheduled sale) and
//! generated catalogues of N variations for benchmarks.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::state::{Attribute, Item, Kind, Store, Term, slugify};

/// Which catalogue a fake starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catalogue {
    /// No products.
    Empty,
    /// The demo store (see the module doc).
    Demo,
    /// `parents` variable products of `per_parent` variations each, every variation with
    /// its own SKU (`GEN-{parent}-{n}`), managed stock and a price: 10,000 variations is
    /// `Generated { parents: 2_000, per_parent: 5 }`, the brief's §8.3 shape.
    Generated { parents: usize, per_parent: usize },
}

const CLOTHING: u64 = 15;
const ACCESSORIES: u64 = 16;
const KITCHEN: u64 = 17;
const COTTON: u64 = 31;
const GIFT: u64 = 32;
const COLOR: u64 = 1;
const SIZE: u64 = 2;

fn terms(store: &mut Store) {
    for (id, name) in [
        (CLOTHING, "Clothing"),
        (ACCESSORIES, "Accessories"),
        (KITCHEN, "Kitchen"),
    ] {
        store.categories.insert(
            id,
            Term {
                id,
                name: name.into(),
                slug: slugify(name),
            },
        );
    }
    for (id, name) in [(COTTON, "cotton"), (GIFT, "gift")] {
        store.tags.insert(
            id,
            Term {
                id,
                name: name.into(),
                slug: slugify(name),
            },
        );
    }
}

/// A product or variation row of the demo table.
struct V {
    sku: &'static str,
    picks: &'static [(u64, &'static str, &'static str)],
    regular: &'static str,
    sale: &'static str,
    gtin: &'static str,
    cost: &'static str,
    /// `None`: stock not managed by the item itself.
    stock: Option<i64>,
}

fn product(store: &mut Store, id: u64, kind: Kind, name: &str, sku: &str, now: i64) -> Item {
    let mut p = Item::new(id, kind, now);
    p.name = name.into();
    p.slug = slugify(name);
    p.sku = sku.into();
    p.description = format!("{name}, from the sheetsync demo store.");
    store.put(p.clone());
    p
}

fn variation(store: &mut Store, id: u64, parent: u64, v: &V, now: i64) {
    let mut item = Item::new(id, Kind::Variation, now);
    item.parent_id = parent;
    item.sku = v.sku.into();
    item.picks = v
        .picks
        .iter()
        .map(|(a, n, o)| (*a, Cow::Borrowed(*n), (*o).to_owned()))
        .collect();
    fill(&mut item, v);
    store.put(item);
}

fn fill(item: &mut Item, v: &V) {
    item.regular_price = v.regular.into();
    item.sale_price = v.sale.into();
    item.global_unique_id = v.gtin.into();
    item.cogs = v.cost.parse().unwrap_or(Decimal::ZERO);
    if let Some(q) = v.stock {
        item.manage_stock = true;
        item.stock = Some(q);
        item.stock_status = if q > 0 { "instock" } else { "outofstock" }.into();
    }
}

fn attrs(list: &[(u64, &str, &[&str])]) -> Vec<Attribute> {
    list.iter()
        .map(|(id, name, options)| Attribute {
            id: *id,
            name: (*name).into(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        })
        .collect()
}

/// The demo store. Prices follow the sheet's mapping: a Shopify compare-at price is
/// WooCommerce's `regular_price`, with the selling price as `sale_price`.
pub fn demo(store: &mut Store) {
    let now = store.now();
    terms(store);

    // Classic Tee: a variable product whose variations have their own SKUs and stock,
    // plus "Green / M" without a SKU of its own: it reports the parent's `TEE-CLASSIC`
    // (the inheritance trap, brief §1.2), while the sheet's `TEE-GRN-M` matches nothing.
    let mut tee = product(
        store,
        101,
        Kind::Variable,
        "Classic Tee",
        "TEE-CLASSIC",
        now,
    );
    tee.categories = vec![CLOTHING];
    tee.tags = vec![COTTON];
    tee.attributes = attrs(&[
        (COLOR, "Color", &["Red", "Black", "Green"]),
        (SIZE, "Size", &["S", "M", "L"]),
    ]);
    store.put(tee);
    let tees: [(u64, V); 7] = [
        (
            102,
            V {
                sku: "TEE-RED-S",
                picks: &[(COLOR, "Color", "Red"), (SIZE, "Size", "S")],
                regular: "24.90",
                sale: "19.90",
                gtin: "0840012345011",
                cost: "6.50",
                stock: Some(14),
            },
        ),
        (
            103,
            V {
                sku: "TEE-RED-M",
                picks: &[(COLOR, "Color", "Red"), (SIZE, "Size", "M")],
                regular: "24.90",
                sale: "19.90",
                gtin: "0840012345028",
                cost: "6.50",
                stock: Some(22),
            },
        ),
        (
            104,
            V {
                sku: "TEE-RED-L",
                picks: &[(COLOR, "Color", "Red"), (SIZE, "Size", "L")],
                regular: "24.90",
                sale: "19.90",
                gtin: "0840012345035",
                cost: "6.50",
                stock: Some(9),
            },
        ),
        (
            105,
            V {
                sku: "TEE-BLK-S",
                picks: &[(COLOR, "Color", "Black"), (SIZE, "Size", "S")],
                regular: "19.90",
                sale: "",
                gtin: "0840012345042",
                cost: "6.50",
                stock: Some(11),
            },
        ),
        (
            106,
            V {
                sku: "TEE-BLK-M",
                picks: &[(COLOR, "Color", "Black"), (SIZE, "Size", "M")],
                regular: "19.90",
                sale: "",
                gtin: "0840012345059",
                cost: "6.50",
                stock: Some(30),
            },
        ),
        (
            107,
            V {
                sku: "TEE-BLK-L",
                picks: &[(COLOR, "Color", "Black"), (SIZE, "Size", "L")],
                regular: "19.90",
                sale: "",
                gtin: "0840012345066",
                cost: "6.50",
                stock: Some(17),
            },
        ),
        (
            108,
            V {
                sku: "",
                picks: &[(COLOR, "Color", "Green"), (SIZE, "Size", "M")],
                regular: "19.90",
                sale: "",
                gtin: "",
                cost: "",
                stock: Some(5),
            },
        ),
    ];
    for (id, v) in &tees {
        variation(store, *id, 101, v, now);
    }

    let mut hood = product(store, 110, Kind::Variable, "Pullover Hoodie", "HOOD", now);
    hood.categories = vec![CLOTHING];
    hood.attributes = attrs(&[(SIZE, "Size", &["M", "L"])]);
    store.put(hood);
    variation(
        store,
        111,
        110,
        &V {
            sku: "HOOD-GRY-M",
            picks: &[(SIZE, "Size", "M")],
            regular: "49.00",
            sale: "",
            gtin: "",
            cost: "18.00",
            stock: Some(8),
        },
        now,
    );
    variation(
        store,
        112,
        110,
        &V {
            sku: "HOOD-GRY-L",
            picks: &[(SIZE, "Size", "L")],
            regular: "59.00",
            sale: "49.00",
            gtin: "",
            cost: "18.00",
            stock: Some(6),
        },
        now,
    );

    let mut cap = product(store, 120, Kind::Variable, "Baseball Cap", "CAP", now);
    cap.categories = vec![ACCESSORIES];
    cap.attributes = attrs(&[(COLOR, "Color", &["Navy", "Khaki"])]);
    store.put(cap);
    variation(
        store,
        121,
        120,
        &V {
            sku: "CAP-NAVY",
            picks: &[(COLOR, "Color", "Navy")],
            regular: "22.00",
            sale: "",
            gtin: "",
            cost: "7.25",
            stock: Some(25),
        },
        now,
    );
    variation(
        store,
        122,
        120,
        &V {
            sku: "CAP-KHAKI",
            picks: &[(COLOR, "Color", "Khaki")],
            regular: "26.00",
            sale: "22.00",
            gtin: "",
            cost: "7.25",
            stock: Some(12),
        },
        now,
    );

    let mut mug = product(store, 130, Kind::Variable, "Ceramic Mug", "MUG", now);
    mug.categories = vec![KITCHEN];
    mug.attributes = attrs(&[(SIZE, "Size", &["11 oz", "15 oz"])]);
    store.put(mug);
    variation(
        store,
        131,
        130,
        &V {
            sku: "MUG-11OZ",
            picks: &[(SIZE, "Size", "11 oz")],
            regular: "12.50",
            sale: "",
            gtin: "0840012346018",
            cost: "3.10",
            stock: Some(40),
        },
        now,
    );
    variation(
        store,
        132,
        130,
        &V {
            sku: "MUG-15OZ",
            picks: &[(SIZE, "Size", "15 oz")],
            regular: "14.50",
            sale: "",
            gtin: "0840012346025",
            cost: "3.60",
            stock: Some(18),
        },
        now,
    );

    // Knit Beanie: the parent manages the stock and both variations share it
    // (`manage_stock: "parent"`, brief §1.2).
    let mut beanie = product(store, 140, Kind::Variable, "Knit Beanie", "BEAN", now);
    beanie.categories = vec![ACCESSORIES];
    beanie.attributes = attrs(&[(COLOR, "Color", &["Red", "Grey"])]);
    beanie.manage_stock = true;
    beanie.stock = Some(17);
    store.put(beanie);
    variation(
        store,
        141,
        140,
        &V {
            sku: "BEAN-RED",
            picks: &[(COLOR, "Color", "Red")],
            regular: "18.00",
            sale: "",
            gtin: "",
            cost: "5.00",
            stock: None,
        },
        now,
    );
    variation(
        store,
        142,
        140,
        &V {
            sku: "BEAN-GRY",
            picks: &[(COLOR, "Color", "Grey")],
            regular: "18.00",
            sale: "",
            gtin: "",
            cost: "5.00",
            stock: None,
        },
        now,
    );

    let mut socks = product(store, 150, Kind::Variable, "Striped Socks", "SOCK-STR", now);
    socks.categories = vec![CLOTHING];
    socks.attributes = attrs(&[(SIZE, "Size", &["M", "L"])]);
    store.put(socks);
    variation(
        store,
        151,
        150,
        &V {
            sku: "SOCK-STR-M",
            picks: &[(SIZE, "Size", "M")],
            regular: "9.90",
            sale: "",
            gtin: "",
            cost: "2.20",
            stock: Some(50),
        },
        now,
    );
    variation(
        store,
        152,
        150,
        &V {
            sku: "SOCK-STR-L",
            picks: &[(SIZE, "Size", "L")],
            regular: "9.90",
            sale: "",
            gtin: "",
            cost: "2.20",
            stock: Some(35),
        },
        now,
    );

    let simples: [(u64, &str, &str, V); 3] = [
        (
            160,
            "Canvas Tote",
            "",
            V {
                sku: "TOTE-NAT",
                picks: &[],
                regular: "16.00",
                sale: "",
                gtin: "",
                cost: "4.80",
                stock: Some(20),
            },
        ),
        // Stock not managed (Shopify's untracked item).
        (
            170,
            "Sticker Pack",
            "",
            V {
                sku: "STK-PACK",
                picks: &[],
                regular: "4.00",
                sale: "",
                gtin: "",
                cost: "",
                stock: None,
            },
        ),
        // A scheduled sale (set below): the sale price is stored but not yet active.
        (
            180,
            "Mug & Tee Bundle",
            "",
            V {
                sku: "BNDL-MUG-TEE",
                picks: &[],
                regular: "32.40",
                sale: "29.90",
                gtin: "",
                cost: "",
                stock: Some(0),
            },
        ),
    ];
    for (id, name, _, v) in &simples {
        let mut p = product(store, *id, Kind::Simple, name, v.sku, now);
        fill(&mut p, v);
        p.categories = vec![ACCESSORIES];
        if *id == 180 {
            p.tags = vec![GIFT];
            p.sale_from = Some(now + 30 * 86_400);
            p.sale_to = Some(now + 60 * 86_400);
        }
        store.put(p);
    }
}

/// `parents × per_parent` variations (see [`Catalogue::Generated`]). Items are kept
/// lean (no descriptions, no terms) so 100,000 variations stay a few tens of MB.
pub fn generated(store: &mut Store, parents: usize, per_parent: usize) {
    let now = store.now();
    let mut id = 1_000u64;
    for p in 0..parents {
        id += 1;
        let parent_id = id;
        let mut parent = Item::new(parent_id, Kind::Variable, now);
        parent.name = format!("Generated product {p}");
        parent.slug = format!("generated-product-{p}");
        parent.sku = format!("GEN-{p}");
        parent.attributes = vec![Attribute {
            id: SIZE,
            name: "Size".into(),
            options: (0..per_parent).map(|n| format!("S{n}")).collect(),
        }];
        parent.variations = Vec::with_capacity(per_parent);
        store.put(parent);
        for n in 0..per_parent {
            id += 1;
            let mut v = Item::new(id, Kind::Variation, now);
            v.parent_id = parent_id;
            v.sku = format!("GEN-{p}-{n}");
            v.picks = vec![(SIZE, Cow::Borrowed("Size"), format!("S{n}"))];
            v.regular_price = format!("{}.{:02}", 10 + (p % 90), n % 100);
            v.manage_stock = true;
            v.stock = Some(((p * 7 + n * 3) % 50) as i64 + 1);
            store.put(v);
        }
    }
}
