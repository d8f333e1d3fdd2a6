//! What a caller can plug into the watch loop (`serve` does): [`Nudges`], outside news
//! that the sheet changed, which start a changed-rows tick without waiting for the next
//! Drive check; and a [`TickObserver`], told how each tick ended (health, metrics).
//!
//! Nudges fold: every notice that arrives before a tick reads the sheet is carried by
//! that one tick, so a burst of edits makes one sync.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::model::Sku;
use crate::report::{ExitStatus, Report};

/// One notification that the sheet changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// When it arrived, on this process's clock.
    pub received: Instant,
    /// When the sender says the edit was made (the sheet's clock).
    pub sent_at: DateTime<Utc>,
}

/// A shared queue of [`Notice`]s; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Nudges(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    pending: Mutex<Vec<Notice>>,
    notify: Notify,
}

impl Nudges {
    /// Queues a notice and wakes the loop.
    pub fn push(&self, notice: Notice) {
        lock(&self.0.pending).push(notice);
        self.0.notify.notify_one();
    }

    /// When the oldest queued notice arrived; `None` when none is queued.
    pub fn first_received(&self) -> Option<Instant> {
        lock(&self.0.pending).iter().map(|n| n.received).min()
    }

    /// Takes every queued notice.
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *lock(&self.0.pending))
    }

    /// Puts back notices a failed tick carried, so the tick that succeeds carries them.
    pub fn restore(&self, mut notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        let mut pending = lock(&self.0.pending);
        notices.append(&mut pending);
        *pending = notices;
    }

    /// Resolves once a notice is queued (at once if one is queued already).
    pub async fn queued(&self) {
        loop {
            let notified = self.0.notify.notified();
            if !lock(&self.0.pending).is_empty() {
                return;
            }
            notified.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which rows a run planned.
#[derive(Debug, Clone, Copy)]
pub enum Planned<'a> {
    /// Every row (a full sync).
    All,
    /// Only these SKUs' rows (a changed-rows sync).
    Rows(&'a std::collections::BTreeSet<Sku>),
}

/// Told how each tick of the watch loop ended. Called on the loop's task: keep it cheap.
pub trait TickObserver: Send + Sync {
    /// A tick ran a sync (a run, journaled): its report and exit status, which rows it
    /// planned, and the notices it carried.
    fn ran(&self, report: &Report, status: ExitStatus, planned: Planned<'_>, carried: &[Notice]);
    /// A tick checked the sheet and found nothing to sync.
    fn checked(&self);
    /// A tick failed after its retries; `run` is the exit status when the failure ended a
    /// sync (a run), `None` when it was the change check.
    fn failed(&self, error: &str, run: Option<ExitStatus>);
}

/// Observes nothing: `watch` without `serve`.
#[derive(Debug, Default)]
pub struct NoObserver;

impl TickObserver for NoObserver {
    fn ran(&self, _: &Report, _: ExitStatus, _: Planned<'_>, _: &[Notice]) {}
    fn checked(&self) {}
    fn failed(&self, _: &str, _: Option<ExitStatus>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notices_fold_until_taken_and_a_failed_tick_puts_them_back() {
        let nudges = Nudges::default();
        let at = Instant::now();
        let notice = |ms| Notice {
            received: at + std::time::Duration::from_millis(ms),
            sent_at: Utc::now(),
        };
        nudges.push(notice(5));
        nudges.push(notice(1));
        nudges.queued().await;
        assert_eq!(nudges.first_received(), Some(notice(1).received));
        let taken = nudges.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(nudges.first_received(), None);
        nudges.push(notice(9));
        nudges.restore(taken);
        assert_eq!(nudges.take().len(), 3);
    }
}
