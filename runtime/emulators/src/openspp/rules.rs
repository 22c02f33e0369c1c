//! The registry's own rules on top of the ORM: defaults, database constraints, the Python
//! constraints of OpenG2P, record rules, and the recomputes that bump a group's
//! `write_date` when its members change.

use super::error::OdooError;
use super::orm::{Db, Record};
use super::schema::{Kind, Model};
use serde_json::{json, Value};

/// Defaults filled on `create` before the caller's values.
pub fn defaults(m: &Model, now: &str) -> Record {
    let today: String = now.chars().take(10).collect();
    let v = match m.name {
        // O17:odoo/addons/base/models/res_partner.py:240, 243-249; the company default
        // and today's registration date (G2P:g2p_registry_base/models/registrant.py:33-34).
        "res.partner" => json!({"active": true, "type": "contact", "company_id": 1,
                                 "registration_date": today}),
        "gender.type" | "res.users" => json!({"active": true}),
        "g2p.id.type" => json!({"target_type": "individual"}),
        // `fields.Datetime.now()` drops the microseconds (O17:odoo/fields.py:2219-2226).
        "g2p.group.membership" => {
            json!({"start_date": format!("{}.000000", &now[..19.min(now.len())])})
        }
        _ => json!({}),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// The NOT NULL text an `IntegrityError` becomes (O17:odoo/service/model.py:83-95).
pub fn not_null(db: &Db, m: &Model, id: i64) -> Result<(), OdooError> {
    let Some(row) = db.get(m.name, id) else {
        return Ok(());
    };
    for f in m.fields.iter().filter(|f| f.required) {
        if row.get(f.name).is_none_or(Value::is_null) {
            return Err(OdooError::validation(format!(
                "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nField: {} ({})\n",
                m.description, m.name, f.label, f.name
            )));
        }
    }
    Ok(())
}

/// A foreign key to a row that does not exist (O17:odoo/service/model.py:97-106).
pub fn fk_violation(m: &Model, field: &str) -> OdooError {
    OdooError::validation(format!(
        "The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nConstraint: {}_{field}_fkey\n",
        m.description,
        m.name,
        m.name.replace('.', "_")
    ))
}

fn text<'r>(row: &'r Record, key: &str) -> &'r str {
    row.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn others<'d>(db: &'d Db, m: &Model, id: i64) -> impl Iterator<Item = &'d Record> {
    db.table(m.name)
        .filter(move |r| r["id"].as_i64() != Some(id))
}

/// A name that must be set and unique, case-insensitively (the OpenG2P pattern).
fn named(
    db: &Db,
    m: &Model,
    id: i64,
    field: &str,
    empty: &str,
    taken: &str,
) -> Result<(), OdooError> {
    let row = db.get(m.name, id).cloned().unwrap_or_default();
    let name = text(&row, field).to_lowercase();
    if name.is_empty() {
        return Err(OdooError::validation(empty));
    }
    if others(db, m, id).any(|r| text(r, field).to_lowercase() == name) {
        return Err(OdooError::validation(taken));
    }
    Ok(())
}

/// The constraints checked after a create or a write of `id`.
pub fn check(db: &Db, m: &Model, id: i64) -> Result<(), OdooError> {
    let Some(row) = db.get(m.name, id).cloned() else {
        return Ok(());
    };
    match m.name {
        "res.partner" => {
            // `check_name` (O17:odoo/addons/base/models/res_partner.py:300-302), as the
            // IntegrityError becomes a ValidationError (O17:odoo/service/model.py:108-112).
            let contact = row
                .get("type")
                .is_none_or(|t| t.is_null() || t == "contact");
            if contact && text(&row, "name").is_empty() {
                return Err(OdooError::validation(
                    "The operation cannot be completed: Contacts require a name",
                ));
            }
            // G2P:g2p_registry_base/models/registrant.py:72-83.
            let (registered, born) = (text(&row, "registration_date"), text(&row, "birthdate"));
            if !registered.is_empty() {
                if registered > &db.now[..10] {
                    return Err(OdooError::validation(
                        "Registration date must be less than the current date.",
                    ));
                }
                if !born.is_empty() && registered < born {
                    return Err(OdooError::validation(
                        "Registration date must be later than the birth date.",
                    ));
                }
            }
            // G2P:g2p_registry_membership/models/group.py:30-38.
            for kind in db.table("g2p.group.membership.kind") {
                if kind.get("is_unique") != Some(&json!(true)) {
                    continue;
                }
                let count = db
                    .table("g2p.group.membership")
                    .filter(|ms| ms["group"].as_i64() == Some(id))
                    .filter(|ms| {
                        many2many_ids(&ms["kind"]).contains(&kind["id"].as_i64().unwrap_or(-1))
                    })
                    .count();
                if count > 1 {
                    return Err(OdooError::validation(format!(
                        "Only one {} is allowed per group",
                        text(kind, "name")
                    )));
                }
            }
            Ok(())
        }
        // G2P:g2p_registry_base/models/reg_id.py:56-68.
        "g2p.reg.id" => {
            let same =
                |r: &Record| r["partner_id"] == row["partner_id"] && r["id_type"] == row["id_type"];
            if others(db, m, id).any(same) {
                return Err(OdooError::validation("ID Type must be unique."));
            }
            Ok(())
        }
        // G2P:g2p_registry_membership/models/group_membership.py:92-100, 193-197.
        "g2p.group.membership" => {
            let same =
                |r: &Record| r["group"] == row["group"] && r["individual"] == row["individual"];
            if others(db, m, id).any(same) {
                return Err(OdooError::validation(
                    "Duplication of Member is not allowed ",
                ));
            }
            let (ended, started) = (text(&row, "ended_date"), text(&row, "start_date"));
            if !ended.is_empty() && ended < started {
                return Err(OdooError::validation(
                    "End Date cannot be earlier than Start Date",
                ));
            }
            Ok(())
        }
        "g2p.id.type" => named(
            db,
            m,
            id,
            "name",
            "Id type should not empty.",
            "Id type already exists",
        ),
        "gender.type" => named(
            db,
            m,
            id,
            "code",
            "Gender type should not empty.",
            "Gender type should be unique",
        ),
        "g2p.group.kind" => named(
            db,
            m,
            id,
            "name",
            "kind should not empty.",
            "kind already exists",
        ),
        _ => Ok(()),
    }
}

/// Record rules: memberships of a disabled group or individual are invisible
/// (G2P:g2p_registry_membership/security/registrant_rule.xml:3-21).
pub fn hidden_by_rule(db: &Db, m: &Model, row: &Record) -> bool {
    if m.name != "g2p.group.membership" {
        return false;
    }
    ["group", "individual"].iter().any(|k| {
        row[*k]
            .as_i64()
            .and_then(|id| db.get("res.partner", id))
            .is_some_and(|p| p.get("disabled").is_some_and(|d| !d.is_null()))
    })
}

/// Deleting a row that a required Many2one points at (`ondelete='restrict'`,
/// O17:odoo/fields.py:3006-3014) is the foreign-key ValidationError.
pub fn restrict_delete(db: &Db, m: &Model, ids: &[i64]) -> Result<(), OdooError> {
    for other in super::orm::schema() {
        for f in other.fields.iter().filter(|f| f.required) {
            if f.kind != Kind::Many2one(m.name) {
                continue;
            }
            let used = db
                .table(other.name)
                .any(|r| r[f.name].as_i64().is_some_and(|id| ids.contains(&id)));
            if used {
                return Err(fk_violation(other, f.name));
            }
        }
    }
    Ok(())
}

/// The groups whose recomputed fields depend on these rows: the groups of these
/// memberships, or of the memberships of these individuals.
pub fn dependent_groups(db: &Db, m: &Model, ids: &[i64]) -> Vec<i64> {
    let hit = |r: &Record, key: &str| r[key].as_i64().is_some_and(|id| ids.contains(&id));
    let individual = |r: &Record| {
        r["individual"]
            .as_i64()
            .and_then(|id| db.get("res.partner", id))
            .is_some_and(|p| {
                p.get("is_registrant") == Some(&json!(true))
                    && p.get("is_group") != Some(&json!(true))
            })
    };
    let memberships = db.table("g2p.group.membership");
    let mut groups: Vec<i64> = match m.name {
        "g2p.group.membership" => memberships
            .filter(|r| hit(r, "id"))
            .filter_map(|r| r["group"].as_i64())
            .collect(),
        "res.partner" => memberships
            .filter(|r| hit(r, "individual") && individual(r))
            .filter_map(|r| r["group"].as_i64())
            .collect(),
        _ => Vec::new(),
    };
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// After memberships or individuals change, their groups recompute the stored canary and
/// the member count, which writes the group, so its `write_date` moves too
/// (G2P:g2p_registry_membership/models/group_membership.py:127-156, individual.py:15-47,
/// group.py:20-28, 52-60; a recompute sets `write_date`, O17:odoo/models.py:4489-4493).
/// OpenG2P counts members in a queue job, later; here it happens in the same call.
pub fn recompute(db: &mut Db, groups: &[i64]) {
    let now = db.now.clone();
    for g in groups {
        let count = db
            .table("g2p.group.membership")
            .filter(|r| r["group"].as_i64() == Some(*g))
            .filter(|r| r["ended_date"].as_str().is_none_or(|e| e > now.as_str()))
            .count();
        if let Some(row) = db.tables.get_mut("res.partner").and_then(|t| t.get_mut(g)) {
            row.insert("z_ind_grp_num_individuals".into(), json!(count));
            row.insert("force_recompute_canary".into(), json!(now));
            row.insert("write_date".into(), json!(now));
        }
    }
}

/// The ids a Many2many value names: a plain list, or `(6, 0, ids)` / `(4, id)` commands.
pub fn many2many_ids(v: &Value) -> Vec<i64> {
    let mut ids = Vec::new();
    for item in v.as_array().into_iter().flatten() {
        match item {
            Value::Number(n) => ids.extend(n.as_i64()),
            Value::Array(cmd) => match cmd.first().and_then(Value::as_i64) {
                Some(6) => ids = many2many_ids(cmd.get(2).unwrap_or(&Value::Null)),
                Some(4) => ids.extend(cmd.get(1).and_then(Value::as_i64)),
                Some(5) => ids.clear(),
                Some(3) => {
                    let gone = cmd.get(1).and_then(Value::as_i64);
                    ids.retain(|i| Some(*i) != gone);
                }
                _ => {}
            },
            _ => {}
        }
    }
    ids
}
