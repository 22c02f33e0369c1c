//! Shared scaffolding for the end-to-end tests: the adapters built by `make adapters`,
//! temporary stores, sample events, and a mock server per test.

use datacollect_sync::engine::{AdapterRuntime, Limits};
use datacollect_sync::model::SyncLevel;
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager,
    FormSubmission, SqliteStore,
};
pub use dcsync_emulators as emulators;
use dcsync_emulators::MockSyncServer;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The workspace's `target` directory (screenshots, bench results, built adapters).
pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Where `make adapters` puts the shipped components: `DCSYNC_ADAPTERS` when set, else
/// `target/adapters` of this checkout. The one place tests compute it.
pub fn adapter_dir() -> PathBuf {
    match std::env::var_os("DCSYNC_ADAPTERS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => target_dir().join("adapters"),
    }
}

/// Where `make adapters` puts the test-only components (hostile, broken, …).
pub fn test_adapter_dir() -> PathBuf {
    adapter_dir().join("../test-adapters")
}

/// The compiled-code cache every test binary shares (and `dcsync` run by the CLI tests,
/// through `XDG_CACHE_HOME`, see [`test_cache_home`]): an adapter is compiled once per
/// checkout, not once per test binary. JS and Python components take half a minute each.
pub fn code_cache() -> datacollect_sync::engine::cache::CodeCache {
    datacollect_sync::engine::cache::CodeCache::open(&test_cache_home().join("dcsync"))
        .expect("the test code cache")
}

/// `XDG_CACHE_HOME` for `dcsync` processes started by tests.
pub fn test_cache_home() -> PathBuf {
    target_dir().join("test-cache")
}

/// An engine with `limits` and the shared code cache.
pub fn runtime_with(limits: Limits) -> Arc<AdapterRuntime> {
    AdapterRuntime::with_cache(limits, Some(code_cache())).expect("engine")
}

/// Run `make` (an async setup) to completion on its own thread and runtime, so what it
/// builds can be shared once per test binary by tests running on different runtimes.
pub fn build_shared<T, F, Fut>(make: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(make())
    })
    .join()
    .unwrap()
}

/// The registry of built adapters, loaded once per test binary (compiling is the slow part).
pub fn registry() -> Arc<AdapterRegistry> {
    static REGISTRY: OnceLock<Arc<AdapterRegistry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            build_shared(|| async {
                let runtime = runtime_with(Limits::default());
                let registry = AdapterRegistry::load_dir(runtime, &adapter_dir()).await;
                assert!(
                    registry.get("mock-sync-server").is_some(),
                    "mock-sync-server adapter not built: run `make adapters` ({:?})",
                    registry.problems()
                );
                registry
            })
        })
        .clone()
}

/// A sync service over `store` with the shared registry and default settings.
pub fn service(store: Arc<dyn EventStore>) -> Arc<datacollect_sync::SyncService> {
    Arc::new(
        datacollect_sync::SyncService::new(store, registry(), &Default::default())
            .expect("sync service"),
    )
}

/// A registry of the mock adapter alone, under `limits`.
pub async fn mock_registry(limits: Limits) -> Arc<AdapterRegistry> {
    let runtime = runtime_with(limits);
    let registry = AdapterRegistry::new(runtime.clone());
    registry.insert(
        runtime
            .load(&adapter_dir().join("mock_sync_server.wasm"))
            .await
            .expect("built by make adapters"),
    );
    registry
}

/// A store in a temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (Arc<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    (Arc::new(store), dir)
}

/// `n` local create-individual events with distinct guids.
pub fn local_events(prefix: &str, n: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| FormSubmission {
            guid: format!("{prefix}-event-{i}"),
            entity_guid: format!("{prefix}-person-{i}"),
            event_type: "create-individual".into(),
            data: json!({ "name": format!("Person {i}") }),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: "tester".into(),
            sync_level: SyncLevel::Local,
        })
        .collect()
}

/// A mock-sync-server config for `server`, with extra fields.
pub fn mock_config(server: &MockSyncServer, extra: &[(&str, &str)]) -> ExternalSyncConfig {
    let fields: Vec<Value> = extra
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    ExternalSyncConfig::from_value(
        &json!({ "type": "mock-sync-server", "url": server.url(), "extraFields": fields }),
    )
    .unwrap()
}

/// An initialized manager for `config` on `store`.
pub async fn manager(
    store: &Arc<dyn EventStore>,
    config: ExternalSyncConfig,
) -> ExternalSyncManager {
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry());
    m.initialize().await.unwrap();
    assert!(m.is_initialized());
    m
}

/// An initialized manager for `config` on `store`, under the operator `settings` (for
/// example, approving an adapter type's body placements).
pub async fn manager_with_settings(
    store: &Arc<dyn EventStore>,
    config: ExternalSyncConfig,
    settings: &datacollect_sync::settings::RuntimeSettings,
) -> Arc<ExternalSyncManager> {
    let service = datacollect_sync::SyncService::new(store.clone(), registry(), settings)
        .expect("sync service");
    let m = service.initialized_manager(config).await.unwrap();
    assert!(m.is_initialized());
    m
}

/// Settings approving JSON-body secret placements for `adapter_type`.
pub fn placements_approved(adapter_type: &str) -> datacollect_sync::settings::RuntimeSettings {
    let mut s = datacollect_sync::settings::RuntimeSettings::default();
    s.approve_placements.insert(adapter_type.to_string(), true);
    s
}

/// A mock sync server on a free loopback port.
pub async fn mock_server() -> MockSyncServer {
    MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub mod bench;
pub mod node_server;
pub mod openspp;
pub mod postgres;
pub mod sim;
pub mod watched;
pub mod webdriver;
