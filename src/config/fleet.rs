//! The `[fleet]` section of a pair file (SPEC §9): whether the pair runs a `watch` loop
//! or a `schedule`, and with which timings.
//!
//! Only the fleet reads it; every other command accepts and ignores it, so a pair file
//! stays a valid `--config`. The section is checked as it is read, where toml still knows
//! its line, so a wrong combination (a `cron` on a watch pair) is reported like an unknown
//! key. Turning a schedule into fire times is `fleet`'s job, not this module's.

use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use serde::Deserialize;

/// `[fleet]`, checked: a pair is one of the two long-running modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSection {
    pub mode: PairMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairMode {
    /// `watch`'s loop with its two periods (the defaults of `watch`'s options).
    Watch {
        interval: Duration,
        full_every: Duration,
    },
    Schedule(ScheduleSpec),
}

impl PairMode {
    /// `"watch"` or `"schedule"`, as the file writes it.
    pub fn name(&self) -> &'static str {
        match self {
            PairMode::Watch { .. } => "watch",
            PairMode::Schedule(_) => "schedule",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleSpec {
    /// A 5-field cron expression in UTC, as `schedule "CRON"` takes it (already parsed
    /// once, so it is known to be valid).
    Cron(String),
    /// A whole number of seconds; the fire times are its multiples since the Unix epoch.
    Every(Duration),
}

/// `watch --interval`'s default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// `watch --full-every`'s default.
pub const DEFAULT_FULL_EVERY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawMode {
    Watch,
    Schedule,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    mode: RawMode,
    #[serde(default, deserialize_with = "some_duration")]
    interval: Option<Duration>,
    #[serde(default, deserialize_with = "some_duration")]
    full_every: Option<Duration>,
    cron: Option<String>,
    #[serde(default, deserialize_with = "some_duration")]
    every: Option<Duration>,
}

fn some_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    super::positive_duration(d).map(Some)
}

/// `deserialize_with` for `Config::fleet`: the raw section, then the checks that span
/// keys. An error here carries the line of the `[fleet]` table.
pub(super) fn section<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<FleetSection>, D::Error> {
    let raw = RawFleet::deserialize(d)?;
    check(raw).map(Some).map_err(serde::de::Error::custom)
}

fn check(raw: RawFleet) -> Result<FleetSection, String> {
    let mode = match raw.mode {
        RawMode::Watch => {
            if let Some(key) = [("cron", raw.cron.is_some()), ("every", raw.every.is_some())]
                .iter()
                .find_map(|(k, set)| set.then_some(*k))
            {
                return Err(format!(
                    "fleet.{key} belongs to mode = \"schedule\"; a watch pair takes \
                     interval and full_every"
                ));
            }
            PairMode::Watch {
                interval: raw.interval.unwrap_or(DEFAULT_INTERVAL),
                full_every: raw.full_every.unwrap_or(DEFAULT_FULL_EVERY),
            }
        }
        RawMode::Schedule => {
            if let Some(key) = [
                ("interval", raw.interval.is_some()),
                ("full_every", raw.full_every.is_some()),
            ]
            .iter()
            .find_map(|(k, set)| set.then_some(*k))
            {
                return Err(format!(
                    "fleet.{key} belongs to mode = \"watch\"; a schedule pair takes cron \
                     or every"
                ));
            }
            PairMode::Schedule(match (raw.cron, raw.every) {
                (Some(_), Some(_)) => {
                    return Err("fleet: give cron or every, not both".to_owned());
                }
                (None, None) => {
                    return Err(
                        "fleet: mode = \"schedule\" needs cron = \"0 * * * *\" or every = \"1h\""
                            .to_owned(),
                    );
                }
                (Some(expr), None) => {
                    cron_parser().parse(&expr).map_err(|e| {
                        format!(
                            "fleet.cron {expr:?} is not a cron expression: {e} (five fields: \
                             minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\")"
                        )
                    })?;
                    ScheduleSpec::Cron(expr)
                }
                (None, Some(every)) => {
                    // Fire times are stored and compared across workers: whole seconds keep
                    // them exact in every representation.
                    if every.subsec_nanos() != 0 {
                        return Err(format!(
                            "fleet.every = {:?} is not a whole number of seconds",
                            humantime::format_duration(every).to_string()
                        ));
                    }
                    ScheduleSpec::Every(every)
                }
            })
        }
    };
    Ok(FleetSection { mode })
}

/// The parser `schedule "CRON"` uses: five fields, no seconds, no year.
fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    use super::*;

    const BASE: &str = r#"
[sheet]
spreadsheet_id = "abc"
tab = "Inventory"
[sheet.columns]
sku = "SKU"
price = "Price"
[google]
credentials = "key.json"
[shopify]
shop = "a.myshopify.com"
[shopify.auth]
method = "token"
token = "t"
"#;

    fn parse(fleet: &str) -> Result<Config, ConfigError> {
        let text = format!("{BASE}{fleet}");
        Config::parse(&text, Path::new("p.toml"), &|_| None)
    }

    fn message(fleet: &str) -> String {
        parse(fleet).unwrap_err().to_string()
    }

    #[test]
    fn a_config_without_fleet_has_none() {
        assert_eq!(parse("").unwrap().fleet, None);
    }

    #[test]
    fn watch_takes_its_periods_or_the_defaults() {
        let c = parse("[fleet]\nmode = \"watch\"\n").unwrap();
        assert_eq!(
            c.fleet.unwrap().mode,
            PairMode::Watch {
                interval: DEFAULT_INTERVAL,
                full_every: DEFAULT_FULL_EVERY
            }
        );
        let c =
            parse("[fleet]\nmode = \"watch\"\ninterval = \"30s\"\nfull_every = \"1h\"\n").unwrap();
        assert_eq!(
            c.fleet.unwrap().mode,
            PairMode::Watch {
                interval: Duration::from_secs(30),
                full_every: Duration::from_secs(3600)
            }
        );
    }

    #[test]
    fn schedule_takes_cron_or_every() {
        let c = parse("[fleet]\nmode = \"schedule\"\ncron = \"0 * * * *\"\n").unwrap();
        assert_eq!(
            c.fleet.unwrap().mode,
            PairMode::Schedule(ScheduleSpec::Cron("0 * * * *".into()))
        );
        let c = parse("[fleet]\nmode = \"schedule\"\nevery = \"1h\"\n").unwrap();
        assert_eq!(
            c.fleet.unwrap().mode,
            PairMode::Schedule(ScheduleSpec::Every(Duration::from_secs(3600)))
        );
    }

    #[test]
    fn wrong_combinations_name_the_key_and_the_line() {
        // BASE has 14 lines (the first is empty), so [fleet] is on line 15.
        for (fleet, expect) in [
            (
                "[fleet]\nmode = \"watch\"\ncron = \"0 * * * *\"\n",
                "fleet.cron belongs to mode = \"schedule\"",
            ),
            (
                "[fleet]\nmode = \"schedule\"\ninterval = \"10s\"\n",
                "fleet.interval belongs to mode = \"watch\"",
            ),
            (
                "[fleet]\nmode = \"schedule\"\ncron = \"0 * * * *\"\nevery = \"1h\"\n",
                "not both",
            ),
            ("[fleet]\nmode = \"schedule\"\n", "needs cron"),
            (
                "[fleet]\nmode = \"schedule\"\ncron = \"0 0 * * * *\"\n",
                "is not a cron expression",
            ),
            (
                "[fleet]\nmode = \"schedule\"\nevery = \"1500ms\"\n",
                "not a whole number of seconds",
            ),
        ] {
            let m = message(fleet);
            assert!(m.contains(expect), "{fleet}: {m}");
            assert!(m.contains("p.toml"), "{m}");
            assert!(m.contains("line 15"), "{fleet}: {m}");
        }
        // Keys the section does not know, bad modes and bad durations keep their own line.
        let m = message("[fleet]\nmode = \"watch\"\nschedule = \"0 * * * *\"\n");
        assert!(
            m.contains("unknown field `schedule`") && m.contains("line 17"),
            "{m}"
        );
        let m = message("[fleet]\nmode = \"cron\"\n");
        assert!(m.contains("line 16"), "{m}");
        let m = message("[fleet]\nmode = \"watch\"\ninterval = \"0s\"\n");
        assert!(
            m.contains("longer than zero") && m.contains("line 17"),
            "{m}"
        );
    }
}
