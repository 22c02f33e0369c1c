//! The push phase: pending events in batches; the cursor moves only past what the
//! external system confirmed (accepted or refused), in one transaction per batch, and the
//! run's counters move with it, never ahead.
//!
//! A batch too large for the adapter (its memory limit, or a request over the size cap)
//! is split in halves, in order, until it fits; a single event that still does not fit is
//! quarantined with the reason and the queue moves on — when it is large enough to be the
//! cause (at least an eighth of the limit it broke). A small event that breaks a limit
//! alone means the adapter itself is at fault: the run fails with that limit. Fuel and
//! deadline breaches fail the run as any limit does: splitting those could take hours.

use super::{Failure, PhaseEnd, Run};
use crate::manager::{Progress, SyncError};
use dcsync_contract::adapter::{PushResult, Rejection};
use dcsync_contract::model::FormSubmission;
use dcsync_store::blocking;
use std::collections::VecDeque;
use std::time::Duration;

/// Part of a batch, with the sequence numbers of its events.
type Part = Vec<(i64, FormSubmission)>;

impl Run<'_> {
    pub(super) async fn push_phase(&mut self) -> Result<PhaseEnd, SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let mut first = true;
        let id = config_id.clone();
        let total = blocking(&store, move |s| s.pending_count(&id)).await?;
        let mut done = 0u64;
        loop {
            if let Some(end) = self.safe_point()? {
                return Ok(end);
            }
            let (id, limit) = (config_id.clone(), self.settings.batch_size);
            let pending = blocking(&store, move |s| s.pending_events(&id, limit)).await?;
            if pending.is_empty() {
                return Ok(PhaseEnd::Done);
            }
            if !first && self.settings.delay_between_batches_ms > 0 {
                self.manager
                    .clock
                    .sleep(Duration::from_millis(
                        self.settings.delay_between_batches_ms,
                    ))
                    .await;
            }
            first = false;
            done += pending.len() as u64;
            let batch: Part = pending.into_iter().map(|p| (p.seq, p.event)).collect();
            self.deliver(batch).await?;
            self.manager.progress(Progress::Push {
                done,
                total: total.max(done),
            });
        }
    }

    /// Deliver one batch, splitting it as needed; each part is confirmed in order.
    async fn deliver(&mut self, batch: Part) -> Result<(), SyncError> {
        let mut parts: VecDeque<Part> = VecDeque::from([batch]);
        while let Some(part) = parts.pop_front() {
            match self.push_part(&part).await {
                Ok((accepted, rejected)) => self.confirm(&part, accepted, rejected).await?,
                Err(Failure::TooBig { why, .. }) if part.len() > 1 => {
                    tracing::info!(config = %self.manager.config.id, events = part.len(), %why, "batch too large for the adapter; splitting it");
                    let mut left = part;
                    let right = left.split_off(left.len() / 2);
                    parts.push_front(right);
                    parts.push_front(left);
                }
                Err(Failure::TooBig { why, limit, error }) => {
                    let size = event_size(&part[0].1);
                    if size.saturating_mul(8) < limit {
                        return Err(error);
                    }
                    let refused = vec![Rejection {
                        guid: part[0].1.guid.clone(),
                        reason: format!("the event alone ({size} bytes) is {why}"),
                    }];
                    self.confirm(&part, 0, refused).await?;
                }
                Err(Failure::Rejected(_)) => {
                    return Err(SyncError::Internal("rejections left unresolved".into()))
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Push one part; rejected events are taken out and the rest sent again until the
    /// adapter accepts what remains. Returns how many were accepted and the rejections.
    async fn push_part(&mut self, part: &Part) -> Result<(u32, Vec<Rejection>), Failure> {
        let mut batch: Vec<FormSubmission> = part.iter().map(|(_, e)| e.clone()).collect();
        let mut rejected: Vec<Rejection> = Vec::new();
        while !batch.is_empty() {
            let adapter = self.adapter;
            let view = self.view.clone();
            let events = batch.clone();
            // Named after the export that serves it, in metrics and the call records.
            let function = if adapter.encoded_push() {
                "push-encoded"
            } else {
                "push-batch"
            };
            let refused = match self
                .retrying(function, |ctx| {
                    let (view, events) = (view.clone(), events.clone());
                    async move { adapter.push_batch(ctx, &view, &events).await }
                })
                .await
            {
                Ok(mut result) => {
                    result.rejected = distinct_in_batch(&batch, result.rejected);
                    check_accounting(&batch, &result).map_err(Failure::Fatal)?;
                    if let Some(r) = result.remote_ref {
                        self.report.remote_refs.push(self.secrets.scrub(&r));
                    }
                    rejected.extend(result.rejected.into_iter().map(|r| self.rejection(r)));
                    return Ok((result.accepted, rejected));
                }
                Err(Failure::Rejected(r)) => distinct_in_batch(&batch, r),
                Err(other) => return Err(other),
            };
            if refused.is_empty() {
                return Err(Failure::Fatal(SyncError::Internal(
                    "adapter rejected events, none of them in the batch".into(),
                )));
            }
            batch.retain(|e| !refused.iter().any(|r| r.guid == e.guid));
            rejected.extend(refused.into_iter().map(|r| self.rejection(r)));
        }
        Ok((0, rejected))
    }

    /// Record a delivered part: quarantine its rejections and move the push cursor past
    /// it, in one transaction; only then count it.
    async fn confirm(
        &mut self,
        part: &Part,
        accepted: u32,
        rejected: Vec<Rejection>,
    ) -> Result<(), SyncError> {
        let seqs: Vec<i64> = part.iter().map(|(s, _)| *s).collect();
        let quarantined = rejected.len() as u64;
        let id = self.manager.config.id.clone();
        blocking(&self.manager.store, move |s| {
            s.confirm_push(&id, &seqs, &rejected)
        })
        .await?;
        self.report.push_batches += 1;
        self.report.pushed += accepted as u64;
        self.report.quarantined += quarantined;
        Ok(())
    }
}

/// Roughly how many bytes an event takes as it crosses to the adapter.
fn event_size(e: &FormSubmission) -> usize {
    e.guid.len()
        + e.entity_guid.len()
        + e.event_type.len()
        + e.data.to_string().len()
        + e.timestamp.len()
        + e.user_id.len()
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
        tracing::warn!(
            reported = before,
            kept = kept.len(),
            "adapter reported rejections that repeat or are not in the batch; kept each guid of the batch once"
        );
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
