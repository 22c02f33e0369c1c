//! `dcsync daemon`: sync each config on its interval while watching the adapter directory,
//! so a new or replaced component serves the next sync without a restart.

use crate::context::{open_store, read_config};
use crate::output::say;
use crate::Ctx;
use anyhow::{bail, Result};
use datacollect_sync::scheduler::{self, Schedule, ScheduleEvent, MIN_INTERVAL};
use datacollect_sync::watch;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

pub async fn run(
    ctx: &Ctx,
    configs: &[PathBuf],
    store: &Path,
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
    let service = ctx.service(open_store(store)?).await?;
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
    crate::commands::sync::stop_on_signals(interrupt);
    // Returns once a signal stopped the running syncs at a safe point.
    scheduler::run(service, Arc::new(configs), schedule, Arc::new(print_event)).await;
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
