//! Targets over what comes from outside the host: answers from external systems through the
//! real adapter components, component files, and compiled-code cache entries.

use crate::{repo_root, rt};
use datacollect_sync::engine::cache::CodeCache;
use datacollect_sync::engine::{AdapterRuntime, Limits, LoadedAdapter};
use datacollect_sync::host::tape::{Tape, TapeAnswer};
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager,
    FormSubmission, SqliteStore,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The shipped Rust adapters, their types and a config each would sync with.
const ADAPTERS: [(&str, &str); 4] = [
    ("mock_sync_server.wasm", "mock-sync-server"),
    ("openfn_adapter.wasm", "openfn-adapter"),
    ("openspp_adapter.wasm", "openspp-adapter"),
    ("custom_adapter.wasm", "custom-adapter"),
];

fn adapter_dir() -> PathBuf {
    match std::env::var_os("DCSYNC_ADAPTERS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo_root().join("target/adapters"),
    }
}

/// The code cache the tests share (`target/test-cache`), so a replay compiles nothing twice.
fn cache_dir() -> PathBuf {
    repo_root().join("target/test-cache/dcsync")
}

fn engine() -> &'static Arc<AdapterRuntime> {
    static E: OnceLock<Arc<AdapterRuntime>> = OnceLock::new();
    E.get_or_init(|| {
        AdapterRuntime::with_cache(
            Limits::default(),
            Some(CodeCache::open(&cache_dir()).expect("the code cache")),
        )
        .expect("the engine")
    })
}

/// The shipped Rust adapters, loaded once.
pub(crate) fn registry() -> &'static Arc<AdapterRegistry> {
    static R: OnceLock<Arc<AdapterRegistry>> = OnceLock::new();
    R.get_or_init(|| {
        let r = AdapterRegistry::new(engine().clone());
        rt().block_on(async {
            for (file, _) in ADAPTERS {
                let path = adapter_dir().join(file);
                let loaded: LoadedAdapter = engine()
                    .load(&path)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e} (run `make adapters`)", path.display()));
                r.insert(loaded);
            }
        });
        r
    })
}

/// The shipped Rust adapters.
pub(crate) fn shipped() -> Vec<Arc<LoadedAdapter>> {
    registry().adapters()
}

fn config_for(adapter_type: &str) -> ExternalSyncConfig {
    let url = "http://127.0.0.1:9/sync";
    let fields = match adapter_type {
        "openfn-adapter" => json!([{"name": "apiKey", "value": "fuzz-api-key-123456"},
                                   {"name": "collectionName", "value": "registrations"},
                                   {"name": "collectionsToken", "value": "fuzz-token-123456"}]),
        "openspp-adapter" => json!([{"name": "database", "value": "openspp"},
                                    {"name": "username", "value": "admin"},
                                    {"name": "password", "value": "fuzz-password-123456"}]),
        "custom-adapter" => json!([{"name": "username", "value": "u"},
                                   {"name": "password", "value": "fuzz-password-123456"}]),
        _ => json!([]),
    };
    ExternalSyncConfig::from_value(&json!({
        "type": adapter_type, "url": url, "extraFields": fields,
    }))
    .expect("a valid config")
}

/// Answers from the fuzzer's bytes: `0xFF` separates answers; each is a big-endian status,
/// header lines (`name: value`) up to an empty line, then the body.
fn answers(data: &[u8]) -> Vec<TapeAnswer> {
    use base64::Engine as _;
    data.split(|b| *b == 0xFF)
        .take(16)
        .map(|raw| {
            let status = match raw {
                [a, b, ..] => u16::from_be_bytes([*a, *b]),
                _ => 200,
            };
            let rest = raw.get(2..).unwrap_or_default();
            let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (&[][..], rest),
            };
            let headers = String::from_utf8_lossy(head)
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            TapeAnswer {
                status,
                headers,
                body: base64::engine::general_purpose::STANDARD.encode(body),
            }
        })
        .collect()
}

/// Whatever the external system answers — any status, headers and body, in any order —
/// the sync through the real component ends with a report or a typed error, and never
/// counts an event delivered that the answers did not confirm.
pub fn responses(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (_, adapter_type) = ADAPTERS[usize::from(which) % ADAPTERS.len()];
    let tape = Arc::new(Tape::answers(answers(rest)));
    // Loaded outside the runtime: the first load blocks on it (found by this target's
    // first fuzzing run, kept in fuzz/regressions/responses/).
    let registry = registry().clone();
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> =
            Arc::new(SqliteStore::open(dir.path().join("f.db")).unwrap());
        let events: Vec<FormSubmission> = (0..3)
            .map(|i| {
                serde_json::from_value(json!({
                    "guid": format!("fuzz-{i}"), "entityGuid": format!("p-{i}"),
                    "type": "create-individual", "data": {"name": format!("P {i}")},
                    "timestamp": "2025-01-01T00:00:00Z", "userId": "fuzz", "syncLevel": 0
                }))
                .unwrap()
            })
            .collect();
        store.append_local(&events, &EventApplier::new()).unwrap();
        let config = config_for(adapter_type);
        let id = config.id.clone();
        let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(registry)
            .with_tape(tape)
            // Retries of refused or failing answers wait on a manual clock: no real backoff.
            .with_clock(Arc::new(datacollect_sync::clock::ManualClock::new()))
            .secret_rules(true, Default::default());
        m.initialize().await.expect("initialize");
        let result = m.synchronize(None).await;
        let pending = store.pending_count(&id).unwrap();
        match result {
            Ok(report) => assert!(report.pushed + pending <= 3, "{report:?}"),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    });
}

/// Any bytes as a component file: loaded, or refused with a reason.
pub fn loader(data: &[u8]) {
    rt().block_on(async {
        let path = std::path::Path::new("fuzz-input.wasm");
        if let Err(e) = engine().load_bytes(data, path).await {
            assert!(!e.to_string().is_empty());
        }
    });
}

/// A compiled-code cache entry damaged by the fuzzer's patches (`offset: u32 LE, xor: u8`
/// triples; a first byte under 16 also truncates) is rebuilt from the component, never
/// loaded, and the component still works.
pub fn cache(data: &[u8]) {
    let Some((&mode, patches)) = data.split_first() else {
        return;
    };
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(dir.path()).unwrap();
        let engine = AdapterRuntime::with_cache(Limits::default(), Some(cache.clone())).unwrap();
        let path = adapter_dir().join(ADAPTERS[0].0);
        let first = engine.load(&path).await.expect("the component loads");
        let entry = cache.path_for(engine.engine(), &first.sha256);
        let original = std::fs::read(&entry).expect("the cache entry was written");
        let mut damaged = original.clone();
        for p in patches.chunks_exact(5) {
            let offset = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
            // Past the 4-byte checksum: the artifact itself is what gets damaged.
            let at = 4 + offset % (damaged.len() - 4);
            damaged[at] ^= p[4];
        }
        if mode < 16 {
            let keep = damaged.len() * usize::from(mode) / 16;
            damaged.truncate(keep);
        }
        if damaged == original {
            return;
        }
        std::fs::write(&entry, &damaged).unwrap();
        let again = engine
            .load(&path)
            .await
            .expect("rebuilt from the component");
        assert!(!again.from_cache, "a damaged cache entry was loaded");
        let third = engine
            .load(&path)
            .await
            .expect("loads from the rebuilt entry");
        assert!(third.from_cache, "the entry was not rebuilt");
    });
}
