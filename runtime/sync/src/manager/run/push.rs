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
//!
//! The stages overlap: the next batch is read while one is on the wire, and a delivered
//! part is confirmed while the next goes out. Confirmations stay in order (each waits for
//! the one before) and every exit of the phase waits for the last, so the counters still
//! never run ahead. With `maxInFlight` above 1, that many batches are on the wire at once
//! (for receivers that take concurrent batches: they may arrive out of order); each is
//! still judged, retried, split and confirmed in order. A crash can thus leave
//! `maxInFlight + 1` delivered batches unconfirmed, not one: the next run sends them again
//! (receivers dedupe by guid or batch id, as they must for any retry).

use super::{Failure, PhaseEnd, Run};
use crate::manager::{Progress, SyncError};
use dcsync_contract::adapter::{PushResult, Rejection};
use dcsync_contract::model::FormSubmission;
use dcsync_engine::{CallError, CallOutcome};
use dcsync_store::{blocking, started, EventStore, PendingEvent, StoreError};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Batches on the wire, oldest first, each with its first attempt's outcome to come.
/// Dropped (the run failed), the calls still under way are stopped.
#[derive(Default)]
struct Flying(VecDeque<JoinHandle<(Part, CallOutcome<PushResult>)>>);

impl Drop for Flying {
    fn drop(&mut self) {
        for call in &self.0 {
            call.abort();
        }
    }
}

/// A confirmation under way, and what it counts once it is done.
pub(in crate::manager) struct Behind {
    work: Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>,
    accepted: u64,
    quarantined: u64,
}

/// Begin reading the batch after `after` (`i64::MIN`: the first).
fn read_ahead(
    store: &Arc<dyn EventStore>,
    config_id: &str,
    after: i64,
    limit: u32,
) -> impl Future<Output = Result<Vec<PendingEvent>, StoreError>> + Send + 'static {
    let id = config_id.to_string();
    started(store, move |s| s.pending_after(&id, after, limit))
}

/// Part of a batch: its events and their sequence numbers, in order.
struct Part {
    seqs: Vec<i64>,
    events: Vec<FormSubmission>,
}

impl Part {
    fn len(&self) -> usize {
        self.events.len()
    }

    /// Split off the second half.
    fn split_half(&mut self) -> Part {
        let at = self.len() / 2;
        Part {
            seqs: self.seqs.split_off(at),
            events: self.events.split_off(at),
        }
    }
}

impl Run<'_> {
    pub(super) async fn push_phase(&mut self) -> Result<PhaseEnd, SyncError> {
        let mut flying = Flying::default();
        let end = match self.push_batches(&mut flying).await {
            Err(failure) => Err(self.ground(flying, failure).await),
            end => end,
        };
        // Whatever ended the phase, the confirmation under way lands (or fails) first.
        let settled = self.settle().await;
        self.phase_end(end, settled, "the last confirmation")
    }

    /// The run failed with batches still on the wire: stop them, and account for those
    /// that had answered (their denials and breaches belong in the run's history). One
    /// that had a secret echoed back outranks the failure: that holds the config.
    async fn ground(&mut self, mut flying: Flying, failure: SyncError) -> SyncError {
        let function = self.push_function();
        let mut failure = failure;
        for call in std::mem::take(&mut flying.0) {
            call.abort();
            // Waited for, so that no call of this run still runs once the run is over.
            let Ok((_, outcome)) = call.await else {
                continue;
            };
            self.account(function, &outcome);
            if matches!(outcome.result, Err(CallError::SecretEchoed)) {
                failure = SyncError::SecretEchoed;
            }
        }
        failure
    }

    async fn push_batches(&mut self, flying: &mut Flying) -> Result<PhaseEnd, SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let mut first = true;
        let id = config_id.clone();
        let total = blocking(&store, move |s| s.pending_count(&id)).await?;
        let limit = self.settings.batch_size;
        let in_flight = self.settings.max_in_flight.max(1) as usize;
        let mut done = 0u64;
        let mut ahead = Some(read_ahead(&store, &config_id, i64::MIN, limit));
        // Why no more batches go out (the run's time is up, it was interrupted, nothing is
        // left): the phase ends so once those on the wire are delivered and confirmed.
        let mut stop: Option<Result<PhaseEnd, SyncError>> = None;
        loop {
            while flying.0.len() < in_flight && stop.is_none() {
                match self.safe_point() {
                    Ok(None) => {}
                    end => {
                        stop = end.transpose();
                        break;
                    }
                }
                let Some(reading) = ahead.take() else { break };
                let pending = reading.await?;
                let Some(last) = pending.last().map(|p| p.seq) else {
                    stop = Some(Ok(PhaseEnd::Done));
                    break;
                };
                ahead = Some(read_ahead(&store, &config_id, last, limit));
                if !first && self.settings.delay_between_batches_ms > 0 {
                    self.manager
                        .clock
                        .sleep(Duration::from_millis(
                            self.settings.delay_between_batches_ms,
                        ))
                        .await;
                }
                first = false;
                let (seqs, events) = pending.into_iter().map(|p| (p.seq, p.event)).unzip();
                flying.0.push_back(self.send(Part { seqs, events }));
            }
            let Some(call) = flying.0.pop_front() else {
                return stop.unwrap_or(Ok(PhaseEnd::Done));
            };
            let (batch, outcome) = call
                .await
                .map_err(|e| SyncError::Internal(format!("a push call's task failed: {e}")))?;
            done += batch.len() as u64;
            self.deliver(batch, outcome).await?;
            self.manager.progress(Progress::Push {
                done,
                total: total.max(done),
            });
        }
    }

    /// Put a batch on the wire in a task of its own: its first attempt.
    fn send(&self, batch: Part) -> JoinHandle<(Part, CallOutcome<PushResult>)> {
        let (adapter, view, ctx) = (self.adapter.clone(), self.view.clone(), self.context(false));
        let span =
            tracing::info_span!("adapter_call", function = self.push_function(), attempt = 1);
        tokio::spawn(
            async move {
                let outcome = adapter.push_batch(ctx, &view, &batch.events).await;
                (batch, outcome)
            }
            .instrument(span),
        )
    }

    /// The export that serves a push, as metrics and call records name it.
    fn push_function(&self) -> &'static str {
        if self.adapter.encoded_push() {
            "push-encoded"
        } else {
            "push-batch"
        }
    }

    /// Deliver one batch, given its first attempt's outcome, retrying and splitting it as
    /// needed; each part is confirmed in order.
    async fn deliver(
        &mut self,
        batch: Part,
        first: CallOutcome<PushResult>,
    ) -> Result<(), SyncError> {
        let mut first = Some(first);
        let mut parts: VecDeque<Part> = VecDeque::from([batch]);
        while let Some(part) = parts.pop_front() {
            match self.push_part(&part, first.take()).await {
                Ok((accepted, rejected)) => self.confirm(&part, accepted, rejected).await?,
                Err(Failure::TooBig { why, .. }) if part.len() > 1 => {
                    tracing::info!(config = %self.manager.config.id, events = part.len(), %why, "batch too large for the adapter; splitting it");
                    let mut left = part;
                    let right = left.split_half();
                    parts.push_front(right);
                    parts.push_front(left);
                }
                Err(Failure::TooBig { why, limit, error }) => {
                    let size = event_size(&part.events[0]);
                    if size.saturating_mul(8) < limit {
                        return Err(error);
                    }
                    let refused = vec![Rejection {
                        guid: part.events[0].guid.clone(),
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
    async fn push_part(
        &mut self,
        part: &Part,
        mut first: Option<CallOutcome<PushResult>>,
    ) -> Result<(u32, Vec<Rejection>), Failure> {
        // The events still to send: the part's own until the adapter rejects some (the
        // batch is handed over by reference, not copied, on the way to the adapter).
        let mut remaining: Option<Vec<FormSubmission>> = None;
        let mut rejected: Vec<Rejection> = Vec::new();
        loop {
            let batch = remaining.as_deref().unwrap_or(&part.events);
            if batch.is_empty() {
                return Ok((0, rejected));
            }
            let adapter = self.adapter.clone();
            let view = self.view.clone();
            let function = self.push_function();
            let refused = match self
                .retrying_after(function, first.take(), |ctx| {
                    adapter.push_batch(ctx, &view, batch)
                })
                .await
            {
                Ok(mut result) => {
                    result.rejected = distinct_in_batch(batch, result.rejected);
                    check_accounting(batch, &result).map_err(Failure::Fatal)?;
                    if let Some(r) = result.remote_ref {
                        self.report.remote_refs.push(self.secrets.scrub(&r));
                    }
                    rejected.extend(result.rejected.into_iter().map(|r| self.rejection(r)));
                    return Ok((result.accepted, rejected));
                }
                Err(Failure::Rejected(r)) => distinct_in_batch(batch, r),
                Err(other) => return Err(other),
            };
            if refused.is_empty() {
                return Err(Failure::Fatal(SyncError::Internal(
                    "adapter rejected events, none of them in the batch".into(),
                )));
            }
            let kept = batch
                .iter()
                .filter(|e| !refused.iter().any(|r| r.guid == e.guid))
                .cloned()
                .collect();
            remaining = Some(kept);
            rejected.extend(refused.into_iter().map(|r| self.rejection(r)));
        }
    }

    /// Record a delivered part: quarantine its rejections and move the push cursor past
    /// it, in one transaction, begun once the one before is done; it is counted when it is
    /// done ([`Run::settle`]).
    async fn confirm(
        &mut self,
        part: &Part,
        accepted: u32,
        rejected: Vec<Rejection>,
    ) -> Result<(), SyncError> {
        self.settle().await?;
        let seqs = part.seqs.clone();
        let quarantined = rejected.len() as u64;
        let id = self.manager.config.id.clone();
        let work = started(&self.manager.store, move |s| {
            s.confirm_push(&id, &seqs, &rejected)
        });
        self.behind = Some(Behind {
            work: Box::pin(work),
            accepted: accepted.into(),
            quarantined,
        });
        Ok(())
    }

    /// Wait for the confirmation under way, if any, then count it.
    async fn settle(&mut self) -> Result<(), SyncError> {
        if let Some(b) = self.behind.take() {
            b.work.await?;
            self.report.push_batches += 1;
            self.report.pushed += b.accepted;
            self.report.quarantined += b.quarantined;
        }
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
