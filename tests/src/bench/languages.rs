//! The same webhook adapter written in Rust, JavaScript and Python: component size,
//! compile time, cache load, instantiation and push throughput, side by side in one run.

use super::{measure, Measure};
use crate::{adapter_dir, local_events, temp_store};
use datacollect_sync::engine::cache::CodeCache;
use datacollect_sync::engine::{AdapterRuntime, Limits};
use datacollect_sync::{AdapterRegistry, EventApplier, ExternalSyncConfig, ExternalSyncManager};
use dcsync_emulators::webhook::WebhookEmulator;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUILDS: [(&str, &str, &str); 3] = [
    ("Rust", "custom-adapter", "custom_adapter.wasm"),
    ("JavaScript", "js-webhook", "js_webhook.wasm"),
    ("Python", "python-webhook", "python_webhook.wasm"),
];

/// Push throughput goals relative to the Rust build (issue 18).
fn goal(language: &str) -> Option<f64> {
    match language {
        "JavaScript" => Some(0.5),
        "Python" => Some(0.25),
        _ => None,
    }
}

pub(super) async fn languages(quick: bool, out: &mut Vec<Measure>) {
    let events = if quick { 200 } else { 20_000 };
    let instantiations = if quick { 20 } else { 500 };
    // A fresh cache measures compilation; the quick run (a test) shares the test cache
    // so it does not spend minutes compiling the JS and Python runtimes again.
    let fresh = tempfile::tempdir().unwrap();
    let cache_dir = if quick {
        crate::test_cache_home().join("dcsync")
    } else {
        fresh.path().to_path_buf()
    };
    let mut rust_rate = None;
    for (language, ty, file) in BUILDS {
        let path = adapter_dir().join(file);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let runtime = |limits: Limits| {
            AdapterRuntime::with_cache(limits, Some(CodeCache::open(&cache_dir).unwrap())).unwrap()
        };
        let (first, second) = (runtime(Limits::default()), runtime(Limits::default()));
        let started = Instant::now();
        let loaded = first.load(&path).await.expect("run `make adapters`");
        let compile = started.elapsed();
        let started = Instant::now();
        let again = second.load(&path).await.unwrap();
        let cached = started.elapsed();
        out.push(measure(
            &format!("{language} webhook: component size"),
            size as f64 / 1_048_576.0,
            "MiB",
            None,
            file.into(),
        ));
        out.push(measure(
            &format!("{language} webhook: compile"),
            compile.as_secs_f64() * 1e3,
            "ms",
            None,
            if loaded.from_cache {
                "from the shared test cache (QUICK)".into()
            } else {
                "read, hash, compile, link, smoke test".into()
            },
        ));
        out.push(measure(
            &format!("{language} webhook: load from cache"),
            cached.as_secs_f64() * 1e3,
            "ms",
            None,
            format!("from cache: {}", again.from_cache),
        ));
        let mut times = again
            .time_instantiation(instantiations, true)
            .await
            .unwrap();
        times.sort();
        let p50 = times[times.len() / 2].as_secs_f64() * 1e6;
        out.push(measure(
            &format!("{language} webhook: instantiate p50"),
            p50,
            "µs",
            Some(("≤ 1000", p50 <= 1000.0)),
            format!(
                "p99 {:.0} µs",
                times[times.len() * 99 / 100].as_secs_f64() * 1e6
            ),
        ));
        let registry = AdapterRegistry::new(second.clone());
        registry.insert(again);
        let (rate, detail) = push_rate(&registry, ty, events).await;
        let target = match (goal(language), rust_rate) {
            (Some(g), Some(r)) => Some((format!("≥ {g}× Rust"), rate / r >= g)),
            _ => None,
        };
        out.push(measure(
            &format!("{language} webhook: push"),
            rate,
            "ev/s",
            target.as_ref().map(|(t, m)| (t.as_str(), *m)),
            match rust_rate {
                Some(r) => format!("{:.2}× Rust; {detail}", rate / r),
                None => detail,
            },
        ));
        if language == "Rust" {
            rust_rate = Some(rate);
        }
    }
}

/// Events per second pushed through the adapter to a local webhook, batches of 100.
async fn push_rate(registry: &Arc<AdapterRegistry>, ty: &str, n: usize) -> (f64, String) {
    let hook = WebhookEmulator::start("127.0.0.1:0".parse().unwrap(), "u", "bench-PASS-1234", None)
        .await
        .unwrap();
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("lang", n), &EventApplier::new())
        .unwrap();
    let config = ExternalSyncConfig::from_value(&json!({"type": ty, "auth": "basic", "url": hook.url(),
        "extraFields": [{"name": "username", "value": "u"}, {"name": "password", "value": "bench-PASS-1234"},
                        {"name": "batchSize", "value": "100"}]}))
    .unwrap();
    let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
        .with_registry(registry.clone());
    m.initialize().await.unwrap();
    let started = Instant::now();
    let r = m.synchronize(None).await.expect("bench push");
    let took = started.elapsed().max(Duration::from_micros(1));
    assert_eq!(r.pushed as usize, n);
    (
        n as f64 / took.as_secs_f64(),
        format!(
            "{n} events; in adapter calls {:.0} µs/event",
            r.adapter_us as f64 / n as f64
        ),
    )
}
