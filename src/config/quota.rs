//! `[google] reads_per_minute` / `writes_per_minute`: the Sheets quota this process paces
//! its requests to (SPEC §4 item 8). Google's default is 60 of each a minute per user (a
//! service account is one); an operator sets a raised quota here, or this process's share
//! of one that several processes use. Only the keys' defaults and checks live here; the
//! pacing is `sheet::google`'s.

/// Google's default Sheets quota: 60 read and 60 write requests a minute per user.
pub const DEFAULT_PER_MINUTE: usize = 60;

pub(super) fn default_per_minute() -> usize {
    DEFAULT_PER_MINUTE
}

/// A whole number of requests a minute, at least one.
pub(super) fn per_minute_at_least_one<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<usize, D::Error> {
    parse_per_minute(&super::scalar_text(d)?).map_err(serde::de::Error::custom)
}

/// The highest per-minute quota accepted: far above any quota Google grants, low enough
/// that the pacer's arithmetic and its window of send times stay small.
pub const MAX_PER_MINUTE: i64 = 1_000_000;

/// Reads a per-minute quota: a whole number from 1 to [`MAX_PER_MINUTE`].
pub fn parse_per_minute(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_PER_MINUTE).contains(&n) => usize::try_from(n).map_err(|e| e.to_string()),
        Ok(n) if n > MAX_PER_MINUTE => Err(format!(
            "a per-minute quota must be at most {MAX_PER_MINUTE} (requests a minute), not {n}"
        )),
        Ok(n) => Err(format!(
            "a per-minute quota must be at least 1 (requests a minute), not {n}"
        )),
        Err(_) => Err(format!(
            "a per-minute quota must be a whole number of requests (at least 1), not {raw:?}"
        )),
    }
}
