//! The push phase: pending events in batches; the cursor moves only past what the
//! external system confirmed (accepted or refused), in one transaction per batch.

use super::{Failure, PhaseEnd, Run};
use crate::manager::{Progress, SyncError};
use dcsync_contract::adapter::{PushResult, Rejection};
use dcsync_contract::model::FormSubmission;
use dcsync_store::blocking;
use std::time::Duration;

impl Run<'_> {
    pub(super) async fn push_phase(&mut self) -> Result<PhaseEnd, SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let mut first = true;
        let id = config_id.clone();
        let total = blocking(&store, move |s| s.pending_count(&id)).await?;
        let mut done = 0u64;
        loop {
            if self.out_of_time() {
                return Ok(PhaseEnd::OutOfTime);
            }
            let (id, limit) = (config_id.clone(), self.settings.batch_size);
            let pending = blocking(&store, move |s| s.pending_events(&id, limit)).await?;
            if pending.is_empty() {
                return Ok(PhaseEnd::Done);
            }
            if !first && self.settings.delay_between_batches_ms > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.settings.delay_between_batches_ms,
                ))
                .await;
            }
            first = false;
            let seqs: Vec<i64> = pending.iter().map(|p| p.seq).collect();
            let mut batch: Vec<FormSubmission> = pending.into_iter().map(|p| p.event).collect();
            let mut rejected: Vec<Rejection> = Vec::new();
            while !batch.is_empty() {
                let adapter = self.adapter;
                let view = self.view.clone();
                let events = batch.clone();
                let outcome = self
                    .retrying("push-batch", |ctx| {
                        let (view, events) = (view.clone(), events.clone());
                        async move { adapter.push_batch(ctx, &view, &events).await }
                    })
                    .await;
                let refused = match outcome {
                    Ok(mut result) => {
                        result.rejected = distinct_in_batch(&batch, result.rejected);
                        check_accounting(&batch, &result)?;
                        self.report.push_batches += 1;
                        self.report.pushed += result.accepted as u64;
                        if let Some(r) = result.remote_ref {
                            self.report.remote_refs.push(self.secrets.scrub(&r));
                        }
                        rejected.extend(result.rejected.into_iter().map(|r| self.rejection(r)));
                        break;
                    }
                    Err(Failure::Rejected(r)) => distinct_in_batch(&batch, r),
                    Err(Failure::Fatal(e)) => return Err(e),
                };
                if refused.is_empty() {
                    return Err(SyncError::Internal(
                        "adapter rejected events, none of them in the batch".into(),
                    ));
                }
                batch.retain(|e| !refused.iter().any(|r| r.guid == e.guid));
                rejected.extend(refused.into_iter().map(|r| self.rejection(r)));
            }
            self.report.quarantined += rejected.len() as u64;
            done += seqs.len() as u64;
            let id = config_id.clone();
            blocking(&store, move |s| s.confirm_push(&id, &seqs, &rejected)).await?;
            self.manager.progress(Progress::Push {
                done,
                total: total.max(done),
            });
        }
    }
}

/// An adapter's rejections as the host takes them: each guid of the batch at most once,
/// guids that are not in the batch dropped (a receiver that over-reports cannot make the
/// host quarantine more than the batch).
fn distinct_in_batch(batch: &[FormSubmission], rejected: Vec<Rejection>) -> Vec<Rejection> {
    let in_batch: std::collections::HashSet<&str> = batch.iter().map(|e| e.guid.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let before = rejected.len();
    let kept: Vec<Rejection> = rejected
        .into_iter()
        .filter(|r| in_batch.contains(r.guid.as_str()) && seen.insert(r.guid.clone()))
        .collect();
    if kept.len() != before {
        tracing::warn!(reported = before, kept = kept.len(), "adapter reported rejections that repeat or are not in the batch; kept each guid of the batch once");
    }
    kept
}

/// The adapter must account for every event of the batch, accepted or rejected.
fn check_accounting(batch: &[FormSubmission], result: &PushResult) -> Result<(), SyncError> {
    let accounted = result.accepted as usize + result.rejected.len();
    if accounted != batch.len() {
        return Err(SyncError::Internal(format!(
            "adapter accounted for {accounted} of {} events in the batch; nothing was confirmed",
            batch.len()
        )));
    }
    Ok(())
}
