//! `dcsync quarantine list|retry`.

use crate::context::{open_existing_store, StoreArg};
use crate::output::print_json;
use anyhow::Result;
use datacollect_sync::text::neutralise;
use datacollect_sync::EventApplier;

pub fn list(store: &StoreArg, json: bool) -> Result<i32> {
    let entries = open_existing_store(store)?.quarantine(None)?;
    if json {
        print_json(&entries)?;
        return Ok(0);
    }
    if entries.is_empty() {
        println!("quarantine is empty");
    }
    for q in entries {
        println!(
            "#{} [{}] event {} ({}): {}",
            q.id,
            q.phase,
            neutralise(&q.event_guid),
            neutralise(q.config_id.as_deref().unwrap_or("local")),
            neutralise(&q.reason)
        );
    }
    Ok(0)
}

pub fn retry(store: &StoreArg, ids: Vec<i64>) -> Result<i32> {
    let store = open_existing_store(store)?;
    let ids = if ids.is_empty() {
        store.quarantine(None)?.iter().map(|q| q.id).collect()
    } else {
        ids
    };
    let n = store.retry_quarantined(&ids, &EventApplier::new())?;
    println!(
        "re-queued {n} of {} entries (pushes go out with the next sync)",
        ids.len()
    );
    Ok(0)
}
