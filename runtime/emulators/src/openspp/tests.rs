//! The emulated server against what the sources say the real one does.

use super::orm::{model, Env};
use super::{OpenSppState, Role};
use serde_json::{json, Value};

fn registrar() -> Env {
    Env {
        uid: 6,
        groups: Role::Registrar.groups(),
        superuser: false,
        active_test: true,
    }
}

fn vals(v: Value) -> super::Record {
    v.as_object().cloned().unwrap()
}

#[test]
fn one_write_date_per_transaction_with_microseconds_read_as_whole_seconds() {
    let mut s = OpenSppState::new("db");
    let m = model("res.partner").unwrap();
    let ids = s
        .transaction(|db, env| {
            Ok(vec![
                db.create(env, m, &vals(json!({"name": "A", "is_registrant": true})))?,
                db.create(env, m, &vals(json!({"name": "B", "is_registrant": true})))?,
            ])
        })
        .unwrap();
    let stored: Vec<String> = ids
        .iter()
        .map(|id| {
            s.db.get("res.partner", *id).unwrap()["write_date"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(stored[0], stored[1], "shared by the transaction");
    assert_eq!(stored[0].len(), 26, "microseconds kept");
    let read =
        s.db.read(&registrar(), m, &ids, &["write_date".into()])
            .unwrap();
    assert_eq!(read[0]["write_date"].as_str().unwrap(), &stored[0][..19]);
    // A truncated cursor with `>` still matches the rows of its own second.
    let second = &stored[0][..19];
    let found =
        s.db.search(&registrar(), m, &[json!(["write_date", ">", second])], None)
            .unwrap();
    assert_eq!(found.len(), 2);
    let exact =
        s.db.search(&registrar(), m, &[json!(["write_date", "=", second])], None)
            .unwrap();
    assert!(
        exact.is_empty(),
        "equality against the truncated value matches nothing"
    );
}

#[test]
fn archived_records_are_hidden_from_searches_unless_asked_for() {
    let mut s = OpenSppState::new("db");
    let m = model("res.partner").unwrap();
    let id = s
        .transaction(|db, env| db.create(env, m, &vals(json!({"name": "Gone", "active": false}))))
        .unwrap();
    let env = registrar();
    assert!(s.db.search(&env, m, &[], None).unwrap().is_empty());
    let all = Env {
        active_test: false,
        ..registrar()
    };
    assert_eq!(s.db.search(&all, m, &[], None).unwrap(), [id]);
    let mentioned =
        s.db.search(&env, m, &[json!(["active", "=", false])], None)
            .unwrap();
    assert_eq!(mentioned, [id], "a domain naming `active` is taken as is");
    assert_eq!(
        s.db.read(&env, m, &[id, 999], &[]).unwrap().len(),
        1,
        "read ignores archiving, drops missing ids"
    );
}

#[test]
fn a_registrar_may_read_but_not_create_id_types_and_may_not_delete_partners() {
    let mut s = OpenSppState::new("db");
    let env = registrar();
    let err =
        s.db.create(
            &env,
            model("g2p.id.type").unwrap(),
            &vals(json!({"name": "X"})),
        )
        .unwrap_err();
    assert_eq!(err.name, "odoo.exceptions.AccessError");
    assert_eq!(
        err.message,
        "You are not allowed to create 'ID Type' (g2p.id.type) records.\n\nThis operation is allowed for the following groups:\n\t- OpenG2P Module Access/Administrator\n\nContact your administrator to request access if necessary."
    );
    assert!(s
        .db
        .search(&env, model("g2p.id.type").unwrap(), &[], None)
        .is_ok());
    let m = model("res.partner").unwrap();
    let id = s
        .transaction(|db, e| db.create(e, m, &vals(json!({"name": "P"}))))
        .unwrap();
    let err = s.db.unlink(&env, m, &[id]).unwrap_err();
    assert_eq!(err.name, "odoo.exceptions.UserError");
    assert!(err
        .message
        .starts_with("You do not have the necessary permissions to delete partner records."));
}

#[test]
fn a_membership_counts_once_and_moves_its_groups_write_date() {
    let mut s = OpenSppState::new("db");
    let p = model("res.partner").unwrap();
    let (group, person) = s
        .transaction(|db, e| {
            Ok((
                db.create(
                    e,
                    p,
                    &vals(json!({"name": "H", "is_group": true, "is_registrant": true})),
                )?,
                db.create(e, p, &vals(json!({"name": "I", "is_registrant": true})))?,
            ))
        })
        .unwrap();
    let before = s.db.get("res.partner", group).unwrap()["write_date"].clone();
    let ms = model("g2p.group.membership").unwrap();
    let member = vals(json!({"group": group, "individual": person}));
    s.transaction(|db, e| db.create(e, ms, &member)).unwrap();
    let row = s.db.get("res.partner", group).unwrap();
    assert_ne!(row["write_date"], before, "the recompute writes the group");
    assert_eq!(row["z_ind_grp_num_individuals"], 1);
    let err = s
        .transaction(|db, e| db.create(e, ms, &member))
        .unwrap_err();
    assert_eq!(err.message, "Duplication of Member is not allowed ");
    let missing = s
        .transaction(|db, e| db.create(e, ms, &vals(json!({"group": group}))))
        .unwrap_err();
    assert!(
        missing.message.contains("Field: Individual (individual)"),
        "{}",
        missing.message
    );
}

#[test]
fn one_id_per_partner_and_type_and_values_cut_to_100_characters() {
    let mut s = OpenSppState::new("db");
    let p = model("res.partner").unwrap();
    let t = s
        .transaction(|db, e| {
            db.create(
                e,
                model("g2p.id.type").unwrap(),
                &vals(json!({"name": "T"})),
            )
        })
        .unwrap();
    let long = "x".repeat(120);
    let id = s
        .transaction(|db, e| {
            db.create(
                e,
                p,
                &vals(json!({"name": "P", "reg_ids": [[0, 0, {"id_type": t, "value": long}]]})),
            )
        })
        .unwrap();
    let reg = s.db.table("g2p.reg.id").next().unwrap().clone();
    assert_eq!(reg["value"].as_str().unwrap().len(), 100);
    let again = s
        .transaction(|db, e| {
            db.write(
                e,
                p,
                &[id],
                &vals(json!({"reg_ids": [[0, 0, {"id_type": t, "value": "y"}]]})),
            )
        })
        .unwrap_err();
    assert_eq!(again.message, "ID Type must be unique.");
    let named = s
        .transaction(|db, e| {
            db.create(
                e,
                model("g2p.reg.id").unwrap(),
                &vals(json!({"partner_id": id, "id_type": "National ID"})),
            )
        })
        .unwrap_err();
    assert_eq!(named.name, "psycopg2.errors.InvalidTextRepresentation");
}
