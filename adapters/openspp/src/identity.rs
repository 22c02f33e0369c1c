//! Which OpenSPP partner is which DataCollect entity, with stock means only.
//!
//! Stock OpenSPP has no field for a DataCollect guid (a custom one is `Invalid field`), so
//! the guid is kept as a registrant ID: a `g2p.reg.id` of the ID type `idTypeName`
//! (G2P:g2p_registry_base/models/reg_id.py:9-68; one per partner and type, `value` is
//! `Char(100)`). A partner without one is, on pull, the entity `openspp:<db>:<id>`; and it
//! carries `externalId` = its id, which is how DataCollect's original adapter knew it
//! (DC:…/openspp/OpenSppSyncAdapter.ts:300, 327), so the host can match an entity pulled
//! before by that adapter. On push an entity is found by its registrant ID, then by such a
//! guid, then by the `externalId` in its data.

use crate::mapping::Genders;
use crate::rpc::{OdooError, Session};
use datacollect_adapter_sdk::{host, SyncError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `g2p.reg.id.value` is `Char(size=100)`: longer values are cut without a word
/// (O17:odoo/fields.py:1939-1949), so a longer guid cannot be kept.
pub const MAX_GUID: usize = 100;

/// The entity guid of a partner that has no DataCollect ID.
pub fn partner_guid(db: &str, id: i64) -> String {
    format!("openspp:{db}:{id}")
}

/// The partner id a [`partner_guid`] of this database stands for.
pub fn partner_of_guid(db: &str, guid: &str) -> Option<i64> {
    guid.strip_prefix("openspp:")?
        .strip_prefix(db)?
        .strip_prefix(':')?
        .parse()
        .ok()
        .filter(|id| *id > 0)
}

/// Values looked up once per run and kept in the run state.
fn cached<T>(
    key: &str,
    load: impl FnOnce() -> Result<T, SyncError>,
    to: impl Fn(&T) -> String,
    from: impl Fn(&str) -> Option<T>,
) -> Result<T, SyncError> {
    if let Some(v) = host::run_get(key).as_deref().and_then(from) {
        return Ok(v);
    }
    let v = load()?;
    host::run_set(key, &to(&v));
    Ok(v)
}

impl Session<'_> {
    /// The ID type holding DataCollect guids: found by name (case-insensitively, as
    /// OpenG2P keeps names unique), else created. A registrar may only read ID types
    /// (G2P:g2p_registry_base/security/ir.model.access.csv:24): then the run stops with what
    /// the operator must do. `create` false: `None` when it does not exist.
    pub fn id_type(&self, create: bool) -> Result<Option<i64>, SyncError> {
        let name = self.settings.id_type_name.clone();
        let found = cached(
            "openspp.id_type",
            || self.find_id_type(&name),
            |v| v.map_or("none".into(), |id| id.to_string()),
            |s| Some(s.parse().ok()),
        )?;
        if found.is_some() || !create {
            return Ok(found);
        }
        let vals = json!([{"name": name}]);
        match self.execute("g2p.id.type", "create", vals, json!({}))? {
            Ok(id) => {
                let id = id.as_i64().or_else(|| id.get(0).and_then(Value::as_i64));
                if let Some(id) = id {
                    host::run_set("openspp.id_type", &id.to_string());
                }
                Ok(id)
            }
            Err(e) if e.name.ends_with("AccessError") => Err(SyncError::Config(format!(
                "OpenSPP has no ID type {name:?} (idTypeName) to keep DataCollect ids, and the sync user may not create one (creating g2p.id.type records needs OpenG2P's Administrator group). Create the ID type {name:?} in OpenSPP (Registry > Configuration > ID Types), or run the first sync as an administrator. OpenSPP said: {}",
                e.message
            ))),
            Err(e) => Err(crate::rpc::run_error(e, "g2p.id.type", "create")),
        }
    }

    fn find_id_type(&self, name: &str) -> Result<Option<i64>, SyncError> {
        // `=ilike` without wildcards is a case-insensitive equality, but `_` and `%` in
        // the name are wildcards: compare the names here too.
        let rows = self.search_read(
            "g2p.id.type",
            json!([["name", "=ilike", name]]),
            &["name"],
            None,
            None,
        )?;
        Ok(rows
            .iter()
            .find(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|r| r["id"].as_i64()))
    }

    /// OpenSPP's genders, read once per run (`gender.type` is readable by every user,
    /// G2P:g2p_registry_individual/security/ir.model.access.csv:2-3).
    pub fn genders(&self) -> Result<Genders, SyncError> {
        let types = cached(
            "openspp.genders",
            || {
                let rows = self.run(
                    "gender.type",
                    "search_read",
                    json!([[]]),
                    json!({"fields": ["code", "value"]}),
                )?;
                Ok(rows
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        Some((
                            r["code"].as_str()?.to_string(),
                            r["value"].as_str()?.to_string(),
                        ))
                    })
                    .collect::<Vec<_>>())
            },
            |v| serde_json::to_string(v).unwrap_or_default(),
            |s| serde_json::from_str(s).ok(),
        )?;
        Ok(Genders { types })
    }

    /// The `g2p.group.kind` of pushed groups (OpenG2P seeds Household and Family,
    /// G2P:g2p_registry_group/data/group_kinds.xml:3-8).
    pub fn group_kind(&self) -> Result<i64, SyncError> {
        let name = self.settings.kind.clone();
        cached(
            "openspp.kind",
            || {
                let rows = self.search_read(
                    "g2p.group.kind",
                    json!([["name", "=ilike", name]]),
                    &["name"],
                    None,
                    None,
                )?;
                rows.iter()
                    .find(|r| r["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name)))
                    .and_then(|r| r["id"].as_i64())
                    .ok_or_else(|| SyncError::Config(format!(
                        "OpenSPP has no group kind {name:?} (opensppAdapterOptions household.kind): create it, or name an existing one"
                    )))
            },
            i64::to_string,
            |s| s.parse().ok(),
        )
    }

    /// The partner each of `guids` is registered under (its DataCollect ID).
    pub fn partners_by_guid(
        &self,
        id_type: i64,
        guids: &[String],
    ) -> Result<BTreeMap<String, i64>, SyncError> {
        if guids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let rows = self.search_read(
            "g2p.reg.id",
            json!([["id_type", "=", id_type], ["value", "in", guids]]),
            &["partner_id", "value"],
            None,
            None,
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r["value"].as_str()?.to_string(),
                    many2one(&r["partner_id"])?,
                ))
            })
            .collect())
    }

    /// The DataCollect ID of each of `partners` that has one.
    pub fn guids_of(
        &self,
        id_type: i64,
        partners: &[i64],
    ) -> Result<BTreeMap<i64, String>, SyncError> {
        if partners.is_empty() {
            return Ok(BTreeMap::new());
        }
        let rows = self.search_read(
            "g2p.reg.id",
            json!([["id_type", "=", id_type], ["partner_id", "in", partners]]),
            &["partner_id", "value"],
            None,
            None,
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    many2one(&r["partner_id"])?,
                    r["value"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// A partner by id, archived or not (`read` ignores `active`, O17:odoo/models.py:3554-3556;
    /// a missing id gives no row).
    pub fn partner(&self, id: i64) -> Result<Option<Value>, SyncError> {
        let rows = self.run(
            "res.partner",
            "read",
            json!([[id]]),
            json!({"fields": ["is_group", "active"], "context": {"active_test": false}}),
        )?;
        Ok(rows.get(0).cloned())
    }
}

/// The id of a Many2one as read (`[id, "name"]`) or as written (`id`).
pub fn many2one(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.get(0).and_then(Value::as_i64))
}

/// An Odoo error as a rejection reason or the run's error.
pub fn refused(e: OdooError, model: &str, method: &str) -> Result<String, SyncError> {
    crate::rpc::record_error(e, model, method)
}
