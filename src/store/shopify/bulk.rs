//! Snapshot by bulk export (SHOPIFY.md §6, DESIGN.md step 2): `bulkOperationRunQuery` with
//! the variants query, `bulkOperation(id)` polled until the job ends, then the JSONL read
//! as a stream from its `url`. That file lives on another host (cloud storage), so it is
//! fetched by a plain GET that never carries the Shopify token. Lines arrive in no
//! promised order: inventory levels are joined to their variant by `__parentId`, and a
//! level seen before its variant waits in a side map. Memory is one line plus the maps the
//! snapshot needs anyway.

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use url::Url;

use super::error::StoreError;
use super::ops::VariantRecord;

/// The export: every variant with the fields `VariantsPage` reads, levels as child lines.
pub const VARIANTS_QUERY: &str = r#"{
  productVariants {
    edges {
      node {
        id
        sku
        price
        compareAtPrice
        barcode
        requiresComponents
        product { id title status tags vendor productType descriptionHtml }
        inventoryItem {
          id
          tracked
          unitCost { amount }
          inventoryLevels {
            edges {
              node {
                location { id }
                quantities(names: ["available"]) { name quantity }
              }
            }
          }
        }
      }
    }
  }
}"#;

/// Polling starts quick (small stores finish in a second) and backs off to this.
const MAX_POLL: Duration = Duration::from_secs(5);
const FIRST_POLL: Duration = Duration::from_millis(200);

/// The next wait between two polls of a running job.
pub fn next_poll(last: Option<Duration>) -> Duration {
    match last {
        None => FIRST_POLL,
        Some(d) => d.mul_f64(1.5).min(MAX_POLL),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    id: Option<String>,
    #[serde(rename = "__parentId")]
    parent_id: Option<String>,
    sku: Option<String>,
    price: Option<Decimal>,
    compare_at_price: Option<Decimal>,
    barcode: Option<String>,
    requires_components: Option<bool>,
    product: Option<ProductRef>,
    inventory_item: Option<ItemLine>,
    location: Option<IdRef>,
    quantities: Option<Vec<Quantity>>,
}

#[derive(Deserialize)]
struct ProductRef {
    id: String,
    #[serde(default)]
    title: String,
    // Absent from exports made before these were read: defaults keep them readable.
    #[serde(default)]
    status: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default, rename = "productType")]
    product_type: Option<String>,
    #[serde(default, rename = "descriptionHtml")]
    description_html: Option<String>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemLine {
    id: String,
    tracked: bool,
    unit_cost: Option<Amount>,
}

#[derive(Deserialize)]
struct Amount {
    amount: Decimal,
}

#[derive(Deserialize)]
struct Quantity {
    name: String,
    quantity: i64,
}

/// Joins the export's lines into variant records, whatever their order.
#[derive(Debug, Default)]
pub struct VariantJoin {
    variants: HashMap<String, VariantRecord>,
    /// Levels whose variant has not been seen yet, by variant id.
    waiting: HashMap<String, Vec<(String, Option<i64>)>>,
    buffer: Vec<u8>,
    line_no: usize,
}

impl VariantJoin {
    pub fn new() -> VariantJoin {
        VariantJoin::default()
    }

    /// Feeds a chunk of the file; complete lines are parsed at once, a partial one waits.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(i);
            if self.buffer.is_empty() {
                self.line(head)?;
            } else {
                let mut line = std::mem::take(&mut self.buffer);
                line.extend_from_slice(head);
                self.line(&line)?;
            }
            rest = &tail[1..];
        }
        self.buffer.extend_from_slice(rest);
        Ok(())
    }

    fn line(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.line_no += 1;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let line: Line = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::Bulk(format!("line {} of the export: {e}", self.line_no)))?;
        match (line.parent_id, line.location) {
            // An inventory level: the child of a variant.
            (Some(parent), Some(location)) => {
                let available = line
                    .quantities
                    .unwrap_or_default()
                    .into_iter()
                    .find(|q| q.name == "available")
                    .map(|q| q.quantity);
                match self.variants.get_mut(&parent) {
                    Some(v) => v.levels.push((location.id, available)),
                    None => self
                        .waiting
                        .entry(parent)
                        .or_default()
                        .push((location.id, available)),
                }
            }
            (None, _) => {
                let (Some(id), Some(price), Some(product), Some(item)) =
                    (line.id, line.price, line.product, line.inventory_item)
                else {
                    return Err(StoreError::Bulk(format!(
                        "line {} of the export is not a variant",
                        self.line_no
                    )));
                };
                let levels = self.waiting.remove(&id).unwrap_or_default();
                let record = VariantRecord {
                    id: id.clone(),
                    sku: line.sku,
                    price,
                    compare_at_price: line.compare_at_price,
                    barcode: line.barcode,
                    requires_components: line.requires_components.unwrap_or(false),
                    product_id: product.id,
                    product_title: product.title,
                    product_status: product.status,
                    tags: product.tags,
                    vendor: product.vendor.unwrap_or_default(),
                    product_type: product.product_type.unwrap_or_default(),
                    description: product.description_html.unwrap_or_default(),
                    inventory_item_id: item.id,
                    tracked: item.tracked,
                    cost: item.unit_cost.map(|c| c.amount),
                    levels,
                    levels_after: None,
                };
                self.variants.insert(id, record);
            }
            // Another child we did not ask for: nothing to join.
            (Some(_), None) => {}
        }
        Ok(())
    }

    /// The records, in id order. Levels whose variant never appeared are an error: the
    /// file was cut short or is not the export we asked for.
    pub fn finish(mut self) -> Result<Vec<VariantRecord>, StoreError> {
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.line(&last)?;
        }
        if let Some(parent) = self.waiting.keys().next() {
            return Err(StoreError::Bulk(format!(
                "inventory levels of {parent} arrived without their variant"
            )));
        }
        let mut out: Vec<VariantRecord> = self.variants.into_values().collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// A result file or staged upload target may be reached over https, or http on a
/// loopback address (the fake).
pub fn check_file_url(raw: &str) -> Result<Url, StoreError> {
    let url = Url::parse(raw).map_err(|e| StoreError::Bulk(format!("bad result url: {e}")))?;
    crate::http::check_transport(&url)
        .map(|()| url)
        .map_err(|_| StoreError::Bulk("result url is not https".into()))
}

/// A client for the storage host (result files, staged uploads): no token, no Shopify
/// headers, since it is another host.
pub(crate) fn plain_http() -> Result<reqwest::Client, StoreError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("sheetsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StoreError::Connection(e.to_string()))
}

/// The response to a plain GET of a bulk operation's file (no credentials), once it
/// answered a success status.
pub async fn get_file(url: Url) -> Result<reqwest::Response, StoreError> {
    let resp = plain_http()?
        .get(url)
        .send()
        .await
        .map_err(StoreError::from_reqwest)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(StoreError::Bulk(format!(
            "result file answered HTTP {}",
            status.as_u16()
        )));
    }
    Ok(resp)
}

/// Streams the file at `url` into a [`VariantJoin`] by plain GET.
pub async fn download(url: Url) -> Result<Vec<VariantRecord>, StoreError> {
    let mut resp = get_file(url).await?;
    let mut join = VariantJoin::new();
    while let Some(chunk) = resp.chunk().await.map_err(StoreError::from_reqwest)? {
        join.feed(&chunk)?;
    }
    join.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"id":"gid://shopify/ProductVariant/1","sku":"A","price":"1.50","compareAtPrice":null,"barcode":null,"requiresComponents":false,"product":{"id":"gid://shopify/Product/9","title":"P","productType":"Mugs","descriptionHtml":"<p>A \"mug\".</p>\n"},"inventoryItem":{"id":"gid://shopify/InventoryItem/11","tracked":true,"unitCost":{"amount":"0.5"}}}"#;
    const V2: &str = r#"{"id":"gid://shopify/ProductVariant/2","sku":"B","price":"2.00","product":{"id":"gid://shopify/Product/9","title":"P"},"inventoryItem":{"id":"gid://shopify/InventoryItem/12","tracked":false,"unitCost":null}}"#;
    const L1A: &str = r#"{"location":{"id":"gid://shopify/Location/1"},"quantities":[{"name":"available","quantity":4}],"__parentId":"gid://shopify/ProductVariant/1"}"#;
    const L1B: &str = r#"{"location":{"id":"gid://shopify/Location/2"},"quantities":[{"name":"available","quantity":-2}],"__parentId":"gid://shopify/ProductVariant/1"}"#;

    fn join(lines: &[&str], chunk: usize) -> Result<Vec<VariantRecord>, StoreError> {
        let text = lines.join("\n");
        let mut j = VariantJoin::new();
        for piece in text.as_bytes().chunks(chunk) {
            j.feed(piece)?;
        }
        j.finish()
    }

    fn levels(r: &VariantRecord) -> Vec<(String, Option<i64>)> {
        let mut l = r.levels.clone();
        l.sort();
        l
    }

    #[test]
    fn children_join_their_parent_in_any_order_and_any_chunking() {
        let orders: [&[&str]; 4] = [
            &[V1, L1A, L1B, V2],
            &[L1B, V2, L1A, V1],
            &[V2, L1A, V1, L1B],
            &[L1A, L1B, V1, V2],
        ];
        for order in orders {
            for chunk in [1, 7, 64, 10_000] {
                let out = join(order, chunk).unwrap();
                assert_eq!(out.len(), 2, "{order:?} / {chunk}");
                assert_eq!(out[0].sku.as_deref(), Some("A"));
                assert_eq!(
                    levels(&out[0]),
                    vec![
                        ("gid://shopify/Location/1".to_owned(), Some(4)),
                        ("gid://shopify/Location/2".to_owned(), Some(-2)),
                    ]
                );
                assert_eq!(out[0].cost, Some(Decimal::new(5, 1)));
                assert_eq!(
                    (out[0].product_type.as_str(), out[0].description.as_str()),
                    ("Mugs", "<p>A \"mug\".</p>\n")
                );
                assert!(out[1].levels.is_empty() && !out[1].tracked);
                // An export made before these were read has neither: empty.
                assert!(out[1].product_type.is_empty() && out[1].description.is_empty());
            }
        }
    }

    #[test]
    fn orphans_and_garbage_are_errors_not_silence() {
        assert!(matches!(join(&[V2, L1A], 16), Err(StoreError::Bulk(_))));
        assert!(matches!(
            join(&[V1, "{not json"], 16),
            Err(StoreError::Bulk(_))
        ));
        assert!(matches!(
            join(&[r#"{"id":"x"}"#], 16),
            Err(StoreError::Bulk(_))
        ));
        // A trailing newline and blank lines are fine.
        assert_eq!(join(&[V1, "", L1A, ""], 5).unwrap().len(), 1);
    }

    #[test]
    fn only_https_or_loopback_result_urls() {
        assert!(check_file_url("https://storage.googleapis.com/x?sig=1").is_ok());
        assert!(check_file_url("http://127.0.0.1:9/bulk-results/1.jsonl").is_ok());
        assert!(check_file_url("http://storage.googleapis.com/x").is_err());
        assert!(check_file_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn polling_backs_off_to_a_cap() {
        let mut last = None;
        let mut waits = Vec::new();
        for _ in 0..12 {
            let next = next_poll(last);
            waits.push(next);
            last = Some(next);
        }
        assert_eq!(waits[0], FIRST_POLL);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), MAX_POLL);
    }
}
