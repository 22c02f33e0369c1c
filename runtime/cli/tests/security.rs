//! The sandbox as a user of the `dcsync` binary meets it: environment proxies ignored,
//! adapter text neutralised on the terminal and in logs, `check` warning about secrets.

mod common;

use common::dcsync;
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An adapter directory with the mock adapter and the hostile one.
fn adapters(into: &Path) -> PathBuf {
    let dir = into.join("adapters");
    std::fs::create_dir_all(&dir).unwrap();
    for from in [
        datacollect_sync_e2e::adapter_dir().join("mock_sync_server.wasm"),
        datacollect_sync_e2e::test_adapter_dir().join("hostile.wasm"),
    ] {
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    dir
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn import_one(store: &Path, dir: &Path, guid: &str) {
    let events = write(
        &dir.join(format!("{guid}.jsonl")),
        &format!(
            r#"{{"guid":"{guid}","entityGuid":"p-{guid}","type":"create-individual","data":{{"name":"A"}},"timestamp":"2025-01-01T00:00:00Z"}}"#
        ),
    );
    let out = dcsync()
        .args(["events", "import", "--store"])
        .arg(store)
        .arg(events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn proxies_from_the_environment_are_ignored() {
    // A "proxy" that counts the connections it gets.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in proxy.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut s = stream;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    import_one(&store, dir.path(), "proxy-1");
    // A name that never resolves: through a proxy it would reach the proxy.
    let config = write(
        &dir.path().join("c.json"),
        &json!({"type": "mock-sync-server", "url": "http://sync.invalid:8080/mock-sync",
            "extraFields": [{"name": "retryAttempts", "value": "0"}]})
        .to_string(),
    );
    let out = dcsync()
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .env("http_proxy", format!("http://127.0.0.1:{port}"))
        .env("ALL_PROXY", format!("http://127.0.0.1:{port}"))
        .args(["sync", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not connect") || stderr.contains("no answer"),
        "{stderr}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the proxy was never used"
    );
}

fn assert_neutral(what: &str, text: &str) {
    assert!(!text.contains('\u{1b}'), "raw ESC in {what}: {text:?}");
    assert!(!text.contains('\r'), "raw CR in {what}: {text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("INFO forged") || l.starts_with("INFO sync finished pushed=999")),
        "a forged line in {what}: {text}"
    );
}

#[test]
fn adapter_text_never_drives_the_terminal_or_forges_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let adapters = adapters(dir.path());
    let listed = dcsync()
        .arg("--adapters")
        .arg(&adapters)
        .arg("adapters")
        .output()
        .unwrap();
    assert!(listed.status.success());
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.contains("hostile"), "{stdout}");
    assert_neutral("dcsync adapters", &stdout);
    let json_list = dcsync()
        .arg("--adapters")
        .arg(&adapters)
        .args(["adapters", "--json"])
        .output()
        .unwrap();
    assert_neutral(
        "dcsync adapters --json",
        &String::from_utf8_lossy(&json_list.stdout),
    );

    let store = dir.path().join("s.db");
    for (i, attack) in ["ansi-error", "ansi-log", "ansi-reject"].iter().enumerate() {
        import_one(&store, dir.path(), &format!("ansi-{i}"));
        let config = write(
            &dir.path().join(format!("{attack}.json")),
            &json!({"id": attack, "type": "hostile", "url": "http://127.0.0.1:9/x",
                "extraFields": [{"name": "attack", "value": attack}]})
            .to_string(),
        );
        let out = dcsync()
            .arg("--adapters")
            .arg(&adapters)
            .env("DCSYNC_LOG", "info")
            .args(["sync", "--config"])
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("\\u{1b}") || *attack == "ansi-reject",
            "{attack} shown escaped: {stderr}"
        );
        assert_neutral(&format!("sync {attack} stderr"), &stderr);
        assert_neutral(
            &format!("sync {attack} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
    }
    for args in [
        vec!["runs"],
        vec!["quarantine", "list"],
        vec!["runs", "--json"],
    ] {
        let out = dcsync()
            .args(&args)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("forged") || args[0] == "runs",
            "{args:?}: {stdout}"
        );
        assert_neutral(&format!("{args:?}"), &stdout);
    }
}

#[test]
fn check_says_where_secrets_may_go_and_warns_about_short_ones_and_unapproved_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let adapters = adapters(dir.path());
    let config = write(
        &dir.path().join("h.json"),
        &json!({"type": "hostile", "url": "http://127.0.0.1:9/x", "extraFields": [
            {"name": "pin", "value": "1234"}, {"name": "password", "value": "long-enough-password"}]})
        .to_string(),
    );
    let out = dcsync()
        .arg("--adapters")
        .arg(&adapters)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("secret placements: apiKey → header x-api-key, basic auth"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: secret `pin` is 4 characters long"),
        "{stdout}"
    );
    assert!(!stdout.contains("secret `password` is"), "{stdout}");
    assert!(
        stdout.contains("[approve_placements]\n  hostile = true"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("1234") && !stdout.contains("long-enough-password"),
        "{stdout}"
    );

    let settings = write(
        &dir.path().join("s.toml"),
        "[approve_placements]\nhostile = true\n",
    );
    let approved = dcsync()
        .arg("--adapters")
        .arg(&adapters)
        .arg("--settings")
        .arg(&settings)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&approved.stdout).contains("[approve_placements]"));
}

#[test]
fn dcsync_adapters_says_where_each_adapters_secrets_may_go() {
    let dir = tempfile::tempdir().unwrap();
    for (from, file) in [
        (datacollect_sync_e2e::test_adapter_dir(), "hostile.wasm"),
        (datacollect_sync_e2e::adapter_dir(), "mock_sync_server.wasm"),
    ] {
        std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
    }
    let out = dcsync()
        .arg("--adapters")
        .arg(dir.path())
        .arg("adapters")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "secrets: apiKey → header x-api-key, basic auth; password → JSON body of /echo at /key"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("secrets: none declared (the 1.0 rule: request headers and basic auth to the config's own origin)"),
        "{stdout}"
    );
}
