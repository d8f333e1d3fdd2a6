//! Unit tests of `auth` against the local Shopify fake: one mint for concurrent
//! requests, re-minting before expiry, a token that never reaches `Debug` output, and the
//! OAuth install flow.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{ShopifyAuth, ShopifyAuthMethod, ShopifyConfig};
use crate::state::Scope;
use sheetsync_sandbox::shopify::ShopifyFake;
use sheetsync_sandbox::shopify::oauth::App;

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
    let tokens = ShopifyTokens::new(&cfg, dir.path(), scope, false).unwrap();
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
    app.token_lifetime = Duration::from_secs(100);
    let (_fake, tokens, _dir) = provider(app).await;
    let first = tokens.token().await.unwrap();
    assert_eq!(tokens.token().await.unwrap(), first, "still fresh");
    // The provider's clock, not the wall's, moves: the test holds on a loaded machine.
    tokens.advance_clock(Duration::from_secs(89));
    assert_eq!(
        tokens.token().await.unwrap(),
        first,
        "89 of 100 s: still fresh"
    );
    tokens.advance_clock(Duration::from_secs(2));
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
        access_token: Secret::new("x"),
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

mod oauth_install {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::oauth::{self, CallbackError};
    use crate::auth::shopify::{OauthEndpoint, TokenKind, store_token};
    use sheetsync_sandbox::shopify::oauth::sign;

    /// Shopify's documented example callback (secret `hush`): the hmac is checked against
    /// a value computed elsewhere, not against our own signer.
    #[test]
    fn the_callback_hmac_matches_shopifys_documented_example() {
        let query = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";
        let verify = |q: &str| {
            oauth::verify_callback(
                q,
                &Secret::new("hush"),
                "0.6784241404160823",
                "some-shop.myshopify.com",
                1_337_178_173,
            )
        };
        assert_eq!(verify(query).unwrap(), "0907a61c0c8d55e99db179b68161bc00");
        let altered = query.replace("code=0907", "code=1907");
        assert!(matches!(verify(&altered), Err(CallbackError::Hmac)));
        let short = query.replace("hmac=700e", "hmac=");
        assert!(matches!(verify(&short), Err(CallbackError::Hmac)));
        let mut params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        params.remove("hmac");
        assert!(query.contains(&format!("hmac={}", sign("hush", &params))));
    }

    /// The state nonce comes from the OS, not from fastrand: reseeding fastrand the same
    /// way twice must not give the same nonce (a seeded generator's output can be
    /// predicted; a forged callback would then pass the state check).
    #[test]
    fn the_state_nonce_does_not_follow_a_seeded_generator() {
        fastrand::seed(7);
        let a = oauth::nonce().unwrap();
        fastrand::seed(7);
        let b = oauth::nonce().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }

    struct Setup {
        fake: ShopifyFake,
        cfg: ShopifyConfig,
        endpoint: OauthEndpoint,
        dir: tempfile::TempDir,
        scope: Scope,
    }

    async fn setup(app: App) -> Setup {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = ShopifyFake::demo("unused");
        fake.install_app(app);
        let (addr, _) = fake.spawn().await.unwrap();
        let cfg = ShopifyConfig {
            shop: fake.shop_domain(),
            api_version: "2026-07".into(),
            api_base_url: Some(format!("http://{addr}")),
            auth: ShopifyAuth {
                method: ShopifyAuthMethod::Oauth,
                token: None,
                client_id: Some("cid".into()),
                client_secret: Some(Secret::new(SECRET)),
            },
        };
        let endpoint = OauthEndpoint::new(&cfg).unwrap();
        let scope = Scope::new(&cfg.shop, "sheet", "Inventory");
        Setup {
            fake,
            cfg,
            endpoint,
            dir: tempfile::tempdir().unwrap(),
            scope,
        }
    }

    /// Follows the authorize URL as an approving merchant would: the callback query.
    async fn approve(s: &Setup, state: &str) -> String {
        let url = oauth::authorize_url(
            &s.endpoint,
            "cid",
            &["write_products"],
            &oauth::redirect_uri(oauth::DEFAULT_PORT),
            state,
        );
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&oauth::redirect_uri(oauth::DEFAULT_PORT)));
        oauth::query_of(&location)
    }

    type Check = fn(&CallbackError) -> bool;

    fn exchanges(s: &Setup) -> usize {
        s.fake
            .oauth_requests()
            .iter()
            .filter(|r| r.grant_type == "authorization_code")
            .count()
    }

    fn signed(params: &[(&str, String)]) -> String {
        let map: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &map {
            ser.append_pair(k, v);
        }
        ser.append_pair("hmac", &sign(SECRET, &map));
        ser.finish()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tampered_wrong_state_other_shop_and_stale_callbacks_are_refused_unexchanged() {
        let s = setup(App::new("cid", SECRET)).await;
        let good = approve(&s, "nonce-1").await;
        let now = chrono::Utc::now().timestamp();
        let code = oauth::verify_callback(&good, &Secret::new(SECRET), "nonce-1", &s.cfg.shop, now)
            .unwrap();

        let tampered = good.replace(&format!("code={code}"), "code=0000");
        let other_shop = signed(&[
            ("code", code.clone()),
            ("shop", "evil-shop.myshopify.com".into()),
            ("state", "nonce-1".into()),
            ("timestamp", now.to_string()),
        ]);
        let stale = signed(&[
            ("code", code.clone()),
            ("shop", s.cfg.shop.clone()),
            ("state", "nonce-1".into()),
            ("timestamp", (now - 301).to_string()),
        ]);
        let secret = Secret::new(SECRET);
        let cases: [(&str, &str, Check); 4] = [
            (&tampered, "nonce-1", |e| matches!(e, CallbackError::Hmac)),
            (&good, "nonce-2", |e| matches!(e, CallbackError::State)),
            (&other_shop, "nonce-1", |e| {
                matches!(e, CallbackError::Shop { .. })
            }),
            (&stale, "nonce-1", |e| {
                matches!(e, CallbackError::Stale { .. })
            }),
        ];
        for (query, state, is) in cases {
            let err = oauth::complete(&s.endpoint, "cid", &secret, query, state)
                .await
                .unwrap_err();
            assert!(is(&err), "{err}");
        }
        assert_eq!(exchanges(&s), 0, "no code was exchanged");

        // The untouched callback is accepted and exchanged once.
        let token = oauth::complete(&s.endpoint, "cid", &secret, &good, "nonce-1")
            .await
            .unwrap();
        assert_eq!(token.kind, TokenKind::ExpiringOffline);
        assert_eq!(exchanges(&s), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_rotated_refresh_token_survives_a_restart() {
        let mut app = App::new("cid", SECRET);
        app.offline_lifetime = Duration::from_secs(100);
        let s = setup(app).await;
        let secret = Secret::new(SECRET);
        let query = approve(&s, "n").await;
        let first = oauth::complete(&s.endpoint, "cid", &secret, &query, "n")
            .await
            .unwrap();
        store_token(s.dir.path(), &s.scope, &first).unwrap();

        let refreshed = {
            let tokens = ShopifyTokens::new(&s.cfg, s.dir.path(), s.scope.clone(), false).unwrap();
            tokens.advance_clock(Duration::from_secs(95));
            let t = tokens.token().await.unwrap();
            assert_ne!(t, first.access_token);
            assert_eq!(tokens.mints(), 1);
            shopify::peek_stored(s.dir.path(), &s.scope)
                .unwrap()
                .unwrap()
        };
        assert_ne!(refreshed.refresh_token, first.refresh_token, "rotated");

        // A new process: only the rotated refresh token works now (the old one is spent).
        let tokens = ShopifyTokens::new(&s.cfg, s.dir.path(), s.scope.clone(), false).unwrap();
        // The refreshed token was obtained by the wall's clock; 95 s past it is stale.
        tokens.advance_clock(Duration::from_secs(95));
        let t = tokens.token().await.unwrap();
        assert_ne!(t, refreshed.access_token);
        let refresh_grants: Vec<_> = s
            .fake
            .oauth_requests()
            .into_iter()
            .filter(|r| r.grant_type == "refresh_token")
            .collect();
        assert_eq!(refresh_grants.len(), 2);
        assert!(refresh_grants.iter().all(|r| r.status == 200));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_dead_refresh_token_says_to_run_auth_shopify_again() {
        let s = setup(App::new("cid", SECRET)).await;
        let dead = StoredToken {
            kind: TokenKind::ExpiringOffline,
            access_token: Secret::new("shpat_old"),
            scope: None,
            obtained_at: chrono::Utc::now() - chrono::Duration::hours(2),
            expires_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
            refresh_token: Some(Secret::new("shprt_revoked")),
            refresh_expires_at: None,
        };
        store_token(s.dir.path(), &s.scope, &dead).unwrap();
        let tokens = ShopifyTokens::new(&s.cfg, s.dir.path(), s.scope.clone(), false).unwrap();
        let err = tokens.token().await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidGrant), "{err}");
        assert!(err.to_string().contains("sheetsync auth shopify"));
    }
}
