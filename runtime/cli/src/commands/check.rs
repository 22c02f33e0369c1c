//! `dcsync check`: is this config usable, and by which adapter? The host's rules and the
//! adapter's own (its 1.1 `validate`), every problem at once. Also says where the adapter
//! may place each secret, and warns about secrets too short to be found reliably and
//! placements the operator has not approved. With `--connect`, tries the credentials
//! against the system through the adapter's `check-connection`, as a sync's first step
//! would, without changing anything there.

use crate::context::{open_store, read_config};
use crate::output::say;
use crate::Ctx;
use anyhow::{Context as _, Result};
use datacollect_sync::adapter::ConnectionCheck;
use datacollect_sync::host::secrets::placement::needs_approval;
use datacollect_sync::host::secrets::MIN_BODY_SECRET_LEN;
use datacollect_sync::service::CheckError;
use datacollect_sync::status::describe_placements;
use datacollect_sync::text::neutralise;
use datacollect_sync::{Credentials, SqliteStore};
use std::path::Path;
use std::sync::Arc;

/// What `dcsync check` was asked.
pub struct CheckArgs<'a> {
    /// The config file.
    pub config: &'a Path,
    /// Also test the connection.
    pub connect: bool,
    /// The store whose holds and remembered secret names apply (a throwaway one if none).
    pub store: Option<&'a crate::context::StoreArg>,
    /// Credentials for the connection test (the password from `DCSYNC_PASSWORD`).
    pub username: Option<String>,
}

pub async fn run(ctx: &Ctx, args: CheckArgs<'_>) -> Result<i32> {
    let config = read_config(args.config)?;
    let registry = ctx.registry().await?;
    let scratch = tempfile::tempdir().context("a temporary directory for the check")?;
    let store = match args.store {
        Some(s) => open_store(s)?,
        None => Arc::new(SqliteStore::open(scratch.path().join("check.db"))?) as _,
    };
    let service = ctx.service(store).await?;
    let resolved = match service.check(&config).await {
        Ok(r) => r,
        Err(e) => {
            let problems = e.problems();
            if let CheckError::NoAdapter { .. } = e {
                say("error", &e.to_string());
                return Ok(1);
            }
            say(
                "error",
                &format!(
                    "config for {:?} is not usable ({} problem{}):",
                    config.adapter_type,
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ),
            );
            for p in problems {
                eprintln!("  {}", neutralise(&p.to_string()));
            }
            return Ok(1);
        }
    };
    let adapter = registry
        .get(&config.adapter_type)
        .context("the adapter went away during the check")?;
    println!("config ok: {}", resolved.config);
    let top_level: Vec<&str> = resolved.config.top_level_keys().collect();
    if !top_level.is_empty() {
        println!(
            "note: top-level key(s) {} are not dcsync's own: kept, and handed to the adapter as extra fields of the same name",
            top_level.join(", ")
        );
    }
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
    if !args.connect {
        return Ok(0);
    }
    let credentials = match args.username {
        None => None,
        Some(u) => Some(Credentials::new(
            u,
            std::env::var("DCSYNC_PASSWORD")
                .context("--username needs the password in DCSYNC_PASSWORD")?,
        )),
    };
    let manager = service.initialized_manager(config).await?;
    match manager.check_connection(credentials).await {
        Ok(Some(ConnectionCheck::Ok(what))) => {
            println!("connection ok: {}", neutralise(&what));
            Ok(0)
        }
        Ok(Some(ConnectionCheck::Untestable(why))) => {
            println!(
                "connection not tested: {} (the adapter cannot test without side effects)",
                neutralise(&why)
            );
            Ok(0)
        }
        Ok(None) => {
            println!("connection not tested: adapter {ty} has no connection test (contract 1.0)");
            Ok(0)
        }
        Err(e) => {
            say(
                "error",
                &format!("connection failed [{}]: {e}", e.class().as_str()),
            );
            Ok(1)
        }
    }
}
