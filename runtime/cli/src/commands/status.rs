//! `dcsync status`: cursors, pending events, quarantine, hold and the last run of a config;
//! `dcsync release`: lift a hold.

use crate::context::{open_existing_store, read_config, StoreArg};
use crate::output::print_json;
use anyhow::Result;
use datacollect_sync::status::config_status;
use datacollect_sync::text::neutralise;
use std::path::Path;

pub fn run(config: &Path, store: &StoreArg, json: bool) -> Result<i32> {
    let config = read_config(config)?;
    let status = config_status(open_existing_store(store)?.as_ref(), &config.id)?;
    if json {
        print_json(&status)?;
        return Ok(0);
    }
    println!("config      {}", status.config_id);
    println!(
        "push cursor {} ({} events pending)",
        status.push_cursor, status.pending
    );
    println!(
        "pull cursor {}",
        status.pull_cursor.as_deref().unwrap_or("(none)")
    );
    println!("quarantine  {}", status.quarantined);
    match status.last_run {
        Some(r) => println!(
            "last run    #{} {} at {}: pushed {}, pulled {}{}",
            r.id,
            r.status,
            r.started_at,
            r.pushed,
            r.pulled,
            r.message
                .map(|m| format!(" — {}", neutralise(&m)))
                .unwrap_or_default()
        ),
        None => println!("last run    (never synced)"),
    }
    if let Some(h) = status.held {
        println!(
            "HELD        since {}: {} (look into it, then `dcsync release`)",
            h.since, h.reason
        );
    }
    Ok(0)
}

/// `dcsync release`: lift the host's hold on a config.
pub fn release(config: &Path, store: &StoreArg) -> Result<i32> {
    let config = read_config(config)?;
    let store = open_existing_store(store)?;
    match store.hold(&config.id)? {
        Some((since, reason)) => {
            store.release_config(&config.id)?;
            println!(
                "released config {} (held since {since}: {reason}); the next sync runs",
                config.id
            );
            Ok(0)
        }
        None => {
            println!("config {} is not held", config.id);
            Ok(0)
        }
    }
}
