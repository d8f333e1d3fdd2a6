//! Progress bars on a terminal (SPEC §1): the indicatif rendering of the engine's
//! [`crate::progress`] events, and the log writer that keeps tracing output and the bars
//! from drawing over each other. The engine's layers only report events; whether they
//! are drawn is decided here ([`wanted`]): never with `--json`, `-q` or a stderr that is
//! not a terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Event, Limit, Progress, Reporter, Work};

/// Waits shorter than this are not drawn: the bucket makes many short waits, and a line
/// that flashes for a tenth of a second says nothing.
const SHOWN_WAIT: Duration = Duration::from_millis(900);

/// Whether progress is drawn: only on a terminal, and never for machine-read or quiet
/// output.
pub(crate) fn wanted(json: bool, quiet: bool, stderr_is_terminal: bool) -> bool {
    !json && !quiet && stderr_is_terminal
}

/// The one set of bars of the process, shared with the log writer so that a log line
/// suspends the bars while it is written.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// The reporter a command hands to the engine: bars when [`wanted`], else silent.
pub(crate) fn reporter(json: bool, quiet: bool) -> (Reporter, Option<Arc<Bars>>) {
    use std::io::IsTerminal;
    if wanted(json, quiet, std::io::stderr().is_terminal()) {
        let bars = Arc::new(Bars::default());
        (Reporter::new(bars.clone()), Some(bars))
    } else {
        (Reporter::silent(), None)
    }
}

/// A tracing writer for stderr that suspends the bars while a line is written.
#[derive(Clone, Copy, Default)]
pub(crate) struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        multi().suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

/// The bars of one command: one per piece of work in progress, and one for a wait.
#[derive(Default)]
pub(crate) struct Bars {
    bars: Mutex<HashMap<Work, ProgressBar>>,
    /// Requests waiting for a rate limit now, and the bar that says so.
    waits: Mutex<(usize, Option<ProgressBar>)>,
}

fn label(work: Work) -> &'static str {
    match work {
        Work::SheetRows => "Reading the sheet",
        Work::StoreVariants => "Reading the store",
        Work::BulkExport => "Bulk export",
        Work::BulkMutation => "Bulk mutation",
        Work::Apply => "Applying changes",
    }
}

fn unit(work: Work) -> &'static str {
    match work {
        Work::SheetRows => "rows",
        Work::StoreVariants => "variants",
        Work::BulkExport | Work::BulkMutation => "objects",
        Work::Apply => "changes",
    }
}

fn bar_for(work: Work, total: Option<u64>) -> ProgressBar {
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    // Hidden until it joins the drawn set: a bar on its own draw target would draw its
    // first frame (at `set_prefix`) outside the set, which then never clears it.
    let pb = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    let pb = match total {
        Some(_) => pb.with_style(
            style("{spinner} {prefix} [{bar:30}] {human_pos}/{human_len} {msg} ({elapsed})")
                .progress_chars("=> "),
        ),
        None => pb.with_style(style("{spinner} {prefix} {msg} ({elapsed})")),
    };
    pb.set_prefix(label(work));
    pb.set_message(unit(work));
    pb
}

/// Adds `pb` to the drawn set, then starts its ticker (a tick before it joins the set
/// would draw outside it, as above).
fn shown(pb: ProgressBar) -> ProgressBar {
    let pb = multi().add(pb);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

impl Bars {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Work, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bar of `work`, made (as a spinner) when an event comes before its `Begin`.
    fn with_bar(&self, work: Work, f: impl FnOnce(&ProgressBar)) {
        let mut bars = self.lock();
        let pb = bars
            .entry(work)
            .or_insert_with(|| shown(bar_for(work, None)));
        f(pb);
    }

    /// Removes every bar still drawn (a command ends, possibly on an error).
    pub(crate) fn clear(&self) {
        for (_, pb) in self.lock().drain() {
            pb.finish_and_clear();
            multi().remove(&pb);
        }
        let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pb) = waits.1.take() {
            pb.finish_and_clear();
            multi().remove(&pb);
        }
        waits.0 = 0;
        // Bars that ended within one draw can leave their last frame behind; wipe the
        // whole drawn area before the report is printed under it.
        let _ = multi().clear();
    }
}

impl Progress for Bars {
    fn report(&self, event: Event) {
        match event {
            Event::Begin { work, total } => {
                let pb = shown(bar_for(work, total));
                if let Some(old) = self.lock().insert(work, pb) {
                    old.finish_and_clear();
                    multi().remove(&old);
                }
            }
            Event::Position { work, done } => self.with_bar(work, |pb| pb.set_position(done)),
            Event::Status {
                work,
                status,
                objects,
            } => self.with_bar(work, |pb| {
                let status = status.to_lowercase();
                pb.set_message(match objects {
                    Some(n) => format!("{status}, {n} objects"),
                    None => status,
                });
            }),
            Event::End { work } => {
                if let Some(pb) = self.lock().remove(&work) {
                    pb.finish_and_clear();
                    multi().remove(&pb);
                }
            }
            Event::Wait { limit, wait } => {
                let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
                waits.0 += 1;
                if wait < SHOWN_WAIT {
                    return;
                }
                let whose = match limit {
                    Limit::Store => "the store's rate limit",
                    Limit::Google => "Google's request quota",
                };
                let pb = waits.1.get_or_insert_with(|| {
                    shown(bar_for(Work::Apply, None).with_prefix("Waiting"))
                });
                pb.set_message(format!(
                    "waiting {} s for {whose}",
                    wait.as_secs_f64().ceil()
                ));
            }
            // Counted by `serve`'s metrics; a wait for them is shown as `Wait`.
            Event::Throttled { .. } | Event::RateRoom { .. } => {}
            Event::Waited { .. } => {
                let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
                waits.0 = waits.0.saturating_sub(1);
                if waits.0 == 0
                    && let Some(pb) = waits.1.take()
                {
                    pb.finish_and_clear();
                    multi().remove(&pb);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_drawn_only_on_a_terminal_without_json_or_quiet() {
        assert!(wanted(false, false, true));
        assert!(!wanted(true, false, true), "--json");
        assert!(!wanted(false, true, true), "-q");
        assert!(!wanted(false, false, false), "stderr not a terminal");
        assert!(!wanted(true, true, false));
    }

    #[test]
    fn bars_follow_the_events_and_clear_when_the_work_ends() {
        let bars = Bars::default();
        bars.report(Event::Begin {
            work: Work::Apply,
            total: Some(4),
        });
        bars.report(Event::Position {
            work: Work::Apply,
            done: 3,
        });
        assert_eq!(
            bars.lock().get(&Work::Apply).map(ProgressBar::position),
            Some(3)
        );
        bars.report(Event::Wait {
            limit: Limit::Store,
            wait: Duration::from_secs(12),
        });
        let message = bars
            .waits
            .lock()
            .unwrap()
            .1
            .as_ref()
            .map(ProgressBar::message);
        assert_eq!(
            message.as_deref(),
            Some("waiting 12 s for the store's rate limit")
        );
        bars.report(Event::Waited {
            limit: Limit::Store,
        });
        assert!(bars.waits.lock().unwrap().1.is_none());
        bars.report(Event::End { work: Work::Apply });
        assert!(bars.lock().is_empty());
    }
}
