//! Progress events (SPEC §1 "long work shows progress on a terminal"): a real `sync`
//! against the sandbox, with a recording reporter in place of the terminal's bars, reports
//! the sheet's blocks, the store's pages, the changes applied of planned and the waits
//! for the store's rate limit, each in order and each piece of work ended.

use std::sync::Arc;

use sheetsync::config::Config;
use sheetsync::engine::{Engine, RunOptions};
use sheetsync::plan::Adopt;
use sheetsync::progress::{Event, Limit, Recorder, Reporter, Work};
use sheetsync_sandbox::Sandbox;

/// The events of `work` only, in order.
fn of(events: &[Event], work: Work) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match e {
            Event::Begin { work: w, .. }
            | Event::Position { work: w, .. }
            | Event::Status { work: w, .. }
            | Event::End { work: w } => *w == work,
            Event::Wait { .. }
            | Event::Waited { .. }
            | Event::Throttled { .. }
            | Event::RateRoom { .. } => false,
        })
        .cloned()
        .collect()
}

/// The events of `work` cut into spans from each `Begin` to its `End`; asserts that
/// nothing falls outside a span.
fn spans(events: &[Event], work: Work) -> Vec<Vec<Event>> {
    let mut out: Vec<Vec<Event>> = Vec::new();
    let mut open = false;
    for e in of(events, work) {
        match e {
            Event::Begin { .. } => {
                assert!(!open, "{work:?} began twice: {events:?}");
                open = true;
                out.push(vec![e]);
            }
            _ => {
                assert!(open, "{e:?} outside a span of {work:?}");
                if matches!(e, Event::End { .. }) {
                    open = false;
                }
                if let Some(span) = out.last_mut() {
                    span.push(e);
                }
            }
        }
    }
    assert!(!open, "{work:?} never ended");
    out
}

/// One span: `Begin` first, `End` last, positions in between never going back; returns
/// the total and the positions.
fn bracketed(events: &[Event], work: Work) -> (Option<u64>, Vec<u64>) {
    let (first, last) = (events.first(), events.last());
    let Some(Event::Begin { total, .. }) = first else {
        panic!("{work:?} does not begin first: {events:?}");
    };
    assert_eq!(last, Some(&Event::End { work }), "{events:?}");
    let positions: Vec<u64> = events[1..events.len() - 1]
        .iter()
        .map(|e| match e {
            Event::Position { done, .. } => *done,
            other => panic!("{other:?} between begin and end of {work:?}"),
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "{work:?} went back: {positions:?}"
    );
    (*total, positions)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_reports_blocks_pages_changes_and_rate_limit_waits_in_order() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    // A bucket that holds a little more than one page: the client waits for it.
    sandbox.shopify.set_bucket(400.0, 200.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sandbox.write_config(dir.path(), "").expect("config");
    let config = Config::load(&path, &|_| None).expect("load config");
    let mut engine = Engine::connect(config).await.expect("connect");
    // Blocks of 250 rows over the 9 configured columns, so the demo tab's grid of 1,000
    // rows is read in four.
    engine.sheets = engine.sheets.with_cells_per_read(250 * 9);
    let recorder = Arc::new(Recorder::default());
    engine.set_progress(Reporter::new(recorder.clone()));
    let opts = RunOptions {
        adopt: Some(Adopt::Sheet),
        run_id: "progress-1".into(),
        started_at: "2026-03-01T12:00:00Z".into(),
        ..RunOptions::default()
    };
    let report = engine.sync(&opts).await.expect("the run completes");
    let events = recorder.events();

    // Each read of the tab in blocks (the plan's read, write-back's re-read) is a span.
    let reads = spans(&events, Work::SheetRows);
    assert!(!reads.is_empty(), "{events:?}");
    for (i, span) in reads.iter().enumerate() {
        let (rows, read) = bracketed(span, Work::SheetRows);
        assert_eq!(rows, Some(1000), "the grid's row count: {span:?}");
        assert_eq!(read.last(), Some(&1000), "every row read: {span:?}");
        assert!(read.len() >= 2, "several blocks: {span:?}");
        if i == 0 {
            assert_eq!(read, [250, 500, 750, 1000], "the plan's read: {span:?}");
        }
    }

    let snapshots = spans(&events, Work::StoreVariants);
    assert_eq!(
        snapshots.len(),
        1,
        "one paged read of the store: {snapshots:?}"
    );
    let (total, pages) = bracketed(&snapshots[0], Work::StoreVariants);
    assert_eq!(total, None, "the store's size is not known up front");
    // One position a page the store answered.
    let answered = sandbox
        .shopify
        .requests()
        .iter()
        .filter(|r| {
            r.root_fields.iter().any(|f| f == "productVariants") && r.error_codes.is_empty()
        })
        .count();
    assert_eq!(pages.len(), answered, "{pages:?}");
    assert!(pages.windows(2).all(|w| w[0] < w[1]), "{pages:?}");
    assert!(pages.last().is_some_and(|&n| n > 0), "{pages:?}");

    let applying = spans(&events, Work::Apply);
    assert_eq!(applying.len(), 1, "{applying:?}");
    let (planned, applied) = bracketed(&applying[0], Work::Apply);
    assert_eq!(planned, Some(report.changes.len() as u64));
    assert!(report.summary.applied > 0, "{:?}", report.summary);
    assert_eq!(
        applied.last().copied(),
        planned,
        "every change ended: {applied:?}"
    );

    // Reads come before writes: the store's pages end before applying begins.
    let at = |e: &Event| events.iter().position(|x| x == e).expect("event");
    assert!(
        at(&Event::End {
            work: Work::StoreVariants
        }) < at(&Event::Begin {
            work: Work::Apply,
            total: planned
        })
    );

    // The small bucket made requests wait, and every wait ended.
    let waits = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Wait {
                    limit: Limit::Store,
                    ..
                }
            )
        })
        .count();
    let waited = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Waited {
                    limit: Limit::Store
                }
            )
        })
        .count();
    assert!(waits > 0, "a 400-point bucket makes the run wait");
    assert_eq!(waits, waited);
}
