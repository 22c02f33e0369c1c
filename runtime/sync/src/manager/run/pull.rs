//! The pull phase: pages until the adapter has no more; each page stored, applied and
//! its cursor saved in one transaction. A pull that brings no new record page after page
//! is stopped (the run's stall budget); one that runs out of the run's time while records
//! still flow ends the run `incomplete`, to be resumed by the next.
//!
//! A page is applied while the next is pulled (the adapter only needs the cursor the page
//! gave); pages are applied in order, each once the one before is done, and every exit of
//! the phase waits for the page being applied, so the counters are the store's. A stall is
//! seen after the next page was pulled: that page is then dropped, its cursor unsaved.

use super::{Failure, PhaseEnd, Run};
use crate::manager::{Progress, SyncError};
use dcsync_contract::pulled::PulledPage;
use dcsync_store::{blocking, started, ApplyOutcome, StoreError};
use std::future::Future;
use std::pin::Pin;

/// A page being applied.
type Applying = Pin<Box<dyn Future<Output = Result<ApplyOutcome, StoreError>> + Send>>;

impl Run<'_> {
    pub(super) async fn pull_phase(&mut self) -> Result<PhaseEnd, SyncError> {
        let mut applying = None;
        let end = self.pull_pages(&mut applying).await;
        let landed = match applying {
            Some(work) => self.landed(work).await.map(|_| ()),
            None => Ok(()),
        };
        self.phase_end(end, landed, "the last page's apply")
    }

    /// Wait for a page's apply, then count it.
    async fn landed(&mut self, work: Applying) -> Result<ApplyOutcome, SyncError> {
        let outcome = work.await?;
        self.manager.progress(Progress::Pull {
            pulled: self.report.pulled,
        });
        self.report.applied += outcome.applied;
        self.report.duplicates += outcome.duplicates;
        self.report.quarantined += outcome.quarantined;
        Ok(outcome)
    }

    async fn pull_pages(&mut self, applying: &mut Option<Applying>) -> Result<PhaseEnd, SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let id = config_id.clone();
        let mut cursor = blocking(&store, move |s| s.cursors(&id)).await?.pull;
        let clock = self.manager.clock.clone();
        let (mut stalled_pages, mut last_progress) = (0u32, clock.now());
        loop {
            if let Some(end) = self.safe_point()? {
                return Ok(end);
            }
            let adapter = self.adapter.clone();
            let view = self.view.clone();
            let limit = self.settings.batch_size;
            let from = cursor.clone();
            let page = match self
                .retrying("pull-since", |ctx| {
                    adapter.pull_since(ctx, &view, from.clone(), limit)
                })
                .await
            {
                Ok(p) => p,
                Err(Failure::Rejected(_)) => {
                    return Err(SyncError::Internal("pull-since answered `rejected`".into()))
                }
                Err(Failure::TooBig { error, .. }) => return Err(error),
                Err(Failure::Fatal(e)) => return Err(e),
            };
            let records = page.events.len() as u64;
            let has_more = page.has_more;
            let next = page.next_cursor.clone().or(cursor.clone());
            if next
                .as_deref()
                .is_some_and(|c| self.secrets.found_in(c.as_bytes()))
            {
                // The cursor is stored and shown: it is not a place to keep a secret.
                return Err(SyncError::Internal(
                    "pull-since answered a cursor holding a secret value of this config; not stored".into(),
                ));
            }
            let secrets = self.secrets.clone();
            let pulled = PulledPage::accept(
                &config_id,
                page.events,
                next.clone(),
                chrono::Utc::now(),
                |e| secrets.refusal_for(e),
            );
            // The page before lands only now: this one was checked while it was applied.
            if let Some(work) = applying.take() {
                // Only applied records are progress: pages of refused records forever
                // would grow the quarantine without bound.
                if self.landed(work).await?.applied > 0 {
                    (stalled_pages, last_progress) = (0, clock.now());
                } else {
                    stalled_pages += 1;
                    let stalled_for = clock.now() - last_progress;
                    if stalled_pages >= self.limits.stall_pages
                        || (stalled_pages >= 3 && stalled_for >= self.limits.stall_time)
                    {
                        return Err(SyncError::Stalled {
                            pages: stalled_pages,
                            seconds: stalled_for.as_secs(),
                        });
                    }
                }
            }
            // Counted once the page before did not stall the pull: a dropped page was not
            // taken.
            self.report.pull_pages += 1;
            self.report.pulled += records;
            let (id, applier) = (config_id.clone(), self.manager.applier.clone());
            *applying = Some(Box::pin(started(&store, move |s| {
                s.apply_pulled(&id, &pulled, &applier)
            })));
            if !has_more {
                return Ok(PhaseEnd::Done);
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
