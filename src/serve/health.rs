//! `/healthz` (SPEC §10): healthy until the watch loop's checks or syncs have failed
//! (after their retries) for longer than max(3 × interval, 60 s); healthy again at the
//! next success. The clock is injected so a test can move past the threshold at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

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

#[derive(Debug, Default, Clone)]
struct State {
    /// The first failure since the last success.
    failing_since: Option<Instant>,
    last_error: Option<String>,
    last_success: Option<DateTime<Utc>>,
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
        Health {
            clock,
            after: unhealthy_after(interval),
            state: Mutex::new(State::default()),
        }
    }

    /// A tick succeeded.
    pub fn succeeded(&self) {
        let now = self.clock.wall();
        let mut s = lock(&self.state);
        s.failing_since = None;
        s.last_error = None;
        s.last_success = Some(now);
    }

    /// A tick failed after its retries.
    pub fn failed(&self, error: &str) {
        let now = self.clock.mono();
        let mut s = lock(&self.state);
        s.failing_since.get_or_insert(now);
        s.last_error = Some(error.to_owned());
    }

    pub fn report(&self) -> HealthReport {
        let s = lock(&self.state).clone();
        let failing_for = s
            .failing_since
            .map(|since| self.clock.mono().saturating_duration_since(since));
        HealthReport {
            healthy: failing_for.is_none_or(|d| d <= self.after),
            failing_for,
            last_error: s.last_error,
            last_success: s.last_success,
        }
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
        health.succeeded();
        assert!(health.report().healthy);
        assert_eq!(health.report().failing_for, None);
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
