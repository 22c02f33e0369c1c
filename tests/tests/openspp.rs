//! The openspp-adapter component against the OpenSPP (Odoo JSON-RPC) emulator.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, ExternalSyncConfig, FormSubmission};
use datacollect_sync_e2e::*;
use dcsync_emulators::openspp::OpenSppEmulator;
use dcsync_emulators::Fault;
use serde_json::{json, Value};

const PASSWORD: &str = "odoo-PASS-5150";

async fn emulator() -> OpenSppEmulator {
    OpenSppEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        "openspp",
        "sync_user",
        PASSWORD,
    )
    .await
    .unwrap()
}

fn config(e: &OpenSppEmulator, password: &str, extra: &[(&str, &str)]) -> ExternalSyncConfig {
    let mut fields = vec![
        json!({"name": "database", "value": "openspp"}),
        json!({"name": "username", "value": "sync_user"}),
        json!({"name": "password", "value": password}),
    ];
    fields.extend(extra.iter().map(|(n, v)| json!({"name": n, "value": v})));
    ExternalSyncConfig::from_value(
        &json!({"type": "openspp-adapter", "url": e.url(), "extraFields": fields}),
    )
    .unwrap()
}

/// The operator's approval of the adapter's JSON-RPC password placement.
fn approved() -> datacollect_sync::settings::RuntimeSettings {
    placements_approved("openspp-adapter")
}

fn event(guid: &str, entity: &str, ty: &str, data: Value) -> FormSubmission {
    FormSubmission {
        guid: guid.into(),
        entity_guid: entity.into(),
        event_type: ty.into(),
        data,
        timestamp: "2025-02-01T08:00:00Z".into(),
        user_id: "field".into(),
        sync_level: SyncLevel::Local,
    }
}

fn partner_by_guid(e: &OpenSppEmulator, guid: &str) -> Option<serde_json::Map<String, Value>> {
    e.all("res.partner")
        .into_iter()
        .find(|p| p["x_datacollect_guid"] == guid)
}

#[tokio::test]
async fn push_creates_registrants_groups_and_memberships_and_updates_in_place() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[
                event("e1", "p1", "create-individual", json!({"name": "Amina"})),
                event("e2", "p2", "create-individual", json!({"name": "Kofi"})),
                event(
                    "e3",
                    "g1",
                    "create-group",
                    json!({"name": "Household 1", "members": [{"guid": "p1"}, {"guid": "p2"}]}),
                ),
            ],
            &EventApplier::new(),
        )
        .unwrap();
    let m = manager_with_settings(&store, config(&e, PASSWORD, &[]), &approved()).await;
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 3);
    assert_eq!(e.all("res.partner").len(), 3);
    let group = partner_by_guid(&e, "g1").unwrap();
    assert_eq!(
        (group["is_group"].clone(), group["name"].clone()),
        (json!(true), json!("Household 1"))
    );
    let members: Vec<i64> = e
        .all("g2p.group.membership")
        .iter()
        .map(|m| m["individual"].as_i64().unwrap())
        .collect();
    let p1 = partner_by_guid(&e, "p1").unwrap()["id"].as_i64().unwrap();
    assert!(members.contains(&p1) && members.len() == 2);

    store
        .append_local(
            &[event(
                "e4",
                "p1",
                "update-individual",
                json!({"name": "Amina Y."}),
            )],
            &EventApplier::new(),
        )
        .unwrap();
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 1);
    assert_eq!(
        e.all("res.partner").len(),
        3,
        "an update writes, never creates a duplicate"
    );
    assert_eq!(partner_by_guid(&e, "p1").unwrap()["name"], "Amina Y.");
}

#[tokio::test]
async fn registrants_are_pulled_in_stable_pages_and_re_pull_is_a_no_op() {
    let e = emulator().await;
    // Created within the same second: paging must order by (write_date, id).
    for i in 0..5 {
        e.create(
            "res.partner",
            json!({"name": format!("Reg {i}"), "is_registrant": true, "is_group": i == 4}),
        );
    }
    e.create(
        "res.partner",
        json!({"name": "Not a registrant", "is_registrant": false}),
    );
    let (store, _dir) = temp_store();
    let m = manager_with_settings(
        &store,
        config(&e, PASSWORD, &[("batchSize", "2")]),
        &approved(),
    )
    .await;
    let first = m.synchronize(None).await.unwrap();
    assert_eq!((first.pulled, first.applied), (5, 5));
    let reg = store
        .entity("openspp:101")
        .unwrap()
        .expect("pulled registrant");
    assert_eq!(reg.modified.name.as_deref(), Some("Reg 0"));
    assert_eq!(reg.modified.external_id.as_deref(), Some("openspp:101"));

    // The cursor overlaps the last second (write_date is that coarse): what is re-pulled
    // is recognised by guid and applies nothing.
    let again = m.synchronize(None).await.unwrap();
    assert_eq!(again.applied, 0, "nothing changed since the cursor");
    assert_eq!(again.pulled, again.duplicates);
    // Written in the same second as the cursor, with a lower id than the last record seen.
    e.write("res.partner", 102, json!({"name": "Reg 1 (moved)"}));
    let changed = m.synchronize(None).await.unwrap();
    assert_eq!(changed.applied, 1, "the change is not missed");
    assert_eq!(
        store
            .entity("openspp:102")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("Reg 1 (moved)")
    );
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_not_retried() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("w", 1), &EventApplier::new())
        .unwrap();
    let m = manager_with_settings(&store, config(&e, "not-the-password", &[]), &approved()).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(
        err.to_string()
            .contains("refused the login on database \"openspp\""),
        "{err}"
    );
    assert_eq!(e.state.lock().unwrap().rpc_calls, 1);
}

#[tokio::test]
async fn rate_limit_and_server_error_are_retried_without_duplicates() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("t", 3), &EventApplier::new())
        .unwrap();
    e.inject(vec![
        Fault {
            status: Some(429),
            ..Default::default()
        },
        Fault {
            status: Some(502),
            ..Default::default()
        },
    ]);
    let m = manager_with_settings(&store, config(&e, PASSWORD, &[]), &approved()).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 2));
    assert_eq!(e.all("res.partner").len(), 3);
}

#[tokio::test]
async fn a_registrant_openspp_refuses_is_quarantined_and_the_rest_delivered() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[
                event("ok1", "q1", "create-individual", json!({"name": "Fine"})),
                event("bad", "q2", "create-individual", json!({"name": ""})),
                event(
                    "ok2",
                    "q3",
                    "create-individual",
                    json!({"name": "Also fine"}),
                ),
                event("odd", "q4", "resolve-duplicate", json!({"duplicates": []})),
            ],
            &EventApplier::new(),
        )
        .unwrap();
    let m = manager_with_settings(&store, config(&e, PASSWORD, &[]), &approved()).await;
    let r = m.synchronize(None).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (2, 2));
    let q = store.quarantine(None).unwrap();
    let reasons: Vec<(String, String)> = q.into_iter().map(|q| (q.event_guid, q.reason)).collect();
    assert_eq!(reasons[0].0, "bad");
    assert!(
        reasons[0]
            .1
            .contains("ValidationError: Registrant name is required"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, "odd");
    assert_eq!(e.all("res.partner").len(), 2);
}

#[tokio::test]
async fn credentials_given_to_the_sync_are_used_for_the_login() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("c", 1), &EventApplier::new())
        .unwrap();
    let m = manager_with_settings(&store, config(&e, "stale-password", &[]), &approved()).await;
    let creds = datacollect_sync::Credentials::new("sync_user", PASSWORD);
    assert_eq!(m.synchronize(Some(creds)).await.unwrap().pushed, 1);
}

#[tokio::test]
async fn without_the_operators_approval_the_password_never_goes_into_a_body() {
    let e = emulator().await;
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[event("g1", "p1", "create-individual", json!({"name": "A"}))],
            &EventApplier::new(),
        )
        .unwrap();
    let m = manager(&store, config(&e, PASSWORD, &[])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert!(err.to_string().contains("approve_placements"), "{err}");
    assert_eq!(err.class().as_str(), "config");
    assert!(e.all("res.partner").is_empty(), "nothing reached OpenSPP");
}
