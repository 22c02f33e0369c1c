//! The command line's flags and arguments, every one with its help line.

use crate::context::StoreArg;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `dcsync`'s flags.
#[derive(Parser)]
#[command(
    name = "dcsync",
    version,
    about = "Sync DataCollect events with external systems through sandboxed WebAssembly adapters"
)]
pub struct Cli {
    /// Directory of adapter components (.wasm).
    #[arg(long, global = true, env = "DCSYNC_ADAPTERS")]
    pub adapters: Option<PathBuf>,
    /// Runtime settings (TOML): limits, allowed origins, pins, adapter and cache directories.
    #[arg(long, global = true, env = "DCSYNC_SETTINGS")]
    pub settings: Option<PathBuf>,
    /// Do not read or write the compiled-code cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// A self-contained demo: mock server, temporary store, a push and a pull through the WASM adapter.
    Demo,
    /// Run one sync of a config against a store.
    Sync {
        /// The DataCollect external sync config (JSON, bare or under "externalSync").
        #[arg(long)]
        config: PathBuf,
        /// The event store: a SQLite file (created if missing), or
        /// postgres://user@host/db?tenant=<app config id> (password from DCSYNC_STORE_PASSWORD
        /// or PGPASSWORD).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
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
        /// What to do with them.
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Run an emulated external system in the foreground, to try an adapter by hand; it
    /// prints a config to use with it.
    MockServer {
        /// Which system: mock-sync (the mock sync server), original-sync (an endpoint built
        /// for the original DataCollect adapter), webhook (a generic webhook, for
        /// custom-adapter and the JS/Python examples), openfn (Lightning: a webhook trigger
        /// and Collections), openspp (OpenSPP's Odoo JSON-RPC).
        #[arg(long, value_enum, default_value_t = MockKind::MockSync)]
        kind: MockKind,
        /// Port to listen on.
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
    /// Validate a config (the host's rules and the adapter's own) and say whether an
    /// adapter for its type is available; `--connect` also tries the credentials.
    Check {
        /// The config to check.
        #[arg(long)]
        config: PathBuf,
        /// Also try the credentials against the external system, without changing anything
        /// there (an adapter that cannot test without side effects says so).
        #[arg(long)]
        connect: bool,
        /// The event store whose holds and remembered secrets apply (default: none kept):
        /// a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long)]
        store: Option<StoreArg>,
        /// Credentials for the test: username (password from DCSYNC_PASSWORD).
        #[arg(long)]
        username: Option<String>,
    },
    /// Cursors, pending events, quarantine and last run of a config.
    Status {
        /// The config.
        #[arg(long)]
        config: PathBuf,
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run history, newest first.
    Runs {
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// The conformance kit: load one component as the registry would and run the
    /// contract's checks against the system the config names (PASS/FAIL per check, and
    /// per call its time, fuel, memory and the origins it reached).
    TestAdapter {
        /// The component (.wasm).
        file: PathBuf,
        /// A config naming the system to test against (an emulator or a real one).
        #[arg(long)]
        config: PathBuf,
        /// Print one JSON object (for CI).
        #[arg(long)]
        json: bool,
        /// Keep the HTTP exchanges in this directory (secret references stay unfilled).
        #[arg(long, conflicts_with = "replay")]
        record: Option<PathBuf>,
        /// Run offline, answering the HTTP exchanges from a recording.
        #[arg(long)]
        replay: Option<PathBuf>,
        /// Do not push synthetic events (a system whose data must not be touched).
        #[arg(long)]
        no_push: bool,
        /// Credentials for the sync: username (password from DCSYNC_PASSWORD).
        #[arg(long)]
        username: Option<String>,
    },
    /// Release a config the host held because an answer held one of its secret values.
    Release {
        /// The config.
        #[arg(long)]
        config: PathBuf,
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
    },
    /// Events refused by an external system or not applicable here.
    Quarantine {
        /// What to do with them.
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The loaded adapters, and the files that were refused.
    Adapters {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// The HTTP API, admin page and metrics, with periodic syncs and adapter hot swap.
    Serve {
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
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
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// Time between syncs of a config (e.g. 30s, 5m); default: the config's
        /// syncInterval extra field (ms), else 5m.
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<std::time::Duration>,
    },
}

/// The systems `dcsync mock-server` can emulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MockKind {
    /// The mock sync server (type mock-sync-server).
    MockSync,
    /// An endpoint built for the original DataCollect mock-sync-server adapter.
    OriginalSync,
    /// A generic webhook with basic auth (custom-adapter, js-webhook, python-webhook).
    Webhook,
    /// OpenFn Lightning: a webhook trigger and Collections (openfn-adapter).
    Openfn,
    /// OpenSPP's Odoo JSON-RPC (openspp-adapter).
    Openspp,
}

/// `dcsync events …`.
#[derive(Subcommand)]
pub enum EventsCommand {
    /// Append FormSubmission JSON lines (a file, or - for stdin) as local events, streamed
    /// in short transactions; a bad line stops it with its number.
    Import {
        /// The event store (created if missing): a SQLite file or a postgres:// URL.
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// Print the outcome as one JSON object (with every conflicting guid).
        #[arg(long)]
        json: bool,
        /// Refuse an event whose JSON line is longer than this many bytes.
        #[arg(long, default_value_t = crate::commands::events::DEFAULT_MAX_EVENT_BYTES)]
        max_event_bytes: usize,
        /// The JSON-lines file, or - for standard input.
        path: String,
    },
}

/// `dcsync quarantine …`.
#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// The open entries.
    List {
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Re-queue entries (all when no id is given).
    Retry {
        /// The event store: a SQLite file or a postgres:// URL (see `sync --help`).
        #[arg(long, env = "DCSYNC_STORE")]
        store: StoreArg,
        /// Entry ids (from `quarantine list`).
        ids: Vec<i64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_listens_on_loopback_unless_told_otherwise() {
        // The environment must not choose for the test (DCSYNC_STORE is the store, not the
        // address; the address has no environment variable).
        let cli = Cli::try_parse_from(["dcsync", "serve", "--store", "s.db"]).unwrap();
        let Command::Serve { listen, .. } = cli.command else {
            panic!("not serve")
        };
        let addr: std::net::SocketAddr = listen.parse().unwrap();
        assert!(addr.ip().is_loopback(), "{listen}");
    }
}
