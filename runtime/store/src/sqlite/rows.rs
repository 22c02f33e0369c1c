//! Row mapping and the small statements every store operation shares.

use super::entities::SqlTx;
use crate::*;
use dcsync_applier::{ApplyOutcomeError, LinkKind, Origin};
use dcsync_contract::model::{now_rfc3339, FormSubmission, SyncLevel};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub(super) const EVENT_COLUMNS: &str =
    "seq, guid, entity_guid, type, data, timestamp, user_id, sync_level";

pub(super) fn row_to_pending(r: &rusqlite::Row<'_>) -> rusqlite::Result<PendingEvent> {
    let data: String = r.get(4)?;
    let level: i64 = r.get(7)?;
    Ok(PendingEvent {
        seq: r.get(0)?,
        event: FormSubmission {
            guid: r.get(1)?,
            entity_guid: r.get(2)?,
            event_type: r.get(3)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            timestamp: r.get(5)?,
            user_id: r.get(6)?,
            sync_level: SyncLevel::from_number(level).unwrap_or(SyncLevel::Local),
        },
    })
}

/// Insert one event unless its guid is stored; `None` for a duplicate.
pub(super) fn insert_event(
    tx: &Transaction<'_>,
    e: &FormSubmission,
    origin: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    // A cached statement: it runs once per event stored (import, pull), and so do the
    // applier's statements (`entities.rs`); parsing each again was a large part of a page.
    let n = tx.prepare_cached(
        "INSERT OR IGNORE INTO events (guid, entity_guid, type, data, timestamp, user_id, sync_level, origin, stored_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?.execute(params![
            e.guid,
            e.entity_guid,
            e.event_type,
            e.data.to_string(),
            e.timestamp,
            e.user_id,
            e.sync_level as i64,
            origin,
            now_rfc3339()
        ])?;
    Ok((n == 1).then(|| tx.last_insert_rowid()))
}

pub(super) fn quarantine(
    tx: &Transaction<'_>,
    config_id: Option<&str>,
    phase: QuarantinePhase,
    guid: &str,
    seq: Option<i64>,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO quarantine (config_id, phase, event_guid, seq, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![config_id, phase.as_str(), guid, seq, reason, now_rfc3339()],
    )?;
    Ok(())
}

/// Apply one stored event; on an apply error, quarantine it. A store error aborts.
pub(super) fn apply_one(
    tx: &Transaction<'_>,
    applier: &EventApplier,
    event: &FormSubmission,
    seq: i64,
    origin: Origin<'_>,
) -> Result<bool, StoreError> {
    let config = match origin {
        Origin::Local => None,
        Origin::Pulled(c) => Some(c),
    };
    tx.prepare_cached("SAVEPOINT apply_one")?.execute([])?;
    match applier.apply(&mut SqlTx(tx), event, origin) {
        Ok(_) => {
            tx.prepare_cached("RELEASE apply_one")?.execute([])?;
            Ok(true)
        }
        Err(ApplyOutcomeError::Rejected(e)) => {
            // Undo the event's partial changes, keep the event, quarantine it.
            tx.execute("ROLLBACK TO apply_one", [])?;
            tx.execute("RELEASE apply_one", [])?;
            quarantine(
                tx,
                config,
                QuarantinePhase::Apply,
                &event.guid,
                Some(seq),
                &e.0,
            )?;
            Ok(false)
        }
        Err(ApplyOutcomeError::Store(e)) => Err(StoreError::Backend(e.0)),
    }
}

pub(super) fn set_cursor(
    tx: &Transaction<'_>,
    config_id: &str,
    push: Option<i64>,
    pull: Option<Option<&str>>,
) -> Result<(), StoreError> {
    // Cached statements: these run for every batch and page (parsing the SQL again each
    // time showed in the push profile).
    tx.prepare_cached(
        "INSERT INTO cursors (config_id, push_seq, pull_cursor, updated_at) VALUES (?1, 0, NULL, ?2)
         ON CONFLICT(config_id) DO NOTHING",
    )?
    .execute(params![config_id, now_rfc3339()])?;
    if let Some(seq) = push {
        tx.prepare_cached(
            "UPDATE cursors SET push_seq = MAX(push_seq, ?2), updated_at = ?3 WHERE config_id = ?1",
        )?
        .execute(params![config_id, seq, now_rfc3339()])?;
    }
    if let Some(Some(c)) = pull {
        tx.prepare_cached(
            "UPDATE cursors SET pull_cursor = ?2, updated_at = ?3 WHERE config_id = ?1",
        )?
        .execute(params![config_id, c, now_rfc3339()])?;
    }
    Ok(())
}

pub(super) const RUN_COLUMNS: &str = "id, config_id, adapter_type, adapter_version, started_at, finished_at, status, pushed, pulled,
    applied, duplicates, quarantined, retries, error_class, message, remote_refs, duration_ms, denials, breaches";

pub(super) fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let count = |i: usize| r.get::<_, i64>(i).map(|n| n as u64);
    Ok(RunRecord {
        id: r.get(0)?,
        config_id: r.get(1)?,
        adapter_type: r.get(2)?,
        adapter_version: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        status: text_enum(r, 6, RunStatus::parse)?,
        pushed: count(7)?,
        pulled: count(8)?,
        applied: count(9)?,
        duplicates: count(10)?,
        quarantined: count(11)?,
        retries: count(12)?,
        error_class: r
            .get::<_, Option<String>>(13)?
            .map(|c| ErrorClass::parse(&c).unwrap_or(ErrorClass::Internal)),
        message: r.get(14)?,
        remote_refs: serde_json::from_str(&r.get::<_, String>(15)?).unwrap_or_default(),
        duration_ms: r.get::<_, Option<i64>>(16)?.map(|d| d as u64),
        denials: serde_json::from_str(&r.get::<_, String>(17)?).unwrap_or_default(),
        breaches: serde_json::from_str(&r.get::<_, String>(18)?).unwrap_or_default(),
    })
}

/// The push cursor of a config (0: nothing pushed yet).
pub(super) fn push_cursor(conn: &Connection, config_id: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT push_seq FROM cursors WHERE config_id = ?1")?
        .query_row([config_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A column holding an enum's text form.
pub(super) fn text_enum<T>(
    r: &rusqlite::Row<'_>,
    i: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

/// The entities of the local events of a delivered batch (minus its rejected events) are
/// linked to the config: its pulls may update them from now on. Group events link their
/// members too. Events pulled from another config link nothing: passing them on does not
/// make their entities this config's.
pub(super) fn link_delivered(
    tx: &Transaction<'_>,
    config_id: &str,
    batch: &[i64],
    rejected: &std::collections::HashSet<&str>,
) -> Result<(), StoreError> {
    // One statement for the whole batch (a read and a link per event cost more than the
    // rest of confirming it): the events' entities, and the string `guid`s of a group's
    // `members` array, read in place by SQLite. Paths go through `json_type` on the
    // event's own data, so a member that is not an object is skipped, not an error.
    let seqs = serde_json::to_string(batch).map_err(|e| StoreError::Backend(e.to_string()))?;
    let rejected: Vec<&str> = rejected.iter().copied().collect();
    let rejected =
        serde_json::to_string(&rejected).map_err(|e| StoreError::Backend(e.to_string()))?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO entity_links (entity_guid, config_id, kind)
         SELECT e.entity_guid, ?1, ?4 FROM events e
          WHERE e.seq IN (SELECT value FROM json_each(?2)) AND e.origin IS NULL
            AND e.guid NOT IN (SELECT value FROM json_each(?3))
         UNION ALL
         SELECT json_extract(e.data, m.fullkey || '.guid'), ?1, ?4
           FROM events e, json_each(e.data, '$.members') m
          WHERE e.seq IN (SELECT value FROM json_each(?2)) AND e.origin IS NULL
            AND e.guid NOT IN (SELECT value FROM json_each(?3))
            AND json_type(e.data, '$.members') = 'array'
            AND json_type(e.data, m.fullkey || '.guid') = 'text'",
    )?
    .execute(params![
        config_id,
        seqs,
        rejected,
        LinkKind::Pushed.as_str()
    ])?;
    Ok(())
}

/// Whether the stored event with `e`'s guid has the same content (a re-import), rather than
/// other content under the same guid (a conflict).
pub(super) fn same_as_stored(tx: &Transaction<'_>, e: &FormSubmission) -> Result<bool, StoreError> {
    let stored = tx
        .query_row(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE guid = ?1"),
            [&e.guid],
            row_to_pending,
        )
        .optional()?;
    Ok(stored.is_some_and(|p| {
        let s = &p.event;
        s.entity_guid == e.entity_guid
            && s.event_type == e.event_type
            && s.data == e.data
            && s.timestamp == e.timestamp
            && s.user_id == e.user_id
            && s.sync_level == e.sync_level
    }))
}
