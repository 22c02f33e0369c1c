//! The one scheduler behind `dcsync daemon` and `dcsync serve`: each config is synced on
//! its interval (an override, else its `syncInterval`, else a default); a config whose
//! sync is still running is skipped, not queued; an adapter dropped in later starts
//! serving at the next tick.

use crate::configs::ConfigDir;
use crate::manager::{SyncError, SyncReport};
use crate::service::SyncService;
use dcsync_contract::config::ExternalSyncConfig;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the scheduler looks at the configs.
const TICK: Duration = Duration::from_secs(1);

/// Where the scheduler reads the configs it syncs.
pub trait ConfigSource: Send + Sync {
    /// The configs now.
    fn configs(&self) -> Vec<ExternalSyncConfig>;
}

impl ConfigSource for Vec<ExternalSyncConfig> {
    fn configs(&self) -> Vec<ExternalSyncConfig> {
        self.clone()
    }
}

impl ConfigSource for ConfigDir {
    fn configs(&self) -> Vec<ExternalSyncConfig> {
        self.list()
    }
}

/// When configs are synced.
#[derive(Clone, Copy, Debug, Default)]
pub struct Schedule {
    /// Every config on this interval, whatever its `syncInterval` says.
    pub every: Option<Duration>,
    /// For configs without a `syncInterval`; `None`: they are not scheduled.
    pub default_every: Option<Duration>,
}

impl Schedule {
    fn interval(&self, config: &ExternalSyncConfig) -> Option<Duration> {
        self.every.or_else(|| {
            config
                .settings()
                .ok()
                .and_then(|s| s.sync_interval_ms)
                .map(Duration::from_millis)
                .or(self.default_every)
        })
    }
}

/// What happened to a scheduled sync.
#[derive(Debug)]
pub enum ScheduleEvent {
    /// A sync ran.
    Finished {
        /// The config.
        config_id: String,
        /// Its adapter type.
        adapter_type: String,
        /// The report, or why it failed.
        result: Result<SyncReport, SyncError>,
    },
    /// A sync was due but could not start.
    Skipped {
        /// The config.
        config_id: String,
        /// Why.
        reason: String,
    },
}

/// Called with each scheduled sync's outcome.
pub type ScheduleFn = Arc<dyn Fn(ScheduleEvent) + Send + Sync>;

/// The service a config syncs with (its tenant's store, on a shared database), or why
/// there is none now.
pub type ServiceFor =
    Arc<dyn Fn(&ExternalSyncConfig) -> Result<Arc<SyncService>, String> + Send + Sync>;

/// Sync the configs of `source` on `schedule` until the service is interrupted; then
/// start nothing more and return once the running syncs have stopped at a safe point.
pub async fn run(
    service: Arc<SyncService>,
    source: Arc<dyn ConfigSource>,
    schedule: Schedule,
    on_event: ScheduleFn,
) {
    let interrupt = service.interrupt().clone();
    let one: ServiceFor = Arc::new(move |_| Ok(service.clone()));
    run_with(one, interrupt, source, schedule, on_event).await
}

/// [`run`] with a service per config (`services`), all stopped by `interrupt`.
pub async fn run_with(
    services: ServiceFor,
    interrupt: crate::Interrupt,
    source: Arc<dyn ConfigSource>,
    schedule: Schedule,
    on_event: ScheduleFn,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        if interrupt.is_interrupted() {
            while tasks.join_next().await.is_some() {}
            return;
        }
        while tasks.try_join_next().is_some() {}
        for config in source.configs() {
            let Some(every) = schedule.interval(&config) else {
                continue;
            };
            if last.get(&config.id).is_some_and(|t| t.elapsed() < every) {
                continue;
            }
            let busy = running
                .lock()
                .map(|mut r| !r.insert(config.id.clone()))
                .unwrap_or(true);
            if busy {
                continue;
            }
            last.insert(config.id.clone(), Instant::now());
            let (services, running, on_event) =
                (services.clone(), running.clone(), on_event.clone());
            tasks.spawn(async move {
                let id = config.id.clone();
                let adapter_type = config.adapter_type.clone();
                let service = match services(&config) {
                    Ok(s) => s,
                    Err(reason) => {
                        on_event(ScheduleEvent::Skipped {
                            config_id: id.clone(),
                            reason,
                        });
                        if let Ok(mut r) = running.lock() {
                            r.remove(&id);
                        }
                        return;
                    }
                };
                let event = match service.initialized_manager(config).await {
                    Ok(m) if m.is_initialized() => ScheduleEvent::Finished {
                        config_id: id.clone(),
                        adapter_type,
                        result: m.synchronize(None).await,
                    },
                    Ok(_) => ScheduleEvent::Skipped {
                        config_id: id.clone(),
                        reason: format!("no adapter for type {adapter_type:?} yet"),
                    },
                    Err(e) => ScheduleEvent::Skipped {
                        config_id: id.clone(),
                        reason: e.to_string(),
                    },
                };
                on_event(event);
                if let Ok(mut r) = running.lock() {
                    r.remove(&id);
                }
            });
        }
        tokio::time::sleep(TICK).await;
    }
}

/// The shortest interval between scheduled syncs of a config.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
