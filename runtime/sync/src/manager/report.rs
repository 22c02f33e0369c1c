//! What a sync says about itself: its report, its progress, and why it failed.

use crate::resolve::ResolveError;
use dcsync_contract::limits::Limit;
use dcsync_contract::outcome::{ErrorClass, RunStatus};
use dcsync_store::StoreError;
use serde::Serialize;
use std::sync::Arc;
use thiserror::Error;

/// Why a sync failed. [`SyncError::class`] is what the run history records.
#[derive(Debug, Error)]
pub enum SyncError {
    /// `synchronize` before a successful `initialize` (the original's message).
    #[error("Adapter not initialized")]
    NotInitialized,
    /// The config cannot be used as it is.
    #[error("config error: {0}")]
    Config(String),
    /// The config does not satisfy its adapter: every problem, field by field.
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    /// The external system refused the credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A transient failure outlasted the retries.
    #[error("gave up after {attempts} attempts: {message}")]
    Transient {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The adapter hit a sandbox limit.
    #[error("adapter exceeded its {0} limit")]
    Limit(Limit),
    /// The adapter kept saying `has-more` without any new record.
    #[error("adapter exceeded its run-budget limit: {pages} pages in a row over {seconds} s brought no new record (an adapter that never finishes its pull)")]
    Stalled {
        /// Pages in a row without a new record.
        pages: u32,
        /// Seconds since the last new record.
        seconds: u64,
    },
    /// The adapter failed, trapped or answered something unusable.
    #[error("adapter failed: {0}")]
    Internal(String),
    /// The external system kept answering in a shape the adapter could not read.
    #[error("the external system's answers were malformed after {attempts} attempts: {message}")]
    Protocol {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// An answer held a secret value: the host stopped the run and held the config.
    #[error("an answer from the external system held a secret value of this config: the host stopped the run and holds the config until an operator releases it (`dcsync release`); check whether the system echoes credentials, or whether the adapter probes for them")]
    SecretEchoed,
    /// The config is held (an earlier run saw a secret echoed); released by an operator.
    #[error("config {config:?} is held since {since}: {reason}; look into it, then release it with `dcsync release` (or POST /api/configs/{{id}}/release)")]
    Held {
        /// The config.
        config: String,
        /// When it was held.
        since: String,
        /// Why.
        reason: String,
    },
    /// Stopped by a signal at a safe point.
    #[error(
        "interrupted (stopped at a safe point; the next run resumes from the confirmed cursors)"
    )]
    Interrupted,
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            SyncError::NotInitialized | SyncError::Config(_) | SyncError::Resolve(_) => {
                ErrorClass::Config
            }
            SyncError::Unauthorized(_) => ErrorClass::Unauthorized,
            SyncError::Transient { .. } => ErrorClass::Transient,
            SyncError::Limit(_) | SyncError::Stalled { .. } => ErrorClass::Limit,
            SyncError::Internal(_) => ErrorClass::Internal,
            SyncError::Protocol { .. } => ErrorClass::Protocol,
            SyncError::Interrupted => ErrorClass::Interrupted,
            SyncError::SecretEchoed | SyncError::Held { .. } => ErrorClass::Security,
            SyncError::Store(StoreError::AlreadyRunning(_) | StoreError::LeaseLost { .. }) => {
                ErrorClass::Busy
            }
            SyncError::Store(_) => ErrorClass::Store,
        }
    }

    /// The limit that ended the run, if one did.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            SyncError::Limit(l) => Some(*l),
            SyncError::Stalled { .. } => Some(Limit::RunBudget),
            _ => None,
        }
    }
}

/// What a successful sync did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The run's id in the run history.
    pub run_id: i64,
    /// How it ended.
    pub status: RunStatus,
    /// The version of the adapter that served it.
    pub adapter_version: String,
    /// Events the external system confirmed.
    pub pushed: u64,
    /// Records pulled.
    pub pulled: u64,
    /// Pulled events applied.
    pub applied: u64,
    /// Pulled events already stored.
    pub duplicates: u64,
    /// Events quarantined.
    pub quarantined: u64,
    /// Adapter calls retried.
    pub retries: u64,
    /// Batches delivered.
    pub push_batches: u64,
    /// Pages pulled.
    pub pull_pages: u64,
    /// Receiver ids of deliveries (work orders…).
    pub remote_refs: Vec<String>,
    /// Requests the host refused to make for the adapter (egress policy), as the adapter saw them.
    pub denials: Vec<String>,
    /// Adapter calls a limit stopped, in order (at most [`MAX_BREACHES`] listed).
    pub breaches: Vec<String>,
    /// How long the run took.
    pub duration_ms: u64,
    /// Time inside adapter calls (instantiation, guest code, host calls), microseconds.
    pub adapter_us: u64,
    /// Of that, time in host HTTP on the adapter's behalf, microseconds.
    pub host_http_us: u64,
}

/// How many limit breaches a run lists: a run splitting a long series of batches would
/// otherwise grow its history row without bound.
pub const MAX_BREACHES: usize = 50;

impl SyncReport {
    /// Note an adapter call a limit stopped.
    pub(super) fn breach(&mut self, what: String) {
        match self.breaches.len() {
            n if n < MAX_BREACHES => self.breaches.push(what),
            MAX_BREACHES => self.breaches.push("… more, not listed".into()),
            _ => {}
        }
    }

    pub(super) fn new(run_id: i64, adapter_version: String) -> Self {
        SyncReport {
            run_id,
            status: RunStatus::Running,
            adapter_version,
            pushed: 0,
            pulled: 0,
            applied: 0,
            duplicates: 0,
            quarantined: 0,
            retries: 0,
            push_batches: 0,
            pull_pages: 0,
            remote_refs: Vec::new(),
            denials: Vec::new(),
            breaches: Vec::new(),
            duration_ms: 0,
            adapter_us: 0,
            host_http_us: 0,
        }
    }
}

/// How far a running sync is, reported after each batch and page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `done` of `total` pending events pushed (delivered or quarantined).
    Push {
        /// Events handled so far.
        done: u64,
        /// Events pending at the start.
        total: u64,
    },
    /// Events pulled so far (the total is not known in advance).
    Pull {
        /// Records pulled so far.
        pulled: u64,
    },
}

/// Called with the progress of a running sync.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// What one adapter call cost and reached (for `dcsync test-adapter`, and any embedder
/// that wants per-call figures).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// `push-batch` (or `push-encoded`), `pull-since`, `sync`, `check-connection`.
    pub function: &'static str,
    /// Wall-clock time, microseconds.
    pub duration_us: u64,
    /// Fuel consumed.
    pub fuel: u64,
    /// Linear memory at the end of the call (its peak: memory only grows), bytes.
    pub memory_bytes: u64,
    /// Origins its requests went to.
    pub origins: Vec<String>,
    /// How it ended: `ok`, or the failure (scrubbed of secrets).
    pub outcome: String,
}

/// Called after every adapter call of a sync.
pub type CallFn = Arc<dyn Fn(&CallRecord) + Send + Sync>;
