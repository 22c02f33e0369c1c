//! The adapter registry: verification and refusal, integrity pins, the compiled-code
//! cache, and hot swap while syncs run.

use datacollect_sync::engine::cache::CodeCache;
use datacollect_sync::engine::{AdapterRuntime, Limits};

use datacollect_sync::{watch, AdapterRegistry, EventApplier, ExternalSyncManager};
use datacollect_sync_e2e::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn built(name: &str) -> PathBuf {
    let d = adapter_dir();
    let p = d.join(name);
    if p.exists() {
        p
    } else {
        d.join("../test-adapters").join(name)
    }
}

/// One compiled-code cache for this test binary, so each component compiles once.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn runtime() -> Arc<AdapterRuntime> {
    AdapterRuntime::with_cache(
        Limits::default(),
        Some(CodeCache::open(cache_dir()).unwrap()),
    )
    .unwrap()
}

fn reason_for(registry: &AdapterRegistry, file: &str) -> String {
    registry
        .problems()
        .into_iter()
        .find(|p| p.path.file_name().unwrap() == file)
        .unwrap_or_else(|| panic!("no problem reported for {file}: {:?}", registry.problems()))
        .reason
}

#[tokio::test]
async fn bad_files_are_refused_by_name_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(built("mock_sync_server.wasm"), dir.path().join("mock.wasm")).unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm at all").unwrap();
    std::fs::write(dir.path().join("core-module.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::copy(built("future_major.wasm"), dir.path().join("future.wasm")).unwrap();
    std::fs::copy(built("broken.wasm"), dir.path().join("broken.wasm")).unwrap();
    let registry = AdapterRegistry::load_dir(runtime(), dir.path()).await;

    assert_eq!(registry.types(), ["mock-sync-server"]);
    assert!(reason_for(&registry, "garbage.wasm").contains("not a WebAssembly component"));
    assert!(reason_for(&registry, "core-module.wasm").contains("not a WebAssembly component"));
    let future = reason_for(&registry, "future.wasm");
    assert!(
        future.contains("datacollect:external-sync/log@2.0.0"),
        "names the missing import: {future}"
    );
    let broken = reason_for(&registry, "broken.wasm");
    assert!(broken.starts_with("smoke test failed"), "{broken}");
}

#[tokio::test]
async fn two_files_claiming_one_type_are_both_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(built("mock_sync_server.wasm"), dir.path().join("a.wasm")).unwrap();
    std::fs::copy(
        built("mock_sync_server_next.wasm"),
        dir.path().join("b.wasm"),
    )
    .unwrap();
    std::fs::copy(built("hostile.wasm"), dir.path().join("hostile.wasm")).unwrap();
    let registry = AdapterRegistry::load_dir(runtime(), dir.path()).await;
    assert_eq!(registry.types(), ["hostile"]);
    for f in ["a.wasm", "b.wasm"] {
        assert!(reason_for(&registry, f)
            .contains("type \"mock-sync-server\" is claimed by several files"));
    }
}

#[tokio::test]
async fn integrity_pin_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(built("mock_sync_server.wasm"), dir.path().join("mock.wasm")).unwrap();
    let pins = BTreeMap::from([("mock-sync-server".to_string(), "0".repeat(64))]);
    let registry = AdapterRegistry::load_dir_pinned(runtime(), dir.path(), pins).await;
    assert!(registry.get("mock-sync-server").is_none());
    assert!(reason_for(&registry, "mock.wasm")
        .contains(&format!("does not match the pin {}", "0".repeat(64))));

    let good = registry.problems()[0]
        .reason
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let pins = BTreeMap::from([("mock-sync-server".to_string(), good)]);
    let registry = AdapterRegistry::load_dir_pinned(runtime(), dir.path(), pins).await;
    assert!(
        registry.get("mock-sync-server").is_some(),
        "the pinned hash loads"
    );
}

#[tokio::test]
async fn second_load_comes_from_the_cache_and_a_damaged_entry_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let rt = || {
        AdapterRuntime::with_cache(
            Limits::default(),
            Some(CodeCache::open(cache.path()).unwrap()),
        )
        .unwrap()
    };
    let file = built("mock_sync_server.wasm");

    let first = rt().load(&file).await.unwrap();
    assert!(!first.from_cache);
    let second = rt().load(&file).await.unwrap();
    assert!(
        second.from_cache,
        "a second start loads compiled code from the cache"
    );
    assert!(
        second.load_ms < first.load_ms,
        "cache {} ms vs compile {} ms",
        second.load_ms,
        first.load_ms
    );

    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap(); // truncated
    let third = rt().load(&file).await.unwrap();
    assert!(
        !third.from_cache,
        "a truncated entry is discarded and rebuilt"
    );
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff; // corrupted
    std::fs::write(&entry, &bytes).unwrap();
    let fourth = rt().load(&file).await.unwrap();
    assert!(
        !fourth.from_cache,
        "a corrupted entry is discarded and rebuilt"
    );
    assert!(
        rt().load(&file).await.unwrap().from_cache,
        "the rebuilt entry serves again"
    );
    assert_eq!(
        fourth.describe().await.unwrap().adapter_type,
        "mock-sync-server"
    );
}

/// Wait until the registry serves `version` for the mock type (or `None`: nothing).
async fn serves(registry: &AdapterRegistry, version: &str) -> Duration {
    let started = Instant::now();
    while registry
        .get("mock-sync-server")
        .map(|a| a.info.version.clone())
        .as_deref()
        != Some(version)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "registry never served {version}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn replace_atomically(from: &Path, dir: &Path) {
    let tmp = dir.join(".mock.wasm.partial");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("mock.wasm")).unwrap();
}

fn replace_in_two_slow_steps(from: &Path, dir: &Path) {
    let bytes = std::fs::read(from).unwrap();
    let target = dir.join("mock.wasm");
    std::fs::write(&target, &bytes[..bytes.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(&target, &bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_under_load_fails_no_sync_and_the_next_sync_uses_the_new_version() {
    let (v1, v11) = (
        built("mock_sync_server.wasm"),
        built("mock_sync_server_next.wasm"),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&v1, dir.path().join("mock.wasm")).unwrap();
    let registry = AdapterRegistry::load_dir(runtime(), dir.path()).await;
    let _watch = watch::watch(registry.clone()).unwrap();
    let server = mock_server().await;
    let (store, _store_dir) = temp_store();
    let config = mock_config(&server, &[]);
    let new_manager = || async {
        let mut m =
            ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config.clone())
                .with_registry(registry.clone())
                .wait_for_lock(true);
        m.initialize().await.unwrap();
        m
    };

    // Syncs run continuously, each with a new local event.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (m, store, stop) = (new_manager().await, store.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed, mut i) = (0, Vec::new(), 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .append_local(&local_events(&format!("load{i}"), 1), &EventApplier::new())
                    .unwrap();
                i += 1;
                match m.synchronize(None).await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed, i)
        })
    };

    let checker = new_manager().await;
    let steps: [(&Path, &str, bool); 5] = [
        (&v11, "1.1.0", true),
        (&v1, "1.0.0", true),
        (&v11, "1.1.0", false),
        (&v1, "1.0.0", true),
        (&v11, "1.1.0", true),
    ];
    for (file, version, atomic) in steps {
        if atomic {
            replace_atomically(file, dir.path());
        } else {
            replace_in_two_slow_steps(file, dir.path());
        }
        serves(&registry, version).await;
        let report = checker.synchronize(None).await.unwrap();
        assert_eq!(
            report.adapter_version, version,
            "the first sync after the swap uses the new version"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed, appended) = load.await.unwrap();
    assert!(failed.is_empty(), "syncs failed during swaps: {failed:?}");
    assert!(ok >= 5, "syncs kept running during the swaps ({ok})");
    assert!(registry.swaps() >= 5);

    checker.synchronize(None).await.unwrap();
    let (events, _, duplicates) = server.received();
    let guids: HashSet<_> = events
        .iter()
        .map(|e| e["guid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        (guids.len(), duplicates),
        (appended, 0),
        "every event delivered once"
    );
    let versions: HashSet<String> = store
        .runs(None, 1000)
        .unwrap()
        .into_iter()
        .map(|r| r.adapter_version)
        .collect();
    assert_eq!(
        versions,
        HashSet::from(["1.0.0".to_string(), "1.1.0".to_string()]),
        "run history shows both versions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_swap_keeps_the_old_version_serving_until_a_good_file_comes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(built("mock_sync_server.wasm"), dir.path().join("mock.wasm")).unwrap();
    let registry = AdapterRegistry::load_dir(runtime(), dir.path()).await;
    let _watch = watch::watch(registry.clone()).unwrap();
    let server = mock_server().await;
    let (store, _store_dir) = temp_store();
    let m = manager_with(&store, mock_config(&server, &[]), registry.clone()).await;

    for (bad, why) in [
        (None, "not a WebAssembly component"),
        (Some(built("broken.wasm")), "smoke test failed"),
    ] {
        let swaps = registry.swaps();
        match &bad {
            None => {
                std::fs::write(dir.path().join("mock.wasm"), b"garbage, not a component").unwrap()
            }
            Some(f) => replace_atomically(f, dir.path()),
        }
        let started = Instant::now();
        while !registry.problems().iter().any(|p| p.reason.contains(why)) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the bad file was never reported"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(registry.swaps(), swaps, "nothing was swapped in");
        assert_eq!(
            registry.get("mock-sync-server").unwrap().info.version,
            "1.0.0"
        );
        store
            .append_local(&local_events(why, 1), &EventApplier::new())
            .unwrap();
        assert_eq!(
            m.synchronize(None).await.unwrap().pushed,
            1,
            "the old version keeps serving"
        );
    }
    replace_atomically(&built("mock_sync_server_next.wasm"), dir.path());
    serves(&registry, "1.1.0").await;
    assert!(registry.problems().is_empty());
    assert_eq!(m.synchronize(None).await.unwrap().adapter_version, "1.1.0");
}

async fn manager_with(
    store: &Arc<dyn datacollect_sync::EventStore>,
    config: datacollect_sync::ExternalSyncConfig,
    registry: Arc<AdapterRegistry>,
) -> ExternalSyncManager {
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry);
    m.initialize().await.unwrap();
    m
}

#[tokio::test]
async fn an_adapter_built_against_contract_1_0_still_loads_and_syncs() {
    let runtime = runtime();
    let legacy = runtime
        .load(&built("legacy_v1_0.wasm"))
        .await
        .expect("a 1.0 adapter loads");
    assert_eq!(legacy.wit_version, "1.0.0");
    assert!(legacy.manifest.is_none(), "1.0 declares no placements");
    assert!(!legacy.has_checks);
    let registry = AdapterRegistry::new(runtime);
    registry.insert(legacy);
    let server = mock_server().await;
    server.seed(vec![
        serde_json::json!({"entityGuid": "ext-1", "data": {"name": "From outside"}}),
    ]);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("legacy", 2), &EventApplier::new())
        .unwrap();
    let config = datacollect_sync::ExternalSyncConfig::from_value(&serde_json::json!({
        "type": "legacy-mock", "url": server.url(),
        "extraFields": [{"name": "apiKey", "value": "legacy-KEY-123456"}]}))
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry);
    m.initialize().await.unwrap();
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.pushed, report.applied), (2, 1));
    // Under the 1.0 rule its own `{{secret:apiKey}}` in a header to its origin is filled.
    assert_eq!(server.state.lock().unwrap().api_keys, ["legacy-KEY-123456"]);
}
