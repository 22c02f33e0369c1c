//! One sync run: the host-driven loop (push phase, pull phase) with retries, or a
//! `custom-sync` adapter's own loop, and the accounting of what it did.

use super::{SyncError, SyncReport};
use crate::config::SyncSettings;
use crate::engine::bindings::types as wit;
use crate::engine::{convert, AdapterCalls, CallError, CallOutcome};
use crate::host::{CallContext, HttpPolicy, StoreAccess};
use crate::secrets::Secrets;
use crate::store::{blocking, Rejection};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Longest wait between retries, whatever the server asks.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a failed adapter call means for the run.
enum Failure {
    /// Records refused: quarantine them, resend the rest.
    Rejected(Vec<wit::Rejection>),
    Fatal(SyncError),
}

/// One run in progress.
pub(super) struct Run<'m> {
    pub(super) manager: &'m super::ExternalSyncManager,
    pub(super) adapter: &'m dyn AdapterCalls,
    pub(super) limits: crate::engine::Limits,
    pub(super) settings: SyncSettings,
    pub(super) secrets: Secrets,
    pub(super) view: wit::AdapterConfig,
    pub(super) report: SyncReport,
}

impl Run<'_> {
    fn context(&self, with_store: bool) -> CallContext {
        let m = self.manager;
        let limits = &self.limits;
        let clients = m
            .clients
            .as_ref()
            .expect("initialize() sets the HTTP clients");
        let policy = HttpPolicy::for_config(
            clients,
            &m.config.url,
            &m.extra_origins,
            Duration::from_millis(self.settings.timeout_ms),
            limits,
        );
        let store = with_store.then(|| StoreAccess {
            store: m.store.clone(),
            applier: m.applier.clone(),
        });
        CallContext::new(
            &m.config.id,
            &m.config.adapter_type,
            self.secrets.clone(),
            policy,
            store,
            limits,
        )
    }

    /// Call the adapter until it answers or a non-transient error, with backoff.
    async fn retrying<T, F, Fut>(&mut self, what: &str, mut call: F) -> Result<T, Failure>
    where
        F: FnMut(CallContext) -> Fut,
        Fut: std::future::Future<Output = CallOutcome<Result<T, wit::SyncError>>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let span = tracing::info_span!("adapter_call", function = what, attempt);
            let outcome = call(self.context(false)).instrument(span).await;
            self.account(started, &outcome.context);
            self.record_denials(&outcome.context);
            let (delay, message) = match outcome.result {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(wit::SyncError::Transient(t))) => {
                    (t.retry_after_ms.map(Duration::from_millis), t.message)
                }
                Ok(Err(wit::SyncError::Rejected(r))) => return Err(Failure::Rejected(r)),
                Ok(Err(wit::SyncError::Config(m))) => {
                    return Err(Failure::Fatal(SyncError::Config(m)))
                }
                Ok(Err(wit::SyncError::Unauthorized(m))) => {
                    return Err(Failure::Fatal(SyncError::Unauthorized(m)))
                }
                Ok(Err(wit::SyncError::Internal(m))) => {
                    return Err(Failure::Fatal(SyncError::Internal(m)))
                }
                Err(CallError::Setup(m)) => (None, m),
                Err(e) => return Err(Failure::Fatal(SyncError::Internal(e.to_string()))),
            };
            if attempt > self.settings.retry_attempts {
                return Err(Failure::Fatal(SyncError::Transient {
                    attempts: attempt,
                    message,
                }));
            }
            let wait = delay.unwrap_or_else(|| backoff(attempt)).min(MAX_BACKOFF);
            tracing::info!(config = %self.manager.config.id, what, attempt, wait_ms = wait.as_millis() as u64, reason = %self.secrets.scrub(&message), "transient failure; retrying");
            self.report.retries += 1;
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) async fn host_driven(&mut self) -> Result<(), SyncError> {
        if self.adapter.has_capability("push") {
            self.push_phase().await?;
        }
        if self.adapter.has_capability("pull") {
            self.pull_phase().await?;
        }
        Ok(())
    }

    async fn push_phase(&mut self) -> Result<(), SyncError> {
        let store = self.manager.store.clone();
        let config_id = self.manager.config.id.clone();
        let mut first = true;
        let id = config_id.clone();
        let total = blocking(&store, move |s| s.pending_count(&id)).await?;
        let mut done = 0u64;
        loop {
            let (id, limit) = (config_id.clone(), self.settings.batch_size);
            let pending = blocking(&store, move |s| s.pending_events(&id, limit)).await?;
            if pending.is_empty() {
                return Ok(());
            }
            if !first && self.settings.delay_between_batches_ms > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.settings.delay_between_batches_ms,
                ))
                .await;
            }
            first = false;
            let seqs: Vec<i64> = pending.iter().map(|p| p.seq).collect();
            let mut batch: Vec<wit::FormSubmission> = pending
                .iter()
                .map(|p| convert::event_to_wit(&p.event))
                .collect();
            let mut rejected: Vec<Rejection> = Vec::new();
            while !batch.is_empty() {
                let adapter = self.adapter;
                let view = self.view.clone();
                let events = batch.clone();
                let outcome = self
                    .retrying("push", |ctx| {
                        let (view, events) = (view.clone(), events.clone());
                        async move { adapter.push_batch(ctx, &view, &events).await }
                    })
                    .await;
                let refused = match outcome {
                    Ok(result) => {
                        check_accounting(&batch, &result)?;
                        self.report.push_batches += 1;
                        self.report.pushed += result.accepted as u64;
                        if let Some(r) = result.remote_ref {
                            self.report.remote_refs.push(self.secrets.scrub(&r));
                        }
                        rejected.extend(result.rejected.into_iter().map(|r| self.rejection(r)));
                        break;
                    }
                    Err(Failure::Rejected(r)) => r,
                    Err(Failure::Fatal(e)) => return Err(e),
                };
                if refused.is_empty()
                    || refused
                        .iter()
                        .any(|r| !batch.iter().any(|e| e.guid == r.guid))
                {
                    return Err(SyncError::Internal(
                        "adapter rejected events that are not in the batch".into(),
                    ));
                }
                batch.retain(|e| !refused.iter().any(|r| r.guid == e.guid));
                rejected.extend(refused.into_iter().map(|r| self.rejection(r)));
            }
            self.report.quarantined += rejected.len() as u64;
            done += seqs.len() as u64;
            let id = config_id.clone();
            blocking(&store, move |s| s.confirm_push(&id, &seqs, &rejected)).await?;
            self.manager.progress(super::Progress::Push {
                done,
                total: total.max(done),
            });
        }
    }

    /// Count the time of one adapter call, and its host HTTP time.
    fn account(&mut self, started: Instant, context: &Option<CallContext>) {
        self.report.adapter_us += started.elapsed().as_micros() as u64;
        if let Some(ctx) = context {
            self.report.host_http_us += ctx.http_time.as_micros() as u64;
        }
    }

    /// Keep what the host refused to do for the adapter, for the run history.
    fn record_denials(&mut self, context: &Option<CallContext>) {
        if let Some(ctx) = context {
            for d in &ctx.denials {
                tracing::warn!(config = %self.manager.config.id, denial = %d, "adapter request denied");
                self.report.denials.push(self.secrets.scrub(d));
            }
        }
    }

    fn rejection(&self, r: wit::Rejection) -> Rejection {
        Rejection {
            guid: r.guid,
            reason: self.secrets.scrub(&r.reason),
        }
    }

    async fn pull_phase(&mut self) -> Result<(), SyncError> {
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
                .retrying("pull", |ctx| {
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
            let events =
                convert::pulled_events(&config_id, page.events).map_err(SyncError::Internal)?;
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
            self.manager.progress(super::Progress::Pull {
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

    pub(super) async fn custom_sync(&mut self) -> Result<(), SyncError> {
        let started = Instant::now();
        let outcome = self.adapter.sync(self.context(true), &self.view).await;
        self.account(started, &outcome.context);
        self.record_denials(&outcome.context);
        if let Some(ctx) = &outcome.context {
            self.report
                .remote_refs
                .extend(ctx.remote_refs.iter().cloned());
        }
        match outcome.result {
            Ok(Ok(r)) => {
                self.report.pushed = r.pushed;
                self.report.pulled = r.pulled;
                self.report.applied = r.applied;
                self.report.duplicates = r.duplicates;
                self.report.quarantined = r.quarantined;
                self.report
                    .remote_refs
                    .extend(r.remote_refs.iter().map(|s| self.secrets.scrub(s)));
                Ok(())
            }
            Ok(Err(wit::SyncError::Config(m))) => Err(SyncError::Config(m)),
            Ok(Err(wit::SyncError::Unauthorized(m))) => Err(SyncError::Unauthorized(m)),
            Ok(Err(wit::SyncError::Transient(t))) => Err(SyncError::Transient {
                attempts: 1,
                message: t.message,
            }),
            Ok(Err(wit::SyncError::Rejected(_))) => {
                Err(SyncError::Internal("sync answered `rejected`".into()))
            }
            Ok(Err(wit::SyncError::Internal(m))) => Err(SyncError::Internal(m)),
            Err(e) => Err(SyncError::Internal(e.to_string())),
        }
    }
}

/// The adapter must account for every event of the batch, accepted or rejected.
fn check_accounting(
    batch: &[wit::FormSubmission],
    result: &wit::PushResult,
) -> Result<(), SyncError> {
    let accounted = result.accepted as usize + result.rejected.len();
    if accounted != batch.len() {
        return Err(SyncError::Internal(format!(
            "adapter accounted for {accounted} of {} events in the batch; nothing was confirmed",
            batch.len()
        )));
    }
    if result
        .rejected
        .iter()
        .any(|r| !batch.iter().any(|e| e.guid == r.guid))
    {
        return Err(SyncError::Internal(
            "adapter rejected events that are not in the batch".into(),
        ));
    }
    Ok(())
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … (± up to half), capped.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let jitter = rand::random_range(0..=base / 2);
    Duration::from_millis(base / 2 + base / 4 + jitter).min(MAX_BACKOFF)
}
