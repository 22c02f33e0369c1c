//! `event-applier`: store and apply a pulled page and move the pull cursor, in one
//! transaction, with host-derived guids so a re-pull applies nothing.

use crate::HostState;
use dcsync_contract::wit::event_applier::{ApplyReport, Host};
use dcsync_contract::wit::types::FormSubmission;
use dcsync_store::blocking;

/// Records one `apply-pulled` call may store: what the host's own loop takes per page at
/// most (a page of the largest `batchSize`).
pub const MAX_APPLY_RECORDS: usize = 10_000;
/// Bytes of record text one call may store (the default cap on what an export returns).
pub const MAX_APPLY_BYTES: usize = 64 << 20;

impl Host for HostState {
    async fn apply_pulled(
        &mut self,
        events: Vec<FormSubmission>,
        next_cursor: Option<String>,
    ) -> wasmtime::Result<Result<ApplyReport, String>> {
        self.call.hostcall()?;
        let Some(access) = self.call.store.clone() else {
            return Ok(Err(
                "apply-pulled is only available during a custom-sync run".into(),
            ));
        };
        let bytes: usize = events
            .iter()
            .map(|e| e.data.len() + e.guid.len() + e.entity_guid.len() + e.type_.len())
            .sum();
        if events.len() > MAX_APPLY_RECORDS || bytes > MAX_APPLY_BYTES {
            return Ok(Err(format!(
                "apply-pulled takes at most {MAX_APPLY_RECORDS} records and {MAX_APPLY_BYTES} bytes per call; got {} records, {bytes} bytes: send smaller pages",
                events.len()
            )));
        }
        if next_cursor
            .as_deref()
            .is_some_and(|c| self.call.secrets.found_in(c.as_bytes()))
        {
            return Ok(Err(
                "the next cursor holds a secret value of this config; not stored".into(),
            ));
        }
        let config = self.call.config_id.clone();
        let secrets = self.call.secrets.clone();
        let page = dcsync_contract::pulled::PulledPage::accept(
            &config,
            events.into_iter().map(Into::into).collect(),
            next_cursor,
            chrono::Utc::now(),
            move |e| secrets.refusal_for(e),
        );
        let applier = access.applier.clone();
        let result = blocking(&access.store, move |s| {
            s.apply_pulled(&config, &page, &applier)
        })
        .await;
        Ok(result
            .map(|o| ApplyReport {
                applied: o.applied,
                duplicates: o.duplicates,
                quarantined: o.quarantined,
            })
            .map_err(|e| e.to_string()))
    }
}
