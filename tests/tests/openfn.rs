//! The openfn-adapter component against the OpenFn emulator.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, ExternalSyncConfig, FormSubmission};
use datacollect_sync_e2e::*;
use dcsync_emulators::openfn::{OpenFnEmulator, OpenFnSetup};
use dcsync_emulators::Fault;
use serde_json::{json, Value};

const API_KEY: &str = "sk_test_KEY123456";
const TOKEN: &str = "tok_COLLECTIONS_987";

async fn emulator() -> OpenFnEmulator {
    let setup = OpenFnSetup {
        webhook_id: "abc123".into(),
        api_key: Some(API_KEY.into()),
        basic: None,
        collections_token: TOKEN.into(),
    };
    OpenFnEmulator::start("127.0.0.1:0".parse().unwrap(), setup)
        .await
        .unwrap()
}

fn config(e: &OpenFnEmulator, extra: &[(&str, &str)]) -> ExternalSyncConfig {
    let mut fields: Vec<Value> = vec![
        json!({"name": "apiKey", "value": API_KEY}),
        json!({"name": "collectionName", "value": "registrations"}),
        json!({"name": "collectionsToken", "value": TOKEN}),
    ];
    for (n, v) in extra {
        fields.retain(|f| f["name"] != *n);
        if !v.is_empty() {
            fields.push(json!({"name": n, "value": v}));
        }
    }
    ExternalSyncConfig::from_value(&json!({"externalSync": {"type": "openfn-adapter", "auth": "api-key", "url": e.webhook_url(), "extraFields": fields}})).unwrap()
}

#[tokio::test]
async fn push_sends_entities_with_a_batch_id_and_records_the_work_orders() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("o", 30), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[("batchSize", "10")])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!(r.pushed, 30);
    let orders = e.work_orders();
    assert_eq!(orders.len(), 3);
    for o in &orders {
        assert_eq!(o.body["entities"].as_array().unwrap().len(), 10);
        assert!(o.body["batchId"].is_string());
        assert_eq!(o.batch_id.as_deref(), o.body["batchId"].as_str());
    }
    let run = &store.runs(None, 1).unwrap()[0];
    assert_eq!(run.remote_refs.len(), 3);
    assert!(run.remote_refs[0].contains(&format!("work_order_id={}", orders[0].id)));
    assert!(run.remote_refs[0].contains(&format!("run_id={}", orders[0].run_id)));
}

#[tokio::test]
async fn collection_items_are_pulled_once_with_guids_stable_per_key_and_version() {
    let e = emulator().await;
    for i in 0..5 {
        e.put_item(
            "registrations",
            &format!("reg-{i}"),
            &json!({"name": format!("R{i}"), "externalId": format!("OF-{i}")}).to_string(),
        );
    }
    let (store, _dir) = temp_store();
    let m = manager(&store, config(&e, &[("batchSize", "2")])).await;
    let first = m.synchronize(None).await.unwrap();
    assert_eq!((first.pulled, first.applied, first.pull_pages), (5, 5, 3));
    let entity = store
        .entity("openfn:registrations:reg-3")
        .unwrap()
        .expect("item applied as an entity");
    assert_eq!(entity.modified.name.as_deref(), Some("R3"));
    assert_eq!(entity.modified.external_id.as_deref(), Some("OF-3"));

    let again = m.synchronize(None).await.unwrap();
    assert_eq!(
        (again.pulled, again.applied),
        (0, 0),
        "nothing new after the cursor"
    );

    e.put_item(
        "registrations",
        "reg-1",
        &json!({"name": "R1 renamed"}).to_string(),
    );
    e.put_item("registrations", "reg-5", &json!({"name": "R5"}).to_string());
    let later = m.synchronize(None).await.unwrap();
    assert_eq!(
        (later.pulled, later.applied),
        (1, 1),
        "only the new item: an updated one stays before the cursor"
    );

    // Another config pulling the same collection from the start: same key and version,
    // same guid, so nothing is applied twice. reg-1's new version is new, but the entity
    // was created by the first config's pulls (and passing those events on to the second
    // config's push makes nothing its own): it is quarantined, not applied.
    let mut second = config(&e, &[]);
    second.id = "another-openfn-config".into();
    let other = manager(&store, second).await;
    let replay = other.synchronize(None).await.unwrap();
    assert_eq!(
        (
            replay.pulled,
            replay.duplicates,
            replay.applied,
            replay.quarantined
        ),
        (6, 5, 0, 1)
    );
    let q = store.quarantine(Some("another-openfn-config")).unwrap();
    assert!(
        q[0].reason
            .contains("is not linked to config another-openfn-config"),
        "{q:?}"
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_stop_the_run_with_advice() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("a", 2), &EventApplier::new())
        .unwrap();
    let wrong = manager(&store, config(&e, &[("apiKey", "sk_wrong_000000")])).await;
    let err = wrong.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(
        err.to_string().contains("404")
            && err
                .to_string()
                .contains("check the webhook URL, the apiKey"),
        "{err}"
    );
    assert_eq!(e.state.lock().unwrap().webhook_requests, 1, "not retried");

    let missing = manager(&store, config(&e, &[("apiKey", "")])).await;
    let err = missing.synchronize(None).await.unwrap_err();
    assert!(
        err.to_string().contains("401") && err.to_string().contains("credentials missing"),
        "{err}"
    );

    let bad_token = manager(&store, config(&e, &[("collectionsToken", "tok_wrong_111")])).await;
    let err = bad_token.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(err.to_string().contains("collectionsToken"), "{err}");
}

#[tokio::test]
async fn rate_limit_and_unavailable_are_retried_honouring_retry_after() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("r", 3), &EventApplier::new())
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
    let m = manager(&store, config(&e, &[])).await;
    let started = std::time::Instant::now();
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 2));
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(e.entities().len(), 3);
}

#[tokio::test]
async fn server_error_is_retried() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("s", 2), &EventApplier::new())
        .unwrap();
    e.inject(vec![Fault {
        status: Some(500),
        ..Default::default()
    }]);
    let m = manager(&store, config(&e, &[])).await;
    assert_eq!(m.synchronize(None).await.unwrap().retries, 1);
    assert_eq!(e.entities().len(), 2);
}

#[tokio::test]
async fn refused_entities_are_isolated_and_quarantined() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    let mut events = local_events("v", 8);
    events[2].data = json!({"name": "bad", "invalid": true});
    events[6].data = json!({"name": "bad too", "invalid": true});
    store.append_local(&events, &EventApplier::new()).unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (6, 2));
    let q: Vec<String> = store
        .quarantine(None)
        .unwrap()
        .into_iter()
        .map(|q| q.event_guid)
        .collect();
    assert_eq!(q, ["v-event-2", "v-event-6"]);
    assert!(store.quarantine(None).unwrap()[0].reason.contains("422"));
    assert_eq!(e.entities().len(), 6);
}

fn big_events(n: usize, bytes: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| FormSubmission {
            guid: format!("big-{i}"),
            entity_guid: format!("big-person-{i}"),
            event_type: "create-individual".into(),
            data: json!({"name": "x", "photo": "p".repeat(bytes)}),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: "u".into(),
            sync_level: SyncLevel::Local,
        })
        .collect()
}

#[tokio::test]
async fn batches_are_bounded_in_bytes_and_413_splits_them() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&big_events(12, 1 << 20), &EventApplier::new())
        .unwrap();
    // Default byte bound (9 MB): 12 × 1 MB goes out in two requests, no 413.
    let m = manager(&store, config(&e, &[])).await;
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 12);
    assert_eq!(e.state.lock().unwrap().webhook_requests, 2);

    // With the bound raised past OpenFn's limit, the 413 splits the batch and all arrive.
    let e2 = emulator().await;
    let (store2, _dir2) = temp_store();
    store2
        .append_local(&big_events(12, 1 << 20), &EventApplier::new())
        .unwrap();
    let m2 = manager(&store2, config(&e2, &[("maxBatchBytes", "50000000")])).await;
    let r = m2.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (12, 0));
    assert_eq!(
        e2.state.lock().unwrap().webhook_requests,
        3,
        "one 413, then two halves"
    );
    assert_eq!(e2.entities().len(), 12);
}
