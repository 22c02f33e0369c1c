//! The event applier: turns DataCollect events into entity changes, inside the store's
//! transaction, with the conflict rule and an audit entry per mutation.
//!
//! It sees the store only through [`EntityTx`], so it works the same on any store. An event
//! it cannot apply returns an [`ApplyError`]; the store quarantines it with that reason.

#![deny(missing_docs)]

mod entities;

use dcsync_contract::model::{AuditEntry, EntityPair, FormSubmission, SyncLevel};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// Why an event could not be applied (it is quarantined with this reason).
#[derive(Debug, Error, PartialEq)]
#[error("{0}")]
pub struct ApplyError(pub String);

/// Failure of the store underneath the applier: aborts the transaction.
#[derive(Debug, Error)]
#[error("store: {0}")]
pub struct TxError(pub String);

/// What the applier may do inside a store transaction.
pub trait EntityTx {
    /// The entity pair stored under `guid`.
    fn entity(&mut self, guid: &str) -> Result<Option<EntityPair>, TxError>;
    /// Store (create or replace) an entity pair.
    fn put_entity(&mut self, pair: &EntityPair) -> Result<(), TxError>;
    /// Delete an entity.
    fn delete_entity(&mut self, guid: &str) -> Result<(), TxError>;
    /// Append an audit entry.
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), TxError>;
    /// How the entity `guid` is linked to the config `config_id`, if it is: created by
    /// its pulls, or pushed to it (an entity from before dcsync that carries an external id
    /// and is linked to no config yet counts as pushed, see [`LinkKind::Legacy`]).
    fn linked(&mut self, guid: &str, config_id: &str) -> Result<Option<LinkKind>, TxError>;
    /// Link the entity `guid` to the config `config_id` (a link, once made, keeps its kind).
    fn link(&mut self, guid: &str, config_id: &str, kind: LinkKind) -> Result<(), TxError>;
    /// The guids of the entities whose `externalId` is `external_id`. A store that cannot
    /// look this up answers none: pulled records are then matched by their guid alone.
    fn entities_with_external_id(&mut self, external_id: &str) -> Result<Vec<String>, TxError> {
        let _ = external_id;
        Ok(Vec::new())
    }
}

/// Why a config may change an entity with its pulls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Its pulls created the entity: they may update and delete it.
    Created,
    /// Local events about it were delivered to the config: its pulls may update it, not
    /// delete it (a deletion in the external system does not delete a household
    /// registered here; it is quarantined for an operator to look at).
    Pushed,
    /// An entity from before dcsync with an external id and no link: the first config to
    /// change it links it as [`LinkKind::Pushed`], and from then on it is that config's.
    Legacy,
}

impl LinkKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Created => "created",
            LinkKind::Pushed | LinkKind::Legacy => "pushed",
        }
    }

    /// The kind stored as `s` (unknown names count as the weaker `pushed`).
    pub fn from_stored(s: &str) -> Self {
        if s == "created" {
            LinkKind::Created
        } else {
            LinkKind::Pushed
        }
    }
}

/// Where an event comes from: recorded here, or pulled from an external config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Recorded here (imported, or from the embedding server).
    Local,
    /// Pulled from the config with this id.
    Pulled(&'a str),
}

/// What applying one event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The entity changed.
    Changed,
    /// Conflict: the local change is newer; the event was recorded, not applied.
    KeptLocal,
}

/// An applier for a custom event type, registered by an embedding program.
pub trait CustomApplier: Send + Sync {
    /// Apply `event` inside the store's transaction.
    fn apply(&self, tx: &mut dyn EntityTx, event: &FormSubmission)
        -> Result<(), ApplyOutcomeError>;
}

/// Error of a custom applier: either the event is bad, or the store failed.
#[derive(Debug, Error)]
pub enum ApplyOutcomeError {
    /// The event cannot be applied: quarantine it.
    #[error(transparent)]
    Rejected(#[from] ApplyError),
    /// The store failed: abort the transaction.
    #[error(transparent)]
    Store(#[from] TxError),
}

/// The event type adapters emit for an external record: create or merge the entity.
pub const EXTERNAL_UPSERT: &str = "upsert-external-entity";

/// Applies events; holds the custom appliers.
#[derive(Clone, Default)]
pub struct EventApplier {
    custom: HashMap<String, Arc<dyn CustomApplier>>,
}

impl std::fmt::Debug for EventApplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut types: Vec<_> = self.custom.keys().collect();
        types.sort();
        f.debug_struct("EventApplier")
            .field("custom", &types)
            .finish()
    }
}

impl EventApplier {
    /// An applier with the built-in types only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handle events of `event_type` with `applier`. Built-in types cannot be replaced: a
    /// custom applier would bypass their scoping rules (which config may change which
    /// entity), so registering one is refused, with the reason.
    pub fn register(
        &mut self,
        event_type: &str,
        applier: Arc<dyn CustomApplier>,
    ) -> Result<(), String> {
        if entities::is_builtin(event_type) {
            return Err(format!(
                "{event_type:?} is a built-in event type; a custom applier cannot replace it"
            ));
        }
        self.custom.insert(event_type.to_string(), applier);
        Ok(())
    }

    /// Apply one event inside the caller's transaction.
    pub fn apply(
        &self,
        tx: &mut dyn EntityTx,
        event: &FormSubmission,
        origin: Origin<'_>,
    ) -> Result<Applied, ApplyOutcomeError> {
        event
            .validate()
            .map_err(|m| ApplyError(format!("invalid event: {m}")))?;
        if let Some(custom) = self.custom.get(&event.event_type) {
            custom.apply(tx, event)?;
            return Ok(Applied::Changed);
        }
        if !entities::is_builtin(&event.event_type) {
            return Err(ApplyError(format!(
                "unknown event type {:?}: no applier registered for it",
                event.event_type
            ))
            .into());
        }
        let redirected;
        let event = match entities::known_by_external_id(tx, event, origin)? {
            Some(guid) => {
                redirected = FormSubmission {
                    entity_guid: guid,
                    ..event.clone()
                };
                &redirected
            }
            None => event,
        };
        let incoming = origin != Origin::Local || event.sync_level != SyncLevel::Local;
        if incoming {
            if let Some(pair) = tx.entity(&event.entity_guid)? {
                if let Origin::Pulled(config) = origin {
                    entities::require_linked(tx, &event.entity_guid, config)?;
                }
                if pair.has_local_changes() && !entities::is_deletion(&event.event_type) {
                    return resolve_conflict(tx, pair, event, origin);
                }
            }
        }
        entities::apply_builtin(tx, event, origin, None)?;
        Ok(Applied::Changed)
    }
}

/// The conflict rule: a remote or external event for an entity with local changes is
/// applied on top of the last synced state only if it is newer than the local change.
fn resolve_conflict(
    tx: &mut dyn EntityTx,
    pair: EntityPair,
    event: &FormSubmission,
    origin: Origin<'_>,
) -> Result<Applied, ApplyOutcomeError> {
    let local = entities::parse_time(&pair.modified.last_updated);
    let remote = entities::parse_time(&event.timestamp);
    let keep_local = local >= remote;
    let decision = if keep_local {
        "kept-local"
    } else {
        "applied-remote"
    };
    // As the original records it (EAS:394-461): by "system", the keys in this order.
    tx.audit(&AuditEntry {
        timestamp: dcsync_contract::model::now_rfc3339(),
        user_id: "system".into(),
        action: "conflict-resolution".into(),
        event_guid: event.guid.clone(),
        entity_guid: event.entity_guid.clone(),
        changes: json!({
            "resolution": decision,
            "eventType": event.event_type,
            "localLastUpdated": pair.modified.last_updated,
            "remoteTimestamp": event.timestamp,
            "localVersion": pair.modified.version,
        }),
    })?;
    if keep_local {
        return Ok(Applied::KeptLocal);
    }
    entities::apply_builtin(tx, event, origin, Some(pair.initial))?;
    Ok(Applied::Changed)
}

#[cfg(test)]
mod tests;
