//! Shopify global ids (`gid://shopify/ProductVariant/123`) held compactly.
//!
//! A snapshot holds two per variant (the variant's and its inventory item's). As text
//! each cost a 24-byte `String` plus a 48-byte heap block; the usual form here is a kind
//! and a number in the same 24 bytes and nothing on the heap (issue 8: 100,000 rows
//! planned under 200 MB). Any other text is kept as it is, so nothing is ever rewritten:
//! [`Gid`] displays exactly the text it was made from.

use std::fmt;

const PREFIX: &str = "gid://shopify/";

/// The resource types whose ids a snapshot holds.
const KINDS: [&str; 3] = ["ProductVariant", "InventoryItem", "Product"];

/// A global id: its text, stored as (kind, number) when it has the usual form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gid(Repr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    /// `gid://shopify/{KINDS[kind]}/{id}`, with `id` written without leading zeros.
    Numeric {
        kind: u8,
        id: u64,
    },
    Text(Box<str>),
}

impl Gid {
    pub fn new(text: &str) -> Gid {
        Gid(numeric(text).unwrap_or_else(|| Repr::Text(text.into())))
    }
}

/// The compact form of `text`, when it reads back as exactly `text`.
fn numeric(text: &str) -> Option<Repr> {
    let (kind, digits) = text.strip_prefix(PREFIX)?.split_once('/')?;
    let kind = u8::try_from(KINDS.iter().position(|k| *k == kind)?).ok()?;
    let exact = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let id = digits.parse().ok().filter(|_| exact)?;
    Some(Repr::Numeric { kind, id })
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Numeric { kind, id } => {
                let kind = KINDS.get(usize::from(*kind)).copied().unwrap_or_default();
                write!(f, "{PREFIX}{kind}/{id}")
            }
            Repr::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl From<&str> for Gid {
    fn from(text: &str) -> Gid {
        Gid::new(text)
    }
}

impl From<String> for Gid {
    fn from(text: String) -> Gid {
        match numeric(&text) {
            Some(repr) => Gid(repr),
            None => Gid(Repr::Text(text.into_boxed_str())),
        }
    }
}

impl PartialEq<str> for Gid {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Text(text) => **text == *other,
            Repr::Numeric { .. } => numeric(other).is_some_and(|r| r == self.0),
        }
    }
}

impl PartialEq<&str> for Gid {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Gid {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_exactly_and_the_usual_form_is_compact() {
        for text in [
            "gid://shopify/ProductVariant/123",
            "gid://shopify/InventoryItem/0",
            "gid://shopify/Product/18446744073709551615",
            // Not the usual form: kept as text, never rewritten.
            "gid://shopify/ProductVariant/0123",
            "gid://shopify/ProductVariant/18446744073709551616",
            "gid://shopify/ProductVariant/12?x=1",
            "gid://shopify/Location/5",
            "V1-item",
            "",
        ] {
            let gid = Gid::new(text);
            assert_eq!(gid.to_string(), text);
            assert_eq!(gid, text);
            assert_eq!(Gid::from(text.to_owned()), gid);
        }
        assert!(matches!(
            Gid::new("gid://shopify/ProductVariant/9").0,
            Repr::Numeric { .. }
        ));
        assert_ne!(
            Gid::new("gid://shopify/ProductVariant/9"),
            "gid://shopify/Product/9"
        );
        assert_eq!(std::mem::size_of::<Gid>(), std::mem::size_of::<String>());
    }
}
