//! [`SyncService`]: what every surface shares to run syncs — the store, the adapters, the
//! HTTP clients and the operator's settings — so the CLI, the daemon, the HTTP API and an
//! embedding program build managers and check configs the same way.

use crate::manager::{ExternalSyncManager, SyncError};
use crate::registry::AdapterRegistry;
use crate::resolve::{resolve, FieldProblem, ResolveError, ResolvedConfig};
use crate::settings::RuntimeSettings;
use dcsync_applier::EventApplier;
use dcsync_contract::config::ExternalSyncConfig;
use dcsync_host::HttpClients;
use dcsync_store::EventStore;
use std::sync::Arc;

/// The store, adapters, HTTP clients and settings syncs run with.
pub struct SyncService {
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// The loaded adapters.
    pub registry: Arc<AdapterRegistry>,
    /// How events are applied.
    pub applier: Arc<EventApplier>,
    clients: HttpClients,
    settings: RuntimeSettings,
    interrupt: crate::Interrupt,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncService")
            .field("registry", &self.registry)
            .finish()
    }
}

/// Why a config cannot be used, before any sync.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No adapter serves its type.
    #[error("no adapter for type {adapter_type:?} (loaded: {loaded})")]
    NoAdapter {
        /// The config's type.
        adapter_type: String,
        /// What is loaded, comma-separated.
        loaded: String,
    },
    /// The adapter is there; the config does not satisfy it.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The adapter's own check failed to run (it trapped, or hit a limit).
    #[error("the adapter's validate failed: {0}")]
    Adapter(String),
}

impl CheckError {
    /// Every problem, each naming its field (`type` when no adapter serves it).
    pub fn problems(&self) -> Vec<FieldProblem> {
        match self {
            CheckError::NoAdapter { .. } => vec![FieldProblem {
                field: "type".into(),
                message: self.to_string(),
            }],
            CheckError::Resolve(e) => e.problems.clone(),
            CheckError::Adapter(_) => vec![FieldProblem {
                field: "type".into(),
                message: self.to_string(),
            }],
        }
    }
}

impl SyncService {
    /// A service over `store` and `registry`, with the operator's `settings` (allowed
    /// origins per adapter type).
    pub fn new(
        store: Arc<dyn EventStore>,
        registry: Arc<AdapterRegistry>,
        settings: &RuntimeSettings,
    ) -> Result<Self, SyncError> {
        let clients = HttpClients::new()
            .map_err(|e| SyncError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::with_clients(store, registry, settings, clients))
    }

    /// [`SyncService::new`] with these HTTP clients (a test's resolver).
    pub fn with_clients(
        store: Arc<dyn EventStore>,
        registry: Arc<AdapterRegistry>,
        settings: &RuntimeSettings,
        clients: HttpClients,
    ) -> Self {
        SyncService {
            store,
            registry,
            applier: Arc::new(EventApplier::new()),
            clients,
            settings: settings.clone(),
            interrupt: crate::Interrupt::new(),
        }
    }

    /// The same adapters, HTTP clients, settings and interrupt over another store (another
    /// tenant of a shared database): one process serving many tenants.
    pub fn for_store(&self, store: Arc<dyn EventStore>) -> SyncService {
        SyncService {
            store,
            registry: self.registry.clone(),
            applier: self.applier.clone(),
            clients: self.clients.clone(),
            settings: self.settings.clone(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Stops every run of this service at its next safe point (a shutdown).
    pub fn interrupt(&self) -> &crate::Interrupt {
        &self.interrupt
    }

    /// The operator's settings.
    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    /// Check `config` against the adapter serving its type now: the host's rules
    /// (declared secrets, required fields, settings), then the adapter's own (its 1.1
    /// `validate`, conditional rules included), every problem at once.
    pub async fn check(&self, config: &ExternalSyncConfig) -> Result<ResolvedConfig, CheckError> {
        let adapter =
            self.registry
                .get(&config.adapter_type)
                .ok_or_else(|| CheckError::NoAdapter {
                    adapter_type: config.adapter_type.clone(),
                    loaded: self.registry.types().join(", "),
                })?;
        let resolved = resolve(config, &adapter.info)?;
        let view = crate::manager::offline_view(&resolved.config);
        let problems = adapter
            .validate(&view)
            .await
            .map_err(|e| CheckError::Adapter(e.to_string()))?;
        if !problems.is_empty() {
            return Err(CheckError::Resolve(ResolveError {
                adapter_type: config.adapter_type.clone(),
                problems: problems
                    .into_iter()
                    .map(|p| FieldProblem {
                        field: p.field,
                        message: p.message,
                    })
                    .collect(),
            }));
        }
        Ok(resolved)
    }

    /// A manager for `config` (not yet initialized).
    pub fn manager(&self, config: ExternalSyncConfig) -> ExternalSyncManager {
        let ty = config.adapter_type.clone();
        ExternalSyncManager::new(self.store.clone(), self.applier.clone(), config)
            .with_registry(self.registry.clone())
            .with_http_clients(self.clients.clone())
            .allow_origins(self.settings.allowed_origins(&ty))
            .secret_rules(
                self.settings.placements_approved(&ty),
                self.settings.secret_origins(&ty),
            )
            .with_interrupt(self.interrupt.clone())
    }

    /// An initialized manager for `config` (uninitialized when no adapter serves it).
    pub async fn initialized_manager(
        &self,
        config: ExternalSyncConfig,
    ) -> Result<Arc<ExternalSyncManager>, SyncError> {
        let mut m = self.manager(config);
        m.initialize().await?;
        Ok(Arc::new(m))
    }
}
