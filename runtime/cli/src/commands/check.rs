//! `dcsync check`: is this config usable, and by which adapter?

use crate::context::read_config;
use crate::Ctx;
use anyhow::{bail, Result};
use datacollect_sync::resolve::resolve;
use std::path::Path;

pub async fn run(ctx: &Ctx, path: &Path) -> Result<i32> {
    let config = read_config(path)?;
    let registry = ctx.registry().await?;
    let Some(adapter) = registry.get(&config.adapter_type) else {
        bail!(
            "no adapter for type {:?}; loaded: {}",
            config.adapter_type,
            registry.types().join(", ")
        );
    };
    let resolved = resolve(&config, &adapter.info)?;
    println!("config ok: {}", resolved.config);
    println!(
        "adapter {} {} ({}) is available",
        adapter.info.adapter_type,
        adapter.info.version,
        adapter.path.display()
    );
    Ok(0)
}
