//! The push position on a table without insertion order.
//!
//! `events` has no order column, and rows are inserted by other processes (the Node server,
//! other dcsync workers). Numbering rows as they are inserted does not give a position a
//! cursor can trust: a number is taken at insert but becomes visible at commit, so a
//! transaction holding 10 can commit after one holding 11 was read, and a cursor past 11
//! would skip 10 forever.
//!
//! So rows are numbered only once their order can no longer change:
//! 1. Every row records the transaction that inserted it: `events.dcsync_xid`, a nullable
//!    column whose default is `pg_current_xact_id()` (64-bit, never wraps). The server's
//!    `INSERT`s name their columns and get it by default.
//! 2. The **sequencer** (below) reads `h = pg_snapshot_xmin(pg_current_snapshot())` as the
//!    first statement of its transaction: every transaction with an id below `h` has
//!    ended, so the set of rows with `dcsync_xid < h` is final: no row can join it later.
//!    Rows of transactions still in flight (or that commit in between) have ids `>= h` and
//!    wait for a later pass.
//! 3. Under a lock on the tenant's `dcsync_sequencer` row (so passes never interleave), it
//!    gives the rows with `horizon <= dcsync_xid < h` the positions `last_pos + 1, …` in
//!    `dcsync_positions` (ordered by transaction, then guid), and moves `horizon` to `h`.
//!    Rows from before dcsync (`dcsync_xid` NULL) are numbered by the first pass.
//! 4. The push cursor of a config is a position; `pending_events` reads positions above it.
//!
//! Why nothing is skipped: a position is given only to a row whose whole prefix is final,
//! and every later pass gives strictly greater positions (it runs after the earlier pass
//! committed, under the same lock). So when a reader sees position `p`, every position
//! below `p` that will ever exist is already committed and visible to it; a cursor past
//! `p` leaves nothing behind. A row is numbered once: each pass takes a disjoint range of
//! transaction ids, and a guid holds at most one position (unique). The cost: a transaction
//! left open on the cluster holds back the numbering of later rows (never loses them) until
//! it ends. The test `a_lower_number_committed_later_is_still_pushed_once` commits the
//! lower-numbered transaction after the higher one was read.
//!
//! Adoption (a tenant the original server already synced): at a config's first run, the
//! events already numbered whose device timestamp is at or before the original's push
//! cursor (`last_push_external_sync_timestamp`, PEA:692) count as delivered: the config's
//! cursor starts after every numbered event, and those stamped later are re-queued. From
//! then on only positions count, so an event recorded offline and uploaded late (an old
//! timestamp, a new position) is pushed — the original's push skipped it.

use super::rows::{pending_from_row, EVENT_SELECT};
use crate::{PendingEvent, StoreError};
use postgres::{Client, GenericClient, Transaction};
use std::time::{Duration, Instant};

/// How long a read waits, at most, for the transactions that hold back rows already
/// committed when it began (see [`sequence`]).
const CATCH_UP: Duration = Duration::from_millis(500);

/// Number the tenant's final rows not numbered yet (see the module doc). Rows already
/// committed may still wait behind an older transaction in flight anywhere on the cluster
/// (usually for milliseconds): the read waits for those up to [`CATCH_UP`], so a push
/// sees what was committed before it began; rows held back longer wait for a later read.
pub(super) fn sequence(c: &mut Client, tenant: &str) -> Result<(), StoreError> {
    let deadline = Instant::now() + CATCH_UP;
    let mut target: Option<String> = None;
    loop {
        let h = sequence_once(c, tenant)?;
        if target.is_none() {
            target = c
                .query_one(
                    "SELECT MAX(dcsync_xid)::text FROM events WHERE tenant_id = $1 AND dcsync_xid >= $2::text::xid8",
                    &[&tenant, &h],
                )?
                .get(0);
        }
        let Some(t) = &target else {
            return Ok(());
        };
        let caught_up: bool = c
            .query_one("SELECT $1::text::xid8 > $2::text::xid8", &[&h, t])?
            .get(0);
        if caught_up || Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One pass of the sequencer; returns the horizon it used.
fn sequence_once(c: &mut Client, tenant: &str) -> Result<String, StoreError> {
    let mut tx = c.transaction()?;
    // First statement: this transaction has no id yet, so it cannot hold `h` back itself.
    let h: String = tx
        .query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &[])?
        .get(0);
    tx.execute(
        "INSERT INTO dcsync_sequencer (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&tenant],
    )?;
    let row = tx.query_one(
        "SELECT horizon::text, last_pos, horizon IS NULL OR horizon < $2::text::xid8
         FROM dcsync_sequencer WHERE tenant_id = $1 FOR UPDATE",
        &[&tenant, &h],
    )?;
    let (horizon, last_pos, advances): (Option<String>, i64, bool) =
        (row.get(0), row.get(1), row.get(2));
    if !advances {
        tx.commit()?;
        return Ok(h);
    }
    // The first pass also numbers the rows from before dcsync (no transaction recorded).
    let lower = match horizon {
        Some(_) => "e.dcsync_xid >= $4::text::xid8 AND e.dcsync_xid < $2::text::xid8",
        None => "($4::text IS NULL) AND (e.dcsync_xid < $2::text::xid8 OR e.dcsync_xid IS NULL)",
    };
    tx.execute(
        &format!(
            "WITH fresh AS (
                SELECT e.tenant_id,
                       $3::bigint + row_number() OVER (ORDER BY e.dcsync_xid NULLS FIRST, e.guid) AS pos,
                       e.guid, o.config_id AS origin
                FROM events e LEFT JOIN dcsync_origins o ON o.guid = e.guid
                WHERE e.tenant_id = $1 AND {lower}
             ), placed AS (
                INSERT INTO dcsync_positions (tenant_id, pos, guid, origin)
                SELECT tenant_id, pos, guid, origin FROM fresh
                ON CONFLICT (guid) DO NOTHING
             )
             UPDATE dcsync_sequencer
                SET horizon = $2::text::xid8, last_pos = COALESCE((SELECT MAX(pos) FROM fresh), last_pos)
              WHERE tenant_id = $1"
        ),
        &[&tenant, &h, &last_pos, &horizon],
    )?;
    tx.commit()?;
    Ok(h)
}

/// The push position of a config (0: nothing pushed yet).
pub(super) fn push_cursor(
    c: &mut impl GenericClient,
    tenant: &str,
    config: &str,
) -> Result<i64, StoreError> {
    Ok(c.query_opt(
        "SELECT push_pos FROM dcsync_cursors WHERE tenant_id = $1 AND config_id = $2",
        &[&tenant, &config],
    )?
    .map_or(0, |r| r.get(0)))
}

/// Events not yet delivered to `config`: re-queued ones first, then those after its cursor,
/// never those pulled from it.
pub(super) fn pending(
    c: &mut Client,
    tenant: &str,
    config: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<PendingEvent>, StoreError> {
    sequence(c, tenant)?;
    let cursor = push_cursor(c, tenant, config)?.max(after);
    let mut out = Vec::new();
    for r in c.query(
        &format!(
            "SELECT p.pos, {EVENT_SELECT} FROM dcsync_push_requeue q
             JOIN dcsync_positions p ON p.tenant_id = q.tenant_id AND p.pos = q.pos
             JOIN events e ON e.guid = p.guid AND e.tenant_id = p.tenant_id
             WHERE q.tenant_id = $1 AND q.config_id = $2 AND q.pos > $4 ORDER BY q.pos LIMIT $3"
        ),
        &[&tenant, &config, &i64::from(limit), &after],
    )? {
        out.push(pending_from_row(&r)?);
    }
    let rest = i64::from(limit) - out.len() as i64;
    if rest > 0 {
        for r in c.query(
            &format!(
                "SELECT p.pos, {EVENT_SELECT} FROM dcsync_positions p
                 JOIN events e ON e.guid = p.guid AND e.tenant_id = p.tenant_id
                 WHERE p.tenant_id = $1 AND p.pos > $2 AND p.origin IS DISTINCT FROM $3
                 ORDER BY p.pos LIMIT $4"
            ),
            &[&tenant, &cursor, &config, &rest],
        )? {
            out.push(pending_from_row(&r)?);
        }
    }
    Ok(out)
}

/// How many events wait for `config`.
pub(super) fn pending_count(c: &mut Client, tenant: &str, config: &str) -> Result<u64, StoreError> {
    sequence(c, tenant)?;
    let cursor = push_cursor(c, tenant, config)?;
    let n: i64 = c
        .query_one(
            "SELECT (SELECT COUNT(*) FROM dcsync_positions p JOIN events e ON e.guid = p.guid AND e.tenant_id = p.tenant_id
                     WHERE p.tenant_id = $1 AND p.pos > $2 AND p.origin IS DISTINCT FROM $3)
                  + (SELECT COUNT(*) FROM dcsync_push_requeue WHERE tenant_id = $1 AND config_id = $3)",
            &[&tenant, &cursor, &config],
        )?
        .get(0);
    Ok(n as u64)
}

/// Move the push position of `config` forward to `pos` (never back).
pub(super) fn advance_push(
    tx: &mut Transaction<'_>,
    tenant: &str,
    config: &str,
    pos: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO dcsync_cursors (tenant_id, config_id, push_pos) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, config_id) DO UPDATE
            SET push_pos = GREATEST(dcsync_cursors.push_pos, EXCLUDED.push_pos), updated_at = now()",
        &[&tenant, &config, &pos],
    )?;
    Ok(())
}

/// At a config's first run on this tenant: create its cursors, adopting the original
/// server's push cursor if it has one (see the module doc). Idempotent: a config with
/// cursors is left alone.
pub(super) fn adopt(
    tx: &mut Transaction<'_>,
    tenant: &str,
    config: &str,
) -> Result<(), StoreError> {
    let created = tx.execute(
        "INSERT INTO dcsync_cursors (tenant_id, config_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&tenant, &config],
    )?;
    if created == 0 {
        return Ok(());
    }
    // PEA:692: the original's getter is MAX(timestamp) of the tenant's rows.
    let original: Option<chrono::DateTime<chrono::Utc>> = tx
        .query_one(
            "SELECT MAX(timestamp) FROM last_push_external_sync_timestamp WHERE tenant_id = $1",
            &[&tenant],
        )?
        .get(0);
    let Some(before) = original else {
        return Ok(());
    };
    // Hold the sequencer still: the numbered set must not grow while it is judged.
    let last: i64 = tx
        .query_opt(
            "SELECT last_pos FROM dcsync_sequencer WHERE tenant_id = $1 FOR UPDATE",
            &[&tenant],
        )?
        .map_or(0, |r| r.get(0));
    tx.execute(
        "INSERT INTO dcsync_push_requeue (tenant_id, config_id, pos)
         SELECT p.tenant_id, $2, p.pos FROM dcsync_positions p
         JOIN events e ON e.guid = p.guid AND e.tenant_id = p.tenant_id
         WHERE p.tenant_id = $1 AND p.pos <= $3 AND p.origin IS DISTINCT FROM $2
           AND (e.timestamp IS NULL OR e.timestamp > $4)
         ON CONFLICT DO NOTHING",
        &[&tenant, &config, &last, &before],
    )?;
    tx.execute(
        "UPDATE dcsync_cursors SET push_pos = $3, adopted_before = $4, updated_at = now()
         WHERE tenant_id = $1 AND config_id = $2",
        &[&tenant, &config, &last, &before],
    )?;
    Ok(())
}
