//! The applier's view of a SQLite transaction: entities and the audit log.

use dcsync_applier::{EntityTx, LinkKind, TxError};
use dcsync_contract::model::{AuditEntry, EntityPair};
use rusqlite::{params, OptionalExtension, Transaction};

/// A transaction, as the applier uses it.
pub(super) struct SqlTx<'a, 'c>(pub(super) &'a Transaction<'c>);

fn tx_err(e: rusqlite::Error) -> TxError {
    TxError(e.to_string())
}

impl EntityTx for SqlTx<'_, '_> {
    fn entity(&mut self, guid: &str) -> Result<Option<EntityPair>, TxError> {
        let row: Option<(String, String)> = self
            .0
            .prepare_cached("SELECT initial, modified FROM entities WHERE guid = ?1")
            .and_then(|mut s| s.query_row([guid], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .map_err(tx_err)?;
        row.map(|(i, m)| {
            Ok(EntityPair {
                initial: serde_json::from_str(&i).map_err(|e| TxError(e.to_string()))?,
                modified: serde_json::from_str(&m).map_err(|e| TxError(e.to_string()))?,
            })
        })
        .transpose()
    }

    fn put_entity(&mut self, pair: &EntityPair) -> Result<(), TxError> {
        let enc = |d| serde_json::to_string(d).map_err(|e| TxError(e.to_string()));
        let (initial, modified) = (enc(&pair.initial)?, enc(&pair.modified)?);
        self.0
            .prepare_cached(
                "INSERT INTO entities (guid, initial, modified) VALUES (?1, ?2, ?3)
                 ON CONFLICT(guid) DO UPDATE SET initial = excluded.initial, modified = excluded.modified",
            )
            .and_then(|mut s| {
                s.execute(params![pair.modified.guid, initial, modified])
            })
            .map_err(tx_err)?;
        Ok(())
    }

    fn delete_entity(&mut self, guid: &str) -> Result<(), TxError> {
        self.0
            .prepare_cached("DELETE FROM entities WHERE guid = ?1")
            .and_then(|mut s| s.execute([guid]))
            .map_err(tx_err)?;
        Ok(())
    }

    fn linked(&mut self, guid: &str, config_id: &str) -> Result<Option<LinkKind>, TxError> {
        let kind: Option<String> = self
            .0
            .prepare_cached(
                "SELECT kind FROM entity_links WHERE entity_guid = ?1 AND config_id = ?2",
            )
            .and_then(|mut s| s.query_row(params![guid, config_id], |r| r.get(0)))
            .optional()
            .map_err(tx_err)?;
        if let Some(k) = kind {
            return Ok(Some(LinkKind::from_stored(&k)));
        }
        let legacy: bool = self
            .0
            .prepare_cached(
                "SELECT NOT EXISTS (SELECT 1 FROM entity_links WHERE entity_guid = ?1)
                    AND EXISTS (SELECT 1 FROM entities WHERE guid = ?1
                                AND json_extract(modified, '$.externalId') IS NOT NULL)",
            )
            .and_then(|mut s| s.query_row([guid], |r| r.get(0)))
            .map_err(tx_err)?;
        Ok(legacy.then_some(LinkKind::Legacy))
    }

    fn link(&mut self, guid: &str, config_id: &str, kind: LinkKind) -> Result<(), TxError> {
        link(self.0, guid, config_id, kind).map_err(tx_err)
    }

    fn entities_with_external_id(&mut self, external_id: &str) -> Result<Vec<String>, TxError> {
        // The expression is the index's (schema migration 4).
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT guid FROM entities WHERE json_extract(modified, '$.externalId') = ?1",
            )
            .map_err(tx_err)?;
        let rows = stmt
            .query_map([external_id], |r| r.get(0))
            .map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }

    fn audit(&mut self, a: &AuditEntry) -> Result<(), TxError> {
        self.0
            .prepare_cached(
                "INSERT INTO audit (timestamp, user_id, action, event_guid, entity_guid, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![a.timestamp, a.user_id, a.action, a.event_guid, a.entity_guid, a.changes.to_string()])
            })
            .map_err(tx_err)?;
        Ok(())
    }
}

/// Link an entity to a config (idempotent: an existing link keeps its kind).
pub(super) fn link(
    tx: &Transaction<'_>,
    guid: &str,
    config_id: &str,
    kind: LinkKind,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO entity_links (entity_guid, config_id, kind) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![guid, config_id, kind.as_str()])?;
    Ok(())
}
