//! The executor: turns a plan into Shopify requests and gives every change one outcome
//! (`applied`, `failed` with the reason, or `skipped`), never aborting the batch for one
//! failure (SPEC §4.7, DESIGN step 4).
//!
//! - Variant fields go per product through `productVariantsBulkUpdate` with partial
//!   updates; each userError is mapped back to its variant and field.
//! - Stock goes through `inventorySetQuantities`, up to 250 items a call, compare-and-set
//!   against the quantity the plan read. A call is all-or-nothing: a stale or not-stocked
//!   answer anywhere re-reads every item of the call and re-plans it (SPEC §4.3) under a
//!   new idempotency key. Items without a level are activated with `inventoryActivate`.
//! - Every mutation is journaled (key and exact body bytes) before it is sent and settled
//!   after; the transport re-sends the same bytes on retryable failures. A request that
//!   cannot be journaled is never sent: its changes end `skipped` ([`SKIP_NOT_JOURNALED`]).
//! - A request whose answer was lost after the retries (timeout, dropped connection, 5xx:
//!   [`StoreError::outcome_unknown`]) is never assumed either way: its items are re-read
//!   by id, and a change is `applied` if the store holds its target, `failed` if it does
//!   not, and [`Ended::Unknown`] (reported `failed` with `"outcome": "unknown"`) if the
//!   re-read fails too. The journal keeps such a request open, with a note, so the next
//!   full run settles it by re-reading (`recover`), never by re-sending it.
//! - Independent requests (one product's fields, one stock call with its re-plans, one
//!   activation) are in flight together, as many as the cost bucket holds at the
//!   operation's expected cost and at most [`MAX_IN_FLIGHT`]: the transport charges each
//!   before it is sent, so concurrency only fills the wait that latency would leave idle.
//!   Outcomes are kept by change index and merged in plan order, so they do not depend on
//!   which answer came first.

mod batch_create;
mod batched;
mod bulk;
mod create;
mod product;
mod publish;
pub mod recover;

use std::collections::{BTreeMap, HashMap};

use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::config::Policy;
use crate::model::{Currency, Field, FieldKey, LocationName, Sku, Value};
use crate::plan::{self, Baseline, Change, Conflict, Plan, Replan};
use crate::progress::{Reporter, Work};
use crate::report::{BulkMutationReport, Report, Status};
use std::sync::Mutex;

use crate::state::{Outcome as Settled, StateStore};
use crate::store::{
    ActivateOutcome, Patch, SetOutcome, SetQuantity, Store, StoreError, UserError, VariantOutcome,
    VariantUpdate,
};

/// The reason a stale stock change ends `skipped` under [`Executor::never_overwrite`].
pub const SKIP_CHANGED_SINCE: &str = "store changed since the values were read";

/// Most requests of one kind in flight at once. Beyond a handful, latency is hidden and
/// the bucket is the only limit; more would just queue in the transport.
pub const MAX_IN_FLIGHT: usize = 8;

/// Userror codes after which the items of a stock call are re-read and re-planned.
const REPLAN_CODES: [&str; 3] = [
    "CHANGE_FROM_QUANTITY_STALE",
    "ITEM_NOT_STOCKED_AT_LOCATION",
    "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
];

/// The reason a change ends `skipped` when its request could not be journaled: a request
/// is journaled before it is sent, or not sent at all.
pub const SKIP_NOT_JOURNALED: &str = "could not journal the request, so it was not sent";

/// Where one change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Applied,
    Failed(String),
    Skipped(String),
    /// Sent, its answer lost, and the re-read that would tell failed too: it may or may
    /// not have taken effect. Reported `failed` with `"outcome": "unknown"`.
    Unknown(String),
}

/// The outcome of one planned change, with what a re-plan changed about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ended: Ended,
    /// The store value the change was finally sent against, when a re-plan moved it.
    pub from: Option<Option<Value>>,
    pub note: Option<String>,
}

impl Outcome {
    fn new(ended: Ended) -> Outcome {
        Outcome {
            ended,
            from: None,
            note: None,
        }
    }
}

/// Outcomes by change index, and conflicts that re-plans discovered.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub changes: Vec<Option<Outcome>>,
    pub conflicts: Vec<Conflict>,
    /// The bulk mutation that carried the variant fields, when one did.
    pub bulk_mutation: Option<BulkMutationReport>,
    /// Where each of the plan's publishes ended, by index.
    pub publishes: Vec<Option<Ended>>,
    /// What the creations ended with, for the publishes that follow them.
    ready: publish::Ready,
    /// Changes ended so far, reported to `progress` as requests come back.
    ended: u64,
    progress: Reporter,
}

impl Outcomes {
    /// Counts the changes ended again, after a step that sets outcomes directly (product
    /// updates), and reports the count when it moved.
    fn recount_ended(&mut self) {
        let ended = self.changes.iter().filter(|c| c.is_some()).count() as u64;
        if ended != self.ended {
            self.ended = ended;
            self.progress.position(Work::Apply, ended);
        }
    }

    /// Merges what one request (with its re-plans) decided.
    fn absorb(&mut self, part: Part) {
        let before = self.ended;
        for (i, o) in part.changes {
            if self.changes[i].is_none() {
                self.ended += 1;
            }
            self.changes[i] = Some(o);
        }
        if self.ended != before {
            self.progress.position(Work::Apply, self.ended);
        }
        self.conflicts.extend(part.conflicts);
        if let Some((handle, ready)) = part.ready {
            self.ready.insert(handle, ready);
        }
    }
}

/// What one independent request decided, by change index; merged into [`Outcomes`].
#[derive(Debug, Default)]
struct Part {
    changes: Vec<(usize, Outcome)>,
    conflicts: Vec<Conflict>,
    /// A creation's handle, and its product's id once it may be published (or why not).
    ready: Option<(String, Result<String, String>)>,
}

impl Part {
    fn set(&mut self, i: usize, o: Outcome) {
        self.changes.push((i, o));
    }
}

/// Applies plans against one store, journaling into one state.
pub struct Executor<'a> {
    store: &'a dyn Store,
    /// The journal; locked only for single synchronous calls, never across an await.
    state: &'a Mutex<dyn StateStore + 'a>,
    run_id: &'a str,
    /// Configured location name → Shopify location id.
    locations: &'a BTreeMap<LocationName, String>,
    policy: Policy,
    /// Cancelled by SIGINT/SIGTERM: the request in flight finishes, no new one starts.
    cancel: CancellationToken,
    /// A stale stock write is never sent again (`revert`): it ends skipped instead.
    never_overwrite: bool,
}

impl<'a> Executor<'a> {
    pub fn new(
        store: &'a dyn Store,
        state: &'a Mutex<dyn StateStore + 'a>,
        run_id: &'a str,
        locations: &'a BTreeMap<LocationName, String>,
        policy: Policy,
    ) -> Executor<'a> {
        Executor {
            store,
            state,
            run_id,
            locations,
            policy,
            cancel: CancellationToken::new(),
            never_overwrite: false,
        }
    }

    /// A stock write that comes back stale is not re-planned against the fresh quantity:
    /// unless the store already holds the target, it ends `skipped` with
    /// [`SKIP_CHANGED_SINCE`] and the fresh value as its outcome's `from`. `revert` wants
    /// this: a value changed since the reverted run is the merchant's, not to be overwritten.
    pub fn never_overwrite(mut self) -> Executor<'a> {
        self.never_overwrite = true;
        self
    }

    /// Stops sending new requests once `cancel` fires; what is left ends `skipped`.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Executor<'a> {
        self.cancel = cancel;
        self
    }

    /// The outcome of a change not sent because the run was interrupted.
    fn interrupted(&self) -> Option<Outcome> {
        self.cancel
            .is_cancelled()
            .then(|| Outcome::new(Ended::Skipped("interrupted".into())))
    }

    /// Applies every change of `plan`; the result has one outcome per change.
    pub async fn apply(&self, plan: &Plan, baseline: &Baseline) -> Outcomes {
        let mut out = Outcomes {
            changes: vec![None; plan.changes.len()],
            publishes: vec![None; plan.publishes.len()],
            ..Outcomes::default()
        };
        let progress = self.store.progress();
        let _applying = progress.task(Work::Apply, Some(plan.changes.len() as u64));
        out.progress = progress;
        let (mut fields, mut stock, mut activations) = (Vec::new(), Vec::new(), Vec::new());
        let mut products = Vec::new();
        let mut created = Vec::new();
        if self.store.capabilities().reread_before_write {
            // No compare-and-set: every change goes by batches re-read right before.
            let (created, rest): (Vec<usize>, Vec<usize>) =
                (0..plan.changes.len()).partition(|&i| plan.changes[i].create.is_some());
            self.apply_batch_creates(plan, &created, &mut out).await;
            out.recount_ended();
            self.apply_batched(plan, &rest, baseline, &mut out).await;
            out.recount_ended();
            return out;
        }
        for (i, c) in plan.changes.iter().enumerate() {
            if c.create.is_some() {
                created.push(i);
                continue;
            }
            match (c.key.field, c.activate) {
                (Field::Inventory, true) => activations.push(i),
                (Field::Inventory, false) => stock.push(i),
                (f, _) if f.is_product() => products.push(i),
                _ => fields.push(i),
            }
        }
        self.apply_creations(plan, &created, &mut out).await;
        self.apply_publishes(plan, &mut out).await;
        out.recount_ended();
        self.apply_products(plan, &products, &mut out).await;
        out.recount_ended();
        if self.wants_bulk_mutation(plan, &fields) {
            // The job draws nothing from the bucket: stock calls spend it meanwhile.
            let ((part, job), ()) = futures_util::future::join(
                self.bulk_fields(plan, &fields),
                self.apply_stock(plan, &stock, baseline, &mut out),
            )
            .await;
            out.absorb(part);
            out.bulk_mutation = Some(job);
        } else {
            self.apply_fields(plan, &fields, &mut out).await;
            self.apply_stock(plan, &stock, baseline, &mut out).await;
        }
        out.recount_ended();
        let limit = self.in_flight("InventoryActivate", 11.0);
        let mut done = stream::iter(activations)
            .map(|i| async move { (i, self.activate(&plan.changes[i], i).await) })
            .buffer_unordered(limit);
        while let Some((i, o)) = done.next().await {
            let mut part = Part::default();
            part.set(i, o);
            out.absorb(part);
        }
        out
    }

    /// Products and variants to create, one handle at a time per request slot.
    async fn apply_creations(&self, plan: &Plan, indices: &[usize], out: &mut Outcomes) {
        // Owned items (creation index, change indices), as in `apply_fields`: a borrowed
        // item would make the closure higher-ranked and the future not `Send`.
        let jobs: Vec<(usize, Vec<usize>)> = plan
            .creations
            .iter()
            .enumerate()
            .map(|(c, creation)| {
                let idx = indices
                    .iter()
                    .copied()
                    .filter(|&i| {
                        plan.changes[i]
                            .create
                            .as_ref()
                            .is_some_and(|n| n.handle == creation.handle)
                    })
                    .collect();
                (c, idx)
            })
            .collect();
        let limit = self.in_flight("ProductCreate", 14.0);
        let mut parts = stream::iter(jobs)
            .map(|(c, idx)| self.creation(plan, c, idx))
            .buffer_unordered(limit);
        while let Some(part) = parts.next().await {
            out.absorb(part);
        }
    }

    /// Products to publish, after the creations they may depend on.
    async fn apply_publishes(&self, plan: &Plan, out: &mut Outcomes) {
        let limit = self.in_flight("PublishablePublish", 10.0);
        let ready = &out.ready;
        let mut done = stream::iter(0..plan.publishes.len())
            .map(|i| async move { (i, self.publish(&plan.publishes[i], ready).await) })
            .buffer_unordered(limit);
        let mut ended = Vec::new();
        while let Some(one) = done.next().await {
            ended.push(one);
        }
        drop(done);
        for (i, e) in ended {
            out.publishes[i] = Some(e);
        }
    }

    /// How many requests of `operation` go out together: as many as a full bucket pays
    /// for at its expected cost (`first` until Shopify has priced one), within
    /// [`MAX_IN_FLIGHT`] and the client's own cap.
    fn in_flight(&self, operation: &str, first: f64) -> usize {
        let fits = self.store.affordable(operation, first);
        fits.clamp(
            1,
            MAX_IN_FLIGHT.min(self.store.capabilities().max_in_flight),
        )
    }

    /// Variant fields, one `productVariantsBulkUpdate` per product, products concurrently.
    async fn apply_fields(&self, plan: &Plan, indices: &[usize], out: &mut Outcomes) {
        let mut by_product: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in indices {
            by_product
                .entry(plan.changes[i].product_id.as_str())
                .or_default()
                .push(i);
        }
        let limit = self.in_flight("VariantsBulkUpdate", 11.0);
        // Items are owned index lists: a borrowed item would make the stream's closure
        // higher-ranked, and the future would not be `Send` for `tokio::spawn` callers.
        let mut parts = stream::iter(by_product.into_values())
            .map(|idx| self.product_fields(plan, idx))
            .buffer_unordered(limit);
        while let Some(part) = parts.next().await {
            out.absorb(part);
        }
    }

    /// One product's variant fields, in one call unless the bucket or Shopify's 250 inputs
    /// ask for more.
    async fn product_fields(&self, plan: &Plan, idx: Vec<usize>) -> Part {
        let mut part = Part::default();
        let Some(product_id) = idx.first().map(|&i| plan.changes[i].product_id.as_str()) else {
            return part;
        };
        if let Some(o) = self.interrupted() {
            for &i in &idx {
                part.set(i, o.clone());
            }
            return part;
        }
        let variants = variant_inputs(plan, &idx);
        // A call costs 10 + 0.2 per variant: a product with many changed variants goes in
        // as many calls as keep each within the bucket (and Shopify's 250 inputs).
        let per_call = self.store.variants_per_call();
        for (n, chunk) in variants.chunks(per_call).enumerate() {
            let carried = || chunk.iter().flat_map(|(_, carried)| carried);
            if n > 0
                && let Some(o) = self.interrupted()
            {
                for &i in carried() {
                    part.set(i, o.clone());
                }
                continue;
            }
            let updates: Vec<VariantUpdate> = chunk.iter().map(|(u, _)| u.clone()).collect();
            let body = self.store.variant_update_body(product_id, &updates);
            let key = match n {
                0 => format!("{}-fields-{}", self.run_id, short_id(product_id)),
                n => format!("{}-fields-{}-{n}", self.run_id, short_id(product_id)),
            };
            let journal = match self.journal(&key, "productVariantsBulkUpdate", &body) {
                Ok(id) => id,
                Err(o) => {
                    for &i in carried() {
                        part.set(i, o.clone());
                    }
                    continue;
                }
            };
            match self.store.send_variant_update(&body).await {
                Ok(outcome) => {
                    for ((_, carried), (_, result)) in chunk.iter().zip(&outcome.variants) {
                        for &i in carried {
                            let field = plan.changes[i].key.field;
                            part.set(
                                i,
                                Outcome::new(match result {
                                    VariantOutcome::Updated => Ended::Applied,
                                    VariantOutcome::Failed(errors) => {
                                        Ended::Failed(field_error(errors, field))
                                    }
                                }),
                            );
                        }
                    }
                    self.settle(journal, Settled::Applied, &format!("{outcome:?}"));
                }
                Err(e) => {
                    let sent: Vec<(usize, Change)> =
                        carried().map(|&i| (i, plan.changes[i].clone())).collect();
                    for (i, o) in self.after_lost_answer(journal, &e, &sent).await {
                        part.set(i, o);
                    }
                }
            }
        }
        part
    }

    /// Stock by compare-and-set, in calls of up to 250 items, re-planning stale calls.
    /// Calls run concurrently; their results merge in call order, so the conflicts a
    /// re-plan finds come out in the same order whatever answered first.
    async fn apply_stock(
        &self,
        plan: &Plan,
        indices: &[usize],
        baseline: &Baseline,
        out: &mut Outcomes,
    ) {
        let limit = self.in_flight("InventorySet", 13.0);
        let per_call = self.store.capabilities().batch_limit.max(1);
        let calls = indices.len().div_ceil(per_call);
        let mut parts = stream::iter(0..calls)
            .map(|call_no| {
                let start = call_no * per_call;
                let chunk = &indices[start..indices.len().min(start + per_call)];
                self.stock_call(plan, call_no, chunk, baseline)
            })
            .buffered(limit);
        while let Some(part) = parts.next().await {
            out.absorb(part);
        }
    }

    /// One stock call of up to 250 items, with the calls its re-plans need.
    async fn stock_call(
        &self,
        plan: &Plan,
        call_no: usize,
        chunk: &[usize],
        baseline: &Baseline,
    ) -> Part {
        let mut part = Part::default();
        {
            // Pending items: change index → the change as it now stands (re-plans move
            // `from`); stale answers counted per item.
            let mut pending: Vec<(usize, Change)> = chunk
                .iter()
                .map(|&i| (i, plan.changes[i].clone()))
                .collect();
            let mut stale: HashMap<usize, u32> = HashMap::new();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                attempt += 1;
                // An item that was stale already goes alone, so another item's race cannot
                // spend its last chance.
                let batch = match pending.iter().position(|(i, _)| stale.contains_key(i)) {
                    Some(p) if pending.len() > 1 => vec![pending.remove(p)],
                    _ => std::mem::take(&mut pending),
                };
                if let Some(o) = self.interrupted() {
                    for (i, _) in batch {
                        part.set(i, o.clone());
                    }
                    continue;
                }
                let Some(items) = self.set_items(&batch) else {
                    for (i, _) in &batch {
                        part.set(
                            *i,
                            Outcome::new(Ended::Failed("location is not configured".into())),
                        );
                    }
                    continue;
                };
                let key = format!("{}-stock-{call_no}-{attempt}", self.run_id);
                let reference = format!("gid://sheetsync/SyncRun/{}", self.run_id);
                let body = self.store.inventory_set_body(&items, &key, &reference);
                let journal = match self.journal(&key, "inventorySetQuantities", &body) {
                    Ok(id) => id,
                    Err(o) => {
                        for (i, _) in batch {
                            part.set(i, o.clone());
                        }
                        continue;
                    }
                };
                match self.store.send_inventory_set(&body).await {
                    Ok(SetOutcome::Applied { .. }) => {
                        self.settle(journal, Settled::Applied, "");
                        for (i, c) in batch {
                            part.set(
                                i,
                                Outcome {
                                    ended: Ended::Applied,
                                    from: Some(c.from.clone()),
                                    note: c.note.clone(),
                                },
                            );
                        }
                    }
                    Ok(SetOutcome::UserErrors(errors)) => {
                        self.settle(journal, Settled::Failed, &format!("{errors:?}"));
                        let mut again = Vec::new();
                        for (pos, (i, c)) in batch.into_iter().enumerate() {
                            let mine: Vec<&UserError> =
                                errors.iter().filter(|e| e.index == Some(pos)).collect();
                            let fatal = mine.iter().find(|e| {
                                !e.code.as_deref().is_some_and(|c| REPLAN_CODES.contains(&c))
                            });
                            if let Some(e) = fatal {
                                part.set(i, Outcome::new(Ended::Failed(e.message.clone())));
                                continue;
                            }
                            if mine
                                .iter()
                                .any(|e| e.code.as_deref() == Some(REPLAN_CODES[0]))
                            {
                                *stale.entry(i).or_default() += 1;
                            }
                            again.push((i, c));
                        }
                        self.replan_items(again, &stale, baseline, &mut pending, &mut part)
                            .await;
                    }
                    Err(e) => {
                        for (i, o) in self.after_lost_answer(journal, &e, &batch).await {
                            let c = batch.iter().find(|(j, _)| *j == i).map(|(_, c)| c);
                            part.set(
                                i,
                                Outcome {
                                    from: c.map(|c| c.from.clone()),
                                    note: c.and_then(|c| c.note.clone()),
                                    ..o
                                },
                            );
                        }
                    }
                }
            }
        }
        part
    }

    /// Re-reads the items of a refused stock call and decides each again (SPEC §4.3):
    /// to be sent again (pushed onto `pending`), activated, already there, or skipped.
    async fn replan_items(
        &self,
        items: Vec<(usize, Change)>,
        stale: &HashMap<usize, u32>,
        baseline: &Baseline,
        pending: &mut Vec<(usize, Change)>,
        out: &mut Part,
    ) {
        let fresh = match self.reread(&items).await {
            Ok(map) => map,
            Err(e) => {
                for (i, _) in items {
                    out.set(
                        i,
                        Outcome::new(Ended::Failed(format!(
                            "re-read after a refused stock write failed: {e}"
                        ))),
                    );
                }
                return;
            }
        };
        for (i, c) in items {
            let Some(q) = fresh
                .get(&(c.variant_id.clone(), c.key.location.clone()))
                .copied()
            else {
                out.set(
                    i,
                    Outcome::new(Ended::Skipped("variant is no longer in the store".into())),
                );
                continue;
            };
            let base = baseline.get(&(c.sku.clone(), c.key.clone()));
            let times = stale.get(&i).copied().unwrap_or(0).max(1);
            let (decision, conflict) = plan::replan(&c, q, times, self.policy, base);
            if self.never_overwrite && matches!(decision, Replan::Set(_)) {
                out.set(
                    i,
                    Outcome {
                        ended: Ended::Skipped(SKIP_CHANGED_SINCE.to_owned()),
                        from: Some(q.map(Value::Qty)),
                        note: None,
                    },
                );
                continue;
            }
            out.conflicts.extend(conflict);
            match decision {
                Replan::Set(next) if next.activate => {
                    let o = self.activate(&next, i).await;
                    out.set(
                        i,
                        Outcome {
                            from: Some(next.from.clone()),
                            note: next.note.clone(),
                            ..o
                        },
                    );
                }
                Replan::Set(next) => pending.push((i, next)),
                Replan::AlreadyThere => {
                    out.set(
                        i,
                        Outcome {
                            ended: Ended::Applied,
                            from: Some(q.map(Value::Qty)),
                            note: Some("store already had this value".into()),
                        },
                    );
                }
                Replan::Skip(reason) => {
                    out.set(i, Outcome::new(Ended::Skipped(reason)));
                }
            }
        }
    }

    /// `inventoryActivate` for an item with no level at the location, with the target.
    async fn activate(&self, c: &Change, index: usize) -> Outcome {
        if let Some(o) = self.interrupted() {
            return o;
        }
        let Some(location_id) = c.key.location.as_ref().and_then(|l| self.locations.get(l)) else {
            return Outcome::new(Ended::Failed("location is not configured".into()));
        };
        let available = match &c.to {
            Some(Value::Qty(q)) => Some(*q),
            _ => None,
        };
        let key = format!("{}-activate-{index}", self.run_id);
        let body =
            self.store
                .inventory_activate_body(&c.inventory_item_id, location_id, available, &key);
        let journal = match self.journal(&key, "inventoryActivate", &body) {
            Ok(id) => id,
            Err(o) => return o,
        };
        match self.store.send_inventory_activate(&body).await {
            Ok(ActivateOutcome::Activated { .. }) => {
                self.settle(journal, Settled::Applied, "");
                Outcome::new(Ended::Applied)
            }
            Ok(ActivateOutcome::UserErrors(errors)) => {
                let msg = messages(&errors);
                self.settle(journal, Settled::Failed, &msg);
                Outcome::new(Ended::Failed(msg))
            }
            Err(e) => self
                .after_lost_answer(journal, &e, &[(index, c.clone())])
                .await
                .pop()
                .map_or_else(|| Outcome::new(Ended::Failed(e.to_string())), |(_, o)| o),
        }
    }

    fn set_items(&self, batch: &[(usize, Change)]) -> Option<Vec<SetQuantity>> {
        batch
            .iter()
            .map(|(_, c)| {
                let location_id = self.locations.get(c.key.location.as_ref()?)?.clone();
                let Some(Value::Qty(quantity)) = c.to else {
                    return None;
                };
                let change_from = match c.from {
                    Some(Value::Qty(q)) => Some(q),
                    _ => None,
                };
                Some(SetQuantity {
                    item_id: c.inventory_item_id.clone(),
                    location_id,
                    quantity,
                    change_from,
                })
            })
            .collect()
    }

    /// Fresh `available` per (variant id, location name) for the given changes; a
    /// variant that is gone is absent, an item without a level there maps to `None`.
    async fn reread(
        &self,
        items: &[(usize, Change)],
    ) -> Result<HashMap<(String, Option<LocationName>), Option<i64>>, StoreError> {
        let mut ids: Vec<String> = items.iter().map(|(_, c)| c.variant_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let locs: Vec<(LocationName, String)> = self
            .locations
            .iter()
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect();
        let fresh = self.store.variants_by_ids(&ids, &locs).await?;
        let mut map = HashMap::new();
        for (_, v) in fresh {
            for (loc, q) in v.stock.iter() {
                map.insert((v.variant_id.to_string(), Some(loc.clone())), q);
            }
        }
        Ok(map)
    }

    /// Journals a request before it is sent; its id, or the outcome of the changes it
    /// would have carried when the journal refuses it: a request that a crash could leave
    /// unrecorded is not sent at all.
    fn journal(&self, key: &str, operation: &str, body: &[u8]) -> Result<i64, Outcome> {
        self.journal_items(key, operation, body, "[]")
    }

    /// [`Executor::journal`] with the request's items (JSON) recorded alongside.
    fn journal_items(
        &self,
        key: &str,
        operation: &str,
        body: &[u8],
        items: &str,
    ) -> Result<i64, Outcome> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .journal_request(self.run_id, key, operation, body, items)
            .map_err(|e| {
                tracing::warn!(error = %e, key, "Could not journal a request; not sending it");
                Outcome::new(Ended::Skipped(format!("{SKIP_NOT_JOURNALED}: {e}")))
            })
    }

    /// Notes what is learnt about a journaled request before it settles (a bulk job's id).
    fn note(&self, id: i64, response: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = state.note_request(id, response) {
            tracing::warn!(error = %e, id, "Could not note a journaled request");
        }
    }

    /// Settles a journaled request that ended in `e`: `skipped` when the interruption
    /// stopped it before it was sent, `failed` otherwise.
    fn settle_error(&self, id: i64, e: &StoreError) {
        let outcome = if matches!(e, StoreError::Interrupted) {
            Settled::Skipped
        } else {
            Settled::Failed
        };
        self.settle(id, outcome, &e.to_string());
    }

    fn settle(&self, id: i64, outcome: Settled, response: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = state.settle_request(id, outcome, response) {
            tracing::warn!(error = %e, id, "Could not settle a journaled request");
        }
    }

    /// Settles a request whose answer was lost by what its re-read found: `held` of
    /// `total` items in place means applied (all), failed (none) or skipped (some, each
    /// change judged on its own in the report).
    fn settle_reread(&self, journal: i64, e: &StoreError, held: usize, total: usize, what: &str) {
        let settled = match held {
            n if n == total => Settled::Applied,
            0 => Settled::Failed,
            _ => Settled::Skipped,
        };
        self.settle(
            journal,
            settled,
            &serde_json::json!({
                "answer_lost": e.to_string(),
                "reread": format!("{held} of {total} {what}"),
            })
            .to_string(),
        );
    }

    /// Leaves a journaled request open, noting that its outcome is unknown and why: the
    /// next full run settles it by re-reading (`recover`), as after a kill.
    fn leave_unknown(&self, id: i64, why: &str) {
        self.note(
            id,
            &serde_json::json!({ "outcome": "unknown", "error": why }).to_string(),
        );
    }

    /// Where the changes `sent` of journaled request `journal` ended after it failed with
    /// `e`. A definite refusal fails them. A lost answer is never assumed either way:
    /// their variants are re-read, and each change is `applied` if the store holds its
    /// target and `failed` if not; if the re-read fails too, they end
    /// [`Ended::Unknown`] and the request stays open in the journal.
    async fn after_lost_answer(
        &self,
        journal: i64,
        e: &StoreError,
        sent: &[(usize, Change)],
    ) -> Vec<(usize, Outcome)> {
        if matches!(e, StoreError::Interrupted) {
            // Stopped before it was sent: nothing can have landed.
            self.settle(journal, Settled::Skipped, &e.to_string());
            return sent
                .iter()
                .map(|(i, _)| (*i, Outcome::new(ended_by(e))))
                .collect();
        }
        if !e.outcome_unknown() {
            self.settle(journal, Settled::Failed, &e.to_string());
            return sent
                .iter()
                .map(|(i, _)| (*i, Outcome::new(Ended::Failed(e.to_string()))))
                .collect();
        }
        tracing::warn!(error = %e, "A write's answer was lost; re-reading its items");
        let held = match self.holds_targets(sent).await {
            Ok(held) => held,
            Err(r) => {
                let why = format!(
                    "outcome unknown: {e}; the re-read to learn it failed too ({r}); \
                     the next run settles it by re-reading"
                );
                self.leave_unknown(journal, &why);
                return sent
                    .iter()
                    .map(|(i, _)| (*i, Outcome::new(Ended::Unknown(why.clone()))))
                    .collect();
            }
        };
        let count = sent.iter().filter(|(i, _)| held.contains(i)).count();
        self.settle_reread(journal, e, count, sent.len(), "changes held");
        sent.iter()
            .map(|(i, _)| {
                let ended = if held.contains(i) {
                    Ended::Applied
                } else {
                    Ended::Failed(format!("{e}; re-read: the store does not hold the value"))
                };
                (*i, Outcome::new(ended))
            })
            .collect()
    }

    /// The indices of `changes` whose target the store holds now, by a re-read of their
    /// variants (a variant that is gone holds nothing).
    async fn holds_targets(
        &self,
        changes: &[(usize, Change)],
    ) -> Result<std::collections::HashSet<usize>, StoreError> {
        let mut ids: Vec<String> = changes.iter().map(|(_, c)| c.variant_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let locs: Vec<(LocationName, String)> =
            if changes.iter().any(|(_, c)| c.key.field == Field::Inventory) {
                self.locations
                    .iter()
                    .map(|(n, id)| (n.clone(), id.clone()))
                    .collect()
            } else {
                Vec::new()
            };
        let fresh: HashMap<String, crate::plan::StoreVariant> = self
            .store
            .variants_by_ids(&ids, &locs)
            .await?
            .into_iter()
            .map(|(_, v)| (v.variant_id.to_string(), v))
            .collect();
        Ok(changes
            .iter()
            .filter(|(_, c)| {
                fresh
                    .get(&c.variant_id)
                    .is_some_and(|v| v.value(&c.key) == c.to)
            })
            .map(|(i, _)| *i)
            .collect())
    }
}

/// How a change whose request ended in `e` ends: `skipped` when the interruption stopped
/// the request before it was sent (nothing reached the store), `failed` otherwise.
fn ended_by(e: &StoreError) -> Ended {
    if matches!(e, StoreError::Interrupted) {
        Ended::Skipped("interrupted".into())
    } else {
        Ended::Failed(e.to_string())
    }
}

/// One product's variant inputs, one per variant in first-seen order, each with the
/// indices of the changes it carries.
fn variant_inputs(plan: &Plan, idx: &[usize]) -> Vec<(VariantUpdate, Vec<usize>)> {
    let mut variants: Vec<(VariantUpdate, Vec<usize>)> = Vec::new();
    for &i in idx {
        let c = &plan.changes[i];
        let pos = match variants
            .iter()
            .position(|(u, _)| u.variant_id == c.variant_id)
        {
            Some(p) => p,
            None => {
                let update = VariantUpdate {
                    variant_id: c.variant_id.clone(),
                    ..Default::default()
                };
                variants.push((update, Vec::new()));
                variants.len() - 1
            }
        };
        let (update, carried) = &mut variants[pos];
        set_field(update, c);
        carried.push(i);
    }
    variants
}

/// Puts one change's target into its variant's update.
fn set_field(update: &mut VariantUpdate, c: &Change) {
    let money = |v: &Option<Value>| match v {
        Some(Value::Money(m)) => Patch::Set(*m),
        _ => Patch::Clear,
    };
    match c.key.field {
        Field::Price => {
            if let Some(Value::Money(m)) = c.to {
                update.price = Some(m);
            }
        }
        Field::CompareAtPrice => update.compare_at_price = money(&c.to),
        Field::Cost => update.cost = money(&c.to),
        Field::Barcode => {
            update.barcode = match &c.to {
                Some(Value::Text(t)) => Patch::Set(t.clone()),
                _ => Patch::Clear,
            }
        }
        // Not variant fields: `product::apply_products` sends them. WooCommerce's prices
        // never reach the Shopify executor (config refuses them with `[shopify]`).
        Field::RegularPrice
        | Field::SalePrice
        | Field::Inventory
        | Field::Title
        | Field::Status
        | Field::Tags
        | Field::Vendor
        | Field::ProductType
        | Field::Description => {}
    }
}

fn messages(errors: &[UserError]) -> String {
    let all: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    all.join("; ")
}

/// The messages of the userErrors about `field` (by its GraphQL input name), else all.
fn field_error(errors: &[UserError], field: Field) -> String {
    let wire = match field {
        Field::Price => "price",
        Field::CompareAtPrice => "compareAtPrice",
        Field::RegularPrice => "regular_price",
        Field::SalePrice => "sale_price",
        Field::Cost => "inventoryItem",
        Field::Barcode => "barcode",
        Field::Inventory => "inventoryQuantities",
        Field::Title => "title",
        Field::Status => "status",
        Field::Tags => "tags",
        Field::Vendor => "vendor",
        Field::ProductType => "productType",
        Field::Description => "descriptionHtml",
    };
    let specific: Vec<UserError> = errors
        .iter()
        .filter(|e| e.field.iter().any(|f| f == wire))
        .cloned()
        .collect();
    if specific.is_empty() {
        messages(errors)
    } else {
        messages(&specific)
    }
}

/// The numeric tail of a gid (`gid://shopify/Product/123` → `123`), for readable keys.
fn short_id(gid: &str) -> &str {
    gid.rsplit('/').next().unwrap_or(gid)
}

/// Writes the executor's outcomes into the report and collects the baseline entries
/// that confirmed writes justify.
pub fn record(
    report: &mut Report,
    plan: &Plan,
    outcomes: &Outcomes,
    currency: &Currency,
    confirmed: &mut Vec<(Sku, FieldKey, Option<Value>)>,
) {
    let json = |v: &Option<Value>| {
        v.as_ref()
            .map_or(serde_json::Value::Null, |v| v.to_json(currency))
    };
    for (i, (change, outcome)) in plan.changes.iter().zip(&outcomes.changes).enumerate() {
        let Some(outcome) = outcome else {
            report.set_outcome(i, Status::Skipped, Some("not attempted".into()));
            continue;
        };
        if let Some(r) = report.changes.get_mut(i) {
            if let Some(from) = &outcome.from
                && from != &change.from
            {
                r.from = json(from);
            }
            if outcome.note.is_some() {
                r.note.clone_from(&outcome.note);
            }
        }
        match &outcome.ended {
            Ended::Applied => {
                report.set_outcome(i, Status::Applied, None);
                confirmed.push((change.sku.clone(), change.key.clone(), change.to.clone()));
            }
            Ended::Failed(e) => report.set_outcome(i, Status::Failed, Some(e.clone())),
            Ended::Skipped(e) => report.set_outcome(i, Status::Skipped, Some(e.clone())),
            Ended::Unknown(e) => {
                report.set_outcome(i, Status::Failed, Some(e.clone()));
                report.mark_unknown(i);
            }
        }
    }
    for c in &outcomes.conflicts {
        report.record_conflict(c, currency);
    }
    report.bulk_mutation.clone_from(&outcomes.bulk_mutation);
    for (p, ended) in report.publications.iter_mut().zip(&outcomes.publishes) {
        (p.status, p.error) = match ended {
            None => (Status::Skipped, Some("not attempted".into())),
            Some(Ended::Applied) => (Status::Applied, None),
            Some(Ended::Failed(e)) => (Status::Failed, Some(e.clone())),
            Some(Ended::Skipped(e)) => (Status::Skipped, Some(e.clone())),
            Some(Ended::Unknown(e)) => {
                p.outcome = Some(crate::report::Unsettled::Unknown);
                (Status::Failed, Some(e.clone()))
            }
        };
    }
}
