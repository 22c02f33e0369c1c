//! The DataCollect data model: events (FormSubmission) and entities, in their JSON wire
//! shape (camelCase), as the original product's devices produce them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where an event stands in the sync chain; `0`, `1`, `2` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncLevel {
    /// Recorded here, not yet synced with a DataCollect server.
    Local = 0,
    /// Synced with a DataCollect server.
    Remote = 1,
    /// Came from, or was delivered to, an external system.
    External = 2,
}

impl SyncLevel {
    /// From the wire number.
    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            0 => Some(SyncLevel::Local),
            1 => Some(SyncLevel::Remote),
            2 => Some(SyncLevel::External),
            _ => None,
        }
    }
}

impl Serialize for SyncLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for SyncLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        SyncLevel::from_number(n).ok_or_else(|| {
            serde::de::Error::custom(format!("syncLevel must be 0, 1 or 2, not {n}"))
        })
    }
}

/// One DataCollect event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormSubmission {
    /// The event's own id, unique in the store.
    pub guid: String,
    /// The entity the event targets.
    pub entity_guid: String,
    /// Event type (`create-individual`, …, or a custom type).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload: a JSON object.
    pub data: Value,
    /// When the device recorded it (RFC 3339). Never used as a cursor.
    pub timestamp: String,
    /// Who recorded it.
    #[serde(default)]
    pub user_id: String,
    /// Sync level; absent means local.
    #[serde(default = "local")]
    pub sync_level: SyncLevel,
}

fn local() -> SyncLevel {
    SyncLevel::Local
}

impl FormSubmission {
    /// Check the fields a store relies on; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.guid.trim().is_empty() {
            return Err("`guid` is empty".into());
        }
        if self.entity_guid.trim().is_empty() {
            return Err("`entityGuid` is empty".into());
        }
        if self.event_type.trim().is_empty() {
            return Err("`type` is empty".into());
        }
        if !self.data.is_object() {
            return Err("`data` must be a JSON object".into());
        }
        if chrono::DateTime::parse_from_rfc3339(&self.timestamp).is_err() {
            return Err(format!(
                "`timestamp` {:?} is not an RFC 3339 date-time (e.g. 2025-01-31T12:00:00Z)",
                self.timestamp
            ));
        }
        Ok(())
    }
}

/// Individual or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    /// A person.
    Individual,
    /// A household or other group, with members.
    Group,
}

/// One entity as the applier builds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityDoc {
    /// The entity's guid (what events target).
    pub guid: String,
    /// Its id in an external system (`data.externalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Display name (`data.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Individual or group.
    #[serde(rename = "type")]
    pub kind: EntityKind,
    /// Bumped by every applied change.
    pub version: u64,
    /// The merged data of every applied event.
    pub data: Map<String, Value>,
    /// RFC 3339 time of the event that last changed it.
    pub last_updated: String,
    /// Members of a group (guids, no duplicates); empty for an individual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_ids: Vec<String>,
}

/// The store keeps two versions of each entity: as last synced, and with local changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityPair {
    /// As last synced.
    pub initial: EntityDoc,
    /// With local changes.
    pub modified: EntityDoc,
}

impl EntityPair {
    /// A local change not yet confirmed by a sync.
    pub fn has_local_changes(&self) -> bool {
        self.initial.version != self.modified.version
    }
}

/// One audit log entry: one per mutation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When the change was made (RFC 3339).
    pub timestamp: String,
    /// Who made it (the event's user).
    pub user_id: String,
    /// What was done (`create-individual`, `conflict-resolution`…).
    pub action: String,
    /// The event that caused it.
    pub event_guid: String,
    /// The entity changed.
    pub entity_guid: String,
    /// What changed.
    pub changes: Value,
}

/// Now, as RFC 3339 (UTC, milliseconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
