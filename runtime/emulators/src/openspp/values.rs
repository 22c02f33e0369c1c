//! Values between the wire and the row: what a column stores for a value a caller sends
//! (and Odoo's errors when it cannot), and what `read` shows for a stored value.

use super::domain;
use super::error::{py_repr, OdooError};
use super::orm::{invalid_field, model, Db, Record};
use super::schema::{Choices, Kind, Model};
use serde_json::{json, Value};

impl Db {
    /// One field as `read` shows it (O17:odoo/fields.py:942-951, 3098-3110).
    pub(super) fn read_value(&self, m: &Model, r: &Record, name: &str) -> Value {
        let Some(field) = m.field(name) else {
            return json!(false);
        };
        let raw = r.get(name).cloned().unwrap_or(Value::Null);
        match field.kind {
            _ if name == "display_name" => self.display_name(m, r),
            Kind::Datetime => raw
                .as_str()
                .map_or(json!(false), |s| json!(domain::read_datetime(s))),
            Kind::Boolean => json!(raw.as_bool().unwrap_or(false)),
            Kind::Integer => json!(raw.as_i64().unwrap_or(0)),
            Kind::Float => json!(raw.as_f64().unwrap_or(0.0)),
            Kind::Many2one(co) => match raw
                .as_i64()
                .and_then(|id| self.get(co, id).map(|c| (id, c)))
            {
                Some((id, c)) => json!([id, self.display_name(model(co).unwrap_or(m), c)]),
                None => json!(false),
            },
            Kind::One2many(co, inverse) => {
                let id = r["id"].as_i64();
                let mut ids: Vec<i64> = self
                    .table(co)
                    .filter(|c| c.get(inverse).and_then(Value::as_i64) == id)
                    .filter_map(|c| c["id"].as_i64())
                    .collect();
                ids.sort();
                json!(ids)
            }
            Kind::Many2many(_) => {
                if raw.is_array() {
                    raw
                } else {
                    json!([])
                }
            }
            _ => {
                if raw.is_null() {
                    json!(false)
                } else {
                    raw
                }
            }
        }
    }

    fn display_name(&self, m: &Model, r: &Record) -> Value {
        r.get(m.rec_name)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(json!(false))
    }

    /// Values as the column stores them; One2many commands apart, for after the row.
    pub(super) fn convert(
        &self,
        m: &Model,
        vals: &Record,
    ) -> Result<(Record, Vec<(String, Value)>), OdooError> {
        let mut plain = Record::new();
        let mut commands = Vec::new();
        for (key, v) in vals {
            let Some(field) = m.field(key) else {
                return Err(invalid_field(m.name, key));
            };
            if let Kind::One2many(..) = field.kind {
                commands.push((key.clone(), v.clone()));
                continue;
            }
            plain.insert(key.clone(), self.column(m, key, field.kind, v)?);
        }
        Ok((plain, commands))
    }

    fn column(&self, m: &Model, key: &str, kind: Kind, v: &Value) -> Result<Value, OdooError> {
        let empty = v.is_null() || *v == json!(false);
        Ok(match kind {
            Kind::Boolean => json!(v.as_bool().unwrap_or(!empty && *v != json!(0))),
            _ if empty => Value::Null,
            Kind::Char(size) => {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                match size {
                    Some(n) => json!(text.chars().take(n).collect::<String>()),
                    None => json!(text),
                }
            }
            Kind::Text => json!(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            Kind::Integer => json!(v.as_i64().unwrap_or(0)),
            Kind::Float => json!(v.as_f64().unwrap_or(0.0)),
            // `to_date` cuts a longer string to 10 characters (O17:odoo/fields.py:2150-2170).
            Kind::Date => {
                let s: String = v.as_str().unwrap_or_default().chars().take(10).collect();
                chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
                    OdooError::value_error(format!(
                        "time data {} does not match format '%Y-%m-%d'",
                        py_repr(v)
                    ))
                })?;
                json!(s)
            }
            // `to_datetime` cuts the fraction (O17:odoo/fields.py:2262-2280).
            Kind::Datetime => {
                let s: String = v.as_str().unwrap_or_default().chars().take(19).collect();
                match domain::literal_datetime(&s, "=") {
                    Some(t) => json!(t),
                    None => {
                        return Err(OdooError::value_error(format!(
                            "time data {} does not match format '%Y-%m-%d %H:%M:%S'",
                            py_repr(v)
                        )))
                    }
                }
            }
            // O17:odoo/fields.py:2831-2838.
            Kind::Selection(choices) => {
                let ok = v.as_str().is_some_and(|s| match choices {
                    Choices::Fixed(list) => list.contains(&s),
                    Choices::GenderValues => self.table("gender.type").any(|g| {
                        g.get("active") != Some(&json!(false)) && g.get("value") == Some(v)
                    }),
                });
                if !ok {
                    return Err(OdooError::value_error(format!(
                        "Wrong value for {}.{key}: {}",
                        m.name,
                        py_repr(v)
                    )));
                }
                v.clone()
            }
            // A string reaches PostgreSQL as is (O17:odoo/fields.py:3058-3059).
            Kind::Many2one(co) => match v {
                Value::Number(n) if n.is_i64() => {
                    let id = n.as_i64().unwrap_or_default();
                    if self.get(co, id).is_none() {
                        return Err(super::rules::fk_violation(m, key));
                    }
                    v.clone()
                }
                other => {
                    return Err(OdooError::new(
                        "psycopg2.errors.InvalidTextRepresentation",
                        format!(
                            "invalid input syntax for type integer: \"{}\"",
                            other
                                .as_str()
                                .map_or_else(|| other.to_string(), str::to_string)
                        ),
                    ))
                }
            },
            Kind::Many2many(_) => json!(super::rules::many2many_ids(v)),
            Kind::One2many(..) => Value::Null,
        })
    }
}
