//! The PostgreSQL store: dcsync working directly on a DataCollect deployment's database,
//! for one tenant (app config id), beside the Node server and other dcsync workers.
//!
//! - The server's rows (`events`, `entities`, `audit_log`, `potential_duplicates`) are
//!   read and written as the server does (`rows.rs`, `entities.rs`): same columns, JSON
//!   shapes and upsert keys, so the Node server and its admin UI see what dcsync applied,
//!   and dcsync pushes what the server stored.
//! - dcsync's own state lives in `dcsync_*` tables (`schema.rs`), keyed by tenant.
//! - The push position, on a table without insertion order: `positions.rs`.
//! - Several workers: a lease per (tenant, config) with a fencing token that every write
//!   of a run checks in its own transaction: `lease.rs`.
//!
//! The store is synchronous (the engine calls it through [`crate::blocking`]); the
//! rust-postgres client blocks on a runtime of its own, which must not run inside an async
//! task, so a call made from one moves to a scoped thread ([`PostgresStore::with`]).

mod apply;
mod entities;
mod lease;
mod location;
mod positions;
mod records;
mod rows;
mod schema;
mod server_rows;
mod store_impl;

pub use location::{PgLocation, DEFAULT_LEASE_TTL, PASSWORD_VARS};

use crate::StoreError;
use lease::Leases;
use postgres::Client;
use r2d2_postgres::{postgres::NoTls, PostgresConnectionManager};
use std::sync::Arc;
use std::time::Duration;

type R2d2Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// The connection pool. Dropping the last handle closes the connections, which blocks on
/// the client's runtime: so every handle drops off any async runtime.
pub(crate) struct Pool(Option<R2d2Pool>);

impl Pool {
    fn get(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Backend("store closed".into()))?
            .get()
            .map_err(|e| StoreError::Backend(format!("no database connection: {e}")))
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        Pool(self.0.clone())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            off_runtime(move || drop(pool));
        }
    }
}

/// The PostgreSQL event store of one tenant.
pub struct PostgresStore {
    pool: Pool,
    tenant: String,
    location: PgLocation,
    leases: Arc<Leases>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish()
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // 53100: disk_full; 53400: configuration_limit_exceeded (a tablespace quota).
        match e.code().map(|c| c.code()) {
            Some("53100") => StoreError::Full(e.to_string()),
            _ => StoreError::Backend(pg_message(&e)),
        }
    }
}

/// The server's message with its detail (rust-postgres' `Display` says only "db error").
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

impl PostgresStore {
    /// Open the store at `location` for its tenant, creating the server's tables (as the
    /// server would) and dcsync's where missing: for the commands that write.
    pub fn open(location: &PgLocation) -> Result<Self, StoreError> {
        Self::open_with(location, true)
    }

    /// Open an existing store without creating or changing anything: for the commands that
    /// read (`status`, `runs`, `quarantine`).
    pub fn open_existing(location: &PgLocation) -> Result<Self, StoreError> {
        Self::open_with(location, false)
    }

    fn open_with(location: &PgLocation, create: bool) -> Result<Self, StoreError> {
        let shown = location.to_string();
        let open_err = |message: String| StoreError::Open {
            path: shown.clone(),
            message,
        };
        let tenant = location.tenant.clone().ok_or_else(|| {
            open_err("name the tenant: add ?tenant=<app config id> to the URL (the DataCollect server's default tenant is `default`)".into())
        })?;
        let manager = PostgresConnectionManager::new(location.config()?, NoTls);
        let pool = Pool(Some(
            off_runtime(|| {
                r2d2::Pool::builder()
                    .max_size(location.pool_size)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(15))
                    .error_handler(Box::new(r2d2::NopErrorHandler))
                    .build(manager)
            })
            .map_err(|e| open_err(format!("cannot connect: {e}")))?,
        ));
        let store = PostgresStore {
            pool,
            leases: Arc::new(Leases::new(tenant.clone(), location.lease_ttl)),
            tenant,
            location: location.clone(),
        };
        store.with(|c| {
            let found = schema::inspect(c, &shown)?;
            match (create, found) {
                (true, _) => schema::migrate(c, &shown),
                (false, Some(v)) if v > schema::CURRENT => Err(StoreError::NewerSchema {
                    path: shown.clone(),
                    found: v.into(),
                    supported: schema::CURRENT.into(),
                }),
                (false, Some(v)) if v == schema::CURRENT => Ok(()),
                (false, Some(_)) => Err(open_err(
                    "written by an older dcsync; run `dcsync sync` (or `events import`) once to upgrade it".into(),
                )),
                (false, None) => Err(open_err(
                    "dcsync has not run on this database yet (`dcsync events import` or `dcsync sync` create its tables)".into(),
                )),
            }
        })?;
        Ok(store)
    }

    /// The tenant this store works on.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Where it is (no password).
    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    /// Run `f` on a pooled connection, off any async runtime (see the module doc).
    pub(crate) fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| f(&mut *self.pool.get()?))
    }
}

/// Run `f` where a blocking rust-postgres call may run: here, unless this thread is inside
/// a Tokio runtime (where its nested `block_on` would panic), then on a scoped thread.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
