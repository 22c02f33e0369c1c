//! `dcsync serve`: the HTTP API, admin page and metrics, with scheduled syncs and the
//! adapter directory watched.

use crate::context::{open_store, StoreArg};
use crate::server::{self, ServerState};
use crate::Ctx;
use anyhow::{Context as _, Result};
use datacollect_sync::configs::ConfigDir;
use datacollect_sync::scheduler::{self, Schedule, ScheduleEvent};
use std::path::PathBuf;
use std::sync::Arc;

pub async fn run(
    ctx: &Ctx,
    store_arg: &StoreArg,
    listen: &str,
    configs: Option<PathBuf>,
    token: Option<String>,
) -> Result<i32> {
    // The configs and the admin token live beside a SQLite store; a database has no "beside":
    // they go in the configs directory, which must then be named.
    let base: PathBuf = match (store_arg, &configs) {
        (StoreArg::Sqlite(p), _) => p.clone(),
        (StoreArg::Postgres(_), Some(dir)) => dir.join("dcsync"),
        (StoreArg::Postgres(_), None) => anyhow::bail!(
            "with a postgres:// store, name the configs directory: --configs <dir> (serving many tenants from one process is `dcsync daemon`)"
        ),
    };
    let store = open_store(store_arg)?;
    let beside = |suffix: &str| {
        let mut p = base.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let configs = Arc::new(ConfigDir::open(
        &configs.unwrap_or_else(|| beside(".configs")),
    )?);
    let (token, generated) = server::admin_token(token, &beside(".admin-token"))?;
    let service = ctx.service(store).await?;
    let _watch = datacollect_sync::watch::watch(service.registry.clone())
        .map_err(|e| anyhow::anyhow!("cannot watch the adapter directory: {e}"))?;
    let state = ServerState::new(service.clone(), configs.clone(), token.clone());
    let interrupt = service.interrupt().clone();
    let scheduled = tokio::spawn(scheduler::run(
        service,
        configs,
        Schedule::default(),
        Arc::new(log_event),
    ));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "dcsync serving on http://{} (admin page at /)",
        listener.local_addr()?
    );
    if generated {
        println!(
            "admin token (shown once, kept in {}): {token}",
            beside(".admin-token").display()
        );
    }
    // SIGINT/SIGTERM: stop accepting requests, let running syncs stop at a safe point
    // (recorded `interrupted`), then exit.
    axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async move {
            crate::commands::signal().await;
            crate::output::say(
                "warn",
                "stopping: running syncs stop at their next safe point",
            );
            interrupt.interrupt();
        })
        .await?;
    let _ = scheduled.await;
    Ok(0)
}

fn log_event(event: ScheduleEvent) {
    match event {
        ScheduleEvent::Finished {
            config_id,
            result: Err(e),
            ..
        } => {
            tracing::warn!(config = %config_id, class = %e.class(), error = %e, "scheduled sync failed")
        }
        ScheduleEvent::Finished { .. } => {}
        ScheduleEvent::Skipped { config_id, reason } => {
            tracing::info!(config = %config_id, %reason, "scheduled sync not started")
        }
    }
}
