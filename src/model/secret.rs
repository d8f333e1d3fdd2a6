//! A string that never shows itself: `Debug` and `Display` print `[REDACTED]`, and the
//! value is reachable only through [`Secret::expose`], so a leak is greppable.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// The value itself: only the token records that the state dir stores (mode 0600) are
/// serialized; nothing that is printed or logged holds a `Secret` it would serialize.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

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
}
