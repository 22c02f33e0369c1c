//! The measures of the benchmark, each producing lines of the report.
//!
//! Over 400 lines: the bench's measures, each a short function sharing the fixtures above
//! them; the table they fill is one report.

use super::{measure, Measure, NativeMockAdapter, NativeSource};
use crate::{adapter_dir, local_events, temp_store};
use datacollect_sync::engine::cache::CodeCache;
use datacollect_sync::engine::{AdapterRuntime, Limits};
use dcsync_emulators::MockSyncServer;

use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager, SyncReport,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes for a full or a quick run.
pub(super) struct Sizes {
    pub(super) push_events: usize,
    pub(super) pull_records: usize,
    instantiations: usize,
    swaps: usize,
    adapters: usize,
    store_events: usize,
}

impl Sizes {
    pub(super) fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                push_events: 500,
                pull_records: 500,
                instantiations: 50,
                swaps: 3,
                adapters: 5,
                store_events: 5_000,
            }
        } else {
            Sizes {
                push_events: 100_000,
                pull_records: 20_000,
                instantiations: 2_000,
                swaps: 10,
                adapters: 50,
                store_events: 1_000_000,
            }
        }
    }
}

fn component() -> PathBuf {
    adapter_dir().join("mock_sync_server.wasm")
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

pub(super) async fn registry(cache: &std::path::Path) -> Arc<AdapterRegistry> {
    let runtime =
        AdapterRuntime::with_cache(Limits::default(), Some(CodeCache::open(cache).unwrap()))
            .unwrap();
    let registry = AdapterRegistry::new(runtime.clone());
    registry.insert(
        runtime
            .load(&component())
            .await
            .expect("run `make adapters`"),
    );
    registry
}

fn config(server: &MockSyncServer, batch: usize) -> ExternalSyncConfig {
    ExternalSyncConfig::from_value(&json!({ "type": "mock-sync-server", "url": server.url(),
        "extraFields": [{ "name": "batchSize", "value": batch.to_string() }] }))
    .unwrap()
}

/// One sync through the WASM component, or through the native baseline.
async fn sync_once(
    store: &Arc<dyn EventStore>,
    server: &MockSyncServer,
    registry: &Arc<AdapterRegistry>,
    native: bool,
) -> (SyncReport, Duration) {
    let mut m = ExternalSyncManager::new(
        store.clone(),
        Arc::new(EventApplier::new()),
        config(server, 100),
    );
    m = if native {
        m.with_adapters(Arc::new(NativeSource(Arc::new(NativeMockAdapter::new()))))
    } else {
        m.with_registry(registry.clone())
    };
    m.initialize().await.unwrap();
    let started = Instant::now();
    let report = m.synchronize(None).await.expect("bench sync");
    (report, started.elapsed())
}

pub(super) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Push throughput: WASM vs native, same manager loop, same mock server.
pub(super) async fn push(
    s: &Sizes,
    registry: &Arc<AdapterRegistry>,
    out: &mut Vec<Measure>,
) -> (SyncReport, Duration, Duration) {
    let mut runs = Vec::new();
    for native in [false, true] {
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (store, _dir) = temp_store();
        for chunk in local_events("bench", s.push_events).chunks(10_000) {
            store.append_local(chunk, &EventApplier::new()).unwrap();
        }
        let (report, took) = sync_once(&store, &server, registry, native).await;
        assert_eq!(report.pushed as usize, s.push_events);
        runs.push((report, took));
    }
    let (wasm, native) = (
        rate(s.push_events, runs[0].1),
        rate(s.push_events, runs[1].1),
    );
    let ratio = wasm / native;
    out.push(measure(
        "push throughput, WASM",
        wasm,
        "events/s",
        None,
        format!("{} events, batches of 100", s.push_events),
    ));
    out.push(measure(
        "push throughput, native",
        native,
        "events/s",
        None,
        String::new(),
    ));
    out.push(measure(
        "push ratio WASM ÷ native",
        ratio,
        "",
        Some(("≥ 0.90", ratio >= 0.90)),
        String::new(),
    ));
    (runs[0].0.clone(), runs[0].1, runs[1].1)
}

/// Pull + apply throughput into SQLite, WASM vs native.
pub(super) async fn pull(s: &Sizes, registry: &Arc<AdapterRegistry>, out: &mut Vec<Measure>) {
    let mut rates = Vec::new();
    for native in [false, true] {
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        server.seed((0..s.pull_records).map(|i| json!({ "entityGuid": format!("ext-{i}"), "data": { "name": format!("E{i}") } })).collect());
        let (store, _dir) = temp_store();
        let (report, took) = sync_once(&store, &server, registry, native).await;
        assert_eq!(report.applied as usize, s.pull_records);
        rates.push(rate(s.pull_records, took));
    }
    let ratio = rates[0] / rates[1];
    out.push(measure(
        "pull+apply throughput, WASM",
        rates[0],
        "events/s",
        None,
        format!("{} records, pages of 100", s.pull_records),
    ));
    out.push(measure(
        "pull+apply throughput, native",
        rates[1],
        "events/s",
        None,
        String::new(),
    ));
    out.push(measure(
        "pull+apply ratio WASM ÷ native",
        ratio,
        "",
        Some(("≥ 0.90", ratio >= 0.90)),
        String::new(),
    ));
}

pub(super) async fn instantiation(
    s: &Sizes,
    registry: &Arc<AdapterRegistry>,
    out: &mut Vec<Measure>,
) {
    let pooled = registry.get("mock-sync-server").unwrap();
    let mut with = pooled
        .time_instantiation(s.instantiations, true)
        .await
        .unwrap();
    let plain_rt = AdapterRuntime::without_pooling(Limits::default()).unwrap();
    let plain = plain_rt.load(&component()).await.unwrap();
    let mut without = plain
        .time_instantiation(s.instantiations, false)
        .await
        .unwrap();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let p50 = us(percentile(&mut with, 0.5));
    out.push(measure(
        "instantiate p50, pooling + InstancePre",
        p50,
        "µs",
        Some(("≤ 50", p50 <= 50.0)),
        format!("p99 {:.0} µs", us(percentile(&mut with, 0.99))),
    ));
    out.push(measure(
        "instantiate p50, on-demand + link each time",
        us(percentile(&mut without, 0.5)),
        "µs",
        None,
        format!("p99 {:.0} µs", us(percentile(&mut without, 0.99))),
    ));
}

pub(super) async fn load(out: &mut Vec<Measure>) {
    let cache = tempfile::tempdir().unwrap();
    let rt = || {
        AdapterRuntime::with_cache(
            Limits::default(),
            Some(CodeCache::open(cache.path()).unwrap()),
        )
        .unwrap()
    };
    // Engines are made before the clock starts: a process makes its engine once.
    let (first, second) = (rt(), rt());
    let started = Instant::now();
    assert!(!first.load(&component()).await.unwrap().from_cache);
    let compile = started.elapsed();
    let started = Instant::now();
    assert!(second.load(&component()).await.unwrap().from_cache);
    let cached = started.elapsed();
    let ratio = compile.as_secs_f64() / cached.as_secs_f64();
    out.push(measure(
        "adapter load, compile",
        compile.as_secs_f64() * 1e3,
        "ms",
        None,
        "read, hash, compile, link, describe() smoke test".into(),
    ));
    out.push(measure(
        "adapter load, from cache",
        cached.as_secs_f64() * 1e3,
        "ms",
        None,
        "read, hash, check, deserialize, link, smoke test".into(),
    ));
    out.push(measure(
        "load speed-up cache vs compile",
        ratio,
        "×",
        Some(("≥ 50", ratio >= 50.0)),
        String::new(),
    ));
}

/// Syncs run continuously while the component file is replaced and reloaded.
pub(super) async fn hot_swap(s: &Sizes, out: &mut Vec<Measure>) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let next = adapter_dir().join("../test-adapters/mock_sync_server_next.wasm");
    std::fs::copy(component(), dir.path().join("mock.wasm")).unwrap();
    let runtime = AdapterRuntime::with_cache(
        Limits::default(),
        Some(CodeCache::open(cache.path()).unwrap()),
    )
    .unwrap();
    let registry = AdapterRegistry::load_dir(runtime.clone(), dir.path()).await;
    runtime.load(&next).await.unwrap(); // warm the cache for the other version
    let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (store, _dir) = temp_store();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (store, registry, stop, server) = (
            store.clone(),
            registry.clone(),
            stop.clone(),
            server.clone(),
        );
        tokio::spawn(async move {
            let mut m = ExternalSyncManager::new(
                store.clone(),
                Arc::new(EventApplier::new()),
                config(&server, 100),
            )
            .with_registry(registry);
            m.initialize().await.unwrap();
            let (mut ok, mut failed, mut i) = (0u64, 0u64, 0);
            while !stop.load(Ordering::Relaxed) {
                store
                    .append_local(&local_events(&format!("s{i}"), 5), &EventApplier::new())
                    .unwrap();
                i += 1;
                match m.synchronize(None).await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    let mut swaps = Vec::new();
    for i in 0..s.swaps {
        let from = if i % 2 == 0 { &next } else { &component() };
        let tmp = dir.path().join(".mock.partial");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, dir.path().join("mock.wasm")).unwrap();
        let started = Instant::now();
        registry.reload().await;
        swaps.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = ms(percentile(&mut swaps, 0.5));
    let max = ms(*swaps.iter().max().unwrap());
    out.push(measure(
        "hot swap latency p50 (reload + publish)",
        p50,
        "ms",
        Some(("≤ 10", max <= 10.0)),
        format!(
            "max {max:.1} ms over {} swaps; the watcher adds ~250 ms of settling",
            s.swaps
        ),
    ));
    out.push(measure(
        "failed syncs during swaps",
        failed as f64,
        "",
        Some(("= 0", failed == 0)),
        format!("{ok} syncs succeeded"),
    ));
    // No failure means something only if syncs ran while the versions were swapped.
    out.push(measure(
        "syncs completed during swaps",
        ok as f64,
        "",
        Some(("> 0", ok > 0)),
        format!("{} swaps published", registry.swaps()),
    ));
}

pub(super) async fn memory(s: &Sizes, out: &mut Vec<Measure>) {
    let cache = tempfile::tempdir().unwrap();
    let runtime = AdapterRuntime::with_cache(
        Limits::default(),
        Some(CodeCache::open(cache.path()).unwrap()),
    )
    .unwrap();
    let mut loaded = vec![runtime.load(&component()).await.unwrap()];
    let one = rss_mib();
    for _ in 1..s.adapters {
        loaded.push(runtime.load(&component()).await.unwrap());
    }
    let many = rss_mib();
    out.push(measure(
        "RSS with 1 adapter loaded",
        one,
        "MiB",
        None,
        "whole process".into(),
    ));
    out.push(measure(
        &format!("RSS with {} adapters loaded", s.adapters),
        many,
        "MiB",
        Some(("≤ 150", many <= 150.0)),
        "each a separate compiled component".into(),
    ));
}

/// Pull + apply into a store that already holds many events, against an empty one. The
/// original product rebuilds a Merkle tree on every save, so its pull slows ~10× between
/// 1k and 10k stored events; ours should stay flat.
pub(super) async fn scaling(s: &Sizes, registry: &Arc<AdapterRegistry>, out: &mut Vec<Measure>) {
    let records = 5_000.min(s.store_events);
    let mut rates = Vec::new();
    for preload in [0, s.store_events] {
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let config = config(&server, 100);
        let (store, _dir) = temp_store();
        let mut i = 0;
        while i < preload {
            // Stored as pulled from this very config: never pending for it, so the measured
            // sync only pulls and applies.
            let n = 50_000.min(preload - i);
            store
                .apply_pulled(
                    &config.id,
                    &datacollect_sync::store::PulledPage {
                        events: local_events(&format!("pre{i}"), n),
                        ..Default::default()
                    },
                    &EventApplier::new(),
                )
                .unwrap();
            i += n;
        }
        server.seed((0..records).map(|i| json!({ "entityGuid": format!("ext-{i}"), "data": { "name": format!("E{i}") } })).collect());
        let (report, took) = sync_once(&store, &server, registry, false).await;
        assert_eq!(report.applied as usize, records);
        rates.push(rate(records, took));
    }
    let ratio = rates[1] / rates[0];
    out.push(measure(
        &format!("pull+apply with {} stored ÷ empty store", s.store_events),
        ratio,
        "",
        Some(("≥ 0.5", ratio >= 0.5)),
        format!(
            "{:.0} vs {:.0} events/s, {records} records",
            rates[1], rates[0]
        ),
    ));
}
