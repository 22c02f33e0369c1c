//! `event-applier`: store and apply a pulled page and move the pull cursor, in one
//! transaction, with host-derived guids so a re-pull applies nothing.

use super::HostState;
use crate::engine::bindings::datacollect::external_sync::event_applier::{ApplyReport, Host};
use crate::engine::bindings::types::FormSubmission;
use crate::engine::convert;
use crate::store::blocking;

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
        let config = self.call.config_id.clone();
        let events = match convert::pulled_events(&config, events) {
            Ok(e) => e,
            Err(m) => return Ok(Err(m)),
        };
        let applier = access.applier.clone();
        let result = blocking(&access.store, move |s| {
            s.apply_pulled(&config, &events, next_cursor.as_deref(), &applier)
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
