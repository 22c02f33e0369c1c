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
use crate::engine::AdapterCalls;
use crate::host::HttpClients;
use crate::registry::{default_adapter_dir, AdapterRegistry};
use crate::secrets::{self, Secrets};
use crate::store::{blocking, EventStore, RunRecord, StoreError};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;
use tracing::Instrument;

mod run;

use run::Run;

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

/// How far a running sync is, reported after each batch and page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `done` of `total` pending events pushed (delivered or quarantined).
    Push { done: u64, total: u64 },
    /// Events pulled so far (the total is not known in advance).
    Pull { pulled: u64 },
}

/// Called with the progress of a running sync.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

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
    on_progress: Option<ProgressFn>,
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
            on_progress: None,
        }
    }

    /// Call `f` with the progress of each sync (after every batch pushed and page pulled).
    pub fn on_progress(mut self, f: ProgressFn) -> Self {
        self.on_progress = Some(f);
        self
    }

    fn progress(&self, p: Progress) {
        if let Some(f) = &self.on_progress {
            f(p);
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
        let prepared = self.begin(credentials).await?;
        self.execute(prepared).await
    }

    /// Take the config's lock and record the run, then sync in the background: the run id
    /// is known at once, the report comes from the handle.
    pub async fn spawn_synchronize(
        self: &Arc<Self>,
        credentials: Option<Credentials>,
    ) -> Result<(i64, tokio::task::JoinHandle<Result<SyncReport, SyncError>>), SyncError> {
        let prepared = self.begin(credentials).await?;
        let run_id = prepared.run_id;
        let me = self.clone();
        Ok((
            run_id,
            tokio::spawn(async move { me.execute(prepared).await }),
        ))
    }

    /// Everything a run needs before it talks to the adapter; the lock is held from here.
    async fn begin(&self, credentials: Option<Credentials>) -> Result<Prepared, SyncError> {
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
        let settings = self
            .config
            .settings()
            .map_err(|(field, message)| SyncError::Config(format!("field `{field}`: {message}")))?;
        check_required(&self.config, adapter.info())?;
        let id = self.config.id.clone();
        let wait = self.wait_for_lock;
        let lease = blocking(&self.store, move |s| s.lock_config(&id, wait)).await?;
        let (config_id, ty, version) = (
            self.config.id.clone(),
            adapter.info().type_.clone(),
            adapter.info().version.clone(),
        );
        let run_id = blocking(&self.store, move |s| s.begin_run(&config_id, &ty, &version)).await?;
        Ok(Prepared {
            limits: self
                .registry
                .as_ref()
                .map(|r| r.runtime().limits().clone())
                .unwrap_or_default(),
            secrets: self.secrets(credentials.as_ref()),
            view: self.adapter_config(credentials.is_some()),
            adapter,
            settings,
            run_id,
            _lease: lease,
        })
    }

    /// The run itself, recorded in the run history and the metrics whatever its outcome.
    async fn execute(&self, p: Prepared) -> Result<SyncReport, SyncError> {
        let info = p.adapter.info().clone();
        let span = tracing::info_span!("sync", config = %self.config.id, adapter = %info.type_, version = %info.version, run_id = p.run_id);
        let started = Instant::now();
        let mut run = Run {
            manager: self,
            adapter: p.adapter.as_ref(),
            limits: p.limits,
            settings: p.settings,
            secrets: p.secrets,
            view: p.view,
            report: SyncReport {
                run_id: p.run_id,
                adapter_version: info.version.clone(),
                ..Default::default()
            },
        };
        let result = async {
            tracing::info!("sync started");
            if run.adapter.has_capability("custom-sync") {
                run.custom_sync().await
            } else {
                run.host_driven().await
            }
        }
        .instrument(span.clone())
        .await;
        let mut report = run.report;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.status = if result.is_ok() {
            "succeeded"
        } else {
            "failed"
        }
        .into();
        let result = result.map_err(|e| redact_error(e, &run.secrets));
        let record = RunRecord {
            id: p.run_id,
            config_id: self.config.id.clone(),
            adapter_type: info.type_.clone(),
            adapter_version: info.version.clone(),
            status: report.status.clone(),
            pushed: report.pushed,
            pulled: report.pulled,
            applied: report.applied,
            duplicates: report.duplicates,
            quarantined: report.quarantined,
            retries: report.retries,
            duration_ms: Some(report.duration_ms),
            error_class: result.as_ref().err().map(|e| e.class().to_string()),
            message: result.as_ref().err().map(|e| e.to_string()),
            remote_refs: report.remote_refs.clone(),
            denials: report.denials.clone(),
            ..Default::default()
        };
        blocking(&self.store, move |s| s.finish_run(&record)).await?;
        self.count(&report, result.as_ref().err());
        let _entered = span.enter();
        match result {
            Ok(()) => {
                tracing::info!(
                    pushed = report.pushed,
                    pulled = report.pulled,
                    applied = report.applied,
                    quarantined = report.quarantined,
                    "sync finished"
                );
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(class = e.class(), error = %e, "sync failed");
                Err(e)
            }
        }
    }

    fn count(&self, r: &SyncReport, error: Option<&SyncError>) {
        use crate::metrics::count;
        let config = [("config", self.config.id.as_str())];
        let outcome = error.map_or("succeeded", |e| e.class());
        count(
            "dcsync_syncs_total",
            &[("config", self.config.id.as_str()), ("outcome", outcome)],
            1,
        );
        count("dcsync_events_pushed_total", &config, r.pushed);
        count("dcsync_events_pulled_total", &config, r.pulled);
        count("dcsync_events_applied_total", &config, r.applied);
        count("dcsync_events_quarantined_total", &config, r.quarantined);
        count("dcsync_retries_total", &config, r.retries);
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

/// A run that holds its config's lock and has its id, ready to talk to the adapter.
struct Prepared {
    adapter: Arc<dyn AdapterCalls>,
    limits: crate::engine::Limits,
    settings: SyncSettings,
    secrets: Secrets,
    view: wit::AdapterConfig,
    run_id: i64,
    _lease: crate::store::SyncLease,
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
