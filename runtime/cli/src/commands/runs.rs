//! `dcsync runs`: run history, newest first.

use crate::context::{open_existing_store, StoreArg};
use crate::output::print_json;
use anyhow::Result;
use datacollect_sync::text::neutralise;

pub fn run(store: &StoreArg, limit: u32, json: bool) -> Result<i32> {
    let runs = open_existing_store(store)?.runs(None, limit)?;
    if json {
        print_json(&runs)?;
        return Ok(0);
    }
    for r in runs {
        println!(
            "#{} {} {} {} pushed={} pulled={} applied={} quarantined={} retries={}{}",
            r.id,
            r.started_at,
            r.config_id,
            r.status,
            r.pushed,
            r.pulled,
            r.applied,
            r.quarantined,
            r.retries,
            r.error_class
                .map(|c| format!(" [{c}] {}", neutralise(&r.message.unwrap_or_default())))
                .unwrap_or_default()
        );
    }
    Ok(0)
}
