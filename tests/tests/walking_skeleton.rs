//! One sync end to end through the WASM mock-sync-server adapter.

use datacollect_sync::{EventApplier, ExternalSyncConfig, ExternalSyncManager};
use datacollect_sync_e2e::*;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn pushes_250_events_in_3_batches_then_nothing() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("a", 250), &EventApplier::new())
        .unwrap();
    let m = manager(&store, mock_config(&server, &[("batchSize", "100")])).await;

    let first = m.synchronize(None).await.unwrap();
    let (received, requests, duplicates) = server.received();
    assert_eq!(first.pushed, 250);
    assert_eq!(received.len(), 250);
    assert_eq!(requests, 3, "250 events in batches of 100 is 3 requests");
    assert_eq!(duplicates, 0);

    let second = m.synchronize(None).await.unwrap();
    assert_eq!(second.pushed, 0);
    assert_eq!(server.received().1, 3, "the second sync sends no request");
}

#[tokio::test]
async fn seeded_records_are_pulled_and_applied_once() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    server.seed(vec![
        json!({ "entityGuid": "ext-1", "data": { "name": "Grace", "externalId": "X1" } }),
        json!({ "entityGuid": "ext-2", "data": { "name": "Omar" } }),
        json!({ "entityGuid": "ext-3", "type": "create-group", "data": { "name": "Household", "members": [{ "guid": "ext-1" }] } }),
    ]);
    let m = manager(&store, mock_config(&server, &[("batchSize", "2")])).await;

    let first = m.synchronize(None).await.unwrap();
    assert_eq!((first.pulled, first.applied, first.pull_pages), (3, 3, 2));
    let grace = store
        .entity("ext-1")
        .unwrap()
        .expect("pulled entity stored");
    assert_eq!(grace.modified.name.as_deref(), Some("Grace"));
    assert_eq!(grace.modified.external_id.as_deref(), Some("X1"));
    assert_eq!(
        store.entity("ext-3").unwrap().unwrap().modified.member_ids,
        vec!["ext-1"]
    );

    let second = m.synchronize(None).await.unwrap();
    assert_eq!((second.pulled, second.applied), (0, 0));
    assert_eq!(store.event_count().unwrap(), 3);
    let push_cursor = store.cursors(&m.config().id).unwrap().push;
    assert_eq!(
        push_cursor, 3,
        "nothing was pending, so the push cursor moved past the pulled events"
    );
    assert_eq!(
        first.pushed + second.pushed,
        0,
        "pulled events are never pushed back to their source"
    );
}

#[tokio::test]
async fn unknown_type_leaves_manager_uninitialized() {
    let (store, _dir) = temp_store();
    let config = ExternalSyncConfig::from_value(
        &json!({ "type": "no-such-adapter", "url": "http://localhost:1/x" }),
    )
    .unwrap();
    let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
        .with_registry(registry());
    m.initialize().await.expect("unknown type is not an error");
    assert!(!m.is_initialized());
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.to_string(), "Adapter not initialized");
}

#[tokio::test]
async fn synchronize_before_initialize_fails() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let m = ExternalSyncManager::new(
        store,
        Arc::new(EventApplier::new()),
        mock_config(&server, &[]),
    );
    assert_eq!(
        m.synchronize(None).await.unwrap_err().to_string(),
        "Adapter not initialized"
    );
}

#[tokio::test]
async fn runs_are_recorded_with_counts() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("r", 7), &EventApplier::new())
        .unwrap();
    let m = manager(&store, mock_config(&server, &[])).await;
    let report = m.synchronize(None).await.unwrap();
    let runs = store.runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, report.run_id);
    assert_eq!((runs[0].status.as_str(), runs[0].pushed), ("succeeded", 7));
    assert_eq!(runs[0].adapter_type, "mock-sync-server");
}
