//! `schedule`: a full sync at each tick of a 5-field cron expression (UTC) or of a fixed
//! period. A tick that comes due while a run is still going is skipped, not stacked: the
//! next tick is always computed from the time the previous run ended.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::{Backoff, Shutdown, summary, tick_options};
use crate::engine::Engine;

/// When `schedule` runs.
#[derive(Debug, Clone)]
pub enum When {
    /// A 5-field cron expression, evaluated in UTC.
    Cron(Box<Cron>),
    /// Every period, the first run at start.
    Every(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum WhenError {
    #[error(
        "invalid cron expression {expr:?}: {message} (five fields: minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\")"
    )]
    Cron { expr: String, message: String },
    #[error("--every must be at least one second")]
    TooShort,
    #[error("give a cron expression or --every, not both")]
    Both,
    #[error("give a cron expression (e.g. \"0 * * * *\") or --every 1h")]
    Neither,
}

impl When {
    /// From the command line: exactly one of a cron expression and `--every`.
    pub fn parse(cron: Option<&str>, every: Option<Duration>) -> Result<When, WhenError> {
        match (cron, every) {
            (Some(_), Some(_)) => Err(WhenError::Both),
            (None, None) => Err(WhenError::Neither),
            (None, Some(d)) if d < Duration::from_secs(1) => Err(WhenError::TooShort),
            (None, Some(d)) => Ok(When::Every(d)),
            (Some(expr), None) => {
                let parser = CronParser::builder()
                    .seconds(Seconds::Disallowed)
                    .year(Year::Disallowed)
                    .build();
                parser
                    .parse(expr)
                    .map(|c| When::Cron(Box::new(c)))
                    .map_err(|e| WhenError::Cron {
                        expr: expr.to_owned(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// The first tick strictly after `after` (`last_start` for `Every`: a period that
    /// has already gone by is skipped).
    fn next(
        &self,
        after: DateTime<Utc>,
        last_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(c) => c.find_next_occurrence(&after, false).ok(),
            When::Every(d) => {
                let Some(last) = last_start else {
                    return Some(after);
                };
                let period = chrono::Duration::from_std(*d).ok()?;
                let mut next = last + period;
                while next <= after {
                    next += period;
                }
                Some(next)
            }
        }
    }
}

impl FromStr for When {
    type Err = WhenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        When::parse(Some(s), None)
    }
}

/// Runs a full sync at each tick until `shutdown.stop` fires. The caller holds the
/// writer lock. A failed tick is logged; after failures in a row, ticks closer than a
/// growing backoff (from 30 s up to an hour) are skipped.
pub async fn schedule(engine: &Engine, when: &When, shutdown: &Shutdown) {
    let mut backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
    let mut last_start: Option<DateTime<Utc>> = None;
    let mut not_before = Utc::now();
    loop {
        let Some(next) = when.next(Utc::now().max(not_before), last_start) else {
            tracing::warn!("The schedule has no future tick; stopping");
            break;
        };
        tracing::info!(next = %next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "Next scheduled sync");
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = shutdown.stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        last_start = Some(next);
        match engine.sync(&tick_options(shutdown)).await {
            Ok(report) => {
                backoff.succeeded();
                if !report.refused.is_empty() {
                    let names: Vec<&str> = report.refused.iter().map(|r| r.name()).collect();
                    tracing::warn!(guards = %names.join(", "), "A safety guard refused the plan; nothing was written to the store");
                }
                tracing::info!(
                    "scheduled sync: {} row(s) read: {}",
                    report.rows_read,
                    summary(&report)
                );
            }
            Err(e) => {
                let wait = backoff.failed();
                not_before = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::warn!(error = %e, retry_after = %humantime::format_duration(wait), "Scheduled sync failed; trying again at a later tick");
            }
        }
        if shutdown.stop.is_cancelled() {
            break;
        }
    }
    tracing::info!("Schedule stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn cron_has_five_fields_and_ticks_in_utc() {
        let w = When::parse(Some("*/15 * * * *"), None).expect("cron");
        let next = w.next(at("2026-03-01T12:07:30Z"), None).expect("next");
        assert_eq!(next, at("2026-03-01T12:15:00Z"));
        // Strictly after: a run that ends on a tick waits for the next one.
        let next = w.next(at("2026-03-01T12:15:00Z"), None).expect("next");
        assert_eq!(next, at("2026-03-01T12:30:00Z"));
        assert!(
            When::parse(Some("0 */15 * * * *"), None).is_err(),
            "seconds field"
        );
        assert!(When::parse(Some("every day"), None).is_err());
    }

    #[test]
    fn every_skips_missed_periods_instead_of_stacking_them() {
        let w = When::Every(Duration::from_secs(3600));
        assert_eq!(
            w.next(at("2026-03-01T12:00:00Z"), None),
            Some(at("2026-03-01T12:00:00Z"))
        );
        // The 12:00 run took until 14:20: 13:00 and 14:00 are skipped, not run back to back.
        let next = w.next(at("2026-03-01T14:20:00Z"), Some(at("2026-03-01T12:00:00Z")));
        assert_eq!(next, Some(at("2026-03-01T15:00:00Z")));
    }

    #[test]
    fn exactly_one_of_cron_and_every() {
        assert!(matches!(When::parse(None, None), Err(WhenError::Neither)));
        assert!(matches!(
            When::parse(Some("* * * * *"), Some(Duration::from_secs(60))),
            Err(WhenError::Both)
        ));
        assert!(matches!(
            When::parse(None, Some(Duration::from_millis(10))),
            Err(WhenError::TooShort)
        ));
    }
}
