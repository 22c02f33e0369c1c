//! The openspp-adapter component pulling from an emulated stock OpenSPP 17: the cursor
//! against microsecond write dates read as whole seconds, archives as deletions, and the
//! identity of partners DataCollect's original adapter pulled.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, EventStore, FormSubmission};
use datacollect_sync_e2e::openspp::*;
use datacollect_sync_e2e::*;
use dcsync_emulators::openspp::OpenSppEmulator;
use serde_json::json;
use std::sync::Arc;

async fn sync(
    e: &OpenSppEmulator,
    store: &Arc<dyn EventStore>,
    extra: &[(&str, &str)],
) -> datacollect_sync::SyncReport {
    let m =
        manager_with_settings(store, openspp_config(e, USER, PASSWORD, extra), &approved()).await;
    m.synchronize(None).await.unwrap()
}

fn registrants(n: usize, prefix: &str) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| json!({"name": format!("{prefix} {i}"), "is_registrant": true}))
        .collect()
}

fn name_of(store: &Arc<dyn EventStore>, guid: &str) -> Option<String> {
    store.entity(guid).unwrap().and_then(|e| e.modified.name)
}

#[tokio::test]
async fn registrants_are_pulled_under_the_original_field_names_with_their_datacollect_guid() {
    let e = openspp().await;
    let ind = e.create(
        "res.partner",
        json!({"name": "Grace Banda", "given_name": "Grace", "family_name": "Banda",
        "gender": "Female", "birthdate": "1988-02-03", "phone": "+265999", "is_registrant": true}),
    );
    let known = e.create(
        "res.partner",
        json!({"name": "Omar", "is_registrant": true,
        "reg_ids": [[0, 0, {"id_type": id_type(&e).unwrap(), "value": "dc-guid-omar"}]]}),
    );
    let group = e.create(
        "res.partner",
        json!({"name": "Banda household", "is_registrant": true, "is_group": true, "kind": 1,
        "group_membership_ids": [[0, 0, {"individual": ind}], [0, 0, {"individual": known}]]}),
    );
    e.create(
        "res.partner",
        json!({"name": "A supplier, not a registrant"}),
    );
    let (store, _dir) = temp_store();
    let r = sync(&e, &store, &[]).await;
    assert_eq!((r.pulled, r.applied), (3, 3));

    let grace = store
        .entity(&format!("openspp:{DB}:{ind}"))
        .unwrap()
        .expect("no DataCollect ID: the partner's own guid");
    let d = &grace.modified.data;
    assert_eq!(
        (
            d["first_name"].clone(),
            d["last_name"].clone(),
            d["gender"].clone()
        ),
        (json!("Grace"), json!("Banda"), json!("Female"))
    );
    assert_eq!(
        (d["date_of_birth"].clone(), d["phone_number"].clone()),
        (json!("1988-02-03"), json!("+265999"))
    );
    assert_eq!(
        grace.modified.external_id,
        Some(ind.to_string()),
        "externalId = the partner's id, as the original"
    );
    assert_eq!(
        name_of(&store, "dc-guid-omar").as_deref(),
        Some("Omar"),
        "the DataCollect ID is the entity"
    );
    let household = store
        .entity(&format!("openspp:{DB}:{group}"))
        .unwrap()
        .unwrap();
    assert_eq!(
        household.modified.data["household_size"], 2,
        "OpenG2P's member count"
    );
}

#[tokio::test]
async fn a_bulk_larger_than_a_page_in_one_open_second_is_pulled_exactly_once_and_a_later_edit_in_it_is_not_lost(
) {
    let e = openspp().await;
    e.pin_clock("2025-03-01 10:00:00");
    let first = e.create_many("res.partner", registrants(150, "Bulk"));
    e.create_many("res.partner", registrants(100, "More"));
    let (store, _dir) = temp_store();
    let r = sync(&e, &store, &[("batchSize", "100")]).await;
    assert_eq!(
        (r.pulled, r.applied, r.duplicates),
        (250, 250, 0),
        "each record once, no stall"
    );
    let again = sync(&e, &store, &[("batchSize", "100")]).await;
    assert_eq!(again.pulled, 0, "nothing of that second is read again");

    // Same second, a later microsecond, the lowest id of all.
    e.write("res.partner", first[0], json!({"name": "Bulk 0, edited"}));
    let edited = e.get("res.partner", first[0]).unwrap();
    assert!(edited["write_date"]
        .as_str()
        .unwrap()
        .starts_with("2025-03-01 10:00:00."));
    let r = sync(&e, &store, &[("batchSize", "100")]).await;
    assert_eq!((r.pulled, r.applied), (1, 1));
    assert_eq!(
        name_of(&store, &format!("openspp:{DB}:{}", first[0])).as_deref(),
        Some("Bulk 0, edited")
    );
}

#[tokio::test]
async fn a_bulk_in_a_second_that_has_ended_is_paged_by_id_exactly_once() {
    let e = openspp().await;
    e.pin_clock("2025-03-01 10:00:00");
    e.create_many("res.partner", registrants(150, "Bulk"));
    e.pin_clock("2025-03-01 10:00:05");
    e.create(
        "res.partner",
        json!({"name": "Later", "is_registrant": true}),
    );
    let (store, _dir) = temp_store();
    let r = sync(&e, &store, &[("batchSize", "100")]).await;
    assert_eq!((r.pulled, r.applied, r.duplicates), (151, 151, 0));
    assert_eq!(
        e.calls("res.partner.search_count"),
        0,
        "a second with a later row needs no bisection"
    );
}

#[tokio::test]
async fn the_newest_second_is_read_again_so_an_edit_later_in_it_is_not_lost() {
    let e = openspp().await;
    e.pin_clock("2025-03-01 10:00:00");
    let ids = e.create_many("res.partner", registrants(3, "Reg"));
    let (store, _dir) = temp_store();
    assert_eq!(sync(&e, &store, &[]).await.applied, 3);
    e.write("res.partner", ids[0], json!({"name": "Reg 0, edited"}));
    let r = sync(&e, &store, &[]).await;
    assert_eq!(
        (r.applied, r.duplicates),
        (1, 2),
        "the second re-read; only the edit is new"
    );
    assert_eq!(
        name_of(&store, &format!("openspp:{DB}:{}", ids[0])).as_deref(),
        Some("Reg 0, edited")
    );
}

#[tokio::test]
async fn a_remote_archive_comes_back_as_a_delete() {
    let e = openspp().await;
    let id = e.create(
        "res.partner",
        json!({"name": "Leaving", "is_registrant": true}),
    );
    let (store, _dir) = temp_store();
    sync(&e, &store, &[]).await;
    let guid = format!("openspp:{DB}:{id}");
    assert!(store.entity(&guid).unwrap().is_some());
    e.archive("res.partner", id);
    let r = sync(&e, &store, &[]).await;
    assert_eq!(r.quarantined, 0);
    assert!(
        store.entity(&guid).unwrap().is_none(),
        "archived in OpenSPP, deleted here"
    );
    let audit = store.audit_log(&guid).unwrap();
    assert_eq!(audit.last().unwrap().action, "delete-entity");
}

#[tokio::test]
async fn a_re_push_after_a_remote_archive_writes_that_partner_and_creates_no_duplicate() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[event(
                "c1",
                "p1",
                "create-individual",
                json!({"name": "Ama", "first_name": "Ama"}),
            )],
            &EventApplier::new(),
        )
        .unwrap();
    sync(&e, &store, &[]).await;
    let id = partner_of(&e, "p1").unwrap()["id"].as_i64().unwrap();
    e.archive("res.partner", id);
    store
        .append_local(
            &[event(
                "u1",
                "p1",
                "update-individual",
                json!({"first_name": "Ama-Kofi"}),
            )],
            &EventApplier::new(),
        )
        .unwrap();
    let r = sync(&e, &store, &[]).await;
    assert_eq!(r.pushed, 1);
    assert_eq!(
        e.all("res.partner").len(),
        1,
        "the archived partner was found"
    );
    let p = e.get("res.partner", id).unwrap();
    assert_eq!(
        (p["given_name"].clone(), p["active"].clone()),
        (json!("Ama-Kofi"), json!(false))
    );
    // Registered here: OpenSPP's archive does not delete it; it waits for an operator.
    let q = store.quarantine(None).unwrap();
    assert_eq!(q.len(), 1);
    assert!(
        q[0].reason.contains("registered here and pushed"),
        "{}",
        q[0].reason
    );
    assert!(store.entity("p1").unwrap().is_some());
}

/// What DataCollect's original adapter stored for a partner it pulled: a random guid, the
/// partner's id as `externalId` (DC:…/openspp/pullTransformers/IndividualTransformer.ts:42-68).
fn pulled_by_the_original(entity: &str, partner: i64) -> FormSubmission {
    FormSubmission {
        guid: "original-event-1".into(),
        entity_guid: entity.into(),
        event_type: "create-individual".into(),
        data: json!({"first_name": "Grace", "last_name": "Banda", "name": "Grace Banda", "externalId": partner.to_string()}),
        timestamp: "2024-06-01T00:00:00Z".into(),
        user_id: "external-openspp".into(),
        sync_level: SyncLevel::External,
    }
}

const ORIGINAL_GUID: &str = "4f1c2b9e-6a3d-4e8f-9b21-0c5d7a8e9f10";

#[tokio::test]
async fn a_partner_the_original_adapter_pulled_maps_to_the_same_local_entity() {
    let e = openspp().await;
    let id = e.create("res.partner", json!({"name": "Grace Banda", "given_name": "Grace", "family_name": "Banda", "is_registrant": true}));
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[pulled_by_the_original(ORIGINAL_GUID, id)],
            &EventApplier::new(),
        )
        .unwrap();
    // That history was the original's: nothing of it is to be pushed.
    let config = openspp_config(&e, USER, PASSWORD, &[]);
    let seqs: Vec<i64> = store
        .pending_events(&config.id, 10)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    store.confirm_push(&config.id, &seqs, &[]).unwrap();

    e.write("res.partner", id, json!({"family_name": "Banda-Phiri"}));
    let r = sync(&e, &store, &[]).await;
    assert_eq!((r.pulled, r.applied), (1, 1));
    let grace = store.entity(ORIGINAL_GUID).unwrap().unwrap();
    assert_eq!(
        grace.modified.data["last_name"], "Banda-Phiri",
        "the same entity, updated"
    );
    assert!(
        store
            .entity(&format!("openspp:{DB}:{id}"))
            .unwrap()
            .is_none(),
        "no second entity"
    );

    // Its local update carries no externalId: refused, never a second partner.
    store
        .append_local(
            &[event(
                "u1",
                ORIGINAL_GUID,
                "update-individual",
                json!({"first_name": "Gracie"}),
            )],
            &EventApplier::new(),
        )
        .unwrap();
    let r = sync(&e, &store, &[]).await;
    assert_eq!(r.quarantined, 1);
    assert_eq!(e.all("res.partner").len(), 1);
    assert!(store.quarantine(None).unwrap()[0]
        .reason
        .contains("no externalId"));
}

#[tokio::test]
async fn the_original_adapters_events_still_to_push_find_their_partner_by_external_id() {
    let e = openspp().await;
    let id = e.create(
        "res.partner",
        json!({"name": "Grace Banda", "is_registrant": true}),
    );
    let (store, _dir) = temp_store();
    store
        .append_local(
            &[pulled_by_the_original(ORIGINAL_GUID, id)],
            &EventApplier::new(),
        )
        .unwrap();
    let r = sync(&e, &store, &[]).await;
    assert_eq!(r.pushed, 1);
    assert_eq!(e.all("res.partner").len(), 1, "written, not created");
    assert_eq!(
        datacollect_ids(&e, id),
        [ORIGINAL_GUID],
        "and given the entity's guid"
    );

    store
        .append_local(
            &[event(
                "u1",
                ORIGINAL_GUID,
                "update-individual",
                json!({"first_name": "Gracie"}),
            )],
            &EventApplier::new(),
        )
        .unwrap();
    sync(&e, &store, &[]).await;
    assert_eq!(e.get("res.partner", id).unwrap()["given_name"], "Gracie");
    assert_eq!(e.all("res.partner").len(), 1);
    assert!(store
        .entity(&format!("openspp:{DB}:{id}"))
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn an_empty_registry_pulls_nothing_and_a_later_registrant_comes_once() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    assert_eq!(sync(&e, &store, &[]).await.pulled, 0);
    let config = openspp_config(&e, USER, PASSWORD, &[]);
    assert_eq!(
        store.cursors(&config.id).unwrap().pull,
        None,
        "no cursor yet"
    );
    let id = e.create(
        "res.partner",
        json!({"name": "First", "is_registrant": true}),
    );
    assert_eq!(sync(&e, &store, &[]).await.applied, 1);
    assert!(store
        .entity(&format!("openspp:{DB}:{id}"))
        .unwrap()
        .is_some());
    assert_eq!(sync(&e, &store, &[]).await.applied, 0);
}
