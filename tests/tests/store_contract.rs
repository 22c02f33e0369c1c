//! The `EventStore` contract, one body per rule, run against SQLite and against PostgreSQL
//! (a real server: see `datacollect_sync_e2e::postgres`): whatever the store, the engine
//! above it sees the same behaviour.
//! Over 400 lines: the contract is one list of rules, kept together so both stores run the
//! same bodies.

use datacollect_sync::applier::{ApplyOutcomeError, CustomApplier, EntityTx};
use datacollect_sync::model::{AuditEntry, SyncLevel};
use datacollect_sync::outcome::{QuarantinePhase, RunStatus};
use datacollect_sync::store::{PulledPage, RefusedRecord, Rejection, RunRecord, StoreError};
use datacollect_sync::{EventApplier, EventStore, FormSubmission, SqliteStore};
use datacollect_sync_e2e::{local_events, postgres};
use serde_json::json;
use std::sync::Arc;

/// A store under test, a way to open it again (another handle, as another process would),
/// and what keeps its file or database alive.
struct Opened {
    store: Arc<dyn EventStore>,
    again: Box<dyn Fn() -> Arc<dyn EventStore>>,
    _keep: Box<dyn std::any::Any>,
}

fn sqlite() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    Opened {
        store,
        again: Box::new(move || Arc::new(SqliteStore::open(&path).unwrap())),
        _keep: Box::new(dir),
    }
}

fn pg() -> Opened {
    let db = postgres::cluster().database();
    let store = Arc::new(db.store("tenant_a"));
    let location = db.location("tenant_a", "");
    Opened {
        store,
        again: Box::new(move || {
            Arc::new(datacollect_sync::store::PostgresStore::open(&location).unwrap())
        }),
        _keep: Box::new(db),
    }
}

/// Each test body, once per store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $name() { super::$name(super::sqlite()) } )* }
        mod postgresql { $( #[test] fn $name() { super::$name(super::pg()) } )* }
    };
}

on_both_stores!(
    pending_events_come_in_order_and_confirm_moves_the_cursor_past_the_batch,
    events_pulled_from_a_config_are_never_pending_for_it,
    rejected_events_are_quarantined_and_come_back_after_retry,
    a_rejection_outside_the_batch_changes_nothing,
    re_pulled_records_apply_nothing_and_the_pull_cursor_moves,
    refused_records_are_quarantined_once_while_open,
    a_re_import_is_a_duplicate_and_other_content_a_conflict,
    an_event_that_cannot_be_applied_is_quarantined_then_applied_by_retry,
    runs_are_recorded_and_a_dead_run_is_abandoned,
    holds_and_secret_names_are_kept,
    pulled_events_change_only_entities_linked_to_their_config,
    the_lock_is_single_flight_across_handles,
    entities_and_their_audit_log_read_back,
    a_pulled_record_known_by_its_external_id_changes_that_entity,
    a_pushed_groups_members_are_linked_to_the_config,
    the_batch_after_one_not_yet_confirmed_is_read_ahead,
    malformed_members_link_nothing_and_fail_nothing,
);

const CFG: &str = "cfg-1";

fn pulled(prefix: &str, n: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| FormSubmission {
            guid: format!("{prefix}-pulled-{i}"),
            entity_guid: format!("{prefix}-ext-{i}"),
            event_type: "upsert-external-entity".into(),
            data: json!({ "entityType": "individual", "name": format!("External {i}") }),
            timestamp: "2025-02-01T00:00:00Z".into(),
            user_id: "external".into(),
            sync_level: SyncLevel::External,
        })
        .collect()
}

fn page(events: Vec<FormSubmission>, cursor: &str) -> PulledPage {
    PulledPage {
        events,
        refused: vec![],
        next_cursor: Some(cursor.into()),
    }
}

fn guids(p: &[datacollect_sync::store::PendingEvent]) -> Vec<String> {
    p.iter().map(|e| e.event.guid.clone()).collect()
}

fn pending_events_come_in_order_and_confirm_moves_the_cursor_past_the_batch(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let events = local_events("order", 5);
    assert_eq!(s.append_local(&events, &a).unwrap().outcome.applied, 5);
    let first = s.pending_events(CFG, 3).unwrap();
    assert_eq!(
        guids(&first),
        ["order-event-0", "order-event-1", "order-event-2"]
    );
    assert!(first.windows(2).all(|w| w[0].seq < w[1].seq));
    let batch: Vec<i64> = first.iter().map(|p| p.seq).collect();
    s.confirm_push(CFG, &batch, &[]).unwrap();
    assert_eq!(s.cursors(CFG).unwrap().push, batch[2]);
    assert_eq!(s.pending_count(CFG).unwrap(), 2);
    let rest = s.pending_events(CFG, 10).unwrap();
    assert_eq!(guids(&rest), ["order-event-3", "order-event-4"]);
    s.confirm_push(CFG, &rest.iter().map(|p| p.seq).collect::<Vec<_>>(), &[])
        .unwrap();
    assert_eq!(s.pending_count(CFG).unwrap(), 0);
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
    // Another config has its own cursor: everything is still pending for it.
    assert_eq!(s.pending_count("cfg-2").unwrap(), 5);
}

fn events_pulled_from_a_config_are_never_pending_for_it(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let out = s
        .apply_pulled(CFG, &page(pulled("echo", 2), "2"), &a)
        .unwrap();
    assert_eq!(out.applied, 2);
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
    assert_eq!(s.pending_count(CFG).unwrap(), 0);
    // Another config gets them.
    assert_eq!(
        guids(&s.pending_events("cfg-2", 10).unwrap()),
        ["echo-pulled-0", "echo-pulled-1"]
    );
}

fn rejected_events_are_quarantined_and_come_back_after_retry(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    s.append_local(&local_events("rej", 3), &a).unwrap();
    let batch: Vec<i64> = s
        .pending_events(CFG, 10)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    let rejection = Rejection {
        guid: "rej-event-1".into(),
        reason: "missing field".into(),
    };
    s.confirm_push(CFG, &batch, std::slice::from_ref(&rejection))
        .unwrap();
    let q = s.quarantine(Some(CFG)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (
            q[0].phase,
            q[0].event_guid.as_str(),
            q[0].event_type.as_deref()
        ),
        (
            QuarantinePhase::Push,
            "rej-event-1",
            Some("create-individual")
        )
    );
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
    assert_eq!(s.retry_quarantined(&[q[0].id], &a).unwrap(), 1);
    let again = s.pending_events(CFG, 10).unwrap();
    assert_eq!(guids(&again), ["rej-event-1"]);
    s.confirm_push(CFG, &[again[0].seq], &[]).unwrap();
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
    assert!(s.quarantine(Some(CFG)).unwrap().is_empty());
}

/// The push reads batch n+1 while batch n is on the wire (issue 19): `pending_after`
/// gives the same batches `pending_events` would once the earlier ones are confirmed —
/// re-queued events first, never events pulled from the config.
fn the_batch_after_one_not_yet_confirmed_is_read_ahead(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    s.append_local(&local_events("ahead", 3), &a).unwrap();
    let seqs = |p: &[datacollect_sync::store::PendingEvent]| -> Vec<i64> {
        p.iter().map(|e| e.seq).collect()
    };
    // Event 1 rejected, then re-queued: it comes before what follows the cursor.
    let all = seqs(&s.pending_events(CFG, 10).unwrap());
    let refused = Rejection {
        guid: "ahead-event-1".into(),
        reason: "no".into(),
    };
    s.confirm_push(CFG, &all, &[refused]).unwrap();
    let q = s.quarantine(Some(CFG)).unwrap();
    assert_eq!(s.retry_quarantined(&[q[0].id], &a).unwrap(), 1);
    s.append_local(&local_events("later", 4), &a).unwrap();
    s.apply_pulled(CFG, &page(pulled("from-cfg", 2), "1"), &a)
        .unwrap();
    s.append_local(&local_events("last", 1), &a).unwrap();

    let first = s.pending_events(CFG, 2).unwrap();
    assert_eq!(guids(&first), ["ahead-event-1", "later-event-0"]);
    assert_eq!(
        guids(&s.pending_after(CFG, i64::MIN, 2).unwrap()),
        guids(&first),
        "from the start, the same as pending_events"
    );
    // Read ahead, nothing confirmed yet.
    let second = s.pending_after(CFG, first[1].seq, 2).unwrap();
    assert_eq!(guids(&second), ["later-event-1", "later-event-2"]);
    // After the re-queued event alone: the rest of the queue, then the fresh events.
    assert_eq!(
        guids(&s.pending_after(CFG, first[0].seq, 2).unwrap()),
        ["later-event-0", "later-event-1"]
    );
    // The events pulled from the config are skipped.
    let third = s.pending_after(CFG, second[1].seq, 10).unwrap();
    assert_eq!(guids(&third), ["later-event-3", "last-event-0"]);
    // A store without its own `pending_after` gets the same batches from the default.
    for after in [i64::MIN, first[0].seq, first[1].seq, second[1].seq] {
        let by_reading =
            datacollect_sync::store::pending_after_by_reading(&**s, CFG, after, 2).unwrap();
        assert_eq!(
            guids(&by_reading),
            guids(&s.pending_after(CFG, after, 2).unwrap()),
            "after {after}"
        );
    }
    // Confirming in order afterwards leaves nothing, as if read one by one.
    for batch in [&first, &second, &third] {
        s.confirm_push(CFG, &seqs(batch), &[]).unwrap();
    }
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
    assert!(s.pending_after(CFG, i64::MIN, 10).unwrap().is_empty());
}

/// Linking a delivered batch reads each event's `members` in place (one statement for the
/// batch): `members` that is not an array, members that are not objects and guids that are
/// not strings must not fail the confirmation.
fn malformed_members_link_nothing_and_fail_nothing(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let note = |guid: &str, data: serde_json::Value| FormSubmission {
        guid: guid.into(),
        entity_guid: format!("{guid}-entity"),
        event_type: "note-taken".into(),
        data,
        timestamp: "2025-01-01T00:00:00Z".into(),
        user_id: "tester".into(),
        sync_level: SyncLevel::Local,
    };
    let odd = [
        note("n1", json!({ "members": "m-text" })),
        note("n2", json!({ "members": { "guid": "m-object" } })),
        note(
            "n3",
            json!({ "members": ["m-bare", 7, null, { "guid": 5 }, { "guid": "m-ok" }] }),
        ),
        note("n4", json!({ "members": [] })),
    ];
    s.append_local(&odd, &a).unwrap();
    let batch: Vec<i64> = s
        .pending_events(CFG, 10)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(batch.len(), 4, "every note is pending");
    s.confirm_push(CFG, &batch, &[]).unwrap();
    assert!(s.pending_events(CFG, 10).unwrap().is_empty());
}

fn a_rejection_outside_the_batch_changes_nothing(o: Opened) {
    let s = &o.store;
    s.append_local(&local_events("out", 2), &EventApplier::new())
        .unwrap();
    let first = s.pending_events(CFG, 1).unwrap();
    let err = s
        .confirm_push(
            CFG,
            &[first[0].seq],
            &[Rejection {
                guid: "out-event-1".into(),
                reason: "x".into(),
            }],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(s.cursors(CFG).unwrap().push, 0);
    assert!(s.quarantine(None).unwrap().is_empty());
    assert_eq!(s.pending_count(CFG).unwrap(), 2);
}

fn re_pulled_records_apply_nothing_and_the_pull_cursor_moves(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    assert_eq!(
        s.apply_pulled(CFG, &page(pulled("re", 2), "1"), &a)
            .unwrap()
            .applied,
        2
    );
    let again = s
        .apply_pulled(CFG, &page(pulled("re", 2), "2"), &a)
        .unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 2));
    assert_eq!(s.cursors(CFG).unwrap().pull.as_deref(), Some("2"));
    assert_eq!(s.event_count().unwrap(), 2);
    assert_eq!(s.audit_log("re-ext-0").unwrap().len(), 1);
    // A page without a cursor leaves the cursor where it was.
    let mut none = page(vec![], "");
    none.next_cursor = None;
    s.apply_pulled(CFG, &none, &a).unwrap();
    assert_eq!(s.cursors(CFG).unwrap().pull.as_deref(), Some("2"));
}

fn refused_records_are_quarantined_once_while_open(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let mut p = page(vec![], "1");
    p.refused.push(RefusedRecord {
        guid: "bad-1".into(),
        reason: "timestamp in the far future".into(),
        record: "{\"id\": 1}".into(),
    });
    assert_eq!(s.apply_pulled(CFG, &p, &a).unwrap().quarantined, 1);
    assert_eq!(s.apply_pulled(CFG, &p, &a).unwrap().quarantined, 0);
    let q = s.quarantine(Some(CFG)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].phase, QuarantinePhase::Pull);
    assert_eq!(q[0].event_type, None, "never stored: no type to show");
    let err = s.retry_quarantined(&[q[0].id], &a).unwrap_err();
    assert!(err.to_string().contains("external system"), "{err}");
}

fn a_re_import_is_a_duplicate_and_other_content_a_conflict(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let e = local_events("dup", 1);
    s.append_local(&e, &a).unwrap();
    let again = s.append_local(&e, &a).unwrap();
    assert_eq!((again.outcome.applied, again.outcome.duplicates), (0, 1));
    let mut other = e.clone();
    other[0].data = json!({ "name": "Someone else" });
    let c = s.append_local(&other, &a).unwrap();
    assert_eq!(c.conflicts, ["dup-event-0"]);
    assert_eq!(
        s.entity("dup-person-0")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("Person 0")
    );
    assert_eq!(s.event_count().unwrap(), 1);
}

struct Tag;
impl CustomApplier for Tag {
    fn apply(&self, tx: &mut dyn EntityTx, e: &FormSubmission) -> Result<(), ApplyOutcomeError> {
        tx.audit(&AuditEntry {
            timestamp: e.timestamp.clone(),
            user_id: e.user_id.clone(),
            action: "tagged".into(),
            event_guid: e.guid.clone(),
            entity_guid: e.entity_guid.clone(),
            changes: e.data.clone(),
        })?;
        Ok(())
    }
}

fn an_event_that_cannot_be_applied_is_quarantined_then_applied_by_retry(o: Opened) {
    let s = &o.store;
    let mut e = local_events("custom", 1);
    e[0].event_type = "tag-household".into();
    let out = s.append_local(&e, &EventApplier::new()).unwrap();
    assert_eq!((out.outcome.applied, out.outcome.quarantined), (0, 1));
    assert_eq!(s.event_count().unwrap(), 1, "stored, though not applied");
    let q = s.quarantine(None).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].phase, QuarantinePhase::Apply);
    assert!(
        q[0].reason.contains("unknown event type"),
        "{}",
        q[0].reason
    );
    let mut with_tag = EventApplier::new();
    with_tag.register("tag-household", Arc::new(Tag)).unwrap();
    assert_eq!(s.retry_quarantined(&[q[0].id], &with_tag).unwrap(), 1);
    assert!(s.quarantine(None).unwrap().is_empty());
    assert_eq!(s.audit_log("custom-person-0").unwrap()[0].action, "tagged");
}

fn runs_are_recorded_and_a_dead_run_is_abandoned(o: Opened) {
    let s = &o.store;
    let lease = s.lock_config(CFG, false).unwrap();
    let dead = s.begin_run(CFG, "mock-sync-server", "1.0.0").unwrap();
    drop(lease); // its worker died without finishing it
    let _lease = s.lock_config(CFG, false).unwrap();
    let id = s.begin_run(CFG, "mock-sync-server", "1.0.0").unwrap();
    assert_ne!(id, dead);
    assert_eq!(s.run(dead).unwrap().unwrap().status, RunStatus::Abandoned);
    let mut r: RunRecord = s.run(id).unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Running);
    r.status = RunStatus::Succeeded;
    r.pushed = 3;
    r.remote_refs = vec!["wo-1".into()];
    r.denials = vec!["http://10.0.0.1/: not a public address".into()];
    r.breaches = vec!["push-batch: the memory limit".into()];
    r.duration_ms = Some(12);
    s.finish_run(&r).unwrap();
    let runs = s.runs(Some(CFG), 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, id);
    assert_eq!((runs[0].status, runs[0].pushed), (RunStatus::Succeeded, 3));
    assert_eq!(runs[0].remote_refs, ["wo-1"]);
    assert_eq!(runs[0].denials, r.denials);
    assert_eq!(runs[0].breaches, r.breaches);
    assert!(runs[0].finished_at.is_some());
    assert!(s.runs(Some("other"), 10).unwrap().is_empty());
}

fn holds_and_secret_names_are_kept(o: Opened) {
    let s = &o.store;
    assert_eq!(s.hold(CFG).unwrap(), None);
    s.hold_config(CFG, "an answer held a secret").unwrap();
    assert_eq!(s.hold(CFG).unwrap().unwrap().1, "an answer held a secret");
    assert!(s.release_config(CFG).unwrap());
    assert!(!s.release_config(CFG).unwrap());
    assert_eq!(s.hold(CFG).unwrap(), None);
    s.remember_secret_names(CFG, &["apiKey".into()]).unwrap();
    let mut all = s.remember_secret_names(CFG, &["token".into()]).unwrap();
    all.sort();
    assert_eq!(all, ["apiKey", "token"]);
    assert_eq!(s.remember_secret_names(CFG, &[]).unwrap().len(), 2);
    assert!(s.remember_secret_names("other", &[]).unwrap().is_empty());
}

fn pulled_update(guid: &str, entity: &str, event_type: &str) -> FormSubmission {
    FormSubmission {
        guid: guid.into(),
        entity_guid: entity.into(),
        event_type: event_type.into(),
        data: json!({ "name": "Renamed outside" }),
        timestamp: "2030-01-01T00:00:00Z".into(),
        user_id: "external".into(),
        sync_level: SyncLevel::External,
    }
}

fn pulled_events_change_only_entities_linked_to_their_config(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    s.append_local(&local_events("link", 1), &a).unwrap();
    let p = "link-person-0";
    let before = page(vec![pulled_update("u1", p, "update-individual")], "1");
    assert_eq!(s.apply_pulled(CFG, &before, &a).unwrap().quarantined, 1);
    assert_eq!(
        s.entity(p).unwrap().unwrap().modified.name.as_deref(),
        Some("Person 0")
    );
    // Delivered to the config: its pulls may update the entity now, not delete it.
    let batch: Vec<i64> = s
        .pending_events(CFG, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    s.confirm_push(CFG, &batch, &[]).unwrap();
    let after = page(vec![pulled_update("u2", p, "update-individual")], "2");
    assert_eq!(s.apply_pulled(CFG, &after, &a).unwrap().applied, 1);
    assert_eq!(
        s.entity(p).unwrap().unwrap().modified.name.as_deref(),
        Some("Renamed outside")
    );
    let delete = page(vec![pulled_update("d1", p, "delete-entity")], "3");
    assert_eq!(s.apply_pulled(CFG, &delete, &a).unwrap().quarantined, 1);
    assert!(s.entity(p).unwrap().is_some());
    // What a config's pulls created, they may delete.
    s.apply_pulled(CFG, &page(pulled("own", 1), "4"), &a)
        .unwrap();
    let own_delete = page(vec![pulled_update("d2", "own-ext-0", "delete-entity")], "5");
    assert_eq!(s.apply_pulled(CFG, &own_delete, &a).unwrap().applied, 1);
    assert!(s.entity("own-ext-0").unwrap().is_none());
}

fn with_external_id(guid: &str, entity: &str, external: &str, name: &str) -> FormSubmission {
    FormSubmission {
        data: json!({ "entityType": "individual", "name": name, "externalId": external }),
        ..pulled_update(guid, entity, "upsert-external-entity")
    }
}

/// DataCollect's own adapters gave pulled records fresh guids and matched them by
/// `externalId`: a record known here under another guid changes that entity, whether it
/// was stored by an earlier page or earlier in the same page, and only for its own config.
fn a_pulled_record_known_by_its_external_id_changes_that_entity(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let first = page(vec![with_external_id("x1", "ext-a", "R-1", "A")], "1");
    assert_eq!(s.apply_pulled(CFG, &first, &a).unwrap().applied, 1);
    let again = page(vec![with_external_id("x2", "fresh-b", "R-1", "A2")], "2");
    assert_eq!(s.apply_pulled(CFG, &again, &a).unwrap().applied, 1);
    assert_eq!(s.entity("fresh-b").unwrap(), None);
    let a_now = s.entity("ext-a").unwrap().unwrap();
    assert_eq!(a_now.modified.name.as_deref(), Some("A2"));
    // Within one page: the second record finds the entity the first one created.
    let same_page = page(
        vec![
            with_external_id("y1", "ext-c", "R-2", "C"),
            with_external_id("y2", "fresh-d", "R-2", "C2"),
        ],
        "3",
    );
    assert_eq!(s.apply_pulled(CFG, &same_page, &a).unwrap().applied, 2);
    assert_eq!(s.entity("fresh-d").unwrap(), None);
    let c_now = s.entity("ext-c").unwrap().unwrap();
    assert_eq!(c_now.modified.name.as_deref(), Some("C2"));
    // Another config's record with the same external id is not this entity.
    let other = page(vec![with_external_id("z1", "fresh-e", "R-1", "E")], "1");
    assert_eq!(s.apply_pulled("cfg-2", &other, &a).unwrap().applied, 1);
    assert!(s.entity("fresh-e").unwrap().is_some());
    let a_still = s.entity("ext-a").unwrap().unwrap();
    assert_eq!(a_still.modified.name.as_deref(), Some("A2"));
}

/// Delivering a household delivers its members: the config's pulls may then update them,
/// and only what was delivered (a member of a rejected group stays unlinked).
fn a_pushed_groups_members_are_linked_to_the_config(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let group = |guid: &str, members: &[&str]| FormSubmission {
        guid: guid.into(),
        entity_guid: format!("{guid}-household"),
        event_type: "create-group".into(),
        data: json!({ "name": "Household",
                      "members": members.iter().map(|m| json!({"guid": m, "name": m})).collect::<Vec<_>>() }),
        timestamp: "2025-01-01T00:00:00Z".into(),
        user_id: "tester".into(),
        sync_level: SyncLevel::Local,
    };
    s.append_local(&[group("g1", &["m1", "m2"]), group("g2", &["m3"])], &a)
        .unwrap();
    let batch: Vec<i64> = s
        .pending_events(CFG, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let refused = Rejection {
        guid: "g2".into(),
        reason: "no".into(),
    };
    s.confirm_push(CFG, &batch, &[refused]).unwrap();
    let update = page(
        vec![
            pulled_update("u-m2", "m2", "update-individual"),
            pulled_update("u-m3", "m3", "update-individual"),
        ],
        "1",
    );
    let out = s.apply_pulled(CFG, &update, &a).unwrap();
    assert_eq!((out.applied, out.quarantined), (1, 1));
    let m2 = s.entity("m2").unwrap().unwrap();
    assert_eq!(m2.modified.name.as_deref(), Some("Renamed outside"));
    assert_eq!(
        s.entity("m3").unwrap().unwrap().modified.name.as_deref(),
        Some("m3")
    );
}

fn the_lock_is_single_flight_across_handles(o: Opened) {
    let other = (o.again)();
    let lease = o.store.lock_config(CFG, false).unwrap();
    let err = other.lock_config(CFG, false).err().expect("held elsewhere");
    assert!(matches!(err, StoreError::AlreadyRunning(_)), "{err}");
    // Another config is free.
    drop(other.lock_config("cfg-2", false).unwrap());
    drop(lease);
    let _second = other.lock_config(CFG, false).unwrap();
}

fn entities_and_their_audit_log_read_back(o: Opened) {
    let s = &o.store;
    let a = EventApplier::new();
    let mut update = local_events("read", 1);
    s.append_local(&update, &a).unwrap();
    update[0].guid = "read-event-update".into();
    update[0].event_type = "update-individual".into();
    update[0].data = json!({ "age": 41 });
    update[0].timestamp = "2025-01-02T00:00:00Z".into();
    s.append_local(&update, &a).unwrap();
    let e = s.entity("read-person-0").unwrap().unwrap();
    assert_eq!(e.modified.name.as_deref(), Some("Person 0"));
    assert_eq!(e.modified.data["age"], 41);
    assert_eq!(e.modified.version, 2);
    assert!(e.has_local_changes());
    let log = s.audit_log("read-person-0").unwrap();
    let actions: Vec<&str> = log.iter().map(|l| l.action.as_str()).collect();
    assert_eq!(actions, ["create-individual", "update-individual"]);
    assert_eq!(log[1].event_guid, "read-event-update");
    assert_eq!(s.entity("nobody").unwrap(), None);
}
