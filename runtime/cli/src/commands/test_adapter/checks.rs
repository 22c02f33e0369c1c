//! The checks, in the order they run; each says what it saw and how to fix a failure.

use super::{Calls, Check};
use crate::Ctx;
use anyhow::Result;
use datacollect_sync::adapter::{AdapterInfo, Capability, ConnectionCheck};
use datacollect_sync::host::tape::Tape;
use datacollect_sync::model::{FormSubmission, SyncLevel};
use datacollect_sync::{
    AdapterRegistry, Credentials, EventApplier, EventStore, ExternalSyncConfig, SqliteStore,
    SyncError, SyncReport, SyncService,
};
use serde_json::json;
use std::sync::Arc;

/// How many synthetic events the push check sends.
const SYNTHETIC_EVENTS: usize = 5;

pub(super) struct Kit<'c> {
    pub ctx: &'c Ctx,
    pub registry: Arc<AdapterRegistry>,
    pub config: ExternalSyncConfig,
    pub credentials: Option<Credentials>,
    pub tape: Option<Arc<Tape>>,
    pub calls: Calls,
    pub push: bool,
}

/// Events no system has seen: fixed guids and times, so a recording replays.
fn synthetic_events() -> Vec<FormSubmission> {
    (0..SYNTHETIC_EVENTS)
        .map(|i| FormSubmission {
            guid: format!("dcsync-test-adapter-event-{i}"),
            entity_guid: format!("dcsync-test-adapter-person-{i}"),
            event_type: "create-individual".into(),
            data: json!({"name": format!("Test Person {i}"), "givenName": "Test",
                         "familyName": format!("Person {i}"), "note": "sent by dcsync test-adapter"}),
            timestamp: format!("2025-01-01T00:00:0{i}Z"),
            user_id: "dcsync-test-adapter".into(),
            sync_level: SyncLevel::Local,
        })
        .collect()
}

/// `describe()` is well formed and serves the config's type.
fn describe(info: &AdapterInfo, config: &ExternalSyncConfig) -> Check {
    let mut problems = Vec::new();
    let ty = &info.adapter_type;
    if ty.is_empty()
        || !ty
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        problems.push(format!(
            "type {ty:?} is not lower-case letters, digits and dashes"
        ));
    }
    if semver::Version::parse(&info.version).is_err() {
        problems.push(format!("version {:?} is not semver (1.2.3)", info.version));
    }
    let mut names: Vec<&str> = info.config_fields.iter().map(|f| f.name.as_str()).collect();
    if names.iter().any(|n| n.trim().is_empty()) {
        problems.push("a config field has no name".into());
    }
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        problems.push(format!("config field {:?} is declared twice", w[0]));
    }
    if info.capabilities.is_empty() {
        problems.push("no capability declared (push, pull or custom-sync)".into());
    }
    for c in &info.capabilities {
        if let Capability::Other(name) = c {
            problems.push(format!("unknown capability {name:?}"));
        }
    }
    if &config.adapter_type != ty {
        problems.push(format!(
            "the config's type is {:?}; this adapter serves {ty:?}",
            config.adapter_type
        ));
    }
    if problems.is_empty() {
        Check::pass(
            "describe",
            format!(
                "type {ty}, version {}, {} config field(s), capabilities {}",
                info.version,
                info.config_fields.len(),
                info.capabilities
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        Check::fail("describe", problems.join("; "))
    }
}

impl Kit<'_> {
    fn service(&self, store: Arc<dyn EventStore>) -> Result<SyncService> {
        Ok(SyncService::new(
            store,
            self.registry.clone(),
            &self.ctx.settings,
        )?)
    }

    async fn manager(
        &self,
        service: &SyncService,
        config: ExternalSyncConfig,
        taped: bool,
    ) -> Result<datacollect_sync::ExternalSyncManager> {
        let mut m = service.manager(config).on_call(self.calls.observer());
        if let (true, Some(t)) = (taped, &self.tape) {
            m = m.with_tape(t.clone());
        }
        m.initialize().await?;
        Ok(m)
    }

    pub(super) async fn run(&self) -> Result<Vec<Check>> {
        let mut out = Vec::new();
        let adapter = self
            .registry
            .get(&self.config.adapter_type)
            .or_else(|| {
                self.registry
                    .types()
                    .first()
                    .and_then(|t| self.registry.get(t))
            })
            .ok_or_else(|| anyhow::anyhow!("the loaded adapter went away"))?;
        out.push(describe(&adapter.info, &self.config));
        // Run as the adapter's own type (a mismatch is `describe`'s failure, above).
        let mut config = self.config.clone();
        config.adapter_type = adapter.info.adapter_type.clone();
        let scratch = tempfile::tempdir()?;
        let store = Arc::new(SqliteStore::open(scratch.path().join("kit.db"))?);
        let service = self.service(store.clone())?;
        if let Err(e) = service.check(&config).await {
            out.push(Check::fail("config", e.to_string()));
            out.push(Check::skip("the rest", "the config is not usable"));
            return Ok(out);
        }
        out.push(Check::pass(
            "config",
            "the host's rules and the adapter's own are met",
        ));
        let info = &adapter.info;
        let m = self.manager(&service, config.clone(), true).await?;

        self.calls.set("connection");
        out.push(match m.check_connection(self.credentials.clone()).await {
            Ok(Some(ConnectionCheck::Ok(what))) => Check::pass("connection", what),
            Ok(Some(ConnectionCheck::Untestable(why))) => Check::pass(
                "connection",
                format!("not testable without side effects: {why}"),
            ),
            Ok(None) => Check::skip("connection", "no check-connection export (contract 1.0)"),
            Err(e) => Check::fail("connection", format!("[{}] {e}", e.class().as_str())),
        });

        let pushes =
            self.push && (info.has(&Capability::Push) || info.has(&Capability::CustomSync));
        if pushes {
            store.append_local(&synthetic_events(), &EventApplier::new())?;
        }
        self.calls.set("sync");
        let first = m.synchronize(self.credentials.clone()).await;
        let pending = store.pending_count(&config.id)?;
        out.push(if !pushes {
            Check::skip(
                "push",
                if self.push { "the adapter does not push" } else { "--no-push" },
            )
        } else if pending == 0 {
            let q = store.quarantine(Some(&config.id))?.len();
            Check::pass(
                "push",
                format!("{SYNTHETIC_EVENTS} synthetic events accounted for ({q} refused by the system, quarantined)"),
            )
        } else {
            Check::fail(
                "push",
                format!(
                    "{pending} of {SYNTHETIC_EVENTS} events not accounted for: {}",
                    first.as_ref().err().map(ToString::to_string).unwrap_or_default()
                ),
            )
        });
        out.extend(self.pull_checks(&m, &store, &config, &first).await?);
        out.push(self.secrets_check(&config, scratch.path()));
        out.extend(self.error_checks(&config).await?);
        Ok(out)
    }

    async fn pull_checks(
        &self,
        m: &datacollect_sync::ExternalSyncManager,
        store: &Arc<SqliteStore>,
        config: &ExternalSyncConfig,
        first: &Result<SyncReport, SyncError>,
    ) -> Result<Vec<Check>> {
        let adapter = self.registry.get(&config.adapter_type);
        if !adapter.is_some_and(|a| a.info.has(&Capability::Pull)) {
            return Ok(vec![
                Check::skip("pull", "the adapter does not pull"),
                Check::skip("re-pull", "the adapter does not pull"),
            ]);
        }
        let r = match first {
            Ok(r) => r,
            Err(e) => {
                return Ok(vec![
                    Check::fail(
                        "pull",
                        format!("the sync failed: [{}] {e}", e.class().as_str()),
                    ),
                    Check::skip("re-pull", "the first pull did not finish"),
                ])
            }
        };
        let mut out = vec![Check::pass(
            "pull",
            if r.pulled == 0 {
                format!("{} page(s), the cursor moved and the pull ended; the system had nothing to pull (seed it to test pulling properly)", r.pull_pages)
            } else {
                format!(
                    "{} record(s) in {} page(s) ({} applied, {} quarantined); the cursor moved and the pull ended",
                    r.pulled, r.pull_pages, r.applied, r.quarantined
                )
            },
        )];
        store.reset_pull_cursor(&config.id)?;
        self.calls.set("re-pull");
        out.push(match m.synchronize(self.credentials.clone()).await {
            Ok(again) if again.applied == 0 => Check::pass(
                "re-pull",
                format!("pulled {} record(s) again from the start; nothing was applied twice", again.pulled),
            ),
            Ok(again) => Check::fail(
                "re-pull",
                format!("pulling from the start again applied {} record(s): give each record version a stable guid (or leave guid empty for the host to derive one)", again.applied),
            ),
            Err(e) => Check::fail("re-pull", format!("[{}] {e}", e.class().as_str())),
        });
        Ok(out)
    }

    /// No secret value in anything the adapter returned and the host kept: the store file
    /// (events, quarantine, run history) and the calls' outcomes.
    fn secrets_check(&self, config: &ExternalSyncConfig, dir: &std::path::Path) -> Check {
        let mut values: Vec<String> = config.secrets().map(|(_, v)| v.to_string()).collect();
        if let Some(c) = &self.credentials {
            values.push(c.password().to_string());
        }
        values.retain(|v| v.chars().count() >= 4);
        let mut haystack = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            haystack.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
        for call in self.calls.list.lock().expect("calls").iter() {
            haystack.extend(call.call.outcome.as_bytes());
        }
        let found = values
            .iter()
            .filter(|v| haystack.windows(v.len()).any(|w| w == v.as_bytes()))
            .count();
        if found == 0 {
            Check::pass(
                "secrets",
                format!("none of the config's {} secret value(s) is in what the adapter returned or the host stored", values.len()),
            )
        } else {
            Check::fail(
                "secrets",
                format!("{found} secret value(s) found in what the host stored"),
            )
        }
    }

    /// Each failure answer, from a local server standing in for the system, gives the
    /// right error class.
    async fn error_checks(&self, config: &ExternalSyncConfig) -> Result<Vec<Check>> {
        let mut out = Vec::new();
        for (status, expected, name) in [
            (401, "unauthorized", "errors-401"),
            (429, "transient", "errors-429"),
            (503, "transient", "errors-503"),
        ] {
            let addr = super::faults::start(status).await?;
            let mut url = url::Url::parse(&config.url)?;
            url.set_scheme("http").ok();
            url.set_host(Some(&addr.ip().to_string()))?;
            url.set_port(Some(addr.port())).ok();
            let mut value = config.to_json(false);
            value["url"] = json!(url.to_string());
            value["id"] = json!(format!("{}#{name}", config.id));
            let fields = value["extraFields"].as_array_mut().expect("extra fields");
            fields.retain(|f| f["name"] != "retryAttempts");
            fields.push(json!({"name": "retryAttempts", "value": "0"}));
            let faulty = ExternalSyncConfig::from_value(&value)?;
            let scratch = tempfile::tempdir()?;
            let store: Arc<dyn EventStore> =
                Arc::new(SqliteStore::open(scratch.path().join("f.db"))?);
            if self.push {
                store.append_local(&synthetic_events()[..1], &EventApplier::new())?;
            }
            let service = self.service(store)?;
            let m = self.manager(&service, faulty, false).await?;
            self.calls.set(name);
            out.push(match m.synchronize(self.credentials.clone()).await {
                Err(e) if e.class().as_str() == expected => {
                    Check::pass(name, format!("HTTP {status} is {expected}"))
                }
                Err(e) => Check::fail(
                    name,
                    format!(
                        "HTTP {status} should be {expected}, was [{}] {e}",
                        e.class().as_str()
                    ),
                ),
                Ok(_) => Check::fail(
                    name,
                    format!("HTTP {status} on every request, and the sync succeeded"),
                ),
            });
        }
        Ok(out)
    }
}
