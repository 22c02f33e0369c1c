//! `event-applier`: store and apply a pulled page and move the pull cursor, in one
//! transaction, with host-derived guids so a re-pull applies nothing.

use crate::HostState;
use dcsync_contract::wit::event_applier::{ApplyReport, Host};
use dcsync_contract::wit::types::FormSubmission;
use dcsync_store::blocking;

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
        let accepted = dcsync_contract::pulled::accept_page(
            &config,
            events.into_iter().map(Into::into).collect(),
        );
        let events = match accepted.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(e) => e,
            Err(r) => return Ok(Err(format!("pulled event {}: {}", r.guid, r.reason))),
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
