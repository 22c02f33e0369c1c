//! `dcsync serve`: the HTTP API, admin page and metrics, with scheduled syncs and the
//! adapter directory watched. With a `postgres://` store that names no tenant, each config
//! syncs in the tenant named by its id, as with `dcsync daemon`: one process serves every
//! tenant of the database.

use crate::context::{open_store, StoreArg, Tenants};
use crate::server::{self, ServerState};
use crate::Ctx;
use anyhow::{Context as _, Result};
use datacollect_sync::configs::ConfigDir;
use datacollect_sync::scheduler::{self, Schedule, ScheduleEvent, ServiceFor};
use datacollect_sync::ExternalSyncConfig;
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
        (StoreArg::Postgres(_), None) => {
            anyhow::bail!("with a postgres:// store, name the configs directory: --configs <dir>")
        }
    };
    let beside = |suffix: &str| {
        let mut p = base.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let configs_dir = configs.unwrap_or_else(|| beside(".configs"));
    // A database URL without ?tenant=: each config in the tenant its id names (as `daemon`).
    // One tenant's store is opened now, so a bad URL fails at once: the first config's, or
    // the server's default tenant's when there is no config yet.
    let per_tenant = match store_arg {
        StoreArg::Postgres(l) if l.tenant.is_none() => {
            let tenant = ConfigDir::open(&configs_dir)?
                .list()
                .into_iter()
                .map(|c| c.id)
                .find(|id| l.with_tenant(id).is_ok())
                .unwrap_or_else(|| "default".to_string());
            Some((l.clone(), tenant))
        }
        _ => None,
    };
    let first = match &per_tenant {
        Some((l, tenant)) => StoreArg::Postgres(l.with_tenant(tenant)?),
        None => store_arg.clone(),
    };
    let store = open_store(&first)?;
    let configs = Arc::new(ConfigDir::open(&configs_dir)?);
    let (token, generated) = server::admin_token(token, &beside(".admin-token"))?;
    let service = ctx.service(store).await?;
    let _watch = datacollect_sync::watch::watch(service.registry.clone())
        .map_err(|e| anyhow::anyhow!("cannot watch the adapter directory: {e}"))?;
    let interrupt = service.interrupt().clone();
    let (state, services) = match per_tenant {
        Some((location, tenant)) => {
            let tenants = Tenants::new(location, &tenant, service);
            (
                ServerState::per_tenant(tenants.clone(), configs.clone(), token.clone()),
                tenants.resolver(),
            )
        }
        None => (
            ServerState::new(service.clone(), configs.clone(), token.clone()),
            Arc::new(move |_: &ExternalSyncConfig| Ok(service.clone())) as ServiceFor,
        ),
    };
    let scheduled = tokio::spawn(scheduler::run_with(
        services,
        interrupt.clone(),
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
