//! Push: each DataCollect event becomes a create or a write of a `res.partner` registrant,
//! its DataCollect ID and its group memberships. A record OpenSPP refuses is reported
//! rejected with OpenSPP's reason; a missing right, field or login stops the run; a
//! concurrent update is retried (the partner and its ID are created in one call, so a
//! retried batch finds what the failed try created).

use crate::identity::{self, many2one, MAX_GUID};
use crate::mapping::{self, Genders, Kind};
use crate::rpc::Session;
use datacollect_adapter_sdk::{Event, PushOutcome, Rejection, SyncError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One batch's context: the run's session and what it looked up.
pub struct Batch<'s, 'c> {
    session: &'s Session<'c>,
    id_type: i64,
    genders: Option<Genders>,
    /// Entity guid → partner id, filled up front for the batch and as partners are created.
    known: BTreeMap<String, i64>,
}

/// A record's outcome: `Err(reason)` when it cannot go.
type Outcome<T> = Result<Result<T, String>, SyncError>;

pub fn push(session: &Session<'_>, events: &[Event]) -> Result<PushOutcome, SyncError> {
    let id_type = session
        .id_type(true)?
        .ok_or_else(|| SyncError::Internal("OpenSPP created no ID type".into()))?;
    let mut guids: Vec<String> = Vec::new();
    for e in events {
        guids.push(e.entity_guid.clone());
        for m in members(&e.data.value()) {
            guids.extend(m["guid"].as_str().map(str::to_string));
        }
    }
    guids.retain(|g| g.len() <= MAX_GUID);
    guids.sort();
    guids.dedup();
    let mut batch = Batch {
        session,
        id_type,
        genders: None,
        known: session.partners_by_guid(id_type, &guids)?,
    };
    let mut rejected = Vec::new();
    for e in events {
        if let Err(reason) = batch.event(e)? {
            rejected.push(Rejection {
                guid: e.guid.clone(),
                reason,
            });
        }
    }
    Ok(PushOutcome::with_rejections(events, rejected))
}

fn members(data: &Value) -> Vec<Value> {
    data["members"].as_array().cloned().unwrap_or_default()
}

/// A partner found for an entity, and whether it still needs the entity's DataCollect ID.
struct Found {
    id: i64,
    is_group: bool,
    active: bool,
    needs_id: bool,
}

impl Batch<'_, '_> {
    fn event(&mut self, e: &Event) -> Outcome<()> {
        let data = e.data.value();
        let data = data.as_object().cloned().unwrap_or_default();
        let kind = match (
            e.event_type.as_str(),
            data.get("entityType").and_then(Value::as_str),
        ) {
            ("create-individual" | "update-individual", _) => Kind::Individual,
            ("create-group" | "update-group", _) | ("upsert-external-entity", Some("group")) => {
                Kind::Group
            }
            ("upsert-external-entity", _) => Kind::Individual,
            ("add-member", _) => {
                let Some(group) = self.locate(&e.entity_guid, &data)? else {
                    return Ok(Err(format!(
                        "group {} is not in OpenSPP yet",
                        e.entity_guid
                    )));
                };
                return match members(&Value::Object(data)).first() {
                    Some(m) => self.member(group.id, m),
                    None => Ok(Err("add-member needs data.members[0]".into())),
                };
            }
            ("delete-entity", _) => return self.archive(&e.entity_guid, &data),
            (other, _) => {
                return Ok(Err(format!(
                    "the OpenSPP adapter does not handle {other:?} events"
                )))
            }
        };
        let updating = e.event_type.starts_with("update-");
        let id = match self.upsert(kind, &e.entity_guid, &data, updating)? {
            Ok(id) => id,
            Err(reason) => return Ok(Err(reason)),
        };
        for m in members(&Value::Object(data)) {
            if let Err(reason) = self.member(id, &m)? {
                return Ok(Err(reason));
            }
        }
        Ok(Ok(()))
    }

    /// The partner of `guid`: by its DataCollect ID, by an `openspp:<db>:<id>` guid, or by
    /// the `externalId` DataCollect's original adapter stored (a partner it pulled).
    fn locate(
        &mut self,
        guid: &str,
        data: &Map<String, Value>,
    ) -> Result<Option<Found>, SyncError> {
        let db = &self.session.settings.database;
        let (id, needs_id) = if let Some(id) = self.known.get(guid) {
            (*id, false)
        } else if let Some(id) = identity::partner_of_guid(db, guid) {
            (id, false)
        } else {
            let external = data.get("externalId").and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            });
            match external.filter(|id| *id > 0) {
                Some(id) => (id, true),
                None => return Ok(None),
            }
        };
        let Some(row) = self.session.partner(id)? else {
            return Ok(None);
        };
        Ok(Some(Found {
            id,
            is_group: row["is_group"] == json!(true),
            active: row["active"] != json!(false),
            needs_id,
        }))
    }

    /// Create or write the partner of `guid` from its data. An update of an entity OpenSPP
    /// does not know is refused rather than made a new partner from partial data: such an
    /// entity came from elsewhere (DataCollect's original adapter pulled partners without
    /// keeping their id on them), and a new partner would be a duplicate.
    fn upsert(
        &mut self,
        kind: Kind,
        guid: &str,
        data: &Map<String, Value>,
        updating: bool,
    ) -> Outcome<i64> {
        if guid.chars().count() > MAX_GUID {
            return Ok(Err(format!(
                "entity guid {guid:?} is longer than {MAX_GUID} characters: OpenSPP keeps IDs as Char(100) and would cut it"
            )));
        }
        let genders = if kind == Kind::Individual {
            Some(self.genders()?)
        } else {
            None
        };
        let mut vals =
            match mapping::partner_values(kind, data, &self.session.settings, genders.as_ref()) {
                Ok(v) => v,
                Err(reason) => return Ok(Err(reason)),
            };
        let reg_id = json!([[0, 0, {"id_type": self.id_type, "value": guid}]]);
        match self.locate(guid, data)? {
            Some(found) => {
                if found.is_group != kind.is_group() {
                    return Ok(Err(format!(
                        "entity {guid} is a{} {} here, but OpenSPP partner {} is {}",
                        if kind.is_group() { "" } else { "n" },
                        kind.as_str(),
                        found.id,
                        if found.is_group { "a group" } else { "an individual" }
                    )));
                }
                if found.needs_id {
                    if let Some(other) = self.session.guids_of(self.id_type, &[found.id])?.get(&found.id) {
                        return Ok(Err(format!(
                            "externalId {} names OpenSPP partner {}, which already carries DataCollect ID {other:?} (another entity)",
                            found.id, found.id
                        )));
                    }
                    vals.insert("reg_ids".into(), reg_id);
                }
                // An archived partner is written, not revived: OpenSPP archived it.
                let answer = self.session.execute("res.partner", "write", json!([[found.id], vals]), json!({}))?;
                self.known.insert(guid.to_string(), found.id);
                match answer {
                    Ok(_) => Ok(Ok(found.id)),
                    Err(e) => identity::refused(e, "res.partner", "write").map(Err),
                }
            }
            None if updating => Ok(Err(format!(
                "entity {guid} is not in OpenSPP (no partner has it as {:?}, and the event has no externalId): an update cannot create it; push its create event, or give the event data.externalId = the partner's id",
                self.session.settings.id_type_name
            ))),
            None => {
                if !vals.contains_key("name") {
                    if let Some(name) = mapping::fallback_name(data, &self.session.settings) {
                        vals.insert("name".into(), json!(name));
                    }
                }
                vals.insert("is_registrant".into(), json!(true));
                vals.insert("is_group".into(), json!(kind.is_group()));
                if kind.is_group() {
                    vals.insert("kind".into(), json!(self.session.group_kind()?));
                }
                // The partner and its DataCollect ID in one call: one transaction.
                vals.insert("reg_ids".into(), reg_id);
                match self.session.execute("res.partner", "create", json!([vals]), json!({}))? {
                    Ok(id) => {
                        let id = many2one(&id).unwrap_or_default();
                        self.known.insert(guid.to_string(), id);
                        Ok(Ok(id))
                    }
                    Err(e) => identity::refused(e, "res.partner", "create").map(Err),
                }
            }
        }
    }

    fn genders(&mut self) -> Result<Genders, SyncError> {
        if self.genders.is_none() {
            self.genders = Some(self.session.genders()?);
        }
        Ok(self.genders.clone().unwrap_or_default())
    }

    /// Make `member` (`{guid, type?, name?, …}`) a member of `group` in
    /// `g2p.group.membership` (group = the group, individual = the member), creating the
    /// member's partner if OpenSPP does not have it.
    fn member(&mut self, group: i64, member: &Value) -> Outcome<()> {
        let Some(guid) = member["guid"].as_str().filter(|g| !g.is_empty()) else {
            return Ok(Err("a member has no guid".into()));
        };
        let kind = if member["type"] == "group" {
            Kind::Group
        } else {
            Kind::Individual
        };
        let data = member.as_object().cloned().unwrap_or_default();
        let individual = match self.locate(guid, &data)? {
            Some(found) => found.id,
            None => match self.upsert(kind, guid, &data, false)? {
                Ok(id) => id,
                Err(reason) => return Ok(Err(format!("member {guid}: {reason}"))),
            },
        };
        let existing = self.session.search_read(
            "g2p.group.membership",
            json!([["group", "=", group], ["individual", "=", individual]]),
            &["id"],
            None,
            Some(1),
        )?;
        if !existing.is_empty() {
            return Ok(Ok(()));
        }
        let vals = json!([{"group": group, "individual": individual}]);
        match self
            .session
            .execute("g2p.group.membership", "create", vals, json!({}))?
        {
            Ok(_) => Ok(Ok(())),
            Err(e) => identity::refused(e, "g2p.group.membership", "create").map(Err),
        }
    }

    /// `delete-entity`: archive the partner (registrars may not delete partners,
    /// G2P:g2p_registry_base/models/registrant.py:100-114). Not in OpenSPP: nothing to do.
    fn archive(&mut self, guid: &str, data: &Map<String, Value>) -> Outcome<()> {
        let Some(found) = self.locate(guid, data)? else {
            return Ok(Ok(()));
        };
        if !found.active {
            return Ok(Ok(()));
        }
        match self.session.execute(
            "res.partner",
            "write",
            json!([[found.id], {"active": false}]),
            json!({}),
        )? {
            Ok(_) => Ok(Ok(())),
            Err(e) => identity::refused(e, "res.partner", "write").map(Err),
        }
    }
}
