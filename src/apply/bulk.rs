//! Variant fields past the bucket: from `sync.bulk_mutation_threshold` variant updates on,
//! every product's `productVariantsBulkUpdate` becomes one line of a single bulk mutation
//! (SHOPIFY.md §6) instead of a direct call. The plan and the inputs are the same as the
//! direct path's (one line = the variables one direct call would carry), and so are the
//! outcomes: each result line is mapped back to its variants and fields with the same
//! mapper, so a userError in one line fails that row's changes only.
//!
//! The job is journaled (the exact upload) before anything is sent, and its id is noted
//! once Shopify returns it; a killed run is settled by `recover` re-reading the variants,
//! never by re-submitting. A line without a result (a job that failed, expired or was
//! canceled, or whose start or polling failed) is never assumed either way: its variants
//! are re-read by id and a change is `applied` only if the store holds its target; if
//! that re-read fails too, the change's outcome is unknown and the job stays open in the
//! journal for the next run to settle. A job polled past `sync.bulk_timeout` is such a
//! job. An interrupted run does not wait for the job: its changes end `skipped` and the
//! journal entry stays open for the next run.

use std::collections::{BTreeMap, HashMap};

use super::{Ended, Executor, Outcome, Part, field_error, variant_inputs};
use crate::plan::Plan;
use crate::report::BulkMutationReport;
use crate::state::Outcome as Settled;
use crate::store::{BulkUpdateOutcome, JobEnd, VariantOutcome, VariantUpdate};

/// One line of the upload: a product and its variant inputs with the changes each carries.
type Line = (String, Vec<(VariantUpdate, Vec<usize>)>);

impl Executor<'_> {
    /// Whether the variant-field changes at `indices` go by bulk mutation: as many distinct
    /// variants as the client's threshold, or more.
    pub(super) fn wants_bulk_mutation(&self, plan: &Plan, indices: &[usize]) -> bool {
        if indices.is_empty() {
            return false;
        }
        let mut variants: Vec<&str> = indices
            .iter()
            .map(|&i| plan.changes[i].variant_id.as_str())
            .collect();
        variants.sort_unstable();
        variants.dedup();
        let caps = self.store.capabilities();
        caps.bulk && variants.len() as u64 >= caps.bulk_mutation_threshold
    }

    /// Every variant-field change at `indices` by one bulk mutation; returns their outcomes
    /// and what the job was.
    pub(super) async fn bulk_fields(
        &self,
        plan: &Plan,
        indices: &[usize],
    ) -> (Part, BulkMutationReport) {
        let mut part = Part::default();
        let mut by_product: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in indices {
            by_product
                .entry(plan.changes[i].product_id.as_str())
                .or_default()
                .push(i);
        }
        let lines: Vec<Line> = by_product
            .into_iter()
            .map(|(product, idx)| (product.to_owned(), variant_inputs(plan, &idx)))
            .collect();
        let mut report = BulkMutationReport {
            id: None,
            status: "NOT_STARTED".into(),
            lines: lines.len(),
            variants: lines.iter().map(|(_, v)| v.len()).sum(),
        };
        if let Some(o) = self.interrupted() {
            for &i in indices {
                part.set(i, o.clone());
            }
            return (part, report);
        }
        let mut jsonl = Vec::new();
        for (product, variants) in &lines {
            let updates: Vec<VariantUpdate> = variants.iter().map(|(u, _)| u.clone()).collect();
            jsonl.extend_from_slice(&self.store.bulk_update_line(product, &updates));
        }
        let key = format!("{}-bulk-fields", self.run_id);
        let journal = match self.journal(&key, "bulkOperationRunMutation", &jsonl) {
            Ok(id) => id,
            Err(o) => {
                for &i in indices {
                    part.set(i, o.clone());
                }
                return (part, report);
            }
        };
        let end = match self.store.start_bulk_update(&jsonl, &key).await {
            Ok(id) => {
                drop(jsonl);
                report.id = Some(id.clone());
                report.status = "RUNNING".into();
                self.note(
                    journal,
                    &serde_json::json!({ "bulkOperation": id }).to_string(),
                );
                self.store.finish_bulk_update(&id).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &end
            && e.is_interrupted()
        {
            return (self.bulk_interrupted(indices, journal, e, &report), report);
        }
        let (answers, why) = match end {
            Ok(JobEnd {
                id,
                status,
                error_code,
                lines: answers,
            }) => {
                report.status.clone_from(&status);
                let why = match error_code {
                    Some(code) => format!("bulk operation {id} ended {status} ({code})"),
                    None => format!("bulk operation {id} ended {status}"),
                };
                (answers, why)
            }
            Err(e) => (HashMap::new(), format!("bulk mutation: {e}")),
        };
        let mut unknown: Vec<usize> = Vec::new();
        for (n, (_, variants)) in lines.iter().enumerate() {
            match answers.get(&n) {
                Some(line) => {
                    let ids: Vec<String> =
                        variants.iter().map(|(u, _)| u.variant_id.clone()).collect();
                    match self.store.bulk_line_outcome(&ids, line) {
                        Ok(outcome) => settle_line(plan, variants, &outcome, &mut part),
                        Err(message) => {
                            for &i in variants.iter().flat_map(|(_, carried)| carried) {
                                part.set(i, Outcome::new(Ended::Failed(message.clone())));
                            }
                        }
                    }
                }
                None => unknown.extend(variants.iter().flat_map(|(_, carried)| carried)),
            }
        }
        if !unknown.is_empty() {
            self.settle_unknown(plan, &unknown, &why, &mut part).await;
        }
        let complete = report.status == "COMPLETED" && answers.len() == lines.len();
        if part
            .changes
            .iter()
            .any(|(_, o)| matches!(o.ended, Ended::Unknown(_)))
        {
            // The next full run settles the job by re-reading its variants.
            self.leave_unknown(
                journal,
                &format!("{why}; the re-read to learn its outcome failed"),
            );
            return (part, report);
        }
        self.settle(
            journal,
            if complete {
                Settled::Applied
            } else {
                Settled::Failed
            },
            &serde_json::json!({
                "bulkOperation": report.id,
                "status": report.status,
                "lines": lines.len(),
                "answered": answers.len(),
            })
            .to_string(),
        );
        (part, report)
    }

    /// The run was interrupted while the job was being started or polled: its changes
    /// end `skipped`. A job that may have started keeps its journal entry open, so the
    /// next run settles it from the store as it does a killed run's (the job may still
    /// apply its lines after this run has gone); only one stopped before its start was
    /// sent is settled `skipped` now.
    fn bulk_interrupted(
        &self,
        indices: &[usize],
        journal: i64,
        e: &crate::store::StoreError,
        report: &BulkMutationReport,
    ) -> Part {
        let why = match &report.id {
            Some(id) => format!(
                "interrupted while bulk operation {id} ran: it may still apply this; the next run reads the store and settles it"
            ),
            None => format!("interrupted while starting the bulk mutation ({e})"),
        };
        let never_sent = report.id.is_none() && matches!(e, crate::store::StoreError::Interrupted);
        if never_sent {
            self.settle(journal, Settled::Skipped, &e.to_string());
        }
        let mut part = Part::default();
        for &i in indices {
            part.set(i, Outcome::new(Ended::Skipped(why.clone())));
        }
        part
    }

    /// Changes whose line has no result: re-read their variants and decide each by what
    /// the store holds now.
    async fn settle_unknown(&self, plan: &Plan, unknown: &[usize], why: &str, part: &mut Part) {
        let mut ids: Vec<String> = unknown
            .iter()
            .map(|&i| plan.changes[i].variant_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        let fresh = match self.store.variants_by_ids(&ids, &[]).await {
            Ok(v) => v
                .into_iter()
                .map(|(_, v)| (v.variant_id.clone(), v))
                .collect::<HashMap<_, _>>(),
            Err(e) => {
                for &i in unknown {
                    part.set(
                        i,
                        Outcome::new(Ended::Unknown(format!(
                            "outcome unknown: {why}; the re-read to learn it failed too ({e}); \
                             the next run settles it by re-reading"
                        ))),
                    );
                }
                return;
            }
        };
        for &i in unknown {
            let c = &plan.changes[i];
            let ended = match fresh.get(&crate::plan::Gid::from(c.variant_id.as_str())) {
                None => Ended::Skipped("variant is no longer in the store".into()),
                Some(v) if v.value(&c.key) == c.to => Ended::Applied,
                Some(_) => Ended::Failed(format!(
                    "{why} without a result for this variant; re-read: the store does not hold the value"
                )),
            };
            part.set(i, Outcome::new(ended));
        }
    }
}

/// Outcomes of one answered line, as the direct call's answer would give them.
fn settle_line(
    plan: &Plan,
    variants: &[(VariantUpdate, Vec<usize>)],
    outcome: &BulkUpdateOutcome,
    part: &mut Part,
) {
    for ((_, carried), (_, result)) in variants.iter().zip(&outcome.variants) {
        for &i in carried {
            let field = plan.changes[i].key.field;
            part.set(
                i,
                Outcome::new(match result {
                    VariantOutcome::Updated => Ended::Applied,
                    VariantOutcome::Failed(errors) => Ended::Failed(field_error(errors, field)),
                }),
            );
        }
    }
}
