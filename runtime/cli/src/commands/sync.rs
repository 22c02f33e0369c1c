//! `dcsync sync`: one sync of a config against a store. SIGINT or SIGTERM stops it at
//! the next safe point (recorded `interrupted`, exit code 130); a second one ends the
//! process at once (the next run marks that one `abandoned`).

use crate::context::{open_store, read_config, StoreArg};
use crate::output::{print_json, say};
use crate::{progress, Ctx};
use anyhow::{bail, Context as _, Result};
use datacollect_sync::{Credentials, Interrupt, SyncError};
use serde_json::json;
use std::path::Path;

pub async fn run(
    ctx: &Ctx,
    config: &Path,
    store: &StoreArg,
    json: bool,
    wait: bool,
    username: Option<String>,
) -> Result<i32> {
    match sync(ctx, config, store, json, wait, username).await {
        Ok(code) => Ok(code),
        Err(e) if json => {
            let class = e.downcast_ref::<SyncError>().map(|s| s.class().as_str());
            print_json(
                &json!({ "status": "failed", "errorClass": class, "error": format!("{e:#}") }),
            )?;
            Ok(exit_code(&e))
        }
        Err(e) => {
            say("error", &format!("{e:#}"));
            Ok(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<SyncError>() {
        Some(SyncError::Interrupted) => 130,
        _ => 1,
    }
}

async fn sync(
    ctx: &Ctx,
    config: &Path,
    store: &StoreArg,
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
    let interrupt = Interrupt::new();
    stop_on_signals(interrupt.clone());
    let mut manager = service
        .manager(config)
        .wait_for_lock(wait)
        .with_interrupt(interrupt)
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

/// The first SIGINT/SIGTERM asks the run to stop at a safe point; a second ends the
/// process at once.
pub fn stop_on_signals(interrupt: Interrupt) {
    tokio::spawn(async move {
        let mut first = true;
        loop {
            crate::commands::signal().await;
            if !first {
                say(
                    "warn",
                    "stopping now; the next run marks this one abandoned",
                );
                std::process::exit(130);
            }
            first = false;
            say(
                "warn",
                "stopping at the next safe point (signal again to stop at once)",
            );
            interrupt.interrupt();
        }
    });
}
