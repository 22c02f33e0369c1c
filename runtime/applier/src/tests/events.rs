//! The applier's own rules around the built-in types: link names, custom types, which
//! events the conflict rule covers, duplicates, and stores without an external-id lookup.

use super::*;

/// A custom applier that records the event it handled in the audit.
struct Visit;

impl CustomApplier for Visit {
    fn apply(
        &self,
        tx: &mut dyn EntityTx,
        event: &FormSubmission,
    ) -> Result<(), ApplyOutcomeError> {
        tx.audit(&AuditEntry {
            timestamp: event.timestamp.clone(),
            user_id: event.user_id.clone(),
            action: "visit-recorded".into(),
            event_guid: event.guid.clone(),
            entity_guid: event.entity_guid.clone(),
            changes: event.data.clone(),
        })?;
        Ok(())
    }
}

#[test]
fn link_kinds_are_stored_as_created_or_pushed_and_read_back() {
    assert_eq!(LinkKind::Created.as_str(), "created");
    assert_eq!(LinkKind::Pushed.as_str(), "pushed");
    assert_eq!(
        LinkKind::Legacy.as_str(),
        "pushed",
        "a legacy link is stored as pushed"
    );
    assert_eq!(LinkKind::from_stored("created"), LinkKind::Created);
    assert_eq!(LinkKind::from_stored("pushed"), LinkKind::Pushed);
    assert_eq!(
        LinkKind::from_stored("something-newer"),
        LinkKind::Pushed,
        "an unknown name is the weaker kind"
    );
}

#[test]
fn debug_shows_the_custom_types_sorted() {
    let mut a = EventApplier::new();
    assert_eq!(format!("{a:?}"), r#"EventApplier { custom: [] }"#);
    a.register("household-visit", Arc::new(Visit)).unwrap();
    a.register("a-tag", Arc::new(Visit)).unwrap();
    assert_eq!(
        format!("{a:?}"),
        r#"EventApplier { custom: ["a-tag", "household-visit"] }"#
    );
}

#[test]
fn a_registered_custom_type_is_applied_by_its_applier() {
    let mut a = EventApplier::new();
    a.register("household-visit", Arc::new(Visit)).unwrap();
    let mut tx = MemTx::default();
    let visit = event(
        "v1",
        "household-visit",
        json!({"note": "ok"}),
        "2025-01-01T00:00:00Z",
        SyncLevel::Local,
    );
    assert_eq!(
        a.apply(&mut tx, &visit, Origin::Local).unwrap(),
        Applied::Changed
    );
    assert_eq!(tx.audit.len(), 1);
    assert_eq!(tx.audit[0].action, "visit-recorded");
    assert_eq!(tx.audit[0].changes, json!({"note": "ok"}));
}

#[test]
fn an_unknown_type_is_refused_even_for_an_entity_with_local_changes() {
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let audited = tx.audit.len();
    let visit = event(
        "v1",
        "household-visit",
        json!({}),
        "2025-01-15T00:00:00Z",
        SyncLevel::External,
    );
    let err = EventApplier::new()
        .apply(&mut tx, &visit, Origin::Pulled("c"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"unknown event type "household-visit": no applier registered for it"#
    );
    assert_eq!(tx.audit.len(), audited, "no conflict is recorded for it");
}

#[test]
fn an_older_server_event_recorded_here_keeps_the_local_change() {
    // Not pulled from a config, but synced from a DataCollect server (level Remote): the
    // conflict rule covers it like a pulled one.
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let from_server = event(
        "e3",
        "update-individual",
        json!({"name": "Server"}),
        "2025-01-15T00:00:00Z",
        SyncLevel::Remote,
    );
    let applied = EventApplier::new()
        .apply(&mut tx, &from_server, Origin::Local)
        .unwrap();
    assert_eq!(applied, Applied::KeptLocal);
    assert_eq!(tx.entities["p1"].modified.name.as_deref(), Some("Ada L."));
    assert_eq!(tx.audit.last().unwrap().changes["resolution"], "kept-local");
}

#[test]
fn a_deletion_is_applied_even_over_a_newer_local_change() {
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let delete = event(
        "e3",
        "delete-entity",
        json!({}),
        "2025-01-15T00:00:00Z",
        SyncLevel::External,
    );
    let applied = EventApplier::new()
        .apply(&mut tx, &delete, Origin::Pulled("c"))
        .unwrap();
    assert_eq!(applied, Applied::Changed);
    assert!(tx.entities.is_empty());
    assert!(tx.audit.iter().all(|a| a.action != "conflict-resolution"));
}

#[test]
fn resolve_duplicate_records_the_duplicates_and_deletes_only_when_asked() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    let at = "2025-01-01T00:00:00Z";
    let create = event("c1", "create-individual", json!({}), at, SyncLevel::Local);
    a.apply(&mut tx, &create, Origin::Local).unwrap();
    for (guid, data) in [
        ("d1", json!({"duplicates": ["p2"]})),
        ("d2", json!({"duplicates": ["p2"], "shouldDelete": false})),
    ] {
        let e = event(guid, "resolve-duplicate", data, at, SyncLevel::Local);
        a.apply(&mut tx, &e, Origin::Local).unwrap();
        assert!(tx.entities.contains_key("p1"), "{guid}: kept");
        let last = tx.audit.last().unwrap();
        assert_eq!(last.action, "resolve-duplicate");
        assert_eq!(last.changes, json!({"duplicates": ["p2"]}));
    }
    let delete = json!({"duplicates": ["p2"], "shouldDelete": true});
    let e = event("d3", "resolve-duplicate", delete, at, SyncLevel::Local);
    a.apply(&mut tx, &e, Origin::Local).unwrap();
    assert!(tx.entities.is_empty());
    assert_eq!(tx.audit.last().unwrap().action, "delete-entity");
}

/// A store that cannot look entities up by external id (it keeps the trait's default),
/// and counts every entity it has no link for as legacy.
struct NoLookup(MemTx);

impl EntityTx for NoLookup {
    fn entity(&mut self, guid: &str) -> Result<Option<EntityPair>, TxError> {
        self.0.entity(guid)
    }
    fn put_entity(&mut self, pair: &EntityPair) -> Result<(), TxError> {
        self.0.put_entity(pair)
    }
    fn delete_entity(&mut self, guid: &str) -> Result<(), TxError> {
        self.0.delete_entity(guid)
    }
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), TxError> {
        self.0.audit(entry)
    }
    fn linked(&mut self, guid: &str, config_id: &str) -> Result<Option<LinkKind>, TxError> {
        Ok(Some(
            self.0.linked(guid, config_id)?.unwrap_or(LinkKind::Legacy),
        ))
    }
    fn link(&mut self, guid: &str, config_id: &str, kind: LinkKind) -> Result<(), TxError> {
        self.0.link(guid, config_id, kind)
    }
}

#[test]
fn a_store_without_an_external_id_lookup_matches_pulled_records_by_guid_alone() {
    let mut tx = NoLookup(MemTx::default());
    let known = FormSubmission {
        entity_guid: "uuid-1".into(),
        ..event(
            "l1",
            "create-individual",
            json!({"name": "Ada", "externalId": "123"}),
            "2025-01-01T00:00:00Z",
            SyncLevel::Local,
        )
    };
    EventApplier::new()
        .apply(&mut tx, &known, Origin::Local)
        .unwrap();
    let pulled = FormSubmission {
        entity_guid: "openspp:db:123".into(),
        ..event(
            "e1",
            EXTERNAL_UPSERT,
            json!({"name": "Ada L.", "externalId": "123"}),
            "2025-03-01T00:00:00Z",
            SyncLevel::External,
        )
    };
    EventApplier::new()
        .apply(&mut tx, &pulled, Origin::Pulled("spp"))
        .unwrap();
    let guids: Vec<_> = tx.0.entities.keys().map(String::as_str).collect();
    assert_eq!(guids, ["openspp:db:123", "uuid-1"], "a second entity");
    assert_eq!(
        tx.0.entities["uuid-1"].modified.name.as_deref(),
        Some("Ada")
    );
}

#[test]
fn a_built_in_type_cannot_be_replaced_by_a_custom_applier() {
    // A custom applier for `create-individual` would skip the rules of which config may
    // change which entity: refused, and the built-in keeps applying it.
    let mut a = EventApplier::new();
    let refused = a
        .register("create-individual", Arc::new(Visit))
        .unwrap_err();
    assert!(refused.contains("built-in"), "{refused}");
    assert_eq!(format!("{a:?}"), r#"EventApplier { custom: [] }"#);
}
