//! `ExternalSyncManager`: the original product's API (`new` / `initialize` /
//! `is_initialized` / `synchronize`) over a host-driven sync loop.
//!
//! A sync is a push phase (pending local events in batches, the cursor moved only past
//! confirmed batches) then a pull phase (pages until `has-more` is false, each page applied
//! with its cursor in one transaction). Errors are classified: transient ones are retried
//! with exponential backoff and jitter (honouring Retry-After), the others end the run.
//! Every run is recorded with its counts and a redacted message.

use crate::applier::EventApplier;
use crate::config::{Credentials, ExternalSyncConfig, SyncSettings};
use crate::engine::bindings::types as wit;
use crate::engine::{convert, AdapterCalls, CallError, CallOutcome};
use crate::host::{CallContext, HttpClients, HttpPolicy, StoreAccess};
use crate::registry::{default_adapter_dir, AdapterRegistry};
use crate::secrets::{self, Secrets};
use crate::store::{blocking, EventStore, Rejection, RunRecord, StoreError};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Longest wait between retries, whatever the server asks.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a sync failed. `class()` is what the run history records.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("Adapter not initialized")]
    NotInitialized,
    #[error("config error: {0}")]
    Config(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("gave up after {attempts} attempts: {message}")]
    Transient { attempts: u32, message: String },
    #[error("adapter failed: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// `config`, `unauthorized`, `transient`, `internal`, `store`, `busy`.
    pub fn class(&self) -> &'static str {
        match self {
            SyncError::NotInitialized | SyncError::Config(_) => "config",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::Transient { .. } => "transient",
            SyncError::Internal(_) => "internal",
            SyncError::Store(StoreError::AlreadyRunning(_)) => "busy",
            SyncError::Store(_) => "store",
        }
    }
}

/// What a successful sync did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub run_id: i64,
    pub status: String,
    pub adapter_version: String,
    pub pushed: u64,
    pub pulled: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub retries: u64,
    pub push_batches: u64,
    pub pull_pages: u64,
    pub remote_refs: Vec<String>,
    /// Requests the host refused to make for the adapter (egress policy), as the adapter saw them.
    pub denials: Vec<String>,
    pub duration_ms: u64,
    /// Time inside adapter calls (instantiation, guest code, host calls), microseconds.
    pub adapter_us: u64,
    /// Of that, time in host HTTP on the adapter's behalf, microseconds.
    pub host_http_us: u64,
}

/// Runs syncs of one config.
pub struct ExternalSyncManager {
    store: Arc<dyn EventStore>,
    applier: Arc<EventApplier>,
    config: ExternalSyncConfig,
    registry: Option<Arc<AdapterRegistry>>,
    initialized: bool,
    wait_for_lock: bool,
    extra_origins: Vec<String>,
    clients: Option<HttpClients>,
    /// A native adapter in place of the registry's component: benchmark baseline only.
    baseline: Option<Arc<dyn AdapterCalls>>,
}

impl std::fmt::Debug for ExternalSyncManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalSyncManager")
            .field("config", &self.config)
            .field("initialized", &self.initialized)
            .finish()
    }
}

impl ExternalSyncManager {
    /// A manager for `config`; call [`ExternalSyncManager::initialize`] next.
    pub fn new(
        store: Arc<dyn EventStore>,
        applier: Arc<EventApplier>,
        config: ExternalSyncConfig,
    ) -> Self {
        ExternalSyncManager {
            store,
            applier,
            config,
            registry: None,
            initialized: false,
            wait_for_lock: false,
            extra_origins: Vec::new(),
            clients: None,
            baseline: None,
        }
    }

    /// Drive `adapter` (a native implementation) instead of a component: the baseline the
    /// benchmarks measure the sandbox against. Not a way to ship adapters.
    #[doc(hidden)]
    pub fn with_native_baseline(mut self, adapter: Arc<dyn AdapterCalls>) -> Self {
        self.baseline = Some(adapter);
        self
    }

    /// Use this registry instead of loading the default adapter directory.
    pub fn with_registry(mut self, registry: Arc<AdapterRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Wait for a running sync of the same config instead of failing.
    pub fn wait_for_lock(mut self, wait: bool) -> Self {
        self.wait_for_lock = wait;
        self
    }

    /// Use these HTTP clients (e.g. with a custom resolver) instead of the default ones.
    pub fn with_http_clients(mut self, clients: HttpClients) -> Self {
        self.clients = Some(clients);
        self
    }

    /// Origins the adapter may reach besides the config URL's.
    pub fn allow_origins(mut self, origins: Vec<String>) -> Self {
        self.extra_origins = origins;
        self
    }

    pub fn config(&self) -> &ExternalSyncConfig {
        &self.config
    }

    /// Look up the adapter for the config's `type`. An unknown type is not an error: the
    /// manager stays uninitialized (as in the original product).
    pub async fn initialize(&mut self) -> Result<(), SyncError> {
        if self.baseline.is_some() {
            self.clients =
                Some(HttpClients::new().map_err(|e| SyncError::Internal(e.to_string()))?);
            self.initialized = true;
            return Ok(());
        }
        let registry = match &self.registry {
            Some(r) => r.clone(),
            None => {
                let runtime = crate::engine::AdapterRuntime::new(Default::default())
                    .map_err(|e| SyncError::Internal(format!("cannot start the engine: {e:#}")))?;
                let r = AdapterRegistry::load_dir(runtime, &default_adapter_dir()).await;
                self.registry = Some(r.clone());
                r
            }
        };
        match registry.get(&self.config.adapter_type) {
            Some(adapter) => {
                let declared: Vec<String> = adapter
                    .info
                    .config_fields
                    .iter()
                    .filter(|f| f.secret)
                    .map(|f| f.name.clone())
                    .collect();
                self.config.mark_secret(declared.iter().map(String::as_str));
                if self.clients.is_none() {
                    let clients =
                        HttpClients::new().map_err(|e| SyncError::Internal(e.to_string()))?;
                    self.clients = Some(clients);
                }
                self.initialized = true;
            }
            None => {
                tracing::warn!(adapter_type = %self.config.adapter_type, "no adapter for this type; manager stays uninitialized");
                self.initialized = false;
            }
        }
        Ok(())
    }

    /// Whether an adapter was found for the config's type.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Run one sync: push, then pull. Fails with `Adapter not initialized` before a
    /// successful [`ExternalSyncManager::initialize`].
    pub async fn synchronize(
        &self,
        credentials: Option<Credentials>,
    ) -> Result<SyncReport, SyncError> {
        if !self.initialized {
            return Err(SyncError::NotInitialized);
        }
        // The adapter serving this type now: a hot swap takes effect at the next sync.
        let adapter: Arc<dyn AdapterCalls> = match (&self.baseline, &self.registry) {
            (Some(native), _) => native.clone(),
            (None, Some(registry)) => registry.get(&self.config.adapter_type).ok_or_else(|| {
                SyncError::Config(format!(
                    "adapter {:?} is no longer loaded",
                    self.config.adapter_type
                ))
            })?,
            (None, None) => return Err(SyncError::NotInitialized),
        };
        let limits = self
            .registry
            .as_ref()
            .map(|r| r.runtime().limits().clone())
            .unwrap_or_default();
        let settings = self
            .config
            .settings()
            .map_err(|(field, message)| SyncError::Config(format!("field `{field}`: {message}")))?;
        check_required(&self.config, adapter.info())?;
        let secrets = self.secrets(credentials.as_ref());
        let id = self.config.id.clone();
        let wait = self.wait_for_lock;
        let _lease = blocking(&self.store, move |s| s.lock_config(&id, wait)).await?;
        let (config_id, ty, version) = (
            self.config.id.clone(),
            adapter.info().type_.clone(),
            adapter.info().version.clone(),
        );
        let run_id = blocking(&self.store, move |s| s.begin_run(&config_id, &ty, &version)).await?;
        let started = Instant::now();
        let mut run = Run {
            manager: self,
            adapter: adapter.as_ref(),
            limits,
            settings,
            secrets,
            view: self.adapter_config(credentials.is_some()),
            report: SyncReport {
                run_id,
                adapter_version: adapter.info().version.clone(),
                ..Default::default()
            },
        };
        tracing::info!(config = %self.config.id, adapter = %adapter.info().type_, version = %adapter.info().version, run_id, "sync started");
        let result = if adapter.has_capability("custom-sync") {
            run.custom_sync().await
        } else {
            run.host_driven().await
        };
        let mut report = run.report;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.status = if result.is_ok() {
            "succeeded"
        } else {
            "failed"
        }
        .into();
        let record = RunRecord {
            id: run_id,
            config_id: self.config.id.clone(),
            adapter_type: adapter.info().type_.clone(),
            adapter_version: adapter.info().version.clone(),
            status: report.status.clone(),
            pushed: report.pushed,
            pulled: report.pulled,
            applied: report.applied,
            duplicates: report.duplicates,
            quarantined: report.quarantined,
            retries: report.retries,
            duration_ms: Some(report.duration_ms),
            error_class: result.as_ref().err().map(|e| e.class().to_string()),
            message: result
                .as_ref()
                .err()
                .map(|e| run.secrets.scrub(&e.to_string())),
            remote_refs: report.remote_refs.clone(),
            denials: report.denials.clone(),
            ..Default::default()
        };
        blocking(&self.store, move |s| s.finish_run(&record)).await?;
        match result {
            Ok(()) => {
                tracing::info!(config = %self.config.id, pushed = report.pushed, pulled = report.pulled, applied = report.applied, quarantined = report.quarantined, "sync finished");
                Ok(report)
            }
            Err(e) => {
                let e = redact_error(e, &run.secrets);
                tracing::warn!(config = %self.config.id, class = e.class(), error = %e, "sync failed");
                Err(e)
            }
        }
    }

    fn secrets(&self, credentials: Option<&Credentials>) -> Secrets {
        let mut s = Secrets::default();
        for (name, value) in self.config.secrets() {
            s.insert(name, value);
        }
        if let Some(c) = credentials {
            s.insert("credentials.username", c.username.clone());
            s.insert("credentials.password", c.password());
        }
        s
    }

    /// The config as the adapter sees it: secret values replaced by references.
    fn adapter_config(&self, has_credentials: bool) -> wit::AdapterConfig {
        let mut secret_names = Vec::new();
        let extra_fields = self
            .config
            .extra_fields
            .iter()
            .map(|f| {
                let value = if self.config.is_secret(&f.name) {
                    secret_names.push(f.name.clone());
                    secrets::reference(&f.name)
                } else {
                    f.value().to_string()
                };
                wit::ExtraField {
                    name: f.name.clone(),
                    value,
                }
            })
            .collect();
        if has_credentials {
            secret_names.extend([
                "credentials.username".to_string(),
                "credentials.password".to_string(),
            ]);
        }
        wit::AdapterConfig {
            id: self.config.id.clone(),
            type_: self.config.adapter_type.clone(),
            url: self.config.url.clone(),
            auth: self.config.auth.clone(),
            extra_fields,
            secret_names,
        }
    }
}

/// Required fields the adapter declares must be present before any request is made.
pub fn check_required(
    config: &ExternalSyncConfig,
    info: &wit::AdapterInfo,
) -> Result<(), SyncError> {
    let missing: Vec<&str> = info
        .config_fields
        .iter()
        .filter(|f| f.required && f.default.is_none() && config.extra(&f.name).is_none())
        .map(|f| f.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(SyncError::Config(format!(
        "adapter {:?} needs the extra field(s) {} (add them to extraFields)",
        config.adapter_type,
        missing.join(", ")
    )))
}

fn redact_error(e: SyncError, secrets: &Secrets) -> SyncError {
    match e {
        SyncError::Config(m) => SyncError::Config(secrets.scrub(&m)),
        SyncError::Unauthorized(m) => SyncError::Unauthorized(secrets.scrub(&m)),
        SyncError::Transient { attempts, message } => SyncError::Transient {
            attempts,
            message: secrets.scrub(&message),
        },
        SyncError::Internal(m) => SyncError::Internal(secrets.scrub(&m)),
        other => other,
    }
}

/// What a failed adapter call means for the run.
enum Failure {
    /// Records refused: quarantine them, resend the rest.
    Rejected(Vec<wit::Rejection>),
    Fatal(SyncError),
}

/// One run in progress.
struct Run<'m> {
    manager: &'m ExternalSyncManager,
    adapter: &'m dyn AdapterCalls,
    limits: crate::engine::Limits,
    settings: SyncSettings,
    secrets: Secrets,
    view: wit::AdapterConfig,
    report: SyncReport,
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
            let outcome = call(self.context(false)).await;
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

    async fn host_driven(&mut self) -> Result<(), SyncError> {
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
            let id = config_id.clone();
            blocking(&store, move |s| s.confirm_push(&id, &seqs, &rejected)).await?;
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

    async fn custom_sync(&mut self) -> Result<(), SyncError> {
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
