//! Creating what the plan's [`Creation`]s ask for (`sync.create_missing`).
//!
//! Per handle: the product is looked up by handle (`productByIdentifier`) right before
//! `productCreate`, and `productCreate` is journaled before it is sent, so a run killed
//! in between leaves a product the next run finds by its handle (and recognises as its
//! own) instead of creating it twice. Its variants then go in `productVariantsBulkCreate`
//! calls of at most 250, each journaled; the first call on a product this run (or a
//! killed run) created replaces the placeholder variant `productCreate` made, every other
//! call keeps the product's variants as they are. Stock travels with the variant
//! (`inventoryQuantities`), which stocks it at those locations.

use std::collections::BTreeSet;

use super::{Ended, Executor, Outcome, Part, messages};
use crate::model::{Field, Value};
use crate::plan::Plan;
use crate::plan::create::Creation;
use crate::state::Outcome as Settled;
use crate::store::{
    LevelInput, Named, NewItem, NewOption, NewProduct, NewVariantInput, OptionValue, StoreError,
};

impl Executor<'_> {
    /// Creates the product of `plan.creations[c]` (when needed) and its variants; `idx`
    /// are the indices of the plan's changes that belong to it. The part says whether
    /// the product may now be published: only once every one of its new variants is in,
    /// so a product is never shown on a channel with `productCreate`'s placeholder.
    pub(super) async fn creation(&self, plan: &Plan, c: usize, idx: Vec<usize>) -> Part {
        let Some(creation) = plan.creations.get(c) else {
            return Part::default();
        };
        let (mut part, product) = self.create_and_extend(plan, creation, &idx).await;
        let all_in = idx.iter().all(|i| {
            part.changes
                .iter()
                .any(|(j, o)| j == i && o.ended == Ended::Applied)
        });
        let ready = match product {
            Ok(id) if all_in => Ok(id),
            Ok(_) => Err("its variants were not all created".to_owned()),
            Err(why) => Err(why),
        };
        part.ready = Some((creation.handle.clone(), ready));
        part
    }

    /// [`Executor::creation`]'s work; also returns the product's id, or why there is no
    /// product of ours to publish.
    async fn create_and_extend(
        &self,
        plan: &Plan,
        creation: &Creation,
        idx: &[usize],
    ) -> (Part, Result<String, String>) {
        let mut part = Part::default();
        let fail_all = |part: &mut Part, ended: Ended| {
            for &i in idx {
                part.set(i, Outcome::new(ended.clone()));
            }
        };
        if let Some(o) = self.interrupted() {
            fail_all(&mut part, o.ended);
            return (part, Err("interrupted".into()));
        }
        let mut ours = Ok(());
        let (product_id, replace) = match &creation.product_id {
            Some(id) => (id.clone(), creation.remove_standalone),
            None => match self.create_product(creation).await {
                Ok(Made::Created(id)) => (id, true),
                Ok(Made::Found(id)) => {
                    ours = Err("a product with this handle appeared during the run".to_owned());
                    // Someone made it since the plan: its fields are not ours to set.
                    for &i in idx
                        .iter()
                        .filter(|&&i| plan.changes[i].key.field.is_product())
                    {
                        part.set(
                            i,
                            Outcome::new(Ended::Skipped(
                                "a product with this handle appeared during the run".into(),
                            )),
                        );
                    }
                    (id, false)
                }
                Err(Lost::Failed(why)) => {
                    fail_all(&mut part, Ended::Failed(why.clone()));
                    return (part, Err(format!("the product was not created: {why}")));
                }
                Err(Lost::NotSent(why)) => {
                    fail_all(&mut part, Ended::Skipped(why.clone()));
                    return (part, Err(format!("the product was not created: {why}")));
                }
                Err(Lost::Unknown(why)) => {
                    // The product fields went with `productCreate`: their fate is its fate.
                    // The variants were never sent.
                    for &i in idx {
                        let ended = if plan.changes[i].key.field.is_product() {
                            Ended::Unknown(why.clone())
                        } else {
                            Ended::Skipped(
                                "not sent: whether its product was created is unknown; the \
                                 next run settles it"
                                    .into(),
                            )
                        };
                        part.set(i, Outcome::new(ended));
                    }
                    return (
                        part,
                        Err(format!("the product's creation is unknown: {why}")),
                    );
                }
            },
        };
        for &i in idx {
            if plan.changes[i].key.field.is_product() && !part.changes.iter().any(|(j, _)| *j == i)
            {
                part.set(i, Outcome::new(Ended::Applied));
            }
        }

        let mut inputs = Vec::new();
        for variant in &creation.variants {
            let mine: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| plan.changes[i].sku == variant.sku)
                .filter(|&i| !plan.changes[i].key.field.is_product())
                .collect();
            match self.variant_input(plan, creation, variant, &mine) {
                Ok(input) => inputs.push((input, mine)),
                Err(why) => {
                    for i in mine {
                        part.set(i, Outcome::new(Ended::Failed(why.clone())));
                    }
                }
            }
        }
        for (n, chunk) in inputs.chunks(self.store.variants_per_call()).enumerate() {
            if let Some(o) = self.interrupted() {
                for &i in chunk.iter().flat_map(|(_, mine)| mine) {
                    part.set(i, o.clone());
                }
                continue;
            }
            let variants: Vec<NewVariantInput> = chunk.iter().map(|(v, _)| v.clone()).collect();
            let body = self
                .store
                .variants_create_body(&product_id, &variants, replace && n == 0);
            let key = format!("{}-variants-{}-{n}", self.run_id, creation.handle);
            let journal = match self.journal(&key, "productVariantsBulkCreate", &body) {
                Ok(id) => id,
                Err(o) => {
                    for &i in chunk.iter().flat_map(|(_, mine)| mine) {
                        part.set(i, o.clone());
                    }
                    continue;
                }
            };
            match self.store.send_variants_create(&body, variants.len()).await {
                Ok(outcome) if outcome.errors.is_empty() => {
                    self.settle(journal, Settled::Applied, &format!("{outcome:?}"));
                    let created: BTreeSet<&str> = outcome
                        .created
                        .iter()
                        .map(|(sku, _)| sku.as_str())
                        .collect();
                    for (input, mine) in chunk {
                        let ended = if created.contains(input.inventory_item.sku.as_str()) {
                            Ended::Applied
                        } else {
                            Ended::Failed("Shopify did not return the new variant".into())
                        };
                        for &i in mine {
                            part.set(i, Outcome::new(ended.clone()));
                        }
                    }
                }
                Ok(outcome)
                    if outcome
                        .errors
                        .iter()
                        .any(|e| e.code.as_deref() == Some("VARIANT_ALREADY_EXISTS")) =>
                {
                    // The SKUs were not in the store when planned: variants that exist now
                    // may be this very request's, whose first answer was lost and whose
                    // retry was refused. Only the store can tell.
                    let why = format!(
                        "{} (the answer to a retry: the first attempt may have created it)",
                        messages(&outcome.errors)
                    );
                    let ended = self
                        .reread_variants(journal, &why, &creation.handle, &chunk_skus(chunk))
                        .await;
                    for ((_, mine), ended) in chunk.iter().zip(ended) {
                        for &i in mine {
                            part.set(i, Outcome::new(ended.clone()));
                        }
                    }
                }
                Ok(outcome) => {
                    // The call is validated as a whole: with any error nothing was created.
                    self.settle(journal, Settled::Failed, &format!("{outcome:?}"));
                    let general: Vec<_> = outcome
                        .errors
                        .iter()
                        .filter(|e| e.index.is_none())
                        .cloned()
                        .collect();
                    for (pos, (_, mine)) in chunk.iter().enumerate() {
                        let own: Vec<_> = outcome
                            .errors
                            .iter()
                            .filter(|e| e.index == Some(pos))
                            .chain(&general)
                            .cloned()
                            .collect();
                        let why = if own.is_empty() {
                            format!(
                                "not created: another variant of the call was refused ({})",
                                messages(&outcome.errors)
                            )
                        } else {
                            messages(&own)
                        };
                        for &i in mine {
                            part.set(i, Outcome::new(Ended::Failed(why.clone())));
                        }
                    }
                }
                Err(e) => {
                    let ended = self
                        .after_lost_variants(journal, &e, &creation.handle, &chunk_skus(chunk))
                        .await;
                    for ((_, mine), ended) in chunk.iter().zip(ended) {
                        for &i in mine {
                            part.set(i, Outcome::new(ended.clone()));
                        }
                    }
                }
            }
        }
        (part, ours.map(|()| product_id))
    }

    /// Where each variant (by SKU) of a `productVariantsBulkCreate` that failed with `e`
    /// ended: a lost answer is settled by re-reading the product by its handle (created
    /// if its SKU is there), never assumed.
    async fn after_lost_variants(
        &self,
        journal: i64,
        e: &StoreError,
        handle: &str,
        skus: &[&str],
    ) -> Vec<Ended> {
        if matches!(e, StoreError::Interrupted) {
            self.settle(journal, Settled::Skipped, &e.to_string());
            return vec![super::ended_by(e); skus.len()];
        }
        if !e.outcome_unknown() {
            self.settle(journal, Settled::Failed, &e.to_string());
            return vec![Ended::Failed(e.to_string()); skus.len()];
        }
        tracing::warn!(error = %e, handle, "A variant creation's answer was lost; re-reading");
        self.reread_variants(journal, &e.to_string(), handle, skus)
            .await
    }

    /// Where each variant (by SKU) of a `productVariantsBulkCreate` whose outcome is in
    /// doubt (`e` says why) ended, by re-reading the product by its handle: created if
    /// its SKU is there, failed if not, unknown if the re-read fails. Settles the
    /// journal, or leaves it open for the next run.
    async fn reread_variants(
        &self,
        journal: i64,
        e: &str,
        handle: &str,
        skus: &[&str],
    ) -> Vec<Ended> {
        let found = match self.store.product_by_handle(handle).await {
            Ok(found) => found,
            Err(r) => {
                let why = format!(
                    "outcome unknown: {e}; the re-read to learn it failed too ({r}); the \
                     next run settles it by re-reading"
                );
                self.leave_unknown(journal, &why);
                return vec![Ended::Unknown(why); skus.len()];
            }
        };
        let there: BTreeSet<&str> = found
            .as_ref()
            .map(|p| p.skus.iter().flatten().map(String::as_str).collect())
            .unwrap_or_default();
        // One read shows 250 variants: past that, a SKU not seen proves nothing.
        let complete = found.as_ref().is_none_or(|p| p.skus.len() < 250);
        let ended: Vec<Ended> = skus
            .iter()
            .map(|sku| {
                if there.contains(sku) {
                    Ended::Applied
                } else if complete {
                    Ended::Failed(format!("{e}; re-read: the variant is not in the store"))
                } else {
                    Ended::Unknown(format!(
                        "outcome unknown: {e}; the product has more variants than one re-read \
                         shows; the next run settles it by re-reading"
                    ))
                }
            })
            .collect();
        let applied = ended.iter().filter(|e| **e == Ended::Applied).count();
        if ended.iter().any(|e| matches!(e, Ended::Unknown(_))) {
            self.leave_unknown(journal, &format!("answer lost: {e}"));
        } else {
            self.settle(
                journal,
                match applied {
                    n if n == skus.len() => Settled::Applied,
                    0 => Settled::Failed,
                    _ => Settled::Skipped,
                },
                &serde_json::json!({
                    "answer_lost": e,
                    "reread": format!("{applied} of {} variants in the store", skus.len()),
                })
                .to_string(),
            );
        }
        ended
    }

    /// Finds the handle's product, or creates it (journaled first).
    async fn create_product(&self, creation: &Creation) -> Result<Made, Lost> {
        match self.store.product_by_handle(&creation.handle).await {
            Ok(Some(found)) => return Ok(Made::Found(found.id)),
            Ok(None) => {}
            Err(e) => {
                return Err(Lost::Failed(format!(
                    "looking up handle {:?} failed: {e}",
                    creation.handle
                )));
            }
        }
        let product = NewProduct {
            handle: creation.handle.clone(),
            title: creation.title.clone(),
            status: creation.status.clone(),
            tags: creation.tags.clone(),
            vendor: creation.vendor.clone(),
            product_type: creation.product_type.clone(),
            description_html: creation.description.clone(),
            product_options: options(creation),
        };
        let body = self.store.product_create_body(&product);
        let key = format!("{}-product-{}", self.run_id, creation.handle);
        let journal = self.journal(&key, "productCreate", &body).map_err(|o| {
            Lost::NotSent(match o.ended {
                Ended::Skipped(why) => why,
                _ => super::SKIP_NOT_JOURNALED.to_owned(),
            })
        })?;
        match self.store.send_product_create(&body).await {
            Ok(Ok(id)) => {
                self.settle(journal, Settled::Applied, &id);
                Ok(Made::Created(id))
            }
            Ok(Err(errors)) if errors.iter().any(|e| e.field.iter().any(|f| f == "handle")) => {
                // The handle was free right before sending: taken now, it may be by this
                // very request, whose first answer was lost and whose retry was refused.
                let msg = messages(&errors);
                match self.store.product_by_handle(&creation.handle).await {
                    Ok(Some(found)) => {
                        self.settle(
                            journal,
                            Settled::Applied,
                            &serde_json::json!({ "refused_retry": msg, "reread": found.id })
                                .to_string(),
                        );
                        Ok(Made::Created(found.id))
                    }
                    Ok(None) => {
                        self.settle(journal, Settled::Failed, &msg);
                        Err(Lost::Failed(msg))
                    }
                    Err(r) => {
                        let why = format!(
                            "outcome unknown: {msg} (a retry's answer: the first may have \
                             created it); the re-read to learn it failed ({r}); the next run \
                             settles it by re-reading"
                        );
                        self.leave_unknown(journal, &why);
                        Err(Lost::Unknown(why))
                    }
                }
            }
            Ok(Err(errors)) => {
                let msg = messages(&errors);
                self.settle(journal, Settled::Failed, &msg);
                Err(Lost::Failed(msg))
            }
            Err(e) if e.outcome_unknown() => {
                // Right before sending, the store had no product with this handle: one
                // there now is the one this request made.
                tracing::warn!(error = %e, handle = %creation.handle, "A product creation's answer was lost; re-reading");
                match self.store.product_by_handle(&creation.handle).await {
                    Ok(Some(found)) => {
                        self.settle(
                            journal,
                            Settled::Applied,
                            &serde_json::json!({ "answer_lost": e.to_string(), "reread": found.id })
                                .to_string(),
                        );
                        Ok(Made::Created(found.id))
                    }
                    Ok(None) => {
                        let why = format!("{e}; re-read: no product has the handle");
                        self.settle(journal, Settled::Failed, &why);
                        Err(Lost::Failed(why))
                    }
                    Err(r) => {
                        let why = unknown_why(&e, &r);
                        self.leave_unknown(journal, &why);
                        Err(Lost::Unknown(why))
                    }
                }
            }
            Err(e) => {
                if matches!(e, StoreError::Interrupted) {
                    // Stopped before it was sent: nothing can have landed.
                    self.settle(journal, Settled::Skipped, &e.to_string());
                    return Err(Lost::NotSent("interrupted".into()));
                }
                self.settle(journal, Settled::Failed, &e.to_string());
                Err(Lost::Failed(e.to_string()))
            }
        }
    }

    /// One variant's input from its planned changes.
    fn variant_input(
        &self,
        plan: &Plan,
        creation: &Creation,
        variant: &crate::plan::create::NewVariant,
        mine: &[usize],
    ) -> Result<NewVariantInput, String> {
        let mut input = NewVariantInput {
            option_values: creation
                .options
                .iter()
                .zip(&variant.option_values)
                .map(|(option, value)| OptionValue {
                    option_name: option.clone(),
                    name: value.clone(),
                })
                .collect(),
            price: rust_decimal::Decimal::ZERO,
            compare_at_price: None,
            barcode: None,
            inventory_item: NewItem {
                sku: variant.sku.to_string(),
                tracked: true,
                cost: None,
            },
            inventory_quantities: Vec::new(),
        };
        for &i in mine {
            let c = &plan.changes[i];
            match (c.key.field, &c.to) {
                (Field::Price, Some(Value::Money(m))) => input.price = *m,
                (Field::CompareAtPrice, Some(Value::Money(m))) => input.compare_at_price = Some(*m),
                (Field::Cost, Some(Value::Money(m))) => input.inventory_item.cost = Some(*m),
                (Field::Barcode, Some(Value::Text(t))) => input.barcode = Some(t.clone()),
                (Field::Inventory, Some(Value::Qty(q))) => {
                    let location_id = c
                        .key
                        .location
                        .as_ref()
                        .and_then(|l| self.locations.get(l))
                        .ok_or("location is not configured")?;
                    input.inventory_quantities.push(LevelInput {
                        available_quantity: *q,
                        location_id: location_id.clone(),
                    });
                }
                _ => {}
            }
        }
        Ok(input)
    }
}

/// Why `create_product` has no product to offer.
enum Lost {
    /// The store refused it, or a re-read showed it did not land.
    Failed(String),
    /// Not sent: it could not be journaled.
    NotSent(String),
    /// Sent, its answer lost, and the re-read failed too.
    Unknown(String),
}

/// The SKUs of one `productVariantsBulkCreate` chunk, in input order.
fn chunk_skus(chunk: &[(NewVariantInput, Vec<usize>)]) -> Vec<&str> {
    chunk
        .iter()
        .map(|(v, _)| v.inventory_item.sku.as_str())
        .collect()
}

/// The error text of a request whose answer (`e`) and re-read (`r`) both failed.
fn unknown_why(e: &StoreError, r: &StoreError) -> String {
    format!(
        "outcome unknown: {e}; the re-read to learn it failed too ({r}); the next run \
         settles it by re-reading"
    )
}

/// What `create_product` ended with.
enum Made {
    Created(String),
    /// The store already had a product with the handle.
    Found(String),
}

/// A new product's options with every value its variants use, in first-use order;
/// none for Shopify's default `Title` option (it makes that one itself).
fn options(creation: &Creation) -> Vec<NewOption> {
    if creation.options.len() == 1
        && creation.options[0] == crate::plan::create::DEFAULT_OPTION.0
        && creation
            .variants
            .iter()
            .all(|v| v.option_values == [crate::plan::create::DEFAULT_OPTION.1])
    {
        return Vec::new();
    }
    creation
        .options
        .iter()
        .enumerate()
        .map(|(pos, name)| {
            let mut values: Vec<&str> = Vec::new();
            for v in &creation.variants {
                if let Some(value) = v.option_values.get(pos)
                    && !values.contains(&value.as_str())
                {
                    values.push(value);
                }
            }
            NewOption {
                name: name.clone(),
                values: values
                    .into_iter()
                    .map(|n| Named { name: n.to_owned() })
                    .collect(),
            }
        })
        .collect()
}
