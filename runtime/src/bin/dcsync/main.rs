//! `dcsync`: the command line of the DataCollect sync engine. It parses flags and calls the
//! library; the work happens in `datacollect_sync`.

mod daemon;
mod demo;
mod progress;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use datacollect_sync::engine::cache::{default_cache_dir, CodeCache};
use datacollect_sync::engine::AdapterRuntime;
use datacollect_sync::manager::check_required;
use datacollect_sync::registry::default_adapter_dir;
use datacollect_sync::settings::RuntimeSettings;
use datacollect_sync::{
    AdapterRegistry, Credentials, EventApplier, EventStore, ExternalSyncConfig,
    ExternalSyncManager, FormSubmission, SqliteStore,
};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "dcsync",
    version,
    about = "Sync DataCollect events with external systems through sandboxed WebAssembly adapters"
)]
struct Cli {
    /// Directory of adapter components (.wasm).
    #[arg(long, global = true, env = "DCSYNC_ADAPTERS")]
    adapters: Option<PathBuf>,
    /// Runtime settings (TOML): limits, allowed origins, pins, adapter and cache directories.
    #[arg(long, global = true, env = "DCSYNC_SETTINGS")]
    settings: Option<PathBuf>,
    /// Do not read or write the compiled-code cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// A self-contained demo: mock server, temporary store, a push and a pull through the WASM adapter.
    Demo,
    /// Run one sync of a config against a store.
    Sync {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        store: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
        /// Wait for a sync of the same config that is already running, instead of failing.
        #[arg(long)]
        wait: bool,
        /// Credentials for the external system: username (password from DCSYNC_PASSWORD).
        #[arg(long)]
        username: Option<String>,
    },
    /// Local events.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Run the mock sync server in the foreground.
    MockServer {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Answer every push and pull this many milliseconds late.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Queue a fault, as JSON, e.g. '{"status": 503, "retryAfter": 2, "times": 3}'
        /// (fields: status, retryAfter, delayMs, malformed, drop, rejectGuids, times). Repeatable.
        #[arg(long = "fault")]
        faults: Vec<String>,
    },
    /// Validate a config and say whether an adapter for its type is available.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Cursors, pending events, quarantine and last run of a config.
    Status {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run history, newest first.
    Runs {
        #[arg(long)]
        store: PathBuf,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Events refused by an external system or not applicable here.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The loaded adapters, and the files that were refused.
    Adapters {
        #[arg(long)]
        json: bool,
    },
    /// The HTTP API, admin page and metrics, with periodic syncs and adapter hot swap.
    Serve {
        #[arg(long)]
        store: PathBuf,
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory of the configs the API manages (default: beside the store).
        #[arg(long)]
        configs: Option<PathBuf>,
        /// Admin token (default: generated on first start, kept beside the store).
        #[arg(long, env = "DCSYNC_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Sync each config on its interval, and pick up adapter files as they change.
    Daemon {
        /// Config files (one or more).
        #[arg(long = "config", required = true, num_args = 1..)]
        configs: Vec<PathBuf>,
        #[arg(long)]
        store: PathBuf,
        /// Time between syncs of a config (e.g. 30s, 5m); default: the config's
        /// syncInterval extra field (ms), else 5m.
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<std::time::Duration>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Append FormSubmission JSON lines (a file, or - for stdin) as local events.
    Import {
        #[arg(long)]
        store: PathBuf,
        path: String,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    List {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Re-queue entries (all when no id is given).
    Retry {
        #[arg(long)]
        store: PathBuf,
        ids: Vec<i64>,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// What every command shares: the runtime settings and where the adapters are.
pub(crate) struct Ctx {
    settings: RuntimeSettings,
    pub(crate) adapters: PathBuf,
    cache: Option<PathBuf>,
}

impl Ctx {
    fn new(cli: &Cli) -> Result<Self> {
        let settings = match &cli.settings {
            Some(path) => RuntimeSettings::load(path)?,
            None => RuntimeSettings::default(),
        };
        let adapters = cli
            .adapters
            .clone()
            .or_else(|| settings.adapters.clone())
            .unwrap_or_else(default_adapter_dir);
        let cache = if cli.no_cache {
            None
        } else {
            settings.cache.clone().or_else(default_cache_dir)
        };
        Ok(Ctx {
            settings,
            adapters,
            cache,
        })
    }

    /// Load the adapter directory (compiled code from the cache when it is there).
    async fn registry(&self) -> Result<Arc<AdapterRegistry>> {
        let cache = match &self.cache {
            Some(dir) => match CodeCache::open(dir) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "compiled-code cache unavailable; compiling every start");
                    None
                }
            },
            None => None,
        };
        let runtime = AdapterRuntime::with_cache(self.settings.limits(), cache)
            .context("starting the WebAssembly engine")?;
        Ok(
            AdapterRegistry::load_dir_pinned(runtime, &self.adapters, self.settings.pins.clone())
                .await,
        )
    }

    /// A manager for `config`, with the origins the settings allow its adapter type.
    pub(crate) fn manager(
        &self,
        store: Arc<dyn EventStore>,
        config: ExternalSyncConfig,
        registry: Arc<AdapterRegistry>,
    ) -> ExternalSyncManager {
        let origins = self.settings.allowed_origins(&config.adapter_type);
        ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
            .with_registry(registry)
            .allow_origins(origins)
    }
}

pub(crate) fn read_config(path: &Path) -> Result<ExternalSyncConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    ExternalSyncConfig::from_json(&text)
        .with_context(|| format!("invalid config {}", path.display()))
}

pub(crate) fn open_store(path: &Path) -> Result<Arc<dyn EventStore>> {
    Ok(Arc::new(SqliteStore::open(path)?))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(&cli)?;
    match cli.command {
        Command::Demo => demo::run(ctx.registry().await?).await,
        Command::Sync {
            config,
            store,
            json,
            wait,
            username,
        } => {
            let config = read_config(&config)?;
            let credentials = match username {
                None => None,
                Some(u) => {
                    let p = std::env::var("DCSYNC_PASSWORD")
                        .context("--username needs the password in DCSYNC_PASSWORD")?;
                    Some(Credentials::new(u, p))
                }
            };
            let store = open_store(&store)?;
            let mut manager = ctx
                .manager(store, config, ctx.registry().await?)
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
                    report.status, report.pushed, report.pulled, report.applied, report.duplicates, report.quarantined, report.retries, report.duration_ms
                );
            }
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Import { store, path },
        } => import(&store, &path),
        Command::MockServer {
            port,
            host,
            latency_ms,
            faults,
        } => {
            let addr = format!("{host}:{port}")
                .parse()
                .context("bad --host/--port")?;
            let faults = faults
                .iter()
                .map(|f| serde_json::from_str(f).with_context(|| format!("bad --fault {f:?}")))
                .collect::<Result<Vec<datacollect_sync::mock::Fault>>>()?;
            let server = datacollect_sync::mock::MockSyncServer::start(addr).await?;
            server.set_latency(latency_ms);
            server.inject(faults);
            println!("mock sync server listening; config url: {}", server.url());
            println!("seed records: POST {}/seed {{\"records\": [{{\"entityGuid\": \"…\", \"data\": {{…}}}}]}}", server.url());
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
        Command::Check { config } => check(&config, &ctx).await,
        Command::Status {
            config,
            store,
            json,
        } => {
            let config = read_config(&config)?;
            let store = open_store(&store)?;
            let cursors = store.cursors(&config.id)?;
            let pending = store.pending_count(&config.id)?;
            let quarantine = store.quarantine(Some(&config.id))?.len();
            let last = store.runs(Some(&config.id), 1)?.into_iter().next();
            let status = serde_json::json!({
                "configId": config.id, "pushCursor": cursors.push, "pullCursor": cursors.pull,
                "pending": pending, "quarantined": quarantine, "lastRun": last,
            });
            if json {
                print_json(&status)?;
            } else {
                println!("config      {}", config.id);
                println!("push cursor {} ({} events pending)", cursors.push, pending);
                println!(
                    "pull cursor {}",
                    cursors.pull.as_deref().unwrap_or("(none)")
                );
                println!("quarantine  {quarantine}");
                match last {
                    Some(r) => println!(
                        "last run    #{} {} at {}: pushed {}, pulled {}{}",
                        r.id,
                        r.status,
                        r.started_at,
                        r.pushed,
                        r.pulled,
                        r.message.map(|m| format!(" — {m}")).unwrap_or_default()
                    ),
                    None => println!("last run    (never synced)"),
                }
            }
            Ok(())
        }
        Command::Runs { store, limit, json } => {
            let runs = open_store(&store)?.runs(None, limit)?;
            if json {
                return print_json(&runs);
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
                        .map(|c| format!(" [{c}] {}", r.message.unwrap_or_default()))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Quarantine {
            command: QuarantineCommand::List { store, json },
        } => {
            let entries = open_store(&store)?.quarantine(None)?;
            if json {
                return print_json(&entries);
            }
            if entries.is_empty() {
                println!("quarantine is empty");
            }
            for q in entries {
                println!(
                    "#{} [{}] event {} ({}): {}",
                    q.id,
                    q.phase,
                    q.event_guid,
                    q.config_id.as_deref().unwrap_or("local"),
                    q.reason
                );
            }
            Ok(())
        }
        Command::Quarantine {
            command: QuarantineCommand::Retry { store, ids },
        } => {
            let store = open_store(&store)?;
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
            Ok(())
        }
        Command::Adapters { json } => list_adapters(ctx.registry().await?.as_ref(), json),
        Command::Serve {
            store,
            listen,
            configs,
            token,
        } => serve(&ctx, &store, &listen, configs, token).await,
        Command::Daemon {
            configs,
            store,
            interval,
        } => {
            let registry = ctx.registry().await?;
            daemon::run(&ctx, registry, &configs, &store, interval).await
        }
    }
}

async fn serve(
    ctx: &Ctx,
    store_path: &Path,
    listen: &str,
    configs: Option<PathBuf>,
    token: Option<String>,
) -> Result<()> {
    use datacollect_sync::server::{self, ConfigDir, ServerState};
    let store = open_store(store_path)?;
    let beside = |suffix: &str| {
        let mut p = store_path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let configs = ConfigDir::open(&configs.unwrap_or_else(|| beside(".configs")))?;
    let (token, generated) = server::admin_token(token, &beside(".admin-token"))?;
    let registry = ctx.registry().await?;
    let _watch = datacollect_sync::watch::watch(registry.clone())
        .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", ctx.adapters.display()))?;
    let allow = ctx.settings.allow.clone().into_iter().collect();
    let state = ServerState::new(store, registry, configs, token.clone(), allow)?;
    tokio::spawn(server::run_schedule(state.clone()));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "dcsync serving on http://{} (admin page at /)",
        listener.local_addr()?
    );
    if generated {
        println!(
            "admin token (shown once, kept in {}): {token}",
            beside(".admin-token").display()
        );
    }
    axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn list_adapters(registry: &AdapterRegistry, json: bool) -> Result<()> {
    let loaded = registry.adapters();
    if json {
        let list: Vec<_> = loaded
            .iter()
            .map(|a| {
                serde_json::json!({
                    "type": a.info.type_, "name": a.info.name, "version": a.info.version,
                    "witVersion": a.wit_version, "capabilities": a.info.capabilities, "sha256": a.sha256,
                    "file": a.path.display().to_string(), "loadedAt": a.loaded_at, "loadMs": a.load_ms,
                    "fromCache": a.from_cache, "status": "loaded",
                })
            })
            .chain(registry.problems().iter().map(|p| {
                serde_json::json!({ "file": p.path.display().to_string(), "status": "refused", "reason": p.reason })
            }))
            .collect();
        return print_json(&list);
    }
    println!(
        "{:<20} {:<9} {:<5} {:<14} {:<8} FILE",
        "TYPE", "VERSION", "WIT", "SHA256", "LOAD"
    );
    for a in &loaded {
        let load = format!("{}ms{}", a.load_ms, if a.from_cache { "*" } else { "" });
        println!(
            "{:<20} {:<9} {:<5} {:<14} {:<8} {}",
            a.info.type_,
            a.info.version,
            a.wit_version,
            &a.sha256[..12],
            load,
            a.path.display()
        );
    }
    for p in registry.problems() {
        println!("refused: {p}");
    }
    if loaded.iter().any(|a| a.from_cache) {
        println!("(* compiled code from the cache)");
    }
    Ok(())
}

/// Append FormSubmission JSON lines; all or nothing: one bad line writes nothing.
fn import(store: &Path, path: &str) -> Result<()> {
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
    Ok(())
}

async fn check(path: &Path, ctx: &Ctx) -> Result<()> {
    let mut config = read_config(path)?;
    println!("config ok: {config}");
    let registry = ctx.registry().await?;
    let Some(adapter) = registry.get(&config.adapter_type) else {
        bail!(
            "no adapter for type {:?}; loaded: {}",
            config.adapter_type,
            registry.types().join(", ")
        );
    };
    config.mark_secret(
        adapter
            .info
            .config_fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str()),
    );
    check_required(&config, &adapter.info)?;
    println!(
        "adapter {} {} ({}) is available",
        adapter.info.type_,
        adapter.info.version,
        adapter.path.display()
    );
    Ok(())
}
