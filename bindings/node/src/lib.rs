//! The native layer of the `@datacollect/dcsync` Node package (napi-rs). `index.js` wraps
//! it in the `ExternalSyncManager` class DataCollect's server uses; every native call
//! answers JSON text, `{"ok": value}` or `{"error": {"code", "message"}}`, which the wrapper
//! turns into a value or an `Error` with a `code` (the error class).
//!
//! All work runs on napi's tokio runtime, off Node's thread. Every manager of the process
//! shares one wasmtime engine per set of limits (a pooling engine reserves much address
//! space) and one registry per adapter directory, watched so a hot swap reaches live
//! managers.

#![deny(missing_docs)]

use datacollect_sync::engine::cache::{default_cache_dir, CodeCache};
use datacollect_sync::engine::{AdapterRuntime, Limits};
use datacollect_sync::settings::RuntimeSettings;
use datacollect_sync::status::{adapter_entries, config_status};
use datacollect_sync::store::{blocking, PgLocation, PostgresStore};
use datacollect_sync::watch::AdapterWatcher;
use datacollect_sync::{
    AdapterRegistry, Credentials, EventApplier, EventStore, ExternalSyncConfig,
    ExternalSyncManager, FormSubmission, SqliteStore, SyncError, SyncService,
};
use napi_derive::napi;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A failure as the wrapper throws it: `code` is the error class.
struct Failure {
    code: String,
    message: String,
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        Failure {
            code: e.class().as_str().to_string(),
            message: e.to_string(),
        }
    }
}

fn failure(code: &str, message: impl std::fmt::Display) -> Failure {
    Failure {
        code: code.into(),
        message: message.to_string(),
    }
}

fn answer(result: Result<Value, Failure>) -> String {
    match result {
        Ok(v) => json!({ "ok": v }).to_string(),
        Err(f) => json!({ "error": { "code": f.code, "message": f.message } }).to_string(),
    }
}

/// What `new ExternalSyncManager(options)` takes.
#[derive(Deserialize)]
struct Options {
    /// A SQLite file, or `postgres://user@host/db?tenant=<app config id>`.
    store: String,
    /// The PostgreSQL password (default: from the environment, as the CLI reads it).
    #[serde(rename = "storePassword")]
    store_password: Option<String>,
    /// The `externalSync` object, bare or wrapped, as an object or JSON text.
    config: Value,
    /// The adapter directory (default: looked up as the CLI does).
    adapters: Option<String>,
    /// A runtime settings file (TOML).
    settings: Option<String>,
}

/// One manager and what it runs on.
struct Handle {
    config: ExternalSyncConfig,
    store: Arc<dyn EventStore>,
    settings: RuntimeSettings,
    adapters: Option<PathBuf>,
    service: tokio::sync::OnceCell<Arc<SyncService>>,
    manager: tokio::sync::RwLock<Option<ExternalSyncManager>>,
}

fn handles() -> &'static Mutex<HashMap<u32, Arc<Handle>>> {
    static H: OnceLock<Mutex<HashMap<u32, Arc<Handle>>>> = OnceLock::new();
    H.get_or_init(Default::default)
}

fn handle(id: u32) -> Result<Arc<Handle>, Failure> {
    handles()
        .lock()
        .map_err(|_| failure("internal", "manager table poisoned"))?
        .get(&id)
        .cloned()
        .ok_or_else(|| failure("closed", "this ExternalSyncManager was closed"))
}

type Engines = Mutex<Vec<(Limits, Arc<AdapterRuntime>)>>;

fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(Default::default)
}

/// How many WebAssembly engines the process runs (diagnostics: managers with the same
/// limits share one).
#[napi]
pub fn engine_count() -> u32 {
    engines().lock().map(|e| e.len() as u32).unwrap_or(0)
}

/// One engine per set of limits, shared by every manager of the process.
fn runtime(limits: Limits, cache: Option<PathBuf>) -> Result<Arc<AdapterRuntime>, Failure> {
    let mut engines = engines()
        .lock()
        .map_err(|_| failure("internal", "engine table poisoned"))?;
    if let Some((_, rt)) = engines.iter().find(|(l, _)| *l == limits) {
        return Ok(rt.clone());
    }
    let cache = cache.and_then(|dir| CodeCache::open(&dir).ok());
    let rt = AdapterRuntime::with_cache(limits.clone(), cache).map_err(|e| {
        failure(
            "internal",
            format!("cannot start the WebAssembly engine: {e:#}"),
        )
    })?;
    engines.push((limits, rt.clone()));
    Ok(rt)
}

/// One registry per adapter directory, loaded once and watched.
async fn registry(dir: &Path, settings: &RuntimeSettings) -> Result<Arc<AdapterRegistry>, Failure> {
    type Entry = (Arc<AdapterRegistry>, Option<AdapterWatcher>);
    static REGISTRIES: OnceLock<tokio::sync::Mutex<HashMap<PathBuf, Entry>>> = OnceLock::new();
    let mut map = REGISTRIES.get_or_init(Default::default).lock().await;
    if let Some((r, _)) = map.get(dir) {
        return Ok(r.clone());
    }
    let rt = runtime(
        settings.limits(),
        settings.cache.clone().or_else(default_cache_dir),
    )?;
    let registry = AdapterRegistry::load_dir_pinned(rt, dir, settings.pins.clone()).await;
    let watcher = datacollect_sync::watch::watch(registry.clone())
        .map_err(
            |e| tracing::warn!(dir = %dir.display(), error = %e, "adapter directory not watched"),
        )
        .ok();
    map.insert(dir.to_path_buf(), (registry.clone(), watcher));
    Ok(registry)
}

/// Start logging to stderr when `DCSYNC_LOG` is set (once per process).
fn logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(filter) = std::env::var("DCSYNC_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .try_init();
        }
    });
}

/// The store `location` names, created if missing (its tables, on PostgreSQL).
fn open_store(location: &str, password: Option<String>) -> Result<Arc<dyn EventStore>, Failure> {
    if PgLocation::is_postgres(location) {
        let parsed = match password {
            Some(p) => PgLocation::parse_with_password(location, Some(p)),
            None => PgLocation::parse(location),
        };
        let l = parsed.map_err(|e| failure("config", e))?;
        return Ok(Arc::new(
            PostgresStore::open(&l).map_err(|e| failure("store", e))?,
        ));
    }
    Ok(Arc::new(
        SqliteStore::open(location).map_err(|e| failure("store", e))?,
    ))
}

fn open(options: &str) -> Result<Value, Failure> {
    logging();
    let o: Options = serde_json::from_str(options)
        .map_err(|e| failure("config", format!("invalid options: {e}")))?;
    let config = match &o.config {
        Value::String(text) => ExternalSyncConfig::from_json(text),
        v => ExternalSyncConfig::from_value(v),
    }
    .map_err(|e| failure("config", e))?;
    let settings = match &o.settings {
        Some(p) => RuntimeSettings::load(Path::new(p)).map_err(|e| failure("config", e))?,
        None => RuntimeSettings::default(),
    };
    let store = open_store(&o.store, o.store_password)?;
    let adapters = datacollect_sync::adapter_dir::find(
        o.adapters.as_deref().map(Path::new),
        settings.adapters.as_deref(),
    )
    .map(|(dir, _)| dir);
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let h = Arc::new(Handle {
        config,
        store,
        settings,
        adapters,
        service: tokio::sync::OnceCell::new(),
        manager: tokio::sync::RwLock::new(None),
    });
    handles()
        .lock()
        .map_err(|_| failure("internal", "manager table poisoned"))?
        .insert(id, h);
    Ok(json!(id))
}

/// Open a manager; its handle.
#[napi]
pub fn open_manager(options: String) -> String {
    answer(open(&options))
}

async fn service(h: &Handle) -> Result<Arc<SyncService>, Failure> {
    h.service
        .get_or_try_init(|| async {
            let Some(dir) = &h.adapters else {
                return Err(failure(
                    "config",
                    format!(
                        "no adapter directory found; looked at {} (pass adapters in the options)",
                        datacollect_sync::adapter_dir::searched().join(", ")
                    ),
                ));
            };
            let registry = registry(dir, &h.settings).await?;
            Ok(Arc::new(
                SyncService::new(h.store.clone(), registry, &h.settings).map_err(Failure::from)?,
            ))
        })
        .await
        .cloned()
}

async fn do_initialize(id: u32) -> Result<Value, Failure> {
    let h = handle(id)?;
    let service = service(&h).await?;
    let mut m = service.manager(h.config.clone());
    m.initialize().await?;
    let initialized = m.is_initialized();
    *h.manager.write().await = Some(m);
    Ok(json!({ "initialized": initialized }))
}

/// `initialize()`: find the adapter for the config's type; an unknown type leaves the
/// manager uninitialized, without an error.
#[napi]
pub async fn initialize(id: u32) -> String {
    answer(do_initialize(id).await)
}

#[derive(Deserialize)]
struct CredentialsIn {
    username: String,
    password: String,
}

async fn do_synchronize(id: u32, credentials: Option<String>) -> Result<Value, Failure> {
    let h = handle(id)?;
    let credentials = credentials
        .map(|c| serde_json::from_str::<CredentialsIn>(&c))
        .transpose()
        .map_err(|_| failure("config", "credentials must be {username, password}"))?
        .map(|c| Credentials::new(c.username, c.password));
    let guard = h.manager.read().await;
    let m = guard.as_ref().ok_or(SyncError::NotInitialized)?;
    let report = m.synchronize(credentials).await?;
    serde_json::to_value(report).map_err(|e| failure("internal", e))
}

/// `synchronize(credentials?)`: one sync; the report.
#[napi]
pub async fn synchronize(id: u32, credentials: Option<String>) -> String {
    answer(do_synchronize(id, credentials).await)
}

async fn do_status(id: u32) -> Result<Value, Failure> {
    let h = handle(id)?;
    let config_id = h.config.id.clone();
    let status = blocking(&h.store, move |s| config_status(s, &config_id))
        .await
        .map_err(|e| failure("store", e))?;
    serde_json::to_value(status).map_err(|e| failure("internal", e))
}

/// `status()`: cursors, pending events, quarantine, hold and the last run.
#[napi]
pub async fn status(id: u32) -> String {
    answer(do_status(id).await)
}

async fn do_runs(id: u32, limit: u32) -> Result<Value, Failure> {
    let h = handle(id)?;
    let config_id = h.config.id.clone();
    let runs = blocking(&h.store, move |s| s.runs(Some(&config_id), limit))
        .await
        .map_err(|e| failure("store", e))?;
    serde_json::to_value(runs).map_err(|e| failure("internal", e))
}

/// `runs(limit)`: this config's run history, newest first.
#[napi]
pub async fn runs(id: u32, limit: u32) -> String {
    answer(do_runs(id, limit.clamp(1, 1000)).await)
}

async fn do_import(id: u32, events: String) -> Result<Value, Failure> {
    let h = handle(id)?;
    let values: Vec<Value> = serde_json::from_str(&events)
        .map_err(|e| failure("config", format!("events must be an array of events: {e}")))?;
    let mut parsed = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let e: FormSubmission = serde_json::from_value(v)
            .map_err(|e| failure("config", format!("events[{i}]: {e}")))?;
        e.validate()
            .map_err(|m| failure("config", format!("events[{i}]: {m}")))?;
        parsed.push(e);
    }
    let outcome = blocking(&h.store, move |s| {
        s.append_local(&parsed, &EventApplier::new())
    })
    .await
    .map_err(|e| failure("store", e))?;
    serde_json::to_value(outcome).map_err(|e| failure("internal", e))
}

/// `importEvents(events)`: append local events (FormSubmissions) and apply them; each is
/// checked first, and one bad event stores nothing.
#[napi]
pub async fn import_events(id: u32, events: String) -> String {
    answer(do_import(id, events).await)
}

async fn do_adapters(id: u32) -> Result<Value, Failure> {
    let h = handle(id)?;
    let service = service(&h).await?;
    serde_json::to_value(adapter_entries(&service.registry)).map_err(|e| failure("internal", e))
}

/// `adapters()`: the loaded adapters and the refused files.
#[napi]
pub async fn adapters(id: u32) -> String {
    answer(do_adapters(id).await)
}

async fn do_close(id: u32) -> Result<Value, Failure> {
    let Ok(h) = handle(id) else {
        return Ok(Value::Null);
    };
    // A running sync stops at its next safe point; the write lock waits for it to end
    // (its config lock is released then), and dropping the handle closes the store.
    if let Some(service) = h.service.get() {
        service.interrupt().interrupt();
    }
    drop(h.manager.write().await.take());
    handles()
        .lock()
        .map_err(|_| failure("internal", "manager table poisoned"))?
        .remove(&id);
    Ok(Value::Null)
}

/// `close()`: stop a running sync at a safe point, release the config and the store.
#[napi]
pub async fn close(id: u32) -> String {
    answer(do_close(id).await)
}
