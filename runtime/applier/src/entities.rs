//! The built-in DataCollect event types: individuals, groups and their members.
//!
//! Over 400 lines: every built-in event type of the original applier (individuals, groups,
//! members, deletions), kept in one file as the original keeps them, with the external-id
//! and link rules they share.

use super::{ApplyError, ApplyOutcomeError, EntityTx, LinkKind, Origin, EXTERNAL_UPSERT};
use dcsync_contract::model::{AuditEntry, EntityDoc, EntityKind, EntityPair, FormSubmission};
use serde_json::{json, Map, Value};

const BUILTIN: &[&str] = &[
    "create-individual",
    "update-individual",
    "create-group",
    "update-group",
    "add-member",
    "remove-member",
    "delete-entity",
    "resolve-duplicate",
    EXTERNAL_UPSERT,
];

/// Deepest group nesting we follow; deeper (or cyclic) data is refused.
const MAX_DEPTH: usize = 32;

pub(super) fn is_builtin(event_type: &str) -> bool {
    BUILTIN.contains(&event_type)
}

pub(super) fn is_deletion(event_type: &str) -> bool {
    event_type == "delete-entity"
}

pub(super) fn parse_time(t: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

fn reject(message: impl Into<String>) -> ApplyOutcomeError {
    ApplyError(message.into()).into()
}

/// Apply a built-in event; `base` replaces the current state (conflict: on top of initial).
pub(super) fn apply_builtin(
    tx: &mut dyn EntityTx,
    event: &FormSubmission,
    origin: Origin<'_>,
    base: Option<EntityDoc>,
) -> Result<(), ApplyOutcomeError> {
    let data = event.data.as_object().cloned().unwrap_or_default();
    let ctx = Ctx { event, origin };
    match event.event_type.as_str() {
        "create-individual" | "update-individual" => {
            ctx.upsert(
                tx,
                &event.entity_guid,
                EntityKind::Individual,
                &data,
                base,
                0,
            )?;
        }
        "create-group" | "update-group" => {
            ctx.upsert(tx, &event.entity_guid, EntityKind::Group, &data, base, 0)?;
        }
        EXTERNAL_UPSERT => {
            let kind = match data.get("entityType").and_then(Value::as_str) {
                Some("group") => EntityKind::Group,
                Some("individual") | None => EntityKind::Individual,
                Some(other) => {
                    return Err(reject(format!(
                        "data.entityType {other:?} is not individual or group"
                    )))
                }
            };
            let mut fields = data.clone();
            fields.remove("entityType");
            ctx.upsert(tx, &event.entity_guid, kind, &fields, base, 0)?;
        }
        "add-member" => {
            let group = ctx.group(tx, &event.entity_guid)?;
            let member = data
                .get("members")
                .and_then(Value::as_array)
                .and_then(|m| m.first())
                .ok_or_else(|| reject("add-member needs data.members[0] with a guid"))?;
            let guid = ctx.member(tx, member, 1)?;
            let mut doc = base.unwrap_or(group.modified.clone());
            if !doc.member_ids.contains(&guid) {
                doc.member_ids.push(guid.clone());
            }
            let action = event.event_type.as_str();
            ctx.save(tx, Some(group), doc, action, json!({ "addedMember": guid }))?;
        }
        "remove-member" => {
            let group = ctx.group(tx, &event.entity_guid)?;
            let member_id = data
                .get("memberId")
                .and_then(Value::as_str)
                .ok_or_else(|| reject("remove-member needs data.memberId"))?
                .to_string();
            let mut doc = base.unwrap_or(group.modified.clone());
            if !doc.member_ids.contains(&member_id) {
                return Err(reject(format!(
                    "{member_id} is not a member of group {}",
                    event.entity_guid
                )));
            }
            doc.member_ids.retain(|m| m != &member_id);
            let action = event.event_type.as_str();
            ctx.save(
                tx,
                Some(group),
                doc,
                action,
                json!({ "removedMember": member_id }),
            )?;
            if let Some(member) = tx.entity(&member_id)? {
                if member.modified.kind == EntityKind::Group {
                    ctx.delete(tx, &member_id, "cascade-delete-entity", 0)?;
                }
            }
        }
        "delete-entity" => {
            if tx.entity(&event.entity_guid)?.is_none() {
                // An external system saying a record it has is gone: here it never was,
                // which is what it asks. Nothing to do.
                if let Origin::Pulled(_) = origin {
                    return Ok(());
                }
                return Err(reject(format!(
                    "entity {} does not exist",
                    event.entity_guid
                )));
            }
            ctx.delete(tx, &event.entity_guid, "delete-entity", 0)?;
        }
        "resolve-duplicate" => {
            let duplicates = data.get("duplicates").cloned().unwrap_or(json!([]));
            ctx.audit(
                tx,
                &event.entity_guid,
                "resolve-duplicate",
                json!({ "duplicates": duplicates }),
            )?;
            if data.get("shouldDelete").and_then(Value::as_bool) == Some(true)
                && tx.entity(&event.entity_guid)?.is_some()
            {
                ctx.delete(tx, &event.entity_guid, "delete-entity", 0)?;
            }
        }
        other => return Err(reject(format!("unknown event type {other:?}"))),
    }
    Ok(())
}

struct Ctx<'e> {
    event: &'e FormSubmission,
    origin: Origin<'e>,
}

impl Ctx<'_> {
    fn group(&self, tx: &mut dyn EntityTx, guid: &str) -> Result<EntityPair, ApplyOutcomeError> {
        match tx.entity(guid)? {
            Some(p) if p.modified.kind == EntityKind::Group => Ok(p),
            Some(_) => Err(reject(format!("entity {guid} is not a group"))),
            None => Err(reject(format!("group {guid} does not exist"))),
        }
    }

    /// Create or update an entity, merging `data` into it (and its members, for a group).
    fn upsert(
        &self,
        tx: &mut dyn EntityTx,
        guid: &str,
        kind: EntityKind,
        data: &Map<String, Value>,
        base: Option<EntityDoc>,
        depth: usize,
    ) -> Result<(), ApplyOutcomeError> {
        if depth > MAX_DEPTH {
            return Err(reject(format!("groups nested deeper than {MAX_DEPTH}")));
        }
        let existing = tx.entity(guid)?;
        let mut doc = match (base, &existing) {
            (Some(b), _) => b,
            (None, Some(p)) => p.modified.clone(),
            (None, None) => EntityDoc {
                guid: guid.to_string(),
                external_id: None,
                name: None,
                kind,
                version: 0,
                // The original's new individual starts with this data (EAS:481-489).
                data: match kind {
                    EntityKind::Individual => {
                        Map::from_iter([("name".into(), json!("Unnamed Individual"))])
                    }
                    EntityKind::Group => Map::new(),
                },
                last_updated: self.event.timestamp.clone(),
                member_ids: Vec::new(),
            },
        };
        if doc.kind != kind {
            return Err(reject(format!(
                "entity {guid} is {:?}, not {kind:?}",
                doc.kind
            )));
        }
        for (k, v) in data {
            if kind == EntityKind::Group && k == "members" {
                continue;
            }
            doc.data.insert(k.clone(), v.clone());
        }
        doc.name = data
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(doc.name)
            .or_else(|| {
                Some(format!(
                    "Unnamed {}",
                    if kind == EntityKind::Group {
                        "Group"
                    } else {
                        "Individual"
                    }
                ))
            });
        if kind == EntityKind::Group {
            // A group's data carries its name (EAS:520-541: `data.name = name`).
            if let Some(name) = &doc.name {
                doc.data.insert("name".into(), json!(name));
            }
        }
        if let Some(ext) = data.get("externalId").and_then(Value::as_str) {
            doc.external_id = Some(ext.to_string());
        }
        if let Some(members) = data.get("members") {
            let members = members
                .as_array()
                .ok_or_else(|| reject("data.members must be a list"))?;
            for m in members {
                let id = self.member(tx, m, depth + 1)?;
                if !doc.member_ids.contains(&id) {
                    doc.member_ids.push(id);
                }
            }
        }
        // A member is audited as the sub-form the original builds for it (EAS:532-560):
        // `create-individual` or `create-group`, whatever the event's own type.
        let action = match (depth, kind) {
            (0, _) => self.event.event_type.as_str(),
            (_, EntityKind::Group) => "create-group",
            (_, EntityKind::Individual) => "create-individual",
        };
        self.save(tx, existing, doc, action, Value::Object(data.clone()))
    }

    /// Create or update a member object `{guid, type?, …}`; returns its guid.
    fn member(
        &self,
        tx: &mut dyn EntityTx,
        member: &Value,
        depth: usize,
    ) -> Result<String, ApplyOutcomeError> {
        let obj = member
            .as_object()
            .ok_or_else(|| reject("each member must be an object with a guid"))?;
        let guid = obj
            .get("guid")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| reject("each member needs a guid"))?
            .to_string();
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("group") => EntityKind::Group,
            _ => EntityKind::Individual,
        };
        let mut data = obj.clone();
        data.remove("guid");
        data.remove("type");
        self.upsert(tx, &guid, kind, &data, None, depth)?;
        Ok(guid)
    }

    /// Store the new version and audit it. Local events change only `modified`; pulled
    /// ones are the synced state, so both.
    fn save(
        &self,
        tx: &mut dyn EntityTx,
        existing: Option<EntityPair>,
        mut doc: EntityDoc,
        action: &str,
        changes: Value,
    ) -> Result<(), ApplyOutcomeError> {
        if let Origin::Pulled(config) = self.origin {
            if existing.is_some() {
                require_linked(tx, &doc.guid, config)?;
            }
        }
        let created = existing.is_none();
        doc.version += 1;
        doc.last_updated = self.event.timestamp.clone();
        let pair = match (self.origin, existing) {
            (Origin::Local, Some(p)) => EntityPair {
                initial: p.initial,
                modified: doc,
            },
            (Origin::Local, None) => {
                let mut initial = doc.clone();
                initial.version = 0;
                EntityPair {
                    initial,
                    modified: doc,
                }
            }
            (Origin::Pulled(_), _) => EntityPair {
                initial: doc.clone(),
                modified: doc,
            },
        };
        tx.put_entity(&pair)?;
        if let (Origin::Pulled(config), true) = (self.origin, created) {
            tx.link(&pair.modified.guid, config, LinkKind::Created)?;
        }
        self.audit(tx, &pair.modified.guid, action, changes)
    }

    fn delete(
        &self,
        tx: &mut dyn EntityTx,
        guid: &str,
        action: &str,
        depth: usize,
    ) -> Result<(), ApplyOutcomeError> {
        if depth > MAX_DEPTH {
            return Err(reject(format!("groups nested deeper than {MAX_DEPTH}")));
        }
        let Some(pair) = tx.entity(guid)? else {
            return Ok(());
        };
        if let Origin::Pulled(config) = self.origin {
            if require_linked(tx, guid, config)? != LinkKind::Created {
                return Err(reject(format!(
                    "entity {guid} was registered here and pushed to config {config}: its pulls may update it but not delete it; delete it here if that is meant"
                )));
            }
        }
        tx.delete_entity(guid)?;
        // The deleted document stays in the audit log: a deletion can be looked at, and
        // undone by hand, later.
        self.audit(
            tx,
            guid,
            action,
            json!({ "deleted": guid, "document": pair.modified }),
        )?;
        for member in &pair.modified.member_ids {
            self.delete(tx, member, "cascade-delete-entity", depth + 1)?;
        }
        Ok(())
    }

    fn audit(
        &self,
        tx: &mut dyn EntityTx,
        entity: &str,
        action: &str,
        changes: Value,
    ) -> Result<(), ApplyOutcomeError> {
        tx.audit(&AuditEntry {
            timestamp: dcsync_contract::model::now_rfc3339(),
            user_id: self.event.user_id.clone(),
            action: action.to_string(),
            event_guid: self.event.guid.clone(),
            entity_guid: entity.to_string(),
            changes,
        })?;
        Ok(())
    }
}

/// The entity a pulled event is about when the external record is known here under another
/// guid: DataCollect's own adapters gave pulled records random guids and matched them by
/// `externalId` (e.g. OpenSPP's, DC:…/openspp/OpenSppSyncAdapter.ts:300, 327). When the
/// event's guid names no entity and exactly one entity this config may change (linked to
/// it, or a legacy entity linked to none) has the event's `data.externalId`, that one.
pub(super) fn known_by_external_id(
    tx: &mut dyn EntityTx,
    event: &FormSubmission,
    origin: Origin<'_>,
) -> Result<Option<String>, ApplyOutcomeError> {
    let Origin::Pulled(config) = origin else {
        return Ok(None);
    };
    let external = event.data.get("externalId").and_then(Value::as_str);
    let Some(external) = external.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    if tx.entity(&event.entity_guid)?.is_some() {
        return Ok(None);
    }
    let mut mine = Vec::new();
    for guid in tx.entities_with_external_id(external)? {
        if tx.linked(&guid, config)?.is_some() {
            mine.push(guid);
        }
    }
    Ok(if mine.len() == 1 { mine.pop() } else { None })
}

/// A pulled event may change an existing entity only when it is linked to the config the
/// event came from: created by that config's pulls, or pushed to that config. A legacy
/// entity becomes the config's at its first change.
pub(super) fn require_linked(
    tx: &mut dyn EntityTx,
    guid: &str,
    config: &str,
) -> Result<LinkKind, ApplyOutcomeError> {
    match tx.linked(guid, config)? {
        Some(LinkKind::Legacy) => {
            tx.link(guid, config, LinkKind::Pushed)?;
            return Ok(LinkKind::Pushed);
        }
        Some(kind) => return Ok(kind),
        None => {}
    }
    Err(reject(format!(
        "entity {guid} is not linked to config {config}: a pulled event may change only entities this config created or that were pushed to it"
    )))
}
