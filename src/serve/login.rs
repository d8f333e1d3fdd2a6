//! Signing in from a browser: a browser cannot send `Authorization: Bearer`, so
//! `GET /login` shows a form for `serve.token` and `POST /login` checks it (in constant
//! time, [`Bearer::is_token`]) and sets the session cookie ([`Bearer::session_cookie`]:
//! `HttpOnly; SameSite=Strict`, `Secure` off loopback or behind a TLS proxy, its value
//! derived from the token),
//! which the page and `/metrics` accept like the bearer. The token travels only in the
//! form's body, never in a URL. Without a token there is nothing to sign in to, and both
//! routes send the browser to the page.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, context};

use super::access::{Bearer, SESSION_MAX_AGE_SECS};

/// A form body larger than this is not a token.
const MAX_BODY: usize = 4096;
const TEMPLATE: &str = "login.html";

/// `GET /login` and `POST /login`.
pub fn router(bearer: Bearer) -> axum::Router {
    axum::Router::new()
        .route("/login", get(form).post(submit))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(bearer)
}

async fn form(State(bearer): State<Bearer>) -> Response {
    if !bearer.required() {
        return to_page(None);
    }
    render(StatusCode::OK, false)
}

async fn submit(State(bearer): State<Bearer>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer.required() {
        return to_page(None);
    }
    // Behind a TLS proxy a loopback `serve` still serves HTTPS browsers: the cookie is
    // `Secure` then. A forged header can only add `Secure`, never take it away.
    let over_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    match (token, bearer.session_cookie(over_https)) {
        (Some(t), Some(cookie)) if bearer.is_token(t.trim()) => to_page(Some(cookie)),
        _ => render(StatusCode::UNAUTHORIZED, true),
    }
}

/// 303 to the page (a reload then GETs it rather than posting the form again).
fn to_page(cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn environment() -> Result<&'static Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template(TEMPLATE, include_str!("templates/login.html"))
            .map_err(|e| e.to_string())?;
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn render(status: StatusCode, wrong: bool) -> Response {
    let Some(nonce) = super::page::nonce() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    let html = environment().and_then(|env| {
        env.get_template(TEMPLATE)
            .and_then(|t| {
                t.render(context! {
                    nonce => nonce,
                    wrong => wrong,
                    days => SESSION_MAX_AGE_SECS / 86_400,
                })
            })
            .map_err(|e| e.to_string())
    });
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "The login page did not render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the login page did not render",
            )
                .into_response();
        }
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    super::page::html_response(status, html, &csp)
}
