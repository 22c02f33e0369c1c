//! DataCollect data ↔ OpenSPP `res.partner` values, the way DataCollect's original adapter
//! mapped them (DC:…/openspp/OpenSppSyncAdapter.ts:409-457 and its pull transformers), on
//! the fields stock OpenSPP has.

use crate::options::{Entity, Settings, HOUSEHOLD, INDIVIDUAL};
use serde_json::{json, Map, Value};

/// Individual or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Individual,
    Group,
}

impl Kind {
    pub fn is_group(self) -> bool {
        self == Kind::Group
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Individual => "individual",
            Kind::Group => "group",
        }
    }

    fn table(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Kind::Individual => INDIVIDUAL,
            Kind::Group => HOUSEHOLD,
        }
    }

    fn options(self, s: &Settings) -> &Entity {
        match self {
            Kind::Individual => &s.individual,
            Kind::Group => &s.household,
        }
    }
}

/// OpenSPP's genders: `res.partner.gender` is a Selection whose values are the `value` of
/// each `gender.type`, case-sensitive (G2P:g2p_registry_individual/models/individual.py:16-18,
/// 27); anything else is `ValueError: Wrong value` (O17:odoo/fields.py:2831-2838).
#[derive(Clone, Debug, Default)]
pub struct Genders {
    /// `(code, value)` of each active gender type.
    pub types: Vec<(String, String)>,
}

impl Genders {
    /// The Selection value for a DataCollect gender, matched case-insensitively on the
    /// value, then on the code.
    pub fn resolve(&self, given: &str) -> Option<&str> {
        let g = given.trim();
        self.types
            .iter()
            .find(|(_, v)| v.eq_ignore_ascii_case(g))
            .or_else(|| self.types.iter().find(|(c, _)| c.eq_ignore_ascii_case(g)))
            .map(|(_, v)| v.as_str())
    }

    fn known(&self) -> String {
        let v: Vec<&str> = self.types.iter().map(|(_, v)| v.as_str()).collect();
        v.join(", ")
    }
}

/// A Char value: text as is, a number or boolean as text, empty as `false` (clears it).
fn text(v: &Value) -> Value {
    match v {
        Value::Null => json!(false),
        Value::String(s) if s.trim().is_empty() => json!(false),
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}

/// The `res.partner` values for a DataCollect entity's data, or why the record cannot go.
/// Only the fields present in `data` are written (an update carries what changed).
pub fn partner_values(
    kind: Kind,
    data: &Map<String, Value>,
    settings: &Settings,
    genders: Option<&Genders>,
) -> Result<Map<String, Value>, String> {
    let options = kind.options(settings);
    let mut vals = Map::new();
    for (odoo, dc) in options.pairs(kind.table()) {
        let Some(v) = data.get(dc) else { continue };
        let value = match odoo {
            // Computed by OpenG2P from the memberships: never written.
            "z_ind_grp_num_individuals" => continue,
            "gender" => match v.as_str().map(str::trim).filter(|s| !s.is_empty()) {
                None => json!(false),
                Some(g) => match genders.and_then(|gs| gs.resolve(g)) {
                    Some(value) => json!(value),
                    None => {
                        return Err(format!(
                            "{dc} {g:?} is not one of OpenSPP's genders ({}); add it as a gender type in OpenSPP or correct the record",
                            genders.map(Genders::known).unwrap_or_default()
                        ))
                    }
                },
            },
            "birthdate" => match v.as_str().map(str::trim).filter(|s| !s.is_empty()) {
                None => json!(false),
                Some(d) => json!(date(d).ok_or_else(|| format!(
                    "{dc} {d:?} is not a date (YYYY-MM-DD)"
                ))?),
            },
            _ if options.odoo_fields.contains_key(odoo) => {
                if v.is_null() {
                    json!(false)
                } else {
                    v.clone()
                }
            }
            _ => text(v),
        };
        vals.insert(odoo.to_string(), value);
    }
    Ok(vals)
}

/// The name a new individual gets when its data has none: "given family", as the original
/// did (OpenSppSyncAdapter.ts:432-457). Without either, Odoo refuses the contact.
pub fn fallback_name(data: &Map<String, Value>, settings: &Settings) -> Option<String> {
    let field = |name: &str| {
        settings
            .individual
            .field_map
            .get(name)
            .and_then(|dc| data.get(dc))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let parts: Vec<&str> = [field("firstName"), field("lastName")]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// `YYYY-MM-DD` from a date or an ISO date-time.
fn date(s: &str) -> Option<String> {
    let d: String = s.chars().take(10).collect();
    let ok = d.len() == 10
        && d.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
        && crate::time::parse(&format!("{d} 00:00:00")).is_some();
    ok.then_some(d)
}

/// The OpenSPP fields a pull reads for `kind`.
pub fn read_fields(kind: Kind, settings: &Settings) -> Vec<String> {
    kind.options(settings)
        .pairs(kind.table())
        .into_iter()
        .map(|(odoo, _)| odoo.to_string())
        .collect()
}

/// A pulled partner as DataCollect data, under the DataCollect field names (the original's
/// transformers, DC:…/openspp/pullTransformers/IndividualTransformer.ts:41-168,
/// HouseholdTransformer.ts:41-126). Empty values (`false`) are left out.
pub fn pulled_data(kind: Kind, row: &Value, settings: &Settings) -> Map<String, Value> {
    let mut data = Map::new();
    for (odoo, dc) in kind.options(settings).pairs(kind.table()) {
        match row.get(odoo) {
            None | Some(Value::Bool(false)) | Some(Value::Null) => {}
            Some(v) => {
                data.insert(dc.to_string(), v.clone());
            }
        }
    }
    if let Some(name) = row.get("name").and_then(Value::as_str) {
        data.insert("name".into(), json!(name));
    }
    data
}
