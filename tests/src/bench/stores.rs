//! SQLite beside PostgreSQL: pull+apply and push, events per second, through the whole
//! engine (WASM adapter, mock server over HTTP, pages and batches of 1000) and into the
//! store alone (`apply_pulled` of pages of 1000: one transaction each). PostgreSQL is a
//! throwaway local cluster with fsync on (`crate::postgres::bench_cluster`).

use super::measures::rate;
use super::{measure, Measure};
use crate::local_events;
use datacollect_sync::model::SyncLevel;
use datacollect_sync::store::PulledPage;
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager,
    FormSubmission, SqliteStore,
};
use dcsync_emulators::MockSyncServer;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: usize = 1000;

/// Fresh stores of one kind (each call a new one), with what keeps them alive.
struct Kind {
    name: &'static str,
    fresh: Box<dyn Fn() -> Arc<dyn EventStore> + Send>,
    _keep: Box<dyn std::any::Any + Send>,
}

/// SQLite (a file each) and PostgreSQL (a tenant each, in one database).
fn kinds() -> Vec<Kind> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let sqlite = move || -> Arc<dyn EventStore> {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(SqliteStore::open(path.join(format!("bench-{i}.db"))).unwrap())
    };
    let db = crate::postgres::bench_cluster().database();
    let url = db.url.clone();
    let m = std::sync::atomic::AtomicUsize::new(0);
    let pg = move || -> Arc<dyn EventStore> {
        let i = m.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let location = datacollect_sync::store::PgLocation::parse_with_password(
            &format!("{url}?tenant=bench{i}"),
            None,
        )
        .unwrap();
        Arc::new(datacollect_sync::store::PostgresStore::open(&location).unwrap())
    };
    vec![
        Kind {
            name: "SQLite",
            fresh: Box::new(sqlite),
            _keep: Box::new(dir),
        },
        Kind {
            name: "PostgreSQL",
            fresh: Box::new(pg),
            _keep: Box::new(db),
        },
    ]
}

fn pulled(n: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| FormSubmission {
            guid: format!("pulled-{i}"),
            entity_guid: format!("ext-{i}"),
            event_type: "upsert-external-entity".into(),
            data: json!({ "entityType": "individual", "name": format!("E{i}"), "age": i % 90 }),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: "external".into(),
            sync_level: SyncLevel::External,
        })
        .collect()
}

async fn engine_sync(
    store: &Arc<dyn EventStore>,
    server: &MockSyncServer,
    registry: &Arc<AdapterRegistry>,
) -> Duration {
    let config = ExternalSyncConfig::from_value(&json!({ "type": "mock-sync-server",
        "url": server.url(), "extraFields": [{ "name": "batchSize", "value": PAGE.to_string() }] }))
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry.clone());
    m.initialize().await.unwrap();
    let started = Instant::now();
    m.synchronize(None).await.expect("bench sync");
    started.elapsed()
}

/// Store-only and engine figures for each store.
pub(super) async fn compare(
    records: usize,
    registry: &Arc<AdapterRegistry>,
    out: &mut Vec<Measure>,
) {
    for kind in crate::postgres::off_runtime(kinds) {
        let name = kind.name;
        // The store alone: pages of pulled events, one transaction each.
        let events = pulled(records);
        let s = (kind.fresh)();
        let took = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            for (i, page) in events.chunks(PAGE).enumerate() {
                let page = PulledPage {
                    events: page.to_vec(),
                    refused: vec![],
                    next_cursor: Some(i.to_string()),
                };
                s.apply_pulled("direct", &page, &EventApplier::new())
                    .unwrap();
            }
            started.elapsed()
        })
        .await
        .unwrap();
        let direct = rate(records, took);
        out.push(measure(
            &format!("store apply_pulled, {name}"),
            direct,
            "events/s",
            (name == "PostgreSQL").then_some(("≥ 20000", direct >= 20_000.0)),
            format!("{records} events, pages of {PAGE}, one transaction each"),
        ));
        // The whole engine, on a fresh store: a pull of seeded records, then a push of
        // local events.
        let store = (kind.fresh)();
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        server.seed((0..records).map(|i| json!({ "entityGuid": format!("eng-{i}"), "data": { "name": format!("E{i}") } })).collect());
        let took = engine_sync(&store, &server, registry).await;
        out.push(measure(
            &format!("sync pull+apply, {name}"),
            rate(records, took),
            "events/s",
            None,
            format!("{records} records through the WASM adapter, pages of {PAGE}"),
        ));
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            for chunk in local_events("push", records).chunks(PAGE * 5) {
                s.append_local(chunk, &EventApplier::new()).unwrap();
            }
        })
        .await
        .unwrap();
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let took = engine_sync(&store, &server, registry).await;
        // The push also carries the records the first sync pulled (from another config).
        let pushed = server.received().0.len();
        out.push(measure(
            &format!("sync push, {name}"),
            rate(pushed, took),
            "events/s",
            None,
            format!("{pushed} events through the WASM adapter, batches of {PAGE}"),
        ));
    }
}
