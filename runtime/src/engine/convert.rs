//! Conversions between WIT values and the host's model, including the deterministic guid
//! of a pulled event.

use super::bindings::types as wit;
use crate::model::{FormSubmission, SyncLevel};
use sha2::{Digest, Sha256};

/// Namespace of the UUIDv5 guids the host derives for pulled events.
const PULLED_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d1f_0c2a_5b7e_4c39_9a41_d2c8_7e55_a0b3);

pub fn level_to_wit(l: SyncLevel) -> wit::SyncLevel {
    match l {
        SyncLevel::Local => wit::SyncLevel::Local,
        SyncLevel::Remote => wit::SyncLevel::Remote,
        SyncLevel::External => wit::SyncLevel::External,
    }
}

pub fn event_to_wit(e: &FormSubmission) -> wit::FormSubmission {
    wit::FormSubmission {
        guid: e.guid.clone(),
        entity_guid: e.entity_guid.clone(),
        type_: e.event_type.clone(),
        data: e.data.to_string(),
        timestamp: e.timestamp.clone(),
        user_id: e.user_id.clone(),
        sync_level: level_to_wit(e.sync_level),
    }
}

/// The guid of a pulled event the external system gave no stable id: the same record
/// pulled again gets the same guid, so the store's unique index makes it a no-op.
pub fn derived_guid(
    config_id: &str,
    entity_guid: &str,
    event_type: &str,
    data: &serde_json::Value,
) -> String {
    // serde_json's map is ordered by key: this text is canonical for equal data.
    let digest = Sha256::digest(data.to_string().as_bytes());
    let name = format!(
        "{config_id}\n{entity_guid}\n{event_type}\n{}",
        hex::encode(digest)
    );
    uuid::Uuid::new_v5(&PULLED_NAMESPACE, name.as_bytes()).to_string()
}

/// Turn a pulled page into events to store: parse the data, derive missing guids, mark
/// them external. A malformed event is an error naming it (the page is not applied).
pub fn pulled_events(
    config_id: &str,
    events: Vec<wit::FormSubmission>,
) -> Result<Vec<FormSubmission>, String> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let data: serde_json::Value = serde_json::from_str(&e.data)
                .map_err(|err| format!("pulled event {i} ({}): data is not JSON: {err}", e.guid))?;
            if e.entity_guid.trim().is_empty() {
                return Err(format!(
                    "pulled event {i} ({}): entity-guid is empty",
                    e.guid
                ));
            }
            let guid = if e.guid.trim().is_empty() {
                derived_guid(config_id, &e.entity_guid, &e.type_, &data)
            } else {
                e.guid
            };
            Ok(FormSubmission {
                guid,
                entity_guid: e.entity_guid,
                event_type: e.type_,
                data,
                timestamp: e.timestamp,
                user_id: e.user_id,
                sync_level: SyncLevel::External,
            })
        })
        .collect()
}

/// Rough size of a pulled page, for the return-size limit.
pub fn page_size(page: &wit::PullPage) -> usize {
    page.events
        .iter()
        .map(|e| {
            e.guid.len()
                + e.entity_guid.len()
                + e.type_.len()
                + e.data.len()
                + e.timestamp.len()
                + e.user_id.len()
                + 16
        })
        .sum::<usize>()
        + page.next_cursor.as_ref().map_or(0, String::len)
}
