//! The event store: events with host-assigned sequence numbers, entities, audit log,
//! per-config cursors, run history and quarantine.
//!
//! [`EventStore`] is the seam: the manager and the host modules see only this trait.
//! [`SqliteStore`] is the embedded default; `PostgresStore` (feature `postgres`) works on a
//! DataCollect deployment's own PostgreSQL tables, one tenant per store, and lets several
//! workers share the configs through fenced leases. Every method that changes more than one
//! thing does it in one transaction.

#![deny(missing_docs)]

#[cfg(feature = "postgres")]
pub mod postgres;
mod schema;
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::{PgLocation, PostgresStore};
pub use sqlite::SqliteStore;

pub use dcsync_applier::EventApplier;
pub use dcsync_contract::adapter::Rejection;
use dcsync_contract::model::{AuditEntry, EntityPair, FormSubmission};
use dcsync_contract::outcome::{ErrorClass, QuarantinePhase, RunStatus};
pub use dcsync_contract::pulled::{PulledPage, RefusedRecord};
use serde::Serialize;
use thiserror::Error;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store cannot be opened or created.
    #[error("cannot open store {path}: {message}")]
    Open {
        /// Where.
        path: String,
        /// Why.
        message: String,
    },
    /// Not a dcsync store: another program's file, refused untouched.
    #[error("{path} is not a dcsync store ({reason}); it was left untouched: give the path of a dcsync store, or a new file")]
    NotAStore {
        /// Where.
        path: String,
        /// What it is instead.
        reason: String,
    },
    /// Written by a newer dcsync: refused untouched.
    #[error("store {path} was written by a newer dcsync (schema {found}, this one knows up to {supported}); upgrade dcsync, or use another store file")]
    NewerSchema {
        /// Where.
        path: String,
        /// The schema version found.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// Another sync of the config holds its lock.
    #[error("sync already running for {0} (another process or task holds its lock); wait for it, or pass --wait")]
    AlreadyRunning(String),
    /// This worker's lease on the config was taken over by another worker (it was paused
    /// or cut off for longer than the lease's time to live): the write was refused whole.
    #[error("lease on {config} lost: another worker took it over (fencing token {held} < {current}); nothing of this step was written, the other worker carries on the sync")]
    LeaseLost {
        /// The config.
        config: String,
        /// The fencing token this worker held.
        held: i64,
        /// The token now in force (0: the lease was released or is gone).
        current: i64,
    },
    /// The request itself is wrong (e.g. an id that does not exist).
    #[error("{0}")]
    Invalid(String),
    /// The disk (or the database's size limit) is full: nothing of the failed step was
    /// written.
    #[error("store: the disk is full ({0}); free space and sync again: nothing of the step was written, the next run resumes")]
    Full(String),
    /// The database failed.
    #[error("store: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// An event waiting to be pushed to a config, with its sequence number.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingEvent {
    /// Its sequence number (the push position).
    pub seq: i64,
    /// The event.
    pub event: FormSubmission,
}

/// What storing and applying a set of events did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// Applied.
    pub applied: u64,
    /// Already stored: nothing done.
    pub duplicates: u64,
    /// Stored but not applied, or refused: quarantined with the reason.
    pub quarantined: u64,
}

impl std::ops::AddAssign for ApplyOutcome {
    fn add_assign(&mut self, o: Self) {
        self.applied += o.applied;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
    }
}

/// What appending local events did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocalAppend {
    /// Applied, already stored, quarantined.
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
    /// Guids already stored with other content: the stored event was kept.
    pub conflicts: Vec<String>,
}

/// The two cursors of a config.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cursors {
    /// Sequence number of the last event confirmed delivered.
    pub push: i64,
    /// The adapter's opaque cursor after the last applied page.
    pub pull: Option<String>,
}

/// One sync run, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Its id.
    pub id: i64,
    /// The config synced.
    pub config_id: String,
    /// The adapter type that served it.
    pub adapter_type: String,
    /// And its version.
    pub adapter_version: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Where it stands.
    pub status: RunStatus,
    /// Events the external system confirmed.
    pub pushed: u64,
    /// Records pulled.
    pub pulled: u64,
    /// Pulled events applied.
    pub applied: u64,
    /// Pulled events already stored.
    pub duplicates: u64,
    /// Events quarantined by this run.
    pub quarantined: u64,
    /// Adapter calls retried.
    pub retries: u64,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// What kind of failure ended it.
    pub error_class: Option<ErrorClass>,
    /// Redacted: secrets never reach the store.
    pub message: Option<String>,
    /// Receiver ids of deliveries (work orders…).
    pub remote_refs: Vec<String>,
    /// Requests the host refused to make for the adapter.
    pub denials: Vec<String>,
    /// Adapter calls stopped by a limit (memory, fuel, deadline, size…), including those
    /// the run recovered from (a batch split in halves); the last one may have ended it.
    pub breaches: Vec<String>,
}

/// A quarantined event: refused by the external system, or not applicable here.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineEntry {
    /// Its id (for retry).
    pub id: i64,
    /// The config it concerns; `None` for a local event that could not be applied.
    pub config_id: Option<String>,
    /// Where it was stopped.
    pub phase: QuarantinePhase,
    /// The event's guid.
    pub event_guid: String,
    /// The event's type (`create-individual`…), when the event is stored; `None` for a
    /// pulled record the host refused before storing it.
    pub event_type: Option<String>,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// Held while a config syncs; dropping it (or the process dying) releases the lock.
pub struct SyncLease {
    _guard: Box<dyn Send + Sync>,
    token: Option<i64>,
}

impl SyncLease {
    /// A lease released when `guard` is dropped.
    pub fn new(guard: Box<dyn Send + Sync>) -> Self {
        SyncLease {
            _guard: guard,
            token: None,
        }
    }

    /// A lease with a fencing token: the store refuses every write of the config's run once
    /// another holder has a higher token.
    pub fn fenced(guard: Box<dyn Send + Sync>, token: i64) -> Self {
        SyncLease {
            _guard: guard,
            token: Some(token),
        }
    }

    /// The fencing token (epoch) of a shared store's lease; `None` for a local lock.
    pub fn fencing_token(&self) -> Option<i64> {
        self.token
    }
}

/// The store the sync engine runs on. Synchronous: async callers go through
/// [`blocking`].
pub trait EventStore: Send + Sync + 'static {
    /// Append local events (new sequence numbers) and apply them, in one transaction.
    /// An event whose guid is stored with the same content is a duplicate; with other
    /// content, a conflict (the stored one is kept); events that cannot be applied are
    /// stored and quarantined with the reason.
    fn append_local(
        &self,
        events: &[FormSubmission],
        applier: &EventApplier,
    ) -> Result<LocalAppend, StoreError>;

    /// Events not yet delivered to `config_id`, oldest first: those re-queued from
    /// quarantine, then those after its push cursor, never those pulled from it.
    fn pending_events(&self, config_id: &str, limit: u32) -> Result<Vec<PendingEvent>, StoreError>;

    /// The events after `after` (a sequence number this or `pending_events` handed out),
    /// whether or not those up to it are confirmed yet: how the push reads the next batch
    /// while the previous one is still on the wire. Re-queued events come first, as in
    /// `pending_events`, but only those after `after`: one re-queued during a run at or
    /// before it waits for the next run. A store of your own need not provide it (the
    /// default reads from the cursor: [`pending_after_by_reading`]).
    fn pending_after(
        &self,
        config_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        pending_after_by_reading(self, config_id, after, limit)
    }

    /// How many events wait for `config_id`.
    fn pending_count(&self, config_id: &str) -> Result<u64, StoreError>;

    /// Record delivery of `batch` (sequence numbers handed out by `pending_events`):
    /// quarantine `rejected` and move the push cursor past the batch, in one transaction.
    fn confirm_push(
        &self,
        config_id: &str,
        batch: &[i64],
        rejected: &[Rejection],
    ) -> Result<(), StoreError>;

    /// Both cursors of a config.
    fn cursors(&self, config_id: &str) -> Result<Cursors, StoreError>;

    /// Store a pulled page's events (guids already set), apply them, quarantine its
    /// refused records and move the pull cursor, in one transaction. Already-stored guids
    /// are duplicates: nothing is done for them; a refused record already quarantined and
    /// still open is not quarantined twice.
    fn apply_pulled(
        &self,
        config_id: &str,
        page: &PulledPage,
        applier: &EventApplier,
    ) -> Result<ApplyOutcome, StoreError>;

    /// An entity by guid.
    fn entity(&self, guid: &str) -> Result<Option<EntityPair>, StoreError>;

    /// The audit log of an entity, oldest first.
    fn audit_log(&self, entity_guid: &str) -> Result<Vec<AuditEntry>, StoreError>;

    /// Number of stored events.
    fn event_count(&self) -> Result<u64, StoreError>;

    /// Start recording a run; returns its id.
    fn begin_run(
        &self,
        config_id: &str,
        adapter_type: &str,
        adapter_version: &str,
    ) -> Result<i64, StoreError>;

    /// Finish a run (`status`, counts, error class and redacted message).
    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Latest runs first; all configs when `config_id` is `None`.
    fn runs(&self, config_id: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError>;

    /// One run by id.
    fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError>;

    /// Open quarantine entries; all configs when `config_id` is `None`.
    fn quarantine(&self, config_id: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError>;

    /// Put quarantined entries back to work: a refused push is offered to its config
    /// again; an event that failed to apply is applied again. Returns how many were
    /// re-queued or applied; those that still fail stay quarantined.
    fn retry_quarantined(&self, ids: &[i64], applier: &EventApplier) -> Result<u64, StoreError>;

    /// Remember that these extra fields of a config are secret, and answer every name
    /// ever remembered for it: once secret, a field stays secret, whatever a later
    /// adapter version declares. An empty `names` only reads.
    fn remember_secret_names(
        &self,
        config_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, StoreError>;

    /// Hold a config: no run starts until an operator releases it.
    fn hold_config(&self, config_id: &str, reason: &str) -> Result<(), StoreError>;

    /// The hold on a config, if any: `(since, reason)`.
    fn hold(&self, config_id: &str) -> Result<Option<(String, String)>, StoreError>;

    /// Release a held config; whether it was held.
    fn release_config(&self, config_id: &str) -> Result<bool, StoreError>;

    /// Take the single-flight lock of a config, across threads and processes (and, on a
    /// shared store, machines); fails with [`StoreError::AlreadyRunning`] when held, unless
    /// `wait`. While the lease is held, the run's writes of that config (`begin_run`,
    /// `confirm_push`, `apply_pulled`, `finish_run`) are fenced: a store shared by several
    /// workers refuses them with [`StoreError::LeaseLost`] once another worker took over.
    fn lock_config(&self, config_id: &str, wait: bool) -> Result<SyncLease, StoreError>;
}

/// Run a store operation off the async runtime's worker threads.
pub async fn blocking<T, F>(store: &std::sync::Arc<dyn EventStore>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn EventStore) -> Result<T, StoreError> + Send + 'static,
{
    started(store, f).await
}

/// [`EventStore::pending_after`] from `pending_events` alone, for stores that do not
/// provide their own: read from the cursor and skip what is not after `after` (the
/// batches still on the wire, a few at most), reading more until `limit` are found or
/// nothing is left. `pending_events` hands out ascending sequence numbers (re-queued events
/// are all at or below the cursor), so this is the same list.
pub fn pending_after_by_reading<S: EventStore + ?Sized>(
    store: &S,
    config_id: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<PendingEvent>, StoreError> {
    let mut read = limit.saturating_mul(2).max(1);
    loop {
        let pending = store.pending_events(config_id, read)?;
        let exhausted = pending.len() < read as usize;
        let found: Vec<PendingEvent> = pending
            .into_iter()
            .filter(|p| p.seq > after)
            .take(limit as usize)
            .collect();
        if found.len() == limit as usize || exhausted || read == u32::MAX {
            return Ok(found);
        }
        read = read.saturating_mul(2);
    }
}

/// [`blocking`], begun now: the work runs while the caller goes on (a read ahead, a
/// confirmation behind), and the returned future yields its result. Dropping the future
/// does not stop the work.
pub fn started<T, F>(
    store: &std::sync::Arc<dyn EventStore>,
    f: F,
) -> impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(&dyn EventStore) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    let work = tokio::task::spawn_blocking(move || f(store.as_ref()));
    async move {
        work.await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}
