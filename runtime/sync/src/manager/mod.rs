//! `ExternalSyncManager`: the original product's API (`new` / `initialize` /
//! `is_initialized` / `synchronize`) over a host-driven sync loop.
//!
//! A sync is a push phase (pending local events in batches, the cursor moved only past
//! confirmed batches) then a pull phase (pages until `has-more` is false, each page applied
//! with its cursor in one transaction). Errors are classified: transient ones are retried
//! with exponential backoff and jitter (honouring Retry-After), the others end the run.
//! Every run is recorded with its counts and a redacted message.
//!
//! Over 400 lines: the manager's public API and the checks before a run (resolve, secrets,
//! placements, holds) in one place; the run loop itself is in `run/`.

mod report;
mod run;

pub use report::{CallFn, CallRecord, Progress, ProgressFn, SyncError, SyncReport};

use crate::registry::AdapterRegistry;
use crate::resolve::{resolve, FieldProblem, ResolveError};
use dcsync_applier::EventApplier;
use dcsync_contract::adapter::{AdapterConfigView, Capability, ConnectionCheck};
use dcsync_contract::config::{Credentials, ExternalSyncConfig, SyncSettings};
use dcsync_contract::limits::Limits;
use dcsync_contract::outcome::RunStatus;
use dcsync_engine::AdapterCalls;
use dcsync_host::secrets::{SecretPolicy, Secrets};
use dcsync_host::tape::Tape;
use dcsync_host::{CallContext, HttpClients, HttpPolicy};
use dcsync_store::{blocking, EventStore, RunRecord};
use run::Run;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

/// Where a manager finds the adapter serving a type, at each sync. The
/// [`AdapterRegistry`] is the implementation; the benchmarks give a native baseline.
pub trait AdapterSource: Send + Sync {
    /// The adapter serving `adapter_type` now.
    fn adapter(&self, adapter_type: &str) -> Option<Arc<dyn AdapterCalls>>;
    /// The limits every call gets.
    fn limits(&self) -> Limits;
}

impl AdapterSource for AdapterRegistry {
    fn adapter(&self, adapter_type: &str) -> Option<Arc<dyn AdapterCalls>> {
        self.get(adapter_type).map(|a| a as Arc<dyn AdapterCalls>)
    }

    fn limits(&self) -> Limits {
        self.runtime().limits().clone()
    }
}

/// Runs syncs of one config.
pub struct ExternalSyncManager {
    store: Arc<dyn EventStore>,
    applier: Arc<EventApplier>,
    config: ExternalSyncConfig,
    adapters: Option<Arc<dyn AdapterSource>>,
    initialized: bool,
    wait_for_lock: bool,
    extra_origins: Vec<String>,
    secret_rules: SecretPolicy,
    interrupt: crate::Interrupt,
    clients: Option<HttpClients>,
    on_progress: Option<ProgressFn>,
    on_call: Option<CallFn>,
    tape: Option<Arc<Tape>>,
    clock: Arc<dyn crate::clock::Clock>,
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
            adapters: None,
            initialized: false,
            wait_for_lock: false,
            extra_origins: Vec::new(),
            secret_rules: SecretPolicy::default(),
            interrupt: crate::Interrupt::new(),
            clients: None,
            on_progress: None,
            on_call: None,
            tape: None,
            clock: Arc::new(crate::clock::SystemClock),
        }
    }

    /// Run on `clock` instead of real time: waits (backoff, Retry-After, the pause between
    /// batches) and the run's time budget follow it (tests, simulations).
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Call `f` after every adapter call, with what it cost and reached.
    pub fn on_call(mut self, f: CallFn) -> Self {
        self.on_call = Some(f);
        self
    }

    /// Record the adapter's HTTP exchanges into `tape`, or answer them from it (see
    /// [`dcsync_host::tape`]).
    pub fn with_tape(mut self, tape: Arc<Tape>) -> Self {
        self.tape = Some(tape);
        self
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

    /// Use this registry instead of loading the default adapter directory.
    pub fn with_registry(self, registry: Arc<AdapterRegistry>) -> Self {
        self.with_adapters(registry)
    }

    /// Find adapters in `adapters` (a registry, or a benchmark's native baseline).
    pub fn with_adapters(mut self, adapters: Arc<dyn AdapterSource>) -> Self {
        self.adapters = Some(adapters);
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

    /// The operator's secret rules for this config's adapter type: whether its declared
    /// JSON-body placements are approved, and which secret may reach which extra origin.
    /// (The adapter's own declarations are taken from it at each sync.)
    pub fn secret_rules(
        mut self,
        approved: bool,
        other_origins: BTreeMap<String, Vec<String>>,
    ) -> Self {
        self.secret_rules.approved = approved;
        self.secret_rules.other_origins = other_origins;
        self
    }

    /// Stop runs at their next safe point when `interrupt` is triggered (a signal, a
    /// server shutting down); such a run is recorded `interrupted`.
    pub fn with_interrupt(mut self, interrupt: crate::Interrupt) -> Self {
        self.interrupt = interrupt;
        self
    }

    /// The config this manager syncs.
    pub fn config(&self) -> &ExternalSyncConfig {
        &self.config
    }

    /// Look up the adapter for the config's `type`. An unknown type is not an error: the
    /// manager stays uninitialized (as in the original product).
    pub async fn initialize(&mut self) -> Result<(), SyncError> {
        let adapters = match &self.adapters {
            Some(a) => a.clone(),
            None => {
                let registry = AdapterRegistry::load_default()
                    .await
                    .map_err(|e| SyncError::Internal(format!("cannot start the engine: {e:#}")))?;
                self.adapters = Some(registry.clone());
                registry
            }
        };
        self.initialized = adapters.adapter(&self.config.adapter_type).is_some();
        if !self.initialized {
            tracing::warn!(adapter_type = %self.config.adapter_type, "no adapter for this type; manager stays uninitialized");
            return Ok(());
        }
        if self.clients.is_none() {
            let clients = HttpClients::new().map_err(|e| SyncError::Internal(e.to_string()))?;
            self.clients = Some(clients);
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
        let c = self.check(credentials.as_ref()).await?;
        let id = self.config.id.clone();
        let wait = self.wait_for_lock;
        let lease = blocking(&self.store, move |s| s.lock_config(&id, wait)).await?;
        let (config_id, ty, version) = (
            self.config.id.clone(),
            c.adapter.info().adapter_type.clone(),
            c.adapter.info().version.clone(),
        );
        let run_id = blocking(&self.store, move |s| s.begin_run(&config_id, &ty, &version)).await?;
        Ok(Prepared {
            limits: c.limits,
            view: c.view,
            secrets: c.secrets,
            policy: c.policy,
            adapter: c.adapter,
            settings: c.settings,
            run_id,
            _lease: lease,
        })
    }

    /// Everything a sync or a connection test needs before it talks to the adapter: the
    /// adapter serving the type now, the config resolved against it (its declared and
    /// remembered secrets, its required fields, its own rules), and no hold on it.
    async fn check(&self, credentials: Option<&Credentials>) -> Result<Checked, SyncError> {
        let (true, Some(adapters)) = (self.initialized, &self.adapters) else {
            return Err(SyncError::NotInitialized);
        };
        // The adapter serving this type now: a hot swap takes effect at the next sync,
        // and the config is resolved against it (its declared secrets, its required fields).
        let adapter = adapters.adapter(&self.config.adapter_type).ok_or_else(|| {
            SyncError::Config(format!(
                "adapter {:?} is no longer loaded",
                self.config.adapter_type
            ))
        })?;
        let mut resolved = resolve(&self.config, adapter.info())?;
        // Once secret, always secret: a swap to a version that stops declaring a field
        // does not hand its value over in clear.
        let (id, names) = (
            self.config.id.clone(),
            resolved
                .config
                .secret_field_names()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
        let remembered =
            blocking(&self.store, move |s| s.remember_secret_names(&id, &names)).await?;
        resolved
            .config
            .mark_secret(remembered.iter().map(String::as_str));
        let id = self.config.id.clone();
        if let Some((since, reason)) = blocking(&self.store, move |s| s.hold(&id)).await? {
            return Err(SyncError::Held {
                config: self.config.id.clone(),
                since,
                reason,
            });
        }
        let secrets = secrets_of(&resolved.config, credentials);
        let view = adapter_view(&resolved.config, credentials.is_some(), &secrets);
        // The adapter's own rules (1.1 `validate`), conditional ones included.
        let problems = adapter
            .validate_config(&view)
            .await
            .map_err(|e| redact_error(run::fatal(e), &secrets))?;
        if !problems.is_empty() {
            return Err(SyncError::Resolve(ResolveError {
                adapter_type: self.config.adapter_type.clone(),
                problems: problems
                    .into_iter()
                    .map(|p| FieldProblem {
                        field: p.field,
                        message: p.message,
                    })
                    .collect(),
            }));
        }
        let policy = SecretPolicy {
            manifest: adapter.manifest().cloned(),
            ..self.secret_rules.clone()
        };
        Ok(Checked {
            limits: adapters.limits(),
            settings: resolved.settings,
            adapter,
            secrets,
            view,
            policy,
        })
    }

    /// Try the config's credentials against the external system through the adapter's
    /// 1.1 `check-connection`, under the same rules as a sync (secrets by placement, the
    /// allowed origins, a hold when an answer holds a secret); `None` when the adapter
    /// has no such export. Nothing is recorded in the run history: no sync ran.
    pub async fn check_connection(
        &self,
        credentials: Option<Credentials>,
    ) -> Result<Option<ConnectionCheck>, SyncError> {
        let c = self.check(credentials.as_ref()).await?;
        let http = match &self.clients {
            Some(clients) => HttpPolicy::for_config(
                clients,
                &self.config.url,
                &self.extra_origins,
                std::time::Duration::from_millis(c.settings.timeout_ms),
                &c.limits,
            ),
            None => HttpPolicy::offline(&c.limits),
        };
        let ctx = CallContext::new(
            &self.config.id,
            &self.config.adapter_type,
            c.secrets.clone(),
            http,
            None,
            &c.limits,
        )
        .with_secret_policy(c.policy.clone())
        .with_tape(self.tape.clone());
        let outcome = c.adapter.check_connection_with(ctx, &c.view).await;
        if let Some(f) = &self.on_call {
            f(&run::call_record("check-connection", &outcome, &c.secrets));
        }
        match outcome.result {
            Ok(found) => Ok(found),
            Err(e) => {
                let e = run::fatal(e);
                if matches!(e, SyncError::SecretEchoed) {
                    let (id, reason) = (
                        self.config.id.clone(),
                        "a connection test saw an answer holding a secret value".to_string(),
                    );
                    blocking(&self.store, move |s| s.hold_config(&id, &reason)).await?;
                }
                Err(redact_error(e, &c.secrets))
            }
        }
    }

    /// The run itself, recorded in the run history and the metrics whatever its outcome.
    async fn execute(&self, p: Prepared) -> Result<SyncReport, SyncError> {
        let info = p.adapter.info().clone();
        let span = tracing::info_span!("sync", config = %self.config.id, adapter = %info.adapter_type, version = %info.version, run_id = p.run_id);
        let started = self.clock.now();
        let mut run = Run {
            manager: self,
            adapter: p.adapter.clone(),
            limits: p.limits.clone(),
            settings: p.settings,
            secrets: p.secrets,
            policy: p.policy,
            run_state: Default::default(),
            deadline: started + p.limits.run_time,
            view: p.view,
            report: SyncReport::new(p.run_id, info.version.clone()),
            behind: None,
        };
        let result = async {
            tracing::info!("sync started");
            if run.adapter.has_capability(&Capability::CustomSync) {
                run.custom_sync().await
            } else {
                run.host_driven().await
            }
        }
        .instrument(span.clone())
        .await;
        let mut report = run.report;
        report.duration_ms = (self.clock.now() - started).as_millis() as u64;
        report.status = match &result {
            Ok(run::PhaseEnd::Done) => RunStatus::Succeeded,
            Ok(run::PhaseEnd::OutOfTime) => RunStatus::Incomplete,
            Err(SyncError::Interrupted) => RunStatus::Interrupted,
            Err(_) => RunStatus::Failed,
        };
        let result = result.map(|_| ());
        if matches!(result, Err(SyncError::SecretEchoed)) {
            let (id, reason) = (
                self.config.id.clone(),
                format!(
                    "run #{} saw an answer holding a secret value (adapter {} {})",
                    p.run_id, info.adapter_type, info.version
                ),
            );
            blocking(&self.store, move |s| s.hold_config(&id, &reason)).await?;
        }
        let result = result.map_err(|e| redact_error(e, &run.secrets));
        let record = RunRecord {
            id: p.run_id,
            config_id: self.config.id.clone(),
            adapter_type: info.adapter_type.clone(),
            adapter_version: info.version.clone(),
            started_at: String::new(),
            finished_at: None,
            status: report.status,
            pushed: report.pushed,
            pulled: report.pulled,
            applied: report.applied,
            duplicates: report.duplicates,
            quarantined: report.quarantined,
            retries: report.retries,
            duration_ms: Some(report.duration_ms),
            error_class: result.as_ref().err().map(SyncError::class),
            message: result.as_ref().err().map(|e| e.to_string()),
            remote_refs: report.remote_refs.clone(),
            denials: report.denials.clone(),
            breaches: report.breaches.clone(),
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
                tracing::warn!(class = %e.class(), error = %e, "sync failed");
                Err(e)
            }
        }
    }

    fn count(&self, r: &SyncReport, error: Option<&SyncError>) {
        use crate::metrics::count;
        let config = [("config", self.config.id.as_str())];
        let outcome = error.map_or("succeeded", |e| e.class().as_str());
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
}

/// The secret values of one run: the config's secret fields, and the sync's credentials.
fn secrets_of(config: &ExternalSyncConfig, credentials: Option<&Credentials>) -> Secrets {
    let mut values: BTreeMap<String, String> = config
        .secrets()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    if let Some(c) = credentials {
        values.insert("credentials.username".into(), c.username.clone());
        values.insert("credentials.password".into(), c.password().to_string());
    }
    Secrets::new(values)
}

/// The config as an adapter's offline `validate` sees it: secrets as references of a
/// throwaway token (no value is given to the call, and it has no network anyway).
pub(crate) fn offline_view(config: &ExternalSyncConfig) -> AdapterConfigView {
    adapter_view(config, false, &secrets_of(config, None))
}

/// The config as the adapter sees it: secret values replaced by this run's references,
/// and the credentials of the sync (if any) as two more secret extra fields.
fn adapter_view(
    config: &ExternalSyncConfig,
    has_credentials: bool,
    secrets: &Secrets,
) -> AdapterConfigView {
    let mut secret_names = Vec::new();
    let mut extra_fields: Vec<(String, String)> = config
        .extra_fields
        .iter()
        .map(|f| {
            let value = if config.is_secret(&f.name) {
                secret_names.push(f.name.clone());
                secrets.reference(&f.name)
            } else {
                f.value().to_string()
            };
            (f.name.clone(), value)
        })
        .collect();
    if has_credentials {
        for name in ["credentials.username", "credentials.password"] {
            secret_names.push(name.to_string());
            extra_fields.push((name.to_string(), secrets.reference(name)));
        }
    }
    AdapterConfigView {
        id: config.id.clone(),
        adapter_type: config.adapter_type.clone(),
        url: config.url.clone(),
        auth: config.auth.clone(),
        extra_fields,
        secret_names,
    }
}

/// A config checked against the adapter serving it, with its secrets and their rules.
struct Checked {
    adapter: Arc<dyn AdapterCalls>,
    limits: Limits,
    settings: SyncSettings,
    secrets: Secrets,
    policy: SecretPolicy,
    view: AdapterConfigView,
}

/// A run that holds its config's lock and has its id, ready to talk to the adapter.
struct Prepared {
    adapter: Arc<dyn AdapterCalls>,
    limits: Limits,
    settings: SyncSettings,
    secrets: Secrets,
    policy: SecretPolicy,
    view: AdapterConfigView,
    run_id: i64,
    _lease: dcsync_store::SyncLease,
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
        SyncError::Protocol { attempts, message } => SyncError::Protocol {
            attempts,
            message: secrets.scrub(&message),
        },
        other => other,
    }
}
