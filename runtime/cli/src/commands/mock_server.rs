//! `dcsync mock-server --kind …`: an emulated external system in the foreground, to try
//! an adapter by hand. Each kind prints a config that works with it (development
//! credentials: they protect nothing).

use crate::args::MockKind;
use anyhow::{Context as _, Result};
use dcsync_emulators::openfn::{OpenFnEmulator, OpenFnSetup, DEFAULT_PROJECT};
use dcsync_emulators::webhook::WebhookEmulator;
use dcsync_emulators::{Fault, MockSyncServer};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// Development credentials of the emulators.
const USER: &str = "sync_user";
const PASSWORD: &str = "dev-password-1234";
const API_KEY: &str = "dev-api-key-1234";
const TOKEN: &str = "dev-collections-token-1234";

pub async fn run(
    kind: MockKind,
    host: &str,
    port: u16,
    latency_ms: u64,
    faults: &[String],
) -> Result<i32> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .context("bad --host/--port")?;
    let faults = faults
        .iter()
        .map(|f| serde_json::from_str(f).with_context(|| format!("bad --fault {f:?}")))
        .collect::<Result<Vec<Fault>>>()?;
    let (what, config, how): (&str, Value, String) = match kind {
        MockKind::MockSync | MockKind::OriginalSync => {
            let server = if kind == MockKind::MockSync {
                MockSyncServer::start(addr).await?
            } else {
                MockSyncServer::start_original(addr).await?
            };
            server.set_latency(latency_ms);
            server.inject(faults);
            server.seed(sample_records());
            (
                "mock sync server",
                json!({"type": "mock-sync-server", "url": server.url()}),
                format!(
                    "seed records: POST {}/seed {{\"records\": [{{\"entityGuid\": \"…\", \"data\": {{…}}}}]}}",
                    server.url()
                ),
            )
        }
        MockKind::Webhook => {
            let server = WebhookEmulator::start(addr, USER, PASSWORD, None).await?;
            server.inject(faults);
            server.seed(sample_records());
            (
                "generic webhook",
                json!({"type": "custom-adapter", "auth": "basic", "url": server.url(), "extraFields": [
                    {"name": "username", "value": USER}, {"name": "password", "value": PASSWORD}]}),
                "the same config serves js-webhook and python-webhook (change the type)".into(),
            )
        }
        MockKind::Openfn => {
            let server = OpenFnEmulator::start(
                addr,
                OpenFnSetup {
                    webhook_id: "dev-trigger".into(),
                    api_key: Some(API_KEY.into()),
                    collections_token: TOKEN.into(),
                    ..Default::default()
                },
            )
            .await?;
            server.create_collection(DEFAULT_PROJECT, "registrations");
            for r in sample_records() {
                server.put_item(
                    "registrations",
                    r["entityGuid"].as_str().unwrap_or_default(),
                    &r["data"].to_string(),
                );
            }
            server.inject(faults);
            (
                "OpenFn Lightning (webhook trigger and Collections)",
                json!({"type": "openfn-adapter", "auth": "api-key", "url": server.webhook_url(), "extraFields": [
                    {"name": "apiKey", "value": API_KEY},
                    {"name": "collectionName", "value": "registrations"},
                    {"name": "collectionsToken", "value": TOKEN}]}),
                format!(
                    "put items: PUT {}/collections/registrations/<key> {{\"value\": \"<json text>\"}} with Authorization: Bearer {TOKEN}",
                    server.base_url()
                ),
            )
        }
        MockKind::Openspp => openspp(addr, faults).await?,
    };
    println!("{what} listening");
    println!("config: {}", serde_json::to_string_pretty(&config)?);
    println!("{how}");
    tokio::signal::ctrl_c().await?;
    Ok(0)
}

/// A few records for a pull to find.
fn sample_records() -> Vec<Value> {
    ["Amina Diallo", "Jonas Berg", "Mei Tanaka"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"entityGuid": format!("sample-{i}"), "type": "upsert-external-entity",
                   "data": {"name": name}, "timestamp": format!("2025-03-0{}T09:00:00Z", i + 1)})
        })
        .collect()
}

async fn openspp(addr: SocketAddr, faults: Vec<Fault>) -> Result<(&'static str, Value, String)> {
    let server =
        dcsync_emulators::openspp::OpenSppEmulator::start(addr, "openspp", USER, PASSWORD).await?;
    // What an administrator does once: the ID type keeping DataCollect guids.
    server.create("g2p.id.type", json!({"name": "DataCollect ID"}));
    for r in sample_records() {
        server.create(
            "res.partner",
            json!({"name": r["data"]["name"], "is_registrant": true, "is_group": false}),
        );
    }
    server.inject(faults);
    Ok((
        "OpenSPP (Odoo JSON-RPC)",
        json!({"type": "openspp-adapter", "url": server.url(), "extraFields": [
            {"name": "database", "value": "openspp"}, {"name": "username", "value": USER},
            {"name": "password", "value": PASSWORD}]}),
        "the adapter places the password in a JSON-RPC body: approve it in the settings ([approve_placements] openspp-adapter = true)".into(),
    ))
}
