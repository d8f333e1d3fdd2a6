//! `/healthz` (SPEC §10): healthy until the watch loop's checks or syncs have failed
//! (after their retries) for longer than max(3 × interval, 60 s); healthy again at the
//! next success. The clock is injected so a test can move past the threshold at once.
//!
//! It is the one record of the loop's health: `/healthz` reads [`Health::report`] and the
//! status page [`Health::watch_health`] (since when, and the last error kept after
//! recovery), so the two can never disagree.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::page::{HealthSource, LastError, WatchHealth};

/// The two clocks `serve` reads: the wall clock (a notification's `sent_at`, the metrics'
/// timestamps) and a monotonic one (how long the loop has been failing).
pub trait Clock: Send + Sync {
    fn wall(&self) -> DateTime<Utc>;
    fn mono(&self) -> Instant;
}

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn mono(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct ManualClock {
    base_wall: DateTime<Utc>,
    base_mono: Instant,
    offset: Mutex<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            base_wall: Utc::now(),
            base_mono: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *lock(&self.offset) += by;
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::from_std(*lock(&self.offset)).unwrap_or_default();
        self.base_wall + offset
    }
    fn mono(&self) -> Instant {
        self.base_mono + *lock(&self.offset)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long failures may last before the loop is reported unhealthy: three ticks, and
/// never less than a minute (a short interval must not flap on one slow minute).
pub fn unhealthy_after(interval: Duration) -> Duration {
    interval.saturating_mul(3).max(Duration::from_secs(60))
}

/// The watch loop's health as its ticks report it.
pub struct Health {
    clock: Arc<dyn Clock>,
    after: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("after", &self.after)
            .field("state", &*lock(&self.state))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct State {
    /// The first failure since the last success, on both clocks: the monotonic one
    /// decides, the wall one is what the page shows.
    failing_since: Option<(Instant, DateTime<Utc>)>,
    last_error: Option<String>,
    last_success: Option<DateTime<Utc>>,
    /// When the loop last became healthy (its start, or the success that ended an
    /// unhealthy spell).
    healthy_since: DateTime<Utc>,
    /// The latest failure, kept after recovery for the page.
    last_failure: Option<LastError>,
}

/// What `/healthz` (and the status page) shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub healthy: bool,
    /// How long the ticks have been failing, when they are.
    pub failing_for: Option<Duration>,
    /// The latest failure's message, while failing.
    pub last_error: Option<String>,
    /// The latest tick that succeeded (a check or a sync).
    pub last_success: Option<DateTime<Utc>>,
}

impl Health {
    /// Health of a loop that ticks every `interval`.
    pub fn new(interval: Duration, clock: Arc<dyn Clock>) -> Health {
        let started = clock.wall();
        Health {
            clock,
            after: unhealthy_after(interval),
            state: Mutex::new(State {
                failing_since: None,
                last_error: None,
                last_success: None,
                healthy_since: started,
                last_failure: None,
            }),
        }
    }

    /// A tick succeeded.
    pub fn succeeded(&self) {
        let now = self.clock.wall();
        let mono = self.clock.mono();
        let mut s = lock(&self.state);
        if s.failing_since
            .is_some_and(|(since, _)| self.past(since, mono))
        {
            s.healthy_since = now;
        }
        s.failing_since = None;
        s.last_error = None;
        s.last_success = Some(now);
    }

    /// A tick failed after its retries.
    pub fn failed(&self, error: &str) {
        let (mono, wall) = (self.clock.mono(), self.clock.wall());
        let mut s = lock(&self.state);
        s.failing_since.get_or_insert((mono, wall));
        s.last_error = Some(error.to_owned());
        s.last_failure = Some(LastError {
            at: wall,
            message: error.to_owned(),
        });
    }

    fn past(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) > self.after
    }

    pub fn report(&self) -> HealthReport {
        let s = lock(&self.state).clone();
        let failing_for = s
            .failing_since
            .map(|(since, _)| self.clock.mono().saturating_duration_since(since));
        HealthReport {
            healthy: failing_for.is_none_or(|d| d <= self.after),
            failing_for,
            last_error: s.last_error,
            last_success: s.last_success,
        }
    }

    /// The same verdict as [`Health::report`], as the status page shows it: unhealthy
    /// since the moment the failures outlasted the threshold, healthy since the start or
    /// the recovery, and the last failure even after recovery.
    pub fn watch_health(&self) -> WatchHealth {
        let s = lock(&self.state).clone();
        let mono = self.clock.mono();
        let unhealthy_since = s.failing_since.and_then(|(since, wall)| {
            self.past(since, mono)
                .then(|| wall + chrono::Duration::from_std(self.after).unwrap_or_default())
        });
        WatchHealth {
            healthy: unhealthy_since.is_none(),
            since: unhealthy_since.unwrap_or(s.healthy_since),
            last_error: s.last_failure,
        }
    }
}

impl HealthSource for Health {
    fn watch_health(&self) -> WatchHealth {
        Health::watch_health(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_only_after_failing_past_the_threshold_and_healthy_at_the_next_success() {
        let clock = Arc::new(ManualClock::default());
        let health = Health::new(Duration::from_secs(10), clock.clone());
        assert!(health.report().healthy);
        health.failed("Google answered 503");
        clock.advance(Duration::from_secs(60));
        health.failed("Google answered 503");
        // 60 s is the threshold for a 10 s interval (3 × 10 s is less): not past it yet.
        assert!(health.report().healthy);
        clock.advance(Duration::from_secs(1));
        let r = health.report();
        assert!(!r.healthy);
        assert_eq!(r.failing_for, Some(Duration::from_secs(61)));
        assert_eq!(r.last_error.as_deref(), Some("Google answered 503"));
        let page = health.watch_health();
        assert!(!page.healthy, "the page agrees with /healthz");
        assert_eq!(page.since, clock.base_wall + chrono::Duration::seconds(60));
        clock.advance(Duration::from_secs(5));
        health.succeeded();
        assert!(health.report().healthy);
        assert_eq!(health.report().failing_for, None);
        let page = health.watch_health();
        assert!(page.healthy);
        assert_eq!(page.since, clock.wall());
        assert_eq!(
            page.last_error.map(|e| e.message).as_deref(),
            Some("Google answered 503"),
            "the page keeps the last error after recovery"
        );
    }

    #[test]
    fn a_failure_within_the_grace_leaves_the_page_healthy_since_the_start() {
        let clock = Arc::new(ManualClock::default());
        let started = clock.wall();
        let health = Health::new(Duration::from_secs(10), clock.clone());
        clock.advance(Duration::from_secs(20));
        health.failed("Drive answered 500");
        let page = health.watch_health();
        assert!(page.healthy);
        assert_eq!(page.since, started);
        health.succeeded();
        assert_eq!(
            health.watch_health().since,
            started,
            "never unhealthy: since stays"
        );
    }

    #[test]
    fn the_threshold_is_three_intervals_but_at_least_a_minute() {
        assert_eq!(
            unhealthy_after(Duration::from_secs(5)),
            Duration::from_secs(60)
        );
        assert_eq!(
            unhealthy_after(Duration::from_secs(40)),
            Duration::from_secs(120)
        );
    }
}
