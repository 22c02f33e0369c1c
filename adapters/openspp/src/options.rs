//! The config: the extra fields and `opensppAdapterOptions`, checked in one place for
//! `validate` and for every call.
//!
//! `opensppAdapterOptions` is, as for DataCollect's original adapter, an extra field whose
//! value is a JSON *string* (DC:packages/datacollect/src/components/openspp/OpenSppAdapterOptions.ts:139-152)
//! of the shape `{root?, household?, individual?: {entityName?, parentField?, fieldMap?,
//! collections?}, adminAreaFields?}`. `fieldMap` maps the original's names (`firstName`…)
//! to DataCollect form fields, merged over the original's defaults. Added here:
//! `odooFields` (`{"<OpenSPP field>": "<DataCollect field>"}`, for every other field a
//! deployment has) and `household.kind` (the group kind, default `Household`).

use datacollect_adapter_sdk::{Config, FieldProblem, SyncError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The original's names for the individual fields, the stock OpenSPP field each maps to
/// (G2P:g2p_registry_individual/models/individual.py:20-27; base contact fields), and the
/// DataCollect field the original used by default (OpenSppAdapterOptions.ts:77-137).
pub const INDIVIDUAL: &[(&str, &str, &str)] = &[
    ("firstName", "given_name", "first_name"),
    ("lastName", "family_name", "last_name"),
    ("middleName", "addl_name", "middle_name"),
    ("displayName", "name", "name"),
    ("gender", "gender", "gender"),
    ("dateOfBirth", "birthdate", "date_of_birth"),
    ("email", "email", "email_address"),
    ("phone", "phone", "phone_number"),
];

/// The same for groups. Stock OpenSPP has no writable household size (the original's
/// `hh_size` is a deployment's own field): the size is OpenG2P's member count
/// `z_ind_grp_num_individuals` (G2P:g2p_registry_membership/models/group.py:24-28), pulled,
/// never pushed.
pub const HOUSEHOLD: &[(&str, &str, &str)] = &[
    ("name", "name", "name"),
    (
        "householdSize",
        "z_ind_grp_num_individuals",
        "household_size",
    ),
];

/// Fields the adapter sets itself: `odooFields` may not name them.
const MANAGED: &[&str] = &[
    "id",
    "is_registrant",
    "is_group",
    "kind",
    "reg_ids",
    "group_membership_ids",
    "individual_membership_ids",
    "active",
    "write_date",
    "create_date",
    "display_name",
    "z_ind_grp_num_individuals",
];

/// How one kind of entity maps.
#[derive(Clone, Debug, Default)]
pub struct Entity {
    /// The original's name → DataCollect field.
    pub field_map: BTreeMap<String, String>,
    /// OpenSPP field → DataCollect field, for the fields a deployment adds.
    pub odoo_fields: BTreeMap<String, String>,
}

impl Entity {
    fn defaults(table: &[(&str, &str, &str)]) -> Self {
        Entity {
            field_map: table
                .iter()
                .map(|(name, _, dc)| (name.to_string(), dc.to_string()))
                .collect(),
            odoo_fields: BTreeMap::new(),
        }
    }

    /// `(OpenSPP field, DataCollect field)` for every mapped field of `table`, the
    /// operator's `odooFields` last.
    pub fn pairs<'a>(&'a self, table: &'a [(&str, &str, &str)]) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = table
            .iter()
            .filter_map(|(name, odoo, _)| self.field_map.get(*name).map(|dc| (*odoo, dc.as_str())))
            .collect();
        out.extend(
            self.odoo_fields
                .iter()
                .map(|(o, d)| (o.as_str(), d.as_str())),
        );
        out
    }
}

/// Everything the adapter reads from a config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database: String,
    /// The `g2p.id.type` that holds DataCollect guids (`idTypeName`).
    pub id_type_name: String,
    /// A group the sync user must be in (`registrarGroup`, `module.name`).
    pub registrar_group: Option<String>,
    pub household: Entity,
    pub individual: Entity,
    /// The `g2p.group.kind` of pushed groups.
    pub kind: String,
}

pub const DEFAULT_ID_TYPE: &str = "DataCollect ID";

impl Settings {
    /// The settings, or a config error naming every problem.
    pub fn from_config(config: &Config) -> Result<Self, SyncError> {
        let (settings, problems) = Self::read(config);
        if problems.is_empty() {
            return Ok(settings);
        }
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("field `{}`: {}", p.field, p.message))
            .collect();
        Err(SyncError::Config(text.join("; ")))
    }

    /// Every problem with the config, field by field.
    pub fn problems(config: &Config) -> Vec<FieldProblem> {
        Self::read(config).1
    }

    fn read(config: &Config) -> (Self, Vec<FieldProblem>) {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(FieldProblem::new(&format!("extraFields.{field}"), message))
        };
        let database = config
            .extra("database")
            .unwrap_or_default()
            .trim()
            .to_string();
        if database.is_empty() {
            problem("database", "required: the Odoo database name".into());
        }
        let has_password = config.has_secret("password") || config.extra("password").is_some();
        match (config.extra("username").is_some(), has_password) {
            (true, false) => problem("password", "required with `username`".into()),
            (false, true) => problem(
                "username",
                "required with `password` (or leave both out and pass credentials to the sync)"
                    .into(),
            ),
            _ => {}
        }
        let id_type_name = config
            .extra("idTypeName")
            .map(str::trim)
            .unwrap_or(DEFAULT_ID_TYPE)
            .to_string();
        if id_type_name.is_empty() {
            problem(
                "idTypeName",
                "must name an ID type, e.g. \"DataCollect ID\"".into(),
            );
        }
        let registrar_group = config.extra("registrarGroup").map(|g| g.trim().to_string());
        if let Some(g) = &registrar_group {
            // `has_group` wants `module.name` (O17:odoo/addons/base/models/res_users.py:1094-1095).
            let ok = g.matches('.').count() == 1
                && g.split('.').all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !ok {
                problem(
                    "registrarGroup",
                    format!("{g:?} is not an external id `module.name`; OpenG2P's registrar group is \"g2p_registry_base.group_g2p_registrar\""),
                );
            }
        }
        let mut settings = Settings {
            database,
            id_type_name,
            registrar_group,
            household: Entity::defaults(HOUSEHOLD),
            individual: Entity::defaults(INDIVIDUAL),
            kind: "Household".into(),
        };
        if let Some(text) = config.extra("opensppAdapterOptions") {
            for message in settings.merge_options(text) {
                problem("opensppAdapterOptions", message);
            }
        }
        (settings, problems)
    }

    /// Merge `opensppAdapterOptions` over the defaults; the problems found, with their path.
    fn merge_options(&mut self, text: &str) -> Vec<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return vec![format!("is not JSON: {e}")],
        };
        let Some(obj) = value.as_object() else {
            return vec!["must be a JSON object (as a string), e.g. {\"individual\": {\"fieldMap\": {\"firstName\": \"given\"}}}".into()];
        };
        let mut problems = Vec::new();
        for (key, v) in obj {
            match key.as_str() {
                "household" => {
                    if let Some(kind) = v.get("kind") {
                        match kind.as_str().map(str::trim).filter(|k| !k.is_empty()) {
                            Some(k) => self.kind = k.to_string(),
                            None => problems.push(
                                "household.kind: must be a group kind's name, e.g. \"Household\""
                                    .into(),
                            ),
                        }
                    }
                    entity(
                        &mut self.household,
                        HOUSEHOLD,
                        "household",
                        v,
                        &["kind"],
                        &mut problems,
                    );
                }
                "individual" => entity(
                    &mut self.individual,
                    INDIVIDUAL,
                    "individual",
                    v,
                    &[],
                    &mut problems,
                ),
                "root" => entity(&mut Entity::default(), &[], "root", v, &[], &mut problems),
                "adminAreaFields" if v.is_object() => {}
                "adminAreaFields" => problems.push("adminAreaFields: must be an object".into()),
                other => problems.push(format!(
                    "unknown key {other:?} (expected household, individual, root, adminAreaFields)"
                )),
            }
        }
        problems
    }
}

/// Merge one entity's options; the original's keys are accepted, `fieldMap` keys it maps
/// to no stock field are kept but unused.
fn entity(
    into: &mut Entity,
    table: &[(&str, &str, &str)],
    path: &str,
    v: &Value,
    extra_keys: &[&str],
    problems: &mut Vec<String>,
) {
    let Some(obj) = v.as_object() else {
        problems.push(format!("{path}: must be an object"));
        return;
    };
    for (key, v) in obj {
        match key.as_str() {
            "entityName" | "parentField" if !v.is_string() => {
                problems.push(format!("{path}.{key}: must be a string"))
            }
            "entityName" | "parentField" => {}
            "collections" if !v.is_object() => {
                problems.push(format!("{path}.collections: must be an object"))
            }
            "collections" => {}
            "fieldMap" => {
                for (name, dc) in strings(v, &format!("{path}.fieldMap"), problems) {
                    if table.iter().any(|(n, _, _)| *n == name) {
                        into.field_map.insert(name, dc);
                    }
                }
            }
            "odooFields" => {
                for (odoo, dc) in strings(v, &format!("{path}.odooFields"), problems) {
                    let name_ok = odoo
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                        && odoo
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !name_ok {
                        problems.push(format!(
                            "{path}.odooFields: {odoo:?} is not an OpenSPP field name"
                        ));
                    } else if MANAGED.contains(&odoo.as_str()) {
                        problems.push(format!(
                            "{path}.odooFields: {odoo:?} is set by the adapter itself"
                        ));
                    } else {
                        into.odoo_fields.insert(odoo, dc);
                    }
                }
            }
            k if extra_keys.contains(&k) => {}
            other => problems.push(format!("{path}: unknown key {other:?}")),
        }
    }
}

/// An object of strings, as pairs; problems for anything else.
fn strings(v: &Value, path: &str, problems: &mut Vec<String>) -> Vec<(String, String)> {
    let Some(obj): Option<&Map<String, Value>> = v.as_object() else {
        problems.push(format!("{path}: must be an object of strings"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in obj {
        match v.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => out.push((k.clone(), s.to_string())),
            None => problems.push(format!("{path}.{k}: must be a non-empty string")),
        }
    }
    out
}
