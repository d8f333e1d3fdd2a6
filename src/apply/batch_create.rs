//! Creating simple products on a store without compare-and-set (WooCommerce's
//! `sync.create_missing`, SPEC §8): the plan's creation changes grouped by SKU into batches
//! of at most `capabilities().batch_limit` creates, each journaled before it is sent. Each
//! item's answer decides its changes (WooCommerce saves an item whole or not at all). A
//! batch whose answer was lost is re-read by SKU, never re-sent: a SKU the store now holds
//! was created, one it lacks was not. After a kill the next run's snapshot holds the SKUs
//! that landed, so they are planned as updates, never created twice.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use super::{Ended, Executor, Outcome, Outcomes, Part};
use crate::plan::Plan;
use crate::state::Outcome as Settled;
use crate::store::{CreateResult, ItemCreate};

/// One batch: each item's SKU and the change indices it carries.
type Batch = Vec<(String, Vec<usize>)>;

impl Executor<'_> {
    /// Every creation change in `indices`, one simple product per SKU.
    pub(super) async fn apply_batch_creates(
        &self,
        plan: &Plan,
        indices: &[usize],
        out: &mut Outcomes,
    ) {
        let limit = self.store.capabilities().batch_limit.max(1);
        // First-seen order is sheet order (the plan is sorted).
        let mut by_sku: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for &i in indices {
            let sku = plan.changes[i].sku.as_str().to_owned();
            if !by_sku.contains_key(&sku) {
                order.push(sku.clone());
            }
            by_sku.entry(sku).or_default().push(i);
        }
        let items: Vec<(String, Vec<usize>)> = order
            .into_iter()
            .map(|sku| {
                let idx = by_sku.remove(&sku).unwrap_or_default();
                (sku, idx)
            })
            .collect();
        let batches: Vec<Batch> = items.chunks(limit).map(<[_]>::to_vec).collect();
        let in_flight = self
            .store
            .capabilities()
            .max_in_flight
            .clamp(1, super::MAX_IN_FLIGHT);
        let mut parts = stream::iter(batches.into_iter().enumerate())
            .map(|(n, batch)| self.create_batch(plan, n, batch))
            .buffered(in_flight);
        while let Some(part) = parts.next().await {
            out.absorb(part);
        }
    }

    async fn create_batch(&self, plan: &Plan, n: usize, batch: Batch) -> Part {
        let mut part = Part::default();
        let set_all = |part: &mut Part, o: &Outcome| {
            for (_, idx) in &batch {
                for &i in idx {
                    part.set(i, o.clone());
                }
            }
        };
        if let Some(o) = self.interrupted() {
            set_all(&mut part, &o);
            return part;
        }
        let creates: Vec<ItemCreate> = batch
            .iter()
            .map(|(sku, idx)| ItemCreate {
                sku: sku.clone(),
                fields: idx
                    .iter()
                    .map(|&i| (plan.changes[i].key.clone(), plan.changes[i].to.clone()))
                    .collect(),
            })
            .collect();
        let (operation, body) = self.store.create_batch_body(&creates);
        let key = format!("{}-create-{n}", self.run_id);
        let journal = match self.journal(&key, operation, &body) {
            Ok(id) => id,
            Err(o) => {
                set_all(&mut part, &o);
                return part;
            }
        };
        let results = match self.store.send_create_batch(&body).await {
            Ok(results) => results,
            Err(e) if matches!(e, crate::store::StoreError::Interrupted) => {
                self.settle(journal, Settled::Skipped, &e.to_string());
                set_all(&mut part, &Outcome::new(super::ended_by(&e)));
                return part;
            }
            Err(e) if !e.outcome_unknown() => {
                self.settle(journal, Settled::Failed, &e.to_string());
                set_all(&mut part, &Outcome::new(Ended::Failed(e.to_string())));
                return part;
            }
            Err(e) => return self.after_lost_create(journal, &e, &batch, part).await,
        };
        let mut created = 0usize;
        for ((_, idx), result) in
            batch.iter().zip(
                results
                    .into_iter()
                    .chain(std::iter::repeat(CreateResult::Refused {
                        code: String::new(),
                        message: "no answer for this item".into(),
                    })),
            )
        {
            let ended = match result {
                CreateResult::Created { .. } => {
                    created += 1;
                    Ended::Applied
                }
                CreateResult::Refused { code, message } if code.is_empty() => {
                    Ended::Failed(format!("WooCommerce refused the new product: {message}"))
                }
                CreateResult::Refused { code, message } => Ended::Failed(format!(
                    "WooCommerce refused the new product ({code}): {message}"
                )),
            };
            for &i in idx {
                part.set(i, Outcome::new(ended.clone()));
            }
        }
        let settled = if created == 0 {
            Settled::Failed
        } else {
            Settled::Applied
        };
        self.settle(
            journal,
            settled,
            &format!("{created} of {} products created", batch.len()),
        );
        part
    }

    /// A create batch whose answer was lost: its SKUs are re-read, never re-sent. A SKU
    /// the store holds now was created by it (the run's plan saw it missing); one it lacks
    /// was not. If the re-read fails too, the changes end unknown and the journal entry
    /// stays open for the next run (whose snapshot decides).
    async fn after_lost_create(
        &self,
        journal: i64,
        e: &crate::store::StoreError,
        batch: &Batch,
        mut part: Part,
    ) -> Part {
        tracing::warn!(error = %e, "A create batch's answer was lost; re-reading its SKUs");
        let skus: Vec<String> = batch.iter().map(|(sku, _)| sku.clone()).collect();
        let found = match self.store.ids_by_skus(&skus).await {
            Ok(found) => found,
            Err(r) => {
                let why = format!(
                    "outcome unknown: {e}; the re-read by SKU to learn it failed too ({r}); \
                     not re-sent; the next run settles it by re-reading"
                );
                self.leave_unknown(journal, &why);
                for (_, idx) in batch {
                    for &i in idx {
                        part.set(i, Outcome::new(Ended::Unknown(why.clone())));
                    }
                }
                return part;
            }
        };
        let held = batch
            .iter()
            .filter(|(sku, _)| found.contains_key(sku))
            .count();
        self.settle_reread(journal, e, held, batch.len(), "SKUs in the store");
        for (sku, idx) in batch {
            let o = if found.contains_key(sku) {
                Outcome {
                    ended: Ended::Applied,
                    from: None,
                    note: Some("answer lost; the re-read by SKU found the product".into()),
                }
            } else {
                Outcome::new(Ended::Failed(format!(
                    "{e}; re-read by SKU: the store has no product {sku:?}; not re-sent"
                )))
            };
            for &i in idx {
                part.set(i, o.clone());
            }
        }
        part
    }
}
