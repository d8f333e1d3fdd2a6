//! Product fields (title, status, tags, vendor, type, description): one `productUpdate` per product carrying
//! every product field the plan changes for it, and nothing else, so lists the sheet does
//! not mention are never sent (and never replaced). Journaled like every mutation; a lost
//! answer is settled by re-reading the product's fields.

use std::collections::BTreeMap;

use super::{Ended, Executor, Outcome, Outcomes, field_error, messages, short_id};
use crate::model::{Field, Value, tags_list};
use crate::plan::{Change, Plan};
use crate::state::Outcome as Settled;
use crate::store::ProductUpdate;

impl Executor<'_> {
    /// The product-field changes at `indices`, one `productUpdate` per product.
    pub(super) async fn apply_products(&self, plan: &Plan, indices: &[usize], out: &mut Outcomes) {
        let mut by_product: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in indices {
            by_product
                .entry(plan.changes[i].product_id.as_str())
                .or_default()
                .push(i);
        }
        for (product_id, idx) in by_product {
            if let Some(o) = self.interrupted() {
                for &i in &idx {
                    out.changes[i] = Some(o.clone());
                }
                continue;
            }
            let mut update = ProductUpdate {
                id: product_id.to_owned(),
                ..ProductUpdate::default()
            };
            for &i in &idx {
                set_product_field(&mut update, &plan.changes[i]);
            }
            let body = self.store.product_update_body(&update);
            let key = format!("{}-product-{}", self.run_id, short_id(product_id));
            let journal = match self.journal(&key, "productUpdate", &body) {
                Ok(id) => id,
                Err(o) => {
                    for &i in &idx {
                        out.changes[i] = Some(o.clone());
                    }
                    continue;
                }
            };
            match self.store.send_product_update(&body).await {
                Ok(Ok(())) => {
                    for &i in &idx {
                        out.changes[i] = Some(Outcome::new(Ended::Applied));
                    }
                    self.settle(journal, Settled::Applied, "");
                }
                Ok(Err(errors)) => {
                    // The call is all-or-nothing: one userError (a blank title) keeps every
                    // field of the input as it was, so each change fails, with the errors
                    // about its own field when Shopify names one.
                    for &i in &idx {
                        let field = plan.changes[i].key.field;
                        out.changes[i] =
                            Some(Outcome::new(Ended::Failed(field_error(&errors, field))));
                    }
                    self.settle(journal, Settled::Failed, &messages(&errors));
                }
                Err(e) => {
                    let sent: Vec<(usize, Change)> =
                        idx.iter().map(|&i| (i, plan.changes[i].clone())).collect();
                    // The call is all-or-nothing: what the re-read finds for one field
                    // holds for all (a merchant's edit since aside).
                    for (i, o) in self.after_lost_answer(journal, &e, &sent).await {
                        out.changes[i] = Some(o);
                    }
                }
            }
        }
    }
}

/// Puts one change's target into its product's update.
fn set_product_field(update: &mut ProductUpdate, c: &Change) {
    let text = match &c.to {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    };
    match c.key.field {
        Field::Title => update.title = Some(text),
        Field::Status => update.status = Some(text),
        Field::Tags => update.tags = Some(tags_list(&text)),
        Field::Vendor => update.vendor = Some(text),
        // `CLEAR` (no target) sends "", which Shopify takes as "no type / no description".
        Field::ProductType => update.product_type = Some(text),
        Field::Description => update.description_html = Some(text),
        Field::Price
        | Field::CompareAtPrice
        | Field::RegularPrice
        | Field::SalePrice
        | Field::Cost
        | Field::Barcode
        | Field::Inventory => {}
    }
}
