//! The sandbox holds for adapters written in JavaScript and Python too: their runtimes
//! (StarlingMonkey, CPython) run inside the same limits, and every attack ends in a typed,
//! contained error, with a good adapter syncing right afterwards.

use datacollect_sync::engine::Limits;
use datacollect_sync::limits::Limit;
use datacollect_sync::{
    AdapterRegistry, EventApplier, ExternalSyncConfig, ExternalSyncManager, SyncError,
};
use datacollect_sync_e2e::*;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn limits() -> Limits {
    Limits {
        fuel: 10_000_000_000,
        deadline: Duration::from_secs(60),
        memory_bytes: 128 << 20,
        max_return_bytes: 512 << 10,
        ..Limits::default()
    }
}

fn hostile_registry() -> Arc<AdapterRegistry> {
    static R: OnceLock<Arc<AdapterRegistry>> = OnceLock::new();
    R.get_or_init(|| {
        build_shared(|| async {
            let runtime = runtime_with(limits());
            let registry = AdapterRegistry::new(runtime.clone());
            for (dir, file) in [
                (adapter_dir(), "mock_sync_server.wasm"),
                (test_adapter_dir(), "hostile_js.wasm"),
                (test_adapter_dir(), "hostile_py.wasm"),
            ] {
                registry.insert(
                    runtime
                        .load(&dir.join(file))
                        .await
                        .unwrap_or_else(|e| panic!("{file} built by make adapters: {e}")),
                );
            }
            registry
        })
    })
    .clone()
}

async fn attack(ty: &str, what: &str) -> SyncError {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events(what, 1), &EventApplier::new())
        .unwrap();
    let config = ExternalSyncConfig::from_value(&json!({"type": ty, "url": server.url(),
        "extraFields": [{"name": "attack", "value": what}]}))
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(300), m.synchronize(None))
        .await
        .expect("the host never hangs")
        .expect_err("the attack fails");
    assert!(!err.to_string().contains("LEAK"), "{ty} {what}: {err}");
    if what == "huge-page" {
        // A pull attack: the push went through; nothing of the page was stored. These
        // adapters list `encoded-push` in `describe` but have no `pushEncoded` /
        // `push_encoded`: their SDKs drop the claim, and the batch went through
        // `push-batch` as in 1.1 (had the claim stood, every push would have failed).
        assert!(store.entity("e0").unwrap().is_none(), "nothing applied");
        let info = &hostile_registry().get(ty).unwrap().info;
        assert!(
            !info.has(&datacollect_sync::adapter::Capability::EncodedPush),
            "{info:?}"
        );
        assert_eq!(store.pending_count(&m.config().id).unwrap(), 0, "pushed");
    } else {
        assert_eq!(
            store.pending_count(&m.config().id).unwrap(),
            1,
            "nothing confirmed"
        );
    }
    // A good adapter in the same process still syncs.
    let good =
        ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": server.url()}))
            .unwrap();
    let mut ok = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), good)
        .with_registry(hostile_registry());
    ok.initialize().await.unwrap();
    assert!(
        ok.synchronize(None)
            .await
            .expect("a good adapter syncs")
            .pushed
            >= 1
    );
    err
}

#[tokio::test]
async fn an_endless_loop_in_javascript_or_python_runs_out_of_fuel() {
    for ty in ["hostile-js", "hostile-py"] {
        let e = attack(ty, "loop").await;
        assert_eq!(e.limit(), Some(Limit::Fuel), "{ty}: {e}");
    }
}

#[tokio::test]
async fn unbounded_allocation_in_javascript_or_python_hits_the_memory_limit() {
    for ty in ["hostile-js", "hostile-py"] {
        let e = attack(ty, "alloc").await;
        assert_eq!(e.limit(), Some(Limit::Memory), "{ty}: {e}");
    }
}

#[tokio::test]
async fn a_huge_page_from_javascript_or_python_hits_the_return_size_limit() {
    for ty in ["hostile-js", "hostile-py"] {
        let e = attack(ty, "huge-page").await;
        assert_eq!(e.limit(), Some(Limit::ReturnSize), "{ty}: {e}");
    }
}

#[tokio::test]
async fn the_runtimes_reach_no_network_or_file_of_their_own() {
    // JavaScript: the engine is built without its HTTP feature: fetch is absent, or traps.
    let e = attack("hostile-js", "fetch").await;
    assert!(
        e.to_string().contains("blocked: no fetch") || e.to_string().contains("adapter trapped"),
        "{e}"
    );
    // Python: sockets and files go to WASI, stubbed out: the call traps.
    for what in ["socket", "file"] {
        let e = attack("hostile-py", what).await;
        assert!(e.to_string().contains("adapter trapped"), "{what}: {e}");
    }
    // Through the host: another origin (a metadata address) is denied.
    for ty in ["hostile-js", "hostile-py"] {
        let e = attack(ty, "other-origin").await;
        assert!(e.to_string().contains("denied"), "{ty}: {e}");
    }
}
