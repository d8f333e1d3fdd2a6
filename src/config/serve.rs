//! `[serve]` (SPEC §10): the shared secret that signs the sheet's change notifications
//! (`hook_secret`) and the bearer token of the status page and metrics (`token`).
//!
//! Its `${VAR}` references are resolved like every other key's, but a missing variable
//! here is not an error of the file: only `serve` uses the section, so `sync`, `watch` and
//! the rest must run without `SHEETSYNC_HOOK_SECRET`. The problems are kept and reported
//! by [`ServeConfig::require`], which `serve` calls.

use serde::Deserialize;

use super::vars::Interpolator;
use crate::model::Secret;

/// The shortest secret or token accepted: 16 bytes is what a guess cannot reach, and a
/// `openssl rand -hex 32` the docs suggest is far longer.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// HMAC-SHA256 key of `X-Sheetsync-Signature` on `POST /hooks/sheet`.
    pub hook_secret: Option<Secret>,
    /// `Authorization: Bearer <token>` for the status page and `/metrics`.
    pub token: Option<Secret>,
    /// What resolving the section's `${VAR}`s found wrong: missing variable names, then
    /// malformed references; reported by [`ServeConfig::require`].
    #[serde(skip)]
    unresolved: Unresolved,
}

#[derive(Debug, Clone, Default)]
struct Unresolved {
    missing: Vec<String>,
    malformed: Vec<String>,
}

/// Why `[serve]` cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeConfigError {
    #[error("[serve]: environment variable(s) not set: {}", .0.join(", "))]
    MissingEnv(Vec<String>),
    #[error("[serve]: {0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Resolves the section's `${VAR}`s; problems are kept, not raised (see the module doc).
    pub(super) fn interpolate(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let mut vars = Interpolator::new(env);
        let ServeConfig {
            hook_secret,
            token,
            unresolved,
        } = self;
        for (key, value) in [("hook_secret", hook_secret), ("token", token)] {
            if let Some(secret) = value {
                let mut s = secret.expose().to_owned();
                vars.string(&format!("serve.{key}"), &mut s);
                *secret = Secret::new(s);
            }
        }
        *unresolved = Unresolved {
            missing: vars.missing.into_iter().collect(),
            malformed: vars.malformed,
        };
    }

    /// Whether the config has a `[serve]` section with anything in it (`check` then
    /// validates it as `serve` would; without one, nothing asks for it).
    pub fn is_present(&self) -> bool {
        self.hook_secret.is_some()
            || self.token.is_some()
            || !self.unresolved.missing.is_empty()
            || !self.unresolved.malformed.is_empty()
    }

    /// The section as `serve` needs it: every `${VAR}` set, the secret present and long
    /// enough, a token (when given) long enough.
    pub fn require(&self) -> Result<(), ServeConfigError> {
        if !self.unresolved.malformed.is_empty() {
            return Err(ServeConfigError::Invalid(
                self.unresolved.malformed.join("; "),
            ));
        }
        if !self.unresolved.missing.is_empty() {
            return Err(ServeConfigError::MissingEnv(
                self.unresolved.missing.clone(),
            ));
        }
        match &self.hook_secret {
            None => {
                return Err(ServeConfigError::Invalid(
                    "serve.hook_secret is not set: add `hook_secret = \"${SHEETSYNC_HOOK_SECRET}\"` \
                     under [serve] (the same secret goes into the Apps Script's properties)"
                        .to_owned(),
                ));
            }
            Some(s) if s.expose().len() < MIN_SECRET_LEN => {
                return Err(ServeConfigError::Invalid(format!(
                    "serve.hook_secret is shorter than {MIN_SECRET_LEN} characters: use a random \
                     one, e.g. `openssl rand -hex 32`"
                )));
            }
            Some(_) => {}
        }
        if let Some(t) = &self.token
            && t.expose().len() < MIN_SECRET_LEN
        {
            return Err(ServeConfigError::Invalid(format!(
                "serve.token is shorter than {MIN_SECRET_LEN} characters: use a random one, \
                 e.g. `openssl rand -hex 32`"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> ServeConfig {
        let mut s: ServeConfig = toml::from_str(text).expect("toml");
        s.interpolate(env);
        s
    }

    #[test]
    fn a_missing_variable_is_kept_until_serve_asks() {
        let s = parse("hook_secret = \"${SHEETSYNC_HOOK_SECRET}\"", &|_| None);
        assert_eq!(
            s.require(),
            Err(ServeConfigError::MissingEnv(vec![
                "SHEETSYNC_HOOK_SECRET".to_owned()
            ]))
        );
        let secret = "0123456789abcdef0123";
        let s = parse("hook_secret = \"${SHEETSYNC_HOOK_SECRET}\"", &|n| {
            (n == "SHEETSYNC_HOOK_SECRET").then(|| secret.to_owned())
        });
        assert_eq!(s.require(), Ok(()));
        assert_eq!(s.hook_secret.as_ref().map(Secret::expose), Some(secret));
    }

    #[test]
    fn serve_needs_a_long_enough_secret_and_token() {
        let none = |_: &str| None;
        assert!(matches!(
            parse("", &none).require(),
            Err(ServeConfigError::Invalid(m)) if m.contains("hook_secret is not set")
        ));
        assert!(matches!(
            parse("hook_secret = \"short\"", &none).require(),
            Err(ServeConfigError::Invalid(m)) if m.contains("shorter")
        ));
        let err = parse(
            "hook_secret = \"0123456789abcdef\"\ntoken = \"tiny\"",
            &none,
        )
        .require();
        assert!(matches!(err, Err(ServeConfigError::Invalid(m)) if m.contains("serve.token")));
        assert!(
            parse("hook_secret = \"${A\"", &none)
                .require()
                .is_err_and(|e| e.to_string().contains("serve.hook_secret"))
        );
    }
}
