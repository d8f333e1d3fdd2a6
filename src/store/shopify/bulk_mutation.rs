//! Variant updates by bulk mutation (SHOPIFY.md §6): the `VariantsBulkUpdate` variables of
//! every product go into one JSONL file, one product a line, uploaded to the staged target
//! `stagedUploadsCreate` hands out; `bulkOperationRunMutation` then runs the same mutation
//! the direct path sends once per line, inside Shopify, without drawing on the cost bucket.
//! The result file has one line per input line, tagged `__lineNumber`, holding what the
//! direct call would have answered, so outcomes map back exactly as they do for direct
//! calls. Upload and result hosts are cloud storage: both are reached by a plain client
//! that never carries the Shopify token.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value as Json;
use url::Url;

use super::bulk::{check_file_url, get_file, plain_http};
use super::error::StoreError;
use super::ops::{self, VariantUpdate, variants_bulk_update};

/// Largest upload Shopify accepts (`INVALID_STAGED_UPLOAD_FILE` above it).
pub const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;

/// The upload's file name; Shopify keeps it as the last segment of the object key.
pub const FILENAME: &str = "sheetsync-variant-updates.jsonl";

/// The inner mutation: the very text the direct path sends.
pub fn inner_mutation() -> &'static str {
    variants_bulk_update::QUERY
}

/// One line of the upload: one product's variant inputs, the variables of `VariantsBulkUpdate`.
pub fn jsonl_line(product_id: &str, updates: &[VariantUpdate]) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&ops::bulk_update_variables(product_id, updates)).unwrap_or_default();
    line.push(b'\n');
    line
}

/// What the job answered for one input line.
#[derive(Debug, Clone)]
pub enum LineResult {
    /// The inner mutation ran: its `data`, as a direct call's.
    Data(variants_bulk_update::ResponseData),
    /// The line did not run: the messages of its top-level errors.
    Errors(String),
}

/// A finished bulk mutation.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub id: String,
    /// `COMPLETED`, `FAILED`, `CANCELED` or `EXPIRED`.
    pub status: String,
    pub error_code: Option<String>,
    /// Results by input line number (0-based). A line absent here has no known outcome.
    pub lines: HashMap<usize, LineResult>,
}

#[derive(Deserialize)]
struct ResultLine {
    data: Option<Json>,
    #[serde(default)]
    errors: Vec<ErrorLine>,
    #[serde(rename = "__lineNumber")]
    line_number: usize,
}

#[derive(Deserialize)]
struct ErrorLine {
    message: String,
}

/// Reads a result file. Lines come in no promised order; each names its input line.
pub fn parse_results(bytes: &[u8]) -> Result<HashMap<usize, LineResult>, StoreError> {
    let mut out = HashMap::new();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: ResultLine = serde_json::from_slice(raw)
            .map_err(|e| StoreError::Bulk(format!("line {} of the results: {e}", n + 1)))?;
        let data = line
            .data
            .filter(|d| !d.is_null())
            .map(serde_json::from_value::<variants_bulk_update::ResponseData>)
            .transpose()
            .map_err(|e| StoreError::Bulk(format!("line {} of the results: {e}", n + 1)))?;
        let result = match data {
            Some(d) if line.errors.is_empty() => LineResult::Data(d),
            _ => {
                let messages: Vec<&str> = line.errors.iter().map(|e| e.message.as_str()).collect();
                LineResult::Errors(if messages.is_empty() {
                    "the bulk mutation returned no data for this line".to_owned()
                } else {
                    messages.join("; ")
                })
            }
        };
        out.insert(line.line_number, result);
    }
    Ok(out)
}

/// Where to upload: a URL and the form fields that authorise the upload (POST).
#[derive(Debug, Clone)]
pub struct StagedTarget {
    pub url: Url,
    pub parameters: Vec<(String, String)>,
}

impl StagedTarget {
    /// The object key: `bulkOperationRunMutation`'s `stagedUploadPath`.
    pub fn key(&self) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == "key")
            .map(|(_, v)| v.as_str())
    }
}

/// A `multipart/form-data` body: the target's fields in order, then the file (storage
/// requires the file to come last).
fn multipart(parameters: &[(String, String)], file: &[u8], boundary: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(file.len() + 256 * (parameters.len() + 1));
    for (name, value) in parameters {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{FILENAME}\"\r\nContent-Type: text/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Uploads `file` to the staged target by multipart POST, without the Shopify token.
pub async fn upload(target: &StagedTarget, file: &[u8]) -> Result<(), StoreError> {
    let boundary = format!("sheetsync-{:016x}", fastrand::u64(..));
    let body = multipart(&target.parameters, file, &boundary);
    let resp = plain_http()?
        .post(target.url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .map_err(StoreError::from_reqwest)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // Storage answers in XML (`<Code>EntityTooLarge</Code>`); the code is enough.
    let text = resp.text().await.unwrap_or_default();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|t| t.split("</Code>").next())
        .unwrap_or("no code");
    Err(StoreError::Bulk(format!(
        "staged upload answered HTTP {} ({code})",
        status.as_u16()
    )))
}

/// Fetches a result file (whole: one short line per product) by plain GET.
pub async fn fetch(raw_url: &str) -> Result<HashMap<usize, LineResult>, StoreError> {
    let resp = get_file(check_file_url(raw_url)?).await?;
    let bytes = resp.bytes().await.map_err(StoreError::from_reqwest)?;
    parse_results(&bytes)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::store::shopify::ops::Patch;

    #[test]
    fn a_line_is_the_direct_calls_variables() {
        let update = VariantUpdate {
            variant_id: "gid://shopify/ProductVariant/1".into(),
            price: Some(Decimal::new(1250, 2)),
            barcode: Patch::Clear,
            ..Default::default()
        };
        let line = jsonl_line("gid://shopify/Product/9", std::slice::from_ref(&update));
        assert_eq!(line.last(), Some(&b'\n'));
        let direct: Json =
            serde_json::from_slice(&ops::bulk_update_body("gid://shopify/Product/9", &[update]))
                .unwrap();
        let mine: Json = serde_json::from_slice(&line).unwrap();
        assert_eq!(mine, direct["variables"]);
        assert!(mine["variants"][0]["barcode"].is_null());
        assert!(mine["variants"][0].get("compareAtPrice").is_none());
    }

    #[test]
    fn results_map_by_line_number_in_any_order() {
        let file = concat!(
            r#"{"data":{"productVariantsBulkUpdate":{"productVariants":[],"userErrors":[{"field":["variants","0","price"],"message":"Price must be greater than or equal to 0","code":"GREATER_THAN_OR_EQUAL_TO"}]}},"__lineNumber":1}"#,
            "\n",
            r#"{"errors":[{"message":"Variable $productId of type ID! was provided invalid value"}],"__lineNumber":2}"#,
            "\n",
            r#"{"data":{"productVariantsBulkUpdate":{"productVariants":[{"id":"gid://shopify/ProductVariant/1","price":"1.00","compareAtPrice":null,"barcode":null,"inventoryItem":{"unitCost":null}}],"userErrors":[]}},"__lineNumber":0}"#,
            "\n"
        );
        let lines = parse_results(file.as_bytes()).unwrap();
        assert_eq!(lines.len(), 3);
        let Some(LineResult::Data(d)) = lines.get(&1) else {
            panic!("line 1: {:?}", lines.get(&1))
        };
        let ids = vec!["gid://shopify/ProductVariant/7".to_owned()];
        let outcome = ops::bulk_update_outcome(&ids, d.clone());
        assert!(matches!(
            outcome.variants[0].1,
            ops::VariantOutcome::Failed(_)
        ));
        assert!(matches!(lines.get(&2), Some(LineResult::Errors(m)) if m.contains("$productId")));
        assert!(matches!(lines.get(&0), Some(LineResult::Data(_))));
        assert!(parse_results(b"{not json\n").is_err());
    }

    #[test]
    fn the_form_ends_with_the_file() {
        let params = vec![
            ("key".to_owned(), "tmp/1/bulk/x/f.jsonl".to_owned()),
            ("acl".to_owned(), "private".to_owned()),
        ];
        let body = String::from_utf8(multipart(&params, b"{\"a\":1}\n", "B")).unwrap();
        let key = body.find("name=\"key\"").unwrap();
        let file = body.find("name=\"file\"").unwrap();
        assert!(key < file);
        assert!(body.ends_with("{\"a\":1}\n\r\n--B--\r\n"));
    }
}
