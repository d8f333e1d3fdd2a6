//! Progress of long work, as events (SPEC §1: rows read, changes applied, waits for the
//! rate limit). The low layers (`sheet`, `store`, `apply`) report [`Event`]s to a
//! [`Reporter`] and know nothing of terminals; the one rendering, with progress bars, lives
//! in `cli` and is chosen there only for a terminal. Everything else gets
//! [`Reporter::silent`], which drops the events.

use std::sync::Arc;
use std::time::Duration;

/// A piece of long work that progress is shown for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// Rows of a big tab, read in blocks.
    SheetRows,
    /// Store variants, read page by page.
    StoreVariants,
    /// A bulk export of the catalogue (its job's status and object count).
    BulkExport,
    /// A bulk mutation carrying variant fields (its job's status and object count).
    BulkMutation,
    /// Planned changes that have ended (applied, failed or skipped).
    Apply,
}

/// Whose rate limit a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Shopify's cost bucket (or a `THROTTLED` answer).
    Store,
    /// Google's per-minute request quota.
    Google,
}

/// One thing that happened to long work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `work` started; `total` when it is known up front.
    Begin { work: Work, total: Option<u64> },
    /// `done` units of `work` have finished (an absolute position, not a step).
    Position { work: Work, done: u64 },
    /// A job's status as the store reported it, with the objects it has so far.
    Status {
        work: Work,
        status: String,
        objects: Option<u64>,
    },
    /// `work` is over, whether it succeeded or not.
    End { work: Work },
    /// A request waits `wait` for `limit` before it is sent.
    Wait { limit: Limit, wait: Duration },
    /// That wait is over.
    Waited { limit: Limit },
    /// A service told a request to slow down: Shopify's `THROTTLED` or HTTP 429, or
    /// Google's 429 (the request is retried; `serve` counts these).
    Throttled { limit: Limit },
    /// The store's rate budget as its last answer left it: points available now.
    RateRoom { available: u64 },
}

/// Receives events; implementations must be cheap, as they are called on hot paths.
pub trait Progress: Send + Sync {
    fn report(&self, event: Event);
}

/// A shared handle on a [`Progress`]; the default drops every event.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Progress>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

impl Default for Reporter {
    fn default() -> Reporter {
        Reporter::silent()
    }
}

struct Silent;

impl Progress for Silent {
    fn report(&self, _: Event) {}
}

impl Reporter {
    /// Drops every event: for `--json`, `-q`, a non-terminal stderr, and libraries.
    pub fn silent() -> Reporter {
        Reporter(Arc::new(Silent))
    }

    pub fn new(progress: Arc<dyn Progress>) -> Reporter {
        Reporter(progress)
    }

    pub fn report(&self, event: Event) {
        self.0.report(event);
    }

    pub fn begin(&self, work: Work, total: Option<u64>) {
        self.report(Event::Begin { work, total });
    }

    pub fn position(&self, work: Work, done: u64) {
        self.report(Event::Position { work, done });
    }

    pub fn end(&self, work: Work) {
        self.report(Event::End { work });
    }

    /// Begins `work` now and ends it when the returned guard is dropped, on every path
    /// out of the work (errors included).
    #[must_use = "the work ends when the guard is dropped"]
    pub fn task(&self, work: Work, total: Option<u64>) -> Task {
        self.begin(work, total);
        Task {
            reporter: self.clone(),
            work,
        }
    }

    /// Runs `wait` (a sleep for `limit`), reporting it before and after.
    pub async fn waiting<F: std::future::Future>(
        &self,
        limit: Limit,
        wait: Duration,
        sleep: F,
    ) -> F::Output {
        self.report(Event::Wait { limit, wait });
        let out = sleep.await;
        self.report(Event::Waited { limit });
        out
    }
}

/// Ends its work when dropped (see [`Reporter::task`]).
pub struct Task {
    reporter: Reporter,
    work: Work,
}

impl Drop for Task {
    fn drop(&mut self) {
        self.reporter.end(self.work);
    }
}

/// Keeps every event, in order: for tests of what a layer reports.
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<Event>>);

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Progress for Recorder {
    fn report(&self, event: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_ends_on_every_path_out_of_the_work() {
        let recorder = Arc::new(Recorder::default());
        let reporter = Reporter::new(recorder.clone());
        let failing = |r: &Reporter| -> Result<(), &'static str> {
            let _task = r.task(Work::Apply, Some(2));
            r.position(Work::Apply, 1);
            Err("the store went away")?;
            r.position(Work::Apply, 2);
            Ok(())
        };
        assert!(failing(&reporter).is_err());
        assert_eq!(
            recorder.events(),
            [
                Event::Begin {
                    work: Work::Apply,
                    total: Some(2)
                },
                Event::Position {
                    work: Work::Apply,
                    done: 1
                },
                Event::End { work: Work::Apply },
            ]
        );
        // The silent reporter takes the same calls and keeps nothing.
        let silent = Reporter::default();
        let _task = silent.task(Work::SheetRows, None);
        silent.position(Work::SheetRows, 5);
    }
}
