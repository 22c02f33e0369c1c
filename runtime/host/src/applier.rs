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
