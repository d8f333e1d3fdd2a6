//! Writes to a store without compare-and-set (WooCommerce, SPEC §8), honestly:
//!
//! - changes go per item, items in batches of at most `capabilities().batch_limit`
//!   (variations grouped per parent, since a batch route is per parent); product fields of
//!   a variation's row go to its parent, shared stock to the item that holds it;
//! - right before each batch is sent its items are read again, and a change whose item
//!   moved since the plan is planned again as in 4.3 (`plan::replan_value`: three-way, a
//!   conflict the sheet wins; sheet-wins, written with a note; already there, not sent);
//! - the batch is journaled before it is sent; each item's answer decides its changes
//!   (WooCommerce saves an item whole or not at all, and says why it refused one);
//! - a batch whose answer was lost (a timeout: `woocommerce.timeout`, a dropped
//!   connection, a 5xx other than 503) is re-read, never re-sent (`after_lost_answer`),
//!   and each change's report says it was judged by that re-read;
//! - after the last batch the orders placed or changed since a few seconds before the
//!   first re-read are listed once, each matched to the batches whose window (a few
//!   seconds before its re-read to after its answer) it falls in, and a change whose item
//!   one of them holds gets the note `possible concurrent sale: order #N`: no API can
//!   exclude a sale inside that window, so the report says so instead of claiming it. A
//!   note never changes a status.

use std::collections::{BTreeMap, HashMap};

use futures_util::stream::{self, StreamExt};

use super::{Ended, Executor, Outcome, Outcomes, Part, SKIP_CHANGED_SINCE};
use crate::model::Field;
use crate::plan::{self, Baseline, Change, Plan, Replan};
use crate::state::Outcome as Settled;
use crate::store::{ItemResult, ItemWrite};

/// How long before the re-read the order window opens: order times are in whole seconds
/// and the two clocks differ.
const WINDOW_SLACK_SECS: i64 = 5;

/// The note a change gets when an order in its write window holds its item.
pub const NOTE_CONCURRENT_SALE: &str = "possible concurrent sale: order #";

/// (parent, item) a change is written to: empty parent = a product.
fn target(c: &Change) -> (String, String) {
    let parent_of = |item: &str| {
        if item != c.product_id {
            c.product_id.clone()
        } else {
            String::new()
        }
    };
    if c.key.field.is_product() {
        (String::new(), c.product_id.clone())
    } else if c.key.field == Field::Inventory {
        (parent_of(&c.inventory_item_id), c.inventory_item_id.clone())
    } else {
        (parent_of(&c.variant_id), c.variant_id.clone())
    }
}

/// One batch: its parent and its items with the change indices each carries.
type Batch = (String, Vec<(String, Vec<usize>)>);

/// One batch's write window: from a few seconds before its re-read to after its answer
/// (or the re-read that replaced a lost one), with the changes it applied.
struct Window {
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    applied: Vec<(usize, Change)>,
}

impl Executor<'_> {
    /// Every change in `indices` by batches with a re-read before each.
    pub(super) async fn apply_batched(
        &self,
        plan: &Plan,
        indices: &[usize],
        baseline: &Baseline,
        out: &mut Outcomes,
    ) {
        let limit = self.store.capabilities().batch_limit.max(1);
        let mut by_parent: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
        for &i in indices {
            let (parent, item) = target(&plan.changes[i]);
            by_parent
                .entry(parent)
                .or_default()
                .entry(item)
                .or_default()
                .push(i);
        }
        let mut batches: Vec<Batch> = Vec::new();
        for (parent, items) in by_parent {
            let items: Vec<(String, Vec<usize>)> = items.into_iter().collect();
            for chunk in items.chunks(limit) {
                batches.push((parent.clone(), chunk.to_vec()));
            }
        }
        let in_flight = self
            .store
            .capabilities()
            .max_in_flight
            .clamp(1, super::MAX_IN_FLIGHT);
        let mut parts = stream::iter(batches.into_iter().enumerate())
            .map(|(n, batch)| self.batch(plan, n, batch, baseline))
            .buffered(in_flight);
        let mut windows: Vec<Window> = Vec::new();
        while let Some((part, window)) = parts.next().await {
            out.absorb(part);
            windows.extend(window);
        }
        drop(parts);
        self.note_window_orders(&windows, out).await;
    }

    async fn batch(
        &self,
        plan: &Plan,
        n: usize,
        batch: Batch,
        baseline: &Baseline,
    ) -> (Part, Option<Window>) {
        let (part, window) = self.batch_part(plan, n, batch, baseline).await;
        (part, window.filter(|w| !w.applied.is_empty()))
    }

    async fn batch_part(
        &self,
        plan: &Plan,
        n: usize,
        batch: Batch,
        baseline: &Baseline,
    ) -> (Part, Option<Window>) {
        let (parent, items) = batch;
        let mut part = Part::default();
        let all: Vec<(usize, Change)> = items
            .iter()
            .flat_map(|(_, idx)| idx.iter().map(|&i| (i, plan.changes[i].clone())))
            .collect();
        if let Some(o) = self.interrupted() {
            for (i, _) in all {
                part.set(i, o.clone());
            }
            return (part, None);
        }
        let since = chrono::Utc::now() - chrono::Duration::seconds(WINDOW_SLACK_SECS);
        let mut ids: Vec<String> = all.iter().map(|(_, c)| c.variant_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let fresh: HashMap<String, plan::StoreVariant> =
            match self.store.variants_by_ids(&ids, &[]).await {
                Ok(list) => list
                    .into_iter()
                    .map(|(_, v)| (v.variant_id.to_string(), v))
                    .collect(),
                Err(e) => {
                    for (i, _) in all {
                        part.set(
                            i,
                            Outcome::new(super::ended_by(&e).map_failed(|m| {
                                format!(
                                    "the re-read before the write failed, so nothing was sent: {m}"
                                )
                            })),
                        );
                    }
                    return (part, None);
                }
            };
        let mut send: Vec<(usize, Change)> = Vec::new();
        for (i, c) in all {
            let Some(v) = fresh.get(&c.variant_id) else {
                part.set(
                    i,
                    Outcome::new(Ended::Skipped("item is no longer in the store".into())),
                );
                continue;
            };
            let now = v.value(&c.key);
            if now == c.from {
                send.push((i, c));
                continue;
            }
            let base = baseline.get(&(c.sku.clone(), c.key.clone()));
            let (decision, conflict) = plan::replan_value(&c, now.clone(), self.policy, base);
            if self.never_overwrite && matches!(decision, Replan::Set(_)) {
                part.set(
                    i,
                    Outcome {
                        ended: Ended::Skipped(SKIP_CHANGED_SINCE.to_owned()),
                        from: Some(now),
                        note: None,
                    },
                );
                continue;
            }
            part.conflicts.extend(conflict);
            match decision {
                Replan::Set(next) => send.push((i, next)),
                Replan::AlreadyThere => part.set(
                    i,
                    Outcome {
                        ended: Ended::Applied,
                        from: Some(now),
                        note: Some("store already had this value".into()),
                    },
                ),
                Replan::Skip(reason) => part.set(i, Outcome::new(Ended::Skipped(reason))),
            }
        }
        if send.is_empty() {
            return (part, None);
        }

        // One write per item, in first-seen order, each with the changes it carries.
        let mut writes: Vec<ItemWrite> = Vec::new();
        let mut carried: Vec<Vec<usize>> = Vec::new();
        for (pos, (_, c)) in send.iter().enumerate() {
            let (_, item) = target(c);
            let at = match writes.iter().position(|w| w.item_id == item) {
                Some(at) => at,
                None => {
                    writes.push(ItemWrite {
                        item_id: item,
                        parent: parent.clone(),
                        fields: Vec::new(),
                    });
                    carried.push(Vec::new());
                    writes.len() - 1
                }
            };
            writes[at].fields.push((c.key.clone(), c.to.clone()));
            carried[at].push(pos);
        }
        let (operation, body) = self.store.batch_body(&parent, &writes);
        let key = format!("{}-batch-{n}", self.run_id);
        let journal = match self.journal(&key, operation, &body) {
            Ok(id) => id,
            Err(o) => {
                for (i, _) in send {
                    part.set(i, o.clone());
                }
                return (part, None);
            }
        };
        let keep = |c: &Change, o: Outcome| Outcome {
            from: Some(c.from.clone()),
            note: c.note.clone(),
            ..o
        };
        let mut applied: Vec<(usize, Change)> = Vec::new();
        match self.store.send_batch(&parent, &body, writes.len()).await {
            Ok(results) => {
                let mut saved = 0usize;
                for (positions, result) in
                    carried
                        .iter()
                        .zip(
                            results
                                .into_iter()
                                .chain(std::iter::repeat(ItemResult::Refused {
                                    code: String::new(),
                                    message: "no answer for this item".into(),
                                })),
                        )
                {
                    for &pos in positions {
                        let (i, c) = &send[pos];
                        let ended = match &result {
                            ItemResult::Saved => {
                                applied.push((*i, c.clone()));
                                Ended::Applied
                            }
                            ItemResult::Refused { code, message } if code.is_empty() => {
                                Ended::Failed(format!("WooCommerce refused the item: {message}"))
                            }
                            ItemResult::Refused { code, message } => Ended::Failed(format!(
                                "WooCommerce refused the item ({code}): {message}"
                            )),
                        };
                        part.set(*i, keep(c, Outcome::new(ended)));
                    }
                    if result == ItemResult::Saved {
                        saved += 1;
                    }
                }
                let settled = if saved == 0 {
                    Settled::Failed
                } else {
                    Settled::Applied
                };
                self.settle(
                    journal,
                    settled,
                    &format!("{saved} of {} items saved", writes.len()),
                );
            }
            Err(e) => {
                // Re-read (never re-sent) when the answer was lost: the report says how
                // each change was judged, so a lost answer is never passed off as one heard.
                let lost = e.outcome_unknown();
                for (i, o) in self.after_lost_answer(journal, &e, &send).await {
                    if let Some((_, c)) = send.iter().find(|(j, _)| *j == i) {
                        let mut o = keep(c, o);
                        match &mut o.ended {
                            Ended::Applied => {
                                applied.push((i, c.clone()));
                                if lost {
                                    let text = format!(
                                        "answer lost ({e}); a re-read found the value in the store, so the batch was not sent again"
                                    );
                                    o.note = Some(match o.note.take() {
                                        Some(n) => format!("{n}; {text}"),
                                        None => text,
                                    });
                                }
                            }
                            // WooCommerce may still be saving a batch whose answer timed
                            // out: not sending it again leaves the next run's read to tell.
                            Ended::Failed(m) if lost => m.push_str(
                                "; not sent again: if the store saves it late, the next run's read finds it",
                            ),
                            _ => {}
                        }
                        part.set(i, o);
                    }
                }
            }
        }
        let window = Window {
            since,
            until: chrono::Utc::now(),
            applied,
        };
        (part, Some(window))
    }

    /// Names, in the notes of each window's applied changes, the orders that may have
    /// sold their items inside that window: one orders read for the whole run (from the
    /// earliest window's start), each order matched to a window by its dates. An order
    /// changed since the window opened counts unless it was placed after the window
    /// closed (its sale came after the write): the same orders a read right after the
    /// batch would have named, minus sales that came later.
    async fn note_window_orders(&self, windows: &[Window], out: &mut Outcomes) {
        let Some(since) = windows.iter().map(|w| w.since).min() else {
            return;
        };
        let add = |out: &mut Outcomes, i: usize, text: String| {
            if let Some(o) = out.changes.get_mut(i).and_then(Option::as_mut) {
                o.note = Some(match o.note.take() {
                    Some(n) => format!("{n}; {text}"),
                    None => text,
                });
            }
        };
        let orders = match self.store.orders_since(since).await {
            Ok(orders) => orders,
            Err(e) => {
                tracing::warn!(error = %e, "Could not list the orders of the write windows");
                for (i, _) in windows.iter().flat_map(|w| &w.applied) {
                    add(
                        out,
                        *i,
                        format!(
                            "the orders of the write window could not be read ({e}); a concurrent sale cannot be ruled out"
                        ),
                    );
                }
                return;
            }
        };
        let slack = chrono::Duration::seconds(WINDOW_SLACK_SECS);
        // Order dates are whole seconds.
        let floor = |t: chrono::DateTime<chrono::Utc>| {
            t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
        };
        for w in windows {
            let inside: Vec<&crate::store::WindowOrder> = orders
                .iter()
                .filter(|o| {
                    // A date the store did not give cannot rule an order out.
                    o.modified.is_none_or(|m| m >= floor(w.since))
                        && o.created.is_none_or(|c| c <= w.until + slack)
                })
                .collect();
            for (i, c) in &w.applied {
                let numbers: Vec<&str> = inside
                    .iter()
                    .filter(|o| {
                        o.items.iter().any(|item| {
                            *item == c.variant_id
                                || *item == c.inventory_item_id
                                || (c.key.field.is_product() && *item == c.product_id)
                        })
                    })
                    .map(|o| o.number.as_str())
                    .collect();
                if !numbers.is_empty() {
                    let text = numbers
                        .iter()
                        .map(|n| format!("{NOTE_CONCURRENT_SALE}{n}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    add(out, *i, text);
                }
            }
        }
    }
}

impl Ended {
    /// The same ending with a failure's message rewritten.
    fn map_failed(self, f: impl FnOnce(String) -> String) -> Ended {
        match self {
            Ended::Failed(m) => Ended::Failed(f(m)),
            other => other,
        }
    }
}
