//! Pulled records known here by their external id under another guid, and pulled
//! deletions of what is not here.

use super::*;

fn pulled(entity: &str, ty: &str, data: serde_json::Value) -> FormSubmission {
    FormSubmission {
        guid: format!("pulled-{entity}-{ty}"),
        entity_guid: entity.into(),
        event_type: ty.into(),
        data,
        timestamp: "2025-03-01T10:00:00Z".into(),
        user_id: "openspp".into(),
        sync_level: SyncLevel::External,
    }
}

/// An entity pulled by DataCollect's original adapter: a random guid, `externalId` 123.
fn legacy(tx: &mut MemTx, guid: &str, linked_to: Option<&str>) {
    let mut e = pulled(
        guid,
        "create-individual",
        json!({"name": "Ada", "externalId": "123"}),
    );
    e.guid = format!("original-{guid}");
    e.timestamp = "2025-01-01T00:00:00Z".into();
    EventApplier::new().apply(tx, &e, Origin::Local).unwrap();
    if let Some(config) = linked_to {
        tx.link(guid, config, LinkKind::Pushed).unwrap();
    }
}

#[test]
fn a_pulled_record_known_by_its_external_id_changes_that_entity() {
    let mut tx = MemTx::default();
    legacy(&mut tx, "uuid-1", Some("spp"));
    let e = pulled(
        "openspp:db:123",
        EXTERNAL_UPSERT,
        json!({"name": "Ada L.", "externalId": "123"}),
    );
    EventApplier::new()
        .apply(&mut tx, &e, Origin::Pulled("spp"))
        .unwrap();
    assert_eq!(tx.entities.len(), 1, "no second entity");
    assert_eq!(
        tx.entities["uuid-1"].modified.name.as_deref(),
        Some("Ada L.")
    );
    assert_eq!(tx.audit.last().unwrap().entity_guid, "uuid-1");
}

#[test]
fn an_entity_of_another_config_is_not_taken_by_external_id() {
    let mut tx = MemTx::default();
    legacy(&mut tx, "uuid-1", Some("openfn"));
    let e = pulled(
        "openspp:db:123",
        EXTERNAL_UPSERT,
        json!({"name": "Ada", "externalId": "123"}),
    );
    EventApplier::new()
        .apply(&mut tx, &e, Origin::Pulled("spp"))
        .unwrap();
    assert!(tx.entities.contains_key("openspp:db:123"));
    assert_eq!(tx.entities["uuid-1"].modified.name.as_deref(), Some("Ada"));
}

#[test]
fn two_entities_with_the_external_id_are_ambiguous_and_neither_is_taken() {
    let mut tx = MemTx::default();
    legacy(&mut tx, "uuid-1", Some("spp"));
    legacy(&mut tx, "uuid-2", Some("spp"));
    let e = pulled(
        "openspp:db:123",
        EXTERNAL_UPSERT,
        json!({"name": "X", "externalId": "123"}),
    );
    EventApplier::new()
        .apply(&mut tx, &e, Origin::Pulled("spp"))
        .unwrap();
    assert!(tx.entities.contains_key("openspp:db:123"));
}

#[test]
fn a_pulled_deletion_of_what_is_not_here_is_done_already_but_a_local_one_is_refused() {
    let mut tx = MemTx::default();
    let e = pulled("gone", "delete-entity", json!({}));
    EventApplier::new()
        .apply(&mut tx, &e, Origin::Pulled("spp"))
        .unwrap();
    assert!(tx.audit.is_empty());
    let err = EventApplier::new()
        .apply(&mut tx, &e, Origin::Local)
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
