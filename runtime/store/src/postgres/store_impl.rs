//! [`EventStore`] for [`PostgresStore`]: each method one transaction on a pooled
//! connection; the writes of a run fenced by the config's lease (`lease.rs`).

use super::apply::{reapply, store_and_apply};
use super::entities::PgEntities;
use super::positions::{adopt, advance_push, pending, pending_count};
use super::records;
use super::rows::{format_time, quarantine, stored_event};
use super::PostgresStore;
use crate::*;
use ::postgres::Transaction;
use dcsync_applier::{EntityTx, Origin};

impl PostgresStore {
    /// One transaction for `config`'s run, fenced by its lease; returns what `f` does.
    fn fenced<T: Send>(
        &self,
        config: &str,
        f: impl FnOnce(&mut Transaction<'_>, Option<i64>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let leases = self.leases.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            let epoch = leases.fence(&mut tx, config)?;
            let out = f(&mut tx, epoch)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl EventStore for PostgresStore {
    fn append_local(
        &self,
        events: &[FormSubmission],
        applier: &EventApplier,
    ) -> Result<LocalAppend, StoreError> {
        let tenant = &self.tenant;
        self.with(|c| {
            let mut tx = c.transaction()?;
            let stored = store_and_apply(&mut tx, tenant, events, Origin::Local, applier)?;
            tx.commit()?;
            Ok(LocalAppend {
                outcome: stored.outcome,
                conflicts: stored.conflicts,
            })
        })
    }

    fn pending_events(&self, config_id: &str, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        self.with(|c| pending(c, &self.tenant, config_id, i64::MIN, limit))
    }

    fn pending_after(
        &self,
        config_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.with(|c| pending(c, &self.tenant, config_id, after, limit))
    }

    fn pending_count(&self, config_id: &str) -> Result<u64, StoreError> {
        self.with(|c| pending_count(c, &self.tenant, config_id))
    }

    fn confirm_push(
        &self,
        config_id: &str,
        batch: &[i64],
        rejected: &[Rejection],
    ) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        self.fenced(config_id, |tx, _| {
            let mut quarantined = std::collections::HashSet::new();
            for r in rejected {
                let pos: Option<i64> = tx
                    .query_opt(
                        "SELECT pos FROM dcsync_positions WHERE tenant_id = $1 AND guid = $2",
                        &[tenant, &r.guid],
                    )?
                    .map(|row| row.get(0));
                if pos.is_none_or(|p| !batch.contains(&p)) {
                    return Err(StoreError::Invalid(format!(
                        "rejected event {} is not in the pushed batch",
                        r.guid
                    )));
                }
                if !quarantined.insert(r.guid.as_str()) {
                    continue; // each event of a batch is quarantined once
                }
                let config = Some(config_id);
                let phase = QuarantinePhase::Push;
                quarantine(tx, tenant, config, phase, &r.guid, pos, &r.reason, None)?;
            }
            link_delivered(tx, tenant, config_id, batch, &quarantined)?;
            tx.execute(
                "DELETE FROM dcsync_push_requeue WHERE tenant_id = $1 AND config_id = $2 AND pos = ANY($3)",
                &[tenant, &config_id, &batch],
            )?;
            if let Some(newest) = batch.iter().copied().max() {
                advance_push(tx, tenant, config_id, newest)?;
            }
            Ok(())
        })
    }

    fn cursors(&self, config_id: &str) -> Result<Cursors, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT push_pos, pull_cursor FROM dcsync_cursors WHERE tenant_id = $1 AND config_id = $2",
                &[&self.tenant, &config_id],
            )?
            .map(|r| Cursors {
                push: r.get(0),
                pull: r.get(1),
            })
            .unwrap_or_default())
        })
    }

    fn apply_pulled(
        &self,
        config_id: &str,
        page: &PulledPage,
        applier: &EventApplier,
    ) -> Result<ApplyOutcome, StoreError> {
        let tenant = &self.tenant;
        self.fenced(config_id, |tx, _| {
            let origin = Origin::Pulled(config_id);
            let mut out = store_and_apply(tx, tenant, &page.events, origin, applier)?.outcome;
            for r in &page.refused {
                let open: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM dcsync_quarantine WHERE tenant_id = $1 AND open
                           AND phase = 'pull' AND config_id = $2 AND event_guid = $3)",
                        &[tenant, &config_id, &r.guid],
                    )?
                    .get(0);
                if !open {
                    let (phase, record) = (QuarantinePhase::Pull, Some(r.record.as_str()));
                    quarantine(tx, tenant, Some(config_id), phase, &r.guid, None, &r.reason, record)?;
                    out.quarantined += 1;
                }
            }
            tx.execute(
                "INSERT INTO dcsync_cursors (tenant_id, config_id, pull_cursor) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, config_id) DO UPDATE
                    SET pull_cursor = COALESCE(EXCLUDED.pull_cursor, dcsync_cursors.pull_cursor), updated_at = now()",
                &[tenant, &config_id, &page.next_cursor],
            )?;
            Ok(out)
        })
    }

    fn entity(&self, guid: &str) -> Result<Option<EntityPair>, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let e = PgEntities::reader(&mut tx, &self.tenant)
                .entity(guid)
                .map_err(|e| StoreError::Backend(e.0))?;
            Ok(e)
        })
    }

    fn audit_log(&self, entity_guid: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            c.query(
                "SELECT timestamp, user_id, action, event_guid, entity_guid, changes FROM audit_log
                 WHERE tenant_id = $1 AND entity_guid = $2 ORDER BY id",
                &[&self.tenant, &entity_guid],
            )?
            .iter()
            .map(|r| {
                let text = |i| {
                    r.try_get::<_, Option<String>>(i)
                        .map(Option::unwrap_or_default)
                };
                Ok(AuditEntry {
                    timestamp: r
                        .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(0)?
                        .map(format_time)
                        .unwrap_or_default(),
                    user_id: text(1)?,
                    action: text(2)?,
                    event_guid: text(3)?,
                    entity_guid: text(4)?,
                    changes: r
                        .try_get::<_, Option<serde_json::Value>>(5)?
                        .unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM events WHERE tenant_id = $1",
                    &[&self.tenant],
                )?
                .get(0);
            Ok(n as u64)
        })
    }

    fn begin_run(
        &self,
        config_id: &str,
        adapter_type: &str,
        adapter_version: &str,
    ) -> Result<i64, StoreError> {
        let tenant = &self.tenant;
        // Number what is final before adopting: the original's cursor judges those events.
        self.with(|c| super::positions::sequence(c, tenant))?;
        self.fenced(config_id, |tx, epoch| {
            adopt(tx, tenant, config_id)?;
            records::begin_run(tx, tenant, config_id, adapter_type, adapter_version, epoch)
        })
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        self.fenced(&run.config_id, |tx, _| records::finish_run(tx, tenant, run))
    }

    fn runs(&self, config_id: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.with(|c| records::runs(c, &self.tenant, config_id, limit))
    }

    fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.with(|c| records::run(c, &self.tenant, id))
    }

    fn quarantine(&self, config_id: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.with(|c| records::open_quarantine(c, &self.tenant, config_id))
    }

    fn retry_quarantined(&self, ids: &[i64], applier: &EventApplier) -> Result<u64, StoreError> {
        let tenant = &self.tenant;
        self.with(|c| {
            let mut tx = c.transaction()?;
            let mut done = 0;
            for id in ids {
                let row = tx.query_opt(
                    "SELECT config_id, phase, pos, event_guid FROM dcsync_quarantine
                     WHERE id = $1 AND tenant_id = $2 AND open FOR UPDATE",
                    &[id, tenant],
                )?;
                let Some(row) = row else {
                    return Err(StoreError::Invalid(format!("no open quarantine entry {id}")));
                };
                let (config, phase, pos, guid): (Option<String>, String, Option<i64>, String) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                match QuarantinePhase::parse(&phase) {
                    Some(QuarantinePhase::Pull) => return Err(StoreError::Invalid(format!(
                        "quarantine entry {id} is a pulled record the host refused; it cannot be retried here: correct it in the external system and the next pull brings it back"
                    ))),
                    Some(QuarantinePhase::Push) => {
                        let (Some(config), Some(pos)) = (config, pos) else {
                            return Err(StoreError::Invalid(format!("no open quarantine entry {id}")));
                        };
                        tx.execute(
                            "INSERT INTO dcsync_push_requeue (tenant_id, config_id, pos) VALUES ($1, $2, $3)
                             ON CONFLICT DO NOTHING",
                            &[tenant, &config, &pos],
                        )?;
                    }
                    _ => {
                        let Some(event) = stored_event(&mut tx, tenant, &guid)? else {
                            return Err(StoreError::Invalid(format!(
                                "quarantine entry {id}: the event was never stored (its reason says why); import it again once corrected"
                            )));
                        };
                        let origin = match &config {
                            Some(c) => Origin::Pulled(c),
                            None => Origin::Local,
                        };
                        if let Some(reason) = reapply(&mut tx, tenant, &event, origin, applier)? {
                            // Still failing: a new entry with the new reason replaces this one.
                            quarantine(&mut tx, tenant, config.as_deref(), QuarantinePhase::Apply, &guid, None, &reason, None)?;
                            tx.execute("UPDATE dcsync_quarantine SET open = false WHERE id = $1", &[id])?;
                            continue;
                        }
                    }
                }
                tx.execute("UPDATE dcsync_quarantine SET open = false WHERE id = $1", &[id])?;
                done += 1;
            }
            tx.commit()?;
            Ok(done)
        })
    }

    fn remember_secret_names(
        &self,
        config_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.with(|c| records::secret_names(c, &self.tenant, config_id, names))
    }

    fn hold_config(&self, config_id: &str, reason: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO dcsync_holds (tenant_id, config_id, reason) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&self.tenant, &config_id, &reason],
            )?;
            Ok(())
        })
    }

    fn hold(&self, config_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT since, reason FROM dcsync_holds WHERE tenant_id = $1 AND config_id = $2",
                &[&self.tenant, &config_id],
            )?
            .map(|r| (format_time(r.get(0)), r.get(1))))
        })
    }

    fn release_config(&self, config_id: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM dcsync_holds WHERE tenant_id = $1 AND config_id = $2",
                &[&self.tenant, &config_id],
            )? > 0)
        })
    }

    fn lock_config(&self, config_id: &str, wait: bool) -> Result<SyncLease, StoreError> {
        self.leases.acquire(&self.pool, config_id, wait)
    }
}

/// The entities of the local events of a delivered batch (minus its rejected events) are
/// linked to the config: its pulls may update them from now on (as on SQLite). Group events
/// link their members too. One statement; an existing link keeps its kind.
fn link_delivered(
    tx: &mut Transaction<'_>,
    tenant: &str,
    config: &str,
    batch: &[i64],
    rejected: &std::collections::HashSet<&str>,
) -> Result<(), StoreError> {
    let rejected: Vec<&str> = rejected.iter().copied().collect();
    tx.execute(
        "WITH delivered AS (
            SELECT e.entity_guid, e.data FROM dcsync_positions p
            JOIN events e ON e.guid = p.guid AND e.tenant_id = p.tenant_id
            WHERE p.tenant_id = $1 AND p.pos = ANY($2) AND p.origin IS NULL AND NOT (p.guid = ANY($4))
         ), targets AS (
            SELECT entity_guid AS g FROM delivered
            UNION
            SELECT m->>'guid' FROM delivered,
                   jsonb_array_elements(CASE WHEN jsonb_typeof(data->'members') = 'array'
                                             THEN data->'members' ELSE '[]'::jsonb END) AS m
         )
         INSERT INTO dcsync_entity_links (tenant_id, entity_guid, config_id, kind)
         SELECT $1, g, $3, 'pushed' FROM targets WHERE g IS NOT NULL
         ON CONFLICT DO NOTHING",
        &[&tenant, &batch, &config, &rejected],
    )?;
    Ok(())
}
