//! One sync run: the host-driven loop (push phase, pull phase) with retries, or a
//! `custom-sync` adapter's own loop, and the accounting of what it did.

mod backoff;
mod pull;
mod push;

use super::{SyncError, SyncReport};
use crate::metrics;
use dcsync_contract::adapter::{AdapterConfigView, AdapterError, Capability, Rejection};
use dcsync_contract::config::SyncSettings;
use dcsync_contract::limits::{Limit, Limits};
use dcsync_engine::{AdapterCalls, CallError, CallOutcome};
use dcsync_host::run_state::SharedRunState;
use dcsync_host::secrets::SecretPolicy;
use dcsync_host::{CallContext, HttpPolicy, Secrets, StoreAccess};
use std::time::Duration;
use tracing::Instrument;

/// How a phase ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PhaseEnd {
    /// Everything done.
    Done,
    /// The run's time ran out; the next run resumes from the cursors.
    OutOfTime,
}

impl Run<'_> {
    /// How a phase ended, given the store work it waited for at its end (`what`): the
    /// phase's own failure comes first; a second one is logged, not lost.
    fn phase_end(
        &self,
        end: Result<PhaseEnd, SyncError>,
        waited: Result<(), SyncError>,
        what: &str,
    ) -> Result<PhaseEnd, SyncError> {
        match (end, waited) {
            (Ok(end), waited) => waited.map(|()| end),
            (Err(failure), Err(also)) => {
                tracing::warn!(config = %self.manager.config.id, error = %self.secrets.scrub(&also.to_string()), "{what} failed too");
                Err(failure)
            }
            (Err(failure), Ok(())) => Err(failure),
        }
    }

    /// Before a batch or a page: stop here if asked to, or if the run's time ran out.
    fn safe_point(&self) -> Result<Option<PhaseEnd>, SyncError> {
        if self.manager.interrupt.is_interrupted() {
            return Err(SyncError::Interrupted);
        }
        Ok(self.out_of_time().then_some(PhaseEnd::OutOfTime))
    }
}

/// What a failed adapter call means for the run.
enum Failure {
    /// Records refused: quarantine them, resend the rest.
    Rejected(Vec<Rejection>),
    /// The call's input was too large for the adapter (its memory limit) or for the
    /// request size cap: a push batch splits; a single event large enough to be the
    /// cause is quarantined; otherwise the adapter is at fault and `error` ends the run.
    TooBig {
        /// Which limit, for the quarantine reason.
        why: &'static str,
        /// The size of that limit, bytes.
        limit: usize,
        /// The run's error if the input is not to blame.
        error: SyncError,
    },
    Fatal(SyncError),
}

/// A transient failure whose message starts with this is an answer in an unexpected
/// shape (the SDKs mark malformed answers so): retried like any transient failure, and
/// recorded as the `protocol` class when the retries run out.
const PROTOCOL_MARK: &str = "protocol:";

/// One run in progress.
pub(super) struct Run<'m> {
    pub(super) manager: &'m super::ExternalSyncManager,
    pub(super) adapter: std::sync::Arc<dyn AdapterCalls>,
    pub(super) limits: Limits,
    pub(super) settings: SyncSettings,
    pub(super) secrets: Secrets,
    pub(super) policy: SecretPolicy,
    pub(super) run_state: SharedRunState,
    pub(super) view: AdapterConfigView,
    pub(super) report: SyncReport,
    /// The push confirmation under way.
    pub(super) behind: Option<push::Behind>,
    /// When the run's time runs out.
    pub(super) deadline: std::time::Instant,
}

impl Run<'_> {
    fn context(&self, with_store: bool) -> CallContext {
        let m = self.manager;
        let limits = &self.limits;
        let policy = match &m.clients {
            Some(clients) => HttpPolicy::for_config(
                clients,
                &m.config.url,
                &m.extra_origins,
                Duration::from_millis(self.settings.timeout_ms),
                limits,
            ),
            None => HttpPolicy::offline(limits),
        };
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
        .with_secret_policy(self.policy.clone())
        .with_run_state(self.run_state.clone())
        .with_tape(m.tape.clone())
    }

    /// Call the adapter until it answers or a non-transient error, with backoff.
    async fn retrying<T, F, Fut>(&mut self, what: &'static str, call: F) -> Result<T, Failure>
    where
        F: FnMut(CallContext) -> Fut,
        Fut: std::future::Future<Output = CallOutcome<T>>,
    {
        self.retrying_after(what, None, call).await
    }

    /// [`Run::retrying`], the first attempt's outcome given when it was made elsewhere
    /// (a batch sent while others were on the wire).
    async fn retrying_after<T, F, Fut>(
        &mut self,
        what: &'static str,
        mut first: Option<CallOutcome<T>>,
        mut call: F,
    ) -> Result<T, Failure>
    where
        F: FnMut(CallContext) -> Fut,
        Fut: std::future::Future<Output = CallOutcome<T>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = match first.take() {
                Some(outcome) => outcome,
                None => {
                    let span = tracing::info_span!("adapter_call", function = what, attempt);
                    call(self.context(false)).instrument(span).await
                }
            };
            self.account(what, &outcome);
            let too_large = outcome
                .context
                .as_ref()
                .is_some_and(|c| c.request_too_large);
            let (delay, message) =
                match outcome.result {
                    Ok(v) => return Ok(v),
                    Err(CallError::Limit(Limit::Memory)) => {
                        return Err(Failure::TooBig {
                            why: "too large for the adapter's memory limit",
                            limit: self.limits.memory_bytes,
                            error: SyncError::Limit(Limit::Memory),
                        })
                    }
                    Err(e) if too_large => return Err(Failure::TooBig {
                        why: "too large: the adapter's request would be over the request size cap",
                        limit: self.limits.max_request_bytes,
                        error: fatal(e),
                    }),
                    Err(CallError::Adapter(AdapterError::Transient {
                        retry_after_ms,
                        message,
                    })) => (retry_after_ms.map(Duration::from_millis), message),
                    Err(CallError::Setup(m)) => (None, m),
                    Err(CallError::Adapter(AdapterError::Rejected(r))) => {
                        return Err(Failure::Rejected(r))
                    }
                    Err(e) => return Err(Failure::Fatal(fatal(e))),
                };
            if attempt > self.settings.retry_attempts {
                return Err(Failure::Fatal(match message.strip_prefix(PROTOCOL_MARK) {
                    Some(m) => SyncError::Protocol {
                        attempts: attempt,
                        message: m.trim().to_string(),
                    },
                    None => SyncError::Transient {
                        attempts: attempt,
                        message,
                    },
                }));
            }
            let wait = backoff::wait(attempt, delay);
            if self.manager.clock.now() + wait >= self.deadline {
                // A retry would outlast the run (and hold the config's lock past it): the
                // next run tries again.
                return Err(Failure::Fatal(SyncError::Transient {
                    attempts: attempt,
                    message: format!(
                        "{message} (not retried: waiting {} s would run past the run's time limit)",
                        wait.as_secs()
                    ),
                }));
            }
            tracing::info!(config = %self.manager.config.id, what, attempt, wait_ms = wait.as_millis() as u64, reason = %self.secrets.scrub(&message), "transient failure; retrying");
            self.report.retries += 1;
            self.manager.clock.sleep(wait).await;
        }
    }

    /// Push, then pull; `OutOfTime` when the run's time ran out before the end.
    pub(super) async fn host_driven(&mut self) -> Result<PhaseEnd, SyncError> {
        if self.adapter.has_capability(&Capability::Push)
            && self.push_phase().await? == PhaseEnd::OutOfTime
        {
            return Ok(PhaseEnd::OutOfTime);
        }
        if let Some(end) = self.safe_point()? {
            return Ok(end);
        }
        if self.adapter.has_capability(&Capability::Pull) {
            return self.pull_phase().await;
        }
        Ok(PhaseEnd::Done)
    }

    fn out_of_time(&self) -> bool {
        self.manager.clock.now() >= self.deadline
    }

    /// Count what one adapter call cost and saw: time, host HTTP time, metrics, denials.
    fn account<T>(&mut self, function: &'static str, outcome: &CallOutcome<T>) {
        if let Some(f) = &self.manager.on_call {
            f(&call_record(function, outcome, &self.secrets));
        }
        let adapter = self.manager.config.adapter_type.as_str();
        self.report.adapter_us += outcome.stats.duration.as_micros() as u64;
        metrics::adapter_call(
            adapter,
            function,
            outcome.stats.duration,
            outcome.stats.fuel_used,
        );
        if let Err(CallError::Limit(limit)) = &outcome.result {
            metrics::count(
                "dcsync_limit_breaches_total",
                &[("adapter", adapter), ("limit", limit.as_str())],
                1,
            );
            self.report
                .breach(format!("{function}: the {} limit", limit.as_str()));
        }
        if outcome
            .context
            .as_ref()
            .is_some_and(|c| c.request_too_large)
        {
            self.report.breach(format!(
                "{function}: a request over the {} byte size cap",
                self.limits.max_request_bytes
            ));
        }
        if let Some(ctx) = &outcome.context {
            self.report.host_http_us += ctx.http_time.as_micros() as u64;
            metrics::count(
                "dcsync_adapter_log_lines_dropped_total",
                &[("adapter", adapter)],
                ctx.logs_dropped,
            );
            for d in &ctx.denials {
                tracing::warn!(config = %self.manager.config.id, denial = %d, "adapter request denied");
                self.report.denials.push(self.secrets.scrub(d));
            }
        }
    }

    fn rejection(&self, r: Rejection) -> Rejection {
        Rejection {
            guid: r.guid,
            reason: self.secrets.scrub(&r.reason),
        }
    }

    pub(super) async fn custom_sync(&mut self) -> Result<PhaseEnd, SyncError> {
        let outcome = self.adapter.sync(self.context(true), &self.view).await;
        self.account("sync", &outcome);
        if let Some(ctx) = &outcome.context {
            self.report
                .remote_refs
                .extend(ctx.remote_refs.iter().cloned());
        }
        match outcome.result {
            Ok(r) => {
                self.report.pushed = r.pushed;
                self.report.pulled = r.pulled;
                self.report.applied = r.applied;
                self.report.duplicates = r.duplicates;
                self.report.quarantined = r.quarantined;
                self.report
                    .remote_refs
                    .extend(r.remote_refs.iter().map(|s| self.secrets.scrub(s)));
                Ok(PhaseEnd::Done)
            }
            Err(CallError::Adapter(AdapterError::Transient { message, .. })) => {
                Err(SyncError::Transient {
                    attempts: 1,
                    message,
                })
            }
            Err(CallError::Adapter(AdapterError::Rejected(_))) => {
                Err(SyncError::Internal("sync answered `rejected`".into()))
            }
            Err(e) => Err(fatal(e)),
        }
    }
}

/// What a call cost and reached, for the manager's call observer.
pub(super) fn call_record<T>(
    function: &'static str,
    outcome: &CallOutcome<T>,
    secrets: &Secrets,
) -> super::CallRecord {
    super::CallRecord {
        function,
        duration_us: outcome.stats.duration.as_micros() as u64,
        fuel: outcome.stats.fuel_used,
        memory_bytes: outcome.stats.memory_bytes as u64,
        origins: outcome
            .context
            .as_ref()
            .map(|c| c.origins.iter().cloned().collect())
            .unwrap_or_default(),
        outcome: match &outcome.result {
            Ok(_) => "ok".into(),
            Err(e) => secrets.scrub(&e.to_string()),
        },
    }
}

/// A call failure that ends the run.
pub(super) fn fatal(e: CallError) -> SyncError {
    match e {
        CallError::Adapter(AdapterError::Config(m)) => SyncError::Config(m),
        CallError::Adapter(AdapterError::Unauthorized(m)) => SyncError::Unauthorized(m),
        CallError::Adapter(AdapterError::Internal(m)) => SyncError::Internal(m),
        CallError::Adapter(AdapterError::Transient { message, .. }) => SyncError::Transient {
            attempts: 1,
            message,
        },
        CallError::Adapter(AdapterError::Rejected(r)) => SyncError::Internal(format!(
            "{} record(s) rejected where no rejection is possible",
            r.len()
        )),
        CallError::Limit(l) => SyncError::Limit(l),
        CallError::Trap(m) => SyncError::Internal(format!("adapter trapped: {m}")),
        CallError::Setup(m) => SyncError::Internal(format!("cannot run adapter: {m}")),
        CallError::SecretEchoed => SyncError::SecretEchoed,
    }
}
