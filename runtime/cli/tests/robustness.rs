//! What a user does with the `dcsync` binary, and the faults around it: imports while a
//! sync runs, bad and huge input, signals and kills, read-only commands on the wrong file,
//! output piped or in JSON. History must tell the truth after each.
//!
//! Over 400 lines: the robustness findings (bad input, writers side by side, history that
//! tells the truth) as one list, each test named after the finding it guards.

mod common;

use common::dcsync;
use dcsync_emulators::MockSyncServer;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn event_line(guid: &str, name: &str) -> String {
    json!({"guid": guid, "entityGuid": format!("p-{guid}"), "type": "create-individual",
        "data": {"name": name}, "timestamp": "2025-01-01T00:00:00Z"})
    .to_string()
}

fn events_file(dir: &Path, name: &str, guids: impl Iterator<Item = String>) -> PathBuf {
    let mut text = String::new();
    for g in guids {
        text.push_str(&event_line(&g, "A"));
        text.push('\n');
    }
    write(&dir.join(name), &text)
}

fn import(store: &Path, file: &Path) -> std::process::Output {
    dcsync()
        .args(["events", "import", "--store"])
        .arg(store)
        .arg(file)
        .output()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn mock(rt: &tokio::runtime::Runtime) -> MockSyncServer {
    rt.block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
        .unwrap()
}

fn mock_config(dir: &Path, server: &MockSyncServer, extra: &[(&str, &str)]) -> PathBuf {
    let fields: Vec<Value> = extra
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    write(
        &dir.join("config.json"),
        &json!({"type": "mock-sync-server", "url": server.url(), "extraFields": fields})
            .to_string(),
    )
}

fn runs(store: &Path) -> Vec<Value> {
    let out = dcsync()
        .args(["runs", "--json", "--store"])
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sync_cmd(config: &Path, store: &Path) -> Command {
    let mut c = dcsync();
    c.args(["sync", "--json", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store);
    c
}

/// Wait until `f` holds, or fail after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Warm the compiled-code cache, so a spawned sync reaches its first request quickly.
fn warm(config: &Path, dir: &Path) {
    let out = sync_cmd(config, &dir.join("warm.db")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

// --- Data and availability ---------------------------------------------------------------

#[test]
fn an_import_while_a_sync_runs_fails_neither_and_history_counts_what_was_confirmed() {
    let rt = runtime();
    let server = mock(&rt);
    server.set_latency(15);
    let dir = tempfile::tempdir().unwrap();
    let config = mock_config(dir.path(), &server, &[("batchSize", "100")]);
    warm(&config, dir.path());
    let store = dir.path().join("s.db");
    let first = events_file(dir.path(), "a.jsonl", (0..3000).map(|i| format!("a{i}")));
    assert!(import(&store, &first).status.success());
    let sync = sync_cmd(&config, &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the sync to start pushing", Duration::from_secs(60), || {
        server.received().1 >= 2
    });
    let second = events_file(dir.path(), "b.jsonl", (0..3000).map(|i| format!("b{i}")));
    let imported = import(&store, &second);
    assert!(
        imported.status.success(),
        "import during a sync: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let out = sync.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sync during an import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (received, _, duplicates) = server.received();
    assert_eq!(
        report["pushed"].as_u64().unwrap() as usize,
        received.len(),
        "counted = confirmed = received"
    );
    assert_eq!(duplicates, 0);
    // The rest goes out with the next sync, none twice.
    assert!(sync_cmd(&config, &store).output().unwrap().status.success());
    let (received, _, duplicates) = server.received();
    assert_eq!((received.len(), duplicates), (6000, 0));
}

#[test]
fn a_record_the_host_cannot_accept_is_quarantined_and_the_pull_goes_on() {
    let rt = runtime();
    let server = mock(&rt);
    server.seed(vec![
        json!({"entityGuid": "ok-1", "data": {"name": "A"}}),
        json!({"entityGuid": "", "data": {"name": "no entity"}}),
        json!({"entityGuid": "ok-2", "data": {"name": "B"}}),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = mock_config(dir.path(), &server, &[]);
    let store = dir.path().join("s.db");
    for round in 0..2 {
        let out = sync_cmd(&config, &store).output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        if round == 0 {
            assert_eq!(
                (report["applied"].as_u64(), report["quarantined"].as_u64()),
                (Some(2), Some(1))
            );
        }
    }
    let q = dcsync()
        .args(["quarantine", "list", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let q: Vec<Value> = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(q.len(), 1, "quarantined once, not per sync: {q:?}");
    assert!(
        q[0]["reason"].as_str().unwrap().contains("entityGuid"),
        "{q:?}"
    );
    server.seed(vec![json!({"entityGuid": "ok-3", "data": {"name": "C"}})]);
    let out = sync_cmd(&config, &store).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["applied"], 1,
        "records after the bad one keep coming"
    );
}

#[test]
fn import_refuses_an_oversized_event_with_its_line_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&event_line(&format!("g{i}"), "A"));
        text.push('\n');
    }
    text.push_str(&event_line("huge", &"x".repeat(3 << 20)));
    text.push('\n');
    text.push_str(&event_line("after", "B"));
    text.push('\n');
    let file = write(&dir.path().join("e.jsonl"), &text);
    let out = dcsync()
        .args([
            "events",
            "import",
            "--max-event-bytes",
            "1048576",
            "--store",
        ])
        .arg(&store)
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("e.jsonl:4: the event is 3145"), "{stderr}");
    assert!(stderr.contains("over the 1048576-byte limit"), "{stderr}");
    assert!(
        stderr.contains("3 line(s) before it were committed (3 events)"),
        "{stderr}"
    );
    // Fixed, the same file imports the rest; what was stored is recognised.
    let fixed = text.replace(
        &event_line("huge", &"x".repeat(3 << 20)),
        &event_line("huge", "small now"),
    );
    let file = write(&dir.path().join("e.jsonl"), &fixed);
    let out = dcsync()
        .args(["events", "import", "--json", "--store"])
        .arg(&store)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["applied"].as_u64(), v["duplicates"].as_u64()),
        (Some(2), Some(3))
    );
}

#[test]
fn a_bad_line_stops_the_import_with_its_number_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let mut lines: Vec<String> = (0..1200)
        .map(|i| event_line(&format!("g{i}"), "A"))
        .collect();
    lines[1100] = "{\"guid\": \"broken\"".into();
    let file = write(&dir.path().join("e.jsonl"), &lines.join("\n"));
    let out = import(&store, &file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("e.jsonl:1101: not a FormSubmission"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1100 line(s) before it were committed (1100 events)"),
        "{stderr}"
    );
    lines[1100] = event_line("g1100", "A");
    let file = write(&dir.path().join("e.jsonl"), &lines.join("\n"));
    let out = dcsync()
        .args(["events", "import", "--json", "--store"])
        .arg(&store)
        .arg(&file)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["applied"].as_u64(), v["duplicates"].as_u64()),
        (Some(100), Some(1100))
    );
}

#[test]
fn the_same_guid_with_other_content_is_a_conflict_and_the_stored_event_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let a = write(
        &dir.path().join("a.jsonl"),
        &format!(
            "{}\n{}\n",
            event_line("g1", "Original"),
            event_line("g2", "Same")
        ),
    );
    assert!(import(&store, &a).status.success());
    let b = write(
        &dir.path().join("b.jsonl"),
        &format!(
            "{}\n{}\n",
            event_line("g1", "Changed"),
            event_line("g2", "Same")
        ),
    );
    let out = dcsync()
        .args(["events", "import", "--json", "--store"])
        .arg(&store)
        .arg(&b)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a conflict exits non-zero");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conflicts"], json!(["g1"]));
    assert_eq!(v["duplicates"], 1);
    let text = dcsync()
        .args(["events", "import", "--store"])
        .arg(&store)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("conflict: g1 is stored with other content")
    );
    let store = datacollect_sync::SqliteStore::open(&store).unwrap();
    let e = datacollect_sync::EventStore::entity(&store, "p-g1")
        .unwrap()
        .unwrap();
    assert_eq!(e.modified.name.as_deref(), Some("Original"));
}

#[test]
fn intervals_under_a_second_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("c.json"),
        &json!({"type": "mock-sync-server", "url": "http://127.0.0.1:9/x"}).to_string(),
    );
    let out = dcsync()
        .args(["daemon", "--interval", "0s", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--interval 0ns is too short: at least 1 s"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fast = write(
        &dir.path().join("f.json"),
        &json!({"type": "mock-sync-server", "url": "http://127.0.0.1:9/x",
        "extraFields": [{"name": "syncInterval", "value": "1"}]})
        .to_string(),
    );
    let out = dcsync()
        .args(["check", "--config"])
        .arg(&fast)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("extraFields.syncInterval`: must be at least 1000"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- History tells the truth ------------------------------------------------------------------

#[test]
fn ctrl_c_stops_a_sync_at_a_safe_point_and_records_it_interrupted() {
    let rt = runtime();
    let server = mock(&rt);
    let dir = tempfile::tempdir().unwrap();
    let config = mock_config(dir.path(), &server, &[("batchSize", "10")]);
    warm(&config, dir.path());
    server.set_latency(100);
    let store = dir.path().join("s.db");
    let events = events_file(dir.path(), "e.jsonl", (0..300).map(|i| format!("i{i}")));
    assert!(import(&store, &events).status.success());
    let child = sync_cmd(&config, &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("pushing", Duration::from_secs(60), || {
        server.received().1 >= 2
    });
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errorClass"], "interrupted");
    let run = &runs(&store)[0];
    assert_eq!(run["status"], "interrupted");
    let pushed = run["pushed"].as_u64().unwrap() as usize;
    assert!(pushed > 0 && pushed < 300, "stopped mid-way: {pushed}");
    assert_eq!(
        server.received().0.len(),
        pushed,
        "history counts exactly what was confirmed"
    );
}

#[test]
fn a_run_whose_process_was_killed_is_marked_abandoned_by_the_next() {
    let rt = runtime();
    let server = mock(&rt);
    let dir = tempfile::tempdir().unwrap();
    let config = mock_config(dir.path(), &server, &[("batchSize", "10")]);
    warm(&config, dir.path());
    server.set_latency(100);
    let store = dir.path().join("s.db");
    let events = events_file(dir.path(), "e.jsonl", (0..200).map(|i| format!("k{i}")));
    assert!(import(&store, &events).status.success());
    let mut child = sync_cmd(&config, &store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("pushing", Duration::from_secs(60), || {
        server.received().1 >= 2
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        runs(&store)[0]["status"],
        "running",
        "nobody has looked yet"
    );
    server.set_latency(0);
    let out = sync_cmd(&config, &store).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history = runs(&store);
    assert_eq!(history[0]["status"], "succeeded");
    assert_eq!(history[1]["status"], "abandoned");
    assert!(history[1]["message"]
        .as_str()
        .unwrap()
        .contains("process ended"));
    // A kill between the server's answer and the store's confirmation re-sends that one
    // batch (delivery is at least once; the receiver knows the guids): never more.
    let (received, _, again) = server.received();
    assert!(
        again <= 10,
        "at most the batch in flight sent again: {again}"
    );
    assert_eq!(
        received.len(),
        200,
        "every event received, each once by guid"
    );
}

#[test]
fn sigterm_stops_the_daemon_after_its_syncs_reach_a_safe_point() {
    let rt = runtime();
    let server = mock(&rt);
    let dir = tempfile::tempdir().unwrap();
    let config = mock_config(dir.path(), &server, &[("batchSize", "10")]);
    warm(&config, dir.path());
    server.set_latency(100);
    let store = dir.path().join("s.db");
    let events = events_file(dir.path(), "e.jsonl", (0..300).map(|i| format!("d{i}")));
    assert!(import(&store, &events).status.success());
    let child = dcsync()
        .args(["daemon", "--interval", "1h", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("pushing", Duration::from_secs(60), || {
        server.received().1 >= 2
    });
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(runs(&store)[0]["status"], "interrupted");
}

#[test]
fn sigterm_and_ctrl_c_stop_serve_after_its_syncs_reach_a_safe_point() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let rt = runtime();
        let server = mock(&rt);
        let dir = tempfile::tempdir().unwrap();
        let config = mock_config(dir.path(), &server, &[("batchSize", "10")]);
        warm(&config, dir.path());
        // The configs serve manages: this one syncs on its interval, from the start.
        let configs = dir.path().join("configs");
        std::fs::create_dir(&configs).unwrap();
        let mut c: Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        c["id"] = json!("served");
        c["extraFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "syncInterval", "value": "1000"}));
        write(&configs.join("served.json"), &c.to_string());
        server.set_latency(100);
        let store = dir.path().join("s.db");
        let events = events_file(dir.path(), "e.jsonl", (0..300).map(|i| format!("s{i}")));
        assert!(import(&store, &events).status.success());
        let child = dcsync()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token",
                "serve-test-token-123456",
            ])
            .arg("--configs")
            .arg(&configs)
            .arg("--store")
            .arg(&store)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("pushing", Duration::from_secs(60), || {
            server.received().1 >= 2
        });
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let history = runs(&store);
        assert_eq!(
            history[0]["status"], "interrupted",
            "signal {sig}: {history:?}"
        );
        // Stopped at a safe point: what it counts delivered, the server has.
        let pushed = history[0]["pushed"].as_u64().unwrap();
        assert!(pushed < 300, "it stopped before the end: {pushed}");
        assert!(server.received().0.len() as u64 >= pushed);
    }
}

#[test]
fn a_full_disk_fails_the_run_with_that_reason_and_the_next_run_completes() {
    use datacollect_sync::{EventStore, SqliteStore};
    let rt = runtime();
    rt.block_on(async {
        let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        server.seed((0..400).map(|i| json!({"entityGuid": format!("big-{i}"), "data": {"pad": "z".repeat(4000)}})).collect());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        store.limit_pages(store.page_count().unwrap() + 40).unwrap();
        let shared: std::sync::Arc<dyn EventStore> = store.clone();
        let m = datacollect_sync_e2e::manager(&shared, datacollect_sync_e2e::mock_config(&server, &[])).await;
        let e = m.synchronize(None).await.unwrap_err();
        assert_eq!(e.class().as_str(), "store", "{e}");
        assert!(e.to_string().contains("disk is full"), "{e}");
        let run = &shared.runs(None, 1).unwrap()[0];
        assert_eq!(run.status.as_str(), "failed", "{run:?}");
        store.limit_pages(1 << 30).unwrap();
        m.synchronize(None).await.unwrap();
        assert_eq!(shared.event_count().unwrap(), 400, "every record, once");
    });
}

// --- Read-only commands never create or change anything ----------------------------------------

#[test]
fn read_only_commands_create_nothing_and_refuse_another_programs_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped.db");
    for args in [vec!["runs"], vec!["quarantine", "list"]] {
        let out = dcsync()
            .args(&args)
            .arg("--store")
            .arg(&missing)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&missing.display().to_string()) && stderr.contains("no such store"),
            "{stderr}"
        );
        assert!(!missing.exists(), "{args:?} created the store");
    }
    let config = write(
        &dir.path().join("c.json"),
        &json!({"type": "mock-sync-server", "url": "http://127.0.0.1:9/x"}).to_string(),
    );
    let other = dir.path().join("other.sqlite");
    other_programs_database(&other);
    let before = std::fs::read(&other).unwrap();
    for args in [
        vec!["status", "--config", config.to_str().unwrap()],
        vec!["runs"],
    ] {
        let out = dcsync()
            .args(&args)
            .arg("--store")
            .arg(&other)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a dcsync store"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = dcsync()
        .args(["sync", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a writing command refuses it too");
    assert_eq!(std::fs::read(&other).unwrap(), before, "left untouched");
}

/// Another program's SQLite database (made with Python's sqlite3, independent of dcsync).
fn other_programs_database(path: &Path) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute('CREATE TABLE invoices(id INTEGER, total REAL)'); c.execute('INSERT INTO invoices VALUES (1, 9.5)'); c.commit(); c.close()",
            path.display().to_string()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- Errors a user can act on --------------------------------------------------------------

#[test]
fn piping_into_head_ends_quietly() {
    // 3 000 quarantined events: far more output than a pipe holds.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let lines: Vec<String> = (0..3000)
        .map(|i| event_line(&format!("q{i}"), "A").replace("create-individual", "no-such-type"))
        .collect();
    let file = write(&dir.path().join("e.jsonl"), &lines.join("\n"));
    assert!(import(&store, &file).status.success());
    let mut child = dcsync()
        .args(["quarantine", "list", "--store"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("#1 [apply]"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert_ne!(out.status.code(), Some(101));
}

#[test]
fn with_log_format_json_stderr_holds_only_json_lines_and_sync_json_reports_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("c.json"),
        &json!({"type": "mock-sync-server", "url": "http://127.0.0.1:1/closed",
        "extraFields": [{"name": "retryAttempts", "value": "0"}]})
        .to_string(),
    );
    let store = dir.path().join("s.db");
    let events = events_file(dir.path(), "e.jsonl", (0..3).map(|i| format!("j{i}")));
    assert!(import(&store, &events).status.success());
    let out = dcsync()
        .env("DCSYNC_LOG", "info")
        .args(["--log-format", "json", "sync", "--json", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    assert!(!stderr.contains('\u{1b}'), "no colours off a terminal");
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON error object on stdout");
    assert_eq!(
        (v["status"].as_str(), v["errorClass"].as_str()),
        (Some("failed"), Some("transient"))
    );
    assert!(
        v["error"].as_str().unwrap().contains("connection refused"),
        "{v}"
    );
}

#[test]
fn a_config_with_a_byte_order_mark_is_accepted_and_check_does_not_print_a_huge_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let bom = write(
        &dir.path().join("bom.json"),
        &format!(
            "\u{feff}{}",
            json!({"type": "mock-sync-server", "url": "http://127.0.0.1:9/x"})
        ),
    );
    let out = dcsync()
        .args(["check", "--config"])
        .arg(&bom)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let big = write(
        &dir.path().join("big.json"),
        &json!({"type": "mock-sync-server", "url": "http://127.0.0.1:9/x",
        "extraFields": [{"name": "notes", "value": "n".repeat(5 << 20)}]})
        .to_string(),
    );
    let out = dcsync()
        .args(["check", "--config"])
        .arg(&big)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.len() < 4096,
        "{} bytes printed",
        out.stdout.len()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(5242880 bytes)"));
}

#[test]
fn an_http_error_the_adapter_does_not_classify_names_the_url() {
    let rt = runtime();
    let server = mock(&rt);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/no-such-path", server.addr);
    let config = write(
        &dir.path().join("c.json"),
        &json!({"type": "custom-adapter", "url": url}).to_string(),
    );
    let store = dir.path().join("s.db");
    let events = events_file(dir.path(), "e.jsonl", std::iter::once("u1".to_string()));
    assert!(import(&store, &events).status.success());
    let out = sync_cmd(&config, &store).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errorClass"], "config", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains(&format!("HTTP 404 from {url}")),
        "{v}"
    );
}

#[test]
fn a_memory_limit_set_too_low_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let settings = write(&dir.path().join("s.toml"), "[limits]\nmemory_mib = 1\n");
    let out = dcsync()
        .arg("--settings")
        .arg(&settings)
        .arg("adapters")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        text.contains("over the memory limit of 1 MiB; raise limits.memory_mib"),
        "{text}"
    );
}

#[test]
fn every_flag_and_argument_has_a_help_line() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str) {
        for arg in cmd.get_arguments() {
            if arg.get_id() == "help" || arg.get_id() == "version" {
                continue;
            }
            assert!(
                arg.get_help().is_some(),
                "{path} {} has no help line",
                arg.get_id()
            );
        }
        for sub in cmd.get_subcommands() {
            assert!(
                sub.get_about().is_some(),
                "{path} {} has no help line",
                sub.get_name()
            );
            walk(sub, &format!("{path} {}", sub.get_name()));
        }
    }
    walk(&dcsync_cli::args::Cli::command(), "dcsync");
}

#[test]
fn the_mock_servers_faults_take_one_or_many_and_can_be_cleared() {
    let rt = runtime();
    let server = mock(&rt);
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("{}/faults", server.url());
        let one = http
            .post(&url)
            .json(&json!({"status": 503}))
            .send()
            .await
            .unwrap();
        assert!(one.status().is_success());
        let many = http
            .post(&url)
            .json(&json!([{"status": 500}, {"status": 429}]))
            .send()
            .await
            .unwrap();
        assert!(many.status().is_success());
        assert_eq!(server.pending_faults(), 3);
        http.delete(&url).send().await.unwrap();
        assert_eq!(server.pending_faults(), 0);
        http.get(format!("{}/received", server.url()))
            .send()
            .await
            .unwrap();
        http.delete(format!("{}/received", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(server.requests(), 0, "counters cleared");
    });
    let _ = std::io::stdout().flush();
}

/// Peak resident memory of `dcsync events import` on `file`, in MiB (the child's own, from
/// `wait4`, which reaps it: `Child::wait` cannot report the peak).
#[allow(clippy::zombie_processes)]
fn import_peak_mib(store: &Path, file: &Path) -> f64 {
    let child = dcsync()
        .args(["events", "import", "--store"])
        .arg(store)
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child, with a zeroed rusage to fill.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let pid = libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        assert_eq!(pid, child.id() as i32);
        usage
    };
    assert_eq!(status, 0, "the import failed");
    usage.ru_maxrss as f64 / 1024.0 // kilobytes on Linux
}

#[test]
fn an_imports_memory_does_not_grow_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pad = "x".repeat(1000);
    let file = |name: &str, n: usize| {
        let mut text = String::with_capacity(n * 1200);
        for i in 0..n {
            text.push_str(&event_line(&format!("{name}-{i}"), &pad));
            text.push('\n');
        }
        write(&dir.path().join(name), &text)
    };
    // 23 and 68 MB of events: past the first chunks the peak stays where it is. Reading a
    // file whole (as imports once did, ~10× the file) would add some 450 MiB between them.
    let (mid, big) = (file("mid", 20_000), file("big", 60_000));
    let mid_peak = import_peak_mib(&dir.path().join("a.db"), &mid);
    let big_peak = import_peak_mib(&dir.path().join("b.db"), &big);
    assert!(
        big_peak - mid_peak < 20.0,
        "importing 68 MB peaked at {big_peak:.0} MiB, 23 MB at {mid_peak:.0} MiB"
    );
}
