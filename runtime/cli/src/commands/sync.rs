//! `dcsync sync`: one sync of a config against a store.

use crate::context::{open_store, read_config};
use crate::output::print_json;
use crate::{progress, Ctx};
use anyhow::{bail, Context as _, Result};
use datacollect_sync::Credentials;
use std::path::Path;

pub async fn run(
    ctx: &Ctx,
    config: &Path,
    store: &Path,
    json: bool,
    wait: bool,
    username: Option<String>,
) -> Result<i32> {
    let config = read_config(config)?;
    let credentials = match username {
        None => None,
        Some(u) => {
            let p = std::env::var("DCSYNC_PASSWORD")
                .context("--username needs the password in DCSYNC_PASSWORD")?;
            Some(Credentials::new(u, p))
        }
    };
    let service = ctx.service(open_store(store)?).await?;
    let mut manager = service
        .manager(config)
        .wait_for_lock(wait)
        .on_progress(progress::reporter());
    manager.initialize().await?;
    if !manager.is_initialized() {
        bail!(
            "no adapter for type {:?} (run `dcsync adapters` to see what is loaded)",
            manager.config().adapter_type
        );
    }
    let report = manager.synchronize(credentials).await?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "{}: pushed {}, pulled {}, applied {}, duplicates {}, quarantined {}, retries {} ({} ms)",
            report.status,
            report.pushed,
            report.pulled,
            report.applied,
            report.duplicates,
            report.quarantined,
            report.retries,
            report.duration_ms
        );
    }
    Ok(0)
}
