//! `sheetsync auth …`: `status` says, per side, which credential is used, its kind, when
//! it expires, granted against needed scopes, and what to do about anything that would
//! fail. Secrets are shown as a short prefix at most.

use super::{Cli, CommandError, Failure};
use crate::auth::shopify::{TokenKind, peek_stored};
use crate::config::{Config, GoogleMethod, ShopifyAuthMethod};
use crate::report::ExitStatus;
use crate::state::Scope;
use crate::store::shopify::{ShopifyClient, StoreError};

/// One finding: `Ok` lines inform, `Fix` lines say what to do.
pub(super) enum Line {
    Ok(String),
    Fix(String, ExitStatus),
}

/// What `auth status` and `check` print about the Shopify credential, without a request.
fn shopify_credential(config: &Config) -> Vec<Line> {
    let Some(shopify) = &config.shopify else {
        return Vec::new();
    };
    let auth = &shopify.auth;
    let scope = Scope::of(config);
    let mut out = Vec::new();
    match auth.method {
        ShopifyAuthMethod::Token => {
            out.push(Line::Ok(
                "method:  token (custom-app Admin API token)".into(),
            ));
            if let Some(t) = &auth.token {
                out.push(Line::Ok(format!(
                    "token:   {}; does not expire (revoked when the app is uninstalled or the token rotated)",
                    t.prefix()
                )));
            }
        }
        m => {
            let name = if m == ShopifyAuthMethod::Oauth {
                "oauth (authorization-code install)"
            } else {
                "client_credentials (token minted from the app's client id and secret)"
            };
            out.push(Line::Ok(format!("method:  {name}")));
            if let Some(id) = &auth.client_id {
                out.push(Line::Ok(format!("client:  {id}")));
            }
            match peek_stored(&config.sync.state_dir, &scope) {
                Ok(Some(t)) => {
                    out.push(Line::Ok(format!(
                        "token:   {}, {}",
                        t.secret().prefix(),
                        t.kind.describe()
                    )));
                    let now = chrono::Utc::now();
                    match t.expires_at {
                        Some(e) if e > now => out.push(Line::Ok(format!(
                            "expires: {} (in {}); renewed automatically before then",
                            e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            humantime::format_duration(std::time::Duration::from_secs(
                                (e - now).num_seconds().max(0) as u64
                            ))
                        ))),
                        Some(e) => out.push(Line::Ok(format!(
                            "expires: expired at {}; the next request renews it",
                            e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ))),
                        None => out.push(Line::Ok("expires: never".into())),
                    }
                    if let Some(r) = t.refresh_expires_at {
                        out.push(Line::Ok(format!(
                            "refresh: valid until {}; rotated on every refresh",
                            r.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )));
                    }
                    if t.kind == TokenKind::Offline && m == ShopifyAuthMethod::Oauth {
                        out.push(Line::Ok(
                            "note:    public apps must move to expiring offline tokens by 2027-01-01; run `sheetsync auth shopify --method oauth` again to get one".into(),
                        ));
                    }
                }
                Ok(None) if m == ShopifyAuthMethod::Oauth => out.push(Line::Fix(
                    "token:   none stored; run `sheetsync auth shopify --method oauth`".into(),
                    ExitStatus::Config,
                )),
                Ok(None) => out.push(Line::Ok(
                    "token:   none cached yet; minted on first use (valid 24 h, re-minted automatically)".into(),
                )),
                Err(e) => out.push(Line::Fix(format!("token:   {e}"), ExitStatus::RunFailed)),
            }
        }
    }
    out
}

/// Granted against needed scopes, from `currentAppInstallation`.
async fn shopify_scopes(config: &Config) -> Vec<Line> {
    let store = match crate::engine::shopify_client(
        config,
        true,
        crate::store::shopify::ClientOptions::from_sync(&config.sync),
    ) {
        Ok(s) => s,
        Err(e) => return vec![Line::Fix(format!("access:  {e}"), (&e).into())],
    };
    match store.shop_info().await {
        Ok(info) => {
            let needed = ShopifyClient::required_scopes_for(config);
            let missing: Vec<&str> = needed
                .iter()
                .filter(|n| !crate::engine::scope_granted(&info.scopes, n))
                .copied()
                .collect();
            let mut out = vec![
                Line::Ok(format!("store:   {} ({})", info.name, info.domain)),
                Line::Ok(format!("granted: {}", info.scopes.join(", "))),
                Line::Ok(format!("needed:  {}", needed.join(", "))),
            ];
            if !missing.is_empty() {
                out.push(Line::Fix(
                    format!(
                        "missing: {}; add them to the app's access scopes (Dev Dashboard: a new app version), then reinstall the app or run `sheetsync auth shopify` again",
                        missing.join(", ")
                    ),
                    ExitStatus::Config,
                ));
            }
            out
        }
        Err(StoreError::Unauthorized) => vec![Line::Fix(
            "access:  Shopify rejected the token (HTTP 401); paste a current token, or switch to client_credentials".into(),
            ExitStatus::RunFailed,
        )],
        Err(e) => vec![Line::Fix(format!("access:  {e}"), ExitStatus::RunFailed)],
    }
}

/// The Google credential, and a Drive `files.get` proving the sheet is shared with it.
async fn google(config: &Config) -> Vec<Line> {
    let g = &config.google;
    let mut out = Vec::new();
    match (g.method, &g.credentials, &g.client_secret) {
        (GoogleMethod::ServiceAccount, Some(path), _) => {
            out.push(Line::Ok(format!(
                "method:  service account, key file {}",
                path.display()
            )));
            let email = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["client_email"].as_str().map(str::to_owned));
            if let Some(e) = &email {
                out.push(Line::Ok(format!(
                    "account: {e} (share the sheet with this address, as Editor)"
                )));
            }
            out.push(Line::Ok(
                "token:   service-account JWT: one-hour access tokens signed with the key; the key does not expire unless rotated or disabled".into(),
            ));
        }
        (GoogleMethod::ServiceAccount, None, _) => {
            out.push(Line::Fix(
                "method:  service account, but google.credentials is not set".into(),
                ExitStatus::Config,
            ));
            return out;
        }
        (GoogleMethod::Installed, _, client) => {
            out.push(Line::Ok(format!(
                "method:  installed-app OAuth, client file {}",
                client
                    .as_deref()
                    .map_or_else(|| "(not set)".into(), |p| p.display().to_string())
            )));
            let scope = Scope::of(config);
            match crate::auth::google::peek_stored(&config.sync.state_dir, &scope) {
                Ok(Some(t)) => installed_token_lines(&t, &mut out),
                Ok(None) => {
                    out.push(Line::Fix(
                        "token:   none stored; run `sheetsync auth google --method installed`"
                            .into(),
                        ExitStatus::Config,
                    ));
                    return out;
                }
                Err(e) => {
                    out.push(Line::Fix(format!("token:   {e}"), ExitStatus::RunFailed));
                    return out;
                }
            }
        }
    }
    out.push(Line::Ok(
        "scopes:  needed spreadsheets + drive.metadata.readonly (watch, and this check)".into(),
    ));
    out.extend(drive_check(config).await);
    out
}

/// The stored installed-app token: kind, consent, access token expiry, the Testing trap.
fn installed_token_lines(t: &crate::auth::google::GoogleToken, out: &mut Vec<Line>) {
    let secs =
        |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = chrono::Utc::now();
    out.push(Line::Ok(format!(
        "token:   {}, installed-app refresh token (does not expire while used, unless revoked); client {}",
        t.refresh_prefix(),
        t.client_id
    )));
    out.push(Line::Ok(format!("granted: {}", t.scopes.join(" "))));
    out.push(Line::Ok(format!("consent: {}", secs(t.consented_at))));
    match t.access_expires_at {
        Some(e) if e > now => out.push(Line::Ok(format!(
            "expires: access token at {}; refreshed automatically",
            secs(e)
        ))),
        _ => out.push(Line::Ok(
            "expires: no live access token; the next request refreshes one".into(),
        )),
    }
    let testing_death = t.consented_at + chrono::Duration::days(7);
    if testing_death > now {
        out.push(Line::Ok(format!(
            "note:    if the OAuth client's consent screen is in \"Testing\", this refresh token dies at {}; publish the app (Google Auth Platform > Audience) to keep it",
            secs(testing_death)
        )));
    }
}

/// Drive `files.get` on the spreadsheet: proves it is shared with the credential without
/// reading any cell. A dry-run client, so a refreshed token is not written.
async fn drive_check(config: &Config) -> Vec<Line> {
    use crate::schedule::drive::{DriveClient, DriveError};
    let key_hint = "; if your organisation forbids service-account keys (the default for new Google Cloud organisations), use google.method = \"installed\"";
    let client = match crate::engine::sheets_client(config, true).await {
        Ok(c) => c,
        Err(e) => {
            let hint = if config.google.method == GoogleMethod::ServiceAccount {
                key_hint
            } else {
                ""
            };
            return vec![Line::Fix(format!("key:     {e}{hint}"), (&e).into())];
        }
    };
    let drive = DriveClient::new(
        &client,
        &config.sheet.drive_api_base_url,
        crate::http::RetryPolicy::default(),
    );
    let id = &config.sheet.spreadsheet_id;
    let who = client.account().to_owned();
    match drive.version(id).await {
        Ok(_) => vec![Line::Ok(format!(
            "sheet:   shared with {who} (Drive files.get found spreadsheet {id})"
        ))],
        Err(DriveError::NotFound(_)) => vec![Line::Fix(
            format!(
                "sheet:   Drive cannot see spreadsheet {id} (HTTP 404): check sheet.spreadsheet_id, and share the sheet with {who} as an Editor{}",
                if config.google.method == GoogleMethod::Installed {
                    " (or run `sheetsync auth google --method installed` as an account it is shared with)"
                } else {
                    ""
                }
            ),
            ExitStatus::Config,
        )],
        Err(DriveError::Denied { status, message }) => vec![Line::Fix(
            format!(
                "sheet:   Drive refused files.get (HTTP {status}: {message}); enable the Google Drive API (and the Sheets API) for the credential's Cloud project, and check that the credential has the drive.metadata.readonly scope{}",
                if config.google.method == GoogleMethod::Installed {
                    " (run `sheetsync auth google --method installed` again to grant it)"
                } else {
                    ""
                }
            ),
            ExitStatus::Config,
        )],
        Err(e) => vec![Line::Fix(format!("sheet:   {e}"), ExitStatus::RunFailed)],
    }
}

fn print(title: &str, lines: &[Line], worst: &mut ExitStatus) {
    println!("{title}");
    for line in lines {
        match line {
            Line::Ok(t) => println!("  {t}"),
            Line::Fix(t, status) => {
                println!("  ✗ {t}");
                *worst = worst.worst(*status);
            }
        }
    }
}

/// `auth status`: exit 0 when both sides would work, 2 for a config or scope problem, 1
/// when a side could not be reached.
pub async fn status(cli: &Cli) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let mut worst = ExitStatus::Done;
    if config.woocommerce.is_some() {
        let lines = super::woocommerce::status_lines(&config).await;
        print(
            &format!("WooCommerce ({})", config.shop_name()),
            &lines,
            &mut worst,
        );
    } else {
        let mut shopify = shopify_credential(&config);
        shopify.extend(shopify_scopes(&config).await);
        print(
            &format!("Shopify ({})", config.shop_name()),
            &shopify,
            &mut worst,
        );
    }
    print("Google", &google(&config).await, &mut worst);
    Ok(worst)
}

/// `check` for a WooCommerce store: the probe's lines; the worst status they imply.
pub async fn woocommerce_for_check(config: &Config) -> ExitStatus {
    let mut worst = ExitStatus::Done;
    print(
        &format!("store (WooCommerce {}):", config.shop_name()),
        &super::woocommerce::status_lines(config).await,
        &mut worst,
    );
    worst
}

/// The credential lines `check` prints before it connects.
pub fn describe_for_check(config: &Config) {
    let mut worst = ExitStatus::Done;
    print(
        "credentials (Shopify):",
        &shopify_credential(config),
        &mut worst,
    );
}

/// `auth shopify`: sets up store access with `method` (default: the config's).
pub async fn shopify(
    cli: &Cli,
    method: Option<ShopifyAuthMethod>,
    port: u16,
) -> Result<ExitStatus, Failure> {
    use crate::auth::oauth;
    let (_, config) = super::load_config(cli)?;
    let shopify = config.shopify().map_err(CommandError::Usage)?;
    let method = method.unwrap_or(shopify.auth.method);
    let scope = Scope::of(&config);
    let auth = &shopify.auth;
    if method == ShopifyAuthMethod::Token {
        println!(
            "method token: paste the custom app's Admin API token (shpat_…) into shopify.auth.token, or token = \"${{SHOPIFY_ACCESS_TOKEN}}\". Custom apps can no longer be created in the Shopify admin since 2026-01-01; new apps use client_credentials or oauth."
        );
        return status(cli).await;
    }
    let (Some(client_id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
        return Err(CommandError::Usage(format!(
            "shopify.auth.client_id and client_secret are required for {method:?}: copy them from the app's settings in the Dev Dashboard"
        ))
        .into());
    };
    let endpoint = crate::auth::shopify::OauthEndpoint::new(shopify)?;
    if method == ShopifyAuthMethod::ClientCredentials {
        let mut cfg = shopify.clone();
        cfg.auth.method = ShopifyAuthMethod::ClientCredentials;
        let tokens =
            crate::auth::shopify::ShopifyTokens::new(&cfg, &config.sync.state_dir, scope, false)?;
        use crate::auth::TokenProvider;
        tokens.token().await?;
        println!(
            "client credentials: ok; a 24-hour token is cached in the state dir and re-minted automatically"
        );
        return status(cli).await;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            CommandError::Usage(format!(
                "cannot listen on 127.0.0.1:{port} for Shopify's callback ({e}); pick another with --port and register its redirect URL with the app"
            ))
        })?;
    let redirect = oauth::redirect_uri(listener.local_addr().map_or(port, |a| a.port()));
    let state = oauth::nonce()?;
    let url = oauth::authorize_url(
        &endpoint,
        client_id,
        &ShopifyClient::required_scopes_for(&config),
        &redirect,
        &state,
    );
    println!("Open this URL, sign in to the store and approve the app:\n\n  {url}\n");
    open_in_browser(url.as_str());
    println!(
        "Shopify then redirects to {redirect} (register it as an allowed redirection URL of the app).\nIf this machine has no browser, open the URL elsewhere and paste here the full URL the browser ended on."
    );
    let query = oauth::wait_for_callback(listener).await?;
    let token = oauth::complete(&endpoint, client_id, secret, &query, &state).await?;
    crate::auth::shopify::store_token(&config.sync.state_dir, &scope, &token)?;
    println!("Shopify: {} stored in the state dir", token.kind.describe());
    Ok(ExitStatus::Done)
}

/// `auth google`: sets up Google access with `method` (default: the config's).
pub async fn google_setup(cli: &Cli, method: Option<GoogleMethod>) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let method = method.unwrap_or(config.google.method);
    if method == GoogleMethod::ServiceAccount {
        println!(
            "method service_account: point google.credentials at the service account's JSON key and share the sheet with its e-mail as an Editor. Organisations that forbid service-account keys can use google.method = \"installed\" with `sheetsync auth google --method installed`."
        );
        return status(cli).await;
    }
    let Some(client) = &config.google.client_secret else {
        return Err(CommandError::Usage(
            "google.client_secret is required for installed-app OAuth: create an OAuth client of type Desktop app (Google Auth Platform > Clients), download its JSON and point google.client_secret at it".to_owned(),
        )
        .into());
    };
    let scope = Scope::of(&config);
    let show = Box::new(|url: &str| {
        println!(
            "Open this URL, sign in with a Google account the sheet is shared with, and allow access:\n\n  {url}\n"
        );
        open_in_browser(url);
        println!(
            "Google then redirects to this machine's loopback address, where sheetsync is listening.\nIf this machine has no browser, open the URL elsewhere and paste here the full URL the browser ended on (http://127.0.0.1:…/?code=…)."
        );
    });
    let token = crate::auth::google::consent(client, &config.sync.state_dir, scope, show).await?;
    println!(
        "Google: installed-app refresh token stored in the state dir (consent {}; scopes {})",
        token
            .consented_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        token.scopes.join(" ")
    );
    println!(
        "If the OAuth client's consent screen is in \"Testing\", this refresh token dies after 7 days: publish the app to keep access."
    );
    Ok(ExitStatus::Done)
}

/// Opens `url` in the desktop's browser where there is one (macOS, or a Linux/BSD session
/// with a display); the URL is printed either way. `SHEETSYNC_NO_BROWSER` turns it off.
/// Failures are ignored: the printed URL and the paste fallback still work.
fn open_in_browser(url: &str) {
    if std::env::var_os("SHEETSYNC_NO_BROWSER").is_some() {
        return;
    }
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if cfg!(unix)
        && (std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some())
    {
        Some("xdg-open")
    } else {
        None
    };
    if let Some(opener) = opener {
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
