//! Storing and applying a set of events in one transaction: a page of pulled events, a
//! chunk of imported ones, or a quarantined event applied again.
//!
//! Per page: one `INSERT … SELECT FROM unnest(…)` for the events, one read of the entities
//! and links they touch, the applier over each new event in memory, then one statement per
//! table (`entities.rs`). The outcome per event is the SQLite store's: applied, duplicate
//! (guid already stored in this tenant), conflict (a local event whose guid is stored with
//! other content) or quarantined (the applier's reason). Two more reasons exist only here,
//! both quarantined without storing the event: a guid another tenant holds (`events.guid`
//! is unique across tenants; the reason names nothing of the other tenant), and content
//! PostgreSQL cannot hold (see `rows::unstorable`).

use super::entities::PgEntities;
use super::rows::{
    insert_events, owners, quarantine, same_event, stored_event, unstorable, GUID_TAKEN,
};
use crate::{ApplyOutcome, EventApplier, QuarantinePhase, StoreError};
use dcsync_applier::{ApplyOutcomeError, Origin};
use dcsync_contract::model::FormSubmission;
use postgres::Transaction;
use std::collections::HashSet;

/// What storing a set of events did.
#[derive(Default)]
pub(super) struct Stored {
    pub outcome: ApplyOutcome,
    /// Local events whose guid is stored with other content.
    pub conflicts: Vec<String>,
}

/// A quarantine entry to write once the entities are flushed.
struct Refusal {
    phase: QuarantinePhase,
    guid: String,
    reason: String,
    record: Option<String>,
}

/// Store `events` (from `origin`) and apply the new ones, inside `tx`.
pub(super) fn store_and_apply(
    tx: &mut Transaction<'_>,
    tenant: &str,
    events: &[FormSubmission],
    origin: Origin<'_>,
    applier: &EventApplier,
) -> Result<Stored, StoreError> {
    let config = match origin {
        Origin::Local => None,
        Origin::Pulled(c) => Some(c),
    };
    // A refused pulled event is a pull-phase entry (fixed at the source, not retried here).
    let refused_phase = if config.is_some() {
        QuarantinePhase::Pull
    } else {
        QuarantinePhase::Apply
    };
    let mut out = Stored::default();
    let mut refusals = Vec::new();
    let mut storable = Vec::new();
    for e in events {
        match unstorable(e) {
            Some(reason) => refusals.push(Refusal {
                phase: refused_phase,
                guid: e.guid.clone(),
                reason,
                record: serde_json::to_string(e).ok(),
            }),
            None => storable.push(e),
        }
    }
    let inserted = insert_events(tx, tenant, &storable, config)?;
    let others: Vec<&str> = storable
        .iter()
        .filter(|e| !inserted.contains(&e.guid))
        .map(|e| e.guid.as_str())
        .collect();
    let owned = owners(tx, tenant, &others)?;
    // Which events are new here (the first of a guid given twice), in order.
    let mut first = HashSet::new();
    let mut fresh = Vec::new();
    for e in &storable {
        if inserted.contains(&e.guid) && first.insert(e.guid.as_str()) {
            fresh.push(*e);
            continue;
        }
        match owned.get(&e.guid) {
            Some(false) => refusals.push(Refusal {
                phase: refused_phase,
                guid: e.guid.clone(),
                reason: GUID_TAKEN.into(),
                record: None,
            }),
            _ if config.is_some() => out.outcome.duplicates += 1,
            _ => match stored_event(tx, tenant, &e.guid)? {
                Some(s) if same_event(&s, e) => out.outcome.duplicates += 1,
                _ => out.conflicts.push(e.guid.clone()),
            },
        }
    }
    let mut rejected = Vec::new();
    {
        let mut ents = PgEntities::new(tx, tenant);
        ents.preload(&fresh)?;
        for e in &fresh {
            match applier.apply(&mut ents, e, origin) {
                Ok(_) => {
                    ents.keep_event();
                    out.outcome.applied += 1;
                }
                Err(ApplyOutcomeError::Rejected(why)) => {
                    ents.drop_event();
                    rejected.push((e.guid.clone(), why.0));
                }
                Err(ApplyOutcomeError::Store(e)) => return Err(StoreError::Backend(e.0)),
            }
        }
        ents.flush()?;
    }
    for (guid, reason) in rejected {
        quarantine(
            tx,
            tenant,
            config,
            QuarantinePhase::Apply,
            &guid,
            None,
            &reason,
            None,
        )?;
        out.outcome.quarantined += 1;
    }
    for r in refusals {
        // A record refused again while its entry is still open is not quarantined twice.
        let open: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM dcsync_quarantine WHERE tenant_id = $1 AND open
                   AND phase = $2 AND config_id IS NOT DISTINCT FROM $3 AND event_guid = $4)",
                &[&tenant, &r.phase.as_str(), &config, &r.guid],
            )?
            .get(0);
        if !open {
            quarantine(
                tx,
                tenant,
                config,
                r.phase,
                &r.guid,
                None,
                &r.reason,
                r.record.as_deref(),
            )?;
            out.outcome.quarantined += 1;
        }
    }
    Ok(out)
}

/// Apply again one stored event (a quarantine retry): `Ok(None)` applied, else the reason.
pub(super) fn reapply(
    tx: &mut Transaction<'_>,
    tenant: &str,
    event: &FormSubmission,
    origin: Origin<'_>,
    applier: &EventApplier,
) -> Result<Option<String>, StoreError> {
    let mut ents = PgEntities::new(tx, tenant);
    ents.preload(&[event])?;
    let result = match applier.apply(&mut ents, event, origin) {
        Ok(_) => {
            ents.keep_event();
            None
        }
        Err(ApplyOutcomeError::Rejected(why)) => Some(why.0),
        Err(ApplyOutcomeError::Store(e)) => return Err(StoreError::Backend(e.0)),
    };
    ents.flush()?;
    Ok(result)
}
