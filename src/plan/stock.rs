//! A variant's `available` quantity at each configured location, compactly.
//!
//! A snapshot holds one of these per variant, so at 100,000 variants its size is the
//! snapshot's size (issue 8: plan 100,000 rows under 200 MB). The location names are
//! shared by every variant of a snapshot (one `Arc`), and the quantities are a boxed
//! slice in the same order: 32 bytes plus 16 per location, where a `BTreeMap` keyed by
//! an owned name cost over 600 bytes a variant.

use std::sync::Arc;

use crate::model::LocationName;

/// `available` per location; `None` = the item has no inventory level there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stock {
    locations: Arc<[LocationName]>,
    levels: Box<[Option<i64>]>,
}

impl Stock {
    /// Quantities for `locations`, in the same order (a missing tail reads as no level).
    pub fn new(locations: Arc<[LocationName]>, mut levels: Vec<Option<i64>>) -> Stock {
        levels.resize(locations.len(), None);
        Stock {
            locations,
            levels: levels.into_boxed_slice(),
        }
    }

    /// `Some(level)` when `location` was read (`level` is `None` where the item is not
    /// stocked); `None` when the snapshot did not read that location at all.
    pub fn get(&self, location: &str) -> Option<Option<i64>> {
        self.position(location).map(|i| self.levels[i])
    }

    /// The quantity at `location`, `None` when not stocked there (or not read).
    pub fn available(&self, location: &str) -> Option<i64> {
        self.get(location).flatten()
    }

    /// Sets the level at `location`, adding the location when it was not read.
    pub fn set(&mut self, location: &str, level: Option<i64>) {
        match self.position(location) {
            Some(i) => self.levels[i] = level,
            None => {
                let mut pairs: Vec<(LocationName, Option<i64>)> =
                    self.iter().map(|(l, q)| (l.clone(), q)).collect();
                pairs.push((location.to_owned(), level));
                *self = pairs.into_iter().collect();
            }
        }
    }

    /// Forgets `location` (as if the snapshot had not read it).
    pub fn remove(&mut self, location: &str) {
        if self.position(location).is_some() {
            *self = self
                .iter()
                .filter(|(l, _)| l.as_str() != location)
                .map(|(l, q)| (l.clone(), q))
                .collect();
        }
    }

    /// (location, level) in the snapshot's location order.
    pub fn iter(&self) -> impl Iterator<Item = (&LocationName, Option<i64>)> {
        self.locations.iter().zip(self.levels.iter().copied())
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    fn position(&self, location: &str) -> Option<usize> {
        self.locations.iter().position(|l| l == location)
    }
}

impl FromIterator<(LocationName, Option<i64>)> for Stock {
    /// A stock of its own (names not shared): for tests and one-off variants.
    fn from_iter<I: IntoIterator<Item = (LocationName, Option<i64>)>>(iter: I) -> Stock {
        let (names, levels): (Vec<LocationName>, Vec<Option<i64>>) = iter.into_iter().unzip();
        Stock::new(names.into(), levels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_shared_location_order() {
        let names: Arc<[LocationName]> = vec!["Main".to_owned(), "Annex".to_owned()].into();
        let mut s = Stock::new(names.clone(), vec![Some(3)]);
        assert_eq!(s.get("Main"), Some(Some(3)));
        assert_eq!(s.get("Annex"), Some(None), "a missing tail is no level");
        assert_eq!(s.get("Elsewhere"), None);
        assert_eq!(s.available("Main"), Some(3));
        s.set("Annex", Some(-2));
        s.set("Popup", Some(1));
        let all: Vec<_> = s.iter().map(|(l, q)| (l.as_str(), q)).collect();
        assert_eq!(
            all,
            vec![("Main", Some(3)), ("Annex", Some(-2)), ("Popup", Some(1))]
        );
        assert_eq!(s.len(), 3);
        let other = Stock::new(names, vec![Some(3), Some(-2)]);
        assert_ne!(s, other);
    }
}
