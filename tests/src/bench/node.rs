//! The Node package's overhead: one push and one pull+apply through `ExternalSyncManager`
//! in Node (bindings/node), each ÷ the same sync through the Rust API, in one run. The addon
//! is the build of the same profile as this bench (release under `make bench`, debug in the
//! quick run), so the ratio compares like with like.

use super::{measure, Measure};
use crate::{adapter_dir, local_events, target_dir};
use datacollect_sync::engine::cache::CodeCache;
use datacollect_sync::engine::{AdapterRuntime, Limits};
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager, SqliteStore,
};
use dcsync_emulators::MockSyncServer;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// A store at `path` holding `n` local events.
fn store_with(path: &Path, n: usize) {
    let store = SqliteStore::open(path).unwrap();
    for chunk in local_events("node", n).chunks(10_000) {
        store.append_local(chunk, &EventApplier::new()).unwrap();
    }
}

async fn server(records: usize) -> MockSyncServer {
    let s = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    s.seed(
        (0..records)
            .map(
                |i| json!({ "entityGuid": format!("nx-{i}"), "data": { "name": format!("E{i}") } }),
            )
            .collect(),
    );
    s
}

fn config(server: &MockSyncServer) -> Value {
    json!({ "type": "mock-sync-server", "url": server.url(),
            "extraFields": [{ "name": "batchSize", "value": "100" }] })
}

/// Milliseconds of one synchronize() through the Rust API.
async fn through_rust(store: &Path, config: &Value, registry: &Arc<AdapterRegistry>) -> f64 {
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(store).unwrap());
    let mut m = ExternalSyncManager::new(
        store,
        Arc::new(EventApplier::new()),
        ExternalSyncConfig::from_value(config).unwrap(),
    )
    .with_registry(registry.clone());
    m.initialize().await.unwrap();
    let started = Instant::now();
    m.synchronize(None).await.expect("bench sync");
    started.elapsed().as_secs_f64() * 1e3
}

/// Milliseconds of one synchronize() through the Node package (`cache` is its
/// `XDG_CACHE_HOME`: the code cache is `cache/dcsync`, the one the Rust side filled).
fn through_node(
    addon: &Path,
    adapters: &Path,
    cache: &Path,
    store: &Path,
    config: &Value,
    warm: &Value,
) -> f64 {
    let pkg = target_dir().join("../bindings/node");
    let options = json!({ "store": store, "config": config, "adapters": adapters,
                          "warmup": { "store": warm["store"], "config": warm["config"],
                                      "adapters": adapters } });
    let out = std::process::Command::new("node")
        .arg(pkg.join("bench/sync.js"))
        .arg(options.to_string())
        .env("DCSYNC_NODE_ADDON", addon)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("node (run `make node`)");
    assert!(
        out.status.success(),
        "the Node bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r["ms"].as_f64().unwrap()
}

pub(super) async fn node(quick: bool, out: &mut Vec<Measure>) {
    let n = if quick { 300 } else { 20_000 };
    let built = target_dir().join(PROFILE).join("libdcsync_node.so");
    assert!(
        built.exists(),
        "{} is missing: `make bench` builds it (cargo build --release -p dcsync-node)",
        built.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let addon = dir.path().join("dcsync.node");
    std::fs::copy(&built, &addon).unwrap();
    // Only the adapter the sync uses: initialize() is not timed, but loading every shipped
    // adapter would compile the JS and Python runtimes for nothing.
    let adapters = dir.path().join("adapters");
    std::fs::create_dir(&adapters).unwrap();
    std::fs::copy(
        adapter_dir().join("mock_sync_server.wasm"),
        adapters.join("mock_sync_server.wasm"),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let runtime = AdapterRuntime::with_cache(
        Limits::default(),
        Some(CodeCache::open(&cache.join("dcsync")).unwrap()),
    )
    .unwrap();
    let registry = AdapterRegistry::new(runtime.clone());
    registry.insert(
        runtime
            .load(&adapters.join("mock_sync_server.wasm"))
            .await
            .unwrap(),
    );

    for (what, push) in [("push", true), ("pull+apply", false)] {
        let mut ms = Vec::new();
        for via_node in [false, true] {
            let server = server(if push { 0 } else { n }).await;
            let store = dir.path().join(format!("{what}-{via_node}.db"));
            store_with(&store, if push { n } else { 0 });
            let config = config(&server);
            // Both sides sync a small store first (100 events out, 100 records in), so the
            // timed sync is not the first of its process: one-time costs stay out of both.
            let warm_server = self::server(100).await;
            let warm_store = dir.path().join(format!("{what}-{via_node}-warm.db"));
            store_with(&warm_store, 100);
            let warm = json!({ "store": warm_store, "config": self::config(&warm_server) });
            ms.push(if via_node {
                let (a, d, c) = (addon.clone(), adapters.clone(), cache.clone());
                tokio::task::spawn_blocking(move || {
                    through_node(&a, &d, &c, &store, &config, &warm)
                })
                .await
                .unwrap()
            } else {
                through_rust(&warm_store, &warm["config"], &registry).await;
                through_rust(&store, &config, &registry).await
            });
        }
        let ratio = ms[0] / ms[1];
        out.push(measure(
            &format!("Node package: {what} ÷ Rust API"),
            ratio,
            "",
            Some(("≥ 0.95", ratio >= 0.95)),
            format!(
                "{n} events; Rust {:.0} ms, Node {:.0} ms ({PROFILE} build)",
                ms[0], ms[1]
            ),
        ));
    }
}
