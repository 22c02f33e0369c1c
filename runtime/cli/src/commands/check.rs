//! `dcsync check`: is this config usable, and by which adapter? Also says where the
//! adapter may place each secret, and warns about secrets too short to be found reliably
//! and body placements the operator has not approved.

use crate::context::read_config;
use crate::Ctx;
use anyhow::{bail, Result};
use datacollect_sync::host::secrets::placement::needs_approval;
use datacollect_sync::host::secrets::MIN_BODY_SECRET_LEN;
use datacollect_sync::resolve::resolve;
use datacollect_sync::status::describe_placements;
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
    println!(
        "secret placements: {}",
        describe_placements(adapter.manifest.as_ref())
    );
    for (name, value) in resolved.config.secrets() {
        let len = value.chars().count();
        if len < MIN_BODY_SECRET_LEN {
            println!(
                "warning: secret `{name}` is {len} characters long: too short to be found reliably in what an external system sends back, and refused in request bodies; use at least {MIN_BODY_SECRET_LEN}"
            );
        }
    }
    let ty = &adapter.info.adapter_type;
    if adapter.manifest.as_ref().is_some_and(needs_approval)
        && !ctx.settings.placements_approved(ty)
    {
        println!(
            "warning: {ty} places secrets where the operator must approve it (a request body, or an unusual header); its syncs fail until approved in the settings:\n  [approve_placements]\n  {ty} = true"
        );
    }
    Ok(0)
}
