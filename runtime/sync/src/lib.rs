//! DataCollect external sync: an embedded sync engine whose adapters are sandboxed
//! WebAssembly components.
//!
//! A sync pushes local events to an external system and pulls its records back as events,
//! through an adapter chosen by the config's `type`. Adapters are components built against
//! the `datacollect:external-sync` WIT package (see `wit/`), loaded from a directory by
//! the [`AdapterRegistry`], and run in a fresh, limited sandbox per call.
//!
//! Data flows one way: config → [`resolve`] → [`registry`] → [`manager`] (the run loop)
//! → engine → host imports → store. This crate is the embeddable library: it carries no
//! CLI, terminal or HTTP-server dependency.
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
//! // Looks up the adapter for the config's type (see `adapter_dir` for where it looks).
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

#![deny(missing_docs)]

pub mod adapter_dir;
pub mod clock;
pub mod configs;
pub mod interrupt;
pub mod manager;
pub mod metrics;
pub mod registry;
pub mod resolve;
pub mod scheduler;
pub mod service;
pub mod settings;
pub mod status;
pub mod watch;

pub use dcsync_applier as applier;
pub use dcsync_contract::{adapter, config, limits, model, outcome, text};
pub use dcsync_engine as engine;
pub use dcsync_host as host;
pub use dcsync_store as store;

pub use applier::EventApplier;
pub use config::{Credentials, ExternalSyncConfig};
pub use interrupt::Interrupt;
pub use manager::{AdapterSource, ExternalSyncManager, SyncError, SyncReport};
pub use model::FormSubmission;
pub use registry::AdapterRegistry;
pub use service::SyncService;
pub use store::{EventStore, SqliteStore};
