//! An endpoint built for the original DataCollect `mock-sync-server` adapter works
//! unchanged with ours: pushes get a bare `ok`, and a pull is one `GET ?since=` answered
//! with a bare array of `{id, timestamp, …}` records.

use datacollect_sync::EventApplier;
use datacollect_sync_e2e::*;
use dcsync_emulators::MockSyncServer;
use serde_json::json;

#[tokio::test]
async fn an_endpoint_built_for_the_original_adapter_works_unchanged() {
    let server = MockSyncServer::start_original("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    server.seed(vec![
        json!({"entityGuid": "hh-1", "timestamp": "2025-03-01T10:00:00.000Z", "data": {"name": "Household 1", "size": 4}}),
        json!({"entityGuid": "hh-2", "timestamp": "2025-03-02T10:00:00.000Z", "data": {"name": "Household 2"}}),
    ]);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("orig", 3), &EventApplier::new())
        .unwrap();
    let m = manager(&store, mock_config(&server, &[])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.pulled, r.applied), (3, 2, 2), "{r:?}");
    assert_eq!(
        server.received().0.len(),
        3,
        "a bare `ok` delivered the batch"
    );
    let hh = store
        .entity("hh-1")
        .unwrap()
        .expect("entity = the record's id");
    assert_eq!(hh.modified.name.as_deref(), Some("Household 1"));
    assert_eq!(hh.modified.data["size"], 4);
    assert_eq!(
        store.cursors(&m.config().id).unwrap().pull.as_deref(),
        Some("2025-03-02T10:00:00.000Z"),
        "the cursor is the newest timestamp"
    );

    // The next pull sends that timestamp as `since`: only newer records come.
    server.seed(vec![
        json!({"entityGuid": "hh-1", "timestamp": "2025-03-03T09:00:00.000Z", "data": {"name": "Household 1 moved"}}),
    ]);
    let again = m.synchronize(None).await.unwrap();
    assert_eq!((again.pulled, again.applied), (1, 1), "{again:?}");
    assert_eq!(
        store
            .entity("hh-1")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("Household 1 moved")
    );
    // Pulling the same records again (a server that ignores `since`) applies nothing.
    let third = m.synchronize(None).await.unwrap();
    assert_eq!((third.pulled, third.applied), (0, 0));
}
