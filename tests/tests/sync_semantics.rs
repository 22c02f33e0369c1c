//! The sync invariants of DESIGN.md §4, each against a defect of the original product.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, FormSubmission};
use datacollect_sync_e2e::*;
use dcsync_emulators::Fault;
use serde_json::json;

#[tokio::test]
async fn late_event_with_old_device_timestamp_is_pushed_next_sync() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let applier = EventApplier::new();
    store
        .append_local(&local_events("now", 3), &applier)
        .unwrap();
    let m = manager(&store, mock_config(&server, &[])).await;
    m.synchronize(None).await.unwrap();

    // Recorded offline a year ago, uploaded after the last push.
    let mut late = local_events("late", 1);
    late[0].timestamp = "2024-01-01T00:00:00Z".into();
    store.append_local(&late, &applier).unwrap();
    let report = m.synchronize(None).await.unwrap();
    assert_eq!(
        report.pushed, 1,
        "the original's timestamp cursor never pushes this event"
    );
    assert!(server
        .received()
        .0
        .iter()
        .any(|e| e["guid"] == "late-event-0"));
}

#[tokio::test]
async fn rejected_records_are_quarantined_and_the_rest_delivered() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("p", 5), &EventApplier::new())
        .unwrap();
    server.inject(vec![Fault {
        reject_guids: vec!["p-event-2".into()],
        ..Default::default()
    }]);
    let m = manager(&store, mock_config(&server, &[])).await;

    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.pushed, report.quarantined), (4, 1));
    let q = store.quarantine(None).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].event_guid.as_str(), q[0].phase.as_str()),
        ("p-event-2", "push")
    );
    assert!(q[0].reason.contains("rejected by mock server"));
    assert_eq!(
        store.pending_count(&m.config().id).unwrap(),
        0,
        "the rest counts as delivered"
    );

    // Retried from quarantine, it goes out with the next sync, once.
    assert_eq!(
        store
            .retry_quarantined(&[q[0].id], &EventApplier::new())
            .unwrap(),
        1
    );
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 1);
    assert_eq!(server.received().0.len(), 5);
    assert!(store.quarantine(None).unwrap().is_empty());
}

#[tokio::test]
async fn transient_503_is_retried_honouring_retry_after() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("t", 3), &EventApplier::new())
        .unwrap();
    server.inject(vec![Fault {
        status: Some(503),
        retry_after: Some(1),
        times: Some(2),
        ..Default::default()
    }]);
    let m = manager(&store, mock_config(&server, &[("retryAttempts", "3")])).await;
    let started = std::time::Instant::now();
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.pushed, report.retries), (3, 2));
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "waited Retry-After (1 s) twice"
    );
    assert_eq!(server.received().0.len(), 3);
}

#[tokio::test]
async fn transient_failures_beyond_retry_attempts_fail_the_run_and_lose_nothing() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("x", 2), &EventApplier::new())
        .unwrap();
    server.inject(vec![Fault {
        status: Some(500),
        times: Some(2),
        ..Default::default()
    }]);
    let m = manager(&store, mock_config(&server, &[("retryAttempts", "1")])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "transient");
    assert_eq!(
        store.pending_count(&m.config().id).unwrap(),
        2,
        "cursor did not move"
    );
    let run = &store.runs(None, 1).unwrap()[0];
    assert_eq!(
        (run.status.as_str(), run.error_class.map(|c| c.as_str())),
        ("failed", Some("transient"))
    );
    // The rerun delivers everything, once.
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 2);
    assert_eq!(server.received().0.len(), 2);
}

#[tokio::test]
async fn unauthorized_stops_without_retrying() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("u", 2), &EventApplier::new())
        .unwrap();
    server.inject(vec![Fault {
        status: Some(401),
        times: Some(5),
        ..Default::default()
    }]);
    let m = manager(&store, mock_config(&server, &[("retryAttempts", "3")])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert_eq!(server.pending_faults(), 4, "exactly one request was made");
}

#[tokio::test]
async fn records_sent_again_by_the_external_system_apply_nothing() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let records = vec![
        json!({ "entityGuid": "ext-1", "data": { "name": "A" } }),
        json!({ "entityGuid": "ext-2", "data": { "name": "B" } }),
    ];
    server.seed(records.clone());
    let m = manager(&store, mock_config(&server, &[])).await;
    assert_eq!(m.synchronize(None).await.unwrap().applied, 2);
    server.seed(records); // the same records again, after the cursor
    let again = m.synchronize(None).await.unwrap();
    assert_eq!((again.pulled, again.applied, again.duplicates), (2, 0, 2));
    assert_eq!(
        store.event_count().unwrap(),
        2,
        "the original stores a duplicate per re-pull"
    );
}

#[tokio::test]
async fn pulled_event_of_unknown_type_is_quarantined_not_dropped() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    server.seed(vec![
        json!({ "entityGuid": "ext-9", "type": "teleport-household", "data": {} }),
        json!({ "entityGuid": "ext-10", "data": { "name": "ok" } }),
    ]);
    let m = manager(&store, mock_config(&server, &[])).await;
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.applied, report.quarantined), (1, 1));
    let q = store.quarantine(None).unwrap();
    assert_eq!(q[0].phase.as_str(), "apply");
    assert!(
        q[0].reason
            .contains("unknown event type \"teleport-household\""),
        "{}",
        q[0].reason
    );
}

#[tokio::test]
async fn older_external_update_does_not_overwrite_newer_local_change() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let local = FormSubmission {
        guid: "local-1".into(),
        entity_guid: "person-1".into(),
        event_type: "create-individual".into(),
        data: json!({ "name": "Local name" }),
        timestamp: "2025-06-01T00:00:00Z".into(),
        user_id: "field".into(),
        sync_level: SyncLevel::Local,
    };
    store.append_local(&[local], &EventApplier::new()).unwrap();
    server.seed(vec![
        json!({ "entityGuid": "person-1", "type": "update-individual", "timestamp": "2025-01-01T00:00:00Z", "data": { "name": "Old external" } }),
    ]);
    let m = manager(&store, mock_config(&server, &[])).await;
    m.synchronize(None).await.unwrap();
    assert_eq!(
        store
            .entity("person-1")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("Local name")
    );

    server.seed(vec![
        json!({ "entityGuid": "person-1", "type": "update-individual", "timestamp": "2025-09-01T00:00:00Z", "data": { "name": "New external" } }),
    ]);
    m.synchronize(None).await.unwrap();
    assert_eq!(
        store
            .entity("person-1")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("New external")
    );
}

#[tokio::test]
async fn second_sync_of_a_config_fails_while_one_runs() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let m = manager(&store, mock_config(&server, &[])).await;
    let _held = store.lock_config(&m.config().id, false).unwrap();
    let err = m.synchronize(None).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("sync already running for mock-sync-server@"),
        "{err}"
    );
    drop(_held);
    m.synchronize(None).await.unwrap();
}

#[tokio::test]
async fn custom_event_types_use_the_registered_applier() {
    use datacollect_sync::applier::{ApplyOutcomeError, CustomApplier, EntityTx};
    use datacollect_sync::model::AuditEntry;

    struct HouseholdVisit;
    impl CustomApplier for HouseholdVisit {
        fn apply(
            &self,
            tx: &mut dyn EntityTx,
            e: &FormSubmission,
        ) -> Result<(), ApplyOutcomeError> {
            tx.audit(&AuditEntry {
                timestamp: e.timestamp.clone(),
                user_id: e.user_id.clone(),
                action: "household-visit".into(),
                event_guid: e.guid.clone(),
                entity_guid: e.entity_guid.clone(),
                changes: e.data.clone(),
            })?;
            Ok(())
        }
    }
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    server.seed(vec![
        json!({ "entityGuid": "hh-1", "type": "household-visit", "data": { "outcome": "met" } }),
    ]);
    let mut applier = EventApplier::new();
    applier
        .register("household-visit", std::sync::Arc::new(HouseholdVisit))
        .unwrap();
    let mut m = datacollect_sync::ExternalSyncManager::new(
        store.clone(),
        std::sync::Arc::new(applier),
        mock_config(&server, &[]),
    )
    .with_registry(registry());
    m.initialize().await.unwrap();
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.applied, report.quarantined), (1, 0));
    let audit = store.audit_log("hh-1").unwrap();
    assert_eq!(audit[0].action, "household-visit");
    assert_eq!(audit[0].changes["outcome"], "met");
}

/// Local events `prefix-0..n`, each carrying `pad` bytes of data.
fn padded_events(prefix: &str, sizes: &[usize]) -> Vec<FormSubmission> {
    let mut events = local_events(prefix, sizes.len());
    for (e, size) in events.iter_mut().zip(sizes) {
        e.data = json!({ "name": "P", "pad": "p".repeat(*size) });
    }
    events
}

async fn push_with(
    limits: datacollect_sync::limits::Limits,
    events: Vec<FormSubmission>,
) -> (
    datacollect_sync::SyncReport,
    Vec<datacollect_sync::store::QuarantineEntry>,
    usize,
) {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store.append_local(&events, &EventApplier::new()).unwrap();
    let mut m = datacollect_sync::ExternalSyncManager::new(
        store.clone(),
        std::sync::Arc::new(EventApplier::new()),
        mock_config(&server, &[]),
    )
    .with_registry(mock_registry(limits).await);
    m.initialize().await.unwrap();
    let report = m.synchronize(None).await.expect("the queue moves on");
    assert_eq!(store.pending_count(&m.config().id).unwrap(), 0);
    let run = &store.runs(None, 1).unwrap()[0];
    assert_eq!(
        run.breaches, report.breaches,
        "the run's history lists them"
    );
    (
        report,
        store.quarantine(None).unwrap(),
        server.received().0.len(),
    )
}

#[tokio::test]
async fn a_batch_over_the_adapters_memory_splits_and_only_the_huge_event_is_quarantined() {
    let limits = datacollect_sync::limits::Limits {
        memory_bytes: 24 << 20,
        ..Default::default()
    };
    let (report, q, received) =
        push_with(limits, padded_events("mem", &[10, 10, 10, 6 << 20, 10, 10])).await;
    assert_eq!(
        (report.pushed, report.quarantined, received),
        (5, 1, 5),
        "{report:?}"
    );
    assert_eq!(q[0].event_guid, "mem-event-3");
    assert!(
        q[0].reason
            .contains("too large for the adapter's memory limit"),
        "{q:?}"
    );
    assert!(report.push_batches > 1, "split: {report:?}");
    // Every split, and the lone event that still did not fit, is a breach of the run
    // (which succeeded): at least the full batch, a half, and the event alone.
    assert!(report.breaches.len() >= 3, "{:?}", report.breaches);
    assert!(
        report
            .breaches
            .iter()
            .all(|b| b == "push-encoded: the memory limit"),
        "{:?}",
        report.breaches
    );
}

#[tokio::test]
async fn a_batch_over_the_request_cap_splits_until_it_fits() {
    let limits = datacollect_sync::limits::Limits {
        max_request_bytes: 1 << 20,
        ..Default::default()
    };
    let (report, q, received) = push_with(
        limits,
        padded_events(
            "req",
            &[
                300 << 10,
                300 << 10,
                300 << 10,
                300 << 10,
                300 << 10,
                1536 << 10,
            ],
        ),
    )
    .await;
    assert_eq!(
        (report.pushed, report.quarantined, received),
        (5, 1, 5),
        "{report:?}"
    );
    assert_eq!(q[0].event_guid, "req-event-5");
    assert!(q[0].reason.contains("over the request size cap"), "{q:?}");
    assert!(report.breaches.len() >= 3, "{:?}", report.breaches);
    assert!(
        report
            .breaches
            .iter()
            .all(|b| b == "push-encoded: a request over the 1048576 byte size cap"),
        "{:?}",
        report.breaches
    );
}

/// The run's waits and time budget follow an injected clock: two Retry-Afters of two
/// minutes pass at once on a manual clock and are accounted for in full; a server that
/// keeps asking for five minutes is waited on until the next wait would pass the run's
/// budget (an hour, on that clock), and that one is not taken.
#[tokio::test]
async fn the_runs_waits_and_budget_follow_an_injected_clock() {
    use datacollect_sync::clock::ManualClock;
    use std::time::Duration;
    let server = mock_server().await;
    server.inject(vec![Fault {
        status: Some(503),
        retry_after: Some(120),
        times: Some(2),
        ..Fault::default()
    }]);
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("clk", 2), &EventApplier::new())
        .unwrap();
    let clock = std::sync::Arc::new(ManualClock::new());
    let m = manager(&store, mock_config(&server, &[]))
        .await
        .with_clock(clock.clone());
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.pushed, report.retries), (2, 2));
    assert_eq!(clock.waited(), Duration::from_secs(240));
    assert!(report.duration_ms >= 240_000, "{}", report.duration_ms);
    server.inject(vec![Fault {
        status: Some(503),
        retry_after: Some(300),
        times: Some(100),
        ..Fault::default()
    }]);
    store
        .append_local(&local_events("clk2", 1), &EventApplier::new())
        .unwrap();
    let patient = manager(&store, mock_config(&server, &[("retryAttempts", "50")]))
        .await
        .with_clock(clock.clone());
    let e = patient.synchronize(None).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("would run past the run's time limit"),
        "{e}"
    );
    // 11 waits of 5 minutes fit in the hour; the 12th would end exactly at its end.
    assert_eq!(clock.waited(), Duration::from_secs(240 + 11 * 300));
}
