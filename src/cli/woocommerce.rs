//! What `auth status` and `check` say about a WooCommerce store (SPEC §8): the key (its
//! first 7 characters at most), the permission it was found to have, the WooCommerce
//! version, currency and decimals, cost of goods, and whether `GET /variations` exists.

use super::auth::Line;
use crate::config::Config;
use crate::report::ExitStatus;
use crate::store::StoreError;
use crate::store::woocommerce::WooError;

/// The probe's findings as `auth status` lines; a read-only key is a fix (exit 2).
pub(super) async fn status_lines(config: &Config) -> Vec<Line> {
    let Some(woo) = &config.woocommerce else {
        return Vec::new();
    };
    let client = match crate::engine::woocommerce_client(woo, config, Default::default()) {
        Ok(c) => c,
        Err(e) => return vec![Line::Fix(format!("access:  {e}"), e.fatal().into())],
    };
    let mut out = vec![Line::Ok(format!(
        "key:     {} (consumer key; does not expire: revoked in WooCommerce → Settings → Advanced → REST API)",
        client.key_prefix()
    ))];
    match client.probe().await {
        Ok(p) => {
            out.push(Line::Ok(format!(
                "version: {}",
                p.version
                    .as_deref()
                    .unwrap_or("unknown (the key may not read system status)")
            )));
            out.push(Line::Ok(format!(
                "store:   currency {}, {} decimals",
                p.currency.code, p.currency.decimals
            )));
            out.push(Line::Ok(format!(
                "cost of goods: {}",
                match p.cogs {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "unknown (no product to tell by)",
                }
            )));
            out.push(Line::Ok(format!(
                "variations: {}",
                if p.variations_route {
                    "GET /variations (one paged read for all)"
                } else {
                    "per parent (GET /variations needs WooCommerce 10.3+)"
                }
            )));
            match client.can_write().await {
                Ok(true) => out.push(Line::Ok("permission: read/write".into())),
                Ok(false) => out.push(Line::Fix(
                    format!("permission: read only; {}", WooError::ReadOnlyKey),
                    ExitStatus::Config,
                )),
                Err(e) => out.push(Line::Fix(
                    format!("permission: could not be learnt ({e})"),
                    ExitStatus::RunFailed,
                )),
            }
            if config.sheet.columns.cost.is_some() && p.cogs == Some(false) {
                out.push(Line::Fix(WooError::CogsOff.to_string(), ExitStatus::Config));
            }
        }
        Err(e) => {
            let status = match &e {
                StoreError::WooCommerce(w) if w.is_config() => ExitStatus::Config,
                _ => ExitStatus::RunFailed,
            };
            out.push(Line::Fix(format!("access:  {e}"), status));
        }
    }
    out
}
