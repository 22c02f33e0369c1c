//! DataCollect external sync: an embedded sync engine whose adapters are sandboxed
//! WebAssembly components.
//!
//! A sync pushes local events to an external system and pulls its records back as events,
//! through an adapter chosen by the config's `type`. Adapters are components built against
//! the `datacollect:external-sync` WIT package (see `wit/`), loaded from a directory by
//! the [`registry::AdapterRegistry`], and run in a fresh, limited sandbox per call.

pub mod applier;
pub mod config;
pub mod engine;
pub mod host;
pub mod manager;
pub mod mock;
pub mod model;
pub mod registry;
pub mod secrets;
pub mod store;

pub use applier::EventApplier;
pub use config::{Credentials, ExternalSyncConfig};
pub use manager::{ExternalSyncManager, SyncError, SyncReport};
pub use model::FormSubmission;
pub use registry::AdapterRegistry;
pub use store::{EventStore, SqliteStore};
