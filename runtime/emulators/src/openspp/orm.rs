//! The records and the ORM methods a sync calls: `create`, `write`, `read`, `search*`,
//! `unlink`, with Odoo's order of checks (access rights, then fields, then the database)
//! and its write dates. Constraints and recomputes are in `rules.rs`, value conversions in
//! `values.rs`.

use super::domain;
use super::error::{py_repr, OdooError};
use super::schema::{self, Kind, Model};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub type Record = Map<String, Value>;

/// Who calls, and how: the caller's groups decide the access rights.
#[derive(Clone, Debug)]
pub struct Env {
    pub uid: i64,
    pub groups: Vec<String>,
    /// The test harness acting as the database itself: no access checks.
    pub superuser: bool,
    /// `context.active_test` (default true): searches hide archived records.
    pub active_test: bool,
}

impl Env {
    pub fn superuser() -> Self {
        Env {
            uid: 1,
            groups: Vec::new(),
            superuser: true,
            active_test: true,
        }
    }

    pub fn has_group(&self, xmlid: &str) -> bool {
        self.groups.iter().any(|g| g == xmlid)
    }
}

/// Every model's rows, and the time of the transaction in progress.
#[derive(Clone, Debug)]
pub struct Db {
    pub tables: BTreeMap<String, BTreeMap<i64, Record>>,
    next_ids: BTreeMap<String, i64>,
    /// `cr.now()`: one UTC timestamp with microseconds per transaction, shared by every
    /// record it touches (O17:odoo/sql_db.py:470-505); stored form (see `domain`).
    pub now: String,
}

/// The schema, built once.
pub fn schema() -> &'static [Model] {
    static MODELS: std::sync::OnceLock<Vec<Model>> = std::sync::OnceLock::new();
    MODELS.get_or_init(schema::models)
}

pub fn model(name: &str) -> Result<&'static Model, OdooError> {
    schema()
        .iter()
        .find(|m| m.name == name)
        // O17:odoo/service/model.py:47-49.
        .ok_or_else(|| OdooError::user_error(format!("Object {name} doesn't exist")))
}

/// `Invalid field 'x' on model 'y'` (O17:odoo/models.py:4355-4358, 4579-4582, 3869-3879).
pub fn invalid_field(model: &str, field: &str) -> OdooError {
    OdooError::value_error(format!(
        "Invalid field {} on model {}",
        py_repr(&json!(field)),
        py_repr(&json!(model))
    ))
}

const MODES: [(&str, &str); 4] = [
    ("read", "access"),
    ("write", "modify"),
    ("create", "create"),
    ("unlink", "delete"),
];

impl Db {
    pub fn new(now: String) -> Self {
        Db {
            tables: BTreeMap::new(),
            next_ids: BTreeMap::new(),
            now,
        }
    }

    pub fn table(&self, model: &str) -> impl Iterator<Item = &Record> {
        self.tables.get(model).into_iter().flat_map(|t| t.values())
    }

    pub fn get(&self, model: &str, id: i64) -> Option<&Record> {
        self.tables.get(model).and_then(|t| t.get(&id))
    }

    /// The ACL check and its message (O17:odoo/addons/base/models/ir_model.py:2027-2072).
    pub fn check_access(&self, env: &Env, m: &Model, mode: usize) -> Result<(), OdooError> {
        if env.superuser {
            return Ok(());
        }
        let allowed = m
            .acl
            .iter()
            .any(|(group, perms)| perms[mode] && group.is_none_or(|g| env.has_group(g)));
        if allowed {
            return Ok(());
        }
        let (_, verb) = MODES[mode];
        let mut groups: Vec<&str> = m
            .acl
            .iter()
            .filter(|(g, p)| g.is_some() && p[mode])
            .filter_map(|(g, _)| {
                schema::GROUPS
                    .iter()
                    .find(|(x, _)| Some(*x) == *g)
                    .map(|(_, n)| *n)
            })
            .collect();
        groups.sort();
        let group_info = if groups.is_empty() {
            "No group currently allows this operation.".to_string()
        } else {
            let lines: Vec<String> = groups.iter().map(|g| format!("\t- {g}")).collect();
            format!(
                "This operation is allowed for the following groups:\n{}",
                lines.join("\n")
            )
        };
        Err(OdooError::access_error(format!(
            "You are not allowed to {verb} '{}' ({}) records.\n\n{group_info}\n\nContact your administrator to request access if necessary.",
            m.description, m.name
        )))
    }

    /// `create`: access rights first, then the fields (O17:odoo/models.py:4562, 4579-4582),
    /// then the row and its database constraints, then Python constraints.
    pub fn create(&mut self, env: &Env, m: &Model, vals: &Record) -> Result<i64, OdooError> {
        self.check_access(env, m, 2)?;
        for key in vals.keys() {
            if m.field(key).is_none() {
                return Err(invalid_field(m.name, key));
            }
        }
        let next = self
            .next_ids
            .entry(m.name.to_string())
            .or_insert(match m.name {
                "res.partner" => 100,
                _ => 0,
            });
        *next += 1;
        let id = *next;
        // A row has every column; One2many fields are read from the other side.
        let mut row: Record = m
            .fields
            .iter()
            .filter(|f| !matches!(f.kind, Kind::One2many(..)))
            .map(|f| (f.name.to_string(), Value::Null))
            .collect();
        row.extend(super::rules::defaults(m, &self.now));
        let (plain, commands) = self.convert(m, vals)?;
        row.extend(plain);
        row.insert("id".into(), json!(id));
        row.insert("create_date".into(), json!(self.now));
        row.insert("write_date".into(), json!(self.now));
        self.tables
            .entry(m.name.to_string())
            .or_default()
            .insert(id, row);
        self.apply_commands(env, m, id, commands)?;
        super::rules::not_null(self, m, id)?;
        super::rules::check(self, m, id)?;
        let groups = super::rules::dependent_groups(self, m, &[id]);
        super::rules::recompute(self, &groups);
        Ok(id)
    }

    /// `write`: access rights, then fields (O17:odoo/models.py:4333-4358). Archived records
    /// can be written (no check blocks it); `write_date` is the transaction's.
    pub fn write(
        &mut self,
        env: &Env,
        m: &Model,
        ids: &[i64],
        vals: &Record,
    ) -> Result<(), OdooError> {
        self.check_access(env, m, 1)?;
        for key in vals.keys() {
            if m.field(key).is_none() {
                return Err(invalid_field(m.name, key));
            }
        }
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| self.get(m.name, *id).is_none())
            .collect();
        if !missing.is_empty() && !env.superuser {
            // The record rule check drops missing ids (O17:odoo/models.py:4127-4154).
            return Err(OdooError::missing(format!(
                "One of the documents you are trying to access has been deleted, please try again after refreshing.\n\n(Document type: {}, Operation: write, Records: {missing:?}, User: {})",
                m.description, env.uid
            )));
        }
        let (plain, commands) = self.convert(m, vals)?;
        let mut groups = super::rules::dependent_groups(self, m, ids);
        let now = self.now.clone();
        for id in ids {
            if let Some(row) = self.tables.get_mut(m.name).and_then(|t| t.get_mut(id)) {
                row.extend(plain.clone());
                row.insert("write_date".into(), json!(now));
            }
            self.apply_commands(env, m, *id, commands.clone())?;
            super::rules::not_null(self, m, *id)?;
            super::rules::check(self, m, *id)?;
        }
        groups.extend(super::rules::dependent_groups(self, m, ids));
        super::rules::recompute(self, &groups);
        Ok(())
    }

    /// `unlink` (O17:odoo/models.py:4197-4198), then OpenG2P's registrar refusal
    /// (G2P:g2p_registry_base/models/registrant.py:100-114) and the foreign keys.
    pub fn unlink(&mut self, env: &Env, m: &Model, ids: &[i64]) -> Result<(), OdooError> {
        self.check_access(env, m, 3)?;
        if m.name == "res.partner"
            && env.has_group(schema::REGISTRAR)
            && !env.has_group(schema::ADMIN)
        {
            return Err(OdooError::user_error(
                "You do not have the necessary permissions to delete partner records. Please contact the administrator.",
            ));
        }
        super::rules::restrict_delete(self, m, ids)?;
        let groups = super::rules::dependent_groups(self, m, ids);
        for id in ids {
            if let Some(t) = self.tables.get_mut(m.name) {
                t.remove(id);
            }
        }
        super::rules::recompute(self, &groups);
        Ok(())
    }

    /// `search`: read rights, the domain (its errors come first), `active = True` unless
    /// the context or the domain says otherwise (O17:odoo/models.py:5117-5123, 5406-5415).
    pub fn search(
        &self,
        env: &Env,
        m: &Model,
        domain: &[Value],
        order: Option<&str>,
    ) -> Result<Vec<i64>, OdooError> {
        self.check_access(env, m, 0)?;
        domain::check(m, domain)?;
        let keys = domain::order(m, order.unwrap_or(m.order))?;
        let hide_archived =
            env.active_test && m.field("active").is_some() && !domain::mentions(domain, "active");
        let mut rows = Vec::new();
        for r in self.table(m.name) {
            if hide_archived && r.get("active") == Some(&json!(false)) {
                continue;
            }
            if super::rules::hidden_by_rule(self, m, r) {
                continue;
            }
            if domain::matches(m, domain, r)? {
                rows.push(r);
            }
        }
        domain::sort(&mut rows, &keys);
        Ok(rows.iter().filter_map(|r| r["id"].as_i64()).collect())
    }

    /// `read`: no `active` filter; ids that do not exist are dropped without an error
    /// (O17:odoo/models.py:3554-3556, 3764-3772). `fields` empty or absent: all of them.
    pub fn read(
        &self,
        env: &Env,
        m: &Model,
        ids: &[i64],
        fields: &[String],
    ) -> Result<Vec<Value>, OdooError> {
        self.check_access(env, m, 0)?;
        for f in fields {
            if m.field(f).is_none() {
                return Err(invalid_field(m.name, f));
            }
        }
        let names: Vec<&str> = if fields.is_empty() {
            m.fields.iter().map(|f| f.name).collect()
        } else {
            fields.iter().map(String::as_str).collect()
        };
        Ok(ids
            .iter()
            .filter_map(|id| self.get(m.name, *id))
            .map(|r| {
                let mut out = Map::new();
                out.insert("id".into(), r["id"].clone());
                for name in &names {
                    out.insert(name.to_string(), self.read_value(m, r, name));
                }
                Value::Object(out)
            })
            .collect())
    }

    /// One2many commands: `(0, 0, vals)` create, `(1, id, vals)` update, `(4, id)` link,
    /// `(6, 0, ids)` set (O17:odoo/fields.py, `Command`).
    fn apply_commands(
        &mut self,
        env: &Env,
        m: &Model,
        id: i64,
        commands: Vec<(String, Value)>,
    ) -> Result<(), OdooError> {
        for (key, list) in commands {
            let Some(Kind::One2many(co, inverse)) = m.field(&key).map(|f| f.kind) else {
                continue;
            };
            let comodel = model(co)?;
            for cmd in list.as_array().into_iter().flatten() {
                let code = cmd.get(0).and_then(Value::as_i64);
                let target = cmd.get(1).and_then(Value::as_i64).unwrap_or_default();
                match code {
                    Some(0) => {
                        let mut vals = cmd
                            .get(2)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        vals.insert(inverse.into(), json!(id));
                        self.create(env, comodel, &vals)?;
                    }
                    Some(1) => {
                        let vals = cmd
                            .get(2)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        self.write(env, comodel, &[target], &vals)?;
                    }
                    Some(4) => {
                        self.write(
                            env,
                            comodel,
                            &[target],
                            &json!({ inverse: id })
                                .as_object()
                                .cloned()
                                .unwrap_or_default(),
                        )?;
                    }
                    Some(6) => {
                        for child in super::rules::many2many_ids(cmd.get(2).unwrap_or(&Value::Null))
                        {
                            self.write(
                                env,
                                comodel,
                                &[child],
                                &json!({ inverse: id })
                                    .as_object()
                                    .cloned()
                                    .unwrap_or_default(),
                            )?;
                        }
                    }
                    _ => {
                        return Err(OdooError::value_error(format!(
                            "Invalid command {} for field {}",
                            py_repr(cmd),
                            key
                        )))
                    }
                }
            }
        }
        Ok(())
    }
}
