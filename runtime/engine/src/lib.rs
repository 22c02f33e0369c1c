//! The wasmtime engine: compiling and verifying adapter components, and calling them in a
//! fresh, limited store per call.
//!
//! - [`AdapterRuntime`]: the engine and linker shared by every adapter, its compiled-code
//!   cache and the epoch ticker behind call deadlines;
//! - [`LoadedAdapter`]: one verified component, and [`AdapterCalls`], what the sync loop
//!   calls on an adapter, in the internal model's types;
//! - failures are typed: [`LoadError`] at load, [`CallError`] per call (a limit names
//!   itself, [`Limit`]).

#![deny(missing_docs)]

mod adapter;
pub mod cache;
mod classify;
mod runtime;

pub use adapter::{AdapterCalls, CallFuture, CallOutcome, CallStats, LoadedAdapter};
pub use dcsync_contract::limits::{Limit, Limits};
pub use runtime::AdapterRuntime;

use dcsync_contract::adapter::AdapterError;
use thiserror::Error;

/// Why a component could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Not a component this engine can compile.
    #[error("{path}: not a WebAssembly component for this host: {message}")]
    NotAComponent {
        /// The file.
        path: String,
        /// The compiler's reason.
        message: String,
    },
    /// A component, but not an adapter for this contract (an import the host does not
    /// provide, a missing export, a major version it does not serve).
    #[error("{path}: {message}")]
    Incompatible {
        /// The file.
        path: String,
        /// What does not fit.
        message: String,
    },
    /// It would need more than the sandbox allows just to start (memories, instances…).
    #[error("{path}: needs more than the sandbox allows: {message}")]
    TooLarge {
        /// The file.
        path: String,
        /// What it needs, against which limit and how to raise it.
        message: String,
    },
    /// Instantiating it or calling `describe()` failed.
    #[error("{path}: smoke test failed: {message}")]
    SmokeTest {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Why an adapter call did not produce an answer.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CallError {
    /// The adapter answered with its own classified error.
    #[error("{}", adapter_error_text(.0))]
    Adapter(AdapterError),
    /// The adapter ran into a resource limit.
    #[error("adapter exceeded its {0} limit")]
    Limit(Limit),
    /// The adapter trapped (panic, unreachable, bad memory access…).
    #[error("adapter trapped: {0}")]
    Trap(String),
    /// The host could not set up the call (instance pool exhausted…).
    #[error("cannot run adapter: {0}")]
    Setup(String),
    /// An answer held a secret value: the host stopped the call.
    #[error("an answer held a secret value of this config; the host stopped the call")]
    SecretEchoed,
}

fn adapter_error_text(e: &AdapterError) -> String {
    match e {
        AdapterError::Config(m) => format!("config error: {m}"),
        AdapterError::Unauthorized(m) => format!("unauthorized: {m}"),
        AdapterError::Transient { message, .. } => format!("transient: {message}"),
        AdapterError::Rejected(r) => format!("{} record(s) rejected", r.len()),
        AdapterError::Internal(m) => format!("adapter failed: {m}"),
    }
}
