//! dcsync's own records of a tenant: run history, quarantine, holds, secret names.

use super::rows::format_time;
use crate::{ErrorClass, QuarantineEntry, QuarantinePhase, RunRecord, RunStatus, StoreError};
use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};
use serde_json::Value;

const RUN_COLUMNS: &str =
    "id, config_id, adapter_type, adapter_version, started_at, finished_at, status,
    pushed, pulled, applied, duplicates, quarantined, retries, error_class, message, remote_refs,
    duration_ms, denials, breaches";

fn run_from_row(r: &Row) -> Result<RunRecord, StoreError> {
    let count = |i: usize| -> Result<u64, StoreError> { Ok(r.try_get::<_, i64>(i)? as u64) };
    let list = |i: usize| -> Result<Vec<String>, StoreError> {
        Ok(serde_json::from_value(r.try_get::<_, Value>(i)?).unwrap_or_default())
    };
    let status: String = r.try_get(6)?;
    Ok(RunRecord {
        id: r.try_get(0)?,
        config_id: r.try_get(1)?,
        adapter_type: r.try_get(2)?,
        adapter_version: r.try_get(3)?,
        started_at: format_time(r.try_get::<_, DateTime<Utc>>(4)?),
        finished_at: r.try_get::<_, Option<DateTime<Utc>>>(5)?.map(format_time),
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Backend(format!("unknown run status {status:?}")))?,
        pushed: count(7)?,
        pulled: count(8)?,
        applied: count(9)?,
        duplicates: count(10)?,
        quarantined: count(11)?,
        retries: count(12)?,
        error_class: r
            .try_get::<_, Option<String>>(13)?
            .map(|c| ErrorClass::parse(&c).unwrap_or(ErrorClass::Internal)),
        message: r.try_get(14)?,
        remote_refs: list(15)?,
        duration_ms: r.try_get::<_, Option<i64>>(16)?.map(|d| d as u64),
        denials: list(17)?,
        breaches: list(18)?,
    })
}

/// Start a run (the caller holds the lease and fenced the transaction).
pub(super) fn begin_run(
    tx: &mut impl GenericClient,
    tenant: &str,
    config: &str,
    adapter_type: &str,
    adapter_version: &str,
    epoch: Option<i64>,
) -> Result<i64, StoreError> {
    // The caller holds the config's lease: a run of it still `running` belongs to a worker
    // that died (or lost its lease) before finishing it.
    tx.execute(
        "UPDATE dcsync_runs SET status = 'abandoned', finished_at = now(),
             message = COALESCE(message, 'its worker ended before the run finished (killed, crashed, cut off past its lease, or the machine stopped); the next run resumes from the confirmed cursors')
         WHERE tenant_id = $1 AND config_id = $2 AND status = 'running'",
        &[&tenant, &config],
    )?;
    Ok(tx
        .query_one(
            "INSERT INTO dcsync_runs (tenant_id, config_id, adapter_type, adapter_version, status, lease_epoch)
             VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
            &[&tenant, &config, &adapter_type, &adapter_version, &epoch],
        )?
        .get(0))
}

/// Record how a run ended.
pub(super) fn finish_run(
    tx: &mut impl GenericClient,
    tenant: &str,
    r: &RunRecord,
) -> Result<(), StoreError> {
    let finished = r
        .finished_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_else(Utc::now);
    let n = |v: u64| v as i64;
    tx.execute(
        "UPDATE dcsync_runs SET finished_at = $3, status = $4, pushed = $5, pulled = $6, applied = $7,
             duplicates = $8, quarantined = $9, retries = $10, error_class = $11, message = $12,
             remote_refs = $13, adapter_version = $14, duration_ms = $15, denials = $16,
             breaches = $17
         WHERE id = $1 AND tenant_id = $2",
        &[
            &r.id,
            &tenant,
            &finished,
            &r.status.as_str(),
            &n(r.pushed),
            &n(r.pulled),
            &n(r.applied),
            &n(r.duplicates),
            &n(r.quarantined),
            &n(r.retries),
            &r.error_class.map(ErrorClass::as_str),
            &r.message,
            &serde_json::json!(r.remote_refs),
            &r.adapter_version,
            &r.duration_ms.map(|d| d as i64),
            &serde_json::json!(r.denials),
            &serde_json::json!(r.breaches),
        ],
    )?;
    Ok(())
}

/// Latest runs first.
pub(super) fn runs(
    c: &mut impl GenericClient,
    tenant: &str,
    config: Option<&str>,
    limit: u32,
) -> Result<Vec<RunRecord>, StoreError> {
    c.query(
        &format!(
            "SELECT {RUN_COLUMNS} FROM dcsync_runs
             WHERE tenant_id = $1 AND ($2::text IS NULL OR config_id = $2) ORDER BY id DESC LIMIT $3"
        ),
        &[&tenant, &config, &i64::from(limit)],
    )?
    .iter()
    .map(run_from_row)
    .collect()
}

/// One run.
pub(super) fn run(
    c: &mut impl GenericClient,
    tenant: &str,
    id: i64,
) -> Result<Option<RunRecord>, StoreError> {
    c.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM dcsync_runs WHERE id = $1 AND tenant_id = $2"),
        &[&id, &tenant],
    )?
    .as_ref()
    .map(run_from_row)
    .transpose()
}

/// Open quarantine entries.
pub(super) fn open_quarantine(
    c: &mut impl GenericClient,
    tenant: &str,
    config: Option<&str>,
) -> Result<Vec<QuarantineEntry>, StoreError> {
    c.query(
        "SELECT q.id, q.config_id, q.phase, q.event_guid, q.reason, q.created_at, e.type
         FROM dcsync_quarantine q LEFT JOIN events e ON e.guid = q.event_guid AND e.tenant_id = q.tenant_id
         WHERE q.tenant_id = $1 AND q.open AND ($2::text IS NULL OR q.config_id = $2 OR q.config_id IS NULL)
         ORDER BY q.id",
        &[&tenant, &config],
    )?
    .iter()
    .map(|r| {
        let phase: String = r.try_get(2)?;
        Ok(QuarantineEntry {
            id: r.try_get(0)?,
            config_id: r.try_get(1)?,
            phase: QuarantinePhase::parse(&phase).ok_or_else(|| {
                StoreError::Backend(format!("unknown quarantine phase {phase:?}"))
            })?,
            event_guid: r.try_get(3)?,
            event_type: r.try_get(6)?,
            reason: r.try_get(4)?,
            created_at: format_time(r.try_get(5)?),
        })
    })
    .collect()
}

/// Remember secret field names; answer all of the config's.
pub(super) fn secret_names(
    c: &mut impl GenericClient,
    tenant: &str,
    config: &str,
    names: &[String],
) -> Result<Vec<String>, StoreError> {
    if !names.is_empty() {
        c.execute(
            "INSERT INTO dcsync_secret_names (tenant_id, config_id, name)
             SELECT $1, $2, n FROM unnest($3::text[]) AS n ON CONFLICT DO NOTHING",
            &[&tenant, &config, &names],
        )?;
    }
    Ok(c.query(
        "SELECT name FROM dcsync_secret_names WHERE tenant_id = $1 AND config_id = $2 ORDER BY name",
        &[&tenant, &config],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
