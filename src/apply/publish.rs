//! Publishing products to the configured sales channels (`sync.publish_to`), after the
//! creations: a product this run creates is published once its variants are in (never
//! with only `productCreate`'s placeholder variant); a product an earlier run created
//! and did not publish everywhere is published to what it lacks. Each
//! `publishablePublish` is journaled before it is sent, with the handle and publication
//! ids as its items, so later runs know which (product, channel) pairs are done and a
//! publish a killed run left open is settled by re-reading the product. A publish whose
//! answer was lost is settled the same way at once, or left open if that re-read fails.

use std::collections::HashMap;

use super::{Ended, Executor, messages};
use crate::plan::create::Publish;
use crate::state::Outcome as Settled;

/// A created product's id once it may be published, or why it may not, by handle.
pub(super) type Ready = HashMap<String, Result<String, String>>;

impl Executor<'_> {
    /// Publishes `p`; `ready` holds what this run's creations ended with.
    pub(super) async fn publish(&self, p: &Publish, ready: &Ready) -> Ended {
        if let Some(o) = self.interrupted() {
            return o.ended;
        }
        let product_id = match (ready.get(&p.handle), &p.product_id) {
            (Some(Err(why)), _) => return Ended::Skipped(format!("not published: {why}")),
            (Some(Ok(id)), _) | (None, Some(id)) => id.clone(),
            (None, None) => {
                return Ended::Skipped("not published: the product was not created".into());
            }
        };
        let ids: Vec<String> = p.channels.iter().map(|c| c.id.clone()).collect();
        let body = self.store.publish_body(&product_id, &ids);
        let key = format!("{}-publish-{}", self.run_id, p.handle);
        let items = serde_json::json!({ "handle": p.handle, "publications": ids }).to_string();
        let journal = match self.journal_items(&key, "publishablePublish", &body, &items) {
            Ok(id) => id,
            Err(o) => return o.ended,
        };
        match self.store.send_publish(&body).await {
            Ok(errors) if errors.is_empty() => {
                self.settle(journal, Settled::Applied, "");
                Ended::Applied
            }
            Ok(errors) => {
                let msg = messages(&errors);
                self.settle(journal, Settled::Failed, &msg);
                Ended::Failed(msg)
            }
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(error = %e, handle = %p.handle, "A publish's answer was lost; re-reading");
                // Shopify lists at most 250 publications a product is on: enough for any
                // store's channels.
                match self.store.product_publications(&p.handle, 250).await {
                    Ok(found) => {
                        let on = found.map(|f| f.published).unwrap_or_default();
                        let held = ids.iter().filter(|id| on.contains(*id)).count();
                        let reread = format!("published to {held} of {} channels", ids.len());
                        let response =
                            serde_json::json!({ "answer_lost": e.to_string(), "reread": reread })
                                .to_string();
                        if held == ids.len() {
                            self.settle(journal, Settled::Applied, &response);
                            Ended::Applied
                        } else {
                            self.settle(journal, Settled::Failed, &response);
                            Ended::Failed(format!("{e}; re-read: {reread}"))
                        }
                    }
                    Err(r) => {
                        let why = format!(
                            "outcome unknown: {e}; the re-read to learn it failed too ({r}); \
                             the next run settles it by re-reading"
                        );
                        self.leave_unknown(journal, &why);
                        Ended::Unknown(why)
                    }
                }
            }
            Err(e) => {
                self.settle_error(journal, &e);
                super::ended_by(&e)
            }
        }
    }
}
