//! `dcsync demo`: the whole product in a few lines of output, with nothing to set up.

use crate::Ctx;
use anyhow::{bail, Result};
use datacollect_sync::model::SyncLevel;
use datacollect_sync::{
    EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager, FormSubmission, SqliteStore,
};
use dcsync_emulators::MockSyncServer;
use serde_json::json;
use std::sync::Arc;

fn sample_events() -> Vec<FormSubmission> {
    let people = [
        ("Amina Yusuf", 34),
        ("Kofi Mensah", 29),
        ("Lina Haddad", 41),
        ("Tomas Ruiz", 52),
    ];
    let mut events: Vec<FormSubmission> = people
        .iter()
        .enumerate()
        .map(|(i, (name, age))| FormSubmission {
            guid: format!("demo-event-{i}"),
            entity_guid: format!("demo-person-{i}"),
            event_type: "create-individual".into(),
            data: json!({ "name": name, "age": age }),
            timestamp: format!("2025-03-0{}T09:00:00Z", i + 1),
            user_id: "field-worker-1".into(),
            sync_level: SyncLevel::Local,
        })
        .collect();
    events.push(FormSubmission {
        guid: "demo-event-household".into(),
        entity_guid: "demo-household-1".into(),
        event_type: "create-group".into(),
        data: json!({ "name": "Yusuf household", "members": [{ "guid": "demo-person-0" }, { "guid": "demo-person-1" }] }),
        timestamp: "2025-03-05T09:00:00Z".into(),
        user_id: "field-worker-1".into(),
        sync_level: SyncLevel::Local,
    });
    events
}

pub async fn run(ctx: &Ctx) -> Result<i32> {
    let registry = ctx.registry().await?;
    let server = MockSyncServer::start("127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("demo.db"))?);
    let applier = Arc::new(EventApplier::new());
    let events = sample_events();
    store.append_local(&events, &applier)?;
    println!(
        "1. Stored {} local events (4 individuals, 1 household) in a temporary SQLite store.",
        events.len()
    );

    let config = ExternalSyncConfig::from_value(&json!({ "externalSync": {
        "type": "mock-sync-server", "url": server.url(),
        "extraFields": [{ "name": "batchSize", "value": "2" }, { "name": "retryAttempts", "value": "3" }]
    }}))?;
    let mut manager =
        ExternalSyncManager::new(store.clone(), applier, config).with_registry(registry.clone());
    manager.initialize().await?;
    if !manager.is_initialized() {
        let why: Vec<String> = registry
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        bail!(
            "the mock-sync-server adapter is not loaded (run `make adapters`). {}",
            why.join("; ")
        );
    }
    let adapter = registry.get("mock-sync-server").expect("initialized");
    println!(
        "2. Loaded adapter {} {} from {} (sandboxed WebAssembly component).",
        adapter.info.adapter_type,
        adapter.info.version,
        adapter.path.display()
    );

    let first = manager.synchronize(None).await?;
    let (_, requests, _) = server.received();
    println!(
        "3. Sync #1 pushed {} events to the mock server at {} in {} requests (batchSize 2).",
        first.pushed,
        server.url(),
        requests
    );

    server.seed(vec![
        json!({ "entityGuid": "ext-1001", "data": { "name": "Grace Banda", "externalId": "SPP-1001" } }),
        json!({ "entityGuid": "ext-1002", "data": { "name": "Omar Farouk", "externalId": "SPP-1002" } }),
        json!({ "entityGuid": "ext-1003", "data": { "name": "Banda household", "entityType": "group" } }),
    ]);
    let second = manager.synchronize(None).await?;
    println!(
        "4. The external system gained 3 records; sync #2 pulled {} and applied {} (pushed {}).",
        second.pulled, second.applied, second.pushed
    );
    if let Some(e) = store.entity("ext-1001")? {
        println!(
            "   Local entity ext-1001 is now {:?} (externalId {:?}).",
            e.modified.name.unwrap_or_default(),
            e.modified.external_id.unwrap_or_default()
        );
    }
    let third = manager.synchronize(None).await?;
    println!("5. Sync #3 had nothing new: pushed {}, applied {} (re-pulled records are recognised, never duplicated).", third.pushed, third.applied);
    if first.pushed != events.len() as u64
        || second.applied != 3
        || third.pushed != 0
        || third.applied != 0
    {
        bail!("demo did not go as expected: {first:?} {second:?} {third:?}");
    }
    println!(
        "Done. Run history: {} runs recorded.",
        store.runs(None, 10)?.len()
    );
    Ok(0)
}
