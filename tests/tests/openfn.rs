//! The openfn-adapter component against the OpenFn Lightning emulator, which answers as
//! Lightning's source does (see `runtime/emulators/src/openfn/`).
//!
//! Over 400 lines: the adapter against the Lightning emulator, one test per behaviour of
//! the real source it follows (webhook answers, Collections paging, cursors).

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, ExternalSyncConfig, FormSubmission};
use datacollect_sync_e2e::*;
use dcsync_emulators::openfn::{
    LimiterAnswer, OpenFnEmulator, OpenFnSetup, WebhookReply, DEFAULT_PROJECT,
};
use dcsync_emulators::Fault;
use serde_json::{json, Value};
use std::time::Duration;

const API_KEY: &str = "sk_test_KEY123456";
const TOKEN: &str = "tok_COLLECTIONS_987";

async fn emulator() -> OpenFnEmulator {
    let setup = OpenFnSetup {
        webhook_id: "abc123".into(),
        api_key: Some(API_KEY.into()),
        collections_token: TOKEN.into(),
        ..Default::default()
    };
    let e = OpenFnEmulator::start("127.0.0.1:0".parse().unwrap(), setup)
        .await
        .unwrap();
    e.create_collection(DEFAULT_PROJECT, "registrations");
    e
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

// --- Push -------------------------------------------------------------------------------

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
        assert_eq!(o.state, "pending");
    }
    let run = &store.runs(None, 1).unwrap()[0];
    assert_eq!(run.remote_refs.len(), 3);
    assert!(run.remote_refs[0].contains(&format!("work_order_id={}", orders[0].id)));
    assert!(
        run.remote_refs[0].contains(&format!("run_id={}", orders[0].run_id.as_deref().unwrap()))
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
        err.to_string().contains("404 (Webhook not found)")
            && err
                .to_string()
                .contains("check the webhook URL, the apiKey"),
        "{err}"
    );
    assert_eq!(e.webhook_requests(), 1, "not retried");

    // `auth: api-key` without a key: refused before any request, naming the field.
    let missing = manager(&store, config(&e, &[("apiKey", "")])).await;
    let err = missing.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config", "{err}");
    assert!(err.to_string().contains("extraFields.apiKey"), "{err}");
    assert_eq!(e.webhook_requests(), 1, "nothing sent");
    // No auth method in the config, but the trigger has one: Lightning's 401.
    let mut no_auth = config(&e, &[("apiKey", "")]);
    no_auth.auth = None;
    no_auth.id = "no-auth".into();
    let err = manager(&store, no_auth)
        .await
        .synchronize(None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("401") && err.to_string().contains("none were sent"),
        "{err}"
    );

    let bad_token = manager(&store, config(&e, &[("collectionsToken", "tok_wrong_111")])).await;
    let err = bad_token.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(err.to_string().contains("collectionsToken"), "{err}");
}

#[tokio::test]
async fn a_disabled_trigger_is_a_config_error_not_a_credentials_one() {
    let e = emulator().await;
    e.set_disabled(true);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("d", 2), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config", "{err}");
    assert!(
        err.to_string().contains("403") && err.to_string().contains("enable the trigger"),
        "{err}"
    );
    assert_eq!(e.webhook_requests(), 1, "not retried");
    assert_eq!(store.pending_count(&m.config().id).unwrap(), 2);
}

#[tokio::test]
async fn a_work_order_that_started_no_run_is_not_a_delivery() {
    let e = emulator().await;
    e.limit(vec![LimiterAnswer::TooManyRuns]);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("t", 3), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 1));
    let orders = e.work_orders();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        (orders[0].state, orders[0].run_id.is_none()),
        ("rejected", true),
        "the 200 stored a work order and started no run"
    );
    assert_eq!(orders[1].state, "pending");
    assert_eq!(e.entities().len(), 3, "delivered once to a run");
}

#[tokio::test]
async fn rate_limits_and_database_trouble_are_retried_honouring_retry_after() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("r", 3), &EventApplier::new())
        .unwrap();
    e.limit(vec![
        LimiterAnswer::TooManyRequests,
        LimiterAnswer::RunsHardLimit,
        LimiterAnswer::DatabaseUnavailable { retry_after: 5 },
    ]);
    let m = manager(&store, config(&e, &[("retryAttempts", "3")])).await;
    let started = std::time::Instant::now();
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 3));
    // Backoff alone waits at most 0.625 + 1.25 + 2.5 s over three retries, under the 5 s
    // the 503 asked for: only honouring Retry-After waits this long. (A lower bound: a
    // slow machine cannot make it fail.)
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the 503's retry-after was waited for"
    );
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
async fn a_422_from_lightning_is_about_the_workflow_and_quarantines_nothing() {
    // Lightning's 422s come from creating the work order (no snapshot…), never from the
    // payload: the adapter does not split batches to find a culprit.
    let e = emulator().await;
    e.limit(vec![LimiterAnswer::InvalidRequest]);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("v", 8), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config", "{err}");
    assert!(err.to_string().contains("invalid_request"), "{err}");
    assert!(store.quarantine(None).unwrap().is_empty());
    assert_eq!(e.webhook_requests(), 1);
    assert_eq!(store.pending_count(&m.config().id).unwrap(), 8);
}

#[tokio::test]
async fn a_trigger_that_answers_after_its_run_records_the_runs_state() {
    let e = emulator().await;
    e.set_reply(WebhookReply::AfterCompletion {
        run_time: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        succeeds: false,
    });
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("w", 2), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!(r.pushed, 2, "the work order exists: delivered");
    let run = &store.runs(None, 1).unwrap()[0];
    assert!(run.remote_refs[0].contains("state=failed"), "{run:?}");
}

#[tokio::test]
async fn a_sync_trigger_timeout_is_delivered_unconfirmed_and_never_resent() {
    let e = emulator().await;
    e.set_reply(WebhookReply::AfterCompletion {
        run_time: Duration::from_secs(30),
        timeout: Duration::from_millis(300),
        succeeds: true,
    });
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("x", 2), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (2, 0));
    assert_eq!(e.work_orders().len(), 1, "one work order, not re-sent");
    let run = &store.runs(None, 1).unwrap()[0];
    assert!(run.remote_refs[0].contains("unconfirmed"), "{run:?}");
    assert_eq!(store.pending_count(&m.config().id).unwrap(), 0);
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
    assert_eq!(e.webhook_requests(), 2);

    // An instance with a lower limit (MAX_DATACLIP_SIZE_MB=5): the 413 splits the batch,
    // and all arrive.
    let e2 = OpenFnEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        OpenFnSetup {
            webhook_id: "abc123".into(),
            api_key: Some(API_KEY.into()),
            collections_token: TOKEN.into(),
            max_dataclip_bytes: Some(5_000_000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    e2.create_collection(DEFAULT_PROJECT, "registrations");
    let (store2, _dir2) = temp_store();
    store2
        .append_local(&big_events(8, 1 << 20), &EventApplier::new())
        .unwrap();
    let m2 = manager(&store2, config(&e2, &[])).await;
    let r = m2.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (8, 0));
    assert_eq!(e2.webhook_requests(), 3, "one 413, then two halves");
    assert_eq!(e2.entities().len(), 8);
}

#[tokio::test]
async fn parts_delivered_before_a_failure_are_not_sent_again_in_the_run() {
    // 3 × 4 MB: two requests under the 9 MB bound. The second is refused once by the
    // database; the host retries the batch, and only the second part goes out again.
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&big_events(3, 4 << 20), &EventApplier::new())
        .unwrap();
    let m = manager(&store, config(&e, &[])).await;
    // The first request passes; the second meets a 503.
    e.inject(vec![
        Fault::default(),
        Fault {
            status: Some(503),
            ..Default::default()
        },
    ]);
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 1));
    assert_eq!(
        e.work_orders().len(),
        2,
        "one work order per part: the delivered part was not re-sent"
    );
    assert_eq!(e.entities().len(), 3);
}

// --- Pull from Collections ----------------------------------------------------------------

#[tokio::test]
async fn collection_items_are_pulled_with_their_updates_and_guids_stable_per_version() {
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

    // Items near the pass's start may be read again: same key and version, same guid.
    let again = m.synchronize(None).await.unwrap();
    assert_eq!(again.applied, 0, "nothing new: {again:?}");
    assert_eq!(again.duplicates, again.pulled);

    // An update keeps the item's place (its id) in Lightning's order: only
    // `updated_after` finds it.
    e.put_item(
        "registrations",
        "reg-1",
        &json!({"name": "R1 renamed"}).to_string(),
    );
    e.put_item("registrations", "reg-5", &json!({"name": "R5"}).to_string());
    let later = m.synchronize(None).await.unwrap();
    assert_eq!(later.applied, 2, "the update and the new item: {later:?}");
    assert_eq!(
        store
            .entity("openfn:registrations:reg-1")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("R1 renamed")
    );

    // Another config pulling the same collection from the start: same key and version,
    // same guid, so nothing is applied twice. The entities were created by the first
    // config's pulls (and passing those events on to the second config's push makes
    // nothing its own): nothing is applied, nothing new is quarantined for versions
    // already stored.
    let mut second = config(&e, &[]);
    second.id = "another-openfn-config".into();
    let other = manager(&store, second).await;
    let replay = other.synchronize(None).await.unwrap();
    assert_eq!(
        (replay.pulled, replay.duplicates, replay.applied),
        (6, 6, 0)
    );
}

#[tokio::test]
async fn an_update_behind_the_page_cursor_during_a_pass_is_pulled_by_the_next() {
    let e = emulator().await;
    for i in 0..5 {
        e.put_item(
            "registrations",
            &format!("reg-{i}"),
            &json!({"name": format!("R{i}")}).to_string(),
        );
    }
    // Pages of 2: between page 1 and 2, reg-0 (already read) changes; between page 2 and
    // 3, reg-4 (not yet read) changes after it, so the pass's newest `updated` is later
    // than reg-0's change.
    e.write_before_request(
        2,
        "registrations",
        "reg-0",
        &json!({"name": "R0 v2"}).to_string(),
    );
    e.write_before_request(
        3,
        "registrations",
        "reg-4",
        &json!({"name": "R4 v2"}).to_string(),
    );
    let (store, _dir) = temp_store();
    let m = manager(&store, config(&e, &[("batchSize", "2")])).await;
    m.synchronize(None).await.unwrap();
    let name = |k: &str| {
        store
            .entity(&format!("openfn:registrations:{k}"))
            .unwrap()
            .unwrap()
            .modified
            .name
    };
    assert_eq!(name("reg-4").as_deref(), Some("R4 v2"));
    assert_eq!(
        name("reg-0").as_deref(),
        Some("R0"),
        "changed behind the cursor"
    );
    m.synchronize(None).await.unwrap();
    assert_eq!(name("reg-0").as_deref(), Some("R0 v2"), "not lost");
}

#[tokio::test]
async fn a_collection_name_in_two_projects_needs_the_project_id() {
    let e = emulator().await;
    let other_project = "9d2c8f1e-1111-4222-8333-444455556666";
    e.put_item(
        "registrations",
        "mine",
        &json!({"name": "Mine"}).to_string(),
    );
    e.put_item_in(
        other_project,
        "registrations",
        "theirs",
        &json!({"name": "Theirs"}).to_string(),
    );
    let (store, _dir) = temp_store();
    let m = manager(&store, config(&e, &[])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config");
    assert!(err.to_string().contains("set the projectId"), "{err}");

    for version in ["1", "2"] {
        let (store, _dir) = temp_store();
        let mut c = config(
            &e,
            &[
                ("projectId", other_project),
                ("collectionsApiVersion", version),
            ],
        );
        c.id = format!("by-project-v{version}");
        let m = manager(&store, c).await;
        let r = m.synchronize(None).await.unwrap();
        assert_eq!(r.applied, 1, "v{version}");
        assert!(store
            .entity("openfn:registrations:theirs")
            .unwrap()
            .is_some());
    }
}

#[tokio::test]
async fn a_missing_collection_is_a_config_error_naming_it() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    let m = manager(&store, config(&e, &[("collectionName", "no-such-thing")])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config");
    assert!(err.to_string().contains("no-such-thing"), "{err}");
}
