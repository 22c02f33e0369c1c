//! `dcsync adapters`: what is loaded, and what was refused and why.

use crate::output::print_json;
use crate::Ctx;
use anyhow::Result;
use datacollect_sync::status::{adapter_entries, AdapterEntry};

pub async fn run(ctx: &Ctx, json: bool) -> Result<i32> {
    let registry = ctx.registry().await?;
    let entries = adapter_entries(&registry);
    let any_loaded = entries
        .iter()
        .any(|e| matches!(e, AdapterEntry::Loaded { .. }));
    if json {
        print_json(&entries)?;
        return Ok(if any_loaded { 0 } else { 1 });
    }
    println!(
        "{:<20} {:<9} {:<5} {:<14} {:<8} FILE",
        "TYPE", "VERSION", "WIT", "SHA256", "LOAD"
    );
    let mut cached = false;
    for e in &entries {
        match e {
            AdapterEntry::Loaded {
                adapter_type,
                version,
                wit_version,
                sha256,
                file,
                load_ms,
                from_cache,
                secret_placements,
                ..
            } => {
                cached |= from_cache;
                let load = format!("{load_ms}ms{}", if *from_cache { "*" } else { "" });
                println!(
                    "{:<20} {:<9} {:<5} {:<14} {:<8} {}",
                    adapter_type,
                    version,
                    wit_version,
                    &sha256[..12],
                    load,
                    file
                );
                println!(
                    "{:<20} secrets: {}",
                    "",
                    datacollect_sync::status::describe_placements(secret_placements.as_ref())
                );
            }
            AdapterEntry::Refused { file, reason } => println!("refused: {file}: {reason}"),
        }
    }
    if cached {
        println!("(* compiled code from the cache)");
    }
    if !any_loaded {
        crate::output::say("error", "no adapter could be loaded");
        return Ok(1);
    }
    Ok(0)
}
