//! `dcsync daemon`: sync each config on its interval while watching the adapter directory,
//! so a new or replaced component serves the next sync without a restart.
//!
//! On PostgreSQL, any number of daemons may run against one database: each config is
//! synced by one of them at a time (its lease). With a `postgres://` store that names no
//! tenant, each config syncs in the tenant named by its id, as the DataCollect server
//! keys a tenant by its app config id: one daemon serves every tenant of the database.

use crate::context::{open_store, read_config, StoreArg, Tenants};
use crate::output::say;
use crate::Ctx;
use anyhow::{bail, Result};
use datacollect_sync::scheduler::{self, Schedule, ScheduleEvent, ServiceFor, MIN_INTERVAL};
use datacollect_sync::{watch, ExternalSyncConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

pub async fn run(
    ctx: &Ctx,
    configs: &[PathBuf],
    store: &StoreArg,
    interval: Option<Duration>,
) -> Result<i32> {
    if let Some(every) = interval.filter(|i| *i < MIN_INTERVAL) {
        bail!(
            "--interval {every:?} is too short: at least {} s between syncs of a config",
            MIN_INTERVAL.as_secs()
        );
    }
    let configs = configs
        .iter()
        .map(|p| read_config(p))
        .collect::<Result<Vec<_>>>()?;
    // One tenant per config: the first config's store now (so a bad URL fails at once),
    // the others' as the scheduler first needs them.
    let per_tenant = match (store, configs.first()) {
        (StoreArg::Postgres(l), Some(c)) if l.tenant.is_none() => Some((l.clone(), c.id.clone())),
        _ => None,
    };
    let first = match &per_tenant {
        Some((l, tenant)) => StoreArg::Postgres(l.with_tenant(tenant)?),
        None => store.clone(),
    };
    let service = ctx.service(open_store(&first)?).await?;
    let _watch = watch::watch(service.registry.clone())?;
    say(
        "info",
        &format!(
            "watching {} for adapter changes; syncing {} config(s); Ctrl-C or SIGTERM to stop",
            ctx.adapter_dir()?.display(),
            configs.len()
        ),
    );
    let schedule = Schedule {
        every: interval,
        default_every: Some(DEFAULT_INTERVAL),
    };
    let interrupt = service.interrupt().clone();
    crate::commands::sync::stop_on_signals(interrupt.clone());
    let services = match per_tenant {
        Some((location, tenant)) => Tenants::new(location, &tenant, service).resolver(),
        None => Arc::new(move |_: &ExternalSyncConfig| Ok(service.clone())) as ServiceFor,
    };
    // Returns once a signal stopped the running syncs at a safe point.
    scheduler::run_with(
        services,
        interrupt,
        Arc::new(configs),
        schedule,
        Arc::new(print_event),
    )
    .await;
    Ok(0)
}

fn print_event(event: ScheduleEvent) {
    match event {
        ScheduleEvent::Finished {
            config_id,
            adapter_type,
            result: Ok(r),
        } => println!(
            "{config_id} sync #{} ({adapter_type} {}): pushed {}, pulled {}, applied {}, quarantined {}",
            r.run_id, r.adapter_version, r.pushed, r.pulled, r.applied, r.quarantined
        ),
        ScheduleEvent::Finished {
            config_id,
            result: Err(e),
            ..
        } => say("warn", &format!("{config_id} sync failed [{}]: {e}", e.class())),
        ScheduleEvent::Skipped { config_id, reason } => say("warn", &format!("{config_id}: {reason}")),
    }
}
