//! `dcsync daemon`: sync each config on its interval while watching the adapter directory,
//! so a new or replaced component serves the next sync without a restart.

use crate::{open_store, read_config, Ctx};
use anyhow::Result;
use datacollect_sync::{watch, AdapterRegistry};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

pub async fn run(
    ctx: &Ctx,
    registry: Arc<AdapterRegistry>,
    configs: &[PathBuf],
    store: &Path,
    interval: Option<Duration>,
) -> Result<()> {
    let configs = configs
        .iter()
        .map(|p| read_config(p))
        .collect::<Result<Vec<_>>>()?;
    let store = open_store(store)?;
    let _watch = watch::watch(registry.clone())?;
    eprintln!(
        "watching {} for adapter changes; syncing {} config(s); Ctrl-C to stop",
        ctx.adapters.display(),
        configs.len()
    );
    let mut tasks = Vec::new();
    for config in configs {
        let every = interval
            .or_else(|| {
                config
                    .settings()
                    .ok()
                    .and_then(|s| s.sync_interval_ms)
                    .map(Duration::from_millis)
            })
            .unwrap_or(DEFAULT_INTERVAL);
        let mut manager = ctx.manager(store.clone(), config, registry.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                // An adapter dropped in later initializes the manager then.
                if !manager.is_initialized() {
                    let _ = manager.initialize().await;
                }
                if manager.is_initialized() {
                    match manager.synchronize(None).await {
                        Ok(r) => println!(
                            "{} sync #{} ({} {}): pushed {}, pulled {}, applied {}, quarantined {}",
                            manager.config().id,
                            r.run_id,
                            manager.config().adapter_type,
                            r.adapter_version,
                            r.pushed,
                            r.pulled,
                            r.applied,
                            r.quarantined
                        ),
                        Err(e) => {
                            eprintln!("{} sync failed [{}]: {e}", manager.config().id, e.class())
                        }
                    }
                } else {
                    eprintln!(
                        "{}: no adapter for type {:?} yet",
                        manager.config().id,
                        manager.config().adapter_type
                    );
                }
                tokio::time::sleep(every).await;
            }
        }));
    }
    tokio::signal::ctrl_c().await?;
    for t in tasks {
        t.abort();
    }
    Ok(())
}
