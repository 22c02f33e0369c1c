//! `dcsync test-adapter` over every adapter in the repository, each against its emulator;
//! a recording replayed offline; and the checks failing when an adapter misbehaves.

mod common;

use common::dcsync;
use dcsync_emulators::openfn::{OpenFnEmulator, OpenFnSetup, DEFAULT_PROJECT};
use dcsync_emulators::openspp::OpenSppEmulator;
use dcsync_emulators::webhook::WebhookEmulator;
use dcsync_emulators::MockSyncServer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `dcsync test-adapter FILE --config CFG --json [more]`: (exit success, the report).
async fn kit(file: PathBuf, config: &Path, more: &[&str]) -> (bool, Value) {
    let mut args: Vec<std::ffi::OsString> = vec!["test-adapter".into(), file.into()];
    args.extend([
        "--json".into(),
        "--config".into(),
        config.as_os_str().to_owned(),
    ]);
    args.extend(more.iter().map(Into::into));
    let settings = config.with_extension("settings.toml");
    tokio::task::spawn_blocking(move || {
        let mut c = dcsync();
        if settings.exists() {
            c.arg("--settings").arg(&settings);
        }
        let out = c.args(args).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), report)
    })
    .await
    .unwrap()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, config: Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn shipped(file: &str) -> PathBuf {
    datacollect_sync_e2e::adapter_dir().join(file)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_adapter_in_the_repository_passes_the_kit_against_its_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, PathBuf, PathBuf)> = Vec::new();

    let mock = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    mock.seed(vec![
        json!({"entityGuid": "m-1", "data": {"name": "M"}, "timestamp": "2025-01-01T00:00:00Z"}),
    ]);
    cases.push((
        "mock-sync-server",
        shipped("mock_sync_server.wasm"),
        write(
            dir.path(),
            "mock",
            json!({"type": "mock-sync-server", "url": mock.url()}),
        ),
    ));

    let hook = WebhookEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        "sync_user",
        "hook-PASS-1234",
        None,
    )
    .await
    .unwrap();
    hook.seed(vec![json!({"entityGuid": "w-1", "type": "upsert-external-entity", "data": {"name": "W"}, "timestamp": "2025-01-01T00:00:00Z"})]);
    for (ty, file) in [
        ("custom-adapter", "custom_adapter.wasm"),
        ("js-webhook", "js_webhook.wasm"),
        ("python-webhook", "python_webhook.wasm"),
    ] {
        cases.push((ty, shipped(file), write(dir.path(), ty, json!({"type": ty, "auth": "basic", "url": hook.url(),
            "extraFields": [{"name": "username", "value": "sync_user"}, {"name": "password", "value": "hook-PASS-1234"}]}))));
    }

    let openfn = OpenFnEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        OpenFnSetup {
            webhook_id: "trig".into(),
            api_key: Some("of-KEY-123456".into()),
            collections_token: "of-TOKEN-654321".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    openfn.create_collection(DEFAULT_PROJECT, "registrations");
    openfn.put_item("registrations", "r1", &json!({"name": "R1"}).to_string());
    cases.push(("openfn-adapter", shipped("openfn_adapter.wasm"), write(dir.path(), "openfn", json!({
        "type": "openfn-adapter", "auth": "api-key", "url": openfn.webhook_url(), "extraFields": [
            {"name": "apiKey", "value": "of-KEY-123456"}, {"name": "collectionName", "value": "registrations"},
            {"name": "collectionsToken", "value": "of-TOKEN-654321"}]}))));

    let spp = OpenSppEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        "openspp",
        "sync_user",
        "spp-PASS-1234",
    )
    .await
    .unwrap();
    spp.create("g2p.id.type", json!({"name": "DataCollect ID"}));
    spp.create(
        "res.partner",
        json!({"name": "Registrant One", "is_registrant": true, "is_group": false}),
    );
    let spp_config = write(
        dir.path(),
        "openspp",
        json!({"type": "openspp-adapter", "url": spp.url(), "extraFields": [
        {"name": "database", "value": "openspp"}, {"name": "username", "value": "sync_user"},
        {"name": "password", "value": "spp-PASS-1234"}]}),
    );
    std::fs::write(
        spp_config.with_extension("settings.toml"),
        "[approve_placements]\nopenspp-adapter = true\n",
    )
    .unwrap();
    cases.push((
        "openspp-adapter",
        shipped("openspp_adapter.wasm"),
        spp_config,
    ));

    for (ty, file, config) in cases {
        let (ok, report) = kit(file, &config, &[]).await;
        assert!(ok, "{ty}: {report:#}");
        let checks = statuses(&report);
        for name in [
            "load",
            "describe",
            "config",
            "connection",
            "push",
            "pull",
            "re-pull",
            "secrets",
            "errors-401",
            "errors-429",
            "errors-503",
        ] {
            let status = checks
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.as_str());
            assert_eq!(status, Some("pass"), "{ty} {name}: {report:#}");
        }
        let pulled = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "pull")
            .unwrap();
        assert!(
            !pulled["detail"]
                .as_str()
                .unwrap()
                .contains("nothing to pull"),
            "{ty}: seeded: {pulled}"
        );
        // Per call: fuel, memory, time and the origins reached. Every adapter of the repo
        // is built with an SDK that declares the 1.2 encoded push, so its batches go
        // through `push-encoded`.
        let push = report["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["function"] == "push-encoded")
            .unwrap_or_else(|| panic!("{ty}: no push-encoded call: {report:#}"));
        assert!(
            push["fuel"].as_u64().unwrap() > 0 && push["memoryBytes"].as_u64().unwrap() > 0,
            "{ty}: {push}"
        );
        assert_eq!(push["origins"].as_array().unwrap().len(), 1, "{ty}: {push}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_replays_offline_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("tape");
    let hook = WebhookEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        "sync_user",
        "hook-PASS-1234",
        None,
    )
    .await
    .unwrap();
    hook.seed(vec![json!({"entityGuid": "w-1", "type": "upsert-external-entity", "data": {"name": "W"}, "timestamp": "2025-01-01T00:00:00Z"})]);
    let config = write(
        dir.path(),
        "hook",
        json!({"type": "custom-adapter", "auth": "basic", "url": hook.url(),
        "extraFields": [{"name": "username", "value": "sync_user"}, {"name": "password", "value": "hook-PASS-1234"}]}),
    );
    let (ok, live) = kit(
        shipped("custom_adapter.wasm"),
        &config,
        &["--record", tape.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{live:#}");
    let recording = std::fs::read_to_string(tape.join("exchanges.json")).unwrap();
    assert!(
        !recording.contains("hook-PASS-1234"),
        "no secret value is recorded"
    );
    assert!(
        recording.contains("{{secret:password}}"),
        "references stay unfilled: {recording}"
    );
    let requests_live = hook.state.lock().unwrap().requests;
    // Offline: the emulator is not asked again, and two replays agree with the live run.
    for _ in 0..2 {
        let (ok, replayed) = kit(
            shipped("custom_adapter.wasm"),
            &config,
            &["--replay", tape.to_str().unwrap()],
        )
        .await;
        assert!(ok, "{replayed:#}");
        assert_eq!(statuses(&replayed), statuses(&live));
        // Every detail but the load's timing.
        let after_load = |r: &Value| r["checks"].as_array().unwrap()[1..].to_vec();
        assert_eq!(after_load(&replayed), after_load(&live));
    }
    assert_eq!(
        hook.state.lock().unwrap().requests,
        requests_live,
        "the replay sent nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kit_fails_an_adapter_that_misbehaves_and_names_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let test_adapters = datacollect_sync_e2e::test_adapter_dir();
    // Pages that never end: the pull check fails.
    let stalled = write(
        dir.path(),
        "stalled",
        json!({"type": "hostile", "url": mock.url(),
        "extraFields": [{"name": "attack", "value": "stalled-pages"}]}),
    );
    let (ok, report) = kit(test_adapters.join("hostile.wasm"), &stalled, &[]).await;
    assert!(!ok);
    assert!(
        statuses(&report).contains(&("pull".into(), "fail".into())),
        "{report:#}"
    );
    // A config of another type: describe fails, naming both.
    let other = write(
        dir.path(),
        "other",
        json!({"type": "custom-adapter", "url": mock.url()}),
    );
    let (ok, report) = kit(shipped("mock_sync_server.wasm"), &other, &[]).await;
    assert!(!ok);
    let describe = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "describe")
        .unwrap();
    assert_eq!(describe["status"], "fail");
    assert!(
        describe["detail"]
            .as_str()
            .unwrap()
            .contains("this adapter serves \"mock-sync-server\""),
        "{describe}"
    );
    // An adapter that fails every push and answers every failure alike: push and the
    // error-class checks fail, and the text report says so line by line.
    let panics = write(
        dir.path(),
        "panics",
        json!({"type": "hostile", "url": mock.url(),
        "extraFields": [{"name": "attack", "value": "panic"}]}),
    );
    let (ok, report) = kit(test_adapters.join("hostile.wasm"), &panics, &[]).await;
    assert!(!ok);
    let s = statuses(&report);
    for check in ["push", "errors-401", "errors-429", "errors-503"] {
        assert!(
            s.contains(&(check.into(), "fail".into())),
            "{check}: {report:#}"
        );
    }
    let hostile = test_adapters.join("hostile.wasm");
    let text = tokio::task::spawn_blocking(move || {
        dcsync()
            .arg("test-adapter")
            .arg(hostile)
            .arg("--config")
            .arg(&panics)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("\nFAIL push "), "{stdout}");
    assert!(stdout.contains("\nPASS describe "), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("some checks FAILED"),
        "{stdout}"
    );
    // A file that is not a component: load fails.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let (ok, report) = kit(junk, &stalled, &[]).await;
    assert!(!ok);
    assert_eq!(
        statuses(&report),
        [("load".to_string(), "fail".to_string())]
    );
}
