//! The tables: the DataCollect server's, created exactly as it creates them, and dcsync's
//! own (`dcsync_*`), with their migrations.
//!
//! The server's DDL is quoted verbatim from its storage adapters (idpass-data-collect
//! 5478720, `packages/datacollect/src/storage/PostgresEventStorageAdapter.ts:129-196` and
//! `PostgresEntityStorageAdapter.ts:217-244`; see research/datacollect-original.md §1.2):
//! on an empty database the writing commands create the same tables the server would, and
//! on the server's database `IF NOT EXISTS` leaves them as they are.
//!
//! The only change to a server table is one nullable column on `events`, `dcsync_xid`,
//! whose default records the inserting transaction (`pg_current_xact_id()`): the server's
//! `INSERT`s name their columns, so they keep working unchanged and fill it by default
//! (tested verbatim in tests/tests/postgres_store.rs). It is how the push position finds
//! rows other processes inserted, see `positions.rs`.

use crate::StoreError;
use postgres::Client;

/// `PostgresEventStorageAdapter.initialize()` (PEA:126-200), statement by statement.
pub(super) const SERVER_EVENT_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS events (
        guid TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        entity_guid TEXT,
        type TEXT,
        data JSONB,
        timestamp TIMESTAMPTZ,
        user_id TEXT,
        sync_level INTEGER
      )",
    "CREATE TABLE IF NOT EXISTS audit_log (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        action TEXT,
        guid TEXT,
        entity_guid TEXT,
        event_guid TEXT,
        changes JSONB,
        signature TEXT,
        user_id TEXT,
        timestamp TIMESTAMPTZ
      )",
    "CREATE TABLE IF NOT EXISTS merkle_root (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        root TEXT
      )",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_merkle_root_tenant_unique ON merkle_root(tenant_id)",
    "CREATE TABLE IF NOT EXISTS last_remote_sync_timestamp (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        timestamp TIMESTAMPTZ
      )",
    "CREATE TABLE IF NOT EXISTS last_local_sync_timestamp (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        timestamp TIMESTAMPTZ
      )",
    "CREATE TABLE IF NOT EXISTS last_push_external_sync_timestamp (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        timestamp TIMESTAMPTZ
      )",
    "CREATE TABLE IF NOT EXISTS last_pull_external_sync_timestamp (
        id SERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        timestamp TIMESTAMPTZ
      )",
    "CREATE INDEX IF NOT EXISTS idx_events_tenant_id ON events(tenant_id)",
    "CREATE INDEX IF NOT EXISTS idx_audit_log_tenant_id ON audit_log(tenant_id)",
];

/// `PostgresEntityStorageAdapter.initialize()` (PNA:217-244).
pub(super) const SERVER_ENTITY_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS entities (
        id TEXT,
        guid TEXT,
        initial JSONB,
        modified JSONB,
        sync_level TEXT,
        last_updated TIMESTAMP,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        PRIMARY KEY (id, tenant_id),
        UNIQUE (guid, tenant_id)
      )",
    "CREATE TABLE IF NOT EXISTS potential_duplicates (
        entity_guid TEXT,
        duplicate_guid TEXT,
        tenant_id TEXT NOT NULL DEFAULT 'default',
        PRIMARY KEY (entity_guid, duplicate_guid, tenant_id)
      )",
];

/// dcsync's migrations, in order; `dcsync_schema.version` is the number applied. Every
/// table is keyed by tenant: one database serves every tenant of a deployment.
const MIGRATIONS: &[&str] = &[
    r#"
    ALTER TABLE events ADD COLUMN IF NOT EXISTS dcsync_xid xid8;
    ALTER TABLE events ALTER COLUMN dcsync_xid SET DEFAULT pg_current_xact_id();
    CREATE INDEX IF NOT EXISTS dcsync_events_tenant_xid ON events (tenant_id, dcsync_xid);
    CREATE INDEX IF NOT EXISTS dcsync_audit_log_entity ON audit_log (tenant_id, entity_guid, id);
    -- Pulled records matched by their external id (the applier's known_by_external_id).
    CREATE INDEX IF NOT EXISTS dcsync_entities_external_id
        ON entities (tenant_id, (modified->>'externalId'));

    CREATE TABLE dcsync_sequencer (
        tenant_id TEXT PRIMARY KEY,
        horizon   xid8,
        last_pos  BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE dcsync_positions (
        tenant_id TEXT NOT NULL,
        pos       BIGINT NOT NULL,
        guid      TEXT NOT NULL UNIQUE,
        origin    TEXT,
        PRIMARY KEY (tenant_id, pos)
    );
    CREATE TABLE dcsync_origins (
        guid      TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        config_id TEXT NOT NULL
    );
    CREATE TABLE dcsync_cursors (
        tenant_id      TEXT NOT NULL,
        config_id      TEXT NOT NULL,
        push_pos       BIGINT NOT NULL DEFAULT 0,
        pull_cursor    TEXT,
        adopted_before TIMESTAMPTZ,
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, config_id)
    );
    CREATE TABLE dcsync_push_requeue (
        tenant_id TEXT NOT NULL,
        config_id TEXT NOT NULL,
        pos       BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, config_id, pos)
    );
    CREATE TABLE dcsync_quarantine (
        id         BIGSERIAL PRIMARY KEY,
        tenant_id  TEXT NOT NULL,
        config_id  TEXT,
        phase      TEXT NOT NULL,
        event_guid TEXT NOT NULL,
        pos        BIGINT,
        reason     TEXT NOT NULL,
        record     TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        open       BOOLEAN NOT NULL DEFAULT true
    );
    CREATE INDEX dcsync_quarantine_open ON dcsync_quarantine (tenant_id, open, config_id);
    CREATE TABLE dcsync_runs (
        id              BIGSERIAL PRIMARY KEY,
        tenant_id       TEXT NOT NULL,
        config_id       TEXT NOT NULL,
        adapter_type    TEXT NOT NULL,
        adapter_version TEXT NOT NULL,
        started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        finished_at     TIMESTAMPTZ,
        status          TEXT NOT NULL,
        pushed          BIGINT NOT NULL DEFAULT 0,
        pulled          BIGINT NOT NULL DEFAULT 0,
        applied         BIGINT NOT NULL DEFAULT 0,
        duplicates      BIGINT NOT NULL DEFAULT 0,
        quarantined     BIGINT NOT NULL DEFAULT 0,
        retries         BIGINT NOT NULL DEFAULT 0,
        duration_ms     BIGINT,
        error_class     TEXT,
        message         TEXT,
        remote_refs     JSONB NOT NULL DEFAULT '[]',
        denials         JSONB NOT NULL DEFAULT '[]',
        lease_epoch     BIGINT
    );
    CREATE INDEX dcsync_runs_config ON dcsync_runs (tenant_id, config_id, id);
    CREATE TABLE dcsync_holds (
        tenant_id TEXT NOT NULL,
        config_id TEXT NOT NULL,
        reason    TEXT NOT NULL,
        since     TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, config_id)
    );
    CREATE TABLE dcsync_secret_names (
        tenant_id TEXT NOT NULL,
        config_id TEXT NOT NULL,
        name      TEXT NOT NULL,
        PRIMARY KEY (tenant_id, config_id, name)
    );
    CREATE TABLE dcsync_entity_links (
        tenant_id   TEXT NOT NULL,
        entity_guid TEXT NOT NULL,
        config_id   TEXT NOT NULL,
        kind        TEXT NOT NULL,
        PRIMARY KEY (tenant_id, entity_guid, config_id)
    );
    CREATE TABLE dcsync_leases (
        tenant_id   TEXT NOT NULL,
        config_id   TEXT NOT NULL,
        epoch       BIGINT NOT NULL,
        holder      TEXT NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (tenant_id, config_id)
    );
"#,
    // 2: the limit breaches of a run, ended by one or not (a batch split to fit).
    r#"
    ALTER TABLE dcsync_runs ADD COLUMN breaches JSONB NOT NULL DEFAULT '[]';
"#,
];

/// The schema version this build writes.
pub const CURRENT: i32 = MIGRATIONS.len() as i32;

/// Serialises schema changes between workers starting at once (any constant will do: it
/// is dcsync's alone).
const MIGRATION_LOCK: i64 = 0x6463_7379_6e63_0001;

/// The columns the server's `events` table has; a table of that name without them belongs
/// to another program and is left alone.
const EVENT_COLUMNS: &[&str] = &[
    "guid",
    "tenant_id",
    "entity_guid",
    "type",
    "data",
    "timestamp",
    "user_id",
    "sync_level",
];

/// The schema version found (`None`: dcsync never ran here), after checking an existing
/// `events` table is the server's.
pub(super) fn inspect(c: &mut Client, shown: &str) -> Result<Option<i32>, StoreError> {
    let cols: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'events'",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !cols.is_empty() && !EVENT_COLUMNS.iter().all(|c| cols.iter().any(|x| x == c)) {
        return Err(StoreError::NotAStore {
            path: shown.to_string(),
            reason: format!(
                "its `events` table is another program's (columns: {})",
                cols.join(", ")
            ),
        });
    }
    let has_schema: bool = c
        .query_one("SELECT to_regclass('dcsync_schema') IS NOT NULL", &[])?
        .get(0);
    if !has_schema {
        return Ok(None);
    }
    Ok(
        c.query_opt("SELECT version FROM dcsync_schema WHERE id = 1", &[])?
            .map(|r| r.get(0)),
    )
}

/// Create the server's tables where missing and bring dcsync's to [`CURRENT`]; a schema
/// written by a newer dcsync is refused untouched.
pub(super) fn migrate(c: &mut Client, shown: &str) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    for ddl in SERVER_EVENT_DDL.iter().chain(SERVER_ENTITY_DDL) {
        tx.batch_execute(ddl)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS dcsync_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )",
    )?;
    let found: i32 = tx
        .query_opt("SELECT version FROM dcsync_schema WHERE id = 1", &[])?
        .map(|r| r.get(0))
        .unwrap_or(0);
    if found > CURRENT {
        return Err(StoreError::NewerSchema {
            path: shown.to_string(),
            found: found.into(),
            supported: CURRENT.into(),
        });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.batch_execute(sql)?;
    }
    tx.execute(
        "INSERT INTO dcsync_schema (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
        &[&CURRENT],
    )?;
    tx.commit()?;
    Ok(())
}
