//! What `status`, `adapters` and the API show, built once for every surface.

use crate::registry::AdapterRegistry;
use dcsync_contract::adapter::{Capability, FieldSpec, Manifest};
use dcsync_store::{EventStore, QuarantineEntry, RunRecord, StoreError};
use serde::Serialize;

/// A config's sync state.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// The config.
    pub config_id: String,
    /// Sequence number of the last event confirmed delivered.
    pub push_cursor: i64,
    /// The adapter's cursor after the last applied page.
    pub pull_cursor: Option<String>,
    /// Events waiting to be pushed.
    pub pending: u64,
    /// Open quarantine entries of the config.
    pub quarantined: usize,
    /// The newest run.
    pub last_run: Option<RunRecord>,
    /// Set while the host holds the config (an answer held a secret value); no run starts
    /// until an operator releases it.
    pub held: Option<Hold>,
}

/// Why and since when a config is held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hold {
    /// When the host held it (RFC 3339).
    pub since: String,
    /// What happened.
    pub reason: String,
}

/// The sync state of `config_id` in `store`.
pub fn config_status(store: &dyn EventStore, config_id: &str) -> Result<ConfigStatus, StoreError> {
    let cursors = store.cursors(config_id)?;
    Ok(ConfigStatus {
        config_id: config_id.to_string(),
        push_cursor: cursors.push,
        pull_cursor: cursors.pull,
        pending: store.pending_count(config_id)?,
        quarantined: store.quarantine(Some(config_id))?.len(),
        last_run: store.runs(Some(config_id), 1)?.into_iter().next(),
        held: store
            .hold(config_id)?
            .map(|(since, reason)| Hold { since, reason }),
    })
}

/// The open quarantine entries a run produced: its config's, opened while it ran. One run
/// of a config at a time (single flight), so the run's time window tells them apart; an
/// entry retried since is closed and no longer listed.
pub fn run_quarantine(
    store: &dyn EventStore,
    run: &RunRecord,
) -> Result<Vec<QuarantineEntry>, StoreError> {
    Ok(store
        .quarantine(Some(&run.config_id))?
        .into_iter()
        .filter(|q| produced_by(run, q))
        .collect())
}

/// Whether `entry` was opened by `run`: same config, opened between its start and its end
/// (or now, while it runs). Times are compared as instants, not as text: the stores write
/// milliseconds or microseconds.
fn produced_by(run: &RunRecord, entry: &QuarantineEntry) -> bool {
    let instant = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let (Some(start), Some(at)) = (instant(&run.started_at), instant(&entry.created_at)) else {
        return false;
    };
    let ended = run.finished_at.as_deref().and_then(instant);
    entry.config_id.as_deref() == Some(run.config_id.as_str())
        && at >= start
        && ended.is_none_or(|end| at <= end)
}

/// One file of the adapter directory: loaded, or refused with the reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
#[allow(clippy::large_enum_variant)] // a short-lived listing: boxing would buy nothing
pub enum AdapterEntry {
    /// Serving its type.
    #[serde(rename = "loaded", rename_all = "camelCase")]
    Loaded {
        /// The config type it serves.
        #[serde(rename = "type")]
        adapter_type: String,
        /// Human-readable name.
        name: String,
        /// Its version.
        version: String,
        /// The WIT version it was built against.
        wit_version: String,
        /// What it can do.
        capabilities: Vec<Capability>,
        /// The fields it declares.
        config_fields: Vec<FieldSpec>,
        /// Where it declared each secret may go (`null`: nothing declared, the 1.0 rule).
        secret_placements: Option<Manifest>,
        /// SHA-256 of the file.
        sha256: String,
        /// The file.
        file: String,
        /// When it was loaded.
        loaded_at: String,
        /// How long loading took.
        load_ms: u64,
        /// Whether its compiled code came from the cache.
        from_cache: bool,
    },
    /// Not loaded.
    #[serde(rename = "refused")]
    Refused {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// Every loaded adapter, then every refused file.
pub fn adapter_entries(registry: &AdapterRegistry) -> Vec<AdapterEntry> {
    let loaded = registry
        .adapters()
        .into_iter()
        .map(|a| AdapterEntry::Loaded {
            adapter_type: a.info.adapter_type.clone(),
            name: a.info.name.clone(),
            version: a.info.version.clone(),
            wit_version: a.wit_version.clone(),
            capabilities: a.info.capabilities.clone(),
            config_fields: a.info.config_fields.clone(),
            secret_placements: a.manifest.clone(),
            sha256: a.sha256.clone(),
            file: a.path.display().to_string(),
            loaded_at: a.loaded_at.clone(),
            load_ms: a.load_ms,
            from_cache: a.from_cache,
        });
    let refused = registry
        .problems()
        .into_iter()
        .map(|p| AdapterEntry::Refused {
            file: p.path.display().to_string(),
            reason: p.reason,
        });
    loaded.chain(refused).collect()
}

/// Where an adapter may place its secrets, in one line.
pub fn describe_placements(manifest: Option<&Manifest>) -> String {
    let Some(m) = manifest else {
        return "none declared (the 1.0 rule: request headers and basic auth to the config's own origin)".into();
    };
    if m.placements.is_empty() {
        return "none (secrets go only into headers named by `header.<Name>` fields)".into();
    }
    m.placements
        .iter()
        .map(|(secret, places)| {
            let places: Vec<String> = places.iter().map(ToString::to_string).collect();
            format!("{secret} → {}", places.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcsync_contract::outcome::{QuarantinePhase, RunStatus};

    fn run(started: &str, finished: Option<&str>) -> RunRecord {
        RunRecord {
            id: 7,
            config_id: "cfg".into(),
            adapter_type: "mock-sync-server".into(),
            adapter_version: "1.0.0".into(),
            started_at: started.into(),
            finished_at: finished.map(str::to_string),
            status: RunStatus::Succeeded,
            pushed: 0,
            pulled: 0,
            applied: 0,
            duplicates: 0,
            quarantined: 1,
            retries: 0,
            duration_ms: None,
            error_class: None,
            message: None,
            remote_refs: Vec::new(),
            denials: Vec::new(),
            breaches: Vec::new(),
        }
    }

    fn entry(config: Option<&str>, at: &str) -> QuarantineEntry {
        QuarantineEntry {
            id: 1,
            config_id: config.map(str::to_string),
            phase: QuarantinePhase::Push,
            event_guid: "g".into(),
            event_type: None,
            reason: "refused".into(),
            created_at: at.into(),
        }
    }

    #[test]
    fn a_run_owns_the_entries_of_its_config_opened_while_it_ran() {
        let r = run("2026-01-01T10:00:00.500Z", Some("2026-01-01T10:00:02.000Z"));
        assert!(produced_by(
            &r,
            &entry(Some("cfg"), "2026-01-01T10:00:01.000Z")
        ));
        // Microseconds (PostgreSQL) compare as instants: .500100 is after .500.
        assert!(produced_by(
            &r,
            &entry(Some("cfg"), "2026-01-01T10:00:00.500100Z")
        ));
        assert!(!produced_by(
            &r,
            &entry(Some("cfg"), "2026-01-01T10:00:00.499999Z")
        ));
        assert!(!produced_by(
            &r,
            &entry(Some("cfg"), "2026-01-01T10:00:02.001Z")
        ));
        assert!(!produced_by(
            &r,
            &entry(Some("other"), "2026-01-01T10:00:01.000Z")
        ));
        assert!(!produced_by(&r, &entry(None, "2026-01-01T10:00:01.000Z")));
    }

    #[test]
    fn a_running_run_owns_every_later_entry_of_its_config() {
        let r = run("2026-01-01T10:00:00.000Z", None);
        assert!(produced_by(
            &r,
            &entry(Some("cfg"), "2027-01-01T00:00:00.000Z")
        ));
    }
}
