//! One behaviour suite run over three builds of the same generic webhook adapter: the
//! Rust `custom-adapter` (the template adapter authors copy), `js-webhook` (JavaScript,
//! componentize-js) and `python-webhook` (Python, componentize-py), against one webhook
//! emulator. Each test is generated once per build.

use datacollect_sync::{Credentials, EventApplier, ExternalSyncConfig};
use datacollect_sync_e2e::*;
use dcsync_emulators::webhook::WebhookEmulator;
use dcsync_emulators::Fault;
use serde_json::json;

async fn emulator() -> WebhookEmulator {
    WebhookEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        "sync_user",
        "s3cret-PASS-77",
        Some(("X-Tenant", "district-9")),
    )
    .await
    .unwrap()
}

fn config(ty: &str, e: &WebhookEmulator, password: &str) -> ExternalSyncConfig {
    ExternalSyncConfig::from_value(&json!({ "type": ty, "auth": "basic", "url": e.url(), "extraFields": [
        { "name": "username", "value": "sync_user" }, { "name": "password", "value": password },
        { "name": "header.X-Tenant", "value": "district-9" }, { "name": "batchSize", "value": "4" } ] }))
    .unwrap()
}

async fn push_and_pull_with_basic_auth_and_custom_headers(ty: &str) {
    let e = emulator().await;
    e.seed(
        (0..6)
            .map(|i| {
                json!({ "entityGuid": format!("w-{i}"), "type": "upsert-external-entity",
        "data": { "name": format!("W{i}") }, "timestamp": "2025-03-01T00:00:00Z" })
            })
            .collect(),
    );
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("c", 10), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(ty, &e, "s3cret-PASS-77")).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!(
        (r.pushed, r.push_batches, r.pulled, r.applied),
        (10, 3, 6, 6)
    );
    assert_eq!(e.received().len(), 10);
    assert!(store.entity("w-5").unwrap().is_some());

    let again = m.synchronize(None).await.unwrap();
    assert_eq!((again.pushed, again.pulled, again.applied), (0, 0, 0));
    e.seed(vec![json!({ "entityGuid": "w-0", "type": "upsert-external-entity", "data": { "name": "W0" }, "timestamp": "2025-03-01T00:00:00Z" })]);
    let resent = m.synchronize(None).await.unwrap();
    assert_eq!(
        (resent.pulled, resent.applied, resent.duplicates),
        (1, 0, 1),
        "a record sent again applies nothing"
    );
}

async fn wrong_password_is_unauthorized_and_sync_credentials_take_precedence(ty: &str) {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("u", 1), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(ty, &e, "wrong-password")).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert_eq!(e.state.lock().unwrap().requests, 1, "not retried");
    let r = m
        .synchronize(Some(Credentials::new("sync_user", "s3cret-PASS-77")))
        .await
        .unwrap();
    assert_eq!(r.pushed, 1);
}

async fn rate_limit_and_server_errors_are_retried(ty: &str) {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("r", 4), &EventApplier::new())
        .unwrap();
    e.inject(vec![
        Fault {
            status: Some(429),
            ..Default::default()
        },
        Fault {
            status: Some(503),
            retry_after: Some(1),
            ..Default::default()
        },
    ]);
    let m = manager(&store, config(ty, &e, "s3cret-PASS-77")).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (4, 2));
    assert_eq!(e.received().len(), 4);
}

async fn refused_events_are_quarantined(ty: &str) {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    let mut events = local_events("q", 5);
    events[1].data = json!({ "invalid": true });
    store.append_local(&events, &EventApplier::new()).unwrap();
    let m = manager(&store, config(ty, &e, "s3cret-PASS-77")).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (4, 1));
    assert_eq!(store.quarantine(None).unwrap()[0].event_guid, "q-event-1");
}

/// Each behaviour, once per build.
macro_rules! for_each_build {
    ($($behaviour:ident),* $(,)?) => {
        mod rust { $(#[tokio::test] async fn $behaviour() { super::$behaviour("custom-adapter").await })* }
        mod javascript { $(#[tokio::test] async fn $behaviour() { super::$behaviour("js-webhook").await })* }
        mod python { $(#[tokio::test] async fn $behaviour() { super::$behaviour("python-webhook").await })* }
    };
}

for_each_build!(
    push_and_pull_with_basic_auth_and_custom_headers,
    wrong_password_is_unauthorized_and_sync_credentials_take_precedence,
    rate_limit_and_server_errors_are_retried,
    refused_events_are_quarantined,
    batches_go_over_as_one_encoded_text,
);

/// Contract 1.2: each build declares `encoded-push`, so the host hands every batch over
/// as one JSON text and the adapter sends it on unchanged. The receiver gets the events
/// exactly as stored, in order, with the batch id the SDKs' `batch_id` gives.
async fn batches_go_over_as_one_encoded_text(ty: &str) {
    use datacollect_sync::adapter::Capability;
    use sha2::{Digest, Sha256};
    let e = emulator().await;
    let (store, _dir) = temp_store();
    let mut events = local_events("enc", 6);
    events[2].data = json!({ "name": "Zoë \"Z\" <b>", "age": 41, "tags": ["a", null, 1.5] });
    store.append_local(&events, &EventApplier::new()).unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let adapters = registry();
    let loaded = adapters.get(ty).unwrap();
    assert!(
        loaded.info.has(&Capability::EncodedPush),
        "{:?}",
        loaded.info
    );
    let mut m = datacollect_sync::ExternalSyncManager::new(
        store.clone(),
        std::sync::Arc::new(EventApplier::new()),
        config(ty, &e, "s3cret-PASS-77"),
    )
    .with_registry(adapters)
    .on_call(std::sync::Arc::new(
        move |c: &datacollect_sync::manager::CallRecord| seen.lock().unwrap().push(c.function),
    ));
    m.initialize().await.unwrap();
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.push_batches), (6, 2));
    let pushes: Vec<&str> = calls
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|f| f.starts_with("push"))
        .collect();
    assert_eq!(pushes, ["push-encoded", "push-encoded"]);
    let want: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(e.received(), want, "every event as stored, in order");
    let batch_id = |part: &[datacollect_sync::model::FormSubmission]| {
        let mut h = Sha256::new();
        for e in part {
            h.update(e.guid.as_bytes());
            h.update(b"\n");
        }
        hex::encode(&h.finalize()[..16])
    };
    assert_eq!(
        e.state.lock().unwrap().batch_ids,
        [batch_id(&events[..4]), batch_id(&events[4..])]
    );
}
