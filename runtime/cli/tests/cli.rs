//! The `dcsync` binary, as a user runs it.
//!
//! Over 400 lines: one test per command behaviour, each running the built binary; they
//! share this file's fixtures (stores, configs, a mock server).

mod common;

use common::dcsync;

#[test]
fn demo_exits_zero_and_shows_the_sync() {
    let out = dcsync().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pushed 5 events"), "{stdout}");
    assert!(stdout.contains("pulled 3 and applied 3"), "{stdout}");
}

#[test]
fn bad_config_fails_with_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.json");
    std::fs::write(
        &config,
        r#"{"externalSync": {"type": "mock-sync-server", "url": "ftp://x"}}"#,
    )
    .unwrap();
    let store = dir.path().join("store.db");
    let out = dcsync()
        .args(["sync", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `externalSync.url`: must be an http or https URL"),
        "{stderr}"
    );
    assert!(
        !store.exists(),
        "a rejected config must not create the store"
    );
}

#[test]
fn check_names_missing_adapter_and_accepts_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        r#"{"type": "nope-adapter", "url": "http://localhost:3000/x"}"#,
    )
    .unwrap();
    let out = dcsync()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no adapter for type \"nope-adapter\""));

    std::fs::write(
        &config,
        r#"{"type": "mock-sync-server", "url": "http://localhost:3000/mock-sync"}"#,
    )
    .unwrap();
    let out = dcsync()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("adapter mock-sync-server"));
}

#[test]
fn check_names_the_fields_an_adapter_requires() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spp.json");
    std::fs::write(
        &config,
        r#"{"type": "openspp-adapter", "url": "https://spp.example.org", "extraFields": [{"name": "username", "value": "u"}]}"#,
    )
    .unwrap();
    let out = dcsync()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `extraFields.database`: required by openspp-adapter"),
        "{stderr}"
    );
}

#[test]
fn import_then_sync_json_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let events = dir.path().join("e.jsonl");
    std::fs::write(
        &events,
        r#"{"guid":"g1","entityGuid":"p1","type":"create-individual","data":{"name":"A"},"timestamp":"2025-01-01T00:00:00Z","userId":"u","syncLevel":0}
{"guid":"g2","entityGuid":"p2","type":"create-individual","data":{"name":"B"},"timestamp":"2025-01-01T00:00:00Z","userId":"u","syncLevel":0}
"#,
    )
    .unwrap();
    let out = dcsync()
        .args(["events", "import", "--store"])
        .arg(&store)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(dcsync_emulators::MockSyncServer::start(
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"type": "mock-sync-server", "url": "{}"}}"#,
            server.url()
        ),
    )
    .unwrap();
    let out = dcsync()
        .args(["sync", "--json", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "succeeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("push: 2/2 events"),
        "plain progress lines when not a terminal"
    );
    assert_eq!(
        (
            v["pushed"].as_u64(),
            v["pulled"].as_u64(),
            v["applied"].as_u64()
        ),
        (Some(2), Some(0), Some(0))
    );
    assert_eq!(server.received().0.len(), 2);

    let out = dcsync()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (status["pending"].as_u64(), status["pushCursor"].as_i64()),
        (Some(0), Some(2))
    );
    assert_eq!(status["lastRun"]["status"], "succeeded");

    let out = dcsync()
        .args(["runs", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["pushed"], 2);
}

#[test]
fn import_with_a_bad_line_writes_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let events = dir.path().join("e.jsonl");
    // A bad first line: nothing is written, not even an empty store.
    std::fs::write(
        &events,
        r#"{"guid":"g0","entityGuid":"p0","type":"create-individual","data":{},"timestamp":"today"}
"#,
    )
    .unwrap();
    let out = dcsync()
        .args(["events", "import", "--store"])
        .arg(&store)
        .arg(&events)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!store.exists());
    // A bad second line: the first is committed, and the message says so.
    std::fs::write(
        &events,
        r#"{"guid":"g1","entityGuid":"p1","type":"create-individual","data":{},"timestamp":"2025-01-01T00:00:00Z"}
{"guid":"g2","entityGuid":"p2","type":"create-individual","data":{},"timestamp":"yesterday"}
"#,
    )
    .unwrap();
    let out = dcsync()
        .args(["events", "import", "--store"])
        .arg(&store)
        .arg(&events)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("e.jsonl:2: `timestamp` \"yesterday\" is not an RFC 3339"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 line(s) before it were committed (1 events)"),
        "{stderr}"
    );
}

fn import_events(store: &std::path::Path, dir: &std::path::Path, guids: &[&str]) {
    let lines: Vec<String> = guids
        .iter()
        .map(|g| format!(r#"{{"guid":"{g}","entityGuid":"p-{g}","type":"create-individual","data":{{"name":"N"}},"timestamp":"2025-01-01T00:00:00Z"}}"#))
        .collect();
    let file = dir.join(format!("{}.jsonl", guids[0]));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = dcsync()
        .args(["events", "import", "--store"])
        .arg(store)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quarantine_list_and_retry_from_the_cli() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(dcsync_emulators::MockSyncServer::start(
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    server.inject(vec![dcsync_emulators::Fault {
        reject_guids: vec!["q2".into()],
        ..Default::default()
    }]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    import_events(&store, dir.path(), &["q1", "q2"]);
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"type": "mock-sync-server", "url": "{}"}}"#,
            server.url()
        ),
    )
    .unwrap();
    let sync = || {
        dcsync()
            .args(["sync", "--json", "--config"])
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap()
    };
    assert!(sync().status.success());

    let out = dcsync()
        .args(["quarantine", "list", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("[push] event q2") && listed.contains("rejected by mock server"),
        "{listed}"
    );
    let out = dcsync()
        .args(["quarantine", "retry", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-queued 1 of 1"));
    let v: serde_json::Value = serde_json::from_slice(&sync().stdout).unwrap();
    assert_eq!(
        v["pushed"], 1,
        "the retried event went out with the next sync"
    );
    let out = dcsync()
        .args(["quarantine", "list", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantine is empty"));
}

#[test]
fn daemon_syncs_each_config_on_its_interval() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(dcsync_emulators::MockSyncServer::start(
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    import_events(&store, dir.path(), &["d1", "d2"]);
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        format!(r#"{{"type": "mock-sync-server", "url": "{}", "extraFields": [{{"name": "syncInterval", "value": "1000"}}]}}"#, server.url()),
    )
    .unwrap();
    let mut daemon = dcsync()
        .args(["daemon", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Deadlines, not sleeps: a cold compiled-code cache makes start-up slow.
    let wait_for = |n: usize| {
        let started = std::time::Instant::now();
        while server.received().0.len() < n {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the daemon never delivered {n} events"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait_for(2);
    import_events(&store, dir.path(), &["d3"]);
    wait_for(3);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(
        server.received().0.len(),
        3,
        "the event added while the daemon ran was synced too"
    );
    let out = dcsync()
        .args(["runs", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        runs.as_array().unwrap().len() >= 2,
        "one sync per syncInterval, the second picking up the new event: {runs}"
    );
}

#[test]
fn serve_generates_a_token_once_and_requires_it() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let start = || {
        let mut child = dcsync()
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(&store)
            .env_remove("DCSYNC_ADMIN_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_string();
        (child, base, lines)
    };
    let (mut child, base, mut lines) = start();
    let token_line = lines.next().unwrap().unwrap();
    assert!(
        token_line.starts_with("admin token (shown once"),
        "{token_line}"
    );
    let token = token_line.rsplit(' ').next().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let get = |auth: Option<&str>| {
        let mut req = http.get(format!("{base}/api/configs"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        rt.block_on(req.send()).unwrap().status().as_u16()
    };
    assert_eq!(get(None), 401);
    assert_eq!(get(Some(&token)), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // A restart keeps the token and does not print it again.
    let (mut child, base2, restart_lines) = start();
    let http2 = reqwest::Client::new();
    let status = rt
        .block_on(
            http2
                .get(format!("{base2}/api/configs"))
                .bearer_auth(&token)
                .send(),
        )
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
    // Everything the restart printed, read to the end once it was killed.
    let printed: Vec<String> = restart_lines.map_while(Result::ok).collect();
    assert!(
        printed.iter().all(|l| !l.contains(&token)),
        "the token was printed again: {printed:?}"
    );
    let saved = std::fs::read_to_string(dir.path().join("s.db.admin-token")).unwrap();
    assert_eq!(saved.trim(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(
            mode("s.db.admin-token"),
            0o600,
            "the token file is the owner's"
        );
        assert_eq!(mode("s.db.configs"), 0o700, "so is the configs directory");
    }
}

#[test]
fn an_installed_dcsync_finds_its_adapters_from_any_directory() {
    // The layout `make install PREFIX=…` creates, built from this build's binary.
    let prefix = tempfile::tempdir().unwrap();
    let bin = prefix.path().join("bin");
    let share = prefix.path().join("share/dcsync/adapters");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&share).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_dcsync"), bin.join("dcsync")).unwrap();
    std::fs::copy(
        datacollect_sync_e2e::adapter_dir().join("mock_sync_server.wasm"),
        share.join("mock_sync_server.wasm"),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin.join("dcsync"))
        .arg("adapters")
        .current_dir(elsewhere.path())
        .env_remove("DCSYNC_ADAPTERS")
        .env("HOME", elsewhere.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("mock-sync-server"), "{stdout}");
    assert!(stdout.contains(&share.display().to_string()), "{stdout}");
}

#[test]
fn with_no_adapter_directory_anywhere_dcsync_adapters_says_where_it_looked() {
    let prefix = tempfile::tempdir().unwrap();
    let bin = prefix.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_dcsync"), bin.join("dcsync")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin.join("dcsync"))
        .arg("adapters")
        .env_remove("DCSYNC_ADAPTERS")
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no adapter directory found"), "{stderr}");
    assert!(stderr.contains("share/dcsync/adapters"), "{stderr}");
}

#[test]
fn a_missing_adapter_directory_is_named_and_dcsync_adapters_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = dcsync()
        .arg("--adapters")
        .arg(&missing)
        .arg("adapters")
        .output()
        .unwrap();
    assert!(!out.status.success(), "nothing could be loaded");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "adapters directory {} does not exist",
            missing.display()
        )),
        "{text}"
    );
}

/// Run `dcsync` with `args` off the async runtime; (success, stdout, stderr).
async fn dcsync_async(args: Vec<std::ffi::OsString>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = dcsync().args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_every_problem_and_connect_tries_the_credentials_without_side_effects() {
    use dcsync_emulators::openfn::{OpenFnEmulator, OpenFnSetup, DEFAULT_PROJECT};
    let e = OpenFnEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        OpenFnSetup {
            webhook_id: "trig".into(),
            api_key: Some("sk_live_CHECK_123456".into()),
            collections_token: "tok_CHECK_654321".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    e.create_collection(DEFAULT_PROJECT, "registrations");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, extra: serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            serde_json::json!({"type": "openfn-adapter", "auth": "api-key",
                "url": e.webhook_url(), "extraFields": extra})
            .to_string(),
        )
        .unwrap();
        path
    };
    // Three problems, conditional ones included, all at once.
    let bad = write(
        "bad.json",
        serde_json::json!([{"name": "collectionName", "value": "registrations"},
            {"name": "projectId", "value": "not-a-uuid"}]),
    );
    let (ok, _, stderr) = dcsync_async(vec!["check".into(), "--config".into(), bad.into()]).await;
    assert!(!ok);
    for field in [
        "extraFields.apiKey",
        "extraFields.collectionsToken",
        "extraFields.projectId",
    ] {
        assert!(stderr.contains(field), "{field}: {stderr}");
    }
    assert!(stderr.contains("3 problems"), "{stderr}");

    let good = write(
        "good.json",
        serde_json::json!([{"name": "apiKey", "value": "sk_live_CHECK_123456"},
            {"name": "collectionName", "value": "registrations"},
            {"name": "collectionsToken", "value": "tok_CHECK_654321"}]),
    );
    let (ok, stdout, stderr) = dcsync_async(vec![
        "check".into(),
        "--connect".into(),
        "--config".into(),
        good.into(),
    ])
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("connection ok: the webhook trigger accepted the credentials; collection \"registrations\" is readable"),
        "{stdout}"
    );
    assert!(e.work_orders().is_empty(), "the test created no work order");

    let wrong = write(
        "wrong.json",
        serde_json::json!([{"name": "apiKey", "value": "sk_live_WRONG_000000"}]),
    );
    let (ok, stdout, stderr) = dcsync_async(vec![
        "check".into(),
        "--connect".into(),
        "--config".into(),
        wrong.into(),
    ])
    .await;
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("connection failed [unauthorized]"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk_live_WRONG_000000"), "{stderr}");
}
