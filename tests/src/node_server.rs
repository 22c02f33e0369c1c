//! The original DataCollect server's own SQL, verbatim, sent as node-postgres sends it:
//! every parameter as text of unknown type (OID 0), objects `JSON.stringify`'d, `null` for
//! `undefined` (research/datacollect-original.md, "How pg converts JS values"). Tests use it
//! to act as the Node server beside dcsync on the same database.
//!
//! Sources (idpass-data-collect 5478720): PEA = `packages/datacollect/src/storage/
//! PostgresEventStorageAdapter.ts`, PNA = `…/PostgresEntityStorageAdapter.ts`.

use datacollect_sync::FormSubmission;
use postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};
use postgres::GenericClient;
use serde_json::Value;

/// A parameter as node-postgres sends it: text format, of unknown type (the server infers
/// it from the statement and parses the text), or NULL.
#[derive(Debug)]
struct Text(Option<String>);

impl ToSql for Text {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }
    to_sql_checked!();
}

/// Parameters as node-postgres sends them.
fn untyped(values: &[Option<String>]) -> Vec<(Box<dyn ToSql + Sync>, Type)> {
    values
        .iter()
        .map(|v| {
            (
                Box::new(Text(v.clone())) as Box<dyn ToSql + Sync>,
                Type::UNKNOWN,
            )
        })
        .collect()
}

fn params(p: &[(Box<dyn ToSql + Sync>, Type)]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    p.iter().map(|(v, t)| (v.as_ref(), t.clone())).collect()
}

/// `saveEvents` (PEA:220): `INSERT INTO events … VALUES ($1 … $8)`.
pub fn save_event(c: &mut impl GenericClient, tenant: &str, e: &FormSubmission) {
    let p = [
        Some(e.guid.clone()),
        Some(tenant.to_string()),
        Some(e.entity_guid.clone()),
        Some(e.event_type.clone()),
        Some(e.data.to_string()),
        Some(e.timestamp.clone()),
        Some(e.user_id.clone()),
        Some((e.sync_level as u8).to_string()),
    ];
    c.execute_typed(
        "INSERT INTO events (guid, tenant_id, entity_guid, type, data, timestamp, user_id, sync_level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &params(&untyped(&p)),
    )
    .expect("the server's saveEvents statement");
}

/// `setLastPushExternalSyncTimestamp` (PEA:713-714): DELETE, then INSERT.
pub fn set_last_push(c: &mut impl GenericClient, tenant: &str, timestamp: &str) {
    let t = [Some(tenant.to_string())];
    c.execute_typed(
        "DELETE FROM last_push_external_sync_timestamp WHERE tenant_id = $1",
        &params(&untyped(&t)),
    )
    .expect("delete");
    let p = [Some(timestamp.to_string()), Some(tenant.to_string())];
    c.execute_typed(
        "INSERT INTO last_push_external_sync_timestamp (timestamp, tenant_id) VALUES ($1, $2)",
        &params(&untyped(&p)),
    )
    .expect("the server's set-push-cursor statement");
}

/// `saveEntity` (PNA:366-367), with the guid taken from the documents as the server does.
pub fn save_entity(c: &mut impl GenericClient, tenant: &str, initial: &Value, modified: &Value) {
    let guid = initial["guid"]
        .as_str()
        .or(modified["guid"].as_str())
        .map(str::to_string);
    let p = [
        guid.clone(),
        guid,
        Some(initial.to_string()),
        Some(modified.to_string()),
        modified["lastUpdated"].as_str().map(str::to_string),
        Some(tenant.to_string()),
    ];
    c.execute_typed(
        "INSERT INTO entities (id, guid, initial, modified, last_updated, tenant_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (guid, tenant_id) DO UPDATE SET initial = $3, modified = $4, last_updated = $5",
        &params(&untyped(&p)),
    )
    .expect("the server's saveEntity statement");
}

/// `saveAuditLog` (PEA:292).
#[allow(clippy::too_many_arguments)]
pub fn save_audit(
    c: &mut impl GenericClient,
    tenant: &str,
    guid: &str,
    action: &str,
    entity_guid: &str,
    event_guid: &str,
    changes: &Value,
    user_id: &str,
    timestamp: &str,
) {
    let p = [
        Some(guid.to_string()),
        Some(tenant.to_string()),
        Some(action.to_string()),
        Some(entity_guid.to_string()),
        Some(event_guid.to_string()),
        Some(changes.to_string()),
        Some(user_id.to_string()),
        Some(String::new()),
        Some(timestamp.to_string()),
    ];
    c.execute_typed(
        "INSERT INTO audit_log (guid, tenant_id, action, entity_guid, event_guid, changes, user_id, signature, timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &params(&untyped(&p)),
    )
    .expect("the server's saveAuditLog statement");
}

/// `savePotentialDuplicates` (PNA:573).
pub fn save_potential_duplicate(c: &mut impl GenericClient, tenant: &str, a: &str, b: &str) {
    let p = [
        Some(a.to_string()),
        Some(b.to_string()),
        Some(tenant.to_string()),
    ];
    c.execute_typed(
        "INSERT INTO potential_duplicates (entity_guid, duplicate_guid, tenant_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &params(&untyped(&p)),
    )
    .expect("the server's savePotentialDuplicates statement");
}

/// `saveMerkleRoot` (PEA:352-367, non-empty root).
pub fn save_merkle_root(c: &mut impl GenericClient, tenant: &str, root: &str) {
    let p = [Some(root.to_string()), Some(tenant.to_string())];
    c.execute_typed(
        "INSERT INTO merkle_root (root, tenant_id) VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE SET root = EXCLUDED.root",
        &params(&untyped(&p)),
    )
    .expect("the server's saveMerkleRoot statement");
}

/// `getEvents` (PEA:256), mapped as the server maps rows (PEA:259-270): (guid,
/// entityGuid, type, data, timestamp as `toISOString()`, userId, syncLevel).
pub fn get_events(c: &mut impl GenericClient, tenant: &str) -> Vec<Value> {
    let p = [Some(tenant.to_string())];
    c.query_typed(
        "SELECT guid, entity_guid, type, data, timestamp, user_id, sync_level FROM events WHERE tenant_id = $1",
        &params(&untyped(&p)),
    )
    .expect("the server's getEvents statement")
    .iter()
    .map(|r| {
        let t: Option<chrono::DateTime<chrono::Utc>> = r.get(4);
        serde_json::json!({
            "guid": r.get::<_, Option<String>>(0),
            "entityGuid": r.get::<_, Option<String>>(1),
            "type": r.get::<_, Option<String>>(2),
            "data": r.get::<_, Option<Value>>(3),
            "timestamp": t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "userId": r.get::<_, Option<String>>(5),
            "syncLevel": r.get::<_, Option<i32>>(6),
        })
    })
    .collect()
}

/// `getEntity` (PNA:386): `(initial, modified)` of the entity with id `id`.
pub fn get_entity(c: &mut impl GenericClient, tenant: &str, id: &str) -> Option<(Value, Value)> {
    let p = [Some(id.to_string()), Some(tenant.to_string())];
    c.query_typed(
        "SELECT guid, initial, modified FROM entities WHERE id = $1 AND tenant_id = $2",
        &params(&untyped(&p)),
    )
    .expect("the server's getEntity statement")
    .first()
    .map(|r| (r.get(1), r.get(2)))
}

/// `getEntityByExternalId` (PNA:493): the guids found.
pub fn get_entity_by_external_id(
    c: &mut impl GenericClient,
    tenant: &str,
    external_id: &str,
) -> Vec<String> {
    let p = [Some(external_id.to_string()), Some(tenant.to_string())];
    c.query_typed(
        "SELECT guid, initial, modified FROM entities WHERE (initial->>'externalId' = $1 OR modified->>'externalId' = $1) AND tenant_id = $2",
        &params(&untyped(&p)),
    )
    .expect("the server's getEntityByExternalId statement")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// `getAuditTrailByEntityGuid` (PEA:756): (action, event guid, changes, signature), newest
/// first.
pub fn audit_trail(
    c: &mut impl GenericClient,
    tenant: &str,
    entity_guid: &str,
) -> Vec<(String, String, Value, String)> {
    let p = [Some(entity_guid.to_string()), Some(tenant.to_string())];
    c.query_typed(
        "SELECT guid, action, entity_guid, event_guid, changes, user_id, signature, timestamp FROM audit_log WHERE entity_guid = $1 AND tenant_id = $2 ORDER BY timestamp DESC",
        &params(&untyped(&p)),
    )
    .expect("the server's getAuditTrailByEntityGuid statement")
    .iter()
    .map(|r| (r.get(1), r.get(3), r.get(4), r.get(6)))
    .collect()
}
