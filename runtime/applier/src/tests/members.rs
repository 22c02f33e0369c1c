//! Groups and their members: adding, removing, what a group's data holds, and how deep
//! nesting may go when groups are created and deleted.

use super::*;
use dcsync_contract::model::EntityKind;

const AT: &str = "2025-01-01T00:00:00Z";

/// A local event of type `ty` about `entity`.
fn local(entity: &str, ty: &str, data: serde_json::Value) -> FormSubmission {
    FormSubmission {
        entity_guid: entity.into(),
        ..event(&format!("{ty}-{entity}"), ty, data, AT, SyncLevel::Local)
    }
}

fn apply(tx: &mut MemTx, e: &FormSubmission) -> Result<Applied, ApplyOutcomeError> {
    EventApplier::new().apply(tx, e, Origin::Local)
}

/// Group `g0` whose members nest `levels` deep: `m1` is its member, `m2` is `m1`'s, and so
/// on down to `m{levels}`, all groups.
fn nested(levels: usize) -> FormSubmission {
    let mut member = json!({"guid": format!("m{levels}"), "type": "group"});
    for level in (1..levels).rev() {
        member = json!({"guid": format!("m{level}"), "type": "group", "members": [member]});
    }
    local(
        "g0",
        "create-group",
        json!({"name": "G", "members": [member]}),
    )
}

#[test]
fn add_member_adds_the_member_once() {
    let mut tx = MemTx::default();
    apply(&mut tx, &local("g", "create-group", json!({"name": "G"}))).unwrap();
    let add = local(
        "g",
        "add-member",
        json!({"members": [{"guid": "m1", "name": "Bo"}]}),
    );
    apply(&mut tx, &add).unwrap();
    assert_eq!(tx.entities["g"].modified.member_ids, ["m1"]);
    assert_eq!(tx.entities["m1"].modified.name.as_deref(), Some("Bo"));
    apply(&mut tx, &add).unwrap();
    assert_eq!(
        tx.entities["g"].modified.member_ids,
        ["m1"],
        "adding a member again does not list it twice"
    );
}

#[test]
fn members_are_added_and_removed_only_on_a_group() {
    let mut tx = MemTx::default();
    apply(
        &mut tx,
        &local("p1", "create-individual", json!({"name": "Ada"})),
    )
    .unwrap();
    for e in [
        local("p1", "add-member", json!({"members": [{"guid": "m1"}]})),
        local("p1", "remove-member", json!({"memberId": "m1"})),
    ] {
        let err = apply(&mut tx, &e).unwrap_err();
        assert!(
            err.to_string().contains("entity p1 is not a group"),
            "{}: {err}",
            e.event_type
        );
    }
    assert!(tx.entities["p1"].modified.member_ids.is_empty());
    assert!(!tx.entities.contains_key("m1"), "no member was created");
}

#[test]
fn removing_an_individual_keeps_it_but_removing_a_subgroup_deletes_it_and_its_members() {
    let mut tx = MemTx::default();
    let members = json!([
        {"guid": "m1", "name": "Bo"},
        {"guid": "sub", "type": "group", "members": [{"guid": "m2"}]},
    ]);
    apply(
        &mut tx,
        &local(
            "g",
            "create-group",
            json!({"name": "G", "members": members}),
        ),
    )
    .unwrap();
    apply(
        &mut tx,
        &local("g", "remove-member", json!({"memberId": "m1"})),
    )
    .unwrap();
    assert_eq!(tx.entities["g"].modified.member_ids, ["sub"]);
    assert!(
        tx.entities.contains_key("m1"),
        "an individual leaves the group, it is not deleted"
    );
    apply(
        &mut tx,
        &local("g", "remove-member", json!({"memberId": "sub"})),
    )
    .unwrap();
    assert!(tx.entities["g"].modified.member_ids.is_empty());
    assert!(
        !tx.entities.contains_key("sub"),
        "a removed subgroup is deleted"
    );
    assert!(!tx.entities.contains_key("m2"), "with its members");
    let cascaded: Vec<_> = tx
        .audit
        .iter()
        .filter(|a| a.action == "cascade-delete-entity")
        .map(|a| a.entity_guid.as_str())
        .collect();
    assert_eq!(cascaded, ["sub", "m2"]);
}

#[test]
fn a_group_s_data_keeps_its_fields_and_its_name_but_not_its_member_list() {
    let mut tx = MemTx::default();
    // No name: the group gets the default one, in its data too.
    let data = json!({"village": "North", "members": [{"guid": "m1"}]});
    apply(&mut tx, &local("g", "create-group", data)).unwrap();
    let group = &tx.entities["g"].modified;
    assert_eq!(group.name.as_deref(), Some("Unnamed Group"));
    assert_eq!(
        serde_json::Value::Object(group.data.clone()),
        json!({"village": "North", "name": "Unnamed Group"})
    );
    assert_eq!(group.member_ids, ["m1"]);
}

#[test]
fn a_member_is_created_as_the_type_it_names_and_audited_as_that_type_s_creation() {
    let mut tx = MemTx::default();
    let members = json!([{"guid": "m1"}, {"guid": "sub", "type": "group"}]);
    apply(
        &mut tx,
        &local(
            "g",
            "update-group",
            json!({"name": "G", "members": members}),
        ),
    )
    .unwrap();
    assert_eq!(tx.entities["m1"].modified.kind, EntityKind::Individual);
    assert_eq!(tx.entities["sub"].modified.kind, EntityKind::Group);
    let actions: Vec<_> = tx
        .audit
        .iter()
        .map(|a| (a.entity_guid.as_str(), a.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("m1", "create-individual"),
            ("sub", "create-group"),
            ("g", "update-group"),
        ]
    );
}

#[test]
fn groups_may_nest_32_deep_when_created_and_no_deeper() {
    let mut tx = MemTx::default();
    apply(&mut tx, &nested(32)).expect("32 levels of members");
    assert_eq!(tx.entities.len(), 33);
    assert_eq!(tx.entities["m31"].modified.member_ids, ["m32"]);
    let mut tx = MemTx::default();
    let err = apply(&mut tx, &nested(33)).unwrap_err();
    assert!(
        err.to_string().contains("groups nested deeper than 32"),
        "{err}"
    );
}

#[test]
fn deleting_a_group_follows_its_members_32_deep_and_no_deeper() {
    let mut tx = MemTx::default();
    apply(&mut tx, &nested(32)).unwrap();
    apply(&mut tx, &local("g0", "delete-entity", json!({}))).expect("32 levels");
    assert!(tx.entities.is_empty(), "every level is deleted");
    // One event cannot nest deeper than 32, two can: the deletion refuses to follow them.
    let mut tx = MemTx::default();
    apply(&mut tx, &nested(32)).unwrap();
    let deeper = local(
        "m32",
        "add-member",
        json!({"members": [{"guid": "m33", "type": "group"}]}),
    );
    apply(&mut tx, &deeper).unwrap();
    let err = apply(&mut tx, &local("g0", "delete-entity", json!({}))).unwrap_err();
    assert!(
        err.to_string().contains("groups nested deeper than 32"),
        "{err}"
    );
}
