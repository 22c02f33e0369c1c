//! Crash safety: `dcsync sync` killed with SIGKILL in the middle of a push or a pull, at
//! several points; after each kill no cursor points past unconfirmed work, and a rerun
//! finishes the job with nothing lost and nothing applied twice.

mod common;

use common::dcsync_mock_only as dcsync;

use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventApplier, EventStore, ExternalSyncConfig, FormSubmission, SqliteStore};
use dcsync_emulators::MockSyncServer;
use serde_json::json;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const EVENTS: usize = 60;
const KILL_POINTS_MS: [u64; 5] = [60, 250, 450, 700, 950];

/// Start a sync, kill it after `after` (if still running), return whether it was killed.
fn sync_killed_after(config: &Path, store: &Path, after: Duration) -> bool {
    let mut child = dcsync()
        .arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let killed = child.try_wait().unwrap().is_none();
    child.kill().ok(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    killed
}

fn sync_to_completion(config: &Path, store: &Path) {
    let out = dcsync()
        .arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rerun failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setup(server: &MockSyncServer, dir: &Path) -> (PathBuf, PathBuf, ExternalSyncConfig) {
    // Warm the compiled-code cache, so the kill points land in the sync, not in start-up.
    assert!(dcsync().arg("adapters").output().unwrap().status.success());
    let config_json = json!({ "type": "mock-sync-server", "url": server.url(),
        "extraFields": [{ "name": "batchSize", "value": "10" }] });
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config_json.to_string()).unwrap();
    (
        config_path,
        dir.join("store.db"),
        ExternalSyncConfig::from_value(&config_json).unwrap(),
    )
}

#[test]
fn killed_push_never_loses_an_event() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut killed_any = 0;
    // Kills that landed mid-transfer: some events but not all had reached the server. A
    // kill during start-up or after the end would keep the invariants trivially.
    let mut mid_transfer = 0;
    for kill_ms in KILL_POINTS_MS {
        let server = rt
            .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        server.set_latency(150); // 6 batches ≈ 1 s of pushing
        let dir = tempfile::tempdir().unwrap();
        let (config_path, store_path, config) = setup(&server, dir.path());
        let events: Vec<FormSubmission> = (0..EVENTS)
            .map(|i| FormSubmission {
                guid: format!("ev-{i}"),
                entity_guid: format!("p-{i}"),
                event_type: "create-individual".into(),
                data: json!({ "name": format!("P{i}") }),
                timestamp: "2025-01-01T00:00:00Z".into(),
                user_id: "u".into(),
                sync_level: SyncLevel::Local,
            })
            .collect();
        SqliteStore::open(&store_path)
            .unwrap()
            .append_local(&events, &EventApplier::new())
            .unwrap();

        killed_any +=
            sync_killed_after(&config_path, &store_path, Duration::from_millis(kill_ms)) as usize;
        let store = SqliteStore::open(&store_path).unwrap();
        let pending: HashSet<String> = store
            .pending_events(&config.id, 1000)
            .unwrap()
            .into_iter()
            .map(|p| p.event.guid)
            .collect();
        let received: HashSet<String> = server
            .received()
            .0
            .iter()
            .map(|e| e["guid"].as_str().unwrap().to_string())
            .collect();
        for e in &events {
            assert!(
                pending.contains(&e.guid) || received.contains(&e.guid),
                "kill at {kill_ms} ms: cursor moved past {} which the server never got",
                e.guid
            );
        }
        if (1..EVENTS).contains(&received.len()) {
            mid_transfer += 1;
        }

        server.set_latency(0);
        sync_to_completion(&config_path, &store_path);
        let received: HashSet<String> = server
            .received()
            .0
            .iter()
            .map(|e| e["guid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            received.len(),
            EVENTS,
            "kill at {kill_ms} ms: the rerun delivered everything"
        );
        assert_eq!(store.pending_count(&config.id).unwrap(), 0);
    }
    assert!(
        killed_any >= 3,
        "most kill points must land in the middle of a push ({killed_any})"
    );
    assert!(
        mid_transfer >= 2,
        "several kills must land with some but not all events delivered ({mid_transfer})"
    );
}

#[test]
fn killed_pull_applies_every_record_exactly_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut killed_any = 0;
    // Kills that landed with some but not all records stored.
    let mut mid_transfer = 0;
    for kill_ms in KILL_POINTS_MS {
        let server = rt
            .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        server.seed((0..EVENTS).map(|i| json!({ "entityGuid": format!("ext-{i}"), "data": { "name": format!("E{i}") } })).collect());
        server.set_latency(150);
        let dir = tempfile::tempdir().unwrap();
        let (config_path, store_path, config) = setup(&server, dir.path());
        drop(SqliteStore::open(&store_path).unwrap());

        killed_any +=
            sync_killed_after(&config_path, &store_path, Duration::from_millis(kill_ms)) as usize;
        let store = SqliteStore::open(&store_path).unwrap();
        let stored = store.event_count().unwrap();
        let cursor: u64 = store
            .cursors(&config.id)
            .unwrap()
            .pull
            .map_or(0, |c| c.parse().unwrap());
        assert_eq!(
            cursor, stored,
            "kill at {kill_ms} ms: the pull cursor moved with exactly the events stored"
        );
        for i in 0..stored {
            assert!(
                store.entity(&format!("ext-{i}")).unwrap().is_some(),
                "stored event {i} was applied"
            );
        }
        if (1..EVENTS as u64).contains(&stored) {
            mid_transfer += 1;
        }

        server.set_latency(0);
        sync_to_completion(&config_path, &store_path);
        assert_eq!(
            store.event_count().unwrap(),
            EVENTS as u64,
            "kill at {kill_ms} ms: every record once"
        );
        for i in 0..EVENTS {
            assert!(store.entity(&format!("ext-{i}")).unwrap().is_some());
        }
    }
    assert!(
        killed_any >= 3,
        "most kill points must land in the middle of a pull ({killed_any})"
    );
    assert!(
        mid_transfer >= 2,
        "several kills must land with some but not all records stored ({mid_transfer})"
    );
}

#[test]
fn second_process_cannot_sync_the_same_config_until_the_first_ends() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    server.seed(
        (0..30)
            .map(|i| json!({ "entityGuid": format!("x-{i}"), "data": {} }))
            .collect(),
    );
    server.set_latency(200);
    let dir = tempfile::tempdir().unwrap();
    let (config_path, store_path, _) = setup(&server, dir.path());
    drop(SqliteStore::open(&store_path).unwrap());
    let mut first = dcsync()
        .arg("sync")
        .arg("--config")
        .arg(&config_path)
        .arg("--store")
        .arg(&store_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first holds the lock (its run is recorded once it does): a cold
    // compiled-code cache can make start-up take seconds.
    let started = std::time::Instant::now();
    let store = SqliteStore::open(&store_path).unwrap();
    while store
        .runs(None, 1)
        .unwrap()
        .first()
        .is_none_or(|r| r.status.as_str() != "running")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first sync never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = dcsync()
        .arg("sync")
        .arg("--config")
        .arg(&config_path)
        .arg("--store")
        .arg(&store_path)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr)
        .contains("sync already running for mock-sync-server@"));
    let waited = dcsync()
        .args(["sync", "--wait", "--json", "--config"])
        .arg(&config_path)
        .arg("--store")
        .arg(&store_path)
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(
        v["pulled"], 0,
        "the waiting sync ran after the first had pulled everything"
    );
}
