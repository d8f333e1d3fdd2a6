//! `serve` end to end against the sandbox: signed notifications (good, bad, missing,
//! stale either way, replayed, for another sheet or tab), a burst folded into one sync,
//! the Apps Script's own body and signature accepted, the access rules (a non-loopback
//! address needs the token, the bearer guards metrics but not hooks or health, a missing
//! hook secret breaks `serve` only), the metrics' format and their movement after runs,
//! and `/healthz` turning 503 while Google fails and 200 again (in-process, on a
//! hand-moved clock, so nothing waits out the threshold).
//!
//! The polling fallback is set to an hour in the hook tests, so only a notification can
//! make the changed-rows sync that the tests wait for.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::LogTail;
use serde_json::json;
use sheetsync_sandbox::Sandbox;

const TAB: &str = "Inventory";
const SECRET: &str = "serve-test-hook-secret-0123456789";
const TOKEN: &str = "serve-test-bearer-token-0123456789";

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// The demo sandbox, its bad cells emptied, a baseline settled, and `[serve]` with
    /// the hook secret from `SHEETSYNC_HOOK_SECRET` (plus `serve_extra`).
    async fn ready(serve_extra: &str) -> Env {
        let sandbox = Sandbox::demo(0).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sandbox.write_config(dir.path(), "").expect("config");
        let mut text = std::fs::read_to_string(&config).expect("config text");
        text.push_str(&format!(
            "\n[serve]\nhook_secret = \"${{SHEETSYNC_HOOK_SECRET}}\"\n{serve_extra}\n"
        ));
        std::fs::write(&config, text).expect("write config");
        sandbox.fix_demo_sheet();
        let env = Env {
            sandbox,
            _dir: dir,
            config,
        };
        let (code, _, stderr) =
            common::run_sheetsync(&env.config, &["sync", "--adopt", "sheet"]).await;
        assert_eq!(code, 0, "{stderr}");
        env
    }

    fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .args(args)
            .env("SHEETSYNC_HOOK_SECRET", SECRET)
            .env("SHEETSYNC_LOG", "sheetsync=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serve")
    }

    /// `serve` on a free loopback port, its first (full) sync done.
    async fn serve(&self) -> Served {
        let mut child = self.spawn(&[
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1h",
            "--full-every",
            "1h",
        ]);
        let log = LogTail::of(&mut child);
        log.wait_for("listening on http://", 1).await;
        let text = log.text();
        let base = text
            .lines()
            .find_map(|l| l.split("listening on ").nth(1))
            .expect("address")
            .trim()
            .to_owned();
        log.wait_for("tick: full sync", 1).await;
        Served {
            child,
            log,
            base,
            http: client(),
        }
    }

    fn set(&self, a1: &str, v: serde_json::Value) {
        assert!(self.sandbox.sheets.set_cell(TAB, a1, v), "{a1}");
    }

    fn price(&self, sku: &str) -> f64 {
        let p = self.sandbox.shopify.variant(sku).expect("variant").price;
        p.to_string().parse().expect("price")
    }

    fn spreadsheet_id(&self) -> String {
        self.sandbox.sheets.spreadsheet_id()
    }

    /// Drive change checks (`files.get`) the fake has served so far: one per tick.
    fn drive_checks(&self) -> usize {
        self.sandbox
            .sheets
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/drive/v3/files/"))
            .count()
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

struct Served {
    child: tokio::process::Child,
    log: LogTail,
    base: String,
    http: reqwest::Client,
}

impl Served {
    /// POSTs `body` to the hook with `signature` as `X-Sheetsync-Signature`.
    async fn post(&self, body: &str, signature: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}/hooks/sheet", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("X-Sheetsync-Signature", s);
        }
        let resp = req.send().await.expect("post");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    async fn signed(&self, body: &str) -> (u16, String) {
        self.post(body, Some(&signature(SECRET, body))).await
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("get");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// SIGTERM; the exit code and the whole log.
    async fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().expect("pid").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("serve stops after SIGTERM")
            .expect("wait");
        (status.code(), self.log.finish().await)
    }
}

/// The body exactly as the Apps Script builds it: `JSON.stringify` of the three keys in
/// this order, no spaces, and `Date.toISOString()` (milliseconds, `Z`).
fn script_body(spreadsheet_id: &str, tab: &str, sent_at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{{\"spreadsheet_id\":{},\"tab\":{},\"sent_at\":\"{}\"}}",
        json!(spreadsheet_id),
        json!(tab),
        sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of the body, as the script writes it.
fn signature(secret: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn eventually(secs: u64, what: &str, check: impl FnMut() -> bool) {
    common::wait_until(Duration::from_secs(secs), what, check).await;
}

#[test]
fn the_script_builds_and_signs_the_body_as_these_tests_do() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("apps-script/sheetsync.gs"),
    )
    .expect("apps-script/sheetsync.gs");
    for needle in [
        "JSON.stringify({ spreadsheet_id: spreadsheetId, tab: tab, sent_at: date.toISOString() })",
        "Utilities.computeHmacSha256Signature(body, secret, Utilities.Charset.UTF_8)",
        "('0' + (b & 0xff).toString(16)).slice(-2)",
        "'X-Sheetsync-Signature': 'sha256=' + sheetsyncSign_(body, secret)",
        "PropertiesService.getScriptProperties()",
        "payload: body,",
    ] {
        assert!(script.contains(needle), "the script no longer has {needle}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_signed_notifications_makes_one_sync_that_carries_the_edits() {
    let env = Env::ready("").await;
    let served = env.serve().await;
    let checks_before = env.drive_checks();
    env.set("C2", json!(21.5));
    env.set("C3", json!(22.5));
    let id = env.spreadsheet_id();
    let now = chrono::Utc::now();
    // Five notices of the two edits, each with its own millisecond, sent at once.
    let bodies: Vec<String> = (0..5)
        .map(|i| script_body(&id, TAB, now + chrono::TimeDelta::milliseconds(i)))
        .collect();
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all(bodies.iter().map(|b| served.signed(b))).await;
    let burst = started.elapsed();
    for (status, body) in &answers {
        assert_eq!(*status, 202, "{body}");
        assert!(body.contains("accepted"), "{body}");
    }
    eventually(10, "the notified edits to reach the store", || {
        env.price("TEE-RED-S") == 21.5 && env.price("TEE-RED-M") == 22.5
    })
    .await;
    served.log.wait_for("row(s) changed", 1).await;

    // A last notice, once the burst's sync is done: it makes its own tick, after which
    // every tick the burst caused has been logged.
    let last = script_body(&id, TAB, chrono::Utc::now());
    assert_eq!(served.signed(&last).await.0, 202);
    served.log.wait_for("notification(s)]", 2).await;
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
    let ticks: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("notification(s)]"))
        .collect();
    let carried: usize = ticks
        .iter()
        .filter_map(|l| l.rsplit('[').next())
        .filter_map(|t| t.split(' ').next())
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    assert_eq!(carried, 6, "every notice rides one tick: {log}");
    assert!(
        ticks[0].contains("2 row(s) changed (TEE-RED-M, TEE-RED-S)"),
        "{log}"
    );
    if burst < Duration::from_millis(900) {
        // All five were queued within the one-second fold: one sync carried them.
        assert_eq!(
            ticks.len(),
            2,
            "one sync for the burst, one for the last: {log}"
        );
        assert!(ticks[0].ends_with("[5 notification(s)]"), "{log}");
        // The fake saw as much: one Drive check per tick, two ticks.
        assert_eq!(env.drive_checks() - checks_before, 2);
    } else {
        eprintln!("the burst took {burst:?} to send on this machine: fold count not checked");
    }
    assert!(log.contains("Watch stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_notifications_run_nothing_and_say_why() {
    let env = Env::ready("").await;
    let served = env.serve().await;
    env.set("C2", json!(23.5));
    let id = env.spreadsheet_id();
    let now = chrono::Utc::now();
    let good = script_body(&id, TAB, now);

    let cases: Vec<(&str, String, Option<String>, u16)> = vec![
        ("no signature", good.clone(), None, 401),
        (
            "malformed signature",
            good.clone(),
            Some("sha256=xyz".into()),
            401,
        ),
        (
            "another secret",
            good.clone(),
            Some(signature("another-secret-of-some-length", &good)),
            401,
        ),
        (
            "a body that is not the one signed",
            good.replace(TAB, "Inventorx"),
            Some(signature(SECRET, &good)),
            401,
        ),
        (
            "six minutes old",
            script_body(&id, TAB, now - chrono::TimeDelta::minutes(6)),
            None,
            401,
        ),
        (
            "six minutes ahead",
            script_body(&id, TAB, now + chrono::TimeDelta::minutes(6)),
            None,
            401,
        ),
    ];
    for (what, body, sig, want) in cases {
        let sig = sig.unwrap_or_else(|| signature(SECRET, &body));
        let sig = (what != "no signature").then_some(sig);
        let (status, text) = served.post(&body, sig.as_deref()).await;
        assert_eq!(status, want, "{what}: {text}");
        assert!(text.contains("error"), "{what}: {text}");
    }
    // Signed and fresh, but for another spreadsheet or tab: taken and ignored.
    for body in [
        script_body("1AnotherSpreadsheet", TAB, now),
        script_body(&id, "Archive", now),
    ] {
        let (status, text) = served.signed(&body).await;
        assert_eq!((status, text.contains("ignored")), (202, true), "{text}");
    }
    // Too big a body is refused before anything looks at it.
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
    assert_eq!(served.signed(&huge).await.0, 413);
    assert!(env.price("TEE-RED-S") != 23.5, "nothing synced yet");

    // The good one is taken once; its copy is refused as a replay.
    assert_eq!(served.signed(&good).await.0, 202);
    let (status, text) = served.signed(&good).await;
    assert_eq!(status, 409, "{text}");
    eventually(10, "the edit to reach the store", || {
        env.price("TEE-RED-S") == 23.5
    })
    .await;
    served.log.wait_for("notification(s)]", 1).await;
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
    // Only the accepted notice reached the loop: one tick, carrying one.
    let ticks: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("notification(s)]"))
        .collect();
    assert_eq!(ticks.len(), 1, "{log}");
    assert!(ticks[0].ends_with("[1 notification(s)]"), "{log}");
    assert!(!log.contains(SECRET), "the secret never reaches the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_address_needs_the_token_and_sync_needs_no_hook_secret() {
    let env = Env::ready("").await;
    let (code, _, stderr) = common::run_sheetsync_env(
        &env.config,
        &["serve", "--listen", "0.0.0.0:0"],
        &[("SHEETSYNC_HOOK_SECRET", SECRET)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("serve.token"), "{stderr}");

    // Without the variable `serve` names it; `sync` does not need it.
    let (code, _, stderr) =
        common::run_sheetsync(&env.config, &["serve", "--listen", "127.0.0.1:0"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SHEETSYNC_HOOK_SECRET"), "{stderr}");
    let (code, _, stderr) = common::run_sheetsync(&env.config, &["sync", "--dry-run"]).await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_metrics_need_the_bearer_but_hooks_and_health_do_not() {
    let env = Env::ready(&format!("token = \"{TOKEN}\"")).await;
    let served = env.serve().await;
    assert_eq!(served.get("/metrics", None).await.0, 401);
    assert_eq!(served.get("/metrics", Some("not-the-token")).await.0, 401);
    assert_eq!(
        served.get("/metrics", Some(&format!("{TOKEN}x"))).await.0,
        401
    );
    let (status, metrics) = served.get("/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(served.get("/healthz", None).await.0, 200);
    let body = script_body(&env.spreadsheet_id(), TAB, chrono::Utc::now());
    assert_eq!(served.signed(&body).await.0, 202);
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains(TOKEN), "the token never reaches the log");
}

/// The status page through the real `serve`: a notified edit with a bad cell shows on
/// `/` with its cell; with `serve.token` set the page wants the bearer, like `/metrics`.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_a_notified_runs_bad_cell_behind_the_bearer() {
    let env = Env::ready(&format!("token = \"{TOKEN}\"")).await;
    let served = env.serve().await;
    let (status, _) = served.get("/", None).await;
    assert_eq!(status, 401, "the page wants the bearer when a token is set");
    assert_eq!(served.get("/", Some("not-the-token")).await.0, 401);
    let (status, page) = served.get("/", Some(TOKEN)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No row errors"), "{page}");

    env.set("C14", json!("twelve"));
    let body = script_body(&env.spreadsheet_id(), TAB, chrono::Utc::now());
    assert_eq!(served.signed(&body).await.0, 202);
    served.log.wait_for("notification(s)]", 1).await;
    let (status, page) = served.get("/", Some(TOKEN)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    let errors = page
        .split("id=\"errors\"")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_default();
    assert!(errors.contains(">Inventory!C14</a>"), "{page}");
    assert!(errors.contains("twelve"), "{errors}");
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains(TOKEN), "the token never reaches the log");
}

/// A browser signs in: `GET /login` is a form, `POST /login` with the token sets an
/// `HttpOnly; SameSite=Strict` cookie derived from the token (no `Secure` on loopback),
/// and that cookie opens the page and `/metrics` like the bearer; a wrong token sets
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_signs_in_with_the_token_and_its_cookie_opens_the_page() {
    let env = Env::ready(&format!("token = \"{TOKEN}\"")).await;
    let served = env.serve().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let url = |path: &str| format!("{}{path}", served.base);

    // A browser without the cookie gets its 401 with a way to sign in.
    let resp = http
        .get(url("/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 401);
    assert!(
        resp.text()
            .await
            .unwrap_or_default()
            .contains("href=\"/login\"")
    );

    let resp = http.get(url("/login")).send().await.expect("login form");
    assert_eq!(resp.status(), 200);
    let form = resp.text().await.unwrap_or_default();
    assert!(
        form.contains("<form method=\"post\" action=\"/login\">"),
        "{form}"
    );
    assert!(form.contains("type=\"password\""), "{form}");

    let post = |token: &str| {
        // What a browser's form sends (the tokens here need no escaping).
        http.post(url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = post("not-the-token-at-all").await.expect("post");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(
        wrong
            .text()
            .await
            .unwrap_or_default()
            .contains("not the token")
    );

    let right = post(TOKEN).await.expect("post");
    assert_eq!(right.status(), 303);
    assert_eq!(
        right
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/")
    );
    let set = right
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    assert!(set.starts_with("sheetsync_session="), "{set}");
    assert!(
        set.contains("; HttpOnly") && set.contains("; SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "loopback is plain HTTP: {set}");
    assert!(!set.contains(TOKEN), "the cookie is not the token: {set}");
    let cookie = set.split(';').next().expect("pair").to_owned();
    // Behind a TLS proxy (it says so in `X-Forwarded-Proto`), the cookie is `Secure`.
    let proxied = http
        .post(url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .expect("post");
    assert_eq!(proxied.status(), 303);
    let secure = proxied
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(secure.ends_with("; Secure"), "{secure}");

    let with_cookie = |path: &str, cookie: &str| {
        http.get(url(path))
            .header("cookie", cookie.to_owned())
            .send()
    };
    let page = with_cookie("/", &cookie).await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("id=\"watch\"")
    );
    assert_eq!(
        with_cookie("/metrics", &cookie).await.expect("m").status(),
        200
    );
    let forged = format!("{cookie}0");
    assert_eq!(with_cookie("/", &forged).await.expect("page").status(), 401);
    let token_as_cookie = format!("sheetsync_session={TOKEN}");
    assert_eq!(
        with_cookie("/", &token_as_cookie)
            .await
            .expect("page")
            .status(),
        401
    );
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains(TOKEN), "the token never reaches the log");
}

/// `check` validates `[serve]` when the config has one, as `serve` would (an unset
/// `${VAR}` named, a short token), and says so when it is fine; `sync` never asks.
#[tokio::test(flavor = "multi_thread")]
async fn check_validates_the_serve_section_when_present() {
    let env = Env::ready("token = \"short\"").await;
    let (code, _, stderr) = common::run_sheetsync(&env.config, &["check"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SHEETSYNC_HOOK_SECRET"), "{stderr}");
    let with_secret = [("SHEETSYNC_HOOK_SECRET", SECRET)];
    let (code, _, stderr) = common::run_sheetsync_env(&env.config, &["check"], &with_secret).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("serve.token is shorter than 16"),
        "{stderr}"
    );
    let short_secret = [("SHEETSYNC_HOOK_SECRET", "0123")];
    let (code, _, stderr) = common::run_sheetsync_env(&env.config, &["check"], &short_secret).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("serve.hook_secret is shorter"), "{stderr}");
    assert!(
        !stderr.contains("0123"),
        "the secret is never shown: {stderr}"
    );
    let (code, _, stderr) = common::run_sheetsync(&env.config, &["sync", "--dry-run"]).await;
    assert_eq!(code, 0, "{stderr}");

    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        text.replace("\"short\"", &format!("\"{TOKEN}\"")),
    )
    .expect("write");
    let (code, stdout, stderr) =
        common::run_sheetsync_env(&env.config, &["check"], &with_secret).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("serve:       hook secret set, token set"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(TOKEN) && !stdout.contains(SECRET),
        "{stdout}"
    );
}

/// Every line of a Prometheus text exposition: `# HELP`/`# TYPE` comments or
/// `name{labels} value`; returns the samples as (name with labels, value).
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP sheetsync_") || comment.starts_with("TYPE sheetsync_"),
                "unexpected comment: {line}"
            );
            if let Some(t) = comment.strip_prefix("TYPE ") {
                let kind = t.rsplit(' ').next().unwrap_or_default();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
            }
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        samples.push((series.to_owned(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{series} not exposed"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_move_after_a_notified_edit() {
    let env = Env::ready("").await;
    let served = env.serve().await;
    let (status, text) = served.get("/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    let before = parse_exposition(&text);
    for name in [
        "sheetsync_runs_total{exit_code=\"0\"}",
        "sheetsync_changes_total{status=\"applied\"}",
        "sheetsync_conflicts",
        "sheetsync_row_errors",
        "sheetsync_throttled_requests_total",
        "sheetsync_edit_to_store_seconds_count",
        "sheetsync_last_success_timestamp_seconds",
    ] {
        sample(&before, name);
    }
    // The first full sync ran and ended 0.
    assert_eq!(
        sample(&before, "sheetsync_runs_total{exit_code=\"0\"}"),
        1.0
    );
    assert!(sample(&before, "sheetsync_last_success_timestamp_seconds") > 1.7e9);
    assert_eq!(
        sample(&before, "sheetsync_edit_to_store_seconds_count"),
        0.0
    );

    assert_eq!(sample(&before, "sheetsync_throttled_requests_total"), 0.0);

    // Google refuses the tick's first Sheets read with its quota 429 (retried).
    use sheetsync_sandbox::sheets::{BeforeCall, Call, SheetsFake};
    env.sandbox.sheets.before_call(
        Call::BatchGet,
        1,
        BeforeCall::Fail(429, SheetsFake::quota_exceeded_body(false)),
    );
    env.set("C2", json!(24.5));
    let body = script_body(&env.spreadsheet_id(), TAB, chrono::Utc::now());
    assert_eq!(served.signed(&body).await.0, 202);
    served.log.wait_for("notification(s)]", 1).await;
    let (_, text) = served.get("/metrics", None).await;
    let after = parse_exposition(&text);
    assert_eq!(sample(&after, "sheetsync_runs_total{exit_code=\"0\"}"), 2.0);
    assert!(
        sample(&after, "sheetsync_changes_total{status=\"applied\"}")
            > sample(&before, "sheetsync_changes_total{status=\"applied\"}")
    );
    assert_eq!(sample(&after, "sheetsync_edit_to_store_seconds_count"), 1.0);
    let latency = sample(&after, "sheetsync_edit_to_store_seconds_sum");
    assert!((0.0..10.0).contains(&latency), "{latency}");
    assert_eq!(
        sample(
            &after,
            "sheetsync_edit_to_store_seconds_bucket{le=\"+Inf\"}"
        ),
        1.0
    );
    assert_eq!(sample(&after, "sheetsync_throttled_requests_total"), 1.0);
    // The store reported its bucket on every answer.
    assert!(sample(&after, "sheetsync_rate_limit_points_available") > 0.0);
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_503_while_google_fails_and_200_after_the_next_success() {
    use sheetsync::serve::health::ManualClock;
    use sheetsync::serve::{ServeContext, access::Bearer};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::ready("").await;
    let config = sheetsync::config::Config::load(&env.config, &|name| {
        (name == "SHEETSYNC_HOOK_SECRET").then(|| SECRET.to_owned())
    })
    .expect("config");
    let fast = sheetsync::http::RetryPolicy::fast();
    let mut engine = sheetsync::engine::Engine::connect(config.clone())
        .await
        .expect("engine")
        .with_retry(fast)
        .expect("retry");
    let interval = Duration::from_millis(100);
    let clock = std::sync::Arc::new(ManualClock::default());
    let ctx = ServeContext::new(config, interval, clock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = sheetsync::schedule::Shutdown::default();
    let opts = sheetsync::schedule::WatchOptions {
        interval,
        full_every: Duration::from_secs(3600),
        max_backoff: interval,
        retry: fast,
        ..Default::default()
    };
    let task = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tokio::spawn(async move {
            sheetsync::serve::run(
                &mut engine,
                &ctx,
                &opts,
                listener,
                Bearer::new(None).expect("bearer"),
                &shutdown,
            )
            .await
        })
    };
    let http = client();
    let health = || async {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz")
            .status()
            .as_u16()
    };
    // The page's Watch section: its badge and its last error.
    let page_watch = || async {
        let page = http
            .get(format!("{base}/"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("page text");
        page.split("id=\"watch\"")
            .nth(1)
            .and_then(|s| s.split("</section>").next())
            .unwrap_or_default()
            .to_owned()
    };
    eventually(20, "the first sync", || {
        ctx.health.report().last_success.is_some()
    })
    .await;
    assert_eq!(health().await, 200);
    let watch = page_watch().await;
    assert!(watch.contains("badge ok"), "{watch}");
    assert!(!watch.contains("Last error"), "{watch}");

    // Google (Sheets and Drive) answers 503 to everything, retries included.
    env.sandbox
        .sheets
        .faults()
        .set(sheetsync_sandbox::faults::FaultPlan {
            server_errors: 1.0,
            ..Default::default()
        });
    eventually(20, "a failed tick", || {
        ctx.health.report().failing_for.is_some()
    })
    .await;
    // Failing, but not yet for a minute (the floor of the threshold): still healthy.
    assert_eq!(health().await, 200);
    assert!(page_watch().await.contains("badge ok"));
    clock.advance(Duration::from_secs(61));
    assert_eq!(health().await, 503);
    // The page says the same at once, without waiting for another failed tick.
    let watch = page_watch().await;
    assert!(watch.contains("badge bad"), "{watch}");
    assert!(watch.contains("Last error"), "{watch}");
    let report = ctx.health.report();
    assert!(!report.healthy);
    assert!(report.last_error.is_some());

    env.sandbox.sheets.faults().clear();
    // Polled: the next tick comes after the backoff; the bound only fails a stuck loop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while health().await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not healthy again within 30 s after Google recovered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let watch = page_watch().await;
    assert!(watch.contains("badge ok"), "{watch}");
    assert!(watch.contains("Last error"), "kept after recovery: {watch}");
    shutdown.stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("serve stops")
        .expect("task");
    assert!(ended.is_ok(), "{ended:?}");
}

/// Runs the Apps Script's own `sheetsyncOnEdit` under Node with Google's services stubbed
/// (`Utilities.computeHmacSha256Signature` returns signed bytes, as Apps Script's does),
/// and checks that what it would POST is accepted by `serve`'s verifier. Skipped, loudly,
/// where Node is not installed.
#[test]
fn the_scripts_own_code_sends_what_serve_accepts() {
    use sheetsync::serve::health::{Clock, ManualClock};
    use sheetsync::serve::hook::{Accepted, HookGate};

    let node = ["node", "nodejs"].into_iter().find(|n| {
        std::process::Command::new(n)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(node) = node else {
        eprintln!("SKIPPED: Node is not installed; the script's own code was not run");
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("apps-script/sheetsync.gs");
    let harness = r#"
const fs = require('fs');
const crypto = require('crypto');
const [scriptPath, secret, id] = process.argv.slice(-3);
let sent = null;
globalThis.Utilities = {
  Charset: { UTF_8: 'UTF-8' },
  computeHmacSha256Signature: (value, key, charset) => {
    if (charset !== 'UTF-8') throw new Error('charset ' + charset);
    return Array.from(crypto.createHmac('sha256', Buffer.from(key, 'utf8'))
      .update(Buffer.from(value, 'utf8')).digest()).map((b) => (b > 127 ? b - 256 : b));
  },
};
globalThis.PropertiesService = { getScriptProperties: () => ({
  getProperty: (k) => ({ SHEETSYNC_URL: 'https://serve.example/hooks/sheet',
                         SHEETSYNC_HOOK_SECRET: secret })[k] }) };
globalThis.UrlFetchApp = { fetch: (url, options) => {
  sent = { url, options };
  return { getResponseCode: () => 202, getContentText: () => '' };
} };
globalThis.console = console;
(0, eval)(fs.readFileSync(scriptPath, 'utf8'));
const sheet = { getName: () => 'Inventory', getParent: () => ({ getId: () => id }) };
sheetsyncOnEdit({ range: { getSheet: () => sheet } });
process.stdout.write(JSON.stringify(sent));
"#;
    let id = "1SheetIdWith-_Chars";
    let out = std::process::Command::new(node)
        .args(["-e", harness, "--"])
        .arg(&script)
        .args([SECRET, id])
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("what was sent");
    assert_eq!(sent["url"], "https://serve.example/hooks/sheet");
    let options = &sent["options"];
    assert_eq!(options["method"], "post");
    assert_eq!(options["contentType"], "application/json");
    let body = options["payload"].as_str().expect("payload");
    let signature = options["headers"]["X-Sheetsync-Signature"]
        .as_str()
        .expect("signature");
    // Byte for byte what these tests build, and signed as they sign.
    let note: serde_json::Value = serde_json::from_str(body).expect("json body");
    let sent_at = chrono::DateTime::parse_from_rfc3339(note["sent_at"].as_str().expect("sent_at"))
        .expect("rfc 3339")
        .with_timezone(&chrono::Utc);
    assert_eq!(body, script_body(id, TAB, sent_at));
    assert_eq!(signature, signature_of(body));

    let clock = std::sync::Arc::new(ManualClock::default());
    let gate = HookGate::new(
        &sheetsync::config::Secret::new(SECRET),
        id,
        TAB,
        clock.clone(),
    );
    assert!((clock.wall() - sent_at).abs() < chrono::TimeDelta::minutes(1));
    assert_eq!(
        gate.check(Some(signature), body.as_bytes()),
        Ok((Accepted::Queued, sent_at))
    );
}

fn signature_of(body: &str) -> String {
    signature(SECRET, body)
}
