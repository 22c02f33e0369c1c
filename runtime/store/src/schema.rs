//! The SQLite schema and its migrations. `PRAGMA user_version` holds the schema version;
//! a store written by a newer version is refused, never modified.

use super::StoreError;
use rusqlite::Connection;

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: events, entities, audit, cursors, runs, quarantine.
    r#"
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        guid        TEXT NOT NULL UNIQUE,
        entity_guid TEXT NOT NULL,
        type        TEXT NOT NULL,
        data        TEXT NOT NULL,
        timestamp   TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        sync_level  INTEGER NOT NULL,
        origin      TEXT,            -- NULL: local; else the config id it was pulled from
        stored_at   TEXT NOT NULL
    );
    CREATE INDEX events_origin ON events(origin, seq);
    CREATE TABLE entities (
        guid     TEXT PRIMARY KEY,
        initial  TEXT NOT NULL,
        modified TEXT NOT NULL
    );
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        timestamp   TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        action      TEXT NOT NULL,
        event_guid  TEXT NOT NULL,
        entity_guid TEXT NOT NULL,
        changes     TEXT NOT NULL
    );
    CREATE TABLE cursors (
        config_id   TEXT PRIMARY KEY,
        push_seq    INTEGER NOT NULL DEFAULT 0,
        pull_cursor TEXT,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE push_requeue (
        config_id TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (config_id, seq)
    );
    CREATE TABLE quarantine (
        id         INTEGER PRIMARY KEY,
        config_id  TEXT,
        phase      TEXT NOT NULL,
        event_guid TEXT NOT NULL,
        seq        INTEGER,
        reason     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        open       INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX quarantine_open ON quarantine(open, config_id);
    CREATE TABLE runs (
        id              INTEGER PRIMARY KEY,
        config_id       TEXT NOT NULL,
        adapter_type    TEXT NOT NULL,
        adapter_version TEXT NOT NULL,
        started_at      TEXT NOT NULL,
        finished_at     TEXT,
        status          TEXT NOT NULL,
        pushed          INTEGER NOT NULL DEFAULT 0,
        pulled          INTEGER NOT NULL DEFAULT 0,
        applied         INTEGER NOT NULL DEFAULT 0,
        duplicates      INTEGER NOT NULL DEFAULT 0,
        quarantined     INTEGER NOT NULL DEFAULT 0,
        retries         INTEGER NOT NULL DEFAULT 0,
        duration_ms     INTEGER,
        error_class     TEXT,
        message         TEXT,
        remote_refs     TEXT NOT NULL DEFAULT '[]',
        denials         TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX runs_config ON runs(config_id, id);
    "#,
    // 2: which config may change which entity (pulled events may change only their own),
    // and the raw text of a pulled record the host refused.
    r#"
    CREATE TABLE entity_links (
        entity_guid TEXT NOT NULL,
        config_id   TEXT NOT NULL,
        PRIMARY KEY (entity_guid, config_id)
    ) WITHOUT ROWID;
    ALTER TABLE quarantine ADD COLUMN record TEXT;
    "#,
    // 3: configs held by the host until an operator releases them; what a link allows
    // (`created`: update and delete, `pushed`: update; older links count as `pushed`).
    r#"
    CREATE TABLE holds (
        config_id TEXT PRIMARY KEY,
        reason    TEXT NOT NULL,
        since     TEXT NOT NULL
    );
    ALTER TABLE entity_links ADD COLUMN kind TEXT NOT NULL DEFAULT 'pushed';
    CREATE TABLE secret_names (
        config_id TEXT NOT NULL,
        name      TEXT NOT NULL,
        PRIMARY KEY (config_id, name)
    ) WITHOUT ROWID;
    "#,
    // 4: entities by external id, for pulled records known here under another guid.
    r#"
    CREATE INDEX entities_external_id ON entities(json_extract(modified, '$.externalId'));
    "#,
    // 5: the limit breaches of a run, ended by one or not (a batch split to fit).
    r#"
    ALTER TABLE runs ADD COLUMN breaches TEXT NOT NULL DEFAULT '[]';
    "#,
];

/// The schema version this build writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Bring the store to [`CURRENT`], or refuse a newer one.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT {
        return Err(StoreError::NewerSchema {
            path: path.to_string(),
            found,
            supported: CURRENT,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{SqliteStore, StoreError};

    #[test]
    fn store_written_by_a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("newer dcsync"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99);
    }
}
