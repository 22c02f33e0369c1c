//! What every command shares: the runtime settings, where the adapters are, the
//! compiled-code cache.

use crate::args::Cli;
use anyhow::{Context as _, Result};
use datacollect_sync::adapter_dir;
use datacollect_sync::engine::cache::{default_cache_dir, CodeCache};
use datacollect_sync::engine::AdapterRuntime;
use datacollect_sync::scheduler::ServiceFor;
use datacollect_sync::settings::RuntimeSettings;
use datacollect_sync::store::{PgLocation, PostgresStore};
use datacollect_sync::{AdapterRegistry, EventStore, ExternalSyncConfig, SqliteStore, SyncService};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where a command's store is (`--store` or `DCSYNC_STORE`): a SQLite file, or a
/// PostgreSQL database (`postgres://user@host/db?tenant=<app config id>`, the password
/// from `DCSYNC_STORE_PASSWORD` or `PGPASSWORD`).
#[derive(Clone, Debug)]
pub enum StoreArg {
    /// The embedded store's file.
    Sqlite(PathBuf),
    /// A DataCollect deployment's database.
    Postgres(PgLocation),
}

impl std::str::FromStr for StoreArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if PgLocation::is_postgres(s) {
            PgLocation::parse(s)
                .map(StoreArg::Postgres)
                .map_err(|e| e.to_string())
        } else {
            Ok(StoreArg::Sqlite(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for StoreArg {
    /// The path, or the URL without any password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreArg::Sqlite(p) => write!(f, "{}", p.display()),
            StoreArg::Postgres(l) => write!(f, "{l}"),
        }
    }
}

/// The settings and directories of one `dcsync` invocation.
pub struct Ctx {
    /// The operator's settings.
    pub settings: RuntimeSettings,
    /// The adapter directory (and where it was found), if any.
    pub adapters: Option<(PathBuf, adapter_dir::Source)>,
    cache: Option<PathBuf>,
}

impl Ctx {
    /// Read the settings and find the adapter directory.
    pub fn new(cli: &Cli) -> Result<Self> {
        let settings = match &cli.settings {
            Some(path) => RuntimeSettings::load(path)?,
            None => RuntimeSettings::default(),
        };
        let adapters = adapter_dir::find(cli.adapters.as_deref(), settings.adapters.as_deref());
        let cache = if cli.no_cache {
            None
        } else {
            settings.cache.clone().or_else(default_cache_dir)
        };
        Ok(Ctx {
            settings,
            adapters,
            cache,
        })
    }

    /// The adapter directory, or an error naming every place looked at.
    pub fn adapter_dir(&self) -> Result<&Path> {
        match &self.adapters {
            Some((dir, _)) => Ok(dir),
            None => anyhow::bail!(
                "no adapter directory found; looked at {} (run `make adapters`, or pass --adapters)",
                adapter_dir::searched().join(", ")
            ),
        }
    }

    /// Load the adapter directory (compiled code from the cache when it is there).
    pub async fn registry(&self) -> Result<Arc<AdapterRegistry>> {
        let dir = self.adapter_dir()?;
        Ok(
            AdapterRegistry::load_dir_pinned(self.runtime()?, dir, self.settings.pins.clone())
                .await,
        )
    }

    /// The WebAssembly engine with the settings' limits and the compiled-code cache.
    pub fn runtime(&self) -> Result<Arc<AdapterRuntime>> {
        let cache = match &self.cache {
            Some(dir) => match CodeCache::open(dir) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "compiled-code cache unavailable; compiling every start");
                    None
                }
            },
            None => None,
        };
        AdapterRuntime::with_cache(self.settings.limits(), cache)
            .context("starting the WebAssembly engine")
    }

    /// The service syncs run with, over `store`.
    pub async fn service(&self, store: Arc<dyn EventStore>) -> Result<Arc<SyncService>> {
        let registry = self.registry().await?;
        Ok(Arc::new(SyncService::new(store, registry, &self.settings)?))
    }
}

/// Read and parse a config file.
pub fn read_config(path: &Path) -> Result<ExternalSyncConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    ExternalSyncConfig::from_json(&text)
        .with_context(|| format!("invalid config {}", path.display()))
}

/// Open (or create: a new file, or the tables in a database) the store: for the commands
/// that write.
pub fn open_store(store: &StoreArg) -> Result<Arc<dyn EventStore>> {
    Ok(match store {
        StoreArg::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        StoreArg::Postgres(l) => Arc::new(PostgresStore::open(l)?),
    })
}

/// Open the existing store, creating nothing: for the commands that read.
pub fn open_existing_store(store: &StoreArg) -> Result<Arc<dyn EventStore>> {
    Ok(match store {
        StoreArg::Sqlite(path) => Arc::new(SqliteStore::open_existing(path)?),
        StoreArg::Postgres(l) => Arc::new(PostgresStore::open_existing(l)?),
    })
}

/// Every tenant of one database, for `daemon` and `serve` given a `postgres://` store that
/// names no tenant: each config syncs in the tenant named by its id (the DataCollect server
/// keys a tenant by its app config id). A tenant's service is made on first use and kept;
/// all share the first one's adapters, HTTP clients, settings and interrupt.
pub struct Tenants {
    first: Arc<SyncService>,
    location: PgLocation,
    services: Mutex<HashMap<String, Arc<SyncService>>>,
}

impl Tenants {
    /// The tenants of the database at `location` (whatever tenant it names is ignored);
    /// `first` already serves the tenant `tenant`.
    pub fn new(location: PgLocation, tenant: &str, first: Arc<SyncService>) -> Arc<Self> {
        let services = HashMap::from([(tenant.to_string(), first.clone())]);
        Arc::new(Tenants {
            first,
            location,
            services: Mutex::new(services),
        })
    }

    /// The service the others are made from (adapters, clients, settings, interrupt).
    pub fn first(&self) -> &Arc<SyncService> {
        &self.first
    }

    /// The location of the tenant the config `id` names, or why the id names none. The
    /// reason names the rule, not the database (API answers carry it).
    pub fn location_of(&self, id: &str) -> Result<PgLocation, String> {
        self.location.with_tenant(id).map_err(|_| {
            format!(
                "config id {id:?} cannot name a tenant: an app config id is letters, digits, '_' and '-', starting with a letter or digit, at most 200 characters"
            )
        })
    }

    /// The service of `config`'s tenant (its store opened, and its tables created, on first
    /// use). The store opens outside the lock: a slow or unreachable database stalls only
    /// the requests for that tenant, not every tenant's.
    pub fn service(&self, config: &ExternalSyncConfig) -> Result<Arc<SyncService>, String> {
        let poisoned = |_| "poisoned".to_string();
        if let Some(s) = self.services.lock().map_err(poisoned)?.get(&config.id) {
            return Ok(s.clone());
        }
        let location = self.location_of(&config.id)?;
        let store = PostgresStore::open(&location).map_err(|e| {
            // Logged in full for the operator; the answer names the tenant only.
            tracing::warn!(tenant = %config.id, error = %e, "cannot open the tenant's store");
            format!(
                "the store of tenant {:?} cannot be opened (see the server log)",
                config.id
            )
        })?;
        let mut map = self.services.lock().map_err(poisoned)?;
        let service = map
            .entry(config.id.clone())
            .or_insert_with(|| Arc::new(self.first.for_store(Arc::new(store))));
        Ok(service.clone())
    }

    /// Close the tenant of a deleted config (its connection pool), if it was open.
    pub fn forget(&self, id: &str) {
        if let Ok(mut map) = self.services.lock() {
            map.remove(id);
        }
    }

    /// [`Tenants::service`] as the scheduler takes it.
    pub fn resolver(self: &Arc<Self>) -> ServiceFor {
        let tenants = self.clone();
        Arc::new(move |config: &ExternalSyncConfig| tenants.service(config))
    }
}
