//! The fake's read routes: product, variation and order lists with WordPress's
//! pagination (`X-WP-Total`, `X-WP-TotalPages`, `Link` with only `prev`/`next`, brief
//! §1.5), their filters (`sku` over products and variations, `include`, `type`,
//! `status`, `modified_after`/`dates_are_gmt`, `orderby`), single items, store
//! settings, the current currency, system status (the version) and the route index.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::answer::{Answer, Params, WooError, trim_fields};
use super::state::{Base, Item, Store, currency_name, currency_symbol};

/// Which list a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Products,
    /// `/products/{parent}/variations`.
    VariationsOf(u64),
    /// `/variations` (WooCommerce 10.3+).
    AllVariations,
}

const PRODUCT_ORDERBY: &[&str] = &[
    "date",
    "id",
    "include",
    "title",
    "slug",
    "modified",
    "price",
    "popularity",
    "rating",
];
const VARIATION_ORDERBY: &[&str] = &["date", "id", "include", "title", "slug", "modified"];
const STATUSES: &[&str] = &[
    "any", "future", "trash", "draft", "pending", "private", "publish",
];

/// `context` and `_fields`, shared by every GET.
pub struct View {
    pub edit: bool,
    pub fields: Option<Vec<String>>,
}

impl View {
    pub fn of(params: &Params) -> Result<View, WooError> {
        let context = params.one_of("context", "view", &["view", "edit"])?;
        Ok(View {
            edit: context == "edit",
            fields: params.list("_fields"),
        })
    }

    pub fn trim(&self, v: Value) -> Value {
        trim_fields(v, self.fields.as_deref())
    }
}

/// A date query parameter (`modified_after=2026-12-07T10:00:00`), as GMT unix seconds:
/// the wall time is read as GMT when `dates_are_gmt` is true, else as the site's local
/// time (brief §1.5). A zone suffix is ignored, as MySQL's comparison ignores it.
fn date_param(
    store: &Store,
    params: &Params,
    name: &str,
    gmt: bool,
) -> Result<Option<i64>, WooError> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let wall = raw.get(..19).unwrap_or(raw);
    let parsed = NaiveDateTime::parse_from_str(wall, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S"))
        .map_err(|_| WooError::invalid_param(name, "rest_invalid_date", "Invalid date."))?;
    let t = parsed.and_utc().timestamp();
    Ok(Some(if gmt { t } else { t - store.utc_offset }))
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "yes"))
}

/// A list route.
pub fn list(
    store: &Store,
    base: &Base,
    params: &Params,
    listing: Listing,
) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    let per_page = params.int_in("per_page", 10, 1, Some(100))?;
    let page = params.int_in("page", 1, 1, None)?;
    let orderby = params.one_of(
        "orderby",
        "date",
        if listing == Listing::Products {
            PRODUCT_ORDERBY
        } else {
            VARIATION_ORDERBY
        },
    )?;
    let order = params.one_of("order", "desc", &["asc", "desc"])?;
    let status = params.one_of("status", "any", STATUSES)?;
    let kind = match (listing, params.get("type")) {
        (Listing::Products, Some(t)) => {
            Some(params.one_of("type", t, &["simple", "grouped", "external", "variable"])?)
        }
        _ => None,
    };
    let gmt = truthy(params.get("dates_are_gmt"));
    let modified_after = date_param(store, params, "modified_after", gmt)?;
    let modified_before = date_param(store, params, "modified_before", gmt)?;
    let after = date_param(store, params, "after", gmt)?;
    let before = date_param(store, params, "before", gmt)?;
    let ids = |name: &str| -> Option<Vec<u64>> {
        params
            .list(name)
            .map(|l| l.iter().filter_map(|s| s.parse().ok()).collect())
    };
    let include = ids("include");
    let exclude = ids("exclude").unwrap_or_default();
    let parents = ids("parent");
    // `sku=A,B` matches `A`, `B` and the whole `A,B` (a SKU may hold a comma, §1.3).
    let skus = params.list("sku").map(|mut list| {
        if let Some(whole) = params.get("sku").filter(|w| w.contains(',')) {
            list.push(whole.trim().to_owned());
        }
        list
    });
    let search_sku = params.get("search_sku").map(str::to_owned);
    let gtins = params.list("global_unique_id");
    let search = params.get("search").map(str::to_lowercase);
    // `?sku=` widens a product query to variations too (brief §1.3, C-PROD).
    let with_variations =
        listing == Listing::Products && (skus.is_some() || search_sku.is_some() || gtins.is_some());

    let matches = |item: &Item| -> bool {
        let type_ok = match listing {
            Listing::Products => !item.is_variation() || with_variations,
            Listing::VariationsOf(p) => item.is_variation() && item.parent_id == p,
            Listing::AllVariations => item.is_variation(),
        };
        if !type_ok {
            return false;
        }
        let status_ok = if status == "any" {
            item.status != "trash"
        } else {
            item.status == status
        };
        status_ok
            && kind.is_none_or(|k| item.kind.as_str() == k)
            && include.as_ref().is_none_or(|inc| inc.contains(&item.id))
            && !exclude.contains(&item.id)
            && parents.as_ref().is_none_or(|ps| ps.contains(&item.parent_id))
            // The exact `_sku` meta: a variation's own SKU, never the inherited one.
            && skus.as_ref().is_none_or(|s| !item.sku.is_empty() && s.contains(&item.sku))
            && search_sku.as_ref().is_none_or(|q| item.sku.contains(q.as_str()))
            && gtins.as_ref().is_none_or(|g| !item.global_unique_id.is_empty() && g.contains(&item.global_unique_id))
            && modified_after.is_none_or(|t| item.modified > t)
            && modified_before.is_none_or(|t| item.modified < t)
            && after.is_none_or(|t| item.created > t)
            && before.is_none_or(|t| item.created < t)
            && search.as_ref().is_none_or(|q| item.name.to_lowercase().contains(q))
    };
    // Narrow the scan where an index gives the candidates (a catalogue of 100,000
    // variations is read one parent at a time on WooCommerce before 10.3); `matches`
    // still decides, and the candidates are put back in id order.
    let candidates: Option<Vec<u64>> = match listing {
        Listing::VariationsOf(p) => Some(
            store
                .items
                .get(&p)
                .map(|i| i.variations.clone())
                .unwrap_or_default(),
        ),
        _ => match (&include, &skus) {
            (Some(inc), _) => Some(inc.clone()),
            (None, Some(s)) => Some(s.iter().flat_map(|sku| store.ids_with_sku(sku)).collect()),
            (None, None) => None,
        },
    };
    let mut hits: Vec<&Item> = match candidates {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|id| store.items.get(id).map(|i| &**i))
                .filter(|i| matches(i))
                .collect()
        }
        None => store
            .items
            .values()
            .map(|i| &**i)
            .filter(|i| matches(i))
            .collect(),
    };
    let name_of = |i: &Item| {
        if i.is_variation() {
            store.variation_name(i)
        } else {
            i.name.clone()
        }
    };
    match orderby {
        // Already in id order (the map's); everything else is a stable sort on top.
        "id" => {}
        "date" => hits.sort_by_key(|i| (i.created, i.id)),
        "modified" => hits.sort_by_key(|i| (i.modified, i.id)),
        "title" => hits.sort_by_cached_key(|i| (name_of(i), i.id)),
        "slug" => hits.sort_by(|a, b| a.slug.cmp(&b.slug).then(a.id.cmp(&b.id))),
        "popularity" => hits.sort_by_key(|i| (i.total_sales, i.id)),
        "price" => hits.sort_by_cached_key(|i| {
            (
                store
                    .active_price(i)
                    .parse::<rust_decimal::Decimal>()
                    .unwrap_or_default(),
                i.id,
            )
        }),
        "include" => {
            let inc = include.clone().unwrap_or_default();
            hits.sort_by_key(|i| inc.iter().position(|x| *x == i.id).unwrap_or(usize::MAX));
        }
        _ => {}
    }
    // `include` keeps the list's own order whatever `order` says.
    if order == "desc" && orderby != "include" {
        hits.reverse();
    }
    let total = hits.len();
    let per = per_page as usize;
    let pages = total.div_ceil(per);
    let start = (page as usize - 1).saturating_mul(per);
    let body: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(per)
        .map(|i| {
            let v = match listing {
                Listing::Products => store.product_json(base, i, view.edit),
                Listing::VariationsOf(_) => store.variation_json(base, i, false),
                Listing::AllVariations => store.variation_json(base, i, true),
            };
            view.trim(v)
        })
        .collect();
    let route = match listing {
        Listing::Products => "/products".to_owned(),
        Listing::VariationsOf(p) => format!("/products/{p}/variations"),
        Listing::AllVariations => "/variations".to_owned(),
    };
    Ok(paginated(
        base,
        params,
        &route,
        Value::Array(body),
        total,
        pages,
        page as usize,
    ))
}

/// A list answer with WordPress's pagination headers.
fn paginated(
    base: &Base,
    params: &Params,
    route: &str,
    body: Value,
    total: usize,
    pages: usize,
    page: usize,
) -> Answer {
    let mut answer = Answer::ok(body);
    answer
        .headers
        .push(("x-wp-total".into(), total.to_string()));
    answer
        .headers
        .push(("x-wp-totalpages".into(), pages.to_string()));
    let link = |n: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params
            .0
            .iter()
            .filter(|(k, _)| k != "page" && k != "rest_route")
        {
            q.append_pair(k, v);
        }
        q.append_pair("page", &n.to_string());
        let url = base.api(route);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{}", q.finish())
    };
    // C-CRUD emits only prev/next (the docs' first/last never come, brief §1.5).
    if page > 1 {
        let prev = (page - 1).min(pages);
        answer
            .headers
            .push(("link".into(), format!("<{}>; rel=\"prev\"", link(prev))));
    }
    if pages > page {
        answer
            .headers
            .push(("link".into(), format!("<{}>; rel=\"next\"", link(page + 1))));
    }
    answer
}

/// `GET /products/{id}`: a product, or a variation rendered by the products controller.
pub fn product(store: &Store, base: &Base, params: &Params, id: u64) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    match store.items.get(&id) {
        Some(item) => Ok(Answer::ok(
            view.trim(store.product_json(base, item, view.edit)),
        )),
        None => Err(invalid_id("product", 404)),
    }
}

/// `GET /products/{parent}/variations/{id}`.
pub fn variation(
    store: &Store,
    base: &Base,
    params: &Params,
    parent: u64,
    id: u64,
) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    match store
        .items
        .get(&id)
        .filter(|i| i.is_variation() && i.parent_id == parent)
    {
        Some(item) => Ok(Answer::ok(
            view.trim(store.variation_json(base, item, false)),
        )),
        None => Err(invalid_id("product_variation", 404)),
    }
}

/// `woocommerce_rest_{post_type}_invalid_id` "Invalid ID." (brief §4.2).
pub fn invalid_id(post_type: &str, status: u16) -> WooError {
    WooError::new(
        status,
        &format!("woocommerce_rest_{post_type}_invalid_id"),
        "Invalid ID.",
    )
}

fn setting(
    base: &Base,
    group: &str,
    id: &str,
    label: &str,
    kind: &str,
    default: &str,
    value: &str,
) -> Value {
    json!({
        "id": id,
        "label": label,
        "description": "",
        "type": kind,
        "default": default,
        "tip": "",
        // Options are stored as strings, numbers included ("2").
        "value": value,
        "group_id": group,
        "_links": {
            "self": [{"href": base.api(&format!("/settings/{group}/{id}"))}],
            "collection": [{"href": base.api(&format!("/settings/{group}"))}],
        },
    })
}

fn group_settings(store: &Store, base: &Base, group: &str) -> Option<Vec<Value>> {
    let s = &store.settings;
    match group {
        "general" => Some(vec![
            setting(
                base,
                group,
                "woocommerce_store_address",
                "Address line 1",
                "text",
                "",
                "1 Demo Street",
            ),
            setting(
                base,
                group,
                "woocommerce_store_city",
                "City",
                "text",
                "",
                "Springfield",
            ),
            setting(
                base,
                group,
                "woocommerce_default_country",
                "Country / State",
                "select",
                "US:CA",
                "US:CA",
            ),
            {
                let mut v = setting(
                    base,
                    group,
                    "woocommerce_currency",
                    "Currency",
                    "select",
                    "USD",
                    &s.currency,
                );
                v["options"] = json!({ s.currency.clone(): format!("{} ({})", currency_name(&s.currency), currency_symbol(&s.currency)) });
                v
            },
            setting(
                base,
                group,
                "woocommerce_currency_pos",
                "Currency position",
                "select",
                "left",
                &s.currency_pos,
            ),
            setting(
                base,
                group,
                "woocommerce_price_thousand_sep",
                "Thousand separator",
                "text",
                ",",
                &s.thousand_sep,
            ),
            setting(
                base,
                group,
                "woocommerce_price_decimal_sep",
                "Decimal separator",
                "text",
                ".",
                &s.decimal_sep,
            ),
            setting(
                base,
                group,
                "woocommerce_price_num_decimals",
                "Number of decimals",
                "number",
                "2",
                &s.num_decimals.to_string(),
            ),
        ]),
        "products" => Some(vec![
            setting(
                base,
                group,
                "woocommerce_manage_stock",
                "Manage stock",
                "checkbox",
                "yes",
                if s.manage_stock { "yes" } else { "no" },
            ),
            setting(
                base,
                group,
                "woocommerce_notify_no_stock_amount",
                "Out of stock threshold",
                "number",
                "0",
                "0",
            ),
        ]),
        _ => None,
    }
}

/// `GET /settings/{group}` and `GET /settings/{group}/{id}`.
pub fn settings(
    store: &Store,
    base: &Base,
    params: &Params,
    group: &str,
    id: Option<&str>,
) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    let Some(list) = group_settings(store, base, group) else {
        return Err(WooError::new(
            404,
            "rest_setting_setting_group_invalid",
            "Invalid setting group.",
        ));
    };
    match id {
        None => Ok(Answer::ok(Value::Array(
            list.into_iter().map(|v| view.trim(v)).collect(),
        ))),
        Some(id) => list
            .into_iter()
            .find(|v| v["id"] == id)
            .map(|v| Answer::ok(view.trim(v)))
            .ok_or_else(|| WooError::new(404, "rest_setting_setting_invalid", "Invalid setting.")),
    }
}

/// `GET /data/currencies/current`.
pub fn current_currency(store: &Store, base: &Base) -> Answer {
    let code = &store.settings.currency;
    Answer::ok(json!({
        "code": code,
        "name": currency_name(code),
        "symbol": currency_symbol(code),
        "_links": {
            "self": [{"href": base.api(&format!("/data/currencies/{code}"))}],
            "collection": [{"href": base.api("/data/currencies")}],
        },
    }))
}

/// `GET /system_status`: WooCommerce's version is `environment.version`.
pub fn system_status(store: &Store, base: &Base, params: &Params) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    let s = &store.settings;
    let body = json!({
        "environment": {
            "home_url": base.home,
            "site_url": base.home,
            "store_id": "00000000-0000-4000-8000-000000000000",
            "version": store.version,
            "wp_version": "6.9",
            "wp_multisite": false,
            "wp_memory_limit": 268_435_456,
            "wp_debug_mode": false,
            "language": "en_US",
            "server_info": "Apache",
            "php_version": "8.3.0",
            "php_post_max_size": 67_108_864,
            "php_max_execution_time": 30,
            "max_upload_size": 67_108_864,
        },
        "database": {"wc_database_version": store.version, "database_prefix": "wp_"},
        "active_plugins": [{
            "plugin": "woocommerce/woocommerce.php",
            "name": "WooCommerce",
            "version": store.version,
            "author_name": "Automattic",
        }],
        "settings": {
            "api_enabled": true,
            "force_ssl": false,
            "currency": s.currency,
            "currency_symbol": currency_symbol(&s.currency),
            "currency_position": s.currency_pos,
            "thousand_separator": s.thousand_sep,
            "decimal_separator": s.decimal_sep,
            "number_of_decimals": s.num_decimals,
            "geolocation_enabled": false,
            "woocommerce_com_connected": "no",
        },
        "_links": {"self": [{"href": base.api("/system_status")}]},
    });
    Ok(Answer::ok(view.trim(body)))
}

/// The routes this fake serves, as `GET /wp-json/wc/v3` lists them.
pub fn index(store: &Store, base: &Base) -> Answer {
    let mut routes = vec![
        ("", vec!["GET"]),
        ("/products", vec!["GET", "POST"]),
        (
            "/products/(?P<id>[\\d]+)",
            vec!["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
        ("/products/batch", vec!["POST", "PUT", "PATCH"]),
        (
            "/products/(?P<product_id>[\\d]+)/variations",
            vec!["GET", "POST"],
        ),
        (
            "/products/(?P<product_id>[\\d]+)/variations/(?P<id>[\\d]+)",
            vec!["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
        (
            "/products/(?P<product_id>[\\d]+)/variations/batch",
            vec!["POST", "PUT", "PATCH"],
        ),
        ("/orders", vec!["GET"]),
        ("/orders/(?P<id>[\\d]+)", vec!["GET"]),
        ("/settings/(?P<group_id>[\\w-]+)", vec!["GET"]),
        (
            "/settings/(?P<group_id>[\\w-]+)/(?P<id>[\\w-]+)",
            vec!["GET"],
        ),
        ("/data/currencies/current", vec!["GET"]),
        ("/system_status", vec!["GET"]),
    ];
    if store.version_at_least(10, 3) {
        routes.push(("/variations", vec!["GET"]));
    }
    let map: serde_json::Map<String, Value> = routes
        .into_iter()
        .map(|(r, methods)| {
            (
                format!("/wc/v3{r}"),
                json!({"namespace": "wc/v3", "methods": methods, "endpoints": [{"methods": methods, "args": {}}]}),
            )
        })
        .collect();
    Answer::ok(json!({
        "namespace": "wc/v3",
        "routes": map,
        "_links": {"up": [{"href": format!("{}/wp-json/", base.home)}]},
    }))
}

/// `GET /orders`.
pub fn orders(store: &Store, base: &Base, params: &Params) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    let per_page = params.int_in("per_page", 10, 1, Some(100))?;
    let page = params.int_in("page", 1, 1, None)?;
    let orderby = params.one_of(
        "orderby",
        "date",
        &["date", "id", "include", "title", "slug", "modified"],
    )?;
    let order = params.one_of("order", "desc", &["asc", "desc"])?;
    let gmt = truthy(params.get("dates_are_gmt"));
    let modified_after = date_param(store, params, "modified_after", gmt)?;
    let modified_before = date_param(store, params, "modified_before", gmt)?;
    let after = date_param(store, params, "after", gmt)?;
    let before = date_param(store, params, "before", gmt)?;
    let include: Option<Vec<u64>> = params
        .list("include")
        .map(|l| l.iter().filter_map(|s| s.parse().ok()).collect());
    let statuses = params.list("status");
    let mut hits: Vec<_> = store
        .orders
        .iter()
        .filter(|o| {
            modified_after.is_none_or(|t| o.modified > t)
                && modified_before.is_none_or(|t| o.modified < t)
                && after.is_none_or(|t| o.created > t)
                && before.is_none_or(|t| o.created < t)
                && include.as_ref().is_none_or(|i| i.contains(&o.id))
                && statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == "any" || *x == o.status))
        })
        .collect();
    match orderby {
        "modified" => hits.sort_by_key(|o| (o.modified, o.id)),
        "id" => hits.sort_by_key(|o| o.id),
        _ => hits.sort_by_key(|o| (o.created, o.id)),
    }
    if order == "desc" {
        hits.reverse();
    }
    let total = hits.len();
    let per = per_page as usize;
    let body: Vec<Value> = hits
        .iter()
        .skip((page as usize - 1).saturating_mul(per))
        .take(per)
        .map(|o| view.trim(store.order_json(base, o)))
        .collect();
    Ok(paginated(
        base,
        params,
        "/orders",
        Value::Array(body),
        total,
        total.div_ceil(per),
        page as usize,
    ))
}

/// `GET /orders/{id}`.
pub fn order(store: &Store, base: &Base, params: &Params, id: u64) -> Result<Answer, WooError> {
    let view = View::of(params)?;
    store
        .orders
        .iter()
        .find(|o| o.id == id)
        .map(|o| Answer::ok(view.trim(store.order_json(base, o))))
        .ok_or_else(|| WooError::new(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."))
}
