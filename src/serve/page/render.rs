//! The status page's HTML: [`StatusView`] through `templates/status.html`. The template
//! is compiled into the binary (no file is read at run time) and rendered by minijinja
//! with HTML auto-escaping, which the `.html` name turns on: every `{{ value }}` is
//! escaped, in text and in attributes alike. Strict undefined: a misspelt field is an
//! error (caught by the tests), never an empty string.

use std::sync::OnceLock;
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior, Value, context};

use super::view::StatusView;

const TEMPLATE: &str = "status.html";

/// Why the page did not render (a template bug, not bad data).
#[derive(Debug, thiserror::Error)]
#[error("status page template: {0}")]
pub struct RenderError(String);

fn environment() -> Result<&'static Environment<'static>, RenderError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template(TEMPLATE, include_str!("templates/status.html"))
            .map_err(|e| e.to_string())?;
        Ok(env)
    })
    .as_ref()
    .map_err(|e| RenderError(e.clone()))
}

/// The page. `nonce` is the CSP nonce of its script and style; `refresh` how often the
/// script fetches the page again.
pub fn page(view: &StatusView, nonce: &str, refresh: Duration) -> Result<String, RenderError> {
    let template = environment()?
        .get_template(TEMPLATE)
        .map_err(|e| RenderError(e.to_string()))?;
    template
        .render(context! {
            page => Value::from_serialize(view),
            nonce => nonce,
            refresh_ms => u64::try_from(refresh.as_millis()).unwrap_or(u64::MAX),
            refresh_s => refresh.as_secs().max(1),
        })
        .map_err(|e| RenderError(e.to_string()))
}
