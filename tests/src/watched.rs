//! A store that tells what the sync loop asks of it, and can hold a call until something
//! else happened: how tests see which stages of a run overlap (issue 19), without timing.

use datacollect_sync::model::{AuditEntry, EntityPair, FormSubmission};
use datacollect_sync::store::{
    ApplyOutcome, Cursors, EventApplier, EventStore, LocalAppend, PendingEvent, PulledPage,
    QuarantineEntry, Rejection, RunRecord, StoreError, SyncLease,
};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What happened, in order, noted by the store and by a test's adapter; waited on by both.
#[derive(Default)]
pub struct Happenings {
    seen: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Happenings {
    pub fn note(&self, what: impl Into<String>) {
        self.seen.lock().unwrap().push(what.into());
        self.changed.notify_all();
    }

    pub fn all(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many notes `pick` picks.
    pub fn count(&self, pick: impl Fn(&str) -> bool) -> usize {
        self.seen.lock().unwrap().iter().filter(|s| pick(s)).count()
    }

    pub fn has(&self, what: &str) -> bool {
        self.seen.lock().unwrap().iter().any(|s| s == what)
    }

    /// Block this thread until `what` was noted; false after `within`.
    pub fn wait_for(&self, what: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        let mut seen = self.seen.lock().unwrap();
        while !seen.iter().any(|s| s == what) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = self.changed.wait_timeout(seen, left).unwrap().0;
        }
        true
    }

    /// The same, for async code (an adapter call): polls without blocking the runtime.
    pub async fn reached(&self, what: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while !self.has(what) {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// A hook run on the store's thread before a confirmation or an apply does its work: it may
/// wait, and an error fails the call without doing it.
pub type Hook<T> = Box<dyn Fn(&T) -> Result<(), StoreError> + Send + Sync>;

/// `inner`, noting `read after N` (`first` for the first read), `confirm A-B` / `confirmed
/// A-B` (the batch's first and last sequence numbers) and `apply P` / `applied P` (the
/// page's cursor) in `seen`.
pub struct Watched {
    pub inner: Arc<dyn EventStore>,
    pub seen: Arc<Happenings>,
    pub before_confirm: Hook<[i64]>,
    pub before_apply: Hook<PulledPage>,
}

impl Watched {
    pub fn new(inner: Arc<dyn EventStore>, seen: Arc<Happenings>) -> Self {
        Watched {
            inner,
            seen,
            before_confirm: Box::new(|_| Ok(())),
            before_apply: Box::new(|_| Ok(())),
        }
    }
}

/// How a confirmation is named in the notes.
pub fn span(batch: &[i64]) -> String {
    format!(
        "{}-{}",
        batch.first().copied().unwrap_or_default(),
        batch.last().copied().unwrap_or_default()
    )
}

impl EventStore for Watched {
    fn append_local(
        &self,
        events: &[FormSubmission],
        applier: &EventApplier,
    ) -> Result<LocalAppend, StoreError> {
        self.inner.append_local(events, applier)
    }

    fn pending_events(&self, config_id: &str, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        self.seen.note("read first");
        self.inner.pending_events(config_id, limit)
    }

    fn pending_after(
        &self,
        config_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.seen.note(match after {
            i64::MIN => "read first".to_string(),
            n => format!("read after {n}"),
        });
        self.inner.pending_after(config_id, after, limit)
    }

    fn pending_count(&self, config_id: &str) -> Result<u64, StoreError> {
        self.inner.pending_count(config_id)
    }

    fn confirm_push(
        &self,
        config_id: &str,
        batch: &[i64],
        rejected: &[Rejection],
    ) -> Result<(), StoreError> {
        self.seen.note(format!("confirm {}", span(batch)));
        (self.before_confirm)(batch)?;
        self.inner.confirm_push(config_id, batch, rejected)?;
        self.seen.note(format!("confirmed {}", span(batch)));
        Ok(())
    }

    fn cursors(&self, config_id: &str) -> Result<Cursors, StoreError> {
        self.inner.cursors(config_id)
    }

    fn apply_pulled(
        &self,
        config_id: &str,
        page: &PulledPage,
        applier: &EventApplier,
    ) -> Result<ApplyOutcome, StoreError> {
        let cursor = page.next_cursor.clone().unwrap_or_default();
        self.seen.note(format!("apply {cursor}"));
        (self.before_apply)(page)?;
        let out = self.inner.apply_pulled(config_id, page, applier)?;
        self.seen.note(format!("applied {cursor}"));
        Ok(out)
    }

    fn entity(&self, guid: &str) -> Result<Option<EntityPair>, StoreError> {
        self.inner.entity(guid)
    }

    fn audit_log(&self, entity_guid: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_log(entity_guid)
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        self.inner.event_count()
    }

    fn begin_run(
        &self,
        config_id: &str,
        adapter_type: &str,
        adapter_version: &str,
    ) -> Result<i64, StoreError> {
        self.inner
            .begin_run(config_id, adapter_type, adapter_version)
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.finish_run(run)
    }

    fn runs(&self, config_id: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs(config_id, limit)
    }

    fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(id)
    }

    fn quarantine(&self, config_id: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.inner.quarantine(config_id)
    }

    fn retry_quarantined(&self, ids: &[i64], applier: &EventApplier) -> Result<u64, StoreError> {
        self.inner.retry_quarantined(ids, applier)
    }

    fn remember_secret_names(
        &self,
        config_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.inner.remember_secret_names(config_id, names)
    }

    fn hold_config(&self, config_id: &str, reason: &str) -> Result<(), StoreError> {
        self.inner.hold_config(config_id, reason)
    }

    fn hold(&self, config_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.inner.hold(config_id)
    }

    fn release_config(&self, config_id: &str) -> Result<bool, StoreError> {
        self.inner.release_config(config_id)
    }

    fn lock_config(&self, config_id: &str, wait: bool) -> Result<SyncLease, StoreError> {
        self.inner.lock_config(config_id, wait)
    }
}
