//! What one adapter call may reach, and what it did: the per-call state every host
//! import works from.

use crate::egress::HttpPolicy;
use crate::run_state::SharedRunState;
use crate::secrets::{SecretPolicy, Secrets};
use dcsync_applier::EventApplier;
use dcsync_contract::limits::{Limit, LimitBreach, Limits};
use dcsync_store::EventStore;
use std::sync::Arc;
use std::time::Duration;

/// The store and applier an adapter may use through `event-store` / `event-applier`
/// (only during a `custom-sync` run).
#[derive(Clone)]
pub struct StoreAccess {
    /// The store of the config being synced.
    pub store: Arc<dyn EventStore>,
    /// How pulled events are applied.
    pub applier: Arc<EventApplier>,
}

/// Everything one adapter call may reach, and what it did.
pub struct CallContext {
    /// The config the call runs for.
    pub config_id: String,
    /// The adapter type (for log lines and metrics).
    pub adapter_type: String,
    /// The secret values references may name.
    pub secrets: Secrets,
    /// Where each secret may be filled in.
    pub secret_policy: SecretPolicy,
    /// Values that live for the run.
    pub run_state: SharedRunState,
    /// Where requests may go.
    pub http: HttpPolicy,
    /// The store, for a `custom-sync` run.
    pub store: Option<StoreAccess>,
    pub(crate) hostcalls_left: u32,
    pub(crate) log_lines_left: u32,
    /// Log lines dropped past the limit.
    pub logs_dropped: u64,
    /// Sequence numbers handed out by `pending-events`, not yet confirmed.
    pub(crate) handed_out: Vec<(String, i64)>,
    /// What a `custom-sync` run reported through the imports.
    pub remote_refs: Vec<String>,
    /// Each host denial or failure the adapter saw, for run history.
    pub denials: Vec<String>,
    /// Time spent in host HTTP on the adapter's behalf.
    pub http_time: Duration,
    /// A request the adapter built was over the request size cap: a batch too large to
    /// send, which the push loop splits.
    pub request_too_large: bool,
    /// A secret was filled into a request of this call.
    pub secret_sent: bool,
    /// An answer held a secret value: the call was stopped and the config must be held
    /// until the operator looks (see SECURITY.md).
    pub secret_echoed: bool,
    /// The origins (`scheme://host:port`) the call's requests went to.
    pub origins: std::collections::BTreeSet<String>,
    /// A recording to add the call's exchanges to, or to answer them from.
    pub tape: Option<Arc<crate::tape::Tape>>,
}

impl CallContext {
    /// A context for one call of the adapter `adapter_type` for the config `config_id`.
    pub fn new(
        config_id: &str,
        adapter_type: &str,
        secrets: Secrets,
        http: HttpPolicy,
        store: Option<StoreAccess>,
        limits: &Limits,
    ) -> Self {
        CallContext {
            config_id: config_id.to_string(),
            adapter_type: adapter_type.to_string(),
            secrets,
            secret_policy: SecretPolicy::default(),
            run_state: SharedRunState::default(),
            http,
            store,
            hostcalls_left: limits.hostcalls,
            log_lines_left: limits.log_lines,
            logs_dropped: 0,
            handed_out: Vec::new(),
            remote_refs: Vec::new(),
            denials: Vec::new(),
            http_time: Duration::ZERO,
            request_too_large: false,
            secret_sent: false,
            secret_echoed: false,
            origins: Default::default(),
            tape: None,
        }
    }

    /// Recording into, or replaying from, `tape`.
    pub fn with_tape(mut self, tape: Option<Arc<crate::tape::Tape>>) -> Self {
        self.tape = tape;
        self
    }

    /// A context with no network, store or secrets (`describe()`, load-time checks).
    pub fn offline(limits: &Limits) -> Self {
        Self::new(
            "",
            "",
            Secrets::default(),
            HttpPolicy::offline(limits),
            None,
            limits,
        )
    }

    /// With these placement rules.
    pub fn with_secret_policy(mut self, policy: SecretPolicy) -> Self {
        self.secret_policy = policy;
        self
    }

    /// Sharing this run's state.
    pub fn with_run_state(mut self, state: SharedRunState) -> Self {
        self.run_state = state;
        self
    }

    /// Count one host call; past the budget the guest traps.
    pub(crate) fn hostcall(&mut self) -> wasmtime::Result<()> {
        if self.hostcalls_left == 0 {
            return Err(LimitBreach(Limit::Hostcalls).into());
        }
        self.hostcalls_left -= 1;
        Ok(())
    }
}
