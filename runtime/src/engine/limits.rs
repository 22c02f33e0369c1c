//! Per-call resource limits and the typed error a breach becomes.

use std::time::Duration;

/// What one adapter call may use. Defaults are generous for real adapters.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wasm instructions (roughly) per call.
    pub fuel: u64,
    /// Wall-clock time per call, host calls included.
    pub deadline: Duration,
    /// Linear memory per instance, bytes.
    pub memory_bytes: usize,
    /// Table elements per table.
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
        }
    }
}

/// Which limit a call ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Fuel,
    Deadline,
    Memory,
    Hostcalls,
    ReturnSize,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Fuel => "fuel",
            Limit::Deadline => "deadline",
            Limit::Memory => "memory",
            Limit::Hostcalls => "hostcalls",
            Limit::ReturnSize => "return-size",
        })
    }
}

/// Raised inside a host function to trap the guest with a known limit.
#[derive(Debug, thiserror::Error)]
#[error("adapter exceeded its {0} limit")]
pub struct LimitBreach(pub Limit);
