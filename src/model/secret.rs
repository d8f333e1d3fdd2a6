//! A string that never shows itself: `Debug` and `Display` print `[REDACTED]`, and the
//! value is reachable only through [`Secret::expose`], so a leak is greppable.
//!
//! `Secret` does not implement `Serialize` (a compile-time assertion below keeps it so):
//! a struct holding one cannot be turned into JSON by a stray derive. The token records
//! the state dir keeps (mode 0600) opt in field by field with
//! `#[serde(serialize_with = "crate::config::expose_secret")]`, the one visible place
//! where a secret is written out.

use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The secret itself. Call only where it is sent or stored, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// At most a short prefix, for `auth status` (`shpat_1a…`).
    pub fn prefix(&self) -> String {
        let p: String = self.0.chars().take(8).collect();
        if self.0.chars().count() > 8 {
            format!("{p}…")
        } else {
            "…".to_owned()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Writes the secret's raw value: only for the token records the state dir keeps (mode
/// 0600), through `#[serde(serialize_with = "crate::config::expose_secret")]`.
pub fn expose_secret<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// [`expose_secret`] for an optional secret (`null` when absent).
pub fn expose_secret_opt<S: Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose()),
        None => s.serialize_none(),
    }
}

/// Whether `T` implements `Serialize`, decided at compile time: the inherent constant
/// applies where the bound holds, the blanket trait's `false` everywhere else.
struct Probe<T>(std::marker::PhantomData<T>);
trait NotSerialize {
    const SERIALIZE: bool = false;
}
impl<T> NotSerialize for T {}
impl<T: serde::Serialize> Probe<T> {
    const SERIALIZE: bool = true;
}

// An `impl Serialize for Secret` (or a derive) breaks the build here.
const _: () = assert!(!<Probe<Secret>>::SERIALIZE);
const _: () = assert!(!<Probe<Option<Secret>>>::SERIALIZE);
const _: () = assert!(<Probe<String>>::SERIALIZE);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("shpat_abcdef0123456789");
        assert!(!format!("{s:?}").contains("abcdef"));
        assert!(!format!("{s}").contains("abcdef"));
        assert_eq!(s.prefix(), "shpat_ab…");
        assert_eq!(s.expose(), "shpat_abcdef0123456789");
    }

    #[test]
    fn a_secret_is_written_out_only_through_expose_secret() {
        #[derive(serde::Serialize)]
        struct Record {
            #[serde(serialize_with = "expose_secret")]
            token: Secret,
            #[serde(serialize_with = "expose_secret_opt")]
            refresh: Option<Secret>,
            #[serde(serialize_with = "expose_secret_opt")]
            none: Option<Secret>,
        }
        let r = Record {
            token: Secret::new("shpat_abc"),
            refresh: Some(Secret::new("shprt_def")),
            none: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"token":"shpat_abc","refresh":"shprt_def","none":null}"#
        );
    }
}
