//! The PostgreSQL store on a DataCollect deployment's database, beside the Node server:
//! the push position on a table without order, the server's own statements, adoption of a
//! tenant the original already synced, tenants that share one `events` table, and leases
//! that fence a worker that lost its turn. A real server (see
//! `datacollect_sync_e2e::postgres`); the Node side speaks its own SQL verbatim
//! (`datacollect_sync_e2e::node_server`). Over 400 lines: one binary, so one throwaway
//! server, for every scenario of the store on its own.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::store::{PgLocation, PostgresStore, PulledPage, StoreError};
use datacollect_sync::{EventApplier, EventStore, FormSubmission};
use datacollect_sync_e2e::node_server as node;
use datacollect_sync_e2e::postgres::cluster;
use serde_json::json;
use std::time::{Duration, Instant};

const CFG: &str = "cfg-1";

fn event(guid: &str, entity: &str, timestamp: &str) -> FormSubmission {
    FormSubmission {
        guid: guid.into(),
        entity_guid: entity.into(),
        event_type: "create-individual".into(),
        data: json!({ "name": format!("Person {entity}") }),
        timestamp: timestamp.into(),
        user_id: "u1".into(),
        sync_level: SyncLevel::Local,
    }
}

fn push_all(store: &dyn EventStore, config: &str) -> Vec<String> {
    let mut pushed = Vec::new();
    loop {
        let batch = store.pending_events(config, 2).unwrap();
        if batch.is_empty() {
            return pushed;
        }
        pushed.extend(batch.iter().map(|p| p.event.guid.clone()));
        let seqs: Vec<i64> = batch.iter().map(|p| p.seq).collect();
        store.confirm_push(config, &seqs, &[]).unwrap();
    }
}

fn xid_of(c: &mut postgres::Client, guid: &str) -> String {
    c.query_one(
        "SELECT dcsync_xid::text FROM events WHERE guid = $1",
        &[&guid],
    )
    .unwrap()
    .get(0)
}

#[test]
fn a_lower_number_committed_later_is_still_pushed_once() {
    let db = cluster().database();
    let store = db.store("t");
    node::save_event(
        &mut db.client(),
        "t",
        &event("c", "pc", "2025-01-01T00:00:00Z"),
    );
    assert_eq!(push_all(&store, CFG), ["c"]);

    // A takes its number (its transaction id) first, B the next; B commits while A is
    // still in flight, and a push runs in between.
    let (mut early, mut late) = (db.client(), db.client());
    let mut a = early.transaction().unwrap();
    node::save_event(&mut a, "t", &event("a", "pa", "2025-01-02T00:00:00Z"));
    let mut b = late.transaction().unwrap();
    node::save_event(&mut b, "t", &event("b", "pb", "2025-01-03T00:00:00Z"));
    b.commit().unwrap();
    let while_a_is_open = push_all(&store, CFG);
    assert!(
        while_a_is_open.is_empty(),
        "B is pushed only once nothing numbered before it can still commit: {while_a_is_open:?}"
    );
    a.commit().unwrap();

    let mut c = db.client();
    let (xa, xb): (String, String) = (xid_of(&mut c, "a"), xid_of(&mut c, "b"));
    let lower: bool = c
        .query_one("SELECT $1::text::xid8 < $2::text::xid8", &[&xa, &xb])
        .unwrap()
        .get(0);
    assert!(
        lower,
        "A holds the lower number ({xa} vs {xb}) and committed later"
    );
    assert_eq!(
        push_all(&store, CFG),
        ["a", "b"],
        "the lower number is not skipped"
    );
    assert!(
        push_all(&store, CFG).is_empty(),
        "and nothing is pushed twice"
    );
}

#[test]
fn the_servers_own_statements_keep_working_beside_dcsync() {
    let db = cluster().database();
    let store = db.store("t");
    let mut c = db.client();
    let mut from_node = event("n1", "p1", "2025-03-01T10:00:00.123Z");
    from_node.sync_level = SyncLevel::Remote;
    node::save_event(&mut c, "t", &from_node);
    let doc = json!({"id": "p1", "guid": "p1", "type": "individual", "name": "From Node",
        "version": 1, "data": {"name": "From Node"}, "lastUpdated": "2025-03-01T10:00:01.000Z"});
    node::save_entity(&mut c, "t", &doc, &doc);
    node::save_audit(
        &mut c,
        "t",
        "a1",
        "create-individual",
        "p1",
        "n1",
        &json!({"name": "From Node"}),
        "u1",
        "2025-03-01T10:00:01.000Z",
    );
    node::save_potential_duplicate(&mut c, "t", "p1", "p2");
    node::save_merkle_root(&mut c, "t", "abc");
    node::set_last_push(&mut c, "t", "2020-01-01T00:00:00.000Z");

    // The server reads back its own rows as before.
    assert_eq!(
        node::get_events(&mut c, "t"),
        [
            json!({"guid": "n1", "entityGuid": "p1", "type": "create-individual",
            "data": {"name": "Person p1"}, "timestamp": "2025-03-01T10:00:00.123Z",
            "userId": "u1", "syncLevel": 1})
        ]
    );
    // dcsync pushes what the server stored, as the server would send it.
    let pending = store.pending_events(CFG, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event, from_node);
    // dcsync reads the server's entity, and writes it back in the server's shape.
    assert_eq!(
        store
            .entity("p1")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("From Node")
    );
    let mut update = event("n2", "p1", "2025-03-02T00:00:00Z");
    update.event_type = "update-individual".into();
    update.data = json!({"age": 30});
    assert_eq!(
        store
            .append_local(&[update], &EventApplier::new())
            .unwrap()
            .outcome
            .applied,
        1
    );
    let (_, modified) = node::get_entity(&mut c, "t", "p1").unwrap();
    assert_eq!(modified["id"], "p1");
    assert_eq!(modified["version"], 2);
    assert_eq!(modified["data"], json!({"name": "From Node", "age": 30}));
    let trail = node::audit_trail(&mut c, "t", "p1");
    assert_eq!(trail.len(), 2);
    assert!(trail
        .iter()
        .all(|(_, _, _, signature)| signature.is_empty()));
    // A row with the NULLs another program may leave reads as defaults.
    c.execute(
        "INSERT INTO events (guid, tenant_id, entity_guid, type, data, timestamp) VALUES ('n3', 't', 'p3', 'create-individual', '{}', now())",
        &[],
    )
    .unwrap();
    let more = store.pending_events(CFG, 10).unwrap();
    let n3 = more.iter().find(|p| p.event.guid == "n3").unwrap();
    assert_eq!(
        (n3.event.user_id.as_str(), n3.event.sync_level),
        ("", SyncLevel::Local)
    );
}

#[test]
fn the_node_view_is_what_the_original_server_writes() {
    // The same events, stored by dcsync in one database and by the server's own INSERT in
    // another: the `events` rows are equal, column for column.
    let (ours, theirs) = (cluster().database(), cluster().database());
    let store = ours.store("t");
    drop(theirs.store("t")); // the same tables
    let ev =
        |guid: &str, entity: &str, ty: &str, data: serde_json::Value, t: &str| FormSubmission {
            guid: guid.into(),
            entity_guid: entity.into(),
            event_type: ty.into(),
            data,
            timestamp: t.into(),
            user_id: "u1".into(),
            sync_level: SyncLevel::Local,
        };
    let events = [
        ev(
            "e1",
            "P1",
            "create-individual",
            json!({"name": "Ana", "externalId": "ext-1", "age": 30}),
            "2025-01-01T10:00:00Z",
        ),
        ev(
            "e2",
            "P1",
            "update-individual",
            json!({"age": 31}),
            "2025-01-02T10:00:00.250+02:00",
        ),
        ev(
            "e3",
            "G1",
            "create-group",
            json!({"name": "Household", "members": [{"guid": "M1", "name": "Ben"}]}),
            "2025-01-03T10:00:00Z",
        ),
        ev(
            "e4",
            "G1",
            "add-member",
            json!({"members": [{"guid": "M2", "name": "Cleo"}]}),
            "2025-01-04T10:00:00Z",
        ),
        ev(
            "e5",
            "P2",
            "create-individual",
            json!({"age": 7}),
            "2025-01-05T10:00:00Z",
        ),
    ];
    assert_eq!(
        store
            .append_local(&events, &EventApplier::new())
            .unwrap()
            .outcome
            .applied,
        5
    );
    let mut tc = theirs.client();
    for e in &events {
        node::save_event(&mut tc, "t", e);
    }
    let rows = |c: &mut postgres::Client| -> Vec<EventRow> {
        c.query("SELECT guid, tenant_id, entity_guid, type, data, timestamp, user_id, sync_level FROM events ORDER BY guid", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7)))
            .collect()
    };
    assert_eq!(rows(&mut ours.client()), rows(&mut tc));

    // `entities`: what the original's applier writes for these events (EAS:473-541,
    // 670-731), but for `lastUpdated`, the apply time there and the event's time here.
    let expected = [
        (
            "P1",
            json!({"id": "P1", "guid": "P1", "type": "individual", "name": "Ana", "externalId": "ext-1",
            "version": 2, "data": {"name": "Ana", "externalId": "ext-1", "age": 31}}),
        ),
        (
            "G1",
            json!({"id": "G1", "guid": "G1", "type": "group", "name": "Household", "version": 2,
            "data": {"name": "Household"}, "memberIds": ["M1", "M2"]}),
        ),
        (
            "M1",
            json!({"id": "M1", "guid": "M1", "type": "individual", "name": "Ben", "version": 1, "data": {"name": "Ben"}}),
        ),
        (
            "M2",
            json!({"id": "M2", "guid": "M2", "type": "individual", "name": "Cleo", "version": 1, "data": {"name": "Cleo"}}),
        ),
        (
            "P2",
            json!({"id": "P2", "guid": "P2", "type": "individual", "name": "Unnamed Individual", "version": 1,
            "data": {"name": "Unnamed Individual", "age": 7}}),
        ),
    ];
    let mut c = ours.client();
    for (guid, want) in expected {
        let r = c
            .query_one(
                "SELECT id, guid, initial, modified, sync_level, last_updated, tenant_id FROM entities WHERE guid = $1",
                &[&guid],
            )
            .unwrap();
        let (id, g, initial, mut modified): (String, String, serde_json::Value, serde_json::Value) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        assert_eq!(
            (id.as_str(), g.as_str(), r.get::<_, String>(6).as_str()),
            (guid, guid, "t")
        );
        assert_eq!(
            r.get::<_, Option<String>>(4),
            None,
            "sync_level is never written"
        );
        let last = modified["lastUpdated"].as_str().unwrap().to_string();
        let wall: chrono::NaiveDateTime = r.get(5);
        assert_eq!(
            wall,
            chrono::DateTime::parse_from_rfc3339(&last)
                .unwrap()
                .naive_utc(),
            "last_updated is lastUpdated as UTC wall time"
        );
        modified.as_object_mut().unwrap().remove("lastUpdated");
        assert_eq!(modified, want, "{guid}");
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let mut want_keys = keys(&want);
        want_keys.push("lastUpdated".into());
        want_keys.sort();
        assert_eq!(
            keys(&initial),
            want_keys,
            "{guid}: initial has the same shape"
        );
    }
    // The server's own reads find them.
    assert_eq!(
        node::get_entity_by_external_id(&mut c, "t", "ext-1"),
        ["P1"]
    );
    let trail = node::audit_trail(&mut c, "t", "P1");
    let mut actions: Vec<(String, String, serde_json::Value)> =
        trail.into_iter().map(|(a, e, ch, _)| (a, e, ch)).collect();
    actions.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        actions,
        [
            (
                "create-individual".into(),
                "e1".into(),
                json!({"name": "Ana", "externalId": "ext-1", "age": 30})
            ),
            ("update-individual".into(), "e2".into(), json!({"age": 31})),
        ]
    );
    let member: Vec<String> = node::audit_trail(&mut c, "t", "M1")
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(
        member,
        ["create-individual"],
        "a member is audited as the original's sub-form"
    );
    let guids: Vec<String> = c
        .query("SELECT guid FROM audit_log WHERE tenant_id = 't'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(guids.iter().all(|g| uuid_like(g)), "{guids:?}");
}

/// An `events` row, every column the server has.
type EventRow = (
    String,
    String,
    String,
    String,
    serde_json::Value,
    chrono::DateTime<chrono::Utc>,
    String,
    i32,
);

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn adopting_a_tenant_the_original_pushed_counts_its_cursor_as_delivered_once() {
    let db = cluster().database();
    let store = db.store("t");
    let mut c = db.client();
    for (g, t) in [
        ("old-1", "2025-01-01T00:00:00Z"),
        ("old-2", "2025-01-02T00:00:00Z"),
        ("new-3", "2025-01-03T00:00:00Z"),
    ] {
        node::save_event(&mut c, "t", &event(g, &format!("p-{g}"), t));
    }
    node::set_last_push(&mut c, "t", "2025-01-02T00:00:00.000Z");
    let lease = store.lock_config(CFG, false).unwrap();
    store.begin_run(CFG, "mock-sync-server", "1").unwrap();
    assert_eq!(
        push_all(&store, CFG),
        ["new-3"],
        "at or before the original's cursor: delivered"
    );
    // From now on positions rule: an old device time uploaded late is pushed.
    node::save_event(
        &mut c,
        "t",
        &event("late", "p-late", "2024-06-01T00:00:00Z"),
    );
    store.begin_run(CFG, "mock-sync-server", "1").unwrap();
    assert_eq!(
        push_all(&store, CFG),
        ["late"],
        "adopted once, not at every run"
    );
    drop(lease);
    // Another config of the tenant adopts by the same rule at its own first run, which
    // judges every event stored by then by its device time ("late" included).
    let _l = store.lock_config("cfg-2", false).unwrap();
    store.begin_run("cfg-2", "mock-sync-server", "1").unwrap();
    assert_eq!(push_all(&store, "cfg-2"), ["new-3"]);
    // Without an original cursor, everything is pending.
    let fresh = db.store("u");
    node::save_event(&mut c, "u", &event("u-1", "pu", "2025-01-01T00:00:00Z"));
    let _l = fresh.lock_config(CFG, false).unwrap();
    fresh.begin_run(CFG, "mock-sync-server", "1").unwrap();
    assert_eq!(push_all(&fresh, CFG), ["u-1"]);
}

#[test]
fn a_guid_another_tenant_holds_is_quarantined_and_says_nothing_of_that_tenant() {
    let db = cluster().database();
    let (a, b) = (db.store("alpha"), db.store("beta"));
    let applier = EventApplier::new();
    let mut secret = event("shared-guid", "alpha-person", "2025-01-01T00:00:00.000Z");
    secret.data = json!({"name": "Alpha's secret household"});
    a.append_local(std::slice::from_ref(&secret), &applier)
        .unwrap();

    let mut same = secret.clone();
    same.entity_guid = "beta-person".into();
    let different = event("shared-guid", "beta-person", "2025-01-09T00:00:00Z");
    let first = b.append_local(&[same], &applier).unwrap();
    assert_eq!((first.outcome.applied, first.outcome.quarantined), (0, 1));
    assert!(
        first.conflicts.is_empty(),
        "no hint that the content matches or not"
    );
    let pulled = PulledPage {
        events: vec![different],
        refused: vec![],
        next_cursor: Some("1".into()),
    };
    assert_eq!(
        b.apply_pulled(CFG, &pulled, &applier).unwrap().quarantined,
        1
    );
    let q = b.quarantine(None).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(
        q[0].reason, q[1].reason,
        "the same answer whatever the other row holds"
    );
    for entry in &q {
        for leak in ["alpha", "Alpha", "secret"] {
            assert!(!entry.reason.contains(leak), "{}", entry.reason);
        }
    }
    assert_eq!(b.event_count().unwrap(), 0);
    assert!(b.entity("beta-person").unwrap().is_none());
    assert!(b.pending_events(CFG, 10).unwrap().is_empty());
    // Alpha's row is untouched.
    assert_eq!(a.pending_events(CFG, 10).unwrap()[0].event, secret);
}

fn location(db: &datacollect_sync_e2e::postgres::TestDb, extra: &str) -> PgLocation {
    db.location("t", extra)
}

#[test]
fn a_worker_that_lost_its_lease_can_change_nothing() {
    let db = cluster().database();
    let paused = PostgresStore::open(&location(&db, "lease_ttl=30")).unwrap();
    let other = PostgresStore::open(&location(&db, "lease_ttl=30")).unwrap();
    let applier = EventApplier::new();
    paused
        .append_local(&[event("e1", "p1", "2025-01-01T00:00:00Z")], &applier)
        .unwrap();
    let stale = paused.lock_config(CFG, false).unwrap();
    assert_eq!(stale.fencing_token(), Some(1));
    let run = paused.begin_run(CFG, "mock-sync-server", "1").unwrap();
    let batch: Vec<i64> = paused
        .pending_events(CFG, 10)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    // The worker stalls past its lease (as if paused or cut off: its heartbeats stop
    // reaching the database) and another takes over.
    db.client()
        .execute(
            "UPDATE dcsync_leases SET expires_at = clock_timestamp() - interval '1 second'",
            &[],
        )
        .unwrap();
    let fresh = other.lock_config(CFG, false).unwrap();
    assert_eq!(fresh.fencing_token(), Some(2));

    let lost = |r: Result<(), StoreError>| match r {
        Err(StoreError::LeaseLost {
            held: 1,
            current: 2,
            ..
        }) => {}
        other => panic!("expected the lease to be lost, got {other:?}"),
    };
    lost(paused.confirm_push(CFG, &batch, &[]));
    let page = PulledPage {
        events: vec![FormSubmission {
            sync_level: SyncLevel::External,
            event_type: "upsert-external-entity".into(),
            ..event("x1", "ext-1", "2025-01-01T00:00:00Z")
        }],
        refused: vec![],
        next_cursor: Some("9".into()),
    };
    lost(paused.apply_pulled(CFG, &page, &applier).map(|_| ()));
    lost(paused.begin_run(CFG, "mock-sync-server", "1").map(|_| ()));
    let mut record = paused.run(run).unwrap().unwrap();
    record.status = datacollect_sync::outcome::RunStatus::Succeeded;
    lost(paused.finish_run(&record));
    // Nothing of it is in the database.
    let cursors = other.cursors(CFG).unwrap();
    assert_eq!((cursors.push, cursors.pull), (0, None));
    assert_eq!(other.event_count().unwrap(), 1);
    assert!(other.entity("ext-1").unwrap().is_none());
    assert_eq!(other.runs(Some(CFG), 10).unwrap().len(), 1);
    // The new holder carries on; the stale guard's release does not free its lease.
    other.confirm_push(CFG, &batch, &[]).unwrap();
    assert_eq!(other.cursors(CFG).unwrap().push, batch[0]);
    drop(stale);
    let third = PostgresStore::open(&location(&db, "")).unwrap();
    assert!(matches!(
        third.lock_config(CFG, false),
        Err(StoreError::AlreadyRunning(_))
    ));
    drop(fresh);
    third.lock_config(CFG, false).unwrap();
}

#[test]
fn a_held_lease_is_renewed_and_one_whose_holder_vanished_is_taken_over_after_its_ttl() {
    let db = cluster().database();
    let holder = PostgresStore::open(&location(&db, "lease_ttl=1")).unwrap();
    let other = PostgresStore::open(&location(&db, "lease_ttl=1")).unwrap();
    let lease = holder.lock_config(CFG, false).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        matches!(
            other.lock_config(CFG, false),
            Err(StoreError::AlreadyRunning(_))
        ),
        "the heartbeat keeps a live holder's lease past its TTL"
    );
    drop(lease);
    drop(other.lock_config(CFG, false).unwrap());
    // A holder that vanished (no heartbeat, no release): taken over once its TTL passed.
    db.client()
        .execute(
            "UPDATE dcsync_leases SET holder = 'a killed worker', expires_at = clock_timestamp() + interval '1 second'",
            &[],
        )
        .unwrap();
    let start = Instant::now();
    assert!(matches!(
        other.lock_config(CFG, false),
        Err(StoreError::AlreadyRunning(_))
    ));
    let taken = other.lock_config(CFG, true).unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(taken.fencing_token(), Some(3));
}

#[test]
fn reading_commands_refuse_a_database_dcsync_never_ran_on_and_a_foreign_events_table() {
    let db = cluster().database();
    let err = PostgresStore::open_existing(&location(&db, "")).unwrap_err();
    assert!(
        err.to_string().contains("has not run on this database"),
        "{err}"
    );
    db.client()
        .batch_execute("CREATE TABLE events (id serial, payload text)")
        .unwrap();
    let err = PostgresStore::open(&location(&db, "")).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    let untouched: i64 = db
        .client()
        .query_one(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'events'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(untouched, 2);
    let err =
        PostgresStore::open(&PgLocation::parse_with_password(&db.url, None).unwrap()).unwrap_err();
    assert!(err.to_string().contains("?tenant="), "{err}");
}
