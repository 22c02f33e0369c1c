//! The pull phase: pages until the adapter has no more; each page stored, applied and
//! its cursor saved in one transaction.

use super::{Failure, Run};
use crate::manager::{Progress, SyncError};
use dcsync_contract::pulled;
use dcsync_store::blocking;

impl Run<'_> {
    pub(super) async fn pull_phase(&mut self) -> Result<(), SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let id = config_id.clone();
        let mut cursor = blocking(&store, move |s| s.cursors(&id)).await?.pull;
        loop {
            let adapter = self.adapter;
            let view = self.view.clone();
            let limit = self.settings.batch_size;
            let from = cursor.clone();
            let page = match self
                .retrying("pull-since", |ctx| {
                    let (view, from) = (view.clone(), from.clone());
                    async move { adapter.pull_since(ctx, &view, from, limit).await }
                })
                .await
            {
                Ok(p) => p,
                Err(Failure::Rejected(_)) => {
                    return Err(SyncError::Internal("pull-since answered `rejected`".into()))
                }
                Err(Failure::Fatal(e)) => return Err(e),
            };
            self.report.pull_pages += 1;
            self.report.pulled += page.events.len() as u64;
            let events = pulled::accept_page(&config_id, page.events)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|r| {
                    SyncError::Internal(format!("pulled event {}: {}", r.guid, r.reason))
                })?;
            let next = page.next_cursor.clone().or(cursor.clone());
            let (id, applier, next_c) = (
                config_id.clone(),
                self.manager.applier.clone(),
                next.clone(),
            );
            let outcome = blocking(&store, move |s| {
                s.apply_pulled(&id, &events, next_c.as_deref(), &applier)
            })
            .await?;
            self.manager.progress(Progress::Pull {
                pulled: self.report.pulled,
            });
            self.report.applied += outcome.applied;
            self.report.duplicates += outcome.duplicates;
            self.report.quarantined += outcome.quarantined;
            if !page.has_more {
                return Ok(());
            }
            if next == cursor {
                return Err(SyncError::Internal(
                    "adapter said has-more but did not move its cursor".into(),
                ));
            }
            cursor = next;
        }
    }
}
