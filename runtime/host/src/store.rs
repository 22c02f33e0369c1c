//! `event-store`: pending events and push confirmation for `custom-sync` adapters, with
//! the same invariants as the host's own loop (cursor moves only past confirmed events).

use crate::HostState;
use dcsync_contract::text::neutralise;
use dcsync_contract::wit::event_store::Host;
use dcsync_contract::wit::types::{FormSubmission, Rejection};
use dcsync_store::{blocking, Rejection as StoreRejection};

impl dcsync_contract::wit::types::Host for HostState {}

impl Host for HostState {
    async fn pending_events(&mut self, limit: u32) -> wasmtime::Result<Vec<FormSubmission>> {
        self.call.hostcall()?;
        let Some(access) = self.call.store.clone() else {
            // Only a custom-sync run reads the store itself.
            return Ok(Vec::new());
        };
        let config = self.call.config_id.clone();
        let limit = limit.clamp(1, 10_000);
        let pending = blocking(&access.store, move |s| s.pending_events(&config, limit)).await?;
        self.call.handed_out = pending
            .iter()
            .map(|p| (p.event.guid.clone(), p.seq))
            .collect();
        Ok(pending
            .into_iter()
            .map(|p| FormSubmission::from(&p.event))
            .collect())
    }

    async fn confirm_push(
        &mut self,
        last_guid: String,
        rejected: Vec<Rejection>,
        remote_ref: Option<String>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.call.hostcall()?;
        let Some(access) = self.call.store.clone() else {
            return Ok(Err(
                "confirm-push is only available during a custom-sync run".into(),
            ));
        };
        let Some(pos) = self
            .call
            .handed_out
            .iter()
            .position(|(g, _)| *g == last_guid)
        else {
            return Ok(Err(format!(
                "{last_guid} is not among the pending events handed out"
            )));
        };
        let batch: Vec<(String, i64)> = self.call.handed_out.drain(..=pos).collect();
        let seqs: Vec<i64> = batch.iter().map(|(_, s)| *s).collect();
        let rejected: Vec<StoreRejection> = rejected
            .into_iter()
            .map(|r| StoreRejection {
                guid: neutralise(&r.guid),
                reason: neutralise(&self.call.secrets.scrub(&r.reason)),
            })
            .collect();
        let config = self.call.config_id.clone();
        match blocking(&access.store, move |s| {
            s.confirm_push(&config, &seqs, &rejected)
        })
        .await
        {
            Ok(()) => {
                if let Some(r) = remote_ref {
                    self.call
                        .remote_refs
                        .push(neutralise(&self.call.secrets.scrub(&r)));
                }
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    async fn pull_cursor(&mut self) -> wasmtime::Result<Option<String>> {
        self.call.hostcall()?;
        let Some(access) = self.call.store.clone() else {
            return Ok(None);
        };
        let config = self.call.config_id.clone();
        Ok(blocking(&access.store, move |s| s.cursors(&config))
            .await?
            .pull)
    }
}
