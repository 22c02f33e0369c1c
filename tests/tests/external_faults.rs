//! Faults from the outside, injected into the mock server: each run ends in the right
//! state, and a rerun leaves the external side with every event exactly once.

use datacollect_sync::{EventApplier, ExternalSyncManager};
use datacollect_sync_e2e::*;
use dcsync_emulators::{Fault, MockSyncServer};
use std::collections::HashSet;

/// The guids the server holds, asserting none twice.
fn delivered_once(server: &MockSyncServer) -> usize {
    let (events, _, duplicates) = server.received();
    let guids: HashSet<_> = events
        .iter()
        .map(|e| e["guid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        guids.len(),
        events.len(),
        "the server stored an event twice"
    );
    assert_eq!(duplicates, 0, "an event was delivered twice");
    guids.len()
}

type Outcome = Result<datacollect_sync::SyncReport, datacollect_sync::SyncError>;

/// 25 local events, one fault queued, one sync; the store lives as long as the TempDir.
async fn scenario(
    fault: Fault,
    extra: &[(&str, &str)],
) -> (
    MockSyncServer,
    ExternalSyncManager,
    Outcome,
    tempfile::TempDir,
) {
    let server = mock_server().await;
    let (store, dir) = temp_store();
    store
        .append_local(&local_events("f", 25), &EventApplier::new())
        .unwrap();
    server.inject(vec![fault]);
    let mut fields = vec![("batchSize", "10")];
    fields.extend_from_slice(extra);
    let m = manager(&store, mock_config(&server, &fields)).await;
    let result = m.synchronize(None).await;
    (server, m, result, dir)
}

#[tokio::test]
async fn server_error_500_is_retried_and_delivered_once() {
    let (server, _, r, _dir) = scenario(
        Fault {
            status: Some(500),
            times: Some(2),
            ..Default::default()
        },
        &[],
    )
    .await;
    let r = r.unwrap();
    assert_eq!((r.pushed, r.retries), (25, 2));
    assert_eq!(delivered_once(&server), 25);
}

#[tokio::test]
async fn rate_limit_429_is_retried_with_backoff() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("f", 25), &EventApplier::new())
        .unwrap();
    server.inject(vec![Fault {
        status: Some(429),
        times: Some(3),
        ..Default::default()
    }]);
    let m = manager(
        &store,
        mock_config(&server, &[("batchSize", "10"), ("retryAttempts", "3")]),
    )
    .await;
    let started = std::time::Instant::now();
    let r = m.synchronize(None).await.unwrap();
    assert_eq!(r.retries, 3);
    assert_eq!(delivered_once(&server), 25);
    // Three backoffs wait at least ¾ of 0.5 + 1 + 2 s: retries without a wait would
    // hammer a server that just said it is overloaded. (A lower bound: slowness cannot
    // fail it; a sync of 25 events without waits takes a small fraction of this.)
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(2625),
        "the retries waited their backoff"
    );
}

#[tokio::test]
async fn slow_answer_past_the_timeout_is_retried() {
    let fault = Fault {
        delay_ms: Some(1500),
        ..Default::default()
    };
    let (server, _, r, _dir) = scenario(fault, &[("timeout", "300")]).await;
    let r = r.unwrap();
    assert_eq!(r.retries, 1, "the slow request timed out once");
    // The slow request may still have been stored by the server: the resend is then a
    // duplicate the server recognises by guid; nothing is lost.
    let (events, _, _) = server.received();
    let guids: HashSet<_> = events
        .iter()
        .map(|e| e["guid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(guids.len(), 25);
}

#[tokio::test]
async fn dropped_connection_is_retried() {
    let (server, _, r, _dir) = scenario(
        Fault {
            drop: true,
            ..Default::default()
        },
        &[],
    )
    .await;
    assert_eq!(r.unwrap().retries, 1);
    assert_eq!(delivered_once(&server), 25);
}

#[tokio::test]
async fn a_malformed_answer_is_retried_and_delivered_once() {
    let (server, _m, r, _dir) = scenario(
        Fault {
            malformed: true,
            ..Default::default()
        },
        &[("retryAttempts", "2")],
    )
    .await;
    let report = r.unwrap();
    assert_eq!((report.pushed, report.retries), (25, 1));
    assert_eq!(delivered_once(&server), 25);
}

#[tokio::test]
async fn answers_that_stay_malformed_fail_the_run_as_protocol_and_the_rerun_completes() {
    let (server, m, r, _dir) = scenario(
        Fault {
            malformed: true,
            times: Some(3),
            ..Default::default()
        },
        &[("retryAttempts", "2")],
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.class().as_str(), "protocol", "{e}");
    assert!(e.to_string().contains("malformed after 3 attempts"), "{e}");
    assert!(e.to_string().contains("not the expected JSON"), "{e}");
    let rerun = m.synchronize(None).await.unwrap();
    assert_eq!(
        rerun.pushed, 25,
        "nothing was confirmed on a malformed answer"
    );
    assert_eq!(delivered_once(&server), 25);
}

#[tokio::test]
async fn partial_acceptance_quarantines_only_the_refused() {
    let fault = Fault {
        reject_guids: vec!["f-event-3".into(), "f-event-4".into()],
        ..Default::default()
    };
    let (server, m, r, _dir) = scenario(fault, &[]).await;
    let r = r.unwrap();
    assert_eq!((r.pushed, r.quarantined), (23, 2));
    assert_eq!(delivered_once(&server), 23);
    assert_eq!(
        m.synchronize(None).await.unwrap().pushed,
        0,
        "refused events wait in quarantine"
    );
}
