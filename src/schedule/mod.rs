//! Long-running modes (SPEC §1): `watch`, which follows the sheet's edits within an
//! interval, and `schedule`, a full sync on a cron expression or a fixed period.
//!
//! Both hold the writer lock (SPEC §4.10) for their whole life, log one info line per
//! tick, survive a failing tick (logged, retried later with backoff: never a crash loop)
//! and stop cleanly: the first SIGINT/SIGTERM (`stop`) lets the tick in flight finish,
//! a second (`hard`) also cancels the run between requests. The fleet's worker drains a
//! pair instead ([`Shutdown::drain`]): the tick ends at its next batch boundary.
//!
//! - `drive`: the cheap Drive `files.get` change check;
//! - `watch`: the watch loop and its content diff;
//! - `nudge`: what `serve` plugs into it (change notifications, an observer of ticks);
//! - `cron`: the `schedule` loop.

mod cron;
pub mod drive;
pub mod nudge;
mod watch;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use cron::{When, WhenError, schedule};
pub use nudge::{NoObserver, Notice, Nudges, Planned, TickObserver};
pub use watch::{WatchOptions, row_contents, watch, watch_with};

use crate::engine::{Engine, EngineError, RunOptions};
use crate::state::WriterGuard;

/// How a long-running command is stopped: `stop` ends the loop once the tick in flight
/// is done; `drain` (with `stop`) ends the tick itself at its next safe point: reads and
/// planning in progress are abandoned, a batch already started finishes (its rate-limit
/// waits and retries included) and is journaled, no new batch starts and the sheet is not
/// written back. `hard` also cancels that batch between requests (the rest end `skipped`).
///
/// `drain` is a child of `hard` in [`Shutdown::default`], so `hard` implies it; a run's
/// [`RunOptions::cancel`] is `drain`, the clients' waits listen to `hard` only, which is
/// what lets a started batch finish under `drain`.
#[derive(Debug, Clone)]
pub struct Shutdown {
    pub stop: CancellationToken,
    pub drain: CancellationToken,
    pub hard: CancellationToken,
}

impl Default for Shutdown {
    fn default() -> Self {
        let hard = CancellationToken::new();
        Shutdown {
            stop: CancellationToken::new(),
            drain: hard.child_token(),
            hard,
        }
    }
}

impl Shutdown {
    /// Stops at the next safe point: `stop` and `drain` (see the type's doc).
    pub fn drain(&self) {
        self.drain.cancel();
        self.stop.cancel();
    }

    /// `fut`, unless `drain` fires first: for reads, which a drained tick abandons (they
    /// wrote nothing). Never for a future that sends writes. `hard` alone (a second
    /// signal to `watch`) does not drop them: its contract is that the request in flight
    /// finishes, and the clients' waits already end on it.
    pub async fn unless_drained<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        let drained = async {
            self.drain.cancelled().await;
            if self.hard.is_cancelled() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            () = drained => None,
            out = fut => Some(out),
        }
    }
}

/// Takes the writer lock for the engine's (shop, spreadsheet, tab) for `holder`.
pub fn hold_lock(engine: &Engine, holder: &str) -> Result<WriterGuard, EngineError> {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let command = holder.rsplit(' ').next().unwrap_or(holder);
    engine.take_writer(command, &format!("{holder}, started {started}"))
}

/// The options of one tick's run: a fresh run id, the lock already held.
fn tick_options(shutdown: &Shutdown) -> RunOptions {
    let now = chrono::Utc::now();
    RunOptions {
        run_id: format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), fastrand::u16(..)),
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        // Checked before each batch: `drain` (implied by `hard`) stops the next one.
        cancel: shutdown.drain.clone(),
        lock_held: true,
        ..RunOptions::default()
    }
}

/// Spacing after failed ticks: doubles from `base` with each failure in a row, up to
/// `cap`; one success resets it.
#[derive(Debug, Clone)]
struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before the next try.
    fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(self.failures.saturating_sub(1).min(16));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// A one-line summary of a tick's report for the info log.
fn summary(report: &crate::report::Report) -> String {
    let s = &report.summary;
    let mut parts = vec![format!("{} applied", s.applied)];
    if s.failed > 0 {
        parts.push(format!("{} failed", s.failed));
    }
    if s.skipped > 0 {
        parts.push(format!("{} skipped", s.skipped));
    }
    let pulled = report
        .pulled
        .iter()
        .filter(|p| p.status == Some(crate::report::Status::Applied))
        .count();
    if pulled > 0 {
        parts.push(format!("{pulled} pulled"));
    }
    if !report.conflicts.is_empty() {
        parts.push(format!("{} conflicts", report.conflicts.len()));
    }
    if s.errors > 0 {
        parts.push(format!("{} row errors", s.errors));
    }
    if !report.refused.is_empty() {
        parts.push("refused".to_owned());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
        let waits: Vec<u64> = (0..5).map(|_| b.failed().as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 60, 60]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_secs(10));
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(b.failed(), Duration::from_secs(10));
        assert_eq!(b.failed(), Duration::from_secs(10));
    }
}
