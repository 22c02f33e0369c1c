//! The applier's view of a PostgreSQL transaction: the server's `entities` and
//! `audit_log` rows of the tenant, and dcsync's entity links.
//!
//! The same applier as on SQLite runs here, one event at a time; what it writes is kept in
//! memory and written once per page (one statement per table), so a page of pulled events
//! costs a handful of round trips rather than several per event. Entities are read once
//! and locked (`FOR UPDATE`) for the transaction. Each event's changes sit in a layer of
//! their own until it is applied: an event the applier rejects leaves nothing behind, as
//! the savepoint does on SQLite.
//!
//! Rows as the server writes them (PNA:361-373, EAS:781-799; research §1.4, §1.7):
//! - `entities`: `id` = `guid`; `initial`/`modified` are whole EntityDocs with `id` beside
//!   `guid` and a group's `memberIds` always present; `last_updated` = `modified.lastUpdated`
//!   as UTC wall time (the column has no time zone); `sync_level` left NULL; upsert
//!   `ON CONFLICT (guid, tenant_id)`. A deletion also removes the entity's
//!   `potential_duplicates` rows (PNA:470-472).
//! - `audit_log`: a fresh UUID `guid`, `signature` = "", `changes` as JSONB.

use super::server_rows::{from_node, write_audits, write_entities};
use crate::StoreError;
use dcsync_applier::{EntityTx, LinkKind, TxError};
use dcsync_contract::model::{AuditEntry, EntityPair, FormSubmission};
use postgres::Transaction;
use serde_json::Value;
use std::collections::HashMap;

/// Changes not yet written: a page's, or one event's.
#[derive(Default)]
struct Layer {
    /// Final state per guid: `None` deleted.
    entities: HashMap<String, Option<EntityPair>>,
    audits: Vec<AuditEntry>,
    /// New links, per entity: (config, kind).
    links: HashMap<String, Vec<(String, LinkKind)>>,
}

/// A transaction, as the applier uses it.
pub(super) struct PgEntities<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    tenant: &'t str,
    /// As read from the table (`None`: no such entity).
    base: HashMap<String, Option<EntityPair>>,
    /// Stored links, per entity: (config, kind).
    base_links: HashMap<String, Vec<(String, LinkKind)>>,
    page: Layer,
    event: Layer,
    /// Lock the rows read (`FOR UPDATE`): for a transaction that writes them.
    lock: bool,
}

fn tx_err(e: impl std::fmt::Display) -> TxError {
    TxError(e.to_string())
}

impl<'t, 'c> PgEntities<'t, 'c> {
    pub(super) fn new(tx: &'t mut Transaction<'c>, tenant: &'t str) -> Self {
        PgEntities {
            tx,
            tenant,
            base: HashMap::new(),
            base_links: HashMap::new(),
            page: Layer::default(),
            event: Layer::default(),
            lock: true,
        }
    }

    /// A view that only reads: no row locks.
    pub(super) fn reader(tx: &'t mut Transaction<'c>, tenant: &'t str) -> Self {
        PgEntities {
            lock: false,
            ..Self::new(tx, tenant)
        }
    }

    /// Read (and lock) the entities and links `events` will touch, in two statements.
    pub(super) fn preload(&mut self, events: &[&FormSubmission]) -> Result<(), StoreError> {
        let mut guids: Vec<String> = Vec::new();
        for e in events {
            guids.push(e.entity_guid.clone());
            for m in e.data["members"].as_array().into_iter().flatten() {
                if let Some(g) = m["guid"].as_str() {
                    guids.push(g.to_string());
                }
            }
            if let Some(g) = e.data["memberId"].as_str() {
                guids.push(g.to_string());
            }
        }
        self.preload_guids(guids)
    }

    /// Read (and lock) these entities and their links, in two statements.
    pub(super) fn preload_guids(&mut self, mut guids: Vec<String>) -> Result<(), StoreError> {
        guids.sort();
        guids.dedup();
        guids.retain(|g| !self.base.contains_key(g));
        self.load(&guids).map_err(|e| StoreError::Backend(e.0))
    }

    fn load(&mut self, guids: &[String]) -> Result<(), TxError> {
        if guids.is_empty() {
            return Ok(());
        }
        for g in guids {
            self.base.insert(g.clone(), None);
            self.base_links.insert(g.clone(), Vec::new());
        }
        let lock = if self.lock { "FOR UPDATE" } else { "" };
        let rows = self
            .tx
            .query(
                &format!(
                    "SELECT guid, initial, modified FROM entities
                     WHERE tenant_id = $1 AND guid = ANY($2) ORDER BY guid {lock}"
                ),
                &[&self.tenant, &guids],
            )
            .map_err(tx_err)?;
        for r in rows {
            let guid: String = r.get(0);
            let (i, m): (Option<Value>, Option<Value>) = (r.get(1), r.get(2));
            let modified = from_node(m.unwrap_or(Value::Null), &guid)?;
            let initial = match i {
                Some(i) if !i.is_null() => from_node(i, &guid)?,
                _ => modified.clone(),
            };
            self.base
                .insert(guid, Some(EntityPair { initial, modified }));
        }
        // Links matter only for entities that exist (a new entity's link is written with
        // ON CONFLICT DO NOTHING, so an older row keeps its kind): a page of new entities
        // skips this read.
        let existing: Vec<&String> = guids
            .iter()
            .filter(|g| self.base.get(*g).is_some_and(Option::is_some))
            .collect();
        if existing.is_empty() {
            return Ok(());
        }
        let links = self
            .tx
            .query(
                "SELECT entity_guid, config_id, kind FROM dcsync_entity_links
                 WHERE tenant_id = $1 AND entity_guid = ANY($2)",
                &[&self.tenant, &existing],
            )
            .map_err(tx_err)?;
        for r in links {
            let (g, c, k): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            self.base_links
                .entry(g)
                .or_default()
                .push((c, LinkKind::from_stored(&k)));
        }
        Ok(())
    }

    /// The current event applied: its changes join the page's.
    pub(super) fn keep_event(&mut self) {
        let ev = std::mem::take(&mut self.event);
        self.page.entities.extend(ev.entities);
        self.page.audits.extend(ev.audits);
        for (guid, links) in ev.links {
            self.page.links.entry(guid).or_default().extend(links);
        }
    }

    /// The current event rejected: its changes are dropped.
    pub(super) fn drop_event(&mut self) {
        self.event = Layer::default();
    }

    /// Write the page's changes: one statement per table.
    pub(super) fn flush(mut self) -> Result<(), StoreError> {
        self.drop_event();
        let page = std::mem::take(&mut self.page);
        let (mut put, mut gone) = (Vec::new(), Vec::new());
        for (guid, state) in page.entities {
            match state {
                Some(pair) => put.push(pair),
                None => gone.push(guid),
            }
        }
        write_entities(self.tx, self.tenant, &put)?;
        if !gone.is_empty() {
            self.tx.execute(
                "DELETE FROM entities WHERE tenant_id = $1 AND id = ANY($2)",
                &[&self.tenant, &gone],
            )?;
            self.tx.execute(
                "DELETE FROM potential_duplicates
                 WHERE tenant_id = $1 AND (entity_guid = ANY($2) OR duplicate_guid = ANY($2))",
                &[&self.tenant, &gone],
            )?;
        }
        write_audits(self.tx, self.tenant, &page.audits)?;
        if !page.links.is_empty() {
            let (mut g, mut c, mut k) = (Vec::new(), Vec::new(), Vec::new());
            for (guid, links) in &page.links {
                for (config, kind) in links {
                    g.push(guid.as_str());
                    c.push(config.as_str());
                    k.push(kind.as_str());
                }
            }
            self.tx.execute(
                "INSERT INTO dcsync_entity_links (tenant_id, entity_guid, config_id, kind)
                 SELECT $1, g, c, k FROM unnest($2::text[], $3::text[], $4::text[]) AS x(g, c, k)
                 ON CONFLICT DO NOTHING",
                &[&self.tenant, &g, &c, &k],
            )?;
        }
        Ok(())
    }

    fn link_kind(&mut self, guid: &str, config: &str) -> Result<Option<LinkKind>, TxError> {
        if !self.base_links.contains_key(guid) {
            self.load(&[guid.to_string()])?;
        }
        let find = |links: &HashMap<String, Vec<(String, LinkKind)>>| {
            links
                .get(guid)
                .and_then(|ls| ls.iter().find(|(c, _)| c == config).map(|(_, k)| *k))
        };
        Ok(find(&self.base_links)
            .or_else(|| find(&self.page.links))
            .or_else(|| find(&self.event.links)))
    }

    fn any_link(&self, guid: &str) -> bool {
        [&self.base_links, &self.page.links, &self.event.links]
            .iter()
            .any(|links| links.get(guid).is_some_and(|l| !l.is_empty()))
    }
}

impl EntityTx for PgEntities<'_, '_> {
    fn entity(&mut self, guid: &str) -> Result<Option<EntityPair>, TxError> {
        for layer in [&self.event, &self.page] {
            if let Some(state) = layer.entities.get(guid) {
                return Ok(state.clone());
            }
        }
        if !self.base.contains_key(guid) {
            self.load(&[guid.to_string()])?;
        }
        Ok(self.base.get(guid).cloned().flatten())
    }

    fn put_entity(&mut self, pair: &EntityPair) -> Result<(), TxError> {
        self.event
            .entities
            .insert(pair.modified.guid.clone(), Some(pair.clone()));
        Ok(())
    }

    fn delete_entity(&mut self, guid: &str) -> Result<(), TxError> {
        self.event.entities.insert(guid.to_string(), None);
        Ok(())
    }

    fn audit(&mut self, entry: &AuditEntry) -> Result<(), TxError> {
        self.event.audits.push(entry.clone());
        Ok(())
    }

    fn linked(&mut self, guid: &str, config_id: &str) -> Result<Option<LinkKind>, TxError> {
        if let Some(k) = self.link_kind(guid, config_id)? {
            return Ok(Some(k));
        }
        // Legacy: linked to no config at all, and carries an external id.
        let legacy = !self.any_link(guid)
            && self
                .entity(guid)?
                .is_some_and(|p| p.modified.external_id.is_some());
        Ok(legacy.then_some(LinkKind::Legacy))
    }

    fn link(&mut self, guid: &str, config_id: &str, kind: LinkKind) -> Result<(), TxError> {
        if self.link_kind(guid, config_id)?.is_none() {
            let kind = if kind == LinkKind::Legacy {
                LinkKind::Pushed
            } else {
                kind
            };
            self.event
                .links
                .entry(guid.to_string())
                .or_default()
                .push((config_id.to_string(), kind));
        }
        Ok(())
    }

    fn entities_with_external_id(&mut self, external_id: &str) -> Result<Vec<String>, TxError> {
        // The expression is the index's (dcsync_entities_external_id).
        let rows = self
            .tx
            .query(
                "SELECT guid FROM entities WHERE tenant_id = $1 AND modified->>'externalId' = $2",
                &[&self.tenant, &external_id],
            )
            .map_err(tx_err)?;
        let mut guids: std::collections::BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
        // Changes not yet written win over the table: the page's, then the event's.
        for layer in [&self.page, &self.event] {
            for (guid, state) in &layer.entities {
                match state {
                    Some(p) if p.modified.external_id.as_deref() == Some(external_id) => {
                        guids.insert(guid.clone());
                    }
                    _ => {
                        guids.remove(guid);
                    }
                }
            }
        }
        Ok(guids.into_iter().collect())
    }
}
