//! The server's `entities` and `audit_log` rows: EntityDocs in its JSON shape, and the
//! page's writes, one statement per table (PNA:361-373, PEA:292; research §1.4, §1.7).

use crate::StoreError;
use dcsync_applier::TxError;
use dcsync_contract::model::{AuditEntry, EntityDoc, EntityKind, EntityPair};
use postgres::Transaction;
use serde_json::Value;

/// Upsert entities as `saveEntity` does (PNA:366-367), all in one statement.
pub(super) fn write_entities(
    tx: &mut Transaction<'_>,
    tenant: &str,
    pairs: &[EntityPair],
) -> Result<(), StoreError> {
    if pairs.is_empty() {
        return Ok(());
    }
    #[derive(Default)]
    struct Columns<'a> {
        guid: Vec<&'a str>,
        /// `None` when it is `modified` (a pulled event): sent and parsed once.
        initial: Vec<Option<String>>,
        modified: Vec<String>,
        updated: Vec<Option<chrono::NaiveDateTime>>,
    }
    let mut c = Columns::default();
    for p in pairs {
        c.guid.push(&p.modified.guid);
        c.initial
            .push((p.initial != p.modified).then(|| to_node(&p.initial).to_string()));
        c.modified.push(to_node(&p.modified).to_string());
        c.updated.push(
            chrono::DateTime::parse_from_rfc3339(&p.modified.last_updated)
                .ok()
                .map(|t| t.naive_utc()),
        );
    }
    tx.execute(
        "INSERT INTO entities (id, guid, initial, modified, last_updated, tenant_id)
         SELECT g, g, COALESCE(i, m)::jsonb, m::jsonb, lu, $1
         FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamp[]) AS x(g, i, m, lu)
         ON CONFLICT (guid, tenant_id) DO UPDATE
            SET initial = EXCLUDED.initial, modified = EXCLUDED.modified, last_updated = EXCLUDED.last_updated",
        &[&tenant, &c.guid, &c.initial, &c.modified, &c.updated],
    )?;
    Ok(())
}

/// Append audit rows as `saveAuditLog` does (PEA:292), in order, in one statement.
pub(super) fn write_audits(
    tx: &mut Transaction<'_>,
    tenant: &str,
    audits: &[AuditEntry],
) -> Result<(), StoreError> {
    if audits.is_empty() {
        return Ok(());
    }
    #[derive(Default)]
    struct Columns<'a> {
        guid: Vec<String>,
        action: Vec<&'a str>,
        entity: Vec<&'a str>,
        event: Vec<&'a str>,
        changes: Vec<String>,
        user: Vec<&'a str>,
        time: Vec<&'a str>,
    }
    let mut c = Columns::default();
    for a in audits {
        c.guid.push(uuid::Uuid::new_v4().to_string());
        c.action.push(&a.action);
        c.entity.push(&a.entity_guid);
        c.event.push(&a.event_guid);
        c.changes.push(a.changes.to_string());
        c.user.push(&a.user_id);
        c.time.push(&a.timestamp);
    }
    tx.execute(
        "INSERT INTO audit_log (guid, tenant_id, action, entity_guid, event_guid, changes, user_id, signature, timestamp)
         SELECT g, $1, a, eg, ev, ch::jsonb, u, '', ts::timestamptz
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
              WITH ORDINALITY AS x(g, a, eg, ev, ch, u, ts, n)
         ORDER BY n",
        &[&tenant, &c.guid, &c.action, &c.entity, &c.event, &c.changes, &c.user, &c.time],
    )?;
    Ok(())
}

/// An EntityDoc as the server stores it: `id` beside `guid`, a group's `memberIds` always.
pub(super) fn to_node(doc: &EntityDoc) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        o.insert("id".into(), Value::String(doc.guid.clone()));
        if doc.kind == EntityKind::Group {
            o.entry("memberIds").or_insert_with(|| Value::Array(vec![]));
        }
    }
    v
}

/// A stored EntityDoc, whoever wrote it: the server's have `id`, may carry a numeric
/// `externalId` (OpenSPP ids) or nulls where dcsync omits a key.
pub(super) fn from_node(mut v: Value, guid: &str) -> Result<EntityDoc, TxError> {
    if let Value::Object(o) = &mut v {
        o.retain(|_, x| !x.is_null());
        if let Some(Value::Number(n)) = o.get("externalId") {
            let s = n.to_string();
            o.insert("externalId".into(), Value::String(s));
        }
        if let Some(Value::Number(n)) = o.get("version") {
            if n.as_u64().is_none() {
                let whole = n.as_f64().map_or(0, |f| f.max(0.0) as u64);
                o.insert("version".into(), Value::from(whole));
            }
        }
        o.entry("guid")
            .or_insert_with(|| Value::String(guid.into()));
        o.entry("data")
            .or_insert_with(|| Value::Object(Default::default()));
        o.entry("lastUpdated")
            .or_insert_with(|| Value::String(String::new()));
        o.entry("version").or_insert_with(|| Value::from(0));
    }
    serde_json::from_value(v).map_err(|e| {
        TxError(format!(
            "entity {guid}: stored document not understood ({e})"
        ))
    })
}
