use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{ShopifyAuth, ShopifyAuthMethod, ShopifyConfig};
use crate::sandbox::shopify::ShopifyFake;
use crate::sandbox::shopify::oauth::App;
use crate::state::Scope;

const SECRET: &str = "shpss_unit_secret_0123456789";

async fn provider(app: App) -> (ShopifyFake, Arc<ShopifyTokens>, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = ShopifyFake::demo("unused");
    fake.install_app(app);
    let (addr, _) = fake.spawn().await.unwrap();
    let cfg = ShopifyConfig {
        shop: fake.shop_domain(),
        api_version: "2026-07".into(),
        api_base_url: Some(format!("http://{addr}")),
        auth: ShopifyAuth {
            method: ShopifyAuthMethod::ClientCredentials,
            token: None,
            client_id: Some("cid".into()),
            client_secret: Some(Secret::new(SECRET)),
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let scope = Scope::new(&cfg.shop, "sheet", "Inventory");
    let tokens = ShopifyTokens::new(&cfg, dir.path(), scope).unwrap();
    (fake, Arc::new(tokens), dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_wait_for_a_single_mint() {
    let (fake, tokens, _dir) = provider(App::new("cid", SECRET)).await;
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let t = Arc::clone(&tokens);
            tokio::spawn(async move { t.token().await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.unwrap());
    }
    assert_eq!(tokens.mints(), 1);
    assert!(got.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fake.oauth_requests().len(), 1);

    // Sixteen requests all rejected with the same token: one re-mint between them.
    let rejected = got[0].clone();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (t, r) = (Arc::clone(&tokens), rejected.clone());
            tokio::spawn(async move { t.renew(&r).await.unwrap() })
        })
        .collect();
    for h in handles {
        assert!(h.await.unwrap());
    }
    assert_eq!(tokens.mints(), 2);
    assert_ne!(tokens.token().await.unwrap(), rejected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_near_expiry_is_reminted_before_use() {
    let mut app = App::new("cid", SECRET);
    app.token_lifetime = Duration::from_secs(1);
    let (_fake, tokens, _dir) = provider(app).await;
    let first = tokens.token().await.unwrap();
    assert_eq!(tokens.token().await.unwrap(), first, "still fresh");
    tokio::time::sleep(Duration::from_millis(950)).await;
    // Inside the last tenth of its life: renewed without waiting for a 401.
    assert_ne!(tokens.token().await.unwrap(), first);
    assert_eq!(tokens.mints(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_outlives_the_provider_and_never_debug_prints_the_token() {
    let (fake, tokens, dir) = provider(App::new("cid", SECRET)).await;
    let token = tokens.token().await.unwrap();
    let scope = Scope::new(&fake.shop_domain(), "sheet", "Inventory");
    let stored = shopify::peek_stored(dir.path(), &scope).unwrap().unwrap();
    assert_eq!(stored.secret(), token);
    assert_eq!(stored.kind, shopify::TokenKind::ClientCredentials);
    assert!(!format!("{stored:?}").contains(token.expose()));
}

#[test]
fn freshness_keeps_a_tenth_of_the_lifetime_capped_at_ten_minutes() {
    let now = chrono::Utc::now();
    let t = |lifetime: i64, age: i64| StoredToken {
        kind: shopify::TokenKind::ClientCredentials,
        access_token: "x".into(),
        scope: None,
        obtained_at: now - chrono::Duration::seconds(age),
        expires_at: Some(
            now - chrono::Duration::seconds(age) + chrono::Duration::seconds(lifetime),
        ),
        refresh_token: None,
        refresh_expires_at: None,
    };
    assert!(t(86_399, 85_000).is_fresh(now));
    assert!(
        !t(86_399, 86_000).is_fresh(now),
        "renewed in the last 10 minutes"
    );
    assert!(t(100, 89).is_fresh(now));
    assert!(!t(100, 91).is_fresh(now));
    let mut forever = t(1, 5);
    forever.expires_at = None;
    assert!(forever.is_fresh(now));
}
