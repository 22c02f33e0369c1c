//! How a record an adapter pulled becomes an event to store: its data parsed, its guid
//! derived when the external system gave none (so a re-pull of the same record changes
//! nothing), its level marked external. A record that cannot be accepted is refused on its
//! own, with the reason, and the rest of its page goes on.

use crate::adapter::AdapterEvent;
use crate::model::{FormSubmission, SyncLevel};
use sha2::{Digest, Sha256};

/// Namespace of the UUIDv5 guids the host derives for pulled events.
const PULLED_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d1f_0c2a_5b7e_4c39_9a41_d2c8_7e55_a0b3);

/// A pulled record the host refused, with what identifies it and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRecord {
    /// The record's guid, or one derived from its raw content when it had none.
    pub guid: String,
    /// Why it was refused, naming the field.
    pub reason: String,
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

/// A guid for a record too malformed to derive one from its parts: from its raw text.
fn raw_guid(config_id: &str, e: &AdapterEvent) -> String {
    let name = format!(
        "{config_id}\nraw\n{}\n{}\n{}\n{}",
        e.entity_guid, e.event_type, e.timestamp, e.data
    );
    uuid::Uuid::new_v5(&PULLED_NAMESPACE, name.as_bytes()).to_string()
}

/// Turn one pulled record into an event to store, or refuse it with the reason.
pub fn accept(config_id: &str, e: AdapterEvent) -> Result<FormSubmission, RefusedRecord> {
    let refuse = |e: &AdapterEvent, reason: String| RefusedRecord {
        guid: if e.guid.trim().is_empty() {
            raw_guid(config_id, e)
        } else {
            e.guid.clone()
        },
        reason,
    };
    let data: serde_json::Value = match serde_json::from_str(&e.data) {
        Ok(d) => d,
        Err(err) => return Err(refuse(&e, format!("data is not JSON: {err}"))),
    };
    let guid = if e.guid.trim().is_empty() {
        derived_guid(config_id, &e.entity_guid, &e.event_type, &data)
    } else {
        e.guid.clone()
    };
    let event = FormSubmission {
        guid,
        entity_guid: e.entity_guid.clone(),
        event_type: e.event_type.clone(),
        data,
        timestamp: e.timestamp.clone(),
        user_id: e.user_id.clone(),
        sync_level: SyncLevel::External,
    };
    match event.validate() {
        Ok(()) => Ok(event),
        Err(m) => Err(refuse(&e, m)),
    }
}

/// [`accept`] for a whole page, in order.
pub fn accept_page(
    config_id: &str,
    events: Vec<AdapterEvent>,
) -> Vec<Result<FormSubmission, RefusedRecord>> {
    events.into_iter().map(|e| accept(config_id, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(guid: &str, entity: &str, data: &str) -> AdapterEvent {
        AdapterEvent {
            guid: guid.into(),
            entity_guid: entity.into(),
            event_type: "create-individual".into(),
            data: data.into(),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: "u".into(),
        }
    }

    #[test]
    fn the_same_record_gets_the_same_derived_guid_and_another_config_another() {
        let a = accept("c1", record("", "p1", r#"{"b":1,"a":2}"#)).unwrap();
        let b = accept("c1", record("", "p1", r#"{"a":2, "b":1}"#)).unwrap();
        let c = accept("c2", record("", "p1", r#"{"a":2,"b":1}"#)).unwrap();
        assert_eq!(a.guid, b.guid, "key order does not change the guid");
        assert_ne!(a.guid, c.guid, "guids are per config");
        let d = accept("c1", record("", "p1", r#"{"a":3,"b":1}"#)).unwrap();
        assert_ne!(
            a.guid, d.guid,
            "another version of the record is another event"
        );
    }

    #[test]
    fn a_given_guid_is_kept_and_the_level_is_external() {
        let e = accept("c1", record("g-7", "p1", "{}")).unwrap();
        assert_eq!(e.guid, "g-7");
        assert_eq!(e.sync_level, SyncLevel::External);
    }

    #[test]
    fn a_malformed_record_is_refused_alone_with_a_stable_guid() {
        let page = accept_page(
            "c1",
            vec![
                record("", "", "{}"),
                record("", "p2", "not json"),
                record("", "p3", "{}"),
            ],
        );
        let empty = page[0].as_ref().unwrap_err();
        assert!(empty.reason.contains("entityGuid"), "{}", empty.reason);
        assert!(page[1].as_ref().unwrap_err().reason.contains("not JSON"));
        assert!(page[2].is_ok());
        let again = accept("c1", record("", "", "{}")).unwrap_err();
        assert_eq!(empty.guid, again.guid, "a re-pull quarantines it once");
    }
}
