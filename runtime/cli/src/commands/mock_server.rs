//! `dcsync mock-server`: the mock sync server in the foreground, to try an adapter by hand.

use anyhow::{Context as _, Result};
use dcsync_emulators::{Fault, MockSyncServer};

pub async fn run(host: &str, port: u16, latency_ms: u64, faults: &[String]) -> Result<i32> {
    let addr = format!("{host}:{port}")
        .parse()
        .context("bad --host/--port")?;
    let faults = faults
        .iter()
        .map(|f| serde_json::from_str(f).with_context(|| format!("bad --fault {f:?}")))
        .collect::<Result<Vec<Fault>>>()?;
    let server = MockSyncServer::start(addr).await?;
    server.set_latency(latency_ms);
    server.inject(faults);
    println!("mock sync server listening; config url: {}", server.url());
    println!(
        "seed records: POST {}/seed {{\"records\": [{{\"entityGuid\": \"…\", \"data\": {{…}}}}]}}",
        server.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
