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
    /// The record as the adapter returned it (JSON), for an operator to inspect.
    pub record: String,
}

/// How far into the future a pulled event's timestamp may be: beyond it the record is
/// refused, so a `9999-12-31` time cannot win every later conflict.
pub const MAX_FUTURE_SKEW: chrono::Duration = chrono::Duration::hours(24);

/// One pulled page as the store takes it: the events to store and apply, the records
/// refused (quarantined with their reason), and the cursor after the page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PulledPage {
    /// Events to store and apply.
    pub events: Vec<FormSubmission>,
    /// Records refused before storing.
    pub refused: Vec<RefusedRecord>,
    /// The cursor to save with the page.
    pub next_cursor: Option<String>,
}

impl PulledPage {
    /// Accept every record of `events` for `config_id` at time `now`, refusing those that
    /// cannot be (see [`accept`]) and those `also_refuse` names a reason for.
    pub fn accept(
        config_id: &str,
        events: Vec<AdapterEvent>,
        next_cursor: Option<String>,
        now: chrono::DateTime<chrono::Utc>,
        also_refuse: impl Fn(&AdapterEvent) -> Option<String>,
    ) -> Self {
        let mut page = PulledPage {
            next_cursor,
            ..Default::default()
        };
        for e in events {
            let extra = also_refuse(&e);
            match (accept(config_id, e, now), extra) {
                (Ok(event), None) => page.events.push(event),
                (Ok(event), Some(reason)) => page.refused.push(RefusedRecord {
                    guid: event.guid.clone(),
                    reason,
                    record: String::new(),
                }),
                (Err(r), None) => page.refused.push(r),
                // Refused for another reason, and it holds a secret too: its raw text is
                // not kept.
                (Err(r), Some(reason)) => page.refused.push(RefusedRecord {
                    reason: format!("{}; {reason}", r.reason),
                    record: String::new(),
                    ..r
                }),
            }
        }
        page
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

/// A guid for a record too malformed to derive one from its parts: from its raw text.
fn raw_guid(config_id: &str, e: &AdapterEvent) -> String {
    let name = format!(
        "{config_id}\nraw\n{}\n{}\n{}\n{}",
        e.entity_guid, e.event_type, e.timestamp, e.data
    );
    uuid::Uuid::new_v5(&PULLED_NAMESPACE, name.as_bytes()).to_string()
}

/// The record as JSON text, for the quarantine.
fn raw(e: &AdapterEvent) -> String {
    serde_json::json!({
        "guid": e.guid, "entityGuid": e.entity_guid, "type": e.event_type,
        "data": e.data, "timestamp": e.timestamp, "userId": e.user_id,
    })
    .to_string()
}

/// Turn one pulled record into an event to store, or refuse it with the reason. `now`
/// bounds how far in the future its timestamp may be ([`MAX_FUTURE_SKEW`]).
pub fn accept(
    config_id: &str,
    e: AdapterEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FormSubmission, RefusedRecord> {
    let refuse = |e: &AdapterEvent, reason: String| RefusedRecord {
        guid: if e.guid.trim().is_empty() {
            raw_guid(config_id, e)
        } else {
            e.guid.clone()
        },
        reason,
        record: raw(e),
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
    if let Err(m) = event.validate() {
        return Err(refuse(&e, m));
    }
    let at = chrono::DateTime::parse_from_rfc3339(&event.timestamp)
        .map(|t| t.with_timezone(&chrono::Utc));
    if at.is_ok_and(|t| t > now + MAX_FUTURE_SKEW) {
        return Err(refuse(
            &e,
            format!(
                "`timestamp` {} is more than {} hours in the future",
                event.timestamp,
                MAX_FUTURE_SKEW.num_hours()
            ),
        ));
    }
    Ok(event)
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

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2025-06-01T00:00:00Z".parse().unwrap()
    }

    fn accept(config: &str, e: AdapterEvent) -> Result<FormSubmission, RefusedRecord> {
        super::accept(config, e, now())
    }

    #[test]
    fn a_timestamp_far_in_the_future_is_refused() {
        let mut e = record("g", "p", "{}");
        e.timestamp = "9999-12-31T23:59:59Z".into();
        assert!(accept("c", e.clone())
            .unwrap_err()
            .reason
            .contains("in the future"));
        e.timestamp = "2025-06-01T20:00:00Z".into();
        assert!(accept("c", e).is_ok(), "within the skew");
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
        let page = PulledPage::accept(
            "c1",
            vec![
                record("", "", "{}"),
                record("", "p2", "not json"),
                record("", "p3", "{}"),
            ],
            None,
            now(),
            |_| None,
        );
        assert_eq!(page.events.len(), 1);
        let empty = &page.refused[0];
        assert!(empty.reason.contains("entityGuid"), "{}", empty.reason);
        assert!(page.refused[1].reason.contains("not JSON"));
        assert!(empty.record.contains("\"entityGuid\":\"\""));
        let again = accept("c1", record("", "", "{}")).unwrap_err();
        assert_eq!(empty.guid, again.guid, "a re-pull quarantines it once");
    }
}
