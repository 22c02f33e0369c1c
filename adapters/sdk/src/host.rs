//! The host's store, applier and log, for adapters that drive their own sync
//! (`custom-sync`) and for logging from any adapter.

use crate::bindings::datacollect::external_sync::{
    event_applier, event_store, log as wit_log, run_state,
};
use crate::convert;
use crate::{Adapter, Config, Event, Rejection, SyncError, SyncReport};

/// Log a line into the host's log, tagged with this adapter.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wit_log::log(level.into(), message, &fields);
}

/// Log level.
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<Level> for wit_log::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Trace => wit_log::Level::Trace,
            Level::Debug => wit_log::Level::Debug,
            Level::Info => wit_log::Level::Info,
            Level::Warn => wit_log::Level::Warn,
            Level::Error => wit_log::Level::Error,
        }
    }
}

/// A value stored earlier in this sync run (by this or an earlier call), e.g. a session.
pub fn run_get(key: &str) -> Option<String> {
    run_state::get(key)
}

/// Keep `value` for the rest of this sync run; false when the run's store is full.
pub fn run_set(key: &str, value: &str) -> bool {
    run_state::set(key, value)
}

/// Local events not yet delivered to this config, oldest first.
pub fn pending_events(limit: u32) -> Result<Vec<Event>, SyncError> {
    convert::events_from_wit(event_store::pending_events(limit))
}

/// Confirm delivery of every pending event up to `last_guid`, minus `rejected`.
pub fn confirm_push(
    last_guid: &str,
    rejected: Vec<Rejection>,
    remote_ref: Option<String>,
) -> Result<(), SyncError> {
    let rejected: Vec<_> = rejected.into_iter().map(Into::into).collect();
    event_store::confirm_push(last_guid, &rejected, remote_ref.as_deref())
        .map_err(SyncError::Internal)
}

/// The stored pull cursor of this config.
pub fn pull_cursor() -> Option<String> {
    event_store::pull_cursor()
}

/// What applying a pulled page did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyReport {
    pub applied: u64,
    pub duplicates: u64,
    pub quarantined: u64,
}

/// Store and apply pulled events and move the pull cursor, in one transaction.
pub fn apply_pulled(
    events: Vec<Event>,
    next_cursor: Option<&str>,
) -> Result<ApplyReport, SyncError> {
    let events: Vec<_> = events.into_iter().map(Into::into).collect();
    let r = event_applier::apply_pulled(&events, next_cursor).map_err(SyncError::Internal)?;
    Ok(ApplyReport {
        applied: r.applied,
        duplicates: r.duplicates,
        quarantined: r.quarantined,
    })
}

/// The SDK's default `sync`: push pending events in batches, then pull pages until the
/// external system has no more, through the host's store so the host's invariants hold.
pub fn default_sync<A: Adapter + ?Sized>(config: &Config) -> Result<SyncReport, SyncError> {
    let batch = config.extra_u32("batchSize", 100)?.max(1);
    let mut report = SyncReport::default();
    loop {
        let events = pending_events(batch)?;
        let Some(last) = events.last().map(|e| e.guid.clone()) else {
            break;
        };
        let count = events.len() as u64;
        let outcome = A::push(config, events)?;
        report.quarantined += outcome.rejected.len() as u64;
        report.pushed += count - outcome.rejected.len() as u64;
        if let Some(r) = &outcome.remote_ref {
            report.remote_refs.push(r.clone());
        }
        confirm_push(&last, outcome.rejected, outcome.remote_ref)?;
    }
    let mut cursor = pull_cursor();
    loop {
        let page = A::pull(config, cursor.clone(), batch)?;
        report.pulled += page.events.len() as u64;
        let applied = apply_pulled(page.events, page.next_cursor.as_deref())?;
        report.applied += applied.applied;
        report.duplicates += applied.duplicates;
        report.quarantined += applied.quarantined;
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    Ok(report)
}
