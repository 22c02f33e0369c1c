//! The embedded SQLite store: one file, WAL mode, every multi-step change in one
//! transaction. Single flight uses an OS file lock beside the store, so a killed process
//! releases it.
//!
//! Over 400 lines: one `EventStore` implementation whose methods share the connection, the
//! transaction helpers and the migrations; entity rows are in `entities.rs`, row mapping in
//! `rows.rs`.

mod entities;
mod rows;

use crate::*;
use dcsync_applier::{EntityTx, Origin};
use dcsync_contract::model::now_rfc3339;
use entities::SqlTx;
use rows::*;
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The SQLite event store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// The tables every dcsync store has: a SQLite file without them is another program's.
const OWN_TABLES: &[&str] = &["events", "entities", "cursors", "runs", "quarantine"];

impl SqliteStore {
    /// Open the store at `path`, creating it in a new (or empty) file and migrating an
    /// older one. A SQLite file of another program is refused untouched. For the commands
    /// that write: `events import`, `sync`, `daemon`, `serve`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), true)
    }

    /// Open an existing store without creating or changing anything: a missing file is an
    /// error naming it, another program's SQLite file is refused, a store written by an
    /// older dcsync asks for a writing command first. For `status`, `runs`, `quarantine`.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), false)
    }

    /// Forget a config's pull cursor: its next pull starts from the beginning, and every
    /// record it had pulled comes again (applying nothing, when the adapter's guids are
    /// stable). `dcsync test-adapter` uses it to check exactly that.
    pub fn reset_pull_cursor(&self, config_id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE cursors SET pull_cursor = NULL WHERE config_id = ?1",
                [config_id],
            )?;
            Ok(())
        })
    }

    fn open_with(path: &Path, create: bool) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: shown.clone(),
            message: e.to_string(),
        };
        if !create && !path.exists() {
            return Err(StoreError::Open {
                path: shown,
                message: "no such store (check the path; `dcsync events import` or `dcsync sync` create one)".into(),
            });
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                StoreError::NotAStore {
                    path: shown.clone(),
                    reason: "not a SQLite database".into(),
                }
            }
            e => open_err(e),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open_err)?;
        // Room for every statement of the push, pull and apply paths (rusqlite's default
        // of 16 would evict some of them on each page).
        conn.set_prepared_statement_cache_capacity(64);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::NotAStore {
                        path: shown.clone(),
                        reason: "not a SQLite database".into(),
                    }
                }
                e => open_err(e),
            })?;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(open_err)?;
        let ours = OWN_TABLES.iter().all(|t| tables.iter().any(|x| x == t));
        if version == 0 && !tables.is_empty() || version > 0 && !ours {
            return Err(StoreError::NotAStore {
                path: shown,
                reason: format!(
                    "a SQLite database of another program (tables: {})",
                    tables.join(", ")
                ),
            });
        }
        if !create {
            if version == 0 {
                return Err(StoreError::Open {
                    path: shown,
                    message: "an empty file, not a store yet".into(),
                });
            }
            if version < super::schema::CURRENT {
                return Err(StoreError::Open {
                    path: shown,
                    message: "written by an older dcsync; run `dcsync sync` (or `events import`) once to upgrade it".into(),
                });
            }
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // A large store's indexes (guid, entity) should stay in memory for pulls to keep
        // their speed: up to 64 MiB of page cache (grown only as the store is used).
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(open_err)?;
        // Checkpoint the write-ahead log every 32 MiB rather than SQLite's 4 MiB: a page
        // rewritten by many transactions is copied once, and the database is synced an
        // eighth as often. Pulls of 20 000 records: 56–64k -> 70–72k events/s applied.
        conn.pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(open_err)?;
        // SQLite (built with STAT4) otherwise prepares a statement again whenever a value
        // bound in a range (`seq > ?`) changes, that is on nearly every call: a third of
        // reading a batch went to the parser (issue 19's profile).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(open_err)?;
        super::schema::migrate(&mut conn, &shown)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Cap the database at `pages` pages (SQLite's `max_page_count`, for this connection):
    /// how tests make a disk "full".
    #[doc(hidden)]
    pub fn limit_pages(&self, pages: u64) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.pragma_update(None, "max_page_count", pages as i64)?;
            Ok(())
        })
    }

    /// The database's size in pages.
    #[doc(hidden)]
    pub fn page_count(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            Ok(conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Backend("store connection poisoned by a panic".into()))?;
        f(&mut conn)
    }
}

impl EventStore for SqliteStore {
    fn append_local(
        &self,
        events: &[FormSubmission],
        applier: &EventApplier,
    ) -> Result<LocalAppend, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = LocalAppend::default();
            for e in events {
                match insert_event(&tx, e, None)? {
                    None if same_as_stored(&tx, e)? => out.outcome.duplicates += 1,
                    None => out.conflicts.push(e.guid.clone()),
                    Some(seq) if apply_one(&tx, applier, e, seq, Origin::Local)? => {
                        out.outcome.applied += 1
                    }
                    Some(_) => out.outcome.quarantined += 1,
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn pending_events(&self, config_id: &str, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        self.pending_after(config_id, i64::MIN, limit)
    }

    fn pending_after(
        &self,
        config_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.with(|conn| {
            let push = push_cursor(conn, config_id)?.max(after);
            let mut out: Vec<PendingEvent> = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq IN (SELECT seq FROM push_requeue WHERE config_id = ?1 AND seq > ?3) ORDER BY seq LIMIT ?2"
                ))?
                .query_map(params![config_id, limit, after], row_to_pending)?
                .collect::<Result<_, _>>()?;
            let rest = limit as usize - out.len();
            if rest > 0 {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 AND (origin IS NULL OR origin <> ?2) ORDER BY seq LIMIT ?3"
                ))?;
                for p in stmt.query_map(params![push, config_id, rest as i64], row_to_pending)? {
                    out.push(p?);
                }
            }
            Ok(out)
        })
    }

    fn pending_count(&self, config_id: &str) -> Result<u64, StoreError> {
        self.with(|conn| {
            let push = push_cursor(conn, config_id)?;
            let n: i64 = conn
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM events WHERE seq > ?1 AND (origin IS NULL OR origin <> ?2))
                      + (SELECT COUNT(*) FROM push_requeue WHERE config_id = ?2)",
                )?
                .query_row(params![push, config_id], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    fn confirm_push(
        &self,
        config_id: &str,
        batch: &[i64],
        rejected: &[Rejection],
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let cursor = push_cursor(&tx, config_id)?;
            let mut quarantined = std::collections::HashSet::new();
            for r in rejected {
                let seq: Option<i64> = tx
                    .query_row("SELECT seq FROM events WHERE guid = ?1", [&r.guid], |row| {
                        row.get(0)
                    })
                    .optional()?;
                if seq.is_none_or(|s| !batch.contains(&s)) {
                    return Err(StoreError::Invalid(format!(
                        "rejected event {} is not in the pushed batch",
                        r.guid
                    )));
                }
                if !quarantined.insert(r.guid.as_str()) {
                    continue; // each event of a batch is quarantined once
                }
                quarantine(
                    &tx,
                    Some(config_id),
                    QuarantinePhase::Push,
                    &r.guid,
                    seq,
                    &r.reason,
                )?;
            }
            link_delivered(&tx, config_id, batch, &quarantined)?;
            // Re-queued events are rare (a retried quarantine): one look instead of a
            // delete per event of every batch.
            let requeued: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM push_requeue WHERE config_id = ?1)")?
                .query_row([config_id], |r| r.get(0))?;
            if requeued {
                let mut requeue = tx
                    .prepare_cached("DELETE FROM push_requeue WHERE config_id = ?1 AND seq = ?2")?;
                for seq in batch {
                    requeue.execute(params![config_id, seq])?;
                }
            }
            let newest = batch.iter().copied().filter(|s| *s > cursor).max();
            set_cursor(&tx, config_id, newest, None)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn cursors(&self, config_id: &str) -> Result<Cursors, StoreError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT push_seq, pull_cursor FROM cursors WHERE config_id = ?1",
                    [config_id],
                    |r| {
                        Ok(Cursors {
                            push: r.get(0)?,
                            pull: r.get(1)?,
                        })
                    },
                )
                .optional()?
                .unwrap_or_default())
        })
    }

    fn apply_pulled(
        &self,
        config_id: &str,
        page: &PulledPage,
        applier: &EventApplier,
    ) -> Result<ApplyOutcome, StoreError> {
        let (events, next_cursor) = (&page.events, page.next_cursor.as_deref());
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Pulled events are never pushed back to their config. When nothing was pending
            // for it, move its push cursor past them too, so later syncs need not step
            // over them (on a large store, a scan of every event it ever pulled).
            let last: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))?;
            let push = push_cursor(&tx, config_id)?;
            let mut out = ApplyOutcome::default();
            let mut newest = None;
            for e in events {
                match insert_event(&tx, e, Some(config_id))? {
                    None => out.duplicates += 1,
                    Some(seq) => {
                        newest = Some(seq);
                        if apply_one(&tx, applier, e, seq, Origin::Pulled(config_id))? {
                            out.applied += 1
                        } else {
                            out.quarantined += 1
                        }
                    }
                }
            }
            for r in &page.refused {
                let open: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM quarantine WHERE open = 1 AND phase = 'pull' AND config_id = ?1 AND event_guid = ?2)",
                    params![config_id, r.guid],
                    |row| row.get(0),
                )?;
                if !open {
                    quarantine(&tx, Some(config_id), QuarantinePhase::Pull, &r.guid, None, &r.reason)?;
                    tx.execute(
                        "UPDATE quarantine SET record = ?1 WHERE id = last_insert_rowid()",
                        [&r.record],
                    )?;
                    out.quarantined += 1;
                }
            }
            let caught_up = push == last;
            set_cursor(
                &tx,
                config_id,
                newest.filter(|_| caught_up),
                Some(next_cursor),
            )?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn entity(&self, guid: &str) -> Result<Option<EntityPair>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let e = SqlTx(&tx)
                .entity(guid)
                .map_err(|e| StoreError::Backend(e.0))?;
            Ok(e)
        })
    }

    fn audit_log(&self, entity_guid: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT timestamp, user_id, action, event_guid, entity_guid, changes FROM audit
                 WHERE entity_guid = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([entity_guid], |r| {
                let changes: String = r.get(5)?;
                Ok(AuditEntry {
                    timestamp: r.get(0)?,
                    user_id: r.get(1)?,
                    action: r.get(2)?,
                    event_guid: r.get(3)?,
                    entity_guid: r.get(4)?,
                    changes: serde_json::from_str(&changes).unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            Ok(conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn begin_run(
        &self,
        config_id: &str,
        adapter_type: &str,
        adapter_version: &str,
    ) -> Result<i64, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The caller holds the config's lock: a run of it still `running` belongs to a
            // process that died without finishing it.
            tx.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?2,
                     message = COALESCE(message, 'its process ended before the run finished (killed, crashed, or the machine stopped); the next run resumes from the confirmed cursors')
                 WHERE config_id = ?1 AND status = 'running'",
                params![config_id, now_rfc3339()],
            )?;
            tx.execute(
                "INSERT INTO runs (config_id, adapter_type, adapter_version, started_at, status) VALUES (?1, ?2, ?3, ?4, 'running')",
                params![config_id, adapter_type, adapter_version, now_rfc3339()],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })
    }

    fn finish_run(&self, r: &RunRecord) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, pushed = ?4, pulled = ?5, applied = ?6, duplicates = ?7,
                     quarantined = ?8, retries = ?9, error_class = ?10, message = ?11, remote_refs = ?12, adapter_version = ?13,
                     duration_ms = ?14, denials = ?15, breaches = ?16
                 WHERE id = ?1",
                params![
                    r.id,
                    r.finished_at.clone().unwrap_or_else(now_rfc3339),
                    r.status.as_str(),
                    r.pushed as i64,
                    r.pulled as i64,
                    r.applied as i64,
                    r.duplicates as i64,
                    r.quarantined as i64,
                    r.retries as i64,
                    r.error_class.map(ErrorClass::as_str),
                    r.message,
                    serde_json::to_string(&r.remote_refs).unwrap_or_else(|_| "[]".into()),
                    r.adapter_version,
                    r.duration_ms.map(|d| d as i64),
                    serde_json::to_string(&r.denials).unwrap_or_else(|_| "[]".into()),
                    serde_json::to_string(&r.breaches).unwrap_or_else(|_| "[]".into()),
                ],
            )?;
            Ok(())
        })
    }

    fn runs(&self, config_id: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR config_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![config_id, limit], row_to_run)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    [id],
                    row_to_run,
                )
                .optional()?)
        })
    }

    fn quarantine(&self, config_id: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT q.id, q.config_id, q.phase, q.event_guid, q.reason, q.created_at, e.type
                 FROM quarantine q LEFT JOIN events e ON e.guid = q.event_guid
                 WHERE q.open = 1 AND (?1 IS NULL OR q.config_id = ?1 OR q.config_id IS NULL) ORDER BY q.id",
            )?;
            let rows = stmt.query_map(params![config_id], |r| {
                Ok(QuarantineEntry {
                    id: r.get(0)?,
                    config_id: r.get(1)?,
                    phase: text_enum(r, 2, QuarantinePhase::parse)?,
                    event_guid: r.get(3)?,
                    event_type: r.get(6)?,
                    reason: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn retry_quarantined(&self, ids: &[i64], applier: &EventApplier) -> Result<u64, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut done = 0;
            for id in ids {
                let row: Option<(Option<String>, QuarantinePhase, Option<i64>)> = tx
                    .query_row(
                        "SELECT config_id, phase, seq FROM quarantine WHERE id = ?1 AND open = 1",
                        [id],
                        |r| {
                            Ok((
                                r.get(0)?,
                                text_enum(r, 1, QuarantinePhase::parse)?,
                                r.get(2)?,
                            ))
                        },
                    )
                    .optional()?;
                // A refused pulled record has no stored event: say why it cannot be retried.
                if let Some((_, QuarantinePhase::Pull, _)) = row {
                    return Err(StoreError::Invalid(format!(
                        "quarantine entry {id} is a pulled record the host refused; it cannot be retried here: correct it in the external system and the next pull brings it back"
                    )));
                }
                let Some((config, phase, Some(seq))) = row else {
                    return Err(StoreError::Invalid(format!(
                        "no open quarantine entry {id}"
                    )));
                };
                if phase == QuarantinePhase::Push {
                    let config = config.unwrap_or_default();
                    tx.execute(
                        "INSERT OR IGNORE INTO push_requeue (config_id, seq) VALUES (?1, ?2)",
                        params![config, seq],
                    )?;
                } else {
                    let event = tx.query_row(
                        &format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"),
                        [seq],
                        row_to_pending,
                    )?;
                    let origin = match &config {
                        Some(c) => Origin::Pulled(c),
                        None => Origin::Local,
                    };
                    if !apply_one(&tx, applier, &event.event, seq, origin)? {
                        // Still failing: apply_one opened a new entry with the new reason.
                        tx.execute("UPDATE quarantine SET open = 0 WHERE id = ?1", [id])?;
                        continue;
                    }
                }
                tx.execute("UPDATE quarantine SET open = 0 WHERE id = ?1", [id])?;
                done += 1;
            }
            tx.commit()?;
            Ok(done)
        })
    }

    fn remember_secret_names(
        &self,
        config_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let write = |conn: &mut Connection| -> Result<(), StoreError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO secret_names (config_id, name) VALUES (?1, ?2)",
                )?;
                for n in names {
                    insert.execute(params![config_id, n])?;
                }
            }
            tx.commit()?;
            Ok(())
        };
        self.with(|conn| {
            if !names.is_empty() {
                write(conn)?;
            }
            let mut read =
                conn.prepare_cached("SELECT name FROM secret_names WHERE config_id = ?1")?;
            let rows = read.query_map([config_id], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn hold_config(&self, config_id: &str, reason: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO holds (config_id, reason, since) VALUES (?1, ?2, ?3)
                 ON CONFLICT(config_id) DO NOTHING",
                params![config_id, reason, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn hold(&self, config_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT since, reason FROM holds WHERE config_id = ?1",
                    [config_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
    }

    fn release_config(&self, config_id: &str) -> Result<bool, StoreError> {
        self.with(|conn| {
            Ok(conn.execute("DELETE FROM holds WHERE config_id = ?1", [config_id])? > 0)
        })
    }

    fn lock_config(&self, config_id: &str, wait: bool) -> Result<SyncLease, StoreError> {
        let hash = hex::encode(&Sha256::digest(config_id.as_bytes())[..8]);
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(format!(".sync-{hash}.lock"));
        let file: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Backend(format!("cannot open lock file: {e}")))?;
        if wait {
            file.lock()
                .map_err(|e| StoreError::Backend(format!("cannot lock: {e}")))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::AlreadyRunning(config_id.to_string()))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Backend(format!("cannot lock: {e}")))
                }
            }
        }
        Ok(SyncLease::new(Box::new(file)))
    }
}
