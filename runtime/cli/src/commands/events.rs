//! `dcsync events import`: FormSubmission JSON lines into the store as local events.

use crate::context::open_store;
use anyhow::{Context as _, Result};
use datacollect_sync::{EventApplier, FormSubmission};
use std::io::{BufRead, Read};
use std::path::Path;

/// Append FormSubmission JSON lines; all or nothing: one bad line writes nothing.
pub fn import(store: &Path, path: &str) -> Result<i32> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    }
    let mut events = Vec::new();
    for (i, line) in text.as_bytes().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: FormSubmission = serde_json::from_str(&line)
            .with_context(|| format!("{path}:{}: not a FormSubmission", i + 1))?;
        event
            .validate()
            .map_err(|m| anyhow::anyhow!("{path}:{}: {m}", i + 1))?;
        events.push(event);
    }
    let outcome = open_store(store)?.append_local(&events, &EventApplier::new())?;
    println!(
        "imported {} events: {} applied, {} already stored, {} quarantined",
        events.len(),
        outcome.applied,
        outcome.duplicates,
        outcome.quarantined
    );
    Ok(0)
}
