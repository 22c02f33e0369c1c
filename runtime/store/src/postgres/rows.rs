//! The server's `events` rows: how dcsync writes them (as the server's `saveEvents` does)
//! and reads them back (as its `getEvents` does), and dcsync's quarantine rows.
//!
//! Column by column (PEA:220-230, research/datacollect-original.md §1.3): `guid`,
//! `tenant_id`, `entity_guid`, `type`, `data` (JSONB: the payload object), `timestamp`
//! (TIMESTAMPTZ: the device's time), `user_id`, `sync_level` (0 local, 1 remote,
//! 2 external). Reading, a NULL column (a row another program wrote) becomes an empty
//! string, `{}` or level 0, and the timestamp comes back as the server's `toISOString()`
//! gives it (UTC, milliseconds, `Z`), with microseconds when the row has them.

use crate::{PendingEvent, QuarantinePhase, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use dcsync_contract::model::{FormSubmission, SyncLevel};
use postgres::{GenericClient, Row, Transaction};
use serde_json::Value;
use std::collections::HashMap;

/// The event columns, after a leading position column, as `pending_from_row` reads them.
pub(super) const EVENT_SELECT: &str =
    "e.guid, e.entity_guid, e.type, e.data, e.timestamp, e.user_id, e.sync_level";

/// A row of `SELECT <pos>, {EVENT_SELECT}`.
pub(super) fn pending_from_row(r: &Row) -> Result<PendingEvent, StoreError> {
    Ok(PendingEvent {
        seq: r.try_get(0)?,
        event: event_from_row(r, 1)?,
    })
}

/// The event in the columns from `at` on (in `EVENT_SELECT` order).
pub(super) fn event_from_row(r: &Row, at: usize) -> Result<FormSubmission, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> {
        Ok(r.try_get::<_, Option<String>>(at + i)?.unwrap_or_default())
    };
    let time: Option<DateTime<Utc>> = r.try_get(at + 4)?;
    let level: Option<i32> = r.try_get(at + 6)?;
    Ok(FormSubmission {
        guid: text(0)?,
        entity_guid: text(1)?,
        event_type: text(2)?,
        data: r
            .try_get::<_, Option<Value>>(at + 3)?
            .unwrap_or_else(|| Value::Object(Default::default())),
        timestamp: time.map(format_time).unwrap_or_default(),
        user_id: text(5)?,
        sync_level: level
            .and_then(|l| SyncLevel::from_number(l.into()))
            .unwrap_or(SyncLevel::Local),
    })
}

/// A time as the server's `Date.toISOString()` writes it; microseconds kept when present.
pub(super) fn format_time(t: DateTime<Utc>) -> String {
    let format = if t.timestamp_subsec_micros().is_multiple_of(1000) {
        SecondsFormat::Millis
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}

/// Why PostgreSQL cannot hold `e` as the server's row, if it cannot: such an event is
/// quarantined without being stored (SQLite would store it and quarantine its apply).
pub(super) fn unstorable(e: &FormSubmission) -> Option<String> {
    if DateTime::parse_from_rfc3339(&e.timestamp).is_err() {
        return Some(format!(
            "not stored: `timestamp` {:?} is not an RFC 3339 date-time (e.g. 2025-01-31T12:00:00Z), and the events table keeps a timestamptz",
            e.timestamp
        ));
    }
    let texts = [&e.guid, &e.entity_guid, &e.event_type, &e.user_id];
    if texts.iter().any(|t| t.contains('\0')) || e.data.to_string().contains("\\u0000") {
        return Some("not stored: it holds a NUL character (U+0000), which PostgreSQL text and jsonb cannot store".into());
    }
    None
}

/// The events of a page, column by column (one array parameter each).
#[derive(Default)]
struct EventColumns<'a> {
    guid: Vec<&'a str>,
    entity: Vec<&'a str>,
    kind: Vec<&'a str>,
    data: Vec<String>,
    time: Vec<&'a str>,
    user: Vec<&'a str>,
    level: Vec<i32>,
}

/// Insert the events (one statement), skipping guids already stored anywhere, and record
/// the config pulled ones came from; returns the guids inserted.
pub(super) fn insert_events(
    tx: &mut Transaction<'_>,
    tenant: &str,
    events: &[&FormSubmission],
    origin: Option<&str>,
) -> Result<std::collections::HashSet<String>, StoreError> {
    if events.is_empty() {
        return Ok(Default::default());
    }
    let mut c = EventColumns::default();
    for e in events {
        c.guid.push(&e.guid);
        c.entity.push(&e.entity_guid);
        c.kind.push(&e.event_type);
        c.data.push(e.data.to_string());
        c.time.push(&e.timestamp);
        c.user.push(&e.user_id);
        c.level.push(e.sync_level as i32);
    }
    // The server's statement (PEA:220) names the same columns; ON CONFLICT because a
    // re-pull or re-import of a stored guid is a duplicate here, not an error.
    let rows = tx.query(
        "WITH stored AS (
            INSERT INTO events (guid, tenant_id, entity_guid, type, data, timestamp, user_id, sync_level)
            SELECT g, $1, eg, t, d::jsonb, ts::timestamptz, u, sl
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int4[])
                 AS x(g, eg, t, d, ts, u, sl)
            ON CONFLICT (guid) DO NOTHING
            RETURNING guid
         ), origins AS (
            INSERT INTO dcsync_origins (guid, tenant_id, config_id)
            SELECT guid, $1, $9 FROM stored WHERE $9::text IS NOT NULL
            ON CONFLICT DO NOTHING
         )
         SELECT guid FROM stored",
        &[&tenant, &c.guid, &c.entity, &c.kind, &c.data, &c.time, &c.user, &c.level, &origin],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// For guids that were not inserted: whether each is this tenant's (`true`) or another's.
pub(super) fn owners(
    tx: &mut impl GenericClient,
    tenant: &str,
    guids: &[&str],
) -> Result<HashMap<String, bool>, StoreError> {
    if guids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(tx
        .query(
            "SELECT guid, tenant_id = $1 FROM events WHERE guid = ANY($2)",
            &[&tenant, &guids],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The stored event of this tenant with `guid`.
pub(super) fn stored_event(
    tx: &mut impl GenericClient,
    tenant: &str,
    guid: &str,
) -> Result<Option<FormSubmission>, StoreError> {
    tx.query_opt(
        &format!("SELECT {EVENT_SELECT} FROM events e WHERE e.guid = $1 AND e.tenant_id = $2"),
        &[&guid, &tenant],
    )?
    .map(|r| event_from_row(&r, 0))
    .transpose()
}

/// Whether `stored` is `e` again (a re-import) rather than other content under its guid.
/// Times are compared as instants: the table keeps the instant, not the text.
pub(super) fn same_event(stored: &FormSubmission, e: &FormSubmission) -> bool {
    let instant = |t: &str| DateTime::parse_from_rfc3339(t).ok().map(|d| d.to_utc());
    stored.entity_guid == e.entity_guid
        && stored.event_type == e.event_type
        && stored.data == e.data
        && instant(&stored.timestamp) == instant(&e.timestamp)
        && stored.user_id == e.user_id
        && stored.sync_level == e.sync_level
}

/// The message of a guid another tenant holds: it says nothing of that tenant.
pub(super) const GUID_TAKEN: &str = "not stored: its guid is already used in this database outside this tenant (event guids are unique across all tenants); give the event another guid";

/// Open a quarantine entry.
#[allow(clippy::too_many_arguments)]
pub(super) fn quarantine(
    tx: &mut impl GenericClient,
    tenant: &str,
    config: Option<&str>,
    phase: QuarantinePhase,
    guid: &str,
    pos: Option<i64>,
    reason: &str,
    record: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO dcsync_quarantine (tenant_id, config_id, phase, event_guid, pos, reason, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&tenant, &config, &phase.as_str(), &guid, &pos, &reason, &record],
    )?;
    Ok(())
}
