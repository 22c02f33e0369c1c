//! DataCollect external sync: an embedded sync engine whose adapters are sandboxed
//! WebAssembly components.
//!
//! A sync pushes local events to an external system and pulls its records back as events,
//! through an adapter chosen by the config's `type`. Adapters are components built against
//! the `datacollect:external-sync` WIT package (see `wit/`), loaded from a directory by
//! the [`registry::AdapterRegistry`], and run in a fresh, limited sandbox per call.
//!
//! The original product's usage flow, in Rust:
//!
//! ```no_run
//! use datacollect_sync::{
//!     Credentials, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager, SqliteStore,
//! };
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ExternalSyncConfig::from_json(
//!     r#"{"type": "mock-sync-server", "url": "http://localhost:3000/mock-sync", "extraFields": []}"#,
//! )?;
//! let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open("events.db")?);
//! let mut manager = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config);
//!
//! // Looks up the adapter for the config's type (in DCSYNC_ADAPTERS, or `target/adapters`).
//! manager.initialize().await?;
//! if manager.is_initialized() {
//!     let credentials = Credentials::new("sync_user", "secure_password");
//!     let report = manager.synchronize(Some(credentials)).await?;
//!     println!("pushed {}, pulled {}, applied {}", report.pushed, report.pulled, report.applied);
//! } else {
//!     eprintln!("No adapter available for type {}", manager.config().adapter_type);
//! }
//! # Ok(())
//! # }
//! ```

pub mod applier;
pub mod config;
pub mod engine;
pub mod host;
pub mod manager;
pub mod metrics;
pub mod mock;
pub mod model;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod store;
pub mod watch;

pub use applier::EventApplier;
pub use config::{Credentials, ExternalSyncConfig};
pub use manager::{ExternalSyncManager, SyncError, SyncReport};
pub use model::FormSubmission;
pub use registry::AdapterRegistry;
pub use store::{EventStore, SqliteStore};
