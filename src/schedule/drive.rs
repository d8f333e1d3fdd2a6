//! The one Drive call `watch` makes: `files.get` with `fields=version,modifiedTime`, a
//! cheap "did the spreadsheet move?" check before any Sheets read.
//!
//! It shares the Sheets client's HTTP client and authenticator, asking for the
//! `drive.metadata.readonly` scope alongside `spreadsheets` (a service account mints a
//! token for exactly the scopes asked). It paces itself with its own limiter (Drive's
//! quota is separate from Sheets', DESIGN step 5) and retries through the shared policy.
//! The bearer token never reaches an error or a log line.

use std::num::NonZeroU32;
use std::time::Duration;

use google_sheets4::common;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::http::{Reason, Retries, RetryPolicy};
use crate::sheet::google::{SheetsClient, Tokens};

/// The scopes the Drive token is minted for: the one Google token covers both.
pub use crate::auth::google::SCOPES;

/// Requests a minute: Drive's default per-user quota, as for Sheets.
const PER_MINUTE: u32 = 60;

/// Where the spreadsheet stands: both move with every edit, ours included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub version: String,
    pub modified_time: String,
}

/// What can go wrong with the Drive check.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(
        "Google refused the Drive check: {message} (watch needs the drive.metadata.readonly scope and the Drive API enabled for the key's project)"
    )]
    Denied { status: u16, message: String },
    #[error("spreadsheet {0} not found on Drive: check sheet.spreadsheet_id and the sharing")]
    NotFound(String),
    #[error("Google Drive answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach Google Drive: {0}")]
    Transport(String),
    #[error("cannot get a Google access token for Drive: {0}")]
    Token(String),
    #[error("unexpected answer from Google Drive: {0}")]
    Unexpected(String),
}

/// A Drive client for `files.get` on one account.
pub struct DriveClient {
    client: common::Client<HttpsConnector<HttpConnector>>,
    auth: Tokens,
    base: String,
    limiter: DefaultDirectRateLimiter,
    retry: RetryPolicy,
}

impl std::fmt::Debug for DriveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriveClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl DriveClient {
    /// A client on `sheets`' connection and credentials, against `drive_api_base_url`
    /// (`https://www.googleapis.com/`, or the sandbox).
    pub fn new(sheets: &SheetsClient, drive_api_base_url: &str, retry: RetryPolicy) -> Self {
        let (client, auth) = sheets.transport_parts();
        let base = if drive_api_base_url.ends_with('/') {
            drive_api_base_url.to_owned()
        } else {
            format!("{drive_api_base_url}/")
        };
        let per_minute = NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        DriveClient {
            client,
            auth,
            base,
            limiter: RateLimiter::direct(Quota::per_minute(per_minute)),
            retry,
        }
    }

    /// `files.get(fields=version,modifiedTime)` for `file_id`, retried on 429, 5xx and
    /// dropped connections.
    pub async fn version(&self, file_id: &str) -> Result<FileVersion, DriveError> {
        let url = format!(
            "{}drive/v3/files/{}?fields=version,modifiedTime&supportsAllDrives=true",
            self.base,
            url::form_urlencoded::byte_serialize(file_id.as_bytes()).collect::<String>()
        );
        let mut retries = Retries::new(self.retry, "google-drive");
        let mut renewed = false;
        loop {
            self.limiter.until_ready().await;
            let (reason, server_wait, error) = match self.once(&url, file_id).await {
                Ok(v) => return Ok(v),
                // A token refused before its expiry: renew it once, as the Sheets client does.
                Err(Attempt::Fatal(DriveError::Denied { status: 401, .. })) if !renewed => {
                    renewed = true;
                    self.auth.renew_next();
                    continue;
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry {
                    reason,
                    server_wait,
                    error,
                }) => (reason, server_wait, error),
            };
            match retries.next(reason, server_wait) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(error),
            }
        }
    }

    async fn once(&self, url: &str, file_id: &str) -> Result<FileVersion, Attempt> {
        let token = self
            .auth
            .token(&SCOPES)
            .await
            .map_err(|e| Attempt::Fatal(DriveError::Token(e.to_string())))?;
        let mut req = hyper::Request::get(url).header(hyper::header::ACCEPT, "application/json");
        if let Some(token) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(common::to_body::<String>(None))
            .map_err(|e| Attempt::Fatal(DriveError::Unexpected(e.to_string())))?;
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => {
                return Err(Attempt::Retry {
                    reason: Reason::Connection,
                    server_wait: None,
                    error: DriveError::Transport(e.to_string()),
                });
            }
        };
        let status = resp.status().as_u16();
        let server_wait = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::http::parse_retry_after(v, chrono::Utc::now()));
        let body = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Err(Attempt::Retry {
                    reason: Reason::Connection,
                    server_wait: None,
                    error: DriveError::Transport(e.to_string()),
                });
            }
        };
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == 200 {
            return parse_version(&json).map_err(Attempt::Fatal);
        }
        let message = json["error"]["message"].as_str().map_or_else(
            || String::from_utf8_lossy(&body).chars().take(200).collect(),
            str::to_owned,
        );
        let error = match status {
            401 | 403 => DriveError::Denied { status, message },
            404 => DriveError::NotFound(file_id.to_owned()),
            _ => DriveError::Http { status, message },
        };
        if crate::http::retryable_status(status) {
            Err(Attempt::Retry {
                reason: Reason::Status(status),
                server_wait,
                error,
            })
        } else {
            Err(Attempt::Fatal(error))
        }
    }
}

enum Attempt {
    Fatal(DriveError),
    Retry {
        reason: Reason,
        server_wait: Option<Duration>,
        error: DriveError,
    },
}

/// `version` is an int64 that travels as a string.
fn parse_version(json: &serde_json::Value) -> Result<FileVersion, DriveError> {
    let version = match &json["version"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(DriveError::Unexpected(
                "files.get returned no version".into(),
            ));
        }
    };
    let modified_time = json["modifiedTime"].as_str().unwrap_or_default().to_owned();
    Ok(FileVersion {
        version,
        modified_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_travels_as_a_string_or_a_number() {
        let v = parse_version(&serde_json::json!({"version": "42", "modifiedTime": "t"}))
            .expect("version");
        assert_eq!(v.version, "42");
        assert_eq!(v.modified_time, "t");
        let v = parse_version(&serde_json::json!({"version": 7})).expect("version");
        assert_eq!(v.version, "7");
        assert!(parse_version(&serde_json::json!({"kind": "drive#file"})).is_err());
    }
}
