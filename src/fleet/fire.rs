//! Fire times of a schedule pair (SPEC §9), as pure functions of the schedule and the
//! clock the caller passes in.
//!
//! `schedule` on one machine computes its next tick from when the last run ended; a
//! fleet cannot, because the pair may change owner between two ticks. Here the fire
//! times are fixed points on the time line: a cron expression's matches in UTC, or the
//! multiples of `every` since 1970-01-01T00:00Z. Whoever owns the pair asks which fire
//! times fall in (last seen, now] or which is the latest one up to now, and the shared
//! state records a fire time at most once. Consecutive windows (a, b], (b, c] share no
//! fire time and miss none, which is what "exactly once" rests on.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use croner::Cron;

use crate::config::fleet::ScheduleSpec;
use crate::schedule::{When, WhenError};

/// A schedule pair's fire times.
#[derive(Debug, Clone)]
pub enum FireTimes {
    Cron(Box<Cron>),
    /// The period in whole seconds, at least 1.
    Every(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error(transparent)]
    Cron(#[from] WhenError),
    #[error("every = {0:?} must be a whole number of seconds, at least one")]
    Period(Duration),
}

impl FireTimes {
    /// From a pair file's `[fleet]` section; the cron expression is read by the same
    /// parser as `schedule "CRON"`.
    pub fn new(spec: &ScheduleSpec) -> Result<FireTimes, FireError> {
        match spec {
            ScheduleSpec::Cron(expr) => match When::parse(Some(expr), None)? {
                When::Cron(cron) => Ok(FireTimes::Cron(cron)),
                When::Every(_) => Err(WhenError::Neither.into()),
            },
            ScheduleSpec::Every(period) => {
                let secs = i64::try_from(period.as_secs()).unwrap_or(0);
                if secs < 1 || period.subsec_nanos() != 0 {
                    return Err(FireError::Period(*period));
                }
                Ok(FireTimes::Every(secs))
            }
        }
    }

    /// The latest fire time at or before `t`; `None` only for a cron expression that
    /// never matched before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Fire times are whole seconds, so "≤ t" and "≤ t without its fraction" agree.
        let t = whole_seconds(t)?;
        match self {
            FireTimes::Cron(cron) => cron.find_previous_occurrence(&t, true).ok(),
            FireTimes::Every(period) => {
                let k = t.timestamp().div_euclid(*period);
                DateTime::from_timestamp(k.checked_mul(*period)?, 0)
            }
        }
    }

    /// The first fire time strictly after `t`; `None` past the end of representable time
    /// or for a cron expression that never matches again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A whole-second fire time is after `t` exactly when it is after `t`'s second.
        let t = whole_seconds(t)?;
        match self {
            FireTimes::Cron(cron) => cron.find_next_occurrence(&t, false).ok(),
            FireTimes::Every(period) => {
                let latest = self.latest_at_or_before(t)?;
                latest.checked_add_signed(TimeDelta::seconds(*period))
            }
        }
    }

    /// The fire times in (`after`, `until`], in order; empty when `until <= after`.
    /// Lazy: a window may hold many fire times, and a caller that only runs the latest
    /// (a missed fire is run once, late) need not walk them all.
    pub fn between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut cursor = after;
        std::iter::from_fn(move || {
            let next = self.next_after(cursor)?;
            if next > until {
                return None;
            }
            cursor = next;
            Some(next)
        })
    }
}

/// `t` without its fraction of a second, rounded down (also before 1970).
fn whole_seconds(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    t.duration_trunc(TimeDelta::seconds(1)).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn cron(expr: &str) -> FireTimes {
        FireTimes::new(&ScheduleSpec::Cron(expr.to_owned())).expect("cron")
    }

    fn every(secs: u64) -> FireTimes {
        FireTimes::new(&ScheduleSpec::Every(Duration::from_secs(secs))).expect("every")
    }

    #[test]
    fn every_fires_at_multiples_of_the_period_since_the_epoch() {
        let hourly = every(3600);
        // Not "an hour after start": on the hour, whenever the worker started.
        assert_eq!(
            hourly.latest_at_or_before(at("2026-03-01T12:34:56.789Z")),
            Some(at("2026-03-01T12:00:00Z"))
        );
        assert_eq!(
            hourly.next_after(at("2026-03-01T12:34:56Z")),
            Some(at("2026-03-01T13:00:00Z"))
        );
        // At a fire time: it is the latest, and the next is one period on.
        assert_eq!(
            hourly.latest_at_or_before(at("2026-03-01T12:00:00Z")),
            Some(at("2026-03-01T12:00:00Z"))
        );
        assert_eq!(
            hourly.next_after(at("2026-03-01T12:00:00Z")),
            Some(at("2026-03-01T13:00:00Z"))
        );
        // 7 s does not divide a minute: the multiples still count from the epoch.
        let odd = every(7);
        assert_eq!(
            odd.latest_at_or_before(at("1970-01-01T00:01:00Z")),
            Some(at("1970-01-01T00:00:56Z"))
        );
        // Before 1970 the multiples go on backwards.
        assert_eq!(
            hourly.latest_at_or_before(at("1969-12-31T23:30:00Z")),
            Some(at("1969-12-31T23:00:00Z"))
        );
    }

    #[test]
    fn cron_fires_on_its_matches_in_utc() {
        let quarter = cron("*/15 * * * *");
        assert_eq!(
            quarter.latest_at_or_before(at("2026-03-01T12:07:30.5Z")),
            Some(at("2026-03-01T12:00:00Z"))
        );
        assert_eq!(
            quarter.latest_at_or_before(at("2026-03-01T12:15:00Z")),
            Some(at("2026-03-01T12:15:00Z"))
        );
        assert_eq!(
            quarter.next_after(at("2026-03-01T12:15:00Z")),
            Some(at("2026-03-01T12:30:00Z"))
        );
        assert_eq!(
            quarter.next_after(at("2026-03-01T12:14:59.999Z")),
            Some(at("2026-03-01T12:15:00Z"))
        );
        let got: Vec<_> = quarter
            .between(at("2026-03-01T12:00:00Z"), at("2026-03-01T13:00:00Z"))
            .collect();
        assert_eq!(
            got,
            [
                at("2026-03-01T12:15:00Z"),
                at("2026-03-01T12:30:00Z"),
                at("2026-03-01T12:45:00Z"),
                at("2026-03-01T13:00:00Z"),
            ]
        );
    }

    #[test]
    fn an_empty_or_backwards_window_has_no_fire_times() {
        let t = at("2026-03-01T12:00:00Z");
        assert_eq!(every(60).between(t, t).count(), 0);
        assert_eq!(
            every(60).between(t, t - TimeDelta::seconds(3600)).count(),
            0
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(FireTimes::new(&ScheduleSpec::Cron("0 0 * * * *".into())).is_err());
        assert!(FireTimes::new(&ScheduleSpec::Every(Duration::ZERO)).is_err());
        assert!(FireTimes::new(&ScheduleSpec::Every(Duration::from_millis(1500))).is_err());
    }

    /// Times between 1960 and 2100, to the nanosecond.
    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (-315_619_200i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
    }

    /// Cron expressions whose matches a test can list without a cron library: every
    /// `step` minutes within each hour, at the hours that are multiples of `hours`.
    fn simple_cron() -> impl Strategy<Value = (String, u32, u32)> {
        (
            prop::sample::select(vec![1u32, 2, 5, 7, 15, 30]),
            prop::sample::select(vec![1u32, 3, 24]),
        )
            .prop_map(|(step, hours)| {
                let hour_field = if hours == 24 {
                    "0".to_owned()
                } else {
                    format!("*/{hours}")
                };
                (format!("*/{step} {hour_field} * * *"), step, hours)
            })
    }

    fn matches_simple(t: DateTime<Utc>, step: u32, hours: u32) -> bool {
        use chrono::Timelike;
        t.second() == 0
            && t.nanosecond() == 0
            && t.minute().is_multiple_of(step)
            // `hours` = 24 stands for the hour field "0": hour 0 is the only multiple.
            && t.hour().is_multiple_of(hours)
    }

    fn schedules() -> impl Strategy<Value = FireTimes> {
        prop_oneof![
            (1u64..100_000).prop_map(every),
            simple_cron().prop_map(|(expr, _, _)| cron(&expr)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The latest fire time is at or before `t`, and nothing fires between it and `t`.
        #[test]
        fn latest_is_the_last_one_up_to_t(s in schedules(), t in any_time()) {
            let latest = s.latest_at_or_before(t).expect("a latest fire time");
            prop_assert!(latest <= t);
            let next = s.next_after(latest).expect("a next fire time");
            prop_assert!(next > t, "{next} fires in ({latest}, {t}]");
            prop_assert_eq!(s.next_after(t), Some(next));
        }

        /// Splitting a window anywhere neither loses nor repeats a fire time: a worker
        /// that runs (a, b] and another that runs (b, c] together run (a, c] once.
        #[test]
        fn windows_split_without_loss_or_repeat(
            s in schedules(),
            a in any_time(),
            d1 in 0i64..200_000,
            d2 in 0i64..200_000,
        ) {
            let b = a + TimeDelta::seconds(d1);
            let c = b + TimeDelta::seconds(d2);
            let whole: Vec<_> = s.between(a, c).collect();
            let mut halves: Vec<_> = s.between(a, b).collect();
            halves.extend(s.between(b, c));
            prop_assert_eq!(&whole, &halves);
            prop_assert!(whole.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(whole.iter().all(|f| a < *f && *f <= c));
        }

        /// `every` fires exactly at the multiples of its period.
        #[test]
        fn every_is_the_multiples_of_its_period(p in 1u64..1_000_000, t in any_time()) {
            let s = every(p);
            let latest = s.latest_at_or_before(t).expect("latest");
            let p = i64::try_from(p).expect("small");
            prop_assert_eq!(latest.timestamp().rem_euclid(p), 0);
            prop_assert_eq!(latest.timestamp_subsec_nanos(), 0);
            prop_assert!(t - latest < TimeDelta::seconds(p));
        }

        /// Against a plain listing of every minute of a three-hour window.
        #[test]
        fn cron_matches_a_minute_by_minute_listing(
            (expr, step, hours) in simple_cron(),
            start in any_time(),
        ) {
            let s = cron(&expr);
            let end = start + TimeDelta::hours(3);
            let first_minute = start.duration_trunc(TimeDelta::minutes(1)).expect("trunc");
            let expected: Vec<_> = (0..=181)
                .map(|m| first_minute + TimeDelta::minutes(m))
                .filter(|t| *t > start && *t <= end && matches_simple(*t, step, hours))
                .collect();
            let got: Vec<_> = s.between(start, end).collect();
            prop_assert_eq!(got, expected, "{}", expr);
        }
    }
}
