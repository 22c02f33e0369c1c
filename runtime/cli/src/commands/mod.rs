//! One file per command; each takes its flags and the shared [`Ctx`] and returns the
//! process exit code.

mod adapters;
mod check;
mod daemon;
mod demo;
pub mod events;
mod mock_server;
mod quarantine;
mod runs;
mod serve;
mod status;
mod sync;
mod test_adapter;

use crate::args::{Cli, Command, EventsCommand, QuarantineCommand};
use crate::Ctx;
use anyhow::Result;

/// Run the command `cli` names.
pub async fn run(cli: Cli) -> Result<i32> {
    let ctx = Ctx::new(&cli)?;
    match cli.command {
        Command::Demo => demo::run(&ctx).await,
        Command::Sync {
            config,
            store,
            json,
            wait,
            username,
        } => sync::run(&ctx, &config, &store, json, wait, username).await,
        Command::Events {
            command:
                EventsCommand::Import {
                    store,
                    json,
                    max_event_bytes,
                    path,
                },
        } => events::import(&store, &path, json, max_event_bytes),
        Command::MockServer {
            kind,
            port,
            host,
            latency_ms,
            faults,
        } => mock_server::run(kind, &host, port, latency_ms, &faults).await,
        Command::Check {
            config,
            connect,
            store,
            username,
        } => {
            check::run(
                &ctx,
                check::CheckArgs {
                    config: &config,
                    connect,
                    store: store.as_ref(),
                    username,
                },
            )
            .await
        }
        Command::Status {
            config,
            store,
            json,
        } => status::run(&config, &store, json),
        Command::Runs { store, limit, json } => runs::run(&store, limit, json),
        Command::Release { config, store } => status::release(&config, &store),
        Command::TestAdapter {
            file,
            config,
            json,
            record,
            replay,
            no_push,
            username,
        } => {
            test_adapter::run(
                &ctx,
                test_adapter::Args {
                    file,
                    config,
                    json,
                    record,
                    replay,
                    no_push,
                    username,
                },
            )
            .await
        }
        Command::Quarantine {
            command: QuarantineCommand::List { store, json },
        } => quarantine::list(&store, json),
        Command::Quarantine {
            command: QuarantineCommand::Retry { store, ids },
        } => quarantine::retry(&store, ids),
        Command::Adapters { json } => adapters::run(&ctx, json).await,
        Command::Serve {
            store,
            listen,
            configs,
            token,
        } => serve::run(&ctx, &store, &listen, configs, token).await,
        Command::Daemon {
            configs,
            store,
            interval,
        } => daemon::run(&ctx, &configs, &store, interval).await,
    }
}

/// The next SIGINT or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
