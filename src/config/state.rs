//! `[state]`: where a run keeps its baseline, journal and history when not in the local
//! SQLite file (SPEC §9). The URL may carry a password, so it is a [`Secret`]: it never
//! prints, and errors show it with the password cut out ([`redact_url`]).

use serde::Deserialize;

use super::vars::Interpolator;
use crate::model::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `postgres://…` (or `postgresql://…`); `SHEETSYNC_STATE_URL` and `--state-url` win.
    #[serde(default)]
    pub url: Option<Secret>,
    /// How long a writer's lease on the pair lasts without renewal (renewed every third
    /// of it): how long a killed writer keeps others out. Humantime (`"15s"`).
    #[serde(
        default = "default_lease_ttl",
        deserialize_with = "super::positive_duration"
    )]
    pub lease_ttl: std::time::Duration,
    /// Connections to the shared database per process (one pool per URL, shared by
    /// every pair, lease and worker of the process); `SHEETSYNC_STATE_POOL_SIZE` and
    /// `--state-pool-size` win. At least 1.
    #[serde(
        default = "default_pool_size",
        deserialize_with = "pool_size_at_least_one"
    )]
    pub pool_size: usize,
}

/// `state.pool_size`'s default (why 8: `state::postgres::pool::DEFAULT_POOL_SIZE`).
pub const DEFAULT_POOL_SIZE: usize = 8;

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}

/// A whole number of connections, at least one.
fn pool_size_at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    // The same sentence as the environment's value, whatever scalar the file holds.
    parse_pool_size(&super::scalar_text(d)?).map_err(serde::de::Error::custom)
}

/// Reads a pool size (the config key, the environment, the flag): a whole number ≥ 1.
pub fn parse_pool_size(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 => usize::try_from(n).map_err(|e| e.to_string()),
        Ok(n) => Err(format!(
            "pool_size must be at least 1 (connections per process), not {n}"
        )),
        Err(_) => Err(format!(
            "pool_size must be a whole number of connections (at least 1), not {raw:?}"
        )),
    }
}

/// `state.lease_ttl`'s default.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(15);

fn default_lease_ttl() -> std::time::Duration {
    DEFAULT_LEASE_TTL
}

impl Default for StateConfig {
    fn default() -> StateConfig {
        StateConfig {
            url: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

impl StateConfig {
    pub(super) fn interpolate(&mut self, vars: &mut Interpolator<'_>) {
        if let Some(url) = &mut self.url {
            let mut s = url.expose().to_owned();
            vars.string("state.url", &mut s);
            *url = Secret::new(s);
        }
    }
}

/// A database URL fit for a message: the password (between `user:` and `@`) is replaced
/// by `***`, and so is a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_owned(),
    };
    match query {
        None => head,
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{head}?{}", q.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example.com:5432/sheetsync?sslmode=require"),
            "postgres://app:***@db.example.com:5432/sheetsync?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://app@%2Fvar%2Frun%2Fpostgresql/s?password=s3cret&x=1"),
            "postgresql://app@%2Fvar%2Frun%2Fpostgresql/s?password=***&x=1"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
