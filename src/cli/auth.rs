//! `sheetsync auth …`: `status` says, per side, which credential is used, its kind, when
//! it expires, granted against needed scopes, and what to do about anything that would
//! fail. Secrets are shown as a short prefix at most.

use super::{Cli, Failure};
use crate::auth::shopify::{TokenKind, peek_stored};
use crate::config::{Config, GoogleMethod, ShopifyAuthMethod};
use crate::report::ExitStatus;
use crate::state::Scope;
use crate::store::shopify::{ShopifyClient, StoreError};

/// One finding: `Ok` lines inform, `Fix` lines say what to do.
enum Line {
    Ok(String),
    Fix(String, ExitStatus),
}

/// What `auth status` and `check` print about the Shopify credential, without a request.
fn shopify_credential(config: &Config) -> Vec<Line> {
    let auth = &config.shopify.auth;
    let scope = Scope::new(
        &config.shopify.shop,
        &config.sheet.spreadsheet_id,
        &config.sheet.tab,
    );
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
    let store = match crate::engine::shopify_client(config, true) {
        Ok(s) => s,
        Err(e) => {
            let status = match e.fatal() {
                crate::report::Fatal::Config => ExitStatus::Config,
                crate::report::Fatal::Run => ExitStatus::RunFailed,
            };
            return vec![Line::Fix(format!("access:  {e}"), status)];
        }
    };
    match store.shop_info().await {
        Ok(info) => {
            let needed = ShopifyClient::required_scopes();
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

/// The Google credential, and a read proving the sheet is shared with it.
async fn google(config: &Config) -> Vec<Line> {
    let g = &config.google;
    let mut out = Vec::new();
    match (g.method, &g.credentials) {
        (GoogleMethod::ServiceAccount, Some(path)) => {
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
                "token:   one-hour access tokens signed with the key; the key does not expire unless rotated or disabled".into(),
            ));
            out.push(Line::Ok(
                "scopes:  needed spreadsheets (+ drive.metadata.readonly for watch)".into(),
            ));
            match crate::sheet::google::SheetsClient::service_account(path, &config.sheet.api_base_url)
                .await
            {
                Ok(client) => match client
                    .header_rows(&config.sheet.spreadsheet_id, &config.sheet.tab, 1)
                    .await
                {
                    Ok(_) => out.push(Line::Ok("sheet:   readable with this credential".into())),
                    Err(e) => out.push(Line::Fix(
                        format!(
                            "sheet:   {e}{}",
                            email
                                .as_deref()
                                .map(|e| format!("; share the sheet with {e}"))
                                .unwrap_or_default()
                        ),
                        ExitStatus::Config,
                    )),
                },
                Err(e) => out.push(Line::Fix(
                    format!(
                        "key:     {e}; if your organisation forbids service-account keys (the default for new Google Cloud organisations), use google.method = \"installed\""
                    ),
                    ExitStatus::Config,
                )),
            }
        }
        (GoogleMethod::ServiceAccount, None) => out.push(Line::Fix(
            "method:  service account, but google.credentials is not set".into(),
            ExitStatus::Config,
        )),
        (GoogleMethod::Installed, _) => out.push(Line::Fix(
            "method:  installed-app OAuth is not supported by this build yet; use a service-account key (google.credentials)".into(),
            ExitStatus::Config,
        )),
    }
    out
}

fn print(title: &str, lines: &[Line], worst: &mut ExitStatus) {
    println!("{title}");
    for line in lines {
        match line {
            Line::Ok(t) => println!("  {t}"),
            Line::Fix(t, status) => {
                println!("  ✗ {t}");
                if worst.code() == 0 || status.code() == 2 {
                    *worst = *status;
                }
            }
        }
    }
}

/// `auth status`: exit 0 when both sides would work, 2 for a config or scope problem, 1
/// when a side could not be reached.
pub async fn status(cli: &Cli) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let mut worst = ExitStatus::Done;
    let mut shopify = shopify_credential(&config);
    shopify.extend(shopify_scopes(&config).await);
    print(
        &format!("Shopify ({})", config.shopify.shop),
        &shopify,
        &mut worst,
    );
    print("Google", &google(&config).await, &mut worst);
    Ok(worst)
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
    let method = method.unwrap_or(config.shopify.auth.method);
    let scope = Scope::new(
        &config.shopify.shop,
        &config.sheet.spreadsheet_id,
        &config.sheet.tab,
    );
    let auth = &config.shopify.auth;
    if method == ShopifyAuthMethod::Token {
        println!(
            "method token: paste the custom app's Admin API token (shpat_…) into shopify.auth.token, or token = \"${{SHOPIFY_ACCESS_TOKEN}}\". Custom apps can no longer be created in the Shopify admin since 2026-01-01; new apps use client_credentials or oauth."
        );
        return status(cli).await;
    }
    let (Some(client_id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
        return Err(Failure::config(anyhow::anyhow!(
            "shopify.auth.client_id and client_secret are required for {method:?}: copy them from the app's settings in the Dev Dashboard"
        )));
    };
    let endpoint =
        crate::auth::shopify::OauthEndpoint::new(&config.shopify).map_err(Failure::config)?;
    if method == ShopifyAuthMethod::ClientCredentials {
        let mut cfg = config.shopify.clone();
        cfg.auth.method = ShopifyAuthMethod::ClientCredentials;
        let tokens =
            crate::auth::shopify::ShopifyTokens::new(&cfg, &config.sync.state_dir, scope, false)
                .map_err(Failure::config)?;
        use crate::auth::TokenProvider;
        tokens.token().await.map_err(Failure::run)?;
        println!(
            "client credentials: ok; a 24-hour token is cached in the state dir and re-minted automatically"
        );
        return status(cli).await;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            Failure::config(anyhow::anyhow!(
                "cannot listen on 127.0.0.1:{port} for Shopify's callback ({e}); pick another with --port and register its redirect URL with the app"
            ))
        })?;
    let redirect = oauth::redirect_uri(listener.local_addr().map_or(port, |a| a.port()));
    let state = oauth::nonce();
    let url = oauth::authorize_url(
        &endpoint,
        client_id,
        ShopifyClient::required_scopes(),
        &redirect,
        &state,
    );
    println!("Open this URL, sign in to the store and approve the app:\n\n  {url}\n");
    println!(
        "Shopify then redirects to {redirect} (register it as an allowed redirection URL of the app).\nIf this machine has no browser, open the URL elsewhere and paste here the full URL the browser ended on."
    );
    let query = oauth::wait_for_callback(listener)
        .await
        .map_err(Failure::run)?;
    let token = oauth::complete(&endpoint, client_id, secret, &query, &state)
        .await
        .map_err(Failure::run)?;
    crate::auth::shopify::store_token(&config.sync.state_dir, &scope, &token)
        .map_err(Failure::run)?;
    println!("Shopify: {} stored in the state dir", token.kind.describe());
    Ok(ExitStatus::Done)
}
