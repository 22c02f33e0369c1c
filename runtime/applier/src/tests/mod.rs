//! The applier against an in-memory transaction: the conflict rule and its audit.
//!
//! Over 400 lines: the applier's rules, one test each, over an in-memory `EntityTx`.

use super::*;
use dcsync_contract::model::SyncLevel;
use std::collections::BTreeMap;

/// Entities and audit in memory: the applier's whole view of a store.
#[derive(Default)]
struct MemTx {
    entities: BTreeMap<String, EntityPair>,
    audit: Vec<AuditEntry>,
    links: BTreeMap<(String, String), LinkKind>,
}

impl EntityTx for MemTx {
    fn entity(&mut self, guid: &str) -> Result<Option<EntityPair>, TxError> {
        Ok(self.entities.get(guid).cloned())
    }
    fn put_entity(&mut self, pair: &EntityPair) -> Result<(), TxError> {
        self.entities
            .insert(pair.modified.guid.clone(), pair.clone());
        Ok(())
    }
    fn delete_entity(&mut self, guid: &str) -> Result<(), TxError> {
        self.entities.remove(guid);
        Ok(())
    }
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), TxError> {
        self.audit.push(entry.clone());
        Ok(())
    }
    fn linked(&mut self, guid: &str, config_id: &str) -> Result<Option<LinkKind>, TxError> {
        Ok(self
            .links
            .get(&(guid.to_string(), config_id.to_string()))
            .copied())
    }
    fn link(&mut self, guid: &str, config_id: &str, kind: LinkKind) -> Result<(), TxError> {
        self.links
            .entry((guid.to_string(), config_id.to_string()))
            .or_insert(kind);
        Ok(())
    }
    fn entities_with_external_id(&mut self, external_id: &str) -> Result<Vec<String>, TxError> {
        Ok(self
            .entities
            .iter()
            .filter(|(_, p)| p.modified.external_id.as_deref() == Some(external_id))
            .map(|(g, _)| g.clone())
            .collect())
    }
}

fn event(
    guid: &str,
    ty: &str,
    data: serde_json::Value,
    at: &str,
    level: SyncLevel,
) -> FormSubmission {
    FormSubmission {
        guid: guid.into(),
        entity_guid: "p1".into(),
        event_type: ty.into(),
        data,
        timestamp: at.into(),
        user_id: "u".into(),
        sync_level: level,
    }
}

/// An individual synced once, then changed locally at `local_at`.
fn with_local_change(local_at: &str) -> MemTx {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    let synced = event(
        "e1",
        "create-individual",
        json!({"name": "Ada"}),
        "2025-01-01T00:00:00Z",
        SyncLevel::External,
    );
    a.apply(&mut tx, &synced, Origin::Pulled("c")).unwrap();
    let local = event(
        "e2",
        "update-individual",
        json!({"name": "Ada L."}),
        local_at,
        SyncLevel::Local,
    );
    a.apply(&mut tx, &local, Origin::Local).unwrap();
    assert!(tx.entities["p1"].has_local_changes());
    tx
}

#[test]
fn an_older_remote_event_keeps_the_local_change_and_says_so() {
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let remote = event(
        "e3",
        "update-individual",
        json!({"name": "Remote"}),
        "2025-01-15T00:00:00Z",
        SyncLevel::External,
    );
    let applied = EventApplier::new()
        .apply(&mut tx, &remote, Origin::Pulled("c"))
        .unwrap();
    assert_eq!(applied, Applied::KeptLocal);
    assert_eq!(tx.entities["p1"].modified.name.as_deref(), Some("Ada L."));
    let audit = tx.audit.last().unwrap();
    assert_eq!(audit.action, "conflict-resolution");
    assert_eq!(audit.changes["resolution"], "kept-local");
    assert_eq!(audit.changes["remoteTimestamp"], "2025-01-15T00:00:00Z");
}

#[test]
fn a_newer_remote_event_is_applied_on_top_of_the_synced_state() {
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let remote = event(
        "e3",
        "update-individual",
        json!({"age": 40}),
        "2025-03-01T00:00:00Z",
        SyncLevel::External,
    );
    let applied = EventApplier::new()
        .apply(&mut tx, &remote, Origin::Pulled("c"))
        .unwrap();
    assert_eq!(applied, Applied::Changed);
    let pair = &tx.entities["p1"];
    assert_eq!(
        pair.modified.name.as_deref(),
        Some("Ada"),
        "the local rename is dropped"
    );
    assert_eq!(pair.modified.data["age"], 40);
    assert!(!pair.has_local_changes());
    assert!(tx
        .audit
        .iter()
        .any(|a| a.changes["resolution"] == "applied-remote"));
}

#[test]
fn equal_times_keep_the_local_change() {
    let mut tx = with_local_change("2025-02-01T00:00:00Z");
    let remote = event(
        "e3",
        "update-individual",
        json!({"name": "R"}),
        "2025-02-01T00:00:00Z",
        SyncLevel::External,
    );
    let applied = EventApplier::new()
        .apply(&mut tx, &remote, Origin::Pulled("c"))
        .unwrap();
    assert_eq!(applied, Applied::KeptLocal);
}

#[test]
fn an_entity_without_local_changes_takes_the_remote_event() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    a.apply(
        &mut tx,
        &event(
            "e1",
            "create-individual",
            json!({"name": "A"}),
            "2025-01-01T00:00:00Z",
            SyncLevel::External,
        ),
        Origin::Pulled("c"),
    )
    .unwrap();
    a.apply(
        &mut tx,
        &event(
            "e2",
            "update-individual",
            json!({"name": "B"}),
            "2024-01-01T00:00:00Z",
            SyncLevel::External,
        ),
        Origin::Pulled("c"),
    )
    .unwrap();
    assert_eq!(tx.entities["p1"].modified.name.as_deref(), Some("B"));
    assert!(tx.audit.iter().all(|a| a.action != "conflict-resolution"));
}

#[test]
fn a_pulled_event_may_not_change_an_entity_of_another_config_or_a_local_one() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    let local = event(
        "l1",
        "create-individual",
        json!({"name": "Local"}),
        "2025-01-01T00:00:00Z",
        SyncLevel::Local,
    );
    a.apply(&mut tx, &local, Origin::Local).unwrap();
    for (ty, data) in [
        ("update-individual", json!({"name": "X"})),
        ("delete-entity", json!({})),
    ] {
        let foreign = event("p", ty, data, "2099-01-01T00:00:00Z", SyncLevel::External);
        let err = a.apply(&mut tx, &foreign, Origin::Pulled("c")).unwrap_err();
        assert!(
            err.to_string().contains("not linked to config c"),
            "{ty}: {err}"
        );
    }
    assert_eq!(tx.entities["p1"].modified.name.as_deref(), Some("Local"));
    // Created by c's pull: c may change it; another config may not.
    let mut tx2 = MemTx::default();
    a.apply(
        &mut tx2,
        &event(
            "e1",
            "create-individual",
            json!({"name": "A"}),
            "2025-01-01T00:00:00Z",
            SyncLevel::External,
        ),
        Origin::Pulled("c"),
    )
    .unwrap();
    a.apply(
        &mut tx2,
        &event(
            "e2",
            "update-individual",
            json!({"name": "B"}),
            "2025-01-02T00:00:00Z",
            SyncLevel::External,
        ),
        Origin::Pulled("c"),
    )
    .unwrap();
    assert!(a
        .apply(
            &mut tx2,
            &event(
                "e3",
                "delete-entity",
                json!({}),
                "2025-01-03T00:00:00Z",
                SyncLevel::External
            ),
            Origin::Pulled("other")
        )
        .is_err());
    a.apply(
        &mut tx2,
        &event(
            "e4",
            "delete-entity",
            json!({}),
            "2025-01-03T00:00:00Z",
            SyncLevel::External,
        ),
        Origin::Pulled("c"),
    )
    .unwrap();
    assert!(tx2.entities.is_empty());
}

#[test]
fn a_pulled_group_may_not_cascade_into_entities_it_does_not_own() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    a.apply(
        &mut tx,
        &event(
            "l",
            "create-individual",
            json!({"name": "Local member"}),
            "2025-01-01T00:00:00Z",
            SyncLevel::Local,
        ),
        Origin::Local,
    )
    .unwrap();
    let group = FormSubmission {
        entity_guid: "g".into(),
        ..event(
            "e1",
            "create-group",
            json!({"name": "G", "members": [{"guid": "p1"}]}),
            "2025-01-01T00:00:00Z",
            SyncLevel::External,
        )
    };
    let err = a.apply(&mut tx, &group, Origin::Pulled("c")).unwrap_err();
    assert!(err.to_string().contains("p1"), "{err}");
}

#[test]
fn a_pull_may_update_a_pushed_entity_but_delete_only_what_it_created() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    let at = "2025-01-01T00:00:00Z";
    a.apply(
        &mut tx,
        &event(
            "l1",
            "create-individual",
            json!({"name": "Here"}),
            at,
            SyncLevel::Local,
        ),
        Origin::Local,
    )
    .unwrap();
    tx.link("p1", "c", LinkKind::Pushed).unwrap();
    let pulled = |guid: &str, ty: &str, data| {
        event(guid, ty, data, "2025-02-01T00:00:00Z", SyncLevel::External)
    };
    a.apply(
        &mut tx,
        &pulled("e1", "update-individual", json!({"name": "There"})),
        Origin::Pulled("c"),
    )
    .expect("pushed: updates come back");
    let err = a
        .apply(
            &mut tx,
            &pulled("e2", "delete-entity", json!({})),
            Origin::Pulled("c"),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("may update it but not delete it"),
        "{err}"
    );
    assert!(tx.entities.contains_key("p1"));
    // Created by c's pull: c may delete it, and the audit keeps the document.
    let created = FormSubmission {
        entity_guid: "p2".into(),
        ..pulled("e3", "create-individual", json!({"name": "From c"}))
    };
    a.apply(&mut tx, &created, Origin::Pulled("c")).unwrap();
    let delete = FormSubmission {
        entity_guid: "p2".into(),
        ..pulled("e4", "delete-entity", json!({}))
    };
    a.apply(&mut tx, &delete, Origin::Pulled("c")).unwrap();
    assert!(!tx.entities.contains_key("p2"));
    let last = tx.audit.last().unwrap();
    assert_eq!(last.changes["document"]["name"], "From c");
}

#[test]
fn remove_member_names_a_member_or_changes_nothing() {
    let mut tx = MemTx::default();
    let a = EventApplier::new();
    let at = "2025-01-01T00:00:00Z";
    let group = |guid: &str, ty: &str, data| FormSubmission {
        entity_guid: "g".into(),
        ..event(guid, ty, data, at, SyncLevel::Local)
    };
    a.apply(
        &mut tx,
        &group(
            "g1",
            "create-group",
            json!({"name": "G", "members": [{"guid": "m1"}]}),
        ),
        Origin::Local,
    )
    .unwrap();
    a.apply(
        &mut tx,
        &FormSubmission {
            entity_guid: "other".into(),
            ..event(
                "o1",
                "create-group",
                json!({"name": "Other"}),
                at,
                SyncLevel::Local,
            )
        },
        Origin::Local,
    )
    .unwrap();
    let err = a
        .apply(
            &mut tx,
            &group("g2", "remove-member", json!({"memberId": "other"})),
            Origin::Local,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("other is not a member of group g"),
        "{err}"
    );
    assert!(
        tx.entities.contains_key("other"),
        "a non-member group is not deleted"
    );
    a.apply(
        &mut tx,
        &group("g3", "remove-member", json!({"memberId": "m1"})),
        Origin::Local,
    )
    .unwrap();
    assert!(tx.entities["g"].modified.member_ids.is_empty());
}

mod events;
mod external_id;
mod members;
