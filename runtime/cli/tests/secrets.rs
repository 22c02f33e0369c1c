//! Distinctive secret values go through syncs that succeed and syncs that fail (bad auth,
//! server errors, an adapter that traps, one that tries to get them echoed back); none of
//! them appears in stdout, stderr (tracing at its most verbose), errors, run history, the
//! store file, or anything handed to an adapter.

use base64::Engine as _;
use dcsync_emulators::{Fault, MockSyncServer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const API_KEY: &str = "APIKEY-7f3a9c1e5b2d";
const PASSWORD: &str = "PASSWORD-c0ffee-42";
const CRED_USER: &str = "CREDUSER-alice-x19";
const CRED_PASS: &str = "CREDPASS-hunter2-zz";

fn adapter_dir(into: &Path) -> PathBuf {
    let dir = into.join("adapters");
    std::fs::create_dir_all(&dir).unwrap();
    for from in [
        datacollect_sync_e2e::adapter_dir().join("mock_sync_server.wasm"),
        datacollect_sync_e2e::test_adapter_dir().join("hostile.wasm"),
    ] {
        std::fs::copy(&from, dir.join(from.file_name().unwrap()))
            .expect("run `make adapters` first");
    }
    dir
}

struct Run {
    stdout: String,
    stderr: String,
}

fn sync(adapters: &Path, config: &Path, store: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dcsync")).env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
        // Everything at trace, except the compiler's own (megabytes of codegen, no data).
        .env("DCSYNC_LOG", "trace,cranelift_codegen=info,cranelift_frontend=info,wasmtime_cranelift=info,regalloc2=info,wasmtime=info")
        .env("DCSYNC_PASSWORD", CRED_PASS)
        .arg("--adapters")
        .arg(adapters)
        .args(["sync", "--json", "--username", CRED_USER, "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn forbidden() -> Vec<String> {
    let mut v: Vec<String> = [API_KEY, PASSWORD, CRED_USER, CRED_PASS]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (u, p) in [("user", API_KEY), (CRED_USER, CRED_PASS)] {
        v.push(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")));
    }
    v
}

fn assert_clean(what: &str, text: &str) {
    for s in forbidden() {
        assert!(!text.contains(&s), "secret {s} leaked in {what}:\n{text}");
    }
}

#[test]
fn no_secret_value_escapes_any_sync() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let adapters = adapter_dir(dir.path());
    let store = dir.path().join("store.db");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, r#"{"guid":"g1","entityGuid":"p1","type":"create-individual","data":{"name":"A"},"timestamp":"2025-01-01T00:00:00Z"}"#).unwrap();
    let imported = Command::new(env!("CARGO_BIN_EXE_dcsync"))
        .env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
        .args(["events", "import", "--store"])
        .arg(&store)
        .arg(&events)
        .output()
        .unwrap();
    assert!(imported.status.success());

    let config = |ty: &str, attack: Option<&str>| {
        let mut fields = vec![
            json!({"name": "apiKey", "value": API_KEY}),
            json!({"name": "password", "value": PASSWORD}),
            json!({"name": "retryAttempts", "value": "1"}),
        ];
        if let Some(a) = attack {
            fields.push(json!({"name": "attack", "value": a}));
        }
        let path = dir
            .path()
            .join(format!("{ty}-{}.json", attack.unwrap_or("none")));
        std::fs::write(&path, json!({"externalSync": {"type": ty, "auth": "basic", "url": server.url(), "extraFields": fields}}).to_string()).unwrap();
        path
    };

    let mut outputs = Vec::new();
    // Fails: bad auth, then server errors past the retries.
    server.inject(vec![Fault {
        status: Some(401),
        ..Default::default()
    }]);
    outputs.push((
        "bad auth",
        sync(&adapters, &config("mock-sync-server", None), &store),
    ));
    server.inject(vec![Fault {
        status: Some(500),
        times: Some(2),
        ..Default::default()
    }]);
    outputs.push((
        "server errors",
        sync(&adapters, &config("mock-sync-server", None), &store),
    ));
    // Succeeds.
    outputs.push((
        "success",
        sync(&adapters, &config("mock-sync-server", None), &store),
    ));
    assert!(
        outputs[2].1.stdout.contains("\"status\": \"succeeded\""),
        "{}",
        outputs[2].1.stderr
    );
    // Hostile: a trap, an echo of every way of sending the secrets, a dump of its config.
    for attack in ["trap", "echo-transforms", "dump-config"] {
        std::fs::write(&events, format!(r#"{{"guid":"g-{attack}","entityGuid":"p1","type":"update-individual","data":{{}},"timestamp":"2025-01-02T00:00:00Z"}}"#)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_dcsync"))
            .env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
            .args(["events", "import", "--store"])
            .arg(&store)
            .arg(&events)
            .output()
            .unwrap();
        let cfg = config("hostile", Some(attack));
        outputs.push((attack, sync(&adapters, &cfg, &store)));
        if attack == "echo-transforms" {
            // The echo held the config: an operator releases it before the next attack.
            let status = Command::new(env!("CARGO_BIN_EXE_dcsync"))
                .env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
                .args(["status", "--config"])
                .arg(&cfg)
                .arg("--store")
                .arg(&store)
                .output()
                .unwrap();
            let status = String::from_utf8_lossy(&status.stdout).into_owned();
            assert!(status.contains("HELD"), "{status}");
            let release = Command::new(env!("CARGO_BIN_EXE_dcsync"))
                .env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
                .args(["release", "--config"])
                .arg(&cfg)
                .arg("--store")
                .arg(&store)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&release.stdout).into_owned();
            assert!(
                release.status.success() && said.contains("released config"),
                "{said}"
            );
            outputs.push((
                "status",
                Run {
                    stdout: status,
                    stderr: String::new(),
                },
            ));
        }
    }
    let echoed = &outputs[4].1.stderr;
    assert!(
        echoed.contains("held a secret value of this config"),
        "the echo attack ran and was stopped: {echoed}"
    );
    assert!(
        outputs[6].1.stderr.contains("{{secret:apiKey:"),
        "the adapter saw references: {}",
        outputs[6].1.stderr
    );
    assert!(
        outputs.iter().any(|(_, r)| r.stderr.contains("TRACE")),
        "tracing ran at its most verbose level"
    );

    for (what, run) in &outputs {
        assert_clean(&format!("stdout of {what}"), &run.stdout);
        assert_clean(&format!("stderr of {what}"), &run.stderr);
    }
    let runs = Command::new(env!("CARGO_BIN_EXE_dcsync"))
        .env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home())
        .args(["runs", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&runs.stdout);
    assert!(history.matches("\"id\"").count() >= 6, "{history}");
    assert_clean("run history", &history);
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("store.db")
        {
            assert_clean(
                &path.display().to_string(),
                &String::from_utf8_lossy(&std::fs::read(&path).unwrap()),
            );
        }
    }
}
