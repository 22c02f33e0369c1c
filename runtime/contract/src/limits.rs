//! Per-call resource limits and the typed error a breach becomes.

use std::time::Duration;

/// What one adapter call may use. Defaults are generous for real adapters.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wasm instructions (roughly) per call.
    pub fuel: u64,
    /// Wall-clock time per call, host calls included.
    pub deadline: Duration,
    /// Linear memory of one call, bytes: all its memories together.
    pub memory_bytes: usize,
    /// Table elements of one call: all its tables together.
    pub table_elements: usize,
    /// Host calls (http, store, applier, log) per adapter call.
    pub hostcalls: u32,
    /// Size of what a call may return (events, messages), bytes.
    pub max_return_bytes: usize,
    /// HTTP request body cap, bytes.
    pub max_request_bytes: usize,
    /// HTTP response body cap, bytes.
    pub max_response_bytes: usize,
    /// Log lines per call; beyond it lines are dropped and counted.
    pub log_lines: u32,
    /// Wall-clock time of a whole run. When it runs out while records still flow, the run
    /// ends `incomplete` and the next run resumes from its cursors.
    pub run_time: Duration,
    /// A pull that goes this long (and at least 3 pages) without a new record ends with a
    /// `run-budget` limit error: an adapter that says `has-more` forever.
    pub stall_time: Duration,
    /// Or this many pages in a row without a new record.
    pub stall_pages: u32,
    /// Linear memory a pooled instance slot keeps mapped after a call, bytes: the next
    /// call in that slot starts without faulting those pages in again. JavaScript and
    /// Python runtimes touch megabytes per call (≈2× faster push at 16 MiB, measured);
    /// the price is up to this much resident memory per slot that has been used.
    pub keep_resident_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 20_000_000_000,
            deadline: Duration::from_secs(300),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            hostcalls: 100_000,
            max_return_bytes: 64 << 20,
            max_request_bytes: 32 << 20,
            max_response_bytes: 64 << 20,
            log_lines: 1_000,
            run_time: Duration::from_secs(3600),
            stall_time: Duration::from_secs(30),
            stall_pages: 100,
            keep_resident_bytes: 16 << 20,
        }
    }
}

crate::outcome::text_enum! {
    /// Which limit a call ran into.
    Limit {
        /// Instructions (fuel) per call.
        Fuel => "fuel",
        /// Wall-clock time per call.
        Deadline => "deadline",
        /// Linear memory (all memories of the call together).
        Memory => "memory",
        /// Table elements (all tables of the call together).
        Tables => "tables",
        /// Core instances, memories or tables counted per call.
        Instances => "instances",
        /// Host calls per adapter call.
        Hostcalls => "hostcalls",
        /// Size of what a call returned.
        ReturnSize => "return-size",
        /// The run's own budget (time or calls) ran out without progress.
        RunBudget => "run-budget",
    }
}

/// Raised inside a host function to trap the guest with a known limit.
#[derive(Debug, thiserror::Error)]
#[error("adapter exceeded its {0} limit")]
pub struct LimitBreach(pub Limit);
