//! The `dcsync` command line, HTTP API and admin page, over the `datacollect_sync`
//! library: one file per command in [`commands`], the server in [`server`].

pub mod args;
pub mod commands;
pub mod context;
mod output;
mod progress;
pub mod server;

pub use context::{Ctx, StoreArg};

use args::{Cli, LogFormat};

/// Run a parsed command line; the process exit code.
pub fn run(cli: Cli) -> i32 {
    restore_sigpipe();
    init_tracing(cli.log_format);
    if matches!(cli.log_format, LogFormat::Json) {
        output::json_diagnostics();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::say("error", &format!("cannot start the async runtime: {e}"));
            return 1;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::say("error", &format!("{e:#}"));
            1
        }
    }
}

/// `dcsync … | head`: when the reader goes away, end quietly as command-line tools do,
/// rather than panic on the failed write (Rust ignores SIGPIPE by default).
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
